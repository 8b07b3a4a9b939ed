/* compliance — the compliance listener (SPEC 12): staff tokens, the ledger, reports, the kill
 * switch, the console. */
#ifndef PDGATE_COMPLIANCE_H
#define PDGATE_COMPLIANCE_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "origin.h"
#include "pseudo.h"
#include "registry.h"
#include "server.h"
#include "subjects.h"
#include "tokenstore.h"

struct witness_client; /* witness_client.h */

/*
 * Who may do what. Every API request carries a staff token (Authorization: Bearer, aud
 * pdgate-compliance, not revoked); role auditor reads, role officer also suspends and resumes.
 * A client certificate is optional unless [compliance] require_client_cert; when one is sent it
 * must chain to the staff CA, pass the staff CRL, and name the token's sub. A partner
 * certificate, or a work order, is the wrong credential here: 403 forbidden.
 *
 * The console's files ([compliance] ui, console.h) are served without a token at GET /
 * (index.html) and GET /ui/<file>.
 */

#define COMPLIANCE_SEARCH_MAX 1000 /* entries per search page */
#define COMPLIANCE_ENTRIES_MAX 10000
#define COMPLIANCE_REASON_MAX 512 /* characters of a suspension's reason, a free text (text.h) */

/* What the listener works with: all borrowed, all outliving it. */
struct compliance_params {
	const struct config *cfg;
	struct registry *registry;     /* contracts, partner and gateway state */
	struct ledger *ledger;         /* readers, and admin entries */
	const struct pseudo *pseudo;   /* member id -> subject reference */
	struct tokenstore *tokenstore; /* revoked staff tokens */
	struct subjects *subjects;     /* members' requests and their restrictions */
	struct origin *origin;         /* member ids of a breach's subjects; NULL: not resolved */
	struct log *log;
	struct metrics *metrics;        /* the listener's requests and connections; NULL: none */
	struct witness_client *witness; /* the summary's witness member; NULL: no witnesses */
	struct tlscred *cred; /* the listener's certificate and key as loaded and checked at
	                         start ([compliance] cert, key); the listener takes its own
	                         reference */
};

struct compliance;

/* The listener's routes, in the order they are matched (`pdgate serve --routes` lists them). */
extern const struct server_route compliance_routes[];
extern const size_t compliance_nroutes;

/*
 * Loads the staff trust store, the staff token verifier and the console's files, and starts
 * the listener on [compliance] listen. Returns it, or NULL with a message in err.
 */
struct compliance *compliance_start(const struct compliance_params *p, char *err, size_t errlen);

/* The listener's address, "https://127.0.0.1:9443". Borrowed. */
const char *compliance_url(const struct compliance *c);

/* The staff CA and CRL, and the listener: for the gateway's reload (SIGHUP), which loads
 * them again together with its other files, all or nothing. Borrowed. */
struct tlsauth;
struct server;
struct tlsauth *compliance_staff_trust(struct compliance *c);
struct server *compliance_server(struct compliance *c);

/* The staff CRL's nextUpdate in force (0: no staff CRL): past it, no staff certificate passes. */
time_t compliance_staff_crl_next_update(const struct compliance *c);

/* Stops the listener (requests in flight get up to drain_ms) and frees. NULL is a no-op. */
void compliance_stop(struct compliance *c, unsigned drain_ms);

/*
 * What `pdgate serve -n` checks for this listener without starting it: the staff CA and CRL,
 * the token key, the console's folder. NULL if all is well, else the problems, one per line
 * without a final newline (caller frees).
 */
char *compliance_check(const struct config *cfg);

#endif
