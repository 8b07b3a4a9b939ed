/* pki_file — the PKI's files: made new or replaced whole, read within a bound; its error text. */
#ifndef PDGATE_PKI_FILE_H
#define PDGATE_PKI_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/bio.h>
#include <openssl/x509.h>

/*
 * What pki, pki_crl and pki_p12 share: every key, certificate, CRL and bundle they write is a
 * new file (O_EXCL, never through a link) or an atomic replacement, synced before it counts as
 * written; every one they read is read whole within a bound (file.h).
 */

/* Certificates and keys are small; a CRL can grow with every revocation. */
#define PKI_FILE_CERT_MAX ((size_t)1 << 20)
#define PKI_FILE_KEY_MAX ((size_t)64 << 10)
#define PKI_FILE_CRL_MAX ((size_t)64 << 20)

#define PKI_DAYS_MAX 3650 /* the longest lifetime pki makes: the upper bound of --days */

/* 1 if days is a lifetime pki makes (1..PKI_DAYS_MAX), else 0 with err. */
int pki_days_ok(unsigned days, char *err, size_t errlen);

/* 1 if cert's issuer is ca's subject and its signature verifies with ca's key, else 0. */
int pki_issued_by(X509 *cert, X509 *ca);

/* printf into err; nothing when err is NULL or errlen 0. */
void pki_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets err to "what: <first OpenSSL error>" and empties OpenSSL's error queue. */
void pki_ossl_err(char *err, size_t errlen, const char *what);

/* Creates path (never an existing file, never through a symlink) with mode and data, synced.
 * 0, or -1 with err and no file left. */
int pki_file_new(const char *path, mode_t mode, const void *data, size_t len, char *err,
                 size_t errlen);

/*
 * Replaces path with data so that a reader sees the old file or the new one, never a part:
 * a temporary file in the same folder, synced, renamed over path, then the folder synced.
 * 0, or -1 with err and path as it was.
 */
int pki_file_replace(const char *path, mode_t mode, const void *data, size_t len, char *err,
                     size_t errlen);

/* The folder of path, into out. 0, or -1 if it does not fit. */
int pki_file_dir(const char *path, char *out, size_t n);

/*
 * The PEM (or DER) in a memory BIO, written as a new file (atomic 0) or replacing path
 * (atomic 1); the BIO is freed here. encoded: the writer into the BIO succeeded (bio NULL
 * counts as not); otherwise err says what could not be encoded. 0 or -1.
 */
int pki_file_bio(BIO *bio, int encoded, const char *what, const char *path, mode_t mode, int atomic,
                 char *err, size_t errlen);

/*
 * The object parse makes of the file at path (file_read with max and flags), or NULL with
 * "path: what" and OpenSSL's reason in err. The bytes are wiped before they are freed when the
 * file is key material (FILE_READ_SECRET).
 */
void *pki_file_object(const char *path, size_t max, unsigned flags,
                      void *(*parse)(const char *data, size_t len), const char *what, char *err,
                      size_t errlen);

/* The PEM passphrase callback of every read: keys are never encrypted in an installation, and
 * an encrypted one is refused, never prompted for. */
int pki_no_passphrase(char *buf, int size, int rwflag, void *u);

#endif
