/* compliance_anon — the compliance API's anonymised data sets (匿名加工情報, SPEC 16.4): an
 * officer's `pdgate anonymize` records its entry here while the gateway runs; the list with
 * each data set's published notice */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "anon_entry.h"
#include "cal.h"
#include "compliance_int.h"
#include "config.h"
#include "log.h"
#include "registry.h"

static const char *
organisation(const struct compliance *c)
{
	const struct config *cfg = c->p.cfg;

	return cfg->compliance.organisation ? cfg->compliance.organisation : cfg->gateway.name;
}

/* made: the Japan day the data set was made, today or yesterday (a run across midnight). */
static int
made_recent(struct server_request *req, const char *made)
{
	int y, m, d;
	int64_t today = cal_jst_day((int64_t)time(NULL) * 1000);

	cal_parse_date(made, strlen(made), &y, &m, &d); /* anon_entry_check: a real date */
	long long day = cal_days_from_civil(y, m, d);
	if (day > today || day < today - 1)
		return compliance_bad(req, "made: %s is not today or yesterday in Japan", made);
	return 0;
}

/* The data set as the API shows it: the entry's fields, who made it, when, and its notice. */
static json_t *
dataset_json(const struct anon_entry *e, const struct catalog *cat, const char *org, uint64_t index,
             const char *time_text, const char *staff)
{
	struct buf notice = {0};
	json_t *doc = anon_entry_json(e);

	if (doc == NULL || anon_entry_notice(e, cat, org, &notice) != 0 ||
	    json_object_update_new(doc, json_pack("{s:I,s:s?,s:s?,s:s}", "ledger_index",
	                                          (json_int_t)index, "time", time_text, "by", staff,
	                                          "notice", notice.data)) != 0) {
		json_decref(doc);
		doc = NULL;
	}
	buf_free(&notice);
	return doc;
}

/*
 * POST /v1/anonymised, the body anon_entry_json writes: the entry committed, then 201. Two
 * officers recording one id at once are put in a row (the check for the id and the commit
 * under one lock), so a data set's id is recorded once.
 */
void
compliance_anon_record(struct server_request *req, void *app)
{
	static const char *const allowed[] = {
	    "id", "title",   "made",     "recipient", "method",     "spec_sha256", "items",
	    "k",  "members", "left_out", "rows",      "suppressed", "replaced",    NULL};
	static const char shape[] =
	    "{\"id\",\"title\",\"made\",\"recipient\",\"method\",\"spec_sha256\",\"items\",\"k\","
	    "\"members\",\"left_out\",\"rows\",\"suppressed\",\"replaced\"}";
	struct compliance *c = app;
	struct token_claims who;
	struct anon_entry e;
	struct anon_entry_text txt;
	struct ledger_detail d[ANON_ENTRY_DETAIL_MAX];
	char why[512], tm[LEDGER_TIME_LEN + 1];
	json_t *body = NULL, *out = NULL;
	struct ledger_store *held;
	uint64_t index, found;
	int f;

	if (compliance_only(req, (const char *const[]){NULL}, "nothing") != 0 ||
	    compliance_officer(req, c, &who) != 0 ||
	    compliance_body(req, allowed, shape, true, &body) != 0)
		return;
	const struct registry_view *v = registry_acquire(c->p.registry);
	if (anon_entry_from_json(body, &e, why, sizeof(why)) != 0 ||
	    anon_entry_check(&e, v->catalog, why, sizeof(why)) != 0) {
		registry_release(c->p.registry, v);
		compliance_bad(req, "%s", why);
		goto done;
	}
	if (made_recent(req, e.made) != 0) {
		registry_release(c->p.registry, v);
		goto done;
	}
	pthread_mutex_lock(&c->anon_lock);
	/* on PostgreSQL, other nodes and commands record data sets too: the database's lock */
	if (anon_entry_lock(config_ledger_where(c->p.cfg), &held, why, sizeof(why)) != 0) {
		pthread_mutex_unlock(&c->anon_lock);
		registry_release(c->p.registry, v);
		log_msg(c->p.log, "error", "anonymised_dataset %s: %s", e.id, why);
		server_reply_error(req, APIERR_LEDGER_UNAVAILABLE, why);
		goto done;
	}
	if ((f = anon_entry_find(c->p.ledger, e.id, &found)) != 0) {
		anon_entry_unlock(held, why, sizeof(why));
		pthread_mutex_unlock(&c->anon_lock);
		registry_release(c->p.registry, v);
		if (f < 0) {
			compliance_ledger_failed(req, f);
		} else {
			snprintf(why, sizeof(why),
			         "%s is recorded already, at ledger index %" PRIu64
			         ": a data set's id is given once",
			         e.id, found);
			server_reply_error(req, APIERR_CONFLICT, why);
		}
		goto done;
	}
	size_t n = anon_entry_detail(&e, &txt, d);
	struct compliance_act act = {.action = ANON_ENTRY_ACTION, .detail = d, .n_detail = n};
	int rc = compliance_record(req, c, &who, &act, &index);
	if (anon_entry_unlock(held, why, sizeof(why)) != 0)
		log_msg(c->p.log, "warn", "anonymised_dataset %s: %s: search the ledger for its id",
		        e.id, why);
	pthread_mutex_unlock(&c->anon_lock);
	if (rc != 0) {
		registry_release(c->p.registry, v);
		goto done;
	}
	log_msg(c->p.log, "warn",
	        "anonymised_dataset %s by %s: %" PRIu64 " rows of %" PRIu64 " members, k %" PRIu64
	        " (ledger index %" PRIu64 ")",
	        e.id, who.sub, e.rows, e.members, e.k, index);
	ledger_leaf_time((int64_t)time(NULL) * 1000, tm);
	out = dataset_json(&e, v->catalog, organisation(c), index, tm, who.sub);
	registry_release(c->p.registry, v);
	if (out == NULL) {
		server_reply_error(req, APIERR_INTERNAL, "recorded, but the answer cannot be made");
		goto done;
	}
	compliance_reply_recorded(req, 201, out, index);
done:
	json_decref(body);
}

struct list {
	json_t *sets;
	const struct catalog *cat;
	const char *org;
	int failed;
};

static int
list_one(void *arg, const struct ledger_leaf *leaf, const struct anon_entry *e)
{
	struct list *x = arg;
	json_t *doc = dataset_json(e, x->cat, x->org, leaf->index, leaf->time,
	                           leaf->e.admin ? leaf->e.admin->staff : NULL);

	if (doc == NULL || json_array_append_new(x->sets, doc) != 0) {
		x->failed = 1;
		return 1;
	}
	return 0;
}

/* GET /v1/anonymised: every data set recorded, oldest first, with its notice. */
void
compliance_anon_list(struct server_request *req, void *app)
{
	struct compliance *c = app;
	struct list x = {.org = organisation(c)};
	int rc;

	if (compliance_only(req, (const char *const[]){NULL}, "nothing") != 0)
		return;
	if ((x.sets = json_array()) == NULL) {
		server_reply_error(req, APIERR_INTERNAL, "out of memory");
		return;
	}
	const struct registry_view *v = registry_acquire(c->p.registry);
	x.cat = v->catalog;
	rc = anon_entry_each(c->p.ledger, list_one, &x);
	registry_release(c->p.registry, v);
	if (x.failed || rc != 0) {
		json_decref(x.sets);
		if (x.failed)
			server_reply_error(req, APIERR_INTERNAL, "out of memory");
		else
			compliance_ledger_failed(req, rc);
		return;
	}
	server_reply_json(req, 200,
	                  json_pack("{s:I,s:o}", "count", (json_int_t)json_array_size(x.sets),
	                            "datasets", x.sets));
}
