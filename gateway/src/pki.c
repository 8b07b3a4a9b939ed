/* pki — keys and certificates of a pdgate installation, made with the OpenSSL 3 API. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "codec.h"
#include "file.h"
#include "ident.h"
#include "pki.h"
#include "pki_crl.h"
#include "pki_file.h"

/*
 * Certificates start five minutes in the past: a peer whose clock runs a little behind the
 * issuing host must not see a freshly issued certificate as "not yet valid".
 */
#define BACKDATE_SECONDS 300

/* ---- keys ---- */

EVP_PKEY *
pki_key_ec(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

EVP_PKEY *
pki_key_ed25519(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

int
pki_key_write(const char *path, EVP_PKEY *key, char *err, size_t errlen)
{
	/* A secure-memory BIO is wiped when freed: the PEM of a private key is key material. */
	BIO *bio = BIO_new(BIO_s_secmem());
	int ok = bio != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1;

	return pki_file_bio(bio, ok, "encoding private key", path, 0600, 0, err, errlen);
}

int
pki_pub_write(const char *path, EVP_PKEY *key, char *err, size_t errlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ok = bio != NULL && PEM_write_bio_PUBKEY(bio, key) == 1;

	return pki_file_bio(bio, ok, "encoding public key", path, 0644, 0, err, errlen);
}

static void *
parse_key(const char *data, size_t len)
{
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	EVP_PKEY *key =
	    bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, pki_no_passphrase, NULL) : NULL;

	BIO_free(bio);
	return key;
}

EVP_PKEY *
pki_key_read(const char *path, char *err, size_t errlen)
{
	return pki_file_object(path, PKI_FILE_KEY_MAX, FILE_READ_SECRET, parse_key,
	                       "no PEM private key", err, errlen);
}

/* ---- certificates ---- */

/* PEM, or DER that is exactly one certificate with nothing trailing. */
static void *
parse_cert(const char *data, size_t len)
{
	X509 *cert = NULL;

	if (strstr(data, "-----BEGIN") != NULL) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);
		if (bio != NULL)
			cert = PEM_read_bio_X509(bio, NULL, pki_no_passphrase, NULL);
		BIO_free(bio);
	} else {
		const unsigned char *p = (const unsigned char *)data;
		cert = d2i_X509(NULL, &p, (long)len);
		if (cert != NULL && p != (const unsigned char *)data + len) {
			X509_free(cert);
			cert = NULL;
		}
	}
	return cert;
}

X509 *
pki_cert_read(const char *path, char *err, size_t errlen)
{
	return pki_file_object(path, PKI_FILE_CERT_MAX, 0, parse_cert, "not a certificate", err,
	                       errlen);
}

/* Writes the certificate as PEM into a new file (mode 0644, O_EXCL). 0 or -1. */
int
pki_cert_write(const char *path, X509 *cert, char *err, size_t errlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ok = bio != NULL && PEM_write_bio_X509(bio, cert) == 1;

	return pki_file_bio(bio, ok, "encoding certificate", path, 0644, 0, err, errlen);
}

/* A positive, non-zero serial of 128 random bits (RFC 5280 allows up to 20 octets). */
static int
set_random_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn = NULL;
	int rc = -1;

	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			goto done;
		BN_free(bn);
		bn = BN_bin2bn(b, sizeof(b), NULL);
		if (bn == NULL)
			goto done;
	} while (BN_is_zero(bn));
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto done;
	rc = 0;
done:
	BN_free(bn);
	return rc;
}

struct ext {
	int nid;
	const char *value;
};

/* The profiles, kept in step with certs/profiles.cnf. The client URI SAN is added per name. */
static const struct ext ext_ca[] = {
    {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
    {NID_key_usage, "critical,keyCertSign,cRLSign"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
    {NID_undef, NULL},
};
static const struct ext ext_server[] = {
    {NID_basic_constraints, "critical,CA:FALSE"},
    {NID_key_usage, "critical,digitalSignature"},
    {NID_ext_key_usage, "serverAuth"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
    {NID_undef, NULL},
};
/* The server's subjectAltName unless the caller names the hosts (pki_make_server). */
static const char *const default_hosts[] = {"localhost", "127.0.0.1", "::1"};
static const struct ext ext_client[] = {
    {NID_basic_constraints, "critical,CA:FALSE"},
    {NID_key_usage, "critical,digitalSignature"},
    {NID_ext_key_usage, "clientAuth"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
    {NID_undef, NULL},
};

static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (ex == NULL)
		return -1;
	ok = X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	return ok == 1 ? 0 : -1;
}

/*
 * The subjectAltName of hosts[0..n) (each passed pki_host_kind): dNSName or iPAddress, in the
 * order given. Built as values, not as an OpenSSL configuration string, so that no host can
 * spell a second name.
 */
static int
add_hosts(X509 *x, const char *const *hosts, size_t n)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	int rc = -1;

	if (names == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_STRING *v = NULL;
		unsigned char ip[16];
		int type;

		if (gn == NULL)
			goto done;
		if (inet_pton(AF_INET, hosts[i], ip) == 1 ||
		    inet_pton(AF_INET6, hosts[i], ip) == 1) {
			type = GEN_IPADD;
			v = ASN1_OCTET_STRING_new();
			if (v == NULL ||
			    !ASN1_OCTET_STRING_set(v, ip, strchr(hosts[i], ':') != NULL ? 16 : 4))
				goto bad;
		} else {
			type = GEN_DNS;
			v = ASN1_IA5STRING_new();
			if (v == NULL || !ASN1_STRING_set(v, hosts[i], (int)strlen(hosts[i])))
				goto bad;
		}
		GENERAL_NAME_set0_value(gn, type, v);
		if (sk_GENERAL_NAME_push(names, gn) <= 0) {
			GENERAL_NAME_free(gn);
			goto done;
		}
		continue;
	bad:
		ASN1_STRING_free(v);
		GENERAL_NAME_free(gn);
		goto done;
	}
	rc = X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1 ? 0 : -1;
done:
	GENERAL_NAMES_free(names);
	return rc;
}

/* Builds and signs a certificate; ca == NULL makes it self-signed by key. A server certificate
 * names hosts[0..nhosts) in its subjectAltName (nhosts 0: default_hosts). */
static X509 *
cert_build(enum pki_profile profile, const char *name, const char *const *hosts, size_t nhosts,
           EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, unsigned days, char *err, size_t errlen)
{
	const struct ext *exts;
	const char *urn = NULL;
	X509 *x = X509_new();
	X509_NAME *subject = X509_NAME_new();
	X509V3_CTX ctx;
	char san[128];

	if (x == NULL || subject == NULL)
		goto ossl_fail;
	switch (profile) {
	case PKI_PROFILE_CA:
		exts = ext_ca;
		break;
	case PKI_PROFILE_SERVER:
		exts = ext_server;
		break;
	case PKI_PROFILE_PARTNER:
		exts = ext_client;
		urn = "urn:pdgate:partner:";
		break;
	case PKI_PROFILE_STAFF:
		exts = ext_client;
		urn = "urn:pdgate:staff:";
		break;
	default:
		pki_seterr(err, errlen, "unknown certificate profile");
		goto fail;
	}
	if (X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x) < 0 ||
	    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)name,
	                               -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, ca != NULL ? X509_get_subject_name(ca) : subject) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		goto ossl_fail;

	memset(&ctx, 0, sizeof(ctx));
	X509V3_set_ctx(&ctx, ca != NULL ? ca : x, x, NULL, NULL, 0);
	X509V3_set_ctx_nodb(&ctx);
	for (const struct ext *e = exts; e->nid != NID_undef; e++)
		if (add_ext(x, &ctx, e->nid, e->value) < 0)
			goto ossl_fail;
	if (urn != NULL) {
		/* name passed ident_name_ok: no comma or colon can smuggle in another SAN. */
		snprintf(san, sizeof(san), "URI:%s%s", urn, name);
		if (add_ext(x, &ctx, NID_subject_alt_name, san) < 0)
			goto ossl_fail;
	}
	if (profile == PKI_PROFILE_SERVER &&
	    (nhosts > 0 ? add_hosts(x, hosts, nhosts)
	                : add_hosts(x, default_hosts,
	                            sizeof(default_hosts) / sizeof(default_hosts[0]))) < 0)
		goto ossl_fail;
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
		goto ossl_fail;
	X509_NAME_free(subject);
	return x;
ossl_fail:
	pki_ossl_err(err, errlen, "building certificate");
fail:
	X509_NAME_free(subject);
	X509_free(x);
	return NULL;
}

/* A self-signed CA certificate "CN=<cn>" for key, valid `days` days. Caller frees (X509_free). */
X509 *
pki_ca_new(const char *cn, EVP_PKEY *key, unsigned days, char *err, size_t errlen)
{
	if (cn == NULL || cn[0] == '\0' || strlen(cn) > 64) {
		pki_seterr(err, errlen, "CA name must be 1..64 characters");
		return NULL;
	}
	if (!pki_days_ok(days, err, errlen))
		return NULL;
	return cert_build(PKI_PROFILE_CA, cn, NULL, 0, key, NULL, key, days, err, errlen);
}

static size_t host_address(const char *s, unsigned char ip[16]);

static X509 *
issue(enum pki_profile profile, const char *name, const char *const *hosts, size_t nhosts,
      EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, unsigned days, char *err, size_t errlen)
{
	X509 *x;

	if (profile == PKI_PROFILE_CA) {
		pki_seterr(err, errlen, "pki_issue makes leaf certificates only");
		return NULL;
	}
	if (profile == PKI_PROFILE_SERVER ? (name == NULL || name[0] == '\0' || strlen(name) > 64)
	                                  : name == NULL || !ident_name_ok(name, strlen(name))) {
		pki_seterr(err, errlen, "'%s': a name must match " IDENT_NAME_PATTERN,
		           name != NULL ? name : "");
		return NULL;
	}
	if (!pki_days_ok(days, err, errlen))
		return NULL;
	if (X509_check_ca(ca) < 1) {
		pki_seterr(err, errlen, "the issuing certificate is not a CA");
		return NULL;
	}
	if (X509_check_private_key(ca, ca_key) != 1) {
		pki_ossl_err(err, errlen, "the CA key does not belong to the CA certificate");
		return NULL;
	}
	for (size_t i = 0; i < nhosts; i++) {
		const char *why = pki_host_problem(hosts[i]);
		unsigned char a[16], b[16];
		size_t alen = 0;
		if (why != NULL) {
			pki_seterr(err, errlen, "'%s': %s", hosts[i] != NULL ? hosts[i] : "", why);
			return NULL;
		}
		alen = host_address(hosts[i], a);
		for (size_t k = 0; k < i; k++)
			if (strcmp(hosts[k], hosts[i]) == 0 ||
			    (alen > 0 && host_address(hosts[k], b) == alen &&
			     memcmp(a, b, alen) == 0)) {
				pki_seterr(err, errlen, "'%s' is named twice", hosts[i]);
				return NULL;
			}
	}
	x = cert_build(profile, name, hosts, nhosts, key, ca, ca_key, days, err, errlen);
	/* A leaf that outlives its CA would stop verifying before its own notAfter. */
	if (x != NULL && ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca)) > 0) {
		pki_seterr(err, errlen, "a certificate for %u days would outlive its CA", days);
		X509_free(x);
		return NULL;
	}
	return x;
}

X509 *
pki_issue(enum pki_profile profile, const char *name, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key,
          unsigned days, char *err, size_t errlen)
{
	return issue(profile, name, NULL, 0, key, ca, ca_key, days, err, errlen);
}

/* "prefix" + "suffix" into out; -1 with err if it does not fit. */
static int
path_join(char *out, size_t n, const char *prefix, const char *suffix, char *err, size_t errlen)
{
	if (snprintf(out, n, "%s%s", prefix, suffix) >= (int)n) {
		pki_seterr(err, errlen, "%s%s: path too long", prefix, suffix);
		return -1;
	}
	return 0;
}

int
pki_make_ca(const char *prefix, const char *cn, int with_crl, X509 **ca_out, EVP_PKEY **key_out,
            char *err, size_t errlen)
{
	char kpath[PATH_MAX], cpath[PATH_MAX], lpath[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;
	int made = 0; /* files created so far, in the order key, cert, CRL */

	if (path_join(kpath, sizeof(kpath), prefix, ".key", err, errlen) < 0 ||
	    path_join(cpath, sizeof(cpath), prefix, ".pem", err, errlen) < 0 ||
	    path_join(lpath, sizeof(lpath), prefix, ".crl", err, errlen) < 0)
		return -1;
	key = pki_key_ec();
	if (key == NULL) {
		pki_ossl_err(err, errlen, "generating the CA key");
		goto fail;
	}
	ca = pki_ca_new(cn, key, PKI_DAYS_CA, err, errlen);
	if (ca == NULL)
		goto fail;
	if (pki_key_write(kpath, key, err, errlen) < 0)
		goto fail;
	made++;
	if (pki_cert_write(cpath, ca, err, errlen) < 0)
		goto fail;
	made++;
	if (with_crl && pki_crl_create(lpath, ca, key, PKI_DAYS_CRL, err, errlen) < 0)
		goto fail;
	if (ca_out != NULL)
		*ca_out = ca;
	else
		X509_free(ca);
	if (key_out != NULL)
		*key_out = key;
	else
		EVP_PKEY_free(key);
	return 0;
fail:
	if (made >= 2)
		unlink(cpath);
	if (made >= 1)
		unlink(kpath);
	X509_free(ca);
	EVP_PKEY_free(key);
	return -1;
}

static int
make_leaf(const char *prefix, enum pki_profile profile, const char *name, const char *const *hosts,
          size_t nhosts, X509 *ca, EVP_PKEY *ca_key, unsigned days,
          char fingerprint[PKI_FINGERPRINT_LEN], char *err, size_t errlen)
{
	char kpath[PATH_MAX], cpath[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct stat st;
	int rc = -1;

	if (path_join(kpath, sizeof(kpath), prefix, ".key", err, errlen) < 0 ||
	    path_join(cpath, sizeof(cpath), prefix, ".pem", err, errlen) < 0)
		return -1;
	/* Checked before any work; pki_leaf_write's O_EXCL creates are what guarantee it. */
	if (lstat(cpath, &st) == 0 || lstat(kpath, &st) == 0) {
		pki_seterr(err, errlen, "%s.pem or %s.key already exists; not overwriting", prefix,
		           prefix);
		return -1;
	}
	key = pki_key_ec();
	if (key == NULL) {
		pki_ossl_err(err, errlen, "generating a key");
		goto done;
	}
	cert = issue(profile, name, hosts, nhosts, key, ca, ca_key, days, err, errlen);
	if (cert == NULL)
		goto done;
	if (fingerprint != NULL && pki_fingerprint(cert, fingerprint) < 0) {
		pki_seterr(err, errlen, "computing the fingerprint");
		goto done;
	}
	rc = pki_leaf_write(prefix, cert, key, err, errlen);
done:
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int
pki_leaf_write(const char *prefix, X509 *cert, EVP_PKEY *key, char *err, size_t errlen)
{
	char kpath[PATH_MAX], cpath[PATH_MAX];

	if (path_join(kpath, sizeof(kpath), prefix, ".key", err, errlen) < 0 ||
	    path_join(cpath, sizeof(cpath), prefix, ".pem", err, errlen) < 0)
		return -1;
	if (key != NULL && pki_key_write(kpath, key, err, errlen) < 0)
		return -1;
	if (pki_cert_write(cpath, cert, err, errlen) < 0) {
		if (key != NULL)
			unlink(kpath);
		return -1;
	}
	return 0;
}

int
pki_make_leaf(const char *prefix, enum pki_profile profile, const char *name, X509 *ca,
              EVP_PKEY *ca_key, unsigned days, char fingerprint[PKI_FINGERPRINT_LEN], char *err,
              size_t errlen)
{
	return make_leaf(prefix, profile, name, NULL, 0, ca, ca_key, days, fingerprint, err,
	                 errlen);
}

static int
hosts_count_ok(size_t nhosts, char *err, size_t errlen)
{
	if (nhosts == 0 || nhosts > PKI_MAX_HOSTS) {
		pki_seterr(err, errlen, "a server certificate names 1..%d hosts", PKI_MAX_HOSTS);
		return 0;
	}
	return 1;
}

int
pki_make_server(const char *prefix, const char *cn, const char *const *hosts, size_t nhosts,
                X509 *ca, EVP_PKEY *ca_key, unsigned days, char *err, size_t errlen)
{
	if (!hosts_count_ok(nhosts, err, errlen))
		return -1;
	return make_leaf(prefix, PKI_PROFILE_SERVER, cn, hosts, nhosts, ca, ca_key, days, NULL, err,
	                 errlen);
}

X509 *
pki_issue_server(EVP_PKEY *key, const char *cn, const char *const *hosts, size_t nhosts, X509 *ca,
                 EVP_PKEY *ca_key, unsigned days, char *err, size_t errlen)
{
	if (!hosts_count_ok(nhosts, err, errlen))
		return NULL;
	return issue(PKI_PROFILE_SERVER, cn, hosts, nhosts, key, ca, ca_key, days, err, errlen);
}

/* ---- host names ---- */

/*
 * A DNS name as RFC 1123 spells a host: dot-separated labels of letters, digits and hyphens,
 * 1..63 each, no hyphen first or last, 253 in all, lower case (a certificate's names compare
 * case-blind, but a file that spells one name one way is easier to read and to check), and a last
 * label that is not all digits (that is a mistyped IPv4 address, never a name). No wildcard, no
 * trailing dot: the certificate names exactly the hosts partners connect to. NULL if s is one,
 * else why not.
 */
static const char *
dns_name_problem(const char *s)
{
	size_t n = strlen(s), label = 0;
	int digits_only = 1;

	if (n < 1)
		return "an empty host name";
	if (n > 253)
		return "longer than 253 characters";
	if (strchr(s, '*') != NULL)
		return "a wildcard: a server certificate names each host";
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0)
				return c == '\0' && i > 0
				           ? "ends in a dot: give the name without it"
				           : "an empty label (a dot first, or two in a row)";
			if (s[i - 1] == '-')
				return "a label ends with '-'";
			if (c == '\0')
				break;
			label = 0;
			digits_only = 1;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			return "upper-case letters: write host names in lower case";
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return "a character other than a-z, 0-9, '-' and '.'";
		if (c == '-' && label == 0)
			return "a label begins with '-'";
		if (++label > 63)
			return "a label longer than 63 characters";
		digits_only &= c >= '0' && c <= '9';
	}
	if (digits_only)
		return "the last label is all digits: neither a host name nor an IP address";
	return NULL;
}

/* The address of s as inet_pton(3) reads it into ip (16 bytes), and its length; 0 if none. */
static size_t
host_address(const char *s, unsigned char ip[16])
{
	if (inet_pton(AF_INET, s, ip) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, ip) == 1)
		return 16;
	return 0;
}

const char *
pki_host_problem(const char *s)
{
	static const unsigned char zero[16];
	unsigned char ip[16];
	size_t n;

	if (s == NULL)
		return "no host";
	if ((n = host_address(s, ip)) > 0)
		return memcmp(ip, zero, n) == 0 ? "the unspecified address names no server" : NULL;
	return dns_name_problem(s);
}

enum pki_host
pki_host_kind(const char *s)
{
	unsigned char ip[16];

	if (pki_host_problem(s) != NULL)
		return PKI_HOST_BAD;
	return host_address(s, ip) > 0 ? PKI_HOST_IP : PKI_HOST_DNS;
}

/* ---- fingerprints, verifier keys, secrets ---- */

/* Hex of SHA-256 of the DER certificate, lowercase, into hex (65 bytes). 0 or -1. */
static int
pki_fingerprint_hex(X509 *cert, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32)
		return -1;
	codec_hex_encode(md, n, hex);
	return 0;
}

int
pki_fingerprint(X509 *cert, char out[PKI_FINGERPRINT_LEN])
{
	memcpy(out, "sha256:", 7);
	return pki_fingerprint_hex(cert, out + 7);
}

/*
 * The C2SP signed-note verifier key of an Ed25519 key: "<name>+<8 hex key id>+<base64(0x01 ||
 * public key)>", key id = first 4 bytes of SHA-256(name || "\n" || 0x01 || public key).
 * name must be printable ASCII without spaces or '+'. Returns the line without a newline
 * (caller frees), or NULL.
 */
static char *
pki_vkey(const char *name, EVP_PKEY *key)
{
	unsigned char pub[1 + 32], md[32];
	char b64[CODEC_B64_LEN(sizeof(pub)) + 1];
	size_t publen = 32, n;
	EVP_MD_CTX *h = NULL;
	char *out = NULL;
	uint32_t id;

	if (name == NULL || key == NULL || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519)
		return NULL;
	n = strlen(name);
	if (n == 0 || n > 255)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (name[i] <= 0x20 || name[i] >= 0x7f || name[i] == '+')
			return NULL;
	pub[0] = 0x01; /* C2SP signed-note: signature type of Ed25519 */
	if (EVP_PKEY_get_raw_public_key(key, pub + 1, &publen) != 1 || publen != 32)
		goto done;
	h = EVP_MD_CTX_new();
	if (h == NULL || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(h, name, n) != 1 || EVP_DigestUpdate(h, "\n", 1) != 1 ||
	    EVP_DigestUpdate(h, pub, sizeof(pub)) != 1 || EVP_DigestFinal_ex(h, md, NULL) != 1)
		goto done;
	id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
	codec_b64_encode(pub, sizeof(pub), b64);
	if (asprintf(&out, "%s+%08x+%s", name, id, b64) < 0)
		out = NULL;
done:
	ERR_clear_error();
	EVP_MD_CTX_free(h);
	return out;
}

int
pki_vkey_write(const char *path, const char *name, EVP_PKEY *key, char *err, size_t errlen)
{
	char *line = pki_vkey(name, key), *text = NULL;
	int rc = -1;

	if (line == NULL) {
		pki_seterr(err, errlen, "cannot make a verifier key for name '%s'", name);
		return -1;
	}
	if (asprintf(&text, "%s\n", line) < 0) {
		pki_seterr(err, errlen, "out of memory");
		goto done;
	}
	rc = pki_file_new(path, 0644, text, strlen(text), err, errlen);
done:
	free(text);
	free(line);
	return rc;
}

int
pki_secret_write(const char *path, char *err, size_t errlen)
{
	unsigned char secret[32];
	char hex[65 + 1];
	int rc = -1;

	if (RAND_priv_bytes(secret, sizeof(secret)) != 1) {
		pki_ossl_err(err, errlen, "random bytes");
		goto done;
	}
	codec_hex_encode(secret, sizeof(secret), hex);
	hex[64] = '\n';
	hex[65] = '\0';
	rc = pki_file_new(path, 0600, hex, 65, err, errlen);
done:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(hex, sizeof(hex));
	return rc;
}

/* ---- what a certificate says ---- */

int
pki_serial_hex(X509 *cert, char out[PKI_SERIAL_HEX_LEN])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	int rc = -1;

	if (hex != NULL && strlen(hex) < PKI_SERIAL_HEX_LEN) {
		memcpy(out, hex, strlen(hex) + 1);
		rc = 0;
	}
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

int
pki_uri_id(X509 *cert, const char *prefix, char out[PKI_NAME_LEN])
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	size_t plen = strlen(prefix);
	int count = 0;

	out[0] = '\0';
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type != GEN_URI)
			continue;
		const char *u = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		size_t ulen = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if (ulen <= plen || memcmp(u, prefix, plen) != 0)
			continue;
		if (++count == 1 && ulen - plen < PKI_NAME_LEN &&
		    memchr(u + plen, '\0', ulen - plen) == NULL) {
			memcpy(out, u + plen, ulen - plen);
			out[ulen - plen] = '\0';
		}
	}
	GENERAL_NAMES_free(names);
	ERR_clear_error();
	if (count != 1 || !ident_name_ok(out, strlen(out))) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
pki_san_text(X509 *cert, char *out, size_t outlen)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	size_t used = 0;
	int rc = 0, any = 0;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	for (int i = 0; rc == 0 && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		char ip[INET6_ADDRSTRLEN], text[256];
		const unsigned char *d;
		int len;
		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			len = ASN1_STRING_length(g->d.dNSName);
			if (len <= 0 || len >= (int)sizeof(text) || memchr(d, '\0', (size_t)len)) {
				rc = -1;
				break;
			}
			memcpy(text, d, (size_t)len);
			text[len] = '\0';
		} else if (g->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			len = ASN1_STRING_length(g->d.iPAddress);
			if ((len != 4 && len != 16) ||
			    inet_ntop(len == 4 ? AF_INET : AF_INET6, d, ip, sizeof(ip)) == NULL) {
				rc = -1;
				break;
			}
			snprintf(text, sizeof(text), "%s", ip);
		} else {
			continue;
		}
		int w = snprintf(out + used, outlen - used, "%s%s", any ? "," : "", text);
		if (w < 0 || (size_t)w >= outlen - used)
			rc = -1;
		else
			used += (size_t)w;
		any = 1;
	}
	GENERAL_NAMES_free(names);
	ERR_clear_error();
	if (rc < 0 || !any) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
pki_time_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}
