/* route — which route a request path names, and what the log may say of a path. Pure. */
#ifndef PDGATE_ROUTE_H
#define PDGATE_ROUTE_H

#include <stddef.h>

/* A path segment matched by "{}" longer than this is refused (400); at most this many. */
#define ROUTE_PARAM_MAX 255
#define ROUTE_MAX_PARAMS 4

/*
 * Matches a decoded path against a route pattern ("/v1/members/{}"): literal segments equal,
 * each "{}" one non-empty segment, at most ROUTE_MAX_PARAMS. Returns 1 on a match (the "{}"
 * segments copied into params unless NULL, their count into *nparams unless NULL), 0 if the
 * path does not match, -1 if it matches but a "{}" segment is over ROUTE_PARAM_MAX bytes.
 */
int route_match(const char *pattern, const char *path, char (*params)[ROUTE_PARAM_MAX + 1],
                unsigned *nparams);

/*
 * What the log says of a path that no route took (SPEC 13: never a member's data): the
 * first of the n patterns that matches it (the route exists under another method), else the
 * longest run of its leading segments that some pattern spells literally, followed by "/..."
 * if anything is left ("/..." alone if nothing is spelled). Writes at most outlen bytes
 * (outlen at least 8) with a NUL.
 */
void route_log_shape(const char *const *patterns, size_t n, const char *path, char *out,
                     size_t outlen);

#endif
