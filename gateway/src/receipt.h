/* receipt — what the ledger hands to outsiders: its checkpoint note as served, and the proof
 * bundle of one entry (docs/ledger.md, "Checking an entry with the vkey and nothing else"). */
#ifndef PDGATE_RECEIPT_H
#define PDGATE_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ledger;

/*
 * The signed checkpoint note of size entries (0: the latest) as pdgate hands it out — on both
 * APIs and in every proof bundle — into *note (NUL-terminated, *len bytes, caller frees) and
 * its size into *cp_size. The one place a served note is read: whatever travels with a
 * checkpoint (witness cosignature lines) is added here, and every caller gets it. 0,
 * LEDGER_ENOENT (no checkpoint, or none of that size), or an error of the ledger.
 */
int receipt_checkpoint_note(struct ledger *l, uint64_t size, char **note, size_t *len,
                            uint64_t *cp_size);

/*
 * The proof bundle of entry index in the checkpoint of size entries (0: the latest), a JSON
 * object in this order: origin (the note's first line), index, size, leaf (the entry's bytes),
 * leaf_hash and proof (base64, RFC 9162 2.1.3), checkpoint (receipt_checkpoint_note's note),
 * and vkey if not NULL (informative only: a checker uses its own). *out: caller frees
 * (json_decref); *cp_size: the checkpoint's size, also on LEDGER_ERANGE. 0, LEDGER_ENOENT as
 * receipt_checkpoint_note, LEDGER_ERANGE if the checkpoint does not hold the entry, or an
 * error of the ledger (LEDGER_ENOMEM).
 */
int receipt_bundle(struct ledger *l, uint64_t index, uint64_t size, const char *vkey, json_t **out,
                   uint64_t *cp_size);

#endif
