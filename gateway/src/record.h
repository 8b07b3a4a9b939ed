/* record — the origin's member record parsed and reduced to the catalog's paths in one pass. */
#ifndef PDGATE_RECORD_H
#define PDGATE_RECORD_H

#include <stddef.h>

#include <jansson.h>

#include "apierr.h"
#include "catalog.h"

/*
 * Parses bytes[0..len) as one JSON object, by ujson's rules: more than max_bytes, a byte that
 * is not JSON, duplicate members in any object (kept or not, keys compared as decoded), invalid
 * UTF-8, \u0000 (raw or escaped), a lone surrogate escape, nesting deeper than max_depth
 * (objects and arrays count one level each), or anything after the value are refused. Whatever
 * the catalog does not name is checked and skipped; what it names is built as it is read:
 * containers of the catalog's kind (an array of objects where a path has "[]"), leaves of its
 * type (string; date as a real YYYY-MM-DD; boolean; array of strings), null members left out,
 * an object or array kept even when none of its leaves has a value. The top-level member_id
 * must be a string equal to member_id.
 *
 * Returns the reduced record (new reference), or NULL with *err ORIGIN_INVALID (or INTERNAL:
 * out of memory) and a reason in why that never quotes the record. The same records pass and
 * give the same tree as parsing with jansson and then dropping what the catalog does not name.
 */
json_t *record_parse(const struct catalog *cat, const char *bytes, size_t len, size_t max_bytes,
                     int max_depth, const char *member_id, enum apierr *err, char *why,
                     size_t whylen);

#endif
