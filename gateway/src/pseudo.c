/* pseudo — pseudonyms per contract and ledger subject references, keyed by the pseudonym secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "codec.h"
#include "file.h"
#include "pseudo.h"

struct pseudo {
	unsigned char *secret;
	size_t len;
	unsigned char subject_key[32]; /* K_s, derived once */
};

static const char PSEUDONYM_LABEL[] = "pdgate pseudonym v1"; /* sizeof includes the 0x00 */
static const char SUBJECT_LABEL[] = "pdgate subject v1";

static int
hmac(const unsigned char *key, size_t keylen, const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;
	if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) == NULL || n != 32)
		return -1;
	return 0;
}

_Static_assert(PSEUDO_HEX % 2 == 0, "a pseudonym is whole bytes of hex");

struct pseudo *
pseudo_new(const void *secret, size_t len)
{
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
	if (hmac(p->secret, p->len, SUBJECT_LABEL, sizeof(SUBJECT_LABEL), p->subject_key) != 0) {
		pseudo_free(p);
		return NULL;
	}
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
	OPENSSL_cleanse(p->subject_key, sizeof(p->subject_key));
	free(p);
}

int
pseudo_contract_key(const struct pseudo *p, const char *contract_id, struct pseudo_key *out)
{
	size_t idlen = strlen(contract_id);
	unsigned char buf[sizeof(PSEUDONYM_LABEL) + 128];
	if (idlen > 128)
		return -1;
	memcpy(buf, PSEUDONYM_LABEL, sizeof(PSEUDONYM_LABEL));
	memcpy(buf + sizeof(PSEUDONYM_LABEL), contract_id, idlen);
	return hmac(p->secret, p->len, buf, sizeof(PSEUDONYM_LABEL) + idlen, out->k);
}

void
pseudo_key_wipe(struct pseudo_key *k)
{
	OPENSSL_cleanse(k->k, sizeof(k->k));
}

int
pseudo_apply(const struct pseudo_key *k, const char *value, size_t len, char out[PSEUDO_HEX + 1])
{
	unsigned char mac[32];
	if (hmac(k->k, sizeof(k->k), value, len, mac) != 0)
		return -1;
	codec_hex_encode(mac, PSEUDO_HEX / 2, out);
	return 0;
}

int
pseudo_subject(const struct pseudo *p, const char *member_id, char out[PSEUDO_SUBJECT_HEX + 1])
{
	unsigned char mac[32];
	if (hmac(p->subject_key, sizeof(p->subject_key), member_id, strlen(member_id), mac) != 0)
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
