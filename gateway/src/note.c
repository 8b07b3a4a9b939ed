/* note — C2SP signed notes and tlog checkpoints, signed and verified with Ed25519. */
#include "note.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "codec.h"

#define PUB_LEN 32
#define SIG_LEN 64
/* A cosignature/v1 signature: the key id, a big-endian u64 timestamp, the Ed25519 signature. */
#define COSIG_BLOB_LEN (4 + 8 + SIG_LEN)
#define COSIG_HEADER "cosignature/v1\ntime "
/* "— " (U+2014 EM DASH, space) opens every signature line. */
#define SIG_PREFIX "\xe2\x80\x94 "
#define SIG_PREFIX_LEN 4
/* Names are identifiers, not prose: a bound keeps every line and key string small. */
#define NAME_MAX_LEN 1024

struct note_signer {
	uint8_t type;         /* NOTE_ED25519 (signs notes) or NOTE_COSIG_ED25519 (cosigns) */
	char *name;           /* owned, NUL-terminated */
	uint32_t id;          /* key id */
	uint8_t pub[PUB_LEN]; /* raw Ed25519 public key */
	EVP_PKEY *key;        /* owned private key; OpenSSL wipes it on free */
};

struct note_verifier {
	uint8_t type;         /* NOTE_ED25519 or NOTE_COSIG_ED25519, as the vkey said */
	char *name;           /* owned, NUL-terminated */
	uint32_t id;          /* key id */
	uint8_t pub[PUB_LEN]; /* raw Ed25519 public key */
	EVP_PKEY *key;        /* owned public key */
};

const char *
note_strerror(int err)
{
	switch (err) {
	case NOTE_OK:
		return "ok";
	case NOTE_EMALFORMED:
		return "malformed note";
	case NOTE_EBADSIG:
		return "invalid signature";
	case NOTE_EUNVERIFIED:
		return "no signature by a known key";
	case NOTE_EKEY:
		return "unusable key";
	case NOTE_ENOMEM:
		return "out of memory";
	case NOTE_ECRYPTO:
		return "cryptographic library failure";
	}
	return "unknown note error";
}

/* ---- text rules ---- */

/* Decodes one code point of strict UTF-8 at s[*i] (no overlongs, surrogates or > U+10FFFF). */
static int
utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
	unsigned char c = s[*i];
	size_t n;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		(*i)++;
		return 0;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1, v = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2, v = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3, v = c & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if (len - *i <= n)
		return -1;
	for (size_t k = 1; k <= n; k++) {
		if ((s[*i + k] & 0xc0) != 0x80)
			return -1;
		v = v << 6 | (s[*i + k] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return -1;
	*cp = v;
	*i += n + 1;
	return 0;
}

/* C2SP: valid UTF-8 and no ASCII control character (below U+0020) other than newline. */
static int
text_ok(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		if (utf8_next(u, len, &i, &cp) != 0)
			return 0;
		if (cp < 0x20 && cp != '\n')
			return 0;
	}
	return 1;
}

/* Unicode White_Space, as Go's unicode.IsSpace that the reference implementation uses. */
static int
is_space(uint32_t cp)
{
	return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 ||
	       cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* C2SP key names: non-empty, no Unicode space, no '+'; and, here, no control character. */
static int
name_ok(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;

	if (len == 0 || len > NAME_MAX_LEN)
		return 0;
	for (size_t i = 0; i < len;) {
		if (utf8_next(u, len, &i, &cp) != 0)
			return 0;
		if (cp < 0x20 || cp == 0x7f || cp == '+' || is_space(cp))
			return 0;
	}
	return 1;
}

/* ---- keys ---- */

/* The key id: the first 4 bytes, big-endian, of SHA-256(name || "\n" || type || public key). */
static int
key_id(const char *name, uint8_t type, const uint8_t pub[PUB_LEN], uint32_t *id)
{
	const uint8_t sep[2] = {'\n', type};
	uint8_t md[32];
	unsigned int mdlen = 0;
	int ok;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL)
		return NOTE_ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, name, strlen(name)) == 1 &&
	     EVP_DigestUpdate(ctx, sep, sizeof(sep)) == 1 &&
	     EVP_DigestUpdate(ctx, pub, PUB_LEN) == 1 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
	     mdlen == sizeof(md);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return NOTE_ECRYPTO;
	*id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
	return NOTE_OK;
}

/* Refuses to prompt: a pure module never reads a terminal, and keys here are not encrypted. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static struct note_signer *
typed_signer_new(const char *name, const char *pem, size_t len, uint8_t type)
{
	struct note_signer *s = NULL;
	size_t publen = PUB_LEN;
	BIO *bio = NULL;

	if (name == NULL || !name_ok(name, strlen(name)) || len > INT32_MAX)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->name = strdup(name)) == NULL)
		goto fail;
	s->type = type;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		goto fail;
	s->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (s->key == NULL || EVP_PKEY_get_id(s->key) != EVP_PKEY_ED25519)
		goto fail;
	if (EVP_PKEY_get_raw_public_key(s->key, s->pub, &publen) != 1 || publen != PUB_LEN)
		goto fail;
	if (key_id(s->name, type, s->pub, &s->id) != NOTE_OK)
		goto fail;
	BIO_free(bio);
	return s;
fail:
	BIO_free(bio);
	note_signer_free(s);
	return NULL;
}

struct note_signer *
note_signer_new(const char *name, const char *pem, size_t len)
{
	return typed_signer_new(name, pem, len, NOTE_ED25519);
}

struct note_signer *
note_cosigner_new(const char *name, const char *pem, size_t len)
{
	return typed_signer_new(name, pem, len, NOTE_COSIG_ED25519);
}

void
note_signer_free(struct note_signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->key);
	free(s->name);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

static char *
format_vkey(const char *name, uint8_t type, uint32_t id, const uint8_t pub[PUB_LEN])
{
	uint8_t typed[1 + PUB_LEN];
	char b64[CODEC_B64_LEN(sizeof(typed)) + 1];
	size_t len = strlen(name) + 1 + 8 + 1 + sizeof(b64);
	char *out = malloc(len);

	if (out == NULL)
		return NULL;
	typed[0] = type;
	memcpy(typed + 1, pub, PUB_LEN);
	codec_b64_encode(typed, sizeof(typed), b64);
	snprintf(out, len, "%s+%08" PRIx32 "+%s", name, id, b64);
	return out;
}

char *
note_signer_vkey(const struct note_signer *s)
{
	return format_vkey(s->name, s->type, s->id, s->pub);
}

static struct note_verifier *
typed_verifier_new(const char *vkey, size_t len, uint8_t type)
{
	struct note_verifier *v = NULL;
	const char *p1, *p2;
	uint8_t typed[1 + PUB_LEN + 3], idb[4];
	uint32_t id, want;
	size_t name_len;

	/* name + 8 hex digits + base64 of the 33 bytes; the name holds no '+', so the first two
	 * '+' split the string and the base64 may hold more. */
	if (vkey == NULL || len > NAME_MAX_LEN + 64 || (p1 = memchr(vkey, '+', len)) == NULL)
		return NULL;
	name_len = (size_t)(p1 - vkey);
	p2 = p1 + 1;
	if ((size_t)(vkey + len - p2) < 9 || p2[8] != '+' || !name_ok(vkey, name_len))
		return NULL;
	if (codec_hex_decode(p2, sizeof(idb), idb) != 0)
		return NULL;
	id = (uint32_t)idb[0] << 24 | (uint32_t)idb[1] << 16 | (uint32_t)idb[2] << 8 | idb[3];
	p2 += 9;
	if (codec_b64_decode(p2, (size_t)(vkey + len - p2), typed, sizeof(typed)) != 1 + PUB_LEN ||
	    typed[0] != type)
		return NULL;
	if ((v = calloc(1, sizeof(*v))) == NULL || (v->name = strndup(vkey, name_len)) == NULL)
		goto fail;
	v->type = type;
	memcpy(v->pub, typed + 1, PUB_LEN);
	if (key_id(v->name, type, v->pub, &want) != NOTE_OK || want != id)
		goto fail;
	v->id = id;
	v->key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, v->pub, PUB_LEN);
	if (v->key == NULL)
		goto fail;
	return v;
fail:
	note_verifier_free(v);
	return NULL;
}

struct note_verifier *
note_verifier_new(const char *vkey, size_t len)
{
	return typed_verifier_new(vkey, len, NOTE_ED25519);
}

struct note_verifier *
note_cosigner_verifier_new(const char *vkey, size_t len)
{
	return typed_verifier_new(vkey, len, NOTE_COSIG_ED25519);
}

void
note_verifier_free(struct note_verifier *v)
{
	if (v == NULL)
		return;
	EVP_PKEY_free(v->key);
	free(v->name);
	free(v);
}

const char *
note_verifier_name(const struct note_verifier *v)
{
	return v->name;
}

/* ---- signing and verifying ---- */

/* Ed25519 over msg[0..len) into sig. 0 or an error. */
static int
ed25519_sign(EVP_PKEY *key, const char *msg, size_t len, uint8_t sig[SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = SIG_LEN;
	int ok;

	if (ctx == NULL)
		return NOTE_ENOMEM;
	ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
	     EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg, len) == 1 &&
	     siglen == SIG_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? NOTE_OK : NOTE_ECRYPTO;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* The signature line "— name base64(blob)\n" into a new NUL-terminated string. */
static int
sig_line(const char *name, const uint8_t *blob, size_t blob_len, char **out, size_t *out_len)
{
	char b64[CODEC_B64_LEN(COSIG_BLOB_LEN) + 1];
	size_t b64len, total;

	assert(blob_len <= COSIG_BLOB_LEN);
	b64len = codec_b64_encode(blob, blob_len, b64);
	total = SIG_PREFIX_LEN + strlen(name) + 1 + b64len + 1;
	if ((*out = malloc(total + 1)) == NULL)
		return NOTE_ENOMEM;
	snprintf(*out, total + 1, SIG_PREFIX "%s %s\n", name, b64);
	assert(strlen(*out) == total);
	*out_len = total;
	return NOTE_OK;
}

int
note_sign(const struct note_signer *s, const char *text, size_t len, char **out, size_t *out_len)
{
	uint8_t blob[4 + SIG_LEN];
	char *line = NULL, *note = NULL;
	size_t line_len = 0;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (s->type != NOTE_ED25519)
		return NOTE_EKEY;
	if (len == 0 || text[len - 1] != '\n' || !text_ok(text, len))
		return NOTE_EMALFORMED;
	if ((rc = ed25519_sign(s->key, text, len, blob + 4)) != NOTE_OK)
		goto done;
	put_be32(blob, s->id);
	if ((rc = sig_line(s->name, blob, sizeof(blob), &line, &line_len)) != NOTE_OK)
		goto done;
	/* text, blank line, the signature line */
	if (len + 1 + line_len > NOTE_MAX_SIZE) {
		rc = NOTE_EMALFORMED;
		goto done;
	}
	if ((note = malloc(len + 1 + line_len + 1)) == NULL) {
		rc = NOTE_ENOMEM;
		goto done;
	}
	memcpy(note, text, len);
	note[len] = '\n';
	memcpy(note + len + 1, line, line_len + 1);
	*out = note;
	*out_len = len + 1 + line_len;
done:
	free(line);
	OPENSSL_cleanse(blob, sizeof(blob));
	return rc;
}

static int
ed25519_verify(EVP_PKEY *key, const char *text, size_t len, const uint8_t sig[SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (ctx == NULL)
		return NOTE_ENOMEM;
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
	     EVP_DigestVerify(ctx, sig, SIG_LEN, (const unsigned char *)text, len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? NOTE_OK : NOTE_EBADSIG;
}

/* The message a cosignature/v1 signs: "cosignature/v1\ntime <ts>\n" then the note body
 * body[0..len). A new buffer in *out (caller frees), *out_len its length. */
static int
cosig_message(uint64_t ts, const char *body, size_t len, char **out, size_t *out_len)
{
	char head[sizeof(COSIG_HEADER) + 21];
	int n = snprintf(head, sizeof(head), COSIG_HEADER "%" PRIu64 "\n", ts);

	assert(n > 0 && (size_t)n < sizeof(head));
	if ((*out = malloc((size_t)n + len)) == NULL)
		return NOTE_ENOMEM;
	memcpy(*out, head, (size_t)n);
	memcpy(*out + n, body, len);
	*out_len = (size_t)n + len;
	return NOTE_OK;
}

static uint64_t
get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Checks blob (id, timestamp, signature) of a cosignature by v over the note body
 * text[0..len); the timestamp into *ts. */
static int
cosig_verify_blob(const struct note_verifier *v, const char *text, size_t len,
                  const uint8_t blob[COSIG_BLOB_LEN], uint64_t *ts)
{
	char *msg = NULL;
	size_t mlen;
	int rc;

	*ts = get_be64(blob + 4);
	if (*ts > INT64_MAX)
		return NOTE_EMALFORMED;
	if ((rc = cosig_message(*ts, text, len, &msg, &mlen)) != NOTE_OK)
		return rc;
	rc = ed25519_verify(v->key, msg, mlen, blob + 12);
	free(msg);
	return rc;
}

/*
 * Verifies the note msg[0..len) against the known keys, by note_checkpoint_open's rules for a
 * note, marking in verified[i] (when not NULL) each known key whose signature held, and for a
 * cosigner key its timestamp in times[i] (when not NULL; the latest if it signed twice). A known
 * key of type NOTE_ED25519 checks a note signature, one of NOTE_COSIG_ED25519 a cosignature/v1.
 * On NOTE_OK the signed text is msg[0..*text_len), ending in "\n".
 */
static int
verify_sigs(const char *msg, size_t len, struct note_verifier *const *known, size_t n_known,
            size_t *text_len, unsigned char *verified, uint64_t *times)
{
	const char *sigs = NULL, *end = msg + len;
	size_t tlen, nsig = 0, good = 0;
	int rc;

	*text_len = 0;
	if (len > NOTE_MAX_SIZE || !text_ok(msg, len))
		return NOTE_EMALFORMED;
	/* The text ends at the last blank line: it may hold blank lines, signatures cannot. */
	for (size_t i = len; i >= 2; i--)
		if (msg[i - 1] == '\n' && msg[i - 2] == '\n') {
			sigs = msg + i;
			break;
		}
	if (sigs == NULL || sigs == end || end[-1] != '\n')
		return NOTE_EMALFORMED;
	tlen = (size_t)(sigs - msg) - 1;
	while (sigs < end) {
		const char *eol = memchr(sigs, '\n', (size_t)(end - sigs));
		const char *name, *sp, *b64;
		uint8_t blob[COSIG_BLOB_LEN];
		uint32_t id;
		uint64_t ts = 0;
		long blen;
		size_t b64len;

		assert(eol != NULL);
		if (++nsig > NOTE_MAX_SIGS)
			return NOTE_EMALFORMED;
		if ((size_t)(eol - sigs) < SIG_PREFIX_LEN ||
		    memcmp(sigs, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
			return NOTE_EMALFORMED;
		name = sigs + SIG_PREFIX_LEN;
		if ((sp = memchr(name, ' ', (size_t)(eol - name))) == NULL ||
		    !name_ok(name, (size_t)(sp - name)))
			return NOTE_EMALFORMED;
		b64 = sp + 1;
		b64len = (size_t)(eol - b64);
		sigs = eol + 1;
		/* Every line must be well-formed, even one by a key of another algorithm, whose
		 * signature may be of any length: the key id and at least one byte. */
		if ((blen = codec_b64_decode(b64, b64len, NULL, 0)) < 5)
			return NOTE_EMALFORMED;
		/* 8 base64 digits (b64len >= 8 here) hold the 4 bytes of the id. */
		if (codec_b64_decode(b64, 8, blob, sizeof(blob)) < 4)
			return NOTE_EMALFORMED;
		id = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 |
		     blob[3];
		for (size_t k = 0; k < n_known; k++) {
			const struct note_verifier *v = known[k];

			if (v->id != id || strlen(v->name) != (size_t)(sp - name) ||
			    memcmp(v->name, name, (size_t)(sp - name)) != 0)
				continue;
			if (v->type == NOTE_ED25519) {
				/* A known key's signature must be exactly an Ed25519 signature. */
				if (blen != 4 + SIG_LEN ||
				    codec_b64_decode(b64, b64len, blob, sizeof(blob)) !=
				        4 + SIG_LEN)
					return NOTE_EMALFORMED;
				rc = ed25519_verify(v->key, msg, tlen, blob + 4);
			} else {
				/* ... and a known cosigner's a timestamped one. */
				if (blen != COSIG_BLOB_LEN ||
				    codec_b64_decode(b64, b64len, blob, sizeof(blob)) !=
				        COSIG_BLOB_LEN)
					return NOTE_EMALFORMED;
				rc = cosig_verify_blob(v, msg, tlen, blob, &ts);
			}
			if (rc != NOTE_OK)
				return rc;
			if (verified != NULL)
				verified[k] = 1;
			if (times != NULL && ts > times[k])
				times[k] = ts;
			good++;
		}
	}
	if (good == 0)
		return NOTE_EUNVERIFIED;
	*text_len = tlen;
	return NOTE_OK;
}

static int
verify_note(const char *msg, size_t len, struct note_verifier *const *known, size_t n_known,
            size_t *text_len, unsigned char *verified)
{
	return verify_sigs(msg, len, known, n_known, text_len, verified, NULL);
}

/* ---- checkpoints ---- */

int
note_checkpoint_format(const char *origin, uint64_t size, const uint8_t root[NOTE_ROOT_LEN],
                       char **out, size_t *out_len)
{
	char b64[CODEC_B64_LEN(NOTE_ROOT_LEN) + 1];
	size_t olen = strlen(origin), cap;
	int n;

	*out = NULL;
	*out_len = 0;
	if (olen == 0 || olen > NOTE_MAX_SIZE / 2 || !text_ok(origin, olen) ||
	    memchr(origin, '\n', olen) != NULL)
		return NOTE_EMALFORMED;
	codec_b64_encode(root, NOTE_ROOT_LEN, b64);
	cap = olen + 1 + 20 + 1 + sizeof(b64) + 1;
	if ((*out = malloc(cap)) == NULL)
		return NOTE_ENOMEM;
	n = snprintf(*out, cap, "%s\n%" PRIu64 "\n%s\n", origin, size, b64);
	assert(n > 0 && (size_t)n < cap);
	*out_len = (size_t)n;
	return NOTE_OK;
}

/* Parses checkpoint text[0..len), by note_checkpoint_open's rules for the signed text.
 * 0 or NOTE_EMALFORMED. */
static int
note_checkpoint_parse(const char *text, size_t len, struct note_checkpoint *cp)
{
	const char *p = text, *end = text + len, *eol;
	uint64_t size = 0;

	memset(cp, 0, sizeof(*cp));
	if (len == 0 || len > NOTE_MAX_SIZE || text[len - 1] != '\n' || !text_ok(text, len))
		return NOTE_EMALFORMED;
	/* origin */
	eol = memchr(p, '\n', (size_t)(end - p));
	if (eol == p)
		return NOTE_EMALFORMED;
	cp->origin = p;
	cp->origin_len = (size_t)(eol - p);
	p = eol + 1;
	/* size: "0", or digits without a leading zero, within uint64 */
	if (p == end || (eol = memchr(p, '\n', (size_t)(end - p))) == NULL || eol == p ||
	    (*p == '0' && eol - p > 1))
		goto fail;
	for (const char *d = p; d < eol; d++) {
		if (*d < '0' || *d > '9' || size > (UINT64_MAX - (uint64_t)(*d - '0')) / 10)
			goto fail;
		size = size * 10 + (uint64_t)(*d - '0');
	}
	cp->size = size;
	p = eol + 1;
	/* root */
	if (p == end || (eol = memchr(p, '\n', (size_t)(end - p))) == NULL ||
	    codec_b64_decode(p, (size_t)(eol - p), cp->root, NOTE_ROOT_LEN) != NOTE_ROOT_LEN)
		goto fail;
	p = eol + 1;
	/* extension lines: opaque, but each non-empty */
	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == p)
			goto fail;
		p = eol + 1;
	}
	return NOTE_OK;
fail:
	memset(cp, 0, sizeof(*cp));
	return NOTE_EMALFORMED;
}

int
note_checkpoint_open(const char *msg, size_t len, struct note_verifier *const *known,
                     size_t n_known, struct note_checkpoint *cp)
{
	unsigned char *verified = NULL;
	size_t tlen;
	int rc;

	memset(cp, 0, sizeof(*cp));
	/* A cosigner vouches for consistency, never for the log's content. */
	for (size_t k = 0; k < n_known; k++)
		if (known[k]->type != NOTE_ED25519)
			return NOTE_EKEY;
	if (n_known > 0 && (verified = calloc(n_known, 1)) == NULL)
		return NOTE_ENOMEM;
	if ((rc = verify_note(msg, len, known, n_known, &tlen, verified)) != NOTE_OK)
		goto done;
	if ((rc = note_checkpoint_parse(msg, tlen, cp)) != NOTE_OK)
		goto done;
	/* The origin names the log; a signature by some other trusted key does not make this
	 * checkpoint the log's. */
	rc = NOTE_EUNVERIFIED;
	for (size_t k = 0; k < n_known; k++)
		if (verified[k] && strlen(known[k]->name) == cp->origin_len &&
		    memcmp(known[k]->name, cp->origin, cp->origin_len) == 0)
			rc = NOTE_OK;
done:
	if (rc != NOTE_OK)
		memset(cp, 0, sizeof(*cp));
	free(verified);
	return rc;
}

size_t
note_text_len(const char *msg, size_t len)
{
	for (size_t i = len; i >= 2; i--)
		if (msg[i - 1] == '\n' && msg[i - 2] == '\n')
			return i - 1;
	return 0;
}

/* ---- cosignatures ---- */

int
note_cosign(const struct note_signer *s, const char *body, size_t len, uint64_t ts, char **out,
            size_t *out_len)
{
	struct note_checkpoint cp;
	uint8_t blob[COSIG_BLOB_LEN];
	char *msg = NULL;
	size_t mlen;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (s->type != NOTE_COSIG_ED25519)
		return NOTE_EKEY;
	if (ts > INT64_MAX || note_checkpoint_parse(body, len, &cp) != NOTE_OK)
		return NOTE_EMALFORMED;
	if ((rc = cosig_message(ts, body, len, &msg, &mlen)) != NOTE_OK)
		return rc;
	if ((rc = ed25519_sign(s->key, msg, mlen, blob + 12)) != NOTE_OK)
		goto done;
	put_be32(blob, s->id);
	for (int i = 0; i < 8; i++)
		blob[4 + i] = (uint8_t)(ts >> (56 - 8 * i));
	rc = sig_line(s->name, blob, sizeof(blob), out, out_len);
done:
	free(msg);
	OPENSSL_cleanse(blob, sizeof(blob));
	return rc;
}

int
note_cosig_check(const char *msg, size_t len, struct note_verifier *const *known, size_t n_known,
                 struct note_checkpoint *cp, struct note_cosig *found, size_t *n_valid)
{
	unsigned char *verified = NULL;
	uint64_t *times = NULL;
	size_t tlen;
	int rc;

	memset(cp, 0, sizeof(*cp));
	*n_valid = 0;
	for (size_t k = 0; k < n_known; k++) {
		if (known[k]->type != NOTE_COSIG_ED25519)
			return NOTE_EKEY;
		found[k].valid = 0;
		found[k].time = 0;
	}
	if (n_known > 0 && ((verified = calloc(n_known, 1)) == NULL ||
	                    (times = calloc(n_known, sizeof(*times))) == NULL)) {
		rc = NOTE_ENOMEM;
		goto done;
	}
	rc = verify_sigs(msg, len, known, n_known, &tlen, verified, times);
	if (rc == NOTE_EUNVERIFIED) {
		/* No known cosigner signed: the body is still to be read. */
		if ((tlen = note_text_len(msg, len)) == 0) {
			rc = NOTE_EMALFORMED;
			goto done;
		}
		rc = NOTE_OK;
	}
	if (rc != NOTE_OK || (rc = note_checkpoint_parse(msg, tlen, cp)) != NOTE_OK)
		goto done;
	for (size_t k = 0; k < n_known; k++)
		if (verified[k]) {
			found[k].valid = 1;
			found[k].time = times[k];
			++*n_valid;
		}
done:
	if (rc != NOTE_OK) {
		memset(cp, 0, sizeof(*cp));
		*n_valid = 0;
		for (size_t k = 0; k < n_known; k++)
			found[k].valid = 0;
	}
	free(verified);
	free(times);
	return rc;
}

int
note_cosig_verify(const struct note_verifier *v, const char *body, size_t len, const char *lines,
                  size_t lines_len, uint64_t *ts)
{
	struct note_verifier *const known[1] = {(struct note_verifier *)v};
	struct note_checkpoint cp;
	struct note_cosig found;
	size_t n, tl;
	char *note;
	int rc;

	*ts = 0;
	if (v->type != NOTE_COSIG_ED25519)
		return NOTE_EKEY;
	/* The body, a blank line, the lines: a note, read by the one set of rules. */
	if (len == 0 || len >= NOTE_MAX_SIZE || lines_len > NOTE_MAX_SIZE - len - 1 ||
	    lines_len == 0 || (tl = note_text_len(body, len)) != 0)
		return NOTE_EMALFORMED;
	if ((note = malloc(len + 1 + lines_len)) == NULL)
		return NOTE_ENOMEM;
	memcpy(note, body, len);
	note[len] = '\n';
	memcpy(note + len + 1, lines, lines_len);
	rc = note_cosig_check(note, len + 1 + lines_len, known, 1, &cp, &found, &n);
	free(note);
	if (rc == NOTE_OK && n == 0)
		rc = NOTE_EUNVERIFIED;
	if (rc == NOTE_OK)
		*ts = found.time;
	return rc;
}
