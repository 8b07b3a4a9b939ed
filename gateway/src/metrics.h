/* metrics — the daemon's counters and histograms, counted without a lock, and their text. */
#ifndef PDGATE_METRICS_H
#define PDGATE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "apierr.h"
#include "buf.h"

/*
 * Counting is on the hot path of every request, so it takes no lock: each counter is an atomic
 * added to with relaxed ordering, in a shard per core (sched_getcpu) so that two cores do not
 * fight over one cache line. A reader sums the shards; a sum read while requests are counted
 * may be a few requests behind, never ahead, and never torn. Histograms have fixed buckets:
 * one counter per bucket, and the sum kept in microseconds.
 *
 * Every function that counts takes NULL for m and then does nothing: the commands that open a
 * ledger or an origin outside the daemon count nothing. Label values are only the fixed names
 * below and the error codes of apierr.h: never a member id, a token or a certificate.
 */
struct metrics;

/* The listeners that requests are counted for (label listener). */
enum metrics_listener {
	METRICS_PARTNER,
	METRICS_COMPLIANCE,
	METRICS_STATUS,
	METRICS_LISTENERS /* also: not counted */
};

/* What a decision of the partner API became (label kind). */
enum metrics_kind {
	METRICS_RELEASE,    /* a release entry committed (one per member released) */
	METRICS_DENY,       /* a deny entry committed, with its reason */
	METRICS_UNRECORDED, /* refused before step 4, or when the ledger could not record it */
	METRICS_KINDS
};

/* Zeroed counters for this machine's cores. NULL when out of memory. */
struct metrics *metrics_new(void);
/* NULL is a no-op. */
void metrics_free(struct metrics *m);

/* The listener a server_config name counts as ("partner", "compliance", "status"), or
 * METRICS_LISTENERS for any other. */
enum metrics_listener metrics_listener_named(const char *name);

/* One answered request: its HTTP status (100..599; others are not counted) and how long it
 * took from its request line to the answer's log line. */
void metrics_request(struct metrics *m, enum metrics_listener l, unsigned status,
                     uint64_t duration_us);
/* A connection opened (delta 1) or closed (-1). */
void metrics_connection(struct metrics *m, enum metrics_listener l, int delta);
/* n decisions of a kind; reason APIERR_NONE for releases. */
void metrics_decision(struct metrics *m, enum metrics_kind kind, enum apierr reason, uint64_t n);
/* One request to the origin and how it ended: APIERR_NONE, MEMBER_NOT_FOUND, ORIGIN_ERROR,
 * ORIGIN_TIMEOUT, ORIGIN_INVALID (anything else counts as an error). */
void metrics_origin(struct metrics *m, enum apierr result);
/* One group commit of the ledger's writer: how long it took, its entries, whether it held. */
void metrics_ledger_commit(struct metrics *m, uint64_t duration_us, uint64_t entries, bool ok);

/*
 * The text of every counter and histogram above in the Prometheus text exposition format
 * 0.0.4, each family with its HELP and TYPE lines, appended to out. The other families of
 * /metrics (gauges read from the modules that own them) are written with the two helpers
 * below. Appends set out->bad on failure, as buf does.
 */
void metrics_write(const struct metrics *m, struct buf *out);
/* The HELP and TYPE lines of a family; type is "counter", "gauge" or "histogram". */
void metrics_write_family(struct buf *out, const char *name, const char *type, const char *help);
/* One sample: name{label="value"} v, or name v when label is NULL. The value is escaped as the
 * format says (backslash, double quote, line feed); v is written in the shortest exact form
 * for integers and with up to 15 significant digits otherwise. */
void metrics_write_sample(struct buf *out, const char *name, const char *label, const char *value,
                          double v);

#endif
