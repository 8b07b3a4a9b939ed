/* subjects_int — what the register's front (subjects.c) and its two stores share, not an
 * interface: the SQLite file of [gateway] state (subjects_file.c) and the ledger's PostgreSQL
 * database (subjects_pg.c). */
#ifndef PDGATE_SUBJECTS_INT_H
#define PDGATE_SUBJECTS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "subjects.h"

struct ledger_store;
struct subjects_store;

/* Which requests subjects_store_ops.rows reads. */
enum subjects_rows {
	SUBJECTS_ROWS_OF,      /* param: the subject reference */
	SUBJECTS_ROWS_ALL,     /* param NULL */
	SUBJECTS_ROWS_STATUS,  /* param: "open" or "closed" */
	SUBJECTS_ROWS_OVERDUE, /* param: the day (YYYY-MM-DD) received must be before */
};

/* The columns every store reads, in this order, as text (NULL for null). */
#define SUBJECTS_COLUMNS                                                                           \
	"id, subject, type, received, channel, note, status, outcome, reason, opened_at, "         \
	"opened_by, opened_index, closed_at, closed_by, closed_index"
#define SUBJECTS_NCOLS 15

/* Each subjects_rows' statement, oldest first (received, then id), its one parameter as $1:
 * the same text for both stores (SQLite binds $1 as parameter 1). */
extern const char *const subjects_rows_sql[];

/* The requests that hold a restriction: a stop request, open or completed. */
#define SUBJECTS_HOLDS_SQL                                                                         \
	"type IN ('stop_use', 'stop_third_party') AND (status = 'open' OR outcome = 'completed')"

/* A store. Each call is the store's own to serialise (the front holds no lock around it). */
struct subjects_store_ops {
	const char *kind; /* "sqlite" or "postgresql" */
	/* Registers n: its id given out in the write's transaction (unique however many write at
	 * once), record called with the row, then the row stored; *bits: what n->subject's
	 * requests hold once stored. */
	enum subjects_result (*add)(struct subjects_store *st, const struct subjects_new *n,
	                            subjects_record_fn record, void *arg, struct subjects_row *row,
	                            uint64_t *index, unsigned *bits);
	/* Closes a request as subjects_close_request says; *bits as add. */
	enum subjects_result (*close)(struct subjects_store *st, const char *subject,
	                              const char *id, enum subjects_outcome outcome,
	                              const char *reason, const char *by, int64_t now_ms,
	                              subjects_record_fn record, void *arg,
	                              struct subjects_row *row, uint64_t *index, unsigned *bits);
	/* Every (subject, bit) a request holds into fn (0 to go on), in one snapshot with the
	 * generation of the shared state it is of (0: the store has none). via: a ledger store's
	 * connection to read on, in the transaction its caller holds (NULL: the store's own). 0 or
	 * -1. */
	int (*load)(struct subjects_store *st, struct ledger_store *via, uint64_t *gen,
	            int (*fn)(void *arg, const char *subject, unsigned bit), void *arg);
	/* The rows of which as an array of subjects_row_json's, oldest first; NULL on failure. */
	json_t *(*rows)(struct subjects_store *st, enum subjects_rows which, const char *param,
	                int64_t today);
	void (*free)(struct subjects_store *st);
};

/* A register over the store st (taken), its restrictions loaded; NULL with err (st freed). */
struct subjects *subjects_new_over(const struct subjects_store_ops *ops, struct subjects_store *st,
                                   char *err, size_t errlen);

/* The bit of a type's name ("stop_use"): POLICY_RESTRICT_*, or 0. */
unsigned subjects_type_bit(const char *type);

/* One request as the lists show it, from its SUBJECTS_COLUMNS as text; with_subject adds
 * "subject". New reference, NULL if out of memory. */
json_t *subjects_row_json(const char *const col[SUBJECTS_NCOLS], bool with_subject, int64_t today);

#endif
