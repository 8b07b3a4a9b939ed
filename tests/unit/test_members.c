/* test_members — My Number check digits, and the synthetic member database read back cold. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "check.h"
#include "members.c" /* the check digit is static */

/*
 * Worked by hand: P_n is the n-th of the eleven digits from the right, Q_n = n+1 (n <= 6),
 * n-5 (n >= 7). For 12345678901: 1*2 + 0*3 + 9*4 + 8*5 + 7*6 + 6*7 + 5*2 + 4*3 + 3*4 + 2*5 +
 * 1*6 = 212; 212 mod 11 = 3; 11 - 3 = 8 (SPEC's example 123456789018).
 */
static const struct {
	const char *eleven;
	int digit;
} check_digits[] = {
    {"12345678901", 8},   /* sum 212, rem 3 */
    {"98765432109", 3},   /* 18+0+4+10+18+28+10+18+28+40+54 = 228, rem 8 */
    {"11111111111", 8},   /* 2+3+4+5+6+7+2+3+4+5+6 = 47, rem 3 */
    {"00000000000", 0},   /* rem 0 */
    {"00000000006", 0},   /* 6*2 = 12, rem 1: also 0 */
    {"00000000001", 9},   /* 2, rem 2 */
    {"10000000000", 5},   /* 1*6 = 6, rem 6 */
    {"00000100000", 4},   /* 1*7 = 7, rem 7 */
    {"00000000011", 6},   /* 2+3 = 5, rem 5 */
    {"1234567890", -1},   /* ten digits */
    {"123456789012", -1}, /* twelve */
    {"1234567890a", -1},  {"12345 78901", -1}, {"", -1}, {NULL, -1},
};

static const struct {
	const char *number;
	bool valid;
} validity[] = {
    {"123456789018", true},
    {"987654321093", true},
    {"111111111118", true},
    {"000000000060", true},
    {"000000000000", true},
    {"123456789017", false},
    {"123456789019", false},
    {"987654321090", false},
    {"12345678901", false},
    {"1234567890188", false},
    {"12345678901a", false},
    {"1234-5678-9018", false},
    {" 123456789018", false},
    {"123456789018 ", false},
    {"", false},
    {NULL, false},
};

/* True if twelve is exactly 12 ASCII digits whose last is the check digit of the first 11: the
 * check a reader of the generated numbers makes. */
static bool
my_number_valid(const char *twelve)
{
	char body[12];

	if (twelve == NULL)
		return false;
	for (size_t i = 0; i < 12; i++)
		if (twelve[i] < '0' || twelve[i] > '9')
			return false;
	if (twelve[12] != '\0')
		return false;
	memcpy(body, twelve, 11);
	body[11] = '\0';
	return members_my_number_check_digit(body) == twelve[11] - '0';
}

static void
test_check_digits(void)
{
	for (size_t i = 0; i < NELEM(check_digits); i++) {
		int got = members_my_number_check_digit(check_digits[i].eleven);
		CHECK(got == check_digits[i].digit, "check digit of %s: %d, want %d",
		      check_digits[i].eleven ? check_digits[i].eleven : "NULL", got,
		      check_digits[i].digit);
	}
	for (size_t i = 0; i < NELEM(validity); i++)
		CHECK(my_number_valid(validity[i].number) == validity[i].valid,
		      "valid(%s) should be %d", validity[i].number ? validity[i].number : "NULL",
		      validity[i].valid);
	/* Every one of the ten possible last digits: exactly one is valid. */
	int valid_count = 0;
	for (char d = '0'; d <= '9'; d++) {
		char s[13] = "98765432109";
		s[11] = d;
		s[12] = '\0';
		valid_count += my_number_valid(s);
	}
	CHECK(valid_count == 1, "%d valid last digits for 98765432109", valid_count);
}

/* ---- reading a database back ---- */

static const char *const prefecture_names[47] = {
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県",   "福島県", "茨城県",
    "栃木県", "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県",
    "石川県", "福井県", "山梨県", "長野県", "岐阜県", "静岡県",   "愛知県", "三重県",
    "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県",
    "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県",   "高知県", "福岡県",
    "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
};

static const char *const top_keys[] = {"member_id", "name",         "birth_date", "gender",
                                       "address",   "phone",        "email",      "photo",
                                       "my_number", "membership",   "courses",    "certifications",
                                       "consents",  "restrictions", NULL};
static const char *const name_keys[] = {"family", "given", "family_kana", "given_kana", NULL};
static const char *const address_keys[] = {"postal_code", "prefecture", "city",
                                           "street",      "building",   NULL};
static const char *const photo_keys[] = {"url", "sha256", NULL};
static const char *const membership_keys[] = {"joined", "grade", "status", NULL};
static const char *const course_keys[] = {"code", "title", "completed", NULL};
static const char *const cert_keys[] = {"code", "number", "issued", NULL};
static const char *const consent_keys[] = {
    "marketing", "survey", "third_party_provision", "consented", "foreign_provision", NULL};
static const char *const restriction_keys[] = {"stop_use", "stop_third_party", NULL};

/* Given names seen, and the genders they were seen with: a name never has two. */
struct given_seen {
	char name[64];
	unsigned genders; /* bit 0 female, bit 1 male */
};

struct tally {
	unsigned long members;
	unsigned long marketing, survey, third_party, consented, stop_use, stop_third_party;
	unsigned long foreign; /* consents.foreign_provision */
	unsigned long building, female, male, unspecified, landline, withdrawn, with_courses;
	unsigned long prefecture[47];
	struct given_seen given[512];
	size_t ngiven;
	bool given_overflow;
	char (*my_numbers)[13]; /* one per member, for the uniqueness check */
	unsigned long bad;
	char first_bad[256];
};

static bool
keys_exact(json_t *o, const char *const *keys)
{
	size_t n = 0;
	void *it;

	if (!json_is_object(o))
		return false;
	for (it = json_object_iter(o); it != NULL; it = json_object_iter_next(o, it), n++)
		if (keys[n] == NULL || strcmp(json_object_iter_key(it), keys[n]) != 0)
			return false;
	return keys[n] == NULL;
}

static bool
all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* A real calendar date "YYYY-MM-DD" between lo and hi (inclusive, as strings). */
static bool
date_ok(json_t *v, const char *lo, const char *hi)
{
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *s = json_string_value(v);
	if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) ||
	    !all_digits(s + 5, 2) || !all_digits(s + 8, 2))
		return false;
	int y = atoi(s);
	unsigned m = (unsigned)atoi(s + 5), d = (unsigned)atoi(s + 8);
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
		return false;
	return strcmp(s, lo) >= 0 && strcmp(s, hi) <= 0;
}

/* Only katakana (U+30A1..U+30FC), as three-byte UTF-8, and at least one. */
static bool
katakana_only(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	if (s == NULL || *p == 0)
		return false;
	while (*p) {
		if (p[0] != 0xE3 || p[1] == 0 || p[2] == 0)
			return false;
		unsigned c = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
		if (c < 0x30A1 || c > 0x30FC)
			return false;
		p += 3;
	}
	return true;
}

/* Japanese formats: a mobile 0N0-NNNN-NNNN, or a ten-digit landline in three groups. */
static bool
phone_ok(const char *s, bool *landline)
{
	size_t g[3], n = 0, len = 0, total = 0;
	const char *start = s;
	if (s == NULL)
		return false;
	for (const char *p = s;; p++) {
		if (*p == '-' || *p == '\0') {
			len = (size_t)(p - start);
			if (n == 3 || len == 0 || !all_digits(start, len))
				return false;
			g[n++] = len;
			total += len;
			if (*p == '\0')
				break;
			start = p + 1;
		}
	}
	if (n != 3 || s[0] != '0')
		return false;
	if (total == 11) {
		*landline = false;
		return g[0] == 3 && g[1] == 4 && g[2] == 4 &&
		       (strncmp(s, "090", 3) == 0 || strncmp(s, "080", 3) == 0 ||
		        strncmp(s, "070", 3) == 0) &&
		       s[4] != '0';
	}
	*landline = true;
	return total == 10 && g[0] >= 2 && g[0] <= 4 && g[2] == 4 && s[g[0] + 1] >= '2';
}

static bool
email_ok(const char *s)
{
	static const char *const domains[] = {"example.jp", "example.com", "example.ne.jp"};
	const char *at = s ? strchr(s, '@') : NULL;
	if (at == NULL || at == s || at - s > 64)
		return false;
	for (const char *p = s; p < at; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_'))
			return false;
	if (s[0] == '.' || at[-1] == '.')
		return false;
	for (size_t i = 0; i < NELEM(domains); i++)
		if (strcmp(at + 1, domains[i]) == 0)
			return true;
	return false;
}

static bool
one_of(const char *s, const char *const *set)
{
	for (; s != NULL && *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

static void
note_given(struct tally *t, const char *given, const char *gender)
{
	unsigned bit = strcmp(gender, "female") == 0 ? 1u : strcmp(gender, "male") == 0 ? 2u : 0u;
	size_t i;
	for (i = 0; i < t->ngiven; i++)
		if (strcmp(t->given[i].name, given) == 0)
			break;
	if (i == t->ngiven) {
		if (t->ngiven == NELEM(t->given) || strlen(given) >= sizeof(t->given[0].name)) {
			t->given_overflow = true;
			return;
		}
		snprintf(t->given[i].name, sizeof(t->given[i].name), "%s", given);
		t->given[i].genders = 0;
		t->ngiven++;
	}
	t->given[i].genders |= bit;
}

/* NULL if the record is sound, else what is wrong with it. Counts what the shares need. */
static const char *
record_problem(const char *key, const char *text, unsigned long ordinal, struct tally *t)
{
	static const char *const genders[] = {"female", "male", "unspecified", NULL};
	static const char *const grades[] = {"regular", "silver", "gold", "platinum", NULL};
	static const char *const statuses[] = {"active", "suspended", "withdrawn", NULL};
	const char *why = NULL;
	json_error_t e;
	json_t *rec = json_loads(text, JSON_REJECT_DUPLICATES, &e);
	char *again = NULL, want_id[16], want_url[80];

#define WHY(cond, msg)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			why = (msg);                                                               \
			goto done;                                                                 \
		}                                                                                  \
	} while (0)

	WHY(rec != NULL, "does not parse");
	again = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	WHY(again != NULL && strcmp(again, text) == 0, "not compact, unescaped JSON in key order");
	WHY(keys_exact(rec, top_keys), "top-level keys differ from SPEC section 5");

	snprintf(want_id, sizeof(want_id), "M%07lu", ordinal);
	const char *id = json_string_value(json_object_get(rec, "member_id"));
	WHY(id != NULL && strcmp(id, key) == 0, "member_id differs from the row key");
	WHY(strcmp(id, want_id) == 0, "member ids are not M0000001, M0000002, ...");

	json_t *name = json_object_get(rec, "name");
	WHY(keys_exact(name, name_keys), "name keys");
	const char *given = json_string_value(json_object_get(name, "given"));
	const char *family = json_string_value(json_object_get(name, "family"));
	WHY(given && *given && family && *family, "empty name");
	WHY(katakana_only(json_string_value(json_object_get(name, "family_kana"))) &&
	        katakana_only(json_string_value(json_object_get(name, "given_kana"))),
	    "kana readings are not katakana");

	json_t *birth = json_object_get(rec, "birth_date");
	WHY(date_ok(birth, "1940-01-01", "2007-12-31"), "birth_date");
	const char *gender = json_string_value(json_object_get(rec, "gender"));
	WHY(one_of(gender, genders), "gender");
	note_given(t, given, gender);
	t->female += strcmp(gender, "female") == 0;
	t->male += strcmp(gender, "male") == 0;
	t->unspecified += strcmp(gender, "unspecified") == 0;

	json_t *addr = json_object_get(rec, "address");
	WHY(keys_exact(addr, address_keys), "address keys");
	const char *postal = json_string_value(json_object_get(addr, "postal_code"));
	WHY(postal && strlen(postal) == 8 && all_digits(postal, 3) && postal[3] == '-' &&
	        all_digits(postal + 4, 4),
	    "postal_code");
	const char *pref = json_string_value(json_object_get(addr, "prefecture"));
	size_t pi = 0;
	while (pi < 47 && pref && strcmp(pref, prefecture_names[pi]) != 0)
		pi++;
	WHY(pi < 47, "prefecture");
	t->prefecture[pi]++;
	const char *city = json_string_value(json_object_get(addr, "city"));
	WHY(city && *city, "city");
	const char *street = json_string_value(json_object_get(addr, "street"));
	size_t sl = street ? strlen(street) : 0;
	WHY(sl > 5 && street[sl - 1] >= '0' && street[sl - 1] <= '9' && strchr(street, '-'),
	    "street");
	json_t *building = json_object_get(addr, "building");
	WHY(json_is_null(building) || (json_is_string(building) && *json_string_value(building)),
	    "building");
	t->building += json_is_string(building);

	bool landline = false;
	WHY(phone_ok(json_string_value(json_object_get(rec, "phone")), &landline), "phone");
	t->landline += landline;
	WHY(email_ok(json_string_value(json_object_get(rec, "email"))), "email");

	json_t *photo = json_object_get(rec, "photo");
	WHY(keys_exact(photo, photo_keys), "photo keys");
	snprintf(want_url, sizeof(want_url), "https://members.example/photos/%s.jpg", key);
	const char *url = json_string_value(json_object_get(photo, "url"));
	WHY(url && strcmp(url, want_url) == 0, "photo url");
	const char *sha = json_string_value(json_object_get(photo, "sha256"));
	WHY(sha && strlen(sha) == 64 && strspn(sha, "0123456789abcdef") == 64, "photo sha256");

	const char *mynum = json_string_value(json_object_get(rec, "my_number"));
	WHY(my_number_valid(mynum), "my_number check digit");
	if (t->my_numbers != NULL)
		memcpy(t->my_numbers[ordinal - 1], mynum, 13);

	/* Members join on or after their 18th birthday; 29 Feb compares correctly as text. */
	json_t *ms = json_object_get(rec, "membership");
	WHY(keys_exact(ms, membership_keys), "membership keys");
	json_t *joined = json_object_get(ms, "joined");
	WHY(date_ok(joined, "2005-01-01", "2026-12-31"), "membership.joined");
	char adult[16];
	const char *b = json_string_value(birth);
	snprintf(adult, sizeof(adult), "%04d%s", atoi(b) + 18, b + 4);
	const char *j = json_string_value(joined);
	WHY(strcmp(j, adult) >= 0, "joined before 18");
	WHY(one_of(json_string_value(json_object_get(ms, "grade")), grades), "grade");
	const char *status = json_string_value(json_object_get(ms, "status"));
	WHY(one_of(status, statuses), "status");
	t->withdrawn += strcmp(status, "withdrawn") == 0;

	json_t *taken = json_object_get(rec, "courses");
	WHY(json_is_array(taken) && json_array_size(taken) <= 4, "courses: 0..4");
	t->with_courses += json_array_size(taken) > 0;
	const char *prev = j;
	for (size_t i = 0; i < json_array_size(taken); i++) {
		json_t *c = json_array_get(taken, i);
		WHY(keys_exact(c, course_keys), "course keys");
		const char *code = json_string_value(json_object_get(c, "code"));
		WHY(code && strlen(code) == 5, "course code");
		WHY(json_string_length(json_object_get(c, "title")) > 0, "course title");
		for (size_t k = 0; k < i; k++)
			WHY(strcmp(code, json_string_value(json_object_get(json_array_get(taken, k),
			                                                   "code"))) != 0,
			    "a course twice");
		json_t *completed = json_object_get(c, "completed");
		WHY(date_ok(completed, prev, "2026-12-31"),
		    "courses not completed in order after joining");
		prev = json_string_value(completed);
	}
	json_t *certs = json_object_get(rec, "certifications");
	WHY(json_is_array(certs) && json_array_size(certs) <= 2, "certifications: 0..2");
	for (size_t i = 0; i < json_array_size(certs); i++) {
		json_t *c = json_array_get(certs, i);
		WHY(keys_exact(c, cert_keys), "certification keys");
		WHY(json_string_length(json_object_get(c, "code")) > 0, "certification code");
		json_t *issued = json_object_get(c, "issued");
		WHY(date_ok(issued, j, "2026-12-31"), "certification issued before joining");
		const char *num = json_string_value(json_object_get(c, "number"));
		size_t nl = num ? strlen(num) : 0;
		WHY(nl >= 10 && all_digits(num, 4) && num[4] == '-' &&
		        all_digits(num + 5, nl - 5) &&
		        strncmp(num, json_string_value(issued), 4) == 0,
		    "certification number is not <year issued>-NNNNN");
	}

	json_t *cs = json_object_get(rec, "consents");
	WHY(keys_exact(cs, consent_keys), "consents keys");
	WHY(json_is_boolean(json_object_get(cs, "marketing")) &&
	        json_is_boolean(json_object_get(cs, "survey")) &&
	        json_is_boolean(json_object_get(cs, "third_party_provision")) &&
	        json_is_boolean(json_object_get(cs, "foreign_provision")),
	    "consents are not booleans");
	WHY(!json_is_true(json_object_get(cs, "foreign_provision")) ||
	        json_is_true(json_object_get(cs, "third_party_provision")),
	    "a consent to provision abroad without the consent to third parties");
	t->foreign += json_is_true(json_object_get(cs, "foreign_provision"));
	t->marketing += json_is_true(json_object_get(cs, "marketing"));
	t->survey += json_is_true(json_object_get(cs, "survey"));
	t->third_party += json_is_true(json_object_get(cs, "third_party_provision"));
	json_t *consented = json_object_get(cs, "consented");
	WHY(json_is_array(consented), "consented is not an array");
	for (size_t i = 0; i < json_array_size(consented); i++) {
		const char *ct = json_string_value(json_array_get(consented, i));
		WHY(ct && strlen(ct) == 12 && strncmp(ct, "CT-", 3) == 0 && all_digits(ct + 3, 4) &&
		        ct[7] == '-' && all_digits(ct + 8, 4),
		    "consented holds something else than contract ids");
		t->consented += strcmp(ct, "CT-2026-0005") == 0;
	}

	json_t *rs = json_object_get(rec, "restrictions");
	WHY(keys_exact(rs, restriction_keys), "restrictions keys");
	WHY(json_is_boolean(json_object_get(rs, "stop_use")) &&
	        json_is_boolean(json_object_get(rs, "stop_third_party")),
	    "restrictions are not booleans");
	t->stop_use += json_is_true(json_object_get(rs, "stop_use"));
	t->stop_third_party += json_is_true(json_object_get(rs, "stop_third_party"));
#undef WHY
done:
	free(again);
	json_decref(rec);
	return why;
}

static sqlite3 *
open_ro(const char *path)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* Reads every row back and checks it; fills t. Returns the number of rows. */
static unsigned long
read_back(const char *path, struct tally *t)
{
	sqlite3 *db = open_ro(path);
	sqlite3_stmt *st = NULL;
	unsigned long rows = 0;

	CHECK(db != NULL, "%s does not open read-only", path);
	if (db == NULL)
		return 0;
	int rc = sqlite3_prepare_v2(db, "SELECT member_id, record FROM members ORDER BY member_id",
	                            -1, &st, NULL);
	CHECK(rc == SQLITE_OK, "select: %s", sqlite3_errmsg(db));
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *text = (const char *)sqlite3_column_text(st, 1);
		rows++;
		const char *why = record_problem(key ? key : "", text ? text : "", rows, t);
		if (why != NULL && t->bad++ == 0)
			snprintf(t->first_bad, sizeof(t->first_bad), "%s: %s", key ? key : "?",
			         why);
	}
	t->members = rows;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rows;
}

/* Whether every row of a equals the row of b with the same key; count the rows that differ. */
static unsigned long
rows_differing(const char *a, const char *b, unsigned long limit)
{
	sqlite3 *db = open_ro(a);
	sqlite3_stmt *st = NULL;
	unsigned long differ = 0;
	char sql[PATH_MAX + 64];

	if (db == NULL)
		return ULONG_MAX;
	snprintf(sql, sizeof(sql), "ATTACH '%s' AS other", b);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
	        db,
	        "SELECT count(*) FROM (SELECT * FROM main.members ORDER BY member_id "
	        "LIMIT ?1) AS x LEFT JOIN other.members AS y USING (member_id) "
	        "WHERE y.record IS NOT x.record",
	        -1, &st, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return ULONG_MAX;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
	differ =
	    sqlite3_step(st) == SQLITE_ROW ? (unsigned long)sqlite3_column_int64(st, 0) : ULONG_MAX;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return differ;
}

static int
cmp_number(const void *a, const void *b)
{
	return memcmp(a, b, 13);
}

static char tmpdir[] = "/tmp/test_members.XXXXXX";

static void
path_in_tmp(char *out, size_t outlen, const char *name)
{
	snprintf(out, outlen, "%s/%s", tmpdir, name);
}

static int
generate(const char *path, unsigned long n, unsigned long seed)
{
	char err[256] = "";
	int rc = members_generate(path, n, seed, err, sizeof(err));
	CHECK(rc == 0, "generate %lu members into %s: %s", n, path, err);
	return rc;
}

static void
test_small(void)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	struct tally *t = calloc(1, sizeof(*t));
	struct stat st;

	path_in_tmp(a, sizeof(a), "a.db");
	path_in_tmp(b, sizeof(b), "b.db");
	path_in_tmp(c, sizeof(c), "c.db");
	if (t == NULL || generate(a, 2000, 1) != 0) {
		free(t);
		return;
	}
	CHECK(stat(a, &st) == 0 && (st.st_mode & 07777) == 0600, "%s mode %o, want 0600", a,
	      (unsigned)(st.st_mode & 07777));
	t->my_numbers = calloc(2000, 13);
	CHECK(read_back(a, t) == 2000, "%lu rows, want 2000", t->members);
	CHECK(t->bad == 0, "%lu bad records, the first %s", t->bad, t->first_bad);
	if (t->my_numbers != NULL && t->members == 2000 && t->bad == 0) {
		qsort(t->my_numbers, 2000, 13, cmp_number);
		size_t dups = 0;
		for (size_t i = 1; i < 2000; i++)
			dups += memcmp(t->my_numbers[i - 1], t->my_numbers[i], 13) == 0;
		CHECK(dups == 0, "%zu My Numbers shared by two members", dups);
	}
	free(t->my_numbers);

	/* Deterministic for a seed, different for another. */
	if (generate(b, 2000, 1) == 0)
		CHECK(rows_differing(a, b, 2000) == 0, "same seed, different records");
	if (generate(c, 2000, 2) == 0) {
		unsigned long d = rows_differing(a, c, 2000);
		CHECK(d >= 1990 && d != ULONG_MAX, "another seed changed only %lu of 2000", d);
	}

	/* An existing file is never touched: a second run, or one on a symbolic link. */
	char err[256] = "", link[PATH_MAX];
	off_t size = stat(a, &st) == 0 ? st.st_size : -1;
	CHECK(members_generate(a, 10, 1, err, sizeof(err)) == -1 && err[0] != '\0',
	      "existing file not refused");
	CHECK(strstr(err, "exists") != NULL, "message should say the file exists: %s", err);
	CHECK(stat(a, &st) == 0 && st.st_size == size, "existing file changed");
	memset(t, 0, sizeof(*t));
	CHECK(read_back(a, t) == 2000 && t->bad == 0, "existing file damaged by the refusal");
	path_in_tmp(link, sizeof(link), "link.db");
	path_in_tmp(c, sizeof(c), "target.db");
	CHECK(symlink(c, link) == 0, "symlink: %s", strerror(errno));
	CHECK(members_generate(link, 10, 1, err, sizeof(err)) == -1, "symbolic link followed");
	CHECK(access(c, F_OK) != 0, "a file was created through the link");
	unlink(link);

	/* Bad arguments, and a failure that leaves nothing behind. */
	path_in_tmp(c, sizeof(c), "none/x.db");
	CHECK(members_generate(c, 10, 1, err, sizeof(err)) == -1 && err[0], "missing folder");
	path_in_tmp(c, sizeof(c), "big.db");
	CHECK(members_generate(c, MEMBERS_MAX + 1, 1, err, sizeof(err)) == -1 && err[0],
	      "over MEMBERS_MAX accepted");
	CHECK(access(c, F_OK) != 0, "a refused run left a file");
	CHECK(members_generate(NULL, 10, 1, err, sizeof(err)) == -1, "NULL path");
	CHECK(members_generate("", 10, 1, NULL, 0) == -1, "empty path, no err buffer");

	/* Zero members: a valid, empty table. */
	path_in_tmp(c, sizeof(c), "empty.db");
	if (generate(c, 0, 1) == 0) {
		memset(t, 0, sizeof(*t));
		CHECK(read_back(c, t) == 0 && t->bad == 0, "zero members: %lu rows", t->members);
	}
	free(t);
}

/* Shares over 20,000 members: each bound is many standard deviations wide, never flaky. */
static void
test_shares(void)
{
	char p[PATH_MAX], small[PATH_MAX];
	struct tally *t = calloc(1, sizeof(*t));

	path_in_tmp(p, sizeof(p), "shares.db");
	path_in_tmp(small, sizeof(small), "a.db");
	if (t == NULL || generate(p, 20000, 1) != 0) {
		free(t);
		return;
	}
	CHECK(read_back(p, t) == 20000, "%lu rows, want 20000", t->members);
	CHECK(t->bad == 0, "%lu bad records, the first %s", t->bad, t->first_bad);
	CHECK(rows_differing(small, p, 2000) == 0, "the first 2000 members depend on n");

	size_t missing = 0;
	for (size_t i = 0; i < 47; i++)
		if (t->prefecture[i] == 0) {
			missing++;
			fprintf(stderr, "no member in %s\n", prefecture_names[i]);
		}
	CHECK(missing == 0, "%zu prefectures without a member", missing);
	CHECK(t->prefecture[12] > t->prefecture[30] * 10, "Tokyo %lu vs Tottori %lu: not weighted",
	      t->prefecture[12], t->prefecture[30]);

	const struct {
		const char *what;
		unsigned long count;
		double lo, hi;
	} shares[] = {
	    {"consents.marketing", t->marketing, 0.57, 0.63},
	    {"consents.survey", t->survey, 0.47, 0.53},
	    {"consents.third_party_provision", t->third_party, 0.18, 0.22},
	    {"consents.foreign_provision", t->foreign, 0.04, 0.06},
	    {"consented CT-2026-0005", t->consented, 0.03, 0.05},
	    {"restrictions.stop_use", t->stop_use, 0.005, 0.015},
	    {"restrictions.stop_third_party", t->stop_third_party, 0.02, 0.04},
	    {"a building", t->building, 0.42, 0.48},
	    {"female", t->female, 0.65, 0.71},
	    {"male", t->male, 0.28, 0.34},
	    {"unspecified gender", t->unspecified, 0.004, 0.02},
	    {"landline", t->landline, 0.13, 0.17},
	    {"withdrawn", t->withdrawn, 0.065, 0.095},
	    {"some course", t->with_courses, 0.70, 0.80},
	};
	for (size_t i = 0; i < NELEM(shares); i++) {
		double s = (double)shares[i].count / 20000.0;
		CHECK(s >= shares[i].lo && s <= shares[i].hi, "share of %s %.4f outside %.3f..%.3f",
		      shares[i].what, s, shares[i].lo, shares[i].hi);
	}

	CHECK(!t->given_overflow && t->ngiven >= 150, "%zu distinct given names", t->ngiven);
	size_t both = 0;
	for (size_t i = 0; i < t->ngiven; i++)
		if (t->given[i].genders == 3) {
			both++;
			fprintf(stderr, "%s is both female and male\n", t->given[i].name);
		}
	CHECK(both == 0, "%zu given names with both genders", both);
	free(t);
}

/* A database of the bench's size (how long it takes is a bench figure, not a unit check). */
static void
test_large(void)
{
	char p[PATH_MAX];

	path_in_tmp(p, sizeof(p), "large.db");
	if (generate(p, 100000, 3) != 0)
		return;
	sqlite3 *db = open_ro(p);
	sqlite3_stmt *st = NULL;
	CHECK(db != NULL, "large.db does not open");
	if (db == NULL)
		return;
	if (sqlite3_prepare_v2(db,
	                       "SELECT count(*), max(member_id), (SELECT journal_mode FROM "
	                       "pragma_journal_mode) FROM members",
	                       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		CHECK(sqlite3_column_int64(st, 0) == 100000, "count %lld",
		      (long long)sqlite3_column_int64(st, 0));
		const char *max = (const char *)sqlite3_column_text(st, 1);
		CHECK(max && strcmp(max, "M0100000") == 0, "last id %s", max ? max : "NULL");
		const char *mode = (const char *)sqlite3_column_text(st, 2);
		CHECK(mode && strcmp(mode, "wal") == 0, "journal mode %s", mode ? mode : "NULL");
	} else {
		CHECK(0, "query large.db: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
remove_tmp(void)
{
	static const char *const names[] = {"a.db",      "b.db",     "c.db",      "empty.db",
	                                    "shares.db", "large.db", "target.db", "link.db"};
	char p[PATH_MAX];
	for (size_t i = 0; i < NELEM(names); i++) {
		path_in_tmp(p, sizeof(p), names[i]);
		unlink(p);
	}
	rmdir(tmpdir);
}

int
main(void)
{
	test_check_digits();
	if (mkdtemp(tmpdir) == NULL) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return check_done();
	}
	test_small();
	test_shares();
	test_large();
	remove_tmp();
	return check_done();
}
