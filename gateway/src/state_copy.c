/* state_copy — a single gateway's shared state (its [gateway] state file's suspensions, revoked
 * tokens and members' requests) copied into a PostgreSQL ledger, and the check that a node's
 * file holds none that were never copied. */
#include "state_copy.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "ledger_pg.h"

#define BUSY_TIMEOUT_MS 5000

struct state_copy {
	sqlite3 *db; /* NULL: no file, nothing to copy */
	bool in_tx;
};

/* The requests a node must not lose: open, or completed (a stop request completed holds). */
#define KEPT_SQL "(status = 'open' OR outcome = 'completed')"

static bool
has_table(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	bool yes = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
	                       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK)
		yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return yes;
}

/* Opens path (NULL *db if it does not exist). 0 or -1 with err. */
static int
open_file(const char *path, bool writable, sqlite3 **db, char *err, size_t errlen)
{
	struct stat sb;

	*db = NULL;
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (sqlite3_open_v2(path, db, writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY,
	                    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, *db ? sqlite3_errmsg(*db) : "cannot open");
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS);
	return 0;
}

struct state_copy *
state_copy_open(const char *path, char *err, size_t errlen)
{
	struct state_copy *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (open_file(path, true, &c->db, err, errlen) != 0)
		goto fail;
	if (c->db != NULL) {
		if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(c->db));
			goto fail;
		}
		c->in_tx = true;
	}
	return c;
fail:
	sqlite3_close(c->db);
	free(c);
	return NULL;
}

/* One row's insert of n text parameters on conn; whether it inserted (1), or not (0, the
 * database held it), or -1 with err. */
static int
insert(PGconn *conn, const char *sql, int n, const char *const *vals, const char *what, char *err,
       size_t errlen)
{
	PGresult *r = PQexecParams(conn, sql, n, NULL, vals, NULL, NULL, 0);
	int rc = -1;

	if (PQresultStatus(r) == PGRES_COMMAND_OK)
		rc = strcmp(PQcmdTuples(r), "1") == 0;
	else
		snprintf(err, errlen, "copying %s: %s", what, PQresultErrorMessage(r));
	err[strcspn(err, "\n")] = '\0';
	PQclear(r);
	return rc;
}

/* Copies every row of query (ncols text columns) with sql; *count the rows. 0 or -1. */
static int
copy_rows(sqlite3 *db, PGconn *conn, const char *query, int ncols, const char *sql,
          const char *check, const char *what, uint64_t *count, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, query, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "reading %s: %s", what, sqlite3_errmsg(db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *vals[20];
		for (int i = 0; i < ncols; i++)
			vals[i] = (const char *)sqlite3_column_text(st, i);
		int k = insert(conn, sql, ncols, vals, what, err, errlen);
		if (k < 0)
			break;
		if (k == 0 && check != NULL) {
			/* held already: the same request, or another under the same id */
			PGresult *r = PQexecParams(conn, check, 3, NULL, vals, NULL, NULL, 0);
			bool same = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
			PQclear(r);
			if (!same) {
				snprintf(
				    err, errlen,
				    "request %s: the database holds another request of that id",
				    vals[0]);
				break;
			}
		}
		(*count)++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		snprintf(err, errlen, "reading %s: %s", what, sqlite3_errmsg(db));
		return -1;
	}
	return rc == SQLITE_DONE ? 0 : -1;
}

int
state_copy_into(struct state_copy *c, struct ledger_store *dst, struct state_copy_report *r,
                char *err, size_t errlen)
{
	PGconn *conn = ledger_pg_conn(dst);
	PGresult *res;

	memset(r, 0, sizeof(*r));
	if (conn == NULL) {
		snprintf(err, errlen, "the shared state is copied into a PostgreSQL ledger only");
		return -1;
	}
	if (c->db == NULL)
		return 0;
	if (has_table(c->db, "suspensions") &&
	    copy_rows(c->db, conn, "SELECT partner, by, reason, since_ms FROM suspensions", 4,
	              "INSERT INTO suspensions(partner, by, reason, since_ms) VALUES ($1, $2, $3, "
	              "COALESCE($4::bigint, 0)) ON CONFLICT (partner) DO NOTHING",
	              NULL, "the suspensions", &r->suspensions, err, errlen) != 0)
		return -1;
	if (has_table(c->db, "revoked") &&
	    copy_rows(c->db, conn, "SELECT jti, revoked_at FROM revoked", 2,
	              "INSERT INTO revoked(jti, revoked_at) VALUES ($1, $2::bigint) ON CONFLICT "
	              "(jti) DO NOTHING",
	              NULL, "the revoked tokens", &r->revoked, err, errlen) != 0)
		return -1;
	if (has_table(c->db, "subject_requests") &&
	    copy_rows(c->db, conn,
	              "SELECT id, subject, opened_index, year, seq, type, received, channel, note, "
	              "opened_at, opened_by, status, outcome, reason, closed_at, closed_by, "
	              "closed_index FROM subject_requests ORDER BY id",
	              17,
	              "INSERT INTO subject_requests(id, subject, opened_index, year, seq, type, "
	              "received, channel, note, opened_at, opened_by, status, outcome, reason, "
	              "closed_at, closed_by, closed_index) VALUES ($1, $2, $3::bigint, "
	              "$4::integer, $5::integer, $6, $7, $8, $9, $10::bigint, $11, $12, $13, $14, "
	              "$15::bigint, $16, $17::bigint) ON CONFLICT DO NOTHING",
	              "SELECT 1 FROM subject_requests WHERE id = $1 AND subject = $2 AND "
	              "opened_index = $3::bigint",
	              "the members' requests", &r->requests, err, errlen) != 0)
		return -1;
	/* under the tree lock dst's transaction holds: ordered with every batch, announced */
	res = PQexec(conn, "UPDATE state SET generation = generation + 1 WHERE id = 0; NOTIFY "
	                   "pdgate_state");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "the shared state row: %s", PQresultErrorMessage(res));
		err[strcspn(err, "\n")] = '\0';
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

int
state_copy_end(struct state_copy *c, int mark, int64_t now_ms, char *err, size_t errlen)
{
	char sql[256];
	int rc = 0;

	if (c == NULL)
		return 0;
	if (c->in_tx && mark) {
		snprintf(
		    sql, sizeof(sql),
		    "CREATE TABLE IF NOT EXISTS shared_copy(id INTEGER PRIMARY KEY CHECK (id = "
		    "0), at INTEGER NOT NULL); INSERT OR REPLACE INTO shared_copy(id, at) "
		    "VALUES (0, %lld); COMMIT",
		    (long long)now_ms);
		if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "marking the state file copied: %s",
			         sqlite3_errmsg(c->db));
			rc = -1;
		} else {
			c->in_tx = false;
		}
	}
	if (c->in_tx)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(c->db);
	free(c);
	return rc;
}

/* The first value of query as an integer (0 if none), or -1 on failure. */
static long long
count(sqlite3 *db, const char *query, long long at)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, query, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_bind_int64(st, 1, at) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
state_copy_check(const char *path, char *err, size_t errlen)
{
	sqlite3 *db;
	long long at = -1, sus = 0, rq = 0;
	int rc = -1;

	if (open_file(path, false, &db, err, errlen) != 0)
		return -1;
	if (db == NULL)
		return 0;
	if (has_table(db, "shared_copy") &&
	    (at = count(db, "SELECT COALESCE(MAX(at), -1) FROM shared_copy WHERE ?1 = ?1", 0)) < -1)
		goto done;
	/* what the file gained after its copy, or everything if it was never copied */
	if (has_table(db, "suspensions") &&
	    (sus = count(db, "SELECT count(*) FROM suspensions WHERE COALESCE(since_ms, 0) > ?1",
	                 at)) < 0)
		goto done;
	if (has_table(db, "subject_requests") &&
	    (rq = count(db,
	                "SELECT count(*) FROM subject_requests WHERE " KEPT_SQL
	                " AND (opened_at > ?1 OR COALESCE(closed_at, 0) > ?1)",
	                at)) < 0)
		goto done;
	rc = 0;
	if (sus > 0 || rq > 0) {
		snprintf(
		    err, errlen,
		    "%s: [gateway] state holds %lld suspensions and %lld open or completed "
		    "members' requests that the shared database was never given: a node on "
		    "[ledger] url would drop them; copy them with pdgate ledger migrate --from "
		    "LEDGER.db --to URL -c FILE (or --to URL -c FILE alone, once the ledger is "
		    "moved)",
		    path, sus, rq);
		rc = -1;
	}
done:
	if (rc < 0 && sus == 0 && rq == 0)
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc;
}
