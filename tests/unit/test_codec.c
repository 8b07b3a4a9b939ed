/* test_codec — base64, base64url and hex against RFC 4648 vectors and the strictness rules. */
#include "check.h"
#include "codec.h"

#include <string.h>

#include <jansson.h>

/* RFC 4648 section 10, in both alphabets (they agree on these). */
static const struct {
	const char *raw, *b64, *b64url;
} vectors[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

/* Bytes whose encodings use the two characters where the alphabets differ. */
static const uint8_t high[] = {0xfb, 0xff, 0xbf};

static const struct {
	const char *in;
	long want; /* decoded length, -1 refused */
} b64_cases[] = {
    {"Zg==", 1},      {"Zm8=", 2}, {"Zm9v", 3},
    {"+/+/", 3},      {"", -1}, /* empty: refused, as the note format requires */
    {"Zg", -1},                 /* padding missing */
    {"Zg=", -1},                /* not a multiple of 4 */
    {"Zh==", -1},               /* unused bits set: not canonical */
    {"Zm9=", -1},               /* unused bits set: not canonical */
    {"Z===", -1},               /* three padding characters */
    {"Zg==Zg==", -1},           /* padding inside */
    {"-_-_", -1},               /* URL alphabet */
    {"Zm 9", -1},               /* blank */
    {"====", -1},
};

static const struct {
	const char *in;
	long want;
} b64url_cases[] = {
    {"", 0},      {"Zg", 1}, {"Zm8", 2}, {"-_-_", 3}, {"Zg==", -1}, /* padding */
    {"Z", -1},                                                      /* 1 mod 4 */
    {"Zh", -1},                                                     /* unused bits set */
    {"Zm9", -1},                                                    /* unused bits set */
    {"+/+/", -1},                                                   /* standard alphabet */
    {"Zm.v", -1},
};

int
main(void)
{
	char text[64];
	uint8_t buf[64];

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const char *raw = vectors[i].raw;
		size_t n = strlen(raw);
		long m;

		CHECK(codec_b64_encode((const uint8_t *)raw, n, text) == strlen(vectors[i].b64) &&
		          strcmp(text, vectors[i].b64) == 0,
		      "b64 of \"%s\": %s", raw, text);
		CHECK(strlen(vectors[i].b64) == CODEC_B64_LEN(n), "CODEC_B64_LEN(%zu)", n);
		CHECK(codec_b64url_encode((const uint8_t *)raw, n, text) ==
		              strlen(vectors[i].b64url) &&
		          strcmp(text, vectors[i].b64url) == 0,
		      "b64url of \"%s\": %s", raw, text);
		if (n > 0) {
			m = codec_b64_decode(vectors[i].b64, strlen(vectors[i].b64), buf,
			                     sizeof(buf));
			CHECK(m == (long)n && memcmp(buf, raw, n) == 0, "b64 decode %s",
			      vectors[i].b64);
			CHECK(codec_b64_decode(vectors[i].b64, strlen(vectors[i].b64), NULL, 0) ==
			          (long)n,
			      "b64 measure %s", vectors[i].b64);
			CHECK(codec_b64_decode(vectors[i].b64, strlen(vectors[i].b64), buf,
			                       n - 1) == -1,
			      "b64 decode %s into %zu bytes", vectors[i].b64, n - 1);
		}
		m = codec_b64url_decode(vectors[i].b64url, strlen(vectors[i].b64url), buf,
		                        sizeof(buf));
		CHECK(m == (long)n && memcmp(buf, raw, n) == 0, "b64url decode %s",
		      vectors[i].b64url);
		if (n > 0)
			CHECK(codec_b64url_decode(vectors[i].b64url, strlen(vectors[i].b64url), buf,
			                          n - 1) == -1,
			      "b64url decode %s into %zu bytes", vectors[i].b64url, n - 1);
	}

	codec_b64_encode(high, sizeof(high), text);
	CHECK(strcmp(text, "+/+/") == 0, "b64 alphabet: %s", text);
	codec_b64url_encode(high, sizeof(high), text);
	CHECK(strcmp(text, "-_-_") == 0, "b64url alphabet: %s", text);

	for (size_t i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++)
		CHECK(codec_b64_decode(b64_cases[i].in, strlen(b64_cases[i].in), buf,
		                       sizeof(buf)) == b64_cases[i].want,
		      "b64 decode \"%s\"", b64_cases[i].in);
	for (size_t i = 0; i < sizeof(b64url_cases) / sizeof(b64url_cases[0]); i++)
		CHECK(codec_b64url_decode(b64url_cases[i].in, strlen(b64url_cases[i].in), buf,
		                          sizeof(buf)) == b64url_cases[i].want,
		      "b64url decode \"%s\"", b64url_cases[i].in);

	CHECK(codec_b64url_char('A') && codec_b64url_char('z') && codec_b64url_char('0') &&
	          codec_b64url_char('-') && codec_b64url_char('_'),
	      "b64url alphabet accepted");
	CHECK(!codec_b64url_char('+') && !codec_b64url_char('/') && !codec_b64url_char('=') &&
	          !codec_b64url_char('.') && !codec_b64url_char('\0') && !codec_b64url_char(0xc3),
	      "outside the b64url alphabet");

	static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	codec_hex_encode(bytes, sizeof(bytes), text);
	CHECK(strcmp(text, "00017f80abff") == 0, "hex: %s", text);
	codec_hex_encode(bytes, 0, text);
	CHECK(text[0] == '\0', "hex of nothing");
	CHECK(codec_hex_decode("00017f80abff", sizeof(bytes), buf) == 0 &&
	          memcmp(buf, bytes, sizeof(bytes)) == 0,
	      "hex decode lowercase");
	CHECK(codec_hex_decode("00017F80ABFF", sizeof(bytes), buf) == 0 &&
	          memcmp(buf, bytes, sizeof(bytes)) == 0,
	      "hex decode uppercase");
	CHECK(codec_hex_decode("0g", 1, buf) == -1, "hex decode: not a digit");
	CHECK(codec_hex_decode("g0", 1, buf) == -1, "hex decode: not a digit first");
	CHECK(codec_hex_decode("0", 1, buf) == -1, "hex decode: too short");
	CHECK(codec_hex_decode(" 1", 1, buf) == -1, "hex decode: blank");

	/* JSON escapes: every byte as jansson writes it inside a string (bytes >= 0x80 as part
	 * of a valid two-byte UTF-8 sequence, which jansson keeps as is). */
	int same = 1;
	for (unsigned c = 1; c < 256 && same; c++) {
		char in[3] = {(char)c, 0, 0}, esc[6], want[16];
		if (c >= 0x80) {
			in[0] = (char)0xc3;
			in[1] = (char)(0x80 | (c & 0x3f));
		}
		json_t *str = json_string(in);
		char *dumped = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
		size_t n = codec_json_escape((unsigned char)in[0], esc);
		size_t k = n ? n : strlen(in);
		memcpy(want, "\"", 1);
		memcpy(want + 1, n ? esc : in, k);
		memcpy(want + 1 + k, "\"", 2);
		if (dumped == NULL || strcmp(dumped, want) != 0) {
			same = 0;
			CHECK(0, "json escape of byte 0x%02x: jansson %s, codec %s", c,
			      dumped ? dumped : "(none)", want);
		}
		free(dumped);
		json_decref(str);
	}
	CHECK(same, "json escapes are jansson's for every byte");
	char esc[6];
	CHECK(codec_json_escape('"', esc) == 2 && memcmp(esc, "\\\"", 2) == 0, "escape of a quote");
	CHECK(codec_json_escape(0x1f, esc) == 6 && memcmp(esc, "\\u001F", 6) == 0,
	      "escape of 0x1f");
	CHECK(codec_json_escape('/', esc) == 0 && codec_json_escape(0x7f, esc) == 0,
	      "slash and DEL as is");
	return check_done();
}
