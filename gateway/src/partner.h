/* partner — the partner API (SPEC 9): whoami, one member, pages; the decision order from step 2 on.
 */
#ifndef PDGATE_PARTNER_H
#define PDGATE_PARTNER_H

#include <stddef.h>

#include "ledger.h"
#include "metrics.h"
#include "origin.h"
#include "pseudo.h"
#include "ratelimit.h"
#include "registry.h"
#include "server.h"
#include "subjects.h"
#include "token.h"
#include "tokenstore.h"

struct workq;

/* What the partner API works with: all borrowed and outliving the listener, but the pool. */
struct partner_api {
	struct registry *registry;     /* contracts in force, suspensions */
	struct origin *origin;         /* member records */
	struct ledger *ledger;         /* every decision from step 4 on */
	struct ratelimit *limits;      /* step 8 */
	const struct pseudo *pseudo;   /* pseudonyms and subject references */
	struct token_verifier *tokens; /* work orders (aud pdgate-partner) */
	struct tokenstore *tokenstore; /* revoked jtis, max_records counts */
	struct subjects *subjects;     /* the restrictions of members' requests (step 10) */
	size_t max_record_bytes;       /* [origin] max_record_bytes */
	struct metrics *metrics;       /* decisions counted; NULL: none */
	struct workq *pool;            /* owned: page builders, from partner_api_start */
};

/*
 * Starts the threads that build the members of a page, one per core; before the listener
 * starts, with the signals the threads must not take already blocked. 0, or -1 with a
 * message in err. Without it pages are built on the request's thread alone.
 */
int partner_api_start(struct partner_api *api, char *err, size_t errlen);
/* Stops and joins those threads, after the listener stopped; a no-op if none were started. */
void partner_api_stop(struct partner_api *api);

/* The partner listener's server_config.on_event: a single member with the embedded origin is
 * decided on the event thread (app is the struct partner_api). */
bool partner_on_event(const struct server_route *route, void *app);
/* The partner listener's routes; the server's app pointer must be a struct partner_api. */
extern const struct server_route partner_routes[];
extern const size_t partner_nroutes;

#endif
