/* tokenstore — revoked token ids and work-order record counts, persisted in the state database. */
#include "tokenstore.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ledger_store.h"
#include "strtab.h"

#define BUSY_TIMEOUT_MS 5000
/* The WAL-index header at the start of the -shm file: two copies of 48 bytes (walformat.html). */
#define SHM_HEADER 96

struct conn {
	pthread_mutex_t mu; /* a connection and its statements serve one thread at a time */
	sqlite3 *db;
	sqlite3_stmt *stmt; /* the one statement this connection runs */
};

/*
 * The revoked ids held in memory, and what says they are current. SQLite rewrites the
 * WAL-index header in the -shm file (read here through SQLite's own mapping; every process
 * using the database maps the same pages) as the last step of every commit, of every process: its
 * change counter and frame count move, so a header equal to the one read before the last load means
 * no transaction has committed since (docs/performance.md gives the argument in full).
 */
struct revoked_mem {
	const volatile unsigned char
	    *shm;                       /* SQLite's mapping of the header; NULL: query per lookup */
	unsigned char seen[SHM_HEADER]; /* the header read before the last load */
	bool loaded;                    /* set, seen and last_rowid are valid */
	struct strtab set;              /* revoked jti -> 1 */
	sqlite3_int64 last_rowid;       /* the rows loaded: revocations are only ever added */
	sqlite3_stmt *since;            /* on rd: SELECT rowid, jti … WHERE rowid > ?1 */
};

struct tokenstore {
	struct conn rd;              /* SELECT revoked */
	struct conn wr;              /* INSERT revoked, upsert uses */
	sqlite3_stmt *revoke;        /* on wr, besides wr.stmt (take) */
	struct revoked_mem mem;      /* under rd.mu */
	struct ledger_store *shared; /* tokenstore_share's: the takes go there, under share_mu */
	pthread_mutex_t share_mu;
};

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS revoked(jti TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS uses(jti TEXT PRIMARY KEY, records INTEGER NOT NULL);";

/*
 * One statement, so atomic without an explicit transaction: the row is created or grown only
 * when the total stays within ?3; sqlite3_changes() says whether it was.
 */
static const char TAKE_SQL[] =
    "INSERT INTO uses(jti, records) SELECT ?1, ?2 WHERE ?2 <= ?3 "
    "ON CONFLICT(jti) DO UPDATE SET records = records + excluded.records "
    "WHERE uses.records + excluded.records <= ?3";
static const char REVOKE_SQL[] = "INSERT OR IGNORE INTO revoked(jti, revoked_at) VALUES (?1, ?2)";
static const char REVOKED_SQL[] = "SELECT 1 FROM revoked WHERE jti = ?1";
static const char SINCE_SQL[] = "SELECT rowid, jti FROM revoked WHERE rowid > ?1 ORDER BY rowid";

static int
conn_open(struct conn *c, const char *path, bool writer, char *err, size_t errlen)
{
	char *msg = NULL;

	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		snprintf(err, errlen, "%s: cannot create a mutex", path);
		return -1;
	}
	if (sqlite3_open_v2(path, &c->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         c->db ? sqlite3_errmsg(c->db) : "cannot open");
		return -1;
	}
	/* The busy timeout first: switching to WAL and creating tables need locks another
	 * process (the daemon, a revoke command) may hold for a moment. */
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	if (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
	                 &msg) != SQLITE_OK ||
	    (writer && sqlite3_exec(c->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK)) {
		snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(c->db));
		sqlite3_free(msg);
		return -1;
	}
	if (sqlite3_prepare_v2(c->db, writer ? TAKE_SQL : REVOKED_SQL, -1, &c->stmt, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(c->db));
		return -1;
	}
	return 0;
}

static void
conn_close(struct conn *c)
{
	sqlite3_finalize(c->stmt);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->mu);
}

/*
 * The WAL-index header as SQLite itself maps it for the reading connection db: region 0 of the
 * -shm, asked of the connection's own file (xShmMap, without extending it), so that this
 * module never opens the -shm itself. A descriptor of our own would be fatal: closing it drops
 * every POSIX lock this process holds on the file, SQLite's among them, and another process
 * could then take the database for unused and truncate the -shm under the gateway's mapping.
 * The region stays mapped while db is open. Without it (another journal mode, another VFS),
 * each lookup queries the table as before.
 */
static void
shm_map(struct revoked_mem *m, sqlite3 *db)
{
	sqlite3_file *f = NULL;
	volatile void *p = NULL;

	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
	    f == NULL || f->pMethods == NULL || f->pMethods->iVersion < 2 ||
	    f->pMethods->xShmMap == NULL)
		return;
	if (f->pMethods->xShmMap(f, 0, 32768, 0, &p) == SQLITE_OK && p != NULL)
		m->shm = (const volatile unsigned char *)p;
}

/* The header as it is now. */
static void
shm_read(const struct revoked_mem *m, unsigned char out[SHM_HEADER])
{
	for (size_t i = 0; i < SHM_HEADER; i++)
		out[i] = m->shm[i];
	/* what is read from the database after this sees at least the commits the header showed */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

/*
 * Adds the revocations committed since the last load to the set. The header is read first:
 * every commit it shows is in the rows read after it, and any later commit changes it. 0, or
 * -1 on a database error (the set is then not trusted until a load succeeds).
 */
static int
mem_load(struct tokenstore *ts)
{
	struct revoked_mem *m = &ts->mem;
	unsigned char now[SHM_HEADER];
	int rc;

	shm_read(m, now);
	m->loaded = false;
	if (sqlite3_bind_int64(m->since, 1, m->last_rowid) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(m->since)) == SQLITE_ROW) {
		const char *jti = (const char *)sqlite3_column_text(m->since, 1);
		if (jti != NULL && strtab_get(&m->set, jti) < 0 && strtab_put(&m->set, jti, 1) != 0)
			break;
		m->last_rowid = sqlite3_column_int64(m->since, 0);
	}
	sqlite3_reset(m->since);
	if (rc != SQLITE_DONE)
		return -1;
	memcpy(m->seen, now, sizeof(now));
	m->loaded = true;
	return 0;
}

struct tokenstore *
tokenstore_open(const char *path, char *err, size_t errlen)
{
	struct tokenstore *ts;

	if (!path) {
		snprintf(err, errlen, "token store: no state database configured");
		return NULL;
	}
	ts = calloc(1, sizeof *ts);
	if (!ts) {
		snprintf(err, errlen, "token store: out of memory");
		return NULL;
	}
	pthread_mutex_init(&ts->share_mu, NULL);
	/* The writer first: it creates the tables the reader's statement names. */
	if (conn_open(&ts->wr, path, true, err, errlen) != 0)
		goto fail;
	if (sqlite3_prepare_v2(ts->wr.db, REVOKE_SQL, -1, &ts->revoke, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(ts->wr.db));
		goto fail;
	}
	if (conn_open(&ts->rd, path, false, err, errlen) != 0)
		goto fail;
	if (sqlite3_prepare_v2(ts->rd.db, SINCE_SQL, -1, &ts->mem.since, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(ts->rd.db));
		goto fail;
	}
	shm_map(&ts->mem, ts->rd.db);
	return ts;
fail:
	tokenstore_close(ts);
	return NULL;
}

void
tokenstore_close(struct tokenstore *ts)
{
	if (!ts)
		return;
	sqlite3_finalize(ts->revoke);
	sqlite3_finalize(ts->mem.since);
	strtab_free(&ts->mem.set);
	if (ts->rd.db)
		conn_close(&ts->rd);
	if (ts->wr.db)
		conn_close(&ts->wr);
	pthread_mutex_destroy(&ts->share_mu);
	free(ts);
}

int
tokenstore_is_revoked(struct tokenstore *ts, const char *jti)
{
	int rc, result = -1;

	assert(ts && jti);
	pthread_mutex_lock(&ts->rd.mu);
	if (ts->mem.shm != NULL) {
		unsigned char now[SHM_HEADER];
		shm_read(&ts->mem, now);
		if ((ts->mem.loaded && memcmp(now, ts->mem.seen, sizeof(now)) == 0) ||
		    mem_load(ts) == 0)
			result = strtab_get(&ts->mem.set, jti) >= 0;
		pthread_mutex_unlock(&ts->rd.mu);
		return result;
	}
	if (sqlite3_bind_text(ts->rd.stmt, 1, jti, -1, SQLITE_STATIC) != SQLITE_OK)
		goto done;
	rc = sqlite3_step(ts->rd.stmt);
	if (rc == SQLITE_ROW)
		result = 1;
	else if (rc == SQLITE_DONE)
		result = 0;
done:
	sqlite3_reset(ts->rd.stmt);
	sqlite3_clear_bindings(ts->rd.stmt);
	pthread_mutex_unlock(&ts->rd.mu);
	return result;
}

int
tokenstore_revoke(struct tokenstore *ts, const char *jti, int64_t now)
{
	int result = -1;

	assert(ts && jti);
	pthread_mutex_lock(&ts->wr.mu);
	if (sqlite3_bind_text(ts->revoke, 1, jti, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int64(ts->revoke, 2, now) == SQLITE_OK &&
	    sqlite3_step(ts->revoke) == SQLITE_DONE)
		result = 0;
	sqlite3_reset(ts->revoke);
	sqlite3_clear_bindings(ts->revoke);
	pthread_mutex_unlock(&ts->wr.mu);
	return result;
}

int
tokenstore_take(struct tokenstore *ts, const char *jti, int64_t n, int64_t max, bool *ok)
{
	int result = -1;

	assert(ts && jti && ok);
	*ok = false;
	if (n < 1 || max < 1)
		return -1;
	if (ts->shared != NULL) {
		pthread_mutex_lock(&ts->share_mu); /* one connection: one statement at a time */
		result = ts->shared->ops->take(ts->shared, jti, n, max, ok) == 0
		             ? 0
		             : TOKENSTORE_EUNAVAILABLE;
		pthread_mutex_unlock(&ts->share_mu);
		return result;
	}
	pthread_mutex_lock(&ts->wr.mu);
	if (sqlite3_bind_text(ts->wr.stmt, 1, jti, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int64(ts->wr.stmt, 2, n) == SQLITE_OK &&
	    sqlite3_bind_int64(ts->wr.stmt, 3, max) == SQLITE_OK &&
	    sqlite3_step(ts->wr.stmt) == SQLITE_DONE) {
		*ok = sqlite3_changes(ts->wr.db) == 1;
		result = 0;
	}
	sqlite3_reset(ts->wr.stmt);
	sqlite3_clear_bindings(ts->wr.stmt);
	pthread_mutex_unlock(&ts->wr.mu);
	return result;
}

void
tokenstore_share(struct tokenstore *ts, struct ledger_store *s)
{
	assert(ts && s && s->ops->take != NULL);
	ts->shared = s;
}
