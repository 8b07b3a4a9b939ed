/* test_tlscred — what tlscred_load accepts and refuses, on certificates made here with OpenSSL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "fixture_pki.h"
#include "tlscred.h"

/* What a listener's certificate names. */
#define SERVER_SAN "DNS:localhost,IP:127.0.0.1"

struct refusal {
	const char *name;
	const char *cert, *key;
	const char *want; /* in the message */
};

int
main(void)
{
	char err[512];

	if (fixture_dir_make("test_tlscred") != 0)
		return 1;

	EVP_PKEY *ca_key = fixture_key(), *inter_key = fixture_key(), *leaf_key = fixture_key();
	EVP_PKEY *other_key = fixture_key();
	const char *srv = "serverAuth";
	X509 *ca = fixture_cert("server CA", 1, ca_key, NULL, NULL, NULL, NULL, -1, 3650, 1);
	X509 *inter = fixture_cert("intermediate", 2, inter_key, ca, ca_key, NULL, NULL, -1, 20, 1);
	X509 *leaf =
	    fixture_cert("localhost", 3, leaf_key, ca, ca_key, SERVER_SAN, srv, -1, 400, 0);
	X509 *via =
	    fixture_cert("localhost", 4, leaf_key, inter, inter_key, SERVER_SAN, srv, -1, 400, 0);
	X509 *expired =
	    fixture_cert("localhost", 5, leaf_key, ca, ca_key, SERVER_SAN, srv, -30, -1, 0);
	X509 *future =
	    fixture_cert("localhost", 6, leaf_key, ca, ca_key, SERVER_SAN, srv, 2, 400, 0);

	const char *leaf_pem = fixture_write_certs("leaf.pem", leaf, NULL);
	const char *key = fixture_write_key("leaf.key", leaf_key, 0600);

	/* a good pair: its fingerprint, its date, what a handshake gets */
	struct tlscred *c = tlscred_load(leaf_pem, key, err, sizeof err);
	CHECK(c != NULL, "good pair refused: %s", err);
	if (c != NULL) {
		unsigned char *der = NULL, md[32];
		unsigned mdlen = 0;
		char hex[65];
		int n = i2d_X509(leaf, &der);
		EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
		for (unsigned i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		OPENSSL_free(der);
		CHECK(strcmp(tlscred_fingerprint(c), hex) == 0, "fingerprint %s, want %s",
		      tlscred_fingerprint(c), hex);
		CHECK(tlscred_not_after(c) == fixture_not_after(leaf), "not_after %lld",
		      (long long)tlscred_not_after(c));
		gnutls_pcert_st *chain = NULL;
		unsigned len = 0;
		gnutls_privkey_t k = NULL;
		tlscred_gnutls(c, &chain, &len, &k);
		CHECK(chain != NULL && len == 1 && k != NULL, "gnutls view: %u certificates", len);
		/* references: the last release frees (the sanitizer run checks the rest) */
		CHECK(tlscred_ref(c) == c, "ref returns the credential");
		tlscred_release(c);
		tlscred_release(c);
	}
	tlscred_release(NULL);

	/* a chain: the leaf, then its issuer; the earliest notAfter counts */
	c = tlscred_load(fixture_write_certs("chain.pem", via, inter), key, err, sizeof err);
	CHECK(c != NULL, "chain refused: %s", err);
	if (c != NULL) {
		gnutls_pcert_st *chain = NULL;
		unsigned len = 0;
		gnutls_privkey_t k = NULL;
		tlscred_gnutls(c, &chain, &len, &k);
		CHECK(len == 2, "%u certificates in the chain", len);
		CHECK(tlscred_not_after(c) == fixture_not_after(inter), "the intermediate's date");
		tlscred_release(c);
	}

	const char *other = fixture_write_key("other.key", other_key, 0600);
	const struct refusal refusals[] = {
	    {"key of another certificate", leaf_pem, other, "does not belong to the certificate"},
	    {"chain out of order", fixture_write_certs("reversed.pem", inter, via), key,
	     "out of order"},
	    {"garbage", fixture_write_text("garbage.pem", "not a certificate at all\n", 0644), key,
	     "not a PEM certificate chain"},
	    {"bad base64",
	     fixture_write_text("bad64.pem",
	                        "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
	                        0644),
	     key, "not a PEM certificate chain"},
	    {"empty certificate file", fixture_write_text("empty.pem", "", 0644), key, "empty.pem"},
	    {"missing certificate file", fixture_path("nothere.pem"), key, "nothere.pem"},
	    {"missing key file", leaf_pem, fixture_path("nothere.key"), "nothere.key"},
	    {"key readable by others", leaf_pem, fixture_write_key("open.key", leaf_key, 0644),
	     "open.key"},
	    {"a certificate as the key", leaf_pem, fixture_write_text("cert-as.key", "", 0600),
	     "cert-as.key"},
	    {"garbage key", leaf_pem,
	     fixture_write_text("garbage.key", "-----BEGIN PRIVATE KEY-----\nxx\n", 0600),
	     "not an unencrypted PEM private key"},
	    {"expired", fixture_write_certs("expired.pem", expired, NULL), key, "expired on"},
	    {"not yet valid", fixture_write_certs("future.pem", future, NULL), key,
	     "not valid before"},
	};
	/* the certificate's own PEM where the key should be */
	FILE *f = fopen(fixture_path("cert-as.key"), "w");
	PEM_write_X509(f, leaf);
	fclose(f);
	for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
		const struct refusal *r = &refusals[i];
		err[0] = '\0';
		c = tlscred_load(r->cert, r->key, err, sizeof err);
		CHECK(c == NULL, "%s: loaded", r->name);
		CHECK(strstr(err, r->want) != NULL, "%s: message '%s' lacks '%s'", r->name, err,
		      r->want);
		tlscred_release(c);
	}

	X509_free(ca);
	X509_free(inter);
	X509_free(leaf);
	X509_free(via);
	X509_free(expired);
	X509_free(future);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(inter_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(other_key);
	fixture_dir_remove();
	return check_done();
}
