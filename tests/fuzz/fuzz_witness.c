/* fuzz_witness — the add-checkpoint body (c2sp.org/tlog-witness) on hostile input.
 *
 * Input: the whole request body, decided by a witness following one log (the Python-made key of
 * tests/unit/test_note.c) whose state is an SQLite database in memory, made once per process:
 * libFuzzer leaves no other place for it than file-scope variables. Whatever comes in, the
 * answer is one of the protocol's statuses, a cosignature only with 200, and the state never
 * goes back.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "witness.h"

static const char cosigner_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIPA8hoUMQk9vJpoiw6trHAIXhNIF9IHLNJ8ITY4zDdeV\n"
    "-----END PRIVATE KEY-----\n";
static const char log_vkey[] =
    "pdgate.local/test+24ac354d+AXmof8nN527lyZPO6e7j8ipEZenaG9389jwSdvgWK42Q";

static struct witness *w;
static uint64_t last_size;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct note_signer *s;
	struct note_verifier **logs = calloc(1, sizeof(*logs));
	char err[256];

	(void)argc;
	(void)argv;
	s = note_cosigner_new("witness.example/w1", cosigner_pem, strlen(cosigner_pem));
	if (logs == NULL || s == NULL ||
	    (logs[0] = note_verifier_new(log_vkey, strlen(log_vkey))) == NULL)
		abort();
	if ((w = witness_open(":memory:", s, logs, 1, err, sizeof(err))) == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct witness_answer a;
	uint8_t root[32];
	uint64_t now_size;
	char *copy = malloc(size ? size : 1);

	if (copy == NULL)
		return 0;
	/* A private copy: the parser must not read past it (ASan watches the heap block). */
	memcpy(copy, data, size);
	if (witness_add_checkpoint(w, copy, size, 1764720000, &a) == 0) {
		assert(a.status == 200 || a.status == 400 || a.status == 403 || a.status == 404 ||
		       a.status == 409 || a.status == 422);
		assert(a.body != NULL && a.ctype != NULL);
		assert((a.status == 200) ==
		       (a.body_len >= 4 && memcmp(a.body, "\xe2\x80\x94 ", 4) == 0));
		free(a.body);
	}
	assert(witness_state(w, "pdgate.local/test", &now_size, root) >= 0);
	assert(now_size >= last_size);
	last_size = now_size;
	free(copy);
	return 0;
}
