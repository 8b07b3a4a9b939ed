/* token — work orders and staff tokens: ES256 JWTs issued and verified behind a strict wall. */
#include "token.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "codec.h"
#include "file.h"
#include "ident.h"

#define KEY_FILE_MAX 65536 /* a PEM key file larger than this is not a key */
#define JSON_DEPTH_MAX 4   /* the deepest member we accept is cnf.x5t#S256: depth 2 */
#define SIG_LEN 64         /* ES256 raw R || S */
#define KID_MAX 64

/*
 * Tokens already verified, by SHA-256 of the whole compact token, with what verifying them
 * found. A work order is sent with every request of its task; splitting, decoding and parsing
 * its segments and checking its ES256 signature each time was a large part of a request's CPU.
 * The digest covers every byte of the token, so a hit means these very bytes passed the form,
 * header, signature and claim rules under this verifier's key and issuer: those depend on
 * nothing else. The time rules depend on the clock, so they are applied on every use, hit or
 * not; the binding, the revocation and max_records are the caller's on every request.
 * Only tokens that verified (TOKEN_OK, or TOKEN_WRONG_AUDIENCE, whose claims are returned
 * too) are remembered: a refused token is checked in full each time it is sent.
 * Bounded: CACHE_SETS sets of CACHE_WAYS entries, allocated with the verifier; the least
 * recently used entry of a full set is replaced. A collision only costs a verification.
 */
#define CACHE_WAYS 4
#define CACHE_SETS (TOKEN_CACHE_MAX / CACHE_WAYS)
_Static_assert(TOKEN_CACHE_MAX % CACHE_WAYS == 0 && CACHE_SETS <= 65536,
               "the cache's sets are picked by two digest bytes");

struct cache_entry {
	unsigned char digest[32];   /* SHA-256 of the compact token */
	bool used;                  /* the slot holds a token */
	bool has_nbf;               /* the payload carries nbf (claims.nbf is 0 when absent) */
	enum token_status st;       /* TOKEN_OK or TOKEN_WRONG_AUDIENCE */
	uint64_t last_use;          /* the cache's use counter when last found or stored */
	struct token_claims claims; /* what claims_check found */
};

struct claims_cache {
	pthread_mutex_t lock; /* worker threads verify concurrently */
	uint64_t uses;        /* counts lookups and stores, for least-recently-used */
	struct cache_entry set[CACHE_SETS][CACHE_WAYS];
};

struct token_verifier {
	unsigned char *pem; /* the public key as PEM text, what jwt_decode wants */
	size_t pem_len;
	char *issuer;
	enum token_kind kind;
	EVP_MD *sha256;             /* fetched once: an implicit fetch per digest takes locks */
	struct claims_cache *cache; /* mutable behind the const verifier: verdicts, not settings */
};

static struct cache_entry *
cache_set(struct claims_cache *c, const unsigned char d[32])
{
	/* The digest is uniform: its first bytes spread tokens evenly over the sets. */
	return c->set[((size_t)d[0] << 8 | d[1]) % CACHE_SETS];
}

/* Copies a remembered verdict into *e; false when these bytes were not verified before. */
static bool
cache_get(struct claims_cache *c, const unsigned char d[32], struct cache_entry *e)
{
	struct cache_entry *set = cache_set(c, d);
	bool hit = false;

	pthread_mutex_lock(&c->lock);
	for (size_t w = 0; w < CACHE_WAYS; w++)
		if (set[w].used && CRYPTO_memcmp(set[w].digest, d, 32) == 0) {
			set[w].last_use = ++c->uses;
			*e = set[w];
			hit = true;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

static void
cache_put(struct claims_cache *c, const struct cache_entry *e)
{
	struct cache_entry *set = cache_set(c, e->digest);
	size_t victim = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t w = 0; w < CACHE_WAYS; w++) {
		if (!set[w].used || memcmp(set[w].digest, e->digest, 32) == 0) {
			victim = w;
			break;
		}
		if (set[w].last_use < set[victim].last_use)
			victim = w;
	}
	set[victim] = *e;
	set[victim].used = true;
	set[victim].last_use = ++c->uses;
	pthread_mutex_unlock(&c->lock);
}

static void
say(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
}

/* ---- small validators --------------------------------------------------------------------- */

_Static_assert(IDENT_PURPOSE_MAX <= TOKEN_ID_MAX, "a work order holds every purpose id");

/* ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$: contract ids, which also name files. */
bool
token_contract_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TOKEN_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

/* [A-Za-z0-9_-]{1,128} */
bool
token_jti_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TOKEN_JTI_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!codec_b64url_char((unsigned char)s[i]))
			return false;
	return true;
}

/* kid: [A-Za-z0-9._-]{1,64}, and no "..", so that no one can turn it into a path. */
static bool
kid_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > KID_MAX || strstr(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] != '.' && !codec_b64url_char((unsigned char)s[i]))
			return false;
	return true;
}

/* ---- JSON segments ------------------------------------------------------------------------ */

/*
 * Nesting depth of raw JSON text, counted outside strings, refused past max before jansson's
 * recursive parser sees it.
 */
static bool
depth_ok(const char *s, size_t n, int max)
{
	int depth = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}

/* Decodes one segment and parses it as a JSON object. NULL with why on any failure. */
static json_t *
segment_object(const char *seg, size_t n, const char *name, char *why, size_t whylen)
{
	unsigned char *buf = NULL;
	json_t *j = NULL;
	json_error_t jerr;
	long m;
	char msg[96];

	buf = malloc(n); /* decoded is always shorter than encoded */
	if (!buf) {
		snprintf(msg, sizeof msg, "%s: out of memory", name);
		goto fail;
	}
	m = codec_b64url_decode(seg, n, buf, n);
	if (m <= 0) {
		snprintf(msg, sizeof msg, "%s: not canonical base64url", name);
		goto fail;
	}
	if (!depth_ok((const char *)buf, (size_t)m, JSON_DEPTH_MAX)) {
		snprintf(msg, sizeof msg, "%s: JSON nested too deep", name);
		goto fail;
	}
	/* JSON_REJECT_DUPLICATES: libjwt's parser keeps the last of two members of one name; ours
	 * refuses them, so the two can never read different claims from one token. Jansson also
	 * refuses invalid UTF-8, \u0000 and trailing bytes. */
	j = json_loadb((const char *)buf, (size_t)m, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		snprintf(msg, sizeof msg, "%s: not valid JSON or duplicate member", name);
		goto fail;
	}
	if (!json_is_object(j)) {
		snprintf(msg, sizeof msg, "%s: not a JSON object", name);
		goto fail;
	}
	free(buf);
	return j;
fail:
	say(why, whylen, msg);
	json_decref(j);
	free(buf);
	return NULL;
}

/*
 * The header members we accept. alg is pinned to ES256; typ, if present, is "JWT"; kid, if
 * present, a short safe string we do not otherwise use (one signing key). Everything else —
 * crit, jku, jwk, x5u, x5c, cty, enc, zip, b64 — asks the verifier to do something we will not,
 * so it is refused.
 */
static bool
header_ok(json_t *h, char *why, size_t whylen)
{
	const char *k;
	json_t *val;
	json_t *alg = json_object_get(h, "alg");

	/* alg first: nothing else about a token with another algorithm is looked at. */
	if (!alg) {
		say(why, whylen, "header: alg missing");
		return false;
	}
	if (!json_is_string(alg) || json_string_length(alg) != 5 ||
	    strcmp(json_string_value(alg), "ES256") != 0) {
		say(why, whylen, "header: alg is not ES256");
		return false;
	}
	if (json_object_get(h, "crit")) {
		say(why, whylen, "header: crit is not supported");
		return false;
	}
	json_object_foreach(h, k, val)
	{
		if (strcmp(k, "alg") == 0)
			continue;
		if (strcmp(k, "typ") == 0) {
			if (!json_is_string(val) || strcmp(json_string_value(val), "JWT") != 0 ||
			    json_string_length(val) != 3) {
				say(why, whylen, "header: typ is not JWT");
				return false;
			}
		} else if (strcmp(k, "kid") == 0) {
			if (!json_is_string(val) ||
			    json_string_length(val) != strlen(json_string_value(val)) ||
			    !kid_ok(json_string_value(val))) {
				say(why, whylen, "header: kid is not a short safe string");
				return false;
			}
		} else {
			say(why, whylen, "header: member not allowed (only alg, typ, kid)");
			return false;
		}
	}
	return true;
}

/* ---- claims ------------------------------------------------------------------------------- */

/* A string claim with no embedded NUL copied into out (cap bytes); false if absent/wrong type. */
static bool
get_str(json_t *p, const char *key, char *out, size_t cap)
{
	json_t *v = json_object_get(p, key);
	if (!json_is_string(v))
		return false;
	size_t n = json_string_length(v);
	if (n >= cap || n != strlen(json_string_value(v)))
		return false;
	memcpy(out, json_string_value(v), n + 1);
	return true;
}

/* A JSON integer in 0..2^53; reals (1e30, 1.0), strings and booleans are not. */
static bool
get_int(json_t *p, const char *key, int64_t *out)
{
	json_t *v = json_object_get(p, key);
	if (!json_is_integer(v))
		return false;
	json_int_t i = json_integer_value(v);
	if (i < 0 || i > TOKEN_SAFE_INT_MAX)
		return false;
	*out = (int64_t)i;
	return true;
}

static bool
one_of(const char *k, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(k, *set) == 0)
			return true;
	return false;
}

static const char *const COMMON_CLAIMS[] = {"iss", "aud", "sub", "iat", "exp", "nbf", "jti", NULL};
static const char *const WORK_ORDER_CLAIMS[] = {"contract", "purpose", "max_records", "cnf", NULL};
static const char *const STAFF_CLAIMS[] = {"role", NULL};

/*
 * The time rules, the only claim rules whose outcome changes while the token's bytes do not:
 * applied on every use, remembered token or not. now and the claims are all in 0..2^53, so
 * none of these can overflow.
 */
static bool
time_ok(const struct token_claims *c, bool has_nbf, int64_t now, char *why, size_t whylen)
{
	if (c->exp <= c->iat) {
		say(why, whylen, "claims: exp is not after iat");
		return false;
	}
	if (c->exp - c->iat > TOKEN_MAX_LIFETIME) {
		say(why, whylen, "claims: lifetime (exp - iat) over 31 days");
		return false;
	}
	if (now - c->exp > TOKEN_LEEWAY) {
		say(why, whylen, "claims: expired (exp more than 60 s in the past)");
		return false;
	}
	if (c->iat - now > TOKEN_LEEWAY) {
		say(why, whylen, "claims: iat more than 60 s in the future");
		return false;
	}
	if (has_nbf) {
		if (c->nbf - now > TOKEN_LEEWAY) {
			say(why, whylen,
			    "claims: not yet valid (nbf more than 60 s in the future)");
			return false;
		}
		if (c->nbf >= c->exp) {
			say(why, whylen, "claims: nbf is not before exp");
			return false;
		}
	}
	return true;
}

/*
 * Claims a verified payload must carry. Read from our own duplicate-free parse, never from
 * libjwt's. Unknown claims are refused: pdgate is the only issuer, so a claim it never writes
 * means the token is not one of its own, or a newer one this version does not understand.
 */
static enum token_status
claims_check(const struct token_verifier *v, json_t *p, int64_t now, struct token_claims *c,
             char *why, size_t whylen)
{
	char aud[32];
	const char *k;
	json_t *val;
	enum token_kind kind;

	{
		char iss[256];
		if (!json_object_get(p, "iss")) {
			say(why, whylen, "claims: iss missing");
			return TOKEN_INVALID;
		}
		if (!get_str(p, "iss", iss, sizeof iss) || strcmp(iss, v->issuer) != 0) {
			say(why, whylen, "claims: iss is not this gateway's issuer");
			return TOKEN_INVALID;
		}
	}
	if (!json_object_get(p, "aud")) {
		say(why, whylen, "claims: aud missing");
		return TOKEN_INVALID;
	}
	/* aud is a single string: pdgate never issues a token for two audiences. */
	if (!get_str(p, "aud", aud, sizeof aud)) {
		say(why, whylen, "claims: aud is not a pdgate audience string");
		return TOKEN_INVALID;
	}
	if (strcmp(aud, TOKEN_AUD_PARTNER) == 0) {
		kind = TOKEN_WORK_ORDER;
	} else if (strcmp(aud, TOKEN_AUD_COMPLIANCE) == 0) {
		kind = TOKEN_STAFF;
	} else {
		say(why, whylen, "claims: aud is not a pdgate audience");
		return TOKEN_INVALID;
	}

	json_object_foreach(p, k, val)
	{
		(void)val;
		if (!one_of(k, COMMON_CLAIMS) &&
		    !one_of(k, kind == TOKEN_WORK_ORDER ? WORK_ORDER_CLAIMS : STAFF_CLAIMS)) {
			say(why, whylen,
			    kind == TOKEN_WORK_ORDER
			        ? "claims: a claim a work order does not carry"
			        : "claims: a claim a staff token does not carry");
			return TOKEN_INVALID;
		}
	}

	if (!json_object_get(p, "iat")) {
		say(why, whylen, "claims: iat missing");
		return TOKEN_INVALID;
	}
	if (!get_int(p, "iat", &c->iat)) {
		say(why, whylen, "claims: iat is not an integer in range");
		return TOKEN_INVALID;
	}
	if (!json_object_get(p, "exp")) {
		say(why, whylen, "claims: exp missing");
		return TOKEN_INVALID;
	}
	if (!get_int(p, "exp", &c->exp)) {
		say(why, whylen, "claims: exp is not an integer in range");
		return TOKEN_INVALID;
	}
	if (json_object_get(p, "nbf") && !get_int(p, "nbf", &c->nbf)) {
		say(why, whylen, "claims: nbf is not an integer in range");
		return TOKEN_INVALID;
	}
	if (!json_object_get(p, "jti")) {
		say(why, whylen, "claims: jti missing");
		return TOKEN_INVALID;
	}
	if (!get_str(p, "jti", c->jti, sizeof c->jti) || !token_jti_ok(c->jti)) {
		say(why, whylen, "claims: jti is not 1..128 characters of [A-Za-z0-9_-]");
		return TOKEN_INVALID;
	}
	if (!json_object_get(p, "sub")) {
		say(why, whylen, "claims: sub missing");
		return TOKEN_INVALID;
	}
	if (!get_str(p, "sub", c->sub, sizeof c->sub) || !ident_name_ok(c->sub, strlen(c->sub))) {
		say(why, whylen, "claims: sub is not a partner id or staff name");
		return TOKEN_INVALID;
	}

	if (!time_ok(c, json_object_get(p, "nbf") != NULL, now, why, whylen))
		return TOKEN_INVALID;

	c->kind = kind;
	if (kind != v->kind)
		return TOKEN_WRONG_AUDIENCE;

	if (kind == TOKEN_STAFF) {
		char role[16];
		if (!json_object_get(p, "role")) {
			say(why, whylen, "claims: role missing");
			return TOKEN_INVALID;
		}
		if (!get_str(p, "role", role, sizeof role))
			role[0] = '\0';
		if (strcmp(role, "auditor") == 0) {
			c->role = TOKEN_ROLE_AUDITOR;
		} else if (strcmp(role, "officer") == 0) {
			c->role = TOKEN_ROLE_OFFICER;
		} else {
			say(why, whylen, "claims: role is not auditor or officer");
			return TOKEN_INVALID;
		}
		return TOKEN_OK;
	}

	if (!json_object_get(p, "contract")) {
		say(why, whylen, "claims: contract missing");
		return TOKEN_INVALID;
	}
	if (!get_str(p, "contract", c->contract, sizeof c->contract) ||
	    !token_contract_id_ok(c->contract)) {
		say(why, whylen, "claims: contract is not a contract id");
		return TOKEN_INVALID;
	}
	if (!json_object_get(p, "purpose")) {
		say(why, whylen, "claims: purpose missing");
		return TOKEN_INVALID;
	}
	if (!get_str(p, "purpose", c->purpose, sizeof c->purpose) ||
	    !ident_purpose_ok(c->purpose, strlen(c->purpose))) {
		say(why, whylen, "claims: purpose is not a purpose id");
		return TOKEN_INVALID;
	}
	if (json_object_get(p, "max_records") &&
	    (!get_int(p, "max_records", &c->max_records) || c->max_records == 0)) {
		say(why, whylen, "claims: max_records is not a positive integer");
		return TOKEN_INVALID;
	}
	val = json_object_get(p, "cnf");
	if (val) {
		char thumb[48];
		if (!json_is_object(val) || json_object_size(val) != 1 ||
		    !get_str(val, "x5t#S256", thumb, sizeof thumb) || strlen(thumb) != 43 ||
		    codec_b64url_decode(thumb, 43, c->cnf, sizeof c->cnf) != TOKEN_THUMB_LEN) {
			say(why, whylen,
			    "claims: cnf is not {\"x5t#S256\": base64url of 32 bytes}");
			return TOKEN_INVALID;
		}
		c->has_cnf = true;
	}
	return TOKEN_OK;
}

/* ---- verification ------------------------------------------------------------------------- */

/* 1 if pkey is an EC key on P-256. */
static bool
is_p256(EVP_PKEY *pkey)
{
	char group[32];
	size_t glen = 0;
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
		return false;
	if (!EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen))
		return false;
	return OBJ_txt2nid(group) == NID_X9_62_prime256v1;
}

struct token_verifier *
token_verifier_new(const char *pub_path, const char *issuer, enum token_kind kind, char *err,
                   size_t errlen)
{
	struct token_verifier *v = NULL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;

	if (!pub_path || !issuer || !*issuer) {
		snprintf(err, errlen, "token verifier: public key and issuer are required");
		return NULL;
	}
	v = calloc(1, sizeof *v);
	if (!v)
		goto oom;
	v->kind = kind;
	v->issuer = strdup(issuer);
	v->cache = calloc(1, sizeof *v->cache);
	v->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!v->issuer || !v->cache || !v->sha256)
		goto oom;
	pthread_mutex_init(&v->cache->lock, NULL);
	v->pem = (unsigned char *)file_read(pub_path, KEY_FILE_MAX,
	                                    FILE_READ_NOFOLLOW | FILE_READ_NONEMPTY, &v->pem_len,
	                                    err, errlen);
	if (!v->pem)
		goto fail;
	bio = BIO_new_mem_buf(v->pem, (int)v->pem_len);
	if (bio)
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!pkey || !is_p256(pkey)) {
		snprintf(err, errlen, "%s: not a PEM EC P-256 public key", pub_path);
		goto fail;
	}
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return v;
oom:
	snprintf(err, errlen, "token verifier: out of memory");
fail:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	token_verifier_free(v);
	return NULL;
}

void
token_verifier_free(struct token_verifier *v)
{
	if (!v)
		return;
	free(v->pem);
	free(v->issuer);
	EVP_MD_free(v->sha256);
	if (v->cache) {
		pthread_mutex_destroy(&v->cache->lock);
		free(v->cache);
	}
	free(v);
}

/* The verdict of a token whose claims passed: OK, or the other listener's token. */
static enum token_status
verdict(const struct token_verifier *v, enum token_status st, const struct token_claims *c,
        struct token_claims *out, char *why, size_t whylen)
{
	assert(st == TOKEN_OK || st == TOKEN_WRONG_AUDIENCE);
	if (st == TOKEN_WRONG_AUDIENCE)
		say(why, whylen,
		    v->kind == TOKEN_WORK_ORDER
		        ? "claims: a staff token (aud pdgate-compliance) at the partner API"
		        : "claims: a work order (aud pdgate-partner) at the compliance API");
	*out = *c;
	return st;
}

enum token_status
token_verify(const struct token_verifier *v, const char *compact, size_t len, int64_t now,
             struct token_claims *out, char *why, size_t whylen)
{
	enum token_status st = TOKEN_INVALID;
	const char *dot1, *dot2;
	json_t *hdr = NULL, *pay = NULL;
	char *copy = NULL;
	jwt_t *jwt = NULL;
	unsigned char sig[SIG_LEN + 1];
	struct cache_entry e;
	unsigned int dlen = 0;

	assert(v && out);
	memset(out, 0, sizeof *out);
	memset(&e, 0, sizeof e);
	say(why, whylen, "");

	if (!compact || len == 0) {
		say(why, whylen, "form: empty");
		return TOKEN_INVALID;
	}
	if (len > TOKEN_MAX_BYTES) {
		say(why, whylen, "form: longer than 8192 bytes");
		return TOKEN_INVALID;
	}

	/* These very bytes verified before: only the rules that depend on the time are left. */
	if (EVP_Digest(compact, len, e.digest, &dlen, v->sha256, NULL) != 1 || dlen != 32) {
		say(why, whylen, "internal: digest failed");
		return TOKEN_INVALID;
	}
	if (cache_get(v->cache, e.digest, &e)) {
		if (!time_ok(&e.claims, e.has_nbf, now, why, whylen))
			return TOKEN_INVALID;
		return verdict(v, e.st, &e.claims, out, why, whylen);
	}

	for (size_t i = 0; i < len; i++)
		if (compact[i] != '.' && !codec_b64url_char((unsigned char)compact[i])) {
			say(why, whylen, "form: a character outside base64url and '.'");
			return TOKEN_INVALID;
		}
	dot1 = memchr(compact, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - compact)) : NULL;
	if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - compact))) {
		say(why, whylen, "form: not three segments");
		return TOKEN_INVALID;
	}
	if (dot1 == compact || dot2 == dot1 + 1) {
		say(why, whylen, "form: empty header or payload");
		return TOKEN_INVALID;
	}

	hdr = segment_object(compact, (size_t)(dot1 - compact), "header", why, whylen);
	if (!hdr)
		goto done;
	if (!header_ok(hdr, why, whylen))
		goto done;
	pay = segment_object(dot1 + 1, (size_t)(dot2 - dot1 - 1), "payload", why, whylen);
	if (!pay)
		goto done;

	/* The signature: exactly 64 raw bytes (R || S), canonical base64url. libjwt would
	 * otherwise decide how to read a short or long one. */
	{
		size_t slen = len - (size_t)(dot2 + 1 - compact);
		if (codec_b64url_decode(dot2 + 1, slen, sig, sizeof sig) != SIG_LEN) {
			say(why, whylen, "signature: not 64 bytes of ES256 R||S");
			goto done;
		}
	}

	/* Only now libjwt: with our key (never NULL), and its idea of the algorithm checked
	 * against ours, in case its header parse ever differs from ours. */
	copy = malloc(len + 1);
	if (!copy) {
		say(why, whylen, "internal: out of memory");
		goto done;
	}
	memcpy(copy, compact, len);
	copy[len] = '\0';
	assert(v->pem && v->pem_len > 0);
	if (jwt_decode(&jwt, copy, v->pem, (int)v->pem_len) != 0 || !jwt) {
		say(why, whylen, "signature: does not verify with the token key");
		goto done;
	}
	if (jwt_get_alg(jwt) != JWT_ALG_ES256) {
		say(why, whylen, "signature: library saw an algorithm other than ES256");
		goto done;
	}
	st = claims_check(v, pay, now, &e.claims, why, whylen);
	if (st == TOKEN_OK || st == TOKEN_WRONG_AUDIENCE) {
		e.st = st;
		e.has_nbf = json_object_get(pay, "nbf") != NULL;
		cache_put(v->cache, &e);
		st = verdict(v, st, &e.claims, out, why, whylen);
	}
done:
	if (jwt)
		jwt_free(jwt);
	free(copy);
	json_decref(hdr);
	json_decref(pay);
	return st;
}

/* ---- binding ------------------------------------------------------------------------------ */

/* A short English sentence for a token_bind value, for logs and error messages. */
static const char *
bind_message(enum token_bind b)
{
	switch (b) {
	case TOKEN_BIND_OK:
		return "";
	case TOKEN_BIND_KIND:
		return "binding: not a work order";
	case TOKEN_BIND_SUB:
		return "binding: sub is not the partner of the client certificate";
	case TOKEN_BIND_CONTRACT:
		return "binding: contract not on file for this partner";
	case TOKEN_BIND_PURPOSE:
		return "binding: purpose not listed in the contract";
	case TOKEN_BIND_CNF:
		return "binding: cnf.x5t#S256 missing or not this client certificate";
	}
	return "binding: unknown rule";
}

static enum token_bind
binding(const struct token_claims *c, const struct token_context *ctx)
{
	assert(c && ctx);
	if (c->kind != TOKEN_WORK_ORDER)
		return TOKEN_BIND_KIND;
	if (!ctx->partner || strcmp(c->sub, ctx->partner) != 0)
		return TOKEN_BIND_SUB;
	if (!ctx->contract_partner || strcmp(ctx->contract_partner, ctx->partner) != 0)
		return TOKEN_BIND_CONTRACT;
	if (!ctx->purpose_listed)
		return TOKEN_BIND_PURPOSE;
	if (c->has_cnf) {
		/* A bound token is checked even when the contract makes binding optional. */
		if (!ctx->thumbprint ||
		    CRYPTO_memcmp(c->cnf, ctx->thumbprint, TOKEN_THUMB_LEN) != 0)
			return TOKEN_BIND_CNF;
	} else if (ctx->binding != TOKEN_BINDING_OPTIONAL) {
		return TOKEN_BIND_CNF;
	}
	return TOKEN_BIND_OK;
}

enum token_bind
token_check_binding(const struct token_claims *c, const struct token_context *ctx, char *why,
                    size_t whylen)
{
	enum token_bind b = binding(c, ctx);

	say(why, whylen, bind_message(b));
	return b;
}

/* ---- issuing ------------------------------------------------------------------------------ */

/* Reads the private key file, checks it is P-256, and hands its PEM bytes to a new jwt. */
static jwt_t *
signer_new(const char *key_path, char *err, size_t errlen)
{
	size_t len = 0;
	unsigned char *pem = (unsigned char *)file_read(
	    key_path, KEY_FILE_MAX, FILE_READ_SECRET | FILE_READ_NOFOLLOW | FILE_READ_NONEMPTY,
	    &len, err, errlen);
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	jwt_t *jwt = NULL;

	if (!pem)
		return NULL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!pkey || !is_p256(pkey)) {
		snprintf(err, errlen, "%s: not a PEM EC P-256 private key", key_path);
		goto done;
	}
	/* libjwt keeps its own copy of the key and wipes it in jwt_free. */
	if (jwt_new(&jwt) != 0 || jwt_set_alg(jwt, JWT_ALG_ES256, pem, (int)len) != 0) {
		snprintf(err, errlen, "token: cannot set up ES256 signing");
		if (jwt)
			jwt_free(jwt);
		jwt = NULL;
	}
done:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return jwt;
}

static int
new_jti(char out[TOKEN_JTI_MAX + 1])
{
	unsigned char r[16];
	if (RAND_bytes(r, sizeof r) != 1)
		return -1;
	codec_b64url_encode(r, sizeof r, out); /* 22 characters */
	return 0;
}

/* Adds the claims every token carries and signs. Returns the compact token or NULL. */
static char *
sign_common(jwt_t *jwt, const char *issuer, const char *aud, const char *sub, int64_t now,
            int64_t ttl, char jti_out[TOKEN_JTI_MAX + 1], char *err, size_t errlen)
{
	char jti[TOKEN_JTI_MAX + 1];
	char *tok;

	if (new_jti(jti) != 0) {
		snprintf(err, errlen, "token: no randomness for jti");
		return NULL;
	}
	if (jwt_add_grant(jwt, "iss", issuer) || jwt_add_grant(jwt, "aud", aud) ||
	    jwt_add_grant(jwt, "sub", sub) || jwt_add_grant_int(jwt, "iat", (long)now) ||
	    jwt_add_grant_int(jwt, "exp", (long)(now + ttl)) || jwt_add_grant(jwt, "jti", jti)) {
		snprintf(err, errlen, "token: cannot add claims");
		return NULL;
	}
	tok = jwt_encode_str(jwt);
	if (!tok) {
		snprintf(err, errlen, "token: signing failed");
		return NULL;
	}
	if (jti_out)
		memcpy(jti_out, jti, sizeof jti);
	return tok;
}

static bool
issue_args_ok(const char *issuer, int64_t now, int64_t ttl, char *err, size_t errlen)
{
	if (!issuer || !*issuer) {
		snprintf(err, errlen, "token: no issuer configured");
		return false;
	}
	if (ttl <= 0 || ttl > TOKEN_MAX_LIFETIME) {
		snprintf(err, errlen, "token: lifetime must be 1 s .. 31 days");
		return false;
	}
	if (now <= 0 || now > TOKEN_SAFE_INT_MAX - TOKEN_MAX_LIFETIME) {
		snprintf(err, errlen, "token: clock out of range");
		return false;
	}
	return true;
}

char *
token_issue_work_order(const char *key_path, const struct token_work_order *w, int64_t now,
                       int64_t ttl, char jti_out[TOKEN_JTI_MAX + 1], char *err, size_t errlen)
{
	jwt_t *jwt = NULL;
	char *tok = NULL;

	assert(w);
	if (!issue_args_ok(w->issuer, now, ttl, err, errlen))
		return NULL;
	if (!w->partner || !ident_name_ok(w->partner, strlen(w->partner)) || !w->contract ||
	    !token_contract_id_ok(w->contract) || !w->purpose ||
	    !ident_purpose_ok(w->purpose, strlen(w->purpose)) || w->max_records < 0 ||
	    w->max_records > TOKEN_SAFE_INT_MAX) {
		snprintf(err, errlen, "token: partner, contract, purpose or max_records malformed");
		return NULL;
	}
	jwt = signer_new(key_path, err, errlen);
	if (!jwt)
		return NULL;
	if (jwt_add_grant(jwt, "contract", w->contract) ||
	    jwt_add_grant(jwt, "purpose", w->purpose) ||
	    (w->max_records > 0 && jwt_add_grant_int(jwt, "max_records", (long)w->max_records))) {
		snprintf(err, errlen, "token: cannot add claims");
		goto done;
	}
	if (w->cnf) {
		char b64[44], json[80];
		codec_b64url_encode(w->cnf, TOKEN_THUMB_LEN, b64);
		snprintf(json, sizeof json, "{\"cnf\":{\"x5t#S256\":\"%s\"}}", b64);
		if (jwt_add_grants_json(jwt, json) != 0) {
			snprintf(err, errlen, "token: cannot add cnf");
			goto done;
		}
	}
	tok = sign_common(jwt, w->issuer, TOKEN_AUD_PARTNER, w->partner, now, ttl, jti_out, err,
	                  errlen);
done:
	jwt_free(jwt);
	return tok;
}

char *
token_issue_staff(const char *key_path, const char *issuer, const char *staff, enum token_role role,
                  int64_t now, int64_t ttl, char jti_out[TOKEN_JTI_MAX + 1], char *err,
                  size_t errlen)
{
	jwt_t *jwt = NULL;
	char *tok = NULL;

	if (!issue_args_ok(issuer, now, ttl, err, errlen))
		return NULL;
	if (!staff || !ident_name_ok(staff, strlen(staff)) ||
	    (role != TOKEN_ROLE_AUDITOR && role != TOKEN_ROLE_OFFICER)) {
		snprintf(err, errlen, "token: staff name or role malformed");
		return NULL;
	}
	jwt = signer_new(key_path, err, errlen);
	if (!jwt)
		return NULL;
	if (jwt_add_grant(jwt, "role", role == TOKEN_ROLE_OFFICER ? "officer" : "auditor")) {
		snprintf(err, errlen, "token: cannot add claims");
		goto done;
	}
	tok = sign_common(jwt, issuer, TOKEN_AUD_COMPLIANCE, staff, now, ttl, jti_out, err, errlen);
done:
	jwt_free(jwt);
	return tok;
}
