/* ledger_verify — inside the ledger: the whole-ledger check (docs/ledger.md, section 5). */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "buf.h"
#include "ledger_batch.h"
#include "ledger_db.h"
#include "ledger_err.h"
#include "ledger_leaf.h"
#include "ledger_verify.h"

static int problem(struct ledger_verdict *out, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Says what is wrong in out->problem; returns rc. */
static int
problem(struct ledger_verdict *out, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->problem, sizeof(out->problem), fmt, ap);
	va_end(ap);
	return rc;
}

static bool
action_is(const struct ledger_leaf *leaf, const char *action)
{
	return leaf->admin.action != NULL && strcmp(leaf->admin.action, action) == 0;
}

/* What the walk over the batches carries from one entry to the next. */
struct walk {
	struct merkle_mem *mem;     /* the tree rebuilt from the leaves */
	struct ledger_leaf *leaf;   /* the entry being checked */
	struct ledger_verdict *out; /* out->size: the entries checked so far */
	EVP_MD_CTX *digest;         /* of the leaves and their newlines; NULL: none */
	int64_t prev_ms;            /* the time of the entry before */
	bool prev_stop;             /* the entry before is a gateway_stop */
	bool shared;                /* several nodes write: another may go on after one stops */
	uint64_t last_stop;         /* the last gateway_stop (UINT64_MAX: none) */
};

/* One stored entry: hash, position, canonical form, its batch's time, and the order rules.
 * What makes a dropped tail visible (docs/ledger.md, "Verification"): every entry that
 * follows a gateway_stop is a gateway_start. */
static int
verify_entry(struct walk *w, uint64_t pos, const char *text, size_t len,
             const uint8_t stored[MERKLE_HASH_LEN], int64_t batch_ms)
{
	struct ledger_verdict *out = w->out;
	uint8_t hash[MERKLE_HASH_LEN];

	if (merkle_leaf_hash(text, len, hash) != MERKLE_OK)
		return problem(out, LEDGER_ENOMEM, "hashing failed");
	if (memcmp(hash, stored, MERKLE_HASH_LEN) != 0)
		return problem(out, LEDGER_EVERIFY,
		               "entry %" PRIu64 ": the leaf does not hash to its stored hash", pos);
	if (ledger_leaf_parse(text, len, w->leaf) < 0)
		return problem(
		    out, LEDGER_EVERIFY,
		    "entry %" PRIu64 ": the leaf is not a version 1 leaf in canonical form", pos);
	if (w->leaf->index != pos)
		return problem(out, LEDGER_EVERIFY,
		               "entry %" PRIu64 ": its leaf says index %" PRIu64, pos,
		               w->leaf->index);
	if (w->leaf->time_ms != batch_ms)
		return problem(out, LEDGER_EVERIFY,
		               "entry %" PRIu64 ": its time differs from its batch's", pos);
	if (w->prev_stop && !w->shared && !action_is(w->leaf, "gateway_start"))
		return problem(out, LEDGER_EVERIFY,
		               "entry %" PRIu64 ": follows gateway_stop but is not gateway_start",
		               pos);
	if (w->leaf->time_ms < w->prev_ms)
		return problem(out, LEDGER_EVERIFY,
		               "entry %" PRIu64 ": its time is before the time of entry %" PRIu64,
		               pos, pos - 1);
	w->prev_ms = w->leaf->time_ms;
	if ((w->prev_stop = action_is(w->leaf, "gateway_stop")))
		w->last_stop = pos;
	if (merkle_mem_append(w->mem, hash) != MERKLE_OK)
		return problem(out, LEDGER_ENOMEM, "out of memory");
	if (w->digest != NULL && (EVP_DigestUpdate(w->digest, text, len) != 1 ||
	                          EVP_DigestUpdate(w->digest, "\n", 1) != 1))
		return problem(out, LEDGER_ENOMEM, "hashing failed");
	return 0;
}

/* The nodes the batch [first, first + n) completes, against the rebuilt tree (which holds the
 * batch's leaves). */
static int
verify_nodes(struct walk *w, uint64_t first, uint64_t n, const uint8_t *hashes)
{
	struct merkle_store tree = merkle_mem_store(w->mem);
	uint8_t hash[MERKLE_HASH_LEN];

	for (uint64_t e = first; e < first + n; e++)
		for (uint64_t lv = 1; lv < MERKLE_MAX_LEVELS && ((e + 1) & ((1ull << lv) - 1)) == 0;
		     lv++) {
			uint64_t ix = ((e + 1) >> lv) - 1;
			int64_t at = ledger_batch_node_at(first, n, lv, ix);
			assert(at >= 0);
			if (tree.node_hash(tree.ctx, lv, ix, hash) != 0 ||
			    memcmp(hash, hashes + at, MERKLE_HASH_LEN) != 0)
				return problem(w->out, LEDGER_EVERIFY,
				               "node (level %" PRIu64 ", index %" PRIu64
				               "): differs from the tree of the entries (covering "
				               "entries %" PRIu64 "..%" PRIu64 ")",
				               lv, ix, ix << lv, e);
		}
	return 0;
}

/* What the scan over the batches carries besides the walk: the leaves split. */
struct scan {
	struct walk *w;
	struct buf text;
	size_t *off, *lens, cap;
};

/* One stored batch, in the order of first: contiguous from 0, its hashes and leaves of the
 * right shape, each entry (verify_entry) and each node it completes (verify_nodes). */
static int
verify_batch(void *arg, int64_t first, int64_t n, int64_t ms, const uint8_t *hashes, size_t hlen,
             const char *leaves, size_t llen)
{
	struct scan *sc = arg;
	struct walk *w = sc->w;
	struct ledger_verdict *out = w->out;
	uint64_t pos = out->size;
	int rc;

	if (first < 0 || (uint64_t)first != pos)
		return problem(out, LEDGER_EVERIFY,
		               "entry %" PRIu64 ": missing (the next stored batch starts at %lld)",
		               pos, (long long)first);
	/* a batch's leaves are at least two bytes each ("" in the array) */
	if (n <= 0 || (uint64_t)n > llen || hashes == NULL ||
	    hlen != ledger_batch_hashes_len(pos, (uint64_t)n))
		return problem(out, LEDGER_EVERIFY,
		               "batch of entries %" PRIu64 "..: its count or hashes are damaged",
		               pos);
	if ((size_t)n > sc->cap) {
		free(sc->off);
		free(sc->lens);
		sc->cap = (size_t)n;
		sc->off = malloc(sc->cap * sizeof(*sc->off));
		sc->lens = malloc(sc->cap * sizeof(*sc->lens));
		if (sc->off == NULL || sc->lens == NULL) {
			sc->cap = 0;
			return problem(out, LEDGER_ENOMEM, "out of memory");
		}
	}
	if (leaves == NULL ||
	    ledger_batch_split(leaves, llen, (uint64_t)n, &sc->text, sc->off, sc->lens) < 0)
		return problem(out, LEDGER_EVERIFY,
		               "batch of entries %" PRIu64 "..%" PRIu64
		               ": its leaves are not %lld leaves in the stored form",
		               pos, pos + (uint64_t)n - 1, (long long)n);
	for (int64_t k = 0; k < n; k++) {
		if ((rc = verify_entry(w, pos + (uint64_t)k, sc->text.data + sc->off[k],
		                       sc->lens[k], hashes + k * MERKLE_HASH_LEN, ms)) != 0)
			return rc;
		out->size++;
	}
	return verify_nodes(w, pos, (uint64_t)n, hashes);
}

static int
verify_batches(struct ledger_store *s, struct walk *w)
{
	struct scan sc = {.w = w};
	int rc = s->ops->scan_batches(s, verify_batch, &sc);

	if (rc == LEDGER_EIO && w->out->problem[0] == '\0')
		problem(w->out, LEDGER_EIO, "reading batches: %s", s->ops->errmsg(s));
	buf_free(&sc.text);
	free(sc.off);
	free(sc.lens);
	return rc;
}

/* What the scan over the checkpoints carries. */
struct cps {
	struct merkle_store *tree;
	struct note_verifier *v;
	struct ledger_verdict *out;
};

/* One checkpoint, in the order of size: signature, size, root, consistency with the one
 * before. */
static int
verify_checkpoint(void *arg, int64_t sz, const char *note, size_t len, int64_t time)
{
	struct cps *c = arg;
	struct ledger_verdict *out = c->out;
	uint8_t root[MERKLE_HASH_LEN], proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	struct note_checkpoint cp;
	size_t np;
	int r = NOTE_OK;

	(void)time;
	if (note == NULL || (r = note_checkpoint_open(note, len, &c->v, 1, &cp)) != NOTE_OK)
		return problem(out, LEDGER_EVERIFY, "checkpoint %lld: %s", (long long)sz,
		               note ? note_strerror(r) : "no note");
	if (sz <= 0 || cp.size != (uint64_t)sz)
		return problem(out, LEDGER_EVERIFY, "checkpoint %lld: its note says size %" PRIu64,
		               (long long)sz, cp.size);
	if (cp.size > out->size)
		return problem(out, LEDGER_EVERIFY,
		               "checkpoint %" PRIu64 ": beyond the %" PRIu64 " stored entries",
		               cp.size, out->size);
	if (merkle_root(c->tree, cp.size, root) != MERKLE_OK ||
	    memcmp(root, cp.root, MERKLE_HASH_LEN) != 0)
		return problem(out, LEDGER_EVERIFY,
		               "checkpoint %" PRIu64 ": its root differs from the tree of the "
		               "stored entries",
		               cp.size);
	if (out->cp_size > 0 &&
	    (merkle_consistency_proof(c->tree, out->cp_size, cp.size, proof, MERKLE_MAX_PROOF,
	                              &np) != MERKLE_OK ||
	     merkle_verify_consistency(out->cp_size, cp.size, out->cp_root, root,
	                               (const uint8_t(*)[MERKLE_HASH_LEN])proof, np) != MERKLE_OK))
		return problem(out, LEDGER_EVERIFY,
		               "checkpoint %" PRIu64 ": not consistent with checkpoint %" PRIu64,
		               cp.size, out->cp_size);
	/* Checkpoints only grow: each extends the one before. */
	assert(cp.size > out->cp_size);
	out->cp_size = cp.size;
	memcpy(out->cp_root, root, MERKLE_HASH_LEN);
	return 0;
}

static int
verify_checkpoints(struct ledger_store *s, struct merkle_store *tree, struct note_verifier *v,
                   struct ledger_verdict *out)
{
	struct cps c = {tree, v, out};
	int rc = s->ops->scan_checkpoints(s, verify_checkpoint, &c);

	if (rc == LEDGER_EIO && out->problem[0] == '\0')
		problem(out, LEDGER_EIO, "reading checkpoints: %s", s->ops->errmsg(s));
	return rc;
}

/* Entries after the latest checkpoint: only while the gateway may still be about to sign them,
 * none after a gateway_stop, the oldest younger than the grace. */
static int
verify_tail(struct ledger_store *s, uint64_t last_stop, int64_t now_ms, int64_t grace_ms,
            struct ledger_verdict *out)
{
	uint64_t n = out->size, cp = out->cp_size, first, count;
	int64_t t;

	out->unsigned_n = n - cp;
	if (n == cp)
		return 0;
	if (s->ops->batch(s, cp, &first, &count, &t, NULL, NULL) != 0)
		return problem(out, LEDGER_EIO, "%s", s->ops->errmsg(s));
	out->unsigned_age_ms = now_ms - t;
	if (last_stop != UINT64_MAX && last_stop >= cp)
		return problem(out, LEDGER_EVERIFY,
		               "entries %" PRIu64 "..%" PRIu64 " are not covered by a checkpoint, "
		               "and entry %" PRIu64 " is gateway_stop, after which a checkpoint is "
		               "always signed: a checkpoint was removed",
		               cp, n - 1, last_stop);
	if (out->unsigned_age_ms > grace_ms)
		return problem(out, LEDGER_EVERIFY,
		               "entries %" PRIu64 "..%" PRIu64
		               " are not covered by a checkpoint and "
		               "entry %" PRIu64 " is %" PRId64 " ms old (a running gateway signs "
		               "within %" PRId64 " ms): a checkpoint was removed, or the gateway "
		               "stopped without signing (starting it signs them)",
		               cp, n - 1, cp, out->unsigned_age_ms, grace_ms);
	return 0;
}

int
ledger_verify_db(sqlite3 *db, struct note_verifier *v, int64_t now_ms, int64_t grace_ms,
                 uint8_t digest[MERKLE_HASH_LEN], struct ledger_verdict *out)
{
	struct ledger_conn *c;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((c = ledger_conn_borrow(db, out->problem, sizeof(out->problem))) == NULL)
		return LEDGER_EIO;
	rc = ledger_verify_store(&c->base, v, now_ms, grace_ms, digest, out);
	ledger_conn_free(c);
	return rc;
}

int
ledger_verify_store(struct ledger_store *s, struct note_verifier *v, int64_t now_ms,
                    int64_t grace_ms, uint8_t digest[MERKLE_HASH_LEN], struct ledger_verdict *out)
{
	struct ledger_conn *c = ledger_conn_of(s);
	/* several nodes wrote it: the store itself, or a file copied from one */
	struct walk w = {.out = out,
	                 .last_stop = UINT64_MAX,
	                 .shared = s->ops->shared || (c != NULL && ledger_db_shared(c->db))};
	struct merkle_store tree;
	int rc;

	memset(out, 0, sizeof(*out));
	w.mem = merkle_mem_new();
	w.leaf = malloc(sizeof(*w.leaf));
	if (digest != NULL && ((w.digest = EVP_MD_CTX_new()) == NULL ||
	                       EVP_DigestInit_ex(w.digest, EVP_sha256(), NULL) != 1)) {
		rc = problem(out, LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	if (w.mem == NULL || w.leaf == NULL) {
		rc = problem(out, LEDGER_ENOMEM, "out of memory");
		goto done;
	}
	tree = merkle_mem_store(w.mem);
	if ((rc = verify_batches(s, &w)) == 0 && (rc = verify_checkpoints(s, &tree, v, out)) == 0)
		rc = verify_tail(s, w.last_stop, now_ms, grace_ms, out);
	if (rc == 0 && digest != NULL && EVP_DigestFinal_ex(w.digest, digest, NULL) != 1)
		rc = problem(out, LEDGER_ENOMEM, "hashing failed");
done:
	EVP_MD_CTX_free(w.digest);
	merkle_mem_free(w.mem);
	free(w.leaf);
	return rc;
}
