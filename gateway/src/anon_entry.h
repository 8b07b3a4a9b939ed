/* anon_entry — an anonymised data set as the ledger records it: the admin entry
 * anonymised_dataset written and read back, the body that asks a gateway to record it, and the
 * notice published for it (APPI Art. 43(3), 43(4)). */
#ifndef PDGATE_ANON_ENTRY_H
#define PDGATE_ANON_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "anon.h"
#include "buf.h"
#include "catalog.h"
#include "ledger.h"
#include "ledger_leaf.h"

#define ANON_ENTRY_ACTION "anonymised_dataset"
#define ANON_ENTRY_DETAIL_MAX 13 /* the keys of anon_entry_detail */

/*
 * What the entry says of a data set. Strings borrowed (from the spec, a JSON body or a leaf);
 * the detail holds each as a string, numbers in decimal, the items joined by ",", under the
 * keys id, items, k, left_out, made, members, method (with a recipient), recipient (when
 * set), replaced, rows, spec_sha256, suppressed, title.
 */
struct anon_entry {
	const char *id;          /* "AN-2026-0001" */
	const char *title;       /* a free text */
	const char *made;        /* the Japan day it was made, YYYY-MM-DD */
	const char *recipient;   /* the third party it is provided to; NULL: none */
	const char *method;      /* the method of provision, exactly when recipient is set */
	const char *spec_sha256; /* 64 lowercase hex digits: the spec file's SHA-256 */
	size_t nitems;
	const char *items[ANON_MAX_COLUMNS]; /* the columns, in order (anon_column.item) */
	uint64_t k;                          /* 2..ANON_K_MAX */
	uint64_t members;                    /* records read from the origin */
	uint64_t left_out;   /* of them, members whose use is stopped (利用停止) */
	uint64_t rows;       /* rows written, at least k */
	uint64_t suppressed; /* rows of groups smaller than k; members = left_out + rows + it */
	uint64_t replaced;   /* attribute values replaced by その他 */
};

/* Where anon_entry_detail and anon_entry_from_leaf keep the strings they make. */
struct anon_entry_text {
	char num[6][24];
	char items[ANON_MAX_COLUMNS * (ANON_ITEM_MAX + 1)];
};

/*
 * Whether e is a data set an entry may record, by every rule of anon.h: the id's grammar, free
 * texts, a real date, the hash, each item a column anon_item accepts and no leaf twice, k, at
 * least k rows, the counts adding up, a method exactly with a recipient. 0, or -1 with why
 * naming the member at fault ("items[2]: …").
 */
int anon_entry_check(const struct anon_entry *e, const struct catalog *cat, char *why,
                     size_t whylen);

/* The entry's admin.detail into d (keys ascending), its strings in txt (which must outlive d).
 * Returns how many. */
size_t anon_entry_detail(const struct anon_entry *e, struct anon_entry_text *txt,
                         struct ledger_detail d[ANON_ENTRY_DETAIL_MAX]);

/* The data set an anonymised_dataset leaf records, into e (strings borrowed from leaf and txt).
 * 0, or -1 if the leaf is not one or its detail is not what anon_entry_detail writes. */
int anon_entry_from_leaf(const struct ledger_leaf *leaf, struct anon_entry *e,
                         struct anon_entry_text *txt);

/* e as JSON: {"id","title","made","recipient","method","spec_sha256","items":[…],"k",
 * "members","left_out","rows","suppressed","replaced"} (recipient and method null when none):
 * the body of POST /v1/anonymised. New reference, or NULL on no memory. */
json_t *anon_entry_json(const struct anon_entry *e);

/* The members of such a body (an object) into e, strings borrowed from doc: 0, or -1 with why
 * naming the member of the wrong type. anon_entry_check is the caller's next step. */
int anon_entry_from_json(json_t *doc, struct anon_entry *e, char *why, size_t whylen);

/*
 * The notice to publish, in Japanese, appended to out: that organisation made the data set
 * (Art. 43(3)), its name and day, the items of personal information it holds (named by the
 * catalog's labels, with their generalisation); and when it has a recipient, the items provided
 * and the method of provision, and that the recipient is told it is anonymised information
 * (Art. 43(4)); that no one is re-identified (Art. 45). 0, or -1 (memory; out->bad).
 */
int anon_entry_notice(const struct anon_entry *e, const struct catalog *cat,
                      const char *organisation, struct buf *out);

/*
 * The data sets the ledger records, oldest first: fn(arg, leaf, e) for each anonymised_dataset
 * entry whose detail reads back (both borrowed for the call; fn returns 0 to go on). 0 or an
 * enum ledger_err (LEDGER_EINVAL: fn returned non-zero).
 */
int anon_entry_each(struct ledger *l,
                    int (*fn)(void *arg, const struct ledger_leaf *leaf,
                              const struct anon_entry *e),
                    void *arg);

/* Whether a data set with this id is recorded: 1 with its entry's index, 0 if not, or a
 * negative enum ledger_err. */
int anon_entry_find(struct ledger *l, const char *id, uint64_t *index);

struct ledger_store;

/* How long anon_entry_lock waits for another recording of a data set. */
#define ANON_ENTRY_LOCK_MS 10000

/*
 * On a ledger in PostgreSQL (where: a URL), the database's lock on recording a data set, on a
 * session of its own (*held), waited for at most ANON_ENTRY_LOCK_MS: every node and `pdgate
 * anonymize` hold it from the check that an id is free (anon_entry_find) until the entry is
 * committed, so that no two of them record one id. On a file *held is NULL: it has one writer
 * (the gateway's lock on the file, and its own mutex). 0, or -1 with err.
 */
int anon_entry_lock(const char *where, struct ledger_store **held, char *err, size_t errlen);

/* Gives the lock back and closes its session (held NULL: nothing). 0, or -1 with err: the
 * session had broken meanwhile, and another may have recorded the id too. */
int anon_entry_unlock(struct ledger_store *held, char *err, size_t errlen);

#endif
