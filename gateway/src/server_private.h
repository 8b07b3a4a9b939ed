/* server_private.h — what server.c and server_request.c share: a listener's, a connection's
 * and a request's state. Not an interface: nothing outside the server includes it. */
#ifndef PDGATE_SERVER_PRIVATE_H
#define PDGATE_SERVER_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <microhttpd.h>

#include "admission.h"
#include "buf.h"
#include "server.h"
#include "workq.h"

#define REQUEST_ID_BYTES 12

struct conn;

struct server_request {
	struct conn *conn;
	struct MHD_Connection *mhd;
	const char *url;    /* decoded path, borrowed from MHD during the handler call */
	const char *method; /* borrowed likewise */
	struct timespec wall;
	uint64_t start_us;
	char id[2 * REQUEST_ID_BYTES + 1];
	char log_method[16];
	char log_path[LOG_ROUTE_MAX + 1]; /* the raw request target as received, for the log */
	const char *target_end; /* where libmicrohttpd's copy of the raw target ends (its NUL) */
	const struct server_route *route;
	unsigned nparams;
	char params[SERVER_MAX_PARAMS][SERVER_PARAM_MAX + 1];
	const struct tlsauth_identity *identity;
	char principal[TLSAUTH_ID_MAX + 1];
	char purpose[64];
	struct MHD_Response *response; /* made by server_reply_*, queued after the handler */
	unsigned status;
	enum apierr error;          /* for the log */
	char detail[LOG_VALUE_MAX]; /* the refusal's message, for the log */
	bool body_over;
	bool nul_target;        /* the raw request target holds "%00" or a NUL */
	bool bad_header;        /* a header value (not Authorization) holds a control
	                           character or, hidden by the parser, a NUL */
	bool bad_auth;          /* Authorization does */
	bool bad_framing;       /* the body's length is ambiguous: answer and close */
	bool active;            /* between the request line and completion */
	bool checked;           /* the first handler call (headers complete) is done */
	bool on_event;          /* its handler runs on the event thread (not the pool) */
	bool *deferred;         /* during the handler call: set by server_request_defer, in the
	                           caller's frame (once deferred, r may be gone when it returns) */
	struct workq_item work; /* in the handler queue while its connection is suspended */
};

/* One TLS connection; lives from accept to close and holds the request in progress. */
struct conn {
	struct conn *prev, *next; /* in server->conns, under conns_lock */
	struct server *server;
	int fd;
	/* CLOCK_MONOTONIC ms by which the current request's head must be complete; 0 none;
	 * DEADLINE_REAPED once the reaper has shut the socket down. */
	_Atomic int64_t deadline_ms;
	unsigned requests;          /* completed on this connection */
	struct admission_slot slot; /* pending or trusted (admission.h), under conns_lock */

	/* The certificate verdict, cached for the connection: the peer cannot change its
	 * certificate without a new handshake, and renegotiation is refused. */
	bool cert_checked;
	uint64_t cert_generation;
	enum apierr cert_verdict;
	char cert_msg[200];
	struct tlsauth_identity identity;
	struct tlscred *cred; /* the certificate its handshake was given (a reference), or NULL */

	struct buf body; /* the request's body; one allocation of max_body_bytes, kept */
	struct server_request req;
};

struct server {
	struct server_config cfg;
	const char **patterns; /* the routes' patterns, for route_log_shape */
	struct MHD_Daemon *daemon;
	char url[96];
	enum metrics_listener mx; /* what cfg.metrics counts this listener as */
	size_t memory_limit;
	int64_t idle_ms, header_ms, handshake_ms; /* see reaper_main */

	pthread_mutex_t conns_lock;
	struct conn *conns;
	struct admission *admission;   /* under conns_lock */
	atomic_ulong refused, evicted; /* at the admission limit, since the last report */

	pthread_mutex_t mhdlog_lock;  /* on_mhd_log's budget: */
	int64_t mhdlog_sec;           /* the second it counts for */
	unsigned mhdlog_lines;        /* lines written in it */
	unsigned long mhdlog_dropped; /* left out since the last line written */

	pthread_mutex_t cred_lock; /* held only to swap or copy cred */
	struct tlscred *cred;      /* what new handshakes get (a reference); server_set_cred */

	pthread_t reaper;
	bool reaper_started;
	pthread_mutex_t reaper_lock;
	pthread_cond_t reaper_cond;
	bool stopping; /* under reaper_lock */

	atomic_int inflight;
	atomic_bool draining;

	unsigned char id_base[REQUEST_ID_BYTES]; /* random, drawn at start: see new_request_id */
	atomic_uint_fast64_t id_count;           /* requests so far */

	struct workq *handlers; /* the handler pool (see handler_run) */

	/* Requests a handler deferred (server_request_defer) and not yet resumed; server_stop
	 * waits for them. Once no_defer is set, server_request_defer refuses. */
	atomic_int deferred;
	atomic_bool no_defer;
};

/*
 * Reads the head of r once it is complete (server_request.c): sets r->nul_target,
 * r->bad_header, r->bad_auth and r->bad_framing from what libmicrohttpd left in its buffer.
 */
void server_head_scan(struct server_request *r, const char *method, const char *version);

#endif
