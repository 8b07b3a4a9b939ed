/* origin — where member records come from: the embedded SQLite file or the member system over HTTP.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "buf.h"
#include "config.h"
#include "origin.h"
#include "ujson.h"

/* The page cache of each pooled SQLite handle, in KiB (a string: it goes into a PRAGMA). */
#ifndef ORIGIN_CACHE_KIB
#define ORIGIN_CACHE_KIB "512"
#endif
/* A page body may hold many records; bound it independently of the per-record limit. */
#define ORIGIN_MAX_PAGE_BYTES (64u << 20)

/*
 * The TLS profile towards an https origin is the listeners' (SPEC 13, docs/operations.md "TLS
 * profile"): TLS 1.2 and 1.3, ECDHE with AEAD suites only, signature algorithms SHA-256 or
 * better in the handshake, and on the origin's certificate chain (ORIGIN_MIN_SIGNATURE_BITS).
 * An origin that offers nothing of it fails the handshake: 502 origin_error, nothing released.
 */
#define ORIGIN_TLS12_CIPHERS                                                                       \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define ORIGIN_TLS13_CIPHERS                                                                       \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define ORIGIN_SIGALGS                                                                             \
	"ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:"                                                  \
	"rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:"                             \
	"rsa_pss_pss_sha256:rsa_pss_pss_sha384:rsa_pss_pss_sha512:"                                \
	"RSA+SHA256:RSA+SHA384:RSA+SHA512:ed25519:ed448"
#define ORIGIN_GROUPS "X25519:P-256:P-384:P-521"
/* What a SHA-256 signature gives; OpenSSL's default level 2 lets SHA-224 (112 bits) through. */
#define ORIGIN_MIN_SIGNATURE_BITS 128

/*
 * One reusable handle: an SQLite connection with its prepared statements, or a curl easy handle
 * that keeps its connection to the member system alive. Handles are never shared by two threads
 * at once: a request takes one from the pool and gives it back.
 */
struct handle {
	sqlite3 *db;
	sqlite3_stmt *get; /* SELECT record FROM members WHERE member_id = ? */
	sqlite3_stmt *page; /* SELECT member_id, record … WHERE member_id > ? ORDER BY … LIMIT ? */
	CURL *curl;
	struct handle *next;
};

struct origin {
	int http;   /* 0: sqlite, 1: http(s) */
	int https;  /* 1: https, held to the TLS profile */
	char *path; /* sqlite file */
	char *base; /* http base URL without trailing slash */
	struct origin_params p;
	char *client_cert, *client_key, *ca;
	pthread_mutex_t lock; /* guards free */
	struct handle *free;
	struct metrics *metrics;
	atomic_uint failures; /* origin_health */
	atomic_int last_error;
};

/* curl's write callback: the body into a struct buf whose max aborts the transfer past it. */
static size_t
sink_write(char *data, size_t size, size_t n, void *arg)
{
	return buf_add(arg, data, size * n) == 0 ? size * n : 0;
}

/*
 * The framing of an answer, as its header lines arrive: an origin that sends Content-Length
 * twice, as a list or with anything but digits, or together with Transfer-Encoding, is lying
 * about where its body ends (curl would take one of the values). The answer is refused.
 */
struct framing {
	unsigned content_length, transfer_encoding;
	bool bad;
};

static bool
header_is(const char *line, size_t n, const char *name, const char **value, size_t *vlen)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return false;
	*value = line + k + 1;
	*vlen = n - k - 1;
	while (*vlen > 0 && (**value == ' ' || **value == '\t'))
		(*value)++, (*vlen)--;
	while (*vlen > 0 && strchr(" \t\r\n", (*value)[*vlen - 1]) != NULL)
		(*vlen)--;
	return true;
}

/* curl's header callback: one header line (or the status line) at a time. */
static size_t
framing_header(char *data, size_t size, size_t n, void *arg)
{
	struct framing *f = arg;
	const char *v;
	size_t len = size * n, vlen;

	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* a new answer (after a 1xx): its own headers */
		*f = (struct framing){0};
	} else if (header_is(data, len, "content-length", &v, &vlen)) {
		f->content_length++;
		if (vlen == 0 || vlen > 18)
			f->bad = true;
		for (size_t i = 0; i < vlen; i++) /* the line is not NUL-terminated */
			if (v[i] < '0' || v[i] > '9')
				f->bad = true;
	} else if (header_is(data, len, "transfer-encoding", &v, &vlen)) {
		f->transfer_encoding++;
	}
	if (f->content_length > 1 || (f->content_length && f->transfer_encoding))
		f->bad = true;
	return f->bad ? 0 : len;
}

/*
 * Verification callback: refuses a certificate of the origin's chain whose signature rests on
 * less than SHA-256, as tlsauth does for clients. The trust anchor (the top of the chain) is
 * not checked: nothing rests on its self-signature.
 */
static int
origin_verify(int ok, X509_STORE_CTX *ctx)
{
	X509 *x = X509_STORE_CTX_get_current_cert(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx), bits = 0;
	uint32_t flags = 0;

	if (!ok || x == NULL || depth >= sk_X509_num(X509_STORE_CTX_get0_chain(ctx)) - 1)
		return ok;
	if (X509_get_signature_info(x, NULL, NULL, &bits, &flags) != 1 ||
	    !(flags & X509_SIG_INFO_VALID) || bits < ORIGIN_MIN_SIGNATURE_BITS) {
		X509_STORE_CTX_set_error(ctx, X509_V_ERR_CA_MD_TOO_WEAK);
		return 0;
	}
	return 1;
}

/* curl's hook on each new connection's SSL_CTX: what its options cannot say. */
static CURLcode
origin_ssl_ctx(CURL *curl, void *sslctx, void *arg)
{
	SSL_CTX *ctx = sslctx;

	(void)curl;
	(void)arg;
	/* level 2 whatever the system's openssl.cnf says: RSA keys of 2048 bits, EC of 224 */
	SSL_CTX_set_security_level(ctx, 2);
	if (SSL_CTX_set1_sigalgs_list(ctx, ORIGIN_SIGALGS) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, ORIGIN_GROUPS) != 1) {
		ERR_clear_error();
		return CURLE_SSL_CIPHER;
	}
	/* keeps the mode curl chose (peer verification), adds the digest check */
	SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), origin_verify);
	return CURLE_OK;
}

static void
handle_free(struct handle *h)
{
	if (h == NULL)
		return;
	sqlite3_finalize(h->get);
	sqlite3_finalize(h->page);
	sqlite3_close(h->db);
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	free(h);
}

static struct handle *
handle_new(struct origin *o, char *err, size_t errlen)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (h == NULL)
		goto oom;
	if (!o->http) {
		int rc = sqlite3_open_v2(o->path, &h->db,
		                         SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "origin %s: %s", o->path,
			         h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc));
			goto fail;
		}
		sqlite3_busy_timeout(h->db, (int)o->p.timeout_ms);
		/*
		 * There is a handle per request in flight, each with its own page cache: a small
		 * one holds the index's upper levels, and the operating system's cache (shared)
		 * serves the rest of the file. SQLite's default of 2 MiB each would add up to tens
		 * of MiB.
		 */
		sqlite3_exec(h->db, "PRAGMA cache_size=-" ORIGIN_CACHE_KIB, NULL, NULL, NULL);
		/*
		 * No memory map (mmap_size stays 0): it saved ~2 us a read, but each handle maps
		 * the file on its own and the process's resident size counts every mapping of a
		 * page, so after A's random reads the gateway showed 773 MiB resident for a
		 * 108 MB members.db (docs/performance.md, The record path).
		 */
		if (sqlite3_prepare_v3(h->db, "SELECT record FROM members WHERE member_id = ?1", -1,
		                       SQLITE_PREPARE_PERSISTENT, &h->get, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v3(h->db,
		                       "SELECT member_id, record FROM members WHERE member_id > ?1 "
		                       "ORDER BY member_id LIMIT ?2",
		                       -1, SQLITE_PREPARE_PERSISTENT, &h->page,
		                       NULL) != SQLITE_OK) {
			snprintf(err, errlen, "origin %s: %s", o->path, sqlite3_errmsg(h->db));
			goto fail;
		}
		return h;
	}
	h->curl = curl_easy_init();
	if (h->curl == NULL)
		goto oom;
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)o->p.timeout_ms);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)o->p.timeout_ms);
	curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, framing_header);
	curl_easy_setopt(h->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (o->https &&
	    (curl_easy_setopt(h->curl, CURLOPT_SSL_CIPHER_LIST, ORIGIN_TLS12_CIPHERS) != CURLE_OK ||
	     curl_easy_setopt(h->curl, CURLOPT_TLS13_CIPHERS, ORIGIN_TLS13_CIPHERS) != CURLE_OK ||
	     curl_easy_setopt(h->curl, CURLOPT_SSL_CTX_FUNCTION, origin_ssl_ctx) != CURLE_OK)) {
		/* a libcurl that cannot hold to the profile is not used at all */
		snprintf(err, errlen,
		         "origin: this libcurl cannot restrict its TLS profile "
		         "(OpenSSL backend required)");
		goto fail;
	}
	if (o->ca != NULL) {
		/* the member system's CA only, never the system store */
		curl_easy_setopt(h->curl, CURLOPT_CAINFO, o->ca);
		curl_easy_setopt(h->curl, CURLOPT_CAPATH, NULL);
	}
	if (o->client_cert != NULL) {
		curl_easy_setopt(h->curl, CURLOPT_SSLCERT, o->client_cert);
		curl_easy_setopt(h->curl, CURLOPT_SSLKEY, o->client_key);
	}
	return h;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	handle_free(h);
	return NULL;
}

bool
origin_blocks(const struct origin *o)
{
	return o->http != 0;
}

static struct handle *
take(struct origin *o)
{
	struct handle *h;
	char err[256];

	pthread_mutex_lock(&o->lock);
	h = o->free;
	if (h != NULL)
		o->free = h->next;
	pthread_mutex_unlock(&o->lock);
	if (h == NULL)
		h = handle_new(o, err, sizeof(err));
	return h;
}

static void
give(struct origin *o, struct handle *h)
{
	pthread_mutex_lock(&o->lock);
	h->next = o->free;
	o->free = h;
	pthread_mutex_unlock(&o->lock);
}

bool
origin_cleartext_remote(const char *url)
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

/* The journal mode of an open database ("wal", "delete", …) into mode; "" if unknown. */
static void
journal_mode(sqlite3 *db, char *mode, size_t len)
{
	sqlite3_stmt *st = NULL;

	mode[0] = '\0';
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(mode, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/*
 * members.db in WAL mode: a read takes no file lock of rollback mode and never waits for the
 * member system's writer, nor the writer for it. A file still in rollback mode is converted
 * once, at start, when this user may write it and its folder (SQLite keeps the -wal and -shm
 * files beside it); one it cannot convert (read-only, or busy past the timeout) is read as it
 * is. The mode is the file's own from then on, for every connection.
 */
static void
sqlite_wal(const char *path, unsigned timeout_ms)
{
	char mode[16], dir[4096];
	const char *slash = strrchr(path, '/');
	sqlite3 *db = NULL;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) + (slash == path), path);
	if (access(path, W_OK) != 0 || access(dir, W_OK) != 0 ||
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	        SQLITE_OK)
		goto done;
	sqlite3_busy_timeout(db, (int)timeout_ms);
	journal_mode(db, mode, sizeof(mode));
	if (strcmp(mode, "wal") != 0)
		sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
done:
	sqlite3_close(db);
}

struct origin_params
origin_params_of(const struct config *c)
{
	return (struct origin_params){
	    .url = c->origin.url,
	    .timeout_ms = c->origin.timeout_ms,
	    .max_record_bytes = c->origin.max_record_bytes,
	    .client_cert = c->origin.client_cert,
	    .client_key = c->origin.client_key,
	    .ca = c->origin.ca,
	};
}

struct origin *
origin_new(const struct origin_params *p, char *err, size_t errlen)
{
	struct origin *o = calloc(1, sizeof(*o));
	struct handle *h;

	if (o == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&o->lock, NULL);
	o->p = *p;
	if (strncmp(p->url, "sqlite:", 7) == 0) {
		o->path = strdup(p->url + 7);
		if (o->path == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		/* a missing file is not created here: the handle below says it is missing */
		if (access(o->path, F_OK) == 0)
			sqlite_wal(o->path, p->timeout_ms);
	} else if (strncmp(p->url, "http://", 7) == 0 || strncmp(p->url, "https://", 8) == 0) {
		size_t n = strlen(p->url);
		o->http = 1;
		o->https = strncmp(p->url, "https://", 8) == 0;
		while (n > 0 && p->url[n - 1] == '/')
			n--;
		o->base = strndup(p->url, n);
		o->ca = p->ca ? strdup(p->ca) : NULL;
		o->client_cert = p->client_cert ? strdup(p->client_cert) : NULL;
		o->client_key = p->client_key ? strdup(p->client_key) : NULL;
	} else {
		snprintf(err, errlen, "origin url must be sqlite:PATH, http:// or https://");
		goto fail;
	}
	o->p.url = NULL;
	o->p.ca = o->p.client_cert = o->p.client_key = NULL;
	o->metrics = p->metrics;
	o->p.metrics = NULL;
	/* open one handle now so that a missing file or table fails at start, not on a request */
	h = handle_new(o, err, errlen);
	if (h == NULL)
		goto fail;
	if (h->db != NULL &&
	    sqlite3_exec(h->db, "SELECT 1 FROM members LIMIT 1", NULL, NULL, NULL) != SQLITE_OK) {
		int rc = sqlite3_errcode(h->db);
		snprintf(err, errlen, "origin %s: %s%s", o->path, sqlite3_errmsg(h->db),
		         rc == SQLITE_READONLY || rc == SQLITE_CANTOPEN
		             ? " (a database in WAL mode needs its -wal and -shm files beside it: "
		               "a folder this user may write, or the files made writable for it)"
		             : "");
		handle_free(h);
		goto fail;
	}
	give(o, h);
	return o;
fail:
	origin_free(o);
	return NULL;
}

void
origin_free(struct origin *o)
{
	if (o == NULL)
		return;
	while (o->free != NULL) {
		struct handle *h = o->free;
		o->free = h->next;
		handle_free(h);
	}
	pthread_mutex_destroy(&o->lock);
	free(o->path);
	free(o->base);
	free(o->ca);
	free(o->client_cert);
	free(o->client_key);
	free(o);
}

/* GET base+path into s; maps transport failures to the API's codes. */
static enum apierr
http_get(struct origin *o, struct handle *h, const char *path, struct buf *s)
{
	char url[2048];
	long status = 0;
	struct framing framing = {0};
	CURLcode rc;

	if ((size_t)snprintf(url, sizeof(url), "%s%s", o->base, path) >= sizeof(url))
		return APIERR_BAD_REQUEST;
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, &framing);
	rc = curl_easy_perform(h->curl);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, NULL);
	if (framing.bad)
		return APIERR_ORIGIN_ERROR;
	if (s->over)
		return APIERR_ORIGIN_INVALID;
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return APIERR_ORIGIN_TIMEOUT;
	if (rc != CURLE_OK)
		return APIERR_ORIGIN_ERROR;
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 404)
		return APIERR_MEMBER_NOT_FOUND;
	if (status != 200)
		return APIERR_ORIGIN_ERROR;
	if (s->len == 0) /* an empty 200 is not a record */
		return APIERR_ORIGIN_INVALID;
	return APIERR_NONE;
}

/* A request's result into origin_health. */
static enum apierr
health(struct origin *o, enum apierr e)
{
	if (e == APIERR_ORIGIN_ERROR || e == APIERR_ORIGIN_TIMEOUT) {
		atomic_store_explicit(&o->last_error, (int)e, memory_order_relaxed);
		atomic_fetch_add_explicit(&o->failures, 1, memory_order_relaxed);
	} else if (e != APIERR_INTERNAL &&
	           atomic_load_explicit(&o->failures, memory_order_relaxed) != 0) {
		atomic_store_explicit(&o->failures, 0, memory_order_relaxed);
	}
	return e;
}

/* What every request of a partner ends with: counted for the metrics and the readiness. */
static enum apierr
counted(struct origin *o, enum apierr e)
{
	metrics_origin(o->metrics, e);
	return health(o, e);
}

void
origin_health(struct origin *o, struct origin_health *h)
{
	h->failures = atomic_load_explicit(&o->failures, memory_order_relaxed);
	h->last_error = (enum apierr)atomic_load_explicit(&o->last_error, memory_order_relaxed);
}

static enum apierr
sqlite_get(struct handle *h, const char *member_id, size_t limit, char **body, size_t *len)
{
	enum apierr e = APIERR_NONE;
	int rc;

	sqlite3_bind_text(h->get, 1, member_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(h->get);
	if (rc == SQLITE_ROW) {
		const char *rec = (const char *)sqlite3_column_text(h->get, 0);
		size_t n = (size_t)sqlite3_column_bytes(h->get, 0);
		if (rec == NULL || n > limit) {
			e = APIERR_ORIGIN_INVALID;
		} else if ((*body = malloc(n + 1)) == NULL) {
			e = APIERR_INTERNAL;
		} else {
			memcpy(*body, rec, n);
			(*body)[n] = '\0';
			*len = n;
		}
	} else if (rc == SQLITE_DONE) {
		e = APIERR_MEMBER_NOT_FOUND;
	} else {
		e = APIERR_ORIGIN_ERROR;
	}
	sqlite3_reset(h->get);
	sqlite3_clear_bindings(h->get);
	return e;
}

/* One member's record on the handle h (taken from the pool by the caller). */
static enum apierr
fetch(struct origin *o, struct handle *h, const char *member_id, char **body, size_t *len)
{
	enum apierr e;

	*body = NULL;
	*len = 0;
	if (!o->http) {
		e = sqlite_get(h, member_id, o->p.max_record_bytes, body, len);
	} else {
		struct buf s = {.max = o->p.max_record_bytes};
		char path[128];
		snprintf(path, sizeof(path), "/members/%s", member_id);
		e = http_get(o, h, path, &s);
		if (e == APIERR_NONE) {
			*body = buf_take(&s, len);
		} else {
			buf_free(&s);
		}
	}
	return e;
}

enum apierr
origin_get(struct origin *o, const char *member_id, char **body, size_t *len)
{
	struct handle *h = take(o);
	enum apierr e;

	*body = NULL;
	*len = 0;
	if (h == NULL)
		return counted(o, APIERR_ORIGIN_ERROR);
	e = fetch(o, h, member_id, body, len);
	give(o, h);
	return counted(o, e);
}

enum apierr
origin_probe(struct origin *o)
{
	long ms = o->p.timeout_ms < ORIGIN_PROBE_MS ? (long)o->p.timeout_ms : ORIGIN_PROBE_MS;
	struct handle *h = take(o);
	char *body = NULL;
	size_t len;
	enum apierr e;

	if (h == NULL)
		return health(o, APIERR_ORIGIN_ERROR);
	/* a bound of its own while it holds the handle; the pool gets it back as it was */
	if (h->curl != NULL) {
		curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, ms);
		curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, ms);
	}
	e = fetch(o, h, ORIGIN_PROBE_ID, &body, &len);
	free(body);
	if (h->curl != NULL) {
		curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)o->p.timeout_ms);
		curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)o->p.timeout_ms);
	}
	give(o, h);
	return health(o, e);
}

static enum apierr
sqlite_page(struct origin *o, struct handle *h, const char *after, unsigned limit,
            origin_each_fn each, void *ctx, char **next)
{
	enum apierr e = APIERR_NONE;
	unsigned n = 0;
	char last[128] = "";
	int rc;

	/* one row more than asked tells whether there is a next page */
	sqlite3_bind_text(h->page, 1, after ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(h->page, 2, (sqlite3_int64)limit + 1);
	while ((rc = sqlite3_step(h->page)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(h->page, 0);
		const char *rec = (const char *)sqlite3_column_text(h->page, 1);
		size_t len = (size_t)sqlite3_column_bytes(h->page, 1);
		if (n == limit) {
			*next = strdup(last);
			if (*next == NULL)
				e = APIERR_INTERNAL;
			break;
		}
		if (id == NULL || rec == NULL || strlen(id) >= sizeof(last) ||
		    len > o->p.max_record_bytes) {
			e = APIERR_ORIGIN_INVALID;
			break;
		}
		snprintf(last, sizeof(last), "%s", id);
		n++;
		if (each(ctx, id, rec, len) != 0)
			break;
	}
	if (e == APIERR_NONE && rc != SQLITE_ROW && rc != SQLITE_DONE)
		e = APIERR_ORIGIN_ERROR;
	sqlite3_reset(h->page);
	sqlite3_clear_bindings(h->page);
	return e;
}

/*
 * The member system's page body, {"members":[record…],"next":ID-or-null}, checked as
 * origin_page checks it for an HTTP origin: JSON by ujson's rules (duplicates, \u0000, invalid
 * UTF-8 refused; depth bounded), exactly those two members, at most limit records, each an
 * object whose string member_id is strictly greater than the one before (the first greater
 * than after, if after is not NULL). Only then each gets every record, as compact JSON text no
 * longer than max_record_bytes (to be validated like a single record). *next receives the
 * page's next (caller frees) or NULL. APIERR_NONE (also when each stopped early),
 * ORIGIN_INVALID, or INTERNAL (out of memory); on error *next is NULL.
 */
static enum apierr
origin_parse_page(const char *bytes, size_t len, const char *after, unsigned limit,
                  size_t max_record_bytes, origin_each_fn each, void *ctx, char **next)
{
	char why[160];
	const char *prev = after;
	json_t *page = NULL, *members, *nx, *m;
	enum apierr e = APIERR_ORIGIN_INVALID;
	size_t i;

	*next = NULL;
	/* the records sit two levels down: the page object and its array */
	page =
	    ujson_parse(bytes, len, ORIGIN_MAX_PAGE_BYTES, UJSON_MAX_DEPTH + 2, why, sizeof(why));
	if (page == NULL || !json_is_object(page) || json_object_size(page) != 2)
		goto done;
	members = json_object_get(page, "members");
	nx = json_object_get(page, "next");
	if (!json_is_array(members) || json_array_size(members) > limit ||
	    (nx == NULL || (!json_is_null(nx) && !json_is_string(nx))))
		goto done;
	/* every record is checked for order before the first is handed on: all or nothing */
	json_array_foreach(members, i, m)
	{
		const char *id = json_string_value(json_object_get(m, "member_id"));
		if (!json_is_object(m) || id == NULL || (prev != NULL && strcmp(id, prev) <= 0))
			goto done;
		prev = id;
	}
	e = APIERR_NONE;
	json_array_foreach(members, i, m)
	{
		char *text = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
		int stop;
		/* at most limit records, each an object with its member_id: checked above */
		assert(i < limit && json_is_object(m));
		if (text == NULL) {
			e = APIERR_INTERNAL;
			goto done;
		}
		if (strlen(text) > max_record_bytes) {
			free(text);
			e = APIERR_ORIGIN_INVALID;
			goto done;
		}
		stop = each(ctx, json_string_value(json_object_get(m, "member_id")), text,
		            strlen(text));
		free(text);
		if (stop)
			goto done;
	}
	if (json_is_string(nx) && (*next = strdup(json_string_value(nx))) == NULL)
		e = APIERR_INTERNAL;
done:
	json_decref(page);
	return e;
}

/* GET {url}/members?limit=N&after=ID, then the page checked by origin_parse_page. */
static enum apierr
http_page(struct origin *o, struct handle *h, const char *after, unsigned limit,
          origin_each_fn each, void *ctx, char **next)
{
	struct buf s = {.max = ORIGIN_MAX_PAGE_BYTES};
	char path[256];
	enum apierr e;

	if (after != NULL)
		snprintf(path, sizeof(path), "/members?limit=%u&after=%s", limit, after);
	else
		snprintf(path, sizeof(path), "/members?limit=%u", limit);
	e = http_get(o, h, path, &s);
	if (e == APIERR_MEMBER_NOT_FOUND)
		e = APIERR_ORIGIN_ERROR; /* the list itself cannot be "not found" */
	if (e == APIERR_NONE)
		e = origin_parse_page(s.data, s.len, after, limit, o->p.max_record_bytes, each, ctx,
		                      next);
	buf_free(&s);
	return e;
}

enum apierr
origin_page(struct origin *o, const char *after, unsigned limit, origin_each_fn each, void *ctx,
            char **next)
{
	struct handle *h = take(o);
	enum apierr e;

	*next = NULL;
	if (h == NULL)
		return counted(o, APIERR_ORIGIN_ERROR);
	if (!o->http)
		e = sqlite_page(o, h, after, limit, each, ctx, next);
	else
		e = http_page(o, h, after, limit, each, ctx, next);
	give(o, h);
	if (e != APIERR_NONE) {
		free(*next);
		*next = NULL;
	}
	return counted(o, e);
}
