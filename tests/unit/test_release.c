/* test_release — origin records checked, answers built afresh, transforms, pseudonyms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "apierr.h"
#include "cal.h"
#include "catalog.h"
#include "check.h"
#include "contract.h"
#include "contract_file.h"
#include "fixture.h"
#include "pseudo.h"
#include "release.c" /* the transforms are static */

#define MAX_BYTES (1024 * 1024)

static const char SECRET[] = "0123456789abcdef0123456789abcdef-test-secret";

/* The SPEC 5 member, with two courses, and keys the catalog does not know. */
static const char RECORD[] =
    "{\"member_id\":\"M0000001\","
    "\"name\":{\"family\":\"山田\",\"given\":\"花子\",\"family_kana\":\"ヤマダ\","
    "\"given_kana\":\"ハナコ\",\"nickname\":\"はな\"},"
    "\"birth_date\":\"1985-04-12\",\"gender\":\"female\","
    "\"address\":{\"postal_code\":\"150-0001\",\"prefecture\":\"東京都\",\"city\":\"渋谷区\","
    "\"street\":\"神宮前1-2-3\",\"building\":\"メゾン神宮前101\"},"
    "\"phone\":\"090-1234-5678\",\"email\":\"hanako@example.jp\","
    "\"photo\":{\"url\":\"https://members.example/photos/M0000001.jpg\",\"sha256\":"
    "\"5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef\"},"
    "\"my_number\":\"123456789018\","
    "\"membership\":{\"joined\":\"2019-04-01\",\"grade\":\"gold\",\"status\":\"active\"},"
    "\"courses\":[{\"code\":\"MD101\",\"title\":\"メゾンディレクトゥール基礎\",\"completed\":"
    "\"2020-03-01\",\"score\":93},{\"code\":\"MD201\",\"title\":\"応用\",\"completed\":\"2021-03-"
    "01\"}],"
    "\"certifications\":[{\"code\":\"CMD1\",\"number\":\"2020-00123\",\"issued\":\"2020-06-01\"}],"
    "\"consents\":{\"marketing\":true,\"survey\":false,\"third_party_provision\":false,"
    "\"consented\":[]},"
    "\"restrictions\":{\"stop_use\":false,\"stop_third_party\":false},"
    "\"password_hash\":\"$2b$12$abc\",\"internal_notes\":{\"a\":[1,2,3]}}";

static time_t
at(int y, int m, int d, int hh, int mm, int ss)
{
	return (time_t)(cal_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss);
}

/* The documented derivation, computed here without the pseudo module. */
static void
expect_pseudonym(const char *contract_id, const char *value, char out[33])
{
	unsigned char label[128], k[32], mac[32];
	unsigned int n;
	size_t l = strlen("pdgate pseudonym v1") + 1;
	memcpy(label, "pdgate pseudonym v1", l);
	memcpy(label + l, contract_id, strlen(contract_id));
	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), label, l + strlen(contract_id), k, &n);
	HMAC(EVP_sha256(), k, 32, (const unsigned char *)value, strlen(value), mac, &n);
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", mac[i]);
}

static void
expect_subject(const char *member_id, char out[65])
{
	unsigned char k[32], mac[32];
	unsigned int n;
	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)"pdgate subject v1",
	     sizeof("pdgate subject v1"), k, &n);
	HMAC(EVP_sha256(), k, 32, (const unsigned char *)member_id, strlen(member_id), mac, &n);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", mac[i]);
}

static char *
repeat(const char *s, int n)
{
	size_t l = strlen(s);
	char *out = malloc(l * (size_t)n + 1);
	for (int i = 0; i < n; i++)
		memcpy(out + l * (size_t)i, s, l);
	out[l * (size_t)n] = '\0';
	return out;
}

/* {"member_id":"M1","x":[[…1…]]} with depth levels in all (the object counts one). */
static char *
nested(int depth)
{
	char *open = repeat("[", depth - 1), *close = repeat("]", depth - 1);
	size_t n = strlen(open) * 2 + 64;
	char *out = malloc(n);
	snprintf(out, n, "{\"member_id\":\"M1\",\"x\":%s1%s}", open, close);
	free(open);
	free(close);
	return out;
}

static void
origin(const struct catalog *cat)
{
	char *deep64 = nested(64), *deep65 = nested(65);
	const struct {
		const char *body, *member;
		enum apierr want;
	} cases[] = {
	    {RECORD, "M0000001", APIERR_NONE},
	    {RECORD, "M0000002", APIERR_ORIGIN_INVALID},
	    {RECORD, "M000000", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\"}", "M1", APIERR_NONE},
	    {"{\"member_id\":\"M1\",\"member_id\":\"M1\"}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"name\":{\"family\":\"a\",\"family\":\"b\"}}", "M1",
	     APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"extra\":{\"a\":1,\"a\":2}}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"courses\":[{\"code\":\"A\",\"code\":\"B\"}]}", "M1",
	     APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"email\":\"\xff@example.jp\"}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"extra\":\"\xc0\xaf\"}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"extra\":\"\xed\xa0\x80\"}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"email\":\"a\\u0000b\"}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\\u0000\"}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"email\":\"\\ud800\"}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"name\":{\"family\":\"a\"}}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":1}", "1", APIERR_ORIGIN_INVALID},
	    {"[{\"member_id\":\"M1\"}]", "M1", APIERR_ORIGIN_INVALID},
	    {"", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\"} x", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\"", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"birth_date\":\"1985/04/12\"}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"birth_date\":\"1985-02-30\"}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"birth_date\":\"1985-4-12\"}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"phone\":9012345678}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"name\":\"山田花子\"}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"courses\":{\"code\":\"A\"}}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"courses\":[\"MD101\"]}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"courses\":[null]}", "M1", APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"courses\":[{\"completed\":\"yesterday\"}]}", "M1",
	     APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"consents\":{\"marketing\":\"yes\"}}", "M1",
	     APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"consents\":{\"consented\":\"CT-2026-0005\"}}", "M1",
	     APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"consents\":{\"consented\":[5]}}", "M1",
	     APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"restrictions\":{\"stop_use\":1}}", "M1",
	     APIERR_ORIGIN_INVALID},
	    {"{\"member_id\":\"M1\",\"address\":null,\"courses\":null,\"phone\":null}", "M1",
	     APIERR_NONE},
	    {"{\"member_id\":\"M1\",\"courses\":[]}", "M1", APIERR_NONE},
	    {deep64, "M1", APIERR_NONE},
	    {deep65, "M1", APIERR_ORIGIN_INVALID},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *rec = (json_t *)1;
		char why[RELEASE_WHY_MAX];
		enum apierr e = release_origin(cat, cases[i].body, strlen(cases[i].body), MAX_BYTES,
		                               cases[i].member, &rec, why, sizeof(why));
		CHECK(e == cases[i].want, "origin %zu: %s (%s), want %s", i, apierr_code(e), why,
		      apierr_code(cases[i].want));
		CHECK((e == APIERR_NONE) == (rec != NULL), "origin %zu: record iff valid", i);
		/* The reason never quotes the record's values. */
		CHECK(strstr(why, "山田") == NULL && strstr(why, "example.jp") == NULL &&
		          strstr(why, "1985") == NULL,
		      "origin %zu: reason quotes data: %s", i, why);
		json_decref(rec);
	}
	free(deep64);
	free(deep65);

	/* The size limit counts bytes before anything is parsed. */
	json_t *rec;
	char why[RELEASE_WHY_MAX];
	const char *small = "{\"member_id\":\"M1\"}";
	CHECK(release_origin(cat, small, strlen(small), strlen(small), "M1", &rec, why,
	                     sizeof(why)) == APIERR_NONE,
	      "exactly at the limit");
	json_decref(rec);
	CHECK(release_origin(cat, small, strlen(small), strlen(small) - 1, "M1", &rec, why,
	                     sizeof(why)) == APIERR_ORIGIN_INVALID &&
	          rec == NULL,
	      "one byte over the limit");

	/* Null counts as absent: the checked record does not have it. */
	const char *nulls = "{\"member_id\":\"M1\",\"address\":null,\"name\":{\"family\":null,"
	                    "\"given\":\"x\"}}";
	CHECK(release_origin(cat, nulls, strlen(nulls), MAX_BYTES, "M1", &rec, why, sizeof(why)) ==
	              APIERR_NONE &&
	          json_object_get(rec, "address") == NULL &&
	          json_object_size(json_object_get(rec, "name")) == 1,
	      "null values dropped");
	json_decref(rec);

	/* Unknown keys are dropped at every level; known ones are kept. */
	CHECK(release_origin(cat, RECORD, strlen(RECORD), MAX_BYTES, "M0000001", &rec, why,
	                     sizeof(why)) == APIERR_NONE,
	      "record");
	CHECK(json_object_get(rec, "password_hash") == NULL &&
	          json_object_get(rec, "internal_notes") == NULL,
	      "top-level unknown keys dropped");
	CHECK(json_object_get(json_object_get(rec, "name"), "nickname") == NULL &&
	          json_object_size(json_object_get(rec, "name")) == 4,
	      "nested unknown keys dropped");
	json_t *c0 = json_array_get(json_object_get(rec, "courses"), 0);
	CHECK(json_object_get(c0, "score") == NULL && json_object_size(c0) == 3,
	      "unknown keys in array elements dropped");
	CHECK(json_is_false(json_object_get(json_object_get(rec, "consents"), "survey")) &&
	          json_is_array(json_object_get(json_object_get(rec, "consents"), "consented")),
	      "internal values kept for the rules");
	json_decref(rec);
}

static void
transforms(void)
{
	static const struct {
		const char *in;
		unsigned n;
		const char *mask, *prefix; /* NULL: refused */
	} cases[] = {
	    {"090-1234-5678", 4, "*********5678", "090-"},
	    {"150-0001", 3, "*****001", "150"},
	    {"山田花子", 1, "***子", "山"},
	    {"東京都渋谷区", 3, "***渋谷区", "東京都"},
	    {"ヤマダ", 3, "ヤマダ", "ヤマダ"},
	    {"ab", 4, "ab", "ab"},
	    {"abc", 0, "***", ""},
	    {"", 2, "", ""},
	    {"\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
	     "a",
	     1, "**a", "\xf0\x9f\x98\x80"},
	    {"a\xffz", 1, NULL, NULL},
	    {"\xc0\xaf", 1, NULL, NULL},
	    {"\xe3\x81", 1, NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *m = release_mask(cases[i].in, strlen(cases[i].in), cases[i].n);
		char *p = release_prefix(cases[i].in, strlen(cases[i].in), cases[i].n);
		if (cases[i].mask == NULL) {
			CHECK(m == NULL && p == NULL, "transform %zu: invalid UTF-8 accepted", i);
		} else {
			CHECK(m && strcmp(m, cases[i].mask) == 0, "mask %zu: %s", i,
			      m ? m : "NULL");
			CHECK(p && strcmp(p, cases[i].prefix) == 0, "prefix %zu: %s", i,
			      p ? p : "NULL");
		}
		free(m);
		free(p);
	}

	const struct {
		const char *birth;
		time_t now;
		unsigned n;
		const char *want; /* NULL: refused */
	} bands[] = {
	    /* the day before the 40th birthday in Japan, to its last second */
	    {"1986-04-12", at(2026, 4, 11, 14, 59, 59), 10, "30-39"},
	    /* midnight in Japan: 40 */
	    {"1986-04-12", at(2026, 4, 11, 15, 0, 0), 10, "40-49"},
	    /* UTC still says 11 April, Japan says 12 April */
	    {"1986-04-12", at(2026, 4, 11, 20, 0, 0), 10, "40-49"},
	    /* UTC midnights */
	    {"1986-04-12", at(2026, 4, 11, 0, 0, 0), 10, "30-39"},
	    {"1986-04-12", at(2026, 4, 12, 0, 0, 0), 10, "40-49"},
	    {"1986-04-13", at(2026, 4, 12, 0, 0, 0), 10, "30-39"},
	    /* 29 February: a year older on 1 March in common years */
	    {"2000-02-29", at(2025, 2, 28, 3, 0, 0), 5, "20-24"},
	    {"2000-02-29", at(2025, 2, 28, 15, 0, 0), 5, "25-29"},
	    {"2000-02-29", at(2024, 2, 28, 15, 0, 0), 5, "20-24"},
	    {"1990-01-01", at(2026, 6, 1, 0, 0, 0), 5, "35-39"},
	    {"1985-04-12", at(2026, 11, 28, 0, 0, 0), 10, "40-49"},
	    {"1985-04-12", at(2026, 11, 28, 0, 0, 0), 2, "40-41"},
	    {"1926-01-01", at(2026, 6, 1, 0, 0, 0), 10, "100-109"},
	    /* born today in Japan */
	    {"2026-11-28", at(2026, 11, 27, 15, 0, 0), 10, "0-9"},
	    /* not born yet in Japan, though already that day in some places */
	    {"2026-11-28", at(2026, 11, 27, 14, 59, 59), 10, NULL},
	    {"1986-13-01", at(2026, 1, 1, 0, 0, 0), 10, NULL},
	    {"1986-04-12T00:00:00", at(2026, 1, 1, 0, 0, 0), 10, NULL},
	};
	for (size_t i = 0; i < sizeof(bands) / sizeof(bands[0]); i++) {
		char out[32] = "";
		int r =
		    release_age_band(bands[i].birth, bands[i].now, bands[i].n, out, sizeof(out));
		if (bands[i].want == NULL)
			CHECK(r == -1, "band %zu accepted: %s", i, out);
		else
			CHECK(r == 0 && strcmp(out, bands[i].want) == 0, "band %zu: %s, want %s", i,
			      out, bands[i].want);
	}
}

/* release_value: one value under each transform but pseudonym, as release_build writes it. */
static void
values(void)
{
	static const struct {
		enum contract_transform t;
		unsigned arg;
		const char *in, *want; /* want NULL: refused */
	} rows[] = {
	    {CONTRACT_TF_NONE, 0, "東京都", "東京都"},
	    {CONTRACT_TF_NONE, 0, "\xff", NULL},
	    {CONTRACT_TF_MASK, 4, "090-1234-5678", "*********5678"},
	    {CONTRACT_TF_PREFIX, 3, "150-0001", "150"},
	    {CONTRACT_TF_PREFIX, 2, "神奈川県", "神奈"},
	    {CONTRACT_TF_YEAR, 0, "2019-04-01", "2019"},
	    {CONTRACT_TF_YEAR, 0, "2019-13-01", NULL},
	    {CONTRACT_TF_YEAR, 0, "gold", NULL},
	    {CONTRACT_TF_AGE_BAND, 10, "1985-04-12", "40-49"},
	    {CONTRACT_TF_AGE_BAND, 5, "2000-02-29", "25-29"},
	    {CONTRACT_TF_AGE_BAND, 10, "2027-01-01", NULL},
	    {CONTRACT_TF_AGE_BAND, 10, "1985-04-12T00:00:00Z", NULL},
	    {CONTRACT_TF_PSEUDONYM, 0, "M0000001", NULL},
	};
	time_t now = at(2026, 11, 28, 0, 0, 0);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *v =
		    release_value(rows[i].t, rows[i].arg, rows[i].in, strlen(rows[i].in), now);
		if (rows[i].want == NULL)
			CHECK(v == NULL, "value %zu accepted: %s", i, v);
		else
			CHECK(v != NULL && strcmp(v, rows[i].want) == 0, "value %zu: %s, want %s",
			      i, v ? v : "(refused)", rows[i].want);
		free(v);
	}
	/* the length is the value: a NUL inside a date is refused, not cut there */
	char *v = release_value(CONTRACT_TF_AGE_BAND, 10, "1985-04-12\0x", 12, now);
	CHECK(v == NULL, "a NUL inside: %s", v);
	free(v);
}

struct fixture {
	const struct catalog *cat;
	struct contract_set *set;
	struct pseudo *pseudo;
	json_t *record;
};

/* Builds one member's answer and compares it, byte for byte, with want (NULL: refused with
 * want_err). */
static void
build(struct fixture *fx, const char *id, const char *purpose, const json_t *record, time_t now,
      const char *want, const char *want_items, enum apierr want_err)
{
	const struct contract *c = contract_set_find(fx->set, id);
	const struct contract_purpose *p = c ? contract_purpose(c, purpose) : NULL;
	struct buf body = {0};
	const char *items[64];
	size_t n_items = 99;
	char why[RELEASE_WHY_MAX];
	CHECK(p != NULL && p->nfields <= 64, "%s %s: setup", id, purpose);
	if (p == NULL || p->nfields > 64)
		return;
	enum apierr e =
	    release_build(c, p, record, fx->pseudo, now, &body, items, &n_items, why, sizeof(why));
	if (want == NULL) {
		CHECK(e == want_err && body.len == 0 && n_items == 0, "%s %s: %s (%s), want %s", id,
		      purpose, apierr_code(e), why, apierr_code(want_err));
		buf_free(&body);
		return;
	}
	CHECK(e == APIERR_NONE, "%s %s: %s (%s)", id, purpose, apierr_code(e), why);
	if (e != APIERR_NONE) {
		buf_free(&body);
		return;
	}
	/* a plan compiled once gives the same bytes and items, time after time */
	struct release_plan *plan = release_plan_new(c, p, fx->pseudo, why, sizeof(why));
	CHECK(plan != NULL, "%s %s: plan: %s", id, purpose, why);
	for (int round = 0; plan != NULL && round < 2; round++) {
		struct buf again = {0};
		const char *items2[64];
		size_t n2 = 99;
		CHECK(release_plan_build(plan, record, now, &again, items2, &n2, why,
		                         sizeof(why)) == APIERR_NONE &&
		          again.len == body.len && memcmp(again.data, body.data, body.len) == 0 &&
		          n2 == n_items && memcmp(items2, items, n2 * sizeof(*items)) == 0,
		      "%s %s: the plan's answer differs (round %d)", id, purpose, round);
		buf_free(&again);
	}
	release_plan_free(plan);
	/* the text is what jansson makes of it: valid JSON, compact, in the same order */
	json_t *parsed = json_loadb(body.data, body.len, JSON_REJECT_DUPLICATES, NULL);
	char *again = parsed ? json_dumps(parsed, JSON_COMPACT) : NULL;
	CHECK(again && strcmp(again, body.data) == 0, "%s %s: not jansson's text: %s", id, purpose,
	      body.data);
	CHECK(strcmp(body.data, want) == 0, "%s %s:\n  got  %s\n  want %s", id, purpose, body.data,
	      want);
	if (want_items != NULL) {
		json_t *list = json_array();
		for (size_t i = 0; i < n_items; i++)
			json_array_append_new(list, json_string(items[i]));
		char *got_items = json_dumps(list, JSON_COMPACT);
		CHECK(got_items && strcmp(got_items, want_items) == 0,
		      "%s %s items:\n  got  %s\n  want %s", id, purpose, got_items, want_items);
		free(got_items);
		json_decref(list);
	}
	free(again);
	json_decref(parsed);
	buf_free(&body);
}

static json_t *
checked(const struct catalog *cat, const char *body, const char *member)
{
	json_t *rec = NULL;
	char why[RELEASE_WHY_MAX];
	if (release_origin(cat, body, strlen(body), MAX_BYTES, member, &rec, why, sizeof(why)) !=
	    APIERR_NONE)
		fprintf(stderr, "fixture record refused: %s\n", why);
	return rec;
}

static void
demo_answers(struct fixture *fx)
{
	time_t now = at(2026, 11, 28, 0, 0, 0);
	char ps1[33], ps3[33], ps4[33], want[2048];

	expect_pseudonym("CT-2026-0001", "M0000001", ps1);
	expect_pseudonym("CT-2026-0003", "M0000001", ps3);
	expect_pseudonym("CT-2026-0004", "M0000001", ps4);
	CHECK(strcmp(ps1, ps3) != 0 && strcmp(ps1, ps4) != 0, "pseudonyms differ across contracts");

	snprintf(want, sizeof(want),
	         "{\"member_id\":\"%s\",\"name\":{\"family\":\"山田\",\"given\":\"花子\"},"
	         "\"address\":{\"postal_code\":\"150-0001\",\"prefecture\":\"東京都\",\"city\":"
	         "\"渋谷区\",\"street\":\"神宮前1-2-3\",\"building\":\"メゾン神宮前101\"}}",
	         ps1);
	build(fx, "CT-2026-0001", "marketing", fx->record, now, want,
	      "[\"member_id:pseudonym\",\"name.family\",\"name.given\",\"address.postal_code\","
	      "\"address.prefecture\",\"address.city\",\"address.street\",\"address.building\"]",
	      APIERR_NONE);

	build(fx, "CT-2026-0002", "service_delivery", fx->record, now,
	      "{\"member_id\":\"M0000001\",\"name\":{\"family\":\"山田\",\"given\":\"花子\","
	      "\"family_kana\":\"ヤマダ\",\"given_kana\":\"ハナコ\"},\"birth_date\":\"1985\","
	      "\"photo\":{\"url\":\"https://members.example/photos/M0000001.jpg\",\"sha256\":"
	      "\"5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef\"},"
	      "\"courses\":[{\"code\":\"MD101\",\"completed\":\"2020-03-01\"},{\"code\":\"MD201\","
	      "\"completed\":\"2021-03-01\"}],\"certifications\":[{\"code\":\"CMD1\"}]}",
	      NULL, APIERR_NONE);

	snprintf(want, sizeof(want),
	         "{\"member_id\":\"%s\",\"name\":{\"family\":\"山田\"},\"email\":"
	         "\"hanako@example.jp\"}",
	         ps3);
	build(fx, "CT-2026-0003", "survey", fx->record, now, want, NULL, APIERR_NONE);

	snprintf(want, sizeof(want),
	         "{\"member_id\":\"%s\",\"birth_date\":\"40-49\",\"gender\":\"female\","
	         "\"address\":{\"prefecture\":\"東京都\"},\"membership\":{\"joined\":\"2019\","
	         "\"grade\":\"gold\"},\"courses\":[{\"code\":\"MD101\"},{\"code\":\"MD201\"}]}",
	         ps4);
	build(
	    fx, "CT-2026-0004", "statistics", fx->record, now, want,
	    "[\"member_id:pseudonym\",\"birth_date:age_band:10\",\"gender\",\"address.prefecture\","
	    "\"membership.joined:year\",\"membership.grade\",\"courses[].code\"]",
	    APIERR_NONE);

	build(fx, "CT-2026-0005", "marketing", fx->record, now,
	      "{\"name\":{\"family\":\"山田\",\"given\":\"花子\"},\"address\":{\"postal_code\":"
	      "\"150-0001\",\"prefecture\":\"東京都\",\"city\":\"渋谷区\",\"street\":\"神宮前1-2-"
	      "3\",\"building\":\"メゾン神宮前101\"}}",
	      NULL, APIERR_NONE);

	build(fx, "CT-2026-0006", "my_number_affairs", fx->record, now,
	      "{\"member_id\":\"M0000001\",\"name\":{\"family\":\"山田\",\"given\":\"花子\","
	      "\"family_kana\":\"ヤマダ\",\"given_kana\":\"ハナコ\"},\"address\":{\"postal_code\":"
	      "\"150-0001\",\"prefecture\":\"東京都\",\"city\":\"渋谷区\",\"street\":\"神宮前1-2-"
	      "3\",\"building\":\"メゾン神宮前101\"},\"my_number\":\"123456789018\"}",
	      "[\"member_id\",\"name.family\",\"name.given\",\"name.family_kana\","
	      "\"name.given_kana\",\"address.postal_code\",\"address.prefecture\",\"address.city\","
	      "\"address.street\",\"address.building\",\"my_number\"]",
	      APIERR_NONE);

	/* No My Number anywhere else, whatever the record holds. */
	static const char *const others[][2] = {
	    {"CT-2026-0001", "marketing"},        {"CT-2026-0001", "contact"},
	    {"CT-2026-0002", "service_delivery"}, {"CT-2026-0003", "benefits"},
	    {"CT-2026-0003", "service_delivery"}, {"CT-2026-0003", "survey"},
	    {"CT-2026-0004", "statistics"},       {"CT-2026-0005", "consented"},
	    {"CT-2026-0005", "marketing"}};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		const struct contract *c = contract_set_find(fx->set, others[i][0]);
		const struct contract_purpose *p = contract_purpose(c, others[i][1]);
		struct buf body = {0};
		const char *items[64];
		size_t n_items;
		char why[RELEASE_WHY_MAX];
		CHECK(release_build(c, p, fx->record, fx->pseudo, now, &body, items, &n_items, why,
		                    sizeof(why)) == APIERR_NONE,
		      "%s %s", others[i][0], others[i][1]);
		const char *s = body.data ? body.data : "";
		CHECK(strstr(s, "123456789018") == NULL && strstr(s, "consent") == NULL &&
		          strstr(s, "restrictions") == NULL && strstr(s, "password") == NULL,
		      "%s %s leaks: %s", others[i][0], others[i][1], s);
		buf_free(&body);
	}

	/* Stable within a contract, different for another member. */
	json_t *other = checked(
	    fx->cat, "{\"member_id\":\"M0000002\",\"name\":{\"family\":\"佐藤\"}}", "M0000002");
	char ps1b[33];
	expect_pseudonym("CT-2026-0001", "M0000002", ps1b);
	CHECK(strcmp(ps1, ps1b) != 0, "members differ");
	snprintf(want, sizeof(want), "{\"member_id\":\"%s\",\"name\":{\"family\":\"佐藤\"}}", ps1b);
	build(fx, "CT-2026-0001", "marketing", other, now, want,
	      "[\"member_id:pseudonym\",\"name.family\"]", APIERR_NONE);
	build(fx, "CT-2026-0001", "marketing", other, now + 86400 * 400, want, NULL, APIERR_NONE);
	json_decref(other);
}

static void
arrays_and_absence(struct fixture *fx)
{
	time_t now = at(2026, 11, 28, 0, 0, 0);
	char ps4[33], ps3m3[33], want[1024];
	expect_pseudonym("CT-2026-0004", "M3", ps4);
	expect_pseudonym("CT-2026-0003", "M3", ps3m3);

	json_t *r =
	    checked(fx->cat, "{\"member_id\":\"M3\",\"courses\":[],\"address\":null}", "M3");
	snprintf(want, sizeof(want), "{\"member_id\":\"%s\",\"courses\":[]}", ps4);
	build(fx, "CT-2026-0004", "statistics", r, now, want, "[\"member_id:pseudonym\"]",
	      APIERR_NONE);
	json_decref(r);

	r = checked(fx->cat,
	            "{\"member_id\":\"M3\",\"courses\":[{\"title\":\"x\"},{\"code\":\"B\"},{}],"
	            "\"certifications\":[{\"number\":\"N1\"}]}",
	            "M3");
	build(fx, "CT-2026-0002", "service_delivery", r, now,
	      "{\"member_id\":\"M3\",\"courses\":[{},{\"code\":\"B\"},{}],\"certifications\":[{}]}",
	      "[\"member_id\",\"courses[].code\"]", APIERR_NONE);
	json_decref(r);

	/* An unborn member has no age band: the record is wrong, nothing is released. */
	r = checked(fx->cat, "{\"member_id\":\"M3\",\"birth_date\":\"2027-01-01\"}", "M3");
	build(fx, "CT-2026-0004", "statistics", r, now, NULL, NULL, APIERR_ORIGIN_INVALID);
	json_decref(r);

	/* Strings are escaped as jansson escapes them (build compares with json_dumps too). */
	r = checked(fx->cat,
	            "{\"member_id\":\"M3\",\"name\":{\"family\":\"a\\\"b\\\\c\\n\\t\\b\\f\\r"
	            "\\u0001\\u001f/\\u00e9\\u3042\\ud83d\\ude00\\u007f\"},\"email\":null}",
	            "M3");
	snprintf(
	    want, sizeof(want), "{\"member_id\":\"%s\",\"name\":{\"family\":\"%s\"}}", ps3m3,
	    "a\\\"b\\\\c\\n\\t\\b\\f\\r\\u0001\\u001F/\xc3\xa9\xe3\x81\x82\xf0\x9f\x98\x80\x7f");
	build(fx, "CT-2026-0003", "survey", r, now, want,
	      "[\"member_id:pseudonym\",\"name.family\"]", APIERR_NONE);

	/* The answer goes after what the buffer holds; a refused one leaves it as it was. */
	const struct contract *c2 = contract_set_find(fx->set, "CT-2026-0003");
	const struct contract_purpose *p2 = contract_purpose(c2, "survey");
	struct buf t = {0};
	const char *items[64];
	size_t n_items;
	char why[RELEASE_WHY_MAX];
	CHECK(buf_add(&t, "[", 1) == 0 &&
	          release_build(c2, p2, r, fx->pseudo, now, &t, items, &n_items, why,
	                        sizeof(why)) == APIERR_NONE &&
	          t.len == strlen(want) + 1 && t.data[0] == '[' && strcmp(t.data + 1, want) == 0,
	      "appended: %s", t.data);
	json_decref(r);
	r = checked(fx->cat, "{\"member_id\":\"M3\",\"birth_date\":\"2027-01-01\"}", "M3");
	size_t before = t.len;
	CHECK(release_build(
	          contract_set_find(fx->set, "CT-2026-0004"),
	          contract_purpose(contract_set_find(fx->set, "CT-2026-0004"), "statistics"), r,
	          fx->pseudo, now, &t, items, &n_items, why,
	          sizeof(why)) == APIERR_ORIGIN_INVALID &&
	          t.len == before && strlen(t.data) == before && n_items == 0,
	      "a refused member leaves the buffer as it was");
	buf_free(&t);
	json_decref(r);

	/* Fields out of catalog order could write a member twice: refused. */
	struct contract_purpose *pm = (struct contract_purpose *)contract_purpose(
	    contract_set_find(fx->set, "CT-2026-0002"), "service_delivery");
	struct contract_field f0 = pm->fields[0];
	pm->fields[0] = pm->fields[1];
	pm->fields[1] = f0;
	build(fx, "CT-2026-0002", "service_delivery", fx->record, now, NULL, NULL, APIERR_INTERNAL);
	pm->fields[1] = pm->fields[0];
	pm->fields[0] = f0;

	/* A record that release_origin did not build is refused. */
	json_t *arr = json_array();
	build(fx, "CT-2026-0004", "statistics", arr, now, NULL, NULL, APIERR_INTERNAL);
	json_decref(arr);
}

/* A contract altered after load (the struct is readable by all) still cannot release what
 * the hard rules forbid. */
static void
hard_rules(struct fixture *fx)
{
	time_t now = at(2026, 11, 28, 0, 0, 0);
	static const struct {
		const char *id, *purpose, *leaf;
		enum contract_transform t;
		unsigned arg;
	} cases[] = {
	    {"CT-2026-0001", "marketing", "consents.marketing", CONTRACT_TF_NONE, 0},
	    {"CT-2026-0001", "marketing", "restrictions.stop_use", CONTRACT_TF_NONE, 0},
	    {"CT-2026-0001", "marketing", "my_number", CONTRACT_TF_NONE, 0},
	    {"CT-2026-0003", "benefits", "my_number", CONTRACT_TF_MASK, 4},
	    {"CT-2026-0004", "statistics", "member_id", CONTRACT_TF_NONE, 0},
	    {"CT-2026-0004", "statistics", "name.family", CONTRACT_TF_PSEUDONYM, 0},
	    {"CT-2026-0004", "statistics", "address.city", CONTRACT_TF_NONE, 0},
	    {"CT-2026-0004", "statistics", "photo.url", CONTRACT_TF_NONE, 0},
	    {"CT-2026-0001", "marketing", "name.family", CONTRACT_TF_YEAR, 0},
	    {"CT-2026-0001", "marketing", "membership.joined", CONTRACT_TF_AGE_BAND, 10},
	    {"CT-2026-0001", "marketing", "birth_date", CONTRACT_TF_AGE_BAND, 0},
	    {"CT-2026-0001", "marketing", "birth_date", CONTRACT_TF_MASK, 2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct contract *c = contract_set_find(fx->set, cases[i].id);
		struct contract_purpose *p =
		    (struct contract_purpose *)contract_purpose(c, cases[i].purpose);
		struct contract_field saved = p->fields[0];
		p->fields[0].leaf = catalog_field(fx->cat, cases[i].leaf);
		p->fields[0].transform = cases[i].t;
		p->fields[0].arg = cases[i].arg;
		struct buf body = {0};
		const char *items[64];
		size_t n_items = 99;
		char why[RELEASE_WHY_MAX];
		enum apierr e = release_build(c, p, fx->record, fx->pseudo, now, &body, items,
		                              &n_items, why, sizeof(why));
		CHECK(e == APIERR_INTERNAL && body.len == 0 && n_items == 0,
		      "hard rule %zu (%s in %s) bypassed: %s", i, cases[i].leaf, cases[i].purpose,
		      apierr_code(e));
		buf_free(&body);
		p->fields[0] = saved;
	}
	/* A pseudonym without a key is refused, not released in clear. */
	const struct contract *c = contract_set_find(fx->set, "CT-2026-0001");
	struct buf body = {0};
	const char *items[64];
	size_t n_items;
	char why[RELEASE_WHY_MAX];
	CHECK(release_build(c, contract_purpose(c, "marketing"), fx->record, NULL, now, &body,
	                    items, &n_items, why, sizeof(why)) == APIERR_INTERNAL &&
	          body.len == 0,
	      "pseudonym without a secret");
	buf_free(&body);
}

static void
subjects(void)
{
	char want[65], got[PSEUDO_SUBJECT_HEX + 1];
	struct pseudo *p = pseudo_new(SECRET, strlen(SECRET));
	expect_subject("M0000001", want);
	CHECK(p && pseudo_subject(p, "M0000001", got) == 0 && strcmp(got, want) == 0,
	      "subject reference: %s", got);
	CHECK(strlen(got) == 64 && strspn(got, "0123456789abcdef") == 64, "64 lowercase hex");
	char other[PSEUDO_SUBJECT_HEX + 1];
	CHECK(p && pseudo_subject(p, "M0000002", other) == 0 && strcmp(got, other) != 0,
	      "members differ");
	struct pseudo_key k;
	char ps[PSEUDO_HEX + 1], exp[33];
	expect_pseudonym("CT-2026-0001", "M0000001", exp);
	CHECK(p && pseudo_contract_key(p, "CT-2026-0001", &k) == 0 &&
	          pseudo_apply(&k, "M0000001", 8, ps) == 0 && strcmp(ps, exp) == 0,
	      "pseudonym: %s", ps);
	CHECK(strncmp(ps, got, 32) != 0, "a pseudonym is not the subject reference");
	pseudo_key_wipe(&k);
	pseudo_free(p);
	pseudo_free(NULL);
	CHECK(pseudo_new("short", 5) == NULL, "a short secret is refused");
	struct pseudo *q = pseudo_new("another secret of enough length", 31);
	CHECK(q && pseudo_subject(q, "M0000001", other) == 0 && strcmp(other, want) != 0,
	      "another secret, another reference");
	pseudo_free(q);
}

int
main(void)
{
	char *errors = NULL;
	struct catalog *cat = fixture_catalog();
	if (cat == NULL)
		return check_done();
	origin(cat);
	transforms();
	values();
	struct fixture fx = {.cat = cat};
	fx.set = contract_set_load(cat, "contracts/examples", &errors);
	CHECK(fx.set != NULL, "examples: %s", errors ? errors : "");
	free(errors);
	fx.pseudo = pseudo_new(SECRET, strlen(SECRET));
	fx.record = checked(cat, RECORD, "M0000001");
	if (fx.set && fx.pseudo && fx.record) {
		demo_answers(&fx);
		arrays_and_absence(&fx);
		hard_rules(&fx);
	}
	subjects();
	json_decref(fx.record);
	pseudo_free(fx.pseudo);
	contract_set_free(fx.set);
	catalog_free(cat);
	return check_done();
}
