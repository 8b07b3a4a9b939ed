/* contract — a partner contract (SPEC 7) as loaded, and the set of contracts in force. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "errlist.h"
#include "ident.h"
#include "strtab.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const relationship_names[] = {
    [CONTRACT_ENTRUSTMENT] = "entrustment",
    [CONTRACT_JOINT_USE] = "joint_use",
    [CONTRACT_THIRD_PARTY] = "third_party",
};
static const char *const status_names[] = {
    [CONTRACT_ACTIVE] = "active",
    [CONTRACT_SUSPENDED] = "suspended",
    [CONTRACT_TERMINATED] = "terminated",
};

const char *
contract_relationship_name(enum contract_relationship r)
{
	return strtab_name(relationship_names, NELEM(relationship_names), (size_t)r);
}

const char *
contract_status_name(enum contract_status s)
{
	return strtab_name(status_names, NELEM(status_names), (size_t)s);
}

bool
contract_relationship_parse(const char *s, enum contract_relationship *out)
{
	int i = strtab_index(relationship_names, NELEM(relationship_names), s);
	if (i < 0)
		return false;
	*out = (enum contract_relationship)i;
	return true;
}

bool
contract_status_parse(const char *s, enum contract_status *out)
{
	int i = strtab_index(status_names, NELEM(status_names), s);
	if (i < 0)
		return false;
	*out = (enum contract_status)i;
	return true;
}

static void
free_purpose(struct contract_purpose *p)
{
	for (size_t i = 0; i < p->nwritten; i++)
		free(p->written[i]);
	free(p->written);
	for (size_t i = 0; i < p->nfields; i++)
		free((char *)p->fields[i].item);
	free(p->fields);
	free((char *)p->id);
}

void
contract_free(struct contract *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->npurposes; i++)
		free_purpose(&c->purposes[i]);
	free(c->purposes);
	free(c->file);
	free(c->id);
	free(c->partner);
	free(c->partner_name);
	free(c->valid_from_text);
	free(c->valid_until_text);
	free(c->certificates);
	free(c->confidentiality);
	free(c->notes);
	free(c->foreign_safeguards);
	free(c);
}

const struct contract_purpose *
contract_purpose(const struct contract *c, const char *purpose)
{
	for (size_t i = 0; i < c->npurposes; i++)
		if (strcmp(c->purposes[i].id, purpose) == 0)
			return &c->purposes[i];
	return NULL;
}

bool
contract_abroad(const struct contract *c)
{
	return strcmp(c->country, IDENT_COUNTRY_HOME) != 0;
}

bool
contract_in_force(const struct contract *c, time_t now)
{
	return c->status == CONTRACT_ACTIVE && now >= c->valid_from && now <= c->valid_until;
}

bool
contract_pins(const struct contract *c, const unsigned char fingerprint[32])
{
	if (c->ncertificates == 0)
		return true;
	for (size_t i = 0; i < c->ncertificates; i++)
		if (memcmp(c->certificates[i], fingerprint, 32) == 0)
			return true;
	return false;
}

/* ---- sets ---- */

struct contract_set {
	struct contract **v; /* sorted by partner, then id */
	size_t n;
};

static int
cmp_contract(const void *a, const void *b)
{
	const struct contract *x = *(const struct contract *const *)a;
	const struct contract *y = *(const struct contract *const *)b;
	int r = strcmp(x->partner, y->partner);
	return r != 0 ? r : strcmp(x->id, y->id);
}

void
contract_set_free(struct contract_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		contract_free(s->v[i]);
	free(s->v);
	free(s);
}

/* Sorts and checks ids; takes v. Adds errors to el; returns NULL if any. */
static struct contract_set *
make_set(struct contract **v, size_t n, struct errlist *el)
{
	struct contract_set *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		errlist_add(el, "contracts", NULL, "out of memory");
		for (size_t i = 0; i < n; i++)
			contract_free(v[i]);
		free(v);
		return NULL;
	}
	s->v = v;
	s->n = n;
	if (n > 0)
		qsort(s->v, n, sizeof(*s->v), cmp_contract);
	size_t before = errlist_count(el);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->v[i]->id, s->v[j]->id) == 0)
				errlist_add(el, s->v[i]->file, "$.id",
				            "duplicate contract id \"%s\", also in %s", s->v[i]->id,
				            s->v[j]->file);
	if (errlist_count(el) != before) {
		contract_set_free(s);
		return NULL;
	}
	return s;
}

struct contract_set *
contract_set_new(struct contract **contracts, size_t n, char **errors)
{
	struct errlist *el = errlist_new();
	*errors = NULL;
	if (el == NULL) {
		for (size_t i = 0; i < n; i++)
			contract_free(contracts[i]);
		free(contracts);
		*errors = strdup("out of memory");
		return NULL;
	}
	struct contract_set *s = make_set(contracts, n, el);
	if (s == NULL) {
		*errors = errlist_take(el);
		if (*errors == NULL)
			*errors = strdup("out of memory");
	}
	errlist_free(el);
	return s;
}

size_t
contract_set_count(const struct contract_set *s)
{
	return s->n;
}

const struct contract *
contract_set_at(const struct contract_set *s, size_t i)
{
	assert(i < s->n);
	return s->v[i];
}

const struct contract *
contract_set_find(const struct contract_set *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i]->id, id) == 0)
			return s->v[i];
	return NULL;
}

size_t
contract_set_partner(const struct contract_set *s, const char *partner,
                     const struct contract *const **first)
{
	size_t lo = 0, hi = s->n;
	*first = NULL;
	if (s->n == 0)
		return 0;
	/* The set is sorted by partner: find the first of the run, then its end. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->v[mid]->partner, partner) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < s->n && strcmp(s->v[end]->partner, partner) == 0)
		end++;
	*first = (const struct contract *const *)(s->v + lo);
	return end - lo;
}
