/* ledger_pg — inside the ledger: the ledger's store in a PostgreSQL database nodes share. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ledger_err.h"
#include "ledger_pg.h"
#include "ledger_pg_int.h"
#include "ledger_pgwait.h"

/* Type OIDs of the parameters (pg_type.h, stable across versions). */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25
/* The advisory lock that makes creating the tables one step for nodes starting together. */
#define INIT_LOCK "7075746174650001"
/* Rows a scan reads per statement: a verify of a million entries holds a few thousand rows in
 * memory at a time, never the whole ledger. */
#define SCAN_ROWS 256

/*
 * The tables (docs/ledger.md, "On PostgreSQL"). batches and checkpoints are ledger.db's, row
 * for row; `tree` is the one row every writer locks: its size is the end of the last batch and
 * its time that batch's time, updated in the transaction that inserts the batch. The hashes are
 * random bytes: stored out of line without trying to compress them.
 */
static const char schema_sql[] =
    "CREATE TABLE meta(key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE tree(id integer PRIMARY KEY CHECK (id = 0), size bigint NOT NULL CHECK (size "
    ">= 0), time bigint NOT NULL);"
    "CREATE TABLE batches(first bigint PRIMARY KEY CHECK (first >= 0), n bigint NOT NULL CHECK "
    "(n > 0), time bigint NOT NULL, hashes bytea NOT NULL, leaves text NOT NULL);"
    "ALTER TABLE batches ALTER COLUMN hashes SET STORAGE EXTERNAL;"
    "CREATE TABLE checkpoints(size bigint PRIMARY KEY, note text NOT NULL, time bigint NOT "
    "NULL);"
    "CREATE VIEW entries(idx, leaf, time) AS SELECT b.first + j.ord - 1, j.leaf, b.time FROM "
    "batches AS b, json_array_elements_text(b.leaves::json) WITH ORDINALITY AS j(leaf, ord);"
    "INSERT INTO tree(id, size, time) VALUES (0, 0, 0);";

/*
 * The state the nodes share (docs/cluster.md): the suspensions, the revoked tokens (revoked_at
 * in Unix seconds, as the state database's), the members' requests, and one row whose
 * generation grows with every change of them. A change takes the tree lock (state_suspend,
 * state_revoke), and every commit reads the generation under that lock (pg_begin), so each batch
 * knows whether a release it holds was decided under the state in force. And the limits: each
 * work order's records released (uses) and each contract's records released on a JST day
 * (volumes, day a cal_jst_day). Made in a ledger that predates them too (the same schema
 * version: nothing of the ledger's own rows changes).
 */
static const char state_sql[] =
    "CREATE TABLE IF NOT EXISTS state(id integer PRIMARY KEY CHECK (id = 0), generation bigint "
    "NOT NULL CHECK (generation > 0));"
    "INSERT INTO state(id, generation) VALUES (0, 1) ON CONFLICT (id) DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS suspensions(partner text PRIMARY KEY, by text, reason text, "
    "since_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS revoked(jti text PRIMARY KEY, revoked_at bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS uses(jti text PRIMARY KEY, records bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS volumes(contract text, day bigint, records bigint NOT NULL, "
    "PRIMARY KEY (contract, day));"
    /* the members' requests (subjects_pg.c), as the state file's subject_requests */
    "CREATE TABLE IF NOT EXISTS subject_requests(id text PRIMARY KEY, year integer NOT NULL, "
    "seq integer NOT NULL, subject text NOT NULL, type text NOT NULL, received text NOT NULL, "
    "channel text, note text, opened_at bigint NOT NULL, opened_by text NOT NULL, "
    "opened_index bigint NOT NULL, status text NOT NULL, outcome text, reason text, closed_at "
    "bigint, closed_by text, closed_index bigint, UNIQUE (year, seq));"
    "CREATE INDEX IF NOT EXISTS subject_requests_subject ON subject_requests(subject);";

enum pg_stmt {
	PG_SIZE,
	PG_BATCH_META,
	PG_BATCH_HASHES,
	PG_BATCH_LEAVES,
	PG_CP_LATEST,
	PG_CP_AT,
	PG_SCAN_BATCHES,
	PG_SCAN_CPS,
	PG_READER_END,
	PG_INS_BATCH = PG_READER_END, /* the writer's */
	PG_INS_CP,
	PG_TAKE,
	PG_VOL_ADD,
	PG_VOL_GET,
	PG_COUNT,
};

static const struct {
	const char *name, *sql;
	int nparams;
	Oid types[5];
} stmts[PG_COUNT] = {
    [PG_SIZE] = {"pdgate_size",
                 "SELECT first + n FROM batches ORDER BY first DESC LIMIT 1",
                 0,
                 {0}},
    [PG_BATCH_META] = {"pdgate_meta",
                       "SELECT first, n, time FROM batches WHERE first <= $1 ORDER BY first "
                       "DESC LIMIT 1",
                       1,
                       {OID_INT8}},
    [PG_BATCH_HASHES] = {"pdgate_hashes",
                         "SELECT first, n, time, hashes FROM batches WHERE first <= $1 ORDER "
                         "BY first DESC LIMIT 1",
                         1,
                         {OID_INT8}},
    [PG_BATCH_LEAVES] = {"pdgate_leaves",
                         "SELECT first, n, time, leaves FROM batches WHERE first <= $1 ORDER "
                         "BY first DESC LIMIT 1",
                         1,
                         {OID_INT8}},
    [PG_CP_LATEST] = {"pdgate_cp_latest",
                      "SELECT size, note, time FROM checkpoints ORDER BY size DESC LIMIT 1",
                      0,
                      {0}},
    [PG_CP_AT] = {"pdgate_cp_at",
                  "SELECT size, note, time FROM checkpoints WHERE size = $1",
                  1,
                  {OID_INT8}},
    [PG_SCAN_BATCHES] = {"pdgate_scan_batches",
                         "SELECT first, n, time, hashes, leaves FROM batches WHERE first >= $1 "
                         "ORDER BY first LIMIT 256",
                         1,
                         {OID_INT8}},
    [PG_SCAN_CPS] =
        {"pdgate_scan_cps",
         "SELECT size, note, time FROM checkpoints WHERE size >= $1 ORDER BY size LIMIT "
         "256",
         1,
         {OID_INT8}},
    /* the tree row is updated only if it still ends where the batch starts */
    [PG_INS_BATCH] = {"pdgate_ins_batch",
                      "WITH b AS (INSERT INTO batches(first, n, time, hashes, leaves) VALUES "
                      "($1, $2, $3, $4, $5) RETURNING first + n AS e) UPDATE tree SET size = "
                      "(SELECT e FROM b), time = $3 WHERE id = 0 AND size = $1",
                      5,
                      {OID_INT8, OID_INT8, OID_INT8, OID_BYTEA, OID_TEXT}},
    [PG_INS_CP] = {"pdgate_ins_cp",
                   "INSERT INTO checkpoints(size, note, time) VALUES ($1, $2, $3)",
                   3,
                   {OID_INT8, OID_TEXT, OID_INT8}},
    /* the shared limits (ledger_pg_state.c's tables): each one statement, so atomic whichever
     * node runs it at the same time; the row is grown only while it stays within $3 ($4) */
    [PG_TAKE] = {"pdgate_take",
                 "INSERT INTO uses(jti, records) SELECT $1, $2 WHERE $2 <= $3 ON CONFLICT (jti) "
                 "DO UPDATE SET records = uses.records + excluded.records WHERE uses.records + "
                 "excluded.records <= $3 RETURNING records",
                 3,
                 {OID_TEXT, OID_INT8, OID_INT8}},
    [PG_VOL_ADD] = {"pdgate_vol_add",
                    "INSERT INTO volumes(contract, day, records) SELECT $1, $2, $3 WHERE $3 <= "
                    "$4 ON CONFLICT (contract, day) DO UPDATE SET records = volumes.records + "
                    "excluded.records WHERE volumes.records + excluded.records <= $4 RETURNING "
                    "records",
                    4,
                    {OID_TEXT, OID_INT8, OID_INT8, OID_INT8}},
    [PG_VOL_GET] = {"pdgate_vol_get",
                    "SELECT coalesce((SELECT records FROM volumes WHERE contract = $1 AND day = "
                    "$2), 0::bigint)",
                    2,
                    {OID_TEXT, OID_INT8}},
};

/* The server's message, one line, into p->err. */
void
lpg_set_err(struct pg_store *p, const PGresult *r, const char *what)
{
	const char *m = r != NULL ? PQresultErrorMessage(r) : "";

	if (p->silent)
		m = "PostgreSQL answered nothing in time: the session is given up";
	else if (m == NULL || m[0] == '\0')
		m = PQerrorMessage(p->conn);
	snprintf(p->err, sizeof(p->err), "%s%s%s", what ? what : "", what ? ": " : "",
	         m && m[0] ? m : "PostgreSQL failed");
	p->err[strcspn(p->err, "\n")] = '\0';
}

/* How long a session waits for a byte of a statement's answer (ledger_pgwait.h): the server's
 * own statement_timeout (setup: 30 s, a reader's 60 s) and 5 s, so that a server that works
 * answers first, in time or with its error; one that answers nothing is given up then. */
int
lpg_silence_ms(const struct pg_store *p)
{
	return p->writer ? 35000 : 65000;
}

PGresult *
lpg_exec(struct pg_store *p, const char *sql)
{
	return pgwait_exec(p->conn, lpg_silence_ms(p), &p->silent, sql);
}

PGresult *
lpg_exec_params(struct pg_store *p, const char *sql, int n, const Oid *types,
                const char *const *vals, const int *lens, const int *fmts, int result_fmt)
{
	return pgwait_params(p->conn, lpg_silence_ms(p), &p->silent, sql, n, types, vals, lens,
	                     fmts, result_fmt);
}

static void
be64(char out[8], int64_t v)
{
	uint64_t u = (uint64_t)v;

	for (int i = 7; i >= 0; i--, u >>= 8)
		out[i] = (char)(u & 0xff);
}

/* An int8 column of a binary result: 0, or -1 if null or not 8 bytes. */
static int
col64(const PGresult *r, int row, int col, int64_t *v)
{
	const unsigned char *b = (const unsigned char *)PQgetvalue(r, row, col);
	uint64_t u = 0;

	if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8)
		return -1;
	for (int i = 0; i < 8; i++)
		u = u << 8 | b[i];
	*v = (int64_t)u;
	return 0;
}

/* What a session needs before anything: the settings, and the statements. */
static int
setup(struct pg_store *p)
{
	const char *enc = PQparameterStatus(p->conn, "server_encoding");
	/* (client_min_messages: no notice of a table that exists already on stderr) */
	const char *set = p->writer ? "SET client_encoding = 'UTF8'; SET synchronous_commit = on; "
	                              "SET lock_timeout = '5s'; SET statement_timeout = '30s'; SET "
	                              "client_min_messages = warning"
	                            : "SET client_encoding = 'UTF8'; SET "
	                              "default_transaction_read_only = on; SET statement_timeout "
	                              "= '60s'; SET client_min_messages = warning";
	PGresult *r;

	if (enc == NULL || strcmp(enc, "UTF8") != 0) {
		snprintf(p->err, sizeof(p->err),
		         "the database's encoding is %s: a pdgate ledger needs UTF8",
		         enc ? enc : "unknown");
		return -1;
	}
	r = lpg_exec(p, set);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		lpg_set_err(p, r, NULL);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	p->prepared = false;
	return 0;
}

static int
prepare(struct pg_store *p)
{
	int n = p->writer ? PG_COUNT : PG_READER_END;

	for (int i = 0; i < n; i++) {
		PGresult *r = pgwait_prepare(p->conn, lpg_silence_ms(p), &p->silent, stmts[i].name,
		                             stmts[i].sql, stmts[i].nparams, stmts[i].types);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			lpg_set_err(p, r, "not a pdgate ledger");
			PQclear(r);
			return -1;
		}
		PQclear(r);
	}
	p->prepared = true;
	return 0;
}

/* A connection to work on: one that broke (the server restarted, the network) is made again
 * outside a transaction; inside one, the transaction is lost and the call fails. */
static int
ready(struct pg_store *p)
{
	if (PQstatus(p->conn) == CONNECTION_OK && (p->prepared || !p->opened))
		return 0;
	if (p->in_tx) {
		snprintf(p->err, sizeof(p->err), "the connection to PostgreSQL was lost");
		return -1;
	}
	if (PQstatus(p->conn) != CONNECTION_OK) {
		p->silent = false; /* what is said now is of the new session */
		PQreset(p->conn);
		if (PQstatus(p->conn) != CONNECTION_OK) {
			lpg_set_err(p, NULL, "cannot reach PostgreSQL");
			return -1;
		}
		if (setup(p) < 0)
			return -1;
	}
	return p->opened && !p->prepared ? prepare(p) : 0;
}

/* After a failed statement outside a transaction: whether the session was gone (the server
 * restarted, an administrator ended it) and is back, so that the statement may run again.
 * Inside a transaction nothing is retried: what it did is lost, and the caller fails. */
static bool
retry(struct pg_store *p)
{
	if (p->in_tx || PQstatus(p->conn) == CONNECTION_OK)
		return false;
	return ready(p) == 0;
}

/* Runs statement st with binary parameters and results; the result if its status is want,
 * else NULL with p->err. */
static PGresult *
run(struct pg_store *p, enum pg_stmt st, const char *const *vals, const int *lens,
    ExecStatusType want)
{
	static const int fmts[5] = {1, 1, 1, 1, 1};
	PGresult *r;

	if (ready(p) < 0)
		return NULL;
	r = pgwait_prepared(p->conn, lpg_silence_ms(p), &p->silent, stmts[st].name,
	                    stmts[st].nparams, vals, lens, fmts, 1);
	if (PQresultStatus(r) != want && retry(p)) {
		PQclear(r);
		r = pgwait_prepared(p->conn, lpg_silence_ms(p), &p->silent, stmts[st].name,
		                    stmts[st].nparams, vals, lens, fmts, 1);
	}
	if (PQresultStatus(r) != want) {
		lpg_set_err(p, r, NULL);
		PQclear(r);
		return NULL;
	}
	return r;
}

/* A statement of one int8 parameter. */
static PGresult *
run64(struct pg_store *p, enum pg_stmt st, int64_t v)
{
	char b[8];
	const char *vals[1] = {b};
	int lens[1] = {8};

	be64(b, v);
	return run(p, st, vals, lens, PGRES_TUPLES_OK);
}

/* Runs sql as one simple query (text results); the last result if its status is want. */
PGresult *
lpg_simple(struct pg_store *p, const char *sql, ExecStatusType want)
{
	PGresult *r;

	if (ready(p) < 0)
		return NULL;
	r = lpg_exec(p, sql);
	if (PQresultStatus(r) != want && retry(p)) {
		PQclear(r);
		r = lpg_exec(p, sql);
	}
	if (PQresultStatus(r) != want) {
		lpg_set_err(p, r, NULL);
		PQclear(r);
		return NULL;
	}
	return r;
}

/* sql with n text parameters, one query returning rows (retried as simple's); NULL with
 * p->err. */
PGresult *
lpg_params(struct pg_store *p, const char *sql, int n, const char *const *vals)
{
	PGresult *r;

	if (ready(p) < 0)
		return NULL;
	r = lpg_exec_params(p, sql, n, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && retry(p)) {
		PQclear(r);
		r = lpg_exec_params(p, sql, n, NULL, vals, NULL, NULL, 0);
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		lpg_set_err(p, r, NULL);
		PQclear(r);
		return NULL;
	}
	return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading. */

static int
pg_size(struct ledger_store *s, uint64_t *size)
{
	struct pg_store *p = pg_of(s);
	PGresult *r = run(p, PG_SIZE, NULL, NULL, PGRES_TUPLES_OK);
	int64_t v = 0;
	int rc = 0;

	if (r == NULL)
		return LEDGER_EIO;
	if (PQntuples(r) > 0 && (col64(r, 0, 0, &v) < 0 || v < 0))
		rc = LEDGER_EIO;
	PQclear(r);
	*size = (uint64_t)v;
	return rc;
}

static int
pg_batch(struct ledger_store *s, uint64_t e, uint64_t *first, uint64_t *n, int64_t *time,
         struct ledger_hashes *hc, struct ledger_batch_rd *b)
{
	struct pg_store *p = pg_of(s);
	enum pg_stmt st = b ? PG_BATCH_LEAVES : hc ? PG_BATCH_HASHES : PG_BATCH_META;
	int64_t f, c, t;
	PGresult *r;
	int rc = LEDGER_EIO;

	assert(hc == NULL || b == NULL);
	if (e > INT64_MAX || (r = run64(p, st, (int64_t)e)) == NULL)
		return LEDGER_EIO;
	if (PQntuples(r) == 0) {
		rc = LEDGER_ENOENT;
		goto done;
	}
	if (col64(r, 0, 0, &f) < 0 || col64(r, 0, 1, &c) < 0 || col64(r, 0, 2, &t) < 0 || f < 0 ||
	    c <= 0 || (uint64_t)f > e || c > (int64_t)LEDGER_BATCH_MAX_ENTRIES) {
		snprintf(p->err, sizeof(p->err), "the batch holding entry %" PRIu64 " is damaged",
		         e);
		goto done;
	}
	*first = (uint64_t)f;
	*n = (uint64_t)c;
	*time = t;
	rc = 0;
	if (hc != NULL)
		rc = ledger_store_keep_hashes(hc, *first, *n, (const uint8_t *)PQgetvalue(r, 0, 3),
		                              (size_t)PQgetlength(r, 0, 3));
	else if (b != NULL)
		rc = ledger_store_keep_leaves(b, *first, *n, t, PQgetvalue(r, 0, 3),
		                              (size_t)PQgetlength(r, 0, 3));
done:
	PQclear(r);
	return rc;
}

static int
pg_checkpoint(struct ledger_store *s, uint64_t size, uint64_t *cp_size, char **note, size_t *len,
              int64_t *time)
{
	struct pg_store *p = pg_of(s);
	PGresult *r = size ? (size > INT64_MAX ? NULL : run64(p, PG_CP_AT, (int64_t)size))
	                   : run(p, PG_CP_LATEST, NULL, NULL, PGRES_TUPLES_OK);
	int64_t sz, t;
	int rc = LEDGER_EIO;

	if (r == NULL)
		return LEDGER_EIO;
	if (PQntuples(r) == 0) {
		rc = LEDGER_ENOENT;
		goto done;
	}
	if (col64(r, 0, 0, &sz) < 0 || sz <= 0 || col64(r, 0, 2, &t) < 0 || PQgetisnull(r, 0, 1))
		goto done;
	assert(size == 0 || (uint64_t)sz == size);
	*cp_size = (uint64_t)sz;
	*len = (size_t)PQgetlength(r, 0, 1);
	if ((*note = strndup(PQgetvalue(r, 0, 1), *len)) == NULL) {
		rc = LEDGER_ENOMEM;
		goto done;
	}
	if (time != NULL)
		*time = t;
	rc = 0;
done:
	PQclear(r);
	return rc;
}

static int
pg_snapshot_begin(struct ledger_store *s)
{
	struct pg_store *p = pg_of(s);
	PGresult *r =
	    lpg_simple(p, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK);

	if (r == NULL)
		return LEDGER_EIO;
	PQclear(r);
	p->in_tx = true;
	return 0;
}

void
lpg_end(struct pg_store *p, const char *sql)
{
	if (p->in_tx && PQstatus(p->conn) == CONNECTION_OK)
		PQclear(lpg_exec(p, sql));
	p->in_tx = false;
}

static void
pg_snapshot_end(struct ledger_store *s)
{
	lpg_end(pg_of(s), "COMMIT");
}

static int
pg_scan_batches(struct ledger_store *s,
                int (*fn)(void *arg, int64_t first, int64_t n, int64_t time, const uint8_t *hashes,
                          size_t hlen, const char *leaves, size_t llen),
                void *arg)
{
	struct pg_store *p = pg_of(s);
	int64_t from = INT64_MIN;

	for (;;) {
		PGresult *r = run64(p, PG_SCAN_BATCHES, from);
		int rows, rc = 0;
		if (r == NULL)
			return LEDGER_EIO;
		rows = PQntuples(r);
		for (int i = 0; i < rows && rc == 0; i++) {
			int64_t f, n, t;
			if (col64(r, i, 0, &f) < 0 || col64(r, i, 1, &n) < 0 ||
			    col64(r, i, 2, &t) < 0) {
				snprintf(p->err, sizeof(p->err), "a batch row is damaged");
				rc = LEDGER_EIO;
				break;
			}
			rc = fn(arg, f, n, t, (const uint8_t *)PQgetvalue(r, i, 3),
			        (size_t)PQgetlength(r, i, 3), PQgetvalue(r, i, 4),
			        (size_t)PQgetlength(r, i, 4));
			from = f + 1;
		}
		PQclear(r);
		if (rc != 0 || rows < SCAN_ROWS)
			return rc;
	}
}

static int
pg_scan_checkpoints(struct ledger_store *s,
                    int (*fn)(void *arg, int64_t size, const char *note, size_t len, int64_t time),
                    void *arg)
{
	struct pg_store *p = pg_of(s);
	int64_t from = INT64_MIN;

	for (;;) {
		PGresult *r = run64(p, PG_SCAN_CPS, from);
		int rows, rc = 0;
		if (r == NULL)
			return LEDGER_EIO;
		rows = PQntuples(r);
		for (int i = 0; i < rows && rc == 0; i++) {
			int64_t sz, t;
			if (col64(r, i, 0, &sz) < 0 || col64(r, i, 2, &t) < 0) {
				snprintf(p->err, sizeof(p->err), "a checkpoint row is damaged");
				rc = LEDGER_EIO;
				break;
			}
			rc = fn(arg, sz, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1), t);
			from = sz + 1;
		}
		PQclear(r);
		if (rc != 0 || rows < SCAN_ROWS)
			return rc;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Writing. */

/*
 * The transaction and the lock in one round trip: the tree row locked, then its size and time,
 * and where the batches end, which must be the same size (a row edited by hand is refused
 * here, and named by verify). The reads are a statement after the lock's: in READ COMMITTED
 * each statement sees what was committed when it started, and the lock's statement started
 * before the writer it waited for committed.
 */
static int
pg_begin(struct ledger_store *s, struct ledger_tip *tip)
{
	struct pg_store *p = pg_of(s);
	PGresult *r;
	char *end;
	long long size, time, last = 0, gen;
	int rc = LEDGER_EIO;

	assert(p->writer && !p->in_tx);
	r = lpg_simple(p,
	               "BEGIN; SELECT 1 FROM tree WHERE id = 0 FOR UPDATE; SELECT t.size, t.time, "
	               "(SELECT b.first + b.n FROM batches AS b ORDER BY b.first DESC LIMIT 1), "
	               "(SELECT s.generation FROM state AS s WHERE s.id = 0) FROM tree AS t WHERE "
	               "t.id = 0",
	               PGRES_TUPLES_OK);
	if (PQtransactionStatus(p->conn) != PQTRANS_IDLE)
		p->in_tx = true;
	if (r == NULL)
		goto fail;
	if (PQntuples(r) != 1) {
		snprintf(p->err, sizeof(p->err), "the tree state row is missing");
		goto fail;
	}
	size = strtoll(PQgetvalue(r, 0, 0), &end, 10);
	time = strtoll(PQgetvalue(r, 0, 1), &end, 10);
	if (!PQgetisnull(r, 0, 2))
		last = strtoll(PQgetvalue(r, 0, 2), &end, 10);
	if (size < 0 || size != last) {
		snprintf(p->err, sizeof(p->err),
		         "the tree state says %lld entries but the batches end at %lld: run pdgate "
		         "ledger verify",
		         size, last);
		goto fail;
	}
	if (PQgetisnull(r, 0, 3) || (gen = strtoll(PQgetvalue(r, 0, 3), &end, 10)) <= 0) {
		snprintf(p->err, sizeof(p->err), "the shared state row is missing");
		goto fail;
	}
	tip->size = (uint64_t)size;
	tip->time = time;
	tip->state_gen = (uint64_t)gen;
	PQclear(r);
	return 0;
fail:
	PQclear(r);
	lpg_end(p, "ROLLBACK");
	return rc;
}

static int
pg_put_batch(struct ledger_store *s, uint64_t first, uint64_t n, int64_t time,
             const uint8_t *hashes, size_t hlen, const char *leaves, size_t llen)
{
	struct pg_store *p = pg_of(s);
	char f[8], c[8], t[8];
	const char *vals[5] = {f, c, t, (const char *)hashes, leaves};
	int lens[5] = {8, 8, 8, (int)hlen, (int)llen};
	PGresult *r;
	int rc = LEDGER_EIO;

	assert(p->in_tx);
	if (first > INT64_MAX || n > INT64_MAX || hlen > INT32_MAX || llen > INT32_MAX)
		return LEDGER_EINVAL;
	be64(f, (int64_t)first);
	be64(c, (int64_t)n);
	be64(t, time);
	if ((r = run(p, PG_INS_BATCH, vals, lens, PGRES_COMMAND_OK)) == NULL)
		return LEDGER_EIO;
	if (strcmp(PQcmdTuples(r), "1") == 0)
		rc = 0;
	else
		snprintf(p->err, sizeof(p->err), "the tree state moved under its lock");
	PQclear(r);
	return rc;
}

static int
pg_put_checkpoint(struct ledger_store *s, uint64_t size, const char *note, size_t len, int64_t time)
{
	struct pg_store *p = pg_of(s);
	char sz[8], t[8];
	const char *vals[3] = {sz, note, t};
	int lens[3] = {8, (int)len, 8};
	PGresult *r;

	assert(p->in_tx);
	if (size > INT64_MAX || len > INT32_MAX)
		return LEDGER_EINVAL;
	be64(sz, (int64_t)size);
	be64(t, time);
	if ((r = run(p, PG_INS_CP, vals, lens, PGRES_COMMAND_OK)) == NULL)
		return LEDGER_EIO;
	PQclear(r);
	return 0;
}

/* COMMIT of a transaction that failed is a rollback, answered COMMAND_OK with the tag
 * ROLLBACK: only the tag COMMIT says the rows are stored. */
static int
pg_commit(struct ledger_store *s)
{
	struct pg_store *p = pg_of(s);
	PGresult *r;
	int rc = LEDGER_EIO;

	assert(p->in_tx);
	r = lpg_exec(p, "COMMIT");
	if (PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0)
		rc = 0;
	else if (PQresultStatus(r) == PGRES_COMMAND_OK)
		snprintf(p->err, sizeof(p->err), "the transaction was rolled back");
	else
		lpg_set_err(p, r, NULL);
	PQclear(r);
	if (PQtransactionStatus(p->conn) != PQTRANS_INTRANS &&
	    PQtransactionStatus(p->conn) != PQTRANS_INERROR)
		p->in_tx = false;
	else
		lpg_end(p, "ROLLBACK");
	return rc;
}

static void
pg_rollback(struct ledger_store *s)
{
	lpg_end(pg_of(s), "ROLLBACK");
}

/* A durable write that changes nothing: the tree row locked and written back. */
static int
pg_probe(struct ledger_store *s)
{
	struct pg_store *p = pg_of(s);
	PGresult *r = lpg_simple(p, "BEGIN; UPDATE tree SET size = size WHERE id = 0; COMMIT",
	                         PGRES_COMMAND_OK);
	int rc = r != NULL && strcmp(PQcmdStatus(r), "COMMIT") == 0 ? 0 : LEDGER_EIO;

	PQclear(r);
	if (PQstatus(p->conn) == CONNECTION_OK && PQtransactionStatus(p->conn) != PQTRANS_IDLE)
		PQclear(lpg_exec(p, "ROLLBACK"));
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The shared limits (ledger_store.h), prepared on every writer's session. */

static int
pg_take(struct ledger_store *s, const char *jti, int64_t n, int64_t max, bool *ok)
{
	char nb[8], mb[8];
	const char *vals[3] = {jti, nb, mb};
	int lens[3] = {(int)strlen(jti), 8, 8};
	PGresult *r;

	be64(nb, n);
	be64(mb, max);
	*ok = false;
	/* (a retry after a lost session may count twice: fewer records go out, never more) */
	if ((r = run(pg_of(s), PG_TAKE, vals, lens, PGRES_TUPLES_OK)) == NULL)
		return LEDGER_EIO;
	*ok = PQntuples(r) == 1;
	PQclear(r);
	return 0;
}

static int
pg_volume_add(struct ledger_store *s, const char *contract, int64_t day, uint64_t n, uint64_t max,
              bool *ok, uint64_t *total)
{
	struct pg_store *p = pg_of(s);
	char db[8], nb[8], mb[8];
	const char *vals[4] = {contract, db, nb, mb};
	int lens[4] = {(int)strlen(contract), 8, 8, 8};
	int64_t v = 0;
	PGresult *r;

	assert(p->in_tx);
	*ok = false;
	if (n > INT64_MAX) {
		snprintf(p->err, sizeof(p->err), "a volume of %" PRIu64 " records", n);
		return LEDGER_EIO;
	}
	be64(db, day);
	be64(nb, (int64_t)n);
	be64(mb, max > 0 && max < INT64_MAX ? (int64_t)max : INT64_MAX);
	r = run(p, PG_VOL_ADD, vals, lens, PGRES_TUPLES_OK);
	if (r != NULL && PQntuples(r) == 0) { /* over the limit: the total as it stands */
		PQclear(r);
		r = run(p, PG_VOL_GET, vals, lens, PGRES_TUPLES_OK);
	} else if (r != NULL) {
		*ok = true;
	}
	if (r == NULL)
		return LEDGER_EIO;
	if (PQntuples(r) != 1 || col64(r, 0, 0, &v) != 0 || v < 0) {
		snprintf(p->err, sizeof(p->err), "a volume row of %s is damaged", contract);
		*ok = false;
		PQclear(r);
		return LEDGER_EIO;
	}
	*total = (uint64_t)v;
	PQclear(r);
	return 0;
}

static const char *
pg_errmsg(struct ledger_store *s)
{
	return pg_of(s)->err;
}

static void
pg_free(struct ledger_store *s)
{
	struct pg_store *p = pg_of(s);

	ledger_store_clear(s);
	PQfinish(p->conn);
	free(p);
}

static const struct ledger_store_ops pg_ops = {
    .kind = "postgresql",
    .shared = true,
    .size = pg_size,
    .batch = pg_batch,
    .checkpoint = pg_checkpoint,
    .snapshot_begin = pg_snapshot_begin,
    .snapshot_end = pg_snapshot_end,
    .scan_batches = pg_scan_batches,
    .scan_checkpoints = pg_scan_checkpoints,
    .begin = pg_begin,
    .put_batch = pg_put_batch,
    .put_checkpoint = pg_put_checkpoint,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .probe = pg_probe,
    .state_read = lpg_state_read,
    .state_suspend = lpg_state_suspend,
    .state_revoke = lpg_state_revoke,
    .state_revoked = lpg_state_revoked,
    .state_wait = lpg_state_wait,
    .take = pg_take,
    .volume_add = pg_volume_add,
    .volume_day = lpg_volume_day,
    .ids_lock = lpg_ids_lock,
    .errmsg = pg_errmsg,
    .free = pg_free,
    .cosig_open = ledger_pg_cosig_open,
    .cosig_put = ledger_pg_cosig_put,
    .cosig_lines = ledger_pg_cosig_lines,
    .cosig_newest = ledger_pg_cosig_newest,
    .cosig_scan = ledger_pg_cosig_scan,
};

struct pg_conn *
ledger_pg_conn(struct ledger_store *s)
{
	return s != NULL && s->ops == &pg_ops ? pg_of(s)->conn : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* For the parts in files of their own (ledger_pg_int.h). */

PGresult *
ledger_pg_exec(struct ledger_store *s, const char *sql, int n, const char *const *vals,
               ExecStatusType want, bool *missing)
{
	struct pg_store *p = pg_of(s);
	PGresult *r;
	const char *state;

	if (missing != NULL)
		*missing = false;
	if (ready(p) < 0)
		return NULL;
	r = lpg_exec_params(p, sql, n, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != want && retry(p)) {
		PQclear(r);
		r = lpg_exec_params(p, sql, n, NULL, vals, NULL, NULL, 0);
	}
	if (PQresultStatus(r) == want)
		return r;
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (missing != NULL && state != NULL && strcmp(state, "42P01") == 0)
		*missing = true; /* undefined_table */
	lpg_set_err(p, r, NULL);
	PQclear(r);
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Opening. */

/* In an empty database, the tables and the meta rows; one node at a time (the advisory lock
 * is held until the transaction ends). A database with other tables and no meta is not
 * pdgate's, and is left alone. */
static int
create_schema(struct pg_store *p, const char *origin)
{
	const char *vals[1] = {origin};
	PGresult *r =
	    lpg_simple(p,
	               "BEGIN; SELECT pg_advisory_xact_lock(x'" INIT_LOCK "'::bigint); "
	               "SELECT to_regclass('meta') IS NOT NULL, (SELECT count(*) FROM "
	               "pg_class AS c WHERE c.relnamespace = current_schema()::regnamespace "
	               "AND c.relkind IN ('r', 'v', 'p', 'm', 'f'))",
	               PGRES_TUPLES_OK);
	int rc = -1;

	p->in_tx = PQtransactionStatus(p->conn) != PQTRANS_IDLE;
	if (r == NULL)
		goto done;
	bool has_meta = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	long long others = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	PQclear(r);
	if (has_meta)
		goto state;
	if (others > 0) {
		snprintf(p->err, sizeof(p->err),
		         "not a pdgate ledger: the database holds %lld other tables and no meta",
		         others);
		goto done;
	}
	if ((r = lpg_exec(p, schema_sql)) == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
		lpg_set_err(p, r, "creating the tables");
		PQclear(r);
		goto done;
	}
	PQclear(r);
	r = lpg_exec_params(p,
	                    "INSERT INTO meta(key, value) VALUES ('schema', '2'), ('origin', $1)",
	                    1, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		lpg_set_err(p, r, "creating the tables");
		PQclear(r);
		goto done;
	}
	PQclear(r);
state:
	if ((r = lpg_exec(p, state_sql)) == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
		lpg_set_err(p, r, "creating the shared state's tables");
		PQclear(r);
		goto done;
	}
	PQclear(r);
	rc = 0;
done:
	if (rc == 0 && p->in_tx) {
		r = lpg_exec(p, "COMMIT");
		if (PQresultStatus(r) != PGRES_COMMAND_OK ||
		    strcmp(PQcmdStatus(r), "COMMIT") != 0) {
			lpg_set_err(p, r, "creating the tables");
			rc = -1;
		}
		PQclear(r);
		p->in_tx = false;
	}
	lpg_end(p, "ROLLBACK");
	return rc;
}

/* The stored schema and origin, checked. The origin (caller frees), or NULL with p->err. */
static char *
check_meta(struct pg_store *p, const char *origin)
{
	PGresult *r =
	    lpg_simple(p,
	               "SELECT (SELECT value FROM meta WHERE key = 'schema'), (SELECT value "
	               "FROM meta WHERE key = 'origin')",
	               PGRES_TUPLES_OK);
	char *stored = NULL;

	if (r == NULL) {
		char why[sizeof(p->err)];
		snprintf(why, sizeof(why), "%s", p->err);
		snprintf(p->err, sizeof(p->err), "not a pdgate ledger: %.400s", why);
		return NULL;
	}
	const char *schema = PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0);
	if (schema == NULL) {
		snprintf(p->err, sizeof(p->err), "not a pdgate ledger: no schema in meta");
		goto done;
	}
	if (strcmp(schema, "2") != 0) {
		char *end;
		long v = strtol(schema, &end, 10);
		snprintf(p->err, sizeof(p->err), "ledger schema %.32s%s, this pdgate reads %d",
		         schema, *end == '\0' && v > LEDGER_PG_SCHEMA ? " (a newer pdgate's)" : "",
		         LEDGER_PG_SCHEMA);
		goto done;
	}
	if (PQgetisnull(r, 0, 1)) {
		snprintf(p->err, sizeof(p->err), "ledger has no origin");
		goto done;
	}
	const char *o = PQgetvalue(r, 0, 1);
	if (origin != NULL && strcmp(origin, o) != 0) {
		snprintf(p->err, sizeof(p->err),
		         "ledger origin is '%.200s', the configuration says '%.200s'", o, origin);
		goto done;
	}
	if ((stored = strdup(o)) == NULL)
		snprintf(p->err, sizeof(p->err), "out of memory");
done:
	PQclear(r);
	return stored;
}

/* A session on the database of url, set up (settings, no statements yet); NULL with err. */
static struct ledger_store *
ledger_pg_connect(const char *url, bool writer, char *err, size_t errlen)
{
	static const char *const keys[] = {
	    "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
	    "keepalives_count", "application_name", "dbname",          NULL};
	const char *vals[] = {"5", "1", "10", "5", "3", "pdgate", url, NULL};
	struct pg_store *p = NULL;
	PQconninfoOption *opts;
	char *msg = NULL;

	if (!ledger_store_is_url(url) || (opts = PQconninfoParse(url, &msg)) == NULL) {
		/* libpq's message; the URL itself is not repeated, it may hold a password */
		snprintf(err, errlen, "ledger url does not parse: %s",
		         msg ? msg : "not a postgresql:// URL");
		err[strcspn(err, "\n")] = '\0';
		PQfreemem(msg);
		return NULL;
	}
	for (PQconninfoOption *op = opts; op->keyword != NULL; op++)
		if (strcmp(op->keyword, "port") == 0 && op->val != NULL &&
		    (op->val[0] == '\0' || strspn(op->val, "0123456789,") != strlen(op->val))) {
			snprintf(err, errlen,
			         "ledger url does not parse: the port '%.32s' is not a number",
			         op->val);
			PQconninfoFree(opts);
			return NULL;
		}
	PQconninfoFree(opts);
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->base.ops = &pg_ops;
	p->writer = writer;
	p->conn = PQconnectdbParams(keys, vals, 1);
	if (p->conn == NULL) {
		snprintf(err, errlen, "out of memory");
		free(p);
		return NULL;
	}
	if (PQstatus(p->conn) != CONNECTION_OK) {
		lpg_set_err(p, NULL, "cannot reach PostgreSQL");
		goto fail;
	}
	if (setup(p) < 0)
		goto fail;
	return &p->base;
fail:
	snprintf(err, errlen, "%s", p->err);
	pg_free(&p->base);
	return NULL;
}

/* Whether the database of p holds no table of its current schema (a new ledger's). 1, 0, or
 * -1 with p->err. */
static int
empty(struct pg_store *p)
{
	PGresult *r =
	    lpg_simple(p,
	               "SELECT count(*) FROM pg_class AS c WHERE c.relnamespace = "
	               "current_schema()::regnamespace AND c.relkind IN ('r', 'v', 'p', 'm', "
	               "'f')",
	               PGRES_TUPLES_OK);
	int rc;

	if (r == NULL)
		return -1;
	rc = strcmp(PQgetvalue(r, 0, 0), "0") == 0;
	PQclear(r);
	return rc;
}

int
ledger_pg_check(const char *url, const char *origin, char *err, size_t errlen)
{
	char msg[512];
	struct ledger_store *s = ledger_pg_open(url, false, origin, NULL, msg, sizeof(msg));
	struct pg_store *p;
	int rc;

	if (s != NULL) {
		ledger_store_free(s);
		return 0;
	}
	/* refused: said as it is, unless the database is only empty (a writer makes the tables) */
	snprintf(err, errlen, "%s", msg);
	if (strncmp(msg, "not a pdgate ledger", 19) != 0 ||
	    (p = (struct pg_store *)ledger_pg_connect(url, false, msg, sizeof(msg))) == NULL)
		return -1;
	rc = empty(p) == 1 ? 0 : -1;
	pg_free(&p->base);
	return rc;
}

struct ledger_store *
ledger_pg_open(const char *url, bool writer, const char *origin, char **stored, char *err,
               size_t errlen)
{
	struct pg_store *p;
	char *o = NULL;

	if (stored != NULL)
		*stored = NULL;
	if (writer && origin == NULL) {
		snprintf(err, errlen, "a writer needs the origin");
		return NULL;
	}
	if ((p = (struct pg_store *)ledger_pg_connect(url, writer, err, errlen)) == NULL)
		return NULL;
	if ((writer && create_schema(p, origin) < 0) || (o = check_meta(p, origin)) == NULL)
		goto fail;
	p->opened = true;
	if (prepare(p) < 0)
		goto fail;
	if (stored != NULL)
		*stored = o;
	else
		free(o);
	return &p->base;
fail:
	snprintf(err, errlen, "%s", p->err);
	free(o);
	pg_free(&p->base);
	return NULL;
}
