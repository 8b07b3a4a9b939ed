/* origin — where member records come from: the embedded SQLite file or the member system over HTTP.
 */
#ifndef PDGATE_ORIGIN_H
#define PDGATE_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "apierr.h"

struct origin;

/* What an origin is asked to do; filled from [origin] of the configuration. */
struct origin_params {
	const char *url;         /* "sqlite:/abs/path", "http://…" or "https://…" */
	unsigned timeout_ms;     /* whole-request bound for HTTP */
	size_t max_record_bytes; /* a single record; a page may hold limit times that */
	const char *client_cert; /* optional, https */
	const char *client_key;  /* optional, https */
	const char *ca;          /* optional, https: the only CA trusted for the member system */
};

/*
 * True for an http:// URL to another machine than this one (127.0.0.1, localhost, [::1]): member
 * records would cross the network in cleartext. https:// (with [origin] ca) is what a remote
 * member system needs; serve and init refuse such a URL.
 */
bool origin_cleartext_remote(const char *url);

struct config;

/* The parameters [origin] of a loaded configuration gives; the strings are borrowed from c. */
struct origin_params origin_params_of(const struct config *c);

/* Opens the origin (SQLite read-only; HTTP: a pool of reusable connections). NULL on error with
 * a message in err. Safe to use from every thread at once. */
struct origin *origin_new(const struct origin_params *p, char *err, size_t errlen);
void origin_free(struct origin *o);

/*
 * One member's record, as the origin sent it (untrusted bytes: the caller validates them).
 * On APIERR_NONE *body is a NUL-terminated buffer the caller frees. Errors: MEMBER_NOT_FOUND,
 * ORIGIN_ERROR (transport, status), ORIGIN_TIMEOUT, ORIGIN_INVALID (over the size limit).
 */
enum apierr origin_get(struct origin *o, const char *member_id, char **body, size_t *len);

/* Called once per member of a page, in member_id order; the bytes are borrowed. Nonzero stops. */
typedef int (*origin_each_fn)(void *ctx, const char *member_id, const char *record, size_t len);

/*
 * The member system's page body, {"members":[record…],"next":ID-or-null}, checked as
 * origin_page checks it for an HTTP origin: JSON by ujson's rules (duplicates, \u0000, invalid
 * UTF-8 refused; depth bounded), exactly those two members, at most limit records, each an
 * object whose string member_id is strictly greater than the one before (the first greater
 * than after, if after is not NULL). Only then each gets every record, as compact JSON text no
 * longer than max_record_bytes (to be validated like a single record). *next receives the
 * page's next (caller frees) or NULL. APIERR_NONE (also when each stopped early),
 * ORIGIN_INVALID, or INTERNAL (out of memory); on error *next is NULL.
 */
enum apierr origin_parse_page(const char *bytes, size_t len, const char *after, unsigned limit,
                              size_t max_record_bytes, origin_each_fn each, void *ctx, char **next);

/*
 * Up to limit members with member_id greater than after (NULL: from the start), in order.
 * *next receives the member_id to continue after, or NULL at the end (caller frees).
 * Errors as origin_get; a page body that is not the expected JSON is ORIGIN_INVALID.
 */
enum apierr origin_page(struct origin *o, const char *after, unsigned limit, origin_each_fn each,
                        void *ctx, char **next);

#endif
