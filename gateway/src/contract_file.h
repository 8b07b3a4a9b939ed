/* contract_file — contract files parsed, checked against the catalog and hard rules (SPEC 7). */
#ifndef PDGATE_CONTRACT_FILE_H
#define PDGATE_CONTRACT_FILE_H

#include "catalog.h"
#include "contract.h"

#define CONTRACT_MAX_FILE_BYTES (1024 * 1024)
#define CONTRACT_MAX_DEPTH 16 /* the format needs 4; anything deeper is refused */

/*
 * Reads, parses and checks one contract file (at most CONTRACT_MAX_FILE_BYTES): every member
 * known and well formed, purposes and fields known to the catalog, the hard rules of SPEC 9.3
 * (policy_hard_rule) kept by every field. Returns the contract (caller frees with
 * contract_free) or NULL with *errors set to every problem found, one per line,
 * "FILE: $.json.path: message" (caller frees). The catalog must outlive the contract.
 */
struct contract *contract_load(const struct catalog *cat, const char *file, char **errors);

/*
 * Loads every "*.json" file directly in dir (not starting with "."). Any error in any file, or
 * two files with the same contract id, refuses the whole set: NULL with *errors listing every
 * problem (caller frees). An empty folder is an empty set. The catalog must outlive the set.
 */
struct contract_set *contract_set_load(const struct catalog *cat, const char *dir, char **errors);

/*
 * The transforms a field of a contract file may carry (SPEC 9.3), for other files that name
 * catalog paths the same way ("birth_date:age_band:10"). contract_file_transform parses the
 * text after the path's colon ("pseudonym", "year", "mask:N", "prefix:N", "age_band:N") into
 * *t and *arg; contract_file_transform_fits says whether t can apply to the leaf f at all.
 * Each returns NULL, or the message that refuses it (static).
 */
const char *contract_file_transform(const char *s, enum contract_transform *t, unsigned *arg);
const char *contract_file_transform_fits(const struct catalog_field *f, enum contract_transform t);

#endif
