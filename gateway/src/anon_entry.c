/* anon_entry — an anonymised data set as the ledger records it, and its published notice. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon_entry.h"
#include "cal.h"
#include "ident.h"
#include "ledger_pool.h"
#include "ledger_read.h"
#include "ledger_store.h"
#include "text.h"

#define SHA256_HEX 64

static int bad(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
bad(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A free text of 1..max characters (text.h), or NULL when optional. 0 or -1 with why. */
static int
check_text(const char *name, const char *v, size_t max, bool required, char *why, size_t whylen)
{
	char rule[TEXT_EXPLAIN_MAX];
	enum text_error te;

	if (v == NULL)
		return required ? bad(why, whylen, "%s: missing", name) : 0;
	if ((te = text_check(v, strlen(v), max)) != TEXT_OK)
		return bad(why, whylen, "%s: %s", name, text_explain(te, max, rule, sizeof(rule)));
	return 0;
}

static bool
hex_ok(const char *s, size_t n)
{
	if (s == NULL || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int
anon_entry_check(const struct anon_entry *e, const struct catalog *cat, char *why, size_t whylen)
{
	int y, m, d;

	if (e->id == NULL || !ident_dataset_ok(e->id, strlen(e->id)))
		return bad(why, whylen, "id: must match " IDENT_DATASET_PATTERN);
	if (check_text("title", e->title, ANON_TITLE_MAX, true, why, whylen) != 0 ||
	    check_text("recipient", e->recipient, ANON_RECIPIENT_MAX, false, why, whylen) != 0 ||
	    check_text("method", e->method, ANON_METHOD_MAX, e->recipient != NULL, why, whylen) !=
	        0)
		return -1;
	if (e->recipient == NULL && e->method != NULL)
		return bad(why, whylen, "method: only with a recipient");
	if (e->made == NULL || strlen(e->made) != 10 ||
	    cal_parse_date(e->made, 10, &y, &m, &d) != 0)
		return bad(why, whylen, "made: must be a real date YYYY-MM-DD");
	if (!hex_ok(e->spec_sha256, SHA256_HEX))
		return bad(why, whylen, "spec_sha256: must be 64 lowercase hex digits");
	if (e->nitems == 0 || e->nitems > ANON_MAX_COLUMNS)
		return bad(why, whylen, "items: 1 to %d columns", ANON_MAX_COLUMNS);
	for (size_t i = 0; i < e->nitems; i++) {
		struct anon_column c, o;
		char msg[512];
		const char *r =
		    e->items[i] ? anon_item(cat, e->items[i], &c, msg, sizeof(msg)) : "missing";
		if (r != NULL)
			return bad(why, whylen, "items[%zu]: %s", i, r);
		for (size_t j = 0; j < i; j++)
			if (anon_item(cat, e->items[j], &o, msg, sizeof(msg)) == NULL &&
			    o.leaf == c.leaf)
				return bad(why, whylen, "items[%zu]: %s is items[%zu] already", i,
				           c.leaf->path, j);
	}
	if (e->k < 2 || e->k > ANON_K_MAX)
		return bad(why, whylen, "k: must be from 2 to %d", ANON_K_MAX);
	if (e->rows < e->k)
		return bad(why, whylen, "rows: fewer than k: a data set holds at least k rows");
	if (e->members > ANON_MAX_ROWS || e->left_out > e->members ||
	    e->rows > e->members - e->left_out ||
	    e->suppressed != e->members - e->left_out - e->rows)
		return bad(why, whylen,
		           "members: must be left_out + rows + suppressed, at most %lu",
		           ANON_MAX_ROWS);
	if (e->replaced > e->rows * (uint64_t)ANON_MAX_COLUMNS * 1000)
		return bad(why, whylen, "replaced: more values than the rows can hold");
	return 0;
}

size_t
anon_entry_detail(const struct anon_entry *e, struct anon_entry_text *txt,
                  struct ledger_detail d[ANON_ENTRY_DETAIL_MAX])
{
	const uint64_t nums[6] = {e->k,        e->left_out, e->members,
	                          e->replaced, e->rows,     e->suppressed};
	size_t n = 0, at = 0;

	for (size_t i = 0; i < 6; i++)
		snprintf(txt->num[i], sizeof(txt->num[i]), "%" PRIu64, nums[i]);
	txt->items[0] = '\0';
	for (size_t i = 0; i < e->nitems; i++) {
		int w = snprintf(txt->items + at, sizeof(txt->items) - at, "%s%s", i ? "," : "",
		                 e->items[i]);
		if (w < 0 || (size_t)w >= sizeof(txt->items) - at)
			break; /* anon_entry_check bounds the items: cannot happen for a checked one
			        */
		at += (size_t)w;
	}
	/* keys in ascending byte order (ledger_leaf.h) */
	d[n++] = (struct ledger_detail){"id", e->id};
	d[n++] = (struct ledger_detail){"items", txt->items};
	d[n++] = (struct ledger_detail){"k", txt->num[0]};
	d[n++] = (struct ledger_detail){"left_out", txt->num[1]};
	d[n++] = (struct ledger_detail){"made", e->made};
	d[n++] = (struct ledger_detail){"members", txt->num[2]};
	if (e->method != NULL)
		d[n++] = (struct ledger_detail){"method", e->method};
	if (e->recipient != NULL)
		d[n++] = (struct ledger_detail){"recipient", e->recipient};
	d[n++] = (struct ledger_detail){"replaced", txt->num[3]};
	d[n++] = (struct ledger_detail){"rows", txt->num[4]};
	d[n++] = (struct ledger_detail){"spec_sha256", e->spec_sha256};
	d[n++] = (struct ledger_detail){"suppressed", txt->num[5]};
	d[n++] = (struct ledger_detail){"title", e->title};
	return n;
}

/* A decimal as the detail writes it: digits, no leading zero, within 2^53. */
static int
read_num(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 16 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int
anon_entry_from_leaf(const struct ledger_leaf *leaf, struct anon_entry *e,
                     struct anon_entry_text *txt)
{
	const struct ledger_admin *a = leaf->e.admin;
	uint64_t *nums[6] = {&e->k,        &e->left_out, &e->members,
	                     &e->replaced, &e->rows,     &e->suppressed};
	static const char *const numkeys[6] = {"k",        "left_out", "members",
	                                       "replaced", "rows",     "suppressed"};
	const char *items = NULL;

	memset(e, 0, sizeof(*e));
	if (leaf->e.kind != LEDGER_ADMIN || a == NULL || strcmp(a->action, ANON_ENTRY_ACTION) != 0)
		return -1;
	for (size_t i = 0; i < a->n_detail; i++) {
		const char *k = a->detail[i].key, *v = a->detail[i].value;
		size_t j = 0;
		while (j < 6 && strcmp(numkeys[j], k) != 0)
			j++;
		if (j < 6) {
			if (read_num(v, nums[j]) != 0)
				return -1;
		} else if (strcmp(k, "id") == 0) {
			e->id = v;
		} else if (strcmp(k, "items") == 0) {
			items = v;
		} else if (strcmp(k, "made") == 0) {
			e->made = v;
		} else if (strcmp(k, "method") == 0) {
			e->method = v;
		} else if (strcmp(k, "recipient") == 0) {
			e->recipient = v;
		} else if (strcmp(k, "spec_sha256") == 0) {
			e->spec_sha256 = v;
		} else if (strcmp(k, "title") == 0) {
			e->title = v;
		} else {
			return -1;
		}
	}
	if (e->id == NULL || items == NULL || e->made == NULL || e->spec_sha256 == NULL ||
	    e->title == NULL || strlen(items) >= sizeof(txt->items))
		return -1;
	memcpy(txt->items, items, strlen(items) + 1);
	for (char *p = txt->items; *p != '\0';) {
		if (e->nitems == ANON_MAX_COLUMNS)
			return -1;
		e->items[e->nitems++] = p;
		p += strcspn(p, ",");
		if (*p == ',')
			*p++ = '\0';
	}
	return e->nitems > 0 ? 0 : -1;
}

json_t *
anon_entry_json(const struct anon_entry *e)
{
	json_t *items = json_array();

	for (size_t i = 0; items != NULL && i < e->nitems; i++)
		if (json_array_append_new(items, json_string(e->items[i])) != 0) {
			json_decref(items);
			return NULL;
		}
	if (items == NULL)
		return NULL;
	return json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:I}", "id", e->id,
	                 "title", e->title, "made", e->made, "recipient",
	                 e->recipient ? json_string(e->recipient) : json_null(), "method",
	                 e->method ? json_string(e->method) : json_null(), "spec_sha256",
	                 e->spec_sha256, "items", items, "k", (json_int_t)e->k, "members",
	                 (json_int_t)e->members, "left_out", (json_int_t)e->left_out, "rows",
	                 (json_int_t)e->rows, "suppressed", (json_int_t)e->suppressed, "replaced",
	                 (json_int_t)e->replaced);
}

/* A string member, or null (nullable) / absent: *out NULL. 0 or -1 with why. */
static int
get_str(json_t *doc, const char *name, bool nullable, const char **out, char *why, size_t whylen)
{
	json_t *v = json_object_get(doc, name);

	*out = NULL;
	if (v == NULL)
		return bad(why, whylen, "%s: missing", name);
	if (nullable && json_is_null(v))
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return bad(why, whylen, "%s: must be a string%s", name, nullable ? " or null" : "");
	*out = json_string_value(v);
	return 0;
}

static int
get_count(json_t *doc, const char *name, uint64_t *out, char *why, size_t whylen)
{
	json_t *v = json_object_get(doc, name);

	if (v == NULL)
		return bad(why, whylen, "%s: missing", name);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)ANON_MAX_ROWS * 1000)
		return bad(why, whylen, "%s: must be a whole number, 0 or more", name);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int
anon_entry_from_json(json_t *doc, struct anon_entry *e, char *why, size_t whylen)
{
	json_t *items = json_object_get(doc, "items"), *v;
	size_t i;

	memset(e, 0, sizeof(*e));
	if (get_str(doc, "id", false, &e->id, why, whylen) != 0 ||
	    get_str(doc, "title", false, &e->title, why, whylen) != 0 ||
	    get_str(doc, "made", false, &e->made, why, whylen) != 0 ||
	    get_str(doc, "recipient", true, &e->recipient, why, whylen) != 0 ||
	    get_str(doc, "method", true, &e->method, why, whylen) != 0 ||
	    get_str(doc, "spec_sha256", false, &e->spec_sha256, why, whylen) != 0)
		return -1;
	if (!json_is_array(items) || json_array_size(items) == 0 ||
	    json_array_size(items) > ANON_MAX_COLUMNS)
		return bad(why, whylen, "items: must be an array of 1 to %d strings",
		           ANON_MAX_COLUMNS);
	json_array_foreach(items, i, v)
	{
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
			return bad(why, whylen, "items[%zu]: must be a string", i);
		e->items[e->nitems++] = json_string_value(v);
	}
	if (get_count(doc, "k", &e->k, why, whylen) != 0 ||
	    get_count(doc, "members", &e->members, why, whylen) != 0 ||
	    get_count(doc, "left_out", &e->left_out, why, whylen) != 0 ||
	    get_count(doc, "rows", &e->rows, why, whylen) != 0 ||
	    get_count(doc, "suppressed", &e->suppressed, why, whylen) != 0 ||
	    get_count(doc, "replaced", &e->replaced, why, whylen) != 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The notice. */

/* An item in the words of the notice: the catalog's label, and how it was generalised. */
static void
item_words(struct buf *out, const struct catalog *cat, const char *item)
{
	struct anon_column c;
	char why[256];

	if (anon_item(cat, item, &c, why, sizeof(why)) != NULL) {
		buf_str(out, item); /* the catalog changed since: the item as recorded */
		return;
	}
	const char *ja = c.leaf->ja ? c.leaf->ja : c.leaf->path;
	switch (c.transform) {
	case CONTRACT_TF_AGE_BAND:
		buf_printf(out, "%sから求めた年齢（%u歳刻み）", ja, c.arg);
		return;
	case CONTRACT_TF_YEAR:
		buf_printf(out, "%s（年のみ）", ja);
		return;
	case CONTRACT_TF_PREFIX:
		buf_printf(out, "%s（先頭%u文字）", ja, c.arg);
		return;
	case CONTRACT_TF_MASK:
		buf_printf(out, "%s（末尾%u文字のほかは伏せ字）", ja, c.arg);
		return;
	case CONTRACT_TF_NONE:
	case CONTRACT_TF_PSEUDONYM:
		break;
	}
	buf_str(out, ja);
}

static void
item_list(struct buf *out, const struct anon_entry *e, const struct catalog *cat)
{
	for (size_t i = 0; i < e->nitems; i++) {
		buf_str(out, "　・");
		item_words(out, cat, e->items[i]);
		buf_str(out, "\n");
	}
}

int
anon_entry_notice(const struct anon_entry *e, const struct catalog *cat, const char *organisation,
                  struct buf *out)
{
	int y = 0, m = 0, d = 0;

	cal_parse_date(e->made, strlen(e->made), &y, &m, &d);
	buf_str(out, "匿名加工情報の作成に関する公表\n\n");
	buf_printf(out,
	           "%sは、個人情報の保護に関する法律第43条第3項に基づき、匿名加工情報を"
	           "作成しましたので、次のとおり公表します。\n\n",
	           organisation);
	buf_printf(out, "1. 匿名加工情報の名称\n　%s（%s）\n\n", e->title, e->id);
	buf_printf(out, "2. 作成日\n　%d年%d月%d日\n\n", y, m, d);
	buf_str(out, "3. 匿名加工情報に含まれる個人に関する情報の項目\n");
	item_list(out, e, cat);
	if (e->recipient != NULL) {
		buf_str(out, "\n匿名加工情報の第三者提供に関する公表\n\n");
		buf_printf(out,
		           "%sは、同法第43条第4項に基づき、上記の匿名加工情報を第三者に提供する"
		           "にあたり、次のとおり公表します。\n\n",
		           organisation);
		buf_str(out, "4. 第三者に提供される匿名加工情報に含まれる個人に関する情報の項目\n");
		item_list(out, e, cat);
		buf_printf(out, "\n5. 提供の方法\n　%s\n\n", e->method ? e->method : "");
		buf_str(out, "提供にあたっては、提供先に対し、提供する情報が匿名加工情報である旨を"
		             "明示します。\n");
	}
	buf_printf(out,
	           "\n%sは、この匿名加工情報を取り扱うにあたり、作成に用いた個人情報の本人を"
	           "識別するための行為を行いません。\n\n"
	           "お問い合わせ先：%s 個人情報に関する対応窓口\n",
	           organisation, organisation);
	return out->bad ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The ledger's data sets. */

struct each {
	int (*fn)(void *arg, const struct ledger_leaf *leaf, const struct anon_entry *e);
	void *arg;
	struct anon_entry_text txt;
};

static int
each_leaf(void *arg, const struct ledger_leaf *leaf)
{
	struct each *x = arg;
	struct anon_entry e;

	if (anon_entry_from_leaf(leaf, &e, &x->txt) != 0)
		return 0;
	return x->fn(x->arg, leaf, &e);
}

int
anon_entry_each(struct ledger *l,
                int (*fn)(void *arg, const struct ledger_leaf *leaf, const struct anon_entry *e),
                void *arg)
{
	struct ledger_filter f = {.kind = LEDGER_ADMIN, .end = UINT64_MAX};
	struct each *x = malloc(sizeof(*x));
	int rc;

	if (x == NULL)
		return LEDGER_ENOMEM;
	x->fn = fn;
	x->arg = arg;
	rc = ledger_each(l, &f, 0, each_leaf, x, NULL);
	free(x);
	return rc;
}

struct find {
	const char *id;
	uint64_t index;
	bool found;
};

static int
find_one(void *arg, const struct ledger_leaf *leaf, const struct anon_entry *e)
{
	struct find *f = arg;

	if (strcmp(e->id, f->id) == 0) {
		f->found = true;
		f->index = leaf->index;
		return 1; /* stops the walk: LEDGER_EINVAL below */
	}
	return 0;
}

int
anon_entry_find(struct ledger *l, const char *id, uint64_t *index)
{
	struct find f = {.id = id};
	int rc = anon_entry_each(l, find_one, &f);

	if (f.found) {
		*index = f.index;
		return 1;
	}
	return rc;
}

int
anon_entry_lock(const char *where, struct ledger_store **held, char *err, size_t errlen)
{
	struct ledger_store *s;

	*held = NULL;
	if (!ledger_store_is_url(where))
		return 0;
	if ((s = ledger_pool_reader(where, err, errlen)) == NULL)
		return -1;
	if (s->ops->ids_lock(s, true, ANON_ENTRY_LOCK_MS) != 0) {
		snprintf(err, errlen, "the lock on recording a data set: %s", s->ops->errmsg(s));
		ledger_store_free(s);
		return -1;
	}
	*held = s;
	return 0;
}

int
anon_entry_unlock(struct ledger_store *held, char *err, size_t errlen)
{
	int rc = 0;

	if (held == NULL)
		return 0;
	if (held->ops->ids_lock(held, false, 0) != 0) {
		snprintf(err, errlen, "%s", held->ops->errmsg(held));
		rc = -1;
	}
	ledger_store_free(held);
	return rc;
}
