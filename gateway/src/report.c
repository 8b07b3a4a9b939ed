/* report — the compliance reports over ledger entries: provisions, subject, breach, supervision. */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "cal.h"
#include "config.h"
#include "origin.h"
#include "pki.h"
#include "pseudo.h"
#include "report.h"

/* ------------------------------------------------------------------------------------------ */
/* Small tools: a string table (open addressing) and the text buffer. */

struct strtab {
	char **keys;
	uint32_t *vals;
	size_t n, cap; /* cap a power of two, or 0 */
};

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The value of key, or -1. */
static int64_t
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

/* Adds key (copied) with val; key must be absent. 0 or -1. */
static int
strtab_put(struct strtab *t, const char *key, uint32_t val)
{
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
	return 0;
}

static void
strtab_free(struct strtab *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->keys[i]);
	free(t->keys);
	free(t->vals);
	memset(t, 0, sizeof(*t));
}

/* Interns s into a list of strings with a table: its index, or -1 on memory. */
struct strlist {
	struct strtab tab;
	char **v;
	size_t n, cap;
};

static int64_t
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

static void
strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	strtab_free(&l->tab);
}

void
report_buf_add(struct report_buf *b, const char *s, size_t n)
{
	if (b->bad)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (d == NULL) {
			b->bad = true;
			free(b->data);
			b->data = NULL;
			b->len = b->cap = 0;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_str(struct report_buf *b, const char *s)
{
	report_buf_add(b, s, strlen(s));
}

void
report_buf_free(struct report_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------------------------------ */
/* Leaves, days, names. */

static const char *
str_or_null(const json_t *o, const char *name, int *bad)
{
	const json_t *v = json_object_get(o, name);

	if (v == NULL) {
		*bad = 1;
		return NULL;
	}
	if (json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

int
report_leaf_decode(const json_t *leaf, struct report_leaf *out)
{
	int bad = 0;
	const json_t *idx = json_object_get(leaf, "index"), *items;
	const char *kind, *t;
	time_t secs;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(leaf) || !json_is_integer(idx) || json_integer_value(idx) < 0)
		return -1;
	out->index = (uint64_t)json_integer_value(idx);
	t = str_or_null(leaf, "time", &bad);
	kind = str_or_null(leaf, "kind", &bad);
	if (bad || t == NULL || kind == NULL || cal_parse_rfc3339(t, &secs) != 0)
		return -1;
	out->time = t;
	/* the ledger writes exactly "YYYY-MM-DDTHH:MM:SS.mmmZ" */
	out->time_ms = (int64_t)secs * 1000;
	if (strlen(t) == 24 && t[19] == '.')
		out->time_ms += (t[20] - '0') * 100 + (t[21] - '0') * 10 + (t[22] - '0');
	if (strcmp(kind, "release") == 0)
		out->kind = LEDGER_RELEASE;
	else if (strcmp(kind, "deny") == 0)
		out->kind = LEDGER_DENY;
	else if (strcmp(kind, "admin") == 0)
		out->kind = LEDGER_ADMIN;
	else
		return -1;
	out->request = str_or_null(leaf, "request", &bad);
	out->partner = str_or_null(leaf, "partner", &bad);
	out->contract = str_or_null(leaf, "contract", &bad);
	out->relationship = str_or_null(leaf, "relationship", &bad);
	out->purpose = str_or_null(leaf, "purpose", &bad);
	out->subject = str_or_null(leaf, "subject", &bad);
	out->basis = str_or_null(leaf, "basis", &bad);
	out->reason = str_or_null(leaf, "reason", &bad);
	out->digest = str_or_null(leaf, "digest", &bad);
	out->token = str_or_null(leaf, "token", &bad);
	out->justification = str_or_null(leaf, "justification", &bad);
	items = json_object_get(leaf, "items");
	if (items == NULL || !(json_is_null(items) || json_is_array(items)))
		return -1;
	for (size_t i = 0; json_is_array(items) && i < json_array_size(items); i++)
		if (!json_is_string(json_array_get(items, i)))
			return -1;
	out->items = json_is_array(items) ? items : NULL;
	out->count = 1;
	return bad ? -1 : 0;
}

int64_t
report_day(int64_t ms)
{
	int64_t local = ms + REPORT_JST_MS;
	return local / REPORT_DAY_MS - (local % REPORT_DAY_MS < 0);
}

void
report_day_text(int64_t day, char out[11])
{
	int y, m, d;
	char tmp[32];

	cal_civil_from_days(day, &y, &m, &d);
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d", y, m, d);
	memcpy(out, tmp, 10);
	out[10] = '\0';
}

int
report_parse_time(const char *s, bool end_of_day, int64_t *ms)
{
	int y, m, d;
	time_t t;

	if (s == NULL || *s == '\0' || strlen(s) > 40)
		return -1;
	if (strlen(s) == 10 && cal_parse_date(s, 10, &y, &m, &d) == 0) {
		int64_t day = cal_days_from_civil(y, m, d) + (end_of_day ? 1 : 0);
		*ms = day * REPORT_DAY_MS - REPORT_JST_MS;
	} else if (cal_parse_rfc3339(s, &t) == 0) {
		*ms = (int64_t)t * 1000;
	} else {
		return -1;
	}
	return *ms > 0 ? 0 : -1;
}

static void
format_ms(int64_t ms, char out[32])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char tmp[80];

	/* instants of the ledger: after 1970 and before 10000 */
	gmtime_r(&s, &tm);
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	snprintf(out, 32, "%.24s", tmp);
}

static json_t *
time_or_null(int64_t ms)
{
	char t[32];

	if (ms <= 0)
		return json_null();
	format_ms(ms, t);
	return json_string(t);
}

static json_t *
str_json(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* The recipient's registered name: from the entry's contract, else any contract of the
 * partner; "" when none is on file any more. */
static const char *
partner_name(const struct report_names *n, const char *contract, const char *partner)
{
	const struct contract *c = NULL;
	const struct contract *const *pc;

	if (n == NULL || n->contracts == NULL)
		return "";
	if (contract != NULL)
		c = contract_set_find(n->contracts, contract);
	if (c == NULL && partner != NULL && contract_set_partner(n->contracts, partner, &pc) > 0)
		c = pc[0];
	return c != NULL && c->partner_name != NULL ? c->partner_name : "";
}

static const struct catalog_purpose *
purpose_of(const struct report_names *n, const char *purpose)
{
	if (n == NULL || n->catalog == NULL || purpose == NULL)
		return NULL;
	return catalog_purpose(n->catalog, purpose);
}

static const char *
purpose_label(const struct report_names *n, const char *purpose)
{
	const struct catalog_purpose *p = purpose_of(n, purpose);
	return p != NULL ? p->ja : "";
}

static const char *
relationship_label(const char *r)
{
	if (r == NULL)
		return "";
	if (strcmp(r, "entrustment") == 0)
		return "委託";
	if (strcmp(r, "joint_use") == 0)
		return "共同利用";
	if (strcmp(r, "third_party") == 0)
		return "第三者提供";
	return "";
}

/* The legal ground of a provision in words, as APPI Art. 27 names it. */
static void
basis_label(const struct report_names *n, const char *basis, char *out, size_t len)
{
	if (basis == NULL)
		snprintf(out, len, "%s", "");
	else if (strcmp(basis, "entrustment") == 0)
		snprintf(out, len, "委託に伴う提供（法第27条第5項第1号）");
	else if (strcmp(basis, "joint_use") == 0)
		snprintf(out, len, "共同利用（法第27条第5項第3号）");
	else if (strcmp(basis, "consent") == 0)
		snprintf(out, len, "本人の同意（法第27条第1項）");
	else if (strncmp(basis, "exception:", 10) == 0)
		snprintf(out, len, "%s（法第27条第1項各号の例外）", purpose_label(n, basis + 10));
	else
		snprintf(out, len, "%s", basis);
}

/* The catalog class of a ledger item ("phone:mask:4" is the leaf "phone"). */
static const char *
item_class(const struct report_names *n, const char *item)
{
	char path[256];
	size_t k = strcspn(item, ":");
	const struct catalog_field *f;

	if (n == NULL || n->catalog == NULL || k >= sizeof(path))
		return "unknown";
	memcpy(path, item, k);
	path[k] = '\0';
	f = catalog_field(n->catalog, path);
	return f != NULL ? catalog_class_name(f->cls) : "unknown";
}

/* ------------------------------------------------------------------------------------------ */
/* Provision records. */

json_t *
report_provision_json(const struct report_leaf *l, const struct report_names *n)
{
	char day[11], basis[512], t[32];
	json_t *items = l->items != NULL ? json_deep_copy(l->items) : json_array();

	report_day_text(report_day(l->time_ms), day);
	basis_label(n, l->basis, basis, sizeof(basis));
	if (l->time == NULL)
		format_ms(l->time_ms, t);
	return json_pack(
	    "{s:I,s:s,s:s,s:o,s:s,s:o,s:o,s:s,s:o,s:s,s:o,s:o,s:o,s:s,s:b,s:o,s:o,"
	    "s:o,s:o}",
	    "index", (json_int_t)l->index, "time", l->time ? l->time : t, "date", day, "recipient",
	    str_json(l->partner), "recipient_name", partner_name(n, l->contract, l->partner),
	    "contract", str_json(l->contract), "relationship", str_json(l->relationship),
	    "relationship_label", relationship_label(l->relationship), "purpose",
	    str_json(l->purpose), "purpose_label", purpose_label(n, l->purpose), "subject",
	    str_json(l->subject), "items", items, "basis", str_json(l->basis), "basis_label", basis,
	    "consent", l->basis != NULL && strcmp(l->basis, "consent") == 0, "justification",
	    str_json(l->justification), "token", str_json(l->token), "request",
	    str_json(l->request), "digest", str_json(l->digest));
}

void
report_csv_field(struct report_buf *b, const char *s, bool last)
{
	if (s == NULL)
		s = "";
	bool formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
	               s[0] == '\r';
	if (strpbrk(s, ",\"\r\n") != NULL || formula) {
		report_buf_add(b, "\"", 1);
		if (formula)
			report_buf_add(b, "'", 1);
		for (const char *p = s; *p != '\0';) {
			size_t run = strcspn(p, "\"");
			report_buf_add(b, p, run);
			p += run;
			if (*p == '"') {
				report_buf_add(b, "\"\"", 2);
				p++;
			}
		}
		report_buf_add(b, "\"", 1);
	} else {
		buf_str(b, s);
	}
	report_buf_add(b, last ? "\r\n" : ",", last ? 2 : 1);
}

static const char *const csv_columns[] = {
    "index",          "time",          "date",          "recipient",
    "recipient_name", "contract",      "relationship",  "relationship_label",
    "purpose",        "purpose_label", "subject",       "items",
    "basis",          "basis_label",   "justification", "token",
    "request",
};
#define NCOLUMNS (sizeof(csv_columns) / sizeof(csv_columns[0]))

void
report_csv_header(struct report_buf *b)
{
	report_buf_add(b, "\xEF\xBB\xBF", 3);
	for (size_t i = 0; i < NCOLUMNS; i++)
		report_csv_field(b, csv_columns[i], i + 1 == NCOLUMNS);
}

void
report_csv_provision(struct report_buf *b, const struct report_leaf *l,
                     const struct report_names *n)
{
	char idx[24], day[11], basis[512], t[32];
	struct report_buf items = {0};

	snprintf(idx, sizeof(idx), "%" PRIu64, l->index);
	report_day_text(report_day(l->time_ms), day);
	basis_label(n, l->basis, basis, sizeof(basis));
	if (l->time == NULL)
		format_ms(l->time_ms, t);
	buf_str(&items, "");
	for (size_t i = 0; l->items != NULL && i < json_array_size(l->items); i++) {
		if (i > 0)
			buf_str(&items, ";");
		buf_str(&items, json_string_value(json_array_get(l->items, i)));
	}
	if (items.bad) {
		b->bad = true;
		return;
	}
	const char *row[NCOLUMNS] = {
	    idx,
	    l->time ? l->time : t,
	    day,
	    l->partner,
	    partner_name(n, l->contract, l->partner),
	    l->contract,
	    l->relationship,
	    relationship_label(l->relationship),
	    l->purpose,
	    purpose_label(n, l->purpose),
	    l->subject,
	    items.data,
	    l->basis,
	    basis,
	    l->justification,
	    l->token,
	    l->request,
	};
	for (size_t i = 0; i < NCOLUMNS; i++)
		report_csv_field(b, row[i], i + 1 == NCOLUMNS);
	report_buf_free(&items);
}

/* ------------------------------------------------------------------------------------------ */
/* The breach report. */

struct breach_member {
	char *subject;
	char *member_id;
	uint32_t *items; /* indexes into b->items, sorted, no repeats */
	size_t nitems, capitems;
	uint64_t releases;
	int64_t first, last;
};

struct report_breach {
	struct strtab by_subject;
	struct breach_member *m;
	size_t n, cap;
	struct strlist items;
	uint64_t releases;
};

struct report_breach *
report_breach_new(void)
{
	return calloc(1, sizeof(struct report_breach));
}

void
report_breach_free(struct report_breach *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->m[i].subject);
		free(b->m[i].member_id);
		free(b->m[i].items);
	}
	free(b->m);
	strtab_free(&b->by_subject);
	strlist_free(&b->items);
	free(b);
}

static int
member_add_item(struct breach_member *m, uint32_t item)
{
	size_t lo = 0, hi = m->nitems;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->items[mid] == item)
			return 0;
		if (m->items[mid] < item)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (m->nitems == m->capitems) {
		size_t cap = m->capitems ? m->capitems * 2 : 8;
		uint32_t *v = realloc(m->items, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		m->items = v;
		m->capitems = cap;
	}
	memmove(m->items + lo + 1, m->items + lo, (m->nitems - lo) * sizeof(*m->items));
	m->items[lo] = item;
	m->nitems++;
	return 0;
}

int
report_breach_add(struct report_breach *b, const struct report_leaf *l)
{
	struct breach_member *m;
	int64_t k;

	if (l->kind != LEDGER_RELEASE || l->subject == NULL)
		return 0;
	k = strtab_get(&b->by_subject, l->subject);
	if (k < 0) {
		if (b->n == b->cap) {
			size_t cap = b->cap ? b->cap * 2 : 64;
			struct breach_member *v = realloc(b->m, cap * sizeof(*v));
			if (v == NULL)
				return -1;
			b->m = v;
			b->cap = cap;
		}
		m = &b->m[b->n];
		memset(m, 0, sizeof(*m));
		if ((m->subject = strdup(l->subject)) == NULL ||
		    strtab_put(&b->by_subject, l->subject, (uint32_t)b->n) != 0) {
			free(m->subject);
			return -1;
		}
		k = (int64_t)b->n++;
		m->first = l->time_ms;
		m->last = l->time_ms;
	}
	m = &b->m[k];
	m->releases += l->count;
	b->releases += l->count;
	if (l->time_ms < m->first)
		m->first = l->time_ms;
	if (l->time_ms > m->last)
		m->last = l->time_ms;
	for (size_t i = 0; l->items != NULL && i < json_array_size(l->items); i++) {
		int64_t it =
		    strlist_intern(&b->items, json_string_value(json_array_get(l->items, i)));
		if (it < 0 || member_add_item(m, (uint32_t)it) != 0)
			return -1;
	}
	return 0;
}

void
report_breach_resolve(struct report_breach *b, const char *subject, const char *member_id)
{
	int64_t k = strtab_get(&b->by_subject, subject);

	if (k < 0 || b->m[k].member_id != NULL)
		return;
	b->m[k].member_id = strdup(member_id);
}

void
report_breach_subjects(const struct report_breach *b, int (*fn)(void *arg, const char *subject),
                       void *arg)
{
	for (size_t i = 0; i < b->n; i++)
		if (fn(arg, b->m[i].subject) != 0)
			return;
}

size_t
report_breach_count(const struct report_breach *b)
{
	return b->n;
}

static int
cmp_first(const void *a, const void *b)
{
	const struct breach_member *x = a, *y = b;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return strcmp(x->subject, y->subject);
}

json_t *
report_breach_json(struct report_breach *b, const struct report_names *n, const char *partner,
                   int64_t from_ms, int64_t to_ms)
{
	json_t *doc = NULL, *members = json_array(), *items = json_array(), *classes = json_array(),
	       *reasons = json_array();
	uint64_t *per_item = calloc(b->items.n ? b->items.n : 1, sizeof(*per_item));
	bool my_number = false;
	char t1[32], t2[32];

	if (members == NULL || items == NULL || classes == NULL || reasons == NULL ||
	    per_item == NULL)
		goto fail;
	/* oldest first: the order in which the data left */
	if (b->n > 1)
		qsort(b->m, b->n, sizeof(*b->m), cmp_first);
	for (size_t i = 0; i < b->n; i++) {
		const struct breach_member *m = &b->m[i];
		json_t *its = json_array();
		for (size_t k = 0; its != NULL && k < m->nitems; k++) {
			per_item[m->items[k]]++;
			json_array_append_new(its, json_string(b->items.v[m->items[k]]));
		}
		format_ms(m->first, t1);
		format_ms(m->last, t2);
		if (its == NULL ||
		    json_array_append_new(members, json_pack("{s:s,s:o,s:o,s:I,s:s,s:s}", "subject",
		                                             m->subject, "member_id",
		                                             str_json(m->member_id), "items", its,
		                                             "releases", (json_int_t)m->releases,
		                                             "first", t1, "last", t2)) != 0)
			goto fail;
	}
	/* the rebuild above moved members: the subject table must follow */
	strtab_free(&b->by_subject);
	for (size_t i = 0; i < b->n; i++)
		if (strtab_put(&b->by_subject, b->m[i].subject, (uint32_t)i) != 0)
			goto fail;
	for (size_t i = 0; i < b->items.n; i++) {
		const char *cls = item_class(n, b->items.v[i]);
		bool seen = false;
		if (strcmp(cls, "my_number") == 0)
			my_number = true;
		for (size_t k = 0; k < json_array_size(classes) && !seen; k++)
			seen = strcmp(json_string_value(json_array_get(classes, k)), cls) == 0;
		if (!seen)
			json_array_append_new(classes, json_string(cls));
		json_array_append_new(items,
		                      json_pack("{s:s,s:s,s:I}", "item", b->items.v[i], "class",
		                                cls, "members", (json_int_t)per_item[i]));
	}
	if (b->n > REPORT_BREACH_PEOPLE)
		json_array_append_new(
		    reasons,
		    json_pack("{s:s,s:s}", "code", "over_1000_people", "text",
		              "漏えい等が発生し、又は発生したおそれがある個人データに係る本人の数が"
		              "千人を超える事態（個人情報保護法施行規則第7条第4号）"));
	if (my_number)
		json_array_append_new(reasons,
		                      json_pack("{s:s,s:s}", "code", "my_number", "text",
		                                "個人番号（特定個人情報）を含む漏えい等（番号法第29"
		                                "条の4。pdgateは人数によらず報告対象として扱う）"
		                                "条の4・特定個人情報の漏えい等に関する規則）"));
	doc =
	    json_pack("{s:o,s:s,s:o,s:o,s:I,s:I,s:o,s:o,s:o,s:b,s:o}", "partner", str_json(partner),
	              "partner_name", partner_name(n, NULL, partner), "from", time_or_null(from_ms),
	              "to", time_or_null(to_ms), "count", (json_int_t)b->n, "releases",
	              (json_int_t)b->releases, "members", members, "items", items, "classes",
	              classes, "reportable", json_array_size(reasons) > 0, "reasons", reasons);
	free(per_item);
	return doc;
fail:
	json_decref(members);
	json_decref(items);
	json_decref(classes);
	json_decref(reasons);
	free(per_item);
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* The supervision summary. */

struct summary_row {
	const char *partner, *contract, *purpose; /* interned in s->names */
	uint64_t releases, refused, exception_uses;
	struct strlist reasons;
	uint64_t *reason_counts;
	size_t reason_cap;
};

struct report_summary {
	int64_t from_ms, to_ms;
	time_t now;
	struct strtab row_keys;
	struct summary_row *rows;
	size_t nrows, caprows;
	struct strlist names;
	/* daily release volumes per partner, days [base, base + ndays) */
	struct strlist partners;
	uint64_t **volume; /* nvolume arrays of ndays counts */
	size_t nvolume;
	int64_t base;
	size_t ndays;
	json_t *admin;
};

struct report_summary *
report_summary_new(int64_t from_ms, int64_t to_ms, time_t now)
{
	struct report_summary *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->from_ms = from_ms;
	s->to_ms = to_ms;
	s->now = now;
	s->base = report_day(from_ms) - REPORT_TRAILING_DAYS;
	int64_t last = report_day(to_ms - 1);
	s->ndays = last >= s->base ? (size_t)(last - s->base + 1) : 1;
	s->admin = json_array();
	if (s->admin == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void
report_summary_free(struct report_summary *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nrows; i++) {
		strlist_free(&s->rows[i].reasons);
		free(s->rows[i].reason_counts);
	}
	free(s->rows);
	strtab_free(&s->row_keys);
	strlist_free(&s->names);
	for (size_t i = 0; i < s->nvolume; i++)
		free(s->volume[i]);
	free(s->volume);
	strlist_free(&s->partners);
	json_decref(s->admin);
	free(s);
}

static const char *
intern(struct strlist *l, const char *s, int *bad)
{
	int64_t k;

	if (s == NULL)
		return NULL;
	if ((k = strlist_intern(l, s)) < 0) {
		*bad = 1;
		return NULL;
	}
	return l->v[k];
}

static struct summary_row *
summary_row(struct report_summary *s, const struct report_leaf *l)
{
	char key[512];
	int bad = 0;
	int64_t k;

	snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", l->partner ? l->partner : "",
	         l->contract ? l->contract : "", l->purpose ? l->purpose : "");
	if ((k = strtab_get(&s->row_keys, key)) >= 0)
		return &s->rows[k];
	if (s->nrows == s->caprows) {
		size_t cap = s->caprows ? s->caprows * 2 : 16;
		struct summary_row *v = realloc(s->rows, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		s->rows = v;
		s->caprows = cap;
	}
	struct summary_row *r = &s->rows[s->nrows];
	memset(r, 0, sizeof(*r));
	r->partner = intern(&s->names, l->partner, &bad);
	r->contract = intern(&s->names, l->contract, &bad);
	r->purpose = intern(&s->names, l->purpose, &bad);
	if (bad || strtab_put(&s->row_keys, key, (uint32_t)s->nrows) != 0)
		return NULL;
	s->nrows++;
	return r;
}

static int
row_refusal(struct summary_row *r, const char *reason, uint64_t count)
{
	int64_t k = strlist_intern(&r->reasons, reason != NULL ? reason : "unknown");

	if (k < 0)
		return -1;
	if ((size_t)k >= r->reason_cap) {
		size_t cap = r->reason_cap ? r->reason_cap * 2 : 8;
		uint64_t *v = realloc(r->reason_counts, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		memset(v + r->reason_cap, 0, (cap - r->reason_cap) * sizeof(*v));
		r->reason_counts = v;
		r->reason_cap = cap;
	}
	r->reason_counts[k] += count;
	r->refused += count;
	return 0;
}

int
report_summary_add(struct report_summary *s, const struct report_leaf *l, unsigned what)
{
	if ((what & REPORT_ROWS) && l->kind != LEDGER_ADMIN && l->time_ms >= s->from_ms &&
	    l->time_ms < s->to_ms) {
		struct summary_row *r = summary_row(s, l);
		if (r == NULL)
			return -1;
		if (l->kind == LEDGER_RELEASE) {
			r->releases += l->count;
			if (l->basis != NULL && strncmp(l->basis, "exception:", 10) == 0)
				r->exception_uses += l->count;
		} else if (row_refusal(r, l->reason, l->count) != 0) {
			return -1;
		}
	}
	if ((what & REPORT_VOLUME) && l->kind == LEDGER_RELEASE && l->partner != NULL) {
		int64_t day = report_day(l->time_ms) - s->base;
		if (day < 0 || (size_t)day >= s->ndays)
			return 0;
		int64_t k = strlist_intern(&s->partners, l->partner);
		if (k < 0)
			return -1;
		if ((size_t)k >= s->nvolume) {
			uint64_t **v = realloc(s->volume, s->partners.n * sizeof(*v));
			if (v == NULL)
				return -1;
			s->volume = v;
			for (; s->nvolume < s->partners.n; s->nvolume++)
				if ((v[s->nvolume] = calloc(s->ndays, sizeof(**v))) == NULL)
					return -1;
		}
		s->volume[k][day] += l->count;
	}
	return 0;
}

int
report_summary_admin(struct report_summary *s, const json_t *leaf)
{
	return json_array_append(s->admin, (json_t *)leaf);
}

static json_t *
summary_anomalies(const struct report_summary *s)
{
	json_t *out = json_array();
	int64_t first = report_day(s->from_ms) - s->base;

	for (size_t p = 0; out != NULL && p < s->nvolume; p++) {
		const uint64_t *v = s->volume[p];
		for (size_t d = (size_t)first; d < s->ndays; d++) {
			uint64_t sum = 0;
			for (size_t k = d - REPORT_TRAILING_DAYS; k < d; k++)
				sum += v[k];
			double mean = (double)sum / REPORT_TRAILING_DAYS;
			/* a partner with no history has no mean to exceed: its first days are
			 * seen in the rows, not flagged */
			if (sum == 0 || (double)v[d] <= REPORT_VOLUME_FACTOR * mean)
				continue;
			char day[11];
			report_day_text(s->base + (int64_t)d, day);
			json_array_append_new(
			    out, json_pack("{s:s,s:s,s:I,s:f,s:f}", "partner", s->partners.v[p],
			                   "day", day, "releases", (json_int_t)v[d],
			                   "trailing_mean", mean, "ratio", (double)v[d] / mean));
		}
	}
	return out;
}

static json_t *
summary_ending(const struct report_summary *s, const struct report_names *n)
{
	json_t *out = json_array();

	for (size_t i = 0; out != NULL && n != NULL && n->contracts != NULL &&
	                   i < contract_set_count(n->contracts);
	     i++) {
		const struct contract *c = contract_set_at(n->contracts, i);
		if (c->status == CONTRACT_TERMINATED || c->valid_until < s->now ||
		    c->valid_until > s->now + REPORT_ENDING_DAYS * 86400)
			continue;
		json_array_append_new(
		    out,
		    json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "contract", c->id, "partner", c->partner,
		              "partner_name", c->partner_name ? c->partner_name : "", "status",
		              contract_status_name(c->status), "valid_until", c->valid_until_text,
		              "days_left", (json_int_t)((c->valid_until - s->now) / 86400)));
	}
	return out;
}

static int
cmp_rows(const void *a, const void *b)
{
	const struct summary_row *x = a, *y = b;
	int c = strcmp(x->partner ? x->partner : "", y->partner ? y->partner : "");
	if (c == 0)
		c = strcmp(x->contract ? x->contract : "", y->contract ? y->contract : "");
	if (c == 0)
		c = strcmp(x->purpose ? x->purpose : "", y->purpose ? y->purpose : "");
	return c;
}

json_t *
report_summary_json(struct report_summary *s, const struct report_names *n)
{
	json_t *rows = json_array();
	uint64_t releases = 0, refused = 0, exceptions = 0;

	if (rows == NULL)
		return NULL;
	if (s->nrows > 1)
		qsort(s->rows, s->nrows, sizeof(*s->rows), cmp_rows);
	strtab_free(&s->row_keys); /* the order changed; rows are not added after this */
	for (size_t i = 0; i < s->nrows; i++) {
		const struct summary_row *r = &s->rows[i];
		const struct catalog_purpose *p = purpose_of(n, r->purpose);
		json_t *reasons = json_object();
		for (size_t k = 0; reasons != NULL && k < r->reasons.n; k++)
			json_object_set_new(reasons, r->reasons.v[k],
			                    json_integer((json_int_t)r->reason_counts[k]));
		releases += r->releases;
		refused += r->refused;
		exceptions += r->exception_uses;
		json_array_append_new(
		    rows,
		    json_pack("{s:o,s:s,s:o,s:o,s:s,s:o,s:I,s:I,s:o,s:I}", "partner",
		              str_json(r->partner), "partner_name",
		              partner_name(n, r->contract, r->partner), "contract",
		              str_json(r->contract), "purpose", str_json(r->purpose),
		              "purpose_label", p ? p->ja : "", "purpose_kind",
		              p ? json_string(catalog_kind_name(p->kind)) : json_null(), "releases",
		              (json_int_t)r->releases, "refused", (json_int_t)r->refused,
		              "refusals", reasons ? reasons : json_object(), "exception_uses",
		              (json_int_t)r->exception_uses));
	}
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:{s:I,s:I,s:I,s:I}}", "from",
	                 time_or_null(s->from_ms), "to", time_or_null(s->to_ms), "rows", rows,
	                 "contracts_ending", summary_ending(s, n), "volume_anomalies",
	                 summary_anomalies(s), "admin", json_incref(s->admin), "totals", "releases",
	                 (json_int_t)releases, "refused", (json_int_t)refused, "exception_uses",
	                 (json_int_t)exceptions, "admin", (json_int_t)json_array_size(s->admin));
}

/* ------------------------------------------------------------------------------------------ */
/* Readers on the ledger file. */

struct report_db {
	sqlite3 *db;
};

struct report_db *
report_db_open(const char *path, char *err, size_t errlen)
{
	struct report_db *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         d->db ? sqlite3_errmsg(d->db) : "cannot open");
		report_db_close(d);
		return NULL;
	}
	sqlite3_busy_timeout(d->db, 5000);
	return d;
}

void
report_db_close(struct report_db *d)
{
	if (d == NULL)
		return;
	sqlite3_close(d->db);
	free(d);
}

static int
db_fail(struct report_db *d, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "ledger: %s: %s", what, sqlite3_errmsg(d->db));
	return -1;
}

/* One read transaction per report, so that every query sees the same entries. */
static int
db_begin(struct report_db *d, char *err, size_t errlen)
{
	if (sqlite3_exec(d->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(d, err, errlen, "begin");
	return 0;
}

/* *st = sql prepared, with the entry index range lo <= idx < hi bound to ?1 and ?2. 0, or -1
 * with err naming what the query was for. */
static int
db_prepare_range(struct report_db *d, const char *sql, uint64_t lo, uint64_t hi, const char *what,
                 sqlite3_stmt **st, char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(d->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(d, err, errlen, what);
	sqlite3_bind_int64(*st, 1, (sqlite3_int64)lo);
	sqlite3_bind_int64(*st, 2, (sqlite3_int64)hi);
	return 0;
}

static void
db_end(struct report_db *d)
{
	sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
}

/* The first index whose time is >= ms (time is non-decreasing with idx). */
static int
db_bisect(struct report_db *d, uint64_t size, int64_t ms, uint64_t *out)
{
	sqlite3_stmt *st = NULL;
	uint64_t lo = 0, hi = size;

	if (sqlite3_prepare_v2(d->db, "SELECT time FROM entries WHERE idx = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)mid);
		if (sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_finalize(st);
			return -1;
		}
		int64_t t = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (t < ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	sqlite3_finalize(st);
	*out = lo;
	return 0;
}

/* The idx range [*lo, *hi) of the time range [from_ms, to_ms) (0: open). */
static int
db_range(struct report_db *d, int64_t from_ms, int64_t to_ms, uint64_t *lo, uint64_t *hi, char *err,
         size_t errlen)
{
	sqlite3_stmt *st = NULL;
	uint64_t size = 0;

	if (sqlite3_prepare_v2(d->db, "SELECT max(idx) FROM entries", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return db_fail(d, err, errlen, "size");
	}
	if (sqlite3_column_type(st, 0) != SQLITE_NULL)
		size = (uint64_t)sqlite3_column_int64(st, 0) + 1;
	sqlite3_finalize(st);
	*lo = 0;
	*hi = size;
	if ((from_ms > 0 && db_bisect(d, size, from_ms, lo) != 0) ||
	    (to_ms > 0 && db_bisect(d, size, to_ms, hi) != 0))
		return db_fail(d, err, errlen, "time range");
	return 0;
}

static json_t *
parse_leaf(const char *text, int len)
{
	return json_loadb(text, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
}

int
report_db_releases(struct report_db *d, const struct report_query *q,
                   int (*fn)(void *arg, const struct report_leaf *l), void *arg, uint64_t *next,
                   char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	uint64_t lo, hi;
	unsigned got = 0;
	char sql[256];
	int rc = -1, s;

	*next = UINT64_MAX;
	if (q->limit == 0 || q->limit > REPORT_MAX_RECORDS) {
		snprintf(err, errlen, "limit out of range");
		return -1;
	}
	if (db_begin(d, err, errlen) != 0)
		return -1;
	if (db_range(d, q->from_ms, q->to_ms, &lo, &hi, err, errlen) != 0)
		goto done;
	if (q->after != UINT64_MAX && q->after + 1 > lo)
		lo = q->after + 1;
	snprintf(sql, sizeof(sql),
	         "SELECT idx, leaf FROM entries WHERE idx >= ?1 AND idx < ?2 AND %skind = "
	         "'release'%s%s ORDER BY idx LIMIT ?5",
	         /* with a partner or member, its index is the narrow one: keep SQLite off the
	            kind index, which would walk every release of the range */
	         q->partner || q->subject ? "+" : "", q->partner ? " AND partner = ?3" : "",
	         q->subject ? " AND subject = ?4" : "");
	if (db_prepare_range(d, sql, lo, hi, "releases", &st, err, errlen) != 0)
		goto done;
	if (q->partner)
		sqlite3_bind_text(st, 3, q->partner, -1, SQLITE_STATIC);
	if (q->subject)
		sqlite3_bind_text(st, 4, q->subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)q->limit + 1); /* one more: is there a next? */
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		struct report_leaf l;
		if (got == q->limit) {
			*next = (uint64_t)sqlite3_column_int64(st, 0) - 1;
			break;
		}
		json_t *leaf = parse_leaf((const char *)sqlite3_column_text(st, 1),
		                          sqlite3_column_bytes(st, 1));
		if (leaf == NULL || report_leaf_decode(leaf, &l) != 0) {
			json_decref(leaf);
			snprintf(err, errlen, "ledger: entry %lld cannot be decoded",
			         (long long)sqlite3_column_int64(st, 0));
			goto done;
		}
		int stop = fn(arg, &l);
		json_decref(leaf);
		if (stop != 0) {
			snprintf(err, errlen, "out of memory");
			goto done;
		}
		got++;
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE) {
		db_fail(d, err, errlen, "releases");
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	db_end(d);
	return rc;
}

int
report_db_refusals(struct report_db *d, const struct report_query *q, uint64_t *count, char *err,
                   size_t errlen)
{
	sqlite3_stmt *st = NULL;
	uint64_t lo, hi;
	int rc = -1;

	*count = 0;
	if (db_begin(d, err, errlen) != 0)
		return -1;
	if (db_range(d, q->from_ms, q->to_ms, &lo, &hi, err, errlen) != 0)
		goto done;
	if (db_prepare_range(d,
	                     "SELECT count(*) FROM entries WHERE idx >= ?1 AND idx < ?2 AND kind = "
	                     "'deny' AND subject = ?3",
	                     lo, hi, "refusals", &st, err, errlen) != 0)
		goto done;
	sqlite3_bind_text(st, 3, q->subject ? q->subject : "", -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_fail(d, err, errlen, "refusals");
		goto done;
	}
	*count = (uint64_t)sqlite3_column_int64(st, 0);
	rc = 0;
done:
	sqlite3_finalize(st);
	db_end(d);
	return rc;
}

int
report_db_breach(struct report_db *d, const struct report_query *q, struct report_breach *b,
                 char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	uint64_t lo, hi;
	int rc = -1, s;

	if (q->partner == NULL) {
		snprintf(err, errlen, "a partner is required");
		return -1;
	}
	if (db_begin(d, err, errlen) != 0)
		return -1;
	if (db_range(d, q->from_ms, q->to_ms, &lo, &hi, err, errlen) != 0)
		goto done;
	/* One pass over the partner's index; the items come out of the leaf only once per
	 * distinct (subject, items) pair, so C parses a few JSON arrays, not every leaf. */
	if (db_prepare_range(d,
	                     "SELECT subject, json_extract(leaf, '$.items'), count(*), min(time), "
	                     "max(time) FROM entries WHERE idx >= ?1 AND idx < ?2 AND partner = ?3 "
	                     "AND +kind = 'release' AND subject IS NOT NULL GROUP BY 1, 2",
	                     lo, hi, "breach", &st, err, errlen) != 0)
		goto done;
	sqlite3_bind_text(st, 3, q->partner, -1, SQLITE_STATIC);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *items_text = (const char *)sqlite3_column_text(st, 1);
		json_t *items = items_text != NULL
		                    ? json_loadb(items_text, (size_t)sqlite3_column_bytes(st, 1),
		                                 JSON_REJECT_DUPLICATES, NULL)
		                    : NULL;
		struct report_leaf l = {
		    .kind = LEDGER_RELEASE,
		    .partner = q->partner,
		    .subject = (const char *)sqlite3_column_text(st, 0),
		    .items = json_is_array(items) ? items : NULL,
		    .count = (uint64_t)sqlite3_column_int64(st, 2),
		    .time_ms = sqlite3_column_int64(st, 3),
		};
		int bad = report_breach_add(b, &l);
		/* a zero count only widens the member's first..last */
		l.items = NULL;
		l.count = 0;
		l.time_ms = sqlite3_column_int64(st, 4);
		bad |= report_breach_add(b, &l);
		json_decref(items);
		if (bad) {
			snprintf(err, errlen, "out of memory");
			goto done;
		}
	}
	if (s != SQLITE_DONE) {
		db_fail(d, err, errlen, "breach");
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	db_end(d);
	return rc;
}

int
report_db_summary(struct report_db *d, struct report_summary *s, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	uint64_t lo, hi, vlo, vhi;
	int rc = -1, r;

	if (db_begin(d, err, errlen) != 0)
		return -1;
	if (db_range(d, s->from_ms, s->to_ms, &lo, &hi, err, errlen) != 0 ||
	    db_range(d, s->base * REPORT_DAY_MS - REPORT_JST_MS, s->to_ms, &vlo, &vhi, err,
	             errlen) != 0)
		goto done;
	/* The rows: the reason is read from the leaf of refusals only, and an exception use is
	 * seen in the leaf's text without parsing it. */
	if (db_prepare_range(d,
	                     "SELECT partner, contract, purpose, kind, CASE WHEN kind = 'deny' "
	                     "THEN json_extract(leaf, '$.reason') END, kind = 'release' AND "
	                     "instr(leaf, '\"basis\":\"exception:') > 0, count(*) FROM entries "
	                     "WHERE idx >= ?1 AND idx < ?2 AND kind != 'admin' GROUP BY 1, 2, 3, "
	                     "4, 5, 6",
	                     lo, hi, "summary", &st, err, errlen) != 0)
		goto done;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 3);
		struct report_leaf l = {
		    .kind = kind && strcmp(kind, "release") == 0 ? LEDGER_RELEASE : LEDGER_DENY,
		    .partner = (const char *)sqlite3_column_text(st, 0),
		    .contract = (const char *)sqlite3_column_text(st, 1),
		    .purpose = (const char *)sqlite3_column_text(st, 2),
		    .reason = (const char *)sqlite3_column_text(st, 4),
		    .basis = sqlite3_column_int(st, 5) ? "exception:" : NULL,
		    .count = (uint64_t)sqlite3_column_int64(st, 6),
		    .time_ms = s->from_ms,
		};
		if (report_summary_add(s, &l, REPORT_ROWS) != 0) {
			snprintf(err, errlen, "out of memory");
			goto done;
		}
	}
	if (r != SQLITE_DONE) {
		db_fail(d, err, errlen, "summary");
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* Daily volumes from the trailing window on; JST days straight from the time column. */
	if (db_prepare_range(d,
	                     "SELECT partner, (time + ?3) / ?4, count(*) FROM entries WHERE idx >= "
	                     "?1 AND idx < ?2 AND kind = 'release' AND partner IS NOT NULL GROUP "
	                     "BY 1, 2",
	                     vlo, vhi, "volumes", &st, err, errlen) != 0)
		goto done;
	sqlite3_bind_int64(st, 3, REPORT_JST_MS);
	sqlite3_bind_int64(st, 4, REPORT_DAY_MS);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct report_leaf l = {
		    .kind = LEDGER_RELEASE,
		    .partner = (const char *)sqlite3_column_text(st, 0),
		    .count = (uint64_t)sqlite3_column_int64(st, 2),
		    .time_ms = sqlite3_column_int64(st, 1) * REPORT_DAY_MS - REPORT_JST_MS,
		};
		if (report_summary_add(s, &l, REPORT_VOLUME) != 0) {
			snprintf(err, errlen, "out of memory");
			goto done;
		}
	}
	if (r != SQLITE_DONE) {
		db_fail(d, err, errlen, "volumes");
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (db_prepare_range(d,
	                     "SELECT leaf FROM entries WHERE idx >= ?1 AND idx < ?2 AND kind = "
	                     "'admin' ORDER BY idx LIMIT 1000",
	                     lo, hi, "admin entries", &st, err, errlen) != 0)
		goto done;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *leaf = parse_leaf((const char *)sqlite3_column_text(st, 0),
		                          sqlite3_column_bytes(st, 0));
		int bad = leaf == NULL || report_summary_admin(s, leaf) != 0;
		json_decref(leaf);
		if (bad) {
			snprintf(err, errlen, "ledger: an admin entry cannot be decoded");
			goto done;
		}
	}
	if (r != SQLITE_DONE) {
		db_fail(d, err, errlen, "admin entries");
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	db_end(d);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The whole reports. */

struct prov_ctx {
	const struct report_names *names;
	bool csv;
	struct report_buf buf;
	json_t *records;
};

static int
prov_each(void *arg, const struct report_leaf *l)
{
	struct prov_ctx *c = arg;

	if (c->csv) {
		report_csv_provision(&c->buf, l, c->names);
		return c->buf.bad ? -1 : 0;
	}
	return json_array_append_new(c->records, report_provision_json(l, c->names));
}

int
report_provisions(struct report_db *d, const struct report_query *q, const struct report_names *n,
                  bool csv, char **out, size_t *len, uint64_t *next, char *err, size_t errlen)
{
	struct prov_ctx c = {.names = n, .csv = csv};

	*out = NULL;
	*len = 0;
	if (csv)
		report_csv_header(&c.buf);
	else if ((c.records = json_array()) == NULL)
		goto oom;
	if (report_db_releases(d, q, prov_each, &c, next, err, errlen) != 0) {
		report_buf_free(&c.buf);
		json_decref(c.records);
		return -1;
	}
	if (csv) {
		if (c.buf.bad)
			goto oom;
		*out = c.buf.data;
		*len = c.buf.len;
		return 0;
	}
	json_t *doc =
	    json_pack("{s:o,s:o,s:o,s:I,s:o,s:o}", "partner", str_json(q->partner), "from",
	              time_or_null(q->from_ms), "to", time_or_null(q->to_ms), "count",
	              (json_int_t)json_array_size(c.records), "records", c.records, "next",
	              *next == UINT64_MAX ? json_null() : json_integer((json_int_t)*next));
	*out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (*out == NULL)
		goto oom;
	*len = strlen(*out);
	return 0;
oom:
	report_buf_free(&c.buf);
	snprintf(err, errlen, "out of memory");
	return -1;
}

struct subj_ctx {
	const struct report_names *names;
	json_t *releases;
	json_t *recipients; /* partner -> {…, "items": {item: true}} while collecting */
};

static int
subj_each(void *arg, const struct report_leaf *l)
{
	struct subj_ctx *c = arg;
	const char *who = l->partner != NULL ? l->partner : "";
	json_t *r = json_object_get(c->recipients, who);

	if (json_array_append_new(c->releases, report_provision_json(l, c->names)) != 0)
		return -1;
	if (r == NULL) {
		r = json_pack("{s:s,s:s,s:I,s:s,s:s,s:o}", "partner", who, "partner_name",
		              partner_name(c->names, l->contract, l->partner), "releases",
		              (json_int_t)0, "first", l->time, "last", l->time, "items",
		              json_object());
		if (r == NULL || json_object_set_new(c->recipients, who, r) != 0)
			return -1;
	}
	json_object_set_new(r, "releases",
	                    json_integer(json_integer_value(json_object_get(r, "releases")) + 1));
	json_object_set_new(r, "last", json_string(l->time));
	for (size_t i = 0; l->items != NULL && i < json_array_size(l->items); i++)
		json_object_set_new(json_object_get(r, "items"),
		                    json_string_value(json_array_get(l->items, i)), json_true());
	return 0;
}

json_t *
report_subject(struct report_db *d, const char *member_id, const char *subject,
               const struct report_names *n, char *err, size_t errlen)
{
	struct subj_ctx c = {.names = n, .releases = json_array(), .recipients = json_object()};
	struct report_query q = {
	    .subject = subject, .after = UINT64_MAX, .limit = REPORT_MAX_RECORDS};
	uint64_t next, refusals = 0;
	json_t *recipients = json_array(), *doc = NULL;
	const char *key;
	json_t *r;

	if (c.releases == NULL || c.recipients == NULL || recipients == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (report_db_releases(d, &q, subj_each, &c, &next, err, errlen) != 0 ||
	    report_db_refusals(d, &q, &refusals, err, errlen) != 0)
		goto done;
	json_object_foreach(c.recipients, key, r)
	{
		json_t *items = json_array();
		const char *it;
		json_t *v;
		json_object_foreach(json_object_get(r, "items"), it, v)
		    json_array_append_new(items, json_string(it));
		json_object_set_new(r, "items", items);
		json_array_append(recipients, r);
	}
	doc = json_pack("{s:s,s:s,s:I,s:I,s:b,s:O,s:O}", "member_id", member_id, "subject", subject,
	                "count", (json_int_t)json_array_size(c.releases), "refusals",
	                (json_int_t)refusals, "complete", next == UINT64_MAX, "recipients",
	                recipients, "releases", c.releases);
	if (doc == NULL)
		snprintf(err, errlen, "out of memory");
done:
	json_decref(c.releases);
	json_decref(c.recipients);
	json_decref(recipients);
	return doc;
}

/* Resolving subjects: the affected subjects in a table, every member's reference computed
 * once. The ledger holds references only; the member ids come from the origin. */
struct resolve_ctx {
	struct report_breach *b;
	struct strtab wanted;
	const struct pseudo *p;
	size_t found;
};

static int
resolve_want(void *arg, const char *subject)
{
	struct resolve_ctx *c = arg;
	return strtab_put(&c->wanted, subject, 0);
}

static int
resolve_each(void *arg, const char *member_id, const char *record, size_t len)
{
	struct resolve_ctx *c = arg;
	char subject[PSEUDO_SUBJECT_HEX + 1];

	(void)record;
	(void)len;
	if (pseudo_subject(c->p, member_id, subject) != 0)
		return 1;
	if (strtab_get(&c->wanted, subject) >= 0) {
		report_breach_resolve(c->b, subject, member_id);
		c->found++;
	}
	return 0;
}

static int
breach_resolve(struct report_breach *b, struct origin *o, const struct pseudo *p, char *err,
               size_t errlen)
{
	struct resolve_ctx c = {.b = b, .p = p};
	char *after = NULL, *next = NULL;
	int rc = 0;

	report_breach_subjects(b, resolve_want, &c);
	while (c.found < report_breach_count(b)) {
		enum apierr e = origin_page(o, after, 1000, resolve_each, &c, &next);
		free(after);
		after = next;
		next = NULL;
		if (e != APIERR_NONE) {
			snprintf(err, errlen, "origin: %s", apierr_message(e));
			rc = -1;
			break;
		}
		if (after == NULL)
			break;
	}
	free(after);
	strtab_free(&c.wanted);
	return rc;
}

json_t *
report_breach(struct report_db *d, const struct report_query *q, const struct report_names *n,
              struct origin *o, const struct pseudo *p, char *err, size_t errlen)
{
	struct report_breach *b = report_breach_new();
	json_t *doc = NULL;

	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (report_db_breach(d, q, b, err, errlen) != 0)
		goto done;
	if (o != NULL && p != NULL && report_breach_count(b) > 0 &&
	    breach_resolve(b, o, p, err, errlen) != 0)
		goto done;
	doc = report_breach_json(b, n, q->partner, q->from_ms, q->to_ms);
	if (doc == NULL)
		snprintf(err, errlen, "out of memory");
done:
	report_breach_free(b);
	return doc;
}

json_t *
report_summary(struct report_db *d, int64_t from_ms, int64_t to_ms, time_t now,
               const struct report_names *n, char *err, size_t errlen)
{
	struct report_summary *s = report_summary_new(from_ms, to_ms, now);
	json_t *doc = NULL;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (report_db_summary(d, s, err, errlen) == 0 && (doc = report_summary_json(s, n)) == NULL)
		snprintf(err, errlen, "out of memory");
	report_summary_free(s);
	return doc;
}

/* ------------------------------------------------------------------------------------------ */
/* `pdgate report`. */

static const char report_usage[] =
    "usage: pdgate report provisions -c FILE [--partner ID] [--from T] [--to T]\n"
    "                                [--format json|csv] [--limit N] [--after INDEX]\n"
    "       pdgate report subject -c FILE MEMBER_ID\n"
    "       pdgate report breach -c FILE --partner ID [--from T] [--to T] [--no-resolve]\n"
    "       pdgate report summary -c FILE [--from T] [--to T]\n"
    "The compliance reports of the ledger, read-only (the gateway may be running):\n"
    "  provisions  the provision records of APPI Art. 29 (recipient, member, items, basis,\n"
    "              date), oldest first; CSV is UTF-8 with a BOM and CRLF, for spreadsheets\n"
    "  subject     every release about one member, for a disclosure request (Art. 33(5))\n"
    "  breach      the members affected by a leak at a partner, the items of each, and\n"
    "              whether it must be reported (Art. 26); member ids are looked up in the\n"
    "              origin unless --no-resolve\n"
    "  summary     per partner, contract and purpose: releases, refusals by reason,\n"
    "              exception uses; contracts ending within 30 days; volume anomalies\n"
    "T is RFC 3339 (2026-04-01T00:00:00+09:00) or a date (2026-04-01, a day in Japan time;\n"
    "--to DATE includes that day). summary defaults to the last 30 days.\n";

static bool
id_ok(const char *s, size_t max, bool lower)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		          (!lower && ((c >= 'A' && c <= 'Z') || c == '_'));
		if (!ok)
			return false;
	}
	return true;
}

static struct pseudo *
load_pseudo(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *buf;
	struct pseudo *p;
	char msg[512];

	if (config_check_key_mode(path, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "%s", msg);
		return NULL;
	}
	/* The bound pdgate serve puts on a key file: a bigger one is not a pseudonym secret. */
	if ((buf = pki_file_read(path, 4096, 0, &len, err, errlen)) == NULL)
		return NULL;
	p = pseudo_new(buf, len);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (p == NULL)
		snprintf(err, errlen, "%s: not a pseudonym secret", path);
	return p;
}

static int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
cli_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pdgate report: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int
report_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"partner", required_argument, NULL, 'p'},
	    {"from", required_argument, NULL, 'f'},   {"to", required_argument, NULL, 't'},
	    {"format", required_argument, NULL, 'F'}, {"limit", required_argument, NULL, 'l'},
	    {"after", required_argument, NULL, 'a'},  {"no-resolve", no_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	const char *conf_path = NULL, *partner = NULL, *from = NULL, *to = NULL, *format = "json";
	const char *what;
	unsigned long limit = REPORT_MAX_RECORDS;
	unsigned long long after = UINT64_MAX;
	bool resolve = true;
	struct config *cfg = NULL;
	struct catalog *cat = NULL;
	struct contract_set *set = NULL;
	struct report_db *db = NULL;
	struct pseudo *ps = NULL;
	struct origin *origin = NULL;
	char *errors = NULL, err[1024], *end;
	json_t *doc = NULL;
	int rc = 1, opt;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(report_usage, stdout);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		fputs(report_usage, stderr);
		return 2;
	}
	what = argv[1];
	if (strcmp(what, "provisions") != 0 && strcmp(what, "subject") != 0 &&
	    strcmp(what, "breach") != 0 && strcmp(what, "summary") != 0) {
		fprintf(stderr, "pdgate report: unknown report '%s'\n%s", what, report_usage);
		return 2;
	}
	optind = 1;
	while ((opt = getopt_long(argc - 1, argv + 1, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf_path = optarg;
			break;
		case 'p':
			partner = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'F':
			format = optarg;
			break;
		case 'l':
			errno = 0;
			limit = strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || limit < 1 ||
			    limit > REPORT_MAX_RECORDS)
				return cli_fail("--limit: '%s' is not 1..100000", optarg);
			break;
		case 'a':
			errno = 0;
			after = strtoull(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || optarg[0] == '\0')
				return cli_fail("--after: '%s' is not an entry index", optarg);
			break;
		case 'R':
			resolve = false;
			break;
		case 'h':
			fputs(report_usage, stdout);
			return 0;
		default:
			fputs(report_usage, stderr);
			return 2;
		}
	}
	int rest = argc - 1 - optind;
	const char *member = rest == 1 ? argv[1 + optind] : NULL;
	if (conf_path == NULL || (strcmp(what, "subject") == 0 ? rest != 1 : rest != 0)) {
		fputs(report_usage, stderr);
		return 2;
	}
	if (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
		return cli_fail("--format: '%s' is not json or csv", format);
	if (strcmp(format, "csv") == 0 && strcmp(what, "provisions") != 0)
		return cli_fail("--format csv is for the provisions report, not %s", what);
	if (partner != NULL && !id_ok(partner, 63, true))
		return cli_fail("--partner: '%s' is not a partner id", partner);
	if (strcmp(what, "breach") == 0 && partner == NULL)
		return cli_fail("breach: --partner ID is required");
	if (member != NULL && !id_ok(member, 64, false))
		return cli_fail("'%s' is not a member id (^[A-Za-z0-9_-]{1,64}$)", member);
	struct report_query q = {.partner = partner, .after = after, .limit = (unsigned)limit};
	if (from != NULL && report_parse_time(from, false, &q.from_ms) != 0)
		return cli_fail("--from: '%s' is neither RFC 3339 nor YYYY-MM-DD", from);
	if (to != NULL && report_parse_time(to, true, &q.to_ms) != 0)
		return cli_fail("--to: '%s' is neither RFC 3339 nor YYYY-MM-DD", to);
	if (q.from_ms > 0 && q.to_ms > 0 && q.from_ms >= q.to_ms)
		return cli_fail("--from must come before --to");

	cfg = config_load(conf_path, &errors);
	if (cfg == NULL) {
		fprintf(stderr, "%s", errors ? errors : "configuration: cannot load\n");
		goto done;
	}
	if ((cat = catalog_load(cfg->policy.purposes, cfg->policy.fields, &errors)) == NULL ||
	    (set = contract_set_load(cat, cfg->policy.contracts, &errors)) == NULL) {
		fprintf(stderr, "%s", errors ? errors : "policies: cannot load\n");
		goto done;
	}
	if ((db = report_db_open(cfg->ledger.path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "pdgate report: %s\n", err);
		goto done;
	}
	struct report_names names = {cat, set};
	if (strcmp(what, "provisions") == 0) {
		char *out;
		size_t len;
		uint64_t next;
		if (report_provisions(db, &q, &names, strcmp(format, "csv") == 0, &out, &len, &next,
		                      err, sizeof(err)) != 0) {
			fprintf(stderr, "pdgate report: %s\n", err);
			goto done;
		}
		fwrite(out, 1, len, stdout);
		if (strcmp(format, "json") == 0)
			fputc('\n', stdout);
		free(out);
		if (next != UINT64_MAX)
			fprintf(stderr, "pdgate report: more records follow: --after %" PRIu64 "\n",
			        next);
		rc = 0;
		goto done;
	}
	if (strcmp(what, "subject") == 0 || (strcmp(what, "breach") == 0 && resolve)) {
		if ((ps = load_pseudo(cfg->keys.pseudonym, err, sizeof(err))) == NULL) {
			fprintf(stderr, "pdgate report: [keys] pseudonym: %s\n", err);
			goto done;
		}
	}
	if (strcmp(what, "subject") == 0) {
		char subject[PSEUDO_SUBJECT_HEX + 1];
		if (pseudo_subject(ps, member, subject) != 0) {
			fprintf(stderr, "pdgate report: cannot compute the subject reference\n");
			goto done;
		}
		doc = report_subject(db, member, subject, &names, err, sizeof(err));
	} else if (strcmp(what, "breach") == 0) {
		if (resolve) {
			struct origin_params op = {
			    .url = cfg->origin.url,
			    .timeout_ms = cfg->origin.timeout_ms,
			    .max_record_bytes = cfg->origin.max_record_bytes,
			    .client_cert = cfg->origin.client_cert,
			    .client_key = cfg->origin.client_key,
			    .ca = cfg->origin.ca,
			};
			if ((origin = origin_new(&op, err, sizeof(err))) == NULL) {
				fprintf(stderr, "pdgate report: [origin] url: %s\n", err);
				goto done;
			}
		}
		doc = report_breach(db, &q, &names, origin, ps, err, sizeof(err));
	} else {
		time_t now = time(NULL);
		int64_t t = q.to_ms > 0 ? q.to_ms : (int64_t)now * 1000;
		int64_t f = q.from_ms > 0 ? q.from_ms : t - REPORT_TRAILING_DAYS * REPORT_DAY_MS;
		if (f >= t)
			return cli_fail("--from must come before now or --to");
		doc = report_summary(db, f, t, now, &names, err, sizeof(err));
	}
	if (doc == NULL) {
		fprintf(stderr, "pdgate report: %s\n", err);
		goto done;
	}
	if (json_dumpf(doc, stdout, JSON_COMPACT) != 0) {
		fprintf(stderr, "pdgate report: writing the report failed\n");
		goto done;
	}
	fputc('\n', stdout);
	rc = 0;
done:
	json_decref(doc);
	origin_free(origin);
	pseudo_free(ps);
	report_db_close(db);
	contract_set_free(set);
	catalog_free(cat);
	config_free(cfg);
	free(errors);
	return rc;
}
