/* fuzz_witness_answer — what a witness answers add-checkpoint, as the gateway reads it.
 *
 * Input: first byte even → the rest is a 200 answer (signature lines) for a fixed checkpoint,
 *                          read with witness_client_answer against the cosigner of
 *                          tests/unit/test_note.c (witness.example/w1);
 *        first byte odd  → the rest is a 409 text/x.tlog.size body (witness_client_size).
 * Whatever the bytes, a line it keeps lies inside the answer, ends in "\n", and verifies.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "witness_client.h"

static const char pem[] = "-----BEGIN PRIVATE KEY-----\n"
                          "MC4CAQAwBQYDK2VwBCIEIPA8hoUMQk9vJpoiw6trHAIXhNIF9IHLNJ8ITY4zDdeV\n"
                          "-----END PRIVATE KEY-----\n";
/* The checkpoint the seeds' cosignatures are over. */
static const char body[] = "pdgate.local/test\n3\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n";

static struct note_verifier *v;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct note_signer *s = note_cosigner_new("witness.example/w1", pem, strlen(pem));
	char *vkey = s != NULL ? note_signer_vkey(s) : NULL;

	(void)argc;
	(void)argv;
	v = vkey != NULL ? note_cosigner_verifier_new(vkey, strlen(vkey)) : NULL;
	free(vkey);
	note_signer_free(s);
	if (v == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	if (data[0] % 2 == 1) {
		uint64_t n;
		if (witness_client_size(in, len, &n) == 0 && (len < 2 || in[len - 1] != '\n'))
			abort();
		return 0;
	}
	size_t off = 0, ll = 0;
	uint64_t ts = 0, ts2 = 0;
	if (witness_client_answer(v, body, strlen(body), in, len, &off, &ll, &ts) == 0) {
		if (off + ll > len || ll == 0 || in[off + ll - 1] != '\n' ||
		    note_cosig_verify(v, body, strlen(body), in + off, ll, &ts2) != NOTE_OK ||
		    ts2 != ts)
			abort();
	}
	return 0;
}
