/* ledger — the durable transfer ledger: entries committed in groups, signed checkpoints, proofs. */
#ifndef PDGATE_LEDGER_H
#define PDGATE_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "merkle.h"

/*
 * The invariant the gateway is built on: an answer that releases or refuses anything is queued
 * for sending only after ledger_append returned 0 for its entries. A crash can lose an answer,
 * never a record; a ledger that cannot be written stops every answer (503 ledger_unavailable).
 *
 * The leaf format, the tables of ledger.db and the verification rules are in docs/ledger.md.
 */

/* One ledger_append call takes at most this many entries (a page of 1000 members); a leaf
 * longer than LEDGER_MAX_LEAF bytes, or with more than LEDGER_MAX_ITEMS items, is refused. */
#define LEDGER_MAX_BATCH 1000
#define LEDGER_MAX_LEAF (64 * 1024)
#define LEDGER_MAX_ITEMS 1024
/* Read connections of an open ledger when ledger_params.readers is 0. */
#define LEDGER_READERS 4

enum ledger_err {
	LEDGER_OK = 0,
	LEDGER_EIO = -1,    /* the database failed: cannot read, write, lock, or is corrupt */
	LEDGER_ERANGE = -2, /* index or size outside the ledger (or not yet committed) */
	LEDGER_ENOENT = -3, /* no checkpoint (of that size) */
	LEDGER_EINVAL = -4, /* an argument the call does not accept */
	LEDGER_ENOMEM = -5,
};

/* A static string naming the error; never NULL. */
const char *ledger_strerror(int err);

enum ledger_kind {
	LEDGER_RELEASE, /* "release": member data left the gateway */
	LEDGER_DENY,    /* "deny": a refusal, with its error code in reason */
	LEDGER_ADMIN, /* "admin": suspensions, resumptions, key rotation, gateway start and stop */
};

/* The "admin" member of an admin entry. Strings borrowed; NULL is written as JSON null. */
struct ledger_admin {
	const char *action; /* "gateway_start", "partner_suspend", … (required) */
	const char *staff;  /* the staff member who acted; NULL for the gateway itself */
	const char *reason; /* as given by the staff member */
	const char *target; /* the partner acted on; NULL for the whole gateway */
};

/*
 * One decision, as the request path knows it (SPEC 11.1). Every string is borrowed for the
 * duration of ledger_append and must be valid UTF-8; NULL is written as JSON null ("not
 * reached"). The ledger adds v, index and time itself.
 */
struct ledger_entry {
	enum ledger_kind kind;
	const char *request;      /* request id */
	const char *partner;      /* partner id */
	const char *contract;     /* contract id */
	const char *relationship; /* entrustment, joint_use, third_party */
	const char *purpose;      /* purpose id */
	const char *subject;      /* hex keyed reference of the member, never the member id */
	const char *const *items; /* n_items released catalog paths with transforms; NULL: null */
	size_t n_items;
	const char *basis;                /* entrustment, joint_use, consent, exception:<purpose> */
	const char *reason;               /* apierr code of a deny */
	const char *digest;               /* hex SHA-256 of the released body of this member */
	const char *cert;                 /* hex SHA-256 of the client certificate (DER) */
	const char *token;                /* the work order's jti */
	const char *justification;        /* for exception purposes */
	const struct ledger_admin *admin; /* required for LEDGER_ADMIN, else must be NULL */
};

/* How to open a ledger. Strings borrowed for the duration of ledger_open. */
struct ledger_params {
	const char *path;   /* ledger.db; created (with its schema) if absent, unless read_only */
	const char *origin; /* checkpoint origin and note key name; must match the stored one.
	                       May be NULL with read_only: the stored one is used. */
	const char *key;    /* Ed25519 private key (PEM file, mode 0600); unused with read_only */
	unsigned checkpoint_interval_ms; /* 0: 1000 */
	unsigned readers;                /* read connections; 0: LEDGER_READERS */
	bool read_only;  /* readers only: no writer, no key, no entries, no checkpoints (the
	                    commands, on a running gateway's file or on a copy) */
	struct log *log; /* daemon messages (borrowed, outlives the ledger); NULL: stderr */
};

struct ledger;

/*
 * Opens the ledger. Unless read_only: sets WAL and synchronous=FULL, creates the schema, checks
 * the stored origin, checks that the latest checkpoint verifies with the key and matches the
 * stored tree and that the leaves after it hash to their stored hashes, reloads the frontier,
 * signs a checkpoint over entries a crash left unsigned, starts the writer thread and appends the
 * admin entry "gateway_start". Returns the ledger (close it with ledger_close), or NULL with a
 * message in err (always NUL-terminated).
 */
struct ledger *ledger_open(const struct ledger_params *p, char *err, size_t errlen);

/*
 * Appends "gateway_stop", lets the writer commit everything queued, signs the final checkpoint,
 * stops the writer, logs the commit statistics and frees. Callers of ledger_append must have
 * returned. Returns 0, or -1 if the stop entry or the final checkpoint could not be written
 * (logged; the next open signs what is unsigned). NULL: no-op, 0.
 */
int ledger_close(struct ledger *l);

/*
 * Appends e[0..n) (1 <= n <= LEDGER_MAX_BATCH: one request's entries) and blocks until they are
 * durably committed, together with whatever else was queued meanwhile (group commit). Returns 0
 * and the index of e[0] in *first_index (the others follow contiguously); or -1 if they cannot
 * be written — the database fails, is full or locked, or an entry is malformed — and then none
 * of them is stored. Thread-safe; the writer recovers by itself when the database can be written
 * again.
 */
int ledger_append(struct ledger *l, const struct ledger_entry *e, size_t n, uint64_t *first_index);

struct ledger_stats {
	uint64_t commits;     /* transactions committed by the writer */
	uint64_t entries;     /* entries they held */
	uint64_t failed;      /* transactions that failed (their callers got -1) */
	uint64_t checkpoints; /* checkpoints signed since open */
};

/* Counters since open, for the group-commit figure (entries / commits). */
void ledger_stats(struct ledger *l, struct ledger_stats *s);

/* --- Readers: thread-safe, on read-only connections; they never wait for the writer. --- */

/* The number of committed entries. 0 or an error. */
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
 * (UTC+9) of now_ms, so that daily volume limits survive a restart. 0 or an error. */
int ledger_day_releases(struct ledger *l, int64_t now_ms,
                        void (*fn)(void *arg, const char *contract, uint64_t count), void *arg);

/* `pdgate ledger verify|export|checkpoint|prove|check-proof ...`; argv[0] is "ledger". */
int ledger_main(int argc, char **argv);

#endif
