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
#include "tlscred.h"

#define DAY (24L * 3600)

static char dir[64];

static const char *
path(const char *name)
{
	static char buf[32][128]; /* every path this test names lives to the end */
	static int n;
	char *p = buf[n++ % 32];
	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

static EVP_PKEY *
new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	if (k == NULL)
		abort();
	return k;
}

static void
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL || !X509_add_ext(cert, ext, -1))
		abort();
	X509_EXTENSION_free(ext);
}

/* A certificate valid from now+from to now+to (seconds); issuer NULL: self-signed CA. */
static X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long from, long to,
          int is_ca)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME *name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	X509 *signer = issuer != NULL ? issuer : x;
	add_ext(x, signer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	if (!is_ca) {
		add_ext(x, signer, NID_ext_key_usage, "serverAuth");
		add_ext(x, signer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	}
	if (!X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()))
		abort();
	return x;
}

/* Writes the certificates, in order, into one PEM file. */
static const char *
write_chain(const char *name, X509 *a, X509 *b)
{
	const char *p = path(name);
	FILE *f = fopen(p, "w");
	PEM_write_X509(f, a);
	if (b != NULL)
		PEM_write_X509(f, b);
	fclose(f);
	return p;
}

static const char *
write_key(const char *name, EVP_PKEY *k, mode_t mode)
{
	const char *p = path(name);
	FILE *f = fopen(p, "w");
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(p, mode);
	return p;
}

static const char *
write_text(const char *name, const char *text, mode_t mode)
{
	const char *p = path(name);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
	return p;
}

static time_t
not_after(X509 *x)
{
	struct tm tm;
	ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm);
	return timegm(&tm);
}

struct refusal {
	const char *name;
	const char *cert, *key;
	const char *want; /* in the message */
};

int
main(void)
{
	char err[512];

	snprintf(dir, sizeof dir, "/tmp/test_tlscred.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;

	EVP_PKEY *ca_key = new_key(), *inter_key = new_key(), *leaf_key = new_key();
	EVP_PKEY *other_key = new_key();
	X509 *ca = make_cert("server CA", ca_key, NULL, NULL, -DAY, 3650 * DAY, 1);
	X509 *inter = make_cert("intermediate", inter_key, ca, ca_key, -DAY, 20 * DAY, 1);
	X509 *leaf = make_cert("localhost", leaf_key, ca, ca_key, -DAY, 400 * DAY, 0);
	X509 *via = make_cert("localhost", leaf_key, inter, inter_key, -DAY, 400 * DAY, 0);
	X509 *expired = make_cert("localhost", leaf_key, ca, ca_key, -30 * DAY, -DAY, 0);
	X509 *future = make_cert("localhost", leaf_key, ca, ca_key, 2 * DAY, 400 * DAY, 0);

	const char *leaf_pem = write_chain("leaf.pem", leaf, NULL);
	const char *key = write_key("leaf.key", leaf_key, 0600);

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
		CHECK(tlscred_not_after(c) == not_after(leaf), "not_after %lld",
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
	c = tlscred_load(write_chain("chain.pem", via, inter), key, err, sizeof err);
	CHECK(c != NULL, "chain refused: %s", err);
	if (c != NULL) {
		gnutls_pcert_st *chain = NULL;
		unsigned len = 0;
		gnutls_privkey_t k = NULL;
		tlscred_gnutls(c, &chain, &len, &k);
		CHECK(len == 2, "%u certificates in the chain", len);
		CHECK(tlscred_not_after(c) == not_after(inter), "the intermediate's date");
		tlscred_release(c);
	}

	const char *other = write_key("other.key", other_key, 0600);
	const struct refusal refusals[] = {
	    {"key of another certificate", leaf_pem, other, "does not belong to the certificate"},
	    {"chain out of order", write_chain("reversed.pem", inter, via), key, "out of order"},
	    {"garbage", write_text("garbage.pem", "not a certificate at all\n", 0644), key,
	     "not a PEM certificate chain"},
	    {"bad base64",
	     write_text("bad64.pem",
	                "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n", 0644),
	     key, "not a PEM certificate chain"},
	    {"empty certificate file", write_text("empty.pem", "", 0644), key, "empty.pem"},
	    {"missing certificate file", path("nothere.pem"), key, "nothere.pem"},
	    {"missing key file", leaf_pem, path("nothere.key"), "nothere.key"},
	    {"key readable by others", leaf_pem, write_key("open.key", leaf_key, 0644), "open.key"},
	    {"a certificate as the key", leaf_pem, write_text("cert-as.key", "", 0600),
	     "cert-as.key"},
	    {"garbage key", leaf_pem,
	     write_text("garbage.key", "-----BEGIN PRIVATE KEY-----\nxx\n", 0600),
	     "not an unencrypted PEM private key"},
	    {"expired", write_chain("expired.pem", expired, NULL), key, "expired on"},
	    {"not yet valid", write_chain("future.pem", future, NULL), key, "not valid before"},
	};
	/* the certificate's own PEM where the key should be */
	FILE *f = fopen(path("cert-as.key"), "w");
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
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_done();
}
