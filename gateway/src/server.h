/* server — an HTTPS listener: TLS, limits, who is calling, routing, JSON answers, request log. */
#ifndef PDGATE_SERVER_H
#define PDGATE_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "apierr.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "tlsauth.h"
#include "tlscred.h"
#include "workq.h"

/* A path segment matched by "{}" longer than this is refused (400); at most this many. */
#define SERVER_PARAM_MAX ROUTE_PARAM_MAX
#define SERVER_MAX_PARAMS ROUTE_MAX_PARAMS
/*
 * The header timeout (or idle_timeout_s if smaller): a request's head must be complete this
 * long after its request line, and at most idle_timeout_s + this after the connection opened
 * or the previous answer went out, however slowly it trickles in; else the connection is closed.
 */
#define SERVER_HEADER_TIMEOUT_S 10
/* The default bound on a new connection's TLS handshake and first request head. */
#define SERVER_HANDSHAKE_TIMEOUT_S 5
/* Handler threads per core when the configuration leaves threads at 0. */
#define SERVER_THREADS_PER_CORE 4

struct server; /* one listener: a libmicrohttpd daemon, its event threads, its handler pool */
struct server_request; /* one request; borrowed by handlers for the duration of the call */

/*
 * One route. The pattern is a path whose segments are literal or "{}", which matches one
 * non-empty segment (read it with server_request_param). A handler answers through exactly
 * one server_reply_* call; if it does not, the client gets a 500.
 */
struct server_route {
	const char *method;  /* "GET", "POST", … */
	const char *pattern; /* "/v1/members/{}" */
	void (*handler)(struct server_request *req, void *app);
	const void *data; /* what the route needs (a required role, …); borrowed */
};

/* What the client certificate means on this listener. */
enum server_cert_mode {
	SERVER_CERT_NONE,     /* not asked for, not checked */
	SERVER_CERT_OPTIONAL, /* checked when sent: none is fine, one the store refuses gets
	                         403 forbidden (the wrong kind of credential for this listener) */
	SERVER_CERT_REQUIRED, /* every request needs a valid one (SPEC 9.1 step 1) */
};

/* A listener's configuration. Everything is borrowed and must outlive the server. */
struct server_config {
	const char *name; /* "partner", "compliance": in messages */
	const struct config_listen *listen;
	struct tlscred *cred;  /* the listener's certificate chain and key, loaded and checked
	                          (tlscred_load); the server takes its own reference */
	const char *client_ca; /* PEM file sent to clients as the CAs to pick a certificate for;
	                          NULL: no certificate is asked for */
	struct tlsauth *trust; /* checks client certificates; NULL only with SERVER_CERT_NONE */
	enum server_cert_mode cert_mode;
	unsigned threads; /* handler threads (requests handled at once), 0 = SERVER_THREADS_PER_CORE
	                     per core; TLS and HTTP run on one event thread per core */
	unsigned max_connections;     /* connections that have authenticated (admission.h) */
	unsigned max_unauthenticated; /* and those that have not yet: in their handshake or
	                                 first request; 0 = max_connections */
	unsigned handshake_timeout_s; /* a new connection's handshake and first request head
	                                 must be done within it; 0 = SERVER_HANDSHAKE_TIMEOUT_S */
	unsigned idle_timeout_s;      /* an idle connection is closed */
	unsigned max_header_bytes;    /* request line and headers; over it 431 */
	size_t max_body_bytes;        /* request bodies; 0: none accepted */
	const struct server_route *routes;
	size_t nroutes;
	/*
	 * Optional: runs after routing and before the handler, with the route found (staff tokens
	 * and roles). Returns APIERR_NONE to go on, or the refusal with a message in msg.
	 */
	enum apierr (*authorize)(struct server_request *req, const struct server_route *route,
	                         void *app, char *msg, size_t msglen);
	/*
	 * Optional: true if route's handler may run on the event thread, for this request, without
	 * the hop to the handler pool. Such a handler must never block: no network, no fsync, no
	 * wait for the ledger (it waits through server_request_defer). NULL: every handler runs on
	 * the pool.
	 */
	bool (*on_event)(const struct server_route *route, void *app);
	void *app; /* passed to handlers, authorize and on_event */
	struct log *log;
	struct metrics *metrics; /* requests and connections counted under name; NULL: none */
};

/*
 * Binds and starts the listener. Returns the server (stop it with server_stop) or NULL with a
 * message in err.
 */
struct server *server_start(const struct server_config *cfg, char *err, size_t errlen);

/*
 * Makes cred the certificate and key of the listener's new handshakes (the server takes its
 * own reference; the caller keeps its). Connections already open keep theirs until they close.
 */
void server_set_cred(struct server *s, struct tlscred *cred);

/* The certificate and key new handshakes get: a new reference, caller releases. */
struct tlscred *server_cred(struct server *s);

/* The address actually listened on, "https://127.0.0.1:8443". Borrowed. */
const char *server_url(const struct server *s);

/*
 * Stops accepting at once, lets requests in flight finish for up to drain_ms (kept-alive
 * connections are told to close), then closes every connection and frees. NULL is a no-op.
 */
void server_stop(struct server *s, unsigned drain_ms);

/* --- For handlers: the request. All strings are borrowed for the duration of the call. --- */

/* The request id (24 hex digits, also in X-Request-Id and the log). */
const char *server_request_id(const struct server_request *r);
const char *server_request_method(const struct server_request *r);
/* The decoded path, without the query string. */
const char *server_request_path(const struct server_request *r);
/* The i-th "{}" segment of the route, or NULL. */
const char *server_request_param(const struct server_request *r, unsigned i);
/* The route that matched (NULL before routing). */
const struct server_route *server_request_route(const struct server_request *r);
/*
 * Who the client certificate names, verified for this request (SPEC 9.1 step 1), or NULL if
 * the listener has no certificate check or the client sent none (SERVER_CERT_OPTIONAL).
 */
const struct tlsauth_identity *server_request_identity(const struct server_request *r);

/*
 * A request header. Returns 1 with *value set (borrowed), 0 if absent, -1 if unusable: sent
 * more than once, longer than maxlen bytes, empty, or holding control characters or NUL.
 * Identity headers a client might send (X-Client-Cert…, X-Forwarded-Client-Cert, X-SSL-Client-…,
 * X-Partner…, X-Remote-User, X-Staff…) are never returned (0): who is calling comes from TLS
 * only, and nothing the client sent is ever forwarded.
 */
int server_request_header(struct server_request *r, const char *name, size_t maxlen,
                          const char **value);
/* A query parameter, by the same rules as server_request_header (empty is allowed). */
int server_request_query(struct server_request *r, const char *name, size_t maxlen,
                         const char **value);
/* An unsigned decimal query parameter in [min, max]; absent gives dflt. Returns 0 or -1. */
int server_request_query_uint(struct server_request *r, const char *name, unsigned long min,
                              unsigned long max, unsigned long dflt, unsigned long *out);
/* 0 if every query parameter is one of allowed (NULL-terminated), else -1. */
int server_request_query_only(struct server_request *r, const char *const *allowed);

/* The request body (NULL with *len 0 if none). */
const char *server_request_body(const struct server_request *r, size_t *len);

/* What the log line says: the principal (default: the certificate's id) and the purpose.
 * Copied. */
void server_request_set_principal(struct server_request *r, const char *who);
void server_request_set_purpose(struct server_request *r, const char *purpose);

/* --- For handlers: the answer. Each request gets X-Request-Id and Cache-Control: no-store. --- */

/* Answers with a copy of body. Returns 0, or -1 if a reply was already made or out of memory. */
int server_reply(struct server_request *r, unsigned status, const char *content_type,
                 const void *body, size_t len);
/* Answers with body, a malloc'd buffer the server frees (also on failure). */
int server_reply_take(struct server_request *r, unsigned status, const char *content_type,
                      char *body, size_t len);
/* Answers with the compact JSON of doc; steals the reference to doc. */
int server_reply_json(struct server_request *r, unsigned status, json_t *doc);
/* Answers {"error":code,"message":…,"request_id":…} with the code's status; message NULL
 * takes the table's default. */
int server_reply_error(struct server_request *r, enum apierr e, const char *message);
/*
 * For a handler that answers later, from another thread (a ledger commit's callback). Called
 * during the handler, before that thread can be told to go on: true, and the connection stays
 * suspended when the handler returns, the request and all it borrows (headers, identity, body)
 * still valid, until server_request_resume; false (the listener is stopping, or not during a
 * handler call) and the handler must answer before it returns, as usual.
 */
bool server_request_defer(struct server_request *r);
/* True while r's handler runs on its event thread (server_config.on_event), not the pool. */
bool server_request_on_event(const struct server_request *r);
/*
 * From a handler on the event thread that has deferred r (server_request_defer): runs w on the
 * handler pool, for what may block. False if the pool has stopped: the caller runs it itself.
 */
bool server_request_to_pool(struct server_request *r, struct workq_item *w);
/*
 * Ends a deferred request, from any thread, once its answer is made (server_reply_*; none
 * makes a 500): its event thread sends it. Nothing of r may be touched after, nor anything
 * it borrowed: the client may be gone and the request freed.
 */
void server_request_resume(struct server_request *r);

/* Adds a header to the answer already made (Retry-After, X-Ledger-Index, Allow).
 * Returns 0, or -1 if there is no answer yet or the name or value is unusable. */
int server_reply_header(struct server_request *r, const char *name, const char *value);

#endif
