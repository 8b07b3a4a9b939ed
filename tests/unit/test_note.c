/* test_note — C2SP signed notes and checkpoints: own round trips, Go, C2SP and Python vectors. */
#include "check.h"
#include "note.c" /* verify_note and note_checkpoint_parse are static */
#include "pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

/*
 * The fixed Python vector. Made once with Python's `cryptography` (Ed25519 is deterministic, so
 * anyone can remake it):
 *
 * python3 -c '
 * import base64, hashlib
 * from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
 * from cryptography.hazmat.primitives import serialization as S
 * k = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"pdgate note test key").digest())
 * pub = k.public_key().public_bytes(S.Encoding.Raw, S.PublicFormat.Raw)
 * name = b"pdgate.local/test"
 * kid = hashlib.sha256(name + b"\n\x01" + pub).digest()[:4]
 * text = name + b"\n42\n" + base64.b64encode(hashlib.sha256(b"root").digest()) + b"\n"
 * print(k.private_bytes(S.Encoding.PEM, S.PrivateFormat.PKCS8, S.NoEncryption()).decode())
 * print(name.decode() + "+" + kid.hex() + "+" + base64.b64encode(b"\x01" + pub).decode())
 * print(repr((text + b"\n\xe2\x80\x94 " + name + b" " +
 *             base64.b64encode(kid + k.sign(text)) + b"\n").decode()))'
 */
static const char py_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                             "MC4CAQAwBQYDK2VwBCIEILoXCSKY+jwDvl1RSN+mpJ8aZ6B9kNGJOL5IO+5guu4U\n"
                             "-----END PRIVATE KEY-----\n";
static const char py_vkey[] =
    "pdgate.local/test+24ac354d+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q";
static const char py_text[] =
    "pdgate.local/test\n42\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n";
static const char py_note[] =
    "pdgate.local/test\n42\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n\n"
    "\xe2\x80\x94 pdgate.local/test "
    "JKw1TSMgivDkGsTgKY8k5EPI24tpPmOuU4LbnizSLk1vlzAX2ELNRf+XoAWH8Gap2XvwuwuTZygadId+rXk/"
    "kncijws=\n";

/* The example of Go's golang.org/x/mod/sumdb/note documentation, the reference implementation
 * C2SP signed-note describes: its signer key is "PRIVATE+KEY+PeterNeumann+c74f20a3+" followed by
 * base64(0x01 || the seed below). */
static const char go_seed_b64[] = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char go_vkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char go_text[] = "If you think cryptography is the answer to your problem,\n"
                              "then you don't know what your problem is.\n";
static const char go_note[] =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\xe2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/"
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

/* The examples of c2sp.org/signed-note and c2sp.org/tlog-checkpoint (their keys unpublished). */
static const char c2sp_note[] = "Ognuno sta solo sul cuor della terra\n"
                                "trafitto da un raggio di sole:\n"
                                "\n"
                                "ed \xc3\xa8 subito sera.\n"
                                "\n"
                                "\xe2\x80\x94 quasimodo.example/salvatore "
                                "NnugSzTjtVAewIS+Z/iJhUPeFDkO/"
                                "5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
static const char c2sp_checkpoint[] = "example.com/behind-the-sofa\n"
                                      "20852163\n"
                                      "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
                                      "\n"
                                      "\xe2\x80\x94 example.com/behind-the-sofa "
                                      "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
                                      "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

#define EM "\xe2\x80\x94 "

/* ---- helpers ---- */

/* A PEM of a new Ed25519 key (or of the given 32-byte seed). Caller frees. */
static char *
ed25519_pem(const unsigned char *seed)
{
	EVP_PKEY *k = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (seed != NULL)
		k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (k != NULL && b != NULL &&
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1 &&
	    (n = BIO_get_mem_data(b, &data)) > 0)
		out = strndup(data, (size_t)n);
	EVP_PKEY_free(k);
	BIO_free(b);
	return out;
}

static struct note_signer *
signer_new(const char *name)
{
	char *pem = ed25519_pem(NULL);
	struct note_signer *s = pem ? note_signer_new(name, pem, strlen(pem)) : NULL;

	free(pem);
	CHECK(s != NULL, "signer %s", name);
	return s;
}

static struct note_verifier *
verifier_of(const struct note_signer *s)
{
	char *vkey = note_signer_vkey(s);
	struct note_verifier *v = vkey ? note_verifier_new(vkey, strlen(vkey)) : NULL;

	CHECK(v != NULL, "verifier of %s", vkey ? vkey : "(null)");
	free(vkey);
	return v;
}

static int
verify_str(const char *msg, struct note_verifier *const *known, size_t n)
{
	size_t tl;

	return verify_note(msg, strlen(msg), known, n, &tl, NULL);
}

/* The signature line of a note (from its last blank line), NUL-terminated copy. */
static char *
sig_lines(const char *note)
{
	const char *p = NULL;

	for (const char *q = note; (q = strstr(q, "\n\n")) != NULL; q++)
		p = q;
	return p ? strdup(p + 2) : NULL;
}

static char *
concat(const char *a, const char *b)
{
	char *out = malloc(strlen(a) + strlen(b) + 1);

	if (out != NULL)
		strcat(strcpy(out, a), b);
	return out;
}

/* ---- fixed vectors ---- */

static void
test_python_vector(void)
{
	struct note_signer *s = note_signer_new("pdgate.local/test", py_pem, strlen(py_pem));
	struct note_verifier *v = note_verifier_new(py_vkey, strlen(py_vkey));
	char *vkey = NULL, *note = NULL;
	size_t len = 0, tl = 0;
	struct note_checkpoint cp;

	CHECK(s != NULL && v != NULL, "python key");
	if (s == NULL || v == NULL)
		goto done;
	vkey = note_signer_vkey(s);
	CHECK(vkey != NULL && strcmp(vkey, py_vkey) == 0, "vkey %s", vkey ? vkey : "(null)");
	CHECK(s->id == 0x24ac354d && v->id == 0x24ac354d, "key id");
	CHECK(strcmp(note_verifier_name(v), "pdgate.local/test") == 0, "name");
	/* Python -> C */
	CHECK(verify_note(py_note, strlen(py_note), &v, 1, &tl, NULL) == NOTE_OK &&
	          tl == strlen(py_text) && memcmp(py_note, py_text, tl) == 0,
	      "Python's note does not verify");
	/* C signs byte for byte as Python did. */
	CHECK(note_sign(s, py_text, strlen(py_text), &note, &len) == NOTE_OK &&
	          len == strlen(py_note) && strcmp(note, py_note) == 0,
	      "C's note differs from Python's:\n%s", note ? note : "(null)");
	CHECK(note_checkpoint_open(py_note, strlen(py_note), &v, 1, &cp) == NOTE_OK &&
	          cp.size == 42 && cp.origin_len == 17 &&
	          memcmp(cp.origin, "pdgate.local/test", 17) == 0 && cp.root[0] == 0x48 &&
	          cp.root[31] == 0xb2,
	      "Python checkpoint");
	/* pdgate init writes the vkey file with pki: both modules must agree on it. */
	{
		BIO *b = BIO_new_mem_buf(py_pem, -1);
		EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		char dir[] = "/tmp/test_note.XXXXXX", path[64], err[256] = "", pv[256] = "";

		if (k != NULL && mkdtemp(dir) != NULL) {
			snprintf(path, sizeof path, "%s/ledger.vkey", dir);
			FILE *f = pki_vkey_write(path, "pdgate.local/test", k, err, sizeof err) == 0
			              ? fopen(path, "r")
			              : NULL;
			if (f != NULL) {
				size_t n = fread(pv, 1, sizeof pv - 1, f);
				pv[n] = '\0';
				fclose(f);
			}
			unlink(path);
			rmdir(dir);
		}
		CHECK(strlen(pv) == strlen(py_vkey) + 1 &&
		          strncmp(pv, py_vkey, strlen(py_vkey)) == 0 && pv[strlen(py_vkey)] == '\n',
		      "pki_vkey_write gives %s%s", pv, err);
		EVP_PKEY_free(k);
		BIO_free(b);
	}
done:
	free(vkey);
	free(note);
	note_signer_free(s);
	note_verifier_free(v);
}

static void
test_go_vector(void)
{
	unsigned char typed[64];
	int n =
	    EVP_DecodeBlock(typed, (const unsigned char *)go_seed_b64, (int)strlen(go_seed_b64));
	char *pem = NULL, *note = NULL, *vkey = NULL;
	struct note_signer *s = NULL;
	struct note_verifier *v = note_verifier_new(go_vkey, strlen(go_vkey));
	size_t len, tl;

	CHECK(n == 33 && typed[0] == 0x01, "Go signer key");
	CHECK(v != NULL && v->id == 0xc74f20a3, "Go verifier key");
	if (n != 33 || v == NULL)
		goto done;
	CHECK(verify_note(go_note, strlen(go_note), &v, 1, &tl, NULL) == NOTE_OK &&
	          tl == strlen(go_text),
	      "Go's note does not verify");
	pem = ed25519_pem(typed + 1);
	s = pem ? note_signer_new("PeterNeumann", pem, strlen(pem)) : NULL;
	CHECK(s != NULL && (vkey = note_signer_vkey(s)) != NULL && strcmp(vkey, go_vkey) == 0,
	      "Go's vkey from its seed");
	CHECK(s != NULL && note_sign(s, go_text, strlen(go_text), &note, &len) == NOTE_OK &&
	          strcmp(note, go_note) == 0,
	      "C's note differs from Go's:\n%s", note ? note : "(null)");
done:
	free(pem);
	free(note);
	free(vkey);
	note_signer_free(s);
	note_verifier_free(v);
}

static void
test_c2sp_examples(void)
{
	struct note_signer *s = signer_new("quasimodo.example/salvatore");
	struct note_verifier *v = s ? verifier_of(s) : NULL;
	struct note_checkpoint cp;
	const char *blank = strstr(c2sp_checkpoint, "\n\n");
	static const unsigned char root0[] = {0x0a, 0xc5, 0x18, 0x6a};

	/* Well-formed, a blank line inside the text, but signed by keys we do not hold: a
	 * same-named key with another id is not the signer, and is ignored. */
	CHECK(v != NULL && verify_str(c2sp_note, &v, 1) == NOTE_EUNVERIFIED,
	      "C2SP note: same name, other key");
	CHECK(verify_str(c2sp_note, NULL, 0) == NOTE_EUNVERIFIED, "C2SP note, no keys");
	CHECK(verify_str(c2sp_checkpoint, NULL, 0) == NOTE_EUNVERIFIED, "C2SP checkpoint");
	CHECK(blank != NULL &&
	          note_checkpoint_parse(c2sp_checkpoint, (size_t)(blank + 1 - c2sp_checkpoint),
	                                &cp) == NOTE_OK &&
	          cp.size == 20852163 && cp.origin_len == 27 &&
	          memcmp(cp.origin, "example.com/behind-the-sofa", 27) == 0 &&
	          memcmp(cp.root, root0, 4) == 0,
	      "C2SP checkpoint text");
	note_verifier_free(v);
	note_signer_free(s);
}

/* ---- behaviour ---- */

static void
test_round_trip(void)
{
	struct note_signer *a = signer_new("pdgate.local/demo"),
	                   *b = signer_new("witness.example/w1");
	struct note_signer *a2 = signer_new("pdgate.local/demo"); /* same name, other key */
	struct note_verifier *va = verifier_of(a), *vb = verifier_of(b), *va2 = verifier_of(a2);
	struct note_verifier *both[2] = {va, vb}, *wrong[2] = {vb, va2};
	const char *text = "pdgate.local/demo\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
	char *na = NULL, *nb = NULL, *other = NULL, *lb = NULL, *lo = NULL, *two = NULL,
	     *bad = NULL;
	size_t len, tl;

	CHECK(note_sign(a, text, strlen(text), &na, &len) == NOTE_OK && len == strlen(na), "sign");
	CHECK(note_sign(b, text, strlen(text), &nb, &len) == NOTE_OK, "sign b");
	CHECK(note_sign(b, "something else\n", 15, &other, &len) == NOTE_OK, "sign other");
	if (na == NULL || nb == NULL || other == NULL)
		goto done;
	CHECK(verify_note(na, strlen(na), &va, 1, &tl, NULL) == NOTE_OK && tl == strlen(text) &&
	          memcmp(na, text, tl) == 0,
	      "round trip");
	CHECK(verify_str(na, wrong, 2) == NOTE_EUNVERIFIED, "wrong keys, including same name");
	CHECK(verify_str(na, NULL, 0) == NOTE_EUNVERIFIED, "no keys");

	/* An extra signature by an unknown key changes nothing; known, it must verify too. */
	lb = sig_lines(nb);
	two = concat(na, lb);
	CHECK(two != NULL && verify_str(two, &va, 1) == NOTE_OK, "extra unknown signature");
	CHECK(two != NULL && verify_str(two, both, 2) == NOTE_OK, "two known signatures");
	CHECK(two != NULL && verify_str(two, &vb, 1) == NOTE_OK, "second signature alone");
	lo = sig_lines(other);
	bad = concat(na, lo);
	CHECK(bad != NULL && verify_str(bad, &va, 1) == NOTE_OK,
	      "a bad signature by an unknown key is ignored");
	CHECK(bad != NULL && verify_str(bad, both, 2) == NOTE_EBADSIG,
	      "a bad signature by a known key refuses the note");
	free(bad);
	bad = concat(na, na + strlen(text) + 1); /* the same signature twice */
	CHECK(bad != NULL && verify_str(bad, &va, 1) == NOTE_OK, "repeated signature");

	/* checkpoint_open wants the origin's own key among the verified ones */
	struct note_checkpoint cp;
	CHECK(note_checkpoint_open(two, strlen(two), both, 2, &cp) == NOTE_OK && cp.size == 7,
	      "checkpoint open");
	CHECK(note_checkpoint_open(two, strlen(two), &vb, 1, &cp) == NOTE_EUNVERIFIED &&
	          cp.origin == NULL,
	      "checkpoint verified only by a key that is not its origin's");
	CHECK(note_checkpoint_open(other, strlen(other), &vb, 1, &cp) == NOTE_EMALFORMED,
	      "a note that is not a checkpoint");
done:
	free(na);
	free(nb);
	free(other);
	free(lb);
	free(lo);
	free(two);
	free(bad);
	note_verifier_free(va);
	note_verifier_free(vb);
	note_verifier_free(va2);
	note_signer_free(a);
	note_signer_free(b);
	note_signer_free(a2);
}

/* Table of notes made from the Python vector by editing it: each must be refused. */
static void
test_malformed(void)
{
	struct note_verifier *v = note_verifier_new(py_vkey, strlen(py_vkey));
	char *buf = malloc(NOTE_MAX_SIZE + 4096);
	static const struct {
		const char *what;
		const char *text; /* before the blank line */
		const char *line; /* the signature part after the blank line; NULL: Python's */
		int want;
	} cases[] = {
	    {"as made", NULL, NULL, NOTE_OK},
	    {"tampered body",
	     "pdgate.local/test\n43\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n", NULL,
	     NOTE_EBADSIG},
	    {"body with an extra line", NULL, "", NOTE_EBADSIG}, /* filled below */
	    {"no signature lines", NULL, "", NOTE_EMALFORMED},
	    {"no blank line", NULL, "-", NOTE_EMALFORMED},
	    {"hyphen for the em dash", NULL, "- pdgate.local/test SIG\n", NOTE_EMALFORMED},
	    {"no space after the dash", NULL, "\xe2\x80\x94pdgate.local/test SIG\n",
	     NOTE_EMALFORMED},
	    {"empty name", NULL, EM " SIG\n", NOTE_EMALFORMED},
	    {"name with plus", NULL, EM "pdgate.local+test SIG\n", NOTE_EMALFORMED},
	    {"name with no-break space", NULL, EM "pdgate.local\xc2\xa0test SIG\n",
	     NOTE_EMALFORMED},
	    {"name with ideographic space", NULL, EM "pdgate\xe3\x80\x80test SIG\n",
	     NOTE_EMALFORMED},
	    {"two spaces", NULL, EM "pdgate.local/test  SIG\n", NOTE_EMALFORMED},
	    {"trailing space", NULL, EM "pdgate.local/test SIG \n", NOTE_EMALFORMED},
	    {"no signature", NULL, EM "pdgate.local/test\n", NOTE_EMALFORMED},
	    {"empty signature", NULL, EM "pdgate.local/test \n", NOTE_EMALFORMED},
	    {"no final newline", NULL, EM "pdgate.local/test SIG", NOTE_EMALFORMED},
	    {"bad base64 character", NULL, EM "pdgate.local/test *Kw1TSMg\n", NOTE_EMALFORMED},
	    {"unpadded base64", NULL, EM "pdgate.local/test AAAAAAA\n", NOTE_EMALFORMED},
	    {"non-canonical base64", NULL, EM "pdgate.local/test AAAAAAB=\n", NOTE_EMALFORMED},
	    {"blob of 4 bytes", NULL, EM "pdgate.local/test JKw1TQ==\n", NOTE_EMALFORMED},
	    {"truncated signature", NULL, EM "pdgate.local/test JKw1TSMgivDkGsTgKY8k5EPI24tpPmOu\n",
	     NOTE_EMALFORMED},
	    {"unknown key, 5-byte blob", NULL, EM "someone.else/key AAAAAAA=\n", NOTE_EUNVERIFIED},
	    {"wrong key id", NULL,
	     EM
	     "pdgate.local/test "
	     "JKw1TiMgivDkGsTgKY8k5EPI24tpPmOuU4LbnizSLk1vlzAX2ELNRf+XoAWH8Gap2XvwuwuTZygadId+rXk/"
	     "kncijws=\n",
	     NOTE_EUNVERIFIED},
	    {"other name, same id", NULL,
	     EM
	     "pdgate.local/tesT "
	     "JKw1TSMgivDkGsTgKY8k5EPI24tpPmOuU4LbnizSLk1vlzAX2ELNRf+XoAWH8Gap2XvwuwuTZygadId+rXk/"
	     "kncijws=\n",
	     NOTE_EUNVERIFIED},
	    {"non-zero padding bits", NULL,
	     EM
	     "pdgate.local/test "
	     "JKw1TSMgivDkGsTgKY8k5EPI24tpPmOuU4LbnizSLk1vlzAX2ELNRf+XoAWH8Gap2XvwuwuTZygadId+rXk/"
	     "kncijwt=\n",
	     NOTE_EMALFORMED},
	    {"changed signature byte", NULL,
	     EM
	     "pdgate.local/test "
	     "JKw1TSMgivDkGsTgKY8k5EPI24tpPmOuU4LbnizSLk1vlzAX2ELNRf+XoAWH8Gap2XvwuwuTZygadId+rXk/"
	     "kncijww=\n",
	     NOTE_EBADSIG},
	    {"text with a tab", "pdgate.local/test\n42\t\nx\n", NULL, NOTE_EMALFORMED},
	    {"text with CR", "pdgate.local/test\r\n42\n", NULL, NOTE_EMALFORMED},
	    {"text with invalid UTF-8", "pdgate\xff.local\n", NULL, NOTE_EMALFORMED},
	    {"text with overlong UTF-8", "pdgate\xc0\xaf.local\n", NULL, NOTE_EMALFORMED},
	    {"text with a surrogate", "pdgate\xed\xa0\x80.local\n", NULL, NOTE_EMALFORMED},
	    {"text with truncated UTF-8", "pdgate\xe2\x80\n", NULL, NOTE_EMALFORMED},
	};

	CHECK(v != NULL && buf != NULL, "setup");
	if (v == NULL || buf == NULL)
		goto done;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *text = cases[i].text ? cases[i].text : py_text;
		size_t tl;
		int rc;

		if (i == 2) /* a line added after the text, before the blank line */
			snprintf(buf, 4096, "%sx\n\n%s", py_text, strstr(py_note, EM));
		else if (i == 3)
			snprintf(buf, 4096, "%s\n", py_text);
		else if (i == 4)
			snprintf(buf, 4096, "%s%s", py_text, strstr(py_note, EM));
		else if (cases[i].line == NULL)
			snprintf(buf, 4096, "%s\n%s", text, strstr(py_note, EM));
		else if (strstr(cases[i].line, "SIG") != NULL)
			snprintf(buf, 4096, "%s\n%.*sJKw1TSMg%s", text,
			         (int)(strstr(cases[i].line, "SIG") - cases[i].line), cases[i].line,
			         strstr(cases[i].line, "SIG") + 3);
		else
			snprintf(buf, 4096, "%s\n%s", text, cases[i].line);
		rc = verify_note(buf, strlen(buf), &v, 1, &tl, NULL);
		CHECK(rc == cases[i].want, "%s: got %s, want %s", cases[i].what, note_strerror(rc),
		      note_strerror(cases[i].want));
	}

	/* A NUL inside the note is a control character too. */
	{
		char nul[sizeof(py_note)];
		size_t tl;

		memcpy(nul, py_note, sizeof(py_note));
		nul[5] = '\0';
		CHECK(verify_note(nul, sizeof(py_note) - 1, &v, 1, &tl, NULL) == NOTE_EMALFORMED,
		      "NUL");
	}

	/* Signature count: 100 lines are fine, 101 are not. */
	{
		char *p = buf;
		size_t tl;

		p += sprintf(p, "%s\n", py_text);
		for (int k = 0; k < NOTE_MAX_SIGS - 1; k++)
			p += sprintf(p, EM "other.example/k%d AAAAAAA=\n", k);
		strcpy(p, strstr(py_note, EM));
		CHECK(verify_note(buf, strlen(buf), &v, 1, &tl, NULL) == NOTE_OK, "100 signatures");
		memmove(p + strlen(EM "x AAAAAAA=\n"), p, strlen(p) + 1);
		memcpy(p, EM "x AAAAAAA=\n", strlen(EM "x AAAAAAA=\n"));
		CHECK(verify_note(buf, strlen(buf), &v, 1, &tl, NULL) == NOTE_EMALFORMED,
		      "101 signatures");
	}

	/* Size: a valid note just under 1 MiB verifies; one byte over does not. */
	{
		struct note_signer *s =
		    note_signer_new("pdgate.local/test", py_pem, strlen(py_pem));
		size_t siglen = strlen(strstr(py_note, EM)) + 1, tl, len;
		size_t tlen = NOTE_MAX_SIZE - siglen;
		char *note = NULL;

		memset(buf, 'a', tlen);
		buf[tlen - 1] = '\n';
		buf[tlen] = '\0';
		CHECK(s != NULL && note_sign(s, buf, tlen, &note, &len) == NOTE_OK &&
		          len == NOTE_MAX_SIZE &&
		          verify_note(note, len, &v, 1, &tl, NULL) == NOTE_OK,
		      "note of exactly 1 MiB");
		free(note);
		note = NULL;
		buf[tlen - 1] = 'a';
		buf[tlen] = '\n';
		CHECK(s != NULL && note_sign(s, buf, tlen + 1, &note, &len) == NOTE_EMALFORMED &&
		          note == NULL,
		      "signing past 1 MiB");
		/* the same over-long note, assembled by hand */
		sprintf(buf + tlen + 1, "\n%s", strstr(py_note, EM));
		CHECK(verify_note(buf, strlen(buf), &v, 1, &tl, NULL) == NOTE_EMALFORMED,
		      "note over 1 MiB");
		note_signer_free(s);
	}
done:
	free(buf);
	note_verifier_free(v);
}

static void
test_sign_refusals(void)
{
	struct note_signer *s = note_signer_new("pdgate.local/test", py_pem, strlen(py_pem));
	static const struct {
		const char *what, *text;
	} bad[] = {
	    {"empty text", ""},
	    {"no final newline", "pdgate.local/test\n42"},
	    {"control character", "a\x01\n"},
	    {"invalid UTF-8", "\x80\n"},
	};
	char *out = (char *)"untouched";
	size_t len = 1;

	for (size_t i = 0; s != NULL && i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(note_sign(s, bad[i].text, strlen(bad[i].text), &out, &len) ==
		              NOTE_EMALFORMED &&
		          out == NULL && len == 0,
		      "signing %s", bad[i].what);
	CHECK(s != NULL && note_sign(s, "\n", 1, &out, &len) == NOTE_OK, "a text of one newline");
	if (s != NULL)
		free(out);
	note_signer_free(s);
	note_signer_free(NULL);
	note_verifier_free(NULL);
}

static void
test_keys(void)
{
	static const struct {
		const char *what, *vkey;
		int ok;
	} vk[] = {
	    {"valid", "pdgate.local/test+24ac354d+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q", 1},
	    {"upper-case id",
	     "pdgate.local/test+24AC354D+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q", 1},
	    {"wrong id", "pdgate.local/test+24ac354e+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q",
	     0},
	    {"other name",
	     "pdgate.local/tesu+24ac354d+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q", 0},
	    {"short id", "pdgate.local/test+24ac354+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q",
	     0},
	    {"id not hex",
	     "pdgate.local/test+24ac354g+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q", 0},
	    {"type 02", "pdgate.local/test+24ac354d+Anmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q",
	     0},
	    {"short key", "pdgate.local/test+24ac354d+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgW", 0},
	    {"long key",
	     "pdgate.local/test+24ac354d+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42QAA==", 0},
	    {"trailing newline",
	     "pdgate.local/test+24ac354d+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q\n", 0},
	    {"name with space",
	     "pdgate local+24ac354d+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q", 0},
	    {"empty name", "+24ac354d+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q", 0},
	    {"one part", "pdgate.local/test", 0},
	    {"two parts", "pdgate.local/test+24ac354d", 0},
	    {"empty", "", 0},
	};

	for (size_t i = 0; i < sizeof(vk) / sizeof(vk[0]); i++) {
		struct note_verifier *v = note_verifier_new(vk[i].vkey, strlen(vk[i].vkey));

		CHECK((v != NULL) == vk[i].ok, "vkey %s", vk[i].what);
		note_verifier_free(v);
	}

	/* Signer keys: names, key types, encryption. */
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n = 0;

	if (ec != NULL && b != NULL && PEM_write_bio_PrivateKey(b, ec, NULL, NULL, 0, NULL, NULL))
		n = BIO_get_mem_data(b, &data);
	CHECK(n > 0 && note_signer_new("pdgate.local/test", data, (size_t)n) == NULL,
	      "an EC key is not an Ed25519 signer");
	BIO_free(b);
	EVP_PKEY_free(ec);

	char *pem = ed25519_pem(NULL);
	EVP_PKEY *k = NULL;
	BIO *pb = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	BIO *eb = BIO_new(BIO_s_mem());

	if (pb != NULL)
		k = PEM_read_bio_PrivateKey(pb, NULL, NULL, NULL);
	n = 0;
	if (k != NULL && eb != NULL &&
	    PEM_write_bio_PrivateKey(eb, k, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"secret"))
		n = BIO_get_mem_data(eb, &data);
	/* Refused, and without asking a terminal for the passphrase. */
	CHECK(n > 0 && note_signer_new("pdgate.local/test", data, (size_t)n) == NULL,
	      "an encrypted key");
	BIO_free(eb);
	BIO_free(pb);
	EVP_PKEY_free(k);

	static const char *const bad_names[] = {"",     "a b",        "a+b", "a\tb",
	                                        "a\nb", "a\xc2\xa0z", "\xff"};
	for (size_t i = 0; pem != NULL && i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		CHECK(note_signer_new(bad_names[i], pem, strlen(pem)) == NULL, "signer name %zu",
		      i);
	struct note_signer *u = pem ? note_signer_new("例え.jp/ログ", pem, strlen(pem)) : NULL;
	struct note_verifier *uv = u ? verifier_of(u) : NULL;
	char *note = NULL;
	size_t len, tl;

	CHECK(u != NULL && uv != NULL && note_sign(u, "x\n", 2, &note, &len) == NOTE_OK &&
	          verify_note(note, len, &uv, 1, &tl, NULL) == NOTE_OK,
	      "non-ASCII key name");
	CHECK(note_signer_new("pdgate.local/test", "garbage", 7) == NULL, "garbage PEM");
	free(note);
	note_verifier_free(uv);
	note_signer_free(u);
	free(pem);
}

static void
test_checkpoints(void)
{
	uint8_t root[NOTE_ROOT_LEN];
	struct note_checkpoint cp;
	char *text = NULL;
	size_t len;
	static const uint64_t sizes[] = {0, 1, 9, 10, 1000000, UINT64_MAX};

	for (size_t i = 0; i < NOTE_ROOT_LEN; i++)
		root[i] = (uint8_t)(i * 37 + 5);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CHECK(note_checkpoint_format("pdgate.local/demo", sizes[i], root, &text, &len) ==
		              NOTE_OK &&
		          len == strlen(text),
		      "format %zu", i);
		CHECK(text != NULL && note_checkpoint_parse(text, len, &cp) == NOTE_OK &&
		          cp.size == sizes[i] && cp.origin == text && cp.origin_len == 17 &&
		          memcmp(cp.root, root, NOTE_ROOT_LEN) == 0,
		      "round trip %zu", i);
		free(text);
		text = NULL;
	}
	CHECK(note_checkpoint_format("o", 10, root, &text, &len) == NOTE_OK &&
	          strcmp(text, "o\n10\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n") == 0,
	      "format bytes: %s", text ? text : "(null)");
	free(text);
	text = NULL;
	CHECK(note_checkpoint_format("", 1, root, &text, &len) == NOTE_EMALFORMED && text == NULL,
	      "empty origin");
	CHECK(note_checkpoint_format("a\nb", 1, root, &text, &len) == NOTE_EMALFORMED,
	      "origin with a newline");

	static const struct {
		const char *what, *text;
		int ok;
		uint64_t size;
	} cases[] = {
	    {"plain", "o\n10\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 1, 10},
	    {"extensions", "o\n10\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\next 1\next 2\n", 1,
	     10},
	    {"origin with spaces", "my log\n0\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 1,
	     0},
	    {"max size", "o\n18446744073709551615\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n",
	     1, UINT64_MAX},
	    {"size overflow",
	     "o\n18446744073709551616\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 0, 0},
	    {"leading zero", "o\n010\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 0, 0},
	    {"zero zero", "o\n00\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 0, 0},
	    {"negative", "o\n-1\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 0, 0},
	    {"plus sign", "o\n+1\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 0, 0},
	    {"size with space", "o\n1 \nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 0, 0},
	    {"empty size", "o\n\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 0, 0},
	    {"empty origin", "\n1\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 0, 0},
	    {"no root", "o\n1\n", 0, 0},
	    {"root of 31 bytes", "o\n1\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2Ww==\n", 0, 0},
	    {"root of 33 bytes", "o\n1\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4AA\n", 0, 0},
	    {"root unpadded", "o\n1\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A\n", 0, 0},
	    {"root base64url", "o\n1\nBSpPdJm-4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 0, 0},
	    {"root non-canonical", "o\n1\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4B=\n", 0, 0},
	    {"no final newline", "o\n1\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=", 0, 0},
	    {"empty extension line", "o\n1\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n\nx\n", 0,
	     0},
	    {"control character", "o\x01\n1\nBSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4A=\n", 0, 0},
	    {"empty", "", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = note_checkpoint_parse(cases[i].text, strlen(cases[i].text), &cp);

		CHECK((rc == NOTE_OK) == cases[i].ok && (!cases[i].ok || cp.size == cases[i].size),
		      "checkpoint %s: %s", cases[i].what, note_strerror(rc));
		CHECK(cases[i].ok || (cp.origin == NULL && cp.size == 0),
		      "checkpoint %s: output not cleared", cases[i].what);
	}
}

/* ---- C -> Python and Python -> C, live ---- */

/* An independent verifier: C2SP signed-note by hand with `cryptography`. Prints OK or NONE, or
 * raises (exit 1) on a malformed note or a bad signature. */
static const char py_verify[] =
    "import sys, base64, hashlib\n"
    "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey\n"
    "vkey = open(sys.argv[1]).read().strip()\n"
    "note = open(sys.argv[2], 'rb').read()\n"
    "name, kid, key = vkey.split('+', 2)\n"
    "raw = base64.b64decode(key, validate=True)\n"
    "assert raw[0] == 1 and len(raw) == 33\n"
    "assert hashlib.sha256(name.encode() + b'\\n' + raw).digest()[:4].hex() == kid\n"
    "i = note.rindex(b'\\n\\n')\n"
    "text, ok = note[:i + 1], 0\n"
    "for line in note[i + 2:].decode().splitlines():\n"
    "    assert line.startswith('\\u2014 ')\n"
    "    n, sig = line[2:].split(' ')\n"
    "    sig = base64.b64decode(sig, validate=True)\n"
    "    if n == name and sig[:4].hex() == kid:\n"
    "        Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], text)\n"
    "        ok += 1\n"
    "print('OK' if ok else 'NONE')\n";

/* A fresh key made by Python: prints the vkey line, then the signed note. */
static const char py_sign[] =
    "import base64, hashlib, sys\n"
    "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey\n"
    "from cryptography.hazmat.primitives import serialization as S\n"
    "k = Ed25519PrivateKey.generate()\n"
    "pub = k.public_key().public_bytes(S.Encoding.Raw, S.PublicFormat.Raw)\n"
    "name = b'python.example/log'\n"
    "kid = hashlib.sha256(name + b'\\n\\x01' + pub).digest()[:4]\n"
    "text = 'python.example/log\\n5\\n' + base64.b64encode(bytes(32)).decode() + "
    "'\\nné\\n'\n"
    "text = text.encode()\n"
    "sys.stdout.write(name.decode() + '+' + kid.hex() + '+' + "
    "base64.b64encode(b'\\x01' + pub).decode() + '\\n')\n"
    "sys.stdout.buffer.write(text + b'\\n\\xe2\\x80\\x94 ' + name + b' ' + "
    "base64.b64encode(kid + k.sign(text)) + b'\\n')\n";

static int
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok = f != NULL && fwrite(data, 1, len, f) == len;

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* Runs the Python script on (vkey, note); its first output line, or "" on failure. */
static void
python_run(const char *script, const char *vkey, const char *note, size_t len, char *out,
           size_t cap)
{
	char dir[] = "/tmp/pdgate-note-XXXXXX", vp[64], np[64], sp[64], cmd[256];
	FILE *p;

	out[0] = '\0';
	if (mkdtemp(dir) == NULL)
		return;
	snprintf(vp, sizeof(vp), "%s/vkey", dir);
	snprintf(np, sizeof(np), "%s/note", dir);
	snprintf(sp, sizeof(sp), "%s/verify.py", dir);
	snprintf(cmd, sizeof(cmd), "python3 %s %s %s 2>/dev/null", sp, vp, np);
	if (write_file(vp, vkey, strlen(vkey)) == 0 && write_file(np, note, len) == 0 &&
	    write_file(sp, script, strlen(script)) == 0 && (p = popen(cmd, "r")) != NULL) {
		if (fgets(out, (int)cap, p) == NULL)
			out[0] = '\0';
		out[strcspn(out, "\n")] = '\0';
		pclose(p);
	}
	unlink(vp);
	unlink(np);
	unlink(sp);
	rmdir(dir);
}

static void
python_verify(const char *vkey, const char *note, size_t len, char *out, size_t cap)
{
	python_run(py_verify, vkey, note, len, out, cap);
}

static void
test_python_live(void)
{
	struct note_signer *s = signer_new("pdgate.local/demo");
	struct note_signer *o = signer_new("other.example/k");
	char *vkey = s ? note_signer_vkey(s) : NULL, *note = NULL, *onote = NULL;
	char got[64], buf[8192];
	const char *text = "pdgate.local/demo\n3\nOE9qZ4iUS5SdHW0vUyjIIZW9dBWwWnXvK4Gqm8CaISk=\n";
	size_t len, olen, n;
	FILE *p;

	CHECK(s != NULL && vkey != NULL && note_sign(s, text, strlen(text), &note, &len) == 0,
	      "sign for Python");
	if (note == NULL)
		goto done;
	python_verify(vkey, note, len, got, sizeof(got));
	CHECK(strcmp(got, "OK") == 0, "Python does not verify C's note: '%s'", got);
	note[2] ^= 1; /* tampered: Python must refuse */
	python_verify(vkey, note, len, got, sizeof(got));
	CHECK(strcmp(got, "") == 0, "Python accepts a tampered note: '%s'", got);
	note[2] ^= 1;
	/* signed by another key only: Python finds no signature of its key */
	if (o != NULL && note_sign(o, text, strlen(text), &onote, &olen) == 0) {
		python_verify(vkey, onote, olen, got, sizeof(got));
		CHECK(strcmp(got, "NONE") == 0, "Python on a note by another key: '%s'", got);
	}

	/* Python -> C with a key made now. */
	snprintf(buf, sizeof(buf), "python3 -c \"$(cat <<'EOF'\n%sEOF\n)\"", py_sign);
	p = popen(buf, "r");
	n = p ? fread(buf, 1, sizeof(buf) - 1, p) : 0;
	if (p != NULL)
		pclose(p);
	buf[n] = '\0';
	{
		char *nl = strchr(buf, '\n');
		struct note_verifier *pv = nl ? note_verifier_new(buf, (size_t)(nl - buf)) : NULL;
		struct note_checkpoint cp;

		CHECK(pv != NULL, "Python's vkey: %s", buf);
		CHECK(pv != NULL &&
		          note_checkpoint_open(nl + 1, strlen(nl + 1), &pv, 1, &cp) == NOTE_OK &&
		          cp.size == 5,
		      "C does not verify Python's checkpoint");
		note_verifier_free(pv);
	}
done:
	free(vkey);
	free(note);
	free(onote);
	note_signer_free(s);
	note_signer_free(o);
}

/* ---- cosignatures (c2sp.org/tlog-cosignature, cosignature/v1) ---- */

/*
 * The fixed cosignature vector: a cosignature/v1 of py_text at time 1679315147, made once with
 * Python's `cryptography` (deterministic, so anyone can remake it):
 *
 * python3 -c '
 * import base64, hashlib, struct
 * from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
 * from cryptography.hazmat.primitives import serialization as S
 * k = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"pdgate cosig test key").digest())
 * pub = k.public_key().public_bytes(S.Encoding.Raw, S.PublicFormat.Raw)
 * name = b"witness.example/w1"
 * kid = hashlib.sha256(name + b"\n\x04" + pub).digest()[:4]
 * body = b"pdgate.local/test\n42\n" + base64.b64encode(hashlib.sha256(b"root").digest()) + b"\n"
 * ts = 1679315147
 * sig = k.sign(b"cosignature/v1\ntime %d\n" % ts + body)
 * print(k.private_bytes(S.Encoding.PEM, S.PrivateFormat.PKCS8, S.NoEncryption()).decode())
 * print(name.decode() + "+" + kid.hex() + "+" + base64.b64encode(b"\x04" + pub).decode())
 * print(repr((b"\xe2\x80\x94 " + name + b" " +
 *             base64.b64encode(kid + struct.pack(">Q", ts) + sig) + b"\n").decode()))'
 */
static const char cs_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                             "MC4CAQAwBQYDK2VwBCIEIPA8hoUMQk9vJpoiw6trHAIXhNIF9IHLNJ8ITY4zDdeV\n"
                             "-----END PRIVATE KEY-----\n";
static const char cs_vkey[] =
    "witness.example/w1+a6ba1725+BGB0HDp4PWlgH7Fj+Fa1qU9qqCeQn7biIbv+04X2Wze5";
#define CS_TIME 1679315147
#define CS_SIG                                                                                     \
	"proXJQAAAABkGFDLzTAC11Lf+c1VsRuHLj84YGvb4M0dAAN8elbmsxHKkslpWGWtdzmKNRj086X7D2NU1BA+"     \
	"SEuixVQnBiqDI7KxAg=="
static const char cs_line[] = "\xe2\x80\x94 witness.example/w1 " CS_SIG "\n";

/* A signature line of name with blob (re-encoded), for forged and malformed lines. */
static char *
line_of(const char *name, const uint8_t *blob, size_t len)
{
	char b64[256], *out;

	codec_b64_encode(blob, len, b64);
	if ((out = malloc(strlen(name) + strlen(b64) + 8)) != NULL)
		sprintf(out, SIG_PREFIX "%s %s\n", name, b64);
	return out;
}

static int
cosig_verify_str(const struct note_verifier *v, const char *body, const char *lines, uint64_t *ts)
{
	return note_cosig_verify(v, body, strlen(body), lines, strlen(lines), ts);
}

static void
test_cosig_vector(void)
{
	struct note_signer *cs = note_cosigner_new("witness.example/w1", cs_pem, strlen(cs_pem));
	struct note_verifier *cv = note_cosigner_verifier_new(cs_vkey, strlen(cs_vkey));
	struct note_verifier *lv = note_verifier_new(py_vkey, strlen(py_vkey));
	char *vkey = cs ? note_signer_vkey(cs) : NULL, *line = NULL, *note = NULL;
	struct note_checkpoint cp;
	struct note_cosig found;
	size_t len = 0, n = 9;
	uint64_t ts = 0;

	CHECK(cs != NULL && cv != NULL && lv != NULL, "cosigner keys");
	if (cs == NULL || cv == NULL || lv == NULL)
		goto done;
	CHECK(vkey != NULL && strcmp(vkey, cs_vkey) == 0, "cosigner vkey %s", vkey ? vkey : "-");
	CHECK(strcmp(note_verifier_name(cv), "witness.example/w1") == 0, "cosigner name");
	/* the key ids of the two types differ: each vkey is refused as the other */
	CHECK(note_verifier_new(cs_vkey, strlen(cs_vkey)) == NULL, "0x04 vkey as a log key");
	CHECK(note_cosigner_verifier_new(py_vkey, strlen(py_vkey)) == NULL,
	      "0x01 vkey as cosigner");
	CHECK(note_cosign(cs, py_text, strlen(py_text), CS_TIME, &line, &len) == NOTE_OK &&
	          len == strlen(cs_line) && strcmp(line, cs_line) == 0,
	      "cosignature differs from Python's: %s", line ? line : "-");
	CHECK(cosig_verify_str(cv, py_text, cs_line, &ts) == NOTE_OK && ts == CS_TIME,
	      "Python's cosignature");
	/* in the whole note: the log opens it ignoring the cosignature, the cosigner the reverse */
	note = concat(py_note, cs_line);
	CHECK(note != NULL && note_checkpoint_open(note, strlen(note), &lv, 1, &cp) == NOTE_OK &&
	          cp.size == 42,
	      "log signature beside a cosignature");
	CHECK(note != NULL &&
	          note_cosig_check(note, strlen(note), &cv, 1, &cp, &found, &n) == NOTE_OK &&
	          n == 1 && found.valid && found.time == CS_TIME && cp.size == 42,
	      "cosignature in the note");
	CHECK(note_cosig_check(py_note, strlen(py_note), &cv, 1, &cp, &found, &n) == NOTE_OK &&
	          n == 0 && !found.valid && cp.size == 42,
	      "a note without cosignature has none");
	/* each kind of key in its own place only */
	CHECK(note_checkpoint_open(note, strlen(note), &cv, 1, &cp) == NOTE_EKEY,
	      "a cosigner as the log's key");
	CHECK(note_cosig_check(note, strlen(note), &lv, 1, &cp, &found, &n) == NOTE_EKEY,
	      "a log key as a cosigner");
	CHECK(cosig_verify_str(lv, py_text, cs_line, &ts) == NOTE_EKEY, "log key verifies cosig");
done:
	free(vkey);
	free(line);
	free(note);
	note_signer_free(cs);
	note_verifier_free(cv);
	note_verifier_free(lv);
}

static void
test_cosig_refusals(void)
{
	struct note_signer *cs = note_cosigner_new("witness.example/w1", cs_pem, strlen(cs_pem));
	struct note_signer *ls = note_signer_new("pdgate.local/test", py_pem, strlen(py_pem));
	struct note_verifier *cv = note_cosigner_verifier_new(cs_vkey, strlen(cs_vkey));
	const char *other = "pdgate.local/test\n43\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n";
	uint8_t blob[COSIG_BLOB_LEN];
	char *line = NULL;
	size_t len;
	uint64_t ts;

	if (cs == NULL || ls == NULL || cv == NULL ||
	    codec_b64_decode(CS_SIG, strlen(CS_SIG), blob, sizeof(blob)) != COSIG_BLOB_LEN) {
		CHECK(0, "refusal fixtures");
		goto done;
	}
	CHECK(note_sign(cs, py_text, strlen(py_text), &line, &len) == NOTE_EKEY && line == NULL,
	      "a cosigner signs a note");
	CHECK(note_cosign(ls, py_text, strlen(py_text), 1, &line, &len) == NOTE_EKEY,
	      "a log key cosigns");
	CHECK(note_cosign(cs, "not a checkpoint\n", 17, 1, &line, &len) == NOTE_EMALFORMED,
	      "cosigning what is not a checkpoint");
	CHECK(note_cosign(cs, py_note, strlen(py_note), 1, &line, &len) == NOTE_EMALFORMED,
	      "cosigning a note with its signature lines");
	CHECK(note_cosign(cs, py_text, strlen(py_text), (uint64_t)INT64_MAX + 1, &line, &len) ==
	          NOTE_EMALFORMED,
	      "a timestamp above 2^63 - 1");
	/* the exact body: another size, or an extension line added, breaks the signature */
	CHECK(cosig_verify_str(cv, other, cs_line, &ts) == NOTE_EBADSIG, "cosig of another body");
	{
		char *ext = concat(py_text, "ext\n");

		CHECK(ext && cosig_verify_str(cv, ext, cs_line, &ts) == NOTE_EBADSIG,
		      "an extension");
		free(ext);
	}
	/* the timestamp is signed */
	struct {
		const char *why;
		const char *name;
		int byte, bit;
		size_t len;
		int want;
	} rows[] = {
	    {"timestamp changed", "witness.example/w1", 11, 0x01, COSIG_BLOB_LEN, NOTE_EBADSIG},
	    {"signature changed", "witness.example/w1", 40, 0x10, COSIG_BLOB_LEN, NOTE_EBADSIG},
	    {"timestamp over 2^63 - 1", "witness.example/w1", 4, 0x80, COSIG_BLOB_LEN,
	     NOTE_EMALFORMED},
	    {"a plain note signature by the cosigner", "witness.example/w1", -1, 0, 4 + SIG_LEN,
	     NOTE_EMALFORMED},
	    {"one byte short", "witness.example/w1", -1, 0, COSIG_BLOB_LEN - 1, NOTE_EMALFORMED},
	    {"another key id: ignored", "witness.example/w1", 0, 0x01, COSIG_BLOB_LEN,
	     NOTE_EUNVERIFIED},
	    {"another name: ignored", "witness.example/w2", -1, 0, COSIG_BLOB_LEN,
	     NOTE_EUNVERIFIED},
	    {"an unknown key of another algorithm: ignored", "x.example/k", -1, 0, 5,
	     NOTE_EUNVERIFIED},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t b[COSIG_BLOB_LEN];
		char *l;
		int rc;

		memcpy(b, blob, sizeof(b));
		if (rows[i].byte >= 0)
			b[rows[i].byte] ^= (uint8_t)rows[i].bit;
		l = line_of(rows[i].name, b, rows[i].len);
		rc = l ? cosig_verify_str(cv, py_text, l, &ts) : -99;
		CHECK(rc == rows[i].want, "%s: %s", rows[i].why, note_strerror(rc));
		free(l);
	}
	CHECK(cosig_verify_str(cv, py_text, "", &ts) == NOTE_EMALFORMED, "no line");
	CHECK(cosig_verify_str(cv, py_text, "\xe2\x80\x94 witness.example/w1 " CS_SIG, &ts) ==
	          NOTE_EMALFORMED,
	      "a line without its newline");
	CHECK(cosig_verify_str(cv, py_text, "- witness.example/w1 " CS_SIG "\n", &ts) ==
	          NOTE_EMALFORMED,
	      "a line without the em dash");
done:
	free(line);
	note_signer_free(cs);
	note_signer_free(ls);
	note_verifier_free(cv);
}

/* A note with the log's signature and several cosignatures, and the bound on their number. */
static void
test_cosig_several(void)
{
	struct note_signer *c1 = note_cosigner_new("witness.example/w1", cs_pem, strlen(cs_pem));
	char *pem = ed25519_pem(NULL), *pem3 = ed25519_pem(NULL);
	struct note_signer *c2 =
	    pem ? note_cosigner_new("witness.example/w2", pem, strlen(pem)) : NULL;
	struct note_signer *c3 =
	    pem3 ? note_cosigner_new("unknown.example/w", pem3, strlen(pem3)) : NULL;
	struct note_verifier *known[2] = {NULL, NULL};
	char *l1 = NULL, *l2 = NULL, *l3 = NULL, *vk = NULL, *buf = NULL;
	struct note_checkpoint cp;
	struct note_cosig found[2];
	size_t len, n = 0;

	if (c1 == NULL || c2 == NULL || c3 == NULL || (vk = note_signer_vkey(c2)) == NULL ||
	    (known[1] = note_cosigner_verifier_new(vk, strlen(vk))) == NULL ||
	    (known[0] = note_cosigner_verifier_new(cs_vkey, strlen(cs_vkey))) == NULL ||
	    note_cosign(c1, py_text, strlen(py_text), 100, &l1, &len) != NOTE_OK ||
	    note_cosign(c2, py_text, strlen(py_text), 200, &l2, &len) != NOTE_OK ||
	    note_cosign(c3, py_text, strlen(py_text), 300, &l3, &len) != NOTE_OK ||
	    (buf = malloc(NOTE_MAX_SIZE)) == NULL) {
		CHECK(0, "several-cosigner fixtures");
		goto done;
	}
	snprintf(buf, NOTE_MAX_SIZE, "%s%s%s%s", py_note, l3, l2, l1);
	CHECK(note_cosig_check(buf, strlen(buf), known, 2, &cp, found, &n) == NOTE_OK && n == 2 &&
	          found[0].valid && found[0].time == 100 && found[1].valid && found[1].time == 200,
	      "two known cosigners among three, n=%zu", n);
	snprintf(buf, NOTE_MAX_SIZE, "%s%s%s", py_note, l3, l2);
	CHECK(note_cosig_check(buf, strlen(buf), known, 2, &cp, found, &n) == NOTE_OK && n == 1 &&
	          !found[0].valid && found[1].valid,
	      "one of two");
	/* a bad line by a known cosigner spoils the note, even beside a good one */
	snprintf(buf, NOTE_MAX_SIZE, "%s%s%s", py_note, l1, l2);
	buf[strlen(buf) - 10] ^= 0x01;
	CHECK(note_cosig_check(buf, strlen(buf), known, 2, &cp, found, &n) != NOTE_OK && n == 0 &&
	          !found[0].valid,
	      "a bad cosignature beside a good one");
	/* NOTE_MAX_SIGS lines are read, one more is refused */
	{
		size_t at = (size_t)snprintf(buf, NOTE_MAX_SIZE, "%s", py_note);

		for (size_t i = 1; i < NOTE_MAX_SIGS; i++)
			at += (size_t)snprintf(buf + at, NOTE_MAX_SIZE - at, "%s", l3);
		CHECK(note_cosig_check(buf, at, known, 2, &cp, found, &n) == NOTE_OK && n == 0,
		      "NOTE_MAX_SIGS lines");
		snprintf(buf + at, NOTE_MAX_SIZE - at, "%s", l1);
		CHECK(note_cosig_check(buf, strlen(buf), known, 2, &cp, found, &n) ==
		          NOTE_EMALFORMED,
		      "NOTE_MAX_SIGS + 1 lines");
	}
	CHECK(note_cosig_check(py_text, strlen(py_text), known, 2, &cp, found, &n) ==
	          NOTE_EMALFORMED,
	      "a checkpoint without signature lines");
done:
	free(pem);
	free(pem3);
	free(vk);
	free(l1);
	free(l2);
	free(l3);
	free(buf);
	note_signer_free(c1);
	note_signer_free(c2);
	note_signer_free(c3);
	note_verifier_free(known[0]);
	note_verifier_free(known[1]);
}

/* An independent check of cosignature/v1 by hand with `cryptography`: prints the timestamp, or
 * raises (exit 1) on a wrong key id or a bad signature. */
static const char py_cosig_verify[] =
    "import sys, base64, hashlib\n"
    "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey\n"
    "name, kid, key = open(sys.argv[1]).read().strip().split('+', 2)\n"
    "raw = base64.b64decode(key, validate=True)\n"
    "assert raw[0] == 4 and len(raw) == 33\n"
    "assert hashlib.sha256(name.encode() + b'\\n' + raw).digest()[:4].hex() == kid\n"
    "note = open(sys.argv[2], 'rb').read()\n"
    "i = note.rindex(b'\\n\\n')\n"
    "n, sig = note[i + 2:].decode().rstrip('\\n')[2:].split(' ')\n"
    "sig = base64.b64decode(sig, validate=True)\n"
    "assert n == name and sig[:4].hex() == kid and len(sig) == 76\n"
    "ts = int.from_bytes(sig[4:12], 'big')\n"
    "msg = b'cosignature/v1\\ntime %d\\n' % ts + note[:i + 1]\n"
    "Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[12:], msg)\n"
    "print(ts)\n";

static void
test_cosig_python_live(void)
{
	char *pem = ed25519_pem(NULL), *vkey = NULL, *line = NULL, *note = NULL, got[64];
	struct note_signer *cs =
	    pem ? note_cosigner_new("witness.example/live", pem, strlen(pem)) : NULL;
	const char *body =
	    "pdgate.local/demo\n3\nOE9qZ4iUS5SdHW0vUyjIIZW9dBWwWnXvK4Gqm8CaISk=\nx\n";
	size_t len;

	if (cs == NULL || (vkey = note_signer_vkey(cs)) == NULL ||
	    note_cosign(cs, body, strlen(body), 1764720000, &line, &len) != NOTE_OK ||
	    (note = malloc(strlen(body) + 1 + len + 1)) == NULL) {
		CHECK(0, "live cosig fixtures");
		goto done;
	}
	sprintf(note, "%s\n%s", body, line);
	python_run(py_cosig_verify, vkey, note, strlen(note), got, sizeof(got));
	CHECK(strcmp(got, "1764720000") == 0, "Python does not verify C's cosignature: '%s'", got);
	note[1] ^= 1;
	python_run(py_cosig_verify, vkey, note, strlen(note), got, sizeof(got));
	CHECK(strcmp(got, "") == 0, "Python accepts a cosignature of another body: '%s'", got);
done:
	free(pem);
	free(vkey);
	free(line);
	free(note);
	note_signer_free(cs);
}

int
main(void)
{
	test_python_vector();
	test_go_vector();
	test_c2sp_examples();
	test_round_trip();
	test_malformed();
	test_sign_refusals();
	test_keys();
	test_checkpoints();
	test_python_live();
	test_cosig_vector();
	test_cosig_refusals();
	test_cosig_several();
	test_cosig_python_live();
	return check_done();
}
