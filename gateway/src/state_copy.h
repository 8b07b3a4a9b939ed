/* state_copy — a single gateway's shared state (its [gateway] state file's suspensions, revoked
 * tokens and members' requests) copied into a PostgreSQL ledger, and the check that a node's
 * file holds none that were never copied. */
#ifndef PDGATE_STATE_COPY_H
#define PDGATE_STATE_COPY_H

#include <stddef.h>
#include <stdint.h>

/*
 * A single gateway keeps these rows in its state file; several nodes keep them in the ledger's
 * database (docs/cluster.md). Moving to PostgreSQL without them would silently lift every
 * suspension and member's restriction and forget the requests, so `pdgate ledger migrate -c`
 * copies them in the migration's transaction, and a node with `[ledger] url` refuses to start
 * on a state file that holds some and was never copied. A copy is marked in the file (table
 * shared_copy, with its time): rows the file gains after it (a gateway moved back to a file,
 * then again) count as never copied.
 */

struct ledger_store;
struct state_copy;

/* What was copied. */
struct state_copy_report {
	uint64_t suspensions, revoked, requests;
};

/* Opens the state file at path for a copy and holds its write lock until state_copy_end (so
 * that what is copied is what gets marked). NULL with err. */
struct state_copy *state_copy_open(const char *path, char *err, size_t errlen);

/* Inserts the file's rows into the transaction the PostgreSQL writer store dst holds (its
 * begin(): the tree lock), moves the shared state's generation and announces it. A row the
 * database holds already is left as it is if it is the same (a suspension of that partner, a
 * revoked jti, a request of that id, member and opening entry); a request id the database
 * gives to another request is refused. 0, or -1 with err (the caller rolls back). */
int state_copy_into(struct state_copy *c, struct ledger_store *dst, struct state_copy_report *r,
                    char *err, size_t errlen);

/* Marks the file as copied at now_ms and commits it (mark), or leaves it as it was (!mark);
 * frees c. 0, or -1 with err. NULL: no-op, 0. */
int state_copy_end(struct state_copy *c, int mark, int64_t now_ms, char *err, size_t errlen);

/* What `serve -n` and `serve` check with [ledger] url: 0 if the state file at path is absent,
 * holds no suspension and no open or completed request, or was copied after every one of them;
 * else -1 with the reason and what to run. */
int state_copy_check(const char *path, char *err, size_t errlen);

#endif
