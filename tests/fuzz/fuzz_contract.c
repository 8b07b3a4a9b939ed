/* fuzz_contract — contract_parse on hostile contract files, checked against the shipped
 * catalogs (run from the repository root, as `make fuzz` does). A contract that loads must
 * keep the hard rules, and a recipient abroad its safeguards; the fuzzer aborts if one slips
 * through.
 * The catalog is loaded once per process: libFuzzer leaves no other place than file scope. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "contract.h"
#include "contract_file.c" /* contract_parse is static */
#include "policy.h"

static struct catalog *cat;

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
		fprintf(stderr, "fuzz_contract: run from the repository root: %s\n",
		        errors ? errors : "");
		abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *errors = NULL;
	struct contract *c = contract_parse(cat, "fuzz.json", (const char *)data, size, &errors);
	if (c == NULL) {
		if (errors == NULL)
			abort(); /* a refusal always says why */
		free(errors);
		return 0;
	}
	if (errors != NULL)
		abort();
	for (size_t i = 0; i < c->npurposes; i++) {
		const struct contract_purpose *p = &c->purposes[i];
		if (p->purpose == NULL || contract_purpose(c, p->id) != p)
			abort();
		for (size_t k = 0; k < p->nfields; k++) {
			const struct contract_field *f = &p->fields[k];
			if (policy_hard_rule(f->leaf, p->purpose, c->relationship,
			                     c->my_number_permitted, f->transform) != NULL)
				abort();
			if (k > 0 && p->fields[k - 1].leaf->index >= f->leaf->index)
				abort(); /* catalog order, no repeats */
		}
	}
	if (c->valid_from >= c->valid_until)
		abort();
	/* abroad (SPEC 16.5): an assigned country; an entrustee or joint user there names its
	 * safeguards, and a recipient in Japan has none */
	if (!ident_country_ok(c->country, strlen(c->country)) ||
	    (contract_abroad(c) && c->relationship != CONTRACT_THIRD_PARTY &&
	     c->foreign_safeguards == NULL) ||
	    (!contract_abroad(c) && c->foreign_safeguards != NULL))
		abort();
	struct contract **v = malloc(sizeof(*v));
	if (v == NULL) {
		contract_free(c);
		return 0;
	}
	v[0] = c;
	struct contract_set *s = contract_set_new(v, 1, &errors);
	if (s != NULL) {
		const struct contract *const *pc;
		if (contract_set_find(s, c->id) != c ||
		    contract_set_partner(s, c->partner, &pc) != 1)
			abort();
	}
	free(errors);
	contract_set_free(s);
	return 0;
}
