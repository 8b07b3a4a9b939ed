/* ledger_index — inside the ledger: the search index, derived from committed batches. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ledger_db.h"
#include "ledger_index.h"
#include "ledger_leaf.h"
#include "now.h"

/* Entries per transaction of the follower: long enough to amortise its commit, short enough
 * that a reader's snapshot of the index is never far behind. */
#define CHUNK 4096
/* After a failed transaction (disk full) the follower tries again this much later. */
#define RETRY_MS 1000
/* Under load the follower gathers at least GATHER entries, or waits GATHER_MS at most, before
 * a transaction: the pages every transaction rewrites (the ends of the indexes) are written
 * once for many commits. Searches read the entries it has not reached from the batches. */
#define GATHER 512
#define GATHER_MS 20

/*
 * A subject matches a handful of entries, a partner or a purpose many, a kind most: what the
 * planner is told instead of ANALYZE (which reads the whole table), so that a combined search
 * goes through the rarest. ANALYZE of the empty new table creates sqlite_stat1; the rows are
 * ours.
 */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS state(id INTEGER PRIMARY KEY CHECK (id = 0),"
    " upto INTEGER NOT NULL, hash BLOB);"
    "INSERT OR IGNORE INTO state(id, upto, hash) VALUES (0, 0, NULL);"
    "CREATE TABLE IF NOT EXISTS rows(idx INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
    " partner TEXT, contract TEXT, purpose TEXT, subject TEXT);"
    "CREATE INDEX IF NOT EXISTS rows_partner ON rows(partner) WHERE partner IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS rows_subject ON rows(subject) WHERE subject IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS rows_purpose ON rows(purpose) WHERE purpose IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS rows_kind ON rows(kind);"
    "ANALYZE rows;"
    "DELETE FROM sqlite_stat1 WHERE tbl = 'rows';"
    "INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES ('rows', 'rows_subject', '1000000 4'),"
    " ('rows', 'rows_partner', '1000000 100000'), ('rows', 'rows_purpose', '1000000 100000'),"
    " ('rows', 'rows_kind', '1000000 300000');";

struct ledger_index {
	struct log *log;
	struct ledger_conn *r;    /* reads ledger.db (the follower's own) */
	sqlite3 *w;               /* the index database */
	sqlite3_stmt *ins, *set;  /* a row; the state */
	struct ledger_leaf *leaf; /* the entry being indexed */

	pthread_mutex_t lock;
	pthread_cond_t cv; /* more was committed, or stop */
	uint64_t size;     /* the ledger's size, as the writer last said */
	uint64_t upto;     /* indexed: [0, upto) (the follower's) */
	int stop;
	pthread_t thread;
	int started;
};

static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Indexes the entries [a, b) in one transaction. 0 or -1 (rolled back). */
static int
index_range(struct ledger_index *x, uint64_t a, uint64_t b)
{
	struct merkle_store s = ledger_conn_store(x->r);
	uint8_t hash[MERKLE_HASH_LEN];

	if (exec(x->w, "BEGIN IMMEDIATE") < 0)
		return -1;
	for (uint64_t i = a; i < b; i++) {
		const char *text;
		size_t len;
		if (ledger_conn_leaf(x->r, i, &text, &len) != 0 ||
		    ledger_leaf_parse(text, len, x->leaf) < 0 || x->leaf->index != i)
			goto fail; /* damaged: verify names it; the readers read the leaves */
		const struct ledger_entry *e = &x->leaf->e;
		sqlite3_bind_int64(x->ins, 1, (sqlite3_int64)i);
		sqlite3_bind_text(x->ins, 2, ledger_kind_name(e->kind), -1, SQLITE_STATIC);
		sqlite3_bind_text(x->ins, 3, e->partner, -1, SQLITE_STATIC);
		sqlite3_bind_text(x->ins, 4, e->contract, -1, SQLITE_STATIC);
		sqlite3_bind_text(x->ins, 5, e->purpose, -1, SQLITE_STATIC);
		sqlite3_bind_text(x->ins, 6, e->subject, -1, SQLITE_STATIC);
		if (ledger_st_exec(x->ins) < 0)
			goto fail;
	}
	if (s.leaf_hash(s.ctx, b - 1, hash) < 0)
		goto fail;
	sqlite3_bind_int64(x->set, 1, (sqlite3_int64)b);
	sqlite3_bind_blob(x->set, 2, hash, MERKLE_HASH_LEN, SQLITE_STATIC);
	if (ledger_st_exec(x->set) < 0 || exec(x->w, "COMMIT") < 0)
		goto fail;
	return 0;
fail:
	exec(x->w, "ROLLBACK");
	return -1;
}

static void *
follower_main(void *arg)
{
	struct ledger_index *x = arg;
	bool failing = false;

	int64_t since = 0; /* when entries began to wait for the follower (monotonic ms) */

	pthread_mutex_lock(&x->lock);
	while (!x->stop) {
		if (x->upto >= x->size) {
			since = 0;
			pthread_cond_wait(&x->cv, &x->lock);
			continue;
		}
		int64_t now = now_mono_ms();
		if (since == 0)
			since = now;
		if (x->size - x->upto < GATHER && now < since + GATHER_MS) {
			struct timespec ts;
			int64_t at = since + GATHER_MS;
			ts.tv_sec = (time_t)(at / 1000);
			ts.tv_nsec = (long)(at % 1000) * 1000000;
			pthread_cond_timedwait(&x->cv, &x->lock, &ts);
			continue;
		}
		since = 0;
		uint64_t a = x->upto, b = x->size - a > CHUNK ? a + CHUNK : x->size;
		pthread_mutex_unlock(&x->lock);
		int rc = index_range(x, a, b);
		if (rc < 0 && !failing)
			log_msg(x->log, "warn",
			        "ledger: cannot index entries %" PRIu64 "..%" PRIu64
			        " (%s): searches read them from the ledger meanwhile",
			        a, b - 1, sqlite3_errmsg(x->w));
		else if (rc == 0 && failing)
			log_msg(x->log, "info", "ledger: indexing again");
		failing = rc < 0;
		pthread_mutex_lock(&x->lock);
		if (rc == 0) {
			x->upto = b;
		} else {
			struct timespec ts;
			int64_t at = now_mono_ms() + RETRY_MS;
			ts.tv_sec = (time_t)(at / 1000);
			ts.tv_nsec = (long)(at % 1000) * 1000000;
			pthread_cond_timedwait(&x->cv, &x->lock, &ts);
		}
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* The index's state against the ledger: upto, kept if entry upto - 1 has the stored leaf
 * hash, else the index is emptied. */
static int
check_state(struct ledger_index *x, uint64_t size, char *err, size_t errlen)
{
	struct merkle_store s = ledger_conn_store(x->r);
	sqlite3_stmt *st = NULL;
	uint8_t have[MERKLE_HASH_LEN];
	bool keep = false;
	int64_t upto = 0;

	if (sqlite3_prepare_v2(x->w, "SELECT upto, hash FROM state WHERE id = 0", -1, &st, NULL) !=
	        SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(x->w));
		sqlite3_finalize(st);
		return -1;
	}
	upto = sqlite3_column_int64(st, 0);
	keep = upto == 0 || (upto > 0 && (uint64_t)upto <= size &&
	                     sqlite3_column_bytes(st, 1) == MERKLE_HASH_LEN &&
	                     s.leaf_hash(s.ctx, (uint64_t)upto - 1, have) == 0 &&
	                     memcmp(have, sqlite3_column_blob(st, 1), MERKLE_HASH_LEN) == 0);
	sqlite3_finalize(st);
	if (!keep) {
		log_msg(x->log, "info",
		        "ledger: the search index does not match the ledger: rebuilt from it");
		if (exec(x->w,
		         "BEGIN IMMEDIATE; DELETE FROM rows; UPDATE state SET upto = 0, hash = "
		         "NULL; COMMIT") < 0) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(x->w));
			exec(x->w, "ROLLBACK");
			return -1;
		}
		upto = 0;
	}
	x->upto = (uint64_t)upto;
	return 0;
}

struct ledger_index *
ledger_index_start(const char *path, struct log *log, char *err, size_t errlen)
{
	struct ledger_index *x = calloc(1, sizeof(*x));
	char *ix = ledger_index_path(path);
	uint64_t size;

	if (x == NULL || ix == NULL || (x->leaf = malloc(sizeof(*x->leaf))) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(ix);
		if (x != NULL)
			free(x->leaf);
		free(x);
		return NULL;
	}
	x->log = log;
	pthread_mutex_init(&x->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((x->r = ledger_conn_open(path, false, err, errlen)) == NULL ||
	    ledger_conn_prepare(x->r, false, err, errlen) < 0)
		goto fail;
	/* It holds the ledger's partners and subject references: as private as ledger.db (its
	 * -wal and -shm files take the mode SQLite finds here). */
	int fd = open(ix, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", ix, strerror(errno));
		goto fail;
	}
	close(fd);
	if (sqlite3_open_v2(ix, &x->w,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", ix, x->w ? sqlite3_errmsg(x->w) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(x->w, 2000);
	/* Derived data: a crash may lose its last transactions (never corrupt it, in WAL mode);
	 * the state row is lost with them, and the follower indexes those entries again. */
	if (exec(x->w, "PRAGMA journal_mode=WAL") < 0 ||
	    exec(x->w, "PRAGMA synchronous=NORMAL") < 0 || exec(x->w, "BEGIN IMMEDIATE") < 0 ||
	    exec(x->w, schema_sql) < 0 || exec(x->w, "COMMIT") < 0 ||
	    sqlite3_prepare_v2(x->w,
	                       "INSERT OR REPLACE INTO rows(idx, kind, partner, contract, purpose, "
	                       "subject) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	                       -1, &x->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(x->w, "UPDATE state SET upto = ?1, hash = ?2 WHERE id = 0", -1,
	                       &x->set, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", ix, sqlite3_errmsg(x->w));
		exec(x->w, "ROLLBACK");
		goto fail;
	}
	if (ledger_conn_size(x->r, &size) < 0) {
		snprintf(err, errlen, "%s: reading the ledger", path);
		goto fail;
	}
	if (check_state(x, size, err, errlen) < 0)
		goto fail;
	x->size = size;
	if (pthread_create(&x->thread, NULL, follower_main, x) != 0) {
		snprintf(err, errlen, "cannot start the index follower");
		goto fail;
	}
	x->started = 1;
	free(ix);
	return x;
fail:
	free(ix);
	ledger_index_stop(x);
	return NULL;
}

void
ledger_index_notify(struct ledger_index *x, uint64_t size)
{
	if (x == NULL)
		return;
	pthread_mutex_lock(&x->lock);
	if (size > x->size) {
		/* the follower is woken when it was idle (it starts its wait) or has enough */
		bool wake = x->size == x->upto || size - x->upto >= GATHER;
		x->size = size;
		if (wake)
			pthread_cond_signal(&x->cv);
	}
	pthread_mutex_unlock(&x->lock);
}

void
ledger_index_stop(struct ledger_index *x)
{
	if (x == NULL)
		return;
	if (x->started) {
		pthread_mutex_lock(&x->lock);
		x->stop = 1;
		pthread_cond_signal(&x->cv);
		pthread_mutex_unlock(&x->lock);
		pthread_join(x->thread, NULL);
	}
	sqlite3_finalize(x->ins);
	sqlite3_finalize(x->set);
	sqlite3_close(x->w);
	ledger_conn_free(x->r);
	free(x->leaf);
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->cv);
	free(x);
}
