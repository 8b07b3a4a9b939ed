/* pki_p12 — PKCS#12 bundles of a certificate and its key, and the passphrase files they take. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "file.h"
#include "pki_file.h"
#include "pki_p12.h"

/*
 * PBKDF2 iterations of the key and certificate encryption and of the MAC. OpenSSL's default is
 * 2048; a bundle travels to a partner and may be kept for a year, so it gets more.
 */
#define P12_ITER 100000

int
pki_p12_write(const char *path, X509 *cert, EVP_PKEY *key, X509 *ca, const char *friendly,
              const char *passphrase, char *err, size_t errlen)
{
	STACK_OF(X509) *cas = sk_X509_new_null();
	PKCS12 *p12 = NULL;
	BIO *bio = NULL;
	int ok = 0, rc = -1;

	if (cas == NULL || (ca != NULL && sk_X509_push(cas, ca) <= 0)) {
		pki_ossl_err(err, errlen, "PKCS#12");
		goto done;
	}
	/*
	 * AES-256-CBC under PBES2/PBKDF2 (HMAC-SHA-256) for the key and the certificates, and a
	 * SHA-256 MAC: what OpenSSL 3, Java 17's keytool and .NET all read. The MAC is set
	 * separately because PKCS12_create would take the default digest for it.
	 */
	p12 = PKCS12_create(passphrase, friendly, key, cert, cas, NID_aes_256_cbc, NID_aes_256_cbc,
	                    P12_ITER, -1, 0);
	if (p12 == NULL ||
	    PKCS12_set_mac(p12, passphrase, -1, NULL, 0, P12_ITER, EVP_sha256()) != 1) {
		pki_ossl_err(err, errlen, "building the PKCS#12 bundle");
		goto done;
	}
	bio = BIO_new(BIO_s_secmem());
	ok = bio != NULL && i2d_PKCS12_bio(bio, p12) == 1;
	rc = pki_file_bio(bio, ok, "encoding the PKCS#12 bundle", path, 0600, 0, err, errlen);
	bio = NULL;
done:
	BIO_free(bio);
	PKCS12_free(p12);
	sk_X509_free(cas); /* the CA is borrowed: the stack only */
	return rc;
}

char *
pki_passphrase_read(const char *path, char *err, size_t errlen)
{
	size_t len = 0, n;
	char *data = file_read(path, PKI_FILE_KEY_MAX, FILE_READ_SECRET, &len, err, errlen);

	if (data == NULL)
		return NULL;
	/* The first line, as `openssl -passin file:` and keytool's `-storepass:file` read it. */
	n = strcspn(data, "\r\n");
	if (n < PKI_PASSPHRASE_MIN || n > PKI_PASSPHRASE_MAX) {
		pki_seterr(err, errlen,
		           "%s: the passphrase (the first line) must have %d to %d characters",
		           path, PKI_PASSPHRASE_MIN, PKI_PASSPHRASE_MAX);
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)data[i] < 0x20 || (unsigned char)data[i] > 0x7e) {
			pki_seterr(
			    err, errlen,
			    "%s: the passphrase must be printable ASCII, so that OpenSSL, Java "
			    "and .NET derive the same key from it",
			    path);
			goto fail;
		}
	OPENSSL_cleanse(data + n, len - n);
	data[n] = '\0';
	return data;
fail:
	OPENSSL_cleanse(data, len);
	free(data);
	return NULL;
}
