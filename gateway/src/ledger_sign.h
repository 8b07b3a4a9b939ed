/* ledger_sign — inside the ledger: a checkpoint signed under the lock on the tree state. */
#ifndef PDGATE_LEDGER_SIGN_H
#define PDGATE_LEDGER_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "ledger_store.h"
#include "merkle.h"
#include "note.h"

/* What the writer knows of the stored tree, kept between its transactions. */
struct ledger_tree_state {
	struct merkle_frontier frontier; /* of the committed entries, as far as this writer knows */
	int64_t last_ms;                 /* the last batch's time: times never go back */
	uint64_t cp_size;                /* the latest stored checkpoint */
	uint8_t cp_root[MERKLE_HASH_LEN];
};

/* What ledger_sign did. */
enum ledger_sign_result {
	LEDGER_SIGN_SIGNED,  /* a new checkpoint over every committed entry is stored */
	LEDGER_SIGN_NOTHING, /* every committed entry was signed already (maybe by another node) */
	LEDGER_SIGN_FAILED,  /* the store failed (err): nothing stored, try again later */
	LEDGER_SIGN_INCONSISTENT, /* the stored tree does not extend the latest checkpoint (err):
	                             nothing stored; the writer must stop writing */
	LEDGER_SIGN_HELD,         /* may_sign held it back: nothing stored, asked again later */
};

/* What the gateway adds around a signature (its witnesses, ledger.h); each NULL: none. */
struct ledger_sign_hooks {
	int (*may_sign)(void *arg, uint64_t size); /* 0 holds the checkpoint of size back */
	void (*signed_cb)(void *arg, uint64_t size, const char *note, size_t len); /* stored */
	void *arg;
};

/*
 * Brings st up to the stored tree under the lock the transaction holds (ws->ops->begin gave
 * tip): if another writer appended past st->frontier, the frontier is reloaded from the stored
 * nodes (O(log n) lookups) and the time taken from tip. 0, or LEDGER_EIO.
 */
int ledger_sign_catch_up(struct ledger_store *ws, const struct ledger_tip *tip,
                         struct ledger_tree_state *st);

/*
 * In one transaction under the lock on the tree state: catches up with the stored tree, reads
 * the latest stored checkpoint (whoever signed it; its signature checked with v when it is
 * not the one st knows), verifies a consistency proof from it to the tree, asks h->may_sign
 * with the size it would sign, signs a checkpoint of origin over every committed entry with s
 * and stores it before the commit, at time *at (raised to the last batch's time, never
 * earlier: *at is the time stored), then calls h->signed_cb. st follows what is stored. *size
 * is the size signed (or found signed). h may be NULL.
 */
enum ledger_sign_result ledger_sign(struct ledger_store *ws, const struct note_signer *s,
                                    struct note_verifier *v, const char *origin,
                                    const struct ledger_sign_hooks *h, int64_t *at,
                                    struct ledger_tree_state *st, uint64_t *size, char *err,
                                    size_t errlen);

/* The ledger's key file (mode 0600 or stricter, at most LEDGER_KEY_MAX_BYTES) as the signer of
 * origin's checkpoints; the PEM read is wiped. NULL with err. Caller frees (note_signer_free). */
#define LEDGER_KEY_MAX_BYTES 16384
struct note_signer *ledger_sign_load_key(const char *path, const char *origin, char *err,
                                         size_t errlen);

#endif
