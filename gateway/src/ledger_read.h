/* ledger_read — reading the ledger: sizes, checkpoints, leaves, proofs, searches, verification. */
#ifndef PDGATE_LEDGER_READ_H
#define PDGATE_LEDGER_READ_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"
#include "ledger_leaf.h"
#include "ledger_verify.h"
#include "merkle.h"
#include "note.h"

/*
 * Every reader is thread-safe and runs on a read-only connection of the ledger's pool: it
 * never waits for the writer, and sees the entries committed when it starts. Each returns 0 or
 * an enum ledger_err. A callback runs while the reader holds its connection: it must not call
 * the ledger itself.
 */

/* The number of committed entries. */
int ledger_size(struct ledger *l, uint64_t *size);

/* The checkpoint note of size entries (0: the latest) into *note (NUL-terminated, *len bytes,
 * caller frees) and its size into *cp_size. 0, LEDGER_ENOENT, or an error. */
int ledger_checkpoint(struct ledger *l, uint64_t size, char **note, size_t *len, uint64_t *cp_size);

/* Calls fn for each leaf of [start, end) in order (leaf borrowed for the call, len bytes, no
 * newline, not NUL-terminated); fn returns 0 to go on. LEDGER_ERANGE unless start <= end <=
 * size; an error if an entry is missing or fn returned non-zero (LEDGER_EINVAL). */
int ledger_leaves(struct ledger *l, uint64_t start, uint64_t end,
                  int (*fn)(void *arg, uint64_t index, const char *leaf, size_t len), void *arg);

/* Inclusion proof of entry index in the tree of size entries (any committed size): the leaf
 * hash and proof[0..*n). O(log n) lookups. 0, LEDGER_ERANGE, or an error. */
int ledger_inclusion(struct ledger *l, uint64_t index, uint64_t size,
                     uint8_t leaf_hash[MERKLE_HASH_LEN],
                     uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN], size_t *n);

/* Consistency proof from old to new (0 < old <= new <= size) into proof[0..*n). */
int ledger_consistency(struct ledger *l, uint64_t old, uint64_t new,
                       uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN], size_t *n);

/* Which entries a walk or a count takes: those matching every field given. The search
 * columns have indexes, and a time range is an index range (times never decrease). */
struct ledger_filter {
	const char *partner, *subject, *purpose; /* NULL: any */
	int kind;                                /* an enum ledger_kind, or -1: any */
	int64_t from_ms;                         /* time >= from_ms (Unix ms; 0: from the start) */
	int64_t to_ms;                           /* time < to_ms (0: no end) */
	uint64_t start;                          /* index >= start */
	uint64_t end; /* index < end (UINT64_MAX: every committed entry); a report that reads
	                 several times takes end from ledger_size once and sees one ledger */
};

/*
 * Calls fn for the entries matching f, oldest first, at most limit of them (0: all), each
 * parsed (leaf borrowed for the call; fn returns 0 to go on). *next, if not NULL, is the index
 * of the first matching entry the limit left out, or UINT64_MAX. 0; LEDGER_EIO also if a
 * stored leaf does not parse or says another index; LEDGER_EINVAL if fn returned non-zero.
 */
int ledger_each(struct ledger *l, const struct ledger_filter *f, uint64_t limit,
                int (*fn)(void *arg, const struct ledger_leaf *leaf), void *arg, uint64_t *next);

/* The number of entries matching f into *count. */
int ledger_count(struct ledger *l, const struct ledger_filter *f, uint64_t *count);

/* A search: entries matching every field given, newest first. */
struct ledger_query {
	const char *partner, *subject, *purpose; /* NULL: any */
	int kind;                                /* an enum ledger_kind, or -1: any */
	int64_t from_ms;                         /* time >= from_ms (Unix ms; 0: from the start) */
	int64_t to_ms;                           /* time < to_ms (0: no end) */
	uint64_t after; /* the cursor of the API's after=: only entries older than it,
	                   index < after (UINT64_MAX: from the newest) */
	unsigned limit; /* 1..10000 */
};

struct ledger_hit {
	uint64_t index;
	char *leaf; /* NUL-terminated, len bytes */
	size_t len;
};

/* The matching entries into *hits[0..*n) (caller frees with ledger_hits_free). The next page
 * is the query with after = the last hit's index. 0 or an error. */
int ledger_search(struct ledger *l, const struct ledger_query *q, struct ledger_hit **hits,
                  size_t *n);
void ledger_hits_free(struct ledger_hit *hits, size_t n);

/* Calls fn(arg, contract, count) for each contract with release entries on the Japan day
 * (UTC+9) of now_ms, so that daily volume limits survive a restart; on a store several nodes
 * share, the records its commits counted for each contract with records_per_day, across every
 * node (ledger_volume.h). 0 or an error. */
int ledger_day_releases(struct ledger *l, int64_t now_ms,
                        void (*fn)(void *arg, const char *contract, uint64_t count), void *arg);

/*
 * Checks the whole ledger in one read transaction (SPEC 11.5, docs/ledger.md "Verification"):
 * every leaf against its hash, its position and its canonical form, and the search columns
 * against it; that times never go back and only gateway_start follows gateway_stop; every
 * stored node, and no other; every checkpoint's signature by v (borrowed), size, root and
 * consistency with the one before; and that entries after the latest checkpoint follow no
 * gateway_stop and are younger than grace_ms at now_ms. 0 if intact; LEDGER_EVERIFY if not;
 * LEDGER_EIO or LEDGER_ENOMEM if it cannot tell; out->problem says why.
 */
int ledger_verify(struct ledger *l, struct note_verifier *v, int64_t now_ms, int64_t grace_ms,
                  struct ledger_verdict *out);

#endif
