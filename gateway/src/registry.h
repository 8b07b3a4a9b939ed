/* registry — the policies and contracts in force, and each partner's state (suspensions). */
#ifndef PDGATE_REGISTRY_H
#define PDGATE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "catalog.h"
#include "contract.h"

struct registry;

/*
 * The catalogs and contracts of one load. A request takes a view with registry_acquire and
 * works on it to the end, so a reload in the middle never mixes two sets; the view lives until
 * the last request holding it lets go.
 */
struct registry_view {
	const struct catalog *catalog;
	const struct contract_set *contracts;
	uint64_t generation; /* 1 for the first load, +1 per successful reload */
};

/*
 * Loads the catalogs and the contracts folder, and opens the state database (suspensions,
 * persisted: SQLite at state_path, created if needed). Each load compiles every contract
 * purpose's release plan, its pseudonyms keyed by pseudo (borrowed, outlives the registry;
 * NULL: no plan of a contract that pseudonymises). NULL with *errors (every problem, one per
 * line; caller frees) on failure.
 */
struct pseudo;
struct registry *registry_open(const char *purposes, const char *fields, const char *contracts,
                               const char *state_path, const struct pseudo *pseudo, char **errors);
void registry_free(struct registry *r);

/*
 * A reload in two steps, so that it can be all or nothing together with other files:
 * registry_load reads the catalogs and contracts again and changes nothing; it returns the
 * new set, or NULL with *errors (every problem, one per line; caller frees). registry_install
 * then puts the set in force (takes it; requests under way finish on the view they hold), or
 * registry_snapshot_free drops it (NULL is a no-op).
 */
struct registry_snapshot;
struct registry_snapshot *registry_load(struct registry *r, char **errors);
void registry_install(struct registry *r, struct registry_snapshot *s);
void registry_snapshot_free(struct registry_snapshot *s);

/* The release plan of a purpose of one of the view's contracts (release.h), borrowed from the
 * view; NULL if it has none (release_build then says why). */
struct release_plan;
const struct release_plan *registry_plan(const struct registry_view *v,
                                         const struct contract_purpose *p);

/* The view in force; give it back with registry_release. Never NULL. */
const struct registry_view *registry_acquire(struct registry *r);
void registry_release(struct registry *r, const struct registry_view *v);

/* Step 3 and 4 of the decision: read from memory, no I/O. */
bool registry_gateway_suspended(struct registry *r);
bool registry_partner_suspended(struct registry *r, const char *partner);
/* Both at once, with the generation of the shared state they are of (0 without one). */
uint64_t registry_suspensions(struct registry *r, const char *partner, bool *gateway,
                              bool *partner_suspended);

/*
 * Several gateway nodes (a PostgreSQL ledger, docs/cluster.md): from now on the suspensions are
 * those of the database s (a writer's connection; the state database's are no longer read),
 * loaded now; every change goes through s. listen, a second connection to it, is a thread's
 * that puts in force what another node changes as soon as it is announced (LISTEN/NOTIFY),
 * and every SHARE_POLL_MS in any case. Both borrowed, outliving the registry. also (NULL:
 * none) loads the shared state's other holders (the members' restrictions) as the listener
 * reads its own, on the listener's connection, with also_arg. 0, or -1 with err.
 */
struct ledger_store;
int registry_share(struct registry *r, struct ledger_store *s, struct ledger_store *listen,
                   int (*also)(void *arg, struct ledger_store *s), void *also_arg, char *err,
                   size_t errlen);
/* The ledger's hooks (ledger_params.state_load, state_allows; arg the registry): puts in force
 * the suspensions and revoked tokens s holds if they are newer than those in force; whether a
 * release of partner under work order token (NULL: none) may go out under them. */
int registry_state_load(void *arg, struct ledger_store *s);
bool registry_state_allows(void *arg, const char *partner, const char *token);
/* Whether the shared state in force revokes token jti (never, without registry_share). */
bool registry_token_revoked(struct registry *r, const char *jti);

/*
 * Suspends or resumes a partner (partner non-NULL) or the whole gateway (partner NULL). The new
 * state is on disk (synchronous=FULL) before the call returns and in force for the next request
 * of every connection. who and reason are recorded with it. Returns 1 if the state changed,
 * 0 if it already was so, -1 on a database error (nothing changed).
 */
int registry_set_suspended(struct registry *r, const char *partner, bool suspended, const char *who,
                           const char *reason, int64_t now_ms);

/*
 * Every partner named by a contract or by a suspension, with its state (with a shared state,
 * read from the database first; NULL if it cannot be), as a JSON array of
 * {"partner","suspended","reason","by","since","contracts":[ids]} (new reference), and the
 * gateway's state as {"suspended",…} in *gateway (new reference).
 */
json_t *registry_partners(struct registry *r, json_t **gateway);

#endif
