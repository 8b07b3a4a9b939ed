/* subjects_pg — the register of members' requests in the ledger's PostgreSQL database, which
 * several gateway nodes share (subjects_int.h; docs/cluster.md). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cal.h"
#include "ledger_pg.h"
#include "ledger_pgwait.h"
#include "subjects_int.h"

#define SEQ_MAX 999999 /* NNNNNN */
/* The advisory lock under which an id is given out: every node's registering takes it, and
 * holds it while its act is recorded, so that no two get one number. Not the tree lock: the
 * record is this node's ledger commit, which takes that one. */
#define ID_LOCK "7075746174650002"
/* How long a statement's answer is waited for (ledger_pgwait.h): the statement_timeout of setup
 * and 5 s; a server that answers nothing is given up then, and the session made again. */
#define SILENCE_MS 35000

static PGresult *
xexec(PGconn *c, const char *sql)
{
	bool silent;
	return pgwait_exec(c, SILENCE_MS, &silent, sql);
}

static PGresult *
xparams(PGconn *c, const char *sql, int n, const char *const *vals)
{
	bool silent;
	return pgwait_params(c, SILENCE_MS, &silent, sql, n, NULL, vals, NULL, NULL, 0);
}

struct subjects_store {
	pthread_mutex_t mu; /* the connection serves one thread at a time */
	PGconn *conn;
};

static int
setup(PGconn *c)
{
	PGresult *r = xexec(c, "SET client_encoding = 'UTF8'; SET synchronous_commit = on; SET "
	                       "lock_timeout = '5s'; SET statement_timeout = '30s'; SET "
	                       "client_min_messages = warning");
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	PQclear(r);
	return ok ? 0 : -1;
}

/* The connection, made again if it broke (between statements: never inside a write). */
static int
ready(struct subjects_store *s)
{
	if (PQstatus(s->conn) == CONNECTION_OK)
		return 0;
	PQreset(s->conn);
	return PQstatus(s->conn) == CONNECTION_OK ? setup(s->conn) : -1;
}

/* sql with n text parameters on c; the result if its status is want, else NULL. */
static PGresult *
q(PGconn *c, const char *sql, int n, const char *const *vals, ExecStatusType want)
{
	PGresult *r = xparams(c, sql, n, vals);

	if (PQresultStatus(r) != want) {
		PQclear(r);
		return NULL;
	}
	return r;
}

/* A statement that returns nothing the caller reads. 0 or -1. */
static int
run(PGconn *c, const char *sql, int n, const char *const *vals)
{
	PGresult *r = xparams(c, sql, n, vals);
	ExecStatusType st = PQresultStatus(r);

	PQclear(r);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
}

static void
rollback(PGconn *c)
{
	if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(xexec(c, "ROLLBACK"));
}

static int
pg_load(struct subjects_store *s, struct ledger_store *via, uint64_t *gen,
        int (*fn)(void *arg, const char *subject, unsigned bit), void *arg)
{
	PGconn *c;
	PGresult *r = NULL;
	int rc = -1;

	if (via == NULL) {
		pthread_mutex_lock(&s->mu);
		c = ready(s) == 0 ? s->conn : NULL;
	} else {
		c = ledger_pg_conn(via);
	}
	/* one statement: the rows and the generation they are of, one snapshot */
	if (c != NULL)
		r = q(c,
		      "SELECT g.generation, r.subject, r.type FROM state AS g LEFT JOIN "
		      "subject_requests AS r ON " SUBJECTS_HOLDS_SQL " WHERE g.id = 0",
		      0, NULL, PGRES_TUPLES_OK);
	if (r != NULL && PQntuples(r) >= 1 && !PQgetisnull(r, 0, 0) &&
	    strtoll(PQgetvalue(r, 0, 0), NULL, 10) > 0) {
		*gen = (uint64_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		rc = 0;
		for (int i = 0; i < PQntuples(r) && rc == 0; i++)
			if (!PQgetisnull(r, i, 1))
				rc = fn(arg, PQgetvalue(r, i, 1),
				        subjects_type_bit(PQgetvalue(r, i, 2)));
	}
	PQclear(r);
	if (via == NULL)
		pthread_mutex_unlock(&s->mu);
	return rc;
}

/*
 * The end of a write, after its act was recorded and its row written: the tree lock (taken
 * before the row's statement by the caller), subject's bits, the generation moved and
 * announced, the commit. SUBJECTS_OK, or SUBJECTS_ESTORE (rolled back).
 */
static enum subjects_result
finish(struct subjects_store *s, const char *subject, unsigned *bits)
{
	const char *vals[1] = {subject};
	PGresult *r = q(
	    s->conn, "SELECT type FROM subject_requests WHERE subject = $1 AND " SUBJECTS_HOLDS_SQL,
	    1, vals, PGRES_TUPLES_OK);
	enum subjects_result res = SUBJECTS_ESTORE;

	if (r == NULL)
		goto done;
	*bits = 0;
	for (int i = 0; i < PQntuples(r); i++)
		*bits |= subjects_type_bit(PQgetvalue(r, i, 0));
	PQclear(r);
	/* delivered to every listening node when (and only if) this commits */
	if (run(s->conn, "UPDATE state SET generation = generation + 1 WHERE id = 0", 0, NULL) !=
	        0 ||
	    run(s->conn, "NOTIFY pdgate_state", 0, NULL) != 0)
		goto done;
	r = xexec(s->conn, "COMMIT");
	if (PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0)
		res = SUBJECTS_OK;
	PQclear(r);
done:
	rollback(s->conn);
	return res;
}

/* The tree lock, in the write's transaction: the write is ordered with every batch. */
#define TREE_LOCK "SELECT 1 FROM tree WHERE id = 0 FOR UPDATE"

static enum subjects_result
pg_add(struct subjects_store *s, const struct subjects_new *n, subjects_record_fn record, void *arg,
       struct subjects_row *row, uint64_t *index, unsigned *bits)
{
	enum subjects_result res = SUBJECTS_EDB;
	char year_s[8], seq_s[12], at[24], idx[24];
	int year, m, d, seq;
	PGresult *r;

	cal_civil_from_days(cal_jst_day(n->now_ms), &year, &m, &d);
	snprintf(year_s, sizeof(year_s), "%d", year);
	pthread_mutex_lock(&s->mu);
	if (ready(s) != 0 || run(s->conn, "BEGIN", 0, NULL) != 0 ||
	    run(s->conn, "SELECT pg_advisory_xact_lock(x'" ID_LOCK "'::bigint)", 0, NULL) != 0)
		goto done;
	r = q(s->conn, "SELECT COALESCE(MAX(seq), 0) + 1 FROM subject_requests WHERE year = $1", 1,
	      (const char *const[]){year_s}, PGRES_TUPLES_OK);
	if (r == NULL)
		goto done;
	seq = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (seq < 1 || seq > SEQ_MAX || year < 1 || year > 9999)
		goto done;
	snprintf(seq_s, sizeof(seq_s), "%d", seq);
	snprintf(row->id, sizeof(row->id), "RQ-%04d-%06d", year, seq);
	row->type = n->type;
	snprintf(row->received, sizeof(row->received), "%s", n->received);
	row->outcome = SUBJECTS_OPEN;
	if (record(arg, row, index) != 0) {
		res = SUBJECTS_NOT_RECORDED;
		goto done;
	}
	res = SUBJECTS_ESTORE;
	snprintf(at, sizeof(at), "%lld", (long long)n->now_ms);
	snprintf(idx, sizeof(idx), "%llu", (unsigned long long)*index);
	const char *vals[11] = {
	    row->id,     year_s,     seq_s,   n->subject, subjects_type_name(n->type),
	    n->received, n->channel, n->note, at,         n->by,
	    idx};
	if (run(s->conn, TREE_LOCK, 0, NULL) != 0 ||
	    run(s->conn,
	        "INSERT INTO subject_requests(id, year, seq, subject, type, received, channel, "
	        "note, opened_at, opened_by, opened_index, status) VALUES ($1, $2::integer, "
	        "$3::integer, $4, $5, $6, $7, $8, $9::bigint, $10, $11::bigint, 'open')",
	        11, vals) != 0)
		goto done;
	res = finish(s, n->subject, bits);
done:
	rollback(s->conn);
	pthread_mutex_unlock(&s->mu);
	return res;
}

static enum subjects_result
pg_close(struct subjects_store *s, const char *subject, const char *id,
         enum subjects_outcome outcome, const char *reason, const char *by, int64_t now_ms,
         subjects_record_fn record, void *arg, struct subjects_row *row, uint64_t *index,
         unsigned *bits)
{
	enum subjects_result res = SUBJECTS_EDB;
	char at[24], idx[24];
	PGresult *r;

	pthread_mutex_lock(&s->mu);
	if (ready(s) != 0 || run(s->conn, "BEGIN", 0, NULL) != 0)
		goto done;
	/* the row locked: a node closing it at the same time waits, then finds it closed */
	r = q(s->conn,
	      "SELECT type, received, status FROM subject_requests WHERE id = $1 AND subject = $2 "
	      "FOR UPDATE",
	      2, (const char *const[]){id, subject}, PGRES_TUPLES_OK);
	if (r == NULL)
		goto done;
	if (PQntuples(r) == 0) {
		res = SUBJECTS_NOT_FOUND;
	} else {
		snprintf(row->id, sizeof(row->id), "%s", id);
		snprintf(row->received, sizeof(row->received), "%s", PQgetvalue(r, 0, 1));
		row->outcome = outcome;
		if (subjects_type_parse(PQgetvalue(r, 0, 0), &row->type) != 0)
			res = SUBJECTS_EDB; /* a row pdgate did not write */
		else if (strcmp(PQgetvalue(r, 0, 2), "open") != 0)
			res = SUBJECTS_CLOSED_ALREADY;
		else
			res = SUBJECTS_OK;
	}
	PQclear(r);
	if (res != SUBJECTS_OK)
		goto done;
	if (record(arg, row, index) != 0) {
		res = SUBJECTS_NOT_RECORDED;
		goto done;
	}
	res = SUBJECTS_ESTORE;
	snprintf(at, sizeof(at), "%lld", (long long)now_ms);
	snprintf(idx, sizeof(idx), "%llu", (unsigned long long)*index);
	if (run(s->conn, TREE_LOCK, 0, NULL) != 0 ||
	    run(s->conn,
	        "UPDATE subject_requests SET status = 'closed', outcome = $1, reason = $2, "
	        "closed_at = $3::bigint, closed_by = $4, closed_index = $5::bigint WHERE id = $6",
	        6,
	        (const char *const[]){subjects_outcome_name(outcome), reason, at, by, idx, id}) !=
	        0)
		goto done;
	res = finish(s, subject, bits);
done:
	rollback(s->conn);
	pthread_mutex_unlock(&s->mu);
	return res;
}

static json_t *
pg_rows(struct subjects_store *s, enum subjects_rows which, const char *param, int64_t today)
{
	json_t *a = json_array();
	PGresult *r = NULL;
	int bad = a == NULL;

	pthread_mutex_lock(&s->mu);
	if (!bad && ready(s) == 0)
		r = q(s->conn, subjects_rows_sql[which], param != NULL ? 1 : 0,
		      (const char *const[]){param}, PGRES_TUPLES_OK);
	bad |= r == NULL;
	for (int i = 0; !bad && i < PQntuples(r); i++) {
		const char *col[SUBJECTS_NCOLS];
		for (int k = 0; k < SUBJECTS_NCOLS; k++)
			col[k] = PQgetisnull(r, i, k) ? NULL : PQgetvalue(r, i, k);
		json_t *o = subjects_row_json(col, which != SUBJECTS_ROWS_OF, today);
		bad |= o == NULL || json_array_append_new(a, o) != 0;
	}
	PQclear(r);
	pthread_mutex_unlock(&s->mu);
	if (bad) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static void
pg_free(struct subjects_store *s)
{
	if (s == NULL)
		return;
	PQfinish(s->conn);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static const struct subjects_store_ops pg_ops = {
    .kind = "postgresql",
    .add = pg_add,
    .close = pg_close,
    .load = pg_load,
    .rows = pg_rows,
    .free = pg_free,
};

struct subjects *
subjects_open_pg(const char *url, char *err, size_t errlen)
{
	static const char *const keys[] = {"connect_timeout",  "keepalives", "keepalives_idle",
	                                   "application_name", "dbname",     NULL};
	const char *vals[] = {"5", "1", "10", "pdgate", url, NULL};
	struct subjects_store *s = calloc(1, sizeof(*s));
	PGresult *r;

	if (s == NULL) {
		snprintf(err, errlen, "request register: out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	s->conn = PQconnectdbParams(keys, vals, 1);
	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK || setup(s->conn) != 0) {
		/* libpq's message; the URL itself is not repeated, it may hold a password */
		snprintf(err, errlen, "request register: %s",
		         s->conn ? PQerrorMessage(s->conn) : "out of memory");
		err[strcspn(err, "\n")] = '\0';
		pg_free(s);
		return NULL;
	}
	r = q(s->conn, "SELECT to_regclass('subject_requests') IS NOT NULL", 0, NULL,
	      PGRES_TUPLES_OK);
	if (r == NULL || strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		snprintf(err, errlen,
		         "request register: the database has no table subject_requests");
		PQclear(r);
		pg_free(s);
		return NULL;
	}
	PQclear(r);
	return subjects_new_over(&pg_ops, s, err, errlen);
}
