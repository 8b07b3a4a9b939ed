/* ledger_pgwait — inside the ledger: libpq statements whose answer is waited for a bounded time. */
#ifndef PDGATE_LEDGER_PGWAIT_H
#define PDGATE_LEDGER_PGWAIT_H

/*
 * libpq's PQexec and its kin wait for the server's answer as long as it takes. A server that
 * keeps the connection open and answers nothing — stopped, hung, its machine gone without a
 * reset — would hold the caller for ever: the server's own statement_timeout cannot fire, and
 * TCP keepalives are answered by a live kernel. These send the statement, then wait for the
 * answer at most silence_ms without a byte of it; past that the session's socket is shut, so
 * that libpq sees the connection lost (PQstatus CONNECTION_BAD: the next statement connects
 * again), the call returns its error result, and *silent is set. Otherwise they return what
 * PQexec and its kin return (the last result; the first error; NULL if nothing could be sent).
 * The session must be in blocking mode (libpq's default).
 */

#include <stdbool.h>

#include <libpq-fe.h>

PGresult *pgwait_exec(PGconn *c, int silence_ms, bool *silent, const char *sql);
PGresult *pgwait_params(PGconn *c, int silence_ms, bool *silent, const char *sql, int n,
                        const Oid *types, const char *const *vals, const int *lens, const int *fmts,
                        int result_fmt);
PGresult *pgwait_prepared(PGconn *c, int silence_ms, bool *silent, const char *name, int n,
                          const char *const *vals, const int *lens, const int *fmts,
                          int result_fmt);
PGresult *pgwait_prepare(PGconn *c, int silence_ms, bool *silent, const char *name, const char *sql,
                         int n, const Oid *types);

#endif
