/* ledger_upgrade — inside the ledger: converting a ledger of the earlier layout, once. */
#ifndef PDGATE_LEDGER_UPGRADE_H
#define PDGATE_LEDGER_UPGRADE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "note.h"

/* What an upgrade converted. */
struct ledger_upgrade_report {
	uint64_t size;        /* entries */
	uint64_t batches;     /* rows of batches written */
	uint64_t checkpoints; /* checkpoints kept, as they were */
};

/*
 * Converts the ledger open read-write on db from schema 1 (a row per entry in `entries`, a row
 * per node in `nodes`) to the batches of schema 2, in one transaction (docs/ledger.md, section
 * 4, "Upgrading"). Before: every old entry hashes to its stored hash and says its position,
 * every stored node is the tree's, every checkpoint verifies with v and its root is the tree's.
 * After, before committing: ledger_verify of the new layout passes, and the SHA-256 of all the
 * leaves is the one computed before (byte-identical leaves) with the same checkpoints. origin
 * must be the stored one. 0, or -1 with err (nothing changed).
 */
int ledger_upgrade_run(sqlite3 *db, const char *origin, struct note_verifier *v,
                       struct ledger_upgrade_report *r, char *err, size_t errlen);

#endif
