/* ledger_backup — a verified copy of a serving gateway's ledger and state database. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "now.h"
#include "ledger.h"
#include "ledger_backup.h"
#include "ledger_db.h"
#include "ledger_err.h"
#include "ledger_migrate.h"
#include "ledger_pg.h"
#include "ledger_read.h"
#include "ledger_store.h"
#include "stagedir.h"

/* How often the backup looks for the checkpoint it waits for. */
#define POLL_MS 20
/* Pages copied per sqlite3_backup_step (4 MiB of 4 KiB pages), all under the one read
 * transaction of the snapshot; each step's pages are on disk before the next step. */
#define STEP_PAGES 1024
/* The copy's page cache: small, so that its pages go to the file step by step. */
#define COPY_CACHE "PRAGMA cache_size=-1024"
/* Waiting for a lock on a source: only an exclusive lock (an administrator's sqlite3, a
 * journal-mode change) blocks a WAL reader. */
#define SOURCE_BUSY_MS 5000

static int problem(struct ledger_backup_result *out, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
problem(struct ledger_backup_result *out, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->problem, sizeof(out->problem), fmt, ap);
	va_end(ap);
	return rc;
}

/* Which side an SQLite error of a copy is on: writing the copy, or reading the source. */
static int
copy_error(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return LEDGER_BACKUP_ENOMEM;
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return LEDGER_BACKUP_WRITE;
	case SQLITE_IOERR:
		return rc == SQLITE_IOERR_READ || rc == SQLITE_IOERR_SHORT_READ
		           ? LEDGER_BACKUP_SOURCE
		           : LEDGER_BACKUP_WRITE;
	default:
		return LEDGER_BACKUP_SOURCE;
	}
}

static int
open_source(const char *path, sqlite3 **db, struct ledger_backup_result *out)
{
	int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);

	if (rc != SQLITE_OK)
		return problem(out, LEDGER_BACKUP_SOURCE, "%s: %s", path,
		               *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
	sqlite3_busy_timeout(*db, SOURCE_BUSY_MS);
	sqlite3_extended_result_codes(*db, 1);
	return 0;
}

/* The number of entries and the latest checkpoint's size, as db sees them now. */
static int
ledger_sizes(sqlite3 *db, uint64_t *size, uint64_t *cp)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(
	        db,
	        "SELECT coalesce((SELECT first + n FROM batches ORDER BY first DESC LIMIT 1), 0),"
	        " coalesce((SELECT max(size) FROM checkpoints), 0)",
	        -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		*size = (uint64_t)sqlite3_column_int64(st, 0);
		*cp = (uint64_t)sqlite3_column_int64(st, 1);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Runs sql on db, or says why not. */
static int
exec(sqlite3 *db, const char *sql, const char *what, int fail, struct ledger_backup_result *out)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		problem(out, fail ? fail : copy_error(sqlite3_extended_errcode(db)), "%s: %s", what,
		        msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * Copies src (in the read transaction it holds: the snapshot) into the new file to, page by
 * page. The pages are written without a journal or a sync: the file is new, nothing refers to
 * it until the folder is renamed, and it is synced once whole. Holding the transaction across
 * the steps keeps the snapshot fixed, so the copy never restarts however much the gateway
 * commits meanwhile (measured: a step-by-step backup without it restarted at every other step
 * under a writer; with it, never).
 *
 * Each step's pages are written out to the disk before the next step (sync_file_range): left
 * to the final fsync, a copy of hundreds of megabytes would be flushed at once, and on ext4
 * (data=ordered) the gateway's next commit fsync waits for all of it — a stall of most of a
 * second in front of every request of that group, measured. Written out step by step, the
 * journal commits that the gateway's fsyncs force carry at most a step of the copy's data.
 */
static int
copy_db(sqlite3 *src, const char *name, const char *to, struct ledger_backup_result *out)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int rc, erc, fd = -1;

	if ((rc = sqlite3_open_v2(to, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) !=
	    SQLITE_OK) {
		erc = problem(out, copy_error(rc), "%s: %s", to,
		              dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
		goto done;
	}
	sqlite3_extended_result_codes(dst, 1);
	if (exec(dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; " COPY_CACHE, to, 0, out) <
	    0) {
		erc = copy_error(sqlite3_extended_errcode(dst));
		goto done;
	}
	if ((b = sqlite3_backup_init(dst, "main", src, "main")) == NULL) {
		erc = problem(out, copy_error(sqlite3_extended_errcode(dst)), "%s: %s", to,
		              sqlite3_errmsg(dst));
		goto done;
	}
	if ((fd = open(to, O_RDONLY | O_CLOEXEC)) < 0) {
		sqlite3_backup_finish(b);
		erc = problem(out, LEDGER_BACKUP_WRITE, "%s: %s", to, strerror(errno));
		goto done;
	}
	while ((rc = sqlite3_backup_step(b, STEP_PAGES)) == SQLITE_OK) {
		if (sync_file_range(fd, 0, 0,
		                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
		                        SYNC_FILE_RANGE_WAIT_AFTER) < 0) {
			int e = errno;
			sqlite3_backup_finish(b);
			erc = problem(out, LEDGER_BACKUP_WRITE, "%s: %s", to, strerror(e));
			goto done;
		}
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		erc = copy_error(rc);
		problem(out, erc, "copying %s to %s: %s", name, to, sqlite3_errstr(rc));
		goto done;
	}
	erc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (sqlite3_close(dst) != SQLITE_OK && erc == 0)
		erc = problem(out, LEDGER_BACKUP_WRITE, "%s: %s", to, sqlite3_errmsg(dst));
	return erc;
}

/*
 * Makes a copy self-contained: a rollback-journal database (one file, readable on read-only
 * media; the gateway puts it back in WAL mode when it opens it) and, for the ledger, without
 * the batches after its latest checkpoint (a checkpoint always ends a batch: the writer signs
 * between commits).
 */
static int
finish_db(const char *path, bool ledger, uint64_t cp, struct ledger_backup_result *out)
{
	char sql[512];
	sqlite3 *db = NULL;
	int rc = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		problem(out, LEDGER_BACKUP_WRITE, "%s: %s", path,
		        db ? sqlite3_errmsg(db) : "cannot open");
		goto done;
	}
	sqlite3_extended_result_codes(db, 1);
	if (exec(db, "PRAGMA journal_mode=DELETE", path, 0, out) < 0)
		goto done;
	if (ledger) {
		sqlite3_stmt *st = NULL;
		bool inside = true;
		if (sqlite3_prepare_v2(
		        db, "SELECT count(*) FROM batches WHERE first < ?1 AND first + n > ?1", -1,
		        &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, (sqlite3_int64)cp);
			inside = sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != 0;
		}
		sqlite3_finalize(st);
		if (inside) {
			problem(out, LEDGER_BACKUP_VERIFY,
			        "%s: checkpoint %" PRIu64
			        " does not end a batch: run pdgate ledger "
			        "verify",
			        path, cp);
			goto done;
		}
	}
	snprintf(sql, sizeof(sql),
	         "BEGIN; DELETE FROM batches WHERE first >= %" PRIu64 ";"
	         " DELETE FROM checkpoints WHERE size > %" PRIu64 "; COMMIT",
	         cp, cp);
	if (ledger && exec(db, sql, path, 0, out) < 0)
		goto done;
	rc = 0;
done:
	if (sqlite3_close(db) != SQLITE_OK && rc == 0)
		rc = problem(out, LEDGER_BACKUP_WRITE, "%s: %s", path, sqlite3_errmsg(db));
	return rc;
}

/* Syncs a finished file and returns its size in *bytes. */
static int
sync_file(const char *path, int64_t *bytes, struct ledger_backup_result *out)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), e;

	if (fd < 0 || fchmod(fd, 0600) < 0 || fsync(fd) < 0 || fstat(fd, &st) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		return problem(out, LEDGER_BACKUP_WRITE, "%s: %s", path, strerror(e));
	}
	close(fd);
	*bytes = (int64_t)st.st_size;
	return 0;
}

/* Writes a small new file of the backup (text and a newline), synced. */
static int
write_text(const char *path, const char *text, struct ledger_backup_result *out)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644), e;
	bool nl = len == 0 || text[len - 1] != '\n';

	if (fd < 0 || write(fd, text, len) != (ssize_t)len || (nl && write(fd, "\n", 1) != 1) ||
	    fsync(fd) < 0) {
		e = errno ? errno : EIO;
		if (fd >= 0)
			close(fd);
		return problem(out, LEDGER_BACKUP_WRITE, "%s: %s", path, strerror(e));
	}
	if (close(fd) < 0)
		return problem(out, LEDGER_BACKUP_WRITE, "%s: %s", path, strerror(errno));
	return 0;
}

/* Checks the copy as `pdgate ledger verify` does, and that it ends at checkpoint cp. */
static int
verify_copy(const struct ledger_backup_params *p, const char *path, uint64_t cp,
            struct ledger_backup_result *out)
{
	struct ledger_params lp = {.path = path, .readers = 1, .read_only = true};
	struct ledger_verdict v;
	struct ledger *l;
	char err[512];
	int rc = LEDGER_BACKUP_VERIFY;

	if ((l = ledger_open(&lp, err, sizeof(err))) == NULL)
		return problem(out, LEDGER_BACKUP_VERIFY, "the copy: %s", err);
	if (ledger_verify(l, p->verifier, now_wall_ms(), p->grace_ms, &v) != 0)
		problem(out, rc, "the copy: %s", v.problem);
	else if (v.size != cp || v.cp_size != cp || v.unsigned_n != 0)
		problem(out, rc,
		        "the copy holds %" PRIu64 " entries and checkpoint %" PRIu64
		        ", not checkpoint %" PRIu64 " alone",
		        v.size, v.cp_size, cp);
	else
		rc = 0;
	if (rc == 0)
		memcpy(out->root, v.cp_root, MERKLE_HASH_LEN);
	ledger_close(l);
	return rc;
}

/* The latest checkpoint note of the snapshot (caller frees), or NULL. */
static char *
note_at(sqlite3 *db, uint64_t cp)
{
	sqlite3_stmt *st = NULL;
	char *note = NULL;

	if (sqlite3_prepare_v2(db, "SELECT note FROM checkpoints WHERE size = ?1", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)cp);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
			note = strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return note;
}

static int
join(char *out, size_t n, const char *dir, const char *name, struct ledger_backup_result *res)
{
	if (snprintf(out, n, "%s/%s", dir, name) >= (int)n)
		return problem(res, LEDGER_BACKUP_DEST, "%s: path too long", dir);
	return 0;
}

/*
 * The file's snapshot (a read transaction on ledger.db, after waiting for a checkpoint over the
 * entries of the start) copied page by page into lpath, the state database's just after it into
 * spath; its latest checkpoint's size into *cp and note into *note (NULL: none).
 */
static int
snapshot_file(const struct ledger_backup_params *p, const char *lpath, const char *spath,
              char **note, uint64_t *cp, int64_t *t_copy, bool *with_state,
              struct ledger_backup_result *out)
{
	char err[512], *origin = NULL;
	sqlite3 *ldb = NULL, *sdb = NULL;
	uint64_t size;
	int64_t t0, deadline;
	int rc;

	/* The ledger, and the entries committed now: the copy will hold every one of them. */
	if ((rc = open_source(p->ledger, &ldb, out)) < 0)
		goto done;
	if ((origin = ledger_db_origin(ldb, NULL, err, sizeof(err))) == NULL) {
		rc = problem(out, LEDGER_BACKUP_SOURCE, "%s: %s", p->ledger, err);
		goto done;
	}
	if (strcmp(origin, note_verifier_name(p->verifier)) != 0) {
		rc = problem(out, LEDGER_BACKUP_VERIFY,
		             "the ledger's origin '%s' is not the verifier key's name '%s'", origin,
		             note_verifier_name(p->verifier));
		goto done;
	}
	t0 = now_mono_ms();
	deadline = t0 + p->wait_ms;
	if (ledger_sizes(ldb, &out->start_size, cp) < 0) {
		rc = problem(out, LEDGER_BACKUP_SOURCE, "%s: %s", p->ledger, sqlite3_errmsg(ldb));
		goto done;
	}
	/* A running gateway signs within its checkpoint interval. */
	while (*cp < out->start_size) {
		if (now_mono_ms() >= deadline) {
			rc = problem(
			    out, LEDGER_BACKUP_UNSIGNED,
			    "%s: entries %" PRIu64 " to %" PRIu64
			    " have no checkpoint after %u ms: is the gateway running? (A "
			    "stopped gateway's ledger ends with a checkpoint; after a crash, "
			    "starting it signs the tail.)",
			    p->ledger, *cp, out->start_size - 1, p->wait_ms);
			goto done;
		}
		struct timespec ts = {0, POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
		if (ledger_sizes(ldb, &size, cp) < 0) {
			rc = problem(out, LEDGER_BACKUP_SOURCE, "%s: %s", p->ledger,
			             sqlite3_errmsg(ldb));
			goto done;
		}
	}
	out->wait_ms = now_mono_ms() - t0;

	/* The snapshots: one read transaction on each database, the state's just after the
	 * ledger's, so that its record counts and revocations are never older than the ledger. */
	*t_copy = now_mono_ms();
	if (exec(ldb, "BEGIN", p->ledger, LEDGER_BACKUP_SOURCE, out) < 0 ||
	    ledger_sizes(ldb, &out->snapshot_size, cp) < 0) {
		rc = out->problem[0] ? LEDGER_BACKUP_SOURCE
		                     : problem(out, LEDGER_BACKUP_SOURCE, "%s: %s", p->ledger,
		                               sqlite3_errmsg(ldb));
		goto done;
	}
	if (p->state != NULL) {
		if ((rc = open_source(p->state, &sdb, out)) < 0)
			goto done;
		if (exec(sdb, "BEGIN; SELECT count(*) FROM sqlite_schema", p->state,
		         LEDGER_BACKUP_SOURCE, out) < 0) {
			rc = LEDGER_BACKUP_SOURCE;
			goto done;
		}
	}
	if (*cp > 0 && (*note = note_at(ldb, *cp)) == NULL) {
		rc = problem(out, LEDGER_BACKUP_SOURCE, "%s: checkpoint %" PRIu64 ": %s", p->ledger,
		             *cp, sqlite3_errmsg(ldb));
		goto done;
	}
	if ((rc = copy_db(ldb, p->ledger, lpath, out)) < 0 ||
	    (sdb != NULL && (rc = copy_db(sdb, p->state, spath, out)) < 0))
		goto done;
	*with_state = sdb != NULL;
	rc = 0;
done:
	/* (the read transactions end with the connections) */
	sqlite3_close(ldb);
	sqlite3_close(sdb);
	free(origin);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* A ledger in PostgreSQL (ledger_pg.h): one snapshot of the database read through the store. */

/* The number of entries and the latest checkpoint's size, as the store s sees them now. */
static int
store_sizes(struct ledger_store *s, uint64_t *size, uint64_t *cp)
{
	char *note = NULL;
	size_t len;
	int rc = s->ops->checkpoint(s, 0, cp, &note, &len, NULL);

	free(note);
	if (rc == LEDGER_ENOENT)
		*cp = 0;
	else if (rc != 0)
		return -1;
	return s->ops->size(s, size) == 0 ? 0 : -1;
}

/* What the shared state's scans write into the copy of the state database. */
struct state_copy {
	sqlite3_stmt *sus, *rev;
	int64_t now_s; /* a revocation's time, when the state database has none of its own */
	bool failed;   /* writing the copy failed (else reading the database did) */
};

static int
put_suspension(void *arg, const struct ledger_suspension *su)
{
	struct state_copy *c = arg;

	sqlite3_bind_text(c->sus, 1, su->partner, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->sus, 2, su->by, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->sus, 3, su->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->sus, 4, su->since_ms);
	c->failed = ledger_st_exec(c->sus) != 0;
	return c->failed ? LEDGER_EIO : 0;
}

static int
put_revoked(void *arg, const char *jti)
{
	struct state_copy *c = arg;

	sqlite3_bind_text(c->rev, 1, jti, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->rev, 2, c->now_s);
	c->failed = ledger_st_exec(c->rev) != 0;
	return c->failed ? LEDGER_EIO : 0;
}

/*
 * The database's shared state (docs/cluster.md), read in the snapshot src holds, into the copy
 * of the state database at path (made if the node has none), in its own tables: the database's
 * suspensions in place of the file's (which a node of several does not read), the revoked tokens
 * added to the file's (a token revoked in either is refused). A revocation the file did not hold
 * is given the time of the snapshot: it was revoked no later than that.
 */
static int
copy_shared_state(struct ledger_store *src, const char *path, struct ledger_backup_result *out)
{
	struct state_copy c = {.now_s = now_wall_ms() / 1000};
	sqlite3 *db = NULL;
	uint64_t gen;
	int rc = LEDGER_BACKUP_WRITE, m;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	        SQLITE_OK ||
	    exec(db,
	         "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN;"
	         "CREATE TABLE IF NOT EXISTS suspensions(partner TEXT PRIMARY KEY, by TEXT,"
	         " reason TEXT, since_ms INTEGER);"
	         "CREATE TABLE IF NOT EXISTS revoked(jti TEXT PRIMARY KEY, revoked_at INTEGER NOT "
	         "NULL);"
	         "DELETE FROM suspensions",
	         path, LEDGER_BACKUP_WRITE, out) < 0)
		goto done;
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO suspensions(partner, by, reason, since_ms) VALUES "
	                       "(?1, ?2, ?3, ?4)",
	                       -1, &c.sus, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO revoked(jti, revoked_at) VALUES (?1, ?2)",
	                       -1, &c.rev, NULL) != SQLITE_OK) {
		problem(out, LEDGER_BACKUP_WRITE, "%s: %s", path, sqlite3_errmsg(db));
		goto done;
	}
	if ((m = src->ops->state_read(src, &gen, put_suspension, &c)) != 0 ||
	    (m = src->ops->state_revoked(src, put_revoked, &c)) != 0) {
		if (c.failed)
			problem(out, LEDGER_BACKUP_WRITE, "%s: %s", path, sqlite3_errmsg(db));
		else
			rc = problem(out, LEDGER_BACKUP_SOURCE, "the shared state: %s",
			             src->ops->errmsg(src));
		goto done;
	}
	if (exec(db, "COMMIT", path, LEDGER_BACKUP_WRITE, out) < 0)
		goto done;
	rc = 0;
done:
	if (rc == LEDGER_BACKUP_WRITE && out->problem[0] == '\0')
		problem(out, rc, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
	sqlite3_finalize(c.sus);
	sqlite3_finalize(c.rev);
	if (sqlite3_close(db) != SQLITE_OK && rc == 0)
		rc = problem(out, LEDGER_BACKUP_WRITE, "%s: %s", path, sqlite3_errmsg(db));
	return rc;
}

/*
 * The copy's connection as the row copy sees it: each row inserted through the SQLite store, and
 * every STEP_BYTES of rows the file's pages written out to the disk (sync_file_range), as
 * copy_db does step by step and for the same reason: a final fsync of the whole copy would stall
 * the commits of anything else on that file system (a PostgreSQL server on the same disk).
 */
#define STEP_BYTES (4u << 20)

struct synced {
	struct ledger_store base; /* first: its ops are synced_ops */
	struct ledger_store *to;  /* the SQLite store written */
	int fd;                   /* the file, for sync_file_range */
	uint64_t pending;         /* bytes inserted since the last write-out */
	int err;                  /* the write-out's errno, if it failed */
};

static int
synced_step(struct synced *w, size_t bytes)
{
	w->pending += bytes;
	if (w->pending < STEP_BYTES)
		return 0;
	w->pending = 0;
	if (sync_file_range(w->fd, 0, 0,
	                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
	                        SYNC_FILE_RANGE_WAIT_AFTER) < 0) {
		w->err = errno;
		return LEDGER_EIO;
	}
	return 0;
}

static int
synced_put_batch(struct ledger_store *s, uint64_t first, uint64_t n, int64_t time,
                 const uint8_t *hashes, size_t hlen, const char *leaves, size_t llen)
{
	struct synced *w = (struct synced *)s;
	int rc = w->to->ops->put_batch(w->to, first, n, time, hashes, hlen, leaves, llen);

	return rc != 0 ? rc : synced_step(w, hlen + llen);
}

static int
synced_put_checkpoint(struct ledger_store *s, uint64_t size, const char *note, size_t len,
                      int64_t time)
{
	struct synced *w = (struct synced *)s;
	int rc = w->to->ops->put_checkpoint(w->to, size, note, len, time);

	return rc != 0 ? rc : synced_step(w, len);
}

static const char *
synced_errmsg(struct ledger_store *s)
{
	struct synced *w = (struct synced *)s;

	return w->err != 0 ? strerror(w->err) : w->to->ops->errmsg(w->to);
}

/* A witness's line of src into the copy, as a single gateway's cosignatures table holds it. */
struct cosig_copy {
	struct synced *w;
	uint64_t n;
	bool failed; /* writing the copy failed (else reading the database did) */
};

static int
put_cosig(void *arg, uint64_t size, const char *witness, uint64_t ts, const char *line, size_t len)
{
	struct cosig_copy *c = arg;
	int rc = c->w->to->ops->cosig_put(c->w->to, size, witness, ts, line, len);

	if (rc == 0)
		rc = synced_step(c->w, len);
	c->failed = rc != 0;
	c->n += rc == 0;
	return rc;
}

/* What the row copy calls on the destination (ledger_migrate_rows): nothing else. */
static const struct ledger_store_ops synced_ops = {
    .kind = "sqlite",
    .put_batch = synced_put_batch,
    .put_checkpoint = synced_put_checkpoint,
    .errmsg = synced_errmsg,
};

/* The copy's cosignatures table, made as a writer makes it (before the copy's own settings:
 * it sets the file's synchronous mode, which no transaction may). 0 or -1 with err. */
static int
cosig_table(struct ledger_conn *c, char *err, size_t errlen)
{
	if (c->base.ops->cosig_open(&c->base) == 0)
		return 0;
	snprintf(err, errlen, "the cosignatures table: %s", sqlite3_errmsg(c->db));
	return -1;
}

/*
 * The rows of src (in the snapshot it holds) up to its checkpoint of cp entries, into a new
 * ledger.db at path of the layout a single gateway writes, of origin, marked as several nodes'
 * (ledger_db_shared): the migration's own copy (ledger_migrate_rows), then the witnesses'
 * cosignatures of those checkpoints into its cosignatures table, in one transaction. The
 * file is new and nothing refers to it until the folder is renamed: written without a journal,
 * out to the disk step by step (struct synced), and synced once whole.
 */
static int
copy_store(struct ledger_store *src, const char *path, const char *origin, uint64_t cp,
           struct ledger_backup_result *out)
{
	struct ledger_migrate_report r = {0};
	struct synced w = {.base.ops = &synced_ops, .fd = -1};
	struct cosig_copy cc = {.w = &w};
	struct ledger_conn *dst;
	struct ledger_tip tip;
	char err[512];
	int schema, rc = LEDGER_BACKUP_WRITE;

	if ((dst = ledger_conn_open(path, true, err, sizeof(err))) == NULL)
		return problem(out, LEDGER_BACKUP_WRITE, "%s", err);
	if (ledger_db_init(dst, origin, &schema, err, sizeof(err)) < 0 ||
	    cosig_table(dst, err, sizeof(err)) < 0 ||
	    ledger_db_exec(dst->db,
	                   "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; " COPY_CACHE
	                   "; " LEDGER_DB_SHARED_SQL,
	                   err, sizeof(err)) < 0 ||
	    ledger_conn_prepare(dst, true, err, sizeof(err)) < 0) {
		/* (nothing is read here: any failure is the copy's) */
		rc = copy_error(sqlite3_extended_errcode(dst->db));
		rc = problem(out, rc == LEDGER_BACKUP_ENOMEM ? rc : LEDGER_BACKUP_WRITE, "%s: %s",
		             path, err);
		goto done;
	}
	if (dst->base.ops->begin(&dst->base, &tip) != 0) {
		problem(out, LEDGER_BACKUP_WRITE, "%s: %s", path, sqlite3_errmsg(dst->db));
		goto done;
	}
	w.to = &dst->base;
	if ((w.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		dst->base.ops->rollback(&dst->base);
		problem(out, LEDGER_BACKUP_WRITE, "%s: %s", path, strerror(errno));
		goto done;
	}
	int m = ledger_migrate_rows(src, &w.base, cp, &r, err, sizeof(err));
	if (m != 0) {
		dst->base.ops->rollback(&dst->base);
		rc = problem(out, m == -2 ? LEDGER_BACKUP_WRITE : LEDGER_BACKUP_SOURCE, "%s: %s",
		             m == -2 ? path : "the ledger database", err);
		goto done;
	}
	if ((m = src->ops->cosig_scan(src, cp, put_cosig, &cc)) != 0) {
		dst->base.ops->rollback(&dst->base);
		if (cc.failed)
			problem(out, LEDGER_BACKUP_WRITE, "%s: the cosignatures: %s", path,
			        synced_errmsg(&w.base));
		else
			rc = problem(out, LEDGER_BACKUP_SOURCE,
			             "the ledger database: the cosignatures: %s",
			             m == LEDGER_EIO ? src->ops->errmsg(src) : ledger_strerror(m));
		goto done;
	}
	out->cosignatures = cc.n;
	if (dst->base.ops->commit(&dst->base) != 0) {
		problem(out, LEDGER_BACKUP_WRITE, "%s: %s", path, sqlite3_errmsg(dst->db));
		goto done;
	}
	rc = 0;
done:
	if (w.fd >= 0)
		close(w.fd);
	ledger_conn_free(dst);
	return rc;
}

/*
 * A PostgreSQL ledger's snapshot: after waiting for a checkpoint over the entries of the start
 * (the nodes sign within their interval), one REPEATABLE READ transaction of the database (the
 * store's snapshot) in which its latest checkpoint, every batch up to it, every checkpoint and
 * the shared state are read; the node's own state database of -c, if it has one, copied just
 * after the snapshot began, as a file backup does. The nodes go on committing meanwhile.
 */
static int
snapshot_store(const struct ledger_backup_params *p, const char *lpath, const char *spath,
               char **note, uint64_t *cp, int64_t *t_copy, bool *with_state,
               struct ledger_backup_result *out)
{
	struct ledger_store *src;
	sqlite3 *sdb = NULL;
	char err[512], *origin = NULL;
	uint64_t size, cps;
	size_t len;
	int64_t t0, deadline;
	bool snap = false;
	int rc;

	/* (the URL is not repeated in a message: it may hold a password) */
	if ((src = ledger_pg_open(p->ledger, false, NULL, &origin, err, sizeof(err))) == NULL)
		return problem(out, LEDGER_BACKUP_SOURCE, "[ledger] url: %s", err);
	if (strcmp(origin, note_verifier_name(p->verifier)) != 0) {
		rc = problem(out, LEDGER_BACKUP_VERIFY,
		             "the ledger's origin '%s' is not the verifier key's name '%s'", origin,
		             note_verifier_name(p->verifier));
		goto done;
	}
	t0 = now_mono_ms();
	deadline = t0 + p->wait_ms;
	if (store_sizes(src, &out->start_size, cp) < 0) {
		rc = problem(out, LEDGER_BACKUP_SOURCE, "[ledger] url: %s", src->ops->errmsg(src));
		goto done;
	}
	while (*cp < out->start_size) {
		if (now_mono_ms() >= deadline) {
			rc = problem(
			    out, LEDGER_BACKUP_UNSIGNED,
			    "[ledger] url: entries %" PRIu64 " to %" PRIu64
			    " have no checkpoint after %u ms: is a node running? (A ledger "
			    "whose nodes all stopped ends with a checkpoint; after a crash, "
			    "starting a node signs the tail.)",
			    *cp, out->start_size - 1, p->wait_ms);
			goto done;
		}
		struct timespec ts = {0, POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
		if (store_sizes(src, &size, cp) < 0) {
			rc = problem(out, LEDGER_BACKUP_SOURCE, "[ledger] url: %s",
			             src->ops->errmsg(src));
			goto done;
		}
	}
	out->wait_ms = now_mono_ms() - t0;

	*t_copy = now_mono_ms();
	if (src->ops->snapshot_begin(src) != 0) {
		rc = problem(out, LEDGER_BACKUP_SOURCE, "[ledger] url: %s", src->ops->errmsg(src));
		goto done;
	}
	snap = true;
	if (src->ops->size(src, &out->snapshot_size) != 0 ||
	    ((rc = src->ops->checkpoint(src, 0, &cps, note, &len, NULL)) != 0 &&
	     rc != LEDGER_ENOENT)) {
		rc = problem(out, LEDGER_BACKUP_SOURCE, "[ledger] url: %s", src->ops->errmsg(src));
		goto done;
	}
	*cp = rc == LEDGER_ENOENT ? 0 : cps;
	/* (a configuration whose node never ran has no state database of its own: the copy then
	 * holds the database's shared state alone) */
	if (p->state != NULL && (access(p->state, F_OK) == 0 || errno != ENOENT)) {
		if ((rc = open_source(p->state, &sdb, out)) < 0)
			goto done;
		if (exec(sdb, "BEGIN; SELECT count(*) FROM sqlite_schema", p->state,
		         LEDGER_BACKUP_SOURCE, out) < 0) {
			rc = LEDGER_BACKUP_SOURCE;
			goto done;
		}
	}
	if ((rc = copy_store(src, lpath, origin, *cp, out)) < 0 ||
	    (sdb != NULL && (rc = copy_db(sdb, p->state, spath, out)) < 0) ||
	    (rc = copy_shared_state(src, spath, out)) < 0)
		goto done;
	*with_state = true;
	rc = 0;
done:
	if (snap)
		src->ops->snapshot_end(src);
	sqlite3_close(sdb);
	ledger_store_free(src);
	free(origin);
	return rc;
}

int
ledger_backup(const struct ledger_backup_params *p, struct ledger_backup_result *out)
{
	char tmp[PATH_MAX], lpath[PATH_MAX], spath[PATH_MAX], vpath[PATH_MAX], npath[PATH_MAX];
	char *note = NULL;
	uint64_t cp = 0;
	bool have_tmp = false, with_state = false;
	int64_t t0 = now_mono_ms();
	int rc;

	memset(out, 0, sizeof(*out));
	out->state_bytes = -1;
	if (stagedir_create(p->dest, tmp, sizeof(tmp)) < 0) {
		int e = errno;
		if (e == EEXIST)
			return problem(out, LEDGER_BACKUP_EXISTS,
			               "%s exists: a backup goes into a new folder", p->dest);
		return problem(
		    out, e == ENOSPC || e == EDQUOT ? LEDGER_BACKUP_WRITE : LEDGER_BACKUP_DEST,
		    "cannot create a folder beside %s: %s", p->dest, strerror(e));
	}
	have_tmp = true;
	if ((rc = join(lpath, sizeof(lpath), tmp, "ledger.db", out)) < 0 ||
	    (rc = join(spath, sizeof(spath), tmp, "state.db", out)) < 0 ||
	    (rc = join(vpath, sizeof(vpath), tmp, "ledger.vkey", out)) < 0 ||
	    (rc = join(npath, sizeof(npath), tmp, "checkpoint", out)) < 0)
		goto done;

	if (ledger_store_is_url(p->ledger))
		rc = snapshot_store(p, lpath, spath, &note, &cp, &t0, &with_state, out);
	else
		rc = snapshot_file(p, lpath, spath, &note, &cp, &t0, &with_state, out);
	if (rc < 0)
		goto done;
	out->size = cp;
	if ((rc = finish_db(lpath, true, cp, out)) < 0 ||
	    (with_state && (rc = finish_db(spath, false, 0, out)) < 0) ||
	    (rc = sync_file(lpath, &out->ledger_bytes, out)) < 0 ||
	    (with_state && (rc = sync_file(spath, &out->state_bytes, out)) < 0) ||
	    (rc = write_text(vpath, p->vkey, out)) < 0 ||
	    (note != NULL && (rc = write_text(npath, note, out)) < 0))
		goto done;
	out->copy_ms = now_mono_ms() - t0;

	t0 = now_mono_ms();
	if ((rc = verify_copy(p, lpath, cp, out)) < 0)
		goto done;
	out->verify_ms = now_mono_ms() - t0;
	if (stagedir_commit(tmp, p->dest) < 0) {
		int e = errno;
		rc = problem(out, e == EEXIST ? LEDGER_BACKUP_EXISTS : LEDGER_BACKUP_WRITE,
		             "%s: %s", p->dest,
		             e == EEXIST ? "appeared meanwhile; not replacing it" : strerror(e));
		goto done;
	}
	have_tmp = false;
	rc = 0;
done:
	if (have_tmp)
		stagedir_remove(tmp);
	free(note);
	return rc;
}
