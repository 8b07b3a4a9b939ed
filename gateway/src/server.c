/* server — an HTTPS listener: TLS, limits, who is calling, routing, JSON answers, request log. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <openssl/rand.h>

#include "admission.h"
#include "codec.h"
#include "file.h"
#include "now.h"
#include "route.h"
#include "server.h"
#include "server_private.h"
#include "tlscred.h"

/*
 * The TLS profile of both listeners (SPEC 13, docs/operations.md "TLS profile"): TLS 1.2 and
 * 1.3 only; ECDHE key exchange only (forward secrecy: no static RSA, no finite-field DHE);
 * AEAD ciphers only (AES-GCM, ChaCha20-Poly1305: no CBC, so no Lucky13 or padding oracles), in
 * the server's order. Signature algorithms SHA-256 or better, the only ones offered for the
 * server's signatures and listed in the CertificateRequest (RFC 9155 forbids SHA-1 in TLS 1.2);
 * RSA and EC keys both work, and Ed25519/Ed448. Renegotiation cannot happen: libmicrohttpd
 * treats a client's renegotiation attempt (GNUTLS_E_REHANDSHAKE) as a fatal TLS error and
 * closes the connection; %SAFE_RENEGOTIATION refuses clients that do not even announce RFC 5746.
 */
#define TLS_PRIORITIES                                                                             \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"                                              \
	"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"                                                         \
	"-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:"                 \
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:"             \
	"-SIGN-ALL:+SIGN-ECDSA-SHA256:+SIGN-ECDSA-SECP256R1-SHA256:+SIGN-ECDSA-SHA384:"            \
	"+SIGN-ECDSA-SECP384R1-SHA384:+SIGN-ECDSA-SHA512:+SIGN-ECDSA-SECP521R1-SHA512:"            \
	"+SIGN-RSA-PSS-RSAE-SHA256:+SIGN-RSA-PSS-RSAE-SHA384:+SIGN-RSA-PSS-RSAE-SHA512:"           \
	"+SIGN-RSA-PSS-SHA256:+SIGN-RSA-PSS-SHA384:+SIGN-RSA-PSS-SHA512:"                          \
	"+SIGN-RSA-SHA256:+SIGN-RSA-SHA384:+SIGN-RSA-SHA512:"                                      \
	"+SIGN-EDDSA-ED25519:+SIGN-EDDSA-ED448:"                                                   \
	"%SERVER_PRECEDENCE:%SAFE_RENEGOTIATION"

#define PEM_MAX (1024 * 1024)
#define DEADLINE_NONE 0
#define DEADLINE_REAPED (-1)
#define REAPER_PERIOD_MS 250
#define ADMISSION_REPORT_MS 10000
#define MHD_LOG_PER_S 10

/* Moves the deadline (later or earlier) unless the reaper got there first; false then. */
static bool
deadline_set(struct conn *c, int64_t when)
{
	int64_t cur = atomic_load(&c->deadline_ms);

	while (cur != DEADLINE_REAPED)
		if (atomic_compare_exchange_weak(&c->deadline_ms, &cur, when))
			return true;
	return false;
}

/* Brings the deadline forward to when, if that is earlier (or there was none). */
static void
deadline_lower(struct conn *c, int64_t when)
{
	int64_t cur = atomic_load(&c->deadline_ms);

	while (cur != DEADLINE_REAPED && (cur == DEADLINE_NONE || when < cur))
		if (atomic_compare_exchange_weak(&c->deadline_ms, &cur, when))
			return;
}

/* ---- The reaper: enforces what libmicrohttpd's idle timeout cannot. ---- */

/* Under a flood a line per refused connection would drown the log: at most one line per
 * period. True if it wrote one. */
static bool
admission_report(struct server *s)
{
	unsigned long refused = atomic_exchange(&s->refused, 0);
	unsigned long evicted = atomic_exchange(&s->evicted, 0);

	if (refused == 0 && evicted == 0)
		return false;
	pthread_mutex_lock(&s->conns_lock);
	unsigned pending = admission_pending(s->admission);
	unsigned trusted = admission_trusted(s->admission);
	pthread_mutex_unlock(&s->conns_lock);
	log_msg(s->cfg.log, "warn",
	        "%s listener: unauthenticated connections at the limit: %lu refused at accept, "
	        "%lu closed to make room (now %u unauthenticated, %u authenticated)",
	        s->cfg.name, refused, evicted, pending, trusted);
	return true;
}

/*
 * libmicrohttpd's connection timeout restarts on every byte, so a client that sends one header
 * byte every two seconds would hold its connection forever. Each connection carries a deadline:
 *   - from accept, the TLS handshake and the first request's head must be complete within
 *     handshake_timeout (a few seconds: until then the connection is a stranger's, and holds
 *     a pending slot, see admission.h);
 *   - from the previous answer, the next request's head must be complete within
 *     idle_timeout + header_timeout (a silent client is closed by the idle timeout; one that
 *     trickles gets no more than header_timeout beyond it);
 *   - from its request line, within header_timeout; from the end of the head, the body too;
 *   - none while a handler works.
 * This thread shuts down the socket of any connection past its deadline. shutdown() makes the
 * worker that owns the connection read EOF and close it in its own thread. The socket is still ours
 * to touch: a connection leaves the list (NOTIFY_CONNECTION CLOSED, under conns_lock) before
 * libmicrohttpd closes its fd.
 */
static void *
reaper_main(void *arg)
{
	struct server *s = arg;
	struct timespec until;
	int64_t next_report = 0;

	pthread_mutex_lock(&s->reaper_lock);
	while (!s->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += REAPER_PERIOD_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->reaper_cond, &s->reaper_lock, &until);
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->reaper_lock);

		int64_t now = now_mono_ms();
		unsigned reaped = 0;
		pthread_mutex_lock(&s->conns_lock);
		for (struct conn *c = s->conns; c != NULL; c = c->next) {
			int64_t d = atomic_load(&c->deadline_ms);
			if (d > 0 && d <= now &&
			    atomic_compare_exchange_strong(&c->deadline_ms, &d, DEADLINE_REAPED)) {
				if (c->fd >= 0)
					shutdown(c->fd, SHUT_RDWR);
				reaped++;
			}
		}
		pthread_mutex_unlock(&s->conns_lock);
		if (reaped > 0)
			log_msg(s->cfg.log, "warn",
			        "%s listener: closed %u connection%s that did not complete a "
			        "request in time",
			        s->cfg.name, reaped, reaped == 1 ? "" : "s");
		if (now >= next_report && admission_report(s))
			next_report = now + ADMISSION_REPORT_MS;
		pthread_mutex_lock(&s->reaper_lock);
	}
	pthread_mutex_unlock(&s->reaper_lock);
	return NULL;
}

/* ---- Connections ---- */

/* Closes c at once: the worker that owns it reads EOF and closes it in its own thread. Under
 * conns_lock, which keeps c in the list and its fd open. */
static void
conn_shut(struct conn *c)
{
	int64_t d = atomic_load(&c->deadline_ms);

	while (d != DEADLINE_REAPED)
		if (atomic_compare_exchange_weak(&c->deadline_ms, &d, DEADLINE_REAPED)) {
			if (c->fd >= 0)
				shutdown(c->fd, SHUT_RDWR);
			return;
		}
}

/* libmicrohttpd's accept policy: a stranger's address over its share is closed at once. */
static enum MHD_Result
on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct server *s = cls;

	(void)addrlen;
	pthread_mutex_lock(&s->conns_lock);
	bool ok = admission_allow(s->admission, addr);
	pthread_mutex_unlock(&s->conns_lock);
	if (!ok)
		atomic_fetch_add_explicit(&s->refused, 1, memory_order_relaxed);
	return ok ? MHD_YES : MHD_NO;
}

static void
on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
	struct server *s = cls;
	struct conn *c;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		c = calloc(1, sizeof *c);
		if (c == NULL)
			return; /* the handler refuses a connection without context */
		c->server = s;
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
		c->fd = ci != NULL ? ci->connect_fd : -1;
		ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
		atomic_init(&c->deadline_ms, now_mono_ms() + s->handshake_ms);
		struct admission_slot *evict = NULL;
		pthread_mutex_lock(&s->conns_lock);
		if (admission_add(s->admission, &c->slot, sa, &evict) != 0)
			conn_shut(c); /* out of memory: not counted, so not kept */
		if (evict != NULL) {
			conn_shut(
			    (struct conn *)(void *)((char *)evict - offsetof(struct conn, slot)));
			atomic_fetch_add_explicit(&s->evicted, 1, memory_order_relaxed);
		}
		c->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = c;
		s->conns = c;
		pthread_mutex_unlock(&s->conns_lock);
		metrics_connection(s->cfg.metrics, s->mx, 1);
		*socket_context = c;
		return;
	}
	c = *socket_context;
	if (c == NULL)
		return;
	pthread_mutex_lock(&s->conns_lock);
	admission_remove(s->admission, &c->slot);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&s->conns_lock);
	/* libmicrohttpd has ended the TLS session by now: nothing reads the certificate again */
	tlscred_release(c->cred);
	metrics_connection(s->cfg.metrics, s->mx, -1);
	buf_free(&c->body);
	free(c);
	*socket_context = NULL;
}

/* SPEC 9.1 step 1, cached per connection: verified again only when the trust store changed
 * or the verdict's time ran out (a certificate expiring, the CRL reaching nextUpdate). */
static enum apierr
conn_certificate(struct conn *c, struct MHD_Connection *mc)
{
	struct tlsauth *trust = c->server->cfg.trust;
	uint64_t gen = tlsauth_generation(trust);
	time_t now = time(NULL);

	if (c->cert_checked && c->cert_generation == gen &&
	    (c->cert_verdict != APIERR_NONE || now < c->identity.recheck_at))
		return c->cert_verdict;

	struct tlsauth_der chain[TLSAUTH_MAX_CHAIN + 1];
	unsigned n = 0;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t session = ci != NULL ? (gnutls_session_t)ci->tls_session : NULL;
	if (session != NULL && gnutls_certificate_type_get(session) == GNUTLS_CRT_X509) {
		const gnutls_datum_t *peers = gnutls_certificate_get_peers(session, &n);
		if (peers == NULL)
			n = 0;
		/* One more than allowed is enough for tlsauth to refuse the chain. */
		if (n > TLSAUTH_MAX_CHAIN + 1)
			n = TLSAUTH_MAX_CHAIN + 1;
		for (unsigned i = 0; i < n; i++) {
			chain[i].data = peers[i].data;
			chain[i].len = peers[i].size;
		}
	}
	c->cert_verdict =
	    tlsauth_verify(trust, chain, n, &c->identity, c->cert_msg, sizeof c->cert_msg);
	c->cert_generation = c->cert_verdict == APIERR_NONE ? c->identity.generation : gen;
	c->cert_checked = true;
	return c->cert_verdict;
}

/* ---- Requests ---- */

/*
 * A request id is the server's random 96-bit base plus the count of requests before it, so
 * ids repeat neither within a listener (the count stays below 2^64) nor, but for odds like
 * those of random ids, across listeners, processes and restarts: two bases collide only if
 * their runs overlap, about 2L / 2^96 for runs of L requests. A random draw per request was
 * ~2 % of a request's CPU. The ids are not secret: consecutive ones show how many requests
 * came in between, which X-Ledger-Index shows already.
 */
static void
new_request_id(struct server *s, char *out)
{
	uint64_t n = atomic_fetch_add_explicit(&s->id_count, 1, memory_order_relaxed);
	unsigned char b[REQUEST_ID_BYTES];
	unsigned carry = 0;

	for (size_t i = REQUEST_ID_BYTES; i-- > 0;) {
		unsigned v = s->id_base[i] + (unsigned)(n & 0xff) + carry;
		b[i] = (unsigned char)v;
		carry = v >> 8;
		n >>= 8;
	}
	codec_hex_encode(b, sizeof b, out);
}

static struct conn *
conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* The request line has arrived: a request starts. Returns its context for libmicrohttpd. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
	struct server *s = cls;
	struct conn *c = conn_of(mc);

	if (c == NULL)
		return NULL;
	struct server_request *r = &c->req;
	assert(!r->active);
	r->conn = c;
	r->mhd = mc;
	r->url = NULL;
	r->method = NULL;
	clock_gettime(CLOCK_REALTIME, &r->wall);
	r->start_us = now_mono_us();
	new_request_id(s, r->id);
	r->log_method[0] = '\0';
	size_t n = strcspn(uri, "?");
	if (n > LOG_ROUTE_MAX)
		n = LOG_ROUTE_MAX;
	memcpy(r->log_path, uri, n);
	r->log_path[n] = '\0';
	/* libmicrohttpd decodes the path into a C string: "/v1/members/M1%00x" would reach the
	   router as "/v1/members/M1", the rest silently dropped; a raw NUL is dropped the same
	   way before we see the target, which on_request finds by where the target ends */
	r->nul_target = strstr(uri, "%00") != NULL;
	r->target_end = uri + strlen(uri);
	r->bad_header = false;
	r->bad_auth = false;
	r->bad_framing = false;
	r->route = NULL;
	r->nparams = 0;
	r->identity = NULL;
	r->principal[0] = '\0';
	r->purpose[0] = '\0';
	r->detail[0] = '\0';
	r->response = NULL;
	r->status = 0;
	r->error = APIERR_NONE;
	buf_reset(&c->body);
	r->body_over = false;
	r->checked = false;
	r->active = true;
	deadline_lower(c, now_mono_ms() + s->header_ms);
	atomic_fetch_add(&s->inflight, 1);
	return r;
}

static void
on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct server *s = cls;
	struct server_request *r = *con_cls;

	(void)toe;
	if (r == NULL || !r->active)
		return;
	*con_cls = NULL;
	struct conn *c = r->conn;
	if (r->response != NULL) {
		MHD_destroy_response(r->response);
		r->response = NULL;
	}
	unsigned status = r->status;
	const char *error = r->error != APIERR_NONE ? apierr_code(r->error) : NULL;
	if (status == 0) {
		/* An answer libmicrohttpd made itself (431, 414, 400) or none at all. */
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_HTTP_STATUS);
		if (ci != NULL)
			status = ci->http_status;
		else if (atomic_load(&c->deadline_ms) == DEADLINE_REAPED)
			status = 408;
		if (status == 431 || status == 414)
			error = apierr_code(APIERR_REQUEST_TOO_LARGE);
	}
	char shape[LOG_ROUTE_MAX + 1];
	uint64_t duration_us = now_mono_us() - r->start_us;
	metrics_request(s->cfg.metrics, s->mx, status, duration_us);
	if (r->route == NULL)
		route_log_shape(s->patterns, s->cfg.nroutes, r->log_path, shape, sizeof shape);
	struct log_request_fields f = {
	    .time = &r->wall,
	    .request_id = r->id,
	    .partner = r->principal,
	    .purpose = r->purpose,
	    .method = r->log_method,
	    /* the route's pattern once matched: a member id in a path is personal data, and the
	       ledger, not the log, says which member a decision was about */
	    .path = r->route != NULL ? r->route->pattern : shape,
	    .status = status,
	    .duration_us = duration_us,
	    .error = error,
	    .detail = r->detail[0] != '\0' ? r->detail : NULL,
	};
	log_request(s->cfg.log, &f);
	r->active = false;
	c->requests++;
	deadline_set(c, now_mono_ms() + s->idle_ms + s->header_ms);
	atomic_fetch_sub(&s->inflight, 1);
}

/* Finds the route; on failure replies 404, 405 (with Allow) or 400. */
static const struct server_route *
route_find(struct server *s, struct server_request *r, const char *path, const char *method)
{
	char allow[128] = "";
	size_t alen = 0;
	bool path_known = false;

	for (size_t i = 0; i < s->cfg.nroutes; i++) {
		const struct server_route *rt = &s->cfg.routes[i];
		if (strcmp(rt->method, method) == 0) {
			int m = route_match(rt->pattern, path, r->params, &r->nparams);
			if (m < 0) {
				server_reply_error(r, APIERR_BAD_REQUEST,
				                   "a path segment is too long");
				return NULL;
			}
			if (m > 0)
				return rt;
		} else if (route_match(rt->pattern, path, NULL, NULL) != 0) {
			if (!strstr(allow, rt->method)) {
				int w = snprintf(allow + alen, sizeof allow - alen, "%s%s",
				                 alen ? ", " : "", rt->method);
				if (w > 0 && (size_t)w < sizeof allow - alen)
					alen += (size_t)w;
			}
			path_known = true;
		}
	}
	if (path_known) {
		server_reply_error(r, APIERR_METHOD_NOT_ALLOWED, NULL);
		server_reply_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	} else {
		server_reply_error(r, APIERR_NOT_FOUND, NULL);
	}
	return NULL;
}

/* Everything decided from the head of the request: size, certificate, route, authorization.
 * Leaves a reply in r when the request stops here. */
static void
request_head(struct server *s, struct conn *c, struct server_request *r)
{
	const union MHD_ConnectionInfo *hi =
	    MHD_get_connection_info(r->mhd, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	char msg[200];

	/* SPEC 9.1 step 1: who is calling. */
	if (s->cfg.cert_mode != SERVER_CERT_NONE) {
		enum apierr e = conn_certificate(c, r->mhd);
		if (e == APIERR_NONE) {
			r->identity = &c->identity;
			server_request_set_principal(r, c->identity.id);
		} else if (s->cfg.cert_mode == SERVER_CERT_OPTIONAL &&
		           e != APIERR_CLIENT_CERTIFICATE_REQUIRED) {
			/* Where a certificate only backs a token up (the compliance API), one the
			 * store refuses, a partner's say, is the wrong credential here: 403. */
			server_reply_error(r, APIERR_FORBIDDEN, c->cert_msg);
			return;
		} else if (!(e == APIERR_CLIENT_CERTIFICATE_REQUIRED &&
		             s->cfg.cert_mode == SERVER_CERT_OPTIONAL)) {
			server_reply_error(r, e, c->cert_msg);
			return;
		}
	}
	/* Step 2: the request is well-formed. */
	if (hi != NULL && hi->header_size > s->cfg.max_header_bytes) {
		snprintf(msg, sizeof msg, "request line and headers over %u bytes",
		         s->cfg.max_header_bytes);
		server_reply_error(r, APIERR_REQUEST_TOO_LARGE, msg);
		return;
	}
	if (r->nul_target) {
		server_reply_error(r, APIERR_BAD_REQUEST, "the request target holds a NUL");
		return;
	}
	if (r->bad_header) {
		server_reply_error(r, APIERR_BAD_REQUEST,
		                   "a header value holds a NUL or another control character");
		return;
	}
	r->route = route_find(s, r, r->url, r->method);
	if (r->route == NULL)
		return;
	if (s->cfg.authorize != NULL) {
		msg[0] = '\0';
		enum apierr e = s->cfg.authorize(r, r->route, s->cfg.app, msg, sizeof msg);
		if (e != APIERR_NONE)
			server_reply_error(r, e, msg[0] ? msg : NULL);
	}
}

static void
body_append(struct server *s, struct conn *c, struct server_request *r, const char *data,
            size_t len)
{
	struct buf *b = &c->body;

	/* max_body_bytes 0 takes no body; else the first allocation holds the largest body */
	if (r->body_over || len > s->cfg.max_body_bytes - b->len ||
	    (b->cap == 0 && buf_reserve(b, s->cfg.max_body_bytes) != 0) ||
	    buf_add(b, data, len) != 0)
		r->body_over = true;
}

/* Queues the answer. Connections that have not authenticated get one answer and are closed,
 * so that a stranger holds a pending slot only as long as one request takes. */
static enum MHD_Result
queue(struct server_request *r)
{
	struct conn *c = r->conn;
	enum MHD_Result ret;

	if (r->response == NULL)
		return MHD_NO;
	if (c->slot.state != ADMISSION_TRUSTED || r->bad_framing)
		MHD_add_response_header(r->response, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(r->mhd, r->status, r->response);
	MHD_destroy_response(r->response);
	r->response = NULL;
	return ret;
}

/* A request that authenticated (a verified certificate or staff token set the principal)
 * moves its connection into the trusted budget, if there is room. */
static void
conn_admit(struct server *s, struct conn *c, const struct server_request *r)
{
	if (r->principal[0] == '\0' || c->slot.state != ADMISSION_PENDING)
		return;
	pthread_mutex_lock(&s->conns_lock);
	admission_trust(s->admission, &c->slot);
	pthread_mutex_unlock(&s->conns_lock);
}

static bool
has_body(struct MHD_Connection *mc)
{
	const char *len =
	    MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return (len != NULL && strcmp(len, "0") != 0) ||
	       MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
	                                   MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

/*
 * A handler thread's work. Handlers block (a data request waits for its ledger entry's group
 * commit, a report reads the whole ledger), so they do not run on libmicrohttpd's event threads,
 * one per core, which do TLS and HTTP for every connection: a complete request's connection is
 * suspended and the request queued on the handler pool; once the handler has made the answer,
 * the connection is resumed and its event thread sends it. So many requests wait on one commit
 * (which groups them) without as many event threads contending for the listening socket. While
 * suspended, libmicrohttpd leaves the connection alone: the handler reads its headers
 * undisturbed. Once resumed, the request may be gone: nothing of it is touched after.
 */
static void
handler_run(struct workq_item *w)
{
	struct server_request *r =
	    (struct server_request *)(void *)((char *)w - offsetof(struct server_request, work));
	bool deferred = false;

	r->on_event = false;
	r->deferred = &deferred;
	r->route->handler(r, r->conn->server->cfg.app);
	if (deferred)
		return; /* server_request_resume ends it, maybe already has: r may be gone */
	r->deferred = NULL;
	if (r->response == NULL)
		server_reply_error(r, APIERR_INTERNAL, NULL);
	MHD_resume_connection(r->mhd);
}

/* Runs r's handler on the event thread. True if it deferred the answer: the connection is
 * suspended, and r may be gone already. */
static bool
handler_here(struct server *s, struct server_request *r)
{
	bool deferred = false;

	r->on_event = true;
	r->deferred = &deferred;
	r->route->handler(r, s->cfg.app);
	if (!deferred)
		r->deferred = NULL;
	return deferred;
}

bool
server_request_defer(struct server_request *r)
{
	struct server *s = r->conn->server;

	if (r->deferred == NULL)
		return false;
	/* counted before no_defer is read, as server_stop sets it before it reads the count:
	   either it waits for this request, or this request is refused */
	atomic_fetch_add(&s->deferred, 1);
	if (atomic_load(&s->no_defer)) {
		atomic_fetch_sub(&s->deferred, 1);
		return false;
	}
	/* on the pool the connection is suspended already (handler_queue) */
	if (r->on_event)
		MHD_suspend_connection(r->mhd);
	*r->deferred = true;
	r->deferred = NULL;
	return true;
}

bool
server_request_on_event(const struct server_request *r)
{
	return r->on_event;
}

bool
server_request_to_pool(struct server_request *r, struct workq_item *w)
{
	struct server *s = r->conn->server;

	assert(r->on_event && r->deferred == NULL);
	return workq_push(s->handlers, w, NULL, NULL);
}

/*
 * A suspended connection is out of libmicrohttpd's polling and timeouts: a client that closes
 * it is noticed only once it is resumed, so the connection and its request (c->req) live at
 * least until then; on_completed, which ends the request, runs after. The server outlives
 * the resume: server_stop waits for the count to fall to zero.
 */
void
server_request_resume(struct server_request *r)
{
	struct server *s = r->conn->server;

	if (r->response == NULL)
		server_reply_error(r, APIERR_INTERNAL, NULL);
	MHD_resume_connection(r->mhd);
	atomic_fetch_sub(&s->deferred, 1);
}

/* Under the pool's lock, before a handler thread can take the request and resume it. */
static void
handler_suspend(void *mhd)
{
	MHD_suspend_connection(mhd);
}

/*
 * Queues a complete request for the handler pool (handler_run) and suspends its connection.
 * False once the pool has stopped: a request that a kept-alive connection sends while the
 * listener stops is then handled on its event thread, rather than left suspended, which
 * libmicrohttpd cannot stop with.
 */
static bool
handler_queue(struct server *s, struct server_request *r)
{
	r->work = (struct workq_item){.run = handler_run};
	return workq_push(s->handlers, &r->work, handler_suspend, r->mhd);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct server *s = cls;
	struct server_request *r = *con_cls;

	if (r == NULL || r->conn == NULL)
		return MHD_NO; /* no context: out of memory at accept */
	struct conn *c = r->conn;
	r->mhd = mc;
	r->url = url;
	r->method = method;
	if (!r->checked) {
		r->checked = true;
		snprintf(r->log_method, sizeof r->log_method, "%s", method);
		/* The head is complete; a body must follow within the same limit. */
		if (!deadline_set(c, now_mono_ms() + s->header_ms))
			return MHD_NO;
		server_head_scan(r, method, version);
		if (r->bad_framing) {
			server_reply_error(r, APIERR_BAD_REQUEST,
			                   "the body's length is ambiguous: Content-Length with "
			                   "Transfer-Encoding, repeated or not a number, or a "
			                   "Transfer-Encoding other than chunked");
			return queue(r);
		}
		request_head(s, c, r);
		conn_admit(s, c, r);
		/*
		 * A refusal goes out now if a body follows (libmicrohttpd then closes the
		 * connection rather than read it); without a body it goes out on the next call,
		 * which keeps the connection alive for the client's next request.
		 */
		if (r->response != NULL && has_body(mc))
			return queue(r);
		return MHD_YES;
	}
	if (*upload_size != 0) {
		body_append(s, c, r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	/* The request is complete: no deadline while the handler works. */
	if (!deadline_set(c, DEADLINE_NONE))
		return MHD_NO;
	if (r->response != NULL)
		return queue(r);
	if (r->body_over) {
		char msg[96];
		snprintf(msg, sizeof msg, "request body over %zu bytes", s->cfg.max_body_bytes);
		server_reply_error(r, APIERR_BAD_REQUEST, msg);
	} else if (s->cfg.on_event != NULL && s->cfg.on_event(r->route, s->cfg.app)) {
		if (handler_here(s, r))
			return MHD_YES; /* the connection sleeps until server_request_resume */
	} else if (handler_queue(s, r)) {
		return MHD_YES; /* the connection sleeps until a handler thread has answered */
	} else if (handler_here(s, r)) {
		return MHD_YES;
	}
	if (r->response == NULL)
		server_reply_error(r, APIERR_INTERNAL, NULL);
	return queue(r);
}

/* Lets the handler threads finish what is queued, joins them and frees the pool. */
static void
handlers_stop(struct server *s)
{
	workq_stop(s->handlers);
	s->handlers = NULL;
}

/*
 * libmicrohttpd's own diagnostics (TLS handshake failures, protocol errors) into our log, at
 * most MHD_LOG_PER_S lines a second: each stranger's failed handshake makes one, and a flood
 * of them must not flood the log. What was left out is counted in the next line written.
 */
static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct server *s = cls;
	char buf[512];
	size_t n;
	int64_t sec = now_mono_ms() / 1000;
	unsigned long dropped = 0;

	pthread_mutex_lock(&s->mhdlog_lock);
	if (sec != s->mhdlog_sec) {
		s->mhdlog_sec = sec;
		s->mhdlog_lines = 0;
	}
	bool write = s->mhdlog_lines < MHD_LOG_PER_S;
	if (write) {
		s->mhdlog_lines++;
		dropped = s->mhdlog_dropped;
		s->mhdlog_dropped = 0;
	} else {
		s->mhdlog_dropped++;
	}
	pthread_mutex_unlock(&s->mhdlog_lock);
	if (!write)
		return;
	if (dropped > 0)
		log_msg(s->cfg.log, "info", "%s listener: %lu more such messages left out",
		        s->cfg.name, dropped);
	vsnprintf(buf, sizeof buf, fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_msg(s->cfg.log, "info", "%s listener: %s", s->cfg.name, buf);
}

/* ---- Start and stop ---- */

/* Reads a PEM file into a NUL-terminated buffer; caller frees. */
static char *
read_pem(const char *path, char *err, size_t errlen)
{
	size_t len;

	return file_read(path, PEM_MAX, FILE_READ_NONEMPTY, &len, err, errlen);
}

/*
 * GnuTLS asks for the server's certificate during each handshake (libmicrohttpd's
 * MHD_OPTION_HTTPS_CERT_CALLBACK): the connection takes a reference to the listener's
 * credential of the moment and keeps it until it closes, so a credential replaced by
 * server_set_cred stays alive for the connections that still use it. The lock is held only
 * to copy the pointer, once per handshake; GnuTLS may ask again within one handshake and gets
 * the same answer. libmicrohttpd makes the connection the session's pointer (gnutls_session_
 * set_ptr, in 0.9.75 as before), which leads to ours through its socket context.
 */
static int
on_certificate(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
               const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **chain,
               unsigned int *n, gnutls_privkey_t *key)
{
	struct MHD_Connection *mc = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *ci =
	    mc != NULL ? MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
	struct conn *c = ci != NULL ? ci->socket_context : NULL;

	(void)req_ca_dn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
	/* no context (out of memory): the handshake fails and the connection closes */
	if (c == NULL)
		return -1;
	if (c->cred == NULL) {
		struct server *s = c->server;
		pthread_mutex_lock(&s->cred_lock);
		c->cred = tlscred_ref(s->cred);
		pthread_mutex_unlock(&s->cred_lock);
	}
	tlscred_gnutls(c->cred, chain, n, key);
	return 0;
}

void
server_set_cred(struct server *s, struct tlscred *cred)
{
	tlscred_ref(cred);
	pthread_mutex_lock(&s->cred_lock);
	struct tlscred *old = s->cred;
	s->cred = cred;
	pthread_mutex_unlock(&s->cred_lock);
	tlscred_release(old);
}

struct tlscred *
server_cred(struct server *s)
{
	pthread_mutex_lock(&s->cred_lock);
	struct tlscred *c = tlscred_ref(s->cred);
	pthread_mutex_unlock(&s->cred_lock);
	return c;
}

static void
server_free(struct server *s)
{
	if (s->reaper_started) {
		pthread_mutex_lock(&s->reaper_lock);
		s->stopping = true;
		pthread_cond_signal(&s->reaper_cond);
		pthread_mutex_unlock(&s->reaper_lock);
		pthread_join(s->reaper, NULL);
	}
	handlers_stop(s);
	pthread_cond_destroy(&s->reaper_cond);
	pthread_mutex_destroy(&s->reaper_lock);
	pthread_mutex_destroy(&s->conns_lock);
	pthread_mutex_destroy(&s->mhdlog_lock);
	tlscred_release(s->cred);
	pthread_mutex_destroy(&s->cred_lock);
	admission_free(s->admission);
	free(s->patterns);
	free(s);
}

struct server *
server_start(const struct server_config *cfg, char *err, size_t errlen)
{
	struct server *s = calloc(1, sizeof *s);
	char *ca = NULL;
	struct addrinfo hints = {0}, *ai = NULL;
	char port[8];
	pthread_condattr_t ca_attr;

	assert(cfg->cert_mode == SERVER_CERT_NONE || cfg->trust != NULL);
	assert(cfg->cred != NULL);
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	s->mx = metrics_listener_named(cfg->name);
	if ((s->patterns = calloc(cfg->nroutes + 1, sizeof *s->patterns)) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < cfg->nroutes; i++)
		s->patterns[i] = cfg->routes[i].pattern;
	pthread_mutex_init(&s->conns_lock, NULL);
	pthread_mutex_init(&s->mhdlog_lock, NULL);
	pthread_mutex_init(&s->cred_lock, NULL);
	pthread_mutex_init(&s->reaper_lock, NULL);
	pthread_condattr_init(&ca_attr);
	pthread_condattr_setclock(&ca_attr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->reaper_cond, &ca_attr);
	pthread_condattr_destroy(&ca_attr);
	atomic_init(&s->inflight, 0);
	atomic_init(&s->draining, false);
	atomic_init(&s->deferred, 0);
	atomic_init(&s->no_defer, false);
	atomic_init(&s->id_count, 0);
	if (RAND_bytes(s->id_base, sizeof s->id_base) != 1) {
		snprintf(err, errlen, "%s listener: no randomness for request ids", cfg->name);
		goto fail;
	}

	/*
	 * One event thread per core for TLS and HTTP; handlers on their own pool (handler_run).
	 * A handler blocks while its ledger entry commits (the answer must wait for the fsync), so
	 * a pool of SERVER_THREADS_PER_CORE per core keeps that many requests in flight for group
	 * commit to gather.
	 */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned cores = ncpu > 0 ? (unsigned)ncpu : 1;
	unsigned threads = cfg->threads ? cfg->threads : cores * SERVER_THREADS_PER_CORE;
	char why[96];
	if ((s->handlers = workq_start(threads, why, sizeof why)) == NULL) {
		snprintf(err, errlen, "%s listener: %s", cfg->name, why);
		goto fail;
	}
	/*
	 * The connection's memory pool holds the request head, so it bounds it; the limit proper
	 * is ours (431 with a JSON body, exact to the byte). The pool leaves 4 KiB above it for
	 * header records and the answer's head. A head that fills the pool gets libmicrohttpd's
	 * own 431/414, except in a band of a few hundred bytes at the pool's size where it has
	 * no room left for any answer and just closes the connection.
	 */
	s->memory_limit = (size_t)cfg->max_header_bytes + 4096;
	s->idle_ms = (int64_t)cfg->idle_timeout_s * 1000;
	s->header_ms =
	    (int64_t)(cfg->idle_timeout_s < SERVER_HEADER_TIMEOUT_S ? cfg->idle_timeout_s
	                                                            : SERVER_HEADER_TIMEOUT_S) *
	    1000;
	s->handshake_ms = (int64_t)(cfg->handshake_timeout_s ? cfg->handshake_timeout_s
	                                                     : SERVER_HANDSHAKE_TIMEOUT_S) *
	                  1000;
	/*
	 * The two budgets of admission.h. libmicrohttpd's own limit stays above their sum, with
	 * room for connections already closed to make room whose worker has not reaped them yet:
	 * at its limit it stops accepting, and a partner would wait in the backlog again.
	 */
	unsigned pending =
	    cfg->max_unauthenticated ? cfg->max_unauthenticated : cfg->max_connections;
	if ((s->admission = admission_new(cfg->max_connections, pending)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	unsigned mhd_limit = cfg->max_connections + 2 * pending;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (strcmp(cfg->listen->host, "localhost") != 0)
		hints.ai_flags |= AI_NUMERICHOST;
	snprintf(port, sizeof port, "%u", cfg->listen->port);
	int gai = getaddrinfo(cfg->listen->host, port, &hints, &ai);
	if (gai != 0 || ai == NULL) {
		snprintf(err, errlen, "%s listener: bad address %s:%u: %s", cfg->name,
		         cfg->listen->host, cfg->listen->port, gai_strerror(gai));
		goto fail;
	}
	s->cred = tlscred_ref(cfg->cred);
	if (cfg->client_ca != NULL && (ca = read_pem(cfg->client_ca, err, errlen)) == NULL)
		goto fail;

	struct MHD_OptionItem trust[] = {
	    {ca != NULL ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, ca},
	    {MHD_OPTION_END, 0, NULL},
	};
	unsigned flags = MHD_USE_TLS | MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
	s->daemon = MHD_start_daemon(
	    flags, 0, on_accept, s, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, cores,
	    MHD_OPTION_HTTPS_CERT_CALLBACK, on_certificate, MHD_OPTION_HTTPS_PRIORITIES,
	    TLS_PRIORITIES, MHD_OPTION_CONNECTION_LIMIT, mhd_limit, MHD_OPTION_CONNECTION_TIMEOUT,
	    cfg->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->memory_limit,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, mhd_limit > 128 ? mhd_limit : 128,
	    MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
	    MHD_OPTION_ARRAY, trust, MHD_OPTION_END);
	if (s->daemon == NULL) {
		snprintf(err, errlen,
		         "%s listener: cannot start on %s:%u (address in use, or bad "
		         "certificate or key)",
		         cfg->name, cfg->listen->host, cfg->listen->port);
		goto fail;
	}

	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	char host[INET6_ADDRSTRLEN] = "?";
	if (ai->ai_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, host,
		          sizeof host);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, host,
		          sizeof host);
	snprintf(s->url, sizeof s->url,
	         ai->ai_family == AF_INET6 ? "https://[%s]:%u" : "https://%s:%u", host,
	         di != NULL ? (unsigned)di->port : cfg->listen->port);

	if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
		snprintf(err, errlen, "%s listener: cannot start a thread", cfg->name);
		MHD_stop_daemon(s->daemon);
		goto fail;
	}
	s->reaper_started = true;
	free(ca);
	freeaddrinfo(ai);
	return s;
fail:
	free(ca);
	if (ai != NULL)
		freeaddrinfo(ai);
	server_free(s);
	return NULL;
}

const char *
server_url(const struct server *s)
{
	return s->url;
}

void
server_stop(struct server *s, unsigned drain_ms)
{
	if (s == NULL)
		return;
	atomic_store(&s->draining, true);
	MHD_socket fd = MHD_quiesce_daemon(s->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	int64_t until = now_mono_ms() + drain_ms;
	while (atomic_load(&s->inflight) > 0 && now_mono_ms() < until) {
		struct timespec pause = {0, 10 * 1000000L};
		nanosleep(&pause, NULL);
	}
	/*
	 * libmicrohttpd must not stop with a suspended connection: every queued request is
	 * answered (and its connection resumed) first, and every deferred one (its ledger entry
	 * committed or failed: the writer calls back either way). The pool stays allocated until
	 * server_free: an event thread may still push to it, and is then told to answer on its
	 * own (handler_queue, server_request_to_pool), as a deferral is refused once no_defer is
	 * set.
	 */
	workq_close(s->handlers);
	atomic_store(&s->no_defer, true);
	while (atomic_load(&s->deferred) > 0) {
		struct timespec pause = {0, 1000000L};
		nanosleep(&pause, NULL);
	}
	MHD_stop_daemon(s->daemon);
	server_free(s);
}
