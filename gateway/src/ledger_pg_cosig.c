/* ledger_pg_cosig — inside the ledger: the witnesses' cosignatures in the PostgreSQL ledger,
 * one table every node stores into and serves from. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_err.h"
#include "ledger_pg_int.h"

/*
 * The table of docs/ledger.md ("On PostgreSQL"), ledger.db's row for row: one line per
 * checkpoint and witness, whichever node was given it. Made by the first node whose witness
 * client starts, under the advisory lock that creating the ledger's tables takes, so that
 * nodes starting together make it once.
 */
static const char cosig_sql[] =
    "DO $$BEGIN PERFORM pg_advisory_xact_lock(x'7075746174650001'::bigint); CREATE TABLE IF "
    "NOT EXISTS cosignatures(size bigint NOT NULL CHECK (size > 0), witness text NOT NULL, "
    "time bigint NOT NULL, line text NOT NULL, PRIMARY KEY (size, witness)); END$$";

int
ledger_pg_cosig_open(struct ledger_store *s)
{
	PGresult *r = ledger_pg_exec(s, cosig_sql, 0, NULL, PGRES_COMMAND_OK, NULL);

	if (r == NULL)
		return LEDGER_EIO;
	PQclear(r);
	return 0;
}

int
ledger_pg_cosig_put(struct ledger_store *s, uint64_t size, const char *witness, uint64_t ts,
                    const char *line, size_t len)
{
	char sz[24], t[24], *l;
	const char *vals[4] = {sz, witness, t, NULL};
	PGresult *r;

	if (size == 0 || size > INT64_MAX || ts > INT64_MAX || memchr(line, '\0', len) != NULL)
		return LEDGER_EINVAL;
	if ((l = strndup(line, len)) == NULL)
		return LEDGER_ENOMEM;
	snprintf(sz, sizeof(sz), "%" PRIu64, size);
	snprintf(t, sizeof(t), "%" PRIu64, ts);
	vals[3] = l;
	/* one line per checkpoint and witness: the first stored stays (two nodes may both be
	 * given one for the same checkpoint) */
	r = ledger_pg_exec(
	    s,
	    "INSERT INTO cosignatures(size, witness, time, line) VALUES ($1::bigint, "
	    "$2, $3::bigint, $4) ON CONFLICT (size, witness) DO NOTHING",
	    4, vals, PGRES_COMMAND_OK, NULL);
	free(l);
	if (r == NULL)
		return LEDGER_EIO;
	PQclear(r);
	return 0;
}

int
ledger_pg_cosig_lines(struct ledger_store *s, uint64_t size,
                      int (*fn)(void *arg, const char *line, size_t len), void *arg)
{
	char sz[24];
	const char *vals[1] = {sz};
	bool missing;
	PGresult *r;
	int rc = 0;

	if (size > INT64_MAX)
		return LEDGER_EINVAL;
	snprintf(sz, sizeof(sz), "%" PRIu64, size);
	/* the names in byte order, as the file's (binary) collation gives them */
	r = ledger_pg_exec(s,
	                   "SELECT line FROM cosignatures WHERE size = $1::bigint ORDER BY witness "
	                   "COLLATE \"C\"",
	                   1, vals, PGRES_TUPLES_OK, &missing);
	if (r == NULL)
		return missing ? 0 : LEDGER_EIO; /* a ledger no witness client has written to */
	for (int i = 0; i < PQntuples(r) && rc == 0; i++)
		rc = fn(arg, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
	PQclear(r);
	return rc;
}

int
ledger_pg_cosig_newest(struct ledger_store *s, unsigned n, const char *witness, uint64_t *size)
{
	char k[24];
	const char *vals[1] = {witness != NULL ? witness : k};
	bool missing;
	PGresult *r;

	*size = 0;
	snprintf(k, sizeof(k), "%u", n);
	r = ledger_pg_exec(s,
	                   witness != NULL
	                       ? "SELECT max(size) FROM cosignatures WHERE witness = $1"
	                       : "SELECT size FROM cosignatures GROUP BY size HAVING count(*) >= "
	                         "$1::bigint ORDER BY size DESC LIMIT 1",
	                   1, vals, PGRES_TUPLES_OK, &missing);
	if (r == NULL)
		return missing ? 0 : LEDGER_EIO;
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
		char *end;
		unsigned long long v = strtoull(PQgetvalue(r, 0, 0), &end, 10);
		if (*end != '\0') {
			PQclear(r);
			return LEDGER_EIO;
		}
		*size = (uint64_t)v;
	}
	PQclear(r);
	return 0;
}

/* Rows a page of the scan holds (the LIMIT of its statement). */
#define SCAN_PAGE 512

/* A decimal column of r as a positive int64 (ts: or zero), or -1. */
static int64_t
col_u63(const PGresult *r, int row, int col)
{
	char *end;
	long long v;

	if (PQgetisnull(r, row, col))
		return -1;
	v = strtoll(PQgetvalue(r, row, col), &end, 10);
	return *end == '\0' && v >= 0 ? (int64_t)v : -1;
}

int
ledger_pg_cosig_scan(struct ledger_store *s, uint64_t upto,
                     int (*fn)(void *arg, uint64_t size, const char *witness, uint64_t ts,
                               const char *line, size_t len),
                     void *arg)
{
	char sz[24] = "0", lim[24], *w = NULL;
	const char *vals[3] = {sz, "", lim};
	PGresult *r;
	int rc = 0, rows;

	snprintf(lim, sizeof(lim), "%" PRIu64, upto > INT64_MAX ? (uint64_t)INT64_MAX : upto);
	/* asked first, so that a missing table fails no statement of the caller's transaction */
	if ((r = ledger_pg_exec(s, "SELECT to_regclass('cosignatures') IS NOT NULL", 0, NULL,
	                        PGRES_TUPLES_OK, NULL)) == NULL)
		return LEDGER_EIO;
	bool have = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!have)
		return 0;
	/* page by page after the last (size, witness) handed over, in one order and comparison */
	do {
		r = ledger_pg_exec(
		    s,
		    "SELECT size, witness, time, line FROM cosignatures WHERE size <= "
		    "$3::bigint AND (size > $1::bigint OR (size = $1::bigint AND "
		    "witness > $2)) ORDER BY size, witness LIMIT 512",
		    3, vals, PGRES_TUPLES_OK, NULL);
		if (r == NULL) {
			rc = LEDGER_EIO;
			break;
		}
		rows = PQntuples(r);
		for (int i = 0; i < rows && rc == 0; i++) {
			int64_t size = col_u63(r, i, 0), t = col_u63(r, i, 2);
			if (size <= 0 || t < 0 || PQgetisnull(r, i, 1) || PQgetisnull(r, i, 3)) {
				rc = LEDGER_EIO; /* not a row pdgate wrote */
				snprintf(pg_of(s)->err, sizeof(pg_of(s)->err),
				         "a cosignature row is damaged");
				break;
			}
			rc = fn(arg, (uint64_t)size, PQgetvalue(r, i, 1), (uint64_t)t,
			        PQgetvalue(r, i, 3), (size_t)PQgetlength(r, i, 3));
		}
		if (rc == 0 && rows > 0) {
			snprintf(sz, sizeof(sz), "%s", PQgetvalue(r, rows - 1, 0));
			free(w);
			if ((w = strdup(PQgetvalue(r, rows - 1, 1))) == NULL)
				rc = LEDGER_ENOMEM;
			vals[1] = w;
		}
		PQclear(r);
	} while (rc == 0 && rows == SCAN_PAGE);
	free(w);
	return rc;
}
