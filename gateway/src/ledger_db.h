/* ledger_db — inside the ledger: ledger.db's schema, connections, statements, the reader pool. */
#ifndef PDGATE_LEDGER_DB_H
#define PDGATE_LEDGER_DB_H

/*
 * For the ledger's own files only: ledger.c (the writer), ledger_read.c (the readers) and
 * ledger_backup.c (the copy). Other modules go through ledger.h and ledger_read.h. The tables
 * are described in docs/ledger.md.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "merkle.h"

/* The statements every connection prepares, then the writer's own. */
enum ledger_stmt {
	LEDGER_ST_LEAF_HASH, /* ?1 idx → hash */
	LEDGER_ST_NODE,      /* ?1 level, ?2 idx → hash */
	LEDGER_ST_MAX_IDX,   /* → max(idx) */
	LEDGER_ST_CP_LATEST, /* → size, note of the latest checkpoint */
	LEDGER_ST_CP_AT,     /* ?1 size → size, note */
	LEDGER_ST_LEAVES,    /* ?1 start, ?2 end → idx, leaf in order */
	LEDGER_ST_TIME_AT,   /* ?1 idx → time */
	LEDGER_ST_DAY,       /* ?1 start, ?2 end → contract, count(*) of its releases */
	LEDGER_ST_READER_END,
	LEDGER_ST_INS_ENTRY = LEDGER_ST_READER_END, /* the writer's */
	LEDGER_ST_INS_NODE,
	LEDGER_ST_INS_CP,
	LEDGER_ST_BEGIN,
	LEDGER_ST_COMMIT,
	LEDGER_ST_ROLLBACK,
	LEDGER_ST_COUNT,
};

/* One SQLite handle with its prepared statements; used by one thread at a time. */
struct ledger_conn {
	sqlite3 *db;
	sqlite3_stmt *st[LEDGER_ST_COUNT]; /* the readers' [0, LEDGER_ST_READER_END), all on a
	                                      writer's connection */
	struct ledger_conn *next;          /* in the pool's list of free connections */
};

/* Opens path: read-write (created if absent; WAL writes gathered by ledger_vfs) for a writer,
 * read-only otherwise; busy_timeout set before anything touches the file's locks. Returns the
 * connection (caller frees with ledger_conn_free), or NULL with err. */
struct ledger_conn *ledger_conn_open(const char *path, bool writer, char *err, size_t errlen);
/* A WAL checkpoint (SQLITE_CHECKPOINT_*) on the writer's connection that never waits for a
 * reader (the busy handler is off meanwhile): the sqlite3_wal_checkpoint_v2 code. */
int ledger_conn_wal_checkpoint(struct ledger_conn *c, int mode);
/* Prepares the statements (the writer's too if writer). 0, or -1 with err. */
int ledger_conn_prepare(struct ledger_conn *c, bool writer, char *err, size_t errlen);
void ledger_conn_free(struct ledger_conn *c);

/* On the writer's connection: WAL, synchronous=FULL, the schema, the meta rows of origin and
 * the planner's statistics. 0, or -1 with err. */
int ledger_db_init(struct ledger_conn *c, const char *origin, char *err, size_t errlen);
/* Checks the schema version and that the stored origin is origin (NULL: any). Returns the
 * stored origin (caller frees), or NULL with err. */
char *ledger_db_origin(sqlite3 *db, const char *origin, char *err, size_t errlen);
/* Runs sql (no rows). 0, or -1 with err. */
int ledger_db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* Resets st and clears its bindings, for the next use. */
void ledger_st_done(sqlite3_stmt *st);
/* Runs a prepared statement that returns no rows, then ledger_st_done. 0 or -1. */
int ledger_st_exec(sqlite3_stmt *st);

/* The stored tree of c as a merkle node store (c borrowed). */
struct merkle_store ledger_conn_store(struct ledger_conn *c);
/* The number of entries (max(idx) + 1). 0 or LEDGER_EIO (ledger_err.h, as below). */
int ledger_conn_size(struct ledger_conn *c, uint64_t *size);
/* The checkpoint of size entries (0: the latest): its size and a copy of its note (caller
 * frees, len bytes, NUL-terminated). 0, LEDGER_ENOENT, LEDGER_EIO or LEDGER_ENOMEM. */
int ledger_conn_checkpoint(struct ledger_conn *c, uint64_t size, uint64_t *cp_size, char **note,
                           size_t *len);
/* The first index in [0, size] whose time is >= ms: times never decrease with the index, so a
 * time range is an index range. 0 or LEDGER_EIO. */
int ledger_conn_bisect(struct ledger_conn *c, uint64_t size, int64_t ms, uint64_t *out);

/* Read connections, each lent to one thread at a time. */
struct ledger_pool;

/* n read connections of path, prepared; NULL with err. Free with ledger_pool_free. */
struct ledger_pool *ledger_pool_open(const char *path, unsigned n, char *err, size_t errlen);
void ledger_pool_free(struct ledger_pool *p);
/* A free connection, waiting for one if all are lent; give it back with ledger_pool_put. */
struct ledger_conn *ledger_pool_get(struct ledger_pool *p);
void ledger_pool_put(struct ledger_pool *p, struct ledger_conn *c);

/* The read connections of an open ledger (ledger.c; borrowed), for ledger_read.c. */
struct ledger;
struct ledger_pool *ledger_pool_of(struct ledger *l);

#endif
