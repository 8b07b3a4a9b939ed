/* fuzz_origin — what an HTTP origin sends, through the checks the daemon applies to it: the
 * bytes as a page body (origin_parse_page, then release_origin on every record, as the partner
 * API does) and as a single record (release_origin). Run from the repository root, as
 * `make fuzz` does (it also feeds ../shared/testdata/jsontestsuite/test_parsing).
 *
 * Aborts when an accepted page breaks what origin_parse_page promises: more records than the
 * limit, member ids out of order, a record text that is not a compact object naming its own
 * member, a page still accepted with a smaller limit or after its own first member, or a
 * record accepted for another member than the one asked for.
 * The catalog is loaded once per process: libFuzzer leaves no other place than file scope. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog.h"
#include "origin.c" /* origin_parse_page is static */
#include "release.h"
#include "ujson.h"

#define LIMIT 1000
#define MAX_RECORD (1024 * 1024)
#define ID_MAX 256

static struct catalog *cat;

/* What one pass over a page saw. */
struct seen {
	unsigned n;
	char first[ID_MAX], last[ID_MAX];
	int first_long;
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *errors = NULL;

	(void)argc;
	(void)argv;
	cat = catalog_load("policies/purposes.json", "policies/fields.json", &errors);
	if (cat == NULL) {
		fprintf(stderr, "fuzz_origin: run from the repository root: %s\n",
		        errors ? errors : "");
		abort();
	}
	return 0;
}

static int
each_record(void *ctx, const char *member_id, const char *text, size_t len)
{
	struct seen *s = ctx;
	char why[RELEASE_WHY_MAX];
	json_t *v, *rec = NULL;

	if (member_id == NULL || text == NULL || strlen(text) != len || len > MAX_RECORD)
		abort();
	if (s->n > 0 && strlen(member_id) < ID_MAX && strcmp(member_id, s->last) <= 0)
		abort();
	if (s->n == 0) {
		snprintf(s->first, sizeof(s->first), "%s", member_id);
		s->first_long = strlen(member_id) >= ID_MAX;
	}
	snprintf(s->last, sizeof(s->last), "%s", member_id);
	s->n++;
	if (s->n > LIMIT)
		abort();

	/* the text handed on is one JSON object naming this member, within the depth bound */
	v = ujson_parse(text, len, MAX_RECORD, UJSON_MAX_DEPTH, why, sizeof(why));
	if (v == NULL || !json_is_object(v) || !json_is_string(json_object_get(v, "member_id")) ||
	    strcmp(json_string_value(json_object_get(v, "member_id")), member_id) != 0)
		abort();
	json_decref(v);

	/* and it goes through release_origin as the partner API sends it */
	if (release_origin(cat, text, len, MAX_RECORD, member_id, &rec, why, sizeof(why)) ==
	    APIERR_NONE) {
		if (rec == NULL ||
		    strcmp(json_string_value(json_object_get(rec, "member_id")), member_id) != 0)
			abort();
	} else if (rec != NULL) {
		abort();
	}
	json_decref(rec);
	return 0;
}

static int
count_only(void *ctx, const char *member_id, const char *text, size_t len)
{
	(void)member_id;
	(void)text;
	(void)len;
	(*(unsigned *)ctx)++;
	return 0;
}

static void
page(const char *bytes, size_t len)
{
	struct seen s = {0};
	char *next = NULL;
	unsigned n = 0;
	enum apierr e;

	e = origin_parse_page(bytes, len, NULL, LIMIT, MAX_RECORD, each_record, &s, &next);
	if (e != APIERR_NONE) {
		if (next != NULL || (e != APIERR_ORIGIN_INVALID && e != APIERR_INTERNAL))
			abort();
		return;
	}
	free(next);
	if (s.n == 0)
		return;
	/* one record fewer allowed: the whole page is refused before any record is handed on */
	e = origin_parse_page(bytes, len, NULL, s.n - 1, MAX_RECORD, count_only, &n, &next);
	if (e != APIERR_ORIGIN_INVALID || n != 0 || next != NULL)
		abort();
	/* asked after its own first member: the first record is out of order */
	if (!s.first_long) {
		e = origin_parse_page(bytes, len, s.first, LIMIT, MAX_RECORD, count_only, &n,
		                      &next);
		if (e != APIERR_ORIGIN_INVALID || n != 0 || next != NULL)
			abort();
	}
}

static void
single(const char *bytes, size_t len)
{
	char why[RELEASE_WHY_MAX];
	json_t *rec = NULL;

	if (release_origin(cat, bytes, len, MAX_RECORD, "M0000001", &rec, why, sizeof(why)) !=
	    APIERR_NONE) {
		if (rec != NULL)
			abort();
		return;
	}
	if (!json_is_object(rec) ||
	    strcmp(json_string_value(json_object_get(rec, "member_id")), "M0000001") != 0)
		abort();
	json_decref(rec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	page((const char *)data, size);
	single((const char *)data, size);
	return 0;
}
