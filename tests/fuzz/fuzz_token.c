/* fuzz_token — token_verify on hostile input, both as raw compact tokens and as header/payload
 * JSON that the harness signs, so that the claim checks behind the signature are reached too.
 *
 * Input: first byte even → the rest is a compact token, verified as is.
 *        first byte odd  → the rest is "HEADER\nPAYLOAD" (JSON text), base64url-encoded and
 *                          signed with the harness key (ES256, raw R||S), then verified.
 * The key pair and verifiers are made once per process: libFuzzer leaves no other place for
 * them than file-scope variables.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "token.h"

#define NOW ((int64_t)1775000000)

static EVP_PKEY *key;
static struct token_verifier *partner, *staff;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/fuzz_token.XXXXXX";
	char err[256];
	int fd = mkstemp(path);
	FILE *f;

	(void)argc;
	(void)argv;
	key = EVP_EC_gen("P-256");
	if (fd < 0 || !key || !(f = fdopen(fd, "w")) || !PEM_write_PUBKEY(f, key))
		abort();
	fclose(f);
	partner = token_verifier_new(path, "pdgate.local/demo", TOKEN_WORK_ORDER, err, sizeof err);
	staff = token_verifier_new(path, "pdgate.local/demo", TOKEN_STAFF, err, sizeof err);
	unlink(path);
	if (!partner || !staff)
		abort();
	return 0;
}

static void
b64url(const unsigned char *in, size_t n, char *out)
{
	static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
		             (i + 2 < n ? in[i + 2] : 0);
		out[o++] = A[v >> 18 & 63];
		out[o++] = A[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = A[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = A[v & 63];
	}
	out[o] = '\0';
}

/* header.payload signed with the harness key; caller frees. NULL if signing fails. */
static char *
sign(const uint8_t *hdr, size_t hl, const uint8_t *pay, size_t pl)
{
	char *tok = malloc(2 * (hl + pl) + 128);
	unsigned char der[128], raw[64];
	const unsigned char *p = der;
	size_t dl = sizeof der, n;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *s = NULL;
	const BIGNUM *r, *ss;

	if (!tok || !md)
		goto fail;
	b64url(hdr, hl, tok);
	n = strlen(tok);
	tok[n++] = '.';
	b64url(pay, pl, tok + n);
	n = strlen(tok);
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &dl, (const unsigned char *)tok, n) != 1)
		goto fail;
	s = d2i_ECDSA_SIG(NULL, &p, (long)dl);
	if (!s)
		goto fail;
	ECDSA_SIG_get0(s, &r, &ss);
	BN_bn2binpad(r, raw, 32);
	BN_bn2binpad(ss, raw + 32, 32);
	tok[n++] = '.';
	b64url(raw, sizeof raw, tok + n);
	ECDSA_SIG_free(s);
	EVP_MD_CTX_free(md);
	return tok;
fail:
	ECDSA_SIG_free(s);
	EVP_MD_CTX_free(md);
	free(tok);
	return NULL;
}

static void
check(const char *tok, size_t len)
{
	struct token_claims c;
	char why[160];
	enum token_status st;

	st = token_verify(partner, tok, len, NOW, &c, why, sizeof why);
	if (st == TOKEN_OK) {
		/* what a verified work order promises its callers */
		if (c.kind != TOKEN_WORK_ORDER || !c.sub[0] || !c.jti[0] || !c.contract[0] ||
		    !c.purpose[0] || c.exp <= c.iat || c.exp - c.iat > TOKEN_MAX_LIFETIME ||
		    NOW - c.exp > TOKEN_LEEWAY)
			abort();
	} else if (!why[0] || memchr(why, '\0', sizeof why) == NULL) {
		abort(); /* every refusal names its rule */
	}
	st = token_verify(staff, tok, len, NOW, &c, why, sizeof why);
	if (st == TOKEN_OK && (c.kind != TOKEN_STAFF || c.role == TOKEN_ROLE_NONE))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 2 * TOKEN_MAX_BYTES)
		return 0;
	if ((data[0] & 1) == 0) {
		/* a copy of exactly size-1 bytes, so that ASan catches a read past the length */
		char *tok = malloc(size - 1 ? size - 1 : 1);
		if (!tok)
			return 0;
		memcpy(tok, data + 1, size - 1);
		check(tok, size - 1);
		free(tok);
	} else {
		const uint8_t *nl = memchr(data + 1, '\n', size - 1);
		char *tok;
		if (!nl)
			return 0;
		tok =
		    sign(data + 1, (size_t)(nl - data - 1), nl + 1, size - (size_t)(nl + 1 - data));
		if (tok) {
			check(tok, strlen(tok));
			free(tok);
		}
	}
	return 0;
}
