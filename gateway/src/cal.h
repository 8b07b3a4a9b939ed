/* cal — calendar arithmetic: strict dates, RFC 3339 timestamps, days since the epoch. */
#ifndef PDGATE_CAL_H
#define PDGATE_CAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Japan Standard Time has been UTC+9 without daylight saving since 1952. */
#define CAL_JST_OFFSET (9 * 3600)
#define CAL_JST_OFFSET_MS (INT64_C(1000) * CAL_JST_OFFSET)
#define CAL_DAY_MS INT64_C(86400000)

/* The Japan day of a Unix ms instant: days since 1970-01-01 in UTC+9, rounded down (also
 * before 1970). The one definition of "today" for the daily limits, the ledger and reports. */
int64_t cal_jst_day(int64_t ms);
/* The Unix ms at which the Japan day `day` begins; it ends CAL_DAY_MS later. */
int64_t cal_jst_day_start(int64_t day);

/* Parses exactly "YYYY-MM-DD" (len bytes, years 0001..9999, a real day of that month).
 * Returns 0 and the parts, or -1. */
int cal_parse_date(const char *s, size_t len, int *y, int *m, int *d);

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (negative before). */
long long cal_days_from_civil(int y, int m, int d);

/* The date of a day number from cal_days_from_civil. */
void cal_civil_from_days(long long days, int *y, int *m, int *d);

/*
 * Parses an RFC 3339 date-time that carries its offset: "2026-04-01T00:00:00+09:00",
 * "…Z", optional fraction (dropped). Seconds 00..59 (a leap second is refused). Returns 0 and
 * the instant, or -1.
 */
int cal_parse_rfc3339(const char *s, time_t *t);

#define CAL_DAY_LEN 11

/* A day of cal_days_from_civil (cal_jst_day's) as "YYYY-MM-DD"; "?" outside 0000..9999. */
void cal_format_day(int64_t day, char out[CAL_DAY_LEN]);

#define CAL_UTC_LEN 32

/* t as RFC 3339 in UTC, "2026-04-01T00:00:00Z"; "?" for a year outside 0000..9999. */
void cal_format_utc(time_t t, char out[CAL_UTC_LEN]);

#endif
