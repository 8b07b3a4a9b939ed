/* test_tlsauth — every verdict of tlsauth_verify on certificates made here with the OpenSSL API. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "fixture_pki.h"
#include "tlsauth.h"

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

	if (fixture_dir_make("test_tlsauth") != 0)
		return 1;

	EVP_PKEY *ca_key = fixture_key(), *other_key = fixture_key(), *leaf_key = fixture_key();
	EVP_PKEY *inter_key = fixture_key();
	X509 *ca = fixture_cert("partner CA", 1, ca_key, NULL, NULL, NULL, NULL, -1, 3650, 1);
	X509 *other = fixture_cert("staff CA", 1, other_key, NULL, NULL, NULL, NULL, -1, 3650, 1);

	X509 *good =
	    fixture_cert("sakura-mail", 10, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0);
	X509 *both = fixture_cert("both", 11, leaf_key, ca, ca_key,
	                          "URI:urn:pdgate:partner:maison-partners,DNS:client.example",
	                          "serverAuth,clientAuth", -1, 365, 0);
	X509 *server_only =
	    fixture_cert("srv", 12, leaf_key, ca, ca_key, partner_san, "serverAuth", -1, 365, 0);
	X509 *no_eku =
	    fixture_cert("noeku", 13, leaf_key, ca, ca_key, partner_san, NULL, -1, 365, 0);
	X509 *expired =
	    fixture_cert("old", 14, leaf_key, ca, ca_key, partner_san, client, -30, -1, 0);
	X509 *future =
	    fixture_cert("new", 15, leaf_key, ca, ca_key, partner_san, client, 2, 365, 0);
	X509 *foreign = fixture_cert("sakura-mail", 16, leaf_key, other, other_key, partner_san,
	                             client, -1, 365, 0);
	X509 *revoked =
	    fixture_cert("gone", 17, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0);
	X509 *two_sans =
	    fixture_cert("two", 18, leaf_key, ca, ca_key,
	                 "URI:urn:pdgate:partner:a,URI:urn:pdgate:partner:b", client, -1, 365, 0);
	X509 *bad_id = fixture_cert("bad", 19, leaf_key, ca, ca_key,
	                            "URI:urn:pdgate:partner:Sakura", client, -1, 365, 0);
	X509 *dash_id = fixture_cert("bad", 20, leaf_key, ca, ca_key, "URI:urn:pdgate:partner:-x",
	                             client, -1, 365, 0);
	X509 *no_san = fixture_cert("nosan", 21, leaf_key, ca, ca_key, NULL, client, -1, 365, 0);
	X509 *staff = fixture_cert("officer", 22, leaf_key, ca, ca_key,
	                           "URI:urn:pdgate:staff:officer", client, -1, 365, 0);
	X509 *empty_id = fixture_cert("empty", 23, leaf_key, ca, ca_key,
	                              "URI:urn:pdgate:partner:", client, -1, 365, 0);
	X509 *inter =
	    fixture_cert("intermediate", 24, inter_key, ca, ca_key, NULL, NULL, -1, 365, 1);
	X509 *under_inter =
	    fixture_cert("sub", 25, leaf_key, inter, inter_key, partner_san, client, -1, 365, 0);
	X509 *ca_as_leaf =
	    fixture_cert("ca-leaf", 26, leaf_key, ca, ca_key, partner_san, client, -1, 365, 1);
	/* Signature digests: SHA-256 or better only (SPEC 13). */
	X509 *sha1 = fixture_resign(
	    fixture_cert("sha1", 27, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0), ca_key,
	    EVP_sha1());
	X509 *sha224 = fixture_resign(
	    fixture_cert("sha224", 28, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0),
	    ca_key, EVP_sha224());
	X509 *sha384 = fixture_resign(
	    fixture_cert("sha384", 29, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0),
	    ca_key, EVP_sha384());
	X509 *inter224 = fixture_resign(
	    fixture_cert("intermediate", 31, inter_key, ca, ca_key, NULL, NULL, -1, 365, 1), ca_key,
	    EVP_sha224());
	X509 *inter1 = fixture_resign(
	    fixture_cert("intermediate", 32, inter_key, ca, ca_key, NULL, NULL, -1, 365, 1), ca_key,
	    EVP_sha1());
	X509 *staff_under_inter = fixture_cert("officer", 33, leaf_key, inter, inter_key,
	                                       "URI:urn:pdgate:staff:officer", client, -1, 365, 0);
	X509 *sha512 = fixture_resign(
	    fixture_cert("sha512", 30, leaf_key, ca, ca_key, partner_san, client, -1, 365, 0),
	    ca_key, EVP_sha512());

	long revoked_serials[] = {17};
	X509_CRL *crl = fixture_crl(ca, ca_key, revoked_serials, 1, -1, 7);
	X509_CRL *stale = fixture_crl(ca, ca_key, NULL, 0, -10, -1);
	X509_CRL *other_crl = fixture_crl(other, other_key, NULL, 0, -1, 7);
	X509_CRL *empty_crl = fixture_crl(ca, ca_key, NULL, 0, -1, 7);

	fixture_write_certs("ca.pem", ca, NULL);
	fixture_write_crl("ca.crl", crl);

	struct tlsauth *t = tlsauth_new(fixture_path("ca.pem"), fixture_path("ca.crl"),
	                                TLSAUTH_PARTNER_PREFIX, "partner", err, sizeof err);
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
			fixture_write_text("ca.crl", broken[i].text, 0644);
		else
			fixture_write_crl("ca.crl", broken[i].crl);
		err[0] = '\0';
		CHECK(reload(t, err, sizeof err) == -1 && err[0] != '\0',
		      "reload with %s succeeded", broken[i].name);
		CHECK(tlsauth_generation(t) == 1, "%s: generation moved", broken[i].name);
		run_case(t, &cases[0]);
		run_case(t, &(struct tcase){"still revoked", revoked, NULL,
		                            APIERR_CERTIFICATE_INVALID, "revoked", NULL});
	}
	fixture_write_crl("ca.crl", crl);
	unlink(fixture_path("ca.pem"));
	CHECK(reload(t, err, sizeof err) == -1 && strstr(err, "ca.pem"),
	      "reload without CA file: %s", err);
	fixture_write_certs("ca.pem", ca, NULL);

	/* A new CRL that revokes nothing: loaded but not installed, it changes nothing (another
	   file of the same reload failed); installed, the revoked certificate passes. */
	fixture_write_crl("ca.crl", empty_crl);
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
	fixture_write_crl("ca.crl", stale);
	CHECK(reload(t, err, sizeof err) == 0, "reload stale: %s", err);
	CHECK(tlsauth_crl_next_update(t) < time(NULL), "next update of a stale CRL");
	run_case(t, &(struct tcase){"stale CRL", good, NULL, APIERR_CERTIFICATE_INVALID,
	                            "stale CRL", NULL});
	tlsauth_free(t);

	/* A CA file that holds a leaf, a missing CRL file. */
	fixture_write_certs("leaf.pem", good, NULL);
	fixture_write_crl("ca.crl", crl);
	CHECK(tlsauth_new(fixture_path("leaf.pem"), fixture_path("ca.crl"), TLSAUTH_PARTNER_PREFIX,
	                  "partner", err, sizeof err) == NULL &&
	          strstr(err, "not a self-signed CA"),
	      "leaf as CA: %s", err);
	CHECK(tlsauth_new(fixture_path("ca.pem"), fixture_path("none.crl"), TLSAUTH_PARTNER_PREFIX,
	                  "partner", err, sizeof err) == NULL &&
	          strstr(err, "none.crl"),
	      "missing CRL: %s", err);

	/* The same module as a staff store: only the staff prefix names someone. */
	struct tlsauth *s = tlsauth_new(fixture_path("ca.pem"), NULL, TLSAUTH_STAFF_PREFIX, "staff",
	                                err, sizeof err);
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
		X509 *leaf224 =
		    fixture_resign(fixture_cert("sub224", 34, leaf_key, inter, inter_key, staff_san,
		                                client, -1, 365, 0),
		                   inter_key, EVP_sha224());
		run_case(s, &(struct tcase){"leaf under an intermediate signed with SHA-224",
		                            leaf224, inter, APIERR_CERTIFICATE_INVALID,
		                            "certificate is signed with SHA224", NULL});
		X509_free(leaf224);
	}
	tlsauth_free(s);

	/* An Ed25519 CA: EdDSA signatures count as SHA-256 or better. */
	EVP_PKEY *ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *ed_ca = fixture_cert("ed CA", 1, ed_key, NULL, NULL, NULL, NULL, -1, 3650, 1);
	X509 *ed_leaf = fixture_cert("sakura-mail", 40, leaf_key, ed_ca, ed_key, partner_san,
	                             client, -1, 365, 0);
	fixture_write_certs("ed-ca.pem", ed_ca, NULL);
	struct tlsauth *e = tlsauth_new(fixture_path("ed-ca.pem"), NULL, TLSAUTH_PARTNER_PREFIX,
	                                "partner", err, sizeof err);
	CHECK(e != NULL, "Ed25519 store: %s", err);
	if (e != NULL)
		run_case(e, &(struct tcase){"signed with Ed25519", ed_leaf, NULL, APIERR_NONE, NULL,
		                            "sakura-mail"});
	tlsauth_free(e);
	X509_free(ed_ca);
	X509_free(ed_leaf);
	EVP_PKEY_free(ed_key);
	unlink(fixture_path("ed-ca.pem"));
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
	fixture_dir_remove();
	return check_done();
}
