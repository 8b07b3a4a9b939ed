/* tlsauth — who is calling: verifies TLS client certificate chains against one CA and its CRL. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "cal.h"
#include "codec.h"
#include "file.h"
#include "pki.h"
#include "tlsauth.h"

/* At most this many CA certificates or CRLs in one file: a trust file is small. */
#define MAX_PEM_OBJECTS 16
/* ... and at most this many bytes: a CRL grows with every revocation (pki.c's bound too). */
#define TRUST_FILE_MAX ((size_t)64 << 20)

/*
 * An immutable view of the trust files. Verifications hold a reference for their duration, so
 * a reload never waits for them and never frees a store in use.
 */
struct tlsauth_snapshot {
	X509_STORE *store;
	time_t crl_next_update; /* earliest nextUpdate of the CRLs, 0 without CRL */
	uint64_t generation;
	atomic_uint refs;
	char description[256];
};

struct tlsauth {
	char *ca_path, *crl_path; /* crl_path NULL: no revocation checking */
	char *prefix;
	size_t prefix_len;
	char *label;
	pthread_mutex_t lock; /* guards current; held only to take a reference */
	struct tlsauth_snapshot *current;
	_Atomic uint64_t generation; /* mirrors current->generation for lock-free reads */
};

static void
snapshot_release(struct tlsauth_snapshot *s)
{
	if (s == NULL)
		return;
	if (atomic_fetch_sub(&s->refs, 1) == 1) {
		X509_STORE_free(s->store);
		free(s);
	}
}

static struct tlsauth_snapshot *
snapshot_acquire(struct tlsauth *t)
{
	struct tlsauth_snapshot *s;

	pthread_mutex_lock(&t->lock);
	s = t->current;
	atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&t->lock);
	return s;
}

/* ASN1_TIME as time_t; 0 if absent or unparsable. */
static time_t
asn1_time_t(const ASN1_TIME *a)
{
	int64_t t;

	return pki_time_unix(a, &t) == 0 ? (time_t)t : 0;
}

/* t as UTC time, or "?" when there is none (0). */
static void
format_time(time_t t, char out[CAL_UTC_LEN])
{
	if (t == 0)
		snprintf(out, CAL_UTC_LEN, "?");
	else
		cal_format_utc(t, out);
}

/* The last OpenSSL error as text, and the error queue cleared. */
static const char *
ssl_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "no details");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* A trust file read whole, in a memory BIO over *text (free it after the BIO); NULL with err. */
static BIO *
pem_open(const char *path, char **text, char *err, size_t errlen)
{
	size_t len;
	BIO *bio;

	if ((*text = file_read(path, TRUST_FILE_MAX, 0, &len, err, errlen)) == NULL)
		return NULL;
	if ((bio = BIO_new_mem_buf(*text, (int)len)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		ERR_clear_error();
		free(*text);
		*text = NULL;
	}
	return bio;
}

/*
 * After a PEM read that returned no object, with n objects read before: true at the clean end
 * of the file; false with err set when there was nothing at all (none says so) or an object
 * did not parse.
 */
static bool
pem_end(const char *path, int n, const char *none, char *err, size_t errlen)
{
	char ebuf[200];
	unsigned long e = ERR_peek_last_error();

	if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE && n > 0) {
		ERR_clear_error();
		return true;
	}
	snprintf(err, errlen, "%s: %s", path, n == 0 ? none : ssl_error(ebuf, sizeof ebuf));
	ERR_clear_error();
	return false;
}

/* One kind of object a trust file holds, and how the next one is read. */
struct pem_kind {
	const char *none;   /* what a file without any says */
	const char *plural; /* "certificates", "CRLs" */
	/* Reads the next object from bio onto the stack out: 1 kept, 0 none read (the end, or
	 * one that does not parse), -1 read but not kept (no room: it is freed). */
	int (*next)(BIO *bio, void *out);
};

static int
next_cert(BIO *bio, void *out)
{
	STACK_OF(X509) *certs = out;
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

	if (x == NULL)
		return 0;
	if (sk_X509_num(certs) >= MAX_PEM_OBJECTS || !sk_X509_push(certs, x)) {
		X509_free(x);
		return -1;
	}
	return 1;
}

static int
next_crl(BIO *bio, void *out)
{
	STACK_OF(X509_CRL) *crls = out;
	X509_CRL *c = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);

	if (c == NULL)
		return 0;
	if (sk_X509_CRL_num(crls) >= MAX_PEM_OBJECTS || !sk_X509_CRL_push(crls, c)) {
		X509_CRL_free(c);
		return -1;
	}
	return 1;
}

static const struct pem_kind pem_certs = {"no certificate in the file", "certificates", next_cert};
static const struct pem_kind pem_crls = {"no CRL in the file", "CRLs", next_crl};

/*
 * Reads every PEM object of one kind from a file onto the empty stack out. A file with
 * trailing garbage, an object that does not parse or too many objects is an error: a trust
 * file is all valid or not used.
 */
static int
read_pem(const char *path, const struct pem_kind *kind, void *out, char *err, size_t errlen)
{
	char *text;
	BIO *bio = pem_open(path, &text, err, errlen);
	int n = 0, r, rc = -1;

	if (bio == NULL)
		return -1;
	while ((r = kind->next(bio, out)) == 1)
		n++;
	if (r < 0)
		snprintf(err, errlen, "%s: more than %d %s", path, MAX_PEM_OBJECTS, kind->plural);
	else if (pem_end(path, n, kind->none, err, errlen))
		rc = 0;
	BIO_free(bio);
	free(text);
	return rc;
}

/* Builds a snapshot from the files, or NULL with a message. */
static struct tlsauth_snapshot *
snapshot_load(const struct tlsauth *t, char *err, size_t errlen)
{
	STACK_OF(X509) *cas = sk_X509_new_null();
	STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
	struct tlsauth_snapshot *s = calloc(1, sizeof *s);
	char subject[128] = "";
	long revoked = 0;
	int ok = 0;

	if (cas == NULL || crls == NULL || s == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (read_pem(t->ca_path, &pem_certs, cas, err, errlen) != 0)
		goto done;
	if (t->crl_path != NULL && read_pem(t->crl_path, &pem_crls, crls, err, errlen) != 0)
		goto done;

	for (int i = 0; i < sk_X509_num(cas); i++) {
		X509 *ca = sk_X509_value(cas, i);
		/* Only self-signed CA certificates anchor trust (no partial chains). */
		if (X509_check_ca(ca) < 1 || X509_check_issued(ca, ca) != X509_V_OK) {
			snprintf(err, errlen,
			         "%s: certificate %d is not a self-signed CA certificate",
			         t->ca_path, i + 1);
			goto done;
		}
	}
	for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(crls, i);
		X509 *issuer = NULL;
		for (int j = 0; j < sk_X509_num(cas) && issuer == NULL; j++)
			if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
			                  X509_get_subject_name(sk_X509_value(cas, j))) == 0)
				issuer = sk_X509_value(cas, j);
		if (issuer == NULL) {
			snprintf(err, errlen, "%s: CRL %d is not issued by a CA of %s", t->crl_path,
			         i + 1, t->ca_path);
			goto done;
		}
		if (X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1) {
			ERR_clear_error();
			snprintf(err, errlen, "%s: CRL %d has a bad signature", t->crl_path, i + 1);
			goto done;
		}
		/* Without nextUpdate a CRL would never go stale: refuse it. */
		time_t next = asn1_time_t(X509_CRL_get0_nextUpdate(crl));
		if (next == 0) {
			snprintf(err, errlen, "%s: CRL %d has no nextUpdate", t->crl_path, i + 1);
			goto done;
		}
		if (s->crl_next_update == 0 || next < s->crl_next_update)
			s->crl_next_update = next;
		STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
		revoked += rev != NULL ? sk_X509_REVOKED_num(rev) : 0;
	}
	if (t->crl_path != NULL) {
		for (int j = 0; j < sk_X509_num(cas); j++) {
			X509_NAME *name = X509_get_subject_name(sk_X509_value(cas, j));
			int found = 0;
			for (int i = 0; i < sk_X509_CRL_num(crls) && !found; i++)
				found =
				    X509_NAME_cmp(X509_CRL_get_issuer(sk_X509_CRL_value(crls, i)),
				                  name) == 0;
			if (!found) {
				snprintf(err, errlen, "%s: no CRL for CA certificate %d of %s",
				         t->crl_path, j + 1, t->ca_path);
				goto done;
			}
		}
	}

	s->store = X509_STORE_new();
	if (s->store == NULL)
		goto oom;
	for (int i = 0; i < sk_X509_num(cas); i++)
		if (X509_STORE_add_cert(s->store, sk_X509_value(cas, i)) != 1)
			goto oom;
	for (int i = 0; i < sk_X509_CRL_num(crls); i++)
		if (X509_STORE_add_crl(s->store, sk_X509_CRL_value(crls, i)) != 1)
			goto oom;
	if (t->crl_path != NULL &&
	    X509_STORE_set_flags(s->store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL) != 1)
		goto oom;
	if (X509_STORE_set_purpose(s->store, X509_PURPOSE_SSL_CLIENT) != 1 ||
	    X509_STORE_set_depth(s->store, TLSAUTH_MAX_CHAIN) != 1)
		goto oom;

	X509_NAME_oneline(X509_get_subject_name(sk_X509_value(cas, 0)), subject, sizeof subject);
	if (t->crl_path != NULL) {
		char next[CAL_UTC_LEN];
		format_time(s->crl_next_update, next);
		snprintf(s->description, sizeof s->description,
		         "%s CA %s%s; CRL: %ld revoked, next update %s", t->label, subject,
		         sk_X509_num(cas) > 1 ? " (and others)" : "", revoked, next);
	} else {
		snprintf(s->description, sizeof s->description, "%s CA %s%s; no CRL", t->label,
		         subject, sk_X509_num(cas) > 1 ? " (and others)" : "");
	}
	atomic_init(&s->refs, 1);
	ok = 1;
	goto done;
oom:
	snprintf(err, errlen, "cannot build the %s trust store", t->label);
	ERR_clear_error();
done:
	sk_X509_pop_free(cas, X509_free);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	if (!ok && s != NULL) {
		X509_STORE_free(s->store);
		free(s);
		s = NULL;
	}
	return s;
}

struct tlsauth *
tlsauth_new(const char *ca_path, const char *crl_path, const char *uri_prefix, const char *label,
            char *err, size_t errlen)
{
	struct tlsauth *t = calloc(1, sizeof *t);

	assert(ca_path != NULL && uri_prefix != NULL && label != NULL);
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->ca_path = strdup(ca_path);
	t->crl_path = crl_path != NULL ? strdup(crl_path) : NULL;
	t->prefix = strdup(uri_prefix);
	t->label = strdup(label);
	if (t->ca_path == NULL || (crl_path != NULL && t->crl_path == NULL) || t->prefix == NULL ||
	    t->label == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	t->prefix_len = strlen(t->prefix);
	t->current = snapshot_load(t, err, errlen);
	if (t->current == NULL)
		goto fail;
	t->current->generation = 1;
	atomic_store(&t->generation, 1);
	return t;
fail:
	tlsauth_free(t);
	return NULL;
}

struct tlsauth_snapshot *
tlsauth_load(const struct tlsauth *t, char *err, size_t errlen)
{
	return snapshot_load(t, err, errlen);
}

void
tlsauth_install(struct tlsauth *t, struct tlsauth_snapshot *s)
{
	struct tlsauth_snapshot *old;

	pthread_mutex_lock(&t->lock);
	old = t->current;
	s->generation = old->generation + 1;
	t->current = s;
	/* Published after the snapshot: a reader that sees the new number finds the new store. */
	atomic_store(&t->generation, s->generation);
	pthread_mutex_unlock(&t->lock);
	snapshot_release(old);
}

void
tlsauth_snapshot_free(struct tlsauth_snapshot *s)
{
	snapshot_release(s);
}

uint64_t
tlsauth_generation(const struct tlsauth *t)
{
	return atomic_load(&((struct tlsauth *)t)->generation);
}

time_t
tlsauth_crl_next_update(const struct tlsauth *t)
{
	struct tlsauth *mt = (struct tlsauth *)t;
	struct tlsauth_snapshot *s = snapshot_acquire(mt);
	time_t next = s->crl_next_update;

	snapshot_release(s);
	return next;
}

void
tlsauth_describe(struct tlsauth *t, char *buf, size_t len)
{
	struct tlsauth_snapshot *s = snapshot_acquire(t);

	snprintf(buf, len, "%s", s->description);
	snapshot_release(s);
}

/*
 * No signature in a client's chain may rest on a digest weaker than SHA-256 (SPEC 13; RFC 9155
 * retires SHA-1 from TLS 1.2). Auth level 2 below already refuses SHA-1 and MD5 (63 and 39
 * security bits) but lets SHA-224 through (112): so each signature is also held to the 128
 * bits that SHA-256 gives, which RSA-PSS with SHA-256 and Ed25519 reach as well. An algorithm
 * OpenSSL cannot rate is refused. The trust anchor's own self-signature is not checked:
 * nothing rests on it, the CA is trusted because the configuration names it.
 */
#define MIN_SIGNATURE_BITS 128

/* 1 if x's signature is too weak, with a message naming `which` and the algorithm in err. */
static int
weak_signature(X509 *x, const char *which, char *err, size_t errlen)
{
	int mdnid = NID_undef, pknid = NID_undef, bits = 0;
	uint32_t flags = 0;
	const char *alg = "an unknown algorithm";

	if (X509_get_signature_info(x, &mdnid, &pknid, &bits, &flags) == 1 &&
	    (flags & X509_SIG_INFO_VALID)) {
		if (bits >= MIN_SIGNATURE_BITS)
			return 0;
		alg = OBJ_nid2sn(mdnid != NID_undef ? mdnid : pknid);
	}
	ERR_clear_error();
	snprintf(err, errlen, "%s is signed with %s: a digest of SHA-256 or better is required",
	         which, alg);
	return 1;
}

/* A precise message for an X509_verify_cert failure. */
static void
describe_failure(const struct tlsauth *t, X509_STORE_CTX *ctx, char *err, size_t errlen)
{
	int code = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
	const char *which = depth > 0 ? "an intermediate certificate" : "certificate";
	char when[CAL_UTC_LEN];

	switch (code) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		format_time(cur != NULL ? asn1_time_t(X509_get0_notAfter(cur)) : 0, when);
		snprintf(err, errlen, "%s expired (notAfter %s)", which, when);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		format_time(cur != NULL ? asn1_time_t(X509_get0_notBefore(cur)) : 0, when);
		snprintf(err, errlen, "%s not yet valid (notBefore %s)", which, when);
		break;
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
		snprintf(err, errlen, "%s has a malformed validity period", which);
		break;
	case X509_V_ERR_CERT_REVOKED:
		snprintf(err, errlen, "%s revoked by the %s CA's CRL", which, t->label);
		break;
	case X509_V_ERR_CRL_HAS_EXPIRED:
		snprintf(err, errlen,
		         "stale CRL: the %s CA's CRL is past its nextUpdate; every certificate is "
		         "refused until a current CRL is loaded",
		         t->label);
		break;
	case X509_V_ERR_CRL_NOT_YET_VALID:
		snprintf(err, errlen, "the %s CA's CRL is not yet valid", t->label);
		break;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		snprintf(err, errlen, "no CRL is loaded for the issuer of %s", which);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
		snprintf(err, errlen, "unknown CA: the certificate does not chain to the %s CA",
		         t->label);
		break;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
		snprintf(err, errlen, "%s has a bad signature", which);
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		snprintf(err, errlen,
		         "wrong purpose: %s is not for TLS client authentication (clientAuth)",
		         which);
		break;
	case X509_V_ERR_INVALID_CA:
		snprintf(err, errlen, "%s is used as a CA but is not one", which);
		break;
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
		snprintf(err, errlen, "certificate chain too long");
		break;
	case X509_V_ERR_CA_MD_TOO_WEAK:
		if (cur == NULL || !weak_signature(cur, which, err, errlen))
			snprintf(err, errlen, "%s uses a signature that is too weak", which);
		break;
	case X509_V_ERR_EE_KEY_TOO_SMALL:
	case X509_V_ERR_CA_KEY_TOO_SMALL:
		snprintf(err, errlen, "%s uses a key that is too weak", which);
		break;
	default:
		snprintf(err, errlen, "%s rejected: %s", which,
		         X509_verify_cert_error_string(code));
		break;
	}
}

/* Finds the one principal URI SAN of the leaf; 0 with out->id set, or -1 with a message. */
static int
principal(const struct tlsauth *t, X509 *leaf, struct tlsauth_identity *out, char *err,
          size_t errlen)
{
	int crit = 0, count = 0, rc = -1;
	const unsigned char *id = NULL;
	size_t idlen = 0;
	GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);

	if (names == NULL) {
		ERR_clear_error();
		snprintf(err, errlen,
		         crit == -2 ? "several subjectAltName extensions"
		                    : "no %s URI SAN (%sID) in the certificate",
		         t->label, t->prefix);
		return -1;
	}
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		if (gn->type != GEN_URI)
			continue;
		const unsigned char *u = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		int ulen = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (ulen < 0 || (size_t)ulen < t->prefix_len ||
		    memcmp(u, t->prefix, t->prefix_len) != 0)
			continue;
		count++;
		id = u + t->prefix_len;
		idlen = (size_t)ulen - t->prefix_len;
	}
	if (count == 0) {
		snprintf(err, errlen, "no %s URI SAN (%sID) in the certificate", t->label,
		         t->prefix);
	} else if (count > 1) {
		snprintf(err, errlen, "%d %s URI SANs: exactly one is allowed", count, t->label);
	} else if (!ident_name_ok((const char *)id, idlen)) {
		snprintf(err, errlen, "the %s id in the URI SAN does not match " IDENT_NAME_PATTERN,
		         t->label);
	} else {
		memcpy(out->id, id, idlen);
		out->id[idlen] = '\0';
		rc = 0;
	}
	GENERAL_NAMES_free(names);
	return rc;
}

enum apierr
tlsauth_verify(struct tlsauth *t, const struct tlsauth_der *chain, size_t n,
               struct tlsauth_identity *out, char *err, size_t errlen)
{
	X509 *certs[TLSAUTH_MAX_CHAIN] = {NULL};
	STACK_OF(X509) *untrusted = NULL;
	X509_STORE_CTX *ctx = NULL;
	struct tlsauth_snapshot *snap = NULL;
	enum apierr rc = APIERR_CERTIFICATE_INVALID;
	unsigned int mdlen = 0;

	memset(out, 0, sizeof *out);
	if (n == 0 || chain == NULL) {
		snprintf(err, errlen, "no client certificate was presented");
		return APIERR_CLIENT_CERTIFICATE_REQUIRED;
	}
	if (n > TLSAUTH_MAX_CHAIN) {
		snprintf(err, errlen, "%zu certificates sent: at most %d are accepted", n,
		         TLSAUTH_MAX_CHAIN);
		return APIERR_CERTIFICATE_INVALID;
	}
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = chain[i].data;
		if (p == NULL || chain[i].len == 0 || chain[i].len > TLSAUTH_MAX_DER) {
			snprintf(err, errlen, "certificate %zu is empty or over %d bytes", i + 1,
			         TLSAUTH_MAX_DER);
			goto done;
		}
		certs[i] = d2i_X509(NULL, &p, (long)chain[i].len);
		if (certs[i] == NULL || p != chain[i].data + chain[i].len) {
			ERR_clear_error();
			snprintf(err, errlen,
			         "certificate %zu is not a well-formed DER certificate", i + 1);
			goto done;
		}
	}

	untrusted = sk_X509_new_null();
	ctx = X509_STORE_CTX_new();
	if (untrusted == NULL || ctx == NULL)
		goto oom;
	for (size_t i = 1; i < n; i++)
		if (!sk_X509_push(untrusted, certs[i]))
			goto oom;

	snap = snapshot_acquire(t);
	if (X509_STORE_CTX_init(ctx, snap->store, certs[0], untrusted) != 1)
		goto oom;
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	/* Level 2: RSA/DSA keys of at least 2048 bits, ECC of 224, no SHA-1 or MD5 signatures;
	 * SHA-224 is refused below (MIN_SIGNATURE_BITS). */
	X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(ctx), 2);
	if (X509_verify_cert(ctx) != 1) {
		describe_failure(t, ctx, err, errlen);
		ERR_clear_error();
		goto done;
	}

	STACK_OF(X509) *verified = X509_STORE_CTX_get0_chain(ctx);
	for (int i = 0; i < sk_X509_num(verified) - 1; i++)
		if (weak_signature(sk_X509_value(verified, i),
		                   i > 0 ? "an intermediate certificate" : "certificate", err,
		                   errlen))
			goto done;

	/*
	 * X509_PURPOSE_SSL_CLIENT accepts a leaf with no extended key usage at all; partners and
	 * staff must carry clientAuth explicitly, so a certificate made for something else cannot
	 * stand in for one made for this gateway.
	 */
	if (!(X509_get_extension_flags(certs[0]) & EXFLAG_XKUSAGE)) {
		snprintf(err, errlen,
		         "no extended key usage: the certificate must carry clientAuth");
		goto done;
	}
	if (!(X509_get_extended_key_usage(certs[0]) & XKU_SSL_CLIENT)) {
		snprintf(err, errlen, "wrong purpose: the extended key usage lacks clientAuth");
		goto done;
	}
	if (X509_check_ca(certs[0]) != 0) {
		snprintf(err, errlen, "a CA certificate cannot be a client certificate");
		goto done;
	}
	if (principal(t, certs[0], out, err, errlen) != 0)
		goto done;

	if (EVP_Digest(chain[0].data, chain[0].len, out->x5t, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof out->x5t)
		goto oom;
	codec_hex_encode(out->x5t, sizeof out->x5t, out->fingerprint);
	out->not_after = asn1_time_t(X509_get0_notAfter(certs[0]));
	out->recheck_at = snap->crl_next_update;
	for (int i = 0; i < sk_X509_num(verified); i++) {
		time_t na = asn1_time_t(X509_get0_notAfter(sk_X509_value(verified, i)));
		if (na != 0 && (out->recheck_at == 0 || na < out->recheck_at))
			out->recheck_at = na;
	}
	out->generation = snap->generation;
	rc = APIERR_NONE;
	goto done;
oom:
	ERR_clear_error();
	snprintf(err, errlen, "internal error while verifying the certificate");
	rc = APIERR_INTERNAL;
done:
	if (rc != APIERR_NONE)
		memset(out, 0, sizeof *out);
	ERR_clear_error(); /* a bad chain's parse errors go with it, not to the thread's next call
	                    */
	snapshot_release(snap);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	for (size_t i = 0; i < TLSAUTH_MAX_CHAIN; i++)
		X509_free(certs[i]);
	return rc;
}

void
tlsauth_free(struct tlsauth *t)
{
	if (t == NULL)
		return;
	snapshot_release(t->current);
	pthread_mutex_destroy(&t->lock);
	free(t->ca_path);
	free(t->crl_path);
	free(t->prefix);
	free(t->label);
	free(t);
}
