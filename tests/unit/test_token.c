/* test_token — token verification, binding and issuing against tokens crafted byte by byte. */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "check.h"
#include "token.h"
#include "tokenstore.h"

#define ISSUER "pdgate.test/unit"
#define NOW ((int64_t)1775000000) /* 2026-04-01 */

static EVP_PKEY *key, *other_key, *rsa_key;
static char dir[] = "/tmp/test_token.XXXXXX";
static char key_path[256], pub_path[256], pub_pem[1024];
static unsigned char thumb_a[32], thumb_b[32]; /* two "certificates" of sakura-mail */

/* ---- building tokens by hand --------------------------------------------------------------- */

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

enum signer {
	SIG_ES256,     /* the token key, raw R||S: valid */
	SIG_OTHER,     /* ES256 by another P-256 key */
	SIG_EMPTY,     /* no signature at all: "h.p." */
	SIG_JUNK,      /* 64 random bytes */
	SIG_HS256_PEM, /* HMAC-SHA256 keyed with the public key's PEM: the confusion attack */
	SIG_RS256,     /* RSA PKCS#1 v1.5 */
	SIG_TRUNCATED, /* valid R||S less its last byte */
	SIG_EXTENDED,  /* valid R||S plus a zero byte */
	SIG_DER,       /* the same signature left in DER form */
};

/* Signs input with key using digest SHA-256; DER signature into sig. */
static size_t
evp_sign(EVP_PKEY *k, const char *input, unsigned char *sig, size_t cap)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = cap;
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(md, sig, &n, (const unsigned char *)input, strlen(input)) != 1)
		n = 0;
	EVP_MD_CTX_free(md);
	return n;
}

/* DER ECDSA-Sig-Value → 64 bytes R||S, each left-padded to 32. */
static void
der_to_raw(const unsigned char *der, size_t n, unsigned char raw[64])
{
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &der, (long)n);
	const BIGNUM *r, *ss;
	ECDSA_SIG_get0(s, &r, &ss);
	BN_bn2binpad(r, raw, 32);
	BN_bn2binpad(ss, raw + 32, 32);
	ECDSA_SIG_free(s);
}

/* header.payload.signature; caller frees. */
static char *
make_token(const char *header, const char *payload, enum signer how)
{
	size_t hl = strlen(header), pl = strlen(payload);
	char *input = malloc(2 * (hl + pl) + 16);
	char *tok = malloc(2 * (hl + pl) + 1024);
	unsigned char sig[1024], raw[66];
	size_t n = 0;
	unsigned int hn = 0;

	b64url((const unsigned char *)header, hl, input);
	strcat(input, ".");
	b64url((const unsigned char *)payload, pl, input + strlen(input));

	switch (how) {
	case SIG_ES256:
	case SIG_TRUNCATED:
	case SIG_EXTENDED:
	case SIG_DER:
		n = evp_sign(key, input, sig, sizeof sig);
		if (how != SIG_DER) {
			der_to_raw(sig, n, raw);
			n = how == SIG_TRUNCATED ? 63 : how == SIG_EXTENDED ? 65 : 64;
			raw[64] = 0;
			memcpy(sig, raw, n);
		}
		break;
	case SIG_OTHER:
		n = evp_sign(other_key, input, sig, sizeof sig);
		der_to_raw(sig, n, raw);
		memcpy(sig, raw, 64);
		n = 64;
		break;
	case SIG_EMPTY:
		n = 0;
		break;
	case SIG_JUNK:
		RAND_bytes(sig, 64);
		n = 64;
		break;
	case SIG_HS256_PEM:
		HMAC(EVP_sha256(), pub_pem, (int)strlen(pub_pem), (const unsigned char *)input,
		     strlen(input), sig, &hn);
		n = hn;
		break;
	case SIG_RS256:
		n = evp_sign(rsa_key, input, sig, sizeof sig);
		break;
	}
	strcpy(tok, input);
	strcat(tok, ".");
	b64url(sig, n, tok + strlen(tok));
	free(input);
	return tok;
}

/* ---- payloads ------------------------------------------------------------------------------ */

static json_t *
work_order(void)
{
	char cnf[48];
	b64url(thumb_a, 32, cnf);
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:{s:s}}", "iss", ISSUER, "aud",
	                 "pdgate-partner", "sub", "sakura-mail", "iat", (json_int_t)NOW - 3600,
	                 "exp", (json_int_t)NOW + 3600, "jti", "wo-0001_AbC", "contract",
	                 "CT-2026-0001", "purpose", "marketing", "cnf", "x5t#S256", cnf);
}

static json_t *
staff(void)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "iss", ISSUER, "aud",
	                 "pdgate-compliance", "sub", "officer", "iat", (json_int_t)NOW - 10, "exp",
	                 (json_int_t)NOW + 3600, "jti", "st-0001", "role", "auditor");
}

static char *
dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

/* Replaces NOW±N markers ("@+60", "@-61") in raw JSON with absolute times. */
static char *
at_times(const char *raw)
{
	char *out = malloc(strlen(raw) * 4 + 64);
	size_t o = 0;
	for (const char *p = raw; *p;) {
		if (*p == '@') {
			char *end;
			long long d = strtoll(p + 1, &end, 10);
			o += (size_t)sprintf(out + o, "%lld", (long long)NOW + d);
			p = end;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return out;
}

/* ---- verification table -------------------------------------------------------------------- */

#define HDR "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"

struct vcase {
	const char *name;
	const char *header;      /* NULL: HDR */
	int staff;               /* start from the staff payload instead of the work order */
	const char *drop;        /* a claim to remove */
	const char *set, *value; /* a claim to set to this raw JSON ("@-61" = NOW - 61) */
	const char *raw;         /* the whole payload, raw ("@" times allowed) */
	enum signer sig;
	enum token_kind at; /* which verifier */
	enum token_status want;
	const char *why; /* words why must contain; NULL: no refusal, why stays empty */
};

static const struct vcase vcases[] = {
    {"valid work order", NULL, 0, NULL, NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_OK,
     NULL},
    {"valid staff token", NULL, 1, NULL, NULL, NULL, NULL, SIG_ES256, TOKEN_STAFF, TOKEN_OK, NULL},
    {"valid, header without typ", "{\"alg\":\"ES256\"}", 0, NULL, NULL, NULL, NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_OK, NULL},
    {"valid, safe kid", "{\"alg\":\"ES256\",\"kid\":\"token-2026.1\"}", 0, NULL, NULL, NULL, NULL,
     SIG_ES256, TOKEN_WORK_ORDER, TOKEN_OK, NULL},
    {"valid, unbound", NULL, 0, "cnf", NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_OK,
     NULL},
    {"valid, max_records", NULL, 0, NULL, "max_records", "2", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_OK, NULL},
    {"valid, nbf now", NULL, 0, NULL, "nbf", "@0", NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_OK,
     NULL},

    /* the algorithm */
    {"alg none, no signature", "{\"alg\":\"none\",\"typ\":\"JWT\"}", 0, NULL, NULL, NULL, NULL,
     SIG_EMPTY, TOKEN_WORK_ORDER, TOKEN_INVALID, "alg is not ES256"},
    {"alg None, no signature", "{\"alg\":\"None\"}", 0, NULL, NULL, NULL, NULL, SIG_EMPTY,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "alg is not ES256"},
    {"alg NONE, no signature", "{\"alg\":\"NONE\"}", 0, NULL, NULL, NULL, NULL, SIG_EMPTY,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "alg is not ES256"},
    {"alg none, junk signature", "{\"alg\":\"none\"}", 0, NULL, NULL, NULL, NULL, SIG_JUNK,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "alg is not ES256"},
    {"alg None, ES256 signature", "{\"alg\":\"None\"}", 0, NULL, NULL, NULL, NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "alg is not ES256"},
    {"alg NONE, junk signature", "{\"alg\":\"NONE\"}", 0, NULL, NULL, NULL, NULL, SIG_JUNK,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "alg is not ES256"},
    {"HS256 keyed with the public PEM", "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", 0, NULL, NULL, NULL,
     NULL, SIG_HS256_PEM, TOKEN_WORK_ORDER, TOKEN_INVALID, "alg is not ES256"},
    {"RS256", "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", 0, NULL, NULL, NULL, NULL, SIG_RS256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "alg is not ES256"},
    {"alg es256 lowercase", "{\"alg\":\"es256\"}", 0, NULL, NULL, NULL, NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "alg is not ES256"},
    {"alg ES384", "{\"alg\":\"ES384\"}", 0, NULL, NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "alg is not ES256"},
    {"alg as array", "{\"alg\":[\"ES256\"]}", 0, NULL, NULL, NULL, NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "alg is not ES256"},
    {"alg with NUL escape", "{\"alg\":\"ES256\\u0000\"}", 0, NULL, NULL, NULL, NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "header"},
    {"alg missing", "{\"typ\":\"JWT\"}", 0, NULL, NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "alg missing"},

    /* the signature */
    {"ES256 by another key", NULL, 0, NULL, NULL, NULL, NULL, SIG_OTHER, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "does not verify"},
    {"signature truncated to 63 bytes", NULL, 0, NULL, NULL, NULL, NULL, SIG_TRUNCATED,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "not 64 bytes"},
    {"signature extended to 65 bytes", NULL, 0, NULL, NULL, NULL, NULL, SIG_EXTENDED,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "not 64 bytes"},
    {"signature in DER form", NULL, 0, NULL, NULL, NULL, NULL, SIG_DER, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "not 64 bytes"},
    {"ES256 header, no signature", NULL, 0, NULL, NULL, NULL, NULL, SIG_EMPTY, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "not 64 bytes"},

    /* the header */
    {"duplicate alg", "{\"alg\":\"none\",\"alg\":\"ES256\"}", 0, NULL, NULL, NULL, NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "duplicate"},
    {"duplicate alg, same value", "{\"alg\":\"ES256\",\"alg\":\"ES256\"}", 0, NULL, NULL, NULL,
     NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID, "duplicate"},
    {"crit", "{\"alg\":\"ES256\",\"crit\":[\"exp\"],\"exp\":1}", 0, NULL, NULL, NULL, NULL,
     SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID, "crit"},
    {"crit empty", "{\"alg\":\"ES256\",\"crit\":[]}", 0, NULL, NULL, NULL, NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "crit"},
    {"kid with ../", "{\"alg\":\"ES256\",\"kid\":\"../../etc/passwd\"}", 0, NULL, NULL, NULL, NULL,
     SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID, "kid"},
    {"kid with /", "{\"alg\":\"ES256\",\"kid\":\"keys/token\"}", 0, NULL, NULL, NULL, NULL,
     SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID, "kid"},
    {"kid a number", "{\"alg\":\"ES256\",\"kid\":7}", 0, NULL, NULL, NULL, NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "kid"},
    {"typ JOSE", "{\"alg\":\"ES256\",\"typ\":\"JOSE\"}", 0, NULL, NULL, NULL, NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "typ"},
    {"jku", "{\"alg\":\"ES256\",\"jku\":\"https://evil.example/k\"}", 0, NULL, NULL, NULL, NULL,
     SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID, "not allowed"},
    {"jwk", "{\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\"}}", 0, NULL, NULL, NULL, NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "not allowed"},
    {"header an array", "[\"ES256\"]", 0, NULL, NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "not a JSON object"},
    {"header not JSON", "{alg:ES256}", 0, NULL, NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "not valid JSON"},
    {"header nested deep", "{\"alg\":\"ES256\",\"x\":[[[[[1]]]]]}", 0, NULL, NULL, NULL, NULL,
     SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID, "too deep"},

    /* the payload: form and duplicates */
    {"duplicate sub", NULL, 0, NULL, NULL, NULL,
     "{\"iss\":\"" ISSUER "\",\"aud\":\"pdgate-partner\",\"sub\":\"sakura-mail\",\"sub\":"
     "\"tokei-lab\",\"iat\":@-10,\"exp\":@3600,\"jti\":\"j1\",\"contract\":\"CT-2026-0001\","
     "\"purpose\":\"marketing\"}",
     SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID, "duplicate"},
    {"payload trailing garbage", NULL, 0, NULL, NULL, NULL,
     "{\"iss\":\"" ISSUER "\",\"aud\":\"pdgate-partner\",\"sub\":\"sakura-mail\","
     "\"iat\":@-10,\"exp\":@3600,\"jti\":\"j1\",\"contract\":\"CT-2026-0001\","
     "\"purpose\":\"marketing\"}{}",
     SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID, "payload"},

    /* required claims, one by one */
    {"no iss", NULL, 0, "iss", NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID,
     "iss missing"},
    {"no aud", NULL, 0, "aud", NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID,
     "aud missing"},
    {"no sub", NULL, 0, "sub", NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID,
     "sub missing"},
    {"no iat", NULL, 0, "iat", NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID,
     "iat missing"},
    {"no exp", NULL, 0, "exp", NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID,
     "exp missing"},
    {"no jti", NULL, 0, "jti", NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID,
     "jti missing"},
    {"no contract", NULL, 0, "contract", NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "contract missing"},
    {"no purpose", NULL, 0, "purpose", NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID,
     "purpose missing"},
    {"staff: no role", NULL, 1, "role", NULL, NULL, NULL, SIG_ES256, TOKEN_STAFF, TOKEN_INVALID,
     "role missing"},
    {"staff: no sub", NULL, 1, "sub", NULL, NULL, NULL, SIG_ES256, TOKEN_STAFF, TOKEN_INVALID,
     "sub missing"},

    /* claim values and types */
    {"other issuer", NULL, 0, NULL, "iss", "\"pdgate.local/other\"", NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "iss"},
    {"aud array", NULL, 0, NULL, "aud", "[\"pdgate-partner\"]", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "aud"},
    {"aud foreign", NULL, 0, NULL, "aud", "\"https://api.example\"", NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "aud"},
    {"exp as string", NULL, 0, NULL, "exp", "\"1775003600\"", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "exp is not an integer"},
    {"exp 1e30", NULL, 0, NULL, NULL, NULL,
     "{\"iss\":\"" ISSUER "\",\"aud\":\"pdgate-partner\",\"sub\":\"sakura-mail\","
     "\"iat\":@-10,\"exp\":1e30,\"jti\":\"j1\",\"contract\":\"CT-2026-0001\","
     "\"purpose\":\"marketing\"}",
     SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID, "exp is not an integer"},
    {"exp real", NULL, 0, NULL, NULL, NULL,
     "{\"iss\":\"" ISSUER "\",\"aud\":\"pdgate-partner\",\"sub\":\"sakura-mail\","
     "\"iat\":@-10,\"exp\":@3600.0,\"jti\":\"j1\",\"contract\":\"CT-2026-0001\","
     "\"purpose\":\"marketing\"}",
     SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID, "exp is not an integer"},
    {"exp beyond 2^53", NULL, 0, NULL, "exp", "9007199254740993", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "exp is not an integer"},
    {"exp beyond int64", NULL, 0, NULL, "exp", "99999999999999999999", NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "payload"},
    {"iat negative", NULL, 0, NULL, "iat", "-5", NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID,
     "iat is not an integer"},
    {"iat boolean", NULL, 0, NULL, "iat", "true", NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID,
     "iat is not an integer"},
    {"jti with /", NULL, 0, NULL, "jti", "\"a/b\"", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "jti"},
    {"jti empty", NULL, 0, NULL, "jti", "\"\"", NULL, SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID,
     "jti"},
    {"sub uppercase", NULL, 0, NULL, "sub", "\"Sakura-Mail\"", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "sub"},
    {"contract with ../", NULL, 0, NULL, "contract", "\"../CT-2026-0001\"", NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "contract"},
    {"max_records zero", NULL, 0, NULL, "max_records", "0", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "max_records"},
    {"max_records string", NULL, 0, NULL, "max_records", "\"10\"", NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "max_records"},
    {"cnf short thumbprint", NULL, 0, NULL, "cnf", "{\"x5t#S256\":\"AAAA\"}", NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "cnf"},
    {"cnf padded", NULL, 0, NULL, "cnf",
     "{\"x5t#S256\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}", NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "cnf"},
    {"cnf extra member", NULL, 0, NULL, "cnf",
     "{\"x5t#S256\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"jkt\":\"x\"}", NULL,
     SIG_ES256, TOKEN_WORK_ORDER, TOKEN_INVALID, "cnf"},
    {"work order with role", NULL, 0, NULL, "role", "\"officer\"", NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "does not carry"},
    {"unknown claim", NULL, 0, NULL, "scope", "\"admin\"", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "does not carry"},
    {"staff with contract", NULL, 1, NULL, "contract", "\"CT-2026-0001\"", NULL, SIG_ES256,
     TOKEN_STAFF, TOKEN_INVALID, "does not carry"},
    {"staff with cnf", NULL, 1, NULL, "cnf",
     "{\"x5t#S256\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", NULL, SIG_ES256, TOKEN_STAFF,
     TOKEN_INVALID, "does not carry"},
    {"staff role admin", NULL, 1, NULL, "role", "\"admin\"", NULL, SIG_ES256, TOKEN_STAFF,
     TOKEN_INVALID, "role"},

    /* time, with the 60 s leeway */
    {"exp 61 s past", NULL, 0, NULL, "exp", "@-61", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "expired"},
    {"exp 59 s past (leeway)", NULL, 0, NULL, "exp", "@-59", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_OK, NULL},
    {"exp 60 s past (leeway)", NULL, 0, NULL, "exp", "@-60", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_OK, NULL},
    {"nbf 61 s ahead", NULL, 0, NULL, "nbf", "@61", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "nbf"},
    {"nbf 60 s ahead (leeway)", NULL, 0, NULL, "nbf", "@60", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_OK, NULL},
    {"nbf as string", NULL, 0, NULL, "nbf", "\"0\"", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "nbf"},
    {"iat 61 s ahead", NULL, 0, NULL, "iat", "@61", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "iat more than 60 s in the future"},
    {"iat 60 s ahead (leeway)", NULL, 0, NULL, "iat", "@60", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_OK, NULL},
    {"lifetime 40 days", NULL, 0, NULL, "exp", "@3452400", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "31 days"},
    {"lifetime exactly 31 days", NULL, 0, NULL, "exp", "@2674800", NULL, SIG_ES256,
     TOKEN_WORK_ORDER, TOKEN_OK, NULL},
    {"exp before iat", NULL, 0, NULL, "iat", "@3601", NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_INVALID, "exp is not after iat"},

    /* audiences */
    {"staff token at the partner API", NULL, 1, NULL, NULL, NULL, NULL, SIG_ES256, TOKEN_WORK_ORDER,
     TOKEN_WRONG_AUDIENCE, "staff token"},
    {"work order at the compliance API", NULL, 0, NULL, NULL, NULL, NULL, SIG_ES256, TOKEN_STAFF,
     TOKEN_WRONG_AUDIENCE, "work order"},
    {"staff token by another key at the partner API", NULL, 1, NULL, NULL, NULL, NULL, SIG_OTHER,
     TOKEN_WORK_ORDER, TOKEN_INVALID, "does not verify"},
};

static char *
payload_of(const struct vcase *c)
{
	json_t *p;
	if (c->raw)
		return at_times(c->raw);
	p = c->staff ? staff() : work_order();
	if (c->drop)
		json_object_del(p, c->drop);
	if (c->set) {
		char *v = at_times(c->value);
		json_error_t e;
		json_t *j = json_loads(v, JSON_DECODE_ANY, &e);
		free(v);
		if (!j) { /* values jansson itself refuses: payload_spliced writes them */
			json_decref(p);
			return NULL;
		}
		json_object_set_new(p, c->set, j);
	}
	return dump(p);
}

/* Splices "key":value into the serialized payload for values jansson will not hold. */
static char *
payload_spliced(const struct vcase *c)
{
	json_t *p = c->staff ? staff() : work_order();
	char *base, *out;
	json_object_del(p, c->set);
	base = dump(p);
	out = malloc(strlen(base) + strlen(c->set) + strlen(c->value) + 8);
	sprintf(out, "{\"%s\":%s,%s", c->set, c->value, base + 1);
	free(base);
	return out;
}

static void
test_verify_table(struct token_verifier *wo, struct token_verifier *st)
{
	for (size_t i = 0; i < sizeof vcases / sizeof vcases[0]; i++) {
		const struct vcase *c = &vcases[i];
		char *payload = payload_of(c);
		char *tok, why[256];
		struct token_claims cl;
		enum token_status got;

		if (!payload)
			payload = payload_spliced(c);
		tok = make_token(c->header ? c->header : HDR, payload, c->sig);
		memset(&cl, 0x5a, sizeof cl);
		got = token_verify(c->at == TOKEN_STAFF ? st : wo, tok, strlen(tok), NOW, &cl, why,
		                   sizeof why);
		CHECK(got == c->want, "%s: got %d want %d (%s)", c->name, got, c->want, why);
		CHECK(c->why != NULL ? c->why[0] != '\0' && strstr(why, c->why) != NULL
		                     : why[0] == '\0',
		      "%s: why '%s', want '%s'", c->name, why, c->why ? c->why : "");
		CHECK(got != TOKEN_OK || why[0] == '\0', "%s: why set on success", c->name);
		if (got == TOKEN_INVALID) {
			static const struct token_claims zero;
			CHECK(memcmp(&cl, &zero, sizeof cl) == 0, "%s: claims not cleared",
			      c->name);
			CHECK(strstr(why, "sakura") == NULL && strstr(why, "../") == NULL &&
			          strstr(why, "evil") == NULL,
			      "%s: why quotes the token: %s", c->name, why);
		}
		free(tok);
		free(payload);
	}
}

/* ---- form: segments and sizes --------------------------------------------------------------- */

static void
test_form(struct token_verifier *wo)
{
	char *good_payload = dump(work_order());
	char *good = make_token(HDR, good_payload, SIG_ES256);
	size_t n = strlen(good);
	char why[256], *buf = malloc(TOKEN_MAX_BYTES + 64);
	struct token_claims cl;
	char kid[10300];

	CHECK(token_verify(wo, good, n, NOW, &cl, why, sizeof why) == TOKEN_OK, "good: %s", why);
	/* the second time its signature comes from the cache: every other rule still runs */
	CHECK(token_verify(wo, good, n, NOW, &cl, why, sizeof why) == TOKEN_OK, "again: %s", why);
	CHECK(token_verify(wo, good, n, NOW + 3600 + 61, &cl, why, sizeof why) == TOKEN_INVALID &&
	          strstr(why, "expired") != NULL,
	      "a cached signature does not skip the time rules: %s", why);
	CHECK(token_verify(wo, good, n - 1, NOW, &cl, why, sizeof why) == TOKEN_INVALID,
	      "a cached token cut short is checked afresh");
	CHECK(token_verify(wo, good, n, NOW, &cl, why, sizeof why) == TOKEN_OK, "good: %s", why);
	CHECK(strcmp(cl.sub, "sakura-mail") == 0 && strcmp(cl.contract, "CT-2026-0001") == 0 &&
	          strcmp(cl.purpose, "marketing") == 0 && strcmp(cl.jti, "wo-0001_AbC") == 0 &&
	          cl.kind == TOKEN_WORK_ORDER && cl.has_cnf && !memcmp(cl.cnf, thumb_a, 32) &&
	          cl.exp == NOW + 3600 && cl.iat == NOW - 3600 && cl.max_records == 0 &&
	          cl.role == TOKEN_ROLE_NONE,
	      "claims of the good token");

	/* length is what counts, not a NUL: the good token followed by junk in the buffer */
	memcpy(buf, good, n);
	memcpy(buf + n, ".xyz", 5);
	CHECK(token_verify(wo, buf, n, NOW, &cl, why, sizeof why) == TOKEN_OK, "len bound: %s",
	      why);
	CHECK(token_verify(wo, buf, n + 4, NOW, &cl, why, sizeof why) == TOKEN_INVALID &&
	          strstr(why, "three segments"),
	      "four segments: %s", why);
	CHECK(token_verify(wo, good, n - 1, NOW, &cl, why, sizeof why) == TOKEN_INVALID,
	      "one byte short: %s", why);
	CHECK(token_verify(wo, good, 0, NOW, &cl, why, sizeof why) == TOKEN_INVALID, "empty");
	CHECK(token_verify(wo, NULL, 5, NOW, &cl, why, sizeof why) == TOKEN_INVALID, "NULL");

	/* two segments, padding, spaces, a NUL inside */
	CHECK(token_verify(wo, good, (size_t)(strrchr(good, '.') - good), NOW, &cl, why,
	                   sizeof why) == TOKEN_INVALID,
	      "two segments");
	memcpy(buf, good, n + 1);
	buf[n - 1] = '=';
	CHECK(token_verify(wo, buf, n, NOW, &cl, why, sizeof why) == TOKEN_INVALID &&
	          strstr(why, "character"),
	      "padding: %s", why);
	memcpy(buf, good, n + 1);
	buf[3] = '\0';
	CHECK(token_verify(wo, buf, n, NOW, &cl, why, sizeof why) == TOKEN_INVALID, "NUL inside");
	memcpy(buf, good, n + 1);
	buf[0] = '+';
	CHECK(token_verify(wo, buf, n, NOW, &cl, why, sizeof why) == TOKEN_INVALID,
	      "standard base64 alphabet");
	CHECK(token_verify(wo, ".a.b", 4, NOW, &cl, why, sizeof why) == TOKEN_INVALID &&
	          strstr(why, "empty"),
	      "empty header: %s", why);

	/* a flipped payload byte breaks the signature */
	memcpy(buf, good, n + 1);
	{
		char *p = strchr(buf, '.') + 5;
		*p = *p == 'A' ? 'B' : 'A';
	}
	CHECK(token_verify(wo, buf, n, NOW, &cl, why, sizeof why) == TOKEN_INVALID,
	      "tampered payload: %s", why);

	/* over 8 KiB: refused before anything is decoded */
	memset(buf, 'A', TOKEN_MAX_BYTES + 1);
	buf[10] = '.';
	buf[20] = '.';
	CHECK(token_verify(wo, buf, TOKEN_MAX_BYTES + 1, NOW, &cl, why, sizeof why) ==
	              TOKEN_INVALID &&
	          strstr(why, "8192"),
	      "over 8 KiB: %s", why);

	/* kid of 10 KB: over the size limit as a whole... */
	strcpy(kid, "{\"alg\":\"ES256\",\"kid\":\"");
	memset(kid + strlen(kid), 'k', 10240);
	strcpy(kid + 22 + 10240, "\"}");
	{
		char *t = make_token(kid, good_payload, SIG_ES256);
		CHECK(token_verify(wo, t, strlen(t), NOW, &cl, why, sizeof why) == TOKEN_INVALID,
		      "kid 10 KB: %s", why);
		free(t);
	}
	/* ...and a kid of 1 KB, within it, still refused as unsafe */
	strcpy(kid + 22 + 1024, "\"}");
	{
		char *t = make_token(kid, good_payload, SIG_ES256);
		CHECK(strlen(t) < TOKEN_MAX_BYTES, "1 KB kid token fits");
		CHECK(token_verify(wo, t, strlen(t), NOW, &cl, why, sizeof why) == TOKEN_INVALID &&
		          strstr(why, "kid"),
		      "kid 1 KB: %s", why);
		free(t);
	}
	free(good);
	free(good_payload);
	free(buf);
}

/* A header whose encoding leaves spare bits, with one set: the same bytes under a lax decoder,
 * another spelling of the token. */
static void
test_noncanonical(struct token_verifier *wo)
{
	const char *hdr = "{\"alg\": \"ES256\"}"; /* 16 bytes: 22 characters, 4 spare bits */
	char *payload = dump(work_order());
	char *t = make_token(hdr, payload, SIG_ES256);
	char why[256];
	struct token_claims cl;

	CHECK(token_verify(wo, t, strlen(t), NOW, &cl, why, sizeof why) == TOKEN_OK, "canonical");
	/* '}' = 0x7d: its low two bits 01 then four zero bits = 'Q'; 'R' sets a spare bit */
	CHECK(t[22] == '.' && t[21] == 'Q', "header spelling");
	t[21] = 'R';
	CHECK(token_verify(wo, t, strlen(t), NOW, &cl, why, sizeof why) == TOKEN_INVALID &&
	          strstr(why, "canonical"),
	      "spare bits set: %s", why);
	free(t);
	free(payload);
}

/* ---- the cache of verified tokens ------------------------------------------------------------ */

/* A signed work order with this jti, times relative to NOW, nbf only when has_nbf; caller frees. */
static char *
work_order_token(const char *jti, int64_t iat, int64_t exp, bool has_nbf, int64_t nbf)
{
	json_t *p = work_order();
	char *pl, *t;

	json_object_set_new(p, "jti", json_string(jti));
	json_object_set_new(p, "iat", json_integer(NOW + iat));
	json_object_set_new(p, "exp", json_integer(NOW + exp));
	if (has_nbf)
		json_object_set_new(p, "nbf", json_integer(NOW + nbf));
	pl = dump(p);
	t = make_token(HDR, pl, SIG_ES256);
	free(pl);
	return t;
}

/* Bytes glibc's allocator has handed out and not taken back. A sanitizer build allocates
 * elsewhere, so there the bound is only checked by the plain build. */
static size_t
heap_in_use(void)
{
	return mallinfo2().uordblks;
}

struct cache_worker {
	struct token_verifier *v;
	char **toks;
	size_t ntoks;
	int rounds;
	int wrong; /* verdicts or claims that differ from the token's */
};

static void *
cache_worker_run(void *arg)
{
	struct cache_worker *w = arg;
	char why[256], want[32];
	struct token_claims cl;

	for (int r = 0; r < w->rounds; r++)
		for (size_t i = 0; i < w->ntoks; i++) {
			size_t k = (i * 7 + (size_t)r) % w->ntoks;
			snprintf(want, sizeof want, "mt-%zu", k);
			if (token_verify(w->v, w->toks[k], strlen(w->toks[k]), NOW, &cl, why,
			                 sizeof why) != TOKEN_OK ||
			    strcmp(cl.jti, want) != 0)
				w->wrong++;
		}
	return NULL;
}

static void
test_cache(struct token_verifier *wo, struct token_verifier *st)
{
	char why[256], jti[32];
	struct token_claims cl;
	char *t;
	size_t n;

	/* every time rule still applies to a remembered token */
	t = work_order_token("cache-time", -3600, 3600, false, 0);
	n = strlen(t);
	for (int i = 0; i < 2; i++)
		CHECK(token_verify(wo, t, n, NOW, &cl, why, sizeof why) == TOKEN_OK, "use %d: %s",
		      i, why);
	CHECK(token_verify(wo, t, n, NOW + 3600 + 61, &cl, why, sizeof why) == TOKEN_INVALID &&
	          strstr(why, "expired") != NULL,
	      "a remembered token past exp is refused: %s", why);
	CHECK(cl.jti[0] == '\0' && cl.exp == 0, "claims cleared on a refused remembered token");
	CHECK(token_verify(wo, t, n, NOW + 3600 + 60, &cl, why, sizeof why) == TOKEN_OK,
	      "within the leeway of exp: %s", why);
	CHECK(token_verify(wo, t, n, NOW - 3600 - 61, &cl, why, sizeof why) == TOKEN_INVALID &&
	          strstr(why, "iat more than 60 s in the future") != NULL,
	      "a remembered token before its iat is refused: %s", why);
	CHECK(token_verify(wo, t, n, NOW, &cl, why, sizeof why) == TOKEN_OK &&
	          strcmp(cl.jti, "cache-time") == 0 && cl.exp == NOW + 3600,
	      "and accepted again at a good time: %s", why);
	free(t);

	/* nbf: verified once inside its window, then sent again before it */
	t = work_order_token("cache-nbf", -3600, 3600, true, 600);
	n = strlen(t);
	CHECK(token_verify(wo, t, n, NOW, &cl, why, sizeof why) == TOKEN_INVALID &&
	          strstr(why, "not yet valid") != NULL,
	      "nbf ahead: %s", why);
	CHECK(token_verify(wo, t, n, NOW + 600, &cl, why, sizeof why) == TOKEN_OK &&
	          cl.nbf == NOW + 600,
	      "nbf reached: %s", why);
	CHECK(token_verify(wo, t, n, NOW, &cl, why, sizeof why) == TOKEN_INVALID &&
	          strstr(why, "not yet valid") != NULL,
	      "a remembered token before its nbf is refused: %s", why);
	free(t);

	/* the binding is the caller's on every use: the remembered claims keep cnf */
	t = work_order_token("cache-bound", -3600, 3600, false, 0);
	n = strlen(t);
	for (int i = 0; i < 2; i++) {
		struct token_context right = {"sakura-mail", thumb_a, "sakura-mail", true,
		                              TOKEN_BINDING_REQUIRED};
		struct token_context other = {"sakura-mail", thumb_b, "sakura-mail", true,
		                              TOKEN_BINDING_OPTIONAL};
		CHECK(token_verify(wo, t, n, NOW, &cl, why, sizeof why) == TOKEN_OK, "use %d: %s",
		      i, why);
		CHECK(cl.has_cnf && memcmp(cl.cnf, thumb_a, 32) == 0, "use %d: cnf kept", i);
		CHECK(token_check_binding(&cl, &other, NULL, 0) == TOKEN_BIND_CNF,
		      "use %d: another certificate refused", i);
		CHECK(token_check_binding(&cl, &right, NULL, 0) == TOKEN_BIND_OK,
		      "use %d: its certificate accepted", i);
	}

	/* a work order at the compliance API stays the other audience when remembered */
	for (int i = 0; i < 2; i++) {
		CHECK(token_verify(st, t, n, NOW, &cl, why, sizeof why) == TOKEN_WRONG_AUDIENCE &&
		          strstr(why, "work order") != NULL && strcmp(cl.jti, "cache-bound") == 0,
		      "use %d at the compliance API: %s", i, why);
		CHECK(token_verify(st, t, n, NOW + 3600 + 61, &cl, why, sizeof why) ==
		              TOKEN_INVALID &&
		          strstr(why, "expired") != NULL,
		      "use %d at the compliance API, expired: %s", i, why);
	}
	free(t);

	/* a refused token is not remembered as good: tampered bytes after the good ones */
	t = work_order_token("cache-tamper", -3600, 3600, false, 0);
	n = strlen(t);
	CHECK(token_verify(wo, t, n, NOW, &cl, why, sizeof why) == TOKEN_OK, "%s", why);
	t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
	for (int i = 0; i < 2; i++)
		CHECK(token_verify(wo, t, n, NOW, &cl, why, sizeof why) == TOKEN_INVALID,
		      "tampered signature, use %d: %s", i, why);
	free(t);

	/* The bound: twice as many tokens as it holds. Once the cache is full the heap must
	 * not grow, and a token pushed out is verified afresh, not refused. */
	{
		size_t before = 0, many = 2 * TOKEN_CACHE_MAX;
		char *first = work_order_token("bound-0", -3600, 3600, false, 0);
		int bad = 0;

		for (size_t i = 0; i < many; i++) {
			snprintf(jti, sizeof jti, "bound-%zu", i);
			t = i == 0 ? first : work_order_token(jti, -3600, 3600, false, 0);
			if (token_verify(wo, t, strlen(t), NOW, &cl, why, sizeof why) != TOKEN_OK ||
			    strcmp(cl.jti, jti) != 0)
				bad++;
			if (i != 0)
				free(t);
			if (i == TOKEN_CACHE_MAX + 64)
				before = heap_in_use();
		}
		CHECK(bad == 0, "%d of %zu distinct tokens refused", bad, many);
		{
			size_t after = heap_in_use();
			CHECK(after < before + 64 * 1024,
			      "heap grew by %zu bytes over %d tokens past the bound",
			      after - before, TOKEN_CACHE_MAX - 64);
		}
		CHECK(token_verify(wo, first, strlen(first), NOW, &cl, why, sizeof why) ==
		              TOKEN_OK &&
		          strcmp(cl.jti, "bound-0") == 0,
		      "the first token, pushed out, verifies again: %s", why);
		free(first);
	}

	/* many threads on one verifier: every verdict and every claim its own token's */
	{
		enum { THREADS = 4, TOKS = 24 };
		char *toks[TOKS];
		struct cache_worker w[THREADS];
		pthread_t th[THREADS];

		for (size_t i = 0; i < TOKS; i++) {
			snprintf(jti, sizeof jti, "mt-%zu", i);
			toks[i] = work_order_token(jti, -3600, 3600, false, 0);
		}
		for (int i = 0; i < THREADS; i++) {
			w[i] = (struct cache_worker){wo, toks, TOKS, 200, 0};
			CHECK(pthread_create(&th[i], NULL, cache_worker_run, &w[i]) == 0,
			      "thread %d", i);
		}
		for (int i = 0; i < THREADS; i++) {
			pthread_join(th[i], NULL);
			CHECK(w[i].wrong == 0, "thread %d: %d wrong verdicts", i, w[i].wrong);
		}
		for (size_t i = 0; i < TOKS; i++)
			free(toks[i]);
	}
}

/* ---- binding -------------------------------------------------------------------------------- */

static void
test_binding(struct token_verifier *wo, struct token_verifier *st)
{
	struct token_claims bound, unbound, stc;
	char why[256];
	json_t *p;
	char *pl, *t;

	pl = dump(work_order());
	t = make_token(HDR, pl, SIG_ES256);
	CHECK(token_verify(wo, t, strlen(t), NOW, &bound, why, sizeof why) == TOKEN_OK, "%s", why);
	free(t);
	free(pl);
	p = work_order();
	json_object_del(p, "cnf");
	pl = dump(p);
	t = make_token(HDR, pl, SIG_ES256);
	CHECK(token_verify(wo, t, strlen(t), NOW, &unbound, why, sizeof why) == TOKEN_OK, "%s",
	      why);
	free(t);
	free(pl);
	pl = dump(staff());
	t = make_token(HDR, pl, SIG_ES256);
	CHECK(token_verify(st, t, strlen(t), NOW, &stc, why, sizeof why) == TOKEN_OK, "%s", why);
	CHECK(stc.kind == TOKEN_STAFF && stc.role == TOKEN_ROLE_AUDITOR &&
	          strcmp(stc.sub, "officer") == 0 && !stc.has_cnf && stc.contract[0] == '\0',
	      "staff claims");
	free(t);
	free(pl);

	struct {
		const char *name;
		const struct token_claims *c;
		struct token_context ctx;
		enum token_bind want;
	} cases[] = {
	    {"bound, right certificate",
	     &bound,
	     {"sakura-mail", thumb_a, "sakura-mail", true, TOKEN_BINDING_REQUIRED},
	     TOKEN_BIND_OK},
	    {"bound, binding optional, right certificate",
	     &bound,
	     {"sakura-mail", thumb_a, "sakura-mail", true, TOKEN_BINDING_OPTIONAL},
	     TOKEN_BIND_OK},
	    {"bound, another certificate of the same partner",
	     &bound,
	     {"sakura-mail", thumb_b, "sakura-mail", true, TOKEN_BINDING_REQUIRED},
	     TOKEN_BIND_CNF},
	    {"bound, another certificate, binding optional",
	     &bound,
	     {"sakura-mail", thumb_b, "sakura-mail", true, TOKEN_BINDING_OPTIONAL},
	     TOKEN_BIND_CNF},
	    {"bound, no thumbprint",
	     &bound,
	     {"sakura-mail", NULL, "sakura-mail", true, TOKEN_BINDING_REQUIRED},
	     TOKEN_BIND_CNF},
	    {"unbound, binding required",
	     &unbound,
	     {"sakura-mail", thumb_a, "sakura-mail", true, TOKEN_BINDING_REQUIRED},
	     TOKEN_BIND_CNF},
	    {"unbound, binding optional",
	     &unbound,
	     {"sakura-mail", thumb_a, "sakura-mail", true, TOKEN_BINDING_OPTIONAL},
	     TOKEN_BIND_OK},
	    {"another partner's certificate",
	     &bound,
	     {"tokei-lab", thumb_a, "sakura-mail", true, TOKEN_BINDING_REQUIRED},
	     TOKEN_BIND_SUB},
	    {"contract not on file",
	     &bound,
	     {"sakura-mail", thumb_a, NULL, true, TOKEN_BINDING_REQUIRED},
	     TOKEN_BIND_CONTRACT},
	    {"contract of another partner",
	     &bound,
	     {"sakura-mail", thumb_a, "tokei-lab", true, TOKEN_BINDING_REQUIRED},
	     TOKEN_BIND_CONTRACT},
	    {"purpose not in the contract",
	     &bound,
	     {"sakura-mail", thumb_a, "sakura-mail", false, TOKEN_BINDING_REQUIRED},
	     TOKEN_BIND_PURPOSE},
	    {"staff token",
	     &stc,
	     {"officer", thumb_a, "officer", true, TOKEN_BINDING_OPTIONAL},
	     TOKEN_BIND_KIND},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum token_bind got =
		    token_check_binding(cases[i].c, &cases[i].ctx, why, sizeof why);
		CHECK(got == cases[i].want, "%s: got %d (%s) want %d", cases[i].name, got, why,
		      cases[i].want);
		CHECK((got == TOKEN_BIND_OK) == (why[0] == '\0'), "%s: why '%s' iff refused",
		      cases[i].name, why);
	}
	CHECK(token_check_binding(cases[2].c, &cases[2].ctx, why, sizeof why) == TOKEN_BIND_CNF &&
	          strstr(why, "cnf") != NULL,
	      "the refusal names its rule: %s", why);
}

/* ---- revocation and max_records through the store ------------------------------------------- */

static void
test_store_flow(struct token_verifier *wo)
{
	char db[300], why[256], err[256];
	struct tokenstore *ts;
	struct token_claims c;
	json_t *p = work_order();
	char *pl, *t;
	bool ok;

	snprintf(db, sizeof db, "%s/state.db", dir);
	ts = tokenstore_open(db, err, sizeof err);
	CHECK(ts != NULL, "open: %s", err);
	if (!ts)
		return;
	json_object_set_new(p, "max_records", json_integer(150));
	pl = dump(p);
	t = make_token(HDR, pl, SIG_ES256);
	CHECK(token_verify(wo, t, strlen(t), NOW, &c, why, sizeof why) == TOKEN_OK, "%s", why);
	CHECK(c.max_records == 150, "max_records read");

	/* max_records exhausted over two requests of 100 */
	CHECK(tokenstore_is_revoked(ts, c.jti) == 0, "not revoked");
	CHECK(tokenstore_take(ts, c.jti, 100, c.max_records, &ok) == 0 && ok, "first 100");
	CHECK(tokenstore_take(ts, c.jti, 100, c.max_records, &ok) == 0 && !ok,
	      "second 100 refused");
	CHECK(tokenstore_take(ts, c.jti, 50, c.max_records, &ok) == 0 && ok, "last 50 fit");
	CHECK(tokenstore_take(ts, c.jti, 1, c.max_records, &ok) == 0 && !ok, "then none");

	/* revoked jti */
	CHECK(tokenstore_revoke(ts, c.jti, NOW) == 0, "revoke");
	CHECK(tokenstore_is_revoked(ts, c.jti) == 1, "revoked");
	CHECK(tokenstore_is_revoked(ts, "wo-0002") == 0, "other jti not revoked");
	free(t);
	free(pl);
	tokenstore_close(ts);
}

/* ---- issuing -------------------------------------------------------------------------------- */

/* The decoded JSON text of segment `which` (0 header, 1 payload) of a compact token. */
static void
segment_json(const char *tok, int which, char *out, size_t cap)
{
	const char *s = tok;
	for (int i = 0; i < which; i++)
		s = strchr(s, '.') + 1;
	size_t n = (size_t)(strchr(s, '.') - s), pad = (4 - n % 4) % 4;
	char b64[4096];
	unsigned char raw[4096];
	int m;

	out[0] = '\0';
	if (n + pad >= sizeof b64)
		return;
	for (size_t i = 0; i < n; i++)
		b64[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	memset(b64 + n, '=', pad);
	b64[n + pad] = '\0';
	m = EVP_DecodeBlock(raw, (unsigned char *)b64, (int)(n + pad));
	if (m < 0 || (size_t)m - pad >= cap)
		return;
	memcpy(out, raw, (size_t)m - pad);
	out[(size_t)m - pad] = '\0';
}

static void
test_issue(struct token_verifier *wo, struct token_verifier *st)
{
	char err[256], why[256], jti[TOKEN_JTI_MAX + 1], jti2[TOKEN_JTI_MAX + 1], seg[2048];
	struct token_claims c;
	int64_t now = (int64_t)time(NULL);
	struct token_work_order w = {ISSUER,      "sakura-mail", "CT-2026-0001",
	                             "marketing", 500,           thumb_a};
	char *t = token_issue_work_order(key_path, &w, now, 72 * 3600, jti, err, sizeof err);
	json_t *j;

	CHECK(t != NULL, "issue work order: %s", err);
	if (!t)
		return;
	CHECK(token_verify(wo, t, strlen(t), now, &c, why, sizeof why) == TOKEN_OK, "verify: %s",
	      why);
	CHECK(strcmp(c.jti, jti) == 0 && strlen(jti) == 22, "jti 128 bits: %s", jti);
	CHECK(c.exp - c.iat == 72 * 3600 && c.iat == now && c.max_records == 500 && c.has_cnf &&
	          !memcmp(c.cnf, thumb_a, 32) && !strcmp(c.sub, "sakura-mail"),
	      "issued claims");
	/* the header is exactly alg and typ; the claims exactly the listed ones */
	segment_json(t, 0, seg, sizeof seg);
	j = json_loads(seg, JSON_REJECT_DUPLICATES, NULL);
	CHECK(j && json_object_size(j) == 2 && json_object_get(j, "alg") &&
	          json_object_get(j, "typ"),
	      "issued header: %s", seg);
	json_decref(j);
	segment_json(t, 1, seg, sizeof seg);
	j = json_loads(seg, JSON_REJECT_DUPLICATES, NULL);
	CHECK(j && json_object_size(j) == 10, "issued work order has 10 claims: %s", seg);
	json_decref(j);
	CHECK(token_verify(st, t, strlen(t), now, &c, why, sizeof why) == TOKEN_WRONG_AUDIENCE,
	      "issued work order at compliance");
	free(t);

	/* unbound, no max_records: eight claims; a fresh jti */
	w.cnf = NULL;
	w.max_records = 0;
	t = token_issue_work_order(key_path, &w, now, 60, jti2, err, sizeof err);
	CHECK(t && strcmp(jti, jti2) != 0, "second jti differs");
	if (t) {
		segment_json(t, 1, seg, sizeof seg);
		j = json_loads(seg, JSON_REJECT_DUPLICATES, NULL);
		CHECK(j && json_object_size(j) == 8, "unbound work order has 8 claims: %s", seg);
		json_decref(j);
		CHECK(token_verify(wo, t, strlen(t), now + 121, &c, why, sizeof why) ==
		          TOKEN_INVALID,
		      "expired after ttl + leeway");
	}
	free(t);

	t = token_issue_staff(key_path, ISSUER, "officer", TOKEN_ROLE_OFFICER, now, 8 * 3600, NULL,
	                      err, sizeof err);
	CHECK(t != NULL, "issue staff: %s", err);
	if (t) {
		CHECK(token_verify(st, t, strlen(t), now, &c, why, sizeof why) == TOKEN_OK &&
		          c.role == TOKEN_ROLE_OFFICER && !strcmp(c.sub, "officer"),
		      "staff verify: %s", why);
		segment_json(t, 1, seg, sizeof seg);
		j = json_loads(seg, JSON_REJECT_DUPLICATES, NULL);
		CHECK(j && json_object_size(j) == 7, "staff token has 7 claims: %s", seg);
		json_decref(j);
		CHECK(token_verify(wo, t, strlen(t), now, &c, why, sizeof why) ==
		          TOKEN_WRONG_AUDIENCE,
		      "staff token at partner");
	}
	free(t);

	/* refusals */
	CHECK(token_issue_work_order(key_path, &w, now, 32 * 86400, NULL, err, sizeof err) == NULL,
	      "ttl 32 days refused");
	CHECK(token_issue_work_order(key_path, &w, now, 0, NULL, err, sizeof err) == NULL,
	      "ttl 0 refused");
	CHECK(token_issue_staff(key_path, ISSUER, "Officer", TOKEN_ROLE_OFFICER, now, 60, NULL, err,
	                        sizeof err) == NULL,
	      "bad staff name refused");
	CHECK(token_issue_staff(key_path, ISSUER, "officer", TOKEN_ROLE_NONE, now, 60, NULL, err,
	                        sizeof err) == NULL,
	      "no role refused");
	CHECK(token_issue_staff(pub_path, ISSUER, "officer", TOKEN_ROLE_AUDITOR, now, 60, NULL, err,
	                        sizeof err) == NULL,
	      "public key as signing key refused");
	chmod(key_path, 0640);
	CHECK(token_issue_staff(key_path, ISSUER, "officer", TOKEN_ROLE_AUDITOR, now, 60, NULL, err,
	                        sizeof err) == NULL &&
	          strstr(err, "group or others"),
	      "key readable by group refused: %s", err);
	chmod(key_path, 0600);
}

/* ---- setup ---------------------------------------------------------------------------------- */

static void
write_pem(const char *path, EVP_PKEY *k, int private)
{
	FILE *f = fopen(path, "w");
	if (private)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	else
		PEM_write_PUBKEY(f, k);
	fclose(f);
	chmod(path, private ? 0600 : 0644);
}

static void
test_verifier_new(void)
{
	char path[300], err[256];
	struct token_verifier *v;

	snprintf(path, sizeof path, "%s/rsa.pub", dir);
	write_pem(path, rsa_key, 0);
	v = token_verifier_new(path, ISSUER, TOKEN_WORK_ORDER, err, sizeof err);
	CHECK(v == NULL && strstr(err, "P-256"), "RSA public key refused: %s", err);
	snprintf(path, sizeof path, "%s/missing.pub", dir);
	CHECK(token_verifier_new(path, ISSUER, TOKEN_WORK_ORDER, err, sizeof err) == NULL,
	      "missing file refused");
	CHECK(token_verifier_new(pub_path, "", TOKEN_WORK_ORDER, err, sizeof err) == NULL,
	      "empty issuer refused");
	token_verifier_free(NULL);
}

int
main(void)
{
	struct token_verifier *wo, *st;
	char err[256];
	FILE *f;
	size_t n;

	if (!mkdtemp(dir))
		return 1;
	key = EVP_EC_gen("P-256");
	other_key = EVP_EC_gen("P-256");
	rsa_key = EVP_RSA_gen(2048);
	snprintf(key_path, sizeof key_path, "%s/token.key", dir);
	snprintf(pub_path, sizeof pub_path, "%s/token.pub", dir);
	write_pem(key_path, key, 1);
	write_pem(pub_path, key, 0);
	f = fopen(pub_path, "r");
	n = fread(pub_pem, 1, sizeof pub_pem - 1, f);
	pub_pem[n] = '\0';
	fclose(f);
	SHA256((const unsigned char *)"certificate A", 13, thumb_a);
	SHA256((const unsigned char *)"certificate B", 13, thumb_b);

	wo = token_verifier_new(pub_path, ISSUER, TOKEN_WORK_ORDER, err, sizeof err);
	st = token_verifier_new(pub_path, ISSUER, TOKEN_STAFF, err, sizeof err);
	CHECK(wo && st, "verifiers: %s", err);
	if (wo && st) {
		test_verify_table(wo, st);
		test_form(wo);
		test_noncanonical(wo);
		test_binding(wo, st);
		test_cache(wo, st);
		test_store_flow(wo);
		test_issue(wo, st);
	}
	test_verifier_new();

	token_verifier_free(wo);
	token_verifier_free(st);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(rsa_key);
	{
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return check_done();
}
