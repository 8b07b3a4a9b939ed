/* Tests of errlist: validators' error lines, JSON paths, quoted values, the checks on JSON
 * members, and the file reader. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "errlist.h"
#include "text.h"

#define ELL "\xe2\x80\xa6" /* the mark of a cut */

static size_t
count_lines(const char *s)
{
	size_t n = 1;
	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void
test_lines(void)
{
	struct errlist *l = errlist_new();
	char *t;

	CHECK(l != NULL, "errlist_new");
	if (l == NULL)
		return;
	CHECK(errlist_count(l) == 0, "a new list counts %zu", errlist_count(l));
	CHECK(errlist_take(l) == NULL, "an empty list has no text");
	errlist_add(l, "contracts/a.json", "$.purposes.x", "unknown purpose %s", "\"x\"");
	errlist_add(l, "contracts/a.json", NULL, "%d errors before this one", 1);
	CHECK(errlist_count(l) == 2, "two errors: %zu", errlist_count(l));
	t = errlist_take(l);
	CHECK(t != NULL && strcmp(t, "contracts/a.json: $.purposes.x: unknown purpose \"x\"\n"
	                             "contracts/a.json: 1 errors before this one") == 0,
	      "the lines, joined by a newline and none after the last: '%s'", t ? t : "(null)");
	free(t);
	errlist_free(l);
	errlist_free(NULL);
}

/* Past ERRLIST_MAX_LINES the errors are counted, and the text says how many it lost. */
static void
test_limit(void)
{
	static const struct {
		size_t added;
		size_t lines; /* in the text, the "more" line included */
		const char *last;
	} rows[] = {
	    {1, 1, "f: $.e[0]: bad"},
	    {ERRLIST_MAX_LINES, ERRLIST_MAX_LINES, "f: $.e[999]: bad"},
	    {ERRLIST_MAX_LINES + 1, ERRLIST_MAX_LINES + 1, "(1 more errors not shown)"},
	    {ERRLIST_MAX_LINES + 250, ERRLIST_MAX_LINES + 1, "(250 more errors not shown)"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct errlist *l = errlist_new();
		char path[32];
		for (size_t k = 0; k < rows[i].added; k++) {
			errlist_path_index(path, sizeof path, "$.e", k);
			errlist_add(l, "f", path, "bad");
		}
		CHECK(errlist_count(l) == rows[i].added, "%zu added, %zu counted", rows[i].added,
		      errlist_count(l));
		char *t = errlist_take(l);
		const char *last = t ? strrchr(t, '\n') : NULL;
		last = last ? last + 1 : t;
		CHECK(t != NULL && count_lines(t) == rows[i].lines, "%zu added: %zu lines",
		      rows[i].added, t ? count_lines(t) : 0);
		CHECK(last != NULL && strcmp(last, rows[i].last) == 0, "%zu added: last line '%s'",
		      rows[i].added, last ? last : "(null)");
		free(t);
		errlist_free(l);
	}
}

/* A line longer than its buffer is cut, and still ends where a line ends. */
static void
test_long_line(void)
{
	static char file[1501], path[701];
	struct errlist *l = errlist_new();

	memset(file, 'f', sizeof file - 1);
	memset(path, 'p', sizeof path - 1);
	errlist_add(l, file, path, "message");
	errlist_add(l, "g", NULL, "next");
	char *t = errlist_take(l);
	char *nl = t ? strchr(t, '\n') : NULL;
	CHECK(nl != NULL && nl - t == 2046, "the long line is cut to 2046 bytes: %td",
	      nl ? nl - t : (ptrdiff_t)-1);
	CHECK(nl != NULL && strcmp(nl + 1, "g: next") == 0, "the next line follows it: '%s'",
	      nl ? nl + 1 : "(null)");
	free(t);
	errlist_free(l);
}

static void
test_paths(void)
{
	static char key64[65], key65[66], want64[80], want65[90];
	memset(key64, 'k', 64);
	memset(key65, 'k', 65);
	snprintf(want64, sizeof want64, "$.%s", key64);
	snprintf(want65, sizeof want65, "$[\"%s\"]", key65);
	const struct {
		const char *parent, *key, *want;
	} keys[] = {
	    {"$", "name", "$.name"},
	    {"$", "_a1", "$._a1"},
	    {"$.purposes", "contact", "$.purposes.contact"},
	    {"$", "1a", "$[\"1a\"]"},
	    {"$", "a b", "$[\"a b\"]"},
	    {"$", "a-b", "$[\"a-b\"]"},
	    {"$", "a.b", "$[\"a.b\"]"},
	    {"$", "", "$[\"\"]"},
	    {"$", "a\"b", "$[\"a\\\"b\"]"},
	    {"$", "\n", "$[\"\\u000a\"]"},
	    {"$.x", "\xe6\xb0\x8f\xe5\x90\x8d", "$.x[\"\xe6\xb0\x8f\xe5\x90\x8d\"]"},
	    {"$", key64, want64}, /* the longest plain key */
	    {"$", key65, want65},
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char out[ERRLIST_PATH_MAX];
		errlist_path_key(out, sizeof out, keys[i].parent, keys[i].key);
		CHECK(strcmp(out, keys[i].want) == 0, "key '%s': '%s', want '%s'", keys[i].key, out,
		      keys[i].want);
	}
	static const struct {
		const char *parent;
		size_t i;
		const char *want;
	} idx[] = {
	    {"$", 0, "$[0]"},
	    {"$.fields", 12, "$.fields[12]"},
	    {"$", SIZE_MAX, "$[18446744073709551615]"},
	};
	for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
		char out[ERRLIST_PATH_MAX];
		errlist_path_index(out, sizeof out, idx[i].parent, idx[i].i);
		CHECK(strcmp(out, idx[i].want) == 0, "index %zu: '%s', want '%s'", idx[i].i, out,
		      idx[i].want);
	}
}

/* A path that does not fit is cut with a mark, never mid-character, never unterminated. */
static void
test_cut(void)
{
	static const struct {
		const char *parent, *key;
		size_t outlen;
		const char *want;
	} rows[] = {
	    {"$.abcdefgh", "ijkl", 16, "$.abcdefgh.ijkl"}, /* fits exactly */
	    {"$.abcdefgh", "ijkl", 15, "$.abcdefgh." ELL},
	    {"$.abcdefgh", "ijkl", 10, "$.abcd" ELL},
	    {"$.abcdefgh", "ijkl", 4, ELL},
	    {"$.abcdefgh", "ijkl", 3, ""},
	    {"$.a\xc3\xa9", "bc", 8, "$.a" ELL}, /* a cut after 4 bytes would split "é" */
	    {"$.\xe6\xb0\x8f", "bcd", 8, "$." ELL},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[64];
		memset(out, '#', sizeof out);
		errlist_path_key(out, rows[i].outlen, rows[i].parent, rows[i].key);
		CHECK(strcmp(out, rows[i].want) == 0, "%s + %s in %zu: '%s', want '%s'",
		      rows[i].parent, rows[i].key, rows[i].outlen, out, rows[i].want);
		CHECK(out[rows[i].outlen] == '#', "%s + %s in %zu: written past the end",
		      rows[i].parent, rows[i].key, rows[i].outlen);
	}
	char out[4] = "###";
	errlist_path_key(out, 0, "$", "a");
	CHECK(strcmp(out, "###") == 0, "no room: nothing written");
}

static void
test_quote(void)
{
	static char a80[81], a81[82], a79e[82], a78hira[84], w80[90], w81[90], w79e[90], w78[90];
	memset(a80, 'a', 80);
	memset(a81, 'a', 81);
	memset(a79e, 'a', 79);
	memcpy(a79e + 79, "\xc3\xa9", 2);
	memset(a78hira, 'a', 78);
	memcpy(a78hira + 78,
	       "\xe3\x81\x82"
	       "b",
	       4);
	snprintf(w80, sizeof w80, "\"%s\"", a80);
	snprintf(w81, sizeof w81, "\"%.80s" ELL "\"", a81);
	snprintf(w79e, sizeof w79e, "\"%.79s" ELL "\"", a79e);
	snprintf(w78, sizeof w78, "\"%.78s" ELL "\"", a78hira);
	const struct {
		const char *s, *want;
	} rows[] = {
	    {"abc", "\"abc\""},
	    {"", "\"\""},
	    {"a\"b", "\"a\\\"b\""},
	    {"a\\b", "\"a\\\\b\""},
	    {"\t\r\n", "\"\\u0009\\u000d\\u000a\""},
	    {"\x1f\x7f", "\"\\u001f\\u007f\""},
	    {"\xe6\x9d\xb1\xe4\xba\xac", "\"\xe6\x9d\xb1\xe4\xba\xac\""}, /* non-ASCII kept */
	    {a80, w80},                                                   /* 80 bytes: whole */
	    {a81, w81},                                                   /* 81: cut after 80 */
	    {a79e, w79e},   /* the cut would split "é": it goes */
	    {a78hira, w78}, /* likewise a 3-byte character */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[1024];
		errlist_quote(out, sizeof out, rows[i].s);
		CHECK(strcmp(out, rows[i].want) == 0, "quote row %zu: '%s', want '%s'", i, out,
		      rows[i].want);
	}
	/* the worst case, 80 control characters, fits the room the callers give */
	static char ctl[100];
	char out[1024];
	memset(ctl, '\x01', 99);
	errlist_quote(out, sizeof out, ctl);
	CHECK(strlen(out) == 2 + 80 * 6 + 3, "80 control characters: %zu bytes", strlen(out));
}

static char dir[] = "/tmp/test_errlist.XXXXXX";

static void
put(const char *name, const char *text, char *path, size_t pathlen)
{
	snprintf(path, pathlen, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL, "%s: %s", path, strerror(errno));
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void
test_read_file(void)
{
	char empty[PATH_MAX], small[PATH_MAX], ten[PATH_MAX], missing[PATH_MAX];

	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	put("empty", "", empty, sizeof empty);
	put("small", "{\"a\":1}", small, sizeof small);
	put("ten", "0123456789", ten, sizeof ten);
	snprintf(missing, sizeof missing, "%s/missing", dir);
	const struct {
		const char *file;
		size_t max;
		int rc;
		const char *text; /* on success; on failure, what the error says */
	} rows[] = {
	    {empty, 10, 0, ""},
	    {small, 100, 0, "{\"a\":1}"},
	    {ten, 10, 0, "0123456789"}, /* exactly max */
	    {ten, 9, -1, "larger than 9 bytes"},
	    {missing, 10, -1, "cannot open: No such file or directory"},
	    {dir, 10, -1, "not a regular file"},
	    {"/dev/null", 10, -1, "not a regular file"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct errlist *l = errlist_new();
		char *buf = (char *)1, *t;
		size_t len = 99;
		int rc = errlist_read_file(l, rows[i].file, rows[i].max, &buf, &len);
		CHECK(rc == rows[i].rc, "%s (max %zu): %d", rows[i].file, rows[i].max, rc);
		t = errlist_take(l);
		if (rows[i].rc == 0) {
			CHECK(buf != NULL && len == strlen(rows[i].text) &&
			          memcmp(buf, rows[i].text, len) == 0 && buf[len] == '\0',
			      "%s: %zu bytes", rows[i].file, len);
			CHECK(t == NULL && errlist_count(l) == 0, "%s: an error on success: %s",
			      rows[i].file, t);
		} else {
			char want[PATH_MAX + 64];
			snprintf(want, sizeof want, "%s: %s", rows[i].file, rows[i].text);
			CHECK(buf == NULL && len == 0, "%s: failure leaves a buffer", rows[i].file);
			CHECK(t != NULL && strcmp(t, want) == 0, "%s: '%s', want '%s'",
			      rows[i].file, t ? t : "(null)", want);
		}
		free(t);
		free(buf == (char *)1 ? NULL : buf);
		errlist_free(l);
	}
	unlink(empty);
	unlink(small);
	unlink(ten);
	rmdir(dir);
}

/* Every key outside the allowed list, by its path; allowed ones and an empty object none. */
static void
test_unknown_keys(void)
{
	static const char *const allowed[] = {"id", "kind", NULL};
	static const struct {
		const char *json, *want; /* want: the text, NULL for no error */
	} rows[] = {
	    {"{}", NULL},
	    {"{\"id\":1,\"kind\":2}", NULL},
	    {"{\"id\":1,\"ID\":2}", "f.json: $.x.ID: unknown key"},
	    {"{\"a b\":1}", "f.json: $.x[\"a b\"]: unknown key"},
	    {"{\"idx\":1,\"i\":2}", "f.json: $.x.idx: unknown key\nf.json: $.x.i: unknown key"},
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct errlist *l = errlist_new();
		json_t *obj = json_loads(rows[i].json, JSON_PRESERVE_ORDER, NULL);
		CHECK(l != NULL && obj != NULL, "row %zu: setup", i);
		if (l == NULL || obj == NULL) {
			errlist_free(l);
			json_decref(obj);
			continue;
		}
		errlist_unknown_keys(l, "f.json", "$.x", obj, allowed);
		char *t = errlist_take(l);
		if (rows[i].want == NULL)
			CHECK(t == NULL, "%s: no error, got %s", rows[i].json, t);
		else
			CHECK(t != NULL && strcmp(t, rows[i].want) == 0, "%s: %s, want %s",
			      rows[i].json, t ? t : "(none)", rows[i].want);
		free(t);
		errlist_free(l);
		json_decref(obj);
	}
}

/* A file's text to its top object, and jansson's complaint or the one of the validators. */
/* A file's text to its top object, or the error: jansson's (its words vary with its version:
 * only their start is compared) or the validators' own. */
static void
test_parse_object(void)
{
	static const struct {
		const char *text, *want; /* want: how the error starts, NULL for an object */
	} rows[] = {
	    {"{}", NULL},
	    {" {\"a\":[1,{}]}\n", NULL},
	    {"[]", "f.json: $: must be an object"},
	    {"[{}]", "f.json: $: must be an object"},
	    {"\"s\"", "f.json: line 1, column "},
	    {"{\"a\":1,\"a\":2}", "f.json: line 1, column 10: duplicate object key"},
	    {"{\"a\":\"\\u0000\"}", "f.json: line 1, column "},
	    {"", "f.json: line 1, column 0: "},
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct errlist *l = errlist_new();
		CHECK(l != NULL, "row %zu: setup", i);
		if (l == NULL)
			continue;
		json_t *root =
		    errlist_parse_object(l, "f.json", rows[i].text, strlen(rows[i].text));
		char *t = errlist_take(l);
		if (rows[i].want == NULL)
			CHECK(root != NULL && json_is_object(root) && t == NULL, "'%s': %s",
			      rows[i].text, t ? t : "not an object");
		else
			CHECK(root == NULL && errlist_count(l) == 1 && t != NULL &&
			          strncmp(t, rows[i].want, strlen(rows[i].want)) == 0,
			      "'%s': %s, want %s...", rows[i].text, t ? t : "(none)", rows[i].want);
		free(t);
		json_decref(root);
		errlist_free(l);
	}
}

/* Members read as bytes (1..max) and as free text (text.h), required or not. */
static void
test_get(void)
{
	static const struct {
		const char *json, *key;
		int text; /* errlist_get_text, else errlist_get_bytes */
		bool required;
		const char *value,
		    *want; /* the value returned (NULL: none), the error (NULL: none) */
	} rows[] = {
	    {"{\"id\":\"abc\"}", "id", 0, true, "abc", NULL},
	    {"{\"id\":\"abcd\"}", "id", 0, true, "abcd", NULL}, /* exactly max */
	    {"{\"id\":\"abcde\"}", "id", 0, true, NULL, "f: $.x.id: must be 1 to 4 bytes"},
	    {"{\"id\":\"\"}", "id", 0, false, NULL, "f: $.x.id: must be 1 to 4 bytes"},
	    {"{}", "id", 0, true, NULL, "f: $.x.id: missing"},
	    {"{}", "id", 0, false, NULL, NULL},
	    {"{\"id\":1}", "id", 0, false, NULL, "f: $.x.id: must be a string"},
	    {"{\"a b\":true}", "a b", 1, true, NULL, "f: $.x[\"a b\"]: must be a string"},
	    {"{\"ja\":\"山田\"}", "ja", 1, true, "山田", NULL}, /* 2 characters, 6 bytes */
	    {"{\"ja\":\"abcde\"}", "ja", 1, true, NULL,
	     "f: $.x.ja: too long; 1..4 characters, " TEXT_RULE},
	    {"{\"ja\":\" \"}", "ja", 1, true, NULL,
	     "f: $.x.ja: blank; 1..4 characters, " TEXT_RULE},
	    {"{}", "ja", 1, false, NULL, NULL},
	    {"{}", "ja", 1, true, NULL, "f: $.x.ja: missing"},
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct errlist *l = errlist_new();
		json_t *obj = json_loads(rows[i].json, 0, NULL);
		CHECK(l != NULL && obj != NULL, "row %zu: setup", i);
		if (l == NULL || obj == NULL) {
			errlist_free(l);
			json_decref(obj);
			continue;
		}
		const char *v =
		    rows[i].text
		        ? errlist_get_text(l, "f", "$.x", obj, rows[i].key, 4, rows[i].required)
		        : errlist_get_bytes(l, "f", "$.x", obj, rows[i].key, 4, rows[i].required);
		char *t = errlist_take(l);
		CHECK(rows[i].value == NULL ? v == NULL
		                            : v != NULL && strcmp(v, rows[i].value) == 0,
		      "row %zu (%s): value %s", i, rows[i].json, v ? v : "(none)");
		CHECK(rows[i].want == NULL ? t == NULL : t != NULL && strcmp(t, rows[i].want) == 0,
		      "row %zu (%s): %s, want %s", i, rows[i].json, t ? t : "(none)",
		      rows[i].want ? rows[i].want : "(none)");
		free(t);
		json_decref(obj);
		errlist_free(l);
	}
}

int
main(void)
{
	test_lines();
	test_unknown_keys();
	test_parse_object();
	test_get();
	test_limit();
	test_long_line();
	test_paths();
	test_cut();
	test_quote();
	test_read_file();
	return check_done();
}
