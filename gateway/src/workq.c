/* workq — the one thread work queue: a few threads run queued items in order, until stopped. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workq.h"

/*
 * One FIFO under one mutex. Invariants, under lock: head == NULL exactly when tail == &head;
 * once stop is set nothing more is queued, and the threads leave only when the queue is empty,
 * so every item pushed runs. A group's count goes up at its items' push and down at the end
 * of each run, never below zero; the one that brings it to zero wakes the group's waiters.
 */
struct workq {
	pthread_mutex_t lock;
	pthread_cond_t work; /* an item was queued, or stop */
	pthread_cond_t done; /* a group's count reached zero */
	struct workq_item *head, **tail;
	bool stop;
	bool joined;       /* workq_close has joined the threads */
	unsigned nthreads; /* started */
	pthread_t threads[];
};

/* Under the lock: the oldest queued item, or NULL. */
static struct workq_item *
pop(struct workq *q)
{
	struct workq_item *it = q->head;

	if (it != NULL && (q->head = it->next) == NULL)
		q->tail = &q->head;
	assert((q->head == NULL) == (q->tail == &q->head));
	return it;
}

/* Runs it outside the lock and counts it out of its group. Called and returns with the lock
 * held. The group is read first: once run has begun, the item may be gone. */
static void
run(struct workq *q, struct workq_item *it)
{
	struct workq_group *g = it->group;

	pthread_mutex_unlock(&q->lock);
	it->run(it);
	pthread_mutex_lock(&q->lock);
	if (g != NULL) {
		assert(g->left > 0);
		if (--g->left == 0)
			pthread_cond_broadcast(&q->done);
	}
}

static void *
workq_main(void *arg)
{
	struct workq *q = arg;
	struct workq_item *it;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->head == NULL && !q->stop)
			pthread_cond_wait(&q->work, &q->lock);
		if ((it = pop(q)) == NULL)
			break; /* stopping, and nothing is left to run */
		run(q, it);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct workq *
workq_start(unsigned nthreads, char *err, size_t errlen)
{
	struct workq *q;

	assert(nthreads > 0);
	if ((q = calloc(1, sizeof *q + nthreads * sizeof q->threads[0])) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->done, NULL);
	q->tail = &q->head;
	for (; q->nthreads < nthreads; q->nthreads++) {
		int rc = pthread_create(&q->threads[q->nthreads], NULL, workq_main, q);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
			workq_stop(q);
			return NULL;
		}
	}
	return q;
}

unsigned
workq_threads(const struct workq *q)
{
	return q->nthreads;
}

bool
workq_push(struct workq *q, struct workq_item *first, void (*ready)(void *), void *arg)
{
	struct workq_item *last = first;

	assert(first != NULL);
	pthread_mutex_lock(&q->lock);
	if (q->stop) {
		pthread_mutex_unlock(&q->lock);
		return false;
	}
	for (struct workq_item *it = first; it != NULL; it = it->next) {
		if (it->group != NULL)
			it->group->left++;
		last = it;
	}
	if (ready != NULL)
		ready(arg);
	*q->tail = first;
	q->tail = &last->next;
	/* one item needs one thread: waking them all would have the others find nothing */
	if (first == last)
		pthread_cond_signal(&q->work);
	else
		pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->lock);
	return true;
}

void
workq_wait_helping(struct workq *q, struct workq_group *g)
{
	pthread_mutex_lock(&q->lock);
	while (g->left > 0) {
		struct workq_item *it = pop(q);
		if (it != NULL)
			run(q, it);
		else
			pthread_cond_wait(&q->done, &q->lock);
	}
	pthread_mutex_unlock(&q->lock);
}

void
workq_close(struct workq *q)
{
	if (q == NULL || q->joined)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->lock);
	for (unsigned i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	q->joined = true;
	assert(q->head == NULL && q->tail == &q->head);
}

void
workq_stop(struct workq *q)
{
	if (q == NULL)
		return;
	workq_close(q);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->done);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
