/* ledger_verify — inside the ledger: the whole-ledger check (docs/ledger.md, section 5). */
#ifndef PDGATE_LEDGER_VERIFY_H
#define PDGATE_LEDGER_VERIFY_H

#include <stdint.h>

#include <sqlite3.h>

#include "ledger_store.h"
#include "merkle.h"
#include "note.h"

/* What ledger_verify and ledger_verify_db found. */
struct ledger_verdict {
	uint64_t size;                    /* entries */
	uint64_t cp_size;                 /* the latest checkpoint's size; 0: none */
	uint8_t cp_root[MERKLE_HASH_LEN]; /* its root */
	uint64_t unsigned_n;              /* entries after it */
	int64_t unsigned_age_ms;          /* the age of the oldest of them */
	char problem[512];                /* what is wrong, unless ledger_verify returned 0 */
};

/*
 * ledger_verify on the connection db (a reader's, or the writer's inside the transaction of
 * an upgrade, which checks what it is about to commit), in one read transaction the caller
 * holds. digest, if not NULL, receives SHA-256 of every leaf followed by "\n" (what `pdgate
 * ledger export` writes): equal digests are byte-identical leaves. Returns as ledger_verify.
 */
int ledger_verify_db(sqlite3 *db, struct note_verifier *v, int64_t now_ms, int64_t grace_ms,
                     uint8_t digest[MERKLE_HASH_LEN], struct ledger_verdict *out);
/* The same on any store (ledger_store.h), in a snapshot the caller holds. */
int ledger_verify_store(struct ledger_store *s, struct note_verifier *v, int64_t now_ms,
                        int64_t grace_ms, uint8_t digest[MERKLE_HASH_LEN],
                        struct ledger_verdict *out);

#endif
