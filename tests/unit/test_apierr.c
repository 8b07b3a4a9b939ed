/* Tests of apierr: the one table of error codes, their HTTP status and default message. */
#include <stdbool.h>
#include <string.h>

#include "apierr.h"
#include "check.h"

/* Each code once, in the enum's order, with the status docs/api.md gives it. */
static const struct {
	enum apierr e;
	const char *code;
	unsigned status;
} rows[] = {
    {APIERR_NONE, "ok", 200},
    {APIERR_CLIENT_CERTIFICATE_REQUIRED, "client_certificate_required", 401},
    {APIERR_CERTIFICATE_INVALID, "certificate_invalid", 401},
    {APIERR_NOT_FOUND, "not_found", 404},
    {APIERR_METHOD_NOT_ALLOWED, "method_not_allowed", 405},
    {APIERR_BAD_REQUEST, "bad_request", 400},
    {APIERR_REQUEST_TOO_LARGE, "request_too_large", 431},
    {APIERR_GATEWAY_SUSPENDED, "gateway_suspended", 503},
    {APIERR_PARTNER_UNKNOWN, "partner_unknown", 403},
    {APIERR_PARTNER_SUSPENDED, "partner_suspended", 403},
    {APIERR_TOKEN_REQUIRED, "token_required", 401},
    {APIERR_TOKEN_INVALID, "token_invalid", 401},
    {APIERR_FORBIDDEN, "forbidden", 403},
    {APIERR_CONTRACT_INACTIVE, "contract_inactive", 403},
    {APIERR_CONTRACT_AMBIGUOUS, "contract_ambiguous", 400},
    {APIERR_PURPOSE_MISSING, "purpose_missing", 400},
    {APIERR_PURPOSE_NOT_PERMITTED, "purpose_not_permitted", 403},
    {APIERR_PURPOSE_CONFLICT, "purpose_conflict", 400},
    {APIERR_JUSTIFICATION_REQUIRED, "justification_required", 400},
    {APIERR_RATE_LIMITED, "rate_limited", 429},
    {APIERR_MEMBER_NOT_FOUND, "member_not_found", 404},
    {APIERR_ORIGIN_ERROR, "origin_error", 502},
    {APIERR_ORIGIN_INVALID, "origin_invalid", 502},
    {APIERR_ORIGIN_TIMEOUT, "origin_timeout", 504},
    {APIERR_MEMBER_RESTRICTED, "member_restricted", 403},
    {APIERR_CONSENT_MISSING, "consent_missing", 403},
    {APIERR_LEDGER_UNAVAILABLE, "ledger_unavailable", 503},
    {APIERR_INTERNAL, "internal_error", 500},
    {APIERR_CONFLICT, "conflict", 409},
};
#define NROWS (sizeof rows / sizeof rows[0])

/* A wire name: lowercase words joined by '_'. */
static bool
wire_name(const char *s)
{
	if (*s < 'a' || *s > 'z')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s == '_' && s[1] != '_' && s[1] != '\0')))
			return false;
	return true;
}

/* A default message: one line of printable ASCII, lowercase first (but for a header's name),
 * no closing period. */
static bool
message_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 100 || (*s >= 'A' && *s <= 'Z' && strncmp(s, "X-", 2) != 0) ||
	    s[n - 1] == '.' || s[n - 1] == ' ')
		return false;
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* The code of a wire name, or APIERR_COUNT: what a reader of the names would do. Nothing in
 * the gateway reads them back, so it lives here, where it checks that each name is one code. */
static enum apierr
from_code(const char *code)
{
	for (int i = 0; i < APIERR_COUNT; i++)
		if (strcmp(apierr_code((enum apierr)i), code) == 0)
			return (enum apierr)i;
	return APIERR_COUNT;
}

static void
test_rows(void)
{
	CHECK(NROWS == APIERR_COUNT, "%zu rows for %d codes: a code without its row", NROWS,
	      APIERR_COUNT);
	for (size_t i = 0; i < NROWS; i++) {
		enum apierr e = rows[i].e;
		CHECK((size_t)e == i, "row %zu holds code %d: the rows follow the enum", i, (int)e);
		CHECK(strcmp(apierr_code(e), rows[i].code) == 0, "%s: code %s", rows[i].code,
		      apierr_code(e));
		CHECK(apierr_status(e) == rows[i].status, "%s: status %u, want %u", rows[i].code,
		      apierr_status(e), rows[i].status);
		CHECK(from_code(rows[i].code) == e, "%s: from_code gives %d", rows[i].code,
		      (int)from_code(rows[i].code));
	}
}

/* What holds for every code, whatever rows says. */
static void
test_every_code(void)
{
	for (int i = 0; i < APIERR_COUNT; i++) {
		enum apierr e = (enum apierr)i;
		const char *code = apierr_code(e), *msg = apierr_message(e);
		unsigned st = apierr_status(e);

		CHECK(code != NULL && wire_name(code), "code %d: wire name '%s'", i,
		      code ? code : "(null)");
		CHECK(msg != NULL && message_ok(msg), "%s: message '%s'", code,
		      msg ? msg : "(null)");
		if (e == APIERR_NONE)
			CHECK(st == 200, "ok: status %u", st);
		else
			CHECK(st >= 400 && st <= 599, "%s: status %u is not 4xx or 5xx", code, st);
		int same = 0;
		for (int k = 0; k < APIERR_COUNT; k++)
			same += strcmp(code, apierr_code((enum apierr)k)) == 0;
		CHECK(same == 1, "%d codes are '%s'", same, code);
		CHECK(from_code(code) == e, "%s: from_code is not %d", code, i);
	}
}

/* Out of the table: the internal error, never NULL; unknown names map to APIERR_COUNT. */
static void
test_outside(void)
{
	static const enum apierr bad[] = {APIERR_COUNT, (enum apierr)(APIERR_COUNT + 1),
	                                  (enum apierr)1000};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(strcmp(apierr_code(bad[i]), "internal_error") == 0, "code of %d: %s",
		      (int)bad[i], apierr_code(bad[i]));
		CHECK(apierr_status(bad[i]) == 500, "status of %d: %u", (int)bad[i],
		      apierr_status(bad[i]));
		CHECK(strcmp(apierr_message(bad[i]), "internal error") == 0, "message of %d: %s",
		      (int)bad[i], apierr_message(bad[i]));
	}
	static const char *const unknown[] = {
	    "", "OK", "Not_Found", "not_found ", " not_found", "not-found", "internal", "x",
	};
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		CHECK(from_code(unknown[i]) == APIERR_COUNT, "'%s' is not a code: %d", unknown[i],
		      (int)from_code(unknown[i]));
}

int
main(void)
{
	test_rows();
	test_every_code();
	test_outside();
	return check_done();
}
