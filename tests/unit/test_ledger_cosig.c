/* test_ledger_cosig — the witnesses' cosignatures through the store's operations, on ledger.db
 * and on PostgreSQL alike: a ledger without the table has none; a line stored once per
 * checkpoint and witness whichever connection (node) stores it; the lines in the byte order of
 * the witnesses' names; the newest cosigned sizes; the cosigned checkpoint a reader hands out.
 * It needs a PostgreSQL server: PDGATE_TEST_PG names one, or it runs itself again under
 * tests/e2e/pgserver.py, which starts one of its own for the run and removes it after. */
#include "check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "buf.h"
#include "ledger.h"
#include "ledger_cosig.h"
#include "ledger_err.h"
#include "ledger_pool.h"
#include "ledger_store.h"

#define ORIGIN "pdgate.test/cosig"
#define DASH "\xe2\x80\x94 "

static char key[] = "/tmp/pdgate-test-cosig-key-XXXXXX";

/* Makes the database name on the test's server anew; its URL into out. */
static int
fresh_db(const char *server, const char *name, char *out, size_t len)
{
	char q[128];
	PGconn *c = PQconnectdb(server);
	int ok = PQstatus(c) == CONNECTION_OK;

	snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s", name);
	PQclear(PQexec(c, q));
	snprintf(q, sizeof(q), "CREATE DATABASE %s", name);
	PGresult *r = PQexec(c, q);
	ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	PQfinish(c);
	/* the server's URL with its database name replaced */
	snprintf(out, len, "%.*s/%s", (int)(strrchr(server, '/') - server), server, name);
	return ok ? 0 : -1;
}

static int
collect(void *arg, const char *line, size_t len)
{
	return buf_add(arg, line, len);
}

/* The stored lines of checkpoint size through s, one string. */
static char *
lines_of(struct ledger_store *s, uint64_t size, int *rc)
{
	struct buf b = {0};
	size_t len;

	*rc = s->ops->cosig_lines(s, size, collect, &b);
	buf_add(&b, "", 0);
	char *out = buf_take(&b, &len);
	return out != NULL ? out : strdup("");
}

static uint64_t
newest(struct ledger_store *s, unsigned n, const char *witness)
{
	uint64_t size = 99999;

	return s->ops->cosig_newest(s, n, witness, &size) == 0 ? size : 99999;
}

static void
exercise(const char *where, const char *what)
{
	char err[512];
	struct ledger_params lp = {.path = where, .origin = ORIGIN, .key = key};
	struct ledger *l = ledger_open(&lp, err, sizeof(err));
	struct ledger_store *r = NULL, *w1 = NULL, *w2 = NULL;
	char *got = NULL, *note = NULL;
	size_t len;
	uint64_t cp = 0;
	int rc;

	/* a ledger whose gateway ran without witnesses: entries and a checkpoint, no table */
	CHECK(l != NULL, "%s: ledger_open: %s", what, err);
	CHECK(l != NULL && ledger_close(l) == 0, "%s: close", what);
	r = ledger_pool_reader(where, err, sizeof(err));
	CHECK(r != NULL, "%s: a reader: %s", what, err);
	if (r == NULL)
		return;
	got = lines_of(r, 2, &rc);
	CHECK(rc == 0 && strcmp(got, "") == 0, "%s: no table, no lines (%d)", what, rc);
	free(got);
	CHECK(newest(r, 1, NULL) == 0 && newest(r, 0, "a.example/w") == 0, "%s: none newest", what);

	/* two nodes' writers */
	w1 = ledger_cosig_store_open(where, ORIGIN, err, sizeof(err));
	CHECK(w1 != NULL, "%s: cosig store 1: %s", what, err);
	w2 = ledger_cosig_store_open(where, ORIGIN, err, sizeof(err));
	CHECK(w2 != NULL, "%s: cosig store 2 (the table there already): %s", what, err);
	if (w1 == NULL || w2 == NULL)
		goto done;
	CHECK(ledger_cosig_put(w1, 2, "b.example/w", 100, DASH "b.example/w BBBB\n", 21, err,
	                       sizeof(err)) == 0,
	      "%s: put: %s", what, err);
	CHECK(ledger_cosig_put(w2, 2, "B.example/w", 101, DASH "B.example/w CCCC\n", 21, err,
	                       sizeof(err)) == 0,
	      "%s: put by the other node: %s", what, err);
	CHECK(ledger_cosig_put(w2, 2, "b.example/w", 102, DASH "b.example/w DDDD\n", 21, err,
	                       sizeof(err)) == 0,
	      "%s: the same witness and checkpoint again: %s", what, err);
	CHECK(ledger_cosig_put(w1, 1, "b.example/w", 103, DASH "b.example/w EEEE\n", 21, err,
	                       sizeof(err)) == 0,
	      "%s: another checkpoint: %s", what, err);
	got = lines_of(r, 2, &rc);
	/* byte order: 'B' (0x42) before 'b' (0x62), whatever the database's collation; the first
	 * line stored for b.example/w kept */
	CHECK(rc == 0 && strcmp(got, DASH "B.example/w CCCC\n" DASH "b.example/w BBBB\n") == 0,
	      "%s: the lines of checkpoint 2: %s", what, got);
	free(got);
	CHECK(newest(r, 2, NULL) == 2 && newest(r, 1, NULL) == 2 && newest(r, 3, NULL) == 0,
	      "%s: newest with a quorum", what);
	CHECK(newest(r, 0, "b.example/w") == 2 && newest(r, 0, "B.example/w") == 2 &&
	          newest(r, 0, "c.example/w") == 0,
	      "%s: newest by witness", what);

	/* what every route hands out: the checkpoint as signed, then its lines */
	lp.read_only = true;
	lp.key = NULL;
	l = ledger_open(&lp, err, sizeof(err));
	CHECK(l != NULL, "%s: read-only ledger: %s", what, err);
	if (l != NULL) {
		rc = ledger_cosigned_checkpoint(l, 0, &note, &len, &cp);
		CHECK(rc == 0 && cp == 2 && note != NULL && len == strlen(note),
		      "%s: cosigned (%d)", what, rc);
		const char *tail = DASH "B.example/w CCCC\n" DASH "b.example/w BBBB\n";
		CHECK(note != NULL && len > strlen(tail) &&
		          strcmp(note + len - strlen(tail), tail) == 0 &&
		          strncmp(note, ORIGIN "\n2\n", strlen(ORIGIN) + 3) == 0,
		      "%s: the note: %s", what, note ? note : "");
		free(note);
		note = NULL;
		rc = ledger_cosigned_checkpoint(l, 2, &note, &len, &cp);
		CHECK(rc == 0 && cp == 2, "%s: by size (%d)", what, rc);
		free(note);
		note = NULL;
		CHECK(ledger_cosigned_checkpoint(l, 1, &note, &len, &cp) == LEDGER_ENOENT,
		      "%s: no checkpoint of that size", what);
		free(note);
		ledger_close(l);
	}
done:
	ledger_store_free(w1);
	ledger_store_free(w2);
	ledger_store_free(r);
}

int
main(int argc, char **argv)
{
	const char *server = getenv("PDGATE_TEST_PG");
	char u[512], file[] = "/tmp/pdgate-test-cosig-XXXXXX", path[600];
	(void)argc;

	if (server == NULL) {
		/* a server of its own for this run: pgserver.py sets PDGATE_TEST_PG */
		execlp("python3", "python3", "tests/e2e/pgserver.py", argv[0], (char *)NULL);
		perror("python3 tests/e2e/pgserver.py");
		return 1;
	}
	int fd = mkstemp(key);
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	FILE *kf = fd >= 0 ? fdopen(fd, "w") : NULL;
	CHECK(kf != NULL && k != NULL && PEM_write_PrivateKey(kf, k, NULL, NULL, 0, NULL, NULL),
	      "a key file");
	if (kf != NULL)
		fclose(kf);
	EVP_PKEY_free(k);
	CHECK(mkdtemp(file) != NULL, "a folder");
	snprintf(path, sizeof(path), "%s/ledger.db", file);
	exercise(path, "sqlite");
	CHECK(fresh_db(server, "cosig", u, sizeof(u)) == 0, "a database");
	exercise(u, "postgresql");
	unlink(key);
	char rm[700];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", file);
	CHECK(system(rm) == 0, "cleaned up");
	return check_done();
}
