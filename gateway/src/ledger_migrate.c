/* ledger_migrate — inside the ledger: an embedded ledger moved into PostgreSQL, verified. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ledger_db.h"
#include "ledger_err.h"
#include "ledger_migrate.h"
#include "ledger_pg.h"
#include "ledger_pool.h"
#include "ledger_store.h"
#include "ledger_verify.h"
#include "now.h"

/* What the scans hand the destination. */
struct copy {
	struct ledger_store *dst;
	uint64_t batches, checkpoints;
};

static int
copy_batch(void *arg, int64_t first, int64_t n, int64_t time, const uint8_t *hashes, size_t hlen,
           const char *leaves, size_t llen)
{
	struct copy *c = arg;

	/* the source verified in this same snapshot: its rows are well formed */
	if (first < 0 || n <= 0 || hashes == NULL || leaves == NULL)
		return LEDGER_EIO;
	c->batches++;
	return c->dst->ops->put_batch(c->dst, (uint64_t)first, (uint64_t)n, time, hashes, hlen,
	                              leaves, llen);
}

static int
copy_checkpoint(void *arg, int64_t size, const char *note, size_t len, int64_t time)
{
	struct copy *c = arg;

	if (size <= 0 || note == NULL)
		return LEDGER_EIO;
	c->checkpoints++;
	return c->dst->ops->put_checkpoint(c->dst, (uint64_t)size, note, len, time);
}

/* The file's cosignatures (a file without the table has none) into dst's table, in the snapshot
 * and the transaction the caller holds. 0, or an error with dst's message. */
static int
copy_cosignatures(struct ledger_conn *sc, struct ledger_store *dst, uint64_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc, step = SQLITE_DONE;

	if ((rc = dst->ops->cosig_open(dst)) != 0)
		return rc;
	if (sqlite3_prepare_v2(sc->db,
	                       "SELECT size, witness, time, line FROM cosignatures ORDER BY size, "
	                       "witness",
	                       -1, &st, NULL) != SQLITE_OK)
		return strstr(sqlite3_errmsg(sc->db), "no such table") != NULL ? 0 : LEDGER_EIO;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *w = (const char *)sqlite3_column_text(st, 1);
		const char *line = (const char *)sqlite3_column_text(st, 3);
		sqlite3_int64 size = sqlite3_column_int64(st, 0), t = sqlite3_column_int64(st, 2);
		if (size <= 0 || t < 0 || w == NULL || line == NULL) {
			rc = LEDGER_EIO; /* not a row pdgate wrote */
			break;
		}
		rc = dst->ops->cosig_put(dst, (uint64_t)size, w, (uint64_t)t, line,
		                         (size_t)sqlite3_column_bytes(st, 3));
		*n += rc == 0;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = LEDGER_EIO;
	sqlite3_finalize(st);
	return rc;
}

/* The verdict and the leaves' digest of s, in the snapshot or transaction the caller holds. */
static int
check(struct ledger_store *s, struct note_verifier *v, struct ledger_verdict *out,
      uint8_t digest[32], const char *what, char *err, size_t errlen)
{
	/* a ledger being moved is a stopped gateway's: nothing may wait for a signature (said
	 * below, rather than as an old unsigned tail) */
	int rc = ledger_verify_store(s, v, now_wall_ms(), INT64_MAX / 2, digest, out);

	if (rc != 0) {
		snprintf(err, errlen, "%s does not verify: %s", what, out->problem);
		return -1;
	}
	if (out->unsigned_n > 0) {
		snprintf(err, errlen,
		         "%s has %" PRIu64 " entries after its latest checkpoint: stop its gateway "
		         "(which signs them) first",
		         what, out->unsigned_n);
		return -1;
	}
	return 0;
}

static bool
same(const struct ledger_verdict *a, const uint8_t da[32], const struct ledger_verdict *b,
     const uint8_t db[32])
{
	return a->size == b->size && a->cp_size == b->cp_size &&
	       memcmp(a->cp_root, b->cp_root, 32) == 0 && memcmp(da, db, 32) == 0;
}

int
ledger_migrate(const char *from, const char *to, struct note_verifier *v,
               struct ledger_migrate_report *r, char *err, size_t errlen)
{
	struct ledger_store *src = NULL, *dst = NULL, *after = NULL;
	struct ledger_verdict before, inside, done;
	uint8_t d0[32], d1[32], d2[32];
	struct ledger_tip tip;
	struct copy c = {0};
	char msg[512];
	uint64_t cps;
	int rc = -1, m;
	bool snap = false;

	memset(r, 0, sizeof(*r));
	if (ledger_store_is_url(from) || !ledger_store_is_url(to)) {
		snprintf(err, errlen, "--from is a ledger.db file and --to a postgresql:// URL");
		return -1;
	}
	/* the file's schema and origin first: a ledger of another origin, or of the earlier
	 * layout (pdgate ledger upgrade), is refused by name */
	struct ledger_conn *sc = ledger_conn_open(from, false, msg, sizeof(msg));
	char *origin =
	    sc ? ledger_db_origin(sc->db, note_verifier_name(v), msg, sizeof(msg)) : NULL;
	if (origin == NULL || ledger_conn_prepare(sc, false, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "%s: %s", from, msg);
		free(origin);
		ledger_conn_free(sc);
		return -1;
	}
	free(origin);
	src = &sc->base;
	if (src->ops->snapshot_begin(src) != 0) {
		snprintf(err, errlen, "%s: %s", from, src->ops->errmsg(src));
		goto done;
	}
	snap = true;
	if (check(src, v, &before, d0, from, err, errlen) < 0)
		goto done;
	if ((dst = ledger_pg_open(to, true, note_verifier_name(v), NULL, msg, sizeof(msg))) ==
	    NULL) {
		snprintf(err, errlen, "%s", msg);
		goto done;
	}
	if (dst->ops->begin(dst, &tip) != 0) {
		snprintf(err, errlen, "%s", dst->ops->errmsg(dst));
		goto done;
	}
	char *note = NULL;
	size_t len;
	m = dst->ops->checkpoint(dst, 0, &cps, &note, &len, NULL);
	free(note);
	if (tip.size > 0 || m != LEDGER_ENOENT) {
		snprintf(err, errlen,
		         "the database already holds a ledger (%" PRIu64
		         " entries): a ledger moves only into an empty one",
		         tip.size);
		goto fail;
	}
	c.dst = dst;
	if ((m = src->ops->scan_batches(src, copy_batch, &c)) != 0 ||
	    (m = src->ops->scan_checkpoints(src, copy_checkpoint, &c)) != 0) {
		snprintf(err, errlen, "copying: %s", dst->ops->errmsg(dst));
		goto fail;
	}
	if ((m = copy_cosignatures(sc, dst, &r->cosignatures)) != 0) {
		snprintf(err, errlen, "copying the cosignatures: %s",
		         m == LEDGER_EIO ? dst->ops->errmsg(dst) : ledger_strerror(m));
		goto fail;
	}
	/* the destination's own transaction sees the rows it inserted */
	if (check(dst, v, &inside, d1, "the copy", err, errlen) < 0)
		goto fail;
	if (!same(&before, d0, &inside, d1)) {
		snprintf(err, errlen, "the copy differs from %s (size, checkpoint or leaves)",
		         from);
		goto fail;
	}
	if (dst->ops->commit(dst) != 0) {
		snprintf(err, errlen, "committing: %s", dst->ops->errmsg(dst));
		goto done;
	}
	/* and once committed, through a reader's connection of its own */
	if ((after = ledger_pool_reader(to, msg, sizeof(msg))) == NULL ||
	    after->ops->snapshot_begin(after) != 0) {
		snprintf(err, errlen, "reading the copy back: %s",
		         after ? after->ops->errmsg(after) : msg);
		goto done;
	}
	m = check(after, v, &done, d2, "the committed copy", err, errlen);
	after->ops->snapshot_end(after);
	if (m < 0)
		goto done;
	if (!same(&before, d0, &done, d2)) {
		snprintf(err, errlen, "the committed copy differs from %s", from);
		goto done;
	}
	r->size = done.size;
	r->batches = c.batches;
	r->checkpoints = c.checkpoints;
	memcpy(r->root, done.cp_root, 32);
	rc = 0;
	goto done;
fail:
	dst->ops->rollback(dst);
done:
	if (snap)
		src->ops->snapshot_end(src);
	ledger_store_free(after);
	ledger_store_free(dst);
	ledger_store_free(src);
	return rc;
}
