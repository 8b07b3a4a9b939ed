/* ledger_cosig — witnesses' cosignatures of the ledger's checkpoints, kept in the ledger's store
 * (ledger.db, or the PostgreSQL database the nodes share). */
#ifndef PDGATE_LEDGER_COSIG_H
#define PDGATE_LEDGER_COSIG_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"
#include "ledger_store.h"

/*
 * The table cosignatures(size, witness, time, line) of docs/ledger.md: for the checkpoint of
 * size entries, the cosignature/v1 line (with its newline) of the witness whose key is named
 * witness, at the line's own time; one line per checkpoint and witness, the first stored. In
 * ledger.db, or in the ledger's PostgreSQL database, where every node stores the lines it is
 * given and serves those any node was given (the store's cosig_* operations, ledger_store.h).
 * Only lines that verified with the configured witness key are stored (witness_client.c); a
 * reader still checks them against the keys it trusts.
 */

/*
 * THE cosigned checkpoint: the note of the checkpoint of size entries (0: the latest) followed
 * by the stored cosignature lines of its witnesses, one C2SP note (the text, a blank line, the
 * ledger's signature line, then one line per witness, in the order of the witnesses' names),
 * into *note (NUL-terminated, *len bytes, caller frees); its size into *cp_size. A checkpoint
 * no witness has cosigned comes as it was signed. This is what every route and command that
 * hands a checkpoint out serves (GET /v1/ledger/checkpoint, proof bundles, receipts).
 * Thread-safe, on a read connection of l. 0, LEDGER_ENOENT, or an error (ledger_err.h).
 */
int ledger_cosigned_checkpoint(struct ledger *l, uint64_t size, char **note, size_t *len,
                               uint64_t *cp_size);

/* The largest checkpoint size with at least n stored cosignatures into *size (0: none).
 * Thread-safe. 0 or an error. */
int ledger_cosig_newest(struct ledger *l, unsigned n, uint64_t *size);

/* The largest checkpoint size with a stored cosignature by witness (0: none). */
int ledger_cosig_newest_by(struct ledger *l, const char *witness, uint64_t *size);

/* A connection that stores cosignatures: its own, read-write, on the ledger at where (the path
 * of ledger.db or a PostgreSQL URL; config_ledger_where) whose origin is origin; the table made
 * if the store has none. Used by one thread at a time; ledger_store_free. NULL with err. */
struct ledger_store *ledger_cosig_store_open(const char *where, const char *origin, char *err,
                                             size_t errlen);

/* Stores witness's line line[0..len) of time ts for the checkpoint of size entries, durably,
 * unless the store holds a line of that witness for that checkpoint already (then that one
 * stays). 0, or -1 with err. */
int ledger_cosig_put(struct ledger_store *s, uint64_t size, const char *witness, uint64_t ts,
                     const char *line, size_t len, char *err, size_t errlen);

#endif
