/* test_report_deletion — deletion_due on a table of contracts and entries: which ended
 * entrustment contracts owe a certificate of deletion, the my_number flag, and a deletion that
 * covers the releases before it but not those after. It includes report_deletion.c to feed the
 * aggregation parsed leaves without a ledger. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "report_deletion.c"

#define NOW ((time_t)1775000000) /* 2026-03-31 */
#define DAY 86400

static struct ledger_leaf parsed;

/* The entries of a case, as leaves, in index order. */
struct entries {
	struct buf leaf[16];
	size_t n;
};

/* Adds an entry encoded by the ledger's own encoder. */
static void
entry(struct entries *es, uint64_t index, const struct ledger_entry *e)
{
	struct buf tail = {0};
	char t[LEDGER_TIME_LEN + 1];

	ledger_leaf_time((int64_t)(NOW - 10 * DAY) * 1000 + (int64_t)index * 1000, t);
	CHECK(es->n < 16 && ledger_leaf_tail(e, &tail) == 0 &&
	          ledger_leaf_join(&es->leaf[es->n++], index, t, &tail) == 0,
	      "entry %llu encodes", (unsigned long long)index);
	buf_free(&tail);
}

/* The passes of report_deletion_due: every admin entry first, then the releases after each
 * contract's latest deletion. */
static void
passes(struct dues *d, struct entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		CHECK(ledger_leaf_parse(es->leaf[i].data, es->leaf[i].len, &parsed) == 0,
		      "parse %zu", i);
		dues_admin(d, &parsed);
	}
	for (size_t k = 0; k < d->n; k++)
		for (size_t i = 0; i < es->n; i++) {
			ledger_leaf_parse(es->leaf[i].data, es->leaf[i].len, &parsed);
			if (!d->v[k].deleted || parsed.index > d->v[k].deleted_index)
				due_release(&d->v[k], &parsed);
		}
	for (size_t i = 0; i < es->n; i++)
		buf_free(&es->leaf[i]);
}

static void
release(struct entries *d, uint64_t index, const char *partner, const char *contract,
        const char *const *items, size_t n)
{
	struct ledger_entry e = {.kind = LEDGER_RELEASE,
	                         .request = "r",
	                         .partner = partner,
	                         .contract = contract,
	                         .subject = "ab",
	                         .items = items,
	                         .n_items = n};
	entry(d, index, &e);
}

static void
deletion(struct entries *d, uint64_t index, const char *partner, const char *contract,
         const char *action)
{
	const struct ledger_detail detail[] = {{"attested_by", "山田"},
	                                       {"certificate", "DEL-1"},
	                                       {"contract", contract},
	                                       {"deleted_at", "2026-03-30"}};
	struct ledger_admin a = {.action = action,
	                         .staff = "officer",
	                         .target = partner,
	                         .detail = detail,
	                         .n_detail = 4};
	struct ledger_entry e = {
	    .kind = LEDGER_ADMIN, .request = "r", .partner = partner, .admin = &a};
	entry(d, index, &e);
}

static struct contract *
contract(const char *id, const char *partner, enum contract_relationship r, enum contract_status st,
         time_t until)
{
	struct contract *c = calloc(1, sizeof(*c));

	c->id = strdup(id);
	c->partner = strdup(partner);
	c->partner_name = strdup("名");
	c->relationship = r;
	c->status = st;
	c->valid_from = NOW - 400 * DAY;
	c->valid_until = until;
	c->valid_from_text = strdup("2025-01-01T00:00:00+09:00");
	c->valid_until_text = strdup("2026-03-01T00:00:00+09:00");
	return c;
}

static const json_t *
listed(const json_t *a, const char *id)
{
	for (size_t i = 0; i < json_array_size(a); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(a, i), "contract")),
		           id) == 0)
			return json_array_get(a, i);
	return NULL;
}

int
main(void)
{
	struct catalog *cat = fixture_catalog();
	if (cat == NULL)
		return check_done();
	struct contract **v = calloc(7, sizeof(*v));
	v[0] = contract("CT-A", "pay", CONTRACT_ENTRUSTMENT, CONTRACT_TERMINATED, NOW + 90 * DAY);
	v[1] = contract("CT-B", "mail", CONTRACT_ENTRUSTMENT, CONTRACT_ACTIVE, NOW - DAY);
	v[2] = contract("CT-C", "mail", CONTRACT_ENTRUSTMENT, CONTRACT_ACTIVE, NOW + DAY);
	v[3] = contract("CT-D", "third", CONTRACT_THIRD_PARTY, CONTRACT_TERMINATED, NOW - DAY);
	v[4] = contract("CT-E", "idle", CONTRACT_ENTRUSTMENT, CONTRACT_TERMINATED, NOW - DAY);
	v[5] = contract("CT-F", "done", CONTRACT_ENTRUSTMENT, CONTRACT_ACTIVE, NOW - DAY);
	v[6] = contract("CT-G", "again", CONTRACT_ENTRUSTMENT, CONTRACT_TERMINATED, NOW - DAY);
	char *errors = NULL;
	struct contract_set *cs = contract_set_new(v, 7, &errors);
	CHECK(cs != NULL, "set: %s", errors ? errors : "");
	free(errors);
	if (cs == NULL) {
		catalog_free(cat);
		return check_done();
	}

	struct dues d;
	CHECK(dues_collect(&d, cs, cat, NOW) == 0, "collect");
	CHECK(d.n == 5, "ended entrustment contracts: %zu (A B E F G)", d.n);

	struct entries es = {0}, *e = &es;
	const char *my[] = {"name.family", "my_number"}, *plain[] = {"name.family", "phone:mask:4"};
	release(e, 1, "pay", "CT-A", plain, 2);
	release(e, 2, "pay", "CT-A", my, 2);
	release(e, 3, "mail", "CT-B", plain, 2);
	release(e, 4, "mail", "CT-C", my, 2);
	release(e, 5, "third", "CT-D", plain, 2);
	release(e, 6, "done", "CT-F", my, 2);
	deletion(e, 7, "done", "CT-F", REPORT_DELETION_ACTION);
	release(e, 8, "again", "CT-G", plain, 1);
	deletion(e, 9, "again", "CT-G", REPORT_DELETION_ACTION);
	release(e, 10, "again", "CT-G", my, 2);            /* renewed, released and ended again */
	deletion(e, 11, "pay", "CT-A", "partner_suspend"); /* another action names it: no */

	passes(&d, e);

	json_t *out = dues_json(&d);
	CHECK(out != NULL, "json");
	const json_t *a = listed(out, "CT-A"), *b = listed(out, "CT-B"), *g = listed(out, "CT-G");
	CHECK(a && json_is_true(json_object_get(a, "my_number")), "A: terminated, my_number");
	CHECK(a && strcmp(json_string_value(json_object_get(a, "ended")), "terminated") == 0 &&
	          json_integer_value(json_object_get(a, "releases")) == 2,
	      "A ended by termination, two releases");
	CHECK(b && json_is_false(json_object_get(b, "my_number")),
	      "B: past valid_until, no my_number");
	CHECK(b && strcmp(json_string_value(json_object_get(b, "ended")), "expired") == 0,
	      "B expired");
	CHECK(b && json_integer_value(json_object_get(b, "releases")) == 1, "B releases");
	CHECK(listed(out, "CT-C") == NULL, "C in force: not due");
	CHECK(listed(out, "CT-D") == NULL, "D third party: not listed");
	CHECK(listed(out, "CT-E") == NULL, "E never released: nothing to delete");
	CHECK(listed(out, "CT-F") == NULL, "F: the deletion covers its releases");
	CHECK(g && json_integer_value(json_object_get(g, "releases")) == 1 &&
	          json_is_true(json_object_get(g, "my_number")),
	      "G: only the release after its deletion counts");
	CHECK(json_array_size(out) == 3, "three due: %zu", json_array_size(out));
	json_decref(out);
	free(d.v);

	/* before the ends, only the terminated contracts have ended */
	CHECK(dues_collect(&d, cs, cat, NOW - 300 * DAY) == 0 && d.n == 3, "terminated only: %zu",
	      d.n);
	free(d.v);
	CHECK(dues_collect(&d, NULL, cat, NOW) == 0 && d.n == 0, "no contracts");
	free(d.v);

	contract_set_free(cs);
	catalog_free(cat);
	return check_done();
}
