/* ledger_db — inside the ledger: ledger.db's schema, connections, statements, the reader pool. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ledger_db.h"
#include "ledger_err.h"
#include "ledger_vfs.h"

#define SCHEMA_VERSION "1"
/* How long a connection waits for a lock held by another process (an administrator's sqlite3,
 * a backup) before the operation fails: the writer then fails the batch (503), never hangs. */
#define WRITER_BUSY_MS 2000
#define READER_BUSY_MS 5000

/* ------------------------------------------------------------------------------------------ */
/* Connections: one SQLite handle with its prepared statements. */

static const char *const stmt_sql[LEDGER_ST_COUNT] = {
    [LEDGER_ST_LEAF_HASH] = "SELECT hash FROM entries WHERE idx = ?1",
    [LEDGER_ST_NODE] = "SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2",
    [LEDGER_ST_MAX_IDX] = "SELECT max(idx) FROM entries",
    [LEDGER_ST_CP_LATEST] = "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
    [LEDGER_ST_CP_AT] = "SELECT size, note FROM checkpoints WHERE size = ?1",
    [LEDGER_ST_LEAVES] = "SELECT idx, leaf FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
    [LEDGER_ST_TIME_AT] = "SELECT time FROM entries WHERE idx = ?1",
    [LEDGER_ST_DAY] = "SELECT contract, count(*) FROM entries WHERE idx >= ?1 AND idx < ?2 AND "
                      "kind = 'release' AND contract IS NOT NULL GROUP BY contract",
    [LEDGER_ST_INS_ENTRY] = "INSERT INTO entries(idx, leaf, hash, time, kind, partner, contract, "
                            "purpose, subject) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [LEDGER_ST_INS_NODE] = "INSERT INTO nodes(level, idx, hash) VALUES (?1, ?2, ?3)",
    [LEDGER_ST_INS_CP] = "INSERT INTO checkpoints(size, note, time) VALUES (?1, ?2, ?3)",
    [LEDGER_ST_BEGIN] = "BEGIN IMMEDIATE",
    [LEDGER_ST_COMMIT] = "COMMIT",
    [LEDGER_ST_ROLLBACK] = "ROLLBACK",
};

/*
 * The schema (docs/ledger.md). entries.hash is the leaf hash; nodes holds every complete
 * perfect-subtree node of level >= 1, so that roots and proofs of any size cost O(log n)
 * lookups. The search columns repeat members of the leaf (verify checks they agree); time is
 * non-decreasing with idx, so a time range is found by bisecting idx and needs no index.
 */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS entries(idx INTEGER PRIMARY KEY, leaf TEXT NOT NULL,"
    " hash BLOB NOT NULL, time INTEGER NOT NULL, kind TEXT NOT NULL, partner TEXT,"
    " contract TEXT, purpose TEXT, subject TEXT);"
    "CREATE INDEX IF NOT EXISTS entries_partner ON entries(partner) WHERE partner IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS entries_subject ON entries(subject) WHERE subject IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS entries_purpose ON entries(purpose) WHERE purpose IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS entries_kind ON entries(kind);"
    "CREATE TABLE IF NOT EXISTS nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " hash BLOB NOT NULL, PRIMARY KEY(level, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL,"
    " time INTEGER NOT NULL);";

/*
 * What the query planner is told about the indexes, instead of statistics gathered by ANALYZE
 * (which reads the whole table): a subject matches a handful of entries, a partner or a purpose
 * many, a kind most. Without them SQLite may run a combined search through the kind index and
 * scan a million rows. ANALYZE of the empty new table creates sqlite_stat1; the rows are ours.
 */
static const char stats_sql[] = "DELETE FROM sqlite_stat1 WHERE tbl = 'entries';"
                                "INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES"
                                " ('entries', 'entries_subject', '1000000 4'), ('entries', "
                                "'entries_partner', '1000000 100000'),"
                                " ('entries', 'entries_purpose', '1000000 100000'), ('entries', "
                                "'entries_kind', '1000000 300000');";

void
ledger_conn_free(struct ledger_conn *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < LEDGER_ST_COUNT; i++)
		sqlite3_finalize(c->st[i]);
	sqlite3_close(c->db);
	free(c);
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
	int rc = sqlite3_step(st);
	ledger_st_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
get_hash(sqlite3_stmt *st, uint8_t out[MERKLE_HASH_LEN])
{
	int rc = -1;

	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == MERKLE_HASH_LEN) {
		memcpy(out, sqlite3_column_blob(st, 0), MERKLE_HASH_LEN);
		rc = 0;
	}
	ledger_st_done(st);
	return rc;
}

static int
store_leaf_hash(void *ctx, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	struct ledger_conn *c = ctx;

	sqlite3_bind_int64(c->st[LEDGER_ST_LEAF_HASH], 1, (sqlite3_int64)index);
	return get_hash(c->st[LEDGER_ST_LEAF_HASH], out);
}

static int
store_node_hash(void *ctx, uint64_t level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	struct ledger_conn *c = ctx;

	sqlite3_bind_int64(c->st[LEDGER_ST_NODE], 1, (sqlite3_int64)level);
	sqlite3_bind_int64(c->st[LEDGER_ST_NODE], 2, (sqlite3_int64)index);
	return get_hash(c->st[LEDGER_ST_NODE], out);
}

struct merkle_store
ledger_conn_store(struct ledger_conn *c)
{
	struct merkle_store s = {store_leaf_hash, store_node_hash, c};
	return s;
}

int
ledger_conn_size(struct ledger_conn *c, uint64_t *size)
{
	sqlite3_stmt *st = c->st[LEDGER_ST_MAX_IDX];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			*size = 0;
		else
			*size = (uint64_t)sqlite3_column_int64(st, 0) + 1;
	}
	ledger_st_done(st);
	return rc == SQLITE_ROW ? 0 : LEDGER_EIO;
}

/* The checkpoint of size (0: the latest): its size and a copy of its note. */
int
ledger_conn_checkpoint(struct ledger_conn *c, uint64_t size, uint64_t *cp_size, char **note,
                       size_t *len)
{
	sqlite3_stmt *st = c->st[size ? LEDGER_ST_CP_AT : LEDGER_ST_CP_LATEST];
	int rc;

	if (size)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);
		*cp_size = (uint64_t)sqlite3_column_int64(st, 0);
		*note = t ? strndup(t, n) : NULL;
		*len = n;
		rc = *note ? LEDGER_OK : LEDGER_ENOMEM;
	} else {
		rc = rc == SQLITE_DONE ? LEDGER_ENOENT : LEDGER_EIO;
	}
	ledger_st_done(st);
	return rc;
}

char *
ledger_db_origin(sqlite3 *db, const char *origin, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char *schema = NULL, *stored = NULL;

	if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "not a pdgate ledger: %s", sqlite3_errmsg(db));
		return NULL;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *v = (const char *)sqlite3_column_text(st, 1);
		if (k && v && strcmp(k, "schema") == 0 && schema == NULL)
			schema = strdup(v);
		else if (k && v && strcmp(k, "origin") == 0 && stored == NULL)
			stored = strdup(v);
	}
	sqlite3_finalize(st);
	if (schema == NULL || strcmp(schema, SCHEMA_VERSION) != 0) {
		snprintf(err, errlen, "ledger schema %s, this pdgate reads %s",
		         schema ? schema : "missing", SCHEMA_VERSION);
		goto fail;
	}
	if (stored == NULL) {
		snprintf(err, errlen, "ledger has no origin");
		goto fail;
	}
	if (origin != NULL && strcmp(origin, stored) != 0) {
		snprintf(err, errlen, "ledger origin is '%s', the configuration says '%s'", stored,
		         origin);
		goto fail;
	}
	free(schema);
	return stored;
fail:
	free(schema);
	free(stored);
	return NULL;
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

/* WAL, synchronous=FULL, the schema and meta rows. */
int
ledger_db_init(struct ledger_conn *c, const char *origin, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int wal = 0;

	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(st, 0);
		wal = mode && strcmp(mode, "wal") == 0;
	}
	sqlite3_finalize(st);
	if (!wal) {
		snprintf(err, errlen, "cannot set WAL mode: %s", sqlite3_errmsg(c->db));
		return -1;
	}
	/* The cache holds the hot index pages of a large ledger, so a commit rarely reads. */
	if (ledger_db_exec(c->db, "PRAGMA synchronous=FULL", err, errlen) < 0 ||
	    ledger_db_exec(c->db, "PRAGMA cache_size=-32768", err, errlen) < 0 ||
	    ledger_db_exec(c->db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	if (ledger_db_exec(c->db, schema_sql, err, errlen) < 0 ||
	    sqlite3_prepare_v2(c->db,
	                       "INSERT OR IGNORE INTO meta(key, value) VALUES "
	                       "('schema', '" SCHEMA_VERSION "'), ('origin', ?1)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'", -1,
	                       &st, NULL) != SQLITE_OK)
		goto fail;
	int have_stats = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	st = NULL;
	if ((!have_stats && ledger_db_exec(c->db, "ANALYZE entries", err, errlen) < 0) ||
	    ledger_db_exec(c->db, stats_sql, err, errlen) < 0 ||
	    ledger_db_exec(c->db, "COMMIT", err, errlen) < 0 ||
	    ledger_db_exec(c->db, "ANALYZE sqlite_schema", err, errlen) < 0)
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
	sqlite3_stmt *st = c->st[LEDGER_ST_TIME_AT];
	uint64_t lo = 0, hi = size;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)mid);
		if (sqlite3_step(st) != SQLITE_ROW) {
			ledger_st_done(st);
			return LEDGER_EIO;
		}
		int64_t t = sqlite3_column_int64(st, 0);
		ledger_st_done(st);
		if (t < ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	*out = lo;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The reader pool. */

struct ledger_pool {
	pthread_mutex_t lock;
	pthread_cond_t cv;        /* a connection was given back */
	struct ledger_conn *free; /* the connections not lent, linked by next */
	struct ledger_conn **all; /* n of them, for freeing */
	unsigned n;
};

struct ledger_pool *
ledger_pool_open(const char *path, unsigned n, char *err, size_t errlen)
{
	struct ledger_pool *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->all = calloc(n, sizeof(*p->all))) == NULL) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (; p->n < n; p->n++) {
		struct ledger_conn *c = ledger_conn_open(path, false, err, errlen);
		p->all[p->n] = c;
		if (c == NULL || ledger_conn_prepare(c, false, err, errlen) < 0) {
			p->n += c != NULL;
			ledger_pool_free(p);
			return NULL;
		}
		c->next = p->free;
		p->free = c;
	}
	return p;
}

void
ledger_pool_free(struct ledger_pool *p)
{
	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->n; i++)
		ledger_conn_free(p->all[i]);
	free(p->all);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cv);
	free(p);
}

struct ledger_conn *
ledger_pool_get(struct ledger_pool *p)
{
	struct ledger_conn *c;

	pthread_mutex_lock(&p->lock);
	while (p->free == NULL)
		pthread_cond_wait(&p->cv, &p->lock);
	c = p->free;
	p->free = c->next;
	pthread_mutex_unlock(&p->lock);
	return c;
}

void
ledger_pool_put(struct ledger_pool *p, struct ledger_conn *c)
{
	pthread_mutex_lock(&p->lock);
	c->next = p->free;
	p->free = c;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->lock);
}
