/*
 * Tests of record: the one-pass parse of an origin record against what it replaced, jansson's
 * parse (ujson_parse) followed by the reduction of the tree to the catalog's paths. Both must
 * accept the same records and give equal trees, over hand-made cases, the JSONTestSuite (each
 * file alone, and as the value of a kept and of an unknown member) and the fuzz corpora.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "file.h"
#include "release.c" /* check_leaf, the leaf rule both share */
#include "ujson.h"

#define MAX (1024 * 1024)

/* True if key names no run of the catalog leaves lo..hi-1 at this level. */
static bool
ref_unknown(const struct catalog *cat, const char *key, size_t lo, size_t hi, size_t level)
{
	for (size_t a = lo; a < hi; a++)
		if (strcmp(catalog_field_at(cat, a)->segments[level].name, key) == 0)
			return false;
	return true;
}

/* The reduction as release_origin made it on jansson's tree, in place. */
static int
ref_reduce(struct walk *w, const struct catalog *cat, json_t *obj, size_t lo, size_t hi,
           size_t level)
{
	for (size_t a = lo, b; a < hi; a = b) {
		const struct catalog_field *f = catalog_field_at(cat, a);
		const char *name = f->segments[level].name;
		for (b = a + 1;
		     b < hi && strcmp(catalog_field_at(cat, b)->segments[level].name, name) == 0;
		     b++)
			;
		json_t *v = json_object_get(obj, name), *e;
		size_t k;
		if (v == NULL)
			continue;
		if (json_is_null(v)) {
			json_object_del(obj, name);
		} else if (f->nsegments == level + 1) {
			if (check_leaf(w, f, v) != 0)
				return -1;
		} else if (f->segments[level].array) {
			if (!json_is_array(v))
				return -1;
			json_array_foreach(v, k, e)
			{
				if (!json_is_object(e) ||
				    ref_reduce(w, cat, e, a, b, level + 1) != 0)
					return -1;
			}
		} else if (!json_is_object(v) || ref_reduce(w, cat, v, a, b, level + 1) != 0) {
			return -1;
		}
	}
	const char *key;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(obj, tmp, key, v)
	{
		if (ref_unknown(cat, key, lo, hi, level))
			json_object_del(obj, key);
	}
	return 0;
}

static json_t *
reference(const struct catalog *cat, const char *bytes, size_t len, const char *id)
{
	char why[RELEASE_WHY_MAX];
	struct walk w = {.why = why, .whylen = sizeof(why)};
	json_t *root = ujson_parse(bytes, len, MAX, RELEASE_MAX_DEPTH, why, sizeof(why)), *m;

	if (root == NULL)
		return NULL;
	m = json_object_get(root, "member_id");
	if (!json_is_object(root) || ujson_depth(root) > RELEASE_MAX_DEPTH || !json_is_string(m) ||
	    strcmp(json_string_value(m), id) != 0 || strlen(id) != json_string_length(m) ||
	    ref_reduce(&w, cat, root, 0, catalog_nfields(cat), 0) != 0) {
		json_decref(root);
		return NULL;
	}
	return root;
}

static int compared;

/* Both ways on the same bytes: the same verdict, and equal trees when accepted. */
static void
same(const struct catalog *cat, const char *bytes, size_t len, const char *what)
{
	char why[RELEASE_WHY_MAX];
	enum apierr e = APIERR_INTERNAL;
	json_t *ref = reference(cat, bytes, len, "M0000001");
	json_t *got =
	    record_parse(cat, bytes, len, MAX, RELEASE_MAX_DEPTH, "M0000001", &e, why, sizeof(why));

	compared++;
	/* jansson takes a NUL byte after a number for the end of its input ("1\0}" parses as
	 * 1}): JSON has no NUL outside strings, nor a raw one in them, and one pass refuses both */
	if (memchr(bytes, '\0', len) != NULL)
		CHECK(got == NULL, "%s: a NUL byte accepted", what);
	else
		CHECK((got != NULL) == (ref != NULL), "%s: one pass %s (%s), jansson %s", what,
		      got ? "accepts" : "refuses", why, ref ? "accepts" : "refuses");
	CHECK(got != NULL ? e == APIERR_NONE : e == APIERR_ORIGIN_INVALID, "%s: %s", what,
	      apierr_code(e));
	if (got != NULL && ref != NULL) {
		char *a = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		char *b = json_dumps(ref, JSON_COMPACT | JSON_SORT_KEYS);
		CHECK(json_equal(got, ref), "%s: trees differ:\n  one pass %s\n  jansson  %s", what,
		      a, b);
		free(a);
		free(b);
	}
	json_decref(got);
	json_decref(ref);
}

static void
same_text(const struct catalog *cat, const char *text)
{
	same(cat, text, strlen(text), text);
}

#define ID "\"member_id\":\"M0000001\""

static void
test_cases(const struct catalog *cat)
{
	static const char *const cases[] = {
	    "{" ID "}",
	    " \t\r\n{" ID "} \n",
	    "{" ID ",\"name\":{\"family\":\"山田\",\"given\":\"太郎\"},\"x\":[1,{\"y\":null}]}",
	    "{" ID ",\"name\":null,\"email\":null}",
	    "{" ID ",\"name\":{}}",
	    "{" ID ",\"name\":{\"nickname\":\"x\"}}",
	    "{" ID ",\"name\":\"x\"}",
	    "{" ID ",\"birth_date\":\"1985-02-29\"}",
	    "{" ID ",\"birth_date\":\"1984-02-29\"}",
	    "{" ID ",\"birth_date\":19840229}",
	    "{" ID ",\"consents\":{\"marketing\":true,\"survey\":false}}",
	    "{" ID ",\"consents\":{\"marketing\":1}}",
	    "{" ID ",\"courses\":[]}",
	    "{" ID ",\"courses\":[{},{\"code\":\"C1\",\"z\":{\"a\":[]}}]}",
	    "{" ID ",\"courses\":[null]}",
	    "{" ID ",\"courses\":{\"code\":\"C1\"}}",
	    "{" ID ",\"consents\":{\"consented\":[\"CT-1\",\"CT-2\"]}}",
	    "{" ID ",\"consents\":{\"consented\":[\"CT-1\",null]}}",
	    "{" ID ",\"consents\":{\"consented\":[]}}",
	    "{" ID ",\"consents\":{\"consented\":\"CT-1\"}}",
	    /* duplicates, decoded before they are compared, kept or not */
	    "{" ID "," ID "}",
	    "{" ID ",\"member_\\u0069d\":\"M0000001\"}",
	    "{" ID ",\"x\":1,\"x\":1}",
	    "{" ID ",\"x\":{\"a\":1,\"\\u0061\":2}}",
	    "{" ID ",\"name\":{\"family\":\"a\",\"family\":\"b\"}}",
	    "{" ID ",\"courses\":[{\"code\":\"a\"},{\"code\":\"b\",\"code\":\"c\"}]}",
	    "{" ID ",\"k1\":0,\"k2\":0,\"k3\":0,\"k4\":0,\"k5\":0,\"k6\":0,\"k7\":0,\"k8\":0,"
	    "\"k9\":0,\"k10\":0,\"k11\":0,\"k12\":0,\"k13\":0,\"k14\":0,\"k15\":0,\"k16\":0,"
	    "\"k17\":0,\"k3\":0}",
	    "{" ID ",\"k1\":0,\"k2\":0,\"k3\":0,\"k4\":0,\"k5\":0,\"k6\":0,\"k7\":0,\"k8\":0,"
	    "\"k9\":0,\"k10\":0,\"k11\":0,\"k12\":0,\"k13\":0,\"k14\":0,\"k15\":0,\"k16\":0,"
	    "\"k17\":0,\"k18\":0}",
	    "{\"a\":{\"b\":1}," ID ",\"c\":{\"b\":1}}",
	    /* the member asked for, and no other */
	    "{}",
	    "{\"member_id\":\"M0000002\"}",
	    "{\"member_id\":\"M000000\"}",
	    "{\"member_id\":\"M0000001 \"}",
	    "{\"member_id\":1}",
	    "{\"member_id\":\"M00\\u00300001\"}",
	    "[" ID "]",
	    "\"M0000001\"",
	    /* strings */
	    "{" ID ",\"email\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"}",
	    "{" ID ",\"email\":\"\\u00e9\\u3042\\ud83d\\ude00\"}",
	    "{" ID ",\"email\":\"\\ud83d\"}",
	    "{" ID ",\"email\":\"\\ude00\"}",
	    "{" ID ",\"email\":\"\\ud83d\\u0041\"}",
	    "{" ID ",\"email\":\"a\\u0000b\"}",
	    "{" ID ",\"x\":\"\\u0000\"}",
	    "{" ID ",\"email\":\"\\x41\"}",
	    "{" ID ",\"email\":\"\\u12\"}",
	    "{" ID ",\"email\":\"tab\there\"}",
	    "{" ID ",\"x\":\"\x1f\"}",
	    "{" ID ",\"x\":\"\x7f\"}",
	    "{" ID ",\"email\":\"\xc3\xa9\"}",
	    "{" ID ",\"email\":\"\xc3\"}",
	    "{" ID ",\"x\":\"\xed\xa0\x80\"}",
	    "{" ID ",\"x\":\"\xc0\xaf\"}",
	    "{" ID ",\"x\":\"\xf4\x90\x80\x80\"}",
	    "{" ID ",\"x\\u00e9\":1}",
	    /* numbers and literals, where nothing is built */
	    "{" ID ",\"x\":[0,-0,1.5,-1e10,2E+3,0.5e-7,123456789012345678]}",
	    "{" ID ",\"x\":01}",
	    "{" ID ",\"x\":-}",
	    "{" ID ",\"x\":1.}",
	    "{" ID ",\"x\":.5}",
	    "{" ID ",\"x\":1e}",
	    "{" ID ",\"x\":+1}",
	    "{" ID ",\"x\":[true,false,null]}",
	    "{" ID ",\"x\":tru}",
	    "{" ID ",\"x\":nul}",
	    "{" ID ",\"x\":NaN}",
	    /* structure */
	    "{" ID ",}",
	    "{" ID ",\"x\":[1,]}",
	    "{" ID ",\"x\":[1 2]}",
	    "{" ID " \"x\":1}",
	    "{" ID ",\"x\"1}",
	    "{" ID ",x:1}",
	    "{" ID "}}",
	    "{" ID "} x",
	    "{" ID,
	    "{" ID ",\"x\":",
	    "",
	    " ",
	    "\xef\xbb\xbf{" ID "}",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		same_text(cat, cases[i]);
	/* a NUL byte, raw, in a string and outside one */
	static const char nul1[] = "{" ID ",\"x\":\"a\0b\"}", nul2[] = "{" ID ",\"x\":1\0}";
	same(cat, nul1, sizeof(nul1) - 1, "a raw NUL in a string");
	same(cat, nul2, sizeof(nul2) - 1, "a raw NUL after a value");
}

/* Nesting at the bound and one past it, in a kept member and an unknown one. */
static void
test_depth(const struct catalog *cat)
{
	char buf[1024];
	for (int d = 62; d <= 66; d++) {
		for (int kept = 0; kept < 2; kept++) {
			size_t n = (size_t)snprintf(buf, sizeof(buf),
			                            "{" ID ",\"%s\":", kept ? "courses" : "x");
			/* the record itself is one level; d - 1 more below it */
			for (int i = 1; i < d; i++)
				buf[n++] = '[';
			for (int i = 1; i < d; i++)
				buf[n++] = ']';
			buf[n++] = '}';
			char what[64];
			snprintf(what, sizeof(what), "depth %d (%s)", d, kept ? "kept" : "unknown");
			same(cat, buf, n, what);
			char why[RELEASE_WHY_MAX];
			enum apierr e;
			json_t *v = record_parse(cat, buf, n, MAX, RELEASE_MAX_DEPTH, "M0000001",
			                         &e, why, sizeof(why));
			if (!kept)
				CHECK((v != NULL) == (d <= RELEASE_MAX_DEPTH), "%s: %s", what, why);
			json_decref(v);
		}
	}
	/* the size bound, and a reason that never quotes the record */
	char why[RELEASE_WHY_MAX];
	enum apierr e;
	const char *secret = "{" ID ",\"email\":\"secret@example.jp\",\"x\":tru}";
	CHECK(record_parse(cat, secret, strlen(secret), 10, 64, "M0000001", &e, why, sizeof(why)) ==
	              NULL &&
	          e == APIERR_ORIGIN_INVALID && strstr(why, "over the limit") != NULL,
	      "size: %s", why);
	CHECK(record_parse(cat, secret, strlen(secret), MAX, 64, "M0000001", &e, why,
	                   sizeof(why)) == NULL &&
	          strstr(why, "secret") == NULL && strstr(why, "tru") == NULL,
	      "the reason quotes nothing: %s", why);
}

/* Every file of a folder alone, and (if wrap) as the value of a kept and an unknown member. */
static int
each_file(const struct catalog *cat, const char *dir, bool wrap)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort), files = 0;

	for (int k = 0; k < n; k++) {
		char path[2048], err[256];
		size_t len = 0;
		char *buf;
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]->d_name);
		if (names[k]->d_name[0] != '.' &&
		    (buf = file_read(path, MAX, 0, &len, err, sizeof(err))) != NULL) {
			same(cat, buf, len, path);
			for (int w = 0; wrap && w < 3; w++) {
				static const char *const pre[] = {
				    "{" ID ",\"name\":", "{" ID ",\"x\":", "{" ID ",\"courses\":"};
				size_t pl = strlen(pre[w]);
				char *b = malloc(pl + len + 2);
				memcpy(b, pre[w], pl);
				memcpy(b + pl, buf, len);
				b[pl + len] = '}';
				char what[2100];
				snprintf(what, sizeof(what), "%s inside %s", path, pre[w]);
				same(cat, b, pl + len + 1, what);
				free(b);
			}
			free(buf);
			files++;
		}
		free(names[k]);
	}
	free(names);
	return files;
}

int
main(void)
{
	char *errors = NULL;
	const char *env = getenv("PDGATE_TESTDATA");
	char suite[1024];
	struct catalog *cat =
	    catalog_load("policies/purposes.json", "policies/fields.json", &errors);

	CHECK(cat != NULL, "catalog (run from the repository root): %s", errors ? errors : "");
	free(errors);
	if (cat == NULL)
		return check_done();
	test_cases(cat);
	test_depth(cat);
	snprintf(suite, sizeof(suite), "%s/jsontestsuite/test_parsing",
	         env && *env ? env : "../shared/testdata");
	CHECK(each_file(cat, suite, true) > 300, "the JSONTestSuite at %s", suite);
	CHECK(each_file(cat, "tests/fuzz/corpus/fuzz_release", false) > 0, "fuzz_release corpus");
	CHECK(each_file(cat, "tests/fuzz/corpus/fuzz_origin", false) > 0, "fuzz_origin corpus");
	printf("%d inputs compared\n", compared);
	catalog_free(cat);
	return check_done();
}
