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
#include "ledger_read.h"

#define SEARCH_MAX 10000

int
ledger_size(struct ledger *l, uint64_t *size)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_conn *c = ledger_pool_get(pool);
	int rc = ledger_conn_size(c, size);

	ledger_pool_put(pool, c);
	return rc;
}

int
ledger_checkpoint(struct ledger *l, uint64_t size, char **note, size_t *len, uint64_t *cp_size)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_conn *c = ledger_pool_get(pool);
	int rc = ledger_conn_checkpoint(c, size, cp_size, note, len);

	ledger_pool_put(pool, c);
	return rc;
}

int
ledger_leaves(struct ledger *l, uint64_t start, uint64_t end,
              int (*fn)(void *arg, uint64_t index, const char *leaf, size_t len), void *arg)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_conn *c = ledger_pool_get(pool);
	sqlite3_stmt *st = c->st[LEDGER_ST_LEAVES];
	uint64_t size, i = start;
	int rc;

	if ((rc = ledger_conn_size(c, &size)) < 0)
		goto done;
	if (start > end || end > size) {
		rc = LEDGER_ERANGE;
		goto done;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)start);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)end);
	while (i < end) {
		if (sqlite3_step(st) != SQLITE_ROW || (uint64_t)sqlite3_column_int64(st, 0) != i) {
			rc = LEDGER_EIO;
			break;
		}
		const char *leaf = (const char *)sqlite3_column_text(st, 1);
		if (leaf == NULL) {
			rc = LEDGER_EIO;
			break;
		}
		if (fn(arg, i, leaf, (size_t)sqlite3_column_bytes(st, 1)) != 0) {
			rc = LEDGER_EINVAL;
			break;
		}
		i++;
	}
	ledger_st_done(st);
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
	struct ledger_conn *c = ledger_pool_get(pool);
	struct merkle_store s = ledger_conn_store(c);
	uint64_t have;
	int rc;

	/* Append-only: whatever size was committed when it is read stays valid for the proof. */
	if ((rc = ledger_conn_size(c, &have)) == 0) {
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
	struct ledger_conn *c = ledger_pool_get(pool);
	struct merkle_store s = ledger_conn_store(c);
	uint64_t have;
	int rc;

	if ((rc = ledger_conn_size(c, &have)) == 0) {
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
/* Walks, counts and searches: one statement built from a filter. */

/*
 * *st = "SELECT <cols> FROM entries WHERE <f> ORDER BY idx [DESC] [LIMIT limit]", with f's
 * time range turned into an index range; *st stays NULL when no entry can match. Only the
 * fields given appear, so that SQLite picks the index of the rarest; the kind index is kept out
 * whenever another is given (+kind), since it would walk most of the range.
 */
static int
filter_prepare(struct ledger_conn *c, const struct ledger_filter *f, const char *cols, bool desc,
               uint64_t limit, sqlite3_stmt **st)
{
	uint64_t size, lo = f->start, hi, t;
	bool narrow = f->partner || f->subject || f->purpose;
	char sql[512];
	int rc;

	*st = NULL;
	if (f->kind < -1 || f->kind > LEDGER_ADMIN || f->from_ms < 0 || f->to_ms < 0 ||
	    limit > INT64_MAX)
		return LEDGER_EINVAL;
	if ((rc = ledger_conn_size(c, &size)) < 0)
		return rc;
	hi = f->end < size ? f->end : size;
	if (f->from_ms > 0) {
		if ((rc = ledger_conn_bisect(c, size, f->from_ms, &t)) < 0)
			return rc;
		lo = t > lo ? t : lo;
	}
	if (f->to_ms > 0) {
		if ((rc = ledger_conn_bisect(c, size, f->to_ms, &t)) < 0)
			return rc;
		hi = t < hi ? t : hi;
	}
	if (lo >= hi)
		return 0;
	snprintf(sql, sizeof(sql),
	         "SELECT %s FROM entries WHERE idx >= ?1 AND idx < ?2%s%s%s%s ORDER BY idx%s%s",
	         cols, f->partner ? " AND partner = ?3" : "", f->subject ? " AND subject = ?4" : "",
	         f->purpose ? " AND purpose = ?5" : "",
	         f->kind < 0 ? ""
	         : narrow    ? " AND +kind = ?6"
	                     : " AND kind = ?6",
	         desc ? " DESC" : "", limit ? " LIMIT ?7" : "");
	if (sqlite3_prepare_v2(c->db, sql, -1, st, NULL) != SQLITE_OK)
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

int
ledger_each(struct ledger *l, const struct ledger_filter *f, uint64_t limit,
            int (*fn)(void *arg, const struct ledger_leaf *leaf), void *arg, uint64_t *next)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_conn *c = ledger_pool_get(pool);
	struct ledger_leaf *leaf = malloc(sizeof(*leaf));
	sqlite3_stmt *st = NULL;
	uint64_t given = 0;
	int rc, s = SQLITE_DONE;

	if (next != NULL)
		*next = UINT64_MAX;
	if (leaf == NULL) {
		rc = LEDGER_ENOMEM;
		goto done;
	}
	/* One more than the limit: whether the limit left any out. */
	if ((rc = filter_prepare(c, f, "idx, leaf", false, limit ? limit + 1 : 0, &st)) < 0 ||
	    st == NULL)
		goto done;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t idx = (uint64_t)sqlite3_column_int64(st, 0);
		const char *text = (const char *)sqlite3_column_text(st, 1);
		if (limit && given == limit) {
			if (next != NULL)
				*next = idx;
			break;
		}
		if (text == NULL ||
		    ledger_leaf_parse(text, (size_t)sqlite3_column_bytes(st, 1), leaf) < 0 ||
		    leaf->index != idx) {
			rc = LEDGER_EIO;
			goto done;
		}
		if (fn(arg, leaf) != 0) {
			rc = LEDGER_EINVAL;
			goto done;
		}
		given++;
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = LEDGER_EIO;
done:
	sqlite3_finalize(st);
	ledger_pool_put(pool, c);
	free(leaf);
	return rc;
}

int
ledger_count(struct ledger *l, const struct ledger_filter *f, uint64_t *count)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_conn *c = ledger_pool_get(pool);
	sqlite3_stmt *st = NULL;
	int rc;

	*count = 0;
	if ((rc = filter_prepare(c, f, "count(*)", false, 0, &st)) == 0 && st != NULL) {
		if (sqlite3_step(st) == SQLITE_ROW)
			*count = (uint64_t)sqlite3_column_int64(st, 0);
		else
			rc = LEDGER_EIO;
	}
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
	struct ledger_conn *c;
	sqlite3_stmt *st = NULL;
	struct ledger_hit *h = NULL;
	size_t k = 0;
	int rc, s = SQLITE_DONE;

	*hits = NULL;
	*n = 0;
	if (q->limit == 0 || q->limit > SEARCH_MAX)
		return LEDGER_EINVAL;
	pool = ledger_pool_of(l);
	c = ledger_pool_get(pool);
	if ((rc = filter_prepare(c, &f, "idx, leaf", true, q->limit, &st)) < 0 || st == NULL)
		goto done;
	if ((h = calloc(q->limit, sizeof(*h))) == NULL) {
		rc = LEDGER_ENOMEM;
		goto done;
	}
	while (k < q->limit && (s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *leaf = (const char *)sqlite3_column_text(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		if (leaf == NULL || (h[k].leaf = strndup(leaf, len)) == NULL) {
			s = SQLITE_NOMEM;
			break;
		}
		h[k].index = (uint64_t)sqlite3_column_int64(st, 0);
		h[k].len = len;
		k++;
	}
	if (s != SQLITE_DONE && s != SQLITE_ROW) {
		rc = s == SQLITE_NOMEM ? LEDGER_ENOMEM : LEDGER_EIO;
		ledger_hits_free(h, k);
		h = NULL;
		goto done;
	}
	*hits = h;
	*n = k;
	h = NULL;
done:
	free(h);
	sqlite3_finalize(st);
	ledger_pool_put(pool, c);
	return rc;
}

int
ledger_day_releases(struct ledger *l, int64_t now,
                    void (*fn)(void *arg, const char *contract, uint64_t count), void *arg)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_conn *c = ledger_pool_get(pool);
	sqlite3_stmt *st = c->st[LEDGER_ST_DAY];
	int64_t start = cal_jst_day_start(cal_jst_day(now));
	uint64_t size, lo, hi;
	int rc;

	if ((rc = ledger_conn_size(c, &size)) < 0 ||
	    (rc = ledger_conn_bisect(c, size, start, &lo)) < 0 ||
	    (rc = ledger_conn_bisect(c, size, start + CAL_DAY_MS, &hi)) < 0)
		goto done;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)lo);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)hi);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *contract = (const char *)sqlite3_column_text(st, 0);
		if (contract != NULL)
			fn(arg, contract, (uint64_t)sqlite3_column_int64(st, 1));
	}
	rc = rc == SQLITE_DONE ? 0 : LEDGER_EIO;
	ledger_st_done(st);
done:
	ledger_pool_put(pool, c);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Verification. */

static int problem(struct ledger_verdict *out, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Says what is wrong in out->problem; returns rc. */
static int
problem(struct ledger_verdict *out, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->problem, sizeof(out->problem), fmt, ap);
	va_end(ap);
	return rc;
}

/* A search column against the leaf's member: both null, or the same string. */
static bool
column_is(sqlite3_stmt *st, int col, const char *member)
{
	const char *v = (const char *)sqlite3_column_text(st, col);

	return v == NULL || member == NULL ? v == member : strcmp(v, member) == 0;
}

/* One stored entry: hash, position, canonical form, and the search columns against the leaf. */
static int
verify_entry(sqlite3_stmt *st, uint64_t pos, uint8_t hash[MERKLE_HASH_LEN],
             struct ledger_leaf *leaf, struct ledger_verdict *out)
{
	const char *text = (const char *)sqlite3_column_text(st, 1);
	size_t len = (size_t)sqlite3_column_bytes(st, 1);
	const struct ledger_entry *e = &leaf->e;

	if (text == NULL || sqlite3_column_bytes(st, 2) != MERKLE_HASH_LEN)
		return problem(out, LEDGER_EVERIFY, "entry %" PRIu64 ": leaf or hash missing", pos);
	if (merkle_leaf_hash(text, len, hash) != MERKLE_OK)
		return problem(out, LEDGER_ENOMEM, "hashing failed");
	if (memcmp(hash, sqlite3_column_blob(st, 2), MERKLE_HASH_LEN) != 0)
		return problem(out, LEDGER_EVERIFY,
		               "entry %" PRIu64 ": the leaf does not hash to its stored hash", pos);
	if (ledger_leaf_parse(text, len, leaf) < 0)
		return problem(
		    out, LEDGER_EVERIFY,
		    "entry %" PRIu64 ": the leaf is not a version 1 leaf in canonical form", pos);
	if (leaf->index != pos)
		return problem(out, LEDGER_EVERIFY,
		               "entry %" PRIu64 ": its leaf says index %" PRIu64, pos, leaf->index);
	if (leaf->time_ms != sqlite3_column_int64(st, 3) ||
	    !column_is(st, 4, ledger_kind_name(e->kind)) || !column_is(st, 5, e->partner) ||
	    !column_is(st, 6, e->contract) || !column_is(st, 7, e->purpose) ||
	    !column_is(st, 8, e->subject))
		return problem(out, LEDGER_EVERIFY,
		               "entry %" PRIu64 ": the search columns differ from the leaf", pos);
	return 0;
}

static bool
action_is(const struct ledger_leaf *leaf, const char *action)
{
	return leaf->admin.action != NULL && strcmp(leaf->admin.action, action) == 0;
}

/*
 * The entries in order, into the in-memory tree mem. What makes a dropped tail visible
 * (docs/ledger.md, "Verification"): every entry that follows a gateway_stop is a
 * gateway_start; *last_stop is the last gateway_stop (UINT64_MAX: none).
 */
static int
verify_entries(sqlite3 *db, struct merkle_mem *mem, struct ledger_verdict *out, uint64_t *last_stop)
{
	struct ledger_leaf *leaf = malloc(sizeof(*leaf));
	sqlite3_stmt *st = NULL;
	uint8_t hash[MERKLE_HASH_LEN];
	uint64_t n = 0;
	int64_t prev_ms = 0;
	bool prev_stop = false;
	int rc, step;

	*last_stop = UINT64_MAX;
	if (leaf == NULL) {
		rc = problem(out, LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if (sqlite3_prepare_v2(db,
	                       "SELECT idx, leaf, hash, time, kind, partner, contract, purpose, "
	                       "subject FROM entries ORDER BY idx",
	                       -1, &st, NULL) != SQLITE_OK) {
		rc = problem(out, LEDGER_EIO, "%s", sqlite3_errmsg(db));
		goto done;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 idx = sqlite3_column_int64(st, 0);
		if (idx < 0 || (uint64_t)idx != n) {
			rc = problem(out, LEDGER_EVERIFY,
			             "entry %" PRIu64 ": missing (the next stored entry is %lld)",
			             n, (long long)idx);
			goto done;
		}
		if ((rc = verify_entry(st, n, hash, leaf, out)) != 0)
			goto done;
		if (prev_stop && !action_is(leaf, "gateway_start")) {
			rc = problem(
			    out, LEDGER_EVERIFY,
			    "entry %" PRIu64 ": follows gateway_stop but is not gateway_start", n);
			goto done;
		}
		if (leaf->time_ms < prev_ms) {
			rc = problem(out, LEDGER_EVERIFY,
			             "entry %" PRIu64
			             ": its time is before the time of entry %" PRIu64,
			             n, n - 1);
			goto done;
		}
		prev_ms = leaf->time_ms;
		if ((prev_stop = action_is(leaf, "gateway_stop")))
			*last_stop = n;
		if (merkle_mem_append(mem, hash) != MERKLE_OK) {
			rc = problem(out, LEDGER_ENOMEM, "out of memory");
			goto done;
		}
		n++;
	}
	rc = step == SQLITE_DONE
	         ? 0
	         : problem(out, LEDGER_EIO, "reading entries: %s", sqlite3_errmsg(db));
	out->size = n;
done:
	sqlite3_finalize(st);
	free(leaf);
	return rc;
}

/* Every complete node of level >= 1 of the tree of the entries, and nothing else. */
static int
verify_nodes(sqlite3 *db, struct merkle_store *tree, uint64_t n, struct ledger_verdict *out)
{
	sqlite3_stmt *st = NULL;
	uint8_t hash[MERKLE_HASH_LEN];
	uint64_t nodes = 0, want = 0;
	int rc, step;

	for (unsigned lv = 1; lv < MERKLE_MAX_LEVELS; lv++)
		want += n >> lv;
	if (sqlite3_prepare_v2(db, "SELECT level, idx, hash FROM nodes ORDER BY level, idx", -1,
	                       &st, NULL) != SQLITE_OK) {
		rc = problem(out, LEDGER_EIO, "%s", sqlite3_errmsg(db));
		goto done;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 lv = sqlite3_column_int64(st, 0), ix = sqlite3_column_int64(st, 1);
		if (lv < 1 || lv >= MERKLE_MAX_LEVELS || ix < 0 || (uint64_t)ix >= n >> lv) {
			rc = problem(out, LEDGER_EVERIFY,
			             "node (level %lld, index %lld): outside the tree of %" PRIu64
			             " entries",
			             (long long)lv, (long long)ix, n);
			goto done;
		}
		if (sqlite3_column_bytes(st, 2) != MERKLE_HASH_LEN ||
		    tree->node_hash(tree->ctx, (uint64_t)lv, (uint64_t)ix, hash) != 0 ||
		    memcmp(hash, sqlite3_column_blob(st, 2), MERKLE_HASH_LEN) != 0) {
			rc = problem(out, LEDGER_EVERIFY,
			             "node (level %lld, index %lld): differs from the tree of the "
			             "entries (covering entries %lld..%lld)",
			             (long long)lv, (long long)ix, (long long)(ix << lv),
			             (long long)(((ix + 1) << lv) - 1));
			goto done;
		}
		nodes++;
	}
	if (step != SQLITE_DONE)
		rc = problem(out, LEDGER_EIO, "reading nodes: %s", sqlite3_errmsg(db));
	else if (nodes != want)
		rc = problem(out, LEDGER_EVERIFY,
		             "%" PRIu64 " stored tree nodes, the tree of %" PRIu64
		             " entries has %" PRIu64,
		             nodes, n, want);
	else
		rc = 0;
done:
	sqlite3_finalize(st);
	return rc;
}

/* Every checkpoint: signature, size, root, consistency with the one before. */
static int
verify_checkpoints(sqlite3 *db, struct merkle_store *tree, struct note_verifier *v,
                   struct ledger_verdict *out)
{
	uint8_t root[MERKLE_HASH_LEN], proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	sqlite3_stmt *st = NULL;
	int rc, step;

	if (sqlite3_prepare_v2(db, "SELECT size, note FROM checkpoints ORDER BY size", -1, &st,
	                       NULL) != SQLITE_OK) {
		rc = problem(out, LEDGER_EIO, "%s", sqlite3_errmsg(db));
		goto done;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 sz = sqlite3_column_int64(st, 0);
		const char *note = (const char *)sqlite3_column_text(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1), np;
		struct note_checkpoint cp;
		int r = NOTE_OK;
		if (note == NULL || (r = note_checkpoint_open(note, len, &v, 1, &cp)) != NOTE_OK) {
			rc = problem(out, LEDGER_EVERIFY, "checkpoint %lld: %s", (long long)sz,
			             note ? note_strerror(r) : "no note");
			goto done;
		}
		if (sz <= 0 || cp.size != (uint64_t)sz) {
			rc = problem(out, LEDGER_EVERIFY,
			             "checkpoint %lld: its note says size %" PRIu64, (long long)sz,
			             cp.size);
			goto done;
		}
		if (cp.size > out->size) {
			rc =
			    problem(out, LEDGER_EVERIFY,
			            "checkpoint %" PRIu64 ": beyond the %" PRIu64 " stored entries",
			            cp.size, out->size);
			goto done;
		}
		if (merkle_root(tree, cp.size, root) != MERKLE_OK ||
		    memcmp(root, cp.root, MERKLE_HASH_LEN) != 0) {
			rc =
			    problem(out, LEDGER_EVERIFY,
			            "checkpoint %" PRIu64 ": its root differs from the tree of the "
			            "stored entries",
			            cp.size);
			goto done;
		}
		if (out->cp_size > 0 &&
		    (merkle_consistency_proof(tree, out->cp_size, cp.size, proof, MERKLE_MAX_PROOF,
		                              &np) != MERKLE_OK ||
		     merkle_verify_consistency(out->cp_size, cp.size, out->cp_root, root,
		                               (const uint8_t(*)[MERKLE_HASH_LEN])proof,
		                               np) != MERKLE_OK)) {
			rc = problem(out, LEDGER_EVERIFY,
			             "checkpoint %" PRIu64
			             ": not consistent with checkpoint %" PRIu64,
			             cp.size, out->cp_size);
			goto done;
		}
		/* Checkpoints only grow: each extends the one before. */
		assert(cp.size > out->cp_size);
		out->cp_size = cp.size;
		memcpy(out->cp_root, root, MERKLE_HASH_LEN);
	}
	rc = step == SQLITE_DONE
	         ? 0
	         : problem(out, LEDGER_EIO, "reading checkpoints: %s", sqlite3_errmsg(db));
done:
	sqlite3_finalize(st);
	return rc;
}

/* Entries after the latest checkpoint: only while the gateway may still be about to sign them,
 * none after a gateway_stop, the oldest younger than the grace. */
static int
verify_tail(struct ledger_conn *c, uint64_t last_stop, int64_t now_ms, int64_t grace_ms,
            struct ledger_verdict *out)
{
	sqlite3_stmt *st = c->st[LEDGER_ST_TIME_AT];
	uint64_t n = out->size, cp = out->cp_size;

	out->unsigned_n = n - cp;
	if (n == cp)
		return 0;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)cp);
	if (sqlite3_step(st) != SQLITE_ROW) {
		ledger_st_done(st);
		return problem(out, LEDGER_EIO, "%s", sqlite3_errmsg(c->db));
	}
	out->unsigned_age_ms = now_ms - sqlite3_column_int64(st, 0);
	ledger_st_done(st);
	if (last_stop != UINT64_MAX && last_stop >= cp)
		return problem(out, LEDGER_EVERIFY,
		               "entries %" PRIu64 "..%" PRIu64 " are not covered by a checkpoint, "
		               "and entry %" PRIu64 " is gateway_stop, after which a checkpoint is "
		               "always signed: a checkpoint was removed",
		               cp, n - 1, last_stop);
	if (out->unsigned_age_ms > grace_ms)
		return problem(out, LEDGER_EVERIFY,
		               "entries %" PRIu64 "..%" PRIu64
		               " are not covered by a checkpoint and "
		               "entry %" PRIu64 " is %" PRId64 " ms old (a running gateway signs "
		               "within %" PRId64 " ms): a checkpoint was removed, or the gateway "
		               "stopped without signing (starting it signs them)",
		               cp, n - 1, cp, out->unsigned_age_ms, grace_ms);
	return 0;
}

int
ledger_verify(struct ledger *l, struct note_verifier *v, int64_t now_ms, int64_t grace_ms,
              struct ledger_verdict *out)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_conn *c = ledger_pool_get(pool);
	struct merkle_mem *mem = merkle_mem_new();
	struct merkle_store tree;
	uint64_t last_stop;
	int rc;

	memset(out, 0, sizeof(*out));
	if (mem == NULL) {
		rc = problem(out, LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	tree = merkle_mem_store(mem);
	/* One read transaction: a running gateway's later commits stay out of this snapshot. */
	if (ledger_db_exec(c->db, "BEGIN", out->problem, sizeof(out->problem)) < 0) {
		rc = LEDGER_EIO;
		goto done;
	}
	if ((rc = verify_entries(c->db, mem, out, &last_stop)) == 0 &&
	    (rc = verify_nodes(c->db, &tree, out->size, out)) == 0 &&
	    (rc = verify_checkpoints(c->db, &tree, v, out)) == 0)
		rc = verify_tail(c, last_stop, now_ms, grace_ms, out);
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
done:
	merkle_mem_free(mem);
	ledger_pool_put(pool, c);
	return rc;
}
