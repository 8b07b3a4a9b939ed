/* test_subjects — the register of members' requests: ids, writes that the record function
 * refuses, closing, the restrictions in memory, persistence, the lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "subjects.c"

static char dir[] = "/tmp/test_subjects.XXXXXX";
static char db[300];

/* 2026-04-10T03:00:00Z, 12:00 in Japan */
#define T0 INT64_C(1775790000000)
#define DAY INT64_C(86400000)

struct rec {
	int calls;
	int fail;      /* the record function refuses */
	uint64_t next; /* the index it hands out */
	struct subjects_row last;
};

static int
record(void *arg, const struct subjects_row *row, uint64_t *index)
{
	struct rec *r = arg;

	r->calls++;
	r->last = *row;
	if (r->fail)
		return -1;
	*index = r->next++;
	return 0;
}

/* A subject reference of our own: i in hex, then a fixed tail. */
static void
subject(int i, char out[PSEUDO_SUBJECT_HEX + 1])
{
	snprintf(out, PSEUDO_SUBJECT_HEX + 1, "%08x%056d", (unsigned)i, 7);
}

static enum subjects_result
add(struct subjects *s, const char *subj, enum subjects_type t, const char *received, int64_t now,
    struct rec *r, struct subjects_row *row)
{
	uint64_t index = 0;
	struct subjects_new n = {.subject = subj,
	                         .type = t,
	                         .received = received,
	                         .channel = "郵送",
	                         .note = "本人確認済み",
	                         .by = "officer",
	                         .now_ms = now};
	return subjects_add(s, &n, record, r, row, &index);
}

static enum subjects_result
close_rq(struct subjects *s, const char *subj, const char *id, enum subjects_outcome o,
         struct rec *r)
{
	struct subjects_row row;
	uint64_t index = 0;

	return subjects_close_request(s, subj, id, o, o == SUBJECTS_REFUSED ? "理由" : NULL,
	                              "officer", T0 + DAY, record, r, &row, &index);
}

static long long
count_rows(void)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT count(*) FROM subject_requests", -1, &st, NULL) ==
	        SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void
test_names(void)
{
	enum subjects_type t;
	enum subjects_outcome o;

	for (int i = 0; i < SUBJECTS_NTYPES; i++)
		CHECK(subjects_type_parse(subjects_type_name((enum subjects_type)i), &t) == 0 &&
		          (int)t == i,
		      "type %d round trip", i);
	CHECK(subjects_type_parse("stop", &t) != 0 && subjects_type_parse("", &t) != 0 &&
	          subjects_type_parse(NULL, &t) != 0 && subjects_type_parse("Stop_use", &t) != 0,
	      "unknown types refused");
	CHECK(subjects_outcome_parse("open", &o) != 0, "open is not an outcome");
	CHECK(subjects_outcome_parse("refused", &o) == 0 && o == SUBJECTS_REFUSED, "refused");
	CHECK(subjects_type_name((enum subjects_type)9) == NULL, "out of range");
}

static void
test_register(void)
{
	char err[256], a[65], b[65];
	struct subjects *s = subjects_open(db, err, sizeof(err));
	struct rec r = {.next = 100};
	struct subjects_row row, first;

	CHECK(s != NULL, "open: %s", err);
	if (s == NULL)
		return;
	subject(1, a);
	subject(2, b);
	CHECK(subjects_restrictions(s, a) == 0, "nothing held at first");
	uint64_t gen = subjects_generation(s);
	CHECK(add(s, a, SUBJECTS_DISCLOSURE, "2026-04-01", T0, &r, &first) == SUBJECTS_OK, "add");
	CHECK(subjects_generation(s) == gen, "a disclosure request restricts nothing");
	CHECK(strcmp(first.id, "RQ-2026-000001") == 0, "first id %s", first.id);
	CHECK(r.calls == 1 && strcmp(r.last.id, first.id) == 0 &&
	          r.last.type == SUBJECTS_DISCLOSURE &&
	          strcmp(r.last.received, "2026-04-01") == 0 && r.last.outcome == SUBJECTS_OPEN,
	      "the record function saw the request before it was stored");
	CHECK(add(s, a, SUBJECTS_STOP_USE, "2026-04-02", T0, &r, &row) == SUBJECTS_OK &&
	          strcmp(row.id, "RQ-2026-000002") == 0,
	      "second id %s", row.id);
	CHECK(subjects_restrictions(s, a) == POLICY_RESTRICT_STOP_USE, "stop_use held at once");
	CHECK(subjects_restrictions(s, b) == 0, "not for another member");
	CHECK(subjects_generation(s) != gen, "a restriction changes the generation");
	gen = subjects_generation(s);

	/* a record function that refuses: nothing stored, no id used up, nothing held */
	long long before = count_rows();
	r.fail = 1;
	CHECK(add(s, b, SUBJECTS_STOP_THIRD_PARTY, "2026-04-02", T0, &r, &row) ==
	          SUBJECTS_NOT_RECORDED,
	      "not recorded");
	CHECK(count_rows() == before && subjects_restrictions(s, b) == 0, "nothing stored or held");
	CHECK(subjects_generation(s) == gen, "nor the generation changed");
	CHECK(close_rq(s, a, "RQ-2026-000002", SUBJECTS_WITHDRAWN, &r) == SUBJECTS_NOT_RECORDED &&
	          subjects_restrictions(s, a) == POLICY_RESTRICT_STOP_USE,
	      "a closing not recorded changes nothing");
	r.fail = 0;
	CHECK(add(s, b, SUBJECTS_STOP_THIRD_PARTY, "2026-04-02", T0, &r, &row) == SUBJECTS_OK &&
	          strcmp(row.id, "RQ-2026-000003") == 0,
	      "the number was not used up: %s", row.id);
	CHECK(subjects_restrictions(s, b) == POLICY_RESTRICT_STOP_THIRD_PARTY, "b: third party");

	/* a new Japan year numbers from 1: 2026-12-31T15:00Z is 2027-01-01 in Japan */
	CHECK(add(s, b, SUBJECTS_CORRECTION, "2026-12-30", INT64_C(1798729200000), &r, &row) ==
	              SUBJECTS_OK &&
	          strcmp(row.id, "RQ-2027-000001") == 0,
	      "new year: %s", row.id);

	/* closing */
	CHECK(close_rq(s, b, "RQ-2026-000002", SUBJECTS_COMPLETED, &r) == SUBJECTS_NOT_FOUND,
	      "another member's request is not found");
	CHECK(close_rq(s, a, "RQ-2026-999999", SUBJECTS_COMPLETED, &r) == SUBJECTS_NOT_FOUND,
	      "unknown id");
	CHECK(close_rq(s, a, "RQ-2026-000002", SUBJECTS_COMPLETED, &r) == SUBJECTS_OK &&
	          r.last.outcome == SUBJECTS_COMPLETED && r.last.type == SUBJECTS_STOP_USE,
	      "completed");
	CHECK(subjects_restrictions(s, a) == POLICY_RESTRICT_STOP_USE, "completed keeps it");
	int calls = r.calls;
	CHECK(close_rq(s, a, "RQ-2026-000002", SUBJECTS_WITHDRAWN, &r) == SUBJECTS_CLOSED_ALREADY &&
	          r.calls == calls,
	      "closed once; nothing recorded the second time");
	CHECK(add(s, a, SUBJECTS_STOP_THIRD_PARTY, "2026-04-03", T0, &r, &row) == SUBJECTS_OK,
	      "a's second stop");
	CHECK(subjects_restrictions(s, a) ==
	          (POLICY_RESTRICT_STOP_USE | POLICY_RESTRICT_STOP_THIRD_PARTY),
	      "both held");
	CHECK(close_rq(s, a, row.id, SUBJECTS_REFUSED, &r) == SUBJECTS_OK &&
	          subjects_restrictions(s, a) == POLICY_RESTRICT_STOP_USE,
	      "refused lifts its own restriction only");
	gen = subjects_generation(s);
	CHECK(close_rq(s, b, "RQ-2026-000003", SUBJECTS_WITHDRAWN, &r) == SUBJECTS_OK &&
	          subjects_restrictions(s, b) == 0,
	      "withdrawn lifts it");
	CHECK(subjects_generation(s) != gen, "a lifted restriction changes the generation");

	/* the lists */
	int64_t today = cal_jst_day(T0 + 30 * DAY);
	json_t *mine = subjects_of(s, a, today);
	CHECK(json_array_size(mine) == 3, "a's requests: %zu", json_array_size(mine));
	json_t *q0 = json_array_get(mine, 0);
	CHECK(strcmp(json_string_value(json_object_get(q0, "id")), "RQ-2026-000001") == 0 &&
	          json_integer_value(json_object_get(q0, "age_days")) == 39 &&
	          json_object_get(q0, "subject") == NULL &&
	          strcmp(json_string_value(json_object_get(q0, "note")), "本人確認済み") == 0 &&
	          json_integer_value(json_object_get(q0, "opened_index")) == 100,
	      "the first request as a JSON object");
	json_t *q1 = json_array_get(mine, 1);
	CHECK(json_integer_value(json_object_get(q1, "age_days")) == 9 &&
	          strcmp(json_string_value(json_object_get(q1, "outcome")), "completed") == 0 &&
	          strcmp(json_string_value(json_object_get(q1, "closed_at")),
	                 "2026-04-11T03:00:00.000Z") == 0,
	      "a closed request's age stops at its closing");
	json_decref(mine);
	json_t *open = subjects_list(s, "open", today), *closed = subjects_list(s, "closed", today),
	       *all = subjects_list(s, NULL, today);
	CHECK(json_array_size(open) == 2 && json_array_size(closed) == 3 &&
	          json_array_size(all) == 5,
	      "open %zu, closed %zu, all %zu", json_array_size(open), json_array_size(closed),
	      json_array_size(all));
	CHECK(json_object_get(json_array_get(open, 0), "subject") != NULL,
	      "lists name the subject");
	json_decref(open);
	json_decref(closed);
	json_decref(all);
	/* overdue: open and received more than 14 days before today */
	json_t *over = subjects_overdue(s, cal_jst_day(T0) + 1);
	CHECK(json_array_size(over) == 0, "nothing overdue on 2026-04-11");
	json_decref(over);
	over = subjects_overdue(s, cal_jst_day(T0) + 6); /* 2026-04-16: the 04-01 one is 15 days */
	CHECK(json_array_size(over) == 1 &&
	          strcmp(json_string_value(json_object_get(json_array_get(over, 0), "id")),
	                 "RQ-2026-000001") == 0,
	      "overdue: %zu", json_array_size(over));
	json_decref(over);
	subjects_close(s);

	/* a new handle loads the restrictions and goes on numbering */
	s = subjects_open(db, err, sizeof(err));
	CHECK(s != NULL, "reopen: %s", err);
	if (s == NULL)
		return;
	CHECK(subjects_restrictions(s, a) == POLICY_RESTRICT_STOP_USE &&
	          subjects_restrictions(s, b) == 0,
	      "restrictions loaded at open");
	CHECK(add(s, a, SUBJECTS_DELETION, "2026-04-05", T0, &r, &row) == SUBJECTS_OK &&
	          strcmp(row.id, "RQ-2026-000005") == 0,
	      "numbering goes on: %s", row.id);
	subjects_close(s);
}

/* Many members: the table grows, every restriction is found, none is invented. */
static void
test_many(void)
{
	char err[256], key[65];
	struct subjects *s = subjects_open(db, err, sizeof(err));
	struct rec r = {.next = 1000};
	struct subjects_row row;
	int wrong = 0;

	CHECK(s != NULL, "open: %s", err);
	if (s == NULL)
		return;
	for (int i = 100; i < 400; i++) {
		subject(i, key);
		if (add(s, key, i % 2 ? SUBJECTS_STOP_USE : SUBJECTS_STOP_THIRD_PARTY, "2026-04-01",
		        T0, &r, &row) != SUBJECTS_OK)
			wrong++;
	}
	CHECK(wrong == 0, "%d adds failed", wrong);
	for (int i = 100; i < 800; i++) {
		subject(i, key);
		unsigned want = i >= 400 ? 0
		                : i % 2  ? POLICY_RESTRICT_STOP_USE
		                         : POLICY_RESTRICT_STOP_THIRD_PARTY;
		if (subjects_restrictions(s, key) != want)
			wrong++;
	}
	CHECK(wrong == 0, "%d lookups wrong", wrong);
	CHECK(s->ov.cap >= 2 * s->ov.n && s->ov.n >= 300, "load at most a half: %zu of %zu",
	      s->ov.n, s->ov.cap);
	subjects_close(s);
}

int
main(void)
{
	char err[256];

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db, sizeof(db), "%s/state.db", dir);
	CHECK(subjects_open(NULL, err, sizeof(err)) == NULL && strstr(err, "state") != NULL,
	      "no path: %s", err);
	test_names();
	test_register();
	test_many();
	unlink(db);
	char side[320];
	snprintf(side, sizeof(side), "%s-wal", db);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", db);
	unlink(side);
	rmdir(dir);
	return check_done();
}
