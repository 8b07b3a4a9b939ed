/* ledger_batch — inside the ledger: the format of one group commit's row (leaves and hashes). */
#ifndef PDGATE_LEDGER_BATCH_H
#define PDGATE_LEDGER_BATCH_H

/*
 * A batch is the entries [first, first + n) of one commit, stored as one row of `batches`
 * (docs/ledger.md, section 4):
 *
 * - leaves: a JSON array of n strings, each string one leaf. A leaf holds no byte below 0x20
 *   (it is compact JSON with its control characters escaped), so only `"` and `\` are
 *   escaped, as `\"` and `\\`; SQLite's json_each reads the same strings back, and the view
 *   `entries` is built on it.
 * - hashes: the n leaf hashes, then every tree node of level >= 1 that the batch's entries
 *   complete, in the order they complete (for each entry, its nodes by increasing level),
 *   32 bytes each. Node (L, i) is completed by entry (i + 1) * 2^L - 1, so its place in the
 *   batch is found by arithmetic: ledger_batch_node_at.
 */

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The nodes of level >= 1 completed by the entries [a, b) (a <= b). */
uint64_t ledger_batch_nodes(uint64_t a, uint64_t b);

/* The byte length of the hashes of a batch of entries [first, first + n). */
uint64_t ledger_batch_hashes_len(uint64_t first, uint64_t n);

/* Where node (level >= 1, index) is in the hashes of the batch [first, first + n): its byte
 * offset, or -1 if that batch does not complete it. */
int64_t ledger_batch_node_at(uint64_t first, uint64_t n, uint64_t level, uint64_t index);

/* The entry that completes node (level, index): the batch that holds it. */
uint64_t ledger_batch_node_entry(uint64_t level, uint64_t index);

/* Appends one leaf (len bytes) to the leaves array being built in b ('[' written before the
 * first, ',' before the others; b empty at the start). 0, or -1 if the leaf holds a byte below
 * 0x20 or memory ran out. Finish with ledger_batch_end. */
int ledger_batch_add(struct buf *b, const char *leaf, size_t len);
/* Closes the array (']'). 0 or -1 (memory). */
int ledger_batch_end(struct buf *b);

/* The n leaves of a stored leaves array json (len bytes) into out (emptied first): the leaves
 * one after the other, leaf k at out->data + off[k], len[k] bytes (off and lens: n slots).
 * 0, or -1 if json is not exactly an array of n strings in the form ledger_batch_add writes,
 * or memory ran out. */
int ledger_batch_split(const char *json, size_t len, uint64_t n, struct buf *out, size_t *off,
                       size_t *lens);

#endif
