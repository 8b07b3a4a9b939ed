/* ledger — the durable transfer ledger: the group-committing writer and signed checkpoints. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "cal.h"
#include "config.h"
#include "file.h"
#include "ledger.h"
#include "ledger_batch.h"
#include "ledger_db.h"
#include "ledger_index.h"
#include "ledger_pg.h"
#include "ledger_sign.h"
#include "ledger_pool.h"
#include "ledger_store.h"
#include "ledger_upgrade.h"
#include "ledger_volume.h"
#include "note.h"
#include "now.h"

/*
 * WAL checkpoints run on their own thread and connection, never inside the writer's commit
 * (docs/ledger.md, section 4): once the WAL holds CKPT_START frames, the checkpointer copies
 * them to the database; when what is left is at most CKPT_TAIL frames, the writer copies that
 * tail between two commits, so that the next commit starts the WAL over. Beyond CKPT_HARD
 * frames (a checkpointer that cannot keep up) the writer checkpoints everything itself. A long
 * WAL (64 MiB of 4 KiB pages) is copied once for the many versions it holds of the pages every
 * commit touches (index ends, the last leaves, the tree's nodes).
 */
#define CKPT_START 16384
#define CKPT_TAIL 256
#define CKPT_HARD 65536
#define CKPT_RETRY_MS 50
/* While commits fail, the writer tries a write of its own this often (probe). */
#define PROBE_MS 1000

/* ------------------------------------------------------------------------------------------ */
/* The ledger. */

/* The writer's counters since open, logged at close (entries / commits is the group size). */
struct ledger_stats {
	uint64_t commits;     /* transactions committed by the writer */
	uint64_t entries;     /* entries they held */
	uint64_t failed;      /* transactions that failed (their callers got LEDGER_EIO) */
	uint64_t checkpoints; /* checkpoints signed since open */
	uint64_t writer_ns;   /* the writer thread's CPU time in its commits */
};

/*
 * One call of ledger_append_async, queued until the writer has committed or failed its entries:
 * allocated by the call with its n leaf tails after it, freed by the writer once done was
 * called.
 */
struct waiter {
	size_t n;
	uint64_t first; /* the index of the first entry, set by the writer */
	ledger_done_fn done;
	void *arg;
	char *partner;      /* with a shared state: the partner of a release it holds, else NULL */
	char *token;        /* and that release's work order (jti), NULL if none */
	uint64_t state_gen; /* with partner: the state's generation its decision read */
	struct ledger_volume vol;      /* with a shared store: what it releases of a daily volume */
	struct ledger_members members; /* with partner: its released members' restrictions */
	struct waiter *next;
	struct buf tails[]; /* n leaf tails, built by the caller */
};

struct ledger {
	char *origin;
	unsigned interval_ms;
	bool read_only;
	struct log *log;
	struct log *own_log; /* stderr when the caller gave none */

	struct ledger_pool *readers; /* read connections, each lent to one thread at a time */
	struct ledger_index *index;  /* the search index's follower (writer only) */

	/* Writer state: touched only by the writer thread (by ledger_open before it starts). */
	struct ledger_store *ws; /* the writer's store: the file's (&w->base) or PostgreSQL's */
	struct ledger_conn *w;   /* the file's writer connection; NULL on PostgreSQL */
	struct note_signer *signer;
	struct note_verifier *verifier;
	struct merkle_frontier frontier; /* of the committed entries */
	int64_t last_ms;                 /* time of the last entry: times never go back */
	uint64_t cp_size;                /* the latest checkpoint */
	uint8_t cp_root[MERKLE_HASH_LEN];
	struct buf leaf;   /* reused for each leaf */
	struct buf leaves; /* the batch's leaves (ledger_batch.h), reused */
	struct buf hashes; /* its leaf hashes, then its nodes */
	struct buf nodes;  /* the nodes its entries complete */
	int failing;       /* the last commit failed: logged once, then probed (writer_main) */
	int w_frames;      /* frames in the WAL, as the last commit left it (the WAL hook's) */

	/* Shared with callers, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t work_cv; /* the writer waits for entries or stop */
	pthread_cond_t ckpt_cv; /* the checkpointer waits for a longer WAL or stop */
	int wal_frames;         /* frames in the WAL after the last commit */
	int wal_tail;           /* the checkpointer left only a short tail: the writer copies it */
	struct ledger_conn *ck; /* the checkpointer's connection */
	pthread_t ckpt_thread;
	int ckpt_started;
	struct waiter *head, **tail;
	int stop;
	int broken; /* a consistency check failed: nothing more is written */
	struct ledger_stats stats;
	pthread_t thread;
	int started;

	/* What ledger_health reads, under lock; written by the writer. */
	uint64_t h_size, h_cp_size;
	int64_t h_cp_ms;       /* when the latest checkpoint was signed (Unix ms), 0 none */
	int64_t h_unsigned_ms; /* CLOCK_MONOTONIC ms since entries wait for a checkpoint, 0 none */
	bool h_failing;        /* the last commit failed and no write worked since */
	char h_error[160];
	char h_refused[160]; /* ledger_refuse's reason; "" otherwise */
	struct metrics *metrics;
	int (*may_sign)(void *arg, uint64_t size); /* the witness hooks (ledger_params) */
	void (*signed_cb)(void *arg, uint64_t size, const char *note, size_t len);
	void *hook_arg;
	int (*state_load)(void *arg, struct ledger_store *s); /* shared state (ledger_params) */
	bool (*state_allows)(void *arg, const char *partner, const char *token);
	unsigned (*state_restrictions)(void *arg, const char *subject);
	void *state_arg;
	uint64_t state_gen; /* the generation the writer last put in force (writer only) */
	void (*volume_seen)(void *arg, const char *contract, int64_t day, uint64_t total,
	                    uint64_t committed); /* the daily volumes (ledger_params) */
	void *volume_arg;
};

static void lmsg(struct ledger *l, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
lmsg(struct ledger *l, const char *level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(l->log, level, "ledger: %s", msg);
}

char *
ledger_key_vkey(const char *key, const char *origin, char *err, size_t errlen)
{
	struct note_signer *s = ledger_sign_load_key(key, origin, err, errlen);
	char *vkey = s != NULL ? note_signer_vkey(s) : NULL;

	if (s != NULL && vkey == NULL)
		snprintf(err, errlen, "out of memory");
	note_signer_free(s);
	return vkey;
}

struct ledger_pool *
ledger_pool_of(struct ledger *l)
{
	return l->readers;
}

const char *
ledger_origin(const struct ledger *l)
{
	return l->origin;
}

void
ledger_health(struct ledger *l, struct ledger_health *h)
{
	memset(h, 0, sizeof(*h));
	h->interval_ms = l->interval_ms;
	pthread_mutex_lock(&l->lock);
	h->size = l->h_size;
	h->checkpoint_size = l->h_cp_size;
	h->checkpoint_ms = l->h_cp_ms;
	if (l->h_unsigned_ms != 0 && l->h_size > l->h_cp_size)
		h->waiting_ms = now_mono_ms() - l->h_unsigned_ms;
	h->failing = l->h_failing || l->broken;
	snprintf(h->error, sizeof(h->error), "%s",
	         l->h_refused[0] != '\0' ? l->h_refused
	         : l->broken             ? "a consistency check failed: nothing more is written"
	                                 : l->h_error);
	pthread_mutex_unlock(&l->lock);
}

void
ledger_refuse(struct ledger *l, const char *why)
{
	pthread_mutex_lock(&l->lock);
	l->broken = 1;
	snprintf(l->h_refused, sizeof(l->h_refused), "%s", why);
	pthread_mutex_unlock(&l->lock);
}

/* Signs a checkpoint over the committed entries under the lock on the tree state
 * (ledger_sign.h): it extends the latest stored one, whichever writer signed it, by a verified
 * consistency proof. On a failed check the ledger stops writing for good. 1 if the witness hook
 * holds it back (not signed, tried again). Writer only. */
static int
sign_checkpoint(struct ledger *l)
{
	struct ledger_tree_state st = {
	    .frontier = l->frontier, .last_ms = l->last_ms, .cp_size = l->cp_size};
	struct ledger_sign_hooks h = {l->may_sign, l->signed_cb, l->hook_arg};
	char why[512];
	uint64_t size;
	int64_t at = now_wall_ms();
	enum ledger_sign_result r;

	memcpy(st.cp_root, l->cp_root, MERKLE_HASH_LEN);
	/* like the entries' times, a checkpoint's never goes back when the clock is stepped (and
	 * ledger_sign raises it to the last batch's) */
	pthread_mutex_lock(&l->lock);
	if (at < l->h_cp_ms)
		at = l->h_cp_ms;
	pthread_mutex_unlock(&l->lock);
	r = ledger_sign(l->ws, l->signer, l->verifier, l->origin, &h, &at, &st, &size, why,
	                sizeof(why));
	if (r == LEDGER_SIGN_HELD)
		return 1;
	if (r == LEDGER_SIGN_INCONSISTENT) {
		pthread_mutex_lock(&l->lock);
		l->broken = 1;
		pthread_mutex_unlock(&l->lock);
		lmsg(l, "error", "%s: not signed; refusing every entry from now on", why);
		return -1;
	}
	if (r == LEDGER_SIGN_FAILED) {
		lmsg(l, "warn", "checkpoint: %s (retried)", why);
		return -1;
	}
	/* Checkpoints only grow, and never past the committed entries. */
	assert(st.cp_size >= l->cp_size && st.cp_size == st.frontier.size);
	l->frontier = st.frontier; /* with what other nodes committed meanwhile */
	l->last_ms = st.last_ms;
	l->cp_size = st.cp_size;
	memcpy(l->cp_root, st.cp_root, MERKLE_HASH_LEN);
	pthread_mutex_lock(&l->lock);
	if (r == LEDGER_SIGN_SIGNED) {
		l->stats.checkpoints++;
		l->h_cp_ms = at;
	}
	l->h_cp_size = size;
	l->h_size = l->frontier.size;
	l->h_unsigned_ms = 0; /* the writer signs what it committed: nothing else waits */
	pthread_mutex_unlock(&l->lock);
	return 0;
}

/* Adds one entry to the batch being built: its leaf to l->leaves, its hash to l->hashes and
 * the nodes it completes to l->nodes. f is the batch's copy of the frontier. */
static int
add_entry(struct ledger *l, struct merkle_frontier *f, const struct buf *tail,
          const char time[LEDGER_TIME_LEN + 1])
{
	struct merkle_node done[MERKLE_MAX_LEVELS];
	uint64_t index = f->size;
	size_t nd;

	if (ledger_leaf_join(&l->leaf, index, time, tail) < 0)
		return -1;
	uint8_t hash[MERKLE_HASH_LEN];
	if (merkle_leaf_hash(l->leaf.data, l->leaf.len, hash) != MERKLE_OK ||
	    merkle_frontier_append(f, hash, done, &nd) != MERKLE_OK)
		return -1;
	/* The leaf's index in its text and in the tree is the tree's size before it. */
	assert(f->size == index + 1 && nd >= 1 && done[0].level == 0 && done[0].index == index);
	if (ledger_batch_add(&l->leaves, l->leaf.data, l->leaf.len) < 0 ||
	    buf_add(&l->hashes, hash, MERKLE_HASH_LEN) < 0)
		return -1;
	/* in the order ledger_batch_node_at expects: this entry's nodes by increasing level */
	for (size_t i = 1; i < nd; i++)
		if (buf_add(&l->nodes, done[i].hash, MERKLE_HASH_LEN) < 0)
			return -1;
	return 0;
}

/* The batch's row: the entries [first, f->size) built by add_entry. */
static int
insert_batch(struct ledger *l, uint64_t first, const struct merkle_frontier *f, int64_t ms)
{
	uint64_t n = f->size - first;

	if (ledger_batch_end(&l->leaves) < 0 ||
	    buf_add(&l->hashes, l->nodes.data, l->nodes.len) < 0)
		return -1;
	assert(l->hashes.len == ledger_batch_hashes_len(first, n));
	return l->ws->ops->put_batch(l->ws, first, n, ms, (const uint8_t *)l->hashes.data,
	                             l->hashes.len, l->leaves.data, l->leaves.len) == 0
	           ? 0
	           : -1;
}

/* The batch of every waiter's entries after the tree base, all at time ms: its row in
 * l->leaves, l->hashes and l->nodes, each waiter's first index, the extended tree in *f and
 * the count in *n. 0, or -1 if memory ran out. */
static int
build_batch(struct ledger *l, struct waiter *list, const struct merkle_frontier *base, int64_t ms,
            struct merkle_frontier *f, uint64_t *n)
{
	char time[LEDGER_TIME_LEN + 1];

	*f = *base;
	*n = 0;
	ledger_leaf_time(ms, time);
	buf_reset(&l->leaves);
	buf_reset(&l->hashes);
	buf_reset(&l->nodes);
	for (struct waiter *w = list; w != NULL; w = w->next) {
		w->first = f->size;
		for (size_t i = 0; i < w->n; i++)
			if (add_entry(l, f, &w->tails[i], time) < 0)
				return -1;
		*n += w->n;
		assert(w->first + w->n == f->size);
	}
	return 0;
}

static void
waiter_free(struct waiter *w)
{
	for (size_t i = 0; i < w->n; i++)
		buf_free(&w->tails[i]);
	free(w->partner);
	free(w->token);
	ledger_volume_clear(&w->vol);
	ledger_members_clear(&w->members);
	free(w);
}

/*
 * The shared state, under the tree lock (ledger_params.state_load): a change committed before
 * this batch took the lock is put in force, and each release decided under another generation
 * is kept only if the state now in force still lets it out; the others move from *list to
 * *stale (their callers get LEDGER_ESTATE and decide again), and *moved says so. 0, or -1 if
 * the state cannot be read (the batch fails). Writer only.
 */
static int
state_check(struct ledger *l, struct waiter **list, struct waiter **stale, uint64_t gen,
            bool *moved)
{
	if (l->state_load == NULL || !l->ws->ops->shared)
		return 0;
	if (gen != l->state_gen) {
		if (l->state_load(l->state_arg, l->ws) != 0)
			return -1;
		l->state_gen = gen;
	}
	for (struct waiter **pw = list; *pw != NULL;) {
		struct waiter *w = *pw;
		const char *why = NULL;
		if (w->partner != NULL && w->state_gen != gen) {
			if (!l->state_allows(l->state_arg, w->partner, w->token))
				why = "suspended or its work order revoked meanwhile";
			else if (l->state_restrictions != NULL &&
			         ledger_members_changed(&w->members, l->state_restrictions,
			                                l->state_arg))
				why = "a member's restrictions changed meanwhile";
		}
		if (why != NULL) {
			lmsg(l, "warn",
			     "a release to %s decided under shared state %" PRIu64
			     " is refused under %" PRIu64 " (%s): decided again",
			     w->partner[0] ? w->partner : "(none)", w->state_gen, gen, why);
			*pw = w->next;
			w->next = *stale;
			*stale = w;
			*moved = true;
		} else {
			pw = &w->next;
		}
	}
	return 0;
}

/*
 * The daily volumes, under the tree lock (ledger_volume.h): each waiter's claim added to its
 * contract's row of the batch's day; a waiter whose claim is refused moves from *list to
 * *stale, and *moved says so. 0, or -1 if the volumes cannot be written (the batch fails).
 */
static int
volume_check(struct ledger *l, struct waiter **list, struct waiter **stale, int64_t ms, bool *moved)
{
	struct ledger_volume *chain = NULL, **tail = &chain;

	for (struct waiter *w = *list; w != NULL && l->volume_seen != NULL; w = w->next)
		if (w->vol.contract != NULL) {
			*tail = &w->vol;
			tail = &w->vol.next;
		}
	*tail = NULL;
	if (chain == NULL)
		return 0;
	if (ledger_volume_take(l->ws, chain, cal_jst_day(ms)) != 0)
		return -1;
	for (struct waiter **pw = list; *pw != NULL;) {
		struct waiter *w = *pw;
		if (w->vol.refused) {
			lmsg(l, "info",
			     "%" PRIu64
			     " records of contract %s would take today's volume past %" PRIu64
			     " (%" PRIu64 " released across the nodes): decided again",
			     w->vol.records, w->vol.contract, w->vol.limit, w->vol.total);
			*pw = w->next;
			w->next = *stale;
			*stale = w;
			*moved = true;
		} else {
			pw = &w->next;
		}
	}
	return 0;
}

/*
 * One group commit: every entry of every waiter in list, in one transaction. On any failure
 * the transaction is rolled back and the frontier and clock stay as they were, so that the
 * next batch starts from the last committed state: nothing of a failed batch is stored.
 */
static void
commit_batch(struct ledger *l, struct waiter *list)
{
	struct merkle_frontier f, base = l->frontier;
	struct ledger_tree_state st = {.frontier = l->frontier, .last_ms = l->last_ms};
	struct ledger_tip tip = {0};
	struct waiter *stale = NULL;
	char why[sizeof(l->h_error)] = "";
	int64_t ms = now_wall_ms();
	uint64_t n = 0, t0 = now_mono_us();
	bool moved = false;
	int rc = -1;
	struct timespec cpu0, cpu1;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);

	if (ms < l->last_ms)
		ms = l->last_ms;
	/* The row is built before the transaction: the write lock is held for one insert. */
	if (build_batch(l, list, &base, ms, &f, &n) < 0) {
		snprintf(why, sizeof(why), "out of memory");
		goto done;
	}
	if (l->ws->ops->begin(l->ws, &tip) != 0)
		goto done;
	if (state_check(l, &list, &stale, tip.state_gen, &moved) != 0) {
		snprintf(why, sizeof(why), "reading the shared state: %s",
		         l->ws->ops->errmsg(l->ws));
		goto done;
	}
	if (list != NULL && (tip.size != base.size || tip.time > ms)) {
		/* Another node appended since: under the lock, its entries are the tree to extend,
		 * and its time the earliest this batch may have. The file has one writer. */
		if (ledger_sign_catch_up(l->ws, &tip, &st) != 0) {
			snprintf(why, sizeof(why), "reloading the tree of %" PRIu64 " entries",
			         tip.size);
			goto done;
		}
		base = st.frontier;
		ms = ms < st.last_ms ? st.last_ms : ms;
		moved = true;
	}
	/* the day's volumes at the batch's final time */
	if (list != NULL && l->ws->ops->shared && volume_check(l, &list, &stale, ms, &moved) != 0) {
		snprintf(why, sizeof(why), "counting the daily volumes: %s",
		         l->ws->ops->errmsg(l->ws));
		goto done;
	}
	if (list == NULL) { /* every release of the batch refused under the new state */
		l->ws->ops->rollback(l->ws);
		f = base;
		n = 0;
		rc = 0;
		goto done;
	}
	/* the row again, without what was refused or on the tree another node extended */
	if (moved && build_batch(l, list, &base, ms, &f, &n) < 0) {
		snprintf(why, sizeof(why), "out of memory");
		goto done;
	}
	if (insert_batch(l, base.size, &f, ms) < 0 || l->ws->ops->commit(l->ws) != 0)
		goto done;
	/* COMMIT returned: the transaction is over and durable (synchronous=FULL, or
	 * synchronous_commit=on). */
	rc = 0;
done:
	if (rc < 0) {
		/* copied: the rollback replaces the message */
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "%s", l->ws->ops->errmsg(l->ws));
		l->ws->ops->rollback(l->ws);
		if (!l->failing)
			lmsg(l, "error", "cannot commit entries (%s): answering 503 until it can",
			     why);
		l->failing = 1;
	} else {
		if (l->failing)
			lmsg(l, "info", "committing again");
		l->failing = 0;
		/* The tree only grows, by exactly the entries of this batch. */
		assert(f.size == base.size + n && base.size >= l->frontier.size &&
		       ms >= l->last_ms);
		l->frontier = f;
		l->last_ms = ms;
	}
	metrics_ledger_commit(l->metrics, now_mono_us() - t0, n, rc == 0);
	pthread_mutex_lock(&l->lock);
	if (rc == 0) {
		l->stats.commits +=
		    n > 0; /* a batch whose every release was refused stored nothing */
		l->stats.entries += n;
		if (l->h_unsigned_ms == 0 && n > 0)
			l->h_unsigned_ms = now_mono_ms();
		l->h_size = l->frontier.size;
		ledger_index_notify(l->index, l->h_size);
	} else {
		l->stats.failed++;
		snprintf(l->h_error, sizeof(l->h_error), "%s", why);
	}
	l->h_failing = rc != 0;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
	l->stats.writer_ns +=
	    (uint64_t)((cpu1.tv_sec - cpu0.tv_sec) * 1000000000LL + (cpu1.tv_nsec - cpu0.tv_nsec));
	pthread_mutex_unlock(&l->lock);
	/* Only now are the callers told: a 0 they see is for entries already committed. */
	for (struct waiter *w = list, *next; w != NULL; w = next) {
		next = w->next;
		assert(rc != 0 || w->first + w->n <= l->frontier.size);
		if (rc == 0 && w->vol.contract != NULL && l->volume_seen != NULL)
			l->volume_seen(l->volume_arg, w->vol.contract, cal_jst_day(ms),
			               w->vol.total, w->vol.records);
		w->done(w->arg, rc == 0 ? LEDGER_OK : LEDGER_EIO, rc == 0 ? w->first : 0);
		waiter_free(w);
	}
	/* after the state they were refused under is in force: deciding again sees it */
	for (struct waiter *w = stale, *next; w != NULL; w = next) {
		next = w->next;
		if (w->vol.refused) /* told the total first: deciding again sees it */
			l->volume_seen(l->volume_arg, w->vol.contract, cal_jst_day(ms),
			               w->vol.total, 0);
		w->done(w->arg, w->vol.refused ? LEDGER_EVOLUME : LEDGER_ESTATE, 0);
		waiter_free(w);
	}
}

static void
deadline(struct timespec *ts, int64_t at_ms)
{
	ts->tv_sec = (time_t)(at_ms / 1000);
	ts->tv_nsec = (long)(at_ms % 1000) * 1000000;
}

/* Frames in the WAL after each commit of the writer's connection: the checkpointer's cue.
 * Setting this hook also turns off SQLite's own checkpoints inside the commit. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct ledger *l = arg;

	(void)db, (void)name;
	l->w_frames = frames;
	return SQLITE_OK;
}

/*
 * After a commit, with l->lock held (writer): hands the WAL's length to the checkpointer and,
 * between two commits, copies the short tail the checkpointer left (so that the next commit
 * starts the WAL over), or everything if the WAL grew past CKPT_HARD. While it copies, the
 * callers that queue meanwhile form the next group.
 */
static void
wal_after_commit(struct ledger *l)
{
	int mode = -1;

	if (l->w == NULL)
		return; /* PostgreSQL keeps its own WAL */
	l->wal_frames = l->w_frames;
	if (l->wal_frames >= CKPT_HARD)
		mode = SQLITE_CHECKPOINT_FULL;
	else if (l->wal_tail)
		mode = SQLITE_CHECKPOINT_PASSIVE;
	else if (l->wal_frames >= CKPT_START)
		pthread_cond_signal(&l->ckpt_cv);
	if (mode < 0)
		return;
	l->wal_tail = 0;
	pthread_mutex_unlock(&l->lock);
	ledger_conn_wal_checkpoint(l->w, mode); /* never waits for a reader (a backup) */
	pthread_mutex_lock(&l->lock);
}

/*
 * The checkpointer: copies the WAL's frames into the database on its own connection while the
 * writer goes on committing (a PASSIVE checkpoint takes no lock the writer needs). One round
 * per commit at most; when a round leaves at most CKPT_TAIL frames, the writer finishes.
 */
static void *
ckpt_main(void *arg)
{
	struct ledger *l = arg;
	uint64_t seen = UINT64_MAX; /* the writer's commit count at the last round */

	pthread_mutex_lock(&l->lock);
	while (!l->stop) {
		int log = 0, done = 0, rc;
		if (l->wal_frames < CKPT_START || l->stats.commits == seen || l->wal_tail) {
			pthread_cond_wait(&l->ckpt_cv, &l->lock);
			continue;
		}
		seen = l->stats.commits;
		pthread_mutex_unlock(&l->lock);
		rc = sqlite3_wal_checkpoint_v2(l->ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
		                               &done);
		pthread_mutex_lock(&l->lock);
		if (rc == SQLITE_OK && log - done <= CKPT_TAIL) {
			l->wal_tail = 1;
		} else if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
			/* Disk full, I/O error: the writer reports its own failures; try again
			 * a little later rather than at every commit. */
			struct timespec ts;
			deadline(&ts, now_mono_ms() + CKPT_RETRY_MS);
			pthread_cond_timedwait(&l->ckpt_cv, &l->lock, &ts);
		}
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/*
 * While commits fail and no caller waits: can the ledger be written again? A transaction that
 * writes durably and leaves the content as it was (the store's probe). So a ledger that recovers
 * says so without waiting for a request, which a monitor that took the gateway out of service would
 * never send. Writer only.
 */
static void
probe(struct ledger *l)
{
	char err[sizeof(l->h_error)];
	int ok = l->ws->ops->probe(l->ws) == 0;

	if (!ok) {
		snprintf(err, sizeof(err), "%s", l->ws->ops->errmsg(l->ws));
		l->ws->ops->rollback(l->ws);
	}
	if (ok) {
		lmsg(l, "info", "the ledger can be written again");
		l->failing = 0;
	}
	pthread_mutex_lock(&l->lock);
	l->h_failing = !ok;
	if (!ok)
		snprintf(l->h_error, sizeof(l->h_error), "%s", err);
	pthread_mutex_unlock(&l->lock);
}

/*
 * The writer: commits whatever callers queued, as one transaction per wake-up, and signs a
 * checkpoint every interval while there are unsigned entries. It is the only user of l->w.
 */
static void *
writer_main(void *arg)
{
	struct ledger *l = arg;
	int64_t next_cp = now_mono_ms() + l->interval_ms, next_probe = 0;

	pthread_mutex_lock(&l->lock);
	for (;;) {
		int unsigned_entries = l->frontier.size > l->cp_size && !l->broken;
		if (!l->failing)
			next_probe = 0;
		else if (next_probe == 0)
			next_probe = now_mono_ms() + PROBE_MS;
		if (unsigned_entries && now_mono_ms() >= next_cp) {
			pthread_mutex_unlock(&l->lock);
			sign_checkpoint(l);
			next_cp = now_mono_ms() + l->interval_ms;
			pthread_mutex_lock(&l->lock);
			continue;
		}
		if (l->head != NULL) {
			struct waiter *list = l->head;
			l->head = NULL;
			l->tail = &l->head;
			pthread_mutex_unlock(&l->lock);
			commit_batch(l, list);
			pthread_mutex_lock(&l->lock);
			wal_after_commit(l);
			continue;
		}
		if (l->stop)
			break;
		if (next_probe != 0 && now_mono_ms() >= next_probe) {
			pthread_mutex_unlock(&l->lock);
			probe(l);
			next_probe = now_mono_ms() + PROBE_MS;
			pthread_mutex_lock(&l->lock);
			continue;
		}
		if (unsigned_entries || next_probe != 0) {
			struct timespec ts;
			int64_t at = !unsigned_entries                         ? next_probe
			             : next_probe != 0 && next_probe < next_cp ? next_probe
			                                                       : next_cp;
			deadline(&ts, at);
			pthread_cond_timedwait(&l->work_cv, &l->lock, &ts);
		} else {
			pthread_cond_wait(&l->work_cv, &l->lock);
		}
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

int
ledger_append_async(struct ledger *l, const struct ledger_entry *e, size_t n, ledger_done_fn done,
                    void *arg)
{
	struct waiter *w;

	if (l == NULL || l->read_only || n == 0 || n > LEDGER_MAX_BATCH || done == NULL)
		return LEDGER_EINVAL;
	if ((w = calloc(1, sizeof(*w) + n * sizeof(w->tails[0]))) == NULL)
		return LEDGER_ENOMEM;
	w->n = n;
	w->done = done;
	w->arg = arg;
	for (size_t i = 0; l->state_load != NULL && w->partner == NULL && i < n; i++)
		if (e[i].kind == LEDGER_RELEASE) {
			if ((w->partner = strdup(e[i].partner ? e[i].partner : "")) == NULL ||
			    (e[i].token != NULL && (w->token = strdup(e[i].token)) == NULL)) {
				waiter_free(w);
				return LEDGER_ENOMEM;
			}
			w->state_gen = e[i].state_gen;
		}
	if (l->volume_seen != NULL && ledger_volume_claim(&w->vol, e, n) != 0) {
		waiter_free(w);
		return LEDGER_ENOMEM;
	}
	if (w->partner != NULL && ledger_members_claim(&w->members, e, n) != 0) {
		waiter_free(w);
		return LEDGER_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (ledger_leaf_tail(&e[i], &w->tails[i]) < 0) {
			int rc = LEDGER_ENOMEM;
			if (!w->tails[i].bad) {
				/* The request path builds entries from checked values: a bug. */
				lmsg(
				    l, "error",
				    "entry %zu of %zu (%s, request %s) is malformed: refused, none "
				    "stored",
				    i, n,
				    (unsigned)e[i].kind <= LEDGER_ADMIN
				        ? ledger_kind_name(e[i].kind)
				        : "?",
				    e[i].request ? e[i].request : "none");
				rc = LEDGER_EENTRY;
			}
			waiter_free(w);
			return rc;
		}
	pthread_mutex_lock(&l->lock);
	if (l->stop || l->broken) {
		pthread_mutex_unlock(&l->lock);
		waiter_free(w);
		return LEDGER_EIO;
	}
	*l->tail = w;
	l->tail = &w->next;
	pthread_cond_signal(&l->work_cv);
	pthread_mutex_unlock(&l->lock);
	return LEDGER_OK;
}

/* A blocking caller of ledger_append, asleep until the writer has called sync_done. */
struct sync_wait {
	sem_t posted; /* one wake-up per caller, none for the others */
	int rc;
	uint64_t first;
};

static void
sync_done(void *arg, int rc, uint64_t first_index)
{
	struct sync_wait *sw = arg;

	sw->rc = rc;
	sw->first = first_index;
	sem_post(&sw->posted); /* sw lives on its caller's stack: gone once posted */
}

int
ledger_append(struct ledger *l, const struct ledger_entry *e, size_t n, uint64_t *first_index)
{
	struct sync_wait sw = {.rc = LEDGER_EIO};
	int rc;

	if (sem_init(&sw.posted, 0, 0) < 0)
		return LEDGER_ENOMEM;
	rc = ledger_append_async(l, e, n, sync_done, &sw);
	if (rc == LEDGER_OK) {
		while (sem_wait(&sw.posted) < 0 && errno == EINTR)
			;
		rc = sw.rc;
		if (rc == LEDGER_OK)
			*first_index = sw.first;
	}
	sem_destroy(&sw.posted);
	return rc;
}

static int
append_admin(struct ledger *l, const char *action, const char *version)
{
	struct ledger_admin a = {.action = action, .version = version};
	struct ledger_entry e = {.kind = LEDGER_ADMIN, .admin = &a};
	uint64_t idx;
	int rc = ledger_append(l, &e, 1, &idx);

	assert(rc != LEDGER_EENTRY);
	return rc;
}

/*
 * What a crash can leave: committed entries after the latest checkpoint. Checks the latest
 * checkpoint against the key and the stored tree, the entries' count, and rehashes the leaves
 * after it (the rest are covered by the signed root and checked by `ledger verify`). Then
 * reloads the frontier.
 */
static int
recover(struct ledger *l, char *err, size_t errlen)
{
	struct merkle_store s = ledger_store_tree(l->ws);
	struct ledger_tip tip;
	sqlite3_stmt *st = NULL;
	char *note = NULL;
	size_t len;
	uint64_t size, cp_size = 0;
	int rc = -1, m;

	if (l->ws->ops->size(l->ws, &size) < 0) {
		snprintf(err, errlen, "reading entries: %s", l->ws->ops->errmsg(l->ws));
		return -1;
	}
	/* On PostgreSQL the tree-state row must say where the batches end (checked under its
	 * lock); the file's batches are counted from 0. */
	if (l->w == NULL) {
		if (l->ws->ops->begin(l->ws, &tip) != 0) {
			snprintf(err, errlen, "%s", l->ws->ops->errmsg(l->ws));
			return -1;
		}
		l->ws->ops->rollback(l->ws);
		if (tip.size < size) {
			snprintf(err, errlen,
			         "entries are not contiguous: run pdgate ledger verify");
			return -1;
		}
		size = tip.size; /* another node may have committed meanwhile */
	} else if (sqlite3_prepare_v2(
	               l->w->db, "SELECT coalesce(min(first), 0), coalesce(sum(n), 0) FROM batches",
	               -1, &st, NULL) != SQLITE_OK ||
	           sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != 0 ||
	           (uint64_t)sqlite3_column_int64(st, 1) != size) {
		snprintf(err, errlen,
		         "entries are not contiguous from 0 to %" PRIu64
		         ": run pdgate ledger verify",
		         size);
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	m = l->ws->ops->checkpoint(l->ws, 0, &cp_size, &note, &len, NULL);
	if (m == LEDGER_OK) {
		struct note_checkpoint cp;
		uint8_t root[MERKLE_HASH_LEN];
		if (note_checkpoint_open(note, len, &l->verifier, 1, &cp) != NOTE_OK ||
		    cp.size != cp_size || cp_size > size || cp_size == 0) {
			snprintf(err, errlen,
			         "checkpoint %" PRIu64 " does not verify with the ledger key",
			         cp_size);
			goto done;
		}
		if (merkle_root(&s, cp_size, root) != MERKLE_OK ||
		    CRYPTO_memcmp(root, cp.root, MERKLE_HASH_LEN) != 0) {
			snprintf(err, errlen,
			         "the stored tree does not match checkpoint %" PRIu64
			         ": run pdgate ledger verify",
			         cp_size);
			goto done;
		}
		memcpy(l->cp_root, cp.root, MERKLE_HASH_LEN);
	} else if (m != LEDGER_ENOENT) {
		snprintf(err, errlen, "reading checkpoints: %s", l->ws->ops->errmsg(l->ws));
		goto done;
	}
	l->cp_size = cp_size;
	if (ledger_store_check_leaves(l->ws, cp_size, size, err, errlen) != 0)
		goto done;
	if ((m = merkle_frontier_load(&l->frontier, &s, size)) != MERKLE_OK) {
		snprintf(err, errlen, "reloading the tree: %s", merkle_strerror(m));
		goto done;
	}
	assert(l->frontier.size == size && l->cp_size <= size);
	if (size > 0) {
		if (ledger_store_batch(l->ws, size - 1, &l->ws->rd) != 0) {
			snprintf(err, errlen, "reading the last batch: run pdgate ledger verify");
			goto done;
		}
		l->last_ms = l->ws->rd.time;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	free(note);
	return rc;
}

/* When the latest stored checkpoint was signed (Unix ms), 0 if none. */
static int64_t
checkpoint_time(struct ledger *l)
{
	char *note = NULL;
	size_t len;
	uint64_t size;
	int64_t ms = 0;

	if (l->ws->ops->checkpoint(l->ws, 0, &size, &note, &len, &ms) != 0)
		ms = 0;
	free(note);
	return ms;
}

static void
ledger_free(struct ledger *l)
{
	if (l == NULL)
		return;
	ledger_index_stop(l->index);
	ledger_pool_free(l->readers);
	if (l->w == NULL)
		ledger_store_free(l->ws); /* PostgreSQL's; the file's is l->w */
	ledger_conn_free(l->w);
	ledger_conn_free(l->ck);
	note_signer_free(l->signer);
	note_verifier_free(l->verifier);
	buf_free(&l->leaf);
	buf_free(&l->leaves);
	buf_free(&l->hashes);
	buf_free(&l->nodes);
	free(l->origin);
	log_free(l->own_log);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->work_cv);
	pthread_cond_destroy(&l->ckpt_cv);
	free(l);
}

struct ledger *
ledger_open(const struct ledger_params *p, char *err, size_t errlen)
{
	struct ledger *l = calloc(1, sizeof(*l));
	pthread_condattr_t ca;
	char *vkey = NULL;
	char msg[512];

	err[0] = '\0';
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->work_cv, &ca);
	pthread_cond_init(&l->ckpt_cv, &ca);
	pthread_condattr_destroy(&ca);
	l->tail = &l->head;
	l->read_only = p->read_only;
	l->interval_ms = p->checkpoint_interval_ms ? p->checkpoint_interval_ms : 1000;
	l->log = p->log;
	l->metrics = p->metrics;
	l->may_sign = p->may_sign;
	l->signed_cb = p->signed_cb;
	l->hook_arg = p->hook_arg;
	l->state_load = p->state_load;
	l->state_allows = p->state_allows;
	l->state_restrictions = p->state_restrictions;
	l->state_arg = p->state_arg;
	l->volume_seen = p->volume_seen;
	l->volume_arg = p->volume_arg;
	if (l->log == NULL && (l->log = l->own_log = log_open(NULL)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (p->path == NULL || (!p->read_only && (p->origin == NULL || p->key == NULL))) {
		snprintf(err, errlen, "ledger: path, origin and key are required");
		goto fail;
	}

	/* how messages name the ledger: a URL may hold a password */
	const char *name = ledger_store_is_url(p->path) ? "on PostgreSQL" : p->path;
	if (!p->read_only) {
		bool pg = ledger_store_is_url(p->path);
		int schema = 0;
		if (!pg && ((l->w = ledger_conn_open(p->path, true, msg, sizeof(msg))) == NULL ||
		            ledger_db_init(l->w, p->origin, &schema, msg, sizeof(msg)) < 0)) {
			snprintf(err, errlen, "ledger %s: %s", p->path, msg);
			goto fail;
		}
		if ((l->signer = ledger_sign_load_key(p->key, p->origin, err, errlen)) == NULL)
			goto fail;
		if ((vkey = note_signer_vkey(l->signer)) == NULL ||
		    (l->verifier = note_verifier_new(vkey, strlen(vkey))) == NULL) {
			snprintf(err, errlen, "ledger key %s: cannot make its verifier key",
			         p->key);
			goto fail;
		}
		/* A ledger of the earlier layout is converted once, checked before and after. */
		if (pg) {
			l->ws =
			    ledger_pg_open(p->path, true, p->origin, &l->origin, msg, sizeof(msg));
			if (l->ws == NULL) {
				snprintf(err, errlen, "ledger %s: %s", name, msg);
				goto fail;
			}
		} else if (schema == LEDGER_SCHEMA_OLD) {
			struct ledger_upgrade_report u;
			if (ledger_upgrade_run(l->w->db, p->origin, l->verifier, &u, msg,
			                       sizeof(msg)) < 0) {
				snprintf(err, errlen, "ledger %s: upgrade: %s", p->path, msg);
				goto fail;
			}
			lmsg(l, "info",
			     "upgraded to schema %d: %" PRIu64 " entries in %" PRIu64
			     " batches, %" PRIu64 " checkpoints, verified before and after",
			     LEDGER_SCHEMA, u.size, u.batches, u.checkpoints);
		}
		if (!pg && ((l->origin = ledger_db_origin(l->w->db, p->origin, msg, sizeof(msg))) ==
		                NULL ||
		            ledger_conn_prepare(l->w, true, msg, sizeof(msg)) < 0)) {
			snprintf(err, errlen, "ledger %s: %s", p->path, msg);
			goto fail;
		}
		if (!pg)
			l->ws = &l->w->base;
		if (recover(l, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "ledger %s: %s", name, msg);
			goto fail;
		}
		int signed_now = 0;
		if (l->frontier.size > l->cp_size) {
			lmsg(l, "info",
			     "signing %" PRIu64 " entries left after checkpoint %" PRIu64,
			     l->frontier.size - l->cp_size, l->cp_size);
			if ((signed_now = sign_checkpoint(l)) < 0) {
				snprintf(err, errlen,
				         "ledger %s: cannot sign a checkpoint of size %" PRIu64,
				         name, l->frontier.size);
				goto fail;
			}
			signed_now = signed_now == 0; /* 1: held back by the witness hook */
		}
		if (!signed_now) {
			l->h_cp_size = l->cp_size;
			l->h_cp_ms = checkpoint_time(l);
		}
		l->h_size = l->frontier.size;
		/* the search index is the file's; a PostgreSQL ledger's searches read the leaves */
		if (!pg &&
		    (l->index = ledger_index_start(p->path, l->log, msg, sizeof(msg))) == NULL) {
			snprintf(err, errlen, "ledger %s: search index: %s", p->path, msg);
			goto fail;
		}
	}

	if (p->read_only) {
		/* The ledger's schema and origin, before its statements are prepared. */
		if ((l->origin = ledger_pool_origin(p->path, p->origin, msg, sizeof(msg))) ==
		    NULL) {
			snprintf(err, errlen, "ledger %s: %s", name, msg);
			goto fail;
		}
	}
	if ((l->readers = ledger_pool_open(p->path, p->readers ? p->readers : LEDGER_READERS, msg,
	                                   sizeof(msg))) == NULL) {
		snprintf(err, errlen, "ledger %s: %s", name, msg);
		goto fail;
	}

	/* the file's WAL is copied back by a checkpointer of its own (PostgreSQL has its own) */
	if (!p->read_only && l->w != NULL) {
		if ((l->ck = ledger_conn_open(p->path, true, msg, sizeof(msg))) == NULL ||
		    ledger_db_exec(l->ck->db, "PRAGMA synchronous=FULL", msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "ledger %s: %s", p->path, msg);
			goto fail;
		}
		sqlite3_wal_hook(l->w->db, wal_hook, l);
		if (pthread_create(&l->ckpt_thread, NULL, ckpt_main, l) != 0) {
			snprintf(err, errlen, "ledger: cannot start the checkpointer thread");
			goto fail;
		}
		l->ckpt_started = 1;
	}
	if (!p->read_only) {
		if (pthread_create(&l->thread, NULL, writer_main, l) != 0) {
			snprintf(err, errlen, "ledger: cannot start the writer thread");
			goto fail;
		}
		l->started = 1;
		if (append_admin(l, "gateway_start", p->version) != LEDGER_OK) {
			snprintf(err, errlen, "ledger %s: cannot write the gateway_start entry: %s",
			         name, l->ws->ops->errmsg(l->ws));
			goto fail;
		}
	}
	free(vkey);
	return l;
fail:
	pthread_mutex_lock(&l->lock);
	l->stop = 1;
	pthread_cond_signal(&l->work_cv);
	pthread_cond_signal(&l->ckpt_cv);
	pthread_mutex_unlock(&l->lock);
	if (l->started)
		pthread_join(l->thread, NULL);
	if (l->ckpt_started)
		pthread_join(l->ckpt_thread, NULL);
	free(vkey);
	ledger_free(l);
	return NULL;
}

int
ledger_close(struct ledger *l)
{
	int rc = 0;

	if (l == NULL)
		return 0;
	if (!l->read_only) {
		if (append_admin(l, "gateway_stop", NULL) != LEDGER_OK)
			rc = LEDGER_EIO;
		pthread_mutex_lock(&l->lock);
		l->stop = 1;
		pthread_cond_signal(&l->work_cv);
		pthread_cond_signal(&l->ckpt_cv);
		pthread_mutex_unlock(&l->lock);
		pthread_join(l->thread, NULL);
		if (l->ckpt_started)
			pthread_join(l->ckpt_thread, NULL);
		/* The writer is gone: the final checkpoint is signed here, on its connection. */
		if (l->frontier.size > l->cp_size && (l->broken || sign_checkpoint(l) < 0))
			rc = LEDGER_EIO;
		lmsg(l, rc == 0 ? "info" : "error",
		     "closed at size %" PRIu64 ", checkpoint %" PRIu64 ": %" PRIu64
		     " entries in %" PRIu64 " commits, %" PRIu64 " failed commits, %" PRIu64
		     " checkpoints",
		     l->frontier.size, l->cp_size, l->stats.entries, l->stats.commits,
		     l->stats.failed, l->stats.checkpoints);
	}
	ledger_free(l);
	return rc;
}
