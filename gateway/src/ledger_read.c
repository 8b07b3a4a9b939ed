/* ledger_read — reading the ledger: sizes, checkpoints, leaves, proofs, searches, verification. */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cal.h"
#include "ledger_db.h"
#include "ledger_pool.h"
#include "ledger_read.h"
#include "strtab.h"

#define SEARCH_MAX 10000

int
ledger_size(struct ledger *l, uint64_t *size)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *c = ledger_pool_get(pool);
	int rc = c->ops->size(c, size);

	ledger_pool_put(pool, c);
	return rc;
}

int
ledger_checkpoint(struct ledger *l, uint64_t size, char **note, size_t *len, uint64_t *cp_size)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *c = ledger_pool_get(pool);
	int rc = c->ops->checkpoint(c, size, cp_size, note, len, NULL);

	ledger_pool_put(pool, c);
	return rc;
}

int
ledger_leaves(struct ledger *l, uint64_t start, uint64_t end,
              int (*fn)(void *arg, uint64_t index, const char *leaf, size_t len), void *arg)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *c = ledger_pool_get(pool);
	uint64_t size;
	int rc;

	if ((rc = c->ops->size(c, &size)) < 0)
		goto done;
	if (start > end || end > size) {
		rc = LEDGER_ERANGE;
		goto done;
	}
	for (uint64_t i = start; i < end; i++) {
		const char *leaf;
		size_t len;
		if ((rc = ledger_store_leaf(c, i, &leaf, &len)) != 0) {
			rc = rc == LEDGER_ENOMEM ? rc : LEDGER_EIO;
			break;
		}
		if (fn(arg, i, leaf, len) != 0) {
			rc = LEDGER_EINVAL;
			break;
		}
	}
done:
	ledger_pool_put(pool, c);
	return rc;
}

static int
merkle_to_ledger(int m)
{
	switch (m) {
	case MERKLE_OK:
		return LEDGER_OK;
	case MERKLE_ERANGE:
		return LEDGER_ERANGE;
	default:
		return LEDGER_EIO;
	}
}

int
ledger_inclusion(struct ledger *l, uint64_t index, uint64_t size,
                 uint8_t leaf_hash[MERKLE_HASH_LEN],
                 uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN], size_t *n)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *c = ledger_pool_get(pool);
	struct merkle_store s = ledger_store_tree(c);
	uint64_t have;
	int rc;

	/* Append-only: whatever size was committed when it is read stays valid for the proof. */
	if ((rc = c->ops->size(c, &have)) == 0) {
		if (index >= size || size > have)
			rc = LEDGER_ERANGE;
		else if (s.leaf_hash(s.ctx, index, leaf_hash) < 0)
			rc = LEDGER_EIO;
		else
			rc = merkle_to_ledger(
			    merkle_inclusion_proof(&s, index, size, proof, MERKLE_MAX_PROOF, n));
	}
	ledger_pool_put(pool, c);
	return rc;
}

int
ledger_consistency(struct ledger *l, uint64_t old, uint64_t new,
                   uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN], size_t *n)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *c = ledger_pool_get(pool);
	struct merkle_store s = ledger_store_tree(c);
	uint64_t have;
	int rc;

	if ((rc = c->ops->size(c, &have)) == 0) {
		if (old == 0 || old > new || new > have)
			rc = LEDGER_ERANGE;
		else
			rc = merkle_to_ledger(
			    merkle_consistency_proof(&s, old, new, proof, MERKLE_MAX_PROOF, n));
	}
	ledger_pool_put(pool, c);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Walks, counts and searches: the index for what it covers, the batches for the rest. */

/*
 * The entries a filter can match: [*lo, *hi), its time range turned into an index range, and
 * *upto, how far the search index reaches (read first: ledger_conn_indexed). Entries below
 * upto are found through the index, the others (the tail the follower has not indexed yet,
 * or everything without an index) by reading their leaves: a search is exact either way.
 */
static int
filter_range(struct ledger_store *c, const struct ledger_filter *f, uint64_t *lo, uint64_t *hi,
             uint64_t *upto)
{
	uint64_t size, t;
	int rc;

	if (f->kind < -1 || f->kind > LEDGER_ADMIN || f->from_ms < 0 || f->to_ms < 0)
		return LEDGER_EINVAL;
	*upto = ledger_conn_of(c) != NULL ? ledger_conn_indexed(ledger_conn_of(c)) : 0;
	if ((rc = c->ops->size(c, &size)) < 0)
		return rc;
	*upto = *upto < size ? *upto : size;
	*lo = f->start;
	*hi = f->end < size ? f->end : size;
	if (f->from_ms > 0) {
		if ((rc = ledger_store_bisect(c, size, f->from_ms, &t)) < 0)
			return rc;
		*lo = t > *lo ? t : *lo;
	}
	if (f->to_ms > 0) {
		if ((rc = ledger_store_bisect(c, size, f->to_ms, &t)) < 0)
			return rc;
		*hi = t < *hi ? t : *hi;
	}
	if (*lo > *hi)
		*lo = *hi;
	return 0;
}

static bool
narrowed(const struct ledger_filter *f)
{
	return f->partner || f->subject || f->purpose || f->kind >= 0;
}

static bool
same(const char *member, const char *want)
{
	return want == NULL || (member != NULL && strcmp(member, want) == 0);
}

static bool
matches(const struct ledger_leaf *leaf, const struct ledger_filter *f)
{
	return same(leaf->e.partner, f->partner) && same(leaf->e.subject, f->subject) &&
	       same(leaf->e.purpose, f->purpose) && (f->kind < 0 || (int)leaf->e.kind == f->kind);
}

/*
 * *st = "SELECT <cols> FROM ix.rows WHERE idx in [lo, hi) AND <f> ORDER BY idx [DESC]
 * [LIMIT limit]". Only the fields given appear, so that SQLite picks the index of the
 * rarest; the kind index is kept out whenever another is given (+kind), since it would walk
 * most of the range.
 */
static int
ix_prepare(struct ledger_store *c, const struct ledger_filter *f, uint64_t lo, uint64_t hi,
           const char *cols, bool desc, uint64_t limit, sqlite3_stmt **st)
{
	bool narrow = f->partner || f->subject || f->purpose;
	char sql[512];

	if (limit > INT64_MAX)
		return LEDGER_EINVAL;
	snprintf(sql, sizeof(sql),
	         "SELECT %s FROM ix.rows WHERE idx >= ?1 AND idx < ?2%s%s%s%s ORDER BY idx%s%s",
	         cols, f->partner ? " AND partner = ?3" : "", f->subject ? " AND subject = ?4" : "",
	         f->purpose ? " AND purpose = ?5" : "",
	         f->kind < 0 ? ""
	         : narrow    ? " AND +kind = ?6"
	                     : " AND kind = ?6",
	         desc ? " DESC" : "", limit ? " LIMIT ?7" : "");
	/* only a SQLite ledger has an index, and only below upto, which is 0 without one */
	assert(ledger_conn_of(c) != NULL);
	if (sqlite3_prepare_v2(ledger_conn_of(c)->db, sql, -1, st, NULL) != SQLITE_OK)
		return LEDGER_EIO;
	sqlite3_bind_int64(*st, 1, (sqlite3_int64)lo);
	sqlite3_bind_int64(*st, 2, (sqlite3_int64)hi);
	if (f->partner)
		sqlite3_bind_text(*st, 3, f->partner, -1, SQLITE_STATIC);
	if (f->subject)
		sqlite3_bind_text(*st, 4, f->subject, -1, SQLITE_STATIC);
	if (f->purpose)
		sqlite3_bind_text(*st, 5, f->purpose, -1, SQLITE_STATIC);
	if (f->kind >= 0)
		sqlite3_bind_text(*st, 6, ledger_kind_name((enum ledger_kind)f->kind), -1,
		                  SQLITE_STATIC);
	if (limit)
		sqlite3_bind_int64(*st, 7, (sqlite3_int64)limit);
	return 0;
}

/* What a walk hands each matching entry: 0 to go on, 1 to stop, or an error. */
typedef int (*visit_fn)(void *arg, uint64_t index, const char *text, size_t len,
                        const struct ledger_leaf *leaf);

/* Entry i, parsed into leaf; checked to say its index. *hit: it matches f. */
static int
read_entry(struct ledger_store *c, uint64_t i, const struct ledger_filter *f,
           struct ledger_leaf *leaf, const char **text, size_t *len, bool *hit)
{
	int rc = ledger_store_leaf(c, i, text, len);

	if (rc != 0)
		return rc == LEDGER_ENOMEM ? rc : LEDGER_EIO;
	if (ledger_leaf_parse(*text, *len, leaf) < 0 || leaf->index != i)
		return LEDGER_EIO;
	*hit = matches(leaf, f);
	return 0;
}

/* Reads the entries [a, b) in the given order and visits those matching f. */
static int
walk_leaves(struct ledger_store *c, const struct ledger_filter *f, uint64_t a, uint64_t b,
            bool desc, struct ledger_leaf *leaf, visit_fn visit, void *arg)
{
	for (uint64_t k = 0; k < b - a; k++) {
		uint64_t i = desc ? b - 1 - k : a + k;
		const char *text;
		size_t len;
		bool hit;
		int rc = read_entry(c, i, f, leaf, &text, &len, &hit);
		if (rc == 0 && hit)
			rc = visit(arg, i, text, len, leaf);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Visits the entries of [a, b) the index names for f, at most limit (0: all). An entry the
 * index names that does not match is a damaged index: an error, never a wrong answer. */
static int
walk_index(struct ledger_store *c, const struct ledger_filter *f, uint64_t a, uint64_t b, bool desc,
           uint64_t limit, struct ledger_leaf *leaf, visit_fn visit, void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc, s;

	if (a >= b)
		return 0;
	if ((rc = ix_prepare(c, f, a, b, "idx", desc, limit, &st)) != 0)
		return rc;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *text;
		size_t len;
		bool hit;
		if ((rc = read_entry(c, (uint64_t)sqlite3_column_int64(st, 0), f, leaf, &text, &len,
		                     &hit)) == 0)
			rc = hit ? visit(arg, leaf->index, text, len, leaf) : LEDGER_EIO;
		if (rc != 0)
			break;
	}
	if (rc == 0 && s != SQLITE_DONE)
		rc = LEDGER_EIO;
	sqlite3_finalize(st);
	return rc;
}

/* Visits the entries matching f in index order (desc: newest first), at most limit (0: all;
 * visit may stop earlier by returning 1). */
static int
walk(struct ledger_store *c, const struct ledger_filter *f, bool desc, uint64_t limit,
     visit_fn visit, void *arg)
{
	struct ledger_leaf *leaf = malloc(sizeof(*leaf));
	uint64_t lo, hi, upto, mid;
	int rc;

	if (leaf == NULL)
		return LEDGER_ENOMEM;
	if ((rc = filter_range(c, f, &lo, &hi, &upto)) != 0)
		goto done;
	/* [lo, mid) through the index, [mid, hi) through the leaves; without a field to match,
	 * every entry of the range is one, and the leaves are read in order */
	mid = !narrowed(f) ? lo : upto < lo ? lo : upto > hi ? hi : upto;
	if (desc) {
		if ((rc = walk_leaves(c, f, mid, hi, true, leaf, visit, arg)) == 0)
			rc = walk_index(c, f, lo, mid, true, limit, leaf, visit, arg);
	} else {
		if ((rc = walk_index(c, f, lo, mid, false, limit, leaf, visit, arg)) == 0)
			rc = walk_leaves(c, f, mid, hi, false, leaf, visit, arg);
	}
done:
	free(leaf);
	return rc == 1 ? 0 : rc;
}

/* ledger_each's walk: fn for each of the first limit entries, then the next one's index. */
struct each {
	int (*fn)(void *arg, const struct ledger_leaf *leaf);
	void *arg;
	uint64_t limit, given, *next;
};

static int
each_visit(void *arg, uint64_t index, const char *text, size_t len, const struct ledger_leaf *leaf)
{
	struct each *e = arg;

	(void)text, (void)len;
	if (e->limit && e->given == e->limit) {
		if (e->next != NULL)
			*e->next = index;
		return 1;
	}
	e->given++;
	return e->fn(e->arg, leaf) != 0 ? LEDGER_EINVAL : 0;
}

int
ledger_each(struct ledger *l, const struct ledger_filter *f, uint64_t limit,
            int (*fn)(void *arg, const struct ledger_leaf *leaf), void *arg, uint64_t *next)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *c = ledger_pool_get(pool);
	struct each e = {fn, arg, limit, 0, next};
	int rc;

	if (next != NULL)
		*next = UINT64_MAX;
	/* One more than the limit: whether the limit left any out. */
	rc = limit > INT64_MAX ? LEDGER_EINVAL
	                       : walk(c, f, false, limit ? limit + 1 : 0, each_visit, &e);
	ledger_pool_put(pool, c);
	return rc;
}

static int
count_visit(void *arg, uint64_t index, const char *text, size_t len, const struct ledger_leaf *leaf)
{
	(void)index, (void)text, (void)len, (void)leaf;
	(*(uint64_t *)arg)++;
	return 0;
}

int
ledger_count(struct ledger *l, const struct ledger_filter *f, uint64_t *count)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *c = ledger_pool_get(pool);
	struct ledger_leaf *leaf = NULL;
	sqlite3_stmt *st = NULL;
	uint64_t lo, hi, upto, mid, tail = 0;
	int rc;

	*count = 0;
	if ((rc = filter_range(c, f, &lo, &hi, &upto)) != 0)
		goto done;
	if (!narrowed(f)) {
		*count = hi - lo;
		goto done;
	}
	mid = upto < lo ? lo : upto > hi ? hi : upto;
	if (lo < mid) {
		if ((rc = ix_prepare(c, f, lo, mid, "count(*)", false, 0, &st)) != 0)
			goto done;
		if (sqlite3_step(st) != SQLITE_ROW) {
			rc = LEDGER_EIO;
			goto done;
		}
		*count = (uint64_t)sqlite3_column_int64(st, 0);
	}
	if ((leaf = malloc(sizeof(*leaf))) == NULL) {
		rc = LEDGER_ENOMEM;
		goto done;
	}
	if ((rc = walk_leaves(c, f, mid, hi, false, leaf, count_visit, &tail)) == 0)
		*count += tail;
done:
	if (rc != 0)
		*count = 0;
	free(leaf);
	sqlite3_finalize(st);
	ledger_pool_put(pool, c);
	return rc;
}

void
ledger_hits_free(struct ledger_hit *hits, size_t n)
{
	if (hits == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(hits[i].leaf);
	free(hits);
}

/* ledger_search's walk: copies of the hits, newest first, up to the limit. */
struct hits {
	struct ledger_hit *h;
	size_t k, limit;
};

static int
hit_visit(void *arg, uint64_t index, const char *text, size_t len, const struct ledger_leaf *leaf)
{
	struct hits *s = arg;

	(void)leaf;
	if (s->k == s->limit)
		return 1;
	if ((s->h[s->k].leaf = strndup(text, len)) == NULL)
		return LEDGER_ENOMEM;
	s->h[s->k].index = index;
	s->h[s->k].len = len;
	s->k++;
	return s->k == s->limit ? 1 : 0;
}

int
ledger_search(struct ledger *l, const struct ledger_query *q, struct ledger_hit **hits, size_t *n)
{
	struct ledger_filter f = {
	    .partner = q->partner,
	    .subject = q->subject,
	    .purpose = q->purpose,
	    .kind = q->kind,
	    .from_ms = q->from_ms,
	    .to_ms = q->to_ms,
	    .end = q->after,
	};
	struct ledger_pool *pool;
	struct ledger_store *c;
	struct hits s = {NULL, 0, q->limit};
	int rc;

	*hits = NULL;
	*n = 0;
	if (q->limit == 0 || q->limit > SEARCH_MAX)
		return LEDGER_EINVAL;
	if ((s.h = calloc(q->limit, sizeof(*s.h))) == NULL)
		return LEDGER_ENOMEM;
	pool = ledger_pool_of(l);
	c = ledger_pool_get(pool);
	rc = walk(c, &f, true, q->limit, hit_visit, &s);
	ledger_pool_put(pool, c);
	if (rc != 0) {
		ledger_hits_free(s.h, s.k);
		return rc;
	}
	if (s.k == 0) {
		free(s.h);
		s.h = NULL;
	}
	*hits = s.h;
	*n = s.k;
	return 0;
}

/* ledger_day_releases's counts by contract, from the index and the leaves. */
struct day {
	struct strlist contracts;
	uint64_t *count; /* [contracts.n] */
	size_t cap;
};

static int
day_add(struct day *d, const char *contract, uint64_t n)
{
	int64_t k = strlist_intern(&d->contracts, contract);

	if (k < 0)
		return LEDGER_ENOMEM;
	if ((size_t)k >= d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 16;
		uint64_t *c = realloc(d->count, cap * sizeof(*c));
		if (c == NULL)
			return LEDGER_ENOMEM;
		memset(c + d->cap, 0, (cap - d->cap) * sizeof(*c));
		d->count = c;
		d->cap = cap;
	}
	d->count[k] += n;
	return 0;
}

static int
day_visit(void *arg, uint64_t index, const char *text, size_t len, const struct ledger_leaf *leaf)
{
	(void)index, (void)text, (void)len;
	return leaf->e.contract != NULL ? day_add(arg, leaf->e.contract, 1) : 0;
}

static int
day_row(void *arg, const char *contract, uint64_t records)
{
	return day_add(arg, contract, records);
}

int
ledger_day_releases(struct ledger *l, int64_t now,
                    void (*fn)(void *arg, const char *contract, uint64_t count), void *arg)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *c = ledger_pool_get(pool);
	struct ledger_filter f = {.kind = LEDGER_RELEASE, .end = UINT64_MAX};
	struct ledger_leaf *leaf = malloc(sizeof(*leaf));
	int64_t start = cal_jst_day_start(cal_jst_day(now));
	sqlite3_stmt *st = ledger_conn_of(c) != NULL ? ledger_conn_of(c)->ix[LEDGER_IX_DAY] : NULL;
	struct day d = {0};
	uint64_t lo, hi, upto, mid;
	int rc;

	f.from_ms = start;
	f.to_ms = start + CAL_DAY_MS;
	if (leaf == NULL) {
		rc = LEDGER_ENOMEM;
		goto done;
	}
	/* a store several nodes share counts the day's volumes itself, as its commits keep them */
	if (c->ops->volume_day != NULL) {
		rc = c->ops->volume_day(c, cal_jst_day(now), day_row, &d);
		goto counted;
	}
	if ((rc = filter_range(c, &f, &lo, &hi, &upto)) != 0)
		goto done;
	mid = upto < lo ? lo : upto > hi ? hi : upto;
	if (lo < mid) {
		assert(st != NULL);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)lo);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)mid);
		int s;
		while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
			const char *contract = (const char *)sqlite3_column_text(st, 0);
			if (contract != NULL)
				rc = day_add(&d, contract, (uint64_t)sqlite3_column_int64(st, 1));
		}
		if (rc == 0 && s != SQLITE_DONE)
			rc = LEDGER_EIO;
		ledger_st_done(st);
		if (rc != 0)
			goto done;
	}
	rc = walk_leaves(c, &f, mid, hi, false, leaf, day_visit, &d);
counted:
	for (size_t k = 0; rc == 0 && k < d.contracts.n; k++)
		fn(arg, d.contracts.v[k], d.count[k]);
done:
	free(leaf);
	strlist_free(&d.contracts);
	free(d.count);
	ledger_pool_put(pool, c);
	return rc;
}

int
ledger_verify(struct ledger *l, struct note_verifier *v, int64_t now_ms, int64_t grace_ms,
              struct ledger_verdict *out)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *c = ledger_pool_get(pool);
	int rc;

	memset(out, 0, sizeof(*out));
	/* One read transaction: a running gateway's later commits stay out of this snapshot. */
	if (c->ops->snapshot_begin(c) != 0) {
		snprintf(out->problem, sizeof(out->problem), "%s", c->ops->errmsg(c));
		rc = LEDGER_EIO;
	} else {
		rc = ledger_verify_store(c, v, now_ms, grace_ms, NULL, out);
		c->ops->snapshot_end(c);
	}
	ledger_pool_put(pool, c);
	return rc;
}
