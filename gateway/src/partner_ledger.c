/* partner_ledger — the partner API's ledger routes: the latest checkpoint, and a partner's
 * receipts (the proof bundles of its own entries). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_cosig.h"
#include "ledger_read.h"
#include "partner.h"
#include "partner_int.h"
#include "receipt.h"

/* What anyone but the entry's partner is told, and what an index past the ledger gets: the
 * same words, so that a partner learns nothing of entries that are not its own. */
#define NOT_YOURS "no entry of this partner at that index"

static void
ledger_failed(struct server_request *req, int rc)
{
	server_reply_error(req, rc == LEDGER_ENOMEM ? APIERR_INTERNAL : APIERR_LEDGER_UNAVAILABLE,
	                   rc == LEDGER_ENOMEM ? "out of memory" : ledger_strerror(rc));
}

/* An entry index as a path segment: decimal digits, no sign, no leading zero, at most
 * INT64_MAX (what a JSON integer of the bundle holds). 0 or -1. */
static int
parse_index(const char *s, uint64_t *out)
{
	uint64_t n = 0;

	if (s == NULL || s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*out = n;
	return 0;
}

/* Whether leaf[0..len) is an entry of partner. */
static bool
leaf_of(const char *leaf, size_t len, const char *partner)
{
	struct ledger_leaf *parsed = malloc(sizeof(*parsed));
	bool mine = parsed != NULL && ledger_leaf_parse(leaf, len, parsed) == 0 &&
	            parsed->e.partner != NULL && strcmp(parsed->e.partner, partner) == 0;

	free(parsed);
	return mine;
}

struct owner {
	const char *partner;
	bool mine;
};

static int
owner_leaf(void *arg, uint64_t index, const char *leaf, size_t len)
{
	struct owner *o = arg;

	(void)index;
	o->mine = leaf_of(leaf, len, o->partner);
	return 0;
}

void
partner_ledger_checkpoint(struct server_request *req, void *app)
{
	struct partner_api *api = app;
	char *note = NULL, buf[24];
	size_t len = 0;
	uint64_t size = 0;
	int rc;

	if (server_request_query_only(req, (const char *const[]){NULL}) != 0) {
		server_reply_error(req, APIERR_BAD_REQUEST, "the checkpoint takes no query");
		return;
	}
	rc = ledger_cosigned_checkpoint(api->ledger, 0, &note, &len, &size);
	if (rc == LEDGER_ENOENT) {
		server_reply_error(req, APIERR_NOT_FOUND, "no checkpoint has been signed yet");
		return;
	}
	if (rc != 0) {
		ledger_failed(req, rc);
		return;
	}
	server_reply_take(req, 200, "text/plain; charset=utf-8", note, len);
	snprintf(buf, sizeof(buf), "%" PRIu64, size);
	server_reply_header(req, "X-Tree-Size", buf);
}

/*
 * An entry the latest checkpoint does not hold: if it is the caller's, it is younger than the
 * checkpoint and the next one holds it (within checkpoint_interval_ms); anything else gets
 * NOT_YOURS.
 */
static void
not_checkpointed(struct server_request *req, struct partner_api *api, const char *partner,
                 uint64_t index)
{
	struct owner o = {partner, false};
	uint64_t size;
	int rc;

	if ((rc = ledger_size(api->ledger, &size)) != 0) {
		ledger_failed(req, rc);
		return;
	}
	if (index < size &&
	    (rc = ledger_leaves(api->ledger, index, index + 1, owner_leaf, &o)) != 0) {
		ledger_failed(req, rc);
		return;
	}
	if (!o.mine) {
		server_reply_error(req, APIERR_NOT_FOUND, NOT_YOURS);
		return;
	}
	server_reply_error(req, APIERR_NOT_FOUND,
	                   "the entry is not in a signed checkpoint yet: the next one holds it");
	server_reply_header(req, "Retry-After", "1");
}

void
partner_ledger_receipt(struct server_request *req, void *app)
{
	struct partner_api *api = app;
	const struct tlsauth_identity *id = server_request_identity(req);
	uint64_t index = 0, size = 0;
	json_t *b = NULL, *leaf;
	int rc;

	if (id == NULL) { /* the partner listener requires a certificate: a server bug */
		server_reply_error(req, APIERR_INTERNAL, NULL);
		return;
	}
	if (parse_index(server_request_param(req, 0), &index) != 0 ||
	    server_request_query_only(req, (const char *const[]){NULL}) != 0) {
		server_reply_error(req, APIERR_BAD_REQUEST,
		                   "index: an entry index in decimal (no sign, no leading zero, at "
		                   "most 9223372036854775807), with no query");
		return;
	}
	rc = receipt_bundle(api->ledger, index, 0, NULL, &b, &size);
	if (rc == LEDGER_ENOENT || rc == LEDGER_ERANGE) {
		not_checkpointed(req, api, id->id, index);
		return;
	}
	if (rc != 0) {
		ledger_failed(req, rc);
		return;
	}
	leaf = json_object_get(b, "leaf");
	if (!leaf_of(json_string_value(leaf), json_string_length(leaf), id->id)) {
		json_decref(b);
		server_reply_error(req, APIERR_NOT_FOUND, NOT_YOURS);
		return;
	}
	server_reply_json(req, 200, b);
}
