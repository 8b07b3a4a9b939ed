/* compliance_subjects — the compliance API's members' requests (SPEC 16.1): registering and
 * closing them, a member's requests and restrictions, the list of requests */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cal.h"
#include "compliance_int.h"
#include "ident.h"
#include "log.h"
#include "subjects.h"

#define TYPES "disclosure, correction, deletion, stop_use or stop_third_party"
#define OUTCOMES "completed, refused or withdrawn"

/* The member of the path as its subject reference. 0, or -1 after answering. */
static int
path_member(struct server_request *req, struct compliance *c, const char **member,
            char subject[PSEUDO_SUBJECT_HEX + 1])
{
	*member = server_request_param(req, 0);
	if (*member == NULL || !ident_member_ok(*member, strlen(*member)))
		return compliance_bad(req, "member_id: must match " IDENT_MEMBER_PATTERN);
	if (pseudo_subject(c->p.pseudo, *member, subject) != 0) {
		server_reply_error(req, APIERR_INTERNAL,
		                   "the subject reference cannot be computed");
		return -1;
	}
	return 0;
}

/* An officer's act on a member: no query, the caller an officer, the member of the path, the
 * body (caller frees). 0, or -1 after answering (and then *body is NULL). */
static int
begin_act(struct server_request *req, struct compliance *c, const char *const *allowed,
          const char *shape, struct token_claims *who, const char **member,
          char subject[PSEUDO_SUBJECT_HEX + 1], json_t **body)
{
	*body = NULL;
	if (compliance_only(req, (const char *const[]){NULL}, "nothing") != 0 ||
	    compliance_officer(req, c, who) != 0 || path_member(req, c, member, subject) != 0)
		return -1;
	return compliance_body(req, allowed, shape, true, body);
}

static json_t *
restrictions_json(unsigned bits)
{
	return json_pack("{s:b,s:b}", "stop_use", (bits & POLICY_RESTRICT_STOP_USE) != 0,
	                 "stop_third_party", (bits & POLICY_RESTRICT_STOP_THIRD_PARTY) != 0);
}

static int64_t
today(void)
{
	return cal_jst_day((int64_t)time(NULL) * 1000);
}

/* What a write's record function needs: the act's entry is committed inside the write. */
struct act_ctx {
	struct server_request *req;
	struct compliance *c;
	const struct token_claims *who;
	const char *action;
	const char *subject;
	const char *reason;
};

/* subjects_record_fn: the admin entry, with the member by subject reference only. */
static int
record_act(void *arg, const struct subjects_row *row, uint64_t *index)
{
	const struct act_ctx *a = arg;
	/* keys in ascending order (ledger_leaf.h) */
	struct ledger_detail d[4];
	size_t n = 0;

	if (row->outcome != SUBJECTS_OPEN)
		d[n++] = (struct ledger_detail){"outcome", subjects_outcome_name(row->outcome)};
	d[n++] = (struct ledger_detail){"received", row->received};
	d[n++] = (struct ledger_detail){"request_id", row->id};
	d[n++] = (struct ledger_detail){"type", subjects_type_name(row->type)};
	struct compliance_act act = {
	    .action = a->action,
	    .reason = a->reason,
	    .subject = a->subject,
	    .detail = d,
	    .n_detail = n,
	};
	return compliance_record(a->req, a->c, a->who, &act, index);
}

/*
 * Answers a write that did not succeed; the record function has answered NOT_RECORDED itself.
 * ESTORE: the act is in the ledger but the register does not hold it, which the answer says,
 * with the entry's index.
 */
static void
write_failed(struct server_request *req, struct compliance *c, enum subjects_result r,
             const char *action, uint64_t index)
{
	char msg[256], buf[24];

	switch (r) {
	case SUBJECTS_NOT_FOUND:
		server_reply_error(req, APIERR_NOT_FOUND, "no such request for this member");
		return;
	case SUBJECTS_CLOSED_ALREADY:
		server_reply_error(req, APIERR_CONFLICT,
		                   "the request is closed already: a request is closed once");
		return;
	case SUBJECTS_NOT_RECORDED:
		return;
	case SUBJECTS_ESTORE:
		log_msg(c->p.log, "error",
		        "%s: recorded at ledger index %" PRIu64
		        ", but the state database failed to store it",
		        action, index);
		snprintf(msg, sizeof(msg),
		         "recorded at ledger index %" PRIu64 ", but the register cannot store it: "
		         "nothing changed",
		         index);
		snprintf(buf, sizeof(buf), "%" PRIu64, index);
		server_reply_error(req, APIERR_INTERNAL, msg);
		server_reply_header(req, "X-Ledger-Index", buf);
		return;
	default:
		log_msg(c->p.log, "error", "%s: the state database failed", action);
		server_reply_error(req, APIERR_INTERNAL,
		                   "the request register cannot be written: nothing changed");
		return;
	}
}

/* The answer to a write: the request as the register now holds it, and the restrictions. */
static void
reply_request(struct server_request *req, struct compliance *c, unsigned status, const char *member,
              const char *subject, const char *id, uint64_t index)
{
	json_t *list = subjects_of(c->p.subjects, subject, today()), *found = NULL, *r;
	size_t i;

	json_array_foreach(list, i, r)
	{
		if (strcmp(json_string_value(json_object_get(r, "id")), id) == 0)
			found = r;
	}
	if (found == NULL) { /* stored and in force, but the answer cannot be made */
		char buf[24];
		json_decref(list);
		log_msg(c->p.log, "error", "%s: stored, but the register cannot be read back", id);
		snprintf(buf, sizeof(buf), "%" PRIu64, index);
		server_reply_error(
		    req, APIERR_INTERNAL,
		    "the act is recorded and stored, but the register cannot be read "
		    "back: look the member up again");
		server_reply_header(req, "X-Ledger-Index", buf);
		return;
	}
	json_incref(found);
	json_decref(list);
	json_object_set_new(found, "member_id", json_string(member));
	json_object_set_new(found, "restrictions",
	                    restrictions_json(subjects_restrictions(c->p.subjects, subject)));
	compliance_reply_recorded(req, status, found, index);
}

/* A date the request was received: YYYY-MM-DD, a real day, not after today in Japan. */
static int
received_date(struct server_request *req, json_t *body, const char **out)
{
	json_t *v = json_object_get(body, "received");
	const char *s = json_string_value(v);
	int y, m, d;

	if (s == NULL || cal_parse_date(s, json_string_length(v), &y, &m, &d) != 0)
		return compliance_bad(req, "received: must be a date YYYY-MM-DD, the day the "
		                           "member's request arrived");
	if (cal_days_from_civil(y, m, d) > today())
		return compliance_bad(req, "received: '%s' is in the future", s);
	*out = s;
	return 0;
}

/* POST /v1/subjects/{member_id}/requests {"type","received","channel","note"} */
void
compliance_subject_request(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"type", "received", "channel", "note", NULL};
	static const char shape[] =
	    "{\"type\":\"…\",\"received\":\"YYYY-MM-DD\",\"channel\":\"…\",\"note\":\"…\"}";
	struct compliance *c = app;
	char subject[PSEUDO_SUBJECT_HEX + 1];
	const char *member, *type_name, *received = NULL, *channel = NULL, *note = NULL;
	struct token_claims who;
	struct subjects_row row;
	json_t *body = NULL;
	uint64_t index = 0;

	if (begin_act(req, c, allowed, shape, &who, &member, subject, &body) != 0)
		return;
	struct subjects_new n = {.subject = subject, .by = who.sub};
	type_name = json_string_value(json_object_get(body, "type"));
	if (type_name == NULL || subjects_type_parse(type_name, &n.type) != 0) {
		compliance_bad(req, "type: must be " TYPES);
		goto done;
	}
	if (received_date(req, body, &received) != 0 ||
	    compliance_body_text(req, body, "channel", false, SUBJECTS_CHANNEL_MAX, &channel) !=
	        0 ||
	    compliance_body_text(req, body, "note", false, SUBJECTS_NOTE_MAX, &note) != 0)
		goto done;
	n.received = received;
	n.channel = channel;
	n.note = note;
	n.now_ms = (int64_t)time(NULL) * 1000;
	struct act_ctx a = {req, c, &who, "subject_request", subject, NULL};
	enum subjects_result r = subjects_add(c->p.subjects, &n, record_act, &a, &row, &index);
	if (r != SUBJECTS_OK) {
		write_failed(req, c, r, a.action, index);
		goto done;
	}
	log_msg(c->p.log, "warn", "subject_request %s (%s) by %s (ledger index %" PRIu64 ")",
	        row.id, type_name, who.sub, index);
	reply_request(req, c, 201, member, subject, row.id, index);
done:
	json_decref(body);
}

/* POST /v1/subjects/{member_id}/requests/{id}/close {"outcome","reason"} */
void
compliance_subject_close(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"outcome", "reason", NULL};
	static const char shape[] = "{\"outcome\":\"…\",\"reason\":\"…\"}";
	struct compliance *c = app;
	char subject[PSEUDO_SUBJECT_HEX + 1];
	const char *member, *id = server_request_param(req, 1), *name, *reason = NULL;
	enum subjects_outcome outcome;
	struct token_claims who;
	struct subjects_row row;
	json_t *body = NULL;
	uint64_t index = 0;

	if (begin_act(req, c, allowed, shape, &who, &member, subject, &body) != 0)
		return;
	if (id == NULL || strlen(id) != SUBJECTS_ID_LEN || strncmp(id, "RQ-", 3) != 0 ||
	    strspn(id + 3, "0123456789") != 4 || id[7] != '-' ||
	    strspn(id + 8, "0123456789") != 6) {
		compliance_bad(req, "id: a request id RQ-YYYY-NNNNNN");
		goto done;
	}
	name = json_string_value(json_object_get(body, "outcome"));
	if (name == NULL || subjects_outcome_parse(name, &outcome) != 0) {
		compliance_bad(req, "outcome: must be " OUTCOMES);
		goto done;
	}
	/* the policy promises to explain a refusal: the reason is what the member is told */
	if (compliance_body_text(req, body, "reason", outcome == SUBJECTS_REFUSED,
	                         SUBJECTS_REASON_MAX, &reason) != 0)
		goto done;
	struct act_ctx a = {req, c, &who, "subject_request_close", subject, reason};
	enum subjects_result r =
	    subjects_close_request(c->p.subjects, subject, id, outcome, reason, who.sub,
	                           (int64_t)time(NULL) * 1000, record_act, &a, &row, &index);
	if (r != SUBJECTS_OK) {
		write_failed(req, c, r, a.action, index);
		goto done;
	}
	log_msg(c->p.log, "warn", "subject_request_close %s (%s) by %s (ledger index %" PRIu64 ")",
	        id, name, who.sub, index);
	reply_request(req, c, 200, member, subject, id, index);
done:
	json_decref(body);
}

/* GET /v1/subjects/{member_id} */
void
compliance_subject(struct server_request *req, void *app)
{
	struct compliance *c = app;
	char subject[PSEUDO_SUBJECT_HEX + 1];
	const char *member;
	json_t *list;

	if (compliance_only(req, (const char *const[]){NULL}, "nothing") != 0 ||
	    path_member(req, c, &member, subject) != 0)
		return;
	if ((list = subjects_of(c->p.subjects, subject, today())) == NULL) {
		server_reply_error(req, APIERR_INTERNAL, "the request register cannot be read");
		return;
	}
	server_reply_json(
	    req, 200,
	    json_pack("{s:s,s:s,s:o,s:o}", "member_id", member, "subject", subject, "restrictions",
	              restrictions_json(subjects_restrictions(c->p.subjects, subject)), "requests",
	              list));
}

/* GET /v1/subjects/requests?status=open|closed */
void
compliance_subject_requests(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"status", NULL};
	struct compliance *c = app;
	const char *status = NULL;
	json_t *list;
	int r;

	if (compliance_only(req, allowed, "status") != 0 ||
	    (r = compliance_q_str(req, "status", 8, &status)) < 0)
		return;
	if (r == 1 && strcmp(status, "open") != 0 && strcmp(status, "closed") != 0) {
		compliance_bad(req, "status: open or closed");
		return;
	}
	if ((list = subjects_list(c->p.subjects, status, today())) == NULL) {
		server_reply_error(req, APIERR_INTERNAL, "the request register cannot be read");
		return;
	}
	server_reply_json(req, 200,
	                  json_pack("{s:o,s:I,s:o}", "status",
	                            status != NULL ? json_string(status) : json_null(), "count",
	                            (json_int_t)json_array_size(list), "requests", list));
}
