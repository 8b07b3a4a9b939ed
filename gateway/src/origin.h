/* origin — where member records come from: the embedded SQLite file or the member system over HTTP.
 */
#ifndef PDGATE_ORIGIN_H
#define PDGATE_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "apierr.h"
#include "metrics.h"

struct origin;

/* What an origin is asked to do; filled from [origin] of the configuration. */
struct origin_params {
	const char *url;         /* "sqlite:/abs/path", "http://…" or "https://…" */
	unsigned timeout_ms;     /* whole-request bound for HTTP */
	size_t max_record_bytes; /* a single record; a page may hold limit times that */
	const char *client_cert; /* optional, https */
	const char *client_key;  /* optional, https */
	const char *ca;          /* optional, https: the only CA trusted for the member system */
	struct metrics *metrics; /* counts each request's result; NULL: none (borrowed) */
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
 * a message in err. Safe to use from every thread at once. A SQLite file in rollback mode is
 * first converted to WAL mode if this user may write it and its folder, else read as it is. */
struct origin *origin_new(const struct origin_params *p, char *err, size_t errlen);
void origin_free(struct origin *o);
/* True if a read may wait on the network (an HTTP origin); false for the embedded SQLite file,
 * read in WAL mode, whose reads take microseconds and never wait for a writer. */
bool origin_blocks(const struct origin *o);

/*
 * One member's record, as the origin sent it (untrusted bytes: the caller validates them).
 * On APIERR_NONE *body is a NUL-terminated buffer the caller frees. Errors: MEMBER_NOT_FOUND,
 * ORIGIN_ERROR (transport, status), ORIGIN_TIMEOUT, ORIGIN_INVALID (over the size limit).
 */
enum apierr origin_get(struct origin *o, const char *member_id, char **body, size_t *len);

/* Called once per member of a page, in member_id order; the bytes are borrowed. Nonzero stops. */
typedef int (*origin_each_fn)(void *ctx, const char *member_id, const char *record, size_t len);

/*
 * Up to limit members with member_id greater than after (NULL: from the start), in order.
 * *next receives the member_id to continue after, or NULL at the end (caller frees).
 * Errors as origin_get; a page body from an HTTP origin that is not the expected JSON,
 * {"members":[record…],"next":ID-or-null} with its records in order, is ORIGIN_INVALID.
 */
enum apierr origin_page(struct origin *o, const char *after, unsigned limit, origin_each_fn each,
                        void *ctx, char **next);

/*
 * Readiness: how the last requests went. failures counts the requests in a row, up to now,
 * that the origin failed (origin_error, origin_timeout: down, refusing, too slow); any answer
 * (a record, not found, even an invalid one) sets it back to 0. last_error is the code of the
 * latest failure.
 */
struct origin_health {
	unsigned failures;
	enum apierr last_error;
};
void origin_health(struct origin *o, struct origin_health *h);

/* The member id a probe asks for: not a member, so the member system answers 404. */
#define ORIGIN_PROBE_ID "pdgate-readiness-probe"
/* A probe waits at most this long (or timeout_ms if shorter). */
#define ORIGIN_PROBE_MS 2000

/*
 * Asks the origin for ORIGIN_PROBE_ID (whatever comes back is dropped) and counts the result
 * in origin_health, not in the metrics: how the status listener finds an origin that failed
 * to be back without waiting for a partner's request. Returns the result.
 */
enum apierr origin_probe(struct origin *o);

#endif
