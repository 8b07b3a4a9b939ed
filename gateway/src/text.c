/* text — the one rule for free text that people type; no I/O. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "text.h"
#include "utf8.h"

static bool
is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

static bool
is_bidi(uint32_t cp)
{
	return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/* White_Space (its controls never get this far), U+200B and U+FEFF. */
static bool
is_blank(uint32_t cp)
{
	return cp == 0x20 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) ||
	       cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

enum text_error
text_check(const char *s, size_t len, size_t max)
{
	bool control = false, bidi = false, seen = false;
	size_t count = 0, i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		if (n == 0)
			return TEXT_NOT_UTF8;
		control = control || is_control(cp);
		bidi = bidi || is_bidi(cp);
		seen = seen || !is_blank(cp);
		count++;
		i += n;
	}
	if (control)
		return TEXT_CONTROL;
	if (bidi)
		return TEXT_BIDI;
	if (count == 0)
		return TEXT_EMPTY;
	if (count > max)
		return TEXT_TOO_LONG;
	return seen ? TEXT_OK : TEXT_BLANK;
}

/* Why, in a few words ("blank"); static text. */
static const char *
text_strerror(enum text_error e)
{
	switch (e) {
	case TEXT_OK:
		return "acceptable";
	case TEXT_NOT_UTF8:
		return "not UTF-8";
	case TEXT_CONTROL:
		return "holds a control character or a line break";
	case TEXT_BIDI:
		return "holds a bidirectional control character";
	case TEXT_EMPTY:
		return "empty";
	case TEXT_TOO_LONG:
		return "too long";
	case TEXT_BLANK:
		return "blank";
	}
	return "unknown";
}

const char *
text_explain(enum text_error e, size_t max, char *buf, size_t len)
{
	snprintf(buf, len, "%s; 1..%zu characters, " TEXT_RULE, text_strerror(e), max);
	return buf;
}
