/* fuzz_anon_spec — anon_spec_parse on hostile spec files, checked against the shipped catalogs
 * (run from the repository root, as `make fuzz` does). A spec that parses must keep every rule
 * of anon.h (no forbidden class, no pseudonym, k >= 2, one column per leaf, a method exactly
 * with a recipient), and a data set made with it from a few records must be k-anonymous; the
 * fuzzer aborts if one slips through. The catalog and the records are made once per process:
 * libFuzzer leaves no other place than file scope. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon.h"
#include "buf.h"
#include "catalog.h"
#include "ident.h"
#include "release.h"

#define NRECORDS 12

static struct catalog *cat;
static json_t *records[NRECORDS];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const prefs[] = {"東京都", "大阪府", "北海道"};
	char *errors = NULL, text[1024], id[16], why[160];
	(void)argc;
	(void)argv;
	cat = catalog_load("policies/purposes.json", "policies/fields.json", &errors);
	if (cat == NULL) {
		fprintf(stderr, "fuzz_anon_spec: run from the repository root: %s\n",
		        errors ? errors : "");
		abort();
	}
	for (int i = 0; i < NRECORDS; i++) {
		snprintf(id, sizeof(id), "M%07d", i + 1);
		snprintf(
		    text, sizeof(text),
		    "{\"member_id\":\"%s\",\"birth_date\":\"19%02d-0%d-1%d\",\"gender\":\"%s\","
		    "\"address\":{\"prefecture\":\"%s\"},\"membership\":{\"joined\":\"20%02d-04-"
		    "01\",\"grade\":\"%s\",\"status\":\"active\"},\"courses\":[{\"code\":\"MD101\","
		    "\"completed\":\"2020-03-01\"},{\"code\":\"LS1%d0\"}],\"certifications\":[]}",
		    id, 50 + i * 3, 1 + i % 9, i % 10, i % 3 ? "female" : "male", prefs[i % 3],
		    10 + i % 4, i % 2 ? "gold" : "regular", i % 5);
		if (release_origin(cat, text, strlen(text), 1 << 20, id, &records[i], why,
		                   sizeof(why)) != APIERR_NONE) {
			fprintf(stderr, "fuzz_anon_spec: record %d: %s\n", i, why);
			abort();
		}
	}
	return 0;
}

static bool
allowed(const struct catalog_field *f)
{
	return strcmp(f->path, "address.prefecture") == 0 || f->cls == CATALOG_CLASS_DEMOGRAPHIC ||
	       f->cls == CATALOG_CLASS_MEMBERSHIP;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *errors = NULL, why[256];
	struct anon_spec *s = anon_spec_parse(cat, "fuzz.json", (const char *)data, size, &errors);

	if (s == NULL) {
		if (errors == NULL)
			abort(); /* a refusal always says why */
		free(errors);
		return 0;
	}
	if (errors != NULL || s->k < 2 || s->k > ANON_K_MAX || s->nquasi == 0 ||
	    s->nquasi > ANON_MAX_QUASI || s->ncolumns > ANON_MAX_COLUMNS ||
	    !ident_dataset_ok(s->id, strlen(s->id)) ||
	    (s->recipient == NULL) != (s->method == NULL))
		abort();
	for (size_t i = 0; i < s->ncolumns; i++) {
		const struct anon_column *c = &s->columns[i];
		if (!allowed(c->leaf) || c->transform == CONTRACT_TF_PSEUDONYM ||
		    c->quasi != (i < s->nquasi))
			abort();
		for (size_t j = 0; j < i; j++)
			if (s->columns[j].leaf == c->leaf)
				abort();
	}
	/* a data set of the records: every combination of the quasi-identifiers k times */
	struct anon_table *t = anon_table_new(s, (time_t)1795000000);
	struct anon_stats st;
	struct buf csv = {0};
	if (t == NULL)
		goto done;
	for (int i = 0; i < NRECORDS; i++)
		if (anon_table_add(t, records[i], why, sizeof(why)) != 0)
			goto done; /* a value the transform cannot take: refused, fine */
	if (anon_table_finish(t, &st) != 0)
		goto done;
	if (st.rows + st.suppressed != NRECORDS || (st.rows > 0 && st.rows < s->k))
		abort();
	if (anon_table_csv(t, &csv) != 0)
		goto done;
	if (strstr(csv.data, "M000") != NULL) /* no member id can come out */
		abort();
done:
	buf_free(&csv);
	anon_table_free(t);
	anon_spec_free(s);
	return 0;
}
