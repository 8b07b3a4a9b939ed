/* fuzz_utf8 — strict UTF-8 decoding (utf8.h) on any bytes, held against the rule stated again
 * here as the Unicode Standard's table of well-formed byte sequences (Table 3-7): a lead byte
 * range, the range its second byte must fall in, and the length; every later byte 80..BF.
 *
 * Input: the bytes. At every offset, utf8_decode must give the length and code point the table
 * gives (0 where no sequence starts), and utf8_count the number of code points the table finds,
 * or -1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	uint8_t lead_lo, lead_hi, second_lo, second_hi;
	size_t len;
} table[] = {
    {0x00, 0x7F, 0x00, 0x00, 1}, {0xC2, 0xDF, 0x80, 0xBF, 2}, {0xE0, 0xE0, 0xA0, 0xBF, 3},
    {0xE1, 0xEC, 0x80, 0xBF, 3}, {0xED, 0xED, 0x80, 0x9F, 3}, {0xEE, 0xEF, 0x80, 0xBF, 3},
    {0xF0, 0xF0, 0x90, 0xBF, 4}, {0xF1, 0xF3, 0x80, 0xBF, 4}, {0xF4, 0xF4, 0x80, 0x8F, 4},
};

/* The length of the well-formed sequence at b[0..len), 0 if none; its scalar value in *cp. */
static size_t
reference(const uint8_t *b, size_t len, uint32_t *cp)
{
	static const uint8_t payload[] = {0, 0x7F, 0x1F, 0x0F, 0x07}; /* bits of the lead byte */

	if (len == 0)
		return 0;
	for (size_t t = 0; t < sizeof table / sizeof table[0]; t++) {
		size_t n = table[t].len;
		if (b[0] < table[t].lead_lo || b[0] > table[t].lead_hi)
			continue;
		if (len < n || (n > 1 && (b[1] < table[t].second_lo || b[1] > table[t].second_hi)))
			return 0;
		uint32_t v = b[0] & payload[n];
		for (size_t k = 1; k < n; k++) {
			if (b[k] < 0x80 || b[k] > 0xBF)
				return 0;
			v = v << 6 | (b[k] & 0x3F);
		}
		*cp = v;
		return n;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: a read past the end is the sanitizer's to see */
	char *s = malloc(size ? size : 1);
	long count = 0;

	memcpy(s, data, size);
	for (size_t i = 0; i < size; i++) {
		uint32_t cp = 0, want_cp = 0;
		size_t n = utf8_decode(s + i, size - i, &cp);
		size_t want = reference(data + i, size - i, &want_cp);
		if (n != want || (n > 0 && cp != want_cp))
			abort();
	}
	for (size_t i = 0, n; i < size && count >= 0; i += n) {
		uint32_t cp;
		n = reference(data + i, size - i, &cp);
		count = n == 0 ? -1 : count + 1;
	}
	if (utf8_count(s, size) != count)
		abort();
	if (utf8_decode(s, 0, &(uint32_t){0}) != 0)
		abort();
	free(s);
	return 0;
}
