/* status — the plain-HTTP listener for the machine's monitoring: /healthz, /readyz, /metrics. */
#ifndef PDGATE_STATUS_H
#define PDGATE_STATUS_H

#include <stddef.h>

#include "compliance.h"
#include "config.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "origin.h"
#include "registry.h"
#include "tlsauth.h"
#include "witness_client.h"

/*
 * SPEC 15.2. [status] listen, plain HTTP on its own small thread (libmicrohttpd, no TLS),
 * GET and HEAD only, a bounded number of connections. It serves counts and states, never a
 * member's data nor a ledger entry, and needs no credential: that is why a listen address off
 * loopback needs [status] allow_remote (config.c).
 *
 *   GET /healthz   200 "ok": the process runs its listeners
 *   GET /readyz    200 {"ready":true,"checks":{…}} or 503 {"ready":false,…}: each check
 *                  {"ok":true} or {"ok":false,"reason":"…"} (docs/operations.md)
 *   GET /metrics   the Prometheus text format 0.0.4
 */

/* A check of /readyz fails when the origin failed this many requests in a row. */
#define STATUS_ORIGIN_FAILURES 3
/* ... when entries have waited this many checkpoint intervals for a checkpoint. */
#define STATUS_CHECKPOINT_INTERVALS 10

/* What the listener reads. All borrowed, all outliving it. */
struct status_params {
	const struct config *cfg; /* [status]; the certificate, CRL and ledger paths */
	struct metrics *metrics;  /* the counters; the listener's own requests counted too */
	struct registry *registry;
	struct ledger *ledger;
	struct origin *origin;
	struct tlsauth *partner_trust;
	const struct compliance *compliance; /* the staff CRL */
	struct witness_client *witness;      /* the witnesses' check and metrics; NULL: none */
	struct log *log;
};

struct status;

/* Reads the gateway's own certificates' notAfter and starts the listener on [status] listen.
 * Returns it, or NULL with a message in err. */
struct status *status_start(const struct status_params *p, char *err, size_t errlen);

/* The address listened on, "http://127.0.0.1:9100". Borrowed. */
const char *status_url(const struct status *s);

/* SIGHUP: reads the certificates' notAfter again (what the metrics say of them). */
void status_reload(struct status *s);

/* Stops the listener and frees. NULL is a no-op. */
void status_stop(struct status *s);

#endif
