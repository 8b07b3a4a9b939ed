/* compliance — the compliance listener (SPEC 12): staff tokens, the ledger, reports, the kill
 * switch, the console. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "compliance_int.h"
#include "console.h"
#include "file.h"
#include "ident.h"
#include "log.h"
#include "report.h"
#include "server.h"
#include "text.h"
#include "tlsauth.h"
#include "token.h"
#include "tokenstore.h"
#include "ujson.h"

#define AUTH_HEADER_MAX (TOKEN_MAX_BYTES + 16)
#define MAX_HEADER_BYTES 16384 /* a staff token may take 8 KiB on its own */
#define MAX_CONNECTIONS 256
#define IDLE_TIMEOUT_S 30
#define VKEY_MAX_BYTES 4096 /* keys/ledger.vkey: one line of about 90 bytes */

/* The role a route needs; routes without one are the console's public files. */
static const enum token_role need_auditor = TOKEN_ROLE_AUDITOR;
static const enum token_role need_officer = TOKEN_ROLE_OFFICER;

/* ------------------------------------------------------------------------------------------ */
/* Who is calling. */

/*
 * The staff member behind a request: the token checked, its revocation, the certificate's
 * name against the token's, the role. APIERR_NONE with *claims, or the refusal with msg.
 */
enum apierr
compliance_staff(struct compliance *c, struct server_request *req, enum token_role need,
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
	/* with several nodes, also revoked through another node (the shared state) */
	if (tokenstore_is_revoked(c->p.tokenstore, claims->jti) != 0 ||
	    (c->p.registry != NULL && registry_token_revoked(c->p.registry, claims->jti))) {
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

int
compliance_officer(struct server_request *req, struct compliance *c, struct token_claims *who)
{
	char msg[256];
	enum apierr e = compliance_staff(c, req, TOKEN_ROLE_OFFICER, who, msg, sizeof(msg));

	if (e == APIERR_NONE)
		return 0;
	server_reply_error(req, e, msg);
	return -1;
}

static enum apierr
authorize(struct server_request *req, const struct server_route *route, void *app, char *msg,
          size_t msglen)
{
	struct token_claims claims;

	if (route->data == NULL)
		return APIERR_NONE; /* the console's files: the page signs in by itself */
	return compliance_staff(app, req, *(const enum token_role *)route->data, &claims, msg,
	                        msglen);
}

/* ------------------------------------------------------------------------------------------ */
/* Parameters. */

/* Answers 400 bad_request with a precise message; returns -1 for the caller to return. */
int
compliance_bad(struct server_request *req, const char *fmt, ...)
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
int
compliance_only(struct server_request *req, const char *const *allowed, const char *list)
{
	if (server_request_query_only(req, allowed) != 0)
		return compliance_bad(req, "unknown query parameter; this route takes: %s", list);
	return 0;
}

/* A string parameter: 1 with *v, 0 if absent; -1 after answering 400 if unusable or empty. */
int
compliance_q_str(struct server_request *req, const char *name, size_t max, const char **v)
{
	int r = server_request_query(req, name, max, v);

	if (r < 0 || (r == 1 && **v == '\0'))
		return compliance_bad(
		    req,
		    "%s: empty, repeated, longer than %zu bytes, or holds control "
		    "characters",
		    name, max);
	return r;
}

/* An optional partner id. 0 or -1 after answering. */
int
compliance_q_partner(struct server_request *req, const char **partner)
{
	int r = compliance_q_str(req, "partner", IDENT_NAME_MAX, partner);

	if (r < 0)
		return -1;
	if (r == 1 && !ident_name_ok(*partner, strlen(*partner)))
		return compliance_bad(req, "partner: not a partner id (" IDENT_NAME_PATTERN ")");
	return 0;
}

/* from and to: RFC 3339 or YYYY-MM-DD (a JST day; to=DATE includes it). 0 or -1. */
int
compliance_q_range(struct server_request *req, int64_t *from_ms, int64_t *to_ms)
{
	const char *from = NULL, *to = NULL;
	int rf = compliance_q_str(req, "from", 40, &from), rt;

	*from_ms = *to_ms = 0;
	if (rf < 0 || (rt = compliance_q_str(req, "to", 40, &to)) < 0)
		return -1;
	if (rf == 1 && report_parse_time(from, false, from_ms) != 0)
		return compliance_bad(
		    req,
		    "from: '%s' is neither RFC 3339 (2026-04-01T09:00:00+09:00) nor a "
		    "date (2026-04-01)",
		    from);
	if (rt == 1 && report_parse_time(to, true, to_ms) != 0)
		return compliance_bad(
		    req,
		    "to: '%s' is neither RFC 3339 (2026-04-01T09:00:00+09:00) nor a "
		    "date (2026-04-01)",
		    to);
	if (*from_ms > 0 && *to_ms > 0 && *from_ms >= *to_ms)
		return compliance_bad(req, "from must come before to");
	return 0;
}

/* An optional unsigned decimal in [min, max]. 0 or -1 after answering. */
int
compliance_q_uint(struct server_request *req, const char *name, unsigned long min,
                  unsigned long max, unsigned long dflt, unsigned long *out)
{
	if (server_request_query_uint(req, name, min, max, dflt, out) != 0)
		return compliance_bad(req, "%s: not a decimal number in %lu..%lu", name, min, max);
	return 0;
}

/* An optional entry index (cursor). 1 with *out, 0 if absent, -1 after answering. */
int
compliance_q_index(struct server_request *req, const char *name, uint64_t *out)
{
	const char *v = NULL;
	int r = compliance_q_str(req, name, 20, &v);
	uint64_t n = 0;

	if (r <= 0)
		return r;
	for (const char *p = v; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > (UINT64_MAX - 9) / 10)
			return compliance_bad(req, "%s: not an entry index", name);
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*out = n;
	return 1;
}

int
compliance_ledger_failed(struct server_request *req, int err)
{
	if (err == LEDGER_ENOMEM)
		return server_reply_error(req, APIERR_INTERNAL, "out of memory");
	return server_reply_error(req, APIERR_LEDGER_UNAVAILABLE, ledger_strerror(err));
}

/* A purpose the catalog knows. 0, or -1 after answering. */
int
compliance_q_purpose(struct server_request *req, struct compliance *c, const char **purpose)
{
	int r = compliance_q_str(req, "purpose", 64, purpose);

	if (r <= 0)
		return r;
	const struct registry_view *v = registry_acquire(c->p.registry);
	bool known = catalog_purpose(v->catalog, *purpose) != NULL;
	registry_release(c->p.registry, v);
	if (!known)
		return compliance_bad(req, "purpose: '%s' is not in the purpose catalog", *purpose);
	return 0;
}

/* A member id as its subject reference. 0 (out empty if absent), or -1 after answering. */
int
compliance_q_member(struct server_request *req, struct compliance *c,
                    char out[PSEUDO_SUBJECT_HEX + 1])
{
	const char *member = NULL;
	int r = compliance_q_str(req, "member", IDENT_MEMBER_MAX, &member);

	out[0] = '\0';
	if (r <= 0)
		return r;
	if (!ident_member_ok(member, strlen(member)))
		return compliance_bad(req, "member: not a member id (" IDENT_MEMBER_PATTERN ")");
	if (pseudo_subject(c->p.pseudo, member, out) != 0) {
		server_reply_error(req, APIERR_INTERNAL,
		                   "the subject reference cannot be computed");
		return -1;
	}
	return 0;
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
/* Bodies and acts. */

int
compliance_body(struct server_request *req, const char *const *allowed, const char *shape,
                bool required, json_t **doc)
{
	size_t len = 0;
	const char *body = server_request_body(req, &len);
	char why[128];
	const char *key;
	json_t *val;

	*doc = NULL;
	if (body == NULL || len == 0) {
		if (required)
			return compliance_bad(req, "a JSON body %s is required", shape);
		return 0;
	}
	*doc = ujson_parse(body, len, COMPLIANCE_BODY_MAX, 4, why, sizeof(why));
	if (*doc == NULL)
		return compliance_bad(req, "body: %s", why);
	if (!json_is_object(*doc)) {
		json_decref(*doc);
		*doc = NULL;
		return compliance_bad(req, "body: must be a JSON object %s", shape);
	}
	json_object_foreach(*doc, key, val)
	{
		size_t i = 0;
		while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
			i++;
		if (allowed[i] == NULL) {
			compliance_bad(req, "body: unknown member '%.64s'; the body is %s", key,
			               shape);
			json_decref(*doc);
			*doc = NULL;
			return -1;
		}
	}
	return 0;
}

int
compliance_body_text(struct server_request *req, json_t *doc, const char *name, bool required,
                     size_t max, const char **out)
{
	json_t *v = doc ? json_object_get(doc, name) : NULL;
	enum text_error te;
	char rule[TEXT_EXPLAIN_MAX];

	*out = NULL;
	if (v == NULL && !required)
		return 0;
	if (!json_is_string(v))
		return compliance_bad(req, "%s: must be a string of 1..%zu characters, " TEXT_RULE,
		                      name, max);
	te = text_check(json_string_value(v), json_string_length(v), max);
	if (te != TEXT_OK)
		return compliance_bad(req, "%s: %s", name,
		                      text_explain(te, max, rule, sizeof(rule)));
	*out = json_string_value(v);
	return 0;
}

int
compliance_record(struct server_request *req, struct compliance *c, const struct token_claims *who,
                  const struct compliance_act *act, uint64_t *index)
{
	struct ledger_admin a = {
	    .action = act->action,
	    .staff = who->sub,
	    .reason = act->reason,
	    .target = act->partner,
	    .detail = act->detail,
	    .n_detail = act->n_detail,
	};
	struct ledger_entry le = {
	    .kind = LEDGER_ADMIN,
	    .request = server_request_id(req),
	    .partner = act->partner,
	    .subject = act->subject,
	    .token = who->jti,
	    .admin = &a,
	};
	int rc = ledger_append(c->p.ledger, &le, 1, index);

	if (rc == LEDGER_OK)
		return 0;
	/* A malformed entry is this code's bug (the ledger logged it), not an outage. */
	server_reply_error(req, rc == LEDGER_EENTRY ? APIERR_INTERNAL : APIERR_LEDGER_UNAVAILABLE,
	                   "the action cannot be recorded in the ledger: nothing changed");
	return -1;
}

void
compliance_reply_recorded(struct server_request *req, unsigned status, json_t *doc, uint64_t index)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, index);
	server_reply_json(req, status, doc);
	server_reply_header(req, "X-Ledger-Index", buf);
}

/* ------------------------------------------------------------------------------------------ */
/* The listener. */

const struct server_route compliance_routes[] = {
    {"GET", "/", console, NULL},
    {"GET", "/ui/{}", console_file, NULL},
    {"GET", "/v1/ledger/checkpoint", compliance_checkpoint, &need_auditor},
    {"GET", "/v1/ledger/vkey", compliance_vkey, &need_auditor},
    {"GET", "/v1/ledger/entries", compliance_entries, &need_auditor},
    {"GET", "/v1/ledger/proof/inclusion", compliance_inclusion, &need_auditor},
    {"GET", "/v1/ledger/proof/consistency", compliance_consistency, &need_auditor},
    {"GET", "/v1/ledger/search", compliance_search, &need_auditor},
    {"GET", "/v1/reports/provisions", compliance_provisions, &need_auditor},
    {"GET", "/v1/reports/subject/{}", compliance_subject_report, &need_auditor},
    {"GET", "/v1/reports/breach", compliance_breach, &need_auditor},
    {"POST", "/v1/reports/breach/notification-list", compliance_notification_list, &need_officer},
    {"GET", "/v1/supervision/summary", compliance_summary, &need_auditor},
    {"GET", "/v1/contracts", compliance_contracts, &need_auditor},
    {"POST", "/v1/contracts/{}/deletion", compliance_contract_deletion, &need_officer},
    {"GET", "/v1/partners", compliance_partners, &need_auditor},
    {"POST", "/v1/partners/{}/suspend", compliance_partner_suspend, &need_officer},
    {"POST", "/v1/partners/{}/resume", compliance_partner_resume, &need_officer},
    {"POST", "/v1/gateway/suspend", compliance_gateway_suspend, &need_officer},
    {"POST", "/v1/gateway/resume", compliance_gateway_resume, &need_officer},
    /* before /v1/subjects/{}: matched in order, "requests" is not a member id here */
    {"GET", "/v1/subjects/requests", compliance_subject_requests, &need_auditor},
    {"GET", "/v1/subjects/{}", compliance_subject, &need_auditor},
    {"POST", "/v1/subjects/{}/requests", compliance_subject_request, &need_officer},
    {"POST", "/v1/subjects/{}/requests/{}/close", compliance_subject_close, &need_officer},
    {"GET", "/v1/anonymised", compliance_anon_list, &need_auditor},
    {"POST", "/v1/anonymised", compliance_anon_record, &need_officer},
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

	pthread_mutex_init(&c->anon_lock, NULL);
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
	pthread_mutex_destroy(&c->anon_lock);
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
	    .cred = p->cred,
	    .client_ca = cfg->compliance.staff_ca,
	    .trust = c->trust,
	    /* optional at the TLS layer even when required: a missing certificate then gets a
	       JSON 401 from authorize rather than a broken handshake */
	    .cert_mode = SERVER_CERT_OPTIONAL,
	    .threads = 2,
	    .max_connections = MAX_CONNECTIONS,
	    .idle_timeout_s = IDLE_TIMEOUT_S,
	    .max_header_bytes = MAX_HEADER_BYTES,
	    .max_body_bytes = COMPLIANCE_BODY_MAX,
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
