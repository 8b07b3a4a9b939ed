/* pki_crl — the CRLs: made empty with their CA, extended by each revocation, re-signed. */
#ifndef PDGATE_PKI_CRL_H
#define PDGATE_PKI_CRL_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Reads a PEM CRL (at most 64 MiB). NULL with err on failure. Caller frees (X509_CRL_free). */
X509_CRL *pki_crl_read(const char *path, char *err, size_t errlen);
/* Writes a new empty CRL of ca (CRL number 1, lastUpdate now, nextUpdate now + days) to path,
 * a new file only. 0, or -1 with err. */
int pki_crl_create(const char *path, X509 *ca, EVP_PKEY *ca_key, unsigned days, char *err,
                   size_t errlen);

/* Result of pki_crl_revoke. */
enum pki_revoke {
	PKI_REVOKE_ERROR = -1,
	PKI_REVOKE_DONE = 0,    /* added to the CRL, CRL re-signed and rewritten */
	PKI_REVOKE_ALREADY = 1, /* the serial was already listed; the file is untouched */
};

/*
 * Adds cert's serial to the CRL at path (revocation date now, reason unspecified), keeping
 * every earlier entry, bumps the CRL number, sets lastUpdate now and nextUpdate now + days,
 * re-signs and replaces the file atomically. The current CRL must be signed by ca, and cert
 * must have been issued by ca. Concurrent updates of CRLs in one folder are serialised.
 * The new CRL number goes to *number when not NULL (decimal string, caller frees).
 */
enum pki_revoke pki_crl_revoke(const char *path, X509 *ca, EVP_PKEY *ca_key, X509 *cert,
                               unsigned days, char **number, char *err, size_t errlen);

/* Re-signs the CRL at path with a fresh lastUpdate/nextUpdate and the next CRL number, every
 * entry kept; same checks and atomic replacement as pki_crl_revoke. 0 or -1. */
int pki_crl_refresh(const char *path, X509 *ca, EVP_PKEY *ca_key, unsigned days, char **number,
                    char *err, size_t errlen);

#endif
