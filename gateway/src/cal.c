/* cal — calendar arithmetic: strict dates, RFC 3339 timestamps, days since the epoch. */
#include <stdio.h>
#include <string.h>

#include "cal.h"

static int
digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

int
cal_parse_date(const char *s, size_t len, int *y, int *m, int *d)
{
	if (len != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	if (digits(s, 4, y) || digits(s + 5, 2, m) || digits(s + 8, 2, d))
		return -1;
	if (*y < 1 || *m < 1 || *m > 12 || *d < 1 || *d > days_in_month(*y, *m))
		return -1;
	return 0;
}

/* Howard Hinnant's days_from_civil: exact for every proleptic Gregorian date. */
long long
cal_days_from_civil(int y, int m, int d)
{
	long long yy = y - (m <= 2);
	long long era = (yy >= 0 ? yy : yy - 399) / 400;
	long long yoe = yy - era * 400;
	long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
cal_civil_from_days(long long z, int *y, int *m, int *d)
{
	z += 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	long long doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

int64_t
cal_jst_day(int64_t ms)
{
	int64_t local = ms + CAL_JST_OFFSET_MS;
	return local / CAL_DAY_MS - (local % CAL_DAY_MS < 0);
}

int64_t
cal_jst_day_start(int64_t day)
{
	return day * CAL_DAY_MS - CAL_JST_OFFSET_MS;
}

int
cal_parse_rfc3339(const char *s, time_t *t)
{
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
	size_t n = strlen(s), i;

	if (n < 20 || cal_parse_date(s, 10, &y, &mo, &d) != 0)
		return -1;
	if ((s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return -1;
	if (digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
		return -1;
	if (h > 23 || mi > 59 || se > 59)
		return -1;
	i = 19;
	if (s[i] == '.') {
		size_t f = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f || i - f > 9)
			return -1;
	}
	if (s[i] == 'Z' || s[i] == 'z') {
		if (i + 1 != n)
			return -1;
	} else if (s[i] == '+' || s[i] == '-') {
		sign = s[i] == '+' ? 1 : -1;
		if (n - i != 6 || s[i + 3] != ':' || digits(s + i + 1, 2, &oh) ||
		    digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
	} else {
		return -1;
	}
	long long secs = cal_days_from_civil(y, mo, d) * 86400LL + h * 3600 + mi * 60 + se;
	secs -= sign * (oh * 3600LL + om * 60LL);
	*t = (time_t)secs;
	return 0;
}

void
cal_format_utc(time_t t, char out[CAL_UTC_LEN])
{
	long long days = (long long)t / 86400, rem = (long long)t % 86400;
	int y, m, d;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	cal_civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		snprintf(out, CAL_UTC_LEN, "?");
		return;
	}
	snprintf(out, CAL_UTC_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(rem / 3600),
	         (int)(rem / 60 % 60), (int)(rem % 60));
}

void
cal_format_day(int64_t day, char out[CAL_DAY_LEN])
{
	int y, m, d;

	cal_civil_from_days(day, &y, &m, &d);
	if (y < 0 || y > 9999)
		snprintf(out, CAL_DAY_LEN, "?");
	else
		snprintf(out, CAL_DAY_LEN, "%04d-%02d-%02d", y, m, d);
}
