/* admission — which connections a listener keeps when unauthenticated ones crowd it. */
#ifndef PDGATE_ADMISSION_H
#define PDGATE_ADMISSION_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * A listener has two budgets. Trusted connections — those that have presented a verified
 * certificate or staff token on a request — hold up to max_trusted. Every other connection
 * (still in its TLS handshake, before its first request, or refused on it) is pending and
 * holds up to max_pending, apart from the trusted. So however many connections strangers
 * open, they can never take a trusted slot, and when the pending budget is full the
 * newcomer is weighed against who holds it, by address (IPv4 address, IPv6 /64):
 *
 *   - an address holding at least its fair share of the pending budget (pending / addresses)
 *     is refused at accept, before a byte of TLS: a flood from few addresses bounces off
 *     itself at the cost of an accept and a close;
 *   - anyone else is admitted, and the oldest pending connection of the address holding the
 *     most is closed to make room: a partner connecting from its own address always gets in,
 *     however many connections a few addresses hold.
 *
 * The caller pairs this with a short bound on the handshake and first request, so a pending
 * slot is never held for long. All functions are to be called under one lock of the caller's.
 */

struct admission;

enum admission_state {
	ADMISSION_NONE,    /* not counted: not added yet, or removed */
	ADMISSION_PENDING, /* in the pending budget */
	ADMISSION_TRUSTED, /* in the trusted budget */
};

struct admission_addr; /* one address's count of pending connections */

/* Embedded in the caller's connection; zero-initialised before admission_add. */
struct admission_slot {
	struct admission_slot *prev, *next; /* the pending list, oldest first */
	struct admission_addr *addr;        /* while pending */
	enum admission_state state;
};

/* A new admission for the two budgets (each at least 1), or NULL if out of memory. */
struct admission *admission_new(unsigned max_trusted, unsigned max_pending);
/* Frees; the slots still counted are forgotten. NULL is a no-op. */
void admission_free(struct admission *a);

/* At accept: false if a connection from sa is to be closed at once (see above). */
bool admission_allow(const struct admission *a, const struct sockaddr *sa);

/*
 * Counts slot s, a new connection from sa, as pending. Returns 0 with *evict set to the slot
 * of another pending connection to close to make room (already removed from the counts), or
 * to NULL; -1 if out of memory (s is not counted; close the connection).
 */
int admission_add(struct admission *a, struct admission_slot *s, const struct sockaddr *sa,
                  struct admission_slot **evict);

/* Moves pending s into the trusted budget. False if that budget is full: s stays pending
 * (the caller serves it and closes it). True also if s is trusted already. */
bool admission_trust(struct admission *a, struct admission_slot *s);

/* Uncounts s, whatever its state (a no-op for ADMISSION_NONE). */
void admission_remove(struct admission *a, struct admission_slot *s);

/* The counts, for logs and tests. */
unsigned admission_pending(const struct admission *a);
unsigned admission_trusted(const struct admission *a);

#endif
