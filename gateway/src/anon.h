/* anon — anonymised information (匿名加工情報, APPI Art. 43) made from member records: the spec
 * checked against the catalog, the transforms applied, k-anonymity by suppression, rare values
 * replaced, the rows shuffled (pure: no I/O). */
#ifndef PDGATE_ANON_H
#define PDGATE_ANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "catalog.h"
#include "contract.h"

/*
 * What a data set is (docs/compliance.md, "Anonymised information"). A spec names its columns:
 * quasi-identifiers ("quasi": the columns someone could match against other knowledge of a
 * member) and attributes, each a catalog leaf, as is or under a generalising transform of SPEC
 * 9.3. The rules, which no spec can lift:
 *  - classes identifier, name, contact (but address.prefecture), image, my_number and internal
 *    never appear, nor the transform pseudonym (a code that links a row to a member);
 *  - every combination of the quasi-identifier columns occurs in at least k rows: the rows of
 *    smaller groups are suppressed (left out, counted);
 *  - an attribute value that fewer than k of the rows kept hold is replaced by その他;
 *  - the rows come in a random order (OpenSSL's generator), with no column but the spec's.
 * A leaf under an array (courses[].code) gives a member's distinct values, sorted and joined
 * by ";" in one cell; an absent value is an empty cell, a value of its own.
 */

#define ANON_SPEC_MAX_BYTES 65536 /* a spec file */
#define ANON_SPEC_MAX_DEPTH 4     /* the format needs 2 */
#define ANON_MAX_QUASI 16
#define ANON_MAX_COLUMNS 32
#define ANON_K_MAX 100000
#define ANON_TITLE_MAX 200     /* characters of the title, a free text (text.h) */
#define ANON_RECIPIENT_MAX 200 /* characters of the recipient's name */
#define ANON_METHOD_MAX 500    /* characters of the method of provision */
#define ANON_ITEM_MAX 64       /* bytes of an item as written: path, then ":transform" */
#define ANON_MAX_ROWS 10000000UL
#define ANON_OTHER "その他" /* what a rare attribute value becomes (特異な記述の削除) */
#define ANON_SEPARATOR ";"  /* between the values of one cell */

/* One column: a catalog leaf under a transform. */
struct anon_column {
	const struct catalog_field *leaf; /* borrowed from the catalog */
	enum contract_transform transform;
	unsigned arg;                 /* N of mask, prefix and age_band */
	bool quasi;                   /* a quasi-identifier */
	bool multi;                   /* under an array: a member may hold several values */
	char item[ANON_ITEM_MAX + 1]; /* "birth_date:age_band:10": CSV header, ledger item */
};

struct anon_spec {
	char *id;        /* "AN-2026-0001" (ident.h) */
	char *title;     /* a free text */
	char *recipient; /* the third party it is provided to; NULL: none (made for our own use) */
	char *method;    /* how it is provided (Art. 43(4)); set exactly when recipient is */
	unsigned k;      /* 2..ANON_K_MAX */
	size_t ncolumns, nquasi; /* the quasi-identifiers are columns[0..nquasi) */
	struct anon_column columns[ANON_MAX_COLUMNS];
	unsigned char sha256[32]; /* of the spec's bytes as read */
};

/*
 * Parses and checks a spec, text[0..len) (name is the file, for the messages): an object with
 * "id", "title", "k", "quasi" ({path: null or "transform"}, 1..ANON_MAX_QUASI), and optionally
 * "attributes" (["path" or "path:transform"]), "recipient" (null or a name) and "method"
 * (required with a recipient, refused without); duplicate members refused, nothing else
 * allowed; an object path stands for every leaf below it (without a transform). Returns the
 * spec (caller frees with anon_spec_free; the catalog must outlive it), or NULL with *errors:
 * every problem, one "NAME: $.json.path: reason" per line (caller frees).
 */
struct anon_spec *anon_spec_parse(const struct catalog *cat, const char *name, const char *text,
                                  size_t len, char **errors);
void anon_spec_free(struct anon_spec *s);

/*
 * Whether item ("path" or "path:transform", one leaf) may be a column of a data set: NULL with
 * *out filled (quasi false), or the reason it may not (static, or written into why). The one
 * rule for a spec's items and for an entry's items read back (anon_entry).
 */
const char *anon_item(const struct catalog *cat, const char *item, struct anon_column *out,
                      char *why, size_t whylen);

/* The rows of a data set as they are made. */
struct anon_table;

/* A table for spec s (borrowed, outlives it); now is the day the age bands are reckoned on (in
 * Japan). NULL on no memory. Caller frees. */
struct anon_table *anon_table_new(const struct anon_spec *s, time_t now);
void anon_table_free(struct anon_table *t);

/*
 * Adds one member's row from record, a record checked by release_origin: each column's value
 * (values) under its transform. 0, or -1 with why: a value the transform cannot take (a birth
 * date after today), more than ANON_MAX_ROWS rows, out of memory; the table is then as before.
 */
int anon_table_add(struct anon_table *t, const json_t *record, char *why, size_t whylen);

/* What anon_table_finish did. */
struct anon_stats {
	uint64_t rows_in;    /* rows added */
	uint64_t rows;       /* rows kept */
	uint64_t suppressed; /* rows of groups smaller than k */
	uint64_t groups;     /* combinations of the quasi-identifiers kept */
	uint64_t groups_suppressed;
	uint64_t replaced;                      /* attribute values replaced by その他 */
	uint64_t replaced_by[ANON_MAX_COLUMNS]; /* of each column (0 for the quasi ones) */
	uint64_t distinct_by[ANON_MAX_COLUMNS]; /* distinct values each column writes, その他 not
	                                           counted */
};

/* Suppresses, replaces and shuffles, once, after the last anon_table_add. 0, or -1 (out of
 * memory, or the random generator failed: nothing may be written then). */
int anon_table_finish(struct anon_table *t, struct anon_stats *st);

/* The finished table as data.csv (csv.h: byte-order mark, CRLF), appended to out: the items as
 * the header, then the rows kept in their random order. 0, or -1 (memory; out->bad). */
int anon_table_csv(const struct anon_table *t, struct buf *out);

#endif
