/* ledger_cosig — witnesses' cosignatures of the ledger's checkpoints, kept in ledger.db. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "buf.h"
#include "ledger_cosig.h"
#include "ledger_db.h"
#include "ledger_err.h"
#include "ledger_pool.h"
#include "note.h"

/* A checkpoint carries at most this many cosignatures: a note holds NOTE_MAX_SIGS lines. */
#define COSIG_MAX (NOTE_MAX_SIGS - 1)

static const char cosig_schema[] =
    "CREATE TABLE IF NOT EXISTS cosignatures(size INTEGER NOT NULL, witness TEXT NOT NULL,"
    " time INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY(size, witness)) WITHOUT ROWID";

/* A ledger older than the table has none: no row, not an error. */
static int
no_table(sqlite3 *db)
{
	return strstr(sqlite3_errmsg(db), "no such table") != NULL;
}

int
ledger_cosigned_checkpoint(struct ledger *l, uint64_t size, char **note, size_t *len,
                           uint64_t *cp_size)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *s = ledger_pool_get(pool);
	struct ledger_conn *c = ledger_conn_of(s);
	struct buf b = {0};
	sqlite3_stmt *st = NULL;
	char *n = NULL;
	size_t nlen = 0;
	int rc, k = 0;

	*note = NULL;
	if (c == NULL) {
		/* a ledger in PostgreSQL keeps no cosignatures yet: the checkpoint as signed */
		rc = s->ops->checkpoint(s, size, cp_size, note, len, NULL);
		ledger_pool_put(pool, s);
		return rc;
	}
	/* one read transaction: the checkpoint and its lines from one snapshot */
	if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		rc = LEDGER_EIO;
		goto done;
	}
	if ((rc = ledger_conn_checkpoint(c, size, cp_size, &n, &nlen)) < 0)
		goto done;
	if (buf_add(&b, n, nlen) < 0) {
		rc = LEDGER_ENOMEM;
		goto done;
	}
	if (sqlite3_prepare_v2(c->db,
	                       "SELECT line FROM cosignatures WHERE size = ?1 ORDER BY witness", -1,
	                       &st, NULL) != SQLITE_OK) {
		rc = no_table(c->db) ? 0 : LEDGER_EIO;
		goto take;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)*cp_size);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < COSIG_MAX) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		int ll = sqlite3_column_bytes(st, 0);
		/* a row is one signature line; anything else (a hand-edited row) is left out */
		if (line == NULL || ll < 4 || line[ll - 1] != '\n' ||
		    memchr(line, '\n', (size_t)ll - 1))
			continue;
		if (buf_add(&b, line, (size_t)ll) < 0) {
			rc = LEDGER_ENOMEM;
			goto done;
		}
		k++;
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : LEDGER_EIO;
take:
	if (rc == 0) {
		*note = buf_take(&b, len);
		if (*note == NULL)
			rc = LEDGER_ENOMEM;
	}
done:
	sqlite3_finalize(st);
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	ledger_pool_put(pool, s);
	buf_free(&b);
	free(n);
	return rc;
}

/* One number of a query with one optional text parameter: 0 or LEDGER_EIO. */
static int
one_size(struct ledger *l, const char *sql, int by_int, unsigned n, const char *text,
         uint64_t *size)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *s = ledger_pool_get(pool);
	struct ledger_conn *c = ledger_conn_of(s);
	sqlite3_stmt *st = NULL;
	int rc = 0;

	*size = 0;
	if (c == NULL) /* a ledger in PostgreSQL: no cosignatures yet */
		goto done;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = no_table(c->db) ? 0 : LEDGER_EIO;
		goto done;
	}
	if (by_int)
		sqlite3_bind_int64(st, 1, n);
	else
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		*size = (uint64_t)sqlite3_column_int64(st, 0);
	else if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = LEDGER_EIO;
done:
	sqlite3_finalize(st);
	ledger_pool_put(pool, s);
	return rc;
}

int
ledger_cosig_newest(struct ledger *l, unsigned n, uint64_t *size)
{
	return one_size(l,
	                "SELECT size FROM cosignatures GROUP BY size HAVING count(*) >= ?1 "
	                "ORDER BY size DESC LIMIT 1",
	                1, n, NULL, size);
}

int
ledger_cosig_newest_by(struct ledger *l, const char *witness, uint64_t *size)
{
	return one_size(l, "SELECT max(size) FROM cosignatures WHERE witness = ?1", 0, 0, witness,
	                size);
}

struct ledger_cosig_store {
	struct ledger_conn *c;
	sqlite3_stmt *put;
};

struct ledger_cosig_store *
ledger_cosig_store_open(const char *path, char *err, size_t errlen)
{
	struct ledger_cosig_store *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((s->c = ledger_conn_open(path, true, err, errlen)) == NULL ||
	    ledger_db_exec(s->c->db, "PRAGMA synchronous=FULL", err, errlen) < 0 ||
	    ledger_db_exec(s->c->db, cosig_schema, err, errlen) < 0)
		goto fail;
	if (sqlite3_prepare_v2(s->c->db,
	                       "INSERT OR REPLACE INTO cosignatures(size, witness, time, line) "
	                       "VALUES (?1, ?2, ?3, ?4)",
	                       -1, &s->put, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(s->c->db));
		goto fail;
	}
	return s;
fail:
	ledger_cosig_store_free(s);
	return NULL;
}

void
ledger_cosig_store_free(struct ledger_cosig_store *s)
{
	if (s == NULL)
		return;
	sqlite3_finalize(s->put);
	ledger_conn_free(s->c);
	free(s);
}

int
ledger_cosig_put(struct ledger_cosig_store *s, uint64_t size, const char *witness, uint64_t ts,
                 const char *line, size_t len, char *err, size_t errlen)
{
	sqlite3_bind_int64(s->put, 1, (sqlite3_int64)size);
	sqlite3_bind_text(s->put, 2, witness, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->put, 3, (sqlite3_int64)ts);
	sqlite3_bind_text(s->put, 4, line, (int)len, SQLITE_STATIC);
	if (ledger_st_exec(s->put) < 0) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(s->c->db));
		return -1;
	}
	return 0;
}
