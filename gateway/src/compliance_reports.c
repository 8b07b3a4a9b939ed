/* compliance_reports — the compliance API's reports: provisions, a member's disclosure, a breach,
 * the supervision summary */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cal.h"
#include "certreg.h"
#include "compliance_int.h"
#include "ident.h"
#include "log.h"
#include "notify.h"
#include "report.h"
#include "disclosure.h"
#include "subjects.h"
#include "witness_client.h"

#define SUMMARY_MAX_DAYS 3660
#define PROVISIONS_DEFAULT 10000

/* ------------------------------------------------------------------------------------------ */
/* Reports. */

void
compliance_report_failed(struct server_request *req, struct compliance *c, const char *err)
{
	log_msg(c->p.log, "error", "compliance: report: %s", err);
	server_reply_error(req, APIERR_LEDGER_UNAVAILABLE, err);
}

/* GET /v1/reports/provisions?partner&from&to&format=json|csv&limit&after */
void
compliance_provisions(struct server_request *req, void *app)
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

	if (compliance_only(req, allowed, "partner, from, to, format, limit, after") != 0 ||
	    compliance_q_partner(req, &q.partner) != 0 ||
	    compliance_q_range(req, &q.from_ms, &q.to_ms) != 0 ||
	    (r = compliance_q_str(req, "format", 8, &format)) < 0 ||
	    compliance_q_uint(req, "limit", 1, REPORT_MAX_RECORDS, PROVISIONS_DEFAULT, &limit) !=
	        0 ||
	    compliance_q_index(req, "after", &q.after) < 0)
		return;
	if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
		compliance_bad(req, "format: json or csv");
		return;
	}
	csv = format != NULL && strcmp(format, "csv") == 0;
	q.limit = (unsigned)limit;
	const struct registry_view *v = registry_acquire(c->p.registry);
	struct report_names names = {v->catalog, v->contracts};
	r = report_provisions(c->p.ledger, &q, &names, csv, &out, &len, &next, err, sizeof(err));
	registry_release(c->p.registry, v);
	if (r != 0) {
		compliance_report_failed(req, c, err);
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

/* format=csv of a member's report: the provisions report of the member's subject reference. */
static void
subject_csv(struct server_request *req, struct compliance *c, const char *subject)
{
	struct report_query q = {
	    .subject = subject, .after = UINT64_MAX, .limit = REPORT_MAX_RECORDS};
	char err[512], *out = NULL;
	uint64_t next;
	size_t len;

	const struct registry_view *v = registry_acquire(c->p.registry);
	struct report_names names = {v->catalog, v->contracts};
	int r =
	    report_provisions(c->p.ledger, &q, &names, true, &out, &len, &next, err, sizeof(err));
	registry_release(c->p.registry, v);
	if (r != 0) {
		compliance_report_failed(req, c, err);
		return;
	}
	server_reply_take(req, 200, "text/csv; charset=utf-8", out, len);
	server_reply_header(req, "Content-Disposition", "attachment; filename=\"subject.csv\"");
	if (next != UINT64_MAX) {
		char buf[24];
		snprintf(buf, sizeof(buf), "%" PRIu64, next);
		server_reply_header(req, "X-Next-After", buf);
	}
}

/* format=html: the disclosure document, under a policy that allows its own style only. */
static void
subject_html(struct server_request *req, struct compliance *c, json_t *doc)
{
	const struct config *cfg = c->p.cfg;
	struct buf page = {0};
	char csp[256];
	size_t len;

	if (disclosure_html(doc,
	                    cfg->compliance.organisation ? cfg->compliance.organisation
	                                                 : cfg->gateway.name,
	                    cal_jst_day((int64_t)time(NULL) * 1000), &page) != 0) {
		buf_free(&page);
		server_reply_error(req, APIERR_INTERNAL, "out of memory");
		return;
	}
	snprintf(csp, sizeof(csp),
	         "default-src 'none'; style-src %s; base-uri 'none'; form-action 'none'; "
	         "frame-ancestors 'none'",
	         disclosure_style_csp());
	char *text = buf_take(&page, &len);
	server_reply_take(req, 200, "text/html; charset=utf-8", text, len);
	server_reply_header(req, "Content-Security-Policy", csp);
}

/* GET /v1/reports/subject/{member_id}?format=json|csv|html */
void
compliance_subject_report(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"format", NULL};
	struct compliance *c = app;
	const char *member = server_request_param(req, 0), *format = NULL;
	char subject[PSEUDO_SUBJECT_HEX + 1], err[512];

	if (compliance_only(req, allowed, "format") != 0 ||
	    compliance_q_str(req, "format", 8, &format) < 0)
		return;
	if (format != NULL && strcmp(format, "json") != 0 && strcmp(format, "csv") != 0 &&
	    strcmp(format, "html") != 0) {
		compliance_bad(req, "format: json, csv or html");
		return;
	}
	if (member == NULL || !ident_member_ok(member, strlen(member))) {
		compliance_bad(req, "member_id: must match " IDENT_MEMBER_PATTERN);
		return;
	}
	if (pseudo_subject(c->p.pseudo, member, subject) != 0) {
		server_reply_error(req, APIERR_INTERNAL,
		                   "the subject reference cannot be computed");
		return;
	}
	if (format != NULL && strcmp(format, "csv") == 0) {
		subject_csv(req, c, subject);
		return;
	}
	const struct registry_view *v = registry_acquire(c->p.registry);
	struct report_names names = {v->catalog, v->contracts};
	json_t *doc = report_subject(c->p.ledger, member, subject, &names, err, sizeof(err));
	registry_release(c->p.registry, v);
	if (doc == NULL) {
		compliance_report_failed(req, c, err);
	} else if (format != NULL && strcmp(format, "html") == 0) {
		subject_html(req, c, doc);
		json_decref(doc);
	} else {
		server_reply_json(req, 200, doc);
	}
}

/* The filters of a breach (partner required, from, to) and the other query parameters a
 * route takes (allowed, named in list). 0, or -1 after answering 400. */
static int
breach_query(struct server_request *req, const char *const *allowed, const char *list,
             struct report_query *q)
{
	*q = (struct report_query){.after = UINT64_MAX, .limit = 1};
	if (compliance_only(req, allowed, list) != 0 ||
	    compliance_q_partner(req, &q->partner) != 0 ||
	    compliance_q_range(req, &q->from_ms, &q->to_ms) != 0)
		return -1;
	if (q->partner == NULL)
		return compliance_bad(req,
		                      "partner is required: the partner where the leak happened");
	return 0;
}

/* GET /v1/reports/breach?partner&from&to&resolve=true|false&format=json|csv */
void
compliance_breach(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"partner", "from", "to", "resolve", "format", NULL};
	struct compliance *c = app;
	struct report_query q;
	const char *resolve = NULL, *format = NULL;
	char err[512];

	if (breach_query(req, allowed, "partner, from, to, resolve, format", &q) != 0 ||
	    compliance_q_str(req, "resolve", 8, &resolve) < 0 ||
	    compliance_q_str(req, "format", 8, &format) < 0)
		return;
	if (resolve != NULL && strcmp(resolve, "true") != 0 && strcmp(resolve, "false") != 0) {
		compliance_bad(req, "resolve: true or false");
		return;
	}
	if (format != NULL && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
		compliance_bad(req, "format: json or csv");
		return;
	}
	bool want_ids = resolve == NULL || strcmp(resolve, "true") == 0;
	const struct registry_view *v = registry_acquire(c->p.registry);
	struct report_names names = {v->catalog, v->contracts};
	json_t *doc = report_breach(c->p.ledger, &q, &names, want_ids ? c->p.origin : NULL,
	                            c->p.pseudo, NULL, err, sizeof(err));
	registry_release(c->p.registry, v);
	if (doc == NULL) {
		compliance_report_failed(req, c, err);
		return;
	}
	if (format == NULL || strcmp(format, "json") == 0) {
		server_reply_json(req, 200, doc);
		return;
	}
	struct buf out = {0};
	int r = notify_breach_csv(doc, &out);
	json_decref(doc);
	if (r != 0) {
		buf_free(&out);
		server_reply_error(req, APIERR_INTERNAL, "out of memory");
		return;
	}
	size_t len;
	char *text = buf_take(&out, &len), disposition[128];
	snprintf(disposition, sizeof(disposition), "attachment; filename=\"breach-%s.csv\"",
	         q.partner);
	server_reply_take(req, 200, "text/csv; charset=utf-8", text, len);
	server_reply_header(req, "Content-Disposition", disposition);
}

/*
 * POST /v1/reports/breach/notification-list?partner&from&to, body {"reason":"…"} optional.
 * The one place where the compliance side reads personal data: the list is read whole (the
 * breach report, then each member's record from the origin now), then its admin entry —
 * partner, period, count, missing, never a member — is committed, and only then is the list
 * answered. An origin failure answers its error and records nothing, since nothing left; a
 * ledger that cannot record answers 503 and the list read is wiped.
 */
void
compliance_notification_list(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"partner", "from", "to", NULL};
	static const char *const body_allowed[] = {"reason", NULL};
	struct compliance *c = app;
	struct report_query q;
	struct token_claims who;
	struct notify_counts counts;
	const char *reason = NULL;
	char err[512];
	json_t *body = NULL, *doc = NULL;
	struct buf out = {.secret = true};
	enum apierr e;
	uint64_t index;

	if (breach_query(req, allowed, "partner, from, to", &q) != 0)
		return;
	if (compliance_officer(req, c, &who) != 0)
		return;
	if (compliance_body(req, body_allowed, "{\"reason\":\"…\"}", false, &body) != 0 ||
	    compliance_body_text(req, body, "reason", false, COMPLIANCE_REASON_MAX, &reason) != 0)
		goto done;
	if (c->p.origin == NULL) {
		server_reply_error(req, APIERR_INTERNAL, "no origin to read the members from");
		goto done;
	}
	const struct registry_view *v = registry_acquire(c->p.registry);
	struct report_names names = {v->catalog, v->contracts};
	doc =
	    report_breach(c->p.ledger, &q, &names, c->p.origin, c->p.pseudo, &e, err, sizeof(err));
	if (doc == NULL) {
		registry_release(c->p.registry, v);
		log_msg(c->p.log, "error", "compliance: notification list: %s", err);
		server_reply_error(req, e != APIERR_NONE ? e : APIERR_LEDGER_UNAVAILABLE, err);
		goto done;
	}
	e = notify_list(doc, v->catalog, c->p.origin, c->p.cfg->origin.max_record_bytes, &out,
	                &counts, err, sizeof(err));
	registry_release(c->p.registry, v);
	if (e != APIERR_NONE) {
		log_msg(c->p.log, "error", "compliance: notification list: %s", err);
		server_reply_error(req, e,
		                   "the member system failed while the list was read: "
		                   "nothing was recorded or answered");
		goto done;
	}
	/* The entry: keys in ascending order, the period only where it was given. */
	char n_count[24], n_missing[24], t_from[LEDGER_TIME_LEN + 1], t_to[LEDGER_TIME_LEN + 1];
	struct ledger_detail detail[4];
	size_t nd = 0;
	snprintf(n_count, sizeof(n_count), "%zu", counts.count);
	snprintf(n_missing, sizeof(n_missing), "%zu", counts.missing);
	detail[nd++] = (struct ledger_detail){"count", n_count};
	if (q.from_ms > 0) {
		ledger_leaf_time(q.from_ms, t_from);
		detail[nd++] = (struct ledger_detail){"from", t_from};
	}
	detail[nd++] = (struct ledger_detail){"missing", n_missing};
	if (q.to_ms > 0) {
		ledger_leaf_time(q.to_ms, t_to);
		detail[nd++] = (struct ledger_detail){"to", t_to};
	}
	struct compliance_act act = {.action = "notification_list",
	                             .partner = q.partner,
	                             .reason = reason,
	                             .detail = detail,
	                             .n_detail = nd};
	if (compliance_record(req, c, &who, &act, &index) != 0)
		goto done;
	log_msg(c->p.log, "warn",
	        "notification list of %s by %s: %zu member(s), %zu missing (ledger index %" PRIu64
	        ")",
	        q.partner, who.sub, counts.count, counts.missing, index);
	char idx[24], disposition[128];
	size_t len;
	char *text = buf_take(&out, &len);
	snprintf(idx, sizeof(idx), "%" PRIu64, index);
	snprintf(disposition, sizeof(disposition), "attachment; filename=\"notification-%s.csv\"",
	         q.partner);
	server_reply_take(req, 200, "text/csv; charset=utf-8", text, len);
	server_reply_header(req, "Content-Disposition", disposition);
	server_reply_header(req, "X-Ledger-Index", idx);
done:
	buf_free(&out);
	json_decref(doc);
	json_decref(body);
}

/* GET /v1/supervision/summary?from&to (default: the last 30 days) */
void
compliance_summary(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"from", "to", NULL};
	struct compliance *c = app;
	int64_t from = 0, to = 0;
	time_t now = time(NULL);
	char err[512];

	if (compliance_only(req, allowed, "from, to") != 0 ||
	    compliance_q_range(req, &from, &to) != 0)
		return;
	if (to == 0)
		to = report_end_now_ms();
	if (from == 0)
		from = to - REPORT_TRAILING_DAYS * REPORT_DAY_MS;
	if (from >= to) {
		compliance_bad(req, "from must come before to (to defaults to now)");
		return;
	}
	if ((to - from) / REPORT_DAY_MS > SUMMARY_MAX_DAYS) {
		compliance_bad(req, "a summary spans at most %d days", SUMMARY_MAX_DAYS);
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
	if (doc == NULL) {
		compliance_report_failed(req, c, err);
		return;
	}
	/* members' requests still open after SUBJECTS_OVERDUE_DAYS, from the register */
	json_t *overdue = subjects_overdue(c->p.subjects, cal_jst_day((int64_t)now * 1000));
	if (overdue == NULL) {
		json_decref(doc);
		server_reply_error(req, APIERR_INTERNAL, "the request register cannot be read");
		return;
	}
	json_object_set_new(doc, "requests_overdue", overdue);
	if (c->p.witness != NULL)
		json_object_set_new(doc, "witness", witness_client_json(c->p.witness));
	server_reply_json(req, 200, doc);
}
