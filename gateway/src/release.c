/* release — the checked member record and the answer built afresh from it (SPEC 6, 9.3); no I/O. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cal.h"
#include "policy.h"
#include "release.h"
#include "ujson.h"
#include "utf8.h"

/* What to do with a leaf's value once found. */
struct walk {
	const struct contract_field *spec; /* NULL while checking the origin record */
	const struct pseudo_key *key;      /* the contract's pseudonym key */
	time_t now;
	bool emitted;    /* a value of this leaf reached the output */
	enum apierr err; /* why the walk stopped */
	char *why;
	size_t whylen;
};

static int fail(struct walk *w, enum apierr e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct walk *w, enum apierr e, const char *fmt, ...)
{
	va_list ap;
	w->err = e;
	va_start(ap, fmt);
	vsnprintf(w->why, w->whylen, fmt, ap);
	va_end(ap);
	return -1;
}

char *
release_mask(const char *s, size_t len, unsigned keep_last)
{
	long count = utf8_count(s, len);
	if (count < 0)
		return NULL;
	if ((unsigned long)count <= keep_last)
		return strndup(s, len);
	size_t stars = (size_t)count - keep_last, i = 0;
	/* Skip the code points that become stars; the rest is kept byte for byte. */
	for (size_t k = 0; k < stars; k++) {
		uint32_t cp;
		i += utf8_decode(s + i, len - i, &cp);
	}
	char *out = malloc(stars + (len - i) + 1);
	if (out == NULL)
		return NULL;
	memset(out, '*', stars);
	memcpy(out + stars, s + i, len - i);
	out[stars + len - i] = '\0';
	return out;
}

char *
release_prefix(const char *s, size_t len, unsigned n)
{
	if (utf8_count(s, len) < 0)
		return NULL;
	size_t i = 0;
	for (unsigned k = 0; k < n && i < len; k++) {
		uint32_t cp;
		i += utf8_decode(s + i, len - i, &cp);
	}
	return strndup(s, i);
}

int
release_age_band(const char *birth, time_t now, unsigned n, char *out, size_t outlen)
{
	int by, bm, bd, y, m, d;
	if (n == 0 || cal_parse_date(birth, strlen(birth), &by, &bm, &bd) != 0)
		return -1;
	/* The day of release in Japan: floor division, as now may in principle be negative. */
	long long t = (long long)now + CAL_JST_OFFSET;
	long long day = t / 86400 - (t % 86400 < 0);
	cal_civil_from_days(day, &y, &m, &d);
	/* One is a year older from one's birthday on; a 29 February birthday counts from
	 * 1 March in other years (年齢計算ニ関スル法律 gives the same day). */
	int age = y - by - ((m < bm || (m == bm && d < bd)) ? 1 : 0);
	if (age < 0)
		return -1;
	int lo = age / (int)n * (int)n;
	snprintf(out, outlen, "%d-%d", lo, lo + (int)n - 1);
	return 0;
}

/* A fresh copy of a checked leaf value of the catalog's type; NULL with w->err on a mismatch. */
static json_t *
checked_value(struct walk *w, const struct catalog_field *f, const json_t *v)
{
	int y, m, d;
	switch (f->type) {
	case CATALOG_TYPE_STRING:
		if (json_is_string(v))
			return json_stringn(json_string_value(v), json_string_length(v));
		break;
	case CATALOG_TYPE_DATE:
		if (json_is_string(v) &&
		    cal_parse_date(json_string_value(v), json_string_length(v), &y, &m, &d) == 0)
			return json_stringn(json_string_value(v), json_string_length(v));
		fail(w, APIERR_ORIGIN_INVALID, "origin record: %s is not a date YYYY-MM-DD",
		     f->path);
		return NULL;
	case CATALOG_TYPE_BOOLEAN:
		if (json_is_boolean(v))
			return json_boolean(json_is_true(v));
		break;
	case CATALOG_TYPE_STRINGS:
		if (json_is_array(v)) {
			json_t *a = json_array();
			size_t i;
			json_t *e;
			if (a == NULL)
				break;
			json_array_foreach((json_t *)v, i, e)
			{
				if (!json_is_string(e) ||
				    json_array_append_new(a, json_stringn(json_string_value(e),
				                                          json_string_length(e))) !=
				        0) {
					json_decref(a);
					a = NULL;
					break;
				}
			}
			if (a != NULL)
				return a;
		}
		break;
	}
	fail(w, APIERR_ORIGIN_INVALID, "origin record: %s has the wrong type", f->path);
	return NULL;
}

/* The released form of a checked value under the walk's transform. */
static json_t *
transformed(struct walk *w, const struct catalog_field *f, const json_t *v)
{
	json_t *c = checked_value(w, f, v);
	if (c == NULL || w->spec == NULL || w->spec->transform == CONTRACT_TF_NONE)
		return c;
	const char *s = json_string_value(c);
	size_t len = json_string_length(c);
	char buf[PSEUDO_HEX + 1 > 32 ? PSEUDO_HEX + 1 : 32];
	char *dyn = NULL;
	json_t *out = NULL;
	switch (w->spec->transform) {
	case CONTRACT_TF_NONE:
		break;
	case CONTRACT_TF_PSEUDONYM:
		if (pseudo_apply(w->key, s, len, buf) == 0)
			out = json_string(buf);
		else
			fail(w, APIERR_INTERNAL, "pseudonym of %s failed", f->path);
		break;
	case CONTRACT_TF_MASK:
	case CONTRACT_TF_PREFIX:
		dyn = w->spec->transform == CONTRACT_TF_MASK ? release_mask(s, len, w->spec->arg)
		                                             : release_prefix(s, len, w->spec->arg);
		if (dyn != NULL)
			out = json_string(dyn);
		else
			fail(w, APIERR_ORIGIN_INVALID, "origin record: %s is not valid UTF-8",
			     f->path);
		free(dyn);
		break;
	case CONTRACT_TF_YEAR:
		out = json_stringn(s, 4); /* checked_value made sure it is YYYY-MM-DD */
		break;
	case CONTRACT_TF_AGE_BAND:
		if (release_age_band(s, w->now, w->spec->arg, buf, sizeof(buf)) == 0)
			out = json_string(buf);
		else
			fail(w, APIERR_ORIGIN_INVALID,
			     "origin record: %s lies after the day of release", f->path);
		break;
	}
	json_decref(c);
	if (out == NULL && w->err == APIERR_NONE)
		fail(w, APIERR_INTERNAL, "out of memory at %s", f->path);
	return out;
}

/*
 * Copies the leaf f from the object in to the object out, from segment i on, creating the
 * objects and arrays of objects on the way where the input has them. Absent and null values
 * are skipped; a container of the wrong kind stops the walk.
 */
static int
put(struct walk *w, json_t *out, const json_t *in, const struct catalog_field *f, size_t i)
{
	const struct catalog_segment *sg = &f->segments[i];
	json_t *v = json_object_get(in, sg->name);
	if (v == NULL || json_is_null(v))
		return 0;
	if (i + 1 == f->nsegments) {
		json_t *nv = transformed(w, f, v);
		if (nv == NULL)
			return -1;
		if (json_object_set_new(out, sg->name, nv) != 0)
			return fail(w, APIERR_INTERNAL, "out of memory at %s", f->path);
		w->emitted = true;
		return 0;
	}
	json_t *o = json_object_get(out, sg->name);
	if (sg->array) {
		if (!json_is_array(v))
			return fail(w, APIERR_ORIGIN_INVALID,
			            "origin record: %s is not in an array", f->path);
		if (o == NULL) {
			o = json_array();
			if (o == NULL || json_object_set_new(out, sg->name, o) != 0)
				return fail(w, APIERR_INTERNAL, "out of memory at %s", f->path);
			for (size_t k = 0; k < json_array_size(v); k++)
				if (json_array_append_new(o, json_object()) != 0)
					return fail(w, APIERR_INTERNAL, "out of memory at %s",
					            f->path);
		}
		size_t k;
		json_t *e;
		json_array_foreach(v, k, e)
		{
			if (!json_is_object(e))
				return fail(w, APIERR_ORIGIN_INVALID,
				            "origin record: an element on the way to %s is not an "
				            "object",
				            f->path);
			if (put(w, json_array_get(o, k), e, f, i + 1) != 0)
				return -1;
		}
		return 0;
	}
	if (!json_is_object(v))
		return fail(w, APIERR_ORIGIN_INVALID, "origin record: %s is not in an object",
		            f->path);
	if (o == NULL) {
		o = json_object();
		if (o == NULL || json_object_set_new(out, sg->name, o) != 0)
			return fail(w, APIERR_INTERNAL, "out of memory at %s", f->path);
	}
	return put(w, o, v, f, i + 1);
}

enum apierr
release_origin(const struct catalog *cat, const char *bytes, size_t len, size_t max_bytes,
               const char *member_id, json_t **record, char *why, size_t whylen)
{
	char reason[160];
	struct walk w = {.err = APIERR_NONE, .why = why, .whylen = whylen};
	json_t *root, *out = NULL;

	*record = NULL;
	snprintf(why, whylen, "ok");
	root = ujson_parse(bytes, len, max_bytes, RELEASE_MAX_DEPTH, reason, sizeof(reason));
	if (root == NULL) {
		snprintf(why, whylen, "origin record: %s", reason);
		return APIERR_ORIGIN_INVALID;
	}
	if (!json_is_object(root)) {
		snprintf(why, whylen, "origin record: not a JSON object");
		goto invalid;
	}
	/* ujson's pre-scan bounds the depth; this check is the definition, on the parsed tree. */
	if (ujson_depth(root) > RELEASE_MAX_DEPTH) {
		snprintf(why, whylen, "origin record: nesting deeper than %d", RELEASE_MAX_DEPTH);
		goto invalid;
	}
	json_t *id = json_object_get(root, "member_id");
	if (!json_is_string(id) || strcmp(json_string_value(id), member_id) != 0 ||
	    strlen(member_id) != json_string_length(id)) {
		snprintf(why, whylen, "origin record: member_id is not the one asked for");
		goto invalid;
	}
	out = json_object();
	if (out == NULL) {
		snprintf(why, whylen, "out of memory");
		json_decref(root);
		return APIERR_INTERNAL;
	}
	for (size_t i = 0; i < catalog_nfields(cat); i++)
		if (put(&w, out, root, catalog_field_at(cat, i), 0) != 0) {
			json_decref(out);
			json_decref(root);
			return w.err;
		}
	json_decref(root);
	*record = out;
	return APIERR_NONE;
invalid:
	json_decref(root);
	return APIERR_ORIGIN_INVALID;
}

/* Whether the transform can take the leaf's type; a contract file is checked the same way. */
static bool
transform_fits(const struct contract_field *cf)
{
	enum catalog_type t = cf->leaf->type;
	switch (cf->transform) {
	case CONTRACT_TF_NONE:
		return true;
	case CONTRACT_TF_PSEUDONYM:
	case CONTRACT_TF_MASK:
	case CONTRACT_TF_PREFIX:
		return t == CATALOG_TYPE_STRING;
	case CONTRACT_TF_YEAR:
		return t == CATALOG_TYPE_DATE;
	case CONTRACT_TF_AGE_BAND:
		return t == CATALOG_TYPE_DATE && cf->leaf->cls == CATALOG_CLASS_DEMOGRAPHIC &&
		       cf->arg > 0;
	}
	return false;
}

enum apierr
release_build(const struct contract *c, const struct contract_purpose *p, const json_t *record,
              const struct pseudo *pseudo, time_t now, json_t **body, json_t **items, char *why,
              size_t whylen)
{
	struct pseudo_key key;
	struct walk w = {.key = &key, .now = now, .err = APIERR_NONE, .why = why, .whylen = whylen};
	json_t *out = NULL, *list = NULL;
	bool have_key = false;

	*body = NULL;
	*items = NULL;
	snprintf(why, whylen, "ok");
	if (p->purpose == NULL || !json_is_object(record)) {
		snprintf(why, whylen, "release without a checked purpose or record");
		return APIERR_INTERNAL;
	}
	/* The contract loader enforces these; checking again here means a contract built by any
	 * other path still cannot release what the hard rules forbid. */
	for (size_t i = 0; i < p->nfields; i++) {
		const struct contract_field *cf = &p->fields[i];
		const char *m = policy_hard_rule(cf->leaf, p->purpose, c->relationship,
		                                 c->my_number_permitted, cf->transform);
		if (m != NULL || !transform_fits(cf)) {
			snprintf(why, whylen, "contract %s, %s: %s", c->id, cf->leaf->path,
			         m ? m : "transform does not fit the field");
			return APIERR_INTERNAL;
		}
		if (cf->transform == CONTRACT_TF_PSEUDONYM && !have_key) {
			if (pseudo == NULL || pseudo_contract_key(pseudo, c->id, &key) != 0) {
				snprintf(why, whylen, "no pseudonym key for contract %s", c->id);
				return APIERR_INTERNAL;
			}
			have_key = true;
		}
	}
	out = json_object();
	list = json_array();
	if (out == NULL || list == NULL) {
		w.err = APIERR_INTERNAL;
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < p->nfields; i++) {
		w.spec = &p->fields[i];
		w.emitted = false;
		if (put(&w, out, record, p->fields[i].leaf, 0) != 0)
			goto fail;
		if (w.emitted && json_array_append_new(list, json_string(p->fields[i].item)) != 0) {
			w.err = APIERR_INTERNAL;
			snprintf(why, whylen, "out of memory");
			goto fail;
		}
	}
	if (have_key)
		pseudo_key_wipe(&key);
	*body = out;
	*items = list;
	return APIERR_NONE;
fail:
	if (have_key)
		pseudo_key_wipe(&key);
	json_decref(out);
	json_decref(list);
	return w.err;
}
