/* fuzz_cosig — cosignature/v1 lines and notes carrying several of them, on hostile input.
 *
 * Input: first byte even → the rest is a whole note, checked against two fixed cosigners (one of
 *                          them the harness's) and opened as the log's checkpoint; its signed
 *                          text, when a checkpoint, is cosigned and the line checked back.
 *        first byte odd  → the rest is "body\n\nlines": the lines are checked as a witness's
 *                          answer for the body.
 * The keys are made once per process: libFuzzer leaves no other place for them than file-scope
 * variables.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "note.c" /* note_checkpoint_parse is static */

/* The cosigner of tests/unit/test_note.c (witness.example/w1) and a second one. */
static const char pem[] = "-----BEGIN PRIVATE KEY-----\n"
                          "MC4CAQAwBQYDK2VwBCIEIPA8hoUMQk9vJpoiw6trHAIXhNIF9IHLNJ8ITY4zDdeV\n"
                          "-----END PRIVATE KEY-----\n";
static const char pem2[] = "-----BEGIN PRIVATE KEY-----\n"
                           "MC4CAQAwBQYDK2VwBCIEILoXCSKY+jwDvl1RSN+mpJ8aZ6B9kNGJOL5IO+5guu4U\n"
                           "-----END PRIVATE KEY-----\n";
/* The log key of tests/unit/test_note.c's Python vector. */
static const char log_vkey[] =
    "pdgate.local/test+24ac354d+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q";

static struct note_signer *cosigner;
static struct note_verifier *known[2], *log_key;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct note_signer *s2 = note_cosigner_new("witness.example/w2", pem2, strlen(pem2));
	char *vkey, *vkey2;

	(void)argc;
	(void)argv;
	cosigner = note_cosigner_new("witness.example/w1", pem, strlen(pem));
	vkey = cosigner ? note_signer_vkey(cosigner) : NULL;
	vkey2 = s2 ? note_signer_vkey(s2) : NULL;
	known[0] = vkey ? note_cosigner_verifier_new(vkey, strlen(vkey)) : NULL;
	known[1] = vkey2 ? note_cosigner_verifier_new(vkey2, strlen(vkey2)) : NULL;
	log_key = note_verifier_new(log_vkey, strlen(log_vkey));
	free(vkey);
	free(vkey2);
	note_signer_free(s2);
	if (cosigner == NULL || known[0] == NULL || known[1] == NULL || log_key == NULL)
		abort();
	return 0;
}

static void
whole_note(const char *msg, size_t len)
{
	struct note_checkpoint cp, lcp;
	struct note_cosig found[2];
	size_t n = 99, tl, llen;
	char *line = NULL;
	uint64_t ts;
	int rc = note_cosig_check(msg, len, known, 2, &cp, found, &n);

	if (rc == NOTE_OK) {
		assert(n <= 2 && n == (size_t)(found[0].valid + found[1].valid));
		for (int k = 0; k < 2; k++)
			assert(found[k].valid || found[k].time == 0);
	} else {
		assert(n == 0 && !found[0].valid && !found[1].valid);
	}
	/* The log and the cosigners read the same checkpoint out of one note. */
	if (rc == NOTE_OK && note_checkpoint_open(msg, len, &log_key, 1, &lcp) == NOTE_OK)
		assert(lcp.size == cp.size && memcmp(lcp.root, cp.root, NOTE_ROOT_LEN) == 0 &&
		       lcp.origin == cp.origin && lcp.origin_len == cp.origin_len);
	tl = note_text_len(msg, len);
	if (tl == 0 || note_cosign(cosigner, msg, tl, 1764720000, &line, &llen) != NOTE_OK)
		return;
	/* What the cosigner signs, the cosigner's verifier accepts, with its time. */
	assert(note_cosig_verify(known[0], msg, tl, line, llen, &ts) == NOTE_OK &&
	       ts == 1764720000);
	assert(note_cosig_verify(known[1], msg, tl, line, llen, &ts) == NOTE_EUNVERIFIED);
	free(line);
}

static void
answer_lines(const char *msg, size_t len)
{
	size_t tl = note_text_len(msg, len);
	uint64_t ts = 7;
	int rc;

	if (tl == 0)
		return;
	rc = note_cosig_verify(known[0], msg, tl, msg + tl + 1, len - tl - 1, &ts);
	assert(rc == NOTE_OK || ts == 0);
	if (rc == NOTE_OK)
		assert(ts <= INT64_MAX);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;

	if (size == 0)
		return 0;
	/* A private copy: the parsers must not read past it (ASan watches the heap block). */
	if ((copy = malloc(size - 1 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		answer_lines(copy, size - 1);
	else
		whole_note(copy, size - 1);
	free(copy);
	return 0;
}
