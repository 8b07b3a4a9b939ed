/* apierr — the one table of error codes the outside world sees. */
#include "apierr.h"

static const struct {
	const char *code;
	unsigned status;
	const char *message;
} table[APIERR_COUNT] = {
    [APIERR_NONE] = {"ok", 200, "ok"},
    [APIERR_CLIENT_CERTIFICATE_REQUIRED] = {"client_certificate_required", 401,
                                            "a client certificate is required"},
    [APIERR_CERTIFICATE_INVALID] = {"certificate_invalid", 401,
                                    "the client certificate was not accepted"},
    [APIERR_NOT_FOUND] = {"not_found", 404, "no such route"},
    [APIERR_METHOD_NOT_ALLOWED] = {"method_not_allowed", 405, "method not allowed on this route"},
    [APIERR_BAD_REQUEST] = {"bad_request", 400, "the request is malformed"},
    [APIERR_REQUEST_TOO_LARGE] = {"request_too_large", 431,
                                  "request line or headers over the limit"},
    [APIERR_GATEWAY_SUSPENDED] = {"gateway_suspended", 503, "the gateway is suspended"},
    [APIERR_PARTNER_UNKNOWN] = {"partner_unknown", 403, "no contract is on file for this partner"},
    [APIERR_PARTNER_SUSPENDED] = {"partner_suspended", 403, "this partner is suspended"},
    [APIERR_TOKEN_REQUIRED] = {"token_required", 401, "a work-order token is required"},
    [APIERR_TOKEN_INVALID] = {"token_invalid", 401, "the token was not accepted"},
    [APIERR_FORBIDDEN] = {"forbidden", 403, "not allowed with these credentials"},
    [APIERR_CONTRACT_INACTIVE] = {"contract_inactive", 403,
                                  "no active contract covers this request"},
    [APIERR_CONTRACT_AMBIGUOUS] = {"contract_ambiguous", 400,
                                   "several contracts list this purpose: name one with X-Contract"},
    [APIERR_PURPOSE_MISSING] = {"purpose_missing", 400, "declare a purpose with X-Purpose"},
    [APIERR_PURPOSE_NOT_PERMITTED] = {"purpose_not_permitted", 403,
                                      "the contract does not permit this purpose"},
    [APIERR_PURPOSE_CONFLICT] = {"purpose_conflict", 400,
                                 "X-Purpose disagrees with the work order's purpose"},
    [APIERR_JUSTIFICATION_REQUIRED] = {"justification_required", 400,
                                       "an exception purpose needs X-Justification"},
    [APIERR_RATE_LIMITED] = {"rate_limited", 429, "over the contract's rate or volume limit"},
    [APIERR_MEMBER_NOT_FOUND] = {"member_not_found", 404, "no such member"},
    [APIERR_ORIGIN_ERROR] = {"origin_error", 502, "the member system failed"},
    [APIERR_ORIGIN_INVALID] = {"origin_invalid", 502, "the member system sent an invalid record"},
    [APIERR_ORIGIN_TIMEOUT] = {"origin_timeout", 504, "the member system did not answer in time"},
    [APIERR_MEMBER_RESTRICTED] = {"member_restricted", 403,
                                  "the member has restricted the use of their data"},
    [APIERR_CONSENT_MISSING] = {"consent_missing", 403,
                                "the member has not consented to this provision"},
    [APIERR_LEDGER_UNAVAILABLE] = {"ledger_unavailable", 503,
                                   "the ledger cannot record this decision: nothing released"},
    [APIERR_INTERNAL] = {"internal_error", 500, "internal error"},
    [APIERR_CONFLICT] = {"conflict", 409, "the request does not fit the present state"},
};

const char *
apierr_code(enum apierr e)
{
	return (unsigned)e < APIERR_COUNT ? table[e].code : "internal_error";
}

unsigned
apierr_status(enum apierr e)
{
	return (unsigned)e < APIERR_COUNT ? table[e].status : 500;
}

const char *
apierr_message(enum apierr e)
{
	return (unsigned)e < APIERR_COUNT ? table[e].message : "internal error";
}
