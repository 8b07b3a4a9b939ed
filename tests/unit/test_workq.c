/*
 * Tests of workq: many items on several threads, queue order, groups waited on while helping,
 * a push from inside a run, items that free themselves, and stop with work still queued.
 * Threads are held back by gates, never by sleeps, so that each case is the same every run.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "workq.h"

/* A gate: items that pass it block until it is opened. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool open;
	unsigned waiting; /* threads blocked at it */
};

static void
gate_init(struct gate *g)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->open = false;
	g->waiting = 0;
}

static void
gate_pass(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->waiting++;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->lock);
	g->waiting--;
	pthread_mutex_unlock(&g->lock);
}

/* Returns once n threads are blocked at g. */
static void
gate_await(struct gate *g, unsigned n)
{
	pthread_mutex_lock(&g->lock);
	while (g->waiting < n)
		pthread_cond_wait(&g->cv, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void
gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->lock);
}

static void
gate_free(struct gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->lock);
}

/* An item that counts its runs, says which thread ran it, and where in the run order it came. */
struct job {
	struct workq_item it; /* first: a job is its item */
	atomic_uint runs;
	pthread_t by;
	unsigned order;
	struct gate *gate; /* passed first, if set */
};

static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned order_next;

static void
job_run(struct workq_item *it)
{
	struct job *j = (struct job *)it;

	if (j->gate != NULL)
		gate_pass(j->gate);
	pthread_mutex_lock(&order_lock);
	j->order = order_next++;
	pthread_mutex_unlock(&order_lock);
	j->by = pthread_self();
	atomic_fetch_add(&j->runs, 1);
}

/* Links jobs[0..n-1] into one list for workq_push. */
static void
job_list(struct job *jobs, size_t n, struct workq_group *g)
{
	for (size_t i = 0; i < n; i++) {
		jobs[i].it = (struct workq_item){i + 1 < n ? &jobs[i + 1].it : NULL, job_run, g};
		atomic_init(&jobs[i].runs, 0);
		jobs[i].gate = NULL;
		jobs[i].order = 0;
		memset(&jobs[i].by, 0, sizeof jobs[i].by);
	}
}

static size_t
ran_once(const struct job *jobs, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += atomic_load(&jobs[i].runs) == 1;
	return k;
}

static struct workq *
start(unsigned n)
{
	char err[96] = "";
	struct workq *q = workq_start(n, err, sizeof err);

	CHECK(q != NULL, "workq_start(%u): %s", n, err);
	if (q == NULL)
		exit(check_done());
	CHECK(workq_threads(q) == n, "%u threads, not %u", workq_threads(q), n);
	return q;
}

/* Many items, pushed one by one and in lists, on four threads: each runs exactly once. */
static void
test_many(void)
{
	enum { N = 20000 };
	struct job *jobs = calloc(N, sizeof *jobs);
	struct workq_group g = {0};
	struct workq *q = start(4);

	job_list(jobs, N, &g);
	for (size_t i = 0; i < N;) {
		size_t n = i % 7 == 0 ? 1 : 1 + i % 50; /* lists of 1 to 50 */
		if (n > N - i)
			n = N - i;
		jobs[i + n - 1].it.next = NULL;
		CHECK(workq_push(q, &jobs[i].it, NULL, NULL), "push at %zu", i);
		i += n;
	}
	workq_wait_helping(q, &g);
	CHECK(g.left == 0, "group left %zu", g.left);
	CHECK(ran_once(jobs, N) == N, "%zu of %d ran exactly once", ran_once(jobs, N), N);
	workq_stop(q);
	CHECK(ran_once(jobs, N) == N, "a job ran again after stop");
	free(jobs);
}

/* One thread runs items in the order they were queued, lists in their own order. */
static void
test_order(void)
{
	enum { N = 300 };
	struct job jobs[N];
	struct workq *q = start(1);
	bool in_order = true;

	job_list(jobs, N, NULL);
	order_next = 0;
	for (size_t i = 0; i < N; i += 3) {
		jobs[i + 2].it.next = NULL; /* lists of three */
		if (i % 2 == 0) {           /* or three pushes of one */
			jobs[i].it.next = jobs[i + 1].it.next = NULL;
			CHECK(workq_push(q, &jobs[i].it, NULL, NULL), "push");
			CHECK(workq_push(q, &jobs[i + 1].it, NULL, NULL), "push");
			CHECK(workq_push(q, &jobs[i + 2].it, NULL, NULL), "push");
		} else {
			CHECK(workq_push(q, &jobs[i].it, NULL, NULL), "push");
		}
	}
	workq_stop(q); /* runs what is queued */
	for (size_t i = 0; i < N; i++)
		in_order &= jobs[i].order == i;
	CHECK(in_order, "the run order is not the queue order");
	CHECK(ran_once(jobs, N) == N, "%zu of %d ran", ran_once(jobs, N), N);
}

/*
 * With the queue's one thread held at a gate, the caller that waits for its group runs every
 * item of it itself; the blocked item is not its group's and does not hold it up.
 */
static void
test_helping(void)
{
	enum { N = 64 };
	struct job blocker[1], jobs[N];
	struct workq_group g = {0}, other = {0};
	struct gate gate;
	struct workq *q = start(1);
	size_t by_me = 0;

	gate_init(&gate);
	job_list(blocker, 1, &other);
	blocker[0].gate = &gate;
	CHECK(workq_push(q, &blocker[0].it, NULL, NULL), "push");
	gate_await(&gate, 1); /* the thread holds the blocker */
	job_list(jobs, N, &g);
	CHECK(workq_push(q, &jobs[0].it, NULL, NULL), "push");
	CHECK(g.left == N, "group counts %zu, not %d", g.left, N);
	workq_wait_helping(q, &g);
	for (size_t i = 0; i < N; i++)
		by_me += pthread_equal(jobs[i].by, pthread_self()) != 0;
	CHECK(ran_once(jobs, N) == N, "%zu of %d ran", ran_once(jobs, N), N);
	CHECK(by_me == N, "the waiter ran %zu of %d", by_me, N);
	CHECK(atomic_load(&blocker[0].runs) == 0, "the blocked job finished");
	gate_open(&gate);
	workq_wait_helping(q, &other);
	CHECK(atomic_load(&blocker[0].runs) == 1, "the blocked job did not finish");
	workq_stop(q);
	gate_free(&gate);
}

/* Several callers at once, each waiting for its own group: none returns before its own
 * items have all run, whoever ran them. */
#define WAITERS 4
#define PER_WAITER 2000

struct waiter {
	struct workq *q;
	struct job jobs[PER_WAITER];
	size_t refused;        /* pushes; CHECK is for the main thread only */
	size_t done_at_return; /* of its jobs, those run when its wait returned */
};

static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct workq_group g = {0};

	job_list(w->jobs, PER_WAITER, &g);
	for (size_t i = 0; i < PER_WAITER; i += 100) { /* lists of 100 */
		w->jobs[i + 99].it.next = NULL;
		w->refused += !workq_push(w->q, &w->jobs[i].it, NULL, NULL);
	}
	workq_wait_helping(w->q, &g);
	w->done_at_return = ran_once(w->jobs, PER_WAITER);
	return NULL;
}

static void
test_groups(void)
{
	static struct waiter w[WAITERS];
	pthread_t t[WAITERS];
	struct workq *q = start(2);

	for (size_t i = 0; i < WAITERS; i++) {
		w[i].q = q;
		pthread_create(&t[i], NULL, waiter_main, &w[i]);
	}
	for (size_t i = 0; i < WAITERS; i++) {
		pthread_join(t[i], NULL);
		CHECK(w[i].refused == 0, "waiter %zu: %zu pushes refused", i, w[i].refused);
		CHECK(w[i].done_at_return == PER_WAITER, "waiter %zu returned with %zu of %d run",
		      i, w[i].done_at_return, PER_WAITER);
	}
	workq_stop(q);
}

/* An item that pushes the next link of a chain, in its own group, from inside its run; the
 * last one frees the chain's state. Each link is malloc'd and freed by its own run, so a
 * queue that touched an item after running it shows under the sanitizers. */
struct link {
	struct workq_item it; /* first */
	struct workq *q;
	unsigned left; /* links still to push after this one */
	atomic_uint *ran;
};

static atomic_uint links_refused; /* pushes from a run; CHECK is for the main thread only */

static void link_run(struct workq_item *it);

static void
link_push(struct workq *q, struct workq_group *g, unsigned left, atomic_uint *ran)
{
	struct link *l = malloc(sizeof *l);

	l->it = (struct workq_item){NULL, link_run, g};
	l->q = q;
	l->left = left;
	l->ran = ran;
	if (!workq_push(q, &l->it, NULL, NULL)) {
		atomic_fetch_add(&links_refused, 1);
		free(l);
	}
}

static void
link_run(struct workq_item *it)
{
	struct link *l = (struct link *)it;

	atomic_fetch_add(l->ran, 1);
	if (l->left > 0) /* pushed before this run ends: the group cannot reach zero between */
		link_push(l->q, it->group, l->left - 1, l->ran);
	free(l);
}

static void
test_push_from_run(void)
{
	enum { CHAIN = 500 };
	atomic_uint ran[3];
	struct workq_group g[3] = {{0}, {0}, {0}};
	struct workq *q = start(2);

	for (size_t i = 0; i < 3; i++) {
		atomic_init(&ran[i], 0);
		link_push(q, &g[i], CHAIN - 1, &ran[i]);
	}
	for (size_t i = 0; i < 3; i++) {
		workq_wait_helping(q, &g[i]);
		CHECK(atomic_load(&ran[i]) == CHAIN, "chain %zu: %u of %d links ran", i,
		      atomic_load(&ran[i]), CHAIN);
		CHECK(g[i].left == 0, "group %zu left %zu", i, g[i].left);
	}
	CHECK(atomic_load(&links_refused) == 0, "%u pushes refused", atomic_load(&links_refused));
	workq_stop(q);
}

/* ready runs once per push that queues, before any thread can take the items. */
struct ready_probe {
	struct job *job;
	unsigned calls;
	bool before_run;
};

static void
ready(void *arg)
{
	struct ready_probe *p = arg;

	p->calls++;
	p->before_run = atomic_load(&p->job->runs) == 0;
}

/* With idle threads waiting for work, ready still runs before any of them can take the
 * item, however long it takes. */
static void
ready_slow(void *arg)
{
	for (int i = 0; i < 200; i++)
		sched_yield();
	ready(arg);
}

static void
test_ready(void)
{
	enum { N = 20 };
	struct job jobs[N];
	struct ready_probe rp[N];
	struct workq *q = start(2);
	unsigned calls = 0, before = 0;

	job_list(jobs, N, NULL);
	for (size_t i = 0; i < N; i++) {
		jobs[i].it.next = NULL;
		rp[i] = (struct ready_probe){&jobs[i], 0, false};
		CHECK(workq_push(q, &jobs[i].it, ready_slow, &rp[i]), "push");
	}
	workq_stop(q);
	for (size_t i = 0; i < N; i++) {
		calls += rp[i].calls;
		before += rp[i].before_run;
	}
	CHECK(calls == N && before == N, "ready: %u calls, %u before the run, of %d", calls, before,
	      N);
	CHECK(ran_once(jobs, N) == N, "%zu of %d ran", ran_once(jobs, N), N);
}

/*
 * Stop with work queued: the queue's only thread is held at a gate while items wait; another
 * thread calls workq_stop, which must not return before the gate opens. Pushes are accepted
 * until stop has begun, refused after (ready not called), and every item accepted runs.
 */
struct stopper {
	struct workq *q;
	atomic_bool returned;
};

static void *
stopper_main(void *arg)
{
	struct stopper *s = arg;

	workq_stop(s->q);
	atomic_store(&s->returned, true);
	return NULL;
}

static void
test_stop_with_work(void)
{
	enum { QUEUED = 100, PROBES = 100000 };
	struct job blocker[1], jobs[QUEUED], *probe = calloc(PROBES, sizeof *probe);
	struct ready_probe rp = {&jobs[0], 0, false};
	struct workq_group g = {0};
	struct gate gate;
	struct stopper s;
	pthread_t t;
	size_t accepted = 0;
	bool refused = false;

	s.q = start(1);
	atomic_init(&s.returned, false);
	gate_init(&gate);
	job_list(blocker, 1, NULL);
	blocker[0].gate = &gate;
	CHECK(workq_push(s.q, &blocker[0].it, NULL, NULL), "push");
	gate_await(&gate, 1);
	job_list(jobs, QUEUED, &g);
	CHECK(workq_push(s.q, &jobs[0].it, ready, &rp), "push");
	CHECK(rp.calls == 1 && rp.before_run, "ready: %u calls, before the run: %d", rp.calls,
	      rp.before_run);
	job_list(probe, PROBES, NULL);
	pthread_create(&t, NULL, stopper_main, &s);
	/* until stop has begun, pushes go through; the gate holds stop from finishing */
	while (accepted < PROBES) {
		probe[accepted].it.next = NULL;
		struct ready_probe pp = {&probe[accepted], 0, false};
		if (!workq_push(s.q, &probe[accepted].it, ready, &pp)) {
			CHECK(pp.calls == 0, "ready called for a refused push");
			refused = true;
			break;
		}
		accepted++;
		sched_yield(); /* let the stopper in */
	}
	CHECK(refused, "no push refused while stopping (%zu accepted)", accepted);
	CHECK(!atomic_load(&s.returned), "workq_stop returned with an item running");
	CHECK(ran_once(jobs, QUEUED) == 0, "queued jobs ran past a blocked thread");
	gate_open(&gate);
	pthread_join(t, NULL);
	CHECK(atomic_load(&blocker[0].runs) == 1, "the running job did not finish");
	CHECK(ran_once(jobs, QUEUED) == QUEUED, "%zu of %d queued jobs ran", ran_once(jobs, QUEUED),
	      QUEUED);
	CHECK(ran_once(probe, accepted) == accepted, "%zu of %zu accepted probes ran",
	      ran_once(probe, accepted), accepted);
	CHECK(!refused || atomic_load(&probe[accepted].runs) == 0, "the refused probe ran");
	CHECK(g.left == 0, "group left %zu", g.left);
	gate_free(&gate);
	free(probe);
}

/* workq_close runs what is queued and joins; the queue then refuses pushes (nothing of them
 * runs) until workq_stop frees it. */
static void
test_close(void)
{
	enum { N = 50 };
	struct job jobs[N], late[1];
	struct workq *q = start(2);

	job_list(jobs, N, NULL);
	CHECK(workq_push(q, &jobs[0].it, NULL, NULL), "push");
	workq_close(q);
	CHECK(ran_once(jobs, N) == N, "close ran %zu of %d", ran_once(jobs, N), N);
	job_list(late, 1, NULL);
	CHECK(!workq_push(q, &late[0].it, NULL, NULL), "a push after close is refused");
	workq_close(q); /* again: nothing */
	CHECK(ran_once(late, 1) == 0 && atomic_load(&late[0].runs) == 0, "a refused item ran");
	workq_stop(q);
}

int
main(void)
{
	char err[96] = "";

	test_many();
	test_order();
	test_helping();
	test_groups();
	test_push_from_run();
	test_ready();
	test_stop_with_work();
	test_close();
	workq_close(NULL);
	workq_stop(NULL);
	struct workq *q = workq_start(3, err, sizeof err);
	CHECK(q != NULL && workq_threads(q) == 3, "start and stop at once: %s", err);
	workq_stop(q); /* nothing queued, threads possibly not yet waiting */
	return check_done();
}
