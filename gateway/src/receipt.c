/* receipt — what the ledger hands to outsiders: the proof bundle of one entry, its checkpoint
 * with the witnesses' cosignatures. */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ledger_cosig.h"
#include "ledger_read.h"
#include "receipt.h"

static int
copy_leaf(void *arg, uint64_t index, const char *leaf, size_t len)
{
	char **out = arg;

	(void)index;
	return (*out = strndup(leaf, len)) == NULL;
}

/* Sets key to v (stolen, NULL: out of memory). 0 or -1. */
static int
put(json_t *o, const char *key, json_t *v)
{
	return v == NULL ? -1 : json_object_set_new(o, key, v);
}

static json_t *
b64_hash(const uint8_t h[MERKLE_HASH_LEN])
{
	char s[CODEC_B64_LEN(MERKLE_HASH_LEN) + 1];

	codec_b64_encode(h, MERKLE_HASH_LEN, s);
	return json_string(s);
}

int
receipt_bundle(struct ledger *l, uint64_t index, uint64_t size, const char *vkey, json_t **out,
               uint64_t *cp_size)
{
	uint8_t hash[MERKLE_HASH_LEN], proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	char *note = NULL, *leaf = NULL, *nl;
	json_t *b = NULL, *arr = NULL;
	size_t len, np = 0;
	int rc;

	*out = NULL;
	*cp_size = 0;
	if ((rc = ledger_cosigned_checkpoint(l, size, &note, &len, cp_size)) != 0)
		return rc;
	rc = LEDGER_ERANGE;
	if (index >= *cp_size)
		goto done;
	if ((rc = ledger_inclusion(l, index, *cp_size, hash, proof, &np)) != 0)
		goto done;
	rc = ledger_leaves(l, index, index + 1, copy_leaf, &leaf);
	if (rc == LEDGER_EINVAL || (rc == 0 && leaf == NULL))
		rc = LEDGER_ENOMEM; /* copy_leaf refused: strndup failed */
	if (rc != 0)
		goto done;
	rc = LEDGER_ENOMEM;
	if ((b = json_object()) == NULL || (arr = json_array()) == NULL)
		goto done;
	for (size_t i = 0; i < np; i++)
		if (json_array_append_new(arr, b64_hash(proof[i])) != 0)
			goto done;
	nl = strchr(note, '\n'); /* a stored note is a checkpoint: its origin line ends in \n */
	if (nl == NULL || put(b, "origin", json_stringn(note, (size_t)(nl - note))) != 0 ||
	    put(b, "index", json_integer((json_int_t)index)) != 0 ||
	    put(b, "size", json_integer((json_int_t)*cp_size)) != 0 ||
	    put(b, "leaf", json_string(leaf)) != 0 || put(b, "leaf_hash", b64_hash(hash)) != 0 ||
	    json_object_set(b, "proof", arr) != 0 ||
	    put(b, "checkpoint", json_stringn(note, len)) != 0 ||
	    (vkey != NULL && put(b, "vkey", json_string(vkey)) != 0))
		goto done;
	*out = b;
	b = NULL;
	rc = 0;
done:
	json_decref(arr);
	json_decref(b);
	free(leaf);
	free(note);
	return rc;
}
