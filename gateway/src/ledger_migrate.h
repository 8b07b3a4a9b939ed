/* ledger_migrate — inside the ledger: an embedded ledger moved into PostgreSQL, verified. */
#ifndef PDGATE_LEDGER_MIGRATE_H
#define PDGATE_LEDGER_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

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
 * SHA-256 of all the leaves. The caller holds the file's gateway lock. 0, or -1 with err (nothing
 * was stored in to).
 */
int ledger_migrate(const char *from, const char *to, struct note_verifier *v,
                   struct ledger_migrate_report *r, char *err, size_t errlen);

#endif
