/* csr — a certificate signing request from a partner: untrusted bytes, parsed and checked. */
#ifndef PDGATE_CSR_H
#define PDGATE_CSR_H

#include <stddef.h>

#include <openssl/evp.h>

/* A CSR is a few hundred bytes (a kilobyte or two for RSA-4096); a bigger input is refused. */
#define CSR_MAX_BYTES (64 * 1024)
/* RSA keys: at least this many bits, and at most this many (bigger ones only cost time). */
#define CSR_RSA_MIN_BITS 2048
#define CSR_RSA_MAX_BITS 8192

/* What csr_check found. */
enum csr_result {
	CSR_OK = 0,
	CSR_TOO_LARGE,     /* over CSR_MAX_BYTES */
	CSR_NOT_A_CSR,     /* not one PKCS#10 request, PEM or DER, with nothing after it */
	CSR_BAD_VERSION,   /* a version other than 1 */
	CSR_KEY_REFUSED,   /* a key other than EC P-256/P-384 or RSA of 2048..8192 bits */
	CSR_BAD_SIGNATURE, /* the request's signature does not verify with its own key */
	CSR_WEAK_DIGEST,   /* signed with a digest weaker than SHA-256 */
};

/* A short English phrase for r ("the signature does not verify with the request's own key"). */
const char *csr_strerror(enum csr_result r);

/*
 * Parses len bytes (a PEM "CERTIFICATE REQUEST" block, text around it allowed, or DER) as a
 * PKCS#10 request, checks that its key is EC P-256 or P-384 (named curve, valid point) or RSA
 * of CSR_RSA_MIN_BITS..CSR_RSA_MAX_BITS bits (odd public exponent of at least 65537), and that
 * its own signature, with SHA-256 or better, verifies: the requester holds the private key.
 * Everything else in it (subject, attributes, requested extensions) is ignored: it decides
 * nothing. On CSR_OK *key is the public key (caller frees with EVP_PKEY_free); otherwise *key is
 * NULL and err says precisely what is wrong (the key's type and size, the digest, ...).
 */
enum csr_result csr_check(const unsigned char *data, size_t len, EVP_PKEY **key, char *err,
                          size_t errlen);

#endif
