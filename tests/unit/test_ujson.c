/* Tests of ujson: untrusted JSON parsed whole, duplicates refused, size and nesting bounded. */
#include <string.h>

#include "check.h"
#include "ujson.h"

static void
test_parse(void)
{
	static const struct {
		const char *text;
		size_t len; /* 0: strlen(text) */
		size_t max_bytes;
		int max_depth;
		int ok;
		const char *why; /* what the reason says when refused */
	} rows[] = {
	    {"{}", 0, 100, 3, 1, NULL},
	    {"[]", 0, 100, 3, 1, NULL},
	    {" {\"a\":[1,\"x\",null,true,1.5]} \n", 0, 100, 3, 1, NULL},
	    {"1", 0, 100, 3, 0, "invalid JSON"}, /* a record is an object or an array */
	    {"\"x\"", 0, 100, 3, 0, "invalid JSON"},
	    {"null", 0, 100, 3, 0, "invalid JSON"},
	    {"", 0, 100, 3, 0, "invalid JSON"},
	    {"{\"a\":1,\"a\":2}", 0, 100, 3, 0, "duplicate"},
	    {"{\"x\":[{\"a\":1,\"a\":1}]}", 0, 100, 3, 0, "duplicate"}, /* at any depth */
	    {"{\"a\":1,\"A\":2}", 0, 100, 3, 1, NULL},
	    {"{\"a\":1,\"\\u0061\":2}", 0, 100, 3, 0, "duplicate"}, /* the same key escaped */
	    {"{}x", 0, 100, 3, 0, "invalid JSON"},
	    {"{}{}", 0, 100, 3, 0, "invalid JSON"},
	    {"[1]\0", 4, 100, 3, 0, "invalid JSON"}, /* a NUL after the value */
	    {"[1,]", 0, 100, 3, 0, "invalid JSON"},
	    {"[\"abc", 0, 100, 3, 0, "invalid JSON"},
	    {"[\"\\u0000\"]", 0, 100, 3, 0, "invalid JSON"},
	    {"[\"\xc0\x80\"]", 0, 100, 3, 0, "invalid JSON"},
	    {"[\"\xed\xa0\x80\"]", 0, 100, 3, 0, "invalid JSON"},
	    {"[\"\xf4\x90\x80\x80\"]", 0, 100, 3, 0, "invalid JSON"},
	    {"[\"\xe6\x9d\xb1\"]", 0, 100, 3, 1, NULL},
	    {"{\"a\":1}", 0, 7, 3, 1, NULL}, /* exactly the size limit */
	    {"{\"a\":1}", 0, 6, 3, 0, "over the limit of 6"},
	    {"[[[]]]", 0, 100, 3, 1, NULL}, /* exactly the depth limit */
	    {"[[[[]]]]", 0, 100, 3, 0, "nesting deeper than 3"},
	    {"{\"a\":{\"b\":{\"c\":{}}}}", 0, 100, 3, 0, "nesting deeper than 3"},
	    {"[]", 0, 100, 0, 0, "nesting deeper than 0"},
	    {"[[],[],[[]]]", 0, 100, 3, 1, NULL}, /* depth, not count */
	    /* brackets inside strings are not nesting; escaped quotes do not end a string */
	    {"[\"[[[[[[\"]", 0, 100, 1, 1, NULL},
	    {"[\"\\\"[[[[\"]", 0, 100, 1, 1, NULL},
	    {"[\"\\\\\\\"[[[[\"]", 0, 100, 1, 1, NULL},
	    {"[\"\\\\\", [[[\"x\"]]]]", 0, 100, 3, 0, "nesting deeper than 3"},
	    {"[\"\\\\\\\\\", [[[1]]]]", 0, 100, 3, 0, "nesting deeper than 3"},
	    {"[\"\\\\\\\\\", [[1]]]", 0, 100, 3, 1, NULL},
	    {"{\"[\":{\"{\":[]}}", 0, 100, 3, 1, NULL},
	    /* the scan stops at an unterminated string; jansson refuses it */
	    {"[\"[[[[[[[[", 0, 100, 3, 0, "invalid JSON"},
	    {"]]]][[[[]]]]", 0, 100, 3, 0, "invalid JSON"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char why[200] = "";
		size_t len = rows[i].len ? rows[i].len : strlen(rows[i].text);
		json_t *v = ujson_parse(rows[i].text, len, rows[i].max_bytes, rows[i].max_depth,
		                        why, sizeof why);
		CHECK((v != NULL) == rows[i].ok, "row %zu (%s): %s", i, rows[i].text,
		      v ? "parsed" : why);
		if (v != NULL)
			CHECK(ujson_depth(v) <= rows[i].max_depth, "row %zu: depth %d", i,
			      ujson_depth(v));
		if (!rows[i].ok && v == NULL)
			CHECK(strstr(why, rows[i].why) != NULL, "row %zu: '%s' does not say '%s'",
			      i, why, rows[i].why);
		json_decref(v);
	}
}

/* The reason names the place and the rule, never the bytes: they may be personal data. */
static void
test_why_quotes_nothing(void)
{
	static const char *const texts[] = {
	    "{\"Yamada Taro\" 1}",
	    "{\"name\":Yamada Taro}",
	    "[\"ok\", Yamada]",
	    "{\"name\":\"Yamada Taro\"}Yamada",
	    "{\"name\":\"Yamada\",\"name\":\"Taro\"}",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		char why[300] = "";
		json_t *v = ujson_parse(texts[i], strlen(texts[i]), 1000, 8, why, sizeof why);
		CHECK(v == NULL, "%s parsed", texts[i]);
		CHECK(strstr(why, "invalid JSON at byte ") == why, "%s: '%s'", texts[i], why);
		CHECK(strstr(why, "Yamada") == NULL && strstr(why, "Taro") == NULL &&
		          strstr(why, "near") == NULL,
		      "%s: the reason quotes the input: '%s'", texts[i], why);
		json_decref(v);
	}
	/* a short buffer holds a cut reason, still terminated */
	char tiny[8];
	memset(tiny, 'x', sizeof tiny);
	CHECK(ujson_parse("[[", 2, 1, 3, tiny, sizeof tiny) == NULL, "over the size limit");
	CHECK(memchr(tiny, '\0', sizeof tiny) != NULL && strncmp(tiny, "body of", 7) == 0,
	      "a cut reason: '%.8s'", tiny);
}

static void
test_depth(void)
{
	static const struct {
		const char *text;
		int depth;
	} rows[] = {
	    {"{}", 1},
	    {"[]", 1},
	    {"[1,\"a\",null]", 1},
	    {"[[]]", 2},
	    {"{\"a\":{},\"b\":[[1]]}", 3},
	    {"[[],[[[]]],[]]", 4},
	    {"{\"a\":[{\"b\":[]}]}", 4},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char why[200] = "";
		json_t *v = ujson_parse(rows[i].text, strlen(rows[i].text), 1000, UJSON_MAX_DEPTH,
		                        why, sizeof why);
		CHECK(v != NULL, "%s: %s", rows[i].text, why);
		if (v != NULL)
			CHECK(ujson_depth(v) == rows[i].depth, "%s: depth %d, want %d",
			      rows[i].text, ujson_depth(v), rows[i].depth);
		json_decref(v);
	}
	json_t *scalar = json_integer(7);
	CHECK(ujson_depth(scalar) == 0, "a scalar: depth %d", ujson_depth(scalar));
	json_decref(scalar);
}

/* UJSON_MAX_DEPTH itself: as deep as allowed parses, one more does not, far more is refused
 * before jansson reads it. */
static void
test_max_depth(void)
{
	static const int depths[] = {UJSON_MAX_DEPTH, UJSON_MAX_DEPTH + 1, 100000};
	for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
		static char text[2 * 100000 + 1];
		int n = depths[i];
		char why[200] = "";
		memset(text, '[', (size_t)n);
		memset(text + n, ']', (size_t)n);
		json_t *v =
		    ujson_parse(text, 2 * (size_t)n, sizeof text, UJSON_MAX_DEPTH, why, sizeof why);
		if (n <= UJSON_MAX_DEPTH)
			CHECK(v != NULL && ujson_depth(v) == n, "%d deep: %s", n, why);
		else
			CHECK(v == NULL && strstr(why, "nesting deeper than") != NULL,
			      "%d deep: %s", n, v ? "parsed" : why);
		json_decref(v);
	}
}

int
main(void)
{
	test_parse();
	test_why_quotes_nothing();
	test_depth();
	test_max_depth();
	return check_done();
}
