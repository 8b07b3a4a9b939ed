/* workq — the one thread work queue: a few threads run queued items in order, until stopped. */
#ifndef PDGATE_WORKQ_H
#define PDGATE_WORKQ_H

#include <stdbool.h>
#include <stddef.h>

struct workq;
struct workq_group;

/*
 * A piece of work, embedded in the caller's own struct (borrowed by the queue from its push to
 * the start of its run). run may free or reuse the item: the queue does not touch it once run
 * has been called.
 */
struct workq_item {
	struct workq_item *next;            /* in a list being pushed, then in the queue */
	void (*run)(struct workq_item *it); /* on one of the queue's threads, or a helper's */
	struct workq_group *group;          /* counted in while queued or running; or NULL */
};

/* Items a caller waits for, as a count: zero-initialised it is empty. Under the queue's lock. */
struct workq_group {
	size_t left; /* pushed and not yet run to the end */
};

/*
 * Starts nthreads (at least 1) threads, which take the signal mask of the caller. The queue
 * (caller stops it with workq_stop), or NULL with a message in err.
 */
struct workq *workq_start(unsigned nthreads, char *err, size_t errlen);
/* How many threads it runs. */
unsigned workq_threads(const struct workq *q);
/*
 * Queues the list that starts at first (linked by next, the last one's NULL) at the tail, in
 * its order, and counts each item into its group: one lock, one wake-up. Items run in the
 * order they were queued (a thread takes the oldest), several at a time. False, with nothing
 * queued, once workq_stop has begun: the caller runs them itself if it must. If ready is not
 * NULL it is called with arg under the queue's lock, once the items are sure to be queued and
 * before any thread can take them: what must happen before they run goes there.
 */
bool workq_push(struct workq *q, struct workq_item *first, void (*ready)(void *), void *arg);
/*
 * Returns once every item of g that was pushed has run; until then this thread runs queued
 * items too, g's or anyone's, oldest first, so that no item waits while its caller idles.
 */
void workq_wait_helping(struct workq *q, struct workq_group *g);
/*
 * Refuses new items (workq_push returns false from now on), lets the threads run every item
 * queued and joins them; q stays allocated, for pushes that may still come, until workq_stop.
 * NULL is fine; once is enough. Not from one of q's items, nor while another thread may call
 * workq_wait_helping on q.
 */
void workq_close(struct workq *q);
/* workq_close, then frees q. NULL is fine. Not from one of q's items. */
void workq_stop(struct workq *q);

#endif
