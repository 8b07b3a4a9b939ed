/* csr — a certificate signing request from a partner: untrusted bytes, parsed and checked. */
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "csr.h"

const char *
csr_strerror(enum csr_result r)
{
	switch (r) {
	case CSR_OK:
		return "a good request";
	case CSR_TOO_LARGE:
		return "too large for a certificate signing request";
	case CSR_NOT_A_CSR:
		return "not a certificate signing request";
	case CSR_BAD_VERSION:
		return "a request version other than 1";
	case CSR_KEY_REFUSED:
		return "a key pdgate does not certify";
	case CSR_BAD_SIGNATURE:
		return "the signature does not verify with the request's own key";
	case CSR_WEAK_DIGEST:
		return "signed with a digest weaker than SHA-256";
	}
	return "unknown";
}

/* DER that is exactly one request, nothing before or after it. */
static X509_REQ *
from_der(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509_REQ *req;

	if (len == 0 || len > CSR_MAX_BYTES)
		return NULL;
	req = d2i_X509_REQ(NULL, &p, (long)len);
	if (req != NULL && p != der + len) {
		X509_REQ_free(req);
		return NULL;
	}
	return req;
}

/*
 * One PEM block of type CERTIFICATE REQUEST (or the older NEW CERTIFICATE REQUEST), without
 * encryption headers; text before it and after it is allowed (`openssl req -text` writes some),
 * a second PEM block is not.
 */
static X509_REQ *
from_pem(const unsigned char *data, size_t len, char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	char *name = NULL, *header = NULL, *name2 = NULL, *header2 = NULL;
	unsigned char *der = NULL, *der2 = NULL;
	long derlen = 0, derlen2 = 0;
	X509_REQ *req = NULL;

	if (bio == NULL || PEM_read_bio(bio, &name, &header, &der, &derlen) != 1) {
		snprintf(err, errlen, "no PEM block that decodes");
		goto done;
	}
	if (strcmp(name, PEM_STRING_X509_REQ) != 0 && strcmp(name, PEM_STRING_X509_REQ_OLD) != 0) {
		snprintf(err, errlen, "a PEM block of type '%.40s', not CERTIFICATE REQUEST", name);
		goto done;
	}
	if (header != NULL && header[0] != '\0') {
		snprintf(err, errlen, "a PEM block with headers (encrypted?)");
		goto done;
	}
	if (PEM_read_bio(bio, &name2, &header2, &der2, &derlen2) == 1) {
		snprintf(err, errlen, "more than one PEM block: send the request alone");
		goto done;
	}
	req = from_der(der, derlen > 0 ? (size_t)derlen : 0);
	if (req == NULL)
		snprintf(err, errlen, "the PEM block is not a PKCS#10 request");
done:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	OPENSSL_free(name2);
	OPENSSL_free(header2);
	OPENSSL_free(der2);
	BIO_free(bio);
	return req;
}

/* EC P-256 or P-384 on a named curve with a valid point. */
static enum csr_result
check_ec(EVP_PKEY *key, char *err, size_t errlen)
{
	char group[80] = "";
	size_t glen = 0;
	int explicit_params = 0, nid;
	EVP_PKEY_CTX *ctx;
	int ok;

	if (EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) != 1 || glen == 0) {
		snprintf(err, errlen,
		         "an EC key without a named curve: pdgate takes P-256 or P-384");
		return CSR_KEY_REFUSED;
	}
	if (EVP_PKEY_get_int_param(key, OSSL_PKEY_PARAM_EC_DECODED_FROM_EXPLICIT_PARAMS,
	                           &explicit_params) == 1 &&
	    explicit_params) {
		snprintf(
		    err, errlen,
		    "an EC key with explicit curve parameters: send it on the named curve P-256 "
		    "or P-384");
		return CSR_KEY_REFUSED;
	}
	nid = OBJ_sn2nid(group);
	if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1) {
		snprintf(err, errlen, "an EC key on curve %s: pdgate takes P-256 or P-384", group);
		return CSR_KEY_REFUSED;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		snprintf(err, errlen, "an EC public key that is not a valid point of %s", group);
		return CSR_KEY_REFUSED;
	}
	return CSR_OK;
}

/* RSA of CSR_RSA_MIN_BITS..CSR_RSA_MAX_BITS, public exponent odd and at least 65537 (and below
 * 2^256, as the CA/Browser Forum asks). */
static enum csr_result
check_rsa(EVP_PKEY *key, char *err, size_t errlen)
{
	int bits = EVP_PKEY_get_bits(key);
	BIGNUM *e = NULL;
	EVP_PKEY_CTX *ctx;
	int ok;

	if (bits < CSR_RSA_MIN_BITS || bits > CSR_RSA_MAX_BITS) {
		snprintf(err, errlen, "an RSA key of %d bits: pdgate takes RSA of %d to %d bits",
		         bits, CSR_RSA_MIN_BITS, CSR_RSA_MAX_BITS);
		return CSR_KEY_REFUSED;
	}
	ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) == 1 && BN_is_odd(e) &&
	     BN_num_bits(e) >= 17 && BN_num_bits(e) <= 256;
	BN_free(e);
	if (!ok) {
		snprintf(err, errlen,
		         "an RSA key whose public exponent is not an odd number of at least 65537");
		return CSR_KEY_REFUSED;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		snprintf(err, errlen, "an RSA public key that does not pass OpenSSL's checks");
		return CSR_KEY_REFUSED;
	}
	return CSR_OK;
}

static enum csr_result
check_key(EVP_PKEY *key, char *err, size_t errlen)
{
	int id = EVP_PKEY_get_base_id(key);
	const char *type;

	if (id == EVP_PKEY_EC)
		return check_ec(key, err, errlen);
	if (id == EVP_PKEY_RSA)
		return check_rsa(key, err, errlen);
	if (id == EVP_PKEY_RSA_PSS) {
		snprintf(
		    err, errlen,
		    "an RSA-PSS key: send an ordinary RSA key (rsaEncryption) of at least %d bits",
		    CSR_RSA_MIN_BITS);
		return CSR_KEY_REFUSED;
	}
	type = EVP_PKEY_get0_type_name(key);
	snprintf(err, errlen,
	         "a key of type %.40s: pdgate takes EC P-256 or P-384, or RSA of at least %d bits",
	         type != NULL ? type : "unknown", CSR_RSA_MIN_BITS);
	return CSR_KEY_REFUSED;
}

/* The request's signature algorithm uses SHA-256, SHA-384 or SHA-512 (or SHA-3 of those). */
static enum csr_result
check_digest(X509_REQ *req, char *err, size_t errlen)
{
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj = NULL;
	int mdnid = NID_undef, pknid = NID_undef, signid;

	X509_REQ_get0_signature(req, NULL, &alg);
	if (alg != NULL)
		X509_ALGOR_get0(&obj, NULL, NULL, alg);
	signid = obj != NULL ? OBJ_obj2nid(obj) : NID_undef;
	if (signid == NID_undef || OBJ_find_sigid_algs(signid, &mdnid, &pknid) != 1) {
		snprintf(err, errlen,
		         "an unknown signature algorithm: sign the request with SHA-256");
		return CSR_WEAK_DIGEST;
	}
	switch (mdnid) {
	case NID_sha256:
	case NID_sha384:
	case NID_sha512:
	case NID_sha3_256:
	case NID_sha3_384:
	case NID_sha3_512:
		return CSR_OK;
	default:
		snprintf(err, errlen, "signed with %s: sign the request with SHA-256 or better",
		         OBJ_nid2sn(signid));
		return CSR_WEAK_DIGEST;
	}
}

enum csr_result
csr_check(const unsigned char *data, size_t len, EVP_PKEY **key, char *err, size_t errlen)
{
	enum csr_result rc;
	X509_REQ *req = NULL;
	EVP_PKEY *pub = NULL;
	char why[256] = "";

	*key = NULL;
	if (len > CSR_MAX_BYTES) {
		snprintf(err, errlen, "%zu bytes: a certificate signing request has at most %d",
		         len, CSR_MAX_BYTES);
		return CSR_TOO_LARGE;
	}
	if (len > 0 && memmem(data, len, "-----BEGIN", 10) != NULL)
		req = from_pem(data, len, why, sizeof(why));
	else if ((req = from_der(data, len)) == NULL)
		snprintf(why, sizeof(why), "neither PEM nor a DER PKCS#10 request");
	if (req == NULL) {
		snprintf(err, errlen, "not a certificate signing request: %s", why);
		rc = CSR_NOT_A_CSR;
		goto done;
	}
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1) {
		snprintf(err, errlen, "request version %ld: only version 1 exists",
		         X509_REQ_get_version(req) + 1);
		rc = CSR_BAD_VERSION;
		goto done;
	}
	pub = X509_REQ_get_pubkey(req);
	if (pub == NULL) {
		snprintf(err, errlen,
		         "a public key OpenSSL cannot read: pdgate takes EC P-256 or P-384, "
		         "or RSA of at least 2048 bits");
		rc = CSR_KEY_REFUSED;
		goto done;
	}
	/* The key first: it bounds what the signature check costs. */
	if ((rc = check_key(pub, err, errlen)) != CSR_OK ||
	    (rc = check_digest(req, err, errlen)) != CSR_OK)
		goto done;
	if (X509_REQ_verify(req, pub) != 1) {
		snprintf(err, errlen,
		         "the signature does not verify with the request's own key: whoever made "
		         "it does not hold the private key, or it was altered on the way");
		rc = CSR_BAD_SIGNATURE;
		goto done;
	}
	*key = pub;
	pub = NULL;
	rc = CSR_OK;
done:
	ERR_clear_error();
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
	return rc;
}
