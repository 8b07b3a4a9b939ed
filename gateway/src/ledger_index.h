/* ledger_index — inside the ledger: the search index, derived from committed batches. */
#ifndef PDGATE_LEDGER_INDEX_H
#define PDGATE_LEDGER_INDEX_H

/*
 * The searches' columns (kind, partner, contract, purpose, subject) of every entry, with an
 * index on each, in a database of their own beside ledger.db (ledger_index_path). A follower
 * thread of the writer's process fills it from the committed batches, off the commit path;
 * its state row says how far it reached (upto) and the leaf hash of entry upto - 1, which a
 * reader checks against the ledger before trusting it (ledger_conn_indexed). Entries past upto
 * are found by reading their leaves, so a search is exact whatever the index holds. It is
 * derived data: written with synchronous=NORMAL, rebuilt when it does not match the ledger.
 */

#include <stddef.h>
#include <stdint.h>

#include "log.h"

struct ledger_index;

/* Opens or creates the index of the ledger at path, empties it if it does not match the
 * ledger (another or an earlier ledger.db), and starts the follower. NULL with err. */
struct ledger_index *ledger_index_start(const char *path, struct log *log, char *err,
                                        size_t errlen);
/* The writer committed entries up to size: the follower catches up. */
void ledger_index_notify(struct ledger_index *x, uint64_t size);
/* Stops the follower (what it has not indexed is indexed at the next start) and frees. NULL:
 * no-op. */
void ledger_index_stop(struct ledger_index *x);

#endif
