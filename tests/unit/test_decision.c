/* test_decision — SPEC 9.1 steps 3 to 10 on tables: one row per step and refusal, no server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "apierr.h"
#include "cal.h"
#include "catalog.h"
#include "check.h"
#include "codec.h"
#include "contract.h"
#include "contract_file.h"
#include "decision.h"
#include "fixture.h"
#include "pki.h"
#include "release.h"
#include "token.h"

#define ISSUER "pdgate.test/decision"

static char dir[] = "/tmp/test_decision.XXXXXX";
static char key_path[300], pub_path[300];
static unsigned char cert_a[32], cert_b[32]; /* SHA-256 of two certificates' DER */
static time_t now;

/* ---- the contracts ---------------------------------------------------------------------- */

/* id, partner, relationship, status, more members ("" or ",\"…\":…"), purposes */
static const char *const CONTRACTS[][6] = {
    /* work orders required and bound (the defaults) */
    {"CT-2026-0301", "alpha", "entrustment", "active", "",
     "{\"marketing\":{\"fields\":[\"name\"]},\"contact\":{\"fields\":[\"email\"]},"
     "\"legal_obligation\":{\"fields\":[\"name\"]}}"},
    /* two contracts without work orders listing the same purpose */
    {"CT-2026-0302", "beta", "joint_use", "active", ",\"token_required\":false",
     "{\"survey\":{\"fields\":[\"email\"]},\"marketing\":{\"fields\":[\"email\"]}}"},
    {"CT-2026-0303", "beta", "joint_use", "active", ",\"token_required\":false",
     "{\"survey\":{\"fields\":[\"name\"]}}"},
    /* unbound work orders allowed, certificate A pinned */
    {"CT-2026-0304", "gamma", "entrustment", "active",
     ",\"token_binding\":\"optional\",\"certificates\":[\"sha256:CERT_A\"]",
     "{\"contact\":{\"fields\":[\"email\"]}}"},
    {"CT-2026-0305", "delta", "joint_use", "suspended", ",\"token_required\":false",
     "{\"contact\":{\"fields\":[\"email\"]}}"},
    {"CT-2026-0306", "epsilon", "third_party", "active", ",\"token_required\":false",
     "{\"consented\":{\"fields\":[\"name\"]},\"legal_obligation\":{\"fields\":[\"name\"]}}"},
};
#define NCONTRACTS (sizeof(CONTRACTS) / sizeof(CONTRACTS[0]))

/* The path of contract i in the test's contracts folder (or the folder, for i = NCONTRACTS). */
static void
contract_path(char *out, size_t len, size_t i)
{
	if (i < NCONTRACTS)
		snprintf(out, len, "%s/contracts/%s.json", dir, CONTRACTS[i][0]);
	else
		snprintf(out, len, "%s/contracts", dir);
}

/* Writes the contracts into a folder and loads it as the registry does. */
static struct contract_set *
load_set(const struct catalog *cat)
{
	char folder[400], hex[65], *errors = NULL;

	codec_hex_encode(cert_a, sizeof(cert_a), hex);
	contract_path(folder, sizeof(folder), NCONTRACTS);
	CHECK(mkdir(folder, 0700) == 0, "mkdir %s", folder);
	for (size_t i = 0; i < NCONTRACTS; i++) {
		const char *members = CONTRACTS[i][4], *mark = strstr(members, "CERT_A");
		char text[2048], extra[512], path[400];
		FILE *f;

		if (mark != NULL) /* certificate A's fingerprint, known only at run time */
			snprintf(extra, sizeof(extra), "%.*s%s%s", (int)(mark - members), members,
			         hex, mark + 6);
		else
			snprintf(extra, sizeof(extra), "%s", members);
		snprintf(text, sizeof(text),
		         "{\"id\":\"%s\",\"partner\":\"%s\",\"partner_name\":\"X\","
		         "\"relationship\":\"%s\",\"status\":\"%s\","
		         "\"valid_from\":\"2026-04-01T00:00:00+09:00\","
		         "\"valid_until\":\"2027-03-31T23:59:59+09:00\",\"confidentiality\":\"c\""
		         "%s,\"purposes\":%s}",
		         CONTRACTS[i][0], CONTRACTS[i][1], CONTRACTS[i][2], CONTRACTS[i][3], extra,
		         CONTRACTS[i][5]);
		contract_path(path, sizeof(path), i);
		f = fopen(path, "w");
		CHECK(f != NULL && fputs(text, f) >= 0, "write %s", path);
		if (f != NULL)
			fclose(f);
	}
	struct contract_set *s = contract_set_load(cat, folder, &errors);
	CHECK(s != NULL, "contracts: %s", errors ? errors : "");
	free(errors);
	return s;
}

/* ---- the work orders -------------------------------------------------------------------- */

static const struct {
	const char *name, *partner, *contract, *purpose;
	int cnf; /* 0 unbound, 1 certificate A, 2 certificate B */
	int64_t max_records;
} ORDERS[] = {
    {"ok", "alpha", "CT-2026-0301", "marketing", 1, 0},
    {"unbound", "alpha", "CT-2026-0301", "marketing", 0, 0},
    {"bound to B", "alpha", "CT-2026-0301", "marketing", 2, 0},
    {"beta's sub", "beta", "CT-2026-0301", "marketing", 1, 0},
    {"beta's contract", "alpha", "CT-2026-0302", "survey", 1, 0},
    {"unlisted purpose", "alpha", "CT-2026-0301", "survey", 1, 0},
    {"exception", "alpha", "CT-2026-0301", "legal_obligation", 1, 0},
    {"max 2", "alpha", "CT-2026-0301", "marketing", 1, 2},
    {"gamma unbound", "gamma", "CT-2026-0304", "contact", 0, 0},
    {"gamma bound to B", "gamma", "CT-2026-0304", "contact", 2, 0},
};
#define NORDERS (sizeof(ORDERS) / sizeof(ORDERS[0]))
static char *orders[NORDERS], *staff_token;

static const char *
bearer(const char *name)
{
	static char buf[TOKEN_MAX_BYTES + 16];
	const char *t = NULL;

	if (strcmp(name, "staff") == 0)
		t = staff_token;
	for (size_t i = 0; i < NORDERS && t == NULL; i++)
		if (strcmp(ORDERS[i].name, name) == 0)
			t = orders[i];
	CHECK(t != NULL, "no work order named %s", name);
	snprintf(buf, sizeof(buf), "Bearer %s", t ? t : "");
	return buf;
}

static int
issue_tokens(void)
{
	char err[256];

	for (size_t i = 0; i < NORDERS; i++) {
		const unsigned char *cnf = ORDERS[i].cnf == 1   ? cert_a
		                           : ORDERS[i].cnf == 2 ? cert_b
		                                                : NULL;
		struct token_work_order w = {ISSUER,
		                             ORDERS[i].partner,
		                             ORDERS[i].contract,
		                             ORDERS[i].purpose,
		                             ORDERS[i].max_records,
		                             cnf};
		orders[i] = token_issue_work_order(key_path, &w, (int64_t)now, 3600, NULL, err,
		                                   sizeof(err));
		CHECK(orders[i] != NULL, "work order %s: %s", ORDERS[i].name, err);
		if (orders[i] == NULL)
			return -1;
	}
	staff_token = token_issue_staff(key_path, ISSUER, "officer", TOKEN_ROLE_AUDITOR,
	                                (int64_t)now, 3600, NULL, err, sizeof(err));
	CHECK(staff_token != NULL, "staff token: %s", err);
	return staff_token != NULL ? 0 : -1;
}

/* ---- the world, faked ------------------------------------------------------------------- */

struct fake {
	int revoked;  /* what the token store says */
	int admit;    /* 0 admits, -1 refuses with retry 30 */
	int take;     /* 0 counted, -1 the store fails, DECISION_TAKE_UNAVAILABLE unreachable */
	bool take_ok; /* with take 0: the count stays within max */
	uint32_t cap; /* the most records the limits grant */
	int n_revoked, n_admit, n_take;
	const char *admitted; /* the contract admit was asked about */
	int64_t took_n, took_max;
};

static int
fake_revoked(void *arg, const char *jti)
{
	struct fake *f = arg;
	(void)jti;
	f->n_revoked++;
	return f->revoked;
}

static int
fake_admit(void *arg, const struct contract *c, uint32_t want, int64_t now_ms, uint32_t *granted,
           uint32_t *retry_after)
{
	struct fake *f = arg;
	(void)now_ms;
	f->n_admit++;
	f->admitted = c->id;
	if (f->admit != 0) {
		*retry_after = 30;
		return -1;
	}
	*granted = want < f->cap ? want : f->cap;
	return 0;
}

static int
fake_take(void *arg, const char *jti, int64_t n, int64_t max, bool *ok)
{
	struct fake *f = arg;
	(void)jti;
	f->n_take++;
	f->took_n = n;
	f->took_max = max;
	*ok = f->take == 0 && f->take_ok;
	return f->take;
}

/* ---- steps 3 to 8 ----------------------------------------------------------------------- */

struct row {
	const char *name;
	struct {
		const char *partner;
		int cert; /* 0: certificate A, 1: certificate B */
		bool gateway_suspended, partner_suspended;
		const char *purpose, *contract, *justification; /* headers */
		const char
		    *auth; /* "@name": Bearer and the work order of that name; else as sent */
		bool auth_unusable;
		int revoked, limited; /* what the token store and the limits say */
	} in;
	struct {
		enum decision_step step;
		enum apierr error;
		const char *words;    /* the message contains them; NULL: the code's own (empty) */
		const char *contract; /* d.contract's id, or NULL */
		const char *purpose;  /* the purpose recorded (purpose_known), or NULL */
		const char *basis;    /* "" until step 7 passed */
		int store, limits;    /* calls to revoked and admit */
	} out;
};

/*
 * Each row: its name; the request (partner, certificate, gateway and partner suspended,
 * X-Purpose, X-Contract, X-Justification, Authorization, Authorization unusable, what the
 * token store and the limits answer); the decision (step, error, words of the message,
 * contract, purpose recorded, basis, how often the token store and the limits were asked).
 */
static const struct row ROWS[] = {
    /* step 3: before anything else, and not recorded */
    {"gateway suspended",
     {"alpha", 0, true, false, "marketing", NULL, NULL, "@ok", false, 0, 0},
     {DECISION_STEP_GATEWAY, APIERR_GATEWAY_SUSPENDED, NULL, NULL, NULL, "", 0, 0}},
    {"gateway suspended, partner unknown",
     {"nobody", 0, true, true, NULL, NULL, NULL, NULL, false, 0, 0},
     {DECISION_STEP_GATEWAY, APIERR_GATEWAY_SUSPENDED, NULL, NULL, NULL, "", 0, 0}},
    /* step 4 */
    {"partner unknown",
     {"nobody", 0, false, false, "marketing", NULL, NULL, "@ok", false, 0, 0},
     {DECISION_STEP_PARTNER, APIERR_PARTNER_UNKNOWN, NULL, NULL, NULL, "", 0, 0}},
    {"partner suspended",
     {"alpha", 0, false, true, "marketing", NULL, NULL, "@ok", false, 0, 0},
     {DECISION_STEP_PARTNER, APIERR_PARTNER_SUSPENDED, NULL, NULL, NULL, "", 0, 0}},
    /* step 5 without a work order: the contract chosen by X-Contract or the purpose */
    {"Authorization unusable",
     {"alpha", 0, false, false, "marketing", NULL, NULL, NULL, true, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "unusable", NULL, NULL, "", 0, 0}},
    {"no work order, the contract requires one",
     {"alpha", 0, false, false, "marketing", NULL, NULL, NULL, false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_REQUIRED, "requires a work order", "CT-2026-0301",
      "marketing", "", 0, 0}},
    {"no work order, no such contract, every one requires one",
     {"alpha", 0, false, false, "marketing", "CT-2026-9999", NULL, NULL, false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_REQUIRED, "requires a work order", NULL, "marketing", "", 0,
      0}},
    {"no work order, two contracts list the purpose",
     {"beta", 0, false, false, "survey", NULL, NULL, NULL, false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_CONTRACT_AMBIGUOUS, NULL, NULL, "survey", "", 0, 0}},
    {"no work order, no purpose, two contracts",
     {"beta", 0, false, false, NULL, NULL, NULL, NULL, false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_PURPOSE_MISSING, NULL, NULL, NULL, "", 0, 0}},
    {"no work order, no such contract",
     {"beta", 0, false, false, "survey", "CT-2026-9999", NULL, NULL, false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_CONTRACT_INACTIVE, NULL, NULL, "survey", "", 0, 0}},
    /* step 5 with a work order: form, signature and claims, binding, revocation, headers */
    {"Basic scheme",
     {"alpha", 0, false, false, NULL, NULL, NULL, "Basic YWxwaGE6eA==", false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "must be Bearer", NULL, NULL, "", 0, 0}},
    {"Bearer and nothing",
     {"alpha", 0, false, false, NULL, NULL, NULL, "Bearer ", false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "must be Bearer", NULL, NULL, "", 0, 0}},
    {"not a token",
     {"alpha", 0, false, false, NULL, NULL, NULL, "Bearer a.b", false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "three segments", NULL, NULL, "", 0, 0}},
    {"staff token",
     {"alpha", 0, false, false, NULL, NULL, NULL, "@staff", false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "staff token", NULL, NULL, "", 0, 0}},
    {"another partner's work order",
     {"alpha", 0, false, false, NULL, NULL, NULL, "@beta's sub", false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "sub is not the partner", NULL, NULL, "", 0, 0}},
    {"another partner's contract",
     {"alpha", 0, false, false, NULL, NULL, NULL, "@beta's contract", false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "contract not on file", NULL, NULL, "", 0, 0}},
    {"a purpose the contract does not list",
     {"alpha", 0, false, false, NULL, NULL, NULL, "@unlisted purpose", false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "purpose not listed", NULL, NULL, "", 0, 0}},
    {"bound to another certificate",
     {"alpha", 0, false, false, NULL, NULL, NULL, "@bound to B", false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "cnf", NULL, NULL, "", 0, 0}},
    {"unbound, binding required",
     {"alpha", 0, false, false, NULL, NULL, NULL, "@unbound", false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "cnf", NULL, NULL, "", 0, 0}},
    {"revoked",
     {"alpha", 0, false, false, NULL, NULL, NULL, "@ok", false, 1, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "revoked", "CT-2026-0301", NULL, "", 1, 0}},
    {"the token store cannot tell",
     {"alpha", 0, false, false, NULL, NULL, NULL, "@ok", false, -1, 0},
     {DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID, "revoked", "CT-2026-0301", NULL, "", 1, 0}},
    {"X-Purpose disagrees",
     {"alpha", 0, false, false, "contact", NULL, NULL, "@ok", false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_PURPOSE_CONFLICT, NULL, "CT-2026-0301", NULL, "", 1, 0}},
    {"X-Contract disagrees",
     {"alpha", 0, false, false, NULL, "CT-2026-0302", NULL, "@ok", false, 0, 0},
     {DECISION_STEP_TOKEN, APIERR_BAD_REQUEST, "X-Contract disagrees", "CT-2026-0301", NULL, "", 1,
      0}},
    /* step 6 */
    {"the contract pins another certificate",
     {"gamma", 1, false, false, NULL, NULL, NULL, "@gamma bound to B", false, 0, 0},
     {DECISION_STEP_CONTRACT, APIERR_CERTIFICATE_INVALID, "pins other certificates", "CT-2026-0304",
      "contact", "", 1, 0}},
    {"the contract is suspended",
     {"delta", 0, false, false, "contact", NULL, NULL, NULL, false, 0, 0},
     {DECISION_STEP_CONTRACT, APIERR_CONTRACT_INACTIVE, NULL, "CT-2026-0305", "contact", "", 0, 0}},
    /* step 7 */
    {"no purpose",
     {"beta", 0, false, false, NULL, "CT-2026-0302", NULL, NULL, false, 0, 0},
     {DECISION_STEP_PURPOSE, APIERR_PURPOSE_MISSING, "declare a purpose", "CT-2026-0302", NULL, "",
      0, 0}},
    {"a purpose the catalog does not know",
     {"beta", 0, false, false, "bogus", "CT-2026-0302", NULL, NULL, false, 0, 0},
     {DECISION_STEP_PURPOSE, APIERR_PURPOSE_NOT_PERMITTED, "no such purpose", "CT-2026-0302", NULL,
      "", 0, 0}},
    {"a purpose the contract does not list",
     {"beta", 0, false, false, "contact", "CT-2026-0302", NULL, NULL, false, 0, 0},
     {DECISION_STEP_PURPOSE, APIERR_PURPOSE_NOT_PERMITTED, "does not list", "CT-2026-0302",
      "contact", "", 0, 0}},
    {"an exception purpose without a justification",
     {"alpha", 0, false, false, NULL, NULL, NULL, "@exception", false, 0, 0},
     {DECISION_STEP_PURPOSE, APIERR_JUSTIFICATION_REQUIRED, "X-Justification", "CT-2026-0301",
      "legal_obligation", "", 1, 0}},
    /* step 8 */
    {"over the limits",
     {"alpha", 0, false, false, NULL, NULL, NULL, "@ok", false, 0, 1},
     {DECISION_STEP_LIMITS, APIERR_RATE_LIMITED, NULL, "CT-2026-0301", "marketing", "entrustment",
      1, 1}},
    /* through */
    {"a work order",
     {"alpha", 0, false, false, "marketing", "CT-2026-0301", NULL, "@ok", false, 0, 0},
     {DECISION_STEP_LIMITS, APIERR_NONE, NULL, "CT-2026-0301", "marketing", "entrustment", 1, 1}},
    {"an exception purpose",
     {"alpha", 0, false, false, NULL, NULL, "a court order", "@exception", false, 0, 0},
     {DECISION_STEP_LIMITS, APIERR_NONE, NULL, "CT-2026-0301", "legal_obligation",
      "exception:legal_obligation", 1, 1}},
    {"no work order needed",
     {"beta", 0, false, false, "survey", "CT-2026-0302", NULL, NULL, false, 0, 0},
     {DECISION_STEP_LIMITS, APIERR_NONE, NULL, "CT-2026-0302", "survey", "joint_use", 0, 1}},
    {"an unbound work order where binding is optional",
     {"gamma", 0, false, false, "contact", NULL, NULL, "@gamma unbound", false, 0, 0},
     {DECISION_STEP_LIMITS, APIERR_NONE, NULL, "CT-2026-0304", "contact", "entrustment", 1, 1}},
    {"a justification with an ordinary purpose is not recorded",
     {"beta", 0, false, false, "survey", "CT-2026-0302", "ignored", NULL, false, 0, 0},
     {DECISION_STEP_LIMITS, APIERR_NONE, NULL, "CT-2026-0302", "survey", "joint_use", 0, 1}},
    {"third party",
     {"epsilon", 0, false, false, "consented", NULL, NULL, NULL, false, 0, 0},
     {DECISION_STEP_LIMITS, APIERR_NONE, NULL, "CT-2026-0306", "consented", "consent", 0, 1}},
};

static void
test_request(const struct catalog *cat, const struct contract_set *set,
             const struct token_verifier *tokens)
{
	for (size_t i = 0; i < sizeof(ROWS) / sizeof(ROWS[0]); i++) {
		const struct row *w = &ROWS[i];
		struct fake fk = {
		    .revoked = w->in.revoked, .admit = w->in.limited ? -1 : 0, .cap = 7};
		struct decision_io io = {fake_revoked, fake_admit, fake_take, &fk};
		struct decision_facts f = {
		    .partner = w->in.partner,
		    .x5t = w->in.cert == 0 ? cert_a : cert_b,
		    .gateway_suspended = w->in.gateway_suspended,
		    .partner_suspended = w->in.partner_suspended,
		    .contracts = set,
		    .catalog = cat,
		    .tokens = tokens,
		    .purpose = w->in.purpose,
		    .contract = w->in.contract,
		    .justification = w->in.justification,
		    .authorization =
		        w->in.auth && w->in.auth[0] == '@' ? bearer(w->in.auth + 1) : w->in.auth,
		    .authorization_unusable = w->in.auth_unusable,
		    .now = now,
		    .now_ms = (int64_t)now * 1000,
		    .want = 10,
		};
		struct decision d;
		enum apierr e;

		memset(&d, 0x5a, sizeof(d)); /* decision_request starts from scratch */
		e = decision_request(&d, &f, &io);
		CHECK(e == w->out.error && d.error == w->out.error, "%s: %s, want %s", w->name,
		      apierr_code(e), apierr_code(w->out.error));
		CHECK(d.step == w->out.step, "%s: step %d, want %d", w->name, d.step, w->out.step);
		CHECK(w->out.words != NULL
		          ? w->out.words[0] != '\0' && strstr(d.message, w->out.words) != NULL
		          : d.message[0] == '\0',
		      "%s: message '%s', want '%s'", w->name, d.message,
		      w->out.words ? w->out.words : "");
		CHECK(d.recorded ==
		          (w->out.error != APIERR_NONE && w->out.step >= DECISION_STEP_PARTNER),
		      "%s: recorded %d", w->name, d.recorded);
		CHECK(w->out.contract != NULL
		          ? d.contract != NULL && strcmp(d.contract->id, w->out.contract) == 0
		          : d.contract == NULL,
		      "%s: contract %s, want %s", w->name, d.contract ? d.contract->id : "none",
		      w->out.contract ? w->out.contract : "none");
		CHECK(w->out.purpose != NULL
		          ? d.purpose_known && strcmp(d.purpose, w->out.purpose) == 0
		          : !d.purpose_known,
		      "%s: recorded purpose '%s' (%d), want %s", w->name, d.purpose,
		      d.purpose_known, w->out.purpose ? w->out.purpose : "none");
		CHECK(strcmp(d.basis, w->out.basis) == 0 &&
		          (d.cp != NULL) == (w->out.basis[0] != '\0'),
		      "%s: basis '%s', want '%s'", w->name, d.basis, w->out.basis);
		CHECK(fk.n_revoked == w->out.store && fk.n_admit == w->out.limits && fk.n_take == 0,
		      "%s: asked the store %d, the limits %d times", w->name, fk.n_revoked,
		      fk.n_admit);
		CHECK(d.purpose_logged ==
		          (w->out.step >= DECISION_STEP_PURPOSE && d.purpose[0] != '\0'),
		      "%s: logged purpose", w->name);
		if (w->out.error == APIERR_RATE_LIMITED)
			CHECK(d.retry_after == 30 && d.granted == 0, "%s: Retry-After %u", w->name,
			      d.retry_after);
		if (w->out.error == APIERR_NONE) {
			CHECK(d.granted == 7 && d.retry_after == 0 &&
			          strcmp(fk.admitted, w->out.contract) == 0,
			      "%s: granted %u", w->name, d.granted);
			CHECK(d.cp != NULL && strcmp(d.cp->id, w->out.purpose) == 0,
			      "%s: the contract's entry for the purpose", w->name);
			CHECK(d.has_token == (w->in.auth != NULL) &&
			          (!d.has_token || strcmp(d.claims.purpose, d.purpose) == 0),
			      "%s: work order", w->name);
			bool exception =
			    d.cp != NULL && d.cp->purpose->kind == CATALOG_KIND_EXCEPTION;
			CHECK(exception ? d.justification == w->in.justification
			                : d.justification == NULL,
			      "%s: justification recorded only for an exception purpose", w->name);
		}
	}
}

/* A work order that verified, then decision_take_records on it. */
static void
test_take_records(const struct catalog *cat, const struct contract_set *set,
                  const struct token_verifier *tokens)
{
	static const struct {
		const char *name, *order; /* NULL: no work order (beta) */
		size_t n;
		int take;
		bool ok;
		enum apierr want;
		const char *words;
		int asked;
	} cases[] = {
	    {"no work order", NULL, 5, 0, false, APIERR_NONE, NULL, 0},
	    {"no max_records", "ok", 5, 0, false, APIERR_NONE, NULL, 0},
	    {"nothing released", "max 2", 0, 0, false, APIERR_NONE, NULL, 0},
	    {"within max_records", "max 2", 2, 0, true, APIERR_NONE, NULL, 1},
	    {"beyond max_records", "max 2", 3, 0, false, APIERR_TOKEN_INVALID, "max_records", 1},
	    {"the count cannot be kept", "max 2", 1, -1, false, APIERR_INTERNAL, "counter", 1},
	    {"the shared count cannot be reached", "max 2", 1, DECISION_TAKE_UNAVAILABLE, false,
	     APIERR_LEDGER_UNAVAILABLE, "nodes share", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake fk = {.cap = 10, .take = cases[i].take, .take_ok = cases[i].ok};
		struct decision_io io = {fake_revoked, fake_admit, fake_take, &fk};
		struct decision_facts f = {
		    .partner = cases[i].order ? "alpha" : "beta",
		    .x5t = cert_a,
		    .contracts = set,
		    .catalog = cat,
		    .tokens = tokens,
		    .purpose = cases[i].order ? NULL : "survey",
		    .contract = cases[i].order ? NULL : "CT-2026-0302",
		    .authorization = cases[i].order ? bearer(cases[i].order) : NULL,
		    .now = now,
		    .want = 10,
		};
		struct decision d;

		CHECK(decision_request(&d, &f, &io) == APIERR_NONE, "%s: decided: %s",
		      cases[i].name, d.message);
		enum apierr e = decision_take_records(&d, &io, cases[i].n);
		CHECK(e == cases[i].want && d.error == e, "%s: %s, want %s", cases[i].name,
		      apierr_code(e), apierr_code(cases[i].want));
		CHECK(fk.n_take == cases[i].asked, "%s: asked %d times", cases[i].name, fk.n_take);
		if (fk.n_take > 0)
			CHECK(fk.took_n == (int64_t)cases[i].n && fk.took_max == 2,
			      "%s: took %lld of %lld", cases[i].name, (long long)fk.took_n,
			      (long long)fk.took_max);
		/* ledger_unavailable: not recorded (the ledger is what cannot be reached) */
		if (e != APIERR_NONE)
			CHECK(d.step == DECISION_STEP_TOKEN &&
			          d.recorded == (e != APIERR_LEDGER_UNAVAILABLE) &&
			          strstr(d.message, cases[i].words) != NULL,
			      "%s: step %d, message '%s'", cases[i].name, d.step, d.message);
		/* a refused decision stays as it was: the first refusal decides */
		int before = fk.n_take;
		if (e != APIERR_NONE)
			CHECK(decision_take_records(&d, &io, 1) == e && fk.n_take == before,
			      "%s: refused stays refused", cases[i].name);
	}
}

/* Steps 9 and 10 for one member's bytes, under a decision for a purpose. */
static void
test_member(const struct catalog *cat, const struct contract_set *set)
{
	static const struct {
		const char *name, *contract, *purpose, *bytes;
		enum apierr error, withheld;
		unsigned held; /* the restrictions pdgate holds (POLICY_RESTRICT_*) */
	} cases[] = {
	    {"a record", "CT-2026-0302", "survey", "{\"member_id\":\"M1\"}", APIERR_NONE,
	     APIERR_NONE, 0},
	    {"not JSON", "CT-2026-0302", "survey", "{\"member_id\":", APIERR_ORIGIN_INVALID,
	     APIERR_NONE, 0},
	    {"another member", "CT-2026-0302", "survey", "{\"member_id\":\"M2\"}",
	     APIERR_ORIGIN_INVALID, APIERR_NONE, 0},
	    {"a field of the wrong type", "CT-2026-0302", "survey",
	     "{\"member_id\":\"M1\",\"email\":7}", APIERR_ORIGIN_INVALID, APIERR_NONE, 0},
	    {"stop_use", "CT-2026-0302", "survey",
	     "{\"member_id\":\"M1\",\"restrictions\":{\"stop_use\":true}}", APIERR_NONE,
	     APIERR_MEMBER_RESTRICTED, 0},
	    {"opted out", "CT-2026-0302", "survey",
	     "{\"member_id\":\"M1\",\"consents\":{\"survey\":false}}", APIERR_NONE,
	     APIERR_CONSENT_MISSING, 0},
	    {"third party without consent", "CT-2026-0306", "consented", "{\"member_id\":\"M1\"}",
	     APIERR_NONE, APIERR_CONSENT_MISSING, 0},
	    {"an exception purpose passes stop_use", "CT-2026-0306", "legal_obligation",
	     "{\"member_id\":\"M1\",\"restrictions\":{\"stop_use\":true}}", APIERR_NONE,
	     APIERR_NONE, 0},
	    /* the restrictions of members' requests, as if the record said so */
	    {"held stop_use", "CT-2026-0302", "survey", "{\"member_id\":\"M1\"}", APIERR_NONE,
	     APIERR_MEMBER_RESTRICTED, POLICY_RESTRICT_STOP_USE},
	    {"held stop_third_party, not a third party", "CT-2026-0302", "survey",
	     "{\"member_id\":\"M1\"}", APIERR_NONE, APIERR_NONE, POLICY_RESTRICT_STOP_THIRD_PARTY},
	    {"held stop_third_party, a third party with consent", "CT-2026-0306", "consented",
	     "{\"member_id\":\"M1\",\"consents\":{\"third_party_provision\":true,"
	     "\"consented\":[\"CT-2026-0306\"]}}",
	     APIERR_NONE, APIERR_MEMBER_RESTRICTED, POLICY_RESTRICT_STOP_THIRD_PARTY},
	    {"the record's consent, without a held restriction", "CT-2026-0306", "consented",
	     "{\"member_id\":\"M1\",\"consents\":{\"third_party_provision\":true,"
	     "\"consented\":[\"CT-2026-0306\"]}}",
	     APIERR_NONE, APIERR_NONE, 0},
	    {"the stricter wins: held stop_use over a record that allows", "CT-2026-0306",
	     "consented",
	     "{\"member_id\":\"M1\",\"consents\":{\"third_party_provision\":true,"
	     "\"consented\":[\"CT-2026-0306\"]},\"restrictions\":{\"stop_use\":false}}",
	     APIERR_NONE, APIERR_MEMBER_RESTRICTED, POLICY_RESTRICT_STOP_USE},
	    {"the stricter wins: the record's stop_use, nothing held", "CT-2026-0302", "survey",
	     "{\"member_id\":\"M1\",\"restrictions\":{\"stop_use\":true}}", APIERR_NONE,
	     APIERR_MEMBER_RESTRICTED, POLICY_RESTRICT_STOP_THIRD_PARTY},
	    {"an exception purpose passes a held stop_use", "CT-2026-0306", "legal_obligation",
	     "{\"member_id\":\"M1\"}", APIERR_NONE, APIERR_NONE,
	     POLICY_RESTRICT_STOP_USE | POLICY_RESTRICT_STOP_THIRD_PARTY},
	    {"a record the origin sent wrongly refuses before a held restriction", "CT-2026-0302",
	     "survey", "{\"member_id\":\"M2\"}", APIERR_ORIGIN_INVALID, APIERR_NONE,
	     POLICY_RESTRICT_STOP_USE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct decision d;
		char why[RELEASE_WHY_MAX];

		memset(&d, 0, sizeof(d));
		d.contract = contract_set_find(set, cases[i].contract);
		d.cp = d.contract ? contract_purpose(d.contract, cases[i].purpose) : NULL;
		CHECK(d.cp != NULL, "%s: setup", cases[i].name);
		if (d.cp == NULL)
			continue;
		struct decision_verdict v =
		    decision_member(&d, cat, 4096, "M1", cases[i].held, cases[i].bytes,
		                    strlen(cases[i].bytes), why, sizeof(why));
		CHECK(v.error == cases[i].error && v.withheld == cases[i].withheld,
		      "%s: %s / %s, want %s / %s", cases[i].name, apierr_code(v.error),
		      apierr_code(v.withheld), apierr_code(cases[i].error),
		      apierr_code(cases[i].withheld));
		bool through = v.error == APIERR_NONE && v.withheld == APIERR_NONE;
		CHECK(through ? v.record != NULL && v.why == NULL
		              : v.record == NULL && v.why != NULL,
		      "%s: a record to release, or why not", cases[i].name);
		json_decref(v.record);
	}
}

static void
test_refuse(void)
{
	static const struct {
		enum decision_step step;
		enum apierr e;
		const char *message;
		bool recorded;
	} cases[] = {
	    {DECISION_STEP_CERTIFICATE, APIERR_INTERNAL, NULL, false},
	    {DECISION_STEP_REQUEST, APIERR_BAD_REQUEST, "member_id", false},
	    {DECISION_STEP_GATEWAY, APIERR_GATEWAY_SUSPENDED, NULL, false},
	    {DECISION_STEP_PARTNER, APIERR_PARTNER_UNKNOWN, NULL, true},
	    {DECISION_STEP_ORIGIN, APIERR_ORIGIN_TIMEOUT, NULL, true},
	    {DECISION_STEP_MEMBER, APIERR_CONSENT_MISSING, "the member", true},
	    {DECISION_STEP_RELEASE, APIERR_INTERNAL, NULL, true},
	    /* the ledger cannot record that it cannot record */
	    {DECISION_STEP_RELEASE, APIERR_LEDGER_UNAVAILABLE, NULL, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct decision d;
		memset(&d, 0, sizeof(d));
		decision_refuse(&d, cases[i].step, cases[i].e, cases[i].message);
		CHECK(d.error == cases[i].e && d.step == cases[i].step &&
		          d.recorded == cases[i].recorded &&
		          strcmp(d.message, cases[i].message ? cases[i].message : "") == 0,
		      "refuse %zu: %s at %d, recorded %d", i, apierr_code(d.error), d.step,
		      d.recorded);
	}
}

/* ---- setup ------------------------------------------------------------------------------ */

int
main(void)
{
	struct catalog *cat = NULL;
	struct contract_set *set = NULL;
	struct token_verifier *tokens = NULL;
	EVP_PKEY *key = NULL;
	char err[256];

	now = (time_t)(cal_days_from_civil(2026, 11, 28) * 86400);
	SHA256((const unsigned char *)"certificate A", 13, cert_a);
	SHA256((const unsigned char *)"certificate B", 13, cert_b);
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(key_path, sizeof(key_path), "%s/token.key", dir);
	snprintf(pub_path, sizeof(pub_path), "%s/token.pub", dir);
	key = EVP_EC_gen("P-256");
	CHECK(key != NULL, "key");
	if (key == NULL)
		return check_done();
	CHECK(pki_key_write(key_path, key, err, sizeof(err)) == 0 &&
	          pki_pub_write(pub_path, key, err, sizeof(err)) == 0,
	      "token key: %s", err);

	cat = fixture_catalog();
	tokens = token_verifier_new(pub_path, ISSUER, TOKEN_WORK_ORDER, err, sizeof(err));
	CHECK(tokens != NULL, "verifier: %s", err);
	if (cat != NULL)
		set = load_set(cat);
	if (set != NULL && tokens != NULL && issue_tokens() == 0) {
		test_request(cat, set, tokens);
		test_take_records(cat, set, tokens);
		test_member(cat, set);
	}
	test_refuse();

	for (size_t i = 0; i < NORDERS; i++)
		free(orders[i]);
	free(staff_token);
	token_verifier_free(tokens);
	contract_set_free(set);
	catalog_free(cat);
	EVP_PKEY_free(key);
	for (size_t i = 0; i <= NCONTRACTS; i++) {
		char path[400];
		contract_path(path, sizeof(path), i);
		if (i < NCONTRACTS)
			unlink(path);
		else
			rmdir(path);
	}
	unlink(key_path);
	unlink(pub_path);
	rmdir(dir);
	return check_done();
}
