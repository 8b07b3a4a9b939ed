/* test_tlsauth — every verdict of tlsauth_verify on certificates made here with the OpenSSL API. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "tlsauth.h"

#define DAY (24L * 3600)

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

/*
 * A certificate. issuer NULL: self-signed CA. san, eku NULL: extension left out. Validity from
 * now+from_days to now+to_days.
 */
static X509 *
make_cert(const char *cn, long serial, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
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
	X509_gmtime_adj(X509_getm_notBefore(x), from_days * DAY);
	X509_gmtime_adj(X509_getm_notAfter(x), to_days * DAY);
	X509_set_pubkey(x, key);
	X509 *signer = issuer != NULL ? issuer : x;
	add_ext(x, signer, NID_subject_key_identifier, "hash");
	add_ext(x, signer, NID_authority_key_identifier, "keyid:always");
	if (is_ca) {
		add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, signer, NID_key_usage, "critical,digitalSignature");
	}
	if (san != NULL)
		add_ext(x, signer, NID_subject_alt_name, san);
	if (eku != NULL)
		add_ext(x, signer, NID_ext_key_usage, eku);
	EVP_PKEY *signer_key = issuer_key != NULL ? issuer_key : key;
	/* Ed25519 signs the message itself: no separate digest */
	if (!X509_sign(x, signer_key,
	               EVP_PKEY_get_id(signer_key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()))
		abort();
	return x;
}

/* The same certificate signed again by issuer_key with md: the digest of its signature. */
static X509 *
resign(X509 *x, EVP_PKEY *issuer_key, const EVP_MD *md)
{
	if (!X509_sign(x, issuer_key, md))
		abort();
	return x;
}

static X509_CRL *
make_crl(X509 *ca, EVP_PKEY *ca_key, const long *revoked, int nrevoked, long last_days,
         long next_days)
{
	X509_CRL *crl = X509_CRL_new();
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	ASN1_TIME *t = X509_gmtime_adj(NULL, last_days * DAY);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_free(t);
	t = X509_gmtime_adj(NULL, next_days * DAY);
	X509_CRL_set1_nextUpdate(crl, t);
	ASN1_TIME_free(t);
	for (int i = 0; i < nrevoked; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *serial = ASN1_INTEGER_new();
		ASN1_INTEGER_set(serial, revoked[i]);
		X509_REVOKED_set_serialNumber(r, serial);
		ASN1_INTEGER_free(serial);
		t = X509_gmtime_adj(NULL, -DAY);
		X509_REVOKED_set_revocationDate(r, t);
		ASN1_TIME_free(t);
		X509_CRL_add0_revoked(crl, r);
	}
	X509_CRL_sort(crl);
	if (!X509_CRL_sign(crl, ca_key, EVP_sha256()))
		abort();
	return crl;
}

static char dir[64];

static char *
path(const char *name)
{
	static char buf[4][128];
	static int n;
	char *p = buf[n++ % 4];
	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

static void
write_cert(const char *name, X509 *x)
{
	FILE *f = fopen(path(name), "w");
	PEM_write_X509(f, x);
	fclose(f);
}

static void
write_crl(const char *name, X509_CRL *c)
{
	FILE *f = fopen(path(name), "w");
	PEM_write_X509_CRL(f, c);
	fclose(f);
}

static void
write_text(const char *name, const char *text)
{
	FILE *f = fopen(path(name), "w");
	fputs(text, f);
	fclose(f);
}

/* The gateway's reload of one store: load, then install. 0 or -1. */
static int
reload(struct tlsauth *t, char *err, size_t errlen)
{
	struct tlsauth_snapshot *s = tlsauth_load(t, err, errlen);

	if (s == NULL)
		return -1;
	tlsauth_install(t, s);
	return 0;
}

/* DER of a certificate; caller frees. */
static struct tlsauth_der
der(X509 *x)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);
	return (struct tlsauth_der){p, (size_t)n};
}

struct tcase {
	const char *name;
	X509 *leaf;
	X509 *intermediate; /* sent after the leaf, or NULL */
	enum apierr want;
	const char *want_msg; /* substring of the message */
	const char *want_id;
};

static void
run_case(struct tlsauth *t, const struct tcase *c)
{
	struct tlsauth_der chain[2];
	struct tlsauth_identity id;
	char err[256] = "";
	size_t n = 0;

	if (c->leaf != NULL)
		chain[n++] = der(c->leaf);
	if (c->intermediate != NULL)
		chain[n++] = der(c->intermediate);
	enum apierr got = tlsauth_verify(t, n ? chain : NULL, n, &id, err, sizeof err);
	if (getenv("VERBOSE") != NULL)
		printf("%-40s %s %s\n", c->name, apierr_code(got), err);
	CHECK(got == c->want, "%s: got %s (%s), want %s", c->name, apierr_code(got), err,
	      apierr_code(c->want));
	if (c->want_msg != NULL)
		CHECK(strstr(err, c->want_msg) != NULL, "%s: message '%s' lacks '%s'", c->name, err,
		      c->want_msg);
	if (c->want_id != NULL) {
		CHECK(strcmp(id.id, c->want_id) == 0, "%s: id '%s'", c->name, id.id);
		unsigned char md[32];
		unsigned int mdlen;
		char hex[65];
		EVP_Digest(chain[0].data, chain[0].len, md, &mdlen, EVP_sha256(), NULL);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		CHECK(memcmp(id.x5t, md, 32) == 0, "%s: x5t", c->name);
		CHECK(strcmp(id.fingerprint, hex) == 0, "%s: fingerprint %s", c->name,
		      id.fingerprint);
		CHECK(id.not_after > time(NULL) && id.recheck_at > time(NULL) &&
		          id.recheck_at <= id.not_after,
		      "%s: times %ld %ld", c->name, (long)id.not_after, (long)id.recheck_at);
		CHECK(id.generation == tlsauth_generation(t), "%s: generation", c->name);
	} else {
		CHECK(id.id[0] == '\0', "%s: identity left filled on failure", c->name);
	}
	for (size_t i = 0; i < n; i++)
		OPENSSL_free((void *)chain[i].data);
}

int
main(void)
{
	char err[256];
	const char *partner_san = "URI:urn:pdgate:partner:sakura-mail";
	const char *client = "clientAuth";

	snprintf(dir, sizeof dir, "/tmp/test_tlsauth.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;

	EVP_PKEY *ca_key = new_key(), *other_key = new_key(), *leaf_key = new_key();
	EVP_PKEY *inter_key = new_key();
	X509 *ca = make_cert("partner CA", 1, ca_key, NULL, NULL, NULL, NULL, -1, 3650, 1);
	X509 *other = make_cert("staff CA", 1, other_key, NULL, NULL, NULL, NULL, -1, 3650, 1);

	X509 *good =
	    make_cert("sakura-mail", 10, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0);
	X509 *both = make_cert("both", 11, leaf_key, ca, ca_key,
	                       "URI:urn:pdgate:partner:maison-partners,DNS:client.example",
	                       "serverAuth,clientAuth", -1, 365, 0);
	X509 *server_only =
	    make_cert("srv", 12, leaf_key, ca, ca_key, partner_san, "serverAuth", -1, 365, 0);
	X509 *no_eku = make_cert("noeku", 13, leaf_key, ca, ca_key, partner_san, NULL, -1, 365, 0);
	X509 *expired = make_cert("old", 14, leaf_key, ca, ca_key, partner_san, client, -30, -1, 0);
	X509 *future = make_cert("new", 15, leaf_key, ca, ca_key, partner_san, client, 2, 365, 0);
	X509 *foreign = make_cert("sakura-mail", 16, leaf_key, other, other_key, partner_san,
	                          client, -1, 365, 0);
	X509 *revoked =
	    make_cert("gone", 17, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0);
	X509 *two_sans =
	    make_cert("two", 18, leaf_key, ca, ca_key,
	              "URI:urn:pdgate:partner:a,URI:urn:pdgate:partner:b", client, -1, 365, 0);
	X509 *bad_id = make_cert("bad", 19, leaf_key, ca, ca_key, "URI:urn:pdgate:partner:Sakura",
	                         client, -1, 365, 0);
	X509 *dash_id = make_cert("bad", 20, leaf_key, ca, ca_key, "URI:urn:pdgate:partner:-x",
	                          client, -1, 365, 0);
	X509 *no_san = make_cert("nosan", 21, leaf_key, ca, ca_key, NULL, client, -1, 365, 0);
	X509 *staff = make_cert("officer", 22, leaf_key, ca, ca_key, "URI:urn:pdgate:staff:officer",
	                        client, -1, 365, 0);
	X509 *empty_id = make_cert("empty", 23, leaf_key, ca, ca_key,
	                           "URI:urn:pdgate:partner:", client, -1, 365, 0);
	X509 *inter = make_cert("intermediate", 24, inter_key, ca, ca_key, NULL, NULL, -1, 365, 1);
	X509 *under_inter =
	    make_cert("sub", 25, leaf_key, inter, inter_key, partner_san, client, -1, 365, 0);
	X509 *ca_as_leaf =
	    make_cert("ca-leaf", 26, leaf_key, ca, ca_key, partner_san, client, -1, 365, 1);
	/* Signature digests: SHA-256 or better only (SPEC 13). */
	X509 *sha1 =
	    resign(make_cert("sha1", 27, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0),
	           ca_key, EVP_sha1());
	X509 *sha224 =
	    resign(make_cert("sha224", 28, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0),
	           ca_key, EVP_sha224());
	X509 *sha384 =
	    resign(make_cert("sha384", 29, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0),
	           ca_key, EVP_sha384());
	X509 *inter224 =
	    resign(make_cert("intermediate", 31, inter_key, ca, ca_key, NULL, NULL, -1, 365, 1),
	           ca_key, EVP_sha224());
	X509 *inter1 =
	    resign(make_cert("intermediate", 32, inter_key, ca, ca_key, NULL, NULL, -1, 365, 1),
	           ca_key, EVP_sha1());
	X509 *staff_under_inter = make_cert("officer", 33, leaf_key, inter, inter_key,
	                                    "URI:urn:pdgate:staff:officer", client, -1, 365, 0);
	X509 *sha512 =
	    resign(make_cert("sha512", 30, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0),
	           ca_key, EVP_sha512());

	long revoked_serials[] = {17};
	X509_CRL *crl = make_crl(ca, ca_key, revoked_serials, 1, -1, 7);
	X509_CRL *stale = make_crl(ca, ca_key, NULL, 0, -10, -1);
	X509_CRL *other_crl = make_crl(other, other_key, NULL, 0, -1, 7);
	X509_CRL *empty_crl = make_crl(ca, ca_key, NULL, 0, -1, 7);

	write_cert("ca.pem", ca);
	write_crl("ca.crl", crl);

	struct tlsauth *t = tlsauth_new(path("ca.pem"), path("ca.crl"), TLSAUTH_PARTNER_PREFIX,
	                                "partner", err, sizeof err);
	CHECK(t != NULL, "tlsauth_new: %s", err);
	if (t == NULL)
		return check_done();
	CHECK(tlsauth_generation(t) == 1, "first generation");

	const struct tcase cases[] = {
	    {"good client", good, NULL, APIERR_NONE, NULL, "sakura-mail"},
	    {"serverAuth and clientAuth, extra SAN", both, NULL, APIERR_NONE, NULL,
	     "maison-partners"},
	    {"no certificate", NULL, NULL, APIERR_CLIENT_CERTIFICATE_REQUIRED, "no client", NULL},
	    {"serverAuth only", server_only, NULL, APIERR_CERTIFICATE_INVALID, "wrong purpose",
	     NULL},
	    {"no EKU", no_eku, NULL, APIERR_CERTIFICATE_INVALID, "no extended key usage", NULL},
	    {"expired", expired, NULL, APIERR_CERTIFICATE_INVALID, "expired", NULL},
	    {"not yet valid", future, NULL, APIERR_CERTIFICATE_INVALID, "not yet valid", NULL},
	    {"another CA", foreign, NULL, APIERR_CERTIFICATE_INVALID, "unknown CA", NULL},
	    {"another CA, its CA sent along", foreign, other, APIERR_CERTIFICATE_INVALID,
	     "unknown CA", NULL},
	    {"the CA itself", ca, NULL, APIERR_CERTIFICATE_INVALID, "wrong purpose", NULL},
	    {"revoked", revoked, NULL, APIERR_CERTIFICATE_INVALID, "revoked", NULL},
	    {"two partner SANs", two_sans, NULL, APIERR_CERTIFICATE_INVALID, "exactly one", NULL},
	    {"upper-case partner id", bad_id, NULL, APIERR_CERTIFICATE_INVALID, "does not match",
	     NULL},
	    {"partner id starting with a dash", dash_id, NULL, APIERR_CERTIFICATE_INVALID,
	     "does not match", NULL},
	    {"empty partner id", empty_id, NULL, APIERR_CERTIFICATE_INVALID, "does not match",
	     NULL},
	    {"no SAN", no_san, NULL, APIERR_CERTIFICATE_INVALID, "no partner URI SAN", NULL},
	    {"staff SAN on the partner listener", staff, NULL, APIERR_CERTIFICATE_INVALID,
	     "no partner URI SAN", NULL},
	    /* The CRL covers the partner CA only: a leaf under an intermediate has no CRL. */
	    {"leaf under an intermediate", under_inter, inter, APIERR_CERTIFICATE_INVALID,
	     "no CRL is loaded", NULL},
	    {"a CA certificate as leaf", ca_as_leaf, NULL, APIERR_CERTIFICATE_INVALID, NULL, NULL},
	    {"signed with SHA-1", sha1, NULL, APIERR_CERTIFICATE_INVALID,
	     "certificate is signed with SHA1: a digest of SHA-256 or better", NULL},
	    {"signed with SHA-224", sha224, NULL, APIERR_CERTIFICATE_INVALID,
	     "certificate is signed with SHA224: a digest of SHA-256 or better", NULL},
	    {"signed with SHA-384", sha384, NULL, APIERR_NONE, NULL, "sakura-mail"},
	    {"signed with SHA-512", sha512, NULL, APIERR_NONE, NULL, "sakura-mail"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(t, &cases[i]);

	/* Limits and malformed input. */
	struct tlsauth_identity id;
	struct tlsauth_der g = der(good);
	struct tlsauth_der five[5] = {g, g, g, g, g};
	CHECK(tlsauth_verify(t, five, 5, &id, err, sizeof err) == APIERR_CERTIFICATE_INVALID &&
	          strstr(err, "at most 4"),
	      "five certificates: %s", err);
	unsigned char *padded = malloc(g.len + 1);
	memcpy(padded, g.data, g.len);
	padded[g.len] = 0;
	struct tlsauth_der trailing = {padded, g.len + 1};
	CHECK(tlsauth_verify(t, &trailing, 1, &id, err, sizeof err) == APIERR_CERTIFICATE_INVALID,
	      "trailing byte accepted");
	struct tlsauth_der truncated = {g.data, g.len - 1};
	CHECK(tlsauth_verify(t, &truncated, 1, &id, err, sizeof err) == APIERR_CERTIFICATE_INVALID,
	      "truncated DER accepted");
	struct tlsauth_der huge = {padded, TLSAUTH_MAX_DER + 1};
	CHECK(tlsauth_verify(t, &huge, 1, &id, err, sizeof err) == APIERR_CERTIFICATE_INVALID &&
	          strstr(err, "bytes"),
	      "oversized DER: %s", err);
	struct tlsauth_der zero = {g.data, 0};
	CHECK(tlsauth_verify(t, &zero, 1, &id, err, sizeof err) == APIERR_CERTIFICATE_INVALID,
	      "empty DER accepted");
	free(padded);

	/* Reload, all or nothing. */
	const struct {
		const char *name;
		const char *text; /* written to ca.crl as is, or NULL */
		X509_CRL *crl;    /* else this CRL */
	} broken[] = {
	    {"garbage", "not a CRL\n", NULL},
	    {"empty file", "", NULL},
	    {"truncated PEM", "-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n", NULL},
	    {"CRL of another CA", NULL, other_crl},
	};
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
		if (broken[i].text != NULL)
			write_text("ca.crl", broken[i].text);
		else
			write_crl("ca.crl", broken[i].crl);
		err[0] = '\0';
		CHECK(reload(t, err, sizeof err) == -1 && err[0] != '\0',
		      "reload with %s succeeded", broken[i].name);
		CHECK(tlsauth_generation(t) == 1, "%s: generation moved", broken[i].name);
		run_case(t, &cases[0]);
		run_case(t, &(struct tcase){"still revoked", revoked, NULL,
		                            APIERR_CERTIFICATE_INVALID, "revoked", NULL});
	}
	write_crl("ca.crl", crl);
	unlink(path("ca.pem"));
	CHECK(reload(t, err, sizeof err) == -1 && strstr(err, "ca.pem"),
	      "reload without CA file: %s", err);
	write_cert("ca.pem", ca);

	/* A new CRL that revokes nothing: loaded but not installed, it changes nothing (another
	   file of the same reload failed); installed, the revoked certificate passes. */
	write_crl("ca.crl", empty_crl);
	struct tlsauth_snapshot *unused = tlsauth_load(t, err, sizeof err);
	CHECK(unused != NULL, "load: %s", err);
	tlsauth_snapshot_free(unused);
	tlsauth_snapshot_free(NULL);
	CHECK(tlsauth_generation(t) == 1, "a snapshot not installed moved the generation");
	run_case(t, &(struct tcase){"revoked while a snapshot waits", revoked, NULL,
	                            APIERR_CERTIFICATE_INVALID, "revoked", NULL});
	CHECK(reload(t, err, sizeof err) == 0, "reload: %s", err);
	CHECK(tlsauth_generation(t) == 2, "generation after reload");
	run_case(t, &(struct tcase){"unrevoked", revoked, NULL, APIERR_NONE, NULL, "sakura-mail"});
	char desc[256];
	tlsauth_describe(t, desc, sizeof desc);
	CHECK(strstr(desc, "partner CA") && strstr(desc, "0 revoked"), "describe: %s", desc);

	/* A stale CRL loads, and then refuses every certificate. */
	write_crl("ca.crl", stale);
	CHECK(reload(t, err, sizeof err) == 0, "reload stale: %s", err);
	CHECK(tlsauth_crl_next_update(t) < time(NULL), "next update of a stale CRL");
	run_case(t, &(struct tcase){"stale CRL", good, NULL, APIERR_CERTIFICATE_INVALID,
	                            "stale CRL", NULL});
	tlsauth_free(t);

	/* A CA file that holds a leaf, a missing CRL file. */
	write_cert("leaf.pem", good);
	write_crl("ca.crl", crl);
	CHECK(tlsauth_new(path("leaf.pem"), path("ca.crl"), TLSAUTH_PARTNER_PREFIX, "partner", err,
	                  sizeof err) == NULL &&
	          strstr(err, "not a self-signed CA"),
	      "leaf as CA: %s", err);
	CHECK(tlsauth_new(path("ca.pem"), path("none.crl"), TLSAUTH_PARTNER_PREFIX, "partner", err,
	                  sizeof err) == NULL &&
	          strstr(err, "none.crl"),
	      "missing CRL: %s", err);

	/* The same module as a staff store: only the staff prefix names someone. */
	struct tlsauth *s =
	    tlsauth_new(path("ca.pem"), NULL, TLSAUTH_STAFF_PREFIX, "staff", err, sizeof err);
	CHECK(s != NULL, "staff store: %s", err);
	if (s != NULL) {
		run_case(s, &(struct tcase){"staff", staff, NULL, APIERR_NONE, NULL, "officer"});
		run_case(s, &(struct tcase){"partner on staff store", good, NULL,
		                            APIERR_CERTIFICATE_INVALID, "no staff URI SAN", NULL});
		/* No CRL configured: no revocation check, the store says so. */
		tlsauth_describe(s, desc, sizeof desc);
		CHECK(strstr(desc, "no CRL") != NULL, "staff describe: %s", desc);
		/* Without a CRL an intermediate's chain verifies: its signature is held to the
		 * same digests as the leaf's. */
		const char *staff_san = "URI:urn:pdgate:staff:officer";
		run_case(s, &(struct tcase){"under an intermediate", staff_under_inter, inter,
		                            APIERR_NONE, NULL, "officer"});
		run_case(s, &(struct tcase){"intermediate signed with SHA-224", staff_under_inter,
		                            inter224, APIERR_CERTIFICATE_INVALID,
		                            "an intermediate certificate is signed with SHA224",
		                            NULL});
		run_case(s,
		         &(struct tcase){"intermediate signed with SHA-1", staff_under_inter,
		                         inter1, APIERR_CERTIFICATE_INVALID,
		                         "an intermediate certificate is signed with SHA1", NULL});
		X509 *leaf224 = resign(make_cert("sub224", 34, leaf_key, inter, inter_key,
		                                 staff_san, client, -1, 365, 0),
		                       inter_key, EVP_sha224());
		run_case(s, &(struct tcase){"leaf under an intermediate signed with SHA-224",
		                            leaf224, inter, APIERR_CERTIFICATE_INVALID,
		                            "certificate is signed with SHA224", NULL});
		X509_free(leaf224);
	}
	tlsauth_free(s);

	/* An Ed25519 CA: EdDSA signatures count as SHA-256 or better. */
	EVP_PKEY *ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *ed_ca = make_cert("ed CA", 1, ed_key, NULL, NULL, NULL, NULL, -1, 3650, 1);
	X509 *ed_leaf =
	    make_cert("sakura-mail", 40, leaf_key, ed_ca, ed_key, partner_san, client, -1, 365, 0);
	write_cert("ed-ca.pem", ed_ca);
	struct tlsauth *e = tlsauth_new(path("ed-ca.pem"), NULL, TLSAUTH_PARTNER_PREFIX, "partner",
	                                err, sizeof err);
	CHECK(e != NULL, "Ed25519 store: %s", err);
	if (e != NULL)
		run_case(e, &(struct tcase){"signed with Ed25519", ed_leaf, NULL, APIERR_NONE, NULL,
		                            "sakura-mail"});
	tlsauth_free(e);
	X509_free(ed_ca);
	X509_free(ed_leaf);
	EVP_PKEY_free(ed_key);
	unlink(path("ed-ca.pem"));
	tlsauth_free(NULL);

	X509 *all[] = {ca,     other,    good,     both,        server_only,      no_eku,  expired,
	               future, foreign,  revoked,  two_sans,    bad_id,           dash_id, no_san,
	               staff,  empty_id, inter,    under_inter, ca_as_leaf,       sha1,    sha224,
	               sha384, sha512,   inter224, inter1,      staff_under_inter};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		X509_free(all[i]);
	X509_CRL_free(crl);
	X509_CRL_free(stale);
	X509_CRL_free(other_crl);
	X509_CRL_free(empty_crl);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(inter_key);
	OPENSSL_free((void *)g.data);
	unlink(path("ca.pem"));
	unlink(path("ca.crl"));
	unlink(path("leaf.pem"));
	rmdir(dir);
	return check_done();
}
