/* Tests of origin (the embedded SQLite origin, the HTTP page checks; HTTP itself is driven end
 * to end) and ujson. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "origin.c" /* origin_parse_page is static */
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

/* The journal mode of the file at path, as a new connection sees it. */
static void
mode_of(const char *path, char *mode, size_t len)
{
	sqlite3 *db = NULL;

	mode[0] = '\0';
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
		journal_mode(db, mode, len);
	sqlite3_close(db);
}

/* A rollback-mode file is converted to WAL at start; one held busy is read as it is. */
static void
test_wal(void)
{
	char dir[] = "/tmp/pdgate-origin-XXXXXX", path[256], url[300], err[256], mode[16];
	sqlite3 *db, *other;
	struct origin *o;
	char *body;
	size_t len;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/members.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK, "open");
	CHECK(sqlite3_exec(db,
	                   "PRAGMA journal_mode=DELETE;"
	                   "CREATE TABLE members(member_id TEXT PRIMARY KEY, record TEXT NOT NULL);"
	                   "INSERT INTO members VALUES('M1','{\"member_id\":\"M1\"}');",
	                   NULL, NULL, NULL) == SQLITE_OK,
	      "fill");
	sqlite3_close(db);
	mode_of(path, mode, sizeof(mode));
	CHECK(strcmp(mode, "delete") == 0, "made in rollback mode: %s", mode);

	/* another process in a read transaction: the conversion waits, gives up, reads as is */
	CHECK(sqlite3_open(path, &other) == SQLITE_OK, "second connection");
	CHECK(sqlite3_exec(other, "BEGIN; SELECT count(*) FROM members;", NULL, NULL, NULL) ==
	          SQLITE_OK,
	      "hold a read lock");
	struct origin_params p = {.url = url, .timeout_ms = 100, .max_record_bytes = 100};
	o = origin_new(&p, err, sizeof(err));
	CHECK(o != NULL, "origin_new on a busy file: %s", err);
	CHECK(o && origin_get(o, "M1", &body, &len) == APIERR_NONE && len == 18, "read as it is");
	if (o)
		free(body);
	origin_free(o);
	mode_of(path, mode, sizeof(mode));
	CHECK(strcmp(mode, "delete") == 0, "busy: left in rollback mode: %s", mode);
	sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(other);

	/* nobody else holds it: converted, and read in WAL mode */
	o = origin_new(&p, err, sizeof(err));
	CHECK(o != NULL, "origin_new: %s", err);
	mode_of(path, mode, sizeof(mode));
	CHECK(strcmp(mode, "wal") == 0, "converted: %s", mode);
	CHECK(o && origin_get(o, "M1", &body, &len) == APIERR_NONE && len == 18, "read in WAL");
	if (o)
		free(body);
	/* a writer beside the reader, as the member system's own tool would be */
	CHECK(sqlite3_open(path, &other) == SQLITE_OK, "writer");
	CHECK(sqlite3_exec(other,
	                   "BEGIN; INSERT INTO members VALUES('M2','{\"member_id\":\"M2\"}');",
	                   NULL, NULL, NULL) == SQLITE_OK,
	      "write under way");
	CHECK(o && origin_get(o, "M1", &body, &len) == APIERR_NONE, "a read beside a writer");
	if (o)
		free(body);
	CHECK(o && origin_get(o, "M2", &body, &len) == APIERR_MEMBER_NOT_FOUND,
	      "the writer's row is not seen before it commits");
	CHECK(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK, "commit");
	CHECK(o && origin_get(o, "M2", &body, &len) == APIERR_NONE, "seen once committed");
	if (o)
		free(body);
	sqlite3_close(other);
	origin_free(o);

	/* a WAL file opened again stays so */
	o = origin_new(&p, err, sizeof(err));
	CHECK(o != NULL, "origin_new on a WAL file: %s", err);
	origin_free(o);
	snprintf(url, sizeof(url), "%s-wal", path);
	unlink(url);
	snprintf(url, sizeof(url), "%s-shm", path);
	unlink(url);
	unlink(path);
	rmdir(dir);
}

struct pages {
	int n;
	int stop_after; /* 0: never stop */
	char ids[4][16];
};

static int
page_collect(void *ctx, const char *id, const char *rec, size_t len)
{
	struct pages *p = ctx;

	if (p->n < 4)
		snprintf(p->ids[p->n], sizeof(p->ids[0]), "%s", id);
	p->n++;
	/* every record handed on is compact JSON naming the same member */
	CHECK(rec[len] == '\0' && strlen(rec) == len && rec[0] == '{', "record text");
	return p->stop_after != 0 && p->n >= p->stop_after;
}

/* A page whose single record nests depth levels deep (the record itself being one). */
static char *
deep_page(int depth)
{
	size_t cap = 64 + 4 * (size_t)depth;
	char *b = malloc(cap);
	size_t n = 0;

	n += (size_t)snprintf(b, cap, "{\"members\":[{\"member_id\":\"M1\",\"x\":");
	for (int i = 1; i < depth; i++)
		b[n++] = '[';
	for (int i = 1; i < depth; i++)
		b[n++] = ']';
	n += (size_t)snprintf(b + n, cap - n, "}],\"next\":null}");
	return b;
}

static void
test_parse_page(void)
{
	static const struct {
		const char *body;
		const char *after;
		unsigned limit;
		enum apierr want;
		int n; /* records handed on */
		const char *next;
	} cases[] = {
	    {"{\"members\":[{\"member_id\":\"M1\"},{\"member_id\":\"M2\"}],\"next\":\"M2\"}", NULL,
	     2, APIERR_NONE, 2, "M2"},
	    {"{\"next\":null,\"members\":[{\"member_id\":\"M3\",\"a\":{\"b\":[1]}}]}", "M2", 5,
	     APIERR_NONE, 1, NULL},
	    {"{\"members\":[],\"next\":null}", NULL, 1, APIERR_NONE, 0, NULL},
	    /* the shape */
	    {"", NULL, 5, APIERR_ORIGIN_INVALID, 0, NULL},
	    {"[]", NULL, 5, APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[]}", NULL, 5, APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[],\"next\":null,\"x\":1}", NULL, 5, APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[],\"nxt\":null}", NULL, 5, APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[],\"next\":7}", NULL, 5, APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":{},\"next\":null}", NULL, 5, APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[],\"next\":null} ", NULL, 5, APIERR_NONE, 0, NULL},
	    {"{\"members\":[],\"next\":null}x", NULL, 5, APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[],\"next\":null,\"next\":\"M9\"}", NULL, 5, APIERR_ORIGIN_INVALID, 0,
	     NULL},
	    /* the records: objects with a string member_id, in order, after `after`, <= limit */
	    {"{\"members\":[{\"member_id\":\"M1\"},{\"member_id\":\"M2\"}],\"next\":null}", NULL, 1,
	     APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[{\"member_id\":\"M2\"},{\"member_id\":\"M1\"}],\"next\":null}", NULL, 5,
	     APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[{\"member_id\":\"M1\"},{\"member_id\":\"M1\"}],\"next\":null}", NULL, 5,
	     APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[{\"member_id\":\"M2\"}],\"next\":null}", "M2", 5, APIERR_ORIGIN_INVALID,
	     0, NULL},
	    {"{\"members\":[{\"member_id\":\"M1\"}],\"next\":null}", "M2", 5, APIERR_ORIGIN_INVALID,
	     0, NULL},
	    {"{\"members\":[\"M1\"],\"next\":null}", NULL, 5, APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[{\"id\":\"M1\"}],\"next\":null}", NULL, 5, APIERR_ORIGIN_INVALID, 0,
	     NULL},
	    {"{\"members\":[{\"member_id\":1}],\"next\":null}", NULL, 5, APIERR_ORIGIN_INVALID, 0,
	     NULL},
	    {"{\"members\":[{\"member_id\":\"M1\",\"a\":1,\"a\":2}],\"next\":null}", NULL, 5,
	     APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[{\"member_id\":\"M1\\u0000x\"}],\"next\":null}", NULL, 5,
	     APIERR_ORIGIN_INVALID, 0, NULL},
	    {"{\"members\":[{\"member_id\":\"M1\",\"n\":\"\xc3\x28\"}],\"next\":null}", NULL, 5,
	     APIERR_ORIGIN_INVALID, 0, NULL},
	    /* max_record_bytes (40): the second record is too long, after the first went */
	    {"{\"members\":[{\"member_id\":\"M1\"},{\"member_id\":\"M2\",\"x\":"
	     "\"0123456789012345678901234567890123456789\"}],\"next\":null}",
	     NULL, 5, APIERR_ORIGIN_INVALID, 1, NULL},
	};
	struct pages p;
	char *next;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&p, 0, sizeof(p));
		next = (char *)"unset";
		enum apierr e =
		    origin_parse_page(cases[i].body, strlen(cases[i].body), cases[i].after,
		                      cases[i].limit, 40, page_collect, &p, &next);
		CHECK(e == cases[i].want, "page %zu: %s", i, apierr_code(e));
		CHECK(p.n == cases[i].n, "page %zu: %d records handed on", i, p.n);
		if (cases[i].next != NULL)
			CHECK(next != NULL && strcmp(next, cases[i].next) == 0, "page %zu: next",
			      i);
		else
			CHECK(next == NULL, "page %zu: no next", i);
		free(next);
	}

	/* the records come out in order, and each may stop the page */
	memset(&p, 0, sizeof(p));
	p.stop_after = 1;
	const char *two =
	    "{\"members\":[{\"member_id\":\"A\"},{\"member_id\":\"B\"}],\"next\":\"B\"}";
	CHECK(origin_parse_page(two, strlen(two), NULL, 2, 100, page_collect, &p, &next) ==
	          APIERR_NONE,
	      "stopped page");
	CHECK(p.n == 1 && strcmp(p.ids[0], "A") == 0 && next == NULL, "stopped after one");
	free(next);

	/* a record may nest as deep as a single record (64), not one level more */
	for (int d = 63; d <= 66; d++) {
		char *b = deep_page(d);
		memset(&p, 0, sizeof(p));
		enum apierr e =
		    origin_parse_page(b, strlen(b), NULL, 1, 1024, page_collect, &p, &next);
		CHECK((e == APIERR_NONE) == (d <= UJSON_MAX_DEPTH), "record of depth %d: %s", d,
		      apierr_code(e));
		free(next);
		free(b);
	}
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
	    /* an escaped quote does not end the string, an escaped backslash does not escape it */
	    {"{\"s\":\"\\\"[[[[[[[[[[\"}", 1},
	    {"{\"s\":\"x\\\\\\\"[[[[[[[[[[\"}", 1},
	    {"{\"s\":\"\\\\\",\"t\":[[[[[[[[[1]]]]]]]]]}", 0},
	    {"{\"s\":\"\\\\\",\"t\":[[[[[[[1]]]]]]]}", 1},
	    {"{\"s\":\"\\\"\",\"t\":[[[[[[[[[1]]]]]]]]]}", 0},
	    {"{\"s\":\"[[[[[[[[[[", 0},
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

/* Plain http:// only to this machine: what serve and init refuse. */
static void
test_cleartext(void)
{
	static const struct {
		const char *url;
		bool remote;
	} rows[] = {
	    {"http://127.0.0.1:8080/api", false},
	    {"http://localhost", false},
	    {"http://[::1]:9000", false},
	    {"https://members.example.org", false},
	    {"sqlite:members.db", false},
	    {"http://members.example.org", true},
	    {"http://127.0.0.1.example.org/", true}, /* a name that begins like loopback */
	    {"http://localhost.example.org", true},
	    {"http://10.0.0.5:8080", true},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(origin_cleartext_remote(rows[i].url) == rows[i].remote, "%s", rows[i].url);
}

/* An answer's header lines, as curl hands them to framing_header, one table row each: refused
 * (the callback stops the transfer) or not. */
static void
test_framing(void)
{
	static const struct {
		const char *lines[6];
		bool bad;
	} rows[] = {
	    {{"HTTP/1.1 200 OK\r\n", "Content-Length: 42\r\n", "\r\n"}, false},
	    {{"HTTP/1.1 200 OK\r\n", "content-length:42\r\n", "\r\n"}, false},
	    {{"HTTP/1.1 200 OK\r\n", "Transfer-Encoding: chunked\r\n", "\r\n"}, false},
	    {{"HTTP/1.1 200 OK\r\n", "Content-Length: 42\r\n", "Content-Length: 49\r\n"}, true},
	    {{"HTTP/1.1 200 OK\r\n", "Content-Length: 42\r\n", "Content-Length: 42\r\n"}, true},
	    {{"HTTP/1.1 200 OK\r\n", "Content-Length: 42, 49\r\n"}, true},
	    {{"HTTP/1.1 200 OK\r\n", "Content-Length: +42\r\n"}, true},
	    {{"HTTP/1.1 200 OK\r\n", "Content-Length: \r\n"}, true},
	    {{"HTTP/1.1 200 OK\r\n", "Content-Length: 1234567890123456789\r\n"}, true},
	    {{"HTTP/1.1 200 OK\r\n", "Content-Length: 42\r\n", "Transfer-Encoding: chunked\r\n"},
	     true},
	    {{"HTTP/1.1 200 OK\r\n", "Transfer-Encoding: chunked\r\n", "CONTENT-LENGTH: 42\r\n"},
	     true},
	    /* an interim 100 and its own headers, then the answer's: counted apart */
	    {{"HTTP/1.1 100 Continue\r\n", "Content-Length: 0\r\n", "\r\n", "HTTP/1.1 200 OK\r\n",
	      "Content-Length: 42\r\n", "\r\n"},
	     false},
	    /* a header whose name only begins like Content-Length */
	    {{"HTTP/1.1 200 OK\r\n", "Content-Length-X: 1, 2\r\n", "Content-Length: 42\r\n"},
	     false},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct framing f = {0};
		bool stopped = false;
		for (size_t j = 0; j < 6 && rows[i].lines[j] != NULL; j++) {
			char line[128];
			size_t n = strlen(rows[i].lines[j]);
			/* curl's lines are not NUL-terminated: digits after the line must not count
			 */
			memset(line, '7', sizeof(line));
			memcpy(line, rows[i].lines[j], n);
			if (framing_header(line, 1, n, &f) != n)
				stopped = true;
		}
		CHECK(stopped == rows[i].bad && f.bad == rows[i].bad, "row %zu", i);
	}
}

int
main(void)
{
	test_cleartext();
	test_framing();
	test_sqlite();
	test_wal();
	test_parse_page();
	test_ujson();
	return check_done();
}
