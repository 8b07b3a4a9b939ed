/* test_subjects_pg — the register of members' requests in a PostgreSQL ledger that several
 * nodes share: ids unique across registers writing at once, a write that moves the shared
 * state's generation and is announced, another node's register loading it, the lists, and the
 * ledger's writer refusing a release whose member's restrictions changed under the tree lock.
 * It needs a PostgreSQL server: PDGATE_TEST_PG names one, or it runs itself again under
 * tests/e2e/pgserver.py. */
#include "check.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ledger.h"
#include "ledger_err.h"
#include "ledger_pg.h"
#include "ledger_store.h"
#include "policy.h"
#include "subjects.h"

#define ORIGIN "pdgate.test/subjects"
/* 2026-04-10T03:00:00Z, 12:00 in Japan */
#define T0 INT64_C(1775790000000)

static const char *url;

static void
quiet(void *arg, const char *msg)
{
	(void)arg, (void)msg;
}

/* Runs sql on a connection of its own; the first value of its result into out, if any. */
static int
sql(const char *db, const char *text, char *out, size_t len)
{
	PGconn *c = PQconnectdb(db);
	PGresult *r;
	int ok;

	PQsetNoticeProcessor(c, quiet, NULL);
	r = PQexec(c, text);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "sql %s: %s", text, PQerrorMessage(c));
	if (out != NULL)
		snprintf(out, len, "%s", ok && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

static void
db_url(char *out, size_t len, const char *name)
{
	char create[128];

	snprintf(create, sizeof(create), "DROP DATABASE IF EXISTS %s", name);
	sql(url, create, NULL, 0);
	snprintf(create, sizeof(create), "CREATE DATABASE %s", name);
	sql(url, create, NULL, 0);
	snprintf(out, len, "%.*s/%s", (int)(strrchr(url, '/') - url), url, name);
}

struct rec {
	pthread_mutex_t mu;
	int calls, fail;
	uint64_t next;
};

static int
record(void *arg, const struct subjects_row *row, uint64_t *index)
{
	struct rec *r = arg;
	int rc = 0;

	(void)row;
	pthread_mutex_lock(&r->mu);
	r->calls++;
	if (r->fail)
		rc = -1;
	else
		*index = r->next++;
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static void
subject(int i, char out[PSEUDO_SUBJECT_HEX + 1])
{
	snprintf(out, PSEUDO_SUBJECT_HEX + 1, "%08x%056d", (unsigned)i, 7);
}

static enum subjects_result
add(struct subjects *s, const char *subj, enum subjects_type t, struct rec *r,
    struct subjects_row *row)
{
	uint64_t index = 0;
	struct subjects_new n = {.subject = subj,
	                         .type = t,
	                         .received = "2026-04-09",
	                         .channel = "郵送",
	                         .note = NULL,
	                         .by = "officer",
	                         .now_ms = T0};
	return subjects_add(s, &n, record, r, row, &index);
}

static uint64_t
generation(const char *db)
{
	char v[32];

	return sql(db, "SELECT generation FROM state WHERE id = 0", v, sizeof(v)) == 0
	           ? strtoull(v, NULL, 10)
	           : 0;
}

/* Two registers (two nodes) adding at once. */
struct adder {
	struct subjects *s;
	struct rec *r;
	int base, n, ok;
	char ids[16][SUBJECTS_ID_LEN + 1];
};

static void *
adder_main(void *arg)
{
	struct adder *a = arg;
	char subj[PSEUDO_SUBJECT_HEX + 1];

	for (int i = 0; i < a->n; i++) {
		struct subjects_row row;
		subject(a->base + i, subj);
		if (add(a->s, subj, SUBJECTS_DISCLOSURE, a->r, &row) == SUBJECTS_OK) {
			memcpy(a->ids[a->ok], row.id, sizeof(row.id));
			a->ok++;
		}
	}
	return NULL;
}

static int
idcmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_register(const char *u)
{
	char err[512], a[PSEUDO_SUBJECT_HEX + 1], b[PSEUDO_SUBJECT_HEX + 1], v[64];
	struct rec r = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 100};
	struct ledger_store *w = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	struct ledger_store *lis = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));
	struct subjects *s1 = NULL, *s2 = NULL;
	struct subjects_row row;
	uint64_t g0, g1, index;
	json_t *list;

	CHECK(w != NULL && lis != NULL, "a writer's store makes the tables: %s", err);
	if (w == NULL || lis == NULL)
		goto done;
	s1 = subjects_open_pg(u, err, sizeof(err));
	s2 = subjects_open_pg(u, err, sizeof(err));
	CHECK(s1 != NULL && s2 != NULL, "two nodes' registers: %s", err);
	if (s1 == NULL || s2 == NULL)
		goto done;
	CHECK(lis->ops->state_wait(lis, 0) == 1, "listening");
	while (lis->ops->state_wait(lis, 0) == 1)
		;
	subject(1, a);
	subject(2, b);
	g0 = generation(u);
	CHECK(subjects_state_gen(s1) == g0 && g0 > 0, "loaded at the generation: %" PRIu64, g0);

	/* a stop request on node 1: in force there at once, the generation moved, announced */
	CHECK(add(s1, a, SUBJECTS_STOP_USE, &r, &row) == SUBJECTS_OK, "stop_use registered");
	CHECK(strcmp(row.id, "RQ-2026-000001") == 0, "the first id: %s", row.id);
	CHECK(subjects_restrictions(s1, a) == POLICY_RESTRICT_STOP_USE, "in force on node 1");
	g1 = generation(u);
	CHECK(g1 == g0 + 1, "the generation grew by one: %" PRIu64 " -> %" PRIu64, g0, g1);
	CHECK(subjects_state_gen(s1) == g1, "node 1 loaded it: %" PRIu64, subjects_state_gen(s1));
	CHECK(lis->ops->state_wait(lis, 5000) == 1, "announced");
	/* node 2 has not loaded it: its next load (the listener's, a commit's) puts it in force */
	CHECK(subjects_restrictions(s2, a) == 0 && subjects_state_gen(s2) == g0, "node 2 not yet");
	uint64_t before = subjects_generation(s2);
	CHECK(subjects_state_load(s2, lis) == 0, "node 2 loads through the listener's connection");
	CHECK(subjects_restrictions(s2, a) == POLICY_RESTRICT_STOP_USE &&
	          subjects_state_gen(s2) == g1,
	      "in force on node 2");
	CHECK(subjects_generation(s2) != before, "pages built ahead notice");
	before = subjects_generation(s2);
	CHECK(subjects_state_load(s2, lis) == 0 && subjects_generation(s2) == before,
	      "an unchanged generation changes nothing");

	/* a record refused: nothing stored, the number not used, nothing announced */
	r.fail = 1;
	CHECK(add(s2, b, SUBJECTS_STOP_THIRD_PARTY, &r, &row) == SUBJECTS_NOT_RECORDED,
	      "not recorded");
	r.fail = 0;
	CHECK(generation(u) == g1 && subjects_restrictions(s2, b) == 0, "nothing of it");
	CHECK(add(s2, b, SUBJECTS_STOP_THIRD_PARTY, &r, &row) == SUBJECTS_OK &&
	          strcmp(row.id, "RQ-2026-000002") == 0,
	      "node 2 numbers on: %s", row.id);
	CHECK(subjects_state_load(s1, NULL) == 0 &&
	          subjects_restrictions(s1, b) == POLICY_RESTRICT_STOP_THIRD_PARTY,
	      "node 1 loads it");

	/* closing: once, on either node; refused lifts */
	CHECK(subjects_close_request(s2, a, "RQ-2026-000001", SUBJECTS_REFUSED,
	                             "本人確認ができない", "officer2", T0 + 1000, record, &r, &row,
	                             &index) == SUBJECTS_OK,
	      "closed as refused on node 2");
	CHECK(subjects_restrictions(s2, a) == 0, "lifted on node 2");
	CHECK(subjects_close_request(s1, a, "RQ-2026-000001", SUBJECTS_WITHDRAWN, NULL, "officer",
	                             T0 + 2000, record, &r, &row,
	                             &index) == SUBJECTS_CLOSED_ALREADY,
	      "node 1 cannot close it again");
	CHECK(subjects_close_request(s1, b, "RQ-2026-000001", SUBJECTS_WITHDRAWN, NULL, "officer",
	                             T0 + 2000, record, &r, &row, &index) == SUBJECTS_NOT_FOUND,
	      "another member's request is not found");
	CHECK(subjects_state_load(s1, NULL) == 0 && subjects_restrictions(s1, a) == 0,
	      "lifted on node 1");

	/* both writing at once: distinct ids, numbered on without a gap */
	struct adder x = {s1, &r, 100, 12, 0, {{0}}}, y = {s2, &r, 200, 12, 0, {{0}}};
	pthread_t tx, ty;
	pthread_create(&tx, NULL, adder_main, &x);
	pthread_create(&ty, NULL, adder_main, &y);
	pthread_join(tx, NULL);
	pthread_join(ty, NULL);
	CHECK(x.ok == 12 && y.ok == 12, "every one registered: %d %d", x.ok, y.ok);
	char all[24][SUBJECTS_ID_LEN + 1];
	memcpy(all, x.ids, sizeof(x.ids[0]) * 12);
	memcpy(all + 12, y.ids, sizeof(y.ids[0]) * 12);
	qsort(all, 24, sizeof(all[0]), idcmp);
	int seq_ok = 1;
	for (int i = 0; i < 24; i++) {
		char want[SUBJECTS_ID_LEN + 1];
		snprintf(want, sizeof(want), "RQ-2026-%06d", i + 3);
		seq_ok &= strcmp(all[i], want) == 0;
	}
	CHECK(seq_ok, "ids 3..26, each once: %s .. %s", all[0], all[23]);

	/* the lists: either node reads the database */
	list = subjects_list(s2, NULL, 20556);
	CHECK(list != NULL && json_array_size(list) == 26, "node 2 lists all: %zu",
	      list ? json_array_size(list) : 0);
	json_decref(list);
	list = subjects_of(s1, a, 20556);
	CHECK(list != NULL && json_array_size(list) == 1 &&
	          strcmp(json_string_value(json_object_get(json_array_get(list, 0), "outcome")),
	                 "refused") == 0 &&
	          json_integer_value(json_object_get(json_array_get(list, 0), "closed_index")) > 0,
	      "node 1's view of the member");
	json_decref(list);
	list = subjects_list(s1, "open", 20556);
	CHECK(list != NULL && json_array_size(list) == 25, "open ones");
	json_decref(list);
	list = subjects_overdue(s2, 20556);
	CHECK(list != NULL && json_array_size(list) == 0, "none overdue four days on");
	json_decref(list);
	list = subjects_overdue(s2, 20556 + 30);
	CHECK(list != NULL && json_array_size(list) == 25, "every open one overdue a month on: %zu",
	      list ? json_array_size(list) : 0);
	json_decref(list);
	CHECK(sql(u, "SELECT count(*) FROM subject_requests", v, sizeof(v)) == 0 &&
	          strcmp(v, "26") == 0,
	      "the rows: %s", v);

	/* the session ended under it (a restart, an administrator): the write fails before its
	   act is recorded, nothing stored; the next one connects again */
	int calls = r.calls;
	CHECK(sql(u,
	          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
	          "'subjects' AND application_name = 'pdgate' AND pid <> pg_backend_pid()",
	          NULL, 0) == 0,
	      "sessions ended");
	usleep(100000);
	CHECK(add(s1, a, SUBJECTS_STOP_USE, &r, &row) == SUBJECTS_EDB && r.calls == calls,
	      "a lost session: refused, nothing recorded");
	CHECK(add(s1, a, SUBJECTS_STOP_USE, &r, &row) == SUBJECTS_OK &&
	          strcmp(row.id, "RQ-2026-000027") == 0,
	      "connected again, numbered on: %s", row.id);
	CHECK(subjects_restrictions(s1, a) == POLICY_RESTRICT_STOP_USE, "in force");
done:
	subjects_close(s1);
	subjects_close(s2);
	ledger_store_free(w);
	ledger_store_free(lis);
}

/* The ledger's hooks, as the gateway's: the register's restrictions, nothing suspended. */
static int
hook_load(void *arg, struct ledger_store *s)
{
	return subjects_state_load(arg, s);
}

static bool
hook_allows(void *arg, const char *partner, const char *token)
{
	(void)arg, (void)partner, (void)token;
	return true;
}

static unsigned
hook_restrictions(void *arg, const char *subject)
{
	return subjects_restrictions(arg, subject);
}

static int
release(struct ledger *l, const char *subj, unsigned bits, unsigned mask, uint64_t gen)
{
	struct ledger_entry e = {.kind = LEDGER_RELEASE,
	                         .request = "req",
	                         .partner = "p1",
	                         .subject = subj,
	                         .digest = "00",
	                         .state_gen = gen,
	                         .restrictions = bits,
	                         .restrict_mask = mask};
	uint64_t index;

	return ledger_append(l, &e, 1, &index);
}

static void
test_commit_check(const char *u)
{
	char err[512], a[PSEUDO_SUBJECT_HEX + 1], key[] = "/tmp/pdgate-test-subjects-key-XXXXXX";
	struct rec r = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 100};
	struct subjects *mine = NULL, *other = NULL;
	struct subjects_row row;
	struct ledger *l = NULL;
	int fd = mkstemp(key);
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	FILE *kf = fd >= 0 ? fdopen(fd, "w") : NULL;
	struct ledger_store *w = ledger_pg_open(u, true, ORIGIN, NULL, err, sizeof(err));

	CHECK(kf != NULL && k != NULL && PEM_write_PrivateKey(kf, k, NULL, NULL, 0, NULL, NULL),
	      "a key file");
	if (kf != NULL)
		fclose(kf);
	EVP_PKEY_free(k);
	mine = w ? subjects_open_pg(u, err, sizeof(err)) : NULL;
	other = mine ? subjects_open_pg(u, err, sizeof(err)) : NULL;
	CHECK(other != NULL, "registers: %s", err);
	if (other == NULL)
		goto done;
	struct ledger_params lp = {.path = u,
	                           .origin = ORIGIN,
	                           .key = key,
	                           .state_load = hook_load,
	                           .state_allows = hook_allows,
	                           .state_restrictions = hook_restrictions,
	                           .state_arg = mine};
	l = ledger_open(&lp, err, sizeof(err));
	CHECK(l != NULL, "ledger_open: %s", err);
	if (l == NULL)
		goto done;
	subject(7, a);
	uint64_t g = subjects_state_gen(mine);
	CHECK(release(l, a, 0, POLICY_RESTRICT_STOP_USE, g) == LEDGER_OK,
	      "a release, unrestricted");
	/* another node's stop_use, unheard here: the next commit's lock sees it */
	CHECK(add(other, a, SUBJECTS_STOP_USE, &r, &row) == SUBJECTS_OK, "stop_use on node 2");
	CHECK(subjects_restrictions(mine, a) == 0, "not heard here");
	CHECK(release(l, a, 0, POLICY_RESTRICT_STOP_USE, g) == LEDGER_ESTATE,
	      "a release decided before it refused under the lock");
	CHECK(subjects_restrictions(mine, a) == POLICY_RESTRICT_STOP_USE,
	      "the writer put it in force");
	CHECK(release(l, a, POLICY_RESTRICT_STOP_USE, 0, g) == LEDGER_OK,
	      "an exception purpose (nothing matters to it) goes out");
	CHECK(release(l, a, 0, POLICY_RESTRICT_STOP_USE, subjects_state_gen(mine)) == LEDGER_OK,
	      "one decided under the new generation is not checked again");
	/* a stop_third_party matters to a third party only */
	char b[PSEUDO_SUBJECT_HEX + 1];
	subject(8, b);
	g = subjects_state_gen(mine);
	CHECK(add(other, b, SUBJECTS_STOP_THIRD_PARTY, &r, &row) == SUBJECTS_OK,
	      "stop_third_party");
	CHECK(release(l, b, 0, POLICY_RESTRICT_STOP_USE, g) == LEDGER_OK,
	      "an entrustment goes out");
	CHECK(add(other, b, SUBJECTS_STOP_USE, &r, &row) == SUBJECTS_OK, "and stop_use");
	CHECK(release(l, b, POLICY_RESTRICT_STOP_THIRD_PARTY,
	              POLICY_RESTRICT_STOP_USE | POLICY_RESTRICT_STOP_THIRD_PARTY,
	              g) == LEDGER_ESTATE,
	      "a third party's release decided before either refused");
	CHECK(ledger_close(l) == 0, "close");
	l = NULL;
done:
	ledger_close(l);
	subjects_close(mine);
	subjects_close(other);
	ledger_store_free(w);
	unlink(key);
}

int
main(int argc, char **argv)
{
	char u[512];

	(void)argc;
	if ((url = getenv("PDGATE_TEST_PG")) == NULL) {
		execlp("python3", "python3", "tests/e2e/pgserver.py", argv[0], (char *)NULL);
		perror("python3 tests/e2e/pgserver.py");
		return 1;
	}
	db_url(u, sizeof(u), "subjects");
	test_register(u);
	db_url(u, sizeof(u), "subjects_commit");
	test_commit_check(u);
	return check_done();
}
