/* ledger_volume — inside the ledger: contracts' daily volumes counted in the writer's commit. */
#include <stdlib.h>
#include <string.h>

#include "ledger_err.h"
#include "ledger_volume.h"

int
ledger_volume_claim(struct ledger_volume *v, const struct ledger_entry *e, size_t n)
{
	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		if (e[i].kind != LEDGER_RELEASE || e[i].subject == NULL || e[i].contract == NULL ||
		    e[i].records_per_day == 0)
			continue;
		if (v->contract == NULL) {
			if ((v->contract = strdup(e[i].contract)) == NULL)
				return LEDGER_ENOMEM;
			v->limit = e[i].records_per_day;
		}
		v->records++;
	}
	return 0;
}

void
ledger_volume_clear(struct ledger_volume *v)
{
	free(v->contract);
	memset(v, 0, sizeof(*v));
}

/* The claims of k's contract in the chain from k, one by one in order, from the total as it
 * stands: each kept while it fits under its own limit. */
static int
take_each(struct ledger_store *s, struct ledger_volume *k, int64_t day)
{
	uint64_t total = 0, kept = 0;
	bool ok;

	/* adding nothing without a limit reads the total */
	if (s->ops->volume_add(s, k->contract, day, 0, 0, &ok, &total) != 0)
		return LEDGER_EIO;
	for (struct ledger_volume *v = k; v != NULL; v = v->next) {
		if (strcmp(v->contract, k->contract) != 0)
			continue;
		v->refused = total + kept + v->records > v->limit;
		if (!v->refused)
			kept += v->records;
	}
	if (kept > 0 && s->ops->volume_add(s, k->contract, day, kept, 0, &ok, &total) != 0)
		return LEDGER_EIO;
	for (struct ledger_volume *v = k; v != NULL; v = v->next)
		if (strcmp(v->contract, k->contract) == 0)
			v->total = total;
	return 0;
}

int
ledger_volume_take(struct ledger_store *s, struct ledger_volume *v, int64_t day)
{
	if (s->ops->volume_add == NULL)
		return v == NULL ? 0 : LEDGER_EIO;
	for (struct ledger_volume *k = v; k != NULL; k = k->next) {
		uint64_t sum = 0, limit = UINT64_MAX, total = 0;
		bool first = true, ok = false;
		/* the first claim of its contract does the contract's work */
		for (struct ledger_volume *i = v; i != k && first; i = i->next)
			first = strcmp(i->contract, k->contract) != 0;
		if (!first)
			continue;
		for (struct ledger_volume *i = k; i != NULL; i = i->next)
			if (strcmp(i->contract, k->contract) == 0) {
				sum += i->records;
				limit = i->limit < limit ? i->limit : limit;
			}
		if (s->ops->volume_add(s, k->contract, day, sum, limit, &ok, &total) != 0)
			return LEDGER_EIO;
		if (!ok) {
			if (take_each(s, k, day) != 0)
				return LEDGER_EIO;
			continue;
		}
		for (struct ledger_volume *i = k; i != NULL; i = i->next)
			if (strcmp(i->contract, k->contract) == 0) {
				i->total = total;
				i->refused = false;
			}
	}
	return 0;
}

int
ledger_members_claim(struct ledger_members *m, const struct ledger_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (e[i].kind != LEDGER_RELEASE || e[i].subject == NULL || e[i].restrict_mask == 0)
			continue;
		if (m->v == NULL && (m->v = calloc(n, sizeof(*m->v))) == NULL)
			return LEDGER_ENOMEM;
		struct ledger_member_check *c = &m->v[m->n++];
		size_t len = strnlen(e[i].subject, sizeof(c->subject) - 1);
		memcpy(c->subject, e[i].subject, len);
		c->subject[len] = '\0';
		c->bits = e[i].restrictions;
		c->mask = e[i].restrict_mask;
	}
	return 0;
}

void
ledger_members_clear(struct ledger_members *m)
{
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

bool
ledger_members_changed(const struct ledger_members *m,
                       unsigned (*now)(void *arg, const char *subject), void *arg)
{
	for (size_t i = 0; i < m->n; i++)
		if ((now(arg, m->v[i].subject) & m->v[i].mask) != (m->v[i].bits & m->v[i].mask))
			return true;
	return false;
}
