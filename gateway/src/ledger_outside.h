/* ledger_outside — the ledger against a checkpoint kept outside it, and a note's cosignatures. */
#ifndef PDGATE_LEDGER_OUTSIDE_H
#define PDGATE_LEDGER_OUTSIDE_H

#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "note.h"

struct ledger;

/* Witnesses a command is given at most (--witness). */
#define LEDGER_OUTSIDE_MAX_WITNESSES 32

/* The witnesses whose cosignatures a checkpoint must carry, and how many of them. */
struct ledger_quorum {
	struct note_verifier *keys[LEDGER_OUTSIDE_MAX_WITNESSES]; /* cosigners (type 0x04), owned */
	size_t n;                                                 /* keys given */
	size_t quorum; /* cosignatures required, 1..n; 0: all n */
};

/* Adds the witness key arg: a file holding a cosigner verifier key line, or the key itself.
 * 0, or -1 with why in err (not a cosigner vkey, a name given twice, too many). */
int ledger_quorum_add(struct ledger_quorum *q, const char *arg, char *err, size_t errlen);

/* Frees the keys of q (q itself is the caller's). */
void ledger_quorum_clear(struct ledger_quorum *q);

/*
 * Whether the signed checkpoint msg[0..len) carries q's quorum of valid cosignatures: lines
 * by other keys are ignored, a line by one of q's keys that does not verify fails. 0 with the
 * count in *n_valid; -1 with why in err (naming the witnesses that did not cosign).
 */
int ledger_quorum_check(const struct ledger_quorum *q, const char *msg, size_t len, size_t *n_valid,
                        char *err, size_t errlen);

/*
 * Whether the ledger l extends the checkpoint msg[0..len) seen outside it: the note is signed
 * by v (the ledger's key) and the tree of l at the note's size has the note's root, shown by a
 * consistency proof from l, from that size to cp_size, leading to cp_root (the ledger's latest
 * checkpoint, already verified against its entries: ledger_verify). A checkpoint beyond cp_size
 * is refused: the ledger lost what it had signed. *cp is the note's checkpoint (cp->origin
 * points into msg). 0, or -1 with why in err.
 */
int ledger_outside_extends(struct ledger *l, struct note_verifier *v, const char *msg, size_t len,
                           uint64_t cp_size, const uint8_t cp_root[MERKLE_HASH_LEN],
                           struct note_checkpoint *cp, char *err, size_t errlen);

#endif
