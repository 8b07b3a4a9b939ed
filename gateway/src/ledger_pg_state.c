/* ledger_pg_state — inside the ledger: the state and limits gateway nodes share in PostgreSQL. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ledger_err.h"
#include "ledger_pg_int.h"

int
lpg_state_read(struct ledger_store *s, uint64_t *gen,
               int (*fn)(void *arg, const struct ledger_suspension *su), void *arg)
{
	struct pg_store *p = pg_of(s);
	PGresult *r =
	    lpg_simple(p,
	               "SELECT s.generation, u.partner, u.by, u.reason, u.since_ms FROM state "
	               "AS s LEFT JOIN suspensions AS u ON true WHERE s.id = 0 ORDER BY "
	               "u.partner",
	               PGRES_TUPLES_OK);
	int rc = 0;

	if (r == NULL)
		return LEDGER_EIO;
	if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0) ||
	    strtoll(PQgetvalue(r, 0, 0), NULL, 10) <= 0) {
		snprintf(p->err, sizeof(p->err), "the shared state row is missing");
		PQclear(r);
		return LEDGER_EIO;
	}
	*gen = (uint64_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		if (PQgetisnull(r, i, 1))
			continue; /* no suspension: the state row alone */
		struct ledger_suspension su = {
		    .partner = PQgetvalue(r, i, 1),
		    .by = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2),
		    .reason = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3),
		    .since_ms = strtoll(PQgetvalue(r, i, 4), NULL, 10),
		};
		rc = fn(arg, &su);
	}
	PQclear(r);
	return rc;
}

/*
 * One change of the shared state in a transaction of its own that holds the tree lock, so that
 * it is ordered with every batch of every node (docs/cluster.md): sql (n parameters vals)
 * changes at most one row; if it did, the generation grows by one and the change is announced.
 */
static int
state_change(struct pg_store *p, const char *sql, int n, const char *const *vals, const char *what,
             bool *changed)
{
	PGresult *r;
	int rc = LEDGER_EIO;

	assert(p->writer && !p->in_tx);
	*changed = false;
	r = lpg_simple(p, "BEGIN; SELECT 1 FROM tree WHERE id = 0 FOR UPDATE", PGRES_TUPLES_OK);
	if (PQtransactionStatus(p->conn) != PQTRANS_IDLE)
		p->in_tx = true;
	if (r == NULL)
		goto done;
	PQclear(r);
	r = lpg_exec_params(p, sql, n, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		lpg_set_err(p, r, what);
		PQclear(r);
		goto done;
	}
	*changed = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (*changed) {
		r = lpg_exec(p, "UPDATE state SET generation = generation + 1 WHERE id = 0");
		if (PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(r), "1") != 0) {
			lpg_set_err(p, r, "the shared state row");
			PQclear(r);
			goto done;
		}
		PQclear(r);
		/* delivered to every listening node when (and only if) this commits */
		r = lpg_exec(p, "NOTIFY pdgate_state");
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			lpg_set_err(p, r, "announcing the change");
			PQclear(r);
			goto done;
		}
		PQclear(r);
	}
	r = lpg_exec(p, "COMMIT");
	if (PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0)
		rc = 0;
	else
		lpg_set_err(p, r, what);
	PQclear(r);
	if (PQtransactionStatus(p->conn) == PQTRANS_IDLE)
		p->in_tx = false;
done:
	lpg_end(p, "ROLLBACK");
	if (rc != 0)
		*changed = false;
	return rc;
}

int
lpg_state_suspend(struct ledger_store *s, const struct ledger_suspension *su, bool suspended,
                  bool *changed)
{
	char since[24];
	const char *vals[4] = {su->partner, su->by, su->reason, since};

	snprintf(since, sizeof(since), "%lld", (long long)su->since_ms);
	return suspended ? state_change(pg_of(s),
	                                "INSERT INTO suspensions(partner, by, reason, since_ms) "
	                                "VALUES ($1, $2, $3, $4::bigint) ON CONFLICT (partner) DO "
	                                "NOTHING",
	                                4, vals, "the suspensions", changed)
	                 : state_change(pg_of(s), "DELETE FROM suspensions WHERE partner = $1", 1,
	                                vals, "the suspensions", changed);
}

int
lpg_state_revoke(struct ledger_store *s, const char *jti, int64_t revoked_at, bool *changed)
{
	char at[24];
	const char *vals[2] = {jti, at};

	snprintf(at, sizeof(at), "%lld", (long long)revoked_at);
	return state_change(pg_of(s),
	                    "INSERT INTO revoked(jti, revoked_at) VALUES ($1, $2::bigint) ON "
	                    "CONFLICT (jti) DO NOTHING",
	                    2, vals, "the revoked tokens", changed);
}

int
lpg_state_revoked(struct ledger_store *s, int (*fn)(void *arg, const char *jti), void *arg)
{
	struct pg_store *p = pg_of(s);
	PGresult *r = lpg_simple(p, "SELECT jti FROM revoked ORDER BY jti", PGRES_TUPLES_OK);
	int rc = 0;

	if (r == NULL)
		return LEDGER_EIO;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++)
		rc = fn(arg, PQgetvalue(r, i, 0));
	PQclear(r);
	return rc;
}

int
lpg_state_wait(struct ledger_store *s, int ms)
{
	struct pg_store *p = pg_of(s);
	PGnotify *n;
	int got = 0;

	if (!p->listening) {
		PGresult *r = lpg_simple(p, "LISTEN pdgate_state", PGRES_COMMAND_OK);
		if (r == NULL)
			return LEDGER_EIO;
		PQclear(r);
		p->listening = true;
		got = 1; /* what changed while nobody listened is read now */
	} else {
		struct pollfd pfd = {.fd = PQsocket(p->conn), .events = POLLIN};
		int k = pfd.fd >= 0 ? poll(&pfd, 1, ms) : -1;
		if ((k < 0 && errno != EINTR) || (k > 0 && PQconsumeInput(p->conn) == 0)) {
			lpg_set_err(p, NULL, "listening for changes");
			p->listening = false; /* LISTEN again once the session is made again */
			return LEDGER_EIO;
		}
	}
	while ((n = PQnotifies(p->conn)) != NULL) {
		got = 1;
		PQfreemem(n);
	}
	return got;
}

/* ------------------------------------------------------------------------------------------ */
/* The day's volumes, as a node that starts reads them (the writes are ledger_pg.c's). */

int
lpg_volume_day(struct ledger_store *s, int64_t day,
               int (*fn)(void *arg, const char *contract, uint64_t records), void *arg)
{
	char db[24];
	const char *vals[1] = {db};
	PGresult *r;
	int rc = 0;

	snprintf(db, sizeof(db), "%lld", (long long)day);
	r = lpg_params(pg_of(s), "SELECT contract, records FROM volumes WHERE day = $1::bigint", 1,
	               vals);
	if (r == NULL)
		return LEDGER_EIO;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++)
		rc = fn(arg, PQgetvalue(r, i, 0), (uint64_t)strtoll(PQgetvalue(r, i, 1), NULL, 10));
	PQclear(r);
	return rc;
}

/* The key of the database's lock on recording a data set: "pdanon", 1. */
#define IDS_LOCK_KEY "x'7064616e6f6e0001'::bigint"

int
lpg_ids_lock(struct ledger_store *s, bool take, int wait_ms)
{
	char t[24];
	const char *vals[1] = {t};
	PGresult *r;
	int rc;

	if (!take) {
		/* false: the session that held it had broken (and was made again) */
		if ((r = ledger_pg_exec(s, "SELECT pg_advisory_unlock(" IDS_LOCK_KEY ")", 0, NULL,
		                        PGRES_TUPLES_OK, NULL)) == NULL)
			return LEDGER_EIO;
		rc = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 0 : LEDGER_EIO;
		if (rc != 0)
			snprintf(pg_of(s)->err, sizeof(pg_of(s)->err),
			         "the lock on recording a data set was lost with its session");
		PQclear(r);
		return rc;
	}
	/* a session lock, waited for at most wait_ms (lock_timeout), and the setting put back */
	snprintf(t, sizeof(t), "%dms", wait_ms);
	if ((r = ledger_pg_exec(s, "SELECT set_config('lock_timeout', $1, false)", 1, vals,
	                        PGRES_TUPLES_OK, NULL)) == NULL)
		return LEDGER_EIO;
	PQclear(r);
	r = ledger_pg_exec(s, "SELECT pg_advisory_lock(" IDS_LOCK_KEY ")", 0, NULL, PGRES_TUPLES_OK,
	                   NULL);
	rc = r != NULL ? 0 : LEDGER_EIO;
	PQclear(r);
	if (rc != 0 && strstr(pg_of(s)->err, "lock timeout") != NULL)
		snprintf(pg_of(s)->err, sizeof(pg_of(s)->err),
		         "another data set is being recorded (waited %d ms for the lock)", wait_ms);
	if ((r = ledger_pg_exec(s, "SELECT set_config('lock_timeout', '0', false)", 0, NULL,
	                        PGRES_TUPLES_OK, NULL)) == NULL)
		rc = LEDGER_EIO;
	PQclear(r);
	return rc;
}
