/* subjects — members' requests (開示・訂正・削除・利用停止・第三者提供停止): their register, and
 * the restrictions they put on every release, held in memory. */
#include "subjects.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cal.h"
#include "subjects_int.h"

#define ORDER " ORDER BY received, id"

const char *const subjects_rows_sql[] = {
    [SUBJECTS_ROWS_OF] =
        "SELECT " SUBJECTS_COLUMNS " FROM subject_requests WHERE subject = $1" ORDER,
    [SUBJECTS_ROWS_ALL] = "SELECT " SUBJECTS_COLUMNS " FROM subject_requests" ORDER,
    [SUBJECTS_ROWS_STATUS] =
        "SELECT " SUBJECTS_COLUMNS " FROM subject_requests WHERE status = $1" ORDER,
    [SUBJECTS_ROWS_OVERDUE] =
        "SELECT " SUBJECTS_COLUMNS
        " FROM subject_requests WHERE status = 'open' AND received < $1" ORDER,
};

static const char *const type_names[SUBJECTS_NTYPES] = {"disclosure", "correction", "deletion",
                                                        "stop_use", "stop_third_party"};
static const char *const outcome_names[] = {"open", "completed", "refused", "withdrawn"};

/*
 * The restrictions in memory: an open-addressing table of subject references and their bits,
 * read under a shared lock on the request path and written under the exclusive one. Slots are
 * never removed (a lifted restriction keeps its slot with bits 0), so a lookup stops at the
 * first empty slot. The table grows before a write's transaction begins, so that putting the
 * restriction in force after the commit cannot fail for want of memory. A load from a shared
 * store builds a new table and swaps it in.
 */
struct slot {
	char key[PSEUDO_SUBJECT_HEX + 1]; /* "" when empty */
	unsigned bits;
};

struct overlay {
	pthread_rwlock_t lock;
	struct slot *slots;
	size_t cap;               /* a power of two, or 0 */
	size_t n;                 /* slots in use */
	atomic_size_t restricted; /* slots with bits != 0: 0 spares the lock on the request path */
	atomic_uint_fast64_t generation; /* +1 by each change of bits, under the exclusive lock */
	/* the shared state's generation the table is of (0: a single gateway's own), stored
	 * under the exclusive lock after the table: whoever reads it then reads bits as new */
	atomic_uint_fast64_t state_gen;
};

struct subjects {
	const struct subjects_store_ops *ops;
	struct subjects_store *st;
	struct overlay ov;
};

const char *
subjects_type_name(enum subjects_type t)
{
	return (unsigned)t < SUBJECTS_NTYPES ? type_names[t] : NULL;
}

int
subjects_type_parse(const char *s, enum subjects_type *out)
{
	for (unsigned i = 0; s != NULL && i < SUBJECTS_NTYPES; i++)
		if (strcmp(s, type_names[i]) == 0) {
			*out = (enum subjects_type)i;
			return 0;
		}
	return -1;
}

const char *
subjects_outcome_name(enum subjects_outcome o)
{
	return (unsigned)o <= SUBJECTS_WITHDRAWN ? outcome_names[o] : NULL;
}

int
subjects_outcome_parse(const char *s, enum subjects_outcome *out)
{
	for (unsigned i = SUBJECTS_COMPLETED; s != NULL && i <= SUBJECTS_WITHDRAWN; i++)
		if (strcmp(s, outcome_names[i]) == 0) {
			*out = (enum subjects_outcome)i;
			return 0;
		}
	return -1;
}

unsigned
subjects_type_bit(const char *type)
{
	if (type != NULL && strcmp(type, "stop_use") == 0)
		return POLICY_RESTRICT_STOP_USE;
	if (type != NULL && strcmp(type, "stop_third_party") == 0)
		return POLICY_RESTRICT_STOP_THIRD_PARTY;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The overlay. */

static size_t
hash(const char *key)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ULL;
	return (size_t)h;
}

/* The slot of key, or the empty slot where it would go. cap must be > n. */
static struct slot *
find(struct slot *slots, size_t cap, const char *key)
{
	size_t i = hash(key) & (cap - 1);

	while (slots[i].key[0] != '\0' && strcmp(slots[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

/* Room in a table of *cap slots holding n for one more key at a load of at most a half. 0 or
 * -1 (the table unchanged). */
static int
table_reserve(struct slot **slots, size_t *cap, size_t n)
{
	size_t c = *cap ? *cap : 64;
	struct slot *grown;

	if ((n + 1) * 2 <= *cap)
		return 0;
	while ((n + 1) * 2 > c)
		c *= 2;
	if ((grown = calloc(c, sizeof(*grown))) == NULL)
		return -1;
	for (size_t i = 0; i < *cap; i++)
		if ((*slots)[i].key[0] != '\0')
			*find(grown, c, (*slots)[i].key) = (*slots)[i];
	free(*slots);
	*slots = grown;
	*cap = c;
	return 0;
}

static int
overlay_reserve(struct overlay *ov)
{
	return table_reserve(&ov->slots, &ov->cap, ov->n);
}

/* Sets key's bits; overlay_reserve made room. Exclusive lock held. */
static void
overlay_set(struct overlay *ov, const char *key, unsigned bits)
{
	struct slot *sl = find(ov->slots, ov->cap, key);

	assert(ov->n + 1 < ov->cap || sl->key[0] != '\0');
	if (sl->key[0] == '\0') {
		if (bits == 0)
			return;
		snprintf(sl->key, sizeof(sl->key), "%s", key);
		ov->n++;
	}
	if ((sl->bits != 0) != (bits != 0))
		atomic_fetch_add(&ov->restricted, bits != 0 ? 1 : (size_t)-1);
	sl->bits = bits;
	/* last: whoever reads the new number then reads the new bits (restricted before it, the
	   bits under the lock this holds); whoever read the old one sees the number change */
	atomic_fetch_add(&ov->generation, 1);
}

unsigned
subjects_restrictions(struct subjects *s, const char *subject)
{
	unsigned bits = 0;

	if (atomic_load(&s->ov.restricted) == 0)
		return 0;
	pthread_rwlock_rdlock(&s->ov.lock);
	if (s->ov.cap > 0)
		bits = find(s->ov.slots, s->ov.cap, subject)->bits;
	pthread_rwlock_unlock(&s->ov.lock);
	return bits;
}

uint64_t
subjects_generation(struct subjects *s)
{
	return atomic_load(&s->ov.generation);
}

uint64_t
subjects_state_gen(struct subjects *s)
{
	return atomic_load(&s->ov.state_gen);
}

/* A table being loaded. */
struct loading {
	struct slot *slots;
	size_t cap, n;
	int bad;
};

static int
load_one(void *arg, const char *key, unsigned bit)
{
	struct loading *t = arg;
	struct slot *sl;

	if (key == NULL || strlen(key) != PSEUDO_SUBJECT_HEX ||
	    table_reserve(&t->slots, &t->cap, t->n) != 0)
		return t->bad = -1;
	sl = find(t->slots, t->cap, key);
	if (sl->key[0] == '\0') {
		snprintf(sl->key, sizeof(sl->key), "%s", key);
		t->n++;
	}
	sl->bits |= bit;
	return 0;
}

/*
 * Every restriction the store holds, read through via (NULL: the store's own connection), put
 * in force in place of those in memory if the store's generation is newer than theirs (or at
 * open). 0 or -1 (nothing changed). Loads run at once on several threads (the listener, the
 * ledger's writer under the tree lock, a write that returns) and hold no lock while they read:
 * the writer's must never wait for a thread that waits for the writer (a write records its
 * act first); the generation, compared under the exclusive lock, keeps the newest.
 */
static int
load(struct subjects *s, struct ledger_store *via, bool first)
{
	struct loading t = {0};
	uint64_t gen = 0;
	size_t restricted = 0;
	int rc;

	rc = s->ops->load(s->st, via, &gen, load_one, &t);
	for (size_t i = 0; i < t.cap; i++)
		restricted += t.slots[i].bits != 0;
	pthread_rwlock_wrlock(&s->ov.lock);
	if (rc == 0 && t.bad == 0 && (first || gen > atomic_load(&s->ov.state_gen))) {
		struct slot *old = s->ov.slots;
		s->ov.slots = t.slots;
		s->ov.cap = t.cap;
		s->ov.n = t.n;
		atomic_store(&s->ov.restricted, restricted);
		atomic_fetch_add(&s->ov.generation, 1);
		atomic_store(&s->ov.state_gen, gen);
		t.slots = old;
	}
	pthread_rwlock_unlock(&s->ov.lock);
	free(t.slots);
	return rc == 0 && t.bad == 0 ? 0 : -1;
}

int
subjects_state_load(void *arg, struct ledger_store *via)
{
	return load(arg, via, false);
}

/* ------------------------------------------------------------------------------------------ */
/* Opening, writing, reading: the store's. */

struct subjects *
subjects_new_over(const struct subjects_store_ops *ops, struct subjects_store *st, char *err,
                  size_t errlen)
{
	struct subjects *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		ops->free(st);
		snprintf(err, errlen, "request register: out of memory");
		return NULL;
	}
	s->ops = ops;
	s->st = st;
	pthread_rwlock_init(&s->ov.lock, NULL);
	if (load(s, NULL, true) != 0) {
		snprintf(err, errlen, "the members' restrictions cannot be loaded");
		subjects_close(s);
		return NULL;
	}
	return s;
}

void
subjects_close(struct subjects *s)
{
	if (s == NULL)
		return;
	s->ops->free(s->st);
	free(s->ov.slots);
	pthread_rwlock_destroy(&s->ov.lock);
	free(s);
}

/* Room for the subject's slot, so that putting the write in force cannot fail. 0 or -1. */
static int
reserve(struct subjects *s)
{
	int r;

	pthread_rwlock_wrlock(&s->ov.lock);
	r = overlay_reserve(&s->ov);
	pthread_rwlock_unlock(&s->ov.lock);
	return r;
}

/*
 * After a write stored: the subject's bits in force here at once (the room reserved before the
 * write, unless a load replaced the table meanwhile); with a shared store, then everything it
 * holds (a load whose failure leaves that to the listener and the next commit, which read the
 * generation the write moved; the generation in memory stays the older one until then, so a
 * release decided meanwhile is checked at its commit).
 */
static void
in_force(struct subjects *s, const char *subject, unsigned bits)
{
	pthread_rwlock_wrlock(&s->ov.lock);
	if (overlay_reserve(&s->ov) == 0 || s->ov.n + 1 < s->ov.cap)
		overlay_set(&s->ov, subject, bits);
	pthread_rwlock_unlock(&s->ov.lock);
	if (atomic_load(&s->ov.state_gen) != 0)
		(void)load(s, NULL, false);
}

enum subjects_result
subjects_add(struct subjects *s, const struct subjects_new *n, subjects_record_fn record, void *arg,
             struct subjects_row *row, uint64_t *index)
{
	enum subjects_result res;
	unsigned bits = 0;

	assert(n->subject != NULL && strlen(n->subject) == PSEUDO_SUBJECT_HEX);
	memset(row, 0, sizeof(*row));
	if (reserve(s) != 0)
		return SUBJECTS_EDB;
	res = s->ops->add(s->st, n, record, arg, row, index, &bits);
	if (res == SUBJECTS_OK)
		in_force(s, n->subject, bits);
	return res;
}

enum subjects_result
subjects_close_request(struct subjects *s, const char *subject, const char *id,
                       enum subjects_outcome outcome, const char *reason, const char *by,
                       int64_t now_ms, subjects_record_fn record, void *arg,
                       struct subjects_row *row, uint64_t *index)
{
	enum subjects_result res;
	unsigned bits = 0;

	assert(outcome != SUBJECTS_OPEN);
	memset(row, 0, sizeof(*row));
	if (reserve(s) != 0)
		return SUBJECTS_EDB;
	res = s->ops->close(s->st, subject, id, outcome, reason, by, now_ms, record, arg, row,
	                    index, &bits);
	if (res == SUBJECTS_OK)
		in_force(s, subject, bits);
	return res;
}

/* An instant in ms (decimal text) as RFC 3339 UTC with milliseconds, as the ledger writes
 * times; or null. */
static json_t *
time_json(const char *v)
{
	char out[CAL_UTC_LEN], ms[CAL_UTC_LEN + 8];
	int64_t t;

	if (v == NULL)
		return json_null();
	t = strtoll(v, NULL, 10);
	cal_format_utc((time_t)(t / 1000), out);
	snprintf(ms, sizeof(ms), "%.19s.%03dZ", out, (int)(t % 1000));
	return json_string(ms);
}

static json_t *
text_json(const char *v)
{
	return v != NULL ? json_string(v) : json_null();
}

static json_t *
int_json(const char *v)
{
	return v != NULL ? json_integer((json_int_t)strtoll(v, NULL, 10)) : json_null();
}

/* Whole days from received until today, or until the day it was closed. */
static json_t *
age_json(const char *received, const char *closed_at, int64_t today)
{
	int y, m, d;

	if (received == NULL || cal_parse_date(received, strlen(received), &y, &m, &d) != 0)
		return json_null();
	if (closed_at != NULL)
		today = cal_jst_day(strtoll(closed_at, NULL, 10));
	return json_integer((json_int_t)(today - cal_days_from_civil(y, m, d)));
}

json_t *
subjects_row_json(const char *const col[SUBJECTS_NCOLS], bool with_subject, int64_t today)
{
	json_t *o = json_pack(
	    "{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", text_json(col[0]),
	    "type", text_json(col[2]), "received", text_json(col[3]), "channel", text_json(col[4]),
	    "note", text_json(col[5]), "status", text_json(col[6]), "outcome", text_json(col[7]),
	    "reason", text_json(col[8]), "opened_at", time_json(col[9]), "opened_by",
	    text_json(col[10]), "opened_index", int_json(col[11]), "closed_at", time_json(col[12]),
	    "closed_by", text_json(col[13]), "closed_index", int_json(col[14]));

	if (o == NULL ||
	    json_object_set_new(o, "age_days", age_json(col[3], col[12], today)) != 0 ||
	    (with_subject && json_object_set_new(o, "subject", text_json(col[1])) != 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
subjects_of(struct subjects *s, const char *subject, int64_t today)
{
	return s->ops->rows(s->st, SUBJECTS_ROWS_OF, subject, today);
}

json_t *
subjects_list(struct subjects *s, const char *status, int64_t today)
{
	return status == NULL ? s->ops->rows(s->st, SUBJECTS_ROWS_ALL, NULL, today)
	                      : s->ops->rows(s->st, SUBJECTS_ROWS_STATUS, status, today);
}

json_t *
subjects_overdue(struct subjects *s, int64_t today)
{
	char before[CAL_DAY_LEN];

	cal_format_day(today - SUBJECTS_OVERDUE_DAYS, before);
	return s->ops->rows(s->st, SUBJECTS_ROWS_OVERDUE, before, today);
}
