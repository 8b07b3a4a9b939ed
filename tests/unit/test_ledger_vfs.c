/* test_ledger_vfs — the WAL write buffer: what a connection through it commits, another
 * connection reads, byte for byte, across small and huge commits and WAL restarts. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "check.h"
#include "ledger_vfs.h"

static char dir[64];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

/* Row i's blob: len bytes of a pattern that tells rows and offsets apart. */
static void
pattern(unsigned char *out, size_t len, unsigned i)
{
	uint32_t x = 2166136261u ^ i;

	for (size_t k = 0; k < len; k++) {
		x = (x ^ (uint32_t)k) * 16777619u;
		out[k] = (unsigned char)(x >> 24);
	}
}

static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Rows of these sizes, one commit each, some of them larger than the buffer can hold. */
static const size_t sizes[] = {10,      4000, 100,           64 * 1024, 1,       300 * 1024, 7,
                               5 << 20, 2000, (4 << 20) - 1, 123,       9 << 20, 50};

static void
test_commits(void)
{
	const char *vfs = ledger_vfs_name();
	char path[128];
	sqlite3 *w = NULL, *r = NULL;
	sqlite3_stmt *st = NULL;
	size_t n = sizeof(sizes) / sizeof(sizes[0]);
	unsigned char *want = malloc(9 << 20);
	int bad = 0, rows = 0;

	CHECK(vfs != NULL && strcmp(vfs, "pdgate-wal") == 0, "registered: %s", vfs ? vfs : "");
	CHECK(ledger_vfs_name() == vfs, "once: the same name again");
	snprintf(path, sizeof(path), "%s/vfs.db", dir);
	CHECK(sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) ==
	          SQLITE_OK,
	      "open through the VFS");
	CHECK(exec(w, "PRAGMA journal_mode=WAL") == 0 && exec(w, "PRAGMA synchronous=FULL") == 0 &&
	          exec(w, "CREATE TABLE t(i INTEGER PRIMARY KEY, b BLOB NOT NULL)") == 0,
	      "WAL and a table");
	for (size_t i = 0; i < n; i++) {
		pattern(want, sizes[i], (unsigned)i);
		if (sqlite3_prepare_v2(w, "INSERT INTO t(i, b) VALUES (?1, ?2)", -1, &st, NULL) !=
		        SQLITE_OK ||
		    sqlite3_bind_int(st, 1, (int)i) != SQLITE_OK ||
		    sqlite3_bind_blob(st, 2, want, (int)sizes[i], SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			bad++;
		sqlite3_finalize(st);
		/* every fourth commit, the WAL starts over from its beginning */
		if (i % 4 == 3 && exec(w, "PRAGMA wal_checkpoint(RESTART)") != 0)
			bad++;
	}
	CHECK(bad == 0, "%d commits failed: %s", bad, sqlite3_errmsg(w));

	/* Another connection, through the default VFS, while the writer is open: the WAL as the
	 * writer left it after each commit. */
	CHECK(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "reader");
	CHECK(sqlite3_prepare_v2(r, "SELECT i, b FROM t ORDER BY i", -1, &st, NULL) == SQLITE_OK,
	      "select");
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		int i = sqlite3_column_int(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		pattern(want, sizes[i], (unsigned)i);
		if (i != rows || len != sizes[i] ||
		    memcmp(sqlite3_column_blob(st, 1), want, len) != 0)
			bad++;
		rows++;
	}
	sqlite3_finalize(st);
	CHECK(bad == 0 && rows == (int)n, "%d of %zu rows read back, %d differ", rows, n, bad);
	sqlite3_close(r);
	CHECK(sqlite3_close(w) == SQLITE_OK, "close the writer");

	/* And after the writer closed (its last checkpoint), the file alone. */
	r = NULL;
	st = NULL;
	CHECK(sqlite3_open_v2(path, &r, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	          sqlite3_prepare_v2(r, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
	          sqlite3_step(st) == SQLITE_ROW &&
	          strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0,
	      "integrity_check ok");
	sqlite3_finalize(st);
	sqlite3_close(r);
	free(want);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_ledger_vfs.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	test_commits();
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
