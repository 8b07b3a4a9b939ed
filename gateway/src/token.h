/* token — work orders and staff tokens: ES256 JWTs issued and verified behind a strict wall. */
#ifndef PDGATE_TOKEN_H
#define PDGATE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ident.h"

/*
 * libjwt 1.10 is only ever reached through this module. Its traps (a NULL key accepts anything,
 * the algorithm is chosen by the token, duplicate JSON members resolve last-wins, no claim is
 * checked) are closed here: the compact form, the header and the payload are parsed by us first,
 * with duplicates refused, and libjwt is asked for nothing but the ES256 signature.
 * docs/tokens.md lists every rule.
 */

#define TOKEN_MAX_BYTES 8192       /* a compact token longer than this is refused unread */
#define TOKEN_MAX_LIFETIME 2678400 /* exp - iat, 31 days in seconds */
#define TOKEN_LEEWAY 60            /* seconds of clock skew allowed on exp, nbf and iat */
#define TOKEN_JTI_MAX 128          /* [A-Za-z0-9_-]{1,128} */
#define TOKEN_ID_MAX 64            /* contract ids ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$, purposes */
#define TOKEN_THUMB_LEN 32         /* SHA-256 of a certificate's DER */
#define TOKEN_CACHE_MAX 1024       /* verified tokens a verifier remembers (see token_verify) */
#define TOKEN_SAFE_INT_MAX 9007199254740992LL /* 2^53: beyond it JSON numbers lose integers */

#define TOKEN_AUD_PARTNER "pdgate-partner"
#define TOKEN_AUD_COMPLIANCE "pdgate-compliance"

enum token_status {
	TOKEN_OK = 0,
	TOKEN_INVALID,        /* refused; why names the rule */
	TOKEN_WRONG_AUDIENCE, /* a valid pdgate token for the other listener (staff token at the
	                         partner API, work order at the compliance API) */
};

/* Which listener a verifier serves; decides the expected aud and the claims required. */
enum token_kind {
	TOKEN_WORK_ORDER, /* aud pdgate-partner */
	TOKEN_STAFF,      /* aud pdgate-compliance */
};

enum token_role {
	TOKEN_ROLE_NONE = 0, /* work orders */
	TOKEN_ROLE_AUDITOR,  /* read */
	TOKEN_ROLE_OFFICER,  /* read, suspend, resume */
};

/* The contract's "token_binding". */
enum token_binding {
	TOKEN_BINDING_REQUIRED = 0, /* the default: the work order must carry cnf */
	TOKEN_BINDING_OPTIONAL,     /* cnf may be absent; when present it must still match */
};

/* What a verified token says. Plain values, nothing to free. */
struct token_claims {
	enum token_kind kind;
	char jti[TOKEN_JTI_MAX + 1];
	char sub[IDENT_NAME_MAX + 1]; /* partner id or staff name */
	int64_t iat, exp;
	int64_t nbf; /* 0 when absent */
	/* work orders */
	char contract[TOKEN_ID_MAX + 1];
	char purpose[TOKEN_ID_MAX + 1];
	int64_t max_records; /* 0 = no limit */
	bool has_cnf;
	unsigned char cnf[TOKEN_THUMB_LEN]; /* cnf.x5t#S256 decoded */
	/* staff tokens */
	enum token_role role;
};

struct token_verifier;

/*
 * A verifier for one listener: the ES256 public key (PEM file, must be an EC P-256 key), the
 * issuer every token must name, and the kind of token the listener takes. NULL with err on
 * failure. Caller frees. Safe to share between threads once made.
 */
struct token_verifier *token_verifier_new(const char *pub_path, const char *issuer,
                                          enum token_kind kind, char *err, size_t errlen);
void token_verifier_free(struct token_verifier *v);

/*
 * Checks a compact token (len bytes, need not be NUL-terminated) at time now (Unix seconds):
 * form, header, signature, and every claim that needs no live context. On TOKEN_OK fills out.
 * Otherwise why says which rule failed (never quoting the token) and out is zeroed.
 * The verifier remembers the claims of up to TOKEN_CACHE_MAX tokens that verified, by SHA-256
 * of their bytes: sent again, such a token is not parsed or verified again, but the time rules
 * are applied against now on every call. Thread-safe. No I/O, no globals.
 */
enum token_status token_verify(const struct token_verifier *v, const char *compact, size_t len,
                               int64_t now, struct token_claims *out, char *why, size_t whylen);

/* The live facts a work order is checked against, gathered by the caller for this request. */
struct token_context {
	const char *partner;             /* the partner the client certificate names */
	const unsigned char *thumbprint; /* SHA-256 of that certificate's DER, TOKEN_THUMB_LEN */
	const char *contract_partner;    /* partner of the contract claims.contract names,
	                                    NULL when no such contract is on file */
	bool purpose_listed;             /* that contract lists claims.purpose */
	enum token_binding binding;      /* that contract's token_binding */
};

/* The rule token_check_binding found broken. */
enum token_bind {
	TOKEN_BIND_OK = 0,
	TOKEN_BIND_KIND,     /* not a work order */
	TOKEN_BIND_SUB,      /* sub is not the certificate's partner */
	TOKEN_BIND_CONTRACT, /* the contract is not on file or not this partner's */
	TOKEN_BIND_PURPOSE,  /* the contract does not list the purpose */
	TOKEN_BIND_CNF,      /* cnf missing while required, or another certificate's */
};

/*
 * Checks a verified work order against the request's certificate and the contract it names.
 * Returns the first rule broken, with a sentence naming it in why (if not NULL; "" when bound).
 * Pure. Revocation and max_records are the caller's, through tokenstore.
 */
enum token_bind token_check_binding(const struct token_claims *c, const struct token_context *ctx,
                                    char *why, size_t whylen);

/* What to put in a work order. */
struct token_work_order {
	const char *issuer;
	const char *partner; /* sub */
	const char *contract;
	const char *purpose;
	int64_t max_records;      /* 0 = none */
	const unsigned char *cnf; /* TOKEN_THUMB_LEN bytes, or NULL for an unbound token */
};

/*
 * Signs a work order with the ES256 private key at key_path (mode 0600 or stricter), valid
 * from now for ttl seconds (1..TOKEN_MAX_LIFETIME). The claims are exactly iss, aud, sub, iat,
 * exp, jti (128 random bits), contract, purpose, and max_records and cnf when given. Returns
 * the compact token (caller frees with free()), its jti in jti_out when not NULL, or NULL with
 * err. The key is wiped from memory before returning.
 */
char *token_issue_work_order(const char *key_path, const struct token_work_order *w, int64_t now,
                             int64_t ttl, char jti_out[TOKEN_JTI_MAX + 1], char *err,
                             size_t errlen);

/* The same for a staff token: iss, aud, sub (the staff name), iat, exp, jti, role. */
char *token_issue_staff(const char *key_path, const char *issuer, const char *staff,
                        enum token_role role, int64_t now, int64_t ttl,
                        char jti_out[TOKEN_JTI_MAX + 1], char *err, size_t errlen);

/*
 * The grammars of the claims that are the token's own, for callers that take the same values
 * from elsewhere (the command line): contract ids ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$, jtis
 * [A-Za-z0-9_-]{1,128}. sub and purpose follow ident.h (ident_name_ok, ident_purpose_ok).
 */
bool token_contract_id_ok(const char *s);
bool token_jti_ok(const char *s);

#endif
