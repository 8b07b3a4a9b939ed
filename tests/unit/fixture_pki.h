/* fixture_pki — what the tests of the TLS modules share: keys, certificates and CRLs made here
 * with the OpenSSL API, and the temporary folder they are written into. */
#ifndef PDGATE_FIXTURE_PKI_H
#define PDGATE_FIXTURE_PKI_H
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define FIXTURE_DAY (24L * 3600)

/* Each test calls the ones it needs. */
#define FIXTURE_FN __attribute__((unused)) static

static char fixture_dir[64];

/* Makes the folder /tmp/NAME.XXXXXX that fixture_path names files in. 0 or -1. */
FIXTURE_FN int
fixture_dir_make(const char *name)
{
	snprintf(fixture_dir, sizeof fixture_dir, "/tmp/%s.XXXXXX", name);
	return mkdtemp(fixture_dir) != NULL ? 0 : -1;
}

/* The folder's file name; every path a test names lives to the end (32 at most). */
FIXTURE_FN const char *
fixture_path(const char *name)
{
	static char buf[32][128];
	static int n;
	char *p = buf[n++ % 32];

	snprintf(p, 128, "%s/%s", fixture_dir, name);
	return p;
}

FIXTURE_FN int
fixture_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Removes the folder and everything in it. */
FIXTURE_FN void
fixture_dir_remove(void)
{
	if (fixture_dir[0] != '\0' && nftw(fixture_dir, fixture_rm, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "could not remove %s\n", fixture_dir);
}

/* A new EC P-256 key; aborts when OpenSSL cannot make one. Caller frees. */
FIXTURE_FN EVP_PKEY *
fixture_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	if (k == NULL)
		abort();
	return k;
}

FIXTURE_FN void
fixture_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL || !X509_add_ext(cert, ext, -1))
		abort();
	X509_EXTENSION_free(ext);
}

/*
 * A certificate "CN=cn" for key, signed by issuer/issuer_key (issuer NULL: self-signed), valid
 * from now + from_days to now + to_days; a CA (is_ca: keyCertSign, cRLSign) or a leaf
 * (digitalSignature). san, eku NULL: extension left out. Aborts on failure. Caller frees.
 */
FIXTURE_FN X509 *
fixture_cert(const char *cn, long serial, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
             const char *san, const char *eku, long from_days, long to_days, int is_ca)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME *name = X509_NAME_new();
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	X509_gmtime_adj(X509_getm_notBefore(x), from_days * FIXTURE_DAY);
	X509_gmtime_adj(X509_getm_notAfter(x), to_days * FIXTURE_DAY);
	X509_set_pubkey(x, key);
	X509 *signer = issuer != NULL ? issuer : x;
	fixture_ext(x, signer, NID_subject_key_identifier, "hash");
	fixture_ext(x, signer, NID_authority_key_identifier, "keyid:always");
	if (is_ca) {
		fixture_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
		fixture_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		fixture_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
		fixture_ext(x, signer, NID_key_usage, "critical,digitalSignature");
	}
	if (san != NULL)
		fixture_ext(x, signer, NID_subject_alt_name, san);
	if (eku != NULL)
		fixture_ext(x, signer, NID_ext_key_usage, eku);
	EVP_PKEY *signer_key = issuer_key != NULL ? issuer_key : key;
	/* Ed25519 signs the message itself: no separate digest */
	if (!X509_sign(x, signer_key,
	               EVP_PKEY_get_id(signer_key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()))
		abort();
	return x;
}

/* The same certificate signed again by issuer_key with md: the digest of its signature. */
FIXTURE_FN X509 *
fixture_resign(X509 *x, EVP_PKEY *issuer_key, const EVP_MD *md)
{
	if (!X509_sign(x, issuer_key, md))
		abort();
	return x;
}

/* A CRL of ca revoking the serials revoked[0..nrevoked), lastUpdate now + last_days,
 * nextUpdate now + next_days. Aborts on failure. Caller frees. */
FIXTURE_FN X509_CRL *
fixture_crl(X509 *ca, EVP_PKEY *ca_key, const long *revoked, int nrevoked, long last_days,
            long next_days)
{
	X509_CRL *crl = X509_CRL_new();
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	ASN1_TIME *t = X509_gmtime_adj(NULL, last_days * FIXTURE_DAY);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_free(t);
	t = X509_gmtime_adj(NULL, next_days * FIXTURE_DAY);
	X509_CRL_set1_nextUpdate(crl, t);
	ASN1_TIME_free(t);
	for (int i = 0; i < nrevoked; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *serial = ASN1_INTEGER_new();
		ASN1_INTEGER_set(serial, revoked[i]);
		X509_REVOKED_set_serialNumber(r, serial);
		ASN1_INTEGER_free(serial);
		t = X509_gmtime_adj(NULL, -FIXTURE_DAY);
		X509_REVOKED_set_revocationDate(r, t);
		ASN1_TIME_free(t);
		X509_CRL_add0_revoked(crl, r);
	}
	X509_CRL_sort(crl);
	if (!X509_CRL_sign(crl, ca_key, EVP_sha256()))
		abort();
	return crl;
}

/* Writes a, then b unless NULL, into one PEM file of the folder; returns its path. */
FIXTURE_FN const char *
fixture_write_certs(const char *name, X509 *a, X509 *b)
{
	const char *p = fixture_path(name);
	FILE *f = fopen(p, "w");
	PEM_write_X509(f, a);
	if (b != NULL)
		PEM_write_X509(f, b);
	fclose(f);
	return p;
}

FIXTURE_FN const char *
fixture_write_crl(const char *name, X509_CRL *c)
{
	const char *p = fixture_path(name);
	FILE *f = fopen(p, "w");
	PEM_write_X509_CRL(f, c);
	fclose(f);
	return p;
}

/* The private key as unencrypted PEM, in a file of that mode. */
FIXTURE_FN const char *
fixture_write_key(const char *name, EVP_PKEY *k, mode_t mode)
{
	const char *p = fixture_path(name);
	FILE *f = fopen(p, "w");
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(p, mode);
	return p;
}

FIXTURE_FN const char *
fixture_write_text(const char *name, const char *text, mode_t mode)
{
	const char *p = fixture_path(name);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
	return p;
}

/* x's notAfter as Unix seconds. */
FIXTURE_FN time_t
fixture_not_after(X509 *x)
{
	struct tm tm;
	ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm);
	return timegm(&tm);
}
#endif
