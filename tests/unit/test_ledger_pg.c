/* test_ledger_pg — the ledger's store on PostgreSQL against the one on SQLite: the same rows,
 * tree, proofs and verification; sequencing under the tree lock; every refusal of opening.
 * It needs a PostgreSQL server: PDGATE_TEST_PG names one, or it runs itself again under
 * tests/e2e/pgserver.py, which starts one of its own for the run and removes it after. */
#include "check.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cal.h"
#include "ledger.h"
#include "ledger_batch.h"
#include "ledger_db.h"
#include "ledger_err.h"
#include "ledger_leaf.h"
#include "ledger_pg.h"
#include "ledger_sign.h"
#include "ledger_store.h"
#include "ledger_verify.h"
#include "merkle.h"
#include "note.h"

#define H MERKLE_HASH_LEN
#define ORIGIN "pdgate.test/pg"

static const char *url;
static struct note_signer *signer;
static struct note_verifier *verifier;

static void
quiet(void *arg, const char *msg)
{
	(void)arg, (void)msg;
}

/* Runs sql on a connection of its own (the test's hand on the database). */
static int
sql(const char *text)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r;

	PQsetNoticeProcessor(c, quiet, NULL);
	r = PQexec(c, text);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "sql %s: %s", text, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

/* The URL of database name on the test's server (created empty). */
static void
db_url(char *out, size_t len, const char *name)
{
	char create[128];

	snprintf(create, sizeof(create), "DROP DATABASE IF EXISTS %s", name);
	sql(create);
	snprintf(create, sizeof(create), "CREATE DATABASE %s", name);
	sql(create);
	snprintf(out, len, "%.*s/%s", (int)(strrchr(url, '/') - url), url, name);
}

static int
make_keys(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL, *vkey = NULL;
	long len;

	if (k == NULL || b == NULL || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
		return -1;
	len = BIO_get_mem_data(b, &pem);
	signer = note_signer_new(ORIGIN, pem, (size_t)len);
	if (signer != NULL && (vkey = note_signer_vkey(signer)) != NULL)
		verifier = note_verifier_new(vkey, strlen(vkey));
	free(vkey);
	BIO_free(b);
	EVP_PKEY_free(k);
	return verifier != NULL ? 0 : -1;
}

/*
 * A writer as ledger.c's: under the tree lock, the frontier of the stored size (another
 * connection may have appended), n admin entries of one time, their batch row, and every
 * sign entries a checkpoint over everything, checked consistent with the latest stored one.
 */
static int
append(struct ledger_store *s, size_t n, int64_t ms, bool sign, uint64_t *first)
{
	struct merkle_store tree = ledger_store_tree(s);
	struct merkle_frontier f;
	struct ledger_tip tip;
	struct buf leaves = {0}, hashes = {0}, nodes = {0}, tail = {0}, leaf = {0};
	char time[LEDGER_TIME_LEN + 1];
	int rc;

	if ((rc = s->ops->begin(s, &tip)) != 0)
		return rc;
	rc = LEDGER_EIO;
	if (ms < tip.time)
		ms = tip.time;
	ledger_leaf_time(ms, time);
	if (merkle_frontier_load(&f, &tree, tip.size) != MERKLE_OK)
		goto fail;
	*first = tip.size;
	for (size_t i = 0; i < n; i++) {
		struct ledger_admin a = {.action = tip.size == 0 && i == 0 ? "gateway_start"
		                                                           : "partner_suspend",
		                         .staff = "officer",
		                         .reason = "a test \"quoted\" \\ reason",
		                         .target = "sakura-mail"};
		struct ledger_entry e = {.kind = LEDGER_ADMIN, .admin = &a};
		struct merkle_node done[MERKLE_MAX_LEVELS];
		uint8_t h[H];
		size_t nd;
		if (ledger_leaf_tail(&e, &tail) < 0 ||
		    ledger_leaf_join(&leaf, f.size, time, &tail) < 0 ||
		    merkle_leaf_hash(leaf.data, leaf.len, h) != MERKLE_OK ||
		    merkle_frontier_append(&f, h, done, &nd) != MERKLE_OK ||
		    ledger_batch_add(&leaves, leaf.data, leaf.len) < 0 ||
		    buf_add(&hashes, h, H) < 0)
			goto fail;
		for (size_t k = 1; k < nd; k++)
			if (buf_add(&nodes, done[k].hash, H) < 0)
				goto fail;
	}
	if (ledger_batch_end(&leaves) < 0 || buf_add(&hashes, nodes.data, nodes.len) < 0 ||
	    (rc = s->ops->put_batch(s, tip.size, n, ms, (const uint8_t *)hashes.data, hashes.len,
	                            leaves.data, leaves.len)) != 0)
		goto fail;
	if (sign) {
		uint8_t root[H], proof[MERKLE_MAX_PROOF][H];
		uint64_t cp = 0;
		char *note = NULL, *text = NULL, *signed_note = NULL;
		size_t len, tlen, slen, np;
		struct note_checkpoint c;
		rc = LEDGER_EIO;
		if (merkle_frontier_root(&f, root) != MERKLE_OK)
			goto fail;
		int m = s->ops->checkpoint(s, 0, &cp, &note, &len, NULL);
		if (m == 0 &&
		    (note_checkpoint_open(note, len, &verifier, 1, &c) != NOTE_OK ||
		     merkle_consistency_proof(&tree, cp, f.size, proof, MERKLE_MAX_PROOF, &np) !=
		         MERKLE_OK ||
		     merkle_verify_consistency(cp, f.size, c.root, root, (const uint8_t(*)[H])proof,
		                               np) != MERKLE_OK))
			m = -1;
		free(note);
		if (m != 0 && m != LEDGER_ENOENT)
			goto fail;
		if (note_checkpoint_format(ORIGIN, f.size, root, &text, &tlen) != NOTE_OK ||
		    note_sign(signer, text, tlen, &signed_note, &slen) != NOTE_OK ||
		    (rc = s->ops->put_checkpoint(s, f.size, signed_note, slen, ms)) != 0) {
			free(text);
			free(signed_note);
			goto fail;
		}
		free(text);
		free(signed_note);
	}
	rc = s->ops->commit(s);
	goto done;
fail:
	s->ops->rollback(s);
done:
	buf_free(&leaves);
	buf_free(&hashes);
	buf_free(&nodes);
	buf_free(&tail);
	buf_free(&leaf);
	return rc;
}

static int
verify(struct ledger_store *s, struct ledger_verdict *v)
{
	int rc;

	if ((rc = s->ops->snapshot_begin(s)) != 0)
		return rc;
	rc = ledger_verify_store(s, verifier, (int64_t)1e13, 10000, NULL, v);
	s->ops->snapshot_end(s);
	return rc;
}

/* ---- the same batches on both stores ---- */

static void
test_same_as_sqlite(void)
{
	char err[512], pgu[512], path[] = "/tmp/test_ledger_pg-XXXXXX";
	int fd = mkstemp(path);
	struct ledger_conn *c = NULL;
	struct ledger_store *p, *r;
	uint64_t size_s = 0, size_p = 0;
	int schema, ok = 1;
	char *stored = NULL;

	close(fd);
	unlink(path);
	db_url(pgu, sizeof(pgu), "same");
	p = ledger_pg_open(pgu, true, ORIGIN, &stored, err, sizeof(err));
	CHECK(p != NULL, "open a writer on an empty database: %s", err);
	CHECK(stored && strcmp(stored, ORIGIN) == 0, "the stored origin: %s", stored);
	free(stored);
	c = ledger_conn_open(path, true, err, sizeof(err));
	CHECK(c != NULL && ledger_db_init(c, ORIGIN, &schema, err, sizeof(err)) == 0 &&
	          ledger_conn_prepare(c, true, err, sizeof(err)) == 0,
	      "sqlite: %s", err);
	if (p == NULL || c == NULL)
		goto done;
	struct ledger_store *q = &c->base;
	/* batch sizes that cross many subtree boundaries, one time per batch */
	static const size_t ns[] = {1, 1, 2, 5, 8, 3, 16, 1, 31, 64, 7, 100, 1, 250, 9};
	int64_t ms = 1767225600000; /* 2026-01-01 */
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++, ms += 17) {
		uint64_t f1 = 0, f2 = 0;
		int a = append(q, ns[i], ms, i % 3 == 2, &f1),
		    b = append(p, ns[i], ms, i % 3 == 2, &f2);
		CHECK(a == 0 && b == 0 && f1 == f2, "batch %zu: sqlite %d, postgresql %d (%s)", i,
		      a, b, p->ops->errmsg(p));
	}
	CHECK(q->ops->size(q, &size_s) == 0 && p->ops->size(p, &size_p) == 0 && size_s == size_p &&
	          size_s == 499,
	      "sizes: %" PRIu64 " and %" PRIu64, size_s, size_p);

	/* a reader's connection sees the same leaves, roots and proofs as the SQLite file */
	r = ledger_pg_open(pgu, false, NULL, NULL, err, sizeof(err));
	CHECK(r != NULL, "open a reader: %s", err);
	if (r == NULL)
		goto done;
	struct merkle_store ts = ledger_store_tree(q), tp = ledger_store_tree(r);
	for (uint64_t i = 0; i < size_s && ok; i++) {
		const char *l1, *l2;
		size_t n1, n2;
		char *copy = NULL;
		if (ledger_store_leaf(q, i, &l1, &n1) != 0 || (copy = strndup(l1, n1)) == NULL ||
		    ledger_store_leaf(r, i, &l2, &n2) != 0 || n1 != n2 || memcmp(copy, l2, n1) != 0)
			ok = 0;
		free(copy);
	}
	CHECK(ok, "every leaf is byte for byte the SQLite file's");
	for (uint64_t sz = 1; sz <= size_s && ok; sz += 7) {
		uint8_t a[H], b[H], pa[MERKLE_MAX_PROOF][H], pb[MERKLE_MAX_PROOF][H];
		size_t na, nb;
		ok = merkle_root(&ts, sz, a) == MERKLE_OK && merkle_root(&tp, sz, b) == MERKLE_OK &&
		     memcmp(a, b, H) == 0 &&
		     merkle_inclusion_proof(&tp, sz / 2, sz, pb, MERKLE_MAX_PROOF, &nb) ==
		         MERKLE_OK &&
		     merkle_inclusion_proof(&ts, sz / 2, sz, pa, MERKLE_MAX_PROOF, &na) ==
		         MERKLE_OK &&
		     na == nb && memcmp(pa, pb, na * H) == 0;
	}
	CHECK(ok, "every root and inclusion proof equals the SQLite file's");
	uint64_t at;
	CHECK(ledger_store_bisect(r, size_p, ms - 17 * 3, &at) == 0 && at == 499 - 1 - 250 - 9,
	      "a time is found by bisection: %" PRIu64, at);
	char *n1 = NULL, *n2 = NULL;
	size_t l1, l2;
	uint64_t c1, c2;
	CHECK(q->ops->checkpoint(q, 0, &c1, &n1, &l1, NULL) == 0 &&
	          r->ops->checkpoint(r, 0, &c2, &n2, &l2, NULL) == 0 && c1 == c2 && c1 == 499,
	      "the latest checkpoint: %" PRIu64, c1);
	free(n1);
	free(n2);

	struct ledger_verdict v;
	int vr = verify(r, &v);
	CHECK(vr == 0 && v.size == 499 && v.cp_size == 499, "verify on PostgreSQL: %d %s", vr,
	      v.problem);
	vr = verify(q, &v);
	CHECK(vr == 0 && v.size == 499, "verify on SQLite: %d %s", vr, v.problem);

	/* a leaf changed by hand is named by verify */
	char hand[512];
	snprintf(hand, sizeof(hand), "%s", pgu);
	const char *saved = url;
	url = hand;
	CHECK(sql("UPDATE batches SET leaves = replace(leaves, 'officer', 'offices') WHERE first = "
	          "17") == 0,
	      "changing a leaf");
	url = saved;
	vr = verify(r, &v);
	CHECK(vr == LEDGER_EVERIFY && strstr(v.problem, "entry 17: the leaf does not hash"),
	      "verify names the changed leaf: %d %s", vr, v.problem);
	ledger_store_free(r);
done:
	ledger_store_free(p);
	ledger_conn_free(c);
	unlink(path);
	char wal[300];
	snprintf(wal, sizeof(wal), "%s-wal", path);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", path);
	unlink(wal);
}

/* ---- refusals: what opening says, and that it changes nothing ---- */

static void
refused(const char *u, bool writer, const char *origin, const char *want)
{
	char err[512] = "";
	struct ledger_store *s = ledger_pg_open(u, writer, origin, NULL, err, sizeof(err));

	CHECK(s == NULL && strstr(err, want) != NULL, "%s: want '%s', got '%s'", u, want, err);
	ledger_store_free(s);
}

static void
test_refusals(void)
{
	char u[512], err[512];
	struct ledger_store *s;

	refused("postgresql://host:notaport/db", true, ORIGIN, "ledger url does not parse");
	refused("postgresql://a@b@[::1/x", true, ORIGIN, "ledger url does not parse");
	refused("postgresql://u@h/d?nosuchoption=1", true, ORIGIN, "ledger url does not parse");
	refused("mysql://u@h/d", true, ORIGIN, "not a postgresql:// URL");
	/* a port nobody listens on: refused within the connect timeout, not hung */
	refused("postgresql://postgres@127.0.0.1:1/pdgate", true, ORIGIN,
	        "cannot reach PostgreSQL");
	const char *orig = url;

	/* a database of someone else's tables, and no meta */
	db_url(u, sizeof(u), "other");
	url = u;
	sql("CREATE TABLE customers(id integer)");
	url = orig;
	refused(u, true, ORIGIN, "not a pdgate ledger: the database holds 1 other tables");
	refused(u, false, NULL, "not a pdgate ledger");

	/* an empty database: a reader finds no ledger, and creates nothing */
	db_url(u, sizeof(u), "empty");
	refused(u, false, NULL, "not a pdgate ledger");
	s = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	CHECK(s != NULL, "a writer makes the tables: %s", err);
	ledger_store_free(s);
	/* the origin line is the ledger's: another is refused */
	refused(u, true, "pdgate.test/another",
	        "ledger origin is 'pdgate.test/pg', the configuration says 'pdgate.test/another'");
	refused(u, false, "pdgate.test/another", "ledger origin is 'pdgate.test/pg'");
	/* a newer pdgate's schema */
	url = u;
	sql("UPDATE meta SET value = '3' WHERE key = 'schema'");
	url = orig;
	refused(u, true, ORIGIN, "ledger schema 3 (a newer pdgate's), this pdgate reads 2");
	refused(u, false, NULL, "ledger schema 3 (a newer pdgate's)");
	url = u;
	sql("DELETE FROM meta WHERE key = 'schema'");
	url = orig;
	refused(u, true, ORIGIN, "not a pdgate ledger: no schema in meta");
	/* a database that is not UTF-8 */
	sql("DROP DATABASE IF EXISTS latin");
	sql("CREATE DATABASE latin ENCODING 'LATIN1' TEMPLATE template0");
	snprintf(u, sizeof(u), "%.*s/latin", (int)(strrchr(url, '/') - url), url);
	refused(u, true, ORIGIN, "a pdgate ledger needs UTF8");
}

/* ---- sequencing: two writers, one tree ---- */

struct racer {
	const char *url;
	int rounds, failed;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	char err[512];
	struct ledger_store *s = ledger_pg_open(r->url, true, ORIGIN, NULL, err, sizeof(err));

	if (s == NULL) {
		r->failed = r->rounds;
		return NULL;
	}
	for (int i = 0; i < r->rounds; i++) {
		uint64_t first;
		/* each writer signs too: checkpoints of both stay one consistent history */
		if (append(s, 1 + (size_t)i % 5, 1767225600000 + i, i % 4 == 3, &first) != 0) {
			if (r->failed++ == 0)
				fprintf(stderr, "race: %s\n", s->ops->errmsg(s));
		}
	}
	ledger_store_free(s);
	return NULL;
}

static void
test_two_writers(void)
{
	char u[512], err[512];
	struct racer a, b;
	pthread_t ta, tb;
	struct ledger_store *s, *w1, *w2;
	struct ledger_tip tip;
	uint64_t first;

	db_url(u, sizeof(u), "two");
	s = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	CHECK(s != NULL, "open: %s", err);
	if (s == NULL)
		return;
	a = (struct racer){u, 60, 0};
	b = a;
	pthread_create(&ta, NULL, race, &a);
	pthread_create(&tb, NULL, race, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(a.failed == 0 && b.failed == 0, "no commit failed: %d, %d", a.failed, b.failed);
	struct ledger_verdict v;
	int vr = verify(s, &v);
	/* 2 * (12 * (1 + 2 + 3 + 4 + 5)) entries, each writer extending what the other wrote */
	CHECK(vr == 0 && v.size == 360 && v.cp_size > 0,
	      "verify after two writers: %d %" PRIu64 " %s", vr, v.size, v.problem);

	/* the lock: while one writer holds it, the other's begin waits for its commit and then
	 * sees the size it left */
	w1 = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	w2 = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	CHECK(w1 && w2, "two writers: %s", err);
	if (w1 == NULL || w2 == NULL)
		goto done;
	CHECK(w1->ops->begin(w1, &tip) == 0 && tip.size == 360, "w1 holds the lock at %" PRIu64,
	      tip.size);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = w2->ops->begin(w2, &tip); /* lock_timeout: 5 s */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(rc == LEDGER_EIO && waited >= 4.5 && strstr(w2->ops->errmsg(w2), "lock"),
	      "w2 waits for the lock, then fails: %d after %.1f s: %s", rc, waited,
	      w2->ops->errmsg(w2));
	w1->ops->rollback(w1);
	/* a batch built from a stale size is refused, and nothing of it is stored */
	CHECK(w2->ops->begin(w2, &tip) == 0, "w2 begins");
	rc = w2->ops->put_batch(w2, tip.size - 1, 1, 1767225600000, (const uint8_t *)"x", 1,
	                        "[\"x\"]", 5);
	CHECK(rc != 0, "a batch that overlaps is refused");
	w2->ops->rollback(w2);
	CHECK(append(w2, 3, 1767225600000, true, &first) == 0 && first == 360,
	      "w2 appends at %" PRIu64, first);

	/* a writer whose session dies inside its transaction stores nothing of it, and the next
	 * transaction reconnects */
	CHECK(w1->ops->begin(w1, &tip) == 0 && tip.size == 363, "w1 sees w2's entries: %" PRIu64,
	      tip.size);
	char kill[512], hand[512];
	snprintf(hand, sizeof(hand), "%s", url);
	snprintf(kill, sizeof(kill),
	         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'two' AND "
	         "state LIKE 'idle in transaction%%'");
	sql(kill);
	rc = w1->ops->put_batch(w1, 363, 1, 1767225600000, (const uint8_t *)"x", 1, "[\"x\"]", 5);
	if (rc == 0)
		rc = w1->ops->commit(w1);
	w1->ops->rollback(w1);
	CHECK(rc != 0, "a commit on a lost session fails");
	CHECK(append(w1, 2, 1767225600000, true, &first) == 0 && first == 363,
	      "and the next one reconnects: %s", w1->ops->errmsg(w1));
	vr = verify(s, &v);
	CHECK(vr == 0 && v.size == 365 && v.cp_size == 365, "verify: %d %" PRIu64 " %s", vr, v.size,
	      v.problem);
	CHECK(w1->ops->probe(w1) == 0, "the probe writes");
done:
	ledger_store_free(w1);
	ledger_store_free(w2);
	ledger_store_free(s);
}

/* ---- checkpoints signed under the lock, by whichever writer ---- */

static void
test_sign(void)
{
	char u[512], err[512];
	struct ledger_store *a, *b;
	struct ledger_tree_state sa = {0}, sb = {0};
	uint64_t first, size;
	enum ledger_sign_result r;

	db_url(u, sizeof(u), "signing");
	a = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	b = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	CHECK(a && b, "two writers: %s", err);
	if (a == NULL || b == NULL)
		goto done;
	r = ledger_sign(a, signer, verifier, ORIGIN, NULL, &(int64_t){1}, &sa, &size, err,
	                sizeof(err));
	CHECK(r == LEDGER_SIGN_NOTHING && size == 0, "an empty tree: nothing to sign (%d %s)", r,
	      err);
	CHECK(append(a, 5, 1767225600000, false, &first) == 0 &&
	          append(b, 3, 1767225600000, false, &first) == 0 && first == 5,
	      "a appends 5, b 3");
	r = ledger_sign(a, signer, verifier, ORIGIN, NULL, &(int64_t){2}, &sa, &size, err,
	                sizeof(err));
	CHECK(r == LEDGER_SIGN_SIGNED && size == 8 && sa.frontier.size == 8,
	      "a signs b's entries too: %d %" PRIu64 " %s", r, size, err);
	r = ledger_sign(b, signer, verifier, ORIGIN, NULL, &(int64_t){3}, &sb, &size, err,
	                sizeof(err));
	CHECK(r == LEDGER_SIGN_NOTHING && size == 8 && sb.cp_size == 8 &&
	          memcmp(sb.cp_root, sa.cp_root, H) == 0,
	      "b finds them signed, with a's root: %d %" PRIu64 " %s", r, size, err);
	CHECK(append(b, 2, 1767225600000, false, &first) == 0 && first == 8, "b appends 2");
	r = ledger_sign(b, signer, verifier, ORIGIN, NULL, &(int64_t){4}, &sb, &size, err,
	                sizeof(err));
	CHECK(r == LEDGER_SIGN_SIGNED && size == 10, "b signs 10: %d %s", r, err);
	r = ledger_sign(a, signer, verifier, ORIGIN, NULL, &(int64_t){5}, &sa, &size, err,
	                sizeof(err));
	CHECK(r == LEDGER_SIGN_NOTHING && sa.cp_size == 10 && sa.frontier.size == 10,
	      "a catches up to b's checkpoint: %d %s", r, err);
	struct ledger_verdict v;
	int vr = verify(a, &v);
	CHECK(vr == 0 && v.size == 10 && v.cp_size == 10, "verify: %d %s", vr, v.problem);

	/* a stored checkpoint the tree does not extend (a root signed by the key, but another
	 * tree's): the next signer refuses and stores nothing */
	CHECK(append(a, 1, 1767225600000, false, &first) == 0, "a appends 1");
	uint8_t wrong[H] = {1};
	char *text = NULL, *note = NULL;
	size_t tl, nl;
	struct ledger_tip tip;
	CHECK(note_checkpoint_format(ORIGIN, 11, wrong, &text, &tl) == NOTE_OK &&
	          note_sign(signer, text, tl, &note, &nl) == NOTE_OK &&
	          b->ops->begin(b, &tip) == 0 && b->ops->put_checkpoint(b, 11, note, nl, 6) == 0 &&
	          b->ops->commit(b) == 0,
	      "a forged checkpoint stored by hand");
	free(text);
	free(note);
	CHECK(append(a, 1, 1767225600000, false, &first) == 0 && first == 11, "a appends 1 more");
	r = ledger_sign(a, signer, verifier, ORIGIN, NULL, &(int64_t){7}, &sa, &size, err,
	                sizeof(err));
	CHECK(r == LEDGER_SIGN_INCONSISTENT && strstr(err, "not consistent with checkpoint 11"),
	      "refused: %d %s", r, err);
	uint64_t cps;
	char *n2 = NULL;
	size_t l2;
	CHECK(a->ops->checkpoint(a, 0, &cps, &n2, &l2, NULL) == 0 && cps == 11,
	      "nothing stored: latest %" PRIu64, cps);
	free(n2);
done:
	ledger_store_free(a);
	ledger_store_free(b);
}

/* ---- a session lost while a checkpoint is checked: a failure, never an inconsistency ---- */

static int
kill_own_session(void *arg, uint64_t size)
{
	(void)arg;
	(void)size;
	sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'signlost' "
	    "AND state LIKE 'idle in transaction%'");
	return 1;
}

static void
test_sign_lost(void)
{
	char u[512], err[512];
	struct ledger_store *a;
	struct ledger_tree_state st = {0};
	struct ledger_sign_hooks h = {.may_sign = kill_own_session};
	uint64_t first, size;
	enum ledger_sign_result r;
	bool ok = true;

	db_url(u, sizeof(u), "signlost");
	a = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	CHECK(a != NULL, "a writer: %s", err);
	if (a == NULL)
		return;
	ok = append(a, 5, 1767225600000, true, &first) == 0;
	for (int i = 0; ok && i < 12; i++)
		ok = append(a, 37, 1767225600000, false, &first) == 0;
	CHECK(ok, "449 entries in 13 batches, the first 5 signed");
	/* the session ends after the hook, while the proof from 5 reads the stored nodes */
	r = ledger_sign(a, signer, verifier, ORIGIN, &h, &(int64_t){1}, &st, &size, err,
	                sizeof(err));
	CHECK(r == LEDGER_SIGN_FAILED, "the lost session fails the signature, to be retried: %d %s",
	      r, err);
	r = ledger_sign(a, signer, verifier, ORIGIN, NULL, &(int64_t){2}, &st, &size, err,
	                sizeof(err));
	CHECK(r == LEDGER_SIGN_SIGNED && size == 449, "the next try reconnects and signs: %d %s", r,
	      err);
	ledger_store_free(a);
}

/* ---- figures: commits a second, one writer and two on one tree ---- */

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
test_figures(void)
{
	char u[512], err[512];
	struct ledger_store *s;
	struct racer a, b;
	pthread_t ta, tb;
	uint64_t first;
	int ok = 0;

	db_url(u, sizeof(u), "figures");
	s = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	CHECK(s != NULL, "open: %s", err);
	if (s == NULL)
		return;
	double t0 = now_s();
	for (int i = 0; i < 200; i++)
		ok += append(s, 10, 1767225600000, false, &first) == 0;
	double one = now_s() - t0;
	CHECK(ok == 200, "200 commits of one writer: %d", ok);
	a = (struct racer){u, 100, 0};
	b = a;
	t0 = now_s();
	pthread_create(&ta, NULL, race, &a);
	pthread_create(&tb, NULL, race, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	double two = now_s() - t0;
	CHECK(a.failed == 0 && b.failed == 0, "two writers: %d %d", a.failed, b.failed);
	printf("one writer: %.0f commits/s (%.2f ms each, synchronous_commit = on); two writers on "
	       "one tree, each rebuilding after the other: %.0f commits/s\n",
	       200 / one, one * 1000 / 200, 200 / two);
	ledger_store_free(s);
}

/* ---- the shared state: a change committed under the tree lock holds for every later batch ---- */

/* What a registry keeps of the shared state, as the writer's hooks put it in force. */
struct fake_state {
	uint64_t gen;
	char sus[8][32]; /* the suspended partners, "" for the gateway */
	int n, loads;
};

static int
fake_sus(void *arg, const struct ledger_suspension *su)
{
	struct fake_state *f = arg;

	if (f->n < 8)
		snprintf(f->sus[f->n++], sizeof(f->sus[0]), "%s", su->partner);
	return 0;
}

static int
revoked_collect(void *arg, const char *jti)
{
	struct fake_state *f = arg;

	if (f->n < 8)
		snprintf(f->sus[f->n++], sizeof(f->sus[0]), "%s", jti);
	return 0;
}

static int
fake_load(void *arg, struct ledger_store *s)
{
	struct fake_state *f = arg;

	f->n = 0;
	f->loads++;
	return s->ops->state_read(s, &f->gen, fake_sus, f);
}

static bool
fake_allows(void *arg, const char *partner, const char *token)
{
	struct fake_state *f = arg;

	(void)token;
	for (int i = 0; i < f->n; i++)
		if (f->sus[i][0] == '\0' || strcmp(f->sus[i], partner) == 0)
			return false;
	return true;
}

/* One release (or deny) of partner decided under generation gen; ledger_append's result. */
static int
decided(struct ledger *l, enum ledger_kind kind, const char *partner, uint64_t gen)
{
	struct ledger_entry e = {.kind = kind,
	                         .request = "req",
	                         .partner = partner,
	                         .reason = kind == LEDGER_DENY ? "not_found" : NULL,
	                         .state_gen = gen};
	uint64_t index;

	return ledger_append(l, &e, 1, &index);
}

static int
suspend(struct ledger_store *w, const char *partner, bool on, bool *changed)
{
	struct ledger_suspension su = {partner, "officer", on ? "an inquiry" : NULL, 1767225600000};

	return w->ops->state_suspend(w, &su, on, changed);
}

static void
test_shared_state(void)
{
	char u[512], err[512], key[] = "/tmp/pdgate-test-pg-key-XXXXXX";
	struct fake_state f = {0};
	struct ledger_store *w = NULL, *lis = NULL;
	struct ledger *l = NULL;
	uint64_t size0, size1, gen;
	bool changed;
	int fd = mkstemp(key);
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	FILE *kf = fd >= 0 ? fdopen(fd, "w") : NULL;

	CHECK(kf != NULL && k != NULL && PEM_write_PrivateKey(kf, k, NULL, NULL, 0, NULL, NULL),
	      "a key file");
	if (kf != NULL)
		fclose(kf);
	EVP_PKEY_free(k);
	db_url(u, sizeof(u), "shared");
	struct ledger_params lp = {.path = u,
	                           .origin = ORIGIN,
	                           .key = key,
	                           .state_load = fake_load,
	                           .state_allows = fake_allows,
	                           .state_arg = &f};
	l = ledger_open(&lp, err, sizeof(err));
	CHECK(l != NULL, "ledger_open: %s", err);
	w = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	lis = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	CHECK(w != NULL && lis != NULL, "the other node's connections: %s", err);
	if (l == NULL || w == NULL || lis == NULL)
		goto done;
	/* the first commit (gateway_start) put the stored state in force */
	CHECK(f.loads == 1 && f.gen == 1 && f.n == 0, "loaded at the first commit: %d %" PRIu64,
	      f.loads, f.gen);
	CHECK(lis->ops->state_wait(lis, 0) == 1 && lis->ops->state_wait(lis, 0) == 0,
	      "listening: nothing announced yet");
	CHECK(decided(l, LEDGER_RELEASE, "p1", 1) == LEDGER_OK,
	      "a release under the state in force");

	/* another node suspends p1: the next batch's lock sees it, and a release decided before
	   it is refused, none of it stored */
	CHECK(suspend(w, "p1", true, &changed) == 0 && changed, "suspended: %s", w->ops->errmsg(w));
	CHECK(lis->ops->state_wait(lis, 5000) == 1, "the change is announced");
	CHECK(w->ops->size(w, &size0) == 0, "size");
	CHECK(decided(l, LEDGER_RELEASE, "p1", 1) == LEDGER_ESTATE, "a stale release refused");
	CHECK(w->ops->size(w, &size1) == 0 && size1 == size0, "nothing stored of it: %" PRIu64,
	      size1);
	CHECK(f.gen == 2 && f.n == 1 && strcmp(f.sus[0], "p1") == 0 && f.loads == 2,
	      "the new state put in force under the lock: %" PRIu64 " %d", f.gen, f.n);
	CHECK(decided(l, LEDGER_RELEASE, "p2", 1) == LEDGER_OK, "another partner's stale release");
	CHECK(decided(l, LEDGER_DENY, "p1", 1) == LEDGER_OK, "a refusal needs no check");
	CHECK(suspend(w, "p1", true, &changed) == 0 && !changed, "suspended twice: no change");
	CHECK(w->ops->state_read(w, &gen, fake_sus, &(struct fake_state){0}) == 0 && gen == 2,
	      "the generation moves with changes only: %" PRIu64, gen);

	/* lifted: a release decided while it held goes out under the new state */
	CHECK(suspend(w, "p1", false, &changed) == 0 && changed, "lifted");
	CHECK(decided(l, LEDGER_RELEASE, "p1", 2) == LEDGER_OK, "served again");
	CHECK(f.gen == 3 && f.n == 0, "lifted here too");
	/* the gateway's suspension holds for every partner */
	CHECK(suspend(w, "", true, &changed) == 0 && changed, "gateway suspended");
	CHECK(decided(l, LEDGER_RELEASE, "p2", 3) == LEDGER_ESTATE, "refused: the gateway");
	CHECK(suspend(w, "", false, &changed) == 0 && changed, "gateway resumed");
	CHECK(decided(l, LEDGER_RELEASE, "p2", 4) == LEDGER_OK, "served again");
	CHECK(w->ops->size(w, &size1) == 0 && size1 == size0 + 4, "the entries stored: %" PRIu64,
	      size1);

	/* a revoked token: stored once, ordered with the batches (the generation), announced */
	struct fake_state rv = {0};
	CHECK(lis->ops->state_wait(lis, 0) >= 0, "drained");
	while (lis->ops->state_wait(lis, 0) == 1)
		;
	CHECK(w->ops->state_revoke(w, "wo-1", 1767225600, &changed) == 0 && changed, "revoked: %s",
	      w->ops->errmsg(w));
	CHECK(lis->ops->state_wait(lis, 5000) == 1, "the revocation is announced");
	CHECK(w->ops->state_read(w, &gen, fake_sus, &(struct fake_state){0}) == 0 && gen == 6,
	      "the generation grows with it: %" PRIu64, gen);
	CHECK(w->ops->state_revoke(w, "wo-1", 1767225700, &changed) == 0 && !changed,
	      "revoked twice: no change");
	CHECK(lis->ops->state_wait(lis, 200) == 0, "nothing announced for no change");
	CHECK(w->ops->state_revoke(w, "wo-0", 1767225800, &changed) == 0 && changed, "another");
	CHECK(lis->ops->state_revoked(lis, revoked_collect, &rv) == 0 && rv.n == 2 &&
	          strcmp(rv.sus[0], "wo-0") == 0 && strcmp(rv.sus[1], "wo-1") == 0,
	      "every node reads the revoked set: %d", rv.n);
	CHECK(w->ops->state_read(w, &gen, fake_sus, &(struct fake_state){0}) == 0 && gen == 7,
	      "once per change: %" PRIu64, gen);
	CHECK(ledger_close(l) == 0, "close");
	l = NULL;
done:
	ledger_close(l);
	ledger_store_free(w);
	ledger_store_free(lis);
	unlink(key);
}

/* ---- the shared limits: work orders' counts and contracts' daily volumes ---- */

struct taker {
	const char *url;
	int ok, failed;
};

static void *
take_race(void *arg)
{
	struct taker *t = arg;
	char err[512];
	struct ledger_store *s = ledger_pg_open(t->url, true, ORIGIN, NULL, err, sizeof(err));

	for (int i = 0; i < 40; i++) {
		bool ok = false;
		if (s == NULL || s->ops->take(s, "wo-race", 1, 50, &ok) != 0)
			t->failed++;
		t->ok += ok;
	}
	ledger_store_free(s);
	return NULL;
}

/* What a node's limits learn from its writer. */
struct seen {
	pthread_mutex_t mu;
	uint64_t total, committed;
	int calls;
};

static void
seen_cb(void *arg, const char *contract, int64_t day, uint64_t total, uint64_t committed)
{
	struct seen *v = arg;

	(void)contract;
	CHECK(day == cal_jst_day((int64_t)time(NULL) * 1000), "the batch's JST day");
	pthread_mutex_lock(&v->mu);
	v->total = total;
	v->committed += committed;
	v->calls++;
	pthread_mutex_unlock(&v->mu);
}

/* n releases of a member (and a deny) under contract with records_per_day per_day. */
static int
released(struct ledger *l, const char *contract, uint64_t per_day, size_t n)
{
	struct ledger_entry e[4];
	uint64_t index;

	for (size_t i = 0; i < n && i < 4; i++)
		e[i] = (struct ledger_entry){.kind = LEDGER_RELEASE,
		                             .request = "req",
		                             .partner = "p1",
		                             .contract = contract,
		                             .subject = "5ab1",
		                             .records_per_day = per_day};
	return ledger_append(l, e, n, &index);
}

struct volume_racer {
	struct ledger *l;
	int ok, refused, failed;
};

static void *
volume_race(void *arg)
{
	struct volume_racer *r = arg;

	for (int i = 0; i < 30; i++) {
		int rc = released(r->l, "CT-2N", 20, 1);
		r->ok += rc == LEDGER_OK;
		r->refused += rc == LEDGER_EVOLUME;
		r->failed += rc != LEDGER_OK && rc != LEDGER_EVOLUME;
	}
	return NULL;
}

static int
day_row(void *arg, const char *contract, uint64_t records)
{
	uint64_t *v = arg;

	if (strcmp(contract, "CT-V") == 0)
		v[0] = records;
	else if (strcmp(contract, "CT-2N") == 0)
		v[1] = records;
	else
		v[2] += records;
	return 0;
}

static void
test_shared_limits(void)
{
	char u[512], err[512], key[] = "/tmp/pdgate-test-pg-key-XXXXXX";
	struct seen v = {.mu = PTHREAD_MUTEX_INITIALIZER}, v2 = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct ledger_store *w = NULL;
	struct ledger *l = NULL, *l2 = NULL;
	uint64_t size0, size1, rows[3] = {0};
	bool ok;
	int fd = mkstemp(key);
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	FILE *kf = fd >= 0 ? fdopen(fd, "w") : NULL;

	CHECK(kf != NULL && k != NULL && PEM_write_PrivateKey(kf, k, NULL, NULL, 0, NULL, NULL),
	      "a key file");
	if (kf != NULL)
		fclose(kf);
	EVP_PKEY_free(k);
	db_url(u, sizeof(u), "limits");
	w = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	CHECK(w != NULL, "a writer: %s", err);
	if (w == NULL)
		goto done;

	/* a work order's count: taken whole or not at all, never past max */
	CHECK(w->ops->take(w, "wo-1", 6, 5, &ok) == 0 && !ok, "more than max at once: refused");
	CHECK(w->ops->take(w, "wo-1", 3, 5, &ok) == 0 && ok, "3 of 5");
	CHECK(w->ops->take(w, "wo-1", 3, 5, &ok) == 0 && !ok, "3 more would pass 5");
	CHECK(w->ops->take(w, "wo-1", 2, 5, &ok) == 0 && ok, "the last 2");
	CHECK(w->ops->take(w, "wo-1", 1, 5, &ok) == 0 && !ok, "none left");
	CHECK(w->ops->take(w, "wo-2", 1, 5, &ok) == 0 && ok, "work orders are separate");
	/* two nodes taking at once: exactly max between them */
	struct taker ta = {u, 0, 0}, tb = ta;
	pthread_t pa, pb;
	pthread_create(&pa, NULL, take_race, &ta);
	pthread_create(&pb, NULL, take_race, &tb);
	pthread_join(pa, NULL);
	pthread_join(pb, NULL);
	CHECK(ta.failed == 0 && tb.failed == 0 && ta.ok + tb.ok == 50,
	      "two connections took %d + %d of 50 (%d, %d failed)", ta.ok, tb.ok, ta.failed,
	      tb.failed);

	/* daily volumes, counted in the commit under the tree lock */
	struct ledger_params lp = {
	    .path = u, .origin = ORIGIN, .key = key, .volume_seen = seen_cb, .volume_arg = &v};
	l = ledger_open(&lp, err, sizeof(err));
	CHECK(l != NULL, "ledger_open: %s", err);
	if (l == NULL)
		goto done;
	CHECK(released(l, "CT-V", 3, 1) == LEDGER_OK && v.total == 1 && v.committed == 1,
	      "one record: %" PRIu64 " %" PRIu64, v.total, v.committed);
	CHECK(released(l, "CT-V", 3, 2) == LEDGER_OK && v.total == 3 && v.committed == 3,
	      "a page of two: %" PRIu64, v.total);
	CHECK(w->ops->size(w, &size0) == 0, "size");
	v.calls = 0;
	CHECK(released(l, "CT-V", 3, 1) == LEDGER_EVOLUME, "the fourth record refused");
	CHECK(w->ops->size(w, &size1) == 0 && size1 == size0, "nothing stored of it");
	CHECK(v.calls == 1 && v.total == 3 && v.committed == 3, "and the total told: %d %" PRIu64,
	      v.calls, v.total);
	CHECK(released(l, "CT-V", 4, 1) == LEDGER_OK && v.total == 4,
	      "a limit raised (a reload) lets one more out: %" PRIu64, v.total);
	CHECK(released(l, "CT-X", 0, 2) == LEDGER_OK, "a contract without a limit is not counted");
	struct ledger_entry page0 = {.kind = LEDGER_RELEASE,
	                             .request = "req",
	                             .partner = "p1",
	                             .contract = "CT-V",
	                             .records_per_day = 3};
	uint64_t index;
	CHECK(ledger_append(l, &page0, 1, &index) == LEDGER_OK,
	      "a page that reached no member releases nothing counted");

	/* two nodes on one day's volume at once: exactly the limit between them */
	struct ledger_params lp2 = lp;
	lp2.volume_arg = &v2;
	l2 = ledger_open(&lp2, err, sizeof(err));
	CHECK(l2 != NULL, "the second node: %s", err);
	if (l2 == NULL)
		goto done;
	struct volume_racer ra[4] = {{l, 0, 0, 0}, {l, 0, 0, 0}, {l2, 0, 0, 0}, {l2, 0, 0, 0}};
	pthread_t pr[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&pr[i], NULL, volume_race, &ra[i]);
	int okn = 0, refn = 0, failn = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(pr[i], NULL);
		okn += ra[i].ok;
		refn += ra[i].refused;
		failn += ra[i].failed;
	}
	CHECK(okn == 20 && refn == 100 && failn == 0,
	      "two nodes released %d of 20, %d refused, %d failed", okn, refn, failn);
	CHECK(v2.total == 20 || v.total == 20, "both nodes learn the shared total");
	/* what a node restarted seeds its limits from */
	CHECK(w->ops->volume_day(w, cal_jst_day((int64_t)time(NULL) * 1000), day_row, rows) == 0 &&
	          rows[0] == 4 && rows[1] == 20 && rows[2] == 0,
	      "the day's rows: %" PRIu64 " %" PRIu64 " %" PRIu64, rows[0], rows[1], rows[2]);
	CHECK(ledger_close(l2) == 0 && ledger_close(l) == 0, "close");
	l = l2 = NULL;
done:
	ledger_close(l2);
	ledger_close(l);
	ledger_store_free(w);
	unlink(key);
}

int
main(int argc, char **argv)
{
	(void)argc;
	if ((url = getenv("PDGATE_TEST_PG")) == NULL) {
		/* a server of its own for this run: pgserver.py sets PDGATE_TEST_PG */
		execlp("python3", "python3", "tests/e2e/pgserver.py", argv[0], (char *)NULL);
		perror("python3 tests/e2e/pgserver.py");
		return 1;
	}
	if (make_keys() < 0) {
		fprintf(stderr, "cannot make a key\n");
		return 1;
	}
	test_same_as_sqlite();
	test_refusals();
	test_two_writers();
	test_sign();
	test_sign_lost();
	test_shared_state();
	test_shared_limits();
	test_figures();
	note_signer_free(signer);
	note_verifier_free(verifier);
	return check_done();
}
