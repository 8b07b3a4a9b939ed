/* ledger_upgrade — inside the ledger: converting a ledger of the earlier layout, once. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "buf.h"
#include "ledger_batch.h"
#include "ledger_db.h"
#include "ledger_leaf.h"
#include "ledger_upgrade.h"
#include "ledger_verify.h"
#include "merkle.h"

/* The batches the upgrade writes: at most this many entries each (a commit's page). */
#define UPGRADE_BATCH 1000

/* The batch being built from the old rows. */
struct build {
	sqlite3_stmt *ins;
	struct merkle_frontier f;
	uint64_t first; /* its first entry */
	int64_t ms;     /* its time */
	struct buf leaves, hashes, nodes;
	uint64_t rows; /* batches written */
};

static int
flush(struct build *b)
{
	uint64_t n = b->f.size - b->first;

	if (n == 0)
		return 0;
	if (ledger_batch_end(&b->leaves) < 0 ||
	    buf_add(&b->hashes, b->nodes.data, b->nodes.len) < 0)
		return -1;
	sqlite3_bind_int64(b->ins, 1, (sqlite3_int64)b->first);
	sqlite3_bind_int64(b->ins, 2, (sqlite3_int64)n);
	sqlite3_bind_int64(b->ins, 3, b->ms);
	sqlite3_bind_blob(b->ins, 4, b->hashes.data, (int)b->hashes.len, SQLITE_STATIC);
	sqlite3_bind_text(b->ins, 5, b->leaves.data, (int)b->leaves.len, SQLITE_STATIC);
	if (ledger_st_exec(b->ins) < 0)
		return -1;
	buf_reset(&b->leaves);
	buf_reset(&b->hashes);
	buf_reset(&b->nodes);
	b->first = b->f.size;
	b->rows++;
	return 0;
}

/* Whether size is one of the checkpoints (sorted cps[0..ncp)): a batch ends there, so that a
 * backup can cut the ledger at any checkpoint. */
static bool
is_checkpoint(const uint64_t *cps, size_t ncp, uint64_t size)
{
	size_t lo = 0, hi = ncp;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cps[mid] < size)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ncp && cps[lo] == size;
}

/* The old checkpoints' sizes, ascending. */
static int
checkpoint_sizes(sqlite3 *db, uint64_t **cps, size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = -1;

	*cps = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(db, "SELECT size FROM checkpoints ORDER BY size", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			uint64_t *p = realloc(*cps, cap * sizeof(*p));
			if (p == NULL)
				goto done;
			*cps = p;
		}
		(*cps)[(*n)++] = (uint64_t)sqlite3_column_int64(st, 0);
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	return rc;
}

/* Every old entry, checked, into new batches; the leaves' digest into digest. */
static int
convert(sqlite3 *db, struct build *b, const uint64_t *cps, size_t ncp,
        uint8_t digest[MERKLE_HASH_LEN], char *err, size_t errlen)
{
	struct ledger_leaf *leaf = malloc(sizeof(*leaf));
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	sqlite3_stmt *st = NULL, *nodes = NULL;
	int rc = -1, step;

	if (leaf == NULL || md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (sqlite3_prepare_v2(db, "SELECT idx, leaf, hash FROM entries ORDER BY idx", -1, &st,
	                       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2", -1,
	                       &nodes, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		goto done;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t i = b->f.size;
		const char *text = (const char *)sqlite3_column_text(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		struct merkle_node done[MERKLE_MAX_LEVELS];
		uint8_t h[MERKLE_HASH_LEN];
		size_t nd;
		if (sqlite3_column_int64(st, 0) != (sqlite3_int64)i || text == NULL ||
		    sqlite3_column_bytes(st, 2) != MERKLE_HASH_LEN ||
		    merkle_leaf_hash(text, len, h) != MERKLE_OK ||
		    memcmp(h, sqlite3_column_blob(st, 2), MERKLE_HASH_LEN) != 0 ||
		    ledger_leaf_parse(text, len, leaf) < 0 || leaf->index != i) {
			snprintf(err, errlen,
			         "entry %" PRIu64
			         " is missing or damaged: run pdgate ledger verify "
			         "with the pdgate that wrote it",
			         i);
			goto done;
		}
		/* a batch has one time and ends at every checkpoint */
		if (i > b->first && (leaf->time_ms != b->ms || i - b->first >= UPGRADE_BATCH ||
		                     is_checkpoint(cps, ncp, i)))
			if (flush(b) < 0)
				goto sql;
		if (i == b->first)
			b->ms = leaf->time_ms;
		if (merkle_frontier_append(&b->f, h, done, &nd) != MERKLE_OK)
			goto sql;
		if (ledger_batch_add(&b->leaves, text, len) < 0 ||
		    buf_add(&b->hashes, h, MERKLE_HASH_LEN) < 0 ||
		    EVP_DigestUpdate(md, text, len) != 1 || EVP_DigestUpdate(md, "\n", 1) != 1)
			goto sql;
		for (size_t k = 1; k < nd; k++) {
			/* the stored node is the rebuilt tree's */
			sqlite3_bind_int64(nodes, 1, (sqlite3_int64)done[k].level);
			sqlite3_bind_int64(nodes, 2, (sqlite3_int64)done[k].index);
			bool same = sqlite3_step(nodes) == SQLITE_ROW &&
			            sqlite3_column_bytes(nodes, 0) == MERKLE_HASH_LEN &&
			            memcmp(sqlite3_column_blob(nodes, 0), done[k].hash,
			                   MERKLE_HASH_LEN) == 0;
			ledger_st_done(nodes);
			if (!same) {
				snprintf(err, errlen,
				         "node (level %" PRIu64 ", index %" PRIu64
				         ") is missing or differs from the tree of the entries",
				         done[k].level, done[k].index);
				goto done;
			}
			if (buf_add(&b->nodes, done[k].hash, MERKLE_HASH_LEN) < 0)
				goto sql;
		}
	}
	if (step != SQLITE_DONE || flush(b) < 0)
		goto sql;
	if (EVP_DigestFinal_ex(md, digest, NULL) != 1)
		goto sql;
	rc = 0;
	goto done;
sql:
	snprintf(err, errlen, "%s", sqlite3_errmsg(db));
done:
	sqlite3_finalize(st);
	sqlite3_finalize(nodes);
	EVP_MD_CTX_free(md);
	free(leaf);
	return rc;
}

/* The number of stored nodes against the tree of size entries (none extra). */
static int
count_nodes(sqlite3 *db, uint64_t size, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	uint64_t want = 0;
	int rc = -1;

	for (unsigned lv = 1; lv < MERKLE_MAX_LEVELS; lv++)
		want += size >> lv;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM nodes", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		if ((uint64_t)sqlite3_column_int64(st, 0) == want)
			rc = 0;
		else
			snprintf(err, errlen,
			         "%lld stored tree nodes, the tree of %" PRIu64
			         " entries has %" PRIu64,
			         (long long)sqlite3_column_int64(st, 0), size, want);
	} else {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(st);
	return rc;
}

/* Every old checkpoint: its signature by v and its size; its root is checked by the
 * verification of the new layout, against the same tree. */
static int
check_checkpoints(sqlite3 *db, struct note_verifier *v, uint64_t size, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(db, "SELECT size, note FROM checkpoints ORDER BY size", -1, &st,
	                       NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *note = (const char *)sqlite3_column_text(st, 1);
		struct note_checkpoint cp;
		sqlite3_int64 sz = sqlite3_column_int64(st, 0);
		if (note == NULL ||
		    note_checkpoint_open(note, (size_t)sqlite3_column_bytes(st, 1), &v, 1, &cp) !=
		        NOTE_OK ||
		    sz <= 0 || cp.size != (uint64_t)sz || cp.size > size) {
			snprintf(err, errlen, "checkpoint %lld does not verify with the ledger key",
			         (long long)sz);
			rc = -1;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static bool
has_stats(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	bool yes = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'",
	                              -1, &st, NULL) == SQLITE_OK &&
	           sqlite3_step(st) == SQLITE_ROW;

	sqlite3_finalize(st);
	return yes;
}

int
ledger_upgrade_run(sqlite3 *db, const char *origin, struct note_verifier *v,
                   struct ledger_upgrade_report *r, char *err, size_t errlen)
{
	struct build b = {0};
	struct ledger_verdict verdict;
	uint8_t before[MERKLE_HASH_LEN], after[MERKLE_HASH_LEN];
	uint64_t *cps = NULL;
	size_t ncp = 0;
	char *stored = NULL, msg[512];
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	if (ledger_db_schema(db, err, errlen) != LEDGER_SCHEMA_OLD) {
		snprintf(err, errlen, "not a ledger of schema %d", LEDGER_SCHEMA_OLD);
		goto done;
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'origin'", -1, &st, NULL) ==
	        SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		stored = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (stored == NULL || strcmp(stored, origin) != 0) {
		snprintf(err, errlen, "ledger origin is '%s', expected '%s'", stored ? stored : "?",
		         origin);
		goto done;
	}
	if (checkpoint_sizes(db, &cps, &ncp) < 0) {
		snprintf(err, errlen, "reading checkpoints: %s", sqlite3_errmsg(db));
		goto done;
	}
	if (ledger_db_exec(db,
	                   "CREATE TABLE batches(first INTEGER PRIMARY KEY, n INTEGER NOT NULL,"
	                   " time INTEGER NOT NULL, hashes BLOB NOT NULL, leaves TEXT NOT NULL)",
	                   msg, sizeof(msg)) < 0 ||
	    sqlite3_prepare_v2(
	        db,
	        "INSERT INTO batches(first, n, time, hashes, leaves) VALUES (?1, ?2, "
	        "?3, ?4, ?5)",
	        -1, &b.ins, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		goto done;
	}
	/* Before: the old rows, their hashes, the nodes and the checkpoints' signatures. */
	if (convert(db, &b, cps, ncp, before, err, errlen) < 0 ||
	    count_nodes(db, b.f.size, err, errlen) < 0 ||
	    check_checkpoints(db, v, b.f.size, err, errlen) < 0)
		goto done;
	sqlite3_finalize(b.ins);
	b.ins = NULL;
	/* the planner's statistics of the old indexes go with them */
	if (ledger_db_exec(db, "DROP TABLE entries; DROP TABLE nodes", msg, sizeof(msg)) < 0 ||
	    (has_stats(db) && ledger_db_exec(db, "DELETE FROM sqlite_stat1 WHERE tbl = 'entries'",
	                                     msg, sizeof(msg)) < 0) ||
	    ledger_db_exec(db, ledger_db_schema_sql, msg, sizeof(msg)) < 0 ||
	    ledger_db_exec(db, "UPDATE meta SET value = '2' WHERE key = 'schema'", msg,
	                   sizeof(msg)) < 0) {
		snprintf(err, errlen, "%s", msg);
		goto done;
	}
	/* After, inside the same transaction: the new layout verifies (every checkpoint's root
	 * is the tree of the batches), and the leaves are byte for byte the old ones. */
	if (ledger_verify_db(db, v, 0, INT64_MAX, after, &verdict) != 0) {
		snprintf(err, errlen, "the converted ledger does not verify: %s", verdict.problem);
		goto done;
	}
	if (verdict.size != b.f.size || memcmp(before, after, MERKLE_HASH_LEN) != 0 ||
	    (ncp > 0 && verdict.cp_size != cps[ncp - 1])) {
		snprintf(err, errlen,
		         "the converted leaves or checkpoints differ from the old ones");
		goto done;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		goto done;
	}
	r->size = b.f.size;
	r->batches = b.rows;
	r->checkpoints = ncp;
	rc = 0;
done:
	if (rc < 0 && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(b.ins);
	buf_free(&b.leaves);
	buf_free(&b.hashes);
	buf_free(&b.nodes);
	free(cps);
	free(stored);
	return rc;
}
