/* ujson — parsing untrusted JSON: duplicate members refused, size and nesting bounded. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ujson.h"

/*
 * jansson's own nesting limit is 2048 and it recurses while parsing; a cheap pre-scan of the
 * bytes bounds the depth before jansson sees them, so a hostile body cannot make it recurse
 * deeply. Brackets inside strings are skipped: a string ends at the first quote not escaped,
 * that is not preceded by an odd run of backslashes (found with memchr, as most of a record's
 * bytes are in strings).
 */
static int
scan_depth(const char *buf, size_t len, int max_depth)
{
	const char *p = buf, *end = buf + len;
	int depth = 0;

	while (p < end) {
		char c = *p++;
		if (c == '"') {
			const char *from = p;
			for (;;) {
				const char *q = memchr(p, '"', (size_t)(end - p));
				size_t bs = 0;
				if (q == NULL)
					return 0; /* an unterminated string: jansson refuses it */
				while (q - bs > from && q[-1 - (ptrdiff_t)bs] == '\\')
					bs++;
				p = q + 1;
				if (bs % 2 == 0)
					break;
				from = p;
			}
		} else if (c == '{' || c == '[') {
			if (++depth > max_depth)
				return -1;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 0;
}

json_t *
ujson_parse(const char *buf, size_t len, size_t max_bytes, int max_depth, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *v;

	if (len > max_bytes) {
		snprintf(why, whylen, "body of %zu bytes is over the limit of %zu", len, max_bytes);
		return NULL;
	}
	if (scan_depth(buf, len, max_depth) != 0) {
		snprintf(why, whylen, "nesting deeper than %d", max_depth);
		return NULL;
	}
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL) {
		/* jansson quotes the offending bytes after " near "; they may be personal data */
		char *near = strstr(jerr.text, " near ");
		if (near != NULL)
			*near = '\0';
		snprintf(why, whylen, "invalid JSON at byte %d: %s", jerr.position, jerr.text);
		return NULL;
	}
	return v;
}

int
ujson_depth(const json_t *v)
{
	int deepest = 0;

	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach((json_t *)v, k, m)
		{
			int d = ujson_depth(m);
			if (d > deepest)
				deepest = d;
		}
		return deepest + 1;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *m;
		json_array_foreach(v, i, m)
		{
			int d = ujson_depth(m);
			if (d > deepest)
				deepest = d;
		}
		return deepest + 1;
	}
	return 0;
}
