/* record — the origin's member record parsed and reduced to the catalog's paths in one pass. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cal.h"
#include "record.h"
#include "utf8.h"

/*
 * Why a parser of our own: jansson builds the whole tree (an allocation per value, a hash table
 * per object) and the release then throws most of it away. Here the bytes are read once; what
 * the catalog does not name is checked with the same rules and never built. Every object's keys
 * are kept (decoded, in one arena) until it closes, then compared: a duplicate anywhere is
 * refused, as jansson's JSON_REJECT_DUPLICATES refuses it. Recursion is bounded by max_depth,
 * checked before each level is entered.
 */

/* A key of an object still open: its decoded bytes in the parser's arena. */
struct key {
	size_t off, len;
};

struct parser {
	const char *start, *p, *end;
	const struct catalog *cat;
	int depth, max_depth;
	const char *member_id; /* the one asked for */
	bool id_ok;            /* the top-level member_id was seen and is that one */
	struct buf str;        /* the string being decoded */
	struct buf arena;      /* the keys of the objects still open */
	struct key *keys;
	size_t nkeys, capkeys;
	enum apierr err; /* the first refusal */
	char *why;
	size_t whylen;
};

static int refuse(struct parser *ps, enum apierr e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
refuse(struct parser *ps, enum apierr e, const char *fmt, ...)
{
	va_list ap;

	if (ps->err == APIERR_NONE) {
		ps->err = e;
		va_start(ap, fmt);
		vsnprintf(ps->why, ps->whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Not JSON: where (a byte offset), and what was wrong, never the bytes themselves. */
/* A kept value of the wrong kind: its path, never its bytes. */
static int
bad(struct parser *ps, const char *before, const char *path, const char *after)
{
	return refuse(ps, APIERR_ORIGIN_INVALID, "%s%s%s", before, path, after);
}

static int
syntax(struct parser *ps, const char *what)
{
	return refuse(ps, APIERR_ORIGIN_INVALID, "invalid JSON at byte %td: %s", ps->p - ps->start,
	              what);
}

static int
oom(struct parser *ps)
{
	return refuse(ps, APIERR_INTERNAL, "out of memory");
}

static void
ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

/* True if the next character is c (nothing skipped). */
static bool
at(const struct parser *ps, char c)
{
	return ps->p < ps->end && *ps->p == c;
}

/* Past an opening bracket, one level deeper. */
static int
enter(struct parser *ps)
{
	if (++ps->depth > ps->max_depth)
		return refuse(ps, APIERR_ORIGIN_INVALID, "nesting deeper than %d", ps->max_depth);
	ps->p++;
	return 0;
}

/*
 * Past the '[' at ps->p, of an array put in `into` under name as *v (into NULL: checked, not
 * built): 1 if the array is empty (and closed), 0 if an element follows, -1.
 */
static int
array_open(struct parser *ps, json_t *into, const char *name, json_t **v)
{
	if (into != NULL &&
	    ((*v = json_array()) == NULL || json_object_set_new(into, name, *v) != 0))
		return oom(ps);
	if (enter(ps) != 0)
		return -1;
	ws(ps);
	if (at(ps, ']')) {
		ps->p++;
		ps->depth--;
		return 1;
	}
	return 0;
}

/* After a member or an element: 1 at the closing bracket (consumed), 0 after a comma, -1. */
static int
next_or_close(struct parser *ps, char close)
{
	ws(ps);
	if (at(ps, ',')) {
		ps->p++;
		ws(ps);
		return 0;
	}
	if (at(ps, close)) {
		ps->p++;
		ps->depth--;
		return 1;
	}
	return syntax(ps, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
}

static int
hex4(const char *p, const char *end, uint32_t *v)
{
	uint32_t x = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		x <<= 4;
		if (c >= '0' && c <= '9')
			x |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			x |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*v = x;
	return 0;
}

/* The UTF-8 of a code point (at most U+10FFFF, no surrogate) into out; its length. */
static size_t
utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* The \u escape at p (just past the "u"): the code point into *cp, p moved past it. */
static int
unicode_escape(struct parser *ps, const char **p, uint32_t *cp)
{
	uint32_t hi, lo;

	if (hex4(*p, ps->end, &hi) != 0)
		return syntax(ps, "invalid \\u escape");
	*p += 4;
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return syntax(ps, "a lone surrogate in a \\u escape");
	if (hi >= 0xD800 && hi <= 0xDBFF) {
		if (ps->end - *p < 6 || (*p)[0] != '\\' || (*p)[1] != 'u' ||
		    hex4(*p + 2, ps->end, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
			return syntax(ps, "a lone surrogate in a \\u escape");
		*p += 6;
		hi = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
	}
	if (hi == 0)
		return syntax(ps, "\\u0000 is not allowed");
	*cp = hi;
	return 0;
}

/* The string at ps->p (a quote) decoded into out, which stays NUL-terminated. */
static int
string(struct parser *ps, struct buf *out)
{
	const char *p = ps->p + 1, *run = p;

	buf_truncate(out, 0);
	for (;;) {
		if (p >= ps->end) {
			ps->p = p;
			return syntax(ps, "unterminated string");
		}
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			break;
		if (c < 0x20) {
			ps->p = p;
			return syntax(ps, "a control character in a string");
		}
		if (c >= 0x80) {
			uint32_t cp;
			size_t n = utf8_decode(p, (size_t)(ps->end - p), &cp);
			if (n == 0) {
				ps->p = p;
				return syntax(ps, "invalid UTF-8");
			}
			p += n;
			continue;
		}
		if (c != '\\') {
			p++;
			continue;
		}
		if (buf_add(out, run, (size_t)(p - run)) != 0)
			return oom(ps);
		ps->p = p++;
		if (p >= ps->end)
			return syntax(ps, "unterminated string");
		char e = *p++, lit, enc[4];
		uint32_t cp = 0;
		switch (e) {
		case '"':
		case '\\':
		case '/':
			lit = e;
			break;
		case 'b':
			lit = '\b';
			break;
		case 'f':
			lit = '\f';
			break;
		case 'n':
			lit = '\n';
			break;
		case 'r':
			lit = '\r';
			break;
		case 't':
			lit = '\t';
			break;
		case 'u':
			if (unicode_escape(ps, &p, &cp) != 0)
				return -1;
			if (buf_add(out, enc, utf8_encode(cp, enc)) != 0)
				return oom(ps);
			run = p;
			continue;
		default:
			return syntax(ps, "an invalid escape");
		}
		if (buf_add(out, &lit, 1) != 0)
			return oom(ps);
		run = p;
	}
	if (buf_add(out, run, (size_t)(p - run)) != 0)
		return oom(ps);
	ps->p = p + 1;
	return 0;
}

static bool
digit(const struct parser *ps, const char *p)
{
	return p < ps->end && *p >= '0' && *p <= '9';
}

/*
 * Whether jansson could hold the number [from, to): an integer within 64 bits, a real that does
 * not overflow a double. No catalog type is a number, so none is ever built; the bounds are
 * checked so that exactly the records jansson took are taken.
 */
static int
number_fits(struct parser *ps, const char *from, const char *to, bool real)
{
	if (!real) {
		bool neg = *from == '-';
		const char *d = from + neg,
		           *max = neg ? "9223372036854775808" : "9223372036854775807";
		size_t n = (size_t)(to - d);
		if (n < 19 || (n == 19 && memcmp(d, max, 19) <= 0))
			return 0;
		return syntax(ps, neg ? "too big negative integer" : "too big integer");
	}
	buf_truncate(&ps->str, 0);
	if (buf_add(&ps->str, from, (size_t)(to - from)) != 0)
		return oom(ps);
	errno = 0;
	double v = strtod(ps->str.data, NULL);
	if (errno == ERANGE && isinf(v))
		return syntax(ps, "real number overflow");
	return 0;
}

/* A number's syntax (RFC 8259) and its bounds; its value is never kept. */
static int
number(struct parser *ps)
{
	const char *p = ps->p, *from = p;
	bool real = false;

	if (p < ps->end && *p == '-')
		p++;
	if (!digit(ps, p))
		return syntax(ps, "a value expected");
	if (*p == '0')
		p++;
	else
		while (digit(ps, p))
			p++;
	if (p < ps->end && *p == '.') {
		real = true;
		if (!digit(ps, ++p))
			return syntax(ps, "a digit expected after '.'");
		while (digit(ps, p))
			p++;
	}
	if (p < ps->end && (*p == 'e' || *p == 'E')) {
		real = true;
		p++;
		if (p < ps->end && (*p == '+' || *p == '-'))
			p++;
		if (!digit(ps, p))
			return syntax(ps, "a digit expected in the exponent");
		while (digit(ps, p))
			p++;
	}
	ps->p = p;
	return number_fits(ps, from, p, real);
}

/* True, consumed, if the literal word is next. */
static bool
literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return false;
	ps->p += n;
	return true;
}

/* Keeps the key just decoded (ps->str) until its object closes. */
static int
key_push(struct parser *ps)
{
	if (ps->nkeys == ps->capkeys) {
		size_t cap = ps->capkeys ? 2 * ps->capkeys : 32;
		struct key *k = realloc(ps->keys, cap * sizeof(*k));
		if (k == NULL)
			return oom(ps);
		ps->keys = k;
		ps->capkeys = cap;
	}
	ps->keys[ps->nkeys].off = ps->arena.len;
	ps->keys[ps->nkeys].len = ps->str.len;
	if (ps->str.len > 0 && buf_add(&ps->arena, ps->str.data, ps->str.len) != 0)
		return oom(ps);
	ps->nkeys++;
	return 0;
}

static int
key_cmp(const void *x, const void *y, void *arena)
{
	const struct key *a = x, *b = y;
	const char *base = arena;

	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(base + a->off, base + b->off, a->len);
}

/* True if two of the keys from base up are equal. A few are compared pairwise, many sorted. */
static bool
duplicates(struct parser *ps, size_t base)
{
	struct key *k = ps->keys + base;
	size_t n = ps->nkeys - base;

	if (n < 2)
		return false;
	if (n <= 16) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (key_cmp(&k[i], &k[j], ps->arena.data) == 0)
					return true;
		return false;
	}
	qsort_r(k, n, sizeof(*k), key_cmp, ps->arena.data);
	for (size_t i = 1; i < n; i++)
		if (key_cmp(&k[i], &k[i - 1], ps->arena.data) == 0)
			return true;
	return false;
}

static int object(struct parser *ps, json_t *into, size_t lo, size_t hi, size_t level);

static int array_skip(struct parser *ps);

/* Any value, checked and not built. */
static int
value_skip(struct parser *ps)
{
	if (ps->p >= ps->end)
		return syntax(ps, "a value expected");
	switch (*ps->p) {
	case '{':
		return object(ps, NULL, 0, 0, 0);
	case '[':
		return array_skip(ps);
	case '"':
		return string(ps, &ps->str);
	case 't':
	case 'f':
	case 'n':
		if (literal(ps, "true") || literal(ps, "false") || literal(ps, "null"))
			return 0;
		return syntax(ps, "a value expected");
	default:
		return number(ps);
	}
}

static int
array_skip(struct parser *ps)
{
	json_t *none = NULL;
	int r = array_open(ps, NULL, NULL, &none);

	if (r != 0)
		return r < 0 ? -1 : 0;
	do {
		if (value_skip(ps) != 0)
			return -1;
	} while ((r = next_or_close(ps, ']')) == 0);
	return r < 0 ? -1 : 0;
}

/* A leaf the catalog names, built if it is of the leaf's type. */
static int
leaf(struct parser *ps, json_t *into, const struct catalog_field *f, const char *name)
{
	json_t *v = NULL;
	int y, m, d, r;

	switch (f->type) {
	case CATALOG_TYPE_STRING:
	case CATALOG_TYPE_DATE:
		if (!at(ps, '"') || string(ps, &ps->str) != 0 ||
		    (f->type == CATALOG_TYPE_DATE &&
		     cal_parse_date(ps->str.data, ps->str.len, &y, &m, &d) != 0))
			return f->type == CATALOG_TYPE_DATE
			           ? bad(ps, "", f->path, " is not a date YYYY-MM-DD")
			           : bad(ps, "", f->path, " has the wrong type");
		v = json_stringn_nocheck(ps->str.data ? ps->str.data : "", ps->str.len);
		break;
	case CATALOG_TYPE_BOOLEAN:
		if (literal(ps, "true"))
			v = json_true();
		else if (literal(ps, "false"))
			v = json_false();
		else
			return bad(ps, "", f->path, " has the wrong type");
		break;
	case CATALOG_TYPE_STRINGS:
		if (!at(ps, '['))
			return bad(ps, "", f->path, " has the wrong type");
		if ((r = array_open(ps, into, name, &v)) != 0)
			return r < 0 ? -1 : 0;
		do {
			if (!at(ps, '"') || string(ps, &ps->str) != 0)
				return bad(ps, "", f->path, " has the wrong type");
			if (json_array_append_new(
			        v, json_stringn_nocheck(ps->str.data ? ps->str.data : "",
			                                ps->str.len)) != 0)
				return oom(ps);
		} while ((r = next_or_close(ps, ']')) == 0);
		return r < 0 ? -1 : 0;
	}
	if (v == NULL || json_object_set_new(into, name, v) != 0)
		return oom(ps);
	return 0;
}

/* The value of a member the catalog leaves a..b-1 share at this level. */
static int
member(struct parser *ps, json_t *into, size_t a, size_t b, size_t level)
{
	const struct catalog_field *f = catalog_field_at(ps->cat, a);
	const char *name = f->segments[level].name;
	json_t *v;
	int r;

	if (literal(ps, "null")) /* a null counts as absent */
		return 0;
	if (f->nsegments == level + 1)
		return leaf(ps, into, f, name);
	if (!f->segments[level].array) {
		if (!at(ps, '{'))
			return bad(ps, "", f->path, " is not in an object");
		if ((v = json_object()) == NULL || json_object_set_new(into, name, v) != 0)
			return oom(ps);
		return object(ps, v, a, b, level + 1);
	}
	if (!at(ps, '['))
		return bad(ps, "", f->path, " is not in an array");
	if ((r = array_open(ps, into, name, &v)) != 0)
		return r < 0 ? -1 : 0;
	do {
		json_t *e;
		if (!at(ps, '{'))
			return bad(ps, "an element on the way to ", f->path, " is not an object");
		if ((e = json_object()) == NULL || json_array_append_new(v, e) != 0)
			return oom(ps);
		if (object(ps, e, a, b, level + 1) != 0)
			return -1;
	} while ((r = next_or_close(ps, ']')) == 0);
	return r < 0 ? -1 : 0;
}

/* The leaves lo..hi-1 whose name at this level is the key just decoded: *b past them; or hi. */
static size_t
find_run(const struct parser *ps, size_t lo, size_t hi, size_t level, size_t *b)
{
	for (size_t a = lo; a < hi; a = *b) {
		const char *name = catalog_field_at(ps->cat, a)->segments[level].name;
		for (*b = a + 1;
		     *b < hi &&
		     strcmp(catalog_field_at(ps->cat, *b)->segments[level].name, name) == 0;
		     (*b)++)
			;
		if (strlen(name) == ps->str.len && memcmp(name, ps->str.data, ps->str.len) == 0)
			return a;
	}
	return hi;
}

/* The top level's member_id, next: a string equal to the one asked for. */
static int
member_id(struct parser *ps)
{
	if (!at(ps, '"') || string(ps, &ps->str) != 0 || strlen(ps->member_id) != ps->str.len ||
	    memcmp(ps->member_id, ps->str.data, ps->str.len) != 0)
		return refuse(ps, APIERR_ORIGIN_INVALID, "member_id is not the one asked for");
	ps->id_ok = true;
	return 0;
}

/*
 * The object at ps->p, its members checked against the catalog leaves lo..hi-1 (which share
 * their first `level` segments and are contiguous), those built into `into`; into NULL (and
 * lo = hi) checks without building.
 */
static int
object(struct parser *ps, json_t *into, size_t lo, size_t hi, size_t level)
{
	size_t base = ps->nkeys, arena = ps->arena.len;
	int r = 1;

	if (enter(ps) != 0)
		return -1;
	ws(ps);
	if (at(ps, '}')) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	do {
		size_t a, b = hi;
		if (!at(ps, '"'))
			return syntax(ps, "a member name expected");
		if (string(ps, &ps->str) != 0 || key_push(ps) != 0)
			return -1;
		a = find_run(ps, lo, hi, level, &b);
		bool is_id = into != NULL && level == 0 && ps->str.len == 9 &&
		             memcmp(ps->str.data, "member_id", 9) == 0;
		ws(ps);
		if (!at(ps, ':'))
			return syntax(ps, "':' expected");
		ps->p++;
		ws(ps);
		if (is_id) {
			const char *from = ps->p;
			if (member_id(ps) != 0)
				return -1;
			ps->p = from; /* read again below if the catalog names it */
			if (a == hi && value_skip(ps) != 0)
				return -1;
		}
		if (a < hi ? member(ps, into, a, b, level) : is_id ? 0 : value_skip(ps))
			return -1;
	} while ((r = next_or_close(ps, '}')) == 0);
	if (r < 0)
		return -1;
	if (duplicates(ps, base))
		return syntax(ps, "a duplicate member");
	ps->nkeys = base;
	buf_truncate(&ps->arena, arena);
	return 0;
}

json_t *
record_parse(const struct catalog *cat, const char *bytes, size_t len, size_t max_bytes,
             int max_depth, const char *member_id, enum apierr *err, char *why, size_t whylen)
{
	struct parser ps = {
	    .start = bytes,
	    .p = bytes,
	    .end = bytes + len,
	    .cat = cat,
	    .max_depth = max_depth,
	    .member_id = member_id,
	    .err = APIERR_NONE,
	    .why = why,
	    .whylen = whylen,
	};
	json_t *root = NULL;

	snprintf(why, whylen, "ok");
	if (len > max_bytes) {
		refuse(&ps, APIERR_ORIGIN_INVALID, "body of %zu bytes is over the limit of %zu",
		       len, max_bytes);
		goto fail;
	}
	ws(&ps);
	if (at(&ps, '{')) {
		if ((root = json_object()) == NULL) {
			oom(&ps);
			goto fail;
		}
		if (object(&ps, root, 0, catalog_nfields(cat), 0) != 0)
			goto fail;
	} else if (value_skip(&ps) != 0) {
		goto fail;
	}
	ws(&ps);
	if (ps.p != ps.end) {
		syntax(&ps, "the end expected after the value");
		goto fail;
	}
	if (root == NULL) {
		refuse(&ps, APIERR_ORIGIN_INVALID, "not a JSON object");
		goto fail;
	}
	if (!ps.id_ok) {
		refuse(&ps, APIERR_ORIGIN_INVALID, "member_id is not the one asked for");
		goto fail;
	}
	goto done;
fail:
	json_decref(root);
	root = NULL;
done:
	*err = ps.err;
	buf_free(&ps.str);
	buf_free(&ps.arena);
	free(ps.keys);
	return root;
}
