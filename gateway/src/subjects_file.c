/* subjects_file — the register of members' requests in the SQLite file of [gateway] state: a
 * single gateway's (subjects_int.h). */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cal.h"
#include "subjects_int.h"

#define BUSY_TIMEOUT_MS 5000
#define SEQ_MAX 999999 /* NNNNNN */

struct subjects_store {
	pthread_mutex_t mu; /* the connection and its transactions serve one thread at a time */
	sqlite3 *db;
};

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS subject_requests("
    " id TEXT PRIMARY KEY, year INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " subject TEXT NOT NULL, type TEXT NOT NULL, received TEXT NOT NULL,"
    " channel TEXT, note TEXT,"
    " opened_at INTEGER NOT NULL, opened_by TEXT NOT NULL, opened_index INTEGER NOT NULL,"
    " status TEXT NOT NULL, outcome TEXT, reason TEXT,"
    " closed_at INTEGER, closed_by TEXT, closed_index INTEGER,"
    " UNIQUE(year, seq));"
    "CREATE INDEX IF NOT EXISTS subject_requests_subject ON subject_requests(subject);";

static int
exec(struct subjects_store *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* The bits that subject's requests hold, in the current transaction. 0 or -1. */
static int
held_bits(struct subjects_store *s, const char *subject, unsigned *bits)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*bits = 0;
	if (sqlite3_prepare_v2(
	        s->db,
	        "SELECT type FROM subject_requests WHERE subject = ?1 AND " SUBJECTS_HOLDS_SQL, -1,
	        &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC) != SQLITE_OK) {
		sqlite3_finalize(st);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*bits |= subjects_type_bit((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
file_load(struct subjects_store *s, struct ledger_store *via, uint64_t *gen,
          int (*fn)(void *arg, const char *subject, unsigned bit), void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc;

	assert(via == NULL);
	*gen = 0;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(
	        s->db, "SELECT subject, type FROM subject_requests WHERE " SUBJECTS_HOLDS_SQL, -1,
	        &st, NULL) != SQLITE_OK) {
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (fn(arg, (const char *)sqlite3_column_text(st, 0),
		       subjects_type_bit((const char *)sqlite3_column_text(st, 1))) != 0) {
			rc = SQLITE_ERROR;
			break;
		}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
file_free(struct subjects_store *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Binds text or NULL. */
static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return v != NULL ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT)
	                 : sqlite3_bind_null(st, i);
}

/* Runs one statement of the write with its parameters bound by the caller; 0 or -1. */
static int
step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The end of a write, after the act was recorded: the restriction bits of subject recomputed
 * in the transaction, and the commit. SUBJECTS_OK or SUBJECTS_ESTORE (rolled back). */
static enum subjects_result
finish(struct subjects_store *s, const char *subject, unsigned *bits)
{
	if (held_bits(s, subject, bits) != 0 || exec(s, "COMMIT") != 0) {
		exec(s, "ROLLBACK");
		return SUBJECTS_ESTORE;
	}
	return SUBJECTS_OK;
}

/* The year of now_ms in Japan, and the next number in it. 0 or -1. */
static int
next_id(struct subjects_store *s, int64_t now_ms, int *year, int *seq)
{
	sqlite3_stmt *st = NULL;
	int m, d, rc = -1;

	cal_civil_from_days(cal_jst_day(now_ms), year, &m, &d);
	if (sqlite3_prepare_v2(s->db,
	                       "SELECT COALESCE(MAX(seq), 0) + 1 FROM subject_requests "
	                       "WHERE year = ?1",
	                       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_bind_int(st, 1, *year) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		*seq = sqlite3_column_int(st, 0);
		rc = *seq >= 1 && *seq <= SEQ_MAX && *year >= 1 && *year <= 9999 ? 0 : -1;
	}
	sqlite3_finalize(st);
	return rc;
}

static enum subjects_result
file_add(struct subjects_store *s, const struct subjects_new *n, subjects_record_fn record,
         void *arg, struct subjects_row *row, uint64_t *index, unsigned *bits)
{
	enum subjects_result res = SUBJECTS_EDB;
	sqlite3_stmt *st = NULL;
	int year = 0, seq = 0;

	pthread_mutex_lock(&s->mu);
	if (exec(s, "BEGIN IMMEDIATE") != 0)
		goto done;
	if (next_id(s, n->now_ms, &year, &seq) != 0) {
		exec(s, "ROLLBACK");
		goto done;
	}
	snprintf(row->id, sizeof(row->id), "RQ-%04d-%06d", year, seq);
	row->type = n->type;
	snprintf(row->received, sizeof(row->received), "%s", n->received);
	row->outcome = SUBJECTS_OPEN;
	if (record(arg, row, index) != 0) {
		exec(s, "ROLLBACK");
		res = SUBJECTS_NOT_RECORDED;
		goto done;
	}
	res = SUBJECTS_ESTORE;
	if (sqlite3_prepare_v2(s->db,
	                       "INSERT INTO subject_requests(id, year, seq, subject, type, "
	                       "received, channel, note, opened_at, opened_by, opened_index, "
	                       "status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
	                       "'open')",
	                       -1, &st, NULL) != SQLITE_OK ||
	    bind_text(st, 1, row->id) != SQLITE_OK || sqlite3_bind_int(st, 2, year) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, seq) != SQLITE_OK ||
	    bind_text(st, 4, n->subject) != SQLITE_OK ||
	    bind_text(st, 5, subjects_type_name(n->type)) != SQLITE_OK ||
	    bind_text(st, 6, n->received) != SQLITE_OK ||
	    bind_text(st, 7, n->channel) != SQLITE_OK || bind_text(st, 8, n->note) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 9, n->now_ms) != SQLITE_OK ||
	    bind_text(st, 10, n->by) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 11, (sqlite3_int64)*index) != SQLITE_OK || step_done(st) != 0) {
		if (st != NULL)
			sqlite3_finalize(st);
		exec(s, "ROLLBACK");
		goto done;
	}
	res = finish(s, n->subject, bits);
done:
	pthread_mutex_unlock(&s->mu);
	return res;
}

static enum subjects_result
file_close(struct subjects_store *s, const char *subject, const char *id,
           enum subjects_outcome outcome, const char *reason, const char *by, int64_t now_ms,
           subjects_record_fn record, void *arg, struct subjects_row *row, uint64_t *index,
           unsigned *bits)
{
	enum subjects_result res = SUBJECTS_EDB;
	sqlite3_stmt *st = NULL;
	int rc;

	pthread_mutex_lock(&s->mu);
	if (exec(s, "BEGIN IMMEDIATE") != 0)
		goto done;
	if (sqlite3_prepare_v2(s->db,
	                       "SELECT type, received, status FROM subject_requests "
	                       "WHERE id = ?1 AND subject = ?2",
	                       -1, &st, NULL) != SQLITE_OK ||
	    bind_text(st, 1, id) != SQLITE_OK || bind_text(st, 2, subject) != SQLITE_OK) {
		sqlite3_finalize(st);
		exec(s, "ROLLBACK");
		goto done;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 0);
		const char *received = (const char *)sqlite3_column_text(st, 1);
		const char *status = (const char *)sqlite3_column_text(st, 2);
		snprintf(row->id, sizeof(row->id), "%s", id);
		snprintf(row->received, sizeof(row->received), "%s", received ? received : "");
		row->outcome = outcome;
		if (subjects_type_parse(type, &row->type) != 0)
			rc = SQLITE_ERROR; /* a row pdgate did not write */
		else if (status == NULL || strcmp(status, "open") != 0)
			res = SUBJECTS_CLOSED_ALREADY;
	} else if (rc == SQLITE_DONE) {
		res = SUBJECTS_NOT_FOUND;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW || res != SUBJECTS_EDB) {
		exec(s, "ROLLBACK");
		goto done;
	}
	if (record(arg, row, index) != 0) {
		exec(s, "ROLLBACK");
		res = SUBJECTS_NOT_RECORDED;
		goto done;
	}
	res = SUBJECTS_ESTORE;
	if (sqlite3_prepare_v2(s->db,
	                       "UPDATE subject_requests SET status = 'closed', outcome = ?1, "
	                       "reason = ?2, closed_at = ?3, closed_by = ?4, closed_index = ?5 "
	                       "WHERE id = ?6",
	                       -1, &st, NULL) != SQLITE_OK ||
	    bind_text(st, 1, subjects_outcome_name(outcome)) != SQLITE_OK ||
	    bind_text(st, 2, reason) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, now_ms) != SQLITE_OK || bind_text(st, 4, by) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, (sqlite3_int64)*index) != SQLITE_OK ||
	    bind_text(st, 6, id) != SQLITE_OK || step_done(st) != 0) {
		if (st != NULL)
			sqlite3_finalize(st);
		exec(s, "ROLLBACK");
		goto done;
	}
	res = finish(s, subject, bits);
done:
	pthread_mutex_unlock(&s->mu);
	return res;
}

static json_t *
file_rows(struct subjects_store *s, enum subjects_rows which, const char *param, int64_t today)
{
	sqlite3_stmt *st = NULL;
	json_t *a = json_array();
	int rc = SQLITE_ERROR;

	pthread_mutex_lock(&s->mu);
	if (a == NULL ||
	    sqlite3_prepare_v2(s->db, subjects_rows_sql[which], -1, &st, NULL) != SQLITE_OK ||
	    (param != NULL && bind_text(st, 1, param) != SQLITE_OK))
		goto done;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *col[SUBJECTS_NCOLS];
		for (int i = 0; i < SUBJECTS_NCOLS; i++)
			col[i] = (const char *)sqlite3_column_text(st, i);
		json_t *o = subjects_row_json(col, which != SUBJECTS_ROWS_OF, today);
		if (o == NULL || json_array_append_new(a, o) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
done:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static const struct subjects_store_ops file_ops = {
    .kind = "sqlite",
    .add = file_add,
    .close = file_close,
    .load = file_load,
    .rows = file_rows,
    .free = file_free,
};

struct subjects *
subjects_open(const char *path, char *err, size_t errlen)
{
	struct subjects_store *s;
	char *msg = NULL;

	if (path == NULL) {
		snprintf(err, errlen, "request register: no state database configured");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "request register: out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	if (sqlite3_open_v2(path, &s->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         s->db ? sqlite3_errmsg(s->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
	                 &msg) != SQLITE_OK ||
	    sqlite3_exec(s->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
		goto fail;
	}
	struct subjects *r = subjects_new_over(&file_ops, s, err, errlen);
	if (r == NULL) {
		char why[256];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: %s", path, why);
	}
	return r;
fail:
	file_free(s);
	return NULL;
}
