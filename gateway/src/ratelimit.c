/* ratelimit — per-contract request rate and daily record volume, shared by every worker thread. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cal.h"
#include "ratelimit.h"

struct counter {
	char *contract;
	double tokens;     /* request tokens left in the bucket */
	int64_t refill_ms; /* when tokens was last brought up to date; 0 = never */
	int64_t day;       /* the JST day `records` counts */
	uint64_t records;  /* released or reserved that day: shared + this node's reservations */
	uint64_t shared;   /* of records, the volume the nodes' shared count last said */
};

/*
 * One mutex over a small array: a deployment has tens of contracts, and the critical section is
 * a handful of arithmetic operations, far below the cost of the TLS record around it.
 */
struct ratelimit {
	pthread_mutex_t lock;
	struct counter *c;
	size_t n, cap;
};

struct ratelimit *
ratelimit_new(void)
{
	struct ratelimit *l = calloc(1, sizeof(*l));

	if (l != NULL)
		pthread_mutex_init(&l->lock, NULL);
	return l;
}

void
ratelimit_free(struct ratelimit *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->c[i].contract);
	free(l->c);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* The counter of a contract, created on first use; NULL when memory runs out. Lock held. */
static struct counter *
find(struct ratelimit *l, const char *contract)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->c[i].contract, contract) == 0)
			return &l->c[i];
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct counter *nc = realloc(l->c, cap * sizeof(*nc));
		if (nc == NULL)
			return NULL;
		l->c = nc;
		l->cap = cap;
	}
	struct counter *c = &l->c[l->n];
	memset(c, 0, sizeof(*c));
	if ((c->contract = strdup(contract)) == NULL)
		return NULL;
	l->n++;
	return c;
}

static void
roll_day(struct counter *c, int64_t now_ms)
{
	int64_t day = cal_jst_day(now_ms);
	if (day != c->day) {
		c->day = day;
		c->records = 0;
		c->shared = 0;
	}
}

int
ratelimit_admit(struct ratelimit *l, const char *contract_id, uint32_t rpm, uint64_t per_day,
                uint32_t want, int64_t now_ms, uint32_t *granted, uint32_t *retry_after_s)
{
	struct counter *c;
	int rc = -1;

	*granted = 0;
	*retry_after_s = 1;
	pthread_mutex_lock(&l->lock);
	if ((c = find(l, contract_id)) == NULL)
		goto done; /* fail closed: no memory for the counter means no admission */
	roll_day(c, now_ms);
	if (rpm > 0) {
		if (c->refill_ms == 0) {
			c->tokens = rpm;
		} else if (now_ms > c->refill_ms) {
			c->tokens += (double)(now_ms - c->refill_ms) * rpm / 60000.0;
			if (c->tokens > rpm)
				c->tokens = rpm;
		}
		c->refill_ms = now_ms;
		if (c->tokens < 1.0) {
			double wait_ms = (1.0 - c->tokens) * 60000.0 / rpm;
			*retry_after_s = (uint32_t)((wait_ms + 999.0) / 1000.0);
			if (*retry_after_s == 0)
				*retry_after_s = 1;
			goto done;
		}
	}
	if (per_day > 0) {
		if (c->records >= per_day) {
			int64_t next_day_ms = cal_jst_day_start(c->day + 1);
			*retry_after_s = (uint32_t)((next_day_ms - now_ms + 999) / 1000);
			goto done;
		}
		*granted = per_day - c->records < want ? (uint32_t)(per_day - c->records) : want;
	} else {
		*granted = want;
	}
	if (rpm > 0)
		c->tokens -= 1.0;
	c->records += *granted;
	rc = 0;
done:
	pthread_mutex_unlock(&l->lock);
	return rc;
}

void
ratelimit_settle(struct ratelimit *l, const char *contract_id, uint32_t granted, uint32_t used,
                 int64_t reserved_ms)
{
	struct counter *c;

	if (used >= granted)
		return;
	pthread_mutex_lock(&l->lock);
	if ((c = find(l, contract_id)) != NULL && c->day == cal_jst_day(reserved_ms)) {
		uint64_t back = granted - used;
		c->records = c->records > back ? c->records - back : 0;
		if (c->shared > c->records)
			c->shared = c->records;
	}
	pthread_mutex_unlock(&l->lock);
}

void
ratelimit_seed(struct ratelimit *l, const char *contract_id, int64_t day, uint64_t records)
{
	struct counter *c;

	pthread_mutex_lock(&l->lock);
	if ((c = find(l, contract_id)) != NULL) {
		c->day = day;
		c->records = records;
		c->shared = records;
	}
	pthread_mutex_unlock(&l->lock);
}

void
ratelimit_learn(struct ratelimit *l, const char *contract_id, int64_t day, uint64_t total,
                uint64_t committed)
{
	struct counter *c;

	pthread_mutex_lock(&l->lock);
	if ((c = find(l, contract_id)) != NULL && day >= c->day) {
		if (day > c->day) { /* the first news of a new day: nothing of it reserved here */
			c->day = day;
			c->records = c->shared = 0;
		}
		/* this node's reservations still open, less the records just committed of them */
		uint64_t open = c->records - c->shared;
		open = open > committed ? open - committed : 0;
		if (total > c->shared)
			c->shared = total; /* the shared count only grows within a day */
		c->records = c->shared + open;
	}
	pthread_mutex_unlock(&l->lock);
}
