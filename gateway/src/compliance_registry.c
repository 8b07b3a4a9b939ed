/* compliance_registry — the compliance API's contracts and partners, and the kill switch */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cal.h"
#include "compliance_int.h"
#include "contract.h"
#include "ident.h"
#include "log.h"
#include "registry.h"

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
	    "{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s,s:b,s:b,s:b,s:s,s:b,s:o,s:{s:I,s:I},s:o,s:I}",
	    "id", ct->id, "partner", ct->partner, "partner_name",
	    ct->partner_name ? ct->partner_name : "", "relationship",
	    contract_relationship_name(ct->relationship), "country", ct->country,
	    "foreign_safeguards",
	    ct->foreign_safeguards ? json_string(ct->foreign_safeguards) : json_null(), "status",
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
void
compliance_contracts(struct server_request *req, void *app)
{
	struct compliance *c = app;
	time_t now = time(NULL);
	json_t *list = json_array();

	if (compliance_only(req, (const char *const[]){NULL}, "nothing") != 0) {
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
void
compliance_partners(struct server_request *req, void *app)
{
	struct compliance *c = app;
	json_t *gateway = NULL, *list;

	if (compliance_only(req, (const char *const[]){NULL}, "nothing") != 0)
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
 * Suspends or resumes a partner (partner non-NULL) or the gateway. The admin entry is
 * committed first: the ledger holds every officer action that took effect, and if it cannot be
 * written nothing changes (and while the ledger is down no data is released anyway, so the
 * kill switch loses nothing by waiting for it). The body is {"reason":"…"}, required to suspend.
 */
static void
set_state(struct server_request *req, struct compliance *c, const char *partner, bool suspend)
{
	static const char *const allowed[] = {"reason", NULL};
	struct token_claims who;
	char msg[256], action[32];
	const char *reason = NULL;
	json_t *body = NULL;
	uint64_t index;
	int changed;

	if (compliance_only(req, (const char *const[]){NULL}, "nothing") != 0)
		return;
	if (compliance_officer(req, c, &who) != 0)
		return;
	if (partner != NULL && !ident_name_ok(partner, strlen(partner))) {
		compliance_bad(req, "not a partner id (" IDENT_NAME_PATTERN ")");
		return;
	}
	if (compliance_body(req, allowed, "{\"reason\":\"…\"}", suspend, &body) != 0 ||
	    compliance_body_text(req, body, "reason", suspend, COMPLIANCE_REASON_MAX, &reason) != 0)
		goto done;
	if (partner != NULL) {
		const struct registry_view *v = registry_acquire(c->p.registry);
		const struct contract *const *pc;
		bool known = contract_set_partner(v->contracts, partner, &pc) > 0 ||
		             registry_partner_suspended(c->p.registry, partner);
		registry_release(c->p.registry, v);
		if (!known) {
			server_reply_error(req, APIERR_NOT_FOUND,
			                   "no contract is on file for this partner");
			goto done;
		}
	}
	snprintf(action, sizeof(action), "%s_%s", partner ? "partner" : "gateway",
	         suspend ? "suspend" : "resume");
	struct compliance_act act = {.action = action, .partner = partner, .reason = reason};
	if (compliance_record(req, c, &who, &act, &index) != 0)
		goto done;
	changed = registry_set_suspended(c->p.registry, partner, suspend, who.sub, reason,
	                                 (int64_t)time(NULL) * 1000);
	log_msg(c->p.log, changed < 0 ? "error" : "warn",
	        "%s %s by %s (ledger index %" PRIu64 ")%s", action, partner ? partner : "", who.sub,
	        index, changed < 0 ? ": the state database failed, nothing changed" : "");
	if (changed < 0) {
		char buf[24];
		snprintf(msg, sizeof(msg),
		         "recorded at ledger index %" PRIu64 ", but the state cannot be saved: "
		         "nothing changed",
		         index);
		snprintf(buf, sizeof(buf), "%" PRIu64, index);
		server_reply_error(req, APIERR_INTERNAL, msg);
		server_reply_header(req, "X-Ledger-Index", buf);
		goto done;
	}
	compliance_reply_recorded(req, 200,
	                          json_pack("{s:s,s:o,s:b,s:b,s:s,s:o,s:I}", "action", action,
	                                    "partner", partner ? json_string(partner) : json_null(),
	                                    "suspended", suspend, "changed", changed == 1, "by",
	                                    who.sub, "reason",
	                                    reason ? json_string(reason) : json_null(),
	                                    "ledger_index", (json_int_t)index),
	                          index);
done:
	json_decref(body);
}

void
compliance_partner_suspend(struct server_request *req, void *app)
{
	set_state(req, app, server_request_param(req, 0), true);
}

void
compliance_partner_resume(struct server_request *req, void *app)
{
	set_state(req, app, server_request_param(req, 0), false);
}

void
compliance_gateway_suspend(struct server_request *req, void *app)
{
	set_state(req, app, NULL, true);
}

void
compliance_gateway_resume(struct server_request *req, void *app)
{
	set_state(req, app, NULL, false);
}

/* ------------------------------------------------------------------------------------------ */
/* A contractor's certificate of deletion (委託先の監督, 番号法). */

/*
 * deleted_at of a deletion: a real date "YYYY-MM-DD", not after today in Japan and not before
 * the contract began. 0, or -1 after answering 400 naming the field.
 */
static int
deletion_date(struct server_request *req, json_t *body, const struct contract *ct)
{
	json_t *v = json_object_get(body, "deleted_at");
	int y, m, d;

	if (!json_is_string(v) ||
	    cal_parse_date(json_string_value(v), json_string_length(v), &y, &m, &d) != 0)
		return compliance_bad(req, "deleted_at: must be a real date YYYY-MM-DD");
	long long day = cal_days_from_civil(y, m, d);
	if (day > cal_jst_day((int64_t)time(NULL) * 1000))
		return compliance_bad(req, "deleted_at: %s is in the future (Japan time)",
		                      json_string_value(v));
	if (day < cal_jst_day((int64_t)ct->valid_from * 1000))
		return compliance_bad(req, "deleted_at: %s is before the contract began (%s)",
		                      json_string_value(v), ct->valid_from_text);
	return 0;
}

/* POST /v1/contracts/{id}/deletion {"attested_by","deleted_at","certificate"} */
void
compliance_contract_deletion(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"attested_by", "deleted_at", "certificate", NULL};
	static const char shape[] =
	    "{\"attested_by\":\"…\",\"deleted_at\":\"YYYY-MM-DD\",\"certificate\":\"…\"}";
	struct compliance *c = app;
	const char *id = server_request_param(req, 0), *by = NULL, *cert = NULL;
	struct token_claims who;
	char partner[IDENT_NAME_MAX + 1];
	json_t *body = NULL;
	uint64_t index;

	if (compliance_only(req, (const char *const[]){NULL}, "nothing") != 0)
		return;
	if (compliance_officer(req, c, &who) != 0)
		return;
	const struct registry_view *v = registry_acquire(c->p.registry);
	const struct contract *ct = id != NULL ? contract_set_find(v->contracts, id) : NULL;
	int bad = ct == NULL ? 1 : 0;
	if (ct == NULL)
		server_reply_error(req, APIERR_NOT_FOUND, "no contract with this id is on file");
	else if (compliance_body(req, allowed, shape, true, &body) != 0 ||
	         compliance_body_text(req, body, "attested_by", true, COMPLIANCE_ATTESTER_MAX,
	                              &by) != 0 ||
	         deletion_date(req, body, ct) != 0 ||
	         compliance_body_text(req, body, "certificate", true, COMPLIANCE_CERTIFICATE_MAX,
	                              &cert) != 0)
		bad = 1;
	else
		snprintf(partner, sizeof(partner), "%s", ct->partner);
	registry_release(c->p.registry, v);
	if (bad)
		goto done;
	const char *date = json_string_value(json_object_get(body, "deleted_at"));
	const struct ledger_detail detail[] = {
	    {"attested_by", by}, {"certificate", cert}, {"contract", id}, {"deleted_at", date}};
	struct compliance_act act = {.action = "contract_deletion",
	                             .partner = partner,
	                             .detail = detail,
	                             .n_detail = sizeof(detail) / sizeof(detail[0])};
	if (compliance_record(req, c, &who, &act, &index) != 0)
		goto done;
	log_msg(c->p.log, "warn",
	        "contract_deletion of %s (%s) by %s: deleted %s (ledger index %" PRIu64 ")", id,
	        partner, who.sub, date, index);
	compliance_reply_recorded(req, 201,
	                          json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "action",
	                                    "contract_deletion", "contract", id, "partner", partner,
	                                    "attested_by", by, "deleted_at", date, "certificate",
	                                    cert, "by", who.sub, "ledger_index", (json_int_t)index),
	                          index);
done:
	json_decref(body);
}
