/* codec — bytes as text: base64 (RFC 4648 section 4), base64url (section 5), hex, JSON escapes. */
#ifndef PDGATE_CODEC_H
#define PDGATE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Characters of padded base64 of n bytes, without the NUL. */
#define CODEC_B64_LEN(n) (4 * (((n) + 2) / 3))

/* Padded base64 of in[0..len) into out (CODEC_B64_LEN(len) + 1 bytes), NUL-terminated.
 * Returns the length written, without the NUL. */
size_t codec_b64_encode(const uint8_t *in, size_t len, char *out);

/*
 * Strict padded base64: a non-empty multiple of 4 characters, '=' only as the final padding,
 * the unused bits of the last character zero, so each byte string has one accepted spelling.
 * Returns the decoded length, or -1 if malformed or longer than cap. out NULL only checks and
 * measures.
 */
long codec_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* Unpadded base64url of in[0..len) into out (CODEC_B64_LEN(len) + 1 bytes), NUL-terminated.
 * Returns the length written, without the NUL. */
size_t codec_b64url_encode(const uint8_t *in, size_t len, char *out);

/*
 * Strict base64url: the URL alphabet only, no padding, the unused bits of the last character
 * zero. The empty string decodes to no bytes. Returns the decoded length, or -1 if malformed or
 * longer than cap. out NULL only checks and measures.
 */
long codec_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* True for a character of the base64url alphabet [A-Za-z0-9_-]. */
bool codec_b64url_char(unsigned char c);

/* Lowercase hex of in[0..len) into out (2 * len + 1 bytes), NUL-terminated. */
void codec_hex_encode(const uint8_t *in, size_t len, char *out);

/* Decodes exactly 2 * len hex digits of either case from in into out[0..len). 0, or -1 on a
 * character that is not a hex digit (out then holds garbage). */
int codec_hex_decode(const char *in, size_t len, uint8_t *out);

/*
 * How byte c is written inside a JSON string, as jansson's json_dumps writes it without
 * JSON_ENSURE_ASCII: '"', '\\' and the controls below 0x20 escaped (\b \f \n \r \t, else
 * \u00XX in upper case) into out; returns the escape's length, or 0 for a byte written as is
 * (DEL, '/', UTF-8). So pdgate's own JSON text reads the same as jansson's.
 */
size_t codec_json_escape(unsigned char c, char out[6]);

#endif
