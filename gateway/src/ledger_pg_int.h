/* ledger_pg — inside the ledger: what ledger_pg.c lends the parts of the PostgreSQL store kept
 * in files of their own (ledger_pg_cosig.c: the witnesses' cosignatures). */
#ifndef PDGATE_LEDGER_PG_INT_H
#define PDGATE_LEDGER_PG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "ledger_store.h"

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

#endif
