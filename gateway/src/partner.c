/* partner — the partner API (SPEC 9): whoami, one member, pages; acts on the decision. */
#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "codec.h"
#include "decision.h"
#include "ident.h"
#include "partner.h"
#include "partner_int.h"
#include "release.h"
#include "workq.h"

#define HDR_ID_MAX 64              /* X-Purpose, X-Contract */
#define HDR_JUSTIFICATION_MAX 2048 /* bytes: 512 code points of up to 4 bytes */
#define HDR_AUTH_MAX (TOKEN_MAX_BYTES + 16)

_Static_assert(HDR_ID_MAX <= DECISION_ID_MAX, "a decision holds the X-Purpose it was given");

static void
sha256_hex(const EVP_MD *sha256, const char *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, sha256, NULL);
	codec_hex_encode(md, sizeof(md), out);
}

/* A ledger entry with everything the decision established; the caller adds what is its own. */
static void
entry_init(const struct request *r, struct ledger_entry *e, enum ledger_kind kind)
{
	const struct decision *d = &r->d;

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->request = server_request_id(r->req);
	e->partner = r->id->id;
	e->cert = r->id->fingerprint;
	if (d->contract != NULL) {
		e->contract = d->contract->id;
		e->relationship = contract_relationship_name(d->contract->relationship);
		/* where it went at the time, whatever the contract says later (Art. 28) */
		if (contract_abroad(d->contract))
			e->country = d->contract->country;
		e->records_per_day = d->contract->records_per_day; /* counted across the nodes */
	}
	if (d->purpose_known)
		e->purpose = d->purpose;
	if (d->cp != NULL) {
		e->basis = d->basis;
		e->justification = d->justification;
	}
	if (d->has_token)
		e->token = d->claims.jti;
	e->state_gen = r->state_gen;
}

/*
 * The generation of the shared state a decision reads, before it reads the suspensions and
 * the members' restrictions: the older of the registry's and the register's, so that a
 * change put in force in one of them and not yet in the other is checked at the commit.
 */
static uint64_t
state_gen_of(uint64_t registry_gen, struct subjects *subjects)
{
	uint64_t g = subjects_state_gen(subjects);

	return g < registry_gen ? g : registry_gen;
}

unsigned
partner_held(const struct request *r, const char *subject, unsigned *mask)
{
	*mask = policy_restrictions_mask(r->d.contract, r->d.cp);
	return subjects_restrictions(r->api->subjects, subject);
}

/*
 * A release the ledger's writer refused because the shared state changed since the decision
 * (LEDGER_ESTATE, in force under the tree lock before this batch, the writer having put it in
 * force): a suspension or a work order's revocation made on another node refuses it now as
 * steps 2, 3 and 4 refuse (true, r->d refused); otherwise it was a member's restrictions
 * (false): the generation is read again, and the caller applies the member rules again with
 * the restrictions now in force, as on one gateway.
 */
static bool
refuse_stale(struct request *r)
{
	bool gw = false, ps = false;
	uint64_t gen = registry_suspensions(r->api->registry, r->id->id, &gw, &ps);
	bool revoked = r->d.has_token && registry_token_revoked(r->api->registry, r->d.claims.jti);

	if (!gw && !ps && !revoked) {
		r->state_gen = state_gen_of(gen, r->api->subjects);
		return false;
	}
	r->subject[0] = '\0'; /* refused before any member, as step 4 refuses */
	if (!gw && !ps)
		decision_refuse(&r->d, DECISION_STEP_TOKEN, APIERR_TOKEN_INVALID,
		                "the work order has been revoked");
	else if (gw)
		decision_refuse(&r->d, DECISION_STEP_GATEWAY, APIERR_GATEWAY_SUSPENDED, NULL);
	else
		decision_refuse(&r->d, DECISION_STEP_PARTNER, APIERR_PARTNER_SUSPENDED, NULL);
	return true;
}

/*
 * A release the ledger's writer refused because its contract's daily volume, counted across
 * the nodes, would pass records_per_day (LEDGER_EVOLUME; the limits were told the shared total
 * first): step 8 decided again for its volume, as a single gateway would have decided it — the
 * reservation given back, then at most what it had reserved asked for anew, without a request
 * token. 1 with r->d.granted records reserved (the release is to be made again, trimmed to
 * them), or 0 with r->d refused (429, Retry-After until the day's end) after tries attempts.
 */
#define VOLUME_TRIES 4
int
partner_readmit(struct request *r, unsigned tries)
{
	const struct contract *c = r->d.contract;
	uint32_t want = r->d.granted, retry = 1;

	ratelimit_settle(r->api->limits, c->id, r->d.granted, 0, r->now_ms);
	r->d.granted = 0;
	if (tries < VOLUME_TRIES && ratelimit_admit(r->api->limits, c->id, 0, c->records_per_day,
	                                            want, r->now_ms, &r->d.granted, &retry) == 0)
		return 1;
	r->subject[0] = '\0'; /* the volume refuses, not the member */
	decision_refuse(&r->d, DECISION_STEP_LIMITS, APIERR_RATE_LIMITED, NULL);
	r->d.retry_after = retry;
	return 0;
}

static void
reply_index(struct server_request *req, uint64_t index)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)index);
	server_reply_header(req, "X-Ledger-Index", buf);
}

/*
 * What a failed append answers: a malformed entry is this code's bug (the ledger has logged
 * it), not an outage; anything else is ledger_unavailable. Either way nothing is released.
 */
static enum apierr
append_error(int rc)
{
	if (rc == LEDGER_OK)
		return APIERR_NONE;
	return rc == LEDGER_EENTRY ? APIERR_INTERNAL : APIERR_LEDGER_UNAVAILABLE;
}

/* The deny entry of r's refusal. */
static void
deny_entry(const struct request *r, struct ledger_entry *le)
{
	entry_init(r, le, LEDGER_DENY);
	le->reason = apierr_code(r->d.error);
	le->subject = r->subject[0] != '\0' ? r->subject : NULL;
}

/* The answer to a refusal whose deny entry was committed at index. */
static void
refusal_reply(struct request *r, uint64_t index)
{
	const struct decision *d = &r->d;

	server_reply_error(r->req, d->error, d->message[0] != '\0' ? d->message : NULL);
	reply_index(r->req, index);
	if (d->retry_after > 0) {
		char buf[16];
		snprintf(buf, sizeof(buf), "%u", d->retry_after);
		server_reply_header(r->req, "Retry-After", buf);
	}
}

/*
 * The one exit of a refused data request (a page's; one member's is one_refuse). From step 4
 * on the deny entry is committed first, then the answer is made; a ledger that cannot record
 * the refusal turns it into ledger_unavailable — which refuses too, so nothing is ever
 * released unrecorded.
 */
static void
refuse(struct request *r)
{
	const struct decision *d = &r->d;
	const char *msg = d->message[0] != '\0' ? d->message : NULL;
	struct ledger_entry le;
	uint64_t index;
	enum apierr e;

	assert(d->error != APIERR_NONE);
	if (!d->recorded) {
		metrics_decision(r->api->metrics, METRICS_UNRECORDED, d->error, 1);
		server_reply_error(r->req, d->error, msg);
		return;
	}
	deny_entry(r, &le);
	if ((e = append_error(ledger_append(r->api->ledger, &le, 1, &index))) != APIERR_NONE) {
		metrics_decision(r->api->metrics, METRICS_UNRECORDED, e, 1);
		server_reply_error(r->req, e, NULL);
		return;
	}
	metrics_decision(r->api->metrics, METRICS_DENY, d->error, 1);
	refusal_reply(r, index);
}

static int
io_revoked(void *arg, const char *jti)
{
	struct partner_api *api = arg;
	int rc = tokenstore_is_revoked(api->tokenstore, jti);
	/* with several nodes, also revoked through another node (the shared state) */
	return rc == 0 && registry_token_revoked(api->registry, jti) ? 1 : rc;
}

static int
io_admit(void *arg, const struct contract *c, uint32_t want, int64_t now_ms, uint32_t *granted,
         uint32_t *retry_after)
{
	struct partner_api *api = arg;
	return ratelimit_admit(api->limits, c->id, (uint32_t)c->requests_per_minute,
	                       c->records_per_day, want, now_ms, granted, retry_after);
}

static int
io_take(void *arg, const char *jti, int64_t n, int64_t max, bool *ok)
{
	struct partner_api *api = arg;
	int rc = tokenstore_take(api->tokenstore, jti, n, max, ok);
	return rc == TOKENSTORE_EUNAVAILABLE ? DECISION_TAKE_UNAVAILABLE : rc;
}

/* How the decision reaches the token store and the limits. */
static struct decision_io
request_io(struct request *r)
{
	return (struct decision_io){io_revoked, io_admit, io_take, r->api};
}

/*
 * Step 2 for the headers every data request reads, then steps 3 to 8 (decision_request) for a
 * request that could release want records. APIERR_NONE to go on, else r->d is refused.
 */
static enum apierr
decide(struct request *r, uint32_t want)
{
	struct server_request *req = r->req;
	struct decision_facts f = {
	    .partner = r->id->id,
	    .x5t = r->id->x5t,
	    .tokens = r->api->tokens,
	    .now = r->now,
	    .now_ms = r->now_ms,
	    .want = want,
	};
	struct decision_io io = request_io(r);

	if (server_request_header(req, "X-Purpose", HDR_ID_MAX, &f.purpose) < 0 ||
	    server_request_header(req, "X-Contract", HDR_ID_MAX, &f.contract) < 0 ||
	    server_request_header(req, "X-Justification", HDR_JUSTIFICATION_MAX, &f.justification) <
	        0) {
		decision_refuse(&r->d, DECISION_STEP_REQUEST, APIERR_BAD_REQUEST,
		                "X-Purpose, X-Contract or X-Justification is repeated, empty, "
		                "too long or holds control characters");
		return r->d.error;
	}
	f.authorization_unusable =
	    server_request_header(req, "Authorization", HDR_AUTH_MAX, &f.authorization) < 0;
	r->state_gen =
	    state_gen_of(registry_suspensions(r->api->registry, r->id->id, &f.gateway_suspended,
	                                      &f.partner_suspended),
	                 r->api->subjects);
	r->view = registry_acquire(r->api->registry);
	f.contracts = r->view->contracts;
	f.catalog = r->view->catalog;
	decision_request(&r->d, &f, &io);
	if (r->d.purpose_logged)
		server_request_set_purpose(req, r->d.purpose);
	return r->d.error;
}

/* Starts a data request. 0, or -1 with r->d refused. */
static int
begin(struct request *r, struct server_request *req, void *app)
{
	struct timeval tv;

	memset(r, 0, sizeof(*r));
	r->req = req;
	r->api = app;
	r->id = server_request_identity(req);
	gettimeofday(&tv, NULL);
	r->now = tv.tv_sec;
	r->now_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	if (r->id == NULL) { /* the partner listener requires a certificate: a server bug */
		decision_refuse(&r->d, DECISION_STEP_CERTIFICATE, APIERR_INTERNAL, NULL);
		return -1;
	}
	return 0;
}

/* Gives back the volume a data request reserved and did not release, and the view. */
static void
finish_quota(struct request *r)
{
	if (r->d.granted > 0)
		ratelimit_settle(r->api->limits, r->d.contract->id, r->d.granted, r->used,
		                 r->now_ms);
	registry_release(r->api->registry, r->view);
}

/* Ends a data request: answers a refusal, then finish_quota. */
static void
finish(struct request *r)
{
	if (r->d.error != APIERR_NONE)
		refuse(r);
	finish_quota(r);
}

/*
 * Steps 9 (the record's check) and 10 (decision_member), and the building of 11, for one
 * member's bytes: the answer is appended to out and located by m->off, m->len; m->item_v must
 * have room for the purpose's fields. APIERR_NONE with m filled (m->refused set, and nothing
 * appended, if a member rule withholds it), or an error that refuses the whole request at
 * *step, with *why_out set (in why, or a fixed text).
 */
static enum apierr
build_member(const struct request *r, const EVP_MD *sha256, const char *member_id,
             const char *subject, const char *bytes, size_t len, struct buf *out,
             struct released *m, char *why, size_t whylen, const char **why_out,
             enum decision_step *step)
{
	/* members' stop requests, in force before the member system has changed the record */
	unsigned held = subjects_restrictions(r->api->subjects, subject);
	struct decision_verdict v =
	    decision_member(&r->d, r->view->catalog, r->api->max_record_bytes, member_id, held,
	                    bytes, len, why, whylen);
	enum apierr e;

	*why_out = NULL;
	*step = DECISION_STEP_ORIGIN;
	m->held = held;
	if (v.error != APIERR_NONE) {
		*why_out = v.why;
		return v.error;
	}
	if (v.withheld != APIERR_NONE) {
		m->refused = v.withheld;
		m->why = v.why;
		return APIERR_NONE;
	}
	*step = DECISION_STEP_RELEASE;
	m->off = out->len;
	const struct release_plan *plan = registry_plan(r->view, r->d.cp);
	e = plan != NULL ? release_plan_build(plan, v.record, r->now, out, m->item_v, &m->n_items,
	                                      why, whylen)
	                 : release_build(r->d.contract, r->d.cp, v.record, r->api->pseudo, r->now,
	                                 out, m->item_v, &m->n_items, why, whylen);
	json_decref(v.record);
	if (e != APIERR_NONE) {
		*why_out = why;
		return e;
	}
	m->len = out->len - m->off;
	sha256_hex(sha256, out->data + m->off, m->len, m->digest);
	return APIERR_NONE;
}

/* Step 11 for the entries of a request that releases: committed before a byte is queued. */
static int
commit(struct request *r, const struct ledger_entry *le, size_t n, uint64_t *index)
{
	int rc = ledger_append(r->api->ledger, le, n, index);
	enum apierr e = append_error(rc);

	if (rc == LEDGER_ESTATE)
		return refuse_stale(r) ? PARTNER_REFUSED : PARTNER_RESTRICTED;
	if (rc == LEDGER_EVOLUME)
		return partner_readmit(r, ++r->volume_tries) == 1 ? PARTNER_READMITTED
		                                                  : PARTNER_REFUSED;
	if (e != APIERR_NONE) {
		decision_refuse(&r->d, DECISION_STEP_RELEASE, e, NULL);
		return -1;
	}
	return 0;
}

/*
 * A request for one member while its entry commits: what the writer's callback (one_done) needs
 * to answer it. The entry itself is not kept: ledger_append_async has made its leaf by the time
 * it returns. The connection stays suspended meanwhile (server_request_defer), so the request's
 * headers and identity, which the decision borrows, stay valid.
 */
struct one {
	struct request r;
	struct released m;      /* the member, once built */
	struct workq_item work; /* on the handler pool, for the work order's take (one_take) */
	struct buf text;        /* the answer, made before its release entry is committed */
	bool release;  /* the entry being committed releases; else it records r.d's refusal */
	bool taken;    /* the work order's count covers the member */
	bool deferred; /* the connection waits for server_request_resume */
};

/*
 * Ends o, which exactly one path of the request reaches: gives back the volume it reserved and
 * did not release and the view, then lets the connection send the answer.
 */
static void
one_finish(struct one *o)
{
	struct server_request *req = o->r.req;
	bool deferred = o->deferred;

	finish_quota(&o->r);
	buf_free(&o->text);
	free(o->m.item_v);
	free(o);
	if (deferred)
		server_request_resume(req); /* the last touch of the request */
}

static void one_append(struct one *o, const struct ledger_entry *le);
static void one_commit(struct one *o);
static void one_release(struct one *o);

/*
 * The refusal of a single-member request, as refuse() answers it: unrecorded at once, else once
 * its deny entry is committed (one_done), a ledger that cannot record it answering
 * ledger_unavailable.
 */
static void
one_refuse(struct one *o)
{
	struct request *r = &o->r;
	struct ledger_entry le;

	assert(r->d.error != APIERR_NONE);
	if (!r->d.recorded) {
		metrics_decision(r->api->metrics, METRICS_UNRECORDED, r->d.error, 1);
		server_reply_error(r->req, r->d.error,
		                   r->d.message[0] != '\0' ? r->d.message : NULL);
		one_finish(o);
		return;
	}
	o->release = false;
	deny_entry(r, &le);
	one_append(o, &le);
}

/*
 * Step 11's outcome, on the writer thread once the batch's COMMIT returned (or failed): only
 * now is the answer made — the release with its index, or the refusal — and the connection
 * resumed. Short, and it never waits for the writer: a deny entry after a failed release is
 * queued for the next batch, not waited for.
 */
static void
one_done(void *arg, int rc, uint64_t index)
{
	struct one *o = arg;
	struct request *r = &o->r;
	enum apierr e = append_error(rc);

	if (rc == LEDGER_ESTATE && o->release) {
		if (!refuse_stale(r)) { /* the member's restrictions changed: step 10 again */
			unsigned mask, held = partner_held(r, r->subject, &mask);
			const char *why;
			enum apierr w =
			    policy_check_restrictions(r->d.contract, r->d.cp, held, &why);
			if (w == APIERR_NONE) {
				o->m.held = held;
				one_release(o);
				return;
			}
			decision_refuse(&r->d, DECISION_STEP_MEMBER, w, why);
		}
		one_refuse(o);
		return;
	}
	if (rc == LEDGER_EVOLUME && o->release) {
		if (partner_readmit(r, ++r->volume_tries) == 1)
			one_commit(o); /* the day turned or the limit grew: released after all */
		else
			one_refuse(o);
		return;
	}
	if (e != APIERR_NONE) {
		if (o->release) { /* as commit(), then refuse(), would */
			decision_refuse(&r->d, DECISION_STEP_RELEASE, e, NULL);
			one_refuse(o);
			return;
		}
		metrics_decision(r->api->metrics, METRICS_UNRECORDED, e, 1);
		server_reply_error(r->req, e, NULL);
	} else if (o->release) {
		metrics_decision(r->api->metrics, METRICS_RELEASE, APIERR_NONE, 1);
		r->used = 1;
		server_reply_take(r->req, 200, "application/json", o->text.data, o->text.len);
		o->text.data = NULL;
		buf_free(&o->text);
		reply_index(r->req, index);
	} else {
		metrics_decision(r->api->metrics, METRICS_DENY, r->d.error, 1);
		refusal_reply(r, index);
	}
	one_finish(o);
}

/*
 * Commits le for o and answers once it is durable: through the writer's callback while the
 * connection waits, or — once the listener is stopping and nothing may wait any more — here,
 * blocking. o may be gone when this returns.
 */
static void
one_append(struct one *o, const struct ledger_entry *le)
{
	struct ledger *l = o->r.api->ledger;
	uint64_t index = 0;
	int rc;

	if (!o->deferred)
		o->deferred = server_request_defer(o->r.req);
	if (!o->deferred) {
		rc = ledger_append(l, le, 1, &index);
		one_done(o, rc, index);
		return;
	}
	if ((rc = ledger_append_async(l, le, 1, one_done, o)) != LEDGER_OK)
		one_done(o, rc, 0);
}

/* Steps 8's take and 11 for o's member, built: o is one_done's from here on. */
static void
one_commit(struct one *o)
{
	struct request *r = &o->r;
	struct decision_io io = request_io(r);

	if (!o->taken && decision_take_records(&r->d, &io, 1) != APIERR_NONE) {
		r->subject[0] = '\0'; /* the work order refuses, not the member: no subject */
		one_refuse(o);
		return;
	}
	o->taken = true; /* once: a release made again after step 8 is not counted twice */
	one_release(o);
}

/* Step 11 for o's member, built and taken: its release entry appended. */
static void
one_release(struct one *o)
{
	struct request *r = &o->r;
	struct ledger_entry le;

	entry_init(r, &le, LEDGER_RELEASE); /* step 11: committed before a byte is queued */
	le.subject = r->subject;
	le.items = o->m.item_v;
	le.n_items = o->m.n_items;
	le.digest = o->m.digest;
	le.restrictions = o->m.held;
	le.restrict_mask = policy_restrictions_mask(r->d.contract, r->d.cp);
	o->release = true;
	one_append(o, &le); /* le's strings are copied into its leaf before this returns */
}

/* one_commit on a handler thread: a work order's take writes the token store (an fsync). */
static void
one_take(struct workq_item *w)
{
	one_commit((struct one *)(void *)((char *)w - offsetof(struct one, work)));
}

/*
 * The one member of GET /v1/members/{member_id}, from step 9 on, under a decision that went on.
 * True once o has gone on to one_commit (o belongs to it from then on); false with o->r.d
 * refused.
 */
static bool
release_one(struct one *o, const char *member_id)
{
	struct request *r = &o->r;
	struct released *m = &o->m;
	char *bytes = NULL, whybuf[RELEASE_WHY_MAX];
	const char *why;
	enum decision_step step;
	size_t len;
	enum apierr e;
	bool built = false;

	if (pseudo_subject(r->api->pseudo, member_id, r->subject) != 0) {
		r->subject[0] = '\0';
		decision_refuse(&r->d, DECISION_STEP_ORIGIN, APIERR_INTERNAL, NULL);
		return false;
	}
	e = origin_get(r->api->origin, member_id, &bytes, &len);
	if (e != APIERR_NONE) {
		decision_refuse(&r->d, DECISION_STEP_ORIGIN, e, NULL);
		goto done;
	}
	m->item_v = calloc(r->d.cp->nfields ? r->d.cp->nfields : 1, sizeof(*m->item_v));
	if (m->item_v == NULL) {
		decision_refuse(&r->d, DECISION_STEP_ORIGIN, APIERR_INTERNAL, NULL);
		goto done;
	}
	e = build_member(r, EVP_sha256(), member_id, r->subject, bytes, len, &o->text, m, whybuf,
	                 sizeof(whybuf), &why, &step);
	if (e != APIERR_NONE) {
		decision_refuse(&r->d, step, e, why);
		goto done;
	}
	if (m->refused != APIERR_NONE) {
		decision_refuse(&r->d, DECISION_STEP_MEMBER, m->refused, m->why);
		goto done;
	}
	assert(m->off == 0 && m->len == o->text.len);
	built = true;
done:
	free(bytes);
	if (!built)
		return false;
	/* a work order's max_records is counted in the token store, a durable write: never on
	   an event thread (the condition is decision_take_records's) */
	if (r->d.has_token && r->d.claims.max_records > 0 && server_request_on_event(r->req) &&
	    (o->deferred || (o->deferred = server_request_defer(r->req)))) {
		o->work = (struct workq_item){.run = one_take};
		if (server_request_to_pool(r->req, &o->work))
			return true;
	}
	one_commit(o);
	return true;
}

/*
 * GET /v1/members/{member_id}. Everything is decided and made here — the decision, the record,
 * the answer, its entry — and the entry queued for the ledger's next group commit; the writer's
 * callback (one_done) answers once it is durable. So the request crosses the ledger writer and
 * no other thread: no handler thread sleeps through the commit.
 */
static void
member_one(struct server_request *req, void *app)
{
	const char *member_id = server_request_param(req, 0);
	struct one *o = calloc(1, sizeof(*o));

	if (o == NULL) {
		server_reply_error(req, APIERR_INTERNAL, NULL);
		return;
	}
	struct request *r = &o->r;
	if (begin(r, req, app) == 0) {
		if (member_id == NULL || !ident_member_ok(member_id, strlen(member_id)) ||
		    server_request_query_only(req, (const char *const[]){NULL}) != 0)
			decision_refuse(&r->d, DECISION_STEP_REQUEST, APIERR_BAD_REQUEST,
			                "member_id must match " IDENT_MEMBER_PATTERN
			                ", with no query");
		else if (decide(r, 1) == APIERR_NONE && release_one(o, member_id))
			return; /* o is one_done's */
	}
	one_refuse(o);
}

/* What the pages (partner_page.c) share of the request path: partner_int.h. */
void
partner_entry_init(const struct request *r, struct ledger_entry *e, enum ledger_kind kind)
{
	entry_init(r, e, kind);
}

void
partner_reply_index(struct server_request *req, uint64_t index)
{
	reply_index(req, index);
}

struct decision_io
partner_request_io(struct request *r)
{
	return request_io(r);
}

enum apierr
partner_decide(struct request *r, uint32_t want)
{
	return decide(r, want);
}

int
partner_begin(struct request *r, struct server_request *req, void *app)
{
	return begin(r, req, app);
}

void
partner_finish(struct request *r)
{
	finish(r);
}

enum apierr
partner_build_member(const struct request *r, const EVP_MD *sha256, const char *member_id,
                     const char *subject, const char *bytes, size_t len, struct buf *out,
                     struct released *m, char *why, size_t whylen, const char **why_out,
                     enum decision_step *step)
{
	return build_member(r, sha256, member_id, subject, bytes, len, out, m, why, whylen, why_out,
	                    step);
}

int
partner_commit(struct request *r, const struct ledger_entry *le, size_t n, uint64_t *index)
{
	return commit(r, le, n, index);
}

/* GET /v1/whoami: the certificate's partner and, per contract in force, what it may receive. */
static void
whoami(struct server_request *req, void *app)
{
	struct partner_api *api = app;
	const struct tlsauth_identity *id = server_request_identity(req);
	const struct registry_view *v;
	const struct contract *const *pc;
	json_t *doc, *list;
	char fp[8 + sizeof id->fingerprint];
	size_t n;

	if (id == NULL) {
		server_reply_error(req, APIERR_INTERNAL, NULL);
		return;
	}
	if (server_request_query_only(req, (const char *const[]){NULL}) != 0) {
		server_reply_error(req, APIERR_BAD_REQUEST, "whoami takes no query");
		return;
	}
	snprintf(fp, sizeof fp, "sha256:%s", id->fingerprint);
	v = registry_acquire(api->registry);
	n = contract_set_partner(v->contracts, id->id, &pc);
	list = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct contract *c = pc[i];
		if (!contract_in_force(c, time(NULL)))
			continue;
		json_t *purposes = json_object();
		for (size_t k = 0; k < c->npurposes; k++) {
			const struct contract_purpose *cp = &c->purposes[k];
			json_t *fields = json_array();
			for (size_t f = 0; f < cp->nwritten; f++)
				json_array_append_new(fields, json_string(cp->written[f]));
			json_object_set_new(purposes, cp->id,
			                    json_pack("{s:o,s:s,s:b}", "fields", fields, "kind",
			                              catalog_kind_name(cp->purpose->kind),
			                              "requires_consent", cp->requires_consent));
		}
		json_array_append_new(
		    list,
		    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:o}", "id", c->id, "relationship",
		              contract_relationship_name(c->relationship), "country", c->country,
		              "status", contract_status_name(c->status), "valid_from",
		              c->valid_from_text, "valid_until", c->valid_until_text,
		              "token_required", c->token_required, "purposes", purposes));
	}
	doc = json_pack("{s:s,s:s,s:b,s:o}", "partner", id->id, "certificate", fp, "suspended",
	                registry_partner_suspended(api->registry, id->id), "contracts", list);
	registry_release(api->registry, v);
	server_reply_json(req, 200, doc);
}

/*
 * A single member with the embedded origin is decided and made on the event thread: nothing of
 * it blocks (the record is read from the WAL-mode file in microseconds, revocations and
 * suspensions are in memory) but a work order's take, which goes to the pool (release_one),
 * and the commit, which is waited for by the writer's callback. An HTTP origin blocks: its
 * requests, the pages and the rest stay on the handler pool.
 */
bool
partner_on_event(const struct server_route *route, void *app)
{
	struct partner_api *api = app;

	return route->handler == member_one && !origin_blocks(api->origin);
}

const struct server_route partner_routes[] = {
    {"GET", "/v1/whoami", whoami, NULL},
    {"GET", "/v1/members/{}", member_one, NULL},
    {"GET", "/v1/members", partner_member_page, NULL},
    {"GET", "/v1/ledger/checkpoint", partner_ledger_checkpoint, NULL},
    {"GET", "/v1/ledger/receipts/{}", partner_ledger_receipt, NULL},
};
const size_t partner_nroutes = sizeof(partner_routes) / sizeof(partner_routes[0]);
