/* decision — steps 3 to 10 of SPEC 9.1 decided into a value: the refusal, or what is released. */
#ifndef PDGATE_DECISION_H
#define PDGATE_DECISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "apierr.h"
#include "catalog.h"
#include "contract.h"
#include "policy.h"
#include "token.h"

/*
 * Why a value, and where the world comes in.
 *
 * The partner API used to refuse from inside each step — a deny() that wrote the ledger entry
 * and the HTTP answer, called from a dozen places — so what a step decided could only be seen
 * through a server. Here the steps decide into struct decision: the error code and message, and
 * what the request established on the way (contract, purpose, basis, work order), which is all
 * that a deny entry and an answer need. partner.c acts on it in one place.
 *
 * Three steps need the world in the middle of the order:
 *  - step 5 asks the token store whether the work order's jti is revoked: the jti is known only
 *    once the token verified and was bound, and the store is asked only then;
 *  - step 8 admits the request against the contract's rate and volume limits, which takes a
 *    request token and reserves volume: only a request that passed steps 3 to 7 may do that;
 *  - step 9 reads the origin: one record, or a page that is built on several threads.
 * Gathering every fact before deciding would ask the store about tokens that do not verify and
 * spend limits on requests that are refused anyway; a call per step would move the order back
 * into partner.c, where every caller must remember to stop at the first failing step. So
 * decision_request runs steps 3 to 8 itself, in SPEC order, and reaches the token store and
 * the limits only through struct decision_io, calls its caller supplies (the tests supply
 * tables, and see which calls a refusal never made). What no step changes and nothing earlier
 * decides — suspensions, the contracts in force, the request's headers — comes in struct
 * decision_facts. The origin read stays with the caller, after decision_request went on;
 * decision_member then judges what the origin sent, step 9's check of the record and step
 * 10's member rules. The work order's max_records, counted over every use of its jti, can only
 * be judged once the caller knows how many records it would release: decision_take_records,
 * through the same io, just before the release.
 *
 * The first refusal decides: each function leaves a refused decision as it is. No I/O of its
 * own, no globals.
 */

/* The steps of SPEC 9.1, for the step a decision stopped at. */
enum decision_step {
	DECISION_STEP_CERTIFICATE = 1, /* the client certificate (the server's) */
	DECISION_STEP_REQUEST = 2,     /* route, parameters, headers (the caller's) */
	DECISION_STEP_GATEWAY = 3,     /* gateway not suspended */
	DECISION_STEP_PARTNER = 4,     /* a contract on file, partner not suspended: from here on,
	                                  every answer is recorded in the ledger */
	DECISION_STEP_TOKEN = 5,       /* the work order, the choice of the contract; max_records */
	DECISION_STEP_CONTRACT = 6,    /* the contract pins this certificate, is active, in force */
	DECISION_STEP_PURPOSE = 7,     /* the purpose and the justification */
	DECISION_STEP_LIMITS = 8,      /* rate and daily volume */
	DECISION_STEP_ORIGIN = 9,      /* the record read (the caller's) and checked */
	DECISION_STEP_MEMBER = 10,     /* the member rules of SPEC 9.2 */
	DECISION_STEP_RELEASE = 11,    /* the answer built, the ledger commit (the caller's) */
};

#define DECISION_MESSAGE_MAX 256
#define DECISION_ID_MAX TOKEN_ID_MAX /* a purpose id: X-Purpose or the work order's */

/* What the request brings and what the gateway knows as it starts. All borrowed for the call. */
struct decision_facts {
	const char *partner;                  /* the partner the client certificate names */
	const unsigned char *x5t;             /* SHA-256 of its DER, TOKEN_THUMB_LEN bytes */
	bool gateway_suspended;               /* step 3 */
	bool partner_suspended;               /* step 4 */
	const struct contract_set *contracts; /* the contracts on file (a registry view's) */
	const struct catalog *catalog;        /* the catalogs those contracts were checked with */
	const struct token_verifier *tokens;  /* work orders */
	/* step 2's headers, each well formed (at most DECISION_ID_MAX bytes for the ids) or NULL */
	const char *purpose;         /* X-Purpose */
	const char *contract;        /* X-Contract */
	const char *justification;   /* X-Justification */
	const char *authorization;   /* Authorization */
	bool authorization_unusable; /* Authorization repeated, too long or with control characters
	                              */
	time_t now;
	int64_t now_ms;
	uint32_t want; /* the records the request could release: 1, or a page's limit */
};

/* What io->take returns when the work-order count is shared by several nodes (in the ledger's
 * database) and cannot be reached: the request is refused ledger_unavailable. */
#define DECISION_TAKE_UNAVAILABLE (-2)

/* The calls through which the steps reach the gateway's state; arg is passed to each. */
struct decision_io {
	/* 1 if jti is revoked, 0 if not, -1 if the store cannot tell (refused: fail closed). */
	int (*revoked)(void *arg, const char *jti);
	/* Step 8 for contract c: 0 with *granted (1..want) records of the day's volume reserved,
	 * or -1 with *retry_after seconds and nothing taken. */
	int (*admit)(void *arg, const struct contract *c, uint32_t want, int64_t now_ms,
	             uint32_t *granted, uint32_t *retry_after);
	/* Adds n records to jti's count if the count stays within max: 0 with *ok, -1 on failure,
	 * DECISION_TAKE_UNAVAILABLE if the count the nodes share cannot be reached. */
	int (*take)(void *arg, const char *jti, int64_t n, int64_t max, bool *ok);
	void *arg;
};

/*
 * A decision: a refusal, or what the answer is released under. A plain value, nothing to free;
 * its pointers are borrowed from the facts (contracts, headers) it was made from.
 */
struct decision {
	enum apierr error;       /* APIERR_NONE: the request goes on */
	enum decision_step step; /* the step that refused, or the last one passed */
	bool recorded;           /* the refusal goes to the ledger as a deny entry: from step 4
	                            on, but ledger_unavailable, which the ledger could not record */
	char message[DECISION_MESSAGE_MAX]; /* the answer's message; "" for the code's own */
	uint32_t retry_after;               /* seconds, with RATE_LIMITED */

	/* what the request established, for its ledger entry and the request log */
	const struct contract *contract;   /* chosen at step 5 */
	char purpose[DECISION_ID_MAX + 1]; /* declared or the work order's, from step 5; or "" */
	bool purpose_known;                /* the catalog knows purpose: only then is it recorded */
	bool purpose_logged;               /* step 7 looked at purpose: the request log names it */
	const struct contract_purpose *cp; /* step 7: the contract's entry for the purpose */
	char basis[POLICY_BASIS_MAX];      /* step 7: policy_basis, or "" */
	const char *justification;         /* step 7: recorded for an exception purpose, or NULL */
	bool has_token;                    /* a work order verified (claims are its) */
	struct token_claims claims;
	uint32_t granted; /* step 8: records reserved, which the caller settles with the limits */
};

/* A refused decision: error e at step, with message (NULL: the code's own; copied). */
void decision_refuse(struct decision *d, enum decision_step step, enum apierr e,
                     const char *message);

/*
 * Steps 3 to 8, in order, from scratch: *d is overwritten. The first failing step refuses
 * (d->error, d->step, d->message); on APIERR_NONE the request may read the origin for up to
 * d->granted records, under d->contract and d->cp. Returns d->error.
 */
enum apierr decision_request(struct decision *d, const struct decision_facts *f,
                             const struct decision_io *io);

/* One member's verdict from decision_member. */
struct decision_verdict {
	enum apierr error;    /* the record check's refusal (step 9), which refuses the request */
	enum apierr withheld; /* a member rule's refusal (step 10), which leaves the member out */
	const char *why;      /* with either: a static text, or in the caller's buffer */
	json_t *record;       /* with neither: the checked record (caller frees, json_decref) */
};

/*
 * Steps 9 and 10 for the bytes the origin sent for member_id, under a decision that went on
 * (d from decision_request, made with catalog cat): the record checked against the catalog
 * (at most max_bytes, release_origin) and the member rules: the restrictions pdgate holds for
 * the member (POLICY_RESTRICT_* bits, policy_check_restrictions), then the record's
 * (policy_check_member). why (whylen bytes, RELEASE_WHY_MAX is enough) receives a message
 * that is not static.
 */
struct decision_verdict decision_member(const struct decision *d, const struct catalog *cat,
                                        size_t max_bytes, const char *member_id,
                                        unsigned restrictions, const char *bytes, size_t len,
                                        char *why, size_t whylen);

/*
 * The work order's max_records for the n records about to be released: counted through
 * io->take across every use of its jti; nothing to do without a work order, without a limit or
 * with n 0. Refuses d (TOKEN_INVALID) when the limit does not cover them; INTERNAL if the count
 * cannot be kept, LEDGER_UNAVAILABLE if the shared count cannot be reached. Returns d->error; a
 * refused d is left as it is.
 */
enum apierr decision_take_records(struct decision *d, const struct decision_io *io, size_t n);

#endif
