/* text — the one rule for free text that people type: reasons, notes, justifications. */
#ifndef PDGATE_TEXT_H
#define PDGATE_TEXT_H

#include <stddef.h>

/*
 * The rule. A free text is 1..max characters (code points) of well-formed UTF-8 (utf8.h), and
 *  - no control character: C0 (U+0000..U+001F, tab and line feed included: a free text is one
 *    line), DEL (U+007F), C1 (U+0080..U+009F: U+009B is a terminal's CSI, U+0085 a line break);
 *  - no line or paragraph separator (U+2028, U+2029), for the same reason;
 *  - no bidirectional control (Unicode's Bidi_Control: U+061C, U+200E, U+200F, U+202A..U+202E,
 *    U+2066..U+2069): they make a line in the console, a CSV or a terminal read otherwise than
 *    the characters it holds (after U+202E, "abc" shows as "cba");
 *  - not blank: one character at least that is neither white space (Unicode's White_Space:
 *    U+0020, U+00A0, U+1680, U+2000..U+200A, U+202F, U+205F, U+3000, and those refused above)
 *    nor invisible (U+200B zero width space, U+FEFF zero width no-break space).
 * Anything else is accepted, white space inside and at the edges included: the rule refuses, it
 * never rewrites, so what is recorded is what was typed.
 */

/* The rule in the words of error messages, after "1..N characters, ". */
#define TEXT_RULE "on one line, not blank, no control characters"

enum text_error {
	TEXT_OK = 0,
	TEXT_NOT_UTF8, /* not well-formed UTF-8 */
	TEXT_CONTROL,  /* a control character, U+2028 or U+2029 */
	TEXT_BIDI,     /* a bidirectional control */
	TEXT_EMPTY,    /* no characters */
	TEXT_TOO_LONG, /* more than max characters */
	TEXT_BLANK,    /* only white space and invisible characters */
};

/* Whether s[0..len) (borrowed; need not end in NUL, and a NUL in it is a control character) is
 * a free text of at most max characters: TEXT_OK, or the first rule it breaks in the order of
 * the enum. */
enum text_error text_check(const char *s, size_t len, size_t max);

#define TEXT_EXPLAIN_MAX 128 /* bytes text_explain writes at most */

/* The message for a refused free text: why, then the rule ("blank; 1..512 characters, on one
 * line, not blank, no control characters"), written into buf; returns buf. */
const char *text_explain(enum text_error e, size_t max, char *buf, size_t len);

#endif
