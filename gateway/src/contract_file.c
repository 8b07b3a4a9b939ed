/* contract_file — contract files parsed, checked against the catalog and hard rules (SPEC 7). */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cal.h"
#include "codec.h"
#include "contract.h"
#include "contract_file.h"
#include "errlist.h"
#include "ident.h"
#include "policy.h"
#include "ujson.h"

#define TEXT_MAX_CHARS 4096 /* confidentiality, notes, foreign_safeguards */
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

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

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

static void
parse_dates(struct parse *ps, json_t *root)
{
	const char *from = errlist_get_bytes(ps->el, ps->file, "$", root, "valid_from", 64, true);
	const char *until = errlist_get_bytes(ps->el, ps->file, "$", root, "valid_until", 64, true);
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
		assert(ps->c->ncertificates < json_array_size(arr)); /* room for every entry */
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
	errlist_unknown_keys(ps->el, ps->file, "$.limits", limits, keys);
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
		assert(cp->nwritten < json_array_size(arr));
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
			/* each leaf of the catalog once at most: cap, catalog_nfields, is room */
			assert(cp->nfields < cap);
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
		assert(ps->c->npurposes < json_object_size(obj));
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
		errlist_unknown_keys(ps->el, ps->file, p, v, keys);
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

/*
 * Where the recipient is (SPEC 16.5, APPI Art. 28). A contractor or joint user abroad receives
 * data as one in Japan would only if it keeps the safeguards of Art. 28(1) (基準適合体制), so
 * the contract must name them; a third party abroad needs each member's consent to provision
 * abroad (policy_check_member), and may name the recipient's measures for the information
 * Art. 28(2) asks to give the member. Safeguards on a contract in Japan are refused: they would
 * mean the country was forgotten.
 */
static void
parse_abroad(struct parse *ps, json_t *root)
{
	struct contract *c = ps->c;
	json_t *v = json_object_get(root, "country");
	bool known = true, has_safeguards = json_object_get(root, "foreign_safeguards") != NULL;

	memcpy(c->country, IDENT_COUNTRY_HOME, sizeof(c->country));
	if (v != NULL) {
		const char *s = json_string_value(v);
		size_t n = s != NULL ? json_string_length(v) : 0;
		char q[256];
		known = false;
		if (s != NULL && ident_country_ok(s, n)) {
			memcpy(c->country, s, sizeof(c->country));
			known = true;
		} else if (s != NULL && n == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' &&
		           s[1] <= 'Z') {
			errlist_quote(q, sizeof(q), s);
			err(ps, "$.country", "%s is not an assigned ISO 3166-1 alpha-2 code%s", q,
			    strcmp(s, "UK") == 0 ? " (the United Kingdom is \"GB\")" : "");
		} else {
			err(ps, "$.country",
			    "must be an ISO 3166-1 alpha-2 country code, two capital letters "
			    "(\"US\", \"SG\"; \"JP\", the default, is Japan)");
		}
	}
	c->foreign_safeguards =
	    save(ps, errlist_get_text(ps->el, ps->file, "$", root, "foreign_safeguards",
	                              TEXT_MAX_CHARS, false));
	if (!known)
		return;
	if (!contract_abroad(c) && has_safeguards)
		err(ps, "$.foreign_safeguards",
		    "only for a recipient abroad: set \"country\" (a recipient in Japan needs "
		    "none)");
	if (contract_abroad(c) && !has_safeguards &&
	    (ps->relationship == CONTRACT_ENTRUSTMENT || ps->relationship == CONTRACT_JOINT_USE))
		err(ps, "$.foreign_safeguards",
		    "missing: a contract of relationship %s with a recipient abroad (country %s) "
		    "names the recipient's safeguards (基準適合体制, APPI Art. 28(1))",
		    contract_relationship_name((enum contract_relationship)ps->relationship),
		    c->country);
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
	                                   "country",
	                                   "foreign_safeguards",
	                                   NULL};
	struct contract *c = ps->c;
	errlist_unknown_keys(ps->el, ps->file, "$", root, keys);

	const char *id = errlist_get_bytes(ps->el, ps->file, "$", root, "id", 64, true);
	if (id != NULL && !valid_contract_id(id)) {
		err(ps, "$.id", "must be CT-YYYY-NNNN (e.g. \"CT-2026-0001\")");
		id = NULL;
	}
	c->id = save(ps, id);
	const char *partner = errlist_get_bytes(ps->el, ps->file, "$", root, "partner", 64, true);
	if (partner != NULL && !ident_name_ok(partner, strlen(partner))) {
		err(ps, "$.partner", "must match " IDENT_NAME_PATTERN);
		partner = NULL;
	}
	c->partner = save(ps, partner);
	c->partner_name = save(ps, errlist_get_text(ps->el, ps->file, "$", root, "partner_name",
	                                            NAME_MAX_CHARS, true));

	const char *rel = errlist_get_bytes(ps->el, ps->file, "$", root, "relationship", 64, true);
	ps->relationship = -1;
	if (rel != NULL) {
		if (contract_relationship_parse(rel, &c->relationship))
			ps->relationship = (int)c->relationship;
		else
			err(ps, "$.relationship", "must be entrustment, joint_use or third_party");
	}
	const char *st = errlist_get_bytes(ps->el, ps->file, "$", root, "status", 64, true);
	if (st != NULL && !contract_status_parse(st, &c->status))
		err(ps, "$.status", "must be active, suspended or terminated");
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

	c->confidentiality = save(ps, errlist_get_text(ps->el, ps->file, "$", root,
	                                               "confidentiality", TEXT_MAX_CHARS, false));
	if (ps->relationship == CONTRACT_ENTRUSTMENT &&
	    json_object_get(root, "confidentiality") == NULL)
		err(ps, "$.confidentiality",
		    "missing: an entrustment contract names its confidentiality clause "
		    "(委託先の監督)");
	c->notes =
	    save(ps, errlist_get_text(ps->el, ps->file, "$", root, "notes", TEXT_MAX_CHARS, false));
	parse_abroad(ps, root);
}

/* Parses into the error list shared by a whole set. */
static struct contract *
parse_into(const struct catalog *cat, const char *name, const char *buf, size_t len,
           struct errlist *el)
{
	struct parse ps = {.cat = cat, .el = el, .file = name, .relationship = -1};
	size_t before = errlist_count(el);
	json_t *root = NULL;

	if (len > CONTRACT_MAX_FILE_BYTES) {
		errlist_add(el, name, NULL, "larger than %d bytes", CONTRACT_MAX_FILE_BYTES);
		return NULL;
	}
	root = errlist_parse_object(el, name, buf, len);
	if (root == NULL)
		return NULL;
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

/* contract_load's parse of the bytes read; name stands for the file in the errors. */
static struct contract *
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
	struct contract *c;
	char *buf;
	size_t len;

	if (el == NULL) {
		*errors = strdup("out of memory");
		return NULL;
	}
	if (errlist_read_file(el, file, CONTRACT_MAX_FILE_BYTES, &buf, &len) != 0)
		return finish(NULL, el, errors);
	errlist_free(el);
	c = contract_parse(cat, file, buf, len, errors);
	free(buf);
	return c;
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
	s = contract_set_new(v, n, errors); /* takes v: duplicate ids are its to find */
	v = NULL;
	n = 0;
done:
	for (size_t i = 0; i < n; i++)
		contract_free(v[i]);
	free(v);
	for (int i = 0; i < count; i++)
		free(names[i]);
	free(names);
	if (s == NULL && *errors == NULL) {
		*errors = errlist_take(el);
		if (*errors == NULL)
			*errors = strdup("out of memory");
	}
	errlist_free(el);
	return s;
}

const char *
contract_file_transform(const char *s, enum contract_transform *t, unsigned *arg)
{
	return parse_transform(s, t, arg);
}

const char *
contract_file_transform_fits(const struct catalog_field *f, enum contract_transform t)
{
	return transform_fits(f, t);
}
