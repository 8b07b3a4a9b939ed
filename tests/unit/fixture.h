/* fixture — what the tests of the modules above the catalog share: the catalog of policies/. */
#ifndef PDGATE_FIXTURE_H
#define PDGATE_FIXTURE_H
#include <stdlib.h>

#include "catalog.h"
#include "check.h"

/* The catalog in policies/ (tests run from the repository root), or NULL after a failed check.
 * Caller frees with catalog_free. */
static struct catalog *
fixture_catalog(void)
{
	char *errors = NULL;
	struct catalog *cat =
	    catalog_load("policies/purposes.json", "policies/fields.json", &errors);

	CHECK(cat != NULL, "catalogs: %s", errors ? errors : "");
	free(errors);
	return cat;
}
#endif
