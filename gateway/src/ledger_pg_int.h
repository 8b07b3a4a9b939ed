/* ledger_pg_int — what the files of the PostgreSQL store share, not an interface: ledger_pg.c
 * (the connection, the batches and checkpoints, opening), ledger_pg_state.c (the state and
 * limits the nodes share) and ledger_pg_cosig.c (the witnesses' cosignatures). */
#ifndef PDGATE_LEDGER_PG_INT_H
#define PDGATE_LEDGER_PG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "ledger_store.h"

struct pg_store {
	struct ledger_store base; /* first: a struct ledger_store * is a struct pg_store * */
	PGconn *conn;
	bool writer;
	bool in_tx;     /* a transaction begin or snapshot_begin opened is open */
	bool prepared;  /* the statements are prepared on this session */
	bool opened;    /* the schema is checked: a new session prepares the statements */
	bool listening; /* LISTEN pdgate_state is in force on this session (state_wait) */
	bool silent;    /* the last statement's answer did not come: the session was given up */
	char err[512];  /* the last error */
};

static inline struct pg_store *
pg_of(struct ledger_store *s)
{
	return (struct pg_store *)s;
}

/* The server's message (of r, else the connection's), one line, into p->err, after what. */
void lpg_set_err(struct pg_store *p, const PGresult *r, const char *what);
/* Statements sent on p's session and their answer awaited a bounded time (ledger_pgwait.h):
 * what every statement of the store goes through. */
int lpg_silence_ms(const struct pg_store *p);
PGresult *lpg_exec(struct pg_store *p, const char *sql);
PGresult *lpg_exec_params(struct pg_store *p, const char *sql, int n, const Oid *types,
                          const char *const *vals, const int *lens, const int *fmts,
                          int result_fmt);
/* sql as one simple query (text results); the last result if its status is want, else NULL
 * with p->err. A session that was gone is made again, and the query run again, outside a
 * transaction. */
PGresult *lpg_simple(struct pg_store *p, const char *sql, ExecStatusType want);
/* sql with n text parameters, a query returning rows, as lpg_simple. */
PGresult *lpg_params(struct pg_store *p, const char *sql, int n, const char *const *vals);
/* Ends the transaction open on p, if any, with sql (COMMIT or ROLLBACK), ignoring its result. */
void lpg_end(struct pg_store *p, const char *sql);

/* ledger_pg_state.c: the ledger_store_ops of the shared state and the day's volumes
 * (ledger_store.h); the takes and volume_add are ledger_pg.c's, prepared statements. */
int lpg_state_read(struct ledger_store *s, uint64_t *gen,
                   int (*fn)(void *arg, const struct ledger_suspension *su), void *arg);
int lpg_state_suspend(struct ledger_store *s, const struct ledger_suspension *su, bool suspended,
                      bool *changed);
int lpg_state_revoke(struct ledger_store *s, const char *jti, int64_t revoked_at, bool *changed);
int lpg_state_revoked(struct ledger_store *s, int (*fn)(void *arg, const char *jti), void *arg);
int lpg_state_wait(struct ledger_store *s, int ms);
int lpg_ids_lock(struct ledger_store *s, bool take, int wait_ms);
int lpg_volume_day(struct ledger_store *s, int64_t day,
                   int (*fn)(void *arg, const char *contract, uint64_t records), void *arg);

/*
 * Runs sql with n text parameters (vals) on the session of s (a ledger_pg store): a session
 * that broke is made again, and the statement run once more, outside a transaction. The
 * result (text columns; PQclear it) if its status is want; else NULL with the store's message
 * (errmsg) and, if missing is not NULL, *missing set when a table it names does not exist.
 */
PGresult *ledger_pg_exec(struct ledger_store *s, const char *sql, int n, const char *const *vals,
                         ExecStatusType want, bool *missing);

/* The cosignatures' operations of ledger_store.h on PostgreSQL (ledger_pg_cosig.c). */
int ledger_pg_cosig_open(struct ledger_store *s);
int ledger_pg_cosig_put(struct ledger_store *s, uint64_t size, const char *witness, uint64_t ts,
                        const char *line, size_t len);
int ledger_pg_cosig_lines(struct ledger_store *s, uint64_t size,
                          int (*fn)(void *arg, const char *line, size_t len), void *arg);
int ledger_pg_cosig_newest(struct ledger_store *s, unsigned n, const char *witness, uint64_t *size);
int ledger_pg_cosig_scan(struct ledger_store *s, uint64_t upto,
                         int (*fn)(void *arg, uint64_t size, const char *witness, uint64_t ts,
                                   const char *line, size_t len),
                         void *arg);

#endif
