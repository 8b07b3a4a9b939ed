/* fuzz_note — signed-note and checkpoint parsing and verification on hostile input.
 *
 * Input: first byte even → the rest is a whole note, verified against two fixed keys (one of
 *                          them the harness's signer), and parsed as checkpoint text and vkey.
 *        first byte odd  → the rest is note text: the harness signs it, so that verification
 *                          succeeds and the checkpoint parser behind the signature is reached.
 * The keys are made once per process: libFuzzer leaves no other place for them than file-scope
 * variables.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "note.c" /* verify_note and note_checkpoint_parse are static */

/* The test key of tests/unit/test_note.c (pdgate.local/test). */
static const char pem[] = "-----BEGIN PRIVATE KEY-----\n"
                          "MC4CAQAwBQYDK2VwBCIEILoXCSKY+jwDvl1RSN+mpJ8aZ6B9kNGJOL5IO+5guu4U\n"
                          "-----END PRIVATE KEY-----\n";
static const char go_vkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

static struct note_signer *signer;
static struct note_verifier *known[2];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *vkey;

	(void)argc;
	(void)argv;
	signer = note_signer_new("pdgate.local/test", pem, strlen(pem));
	vkey = signer ? note_signer_vkey(signer) : NULL;
	known[0] = vkey ? note_verifier_new(vkey, strlen(vkey)) : NULL;
	known[1] = note_verifier_new(go_vkey, strlen(go_vkey));
	free(vkey);
	if (signer == NULL || known[0] == NULL || known[1] == NULL)
		abort();
	return 0;
}

/* A parsed checkpoint must format back to text that parses to the same values. */
static void
check_checkpoint(const struct note_checkpoint *cp)
{
	struct note_checkpoint again;
	char *origin = malloc(cp->origin_len + 1), *text = NULL;
	size_t len;

	if (origin == NULL)
		return;
	memcpy(origin, cp->origin, cp->origin_len);
	origin[cp->origin_len] = '\0';
	if (note_checkpoint_format(origin, cp->size, cp->root, &text, &len) == NOTE_OK) {
		assert(note_checkpoint_parse(text, len, &again) == NOTE_OK);
		assert(again.size == cp->size && again.origin_len == cp->origin_len &&
		       memcmp(again.origin, cp->origin, cp->origin_len) == 0 &&
		       memcmp(again.root, cp->root, NOTE_ROOT_LEN) == 0);
	} else {
		/* parsing refuses control characters: only a huge origin is not formatted */
		assert(cp->origin_len > NOTE_MAX_SIZE / 2);
	}
	free(text);
	free(origin);
}

static void
whole_note(const char *msg, size_t len)
{
	struct note_checkpoint cp;
	struct note_verifier *v;
	size_t tl;
	int rc = verify_note(msg, len, known, 2, &tl, NULL);

	if (rc == NOTE_OK) {
		assert(tl > 0 && tl < len && msg[tl - 1] == '\n' && msg[tl] == '\n');
	}
	if (note_checkpoint_open(msg, len, known, 2, &cp) == NOTE_OK) {
		assert(rc == NOTE_OK);
		check_checkpoint(&cp);
	}
	if (note_checkpoint_parse(msg, len, &cp) == NOTE_OK)
		check_checkpoint(&cp);
	if ((v = note_verifier_new(msg, len)) != NULL) {
		assert(strlen(note_verifier_name(v)) > 0);
		note_verifier_free(v);
	}
}

static void
signed_text(const char *text, size_t len)
{
	char *note = NULL;
	size_t nlen, tl;

	if (note_sign(signer, text, len, &note, &nlen) != NOTE_OK)
		return;
	/* What pdgate signs, pdgate accepts, with the text intact. */
	assert(verify_note(note, nlen, known, 2, &tl, NULL) == NOTE_OK && tl == len &&
	       memcmp(note, text, len) == 0);
	whole_note(note, nlen);
	free(note);
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
		signed_text(copy, size - 1);
	else
		whole_note(copy, size - 1);
	free(copy);
	return 0;
}
