/* merkle — RFC 9162 section 2.1 Merkle tree hashes and proofs over SHA-256, without rehashing. */
#ifndef PDGATE_MERKLE_H
#define PDGATE_MERKLE_H
#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32
/* Levels of perfect subtrees a tree of fewer than 2^64 leaves can hold (0..63). */
#define MERKLE_MAX_LEVELS 64
/* Longest proof of either kind for any size below 2^64: ceil(log2 n) + 1. A longer proof is
 * refused before any hashing. */
#define MERKLE_MAX_PROOF 65

enum merkle_err {
	MERKLE_OK = 0,
	MERKLE_ERANGE = -1,    /* index or size outside the tree, size 0, old size 0 or > new */
	MERKLE_EPROOF = -2,    /* proof of the wrong length for the sizes given */
	MERKLE_EMISMATCH = -3, /* the proof does not lead to the roots given */
	MERKLE_ESTORE = -4,    /* the node source failed */
	MERKLE_ESPACE = -5,    /* output buffer too small */
	MERKLE_EFULL = -6,     /* the tree holds 2^64 - 1 leaves already */
	MERKLE_ECRYPTO = -7,   /* the hash function failed */
};

/* A static string naming the error; never NULL. */
const char *merkle_strerror(int err);

/* The leaf hash of RFC 9162 2.1.1, SHA-256(0x00 || leaf). 0, or MERKLE_ECRYPTO. */
int merkle_leaf_hash(const void *leaf, size_t len, uint8_t out[MERKLE_HASH_LEN]);

/*
 * Where the hashes come from. Node (level L, index i) is the root of the perfect subtree over
 * leaves [i * 2^L, (i + 1) * 2^L); once complete it never changes in an append-only log, so a
 * store that keeps every complete node answers any root or proof of any past size in O(log n)
 * lookups. Callbacks return 0, or -1 on failure (which fails the whole operation: fail closed).
 */
struct merkle_store {
	/* Leaf hash of entry index. */
	int (*leaf_hash)(void *ctx, uint64_t index, uint8_t out[MERKLE_HASH_LEN]);
	/* Optional (NULL: computed from the leaves, O(2^level)): node (level >= 1, index), only
	 * ever asked for nodes inside the size being proven. */
	int (*node_hash)(void *ctx, uint64_t level, uint64_t index, uint8_t out[MERKLE_HASH_LEN]);
	void *ctx; /* borrowed, passed to the callbacks */
};

/* Root hash of the first size leaves (size 0: SHA-256 of nothing). 0 or an error. */
int merkle_root(const struct merkle_store *s, uint64_t size, uint8_t out[MERKLE_HASH_LEN]);

/* Inclusion proof of leaf index in the tree of size leaves (RFC 9162 2.1.3.1), into proof[0..*n),
 * cap entries available (MERKLE_MAX_PROOF always suffice). 0 or an error; index >= size is
 * MERKLE_ERANGE. */
int merkle_inclusion_proof(const struct merkle_store *s, uint64_t index, uint64_t size,
                           uint8_t proof[][MERKLE_HASH_LEN], size_t cap, size_t *n);

/* Consistency proof from size old to size new (RFC 9162 2.1.4.1): 0 < old <= new; old == new
 * gives the empty proof. 0 or an error. */
int merkle_consistency_proof(const struct merkle_store *s, uint64_t old, uint64_t new,
                             uint8_t proof[][MERKLE_HASH_LEN], size_t cap, size_t *n);

/* RFC 9162 2.1.3.2: 0 if proof[0..n) proves leaf_hash at index in the tree of size with the
 * root given, else MERKLE_ERANGE, MERKLE_EPROOF or MERKLE_EMISMATCH. */
int merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[MERKLE_HASH_LEN],
                            const uint8_t proof[][MERKLE_HASH_LEN], size_t n,
                            const uint8_t root[MERKLE_HASH_LEN]);

/* RFC 9162 2.1.4.2: 0 if proof[0..n) proves the tree of size new with new_root extends the tree
 * of size old with old_root. old == new needs an empty proof and equal roots; old 0 is refused
 * (MERKLE_ERANGE: every tree extends the empty one, so it proves nothing). */
int merkle_verify_consistency(uint64_t old, uint64_t new, const uint8_t old_root[MERKLE_HASH_LEN],
                              const uint8_t new_root[MERKLE_HASH_LEN],
                              const uint8_t proof[][MERKLE_HASH_LEN], size_t n);

/*
 * The compact range [0, size) of an append-only log: the roots of the perfect subtrees along the
 * right edge, one per set bit of size. A plain value (2 KiB, no pointers) so that a writer can
 * copy it before a batch and restore the copy if the batch fails to commit.
 */
struct merkle_frontier {
	uint64_t size;                                    /* leaves appended so far */
	uint8_t hash[MERKLE_MAX_LEVELS][MERKLE_HASH_LEN]; /* [L] valid iff bit L of size is set */
};

/* A node that became complete: level 0 is the leaf itself. */
struct merkle_node {
	uint64_t level;
	uint64_t index;
	uint8_t hash[MERKLE_HASH_LEN];
};

/* The frontier of the first size leaves of s, from O(log n) node lookups. 0 or an error. */
int merkle_frontier_load(struct merkle_frontier *f, const struct merkle_store *s, uint64_t size);

/* Appends a leaf hash. The nodes that become complete — the leaf, then each parent it closes,
 * in increasing level — go to done[0..*n) (at most MERKLE_MAX_LEVELS), for the log to store.
 * 0, MERKLE_EFULL or MERKLE_ECRYPTO (f unchanged on error). */
int merkle_frontier_append(struct merkle_frontier *f, const uint8_t leaf_hash[MERKLE_HASH_LEN],
                           struct merkle_node done[MERKLE_MAX_LEVELS], size_t *n);

/* Root of the tree of f->size leaves. 0 or MERKLE_ECRYPTO. */
int merkle_frontier_root(const struct merkle_frontier *f, uint8_t out[MERKLE_HASH_LEN]);

/* An in-memory log keeping every complete node, level by level: what `ledger verify` rebuilds
 * from the leaves it rehashes, and a reference store. */
struct merkle_mem;

/* NULL on allocation failure. Caller frees with merkle_mem_free. */
struct merkle_mem *merkle_mem_new(void);
void merkle_mem_free(struct merkle_mem *m);

/* Appends a leaf hash; 0, or an error (MERKLE_ESPACE when memory runs out). */
int merkle_mem_append(struct merkle_mem *m, const uint8_t leaf_hash[MERKLE_HASH_LEN]);

/* A store reading m (borrowed: valid while m lives, and for sizes up to the leaves appended). */
struct merkle_store merkle_mem_store(struct merkle_mem *m);

#endif
