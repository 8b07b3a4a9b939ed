/* apierr — the one table of error codes the outside world sees, with their HTTP status. */
#ifndef PDGATE_APIERR_H
#define PDGATE_APIERR_H

/* Order follows the decision order of SPEC 9.1; the docs and the ledger use the same names. */
enum apierr {
	APIERR_NONE = 0,
	APIERR_CLIENT_CERTIFICATE_REQUIRED, /* 401 */
	APIERR_CERTIFICATE_INVALID,         /* 401 */
	APIERR_NOT_FOUND,                   /* 404 unknown route */
	APIERR_METHOD_NOT_ALLOWED,          /* 405 */
	APIERR_BAD_REQUEST,                 /* 400 */
	APIERR_REQUEST_TOO_LARGE,           /* 431 request line or headers over the limit */
	APIERR_GATEWAY_SUSPENDED,           /* 503 */
	APIERR_PARTNER_UNKNOWN,             /* 403 */
	APIERR_PARTNER_SUSPENDED,           /* 403 */
	APIERR_TOKEN_REQUIRED,              /* 401 */
	APIERR_TOKEN_INVALID,               /* 401 */
	APIERR_FORBIDDEN,                   /* 403 wrong kind of credential or role */
	APIERR_CONTRACT_INACTIVE,           /* 403 */
	APIERR_CONTRACT_AMBIGUOUS,          /* 400 */
	APIERR_PURPOSE_MISSING,             /* 400 */
	APIERR_PURPOSE_NOT_PERMITTED,       /* 403 */
	APIERR_PURPOSE_CONFLICT,            /* 400 X-Purpose disagrees with the token */
	APIERR_JUSTIFICATION_REQUIRED,      /* 400 */
	APIERR_RATE_LIMITED,                /* 429 */
	APIERR_MEMBER_NOT_FOUND,            /* 404 */
	APIERR_ORIGIN_ERROR,                /* 502 */
	APIERR_ORIGIN_INVALID,              /* 502 */
	APIERR_ORIGIN_TIMEOUT,              /* 504 */
	APIERR_MEMBER_RESTRICTED,           /* 403 */
	APIERR_CONSENT_MISSING,             /* 403 */
	APIERR_LEDGER_UNAVAILABLE,          /* 503 */
	APIERR_INTERNAL,                    /* 500 */
	APIERR_CONFLICT,                    /* 409 the act does not fit the state (closed twice) */
	APIERR_COUNT
};

/* The wire name ("purpose_not_permitted"); never NULL. */
const char *apierr_code(enum apierr e);
/* The HTTP status of the error. */
unsigned apierr_status(enum apierr e);
/* A default human message, used when the caller has no more precise one. */
const char *apierr_message(enum apierr e);

#endif
