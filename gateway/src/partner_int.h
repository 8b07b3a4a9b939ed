/* partner_int — what the files of the partner API share, not an interface: the handlers of
 * its routes kept in files of their own (partner_ledger.c: the ledger's checkpoint, receipts). */
#ifndef PDGATE_PARTNER_INT_H
#define PDGATE_PARTNER_INT_H

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
