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
#include "ledger_read.h"
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

int
ledger_backup(const struct ledger_backup_params *p, struct ledger_backup_result *out)
{
	char tmp[PATH_MAX], lpath[PATH_MAX], spath[PATH_MAX], vpath[PATH_MAX], npath[PATH_MAX];
	char err[512], *origin = NULL, *note = NULL;
	sqlite3 *ldb = NULL, *sdb = NULL;
	uint64_t size, cp = 0;
	int64_t t0, deadline;
	bool have_tmp = false;
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
	if (ledger_sizes(ldb, &out->start_size, &cp) < 0) {
		rc = problem(out, LEDGER_BACKUP_SOURCE, "%s: %s", p->ledger, sqlite3_errmsg(ldb));
		goto done;
	}
	/* A running gateway signs within its checkpoint interval. */
	while (cp < out->start_size) {
		if (now_mono_ms() >= deadline) {
			rc = problem(
			    out, LEDGER_BACKUP_UNSIGNED,
			    "%s: entries %" PRIu64 " to %" PRIu64
			    " have no checkpoint after %u ms: is the gateway running? (A "
			    "stopped gateway's ledger ends with a checkpoint; after a crash, "
			    "starting it signs the tail.)",
			    p->ledger, cp, out->start_size - 1, p->wait_ms);
			goto done;
		}
		struct timespec ts = {0, POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
		if (ledger_sizes(ldb, &size, &cp) < 0) {
			rc = problem(out, LEDGER_BACKUP_SOURCE, "%s: %s", p->ledger,
			             sqlite3_errmsg(ldb));
			goto done;
		}
	}
	out->wait_ms = now_mono_ms() - t0;

	/* The snapshots: one read transaction on each database, the state's just after the
	 * ledger's, so that its record counts and revocations are never older than the ledger. */
	t0 = now_mono_ms();
	if (exec(ldb, "BEGIN", p->ledger, LEDGER_BACKUP_SOURCE, out) < 0 ||
	    ledger_sizes(ldb, &out->snapshot_size, &cp) < 0) {
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
	if (cp > 0 && (note = note_at(ldb, cp)) == NULL) {
		rc = problem(out, LEDGER_BACKUP_SOURCE, "%s: checkpoint %" PRIu64 ": %s", p->ledger,
		             cp, sqlite3_errmsg(ldb));
		goto done;
	}
	if ((rc = copy_db(ldb, p->ledger, lpath, out)) < 0 ||
	    (sdb != NULL && (rc = copy_db(sdb, p->state, spath, out)) < 0))
		goto done;
	sqlite3_exec(ldb, "COMMIT", NULL, NULL, NULL);
	if (sdb != NULL)
		sqlite3_exec(sdb, "COMMIT", NULL, NULL, NULL);
	out->size = cp;
	if ((rc = finish_db(lpath, true, cp, out)) < 0 ||
	    (sdb != NULL && (rc = finish_db(spath, false, 0, out)) < 0) ||
	    (rc = sync_file(lpath, &out->ledger_bytes, out)) < 0 ||
	    (sdb != NULL && (rc = sync_file(spath, &out->state_bytes, out)) < 0) ||
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
	sqlite3_close(ldb);
	sqlite3_close(sdb);
	if (have_tmp)
		stagedir_remove(tmp);
	free(origin);
	free(note);
	return rc;
}
