/* Tests of ratelimit: the token bucket, the daily volume in Japan time, sharing between threads. */
#include <pthread.h>

#include "cal.h"
#include "check.h"
#include "ratelimit.h"

/* 2025-11-27 00:00:00 JST = 2025-11-26 15:00:00 UTC */
#define T0 1764169200000LL

static void
test_rate(void)
{
	struct ratelimit *l = ratelimit_new();
	uint32_t g, ra;
	int ok = 0;

	for (int i = 0; i < 10; i++)
		ok += ratelimit_admit(l, "CT-1", 6, 0, 1, T0, &g, &ra) == 0;
	CHECK(ok == 6, "a bucket of 6 admits 6 at once, admitted %d", ok);
	CHECK(ratelimit_admit(l, "CT-1", 6, 0, 1, T0, &g, &ra) == -1 && ra >= 1 && ra <= 10,
	      "the 7th waits up to 10 s, retry_after %u", ra);
	CHECK(ratelimit_admit(l, "CT-1", 6, 0, 1, T0 + 10000, &g, &ra) == 0,
	      "one token after 10 s");
	CHECK(ratelimit_admit(l, "CT-1", 6, 0, 1, T0 + 10000, &g, &ra) == -1, "and only one");
	CHECK(ratelimit_admit(l, "CT-2", 6, 0, 1, T0, &g, &ra) == 0, "contracts are separate");
	CHECK(ratelimit_admit(l, "CT-3", 0, 0, 1000, T0, &g, &ra) == 0 && g == 1000, "no limit");
	ratelimit_free(l);
}

static void
test_volume(void)
{
	struct ratelimit *l = ratelimit_new();
	uint32_t g, ra;

	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 60, T0, &g, &ra) == 0 && g == 60, "first page");
	/* not settled yet: a page running at the same time sees only what is left */
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 60, T0, &g, &ra) == 0 && g == 40,
	      "a concurrent page gets the rest, not the same 60: %u", g);
	ratelimit_settle(l, "CT-1", 40, 0, T0);
	ratelimit_settle(l, "CT-1", 60, 60, T0);
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 60, T0, &g, &ra) == 0 && g == 40,
	      "the page is trimmed to what is left: %u", g);
	ratelimit_settle(l, "CT-1", 40, 30, T0);
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 60, T0, &g, &ra) == 0 && g == 10,
	      "unused records of a settled page come back: %u", g);
	ratelimit_settle(l, "CT-1", 10, 10, T0);
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 1, T0 + 3600000, &g, &ra) == -1, "day used up");
	CHECK(ra == 23 * 3600, "retry at JST midnight: %u", ra);
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 1, T0 + 86400000, &g, &ra) == 0, "next JST day");
	CHECK(cal_jst_day(T0 - 1) + 1 == cal_jst_day(T0), "JST day boundary at 15:00 UTC");
	ratelimit_seed(l, "CT-9", cal_jst_day(T0), 100);
	CHECK(ratelimit_admit(l, "CT-9", 0, 100, 1, T0 + 5, &g, &ra) == -1,
	      "seeded from the ledger");
	ratelimit_free(l);
}

struct shared {
	struct ratelimit *l;
	int admitted;
	pthread_mutex_t m;
};

/* The Japan day that the limits count in is cal's, the one the ledger's day count and the
 * reports use: its bounds at midnight JST, before 1970 and far ahead. */
static void
test_jst_day(void)
{
	static const struct {
		int64_t ms;
		int y, m, d; /* the date in Japan */
	} t[] = {
	    {T0, 2025, 11, 27},
	    {T0 - 1, 2025, 11, 26},
	    {T0 + CAL_DAY_MS - 1, 2025, 11, 27},
	    {0, 1970, 1, 1},
	    {-CAL_JST_OFFSET_MS, 1970, 1, 1},
	    {-CAL_JST_OFFSET_MS - 1, 1969, 12, 31},
	    {-CAL_DAY_MS * 365 - CAL_JST_OFFSET_MS - 1, 1968, 12, 31},
	    {253402268399999LL, 9999, 12, 31}, /* 9999-12-31T23:59:59.999+09:00 */
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int64_t day = cal_jst_day(t[i].ms);
		int y, m, d;
		cal_civil_from_days(day, &y, &m, &d);
		CHECK(y == t[i].y && m == t[i].m && d == t[i].d,
		      "%lld ms is %04d-%02d-%02d in Japan", (long long)t[i].ms, y, m, d);
		CHECK(cal_jst_day_start(day) <= t[i].ms && t[i].ms < cal_jst_day_start(day + 1) &&
		          cal_jst_day_start(day + 1) - cal_jst_day_start(day) == CAL_DAY_MS,
		      "%lld ms within its day's bounds", (long long)t[i].ms);
		CHECK(cal_jst_day(cal_jst_day_start(day)) == day, "a day begins in itself");
	}
}

static void *
hammer(void *arg)
{
	struct shared *s = arg;
	uint32_t g, ra;
	for (int i = 0; i < 1000; i++) {
		if (ratelimit_admit(s->l, "CT-1", 500, 0, 1, T0, &g, &ra) == 0) {
			pthread_mutex_lock(&s->m);
			s->admitted++;
			pthread_mutex_unlock(&s->m);
		}
	}
	return NULL;
}

static void
test_threads(void)
{
	struct shared s = {.l = ratelimit_new()};
	pthread_t t[8];

	pthread_mutex_init(&s.m, NULL);
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, hammer, &s);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	CHECK(s.admitted == 500, "8 threads share one bucket of 500: %d", s.admitted);
	pthread_mutex_destroy(&s.m);
	ratelimit_free(s.l);
}

/* Several nodes: the shared total the ledger's writer reads, with this node's reservations on
 * top, never the node's own records counted twice. */
static void
test_learn(void)
{
	struct ratelimit *l = ratelimit_new();
	int64_t day = cal_jst_day(T0);
	uint32_t g, ra;

	ratelimit_seed(l, "CT-1", day, 10);
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 30, T0, &g, &ra) == 0 && g == 30, "reserved 30");
	/* another node released 40 meanwhile; this node's 30 are not committed yet */
	ratelimit_learn(l, "CT-1", day, 50, 0);
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 100, T0, &g, &ra) == 0 && g == 20,
	      "50 shared + 30 reserved here leave 20: %u", g);
	ratelimit_settle(l, "CT-1", 20, 0, T0);
	/* the 30 commit: the writer reads 80 across the nodes and says 30 of them were ours */
	ratelimit_learn(l, "CT-1", day, 80, 30);
	ratelimit_settle(l, "CT-1", 30, 30, T0);
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 100, T0, &g, &ra) == 0 && g == 20,
	      "80 released leave 20, the committed 30 counted once: %u", g);
	ratelimit_settle(l, "CT-1", 20, 0, T0);
	ratelimit_learn(l, "CT-1", day, 70, 0);
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 100, T0, &g, &ra) == 0 && g == 20,
	      "an older total changes nothing: %u", g);
	ratelimit_settle(l, "CT-1", 20, 0, T0);
	ratelimit_learn(l, "CT-1", day, 100, 0);
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 1, T0, &g, &ra) == -1 && ra == 24 * 3600,
	      "the nodes used the day up: retry at JST midnight, %u", ra);
	ratelimit_learn(l, "CT-1", day + 1, 5, 0);
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 100, T0 + CAL_DAY_MS, &g, &ra) == 0 && g == 95,
	      "the next day's total: %u", g);
	ratelimit_settle(l, "CT-1", 95, 0, T0 + CAL_DAY_MS);
	ratelimit_learn(l, "CT-1", day, 100, 0);
	CHECK(ratelimit_admit(l, "CT-1", 0, 100, 100, T0 + CAL_DAY_MS, &g, &ra) == 0 && g == 95,
	      "a total of the day before changes nothing: %u", g);
	ratelimit_free(l);
}

int
main(void)
{
	test_rate();
	test_volume();
	test_learn();
	test_jst_day();
	test_threads();
	return check_done();
}
