/* pki_crl — the CRLs: made empty with their CA, extended by each revocation, re-signed. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki_crl.h"
#include "pki_file.h"

static void *
parse_crl(const char *data, size_t len)
{
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	X509_CRL *crl =
	    bio != NULL ? PEM_read_bio_X509_CRL(bio, NULL, pki_no_passphrase, NULL) : NULL;

	BIO_free(bio);
	return crl;
}

X509_CRL *
pki_crl_read(const char *path, char *err, size_t errlen)
{
	return pki_file_object(path, PKI_FILE_CRL_MAX, 0, parse_crl, "not a PEM CRL", err, errlen);
}

/*
 * A CRL signed by ca: the entries of old (may be NULL) plus revoke (may be NULL), CRL number
 * `number`, lastUpdate now, nextUpdate now + days, and an AKI naming the CA key.
 */
static X509_CRL *
crl_build(X509 *ca, EVP_PKEY *ca_key, X509_CRL *old, X509 *revoke, const BIGNUM *number,
          unsigned days, char *err, size_t errlen)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_new(), *next = ASN1_TIME_new();
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *aki = NULL;
	X509_REVOKED *r = NULL;
	X509V3_CTX ctx;

	if (crl == NULL || now == NULL || next == NULL)
		goto fail;
	if (X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
	    X509_gmtime_adj(now, 0) == NULL || X509_time_adj_ex(next, (int)days, 0, NULL) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, now) != 1 || X509_CRL_set1_nextUpdate(crl, next) != 1)
		goto fail;
	if (old != NULL) {
		STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(old);
		for (int i = 0; i < sk_X509_REVOKED_num(revs); i++) {
			r = X509_REVOKED_dup(sk_X509_REVOKED_value(revs, i));
			if (r == NULL || X509_CRL_add0_revoked(crl, r) != 1)
				goto fail;
			r = NULL;
		}
	}
	if (revoke != NULL) {
		/*
		 * No reasonCode entry extension: RFC 5280 5.3.1 says that "unspecified" is
		 * expressed by leaving the extension out.
		 */
		r = X509_REVOKED_new();
		if (r == NULL ||
		    X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(revoke)) != 1 ||
		    X509_REVOKED_set_revocationDate(r, now) != 1 ||
		    X509_CRL_add0_revoked(crl, r) != 1)
			goto fail;
		r = NULL;
	}
	num = BN_to_ASN1_INTEGER(number, NULL);
	if (num == NULL || X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1)
		goto fail;
	memset(&ctx, 0, sizeof(ctx));
	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	X509V3_set_ctx_nodb(&ctx);
	aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	if (aki == NULL || X509_CRL_add_ext(crl, aki, -1) != 1)
		goto fail;
	if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, ca_key, EVP_sha256()) <= 0)
		goto fail;
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	return crl;
fail:
	pki_ossl_err(err, errlen, "building CRL");
	X509_REVOKED_free(r);
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	X509_CRL_free(crl);
	return NULL;
}

static int
crl_write(const char *path, X509_CRL *crl, int atomic, char *err, size_t errlen)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int ok = bio != NULL && PEM_write_bio_X509_CRL(bio, crl) == 1;

	return pki_file_bio(bio, ok, "encoding CRL", path, 0644, atomic, err, errlen);
}

int
pki_crl_create(const char *path, X509 *ca, EVP_PKEY *ca_key, unsigned days, char *err,
               size_t errlen)
{
	BIGNUM *one = BN_new();
	X509_CRL *crl = NULL;
	int rc = -1;

	if (!pki_days_ok(days, err, errlen))
		goto done;
	if (one == NULL || BN_set_word(one, 1) != 1) {
		pki_ossl_err(err, errlen, "CRL number");
		goto done;
	}
	crl = crl_build(ca, ca_key, NULL, NULL, one, days, err, errlen);
	if (crl == NULL)
		goto done;
	rc = crl_write(path, crl, 0, err, errlen);
done:
	X509_CRL_free(crl);
	BN_free(one);
	return rc;
}

/*
 * Read-modify-write of the CRL at path under an exclusive lock on its folder: two revocations
 * at once must not both start from the same old CRL and lose one entry. The folder is locked,
 * not the file, because the file is replaced by rename.
 */
static enum pki_revoke
crl_update(const char *path, X509 *ca, EVP_PKEY *ca_key, X509 *revoke, unsigned days, char **number,
           char *err, size_t errlen)
{
	enum pki_revoke rc = PKI_REVOKE_ERROR;
	char dir[PATH_MAX];
	X509_CRL *old = NULL, *crl = NULL;
	ASN1_INTEGER *oldnum = NULL;
	BIGNUM *num = NULL;
	X509_REVOKED *found = NULL;
	int lock = -1, crit = 0;

	if (!pki_days_ok(days, err, errlen))
		return PKI_REVOKE_ERROR;
	if (X509_check_private_key(ca, ca_key) != 1) {
		pki_ossl_err(err, errlen, "the CA key does not belong to the CA certificate");
		return PKI_REVOKE_ERROR;
	}
	if (pki_file_dir(path, dir, sizeof(dir)) < 0) {
		pki_seterr(err, errlen, "%s: path too long", path);
		return PKI_REVOKE_ERROR;
	}
	lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		pki_seterr(err, errlen, "%s: cannot lock: %s", dir, strerror(errno));
		goto done;
	}
	old = pki_crl_read(path, err, errlen);
	if (old == NULL)
		goto done;
	/* Never extend a CRL we did not sign: its entries would be re-signed as ours. */
	if (X509_NAME_cmp(X509_CRL_get_issuer(old), X509_get_subject_name(ca)) != 0 ||
	    X509_CRL_verify(old, X509_get0_pubkey(ca)) != 1) {
		ERR_clear_error();
		pki_seterr(err, errlen,
		           "%s: the CRL is not signed by this CA; refusing to update it", path);
		goto done;
	}
	if (revoke != NULL &&
	    X509_CRL_get0_by_serial(old, &found, X509_get_serialNumber(revoke)) > 0) {
		rc = PKI_REVOKE_ALREADY;
		goto done;
	}
	oldnum = X509_CRL_get_ext_d2i(old, NID_crl_number, &crit, NULL);
	if (oldnum == NULL && crit != -1) {
		pki_seterr(err, errlen, "%s: unreadable CRL number", path);
		goto done;
	}
	/* A CRL without a number (made by hand) restarts at 1. */
	num = oldnum != NULL ? ASN1_INTEGER_to_BN(oldnum, NULL) : BN_new();
	if (num == NULL || BN_add_word(num, 1) != 1) {
		pki_ossl_err(err, errlen, "CRL number");
		goto done;
	}
	crl = crl_build(ca, ca_key, old, revoke, num, days, err, errlen);
	if (crl == NULL || crl_write(path, crl, 1, err, errlen) < 0)
		goto done;
	if (number != NULL) {
		char *dec = BN_bn2dec(num);
		*number = dec != NULL ? strdup(dec) : NULL;
		OPENSSL_free(dec);
	}
	rc = PKI_REVOKE_DONE;
done:
	if (lock >= 0)
		close(lock); /* releases the lock */
	BN_free(num);
	ASN1_INTEGER_free(oldnum);
	X509_CRL_free(crl);
	X509_CRL_free(old);
	return rc;
}

enum pki_revoke
pki_crl_revoke(const char *path, X509 *ca, EVP_PKEY *ca_key, X509 *cert, unsigned days,
               char **number, char *err, size_t errlen)
{
	assert(cert != NULL);
	if (!pki_issued_by(cert, ca)) {
		pki_seterr(err, errlen, "the certificate was not issued by this CA");
		return PKI_REVOKE_ERROR;
	}
	return crl_update(path, ca, ca_key, cert, days, number, err, errlen);
}

int
pki_crl_refresh(const char *path, X509 *ca, EVP_PKEY *ca_key, unsigned days, char **number,
                char *err, size_t errlen)
{
	return crl_update(path, ca, ca_key, NULL, days, number, err, errlen) == PKI_REVOKE_DONE
	           ? 0
	           : -1;
}
