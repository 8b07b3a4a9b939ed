/* fuzz_cal — dates and RFC 3339 instants from origin records and contract files (cal.h), on
 * any bytes, held against the grammar and the arithmetic stated again here: the Gregorian
 * calendar as days before the year, before the month and before the day, counted from 0001-01-01
 * (day -719162 of the epoch), rather than by eras as cal.c does.
 *
 * Input: the bytes are the text, given to cal_parse_date as is and to cal_parse_rfc3339 up to
 * the first NUL. Each accepted date must map to its day number and back; each accepted instant
 * must be written again in Japan time (UTC+9, the day turning at 15:00 UTC) and read back as
 * the same instant.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
is_leap(long y)
{
	return (y % 4 == 0) - (y % 100 == 0) + (y % 400 == 0) == 1;
}

static const int before_month[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365};

static int
last_day(long y, int m)
{
	return before_month[m] - before_month[m - 1] + (m == 2 && is_leap(y));
}

/* Days from 1970-01-01, for a year 1..9999. */
static long long
day_number(long y, int m, int d)
{
	long long p = y - 1;
	return p * 365 + p / 4 - p / 100 + p / 400 + before_month[m - 1] + (m > 2 && is_leap(y)) +
	       d - 1 - 719162;
}

/* n digits at s, or -1 if any is not one. */
static long
num(const char *s, size_t n)
{
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static bool
ref_date(const char *s, size_t len, long *y, int *m, int *d)
{
	if (len != 10 || s[4] != '-' || s[7] != '-')
		return false;
	long yy = num(s, 4), mm = num(s + 5, 2), dd = num(s + 8, 2);
	if (yy < 1 || mm < 1 || mm > 12 || dd < 1 || dd > last_day(yy, (int)mm))
		return false;
	*y = yy, *m = (int)mm, *d = (int)dd;
	return true;
}

/* The instant of an RFC 3339 date-time with its offset, seconds 00..59, fraction of 1..9
 * digits dropped. */
static bool
ref_instant(const char *s, long long *t)
{
	size_t n = strlen(s), i = 19;
	long y;
	int m, d;

	if (n < 20 || !ref_date(s, 10, &y, &m, &d) || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return false;
	long hh = num(s + 11, 2), mi = num(s + 14, 2), ss = num(s + 17, 2);
	if (hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 59)
		return false;
	if (s[i] == '.') {
		size_t digits = strspn(s + i + 1, "0123456789");
		if (digits < 1 || digits > 9)
			return false;
		i += 1 + digits;
	}
	long offset = 0;
	if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
		offset = 0;
	} else if ((s[i] == '+' || s[i] == '-') && i + 6 == n && s[i + 3] == ':') {
		long oh = num(s + i + 1, 2), om = num(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return false;
		offset = (s[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
	} else {
		return false;
	}
	*t = day_number(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss - offset;
	return true;
}

static void
check_date(const char *s, size_t len)
{
	long y = 0;
	int m = 0, d = 0, gy = -1, gm = -1, gd = -1;
	bool want = ref_date(s, len, &y, &m, &d);

	if ((cal_parse_date(s, len, &gy, &gm, &gd) == 0) != want)
		abort();
	if (!want)
		return;
	if (gy != y || gm != m || gd != d)
		abort();
	long long days = cal_days_from_civil(gy, gm, gd);
	if (days != day_number(y, m, d))
		abort();
	cal_civil_from_days(days, &gy, &gm, &gd);
	if (gy != y || gm != m || gd != d)
		abort();
}

static void
check_instant(const char *s)
{
	long long want = 0;
	time_t t = 0;
	bool ok = ref_instant(s, &want);

	if ((cal_parse_rfc3339(s, &t) == 0) != ok)
		abort();
	if (!ok)
		return;
	if ((long long)t != want)
		abort();
	/* the same instant in Japan time: the day of t + 9 h, floor division before the epoch */
	long long local = want + CAL_JST_OFFSET, secs = local % 86400;
	long long day = local / 86400 - (secs < 0);
	secs = (secs + 86400) % 86400;
	int y, m, d;
	cal_civil_from_days(day, &y, &m, &d);
	if (y < 1 || y > 9999)
		return; /* 9999-12-31 late in UTC is already year 10000 in Japan */
	if (day_number(y, m, d) != day)
		abort();
	char jst[40];
	snprintf(jst, sizeof jst, "%04d-%02d-%02dT%02lld:%02lld:%02lld+09:00", y, m, d, secs / 3600,
	         secs / 60 % 60, secs % 60);
	time_t back = 0;
	if (cal_parse_rfc3339(jst, &back) != 0 || (long long)back != want)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exactly size bytes for the date, so that a read past len is seen; a terminated copy
	 * for the date-time */
	char *date = malloc(size ? size : 1), *text = malloc(size + 1);

	memcpy(date, data, size);
	memcpy(text, data, size);
	text[size] = '\0';
	check_date(date, size);
	check_instant(text);
	free(date);
	free(text);
	return 0;
}
