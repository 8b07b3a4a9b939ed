/* subjects — members' requests (開示・訂正・削除・利用停止・第三者提供停止): their register in the
 * state database, and the restrictions they put on every release, held in memory. */
#include "subjects.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cal.h"

#define BUSY_TIMEOUT_MS 5000
#define SEQ_MAX 999999 /* NNNNNN */

static const char *const type_names[SUBJECTS_NTYPES] = {"disclosure", "correction", "deletion",
                                                        "stop_use", "stop_third_party"};
static const char *const outcome_names[] = {"open", "completed", "refused", "withdrawn"};

/*
 * The restrictions in memory: an open-addressing table of subject references and their bits,
 * read under a shared lock on the request path and written under the exclusive one. Slots are
 * never removed (a lifted restriction keeps its slot with bits 0), so a lookup stops at the
 * first empty slot. The table grows before a write's transaction begins, so that putting the
 * restriction in force after the commit cannot fail for want of memory.
 */
struct slot {
	char key[PSEUDO_SUBJECT_HEX + 1]; /* "" when empty */
	unsigned bits;
};

struct overlay {
	pthread_rwlock_t lock;
	struct slot *slots;
	size_t cap;               /* a power of two, or 0 */
	size_t n;                 /* slots in use */
	atomic_size_t restricted; /* slots with bits != 0: 0 spares the lock on the request path */
	atomic_uint_fast64_t generation; /* +1 by each change of bits, under the exclusive lock */
};

struct subjects {
	pthread_mutex_t mu; /* the connection and its transactions serve one thread at a time */
	sqlite3 *db;
	struct overlay ov;
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

/* The requests that hold a restriction: a stop request, open or completed. */
#define HOLDS_SQL                                                                                  \
	"type IN ('stop_use', 'stop_third_party') AND (status = 'open' OR outcome = 'completed')"

#define COLUMNS                                                                                    \
	"id, subject, type, received, channel, note, status, outcome, reason, opened_at, "         \
	"opened_by, opened_index, closed_at, closed_by, closed_index"

const char *
subjects_type_name(enum subjects_type t)
{
	return (unsigned)t < SUBJECTS_NTYPES ? type_names[t] : NULL;
}

int
subjects_type_parse(const char *s, enum subjects_type *out)
{
	for (unsigned i = 0; s != NULL && i < SUBJECTS_NTYPES; i++)
		if (strcmp(s, type_names[i]) == 0) {
			*out = (enum subjects_type)i;
			return 0;
		}
	return -1;
}

const char *
subjects_outcome_name(enum subjects_outcome o)
{
	return (unsigned)o <= SUBJECTS_WITHDRAWN ? outcome_names[o] : NULL;
}

int
subjects_outcome_parse(const char *s, enum subjects_outcome *out)
{
	for (unsigned i = SUBJECTS_COMPLETED; s != NULL && i <= SUBJECTS_WITHDRAWN; i++)
		if (strcmp(s, outcome_names[i]) == 0) {
			*out = (enum subjects_outcome)i;
			return 0;
		}
	return -1;
}

static unsigned
type_bit(const char *type)
{
	if (strcmp(type, "stop_use") == 0)
		return POLICY_RESTRICT_STOP_USE;
	if (strcmp(type, "stop_third_party") == 0)
		return POLICY_RESTRICT_STOP_THIRD_PARTY;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The overlay. */

static size_t
hash(const char *key)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ULL;
	return (size_t)h;
}

/* The slot of key, or the empty slot where it would go. cap must be > n. */
static struct slot *
find(struct slot *slots, size_t cap, const char *key)
{
	size_t i = hash(key) & (cap - 1);

	while (slots[i].key[0] != '\0' && strcmp(slots[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

/* Room for one more key at a load of at most a half. Exclusive lock held. 0 or -1. */
static int
overlay_reserve(struct overlay *ov)
{
	size_t cap = ov->cap ? ov->cap : 64;
	struct slot *slots;

	if ((ov->n + 1) * 2 <= ov->cap)
		return 0;
	while ((ov->n + 1) * 2 > cap)
		cap *= 2;
	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return -1;
	for (size_t i = 0; i < ov->cap; i++)
		if (ov->slots[i].key[0] != '\0')
			*find(slots, cap, ov->slots[i].key) = ov->slots[i];
	free(ov->slots);
	ov->slots = slots;
	ov->cap = cap;
	return 0;
}

/* Sets key's bits; overlay_reserve made room. Exclusive lock held. */
static void
overlay_set(struct overlay *ov, const char *key, unsigned bits)
{
	struct slot *sl = find(ov->slots, ov->cap, key);

	assert((ov->n + 1) * 2 <= ov->cap || sl->key[0] != '\0');
	if (sl->key[0] == '\0') {
		if (bits == 0)
			return;
		snprintf(sl->key, sizeof(sl->key), "%s", key);
		ov->n++;
	}
	if ((sl->bits != 0) != (bits != 0))
		atomic_fetch_add(&ov->restricted, bits != 0 ? 1 : (size_t)-1);
	sl->bits = bits;
	/* last: whoever reads the new number then reads the new bits (restricted before it, the
	   bits under the lock this holds); whoever read the old one sees the number change */
	atomic_fetch_add(&ov->generation, 1);
}

unsigned
subjects_restrictions(struct subjects *s, const char *subject)
{
	unsigned bits = 0;

	if (atomic_load(&s->ov.restricted) == 0)
		return 0;
	pthread_rwlock_rdlock(&s->ov.lock);
	if (s->ov.cap > 0)
		bits = find(s->ov.slots, s->ov.cap, subject)->bits;
	pthread_rwlock_unlock(&s->ov.lock);
	return bits;
}

uint64_t
subjects_generation(struct subjects *s)
{
	return atomic_load(&s->ov.generation);
}

/* ------------------------------------------------------------------------------------------ */
/* The database. */

static int
exec(struct subjects *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* The bits that subject's requests hold, in the current transaction. 0 or -1. */
static int
held_bits(struct subjects *s, const char *subject, unsigned *bits)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*bits = 0;
	if (sqlite3_prepare_v2(
	        s->db, "SELECT type FROM subject_requests WHERE subject = ?1 AND " HOLDS_SQL, -1,
	        &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC) != SQLITE_OK) {
		sqlite3_finalize(st);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*bits |= type_bit((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Every restriction held, into the overlay (at open, nothing else running). 0 or -1. */
static int
load(struct subjects *s)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, "SELECT subject, type FROM subject_requests WHERE " HOLDS_SQL,
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		unsigned bit = type_bit((const char *)sqlite3_column_text(st, 1));
		if (key == NULL || strlen(key) != PSEUDO_SUBJECT_HEX ||
		    overlay_reserve(&s->ov) != 0) {
			rc = SQLITE_ERROR;
			break;
		}
		overlay_set(&s->ov, key, find(s->ov.slots, s->ov.cap, key)->bits | bit);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

struct subjects *
subjects_open(const char *path, char *err, size_t errlen)
{
	struct subjects *s;
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
	pthread_rwlock_init(&s->ov.lock, NULL);
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
	if (load(s) != 0) {
		snprintf(err, errlen, "%s: the members' restrictions cannot be loaded: %s", path,
		         sqlite3_errmsg(s->db));
		goto fail;
	}
	return s;
fail:
	subjects_close(s);
	return NULL;
}

void
subjects_close(struct subjects *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	free(s->ov.slots);
	pthread_rwlock_destroy(&s->ov.lock);
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

/*
 * The end of a write, after the act was recorded: the restriction bits of subject recomputed
 * in the transaction, the commit, and the overlay set. SUBJECTS_OK or SUBJECTS_ESTORE (rolled
 * back, overlay unchanged). The writer's mutex is held; the overlay has room (reserved).
 */
static enum subjects_result
finish(struct subjects *s, const char *subject)
{
	unsigned bits;

	if (held_bits(s, subject, &bits) != 0 || exec(s, "COMMIT") != 0) {
		exec(s, "ROLLBACK");
		return SUBJECTS_ESTORE;
	}
	pthread_rwlock_wrlock(&s->ov.lock);
	overlay_set(&s->ov, subject, bits);
	pthread_rwlock_unlock(&s->ov.lock);
	return SUBJECTS_OK;
}

/* Begins a write: room in the overlay, then the transaction. 0, or -1 (nothing begun). */
static int
begin(struct subjects *s)
{
	int r;

	pthread_rwlock_wrlock(&s->ov.lock);
	r = overlay_reserve(&s->ov);
	pthread_rwlock_unlock(&s->ov.lock);
	return r == 0 ? exec(s, "BEGIN IMMEDIATE") : -1;
}

/* The year of now_ms in Japan, and the next number in it. 0 or -1. */
static int
next_id(struct subjects *s, int64_t now_ms, int *year, int *seq)
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

enum subjects_result
subjects_add(struct subjects *s, const struct subjects_new *n, subjects_record_fn record, void *arg,
             struct subjects_row *row, uint64_t *index)
{
	enum subjects_result res = SUBJECTS_EDB;
	sqlite3_stmt *st = NULL;
	int year = 0, seq = 0;

	assert(n->subject != NULL && strlen(n->subject) == PSEUDO_SUBJECT_HEX);
	memset(row, 0, sizeof(*row));
	pthread_mutex_lock(&s->mu);
	if (begin(s) != 0)
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
	res = finish(s, n->subject);
done:
	pthread_mutex_unlock(&s->mu);
	return res;
}

enum subjects_result
subjects_close_request(struct subjects *s, const char *subject, const char *id,
                       enum subjects_outcome outcome, const char *reason, const char *by,
                       int64_t now_ms, subjects_record_fn record, void *arg,
                       struct subjects_row *row, uint64_t *index)
{
	enum subjects_result res = SUBJECTS_EDB;
	sqlite3_stmt *st = NULL;
	int rc;

	assert(outcome != SUBJECTS_OPEN);
	memset(row, 0, sizeof(*row));
	pthread_mutex_lock(&s->mu);
	if (begin(s) != 0)
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
	res = finish(s, subject);
done:
	pthread_mutex_unlock(&s->mu);
	return res;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading. */

static json_t *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return v != NULL ? json_string((const char *)v) : json_null();
}

static json_t *
col_int(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL
	           ? json_null()
	           : json_integer((json_int_t)sqlite3_column_int64(st, i));
}

/* An instant in ms as RFC 3339 UTC with milliseconds, as the ledger writes times; or null. */
static json_t *
col_time(sqlite3_stmt *st, int i)
{
	char out[CAL_UTC_LEN], ms[CAL_UTC_LEN + 8];
	int64_t t;

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	t = sqlite3_column_int64(st, i);
	cal_format_utc((time_t)(t / 1000), out);
	snprintf(ms, sizeof(ms), "%.19s.%03dZ", out, (int)(t % 1000));
	return json_string(ms);
}

/* Whole days from received until today, or until the day it was closed. */
static json_t *
age_days(sqlite3_stmt *st, int64_t today)
{
	const char *received = (const char *)sqlite3_column_text(st, 3);
	int y, m, d;

	if (received == NULL || cal_parse_date(received, strlen(received), &y, &m, &d) != 0)
		return json_null();
	if (sqlite3_column_type(st, 12) != SQLITE_NULL)
		today = cal_jst_day(sqlite3_column_int64(st, 12));
	return json_integer((json_int_t)(today - cal_days_from_civil(y, m, d)));
}

/* The rows of a query over COLUMNS as an array; with_subject adds "subject". */
static json_t *
rows(struct subjects *s, const char *sql, const char *param, bool with_subject, int64_t today)
{
	sqlite3_stmt *st = NULL;
	json_t *a = json_array();
	int rc = SQLITE_ERROR;

	pthread_mutex_lock(&s->mu);
	if (a == NULL || sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK ||
	    (param != NULL && bind_text(st, 1, param) != SQLITE_OK))
		goto done;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = json_pack(
		    "{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id",
		    col_text(st, 0), "type", col_text(st, 2), "received", col_text(st, 3),
		    "channel", col_text(st, 4), "note", col_text(st, 5), "status", col_text(st, 6),
		    "outcome", col_text(st, 7), "reason", col_text(st, 8), "opened_at",
		    col_time(st, 9), "opened_by", col_text(st, 10), "opened_index", col_int(st, 11),
		    "closed_at", col_time(st, 12), "closed_by", col_text(st, 13), "closed_index",
		    col_int(st, 14));
		if (o == NULL || json_object_set_new(o, "age_days", age_days(st, today)) != 0 ||
		    (with_subject && json_object_set_new(o, "subject", col_text(st, 1)) != 0) ||
		    json_array_append_new(a, o) != 0) {
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

#define ORDER " ORDER BY received, id"

json_t *
subjects_of(struct subjects *s, const char *subject, int64_t today)
{
	return rows(s, "SELECT " COLUMNS " FROM subject_requests WHERE subject = ?1" ORDER, subject,
	            false, today);
}

json_t *
subjects_list(struct subjects *s, const char *status, int64_t today)
{
	if (status == NULL)
		return rows(s, "SELECT " COLUMNS " FROM subject_requests" ORDER, NULL, true, today);
	return rows(s, "SELECT " COLUMNS " FROM subject_requests WHERE status = ?1" ORDER, status,
	            true, today);
}

json_t *
subjects_overdue(struct subjects *s, int64_t today)
{
	char before[CAL_DAY_LEN];

	cal_format_day(today - SUBJECTS_OVERDUE_DAYS, before);
	return rows(s,
	            "SELECT " COLUMNS " FROM subject_requests WHERE status = 'open' AND "
	            "received < ?1" ORDER,
	            before, true, today);
}
