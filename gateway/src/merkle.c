/* merkle — RFC 9162 section 2.1 Merkle tree hashes and proofs over SHA-256, without rehashing. */
#include "merkle.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

const char *
merkle_strerror(int err)
{
	switch (err) {
	case MERKLE_OK:
		return "ok";
	case MERKLE_ERANGE:
		return "index or tree size out of range";
	case MERKLE_EPROOF:
		return "proof has the wrong length";
	case MERKLE_EMISMATCH:
		return "proof does not match the root hash";
	case MERKLE_ESTORE:
		return "tree node unavailable";
	case MERKLE_ESPACE:
		return "out of space";
	case MERKLE_EFULL:
		return "tree is full";
	case MERKLE_ECRYPTO:
		return "hash function failed";
	}
	return "unknown merkle error";
}

int
merkle_leaf_hash(const void *leaf, size_t len, uint8_t out[MERKLE_HASH_LEN])
{
	static const uint8_t prefix = 0x00;
	unsigned int outlen = 0;
	int ok;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL)
		return MERKLE_ECRYPTO;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, &prefix, 1) == 1 &&
	     (len == 0 || EVP_DigestUpdate(ctx, leaf, len) == 1) &&
	     EVP_DigestFinal_ex(ctx, out, &outlen) == 1 && outlen == MERKLE_HASH_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? MERKLE_OK : MERKLE_ECRYPTO;
}

/* The node hash of RFC 9162 2.1.1, SHA-256(0x01 || left || right). 0, or MERKLE_ECRYPTO. */
static int
merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN], const uint8_t right[MERKLE_HASH_LEN],
                 uint8_t out[MERKLE_HASH_LEN])
{
	uint8_t buf[1 + 2 * MERKLE_HASH_LEN];
	unsigned int outlen = 0;

	buf[0] = 0x01;
	memcpy(buf + 1, left, MERKLE_HASH_LEN);
	memcpy(buf + 1 + MERKLE_HASH_LEN, right, MERKLE_HASH_LEN);
	if (EVP_Digest(buf, sizeof(buf), out, &outlen, EVP_sha256(), NULL) != 1 ||
	    outlen != MERKLE_HASH_LEN)
		return MERKLE_ECRYPTO;
	return MERKLE_OK;
}

static int
empty_root(uint8_t out[MERKLE_HASH_LEN])
{
	unsigned int outlen = 0;

	if (EVP_Digest("", 0, out, &outlen, EVP_sha256(), NULL) != 1 || outlen != MERKLE_HASH_LEN)
		return MERKLE_ECRYPTO;
	return MERKLE_OK;
}

/* Largest power of two strictly below n (n >= 2): the split point k of RFC 9162 2.1.1. */
static uint64_t
split_point(uint64_t n)
{
	assert(n >= 2);
	return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

/* Node (level, index) from the store, or from its two children when the store keeps no nodes. */
static int
perfect_hash(const struct merkle_store *s, uint64_t level, uint64_t index,
             uint8_t out[MERKLE_HASH_LEN])
{
	uint8_t l[MERKLE_HASH_LEN], r[MERKLE_HASH_LEN];
	int rc;

	assert(level < MERKLE_MAX_LEVELS);
	if (level == 0)
		return s->leaf_hash(s->ctx, index, out) == 0 ? MERKLE_OK : MERKLE_ESTORE;
	if (s->node_hash != NULL)
		return s->node_hash(s->ctx, level, index, out) == 0 ? MERKLE_OK : MERKLE_ESTORE;
	if ((rc = perfect_hash(s, level - 1, 2 * index, l)) != MERKLE_OK ||
	    (rc = perfect_hash(s, level - 1, 2 * index + 1, r)) != MERKLE_OK)
		return rc;
	return merkle_node_hash(l, r, out);
}

/*
 * MTH(D[lo:hi]) for a subtree met in the RFC recursion. Such a subtree starts at a multiple of the
 * smallest power of two >= its size, so it splits into perfect aligned subtrees, one per set bit
 * of its size from the largest down, and its root is their right fold: at most 64 lookups.
 */
static int
range_hash(const struct merkle_store *s, uint64_t lo, uint64_t hi, uint8_t out[MERKLE_HASH_LEN])
{
	uint8_t piece[MERKLE_HASH_LEN];
	uint64_t n = hi - lo, end = hi;
	int have = 0, rc;

	assert(hi > lo);
	for (uint64_t level = 0; level < MERKLE_MAX_LEVELS; level++) {
		if (!(n >> level & 1))
			continue;
		end -= UINT64_C(1) << level;
		assert(end % (UINT64_C(1) << level) == 0);
		if ((rc = perfect_hash(s, level, end >> level, piece)) != MERKLE_OK)
			return rc;
		if (!have)
			memcpy(out, piece, MERKLE_HASH_LEN);
		else if ((rc = merkle_node_hash(piece, out, out)) != MERKLE_OK)
			return rc;
		have = 1;
	}
	assert(end == lo);
	return MERKLE_OK;
}

int
merkle_root(const struct merkle_store *s, uint64_t size, uint8_t out[MERKLE_HASH_LEN])
{
	if (size == 0)
		return empty_root(out);
	return range_hash(s, 0, size, out);
}

/* The RFC builds proofs from the leaf upwards; the walks below go downwards, so they fill the
 * buffer top first and reverse it at the end. */
static void
reverse(uint8_t proof[][MERKLE_HASH_LEN], size_t n)
{
	uint8_t t[MERKLE_HASH_LEN];

	for (size_t i = 0; i < n / 2; i++) {
		memcpy(t, proof[i], MERKLE_HASH_LEN);
		memcpy(proof[i], proof[n - 1 - i], MERKLE_HASH_LEN);
		memcpy(proof[n - 1 - i], t, MERKLE_HASH_LEN);
	}
}

int
merkle_inclusion_proof(const struct merkle_store *s, uint64_t index, uint64_t size,
                       uint8_t proof[][MERKLE_HASH_LEN], size_t cap, size_t *n)
{
	uint64_t lo = 0, hi = size;
	size_t k = 0;
	int rc;

	*n = 0;
	if (index >= size)
		return MERKLE_ERANGE;
	/* PATH(m, D[lo:hi]): only the first right sibling can be an imperfect subtree; every
	 * later sibling is perfect, so the proof costs O(log n) lookups. */
	while (hi - lo > 1) {
		uint64_t mid = lo + split_point(hi - lo);

		assert(lo <= index && index < hi && lo < mid && mid < hi);
		if (k == cap)
			return MERKLE_ESPACE;
		if (index < mid) {
			rc = range_hash(s, mid, hi, proof[k]);
			hi = mid;
		} else {
			rc = range_hash(s, lo, mid, proof[k]);
			lo = mid;
		}
		if (rc != MERKLE_OK)
			return rc;
		k++;
	}
	/* the walk ends at the leaf itself, one sibling per level: what the verifier expects */
	assert(lo == index && hi == index + 1 && k <= MERKLE_MAX_PROOF);
	reverse(proof, k);
	*n = k;
	return MERKLE_OK;
}

int
merkle_consistency_proof(const struct merkle_store *s, uint64_t old, uint64_t new,
                         uint8_t proof[][MERKLE_HASH_LEN], size_t cap, size_t *n)
{
	uint64_t lo = 0, hi = new, m = old;
	int whole = 1; /* the b of SUBPROOF: m is still the whole old tree */
	size_t k = 0;
	int rc;

	*n = 0;
	if (old == 0 || old > new)
		return MERKLE_ERANGE;
	for (;;) {
		uint64_t split;

		if (m == hi - lo) {
			if (whole)
				break;
			if (k == cap)
				return MERKLE_ESPACE;
			if ((rc = range_hash(s, lo, hi, proof[k])) != MERKLE_OK)
				return rc;
			k++;
			break;
		}
		assert(m > 0 && m < hi - lo && hi <= new);
		split = split_point(hi - lo);
		if (k == cap)
			return MERKLE_ESPACE;
		if (m <= split) {
			rc = range_hash(s, lo + split, hi, proof[k]);
			hi = lo + split;
		} else {
			rc = range_hash(s, lo, lo + split, proof[k]);
			lo += split;
			m -= split;
			whole = 0;
		}
		if (rc != MERKLE_OK)
			return rc;
		k++;
	}
	assert(k <= MERKLE_MAX_PROOF);
	reverse(proof, k);
	*n = k;
	return MERKLE_OK;
}

int
merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[MERKLE_HASH_LEN],
                        const uint8_t proof[][MERKLE_HASH_LEN], size_t n,
                        const uint8_t root[MERKLE_HASH_LEN])
{
	uint8_t r[MERKLE_HASH_LEN];
	uint64_t fn = index, sn;
	int rc;

	if (index >= size)
		return MERKLE_ERANGE;
	if (n > MERKLE_MAX_PROOF)
		return MERKLE_EPROOF;
	sn = size - 1;
	memcpy(r, leaf_hash, MERKLE_HASH_LEN);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return MERKLE_EPROOF;
		if ((fn & 1) || fn == sn) {
			rc = merkle_node_hash(proof[i], r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			rc = merkle_node_hash(r, proof[i], r);
		}
		if (rc != MERKLE_OK)
			return rc;
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return MERKLE_EPROOF;
	return CRYPTO_memcmp(r, root, MERKLE_HASH_LEN) == 0 ? MERKLE_OK : MERKLE_EMISMATCH;
}

int
merkle_verify_consistency(uint64_t old, uint64_t new, const uint8_t old_root[MERKLE_HASH_LEN],
                          const uint8_t new_root[MERKLE_HASH_LEN],
                          const uint8_t proof[][MERKLE_HASH_LEN], size_t n)
{
	uint8_t fr[MERKLE_HASH_LEN], sr[MERKLE_HASH_LEN];
	uint64_t fn, sn;
	size_t i = 0;
	int rc;

	if (old == 0 || old > new)
		return MERKLE_ERANGE;
	if (old == new) {
		if (n != 0)
			return MERKLE_EPROOF;
		return CRYPTO_memcmp(old_root, new_root, MERKLE_HASH_LEN) == 0 ? MERKLE_OK
		                                                               : MERKLE_EMISMATCH;
	}
	if (n == 0 || n > MERKLE_MAX_PROOF)
		return MERKLE_EPROOF;
	fn = old - 1;
	sn = new - 1;
	/* When old is a power of two its root is a node of the new tree and the proof leaves it
	 * out: the walk starts from old_root itself (RFC 9162 2.1.4.2 step 2). */
	if ((old & (old - 1)) == 0) {
		memcpy(fr, old_root, MERKLE_HASH_LEN);
	} else {
		memcpy(fr, proof[0], MERKLE_HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, MERKLE_HASH_LEN);
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < n; i++) {
		if (sn == 0)
			return MERKLE_EPROOF;
		if ((fn & 1) || fn == sn) {
			if ((rc = merkle_node_hash(proof[i], fr, fr)) != MERKLE_OK ||
			    (rc = merkle_node_hash(proof[i], sr, sr)) != MERKLE_OK)
				return rc;
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else if ((rc = merkle_node_hash(sr, proof[i], sr)) != MERKLE_OK) {
			return rc;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return MERKLE_EPROOF;
	if (CRYPTO_memcmp(fr, old_root, MERKLE_HASH_LEN) != 0 ||
	    CRYPTO_memcmp(sr, new_root, MERKLE_HASH_LEN) != 0)
		return MERKLE_EMISMATCH;
	return MERKLE_OK;
}

/* The frontier of the empty log. */
static void
merkle_frontier_init(struct merkle_frontier *f)
{
	memset(f, 0, sizeof(*f));
}

int
merkle_frontier_load(struct merkle_frontier *f, const struct merkle_store *s, uint64_t size)
{
	uint64_t end = size;
	int rc;

	merkle_frontier_init(f);
	for (uint64_t level = 0; level < MERKLE_MAX_LEVELS; level++) {
		if (!(size >> level & 1))
			continue;
		end -= UINT64_C(1) << level;
		if ((rc = perfect_hash(s, level, end >> level, f->hash[level])) != MERKLE_OK) {
			merkle_frontier_init(f);
			return rc;
		}
	}
	/* one perfect subtree per set bit of size, from the left edge: they cover it all */
	assert(end == 0);
	f->size = size;
	return MERKLE_OK;
}

int
merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf_hash[MERKLE_HASH_LEN],
                       struct merkle_node done[MERKLE_MAX_LEVELS], size_t *n)
{
	uint8_t acc[MERKLE_HASH_LEN];
	uint64_t level = 0, index = f->size;
	size_t k = 0;
	int rc;

	*n = 0;
	if (f->size == UINT64_MAX)
		return MERKLE_EFULL;
	memcpy(acc, leaf_hash, MERKLE_HASH_LEN);
	/* Each trailing one bit of the old size is a left sibling waiting for this leaf's side. */
	for (;;) {
		assert(k < MERKLE_MAX_LEVELS);
		done[k].level = level;
		done[k].index = index;
		memcpy(done[k].hash, acc, MERKLE_HASH_LEN);
		k++;
		if (!(f->size >> level & 1))
			break;
		if ((rc = merkle_node_hash(f->hash[level], acc, acc)) != MERKLE_OK)
			return rc;
		level++;
		index >>= 1;
	}
	/* Bits 0..level-1 clear, bit level set: exactly size + 1. */
	assert(level < MERKLE_MAX_LEVELS && ((f->size + 1) >> level & 1) &&
	       ((f->size + 1) & ((UINT64_C(1) << level) - 1)) == 0);
	memcpy(f->hash[level], acc, MERKLE_HASH_LEN);
	for (uint64_t l = 0; l < level; l++)
		memset(f->hash[l], 0, MERKLE_HASH_LEN);
	f->size++; /* the tree only grows, one leaf at a time */
	assert(k == level + 1 && done[0].level == 0 && done[0].index == f->size - 1);
	*n = k;
	return MERKLE_OK;
}

int
merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[MERKLE_HASH_LEN])
{
	int have = 0, rc;

	if (f->size == 0)
		return empty_root(out);
	for (uint64_t level = 0; level < MERKLE_MAX_LEVELS; level++) {
		if (!(f->size >> level & 1))
			continue;
		if (!have)
			memcpy(out, f->hash[level], MERKLE_HASH_LEN);
		else if ((rc = merkle_node_hash(f->hash[level], out, out)) != MERKLE_OK)
			return rc;
		have = 1;
	}
	return MERKLE_OK;
}

/* Level L holds the size >> L complete nodes of that level, in index order. */
struct merkle_mem {
	struct merkle_frontier frontier;
	uint8_t (*level[MERKLE_MAX_LEVELS])[MERKLE_HASH_LEN]; /* owned arrays */
	uint64_t cap[MERKLE_MAX_LEVELS];                      /* allocated entries per level */
};

struct merkle_mem *
merkle_mem_new(void)
{
	struct merkle_mem *m = calloc(1, sizeof(*m));

	if (m != NULL)
		merkle_frontier_init(&m->frontier);
	return m;
}

void
merkle_mem_free(struct merkle_mem *m)
{
	if (m == NULL)
		return;
	for (size_t l = 0; l < MERKLE_MAX_LEVELS; l++)
		free(m->level[l]);
	free(m);
}

int
merkle_mem_append(struct merkle_mem *m, const uint8_t leaf_hash[MERKLE_HASH_LEN])
{
	struct merkle_node done[MERKLE_MAX_LEVELS];
	struct merkle_frontier next = m->frontier;
	size_t n;
	int rc;

	if ((rc = merkle_frontier_append(&next, leaf_hash, done, &n)) != MERKLE_OK)
		return rc;
	/* Room first, for every level touched, so that a failure leaves m as it was. */
	for (size_t i = 0; i < n; i++) {
		uint64_t l = done[i].level, want = done[i].index + 1;

		if (want > m->cap[l]) {
			uint64_t cap = m->cap[l] ? m->cap[l] * 2 : 64;
			void *p;

			if (cap > SIZE_MAX / MERKLE_HASH_LEN)
				return MERKLE_ESPACE;
			if ((p = realloc(m->level[l], (size_t)cap * MERKLE_HASH_LEN)) == NULL)
				return MERKLE_ESPACE;
			m->level[l] = p;
			m->cap[l] = cap;
		}
	}
	for (size_t i = 0; i < n; i++) {
		assert(done[i].level < MERKLE_MAX_LEVELS && done[i].index < m->cap[done[i].level]);
		memcpy(m->level[done[i].level][done[i].index], done[i].hash, MERKLE_HASH_LEN);
	}
	assert(next.size == m->frontier.size + 1);
	m->frontier = next;
	return MERKLE_OK;
}

static int
mem_node(void *ctx, uint64_t level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	const struct merkle_mem *m = ctx;

	if (level >= MERKLE_MAX_LEVELS || index >= m->frontier.size >> level)
		return -1;
	memcpy(out, m->level[level][index], MERKLE_HASH_LEN);
	return 0;
}

static int
mem_leaf(void *ctx, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	return mem_node(ctx, 0, index, out);
}

struct merkle_store
merkle_mem_store(struct merkle_mem *m)
{
	struct merkle_store s = {.leaf_hash = mem_leaf, .node_hash = mem_node, .ctx = m};

	return s;
}
