/* compliance_ledger — the compliance API's ledger routes: the checkpoint, the verifier key,
 * entries, proofs, search */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "compliance_int.h"
#include "ident.h"
#include "ledger_cosig.h"
#include "ledger_read.h"
#include "receipt.h"

/* ------------------------------------------------------------------------------------------ */
/* Ledger access. */

/* GET /v1/ledger/checkpoint */
void
compliance_checkpoint(struct server_request *req, void *app)
{
	struct compliance *c = app;
	char *note = NULL;
	size_t len = 0;
	uint64_t size = 0;
	char buf[24];
	int rc;

	if (compliance_only(req, (const char *const[]){NULL}, "nothing") != 0)
		return;
	rc = ledger_cosigned_checkpoint(c->p.ledger, 0, &note, &len, &size);
	if (rc == LEDGER_ENOENT) {
		server_reply_error(req, APIERR_NOT_FOUND, "no checkpoint has been signed yet");
		return;
	}
	if (rc != 0) {
		compliance_ledger_failed(req, rc);
		return;
	}
	server_reply_take(req, 200, "text/plain; charset=utf-8", note, len);
	snprintf(buf, sizeof(buf), "%" PRIu64, size);
	server_reply_header(req, "X-Tree-Size", buf);
}

/* GET /v1/ledger/vkey: the verifier key line, for a console that has none pinned yet. It is
 * only as trustworthy as this server: keys/ledger.vkey, distributed out of band, is the root. */
void
compliance_vkey(struct server_request *req, void *app)
{
	struct compliance *c = app;

	if (compliance_only(req, (const char *const[]){NULL}, "nothing") != 0)
		return;
	if (c->vkey == NULL) {
		server_reply_error(req, APIERR_NOT_FOUND,
		                   "no verifier key file beside the ledger key");
		return;
	}
	server_reply(req, 200, "text/plain; charset=utf-8", c->vkey, strlen(c->vkey));
}

static int
add_leaf(void *arg, uint64_t index, const char *leaf, size_t len)
{
	struct buf *b = arg;

	(void)index;
	buf_add(b, leaf, len);
	buf_add(b, "\n", 1);
	return b->bad ? -1 : 0;
}

/* GET /v1/ledger/entries?start=N&end=M: the leaves byte for byte, one per line. */
void
compliance_entries(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"start", "end", NULL};
	struct compliance *c = app;
	struct buf b = {0};
	uint64_t size, start = 0, end;
	char buf[24];
	int rc;

	if (compliance_only(req, allowed, "start, end") != 0)
		return;
	if ((rc = ledger_size(c->p.ledger, &size)) != 0) {
		compliance_ledger_failed(req, rc);
		return;
	}
	if (compliance_q_index(req, "start", &start) < 0)
		return;
	if (start > size) {
		compliance_bad(req, "start: %" PRIu64 " is past the ledger's size %" PRIu64, start,
		               size);
		return;
	}
	end = size - start > COMPLIANCE_ENTRIES_MAX ? start + COMPLIANCE_ENTRIES_MAX : size;
	if ((rc = compliance_q_index(req, "end", &end)) < 0)
		return;
	if (end >= start && end - start > COMPLIANCE_ENTRIES_MAX) {
		compliance_bad(req, "at most %d entries a call (end - start)",
		               COMPLIANCE_ENTRIES_MAX);
		return;
	}
	if (end < start || end > size) {
		compliance_bad(req, "end: must be in start..size (%" PRIu64 "..%" PRIu64 ")", start,
		               size);
		return;
	}
	buf_add(&b, "", 0);
	rc = ledger_leaves(c->p.ledger, start, end, add_leaf, &b);
	if (rc != 0 || b.bad) {
		buf_free(&b);
		compliance_ledger_failed(req, rc != 0 && rc != LEDGER_EINVAL ? rc : LEDGER_ENOMEM);
		return;
	}
	size_t len;
	char *text = buf_take(&b, &len);
	server_reply_take(req, 200, "application/x-ndjson", text, len);
	snprintf(buf, sizeof(buf), "%" PRIu64, size);
	server_reply_header(req, "X-Ledger-Size", buf);
}

/* The latest checkpoint's size (the default tree of a proof). 0 or -1 after answering. */
static int
checkpoint_size(struct server_request *req, struct compliance *c, uint64_t *size)
{
	char *note = NULL;
	size_t len;
	int rc = ledger_checkpoint(c->p.ledger, 0, &note, &len, size);

	free(note);
	if (rc == LEDGER_ENOENT) {
		server_reply_error(req, APIERR_NOT_FOUND, "no checkpoint has been signed yet");
		return -1;
	}
	if (rc != 0) {
		compliance_ledger_failed(req, rc);
		return -1;
	}
	return 0;
}

/*
 * The two tree indices of a proof query (?first=A&second=B): first required, second the latest
 * checkpoint's size when absent; and the ledger's size now. 0, or -1 after answering.
 */
static int
proof_query(struct server_request *req, struct compliance *c, const char *first, const char *second,
            uint64_t *a, uint64_t *b, uint64_t *have)
{
	const char *const allowed[] = {first, second, NULL};
	char list[64];
	int r, rc;

	snprintf(list, sizeof(list), "%s, %s", first, second);
	if (compliance_only(req, allowed, list) != 0 || (r = compliance_q_index(req, first, a)) < 0)
		return -1;
	if (r == 0)
		return compliance_bad(req, "%s is required", first);
	if ((r = compliance_q_index(req, second, b)) < 0 ||
	    (r == 0 && checkpoint_size(req, c, b) != 0))
		return -1;
	if ((rc = ledger_size(c->p.ledger, have)) != 0)
		return compliance_ledger_failed(req, rc);
	return 0;
}

static json_t *
proof_json(uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN], size_t n)
{
	json_t *a = json_array();
	char s[64];

	for (size_t i = 0; a != NULL && i < n; i++) {
		codec_b64_encode(proof[i], MERKLE_HASH_LEN, s);
		json_array_append_new(a, json_string(s));
	}
	return a;
}

/* GET /v1/ledger/proof/inclusion?index=N&size=M (size: the latest checkpoint's by default) */
void
compliance_inclusion(struct server_request *req, void *app)
{
	struct compliance *c = app;
	uint8_t leaf[MERKLE_HASH_LEN], proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	uint64_t index = 0, size = 0, have;
	size_t n = 0;
	char s[64];
	int rc;

	if (proof_query(req, c, "index", "size", &index, &size, &have) != 0)
		return;
	if (size == 0 || size > have) {
		compliance_bad(req, "size: must be in 1..%" PRIu64 " (the ledger's size)", have);
		return;
	}
	if (index >= size) {
		compliance_bad(req, "index: must be below size %" PRIu64, size);
		return;
	}
	rc = ledger_inclusion(c->p.ledger, index, size, leaf, proof, &n);
	if (rc == LEDGER_ERANGE) {
		compliance_bad(req, "index %" PRIu64 " is not in a tree of size %" PRIu64, index,
		               size);
		return;
	}
	if (rc != 0) {
		compliance_ledger_failed(req, rc);
		return;
	}
	codec_b64_encode(leaf, sizeof(leaf), s);
	server_reply_json(req, 200,
	                  json_pack("{s:I,s:I,s:s,s:o}", "index", (json_int_t)index, "size",
	                            (json_int_t)size, "leaf_hash", s, "proof",
	                            proof_json(proof, n)));
}

/* GET /v1/ledger/proof/consistency?old=A&new=B (new: the latest checkpoint's by default) */
void
compliance_consistency(struct server_request *req, void *app)
{
	struct compliance *c = app;
	uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	uint64_t old = 0, new = 0, have;
	size_t n = 0;
	int rc;

	if (proof_query(req, c, "old", "new", &old, &new, &have) != 0)
		return;
	if (old == 0 || old > new || new > have) {
		compliance_bad(req, "need 0 < old <= new <= %" PRIu64 " (the ledger's size)", have);
		return;
	}
	rc = ledger_consistency(c->p.ledger, old, new, proof, &n);
	if (rc != 0) {
		compliance_ledger_failed(req, rc);
		return;
	}
	server_reply_json(req, 200,
	                  json_pack("{s:I,s:I,s:o}", "old", (json_int_t)old, "new",
	                            (json_int_t) new, "proof", proof_json(proof, n)));
}

/* GET /v1/ledger/search?partner&member&purpose&kind&from&to&limit&after: newest first */
void
compliance_search(struct server_request *req, void *app)
{
	static const char *const allowed[] = {"partner", "member", "purpose", "kind", "from",
	                                      "to",      "limit",  "after",   NULL};
	struct compliance *c = app;
	struct ledger_query q = {.kind = -1, .after = UINT64_MAX};
	struct ledger_hit *hits = NULL;
	char subject[PSEUDO_SUBJECT_HEX + 1];
	const char *kind = NULL;
	unsigned long limit;
	size_t n = 0;
	json_t *list;
	int rc, r;

	if (compliance_only(req, allowed,
	                    "partner, member, purpose, kind, from, to, limit, after") != 0 ||
	    compliance_q_partner(req, &q.partner) != 0 ||
	    compliance_q_member(req, c, subject) != 0 ||
	    compliance_q_purpose(req, c, &q.purpose) != 0 ||
	    (r = compliance_q_str(req, "kind", 16, &kind)) < 0 ||
	    compliance_q_range(req, &q.from_ms, &q.to_ms) != 0 ||
	    compliance_q_uint(req, "limit", 1, COMPLIANCE_SEARCH_MAX, 100, &limit) != 0 ||
	    compliance_q_index(req, "after", &q.after) < 0)
		return;
	if (kind != NULL) {
		if (strcmp(kind, "release") == 0)
			q.kind = LEDGER_RELEASE;
		else if (strcmp(kind, "deny") == 0)
			q.kind = LEDGER_DENY;
		else if (strcmp(kind, "admin") == 0)
			q.kind = LEDGER_ADMIN;
		else {
			compliance_bad(req, "kind: one of release, deny, admin");
			return;
		}
	}
	q.subject = subject[0] ? subject : NULL;
	q.limit = (unsigned)limit;
	rc = ledger_search(c->p.ledger, &q, &hits, &n);
	if (rc != 0) {
		compliance_ledger_failed(req, rc);
		return;
	}
	list = json_array();
	for (size_t i = 0; list != NULL && i < n; i++) {
		json_t *leaf = json_loadb(hits[i].leaf, hits[i].len, JSON_REJECT_DUPLICATES, NULL);
		if (leaf == NULL || json_array_append_new(list, leaf) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	json_t *next = n == q.limit ? json_integer((json_int_t)hits[n - 1].index) : json_null();
	ledger_hits_free(hits, n);
	if (list == NULL) {
		json_decref(next);
		server_reply_error(req, APIERR_INTERNAL, "an entry cannot be decoded");
		return;
	}
	server_reply_json(req, 200,
	                  json_pack("{s:I,s:o,s:o}", "count", (json_int_t)json_array_size(list),
	                            "entries", list, "next", next));
}
