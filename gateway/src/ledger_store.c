/* ledger_store — inside the ledger: what both stores share above their operations. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_batch.h"
#include "ledger_err.h"
#include "ledger_store.h"

bool
ledger_store_is_url(const char *where)
{
	return where != NULL &&
	       (strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0);
}

void
ledger_batch_rd_free(struct ledger_batch_rd *b)
{
	buf_free(&b->text);
	free(b->off);
	free(b->len);
	memset(b, 0, sizeof(*b));
}

void
ledger_store_clear(struct ledger_store *s)
{
	ledger_batch_rd_free(&s->rd);
	free(s->hc.h);
	memset(&s->hc, 0, sizeof(s->hc));
}

void
ledger_store_free(struct ledger_store *s)
{
	if (s != NULL)
		s->ops->free(s);
}

int
ledger_store_keep_hashes(struct ledger_hashes *hc, uint64_t first, uint64_t n, const uint8_t *h,
                         size_t len)
{
	hc->n = 0;
	if (n == 0 || n > LEDGER_BATCH_MAX_ENTRIES || h == NULL ||
	    len != ledger_batch_hashes_len(first, n))
		return LEDGER_EIO;
	if (len > hc->cap) {
		uint8_t *p = realloc(hc->h, len);
		if (p == NULL)
			return LEDGER_ENOMEM;
		hc->h = p;
		hc->cap = len;
	}
	memcpy(hc->h, h, len);
	hc->first = first;
	hc->n = n;
	return 0;
}

int
ledger_store_keep_leaves(struct ledger_batch_rd *b, uint64_t first, uint64_t n, int64_t time,
                         const char *leaves, size_t len)
{
	b->n = 0;
	if (n == 0 || n > LEDGER_BATCH_MAX_ENTRIES || leaves == NULL)
		return LEDGER_EIO;
	if ((size_t)n > b->cap) {
		size_t *off = realloc(b->off, (size_t)n * sizeof(*off));
		if (off != NULL)
			b->off = off;
		size_t *lens = realloc(b->len, (size_t)n * sizeof(*lens));
		if (lens != NULL)
			b->len = lens;
		if (off == NULL || lens == NULL)
			return LEDGER_ENOMEM;
		b->cap = (size_t)n;
	}
	if (ledger_batch_split(leaves, len, n, &b->text, b->off, b->len) < 0)
		return LEDGER_EIO;
	b->first = first;
	b->n = n;
	b->time = time;
	return 0;
}

int
ledger_store_batch(struct ledger_store *s, uint64_t index, struct ledger_batch_rd *b)
{
	uint64_t first, n;
	int64_t time;
	int rc;

	if (b->n > 0 && index >= b->first && index - b->first < b->n)
		return 0;
	b->n = 0;
	if ((rc = s->ops->batch(s, index, &first, &n, &time, NULL, b)) != 0)
		return rc;
	if (first + n <= index) {
		b->n = 0;
		return LEDGER_ENOENT; /* past the end, or in a gap (verify names it) */
	}
	assert(b->n == n && b->first <= index && index - b->first < b->n);
	return 0;
}

int
ledger_store_leaf(struct ledger_store *s, uint64_t index, const char **leaf, size_t *len)
{
	int rc = ledger_store_batch(s, index, &s->rd);

	if (rc == 0) {
		uint64_t k = index - s->rd.first;
		*leaf = s->rd.text.data + s->rd.off[k];
		*len = s->rd.len[k];
	}
	return rc;
}

/* Where node (level, index) — level 0: the leaf hash of entry index — is in the hashes of the
 * batch [first, first + n), or -1. */
static int64_t
hash_at(uint64_t first, uint64_t n, uint64_t e, uint64_t level, uint64_t index)
{
	if (level == 0)
		return e >= first && e - first < n ? (int64_t)((e - first) * MERKLE_HASH_LEN) : -1;
	return ledger_batch_node_at(first, n, level, index);
}

/*
 * The hash of node (level, index) from the batch holding entry e, which completes it. The
 * batch's hashes are kept (s->hc): most of an inclusion proof's siblings below the batch's
 * size are in the batch of the entry or its neighbour, and a committed batch never changes.
 */
static int
batch_hash(struct ledger_store *s, uint64_t e, uint64_t level, uint64_t index,
           uint8_t out[MERKLE_HASH_LEN])
{
	struct ledger_hashes *hc = &s->hc;
	uint64_t first, n;
	int64_t time, at;

	if (hc->n == 0 || e < hc->first || e - hc->first >= hc->n) {
		if (s->ops->batch(s, e, &first, &n, &time, hc, NULL) != 0 || hc->n == 0)
			return -1;
		assert(hc->first == first && hc->n == n);
	}
	if ((at = hash_at(hc->first, hc->n, e, level, index)) < 0)
		return -1;
	memcpy(out, hc->h + at, MERKLE_HASH_LEN);
	return 0;
}

static int
store_leaf_hash(void *ctx, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	return batch_hash(ctx, index, 0, index, out);
}

static int
store_node_hash(void *ctx, uint64_t level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	if (level == 0)
		return store_leaf_hash(ctx, index, out);
	if (level >= MERKLE_MAX_LEVELS || index > (UINT64_MAX >> level) - 1)
		return -1;
	return batch_hash(ctx, ledger_batch_node_entry(level, index), level, index, out);
}

struct merkle_store
ledger_store_tree(struct ledger_store *s)
{
	struct merkle_store t = {store_leaf_hash, store_node_hash, s};
	return t;
}

int
ledger_store_bisect(struct ledger_store *s, uint64_t size, int64_t ms, uint64_t *out)
{
	uint64_t lo = 0, hi = size;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2, first, n;
		int64_t t;
		/* entries [0, lo) are before ms, [hi, size) at or after it: times never go back */
		assert(lo <= mid && mid < hi && hi <= size);
		if (s->ops->batch(s, mid, &first, &n, &t, NULL, NULL) != 0)
			return LEDGER_EIO;
		/* every entry of a batch has its time: one step settles the whole batch */
		uint64_t end = first + n;
		if (end <= mid || first > mid)
			return LEDGER_EIO; /* a gap: verify names it */
		if (t < ms)
			lo = end < hi ? end : hi;
		else
			hi = first > lo ? first : lo;
	}
	assert(lo <= size);
	*out = lo;
	return 0;
}

int
ledger_store_check_leaves(struct ledger_store *s, uint64_t from, uint64_t to, char *err,
                          size_t errlen)
{
	struct merkle_store t = ledger_store_tree(s);

	for (uint64_t i = from; i < to; i++) {
		uint8_t h[MERKLE_HASH_LEN], stored[MERKLE_HASH_LEN];
		const char *leaf;
		size_t n;
		char head[48];
		if (ledger_store_leaf(s, i, &leaf, &n) != 0) {
			snprintf(err, errlen,
			         "entry %" PRIu64 " missing or damaged: run pdgate ledger verify",
			         i);
			return LEDGER_EIO;
		}
		int hl = snprintf(head, sizeof(head), "{\"v\":1,\"index\":%" PRIu64 ",", i);
		if (n < (size_t)hl || memcmp(leaf, head, (size_t)hl) != 0 ||
		    merkle_leaf_hash(leaf, n, h) != MERKLE_OK ||
		    t.leaf_hash(t.ctx, i, stored) < 0 || memcmp(h, stored, MERKLE_HASH_LEN) != 0) {
			snprintf(err, errlen,
			         "entry %" PRIu64 " after the latest checkpoint is damaged: run "
			         "pdgate ledger verify",
			         i);
			return LEDGER_EIO;
		}
	}
	return 0;
}
