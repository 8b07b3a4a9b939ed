/* contract — partner contracts (SPEC 7): parsed, checked against the catalog and the hard rules. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cal.h"
#include "codec.h"
#include "config.h"
#include "contract.h"
#include "errlist.h"
#include "policy.h"
#include "text.h"
#include "ujson.h"

#define TEXT_MAX_CHARS 4096 /* confidentiality, notes */
#define NAME_MAX_CHARS 256  /* partner_name */
#define FIELD_SPEC_MAX 200
#define MAX_FIELDS 256
#define MAX_CERTIFICATES 32
#define LIMIT_MAX 1000000000L

struct parse {
	const struct catalog *cat;
	struct errlist *el;
	const char *file;
	struct contract *c;
	int relationship; /* -1 until known to be valid */
	bool my_number_permitted;
};

static const char *const relationship_names[] = {
    [CONTRACT_ENTRUSTMENT] = "entrustment",
    [CONTRACT_JOINT_USE] = "joint_use",
    [CONTRACT_THIRD_PARTY] = "third_party",
};
static const char *const status_names[] = {
    [CONTRACT_ACTIVE] = "active",
    [CONTRACT_SUSPENDED] = "suspended",
    [CONTRACT_TERMINATED] = "terminated",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *
contract_relationship_name(enum contract_relationship r)
{
	return (size_t)r < NELEM(relationship_names) ? relationship_names[r] : "?";
}

const char *
contract_status_name(enum contract_status s)
{
	return (size_t)s < NELEM(status_names) ? status_names[s] : "?";
}

static void
free_purpose(struct contract_purpose *p)
{
	for (size_t i = 0; i < p->nwritten; i++)
		free(p->written[i]);
	free(p->written);
	for (size_t i = 0; i < p->nfields; i++)
		free((char *)p->fields[i].item);
	free(p->fields);
	free((char *)p->id);
}

void
contract_free(struct contract *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->npurposes; i++)
		free_purpose(&c->purposes[i]);
	free(c->purposes);
	free(c->file);
	free(c->id);
	free(c->partner);
	free(c->partner_name);
	free(c->valid_from_text);
	free(c->valid_until_text);
	free(c->certificates);
	free(c->confidentiality);
	free(c->notes);
	free(c);
}

const struct contract_purpose *
contract_purpose(const struct contract *c, const char *purpose)
{
	for (size_t i = 0; i < c->npurposes; i++)
		if (strcmp(c->purposes[i].id, purpose) == 0)
			return &c->purposes[i];
	return NULL;
}

bool
contract_in_force(const struct contract *c, time_t now)
{
	return c->status == CONTRACT_ACTIVE && now >= c->valid_from && now <= c->valid_until;
}

bool
contract_pins(const struct contract *c, const unsigned char fingerprint[32])
{
	if (c->ncertificates == 0)
		return true;
	for (size_t i = 0; i < c->ncertificates; i++)
		if (memcmp(c->certificates[i], fingerprint, 32) == 0)
			return true;
	return false;
}

/* ---- parsing ---- */

static void err(struct parse *ps, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
err(struct parse *ps, const char *path, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errlist_add(ps->el, ps->file, path, "%s", msg);
}

static void
unknown_keys(struct parse *ps, const char *path, json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		size_t i;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			char p[ERRLIST_PATH_MAX];
			errlist_path_key(p, sizeof(p), path, key);
			err(ps, p, "unknown key");
		}
	}
}

/* A string member at path p, or NULL (and an error unless absent and optional). */
static json_t *
get_string(struct parse *ps, json_t *obj, const char *p, const char *key, bool required)
{
	json_t *v = json_object_get(obj, key);
	if (v == NULL) {
		if (required)
			err(ps, p, "missing");
		return NULL;
	}
	if (!json_is_string(v)) {
		err(ps, p, "must be a string");
		return NULL;
	}
	return v;
}

/* A string member of 1..max bytes without NUL; NULL (and an error unless absent and optional)
 * otherwise. */
static const char *
get_text(struct parse *ps, json_t *obj, const char *key, size_t max, bool required)
{
	char p[ERRLIST_PATH_MAX];
	errlist_path_key(p, sizeof(p), "$", key);
	json_t *v = get_string(ps, obj, p, key, required);
	if (v == NULL)
		return NULL;
	size_t n = json_string_length(v);
	if (n == 0 || n > max) {
		err(ps, p, "must be 1 to %zu bytes", max);
		return NULL;
	}
	return json_string_value(v);
}

/* A string member that people wrote, a free text of 1..max characters (text.h); NULL (and an
 * error unless absent and optional) otherwise. */
static const char *
get_free_text(struct parse *ps, json_t *obj, const char *key, size_t max, bool required)
{
	char p[ERRLIST_PATH_MAX], rule[TEXT_EXPLAIN_MAX];
	errlist_path_key(p, sizeof(p), "$", key);
	json_t *v = get_string(ps, obj, p, key, required);
	if (v == NULL)
		return NULL;
	enum text_error e = text_check(json_string_value(v), json_string_length(v), max);
	if (e != TEXT_OK) {
		err(ps, p, "%s", text_explain(e, max, rule, sizeof(rule)));
		return NULL;
	}
	return json_string_value(v);
}

/* A boolean member; def when absent. */
static bool
get_bool(struct parse *ps, json_t *obj, const char *path, const char *key, bool def)
{
	char p[ERRLIST_PATH_MAX];
	json_t *v = json_object_get(obj, key);
	if (v == NULL)
		return def;
	if (!json_is_boolean(v)) {
		errlist_path_key(p, sizeof(p), path, key);
		err(ps, p, "must be true or false");
		return def;
	}
	return json_is_true(v);
}

static char *
save(struct parse *ps, const char *s)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		err(ps, NULL, "out of memory");
	return d;
}

static bool
valid_contract_id(const char *s)
{
	/* CT-YYYY-NNNN: the association's contract register numbers them per year. */
	if (strlen(s) != 12 || strncmp(s, "CT-", 3) != 0 || s[7] != '-')
		return false;
	for (int i = 3; i < 12; i++)
		if (i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	return true;
}

static bool
valid_partner(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool ok =
		    (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || (i > 0 && ch == '-');
		if (!ok)
			return false;
	}
	return true;
}

static int
lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static void
parse_dates(struct parse *ps, json_t *root)
{
	const char *from = get_text(ps, root, "valid_from", 64, true);
	const char *until = get_text(ps, root, "valid_until", 64, true);
	bool ok = true;
	if (from != NULL && cal_parse_rfc3339(from, &ps->c->valid_from) != 0) {
		err(ps, "$.valid_from",
		    "must be an RFC 3339 date-time with its offset, \"2026-04-01T00:00:00+09:00\"");
		ok = false;
	}
	if (until != NULL && cal_parse_rfc3339(until, &ps->c->valid_until) != 0) {
		err(ps, "$.valid_until",
		    "must be an RFC 3339 date-time with its offset, \"2027-03-31T23:59:59+09:00\"");
		ok = false;
	}
	if (from != NULL && until != NULL && ok && ps->c->valid_from >= ps->c->valid_until)
		err(ps, "$.valid_until", "must be later than valid_from");
	ps->c->valid_from_text = save(ps, from);
	ps->c->valid_until_text = save(ps, until);
}

static void
parse_certificates(struct parse *ps, json_t *root)
{
	json_t *arr = json_object_get(root, "certificates");
	if (arr == NULL)
		return;
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > MAX_CERTIFICATES) {
		err(ps, "$.certificates",
		    "must be an array of 1 to %d fingerprints (leave it out to pin none)",
		    MAX_CERTIFICATES);
		return;
	}
	ps->c->certificates = calloc(json_array_size(arr), 32);
	if (ps->c->certificates == NULL) {
		err(ps, NULL, "out of memory");
		return;
	}
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		char p[ERRLIST_PATH_MAX];
		unsigned char fp[32];
		errlist_path_index(p, sizeof(p), "$.certificates", i);
		const char *s = json_string_value(v);
		if (s == NULL || json_string_length(v) != 71 || strncmp(s, "sha256:", 7) != 0 ||
		    codec_hex_decode(s + 7, sizeof(fp), fp) != 0) {
			err(ps, p, "must be \"sha256:\" and 64 hex digits");
			continue;
		}
		bool dupl = false;
		for (size_t k = 0; k < ps->c->ncertificates; k++)
			if (memcmp(ps->c->certificates[k], fp, 32) == 0)
				dupl = true;
		if (dupl) {
			err(ps, p, "duplicate fingerprint");
			continue;
		}
		memcpy(ps->c->certificates[ps->c->ncertificates++], fp, 32);
	}
}

static unsigned long
get_limit(struct parse *ps, json_t *limits, const char *key)
{
	char p[ERRLIST_PATH_MAX];
	json_t *v = json_object_get(limits, key);
	if (v == NULL)
		return 0;
	errlist_path_key(p, sizeof(p), "$.limits", key);
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > LIMIT_MAX) {
		err(ps, p, "must be a positive integer, at most %ld (leave it out for no limit)",
		    LIMIT_MAX);
		return 0;
	}
	return (unsigned long)json_integer_value(v);
}

static void
parse_limits(struct parse *ps, json_t *root)
{
	static const char *const keys[] = {"requests_per_minute", "records_per_day", NULL};
	json_t *limits = json_object_get(root, "limits");
	if (limits == NULL)
		return;
	if (!json_is_object(limits)) {
		err(ps, "$.limits", "must be an object");
		return;
	}
	unknown_keys(ps, "$.limits", limits, keys);
	ps->c->requests_per_minute = get_limit(ps, limits, "requests_per_minute");
	ps->c->records_per_day = get_limit(ps, limits, "records_per_day");
}

/* Parses "pseudonym", "year", "mask:N", "prefix:N", "age_band:N". Returns a message or NULL. */
static const char *
parse_transform(const char *s, enum contract_transform *t, unsigned *arg)
{
	static const struct {
		const char *name;
		enum contract_transform t;
		bool has_arg;
		unsigned lo, hi;
		const char *range;
	} tf[] = {
	    {"pseudonym", CONTRACT_TF_PSEUDONYM, false, 0, 0, NULL},
	    {"year", CONTRACT_TF_YEAR, false, 0, 0, NULL},
	    {"mask", CONTRACT_TF_MASK, true, 0, 64, "mask:N needs N from 0 to 64"},
	    {"prefix", CONTRACT_TF_PREFIX, true, 1, 64, "prefix:N needs N from 1 to 64"},
	    {"age_band", CONTRACT_TF_AGE_BAND, true, 2, 100, "age_band:N needs N from 2 to 100"},
	};
	const char *colon = strchr(s, ':');
	size_t nlen = colon ? (size_t)(colon - s) : strlen(s);
	for (size_t i = 0; i < NELEM(tf); i++) {
		if (strlen(tf[i].name) != nlen || strncmp(s, tf[i].name, nlen) != 0)
			continue;
		*t = tf[i].t;
		*arg = 0;
		if (!tf[i].has_arg)
			return colon == NULL ? NULL : "this transform takes no argument";
		if (colon == NULL)
			return tf[i].range;
		const char *d = colon + 1;
		size_t dl = strlen(d);
		if (dl == 0 || dl > 3 || (dl > 1 && d[0] == '0'))
			return tf[i].range;
		unsigned v = 0;
		for (size_t k = 0; k < dl; k++) {
			if (d[k] < '0' || d[k] > '9')
				return tf[i].range;
			v = v * 10 + (unsigned)(d[k] - '0');
		}
		if (v < tf[i].lo || v > tf[i].hi)
			return tf[i].range;
		*arg = v;
		return NULL;
	}
	return "unknown transform (pseudonym, mask:N, prefix:N, year, age_band:N)";
}

/* Whether a transform can apply to a leaf at all, whatever the purpose. */
static const char *
transform_fits(const struct catalog_field *f, enum contract_transform t)
{
	switch (t) {
	case CONTRACT_TF_NONE:
		return NULL;
	case CONTRACT_TF_PSEUDONYM:
	case CONTRACT_TF_MASK:
	case CONTRACT_TF_PREFIX:
		return f->type == CATALOG_TYPE_STRING ? NULL : "applies only to a string field";
	case CONTRACT_TF_YEAR:
		return f->type == CATALOG_TYPE_DATE ? NULL : "applies only to a date field";
	case CONTRACT_TF_AGE_BAND:
		return f->type == CATALOG_TYPE_DATE && f->cls == CATALOG_CLASS_DEMOGRAPHIC
		           ? NULL
		           : "applies only to the birth date";
	}
	return "unknown transform";
}

static int
cmp_field(const void *a, const void *b)
{
	const struct contract_field *x = a, *y = b;
	return (x->leaf->index > y->leaf->index) - (x->leaf->index < y->leaf->index);
}

static void
parse_purpose_fields(struct parse *ps, const char *ppath, json_t *arr, struct contract_purpose *cp)
{
	char fpath[ERRLIST_PATH_MAX];
	errlist_path_key(fpath, sizeof(fpath), ppath, "fields");
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > MAX_FIELDS) {
		err(ps, fpath, "must be an array of 1 to %d field paths", MAX_FIELDS);
		return;
	}
	size_t cap = catalog_nfields(ps->cat);
	cp->written = calloc(json_array_size(arr), sizeof(char *));
	cp->fields = calloc(cap, sizeof(*cp->fields));
	if (cp->written == NULL || cp->fields == NULL) {
		err(ps, NULL, "out of memory");
		return;
	}
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		char p[ERRLIST_PATH_MAX], q[256], spec[FIELD_SPEC_MAX + 1];
		errlist_path_index(p, sizeof(p), fpath, i);
		if (!json_is_string(v)) {
			err(ps, p, "must be a string");
			continue;
		}
		if (json_string_length(v) == 0 || json_string_length(v) > FIELD_SPEC_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			err(ps, p, "must be 1 to %d bytes", FIELD_SPEC_MAX);
			continue;
		}
		memcpy(spec, json_string_value(v), json_string_length(v) + 1);
		errlist_quote(q, sizeof(q), spec);
		char *colon = strchr(spec, ':');
		const char *tftext = NULL;
		enum contract_transform t = CONTRACT_TF_NONE;
		unsigned arg = 0;
		if (colon != NULL) {
			*colon = '\0';
			tftext = colon + 1;
		}
		size_t first, n = catalog_expand(ps->cat, spec, &first);
		if (n == 0) {
			char pq[256];
			errlist_quote(pq, sizeof(pq), spec);
			err(ps, p, "unknown field %s", pq);
			continue;
		}
		if (tftext != NULL) {
			const char *m = parse_transform(tftext, &t, &arg);
			if (m != NULL) {
				err(ps, p, "bad transform in %s: %s", q, m);
				continue;
			}
			if (catalog_field(ps->cat, spec) == NULL) {
				err(ps, p,
				    "bad transform in %s: a transform applies to one value, "
				    "and this path names an object",
				    q);
				continue;
			}
			m = transform_fits(catalog_field_at(ps->cat, first), t);
			if (m != NULL) {
				err(ps, p, "bad transform in %s: %s %s", q, tftext, m);
				continue;
			}
		}
		cp->written[cp->nwritten] = save(ps, json_string_value(v));
		if (cp->written[cp->nwritten] != NULL)
			cp->nwritten++;
		const char *reported = NULL; /* an object path breaks a rule once, not per leaf */
		for (size_t k = first; k < first + n; k++) {
			const struct catalog_field *leaf = catalog_field_at(ps->cat, k);
			size_t j;
			for (j = 0; j < cp->nfields; j++)
				if (cp->fields[j].leaf == leaf)
					break;
			if (j < cp->nfields) {
				err(ps, p,
				    "duplicate field: \"%s\" is already released by fields[%zu]",
				    leaf->path, cp->fields[j].source);
				continue;
			}
			if (cp->purpose != NULL && ps->relationship >= 0) {
				const char *m = policy_hard_rule(
				    leaf, cp->purpose, (enum contract_relationship)ps->relationship,
				    ps->my_number_permitted, t);
				if (m != NULL) {
					if (m != reported)
						err(ps, p, "field \"%s\" (class %s): %s",
						    leaf->path, catalog_class_name(leaf->cls), m);
					reported = m;
					continue;
				}
			}
			char item[FIELD_SPEC_MAX + 64];
			snprintf(item, sizeof(item), "%s%s%s", leaf->path, tftext ? ":" : "",
			         tftext ? tftext : "");
			struct contract_field *cf = &cp->fields[cp->nfields];
			cf->leaf = leaf;
			cf->transform = t;
			cf->arg = arg;
			cf->source = i;
			cf->item = save(ps, item);
			if (cf->item != NULL)
				cp->nfields++;
		}
	}
	qsort(cp->fields, cp->nfields, sizeof(*cp->fields), cmp_field);
}

static void
parse_purposes(struct parse *ps, json_t *root)
{
	static const char *const keys[] = {"fields", "requires_consent", NULL};
	json_t *obj = json_object_get(root, "purposes");
	if (obj == NULL) {
		err(ps, "$.purposes", "missing");
		return;
	}
	if (!json_is_object(obj) || json_object_size(obj) == 0) {
		err(ps, "$.purposes", "must be an object with at least one purpose");
		return;
	}
	ps->c->purposes = calloc(json_object_size(obj), sizeof(*ps->c->purposes));
	if (ps->c->purposes == NULL) {
		err(ps, NULL, "out of memory");
		return;
	}
	const char *id;
	json_t *v;
	json_object_foreach(obj, id, v)
	{
		char p[ERRLIST_PATH_MAX];
		errlist_path_key(p, sizeof(p), "$.purposes", id);
		struct contract_purpose *cp = &ps->c->purposes[ps->c->npurposes++];
		cp->id = save(ps, id);
		cp->purpose = catalog_purpose(ps->cat, id);
		if (cp->purpose == NULL) {
			char q[256];
			errlist_quote(q, sizeof(q), id);
			err(ps, p, "unknown purpose %s", q);
		}
		if (!json_is_object(v)) {
			err(ps, p, "must be an object with \"fields\"");
			continue;
		}
		unknown_keys(ps, p, v, keys);
		cp->requires_consent = get_bool(ps, v, p, "requires_consent", false);
		json_t *fields = json_object_get(v, "fields");
		if (fields == NULL) {
			char fp[ERRLIST_PATH_MAX];
			errlist_path_key(fp, sizeof(fp), p, "fields");
			err(ps, fp, "missing");
		} else {
			parse_purpose_fields(ps, p, fields, cp);
		}
		if (cp->purpose == NULL)
			continue;
		enum catalog_kind k = cp->purpose->kind;
		json_t *rc = json_object_get(v, "requires_consent");
		if (k == CATALOG_KIND_EXCEPTION && json_is_true(rc))
			err(ps, p,
			    "an exception purpose is used without the member's consent by law; "
			    "requires_consent cannot apply");
		if (k == CATALOG_KIND_CONSENT && json_is_false(rc))
			err(ps, p, "the purpose %s always requires the member's consent", id);
		if (k == CATALOG_KIND_MY_NUMBER) {
			if (ps->relationship >= 0 && ps->relationship != CONTRACT_ENTRUSTMENT)
				err(ps, p, "the purpose %s is only for relationship entrustment",
				    id);
			if (!ps->my_number_permitted)
				err(ps, p, "the purpose %s needs \"my_number_permitted\": true",
				    id);
		}
	}
}

/* Fills ps->c from root, adding every problem to the list. */
static void
parse_contract(struct parse *ps, json_t *root)
{
	static const char *const keys[] = {"id",
	                                   "partner",
	                                   "partner_name",
	                                   "relationship",
	                                   "status",
	                                   "valid_from",
	                                   "valid_until",
	                                   "token_required",
	                                   "token_binding",
	                                   "certificates",
	                                   "my_number_permitted",
	                                   "purposes",
	                                   "limits",
	                                   "confidentiality",
	                                   "notes",
	                                   NULL};
	struct contract *c = ps->c;
	unknown_keys(ps, "$", root, keys);

	const char *id = get_text(ps, root, "id", 64, true);
	if (id != NULL && !valid_contract_id(id)) {
		err(ps, "$.id", "must be CT-YYYY-NNNN (e.g. \"CT-2026-0001\")");
		id = NULL;
	}
	c->id = save(ps, id);
	const char *partner = get_text(ps, root, "partner", 64, true);
	if (partner != NULL && !valid_partner(partner)) {
		err(ps, "$.partner", "must match ^[a-z0-9][a-z0-9-]{0,62}$");
		partner = NULL;
	}
	c->partner = save(ps, partner);
	c->partner_name = save(ps, get_free_text(ps, root, "partner_name", NAME_MAX_CHARS, true));

	const char *rel = get_text(ps, root, "relationship", 64, true);
	ps->relationship = -1;
	if (rel != NULL) {
		ps->relationship = lookup(relationship_names, NELEM(relationship_names), rel);
		if (ps->relationship < 0)
			err(ps, "$.relationship", "must be entrustment, joint_use or third_party");
		else
			c->relationship = (enum contract_relationship)ps->relationship;
	}
	const char *st = get_text(ps, root, "status", 64, true);
	if (st != NULL) {
		int s = lookup(status_names, NELEM(status_names), st);
		if (s < 0)
			err(ps, "$.status", "must be active, suspended or terminated");
		else
			c->status = (enum contract_status)s;
	}
	parse_dates(ps, root);

	c->token_required = get_bool(ps, root, "$", "token_required", true);
	c->token_binding_required = true;
	json_t *tb = json_object_get(root, "token_binding");
	if (tb != NULL) {
		const char *s = json_string_value(tb);
		if (s != NULL && strcmp(s, "required") == 0)
			c->token_binding_required = true;
		else if (s != NULL && strcmp(s, "optional") == 0)
			c->token_binding_required = false;
		else
			err(ps, "$.token_binding", "must be \"required\" or \"optional\"");
	}
	parse_certificates(ps, root);

	c->my_number_permitted = get_bool(ps, root, "$", "my_number_permitted", false);
	ps->my_number_permitted = c->my_number_permitted;
	if (c->my_number_permitted && ps->relationship >= 0 &&
	    ps->relationship != CONTRACT_ENTRUSTMENT)
		err(ps, "$.my_number_permitted",
		    "My Number is provided only to an entrustment contractor (番号法 第19条)");

	parse_purposes(ps, root);
	parse_limits(ps, root);

	c->confidentiality =
	    save(ps, get_free_text(ps, root, "confidentiality", TEXT_MAX_CHARS, false));
	if (ps->relationship == CONTRACT_ENTRUSTMENT &&
	    json_object_get(root, "confidentiality") == NULL)
		err(ps, "$.confidentiality",
		    "missing: an entrustment contract names its confidentiality clause "
		    "(委託先の監督)");
	c->notes = save(ps, get_free_text(ps, root, "notes", TEXT_MAX_CHARS, false));
}

/* Parses into the error list shared by a whole set. */
static struct contract *
parse_into(const struct catalog *cat, const char *name, const char *buf, size_t len,
           struct errlist *el)
{
	struct parse ps = {.cat = cat, .el = el, .file = name, .relationship = -1};
	size_t before = errlist_count(el);
	json_error_t jerr;
	json_t *root = NULL;

	if (len > CONTRACT_MAX_FILE_BYTES) {
		errlist_add(el, name, NULL, "larger than %d bytes", CONTRACT_MAX_FILE_BYTES);
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		errlist_add(el, name, NULL, "line %d, column %d: %s", jerr.line, jerr.column,
		            jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		errlist_add(el, name, "$", "must be an object");
		goto fail;
	}
	if (ujson_depth(root) > CONTRACT_MAX_DEPTH) {
		errlist_add(el, name, "$", "nested deeper than %d levels", CONTRACT_MAX_DEPTH);
		goto fail;
	}
	ps.c = calloc(1, sizeof(*ps.c));
	if (ps.c == NULL) {
		errlist_add(el, name, NULL, "out of memory");
		goto fail;
	}
	ps.c->file = save(&ps, name);
	parse_contract(&ps, root);
	if (errlist_count(el) != before)
		goto fail;
	json_decref(root);
	return ps.c;
fail:
	contract_free(ps.c);
	json_decref(root);
	return NULL;
}

static struct contract *
finish(struct contract *c, struct errlist *el, char **errors)
{
	*errors = NULL;
	if (c == NULL) {
		*errors = errlist_take(el);
		if (*errors == NULL)
			*errors = strdup("out of memory");
	}
	errlist_free(el);
	return c;
}

struct contract *
contract_parse(const struct catalog *cat, const char *name, const char *buf, size_t len,
               char **errors)
{
	struct errlist *el = errlist_new();
	if (el == NULL) {
		*errors = strdup("out of memory");
		return NULL;
	}
	return finish(parse_into(cat, name, buf, len, el), el, errors);
}

static struct contract *
load_into(const struct catalog *cat, const char *file, struct errlist *el)
{
	char *buf;
	size_t len;
	if (errlist_read_file(el, file, CONTRACT_MAX_FILE_BYTES, &buf, &len) != 0)
		return NULL;
	struct contract *c = parse_into(cat, file, buf, len, el);
	free(buf);
	return c;
}

struct contract *
contract_load(const struct catalog *cat, const char *file, char **errors)
{
	struct errlist *el = errlist_new();
	if (el == NULL) {
		*errors = strdup("out of memory");
		return NULL;
	}
	return finish(load_into(cat, file, el), el, errors);
}

/* ---- sets ---- */

struct contract_set {
	struct contract **v; /* sorted by partner, then id */
	size_t n;
};

static int
cmp_contract(const void *a, const void *b)
{
	const struct contract *x = *(const struct contract *const *)a;
	const struct contract *y = *(const struct contract *const *)b;
	int r = strcmp(x->partner, y->partner);
	return r != 0 ? r : strcmp(x->id, y->id);
}

void
contract_set_free(struct contract_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		contract_free(s->v[i]);
	free(s->v);
	free(s);
}

/* Sorts and checks ids; takes v. Adds errors to el; returns NULL if any. */
static struct contract_set *
make_set(struct contract **v, size_t n, struct errlist *el)
{
	struct contract_set *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		errlist_add(el, "contracts", NULL, "out of memory");
		for (size_t i = 0; i < n; i++)
			contract_free(v[i]);
		free(v);
		return NULL;
	}
	s->v = v;
	s->n = n;
	if (n > 0)
		qsort(s->v, n, sizeof(*s->v), cmp_contract);
	size_t before = errlist_count(el);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->v[i]->id, s->v[j]->id) == 0)
				errlist_add(el, s->v[i]->file, "$.id",
				            "duplicate contract id \"%s\", also in %s", s->v[i]->id,
				            s->v[j]->file);
	if (errlist_count(el) != before) {
		contract_set_free(s);
		return NULL;
	}
	return s;
}

struct contract_set *
contract_set_new(struct contract **contracts, size_t n, char **errors)
{
	struct errlist *el = errlist_new();
	*errors = NULL;
	if (el == NULL) {
		for (size_t i = 0; i < n; i++)
			contract_free(contracts[i]);
		free(contracts);
		*errors = strdup("out of memory");
		return NULL;
	}
	struct contract_set *s = make_set(contracts, n, el);
	if (s == NULL) {
		*errors = errlist_take(el);
		if (*errors == NULL)
			*errors = strdup("out of memory");
	}
	errlist_free(el);
	return s;
}

static int
json_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

struct contract_set *
contract_set_load(const struct catalog *cat, const char *dir, char **errors)
{
	struct errlist *el = errlist_new();
	struct dirent **names = NULL;
	struct contract **v = NULL;
	struct contract_set *s = NULL;
	size_t n = 0;

	*errors = NULL;
	if (el == NULL) {
		*errors = strdup("out of memory");
		return NULL;
	}
	int count = scandir(dir, &names, json_name, alphasort);
	if (count < 0) {
		errlist_add(el, dir, NULL, "cannot read the contracts folder: %s", strerror(errno));
		goto done;
	}
	v = calloc((size_t)count + 1, sizeof(*v));
	if (v == NULL) {
		errlist_add(el, dir, NULL, "out of memory");
		goto done;
	}
	for (int i = 0; i < count; i++) {
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >=
		    (int)sizeof(path)) {
			errlist_add(el, dir, NULL, "path too long: %s", names[i]->d_name);
			continue;
		}
		struct contract *c = load_into(cat, path, el);
		if (c != NULL)
			v[n++] = c;
	}
	if (errlist_count(el) != 0)
		goto done;
	s = make_set(v, n, el);
	v = NULL;
	n = 0;
done:
	for (size_t i = 0; i < n; i++)
		contract_free(v[i]);
	free(v);
	for (int i = 0; i < count; i++)
		free(names[i]);
	free(names);
	if (s == NULL) {
		*errors = errlist_take(el);
		if (*errors == NULL)
			*errors = strdup("out of memory");
	}
	errlist_free(el);
	return s;
}

size_t
contract_set_count(const struct contract_set *s)
{
	return s->n;
}

const struct contract *
contract_set_at(const struct contract_set *s, size_t i)
{
	assert(i < s->n);
	return s->v[i];
}

const struct contract *
contract_set_find(const struct contract_set *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i]->id, id) == 0)
			return s->v[i];
	return NULL;
}

size_t
contract_set_partner(const struct contract_set *s, const char *partner,
                     const struct contract *const **first)
{
	size_t lo = 0, hi = s->n;
	*first = NULL;
	if (s->n == 0)
		return 0;
	/* The set is sorted by partner: find the first of the run, then its end. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->v[mid]->partner, partner) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < s->n && strcmp(s->v[end]->partner, partner) == 0)
		end++;
	*first = (const struct contract *const *)(s->v + lo);
	return end - lo;
}

/* ---- pdgate contract ---- */

static void
contract_usage(FILE *f)
{
	fprintf(f,
	        "usage: pdgate contract check [--policies DIR | -c FILE] CONTRACT.json...\n"
	        "       pdgate contract list (-c FILE | [--policies DIR] --dir CONTRACTS) "
	        "[--json]\n"
	        "\n"
	        "check  validates contract files against the purpose and field catalogs; prints\n"
	        "       every error as FILE: $.json.path: message, or \"OK FILE\" for each good\n"
	        "       file. Exit 1 if any file has an error.\n"
	        "list   loads the contracts folder all-or-nothing and lists each contract with\n"
	        "       its state now (a table, or JSON with --json).\n"
	        "\n"
	        "  -c FILE          take the catalogs and the contracts folder from pdgate.conf\n"
	        "  --policies DIR   folder with purposes.json and fields.json (default: the\n"
	        "                   repository's policies/, from $PDGATE_SHARE or next to bin/)\n"
	        "  --dir DIR        the contracts folder to list\n"
	        "  --json           list as JSON\n");
}

/* The repository's data folder: $PDGATE_SHARE, else the parent of the binary's folder. */
static int
share_dir(char *out, size_t len)
{
	const char *env = getenv("PDGATE_SHARE");
	if (env != NULL && env[0] != '\0')
		return snprintf(out, len, "%s", env) < (int)len ? 0 : -1;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(exe, '/');
		if (slash == NULL)
			return -1;
		*slash = '\0';
	}
	return snprintf(out, len, "%s", exe[0] ? exe : "/") < (int)len ? 0 : -1;
}

struct cli_paths {
	char purposes[PATH_MAX];
	char fields[PATH_MAX];
	char contracts[PATH_MAX]; /* empty when not known */
};

/* Resolves the catalogs and the contracts folder from -c, --policies or the default. */
static int
cli_paths(const char *conf, const char *policies, const char *dir, struct cli_paths *p)
{
	p->contracts[0] = '\0';
	if (conf != NULL) {
		char *errors = NULL;
		struct config *cfg = config_load(conf, &errors);
		if (cfg == NULL) {
			fprintf(stderr, "%s\n",
			        errors ? errors : "pdgate: cannot load the configuration");
			free(errors);
			return -1;
		}
		snprintf(p->purposes, sizeof(p->purposes), "%s", cfg->policy.purposes);
		snprintf(p->fields, sizeof(p->fields), "%s", cfg->policy.fields);
		snprintf(p->contracts, sizeof(p->contracts), "%s", cfg->policy.contracts);
		config_free(cfg);
		return 0;
	}
	char base[PATH_MAX];
	if (policies != NULL) {
		snprintf(base, sizeof(base), "%s", policies);
	} else {
		char share[PATH_MAX - 16];
		if (share_dir(share, sizeof(share)) != 0) {
			fprintf(stderr,
			        "pdgate contract: cannot find the policies; use --policies DIR\n");
			return -1;
		}
		snprintf(base, sizeof(base), "%s/policies", share);
	}
	if (snprintf(p->purposes, sizeof(p->purposes), "%s/purposes.json", base) >=
	        (int)sizeof(p->purposes) ||
	    snprintf(p->fields, sizeof(p->fields), "%s/fields.json", base) >=
	        (int)sizeof(p->fields)) {
		fprintf(stderr, "pdgate contract: path too long\n");
		return -1;
	}
	if (dir != NULL)
		snprintf(p->contracts, sizeof(p->contracts), "%s", dir);
	return 0;
}

static int
contract_check(const struct catalog *cat, int argc, char **argv)
{
	int bad = 0;
	for (int i = 0; i < argc; i++) {
		char *errors = NULL;
		struct contract *c = contract_load(cat, argv[i], &errors);
		if (c == NULL) {
			fprintf(stderr, "%s\n", errors ? errors : "out of memory");
			bad = 1;
		} else {
			fprintf(stdout, "OK %s\n", argv[i]);
		}
		free(errors);
		contract_free(c);
	}
	return bad;
}

static const char *
state_now(const struct contract *c, time_t now)
{
	if (c->status != CONTRACT_ACTIVE)
		return contract_status_name(c->status);
	if (now < c->valid_from)
		return "not yet valid";
	if (now > c->valid_until)
		return "expired";
	return "in force";
}

static json_t *
contract_json(const struct contract *c, time_t now)
{
	json_t *o = json_object(), *purposes = json_object(), *certs = json_array();
	for (size_t i = 0; i < c->npurposes; i++) {
		const struct contract_purpose *p = &c->purposes[i];
		json_t *written = json_array(), *items = json_array();
		for (size_t k = 0; k < p->nwritten; k++)
			json_array_append_new(written, json_string(p->written[k]));
		for (size_t k = 0; k < p->nfields; k++)
			json_array_append_new(items, json_string(p->fields[k].item));
		json_object_set_new(purposes, p->id,
		                    json_pack("{s:o, s:o, s:b}", "fields", written, "items", items,
		                              "requires_consent", p->requires_consent));
	}
	for (size_t i = 0; i < c->ncertificates; i++) {
		char hex[7 + 65];
		memcpy(hex, "sha256:", 7);
		codec_hex_encode(c->certificates[i], 32, hex + 7);
		json_array_append_new(certs, json_string(hex));
	}
	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "partner", json_string(c->partner));
	json_object_set_new(o, "partner_name", json_string(c->partner_name));
	json_object_set_new(o, "relationship",
	                    json_string(contract_relationship_name(c->relationship)));
	json_object_set_new(o, "status", json_string(contract_status_name(c->status)));
	json_object_set_new(o, "state", json_string(state_now(c, now)));
	json_object_set_new(o, "in_force", json_boolean(contract_in_force(c, now)));
	json_object_set_new(o, "valid_from", json_string(c->valid_from_text));
	json_object_set_new(o, "valid_until", json_string(c->valid_until_text));
	json_object_set_new(o, "token_required", json_boolean(c->token_required));
	json_object_set_new(o, "token_binding",
	                    json_string(c->token_binding_required ? "required" : "optional"));
	json_object_set_new(o, "certificates", certs);
	json_object_set_new(o, "my_number_permitted", json_boolean(c->my_number_permitted));
	json_object_set_new(o, "purposes", purposes);
	json_t *limits = json_object();
	if (c->requests_per_minute)
		json_object_set_new(limits, "requests_per_minute",
		                    json_integer((json_int_t)c->requests_per_minute));
	if (c->records_per_day)
		json_object_set_new(limits, "records_per_day",
		                    json_integer((json_int_t)c->records_per_day));
	json_object_set_new(o, "limits", limits);
	json_object_set_new(o, "file", json_string(c->file));
	return o;
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp((*(const struct contract *const *)a)->id,
	              (*(const struct contract *const *)b)->id);
}

static int
contract_list(const struct contract_set *set, bool as_json)
{
	time_t now = time(NULL);
	size_t n = contract_set_count(set);
	/* People read contract registers by number; the set keeps partner order for lookups. */
	const struct contract **v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return 1;
	for (size_t i = 0; i < n; i++)
		v[i] = contract_set_at(set, i);
	qsort(v, n, sizeof(*v), cmp_id);
	if (as_json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, contract_json(v[i], now));
		char *s = json_dumps(arr, JSON_INDENT(2));
		json_decref(arr);
		free(v);
		if (s == NULL)
			return 1;
		printf("%s\n", s);
		free(s);
		return 0;
	}
	printf("%-13s %-18s %-12s %-10s %-14s %-25s %-25s %s\n", "ID", "PARTNER", "RELATIONSHIP",
	       "STATUS", "NOW", "VALID_FROM", "VALID_UNTIL", "PURPOSES");
	for (size_t i = 0; i < n; i++) {
		const struct contract *c = v[i];
		printf("%-13s %-18s %-12s %-10s %-14s %-25s %-25s ", c->id, c->partner,
		       contract_relationship_name(c->relationship), contract_status_name(c->status),
		       state_now(c, now), c->valid_from_text, c->valid_until_text);
		for (size_t k = 0; k < c->npurposes; k++)
			printf("%s%s", k ? "," : "", c->purposes[k].id);
		printf("\n");
	}
	free(v);
	return 0;
}

int
contract_main(int argc, char **argv)
{
	static const struct option opts[] = {{"policies", required_argument, NULL, 'p'},
	                                     {"dir", required_argument, NULL, 'd'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *conf = NULL, *policies = NULL, *dir = NULL;
	bool as_json = false;
	int ch, rc = 1;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		contract_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "check") != 0 && strcmp(sub, "list") != 0) {
		fprintf(stderr, "pdgate contract: unknown subcommand '%s'\n", sub);
		contract_usage(stderr);
		return 2;
	}
	optind = 0; /* glibc: start afresh whatever parsed argv before */
	while ((ch = getopt_long(argc - 1, argv + 1, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'p':
			policies = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'j':
			as_json = true;
			break;
		case 'h':
			contract_usage(stdout);
			return 0;
		default:
			contract_usage(stderr);
			return 2;
		}
	}
	int nargs = argc - 1 - optind;
	char **args = argv + 1 + optind;
	if (conf != NULL && (policies != NULL || dir != NULL)) {
		fprintf(stderr, "pdgate contract: -c and --policies/--dir exclude each other\n");
		return 2;
	}
	bool check = strcmp(sub, "check") == 0;
	if ((check && (nargs == 0 || as_json || dir != NULL)) ||
	    (!check && (nargs != 0 || (conf == NULL && dir == NULL)))) {
		contract_usage(stderr);
		return 2;
	}

	struct cli_paths p;
	if (cli_paths(conf, policies, dir, &p) != 0)
		return 1;
	char *errors = NULL;
	struct catalog *cat = catalog_load(p.purposes, p.fields, &errors);
	if (cat == NULL) {
		fprintf(stderr, "%s\n",
		        errors ? errors : "pdgate contract: cannot load the catalogs");
		free(errors);
		return 1;
	}
	if (check) {
		rc = contract_check(cat, nargs, args);
	} else {
		struct contract_set *set = contract_set_load(cat, p.contracts, &errors);
		if (set == NULL) {
			fprintf(stderr, "%s\n", errors ? errors : "out of memory");
			free(errors);
		} else {
			rc = contract_list(set, as_json);
		}
		contract_set_free(set);
	}
	catalog_free(cat);
	return rc;
}
