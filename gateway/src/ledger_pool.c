/* ledger_pool — inside the ledger: read connections to a ledger at a path or a URL, lent. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_db.h"
#include "ledger_pg.h"
#include "ledger_pool.h"

struct ledger_store *
ledger_pool_reader(const char *where, char *err, size_t errlen)
{
	if (ledger_store_is_url(where))
		return ledger_pg_open(where, false, NULL, NULL, err, errlen);
	return ledger_conn_reader(where, err, errlen);
}

struct ledger_store *
ledger_pool_writer(const char *where, const char *origin, char *err, size_t errlen)
{
	struct ledger_conn *c;

	if (ledger_store_is_url(where))
		return ledger_pg_open(where, true, origin, NULL, err, errlen);
	c = ledger_conn_open(where, true, err, errlen);
	return c != NULL ? &c->base : NULL;
}

char *
ledger_pool_origin(const char *where, const char *origin, char *err, size_t errlen)
{
	struct ledger_store *s;
	struct ledger_conn *c;
	char *stored = NULL;

	if (ledger_store_is_url(where)) {
		s = ledger_pg_open(where, false, origin, &stored, err, errlen);
		ledger_store_free(s);
		return s != NULL ? stored : NULL;
	}
	if ((c = ledger_conn_open(where, false, err, errlen)) != NULL)
		stored = ledger_db_origin(c->db, origin, err, errlen);
	ledger_conn_free(c);
	return stored;
}

/* ------------------------------------------------------------------------------------------ */
/* The reader pool. */

struct ledger_pool {
	pthread_mutex_t lock;
	pthread_cond_t cv;         /* a connection was given back */
	struct ledger_store *free; /* the connections not lent, linked by next */
	struct ledger_store **all; /* n of them, for freeing */
	unsigned n;
};

struct ledger_pool *
ledger_pool_open(const char *where, unsigned n, char *err, size_t errlen)
{
	struct ledger_pool *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->all = calloc(n, sizeof(*p->all))) == NULL) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (; p->n < n; p->n++) {
		struct ledger_store *c = ledger_pool_reader(where, err, errlen);
		if (c == NULL) {
			ledger_pool_free(p);
			return NULL;
		}
		p->all[p->n] = c;
		c->next = p->free;
		p->free = c;
	}
	return p;
}

int
ledger_pool_check(const char *where, const char *origin, char *err, size_t errlen)
{
	return ledger_store_is_url(where) ? ledger_pg_check(where, origin, err, errlen) : 0;
}

void
ledger_pool_free(struct ledger_pool *p)
{
	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->n; i++)
		ledger_store_free(p->all[i]);
	free(p->all);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cv);
	free(p);
}

#ifndef NDEBUG
/* Whether c is one of p's connections and lent: not among the free ones (p's lock held). */
static bool
lent(const struct ledger_pool *p, const struct ledger_store *c)
{
	bool mine = false;

	for (unsigned i = 0; i < p->n; i++)
		mine |= p->all[i] == c;
	for (const struct ledger_store *f = p->free; f != NULL; f = f->next)
		if (f == c)
			return false;
	return mine;
}
#endif

struct ledger_store *
ledger_pool_get(struct ledger_pool *p)
{
	struct ledger_store *c;

	pthread_mutex_lock(&p->lock);
	while (p->free == NULL)
		pthread_cond_wait(&p->cv, &p->lock);
	c = p->free;
	p->free = c->next;
	/* a connection is lent to one thread at a time: it was listed once */
	assert(lent(p, c));
	pthread_mutex_unlock(&p->lock);
	return c;
}

void
ledger_pool_put(struct ledger_pool *p, struct ledger_store *c)
{
	pthread_mutex_lock(&p->lock);
	/* only a connection of this pool comes back, and only once */
	assert(lent(p, c));
	c->next = p->free;
	p->free = c;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->lock);
}
