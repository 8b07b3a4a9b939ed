/* test_strtab — the string table through its growth, interned lists, tables of names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "strtab.h"

static void
test_table(void)
{
	struct strtab t = {0};
	char key[32];
	int bad = 0;

	CHECK(strtab_get(&t, "absent") == -1, "empty table");
	/* through several doublings: every key keeps its value */
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "partner-%u", i);
		if (strtab_put(&t, key, i) != 0)
			bad++;
	}
	CHECK(bad == 0 && t.n == 5000 && t.cap >= 10000, "5000 keys in %zu slots", t.cap);
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "partner-%u", i);
		if (strtab_get(&t, key) != (int64_t)i)
			bad++;
	}
	CHECK(bad == 0, "%d keys lost their value", bad);
	static const char *const absent[] = {"", "partner-5000", "partner-", "Partner-1",
	                                     "partner-1 "};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		CHECK(strtab_get(&t, absent[i]) == -1, "'%s' is absent", absent[i]);
	CHECK(strtab_put(&t, "", 7) == 0 && strtab_get(&t, "") == 7, "the empty key");
	strtab_free(&t);
	CHECK(t.n == 0 && t.cap == 0 && strtab_get(&t, "partner-1") == -1, "freed and empty");
}

static void
test_list(void)
{
	static const struct {
		const char *s;
		int64_t index;
	} t[] = {
	    {"name.family", 0},
	    {"email", 1},
	    {"name.family", 0},
	    {"phone:mask:4", 2},
	    {"email", 1},
	    {"山田", 3},
	    {"", 4},
	    {"phone:mask:4", 2},
	};
	struct strlist l = {0};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK(strlist_intern(&l, t[i].s) == t[i].index, "'%s' at %lld", t[i].s,
		      (long long)t[i].index);
	CHECK(l.n == 5 && strcmp(l.v[3], "山田") == 0 && strcmp(l.v[0], "name.family") == 0,
	      "in the order first seen, each once");
	strlist_free(&l);
}

/* A table of an enum's names: each found at its place, nothing else found. */
static void
test_index(void)
{
	static const char *const names[] = {"release", "deny", "admin"};
	static const struct {
		const char *s;
		size_t n; /* how much of names is searched */
		int index;
	} rows[] = {
	    {"release", 3, 0}, {"deny", 3, 1}, {"admin", 3, 2},  {"Deny", 3, -1},    {"den", 3, -1},
	    {"denyx", 3, -1},  {"", 3, -1},    {"admin", 2, -1}, {"release", 0, -1},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(strtab_index(names, rows[i].n, rows[i].s) == rows[i].index,
		      "'%s' in %zu names: %d", rows[i].s, rows[i].n,
		      strtab_index(names, rows[i].n, rows[i].s));
}

/* The print of an enum's value: its name, or "?" past the table or where it has a hole. */
static void
test_name(void)
{
	static const char *const names[] = {[0] = "release", [1] = "deny", [3] = "admin"};
	static const struct {
		size_t i;
		const char *name;
	} rows[] = {
	    {0, "release"}, {1, "deny"}, {2, "?"}, {3, "admin"}, {4, "?"}, {(size_t)-1, "?"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(strcmp(strtab_name(names, 4, rows[i].i), rows[i].name) == 0, "value %zu: %s",
		      rows[i].i, strtab_name(names, 4, rows[i].i));
	CHECK(strcmp(strtab_name(names, 3, 3), "?") == 0, "only the first n are looked at");
}

int
main(void)
{
	test_table();
	test_list();
	test_index();
	test_name();
	return check_done();
}
