/* receipt — what the ledger hands to outsiders: the proof bundle of one entry (docs/ledger.md,
 * "Checking an entry with the vkey and nothing else"). */
#ifndef PDGATE_RECEIPT_H
#define PDGATE_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ledger;

/*
 * The proof bundle of entry index in the checkpoint of size entries (0: the latest), a JSON
 * object in this order: origin (the note's first line), index, size, leaf (the entry's bytes),
 * leaf_hash and proof (base64, RFC 9162 2.1.3), checkpoint (ledger_cosigned_checkpoint's note,
 * cosignatures with it), and vkey if not NULL (informative only: a checker uses its own). *out:
 * caller frees (json_decref); *cp_size: the checkpoint's size, also on LEDGER_ERANGE. 0,
 * LEDGER_ENOENT as ledger_cosigned_checkpoint, LEDGER_ERANGE if the checkpoint does not hold the
 * entry, or an error of the ledger (LEDGER_ENOMEM).
 */
int receipt_bundle(struct ledger *l, uint64_t index, uint64_t size, const char *vkey, json_t **out,
                   uint64_t *cp_size);

#endif
