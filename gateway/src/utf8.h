/* utf8 — strict UTF-8 decoding (RFC 3629: no overlongs, no surrogates, at most U+10FFFF). */
#ifndef PDGATE_UTF8_H
#define PDGATE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the code point at s[0..len): returns its length in bytes (1..4) and sets *cp, or
 * returns 0 if the bytes there are not well-formed UTF-8 (or len is 0). */
size_t utf8_decode(const char *s, size_t len, uint32_t *cp);

/* The number of code points in s[0..len), or -1 if it is not well-formed UTF-8. */
long utf8_count(const char *s, size_t len);

#endif
