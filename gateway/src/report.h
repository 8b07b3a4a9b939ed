/* report — the compliance reports over ledger entries: provisions, subject, breach, supervision. */
#ifndef PDGATE_REPORT_H
#define PDGATE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "catalog.h"
#include "contract.h"
#include "ledger.h"

/*
 * Two layers. The aggregations are pure functions over decoded leaves (struct report_leaf), so
 * that they are tested on tables without a ledger. The readers (report_db_*) feed them from the
 * ledger file through a read-only SQLite connection of their own, using the search columns of
 * the entries table (docs/ledger.md): idx, time (Unix ms, non-decreasing with idx, so a time
 * range is an idx range found by bisection), kind, partner, contract, purpose, subject, and
 * the leaf text for what has no column (items, basis, reason). The gateway and
 * `pdgate report` run the same code.
 */

#define REPORT_MAX_RECORDS 100000 /* provision records or subject releases per answer */
#define REPORT_BREACH_PEOPLE 1000 /* APPI rules Art. 7(4): more than this many is reportable */
#define REPORT_TRAILING_DAYS 30   /* the window of the volume mean */
#define REPORT_VOLUME_FACTOR 3    /* a day above this many times the mean is an anomaly */
#define REPORT_ENDING_DAYS 30     /* contracts ending within this many days are listed */
#define REPORT_DAY_MS 86400000LL
#define REPORT_JST_MS (9 * 3600 * 1000LL)

/* One ledger entry, decoded; or a group of count entries that agree on every field read. */
struct report_leaf {
	uint64_t index;
	int64_t time_ms;
	const char *time; /* as in the leaf (RFC 3339 UTC); NULL for a group */
	enum ledger_kind kind;
	const char *partner, *contract, *relationship, *purpose, *subject; /* NULL: null */
	const json_t *items;                                               /* array, or NULL */
	const char *basis, *reason, *justification, *token, *request, *digest;
	uint64_t count; /* >= 1 */
};

/* Decodes a leaf (a JSON object as the ledger writes it) into out; strings and items are
 * borrowed from leaf. 0, or -1 if a member is missing or of the wrong type. */
int report_leaf_decode(const json_t *leaf, struct report_leaf *out);

/* What the catalogs and contracts say about the ids in entries. Borrowed; contracts may be
 * NULL (names are then left empty). */
struct report_names {
	const struct catalog *catalog;
	const struct contract_set *contracts;
};

/* The JST day (days since 1970-01-01 in UTC+9) of a Unix ms instant, and "YYYY-MM-DD". */
int64_t report_day(int64_t ms);
void report_day_text(int64_t day, char out[11]);

/* Parses a from/to bound: RFC 3339 with offset, or a date YYYY-MM-DD meaning the start of that
 * JST day (end_of_day: the start of the next one, so that to=DATE includes DATE). 0 or -1. */
int report_parse_time(const char *s, bool end_of_day, int64_t *ms);

/* --- Provision records (APPI Art. 29): recipient, subject, items, basis, date. --- */

/* The record of one release entry (new reference, NULL on out of memory). */
json_t *report_provision_json(const struct report_leaf *l, const struct report_names *n);

/* A growing text buffer; bad is set (and the text dropped) if memory runs out. */
struct report_buf {
	char *data;
	size_t len, cap;
	bool bad;
};
void report_buf_add(struct report_buf *b, const char *s, size_t n);
void report_buf_free(struct report_buf *b);

/* CSV (RFC 4180, UTF-8 with a byte-order mark so that spreadsheets read the Japanese, CRLF):
 * the BOM and header row, then one row per release entry. */
void report_csv_header(struct report_buf *b);
void report_csv_provision(struct report_buf *b, const struct report_leaf *l,
                          const struct report_names *n);
/* One field, quoted when it holds a comma, quote, CR or LF (quotes doubled); a field that
 * starts with = + - @ or a tab is prefixed with ' so that no spreadsheet runs it as a
 * formula. Then "," or, if last, CRLF. */
void report_csv_field(struct report_buf *b, const char *s, bool last);

/* --- The breach report (APPI Art. 26): who was affected at a partner, with what. --- */

struct report_breach;

struct report_breach *report_breach_new(void);
void report_breach_free(struct report_breach *b);
/* Adds a release entry (others are ignored): its subject and items. 0 or -1 (memory). */
int report_breach_add(struct report_breach *b, const struct report_leaf *l);
/* Sets the member id of a subject, for the notification of the members. */
void report_breach_resolve(struct report_breach *b, const char *subject, const char *member_id);
/* Calls fn for each subject collected (for resolving them); fn returns 0 to go on. */
void report_breach_subjects(const struct report_breach *b,
                            int (*fn)(void *arg, const char *subject), void *arg);
size_t report_breach_count(const struct report_breach *b);
/*
 * The report (new reference): {"partner","from","to","count","releases","members":[{"subject",
 * "member_id","items","releases","first","last"}],"items":[{"item","class","members"}],
 * "classes":[…],"reportable",reasons:[{"code","text"}]}, members oldest first. Reportable when
 * more than REPORT_BREACH_PEOPLE members are affected or any item is of class my_number.
 */
json_t *report_breach_json(struct report_breach *b, const struct report_names *n,
                           const char *partner, int64_t from_ms, int64_t to_ms);

/* --- The supervision summary (APPI Art. 25). --- */

struct report_summary;

/* A summary of [from_ms, to_ms); now decides which contracts are ending. NULL on memory. */
struct report_summary *report_summary_new(int64_t from_ms, int64_t to_ms, time_t now);
void report_summary_free(struct report_summary *s);

#define REPORT_ROWS 1u   /* count the entry in the per partner/contract/purpose rows */
#define REPORT_VOLUME 2u /* count a release in its partner's daily volume */
/* Adds an entry (or group). Rows take entries inside the period, volumes releases of the
 * period and of the REPORT_TRAILING_DAYS days before it. 0 or -1 (memory). */
int report_summary_add(struct report_summary *s, const struct report_leaf *l, unsigned what);
/* Adds an admin entry to the list of actions of the period (kept as is). 0 or -1. */
int report_summary_admin(struct report_summary *s, const json_t *leaf);
/*
 * The summary (new reference): {"from","to","rows":[{"partner","partner_name","contract",
 * "purpose","purpose_label","purpose_kind","releases","refused","refusals":{reason:n},
 * "exception_uses"}],"contracts_ending":[…],"volume_anomalies":[{"partner","day","releases",
 * "trailing_mean","ratio"}],
 * "admin":[leaves],"totals":{…}}.
 */
json_t *report_summary_json(struct report_summary *s, const struct report_names *n);

/* --- Readers on the ledger file. --- */

struct report_db;

/* Opens ledger.db read-only (never creating it). NULL with err. Not thread-safe: one per
 * thread or request. */
struct report_db *report_db_open(const char *path, char *err, size_t errlen);
void report_db_close(struct report_db *d);

struct report_query {
	const char *partner; /* NULL: any */
	const char *subject; /* NULL: any */
	int64_t from_ms;     /* 0: from the start */
	int64_t to_ms;       /* 0: no end (exclusive) */
	uint64_t after;      /* ascending cursor: entries with idx > after (UINT64_MAX: none) */
	unsigned limit;      /* 1..REPORT_MAX_RECORDS */
};

/*
 * Release entries matching q, oldest first, each decoded and handed to fn (borrowed for the
 * call; fn returns 0 to go on). *next is the index of the last one if the limit cut the list
 * short, else UINT64_MAX. 0, or -1 with err.
 */
int report_db_releases(struct report_db *d, const struct report_query *q,
                       int (*fn)(void *arg, const struct report_leaf *l), void *arg, uint64_t *next,
                       char *err, size_t errlen);
/* Refusals recorded about q->subject in the range (for the subject report). 0 or -1. */
int report_db_refusals(struct report_db *d, const struct report_query *q, uint64_t *count,
                       char *err, size_t errlen);
/* Feeds the breach report with q->partner's releases in the range, grouped by subject and
 * items (one SQL pass over the partner index). 0 or -1 with err. */
int report_db_breach(struct report_db *d, const struct report_query *q, struct report_breach *b,
                     char *err, size_t errlen);
/* Feeds the summary with the period's rows, the volume days and the admin entries. */
int report_db_summary(struct report_db *d, struct report_summary *s, char *err, size_t errlen);

/* --- The whole reports, as the API and `pdgate report` give them. --- */

/*
 * Provision records of q (releases, oldest first): JSON {"partner","from","to","count",
 * "records":[report_provision_json…],"next"} or, with csv, the CSV. *out is malloc'd (caller
 * frees), *len its length; *next as report_db_releases. 0, or -1 with err.
 */
int report_provisions(struct report_db *d, const struct report_query *q,
                      const struct report_names *n, bool csv, char **out, size_t *len,
                      uint64_t *next, char *err, size_t errlen);

/*
 * Every release about one member (APPI Art. 33(5)): {"member_id","subject","count","refusals",
 * "complete","recipients":[{"partner","partner_name","releases","first","last","items"}],
 * "releases":[records]}. New reference, or NULL with err.
 */
json_t *report_subject(struct report_db *d, const char *member_id, const char *subject,
                       const struct report_names *n, char *err, size_t errlen);

struct origin;
struct pseudo;

/* The breach report of q->partner (see report_breach_json). With o and p given, the affected
 * subjects are resolved to member ids by reading every member of the origin once. */
json_t *report_breach(struct report_db *d, const struct report_query *q,
                      const struct report_names *n, struct origin *o, const struct pseudo *p,
                      char *err, size_t errlen);

/* The supervision summary of [from_ms, to_ms) (see report_summary_json). */
json_t *report_summary(struct report_db *d, int64_t from_ms, int64_t to_ms, time_t now,
                       const struct report_names *n, char *err, size_t errlen);

/* `pdgate report provisions|subject|breach|summary ...`; argv[0] is "report". */
int report_main(int argc, char **argv);

#endif
