/* compliance_int — what the compliance listener's files share: the listener's state, who is
 * calling, the query parameters. Not an interface for other modules: compliance.h is. */
#ifndef PDGATE_COMPLIANCE_INT_H
#define PDGATE_COMPLIANCE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "apierr.h"
#include "ledger_leaf.h"
#include "compliance.h"
#include "pseudo.h"
#include "server.h"
#include "token.h"

#define COMPLIANCE_BODY_MAX 8192    /* a request body: a reason, a member's request and its note */
#define COMPLIANCE_ATTESTER_MAX 200 /* characters of who attests a deletion */
#define COMPLIANCE_CERTIFICATE_MAX 1000 /* characters of a certificate of deletion's reference */

struct compliance {
	struct compliance_params p;
	struct tlsauth *trust;        /* staff CA and CRL */
	struct token_verifier *staff; /* aud pdgate-compliance */
	struct console *console;      /* NULL if [compliance] ui is not set */
	char *vkey;                   /* the ledger's verifier key line, NULL if no .vkey file */
	struct server *server;
	pthread_mutex_t anon_lock; /* a data set's id checked and recorded at once */
};

/*
 * The staff member behind a request: the token checked, its revocation, the certificate's
 * name against the token's, the role. APIERR_NONE with *claims, or the refusal with msg.
 */
enum apierr compliance_staff(struct compliance *c, struct server_request *req, enum token_role need,
                             struct token_claims *claims, char *msg, size_t msglen);

/* The caller, who must be an officer: 0 with *who, or -1 after answering the refusal. */
int compliance_officer(struct server_request *req, struct compliance *c, struct token_claims *who);

/* Answers 400 bad_request with a precise message; returns -1 for the caller to return. */
int compliance_bad(struct server_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Answers a failed ledger read (503 ledger_unavailable, or 500 when memory ran out). -1. */
int compliance_ledger_failed(struct server_request *req, int err);

/* Logs a failed report and answers 503 ledger_unavailable with err. */
void compliance_report_failed(struct server_request *req, struct compliance *c, const char *err);

/*
 * The query parameters. Each returns 0 (or 1 where it says so) when the parameter is absent or
 * good, and -1 after answering 400 with the parameter's name and what it must be.
 */
/* Only the listed query parameters (list: how the answer names them). */
int compliance_only(struct server_request *req, const char *const *allowed, const char *list);
/* A string: 1 with *v, 0 if absent; refused if empty, repeated, longer than max. */
int compliance_q_str(struct server_request *req, const char *name, size_t max, const char **v);
/* An optional partner id. */
int compliance_q_partner(struct server_request *req, const char **partner);
/* from and to: RFC 3339 or YYYY-MM-DD (a JST day; to=DATE includes it); 0 when absent. */
int compliance_q_range(struct server_request *req, int64_t *from_ms, int64_t *to_ms);
/* An optional unsigned decimal in [min, max], dflt when absent. */
int compliance_q_uint(struct server_request *req, const char *name, unsigned long min,
                      unsigned long max, unsigned long dflt, unsigned long *out);
/* An optional entry index (cursor): 1 with *out, 0 if absent. */
int compliance_q_index(struct server_request *req, const char *name, uint64_t *out);
/* An optional purpose the catalog knows. */
int compliance_q_purpose(struct server_request *req, struct compliance *c, const char **purpose);
/* An optional member id, as its subject reference (out empty if absent). */
int compliance_q_member(struct server_request *req, struct compliance *c,
                        char out[PSEUDO_SUBJECT_HEX + 1]);

/*
 * The request's JSON body: an object (at most COMPLIANCE_BODY_MAX bytes, depth 4, no member
 * twice) with no member outside allowed; shape is how the answer shows the body
 * ("{\"reason\":\"…\"}"). *doc (caller frees), or NULL when there is no body and it is not
 * required. 0, or -1 after answering 400 with what is wrong.
 */
int compliance_body(struct server_request *req, const char *const *allowed, const char *shape,
                    bool required, json_t **doc);

/*
 * A free-text member of a body (text.h: the one rule for what people type), 1..max characters:
 * *out borrowed from doc, NULL when it is absent and not required (doc may be NULL). 0, or -1
 * after answering 400 naming the member.
 */
int compliance_body_text(struct server_request *req, json_t *doc, const char *name, bool required,
                         size_t max, const char **out);

/* A staff member's act, as its admin entry records it (ledger_leaf.h). Strings borrowed. */
struct compliance_act {
	const char *action;  /* admin.action: "partner_suspend", "subject_request", … */
	const char *partner; /* the entry's partner and admin.target; NULL: none */
	const char *reason;  /* admin.reason, as given */
	const char *subject; /* the member acted for, by subject reference only; NULL: none */
	const struct ledger_detail *detail; /* admin.detail, keys ascending */
	size_t n_detail;
};

/*
 * Commits the admin entry of an act by who, before the act takes effect or is acknowledged:
 * 0 with its index, or -1 after answering (500 if the entry is malformed — this code's bug —
 * else 503 ledger_unavailable), and then nothing may change.
 */
int compliance_record(struct server_request *req, struct compliance *c,
                      const struct token_claims *who, const struct compliance_act *act,
                      uint64_t *index);

/* Answers doc (taken) with status and the X-Ledger-Index of the act's entry. */
void compliance_reply_recorded(struct server_request *req, unsigned status, json_t *doc,
                               uint64_t index);

/* The routes' handlers, by file: app is the struct compliance. */
/* compliance_ledger.c */
void compliance_checkpoint(struct server_request *req, void *app);
void compliance_vkey(struct server_request *req, void *app);
void compliance_entries(struct server_request *req, void *app);
void compliance_inclusion(struct server_request *req, void *app);
void compliance_consistency(struct server_request *req, void *app);
void compliance_search(struct server_request *req, void *app);
/* compliance_reports.c */
void compliance_provisions(struct server_request *req, void *app);
void compliance_subject_report(struct server_request *req, void *app);
void compliance_breach(struct server_request *req, void *app);
void compliance_notification_list(struct server_request *req, void *app);
void compliance_summary(struct server_request *req, void *app);
/* compliance_registry.c */
void compliance_contracts(struct server_request *req, void *app);
void compliance_partners(struct server_request *req, void *app);
void compliance_contract_deletion(struct server_request *req, void *app);
void compliance_partner_suspend(struct server_request *req, void *app);
void compliance_partner_resume(struct server_request *req, void *app);
void compliance_gateway_suspend(struct server_request *req, void *app);
void compliance_gateway_resume(struct server_request *req, void *app);
/* compliance_subjects.c */
void compliance_subject_request(struct server_request *req, void *app);
void compliance_subject_close(struct server_request *req, void *app);
void compliance_subject(struct server_request *req, void *app);
void compliance_subject_requests(struct server_request *req, void *app);
/* compliance_anon.c */
void compliance_anon_record(struct server_request *req, void *app);
void compliance_anon_list(struct server_request *req, void *app);

#endif
