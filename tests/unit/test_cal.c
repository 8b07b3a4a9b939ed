/* Tests of cal: strict dates, days since the epoch, RFC 3339 instants, the day in Japan. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cal.h"
#include "check.h"

/* The Gregorian rule, stated on its own: every 4th year, but not every 100th, but every 400th. */
static int
month_days(int y, int m)
{
	bool leap = y % 400 == 0 || (y % 100 != 0 && y % 4 == 0);
	return m == 2 ? (leap ? 29 : 28) : (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
}

static void
test_parse_date(void)
{
	static const struct {
		const char *s;
		size_t len; /* 0: strlen(s) */
		int ok, y, m, d;
	} rows[] = {
	    {"2026-04-01", 0, 1, 2026, 4, 1},
	    {"2024-02-29", 0, 1, 2024, 2, 29}, /* leap: divisible by 4 */
	    {"2023-02-29", 0, 0, 0, 0, 0},
	    {"2000-02-29", 0, 1, 2000, 2, 29}, /* leap: divisible by 400 */
	    {"1900-02-29", 0, 0, 0, 0, 0},     /* not leap: divisible by 100 */
	    {"2100-02-29", 0, 0, 0, 0, 0},
	    {"2023-02-28", 0, 1, 2023, 2, 28},
	    {"0001-01-01", 0, 1, 1, 1, 1},
	    {"9999-12-31", 0, 1, 9999, 12, 31},
	    {"0000-01-01", 0, 0, 0, 0, 0}, /* there is no year 0 in the range */
	    {"2026-00-01", 0, 0, 0, 0, 0},
	    {"2026-13-01", 0, 0, 0, 0, 0},
	    {"2026-01-00", 0, 0, 0, 0, 0},
	    {"2026-01-31", 0, 1, 2026, 1, 31},
	    {"2026-01-32", 0, 0, 0, 0, 0},
	    {"2026-04-30", 0, 1, 2026, 4, 30},
	    {"2026-04-31", 0, 0, 0, 0, 0},
	    {"2026-06-31", 0, 0, 0, 0, 0},
	    {"2026-09-31", 0, 0, 0, 0, 0},
	    {"2026-11-31", 0, 0, 0, 0, 0},
	    {"2026-12-31", 0, 1, 2026, 12, 31},
	    {"2026-1-01", 0, 0, 0, 0, 0},
	    {"2026-01-1", 0, 0, 0, 0, 0},
	    {"26-01-01", 0, 0, 0, 0, 0},
	    {"2026/01/01", 0, 0, 0, 0, 0},
	    {"2026-01-01T", 0, 0, 0, 0, 0},
	    {" 2026-01-01", 0, 0, 0, 0, 0},
	    {"2026-01-01 ", 0, 0, 0, 0, 0},
	    {"+026-01-01", 0, 0, 0, 0, 0},
	    {"-026-01-01", 0, 0, 0, 0, 0},
	    {"2026--1-01", 0, 0, 0, 0, 0},
	    {"2026-0a-01", 0, 0, 0, 0, 0},
	    {"２０２６-01-01", 0, 0, 0, 0, 0}, /* full-width digits are not digits */
	    {"", 0, 0, 0, 0, 0},
	    {"2026-04-01xyz", 10, 1, 2026, 4, 1}, /* len bounds what is read */
	    {"2026-04-01", 9, 0, 0, 0, 0},
	    {"2026-04-01", 11, 0, 0, 0, 0}, /* the NUL is a byte too */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int y = -1, m = -1, d = -1;
		size_t len = rows[i].len ? rows[i].len : strlen(rows[i].s);
		int got = cal_parse_date(rows[i].s, len, &y, &m, &d);
		CHECK((got == 0) == rows[i].ok, "'%s' (%zu bytes): %d", rows[i].s, len, got);
		if (rows[i].ok && got == 0)
			CHECK(y == rows[i].y && m == rows[i].m && d == rows[i].d,
			      "'%s': %04d-%02d-%02d", rows[i].s, y, m, d);
	}
}

/* Known day numbers (Python's date.toordinal() - 719163). */
static void
test_days(void)
{
	static const struct {
		int y, m, d;
		long long days;
	} rows[] = {
	    {1970, 1, 1, 0},      {1969, 12, 31, -1},   {1970, 1, 2, 1},
	    {2000, 2, 29, 11016}, {2000, 3, 1, 11017},  {2024, 2, 29, 19782},
	    {2026, 4, 1, 20544},  {1900, 3, 1, -25508}, {1600, 2, 29, -135081},
	    {2100, 2, 28, 47540}, {1, 1, 1, -719162},   {9999, 12, 31, 2932896},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		long long got = cal_days_from_civil(rows[i].y, rows[i].m, rows[i].d);
		int y, m, d;
		CHECK(got == rows[i].days, "%04d-%02d-%02d: day %lld, want %lld", rows[i].y,
		      rows[i].m, rows[i].d, got, rows[i].days);
		cal_civil_from_days(rows[i].days, &y, &m, &d);
		CHECK(y == rows[i].y && m == rows[i].m && d == rows[i].d,
		      "day %lld: %04d-%02d-%02d", rows[i].days, y, m, d);
	}
}

/*
 * Every day from 0001-01-01 to 9999-12-31, walked with month_days: each has the next day
 * number, maps back to itself, parses as a date, and the day after its month's last does not.
 */
static void
test_every_day(void)
{
	long long want = cal_days_from_civil(1, 1, 1), days = 0;
	unsigned long bad_num = 0, bad_back = 0, bad_parse = 0, bad_past = 0;
	char text[16];

	for (int y = 1; y <= 9999; y++)
		for (int m = 1; m <= 12; m++) {
			int last = month_days(y, m);
			for (int d = 1; d <= last; d++, want++, days++) {
				int yy, mm, dd, py, pm, pd;
				if (cal_days_from_civil(y, m, d) != want && bad_num++ == 0)
					fprintf(stderr, "%04d-%02d-%02d: %lld, want %lld\n", y, m,
					        d, cal_days_from_civil(y, m, d), want);
				cal_civil_from_days(want, &yy, &mm, &dd);
				if ((yy != y || mm != m || dd != d) && bad_back++ == 0)
					fprintf(stderr, "day %lld: %04d-%02d-%02d\n", want, yy, mm,
					        dd);
				snprintf(text, sizeof text, "%04d-%02d-%02d", y, m, d);
				if ((cal_parse_date(text, 10, &py, &pm, &pd) != 0 || py != y ||
				     pm != m || pd != d) &&
				    bad_parse++ == 0)
					fprintf(stderr, "%s does not parse as itself\n", text);
			}
			snprintf(text, sizeof text, "%04d-%02d-%02d", y, m, last + 1);
			int py, pm, pd;
			if (cal_parse_date(text, 10, &py, &pm, &pd) == 0 && bad_past++ == 0)
				fprintf(stderr, "%s parses\n", text);
		}
	CHECK(days == 3652059, "%lld days walked", days);
	CHECK(bad_num == 0, "%lu days with the wrong day number", bad_num);
	CHECK(bad_back == 0, "%lu day numbers with the wrong date", bad_back);
	CHECK(bad_parse == 0, "%lu dates that do not parse", bad_parse);
	CHECK(bad_past == 0, "%lu days past a month's end that parse", bad_past);
}

/* Instants as Python's datetime.fromisoformat(s).timestamp() gives them. */
static void
test_rfc3339(void)
{
	static const struct {
		const char *s;
		int ok;
		long long t;
	} rows[] = {
	    {"1970-01-01T00:00:00Z", 1, 0},
	    {"1970-01-01T00:00:00+00:00", 1, 0},
	    {"1970-01-01T00:00:00-00:00", 1, 0},
	    {"1970-01-01T00:00:00z", 1, 0},
	    {"1970-01-01t00:00:00Z", 1, 0},
	    {"1969-12-31T23:59:59Z", 1, -1},
	    {"2026-04-01T00:00:00+09:00", 1, 1774969200},
	    {"2026-03-31T15:00:00Z", 1, 1774969200},
	    {"2026-03-31T10:00:00-05:00", 1, 1774969200},
	    {"2026-04-01T00:00:00.5+09:00", 1, 1774969200}, /* a fraction is dropped */
	    {"2026-04-01T00:00:00.999999999+09:00", 1, 1774969200},
	    {"2024-02-29T12:00:00-05:30", 1, 1709227800},
	    {"0001-01-01T00:00:00Z", 1, -62135596800},
	    {"0001-01-01T00:00:00+23:59", 1, -62135683140},
	    {"9999-12-31T23:59:59Z", 1, 253402300799},
	    {"9999-12-31T23:59:59-23:59", 1, 253402387139},
	    {"2026-04-01T00:00:00.1234567890Z", 0, 0}, /* ten fraction digits */
	    {"2026-04-01T00:00:00.Z", 0, 0},
	    {"2026-04-01T00:00:00,5Z", 0, 0},
	    {"2026-04-01T00:00:00.5", 0, 0},
	    {"2026-04-01T00:00:00", 0, 0}, /* no offset: no instant */
	    {"2026-04-01T00:00:00+0900", 0, 0},
	    {"2026-04-01T00:00:00+09", 0, 0},
	    {"2026-04-01T00:00:00+9:00", 0, 0},
	    {"2026-04-01T00:00:00+09:000", 0, 0},
	    {"2026-04-01T00:00:00+24:00", 0, 0},
	    {"2026-04-01T00:00:00+09:60", 0, 0},
	    {"2026-04-01T00:00:00 +09:00", 0, 0},
	    {"2026-04-01T00:00:00Z ", 0, 0},
	    {"2026-04-01T00:00:00ZZ", 0, 0},
	    {"2026-04-01 00:00:00Z", 0, 0},
	    {"2026-04-01T24:00:00Z", 0, 0},
	    {"2026-04-01T23:60:00Z", 0, 0},
	    {"2026-04-01T23:59:60Z", 0, 0}, /* a leap second is refused */
	    {"2026-04-01T0:00:00Z", 0, 0},
	    {"2026-04-01T00-00-00Z", 0, 0},
	    {"2026-04-01T00:00:0aZ", 0, 0},
	    {"2026-02-29T00:00:00Z", 0, 0},
	    {"2026-4-01T00:00:00Z", 0, 0},
	    {"2026-04-01", 0, 0},
	    {"", 0, 0},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		time_t t = 12345;
		int got = cal_parse_rfc3339(rows[i].s, &t);
		CHECK((got == 0) == rows[i].ok, "'%s': %d", rows[i].s, got);
		if (rows[i].ok && got == 0)
			CHECK((long long)t == rows[i].t, "'%s': %lld, want %lld", rows[i].s,
			      (long long)t, rows[i].t);
		if (!rows[i].ok)
			CHECK(t == 12345, "'%s': refused, but the instant was written", rows[i].s);
	}
}

/*
 * The day in Japan: the calendar day of an instant seen at UTC+9, which changes at 15:00 UTC.
 * Each row is one instant, written in UTC and in Japan time; the Japan day is the date part of
 * the second. The day number is floor((t + CAL_JST_OFFSET) / 86400), as the rate limits and the
 * age bands count it.
 */
static long long
jst_day(time_t t)
{
	long long s = (long long)t + CAL_JST_OFFSET;
	return s / 86400 - (s % 86400 < 0);
}

static void
test_jst_day(void)
{
	static const struct {
		const char *utc, *jst;
	} rows[] = {
	    {"2026-03-31T14:59:59Z", "2026-03-31T23:59:59+09:00"},
	    {"2026-03-31T15:00:00Z", "2026-04-01T00:00:00+09:00"},
	    {"2026-04-01T14:59:59.999Z", "2026-04-01T23:59:59+09:00"},
	    {"2026-04-01T00:00:00Z", "2026-04-01T09:00:00+09:00"},
	    {"2024-02-28T15:00:00Z", "2024-02-29T00:00:00+09:00"}, /* a leap day begins */
	    {"2024-02-29T14:59:59Z", "2024-02-29T23:59:59+09:00"},
	    {"2024-02-29T15:00:00Z", "2024-03-01T00:00:00+09:00"},
	    {"2023-02-28T15:00:00Z", "2023-03-01T00:00:00+09:00"}, /* no leap day */
	    {"2100-02-28T15:00:00Z", "2100-03-01T00:00:00+09:00"},
	    {"2000-02-28T15:00:00Z", "2000-02-29T00:00:00+09:00"},
	    {"2025-12-31T14:59:59Z", "2025-12-31T23:59:59+09:00"}, /* the year turns */
	    {"2025-12-31T15:00:00Z", "2026-01-01T00:00:00+09:00"},
	    {"1970-01-01T00:00:00Z", "1970-01-01T09:00:00+09:00"},
	    {"1969-12-31T15:00:00Z", "1970-01-01T00:00:00+09:00"},
	    {"1969-12-31T14:59:59Z", "1969-12-31T23:59:59+09:00"}, /* before the epoch */
	    {"1969-12-30T15:00:00Z", "1969-12-31T00:00:00+09:00"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		time_t tu = 0, tj = 1;
		int y, m, d, jy, jm, jd;
		CHECK(cal_parse_rfc3339(rows[i].utc, &tu) == 0 &&
		          cal_parse_rfc3339(rows[i].jst, &tj) == 0,
		      "%s / %s do not parse", rows[i].utc, rows[i].jst);
		CHECK(tu == tj, "%s is %lld, %s is %lld", rows[i].utc, (long long)tu, rows[i].jst,
		      (long long)tj);
		CHECK(cal_parse_date(rows[i].jst, 10, &jy, &jm, &jd) == 0, "%s", rows[i].jst);
		CHECK(jst_day(tu) == cal_days_from_civil(jy, jm, jd), "%s: day %lld, want %lld",
		      rows[i].utc, jst_day(tu), cal_days_from_civil(jy, jm, jd));
		cal_civil_from_days(jst_day(tu), &y, &m, &d);
		CHECK(y == jy && m == jm && d == jd, "%s: %04d-%02d-%02d in Japan, want %.10s",
		      rows[i].utc, y, m, d, rows[i].jst);
	}
	CHECK(CAL_JST_OFFSET == 32400, "UTC+9 is 32400 s: %d", CAL_JST_OFFSET);
}

/* cal_format_utc: fixed instants, the edges of the year range, and gmtime over a sweep. */
static void
test_format_utc(void)
{
	static const struct {
		long long t;
		const char *want;
	} rows[] = {
	    {0, "1970-01-01T00:00:00Z"},
	    {-1, "1969-12-31T23:59:59Z"},
	    {951782400, "2000-02-29T00:00:00Z"},
	    {1774969200, "2026-03-31T15:00:00Z"},
	    {253402300799LL, "9999-12-31T23:59:59Z"},
	    {253402300800LL, "?"},
	    {-62167219200LL, "0000-01-01T00:00:00Z"},
	    {-62167219201LL, "?"},
	};
	char out[CAL_UTC_LEN];

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		cal_format_utc((time_t)rows[i].t, out);
		CHECK(strcmp(out, rows[i].want) == 0, "%lld: '%s', want '%s'", rows[i].t, out,
		      rows[i].want);
	}
	unsigned long bad = 0;
	for (long long t = -2000000000LL; t < 4000000000LL; t += 7919 * 3607) {
		struct tm tm;
		char want[CAL_UTC_LEN];
		time_t tt = (time_t)t;
		gmtime_r(&tt, &tm);
		strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
		cal_format_utc(tt, out);
		bad += strcmp(out, want) != 0;
	}
	CHECK(bad == 0, "%lu instants formatted otherwise than gmtime", bad);
}

/* cal_format_day: the Japan day of an instant as YYYY-MM-DD, back to the civil date it is. */
static void
test_format_day(void)
{
	char day[CAL_DAY_LEN];
	unsigned long bad = 0;

	cal_format_day(cal_jst_day(1774969200000LL - 1), day); /* 2026-03-31 23:59:59.999 JST */
	CHECK(strcmp(day, "2026-03-31") == 0, "the last instant of a day: %s", day);
	cal_format_day(cal_jst_day(1774969200000LL), day);
	CHECK(strcmp(day, "2026-04-01") == 0, "the first of the next: %s", day);
	cal_format_day(cal_days_from_civil(0, 1, 1), day);
	CHECK(strcmp(day, "0000-01-01") == 0, "year 0: %s", day);
	cal_format_day(cal_days_from_civil(9999, 12, 31), day);
	CHECK(strcmp(day, "9999-12-31") == 0, "year 9999: %s", day);
	cal_format_day(cal_days_from_civil(9999, 12, 31) + 1, day);
	CHECK(strcmp(day, "?") == 0, "year 10000: %s", day);
	cal_format_day(cal_days_from_civil(0, 1, 1) - 1, day);
	CHECK(strcmp(day, "?") == 0, "year -1: %s", day);
	for (long long d = cal_days_from_civil(1900, 1, 1); d < cal_days_from_civil(2100, 1, 1);
	     d += 7) {
		int y, m, dd;
		cal_format_day(d, day);
		bad += cal_parse_date(day, strlen(day), &y, &m, &dd) != 0 ||
		       cal_days_from_civil(y, m, dd) != d;
	}
	CHECK(bad == 0, "%lu days formatted otherwise than they parse back", bad);
}

int
main(void)
{
	test_parse_date();
	test_days();
	test_every_day();
	test_rfc3339();
	test_jst_day();
	test_format_utc();
	test_format_day();
	return check_done();
}
