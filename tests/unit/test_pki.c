/* test_pki — issues CAs, leaves and CRLs into a temporary folder and checks them with OpenSSL. */
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "fixture_pki.h"
#include "ident.h"
#include "pki.c" /* the fingerprint and vkey functions are static */
#include "pki_crl.h"
#include "pki_p12.h"

static char dir[64];

static const char *
at(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static int
mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

/* X509_verify_cert of leaf against the one CA (and CRL), for purpose; returns the error code. */
static int
verify(X509 *leaf, X509 *ca, X509_CRL *crl, int purpose)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc;

	X509_STORE_add_cert(st, ca);
	if (crl != NULL) {
		X509_STORE_add_crl(st, crl);
		X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
	}
	X509_STORE_CTX_init(ctx, st, leaf, NULL);
	X509_STORE_CTX_set_purpose(ctx, purpose);
	rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	if (rc == X509_V_OK && X509_STORE_CTX_get_error(ctx) != X509_V_OK)
		rc = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return rc;
}

/* The URI SAN of cert, or "" (static buffer). */
static const char *
uri_san(X509 *cert)
{
	static char buf[256];
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);

	buf[0] = '\0';
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type == GEN_URI)
			snprintf(
			    buf, sizeof(buf), "%.*s",
			    ASN1_STRING_length(g->d.uniformResourceIdentifier),
			    (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier));
	}
	GENERAL_NAMES_free(names);
	return buf;
}

static const char *
common_name(X509 *cert)
{
	static char buf[256];

	buf[0] = '\0';
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
	return buf;
}

static long
crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	long v = n != NULL ? ASN1_INTEGER_get(n) : -1;

	ASN1_INTEGER_free(n);
	return v;
}

static int
is_revoked(X509_CRL *crl, X509 *cert)
{
	X509_REVOKED *r = NULL;

	return X509_CRL_get0_by_serial(crl, &r, X509_get_serialNumber(cert)) == 1;
}

static X509_CRL *
crl_at(const char *name)
{
	char err[256];

	return pki_crl_read(at(name), err, sizeof(err));
}

/* The names pki_issue takes for a client certificate: ident_name_ok's, the message quoting it. */
static void
test_names(X509 *pca, EVP_PKEY *pkey)
{
	static const struct {
		const char *s;
		int ok;
	} cases[] = {
	    {"sakura-mail", 1},
	    {"a", 1},
	    {"0abc", 1},
	    {"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz01234567890", 1},  /* 63 */
	    {"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz012345678901", 0}, /* 64 */
	    {"", 0},
	    {"-abc", 0},
	    {"Sakura", 0},
	    {"a_b", 0},
	    {"a.b", 0},
	    {"a b", 0},
	    {"a,URI:x", 0},
	    {"a/b", 0},
	    {"\xe3\x81\x82", 0},
	};

	char err[256];
	EVP_PKEY *key = pki_key_ec();
	X509 *x;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		x = pki_issue(PKI_PROFILE_PARTNER, cases[i].s, key, pca, pkey, 1, err, sizeof(err));
		CHECK((x != NULL) == cases[i].ok &&
		          (cases[i].ok || strstr(err, "must match " IDENT_NAME_PATTERN) != NULL),
		      "name '%s': %s", cases[i].s, err);
		X509_free(x);
	}
	x = pki_issue(PKI_PROFILE_STAFF, NULL, key, pca, pkey, 1, err, sizeof(err));
	CHECK(x == NULL, "NULL name");
	X509_free(x);
	EVP_PKEY_free(key);
}

static void
test_leaf_profiles(X509 *pca, X509 *sca, X509 *vca, EVP_PKEY *pkey, EVP_PKEY *skey)
{
	char err[256], fp[PKI_FINGERPRINT_LEN], hex[65];
	unsigned char der_md[32];
	unsigned char *der = NULL;
	int derlen;
	X509 *partner = pki_cert_read(at("partner.pem"), err, sizeof(err));
	X509 *staff = pki_cert_read(at("staff.pem"), err, sizeof(err));
	X509 *server = pki_cert_read(at("server.pem"), err, sizeof(err));
	X509 *other = pki_cert_read(at("partner2.pem"), err, sizeof(err));

	CHECK(partner != NULL && staff != NULL && server != NULL && other != NULL, "read: %s", err);
	if (partner == NULL || staff == NULL || server == NULL || other == NULL)
		goto done;

	/* Chains and purposes. */
	CHECK(verify(partner, pca, NULL, X509_PURPOSE_SSL_CLIENT) == X509_V_OK, "partner chain");
	CHECK(verify(staff, sca, NULL, X509_PURPOSE_SSL_CLIENT) == X509_V_OK, "staff chain");
	CHECK(verify(server, vca, NULL, X509_PURPOSE_SSL_SERVER) == X509_V_OK, "server chain");
	CHECK(verify(server, vca, NULL, X509_PURPOSE_SSL_CLIENT) == X509_V_ERR_INVALID_PURPOSE,
	      "server certificate refused as a client");
	CHECK(verify(partner, pca, NULL, X509_PURPOSE_SSL_SERVER) == X509_V_ERR_INVALID_PURPOSE,
	      "partner certificate refused as a server");
	CHECK(verify(staff, pca, NULL, X509_PURPOSE_SSL_CLIENT) != X509_V_OK,
	      "staff certificate does not chain to the partner CA");
	CHECK(verify(partner, sca, NULL, X509_PURPOSE_SSL_CLIENT) != X509_V_OK,
	      "partner certificate does not chain to the staff CA");
	CHECK(pki_issued_by(partner, pca) == 1 && pki_issued_by(partner, sca) == 0 &&
	          pki_issued_by(staff, sca) == 1 && pki_issued_by(server, pca) == 0,
	      "pki_issued_by");

	/* Names. */
	CHECK(strcmp(uri_san(partner), "urn:pdgate:partner:sakura-mail") == 0, "partner URI %s",
	      uri_san(partner));
	CHECK(strcmp(common_name(partner), "sakura-mail") == 0, "partner CN");
	CHECK(strcmp(uri_san(staff), "urn:pdgate:staff:officer") == 0, "staff URI %s",
	      uri_san(staff));
	CHECK(strcmp(common_name(staff), "officer") == 0, "staff CN");
	CHECK(X509_check_host(server, "localhost", 0, 0, NULL) == 1, "server DNS:localhost");
	CHECK(X509_check_ip_asc(server, "127.0.0.1", 0) == 1, "server IP:127.0.0.1");
	CHECK(X509_check_ip_asc(server, "::1", 0) == 1, "server IP:::1");
	CHECK(X509_check_host(partner, "localhost", 0, 0, NULL) != 1, "partner has no DNS name");

	/* Extended and plain key usage. */
	CHECK(X509_get_extended_key_usage(partner) == XKU_SSL_CLIENT,
	      "partner EKU clientAuth only");
	CHECK(X509_get_extended_key_usage(staff) == XKU_SSL_CLIENT, "staff EKU clientAuth only");
	CHECK(X509_get_extended_key_usage(server) == XKU_SSL_SERVER, "server EKU serverAuth only");
	CHECK(X509_get_key_usage(partner) == KU_DIGITAL_SIGNATURE, "partner keyUsage");
	CHECK(X509_get_key_usage(pca) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN), "CA keyUsage");
	CHECK(X509_check_ca(pca) == 1 && X509_get_pathlen(pca) == 0, "CA:true pathlen:0");
	CHECK(X509_check_ca(partner) == 0, "leaf is not a CA");
	CHECK(X509_get0_subject_key_id(pca) != NULL && X509_get0_authority_key_id(pca) != NULL &&
	          ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(pca),
	                                X509_get0_authority_key_id(pca)) == 0,
	      "CA SKI == AKI");
	CHECK(X509_get0_authority_key_id(partner) != NULL &&
	          ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(pca),
	                                X509_get0_authority_key_id(partner)) == 0,
	      "partner AKI names the CA key");

	/* Key type, serials, lifetimes. */
	CHECK(EVP_PKEY_get_id(X509_get0_pubkey(partner)) == EVP_PKEY_EC &&
	          EVP_PKEY_get_bits(X509_get0_pubkey(partner)) == 256,
	      "partner key is EC P-256");
	{
		BIGNUM *a = ASN1_INTEGER_to_BN(X509_get0_serialNumber(partner), NULL);
		BIGNUM *b = ASN1_INTEGER_to_BN(X509_get0_serialNumber(other), NULL);
		CHECK(a != NULL && !BN_is_negative(a) && BN_num_bits(a) <= 128 &&
		          BN_num_bits(a) > 64,
		      "serial is a positive 128-bit random number");
		CHECK(a != NULL && b != NULL && BN_cmp(a, b) != 0, "serials differ");
		BN_free(a);
		BN_free(b);
	}
	{
		int pday = 0, psec = 0;
		ASN1_TIME_diff(&pday, &psec, X509_get0_notBefore(partner),
		               X509_get0_notAfter(partner));
		CHECK(pday == PKI_DAYS_CLIENT, "client lifetime %d days", pday);
		ASN1_TIME_diff(&pday, &psec, X509_get0_notBefore(server),
		               X509_get0_notAfter(server));
		CHECK(pday == PKI_DAYS_SERVER, "server lifetime %d days", pday);
		ASN1_TIME_diff(&pday, &psec, X509_get0_notBefore(pca), X509_get0_notAfter(pca));
		CHECK(pday == PKI_DAYS_CA, "CA lifetime %d days", pday);
		ASN1_TIME_diff(&pday, &psec, X509_get0_notBefore(other), X509_get0_notAfter(other));
		CHECK(pday == 7, "--days 7 lifetime %d days", pday);
	}

	/* Fingerprint = SHA-256 of the DER. */
	derlen = i2d_X509(partner, &der);
	CHECK(derlen > 0, "DER");
	SHA256(der, (size_t)derlen, der_md);
	OPENSSL_free(der);
	CHECK(pki_fingerprint_hex(partner, hex) == 0 && strlen(hex) == 64, "fingerprint hex");
	CHECK(pki_fingerprint(partner, fp) == 0 && strncmp(fp, "sha256:", 7) == 0 &&
	          strcmp(fp + 7, hex) == 0,
	      "fingerprint form %s", fp);
	{
		char want[65];
		for (int i = 0; i < 32; i++)
			snprintf(want + 2 * i, 3, "%02x", der_md[i]);
		CHECK(strcmp(want, hex) == 0, "fingerprint %s != %s", hex, want);
	}

	/* Refusals. */
	CHECK(pki_issue(PKI_PROFILE_PARTNER, "Bad_Name", pkey, pca, pkey, 30, err, sizeof(err)) ==
	          NULL,
	      "invalid partner id refused");
	CHECK(pki_issue(PKI_PROFILE_PARTNER, "ok", pkey, pca, skey, 30, err, sizeof(err)) == NULL,
	      "CA key that does not match the CA refused");
	CHECK(pki_issue(PKI_PROFILE_PARTNER, "ok", pkey, partner, pkey, 30, err, sizeof(err)) ==
	          NULL,
	      "a leaf cannot issue");
done:
	X509_free(partner);
	X509_free(staff);
	X509_free(server);
	X509_free(other);
}

static void
test_crl(X509 *pca, EVP_PKEY *pcakey, X509 *sca, EVP_PKEY *scakey)
{
	char err[256];
	char *num = NULL;
	X509 *a = pki_cert_read(at("partner.pem"), err, sizeof(err));
	X509 *b = pki_cert_read(at("partner2.pem"), err, sizeof(err));
	X509 *c = pki_cert_read(at("partner3.pem"), err, sizeof(err));
	X509 *staff = pki_cert_read(at("staff.pem"), err, sizeof(err));
	X509_CRL *crl;
	enum pki_revoke r;

	CHECK(a != NULL && b != NULL && c != NULL && staff != NULL, "read");
	if (a == NULL || b == NULL || c == NULL || staff == NULL)
		goto done;

	crl = crl_at("partner-ca.crl");
	CHECK(crl != NULL, "fresh CRL readable");
	if (crl != NULL) {
		int d = 0, s = 0;
		CHECK(crl_number(crl) == 1, "fresh CRL number %ld", crl_number(crl));
		CHECK(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0, "fresh CRL empty");
		CHECK(X509_CRL_verify(crl, X509_get0_pubkey(pca)) == 1, "CRL signed by the CA");
		CHECK(X509_CRL_get_version(crl) == X509_CRL_VERSION_2, "CRL v2");
		ASN1_TIME_diff(&d, &s, X509_CRL_get0_lastUpdate(crl),
		               X509_CRL_get0_nextUpdate(crl));
		CHECK(d == PKI_DAYS_CRL, "CRL nextUpdate %d days after lastUpdate", d);
		{
			AUTHORITY_KEYID *akid =
			    X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
			CHECK(akid != NULL && akid->keyid != NULL &&
			          ASN1_OCTET_STRING_cmp(akid->keyid,
			                                X509_get0_subject_key_id(pca)) == 0,
			      "CRL AKI");
			AUTHORITY_KEYID_free(akid);
		}
		CHECK(verify(a, pca, crl, X509_PURPOSE_SSL_CLIENT) == X509_V_OK,
		      "not revoked under an empty CRL");
		X509_CRL_free(crl);
	}

	r = pki_crl_revoke(at("partner-ca.crl"), pca, pcakey, a, PKI_DAYS_CRL, &num, err,
	                   sizeof(err));
	CHECK(r == PKI_REVOKE_DONE && num != NULL && strcmp(num, "2") == 0, "revoke a: %s", err);
	free(num);
	num = NULL;
	CHECK(mode_of(at("partner-ca.crl")) == 0644, "CRL mode %o", mode_of(at("partner-ca.crl")));
	crl = crl_at("partner-ca.crl");
	CHECK(crl != NULL &&
	          verify(a, pca, crl, X509_PURPOSE_SSL_CLIENT) == X509_V_ERR_CERT_REVOKED,
	      "revoked certificate fails X509_verify_cert with CRL_CHECK");
	CHECK(crl != NULL && verify(b, pca, crl, X509_PURPOSE_SSL_CLIENT) == X509_V_OK,
	      "another certificate still verifies");
	X509_CRL_free(crl);

	r = pki_crl_revoke(at("partner-ca.crl"), pca, pcakey, b, PKI_DAYS_CRL, &num, err,
	                   sizeof(err));
	CHECK(r == PKI_REVOKE_DONE && num != NULL && strcmp(num, "3") == 0, "revoke b: %s", err);
	free(num);
	num = NULL;
	crl = crl_at("partner-ca.crl");
	CHECK(crl != NULL && crl_number(crl) == 3, "CRL number 3");
	CHECK(crl != NULL && sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == 2,
	      "two entries kept");
	CHECK(crl != NULL && is_revoked(crl, a) && is_revoked(crl, b) && !is_revoked(crl, c),
	      "both revocations kept, the third certificate not listed");
	CHECK(crl != NULL &&
	          verify(a, pca, crl, X509_PURPOSE_SSL_CLIENT) == X509_V_ERR_CERT_REVOKED &&
	          verify(b, pca, crl, X509_PURPOSE_SSL_CLIENT) == X509_V_ERR_CERT_REVOKED &&
	          verify(c, pca, crl, X509_PURPOSE_SSL_CLIENT) == X509_V_OK,
	      "verification follows the CRL");
	X509_CRL_free(crl);

	r = pki_crl_revoke(at("partner-ca.crl"), pca, pcakey, a, PKI_DAYS_CRL, NULL, err,
	                   sizeof(err));
	CHECK(r == PKI_REVOKE_ALREADY, "revoking twice is reported");
	crl = crl_at("partner-ca.crl");
	CHECK(crl != NULL && crl_number(crl) == 3, "revoking twice leaves the CRL alone");
	X509_CRL_free(crl);

	r = pki_crl_revoke(at("partner-ca.crl"), pca, pcakey, staff, PKI_DAYS_CRL, NULL, err,
	                   sizeof(err));
	CHECK(r == PKI_REVOKE_ERROR, "a staff certificate cannot go on the partner CRL");
	r = pki_crl_revoke(at("staff-ca.crl"), pca, pcakey, c, PKI_DAYS_CRL, NULL, err,
	                   sizeof(err));
	CHECK(r == PKI_REVOKE_ERROR && strstr(err, "not signed by this CA") != NULL,
	      "a CRL of another CA is never extended: %s", err);
	r = pki_crl_revoke(at("staff-ca.crl"), sca, scakey, staff, PKI_DAYS_CRL, NULL, err,
	                   sizeof(err));
	CHECK(r == PKI_REVOKE_DONE, "staff revocation: %s", err);

	CHECK(pki_crl_refresh(at("partner-ca.crl"), pca, pcakey, 2, &num, err, sizeof(err)) == 0 &&
	          num != NULL && strcmp(num, "4") == 0,
	      "refresh: %s", err);
	free(num);
	num = NULL;
	crl = crl_at("partner-ca.crl");
	if (crl != NULL) {
		int d = 0, s = 0;
		ASN1_TIME_diff(&d, &s, X509_CRL_get0_lastUpdate(crl),
		               X509_CRL_get0_nextUpdate(crl));
		CHECK(d == 2, "refreshed nextUpdate in 2 days (%d)", d);
		CHECK(is_revoked(crl, a) && is_revoked(crl, b) &&
		          sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == 2,
		      "refresh keeps entries");
	}
	CHECK(crl != NULL, "refreshed CRL");
	X509_CRL_free(crl);
	CHECK(pki_crl_refresh(at("partner-ca.crl"), pca, pcakey, 0, NULL, err, sizeof(err)) < 0,
	      "0 days refused");
	CHECK(pki_crl_refresh(at("missing.crl"), pca, pcakey, 30, NULL, err, sizeof(err)) < 0,
	      "missing CRL refused");
	{
		/* A corrupt CRL is refused, never silently replaced by an empty one. */
		FILE *f = fopen(at("bad.crl"), "w");
		if (f != NULL) {
			fputs("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", f);
			fclose(f);
		}
		CHECK(pki_crl_revoke(at("bad.crl"), pca, pcakey, c, 30, NULL, err, sizeof(err)) ==
		          PKI_REVOKE_ERROR,
		      "corrupt CRL refused");
	}
done:
	X509_free(a);
	X509_free(b);
	X509_free(c);
	X509_free(staff);
}

static void
test_keys(void)
{
	char err[256];
	EVP_PKEY *ed = pki_key_ed25519(), *tok = pki_key_ec(), *back;
	char *vkey;

	CHECK(ed != NULL && tok != NULL, "key generation");
	if (ed == NULL || tok == NULL)
		goto done;
	CHECK(pki_key_write(at("ledger.key"), ed, err, sizeof(err)) == 0, "%s", err);
	CHECK(mode_of(at("ledger.key")) == 0600, "ledger.key mode %o", mode_of(at("ledger.key")));
	CHECK(pki_key_write(at("ledger.key"), ed, err, sizeof(err)) < 0,
	      "existing key not overwritten");
	back = pki_key_read(at("ledger.key"), err, sizeof(err));
	CHECK(back != NULL && EVP_PKEY_eq(back, ed) == 1, "ledger key reads back: %s", err);
	EVP_PKEY_free(back);
	{
		FILE *f = fopen(at("ledger.key"), "r");
		char line[64] = "";
		if (f != NULL) {
			if (fgets(line, sizeof(line), f) == NULL)
				line[0] = '\0';
			fclose(f);
		}
		CHECK(strcmp(line, "-----BEGIN PRIVATE KEY-----\n") == 0, "PKCS#8 PEM: %s", line);
	}

	vkey = pki_vkey("pdgate.local/demo", ed);
	CHECK(vkey != NULL, "vkey");
	if (vkey != NULL) {
		unsigned char raw[32 + 1], md[32], dec[64];
		size_t rawlen = 32;
		char want_prefix[64];
		uint32_t id;
		/* The name has no '+', the base64 may: the key is after the second '+'. */
		const char *p1 = strchr(vkey, '+');
		const char *b64 = p1 != NULL ? strchr(p1 + 1, '+') : NULL;
		int n;

		raw[0] = 0x01;
		EVP_PKEY_get_raw_public_key(ed, raw + 1, &rawlen);
		{
			unsigned char buf[64];
			size_t nl = strlen("pdgate.local/demo");
			memcpy(buf, "pdgate.local/demo", nl);
			buf[nl] = '\n';
			memcpy(buf + nl + 1, raw, 33);
			SHA256(buf, nl + 1 + 33, md);
		}
		id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
		snprintf(want_prefix, sizeof(want_prefix), "pdgate.local/demo+%08x+", id);
		CHECK(strncmp(vkey, want_prefix, strlen(want_prefix)) == 0, "vkey %s, want %s…",
		      vkey, want_prefix);
		n = b64 != NULL
		        ? EVP_DecodeBlock(dec, (const unsigned char *)b64 + 1, (int)strlen(b64 + 1))
		        : -1;
		/* 33 bytes are 44 base64 characters without padding. */
		CHECK(n == 33 && memcmp(dec, raw, 33) == 0, "vkey carries 0x01 || public key");
		free(vkey);
	}
	CHECK(pki_vkey("has space", ed) == NULL && pki_vkey("a+b", ed) == NULL &&
	          pki_vkey("", ed) == NULL,
	      "bad key names refused");
	CHECK(pki_vkey("pdgate.local/demo", tok) == NULL, "vkey needs Ed25519");
	CHECK(pki_vkey_write(at("ledger.vkey"), "pdgate.local/demo", ed, err, sizeof(err)) == 0,
	      "%s", err);

	CHECK(pki_key_write(at("token.key"), tok, err, sizeof(err)) == 0 &&
	          pki_pub_write(at("token.pub"), tok, err, sizeof(err)) == 0,
	      "token key: %s", err);
	CHECK(mode_of(at("token.key")) == 0600, "token.key mode");

	chmod(at("token.key"), 0640);
	back = pki_key_read(at("token.key"), err, sizeof(err));
	CHECK(back == NULL && strstr(err, "mode") != NULL, "group-readable key refused: %s", err);
	EVP_PKEY_free(back);

	CHECK(pki_secret_write(at("pseudonym.key"), err, sizeof(err)) == 0, "%s", err);
	CHECK(mode_of(at("pseudonym.key")) == 0600, "pseudonym.key mode");
	{
		FILE *f = fopen(at("pseudonym.key"), "r");
		char buf[128] = "";
		size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		int hex = n == 65 && buf[64] == '\n';
		for (size_t i = 0; hex && i < 64; i++)
			hex = strchr("0123456789abcdef", buf[i]) != NULL;
		if (f != NULL)
			fclose(f);
		CHECK(hex, "pseudonym.key is 64 hex digits and a newline");
	}
done:
	EVP_PKEY_free(ed);
	EVP_PKEY_free(tok);
}

/* Writes text into the file name of the temporary folder with mode; its path. */
static const char *
put(const char *name, const char *text, mode_t mode)
{
	const char *path = at(name);
	FILE *f = fopen(path, "w");

	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
	chmod(path, mode);
	return path;
}

/* Why a host is refused: pki_host_problem's reason for each rule, in agreement with
 * pki_host_kind. */
static void
test_host_problems(void)
{
	static const struct {
		const char *s;
		const char *why; /* NULL: accepted */
	} rows[] = {
	    {"gw.example.org", NULL},
	    {"192.0.2.10", NULL},
	    {"2001:db8::1", NULL},
	    {"", "empty"},
	    {"Gw.example.org", "lower case"},
	    {"gw.example.org.", "ends in a dot"},
	    {".example.org", "empty label"},
	    {"a..b", "empty label"},
	    {"-a.example", "begins with '-'"},
	    {"a-.example", "ends with '-'"},
	    {"*.example.org", "wildcard"},
	    {"a_b.example", "a-z, 0-9"},
	    {"a,DNS:evil.example", "a-z, 0-9"},
	    {"999.1.1.1", "all digits"},
	    {"fe80::1%eth0", "a-z, 0-9"},
	    {"0.0.0.0", "unspecified"},
	    {"::", "unspecified"},
	    {"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd.example",
	     "longer than 63"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *why = pki_host_problem(rows[i].s);
		if (rows[i].why == NULL)
			CHECK(why == NULL && pki_host_kind(rows[i].s) != PKI_HOST_BAD,
			      "'%s' refused: %s", rows[i].s, why);
		else
			CHECK(why != NULL && strstr(why, rows[i].why) != NULL &&
			          pki_host_kind(rows[i].s) == PKI_HOST_BAD,
			      "'%s': '%s', want '%s'", rows[i].s, why ? why : "accepted",
			      rows[i].why);
	}
	CHECK(pki_host_problem(NULL) != NULL, "NULL");
}

/* pki_issue_server: the certificate in memory, as pki_make_server writes it. */
static void
test_server(X509 *vca, EVP_PKEY *vkey, X509 *pca)
{
	static const char *const hosts[] = {"gw.example.org", "localhost", "192.0.2.10",
	                                    "2001:db8::1"};
	static const char *const dup[] = {"gw.example.org", "gw.example.org"};
	static const char *const dup_ip[] = {"2001:db8::1", "2001:DB8:0::1"};
	static const char *const bad[] = {"gw.example.org", "Bad.example"};
	char err[256], text[512];
	EVP_PKEY *key = pki_key_ec();
	X509 *x =
	    pki_issue_server(key, "gw.example.org", hosts, 4, vca, vkey, 90, err, sizeof(err));
	int crit = -1;

	CHECK(x != NULL, "server certificate: %s", err);
	if (x != NULL) {
		CHECK(pki_san_text(x, text, sizeof(text)) == 0 &&
		          strcmp(text, "gw.example.org,localhost,192.0.2.10,2001:db8::1") == 0,
		      "SANs in order: %s", text);
		CHECK(strcmp(common_name(x), "gw.example.org") == 0, "CN");
		CHECK(verify(x, vca, NULL, X509_PURPOSE_SSL_SERVER) == X509_V_OK,
		      "verifies as a TLS server");
		CHECK(verify(x, vca, NULL, X509_PURPOSE_SSL_CLIENT) != X509_V_OK,
		      "is no TLS client certificate");
		CHECK(X509_check_host(x, "other.example.org", 0, 0, NULL) != 1 &&
		          X509_check_ip_asc(x, "2001:db8:0:0::1", 0) == 1,
		      "host and address checks");
		GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
		GENERAL_NAMES_free(g);
		CHECK(crit == 0, "SAN not critical: there is a CN");
		CHECK(pki_uri_id(x, "urn:pdgate:partner:", text) < 0,
		      "a server certificate names no partner");
	}
	X509_free(x);
	const struct {
		const char *const *hosts;
		size_t n;
		const char *why;
	} refused[] = {
	    {hosts, 0, "1..32 hosts"},
	    {dup, 2, "named twice"},
	    {dup_ip, 2, "named twice"},
	    {bad, 2, "'Bad.example': upper-case"},
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		x = pki_issue_server(key, "x", refused[i].hosts, refused[i].n, vca, vkey, 30, err,
		                     sizeof(err));
		CHECK(x == NULL && strstr(err, refused[i].why) != NULL, "refused %zu: %s", i, err);
		X509_free(x);
	}
	CHECK(pki_issue_server(key, "x", hosts, 1, pca, vkey, 30, err, sizeof(err)) == NULL,
	      "a CA key that is not the CA's");
	/* The default names of pki_issue(PKI_PROFILE_SERVER): a demo installation's. */
	x = pki_issue(PKI_PROFILE_SERVER, "localhost", key, vca, vkey, 30, err, sizeof(err));
	CHECK(x != NULL && pki_san_text(x, text, sizeof(text)) == 0 &&
	          strcmp(text, "localhost,127.0.0.1,::1") == 0,
	      "default server names: %s", x ? text : err);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void
test_p12(X509 *pca, EVP_PKEY *pkey)
{
	char err[256], id[PKI_NAME_LEN], serial[PKI_SERIAL_HEX_LEN];
	EVP_PKEY *key = pki_key_ec(), *got_key = NULL;
	X509 *cert =
	    pki_issue(PKI_PROFILE_PARTNER, "java-co", key, pca, pkey, 30, err, sizeof(err));
	X509 *got = NULL;
	STACK_OF(X509) *cas = NULL;

	CHECK(cert != NULL, "java-co: %s", err);
	if (cert == NULL)
		goto done;
	CHECK(pki_uri_id(cert, "urn:pdgate:partner:", id) == 0 && strcmp(id, "java-co") == 0,
	      "pki_uri_id");
	CHECK(pki_uri_id(cert, "urn:pdgate:staff:", id) < 0 && id[0] == '\0',
	      "no staff id in a partner certificate");
	CHECK(pki_serial_hex(cert, serial) == 0 && strlen(serial) >= 30, "serial %s", serial);
	CHECK(pki_p12_write(at("java.p12"), cert, key, pca, "java-co", "correct horse battery", err,
	                    sizeof(err)) == 0,
	      "p12: %s", err);
	CHECK(mode_of(at("java.p12")) == 0600, "p12 mode 0600");
	CHECK(pki_p12_write(at("java.p12"), cert, key, pca, "java-co", "x", err, sizeof(err)) < 0,
	      "not over an existing file");

	FILE *f = fopen(at("java.p12"), "rb");
	PKCS12 *p12 = f != NULL ? d2i_PKCS12_fp(f, NULL) : NULL;
	if (f != NULL)
		fclose(f);
	CHECK(p12 != NULL, "p12 parses");
	if (p12 != NULL) {
		const X509_ALGOR *macalg = NULL;
		const ASN1_OBJECT *obj = NULL;
		PKCS12_get0_mac(NULL, &macalg, NULL, NULL, p12);
		if (macalg != NULL)
			X509_ALGOR_get0(&obj, NULL, NULL, macalg);
		CHECK(obj != NULL && OBJ_obj2nid(obj) == NID_sha256, "SHA-256 MAC");
		CHECK(PKCS12_verify_mac(p12, "wrong passphrase", -1) != 1,
		      "a wrong passphrase fails");
		CHECK(PKCS12_parse(p12, "correct horse battery", &got_key, &got, &cas) == 1 &&
		          got != NULL && X509_cmp(got, cert) == 0 && got_key != NULL &&
		          EVP_PKEY_eq(got_key, key) == 1 && sk_X509_num(cas) == 1 &&
		          X509_cmp(sk_X509_value(cas, 0), pca) == 0,
		      "opens with the passphrase: key, certificate and CA");
		PKCS12_free(p12);
	}
	ERR_clear_error();
done:
	sk_X509_pop_free(cas, X509_free);
	X509_free(got);
	EVP_PKEY_free(got_key);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void
test_passphrase(void)
{
	static const struct {
		const char *name, *text;
		mode_t mode;
		const char *want; /* NULL: refused, why says */
		const char *why;
	} cases[] = {
	    {"pp-ok", "correct horse battery\n", 0600, "correct horse battery", NULL},
	    {"pp-crlf", "correct horse\r\nsecond line\n", 0600, "correct horse", NULL},
	    {"pp-no-newline", "12345678", 0400, "12345678", NULL},
	    {"pp-spaces", " a b c d e \n", 0600, " a b c d e ", NULL},
	    {"pp-short", "1234567\n", 0600, NULL, "8 to 1024"},
	    {"pp-empty-line", "\nsecret-on-line-two\n", 0600, NULL, "8 to 1024"},
	    {"pp-empty", "", 0600, NULL, "8 to 1024"},
	    {"pp-mode", "correct horse battery\n", 0644, NULL, "chmod 600"},
	    {"pp-utf8", "\xe3\x83\x91\xe3\x82\xb9\xe3\x83\xaf\xe3\x83\xbc\xe3\x83\x89\n", 0600,
	     NULL, "printable ASCII"},
	    {"pp-tab", "correct\thorse\n", 0600, NULL, "printable ASCII"},
	};
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = put(cases[i].name, cases[i].text, cases[i].mode);
		char *got = pki_passphrase_read(path, err, sizeof(err));
		if (cases[i].want != NULL)
			CHECK(got != NULL && strcmp(got, cases[i].want) == 0, "%s: %s",
			      cases[i].name, got ? got : err);
		else
			CHECK(got == NULL && strstr(err, cases[i].why) != NULL, "%s refused: %s",
			      cases[i].name, got ? got : err);
		free(got);
	}
	char *longer = malloc(PKI_PASSPHRASE_MAX + 3);
	memset(longer, 'a', PKI_PASSPHRASE_MAX + 1);
	longer[PKI_PASSPHRASE_MAX + 1] = '\n';
	longer[PKI_PASSPHRASE_MAX + 2] = '\0';
	char *got = pki_passphrase_read(put("pp-long", longer, 0600), err, sizeof(err));
	CHECK(got == NULL && strstr(err, "8 to 1024") != NULL, "1025 characters: %s", err);
	free(got);
	longer[PKI_PASSPHRASE_MAX] = '\n';
	longer[PKI_PASSPHRASE_MAX + 1] = '\0';
	got = pki_passphrase_read(put("pp-max", longer, 0600), err, sizeof(err));
	CHECK(got != NULL && strlen(got) == PKI_PASSPHRASE_MAX, "1024 characters: %s", err);
	free(got);
	free(longer);
}

/* The host names a server certificate may carry: one row per rule of pki_host_kind. */
static void
test_hosts(void)
{
	static const struct {
		const char *s;
		enum pki_host kind;
	} rows[] = {
	    {"gateway.example.org", PKI_HOST_DNS},
	    {"gw", PKI_HOST_DNS},
	    {"a-1.b2.example", PKI_HOST_DNS},
	    {"xn--r8jz45g.jp", PKI_HOST_DNS},
	    {"192.0.2.10", PKI_HOST_IP},
	    {"2001:db8::10", PKI_HOST_IP},
	    {"::1", PKI_HOST_IP},
	    {"", PKI_HOST_BAD},
	    {"Gateway.example.org", PKI_HOST_BAD},  /* upper case */
	    {"*.example.org", PKI_HOST_BAD},        /* a wildcard */
	    {"gateway.example.org.", PKI_HOST_BAD}, /* a trailing dot */
	    {".example.org", PKI_HOST_BAD},         /* an empty label */
	    {"a..b", PKI_HOST_BAD},
	    {"-gw.example.org", PKI_HOST_BAD}, /* a hyphen first */
	    {"gw-.example.org", PKI_HOST_BAD}, /* a hyphen last */
	    {"gw_1.example.org", PKI_HOST_BAD},
	    {"gw.example.org,DNS:evil.example", PKI_HOST_BAD}, /* a second name smuggled in */
	    {"gw example.org", PKI_HOST_BAD},
	    {"999.1.1.1", PKI_HOST_BAD}, /* a mistyped address, not a name */
	    {"10.0.0", PKI_HOST_BAD},
	    {"fe80::1%eth0", PKI_HOST_BAD}, /* a zone */
	    {"[::1]", PKI_HOST_BAD},
	    {"gw.example.org:8443", PKI_HOST_BAD},
	    {"\xe3\x81\x82.jp", PKI_HOST_BAD}, /* not IDNA-encoded */
	};
	char label[70], name[300];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(pki_host_kind(rows[i].s) == rows[i].kind, "'%s': kind %d", rows[i].s,
		      (int)pki_host_kind(rows[i].s));
	CHECK(pki_host_kind(NULL) == PKI_HOST_BAD, "NULL");
	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(name, sizeof(name), "%s.example", label);
	CHECK(pki_host_kind(name) == PKI_HOST_DNS, "a label of 63");
	snprintf(name, sizeof(name), "%sa.example", label);
	CHECK(pki_host_kind(name) == PKI_HOST_BAD, "a label of 64");
	snprintf(name, sizeof(name), "%s.%s.%s.%.61s", label, label, label, label);
	CHECK(strlen(name) == 253 && pki_host_kind(name) == PKI_HOST_DNS, "253 in all");
	strcat(name, "a");
	CHECK(pki_host_kind(name) == PKI_HOST_BAD, "254 in all");
}

/* A server certificate for named hosts: exactly those names, in order, as DNS and IP SANs. */
static void
test_server_hosts(X509 *vca, EVP_PKEY *vkey)
{
	static const char *const hosts[] = {"gateway.example.org", "192.0.2.10", "2001:db8::10"};
	static const char *const bad[] = {"gateway.example.org", "evil,DNS:x"};
	char err[256];
	X509 *x = NULL;
	GENERAL_NAMES *names = NULL;

	CHECK(pki_make_server(at("named"), "gateway.example.org", hosts, 3, vca, vkey,
	                      PKI_DAYS_SERVER, err, sizeof(err)) == 0,
	      "named server: %s", err);
	x = pki_cert_read(at("named.pem"), err, sizeof(err));
	CHECK(x != NULL && verify(x, vca, NULL, X509_PURPOSE_SSL_SERVER) == X509_V_OK,
	      "named server chain");
	if (x == NULL)
		goto done;
	CHECK(X509_check_host(x, "gateway.example.org", 0, 0, NULL) == 1 &&
	          X509_check_ip_asc(x, "192.0.2.10", 0) == 1 &&
	          X509_check_ip_asc(x, "2001:db8::10", 0) == 1,
	      "its names match");
	CHECK(X509_check_host(x, "localhost", 0, 0, NULL) != 1 &&
	          X509_check_ip_asc(x, "127.0.0.1", 0) != 1,
	      "and nothing else: no localhost");
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	CHECK(names != NULL && sk_GENERAL_NAME_num(names) == 3 &&
	          sk_GENERAL_NAME_value(names, 0)->type == GEN_DNS &&
	          sk_GENERAL_NAME_value(names, 1)->type == GEN_IPADD &&
	          ASN1_STRING_length(sk_GENERAL_NAME_value(names, 1)->d.iPAddress) == 4 &&
	          ASN1_STRING_length(sk_GENERAL_NAME_value(names, 2)->d.iPAddress) == 16,
	      "three names in the order given");
	CHECK(pki_make_server(at("named2"), "x", bad, 2, vca, vkey, 30, err, sizeof(err)) < 0 &&
	          access(at("named2.key"), F_OK) != 0,
	      "a bad host is refused and leaves nothing: %s", err);
	CHECK(pki_make_server(at("named3"), "x", hosts, 0, vca, vkey, 30, err, sizeof(err)) < 0,
	      "no host is refused");
done:
	GENERAL_NAMES_free(names);
	X509_free(x);
}

int
main(void)
{
	char err[256], fp[PKI_FINGERPRINT_LEN];
	X509 *pca = NULL, *sca = NULL, *vca = NULL;
	EVP_PKEY *pkey = NULL, *skey = NULL, *vkey = NULL;

	snprintf(dir, sizeof(dir), "/tmp/test_pki.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_hosts();

	CHECK(pki_make_ca(at("partner-ca"), "pdgate test partner CA", 1, &pca, &pkey, err,
	                  sizeof(err)) == 0,
	      "partner CA: %s", err);
	CHECK(pki_make_ca(at("staff-ca"), "pdgate test staff CA", 1, &sca, &skey, err,
	                  sizeof(err)) == 0,
	      "staff CA: %s", err);
	CHECK(pki_make_ca(at("server-ca"), "pdgate test server CA", 0, &vca, &vkey, err,
	                  sizeof(err)) == 0,
	      "server CA: %s", err);
	if (pca == NULL || sca == NULL || vca == NULL)
		goto done;
	CHECK(pki_make_ca(at("partner-ca"), "again", 1, NULL, NULL, err, sizeof(err)) < 0,
	      "an existing CA is not overwritten");
	CHECK(access(at("server-ca.crl"), F_OK) != 0, "no CRL when not asked for");
	test_names(pca, pkey);
	CHECK(mode_of(at("partner-ca.key")) == 0600 && mode_of(at("staff-ca.key")) == 0600 &&
	          mode_of(at("server-ca.key")) == 0600,
	      "CA keys mode 0600");

	CHECK(pki_make_leaf(at("partner"), PKI_PROFILE_PARTNER, "sakura-mail", pca, pkey,
	                    PKI_DAYS_CLIENT, fp, err, sizeof(err)) == 0,
	      "partner: %s", err);
	CHECK(strncmp(fp, "sha256:", 7) == 0 && strlen(fp) == 71, "leaf fingerprint %s", fp);
	CHECK(pki_make_leaf(at("partner2"), PKI_PROFILE_PARTNER, "tokei-lab", pca, pkey, 7, NULL,
	                    err, sizeof(err)) == 0,
	      "partner2: %s", err);
	CHECK(pki_make_leaf(at("partner3"), PKI_PROFILE_PARTNER, "midori-payroll", pca, pkey,
	                    PKI_DAYS_CLIENT, NULL, err, sizeof(err)) == 0,
	      "partner3: %s", err);
	CHECK(pki_make_leaf(at("staff"), PKI_PROFILE_STAFF, "officer", sca, skey, PKI_DAYS_CLIENT,
	                    NULL, err, sizeof(err)) == 0,
	      "staff: %s", err);
	CHECK(pki_make_leaf(at("server"), PKI_PROFILE_SERVER, "localhost", vca, vkey,
	                    PKI_DAYS_SERVER, NULL, err, sizeof(err)) == 0,
	      "server: %s", err);
	CHECK(mode_of(at("partner.key")) == 0600 && mode_of(at("staff.key")) == 0600 &&
	          mode_of(at("server.key")) == 0600,
	      "leaf keys mode 0600");
	CHECK(pki_make_leaf(at("partner"), PKI_PROFILE_PARTNER, "sakura-mail", pca, pkey, 30, NULL,
	                    err, sizeof(err)) < 0 &&
	          strstr(err, "exists") != NULL,
	      "an existing leaf is not overwritten: %s", err);
	CHECK(pki_make_leaf(at("toolong"), PKI_PROFILE_PARTNER, "x", pca, pkey, PKI_DAYS_CA + 1,
	                    NULL, err, sizeof(err)) < 0 &&
	          access(at("toolong.key"), F_OK) != 0,
	      "a leaf outliving its CA is refused and leaves nothing");
	CHECK(pki_make_leaf(at("bad"), PKI_PROFILE_STAFF, "Officer", sca, skey, 30, NULL, err,
	                    sizeof(err)) < 0 &&
	          access(at("bad.key"), F_OK) != 0,
	      "an invalid staff name leaves nothing");

	test_leaf_profiles(pca, sca, vca, pkey, skey);
	test_server_hosts(vca, vkey);
	test_crl(pca, pkey, sca, skey);
	test_keys();
	test_host_problems();
	test_server(vca, vkey, pca);
	test_p12(pca, pkey);
	test_passphrase();
done:
	X509_free(pca);
	X509_free(sca);
	X509_free(vca);
	EVP_PKEY_free(pkey);
	EVP_PKEY_free(skey);
	EVP_PKEY_free(vkey);
	nftw(dir, fixture_rm, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
