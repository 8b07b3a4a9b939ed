/* ledger_migrate — inside the ledger: an embedded ledger moved into PostgreSQL, verified. */
#ifndef PDGATE_LEDGER_MIGRATE_H
#define PDGATE_LEDGER_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "ledger_store.h"
#include "note.h"

/* What a migration moved. */
struct ledger_migrate_report {
	uint64_t size;         /* entries */
	uint64_t batches;      /* batch rows copied, as they were */
	uint64_t checkpoints;  /* checkpoints copied, as they were signed */
	uint8_t root[32];      /* the latest checkpoint's root */
	uint64_t cosignatures; /* the witnesses' lines copied (ledger_cosig.h) */
};

/*
 * Copies the ledger.db at from into the empty PostgreSQL database of the URL to (its tables
 * made if absent), row for row, in one transaction of the destination (docs/ledger.md, "On
 * PostgreSQL"), with the witnesses' cosignatures the file holds. Before: the file verifies with v
 * (docs/ledger.md, section 5) in the snapshot that is copied, and every entry is covered by a
 * checkpoint (its gateway stopped cleanly). After, inside the destination's transaction and again
 * once committed: it verifies the same, with the same size, the same latest checkpoint and the same
 * SHA-256 of all the leaves. The caller holds the file's gateway lock. also (NULL: none) is
 * called inside the destination's transaction, after the ledger's rows and before the checks
 * (state_copy_into: the gateway's shared state); non-zero fails the move with its err. 0, or -1
 * with err (nothing was stored in to).
 */
struct ledger_store;
typedef int (*ledger_migrate_fn)(void *arg, struct ledger_store *dst, char *err, size_t errlen);
int ledger_migrate(const char *from, const char *to, struct note_verifier *v,
                   ledger_migrate_fn also, void *arg, struct ledger_migrate_report *r, char *err,
                   size_t errlen);

/* Runs also in one transaction of the PostgreSQL ledger to, of origin, that holds the tree lock
 * (a move's second step, the ledger itself moved already): committed if it returns 0. 0, or -1
 * with err (nothing stored). */
int ledger_migrate_state(const char *to, const char *origin, ledger_migrate_fn also, void *arg,
                         char *err, size_t errlen);

/*
 * The copy itself, for ledger_migrate and for a backup of a PostgreSQL ledger into a file
 * (ledger_backup.h): every batch of src that starts before upto entries and every checkpoint of
 * at most upto entries (UINT64_MAX: all of them), read in the snapshot src holds, inserted as
 * they are into dst inside the transaction its begin opened. The rows copied into r->batches and
 * r->checkpoints. 0; -1 reading src failed, -2 dst refused a row; err says why.
 */
int ledger_migrate_rows(struct ledger_store *src, struct ledger_store *dst, uint64_t upto,
                        struct ledger_migrate_report *r, char *err, size_t errlen);

#endif
