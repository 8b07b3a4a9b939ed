/* release — the checked member record and the answer built afresh from it (SPEC 6, 9.3); no I/O. */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cal.h"
#include "codec.h"
#include "policy.h"
#include "record.h"
#include "release.h"
#include "utf8.h"

/* What to do with a leaf's value once found. */
struct walk {
	const struct release_plan *plan;   /* NULL while checking the origin record */
	const struct contract_field *spec; /* NULL while checking the origin record */
	const struct pseudo_mac *key;      /* keyed with the contract's pseudonym key */
	time_t now;
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

/* Where a contract field's run ends at one level of its path, and that level's key as text. */
struct plan_level {
	size_t end;    /* the first field after those sharing this field's path up to this level */
	size_t key;    /* offset in the plan's keys of the member's name as JSON text: "name": */
	size_t keylen; /* its length */
};

/* A contract purpose's release, compiled once (release_plan_new). */
struct release_plan {
	const struct contract *c;
	const struct contract_purpose *p;
	struct pseudo_mac *key;     /* the contract's pseudonyms; NULL if no field has one */
	struct plan_level **levels; /* levels[i][level] for field i, level < its nsegments */
	struct plan_level *all;     /* the block levels[i] point into */
	struct buf keys;            /* every level's key, one after the other */
};

/* The transforms on one string. Each returns a new NUL-terminated string (caller frees) or
 * NULL if s is not valid UTF-8 (or no memory). mask:N keeps the last N code points. */
static char *
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
	/* s was counted as UTF-8: its code points end inside it */
	assert(i <= len);
	char *out = malloc(stars + (len - i) + 1);
	if (out == NULL)
		return NULL;
	memset(out, '*', stars);
	memcpy(out + stars, s + i, len - i);
	out[stars + len - i] = '\0';
	return out;
}

/* prefix:N, the first N code points. */
static char *
release_prefix(const char *s, size_t len, unsigned n)
{
	if (utf8_count(s, len) < 0)
		return NULL;
	size_t i = 0;
	for (unsigned k = 0; k < n && i < len; k++) {
		uint32_t cp;
		i += utf8_decode(s + i, len - i, &cp);
	}
	assert(i <= len);
	return strndup(s, i);
}

/* A birth date's age band of width n on the Japanese calendar day of now: "30-39" into out.
 * Returns 0, or -1 if birth is not a date or lies after that day. */
static int
release_age_band(const char *birth, time_t now, unsigned n, char *out, size_t outlen)
{
	int by, bm, bd, y, m, d;
	if (n == 0 || cal_parse_date(birth, strlen(birth), &by, &bm, &bd) != 0)
		return -1;
	/* The day of release in Japan: floor division, as now may in principle be negative. */
	cal_civil_from_days(cal_jst_day((int64_t)now * 1000), &y, &m, &d);
	/* One is a year older from one's birthday on; a 29 February birthday counts from
	 * 1 March in other years (年齢計算ニ関スル法律 gives the same day). */
	int age = y - by - ((m < bm || (m == bm && d < bd)) ? 1 : 0);
	if (age < 0)
		return -1;
	int lo = age / (int)n * (int)n;
	snprintf(out, outlen, "%d-%d", lo, lo + (int)n - 1);
	return 0;
}

/*
 * A JSON string, escaped as jansson's json_dumps escapes it (UTF-8 kept, the two-character
 * escapes where JSON has them, \u00XX for the other control characters), so an answer reads
 * the same whichever of the two wrote it. s is valid UTF-8 without NUL: jansson parsed it.
 */
static int
text_string(struct buf *t, const char *s, size_t len)
{
	size_t run = 0;
	int bad = buf_add(t, "\"", 1);

	for (size_t i = 0; i < len && !bad; i++) {
		char esc[6];
		size_t n = codec_json_escape((unsigned char)s[i], esc);
		if (n == 0)
			continue;
		bad |= buf_add(t, s + run, i - run);
		run = i + 1;
		bad |= buf_add(t, esc, n);
	}
	if (!bad)
		bad |= buf_add(t, s + run, len - run);
	return bad | buf_add(t, "\"", 1);
}

/* Whether v is a value of the catalog type; a mismatch stops the walk with ORIGIN_INVALID. */
static int
check_leaf(struct walk *w, const struct catalog_field *f, const json_t *v)
{
	int y, m, d;
	size_t i;
	json_t *e;

	switch (f->type) {
	case CATALOG_TYPE_STRING:
		if (json_is_string(v))
			return 0;
		break;
	case CATALOG_TYPE_DATE:
		if (json_is_string(v) &&
		    cal_parse_date(json_string_value(v), json_string_length(v), &y, &m, &d) == 0)
			return 0;
		return fail(w, APIERR_ORIGIN_INVALID, "origin record: %s is not a date YYYY-MM-DD",
		            f->path);
	case CATALOG_TYPE_BOOLEAN:
		if (json_is_boolean(v))
			return 0;
		break;
	case CATALOG_TYPE_STRINGS:
		if (!json_is_array(v))
			break;
		json_array_foreach((json_t *)v, i, e)
		{
			if (!json_is_string(e))
				return fail(w, APIERR_ORIGIN_INVALID,
				            "origin record: %s has the wrong type", f->path);
		}
		return 0;
	}
	return fail(w, APIERR_ORIGIN_INVALID, "origin record: %s has the wrong type", f->path);
}

enum apierr
release_origin(const struct catalog *cat, const char *bytes, size_t len, size_t max_bytes,
               const char *member_id, json_t **record, char *why, size_t whylen)
{
	char reason[RELEASE_WHY_MAX - 16];
	enum apierr e;

	/* read once: checked by ujson's rules and reduced to the catalog's paths as it is parsed */
	*record = record_parse(cat, bytes, len, max_bytes, RELEASE_MAX_DEPTH, member_id, &e, reason,
	                       sizeof(reason));
	snprintf(why, whylen, *record != NULL ? "ok" : "origin record: %s", reason);
	return *record != NULL ? APIERR_NONE : e;
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

/* Appends the released form of one leaf value (checked again: any record may be given). */
static int
emit_leaf(struct walk *w, struct buf *t, const struct catalog_field *f, const json_t *v)
{
	char buf[PSEUDO_HEX + 1 > 32 ? PSEUDO_HEX + 1 : 32];
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	char *dyn = NULL;
	int bad = 0;

	if (check_leaf(w, f, v) != 0)
		return -1;
	if (f->type == CATALOG_TYPE_BOOLEAN)
		return json_is_true(v) ? buf_add(t, "true", 4) : buf_add(t, "false", 5);
	if (f->type == CATALOG_TYPE_STRINGS) {
		size_t i;
		json_t *e;
		bad |= buf_add(t, "[", 1);
		json_array_foreach((json_t *)v, i, e)
		{
			if (i > 0)
				bad |= buf_add(t, ",", 1);
			bad |= text_string(t, json_string_value(e), json_string_length(e));
		}
		return bad | buf_add(t, "]", 1);
	}
	switch (w->spec->transform) {
	case CONTRACT_TF_NONE:
		return text_string(t, s, len);
	case CONTRACT_TF_PSEUDONYM:
		if (pseudo_mac_apply(w->key, s, len, buf) != 0)
			return fail(w, APIERR_INTERNAL, "pseudonym of %s failed", f->path);
		return text_string(t, buf, strlen(buf));
	case CONTRACT_TF_MASK:
	case CONTRACT_TF_PREFIX:
		dyn = w->spec->transform == CONTRACT_TF_MASK ? release_mask(s, len, w->spec->arg)
		                                             : release_prefix(s, len, w->spec->arg);
		if (dyn == NULL)
			return fail(w, APIERR_ORIGIN_INVALID,
			            "origin record: %s is not valid UTF-8", f->path);
		bad = text_string(t, dyn, strlen(dyn));
		free(dyn);
		return bad;
	case CONTRACT_TF_YEAR:
		return text_string(t, s, 4); /* check_leaf made sure it is YYYY-MM-DD */
	case CONTRACT_TF_AGE_BAND:
		if (release_age_band(s, w->now, w->spec->arg, buf, sizeof(buf)) != 0)
			return fail(w, APIERR_ORIGIN_INVALID,
			            "origin record: %s lies after the day of release", f->path);
		return text_string(t, buf, strlen(buf));
	}
	return fail(w, APIERR_INTERNAL, "unknown transform at %s", f->path);
}

/*
 * Appends the members of obj that the contract fields lo..hi-1 name, as one JSON object; the
 * fields share their first `level` segments and are in catalog order, so those under one
 * member are contiguous. An object or array the record has is written even when none of its
 * leaves has a value ("courses":[{},{}]); absent and null values are skipped. items[i] is set
 * for every field i that wrote a value.
 */
static int
emit_object(struct walk *w, struct buf *t, const json_t *obj, size_t lo, size_t hi, size_t level,
            const char **items)
{
	const struct contract_purpose *p = w->plan->p;
	int bad = buf_add(t, "{", 1);
	bool first = true;

	for (size_t a = lo, b; a < hi && !bad; a = b) {
		const struct catalog_field *f = p->fields[a].leaf;
		const struct plan_level *pl = &w->plan->levels[a][level];
		b = pl->end;
		/* runs nest: the run of a level lies within its parent's */
		assert(b > a && b <= hi);
		json_t *v = json_object_get(obj, f->segments[level].name);
		if (v == NULL || json_is_null(v))
			continue;
		if (!first)
			bad |= buf_add(t, ",", 1);
		first = false;
		bad |= buf_add(t, w->plan->keys.data + pl->key, pl->keylen);
		if (bad)
			break;
		if (f->nsegments == level + 1) {
			w->spec = &p->fields[a];
			if (emit_leaf(w, t, f, v) != 0)
				return w->err != APIERR_NONE
				           ? -1
				           : fail(w, APIERR_INTERNAL, "out of memory");
			items[a] = p->fields[a].item;
		} else if (f->segments[level].array) {
			size_t k;
			json_t *e;
			if (!json_is_array(v))
				return fail(w, APIERR_ORIGIN_INVALID,
				            "origin record: %s is not in an array", f->path);
			bad |= buf_add(t, "[", 1);
			json_array_foreach(v, k, e)
			{
				if (!json_is_object(e))
					return fail(w, APIERR_ORIGIN_INVALID,
					            "origin record: an element on the way to %s is "
					            "not an object",
					            f->path);
				if (k > 0)
					bad |= buf_add(t, ",", 1);
				if (bad)
					break;
				if (emit_object(w, t, e, a, b, level + 1, items) != 0)
					return -1;
			}
			bad |= buf_add(t, "]", 1);
		} else {
			if (!json_is_object(v))
				return fail(w, APIERR_ORIGIN_INVALID,
				            "origin record: %s is not in an object", f->path);
			if (emit_object(w, t, v, a, b, level + 1, items) != 0)
				return -1;
		}
	}
	if (bad || buf_add(t, "}", 1) != 0)
		return fail(w, APIERR_INTERNAL, "out of memory");
	return 0;
}

void
release_plan_free(struct release_plan *plan)
{
	if (plan == NULL)
		return;
	free(plan->levels);
	free(plan->all);
	buf_free(&plan->keys);
	pseudo_mac_free(plan->key);
	free(plan);
}

/* True if fields a and b share their path's names up to and including level. */
static bool
same_path(const struct catalog_field *a, const struct catalog_field *b, size_t level)
{
	if (b->nsegments <= level)
		return false;
	for (size_t l = 0; l <= level; l++)
		if (strcmp(a->segments[l].name, b->segments[l].name) != 0)
			return false;
	return true;
}

struct release_plan *
release_plan_new(const struct contract *c, const struct contract_purpose *p,
                 const struct pseudo *pseudo, char *why, size_t whylen)
{
	struct release_plan *plan = calloc(1, sizeof(*plan));
	size_t nlevels = 0, next = 0;

	snprintf(why, whylen, "ok");
	if (plan == NULL)
		goto oom;
	plan->c = c;
	plan->p = p;
	if (p->purpose == NULL) {
		snprintf(why, whylen, "release without a checked purpose");
		goto fail;
	}
	/* The contract loader enforces these; checking again here means a contract built by any
	 * other path still cannot release what the hard rules forbid, nor write a key twice. */
	for (size_t i = 0; i < p->nfields; i++) {
		const struct contract_field *cf = &p->fields[i];
		const struct catalog_field *f = cf->leaf;
		const char *m = policy_hard_rule(f, p->purpose, c->relationship,
		                                 c->my_number_permitted, cf->transform);
		if (m == NULL && i > 0 && p->fields[i - 1].leaf->index >= f->index)
			m = "fields not in catalog order, or repeated";
		if (m != NULL || !transform_fits(cf)) {
			snprintf(why, whylen, "contract %s, %s: %s", c->id, f->path,
			         m ? m : "transform does not fit the field");
			goto fail;
		}
		if (cf->transform == CONTRACT_TF_PSEUDONYM && plan->key == NULL &&
		    (pseudo == NULL || (plan->key = pseudo_mac_new(pseudo, c->id)) == NULL)) {
			snprintf(why, whylen, "no pseudonym key for contract %s", c->id);
			goto fail;
		}
		nlevels += f->nsegments;
	}
	plan->levels = calloc(p->nfields + 1, sizeof(*plan->levels));
	plan->all = calloc(nlevels + 1, sizeof(*plan->all));
	if (plan->levels == NULL || plan->all == NULL)
		goto oom;
	for (size_t i = 0; i < p->nfields; i++) {
		const struct catalog_field *f = p->fields[i].leaf;
		plan->levels[i] = plan->all + next;
		next += f->nsegments;
		for (size_t l = 0; l < f->nsegments; l++) {
			struct plan_level *pl = &plan->levels[i][l];
			const char *name = f->segments[l].name;
			for (pl->end = i + 1;
			     pl->end < p->nfields && same_path(f, p->fields[pl->end].leaf, l);
			     pl->end++)
				;
			pl->key = plan->keys.len;
			if (text_string(&plan->keys, name, strlen(name)) != 0 ||
			    buf_add(&plan->keys, ":", 1) != 0)
				goto oom;
			pl->keylen = plan->keys.len - pl->key;
		}
	}
	return plan;
oom:
	snprintf(why, whylen, "out of memory");
fail:
	release_plan_free(plan);
	return NULL;
}

enum apierr
release_plan_build(const struct release_plan *plan, const json_t *record, time_t now,
                   struct buf *body, const char **items, size_t *n_items, char *why, size_t whylen)
{
	struct walk w = {.plan = plan,
	                 .key = plan->key,
	                 .now = now,
	                 .err = APIERR_NONE,
	                 .why = why,
	                 .whylen = whylen};
	size_t start = body->len, n = 0, nfields = plan->p->nfields;

	*n_items = 0;
	snprintf(why, whylen, "ok");
	if (!json_is_object(record)) {
		snprintf(why, whylen, "release without a checked record");
		return APIERR_INTERNAL;
	}
	for (size_t i = 0; i < nfields; i++)
		items[i] = NULL;
	if (emit_object(&w, body, record, 0, nfields, 0, items) != 0) {
		/* nothing of a refused member stays in the buffer */
		buf_truncate(body, start);
		return w.err;
	}
	for (size_t i = 0; i < nfields; i++)
		if (items[i] != NULL)
			items[n++] = items[i];
	*n_items = n;
	return APIERR_NONE;
}

char *
release_value(enum contract_transform t, unsigned arg, const char *s, size_t len, time_t now)
{
	char date[16], band[32];
	int y, m, d;

	switch (t) {
	case CONTRACT_TF_NONE:
		return utf8_count(s, len) < 0 ? NULL : strndup(s, len);
	case CONTRACT_TF_MASK:
		return release_mask(s, len, arg);
	case CONTRACT_TF_PREFIX:
		return release_prefix(s, len, arg);
	case CONTRACT_TF_YEAR:
		return cal_parse_date(s, len, &y, &m, &d) == 0 ? strndup(s, 4) : NULL;
	case CONTRACT_TF_AGE_BAND:
		if (len >= sizeof(date) || memchr(s, '\0', len) != NULL)
			return NULL;
		memcpy(date, s, len);
		date[len] = '\0';
		return release_age_band(date, now, arg, band, sizeof(band)) == 0 ? strdup(band)
		                                                                 : NULL;
	case CONTRACT_TF_PSEUDONYM:
		return NULL;
	}
	return NULL;
}

enum apierr
release_build(const struct contract *c, const struct contract_purpose *p, const json_t *record,
              const struct pseudo *pseudo, time_t now, struct buf *body, const char **items,
              size_t *n_items, char *why, size_t whylen)
{
	struct release_plan *plan;
	enum apierr e;

	*n_items = 0;
	if (!json_is_object(record)) {
		snprintf(why, whylen, "release without a checked purpose or record");
		return APIERR_INTERNAL;
	}
	plan = release_plan_new(c, p, pseudo, why, whylen);
	if (plan == NULL)
		return APIERR_INTERNAL;
	e = release_plan_build(plan, record, now, body, items, n_items, why, whylen);
	release_plan_free(plan);
	return e;
}
