/*
 * Tests of server_request: the rules for header and query values and numbers, the identity
 * headers no handler may see, the checks on the head as it arrived (hidden bytes, framing) and
 * the replies. The three libmicrohttpd accessors it reads a request through are replaced here
 * by ones that serve a request laid out as libmicrohttpd leaves it in its read buffer; the
 * server's routing is tested in test_route.c, the listener end to end.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#include "server_request.c"

/* ---- A request as libmicrohttpd holds it ---- */

struct fake_value {
	enum MHD_ValueKind kind;
	const char *key, *value;
	size_t key_size, value_size;
};

struct fake_request {
	struct fake_value v[24];
	size_t n;
	bool has_size;
	union MHD_ConnectionInfo size; /* .header_size */
};

/* Calls the iterator given, of either kind, on each value of the kinds asked for. */
static int
each(struct MHD_Connection *connection, enum MHD_ValueKind kind, MHD_KeyValueIteratorN with_sizes,
     MHD_KeyValueIterator without, void *cls)
{
	struct fake_request *f = (struct fake_request *)connection;
	int n = 0;

	for (size_t i = 0; i < f->n; i++) {
		const struct fake_value *v = &f->v[i];
		enum MHD_Result go = MHD_YES;
		if (!(v->kind & kind))
			continue;
		n++;
		if (with_sizes != NULL)
			go = with_sizes(cls, v->kind, v->key, v->key_size, v->value, v->value_size);
		else if (without != NULL)
			go = without(cls, v->kind, v->key, v->value);
		if (go != MHD_YES)
			break;
	}
	return n;
}

int
MHD_get_connection_values_n(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                            MHD_KeyValueIteratorN iterator, void *iterator_cls)
{
	return each(connection, kind, iterator, NULL, iterator_cls);
}

int
MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                          MHD_KeyValueIterator iterator, void *iterator_cls)
{
	return each(connection, kind, NULL, iterator, iterator_cls);
}

const union MHD_ConnectionInfo *
MHD_get_connection_info(struct MHD_Connection *connection, enum MHD_ConnectionInfoType info_type,
                        ...)
{
	struct fake_request *f = (struct fake_request *)connection;

	if (info_type == MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE && f->has_size)
		return &f->size;
	return NULL;
}

static void
add(struct fake_request *f, enum MHD_ValueKind kind, const char *key, const char *value)
{
	f->v[f->n++] =
	    (struct fake_value){kind, key, value, strlen(key), value ? strlen(value) : 0};
}

static struct server srv;
static struct conn conn = {.server = &srv};

static void
new_request(struct server_request *r, struct fake_request *f)
{
	memset(r, 0, sizeof *r);
	memset(f, 0, sizeof *f);
	r->conn = &conn;
	r->mhd = (struct MHD_Connection *)f;
	memcpy(r->id, "000102030405060708090a0b", sizeof r->id);
}

/* ---- The pure rules ---- */

static void
test_value_ok(void)
{
	static const struct {
		const char *v;
		size_t len, maxlen;
		bool allow_empty, want;
	} rows[] = {
	    {"contact", 7, 64, false, true},
	    {"a\tb", 3, 64, false, true}, /* tab is the one control allowed */
	    {"a b", 3, 64, false, true},
	    {"\xe6\x9d\xb1", 3, 64, false, true}, /* bytes >= 0x80 are the handler's to judge */
	    {"", 0, 64, false, false},
	    {"", 0, 64, true, true},
	    {"abc", 3, 3, false, true}, /* exactly maxlen */
	    {"abcd", 4, 3, false, false},
	    {"a\rb", 3, 64, false, false},
	    {"a\nb", 3, 64, false, false},
	    {"\x01", 1, 64, false, false},
	    {"\x1f", 1, 64, false, false},
	    {"a\x7f", 2, 64, false, false},
	    {"contact\0statistics", 18, 64, false, false}, /* a NUL inside is a control */
	    {"contact\0statistics", 7, 64, false, true},   /* as strlen sees it: the scan's job */
	    {"contact", 6, 64, false, false},              /* no NUL at v[len] */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		bool got =
		    server_value_ok(rows[i].v, rows[i].len, rows[i].maxlen, rows[i].allow_empty);
		CHECK(got == rows[i].want, "row %zu ('%.*s', %zu of %zu, empty %s): %s", i,
		      (int)rows[i].len, rows[i].v, rows[i].len, rows[i].maxlen,
		      rows[i].allow_empty ? "allowed" : "refused", got ? "usable" : "refused");
	}
}

static void
test_parse_uint(void)
{
	static const struct {
		const char *v;
		unsigned long min, max;
		int rc;
		unsigned long want;
	} rows[] = {
	    {"0", 0, 10, 0, 0},
	    {"10", 0, 10, 0, 10},
	    {"11", 0, 10, -1, 0},
	    {"1000", 1, 1000, 0, 1000},
	    {"0", 1, 1000, -1, 0},
	    {"007", 0, 10, 0, 7},
	    {"", 0, 10, -1, 0},
	    {"-1", 0, 10, -1, 0},
	    {"+1", 0, 10, -1, 0},
	    {" 1", 0, 10, -1, 0},
	    {"1 ", 0, 10, -1, 0},
	    {"1e2", 0, 1000, -1, 0},
	    {"0x1", 0, 10, -1, 0},
	    {"1.0", 0, 10, -1, 0},
	    {"18446744073709551615", 0, ULONG_MAX, 0, ULONG_MAX},
	    {"18446744073709551616", 0, ULONG_MAX, -1, 0}, /* one past: no wrap to 0 */
	    {"99999999999999999999999", 0, ULONG_MAX, -1, 0},
	    {"3", 0, 2, -1, 0}, /* a digit above max itself */
	    {"9", 0, 5, -1, 0},
	    {"100", 0, 99, -1, 0},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		unsigned long out = 4242;
		int rc = server_parse_uint(rows[i].v, rows[i].min, rows[i].max, &out);
		CHECK(rc == rows[i].rc, "'%s' in [%lu, %lu]: %d", rows[i].v, rows[i].min,
		      rows[i].max, rc);
		CHECK(out == (rows[i].rc == 0 ? rows[i].want : 4242), "'%s': %lu", rows[i].v, out);
	}
}

/* ---- What a handler reads ---- */

static void
test_header(void)
{
	static const struct {
		const char *name;    /* asked for */
		const char *sent[3]; /* "Name", "value" pairs of the request, beside Host */
		size_t maxlen;
		bool bad_auth;
		int rc;
		const char *want;
	} rows[] = {
	    {"X-Purpose", {"X-Purpose", "contact"}, 64, false, 1, "contact"},
	    {"x-purpose", {"X-PURPOSE", "contact"}, 64, false, 1, "contact"},
	    {"X-Purpose", {NULL}, 64, false, 0, NULL},
	    {"X-Purpose", {"X-Purpose", ""}, 64, false, -1, NULL}, /* a header is never empty */
	    {"X-Purpose", {"X-Purpose", "m\x01"}, 64, false, -1, NULL},
	    {"X-Purpose", {"X-Purpose", "0123456789"}, 9, false, -1, NULL},
	    {"X-Purpose", {"X-Purpose", "0123456789"}, 10, false, 1, "0123456789"},
	    {"Authorization", {"Authorization", "Bearer t"}, 64, false, 1, "Bearer t"},
	    {"Authorization", {"Authorization", "Bearer t"}, 64, true, -1, NULL},
	    {"X-Purpose", {"X-Purpose", "contact"}, 64, true, 1, "contact"}, /* only Authorization
	                                                                      */
	    /* who is calling comes from TLS only: these are never read, whatever they hold */
	    {"X-Client-Cert", {"X-Client-Cert", "MIIB"}, 64, false, 0, NULL},
	    {"X-Forwarded-Client-Cert", {"X-Forwarded-Client-Cert", "x"}, 64, false, 0, NULL},
	    {"X-SSL-Client-Verify", {"X-SSL-Client-Verify", "SUCCESS"}, 64, false, 0, NULL},
	    {"SSL-Client-Cert", {"SSL-Client-Cert", "x"}, 64, false, 0, NULL},
	    {"X-Partner", {"X-Partner", "sakura-mail"}, 64, false, 0, NULL},
	    {"X-Partner-Id", {"X-Partner-Id", "sakura-mail"}, 64, false, 0, NULL},
	    {"x-staff-role", {"X-Staff-Role", "officer"}, 64, false, 0, NULL},
	    {"X-Remote-User", {"X-Remote-User", "officer"}, 64, false, 0, NULL},
	    {"Remote-User", {"Remote-User", "officer"}, 64, false, 0, NULL},
	    {"X-User", {"X-User", "officer"}, 64, false, 0, NULL},
	    {"X-Authenticated-User", {"X-Authenticated-User", "u"}, 64, false, 0, NULL},
	    {"X-Forwarded-User", {"X-Forwarded-User", "u"}, 64, false, 0, NULL},
	    {"X-TLS-Client", {"X-TLS-Client", "x"}, 64, false, 0, NULL},
	    {"X-Pdgate-Partner", {"X-Pdgate-Partner", "x"}, 64, false, 0, NULL},
	    /* names that only look alike are ordinary headers */
	    {"X-Partnership", {"X-Partnership", "x"}, 64, false, 0, NULL}, /* "x-partner" prefix */
	    {"X-Contract", {"X-Contract", "CT-2026-0001"}, 64, false, 1, "CT-2026-0001"},
	    {"X-Justification", {"X-Justification", "audit"}, 64, false, 1, "audit"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct server_request r;
		struct fake_request f;
		const char *v = "unset";
		new_request(&r, &f);
		add(&f, MHD_HEADER_KIND, "Host", "127.0.0.1");
		if (rows[i].sent[0] != NULL)
			add(&f, MHD_HEADER_KIND, rows[i].sent[0], rows[i].sent[1]);
		add(&f, MHD_GET_ARGUMENT_KIND, rows[i].name, "from the query");
		r.bad_auth = rows[i].bad_auth;
		int rc = server_request_header(&r, rows[i].name, rows[i].maxlen, &v);
		CHECK(rc == rows[i].rc, "header %s: %d, want %d", rows[i].name, rc, rows[i].rc);
		if (rows[i].want != NULL)
			CHECK(v != NULL && strcmp(v, rows[i].want) == 0, "header %s: '%s'",
			      rows[i].name, v ? v : "(null)");
		else
			CHECK(v == NULL, "header %s: a value '%s' where none may be", rows[i].name,
			      v);
	}
	/* sent twice: unusable, whatever the two say */
	struct server_request r;
	struct fake_request f;
	const char *v = "unset";
	new_request(&r, &f);
	add(&f, MHD_HEADER_KIND, "X-Purpose", "contact");
	add(&f, MHD_HEADER_KIND, "x-purpose", "contact");
	CHECK(server_request_header(&r, "X-Purpose", 64, &v) == -1 && v == NULL, "X-Purpose twice");
}

static void
test_query(void)
{
	static const struct {
		const char *sent[4]; /* name, value pairs */
		const char *name;
		int rc;
		const char *want;
	} rows[] = {
	    {{"limit", "10"}, "limit", 1, "10"},
	    {{"limit", ""}, "limit", 1, ""}, /* a query value may be empty */
	    {{"limit", NULL}, "limit", 1, ""},
	    {{"after", "M1"}, "limit", 0, NULL},
	    {{"limit", "1", "limit", "2"}, "limit", -1, NULL},
	    {{"limit", "1\x01"}, "limit", -1, NULL},
	    {{"Limit", "1"}, "limit", 1, "1"}, /* names are matched without case */
	    {{"limit", "1", "LIMIT", "1"}, "limit", -1, NULL},
	    {{"X-Partner", "p"}, "X-Partner", 1, "p"}, /* identity names are a header rule only */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct server_request r;
		struct fake_request f;
		const char *v = "unset";
		new_request(&r, &f);
		for (size_t k = 0; k < 4 && rows[i].sent[k] != NULL; k += 2)
			add(&f, MHD_GET_ARGUMENT_KIND, rows[i].sent[k], rows[i].sent[k + 1]);
		add(&f, MHD_HEADER_KIND, rows[i].name, "from a header");
		int rc = server_request_query(&r, rows[i].name, 20, &v);
		CHECK(rc == rows[i].rc, "query row %zu: %d, want %d", i, rc, rows[i].rc);
		if (rows[i].want != NULL)
			CHECK(v != NULL && strcmp(v, rows[i].want) == 0, "query row %zu: '%s'", i,
			      v ? v : "(null)");
		else
			CHECK(v == NULL, "query row %zu: a value '%s'", i, v);
	}
}

static void
test_query_uint(void)
{
	static const struct {
		const char *value; /* NULL: absent */
		int rc;
		unsigned long want;
	} rows[] = {
	    {NULL, 0, 100}, /* absent: the default */
	    {"5", 0, 5},
	    {"1000", 0, 1000},
	    {"1001", -1, 0},
	    {"0", -1, 0},
	    {"", -1, 0},
	    {"five", -1, 0},
	    {"000000000000000000005", -1, 0}, /* 21 bytes */
	    {"00000000000000000005", 0, 5},   /* 20 bytes */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct server_request r;
		struct fake_request f;
		unsigned long out = 4242;
		new_request(&r, &f);
		if (rows[i].value != NULL)
			add(&f, MHD_GET_ARGUMENT_KIND, "limit", rows[i].value);
		int rc = server_request_query_uint(&r, "limit", 1, 1000, 100, &out);
		CHECK(rc == rows[i].rc, "limit=%s: %d", rows[i].value ? rows[i].value : "(absent)",
		      rc);
		if (rows[i].rc == 0)
			CHECK(out == rows[i].want, "limit=%s: %lu", rows[i].value, out);
	}
}

static void
test_query_only(void)
{
	static const char *const allowed[] = {"limit", "after", NULL};
	static const struct {
		const char *names[3];
		int rc;
	} rows[] = {
	    {{NULL}, 0},     {{"limit"}, 0}, {{"limit", "after"}, 0}, {{"limit", "offset"}, -1},
	    {{"LIMIT"}, -1}, /* exactly the names given */
	    {{""}, -1},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct server_request r;
		struct fake_request f;
		new_request(&r, &f);
		add(&f, MHD_HEADER_KIND, "X-Other", "a header is no query parameter");
		for (size_t k = 0; k < 3 && rows[i].names[k] != NULL; k++)
			add(&f, MHD_GET_ARGUMENT_KIND, rows[i].names[k], "1");
		int rc = server_request_query_only(&r, allowed);
		CHECK(rc == rows[i].rc, "query_only row %zu: %d", i, rc);
	}
}

/* ---- The head as it arrived ---- */

/*
 * Lays head[0..len) out as libmicrohttpd 0.9.75 leaves it (server_request.c says how): in
 * place, the request line's spaces, each line end and each name's colon overwritten by NUL,
 * a value starting after the spaces that follow the colon and measured with strlen. A folded
 * line (one that starts with a space) makes the value a copy outside the head.
 */
static char head[2048], folded[512];

static void
lay_out(struct server_request *r, struct fake_request *f, const char *raw, size_t len,
        const char **version)
{
	char *p = head, *end = head + len;

	memcpy(head, raw, len);
	f->has_size = true;
	f->size.header_size = len;
	/* the request line: method SP target SP version */
	char *sp1 = memchr(p, ' ', (size_t)(end - p));
	char *eol = memchr(p, '\n', (size_t)(end - p));
	char *sp2 = sp1 && eol ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (sp1 == NULL || sp2 == NULL) {
		CHECK(0, "no request line in '%s'", raw);
		return;
	}
	*sp1 = *sp2 = '\0';
	r->target_end = sp1 + 1 + strlen(sp1 + 1);
	*version = sp2 + 1;
	p = eol + 1;
	if (eol[-1] == '\r')
		eol[-1] = '\0';
	*eol = '\0';
	struct fake_value *last = NULL;
	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL) {
			CHECK(0, "a head without its empty line: '%s'", raw);
			return;
		}
		if (eol > p && eol[-1] == '\r')
			eol[-1] = '\0';
		*eol = '\0';
		if (eol == p || (eol == p + 1 && *p == '\0')) /* the empty line */
			break;
		if ((*p == ' ' || *p == '\t') && last != NULL) {
			snprintf(folded, sizeof folded, "%s %s", last->value, p + strspn(p, " \t"));
			last->value = folded;
			last->value_size = strlen(folded);
		} else {
			char *colon = strchr(p, ':');
			if (colon == NULL) {
				CHECK(0, "a header line without a colon: '%s'", p);
				return;
			}
			*colon = '\0';
			char *v = colon + 1 + strspn(colon + 1, " \t");
			add(f, MHD_HEADER_KIND, p, v);
			last = &f->v[f->n - 1];
		}
		p = eol + 1;
	}
}

static void
test_head_scan(void)
{
#define H(s) s, sizeof(s) - 1
	static const struct {
		const char *what;
		const char *raw;
		size_t len;
		bool nul_target, bad_header, bad_auth, bad_framing;
	} rows[] = {
	    {"a clean head", H("GET /v1/whoami HTTP/1.1\r\nHost: x\r\nX-Purpose: contact\r\n\r\n"),
	     false, false, false, false},
	    {"bare LF line ends", H("GET /v1/whoami HTTP/1.1\nHost: x\nX-Purpose: contact\n\n"),
	     false, false, false, false},
	    {"a NUL in the target", H("GET /v1/who\0ami HTTP/1.1\r\nHost: x\r\n\r\n"), true, false,
	     false, false},
	    {"a NUL hides the rest of a value",
	     H("GET / HTTP/1.1\r\nX-Purpose: contact\0legal_obligation\r\nHost: x\r\n\r\n"), false,
	     true, false, false},
	    {"a NUL hides the rest of the last value",
	     H("GET / HTTP/1.1\r\nHost: x\r\nX-Purpose: contact\0legal\r\n\r\n"), false, true,
	     false, false},
	    {"a NUL at the end of the last value, nothing after it",
	     H("GET / HTTP/1.1\r\nHost: x\r\nX-Purpose: contact\0\r\n\r\n"), false, true, false,
	     false},
	    {"a NUL in Authorization",
	     H("GET / HTTP/1.1\r\nAuthorization: Bearer a\0b\r\nHost: x\r\n\r\n"), false, false,
	     true, false},
	    {"a byte hidden where a line end could be",
	     H("GET / HTTP/1.1\nHost: x\nX-Purpose: contact\0z\n\n"), false, true, false, false},
	    {"a control character",
	     H("GET / HTTP/1.1\r\nHost: x\r\nX-Purpose: con\x01tact\r\n\r\n"), false, true, false,
	     false},
	    {"a control character in Authorization",
	     H("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x7f\r\n\r\n"), false, false,
	     true, false},
	    {"a tab", H("GET / HTTP/1.1\r\nHost: x\r\nX-Justification: a\tb\r\n\r\n"), false, false,
	     false, false},
	    {"a folded line",
	     H("GET / HTTP/1.1\r\nHost: x\r\nX-Purpose: contact\r\n legal\r\n\r\n"), false, true,
	     false, false},
	    {"Content-Length", H("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"), false,
	     false, false, false},
	    {"Content-Length twice",
	     H("GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\nHost: x\r\n\r\n"),
	     false, false, false, true},
	    {"a list for a length", H("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,5\r\n\r\n"),
	     false, false, false, true},
	    {"a signed length", H("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n"), false,
	     false, false, true},
	    {"an empty length", H("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n"), false,
	     false, false, true},
	    {"chunked", H("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), false,
	     false, false, false},
	    {"Chunked", H("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"), false,
	     false, false, false},
	    {"a coding list",
	     H("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), false,
	     false, false, true},
	    {"Transfer-Encoding twice",
	     H("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
	       "Host: x\r\n\r\n"),
	     false, false, false, true},
	    {"both lengths",
	     H("GET / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nHost: "
	       "x\r\n\r\n"),
	     false, false, false, true},
	};
#undef H
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct server_request r;
		struct fake_request f;
		const char *version = NULL;
		new_request(&r, &f);
		lay_out(&r, &f, rows[i].raw, rows[i].len, &version);
		server_head_scan(&r, head, version);
		CHECK(r.nul_target == rows[i].nul_target && r.bad_header == rows[i].bad_header &&
		          r.bad_auth == rows[i].bad_auth && r.bad_framing == rows[i].bad_framing,
		      "%s: target %d header %d auth %d framing %d, want %d %d %d %d", rows[i].what,
		      r.nul_target, r.bad_header, r.bad_auth, r.bad_framing, rows[i].nul_target,
		      rows[i].bad_header, rows[i].bad_auth, rows[i].bad_framing);
	}
	/* headers that are not where libmicrohttpd's parser puts them are not trusted */
	static const char two[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Purpose: contact\r\n\r\n";
	static const char *const odd[] = {"no header size", "out of order",
	                                  "a value before its name", "a value past the head"};
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		struct server_request r;
		struct fake_request f;
		const char *version = NULL;
		new_request(&r, &f);
		lay_out(&r, &f, two, sizeof two - 1, &version);
		if (i == 0) {
			f.has_size = false;
		} else if (i == 1) {
			struct fake_value t = f.v[0];
			f.v[0] = f.v[1];
			f.v[1] = t;
		} else if (i == 2) {
			f.v[1].value = head + 1;
			f.v[1].value_size = 2;
		} else {
			f.v[1].value = head + sizeof two + 8;
			f.v[1].value_size = 0;
		}
		server_head_scan(&r, head, version);
		CHECK(r.bad_header && !r.bad_auth, "%s: header %d auth %d", odd[i], r.bad_header,
		      r.bad_auth);
	}
}

/* ---- Replies ---- */

static void
test_reply(void)
{
	struct server_request r;
	struct fake_request f;

	new_request(&r, &f);
	CHECK(server_reply_header(&r, "X-A", "b") == -1, "a header before any reply");
	CHECK(server_reply_error(&r, APIERR_PURPOSE_MISSING, NULL) == 0, "a refusal");
	CHECK(r.status == 400 && r.error == APIERR_PURPOSE_MISSING, "purpose_missing: %u",
	      r.status);
	CHECK(strcmp(r.detail, "declare a purpose with X-Purpose") == 0,
	      "the default message is logged: '%s'", r.detail);
	const char *id = MHD_get_response_header(r.response, "X-Request-Id");
	const char *ct = MHD_get_response_header(r.response, "Content-Type");
	const char *cc = MHD_get_response_header(r.response, "Cache-Control");
	CHECK(id != NULL && strcmp(id, r.id) == 0, "X-Request-Id %s", id ? id : "(none)");
	CHECK(ct != NULL && strcmp(ct, "application/json") == 0, "Content-Type %s",
	      ct ? ct : "(none)");
	CHECK(cc != NULL && strcmp(cc, "no-store") == 0, "Cache-Control %s", cc ? cc : "(none)");
	CHECK(MHD_get_response_header(r.response, "Connection") == NULL, "not draining: no close");
	CHECK(server_reply_error(&r, APIERR_INTERNAL, NULL) == -1 && r.status == 400,
	      "one reply per request");
	CHECK(server_reply(&r, 200, "text/plain", "x", 1) == -1 && r.status == 400,
	      "one reply per request, of any kind");

	static const struct {
		const char *name, *value;
		int rc;
	} rows[] = {
	    {"X-Ledger-Index", "42", 0},
	    {"Allow", "GET, POST", 0},
	    {"X-A", "", -1}, /* libmicrohttpd sends no empty value */
	    {"X-A", "a\tb", 0},
	    {"", "b", -1},
	    {"X A", "b", -1},
	    {"X:A", "b", -1},
	    {"X-\x7f", "b", -1},
	    {"X-A", "b\r\nSet-Cookie: s=1", -1},
	    {"X-A", "b\nc", -1},
	    {"X-A", "b\x7f", -1},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int rc = server_reply_header(&r, rows[i].name, rows[i].value);
		CHECK(rc == rows[i].rc, "header '%s: %s': %d", rows[i].name, rows[i].value, rc);
	}
	MHD_destroy_response(r.response);

	/* a message that is not UTF-8 cannot go into JSON: the table's text goes instead */
	new_request(&r, &f);
	CHECK(server_reply_error(&r, APIERR_BAD_REQUEST, "bad \xff byte") == 0 &&
	          r.response != NULL && r.status == 400,
	      "a refusal with a message that is not UTF-8");
	MHD_destroy_response(r.response);

	/* while draining, every answer tells the client to close */
	atomic_store(&srv.draining, true);
	new_request(&r, &f);
	server_reply_error(&r, APIERR_GATEWAY_SUSPENDED, "stopping");
	const char *close_hdr = MHD_get_response_header(r.response, "Connection");
	CHECK(r.status == 503 && close_hdr != NULL && strcmp(close_hdr, "close") == 0,
	      "draining: %u, Connection %s", r.status, close_hdr ? close_hdr : "(none)");
	MHD_destroy_response(r.response);
	atomic_store(&srv.draining, false);

	size_t len = 99;
	CHECK(server_request_body(&r, &len) == NULL && len == 0, "no body: NULL, 0");
}

int
main(void)
{
	test_value_ok();
	test_parse_uint();
	test_header();
	test_query();
	test_query_uint();
	test_query_only();
	test_head_scan();
	test_reply();
	return check_done();
}
