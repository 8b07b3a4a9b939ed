/* partner_page — the partner API's pages: GET /v1/members?limit=N&after=ID, built on a pool of
 * threads, the next page built while a page commits and goes out. */
#include <assert.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cal.h"
#include "ident.h"
#include "now.h"
#include "partner.h"
#include "partner_int.h"
#include "release.h"
#include "workq.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000

/*
 * A page being built. The origin's records are copied in member_id order (the origin lends
 * them only during its callback), then built in chunks of consecutive members, each chunk
 * into its own text; the answer joins the texts in order.
 */
struct page {
	struct request *r;
	const EVP_MD *sha256; /* fetched once for the page, not implicitly for each member */
	struct released *m;
	size_t n, cap;
	struct buf records; /* every member's origin bytes, one after the other */
	const char **items; /* cp->nfields per member: their ledger items */
	enum apierr error;  /* a member the origin sent wrongly: m[n-1] */
	const char *why;
};

/* Members lo..hi-1 of a page, built by one thread. */
struct chunk {
	struct page *page;
	size_t lo, hi;
	struct workq_item work;  /* in the pool's queue, in the page's group */
	struct buf text;         /* the answers released, separated by commas */
	enum apierr error;       /* the first member that refuses the whole page */
	enum decision_step step; /* the step it refused at */
	const char *why;
	char whybuf[RELEASE_WHY_MAX];
};

static int
page_each(void *arg, const char *member_id, const char *record, size_t len)
{
	struct page *p = arg;
	struct released *r;

	if (p->n == p->cap) { /* origin_page never sends more than asked: cap is the limit */
		p->error = APIERR_ORIGIN_INVALID;
		return 1;
	}
	if (!ident_member_ok(member_id, strlen(member_id))) {
		p->error = APIERR_ORIGIN_INVALID;
		p->why = "the origin sent a malformed member_id";
		return 1;
	}
	r = &p->m[p->n];
	r->rec_off = p->records.len;
	r->rec_len = len;
	if (buf_add(&p->records, record, len) != 0) {
		p->error = APIERR_INTERNAL;
		return 1;
	}
	snprintf(r->member_id, sizeof(r->member_id), "%s", member_id);
	r->item_v = p->items + p->n * p->r->d.cp->nfields;
	p->n++;
	return 0;
}

/*
 * Builds a chunk's members in order and stops at the first that refuses the whole page, as
 * one thread going through the page would: the earliest failure in member order decides.
 */
static void
chunk_build(struct chunk *c)
{
	struct page *p = c->page;
	size_t sent = 0;

	for (size_t i = c->lo; i < c->hi; i++) {
		struct released *r = &p->m[i];
		size_t mark = c->text.len;
		if (pseudo_subject(p->r->api->pseudo, r->member_id, r->subject) != 0 ||
		    (sent > 0 && buf_add(&c->text, ",", 1) != 0)) {
			c->error = APIERR_INTERNAL;
			c->step = DECISION_STEP_RELEASE;
			return;
		}
		c->error = partner_build_member(p->r, p->sha256, r->member_id, r->subject,
		                                p->records.data + r->rec_off, r->rec_len, &c->text,
		                                r, c->whybuf, sizeof(c->whybuf), &c->why, &c->step);
		if (c->error != APIERR_NONE)
			return;
		if (r->refused != APIERR_NONE) {
			buf_truncate(&c->text,
			             mark); /* withheld: nothing of it, not even the comma */
			continue;
		}
		sent++;
	}
}

/* A chunk on the pool (or a thread that helps it). */
static void
chunk_run(struct workq_item *w)
{
	chunk_build((struct chunk *)(void *)((char *)w - offsetof(struct chunk, work)));
}

/*
 * The page body, assembled from the very texts whose digests the ledger holds, so that each
 * member's bytes in the answer hash to its entry's digest: every member of m released (a
 * member withheld after its chunk was built, its restrictions changed, is left out).
 */
static char *
page_body(struct chunk *c, size_t nchunks, const struct released *m, const char *next,
          size_t withheld, size_t *len)
{
	struct buf t = {0};
	char tail[160];
	json_t *nx = next ? json_string(next) : json_null();
	char *nxs = json_dumps(nx, JSON_ENCODE_ANY);
	int bad = nxs == NULL;
	bool any = false;

	bad |= buf_add(&t, "{\"members\":[", 12);
	for (size_t i = 0; i < nchunks && !bad; i++)
		for (size_t k = c[i].lo; k < c[i].hi && !bad; k++) {
			if (m[k].refused != APIERR_NONE)
				continue;
			if (any)
				bad |= buf_add(&t, ",", 1);
			bad |= buf_add(&t, c[i].text.data + m[k].off, m[k].len);
			any = true;
		}
	if (!bad) {
		snprintf(tail, sizeof(tail), "],\"next\":%s,\"withheld\":%zu}", nxs, withheld);
		bad |= buf_add(&t, tail, strlen(tail));
	}
	free(nxs);
	json_decref(nx);
	if (bad) {
		buf_free(&t);
		return NULL;
	}
	*len = t.len;
	return t.data;
}

/*
 * The threads that build a page's chunks while the request's own thread builds one too: a
 * page of 1,000 records is CPU work that one request thread would do on one core. Chunks
 * of every page wait in one queue, in order; the request's thread also takes queued chunks
 * while it waits for its own (workq_wait_helping), so no page waits on an idle core.
 */
static struct partner_spec *spec_cache_new(void);
static void spec_cache_free(struct partner_api *api);

#define CHUNK_MIN 32        /* members: fewer are not worth a hand-over */
#define CHUNKS_PER_THREAD 4 /* smaller chunks even out what the members cost */

int
partner_api_start(struct partner_api *api, char *err, size_t errlen)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	char why[96];

	if ((api->spec = spec_cache_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	api->pool = workq_start(cores > 1 ? (unsigned)cores : 1, why, sizeof why);
	if (api->pool == NULL) {
		spec_cache_free(api);
		snprintf(err, errlen, "page builder threads: %s", why);
		return -1;
	}
	return 0;
}

void
partner_api_stop(struct partner_api *api)
{
	workq_stop(api->pool); /* runs the pages being built ahead to their end */
	api->pool = NULL;
	spec_cache_free(api);
}

/*
 * Builds the members the origin sent, in chunks of consecutive members: on the pool's
 * threads and this one when the API was started and the page is big enough, else here.
 * *chunks (caller frees, with each chunk's text) gets their results in member order; returns
 * how many, at least one, or 0 when memory runs out.
 */
static size_t
page_build(struct page *p, struct chunk **chunks)
{
	struct workq *pool = p->r->api->pool;
	struct workq_group built = {0};
	size_t n = 1;

	if (pool != NULL && p->n >= 2 * CHUNK_MIN) {
		n = (workq_threads(pool) + 1) * CHUNKS_PER_THREAD;
		if (n > p->n / CHUNK_MIN)
			n = p->n / CHUNK_MIN;
	}
	struct chunk *c = calloc(n, sizeof(*c));
	*chunks = c;
	if (c == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		c[i].page = p;
		c[i].lo = p->n * i / n;
		c[i].hi = p->n * (i + 1) / n;
		c[i].work =
		    (struct workq_item){i + 1 < n ? &c[i + 1].work : NULL, chunk_run, &built};
	}
	if (n == 1) {
		chunk_build(&c[0]);
		return 1;
	}
	/* help with whatever is queued (this page's chunks or another's) until ours are built */
	if (workq_push(pool, &c[0].work, NULL, NULL))
		workq_wait_helping(pool, &built);
	else /* the pool stopped; it stops after the listener, so only a bug gets here */
		for (size_t i = 0; i < n; i++)
			chunk_build(&c[i]);
	return n;
}

/* Reads the members after `after` (up to cap) and builds them: p, *chunks, *nchunks, *next and
 * *oe as page_each, page_build and origin_page leave them. 0, or -1 when memory ran out. */
static int
page_make(struct request *r, const char *after, uint32_t cap, const EVP_MD *sha256, struct page *p,
          struct chunk **chunks, size_t *nchunks, char **next, enum apierr *oe)
{
	p->r = r;
	p->sha256 = sha256;
	p->cap = cap;
	p->m = calloc(cap ? cap : 1, sizeof(*p->m));
	p->items = calloc((size_t)cap * r->d.cp->nfields + 1, sizeof(*p->items));
	if (sha256 == NULL || p->m == NULL || p->items == NULL)
		return -1;
	*oe = origin_page(r->api->origin, after, cap, page_each, p, next); /* step 9 */
	*nchunks = page_build(p, chunks);                                  /* steps 9, 10 */
	buf_free(&p->records); /* the answers and entries need only what was built */
	return *nchunks == 0 ? -1 : 0;
}

static void
page_free(struct page *p, struct chunk *chunks, size_t nchunks)
{
	for (size_t i = 0; i < nchunks; i++)
		buf_free(&chunks[i].text);
	free(chunks);
	buf_free(&p->records);
	free(p->items);
	free(p->m);
}

/*
 * The next page, built ahead (docs/performance.md, "Bulk pages"). Once a page is built, the
 * page after it is read and built on the pool for the same partner, certificate, work order,
 * contract, purpose, limit and cursor, while this page's entries commit and its answer goes
 * out. The request for it uses it only if nothing the build read has changed since the build
 * began: the same contracts (the view the build held), the same Japanese day (age bands), no
 * change of the members' restrictions (subjects_generation) and none of the member records
 * (origin_version, taken before the read). Everything else is the request's own: its
 * certificate, token, revocation, suspensions, limits and work-order count are checked for it
 * as for any request (decide), and its ledger entries — time, request id, indexes — are made
 * and committed for it before its answer, as for a page built on the spot. A page built ahead
 * has no entry and is never sent by itself. Any doubt (an HTTP origin, which cannot say whether
 * its records changed; a reload; a failed read) drops it and the request builds its page.
 *
 * At most SPEC_SLOTS pages wait, each holding its members' answers (about the size of the
 * page's answer) and its registry view; a page not asked for is dropped for a newer one.
 */
#define SPEC_SLOTS 2
#define SPEC_TTL_MS 10000 /* a page built ahead that no request took for this long is dropped */

struct spec {
	/* what a request must ask to be given it */
	char partner[TLSAUTH_ID_MAX + 1];
	char fingerprint[65];
	bool has_token;
	char jti[TOKEN_JTI_MAX + 1];
	char after[IDENT_MEMBER_MAX + 1];
	uint32_t cap;
	/* what must not have changed, as they were before the read */
	const struct registry_view *view; /* held until freed */
	const struct contract *contract;
	const struct contract_purpose *cp;
	int64_t day; /* cal_jst_day of the build's time */
	uint64_t origin_version, subjects_generation;
	int64_t made_ms; /* monotonic */
	/* the build, under partner_spec.lock until ready */
	bool ready, failed;
	struct request rq; /* the request it follows, without its server request */
	struct page p;
	struct chunk *chunks;
	size_t nchunks;
	char *next;
	enum apierr oe;
	EVP_MD *sha256;
	struct workq_item work;
};

struct partner_spec {
	pthread_mutex_t lock;
	pthread_cond_t ready; /* a page built ahead is ready */
	struct spec *slot[SPEC_SLOTS];
};

static struct partner_spec *
spec_cache_new(void)
{
	struct partner_spec *ps = calloc(1, sizeof(*ps));

	if (ps != NULL) {
		pthread_mutex_init(&ps->lock, NULL);
		pthread_cond_init(&ps->ready, NULL);
	}
	return ps;
}

static void
spec_free(struct partner_api *api, struct spec *s)
{
	if (s == NULL)
		return;
	page_free(&s->p, s->chunks, s->nchunks);
	free(s->next);
	EVP_MD_free(s->sha256);
	registry_release(api->registry, s->view);
	free(s);
}

/* After the pool stopped: every page built ahead is ready, none is being built. */
static void
spec_cache_free(struct partner_api *api)
{
	struct partner_spec *ps = api->spec;

	if (ps == NULL)
		return;
	for (size_t i = 0; i < SPEC_SLOTS; i++) {
		assert(ps->slot[i] == NULL || ps->slot[i]->ready);
		spec_free(api, ps->slot[i]);
	}
	pthread_cond_destroy(&ps->ready);
	pthread_mutex_destroy(&ps->lock);
	free(ps);
	api->spec = NULL;
}

/* On the pool: the page built ahead. It is not touched after it is marked ready. */
static void
spec_run(struct workq_item *w)
{
	struct spec *s = (struct spec *)(void *)((char *)w - offsetof(struct spec, work));
	struct partner_spec *ps = s->rq.api->spec;
	int rc = page_make(&s->rq, s->after, s->cap, s->sha256, &s->p, &s->chunks, &s->nchunks,
	                   &s->next, &s->oe);

	pthread_mutex_lock(&ps->lock);
	s->failed = rc != 0;
	s->ready = true;
	pthread_cond_broadcast(&ps->ready);
	pthread_mutex_unlock(&ps->lock);
}

/*
 * Starts building the page after `after` for the request r that was just answered with the
 * page before it, if a slot is free (or holds a page built ahead that is ready and older).
 */
static void
spec_start(struct request *r, const char *after, uint32_t cap)
{
	struct partner_api *api = r->api;
	struct partner_spec *ps = api->spec;
	struct spec *s, *old = NULL;
	size_t i, pick = SPEC_SLOTS;

	if (ps == NULL || api->pool == NULL || (s = calloc(1, sizeof(*s))) == NULL)
		return;
	/* before the read: a change from now on is seen as one by the request that asks */
	if (origin_version(api->origin, &s->origin_version) != 0) {
		free(s); /* an origin that cannot say whether its records changed */
		return;
	}
	s->subjects_generation = subjects_generation(api->subjects);
	s->view = registry_acquire(api->registry);
	snprintf(s->partner, sizeof(s->partner), "%s", r->id->id);
	snprintf(s->fingerprint, sizeof(s->fingerprint), "%s", r->id->fingerprint);
	s->has_token = r->d.has_token;
	if (s->has_token)
		snprintf(s->jti, sizeof(s->jti), "%s", r->d.claims.jti);
	snprintf(s->after, sizeof(s->after), "%s", after);
	s->cap = cap;
	s->contract = r->d.contract;
	s->cp = r->d.cp;
	s->day = cal_jst_day(r->now_ms);
	s->made_ms = now_mono_ms();
	s->rq = *r;
	s->rq.req = NULL;
	s->rq.id = NULL; /* the connection's: the build reads only the decision, view and api */
	s->rq.view = s->view;
	s->rq.d.justification = NULL; /* the request's header: the entries take the asker's */
	s->work = (struct workq_item){NULL, spec_run, NULL};
	if (s->view != r->view || strlen(after) >= sizeof(s->after) ||
	    (s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		spec_free(api, s); /* the contracts were reloaded meanwhile */
		return;
	}
	pthread_mutex_lock(&ps->lock);
	for (i = 0; i < SPEC_SLOTS; i++) {
		struct spec *o = ps->slot[i];
		if (o == NULL) {
			pick = i;
			break;
		}
		if (o->ready && (pick == SPEC_SLOTS || o->made_ms < ps->slot[pick]->made_ms))
			pick = i;
	}
	if (pick < SPEC_SLOTS) {
		old = ps->slot[pick];
		ps->slot[pick] = s;
		/* under the lock, so that a request that finds it also finds it queued */
		if (!workq_push(api->pool, &s->work, NULL, NULL)) {
			ps->slot[pick] = old; /* stopping */
			old = s;
		}
	} else {
		old = s; /* both slots being built: none more */
	}
	pthread_mutex_unlock(&ps->lock);
	spec_free(api, old);
}

/*
 * The page built ahead for the request r asking for cap members after `after`, if one was and
 * nothing it read has changed; the caller then owns it. NULL otherwise, and *followed tells
 * whether one was built for this request (r follows a cursor, so the next is worth building).
 */
static struct spec *
spec_take(struct request *r, const char *after, uint32_t cap, bool *followed)
{
	struct partner_api *api = r->api;
	struct partner_spec *ps = api->spec;
	struct spec *s = NULL, *stale[SPEC_SLOTS] = {NULL};
	int64_t now = now_mono_ms();
	uint64_t version;

	*followed = false;
	if (ps == NULL || after == NULL)
		return NULL;
	pthread_mutex_lock(&ps->lock);
	for (size_t i = 0; i < SPEC_SLOTS; i++) {
		struct spec *o = ps->slot[i];
		if (o == NULL)
			continue;
		if (s == NULL && o->cap == cap && strcmp(o->after, after) == 0 &&
		    strcmp(o->partner, r->id->id) == 0 &&
		    strcmp(o->fingerprint, r->id->fingerprint) == 0 &&
		    o->has_token == r->d.has_token &&
		    (!o->has_token || strcmp(o->jti, r->d.claims.jti) == 0)) {
			s = o;
			ps->slot[i] = NULL;
		} else if (o->ready && now - o->made_ms > SPEC_TTL_MS) {
			stale[i] = o;
			ps->slot[i] = NULL;
		}
	}
	while (s != NULL && !s->ready)
		pthread_cond_wait(&ps->ready, &ps->lock);
	pthread_mutex_unlock(&ps->lock);
	for (size_t i = 0; i < SPEC_SLOTS; i++)
		spec_free(api, stale[i]);
	if (s == NULL)
		return NULL;
	*followed = true;
	/* now, after the request's own checks: the same contracts, day, restrictions, records */
	if (s->failed || s->view != r->view || s->contract != r->d.contract || s->cp != r->d.cp ||
	    s->day != cal_jst_day(r->now_ms) ||
	    subjects_generation(api->subjects) != s->subjects_generation ||
	    origin_version(api->origin, &version) != 0 || version != s->origin_version) {
		spec_free(api, s);
		return NULL;
	}
	return s;
}

/* Commits a page again after its members' restrictions changed under it at most this often
 * (each time, another change of them committed meanwhile); then 503, nothing released. */
#define PAGE_AGAIN_MAX 3

/*
 * One entry per member: a release for each one sent, a deny (with the member rule that
 * withheld it) for each one left out. A page that reached no member records one release
 * entry without a subject, so that every answer has its entry.
 */
static void
page_entries(const struct request *r, const struct page *p, struct ledger_entry *le)
{
	unsigned mask = policy_restrictions_mask(r->d.contract, r->d.cp);

	partner_entry_init(r, &le[0], LEDGER_RELEASE);
	for (size_t i = 0; i < p->n; i++) {
		const struct released *m = &p->m[i];
		partner_entry_init(r, &le[i],
		                   m->refused == APIERR_NONE ? LEDGER_RELEASE : LEDGER_DENY);
		le[i].subject = m->subject;
		if (m->refused == APIERR_NONE) {
			le[i].items = m->item_v;
			le[i].n_items = m->n_items;
			le[i].digest = m->digest;
			le[i].restrictions = m->held;
			le[i].restrict_mask = mask;
		} else {
			le[i].reason = apierr_code(m->refused);
		}
	}
}

/* The member rules' restrictions applied again to the members p released, with those in force
 * now (after r->state_gen was read again); how many more it withholds. */
static size_t
page_restrict(const struct request *r, struct page *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++) {
		struct released *m = &p->m[i];
		unsigned mask, held;
		if (m->refused != APIERR_NONE)
			continue;
		held = partner_held(r, m->subject, &mask);
		m->refused = policy_check_restrictions(r->d.contract, r->d.cp, held, &m->why);
		m->held = held;
		n += m->refused != APIERR_NONE;
	}
	return n;
}

/*
 * The page of GET /v1/members, from step 9 on, under a decision that went on, for
 * r->d.granted members; *taken of them already counted against the work order. 1 if the
 * shared daily volume refused it and step 8 reserved fewer records (make it again), else 0
 * (answered, or r->d refused).
 */
static int
release_page_once(struct request *r, const char *after, size_t *taken)
{
	struct decision_io io = partner_request_io(r);
	struct page p = {0};
	struct chunk *chunks = NULL;
	struct ledger_entry *le = NULL;
	const char *why = NULL;
	char *next = NULL, *body = NULL;
	size_t released = 0, withheld = 0, n_entries, len, nchunks = 0;
	uint32_t granted = r->d.granted;
	uint64_t index;
	EVP_MD *sha256 = NULL;
	enum decision_step step = DECISION_STEP_ORIGIN;
	enum apierr e, oe = APIERR_NONE;
	int again = 0;
	bool followed;
	struct spec *s = spec_take(r, after, granted, &followed);

	if (s != NULL) { /* built ahead, nothing it read changed: its members are this page's */
		p = s->p;
		p.r = r;
		chunks = s->chunks;
		nchunks = s->nchunks;
		next = s->next;
		oe = s->oe;
		sha256 = s->sha256;
		s->p = (struct page){0};
		s->chunks = NULL;
		s->nchunks = 0;
		s->next = NULL;
		s->sha256 = NULL;
		spec_free(r->api, s);
	} else if (page_make(r, after, granted, sha256 = EVP_MD_fetch(NULL, "SHA256", NULL), &p,
	                     &chunks, &nchunks, &next, &oe) != 0) {
		decision_refuse(&r->d, DECISION_STEP_ORIGIN, APIERR_INTERNAL, NULL);
		goto done;
	}
	/* the first failure in member order decides, as if the page were built one by one: a
	   member's, then the origin's on the member after the last one it sent */
	e = APIERR_NONE;
	for (size_t i = 0; i < nchunks && e == APIERR_NONE; i++) {
		e = chunks[i].error;
		why = chunks[i].why;
		step = chunks[i].step;
	}
	if (e == APIERR_NONE) {
		e = p.error != APIERR_NONE ? p.error : oe;
		why = p.error != APIERR_NONE ? p.why : NULL;
		step = DECISION_STEP_ORIGIN;
	}
	/* next goes back to the partner as the cursor: a member_id, or the origin's bytes would
	   be copied into the answer */
	if (e == APIERR_NONE && next != NULL && !ident_member_ok(next, strlen(next))) {
		e = APIERR_ORIGIN_INVALID;
		why = "the origin sent a malformed next";
	}
	if (e != APIERR_NONE) {
		decision_refuse(&r->d, step, e, why);
		goto done;
	}
	/* the next page while this one commits and goes out, for a client that follows the
	   cursor from the start: one that jumps about would waste it */
	if (next != NULL && (followed || after == NULL))
		spec_start(r, next, granted);
	for (size_t i = 0; i < p.n; i++)
		released += p.m[i].refused == APIERR_NONE;
	withheld = p.n - released;
	/* a page made again after step 8 counts only what the first did not */
	if (released > *taken &&
	    decision_take_records(&r->d, &io, released - *taken) != APIERR_NONE)
		goto done;
	*taken = released > *taken ? released : *taken;
	n_entries = p.n > 0 ? p.n : 1;
	le = calloc(n_entries, sizeof(*le));
	if (le == NULL) {
		decision_refuse(&r->d, DECISION_STEP_RELEASE, APIERR_INTERNAL, NULL);
		goto done;
	}
	for (int tries = 0;; tries++) {
		page_entries(r, &p, le);
		body = page_body(chunks, nchunks, p.m, next, withheld, &len);
		if (body == NULL) {
			decision_refuse(&r->d, DECISION_STEP_RELEASE, APIERR_INTERNAL, NULL);
			goto done;
		}
		int rc = partner_commit(r, le, n_entries, &index); /* step 11 */
		if (rc == PARTNER_COMMITTED)
			break;
		if (rc == PARTNER_READMITTED)
			again = 1;
		if (rc != PARTNER_RESTRICTED)
			goto done;
		free(body);
		body = NULL;
		if (tries == PAGE_AGAIN_MAX) {
			decision_refuse(&r->d, DECISION_STEP_RELEASE, APIERR_LEDGER_UNAVAILABLE,
			                NULL);
			goto done;
		}
		/* members' restrictions changed under the commit: step 10 again, with them */
		released -= page_restrict(r, &p);
		withheld = p.n - released;
	}
	metrics_decision(r->api->metrics, METRICS_RELEASE, APIERR_NONE, p.n > 0 ? released : 1);
	for (size_t i = 0; i < p.n && withheld > 0; i++)
		if (p.m[i].refused != APIERR_NONE)
			metrics_decision(r->api->metrics, METRICS_DENY, p.m[i].refused, 1);
	r->used = (uint32_t)released;
	server_reply_take(r->req, 200, "application/json", body, len);
	body = NULL;
	partner_reply_index(r->req, index);
done:
	page_free(&p, chunks, nchunks);
	free(le);
	free(body);
	free(next);
	EVP_MD_free(sha256);
	return again;
}

static void
release_page(struct request *r, const char *after)
{
	size_t taken = 0;

	while (release_page_once(r, after, &taken))
		;
}

/* GET /v1/members?limit=N&after=ID */
void
partner_member_page(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"limit", "after", NULL};
	const char *after = NULL;
	unsigned long limit;
	struct request r;

	if (partner_begin(&r, req, app) == 0) {
		if (server_request_query_only(req, allowed) != 0 ||
		    server_request_query_uint(req, "limit", 1, PAGE_MAX, PAGE_DEFAULT, &limit) !=
		        0 ||
		    server_request_query(req, "after", IDENT_MEMBER_MAX, &after) < 0 ||
		    (after != NULL && !ident_member_ok(after, strlen(after))))
			decision_refuse(&r.d, DECISION_STEP_REQUEST, APIERR_BAD_REQUEST,
			                "query: limit 1..1000, after a member_id, nothing else");
		else if (partner_decide(&r, (uint32_t)limit) == APIERR_NONE)
			release_page(&r, after);
	}
	partner_finish(&r);
}
