/* pseudo — pseudonyms per contract and ledger subject references, keyed by the pseudonym secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "codec.h"
#include "file.h"
#include "pseudo.h"

/*
 * Every HMAC here starts from a context already keyed (EVP_MAC_init once): a call copies it
 * (EVP_MAC_CTX_dup, which only reads the original, so threads may share one) and runs the data
 * through the copy. HMAC() would fetch SHA-256 and compute the key's inner and outer pads anew
 * on every call, about three times the work for a member id.
 */
struct pseudo_mac {
	EVP_MAC_CTX *keyed;
};

struct pseudo {
	unsigned char *secret;
	size_t len;
	EVP_MAC *hmac;              /* the HMAC implementation, fetched once */
	struct pseudo_mac secret_k; /* keyed with the secret: K_c and K_s */
	struct pseudo_mac subject;  /* keyed with K_s: subject references */
};

static const char PSEUDONYM_LABEL[] = "pdgate pseudonym v1"; /* sizeof includes the 0x00 */
static const char SUBJECT_LABEL[] = "pdgate subject v1";

/* A context of hmac keyed with key[0..len), or NULL. */
static EVP_MAC_CTX *
keyed_new(EVP_MAC *hmac, const unsigned char *key, size_t len)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
	                       OSSL_PARAM_construct_end()};
	EVP_MAC_CTX *c = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;

	if (c != NULL && EVP_MAC_init(c, key, len, params) != 1) {
		EVP_MAC_CTX_free(c);
		c = NULL;
	}
	return c;
}

/* HMAC-SHA256 of data under the context's key into out. 0 / -1. */
static int
mac_run(const struct pseudo_mac *m, const void *data, size_t len, unsigned char out[32])
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(m->keyed);
	size_t n = 0;
	int ok = c != NULL && EVP_MAC_update(c, data, len) == 1 &&
	         EVP_MAC_final(c, out, &n, 32) == 1 && n == 32;

	EVP_MAC_CTX_free(c); /* wipes the copy's key state */
	return ok ? 0 : -1;
}

/* The input of K_c for a contract id into buf (room for the label and 128 bytes); its length,
 * or 0 if the id is longer. */
static size_t
contract_label(const char *contract_id, unsigned char buf[sizeof(PSEUDONYM_LABEL) + 128])
{
	size_t idlen = strlen(contract_id);

	if (idlen > 128)
		return 0;
	memcpy(buf, PSEUDONYM_LABEL, sizeof(PSEUDONYM_LABEL));
	memcpy(buf + sizeof(PSEUDONYM_LABEL), contract_id, idlen);
	return sizeof(PSEUDONYM_LABEL) + idlen;
}

_Static_assert(PSEUDO_HEX % 2 == 0, "a pseudonym is whole bytes of hex");

struct pseudo *
pseudo_new(const void *secret, size_t len)
{
	unsigned char ks[32];

	if (secret == NULL || len < PSEUDO_MIN_SECRET)
		return NULL;
	struct pseudo *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->secret = malloc(len);
	if (p->secret == NULL) {
		free(p);
		return NULL;
	}
	memcpy(p->secret, secret, len);
	p->len = len;
	p->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	p->secret_k.keyed = keyed_new(p->hmac, p->secret, p->len);
	if (p->secret_k.keyed == NULL ||
	    mac_run(&p->secret_k, SUBJECT_LABEL, sizeof(SUBJECT_LABEL), ks) != 0 ||
	    (p->subject.keyed = keyed_new(p->hmac, ks, sizeof(ks))) == NULL) {
		OPENSSL_cleanse(ks, sizeof(ks));
		pseudo_free(p);
		return NULL;
	}
	OPENSSL_cleanse(ks, sizeof(ks));
	return p;
}

void
pseudo_free(struct pseudo *p)
{
	if (p == NULL)
		return;
	if (p->secret != NULL) {
		OPENSSL_cleanse(p->secret, p->len);
		free(p->secret);
	}
	EVP_MAC_CTX_free(p->secret_k.keyed);
	EVP_MAC_CTX_free(p->subject.keyed);
	EVP_MAC_free(p->hmac);
	free(p);
}

int
pseudo_contract_key(const struct pseudo *p, const char *contract_id, struct pseudo_key *out)
{
	unsigned char buf[sizeof(PSEUDONYM_LABEL) + 128];
	size_t n = contract_label(contract_id, buf);

	return n == 0 ? -1 : mac_run(&p->secret_k, buf, n, out->k);
}

void
pseudo_key_wipe(struct pseudo_key *k)
{
	OPENSSL_cleanse(k->k, sizeof(k->k));
}

int
pseudo_apply(const struct pseudo_key *k, const char *value, size_t len, char out[PSEUDO_HEX + 1])
{
	struct pseudo_mac m = {NULL};
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	int rc;

	m.keyed = keyed_new(hmac, k->k, sizeof(k->k));
	rc = m.keyed != NULL ? pseudo_mac_apply(&m, value, len, out) : -1;
	EVP_MAC_CTX_free(m.keyed);
	EVP_MAC_free(hmac);
	return rc;
}

struct pseudo_mac *
pseudo_mac_new(const struct pseudo *p, const char *contract_id)
{
	struct pseudo_key k;
	struct pseudo_mac *m;

	if (pseudo_contract_key(p, contract_id, &k) != 0)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (m != NULL && (m->keyed = keyed_new(p->hmac, k.k, sizeof(k.k))) == NULL) {
		free(m);
		m = NULL;
	}
	pseudo_key_wipe(&k);
	return m;
}

void
pseudo_mac_free(struct pseudo_mac *m)
{
	if (m == NULL)
		return;
	EVP_MAC_CTX_free(m->keyed);
	free(m);
}

int
pseudo_mac_apply(const struct pseudo_mac *m, const char *value, size_t len,
                 char out[PSEUDO_HEX + 1])
{
	unsigned char mac[32];

	if (mac_run(m, value, len, mac) != 0)
		return -1;
	codec_hex_encode(mac, PSEUDO_HEX / 2, out);
	return 0;
}

int
pseudo_subject(const struct pseudo *p, const char *member_id, char out[PSEUDO_SUBJECT_HEX + 1])
{
	unsigned char mac[32];

	if (mac_run(&p->subject, member_id, strlen(member_id), mac) != 0)
		return -1;
	codec_hex_encode(mac, PSEUDO_SUBJECT_HEX / 2, out);
	return 0;
}

struct pseudo *
pseudo_load(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *secret = file_read(path, PSEUDO_MAX_SECRET, FILE_READ_SECRET, &len, err, errlen);

	if (secret == NULL)
		return NULL;
	struct pseudo *p = pseudo_new(secret, len);
	OPENSSL_cleanse(secret, len);
	free(secret);
	if (p == NULL)
		snprintf(err, errlen, "%s: not a pseudonym secret (shorter than %d bytes)", path,
		         PSEUDO_MIN_SECRET);
	return p;
}
