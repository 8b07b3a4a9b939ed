/* registry — the policies and contracts in force, and each partner's state (suspensions). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "contract_file.h"
#include "strtab.h"
#include "ledger_store.h"
#include "registry.h"
#include "release.h"

/* A listener's wait for an announcement, and how often it reads the state regardless (a
 * backstop: a session made again reads it at once, and every commit checks it anyway). */
#define SHARE_WAIT_MS 200
#define SHARE_POLL_MS 30000

/* One load of catalogs and contracts, shared by the requests that hold it. */
struct registry_snapshot {
	struct registry_view view; /* first: a view pointer is a snapshot pointer */
	struct catalog *catalog;
	struct contract_set *contracts;
	struct release_plan **plans; /* one per contract purpose, in set and file order */
	const struct contract_purpose **plan_of; /* the purpose of each plan */
	size_t nplans;
	unsigned refs; /* the registry's own reference plus one per request holding it */
};

struct suspension {
	char *partner; /* "" for the gateway itself */
	char *by, *reason;
	int64_t since_ms;
};

struct registry {
	char *purposes, *fields, *contracts; /* files, read again on reload */
	const struct pseudo *pseudo;         /* keys the plans' pseudonyms; borrowed */
	pthread_mutex_t lock;                /* guards cur, refs, the suspensions */
	struct registry_snapshot *cur;
	uint64_t generation;
	sqlite3 *db;
	struct suspension *sus; /* the suspended partners and the gateway, in memory */
	size_t nsus;
	/* Several nodes: the database the suspensions are in (registry_share), its connection
	 * used under share_lock (never with lock held: the writer's hook takes lock while it holds
	 * the tree lock a change waits for), and the generation of the suspensions in memory. */
	struct ledger_store *shared;
	pthread_mutex_t share_lock;
	uint64_t state_gen;
	struct strtab revoked;       /* the shared state's revoked jtis (-> 1), under lock */
	struct ledger_store *listen; /* the listener thread's connection */
	int (*also)(void *arg, struct ledger_store *s); /* registry_share's */
	void *also_arg;
	pthread_t listener;
	bool listening, stop; /* stop under lock */
};

static void
snap_free(struct registry_snapshot *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nplans; i++)
		release_plan_free(s->plans[i]);
	free(s->plans);
	free(s->plan_of);
	contract_set_free(s->contracts);
	catalog_free(s->catalog);
	free(s);
}

/*
 * Every contract purpose's release plan, compiled with the set. A purpose whose plan cannot be
 * made (a contract the loader would have refused) gets none: its requests build the answer
 * with release_build, which refuses it the same way. -1 on memory only.
 */
static int
plans_build(struct registry *r, struct registry_snapshot *s)
{
	size_t n = 0, k = 0, count = contract_set_count(s->contracts);
	char why[RELEASE_WHY_MAX];

	for (size_t i = 0; i < count; i++)
		n += contract_set_at(s->contracts, i)->npurposes;
	s->plans = calloc(n + 1, sizeof(*s->plans));
	s->plan_of = calloc(n + 1, sizeof(*s->plan_of));
	if (s->plans == NULL || s->plan_of == NULL)
		return -1;
	for (size_t i = 0; i < count; i++) {
		const struct contract *c = contract_set_at(s->contracts, i);
		for (size_t j = 0; j < c->npurposes; j++, k++) {
			s->plan_of[k] = &c->purposes[j];
			s->plans[k] =
			    release_plan_new(c, &c->purposes[j], r->pseudo, why, sizeof(why));
		}
	}
	s->nplans = n;
	return 0;
}

/* Loads catalogs and contracts; NULL with *errors on any problem. */
static struct registry_snapshot *
snap_load(struct registry *r, char **errors)
{
	struct registry_snapshot *s = calloc(1, sizeof(*s));

	*errors = NULL;
	if (s == NULL) {
		*errors = strdup("out of memory\n");
		return NULL;
	}
	s->catalog = catalog_load(r->purposes, r->fields, errors);
	if (s->catalog == NULL)
		goto fail;
	s->contracts = contract_set_load(s->catalog, r->contracts, errors);
	if (s->contracts == NULL)
		goto fail;
	if (plans_build(r, s) != 0) {
		*errors = strdup("out of memory\n");
		goto fail;
	}
	s->view.catalog = s->catalog;
	s->view.contracts = s->contracts;
	s->refs = 1;
	return s;
fail:
	snap_free(s);
	return NULL;
}

static void
sus_clear(struct suspension *s)
{
	free(s->partner);
	free(s->by);
	free(s->reason);
}

static char *
dup_or_null(const unsigned char *s)
{
	return s != NULL ? strdup((const char *)s) : NULL;
}

static int
state_open(struct registry *r, const char *path, char **errors)
{
	sqlite3_stmt *st = NULL;
	char msg[512];

	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK)
		goto fail;
	/* the busy timeout first: every later statement may meet the token command's writes */
	sqlite3_busy_timeout(r->db, 5000);
	if (sqlite3_exec(r->db,
	                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	                 "CREATE TABLE IF NOT EXISTS suspensions("
	                 " partner TEXT PRIMARY KEY, by TEXT, reason TEXT, since_ms INTEGER)",
	                 NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_prepare_v2(r->db, "SELECT partner, by, reason, since_ms FROM suspensions", -1,
	                       &st, NULL) != SQLITE_OK)
		goto fail;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct suspension *ns = realloc(r->sus, (r->nsus + 1) * sizeof(*ns));
		if (ns == NULL)
			goto fail;
		r->sus = ns;
		ns[r->nsus].partner = dup_or_null(sqlite3_column_text(st, 0));
		ns[r->nsus].by = dup_or_null(sqlite3_column_text(st, 1));
		ns[r->nsus].reason = dup_or_null(sqlite3_column_text(st, 2));
		ns[r->nsus].since_ms = sqlite3_column_int64(st, 3);
		r->nsus++;
		if (ns[r->nsus - 1].partner == NULL)
			goto fail;
	}
	sqlite3_finalize(st);
	return 0;
fail:
	snprintf(msg, sizeof(msg), "%s: state database: %s\n", path,
	         r->db ? sqlite3_errmsg(r->db) : "cannot open");
	*errors = strdup(msg);
	sqlite3_finalize(st);
	return -1;
}

struct registry *
registry_open(const char *purposes, const char *fields, const char *contracts,
              const char *state_path, const struct pseudo *pseudo, char **errors)
{
	struct registry *r = calloc(1, sizeof(*r));

	*errors = NULL;
	if (r != NULL) {
		pthread_mutex_init(&r->lock, NULL);
		pthread_mutex_init(&r->share_lock, NULL);
		r->pseudo = pseudo;
	}
	if (r == NULL || (r->purposes = strdup(purposes)) == NULL ||
	    (r->fields = strdup(fields)) == NULL || (r->contracts = strdup(contracts)) == NULL) {
		*errors = strdup("out of memory\n");
		goto fail;
	}
	if ((r->cur = snap_load(r, errors)) == NULL)
		goto fail;
	r->cur->view.generation = r->generation = 1;
	if (state_open(r, state_path, errors) != 0)
		goto fail;
	return r;
fail:
	registry_free(r);
	return NULL;
}

void
registry_free(struct registry *r)
{
	if (r == NULL)
		return;
	if (r->listening) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->listener, NULL);
	}
	if (r->cur != NULL) {
		/* every request is done by now: the registry holds the last reference */
		snap_free(r->cur);
	}
	for (size_t i = 0; i < r->nsus; i++)
		sus_clear(&r->sus[i]);
	free(r->sus);
	strtab_free(&r->revoked);
	sqlite3_close(r->db);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->share_lock);
	free(r->purposes);
	free(r->fields);
	free(r->contracts);
	free(r);
}

struct registry_snapshot *
registry_load(struct registry *r, char **errors)
{
	return snap_load(r, errors);
}

void
registry_install(struct registry *r, struct registry_snapshot *s)
{
	struct registry_snapshot *old;

	pthread_mutex_lock(&r->lock);
	old = r->cur;
	s->view.generation = ++r->generation;
	r->cur = s;
	if (--old->refs > 0)
		old = NULL; /* the last request holding it frees it */
	pthread_mutex_unlock(&r->lock);
	snap_free(old);
}

void
registry_snapshot_free(struct registry_snapshot *s)
{
	snap_free(s);
}

const struct registry_view *
registry_acquire(struct registry *r)
{
	struct registry_snapshot *s;

	pthread_mutex_lock(&r->lock);
	s = r->cur;
	s->refs++;
	pthread_mutex_unlock(&r->lock);
	return &s->view;
}

void
registry_release(struct registry *r, const struct registry_view *v)
{
	struct registry_snapshot *s = (struct registry_snapshot *)v;

	if (v == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	if (--s->refs > 0)
		s = NULL;
	pthread_mutex_unlock(&r->lock);
	snap_free(s);
}

const struct release_plan *
registry_plan(const struct registry_view *v, const struct contract_purpose *p)
{
	const struct registry_snapshot *s = (const struct registry_snapshot *)v;

	for (size_t i = 0; i < s->nplans; i++)
		if (s->plan_of[i] == p)
			return s->plans[i];
	return NULL;
}

/* Index of a suspension, or -1. Lock held. */
static long
sus_find(const struct registry *r, const char *partner)
{
	for (size_t i = 0; i < r->nsus; i++)
		if (strcmp(r->sus[i].partner, partner) == 0)
			return (long)i;
	return -1;
}

bool
registry_gateway_suspended(struct registry *r)
{
	return registry_partner_suspended(r, "");
}

bool
registry_partner_suspended(struct registry *r, const char *partner)
{
	bool s;

	pthread_mutex_lock(&r->lock);
	s = sus_find(r, partner) >= 0;
	pthread_mutex_unlock(&r->lock);
	return s;
}

uint64_t
registry_suspensions(struct registry *r, const char *partner, bool *gateway,
                     bool *partner_suspended)
{
	uint64_t gen;

	pthread_mutex_lock(&r->lock);
	*gateway = sus_find(r, "") >= 0;
	*partner_suspended = sus_find(r, partner) >= 0;
	gen = r->state_gen;
	pthread_mutex_unlock(&r->lock);
	return gen;
}

/* The suspensions read from a shared store, before they are put in force. */
struct sus_list {
	struct suspension *v;
	size_t n;
	int bad;
};

static int
sus_collect(void *arg, const struct ledger_suspension *su)
{
	struct sus_list *l = arg;
	struct suspension *grown = realloc(l->v, (l->n + 1) * sizeof(*grown));

	if (grown == NULL)
		return l->bad = -1;
	l->v = grown;
	grown[l->n] = (struct suspension){strdup(su->partner), su->by ? strdup(su->by) : NULL,
	                                  su->reason ? strdup(su->reason) : NULL, su->since_ms};
	l->n++;
	if (grown[l->n - 1].partner == NULL || (su->by && !grown[l->n - 1].by) ||
	    (su->reason && !grown[l->n - 1].reason))
		return l->bad = -1;
	return 0;
}

static int
revoked_collect(void *arg, const char *jti)
{
	return strtab_put(arg, jti, 1) < 0 ? -1 : 0;
}

int
registry_state_load(void *arg, struct ledger_store *s)
{
	struct registry *r = arg;
	struct sus_list l = {0};
	struct strtab rv = {0};
	uint64_t gen = 0;
	int rc = s->ops->state_read != NULL ? s->ops->state_read(s, &gen, sus_collect, &l) : -1;

	/* after the generation: a revocation committed in between is only loaded early */
	if (rc == 0 && l.bad == 0)
		rc = s->ops->state_revoked != NULL ? s->ops->state_revoked(s, revoked_collect, &rv)
		                                   : -1;
	if (rc == 0 && l.bad == 0) {
		pthread_mutex_lock(&r->lock);
		if (gen > r->state_gen) { /* generations only grow: an older read changes nothing */
			struct suspension *old = r->sus;
			size_t nold = r->nsus;
			struct strtab oldrv = r->revoked;
			r->sus = l.v;
			r->nsus = l.n;
			r->revoked = rv;
			r->state_gen = gen;
			l.v = old;
			l.n = nold;
			rv = oldrv;
		}
		pthread_mutex_unlock(&r->lock);
	}
	for (size_t i = 0; i < l.n; i++)
		sus_clear(&l.v[i]);
	free(l.v);
	strtab_free(&rv);
	return rc == 0 && l.bad == 0 ? 0 : -1;
}

bool
registry_state_allows(void *arg, const char *partner, const char *token)
{
	struct registry *r = arg;
	bool ok;

	pthread_mutex_lock(&r->lock);
	ok = sus_find(r, "") < 0 && sus_find(r, partner) < 0 &&
	     (token == NULL || strtab_get(&r->revoked, token) < 0);
	pthread_mutex_unlock(&r->lock);
	return ok;
}

bool
registry_token_revoked(struct registry *r, const char *jti)
{
	bool revoked;

	if (r->shared == NULL) /* set before any request (registry_share): one gateway's own */
		return false;
	pthread_mutex_lock(&r->lock);
	revoked = strtab_get(&r->revoked, jti) >= 0;
	pthread_mutex_unlock(&r->lock);
	return revoked;
}

/* The suspensions of the shared store read again on its own connection. 0 or -1. */
static int
share_refresh(struct registry *r)
{
	int rc;

	pthread_mutex_lock(&r->share_lock);
	rc = registry_state_load(r, r->shared);
	pthread_mutex_unlock(&r->share_lock);
	return rc;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The listener: what any node changes, in force here within moments of its commit. */
static void *
listen_main(void *arg)
{
	struct registry *r = arg;
	int64_t last = 0;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		bool stop = r->stop;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;
		int rc = r->listen->ops->state_wait(r->listen, SHARE_WAIT_MS);
		if (rc < 0) {
			nanosleep(&(struct timespec){0, SHARE_WAIT_MS * 1000000L}, NULL);
			continue;
		}
		if (rc == 1 || mono_ms() - last >= SHARE_POLL_MS) {
			if (registry_state_load(r, r->listen) == 0 &&
			    (r->also == NULL || r->also(r->also_arg, r->listen) == 0))
				last = mono_ms();
		}
	}
	return NULL;
}

int
registry_share(struct registry *r, struct ledger_store *s, struct ledger_store *listen,
               int (*also)(void *arg, struct ledger_store *s), void *also_arg, char *err,
               size_t errlen)
{
	if (s->ops->state_read == NULL || s->ops->state_suspend == NULL ||
	    listen->ops->state_wait == NULL) {
		snprintf(err, errlen, "a %s ledger holds no shared state", s->ops->kind);
		return -1;
	}
	pthread_mutex_lock(&r->lock);
	r->shared = s;
	r->state_gen = 0; /* whatever is loaded next replaces the state database's */
	pthread_mutex_unlock(&r->lock);
	if (share_refresh(r) != 0) {
		snprintf(err, errlen, "reading the suspensions: %s", s->ops->errmsg(s));
		return -1;
	}
	r->listen = listen;
	r->also = also;
	r->also_arg = also_arg;
	if (listen->ops->state_wait(listen, 0) < 0) {
		snprintf(err, errlen, "listening for changes: %s", listen->ops->errmsg(listen));
		return -1;
	}
	if (pthread_create(&r->listener, NULL, listen_main, r) != 0) {
		snprintf(err, errlen, "cannot start the listener thread");
		return -1;
	}
	r->listening = true;
	return 0;
}

/* registry_set_suspended with a shared state: in the database, then the memory from it. */
static int
share_set(struct registry *r, const char *key, bool suspended, const char *who, const char *reason,
          int64_t now_ms)
{
	struct ledger_suspension su = {key, who, reason, now_ms};
	bool changed = false;
	int rc;

	pthread_mutex_lock(&r->share_lock);
	rc = r->shared->ops->state_suspend(r->shared, &su, suspended, &changed);
	/* in force here at once (if this read fails, at this node's next commit, which reads
	 * the generation under the tree lock); the other nodes at their next commit */
	(void)registry_state_load(r, r->shared);
	pthread_mutex_unlock(&r->share_lock);
	return rc != 0 ? -1 : changed ? 1 : 0;
}

int
registry_set_suspended(struct registry *r, const char *partner, bool suspended, const char *who,
                       const char *reason, int64_t now_ms)
{
	const char *key = partner != NULL ? partner : "";
	sqlite3_stmt *st = NULL;
	struct suspension ns = {0};
	int rc = -1;
	long i;

	if (r->shared != NULL)
		return share_set(r, key, suspended, who, reason, now_ms);

	/* one writer at a time: the database and memory change together or not at all */
	pthread_mutex_lock(&r->lock);
	i = sus_find(r, key);
	if ((i >= 0) == suspended) {
		rc = 0;
		goto done;
	}
	if (suspended) {
		ns.partner = strdup(key);
		ns.by = who ? strdup(who) : NULL;
		ns.reason = reason ? strdup(reason) : NULL;
		ns.since_ms = now_ms;
		struct suspension *grown = realloc(r->sus, (r->nsus + 1) * sizeof(*grown));
		if (ns.partner == NULL || grown == NULL)
			goto done;
		r->sus = grown;
		if (sqlite3_prepare_v2(r->db,
		                       "INSERT INTO suspensions(partner, by, reason, since_ms) "
		                       "VALUES (?1, ?2, ?3, ?4)",
		                       -1, &st, NULL) != SQLITE_OK)
			goto done;
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, who, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now_ms);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto done;
		r->sus[r->nsus++] = ns;
		memset(&ns, 0, sizeof(ns));
	} else {
		if (sqlite3_prepare_v2(r->db, "DELETE FROM suspensions WHERE partner = ?1", -1, &st,
		                       NULL) != SQLITE_OK)
			goto done;
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto done;
		sus_clear(&r->sus[i]);
		r->sus[i] = r->sus[--r->nsus];
	}
	rc = 1;
done:
	pthread_mutex_unlock(&r->lock);
	sqlite3_finalize(st);
	sus_clear(&ns);
	return rc;
}

static json_t *
sus_json(const struct suspension *s)
{
	json_t *o = json_object();
	json_object_set_new(o, "suspended", json_boolean(s != NULL));
	json_object_set_new(o, "by", s && s->by ? json_string(s->by) : json_null());
	json_object_set_new(o, "reason", s && s->reason ? json_string(s->reason) : json_null());
	json_object_set_new(o, "since_ms", s ? json_integer(s->since_ms) : json_null());
	return o;
}

json_t *
registry_partners(struct registry *r, json_t **gateway)
{
	if (r->shared != NULL && share_refresh(r) != 0)
		return NULL;
	const struct registry_view *v = registry_acquire(r);
	json_t *list = json_array(), *byname = json_object();
	size_t n = contract_set_count(v->contracts);

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		const struct contract *c = contract_set_at(v->contracts, i);
		json_t *p = json_object_get(byname, c->partner);
		if (p == NULL) {
			long k = sus_find(r, c->partner);
			p = sus_json(k >= 0 ? &r->sus[k] : NULL);
			json_object_set_new(p, "partner", json_string(c->partner));
			json_object_set_new(p, "partner_name",
			                    c->partner_name ? json_string(c->partner_name)
			                                    : json_null());
			json_object_set_new(p, "contracts", json_array());
			json_object_set(byname, c->partner, p);
			json_array_append_new(list, p);
		}
		json_array_append_new(json_object_get(p, "contracts"), json_string(c->id));
	}
	/* a suspension outlives the contracts that named the partner */
	for (size_t i = 0; i < r->nsus; i++) {
		if (r->sus[i].partner[0] == '\0' || json_object_get(byname, r->sus[i].partner))
			continue;
		json_t *p = sus_json(&r->sus[i]);
		json_object_set_new(p, "partner", json_string(r->sus[i].partner));
		json_object_set_new(p, "partner_name", json_null());
		json_object_set_new(p, "contracts", json_array());
		json_array_append_new(list, p);
	}
	long g = sus_find(r, "");
	*gateway = sus_json(g >= 0 ? &r->sus[g] : NULL);
	pthread_mutex_unlock(&r->lock);
	json_decref(byname);
	registry_release(r, v);
	return list;
}
