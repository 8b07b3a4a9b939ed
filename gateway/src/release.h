/* release — the checked member record and the answer built afresh from it (SPEC 6, 9.3); no I/O. */
#ifndef PDGATE_RELEASE_H
#define PDGATE_RELEASE_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "apierr.h"
#include "buf.h"
#include "catalog.h"
#include "contract.h"
#include "pseudo.h"

#define RELEASE_MAX_DEPTH 64
#define RELEASE_WHY_MAX 160 /* room for the messages below */

/*
 * Checks the bytes the origin sent for member_id and returns the checked record, read in one
 * pass (record.h): only the catalog's paths (unknown keys and null values dropped), each
 * value of its catalog type (string; date as a real YYYY-MM-DD; boolean; array of strings),
 * objects and arrays of objects where the catalog has them. Refused with ORIGIN_INVALID: more
 * than max_bytes, not JSON, duplicate keys anywhere, invalid UTF-8 or \u0000, nesting deeper
 * than 64, not an object, member_id missing or not the one asked for, a catalog path of the
 * wrong type. On APIERR_NONE *record is a new reference (caller decrefs); otherwise NULL and
 * why says what was wrong without quoting the record.
 */
enum apierr release_origin(const struct catalog *cat, const char *bytes, size_t len,
                           size_t max_bytes, const char *member_id, json_t **record, char *why,
                           size_t whylen);

/*
 * Writes the answer for one member at the end of body, as compact JSON: the leaves the
 * contract lists for the purpose, nothing else, in catalog order, nested objects rebuilt and
 * arrays of objects element by element ("courses[].code" gives "courses":[{"code":…},…]), each
 * transform applied (age bands on the day of now in Japan time). Strings are escaped as
 * jansson's json_dumps escapes them. record comes from release_origin; pseudo keys the
 * pseudonyms. items (room for p->nfields) receives the ledger items, *n_items of them: the
 * contract's item of every leaf that had a value for this member, e.g.
 * "birth_date:age_band:10", borrowed from the contract. Errors: ORIGIN_INVALID (a value the
 * transform cannot take: an unborn member's age band, broken UTF-8), INTERNAL (a contract that
 * breaks a hard rule, lists its fields out of catalog order or puts a transform on the wrong
 * type; out of memory). On error body is as it was and *n_items is 0.
 */
enum apierr release_build(const struct contract *c, const struct contract_purpose *p,
                          const json_t *record, const struct pseudo *pseudo, time_t now,
                          struct buf *body, const char **items, size_t *n_items, char *why,
                          size_t whylen);

/*
 * One string value under a transform of 9.3 other than pseudonym (which needs a contract's
 * key): none (a copy), mask:N, prefix:N, year and age_band:N (on the day of now in Japan), as
 * release_build writes them. Returns the new string (caller frees), or NULL if the value
 * cannot take it (not UTF-8; not a date for year and age_band; born after that day), for
 * pseudonym, or out of memory.
 */
char *release_value(enum contract_transform t, unsigned arg, const char *s, size_t len, time_t now);

/*
 * A contract purpose's release compiled once, for release_plan_build: the checks release_build
 * makes of the contract (hard rules, catalog order, transforms that fit), the pseudonym context
 * keyed, and for each field where its run of shared path ends and its keys as JSON text. c, p
 * and pseudo are borrowed and must outlive the plan. NULL with why (INTERNAL: a contract that
 * breaks those rules, no pseudonym key, out of memory). Caller frees; NULL is a no-op.
 */
struct release_plan;
struct release_plan *release_plan_new(const struct contract *c, const struct contract_purpose *p,
                                      const struct pseudo *pseudo, char *why, size_t whylen);
void release_plan_free(struct release_plan *plan);

/* release_build on a plan: the same answer, items and errors, without the per-call checks and
 * keying. Safe on many threads at once for one plan. */
enum apierr release_plan_build(const struct release_plan *plan, const json_t *record, time_t now,
                               struct buf *body, const char **items, size_t *n_items, char *why,
                               size_t whylen);

#endif
