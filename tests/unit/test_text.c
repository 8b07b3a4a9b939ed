/* test_text — the free-text rule: one row per rule, then every C1 and every bidi control. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "text.c" /* text_strerror is static */

#define MAX 8

static const char *const names[] = {
    [TEXT_OK] = "ok",       [TEXT_NOT_UTF8] = "not_utf8", [TEXT_CONTROL] = "control",
    [TEXT_BIDI] = "bidi",   [TEXT_EMPTY] = "empty",       [TEXT_TOO_LONG] = "too_long",
    [TEXT_BLANK] = "blank",
};

/* s as UTF-8 with the code point cp in the middle: "a" cp "b". */
static size_t
around(unsigned cp, char *buf)
{
	size_t n = 0;
	buf[n++] = 'a';
	if (cp < 0x80) {
		buf[n++] = (char)cp;
	} else if (cp < 0x800) {
		buf[n++] = (char)(0xC0 | cp >> 6);
		buf[n++] = (char)(0x80 | (cp & 0x3F));
	} else {
		buf[n++] = (char)(0xE0 | cp >> 12);
		buf[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
		buf[n++] = (char)(0x80 | (cp & 0x3F));
	}
	buf[n++] = 'b';
	return n;
}

static void
rules(void)
{
	static const struct {
		const char *what, *s;
		size_t len; /* 0: strlen(s) */
		enum text_error want;
	} cases[] = {
	    {"plain ASCII", "order 17", 0, TEXT_OK},
	    {"Japanese", "漏えいの疑い", 0, TEXT_OK},
	    {"an ideographic space inside", "委託先\xe3\x80\x80調査", 0, TEXT_OK},
	    {"ideographic spaces around a word", "\xe3\x80\x80調査\xe3\x80\x80", 0, TEXT_OK},
	    {"ASCII spaces around a word", "  x  ", 0, TEXT_OK},
	    {"a no-break space inside", "a\xc2\xa0x", 0, TEXT_OK},
	    {"a zero width joiner (emoji)", "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb", 0,
	     TEXT_OK},
	    {"a 4-byte character", "\xf0\xa0\xae\xb7", 0, TEXT_OK},
	    {"exactly max characters", "12345678", 0, TEXT_OK},
	    {"exactly max characters of 3 bytes", "あいうえおかきく", 0, TEXT_OK},
	    {"max + 1 characters", "123456789", 0, TEXT_TOO_LONG},
	    {"max + 1 characters of 3 bytes", "あいうえおかきくけ", 0, TEXT_TOO_LONG},
	    {"empty", "", 0, TEXT_EMPTY},
	    {"NUL", "a\0b", 3, TEXT_CONTROL},
	    {"C0 (ESC)", "a\x1b[2Jb", 0, TEXT_CONTROL},
	    {"tab", "a\tb", 0, TEXT_CONTROL},
	    {"newline", "a\nb", 0, TEXT_CONTROL},
	    {"carriage return", "a\rb", 0, TEXT_CONTROL},
	    {"DEL", "a\x7fx", 0, TEXT_CONTROL},
	    {"C1 CSI (U+009B)", "a\xc2\x9b[2J", 0, TEXT_CONTROL},
	    {"C1 NEL (U+0085)", "a\xc2\x85x", 0, TEXT_CONTROL},
	    {"line separator", "a\xe2\x80\xa8x", 0, TEXT_CONTROL},
	    {"paragraph separator", "a\xe2\x80\xa9x", 0, TEXT_CONTROL},
	    {"right-to-left override", "a\xe2\x80\xaex", 0, TEXT_BIDI},
	    {"right-to-left isolate", "a\xe2\x81\xa7x\xe2\x81\xa9", 0, TEXT_BIDI},
	    {"right-to-left mark", "1\xe2\x80\x8f-2", 0, TEXT_BIDI},
	    {"only an ASCII space", " ", 0, TEXT_BLANK},
	    {"only ASCII spaces", "     ", 0, TEXT_BLANK},
	    {"only U+3000", "\xe3\x80\x80", 0, TEXT_BLANK},
	    {"only U+3000, several", "\xe3\x80\x80\xe3\x80\x80\xe3\x80\x80", 0, TEXT_BLANK},
	    {"a no-break space", "\xc2\xa0", 0, TEXT_BLANK},
	    {"en quad .. hair space", "\xe2\x80\x80\xe2\x80\x8a", 0, TEXT_BLANK},
	    {"narrow no-break and math spaces", "\xe2\x80\xaf\xe2\x81\x9f", 0, TEXT_BLANK},
	    {"ogham space mark", "\xe1\x9a\x80", 0, TEXT_BLANK},
	    {"zero width space", "\xe2\x80\x8b", 0, TEXT_BLANK},
	    {"zero width no-break space (BOM)", "\xef\xbb\xbf", 0, TEXT_BLANK},
	    {"blanks of every kind", " \xe3\x80\x80\xe2\x80\x8b\xef\xbb\xbf", 0, TEXT_BLANK},
	    {"invalid byte", "a\xff", 0, TEXT_NOT_UTF8},
	    {"lone continuation byte", "\x80", 0, TEXT_NOT_UTF8},
	    {"overlong '/'", "\xc0\xaf", 0, TEXT_NOT_UTF8},
	    {"overlong U+3000", "\xf0\x83\x80\x80", 0, TEXT_NOT_UTF8},
	    {"surrogate", "\xed\xa0\x80", 0, TEXT_NOT_UTF8},
	    {"above U+10FFFF", "\xf4\x90\x80\x80", 0, TEXT_NOT_UTF8},
	    {"truncated sequence", "\xe3\x80", 0, TEXT_NOT_UTF8},
	    {"not UTF-8 outranks a control", "\x01\xff", 0, TEXT_NOT_UTF8},
	    {"a control outranks too long", "1234567890\n", 0, TEXT_CONTROL},
	    {"too long outranks blank", "         ", 0, TEXT_TOO_LONG},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].s);
		enum text_error e = text_check(cases[i].s, len, MAX);
		CHECK(e == cases[i].want, "%s: %s, want %s", cases[i].what, names[e],
		      names[cases[i].want]);
	}
	/* the length is len, not up to a NUL: the bytes after it are not read */
	CHECK(text_check("ab\n", 2, MAX) == TEXT_OK, "len bounds the text");
	CHECK(text_check(NULL, 0, MAX) == TEXT_EMPTY, "NULL with length 0");
}

static void
ranges(void)
{
	char buf[8];
	for (unsigned cp = 0; cp < 0x20; cp++)
		CHECK(text_check(buf, around(cp, buf), MAX) == TEXT_CONTROL, "C0 U+%04X", cp);
	for (unsigned cp = 0x7F; cp <= 0x9F; cp++)
		CHECK(text_check(buf, around(cp, buf), MAX) == TEXT_CONTROL, "DEL/C1 U+%04X", cp);
	static const unsigned bidi[] = {0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C,
	                                0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069};
	for (size_t i = 0; i < sizeof(bidi) / sizeof(bidi[0]); i++)
		CHECK(text_check(buf, around(bidi[i], buf), MAX) == TEXT_BIDI, "bidi U+%04X",
		      bidi[i]);
	/* the neighbours of the refused ranges are characters like any other */
	static const unsigned fine[] = {0x20,   0x7E,   0xA0,   0xA1,   0x061B, 0x061D,
	                                0x200D, 0x2027, 0x202F, 0x2065, 0x206A, 0x3000};
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
		CHECK(text_check(buf, around(fine[i], buf), MAX) == TEXT_OK,
		      "U+%04X between letters", fine[i]);
}

static void
messages(void)
{
	char buf[TEXT_EXPLAIN_MAX];
	for (int e = TEXT_OK; e <= TEXT_BLANK; e++)
		CHECK(text_strerror((enum text_error)e)[0] != '\0', "strerror %d", e);
	CHECK(strcmp(text_explain(TEXT_BLANK, 512, buf, sizeof(buf)),
	             "blank; 1..512 characters, on one line, not blank, no control characters") ==
	          0,
	      "explain: %s", buf);
	text_explain(TEXT_CONTROL, (size_t)-1, buf, sizeof(buf));
	CHECK(strlen(buf) < sizeof(buf) - 1, "TEXT_EXPLAIN_MAX holds the longest: %s", buf);
}

int
main(void)
{
	rules();
	ranges();
	messages();
	return check_done();
}
