/* ledger_sign — inside the ledger: a checkpoint signed under the lock on the tree state. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config.h"
#include "file.h"
#include "ledger_err.h"
#include "ledger_sign.h"

int
ledger_sign_catch_up(struct ledger_store *ws, const struct ledger_tip *tip,
                     struct ledger_tree_state *st)
{
	struct merkle_store tree = ledger_store_tree(ws);

	/* the tree only grows: a stored size below what this writer committed is a damaged
	 * store, never another writer */
	if (tip->size < st->frontier.size)
		return LEDGER_EIO;
	if (tip->size > st->frontier.size &&
	    merkle_frontier_load(&st->frontier, &tree, tip->size) != MERKLE_OK)
		return LEDGER_EIO;
	if (tip->time > st->last_ms)
		st->last_ms = tip->time;
	assert(st->frontier.size == tip->size);
	return 0;
}

/* The latest stored checkpoint into st, when it is not the one st knows: its note checked
 * with v, its size not beyond the tree. 0, or a result with err. */
static enum ledger_sign_result
latest(struct ledger_store *ws, struct note_verifier *v, struct ledger_tree_state *st, char *err,
       size_t errlen)
{
	struct note_checkpoint cp;
	char *note = NULL;
	size_t len;
	uint64_t size;
	int rc = ws->ops->checkpoint(ws, 0, &size, &note, &len, NULL);

	if (rc == LEDGER_ENOENT)
		size = 0;
	else if (rc != 0) {
		snprintf(err, errlen, "reading the latest checkpoint: %s", ws->ops->errmsg(ws));
		return LEDGER_SIGN_FAILED;
	}
	if (size == st->cp_size) {
		free(note);
		return 0;
	}
	/* another writer signed since: its note, by the same key, is the one to extend */
	if (size < st->cp_size || size > st->frontier.size ||
	    note_checkpoint_open(note, len, &v, 1, &cp) != NOTE_OK || cp.size != size) {
		snprintf(err, errlen,
		         "the latest stored checkpoint (%" PRIu64 ") is not one this ledger's key "
		         "signed over its tree",
		         size);
		free(note);
		return LEDGER_SIGN_INCONSISTENT;
	}
	free(note);
	st->cp_size = size;
	memcpy(st->cp_root, cp.root, MERKLE_HASH_LEN);
	return 0;
}

enum ledger_sign_result
ledger_sign(struct ledger_store *ws, const struct note_signer *s, struct note_verifier *v,
            const char *origin, const struct ledger_sign_hooks *h, int64_t *at,
            struct ledger_tree_state *st, uint64_t *size, char *err, size_t errlen)
{
	uint8_t root[MERKLE_HASH_LEN], proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	struct merkle_store tree = ledger_store_tree(ws);
	struct ledger_tip tip;
	char *text = NULL, *note = NULL;
	size_t tlen, nlen, np;
	enum ledger_sign_result r = LEDGER_SIGN_FAILED;
	int m;

	*size = st->cp_size;
	if (ws->ops->begin(ws, &tip) != 0) {
		snprintf(err, errlen, "%s", ws->ops->errmsg(ws));
		return LEDGER_SIGN_FAILED;
	}
	if (ledger_sign_catch_up(ws, &tip, st) != 0) {
		snprintf(err, errlen, "reloading the tree of %" PRIu64 " entries", tip.size);
		goto done;
	}
	if ((r = latest(ws, v, st, err, errlen)) != 0)
		goto done;
	*size = st->cp_size;
	if (st->frontier.size == st->cp_size) {
		r = LEDGER_SIGN_NOTHING;
		goto done;
	}
	if (h != NULL && h->may_sign != NULL && !h->may_sign(h->arg, st->frontier.size)) {
		r = LEDGER_SIGN_HELD;
		goto done;
	}
	r = LEDGER_SIGN_FAILED;
	if (merkle_frontier_root(&st->frontier, root) != MERKLE_OK) {
		snprintf(err, errlen, "hashing failed");
		goto done;
	}
	/* never two inconsistent checkpoints: the new tree extends the latest signed one */
	if (st->cp_size > 0) {
		m = merkle_consistency_proof(&tree, st->cp_size, st->frontier.size, proof,
		                             MERKLE_MAX_PROOF, &np);
		if (m == MERKLE_OK)
			m = merkle_verify_consistency(st->cp_size, st->frontier.size, st->cp_root,
			                              root,
			                              (const uint8_t(*)[MERKLE_HASH_LEN])proof, np);
		if (m != MERKLE_OK) {
			snprintf(err, errlen,
			         "tree of size %" PRIu64
			         " is not consistent with checkpoint %" PRIu64 " (%s)",
			         st->frontier.size, st->cp_size, merkle_strerror(m));
			/* a node that could not be read (the database went away mid-check) proves
			 * nothing: the signature waits for the next try; only a proof that does not
			 * lead to the roots is an inconsistency */
			r = m == MERKLE_ESTORE || m == MERKLE_ECRYPTO ? LEDGER_SIGN_FAILED
			                                              : LEDGER_SIGN_INCONSISTENT;
			goto done;
		}
	}
	if (note_checkpoint_format(origin, st->frontier.size, root, &text, &tlen) != NOTE_OK ||
	    note_sign(s, text, tlen, &note, &nlen) != NOTE_OK) {
		snprintf(err, errlen, "cannot sign checkpoint %" PRIu64, st->frontier.size);
		goto done;
	}
	/* like the entries' times, a checkpoint's never goes back when the clock is stepped */
	if (*at < st->last_ms)
		*at = st->last_ms;
	if (ws->ops->put_checkpoint(ws, st->frontier.size, note, nlen, *at) != 0 ||
	    ws->ops->commit(ws) != 0) {
		snprintf(err, errlen, "cannot store checkpoint %" PRIu64 ": %s", st->frontier.size,
		         ws->ops->errmsg(ws));
		goto done;
	}
	/* Checkpoints only grow, and never past the committed entries. */
	assert(st->frontier.size > st->cp_size);
	st->cp_size = st->frontier.size;
	memcpy(st->cp_root, root, MERKLE_HASH_LEN);
	*size = st->cp_size;
	r = LEDGER_SIGN_SIGNED;
	if (h != NULL && h->signed_cb != NULL)
		h->signed_cb(h->arg, st->cp_size, note, nlen);
done:
	if (r != LEDGER_SIGN_SIGNED)
		ws->ops->rollback(ws);
	free(text);
	free(note);
	return r;
}

struct note_signer *
ledger_sign_load_key(const char *path, const char *origin, char *err, size_t errlen)
{
	struct note_signer *s = NULL;
	char *pem;
	char msg[512];
	size_t len = 0;

	if (config_check_key_mode(path, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "%s", msg);
		return NULL;
	}
	if ((pem = file_read(path, LEDGER_KEY_MAX_BYTES - 1, FILE_READ_NONEMPTY, &len, NULL, 0)) ==
	    NULL) {
		snprintf(err, errlen, "ledger key %s: empty, unreadable or too large", path);
		return NULL;
	}
	if ((s = note_signer_new(origin, pem, len)) == NULL)
		snprintf(err, errlen,
		         "ledger key %s: not an unencrypted Ed25519 private key in PEM, or the "
		         "origin '%s' cannot name a note key",
		         path, origin);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return s;
}
