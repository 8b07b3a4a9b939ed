/* ledger_leaf — the ledger's leaf: what an entry holds, its one encoder and its one parser (pure).
 */
#include <assert.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cal.h"
#include "codec.h"
#include "ident.h"
#include "ledger_leaf.h"
#include "strtab.h"
#include "utf8.h"

/* The longest head, {"v":1,"index":<19 digits>,"time":"<24>": a tail leaves room for it, so
 * that no leaf is longer than LEDGER_MAX_LEAF. */
#define MAX_HEAD 68
#define MAX_TAIL (LEDGER_MAX_LEAF - MAX_HEAD)

static const char *const kind_names[] = {"release", "deny", "admin"};

const char *
ledger_kind_name(enum ledger_kind kind)
{
	assert((unsigned)kind <= LEDGER_ADMIN);
	return kind_names[kind];
}

/* ------------------------------------------------------------------------------------------ */
/* The encoder: compact JSON, members in a fixed order, escaped as jansson escapes. */

/* A JSON string as jansson's json_dumps writes it without JSON_ENSURE_ASCII (codec_json_escape);
 * NULL is null. -1 if s is not UTF-8. */
static int
text_json_str(struct buf *t, const char *s)
{
	size_t n, start = 0, i = 0;

	if (s == NULL) {
		buf_add(t, "null", 4);
		return 0;
	}
	n = strlen(s);
	buf_add(t, "\"", 1);
	while (i < n) {
		char esc[6];
		size_t k = codec_json_escape((unsigned char)s[i], esc);
		uint32_t cp;

		if (k == 0) {
			if ((k = utf8_decode(s + i, n - i, &cp)) == 0)
				return -1;
			i += k;
			continue;
		}
		buf_add(t, s + start, i - start);
		buf_add(t, esc, k);
		start = ++i;
	}
	buf_add(t, s + start, n - start);
	buf_add(t, "\"", 1);
	return 0;
}

/* A detail's key: 1..LEDGER_DETAIL_KEY_MAX of [a-z0-9_], starting with a letter. */
static bool
detail_key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > LEDGER_DETAIL_KEY_MAX || k[0] < 'a' || k[0] > 'z')
		return false;
	return strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* The detail's pairs well formed, keys strictly ascending. */
static bool
detail_ok(const struct ledger_detail *d, size_t n)
{
	if (n > LEDGER_MAX_DETAIL || (n > 0 && d == NULL))
		return false;
	for (size_t i = 0; i < n; i++)
		if (d[i].key == NULL || d[i].value == NULL || !detail_key_ok(d[i].key) ||
		    (i > 0 && strcmp(d[i - 1].key, d[i].key) >= 0))
			return false;
	return true;
}

/* A country as a leaf holds it: two capital letters, not Japan's (which is the member absent).
 * The form only: the list of assigned codes may change, and a leaf must verify for ever. */
static bool
country_ok(const char *s)
{
	return s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] == '\0' &&
	       strcmp(s, IDENT_COUNTRY_HOME) != 0;
}

/* ",\"name\":" then the value: lit is the whole ",\"name\":". */
static int
text_member(struct buf *t, const char *lit, const char *value)
{
	buf_add(t, lit, strlen(lit));
	return text_json_str(t, value);
}

int
ledger_leaf_tail(const struct ledger_entry *e, struct buf *t)
{
	int bad = 0;

	buf_reset(t);
	if ((unsigned)e->kind > LEDGER_ADMIN || (e->kind == LEDGER_ADMIN) != (e->admin != NULL) ||
	    (e->admin != NULL &&
	     (e->admin->action == NULL || !detail_ok(e->admin->detail, e->admin->n_detail))) ||
	    e->n_items > LEDGER_MAX_ITEMS || (e->items == NULL && e->n_items != 0) ||
	    (e->country != NULL && (e->admin != NULL || !country_ok(e->country))))
		return -1;
	bad |= text_member(t, ",\"request\":", e->request);
	bad |= text_member(t, ",\"kind\":", kind_names[e->kind]);
	bad |= text_member(t, ",\"partner\":", e->partner);
	bad |= text_member(t, ",\"contract\":", e->contract);
	bad |= text_member(t, ",\"relationship\":", e->relationship);
	bad |= text_member(t, ",\"purpose\":", e->purpose);
	bad |= text_member(t, ",\"subject\":", e->subject);
	if (e->items == NULL) {
		buf_add(t, ",\"items\":null", 13);
	} else {
		buf_add(t, ",\"items\":[", 10);
		for (size_t i = 0; i < e->n_items; i++) {
			if (e->items[i] == NULL)
				return -1;
			if (i > 0)
				buf_add(t, ",", 1);
			bad |= text_json_str(t, e->items[i]);
		}
		buf_add(t, "]", 1);
	}
	bad |= text_member(t, ",\"basis\":", e->basis);
	bad |= text_member(t, ",\"reason\":", e->reason);
	bad |= text_member(t, ",\"digest\":", e->digest);
	bad |= text_member(t, ",\"cert\":", e->cert);
	bad |= text_member(t, ",\"token\":", e->token);
	bad |= text_member(t, ",\"justification\":", e->justification);
	if (e->country != NULL)
		bad |= text_member(t, ",\"country\":", e->country);
	if (e->admin != NULL) {
		bad |= text_member(t, ",\"admin\":{\"action\":", e->admin->action);
		bad |= text_member(t, ",\"staff\":", e->admin->staff);
		bad |= text_member(t, ",\"reason\":", e->admin->reason);
		bad |= text_member(t, ",\"target\":", e->admin->target);
		for (size_t i = 0; i < e->admin->n_detail; i++) {
			buf_add(t, i == 0 ? ",\"detail\":{" : ",", i == 0 ? 11 : 1);
			bad |= text_json_str(t, e->admin->detail[i].key);
			buf_add(t, ":", 1);
			bad |= text_json_str(t, e->admin->detail[i].value);
		}
		if (e->admin->n_detail > 0)
			buf_add(t, "}", 1);
		if (e->admin->version != NULL)
			bad |= text_member(t, ",\"version\":", e->admin->version);
		buf_add(t, "}", 1);
	}
	buf_add(t, "}", 1);
	return bad || t->bad || t->len > MAX_TAIL ? -1 : 0;
}

int
ledger_leaf_join(struct buf *leaf, uint64_t index, const char time[LEDGER_TIME_LEN + 1],
                 const struct buf *tail)
{
	char head[MAX_HEAD + 1];
	int n;

	assert(index <= INT64_MAX && strlen(time) == LEDGER_TIME_LEN && tail->len <= MAX_TAIL);
	n = snprintf(head, sizeof(head), "{\"v\":1,\"index\":%" PRIu64 ",\"time\":\"%s\"", index,
	             time);
	assert(n > 0 && n <= MAX_HEAD);
	buf_reset(leaf);
	buf_add(leaf, head, (size_t)n);
	buf_add(leaf, tail->data, tail->len);
	assert(leaf->bad || leaf->len <= LEDGER_MAX_LEAF);
	return leaf->bad ? -1 : 0;
}

void
ledger_leaf_time(int64_t ms, char out[LEDGER_TIME_LEN + 1])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char tmp[64];

	assert(ms >= 0);
	gmtime_r(&s, &tm);
	/* Years 1970..9999 fill exactly LEDGER_TIME_LEN characters. */
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	memcpy(out, tmp, LEDGER_TIME_LEN);
	out[LEDGER_TIME_LEN] = '\0';
}

/* ------------------------------------------------------------------------------------------ */
/*
 * The parser: checks the form the encoder writes rather than parsing JSON — two spellings of one
 * leaf cannot both pass — and decodes the strings in one pass without allocating, which keeps
 * `ledger verify` of a million entries within seconds.
 */

struct cur {
	const char *p, *e; /* what is left of the leaf */
	char *w, *wend;    /* where the next decoded byte goes, in out->text */
};

static int
eat(struct cur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->e - c->p) < n || memcmp(c->p, lit, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

static void
put(struct cur *c, const char *s, size_t n)
{
	/* A decoded string is never longer than its JSON, quotes included: text has room. */
	assert(n <= (size_t)(c->wend - c->w));
	memcpy(c->w, s, n);
	c->w += n;
}

/* The byte of the escape at c->p ("\\x" or "\\u00XX"), or -1 unless the encoder writes it. */
static int
unescape(struct cur *c)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *d;
	unsigned v;

	if (c->e - c->p < 2)
		return -1;
	c->p += 2;
	switch (c->p[-1]) {
	case '"':
	case '\\':
		return c->p[-1];
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'u':
		break;
	default:
		return -1;
	}
	/* \u00XX, upper case, only for the controls that have no short escape */
	if (c->e - c->p < 4 || c->p[0] != '0' || c->p[1] != '0' ||
	    (c->p[2] != '0' && c->p[2] != '1') || c->p[3] == '\0' ||
	    (d = strchr(hex, c->p[3])) == NULL)
		return -1;
	v = (unsigned)(c->p[2] - '0') * 16 + (unsigned)(d - hex);
	c->p += 4;
	if (v == 0 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
		return -1;
	return (int)v;
}

/* A string: *out is its decoded copy in the text, NUL-terminated. Runs of bytes written as
 * they are (most of a leaf) are copied at once. */
static int
str(struct cur *c, const char **out)
{
	char *start = c->w;

	if (c->p >= c->e || *c->p != '"')
		return -1;
	c->p++;
	for (;;) {
		const char *run = c->p;
		uint32_t cp;
		size_t k;
		int b;

		while (c->p < c->e) {
			unsigned char ch = (unsigned char)*c->p;
			if (ch >= 0x20 && ch < 0x80 && ch != '"' && ch != '\\')
				c->p++;
			else if (ch >= 0x80 &&
			         (k = utf8_decode(c->p, (size_t)(c->e - c->p), &cp)) > 0)
				c->p += k;
			else
				break;
		}
		put(c, run, (size_t)(c->p - run));
		if (c->p == c->e)
			return -1;
		if (*c->p == '"') {
			c->p++;
			put(c, "", 1);
			*out = start;
			return 0;
		}
		if (*c->p != '\\' || (b = unescape(c)) < 0)
			return -1; /* a control character, or not UTF-8, or an escape not written */
		char byte = (char)b;
		put(c, &byte, 1);
	}
}

/* A string or null (*out NULL). */
static int
nstr(struct cur *c, const char **out)
{
	if (eat(c, "null") == 0) {
		*out = NULL;
		return 0;
	}
	return str(c, out);
}

/* A decimal integer without sign or leading zero, at most INT64_MAX (an SQLite rowid). */
static int
number(struct cur *c, uint64_t *v)
{
	const char *start = c->p;

	*v = 0;
	while (c->p < c->e && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p++ - '0');
		if (*v > ((uint64_t)INT64_MAX - d) / 10)
			return -1;
		*v = *v * 10 + d;
	}
	return c->p == start || (*start == '0' && c->p - start > 1) ? -1 : 0;
}

/* Exactly the form ledger_leaf_time writes, from 1970 on. */
static int
parse_time(const char *s, int64_t *ms)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	int y, mo, d, v[4] = {0}, field = 0;

	if (strlen(s) != LEDGER_TIME_LEN || cal_parse_date(s, 10, &y, &mo, &d) != 0)
		return -1;
	for (size_t i = 11; i < LEDGER_TIME_LEN; i++) {
		if (shape[i] != 'd') {
			if (s[i] != shape[i])
				return -1;
			field += shape[i] != 'Z';
		} else if (s[i] < '0' || s[i] > '9') {
			return -1;
		} else {
			v[field] = v[field] * 10 + (s[i] - '0');
		}
	}
	if (s[10] != 'T' || v[0] > 23 || v[1] > 59 || v[2] > 59)
		return -1;
	*ms = ((cal_days_from_civil(y, mo, d) * 24 + v[0]) * 60 + v[1]) * 60000 +
	      (int64_t)v[2] * 1000 + v[3];
	return *ms >= 0 ? 0 : -1;
}

static int
kind_of(const char *s, enum ledger_kind *kind)
{
	int k = strtab_index(kind_names, sizeof(kind_names) / sizeof(kind_names[0]), s);

	if (k < 0)
		return -1;
	*kind = (enum ledger_kind)k;
	return 0;
}

/* "items": null, or an array of strings. */
static int
items(struct cur *c, struct ledger_leaf *out)
{
	struct ledger_entry *e = &out->e;

	if (eat(c, "null") == 0)
		return 0;
	if (eat(c, "[") < 0)
		return -1;
	e->items = out->items;
	if (eat(c, "]") == 0)
		return 0;
	do {
		if (e->n_items == LEDGER_MAX_ITEMS || str(c, &out->items[e->n_items]) < 0)
			return -1;
		e->n_items++;
	} while (eat(c, ",") == 0);
	return eat(c, "]");
}

/* The pairs of "detail" after its "{": at least one, keys as the encoder allows, ascending. */
static int
detail(struct cur *c, struct ledger_leaf *out)
{
	struct ledger_admin *a = &out->admin;

	a->detail = out->detail;
	do {
		struct ledger_detail *d = &out->detail[a->n_detail];
		if (a->n_detail == LEDGER_MAX_DETAIL || str(c, &d->key) < 0 || eat(c, ":") < 0 ||
		    str(c, &d->value) < 0 || !detail_key_ok(d->key) ||
		    (a->n_detail > 0 && strcmp(out->detail[a->n_detail - 1].key, d->key) >= 0))
			return -1;
		a->n_detail++;
	} while (eat(c, ",") == 0);
	return eat(c, "}");
}

int
ledger_leaf_parse(const char *leaf, size_t len, struct ledger_leaf *out)
{
	struct cur c = {leaf, leaf + len, out->text, out->text + sizeof(out->text)};
	struct ledger_entry *e = &out->e;
	const char *time, *kind;

	memset(e, 0, sizeof(*e));
	memset(&out->admin, 0, sizeof(out->admin));
	out->raw = leaf;
	out->raw_len = len;
	if (len > LEDGER_MAX_LEAF || eat(&c, "{\"v\":1,\"index\":") < 0 ||
	    number(&c, &out->index) < 0 || eat(&c, ",\"time\":") < 0 || str(&c, &time) < 0 ||
	    parse_time(time, &out->time_ms) < 0 || c.e - c.p > MAX_TAIL)
		return -1;
	memcpy(out->time, time, LEDGER_TIME_LEN + 1);
	if (eat(&c, ",\"request\":") < 0 || nstr(&c, &e->request) < 0 ||
	    eat(&c, ",\"kind\":") < 0 || str(&c, &kind) < 0 || kind_of(kind, &e->kind) < 0 ||
	    eat(&c, ",\"partner\":") < 0 || nstr(&c, &e->partner) < 0 ||
	    eat(&c, ",\"contract\":") < 0 || nstr(&c, &e->contract) < 0 ||
	    eat(&c, ",\"relationship\":") < 0 || nstr(&c, &e->relationship) < 0 ||
	    eat(&c, ",\"purpose\":") < 0 || nstr(&c, &e->purpose) < 0 ||
	    eat(&c, ",\"subject\":") < 0 || nstr(&c, &e->subject) < 0 ||
	    eat(&c, ",\"items\":") < 0 || items(&c, out) < 0 || eat(&c, ",\"basis\":") < 0 ||
	    nstr(&c, &e->basis) < 0 || eat(&c, ",\"reason\":") < 0 || nstr(&c, &e->reason) < 0 ||
	    eat(&c, ",\"digest\":") < 0 || nstr(&c, &e->digest) < 0 || eat(&c, ",\"cert\":") < 0 ||
	    nstr(&c, &e->cert) < 0 || eat(&c, ",\"token\":") < 0 || nstr(&c, &e->token) < 0 ||
	    eat(&c, ",\"justification\":") < 0 || nstr(&c, &e->justification) < 0)
		return -1;
	/* optional, a string of its form when present, never in an admin entry */
	if (eat(&c, ",\"country\":") == 0 &&
	    (str(&c, &e->country) < 0 || !country_ok(e->country) || e->kind == LEDGER_ADMIN))
		return -1;
	if (e->kind == LEDGER_ADMIN) {
		struct ledger_admin *a = &out->admin;
		if (eat(&c, ",\"admin\":{\"action\":") < 0 || str(&c, &a->action) < 0 ||
		    eat(&c, ",\"staff\":") < 0 || nstr(&c, &a->staff) < 0 ||
		    eat(&c, ",\"reason\":") < 0 || nstr(&c, &a->reason) < 0 ||
		    eat(&c, ",\"target\":") < 0 || nstr(&c, &a->target) < 0)
			return -1;
		if (eat(&c, ",\"detail\":{") == 0 && detail(&c, out) < 0)
			return -1;
		/* optional, and a string when present: absent and null would be two spellings */
		if (eat(&c, ",\"version\":") == 0 && str(&c, &a->version) < 0)
			return -1;
		if (eat(&c, "}") < 0)
			return -1;
		e->admin = a;
	}
	return eat(&c, "}") == 0 && c.p == c.e ? 0 : -1;
}
