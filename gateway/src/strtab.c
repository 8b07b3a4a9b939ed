/* strtab — strings to numbers: a hash table, lists of interned strings, tables of names. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "strtab.h"

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

int64_t
strtab_get(const struct strtab *t, const char *key)
{
	if (t->cap == 0)
		return -1;
	for (size_t i = hash_str(key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		if (t->keys[i] == NULL)
			return -1;
		if (strcmp(t->keys[i], key) == 0)
			return t->vals[i];
	}
}

int
strtab_put(struct strtab *t, const char *key, uint32_t val)
{
	assert(strtab_get(t, key) == -1); /* the key must be absent (strtab.h) */
	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **keys = calloc(cap, sizeof(*keys));
		uint32_t *vals = calloc(cap, sizeof(*vals));
		if (keys == NULL || vals == NULL) {
			free(keys);
			free(vals);
			return -1;
		}
		for (size_t i = 0; i < t->cap; i++) {
			if (t->keys[i] == NULL)
				continue;
			size_t j = hash_str(t->keys[i]) & (cap - 1);
			while (keys[j] != NULL)
				j = (j + 1) & (cap - 1);
			keys[j] = t->keys[i];
			vals[j] = t->vals[i];
		}
		free(t->keys);
		free(t->vals);
		t->keys = keys;
		t->vals = vals;
		t->cap = cap;
	}
	size_t i = hash_str(key) & (t->cap - 1);
	while (t->keys[i] != NULL)
		i = (i + 1) & (t->cap - 1);
	if ((t->keys[i] = strdup(key)) == NULL)
		return -1;
	t->vals[i] = val;
	t->n++;
	/* at most half full: a lookup always meets an empty slot */
	assert(t->n * 2 <= t->cap);
	return 0;
}

void
strtab_free(struct strtab *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->keys[i]);
	free(t->keys);
	free(t->vals);
	memset(t, 0, sizeof(*t));
}

int64_t
strlist_intern(struct strlist *l, const char *s)
{
	int64_t k = strtab_get(&l->tab, s);

	if (k >= 0)
		return k;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n] = strdup(s)) == NULL || strtab_put(&l->tab, s, (uint32_t)l->n) != 0) {
		free(l->v[l->n]);
		return -1;
	}
	return (int64_t)l->n++;
}

void
strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	strtab_free(&l->tab);
}

int
strtab_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

const char *
strtab_name(const char *const *names, size_t n, size_t i)
{
	return i < n && names[i] != NULL ? names[i] : "?";
}
