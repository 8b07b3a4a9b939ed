/* ledger_backup — a verified copy of a serving gateway's ledger and state database. */
#ifndef PDGATE_LEDGER_BACKUP_H
#define PDGATE_LEDGER_BACKUP_H

#include <stdint.h>

#include "merkle.h"
#include "note.h"

/*
 * What a backup is (docs/operations.md, "Backups and restore"): a new folder holding
 *   ledger.db   the ledger up to its latest checkpoint, a snapshot of one read transaction;
 *   state.db    the state database, a snapshot taken just after the ledger's;
 *   ledger.vkey the verifier key the copy was checked with;
 *   checkpoint  the copy's latest checkpoint note.
 * Each database is read in one read transaction (WAL): the gateway's writer never waits for
 * it. The copy ends at a checkpoint the gateway signed, so that `ledger verify` passes on it
 * for good; the backup first waits (at most wait_ms) for a checkpoint that covers every entry
 * committed when it started. Nothing is renamed to DEST before the copy verifies; a failure
 * leaves no DEST and removes the temporary DEST.tmp-* folder (stagedir.h).
 */

enum ledger_backup_err {
	LEDGER_BACKUP_OK = 0,
	LEDGER_BACKUP_EXISTS = -1,   /* DEST exists */
	LEDGER_BACKUP_DEST = -2,     /* DEST's folder is missing, not writable or read-only */
	LEDGER_BACKUP_WRITE = -3,    /* writing the copy failed: no space left, an I/O error */
	LEDGER_BACKUP_SOURCE = -4,   /* the ledger or the state database cannot be read */
	LEDGER_BACKUP_UNSIGNED = -5, /* no checkpoint came to cover the entries of the start */
	LEDGER_BACKUP_VERIFY = -6,   /* the copy does not verify */
	LEDGER_BACKUP_ENOMEM = -7,
};

/* What to copy. Strings and the verifier borrowed for the call. */
struct ledger_backup_params {
	const char *ledger;             /* the gateway's ledger.db */
	const char *state;              /* its state database; NULL: none */
	const char *dest;               /* the folder to create */
	const char *vkey;               /* the verifier key line (no newline), kept beside */
	struct note_verifier *verifier; /* of vkey: checks the copy */
	unsigned wait_ms;               /* for the checkpoint over the entries of the start */
	int64_t grace_ms;               /* ledger_verify's, for an unsigned tail (none here) */
};

/* What was copied. */
struct ledger_backup_result {
	uint64_t start_size;               /* entries committed when the backup started */
	uint64_t snapshot_size;            /* entries in the snapshot (its unsigned tail dropped) */
	uint64_t size;                     /* entries in the copy: its checkpoint's size */
	uint8_t root[MERKLE_HASH_LEN];     /* the copy's checkpoint root */
	int64_t ledger_bytes, state_bytes; /* the copied files (state_bytes -1: none) */
	uint64_t cosignatures;             /* witnesses' lines copied (a PostgreSQL ledger's) */
	int64_t wait_ms, copy_ms,
	    verify_ms;      /* time waiting for the checkpoint, copying, checking */
	char problem[1024]; /* what went wrong, unless ledger_backup returned 0 */
};

/* Makes the backup of p into p->dest. 0, or an enum ledger_backup_err with out->problem (the
 * message names the file and the reason). */
int ledger_backup(const struct ledger_backup_params *p, struct ledger_backup_result *out);

#endif
