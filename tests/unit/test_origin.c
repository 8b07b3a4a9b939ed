/* Tests of origin (the embedded SQLite origin; HTTP is driven end to end) and ujson. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "origin.h"
#include "ujson.h"

static int
collect(void *ctx, const char *id, const char *rec, size_t len)
{
	int *n = ctx;
	(void)id;
	(void)rec;
	(void)len;
	(*n)++;
	return 0;
}

static void
test_sqlite(void)
{
	char dir[] = "/tmp/pdgate-origin-XXXXXX", path[256], url[300], err[256];
	sqlite3 *db;
	struct origin *o;
	char *body, *next;
	size_t len;
	int n;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/members.db", dir);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK, "open");
	sqlite3_exec(db,
		     "CREATE TABLE members(member_id TEXT PRIMARY KEY, record TEXT NOT NULL);"
		     "INSERT INTO members VALUES('M1','{\"member_id\":\"M1\"}'),"
		     "('M2','{\"member_id\":\"M2\"}'),('M3','{\"member_id\":\"M3\",\"x\":\"" 
		     "0123456789012345678901234567890123456789\"}');",
		     NULL, NULL, NULL);
	sqlite3_close(db);

	snprintf(url, sizeof(url), "sqlite:%s", path);
	struct origin_params p = {.url = url, .timeout_ms = 1000, .max_record_bytes = 40};
	o = origin_new(&p, err, sizeof(err));
	CHECK(o != NULL, "origin_new: %s", err);
	CHECK(origin_get(o, "M1", &body, &len) == APIERR_NONE, "get M1");
	CHECK(body && strcmp(body, "{\"member_id\":\"M1\"}") == 0 && len == 18, "M1 body");
	free(body);
	CHECK(origin_get(o, "M9", &body, &len) == APIERR_MEMBER_NOT_FOUND, "unknown member");
	CHECK(origin_get(o, "M3", &body, &len) == APIERR_ORIGIN_INVALID, "over the size limit");

	n = 0;
	CHECK(origin_page(o, NULL, 1, collect, &n, &next) == APIERR_NONE, "page 1");
	CHECK(n == 1 && next && strcmp(next, "M1") == 0, "page 1: n=%d next=%s", n, next);
	free(next);
	n = 0;
	CHECK(origin_page(o, "M1", 1, collect, &n, &next) == APIERR_NONE, "page 2");
	CHECK(n == 1 && next && strcmp(next, "M2") == 0, "page 2");
	free(next);
	n = 0;
	CHECK(origin_page(o, "M2", 5, collect, &n, &next) == APIERR_ORIGIN_INVALID,
	      "page with an oversized record");
	CHECK(next == NULL, "no next on error");
	n = 0;
	CHECK(origin_page(o, "M3", 5, collect, &n, &next) == APIERR_NONE && n == 0 && next == NULL,
	      "past the end");
	origin_free(o);

	snprintf(url, sizeof(url), "sqlite:%s/absent.db", dir);
	p.url = url;
	CHECK(origin_new(&p, err, sizeof(err)) == NULL, "a missing file fails at start");
	p.url = "ftp://example";
	CHECK(origin_new(&p, err, sizeof(err)) == NULL, "unknown scheme");
	unlink(path);
	rmdir(dir);
}

static void
test_ujson(void)
{
	static const struct {
		const char *text;
		int ok;
	} cases[] = {
	    {"{\"a\":1}", 1},
	    {"{\"a\":1,\"a\":2}", 0},
	    {"{\"a\":{\"b\":1,\"b\":1}}", 0},
	    {"[1,2", 0},
	    {"{\"a\":\"\\u0000\"}", 0},
	    {"{\"a\":\"\xff\"}", 0},
	    {"{\"s\":\"[[[[[[[[[[\"}", 1},
	    {"{} x", 0},
	};
	char why[160], deep[200];
	json_t *v;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = ujson_parse(cases[i].text, strlen(cases[i].text), 1024, 8, why, sizeof(why));
		CHECK((v != NULL) == cases[i].ok, "case %zu: %s", i, why);
		json_decref(v);
	}
	for (int d = 1; d <= 66; d++) {
		memset(deep, '[', (size_t)d);
		memset(deep + d, ']', (size_t)d);
		v = ujson_parse(deep, (size_t)(2 * d), 1024, UJSON_MAX_DEPTH, why, sizeof(why));
		CHECK((v != NULL) == (d <= UJSON_MAX_DEPTH), "depth %d", d);
		if (v != NULL)
			CHECK(ujson_depth(v) == d, "ujson_depth %d", d);
		json_decref(v);
	}
	v = ujson_parse("{\"a\":1}", 7, 6, 8, why, sizeof(why));
	CHECK(v == NULL, "size limit");
	v = ujson_parse("{\"a\":\"secret\" x}", 16, 100, 8, why, sizeof(why));
	CHECK(v == NULL && strstr(why, "secret") == NULL, "reason does not quote the input: %s",
	      why);
}

int
main(void)
{
	test_sqlite();
	test_ujson();
	return check_done();
}
