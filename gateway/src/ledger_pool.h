/* ledger_pool — inside the ledger: read connections to a ledger at a path or a URL, lent. */
#ifndef PDGATE_LEDGER_POOL_H
#define PDGATE_LEDGER_POOL_H

/*
 * Where a ledger is: the path of ledger.db (ledger_db.h) or a postgresql:// URL (ledger_pg.h,
 * ledger_store_is_url). This module picks the store for it, so that nothing above it asks.
 */

#include <stddef.h>

#include "ledger_store.h"

/* A read-only connection to the ledger at where: a PostgreSQL URL (ledger_pg_open), or the
 * path of ledger.db with its search index attached if there is one. NULL with err. */
struct ledger_store *ledger_pool_reader(const char *where, char *err, size_t errlen);

/* A read-write connection of its own to the ledger at where, for a writer beside the ledger's
 * (the witnesses' cosignatures): a PostgreSQL URL (ledger_pg_open, the stored origin checked
 * against origin), or ledger.db. NULL with err. */
struct ledger_store *ledger_pool_writer(const char *where, const char *origin, char *err,
                                        size_t errlen);

/* The stored origin of the ledger at where (caller frees), after checking that it is a
 * pdgate ledger of this pdgate's schema and, unless origin is NULL, of that origin. NULL with
 * err. */
char *ledger_pool_origin(const char *where, const char *origin, char *err, size_t errlen);

/* Read connections, each lent to one thread at a time. */
struct ledger_pool;

/* n read connections of where (ledger_pool_reader); NULL with err. Free with
 * ledger_pool_free. */
struct ledger_pool *ledger_pool_open(const char *where, unsigned n, char *err, size_t errlen);
void ledger_pool_free(struct ledger_pool *p);
/* A free connection, waiting for one if all are lent; give it back with ledger_pool_put. */
struct ledger_store *ledger_pool_get(struct ledger_pool *p);
void ledger_pool_put(struct ledger_pool *p, struct ledger_store *c);

/* The read connections of an open ledger (ledger.c; borrowed), for ledger_read.c. */
struct ledger;
struct ledger_pool *ledger_pool_of(struct ledger *l);

/* 0 if the ledger at where can be opened by a gateway of origin: for a URL, as
 * ledger_pg_check; a file is checked when it is opened. Else -1 with err. */
int ledger_pool_check(const char *where, const char *origin, char *err, size_t errlen);

#endif
