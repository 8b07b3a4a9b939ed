/* metrics — the daemon's counters and histograms, counted without a lock, and their text. */
#include <inttypes.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

#define MAX_SHARDS 64
#define CODE_MIN 100 /* HTTP statuses counted: CODE_MIN .. CODE_MIN + CODES - 1 */
#define CODES 500
#define MAX_BOUNDS 14

/* A histogram's counts: bucket i counts the values <= bounds[i] (and > bounds[i-1]); the
 * last one those above every bound. Cumulated only when written. */
struct hist {
	_Atomic uint64_t bucket[MAX_BOUNDS + 1];
	_Atomic uint64_t sum;
};

/* A histogram's fixed shape. Bounds and the sum are in the unit counted (microseconds,
 * entries); divided by per, they are in the family's unit (seconds). */
struct hist_def {
	const char *name, *help;
	uint64_t bounds[MAX_BOUNDS];
	size_t n;
	double per;
};

static const struct hist_def request_hist = {
    "pdgate_request_duration_seconds",
    "Time from a request's first line to its answer, by listener (the ledger commit included).",
    {500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
     10000000},
    14,
    1e6};
static const struct hist_def commit_hist = {
    "pdgate_ledger_commit_duration_seconds",
    "Time of one group commit of the ledger (transaction and fsync).",
    {100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
     2500000},
    14,
    1e6};
static const struct hist_def entries_hist = {
    "pdgate_ledger_commit_entries",
    "Entries per group commit of the ledger.",
    {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096},
    13,
    1};

/* The results of a request to the origin (label result), by enum apierr. */
enum origin_result { OR_OK, OR_NOT_FOUND, OR_ERROR, OR_TIMEOUT, OR_INVALID, OR_COUNT };
static const char *const origin_results[OR_COUNT] = {"ok", "not_found", "error", "timeout",
                                                     "invalid"};
static const char *const listeners[METRICS_LISTENERS] = {"partner", "compliance", "status"};
static const char *const kinds[METRICS_KINDS] = {"release", "deny", "unrecorded"};

/* Every counter, once per shard. Aligned so that no two shards share a cache line. */
struct shard {
	alignas(64) _Atomic uint64_t requests[METRICS_LISTENERS][CODES];
	struct hist duration[METRICS_LISTENERS];
	_Atomic int64_t connections[METRICS_LISTENERS]; /* a shard's own may go negative */
	_Atomic uint64_t decisions[METRICS_KINDS][APIERR_COUNT];
	_Atomic uint64_t origin[OR_COUNT];
	struct hist commit_duration, commit_entries;
	_Atomic uint64_t commit_failures;
};

struct metrics {
	unsigned nshards;
	struct shard *shards;
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));
	long cores = sysconf(_SC_NPROCESSORS_CONF);

	if (m == NULL)
		return NULL;
	m->nshards = cores < 1 ? 1 : cores > MAX_SHARDS ? MAX_SHARDS : (unsigned)cores;
	m->shards = aligned_alloc(alignof(struct shard), m->nshards * sizeof(struct shard));
	if (m->shards == NULL) {
		free(m);
		return NULL;
	}
	/* all-bits-zero is a zero for every atomic integer type of the platforms we build on */
	memset(m->shards, 0, m->nshards * sizeof(struct shard));
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	free(m->shards);
	free(m);
}

enum metrics_listener
metrics_listener_named(const char *name)
{
	for (int i = 0; i < METRICS_LISTENERS; i++)
		if (name != NULL && strcmp(name, listeners[i]) == 0)
			return (enum metrics_listener)i;
	return METRICS_LISTENERS;
}

/* The calling thread's shard: the core it runs on (a thread moved meanwhile only costs a
 * shared cache line, never a wrong count). */
static struct shard *
shard(struct metrics *m)
{
	int cpu = sched_getcpu();

	return &m->shards[cpu > 0 ? (unsigned)cpu % m->nshards : 0];
}

static void
add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void
observe(struct hist *h, const struct hist_def *d, uint64_t v)
{
	size_t i = 0;

	while (i < d->n && v > d->bounds[i])
		i++;
	add(&h->bucket[i], 1);
	add(&h->sum, v);
}

void
metrics_request(struct metrics *m, enum metrics_listener l, unsigned status, uint64_t duration_us)
{
	if (m == NULL || (unsigned)l >= METRICS_LISTENERS || status < CODE_MIN ||
	    status >= CODE_MIN + CODES)
		return;
	struct shard *s = shard(m);
	add(&s->requests[l][status - CODE_MIN], 1);
	observe(&s->duration[l], &request_hist, duration_us);
}

void
metrics_connection(struct metrics *m, enum metrics_listener l, int delta)
{
	if (m == NULL || (unsigned)l >= METRICS_LISTENERS)
		return;
	atomic_fetch_add_explicit(&shard(m)->connections[l], delta, memory_order_relaxed);
}

void
metrics_decision(struct metrics *m, enum metrics_kind kind, enum apierr reason, uint64_t n)
{
	if (m == NULL || (unsigned)kind >= METRICS_KINDS || (unsigned)reason >= APIERR_COUNT ||
	    n == 0)
		return;
	add(&shard(m)->decisions[kind][reason], n);
}

void
metrics_origin(struct metrics *m, enum apierr result)
{
	enum origin_result r;

	if (m == NULL)
		return;
	switch (result) {
	case APIERR_NONE:
		r = OR_OK;
		break;
	case APIERR_MEMBER_NOT_FOUND:
		r = OR_NOT_FOUND;
		break;
	case APIERR_ORIGIN_TIMEOUT:
		r = OR_TIMEOUT;
		break;
	case APIERR_ORIGIN_INVALID:
		r = OR_INVALID;
		break;
	default:
		r = OR_ERROR;
		break;
	}
	add(&shard(m)->origin[r], 1);
}

void
metrics_ledger_commit(struct metrics *m, uint64_t duration_us, uint64_t entries, bool ok)
{
	if (m == NULL)
		return;
	struct shard *s = shard(m);
	if (!ok) {
		add(&s->commit_failures, 1);
		return;
	}
	observe(&s->commit_duration, &commit_hist, duration_us);
	observe(&s->commit_entries, &entries_hist, entries);
}

/* ---- The text exposition format 0.0.4 ---- */

/* A label value or HELP text, escaped: \ and line feed always, " in label values. */
static void
write_escaped(struct buf *out, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_str(out, "\\\\");
		else if (*s == '\n')
			buf_str(out, "\\n");
		else if (*s == '"' && quote)
			buf_str(out, "\\\"");
		else
			buf_add(out, s, 1);
	}
}

void
metrics_write_family(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_printf(out, "# HELP %s ", name);
	write_escaped(out, help, false);
	buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

static void
write_value(struct buf *out, double v)
{
	/* integers up to 2^53 exactly, without an exponent; fractions with 15 digits */
	if (v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v)
		buf_printf(out, " %" PRId64 "\n", (int64_t)v);
	else
		buf_printf(out, " %.15g\n", v);
}

/* name{k1="v1",k2="v2"} with up to two labels (a NULL key ends the list). */
static void
write_name(struct buf *out, const char *name, const char *k1, const char *v1, const char *k2,
           const char *v2)
{
	buf_str(out, name);
	if (k1 == NULL)
		return;
	buf_printf(out, "{%s=\"", k1);
	write_escaped(out, v1, true);
	if (k2 != NULL) {
		buf_printf(out, "\",%s=\"", k2);
		write_escaped(out, v2, true);
	}
	buf_str(out, "\"}");
}

void
metrics_write_sample(struct buf *out, const char *name, const char *label, const char *value,
                     double v)
{
	write_name(out, name, label, value, NULL, NULL);
	write_value(out, v);
}

static void
write_u64(struct buf *out, const char *name, const char *k1, const char *v1, const char *k2,
          const char *v2, uint64_t v)
{
	write_name(out, name, k1, v1, k2, v2);
	buf_printf(out, " %" PRIu64 "\n", v);
}

/* The sum over the shards of the counter at byte offset off of struct shard. */
static uint64_t
total(const struct metrics *m, size_t off)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < m->nshards; i++)
		n += atomic_load_explicit((_Atomic uint64_t *)((char *)&m->shards[i] + off),
		                          memory_order_relaxed);
	return n;
}

/* The same, for a member of struct shard named as in m->shards[0].member. */
#define OFFSET(m, member)                                                                          \
	((size_t)((const char *)&(m)->shards[0].member - (const char *)(m)->shards))
#define TOTAL(m, member) total(m, OFFSET(m, member))

/* One histogram's samples: cumulative buckets, then _sum and _count. label may be NULL. */
static void
write_hist(struct buf *out, const struct metrics *m, const struct hist_def *d, size_t off,
           const char *label, const char *value)
{
	char name[96], le[32];
	uint64_t cum = 0;

	snprintf(name, sizeof(name), "%s_bucket", d->name);
	for (size_t i = 0; i <= d->n; i++) {
		cum += total(m, off + offsetof(struct hist, bucket) + i * sizeof(_Atomic uint64_t));
		if (i < d->n)
			snprintf(le, sizeof(le), "%.15g", (double)d->bounds[i] / d->per);
		else
			snprintf(le, sizeof(le), "+Inf");
		if (label != NULL)
			write_u64(out, name, label, value, "le", le, cum);
		else
			write_u64(out, name, "le", le, NULL, NULL, cum);
	}
	snprintf(name, sizeof(name), "%s_sum", d->name);
	write_name(out, name, label, value, NULL, NULL);
	write_value(out, (double)total(m, off + offsetof(struct hist, sum)) / d->per);
	snprintf(name, sizeof(name), "%s_count", d->name);
	write_u64(out, name, label, value, NULL, NULL, cum);
}

void
metrics_write(const struct metrics *m, struct buf *out)
{
	char code[8];

	metrics_write_family(
	    out, "pdgate_requests_total", "counter",
	    "Requests answered, by listener and HTTP status (statuses seen so far).");
	for (int l = 0; l < METRICS_LISTENERS; l++)
		for (int c = 0; c < CODES; c++) {
			uint64_t n = TOTAL(m, requests[l][c]);
			if (n == 0)
				continue;
			snprintf(code, sizeof(code), "%d", CODE_MIN + c);
			write_u64(out, "pdgate_requests_total", "listener", listeners[l], "code",
			          code, n);
		}
	metrics_write_family(out, request_hist.name, "histogram", request_hist.help);
	for (int l = 0; l < METRICS_LISTENERS; l++)
		write_hist(out, m, &request_hist, OFFSET(m, duration[l]), "listener", listeners[l]);
	metrics_write_family(out, "pdgate_connections", "gauge",
	                     "Connections open, by listener (the handshake included).");
	for (int l = 0; l < METRICS_LISTENERS; l++) {
		int64_t n = 0;
		for (unsigned i = 0; i < m->nshards; i++)
			n += atomic_load_explicit(&m->shards[i].connections[l],
			                          memory_order_relaxed);
		metrics_write_sample(out, "pdgate_connections", "listener", listeners[l],
		                     (double)(n > 0 ? n : 0));
	}

	metrics_write_family(
	    out, "pdgate_decisions_total", "counter",
	    "Decisions of the partner API, one per ledger entry (a page counts each "
	    "member), by kind and reason (the error code; empty for a release).");
	write_u64(out, "pdgate_decisions_total", "kind", kinds[METRICS_RELEASE], "reason", "",
	          TOTAL(m, decisions[METRICS_RELEASE][APIERR_NONE]));
	for (int k = METRICS_DENY; k < METRICS_KINDS; k++)
		for (int e = APIERR_NONE + 1; e < APIERR_COUNT; e++)
			write_u64(out, "pdgate_decisions_total", "kind", kinds[k], "reason",
			          apierr_code((enum apierr)e), TOTAL(m, decisions[k][e]));

	metrics_write_family(out, "pdgate_origin_requests_total", "counter",
	                     "Requests to the origin (a member or a page), by result.");
	for (int r = 0; r < OR_COUNT; r++)
		write_u64(out, "pdgate_origin_requests_total", "result", origin_results[r], NULL,
		          NULL, TOTAL(m, origin[r]));

	metrics_write_family(out, commit_hist.name, "histogram", commit_hist.help);
	write_hist(out, m, &commit_hist, OFFSET(m, commit_duration), NULL, NULL);
	metrics_write_family(out, entries_hist.name, "histogram", entries_hist.help);
	write_hist(out, m, &entries_hist, OFFSET(m, commit_entries), NULL, NULL);
	metrics_write_family(out, "pdgate_ledger_commit_failures_total", "counter",
	                     "Group commits of the ledger that failed (their requests got 503 "
	                     "ledger_unavailable).");
	write_u64(out, "pdgate_ledger_commit_failures_total", NULL, NULL, NULL, NULL,
	          TOTAL(m, commit_failures));
}
