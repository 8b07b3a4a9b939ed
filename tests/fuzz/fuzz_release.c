/* fuzz_release — origin bytes through release_origin, then the member rules and release_build
 * for every purpose of the demo contracts (run from the repository root, as `make fuzz` does;
 * it also feeds ../shared/testdata/jsontestsuite/test_parsing). The fuzzer aborts if an answer
 * holds a path the contract does not list for the purpose.
 * Catalog, contracts and key are loaded once per process: libFuzzer leaves no other place than
 * file scope. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog.h"
#include "contract.h"
#include "contract_file.h"
#include "policy.h"
#include "pseudo.h"
#include "release.h"

#define NOW ((time_t)1795000000) /* 2026-11-18 */

static struct catalog *cat;
static struct contract_set *set;
static struct pseudo *pseudo;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char secret[] = "fuzz_release pseudonym secret, 32+ bytes";
	char *errors = NULL;
	(void)argc;
	(void)argv;
	cat = catalog_load("policies/purposes.json", "policies/fields.json", &errors);
	if (cat != NULL)
		set = contract_set_load(cat, "contracts/examples", &errors);
	pseudo = pseudo_new(secret, sizeof(secret) - 1);
	if (cat == NULL || set == NULL || pseudo == NULL) {
		fprintf(stderr, "fuzz_release: run from the repository root: %s\n",
		        errors ? errors : "");
		abort();
	}
	return 0;
}

static int
listed(const struct contract_purpose *p, const char *path)
{
	for (size_t i = 0; i < p->nfields; i++)
		if (strcmp(p->fields[i].leaf->path, path) == 0)
			return 1;
	return 0;
}

/* Every leaf of the answer must be a path the purpose lists. */
static void
only_listed(const struct contract_purpose *p, const json_t *v, const char *path)
{
	char sub[512];
	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach((json_t *)v, k, m)
		{
			snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", k);
			only_listed(p, m, sub);
		}
		return;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		snprintf(sub, sizeof(sub), "%s[]", path);
		json_array_foreach((json_t *)v, i, e)
		{
			if (!json_is_object(e))
				abort();
			only_listed(p, e, sub);
		}
		return;
	}
	if (!listed(p, path))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *rec = NULL;
	char why[RELEASE_WHY_MAX];
	if (release_origin(cat, (const char *)data, size, 1024 * 1024, "M0000001", &rec, why,
	                   sizeof(why)) != APIERR_NONE) {
		if (rec != NULL)
			abort();
		return 0;
	}
	for (size_t i = 0; i < contract_set_count(set); i++) {
		const struct contract *c = contract_set_at(set, i);
		for (size_t k = 0; k < c->npurposes; k++) {
			const struct contract_purpose *p = &c->purposes[k];
			struct buf body = {0};
			const char *items[128];
			size_t n_items = 0;
			if (p->nfields > sizeof(items) / sizeof(items[0]))
				abort();
			(void)policy_check_member(c, p, rec, NULL);
			enum apierr e = release_build(c, p, rec, pseudo, NOW, &body, items,
			                              &n_items, why, sizeof(why));
			if (e == APIERR_NONE) {
				/* the text is one JSON object without repeated keys */
				json_t *parsed =
				    json_loadb(body.data, body.len, JSON_REJECT_DUPLICATES, NULL);
				if (!json_is_object(parsed) || n_items > p->nfields)
					abort();
				only_listed(p, parsed, "");
				json_decref(parsed);
			} else if (body.len != 0 || n_items != 0 || e == APIERR_INTERNAL) {
				abort(); /* the demo contracts are lawful: only the record can fail
				          */
			}
			buf_free(&body);
		}
	}
	json_decref(rec);
	return 0;
}
