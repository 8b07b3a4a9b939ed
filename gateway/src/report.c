/* report — the compliance reports over ledger entries: provisions, subject, breach, supervision. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cal.h"
#include "certwatch.h"
#include "csv.h"
#include "ident.h"
#include "ledger_read.h"
#include "origin.h"
#include "pseudo.h"
#include "report.h"
#include "report_deletion.h"
#include "strtab.h"

/* Admin entries listed in a summary at most. */
#define SUMMARY_ADMIN_MAX 1000

/* ------------------------------------------------------------------------------------------ */
/* Days and names. */

int
report_parse_time(const char *s, bool end_of_day, int64_t *ms)
{
	int y, m, d;
	time_t t;

	if (s == NULL || *s == '\0' || strlen(s) > 40)
		return -1;
	if (strlen(s) == 10 && cal_parse_date(s, 10, &y, &m, &d) == 0) {
		*ms = cal_jst_day_start(cal_days_from_civil(y, m, d) + (end_of_day ? 1 : 0));
	} else if (cal_parse_rfc3339(s, &t) == 0) {
		*ms = (int64_t)t * 1000;
	} else {
		return -1;
	}
	return *ms > 0 ? 0 : -1;
}

static json_t *
time_or_null(int64_t ms)
{
	char t[LEDGER_TIME_LEN + 1];

	if (ms <= 0)
		return json_null();
	ledger_leaf_time(ms, t);
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

/* The recipient's country as a leaf records it: absent is Japan (SPEC 16.5). */
static const char *
country_of(const struct ledger_entry *e)
{
	return e->country != NULL ? e->country : IDENT_COUNTRY_HOME;
}

/* The legal ground of a provision in words, as APPI Art. 27 names it, and Art. 28 abroad. */
static void
basis_label(const struct report_names *n, const struct ledger_entry *e, char *out, size_t len)
{
	const char *basis = e->basis;
	bool abroad = e->country != NULL;

	if (basis == NULL)
		snprintf(out, len, "%s", "");
	else if (strcmp(basis, "entrustment") == 0)
		snprintf(out, len, "委託に伴う提供（法第27条第5項第1号%s）",
		         abroad ? "、法第28条第1項の体制を整備した外国の委託先" : "");
	else if (strcmp(basis, "joint_use") == 0)
		snprintf(out, len, "共同利用（法第27条第5項第3号%s）",
		         abroad ? "、法第28条第1項の体制を整備した外国の共同利用者" : "");
	else if (strcmp(basis, "consent") == 0)
		snprintf(out, len, "本人の同意（法第27条第1項%s）",
		         abroad ? "、外国にある第三者への提供は法第28条第1項" : "");
	else if (strncmp(basis, "exception:", 10) == 0)
		snprintf(out, len, "%s（法第27条第1項各号の例外）", purpose_label(n, basis + 10));
	else
		snprintf(out, len, "%s", basis);
}

/* The catalog class of a ledger item ("phone:mask:4" is the leaf "phone"). */
static const char *
item_class(const struct report_names *n, const char *item)
{
	const struct catalog_field *f =
	    n != NULL && n->catalog != NULL ? catalog_item_field(n->catalog, item) : NULL;

	return f != NULL ? catalog_class_name(f->cls) : "unknown";
}

/* ------------------------------------------------------------------------------------------ */
/* Provision records. */

/* The items of an entry as a JSON array (empty for null). New reference, NULL on memory. */
static json_t *
items_json(const struct ledger_entry *e)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < e->n_items; i++)
		if (json_array_append_new(a, json_string(e->items[i])) != 0) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

/* The record of one release entry (new reference, NULL on out of memory). */
static json_t *
report_provision_json(const struct ledger_leaf *l, const struct report_names *n)
{
	char day[11], basis[512];

	cal_format_day(cal_jst_day(l->time_ms), day);
	basis_label(n, &l->e, basis, sizeof(basis));
	return json_pack(
	    "{s:I,s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:s,s:o,s:s,s:o,s:o,s:o,s:s,s:b,s:o,"
	    "s:o,s:o,s:o}",
	    "index", (json_int_t)l->index, "time", l->time, "date", day, "recipient",
	    str_json(l->e.partner), "recipient_name", partner_name(n, l->e.contract, l->e.partner),
	    "country", country_of(&l->e), "contract", str_json(l->e.contract), "relationship",
	    str_json(l->e.relationship), "relationship_label",
	    relationship_label(l->e.relationship), "purpose", str_json(l->e.purpose),
	    "purpose_label", purpose_label(n, l->e.purpose), "subject", str_json(l->e.subject),
	    "items", items_json(&l->e), "basis", str_json(l->e.basis), "basis_label", basis,
	    "consent", l->e.basis != NULL && strcmp(l->e.basis, "consent") == 0, "justification",
	    str_json(l->e.justification), "token", str_json(l->e.token), "request",
	    str_json(l->e.request), "digest", str_json(l->e.digest));
}

static const char *const csv_columns[] = {
    "index",         "time",           "date",
    "recipient",     "recipient_name", "country",
    "contract",      "relationship",   "relationship_label",
    "purpose",       "purpose_label",  "subject",
    "items",         "basis",          "basis_label",
    "justification", "token",          "request",
};
#define NCOLUMNS (sizeof(csv_columns) / sizeof(csv_columns[0]))

/* CSV (csv.h): the BOM and header row; then report_csv_provision writes one row per release
 * entry. */
static void
report_csv_header(struct buf *b)
{
	csv_start(b);
	csv_row(b, csv_columns, NCOLUMNS);
}

static void
report_csv_provision(struct buf *b, const struct ledger_leaf *l, const struct report_names *n)
{
	char idx[24], day[11], basis[512];
	struct buf items = {0};

	snprintf(idx, sizeof(idx), "%" PRIu64, l->index);
	cal_format_day(cal_jst_day(l->time_ms), day);
	basis_label(n, &l->e, basis, sizeof(basis));
	buf_str(&items, "");
	for (size_t i = 0; i < l->e.n_items; i++) {
		if (i > 0)
			buf_str(&items, ";");
		buf_str(&items, l->e.items[i]);
	}
	if (items.bad) {
		b->bad = true;
		return;
	}
	const char *row[NCOLUMNS] = {
	    idx,
	    l->time,
	    day,
	    l->e.partner,
	    partner_name(n, l->e.contract, l->e.partner),
	    country_of(&l->e),
	    l->e.contract,
	    l->e.relationship,
	    relationship_label(l->e.relationship),
	    l->e.purpose,
	    purpose_label(n, l->e.purpose),
	    l->e.subject,
	    items.data,
	    l->e.basis,
	    basis,
	    l->e.justification,
	    l->e.token,
	    l->e.request,
	};
	csv_row(b, row, NCOLUMNS);
	buf_free(&items);
}

/* ------------------------------------------------------------------------------------------ */
/* The breach report. */

/* The breach report (APPI Art. 26): who was affected at a partner, with what. */

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

static struct report_breach *
report_breach_new(void)
{
	return calloc(1, sizeof(struct report_breach));
}

static void
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

/* Adds a release entry (others are ignored): its subject and items. 0 or -1 (memory). */
static int
report_breach_add(struct report_breach *b, const struct ledger_leaf *l)
{
	struct breach_member *m;
	int64_t k;

	if (l->e.kind != LEDGER_RELEASE || l->e.subject == NULL)
		return 0;
	k = strtab_get(&b->by_subject, l->e.subject);
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
		if ((m->subject = strdup(l->e.subject)) == NULL ||
		    strtab_put(&b->by_subject, l->e.subject, (uint32_t)b->n) != 0) {
			free(m->subject);
			return -1;
		}
		k = (int64_t)b->n++;
		m->first = l->time_ms;
		m->last = l->time_ms;
	}
	m = &b->m[k];
	m->releases++;
	b->releases++;
	if (l->time_ms < m->first)
		m->first = l->time_ms;
	if (l->time_ms > m->last)
		m->last = l->time_ms;
	for (size_t i = 0; i < l->e.n_items; i++) {
		int64_t it = strlist_intern(&b->items, l->e.items[i]);
		if (it < 0 || member_add_item(m, (uint32_t)it) != 0)
			return -1;
	}
	return 0;
}

/* Sets the member id of a subject, for the notification of the members. */
static void
report_breach_resolve(struct report_breach *b, const char *subject, const char *member_id)
{
	int64_t k = strtab_get(&b->by_subject, subject);

	if (k < 0 || b->m[k].member_id != NULL)
		return;
	b->m[k].member_id = strdup(member_id);
}

/* Calls fn for each subject collected (for resolving them); fn returns 0 to go on. */
static void
report_breach_subjects(const struct report_breach *b, int (*fn)(void *arg, const char *subject),
                       void *arg)
{
	for (size_t i = 0; i < b->n; i++)
		if (fn(arg, b->m[i].subject) != 0)
			return;
}

static size_t
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

/*
 * The report (new reference): {"partner","from","to","count","releases","members":[{"subject",
 * "member_id","items","releases","first","last"}],"items":[{"item","class","members"}],
 * "classes":[…],"reportable",reasons:[{"code","text"}]}, members oldest first, items in the
 * order they first left. Reportable when more than REPORT_BREACH_PEOPLE members are affected
 * or any item is of class my_number.
 */
static json_t *
report_breach_json(struct report_breach *b, const struct report_names *n, const char *partner,
                   int64_t from_ms, int64_t to_ms)
{
	json_t *doc = NULL, *members = json_array(), *items = json_array(), *classes = json_array(),
	       *reasons = json_array();
	uint64_t *per_item = calloc(b->items.n ? b->items.n : 1, sizeof(*per_item));
	bool my_number = false;
	char t1[LEDGER_TIME_LEN + 1], t2[LEDGER_TIME_LEN + 1];

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
		ledger_leaf_time(m->first, t1);
		ledger_leaf_time(m->last, t2);
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

/* The supervision summary (APPI Art. 25). */

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
	const struct certwatch *certs; /* borrowed; NULL: none watched */
};

/* A summary of [from_ms, to_ms); now decides which contracts are ending. NULL on memory. */
static struct report_summary *
report_summary_new(int64_t from_ms, int64_t to_ms, time_t now)
{
	struct report_summary *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->from_ms = from_ms;
	s->to_ms = to_ms;
	s->now = now;
	s->base = cal_jst_day(from_ms) - REPORT_TRAILING_DAYS;
	int64_t last = cal_jst_day(to_ms - 1);
	s->ndays = last >= s->base ? (size_t)(last - s->base + 1) : 1;
	s->admin = json_array();
	if (s->admin == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

static void
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
summary_row(struct report_summary *s, const struct ledger_leaf *l)
{
	char key[512];
	int bad = 0;
	int64_t k;

	snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", l->e.partner ? l->e.partner : "",
	         l->e.contract ? l->e.contract : "", l->e.purpose ? l->e.purpose : "");
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
	r->partner = intern(&s->names, l->e.partner, &bad);
	r->contract = intern(&s->names, l->e.contract, &bad);
	r->purpose = intern(&s->names, l->e.purpose, &bad);
	if (bad || strtab_put(&s->row_keys, key, (uint32_t)s->nrows) != 0)
		return NULL;
	s->nrows++;
	return r;
}

static int
row_refusal(struct summary_row *r, const char *reason)
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
	r->reason_counts[k]++;
	r->refused++;
	return 0;
}

#define REPORT_ROWS 1u   /* count the entry in the per partner/contract/purpose rows */
#define REPORT_VOLUME 2u /* count a release in its partner's daily volume */

/* Adds an entry. Rows take entries inside the period, volumes releases of the period and of
 * the REPORT_TRAILING_DAYS days before it. 0 or -1 (memory). */
static int
report_summary_add(struct report_summary *s, const struct ledger_leaf *l, unsigned what)
{
	if ((what & REPORT_ROWS) && l->e.kind != LEDGER_ADMIN && l->time_ms >= s->from_ms &&
	    l->time_ms < s->to_ms) {
		struct summary_row *r = summary_row(s, l);
		if (r == NULL)
			return -1;
		if (l->e.kind == LEDGER_RELEASE) {
			r->releases++;
			if (l->e.basis != NULL && strncmp(l->e.basis, "exception:", 10) == 0)
				r->exception_uses++;
		} else if (row_refusal(r, l->e.reason) != 0) {
			return -1;
		}
	}
	if ((what & REPORT_VOLUME) && l->e.kind == LEDGER_RELEASE && l->e.partner != NULL) {
		int64_t day = cal_jst_day(l->time_ms) - s->base;
		if (day < 0 || (size_t)day >= s->ndays)
			return 0;
		int64_t k = strlist_intern(&s->partners, l->e.partner);
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
		s->volume[k][day]++;
	}
	return 0;
}

/* Adds an admin entry to the list of actions of the period, as it is in the ledger. 0, or -1
 * (memory, or the leaf is not JSON). */
static int
report_summary_admin(struct report_summary *s, const struct ledger_leaf *l)
{
	json_t *leaf = json_loadb(l->raw, l->raw_len, JSON_REJECT_DUPLICATES, NULL);

	return leaf != NULL ? json_array_append_new(s->admin, leaf) : -1;
}

static json_t *
summary_anomalies(const struct report_summary *s)
{
	json_t *out = json_array();
	int64_t first = cal_jst_day(s->from_ms) - s->base;

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
			cal_format_day(s->base + (int64_t)d, day);
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

/*
 * The summary (new reference): {"from","to","rows":[{"partner","partner_name","contract",
 * "purpose","purpose_label","purpose_kind","releases","refused","refusals":{reason:n},
 * "exception_uses"}],"contracts_ending":[…],"certificates_expiring":[certwatch_json],
 * "volume_anomalies":[{"partner","day","releases","trailing_mean","ratio"}],"admin":[leaves],
 * "totals":{…}}.
 */
static json_t *
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
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:I,s:I,s:I,s:I}}", "from",
	                 time_or_null(s->from_ms), "to", time_or_null(s->to_ms), "rows", rows,
	                 "contracts_ending", summary_ending(s, n), "certificates_expiring",
	                 certwatch_json(s->certs, s->now), "volume_anomalies", summary_anomalies(s),
	                 "admin", json_incref(s->admin), "totals", "releases", (json_int_t)releases,
	                 "refused", (json_int_t)refused, "exception_uses", (json_int_t)exceptions,
	                 "admin", (json_int_t)json_array_size(s->admin));
}

/* ------------------------------------------------------------------------------------------ */
/* The whole reports: the ledger's readers feed the aggregations above. */

/* What a reader's failure says: the callbacks fail only for memory. */
static int
read_failed(int rc, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", rc == LEDGER_EINVAL ? "out of memory" : ledger_strerror(rc));
	return -1;
}

/* The release entries of q, oldest first, to fn; *next as report_provisions says. */
static int
releases(struct ledger *l, const struct report_query *q, uint64_t end,
         int (*fn)(void *arg, const struct ledger_leaf *l), void *arg, uint64_t *next, char *err,
         size_t errlen)
{
	struct ledger_filter f = {
	    .partner = q->partner,
	    .subject = q->subject,
	    .kind = LEDGER_RELEASE,
	    .from_ms = q->from_ms,
	    .to_ms = q->to_ms,
	    .start = q->after == UINT64_MAX ? 0 : q->after + 1,
	    .end = end,
	};
	int rc;

	*next = UINT64_MAX;
	if (q->limit == 0 || q->limit > REPORT_MAX_RECORDS) {
		snprintf(err, errlen, "limit out of range");
		return -1;
	}
	if ((rc = ledger_each(l, &f, q->limit, fn, arg, next)) != 0)
		return read_failed(rc, err, errlen);
	/* The cursor is the API's after=: the next page starts past it. */
	if (*next != UINT64_MAX)
		(*next)--;
	return 0;
}

struct prov_ctx {
	const struct report_names *names;
	bool csv;
	struct buf buf;
	json_t *records;
};

static int
prov_each(void *arg, const struct ledger_leaf *l)
{
	struct prov_ctx *c = arg;

	if (c->csv) {
		report_csv_provision(&c->buf, l, c->names);
		return c->buf.bad ? -1 : 0;
	}
	return json_array_append_new(c->records, report_provision_json(l, c->names));
}

int
report_provisions(struct ledger *l, const struct report_query *q, const struct report_names *n,
                  bool csv, char **out, size_t *len, uint64_t *next, char *err, size_t errlen)
{
	struct prov_ctx c = {.names = n, .csv = csv};

	*out = NULL;
	*len = 0;
	if (csv)
		report_csv_header(&c.buf);
	else if ((c.records = json_array()) == NULL)
		goto oom;
	if (releases(l, q, UINT64_MAX, prov_each, &c, next, err, errlen) != 0) {
		buf_free(&c.buf);
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
	buf_free(&c.buf);
	snprintf(err, errlen, "out of memory");
	return -1;
}

struct subj_ctx {
	const struct report_names *names;
	json_t *releases;
	json_t *recipients; /* partner -> {…, "items": {item: true}} while collecting */
};

static int
subj_each(void *arg, const struct ledger_leaf *l)
{
	struct subj_ctx *c = arg;
	const char *who = l->e.partner != NULL ? l->e.partner : "";
	json_t *r = json_object_get(c->recipients, who);

	if (json_array_append_new(c->releases, report_provision_json(l, c->names)) != 0)
		return -1;
	if (r == NULL) {
		r = json_pack("{s:s,s:s,s:I,s:s,s:s,s:o}", "partner", who, "partner_name",
		              partner_name(c->names, l->e.contract, l->e.partner), "releases",
		              (json_int_t)0, "first", l->time, "last", l->time, "items",
		              json_object());
		if (r == NULL || json_object_set_new(c->recipients, who, r) != 0)
			return -1;
	}
	json_object_set_new(r, "releases",
	                    json_integer(json_integer_value(json_object_get(r, "releases")) + 1));
	json_object_set_new(r, "last", json_string(l->time));
	for (size_t i = 0; i < l->e.n_items; i++)
		json_object_set_new(json_object_get(r, "items"), l->e.items[i], json_true());
	return 0;
}

json_t *
report_subject(struct ledger *l, const char *member_id, const char *subject,
               const struct report_names *n, char *err, size_t errlen)
{
	struct subj_ctx c = {.names = n, .releases = json_array(), .recipients = json_object()};
	struct report_query q = {
	    .subject = subject, .after = UINT64_MAX, .limit = REPORT_MAX_RECORDS};
	struct ledger_filter denied = {.subject = subject, .kind = LEDGER_DENY};
	uint64_t next, refusals = 0;
	json_t *recipients = json_array(), *doc = NULL;
	const char *key;
	json_t *r;
	int rc;

	if (c.releases == NULL || c.recipients == NULL || recipients == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	/* Releases and refusals of the same entries, whatever is committed meanwhile. */
	if ((rc = ledger_size(l, &denied.end)) != 0) {
		read_failed(rc, err, errlen);
		goto done;
	}
	if (releases(l, &q, denied.end, subj_each, &c, &next, err, errlen) != 0)
		goto done;
	if ((rc = ledger_count(l, &denied, &refusals)) != 0) {
		read_failed(rc, err, errlen);
		goto done;
	}
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
breach_resolve(struct report_breach *b, struct origin *o, const struct pseudo *p,
               enum apierr *origin_err, char *err, size_t errlen)
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
			*origin_err = e;
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

static int
breach_each(void *arg, const struct ledger_leaf *l)
{
	return report_breach_add(arg, l);
}

json_t *
report_breach(struct ledger *l, const struct report_query *q, const struct report_names *n,
              struct origin *o, const struct pseudo *p, enum apierr *origin_err, char *err,
              size_t errlen)
{
	enum apierr oe = APIERR_NONE;

	struct ledger_filter f = {
	    .partner = q->partner,
	    .kind = LEDGER_RELEASE,
	    .from_ms = q->from_ms,
	    .to_ms = q->to_ms,
	    .end = UINT64_MAX,
	};
	struct report_breach *b;
	json_t *doc = NULL;
	int rc;

	if (q->partner == NULL) {
		snprintf(err, errlen, "a partner is required");
		return NULL;
	}
	if ((b = report_breach_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((rc = ledger_each(l, &f, 0, breach_each, b, NULL)) != 0) {
		read_failed(rc, err, errlen);
		goto done;
	}
	if (o != NULL && p != NULL && report_breach_count(b) > 0 &&
	    breach_resolve(b, o, p, &oe, err, errlen) != 0)
		goto done;
	doc = report_breach_json(b, n, q->partner, q->from_ms, q->to_ms);
	if (doc == NULL)
		snprintf(err, errlen, "out of memory");
done:
	if (origin_err != NULL)
		*origin_err = oe;
	report_breach_free(b);
	return doc;
}

/* One pass over the period and the trailing days before it: the rows, the daily volumes, the
 * first SUMMARY_ADMIN_MAX admin entries of the period. */
static int
summary_each(void *arg, const struct ledger_leaf *l)
{
	struct report_summary *s = arg;

	if (l->e.kind != LEDGER_ADMIN)
		return report_summary_add(s, l, REPORT_ROWS | REPORT_VOLUME);
	if (l->time_ms < s->from_ms || json_array_size(s->admin) >= SUMMARY_ADMIN_MAX)
		return 0;
	return report_summary_admin(s, l);
}

int64_t
report_end_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

json_t *
report_summary(struct ledger *l, int64_t from_ms, int64_t to_ms, time_t now,
               const struct report_names *n, const struct certwatch *certs, char *err,
               size_t errlen)
{
	struct report_summary *s = report_summary_new(from_ms, to_ms, now);
	json_t *doc = NULL;
	int rc;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->certs = certs;
	int64_t trailing = cal_jst_day_start(s->base);
	struct ledger_filter f = {
	    .kind = -1, .from_ms = trailing > 0 ? trailing : 0, .to_ms = to_ms, .end = UINT64_MAX};
	json_t *due = NULL;
	if ((rc = ledger_each(l, &f, 0, summary_each, s, NULL)) != 0)
		read_failed(rc, err, errlen);
	else if ((due = report_deletion_due(l, n ? n->contracts : NULL, n ? n->catalog : NULL, now,
	                                    err, errlen)) == NULL)
		; /* err says why */
	else if ((doc = report_summary_json(s, n)) == NULL) {
		json_decref(due);
		snprintf(err, errlen, "out of memory");
	} else if (json_object_set_new(doc, "deletion_due", due) != 0) { /* due taken */
		json_decref(doc);
		doc = NULL;
		snprintf(err, errlen, "out of memory");
	}
	report_summary_free(s);
	return doc;
}
