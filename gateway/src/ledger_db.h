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

#include "buf.h"
#include "ledger_store.h"
#include "merkle.h"

/* The statements every connection prepares, then the writer's own. */
enum ledger_stmt {
	LEDGER_ST_BATCH_AT,  /* ?1 idx → first, n, time, hashes of the batch holding idx */
	LEDGER_ST_LEAVES_AT, /* ?1 idx → first, n, time, leaves of the batch holding idx */
	LEDGER_ST_SIZE,      /* → first + n of the last batch */
	LEDGER_ST_CP_LATEST, /* → size, note, time of the latest checkpoint */
	LEDGER_ST_CP_AT,     /* ?1 size → size, note, time */
	LEDGER_ST_READER_END,
	LEDGER_ST_TIP =
	    LEDGER_ST_READER_END, /* the writer's: → first + n, time of the last batch */
	LEDGER_ST_INS_BATCH,
	LEDGER_ST_INS_CP,
	LEDGER_ST_BEGIN,
	LEDGER_ST_COMMIT,
	LEDGER_ST_ROLLBACK,
	LEDGER_ST_COUNT,
};

/* The statements of the search index (ledger_index.h), on a reader that has it attached. */
enum ledger_ix_stmt {
	LEDGER_IX_STATE, /* → upto, hash: the entries [0, upto) are indexed */
	LEDGER_IX_DAY,   /* ?1 start, ?2 end → contract, count(*) of its releases */
	LEDGER_IX_COUNT,
};

/* One SQLite handle with its prepared statements, the SQLite implementation of the ledger's
 * store (ledger_store.h); used by one thread at a time. */
struct ledger_conn {
	struct ledger_store base; /* first: a ledger_conn is a ledger_store (c->base.rd, .hc) */
	sqlite3 *db;
	bool borrowed;                     /* db is the caller's: freeing c leaves it open */
	sqlite3_stmt *st[LEDGER_ST_COUNT]; /* the readers' [0, LEDGER_ST_READER_END), all on a
	                                      writer's connection */
	sqlite3_stmt *ix[LEDGER_IX_COUNT]; /* with the index attached as "ix"; else NULL */
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
/* Attaches the search index ix_path (read-only) as "ix" and prepares its statements, if the
 * file is there; a connection without it reads every entry (the searches stay exact). */
void ledger_conn_attach_index(struct ledger_conn *c, const char *ix_path);
void ledger_conn_free(struct ledger_conn *c);
/* The connection of the caller's handle db (a transaction it holds), with the readers'
 * statements, for ledger_verify_db; freeing it leaves db open. NULL with err. */
struct ledger_conn *ledger_conn_borrow(sqlite3 *db, char *err, size_t errlen);

/* The layout this pdgate writes (meta "schema"), and the one before it, which ledger_upgrade.h
 * converts. */
#define LEDGER_SCHEMA 2
#define LEDGER_SCHEMA_OLD 1

/* On the writer's connection: WAL, synchronous=FULL, and, in a new file, the schema and the
 * meta rows of origin. A file of LEDGER_SCHEMA_OLD is left as it is (ledger_upgrade_run).
 * The stored schema into *schema. 0, or -1 with err. */
int ledger_db_init(struct ledger_conn *c, const char *origin, int *schema, char *err,
                   size_t errlen);
/* The stored schema version (0: none), or -1 if db is not a pdgate ledger (err). */
int ledger_db_schema(sqlite3 *db, char *err, size_t errlen);
/* The SQL that creates the current layout's tables and view (for ledger_upgrade.c). */
extern const char ledger_db_schema_sql[];
/* Checks the schema version (LEDGER_SCHEMA) and that the stored origin is origin (NULL: any).
 * Returns the stored origin (caller frees), or NULL with err. */
char *ledger_db_origin(sqlite3 *db, const char *origin, char *err, size_t errlen);
/* A ledger.db copied from a ledger several gateway nodes write (a PostgreSQL ledger's backup,
 * ledger_backup.h) says so in meta: `nodes` = `shared`, so that its verification (rule 5 of
 * docs/ledger.md, section 5) is the shared ledger's. Whether db's does; false if unreadable. */
#define LEDGER_DB_SHARED_SQL "INSERT INTO meta(key, value) VALUES ('nodes', 'shared')"
bool ledger_db_shared(sqlite3 *db);
/* Runs sql (no rows). 0, or -1 with err. */
int ledger_db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* Resets st and clears its bindings, for the next use. */
void ledger_st_done(sqlite3_stmt *st);
/* Runs a prepared statement that returns no rows, then ledger_st_done. 0 or -1. */
int ledger_st_exec(sqlite3_stmt *st);

/* The stored tree of c as a merkle node store (c borrowed). */
struct merkle_store ledger_conn_store(struct ledger_conn *c);
/* The number of entries (the end of the last batch). 0 or LEDGER_EIO (ledger_err.h, below). */
int ledger_conn_size(struct ledger_conn *c, uint64_t *size);
/* Loads into b the batch that holds entry index, unless b holds it already, and checks its
 * shape (n leaves). 0, LEDGER_ENOENT (no such entry), LEDGER_EIO (damaged) or LEDGER_ENOMEM. */
int ledger_conn_batch(struct ledger_conn *c, uint64_t index, struct ledger_batch_rd *b);
/* The leaf of entry index (borrowed until the next call on c), through c->rd. As
 * ledger_conn_batch. */
int ledger_conn_leaf(struct ledger_conn *c, uint64_t index, const char **leaf, size_t *len);
/* How far the attached index reaches: every entry of [0, *upto) is in it, checked against the
 * ledger (a stale or foreign index counts as none). Read before anything else of the ledger,
 * so that the ledger's snapshot holds every entry the index's does. 0 without an index. */
uint64_t ledger_conn_indexed(struct ledger_conn *c);
/* The checkpoint of size entries (0: the latest): its size and a copy of its note (caller
 * frees, len bytes, NUL-terminated). 0, LEDGER_ENOENT, LEDGER_EIO or LEDGER_ENOMEM. */
int ledger_conn_checkpoint(struct ledger_conn *c, uint64_t size, uint64_t *cp_size, char **note,
                           size_t *len);
/* The first index in [0, size] whose time is >= ms: times never decrease with the index, so a
 * time range is an index range. 0 or LEDGER_EIO. */
int ledger_conn_bisect(struct ledger_conn *c, uint64_t size, int64_t ms, uint64_t *out);

/* A reader's connection to path with its statements and the search index attached if it is
 * there: ledger_pool_reader's for a file. NULL with err. */
struct ledger_store *ledger_conn_reader(const char *path, char *err, size_t errlen);
/* The SQLite connection s is, or NULL if s is another store's. */
struct ledger_conn *ledger_conn_of(struct ledger_store *s);

/* The search index's file beside the ledger at path (caller frees), or NULL (memory). */
char *ledger_index_path(const char *path);

#endif
