/* ledger_pgwait — inside the ledger: libpq statements whose answer is waited for a bounded time. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "ledger_pgwait.h"

/* Every result of what was sent (sent: the PQsend* call's return), as PQexec gathers them. */
static PGresult *
answer(PGconn *c, int silence_ms, bool *silent, int sent)
{
	PGresult *last = NULL, *r;

	*silent = false;
	if (!sent)
		return NULL;
	for (;;) {
		while (PQisBusy(c)) {
			struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
			int k = pfd.fd >= 0 ? poll(&pfd, 1, *silent ? 1000 : silence_ms) : -1;
			if (k < 0 && errno == EINTR)
				continue;
			if (k == 0 && !*silent) {
				/* nothing for silence_ms: the session is given up; libpq reads the
				 * end */
				*silent = true;
				shutdown(pfd.fd, SHUT_RDWR);
				continue;
			}
			if (k <= 0 || PQconsumeInput(c) == 0)
				break; /* the connection is lost: PQgetResult says so at once */
		}
		if ((r = PQgetResult(c)) == NULL)
			break;
		if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR) {
			PQclear(r); /* as PQexec: the first error is the answer */
			continue;
		}
		PQclear(last);
		last = r;
	}
	return last;
}

PGresult *
pgwait_exec(PGconn *c, int silence_ms, bool *silent, const char *sql)
{
	return answer(c, silence_ms, silent, PQsendQuery(c, sql));
}

PGresult *
pgwait_params(PGconn *c, int silence_ms, bool *silent, const char *sql, int n, const Oid *types,
              const char *const *vals, const int *lens, const int *fmts, int result_fmt)
{
	return answer(c, silence_ms, silent,
	              PQsendQueryParams(c, sql, n, types, vals, lens, fmts, result_fmt));
}

PGresult *
pgwait_prepared(PGconn *c, int silence_ms, bool *silent, const char *name, int n,
                const char *const *vals, const int *lens, const int *fmts, int result_fmt)
{
	return answer(c, silence_ms, silent,
	              PQsendQueryPrepared(c, name, n, vals, lens, fmts, result_fmt));
}

PGresult *
pgwait_prepare(PGconn *c, int silence_ms, bool *silent, const char *name, const char *sql, int n,
               const Oid *types)
{
	return answer(c, silence_ms, silent, PQsendPrepare(c, name, sql, n, types));
}
