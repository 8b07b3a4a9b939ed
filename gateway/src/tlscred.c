/* tlscred — a listener's own certificate chain and private key, checked, shared by reference. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <openssl/crypto.h>

#include "cal.h"
#include "codec.h"
#include "file.h"
#include "tlscred.h"

/* A chain or key file larger than this is not one. */
#define PEM_MAX (1024 * 1024)

struct tlscred {
	atomic_uint refs;
	gnutls_pcert_st chain[TLSCRED_MAX_CHAIN];
	unsigned n; /* certificates in chain */
	gnutls_privkey_t key;
	time_t not_after;
	char fingerprint[65];
};

static void
cred_free(struct tlscred *c)
{
	for (unsigned i = 0; i < c->n; i++)
		gnutls_pcert_deinit(&c->chain[i]);
	gnutls_privkey_deinit(c->key);
	free(c);
}

/* The public key's DER, for comparing two keys; 0 or a GnuTLS error. */
static int
pubkey_der(gnutls_pubkey_t pub, gnutls_datum_t *der)
{
	return gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, der);
}

/* 1 if key is the private half of the leaf's public key, 0 if not, -1 on error. */
static int
key_matches(gnutls_privkey_t key, gnutls_pcert_st *leaf)
{
	gnutls_pubkey_t mine = NULL;
	gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
	int rc = -1;

	if (gnutls_pubkey_init(&mine) < 0 || gnutls_pubkey_import_privkey(mine, key, 0, 0) < 0 ||
	    pubkey_der(mine, &a) < 0 || pubkey_der(leaf->pubkey, &b) < 0)
		goto done;
	rc = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
done:
	gnutls_free(a.data);
	gnutls_free(b.data);
	gnutls_pubkey_deinit(mine);
	return rc;
}

/* Parses the chain into c and checks its order and dates; 0, or -1 with err. */
static int
load_chain(struct tlscred *c, const char *path, const char *pem, size_t len, char *err,
           size_t errlen)
{
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0;
	gnutls_datum_t data = {(unsigned char *)pem, (unsigned)len};
	char when[CAL_UTC_LEN];
	time_t now = time(NULL);
	int rc = -1;

	int r = gnutls_x509_crt_list_import2(&crts, &n, &data, GNUTLS_X509_FMT_PEM,
	                                     GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (r == GNUTLS_E_CERTIFICATE_LIST_UNSORTED) {
		snprintf(err, errlen,
		         "%s: the certificates are out of order: the leaf first, then each one's "
		         "issuer",
		         path);
		return -1;
	}
	if (r < 0 || n == 0) {
		snprintf(err, errlen, "%s: not a PEM certificate chain (%s)", path,
		         r < 0 ? gnutls_strerror(r) : "no certificate");
		return -1;
	}
	if (n > TLSCRED_MAX_CHAIN) {
		snprintf(err, errlen, "%s: %u certificates: at most %d", path, n,
		         TLSCRED_MAX_CHAIN);
		goto done;
	}
	c->not_after = 0;
	for (unsigned i = 0; i < n; i++) {
		time_t from = gnutls_x509_crt_get_activation_time(crts[i]);
		time_t until = gnutls_x509_crt_get_expiration_time(crts[i]);
		if (from == (time_t)-1 || until == (time_t)-1) {
			snprintf(err, errlen, "%s: certificate %u has no readable validity", path,
			         i + 1);
			goto done;
		}
		if (until < now) {
			cal_format_utc(until, when);
			snprintf(err, errlen, "%s: certificate %u of the chain expired on %s", path,
			         i + 1, when);
			goto done;
		}
		if (from > now) {
			cal_format_utc(from, when);
			snprintf(err, errlen,
			         "%s: certificate %u of the chain is not valid before %s", path,
			         i + 1, when);
			goto done;
		}
		if (c->not_after == 0 || until < c->not_after)
			c->not_after = until;
	}
	c->n = n;
	if ((r = gnutls_pcert_import_x509_list(c->chain, crts, &c->n, 0)) < 0) {
		c->n = 0;
		snprintf(err, errlen, "%s: %s", path, gnutls_strerror(r));
		goto done;
	}
	rc = 0;
done:
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return rc;
}

struct tlscred *
tlscred_load(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
	struct tlscred *c = calloc(1, sizeof *c);
	char *pem = NULL, *key = NULL;
	size_t pem_len = 0, key_len = 0;
	unsigned char digest[32];
	int r;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&c->refs, 1);
	if ((pem = file_read(cert_path, PEM_MAX, FILE_READ_NONEMPTY, &pem_len, err, errlen)) ==
	        NULL ||
	    load_chain(c, cert_path, pem, pem_len, err, errlen) != 0)
		goto fail;
	key = file_read(key_path, PEM_MAX, FILE_READ_SECRET | FILE_READ_NONEMPTY, &key_len, err,
	                errlen);
	if (key == NULL)
		goto fail;
	gnutls_datum_t data = {(unsigned char *)key, (unsigned)key_len};
	if ((r = gnutls_privkey_init(&c->key)) < 0 ||
	    (r = gnutls_privkey_import_x509_raw(c->key, &data, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		snprintf(err, errlen, "%s: not an unencrypted PEM private key (%s)", key_path,
		         gnutls_strerror(r));
		goto fail;
	}
	if ((r = key_matches(c->key, &c->chain[0])) != 1) {
		snprintf(err, errlen,
		         r == 0 ? "%s: the key does not belong to the certificate %s"
		                : "%s: cannot compare the key with the certificate %s",
		         key_path, cert_path);
		goto fail;
	}
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, c->chain[0].cert.data, c->chain[0].cert.size,
	                     digest) < 0) {
		snprintf(err, errlen, "%s: cannot hash the certificate", cert_path);
		goto fail;
	}
	codec_hex_encode(digest, sizeof digest, c->fingerprint);
	OPENSSL_cleanse(key, key_len);
	free(key);
	free(pem);
	return c;
fail:
	if (key != NULL)
		OPENSSL_cleanse(key, key_len);
	free(key);
	free(pem);
	cred_free(c);
	return NULL;
}

struct tlscred *
tlscred_ref(struct tlscred *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void
tlscred_release(struct tlscred *c)
{
	if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		cred_free(c);
}

time_t
tlscred_not_after(const struct tlscred *c)
{
	return c->not_after;
}

const char *
tlscred_fingerprint(const struct tlscred *c)
{
	return c->fingerprint;
}

void
tlscred_gnutls(struct tlscred *c, gnutls_pcert_st **chain, unsigned *n, gnutls_privkey_t *key)
{
	*chain = c->chain;
	*n = c->n;
	*key = c->key;
}
