/* compliance — the compliance listener (SPEC 12): staff tokens, the ledger, reports, the kill
 * switch, the console. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "certreg.h"
#include "codec.h"
#include "compliance.h"
#include "console.h"
#include "file.h"
#include "ident.h"
#include "ledger_read.h"
#include "report.h"
#include "server.h"
#include "text.h"
#include "tlsauth.h"
#include "token.h"
#include "ujson.h"

#define AUTH_HEADER_MAX (TOKEN_MAX_BYTES + 16)
#define MAX_HEADER_BYTES 16384 /* a staff token may take 8 KiB on its own */
#define MAX_BODY_BYTES 4096
#define MAX_CONNECTIONS 256
#define IDLE_TIMEOUT_S 30
#define SUMMARY_MAX_DAYS 3660
#define PROVISIONS_DEFAULT 10000
#define VKEY_MAX_BYTES 4096 /* keys/ledger.vkey: one line of about 90 bytes */

struct compliance {
	struct compliance_params p;
	struct tlsauth *trust;        /* staff CA and CRL */
	struct token_verifier *staff; /* aud pdgate-compliance */
	struct console *console;      /* NULL if [compliance] ui is not set */
	char *vkey;                   /* the ledger's verifier key line, NULL if no .vkey file */
	struct server *server;
};

/* The role a route needs; routes without one are the console's public files. */
static const enum token_role need_auditor = TOKEN_ROLE_AUDITOR;
static const enum token_role need_officer = TOKEN_ROLE_OFFICER;

/* ------------------------------------------------------------------------------------------ */
/* Who is calling. */

/*
 * The staff member behind a request: the token checked, its revocation, the certificate's
 * name against the token's, the role. APIERR_NONE with *claims, or the refusal with msg.
 */
static enum apierr
staff_of(struct compliance *c, struct server_request *req, enum token_role need,
         struct token_claims *claims, char *msg, size_t msglen)
{
	const struct tlsauth_identity *id = server_request_identity(req);
	const char *auth = NULL;
	char why[256];
	int h;

	if (c->p.cfg->compliance.require_client_cert && id == NULL) {
		snprintf(msg, msglen, "this listener requires a staff client certificate");
		return APIERR_CLIENT_CERTIFICATE_REQUIRED;
	}
	h = server_request_header(req, "Authorization", AUTH_HEADER_MAX, &auth);
	if (h < 0) {
		snprintf(msg, msglen,
		         "the Authorization header is repeated, too long or malformed");
		return APIERR_TOKEN_INVALID;
	}
	if (h == 0) {
		snprintf(msg, msglen, "a staff token is required: Authorization: Bearer <token>");
		return APIERR_TOKEN_REQUIRED;
	}
	if (strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0') {
		snprintf(msg, msglen, "the Authorization scheme must be Bearer");
		return APIERR_TOKEN_INVALID;
	}
	auth += 7;
	switch (token_verify(c->staff, auth, strlen(auth), (int64_t)time(NULL), claims, why,
	                     sizeof(why))) {
	case TOKEN_OK:
		break;
	case TOKEN_WRONG_AUDIENCE:
		snprintf(msg, msglen,
		         "a work order is not a staff token: the compliance API "
		         "takes staff tokens only");
		return APIERR_FORBIDDEN;
	default:
		snprintf(msg, msglen, "%s", why);
		return APIERR_TOKEN_INVALID;
	}
	if (tokenstore_is_revoked(c->p.tokenstore, claims->jti) != 0) {
		snprintf(msg, msglen, "the staff token has been revoked");
		return APIERR_TOKEN_INVALID;
	}
	if (id != NULL && strcmp(id->id, claims->sub) != 0) {
		snprintf(msg, msglen, "the client certificate names '%s', the token '%s'", id->id,
		         claims->sub);
		return APIERR_FORBIDDEN;
	}
	if (need == TOKEN_ROLE_OFFICER && claims->role != TOKEN_ROLE_OFFICER) {
		snprintf(msg, msglen,
		         "this action needs the officer role; the token's role is "
		         "auditor");
		return APIERR_FORBIDDEN;
	}
	server_request_set_principal(req, claims->sub);
	return APIERR_NONE;
}

static enum apierr
authorize(struct server_request *req, const struct server_route *route, void *app, char *msg,
          size_t msglen)
{
	struct token_claims claims;

	if (route->data == NULL)
		return APIERR_NONE; /* the console's files: the page signs in by itself */
	return staff_of(app, req, *(const enum token_role *)route->data, &claims, msg, msglen);
}

/* ------------------------------------------------------------------------------------------ */
/* Parameters. */

static int bad(struct server_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Answers 400 bad_request with a precise message; returns -1 for the caller to return. */
static int
bad(struct server_request *req, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	server_reply_error(req, APIERR_BAD_REQUEST, msg);
	return -1;
}

/* Only the listed query parameters; 0 or -1 after answering. */
static int
only(struct server_request *req, const char *const *allowed, const char *list)
{
	if (server_request_query_only(req, allowed) != 0)
		return bad(req, "unknown query parameter; this route takes: %s", list);
	return 0;
}

/* A string parameter: 1 with *v, 0 if absent; -1 after answering 400 if unusable or empty. */
static int
q_str(struct server_request *req, const char *name, size_t max, const char **v)
{
	int r = server_request_query(req, name, max, v);

	if (r < 0 || (r == 1 && **v == '\0'))
		return bad(req,
		           "%s: empty, repeated, longer than %zu bytes, or holds control "
		           "characters",
		           name, max);
	return r;
}

/* An optional partner id. 0 or -1 after answering. */
static int
q_partner(struct server_request *req, const char **partner)
{
	int r = q_str(req, "partner", IDENT_NAME_MAX, partner);

	if (r < 0)
		return -1;
	if (r == 1 && !ident_name_ok(*partner, strlen(*partner)))
		return bad(req, "partner: not a partner id (" IDENT_NAME_PATTERN ")");
	return 0;
}

/* from and to: RFC 3339 or YYYY-MM-DD (a JST day; to=DATE includes it). 0 or -1. */
static int
q_range(struct server_request *req, int64_t *from_ms, int64_t *to_ms)
{
	const char *from = NULL, *to = NULL;
	int rf = q_str(req, "from", 40, &from), rt;

	*from_ms = *to_ms = 0;
	if (rf < 0 || (rt = q_str(req, "to", 40, &to)) < 0)
		return -1;
	if (rf == 1 && report_parse_time(from, false, from_ms) != 0)
		return bad(req,
		           "from: '%s' is neither RFC 3339 (2026-04-01T09:00:00+09:00) nor a "
		           "date (2026-04-01)",
		           from);
	if (rt == 1 && report_parse_time(to, true, to_ms) != 0)
		return bad(req,
		           "to: '%s' is neither RFC 3339 (2026-04-01T09:00:00+09:00) nor a "
		           "date (2026-04-01)",
		           to);
	if (*from_ms > 0 && *to_ms > 0 && *from_ms >= *to_ms)
		return bad(req, "from must come before to");
	return 0;
}

/* An optional unsigned decimal in [min, max]. 0 or -1 after answering. */
static int
q_uint(struct server_request *req, const char *name, unsigned long min, unsigned long max,
       unsigned long dflt, unsigned long *out)
{
	if (server_request_query_uint(req, name, min, max, dflt, out) != 0)
		return bad(req, "%s: not a decimal number in %lu..%lu", name, min, max);
	return 0;
}

/* An optional entry index (cursor). 1 with *out, 0 if absent, -1 after answering. */
static int
q_index(struct server_request *req, const char *name, uint64_t *out)
{
	const char *v = NULL;
	int r = q_str(req, name, 20, &v);
	uint64_t n = 0;

	if (r <= 0)
		return r;
	for (const char *p = v; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > (UINT64_MAX - 9) / 10)
			return bad(req, "%s: not an entry index", name);
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*out = n;
	return 1;
}

static int
ledger_failed(struct server_request *req, int err)
{
	if (err == LEDGER_ENOMEM)
		return server_reply_error(req, APIERR_INTERNAL, "out of memory");
	return server_reply_error(req, APIERR_LEDGER_UNAVAILABLE, ledger_strerror(err));
}

/* ------------------------------------------------------------------------------------------ */
/* Ledger access. */

/* GET /v1/ledger/checkpoint */
static void
checkpoint(struct server_request *req, void *app)
{
	struct compliance *c = app;
	char *note = NULL;
	size_t len = 0;
	uint64_t size = 0;
	char buf[24];
	int rc;

	if (only(req, (const char *const[]){NULL}, "nothing") != 0)
		return;
	rc = ledger_checkpoint(c->p.ledger, 0, &note, &len, &size);
	if (rc == LEDGER_ENOENT) {
		server_reply_error(req, APIERR_NOT_FOUND, "no checkpoint has been signed yet");
		return;
	}
	if (rc != 0) {
		ledger_failed(req, rc);
		return;
	}
	server_reply_take(req, 200, "text/plain; charset=utf-8", note, len);
	snprintf(buf, sizeof(buf), "%" PRIu64, size);
	server_reply_header(req, "X-Tree-Size", buf);
}

/* GET /v1/ledger/vkey: the verifier key line, for a console that has none pinned yet. It is
 * only as trustworthy as this server: keys/ledger.vkey, distributed out of band, is the root. */
static void
vkey(struct server_request *req, void *app)
{
	struct compliance *c = app;

	if (only(req, (const char *const[]){NULL}, "nothing") != 0)
		return;
	if (c->vkey == NULL) {
		server_reply_error(req, APIERR_NOT_FOUND,
		                   "no verifier key file beside the ledger key");
		return;
	}
	server_reply(req, 200, "text/plain; charset=utf-8", c->vkey, strlen(c->vkey));
}

static int
add_leaf(void *arg, uint64_t index, const char *leaf, size_t len)
{
	struct buf *b = arg;

	(void)index;
	buf_add(b, leaf, len);
	buf_add(b, "\n", 1);
	return b->bad ? -1 : 0;
}

/* GET /v1/ledger/entries?start=N&end=M: the leaves byte for byte, one per line. */
static void
entries(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"start", "end", NULL};
	struct compliance *c = app;
	struct buf b = {0};
	uint64_t size, start = 0, end;
	char buf[24];
	int rc;

	if (only(req, allowed, "start, end") != 0)
		return;
	if ((rc = ledger_size(c->p.ledger, &size)) != 0) {
		ledger_failed(req, rc);
		return;
	}
	if (q_index(req, "start", &start) < 0)
		return;
	if (start > size) {
		bad(req, "start: %" PRIu64 " is past the ledger's size %" PRIu64, start, size);
		return;
	}
	end = size - start > COMPLIANCE_ENTRIES_MAX ? start + COMPLIANCE_ENTRIES_MAX : size;
	if ((rc = q_index(req, "end", &end)) < 0)
		return;
	if (end >= start && end - start > COMPLIANCE_ENTRIES_MAX) {
		bad(req, "at most %d entries a call (end - start)", COMPLIANCE_ENTRIES_MAX);
		return;
	}
	if (end < start || end > size) {
		bad(req, "end: must be in start..size (%" PRIu64 "..%" PRIu64 ")", start, size);
		return;
	}
	buf_add(&b, "", 0);
	rc = ledger_leaves(c->p.ledger, start, end, add_leaf, &b);
	if (rc != 0 || b.bad) {
		buf_free(&b);
		ledger_failed(req, rc != 0 && rc != LEDGER_EINVAL ? rc : LEDGER_ENOMEM);
		return;
	}
	size_t len;
	char *text = buf_take(&b, &len);
	server_reply_take(req, 200, "application/x-ndjson", text, len);
	snprintf(buf, sizeof(buf), "%" PRIu64, size);
	server_reply_header(req, "X-Ledger-Size", buf);
}

/* The latest checkpoint's size (the default tree of a proof). 0 or -1 after answering. */
static int
checkpoint_size(struct server_request *req, struct compliance *c, uint64_t *size)
{
	char *note = NULL;
	size_t len;
	int rc = ledger_checkpoint(c->p.ledger, 0, &note, &len, size);

	free(note);
	if (rc == LEDGER_ENOENT) {
		server_reply_error(req, APIERR_NOT_FOUND, "no checkpoint has been signed yet");
		return -1;
	}
	if (rc != 0) {
		ledger_failed(req, rc);
		return -1;
	}
	return 0;
}

static json_t *
proof_json(uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN], size_t n)
{
	json_t *a = json_array();
	char s[64];

	for (size_t i = 0; a != NULL && i < n; i++) {
		codec_b64_encode(proof[i], MERKLE_HASH_LEN, s);
		json_array_append_new(a, json_string(s));
	}
	return a;
}

/* GET /v1/ledger/proof/inclusion?index=N&size=M (size: the latest checkpoint's by default) */
static void
inclusion(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"index", "size", NULL};
	struct compliance *c = app;
	uint8_t leaf[MERKLE_HASH_LEN], proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	uint64_t index = 0, size = 0, have;
	size_t n = 0;
	char s[64];
	int rc, r;

	if (only(req, allowed, "index, size") != 0 || (r = q_index(req, "index", &index)) < 0)
		return;
	if (r == 0) {
		bad(req, "index is required");
		return;
	}
	if ((r = q_index(req, "size", &size)) < 0 ||
	    (r == 0 && checkpoint_size(req, c, &size) != 0))
		return;
	if ((rc = ledger_size(c->p.ledger, &have)) != 0) {
		ledger_failed(req, rc);
		return;
	}
	if (size == 0 || size > have) {
		bad(req, "size: must be in 1..%" PRIu64 " (the ledger's size)", have);
		return;
	}
	if (index >= size) {
		bad(req, "index: must be below size %" PRIu64, size);
		return;
	}
	rc = ledger_inclusion(c->p.ledger, index, size, leaf, proof, &n);
	if (rc == LEDGER_ERANGE) {
		bad(req, "index %" PRIu64 " is not in a tree of size %" PRIu64, index, size);
		return;
	}
	if (rc != 0) {
		ledger_failed(req, rc);
		return;
	}
	codec_b64_encode(leaf, sizeof(leaf), s);
	server_reply_json(req, 200,
	                  json_pack("{s:I,s:I,s:s,s:o}", "index", (json_int_t)index, "size",
	                            (json_int_t)size, "leaf_hash", s, "proof",
	                            proof_json(proof, n)));
}

/* GET /v1/ledger/proof/consistency?old=A&new=B (new: the latest checkpoint's by default) */
static void
consistency(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"old", "new", NULL};
	struct compliance *c = app;
	uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	uint64_t old = 0, new = 0, have;
	size_t n = 0;
	int rc, r;

	if (only(req, allowed, "old, new") != 0 || (r = q_index(req, "old", &old)) < 0)
		return;
	if (r == 0) {
		bad(req, "old is required");
		return;
	}
	if ((r = q_index(req, "new", &new)) < 0 || (r == 0 && checkpoint_size(req, c, &new) != 0))
		return;
	if ((rc = ledger_size(c->p.ledger, &have)) != 0) {
		ledger_failed(req, rc);
		return;
	}
	if (old == 0 || old > new || new > have) {
		bad(req, "need 0 < old <= new <= %" PRIu64 " (the ledger's size)", have);
		return;
	}
	rc = ledger_consistency(c->p.ledger, old, new, proof, &n);
	if (rc != 0) {
		ledger_failed(req, rc);
		return;
	}
	server_reply_json(req, 200,
	                  json_pack("{s:I,s:I,s:o}", "old", (json_int_t)old, "new",
	                            (json_int_t) new, "proof", proof_json(proof, n)));
}

/* A purpose the catalog knows. 0, or -1 after answering. */
static int
q_purpose(struct server_request *req, struct compliance *c, const char **purpose)
{
	int r = q_str(req, "purpose", 64, purpose);

	if (r <= 0)
		return r;
	const struct registry_view *v = registry_acquire(c->p.registry);
	bool known = catalog_purpose(v->catalog, *purpose) != NULL;
	registry_release(c->p.registry, v);
	if (!known)
		return bad(req, "purpose: '%s' is not in the purpose catalog", *purpose);
	return 0;
}

/* A member id as its subject reference. 0 (out empty if absent), or -1 after answering. */
static int
q_member(struct server_request *req, struct compliance *c, char out[PSEUDO_SUBJECT_HEX + 1])
{
	const char *member = NULL;
	int r = q_str(req, "member", IDENT_MEMBER_MAX, &member);

	out[0] = '\0';
	if (r <= 0)
		return r;
	if (!ident_member_ok(member, strlen(member)))
		return bad(req, "member: not a member id (" IDENT_MEMBER_PATTERN ")");
	if (pseudo_subject(c->p.pseudo, member, out) != 0) {
		server_reply_error(req, APIERR_INTERNAL,
		                   "the subject reference cannot be computed");
		return -1;
	}
	return 0;
}

/* GET /v1/ledger/search?partner&member&purpose&kind&from&to&limit&after: newest first */
static void
search(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"partner", "member", "purpose", "kind", "from",
	                                      "to",      "limit",  "after",   NULL};
	struct compliance *c = app;
	struct ledger_query q = {.kind = -1, .after = UINT64_MAX};
	struct ledger_hit *hits = NULL;
	char subject[PSEUDO_SUBJECT_HEX + 1];
	const char *kind = NULL;
	unsigned long limit;
	size_t n = 0;
	json_t *list;
	int rc, r;

	if (only(req, allowed, "partner, member, purpose, kind, from, to, limit, after") != 0 ||
	    q_partner(req, &q.partner) != 0 || q_member(req, c, subject) != 0 ||
	    q_purpose(req, c, &q.purpose) != 0 || (r = q_str(req, "kind", 16, &kind)) < 0 ||
	    q_range(req, &q.from_ms, &q.to_ms) != 0 ||
	    q_uint(req, "limit", 1, COMPLIANCE_SEARCH_MAX, 100, &limit) != 0 ||
	    q_index(req, "after", &q.after) < 0)
		return;
	if (kind != NULL) {
		if (strcmp(kind, "release") == 0)
			q.kind = LEDGER_RELEASE;
		else if (strcmp(kind, "deny") == 0)
			q.kind = LEDGER_DENY;
		else if (strcmp(kind, "admin") == 0)
			q.kind = LEDGER_ADMIN;
		else {
			bad(req, "kind: one of release, deny, admin");
			return;
		}
	}
	q.subject = subject[0] ? subject : NULL;
	q.limit = (unsigned)limit;
	rc = ledger_search(c->p.ledger, &q, &hits, &n);
	if (rc != 0) {
		ledger_failed(req, rc);
		return;
	}
	list = json_array();
	for (size_t i = 0; list != NULL && i < n; i++) {
		json_t *leaf = json_loadb(hits[i].leaf, hits[i].len, JSON_REJECT_DUPLICATES, NULL);
		if (leaf == NULL || json_array_append_new(list, leaf) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	json_t *next = n == q.limit ? json_integer((json_int_t)hits[n - 1].index) : json_null();
	ledger_hits_free(hits, n);
	if (list == NULL) {
		json_decref(next);
		server_reply_error(req, APIERR_INTERNAL, "an entry cannot be decoded");
		return;
	}
	server_reply_json(req, 200,
	                  json_pack("{s:I,s:o,s:o}", "count", (json_int_t)json_array_size(list),
	                            "entries", list, "next", next));
}

/* ------------------------------------------------------------------------------------------ */
/* Reports. */

static void
report_failed(struct server_request *req, struct compliance *c, const char *err)
{
	log_msg(c->p.log, "error", "compliance: report: %s", err);
	server_reply_error(req, APIERR_LEDGER_UNAVAILABLE, err);
}

/* GET /v1/reports/provisions?partner&from&to&format=json|csv&limit&after */
static void
provisions(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"partner", "from",  "to", "format",
	                                      "limit",   "after", NULL};
	struct compliance *c = app;
	struct report_query q = {.after = UINT64_MAX};
	const char *format = NULL;
	unsigned long limit;
	char err[512], *out = NULL;
	size_t len;
	uint64_t next;
	bool csv = false;
	int r;

	if (only(req, allowed, "partner, from, to, format, limit, after") != 0 ||
	    q_partner(req, &q.partner) != 0 || q_range(req, &q.from_ms, &q.to_ms) != 0 ||
	    (r = q_str(req, "format", 8, &format)) < 0 ||
	    q_uint(req, "limit", 1, REPORT_MAX_RECORDS, PROVISIONS_DEFAULT, &limit) != 0 ||
	    q_index(req, "after", &q.after) < 0)
		return;
	if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
		bad(req, "format: json or csv");
		return;
	}
	csv = format != NULL && strcmp(format, "csv") == 0;
	q.limit = (unsigned)limit;
	const struct registry_view *v = registry_acquire(c->p.registry);
	struct report_names names = {v->catalog, v->contracts};
	r = report_provisions(c->p.ledger, &q, &names, csv, &out, &len, &next, err, sizeof(err));
	registry_release(c->p.registry, v);
	if (r != 0) {
		report_failed(req, c, err);
		return;
	}
	server_reply_take(req, 200, csv ? "text/csv; charset=utf-8" : "application/json", out, len);
	if (csv)
		server_reply_header(req, "Content-Disposition",
		                    "attachment; filename=\"provisions.csv\"");
	if (next != UINT64_MAX) {
		char buf[24];
		snprintf(buf, sizeof(buf), "%" PRIu64, next);
		server_reply_header(req, "X-Next-After", buf);
	}
}

/* GET /v1/reports/subject/{member_id} */
static void
subject_report(struct server_request *req, void *app)
{
	struct compliance *c = app;
	const char *member = server_request_param(req, 0);
	char subject[PSEUDO_SUBJECT_HEX + 1], err[512];

	if (only(req, (const char *const[]){NULL}, "nothing") != 0)
		return;
	if (member == NULL || !ident_member_ok(member, strlen(member))) {
		bad(req, "member_id: must match " IDENT_MEMBER_PATTERN);
		return;
	}
	if (pseudo_subject(c->p.pseudo, member, subject) != 0) {
		server_reply_error(req, APIERR_INTERNAL,
		                   "the subject reference cannot be computed");
		return;
	}
	const struct registry_view *v = registry_acquire(c->p.registry);
	struct report_names names = {v->catalog, v->contracts};
	json_t *doc = report_subject(c->p.ledger, member, subject, &names, err, sizeof(err));
	registry_release(c->p.registry, v);
	if (doc == NULL)
		report_failed(req, c, err);
	else
		server_reply_json(req, 200, doc);
}

/* GET /v1/reports/breach?partner&from&to&resolve=true|false */
static void
breach(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"partner", "from", "to", "resolve", NULL};
	struct compliance *c = app;
	struct report_query q = {.after = UINT64_MAX, .limit = 1};
	const char *resolve = NULL;
	char err[512];

	if (only(req, allowed, "partner, from, to, resolve") != 0 ||
	    q_partner(req, &q.partner) != 0 || q_range(req, &q.from_ms, &q.to_ms) != 0 ||
	    q_str(req, "resolve", 8, &resolve) < 0)
		return;
	if (q.partner == NULL) {
		bad(req, "partner is required: the partner where the leak happened");
		return;
	}
	if (resolve != NULL && strcmp(resolve, "true") != 0 && strcmp(resolve, "false") != 0) {
		bad(req, "resolve: true or false");
		return;
	}
	bool want_ids = resolve == NULL || strcmp(resolve, "true") == 0;
	const struct registry_view *v = registry_acquire(c->p.registry);
	struct report_names names = {v->catalog, v->contracts};
	json_t *doc = report_breach(c->p.ledger, &q, &names, want_ids ? c->p.origin : NULL,
	                            c->p.pseudo, err, sizeof(err));
	registry_release(c->p.registry, v);
	if (doc == NULL)
		report_failed(req, c, err);
	else
		server_reply_json(req, 200, doc);
}

/* GET /v1/supervision/summary?from&to (default: the last 30 days) */
static void
summary(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"from", "to", NULL};
	struct compliance *c = app;
	int64_t from = 0, to = 0;
	time_t now = time(NULL);
	char err[512];

	if (only(req, allowed, "from, to") != 0 || q_range(req, &from, &to) != 0)
		return;
	if (to == 0)
		to = report_end_now_ms();
	if (from == 0)
		from = to - REPORT_TRAILING_DAYS * REPORT_DAY_MS;
	if (from >= to) {
		bad(req, "from must come before to (to defaults to now)");
		return;
	}
	if ((to - from) / REPORT_DAY_MS > SUMMARY_MAX_DAYS) {
		bad(req, "a summary spans at most %d days", SUMMARY_MAX_DAYS);
		return;
	}
	/* The certificates and CRLs whose ends the summary watches (certificates_expiring). */
	struct certreg_watch *w = certreg_watch(c->p.cfg, err, sizeof(err));
	if (w == NULL) {
		log_msg(c->p.log, "error", "compliance: summary: %s", err);
		server_reply_error(req, APIERR_INTERNAL,
		                   "the register of issued certificates failed");
		return;
	}
	const struct registry_view *v = registry_acquire(c->p.registry);
	struct report_names names = {v->catalog, v->contracts};
	json_t *doc = report_summary(c->p.ledger, from, to, now, &names, certreg_watch_certs(w),
	                             err, sizeof(err));
	registry_release(c->p.registry, v);
	certreg_watch_free(w);
	if (doc == NULL)
		report_failed(req, c, err);
	else
		server_reply_json(req, 200, doc);
}

/* ------------------------------------------------------------------------------------------ */
/* The registry and the kill switch. */

static json_t *
contract_json(const struct contract *ct, time_t now)
{
	json_t *purposes = json_object();

	for (size_t k = 0; purposes != NULL && k < ct->npurposes; k++) {
		const struct contract_purpose *cp = &ct->purposes[k];
		json_t *fields = json_array();
		for (size_t f = 0; fields != NULL && f < cp->nwritten; f++)
			json_array_append_new(fields, json_string(cp->written[f]));
		json_object_set_new(purposes, cp->id,
		                    json_pack("{s:o,s:s,s:s,s:b}", "fields", fields, "label",
		                              cp->purpose->ja, "kind",
		                              catalog_kind_name(cp->purpose->kind),
		                              "requires_consent", cp->requires_consent));
	}
	return json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:b,s:s,s:b,s:o,s:{s:I,s:I},s:o,s:I}", "id",
	    ct->id, "partner", ct->partner, "partner_name",
	    ct->partner_name ? ct->partner_name : "", "relationship",
	    contract_relationship_name(ct->relationship), "status",
	    contract_status_name(ct->status), "valid_from", ct->valid_from_text, "valid_until",
	    ct->valid_until_text, "in_force", contract_in_force(ct, now), "token_required",
	    ct->token_required, "token_binding_required", ct->token_binding_required,
	    "confidentiality", ct->confidentiality ? ct->confidentiality : "",
	    "my_number_permitted", ct->my_number_permitted, "purposes",
	    purposes ? purposes : json_object(), "limits", "requests_per_minute",
	    (json_int_t)ct->requests_per_minute, "records_per_day", (json_int_t)ct->records_per_day,
	    "pinned_certificates", ct->ncertificates > 0 ? json_true() : json_false(), "days_left",
	    (json_int_t)((ct->valid_until - now) / 86400));
}

/* GET /v1/contracts */
static void
contracts(struct server_request *req, void *app)
{
	struct compliance *c = app;
	time_t now = time(NULL);
	json_t *list = json_array();

	if (only(req, (const char *const[]){NULL}, "nothing") != 0) {
		json_decref(list);
		return;
	}
	const struct registry_view *v = registry_acquire(c->p.registry);
	for (size_t i = 0; list != NULL && i < contract_set_count(v->contracts); i++)
		json_array_append_new(list, contract_json(contract_set_at(v->contracts, i), now));
	uint64_t gen = v->generation;
	registry_release(c->p.registry, v);
	server_reply_json(req, 200,
	                  json_pack("{s:o,s:I}", "contracts", list ? list : json_array(),
	                            "generation", (json_int_t)gen));
}

/* GET /v1/partners */
static void
partners(struct server_request *req, void *app)
{
	struct compliance *c = app;
	json_t *gateway = NULL, *list;

	if (only(req, (const char *const[]){NULL}, "nothing") != 0)
		return;
	list = registry_partners(c->p.registry, &gateway);
	if (list == NULL || gateway == NULL) {
		json_decref(list);
		json_decref(gateway);
		server_reply_error(req, APIERR_INTERNAL, "the partner states cannot be read");
		return;
	}
	server_reply_json(req, 200, json_pack("{s:o,s:o}", "partners", list, "gateway", gateway));
}

/*
 * The body of a suspension or resumption: {"reason":"…"} (required to suspend), nothing else.
 * *reason is a copy (caller frees) or NULL. 0, or -1 after answering.
 */
static int
read_reason(struct server_request *req, bool required, char **reason)
{
	size_t len = 0;
	const char *body = server_request_body(req, &len);
	char why[128];
	json_t *doc, *r;
	const char *key;
	json_t *val;

	*reason = NULL;
	if (body == NULL || len == 0) {
		if (required)
			return bad(req, "a JSON body {\"reason\":\"…\"} is required");
		return 0;
	}
	doc = ujson_parse(body, len, MAX_BODY_BYTES, 4, why, sizeof(why));
	if (doc == NULL)
		return bad(req, "body: %s", why);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return bad(req, "body: must be a JSON object {\"reason\":\"…\"}");
	}
	json_object_foreach(doc, key, val)
	{
		if (strcmp(key, "reason") != 0) {
			bad(req, "body: unknown member '%.64s'; only \"reason\"", key);
			json_decref(doc);
			return -1;
		}
	}
	r = json_object_get(doc, "reason");
	if (r == NULL && !required) {
		json_decref(doc);
		return 0;
	}
	if (!json_is_string(r)) {
		json_decref(doc);
		return bad(req, "reason: must be a string of 1..%d characters, " TEXT_RULE,
		           COMPLIANCE_REASON_MAX);
	}
	enum text_error te =
	    text_check(json_string_value(r), json_string_length(r), COMPLIANCE_REASON_MAX);
	if (te != TEXT_OK) {
		char rule[TEXT_EXPLAIN_MAX];
		json_decref(doc);
		return bad(req, "reason: %s",
		           text_explain(te, COMPLIANCE_REASON_MAX, rule, sizeof(rule)));
	}
	*reason = strdup(json_string_value(r));
	json_decref(doc);
	if (*reason == NULL) {
		server_reply_error(req, APIERR_INTERNAL, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * Suspends or resumes a partner (partner non-NULL) or the gateway. The admin entry is
 * committed first: the ledger holds every officer action that took effect, and if it cannot be
 * written nothing changes (and while the ledger is down no data is released anyway, so the
 * kill switch loses nothing by waiting for it).
 */
static void
set_state(struct server_request *req, struct compliance *c, const char *partner, bool suspend)
{
	struct token_claims who;
	char msg[256], *reason = NULL, buf[24];
	enum apierr e;
	uint64_t index;
	int changed;
	char action[32];

	if (only(req, (const char *const[]){NULL}, "nothing") != 0)
		return;
	if ((e = staff_of(c, req, TOKEN_ROLE_OFFICER, &who, msg, sizeof(msg))) != APIERR_NONE) {
		server_reply_error(req, e, msg);
		return;
	}
	if (partner != NULL && !ident_name_ok(partner, strlen(partner))) {
		bad(req, "not a partner id (" IDENT_NAME_PATTERN ")");
		return;
	}
	if (read_reason(req, suspend, &reason) != 0)
		return;
	if (partner != NULL) {
		const struct registry_view *v = registry_acquire(c->p.registry);
		const struct contract *const *pc;
		bool known = contract_set_partner(v->contracts, partner, &pc) > 0 ||
		             registry_partner_suspended(c->p.registry, partner);
		registry_release(c->p.registry, v);
		if (!known) {
			free(reason);
			server_reply_error(req, APIERR_NOT_FOUND,
			                   "no contract is on file for this "
			                   "partner");
			return;
		}
	}
	snprintf(action, sizeof(action), "%s_%s", partner ? "partner" : "gateway",
	         suspend ? "suspend" : "resume");
	struct ledger_admin a = {
	    .action = action, .staff = who.sub, .reason = reason, .target = partner};
	struct ledger_entry le = {
	    .kind = LEDGER_ADMIN,
	    .request = server_request_id(req),
	    .partner = partner,
	    .token = who.jti,
	    .admin = &a,
	};
	int rc = ledger_append(c->p.ledger, &le, 1, &index);
	if (rc != LEDGER_OK) {
		free(reason);
		/* A malformed entry is this code's bug (the ledger logged it), not an outage. */
		server_reply_error(
		    req, rc == LEDGER_EENTRY ? APIERR_INTERNAL : APIERR_LEDGER_UNAVAILABLE,
		    "the action cannot be recorded in the ledger: nothing changed");
		return;
	}
	changed = registry_set_suspended(c->p.registry, partner, suspend, who.sub, reason,
	                                 (int64_t)time(NULL) * 1000);
	log_msg(c->p.log, changed < 0 ? "error" : "warn",
	        "%s %s by %s (ledger index %" PRIu64 ")%s", action, partner ? partner : "", who.sub,
	        index, changed < 0 ? ": the state database failed, nothing changed" : "");
	snprintf(buf, sizeof(buf), "%" PRIu64, index);
	if (changed < 0) {
		free(reason);
		snprintf(msg, sizeof(msg),
		         "recorded at ledger index %" PRIu64 ", but the state cannot be saved: "
		         "nothing changed",
		         index);
		server_reply_error(req, APIERR_INTERNAL, msg);
		server_reply_header(req, "X-Ledger-Index", buf);
		return;
	}
	json_t *doc = json_pack("{s:s,s:o,s:b,s:b,s:s,s:o,s:I}", "action", action, "partner",
	                        partner ? json_string(partner) : json_null(), "suspended", suspend,
	                        "changed", changed == 1, "by", who.sub, "reason",
	                        reason ? json_string(reason) : json_null(), "ledger_index",
	                        (json_int_t)index);
	free(reason);
	server_reply_json(req, 200, doc);
	server_reply_header(req, "X-Ledger-Index", buf);
}

static void
partner_suspend(struct server_request *req, void *app)
{
	set_state(req, app, server_request_param(req, 0), true);
}

static void
partner_resume(struct server_request *req, void *app)
{
	set_state(req, app, server_request_param(req, 0), false);
}

static void
gateway_suspend(struct server_request *req, void *app)
{
	set_state(req, app, NULL, true);
}

static void
gateway_resume(struct server_request *req, void *app)
{
	set_state(req, app, NULL, false);
}

/* GET / */
static void
console(struct server_request *req, void *app)
{
	const struct compliance *c = app;

	console_serve(req, c->console, "index.html");
}

/* GET /ui/{file} */
static void
console_file(struct server_request *req, void *app)
{
	const struct compliance *c = app;

	console_serve(req, c->console, server_request_param(req, 0));
}

/* ------------------------------------------------------------------------------------------ */
/* The listener. */

const struct server_route compliance_routes[] = {
    {"GET", "/", console, NULL},
    {"GET", "/ui/{}", console_file, NULL},
    {"GET", "/v1/ledger/checkpoint", checkpoint, &need_auditor},
    {"GET", "/v1/ledger/vkey", vkey, &need_auditor},
    {"GET", "/v1/ledger/entries", entries, &need_auditor},
    {"GET", "/v1/ledger/proof/inclusion", inclusion, &need_auditor},
    {"GET", "/v1/ledger/proof/consistency", consistency, &need_auditor},
    {"GET", "/v1/ledger/search", search, &need_auditor},
    {"GET", "/v1/reports/provisions", provisions, &need_auditor},
    {"GET", "/v1/reports/subject/{}", subject_report, &need_auditor},
    {"GET", "/v1/reports/breach", breach, &need_auditor},
    {"GET", "/v1/supervision/summary", summary, &need_auditor},
    {"GET", "/v1/contracts", contracts, &need_auditor},
    {"GET", "/v1/partners", partners, &need_auditor},
    {"POST", "/v1/partners/{}/suspend", partner_suspend, &need_officer},
    {"POST", "/v1/partners/{}/resume", partner_resume, &need_officer},
    {"POST", "/v1/gateway/suspend", gateway_suspend, &need_officer},
    {"POST", "/v1/gateway/resume", gateway_resume, &need_officer},
};
const size_t compliance_nroutes = sizeof(compliance_routes) / sizeof(compliance_routes[0]);

/* The verifier key beside the ledger key (keys/ledger.vkey), its first line; NULL if absent. */
static char *
read_vkey(const char *key_path)
{
	char path[4096], *text;
	size_t n = strlen(key_path), len;

	if (n < 4 || strcmp(key_path + n - 4, ".key") != 0 ||
	    (size_t)snprintf(path, sizeof(path), "%.*s.vkey", (int)(n - 4), key_path) >=
	        sizeof(path) ||
	    (text = file_read(path, VKEY_MAX_BYTES, 0, &len, NULL, 0)) == NULL)
		return NULL;
	text[strcspn(text, "\r\n")] = '\0';
	if (text[0] == '\0') {
		free(text);
		return NULL;
	}
	return text;
}

/* The parts of the listener that can be made without starting it. 0 or -1 with err. */
static int
prepare(struct compliance *c, const struct config *cfg, char *err, size_t errlen)
{
	char e[512];

	c->trust = tlsauth_new(cfg->compliance.staff_ca, cfg->compliance.staff_crl,
	                       TLSAUTH_STAFF_PREFIX, "staff", e, sizeof(e));
	if (c->trust == NULL) {
		snprintf(err, errlen, "[compliance] staff_ca/staff_crl: %s", e);
		return -1;
	}
	c->staff =
	    token_verifier_new(cfg->tokens.pub, cfg->tokens.issuer, TOKEN_STAFF, e, sizeof(e));
	if (c->staff == NULL) {
		snprintf(err, errlen, "%s: [tokens] pub: %s", cfg->tokens.pub, e);
		return -1;
	}
	if (cfg->compliance.ui != NULL &&
	    (c->console = console_load(cfg->compliance.ui, e, sizeof(e))) == NULL) {
		snprintf(err, errlen, "[compliance] ui: %s", e);
		return -1;
	}
	return 0;
}

static void
release_parts(struct compliance *c)
{
	console_free(c->console);
	token_verifier_free(c->staff);
	tlsauth_free(c->trust);
	free(c->vkey);
	free(c);
}

char *
compliance_check(const struct config *cfg)
{
	struct compliance *c = calloc(1, sizeof(*c));
	char err[1024];
	char *out = NULL;

	if (c == NULL)
		return strdup("out of memory");
	if (prepare(c, cfg, err, sizeof(err)) != 0)
		out = strdup(err);
	release_parts(c);
	return out;
}

struct compliance *
compliance_start(const struct compliance_params *p, char *err, size_t errlen)
{
	struct compliance *c = calloc(1, sizeof(*c));
	const struct config *cfg = p->cfg;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->p = *p;
	if (prepare(c, cfg, err, errlen) != 0)
		goto fail;
	c->vkey = read_vkey(cfg->ledger.key);
	if (cfg->compliance.staff_crl == NULL)
		log_msg(p->log, "warn",
		        "[compliance] staff_crl is not set: staff certificates are not checked for "
		        "revocation");
	if (cfg->compliance.ui == NULL)
		log_msg(p->log, "warn", "[compliance] ui is not set: the console is not served");
	struct server_config sc = {
	    .name = "compliance",
	    .listen = &cfg->compliance.listen,
	    .cert = cfg->compliance.cert,
	    .key = cfg->compliance.key,
	    .client_ca = cfg->compliance.staff_ca,
	    .trust = c->trust,
	    /* optional at the TLS layer even when required: a missing certificate then gets a
	       JSON 401 from authorize rather than a broken handshake */
	    .cert_mode = SERVER_CERT_OPTIONAL,
	    .threads = 2,
	    .max_connections = MAX_CONNECTIONS,
	    .idle_timeout_s = IDLE_TIMEOUT_S,
	    .max_header_bytes = MAX_HEADER_BYTES,
	    .max_body_bytes = MAX_BODY_BYTES,
	    .routes = compliance_routes,
	    .nroutes = compliance_nroutes,
	    .authorize = authorize,
	    .app = c,
	    .log = p->log,
	    .metrics = p->metrics,
	};
	c->server = server_start(&sc, err, errlen);
	if (c->server == NULL)
		goto fail;
	log_msg(p->log, "info",
	        "compliance listener: %zu console file(s), staff token roles "
	        "auditor and officer%s",
	        console_count(c->console),
	        cfg->compliance.require_client_cert ? ", staff certificate required" : "");
	return c;
fail:
	release_parts(c);
	return NULL;
}

const char *
compliance_url(const struct compliance *c)
{
	return server_url(c->server);
}

struct tlsauth *
compliance_staff_trust(struct compliance *c)
{
	return c->trust;
}

struct server *
compliance_server(struct compliance *c)
{
	return c->server;
}

time_t
compliance_staff_crl_next_update(const struct compliance *c)
{
	return tlsauth_crl_next_update(c->trust);
}

void
compliance_stop(struct compliance *c, unsigned drain_ms)
{
	if (c == NULL)
		return;
	server_stop(c->server, drain_ms);
	release_parts(c);
}
