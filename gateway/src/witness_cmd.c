/* witness_cmd — `pdgate witness init DIR --name NAME` and `pdgate witness serve -c FILE`. */
#include "witness_cmd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cli.h"
#include "file.h"
#include "note.h"
#include "pki.h"
#include "witness.h"

#define MAX_LOGS 64
#define CONF_MAX (64 * 1024)

/* ---- witness.conf ---- */

struct conf {
	char *name, *key, *state, *listen, *prefix, *tls_cert, *tls_key; /* owned */
	char *log_vkey[MAX_LOGS];                                        /* owned */
	size_t n_logs;
	char err[512];
};

static void
conf_free(struct conf *c)
{
	free(c->name), free(c->key), free(c->state), free(c->listen), free(c->prefix);
	free(c->tls_cert), free(c->tls_key);
	for (size_t i = 0; i < c->n_logs; i++)
		free(c->log_vkey[i]);
}

static int
on_conf(void *user, const char *section, const char *key, const char *value)
{
	struct conf *c = user;
	static const char *const keys[] = {"name",   "key",      "state",  "listen",
	                                   "prefix", "tls_cert", "tls_key"};
	char **slots[] = {&c->name,   &c->key,      &c->state,  &c->listen,
	                  &c->prefix, &c->tls_cert, &c->tls_key};

	if (c->err[0] != '\0')
		return 0;
	if (strcmp(section, "witness") == 0) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(key, keys[i]) == 0) {
				if (*slots[i] != NULL) {
					snprintf(c->err, sizeof(c->err), "%s given twice", key);
					return 0;
				}
				if ((*slots[i] = strdup(value)) == NULL)
					return 0;
				return 1;
			}
	} else if (strcmp(section, "logs") == 0) {
		/* ORIGIN = VKEY: a log's origin line is its key's name */
		size_t nl = strlen(key);

		if (strncmp(value, key, nl) != 0 || value[nl] != '+') {
			snprintf(c->err, sizeof(c->err), "[logs] the vkey of %s is not named %s",
			         key, key);
			return 0;
		}
		if (c->n_logs == MAX_LOGS) {
			snprintf(c->err, sizeof(c->err), "more than %d logs", MAX_LOGS);
			return 0;
		}
		if ((c->log_vkey[c->n_logs] = strdup(value)) == NULL)
			return 0;
		c->n_logs++;
		return 1;
	}
	snprintf(c->err, sizeof(c->err), "unknown key [%s] %s", section, key);
	return 0;
}

/* A path of the configuration relative to its folder. */
static char *
beside(const char *conf, const char *path)
{
	const char *slash = strrchr(conf, '/');
	char *out = NULL;

	if (path[0] == '/' || slash == NULL)
		return strdup(path);
	if (asprintf(&out, "%.*s/%s", (int)(slash - conf), conf, path) < 0)
		return NULL;
	return out;
}

/* ---- init ---- */

struct init_opts {
	const char *name, *listen;
	const char *logs[MAX_LOGS];
	size_t n_logs;
};

static int
add_log(const char *arg, void *to)
{
	struct init_opts *o = to;
	struct note_verifier *v = note_verifier_new(arg, strlen(arg));

	if (v == NULL) {
		fprintf(stderr, "pdgate witness init: --log %s: not an Ed25519 verifier key\n",
		        arg);
		return 2;
	}
	note_verifier_free(v);
	if (o->n_logs == MAX_LOGS) {
		fprintf(stderr, "pdgate witness init: more than %d logs\n", MAX_LOGS);
		return 2;
	}
	o->logs[o->n_logs++] = arg;
	return 0;
}

static void
init_usage(FILE *f)
{
	fprintf(
	    f, "usage: pdgate witness init DIR --name NAME [--log VKEY]... [--listen ADDR:PORT]\n\n"
	       "Creates the new folder DIR: witness.key (a new Ed25519 key), witness.vkey (its\n"
	       "cosigner verifier key, type 0x04, to give to the logs' operators) and\n"
	       "witness.conf following each log whose verifier key --log gives (its origin is\n"
	       "the key's name), listening on ADDR:PORT (default 127.0.0.1:7380).\n");
}

static int
witness_init_main(int argc, char **argv)
{
	struct init_opts o = {.listen = "127.0.0.1:7380"};
	const struct cli_option opts[] = {
	    {"name", 0, false, &o.name, NULL},
	    {"log", 0, false, &o, add_log},
	    {"listen", 0, false, &o.listen, NULL},
	};
	char err[512], *keyp = NULL, *vkeyp = NULL, *confp = NULL, *pem = NULL, *vkey = NULL;
	struct note_signer *s = NULL;
	EVP_PKEY *key = NULL;
	const char *dir;
	size_t len = 0;
	FILE *f = NULL;
	int first, status = 1;

	if (!cli_options(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), init_usage, &first,
	                 &status))
		return status;
	if (first != argc - 1 || o.name == NULL) {
		init_usage(stderr);
		return 2;
	}
	dir = argv[first];
	status = 1;
	if (mkdir(dir, 0700) != 0) {
		fprintf(stderr, "pdgate witness init: %s: %s\n", dir, strerror(errno));
		return errno == EEXIST ? 3 : 1;
	}
	if (asprintf(&keyp, "%s/witness.key", dir) < 0 ||
	    asprintf(&vkeyp, "%s/witness.vkey", dir) < 0 ||
	    asprintf(&confp, "%s/witness.conf", dir) < 0)
		goto done;
	if ((key = pki_key_ed25519()) == NULL || pki_key_write(keyp, key, err, sizeof(err)) != 0 ||
	    (pem = file_read(keyp, CONF_MAX, FILE_READ_SECRET, &len, err, sizeof(err))) == NULL) {
		fprintf(stderr, "pdgate witness init: %s\n", err);
		goto done;
	}
	if ((s = note_cosigner_new(o.name, pem, len)) == NULL) {
		fprintf(stderr, "pdgate witness init: --name %s: not a key name\n", o.name);
		goto done;
	}
	if ((vkey = note_signer_vkey(s)) == NULL || (f = fopen(vkeyp, "wx")) == NULL ||
	    fprintf(f, "%s\n", vkey) < 0 || fclose(f) != 0) {
		fprintf(stderr, "pdgate witness init: %s: %s\n", vkeyp, strerror(errno));
		f = NULL;
		goto done;
	}
	if ((f = fopen(confp, "wx")) == NULL) {
		fprintf(stderr, "pdgate witness init: %s: %s\n", confp, strerror(errno));
		goto done;
	}
	fprintf(f,
	        "; pdgate witness: `pdgate witness serve -c %s`\n"
	        "[witness]\n"
	        "name = %s\n"
	        "key = witness.key\n"
	        "state = witness.db\n"
	        "; loopback, or give tls_cert and tls_key (PEM) to listen elsewhere\n"
	        "listen = %s\n"
	        "prefix =\n"
	        "\n"
	        "; the logs followed: ORIGIN = VKEY\n"
	        "[logs]\n",
	        confp, o.name, o.listen);
	for (size_t i = 0; i < o.n_logs; i++)
		fprintf(f, "%.*s = %s\n", (int)(strchr(o.logs[i], '+') - o.logs[i]), o.logs[i],
		        o.logs[i]);
	if (fclose(f) != 0) {
		f = NULL;
		fprintf(stderr, "pdgate witness init: %s: %s\n", confp, strerror(errno));
		goto done;
	}
	f = NULL;
	printf("%s\n", vkey);
	status = 0;
done:
	if (pem != NULL)
		OPENSSL_cleanse(pem, len);
	free(pem);
	free(vkey);
	free(keyp);
	free(vkeyp);
	free(confp);
	EVP_PKEY_free(key);
	note_signer_free(s);
	return status;
}

/* ---- serve ---- */

struct request {
	char *body; /* owned, len bytes, capped at WITNESS_MAX_BODY + 1 */
	size_t len;
	bool over; /* more than WITNESS_MAX_BODY came: refused, the rest discarded */
};

struct served {
	struct witness *w;
	char *path; /* "<prefix>/add-checkpoint" */
};

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *ctype, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    len, body, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	char *body = strdup(text);

	return reply(conn, status, "text/plain; charset=utf-8", body, body ? strlen(body) : 0);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **ctx)
{
	struct served *sv = cls;
	struct request *rq = *ctx;
	struct witness_answer a;

	(void)version;
	if (rq == NULL) {
		if ((rq = calloc(1, sizeof(*rq))) == NULL)
			return MHD_NO;
		*ctx = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;

		if (!rq->over && rq->len + n <= WITNESS_MAX_BODY) {
			char *nb = realloc(rq->body, rq->len + n);

			if (nb == NULL)
				return MHD_NO;
			memcpy(nb + rq->len, upload, n);
			rq->body = nb;
			rq->len += n;
		} else {
			rq->over = true;
			free(rq->body);
			rq->body = NULL;
			rq->len = 0;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, sv->path) != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "POST only\n");
	if (rq->over)
		return reply_text(conn, MHD_HTTP_BAD_REQUEST, "body too large\n");
	if (witness_add_checkpoint(sv->w, rq->body ? rq->body : "", rq->len, (uint64_t)time(NULL),
	                           &a) != 0)
		return MHD_NO;
	fprintf(stderr, "add-checkpoint %u %zu bytes\n", (unsigned)a.status, rq->len);
	return reply(conn, (unsigned)a.status, a.ctype, a.body, a.body_len);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
             enum MHD_RequestTerminationCode why)
{
	struct request *rq = *ctx;

	(void)cls, (void)conn, (void)why;
	if (rq != NULL) {
		free(rq->body);
		free(rq);
	}
	*ctx = NULL;
}

static void
serve_usage(FILE *f)
{
	fprintf(f, "usage: pdgate witness serve -c DIR/witness.conf\n\n"
	           "Runs the witness in the foreground until SIGTERM or SIGINT: POST\n"
	           "<prefix>/add-checkpoint by c2sp.org/tlog-witness, each log's latest cosigned\n"
	           "size and root committed to the state database before the answer. Listens on a\n"
	           "loopback address, or with tls_cert and tls_key on any.\n");
}

/* "ADDR:PORT" (IPv4) into sa; loopback is whether ADDR is 127.0.0.0/8. */
static int
parse_listen(const char *s, struct sockaddr_in *sa, bool *loopback)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	char *end;
	long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -1;
	*loopback = (ntohl(sa->sin_addr.s_addr) >> 24) == 127;
	return 0;
}

static int
witness_serve_main(int argc, char **argv)
{
	const char *confp = NULL;
	const struct cli_option opts[] = {{"config", 'c', false, &confp, NULL}};
	struct conf c = {0};
	struct note_verifier **logs = NULL;
	struct note_signer *s = NULL;
	struct served sv = {0};
	struct MHD_Daemon *d = NULL;
	struct sockaddr_in sa;
	char err[512], *path = NULL, *pem = NULL, *cert = NULL, *tkey = NULL;
	size_t len = 0, clen = 0, tlen = 0;
	bool loopback = false;
	sigset_t sigs;
	int first, status = 1, sig, r;

	if (!cli_options(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), serve_usage, &first,
	                 &status))
		return status;
	if (confp == NULL || first != argc) {
		serve_usage(stderr);
		return 2;
	}
	status = 1;
	if ((pem = file_read(confp, CONF_MAX, 0, &len, err, sizeof(err))) == NULL) {
		fprintf(stderr, "pdgate witness serve: %s\n", err);
		return 1;
	}
	r = ini_parse_string(pem, on_conf, &c);
	free(pem);
	pem = NULL;
	if (r != 0 || c.err[0] != '\0' || c.name == NULL || c.key == NULL || c.state == NULL ||
	    c.listen == NULL) {
		fprintf(stderr, "pdgate witness serve: %s: %s\n", confp,
		        c.err[0] ? c.err
		        : r > 0  ? "syntax error"
		                 : "[witness] needs name, key, state and listen");
		goto done;
	}
	if (parse_listen(c.listen, &sa, &loopback) != 0) {
		fprintf(stderr, "pdgate witness serve: %s: listen = %s: not ADDR:PORT\n", confp,
		        c.listen);
		goto done;
	}
	if ((c.tls_cert == NULL) != (c.tls_key == NULL) || (!loopback && c.tls_cert == NULL)) {
		fprintf(stderr,
		        "pdgate witness serve: %s: listening on %s needs tls_cert and tls_key\n",
		        confp, c.listen);
		goto done;
	}
	if ((path = beside(confp, c.key)) == NULL ||
	    (pem = file_read(path, CONF_MAX, FILE_READ_SECRET, &len, err, sizeof(err))) == NULL) {
		fprintf(stderr, "pdgate witness serve: %s\n", path ? err : "out of memory");
		goto done;
	}
	s = note_cosigner_new(c.name, pem, len);
	OPENSSL_cleanse(pem, len);
	free(pem);
	pem = NULL;
	if (s == NULL) {
		fprintf(stderr, "pdgate witness serve: %s: not an Ed25519 key for name %s\n", path,
		        c.name);
		goto done;
	}
	if ((logs = calloc(c.n_logs ? c.n_logs : 1, sizeof(*logs))) == NULL)
		goto done;
	for (size_t i = 0; i < c.n_logs; i++)
		if ((logs[i] = note_verifier_new(c.log_vkey[i], strlen(c.log_vkey[i]))) == NULL) {
			fprintf(stderr,
			        "pdgate witness serve: %s: [logs] %s: not an Ed25519 vkey\n", confp,
			        c.log_vkey[i]);
			for (size_t j = 0; j < i; j++)
				note_verifier_free(logs[j]);
			free(logs);
			logs = NULL;
			goto done;
		}
	free(path);
	if ((path = beside(confp, c.state)) == NULL)
		goto done;
	sv.w = witness_open(path, s, logs, c.n_logs, err, sizeof(err));
	s = NULL;
	logs = NULL;
	if (sv.w == NULL) {
		fprintf(stderr, "pdgate witness serve: %s\n", err);
		goto done;
	}
	if (asprintf(&sv.path, "%s/add-checkpoint", c.prefix ? c.prefix : "") < 0) {
		sv.path = NULL;
		goto done;
	}
	if (c.tls_cert != NULL) {
		char *cp = beside(confp, c.tls_cert), *kp = beside(confp, c.tls_key);

		cert = cp ? file_read(cp, CONF_MAX, FILE_READ_NONEMPTY, &clen, err, sizeof(err))
		          : NULL;
		tkey = cert && kp
		           ? file_read(kp, CONF_MAX, FILE_READ_SECRET, &tlen, err, sizeof(err))
		           : NULL;
		free(cp);
		free(kp);
		if (tkey == NULL) {
			fprintf(stderr, "pdgate witness serve: %s\n", err);
			goto done;
		}
	}
	/* The signals wait for sigwait below, in this thread only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
	                         (cert ? MHD_USE_TLS : 0),
	                     0, NULL, NULL, on_request, &sv, MHD_OPTION_SOCK_ADDR,
	                     (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, 4,
	                     MHD_OPTION_CONNECTION_TIMEOUT, 30, MHD_OPTION_NOTIFY_COMPLETED,
	                     on_completed, NULL, cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
	                     cert, MHD_OPTION_HTTPS_MEM_KEY, tkey, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "pdgate witness serve: cannot listen on %s\n", c.listen);
		goto done;
	}
	printf("witness %s listening on %s%s\n", c.name, cert ? "https://" : "http://", c.listen);
	fflush(stdout);
	while (sigwait(&sigs, &sig) == 0 && sig != SIGTERM && sig != SIGINT)
		;
	status = 0;
done:
	MHD_stop_daemon(d);
	witness_free(sv.w);
	note_signer_free(s);
	free(sv.path);
	free(path);
	free(cert);
	if (tkey != NULL)
		OPENSSL_cleanse(tkey, tlen);
	free(tkey);
	conf_free(&c);
	return status;
}

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: pdgate witness init DIR --name NAME [--log VKEY]... [--listen ADDR:PORT]\n"
	        "       pdgate witness serve -c DIR/witness.conf\n\n"
	        "init    creates a witness: its key, its cosigner vkey, witness.conf\n"
	        "serve   runs it (c2sp.org/tlog-witness add-checkpoint)\n");
}

int
witness_main(int argc, char **argv)
{
	static const struct cli_command cmds[] = {
	    {"init", witness_init_main, NULL},
	    {"serve", witness_serve_main, NULL},
	};

	return cli_dispatch("pdgate witness", "subcommand", cmds, sizeof(cmds) / sizeof(cmds[0]),
	                    usage, argc, argv);
}
