/* status — the plain-HTTP listener for the machine's monitoring: /healthz, /readyz, /metrics. */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "cal.h"
#include "now.h"
#include "buf.h"
#include "pki.h"
#include "status.h"
#include "version.h"

#define MAX_CONNECTIONS 16 /* a monitor or two, and an operator's curl */
#define TIMEOUT_S 10
#define MEMORY_LIMIT 16384 /* a connection's pool: the request head and the answer's */
#define PROBE_EVERY_MS 1000
#define MAX_CERTS 5

#define CONTENT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TEXT "text/plain; charset=utf-8"
#define CONTENT_JSON "application/json"

/* The checks of /readyz, in the order of their JSON. */
enum check_id {
	CK_PARTNER_CRL,
	CK_STAFF_CRL,
	CK_LEDGER,
	CK_GATEWAY,
	CK_ORIGIN,
	CK_CHECKPOINT,
	CK_WITNESS,
	CKS
};
static const char *const check_names[CKS] = {"partner_crl", "staff_crl",  "ledger", "gateway",
                                             "origin",      "checkpoint", "witness"};

struct check {
	bool ok;
	char reason[320]; /* with !ok: why, for a person on call */
};

/* One of the gateway's own certificates, for pdgate_certificate_not_after_timestamp_seconds. */
struct cert_time {
	const char *label; /* the value of the label cert */
	time_t not_after;  /* 0: unreadable */
};

struct status {
	struct status_params p;
	struct MHD_Daemon *daemon;
	char url[96];
	pthread_mutex_t lock; /* certs: the listener's thread reads, SIGHUP writes */
	struct cert_time certs[MAX_CERTS];
	size_t ncerts;
	int64_t last_probe_ms; /* the listener's thread only */
	atomic_llong log_sec;  /* on_mhd_log: one line a second at most */
};

/* ---- The gateway's own certificates ---- */

static time_t
not_after(const char *path)
{
	char err[256];
	X509 *x = path != NULL ? pki_cert_read(path, err, sizeof(err)) : NULL;
	int64_t t = 0;

	if (x != NULL && pki_time_unix(X509_get0_notAfter(x), &t) != 0)
		t = 0;
	X509_free(x);
	ERR_clear_error();
	return (time_t)t;
}

/* Reads the notAfter of each certificate the configuration names as the gateway's own. */
static void
read_certs(struct status *s)
{
	const struct config *c = s->p.cfg;
	const struct {
		const char *label, *path;
	} list[MAX_CERTS] = {
	    {"partner_listener", c->partner.cert},    {"compliance_listener", c->compliance.cert},
	    {"origin_client", c->origin.client_cert}, {"partner_ca", c->partner.client_ca},
	    {"staff_ca", c->compliance.staff_ca},
	};
	struct cert_time got[MAX_CERTS];
	size_t n = 0;

	for (size_t i = 0; i < MAX_CERTS; i++)
		if (list[i].path != NULL)
			got[n++] = (struct cert_time){list[i].label, not_after(list[i].path)};
	pthread_mutex_lock(&s->lock);
	memcpy(s->certs, got, n * sizeof(got[0]));
	s->ncerts = n;
	pthread_mutex_unlock(&s->lock);
}

/* ---- /readyz ---- */

static void fail(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fail(struct check *c, const char *fmt, ...)
{
	va_list ap;

	c->ok = false;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

static void
check_crl(struct check *c, const char *which, time_t next, time_t now, const char *effect)
{
	char when[CAL_UTC_LEN];

	if (next == 0 || next > now)
		return;
	cal_format_utc(next, when);
	fail(c,
	     "the %s CRL is past its nextUpdate (%s): %s until a current CRL is installed and "
	     "pdgate receives SIGHUP",
	     which, when, effect);
}

/* The ledger's folder: read-only, or with no room left for the next commit's pages. */
static void
check_ledger_fs(struct check *c, const char *path)
{
	struct statvfs st;

	if (statvfs(path, &st) != 0)
		return; /* a ledger being created; the commits say the rest */
	if (st.f_flag & ST_RDONLY)
		fail(c,
		     "the filesystem of %s is read-only: data requests answer 503 "
		     "ledger_unavailable",
		     path);
	else if (st.f_bavail == 0)
		fail(c,
		     "the filesystem of %s is full: the next commit may fail (503 "
		     "ledger_unavailable)",
		     path);
}

/*
 * Runs the checks. probe: the origin, when its last requests failed, is asked again (at most
 * once a second, up to ORIGIN_PROBE_MS on the listener's thread), so that an origin that came
 * back is seen without a partner's request. /metrics reads the same checks without probing.
 */
static bool
run_checks(struct status *s, bool probe, struct check out[CKS])
{
	time_t now = time(NULL);
	struct ledger_health lh;
	struct origin_health oh;
	bool ready = true;

	for (int i = 0; i < CKS; i++)
		out[i] = (struct check){.ok = true};
	check_crl(&out[CK_PARTNER_CRL], "partner", tlsauth_crl_next_update(s->p.partner_trust), now,
	          "every partner certificate is refused");
	check_crl(&out[CK_STAFF_CRL], "staff", compliance_staff_crl_next_update(s->p.compliance),
	          now, "every staff certificate is refused");

	ledger_health(s->p.ledger, &lh);
	if (lh.failing)
		fail(
		    &out[CK_LEDGER],
		    "the last commit failed (%s): data requests answer 503 ledger_unavailable; the "
		    "writer tries again every second",
		    lh.error);
	else if (s->p.cfg->ledger.path != NULL) /* a file's; a database's has none here */
		check_ledger_fs(&out[CK_LEDGER], s->p.cfg->ledger.path);

	if (registry_gateway_suspended(s->p.registry))
		fail(&out[CK_GATEWAY], "the gateway is suspended (the kill switch): every partner "
		                       "request answers 503 gateway_suspended until an officer "
		                       "resumes it");

	origin_health(s->p.origin, &oh);
	if (oh.failures >= STATUS_ORIGIN_FAILURES && probe &&
	    now_mono_ms() - s->last_probe_ms >= PROBE_EVERY_MS) {
		origin_probe(s->p.origin);
		s->last_probe_ms = now_mono_ms();
		origin_health(s->p.origin, &oh);
	}
	if (oh.failures >= STATUS_ORIGIN_FAILURES)
		fail(&out[CK_ORIGIN], "the last %u requests to the origin failed (%s)", oh.failures,
		     apierr_code(oh.last_error));

	if (lh.waiting_ms > (int64_t)lh.interval_ms * STATUS_CHECKPOINT_INTERVALS)
		fail(&out[CK_CHECKPOINT],
		     "%llu entries have waited %.1f s for a checkpoint (signed every %u ms): the "
		     "ledger's writer cannot store one",
		     (unsigned long long)(lh.size - lh.checkpoint_size), lh.waiting_ms / 1000.0,
		     lh.interval_ms);

	if (s->p.witness != NULL && !witness_client_check(s->p.witness, out[CK_WITNESS].reason,
	                                                  sizeof(out[CK_WITNESS].reason)))
		out[CK_WITNESS].ok = false;

	for (int i = 0; i < CKS; i++)
		ready &= out[i].ok;
	return ready;
}

static char *
readyz(struct status *s, unsigned *code, size_t *len)
{
	struct check c[CKS];
	bool ready = run_checks(s, true, c);
	json_t *checks = json_object();

	for (int i = 0; i < CKS; i++) {
		json_t *one = json_pack("{s:b}", "ok", c[i].ok);
		if (!c[i].ok)
			json_object_set_new(one, "reason", json_string(c[i].reason));
		json_object_set_new(checks, check_names[i], one);
	}
	json_t *doc = json_pack("{s:b,s:o}", "ready", ready, "checks", checks);
	char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(doc);
	*code = ready ? 200 : 503;
	*len = text != NULL ? strlen(text) : 0;
	return text;
}

/* ---- /metrics ---- */

static char *
metrics_text(struct status *s, size_t *len)
{
	struct buf b = {0};
	struct ledger_health lh;
	struct check c[CKS];
	time_t next;

	metrics_write_family(&b, "pdgate_build_info", "gauge", "The version of pdgate running.");
	metrics_write_sample(&b, "pdgate_build_info", "version", version_number(), 1);
	metrics_write(s->p.metrics, &b);

	ledger_health(s->p.ledger, &lh);
	metrics_write_family(&b, "pdgate_ledger_size", "gauge", "Entries in the ledger.");
	metrics_write_sample(&b, "pdgate_ledger_size", NULL, NULL, (double)lh.size);
	metrics_write_family(&b, "pdgate_checkpoint_size", "gauge",
	                     "Entries the latest signed checkpoint covers.");
	metrics_write_sample(&b, "pdgate_checkpoint_size", NULL, NULL, (double)lh.checkpoint_size);
	metrics_write_family(&b, "pdgate_checkpoint_age_seconds", "gauge",
	                     "Seconds since the latest checkpoint was signed (it is signed only "
	                     "while there are new entries).");
	if (lh.checkpoint_ms > 0)
		metrics_write_sample(&b, "pdgate_checkpoint_age_seconds", NULL, NULL,
		                     (double)(now_wall_ms() - lh.checkpoint_ms) / 1000.0);

	metrics_write_family(
	    &b, "pdgate_crl_next_update_timestamp_seconds", "gauge",
	    "The nextUpdate of the CRL in force, by CA (Unix time): past it, every "
	    "certificate of that CA is refused.");
	if ((next = tlsauth_crl_next_update(s->p.partner_trust)) != 0)
		metrics_write_sample(&b, "pdgate_crl_next_update_timestamp_seconds", "ca",
		                     "partner", (double)next);
	if ((next = compliance_staff_crl_next_update(s->p.compliance)) != 0)
		metrics_write_sample(&b, "pdgate_crl_next_update_timestamp_seconds", "ca", "staff",
		                     (double)next);

	metrics_write_family(&b, "pdgate_certificate_not_after_timestamp_seconds", "gauge",
	                     "The notAfter of the gateway's own certificates (Unix time), as read "
	                     "at start and on SIGHUP.");
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->ncerts; i++)
		if (s->certs[i].not_after != 0)
			metrics_write_sample(&b, "pdgate_certificate_not_after_timestamp_seconds",
			                     "cert", s->certs[i].label,
			                     (double)s->certs[i].not_after);
	pthread_mutex_unlock(&s->lock);

	metrics_write_family(&b, "pdgate_gateway_suspended", "gauge",
	                     "1 while the gateway is suspended (the kill switch).");
	metrics_write_sample(&b, "pdgate_gateway_suspended", NULL, NULL,
	                     registry_gateway_suspended(s->p.registry));
	metrics_write_family(&b, "pdgate_partner_suspended", "gauge",
	                     "1 for a partner with a contract on file that is suspended.");
	const struct registry_view *v = registry_acquire(s->p.registry);
	const char *prev = NULL;
	for (size_t i = 0; i < contract_set_count(v->contracts); i++) {
		const char *partner = contract_set_at(v->contracts, i)->partner;
		if (prev != NULL && strcmp(prev, partner) == 0)
			continue; /* sorted by partner: one line each */
		prev = partner;
		metrics_write_sample(&b, "pdgate_partner_suspended", "partner", partner,
		                     registry_partner_suspended(s->p.registry, partner));
	}
	registry_release(s->p.registry, v);

	if (s->p.witness != NULL)
		witness_client_metrics(s->p.witness, &b);

	bool ready = run_checks(s, false, c);
	metrics_write_family(&b, "pdgate_ready", "gauge",
	                     "1 when every check of GET /readyz passes.");
	metrics_write_sample(&b, "pdgate_ready", NULL, NULL, ready);
	metrics_write_family(&b, "pdgate_ready_check", "gauge",
	                     "1 when this check of GET /readyz passes (here the origin is not "
	                     "probed: it reads how the last requests went).");
	for (int i = 0; i < CKS; i++)
		metrics_write_sample(&b, "pdgate_ready_check", "check", check_names[i], c[i].ok);
	if (b.bad) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b, len);
}

/* ---- HTTP ---- */

static enum MHD_Result
answer(struct MHD_Connection *mc, unsigned code, const char *type, char *body, size_t len,
       const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    len, body, body != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(mc, code, r);
	MHD_destroy_response(r);
	return ret;
}

static char *
plain(const char *s, size_t *len)
{
	*len = strlen(s);
	return strdup(s);
}

/*
 * GET and HEAD are answered once the request is complete (the connection then stays open for
 * the next scrape); anything else at once, before its body: libmicrohttpd then closes the
 * connection rather than read the body. A body sent with a GET is read and dropped.
 */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct status *s = cls;
	uint64_t t0 = now_mono_us();
	unsigned code = 200;
	const char *type = CONTENT_TEXT, *allow = NULL;
	char *body;
	size_t len = 0;
	enum { HEALTHZ, READYZ, METRICS, NONE } route = NONE;
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	(void)version, (void)upload;
	if (get && *con_cls == NULL) {
		*con_cls = s; /* the mark of a request whose first call is done */
		return MHD_YES;
	}
	if (get && *upload_size != 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/healthz") == 0)
		route = HEALTHZ;
	else if (strcmp(url, "/readyz") == 0)
		route = READYZ;
	else if (strcmp(url, "/metrics") == 0)
		route = METRICS;
	if (route == NONE) {
		code = 404;
		body = plain("not found: /healthz, /readyz and /metrics are served here\n", &len);
	} else if (!get) {
		code = 405;
		allow = "GET, HEAD";
		body = plain("method not allowed: GET or HEAD\n", &len);
	} else if (route == HEALTHZ) {
		body = plain("ok\n", &len);
	} else if (route == READYZ) {
		type = CONTENT_JSON;
		body = readyz(s, &code, &len);
	} else {
		type = CONTENT_METRICS;
		body = metrics_text(s, &len);
	}
	if (body == NULL) {
		code = 500;
		type = CONTENT_TEXT;
		body = plain("out of memory\n", &len);
	}
	enum MHD_Result ret = answer(mc, code, type, body, len, allow);
	metrics_request(s->p.metrics, METRICS_STATUS, code, now_mono_us() - t0);
	return ret;
}

static void
on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
	struct status *s = cls;

	(void)mc, (void)socket_context;
	metrics_connection(s->p.metrics, METRICS_STATUS,
	                   code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

/* libmicrohttpd's diagnostics, at most one line a second (a flood of connections past the
 * limit would make one each). */
static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct status *s = cls;
	long long sec = (long long)(now_mono_ms() / 1000), was = atomic_load(&s->log_sec);
	char buf[512];
	size_t n;

	if (was == sec || !atomic_compare_exchange_strong(&s->log_sec, &was, sec))
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_msg(s->p.log, "info", "status listener: %s", buf);
}

struct status *
status_start(const struct status_params *p, char *err, size_t errlen)
{
	const struct config_listen *l = &p->cfg->status.listen;
	struct status *s = calloc(1, sizeof(*s));
	struct addrinfo hints = {0}, *ai = NULL;
	char port[8], host[INET6_ADDRSTRLEN] = "?";

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->p = *p;
	pthread_mutex_init(&s->lock, NULL);
	s->last_probe_ms = now_mono_ms() - PROBE_EVERY_MS;
	read_certs(s);

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (strcmp(l->host, "localhost") != 0)
		hints.ai_flags |= AI_NUMERICHOST;
	snprintf(port, sizeof(port), "%u", l->port);
	int gai = getaddrinfo(l->host, port, &hints, &ai);
	if (gai != 0 || ai == NULL) {
		snprintf(err, errlen, "status listener: bad address %s:%u: %s", l->host, l->port,
		         gai_strerror(gai));
		goto fail;
	}
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
	                 (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
	s->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)MEMORY_LIMIT, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
	if (s->daemon == NULL) {
		snprintf(err, errlen, "status listener: cannot start on %s:%u (address in use?)",
		         l->host, l->port);
		goto fail;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (ai->ai_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, host,
		          sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, host,
		          sizeof(host));
	snprintf(s->url, sizeof(s->url),
	         ai->ai_family == AF_INET6 ? "http://[%s]:%u" : "http://%s:%u", host,
	         di != NULL ? (unsigned)di->port : l->port);
	freeaddrinfo(ai);
	return s;
fail:
	if (ai != NULL)
		freeaddrinfo(ai);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

const char *
status_url(const struct status *s)
{
	return s->url;
}

void
status_reload(struct status *s)
{
	if (s != NULL)
		read_certs(s);
}

void
status_stop(struct status *s)
{
	if (s == NULL)
		return;
	MHD_stop_daemon(s->daemon);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
