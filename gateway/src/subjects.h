/* subjects — members' requests (開示・訂正・削除・利用停止・第三者提供停止): their register, and
 * the restrictions they put on every release, held in memory. */
#ifndef PDGATE_SUBJECTS_H
#define PDGATE_SUBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "policy.h"
#include "pseudo.h"

/*
 * One table, in one of two stores: the SQLite file of [gateway] state, shared with the other
 * users of that file (a single gateway: subjects_open), or the ledger's PostgreSQL database
 * that several gateway nodes share (subjects_open_pg; docs/cluster.md):
 *   subject_requests(id TEXT PRIMARY KEY, year, seq, subject, type, received, channel, note,
 *                    opened_at, opened_by, opened_index, status, outcome, reason, closed_at,
 *                    closed_by, closed_index)
 * A member is held by its subject reference (pseudo.h) only: never the member id, never a
 * name. Whoever asks about a member computes the reference from the id.
 *
 * Ids are "RQ-YYYY-NNNNNN": the Japan year in which the request was registered and its number
 * in that year from 000001, given out under the writer's lock in the transaction that stores
 * the request (on PostgreSQL, a lock every node's writes take), so two officers never get the
 * same id, on one node or several, and a number is never reused.
 *
 * The restrictions (stop_use, stop_third_party) of the requests that are open or completed
 * are held in memory, loaded at open and changed by each write before it returns, so that a
 * partner's next request sees them without asking the database. A refused or withdrawn
 * request lifts its restriction, unless another request of the member holds it. On
 * PostgreSQL a write also moves the shared state's generation (the tree lock, NOTIFY), and
 * every node loads them again when it moves (subjects_state_load).
 *
 * Thread-safe. This header is all its callers know of either store.
 */
struct subjects;

enum subjects_type {
	SUBJECTS_DISCLOSURE,       /* 開示 (APPI Art. 33) */
	SUBJECTS_CORRECTION,       /* 訂正・追加・削除 of the content (Art. 34) */
	SUBJECTS_DELETION,         /* 消去 (Art. 35) */
	SUBJECTS_STOP_USE,         /* 利用停止 (Art. 35(1)) */
	SUBJECTS_STOP_THIRD_PARTY, /* 第三者提供の停止 (Art. 35(3)) */
};
#define SUBJECTS_NTYPES 5

enum subjects_outcome {
	SUBJECTS_OPEN,      /* not closed yet */
	SUBJECTS_COMPLETED, /* done as asked */
	SUBJECTS_REFUSED,   /* refused, with the reason the member is told */
	SUBJECTS_WITHDRAWN, /* the member withdrew it */
};

#define SUBJECTS_ID_LEN 14       /* "RQ-2026-000001" */
#define SUBJECTS_CHANNEL_MAX 64  /* characters of how the request came in, a free text */
#define SUBJECTS_NOTE_MAX 1000   /* characters of the officer's note, a free text */
#define SUBJECTS_REASON_MAX 512  /* characters of a closing's reason, a free text */
#define SUBJECTS_OVERDUE_DAYS 14 /* an open request older than this is overdue */

/* Names as the API and the ledger spell them ("stop_use", "refused"); static. NULL if out of
 * range. The parsers return 0 with *out, or -1 for a name that is not one. */
const char *subjects_type_name(enum subjects_type t);
int subjects_type_parse(const char *s, enum subjects_type *out);
const char *subjects_outcome_name(enum subjects_outcome o);
int subjects_outcome_parse(const char *s, enum subjects_outcome *out); /* not "open" */

/* A request as a write sees it, for the caller's ledger entry. */
struct subjects_row {
	char id[SUBJECTS_ID_LEN + 1];
	enum subjects_type type;
	char received[11]; /* YYYY-MM-DD */
	enum subjects_outcome outcome;
};

/*
 * Called by a write inside its transaction, before anything is stored: the caller records the
 * act (its ledger entry) and returns 0 with the entry's index, and the write is stored; or -1,
 * and nothing is.
 */
typedef int (*subjects_record_fn)(void *arg, const struct subjects_row *row, uint64_t *index);

enum subjects_result {
	SUBJECTS_OK,
	SUBJECTS_NOT_FOUND,      /* no such request for this member */
	SUBJECTS_CLOSED_ALREADY, /* a request is closed once */
	SUBJECTS_NOT_RECORDED,   /* the record function returned -1: nothing stored */
	SUBJECTS_EDB,            /* the database failed before the act was recorded: nothing */
	SUBJECTS_ESTORE,         /* recorded (index valid), but the database failed to store it */
};

/* Opens (creating the table if needed) the register at path and loads the restrictions.
 * NULL with err. Caller closes. */
struct subjects *subjects_open(const char *path, char *err, size_t errlen);
/* The same in the PostgreSQL ledger of url, whose tables (docs/ledger.md) a writer has made:
 * the table made if needed, on a connection of its own. NULL with err. Caller closes. */
struct subjects *subjects_open_pg(const char *url, char *err, size_t errlen);
void subjects_close(struct subjects *s); /* NULL is a no-op */

/* What a new request says. Strings borrowed; channel and note may be NULL. */
struct subjects_new {
	const char *subject; /* PSEUDO_SUBJECT_HEX hex digits */
	enum subjects_type type;
	const char *received; /* YYYY-MM-DD, checked by the caller */
	const char *channel;
	const char *note;
	const char *by; /* the staff member who registers it */
	int64_t now_ms; /* the time of registering; its Japan year numbers the id */
};

/* Registers a request: record is called with its id, then it is stored and its restriction is
 * in force. row receives the request. */
enum subjects_result subjects_add(struct subjects *s, const struct subjects_new *n,
                                  subjects_record_fn record, void *arg, struct subjects_row *row,
                                  uint64_t *index);

/* Closes request id of the member subject with outcome (not SUBJECTS_OPEN) and reason (may be
 * NULL), by, at now_ms: record is called with the closed request, then it is stored and the
 * restrictions follow. */
enum subjects_result subjects_close_request(struct subjects *s, const char *subject, const char *id,
                                            enum subjects_outcome outcome, const char *reason,
                                            const char *by, int64_t now_ms,
                                            subjects_record_fn record, void *arg,
                                            struct subjects_row *row, uint64_t *index);

/* The restriction bits in force for a subject reference (POLICY_RESTRICT_*, the member rules'
 * input): a lookup in memory, no database. */
unsigned subjects_restrictions(struct subjects *s, const char *subject);
/* A number that changes with every change of those bits, for any subject, before the change
 * is seen by subjects_restrictions: equal at two times, no restriction changed in between. */
uint64_t subjects_generation(struct subjects *s);
/* The generation of the shared state the restrictions in memory are of, read before the bits
 * they are used with (which are then at least as new); 0 for a single gateway's file. */
uint64_t subjects_state_gen(struct subjects *s);
/* The ledger's hook and the listener's (arg the register; ledger_params.state_load): puts in
 * force the restrictions the shared store holds, read through via (a PostgreSQL ledger
 * store's connection, in the transaction its caller holds, if any) when their generation is
 * newer than those in force. 0 or -1. */
struct ledger_store;
int subjects_state_load(void *arg, struct ledger_store *via);

/*
 * The requests as JSON objects {"id","type","received","channel","note","status","outcome",
 * "reason","opened_at","opened_by","opened_index","closed_at","closed_by","closed_index",
 * "age_days"} (absent values null; age_days: whole Japan days from received to today, a day
 * number of cal_jst_day), oldest first (received, then id). New array, or NULL on a database
 * error or out of memory.
 *   subjects_of: the member subject's requests.
 *   subjects_list: every request, only the open ones (status "open"), or only the closed ones
 *                  ("closed"; NULL: all); each also names its "subject".
 *   subjects_overdue: the open requests received more than SUBJECTS_OVERDUE_DAYS days before
 *                  today, with their "subject".
 */
json_t *subjects_of(struct subjects *s, const char *subject, int64_t today);
json_t *subjects_list(struct subjects *s, const char *status, int64_t today);
json_t *subjects_overdue(struct subjects *s, int64_t today);

#endif
