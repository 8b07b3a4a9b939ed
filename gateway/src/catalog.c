/* catalog — the purposes of use and the member-record field catalog, checked at load. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "catalog.h"
#include "errlist.h"
#include "ident.h"
#include "strtab.h"

#define ID_MAX 64
#define LABEL_MAX_CHARS 1024 /* source, ja, en */
#define PATH_MAX_LEN 128
#define SEGMENT_MAX 32
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct field_store {
	struct catalog_field f;
	char *path;   /* owned: f.path */
	char *ja;     /* owned: f.ja */
	char *segbuf; /* owned: the segment names, NUL-separated */
};

struct purpose_store {
	struct catalog_purpose p;
	char *id, *ja, *en; /* owned */
};

struct catalog {
	struct purpose_store *purposes;
	size_t npurposes;
	struct field_store *fields;
	size_t nfields;
};

static const char *const kind_names[] = {
    [CATALOG_KIND_ORDINARY] = "ordinary",   [CATALOG_KIND_STATISTICAL] = "statistical",
    [CATALOG_KIND_CONSENT] = "consent",     [CATALOG_KIND_EXCEPTION] = "exception",
    [CATALOG_KIND_MY_NUMBER] = "my_number",
};
static const char *const type_names[] = {
    [CATALOG_TYPE_STRING] = "string",
    [CATALOG_TYPE_DATE] = "date",
    [CATALOG_TYPE_BOOLEAN] = "boolean",
    [CATALOG_TYPE_STRINGS] = "strings",
};
static const char *const class_names[] = {
    [CATALOG_CLASS_IDENTIFIER] = "identifier", [CATALOG_CLASS_NAME] = "name",
    [CATALOG_CLASS_CONTACT] = "contact",       [CATALOG_CLASS_DEMOGRAPHIC] = "demographic",
    [CATALOG_CLASS_IMAGE] = "image",           [CATALOG_CLASS_MEMBERSHIP] = "membership",
    [CATALOG_CLASS_MY_NUMBER] = "my_number",   [CATALOG_CLASS_INTERNAL] = "internal",
};

const char *
catalog_kind_name(enum catalog_kind k)
{
	return strtab_name(kind_names, NELEM(kind_names), (size_t)k);
}

const char *
catalog_class_name(enum catalog_class k)
{
	return strtab_name(class_names, NELEM(class_names), (size_t)k);
}

void
catalog_free(struct catalog *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->npurposes; i++) {
		free(c->purposes[i].id);
		free(c->purposes[i].ja);
		free(c->purposes[i].en);
	}
	for (size_t i = 0; i < c->nfields; i++) {
		free(c->fields[i].path);
		free(c->fields[i].ja);
		free(c->fields[i].segbuf);
	}
	free(c->purposes);
	free(c->fields);
	free(c);
}

static void
check_version(struct errlist *el, const char *file, json_t *root)
{
	json_t *v = json_object_get(root, "version");
	if (v == NULL)
		errlist_add(el, file, "$.version", "missing");
	else if (!json_is_integer(v) || json_integer_value(v) != 1)
		errlist_add(el, file, "$.version", "must be 1");
}

/* A catalog file's top object, its keys known and "version": 1. The root (caller decrefs), or
 * NULL if the file did not parse; every problem is added. */
static json_t *
open_file(struct errlist *el, const char *file, const char *buf, size_t len,
          const char *const *top_keys)
{
	json_t *root = errlist_parse_object(el, file, buf, len);

	if (root != NULL) {
		errlist_unknown_keys(el, file, "$", root, top_keys);
		check_version(el, file, root);
	}
	return root;
}

/*
 * The entries of a catalog file, the array root.key: it must not be empty. Returns room for
 * them, size bytes each and zeroed (caller frees), with the array in *arr (borrowed from root);
 * NULL with the error added otherwise.
 */
static void *
entries(struct errlist *el, const char *file, json_t *root, const char *key, size_t size,
        json_t **arr)
{
	char p[ERRLIST_PATH_MAX];
	void *room;

	*arr = json_object_get(root, key);
	if (!json_is_array(*arr) || json_array_size(*arr) == 0) {
		errlist_path_key(p, sizeof(p), "$", key);
		errlist_add(el, file, p, "must be a non-empty array");
		return NULL;
	}
	room = calloc(json_array_size(*arr), size);
	if (room == NULL)
		errlist_add(el, file, NULL, "out of memory");
	return room;
}

/* Entry i of the array root.key, with its path in p and its unknown keys added; NULL after
 * "must be an object". */
static json_t *
entry(struct errlist *el, const char *file, const char *key, json_t *arr, size_t i,
      const char *const *keys, char p[ERRLIST_PATH_MAX])
{
	char ap[ERRLIST_PATH_MAX];
	json_t *o = json_array_get(arr, i);

	errlist_path_key(ap, sizeof(ap), "$", key);
	errlist_path_index(p, ERRLIST_PATH_MAX, ap, i);
	if (!json_is_object(o)) {
		errlist_add(el, file, p, "must be an object");
		return NULL;
	}
	errlist_unknown_keys(el, file, p, o, keys);
	return o;
}

/* Calls one(c, el, file, o, p, i, n) for each entry i of the n in arr (the array root.key)
 * that is an object, o with its path p; the others added as errors. */
static void
each_entry(struct catalog *c, struct errlist *el, const char *file, const char *key, json_t *arr,
           const char *const *keys,
           void (*one)(struct catalog *c, struct errlist *el, const char *file, json_t *o,
                       const char *p, size_t i, size_t n))
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char p[ERRLIST_PATH_MAX];
		json_t *o = entry(el, file, key, arr, i, keys, p);
		if (o != NULL)
			one(c, el, file, o, p, i, json_array_size(arr));
	}
}

/* The index of value in names[0..n), or -1: absent (NULL), or none of them, added as
 * "$.p.key: must be <must>". */
static int
name_index(struct errlist *el, const char *file, const char *p, const char *key, const char *value,
           const char *const *names, size_t n, const char *must)
{
	char pk[ERRLIST_PATH_MAX];
	int k;

	if (value == NULL)
		return -1;
	if ((k = strtab_index(names, n, value)) < 0) {
		errlist_path_key(pk, sizeof(pk), p, key);
		errlist_add(el, file, pk, "must be %s", must);
	}
	return k;
}

/* One entry of purposes.json, at path p. */
static void
parse_purpose(struct catalog *c, struct errlist *el, const char *file, json_t *o, const char *p,
              size_t i, size_t n)
{
	char pk[ERRLIST_PATH_MAX];
	const char *id = errlist_get_bytes(el, file, p, o, "id", ID_MAX, true);
	const char *kind = errlist_get_bytes(el, file, p, o, "kind", ID_MAX, true);
	const char *ja = errlist_get_text(el, file, p, o, "ja", LABEL_MAX_CHARS, true);
	const char *en = errlist_get_text(el, file, p, o, "en", LABEL_MAX_CHARS, true);

	(void)i;
	if (id != NULL && !ident_purpose_ok(id, strlen(id))) {
		errlist_path_key(pk, sizeof(pk), p, "id");
		errlist_add(el, file, pk, "must match " IDENT_PURPOSE_PATTERN);
		id = NULL;
	}
	if (id != NULL)
		for (size_t j = 0; j < c->npurposes; j++)
			if (strcmp(c->purposes[j].id, id) == 0) {
				errlist_path_key(pk, sizeof(pk), p, "id");
				errlist_add(el, file, pk, "duplicate purpose \"%s\"", id);
				id = NULL;
				break;
			}
	int k = name_index(el, file, p, "kind", kind, kind_names, NELEM(kind_names),
	                   "ordinary, statistical, consent, exception or my_number");
	if (id == NULL || k < 0 || ja == NULL || en == NULL)
		return;
	assert(c->npurposes < n); /* entries made room for each */
	struct purpose_store *ps = &c->purposes[c->npurposes];
	ps->id = strdup(id);
	ps->ja = strdup(ja);
	ps->en = strdup(en);
	c->npurposes++;
	if (ps->id == NULL || ps->ja == NULL || ps->en == NULL) {
		errlist_add(el, file, NULL, "out of memory");
		return;
	}
	ps->p = (struct catalog_purpose){.id = ps->id,
	                                 .ja = ps->ja,
	                                 .en = ps->en,
	                                 .kind = (enum catalog_kind)k,
	                                 .index = c->npurposes - 1};
}

static void
parse_purposes(struct catalog *c, struct errlist *el, const char *file, const char *buf, size_t len)
{
	static const char *const top_keys[] = {"version", "source", "purposes", NULL};
	static const char *const keys[] = {"id", "kind", "ja", "en", NULL};
	json_t *arr, *root = open_file(el, file, buf, len, top_keys);
	if (root == NULL)
		return;
	errlist_get_text(el, file, "$", root, "source", LABEL_MAX_CHARS, false);
	c->purposes = entries(el, file, root, "purposes", sizeof(*c->purposes), &arr);
	if (c->purposes != NULL)
		each_entry(c, el, file, "purposes", arr, keys, parse_purpose);
	json_decref(root);
}

/*
 * Splits "courses[].code" into segments. Grammar: segment ("." segment)*, segment =
 * [a-z][a-z0-9_]{0,31} with an optional "[]" on every segment but the last. Returns a message
 * or NULL.
 */
static const char *
split_path(const char *path, struct catalog_field *f, char **segbuf)
{
	size_t n = strlen(path);
	if (n == 0 || n > PATH_MAX_LEN)
		return "must be 1 to 128 characters";
	char *b = strdup(path);
	if (b == NULL)
		return "out of memory";
	f->nsegments = 0;
	char *s = b;
	for (;;) {
		if (f->nsegments == CATALOG_MAX_SEGMENTS)
			goto bad_depth;
		char *dot = strchr(s, '.');
		if (dot != NULL)
			*dot = '\0';
		size_t sl = strlen(s);
		bool arr = false;
		if (sl >= 2 && s[sl - 2] == '[' && s[sl - 1] == ']') {
			arr = true;
			s[sl - 2] = '\0';
			sl -= 2;
		}
		if (sl == 0 || sl > SEGMENT_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
			goto bad;
		for (size_t i = 0; i < sl; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
			      s[i] == '_'))
				goto bad;
		f->segments[f->nsegments].name = s;
		f->segments[f->nsegments].array = arr;
		f->nsegments++;
		if (dot == NULL) {
			if (arr)
				goto bad_last;
			break;
		}
		s = dot + 1;
	}
	*segbuf = b;
	return NULL;
bad:
	free(b);
	return "must be dot-separated names [a-z][a-z0-9_]{0,31}, \"[]\" after an array's name";
bad_depth:
	free(b);
	return "has more than 8 segments";
bad_last:
	free(b);
	return "must end in a value, not an array of objects ([] only inside a path)";
}

/* True if a and b share their first k segments (names and array marks). */
static bool
same_prefix(const struct catalog_field *a, const struct catalog_field *b, size_t k)
{
	if (a->nsegments < k || b->nsegments < k)
		return false;
	for (size_t i = 0; i < k; i++)
		if (strcmp(a->segments[i].name, b->segments[i].name) != 0 ||
		    a->segments[i].array != b->segments[i].array)
			return false;
	return true;
}

/* Structural checks across leaves: a path is either a leaf or an object, an object is either
 * an array or not, and the leaves under one object are listed together (catalog_expand relies
 * on that). */
static void
check_structure(struct catalog *c, struct errlist *el, const char *file)
{
	for (size_t i = 0; i < c->nfields; i++) {
		const struct catalog_field *a = &c->fields[i].f;
		char p[ERRLIST_PATH_MAX];
		errlist_path_index(p, sizeof(p), "$.fields", a->index);
		for (size_t j = 0; j < i; j++) {
			const struct catalog_field *b = &c->fields[j].f;
			size_t k = 0;
			while (k < a->nsegments && k < b->nsegments &&
			       strcmp(a->segments[k].name, b->segments[k].name) == 0) {
				bool a_last = k + 1 == a->nsegments, b_last = k + 1 == b->nsegments;
				if (a_last && b_last) {
					errlist_add(el, file, p, "duplicate path \"%s\"", a->path);
					break;
				}
				if (a_last || b_last) {
					errlist_add(
					    el, file, p,
					    "\"%s\" and \"%s\": a path cannot be both a value "
					    "and an object",
					    a->path, b->path);
					break;
				}
				if (a->segments[k].array != b->segments[k].array) {
					errlist_add(
					    el, file, p,
					    "\"%s\" and \"%s\": \"%s\" cannot be both an array "
					    "and an object",
					    a->path, b->path, a->segments[k].name);
					break;
				}
				k++;
			}
		}
		if (i == 0)
			continue;
		const struct catalog_field *prev = &c->fields[i - 1].f;
		for (size_t k = 1; k < a->nsegments; k++) {
			if (same_prefix(a, prev, k))
				continue;
			for (size_t j = 0; j + 1 < i; j++)
				if (same_prefix(a, &c->fields[j].f, k)) {
					errlist_add(
					    el, file, p,
					    "\"%s\": the fields under \"%s\" must be listed "
					    "together",
					    a->path, a->segments[k - 1].name);
					goto next;
				}
		}
	next:;
	}
}

/* One entry of fields.json, entry i at path p. */
static void
parse_field(struct catalog *c, struct errlist *el, const char *file, json_t *o, const char *p,
            size_t i, size_t n)
{
	char pk[ERRLIST_PATH_MAX];
	const char *path = errlist_get_bytes(el, file, p, o, "path", PATH_MAX_LEN, true);
	const char *cls = errlist_get_bytes(el, file, p, o, "class", ID_MAX, true);
	const char *type = errlist_get_bytes(el, file, p, o, "type", ID_MAX, true);
	const char *ja = errlist_get_text(el, file, p, o, "ja", LABEL_MAX_CHARS, true);
	int k = name_index(el, file, p, "class", cls, class_names, NELEM(class_names),
	                   "identifier, name, contact, demographic, image, membership, "
	                   "my_number or internal");
	int t = name_index(el, file, p, "type", type, type_names, NELEM(type_names),
	                   "string, date, boolean or strings");

	if (path == NULL || k < 0 || t < 0 || ja == NULL)
		return;
	assert(c->nfields < n);
	struct field_store *fs = &c->fields[c->nfields];
	const char *msg = split_path(path, &fs->f, &fs->segbuf);
	if (msg != NULL) {
		errlist_path_key(pk, sizeof(pk), p, "path");
		errlist_add(el, file, pk, "%s", msg);
		return;
	}
	fs->path = strdup(path);
	fs->ja = strdup(ja);
	c->nfields++;
	if (fs->path == NULL || fs->ja == NULL) {
		errlist_add(el, file, NULL, "out of memory");
		return;
	}
	fs->f.path = fs->path;
	fs->f.ja = fs->ja;
	fs->f.cls = (enum catalog_class)k;
	fs->f.type = (enum catalog_type)t;
	fs->f.index = i;
}

static void
parse_fields(struct catalog *c, struct errlist *el, const char *file, const char *buf, size_t len)
{
	static const char *const top_keys[] = {"version", "fields", NULL};
	static const char *const keys[] = {"path", "class", "type", "ja", NULL};
	size_t before = errlist_count(el);
	json_t *arr, *root = open_file(el, file, buf, len, top_keys);
	if (root == NULL)
		return;
	c->fields = entries(el, file, root, "fields", sizeof(*c->fields), &arr);
	if (c->fields != NULL)
		each_entry(c, el, file, "fields", arr, keys, parse_field);
	if (errlist_count(el) == before) {
		check_structure(c, el, file);
		const struct catalog_field *id = catalog_field(c, "member_id");
		if (id == NULL || id->type != CATALOG_TYPE_STRING)
			errlist_add(
			    el, file, "$.fields",
			    "must list \"member_id\" of type string: records are checked by it");
	}
	json_decref(root);
}

/* catalog_load's parse of the bytes read; the names only label the errors. */
static struct catalog *
catalog_parse(const char *purposes_name, const char *purposes, size_t purposes_len,
              const char *fields_name, const char *fields, size_t fields_len, char **errors)
{
	struct errlist *el = errlist_new();
	struct catalog *c = calloc(1, sizeof(*c));
	*errors = NULL;
	if (el == NULL || c == NULL) {
		free(c);
		errlist_free(el);
		*errors = strdup("out of memory");
		return NULL;
	}
	parse_purposes(c, el, purposes_name, purposes, purposes_len);
	parse_fields(c, el, fields_name, fields, fields_len);
	if (errlist_count(el) != 0) {
		*errors = errlist_take(el);
		if (*errors == NULL)
			*errors = strdup("out of memory");
		catalog_free(c);
		c = NULL;
	} else {
		/* Indices must match positions once no entry was skipped. */
		for (size_t i = 0; i < c->npurposes; i++)
			assert(c->purposes[i].p.index == i);
		for (size_t i = 0; i < c->nfields; i++)
			assert(c->fields[i].f.index == i);
	}
	errlist_free(el);
	return c;
}

struct catalog *
catalog_load(const char *purposes_file, const char *fields_file, char **errors)
{
	struct errlist *el = errlist_new();
	char *pb = NULL, *fb = NULL;
	size_t pl = 0, fl = 0;
	struct catalog *c = NULL;

	*errors = NULL;
	if (el == NULL) {
		*errors = strdup("out of memory");
		return NULL;
	}
	errlist_read_file(el, purposes_file, CATALOG_MAX_FILE_BYTES, &pb, &pl);
	errlist_read_file(el, fields_file, CATALOG_MAX_FILE_BYTES, &fb, &fl);
	if (errlist_count(el) != 0) {
		*errors = errlist_take(el);
		goto done;
	}
	c = catalog_parse(purposes_file, pb, pl, fields_file, fb, fl, errors);
done:
	free(pb);
	free(fb);
	errlist_free(el);
	return c;
}

const struct catalog_purpose *
catalog_purpose(const struct catalog *c, const char *id)
{
	for (size_t i = 0; i < c->npurposes; i++)
		if (strcmp(c->purposes[i].p.id, id) == 0)
			return &c->purposes[i].p;
	return NULL;
}

const struct catalog_field *
catalog_field(const struct catalog *c, const char *path)
{
	for (size_t i = 0; i < c->nfields; i++)
		if (strcmp(c->fields[i].f.path, path) == 0)
			return &c->fields[i].f;
	return NULL;
}

const struct catalog_field *
catalog_item_field(const struct catalog *c, const char *item)
{
	size_t k = strcspn(item, ":");

	for (size_t i = 0; i < c->nfields; i++)
		if (strncmp(c->fields[i].f.path, item, k) == 0 && c->fields[i].f.path[k] == '\0')
			return &c->fields[i].f;
	return NULL;
}

size_t
catalog_nfields(const struct catalog *c)
{
	return c->nfields;
}

const struct catalog_field *
catalog_field_at(const struct catalog *c, size_t i)
{
	assert(i < c->nfields);
	return &c->fields[i].f;
}

size_t
catalog_expand(const struct catalog *c, const char *path, size_t *first)
{
	size_t n = strlen(path), count = 0;
	/* "courses[]" names the same leaves as "courses". */
	int arr = n >= 2 && path[n - 2] == '[' && path[n - 1] == ']';
	size_t base = arr ? n - 2 : n;

	*first = 0;
	if (base == 0)
		return 0;
	for (size_t i = 0; i < c->nfields; i++) {
		const char *p = c->fields[i].f.path;
		int match;
		if (arr)
			match = strncmp(p, path, n) == 0 && p[n] == '.';
		else
			match = strncmp(p, path, n) == 0 &&
			        (p[n] == '\0' || p[n] == '.' || p[n] == '[');
		if (!match)
			continue;
		if (count == 0)
			*first = i;
		/* Contiguity is checked at load. */
		assert(*first + count == i);
		count++;
	}
	return count;
}
