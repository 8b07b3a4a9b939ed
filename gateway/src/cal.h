/* cal — calendar arithmetic: strict dates, RFC 3339 timestamps, days since the epoch. */
#ifndef PDGATE_CAL_H
#define PDGATE_CAL_H

#include <stddef.h>
#include <time.h>

/* Japan Standard Time has been UTC+9 without daylight saving since 1952. */
#define CAL_JST_OFFSET (9 * 3600)

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

#endif
