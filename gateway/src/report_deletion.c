/* report_deletion — ended entrustment contracts owing a certificate of deletion. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_read.h"
#include "report_deletion.h"

/* An ended entrustment contract, and what the ledger says of it. */
struct due {
	const struct contract *c; /* borrowed from the set */
	bool deleted;             /* a deletion entry names it ... */
	uint64_t deleted_index;   /* ... the latest at this index */
	uint64_t releases;        /* releases of the contract after that (or ever) */
	int64_t first, last;      /* their times, Unix ms */
	bool my_number;           /* one of them held class my_number */
	const struct catalog *cat;
};

struct dues {
	struct due *v;
	size_t n;
};

static bool
ended(const struct contract *c, time_t now)
{
	return c->status == CONTRACT_TERMINATED || c->valid_until < now;
}

/* The ended entrustment contracts of cs. 0, or -1 (memory). */
static int
dues_collect(struct dues *d, const struct contract_set *cs, const struct catalog *cat, time_t now)
{
	size_t n = cs != NULL ? contract_set_count(cs) : 0;

	d->n = 0;
	if ((d->v = calloc(n ? n : 1, sizeof(*d->v))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct contract *c = contract_set_at(cs, i);
		if (c->relationship == CONTRACT_ENTRUSTMENT && ended(c, now))
			d->v[d->n++] = (struct due){.c = c, .cat = cat};
	}
	return 0;
}

/* A deletion entry: the contract it names, if one of d, is deleted as of its index. */
static int
dues_admin(void *arg, const struct ledger_leaf *l)
{
	struct dues *d = arg;
	const struct ledger_admin *a = l->e.admin;

	if (l->e.kind != LEDGER_ADMIN || a == NULL ||
	    strcmp(a->action, REPORT_DELETION_ACTION) != 0)
		return 0;
	for (size_t k = 0; k < a->n_detail; k++) {
		if (strcmp(a->detail[k].key, "contract") != 0)
			continue;
		for (size_t i = 0; i < d->n; i++)
			if (strcmp(d->v[i].c->id, a->detail[k].value) == 0) {
				d->v[i].deleted = true;
				d->v[i].deleted_index = l->index;
			}
	}
	return 0;
}

/* A release of the contract's partner: counted if it is the contract's and came after the
 * latest deletion. */
static int
due_release(void *arg, const struct ledger_leaf *l)
{
	struct due *u = arg;

	if (l->e.kind != LEDGER_RELEASE || l->e.contract == NULL ||
	    strcmp(l->e.contract, u->c->id) != 0 || (u->deleted && l->index <= u->deleted_index))
		return 0;
	if (u->releases == 0 || l->time_ms < u->first)
		u->first = l->time_ms;
	if (u->releases == 0 || l->time_ms > u->last)
		u->last = l->time_ms;
	u->releases++;
	for (size_t i = 0; !u->my_number && u->cat != NULL && i < l->e.n_items; i++) {
		const struct catalog_field *f = catalog_item_field(u->cat, l->e.items[i]);
		u->my_number = f != NULL && f->cls == CATALOG_CLASS_MY_NUMBER;
	}
	return 0;
}

static json_t *
dues_json(const struct dues *d)
{
	json_t *out = json_array();
	char t1[LEDGER_TIME_LEN + 1], t2[LEDGER_TIME_LEN + 1];

	for (size_t i = 0; out != NULL && i < d->n; i++) {
		const struct due *u = &d->v[i];
		if (u->releases == 0)
			continue;
		ledger_leaf_time(u->first, t1);
		ledger_leaf_time(u->last, t2);
		if (json_array_append_new(
		        out,
		        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:b}", "contract", u->c->id,
		                  "partner", u->c->partner, "partner_name",
		                  u->c->partner_name ? u->c->partner_name : "", "status",
		                  contract_status_name(u->c->status), "valid_until",
		                  u->c->valid_until_text, "ended",
		                  u->c->status == CONTRACT_TERMINATED ? "terminated" : "expired",
		                  "releases", (json_int_t)u->releases, "first_release", t1,
		                  "last_release", t2, "my_number", u->my_number)) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static int
read_failed(int rc, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", rc == LEDGER_EINVAL ? "out of memory" : ledger_strerror(rc));
	return -1;
}

json_t *
report_deletion_due(struct ledger *l, const struct contract_set *cs, const struct catalog *cat,
                    time_t now, char *err, size_t errlen)
{
	struct dues d = {0};
	json_t *out = NULL;
	uint64_t end;
	int rc;

	if (dues_collect(&d, cs, cat, now) != 0) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (d.n == 0) {
		free(d.v);
		return json_array();
	}
	/* one ledger for every pass, whatever is committed meanwhile */
	if ((rc = ledger_size(l, &end)) != 0) {
		read_failed(rc, err, errlen);
		goto done;
	}
	struct ledger_filter admin = {.kind = LEDGER_ADMIN, .end = end};
	if ((rc = ledger_each(l, &admin, 0, dues_admin, &d, NULL)) != 0) {
		read_failed(rc, err, errlen);
		goto done;
	}
	for (size_t i = 0; i < d.n; i++) {
		struct due *u = &d.v[i];
		struct ledger_filter f = {.partner = u->c->partner,
		                          .kind = LEDGER_RELEASE,
		                          .start = u->deleted ? u->deleted_index + 1 : 0,
		                          .end = end};
		if ((rc = ledger_each(l, &f, 0, due_release, u, NULL)) != 0) {
			read_failed(rc, err, errlen);
			goto done;
		}
	}
	if ((out = dues_json(&d)) == NULL)
		snprintf(err, errlen, "out of memory");
done:
	free(d.v);
	return out;
}
