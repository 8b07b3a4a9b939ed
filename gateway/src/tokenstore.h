/* tokenstore — revoked token ids and work-order record counts, persisted in the state database. */
#ifndef PDGATE_TOKENSTORE_H
#define PDGATE_TOKENSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Two tables in the SQLite file of [gateway] state, shared with other users of that file:
 *   revoked(jti TEXT PRIMARY KEY, revoked_at INTEGER)   -- Unix seconds
 *   uses(jti TEXT PRIMARY KEY, records INTEGER)          -- records released under the jti
 * WAL mode, synchronous=FULL: a revocation or a count is on disk when the call returns, and the
 * `pdgate token revoke` command can write while the daemon runs (busy timeout 5 s).
 * Thread-safe: one reading and one writing connection, each behind its own mutex, so lookups
 * never wait for a writer's fsync.
 */
struct tokenstore;

/* Opens (creating if needed) the database at path. NULL with err on failure. Caller closes. */
struct tokenstore *tokenstore_open(const char *path, char *err, size_t errlen);

/* Closes; NULL is a no-op. */
void tokenstore_close(struct tokenstore *ts);

/*
 * 1 if jti is revoked, 0 if not, -1 on a database error (treat as revoked: fail closed).
 * Answered from the revoked ids held in memory while the database's WAL-index header shows no
 * commit since they were read (any process's: `pdgate token revoke` included); otherwise the
 * new rows are read first. A revocation committed before the call is never missed.
 */
int tokenstore_is_revoked(struct tokenstore *ts, const char *jti);

/* Revokes jti at time now (Unix seconds). Revoking twice is not an error. 0 or -1. */
int tokenstore_revoke(struct tokenstore *ts, const char *jti, int64_t now);

/*
 * Atomically adds n (>= 1) records to jti's count if the new count stays within max (>= 1):
 * *ok is true and the count grows; otherwise *ok is false and nothing changes. Returns 0, or
 * -1 on a database error (*ok false); TOKENSTORE_EUNAVAILABLE, below, with a shared count.
 */
int tokenstore_take(struct tokenstore *ts, const char *jti, int64_t n, int64_t max, bool *ok);

/* tokenstore_take's return when the count is shared (tokenstore_share) and its database cannot
 * be reached or fails: nothing is counted, and the caller refuses (ledger_unavailable). */
#define TOKENSTORE_EUNAVAILABLE (-2)

struct ledger_store;
/*
 * From now on tokenstore_take counts in s (its take operation: the database several gateway
 * nodes share, a PostgreSQL ledger's), one call at a time on that connection, instead of the
 * table uses of the state database: so that the nodes together never release more than a work
 * order's max_records. s is borrowed and must outlive ts; set before any request.
 */
void tokenstore_share(struct tokenstore *ts, struct ledger_store *s);

#endif
