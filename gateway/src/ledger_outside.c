/* ledger_outside — the ledger against a checkpoint kept outside it, and a note's cosignatures. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "file.h"
#include "ledger_outside.h"
#include "ledger_err.h"
#include "ledger_read.h"

/* A verifier key line read from a file. */
#define VKEY_MAX_BYTES 4096

int
ledger_quorum_add(struct ledger_quorum *q, const char *arg, char *err, size_t errlen)
{
	struct note_verifier *v;
	char *text = NULL;
	size_t len;

	if (q->n == LEDGER_OUTSIDE_MAX_WITNESSES) {
		snprintf(err, errlen, "more than %d witnesses", LEDGER_OUTSIDE_MAX_WITNESSES);
		return -1;
	}
	/* A path that exists is a file: its reading errors are the file's, not the key's. */
	if (access(arg, F_OK) == 0) {
		if ((text = file_read(arg, VKEY_MAX_BYTES, FILE_READ_NONEMPTY, &len, err,
		                      errlen)) == NULL)
			return -1;
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
			text[--len] = '\0';
		v = note_cosigner_verifier_new(text, len);
	} else {
		v = note_cosigner_verifier_new(arg, strlen(arg));
	}
	free(text);
	if (v == NULL) {
		snprintf(
		    err, errlen,
		    "%s: not a witness's verifier key (NAME+ID+KEY, signature type 0x04), nor a "
		    "file holding one",
		    arg);
		return -1;
	}
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(note_verifier_name(q->keys[i]), note_verifier_name(v)) == 0) {
			snprintf(err, errlen, "witness %s given twice", note_verifier_name(v));
			note_verifier_free(v);
			return -1;
		}
	q->keys[q->n++] = v;
	return 0;
}

void
ledger_quorum_clear(struct ledger_quorum *q)
{
	for (size_t i = 0; i < q->n; i++)
		note_verifier_free(q->keys[i]);
	q->n = 0;
}

int
ledger_quorum_check(const struct ledger_quorum *q, const char *msg, size_t len, size_t *n_valid,
                    char *err, size_t errlen)
{
	struct note_cosig found[LEDGER_OUTSIDE_MAX_WITNESSES];
	struct note_checkpoint cp;
	size_t need = q->quorum ? q->quorum : q->n, at;
	int r;

	*n_valid = 0;
	if ((r = note_cosig_check(msg, len, q->keys, q->n, &cp, found, n_valid)) != NOTE_OK) {
		snprintf(err, errlen, "the checkpoint's cosignatures: %s", note_strerror(r));
		return -1;
	}
	if (*n_valid >= need)
		return 0;
	at = (size_t)snprintf(err, errlen,
	                      "the checkpoint carries %zu valid cosignatures of the %zu required; "
	                      "not cosigned by:",
	                      *n_valid, need);
	for (size_t i = 0; i < q->n && at < errlen; i++)
		if (!found[i].valid)
			at += (size_t)snprintf(err + at, errlen - at, " %s",
			                       note_verifier_name(q->keys[i]));
	return -1;
}

int
ledger_outside_extends(struct ledger *l, struct note_verifier *v, const char *msg, size_t len,
                       uint64_t cp_size, const uint8_t cp_root[MERKLE_HASH_LEN],
                       struct note_checkpoint *cp, char *err, size_t errlen)
{
	uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN], empty[MERKLE_HASH_LEN];
	size_t np;
	int r;

	if ((r = note_checkpoint_open(msg, len, &v, 1, cp)) != NOTE_OK) {
		snprintf(err, errlen,
		         "the checkpoint is not one of this ledger's (signed by %s): %s",
		         note_verifier_name(v), note_strerror(r));
		return -1;
	}
	if (cp->size > cp_size) {
		snprintf(err, errlen,
		         "the checkpoint covers %" PRIu64
		         " entries, the ledger's latest checkpoint "
		         "only %" PRIu64 ": entries it had signed are gone (its tail was cut)",
		         cp->size, cp_size);
		return -1;
	}
	if (cp->size == 0) {
		if (EVP_Digest("", 0, empty, NULL, EVP_sha256(), NULL) != 1) {
			snprintf(err, errlen, "hashing failed");
			return -1;
		}
		if (memcmp(empty, cp->root, MERKLE_HASH_LEN) == 0)
			return 0;
		snprintf(err, errlen,
		         "the checkpoint of size 0 does not have the empty tree's root");
		return -1;
	}
	if ((r = ledger_consistency(l, cp->size, cp_size, proof, &np)) < 0) {
		snprintf(err, errlen, "a consistency proof from %" PRIu64 " to %" PRIu64 ": %s",
		         cp->size, cp_size, ledger_strerror(r));
		return -1;
	}
	if ((r = merkle_verify_consistency(cp->size, cp_size, cp->root, cp_root,
	                                   (const uint8_t(*)[MERKLE_HASH_LEN])proof, np)) !=
	    MERKLE_OK) {
		snprintf(err, errlen,
		         "the ledger's tree of %" PRIu64 " entries does not have the checkpoint's "
		         "root (%s): entries it covers were rewritten",
		         cp->size, merkle_strerror(r));
		return -1;
	}
	return 0;
}
