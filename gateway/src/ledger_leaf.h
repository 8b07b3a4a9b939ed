/* ledger_leaf — the ledger's leaf: what an entry holds, its one encoder and its one parser (pure).
 */
#ifndef PDGATE_LEDGER_LEAF_H
#define PDGATE_LEDGER_LEAF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * A leaf is one line of compact JSON with its members in a fixed order, strings escaped exactly
 * as jansson escapes them (docs/ledger.md, section 1). The encoder writes that form and nothing
 * else; the parser accepts that form and nothing else, so that a leaf has one spelling: whatever
 * ledger_leaf_parse accepts, the encoder writes back byte for byte.
 */

/* A leaf is at most LEDGER_MAX_LEAF bytes and lists at most LEDGER_MAX_ITEMS items. */
#define LEDGER_MAX_LEAF (64 * 1024)
#define LEDGER_MAX_ITEMS 1024
/* A leaf's time: "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, milliseconds). */
#define LEDGER_TIME_LEN 24

enum ledger_kind {
	LEDGER_RELEASE, /* "release": member data left the gateway */
	LEDGER_DENY,    /* "deny": a refusal, with its error code in reason */
	LEDGER_ADMIN, /* "admin": suspensions, resumptions, key rotation, gateway start and stop */
};

/*
 * What an admin entry says besides its action: a member's request (type, request id, outcome),
 * a data set's figures, a list's filters. Flat names and string values — numbers in decimal —
 * so that a detail has one spelling as the rest of the leaf does.
 */
#define LEDGER_MAX_DETAIL 16
#define LEDGER_DETAIL_KEY_MAX 32 /* a key: 1..32 of [a-z0-9_], starting with a letter */
struct ledger_detail {
	const char *key;
	const char *value; /* never NULL */
};

/* The "admin" member of an admin entry. Strings borrowed; NULL is written as JSON null. */
struct ledger_admin {
	const char *action; /* "gateway_start", "partner_suspend", … (required) */
	const char *staff;  /* the staff member who acted; NULL for the gateway itself */
	const char *reason; /* as given by the staff member */
	const char *target; /* the partner acted on; NULL for the whole gateway */
	/* pdgate's version ("0.9.0"), written by gateway_start. NULL: the member is absent, as in
	 * every leaf written before it existed; it is never null, so a leaf keeps one spelling. */
	const char *version;
	/* n_detail pairs, keys in strictly ascending byte order; none: the member is absent (as in
	 * every leaf written before it existed), never an empty object. Written before version. */
	const struct ledger_detail *detail;
	size_t n_detail;
};

/*
 * One decision, as the request path knows it (SPEC 11.1). Every string is borrowed and must be
 * valid UTF-8; NULL is written as JSON null ("not reached"). The leaf adds v, index and time.
 */
struct ledger_entry {
	enum ledger_kind kind;
	const char *request;      /* request id */
	const char *partner;      /* partner id */
	const char *contract;     /* contract id */
	const char *relationship; /* entrustment, joint_use, third_party */
	const char *purpose;      /* purpose id */
	const char *subject;      /* hex keyed reference of the member, never the member id */
	const char *const *items; /* n_items released catalog paths with transforms; NULL: null */
	size_t n_items;
	const char *basis;         /* entrustment, joint_use, consent, exception:<purpose> */
	const char *reason;        /* apierr code of a deny */
	const char *digest;        /* hex SHA-256 of the released body of this member */
	const char *cert;          /* hex SHA-256 of the client certificate (DER) */
	const char *token;         /* the work order's jti */
	const char *justification; /* for exception purposes */
	/* The recipient's country when it is abroad (SPEC 16.5): two capital letters, never
	 * "JP". NULL: the member is absent, as in every leaf of a recipient in Japan and every leaf
	 * written before it existed; never null, and never in an admin entry. */
	const char *country;
	const struct ledger_admin *admin; /* required for LEDGER_ADMIN, else must be NULL */
	/* Not in the leaf: the generation of the shared state (suspensions, members'
	 * restrictions) the decision read, for a ledger whose store several nodes share
	 * (ledger_params.state_load); 0: none. With a release's subject: the members'
	 * restriction bits the decision used (POLICY_RESTRICT_*), and those of them that matter
	 * to it (restrict_mask; 0: none, nothing to check). */
	uint64_t state_gen;
	/* Not in the leaf: with a release, its contract's records_per_day (0: none), which a store
	 * several nodes share counts across them (ledger_params.volume_seen). */
	uint64_t records_per_day;
	unsigned restrictions, restrict_mask;
};

/* The name of a kind in leaves ("release", "deny", "admin"); static. kind must be valid. */
const char *ledger_kind_name(enum ledger_kind kind);

/*
 * The leaf of e after its time: from ",\"request\":" to the closing brace, into tail (emptied
 * first). Returns 0; -1 if e is malformed: a string not UTF-8, an unknown kind, an admin member
 * missing, without action or on another kind, a NULL item, n_items without items or over
 * LEDGER_MAX_ITEMS, a country not of its form or in an admin entry, or a leaf that would be
 * longer than LEDGER_MAX_LEAF; or -1 with tail->bad
 * set if memory ran out. The callers' threads build the tails, the ledger's writer only joins.
 */
int ledger_leaf_tail(const struct ledger_entry *e, struct buf *tail);

/* The whole leaf of entry index at time (from ledger_leaf_time) with a tail from
 * ledger_leaf_tail, into leaf (emptied first, its memory reused). 0, or -1 if memory ran out. */
int ledger_leaf_join(struct buf *leaf, uint64_t index, const char time[LEDGER_TIME_LEN + 1],
                     const struct buf *tail);

/* A leaf's time of Unix ms (0 <= ms, before the year 10000), NUL-terminated. */
void ledger_leaf_time(int64_t ms, char out[LEDGER_TIME_LEN + 1]);

/* A parsed leaf. Large (about 72 KiB): keep one and parse into it again. */
struct ledger_leaf {
	uint64_t index;
	int64_t time_ms;                /* Unix ms of time */
	char time[LEDGER_TIME_LEN + 1]; /* as in the leaf */
	struct ledger_entry e;          /* the members; strings point into text, NULL: null */
	struct ledger_admin admin;      /* e.admin points here in an admin entry */
	struct ledger_detail detail[LEDGER_MAX_DETAIL]; /* admin.detail points here if any */
	const char *items[LEDGER_MAX_ITEMS]; /* e.items points here unless items is null */
	const char *raw;                     /* the text parsed (borrowed), raw_len bytes */
	size_t raw_len;
	char text[LEDGER_MAX_LEAF]; /* the strings, unescaped and NUL-terminated */
};

/*
 * Parses leaf[0..len) (not necessarily NUL-terminated) into out: 0, or -1 unless it is a
 * version 1 leaf exactly as the encoder writes it — every member in order, no other spelling of
 * a string or a number, a real time from 1970 on, a known kind with the admin member exactly
 * when the kind is admin, no more than LEDGER_MAX_ITEMS items, within LEDGER_MAX_LEAF. Reads
 * nothing outside leaf[0..len); out is overwritten (and meaningless after -1).
 */
int ledger_leaf_parse(const char *leaf, size_t len, struct ledger_leaf *out);

#endif
