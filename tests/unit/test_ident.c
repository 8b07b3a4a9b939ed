/* test_ident — the identifier grammars: one table of ids, each row the verdict of every grammar,
 * then the length boundaries, every byte value in every position, and a NUL inside. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ident.h"

/* What the grammars say, by a rule stated again here: strspn over the allowed bytes. */
static const char lower[] = "abcdefghijklmnopqrstuvwxyz";
static const char name_set[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
static const char member_set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
static const char purpose_set[] = "abcdefghijklmnopqrstuvwxyz0123456789_";

static void
test_table(void)
{
	static const struct {
		const char *s;
		bool name, member, purpose;
	} rows[] = {
	    /* id                 name   member purpose */
	    {"sakura-mail", true, true, false},
	    {"a", true, true, true},
	    {"0abc", true, true, false},
	    {"contact", true, true, true},
	    {"service_delivery", false, true, true},
	    {"M0000003", false, true, false},
	    {"m0000003", true, true, true},
	    {"-abc", false, true, false},
	    {"abc-", true, true, false},
	    {"_abc", false, true, false},
	    {"Sakura", false, true, false},
	    {"a_b", false, true, true},
	    {"a.b", false, false, false},
	    {"a b", false, false, false},
	    {"a,URI:x", false, false, false},
	    {"a/b", false, false, false},
	    {"../x", false, false, false},
	    {"a\tb", false, false, false},
	    {"a\nb", false, false, false},
	    {"\xe3\x81\x82", false, false, false}, /* あ */
	    {"a\xc3\xa9", false, false, false},    /* aé */
	    {"\xef\xbd\x81", false, false, false}, /* ａ, fullwidth */
	    {"a\xc2\xa0", false, false, false},    /* a, no-break space */
	    {"\xff", false, false, false},
	    {"", false, false, false},
	    {"1", true, true, false},
	    {"9lives", true, true, false},
	    {"x%2Fy", false, false, false},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *s = rows[i].s;
		size_t n = strlen(s);
		CHECK(ident_name_ok(s, n) == rows[i].name, "name '%s'", s);
		CHECK(ident_member_ok(s, n) == rows[i].member, "member '%s'", s);
		CHECK(ident_purpose_ok(s, n) == rows[i].purpose, "purpose '%s'", s);
	}
	CHECK(!ident_name_ok(NULL, 0) && !ident_member_ok(NULL, 0) && !ident_purpose_ok(NULL, 0),
	      "NULL");
	CHECK(!ident_name_ok(NULL, 3) && !ident_member_ok(NULL, 3) && !ident_purpose_ok(NULL, 3),
	      "NULL with a length");
}

/* n bytes of c, after first. */
static size_t
fill(char *buf, char first, char c, size_t n)
{
	memset(buf, c, n);
	if (n > 0)
		buf[0] = first;
	buf[n] = '\0';
	return n;
}

static void
test_lengths(void)
{
	char buf[80];

	for (size_t n = 0; n <= 70; n++) {
		fill(buf, 'a', 'a', n);
		CHECK(ident_name_ok(buf, n) == (n >= 1 && n <= 63), "name of %zu", n);
		CHECK(ident_member_ok(buf, n) == (n >= 1 && n <= 64), "member of %zu", n);
		CHECK(ident_purpose_ok(buf, n) == (n >= 1 && n <= 64), "purpose of %zu", n);
	}
	/* the last characters of each class at the boundaries */
	fill(buf, '0', '-', 63);
	CHECK(ident_name_ok(buf, 63), "name: 0 and 62 hyphens");
	fill(buf, '0', '-', 64);
	CHECK(!ident_name_ok(buf, 64), "name: 0 and 63 hyphens");
	fill(buf, '-', '_', 64);
	CHECK(ident_member_ok(buf, 64), "member: - and 63 underscores");
	fill(buf, '-', '_', 65);
	CHECK(!ident_member_ok(buf, 65), "member: 65");
	fill(buf, 'z', '_', 64);
	CHECK(ident_purpose_ok(buf, 64), "purpose: z and 63 underscores");
	fill(buf, 'z', '_', 65);
	CHECK(!ident_purpose_ok(buf, 65), "purpose: 65");
	CHECK(IDENT_NAME_MAX == 63 && IDENT_MEMBER_MAX == 64 && IDENT_PURPOSE_MAX == 64, "maxima");
	CHECK(strcmp(IDENT_NAME_PATTERN, "^[a-z0-9][a-z0-9-]{0,62}$") == 0 &&
	          strcmp(IDENT_MEMBER_PATTERN, "^[A-Za-z0-9_-]{1,64}$") == 0 &&
	          strcmp(IDENT_PURPOSE_PATTERN, "^[a-z][a-z0-9_]{0,63}$") == 0,
	      "the patterns the messages quote");
}

/* Every byte value, first and later in an id, against the sets above. */
static void
test_bytes(void)
{
	for (int b = 0; b < 256; b++) {
		char first[2] = {(char)b, 0}, later[3] = {'a', (char)b, 0};
		bool nul = b == 0;
		bool in_name = !nul && strchr(name_set, b) != NULL;
		bool in_member = !nul && strchr(member_set, b) != NULL;
		bool in_purpose = !nul && strchr(purpose_set, b) != NULL;
		bool lower_first = !nul && strchr(lower, b) != NULL;

		CHECK(ident_name_ok(first, 1) == (in_name && b != '-'), "name first 0x%02x", b);
		CHECK(ident_name_ok(later, 2) == in_name, "name later 0x%02x", b);
		CHECK(ident_member_ok(first, 1) == in_member, "member first 0x%02x", b);
		CHECK(ident_member_ok(later, 2) == in_member, "member later 0x%02x", b);
		CHECK(ident_purpose_ok(first, 1) == lower_first, "purpose first 0x%02x", b);
		CHECK(ident_purpose_ok(later, 2) == in_purpose, "purpose later 0x%02x", b);
		if (b >= 0x80)
			CHECK(!in_name && !in_member && !in_purpose, "0x%02x is in no set", b);
	}
}

/* The length is the id: a NUL inside is a byte outside every grammar, never its end. */
static void
test_nul(void)
{
	static const char s[] = "abc\0def";

	CHECK(!ident_name_ok(s, 7) && !ident_member_ok(s, 7) && !ident_purpose_ok(s, 7),
	      "a NUL inside");
	CHECK(!ident_name_ok(s, 4) && !ident_member_ok(s, 4) && !ident_purpose_ok(s, 4),
	      "a NUL at the end");
	CHECK(ident_name_ok(s, 3) && ident_member_ok(s, 3) && ident_purpose_ok(s, 3),
	      "the bytes before it");
	CHECK(!ident_name_ok("", 1) && !ident_member_ok("", 1) && !ident_purpose_ok("", 1),
	      "one NUL");
}

/* Countries: the assigned codes only. Every pair of capitals is asked, so that a code the
 * search cannot find (the list out of order) shows as a count short of 249. */
static void
test_country(void)
{
	static const char *const assigned[] = {"JP", "US", "SG", "GB", "FR", "DE", "KR", "CN",
	                                       "TW", "HK", "AD", "AX", "ZW", "IN", "BR", "SS"};
	static const char *const not_assigned[] = {
	    "UK", "EU", "XX", "AA", "ZZ",  "QM", "QZ", "XA", "XK", /* reserved, user-assigned */
	    "AN", "CS", "YU", "SU",                                /* withdrawn */
	    "jp", "Jp", "jP", "J",  "JPN", "",   "J1", "1P", "J-"};
	char pair[3] = {0};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(assigned) / sizeof(assigned[0]); i++)
		CHECK(ident_country_ok(assigned[i], strlen(assigned[i])), "country %s",
		      assigned[i]);
	for (size_t i = 0; i < sizeof(not_assigned) / sizeof(not_assigned[0]); i++)
		CHECK(!ident_country_ok(not_assigned[i], strlen(not_assigned[i])),
		      "not a country: %s", not_assigned[i]);
	for (char a = 'A'; a <= 'Z'; a++)
		for (char b = 'A'; b <= 'Z'; b++) {
			pair[0] = a;
			pair[1] = b;
			n += ident_country_ok(pair, 2);
		}
	CHECK(n == 249, "%zu assigned codes, want 249", n);
	CHECK(!ident_country_ok("JP", 1) && !ident_country_ok("JP\0", 3) &&
	          !ident_country_ok(NULL, 2),
	      "the length is the code");
	CHECK(strcmp(IDENT_COUNTRY_HOME, "JP") == 0 &&
	          strcmp(IDENT_COUNTRY_PATTERN, "^[A-Z]{2}$") == 0,
	      "Japan, the pattern");
}

/* Data set ids: AN-, four digits, -, four to six digits, nothing else. */
static void
test_dataset(void)
{
	static const struct {
		const char *s;
		bool ok;
	} rows[] = {
	    {"AN-2026-0001", true},      {"AN-2026-000001", true},
	    {"AN-0000-9999", true},      {"AN-2026-001", false},
	    {"AN-2026-0000001", false},  {"an-2026-0001", false},
	    {"AN-26-0001", false},       {"AN-2026_0001", false},
	    {"AN2026-00010", false},     {"AN-2026-00a1", false},
	    {"AN-2026-0001 ", false},    {"XAN-2026-0001", false},
	    {"AN-２０２６-0001", false}, {"", false},
	    {"AN--2026-0001", false},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(ident_dataset_ok(rows[i].s, strlen(rows[i].s)) == rows[i].ok, "dataset '%s'",
		      rows[i].s);
	CHECK(!ident_dataset_ok(NULL, 12), "NULL");
	CHECK(!ident_dataset_ok("AN-2026-0001", 11), "cut short by len");
	CHECK(!ident_dataset_ok("AN-2026-\0"
	                        "0001",
	                        13),
	      "a NUL inside");
}

int
main(void)
{
	test_table();
	test_country();
	test_lengths();
	test_bytes();
	test_nul();
	test_dataset();
	return check_done();
}
