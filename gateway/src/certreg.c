/* certreg — the register of the certificates an installation has issued, in its state database. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "certreg.h"
#include "certwatch.h"
#include "pki_crl.h"
#include "pki_file.h"

#define BUSY_TIMEOUT_MS 5000
/* A server certificate's names as text: PKI_MAX_HOSTS host names of 253 characters, with their
 * commas. */
#define CERTREG_SANS_MAX 8192
/* Certificate files the first filling reads from one folder, at most. */
#define FILL_MAX_FILES 100000

struct certreg {
	sqlite3 *db;
	const struct config *cfg; /* borrowed */
};

static const char SCHEMA[] = "CREATE TABLE certificates("
                             " kind TEXT NOT NULL CHECK (kind IN ('partner', 'staff', 'server')),"
                             " serial TEXT NOT NULL,"
                             " name TEXT NOT NULL,"
                             " sha256 TEXT NOT NULL UNIQUE,"
                             " not_before INTEGER NOT NULL,"
                             " not_after INTEGER NOT NULL,"
                             " issued_at INTEGER,"
                             " how TEXT NOT NULL CHECK (how IN ('issue', 'sign', 'found')),"
                             " file TEXT,"
                             " PRIMARY KEY (kind, serial))";

static const char INSERT_SQL[] =
    "INSERT INTO certificates(kind, serial, name, sha256, not_before, not_after, issued_at, how,"
    " file) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char FILL_SQL[] =
    "INSERT OR IGNORE INTO certificates(kind, serial, name, sha256, not_before, not_after,"
    " issued_at, how, file) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char LIST_SQL[] =
    "SELECT kind, serial, name, sha256, not_before, not_after, issued_at, how, file"
    " FROM certificates ORDER BY not_before, kind, serial";

__attribute__((format(printf, 3, 4))) static void
warnf(certreg_warn_fn *warn, void *arg, const char *fmt, ...)
{
	char msg[PATH_MAX + 512];
	va_list ap;

	if (warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn(arg, msg);
}

const char *
certreg_kind_name(enum certreg_kind k)
{
	switch (k) {
	case CERTREG_PARTNER:
		return "partner";
	case CERTREG_STAFF:
		return "staff";
	case CERTREG_SERVER:
		return "server";
	}
	return "unknown";
}

static int
kind_of(const char *s, enum certreg_kind *k)
{
	for (int i = CERTREG_PARTNER; i <= CERTREG_SERVER; i++)
		if (strcmp(s, certreg_kind_name((enum certreg_kind)i)) == 0) {
			*k = (enum certreg_kind)i;
			return 0;
		}
	return -1;
}

/* ---- rows ---- */

void
certreg_row_clear(struct certreg_row *row)
{
	if (row == NULL)
		return;
	free(row->name);
	free(row->file);
	memset(row, 0, sizeof(*row));
}

void
certreg_rows_free(struct certreg_row *rows, size_t n)
{
	for (size_t i = 0; rows != NULL && i < n; i++)
		certreg_row_clear(&rows[i]);
	free(rows);
}

int
certreg_row_of(X509 *cert, enum certreg_kind kind, const char *how, const char *file,
               struct certreg_row *row, char *err, size_t errlen)
{
	char name[PKI_NAME_LEN], sans[CERTREG_SANS_MAX];
	const char *n = NULL;

	memset(row, 0, sizeof(*row));
	row->kind = kind;
	if (kind == CERTREG_SERVER) {
		if (pki_san_text(cert, sans, sizeof(sans)) == 0)
			n = sans;
	} else if (pki_uri_id(cert,
	                      kind == CERTREG_PARTNER ? "urn:pdgate:partner:" : "urn:pdgate:staff:",
	                      name) == 0) {
		n = name;
	}
	if (n == NULL) {
		snprintf(err, errlen,
		         kind == CERTREG_SERVER
		             ? "the certificate has no host name or address"
		             : "the certificate names no %s (URI SAN urn:pdgate:%s:ID)",
		         certreg_kind_name(kind), certreg_kind_name(kind));
		return -1;
	}
	if (pki_serial_hex(cert, row->serial) < 0 || pki_fingerprint(cert, row->sha256) < 0 ||
	    pki_time_unix(X509_get0_notBefore(cert), &row->not_before) < 0 ||
	    pki_time_unix(X509_get0_notAfter(cert), &row->not_after) < 0) {
		snprintf(err, errlen, "the certificate's serial or validity does not read");
		return -1;
	}
	snprintf(row->how, sizeof(row->how), "%s", how);
	row->name = strdup(n);
	row->file = file != NULL ? strdup(file) : NULL;
	if (row->name == NULL || (file != NULL && row->file == NULL)) {
		certreg_row_clear(row);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- the database ---- */

static int
db_fail(struct certreg *r, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s: %s", r->cfg->gateway.state, what, sqlite3_errmsg(r->db));
	return -1;
}

static int
exec(struct certreg *r, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", r->cfg->gateway.state,
		         msg != NULL ? msg : sqlite3_errmsg(r->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* 1 if the table exists, 0 if not, -1 on error. */
static int
table_exists(struct certreg *r)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(r->db,
	                       "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
	                       "name = 'certificates'",
	                       -1, &st, NULL) == SQLITE_OK) {
		int s = sqlite3_step(st);
		rc = s == SQLITE_ROW ? 1 : s == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Runs INSERT_SQL or FILL_SQL for row, issued at issued_at (0: NULL). SQLITE_DONE, or the
 * SQLite error code. */
static int
insert(struct certreg *r, const char *sql, const struct certreg_row *row, int64_t issued_at)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, certreg_kind_name(row->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, row->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, row->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, row->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, row->not_before);
	sqlite3_bind_int64(st, 6, row->not_after);
	if (issued_at > 0)
		sqlite3_bind_int64(st, 7, issued_at);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_text(st, 8, row->how, -1, SQLITE_STATIC);
	if (row->file != NULL)
		sqlite3_bind_text(st, 9, row->file, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 9);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc;
}

/* ---- the first filling ---- */

/* What the filling needs of one CA. */
struct fill_ca {
	enum certreg_kind kind;
	const char *label; /* for messages */
	X509 *cert;        /* NULL: the CA is not there, its certificates are skipped */
};

/* Adds the certificate at path if ca signed it; anything else is skipped with a warning. */
static int
fill_one(struct certreg *r, const struct fill_ca *ca, const char *path, certreg_warn_fn *warn,
         void *arg, char *err, size_t errlen)
{
	char why[PATH_MAX + 256];
	struct certreg_row row;
	X509 *cert = pki_cert_read(path, why, sizeof(why));
	int rc = 0;

	if (cert == NULL) {
		warnf(warn, arg, "%s", why);
		return 0;
	}
	if (ca->cert == NULL || !pki_issued_by(cert, ca->cert) || X509_check_ca(cert) != 0) {
		warnf(warn, arg, "%s: not a certificate of this installation's %s CA", path,
		      ca->label);
	} else if (certreg_row_of(cert, ca->kind, "found", path, &row, why, sizeof(why)) < 0) {
		warnf(warn, arg, "%s: %s", path, why);
	} else {
		if (insert(r, FILL_SQL, &row, 0) != SQLITE_DONE)
			rc = db_fail(r, err, errlen, "filling the register");
		certreg_row_clear(&row);
	}
	X509_free(cert);
	return rc;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every NAME.pem of folder (missing: none), in name order. */
static int
fill_folder(struct certreg *r, const struct fill_ca *ca, const char *folder, certreg_warn_fn *warn,
            void *arg, char *err, size_t errlen)
{
	DIR *d = opendir(folder);
	struct dirent *e;
	char **names = NULL, path[PATH_MAX];
	size_t n = 0, cap = 0;
	int rc = 0;

	if (d == NULL)
		return errno == ENOENT ? 0
		                       : (warnf(warn, arg, "%s: %s", folder, strerror(errno)), 0);
	while ((e = readdir(d)) != NULL && n < FILL_MAX_FILES) {
		size_t len = strlen(e->d_name);
		if (len < 5 || e->d_name[0] == '.' || strcmp(e->d_name + len - 4, ".pem") != 0)
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 32;
			char **v = realloc(names, c * sizeof(*v));
			if (v == NULL)
				goto oom;
			names = v;
			cap = c;
		}
		if ((names[n] = strdup(e->d_name)) == NULL)
			goto oom;
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", folder, names[i]) >= (int)sizeof(path))
			continue;
		rc = fill_one(r, ca, path, warn, arg, err, errlen);
	}
	goto done;
oom:
	rc = -1;
	snprintf(err, errlen, "out of memory");
done:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

/* The server CA of an installation: pki/server-ca.pem beside the configuration, if there. */
static X509 *
server_ca(const struct config *cfg)
{
	char path[PATH_MAX], why[PATH_MAX + 256];

	if (snprintf(path, sizeof(path), "%s/pki/server-ca.pem", cfg->dir) >= (int)sizeof(path))
		return NULL;
	return pki_cert_read(path, why, sizeof(why));
}

static int
fill(struct certreg *r, certreg_warn_fn *warn, void *arg, char *err, size_t errlen)
{
	const struct config *cfg = r->cfg;
	char why[PATH_MAX + 256], folder[PATH_MAX];
	struct fill_ca cas[3] = {
	    {CERTREG_PARTNER, "partner", pki_cert_read(cfg->partner.client_ca, why, sizeof(why))},
	    {CERTREG_STAFF, "staff",
	     cfg->compliance.staff_ca != NULL
	         ? pki_cert_read(cfg->compliance.staff_ca, why, sizeof(why))
	         : NULL},
	    {CERTREG_SERVER, "server", server_ca(cfg)},
	};
	static const char *const folders[2] = {"partners", "staff"};
	int rc = 0;

	ERR_clear_error();
	for (int i = 0; rc == 0 && i < 2; i++) {
		if (snprintf(folder, sizeof(folder), "%s/pki/%s", cfg->dir, folders[i]) >=
		    (int)sizeof(folder))
			continue;
		rc = fill_folder(r, &cas[i], folder, warn, arg, err, errlen);
	}
	if (rc == 0 && cfg->partner.cert != NULL)
		rc = fill_one(r, &cas[2], cfg->partner.cert, warn, arg, err, errlen);
	if (rc == 0 && cfg->compliance.cert != NULL &&
	    (cfg->partner.cert == NULL || strcmp(cfg->partner.cert, cfg->compliance.cert) != 0))
		rc = fill_one(r, &cas[2], cfg->compliance.cert, warn, arg, err, errlen);
	for (int i = 0; i < 3; i++)
		X509_free(cas[i].cert);
	return rc;
}

/* ---- the interface ---- */

struct certreg *
certreg_open(const struct config *cfg, certreg_warn_fn *warn, void *warn_arg, char *err,
             size_t errlen)
{
	struct certreg *r;
	int exists;

	if (cfg == NULL || cfg->gateway.state == NULL) {
		snprintf(err, errlen, "certificate register: no state database configured");
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->cfg = cfg;
	if (sqlite3_open_v2(cfg->gateway.state, &r->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		/* Someone who may only read the state (an auditor's `pdgate report`) reads the
		 * register that is there. */
		sqlite3_close(r->db);
		r->db = NULL;
		if (sqlite3_open_v2(cfg->gateway.state, &r->db,
		                    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
		                    NULL) != SQLITE_OK ||
		    table_exists(r) != 1) {
			snprintf(err, errlen, "%s: %s", cfg->gateway.state,
			         r->db != NULL ? sqlite3_errmsg(r->db) : "cannot open");
			goto fail;
		}
		sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS);
		return r;
	}
	/* The busy timeout first: the daemon or another command may hold a lock for a moment. */
	sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS);
	if (exec(r, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err, errlen) < 0)
		goto fail;
	if ((exists = table_exists(r)) < 0) {
		db_fail(r, err, errlen, "reading the schema");
		goto fail;
	}
	if (exists)
		return r;
	/*
	 * First use: the table and its first rows in one write transaction, so that two commands
	 * starting at once do not both fill it, and a failure leaves no half-filled register.
	 */
	if (exec(r, "BEGIN IMMEDIATE", err, errlen) < 0)
		goto fail;
	if ((exists = table_exists(r)) < 0) {
		db_fail(r, err, errlen, "reading the schema");
		goto rollback;
	}
	if (!exists &&
	    (exec(r, SCHEMA, err, errlen) < 0 || fill(r, warn, warn_arg, err, errlen) < 0))
		goto rollback;
	if (exec(r, "COMMIT", err, errlen) < 0)
		goto rollback;
	return r;
rollback:
	sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
fail:
	certreg_close(r);
	return NULL;
}

void
certreg_close(struct certreg *r)
{
	if (r == NULL)
		return;
	sqlite3_close(r->db);
	free(r);
}

int
certreg_add(struct certreg *r, const struct certreg_row *row, char *err, size_t errlen)
{
	int rc = insert(r, INSERT_SQL, row, (int64_t)time(NULL));

	if (rc == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		snprintf(err, errlen,
		         "a %s certificate with serial %s or fingerprint %s is already in "
		         "the register",
		         certreg_kind_name(row->kind), row->serial, row->sha256);
		return -1;
	}
	return db_fail(r, err, errlen, "adding to the certificate register");
}

int
certreg_remove(struct certreg *r, enum certreg_kind kind, const char *serial, char *err,
               size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(r->db, "DELETE FROM certificates WHERE kind = ?1 AND serial = ?2",
	                       -1, &st, NULL) != SQLITE_OK)
		return db_fail(r, err, errlen, "removing from the certificate register");
	sqlite3_bind_text(st, 1, certreg_kind_name(kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, serial, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE
	           ? 0
	           : db_fail(r, err, errlen, "removing from the certificate register");
}

static char *
column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t != NULL ? strdup((const char *)t) : NULL;
}

/* The register's rows, revocation not yet known. */
static int
rows_read(struct certreg *r, struct certreg_row **out, size_t *nout, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct certreg_row *v = NULL;
	size_t n = 0, cap = 0;
	int s;

	*out = NULL;
	*nout = 0;
	if (sqlite3_prepare_v2(r->db, LIST_SQL, -1, &st, NULL) != SQLITE_OK)
		return db_fail(r, err, errlen, "reading the certificate register");
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t c = cap ? cap * 2 : 64;
			struct certreg_row *w = realloc(v, c * sizeof(*w));
			if (w == NULL)
				goto oom;
			v = w;
			cap = c;
		}
		struct certreg_row *row = &v[n];
		const char *kind = (const char *)sqlite3_column_text(st, 0);
		const char *serial = (const char *)sqlite3_column_text(st, 1);
		const char *sha = (const char *)sqlite3_column_text(st, 3);
		const char *how = (const char *)sqlite3_column_text(st, 7);
		memset(row, 0, sizeof(*row));
		if (kind == NULL || kind_of(kind, &row->kind) < 0 || serial == NULL ||
		    strlen(serial) >= sizeof(row->serial) || sha == NULL ||
		    strlen(sha) >= sizeof(row->sha256) || how == NULL ||
		    strlen(how) >= sizeof(row->how)) {
			snprintf(err, errlen, "%s: a malformed row in the certificate register",
			         r->cfg->gateway.state);
			goto fail;
		}
		memcpy(row->serial, serial, strlen(serial) + 1);
		memcpy(row->sha256, sha, strlen(sha) + 1);
		memcpy(row->how, how, strlen(how) + 1);
		row->not_before = sqlite3_column_int64(st, 4);
		row->not_after = sqlite3_column_int64(st, 5);
		row->issued_at = sqlite3_column_int64(st, 6);
		row->name = column_dup(st, 2);
		row->file = column_dup(st, 8);
		n++;
		if (row->name == NULL)
			goto oom;
	}
	if (s != SQLITE_DONE) {
		db_fail(r, err, errlen, "reading the certificate register");
		goto fail;
	}
	sqlite3_finalize(st);
	*out = v;
	*nout = n;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	sqlite3_finalize(st);
	certreg_rows_free(v, n);
	return -1;
}

/* The CRL at path if the CA at ca_path signed it; NULL with why. */
static X509_CRL *
crl_load(const char *path, const char *ca_path, char *why, size_t whylen)
{
	X509_CRL *crl = pki_crl_read(path, why, whylen);
	X509 *ca = crl != NULL ? pki_cert_read(ca_path, why, whylen) : NULL;
	int ok = ca != NULL &&
	         X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 &&
	         X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;

	ERR_clear_error();
	if (crl != NULL && ca != NULL && !ok)
		snprintf(why, whylen, "%s: not signed by the CA %s", path, ca_path);
	X509_free(ca);
	if (!ok) {
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

/* 1 if crl lists the serial in hex, else 0; -1 if the serial does not read. */
static int
crl_lists(X509_CRL *crl, const char *serial)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	X509_REVOKED *rev = NULL;
	int rc = -1;

	if (BN_hex2bn(&bn, serial) > 0 && (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL)
		rc = X509_CRL_get0_by_serial(crl, &rev, ai) > 0 ? 1 : 0;
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rc;
}

int
certreg_list(struct certreg *r, struct certreg_row **rows, size_t *n, char *err, size_t errlen)
{
	const struct config *cfg = r->cfg;
	char pwhy[PATH_MAX + 256] = "", swhy[PATH_MAX + 256] = "";
	X509_CRL *pcrl, *scrl = NULL;
	bool unknown = false;

	if (rows_read(r, rows, n, err, errlen) < 0)
		return -1;
	pcrl = crl_load(cfg->partner.crl, cfg->partner.client_ca, pwhy, sizeof(pwhy));
	if (cfg->compliance.staff_crl != NULL)
		scrl = crl_load(cfg->compliance.staff_crl, cfg->compliance.staff_ca, swhy,
		                sizeof(swhy));
	for (size_t i = 0; i < *n; i++) {
		struct certreg_row *row = &(*rows)[i];
		switch (row->kind) {
		case CERTREG_PARTNER:
			row->revoked = pcrl != NULL ? crl_lists(pcrl, row->serial) : -1;
			break;
		case CERTREG_STAFF:
			row->revoked = cfg->compliance.staff_crl == NULL ? 0
			               : scrl != NULL ? crl_lists(scrl, row->serial)
			                              : -1;
			break;
		case CERTREG_SERVER:
			row->revoked = 0;
			break;
		}
		if (row->revoked < 0 && !unknown) {
			unknown = true;
			snprintf(err, errlen, "revocation unknown: %s",
			         row->kind == CERTREG_PARTNER ? pwhy : swhy);
		}
	}
	X509_CRL_free(pcrl);
	X509_CRL_free(scrl);
	return unknown ? 1 : 0;
}

/* ---- what the supervision summary watches ---- */

struct certreg_watch {
	struct certreg_row *rows;
	size_t nrows;
	struct certwatch_item *v;
	size_t n, cap;
	char **owned; /* strings of the server and CRL items */
	size_t nowned, capowned;
	struct certwatch certs;
};

static struct certwatch_item *
watch_item(struct certreg_watch *w)
{
	if (w->n == w->cap) {
		size_t c = w->cap ? w->cap * 2 : 16;
		struct certwatch_item *v = realloc(w->v, c * sizeof(*v));
		if (v == NULL)
			return NULL;
		w->v = v;
		w->cap = c;
	}
	memset(&w->v[w->n], 0, sizeof(w->v[w->n]));
	return &w->v[w->n++];
}

/* A copy of s that w owns; NULL for NULL or on memory (then *bad is set). */
static const char *
watch_str(struct certreg_watch *w, const char *s, bool *bad)
{
	char *c;

	if (s == NULL)
		return NULL;
	if (w->nowned == w->capowned) {
		size_t cap = w->capowned ? w->capowned * 2 : 16;
		char **v = realloc(w->owned, cap * sizeof(*v));
		if (v == NULL) {
			*bad = true;
			return NULL;
		}
		w->owned = v;
		w->capowned = cap;
	}
	if ((c = strdup(s)) == NULL) {
		*bad = true;
		return NULL;
	}
	w->owned[w->nowned++] = c;
	return c;
}

/* The server certificate at path, unless an earlier item is that file or that certificate. */
static int
watch_server(struct certreg_watch *w, const char *path)
{
	char why[PATH_MAX + 256], names[CERTREG_SANS_MAX] = "", serial[PKI_SERIAL_HEX_LEN] = "";
	char fp[PKI_FINGERPRINT_LEN] = "";
	X509 *cert = pki_cert_read(path, why, sizeof(why));
	struct certwatch_item *c;
	int64_t ends = 0;
	bool ok = cert != NULL, bad = false;

	if (ok && (pki_fingerprint(cert, fp) < 0 || pki_serial_hex(cert, serial) < 0 ||
	           pki_time_unix(X509_get0_notAfter(cert), &ends) < 0)) {
		snprintf(why, sizeof(why), "%s: the certificate's validity does not read", path);
		ok = false;
	}
	if (ok)
		pki_san_text(cert, names, sizeof(names));
	X509_free(cert);
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].kind == CERTWATCH_SERVER &&
		    ((w->v[i].file != NULL && strcmp(w->v[i].file, path) == 0) ||
		     (ok && w->v[i].sha256 != NULL && strcmp(w->v[i].sha256, fp) == 0)))
			return 0;
	if ((c = watch_item(w)) == NULL)
		return -1;
	c->kind = CERTWATCH_SERVER;
	c->file = watch_str(w, path, &bad);
	if (ok) {
		c->name = watch_str(w, names[0] != '\0' ? names : "server", &bad);
		c->serial = watch_str(w, serial, &bad);
		c->sha256 = watch_str(w, fp, &bad);
		c->ends = ends;
	} else {
		c->name = "server";
		c->problem = watch_str(w, why, &bad);
	}
	return bad ? -1 : 0;
}

/* The CRL at path of the CA at ca_path; label names the CA. */
static int
watch_crl(struct certreg_watch *w, const char *label, const char *path, const char *ca_path)
{
	char why[PATH_MAX + 256];
	X509_CRL *crl = crl_load(path, ca_path, why, sizeof(why));
	const ASN1_TIME *next = crl != NULL ? X509_CRL_get0_nextUpdate(crl) : NULL;
	struct certwatch_item *c;
	int64_t ends = 0;
	bool ok = crl != NULL, bad = false;

	if (ok && (next == NULL || pki_time_unix(next, &ends) < 0)) {
		snprintf(why, sizeof(why), "%s: the CRL has no nextUpdate that reads", path);
		ok = false;
	}
	X509_CRL_free(crl);
	if ((c = watch_item(w)) == NULL)
		return -1;
	c->kind = CERTWATCH_CRL;
	c->name = label;
	c->file = watch_str(w, path, &bad);
	if (ok)
		c->ends = ends;
	else
		c->problem = watch_str(w, why, &bad);
	return bad ? -1 : 0;
}

struct certreg_watch *
certreg_watch(const struct config *cfg, char *err, size_t errlen)
{
	struct certreg_watch *w = calloc(1, sizeof(*w));
	struct certreg *r = NULL;

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((r = certreg_open(cfg, NULL, NULL, err, errlen)) == NULL)
		goto fail;
	/* A revocation state that is unknown keeps the certificate watched (rc 1). */
	if (certreg_list(r, &w->rows, &w->nrows, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < w->nrows; i++) {
		const struct certreg_row *row = &w->rows[i];
		struct certwatch_item *c;
		/*
		 * The server's certificates are the configured files, below: one in the register
		 * that is no longer configured is not the gateway's any more.
		 */
		if (row->revoked == 1 || row->kind == CERTREG_SERVER)
			continue;
		if ((c = watch_item(w)) == NULL)
			goto oom;
		c->kind = row->kind == CERTREG_PARTNER ? CERTWATCH_PARTNER : CERTWATCH_STAFF;
		c->name = row->name;
		c->serial = row->serial;
		c->sha256 = row->sha256;
		c->file = row->file;
		c->ends = row->not_after;
	}
	if ((cfg->partner.cert != NULL && watch_server(w, cfg->partner.cert) < 0) ||
	    (cfg->compliance.cert != NULL && watch_server(w, cfg->compliance.cert) < 0) ||
	    watch_crl(w, "partner", cfg->partner.crl, cfg->partner.client_ca) < 0 ||
	    (cfg->compliance.staff_crl != NULL &&
	     watch_crl(w, "staff", cfg->compliance.staff_crl, cfg->compliance.staff_ca) < 0))
		goto oom;
	certreg_close(r);
	w->certs.v = w->v;
	w->certs.n = w->n;
	return w;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	certreg_close(r);
	certreg_watch_free(w);
	return NULL;
}

const struct certwatch *
certreg_watch_certs(const struct certreg_watch *w)
{
	return &w->certs;
}

void
certreg_watch_free(struct certreg_watch *w)
{
	if (w == NULL)
		return;
	certreg_rows_free(w->rows, w->nrows);
	for (size_t i = 0; i < w->nowned; i++)
		free(w->owned[i]);
	free(w->owned);
	free(w->v);
	free(w);
}
