/* pki_p12 — PKCS#12 bundles of a certificate and its key, and the passphrase files they take. */
#ifndef PDGATE_PKI_P12_H
#define PDGATE_PKI_P12_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* A PKCS#12 passphrase, in characters. */
#define PKI_PASSPHRASE_MIN 8
#define PKI_PASSPHRASE_MAX 1024

/*
 * Writes cert, its key and its CA (may be NULL) as a PKCS#12 bundle into a new file of mode
 * 0600: AES-256-CBC with PBKDF2 for the key and the certificates, a SHA-256 MAC, friendly name
 * `friendly` (the alias keytool shows). 0, or -1 with err.
 */
int pki_p12_write(const char *path, X509 *cert, EVP_PKEY *key, X509 *ca, const char *friendly,
                  const char *passphrase, char *err, size_t errlen);

/*
 * The passphrase in the file at path: its first line without the line end, PKI_PASSPHRASE_MIN
 * to PKI_PASSPHRASE_MAX printable ASCII characters; the file must be mode 0600 or stricter.
 * Returns it (caller frees, after OPENSSL_cleanse), or NULL with err.
 */
char *pki_passphrase_read(const char *path, char *err, size_t errlen);

#endif
