/* gateway — `pdgate serve`: configuration, trust stores and listeners, run until a signal. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "gateway.h"
#include "log.h"
#include "server.h"
#include "tlsauth.h"

/* How long SIGTERM lets requests in flight finish before connections are closed. */
#define DRAIN_MS 10000

/* Everything a running gateway holds; handlers get it as their app pointer. */
struct gateway {
	struct config *cfg;
	struct log *log;
	struct tlsauth *partner_trust;
	struct server *partner;
};

/* ---- The partner API (SPEC 9) ---- */

/* GET /v1/whoami: who the certificate names. The contracts part joins here with the registry. */
static void
whoami(struct server_request *req, void *app)
{
	const struct tlsauth_identity *id = server_request_identity(req);
	char fp[8 + sizeof id->fingerprint];

	(void)app;
	/* The partner listener requires a certificate: no identity here is a server bug. */
	if (id == NULL) {
		server_reply_error(req, APIERR_INTERNAL, NULL);
		return;
	}
	snprintf(fp, sizeof fp, "sha256:%s", id->fingerprint);
	server_reply_json(req, 200, json_pack("{s:s,s:s}", "partner", id->id, "certificate", fp));
}

static const struct server_route partner_routes[] = {
    {"GET", "/v1/whoami", whoami, NULL},
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

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	char *grown = realloc(*list, old + strlen(line) + 2);
	if (grown == NULL) {
		fprintf(stderr, "%s\n", line);
		return;
	}
	memcpy(grown + old, line, strlen(line));
	grown[old + strlen(line)] = '\n';
	grown[old + strlen(line) + 1] = '\0';
	*list = grown;
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
		        "open file limit %llu is below max_connections %u: connections beyond it "
		        "will wait",
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
	char err[512], desc[256];

	if (log_reopen(g->log) != 0)
		log_msg(g->log, "error", "reopening the log file failed: %s", strerror(errno));
	if (tlsauth_reload(g->partner_trust, err, sizeof err) != 0) {
		log_msg(g->log, "error", "reload failed: %s; keeping the previous CRL", err);
		return;
	}
	tlsauth_describe(g->partner_trust, desc, sizeof desc);
	log_msg(g->log, "info", "reload ok: %s (trust generation %llu)", desc,
	        (unsigned long long)tlsauth_generation(g->partner_trust));
	warn_if_stale(g);
}

int
serve_main(int argc, char **argv)
{
	const char *conf_path = NULL;
	bool check_only = false;
	char *errors = NULL, err[512], desc[256];
	struct gateway g = {0};
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
	/* Everything below is checked before anything starts, and every error is reported. */
	g.partner_trust = tlsauth_new(g.cfg->partner.client_ca, g.cfg->partner.crl,
	                              TLSAUTH_PARTNER_PREFIX, "partner", err, sizeof err);
	if (g.partner_trust == NULL)
		add_error(&errors, "[partner] client_ca/crl: %s", err);
	check_server_pair("partner", g.cfg->partner.cert, g.cfg->partner.key, &errors);
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
	raise_nofile(g.log, g.cfg->partner.max_connections);

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
	    .idle_timeout_s = g.cfg->partner.idle_timeout_s,
	    .max_header_bytes = g.cfg->partner.max_header_bytes,
	    .max_body_bytes = 0,
	    .routes = partner_routes,
	    .nroutes = sizeof partner_routes / sizeof partner_routes[0],
	    .authorize = NULL,
	    .app = &g,
	    .log = g.log,
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
	server_stop(g.partner, DRAIN_MS);
	g.partner = NULL;
	log_msg(g.log, "info", "stopped");
	rc = 0;
done:
	server_stop(g.partner, 0);
	tlsauth_free(g.partner_trust);
	log_free(g.log);
	config_free(g.cfg);
	free(errors);
	return rc;
}
