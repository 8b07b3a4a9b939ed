/* ledger_volume — inside the ledger: what a call's releases claim of the state several nodes
 * share, checked in the writer's commit: a contract's daily volume, the members' restrictions. */
#ifndef PDGATE_LEDGER_VOLUME_H
#define PDGATE_LEDGER_VOLUME_H

/*
 * With a store several gateway nodes share, a contract's records_per_day holds across all of
 * them: each commit adds the records of its releases to their contract's row of the day (the
 * batch's JST day), inside the commit transaction, under the tree lock, and reads the total
 * back. A release that would take the total past its contract's limit is taken out of the
 * batch (its call fails with LEDGER_EVOLUME); the node's limits learn each total
 * (ledger_params.volume_seen), so most requests are decided right the first time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger_leaf.h"
#include "ledger_store.h"

/* What one ledger_append call claims of a contract's day. Zero-initialised: nothing. */
struct ledger_volume {
	char *contract;             /* NULL: the call releases nothing counted */
	uint64_t records;           /* its releases of a member */
	uint64_t limit;             /* the contract's records_per_day its decision was made under */
	uint64_t total;             /* after ledger_volume_take: the contract's volume of the day */
	bool refused;               /* after ledger_volume_take: the total would pass the limit */
	struct ledger_volume *next; /* the batch's claims, for ledger_volume_take */
};

/* The claim of entries e[0..n): their releases of a member (with a subject) under a contract
 * with records_per_day, the first one's contract and limit (one call releases under one
 * contract). 0, or LEDGER_ENOMEM. */
int ledger_volume_claim(struct ledger_volume *v, const struct ledger_entry *e, size_t n);
void ledger_volume_clear(struct ledger_volume *v);

/*
 * Inside s's commit transaction, under the tree lock: the claims of the chain v (in batch
 * order, each with a contract) added to their contracts' rows of day. The claims of one contract
 * are added together when they fit; otherwise, in order, each that still fits under its own limit
 * is kept and each that does not is refused. Sets every claim's total and refused. 0, or LEDGER_EIO
 * (the transaction is then to be rolled back).
 */
int ledger_volume_take(struct ledger_store *s, struct ledger_volume *v, int64_t day);

/* A released member, as its decision saw its restrictions (ledger_entry.restrictions). */
struct ledger_member_check {
	char subject[72]; /* the subject reference (PSEUDO_SUBJECT_HEX hex digits) */
	unsigned bits, mask;
};

/* A call's released members whose restrictions matter to their decision (restrict_mask not 0),
 * checked again under the tree lock when the shared state moved. Zero-initialised: none. */
struct ledger_members {
	struct ledger_member_check *v;
	size_t n;
};

/* The members released by e[0..n). 0, or LEDGER_ENOMEM. */
int ledger_members_claim(struct ledger_members *m, const struct ledger_entry *e, size_t n);
void ledger_members_clear(struct ledger_members *m);
/* Whether the bits that matter of any member differ now, as now(arg, subject) says them. */
bool ledger_members_changed(const struct ledger_members *m,
                            unsigned (*now)(void *arg, const char *subject), void *arg);

#endif
