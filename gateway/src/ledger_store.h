/* ledger_store — inside the ledger: where the batches and checkpoints are kept, one interface. */
#ifndef PDGATE_LEDGER_STORE_H
#define PDGATE_LEDGER_STORE_H

/*
 * The ledger's writer and readers see their storage through one small table of operations,
 * with two implementations: the embedded SQLite file (ledger_db.c, the default) and a
 * PostgreSQL database that several gateway nodes share (ledger_pg.c, `[ledger] url`). Both
 * hold the same rows — one batch per group commit, with its leaves, leaf hashes and the tree
 * nodes it completes (ledger_batch.h), and every signed checkpoint — so everything above this
 * interface (the tree, proofs, checkpoints, verification) is written once.
 *
 * The write protocol: begin() opens the commit transaction and takes the lock on the tree's
 * state, returning the size and time the store holds under that lock. Another node may have
 * appended since this one last looked: the caller then rebuilds its batch from that size
 * (reading the nodes it needs through this same store, inside the transaction) before
 * put_batch() and commit(). A checkpoint is signed and stored the same way, under the same
 * lock: whoever signs sees every committed batch and the latest checkpoint, so no two
 * inconsistent checkpoints are ever stored. Any failure: rollback(), and nothing of that
 * transaction is stored.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "merkle.h"

/* A stored batch holds at most this many entries (a commit holds a few pages at most); a
 * larger count is a damaged row, not an allocation to attempt. */
#define LEDGER_BATCH_MAX_ENTRIES (1u << 24)

/* The batch that holds an entry, its leaves split (ledger_store_leaf): reused, so that
 * consecutive entries of one batch read its row once. Zero-initialised: empty. */
struct ledger_batch_rd {
	uint64_t first, n; /* the entries [first, first + n); n == 0: nothing loaded */
	int64_t time;      /* the batch's time (Unix ms), every leaf's */
	struct buf text;   /* the leaves, one after the other */
	size_t *off, *len; /* leaf k at text.data + off[k], len[k] bytes */
	size_t cap;        /* slots of off and len */
};
void ledger_batch_rd_free(struct ledger_batch_rd *b);

/* The hashes of the batch the tree was last read from (ledger_store_tree). */
struct ledger_hashes {
	uint64_t first, n; /* the batch [first, first + n); n == 0: none */
	uint8_t *h;        /* its hashes column */
	size_t cap;        /* bytes allocated */
};

/* Where the stored tree ends, as the store holds it under the write lock. */
struct ledger_tip {
	uint64_t size; /* entries committed */
	int64_t time;  /* the last batch's time (Unix ms), 0 if none */
	/* The generation of the shared state (suspensions, revoked tokens) under the same lock; 0:
	 * the store holds none (the file). */
	uint64_t state_gen;
};

/* A stored suspension (a partner's, or the gateway's with partner ""); strings borrowed for
 * the call, by and reason may be NULL. */
struct ledger_suspension {
	const char *partner, *by, *reason;
	int64_t since_ms;
};

struct ledger_store;

/* What an implementation provides. Each returns 0 or an enum ledger_err (LEDGER_EIO when the
 * database fails; its message through errmsg). */
struct ledger_store_ops {
	const char *kind; /* "sqlite" or "postgresql", for messages */
	bool shared;      /* several writers (gateway nodes) may append to it */

	/* --- reading (any connection) --- */
	/* The number of entries (the end of the last batch). */
	int (*size)(struct ledger_store *s, uint64_t *size);
	/* The batch holding entry e: first, n and time; with hc, its hashes into hc (through
	 * ledger_store_keep_hashes); with b, its leaves into b (ledger_store_keep_leaves).
	 * LEDGER_ENOENT if no batch holds e. */
	int (*batch)(struct ledger_store *s, uint64_t e, uint64_t *first, uint64_t *n,
	             int64_t *time, struct ledger_hashes *hc, struct ledger_batch_rd *b);
	/* The checkpoint of size entries (0: the latest): its size, a copy of its note (caller
	 * frees, len bytes, NUL-terminated) and, if time is not NULL, when it was stored. */
	int (*checkpoint)(struct ledger_store *s, uint64_t size, uint64_t *cp_size, char **note,
	                  size_t *len, int64_t *time);
	/* A read snapshot: everything read until snapshot_end sees one state of the store. */
	int (*snapshot_begin)(struct ledger_store *s);
	void (*snapshot_end)(struct ledger_store *s);
	/* Every batch in the order of first (the raw columns, borrowed for the call), then
	 * nothing: fn returns 0 to go on, anything else stops the scan and is returned. */
	int (*scan_batches)(struct ledger_store *s,
	                    int (*fn)(void *arg, int64_t first, int64_t n, int64_t time,
	                              const uint8_t *hashes, size_t hlen, const char *leaves,
	                              size_t llen),
	                    void *arg);
	/* Every checkpoint in the order of size, as scan_batches. */
	int (*scan_checkpoints)(struct ledger_store *s,
	                        int (*fn)(void *arg, int64_t size, const char *note, size_t len,
	                                  int64_t time),
	                        void *arg);

	/* --- writing (a writer's connection) --- */
	/* Opens the commit transaction holding the lock on the tree state; the tip under it. */
	int (*begin)(struct ledger_store *s, struct ledger_tip *tip);
	/* Inserts the batch row of entries [first, first + n) (tip.size == first). */
	int (*put_batch)(struct ledger_store *s, uint64_t first, uint64_t n, int64_t time,
	                 const uint8_t *hashes, size_t hlen, const char *leaves, size_t llen);
	/* Inserts a signed checkpoint of size entries. */
	int (*put_checkpoint)(struct ledger_store *s, uint64_t size, const char *note, size_t len,
	                      int64_t time);
	/* Commits durably (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on). */
	int (*commit)(struct ledger_store *s);
	/* Ends a transaction begin opened without storing anything of it; no-op outside one. */
	void (*rollback)(struct ledger_store *s);
	/* Whether the store can be written now (a write of nothing durable): 0 or LEDGER_EIO. */
	int (*probe)(struct ledger_store *s);

	/* --- the shared state (NULL on the file: a single gateway keeps its own) --- */
	/* The generation and every suspension, one snapshot (inside begin's transaction: the one
	 * under the tree lock); fn returns 0 to go on. */
	int (*state_read)(struct ledger_store *s, uint64_t *gen,
	                  int (*fn)(void *arg, const struct ledger_suspension *su), void *arg);
	/* Suspends (su->by, su->reason, su->since_ms recorded) or lifts the suspension of
	 * su->partner in a transaction of its own that holds the tree lock, so that it is ordered
	 * with every batch: *changed is whether the row changed, and the generation grows by one if
	 * it did. A writer's connection, outside a transaction. */
	int (*state_suspend)(struct ledger_store *s, const struct ledger_suspension *su,
	                     bool suspended, bool *changed);
	/* Revokes token jti (revoked_at: Unix seconds) as state_suspend changes a suspension: in a
	 * transaction of its own holding the tree lock; *changed is whether it was not revoked
	 * yet, and the generation grows by one if so. A writer's connection, outside a
	 * transaction. */
	int (*state_revoke)(struct ledger_store *s, const char *jti, int64_t revoked_at,
	                    bool *changed);
	/* Every revoked token's jti, in one statement (after state_read: a change committed
	 * between the two makes the set larger than the generation says, never smaller); fn
	 * returns 0 to go on. */
	int (*state_revoked)(struct ledger_store *s, int (*fn)(void *arg, const char *jti),
	                     void *arg);
	/* Waits up to ms for a change of the shared state committed by any node (LISTEN on a
	 * connection used for nothing else): 1 if one was announced (or the connection was made
	 * again, so one may have been missed), 0 if none, LEDGER_EIO if the connection failed. */
	int (*state_wait)(struct ledger_store *s, int ms);

	/* --- the shared limits (NULL on the file: the state database and memory keep them) --- */
	/* Adds n (>= 1) records to work order jti's count if the count stays within max (>= 1), in
	 * one statement that commits by itself: *ok says whether it did. A writer's connection,
	 * outside a transaction. */
	int (*take)(struct ledger_store *s, const char *jti, int64_t n, int64_t max, bool *ok);
	/* Inside begin's transaction: adds n records to contract's volume of day (a cal_jst_day)
	 * if the total stays within max (0: no limit); *ok says whether it did, and *total is the
	 * day's volume after it (or as it stands, if not). */
	int (*volume_add)(struct ledger_store *s, const char *contract, int64_t day, uint64_t n,
	                  uint64_t max, bool *ok, uint64_t *total);
	/* Every contract's volume of day, in one statement; fn returns 0 to go on. */
	int (*volume_day)(struct ledger_store *s, int64_t day,
	                  int (*fn)(void *arg, const char *contract, uint64_t records), void *arg);

	/* The database's lock on recording a data set (anon_entry_lock), on s's own session:
	 * take waits for it at most wait_ms, !take gives it back (LEDGER_EIO also if the
	 * session lost it meanwhile; errmsg says which). NULL: a store with one writer, which
	 * needs none. */
	int (*ids_lock)(struct ledger_store *s, bool take, int wait_ms);

	/* The last error's message (borrowed until the next call on s). */
	const char *(*errmsg)(struct ledger_store *s);
	void (*free)(struct ledger_store *s);

	/* --- the witnesses' cosignatures (ledger_cosig.h), every node's in one table --- */
	/* Makes s, a writer's connection of its own, ready to store cosignatures: the table made
	 * if the store has none. */
	int (*cosig_open)(struct ledger_store *s);
	/* Stores witness's line line[0..len) of time ts for the checkpoint of size entries, in a
	 * transaction of its own, durably (inside one begin opened: in that one, as `ledger
	 * migrate` copies them); a line the store holds already for that checkpoint
	 * and witness (another node's, or an earlier answer) is kept and this one dropped. */
	int (*cosig_put)(struct ledger_store *s, uint64_t size, const char *witness, uint64_t ts,
	                 const char *line, size_t len);
	/* Every stored line of the checkpoint of size entries, in the byte order of the
	 * witnesses' names (borrowed for the call); fn returns 0 to go on. A store without the
	 * table holds none. */
	int (*cosig_lines)(struct ledger_store *s, uint64_t size,
	                   int (*fn)(void *arg, const char *line, size_t len), void *arg);
	/* The largest checkpoint size with at least n stored lines (witness NULL), or with a line
	 * by witness, into *size; 0 if none. */
	int (*cosig_newest)(struct ledger_store *s, unsigned n, const char *witness,
	                    uint64_t *size);
	/* Every stored line of the checkpoints of at most upto entries, with its checkpoint's
	 * size, witness and time, by size (in the snapshot or transaction the caller holds, which
	 * it leaves usable: a store without the table holds none); fn returns 0 to go on. */
	int (*cosig_scan)(struct ledger_store *s, uint64_t upto,
	                  int (*fn)(void *arg, uint64_t size, const char *witness, uint64_t ts,
	                            const char *line, size_t len),
	                  void *arg);
};

/* What every implementation's connection starts with. Used by one thread at a time. */
struct ledger_store {
	const struct ledger_store_ops *ops;
	struct ledger_batch_rd rd; /* the last batch read by ledger_store_leaf */
	struct ledger_hashes hc;   /* the last batch's hashes the tree was read from */
	struct ledger_store *next; /* in a pool's list of free connections */
};

/* Whether where names a PostgreSQL database (a postgresql:// or postgres:// URL) rather than
 * a file. */
bool ledger_store_is_url(const char *where);

/* Frees s (its implementation's free). NULL: no-op. */
void ledger_store_free(struct ledger_store *s);

/* The stored tree of s as a merkle node store (s borrowed): a node's hash is read from the
 * batch holding the entry that completes it, O(1) lookups per node. */
struct merkle_store ledger_store_tree(struct ledger_store *s);
/* The leaf of entry index (borrowed until the next call on s), through s->rd. 0,
 * LEDGER_ENOENT (no such entry), LEDGER_EIO (damaged) or LEDGER_ENOMEM. */
int ledger_store_leaf(struct ledger_store *s, uint64_t index, const char **leaf, size_t *len);
/* Loads into b the batch that holds entry index, unless b holds it already. As
 * ledger_store_leaf. */
int ledger_store_batch(struct ledger_store *s, uint64_t index, struct ledger_batch_rd *b);
/* The first index in [0, size] whose time is >= ms: times never decrease with the index, so a
 * time range is an index range. 0 or LEDGER_EIO. */
int ledger_store_bisect(struct ledger_store *s, uint64_t size, int64_t ms, uint64_t *out);

/* Checks that the leaves of entries [from, to) are each at its index and hash to their stored
 * hashes (what opening checks after the latest checkpoint). 0, or LEDGER_EIO with err. */
int ledger_store_check_leaves(struct ledger_store *s, uint64_t from, uint64_t to, char *err,
                              size_t errlen);

/* For implementations: checks a row's shape and keeps its hashes (len bytes) in hc, or its
 * leaves (the stored array, len bytes) split into b. 0, LEDGER_EIO (damaged), LEDGER_ENOMEM. */
int ledger_store_keep_hashes(struct ledger_hashes *hc, uint64_t first, uint64_t n, const uint8_t *h,
                             size_t len);
int ledger_store_keep_leaves(struct ledger_batch_rd *b, uint64_t first, uint64_t n, int64_t time,
                             const char *leaves, size_t len);
/* Frees what struct ledger_store holds (for an implementation's free). */
void ledger_store_clear(struct ledger_store *s);

#endif
