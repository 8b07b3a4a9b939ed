/* ledger_db — inside the ledger: ledger.db's schema, connections, statements, the reader pool. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ledger_batch.h"
#include "ledger_db.h"
#include "ledger_err.h"
#include "ledger_vfs.h"

/* How long a connection waits for a lock held by another process (an administrator's sqlite3,
 * a backup) before the operation fails: the writer then fails the batch (503), never hangs. */
#define WRITER_BUSY_MS 2000
#define READER_BUSY_MS 5000

/* ------------------------------------------------------------------------------------------ */
/* Connections: one SQLite handle with its prepared statements. */

static const struct ledger_store_ops sqlite_ops;

static const char *const stmt_sql[LEDGER_ST_COUNT] = {
    [LEDGER_ST_BATCH_AT] = "SELECT first, n, time, hashes FROM batches WHERE first <= ?1 ORDER "
                           "BY first DESC LIMIT 1",
    [LEDGER_ST_LEAVES_AT] = "SELECT first, n, time, leaves FROM batches WHERE first <= ?1 "
                            "ORDER BY first DESC LIMIT 1",
    [LEDGER_ST_SIZE] = "SELECT first + n FROM batches ORDER BY first DESC LIMIT 1",
    [LEDGER_ST_CP_LATEST] = "SELECT size, note, time FROM checkpoints ORDER BY size DESC LIMIT 1",
    [LEDGER_ST_CP_AT] = "SELECT size, note, time FROM checkpoints WHERE size = ?1",
    [LEDGER_ST_TIP] = "SELECT first + n, time FROM batches ORDER BY first DESC LIMIT 1",
    [LEDGER_ST_INS_BATCH] = "INSERT INTO batches(first, n, time, hashes, leaves) VALUES (?1, ?2, "
                            "?3, ?4, ?5)",
    [LEDGER_ST_INS_CP] = "INSERT INTO checkpoints(size, note, time) VALUES (?1, ?2, ?3)",
    [LEDGER_ST_BEGIN] = "BEGIN IMMEDIATE",
    [LEDGER_ST_COMMIT] = "COMMIT",
    [LEDGER_ST_ROLLBACK] = "ROLLBACK",
};

static const char *const ix_sql[LEDGER_IX_COUNT] = {
    [LEDGER_IX_STATE] = "SELECT upto, hash FROM ix.state WHERE id = 0",
    [LEDGER_IX_DAY] = "SELECT contract, count(*) FROM ix.rows WHERE idx >= ?1 AND idx < ?2 AND "
                      "kind = 'release' AND contract IS NOT NULL GROUP BY contract",
};

/*
 * The schema (docs/ledger.md, section 4). One row per group commit: the batch's leaves as a
 * JSON array of strings and its hashes (the leaf hashes, then the tree nodes its entries
 * complete), in the format of ledger_batch.h. Every entry of a batch has the batch's time, and
 * times never decrease with first, so a time range is found by bisection. The view `entries`
 * shows one row per entry, for people reading the file with sqlite3; pdgate reads batches.
 * The search index is derived from the batches in a file of its own (ledger_index.h).
 */
const char ledger_db_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS batches(first INTEGER PRIMARY KEY, n INTEGER NOT NULL,"
    " time INTEGER NOT NULL, hashes BLOB NOT NULL, leaves TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL,"
    " time INTEGER NOT NULL);"
    "CREATE VIEW IF NOT EXISTS entries(idx, leaf, time) AS SELECT b.first + j.key, j.value,"
    " b.time FROM batches AS b, json_each(b.leaves) AS j;";

struct ledger_conn *
ledger_conn_of(struct ledger_store *s)
{
	return s->ops == &sqlite_ops ? (struct ledger_conn *)s : NULL;
}

void
ledger_conn_free(struct ledger_conn *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < LEDGER_ST_COUNT; i++)
		sqlite3_finalize(c->st[i]);
	for (int i = 0; i < LEDGER_IX_COUNT; i++)
		sqlite3_finalize(c->ix[i]);
	ledger_store_clear(&c->base);
	if (!c->borrowed)
		sqlite3_close(c->db);
	free(c);
}

struct ledger_conn *
ledger_conn_borrow(sqlite3 *db, char *err, size_t errlen)
{
	struct ledger_conn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->base.ops = &sqlite_ops;
	c->db = db;
	c->borrowed = true;
	if (ledger_conn_prepare(c, false, err, errlen) < 0) {
		ledger_conn_free(c);
		return NULL;
	}
	return c;
}

/* Opens path; busy_timeout is set before anything can touch the file's locks. */
struct ledger_conn *
ledger_conn_open(const char *path, bool writer, char *err, size_t errlen)
{
	struct ledger_conn *c = calloc(1, sizeof(*c));
	int flags = writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
	int rc;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->base.ops = &sqlite_ops;
	/* The writer's WAL writes are gathered (ledger_vfs); readers write nothing. */
	rc = sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX,
	                     writer ? ledger_vfs_name() : NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, writer ? WRITER_BUSY_MS : READER_BUSY_MS);
	sqlite3_extended_result_codes(c->db, 1);
	return c;
fail:
	ledger_conn_free(c);
	return NULL;
}

/*
 * The writer's own checkpoints never wait for a reader: with the busy handler off, a FULL
 * checkpoint copies what no reader's snapshot still needs and returns SQLITE_BUSY instead of
 * waiting for the others. With it on, a long read transaction (a backup's snapshot, which
 * holds the WAL's frames back) would hold the writer, and every commit behind it, for the
 * busy timeout at each commit past CKPT_HARD.
 */
int
ledger_conn_wal_checkpoint(struct ledger_conn *c, int mode)
{
	int rc;

	sqlite3_busy_handler(c->db, NULL, NULL);
	rc = sqlite3_wal_checkpoint_v2(c->db, NULL, mode, NULL, NULL);
	sqlite3_busy_timeout(c->db, WRITER_BUSY_MS);
	return rc;
}

int
ledger_conn_prepare(struct ledger_conn *c, bool writer, char *err, size_t errlen)
{
	int n = writer ? LEDGER_ST_COUNT : LEDGER_ST_READER_END;

	for (int i = 0; i < n; i++)
		if (sqlite3_prepare_v3(c->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
		                       NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
			return -1;
		}
	return 0;
}

void
ledger_st_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows. */
int
ledger_st_exec(sqlite3_stmt *st)
{
	/* a writer's statement on a reader's connection is not prepared: a bug, not a failure */
	assert(st != NULL);
	int rc = sqlite3_step(st);
	ledger_st_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

void
ledger_conn_attach_index(struct ledger_conn *c, const char *ix_path)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;

	if (access(ix_path, F_OK) != 0 ||
	    sqlite3_prepare_v2(c->db, "ATTACH DATABASE ?1 AS ix", -1, &st, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_text(st, 1, ix_path, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto done;
	ok = true;
	for (int i = 0; i < LEDGER_IX_COUNT && ok; i++)
		ok = sqlite3_prepare_v3(c->db, ix_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->ix[i],
		                        NULL) == SQLITE_OK;
done:
	sqlite3_finalize(st);
	if (!ok) {
		/* no index, or not one this pdgate reads: every search reads the batches */
		for (int i = 0; i < LEDGER_IX_COUNT; i++) {
			sqlite3_finalize(c->ix[i]);
			c->ix[i] = NULL;
		}
	}
}

/* ------------------------------------------------------------------------------------------ */
/* The store's operations on SQLite (ledger_store.h). */

static struct ledger_conn *
conn_of(struct ledger_store *s)
{
	return (struct ledger_conn *)s;
}

static int
sq_size(struct ledger_store *s, uint64_t *size)
{
	sqlite3_stmt *st = conn_of(s)->st[LEDGER_ST_SIZE];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		*size = (uint64_t)sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		*size = 0;
	ledger_st_done(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : LEDGER_EIO;
}

static int
sq_batch(struct ledger_store *s, uint64_t e, uint64_t *first, uint64_t *n, int64_t *time,
         struct ledger_hashes *hc, struct ledger_batch_rd *b)
{
	sqlite3_stmt *st = conn_of(s)->st[b ? LEDGER_ST_LEAVES_AT : LEDGER_ST_BATCH_AT];
	int rc = LEDGER_EIO, step;

	assert(hc == NULL || b == NULL);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)e);
	if ((step = sqlite3_step(st)) != SQLITE_ROW) {
		rc = step == SQLITE_DONE ? LEDGER_ENOENT : LEDGER_EIO;
		goto done;
	}
	sqlite3_int64 f = sqlite3_column_int64(st, 0), c = sqlite3_column_int64(st, 1);
	if (f < 0 || c <= 0 || c > (sqlite3_int64)LEDGER_BATCH_MAX_ENTRIES || (uint64_t)f > e)
		goto done;
	*first = (uint64_t)f;
	*n = (uint64_t)c;
	*time = sqlite3_column_int64(st, 2);
	rc = 0;
	if (hc != NULL)
		rc = ledger_store_keep_hashes(hc, *first, *n, sqlite3_column_blob(st, 3),
		                              (size_t)sqlite3_column_bytes(st, 3));
	else if (b != NULL)
		rc = ledger_store_keep_leaves(b, *first, *n, *time,
		                              (const char *)sqlite3_column_text(st, 3),
		                              (size_t)sqlite3_column_bytes(st, 3));
done:
	ledger_st_done(st);
	return rc;
}

static int
sq_checkpoint(struct ledger_store *s, uint64_t size, uint64_t *cp_size, char **note, size_t *len,
              int64_t *time)
{
	sqlite3_stmt *st = conn_of(s)->st[size ? LEDGER_ST_CP_AT : LEDGER_ST_CP_LATEST];
	int rc;

	if (size)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);
		*cp_size = (uint64_t)sqlite3_column_int64(st, 0);
		assert(size == 0 || *cp_size == size);
		*note = t ? strndup(t, n) : NULL;
		*len = n;
		if (time != NULL)
			*time = sqlite3_column_int64(st, 2);
		rc = *note ? LEDGER_OK : LEDGER_ENOMEM;
	} else {
		rc = rc == SQLITE_DONE ? LEDGER_ENOENT : LEDGER_EIO;
	}
	ledger_st_done(st);
	return rc;
}

static int
sq_snapshot_begin(struct ledger_store *s)
{
	return sqlite3_exec(conn_of(s)->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0
	                                                                            : LEDGER_EIO;
}

static void
sq_snapshot_end(struct ledger_store *s)
{
	sqlite3_exec(conn_of(s)->db, "COMMIT", NULL, NULL, NULL);
}

static int
sq_scan_batches(struct ledger_store *s,
                int (*fn)(void *arg, int64_t first, int64_t n, int64_t time, const uint8_t *hashes,
                          size_t hlen, const char *leaves, size_t llen),
                void *arg)
{
	sqlite3 *db = conn_of(s)->db;
	sqlite3_stmt *st = NULL;
	int rc = 0, step = SQLITE_DONE;

	if (sqlite3_prepare_v2(db,
	                       "SELECT first, n, time, hashes, leaves FROM batches ORDER BY first",
	                       -1, &st, NULL) != SQLITE_OK)
		return LEDGER_EIO;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = fn(arg, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
		        sqlite3_column_int64(st, 2), sqlite3_column_blob(st, 3),
		        (size_t)sqlite3_column_bytes(st, 3),
		        (const char *)sqlite3_column_text(st, 4),
		        (size_t)sqlite3_column_bytes(st, 4));
	if (rc == 0 && step != SQLITE_DONE)
		rc = LEDGER_EIO;
	sqlite3_finalize(st);
	return rc;
}

static int
sq_scan_checkpoints(struct ledger_store *s,
                    int (*fn)(void *arg, int64_t size, const char *note, size_t len, int64_t time),
                    void *arg)
{
	sqlite3 *db = conn_of(s)->db;
	sqlite3_stmt *st = NULL;
	int rc = 0, step = SQLITE_DONE;

	if (sqlite3_prepare_v2(db, "SELECT size, note, time FROM checkpoints ORDER BY size", -1,
	                       &st, NULL) != SQLITE_OK)
		return LEDGER_EIO;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = fn(arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
		        (size_t)sqlite3_column_bytes(st, 1), sqlite3_column_int64(st, 2));
	if (rc == 0 && step != SQLITE_DONE)
		rc = LEDGER_EIO;
	sqlite3_finalize(st);
	return rc;
}

/* The write lock of the file (BEGIN IMMEDIATE) is the lock on the tree state. */
static int
sq_begin(struct ledger_store *s, struct ledger_tip *tip)
{
	struct ledger_conn *c = conn_of(s);
	sqlite3_stmt *st = c->st[LEDGER_ST_TIP];
	int step;

	if (ledger_st_exec(c->st[LEDGER_ST_BEGIN]) < 0)
		return LEDGER_EIO;
	tip->size = 0;
	tip->time = 0;
	if ((step = sqlite3_step(st)) == SQLITE_ROW) {
		tip->size = (uint64_t)sqlite3_column_int64(st, 0);
		tip->time = sqlite3_column_int64(st, 1);
	}
	ledger_st_done(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		ledger_st_exec(c->st[LEDGER_ST_ROLLBACK]);
		return LEDGER_EIO;
	}
	return 0;
}

static int
sq_put_batch(struct ledger_store *s, uint64_t first, uint64_t n, int64_t time,
             const uint8_t *hashes, size_t hlen, const char *leaves, size_t llen)
{
	sqlite3_stmt *st = conn_of(s)->st[LEDGER_ST_INS_BATCH];

	if (hlen > INT32_MAX || llen > INT32_MAX)
		return LEDGER_EINVAL;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)first);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
	sqlite3_bind_int64(st, 3, time);
	sqlite3_bind_blob(st, 4, hashes, (int)hlen, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, leaves, (int)llen, SQLITE_STATIC);
	return ledger_st_exec(st) == 0 ? 0 : LEDGER_EIO;
}

static int
sq_put_checkpoint(struct ledger_store *s, uint64_t size, const char *note, size_t len, int64_t time)
{
	sqlite3_stmt *st = conn_of(s)->st[LEDGER_ST_INS_CP];

	if (len > INT32_MAX)
		return LEDGER_EINVAL;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
	sqlite3_bind_text(st, 2, note, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, time);
	return ledger_st_exec(st) == 0 ? 0 : LEDGER_EIO;
}

/* With synchronous=FULL, on disk once COMMIT returned. */
static int
sq_commit(struct ledger_store *s)
{
	struct ledger_conn *c = conn_of(s);

	if (ledger_st_exec(c->st[LEDGER_ST_COMMIT]) < 0)
		return LEDGER_EIO;
	assert(sqlite3_get_autocommit(c->db));
	return 0;
}

static void
sq_rollback(struct ledger_store *s)
{
	struct ledger_conn *c = conn_of(s);

	if (!sqlite3_get_autocommit(c->db))
		ledger_st_exec(c->st[LEDGER_ST_ROLLBACK]);
}

/* A transaction that writes and syncs a page of meta and leaves its content as it was (an
 * update to the same value would write nothing). */
static int
sq_probe(struct ledger_store *s)
{
	struct ledger_conn *c = conn_of(s);
	int ok = sqlite3_exec(c->db,
	                      "BEGIN IMMEDIATE; INSERT OR REPLACE INTO meta(key, value) VALUES "
	                      "('probe', ''); DELETE FROM meta WHERE key = 'probe'; COMMIT",
	                      NULL, NULL, NULL) == SQLITE_OK;

	return ok ? 0 : LEDGER_EIO;
}

static const char *
sq_errmsg(struct ledger_store *s)
{
	return sqlite3_errmsg(conn_of(s)->db);
}

static void
sq_free(struct ledger_store *s)
{
	ledger_conn_free(conn_of(s));
}

/* The witnesses' cosignatures (ledger_cosig.h), in a table made by the first writer that
 * stores one: a ledger older than the table has none. */
static const char cosig_schema[] =
    "CREATE TABLE IF NOT EXISTS cosignatures(size INTEGER NOT NULL, witness TEXT NOT NULL,"
    " time INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY(size, witness)) WITHOUT ROWID";

static int
sq_cosig_open(struct ledger_store *s)
{
	sqlite3 *db = conn_of(s)->db;

	return sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) == SQLITE_OK &&
	               sqlite3_exec(db, cosig_schema, NULL, NULL, NULL) == SQLITE_OK
	           ? 0
	           : LEDGER_EIO;
}

static int
sq_cosig_put(struct ledger_store *s, uint64_t size, const char *witness, uint64_t ts,
             const char *line, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc = LEDGER_EIO;

	if (len > INT32_MAX || size > INT64_MAX || ts > INT64_MAX)
		return LEDGER_EINVAL;
	if (sqlite3_prepare_v2(conn_of(s)->db,
	                       "INSERT OR IGNORE INTO cosignatures(size, witness, time, line) "
	                       "VALUES (?1, ?2, ?3, ?4)",
	                       -1, &st, NULL) != SQLITE_OK)
		return LEDGER_EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
	sqlite3_bind_text(st, 2, witness, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ts);
	sqlite3_bind_text(st, 4, line, (int)len, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

/* Whether the last statement failed for want of the cosignatures table. */
static bool
no_cosig_table(sqlite3 *db)
{
	return strstr(sqlite3_errmsg(db), "no such table") != NULL;
}

static int
sq_cosig_lines(struct ledger_store *s, uint64_t size,
               int (*fn)(void *arg, const char *line, size_t len), void *arg)
{
	sqlite3 *db = conn_of(s)->db;
	sqlite3_stmt *st = NULL;
	int rc = 0, step = SQLITE_DONE;

	if (sqlite3_prepare_v2(db, "SELECT line FROM cosignatures WHERE size = ?1 ORDER BY witness",
	                       -1, &st, NULL) != SQLITE_OK)
		return no_cosig_table(db) ? 0 : LEDGER_EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = fn(arg, (const char *)sqlite3_column_text(st, 0),
		        (size_t)sqlite3_column_bytes(st, 0));
	if (rc == 0 && step != SQLITE_DONE)
		rc = LEDGER_EIO;
	sqlite3_finalize(st);
	return rc;
}

static int
sq_cosig_newest(struct ledger_store *s, unsigned n, const char *witness, uint64_t *size)
{
	sqlite3 *db = conn_of(s)->db;
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	*size = 0;
	if (sqlite3_prepare_v2(db,
	                       witness ? "SELECT max(size) FROM cosignatures WHERE witness = ?1"
	                               : "SELECT size FROM cosignatures GROUP BY size HAVING "
	                                 "count(*) >= ?1 ORDER BY size DESC LIMIT 1",
	                       -1, &st, NULL) != SQLITE_OK)
		return no_cosig_table(db) ? 0 : LEDGER_EIO;
	if (witness)
		sqlite3_bind_text(st, 1, witness, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, n);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER &&
	    sqlite3_column_int64(st, 0) >= 0)
		*size = (uint64_t)sqlite3_column_int64(st, 0);
	else if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = LEDGER_EIO;
	sqlite3_finalize(st);
	return rc;
}

static int
sq_cosig_scan(struct ledger_store *s, uint64_t upto,
              int (*fn)(void *arg, uint64_t size, const char *witness, uint64_t ts,
                        const char *line, size_t len),
              void *arg)
{
	sqlite3 *db = conn_of(s)->db;
	sqlite3_stmt *st = NULL;
	int rc = 0, step = SQLITE_DONE;

	if (sqlite3_prepare_v2(
	        db,
	        "SELECT size, witness, time, line FROM cosignatures WHERE size <= ?1 "
	        "ORDER BY size, witness",
	        -1, &st, NULL) != SQLITE_OK)
		return no_cosig_table(db) ? 0 : LEDGER_EIO;
	sqlite3_bind_int64(st, 1, upto > INT64_MAX ? INT64_MAX : (sqlite3_int64)upto);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 size = sqlite3_column_int64(st, 0), t = sqlite3_column_int64(st, 2);
		const char *w = (const char *)sqlite3_column_text(st, 1);
		const char *line = (const char *)sqlite3_column_text(st, 3);
		if (size <= 0 || t < 0 || w == NULL || line == NULL) {
			rc = LEDGER_EIO; /* not a row pdgate wrote */
			break;
		}
		rc = fn(arg, (uint64_t)size, w, (uint64_t)t, line,
		        (size_t)sqlite3_column_bytes(st, 3));
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = LEDGER_EIO;
	sqlite3_finalize(st);
	return rc;
}

static const struct ledger_store_ops sqlite_ops = {
    .kind = "sqlite",
    .size = sq_size,
    .batch = sq_batch,
    .checkpoint = sq_checkpoint,
    .snapshot_begin = sq_snapshot_begin,
    .snapshot_end = sq_snapshot_end,
    .scan_batches = sq_scan_batches,
    .scan_checkpoints = sq_scan_checkpoints,
    .begin = sq_begin,
    .put_batch = sq_put_batch,
    .put_checkpoint = sq_put_checkpoint,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .probe = sq_probe,
    .errmsg = sq_errmsg,
    .free = sq_free,
    .cosig_open = sq_cosig_open,
    .cosig_put = sq_cosig_put,
    .cosig_lines = sq_cosig_lines,
    .cosig_newest = sq_cosig_newest,
    .cosig_scan = sq_cosig_scan,
};

struct merkle_store
ledger_conn_store(struct ledger_conn *c)
{
	return ledger_store_tree(&c->base);
}

int
ledger_conn_size(struct ledger_conn *c, uint64_t *size)
{
	return sq_size(&c->base, size);
}

int
ledger_conn_batch(struct ledger_conn *c, uint64_t index, struct ledger_batch_rd *b)
{
	return ledger_store_batch(&c->base, index, b);
}

int
ledger_conn_leaf(struct ledger_conn *c, uint64_t index, const char **leaf, size_t *len)
{
	return ledger_store_leaf(&c->base, index, leaf, len);
}

uint64_t
ledger_conn_indexed(struct ledger_conn *c)
{
	sqlite3_stmt *st = c->ix[LEDGER_IX_STATE];
	struct merkle_store s = ledger_conn_store(c);
	uint8_t want[MERKLE_HASH_LEN], have[MERKLE_HASH_LEN];
	uint64_t upto = 0;
	bool has = false;

	if (st == NULL)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0 &&
	    sqlite3_column_bytes(st, 1) == MERKLE_HASH_LEN) {
		upto = (uint64_t)sqlite3_column_int64(st, 0);
		memcpy(want, sqlite3_column_blob(st, 1), MERKLE_HASH_LEN);
		has = true;
	}
	ledger_st_done(st);
	/* The index's last entry is the ledger's: the same leaf hash (which covers its index and
	 * time). A restored or replaced ledger.db beside an old index matches nothing. */
	if (!has || s.leaf_hash(s.ctx, upto - 1, have) < 0 ||
	    memcmp(want, have, MERKLE_HASH_LEN) != 0)
		return 0;
	return upto;
}

/* The checkpoint of size (0: the latest): its size and a copy of its note. */
int
ledger_conn_checkpoint(struct ledger_conn *c, uint64_t size, uint64_t *cp_size, char **note,
                       size_t *len)
{
	return sq_checkpoint(&c->base, size, cp_size, note, len, NULL);
}

int
ledger_db_schema(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int v = 0, rc;

	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "not a pdgate ledger: %s", sqlite3_errmsg(db));
		return -1;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		v = t && strcmp(t, "1") == 0 ? 1 : t && strcmp(t, "2") == 0 ? 2 : -1;
		if (v < 0)
			snprintf(err, errlen, "ledger schema %s, this pdgate reads %d", t ? t : "?",
			         LEDGER_SCHEMA);
	} else if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		v = -1;
	}
	sqlite3_finalize(st);
	return v;
}

char *
ledger_db_origin(sqlite3 *db, const char *origin, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char *stored = NULL;
	int schema = ledger_db_schema(db, err, errlen);

	if (schema < 0)
		return NULL;
	if (schema != LEDGER_SCHEMA) {
		if (schema == LEDGER_SCHEMA_OLD)
			snprintf(
			    err, errlen,
			    "ledger schema %d (an earlier pdgate's): run pdgate ledger upgrade, "
			    "or start the gateway, which upgrades it",
			    schema);
		else
			snprintf(err, errlen, "ledger schema missing, this pdgate reads %d",
			         LEDGER_SCHEMA);
		return NULL;
	}
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'origin'", -1, &st, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "not a pdgate ledger: %s", sqlite3_errmsg(db));
		return NULL;
	}
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		stored = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (stored == NULL) {
		snprintf(err, errlen, "ledger has no origin");
		goto fail;
	}
	if (origin != NULL && strcmp(origin, stored) != 0) {
		snprintf(err, errlen, "ledger origin is '%s', the configuration says '%s'", stored,
		         origin);
		goto fail;
	}
	return stored;
fail:
	free(stored);
	return NULL;
}

bool
ledger_db_shared(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	bool shared = false;

	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'nodes'", -1, &st, NULL) ==
	        SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		shared = v != NULL && strcmp(v, "shared") == 0;
	}
	sqlite3_finalize(st);
	return shared;
}

int
ledger_db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* WAL, synchronous=FULL, and in a new file the schema and meta rows. */
int
ledger_db_init(struct ledger_conn *c, const char *origin, int *schema, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int wal = 0;

	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(st, 0);
		wal = mode && strcmp(mode, "wal") == 0;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (!wal) {
		snprintf(err, errlen, "cannot set WAL mode: %s", sqlite3_errmsg(c->db));
		return -1;
	}
	/* The cache holds the last batches and the pages a commit appends to. */
	if (ledger_db_exec(c->db, "PRAGMA synchronous=FULL", err, errlen) < 0 ||
	    ledger_db_exec(c->db, "PRAGMA cache_size=-32768", err, errlen) < 0 ||
	    ledger_db_exec(c->db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	if (ledger_db_exec(c->db,
	                   "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT "
	                   "NULL) WITHOUT ROWID",
	                   err, errlen) < 0 ||
	    (*schema = ledger_db_schema(c->db, err, errlen)) < 0)
		goto fail;
	if (*schema == 0) {
		if (ledger_db_exec(c->db, ledger_db_schema_sql, err, errlen) < 0 ||
		    sqlite3_prepare_v2(c->db,
		                       "INSERT INTO meta(key, value) VALUES ('schema', '2'), "
		                       "('origin', ?1)",
		                       -1, &st, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
		sqlite3_finalize(st);
		st = NULL;
		*schema = LEDGER_SCHEMA;
	}
	if (ledger_db_exec(c->db, "COMMIT", err, errlen) < 0)
		goto fail;
	return 0;
fail:
	if (st != NULL) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		sqlite3_finalize(st);
	}
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
ledger_conn_bisect(struct ledger_conn *c, uint64_t size, int64_t ms, uint64_t *out)
{
	return ledger_store_bisect(&c->base, size, ms, out);
}

struct ledger_store *
ledger_conn_reader(const char *path, char *err, size_t errlen)
{
	char *ix = ledger_index_path(path);
	struct ledger_conn *c = ix ? ledger_conn_open(path, false, err, errlen) : NULL;

	if (ix == NULL)
		snprintf(err, errlen, "out of memory");
	if (c != NULL && ledger_conn_prepare(c, false, err, errlen) < 0) {
		ledger_conn_free(c);
		c = NULL;
	}
	if (c != NULL)
		ledger_conn_attach_index(c, ix);
	free(ix);
	return c ? &c->base : NULL;
}

char *
ledger_index_path(const char *path)
{
	size_t n = strlen(path);
	char *p = malloc(n + sizeof("-index"));

	if (p != NULL) {
		memcpy(p, path, n);
		memcpy(p + n, "-index", sizeof("-index"));
	}
	return p;
}
