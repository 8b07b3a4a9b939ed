/* test_tokenstore — revocations and record counts: persistence, atomicity, concurrency, locks. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "tokenstore.c" /* the memory of revocations is static */

static char dir[] = "/tmp/test_tokenstore.XXXXXX";
static char db[300];

static long long
query_int(const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void
test_revoke(void)
{
	char err[256];
	struct tokenstore *ts = tokenstore_open(db, err, sizeof err), *other;

	CHECK(ts != NULL, "open: %s", err);
	if (!ts)
		return;
	CHECK(tokenstore_is_revoked(ts, "jti-A") == 0, "fresh jti not revoked");
	CHECK(tokenstore_revoke(ts, "jti-A", 1775000000) == 0, "revoke");
	CHECK(tokenstore_is_revoked(ts, "jti-A") == 1, "revoked");
	CHECK(tokenstore_revoke(ts, "jti-A", 1775009999) == 0, "revoke twice is fine");
	CHECK(query_int("SELECT revoked_at FROM revoked WHERE jti='jti-A'") == 1775000000,
	      "first revocation time kept");
	CHECK(tokenstore_is_revoked(ts, "jti-a") == 0, "jti compared exactly (case)");
	CHECK(tokenstore_is_revoked(ts, "jti-A ") == 0, "jti compared exactly (space)");

	/* a second handle, as `pdgate token revoke` is to the daemon: effective at once */
	other = tokenstore_open(db, err, sizeof err);
	CHECK(other != NULL, "second open: %s", err);
	if (other) {
		CHECK(tokenstore_is_revoked(ts, "jti-B") == 0, "B not revoked yet");
		CHECK(tokenstore_revoke(other, "jti-B", 1775000001) == 0, "revoke B elsewhere");
		CHECK(tokenstore_is_revoked(ts, "jti-B") == 1, "B revoked, seen by the first");
		tokenstore_close(other);
	}
	tokenstore_close(ts);

	/* persisted */
	ts = tokenstore_open(db, err, sizeof err);
	CHECK(ts && tokenstore_is_revoked(ts, "jti-A") == 1 &&
	          tokenstore_is_revoked(ts, "jti-B") == 1,
	      "revocations survive a reopen");
	tokenstore_close(ts);
	{
		/* WAL is persistent in the file: a fresh connection sees it */
		sqlite3 *h = NULL;
		sqlite3_stmt *st = NULL;
		const unsigned char *mode = NULL;
		if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
		    sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			mode = sqlite3_column_text(st, 0);
		CHECK(mode && strcmp((const char *)mode, "wal") == 0, "journal mode %s",
		      mode ? (const char *)mode : "?");
		sqlite3_finalize(st);
		sqlite3_close(h);
	}
}

/* How many times the memory was loaded from the table. */
static int
loads(struct tokenstore *ts)
{
	return sqlite3_stmt_status(ts->mem.since, SQLITE_STMTSTATUS_RUN, 0);
}

/*
 * Revocations from memory: no query while nothing committed, and never a revocation missed
 * that committed before the lookup, whoever committed it: this handle, another handle, another
 * process, with other writes (the record counts) moving the database in between.
 */
static void
test_memory(void)
{
	char err[256], jti[32];
	struct tokenstore *ts = tokenstore_open(db, err, sizeof err), *other;
	bool ok;

	CHECK(ts != NULL, "open: %s", err);
	if (!ts)
		return;
	CHECK(ts->mem.shm != NULL, "the WAL-index header is mapped");
	{
		/* through a symbolic link: the -shm is beside the file SQLite resolved */
		char link[320];
		snprintf(link, sizeof link, "%s/link.db", dir);
		CHECK(symlink(db, link) == 0, "symlink");
		struct tokenstore *l = tokenstore_open(link, err, sizeof err);
		CHECK(l != NULL && l->mem.shm != NULL, "mapped through a link");
		tokenstore_close(l);
	}
	CHECK(tokenstore_is_revoked(ts, "mem-0") == 0, "not revoked");
	int n = loads(ts);
	for (int i = 0; i < 100; i++)
		CHECK(tokenstore_is_revoked(ts, "mem-0") == 0, "lookup %d", i);
	CHECK(loads(ts) == n, "100 lookups, no commit: no load (%d)", loads(ts) - n);

	other = tokenstore_open(db, err, sizeof err);
	CHECK(other != NULL, "second open: %s", err);
	for (int i = 1; other != NULL && i <= 200; i++) {
		snprintf(jti, sizeof jti, "mem-%d", i);
		CHECK(tokenstore_is_revoked(ts, jti) == 0, "%s before", jti);
		if (i % 3 == 0)
			tokenstore_take(other, "mem-counter", 1, 1000000, &ok);
		CHECK(tokenstore_revoke(i % 2 ? other : ts, jti, 1775000000 + i) == 0, "revoke %s",
		      jti);
		if (i % 5 == 0)
			tokenstore_take(ts, "mem-counter", 1, 1000000, &ok);
		CHECK(tokenstore_is_revoked(ts, jti) == 1, "%s seen at once", jti);
		CHECK(tokenstore_is_revoked(ts, "mem-0") == 0, "mem-0 still not revoked");
	}
	tokenstore_close(other);

	/* another process */
	for (int i = 0; i < 20; i++) {
		snprintf(jti, sizeof jti, "proc-%d", i);
		CHECK(tokenstore_is_revoked(ts, jti) == 0, "%s before", jti);
		/* a process of its own (exec'd: SQLite's state must not cross a fork) */
		pid_t pid = fork();
		if (pid == 0) {
			execl("/proc/self/exe", "test_tokenstore", "--revoke", db, jti,
			      (char *)NULL);
			_exit(127);
		}
		int status = -1;
		CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		          WEXITSTATUS(status) == 0,
		      "child revoked %s", jti);
		CHECK(tokenstore_is_revoked(ts, jti) == 1, "%s, revoked by another process, seen",
		      jti);
	}
	/* a database that cannot be read is a revoked work order (fail closed) */
	sqlite3_finalize(ts->mem.since);
	CHECK(sqlite3_prepare_v2(ts->rd.db, "SELECT rowid, jti FROM no_such_table", -1,
	                         &ts->mem.since, NULL) != SQLITE_OK,
	      "a broken statement");
	tokenstore_revoke(ts, "mem-last", 1775000000);
	CHECK(tokenstore_is_revoked(ts, "mem-0") == -1, "load failed: -1, not 0");
	tokenstore_close(ts);
}

static void
test_take(void)
{
	char err[256];
	bool ok = true;
	struct tokenstore *ts = tokenstore_open(db, err, sizeof err);
	static const struct {
		const char *name;
		int64_t n, max;
		int rc;
		bool ok;
		long long count; /* records after the call, -1 = no row */
	} cases[] = {
	    {"more than max at once", 11, 10, 0, false, -1},
	    {"first 4 of 10", 4, 10, 0, true, 4},
	    {"6 more: exactly max", 6, 10, 0, true, 10},
	    {"1 more: over", 1, 10, 0, false, 10},
	    {"a larger max (another token would not share the jti)", 1, 11, 0, true, 11},
	    {"n zero", 0, 100, -1, false, 11},
	    {"n negative", -5, 100, -1, false, 11},
	    {"max zero", 1, 0, -1, false, 11},
	};

	CHECK(ts != NULL, "open: %s", err);
	if (!ts)
		return;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = tokenstore_take(ts, "wo-take", cases[i].n, cases[i].max, &ok);
		CHECK(rc == cases[i].rc && ok == cases[i].ok, "%s: rc %d ok %d", cases[i].name, rc,
		      ok);
		CHECK(query_int("SELECT records FROM uses WHERE jti='wo-take'") == cases[i].count,
		      "%s: count %lld", cases[i].name,
		      query_int("SELECT records FROM uses WHERE jti='wo-take'"));
	}
	CHECK(tokenstore_take(ts, "wo-other", 3, 3, &ok) == 0 && ok, "another jti counts apart");
	tokenstore_close(ts);

	ts = tokenstore_open(db, err, sizeof err);
	CHECK(ts && tokenstore_take(ts, "wo-other", 1, 3, &ok) == 0 && !ok,
	      "counts survive a reopen");
	tokenstore_close(ts);
}

struct worker {
	struct tokenstore *ts;
	int granted;
	int errors;
};

static void *
taker(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 100; i++) {
		bool ok;
		if (tokenstore_take(w->ts, "wo-race", 1, 250, &ok) != 0)
			w->errors++;
		else if (ok)
			w->granted++;
		if (tokenstore_is_revoked(w->ts, "wo-race") != 0)
			w->errors++;
	}
	return NULL;
}

/* Eight threads on one store, plus a second store (another process's view): never more than
 * max granted in total. */
static void
test_concurrency(void)
{
	char err[256];
	struct tokenstore *a = tokenstore_open(db, err, sizeof err);
	struct tokenstore *b = tokenstore_open(db, err, sizeof err);
	pthread_t th[8];
	struct worker w[8];
	int granted = 0, errors = 0;

	CHECK(a && b, "open: %s", err);
	if (!a || !b) {
		tokenstore_close(a);
		tokenstore_close(b);
		return;
	}
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){i % 2 ? b : a, 0, 0};
		pthread_create(&th[i], NULL, taker, &w[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		granted += w[i].granted;
		errors += w[i].errors;
	}
	CHECK(errors == 0, "no database errors under contention: %d", errors);
	CHECK(granted == 250, "exactly max granted: %d", granted);
	CHECK(query_int("SELECT records FROM uses WHERE jti='wo-race'") == 250, "count is max");
	tokenstore_close(a);
	tokenstore_close(b);
}

struct holder {
	sqlite3 *h;
};

static void *
release_later(void *arg)
{
	struct holder *hd = arg;
	usleep(300 * 1000);
	sqlite3_exec(hd->h, "COMMIT", NULL, NULL, NULL);
	return NULL;
}

/* Another writer holding the lock for 300 ms: the busy timeout waits instead of failing. */
static void
test_busy(void)
{
	char err[256];
	struct tokenstore *ts = tokenstore_open(db, err, sizeof err);
	struct holder hd = {NULL};
	pthread_t th;
	bool ok = false;

	CHECK(ts != NULL, "open: %s", err);
	if (!ts)
		return;
	CHECK(sqlite3_open(db, &hd.h) == SQLITE_OK &&
	          sqlite3_exec(hd.h, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK,
	      "hold the write lock");
	pthread_create(&th, NULL, release_later, &hd);
	CHECK(tokenstore_take(ts, "wo-busy", 1, 5, &ok) == 0 && ok, "take waits for the lock");
	CHECK(tokenstore_revoke(ts, "wo-busy", 1) == 0, "revoke after the lock");
	pthread_join(th, NULL);
	sqlite3_close(hd.h);
	tokenstore_close(ts);
}

static void
test_open_errors(void)
{
	char err[256] = "";
	char bad[400];

	snprintf(bad, sizeof bad, "%s/no/such/folder/state.db", dir);
	CHECK(tokenstore_open(bad, err, sizeof err) == NULL && err[0], "missing folder: %s", err);
	CHECK(tokenstore_open(NULL, err, sizeof err) == NULL, "no path");
	snprintf(bad, sizeof bad, "%s/garbage.db", dir);
	{
		FILE *f = fopen(bad, "w");
		fputs("this is not a database, it is long enough to have a header of sorts....\n",
		      f);
		fclose(f);
	}
	CHECK(tokenstore_open(bad, err, sizeof err) == NULL, "not a database: %s", err);
	tokenstore_close(NULL);
}

/*
 * This process keeps its locks on the -shm while a tokenstore is open, opening and closing
 * another too: another process asking for the exclusive lock SQLite's first connection takes
 * (the DMS byte, 128, of the unix VFS) must be refused. A descriptor of the -shm opened and
 * closed by this process would have dropped them all, and a later process could then truncate
 * the -shm under this one's mapping (a SIGBUS in the gateway).
 */
static void
test_shm_locks_kept(void)
{
	char err[256], shm[320];
	struct tokenstore *ts = tokenstore_open(db, err, sizeof err);
	struct tokenstore *again = tokenstore_open(db, err, sizeof err);

	CHECK(ts != NULL && again != NULL, "open twice: %s", err);
	tokenstore_close(again);
	CHECK(ts == NULL || tokenstore_is_revoked(ts, "locks-0") == 0, "a lookup");
	snprintf(shm, sizeof shm, "%s-shm", db);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(shm, O_RDWR);
		struct flock fl = {
		    .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 128, .l_len = 1};
		if (fd < 0 || fcntl(fd, F_GETLK, &fl) != 0)
			_exit(2);
		_exit(fl.l_type == F_UNLCK ? 1 : 0);
	}
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	          WEXITSTATUS(status) == 0,
	      "another process sees this one's lock on the -shm (exit %d)",
	      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	tokenstore_close(ts);
}

/* A shared count (tokenstore_share): the takes go to the store's take, its failure is
 * TOKENSTORE_EUNAVAILABLE, and the state database's table is not touched. */
struct fake_shared {
	struct ledger_store base;
	int64_t count;
	bool down;
};

static int
fake_take(struct ledger_store *s, const char *jti, int64_t n, int64_t max, bool *ok)
{
	struct fake_shared *f = (struct fake_shared *)s;

	*ok = false;
	if (f->down || strcmp(jti, "wo-shared") != 0)
		return -1;
	if (f->count + n <= max) {
		f->count += n;
		*ok = true;
	}
	return 0;
}

static void
test_shared(void)
{
	static const struct ledger_store_ops ops = {.kind = "fake", .take = fake_take};
	struct fake_shared f = {.base = {.ops = &ops}};
	char err[256];
	bool ok = true;
	struct tokenstore *ts = tokenstore_open(db, err, sizeof err);

	CHECK(ts != NULL, "open: %s", err);
	if (!ts)
		return;
	tokenstore_share(ts, &f.base);
	CHECK(tokenstore_take(ts, "wo-shared", 3, 4, &ok) == 0 && ok && f.count == 3,
	      "counted in the shared store");
	CHECK(tokenstore_take(ts, "wo-shared", 2, 4, &ok) == 0 && !ok && f.count == 3,
	      "refused there past max");
	CHECK(query_int("SELECT count(*) FROM uses WHERE jti='wo-shared'") == 0,
	      "nothing in the state database");
	f.down = true;
	CHECK(tokenstore_take(ts, "wo-shared", 1, 4, &ok) == TOKENSTORE_EUNAVAILABLE && !ok,
	      "the shared store failing: unavailable, nothing counted");
	CHECK(tokenstore_take(ts, "wo-shared", 0, 4, &ok) == -1, "n zero still refused");
	tokenstore_close(ts);
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--revoke") == 0) {
		char err[256];
		struct tokenstore *ts = tokenstore_open(argv[2], err, sizeof err);
		int rc = ts != NULL && tokenstore_revoke(ts, argv[3], 1775000000) == 0 ? 0 : 1;
		tokenstore_close(ts);
		return rc;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(db, sizeof db, "%s/state.db", dir);
	test_revoke();
	test_memory();
	test_shm_locks_kept();
	test_take();
	test_shared();
	test_concurrency();
	test_busy();
	test_open_errors();
	CHECK(query_int("SELECT count(*) FROM sqlite_master WHERE name IN ('revoked','uses')") == 2,
	      "both tables");
	{
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return check_done();
}
