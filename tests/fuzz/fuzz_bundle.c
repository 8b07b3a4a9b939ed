/* fuzz_bundle — a proof bundle (pdgate ledger prove, a partner's receipt) as check-proof reads it.
 *
 * Input: the bundle file's bytes. It is parsed as check-proof parses it (jansson, duplicates
 * refused), checked with the verifier key of the ledger whose receipt seeds the corpus, and its
 * checkpoint's cosignatures counted against two witnesses with a quorum of two. Whatever the
 * input: no crash, no leak, no undefined behaviour; a bundle accepted must carry a checkpoint
 * that opens with the key and names the bundle's size.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_cmd.c" /* check_bundle is static */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char vkey[] =
    "pdgate.local/demo+2d2c063c+AaUbBMz1lIwH4yTzqvVGOTHI2q4Z3uj0ll/jXs3BVCbR";
static const char *const witnesses[] = {
    "witness.example/w1+285c20a7+BLmqR7/fcvQ3eIsV3fmMi6GQa9v8kEddR7fPx6DKRzCE",
    "witness.example/py+c0689164+BN3R57mVr/MPp+0d/bRd1xsoSY8Zd0lq6W+D5miK6ZGG",
};

static struct cli c = {.cmd = "check-proof"};

static void
setup(void)
{
	char err[256];

	c.verifier = note_verifier_new(vkey, strlen(vkey));
	assert(c.verifier != NULL);
	for (size_t i = 0; i < sizeof(witnesses) / sizeof(witnesses[0]); i++)
		if (ledger_quorum_add(&c.quorum, witnesses[i], err, sizeof(err)) != 0)
			abort();
	c.quorum.quorum = 2;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	json_error_t jerr;
	json_t *b;
	size_t n_valid = 0;
	char err[512];

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size > BUNDLE_MAX_BYTES)
		return 0;
	b = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (b == NULL)
		return 0;
	if (json_is_object(b) && check_bundle(&c, b) == 0) {
		json_t *note = json_object_get(b, "checkpoint");
		struct note_checkpoint cp;
		assert(note_checkpoint_open(json_string_value(note), json_string_length(note),
		                            &c.verifier, 1, &cp) == NOTE_OK);
		assert(cp.size == (uint64_t)json_integer_value(json_object_get(b, "size")));
		(void)ledger_quorum_check(&c.quorum, json_string_value(note),
		                          json_string_length(note), &n_valid, err, sizeof(err));
		assert(n_valid <= 2);
	}
	json_decref(b);
	return 0;
}
