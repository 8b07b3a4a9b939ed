/* codec — bytes as text: base64, base64url, hex, JSON escapes. Pure logic: no I/O, no state. */
#include <string.h>

#include "codec.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char HEX[] = "0123456789abcdef";

/* The two alphabets differ only in their last two characters. */
static int
b64_value(unsigned char c, const char *alphabet)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (unsigned char)alphabet[62])
		return 62;
	if (c == (unsigned char)alphabet[63])
		return 63;
	return -1;
}

static size_t
encode(const uint8_t *in, size_t n, char *out, const char *alphabet, bool pad)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = alphabet[(v >> 6) & 63];
		else if (pad)
			out[o++] = '=';
		if (i + 2 < n)
			out[o++] = alphabet[v & 63];
		else if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* Decodes unpadded characters; a length of 1 mod 4 or nonzero leftover bits is malformed. */
static long
decode(const char *in, size_t n, uint8_t *out, size_t cap, const char *alphabet)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value((unsigned char)in[i], alphabet);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (out != NULL) {
				if (o >= cap)
					return -1;
				out[o] = (uint8_t)(acc >> bits);
			}
			o++;
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	return (long)o;
}

size_t
codec_b64_encode(const uint8_t *in, size_t len, char *out)
{
	return encode(in, len, out, B64, true);
}

long
codec_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	size_t pad = 0;

	if (len == 0 || len % 4 != 0)
		return -1;
	while (pad < 2 && in[len - 1 - pad] == '=')
		pad++;
	/* A third '=' or one inside the text is not in the alphabet: decode refuses it. */
	return decode(in, len - pad, out, cap, B64);
}

size_t
codec_b64url_encode(const uint8_t *in, size_t len, char *out)
{
	return encode(in, len, out, B64URL, false);
}

long
codec_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	return decode(in, len, out, cap, B64URL);
}

bool
codec_b64url_char(unsigned char c)
{
	return b64_value(c, B64URL) >= 0;
}

void
codec_hex_encode(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = HEX[in[i] >> 4];
		out[2 * i + 1] = HEX[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
codec_hex_decode(const char *in, size_t len, uint8_t *out)
{
	for (size_t i = 0; i < len; i++) {
		int hi = hex_value((unsigned char)in[2 * i]);
		int lo = hi < 0 ? -1 : hex_value((unsigned char)in[2 * i + 1]);

		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

size_t
codec_json_escape(unsigned char c, char out[6])
{
	static const char hex[] = "0123456789ABCDEF";

	if (c >= 0x20 && c != '"' && c != '\\')
		return 0;
	out[0] = '\\';
	switch (c) {
	case '"':
	case '\\':
		out[1] = (char)c;
		return 2;
	case '\b':
		out[1] = 'b';
		return 2;
	case '\f':
		out[1] = 'f';
		return 2;
	case '\n':
		out[1] = 'n';
		return 2;
	case '\r':
		out[1] = 'r';
		return 2;
	case '\t':
		out[1] = 't';
		return 2;
	default:
		memcpy(out + 1, "u00", 3);
		out[4] = hex[c >> 4];
		out[5] = hex[c & 15];
		return 6;
	}
}
