/* route — which route a request path names, and what the log may say of a path. Pure. */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "route.h"

int
route_match(const char *pattern, const char *path, char (*params)[ROUTE_PARAM_MAX + 1],
            unsigned *nparams)
{
	unsigned n = 0;
	bool too_long = false;

	while (*pattern == '/' && *path == '/') {
		pattern++;
		path++;
		size_t plen = strcspn(pattern, "/"), ulen = strcspn(path, "/");
		if (plen == 2 && memcmp(pattern, "{}", 2) == 0) {
			if (ulen == 0 || n >= ROUTE_MAX_PARAMS)
				return 0;
			if (ulen > ROUTE_PARAM_MAX) {
				too_long = true;
			} else if (params != NULL) {
				memcpy(params[n], path, ulen);
				params[n][ulen] = '\0';
			}
			n++;
		} else if (plen != ulen || memcmp(pattern, path, plen) != 0) {
			return 0;
		}
		pattern += plen;
		path += ulen;
	}
	if (*pattern != '\0' || *path != '\0')
		return 0;
	if (nparams != NULL)
		*nparams = n;
	return too_long ? -1 : 1;
}

/* True if the first n bytes of path are whole, non-empty segments that pattern spells
 * literally. */
static bool
literal_prefix(const char *pattern, const char *path, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (path[i] != '/' || pattern[i] != '/')
			return false;
		size_t len = strcspn(path + i + 1, "/");
		if (len == 0 || i + 1 + len > n || strcspn(pattern + i + 1, "/") != len ||
		    (len == 2 && memcmp(pattern + i + 1, "{}", 2) == 0) ||
		    memcmp(pattern + i + 1, path + i + 1, len) != 0)
			return false;
		i += 1 + len;
	}
	return true;
}

void
route_log_shape(const char *const *patterns, size_t n, const char *path, char *out, size_t outlen)
{
	size_t best = 0;

	assert(outlen >= 8);
	for (size_t i = 0; i < n; i++)
		if (route_match(patterns[i], path, NULL, NULL) != 0) {
			snprintf(out, outlen, "%s", patterns[i]);
			return;
		}
	/* the ends of whole segments, longest first */
	for (size_t len = strlen(path); len > 0 && best == 0; len--) {
		if (path[len] != '/' && path[len] != '\0')
			continue;
		for (size_t i = 0; i < n && best == 0; i++)
			if (literal_prefix(patterns[i], path, len))
				best = len;
	}
	if (best + 5 > outlen)
		best = 0;
	memcpy(out, path, best);
	snprintf(out + best, outlen - best, "%s", path[best] != '\0' || best == 0 ? "/..." : "");
}
