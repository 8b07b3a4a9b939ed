/* partner_ledger — the partner API's ledger routes: the latest checkpoint, and a partner's
 * receipts (the proof bundles of its own entries). */
#ifndef PDGATE_PARTNER_LEDGER_H
#define PDGATE_PARTNER_LEDGER_H

#include "server.h"

/*
 * Handlers of partner_routes; app is the struct partner_api. Neither writes the ledger: a
 * receipt is not a decision, and receipts that made entries would grow the tree they prove.
 */

/* GET /v1/ledger/checkpoint: the latest checkpoint note (text/plain), as receipt serves it. */
void partner_ledger_checkpoint(struct server_request *req, void *app);

/* GET /v1/ledger/receipts/{index}: the proof bundle of that entry in the latest checkpoint,
 * if its partner is the caller's; one 404 for anyone else's entry and for no entry at all. */
void partner_ledger_receipt(struct server_request *req, void *app);

#endif
