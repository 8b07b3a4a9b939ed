/* ledger_err — the ledger's error codes and what each means, in one table. */
#ifndef PDGATE_LEDGER_ERR_H
#define PDGATE_LEDGER_ERR_H

/* What the ledger's functions return: 0, or one of these. */
enum ledger_err {
	LEDGER_OK = 0,
	LEDGER_EIO = -1,    /* the database failed: cannot read, write, lock, or is corrupt; or
	                       the ledger stopped writing (closing, or a failed consistency check) */
	LEDGER_ERANGE = -2, /* index or size outside the ledger (or not yet committed) */
	LEDGER_ENOENT = -3, /* no checkpoint (of that size) */
	LEDGER_EINVAL = -4, /* an argument the call does not accept */
	LEDGER_ENOMEM = -5,
	LEDGER_EENTRY = -6,  /* ledger_append: a malformed entry (see ledger_leaf_tail) */
	LEDGER_EVERIFY = -7, /* ledger_verify: the ledger is not intact */
	LEDGER_ESTATE = -8,  /* ledger_append: a release decided under shared state that has
	                        changed since refuses under the new state (ledger_params.state_load):
	                        none of its entries stored; decide again */
	LEDGER_EVOLUME = -9, /* ledger_append: a release would take its contract's daily volume,
	                        counted across the nodes of a shared store, past records_per_day
	                        (ledger_params.volume_seen has been told the total): none of its
	                        entries stored; decide step 8 again */
};

/* A static string naming the error; never NULL. */
const char *ledger_strerror(int err);

#endif
