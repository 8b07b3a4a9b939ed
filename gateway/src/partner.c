/* partner — the partner API (SPEC 9): whoami, one member, pages; the decision order from step 2 on.
 */
#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "codec.h"
#include "partner.h"
#include "policy.h"
#include "release.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define MEMBER_ID_MAX 64
#define HDR_ID_MAX 64              /* X-Purpose, X-Contract */
#define HDR_JUSTIFICATION_MAX 2048 /* bytes: 512 code points of up to 4 bytes */
#define HDR_AUTH_MAX (TOKEN_MAX_BYTES + 16)

/*
 * What a request has established so far. Steps fill it in order; whatever is set when the
 * decision ends goes into its ledger entry, so a refusal records how far the request got.
 */
struct decision {
	struct server_request *req;
	struct partner_api *api;
	const struct registry_view *view;  /* held from step 4 to the end */
	const struct tlsauth_identity *id; /* step 1 */
	const char *purpose_hdr, *contract_hdr, *justification;
	const struct contract *contract;   /* steps 5-6 */
	const char *purpose;               /* step 7: declared or the work order's */
	const struct contract_purpose *cp; /* step 7 */
	bool has_token;
	struct token_claims claims; /* step 5 */
	time_t now;
	int64_t now_ms;
	char basis[POLICY_BASIS_MAX];
	uint32_t reserved; /* records of the day's volume reserved at step 8 */
	uint32_t used;     /* of them, released (committed) */
};

static bool
member_id_ok(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
			return false;
	return n >= 1 && n <= MEMBER_ID_MAX;
}

static void
sha256_hex(const EVP_MD *sha256, const char *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, sha256, NULL);
	codec_hex_encode(md, sizeof(md), out);
}

/* A ledger entry with everything the decision knows; the caller adds what is its own. */
static void
entry_init(const struct decision *d, struct ledger_entry *e, enum ledger_kind kind)
{
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->request = server_request_id(d->req);
	e->partner = d->id->id;
	e->cert = d->id->fingerprint;
	if (d->contract != NULL) {
		e->contract = d->contract->id;
		e->relationship = contract_relationship_name(d->contract->relationship);
	}
	/* a purpose enters the ledger only once the catalog knows it: headers are untrusted */
	if (d->purpose != NULL && d->view != NULL && catalog_purpose(d->view->catalog, d->purpose))
		e->purpose = d->purpose;
	if (d->cp != NULL) {
		e->basis = d->basis;
		if (d->cp->purpose->kind == CATALOG_KIND_EXCEPTION)
			e->justification = d->justification;
	}
	if (d->has_token)
		e->token = d->claims.jti;
}

static void
reply_index(struct server_request *req, uint64_t index)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)index);
	server_reply_header(req, "X-Ledger-Index", buf);
}

/*
 * Refuses the request from step 4 on: the deny entry is committed first, then the answer is
 * made. A ledger that cannot record the refusal turns it into ledger_unavailable — which
 * refuses too, so nothing is ever released unrecorded.
 */
static void
deny(struct decision *d, enum apierr e, const char *msg, const char *subject, uint32_t retry_after)
{
	struct ledger_entry le;
	uint64_t index;

	entry_init(d, &le, LEDGER_DENY);
	le.reason = apierr_code(e);
	le.subject = subject;
	if (ledger_append(d->api->ledger, &le, 1, &index) != 0) {
		server_reply_error(d->req, APIERR_LEDGER_UNAVAILABLE, NULL);
		return;
	}
	server_reply_error(d->req, e, msg);
	reply_index(d->req, index);
	if (retry_after > 0) {
		char buf[16];
		snprintf(buf, sizeof(buf), "%u", retry_after);
		server_reply_header(d->req, "Retry-After", buf);
	}
}

/* Step 2 for the headers every data request reads. 0, or -1 after answering 400. */
static int
read_headers(struct decision *d)
{
	struct server_request *req = d->req;

	if (server_request_header(req, "X-Purpose", HDR_ID_MAX, &d->purpose_hdr) < 0 ||
	    server_request_header(req, "X-Contract", HDR_ID_MAX, &d->contract_hdr) < 0 ||
	    server_request_header(req, "X-Justification", HDR_JUSTIFICATION_MAX,
	                          &d->justification) < 0) {
		server_reply_error(req, APIERR_BAD_REQUEST,
		                   "X-Purpose, X-Contract or X-Justification is repeated, empty, "
		                   "too long or holds control characters");
		return -1;
	}
	return 0;
}

/* True if every contract the partner holds asks for a work order. */
static bool
all_need_tokens(const struct registry_view *v, const char *partner)
{
	const struct contract *const *pc;
	size_t n = contract_set_partner(v->contracts, partner, &pc);

	for (size_t i = 0; i < n; i++)
		if (!pc[i]->token_required)
			return false;
	return n > 0;
}

/* Step 5, and the choice of the contract. 0, or -1 after answering. */
static int
step_token(struct decision *d)
{
	struct partner_api *api = d->api;
	const char *auth = NULL;
	char why[256];
	enum apierr e;
	int h = server_request_header(d->req, "Authorization", HDR_AUTH_MAX, &auth);

	if (h < 0) {
		deny(d, APIERR_TOKEN_INVALID, "the Authorization header is unusable", NULL, 0);
		return -1;
	}
	if (h == 0) {
		const struct contract *c;
		d->purpose = d->purpose_hdr;
		e = policy_choose_contract(d->view->contracts, d->id->id, d->contract_hdr,
		                           d->purpose, d->now, &c);
		if ((e == APIERR_NONE && c->token_required) ||
		    (e != APIERR_NONE && all_need_tokens(d->view, d->id->id))) {
			d->contract = e == APIERR_NONE ? c : NULL;
			deny(d, APIERR_TOKEN_REQUIRED,
			     "this contract requires a work order: Authorization: Bearer <token>",
			     NULL, 0);
			return -1;
		}
		if (e != APIERR_NONE) {
			deny(d, e, NULL, NULL, 0);
			return -1;
		}
		d->contract = c;
		return 0;
	}
	if (strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0') {
		deny(d, APIERR_TOKEN_INVALID, "the Authorization scheme must be Bearer", NULL, 0);
		return -1;
	}
	auth += 7;
	if (token_verify(api->tokens, auth, strlen(auth), (int64_t)d->now, &d->claims, why,
	                 sizeof(why)) != TOKEN_OK) {
		deny(d, APIERR_TOKEN_INVALID, why, NULL, 0);
		return -1;
	}
	d->has_token = true;
	const struct contract *ct = contract_set_find(d->view->contracts, d->claims.contract);
	struct token_context ctx = {
	    .partner = d->id->id,
	    .thumbprint = d->id->x5t,
	    .contract_partner = ct != NULL ? ct->partner : NULL,
	    .purpose_listed = ct != NULL && contract_purpose(ct, d->claims.purpose) != NULL,
	    .binding = ct != NULL && !ct->token_binding_required ? TOKEN_BINDING_OPTIONAL
	                                                         : TOKEN_BINDING_REQUIRED,
	};
	enum token_bind b = token_check_binding(&d->claims, &ctx);
	if (b != TOKEN_BIND_OK) {
		deny(d, APIERR_TOKEN_INVALID, token_bind_strerror(b), NULL, 0);
		return -1;
	}
	d->contract = ct;
	if (tokenstore_is_revoked(api->tokenstore, d->claims.jti) != 0) {
		deny(d, APIERR_TOKEN_INVALID, "the work order has been revoked", NULL, 0);
		return -1;
	}
	if (d->purpose_hdr != NULL && strcmp(d->purpose_hdr, d->claims.purpose) != 0) {
		deny(d, APIERR_PURPOSE_CONFLICT, NULL, NULL, 0);
		return -1;
	}
	if (d->contract_hdr != NULL && strcmp(d->contract_hdr, d->claims.contract) != 0) {
		deny(d, APIERR_BAD_REQUEST, "X-Contract disagrees with the work order's contract",
		     NULL, 0);
		return -1;
	}
	d->purpose = d->claims.purpose;
	return 0;
}

/*
 * Steps 3 to 8 for a data request: gateway, partner, token, contract, purpose, limits.
 * want is how many records the request could release; *granted what the volume limit leaves.
 * 0 to go on (d->view held: the caller releases it), or -1 after answering.
 */
static int
decide(struct decision *d, uint32_t want, uint32_t *granted)
{
	struct partner_api *api = d->api;
	const char *why = NULL;
	uint32_t retry;
	enum apierr e;

	if (registry_gateway_suspended(api->registry)) { /* step 3: not recorded */
		server_reply_error(d->req, APIERR_GATEWAY_SUSPENDED, NULL);
		return -1;
	}
	d->view = registry_acquire(api->registry);
	const struct contract *const *pc;
	if (contract_set_partner(d->view->contracts, d->id->id, &pc) == 0) { /* step 4 */
		deny(d, APIERR_PARTNER_UNKNOWN, NULL, NULL, 0);
		return -1;
	}
	if (registry_partner_suspended(api->registry, d->id->id)) {
		deny(d, APIERR_PARTNER_SUSPENDED, NULL, NULL, 0);
		return -1;
	}
	if (step_token(d) != 0) /* step 5 */
		return -1;
	if (!contract_pins(d->contract, d->id->x5t)) {
		deny(d, APIERR_CERTIFICATE_INVALID,
		     "the contract pins other certificates than this one", NULL, 0);
		return -1;
	}
	if ((e = policy_check_contract(d->contract, d->now)) != APIERR_NONE) { /* step 6 */
		deny(d, e, NULL, NULL, 0);
		return -1;
	}
	e = policy_check_purpose(d->view->catalog, d->contract, d->purpose, d->justification,
	                         &d->cp, &why); /* step 7 */
	if (d->purpose != NULL)
		server_request_set_purpose(d->req, d->purpose);
	if (e != APIERR_NONE) {
		deny(d, e, why, NULL, 0);
		return -1;
	}
	policy_basis(d->contract, d->cp, d->basis, sizeof(d->basis));
	if (ratelimit_admit(
	        api->limits, d->contract->id, (uint32_t)d->contract->requests_per_minute,
	        d->contract->records_per_day, want, d->now_ms, granted, &retry) != 0) { /* step 8 */
		deny(d, APIERR_RATE_LIMITED, NULL, NULL, retry);
		return -1;
	}
	d->reserved = *granted;
	return 0;
}

static int
begin(struct decision *d, struct server_request *req, void *app)
{
	struct timeval tv;

	memset(d, 0, sizeof(*d));
	d->req = req;
	d->api = app;
	d->id = server_request_identity(req);
	gettimeofday(&tv, NULL);
	d->now = tv.tv_sec;
	d->now_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	if (d->id == NULL) { /* the partner listener requires a certificate: a server bug */
		server_reply_error(req, APIERR_INTERNAL, NULL);
		return -1;
	}
	return 0;
}

/* Ends a data request: gives back the volume it reserved and did not release, and the view. */
static void
finish(struct decision *d)
{
	if (d->reserved > 0)
		ratelimit_settle(d->api->limits, d->contract->id, d->reserved, d->used, d->now_ms);
	registry_release(d->api->registry, d->view);
}

/* One member, built: where its answer lies in a text, its digest, subject and ledger items. */
struct released {
	char member_id[MEMBER_ID_MAX + 1];
	size_t rec_off, rec_len; /* a page member's origin bytes in page.records */
	size_t off, len;         /* the answer in its text */
	char digest[65];
	char subject[PSEUDO_SUBJECT_HEX + 1];
	const char **item_v; /* the ledger items, borrowed from the contract */
	size_t n_items;
	enum apierr refused; /* APIERR_NONE if released; else a member rule's refusal */
};

/*
 * Steps 9 (the record's check) and 10, and the building of 11, for one member's bytes: the
 * answer is appended to out and located by r->off, r->len; r->item_v must have room for the
 * purpose's fields. APIERR_NONE with r filled (r->refused set, and nothing appended, if a
 * member rule withholds it), or an error that refuses the whole request, with *why_out set
 * (in why, or a fixed text).
 */
static enum apierr
build_member(const struct decision *d, const EVP_MD *sha256, const char *member_id,
             const char *bytes, size_t len, struct release_text *out, struct released *r, char *why,
             size_t whylen, const char **why_out)
{
	json_t *record = NULL;
	enum apierr e;

	*why_out = NULL;
	e = release_origin(d->view->catalog, bytes, len, d->api->max_record_bytes, member_id,
	                   &record, why, whylen);
	if (e != APIERR_NONE) {
		*why_out = why;
		return e;
	}
	e = policy_check_member(d->contract, d->cp, record, why_out);
	if (e != APIERR_NONE) {
		r->refused = e;
		json_decref(record);
		return APIERR_NONE;
	}
	r->off = out->len;
	e = release_build(d->contract, d->cp, record, d->api->pseudo, d->now, out, r->item_v,
	                  &r->n_items, why, whylen);
	json_decref(record);
	if (e != APIERR_NONE) {
		*why_out = why;
		return e;
	}
	r->len = out->len - r->off;
	sha256_hex(sha256, out->data + r->off, r->len, r->digest);
	return APIERR_NONE;
}

/* max_records of a work order, across every use of its jti. 0, or -1 after answering. */
static int
take_records(struct decision *d, size_t n)
{
	bool ok = false;

	if (!d->has_token || d->claims.max_records <= 0 || n == 0)
		return 0;
	if (tokenstore_take(d->api->tokenstore, d->claims.jti, (int64_t)n, d->claims.max_records,
	                    &ok) != 0) {
		deny(d, APIERR_INTERNAL, "the work-order counter cannot be updated", NULL, 0);
		return -1;
	}
	if (!ok) {
		deny(d, APIERR_TOKEN_INVALID,
		     "the work order's max_records does not cover these records", NULL, 0);
		return -1;
	}
	return 0;
}

/* GET /v1/members/{member_id} */
static void
member_one(struct server_request *req, void *app)
{
	struct decision d;
	struct released r = {0};
	struct release_text text = {0};
	const char *member_id = server_request_param(req, 0), *why;
	char *bytes = NULL, subject[PSEUDO_SUBJECT_HEX + 1], whybuf[RELEASE_WHY_MAX];
	struct ledger_entry le;
	uint32_t granted;
	uint64_t index;
	size_t len;
	enum apierr e;

	if (begin(&d, req, app) != 0)
		return;
	if (member_id == NULL || !member_id_ok(member_id) ||
	    server_request_query_only(req, (const char *const[]){NULL}) != 0) {
		server_reply_error(req, APIERR_BAD_REQUEST,
		                   "member_id must match ^[A-Za-z0-9_-]{1,64}$, with no query");
		return;
	}
	if (read_headers(&d) != 0 || decide(&d, 1, &granted) != 0)
		goto done;
	if (pseudo_subject(d.api->pseudo, member_id, subject) != 0) {
		deny(&d, APIERR_INTERNAL, NULL, NULL, 0);
		goto done;
	}
	e = origin_get(d.api->origin, member_id, &bytes, &len); /* step 9 */
	if (e != APIERR_NONE) {
		deny(&d, e, NULL, subject, 0);
		goto done;
	}
	r.item_v = calloc(d.cp->nfields ? d.cp->nfields : 1, sizeof(*r.item_v));
	if (r.item_v == NULL) {
		deny(&d, APIERR_INTERNAL, NULL, subject, 0);
		goto done;
	}
	e = build_member(&d, EVP_sha256(), member_id, bytes, len, &text, &r, whybuf, sizeof(whybuf),
	                 &why);
	if (e != APIERR_NONE || r.refused != APIERR_NONE) { /* step 10 */
		deny(&d, e != APIERR_NONE ? e : r.refused, why, subject, 0);
		goto done;
	}
	if (take_records(&d, 1) != 0)
		goto done;
	entry_init(&d, &le, LEDGER_RELEASE); /* step 11: committed before a byte is queued */
	le.subject = subject;
	le.items = r.item_v;
	le.n_items = r.n_items;
	le.digest = r.digest;
	if (ledger_append(d.api->ledger, &le, 1, &index) != 0) {
		server_reply_error(req, APIERR_LEDGER_UNAVAILABLE, NULL);
		goto done;
	}
	d.used = 1;
	assert(r.off == 0 && r.len == text.len);
	server_reply_take(req, 200, "application/json", text.data, text.len);
	text.data = NULL;
	reply_index(req, index);
done:
	release_text_clear(&text);
	free(r.item_v);
	free(bytes);
	finish(&d);
}

/*
 * A page being built. The origin's records are copied in member_id order (the origin lends
 * them only during its callback), then built in chunks of consecutive members, each chunk
 * into its own text; the answer joins the texts in order.
 */
struct page {
	struct decision *d;
	const EVP_MD *sha256; /* fetched once for the page, not implicitly for each member */
	struct released *m;
	size_t n, cap;
	struct release_text records; /* every member's origin bytes, one after the other */
	const char **items;          /* cp->nfields per member: their ledger items */
	enum apierr error;           /* a member the origin sent wrongly: m[n-1] */
	const char *why;
};

/* Members lo..hi-1 of a page, built by one thread. */
struct chunk {
	struct page *page;
	size_t lo, hi;
	struct chunk *next;       /* in the pool's queue */
	size_t *left;             /* the page's chunks not yet built (under the pool's lock) */
	struct release_text text; /* the answers released, separated by commas */
	enum apierr error;        /* the first member that refuses the whole page */
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
	if (!member_id_ok(member_id)) {
		p->error = APIERR_ORIGIN_INVALID;
		p->why = "the origin sent a malformed member_id";
		return 1;
	}
	r = &p->m[p->n];
	r->rec_off = p->records.len;
	r->rec_len = len;
	if (release_text_add(&p->records, record, len) != 0) {
		p->error = APIERR_INTERNAL;
		return 1;
	}
	snprintf(r->member_id, sizeof(r->member_id), "%s", member_id);
	r->item_v = p->items + p->n * p->d->cp->nfields;
	p->n++;
	return 0;
}

/*
 * Builds a chunk's members in order and stops at the first that refuses the whole page, as
 * one thread going through the page would: the earliest failure in member order decides.
 */
static void
chunk_build(void *arg)
{
	struct chunk *c = arg;
	struct page *p = c->page;
	size_t sent = 0;

	for (size_t i = c->lo; i < c->hi; i++) {
		struct released *r = &p->m[i];
		size_t mark = c->text.len;
		if (pseudo_subject(p->d->api->pseudo, r->member_id, r->subject) != 0) {
			c->error = APIERR_INTERNAL;
			return;
		}
		if (sent > 0 && release_text_add(&c->text, ",", 1) != 0) {
			c->error = APIERR_INTERNAL;
			return;
		}
		c->error =
		    build_member(p->d, p->sha256, r->member_id, p->records.data + r->rec_off,
		                 r->rec_len, &c->text, r, c->whybuf, sizeof(c->whybuf), &c->why);
		if (c->error != APIERR_NONE)
			return;
		if (r->refused != APIERR_NONE) {
			c->text.len = mark; /* withheld: nothing of it, not even the comma */
			if (c->text.data != NULL)
				c->text.data[mark] = '\0';
			continue;
		}
		sent++;
	}
}

/*
 * The page body, assembled from the very texts whose digests the ledger holds, so that each
 * member's bytes in the answer hash to its entry's digest.
 */
static char *
page_body(struct chunk *c, size_t nchunks, const char *next, size_t withheld, size_t *len)
{
	struct release_text t = {0};
	char tail[160];
	json_t *nx = next ? json_string(next) : json_null();
	char *nxs = json_dumps(nx, JSON_ENCODE_ANY);
	int bad = nxs == NULL;
	bool any = false;

	bad |= release_text_add(&t, "{\"members\":[", 12);
	for (size_t i = 0; i < nchunks && !bad; i++) {
		if (c[i].text.len == 0)
			continue;
		if (any)
			bad |= release_text_add(&t, ",", 1);
		bad |= release_text_add(&t, c[i].text.data, c[i].text.len);
		any = true;
	}
	if (!bad) {
		snprintf(tail, sizeof(tail), "],\"next\":%s,\"withheld\":%zu}", nxs, withheld);
		bad |= release_text_add(&t, tail, strlen(tail));
	}
	free(nxs);
	json_decref(nx);
	if (bad) {
		release_text_clear(&t);
		return NULL;
	}
	*len = t.len;
	return t.data;
}

/*
 * The threads that build a page's chunks while the request's own thread builds one too: a
 * page of 1,000 records is CPU work that one request thread would do on one core. Chunks
 * of every page wait in one queue, in order; the request's thread also takes queued chunks
 * while it waits for its own, so no page waits on an idle core.
 */
struct partner_pool {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a chunk was queued, or stop */
	pthread_cond_t done; /* a chunk was built */
	struct chunk *head, *tail;
	bool stop;
	size_t nthreads;
	pthread_t threads[];
};

#define CHUNK_MIN 32        /* members: fewer are not worth a hand-over */
#define CHUNKS_PER_THREAD 4 /* smaller chunks even out what the members cost */

/* Under the lock: the oldest queued chunk, or NULL. */
static struct chunk *
pool_pop(struct partner_pool *pool)
{
	struct chunk *c = pool->head;

	if (c != NULL) {
		pool->head = c->next;
		if (pool->head == NULL)
			pool->tail = NULL;
	}
	return c;
}

/* Builds c outside the lock and counts it done. Called and returns with the lock held. */
static void
pool_run(struct partner_pool *pool, struct chunk *c)
{
	pthread_mutex_unlock(&pool->lock);
	chunk_build(c);
	pthread_mutex_lock(&pool->lock);
	assert(*c->left > 0);
	if (--*c->left == 0)
		pthread_cond_broadcast(&pool->done);
}

static void *
pool_main(void *arg)
{
	struct partner_pool *pool = arg;
	struct chunk *c;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->head == NULL && !pool->stop)
			pthread_cond_wait(&pool->work, &pool->lock);
		if ((c = pool_pop(pool)) == NULL)
			break; /* stopping, and nothing is left to build */
		pool_run(pool, c);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

int
partner_api_start(struct partner_api *api, char *err, size_t errlen)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = cores > 1 ? (size_t)cores : 1;
	struct partner_pool *pool = calloc(1, sizeof(*pool) + n * sizeof(pool->threads[0]));

	if (pool == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->done, NULL);
	api->pool = pool;
	for (; pool->nthreads < n; pool->nthreads++) {
		int rc = pthread_create(&pool->threads[pool->nthreads], NULL, pool_main, pool);
		if (rc != 0) {
			snprintf(err, errlen, "page builder threads: %s", strerror(rc));
			partner_api_stop(api);
			return -1;
		}
	}
	return 0;
}

void
partner_api_stop(struct partner_api *api)
{
	struct partner_pool *pool = api->pool;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stop = true;
	pthread_cond_broadcast(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	for (size_t i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	assert(pool->head == NULL);
	pthread_cond_destroy(&pool->work);
	pthread_cond_destroy(&pool->done);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
	api->pool = NULL;
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
	struct partner_pool *pool = p->d->api->pool;
	size_t n = 1, left;

	if (pool != NULL && p->n >= 2 * CHUNK_MIN) {
		n = (pool->nthreads + 1) * CHUNKS_PER_THREAD;
		if (n > p->n / CHUNK_MIN)
			n = p->n / CHUNK_MIN;
	}
	struct chunk *c = calloc(n, sizeof(*c));
	*chunks = c;
	if (c == NULL)
		return 0;
	left = n;
	for (size_t i = 0; i < n; i++) {
		c[i].page = p;
		c[i].lo = p->n * i / n;
		c[i].hi = p->n * (i + 1) / n;
		c[i].left = &left;
	}
	if (n == 1) {
		chunk_build(&c[0]);
		return 1;
	}
	pthread_mutex_lock(&pool->lock);
	for (size_t i = 0; i < n; i++) {
		if (pool->tail != NULL)
			pool->tail->next = &c[i];
		else
			pool->head = &c[i];
		pool->tail = &c[i];
	}
	pthread_cond_broadcast(&pool->work);
	/* help with whatever is queued (this page's chunks or another's) until ours are built */
	while (left > 0) {
		struct chunk *q = pool_pop(pool);
		if (q != NULL)
			pool_run(pool, q);
		else
			pthread_cond_wait(&pool->done, &pool->lock);
	}
	pthread_mutex_unlock(&pool->lock);
	return n;
}

/* GET /v1/members?limit=N&after=ID */
static void
member_page(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"limit", "after", NULL};
	struct decision d;
	struct page p = {0};
	struct chunk *chunks = NULL;
	struct ledger_entry *le = NULL;
	unsigned long limit;
	const char *after = NULL, *why = NULL;
	char *next = NULL, *body = NULL;
	size_t released = 0, withheld = 0, n_entries, len, nchunks = 0;
	uint32_t granted;
	uint64_t index;
	EVP_MD *sha256 = NULL;
	enum apierr e, oe;

	if (begin(&d, req, app) != 0)
		return;
	if (server_request_query_only(req, allowed) != 0 ||
	    server_request_query_uint(req, "limit", 1, PAGE_MAX, PAGE_DEFAULT, &limit) != 0 ||
	    server_request_query(req, "after", MEMBER_ID_MAX, &after) < 0 ||
	    (after != NULL && !member_id_ok(after))) {
		server_reply_error(req, APIERR_BAD_REQUEST,
		                   "query: limit 1..1000, after a member_id, nothing else");
		return;
	}
	if (read_headers(&d) != 0 || decide(&d, (uint32_t)limit, &granted) != 0)
		goto done;
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	p.d = &d;
	p.sha256 = sha256;
	p.cap = granted;
	p.m = calloc(granted ? granted : 1, sizeof(*p.m));
	p.items = calloc((size_t)granted * d.cp->nfields + 1, sizeof(*p.items));
	if (sha256 == NULL || p.m == NULL || p.items == NULL) {
		deny(&d, APIERR_INTERNAL, NULL, NULL, 0);
		goto done;
	}
	oe = origin_page(d.api->origin, after, granted, page_each, &p, &next); /* step 9 */
	nchunks = page_build(&p, &chunks);                                     /* steps 9, 10 */
	if (nchunks == 0) {
		deny(&d, APIERR_INTERNAL, NULL, NULL, 0);
		goto done;
	}
	/* the first failure in member order decides, as if the page were built one by one: a
	   member's, then the origin's on the member after the last one it sent */
	e = APIERR_NONE;
	for (size_t i = 0; i < nchunks && e == APIERR_NONE; i++) {
		e = chunks[i].error;
		why = chunks[i].why;
	}
	if (e == APIERR_NONE) {
		e = p.error != APIERR_NONE ? p.error : oe;
		why = p.error != APIERR_NONE ? p.why : NULL;
	}
	/* next goes back to the partner as the cursor: a member_id, or the origin's bytes would
	   be copied into the answer */
	if (e == APIERR_NONE && next != NULL && !member_id_ok(next)) {
		e = APIERR_ORIGIN_INVALID;
		why = "the origin sent a malformed next";
	}
	if (e != APIERR_NONE) {
		deny(&d, e, why, NULL, 0);
		goto done;
	}
	for (size_t i = 0; i < p.n; i++)
		released += p.m[i].refused == APIERR_NONE;
	withheld = p.n - released;
	if (take_records(&d, released) != 0)
		goto done;
	/*
	 * One entry per member: a release for each one sent, a deny (with the member rule that
	 * withheld it) for each one left out. A page that reached no member records one release
	 * entry without a subject, so that every answer has its entry.
	 */
	n_entries = p.n > 0 ? p.n : 1;
	le = calloc(n_entries, sizeof(*le));
	if (le == NULL) {
		deny(&d, APIERR_INTERNAL, NULL, NULL, 0);
		goto done;
	}
	entry_init(&d, &le[0], LEDGER_RELEASE);
	for (size_t i = 0; i < p.n; i++) {
		struct released *r = &p.m[i];
		entry_init(&d, &le[i], r->refused == APIERR_NONE ? LEDGER_RELEASE : LEDGER_DENY);
		le[i].subject = r->subject;
		if (r->refused == APIERR_NONE) {
			le[i].items = r->item_v;
			le[i].n_items = r->n_items;
			le[i].digest = r->digest;
		} else {
			le[i].reason = apierr_code(r->refused);
		}
	}
	body = page_body(chunks, nchunks, next, withheld, &len);
	if (body == NULL) {
		deny(&d, APIERR_INTERNAL, NULL, NULL, 0);
		goto done;
	}
	if (ledger_append(d.api->ledger, le, n_entries, &index) != 0) { /* step 11 */
		server_reply_error(req, APIERR_LEDGER_UNAVAILABLE, NULL);
		goto done;
	}
	d.used = (uint32_t)released;
	server_reply_take(req, 200, "application/json", body, len);
	body = NULL;
	reply_index(req, index);
done:
	for (size_t i = 0; i < nchunks; i++)
		release_text_clear(&chunks[i].text);
	free(chunks);
	release_text_clear(&p.records);
	free(p.items);
	free(p.m);
	free(le);
	free(body);
	free(next);
	EVP_MD_free(sha256);
	finish(&d);
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
		    list, json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o}", "id", c->id, "relationship",
		                    contract_relationship_name(c->relationship), "status",
		                    contract_status_name(c->status), "valid_from",
		                    c->valid_from_text, "valid_until", c->valid_until_text,
		                    "token_required", c->token_required, "purposes", purposes));
	}
	doc = json_pack("{s:s,s:s,s:b,s:o}", "partner", id->id, "certificate", fp, "suspended",
	                registry_partner_suspended(api->registry, id->id), "contracts", list);
	registry_release(api->registry, v);
	server_reply_json(req, 200, doc);
}

const struct server_route partner_routes[] = {
    {"GET", "/v1/whoami", whoami, NULL},
    {"GET", "/v1/members/{}", member_one, NULL},
    {"GET", "/v1/members", member_page, NULL},
};
const size_t partner_nroutes = sizeof(partner_routes) / sizeof(partner_routes[0]);
