/* admission — which connections a listener keeps when unauthenticated ones crowd it. */
#include <assert.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admission.h"

#define KEY_BYTES 9 /* family, then 4 bytes of IPv4 or the 8 of an IPv6 /64 */

struct admission_addr {
	struct admission_addr *next; /* in its bucket */
	unsigned char key[KEY_BYTES];
	unsigned count; /* pending connections from this address, at least 1 */
};

struct admission {
	unsigned max_trusted, max_pending;
	unsigned trusted, pending;
	unsigned naddrs;                    /* addresses with a pending connection */
	struct admission_slot *head, *tail; /* pending, oldest first */
	struct admission_addr **buckets;
	size_t mask; /* buckets - 1, a power of two minus one */
};

/*
 * IPv4 by address; IPv6 by /64, the block one subscriber is given, so that a host cannot
 * multiply its share by walking its own prefix. An IPv4-mapped IPv6 address is its IPv4 one.
 */
static void
addr_key(const struct sockaddr *sa, unsigned char key[KEY_BYTES])
{
	memset(key, 0, KEY_BYTES);
	if (sa != NULL && sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			key[0] = 4;
			memcpy(key + 1, a6->s6_addr + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a6->s6_addr, 8);
		}
	}
	/* anything else (a UNIX socket) shares the key of zeros */
}

/* FNV-1a. Not keyed: a chain holds at most max_pending entries, so collisions an attacker
 * arranges cost a bounded walk, never unbounded memory. */
static size_t
addr_hash(const unsigned char key[KEY_BYTES])
{
	uint64_t h = 0xcbf29ce484222325u;

	for (size_t i = 0; i < KEY_BYTES; i++)
		h = (h ^ key[i]) * 0x100000001b3u;
	return (size_t)(h ^ (h >> 32));
}

static struct admission_addr *
addr_find(const struct admission *a, const unsigned char key[KEY_BYTES])
{
	struct admission_addr *e = a->buckets[addr_hash(key) & a->mask];

	while (e != NULL && memcmp(e->key, key, KEY_BYTES) != 0)
		e = e->next;
	return e;
}

struct admission *
admission_new(unsigned max_trusted, unsigned max_pending)
{
	struct admission *a = calloc(1, sizeof *a);
	size_t n = 64;

	if (a == NULL)
		return NULL;
	assert(max_trusted > 0 && max_pending > 0);
	a->max_trusted = max_trusted;
	a->max_pending = max_pending;
	while (n < max_pending && n < ((size_t)1 << 20))
		n <<= 1;
	if ((a->buckets = calloc(n, sizeof *a->buckets)) == NULL) {
		free(a);
		return NULL;
	}
	a->mask = n - 1;
	return a;
}

void
admission_free(struct admission *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i <= a->mask; i++)
		for (struct admission_addr *e = a->buckets[i], *next; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(a->buckets);
	free(a);
}

/* Below its fair share: count * addresses < pending (an address holding nothing always is). */
static bool
below_share(const struct admission *a, unsigned count)
{
	return (uint64_t)count * a->naddrs < a->pending;
}

bool
admission_allow(const struct admission *a, const struct sockaddr *sa)
{
	unsigned char key[KEY_BYTES];

	if (a->pending < a->max_pending)
		return true;
	addr_key(sa, key);
	const struct admission_addr *e = addr_find(a, key);
	return e == NULL || below_share(a, e->count);
}

static void
unlink_pending(struct admission *a, struct admission_slot *s)
{
	struct admission_addr *e = s->addr;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		a->head = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	else
		a->tail = s->prev;
	s->prev = s->next = NULL;
	s->addr = NULL;
	a->pending--;
	if (--e->count == 0) {
		struct admission_addr **pp = &a->buckets[addr_hash(e->key) & a->mask];
		while (*pp != e)
			pp = &(*pp)->next;
		*pp = e->next;
		free(e);
		a->naddrs--;
	}
}

/* The oldest pending slot, other than keep, of an address holding the most. */
static struct admission_slot *
victim(const struct admission *a, const struct admission_slot *keep)
{
	unsigned most = 0;

	for (const struct admission_slot *t = a->head; t != NULL; t = t->next)
		if (t != keep && t->addr->count > most)
			most = t->addr->count;
	for (struct admission_slot *t = a->head; t != NULL; t = t->next)
		if (t != keep && t->addr->count == most)
			return t;
	return NULL;
}

int
admission_add(struct admission *a, struct admission_slot *s, const struct sockaddr *sa,
              struct admission_slot **evict)
{
	unsigned char key[KEY_BYTES];
	struct admission_addr *e;

	assert(s->state == ADMISSION_NONE);
	*evict = NULL;
	addr_key(sa, key);
	if ((e = addr_find(a, key)) == NULL) {
		if ((e = calloc(1, sizeof *e)) == NULL)
			return -1;
		memcpy(e->key, key, KEY_BYTES);
		size_t b = addr_hash(key) & a->mask;
		e->next = a->buckets[b];
		a->buckets[b] = e;
		a->naddrs++;
	}
	e->count++;
	s->addr = e;
	s->state = ADMISSION_PENDING;
	s->next = NULL;
	s->prev = a->tail;
	if (a->tail != NULL)
		a->tail->next = s;
	else
		a->head = s;
	a->tail = s;
	a->pending++;
	if (a->pending > a->max_pending && (*evict = victim(a, s)) != NULL)
		admission_remove(a, *evict);
	return 0;
}

bool
admission_trust(struct admission *a, struct admission_slot *s)
{
	if (s->state == ADMISSION_TRUSTED)
		return true;
	if (s->state != ADMISSION_PENDING || a->trusted >= a->max_trusted)
		return false;
	unlink_pending(a, s);
	s->state = ADMISSION_TRUSTED;
	a->trusted++;
	return true;
}

void
admission_remove(struct admission *a, struct admission_slot *s)
{
	if (s->state == ADMISSION_PENDING)
		unlink_pending(a, s);
	else if (s->state == ADMISSION_TRUSTED)
		a->trusted--;
	s->state = ADMISSION_NONE;
}

unsigned
admission_pending(const struct admission *a)
{
	return a->pending;
}

unsigned
admission_trusted(const struct admission *a)
{
	return a->trusted;
}
