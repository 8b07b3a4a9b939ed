/* Tests of limits: the token bucket, the daily volume in Japan time, sharing between threads. */
#include <pthread.h>

#include "check.h"
#include "limits.h"

/* 2026-11-27 00:00:00 JST = 2026-11-26 15:00:00 UTC */
#define T0 1764169200000LL

static void
test_rate(void)
{
	struct limits *l = limits_new();
	uint32_t g, ra;
	int ok = 0;

	for (int i = 0; i < 10; i++)
		ok += limits_admit(l, "CT-1", 6, 0, 1, T0, &g, &ra) == 0;
	CHECK(ok == 6, "a bucket of 6 admits 6 at once, admitted %d", ok);
	CHECK(limits_admit(l, "CT-1", 6, 0, 1, T0, &g, &ra) == -1 && ra >= 1 && ra <= 10,
	      "the 7th waits up to 10 s, retry_after %u", ra);
	CHECK(limits_admit(l, "CT-1", 6, 0, 1, T0 + 10000, &g, &ra) == 0, "one token after 10 s");
	CHECK(limits_admit(l, "CT-1", 6, 0, 1, T0 + 10000, &g, &ra) == -1, "and only one");
	CHECK(limits_admit(l, "CT-2", 6, 0, 1, T0, &g, &ra) == 0, "contracts are separate");
	CHECK(limits_admit(l, "CT-3", 0, 0, 1000, T0, &g, &ra) == 0 && g == 1000, "no limit");
	limits_free(l);
}

static void
test_volume(void)
{
	struct limits *l = limits_new();
	uint32_t g, ra;

	CHECK(limits_admit(l, "CT-1", 0, 100, 60, T0, &g, &ra) == 0 && g == 60, "first page");
	limits_count(l, "CT-1", 60, T0);
	CHECK(limits_admit(l, "CT-1", 0, 100, 60, T0, &g, &ra) == 0 && g == 40,
	      "the page is trimmed to what is left: %u", g);
	limits_count(l, "CT-1", 40, T0);
	CHECK(limits_admit(l, "CT-1", 0, 100, 1, T0 + 3600000, &g, &ra) == -1, "day used up");
	CHECK(ra == 23 * 3600, "retry at JST midnight: %u", ra);
	CHECK(limits_admit(l, "CT-1", 0, 100, 1, T0 + 86400000, &g, &ra) == 0, "next JST day");
	CHECK(limits_day(T0 - 1) + 1 == limits_day(T0), "JST day boundary at 15:00 UTC");
	limits_seed(l, "CT-9", limits_day(T0), 100);
	CHECK(limits_admit(l, "CT-9", 0, 100, 1, T0 + 5, &g, &ra) == -1, "seeded from the ledger");
	limits_free(l);
}

struct shared {
	struct limits *l;
	int admitted;
	pthread_mutex_t m;
};

static void *
hammer(void *arg)
{
	struct shared *s = arg;
	uint32_t g, ra;
	for (int i = 0; i < 1000; i++) {
		if (limits_admit(s->l, "CT-1", 500, 0, 1, T0, &g, &ra) == 0) {
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
	struct shared s = {.l = limits_new()};
	pthread_t t[8];

	pthread_mutex_init(&s.m, NULL);
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, hammer, &s);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	CHECK(s.admitted == 500, "8 threads share one bucket of 500: %d", s.admitted);
	pthread_mutex_destroy(&s.m);
	limits_free(s.l);
}

int
main(void)
{
	test_rate();
	test_volume();
	test_threads();
	return check_done();
}
