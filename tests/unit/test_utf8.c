/* Tests of utf8: strict decoding (RFC 3629), at every boundary of the encoding. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "utf8.h"

static void
test_decode(void)
{
	static const struct {
		const char *what, *s;
		size_t len; /* 0: strlen(s) */
		size_t want;
		uint32_t cp;
	} rows[] = {
	    {"empty", "", 0, 0, 0},
	    {"NUL", "\x00", 1, 1, 0x00},
	    {"A", "A", 0, 1, 0x41},
	    {"last of 1 byte", "\x7f", 0, 1, 0x7f},
	    {"a continuation byte alone", "\x80", 0, 0, 0},
	    {"the last continuation byte alone", "\xbf", 0, 0, 0},
	    {"overlong NUL", "\xc0\x80", 0, 0, 0},
	    {"overlong U+007F", "\xc1\xbf", 0, 0, 0},
	    {"first of 2 bytes", "\xc2\x80", 0, 2, 0x80},
	    {"e acute", "\xc3\xa9", 0, 2, 0xe9},
	    {"last of 2 bytes", "\xdf\xbf", 0, 2, 0x7ff},
	    {"overlong NUL in 3", "\xe0\x80\x80", 0, 0, 0},
	    {"overlong U+07FF in 3", "\xe0\x9f\xbf", 0, 0, 0},
	    {"first of 3 bytes", "\xe0\xa0\x80", 0, 3, 0x800},
	    {"hiragana a", "\xe3\x81\x82", 0, 3, 0x3042},
	    {"last before the surrogates", "\xed\x9f\xbf", 0, 3, 0xd7ff},
	    {"first high surrogate", "\xed\xa0\x80", 0, 0, 0},
	    {"last high surrogate", "\xed\xaf\xbf", 0, 0, 0},
	    {"first low surrogate", "\xed\xb0\x80", 0, 0, 0},
	    {"last low surrogate", "\xed\xbf\xbf", 0, 0, 0},
	    {"first after the surrogates", "\xee\x80\x80", 0, 3, 0xe000},
	    {"a noncharacter is a scalar value", "\xef\xbf\xbe", 0, 3, 0xfffe},
	    {"last of 3 bytes", "\xef\xbf\xbf", 0, 3, 0xffff},
	    {"overlong NUL in 4", "\xf0\x80\x80\x80", 0, 0, 0},
	    {"overlong U+FFFF in 4", "\xf0\x8f\xbf\xbf", 0, 0, 0},
	    {"first of 4 bytes", "\xf0\x90\x80\x80", 0, 4, 0x10000},
	    {"an emoji", "\xf0\x9f\x98\x80", 0, 4, 0x1f600},
	    {"a surrogate pair in CESU-8", "\xed\xa0\xbd\xed\xb8\x80", 0, 0, 0},
	    {"U+10FFFF", "\xf4\x8f\xbf\xbf", 0, 4, 0x10ffff},
	    {"U+110000", "\xf4\x90\x80\x80", 0, 0, 0},
	    {"lead F5", "\xf5\x80\x80\x80", 0, 0, 0},
	    {"lead F7", "\xf7\xbf\xbf\xbf", 0, 0, 0},
	    {"5 bytes", "\xf8\x88\x80\x80\x80", 0, 0, 0},
	    {"6 bytes", "\xfc\x84\x80\x80\x80\x80", 0, 0, 0},
	    {"FE", "\xfe", 0, 0, 0},
	    {"FF", "\xff", 0, 0, 0},
	    {"2 of 2 cut", "\xc2", 0, 0, 0},
	    {"3 of 3 cut after 1", "\xe3", 0, 0, 0},
	    {"3 of 3 cut after 2", "\xe3\x81", 0, 0, 0},
	    {"4 of 4 cut after 3", "\xf0\x9f\x98", 0, 0, 0},
	    {"cut by len, not by NUL", "\xe3\x81\x82", 2, 0, 0},
	    {"a NUL for a continuation byte", "\xe3\x00\x82", 3, 0, 0},
	    {"ASCII for a continuation byte", "\xc2\x41", 0, 0, 0},
	    {"a lead byte for a continuation byte", "\xc2\xc2\x80", 0, 0, 0},
	    {"third byte not a continuation", "\xe3\x81\x41", 0, 0, 0},
	    {"fourth byte not a continuation", "\xf0\x9f\x98\xc0", 0, 0, 0},
	    {"what follows is not read", "\xc3\xa9\xff", 0, 2, 0xe9},
	    {"one code point at a time", "ab", 0, 1, 0x61},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		uint32_t cp = 0xdeadbeef;
		size_t len = rows[i].len ? rows[i].len : strlen(rows[i].s);
		size_t got = utf8_decode(rows[i].s, len, &cp);
		CHECK(got == rows[i].want, "%s: length %zu, want %zu", rows[i].what, got,
		      rows[i].want);
		if (rows[i].want > 0 && got == rows[i].want)
			CHECK(cp == rows[i].cp, "%s: U+%04X, want U+%04X", rows[i].what,
			      (unsigned)cp, (unsigned)rows[i].cp);
	}
}

static void
test_count(void)
{
	static const struct {
		const char *s;
		size_t len; /* 0: strlen(s) */
		long want;
	} rows[] = {
	    {"", 0, 0},
	    {"abc", 0, 3},
	    {"a\0b", 3, 3},
	    {"\xe6\x9d\xb1\xe4\xba\xac", 0, 2},
	    {"\xc3\xa9\xf0\x9f\x98\x80x", 0, 3},
	    {"abc\xe3\x81", 0, -1},
	    {"\x80"
	     "abc",
	     0, -1},
	    {"ab\xc0\x80"
	     "cd",
	     0, -1},
	    {"ab\xed\xa0\x80", 0, -1},
	    {"\xe6\x9d\xb1\xe4\xba\xac", 5, -1}, /* len cuts the second character */
	    {"\xe6\x9d\xb1\xe4\xba\xac", 3, 1},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		size_t len = rows[i].len ? rows[i].len : strlen(rows[i].s);
		long got = utf8_count(rows[i].s, len);
		CHECK(got == rows[i].want, "row %zu: %ld code points, want %ld", i, got,
		      rows[i].want);
	}
}

/* RFC 3629's encoding of a scalar value, in its one shortest form. */
static size_t
encode(uint32_t cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool
scalar(uint32_t cp)
{
	return cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
}

/* Every code point U+0000..U+10FFFF: a scalar value decodes to itself, a surrogate does not;
 * each with one byte less does not decode at all. */
static void
test_every_code_point(void)
{
	unsigned long bad = 0, bad_cut = 0, n = 0;

	for (uint32_t cp = 0; cp <= 0x10ffff; cp++, n++) {
		unsigned char b[4];
		uint32_t got = 0;
		size_t len = encode(cp, b);
		size_t r = utf8_decode((const char *)b, len, &got);
		bool ok = scalar(cp) ? r == len && got == cp : r == 0;
		if (!ok && bad++ == 0)
			fprintf(stderr, "U+%04X: length %zu, U+%04X\n", (unsigned)cp, r,
			        (unsigned)got);
		if (len > 1 && utf8_decode((const char *)b, len - 1, &got) != 0 && bad_cut++ == 0)
			fprintf(stderr, "U+%04X cut by a byte decodes\n", (unsigned)cp);
	}
	CHECK(n == 0x110000, "%lu code points", n);
	CHECK(bad == 0, "%lu code points decode wrong", bad);
	CHECK(bad_cut == 0, "%lu cut sequences decode", bad_cut);
}

/*
 * Every sequence of one, two and three bytes, against the rule said another way: what decodes
 * is exactly the shortest encoding of a scalar value, and the bytes after it are not read. So
 * a result n > 0 must re-encode to the first n bytes; a result 0 must leave no prefix that is
 * such an encoding.
 */
static bool
well_formed_prefix(const unsigned char *b, size_t len)
{
	for (size_t k = 1; k <= len && k <= 4; k++) {
		unsigned char e[4];
		uint32_t cp;
		/* read k bytes as a k-byte pattern, without any check, then see if it is canonical
		 */
		if (k == 1)
			cp = b[0];
		else
			cp = b[0] & (0x7f >> k);
		for (size_t j = 1; j < k; j++)
			cp = cp << 6 | (b[j] & 0x3f);
		if (scalar(cp) && encode(cp, e) == k && memcmp(e, b, k) == 0)
			return true;
	}
	return false;
}

static bool
agrees(const unsigned char *b, size_t len)
{
	uint32_t cp = 0;
	unsigned char e[4];
	size_t r = utf8_decode((const char *)b, len, &cp);

	if (r == 0)
		return !well_formed_prefix(b, len);
	return r <= len && scalar(cp) && encode(cp, e) == r && memcmp(e, b, r) == 0;
}

static void
test_every_short_sequence(void)
{
	unsigned long checked = 0, bad = 0;
	unsigned char b[4];

	for (size_t len = 1; len <= 3; len++) {
		unsigned long total = 1ul << (8 * len);
		for (unsigned long v = 0; v < total; v++, checked++) {
			for (size_t j = 0; j < len; j++)
				b[j] = (unsigned char)(v >> (8 * (len - 1 - j)));
			if (!agrees(b, len) && bad++ == 0)
				fprintf(stderr, "%zu bytes %06lx do not decode by the rule\n", len,
				        v);
		}
	}
	CHECK(checked == 256ul + 65536ul + 16777216ul, "%lu sequences", checked);
	/* four bytes: every lead from F0 and every second byte, the last two at their edges */
	static const unsigned char edge[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0xbf, 0xc0, 0xff};
	for (unsigned lead = 0xf0; lead <= 0xff; lead++)
		for (unsigned b1 = 0; b1 <= 0xff; b1++)
			for (size_t j = 0; j < sizeof edge * sizeof edge; j++, checked++) {
				b[0] = (unsigned char)lead;
				b[1] = (unsigned char)b1;
				b[2] = edge[j / sizeof edge];
				b[3] = edge[j % sizeof edge];
				if (!agrees(b, 4) && bad++ == 0)
					fprintf(stderr,
					        "%02x %02x %02x %02x do not decode by the rule\n",
					        b[0], b[1], b[2], b[3]);
			}
	CHECK(bad == 0, "%lu sequences decode against the rule", bad);
}

int
main(void)
{
	test_decode();
	test_count();
	test_every_code_point();
	test_every_short_sequence();
	return check_done();
}
