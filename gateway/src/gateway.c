/* gateway — `pdgate serve`: configuration, trust stores and listeners, run until a signal. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <curl/curl.h>

#include "buf.h"
#include "cal.h"
#include "compliance.h"
#include "config.h"
#include "gateway.h"
#include "ledger.h"
#include "ledger_read.h"
#include "log.h"
#include "metrics.h"
#include "note.h"
#include "origin.h"
#include "partner.h"
#include "pki.h"
#include "pseudo.h"
#include "ratelimit.h"
#include "registry.h"
#include "server.h"
#include "status.h"
#include "tlsauth.h"
#include "token.h"
#include "tokenstore.h"

/* How long SIGTERM lets requests in flight finish before connections are closed. */
#define DRAIN_MS 10000

/* Everything a running gateway holds, in the order it is opened (and closed in reverse). */
struct gateway {
	struct config *cfg;
	struct metrics *metrics;
	struct log *log;
	struct tlsauth *partner_trust;
	struct registry *registry;
	struct origin *origin;
	struct pseudo *pseudo;
	struct token_verifier *work_orders;
	struct tokenstore *tokenstore;
	struct ratelimit *limits;
	struct ledger *ledger;
	int ledger_lock; /* flock'd descriptor of the ledger file: one gateway per ledger */
	struct partner_api partner_api;
	struct server *partner;
	struct compliance *compliance;
	struct status *status; /* NULL without [status] */
};

/* ---- Start-up checks ---- */

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: pdgate serve -c FILE [-n]\n"
	    "  -c FILE   the configuration (pdgate.conf)\n"
	    "  -n        check the configuration, keys and trust files, print\n"
	    "            'configuration OK' or every error, and exit\n"
	    "Runs the gateway in the foreground. SIGHUP reloads the CRL (all or nothing) and\n"
	    "reopens the log file; SIGTERM and SIGINT finish the requests in flight and stop.\n");
}

/* Appends one line to a growing error list (errors stay readable if memory runs out). */
static void add_error(char **list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add_error(char **list, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t old = *list != NULL ? strlen(*list) : 0;
	struct buf b = {.data = *list, .len = old, .cap = *list != NULL ? old + 1 : 0};

	va_start(ap, fmt);
	vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	size_t n = strlen(line);
	line[n++] = '\n';
	if (buf_add(&b, line, n) != 0) {
		fprintf(stderr, "%.*s", (int)n, line);
		return;
	}
	*list = b.data;
}

/* The server certificate and key parse and belong together (TLS would fail later, vaguely). */
static void
check_server_pair(const char *what, const char *cert_path, const char *key_path, char **errors)
{
	FILE *f;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;

	if ((f = fopen(cert_path, "r")) != NULL) {
		cert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (cert == NULL) {
		add_error(errors, "%s: [%s] cert: not a PEM certificate", cert_path, what);
		goto done;
	}
	if ((f = fopen(key_path, "r")) != NULL) {
		key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (key == NULL) {
		add_error(errors, "%s: [%s] key: not a PEM private key (or encrypted)", key_path,
		          what);
		goto done;
	}
	if (X509_check_private_key(cert, key) != 1)
		add_error(errors, "%s: [%s] key: does not match the certificate %s", key_path, what,
		          cert_path);
	if (X509_cmp_time(X509_get0_notAfter(cert), NULL) < 0)
		add_error(errors, "%s: [%s] cert: expired", cert_path, what);
done:
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* 1,000 held connections need more descriptors than a default soft limit of 1024 allows. */
static void
raise_nofile(struct log *log, unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)want + 64)
		log_msg(log, "warn",
		        "open file limit %llu is below the %u connections the partner listener may "
		        "hold: connections beyond it will wait",
		        (unsigned long long)rl.rlim_cur, want);
}

static void
warn_if_stale(struct gateway *g)
{
	time_t next = tlsauth_crl_next_update(g->partner_trust);
	char when[32] = "?";
	struct tm tm;

	if (next == 0 || next > time(NULL))
		return;
	if (gmtime_r(&next, &tm) != NULL)
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_msg(g->log, "error",
	        "the partner CRL %s is past its nextUpdate (%s): every partner is refused until a "
	        "current CRL is installed and pdgate receives SIGHUP",
	        g->cfg->partner.crl, when);
}

static void
reload(struct gateway *g)
{
	char err[512], desc[256], *errors = NULL;

	if (log_reopen(g->log) != 0)
		log_msg(g->log, "error", "reopening the log file failed: %s", strerror(errno));
	if (registry_reload(g->registry, &errors) != 0) {
		/* every error with its file and JSON path, then the verdict */
		for (char *line = strtok(errors, "\n"); line != NULL; line = strtok(NULL, "\n"))
			log_msg(g->log, "error", "%s", line);
		log_msg(g->log, "error",
		        "reload of policies and contracts failed; keeping the "
		        "previous set");
		free(errors);
	} else {
		const struct registry_view *v = registry_acquire(g->registry);
		log_msg(g->log, "info", "reload ok: %zu contracts (generation %llu)",
		        contract_set_count(v->contracts), (unsigned long long)v->generation);
		registry_release(g->registry, v);
	}
	if (tlsauth_reload(g->partner_trust, err, sizeof err) != 0) {
		log_msg(g->log, "error", "reload failed: %s; keeping the previous CRL", err);
		return;
	}
	tlsauth_describe(g->partner_trust, desc, sizeof desc);
	log_msg(g->log, "info", "reload ok: %s (trust generation %llu)", desc,
	        (unsigned long long)tlsauth_generation(g->partner_trust));
	warn_if_stale(g);
	status_reload(g->status);
	if (compliance_reload(g->compliance, err, sizeof err) != 0)
		log_msg(g->log, "error",
		        "reload of the staff CA/CRL failed: %s; keeping the "
		        "previous ones",
		        err);
}

/* Key files are small; a bigger one is not a key, and reading part of it would be wrong. */
#define SECRET_MAX 4096

/* True for an http:// origin off this machine: member records would cross the network in
 * cleartext. https:// (with [origin] ca) is what a remote member system needs. */
static bool
cleartext_remote(const char *url)
{
	static const char *const local[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};

	if (strncmp(url, "http://", 7) != 0)
		return false;
	for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
		size_t n = strlen(local[i]);
		if (strncmp(url, local[i], n) == 0 && (url[n] == ':' || url[n] == '/' || !url[n]))
			return false;
	}
	return true;
}

/*
 * Opens everything a request needs and checks what -n checks: trust files, the server key
 * pair, catalogs and contracts, the token key, the pseudonym secret, the ledger key, the
 * origin. Every problem is appended to *errors; nothing is started.
 */
static void
open_all(struct gateway *g, char **errors)
{
	struct config *c = g->cfg;
	char err[512], *list = NULL;
	char *secret;
	size_t len;

	g->partner_trust = tlsauth_new(c->partner.client_ca, c->partner.crl, TLSAUTH_PARTNER_PREFIX,
	                               "partner", err, sizeof err);
	if (g->partner_trust == NULL)
		add_error(errors, "[partner] client_ca/crl: %s", err);
	check_server_pair("partner", c->partner.cert, c->partner.key, errors);
	check_server_pair("compliance", c->compliance.cert, c->compliance.key, errors);
	char *staff = compliance_check(c);
	if (staff != NULL) {
		add_error(errors, "%s", staff);
		free(staff);
	}
	g->registry = registry_open(c->policy.purposes, c->policy.fields, c->policy.contracts,
	                            c->gateway.state, &list);
	if (g->registry == NULL) {
		add_error(errors, "%s", list != NULL ? list : "policies: cannot load");
		free(list);
	}
	g->work_orders =
	    token_verifier_new(c->tokens.pub, c->tokens.issuer, TOKEN_WORK_ORDER, err, sizeof err);
	if (g->work_orders == NULL)
		add_error(errors, "%s: [tokens] pub: %s", c->tokens.pub, err);
	if ((secret = pki_file_read(c->keys.pseudonym, SECRET_MAX, 0, &len, err, sizeof err)) ==
	        NULL ||
	    (g->pseudo = pseudo_new(secret, len)) == NULL)
		add_error(errors, "%s: [keys] pseudonym: unreadable or shorter than %d bytes",
		          c->keys.pseudonym, PSEUDO_MIN_SECRET);
	if (secret != NULL) {
		OPENSSL_cleanse(secret, len);
		free(secret);
	}
	if ((secret = pki_file_read(c->ledger.key, SECRET_MAX, 0, &len, err, sizeof err)) == NULL) {
		add_error(errors, "%s: [ledger] key: unreadable", c->ledger.key);
	} else {
		struct note_signer *ns = note_signer_new(c->ledger.origin, secret, len);
		if (ns == NULL)
			add_error(errors,
			          "%s: [ledger] key: not an Ed25519 private key (PEM) usable "
			          "with origin %s",
			          c->ledger.key, c->ledger.origin);
		note_signer_free(ns);
		OPENSSL_cleanse(secret, len);
		free(secret);
	}
	struct origin_params op = {
	    .url = c->origin.url,
	    .timeout_ms = c->origin.timeout_ms,
	    .max_record_bytes = c->origin.max_record_bytes,
	    .client_cert = c->origin.client_cert,
	    .client_key = c->origin.client_key,
	    .ca = c->origin.ca,
	    .metrics = g->metrics,
	};
	if (cleartext_remote(c->origin.url))
		add_error(errors,
		          "[origin] url: plain http:// is allowed only to this machine; a "
		          "remote member system needs https:// (member records are personal "
		          "data)");
	g->origin = origin_new(&op, err, sizeof err);
	if (g->origin == NULL)
		add_error(errors, "[origin] url: %s", err);
}

static void
seed_limit(void *arg, const char *contract, uint64_t count)
{
	struct gateway *g = arg;
	ratelimit_seed(g->limits, contract, cal_jst_day(time(NULL) * 1000LL), count);
}

int
serve_main(int argc, char **argv)
{
	const char *conf_path = NULL;
	bool check_only = false;
	char *errors = NULL, err[512], desc[256];
	struct gateway g = {.ledger_lock = -1};
	int rc = 1, opt;
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
	                                         {NULL, 0, NULL, 0}};

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:nh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf_path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (conf_path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}

	g.cfg = config_load(conf_path, &errors);
	if (g.cfg == NULL) {
		fprintf(stderr, "%s", errors != NULL ? errors : "configuration: cannot load\n");
		free(errors);
		return 1;
	}
	if ((g.metrics = metrics_new()) == NULL) {
		fprintf(stderr, "pdgate serve: out of memory\n");
		goto done;
	}
	/* Everything below is checked before anything starts, and every error is reported. */
	open_all(&g, &errors);
	if (errors != NULL) {
		fprintf(stderr, "%s", errors);
		goto done;
	}
	if (check_only) {
		printf("configuration OK\n");
		rc = 0;
		goto done;
	}

	g.log = log_open(g.cfg->gateway.log);
	if (g.log == NULL) {
		fprintf(stderr, "%s: [gateway] log: %s\n", g.cfg->gateway.log, strerror(errno));
		goto done;
	}
	unsigned pending = g.cfg->partner.max_unauthenticated ? g.cfg->partner.max_unauthenticated
	                                                      : g.cfg->partner.max_connections;
	raise_nofile(g.log, g.cfg->partner.max_connections + 2 * pending);
	/*
	 * glibc gives threads up to 8 malloc arenas per core; a pool of many worker threads then
	 * spreads the per-connection memory over them and the resident size grows with the pool,
	 * not with the work. A few arenas are enough for threads that mostly wait on the ledger.
	 */
	mallopt(M_ARENA_MAX, 4);

	/*
	 * Signals are taken synchronously by this thread with sigwait: blocked here before any
	 * thread starts, so every thread inherits the mask and no handler ever runs.
	 */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	tlsauth_describe(g.partner_trust, desc, sizeof desc);
	log_msg(g.log, "info", "partner trust: %s", desc);
	warn_if_stale(&g);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	g.tokenstore = tokenstore_open(g.cfg->gateway.state, err, sizeof err);
	g.limits = ratelimit_new();
	if (g.tokenstore == NULL || g.limits == NULL) {
		fprintf(stderr, "pdgate serve: %s: [gateway] state: %s\n", g.cfg->gateway.state,
		        g.tokenstore == NULL ? err : "out of memory");
		goto done;
	}
	/*
	 * One gateway per ledger: a second one would assign the same indexes and fail every commit.
	 * The lock is flock(2) on the ledger file, independent of SQLite's own fcntl locks, and
	 * goes away with the process, however it ends.
	 */
	g.ledger_lock = open(g.cfg->ledger.path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (g.ledger_lock < 0 || flock(g.ledger_lock, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "pdgate serve: %s: [ledger] path: %s\n", g.cfg->ledger.path,
		        errno == EWOULDBLOCK ? "another pdgate is running on this ledger"
		                             : strerror(errno));
		goto done;
	}
	struct ledger_params lp = {
	    .path = g.cfg->ledger.path,
	    .origin = g.cfg->ledger.origin,
	    .key = g.cfg->ledger.key,
	    .checkpoint_interval_ms = g.cfg->ledger.checkpoint_interval_ms,
	    .log = g.log,
	    .metrics = g.metrics,
	};
	g.ledger = ledger_open(&lp, err, sizeof err);
	if (g.ledger == NULL) {
		fprintf(stderr, "pdgate serve: %s: [ledger] path: %s\n", g.cfg->ledger.path, err);
		log_msg(g.log, "error", "ledger: %s", err);
		goto done;
	}
	/* the day's volumes so far, so that a restart does not hand out a second day's worth */
	if (ledger_day_releases(g.ledger, time(NULL) * 1000LL, seed_limit, &g) != 0)
		log_msg(g.log, "warn", "cannot count today's releases: volume limits start at 0");
	g.partner_api = (struct partner_api){
	    .registry = g.registry,
	    .origin = g.origin,
	    .ledger = g.ledger,
	    .limits = g.limits,
	    .pseudo = g.pseudo,
	    .tokens = g.work_orders,
	    .tokenstore = g.tokenstore,
	    .max_record_bytes = g.cfg->origin.max_record_bytes,
	    .metrics = g.metrics,
	};
	if (partner_api_start(&g.partner_api, err, sizeof err) != 0) {
		fprintf(stderr, "pdgate serve: %s\n", err);
		goto done;
	}

	struct server_config pc = {
	    .name = "partner",
	    .listen = &g.cfg->partner.listen,
	    .cert = g.cfg->partner.cert,
	    .key = g.cfg->partner.key,
	    .client_ca = g.cfg->partner.client_ca,
	    .trust = g.partner_trust,
	    .cert_mode = SERVER_CERT_REQUIRED,
	    .threads = g.cfg->gateway.threads,
	    .max_connections = g.cfg->partner.max_connections,
	    .max_unauthenticated = g.cfg->partner.max_unauthenticated,
	    .handshake_timeout_s = g.cfg->partner.handshake_timeout_s,
	    .idle_timeout_s = g.cfg->partner.idle_timeout_s,
	    .max_header_bytes = g.cfg->partner.max_header_bytes,
	    .max_body_bytes = 0,
	    .routes = partner_routes,
	    .nroutes = partner_nroutes,
	    .authorize = NULL,
	    .app = &g.partner_api,
	    .log = g.log,
	    .metrics = g.metrics,
	};
	g.partner = server_start(&pc, err, sizeof err);
	if (g.partner == NULL) {
		fprintf(stderr, "pdgate serve: %s\n", err);
		log_msg(g.log, "error", "%s", err);
		goto done;
	}
	printf("pdgate: partner listener on %s\n", server_url(g.partner));
	fflush(stdout);
	log_msg(g.log, "info", "started: partner listener on %s", server_url(g.partner));

	struct compliance_params cp = {
	    .cfg = g.cfg,
	    .registry = g.registry,
	    .ledger = g.ledger,
	    .pseudo = g.pseudo,
	    .tokenstore = g.tokenstore,
	    .origin = g.origin,
	    .log = g.log,
	    .metrics = g.metrics,
	};
	g.compliance = compliance_start(&cp, err, sizeof err);
	if (g.compliance == NULL) {
		fprintf(stderr, "pdgate serve: %s\n", err);
		log_msg(g.log, "error", "%s", err);
		goto done;
	}
	printf("pdgate: compliance listener on %s\n", compliance_url(g.compliance));
	fflush(stdout);
	log_msg(g.log, "info", "started: compliance listener on %s", compliance_url(g.compliance));
	if (g.cfg->status.listen.host != NULL) {
		struct status_params sp = {
		    .cfg = g.cfg,
		    .metrics = g.metrics,
		    .registry = g.registry,
		    .ledger = g.ledger,
		    .origin = g.origin,
		    .partner_trust = g.partner_trust,
		    .compliance = g.compliance,
		    .log = g.log,
		};
		if ((g.status = status_start(&sp, err, sizeof err)) == NULL) {
			fprintf(stderr, "pdgate serve: %s\n", err);
			log_msg(g.log, "error", "%s", err);
			goto done;
		}
		printf("pdgate: status listener on %s\n", status_url(g.status));
		fflush(stdout);
		log_msg(g.log, "info", "started: status listener on %s", status_url(g.status));
	}

	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(&g);
			continue;
		}
		log_msg(g.log, "info", "%s: draining and stopping",
		        sig == SIGINT ? "SIGINT" : "SIGTERM");
		break;
	}
	status_stop(g.status); /* first: the monitors see the gateway going */
	g.status = NULL;
	server_stop(g.partner, DRAIN_MS);
	g.partner = NULL;
	compliance_stop(g.compliance, DRAIN_MS);
	g.compliance = NULL;
	log_msg(g.log, "info", "stopped");
	rc = 0;
done:
	status_stop(g.status);
	server_stop(g.partner, 0);
	compliance_stop(g.compliance, 0);
	partner_api_stop(&g.partner_api);
	/* the ledger closes after the last answer: its final checkpoint covers every entry */
	if (g.ledger != NULL && ledger_close(g.ledger) != 0)
		rc = 1;
	ratelimit_free(g.limits);
	tokenstore_close(g.tokenstore);
	origin_free(g.origin);
	pseudo_free(g.pseudo);
	token_verifier_free(g.work_orders);
	registry_free(g.registry);
	tlsauth_free(g.partner_trust);
	if (g.ledger_lock >= 0)
		close(g.ledger_lock);
	log_free(g.log);
	metrics_free(g.metrics);
	config_free(g.cfg);
	free(errors);
	return rc;
}
