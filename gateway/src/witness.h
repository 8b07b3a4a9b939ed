/* witness — a C2SP tlog-witness: the logs it follows, each one's latest cosigned size and root
 * kept in SQLite, and the add-checkpoint decision. */
#ifndef PDGATE_WITNESS_H
#define PDGATE_WITNESS_H
#include <stddef.h>
#include <stdint.h>

#include "note.h"

/* An add-checkpoint body is refused past this size: a note (1 MiB) and 63 proof lines. */
#define WITNESS_MAX_BODY (NOTE_MAX_SIZE + 64 * 64)
/* Consistency proof lines a client may send (c2sp.org/tlog-witness). */
#define WITNESS_MAX_PROOF 63

struct witness;

/*
 * A witness cosigning with cosigner (type 0x04, taken: freed with the witness, also on failure)
 * the logs whose verifier keys are logs[0..n) (taken likewise; each log's origin is its key's
 * name, distinct), its state in the SQLite database at db_path (created if missing). NULL with
 * err on failure. Caller frees with witness_free.
 */
struct witness *witness_open(const char *db_path, struct note_signer *cosigner,
                             struct note_verifier **logs, size_t n, char *err, size_t errlen);
void witness_free(struct witness *w);

/* What add-checkpoint answers. */
struct witness_answer {
	int status;        /* 200, 400, 403, 404, 409, 422; 500 if the state cannot be written */
	const char *ctype; /* static Content-Type */
	char *body;        /* malloc'd, body_len bytes; caller frees */
	size_t body_len;
};

/*
 * Decides POST add-checkpoint with the body req[0..len) at POSIX time now, by c2sp.org/
 * tlog-witness: the old size line, at most 63 proof lines, a blank line, the signed checkpoint.
 * On 200 the log's new size and root were committed (synchronously) before this returns, and
 * the body is the cosignature line; the check against the stored size and the update are one
 * step under a lock and one SQLite transaction, so two submissions can never roll a log back.
 * Every refusal leaves the state as it was. 0, or -1 if out of memory (*a then unset).
 */
int witness_add_checkpoint(struct witness *w, const char *req, size_t len, uint64_t now,
                           struct witness_answer *a);

/* The latest cosigned size and root of the log of origin (NUL-terminated): 1 found, 0 none yet
 * (size 0), -1 on error. */
int witness_state(struct witness *w, const char *origin, uint64_t *size, uint8_t root[32]);

#endif
