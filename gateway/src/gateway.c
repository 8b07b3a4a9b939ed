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
#include "certwatch.h"
#include "compliance.h"
#include "config.h"
#include "file.h"
#include "gateway.h"
#include "ledger.h"
#include "ledger_pg.h"
#include "ledger_pool.h"
#include "ledger_read.h"
#include "log.h"
#include "metrics.h"
#include "note.h"
#include "origin.h"
#include "partner.h"
#include "pseudo.h"
#include "ratelimit.h"
#include "registry.h"
#include "server.h"
#include "status.h"
#include "state_copy.h"
#include "subjects.h"
#include "tlsauth.h"
#include "tlscred.h"
#include "token.h"
#include "tokenstore.h"
#include "version.h"
#include "witness_client.h"

/* How long SIGTERM lets requests in flight finish before connections are closed. */
#define DRAIN_MS 10000

/* Everything a running gateway holds, in the order it is opened (and closed in reverse). */
struct gateway {
	struct config *cfg;
	struct metrics *metrics;
	struct log *log;
	struct tlsauth *partner_trust;
	struct tlscred *partner_cred, *compliance_cred; /* checked at start, until the listeners
	                                                   that start with them hold their own */
	struct registry *registry;
	struct ledger_store *state, *state_listen; /* several nodes: the registry's connections */
	struct ledger_store *counts; /* several nodes: the work orders' shared counts (takes) */
	struct origin *origin;
	struct pseudo *pseudo;
	struct token_verifier *work_orders;
	struct tokenstore *tokenstore;
	struct subjects *subjects;
	struct ratelimit *limits;
	struct ledger *ledger;
	struct witness_client *witness; /* NULL without [witness] */
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
	fprintf(f, "usage: pdgate serve -c FILE [-n]\n"
	           "       pdgate serve --routes\n"
	           "  -c FILE   the configuration (pdgate.conf)\n"
	           "  -n        check the configuration, keys and trust files, print\n"
	           "            'configuration OK' or every error, and exit\n"
	           "  --routes  print the routes both listeners serve, one a line\n"
	           "            (LISTENER METHOD PATTERN, {} for a path parameter), and exit\n"
	           "Runs the gateway in the foreground. Signals:\n"
	           "  SIGHUP    reload the catalogs, the contracts, both CAs and CRLs and both\n"
	           "            listeners' certificates and keys, all or nothing; reopen the log\n"
	           "  SIGUSR1   reopen the log file (after logrotate), nothing else\n"
	           "  SIGTERM, SIGINT  finish the requests in flight and stop\n"
	           "Everything else in the configuration takes a restart (docs/operations.md).\n");
}

/* `pdgate serve --routes`: the very tables the listeners route by, so a document can be
 * checked against them. */
static void
print_routes(void)
{
	for (size_t i = 0; i < partner_nroutes; i++)
		printf("partner %s %s\n", partner_routes[i].method, partner_routes[i].pattern);
	for (size_t i = 0; i < compliance_nroutes; i++)
		printf("compliance %s %s\n", compliance_routes[i].method,
		       compliance_routes[i].pattern);
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

/*
 * The certificates and keys of both listeners, loaded and checked once (tlscred_load, as SIGHUP
 * loads them) and kept for the listeners to start with. One pair of files for both (as pdgate
 * init makes it) is read once; a problem with it is reported for each listener.
 */
static void
load_server_pairs(struct gateway *g, char **errors)
{
	const struct config *c = g->cfg;
	char err[PATH_MAX + 256];

	if ((g->partner_cred = tlscred_load(c->partner.cert, c->partner.key, err, sizeof err)) ==
	    NULL)
		add_error(errors, "[partner] cert, key: %s", err);
	if (strcmp(c->partner.cert, c->compliance.cert) == 0 &&
	    strcmp(c->partner.key, c->compliance.key) == 0) {
		if (g->partner_cred != NULL)
			g->compliance_cred = tlscred_ref(g->partner_cred);
		else
			add_error(errors, "[compliance] cert, key: %s", err);
	} else if ((g->compliance_cred = tlscred_load(c->compliance.cert, c->compliance.key, err,
	                                              sizeof err)) == NULL) {
		add_error(errors, "[compliance] cert, key: %s", err);
	}
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

/* ---- Dates that stop the gateway: CRLs' nextUpdate, server certificates' notAfter ---- */

#define DAY_S (24 * 3600) /* the housekeeping loop looks once a day */

/* A CRL past its nextUpdate refuses every certificate of its CA: an error; one that is due
 * (certwatch_due: within CERTWATCH_CRL_DAYS of it), a warning. who: "partner" or "staff". */
static void
check_crl(struct gateway *g, const char *who, const char *file, time_t next, time_t now)
{
	char when[CAL_UTC_LEN];

	if (next == 0)
		return;
	cal_format_utc(next, when);
	if (next <= now)
		log_msg(
		    g->log, "error",
		    "the %s CRL %s is past its nextUpdate (%s): every %s certificate is refused "
		    "until a current CRL is installed and pdgate receives SIGHUP",
		    who, file, when, who);
	else if (certwatch_due(CERTWATCH_CRL, next, now))
		log_msg(g->log, "warn",
		        "the %s CRL %s reaches its nextUpdate on %s, in %lld day(s): re-sign it "
		        "(pdgate cert crl%s) and send SIGHUP, or every %s certificate is refused "
		        "from then on",
		        who, file, when, (long long)certwatch_days_to(next, now),
		        strcmp(who, "staff") == 0 ? " --staff" : "", who);
}

/* The certificate a listener's new handshakes get, due (certwatch_due: within
 * CERTWATCH_CERT_DAYS of its notAfter: a warning) or past it (an error). listeners: whose it
 * is, for the message. */
static void
check_cert(struct gateway *g, const char *listeners, const char *file, struct server *s, time_t now)
{
	struct tlscred *cred = server_cred(s);
	time_t until = tlscred_not_after(cred);
	char when[CAL_UTC_LEN];

	tlscred_release(cred);
	cal_format_utc(until, when);
	if (until <= now)
		log_msg(g->log, "error",
		        "the server certificate %s of the %s expired on %s: clients refuse the "
		        "handshake until a new one is installed and pdgate receives SIGHUP",
		        file, listeners, when);
	else if (certwatch_due(CERTWATCH_SERVER, until, now))
		log_msg(
		    g->log, "warn",
		    "the server certificate %s of the %s expires on %s, in %lld day(s): install "
		    "a new one and send SIGHUP before then",
		    file, listeners, when, (long long)certwatch_days_to(until, now));
}

/* At start, on every SIGHUP, and once a day between. */
static void
check_dates(struct gateway *g)
{
	const struct config *c = g->cfg;
	time_t now = time(NULL);

	check_crl(g, "partner", c->partner.crl, tlsauth_crl_next_update(g->partner_trust), now);
	if (c->compliance.staff_crl != NULL)
		check_crl(g, "staff", c->compliance.staff_crl,
		          tlsauth_crl_next_update(compliance_staff_trust(g->compliance)), now);
	if (strcmp(c->partner.cert, c->compliance.cert) == 0) {
		check_cert(g, "partner and compliance listeners", c->partner.cert, g->partner, now);
	} else {
		check_cert(g, "partner listener", c->partner.cert, g->partner, now);
		check_cert(g, "compliance listener", c->compliance.cert,
		           compliance_server(g->compliance), now);
	}
}

/* ---- Signals ---- */

/* SIGUSR1, from logrotate: the log file again at its path, and nothing else. */
static void
reopen_log(struct gateway *g)
{
	if (g->cfg->gateway.log == NULL)
		log_msg(g->log, "info", "SIGUSR1: the log is stderr; nothing to reopen");
	else if (log_reopen(g->log) != 0)
		log_msg(g->log, "error", "SIGUSR1: reopening the log file %s failed: %s",
		        g->cfg->gateway.log, strerror(errno));
	else
		log_msg(g->log, "info", "SIGUSR1: reopened the log file %s", g->cfg->gateway.log);
}

/* Everything SIGHUP reads again, loaded before anything changes. */
/*
 * The ledger's hooks with several nodes (ledger_params.state_load): the suspensions and revoked
 * tokens (the registry's) and the members' restrictions (the register's), all of one shared
 * state and its one generation. Both are open before the ledger's writer starts.
 */
static int
shared_load(void *arg, struct ledger_store *s)
{
	struct gateway *g = arg;
	int rc = registry_state_load(g->registry, s);

	if (rc == 0)
		rc = subjects_state_load(g->subjects, s);
	return rc;
}

static bool
shared_allows(void *arg, const char *partner, const char *token)
{
	struct gateway *g = arg;

	return registry_state_allows(g->registry, partner, token);
}

static unsigned
shared_restrictions(void *arg, const char *subject)
{
	struct gateway *g = arg;

	return subjects_restrictions(g->subjects, subject);
}

struct reload_set {
	struct registry_snapshot *policies;
	struct tlsauth_snapshot *partner_trust, *staff_trust;
	struct tlscred *partner_cred, *compliance_cred;
};

static void
reload_set_free(struct reload_set *r)
{
	registry_snapshot_free(r->policies);
	tlsauth_snapshot_free(r->partner_trust);
	tlsauth_snapshot_free(r->staff_trust);
	tlscred_release(r->partner_cred);
	tlscred_release(r->compliance_cred);
}

/*
 * SIGHUP. Reads the catalogs and contracts, both trust stores (CA and CRL) and both listeners'
 * certificates and keys; only when every one of them loads are they all put in force. Else the
 * log names every problem and nothing changes: a half-done reload (a new certificate with the
 * old contracts, say) is a state nobody asked for. Requests and connections under way finish
 * on what they hold; a reload reaches a kept-alive connection on its next request (the trust
 * stores and contracts) or not at all (its certificate: new handshakes get the new one).
 */
static void
reload(struct gateway *g)
{
	const struct config *c = g->cfg;
	struct tlsauth *staff = compliance_staff_trust(g->compliance);
	struct reload_set r = {0};
	char err[512], desc[256], *errors = NULL;
	bool ok = true;

	if (log_reopen(g->log) != 0)
		log_msg(g->log, "error", "reopening the log file failed: %s", strerror(errno));
	if ((r.policies = registry_load(g->registry, &errors)) == NULL) {
		/* every error with its file and JSON path, then the verdict */
		for (char *line = strtok(errors, "\n"); line != NULL; line = strtok(NULL, "\n"))
			log_msg(g->log, "error", "%s", line);
		log_msg(g->log, "error", "reload of policies and contracts failed");
		free(errors);
		ok = false;
	}
	if ((r.partner_trust = tlsauth_load(g->partner_trust, err, sizeof err)) == NULL) {
		log_msg(g->log, "error", "reload of the partner CA/CRL failed: %s", err);
		ok = false;
	}
	if ((r.staff_trust = tlsauth_load(staff, err, sizeof err)) == NULL) {
		log_msg(g->log, "error", "reload of the staff CA/CRL failed: %s", err);
		ok = false;
	}
	if ((r.partner_cred = tlscred_load(c->partner.cert, c->partner.key, err, sizeof err)) ==
	    NULL) {
		log_msg(g->log, "error", "reload of the partner listener's certificate failed: %s",
		        err);
		ok = false;
	}
	/* one pair of files for both listeners (as pdgate init makes it): read once */
	if (strcmp(c->partner.cert, c->compliance.cert) == 0 &&
	    strcmp(c->partner.key, c->compliance.key) == 0) {
		r.compliance_cred = r.partner_cred != NULL ? tlscred_ref(r.partner_cred) : NULL;
	} else if ((r.compliance_cred = tlscred_load(c->compliance.cert, c->compliance.key, err,
	                                             sizeof err)) == NULL) {
		log_msg(g->log, "error",
		        "reload of the compliance listener's certificate failed: %s", err);
		ok = false;
	}
	if (!ok) {
		reload_set_free(&r);
		log_msg(
		    g->log, "error",
		    "reload failed: nothing was changed; the catalogs, contracts, CRLs and "
		    "server certificates in force stay so until a SIGHUP finds every file good");
		check_dates(g);
		return;
	}

	registry_install(g->registry, r.policies);
	tlsauth_install(g->partner_trust, r.partner_trust);
	tlsauth_install(staff, r.staff_trust);
	server_set_cred(g->partner, r.partner_cred);
	server_set_cred(compliance_server(g->compliance), r.compliance_cred);
	r.policies = NULL;
	r.partner_trust = r.staff_trust = NULL;

	const struct registry_view *v = registry_acquire(g->registry);
	log_msg(g->log, "info", "reload ok: %zu contracts (generation %llu)",
	        contract_set_count(v->contracts), (unsigned long long)v->generation);
	registry_release(g->registry, v);
	tlsauth_describe(g->partner_trust, desc, sizeof desc);
	log_msg(g->log, "info", "reload ok: %s (trust generation %llu)", desc,
	        (unsigned long long)tlsauth_generation(g->partner_trust));
	tlsauth_describe(staff, desc, sizeof desc);
	log_msg(g->log, "info", "reload ok: %s", desc);
	log_msg(g->log, "info",
	        "reload ok: new handshakes get the server certificate sha256:%s (partner "
	        "listener) and sha256:%s (compliance listener)",
	        tlscred_fingerprint(r.partner_cred), tlscred_fingerprint(r.compliance_cred));
	reload_set_free(&r); /* the listeners hold references of their own */
	check_dates(g);
	status_reload(g->status);
}

/* Key files are small; a bigger one is not a key, and reading part of it would be wrong. */
#define SECRET_MAX 4096

/*
 * Opens everything a request needs and checks what -n checks: trust files, the server key
 * pairs (kept for the listeners), catalogs and contracts, the token key, the pseudonym secret, the
 * ledger key, the origin. Every problem is appended to *errors; nothing is started.
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
	load_server_pairs(g, errors);
	char *staff = compliance_check(c);
	if (staff != NULL) {
		add_error(errors, "%s", staff);
		free(staff);
	}
	/* the pseudonym key first: the registry's release plans are keyed with it */
	if ((g->pseudo = pseudo_load(c->keys.pseudonym, err, sizeof err)) == NULL)
		add_error(errors, "[keys] pseudonym: %s", err);
	g->registry = registry_open(c->policy.purposes, c->policy.fields, c->policy.contracts,
	                            c->gateway.state, g->pseudo, &list);
	if (g->registry == NULL) {
		add_error(errors, "%s", list != NULL ? list : "policies: cannot load");
		free(list);
	}
	g->work_orders =
	    token_verifier_new(c->tokens.pub, c->tokens.issuer, TOKEN_WORK_ORDER, err, sizeof err);
	if (g->work_orders == NULL)
		add_error(errors, "%s: [tokens] pub: %s", c->tokens.pub, err);
	if ((secret = file_read(c->ledger.key, SECRET_MAX, 0, &len, err, sizeof err)) == NULL) {
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
	/* a PostgreSQL ledger is checked now, so that -n says what serve would refuse; and the
	 * state file a single gateway kept: what it holds must be in the database already */
	if (c->ledger.url != NULL &&
	    ledger_pool_check(c->ledger.url, c->ledger.origin, err, sizeof err) < 0)
		add_error(errors, "[ledger] url: %s", err);
	if (c->ledger.url != NULL && state_copy_check(c->gateway.state, err, sizeof err) < 0)
		add_error(errors, "[ledger] url: %s", err);
	struct origin_params op = origin_params_of(c);
	op.metrics = g->metrics;
	if (origin_cleartext_remote(c->origin.url))
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

/* Several nodes: a contract's daily volume across them, as the ledger's writer read it. */
static void
volume_seen(void *arg, const char *contract, int64_t day, uint64_t total, uint64_t committed)
{
	struct gateway *g = arg;
	ratelimit_learn(g->limits, contract, day, total, committed);
}

/* What could not start: on stderr for the operator at the terminal, and in the log. */
static void
start_failed(struct gateway *g, const char *err)
{
	fprintf(stderr, "pdgate serve: %s\n", err);
	log_msg(g->log, "error", "%s", err);
}

/* A listener that started: its address on stdout (which `make run` and the tests read) and in
 * the log. */
static void
listening(struct gateway *g, const char *what, const char *url)
{
	printf("pdgate: %s listener on %s\n", what, url);
	fflush(stdout);
	log_msg(g->log, "info", "started: %s listener on %s", what, url);
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
	                                         {"routes", no_argument, NULL, 'R'},
	                                         {NULL, 0, NULL, 0}};

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:nh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'R':
			if (optind != argc) {
				usage(stderr);
				return 2;
			}
			print_routes();
			return 0;
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
	log_set_format(g.log, g.cfg->gateway.log_format == CONFIG_LOG_JSON ? LOG_FORMAT_JSON
	                                                                   : LOG_FORMAT_TEXT);
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
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	tlsauth_describe(g.partner_trust, desc, sizeof desc);
	log_msg(g.log, "info", "partner trust: %s", desc);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	g.tokenstore = tokenstore_open(g.cfg->gateway.state, err, sizeof err);
	g.limits = ratelimit_new();
	if (g.tokenstore == NULL || g.limits == NULL) {
		fprintf(stderr, "pdgate serve: %s: [gateway] state: %s\n", g.cfg->gateway.state,
		        g.tokenstore == NULL ? err : "out of memory");
		goto done;
	}
	/* (with several nodes, the register is the database's, opened with the shared state) */
	if (g.cfg->ledger.url == NULL &&
	    (g.subjects = subjects_open(g.cfg->gateway.state, err, sizeof err)) == NULL) {
		fprintf(stderr, "pdgate serve: %s: [gateway] state: %s\n", g.cfg->gateway.state,
		        err);
		goto done;
	}
	/*
	 * One gateway per ledger: a second one would assign the same indexes and fail every commit.
	 * The lock is flock(2) on the ledger file, independent of SQLite's own fcntl locks, and
	 * goes away with the process, however it ends.
	 */
	if (g.cfg->ledger.path != NULL) {
		g.ledger_lock = open(g.cfg->ledger.path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (g.ledger_lock < 0 || flock(g.ledger_lock, LOCK_EX | LOCK_NB) != 0) {
			fprintf(stderr, "pdgate serve: %s: [ledger] path: %s\n", g.cfg->ledger.path,
			        errno == EWOULDBLOCK ? "another pdgate is running on this ledger"
			                             : strerror(errno));
			goto done;
		}
	}
	/* (a ledger in PostgreSQL takes many nodes: the database sequences them) */
	/* The witnesses hold the ledger's checkpoints until they have been asked where they
	 * stand, before any listener starts: a cut ledger never signs or releases. */
	if (g.cfg->witness.n > 0 &&
	    (g.witness = witness_client_new(g.cfg, g.log, err, sizeof err)) == NULL) {
		start_failed(&g, err);
		goto done;
	}
	/* Several nodes: the shared state's connection (a writer's: it makes the tables in an
	 * empty database) and the register in it, before the ledger's writer starts and asks
	 * them (shared_load). */
	if (g.cfg->ledger.url != NULL &&
	    ((g.state = ledger_pg_open(g.cfg->ledger.url, true, g.cfg->ledger.origin, NULL, err,
	                               sizeof err)) == NULL ||
	     (g.subjects = subjects_open_pg(g.cfg->ledger.url, err, sizeof err)) == NULL)) {
		fprintf(stderr, "pdgate serve: [ledger] url: the shared state: %s\n", err);
		log_msg(g.log, "error", "the shared state: %s", err);
		goto done;
	}
	struct ledger_params lp = {
	    .path = config_ledger_where(g.cfg),
	    .origin = g.cfg->ledger.origin,
	    .key = g.cfg->ledger.key,
	    .checkpoint_interval_ms = g.cfg->ledger.checkpoint_interval_ms,
	    .log = g.log,
	    .version = version_number(),
	    .metrics = g.metrics,
	    .may_sign = g.witness != NULL ? witness_client_may_sign : NULL,
	    .signed_cb = g.witness != NULL ? witness_client_signed : NULL,
	    .hook_arg = g.witness,
	    /* several nodes: the suspensions and the members' restrictions in the database,
	       checked in every commit */
	    .state_load = g.cfg->ledger.url != NULL ? shared_load : NULL,
	    .state_allows = g.cfg->ledger.url != NULL ? shared_allows : NULL,
	    .state_restrictions = g.cfg->ledger.url != NULL ? shared_restrictions : NULL,
	    .state_arg = &g,
	    /* and the contracts' daily volumes, counted in every commit */
	    .volume_seen = g.cfg->ledger.url != NULL ? volume_seen : NULL,
	    .volume_arg = &g,
	};
	g.ledger = ledger_open(&lp, err, sizeof err);
	if (g.ledger == NULL) {
		if (g.cfg->ledger.path != NULL)
			fprintf(stderr, "pdgate serve: %s: [ledger] path: %s\n", g.cfg->ledger.path,
			        err);
		else
			fprintf(stderr, "pdgate serve: [ledger] url: %s\n", err);
		log_msg(g.log, "error", "ledger: %s", err);
		goto done;
	}
	if (g.cfg->ledger.url != NULL &&
	    ((g.state_listen = ledger_pg_open(g.cfg->ledger.url, true, g.cfg->ledger.origin, NULL,
	                                      err, sizeof err)) == NULL ||
	     registry_share(g.registry, g.state, g.state_listen, subjects_state_load, g.subjects,
	                    err, sizeof err) != 0 ||
	     (g.counts = ledger_pg_open(g.cfg->ledger.url, true, g.cfg->ledger.origin, NULL, err,
	                                sizeof err)) == NULL)) {
		fprintf(stderr, "pdgate serve: [ledger] url: the shared state: %s\n", err);
		log_msg(g.log, "error", "the shared state: %s", err);
		goto done;
	}
	if (g.counts != NULL) /* the nodes together never pass a work order's max_records */
		tokenstore_share(g.tokenstore, g.counts);
	if (g.witness != NULL && witness_client_start(g.witness, g.ledger, err, sizeof err) != 0) {
		start_failed(&g, err);
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
	    .subjects = g.subjects,
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
	    .cred = g.partner_cred,
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
	    .on_event = partner_on_event,
	    .app = &g.partner_api,
	    .log = g.log,
	    .metrics = g.metrics,
	};
	g.partner = server_start(&pc, err, sizeof err);
	if (g.partner == NULL) {
		start_failed(&g, err);
		goto done;
	}
	tlscred_release(g.partner_cred); /* the listener holds its own: SIGHUP replaces it */
	g.partner_cred = NULL;
	listening(&g, "partner", server_url(g.partner));

	struct compliance_params cp = {
	    .cfg = g.cfg,
	    .registry = g.registry,
	    .ledger = g.ledger,
	    .pseudo = g.pseudo,
	    .tokenstore = g.tokenstore,
	    .subjects = g.subjects,
	    .origin = g.origin,
	    .log = g.log,
	    .metrics = g.metrics,
	    .witness = g.witness,
	    .cred = g.compliance_cred,
	};
	g.compliance = compliance_start(&cp, err, sizeof err);
	if (g.compliance == NULL) {
		start_failed(&g, err);
		goto done;
	}
	tlscred_release(g.compliance_cred);
	g.compliance_cred = NULL;
	listening(&g, "compliance", compliance_url(g.compliance));
	if (g.cfg->status.listen.host != NULL) {
		struct status_params sp = {
		    .cfg = g.cfg,
		    .metrics = g.metrics,
		    .registry = g.registry,
		    .ledger = g.ledger,
		    .origin = g.origin,
		    .partner_trust = g.partner_trust,
		    .compliance = g.compliance,
		    .witness = g.witness,
		    .log = g.log,
		};
		if ((g.status = status_start(&sp, err, sizeof err)) == NULL) {
			start_failed(&g, err);
			goto done;
		}
		listening(&g, "status", status_url(g.status));
	}

	/*
	 * The housekeeping loop: signals, and the daily look at the dates (a check on SIGHUP
	 * starts the day again, so a warning comes at most once a day between reloads).
	 */
	check_dates(&g);
	struct timespec next_check;
	clock_gettime(CLOCK_MONOTONIC, &next_check);
	next_check.tv_sec += DAY_S;
	for (;;) {
		struct timespec now, wait = {0, 0};
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec < next_check.tv_sec)
			wait.tv_sec = next_check.tv_sec - now.tv_sec;
		int sig = sigtimedwait(&sigs, NULL, &wait);
		if (sig < 0) {
			if (errno == EAGAIN) {
				check_dates(&g);
				next_check.tv_sec += DAY_S;
			}
			continue;
		}
		if (sig == SIGHUP) {
			reload(&g);
			clock_gettime(CLOCK_MONOTONIC, &next_check);
			next_check.tv_sec += DAY_S;
			continue;
		}
		if (sig == SIGUSR1) {
			reopen_log(&g);
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
	/* the witnesses' threads read the ledger: they stop first (the final checkpoint goes to
	 * them at the next start) */
	witness_client_stop(g.witness);
	/* the ledger closes after the last answer: its final checkpoint covers every entry */
	if (g.ledger != NULL && ledger_close(g.ledger) != 0)
		rc = 1;
	witness_client_free(g.witness);
	ratelimit_free(g.limits);
	tokenstore_close(g.tokenstore);
	origin_free(g.origin);
	token_verifier_free(g.work_orders);
	/* before the pseudonym key its plans were keyed with; its listener thread, which loads
	 * the members' restrictions, stopped before the register goes */
	registry_free(g.registry);
	subjects_close(g.subjects);
	ledger_store_free(g.state);
	ledger_store_free(g.state_listen);
	ledger_store_free(g.counts);
	pseudo_free(g.pseudo);
	tlscred_release(g.partner_cred);
	tlscred_release(g.compliance_cred);
	tlsauth_free(g.partner_trust);
	if (g.ledger_lock >= 0)
		close(g.ledger_lock);
	log_free(g.log);
	metrics_free(g.metrics);
	config_free(g.cfg);
	free(errors);
	return rc;
}
