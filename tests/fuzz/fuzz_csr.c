/* fuzz_csr — bytes as a partner's certificate signing request, through csr_check and pki_issue. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "csr.h"
#include "pki.h"
#include "pki_file.h"

/*
 * A partner CA made once, so that every accepted request is also issued, as `pdgate cert sign`
 * issues it: whatever the request says, the certificate names the partner pdgate was told and
 * carries the request's key. The seed corpus (corpus/fuzz_csr, made with `openssl req`) has
 * requests that pass (EC P-256 PEM, P-384 DER, RSA-2048, one naming another partner and asking
 * for CA:TRUE, one with `-text` around it) and ones refused for each reason (RSA-1024, P-192,
 * P-521, explicit curve parameters, Ed25519, SHA-1, a broken signature, two PEM blocks, a
 * certificate, bytes).
 */
static X509 *ca;
static EVP_PKEY *ca_key;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	ca_key = pki_key_ec();
	ca = ca_key != NULL ? pki_ca_new("pdgate fuzz partner CA", ca_key, 30, err, sizeof err)
	                    : NULL;
	if (ca == NULL) {
		fprintf(stderr, "fuzz_csr: no CA\n");
		abort();
	}
	return 0;
}

/* What an accepted key must be. */
static int
key_allowed(EVP_PKEY *key)
{
	char group[80];
	size_t glen = 0;
	int bits = EVP_PKEY_get_bits(key);

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		return bits >= CSR_RSA_MIN_BITS && bits <= CSR_RSA_MAX_BITS;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(key, group, sizeof group, &glen) != 1)
			return 0;
		return OBJ_sn2nid(group) == NID_X9_62_prime256v1 ||
		       OBJ_sn2nid(group) == NID_secp384r1;
	default:
		return 0;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *key = (EVP_PKEY *)1; /* must be set to NULL or a key, never left */
	char err[256] = "", id[PKI_NAME_LEN];
	enum csr_result r = csr_check(data, size, &key, err, sizeof err);

	if (r != CSR_OK) {
		if (key != NULL || err[0] == '\0' || r > CSR_WEAK_DIGEST ||
		    (size > CSR_MAX_BYTES && r != CSR_TOO_LARGE))
			abort();
		return 0;
	}
	if (key == NULL || !key_allowed(key))
		abort();
	X509 *cert =
	    pki_issue(PKI_PROFILE_PARTNER, "fuzz-partner", key, ca, ca_key, 1, err, sizeof err);
	if (cert == NULL || pki_uri_id(cert, "urn:pdgate:partner:", id) != 0 ||
	    strcmp(id, "fuzz-partner") != 0 || EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1 ||
	    X509_check_ca(cert) != 0 || !pki_issued_by(cert, ca))
		abort();
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}
