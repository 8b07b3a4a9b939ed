/* anon — anonymised information made from member records: spec, transforms, k-anonymity. */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "anon.h"
#include "contract_file.h"
#include "csv.h"
#include "errlist.h"
#include "ident.h"
#include "release.h"
#include "strtab.h"
#include "ujson.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define NONE UINT32_MAX /* a group not given yet */

/* ------------------------------------------------------------------------------------------ */
/* The spec. */

void
anon_spec_free(struct anon_spec *s)
{
	if (s == NULL)
		return;
	free(s->id);
	free(s->title);
	free(s->recipient);
	free(s->method);
	free(s);
}

/* Whether a leaf of this class may be a column: names, contact details, codes that link records,
 * images, My Numbers and what pdgate keeps for itself may not (施行規則 Art. 34 (i)-(iii)); the
 * prefecture is the one part of an address coarse enough to stay. */
static bool
class_allowed(const struct catalog_field *f)
{
	if (strcmp(f->path, "address.prefecture") == 0)
		return true;
	return f->cls == CATALOG_CLASS_DEMOGRAPHIC || f->cls == CATALOG_CLASS_MEMBERSHIP;
}

static const char *refuse(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *
refuse(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return why;
}

const char *
anon_item(const struct catalog *cat, const char *item, struct anon_column *out, char *why,
          size_t whylen)
{
	const char *colon = strchr(item, ':');
	size_t plen = colon ? (size_t)(colon - item) : strlen(item);
	char path[ANON_ITEM_MAX + 1];
	const struct catalog_field *f;
	const char *m;

	memset(out, 0, sizeof(*out));
	if (strlen(item) > ANON_ITEM_MAX)
		return refuse(why, whylen, "longer than %d bytes", ANON_ITEM_MAX);
	memcpy(path, item, plen);
	path[plen] = '\0';
	if ((f = catalog_field(cat, path)) == NULL) {
		size_t first;
		char q[96];
		errlist_quote(q, sizeof(q), path);
		if (catalog_expand(cat, path, &first) > 0)
			return refuse(why, whylen,
			              "%s names an object: a transform applies to one value", q);
		return refuse(why, whylen, "%s is not a path of the field catalog", q);
	}
	if (!class_allowed(f))
		return refuse(why, whylen,
		              "%s is of class %s: names, contact details (but the prefecture), "
		              "identifiers, images, My Numbers and internal fields never appear in "
		              "anonymised information",
		              f->path, catalog_class_name(f->cls));
	if (f->type != CATALOG_TYPE_STRING && f->type != CATALOG_TYPE_DATE)
		return refuse(why, whylen, "%s is not a text or a date", f->path);
	out->leaf = f;
	out->transform = CONTRACT_TF_NONE;
	if (colon != NULL) {
		if ((m = contract_file_transform(colon + 1, &out->transform, &out->arg)) != NULL)
			return refuse(why, whylen, "%s: %s", f->path, m);
		if (out->transform == CONTRACT_TF_PSEUDONYM)
			return refuse(why, whylen,
			              "%s:pseudonym: a pseudonym is a code that links a row to a "
			              "member (個人情報と他の情報とを連結する符号), never in "
			              "anonymised information",
			              f->path);
		if ((m = contract_file_transform_fits(f, out->transform)) != NULL)
			return refuse(why, whylen, "%s: %s %s", f->path, colon + 1, m);
	}
	for (size_t i = 0; i < f->nsegments; i++)
		out->multi |= f->segments[i].array;
	snprintf(out->item, sizeof(out->item), "%s", item);
	return NULL;
}

struct parse {
	const struct catalog *cat;
	struct errlist *el;
	const char *name;
	struct anon_spec *s;
	char where[ANON_MAX_COLUMNS][ERRLIST_PATH_MAX]; /* the JSON path of each column */
};

/* Adds the column item (written at path) unless it is refused or a repeat. */
static void
add_column(struct parse *ps, const char *path, const char *item, bool quasi)
{
	struct anon_spec *s = ps->s;
	struct anon_column c;
	char why[512];
	const char *m = anon_item(ps->cat, item, &c, why, sizeof(why));

	if (m != NULL) {
		errlist_add(ps->el, ps->name, path, "%s", m);
		return;
	}
	for (size_t i = 0; i < s->ncolumns; i++)
		if (s->columns[i].leaf == c.leaf) {
			errlist_add(ps->el, ps->name, path, "%s is a column already, at %s",
			            c.leaf->path, ps->where[i]);
			return;
		}
	if (s->ncolumns == ANON_MAX_COLUMNS) {
		errlist_add(ps->el, ps->name, path, "more than %d columns", ANON_MAX_COLUMNS);
		return;
	}
	c.quasi = quasi;
	snprintf(ps->where[s->ncolumns], sizeof(ps->where[0]), "%s", path);
	s->columns[s->ncolumns++] = c;
}

/* A column as written: a leaf with its transform, or an object path for every leaf below it. */
static void
add_written(struct parse *ps, const char *path, const char *spath, const char *tf, bool quasi)
{
	size_t first, n;
	char item[ANON_ITEM_MAX + 2];

	if (tf == NULL && catalog_field(ps->cat, spath) == NULL &&
	    (n = catalog_expand(ps->cat, spath, &first)) > 0) {
		for (size_t i = 0; i < n; i++)
			add_column(ps, path, catalog_field_at(ps->cat, first + i)->path, quasi);
		return;
	}
	if (snprintf(item, sizeof(item), "%s%s%s", spath, tf ? ":" : "", tf ? tf : "") >
	    ANON_ITEM_MAX) {
		errlist_add(ps->el, ps->name, path, "longer than %d bytes", ANON_ITEM_MAX);
		return;
	}
	add_column(ps, path, item, quasi);
}

static void
parse_quasi(struct parse *ps, json_t *q)
{
	const char *key;
	json_t *v;

	if (!json_is_object(q) || json_object_size(q) == 0 ||
	    json_object_size(q) > ANON_MAX_QUASI) {
		errlist_add(ps->el, ps->name, "$.quasi",
		            "must be an object of 1 to %d paths, each null or a transform",
		            ANON_MAX_QUASI);
		return;
	}
	json_object_foreach(q, key, v)
	{
		char p[ERRLIST_PATH_MAX];
		errlist_path_key(p, sizeof(p), "$.quasi", key);
		if (!json_is_null(v) && !json_is_string(v)) {
			errlist_add(ps->el, ps->name, p,
			            "must be null (the value as it is) or a transform (year, "
			            "age_band:N, prefix:N, mask:N)");
			continue;
		}
		if (json_is_string(v) && (json_string_length(v) == 0 ||
		                          strlen(json_string_value(v)) != json_string_length(v))) {
			errlist_add(ps->el, ps->name, p, "an empty transform");
			continue;
		}
		add_written(ps, p, key, json_is_string(v) ? json_string_value(v) : NULL, true);
	}
}

static void
parse_attributes(struct parse *ps, json_t *a)
{
	size_t i;
	json_t *v;

	if (a == NULL)
		return;
	if (!json_is_array(a) || json_array_size(a) > ANON_MAX_COLUMNS) {
		errlist_add(ps->el, ps->name, "$.attributes",
		            "must be an array of at most %d items, \"path\" or \"path:transform\"",
		            ANON_MAX_COLUMNS);
		return;
	}
	json_array_foreach(a, i, v)
	{
		char p[ERRLIST_PATH_MAX], spath[ANON_ITEM_MAX + 1];
		errlist_path_index(p, sizeof(p), "$.attributes", i);
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		if (!json_is_string(v) || n == 0 || strlen(s) != n) {
			errlist_add(ps->el, ps->name, p, "must be \"path\" or \"path:transform\"");
			continue;
		}
		if (n > ANON_ITEM_MAX) {
			errlist_add(ps->el, ps->name, p, "longer than %d bytes", ANON_ITEM_MAX);
			continue;
		}
		const char *colon = strchr(s, ':');
		size_t plen = colon ? (size_t)(colon - s) : n;
		memcpy(spath, s, plen);
		spath[plen] = '\0';
		add_written(ps, p, spath, colon ? colon + 1 : NULL, false);
	}
}

/* k: an integer 2..ANON_K_MAX. */
static unsigned
parse_k(struct parse *ps, json_t *k)
{
	if (k == NULL) {
		errlist_add(ps->el, ps->name, "$.k", "missing");
		return 0;
	}
	if (!json_is_integer(k) || json_integer_value(k) < 2 ||
	    json_integer_value(k) > ANON_K_MAX) {
		errlist_add(ps->el, ps->name, "$.k",
		            "must be an integer from 2 to %d: each combination of the "
		            "quasi-identifiers in at least k rows (k = 1 hides no one)",
		            ANON_K_MAX);
		return 0;
	}
	return (unsigned)json_integer_value(k);
}

/* A free text member, copied; NULL if absent or refused (the error added when refused). */
static char *
text_copy(struct parse *ps, json_t *root, const char *key, size_t max, bool required)
{
	const char *v = errlist_get_text(ps->el, ps->name, "$", root, key, max, required);
	return v ? strdup(v) : NULL;
}

struct anon_spec *
anon_spec_parse(const struct catalog *cat, const char *name, const char *text, size_t len,
                char **errors)
{
	static const char *const keys[] = {"id", "title", "recipient",  "method",
	                                   "k",  "quasi", "attributes", NULL};
	struct errlist *el = errlist_new();
	struct parse *ps = calloc(1, sizeof(*ps));
	struct anon_spec *s = calloc(1, sizeof(*s));
	json_t *root = NULL, *v;

	*errors = NULL;
	if (el == NULL || ps == NULL || s == NULL) {
		*errors = strdup("out of memory");
		goto done;
	}
	*ps = (struct parse){.cat = cat, .el = el, .name = name, .s = s};
	if (len > ANON_SPEC_MAX_BYTES) {
		errlist_add(el, name, NULL, "larger than %d bytes", ANON_SPEC_MAX_BYTES);
		goto done;
	}
	if ((root = errlist_parse_object(el, name, text, len)) == NULL)
		goto done;
	if (ujson_depth(root) > ANON_SPEC_MAX_DEPTH) {
		errlist_add(el, name, "$", "nested deeper than %d", ANON_SPEC_MAX_DEPTH);
		goto done;
	}
	errlist_unknown_keys(el, name, "$", root, keys);
	const char *id = errlist_get_bytes(el, name, "$", root, "id", IDENT_DATASET_MAX + 16, true);
	if (id != NULL && !ident_dataset_ok(id, strlen(id)))
		errlist_add(el, name, "$.id",
		            "must match " IDENT_DATASET_PATTERN " (AN-2026-0001)");
	else if (id != NULL)
		s->id = strdup(id);
	s->title = text_copy(ps, root, "title", ANON_TITLE_MAX, true);
	v = json_object_get(root, "recipient");
	if (v != NULL && !json_is_null(v)) {
		s->recipient = text_copy(ps, root, "recipient", ANON_RECIPIENT_MAX, true);
		s->method = text_copy(ps, root, "method", ANON_METHOD_MAX, true);
	} else if (json_object_get(root, "method") != NULL) {
		errlist_add(el, name, "$.method",
		            "only with a recipient: the method of provision to a third party");
	}
	s->k = parse_k(ps, json_object_get(root, "k"));
	v = json_object_get(root, "quasi");
	if (v == NULL)
		errlist_add(el, name, "$.quasi", "missing");
	else
		parse_quasi(ps, v);
	s->nquasi = s->ncolumns;
	parse_attributes(ps, json_object_get(root, "attributes"));
	SHA256((const unsigned char *)text, len, s->sha256);
done:
	json_decref(root);
	if (*errors == NULL && el != NULL && errlist_count(el) > 0)
		if ((*errors = errlist_take(el)) == NULL)
			*errors = strdup("out of memory");
	if (*errors == NULL && s != NULL &&
	    (s->id == NULL || s->title == NULL || (s->recipient != NULL && s->method == NULL)))
		*errors = strdup("out of memory");
	errlist_free(el);
	free(ps);
	if (*errors != NULL) {
		anon_spec_free(s);
		return NULL;
	}
	return s;
}

/* ------------------------------------------------------------------------------------------ */
/* The table. */

/*
 * Each cell is a set of values: an offset into pool, where pool[off] is its size n and
 * pool[off+1..off+n] its value ids in the column's list, in the byte order of the values, no
 * repeats. A column of one value per member holds sets of 0 or 1.
 */
struct anon_table {
	const struct anon_spec *s;
	time_t now;
	struct strlist vals[ANON_MAX_COLUMNS]; /* each column's distinct values */
	uint32_t *cells;                       /* nrows * ncolumns offsets into pool */
	size_t nrows, cap_rows;
	uint32_t *pool;
	size_t npool, cap_pool;
	uint32_t *count[ANON_MAX_COLUMNS]; /* rows kept holding each value */
	uint32_t *order;                   /* the rows kept, in the order written */
	size_t nkept;
	bool finished;
};

struct anon_table *
anon_table_new(const struct anon_spec *s, time_t now)
{
	struct anon_table *t = calloc(1, sizeof(*t));

	if (t != NULL) {
		t->s = s;
		t->now = now;
	}
	return t;
}

void
anon_table_free(struct anon_table *t)
{
	if (t == NULL)
		return;
	for (size_t c = 0; c < ANON_MAX_COLUMNS; c++) {
		strlist_free(&t->vals[c]);
		free(t->count[c]);
	}
	free(t->cells);
	free(t->pool);
	free(t->order);
	free(t);
}

/* Makes room for n more uint32s at *v (len used, cap allocated). 0 or -1. */
static int
grow(uint32_t **v, size_t len, size_t *cap, size_t n)
{
	if (len + n <= *cap)
		return 0;
	size_t c = *cap ? *cap : 1024;
	while (c < len + n)
		c *= 2;
	if (c > SIZE_MAX / sizeof(uint32_t) || c > UINT32_MAX)
		return -1;
	uint32_t *p = realloc(*v, c * sizeof(uint32_t));
	if (p == NULL)
		return -1;
	*v = p;
	*cap = c;
	return 0;
}

/* The values of one member's column being gathered. */
struct gather {
	struct anon_table *t;
	const struct anon_column *col;
	struct strlist *vals;
	uint32_t *ids;
	size_t n, cap;
	char *why;
	size_t whylen;
};

/* Adds id to the set in value order, unless it is there already. 0 or -1. */
static int
gather_add(struct gather *g, uint32_t id)
{
	size_t i = 0;

	while (i < g->n) {
		int c = strcmp(g->vals->v[g->ids[i]], g->vals->v[id]);
		if (c == 0)
			return 0;
		if (c > 0)
			break;
		i++;
	}
	if (grow(&g->ids, g->n, &g->cap, 1) != 0)
		return -1;
	memmove(g->ids + i + 1, g->ids + i, (g->n - i) * sizeof(uint32_t));
	g->ids[i] = id;
	g->n++;
	return 0;
}

/* Walks v along the leaf's segments from level, adding each value it ends at. 0 or -1. */
static int
gather_walk(struct gather *g, const json_t *v, size_t level)
{
	const struct catalog_field *f = g->col->leaf;

	if (v == NULL || json_is_null(v))
		return 0;
	if (level == f->nsegments) {
		if (!json_is_string(v)) {
			snprintf(g->why, g->whylen, "%s is not a text", f->path);
			return -1;
		}
		char *x = release_value(g->col->transform, g->col->arg, json_string_value(v),
		                        json_string_length(v), g->t->now);
		if (x == NULL) {
			snprintf(
			    g->why, g->whylen, "%s cannot take %s%s", f->path,
			    g->col->transform == CONTRACT_TF_NONE ? "the value" : "the transform ",
			    g->col->transform == CONTRACT_TF_NONE ? ""
			                                          : strchr(g->col->item, ':') + 1);
			return -1;
		}
		int64_t id = strlist_intern(g->vals, x);
		free(x);
		if (id < 0 || id >= UINT32_MAX || gather_add(g, (uint32_t)id) != 0) {
			snprintf(g->why, g->whylen, "out of memory");
			return -1;
		}
		return 0;
	}
	const struct catalog_segment *seg = &f->segments[level];
	if (!json_is_object(v))
		return 0; /* release_origin checked the shape: nothing of this leaf here */
	const json_t *x = json_object_get(v, seg->name);
	if (!seg->array || x == NULL)
		return gather_walk(g, x, level + 1);
	size_t i;
	const json_t *e;
	json_array_foreach(x, i, e)
	{
		if (gather_walk(g, e, level + 1) != 0)
			return -1;
	}
	return 0;
}

int
anon_table_add(struct anon_table *t, const json_t *record, char *why, size_t whylen)
{
	const struct anon_spec *s = t->s;
	size_t pool0 = t->npool;
	struct gather g = {.t = t, .why = why, .whylen = whylen};
	int rc = -1;

	assert(!t->finished);
	if (t->nrows >= ANON_MAX_ROWS) {
		snprintf(why, whylen, "more than %lu members", ANON_MAX_ROWS);
		return -1;
	}
	if (t->nrows == t->cap_rows) {
		size_t c = t->cap_rows ? t->cap_rows * 2 : 1024;
		uint32_t *p = realloc(t->cells, c * s->ncolumns * sizeof(uint32_t));
		if (p == NULL)
			goto nomem;
		t->cells = p;
		t->cap_rows = c;
	}
	for (size_t c = 0; c < s->ncolumns; c++) {
		g.col = &s->columns[c];
		g.vals = &t->vals[c];
		g.n = 0;
		if (gather_walk(&g, record, 0) != 0)
			goto fail;
		if (t->npool + g.n + 1 > UINT32_MAX ||
		    grow(&t->pool, t->npool, &t->cap_pool, g.n + 1) != 0)
			goto nomem;
		t->cells[t->nrows * s->ncolumns + c] = (uint32_t)t->npool;
		t->pool[t->npool++] = (uint32_t)g.n;
		memcpy(t->pool + t->npool, g.ids, g.n * sizeof(uint32_t));
		t->npool += g.n;
	}
	t->nrows++;
	rc = 0;
	goto done;
nomem:
	snprintf(why, whylen, "out of memory");
fail:
	t->npool = pool0; /* the values interned stay, unused: harmless */
done:
	free(g.ids);
	return rc;
}

/* The set of row r, column c: its size, and its ids after it. */
static const uint32_t *
cell(const struct anon_table *t, size_t r, size_t c)
{
	return t->pool + t->cells[r * t->s->ncolumns + c];
}

/* A uniform index in [0, n) from OpenSSL's generator, drawn from rnd[] refilled as needed.
 * 0 or -1. */
struct draw {
	uint64_t rnd[256];
	size_t left;
};

static int
draw_below(struct draw *d, uint64_t n, uint64_t *out)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* below it, v % n is uniform */

	for (;;) {
		if (d->left == 0) {
			if (RAND_bytes((unsigned char *)d->rnd, sizeof(d->rnd)) != 1)
				return -1;
			d->left = NELEM(d->rnd);
		}
		uint64_t v = d->rnd[--d->left];
		if (v < limit) {
			*out = v % n;
			return 0;
		}
	}
}

/* The rows kept, in a random order: Fisher-Yates. 0 or -1. */
static int
shuffle(uint32_t *v, size_t n)
{
	struct draw *d = calloc(1, sizeof(*d));
	int rc = 0;

	if (d == NULL)
		return -1;
	for (size_t i = n; i > 1 && rc == 0; i--) {
		uint64_t j;
		if ((rc = draw_below(d, i, &j)) == 0) {
			uint32_t x = v[i - 1];
			v[i - 1] = v[j];
			v[j] = x;
		}
	}
	OPENSSL_cleanse(d, sizeof(*d));
	free(d);
	return rc;
}

/* Each row's group: the combination of its quasi-identifier sets, numbered. 0 or -1. */
static int
group_rows(const struct anon_table *t, uint32_t *group, uint32_t **size, size_t *ngroups)
{
	struct strtab tab = {0};
	struct buf key = {0};
	size_t cap = 0;
	int rc = -1;

	*size = NULL;
	*ngroups = 0;
	for (size_t r = 0; r < t->nrows; r++) {
		buf_reset(&key);
		for (size_t c = 0; c < t->s->nquasi; c++) {
			const uint32_t *set = cell(t, r, c);
			for (uint32_t i = 1; i <= set[0]; i++)
				buf_printf(&key, "%" PRIu32 ",", set[i]);
			buf_add(&key, "|", 1);
		}
		if (key.bad)
			goto done;
		int64_t g = strtab_get(&tab, key.data);
		if (g < 0) {
			g = (int64_t)*ngroups;
			if (grow(size, *ngroups, &cap, 1) != 0 ||
			    strtab_put(&tab, key.data, (uint32_t)g) != 0)
				goto done;
			(*size)[(*ngroups)++] = 0;
		}
		group[r] = (uint32_t)g;
		(*size)[g]++;
	}
	rc = 0;
done:
	buf_free(&key);
	strtab_free(&tab);
	return rc;
}

int
anon_table_finish(struct anon_table *t, struct anon_stats *st)
{
	const struct anon_spec *s = t->s;
	uint32_t *group = NULL, *size = NULL;
	size_t ngroups = 0;
	int rc = -1;

	assert(!t->finished);
	memset(st, 0, sizeof(*st));
	st->rows_in = t->nrows;
	if ((group = malloc((t->nrows ? t->nrows : 1) * sizeof(uint32_t))) == NULL ||
	    (t->order = malloc((t->nrows ? t->nrows : 1) * sizeof(uint32_t))) == NULL ||
	    group_rows(t, group, &size, &ngroups) != 0)
		goto done;
	for (size_t g = 0; g < ngroups; g++) {
		if (size[g] >= s->k)
			st->groups++;
		else
			st->groups_suppressed++;
	}
	t->nkept = 0;
	for (size_t r = 0; r < t->nrows; r++) {
		if (size[group[r]] >= s->k)
			t->order[t->nkept++] = (uint32_t)r;
		else
			st->suppressed++;
	}
	st->rows = t->nkept;
	/* How many of the rows kept hold each value (a set holds a value once); an attribute's
	 * rare ones are replaced when written. */
	for (size_t c = 0; c < s->ncolumns; c++) {
		if ((t->count[c] = calloc(t->vals[c].n ? t->vals[c].n : 1, sizeof(uint32_t))) ==
		    NULL)
			goto done;
		for (size_t k = 0; k < t->nkept; k++) {
			const uint32_t *set = cell(t, t->order[k], c);
			for (uint32_t i = 1; i <= set[0]; i++)
				t->count[c][set[i]]++;
		}
		for (size_t v = 0; v < t->vals[c].n; v++) {
			uint32_t n = t->count[c][v];
			if (n >= s->k || (c < s->nquasi && n > 0)) {
				st->distinct_by[c]++;
			} else if (c >= s->nquasi) {
				st->replaced_by[c] += n;
				st->replaced += n;
			}
		}
	}
	if (shuffle(t->order, t->nkept) != 0)
		goto done;
	t->finished = true;
	rc = 0;
done:
	free(group);
	free(size);
	return rc;
}

/* One cell's text: its values joined, an attribute's rare ones replaced by その他 (once, last). */
static void
cell_text(const struct anon_table *t, size_t r, size_t c, struct buf *out)
{
	const uint32_t *set = cell(t, r, c);
	bool other = false, first = true;

	buf_reset(out);
	for (uint32_t i = 1; i <= set[0]; i++) {
		if (c >= t->s->nquasi && t->count[c][set[i]] < t->s->k) {
			other = true;
			continue;
		}
		if (!first)
			buf_str(out, ANON_SEPARATOR);
		buf_str(out, t->vals[c].v[set[i]]);
		first = false;
	}
	if (other) {
		if (!first)
			buf_str(out, ANON_SEPARATOR);
		buf_str(out, ANON_OTHER);
	}
}

int
anon_table_csv(const struct anon_table *t, struct buf *out)
{
	const struct anon_spec *s = t->s;
	struct buf v = {0};

	assert(t->finished);
	csv_start(out);
	for (size_t c = 0; c < s->ncolumns; c++)
		csv_field(out, s->columns[c].item, c + 1 == s->ncolumns);
	for (size_t k = 0; k < t->nkept && !out->bad; k++) {
		for (size_t c = 0; c < s->ncolumns; c++) {
			cell_text(t, t->order[k], c, &v);
			csv_field(out, v.data ? v.data : "", c + 1 == s->ncolumns);
		}
	}
	bool bad = v.bad || out->bad;
	buf_free(&v);
	return bad ? -1 : 0;
}
