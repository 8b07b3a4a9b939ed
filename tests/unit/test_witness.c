/* test_witness — the add-checkpoint decision: each status, the state after it, persistence. */
#include "check.h"
#include "merkle.h"
#include "note.h"
#include "witness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"

/* The log key and the cosigner key of tests/unit/test_note.c (both made with Python there). */
static const char log_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MC4CAQAwBQYDK2VwBCIEILoXCSKY+jwDvl1RSN+mpJ8aZ6B9kNGJOL5IO+5guu4U\n"
                              "-----END PRIVATE KEY-----\n";
static const char cs_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                             "MC4CAQAwBQYDK2VwBCIEIPA8hoUMQk9vJpoiw6trHAIXhNIF9IHLNJ8ITY4zDdeV\n"
                             "-----END PRIVATE KEY-----\n";
#define ORIGIN "pdgate.local/test"
#define NOW 1764720000

static struct merkle_mem *tree;
static struct note_signer *log_key;

/* The signed checkpoint of the first size leaves. Caller frees. */
static char *
checkpoint(uint64_t size)
{
	struct merkle_store st = merkle_mem_store(tree);
	uint8_t root[32];
	char *text = NULL, *note = NULL;
	size_t len, nlen;

	if (merkle_root(&st, size, root) == 0 &&
	    note_checkpoint_format(ORIGIN, size, root, &text, &len) == 0)
		note_sign(log_key, text, len, &note, &nlen);
	free(text);
	return note;
}

/* "old N", the proof from old to size (flip: one hash changed), a blank line, the note. */
static char *
request(uint64_t old, uint64_t size, const char *note, int flip)
{
	struct merkle_store st = merkle_mem_store(tree);
	uint8_t proof[MERKLE_MAX_PROOF][32];
	size_t n = 0, at;
	char *out = malloc(64 * 64 + strlen(note) + 64);

	if (out == NULL)
		return NULL;
	at = (size_t)sprintf(out, "old %" PRIu64 "\n", old);
	if (old > 0 && old <= size && merkle_consistency_proof(&st, old, size, proof, 65, &n) != 0)
		n = 0;
	if (flip && n > 0)
		proof[0][0] ^= 1;
	for (size_t i = 0; i < n; i++) {
		at += codec_b64_encode(proof[i], 32, out + at);
		out[at++] = '\n';
	}
	sprintf(out + at, "\n%s", note);
	return out;
}

static int
submit(struct witness *w, const char *req, struct witness_answer *a)
{
	int rc = witness_add_checkpoint(w, req, strlen(req), NOW, a);

	return rc == 0 ? a->status : -1;
}

static uint64_t
state(struct witness *w)
{
	uint8_t root[32];
	uint64_t size = 99;

	CHECK(witness_state(w, ORIGIN, &size, root) >= 0, "state readable");
	return size;
}

static struct witness *
open_witness(const char *path, const char *extra_vkey)
{
	struct note_signer *cs = note_cosigner_new("witness.example/w1", cs_pem, strlen(cs_pem));
	struct note_verifier **logs = calloc(2, sizeof(*logs));
	char *vkey = note_signer_vkey(log_key), err[256] = "";
	size_t n = 1;
	struct witness *w;

	logs[0] = note_verifier_new(vkey, strlen(vkey));
	if (extra_vkey != NULL)
		logs[n++] = note_verifier_new(extra_vkey, strlen(extra_vkey));
	free(vkey);
	w = witness_open(path, cs, logs, n, err, sizeof(err));
	if (extra_vkey == NULL)
		CHECK(w != NULL, "witness_open: %s", err);
	return w;
}

int
main(void)
{
	char path[] = "/tmp/pdgate-witness-XXXXXX", db[64];
	struct witness *w;
	struct witness_answer a;
	struct note_signer *other;
	char *cp3, *cp7, *cp10, *req, *forged, *vkey;
	uint8_t leaf[32];
	uint64_t ts;

	log_key = note_signer_new(ORIGIN, log_pem, strlen(log_pem));
	other = note_signer_new(ORIGIN, cs_pem, strlen(cs_pem)); /* another key of the same name */
	tree = merkle_mem_new();
	if (log_key == NULL || other == NULL || tree == NULL || mkdtemp(path) == NULL)
		return 1;
	for (int i = 0; i < 10; i++) {
		merkle_leaf_hash(&i, sizeof(i), leaf);
		merkle_mem_append(tree, leaf);
	}
	snprintf(db, sizeof(db), "%s/witness.db", path);
	cp3 = checkpoint(3), cp7 = checkpoint(7), cp10 = checkpoint(10);
	if ((w = open_witness(db, NULL)) == NULL || !cp3 || !cp7 || !cp10)
		return 1;

	/* the first checkpoint, trusted on first sight; its cosignature checks out */
	req = request(0, 3, cp3, 0);
	CHECK(submit(w, req, &a) == 200 && state(w) == 3, "first checkpoint");
	{
		struct note_signer *cs =
		    note_cosigner_new("witness.example/w1", cs_pem, strlen(cs_pem));
		char *cvk = note_signer_vkey(cs);
		struct note_verifier *cv = note_cosigner_verifier_new(cvk, strlen(cvk));
		size_t tl = note_text_len(cp3, strlen(cp3));

		CHECK(note_cosig_verify(cv, cp3, tl, a.body, a.body_len, &ts) == NOTE_OK &&
		          ts == NOW,
		      "the answer is a cosignature of the checkpoint at now: %s", a.body);
		note_verifier_free(cv);
		free(cvk);
		note_signer_free(cs);
	}
	free(a.body);
	free(req);

	struct {
		const char *why;
		uint64_t old, size;
		const char *note;
		int flip, status;
		const char *body; /* expected answer, or NULL */
		uint64_t after;
	} rows[] = {
	    {"old 0 once 3 is known", 0, 7, NULL, 0, 409, "3\n", 3},
	    {"a stale old size", 2, 7, NULL, 0, 409, "3\n", 3},
	    {"a wrong proof", 3, 7, NULL, 1, 422, NULL, 3},
	    {"old above the size", 8, 7, NULL, 0, 400, NULL, 3},
	    {"3 to 7", 3, 7, NULL, 0, 200, NULL, 7},
	    {"7 again: cosigned, unchanged", 7, 7, NULL, 0, 200, NULL, 7},
	    {"7 to 10", 7, 10, NULL, 0, 200, NULL, 10},
	    {"back to 7 from 10", 10, 7, NULL, 0, 400, NULL, 10},
	};
	const char *notes[11] = {[7] = cp7, [10] = cp10};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int st;

		req = request(rows[i].old, rows[i].size, notes[rows[i].size], rows[i].flip);
		st = req ? submit(w, req, &a) : -1;
		CHECK(st == rows[i].status, "%s: %d %s", rows[i].why, st, st > 0 ? a.body : "");
		if (rows[i].body != NULL && st > 0)
			CHECK(strcmp(a.body, rows[i].body) == 0 &&
			          strcmp(a.ctype, "text/x.tlog.size") == 0,
			      "%s: %s", rows[i].why, a.body);
		CHECK(state(w) == rows[i].after, "%s: state %" PRIu64, rows[i].why, state(w));
		if (st > 0)
			free(a.body);
		free(req);
	}

	/* refusals of the body and of the note: the state stays at 10 */
	{
		char *text = NULL, *body64 = malloc(64 * 50 + 64), *big;
		size_t len, at = 0, nl;
		uint8_t root[32] = {0};
		struct merkle_store st = merkle_mem_store(tree);

		merkle_root(&st, 10, root);
		note_checkpoint_format(ORIGIN, 10, root, &text, &len);
		note_sign(other, text, len, &forged, &nl);
		req = request(10, 10, forged, 0);
		CHECK(submit(w, req, &a) == 403, "signed by another key of the name");
		free(a.body);
		free(req);
		req = request(10, 10, text, 0);
		CHECK(submit(w, req, &a) == 400, "a note without signature");
		free(a.body);
		free(req);
		free(forged);
		free(text);
		note_checkpoint_format("other.example/log", 10, root, &text, &len);
		note_sign(other, text, len, &forged, &nl);
		req = request(10, 10, forged, 0);
		CHECK(submit(w, req, &a) == 404, "an unknown origin");
		free(a.body);
		free(req);
		free(forged);
		free(text);
		at = (size_t)sprintf(body64, "old 7\n");
		for (int i = 0; i < 64; i++)
			at += (size_t)sprintf(body64 + at,
			                      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
		req = malloc(at + strlen(cp10) + 2);
		sprintf(req, "%s\n%s", body64, cp10);
		CHECK(submit(w, req, &a) == 400, "64 proof lines");
		free(a.body);
		free(req);
		free(body64);
		CHECK(submit(w, "old 010\n\n", &a) == 400, "a leading zero");
		free(a.body);
		CHECK(submit(w, "old 10\n", &a) == 400, "no blank line");
		free(a.body);
		big = malloc(WITNESS_MAX_BODY + 2);
		memset(big, 'x', WITNESS_MAX_BODY + 1);
		big[WITNESS_MAX_BODY + 1] = '\0';
		CHECK(submit(w, big, &a) == 400, "a body over the bound");
		free(a.body);
		free(big);
		CHECK(state(w) == 10, "the refusals changed nothing");
	}

	/* the state is on disk: a witness opened again knows 10 */
	witness_free(w);
	w = open_witness(db, NULL);
	CHECK(w != NULL && state(w) == 10, "state after reopening");
	witness_free(w);
	/* the same log twice is refused */
	vkey = note_signer_vkey(log_key);
	CHECK(open_witness(db, vkey) == NULL, "a log listed twice");
	free(vkey);

	free(cp3);
	free(cp7);
	free(cp10);
	note_signer_free(log_key);
	note_signer_free(other);
	merkle_mem_free(tree);
	unlink(db);
	snprintf(db, sizeof(db), "%s/witness.db-wal", path);
	unlink(db);
	snprintf(db, sizeof(db), "%s/witness.db-shm", path);
	unlink(db);
	rmdir(path);
	return check_done();
}
