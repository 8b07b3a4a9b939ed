/* ledger — the durable transfer ledger: entries committed in groups, signed checkpoints. */
#ifndef PDGATE_LEDGER_H
#define PDGATE_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger_err.h"
#include "ledger_leaf.h"
#include "log.h"
#include "metrics.h"

/*
 * The invariant the gateway is built on: an answer that releases or refuses anything is queued
 * for sending only after ledger_append returned 0 for its entries. A crash can lose an answer,
 * never a record; a ledger that cannot be written stops every answer (503 ledger_unavailable).
 *
 * The leaf format, the tables of ledger.db and the verification rules are in docs/ledger.md.
 * This header opens, writes and closes the ledger; ledger_read.h reads it; ledger_leaf.h says
 * what an entry holds.
 */

/* One ledger_append call takes at most this many entries (a page of 1000 members). */
#define LEDGER_MAX_BATCH 1000
/* Read connections of an open ledger when ledger_params.readers is 0. */
#define LEDGER_READERS 4

struct ledger_store;

/* How to open a ledger. Strings borrowed for the duration of ledger_open. */
struct ledger_params {
	const char *path;   /* ledger.db, created (with its schema) if absent unless read_only; or
	                       a postgresql:// URL (ledger_pg.h: the tables made in an empty
	                       database, several gateways may write it at once) */
	const char *origin; /* checkpoint origin and note key name; must match the stored one.
	                       May be NULL with read_only: the stored one is used. */
	const char *key;    /* Ed25519 private key (PEM file, mode 0600); unused with read_only */
	unsigned checkpoint_interval_ms; /* 0: 1000 */
	unsigned readers;                /* read connections; 0: LEDGER_READERS */
	bool read_only;          /* readers only: no writer, no key, no entries, no checkpoints (the
	                            commands, on a running gateway's file or on a copy) */
	struct log *log;         /* daemon messages (borrowed, outlives the ledger); NULL: stderr */
	const char *version;     /* pdgate's version, into the gateway_start entry (borrowed for the
	                            call); NULL: that entry has no version member */
	struct metrics *metrics; /* counts the writer's commits; NULL: none (borrowed) */
	/* Witnessing (witness_client.h); each NULL: none. Both run on the writer's thread and must
	 * not call the ledger. may_sign: 0 holds the checkpoint of size entries back (the writer
	 * asks again after an interval), 1 lets it be signed. signed_cb: a checkpoint was signed
	 * and stored (note[0..len) borrowed for the call). */
	int (*may_sign)(void *arg, uint64_t size);
	void (*signed_cb)(void *arg, uint64_t size, const char *note, size_t len);
	void *hook_arg;
	/* Shared state, for a store several nodes share (a PostgreSQL ledger; ignored on the
	 * file). On the writer's thread, inside its commit transaction under the tree lock:
	 * state_load puts in force the state the store holds (read through s), whenever its
	 * generation is not the one the writer saw last; state_allows then says whether a release
	 * of partner under work order token (its jti; NULL: none) decided under another
	 * generation may still go out (false: its call fails with LEDGER_ESTATE, none of its
	 * entries stored). state_restrictions then gives the members' restriction bits now in
	 * force for a release's subject: one whose bits that matter (ledger_entry.restrict_mask)
	 * differ from those its decision used fails the same way. None may call the ledger. */
	int (*state_load)(void *arg, struct ledger_store *s);
	bool (*state_allows)(void *arg, const char *partner, const char *token);
	unsigned (*state_restrictions)(void *arg, const char *subject);
	void *state_arg;
	/* Daily volumes, for a store several nodes share (ignored on the file; NULL: not counted).
	 * Each commit adds the records of its releases (ledger_entry.records_per_day > 0) to their
	 * contract's volume of the batch's JST day under the tree lock (ledger_volume.h); a call
	 * whose releases would pass the limit fails with LEDGER_EVOLUME. volume_seen, on the
	 * writer's thread, learns each total read: after the COMMIT for the calls it held
	 * (committed: their records), before the refused call's callback (committed 0). It must
	 * not call the ledger. */
	void (*volume_seen)(void *arg, const char *contract, int64_t day, uint64_t total,
	                    uint64_t committed);
	void *volume_arg;
};

struct ledger;

/*
 * Opens the ledger. Unless read_only: sets WAL and synchronous=FULL, creates the schema, checks
 * the stored origin, checks that the latest checkpoint verifies with the key and matches the
 * stored tree and that the leaves after it hash to their stored hashes, reloads the frontier,
 * signs a checkpoint over entries a crash left unsigned, starts the writer thread and appends the
 * admin entry "gateway_start" (with p->version). Returns the ledger (close it with ledger_close),
 * or NULL with a message in err (always NUL-terminated).
 */
struct ledger *ledger_open(const struct ledger_params *p, char *err, size_t errlen);

/*
 * Appends "gateway_stop", lets the writer commit everything queued, signs the final checkpoint,
 * stops the writer, logs the commit statistics and frees. Callers of ledger_append must have
 * returned; the callbacks of ledger_append_async still pending are called before it returns.
 * Returns 0, or LEDGER_EIO if the stop entry or the final checkpoint could not be written
 * (logged; the next open signs what is unsigned). NULL: no-op, 0.
 */
int ledger_close(struct ledger *l);

/*
 * Appends e[0..n) (1 <= n <= LEDGER_MAX_BATCH: one request's entries) and blocks until they are
 * durably committed, together with whatever else was queued meanwhile (group commit). Returns 0
 * and the index of e[0] in *first_index (the others follow contiguously). Otherwise none of them
 * is stored, and it returns LEDGER_EENTRY if an entry is malformed (a bug of the caller: logged
 * here), LEDGER_EINVAL for n out of range or a read-only ledger, or LEDGER_EIO / LEDGER_ENOMEM
 * when they cannot be written (the database fails, is full or locked): answer 503. Thread-safe;
 * the writer recovers by itself when the database can be written again.
 */
int ledger_append(struct ledger *l, const struct ledger_entry *e, size_t n, uint64_t *first_index);

/*
 * What ledger_append_async calls once: on the writer thread, after the COMMIT of the batch that
 * stored the entries returned (rc LEDGER_OK, first_index the index of e[0]), or once that batch
 * failed (rc LEDGER_EIO, nothing of it stored). It must be short and must not wait for the
 * writer (no ledger_append, no ledger_close): the next batch waits for it.
 */
typedef void (*ledger_done_fn)(void *arg, int rc, uint64_t first_index);

/*
 * ledger_append without the wait: builds the entries' leaves (e is not used after the call) and
 * queues them for the next group commit. Returns LEDGER_OK, and done(arg, …) is then called
 * exactly once, as above, before ledger_close returns (the writer commits everything queued
 * before it stops); or an error as ledger_append's (LEDGER_EIO once ledger_close has begun),
 * and done is never called.
 */
int ledger_append_async(struct ledger *l, const struct ledger_entry *e, size_t n,
                        ledger_done_fn done, void *arg);

/*
 * The writer's state for the status listener (SPEC 15.2): sizes, the latest checkpoint, and
 * whether the ledger can be written. While commits fail, the writer tries a write of its own
 * every second, so failing clears by itself once the ledger can be written again.
 */
struct ledger_health {
	uint64_t size;            /* entries committed */
	uint64_t checkpoint_size; /* entries the latest checkpoint covers */
	int64_t checkpoint_ms;    /* when that checkpoint was signed (Unix ms); 0: none */
	int64_t waiting_ms;       /* how long entries past it have waited for a checkpoint; 0 */
	unsigned interval_ms;     /* the checkpoint interval */
	bool failing;             /* the last commit failed and no write has worked since */
	char error[160];          /* with failing: why (SQLite's message) */
};
void ledger_health(struct ledger *l, struct ledger_health *h);

/* Stops the ledger for good, as a failed consistency check does: no more entries (every
 * ledger_append fails with LEDGER_EIO: data requests answer 503 ledger_unavailable) and no more
 * checkpoints; why (copied) is what ledger_health says. For a tree that outside parties have
 * seen larger or different (witness_client.h). Thread-safe. */
void ledger_refuse(struct ledger *l, const char *why);

/* The ledger's origin, as stored (borrowed from l). */
const char *ledger_origin(const struct ledger *l);

/* The verifier key line (no newline; caller frees) of the ledger key file key (mode 0600 or
 * stricter) under origin, or NULL with err. */
char *ledger_key_vkey(const char *key, const char *origin, char *err, size_t errlen);

#endif
