/* certwatch — when the installation's certificates and CRLs end, and which of them to announce. */
#include <stdlib.h>
#include <string.h>

#include "certwatch.h"
#include "ledger_leaf.h"

#define DAY_S INT64_C(86400)

int64_t
certwatch_days_left(int64_t ends, time_t now)
{
	int64_t d = ends - (int64_t)now;

	return d >= 0 ? d / DAY_S : -((-d + DAY_S - 1) / DAY_S);
}

int64_t
certwatch_days_to(int64_t ends, time_t now)
{
	return ends <= (int64_t)now ? 0 : (ends - (int64_t)now + DAY_S - 1) / DAY_S;
}

bool
certwatch_due(enum certwatch_kind kind, int64_t ends, time_t now)
{
	int64_t days = kind == CERTWATCH_CRL ? CERTWATCH_CRL_DAYS : CERTWATCH_CERT_DAYS;

	return ends <= (int64_t)now + days * DAY_S;
}

static const char *
kind_name(enum certwatch_kind k)
{
	switch (k) {
	case CERTWATCH_PARTNER:
		return "partner";
	case CERTWATCH_STAFF:
		return "staff";
	case CERTWATCH_SERVER:
		return "server";
	case CERTWATCH_CRL:
		return "crl";
	}
	return "unknown";
}

/* Whether the summary lists c at now (certwatch_json says which). */
static bool
listed(const struct certwatch_item *c, time_t now)
{
	if (c->problem != NULL)
		return true;
	switch (c->kind) {
	case CERTWATCH_PARTNER:
	case CERTWATCH_STAFF:
		return c->ends >= now && certwatch_due(c->kind, c->ends, now);
	case CERTWATCH_SERVER:
	case CERTWATCH_CRL:
		return certwatch_due(c->kind, c->ends, now);
	}
	return true;
}

/* Problems first, then the soonest end. */
static int
cmp_items(const void *a, const void *b)
{
	const struct certwatch_item *x = *(const struct certwatch_item *const *)a;
	const struct certwatch_item *y = *(const struct certwatch_item *const *)b;

	if ((x->problem != NULL) != (y->problem != NULL))
		return x->problem != NULL ? -1 : 1;
	if (x->problem == NULL && x->ends != y->ends)
		return x->ends < y->ends ? -1 : 1;
	return x->kind != y->kind ? (x->kind < y->kind ? -1 : 1)
	                          : strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static json_t *
str_json(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
item_json(const struct certwatch_item *c, time_t now)
{
	char ends[LEDGER_TIME_LEN + 1];
	bool known = c->problem == NULL && c->ends > 0;

	if (known)
		ledger_leaf_time(c->ends * 1000, ends);
	return json_pack(
	    "{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "kind", kind_name(c->kind), "name",
	    str_json(c->name), "serial", str_json(c->serial), "sha256", str_json(c->sha256), "file",
	    str_json(c->file), "ends", known ? json_string(ends) : json_null(), "days_left",
	    c->problem == NULL ? json_integer(certwatch_days_left(c->ends, now)) : json_null(),
	    "problem", str_json(c->problem));
}

json_t *
certwatch_json(const struct certwatch *w, time_t now)
{
	json_t *out = json_array();
	const struct certwatch_item **v;
	size_t n = 0;

	if (out == NULL || w == NULL || w->n == 0)
		return out;
	if ((v = calloc(w->n, sizeof(*v))) == NULL) {
		json_decref(out);
		return NULL;
	}
	for (size_t i = 0; i < w->n; i++)
		if (listed(&w->v[i], now))
			v[n++] = &w->v[i];
	qsort(v, n, sizeof(*v), cmp_items);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, item_json(v[i], now));
	free(v);
	return out;
}
