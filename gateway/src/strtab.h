/* strtab — strings to numbers: a hash table, lists of interned strings, tables of names. */
#ifndef PDGATE_STRTAB_H
#define PDGATE_STRTAB_H

#include <stddef.h>
#include <stdint.h>

/* A table of string keys (copied) to numbers: open addressing, FNV-1a, at most half full.
 * Zero-initialised; freed with strtab_free. Not keyed: for the ids of a report, not for what
 * an attacker chooses in bulk. */
struct strtab {
	char **keys;    /* cap slots, NULL where empty */
	uint32_t *vals; /* the value of each key */
	size_t n, cap;  /* keys held; cap a power of two, or 0 */
};

/* The value of key, or -1. */
int64_t strtab_get(const struct strtab *t, const char *key);
/* Adds key (copied) with val; key must be absent. 0 or -1 (memory). */
int strtab_put(struct strtab *t, const char *key, uint32_t val);
void strtab_free(struct strtab *t);

/* Distinct strings in the order they were first interned, each once. Zero-initialised; freed
 * with strlist_free. */
struct strlist {
	struct strtab tab; /* string → its index in v */
	char **v;          /* v[0..n): the strings (owned) */
	size_t n, cap;
};

/* The index of s in l, added (copied) if it is new; or -1 on memory. */
int64_t strlist_intern(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);

/* The index of s in names[0..n), a short constant table of the names of an enum's values
 * searched in order, or -1: the one parse of such names ("entrustment", "deny"). */
int strtab_index(const char *const *names, size_t n, const char *s);
/* names[i] of such a table, or "?" when i is past its end or names no value: the one print of
 * such names. */
const char *strtab_name(const char *const *names, size_t n, size_t i);

#endif
