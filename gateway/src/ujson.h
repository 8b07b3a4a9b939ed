/* ujson — parsing untrusted JSON: duplicate members refused, size and nesting bounded. */
#ifndef PDGATE_UJSON_H
#define PDGATE_UJSON_H

#include <stddef.h>

#include <jansson.h>

#define UJSON_MAX_DEPTH 64

/*
 * Parses exactly one JSON value from buf[0..len) (no trailing bytes). Refuses duplicate object
 * members anywhere, invalid UTF-8, \u0000, more than max_bytes, and nesting deeper than
 * max_depth (objects and arrays count one level each). Returns a new reference, or NULL with a
 * short reason in why (which never quotes the input).
 */
json_t *ujson_parse(const char *buf, size_t len, size_t max_bytes, int max_depth, char *why,
                    size_t whylen);

/* The nesting depth of v: 0 for a scalar, 1 for a flat array or object. */
int ujson_depth(const json_t *v);

#endif
