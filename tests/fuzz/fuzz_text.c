/* fuzz_text — the free-text rule (text.h) on any bytes, held against the rule stated again
 * here as tables of code points, and against what the rule promises of its neighbours: an
 * acceptable text stays acceptable with ideographic spaces around it and is refused with a C1
 * control inside.
 *
 * Input: first byte is max (0..255 characters), the rest the text.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.c" /* text_strerror is static */
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct range {
	uint32_t lo, hi;
};

static const struct range control[] = {{0x00, 0x1F}, {0x7F, 0x9F}, {0x2028, 0x2029}};
static const struct range bidi[] = {
    {0x061C, 0x061C}, {0x200E, 0x200F}, {0x202A, 0x202E}, {0x2066, 0x2069}};
static const struct range blank[] = {{0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680},
                                     {0x2000, 0x200B}, {0x202F, 0x202F}, {0x205F, 0x205F},
                                     {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};

static bool
in(const struct range *r, size_t n, uint32_t cp)
{
	for (size_t i = 0; i < n; i++)
		if (cp >= r[i].lo && cp <= r[i].hi)
			return true;
	return false;
}

static enum text_error
reference(const char *s, size_t len, size_t max)
{
	size_t count = 0;
	bool has_control = false, has_bidi = false, has_visible = false;

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		if (n == 0)
			return TEXT_NOT_UTF8;
		has_control |= in(control, sizeof(control) / sizeof(control[0]), cp);
		has_bidi |= in(bidi, sizeof(bidi) / sizeof(bidi[0]), cp);
		has_visible |= !in(blank, sizeof(blank) / sizeof(blank[0]), cp);
		count++;
		i += n;
	}
	return has_control   ? TEXT_CONTROL
	       : has_bidi    ? TEXT_BIDI
	       : count == 0  ? TEXT_EMPTY
	       : count > max ? TEXT_TOO_LONG
	       : has_visible ? TEXT_OK
	                     : TEXT_BLANK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t max = data[0], len = size - 1;
	const char *s = (const char *)data + 1;
	enum text_error e = text_check(s, len, max);

	if (e != reference(s, len, max) || text_strerror(e)[0] == '\0')
		abort();
	if (e != TEXT_OK)
		return 0;
	/* "\u3000" s "\u3000" is acceptable within max + 2; s with U+009B inside never is */
	char *wide = malloc(len + 6);
	memcpy(wide, "\xe3\x80\x80", 3);
	memcpy(wide + 3, s, len);
	memcpy(wide + 3 + len, "\xe3\x80\x80", 3);
	if (text_check(wide, len + 6, max + 2) != TEXT_OK)
		abort();
	memcpy(wide + 1, "\xc2\x9b", 2); /* the first 3 bytes: a, U+009B */
	wide[0] = 'a';
	if (text_check(wide, len + 6, max + 2) != TEXT_CONTROL)
		abort();
	free(wide);
	return 0;
}
