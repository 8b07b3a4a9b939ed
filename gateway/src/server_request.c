/* server_request — what a handler sees of its request (target, headers, query, body) and how
 * it answers; and the checks on the head as it arrived. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "server_private.h"

/* ---- Replies ---- */

static int
finish_reply(struct server_request *r, unsigned status, const char *content_type,
             struct MHD_Response *resp)
{
	struct server *s = r->conn->server;

	if (resp == NULL)
		return -1;
	if (MHD_add_response_header(resp, "X-Request-Id", r->id) != MHD_YES ||
	    MHD_add_response_header(resp, "Cache-Control", "no-store") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    /* HTTPS only, on every listener: a browser (the console) never tries plain HTTP */
	    MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000") !=
	        MHD_YES ||
	    (content_type != NULL && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                                                     content_type) != MHD_YES) ||
	    (atomic_load(&s->draining) &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
		MHD_destroy_response(resp);
		return -1;
	}
	r->response = resp;
	r->status = status;
	return 0;
}

int
server_reply(struct server_request *r, unsigned status, const char *content_type, const void *body,
             size_t len)
{
	if (r->response != NULL)
		return -1;
	return finish_reply(
	    r, status, content_type,
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY));
}

int
server_reply_take(struct server_request *r, unsigned status, const char *content_type, char *body,
                  size_t len)
{
	struct MHD_Response *resp;

	if (r->response != NULL) {
		free(body);
		return -1;
	}
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return -1;
	}
	return finish_reply(r, status, content_type, resp);
}

int
server_reply_json(struct server_request *r, unsigned status, json_t *doc)
{
	char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	if (text == NULL)
		return -1;
	return server_reply_take(r, status, "application/json", text, strlen(text));
}

int
server_reply_error(struct server_request *r, enum apierr e, const char *message)
{
	json_t *doc;

	if (r->response != NULL)
		return -1;
	if (message == NULL)
		message = apierr_message(e);
	doc = json_pack("{s:s,s:s,s:s}", "error", apierr_code(e), "message", message, "request_id",
	                r->id);
	if (doc == NULL) /* a message that is not UTF-8: the table's text instead */
		doc = json_pack("{s:s,s:s,s:s}", "error", apierr_code(e), "message",
		                apierr_message(e), "request_id", r->id);
	r->error = e;
	/* the message names the rule that refused (never member data or a token): log it too */
	snprintf(r->detail, sizeof r->detail, "%s", message);
	return server_reply_json(r, apierr_status(e), doc);
}

/* A header name or value we may send: visible ASCII (and, in values, spaces and tabs). */
static bool
sendable(const char *s, bool value)
{
	if (*s == '\0' && !value)
		return false;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == 0x7f || (ch < 0x20 && !(value && ch == '\t')) || (!value && ch == ' ') ||
		    (!value && ch == ':'))
			return false;
	}
	return true;
}

int
server_reply_header(struct server_request *r, const char *name, const char *value)
{
	if (r->response == NULL || !sendable(name, false) || !sendable(value, true))
		return -1;
	return MHD_add_response_header(r->response, name, value) == MHD_YES ? 0 : -1;
}

/* ---- Request accessors ---- */

const char *
server_request_id(const struct server_request *r)
{
	return r->id;
}

const char *
server_request_method(const struct server_request *r)
{
	return r->method;
}

const char *
server_request_path(const struct server_request *r)
{
	return r->url;
}

const char *
server_request_param(const struct server_request *r, unsigned i)
{
	return i < r->nparams ? r->params[i] : NULL;
}

const struct server_route *
server_request_route(const struct server_request *r)
{
	return r->route;
}

const struct tlsauth_identity *
server_request_identity(const struct server_request *r)
{
	return r->identity;
}

const char *
server_request_body(const struct server_request *r, size_t *len)
{
	*len = r->conn->body.len;
	return r->conn->body.len > 0 ? r->conn->body.data : NULL;
}

static void
copy_field(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

void
server_request_set_principal(struct server_request *r, const char *who)
{
	copy_field(r->principal, sizeof r->principal, who);
}

void
server_request_set_purpose(struct server_request *r, const char *purpose)
{
	copy_field(r->purpose, sizeof r->purpose, purpose);
}

/*
 * Headers that carry a caller's identity in proxies (client certificate, verified subject,
 * partner or staff name). pdgate learns who calls from TLS only and forwards nothing the
 * client sent; these are hidden from handlers so that no code can come to trust them.
 */
static const char *const identity_headers[] = {
    "x-client-",        "x-forwarded-client-cert",
    "x-ssl-",           "ssl-client",
    "x-partner",        "x-staff",
    "x-remote-user",    "remote-user",
    "x-user",           "x-authenticated",
    "x-forwarded-user", "x-tls-",
    "x-pdgate-",
};

static bool
identity_header(const char *name)
{
	for (size_t i = 0; i < sizeof identity_headers / sizeof identity_headers[0]; i++)
		if (strncasecmp(name, identity_headers[i], strlen(identity_headers[i])) == 0)
			return true;
	return false;
}

/*
 * The rules for header and query values above, as a pure function (test_server_request and
 * fuzz_headers reach it): true if v holds len bytes and a NUL at v[len]; len at most maxlen,
 * non-zero unless allow_empty, no control character (NUL included) but tab.
 */
static bool
server_value_ok(const char *v, size_t len, size_t maxlen, bool allow_empty)
{
	if (len > maxlen || (len == 0 && !allow_empty) || v[len] != '\0')
		return false;
	/* NUL is a control character: "marketing\0statistics" never reaches a handler */
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)v[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return false;
	}
	return true;
}

struct lookup {
	const char *name;
	unsigned count;
	const char *value;
	size_t len;
};

static enum MHD_Result
lookup_iter(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size, const char *value,
            size_t value_size)
{
	struct lookup *l = cls;

	(void)kind;
	(void)key_size;
	if (key != NULL && strcasecmp(key, l->name) == 0) {
		l->count++;
		l->value = value != NULL ? value : "";
		l->len = value != NULL ? value_size : 0;
	}
	return MHD_YES;
}

static int
lookup(struct server_request *r, enum MHD_ValueKind kind, const char *name, size_t maxlen,
       bool allow_empty, const char **value)
{
	struct lookup l = {name, 0, NULL, 0};

	*value = NULL;
	MHD_get_connection_values_n(r->mhd, kind, lookup_iter, &l);
	if (l.count == 0)
		return 0;
	if (l.count > 1 || !server_value_ok(l.value, l.len, maxlen, allow_empty) ||
	    (kind == MHD_HEADER_KIND && r->bad_auth &&
	     strcasecmp(name, MHD_HTTP_HEADER_AUTHORIZATION) == 0))
		return -1;
	*value = l.value;
	return 1;
}

int
server_request_header(struct server_request *r, const char *name, size_t maxlen, const char **value)
{
	if (identity_header(name)) {
		*value = NULL;
		return 0;
	}
	return lookup(r, MHD_HEADER_KIND, name, maxlen, false, value);
}

int
server_request_query(struct server_request *r, const char *name, size_t maxlen, const char **value)
{
	return lookup(r, MHD_GET_ARGUMENT_KIND, name, maxlen, true, value);
}

/* Parses v as an unsigned decimal (digits only, no sign, space or exponent) in [min, max].
 * Returns 0 with *out set, or -1. */
static int
server_parse_uint(const char *v, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long n = 0;

	if (*v == '\0')
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9' || n > (max - (unsigned long)(*v - '0')) / 10)
			return -1;
		n = n * 10 + (unsigned long)(*v - '0');
	}
	if (n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

int
server_request_query_uint(struct server_request *r, const char *name, unsigned long min,
                          unsigned long max, unsigned long dflt, unsigned long *out)
{
	const char *v;
	int got = server_request_query(r, name, 20, &v);

	if (got == 0) {
		*out = dflt;
		return 0;
	}
	if (got < 0)
		return -1;
	return server_parse_uint(v, min, max, out);
}

struct only {
	const char *const *allowed;
	bool bad;
};

static enum MHD_Result
only_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct only *o = cls;
	bool found = false;

	(void)kind;
	(void)value;
	for (size_t i = 0; o->allowed[i] != NULL && !found; i++)
		found = key != NULL && strcmp(key, o->allowed[i]) == 0;
	if (!found) {
		o->bad = true;
		return MHD_NO;
	}
	return MHD_YES;
}

int
server_request_query_only(struct server_request *r, const char *const *allowed)
{
	struct only o = {allowed, false};

	MHD_get_connection_values(r->mhd, MHD_GET_ARGUMENT_KIND, only_iter, &o);
	return o.bad ? -1 : 0;
}

/*
 * The head as it arrived. libmicrohttpd 0.9.75 parses it in place, in its read buffer, and
 * measures each header value with strlen: "X-Purpose: contact\0legal_obligation" reaches us as
 * "contact", the rest dropped unseen (a NUL in the target likewise). The head is still there,
 * [method, method + header size), each line end and each name's colon overwritten by NUL, the
 * headers in the order they came. So a value hid something exactly when a byte other than NUL
 * lies between its end and the start of the next header's name (or, for the last, the end of
 * the head), or more bytes than a line end takes: two (CRLF), and two more after the last
 * header (the empty line). A value that is not in that span at all was folded onto a second
 * line (obs-fold), which RFC 9112 5.2 lets a server refuse: it is refused the same way. What
 * this cannot see is a NUL that ends a value followed by a bare LF ("v\0\n" leaves what
 * "v\r\n" leaves); it hides nothing, the value being all that came before it.
 */
struct scan {
	const char *lo, *hi; /* the head */
	const char *gap;     /* the end of the previous value; NULL before the first */
	bool gap_auth;       /* the previous header was Authorization */
	bool bad, bad_auth;  /* a value (not Authorization) / Authorization hid bytes or has
	                        a control character */
	unsigned clen, tenc; /* Content-Length and Transfer-Encoding headers seen */
	bool clen_digits;    /* every Content-Length value is digits only */
	bool tenc_chunked;   /* the Transfer-Encoding value is "chunked" */
};

/* A value hid bytes or holds a control character: Authorization's own flag, or the rest's. */
static void
scan_mark(struct scan *sc, bool auth)
{
	if (auth)
		sc->bad_auth = true;
	else
		sc->bad = true;
}

static void
scan_gap(struct scan *sc, const char *until, size_t line_end)
{
	if (sc->gap == NULL)
		return;
	bool hid = (size_t)(until - sc->gap) > line_end;
	for (const char *p = sc->gap; p < until && !hid; p++)
		hid = *p != '\0';
	if (hid)
		scan_mark(sc, sc->gap_auth);
}

static enum MHD_Result
scan_iter(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size, const char *value,
          size_t value_size)
{
	struct scan *sc = cls;
	bool auth = strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0;

	(void)kind;
	(void)key_size;
	if (value == NULL)
		value = "";
	if (key < sc->lo || key >= sc->hi || value < key || value + value_size >= sc->hi ||
	    (sc->gap != NULL && key < sc->gap)) {
		sc->bad = true; /* folded, or not where a parsed header would be */
		sc->gap = NULL;
		return MHD_YES;
	}
	scan_gap(sc, key, 2);
	if (!server_value_ok(value, value_size, SIZE_MAX, true))
		scan_mark(sc, auth);
	sc->gap = value + value_size;
	sc->gap_auth = auth;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		sc->clen++;
		sc->clen_digits &= value_size > 0 && strspn(value, "0123456789") == value_size;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		sc->tenc++;
		sc->tenc_chunked = strcasecmp(value, "chunked") == 0;
	}
	return MHD_YES;
}

/*
 * Reads the head once it is complete: the target's and the header values' hidden bytes and
 * control characters (step 2), and the framing. RFC 9112 6.1 and 6.3: a body whose length two
 * headers state differently, or a list for a length, could be read as two requests by one
 * party and one by another; such a request is answered 400 and the connection closed.
 */
void
server_head_scan(struct server_request *r, const char *method, const char *version)
{
	const union MHD_ConnectionInfo *hi =
	    MHD_get_connection_info(r->mhd, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	struct scan sc = {.lo = method, .clen_digits = true};

	/* the target ends where libmicrohttpd put a NUL for the space before the version */
	if (version != NULL && *version != '\0' && r->target_end + 1 != version)
		r->nul_target = true;
	if (hi == NULL) {
		r->bad_header = true;
		return;
	}
	sc.hi = method + hi->header_size;
	MHD_get_connection_values_n(r->mhd, MHD_HEADER_KIND, scan_iter, &sc);
	scan_gap(&sc, sc.hi, 4);
	r->bad_header = sc.bad;
	r->bad_auth = sc.bad_auth;
	r->bad_framing = sc.clen > 1 || sc.tenc > 1 || (sc.clen > 0 && sc.tenc > 0) ||
	                 !sc.clen_digits || (sc.tenc > 0 && !sc.tenc_chunked);
}
