/* report — the compliance reports over ledger entries: provisions, subject, breach, supervision. */
#ifndef PDGATE_REPORT_H
#define PDGATE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "cal.h"
#include "catalog.h"
#include "contract.h"
#include "ledger.h"

/*
 * Each report asks the ledger's readers (ledger_read.h) for the entries it covers, by partner,
 * member, kind and time, and aggregates them; it reads no file of its own. The gateway and
 * `pdgate report` run the same code.
 */

#define REPORT_MAX_RECORDS 100000 /* provision records or subject releases per answer */
#define REPORT_BREACH_PEOPLE 1000 /* APPI rules Art. 7(4): more than this many is reportable */
#define REPORT_TRAILING_DAYS 30   /* the window of the volume mean */
#define REPORT_VOLUME_FACTOR 3    /* a day above this many times the mean is an anomaly */
#define REPORT_ENDING_DAYS 30     /* contracts ending within this many days are listed */
#define REPORT_DAY_MS CAL_DAY_MS  /* the compliance API's name for it, until it says CAL_DAY_MS */

/* What the catalogs and contracts say about the ids in entries. Borrowed; contracts may be
 * NULL (names are then left empty). */
struct report_names {
	const struct catalog *catalog;
	const struct contract_set *contracts;
};

/* Parses a from/to bound: RFC 3339 with offset, or a date YYYY-MM-DD meaning the start of that
 * JST day (end_of_day: the start of the next one, so that to=DATE includes DATE). 0 or -1. */
int report_parse_time(const char *s, bool end_of_day, int64_t *ms);

/* Which release entries a provisions or breach report covers. */
struct report_query {
	const char *partner; /* NULL: any */
	const char *subject; /* NULL: any */
	int64_t from_ms;     /* 0: from the start */
	int64_t to_ms;       /* 0: no end (exclusive) */
	uint64_t after;      /* ascending cursor: entries with idx > after (UINT64_MAX: none) */
	unsigned limit;      /* 1..REPORT_MAX_RECORDS (provisions) */
};

/*
 * Provision records (APPI Art. 29) of q's releases, oldest first: JSON {"partner","from","to",
 * "count","records":[{"index","time","date","recipient","recipient_name","contract",…}],"next"}
 * or, with csv, CSV (RFC 4180, UTF-8 with a byte-order mark, CRLF, formula-looking fields
 * quoted with a leading '). *out is malloc'd (caller frees), *len its length; *next is the
 * after= of the next page if the limit cut the list short, else UINT64_MAX. 0, or -1 with err.
 */
int report_provisions(struct ledger *l, const struct report_query *q, const struct report_names *n,
                      bool csv, char **out, size_t *len, uint64_t *next, char *err, size_t errlen);

/*
 * Every release about one member (APPI Art. 33(5)): {"member_id","subject","count","refusals",
 * "complete","recipients":[{"partner","partner_name","releases","first","last","items"}],
 * "releases":[records]}. New reference, or NULL with err.
 */
json_t *report_subject(struct ledger *l, const char *member_id, const char *subject,
                       const struct report_names *n, char *err, size_t errlen);

struct certwatch;
struct origin;
struct pseudo;

/*
 * The breach report (APPI Art. 26) of q->partner (required) in q's time range: {"partner",
 * "from","to","count","releases","members":[{"subject","member_id","items","releases","first",
 * "last"}],"items":[{"item","class","members"}],"classes","reportable","reasons"}. With o and
 * p given, the affected subjects are resolved to member ids by reading every member of the
 * origin once. New reference, or NULL with err; *origin_err (if not NULL) is then the origin's
 * failure (ORIGIN_ERROR, ORIGIN_TIMEOUT, ORIGIN_INVALID), or APIERR_NONE when the ledger or
 * memory failed.
 */
json_t *report_breach(struct ledger *l, const struct report_query *q, const struct report_names *n,
                      struct origin *o, const struct pseudo *p, enum apierr *origin_err, char *err,
                      size_t errlen);

/* The end of a period asked without one: everything recorded up to this moment (the ledger's
 * times are milliseconds, an end is exclusive). */
int64_t report_end_now_ms(void);

/*
 * The supervision summary (APPI Art. 25) of [from_ms, to_ms): per partner, contract and
 * purpose the releases, refusals by reason and exception uses; contracts ending within
 * REPORT_ENDING_DAYS of now; days above REPORT_VOLUME_FACTOR times a partner's trailing mean;
 * the admin entries; the certificates_expiring of certs at now (certwatch_json: the caller
 * gathered them, certreg_watch; may be NULL); and deletion_due (report_deletion.h). New
 * reference, or NULL with err.
 */
json_t *report_summary(struct ledger *l, int64_t from_ms, int64_t to_ms, time_t now,
                       const struct report_names *n, const struct certwatch *certs, char *err,
                       size_t errlen);

#endif
