/* certreg — the register of the certificates an installation has issued, in its state database. */
#ifndef PDGATE_CERTREG_H
#define PDGATE_CERTREG_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "config.h"
#include "pki.h"

/*
 * One table in the SQLite file of [gateway] state, shared with the other users of that file:
 *   certificates(kind TEXT, serial TEXT, name TEXT, sha256 TEXT UNIQUE, not_before INTEGER,
 *                not_after INTEGER, issued_at INTEGER, how TEXT, file TEXT,
 *                PRIMARY KEY(kind, serial))
 * kind partner, staff or server (one CA each); serial in upper-case hex; times Unix seconds;
 * issued_at NULL and how 'found' for a certificate that was already in the installation when
 * the register was made, how 'issue' or 'sign' for one `pdgate cert` made. WAL mode,
 * synchronous=FULL: a row is on disk when certreg_add returns.
 *
 * The register is made on first use (the first `pdgate cert` command or supervision summary of
 * an installation that has none) and filled, in the same transaction, from the certificates
 * the installation already holds: pki/partners/ID.pem, pki/staff/NAME.pem and the configured
 * server certificates, each only if the installation's matching CA signed it. So `cert list`
 * is complete for an installation made before the register existed.
 *
 * Whether a certificate is revoked is not stored: it is read from the CRLs (certreg_list).
 */
struct certreg;

enum certreg_kind {
	CERTREG_PARTNER,
	CERTREG_STAFF,
	CERTREG_SERVER,
};

/* One row. Strings are owned by the row (certreg_row_clear frees them). */
struct certreg_row {
	enum certreg_kind kind;
	char serial[PKI_SERIAL_HEX_LEN];
	char *name; /* partner id, staff name, or the server's names "host,…,address,…" */
	char sha256[PKI_FINGERPRINT_LEN];
	int64_t not_before, not_after;
	int64_t issued_at; /* 0: found when the register was made */
	char how[8];       /* "issue", "sign", "found" */
	char *file;        /* where the certificate was written; NULL if not known */
	int revoked;       /* certreg_list: 1 revoked, 0 not, -1 unknown (a CRL did not load) */
};

/* Called with each certificate file the first filling skipped, and why. */
typedef void certreg_warn_fn(void *arg, const char *message);

/* "partner", "staff", "server". */
const char *certreg_kind_name(enum certreg_kind k);

/*
 * Opens the register of the installation of cfg (borrowed; must outlive the register), making
 * and filling it on first use; warn (may be NULL) hears of every file the filling skipped.
 * NULL with err on failure. Caller closes.
 */
struct certreg *certreg_open(const struct config *cfg, certreg_warn_fn *warn, void *warn_arg,
                             char *err, size_t errlen);

/* Closes; NULL is a no-op. */
void certreg_close(struct certreg *r);

/*
 * Fills row from cert: serial, fingerprint, validity, and the name the certificate itself
 * carries (the URI SAN's id for partner and staff, the subjectAltNames for a server); how and
 * file (may be NULL) are copied. 0, or -1 with err (the certificate names no such principal).
 */
int certreg_row_of(X509 *cert, enum certreg_kind kind, const char *how, const char *file,
                   struct certreg_row *row, char *err, size_t errlen);

/* Frees what the row owns and empties it. */
void certreg_row_clear(struct certreg_row *row);

/* Adds row, issued now, durably. 0, or -1 with err (a row of that serial or fingerprint is
 * already there, or the database failed). */
int certreg_add(struct certreg *r, const struct certreg_row *row, char *err, size_t errlen);

/* Removes the row of kind and serial (a certificate whose files could not be written after
 * all). 0, or -1 with err. */
int certreg_remove(struct certreg *r, enum certreg_kind kind, const char *serial, char *err,
                   size_t errlen);

/*
 * Every row, oldest notBefore first, with revoked set from the CRLs of the configuration (each
 * checked to be signed by its CA): partner rows against [partner] crl, staff rows against the
 * staff CRL (none configured: none revoked), server rows never revoked (the server certificate
 * is replaced, not revoked). *rows is malloc'd (certreg_rows_free). Returns 0; 1 when some
 * revocation states are unknown (a CRL did not load: err says why); -1 with err on failure.
 */
int certreg_list(struct certreg *r, struct certreg_row **rows, size_t *n, char *err, size_t errlen);

void certreg_rows_free(struct certreg_row *rows, size_t n);

struct certreg_watch;
struct certwatch;

/*
 * What the supervision summary watches, gathered: the rows of the register that are not
 * revoked, the configured server certificates ([partner] cert, [compliance] cert) and CRLs
 * ([partner] crl, the staff CRL), a file that does not load being listed with its problem.
 * Opens the register (making it on first use) and closes it again. NULL with err when the
 * register fails. Caller frees with certreg_watch_free.
 */
struct certreg_watch *certreg_watch(const struct config *cfg, char *err, size_t errlen);

/* The gathered items, for report_summary (certwatch.h). Borrowed from w. */
const struct certwatch *certreg_watch_certs(const struct certreg_watch *w);

/* NULL is a no-op. */
void certreg_watch_free(struct certreg_watch *w);

#endif
