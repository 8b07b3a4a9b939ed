/* test_policy — contract choice, contract and purpose checks, member rules, basis, hard rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apierr.h"
#include "cal.h"
#include "catalog.h"
#include "check.h"
#include "contract.h"
#include "contract_file.c" /* contract_parse is static */
#include "fixture.h"
#include "policy.h"

/* id, partner, relationship, status, valid_from, valid_until, purposes JSON, extra members */
static const char *const CONTRACTS[][8] = {
    {"CT-2026-0201", "alpha", "entrustment", "active", "2026-04-01T00:00:00+09:00",
     "2027-03-31T23:59:59+09:00",
     "{\"marketing\":{\"fields\":[\"name\",\"address\"]},\"contact\":{\"fields\":[\"email\"]},"
     "\"feedback\":{\"fields\":[\"email\"],\"requires_consent\":true},"
     "\"legal_obligation\":{\"fields\":[\"name\",\"address\"]}}",
     ""},
    {"CT-2026-0202", "alpha", "entrustment", "active", "2026-04-01T00:00:00+09:00",
     "2027-03-31T23:59:59+09:00",
     "{\"marketing\":{\"fields\":[\"email\"]},\"survey\":{\"fields\":[\"email\"]}}", ""},
    {"CT-2026-0203", "beta", "third_party", "active", "2026-04-01T00:00:00+09:00",
     "2027-03-31T23:59:59+09:00",
     "{\"consented\":{\"fields\":[\"name\"]},\"marketing\":{\"fields\":[\"name\"],"
     "\"requires_consent\":true},\"legal_obligation\":{\"fields\":[\"name\"]}}",
     ""},
    {"CT-2026-0204", "gamma", "joint_use", "terminated", "2026-04-01T00:00:00+09:00",
     "2027-03-31T23:59:59+09:00", "{\"benefits\":{\"fields\":[\"member_id\"]}}", ""},
    {"CT-2026-0205", "delta", "entrustment", "active", "2025-04-01T00:00:00+09:00",
     "2026-03-31T23:59:59+09:00", "{\"contact\":{\"fields\":[\"email\"]}}", ""},
    {"CT-2026-0206", "delta", "entrustment", "suspended", "2026-04-01T00:00:00+09:00",
     "2027-03-31T23:59:59+09:00", "{\"contact\":{\"fields\":[\"email\"]}}", ""},
    {"CT-2026-0207", "epsilon", "entrustment", "active", "2026-04-01T00:00:00+09:00",
     "2027-03-31T23:59:59+09:00",
     "{\"statistics\":{\"fields\":[\"member_id:pseudonym\",\"gender\"]},"
     "\"my_number_affairs\":{\"fields\":[\"name\",\"my_number\"]}}",
     ",\"my_number_permitted\":true"},
    {"CT-2026-0208", "zeta", "joint_use", "active", "2026-04-01T00:00:00+09:00",
     "2027-03-31T23:59:59+09:00",
     "{\"survey\":{\"fields\":[\"email\"]},\"benefits\":{\"fields\":[\"member_id\"]}}", ""},
    /* recipients abroad (SPEC 16.5): a third party, an entrustee and a joint user */
    {"CT-2026-0209", "eta", "third_party", "active", "2026-04-01T00:00:00+09:00",
     "2027-03-31T23:59:59+09:00",
     "{\"consented\":{\"fields\":[\"name\"]},\"service_delivery\":{\"fields\":[\"name\"]},"
     "\"legal_obligation\":{\"fields\":[\"name\"]}}",
     ",\"country\":\"US\""},
    {"CT-2026-0210", "theta", "entrustment", "active", "2026-04-01T00:00:00+09:00",
     "2027-03-31T23:59:59+09:00", "{\"contact\":{\"fields\":[\"email\"]}}",
     ",\"country\":\"SG\",\"foreign_safeguards\":\"委託契約 第9条\""},
    {"CT-2026-0211", "iota", "joint_use", "active", "2026-04-01T00:00:00+09:00",
     "2027-03-31T23:59:59+09:00", "{\"benefits\":{\"fields\":[\"member_id\"]}}",
     ",\"country\":\"FR\",\"foreign_safeguards\":\"共同利用契約 第8条\""},
};
#define NCONTRACTS (sizeof(CONTRACTS) / sizeof(CONTRACTS[0]))

static struct contract_set *
make_set(const struct catalog *cat)
{
	struct contract **v = calloc(NCONTRACTS, sizeof(*v));
	for (size_t i = 0; i < NCONTRACTS; i++) {
		char text[2048], *errors = NULL;
		snprintf(text, sizeof(text),
		         "{\"id\":\"%s\",\"partner\":\"%s\",\"partner_name\":\"X\","
		         "\"relationship\":\"%s\",\"status\":\"%s\",\"valid_from\":\"%s\","
		         "\"valid_until\":\"%s\",\"purposes\":%s,\"confidentiality\":\"c\"%s}",
		         CONTRACTS[i][0], CONTRACTS[i][1], CONTRACTS[i][2], CONTRACTS[i][3],
		         CONTRACTS[i][4], CONTRACTS[i][5], CONTRACTS[i][6], CONTRACTS[i][7]);
		v[i] = contract_parse(cat, CONTRACTS[i][0], text, strlen(text), &errors);
		CHECK(v[i] != NULL, "contract %s: %s", CONTRACTS[i][0], errors ? errors : "");
		free(errors);
		if (v[i] == NULL) {
			for (size_t k = 0; k < i; k++)
				contract_free(v[k]);
			free(v);
			return NULL;
		}
	}
	char *errors = NULL;
	struct contract_set *s = contract_set_new(v, NCONTRACTS, &errors);
	CHECK(s != NULL, "set: %s", errors ? errors : "");
	free(errors);
	return s;
}

static time_t
at(int y, int m, int d, int hh, int mm, int ss)
{
	return (time_t)(cal_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss);
}

static void
choose(const struct contract_set *s, time_t now)
{
	static const struct {
		const char *partner, *named, *purpose;
		enum apierr want;
		const char *chosen; /* NULL: none */
	} cases[] = {
	    {"nobody", NULL, "marketing", APIERR_PARTNER_UNKNOWN, NULL},
	    {"nobody", "CT-2026-0201", NULL, APIERR_PARTNER_UNKNOWN, NULL},
	    {"alpha", "CT-2026-0201", "marketing", APIERR_NONE, "CT-2026-0201"},
	    {"alpha", "CT-2026-0202", NULL, APIERR_NONE, "CT-2026-0202"},
	    {"alpha", "CT-2026-0203", "consented", APIERR_CONTRACT_INACTIVE, NULL},
	    {"alpha", "CT-2026-9999", "marketing", APIERR_CONTRACT_INACTIVE, NULL},
	    {"alpha", NULL, "marketing", APIERR_CONTRACT_AMBIGUOUS, NULL},
	    {"alpha", NULL, "contact", APIERR_NONE, "CT-2026-0201"},
	    {"alpha", NULL, "survey", APIERR_NONE, "CT-2026-0202"},
	    {"alpha", NULL, NULL, APIERR_PURPOSE_MISSING, NULL},
	    {"alpha", NULL, "", APIERR_PURPOSE_MISSING, NULL},
	    {"alpha", NULL, "benefits", APIERR_PURPOSE_NOT_PERMITTED, NULL},
	    {"alpha", NULL, "bogus", APIERR_PURPOSE_NOT_PERMITTED, NULL},
	    {"beta", NULL, NULL, APIERR_NONE, "CT-2026-0203"},
	    {"beta", NULL, "statistics", APIERR_NONE, "CT-2026-0203"},
	    {"gamma", NULL, "benefits", APIERR_NONE, "CT-2026-0204"},
	    {"gamma", NULL, NULL, APIERR_NONE, "CT-2026-0204"},
	    {"delta", NULL, "contact", APIERR_CONTRACT_INACTIVE, NULL},
	    {"delta", "CT-2026-0206", "contact", APIERR_NONE, "CT-2026-0206"},
	    {"epsilon", NULL, "statistics", APIERR_NONE, "CT-2026-0207"},
	    {"zeta", NULL, "marketing", APIERR_NONE, "CT-2026-0208"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct contract *c = (const struct contract *)1;
		enum apierr e = policy_choose_contract(s, cases[i].partner, cases[i].named,
		                                       cases[i].purpose, now, &c);
		CHECK(e == cases[i].want, "choose %zu: %s, want %s", i, apierr_code(e),
		      apierr_code(cases[i].want));
		if (cases[i].chosen == NULL)
			CHECK(c == NULL, "choose %zu: none chosen", i);
		else
			CHECK(c != NULL && strcmp(c->id, cases[i].chosen) == 0, "choose %zu: %s", i,
			      c ? c->id : "none");
	}
}

static void
check_contract(const struct contract_set *s, time_t now)
{
	static const struct {
		const char *id;
		long offset; /* seconds added to now */
		enum apierr want;
	} cases[] = {
	    {"CT-2026-0201", 0, APIERR_NONE},
	    {"CT-2026-0204", 0, APIERR_CONTRACT_INACTIVE}, /* terminated */
	    {"CT-2026-0205", 0, APIERR_CONTRACT_INACTIVE}, /* expired */
	    {"CT-2026-0206", 0, APIERR_CONTRACT_INACTIVE}, /* suspended */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct contract *c = contract_set_find(s, cases[i].id);
		CHECK(c && policy_check_contract(c, now + cases[i].offset) == cases[i].want,
		      "check_contract %s", cases[i].id);
	}
	const struct contract *c = contract_set_find(s, "CT-2026-0201");
	CHECK(policy_check_contract(c, at(2026, 3, 31, 14, 59, 59)) == APIERR_CONTRACT_INACTIVE,
	      "a second before 2026-04-01 JST");
	CHECK(policy_check_contract(c, at(2026, 3, 31, 15, 0, 0)) == APIERR_NONE,
	      "2026-04-01 00:00 JST");
	CHECK(policy_check_contract(c, at(2027, 3, 31, 14, 59, 59)) == APIERR_NONE,
	      "2027-03-31 23:59:59 JST");
	CHECK(policy_check_contract(c, at(2027, 3, 31, 15, 0, 0)) == APIERR_CONTRACT_INACTIVE,
	      "after valid_until");
}

static void
check_purpose(const struct catalog *cat, const struct contract_set *s)
{
	static char long_ja[512 * 3 + 1], too_long[514];
	for (int i = 0; i < 512; i++)
		memcpy(long_ja + 3 * i, "\xe3\x81\x82", 3); /* あ */
	memset(too_long, 'a', 513);
	static const struct {
		const char *id, *purpose, *justification;
		enum apierr want;
	} cases[] = {
	    {"CT-2026-0201", "marketing", NULL, APIERR_NONE},
	    {"CT-2026-0201", "marketing", "ignored for ordinary purposes", APIERR_NONE},
	    {"CT-2026-0201", NULL, NULL, APIERR_PURPOSE_MISSING},
	    {"CT-2026-0201", "", NULL, APIERR_PURPOSE_MISSING},
	    {"CT-2026-0201", "bogus", NULL, APIERR_PURPOSE_NOT_PERMITTED},
	    {"CT-2026-0201", "Marketing", NULL, APIERR_PURPOSE_NOT_PERMITTED},
	    {"CT-2026-0201", "statistics", NULL, APIERR_PURPOSE_NOT_PERMITTED},
	    {"CT-2026-0201", "protect_life", "a fire", APIERR_PURPOSE_NOT_PERMITTED},
	    {"CT-2026-0201", "legal_obligation", NULL, APIERR_JUSTIFICATION_REQUIRED},
	    {"CT-2026-0201", "legal_obligation", "", APIERR_JUSTIFICATION_REQUIRED},
	    {"CT-2026-0201", "legal_obligation", "税務署からの照会（第123号）への回答",
	     APIERR_NONE},
	    {"CT-2026-0201", "legal_obligation", long_ja, APIERR_NONE},
	    {"CT-2026-0201", "legal_obligation", too_long, APIERR_JUSTIFICATION_REQUIRED},
	    {"CT-2026-0201", "legal_obligation", "line\nbreak", APIERR_JUSTIFICATION_REQUIRED},
	    {"CT-2026-0201", "legal_obligation", "bad \xff byte", APIERR_JUSTIFICATION_REQUIRED},
	    {"CT-2026-0201", "legal_obligation", "c1 \xc2\x85", APIERR_JUSTIFICATION_REQUIRED},
	    {"CT-2026-0201", "legal_obligation", "overlong \xc0\xaf",
	     APIERR_JUSTIFICATION_REQUIRED},
	    /* the free-text rule (test_text.c has one row per rule) */
	    {"CT-2026-0201", "legal_obligation", "csi \xc2\x9b", APIERR_JUSTIFICATION_REQUIRED},
	    {"CT-2026-0201", "legal_obligation", "\xe3\x80\x80\xe3\x80\x80",
	     APIERR_JUSTIFICATION_REQUIRED},
	    {"CT-2026-0201", "legal_obligation", "rlo \xe2\x80\xae", APIERR_JUSTIFICATION_REQUIRED},
	    {"CT-2026-0201", "legal_obligation", "照会\xe3\x80\x80第1号", APIERR_NONE},
	    {"CT-2026-0203", "consented", NULL, APIERR_NONE},
	    {"CT-2026-0203", "legal_obligation", "court order 2026-17", APIERR_NONE},
	    {"CT-2026-0207", "statistics", NULL, APIERR_NONE},
	    {"CT-2026-0207", "my_number_affairs", NULL, APIERR_NONE},
	    {"CT-2026-0208", "survey", NULL, APIERR_NONE},
	    {"CT-2026-0208", "marketing", NULL, APIERR_PURPOSE_NOT_PERMITTED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct contract *c = contract_set_find(s, cases[i].id);
		const struct contract_purpose *p = (const void *)1;
		const char *why = NULL;
		enum apierr e = policy_check_purpose(cat, c, cases[i].purpose,
		                                     cases[i].justification, &p, &why);
		CHECK(e == cases[i].want, "purpose %zu (%s): %s, want %s", i,
		      cases[i].purpose ? cases[i].purpose : "NULL", apierr_code(e),
		      apierr_code(cases[i].want));
		if (e == APIERR_NONE)
			CHECK(p && strcmp(p->id, cases[i].purpose) == 0 && why == NULL,
			      "purpose %zu: entry", i);
		else
			CHECK(p == NULL && why != NULL, "purpose %zu: no entry, a reason", i);
	}
}

static void
members(const struct contract_set *s)
{
	static const struct {
		const char *id, *purpose, *record;
		enum apierr want;
	} cases[] = {
	    /* entrustment, ordinary purposes */
	    {"CT-2026-0201", "marketing", "{}", APIERR_NONE},
	    {"CT-2026-0201", "marketing", "{\"restrictions\":{\"stop_use\":true}}",
	     APIERR_MEMBER_RESTRICTED},
	    {"CT-2026-0201", "marketing", "{\"restrictions\":{\"stop_use\":false}}", APIERR_NONE},
	    {"CT-2026-0201", "marketing", "{\"consents\":{\"marketing\":false}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0201", "marketing", "{\"consents\":{\"marketing\":true}}", APIERR_NONE},
	    {"CT-2026-0201", "contact", "{\"consents\":{\"marketing\":false}}", APIERR_NONE},
	    {"CT-2026-0201", "marketing", "{\"restrictions\":{\"stop_third_party\":true}}",
	     APIERR_NONE},
	    {"CT-2026-0202", "survey", "{\"consents\":{\"survey\":false}}", APIERR_CONSENT_MISSING},
	    {"CT-2026-0202", "survey", "{\"consents\":{\"marketing\":false}}", APIERR_NONE},
	    /* requires_consent */
	    {"CT-2026-0201", "feedback", "{}", APIERR_CONSENT_MISSING},
	    {"CT-2026-0201", "feedback", "{\"consents\":{\"feedback\":true}}", APIERR_NONE},
	    {"CT-2026-0201", "feedback", "{\"consents\":{\"consented\":[\"CT-2026-0201\"]}}",
	     APIERR_NONE},
	    {"CT-2026-0201", "feedback", "{\"consents\":{\"consented\":[\"CT-2026-0202\"]}}",
	     APIERR_CONSENT_MISSING},
	    /* exception purposes pass over every member rule */
	    {"CT-2026-0201", "legal_obligation",
	     "{\"restrictions\":{\"stop_use\":true},\"consents\":{\"marketing\":false}}",
	     APIERR_NONE},
	    {"CT-2026-0203", "legal_obligation", "{\"restrictions\":{\"stop_third_party\":true}}",
	     APIERR_NONE},
	    /* third party */
	    {"CT-2026-0203", "consented", "{}", APIERR_CONSENT_MISSING},
	    {"CT-2026-0203", "consented", "{\"consents\":{\"third_party_provision\":true}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0203", "consented",
	     "{\"consents\":{\"third_party_provision\":true,\"consented\":[\"CT-2026-0203\"]}}",
	     APIERR_NONE},
	    {"CT-2026-0203", "consented",
	     "{\"consents\":{\"third_party_provision\":false,\"consented\":[\"CT-2026-0203\"]}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0203", "consented",
	     "{\"consents\":{\"third_party_provision\":true,\"consented\":[\"CT-2026-0005\"]}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0203", "consented",
	     "{\"consents\":{\"third_party_provision\":true,\"consented\":[\"CT-2026-0203\"]},"
	     "\"restrictions\":{\"stop_third_party\":true}}",
	     APIERR_MEMBER_RESTRICTED},
	    {"CT-2026-0203", "consented",
	     "{\"consents\":{\"third_party_provision\":true,\"consented\":[\"CT-2026-0203\"]},"
	     "\"restrictions\":{\"stop_use\":true}}",
	     APIERR_MEMBER_RESTRICTED},
	    {"CT-2026-0203", "marketing",
	     "{\"consents\":{\"third_party_provision\":true,\"marketing\":true}}", APIERR_NONE},
	    {"CT-2026-0203", "marketing", "{\"consents\":{\"third_party_provision\":true}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0203", "marketing", "{\"consents\":{\"marketing\":true}}",
	     APIERR_CONSENT_MISSING},
	    /* joint use */
	    {"CT-2026-0208", "survey", "{}", APIERR_NONE},
	    {"CT-2026-0208", "survey", "{\"consents\":{\"survey\":false}}", APIERR_CONSENT_MISSING},
	    {"CT-2026-0208", "benefits", "{\"restrictions\":{\"stop_use\":true}}",
	     APIERR_MEMBER_RESTRICTED},
	    {"CT-2026-0208", "benefits", "{\"restrictions\":{\"stop_third_party\":true}}",
	     APIERR_NONE},
	    /* statistical and my number kinds follow the ordinary rules */
	    {"CT-2026-0207", "statistics", "{\"restrictions\":{\"stop_use\":true}}",
	     APIERR_MEMBER_RESTRICTED},
	    {"CT-2026-0207", "statistics", "{\"consents\":{\"statistics\":false}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0207", "my_number_affairs", "{}", APIERR_NONE},
	    {"CT-2026-0207", "my_number_affairs", "{\"restrictions\":{\"stop_use\":true}}",
	     APIERR_MEMBER_RESTRICTED},
	    /* a third party abroad: the consent to provision abroad besides the third-party one */
	    {"CT-2026-0209", "service_delivery", "{\"consents\":{\"third_party_provision\":true}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0209", "service_delivery",
	     "{\"consents\":{\"third_party_provision\":true,\"foreign_provision\":true}}",
	     APIERR_NONE},
	    {"CT-2026-0209", "service_delivery",
	     "{\"consents\":{\"third_party_provision\":true,\"foreign_provision\":false}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0209", "service_delivery",
	     "{\"consents\":{\"third_party_provision\":true,\"foreign_provision\":\"true\"}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0209", "service_delivery", "{\"consents\":{\"foreign_provision\":true}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0209", "service_delivery",
	     "{\"consents\":{\"third_party_provision\":false,\"foreign_provision\":true}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0209", "service_delivery",
	     "{\"consents\":{\"third_party_provision\":true,\"foreign_provision\":true},"
	     "\"restrictions\":{\"stop_third_party\":true}}",
	     APIERR_MEMBER_RESTRICTED},
	    {"CT-2026-0209", "service_delivery",
	     "{\"consents\":{\"third_party_provision\":true,\"foreign_provision\":true},"
	     "\"restrictions\":{\"stop_use\":true}}",
	     APIERR_MEMBER_RESTRICTED},
	    {"CT-2026-0209", "consented",
	     "{\"consents\":{\"third_party_provision\":true,\"foreign_provision\":true}}",
	     APIERR_CONSENT_MISSING},
	    {"CT-2026-0209", "consented",
	     "{\"consents\":{\"third_party_provision\":true,\"foreign_provision\":true,"
	     "\"consented\":[\"CT-2026-0209\"]}}",
	     APIERR_NONE},
	    {"CT-2026-0209", "consented",
	     "{\"consents\":{\"third_party_provision\":true,\"consented\":[\"CT-2026-0209\"]}}",
	     APIERR_CONSENT_MISSING},
	    /* Art. 28(1) spares the cases of Art. 27(1): an exception purpose still passes */
	    {"CT-2026-0209", "legal_obligation", "{}", APIERR_NONE},
	    /* in Japan the consent to provision abroad is not asked for, nor looked at */
	    {"CT-2026-0203", "consented",
	     "{\"consents\":{\"third_party_provision\":true,\"foreign_provision\":false,"
	     "\"consented\":[\"CT-2026-0203\"]}}",
	     APIERR_NONE},
	    /* an entrustee or joint user abroad keeps the safeguards: no consent of the member */
	    {"CT-2026-0210", "contact", "{}", APIERR_NONE},
	    {"CT-2026-0210", "contact", "{\"consents\":{\"foreign_provision\":false}}",
	     APIERR_NONE},
	    {"CT-2026-0210", "contact", "{\"restrictions\":{\"stop_use\":true}}",
	     APIERR_MEMBER_RESTRICTED},
	    {"CT-2026-0211", "benefits", "{\"consents\":{\"foreign_provision\":false}}",
	     APIERR_NONE},
	    /* no record: never a pass */
	    {"CT-2026-0201", "marketing", "[]", APIERR_INTERNAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct contract *c = contract_set_find(s, cases[i].id);
		const struct contract_purpose *p = c ? contract_purpose(c, cases[i].purpose) : NULL;
		json_t *rec = json_loads(cases[i].record, 0, NULL);
		const char *why = NULL;
		CHECK(p != NULL && rec != NULL, "member %zu: setup", i);
		if (p == NULL || rec == NULL) {
			json_decref(rec);
			continue;
		}
		enum apierr e = policy_check_member(c, p, rec, &why);
		CHECK(e == cases[i].want, "member %zu (%s %s %s): %s, want %s", i, cases[i].id,
		      cases[i].purpose, cases[i].record, apierr_code(e),
		      apierr_code(cases[i].want));
		CHECK((e == APIERR_NONE) == (why == NULL), "member %zu: reason iff refused", i);
		json_decref(rec);
	}
}

/* The restriction bits that matter, and that two sets equal under them decide alike. */
static void
restriction_masks(const struct contract_set *s)
{
	static const struct {
		const char *id, *purpose;
		unsigned want;
	} cases[] = {
	    {"CT-2026-0201", "marketing", POLICY_RESTRICT_STOP_USE},
	    {"CT-2026-0203", "consented",
	     POLICY_RESTRICT_STOP_USE | POLICY_RESTRICT_STOP_THIRD_PARTY},
	    {"CT-2026-0201", "legal_obligation", 0},
	    {"CT-2026-0203", "legal_obligation", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct contract *c = contract_set_find(s, cases[i].id);
		const struct contract_purpose *p = c ? contract_purpose(c, cases[i].purpose) : NULL;
		CHECK(p != NULL, "mask %zu: setup", i);
		if (p == NULL)
			continue;
		unsigned m = policy_restrictions_mask(c, p);
		CHECK(m == cases[i].want, "mask %zu (%s %s): %u, want %u", i, cases[i].id,
		      cases[i].purpose, m, cases[i].want);
		for (unsigned a = 0; a < 4; a++)
			for (unsigned b = 0; b < 4; b++)
				if ((a & m) == (b & m))
					CHECK(policy_check_restrictions(c, p, a, NULL) ==
					          policy_check_restrictions(c, p, b, NULL),
					      "mask %zu: bits %u and %u decide alike", i, a, b);
	}
}

static void
basis(const struct contract_set *s)
{
	static const struct {
		const char *id, *purpose, *want;
	} cases[] = {
	    {"CT-2026-0201", "marketing", "entrustment"},
	    {"CT-2026-0201", "legal_obligation", "exception:legal_obligation"},
	    {"CT-2026-0208", "survey", "joint_use"},
	    {"CT-2026-0203", "consented", "consent"},
	    {"CT-2026-0203", "marketing", "consent"},
	    {"CT-2026-0203", "legal_obligation", "exception:legal_obligation"},
	    {"CT-2026-0207", "my_number_affairs", "entrustment"},
	    {"CT-2026-0209", "service_delivery", "consent"},
	    {"CT-2026-0209", "legal_obligation", "exception:legal_obligation"},
	    {"CT-2026-0210", "contact", "entrustment"},
	    {"CT-2026-0211", "benefits", "joint_use"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[POLICY_BASIS_MAX];
		const struct contract *c = contract_set_find(s, cases[i].id);
		const struct contract_purpose *p = contract_purpose(c, cases[i].purpose);
		const char *b = policy_basis(c, p, buf, sizeof(buf));
		CHECK(strcmp(b, cases[i].want) == 0, "basis %zu: %s", i, b);
	}
}

static void
hard_rules(const struct catalog *cat)
{
	static const struct {
		const char *field, *purpose;
		enum contract_relationship rel;
		bool permitted;
		enum contract_transform t;
		bool allowed;
	} cases[] = {
	    {"consents.marketing", "marketing", CONTRACT_ENTRUSTMENT, true, CONTRACT_TF_NONE,
	     false},
	    {"restrictions.stop_use", "legal_obligation", CONTRACT_ENTRUSTMENT, true,
	     CONTRACT_TF_NONE, false},
	    {"consents.consented", "my_number_affairs", CONTRACT_ENTRUSTMENT, true,
	     CONTRACT_TF_NONE, false},
	    {"my_number", "my_number_affairs", CONTRACT_ENTRUSTMENT, true, CONTRACT_TF_NONE, true},
	    {"my_number", "my_number_affairs", CONTRACT_ENTRUSTMENT, true, CONTRACT_TF_MASK, true},
	    {"my_number", "my_number_affairs", CONTRACT_ENTRUSTMENT, false, CONTRACT_TF_NONE,
	     false},
	    {"my_number", "my_number_affairs", CONTRACT_JOINT_USE, true, CONTRACT_TF_NONE, false},
	    {"my_number", "my_number_affairs", CONTRACT_THIRD_PARTY, true, CONTRACT_TF_NONE, false},
	    {"my_number", "marketing", CONTRACT_ENTRUSTMENT, true, CONTRACT_TF_NONE, false},
	    {"my_number", "legal_obligation", CONTRACT_ENTRUSTMENT, true, CONTRACT_TF_NONE, false},
	    {"my_number", "statistics", CONTRACT_ENTRUSTMENT, true, CONTRACT_TF_PSEUDONYM, false},
	    {"member_id", "statistics", CONTRACT_ENTRUSTMENT, false, CONTRACT_TF_NONE, false},
	    {"member_id", "statistics", CONTRACT_ENTRUSTMENT, false, CONTRACT_TF_MASK, false},
	    {"member_id", "statistics", CONTRACT_ENTRUSTMENT, false, CONTRACT_TF_PSEUDONYM, true},
	    {"certifications[].number", "statistics", CONTRACT_JOINT_USE, false, CONTRACT_TF_NONE,
	     false},
	    {"name.family", "statistics", CONTRACT_ENTRUSTMENT, false, CONTRACT_TF_PSEUDONYM,
	     false},
	    {"phone", "statistics", CONTRACT_ENTRUSTMENT, false, CONTRACT_TF_MASK, false},
	    {"address.postal_code", "statistics", CONTRACT_ENTRUSTMENT, false, CONTRACT_TF_PREFIX,
	     false},
	    {"photo.url", "statistics", CONTRACT_ENTRUSTMENT, false, CONTRACT_TF_NONE, false},
	    {"address.prefecture", "statistics", CONTRACT_ENTRUSTMENT, false, CONTRACT_TF_NONE,
	     true},
	    {"birth_date", "statistics", CONTRACT_ENTRUSTMENT, false, CONTRACT_TF_AGE_BAND, true},
	    {"courses[].code", "statistics", CONTRACT_THIRD_PARTY, false, CONTRACT_TF_NONE, true},
	    {"member_id", "marketing", CONTRACT_THIRD_PARTY, false, CONTRACT_TF_NONE, true},
	    {"photo.url", "service_delivery", CONTRACT_ENTRUSTMENT, false, CONTRACT_TF_NONE, true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct catalog_field *f = catalog_field(cat, cases[i].field);
		const struct catalog_purpose *p = catalog_purpose(cat, cases[i].purpose);
		CHECK(f && p, "hard rule %zu: setup", i);
		if (!f || !p)
			continue;
		const char *m =
		    policy_hard_rule(f, p, cases[i].rel, cases[i].permitted, cases[i].t);
		CHECK((m == NULL) == cases[i].allowed, "hard rule %zu (%s for %s): %s", i,
		      cases[i].field, cases[i].purpose, m ? m : "allowed");
	}
}

int
main(void)
{
	struct catalog *cat = fixture_catalog();
	if (cat == NULL)
		return check_done();
	struct contract_set *s = make_set(cat);
	if (s != NULL) {
		time_t now = at(2026, 11, 28, 0, 0, 0);
		choose(s, now);
		check_contract(s, now);
		check_purpose(cat, s);
		members(s);
		restriction_masks(s);
		basis(s);
	}
	hard_rules(cat);
	contract_set_free(s);
	catalog_free(cat);
	return check_done();
}
