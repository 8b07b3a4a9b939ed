/* ledger_pg — inside the ledger: the ledger's store in a PostgreSQL database nodes share. */
#ifndef PDGATE_LEDGER_PG_H
#define PDGATE_LEDGER_PG_H

/*
 * The same batches and checkpoints as ledger.db (docs/ledger.md, section 4), in PostgreSQL
 * tables (docs/ledger.md, "On PostgreSQL"), plus a one-row table `tree` holding the tree's
 * size: the row every commit and every checkpoint locks (SELECT ... FOR UPDATE) inside its
 * transaction, so that the database sequences the entries of every node, each node
 * group-committing its own requests. Writers commit with synchronous_commit = on.
 */

#include <stdbool.h>
#include <stddef.h>

#include "ledger_store.h"

/* The layout this pdgate writes in PostgreSQL (meta "schema"): the batch layout of ledger.db's
 * schema 2, with the tree-state row. */
#define LEDGER_PG_SCHEMA 2

/*
 * Connects to the database of url (a libpq postgresql:// URL). A writer's connection creates
 * the tables in an empty database (under an advisory lock, so that nodes starting together
 * create them once) and commits with synchronous_commit = on; a reader's is read-only. Refuses,
 * with the reason in err: a URL libpq does not parse, a server that cannot be reached, a
 * database holding other tables than pdgate's, a schema of another version (a newer pdgate's),
 * a stored origin other than origin (NULL: any). The stored origin into *stored (caller frees)
 * if stored is not NULL. Returns the store (ledger_store_free), or NULL.
 */
struct ledger_store *ledger_pg_open(const char *url, bool writer, const char *origin, char **stored,
                                    char *err, size_t errlen);

/* What `serve -n` and `serve` check before anything starts: 0 if url names a pdgate ledger of
 * this schema and origin, or an empty database (a writer makes the tables); else -1 with the
 * reason, as ledger_pg_open says it. */
int ledger_pg_check(const char *url, const char *origin, char *err, size_t errlen);

/* The session of s if ledger_pg_open made it (NULL otherwise), borrowed: for the other tables
 * of the shared state (subjects_pg.c reads the members' requests on it, inside the transaction
 * s's caller holds). A PGconn (libpq-fe.h). */
struct pg_conn;
struct pg_conn *ledger_pg_conn(struct ledger_store *s);

#endif
