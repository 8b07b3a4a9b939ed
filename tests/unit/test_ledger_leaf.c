/* test_ledger_leaf — the leaf on tables: entries encoded and parsed back, the one spelling of a
 * leaf, every malformed entry and leaf refused, the bounds of a leaf. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ledger_leaf.h"

#define T0 INT64_C(1775001600250) /* 2026-04-01T00:00:00.250Z */

static struct ledger_leaf parsed;

static const char *const page_items[] = {"name.family", "name.given", "email", "phone:mask:4"};
static const char *const no_items[] = {NULL};
static const struct ledger_admin resume = {
    "partner_resume", "officer2", "確認済み", "tokei-lab", NULL, NULL, 0};
static const struct ledger_admin stop = {"gateway_stop", NULL, NULL, NULL, NULL, NULL, 0};
static const struct ledger_admin start = {"gateway_start", NULL, NULL, NULL, "0.9.0", NULL, 0};
static const struct ledger_detail request_detail[] = {
    {"outcome", "refused"}, {"request_id", "RQ-2026-000001"}, {"type", "stop_use"}};
static const struct ledger_admin closed = {
    "subject_request_close", "officer2", "本人確認不可", NULL, NULL, request_detail, 3};

/* Entries the encoder takes; each comes back from the parser as it went in. */
static const struct {
	const char *name;
	struct ledger_entry e;
} good[] = {
    {"a member of a page",
     {.kind = LEDGER_RELEASE,
      .request = "6a1f0c9b2e4d7a8c3b5e1f20",
      .partner = "tokei-lab",
      .contract = "CT-2026-0004",
      .relationship = "third_party",
      .purpose = "statistics",
      .subject = "5f2b9c0d1e3a4b6c",
      .items = page_items,
      .n_items = 4,
      .basis = "consent",
      .digest = "9f86d081",
      .cert = "3f1c0d1e",
      .token = "wo-2026-0001"}},
    {"an exception, justified",
     {.kind = LEDGER_RELEASE,
      .partner = "shiken-proctor",
      .purpose = "legal_obligation",
      .basis = "exception:legal_obligation",
      .items = page_items,
      .n_items = 1,
      .justification = "裁判所の命令（令和8年第3号）"}},
    {"a refusal at step 6",
     {.kind = LEDGER_DENY,
      .request = "r6",
      .partner = "tokei-lab",
      .contract = "CT-2026-0004",
      .reason = "contract_expired"}},
    {"released nothing", {.kind = LEDGER_RELEASE, .items = no_items, .n_items = 0}},
    {"every escape, DEL, slash and raw UTF-8",
     {.kind = LEDGER_DENY, .reason = "\\\"\t\n\r\b\f\x02\x1e\x7f//ü\xe2\x80\xa9🀄"}},
    {"an officer's act", {.kind = LEDGER_ADMIN, .token = "staff-7", .admin = &resume}},
    {"the gateway stopping", {.kind = LEDGER_ADMIN, .admin = &stop}},
    {"the gateway starting, with its version", {.kind = LEDGER_ADMIN, .admin = &start}},
    {"a member's request closed, with its detail",
     {.kind = LEDGER_ADMIN, .subject = "9f86d081", .admin = &closed}},
    {"empty strings, not null", {.kind = LEDGER_DENY, .request = "", .subject = "", .cert = ""}},
    {"a release to a third party abroad",
     {.kind = LEDGER_RELEASE,
      .partner = "imd-registry",
      .contract = "CT-2026-0007",
      .relationship = "third_party",
      .purpose = "service_delivery",
      .subject = "5f2b9c0d1e3a4b6c",
      .items = page_items,
      .n_items = 2,
      .basis = "consent",
      .digest = "9f86d081",
      .cert = "3f1c0d1e",
      .token = "wo-2026-0007",
      .country = "SG"}},
    {"a refusal abroad",
     {.kind = LEDGER_DENY,
      .partner = "imd-registry",
      .reason = "consent_missing",
      .country = "US"}},
};

static const char *const one_null[] = {"email", NULL};
static const struct ledger_admin no_action = {NULL, "officer", "r", NULL, NULL, NULL, 0};
static const struct ledger_admin bad_target = {
    "partner_suspend", NULL, NULL, "\xf5\x80\x80\x80", NULL, NULL, 0};
static const struct ledger_admin bad_version = {"gateway_start", NULL, NULL, NULL,
                                                "0.9\xff",       NULL, 0};
static const struct ledger_detail unsorted[] = {{"type", "stop_use"}, {"outcome", "completed"}};
static const struct ledger_detail twice[] = {{"type", "a"}, {"type", "b"}};
static const struct ledger_detail upper_key[] = {{"Type", "stop_use"}};
static const struct ledger_detail digit_first[] = {{"1type", "stop_use"}};
static const struct ledger_detail null_value[] = {{"type", NULL}};
static const struct ledger_detail bad_value[] = {{"type", "stop\xff"}};
static const struct ledger_detail long_key[] = {{"abcdefghijklmnopqrstuvwxyzabcdefg", "x"}};
static const struct ledger_admin detail_unsorted = {"x", NULL, NULL, NULL, NULL, unsorted, 2};
static const struct ledger_admin detail_twice = {"x", NULL, NULL, NULL, NULL, twice, 2};
static const struct ledger_admin detail_upper = {"x", NULL, NULL, NULL, NULL, upper_key, 1};
static const struct ledger_admin detail_digit = {"x", NULL, NULL, NULL, NULL, digit_first, 1};
static const struct ledger_admin detail_null = {"x", NULL, NULL, NULL, NULL, null_value, 1};
static const struct ledger_admin detail_utf8 = {"x", NULL, NULL, NULL, NULL, bad_value, 1};
static const struct ledger_admin detail_long = {"x", NULL, NULL, NULL, NULL, long_key, 1};
static const struct ledger_admin detail_missing = {"x", NULL, NULL, NULL, NULL, NULL, 1};
static const struct ledger_admin detail_many = {
    "x", NULL, NULL, NULL, NULL, request_detail, LEDGER_MAX_DETAIL + 1};

/* Entries the encoder refuses, whatever member holds the defect. */
static const struct {
	const char *name;
	struct ledger_entry e;
} bad_entries[] = {
    {"a byte that is never UTF-8", {.kind = LEDGER_RELEASE, .justification = "ok\xfe"}},
    {"an overlong slash", {.kind = LEDGER_RELEASE, .request = "\xc0\xaf"}},
    {"an overlong NUL", {.kind = LEDGER_DENY, .subject = "\xe0\x80\x80"}},
    {"a surrogate half", {.kind = LEDGER_DENY, .token = "\xed\xbf\xbf"}},
    {"past U+10FFFF", {.kind = LEDGER_DENY, .digest = "\xf4\x90\x80\x80"}},
    {"a sequence cut short", {.kind = LEDGER_DENY, .basis = "\xf0\x9f\x98"}},
    {"a lone continuation byte in an item",
     {.kind = LEDGER_RELEASE,
      .items = (const char *const[]){"a\xbf"
                                     "b"},
      .n_items = 1}},
    {"not UTF-8 in the admin member", {.kind = LEDGER_ADMIN, .admin = &bad_target}},
    {"not UTF-8 in the version", {.kind = LEDGER_ADMIN, .admin = &bad_version}},
    {"an admin entry without its admin member", {.kind = LEDGER_ADMIN, .request = "r"}},
    {"an admin member on a refusal", {.kind = LEDGER_DENY, .admin = &stop}},
    {"an act without an action", {.kind = LEDGER_ADMIN, .admin = &no_action}},
    {"detail keys out of order", {.kind = LEDGER_ADMIN, .admin = &detail_unsorted}},
    {"a detail key twice", {.kind = LEDGER_ADMIN, .admin = &detail_twice}},
    {"a detail key in upper case", {.kind = LEDGER_ADMIN, .admin = &detail_upper}},
    {"a detail key starting with a digit", {.kind = LEDGER_ADMIN, .admin = &detail_digit}},
    {"a detail key of 33 letters", {.kind = LEDGER_ADMIN, .admin = &detail_long}},
    {"a detail value NULL", {.kind = LEDGER_ADMIN, .admin = &detail_null}},
    {"a detail value not UTF-8", {.kind = LEDGER_ADMIN, .admin = &detail_utf8}},
    {"detail pairs counted but missing", {.kind = LEDGER_ADMIN, .admin = &detail_missing}},
    {"more detail pairs than LEDGER_MAX_DETAIL", {.kind = LEDGER_ADMIN, .admin = &detail_many}},
    {"a NULL among the items", {.kind = LEDGER_RELEASE, .items = one_null, .n_items = 2}},
    {"a count of items and no items", {.kind = LEDGER_DENY, .n_items = 3}},
    {"more than LEDGER_MAX_ITEMS items",
     {.kind = LEDGER_RELEASE, .items = page_items, .n_items = LEDGER_MAX_ITEMS + 1}},
    {"a kind past admin", {.kind = (enum ledger_kind)(LEDGER_ADMIN + 1)}},
    {"Japan as a country: the member is absent then", {.kind = LEDGER_RELEASE, .country = "JP"}},
    {"a country in lower case", {.kind = LEDGER_RELEASE, .country = "sg"}},
    {"a country of one letter", {.kind = LEDGER_DENY, .country = "S"}},
    {"a country of three letters", {.kind = LEDGER_DENY, .country = "SGP"}},
    {"an empty country", {.kind = LEDGER_DENY, .country = ""}},
    {"a country not ASCII", {.kind = LEDGER_DENY, .country = "S\xc3\x9c"}},
    {"a country on an admin entry", {.kind = LEDGER_ADMIN, .admin = &stop, .country = "SG"}},
};

/* The leaf of e at index and time, or NULL (caller frees). */
static char *
encode(const struct ledger_entry *e, uint64_t index, int64_t ms, size_t *len)
{
	struct buf tail = {0}, leaf = {0};
	char time[LEDGER_TIME_LEN + 1];
	char *out = NULL;

	ledger_leaf_time(ms, time);
	if (ledger_leaf_tail(e, &tail) == 0 && ledger_leaf_join(&leaf, index, time, &tail) == 0) {
		out = leaf.data;
		*len = leaf.len;
		leaf.data = NULL;
	}
	buf_free(&tail);
	buf_free(&leaf);
	return out;
}

static int
same_str(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static int
same_detail(const struct ledger_admin *a, const struct ledger_admin *b)
{
	if (a->n_detail != b->n_detail)
		return 0;
	for (size_t i = 0; i < a->n_detail; i++)
		if (!same_str(a->detail[i].key, b->detail[i].key) ||
		    !same_str(a->detail[i].value, b->detail[i].value))
			return 0;
	return 1;
}

/* The members of two entries agree (NULL and "" differ, as null and "" do). */
static int
same_entry(const struct ledger_entry *a, const struct ledger_entry *b)
{
	if (a->kind != b->kind || !same_str(a->request, b->request) ||
	    !same_str(a->partner, b->partner) || !same_str(a->contract, b->contract) ||
	    !same_str(a->relationship, b->relationship) || !same_str(a->purpose, b->purpose) ||
	    !same_str(a->subject, b->subject) || !same_str(a->basis, b->basis) ||
	    !same_str(a->reason, b->reason) || !same_str(a->digest, b->digest) ||
	    !same_str(a->cert, b->cert) || !same_str(a->token, b->token) ||
	    !same_str(a->justification, b->justification) || !same_str(a->country, b->country) ||
	    (a->items == NULL) != (b->items == NULL) || a->n_items != b->n_items ||
	    (a->admin == NULL) != (b->admin == NULL))
		return 0;
	for (size_t i = 0; i < a->n_items; i++)
		if (!same_str(a->items[i], b->items[i]))
			return 0;
	return a->admin == NULL ||
	       (same_str(a->admin->action, b->admin->action) &&
	        same_str(a->admin->staff, b->admin->staff) &&
	        same_str(a->admin->reason, b->admin->reason) &&
	        same_str(a->admin->target, b->admin->target) &&
	        same_str(a->admin->version, b->admin->version) && same_detail(a->admin, b->admin));
}

/* Parses a private copy of exactly len bytes, so that ASan sees a read past the end. */
static int
parse_exact(const char *text, size_t len)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, text, len);
	rc = ledger_leaf_parse(copy, len, &parsed);
	free(copy);
	return rc;
}

static void
test_round_trip(void)
{
	static const uint64_t indexes[] = {0, 7, 1000000, INT64_MAX};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		for (size_t k = 0; k < sizeof(indexes) / sizeof(indexes[0]); k++) {
			size_t len = 0, len2 = 0;
			char *leaf = encode(&good[i].e, indexes[k], T0 + (int64_t)k, &len);
			CHECK(leaf != NULL, "%s: encoded", good[i].name);
			if (leaf == NULL)
				continue;
			CHECK(strlen(leaf) == len && len <= LEDGER_MAX_LEAF, "%s: length",
			      good[i].name);
			CHECK(parse_exact(leaf, len) == 0, "%s at %" PRIu64 ": parsed: %s",
			      good[i].name, indexes[k], leaf);
			CHECK(parsed.index == indexes[k] && parsed.time_ms == T0 + (int64_t)k &&
			          parsed.raw_len == len,
			      "%s: index, time", good[i].name);
			CHECK(same_entry(&parsed.e, &good[i].e), "%s: the entry back",
			      good[i].name);
			/* and the parsed entry encodes to the same bytes: one spelling */
			char *again = encode(&parsed.e, parsed.index, parsed.time_ms, &len2);
			CHECK(again && len2 == len && memcmp(again, leaf, len) == 0,
			      "%s: encoded again", good[i].name);
			free(again);
			free(leaf);
		}
	}
	char t[LEDGER_TIME_LEN + 1];
	ledger_leaf_time(T0, t);
	CHECK(strcmp(t, "2026-04-01T00:00:00.250Z") == 0, "time %s", t);
	ledger_leaf_time(0, t);
	CHECK(strcmp(t, "1970-01-01T00:00:00.000Z") == 0, "epoch %s", t);
	CHECK(strcmp(ledger_kind_name(LEDGER_ADMIN), "admin") == 0, "kind name");
}

static void
test_bad_entries(void)
{
	for (size_t i = 0; i < sizeof(bad_entries) / sizeof(bad_entries[0]); i++) {
		struct buf tail = {0};
		CHECK(ledger_leaf_tail(&bad_entries[i].e, &tail) == -1 && !tail.bad, "%s refused",
		      bad_entries[i].name);
		buf_free(&tail);
	}
}

/* The leaf of good[0] (every member set) with one member's text replaced. */
static char *
with(const char *from, const char *to)
{
	size_t len;
	char *leaf = encode(&good[0].e, 3, T0, &len), *at = leaf ? strstr(leaf, from) : NULL;
	char *out;

	if (at == NULL) {
		free(leaf);
		return NULL;
	}
	out = malloc(len - strlen(from) + strlen(to) + 1);
	sprintf(out, "%.*s%s%s", (int)(at - leaf), leaf, to, at + strlen(from));
	free(leaf);
	return out;
}

/* Leaves the parser refuses: one defect each in an otherwise canonical release leaf. */
static const struct {
	const char *name, *from, *to;
} bad_leaves[] = {
    {"no version", "{\"v\":1,", "{"},
    {"version 2", "\"v\":1", "\"v\":2"},
    {"index with a leading zero", "\"index\":3", "\"index\":03"},
    {"negative index", "\"index\":3", "\"index\":-1"},
    {"index past INT64_MAX", "\"index\":3", "\"index\":9223372036854775808"},
    {"index with an exponent", "\"index\":3", "\"index\":3e0"},
    {"time not a time", "2026-04-01T00:00:00.250Z", "yesterday"},
    {"time on a day that is not", "2026-04-01T00", "2026-02-30T00"},
    {"time at hour 24", "T00:00:00.250Z", "T24:00:00.250Z"},
    {"time before 1970", "2026-04-01T00:00:00.250Z", "1969-12-31T23:59:59.999Z"},
    {"time in lower case", "00.250Z", "00.250z"},
    {"time without milliseconds", "00:00:00.250Z", "00:00:00Z"},
    {"unknown kind", "\"kind\":\"release\"", "\"kind\":\"leak\""},
    {"kind null", "\"kind\":\"release\"", "\"kind\":null"},
    {"kind escaped", "\"kind\":\"release\"", "\"kind\":\"rel\\u0065ase\""},
    {"request a number", "\"request\":\"6a1f0c9b2e4d7a8c3b5e1f20\"", "\"request\":1"},
    {"items of a number", "[\"name.family\",\"name.given\",\"email\",\"phone:mask:4\"]", "[1]"},
    {"items with a trailing comma", "\"phone:mask:4\"]", "\"phone:mask:4\",]"},
    {"items an object", "[\"name.family\",\"name.given\",\"email\",\"phone:mask:4\"]", "{}"},
    {"Null", "\"reason\":null", "\"reason\":Null"},
    {"members in another order", "\"partner\":\"tokei-lab\",\"contract\":\"CT-2026-0004\"",
     "\"contract\":\"CT-2026-0004\",\"partner\":\"tokei-lab\""},
    {"a member missing", ",\"cert\":\"3f1c0d1e\"", ""},
    {"a member more", "\"justification\":null}", "\"justification\":null,\"x\":1}"},
    {"a space", "\"kind\":\"release\"", "\"kind\": \"release\""},
    {"an admin member on a release", "\"justification\":null}",
     "\"justification\":null,\"admin\":{\"action\":\"x\",\"staff\":null,\"reason\":null,"
     "\"target\":null}}"},
    {"admin kind without the admin member", "\"kind\":\"release\"", "\"kind\":\"admin\""},
    {"a short escape for a printable", "tokei-lab", "t\\u006Fkei-lab"},
    {"an escaped slash", "name.family", "name\\/family"},
    {"a lower-case escape", "\"9f86d081\"", "\"\\u001f\""},
    {"\\u escape for a control with a short one", "\"9f86d081\"", "\"\\u000A\""},
    {"NUL escaped", "\"9f86d081\"", "\"\\u0000\""},
    {"an unknown escape", "\"9f86d081\"", "\"\\x41\""},
    {"a raw control character", "\"9f86d081\"", "\"\x01\""},
    {"a raw newline", "\"9f86d081\"", "\"\n\""},
    {"invalid UTF-8", "\"9f86d081\"", "\"\xff\""},
    {"overlong UTF-8", "\"9f86d081\"", "\"\xc0\xaf\""},
    {"a surrogate", "\"9f86d081\"", "\"\xed\xa0\x80\""},
    {"a truncated sequence at the end of a string", "\"9f86d081\"", "\"\xe5\xb1\""},
    {"an unterminated string", "\"wo-2026-0001\",\"justification\":null}", "\"wo-2026-0001"},
    {"something after the leaf", "\"justification\":null}", "\"justification\":null}\n"},
    {"the closing brace missing", "\"justification\":null}", "\"justification\":null"},
};

static void
test_bad_leaves(void)
{
	size_t len;
	char *leaf = encode(&good[0].e, 3, T0, &len);

	CHECK(leaf && parse_exact(leaf, len) == 0, "the leaf the cases change parses");
	for (size_t i = 0; i < sizeof(bad_leaves) / sizeof(bad_leaves[0]); i++) {
		char *b = with(bad_leaves[i].from, bad_leaves[i].to);
		CHECK(b != NULL, "%s: the case applies", bad_leaves[i].name);
		if (b != NULL)
			CHECK(parse_exact(b, strlen(b)) == -1, "%s refused: %s", bad_leaves[i].name,
			      b);
		free(b);
	}
	/* Every prefix is refused, and none is read past its end. */
	int prefixes = 0;
	for (size_t n = 0; leaf && n < len; n++)
		prefixes += parse_exact(leaf, n) == -1;
	CHECK(leaf && prefixes == (int)len, "%d of %zu prefixes refused", prefixes, len);
	static const char *const junk[] = {"", "[]", "{}", "null", "{\"v\":1}"};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		CHECK(parse_exact(junk[i], strlen(junk[i])) == -1, "'%s' refused", junk[i]);
	free(leaf);
}

/* The version of gateway_start is an optional last member of "admin": the leaves written before
 * it existed parse and encode back as they are (old ledgers still verify), the new ones carry it,
 * and it has one spelling only. */
static const char admin_head[] =
    "{\"v\":1,\"index\":0,\"time\":\"2026-04-01T00:00:00.250Z\",\"request\":null,"
    "\"kind\":\"admin\",\"partner\":null,\"contract\":null,\"relationship\":null,"
    "\"purpose\":null,\"subject\":null,\"items\":null,\"basis\":null,\"reason\":null,"
    "\"digest\":null,\"cert\":null,\"token\":null,\"justification\":null,"
    "\"admin\":{\"action\":\"gateway_start\",";

static const struct {
	const char *name, *admin; /* admin: the rest of the leaf after admin_head */
	int ok;
} admin_leaves[] = {
    {"a start without a version (before 0.9.0)", "\"staff\":null,\"reason\":null,\"target\":null}}",
     1},
    {"a start with its version",
     "\"staff\":null,\"reason\":null,\"target\":null,"
     "\"version\":\"0.9.0\"}}",
     1},
    {"a version that is null",
     "\"staff\":null,\"reason\":null,\"target\":null,"
     "\"version\":null}}",
     0},
    {"a version that is a number",
     "\"staff\":null,\"reason\":null,\"target\":null,"
     "\"version\":9}}",
     0},
    {"the version before the target",
     "\"staff\":null,\"reason\":null,\"version\":\"0.9.0\","
     "\"target\":null}}",
     0},
    {"the version twice",
     "\"staff\":null,\"reason\":null,\"target\":null,"
     "\"version\":\"0.9.0\",\"version\":\"0.9.0\"}}",
     0},
    {"a detail before the version",
     "\"staff\":null,\"reason\":null,\"target\":null,"
     "\"detail\":{\"k\":\"5\",\"rows\":\"19873\"},\"version\":\"0.9.0\"}}",
     1},
    {"a detail alone", "\"staff\":null,\"reason\":null,\"target\":null,\"detail\":{\"k\":\"5\"}}}",
     1},
    {"a detail after the version",
     "\"staff\":null,\"reason\":null,\"target\":null,"
     "\"version\":\"0.9.0\",\"detail\":{\"k\":\"5\"}}}",
     0},
    {"an empty detail", "\"staff\":null,\"reason\":null,\"target\":null,\"detail\":{}}}", 0},
    {"a detail null", "\"staff\":null,\"reason\":null,\"target\":null,\"detail\":null}}", 0},
    {"detail keys out of order",
     "\"staff\":null,\"reason\":null,\"target\":null,\"detail\":{\"rows\":\"1\",\"k\":\"5\"}}}", 0},
    {"a detail key twice",
     "\"staff\":null,\"reason\":null,\"target\":null,\"detail\":{\"k\":\"5\",\"k\":\"6\"}}}", 0},
    {"a detail value a number",
     "\"staff\":null,\"reason\":null,\"target\":null,\"detail\":{\"k\":5}}}", 0},
    {"a detail value null",
     "\"staff\":null,\"reason\":null,\"target\":null,\"detail\":{\"k\":null}}}", 0},
    {"a detail value an object",
     "\"staff\":null,\"reason\":null,\"target\":null,\"detail\":{\"k\":{}}}}", 0},
    {"a detail key with a space",
     "\"staff\":null,\"reason\":null,\"target\":null,\"detail\":{\"a b\":\"5\"}}}", 0},
    {"a detail with a trailing comma",
     "\"staff\":null,\"reason\":null,\"target\":null,\"detail\":{\"k\":\"5\",}}}", 0},
    {"a version outside admin",
     "\"staff\":null,\"reason\":null,\"target\":null},"
     "\"version\":\"0.9.0\"}",
     0},
};

static void
test_admin_version(void)
{
	for (size_t i = 0; i < sizeof(admin_leaves) / sizeof(admin_leaves[0]); i++) {
		char leaf[1024];
		size_t len2 = 0;
		int n = snprintf(leaf, sizeof(leaf), "%s%s", admin_head, admin_leaves[i].admin);
		int rc = parse_exact(leaf, (size_t)n);

		CHECK(rc == (admin_leaves[i].ok ? 0 : -1), "%s: %s", admin_leaves[i].name,
		      admin_leaves[i].ok ? "parses" : "refused");
		if (rc != 0 || !admin_leaves[i].ok)
			continue;
		char *again = encode(&parsed.e, parsed.index, parsed.time_ms, &len2);
		CHECK(again && len2 == (size_t)n && memcmp(again, leaf, len2) == 0,
		      "%s: encoded back byte for byte", admin_leaves[i].name);
		free(again);
	}
	CHECK(parse_exact(admin_head, strlen(admin_head)) == -1, "the head alone is refused");
}

/* The country is an optional member after justification (SPEC 16.5): a leaf of a recipient in
 * Japan is exactly what it was before the member existed, and the member has one spelling. */
static const char release_head[] =
    "{\"v\":1,\"index\":5,\"time\":\"2026-04-01T00:00:00.250Z\",\"request\":\"r5\","
    "\"kind\":\"release\",\"partner\":\"imd-registry\",\"contract\":\"CT-2026-0007\","
    "\"relationship\":\"third_party\",\"purpose\":\"service_delivery\",\"subject\":\"5f2b\","
    "\"items\":[\"name.family\"],\"basis\":\"consent\",\"reason\":null,\"digest\":\"9f86\","
    "\"cert\":\"3f1c\",\"token\":null,\"justification\":null";

static const struct {
	const char *name, *rest; /* rest: the leaf after release_head */
	const char *country;     /* parsed; NULL: absent */
	int ok;
} country_leaves[] = {
    {"in Japan, as every leaf before 16.5", "}", NULL, 1},
    {"abroad", ",\"country\":\"SG\"}", "SG", 1},
    {"a code no longer assigned: the form alone is checked", ",\"country\":\"AN\"}", "AN", 1},
    {"Japan written out", ",\"country\":\"JP\"}", NULL, 0},
    {"null", ",\"country\":null}", NULL, 0},
    {"a number", ",\"country\":392}", NULL, 0},
    {"lower case", ",\"country\":\"sg\"}", NULL, 0},
    {"three letters", ",\"country\":\"SGP\"}", NULL, 0},
    {"escaped", ",\"country\":\"S\\u0047\"}", NULL, 0},
    {"twice", ",\"country\":\"SG\",\"country\":\"SG\"}", NULL, 0},
    {"before justification", "", NULL, 0}, /* built below */
    {"an admin member after it",
     ",\"country\":\"SG\",\"admin\":{\"action\":\"x\","
     "\"staff\":null,\"reason\":null,\"target\":null}}",
     NULL, 0},
};

static void
test_country(void)
{
	for (size_t i = 0; i < sizeof(country_leaves) / sizeof(country_leaves[0]); i++) {
		char leaf[1024];
		size_t len2 = 0;
		int n = snprintf(leaf, sizeof(leaf), "%s%s", release_head, country_leaves[i].rest);
		if (country_leaves[i].rest[0] == '\0') {
			/* the member moved before justification */
			char *at = strstr(release_head, ",\"justification\":null");
			n = snprintf(leaf, sizeof(leaf), "%.*s,\"country\":\"SG\"%s}",
			             (int)(at - release_head), release_head, at);
		}
		int rc = parse_exact(leaf, (size_t)n);

		CHECK(rc == (country_leaves[i].ok ? 0 : -1), "country %s: %s",
		      country_leaves[i].name, country_leaves[i].ok ? "parses" : "refused");
		if (rc != 0 || !country_leaves[i].ok)
			continue;
		CHECK(same_str(parsed.e.country, country_leaves[i].country), "country %s: %s",
		      country_leaves[i].name, parsed.e.country ? parsed.e.country : "absent");
		char *again = encode(&parsed.e, parsed.index, parsed.time_ms, &len2);
		CHECK(again && len2 == (size_t)n && memcmp(again, leaf, len2) == 0,
		      "country %s: encoded back byte for byte", country_leaves[i].name);
		free(again);
	}
	/* an admin entry never carries one: written by hand into a gateway_stop */
	char leaf[1024];
	int n = snprintf(leaf, sizeof(leaf), "%s\"staff\":null,\"reason\":null,\"target\":null}}",
	                 admin_head);
	CHECK(parse_exact(leaf, (size_t)n) == 0, "the admin leaf the case changes parses");
	char *at = strstr(leaf, ",\"admin\":");
	char bad[1100];
	n = snprintf(bad, sizeof(bad), "%.*s,\"country\":\"SG\"%s", (int)(at - leaf), leaf, at);
	CHECK(parse_exact(bad, (size_t)n) == -1, "a country on an admin leaf refused");
}

/* The largest leaf: a tail that leaves room for the longest head is taken, one byte more is
 * not; LEDGER_MAX_ITEMS items are taken, one more is not. */
static void
test_bounds(void)
{
	struct buf tail = {0};
	struct ledger_entry e = {.kind = LEDGER_DENY, .justification = ""};
	size_t base, len;
	char *big, *leaf;

	CHECK(ledger_leaf_tail(&e, &tail) == 0, "empty justification");
	base = tail.len;
	/* the longest head: {"v":1,"index":<19 digits>,"time":"<24>" */
	size_t room = LEDGER_MAX_LEAF - 68 - base;
	big = malloc(room + 2);
	memset(big, 'a', room + 1);
	big[room] = '\0';
	e.justification = big;
	leaf = encode(&e, INT64_MAX, T0, &len);
	CHECK(leaf && len == LEDGER_MAX_LEAF, "a leaf of LEDGER_MAX_LEAF bytes: %zu", len);
	CHECK(leaf && parse_exact(leaf, len) == 0 && strlen(parsed.e.justification) == room,
	      "and it parses");
	free(leaf);
	leaf = encode(&e, 0, T0, &len);
	CHECK(leaf && parse_exact(leaf, len) == 0, "the same tail with a short head parses");
	free(leaf);
	big[room] = 'a';
	big[room + 1] = '\0';
	CHECK(ledger_leaf_tail(&e, &tail) == -1, "one byte more is refused");
	free(big);

	const char **many = calloc(LEDGER_MAX_ITEMS + 1, sizeof(*many));
	for (size_t i = 0; i <= LEDGER_MAX_ITEMS; i++)
		many[i] = "x";
	e = (struct ledger_entry){
	    .kind = LEDGER_RELEASE, .items = many, .n_items = LEDGER_MAX_ITEMS};
	leaf = encode(&e, 1, T0, &len);
	CHECK(leaf && parse_exact(leaf, len) == 0 && parsed.e.n_items == LEDGER_MAX_ITEMS,
	      "LEDGER_MAX_ITEMS items");
	/* one more item, written by hand: the parser refuses what the encoder would not write */
	char *more = leaf ? malloc(len + 5) : NULL;
	if (more != NULL) {
		char *at = strstr(leaf, "\"x\"]");
		sprintf(more, "%.*s\"x\",\"x\"]%s", (int)(at - leaf), leaf, at + 4);
		CHECK(parse_exact(more, strlen(more)) == -1, "LEDGER_MAX_ITEMS + 1 items refused");
	}
	free(more);
	free(leaf);
	free(many);
	buf_free(&tail);
}

int
main(void)
{
	test_round_trip();
	test_bad_entries();
	test_bad_leaves();
	test_admin_version();
	test_country();
	test_bounds();
	return check_done();
}
