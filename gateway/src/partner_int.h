/* partner_int — what the files of the partner API share, not an interface: the handlers of
 * its routes kept in files of their own (partner_ledger.c: the ledger's checkpoint, receipts;
 * partner_page.c: the pages) and the request path the pages share with one member's. */
#ifndef PDGATE_PARTNER_INT_H
#define PDGATE_PARTNER_INT_H

#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "buf.h"
#include "decision.h"
#include "ident.h"
#include "ledger.h"
#include "partner.h"
#include "pseudo.h"
#include "server.h"
#include "tlsauth.h"

/*
 * A data request while it is answered: what it holds, and its decision (decision.h). Every
 * refusal, whichever step makes it, is written into d and answered by refuse() alone.
 */
struct request {
	struct server_request *req;
	struct partner_api *api;
	const struct tlsauth_identity *id; /* step 1 */
	const struct registry_view *view;  /* held from the decision to the end */
	time_t now;
	int64_t now_ms;
	struct decision d;
	char subject[PSEUDO_SUBJECT_HEX + 1]; /* the one member's reference once known, or "" */
	uint32_t used; /* of the records reserved at step 8, those released (committed) */
	/* the shared state's generation steps 3 and 4 and the members' restrictions read (the
	 * older of the two; 0: none) */
	uint64_t state_gen;
	unsigned volume_tries; /* step 8 decided again after the shared daily volume refused */
};

/* One member, built: where its answer lies in a text, its digest, subject and ledger items. */
struct released {
	char member_id[IDENT_MEMBER_MAX + 1];
	size_t rec_off, rec_len; /* a page member's origin bytes in page.records */
	size_t off, len;         /* the answer in its text */
	char digest[65];
	char subject[PSEUDO_SUBJECT_HEX + 1];
	const char **item_v; /* the ledger items, borrowed from the contract */
	size_t n_items;
	unsigned held;       /* the members' restrictions its decision used (POLICY_RESTRICT_*) */
	enum apierr refused; /* APIERR_NONE if released; else a member rule's refusal */
	const char *why;     /* with refused: the rule's message (static) */
};

/* partner.c's steps, for partner_page.c: as partner.c's own (static) functions of the same
 * name without the prefix, which say what each does. */
void partner_entry_init(const struct request *r, struct ledger_entry *e, enum ledger_kind kind);
void partner_reply_index(struct server_request *req, uint64_t index);
struct decision_io partner_request_io(struct request *r);
enum apierr partner_decide(struct request *r, uint32_t want);
int partner_begin(struct request *r, struct server_request *req, void *app);
void partner_finish(struct request *r);
enum apierr partner_build_member(const struct request *r, const EVP_MD *sha256,
                                 const char *member_id, const char *subject, const char *bytes,
                                 size_t len, struct buf *out, struct released *m, char *why,
                                 size_t whylen, const char **why_out, enum decision_step *step);
/* What partner_commit says of a request's entries. */
enum {
	PARTNER_REFUSED = -1,   /* not committed: r->d refused */
	PARTNER_COMMITTED = 0,  /* committed */
	PARTNER_READMITTED = 1, /* the shared daily volume refused it and step 8 was decided again
	                           (partner_readmit): make the release again for r->d.granted */
	PARTNER_RESTRICTED = 2, /* members' restrictions changed under it (LEDGER_ESTATE):
	                           r->state_gen is read again, the caller applies the restrictions
	                           now in force to its members and commits again */
};
int partner_commit(struct request *r, const struct ledger_entry *le, size_t n, uint64_t *index);
int partner_readmit(struct request *r, unsigned tries);
/* The restriction bits of subject in force now and those that matter to r's decision. */
unsigned partner_held(const struct request *r, const char *subject, unsigned *mask);

/* GET /v1/members?limit=N&after=ID (partner_page.c) */
void partner_member_page(struct server_request *req, void *app);

/*
 * Handlers of partner_routes; app is the struct partner_api. Neither writes the ledger: a
 * receipt is not a decision, and receipts that made entries would grow the tree they prove.
 */

/* GET /v1/ledger/checkpoint: the latest checkpoint note (text/plain), as receipt serves it. */
void partner_ledger_checkpoint(struct server_request *req, void *app);

/* GET /v1/ledger/receipts/{index}: the proof bundle of that entry in the latest checkpoint,
 * if its partner is the caller's; one 404 for anyone else's entry and for no entry at all. */
void partner_ledger_receipt(struct server_request *req, void *app);

#endif
