/* ident — the grammars of pdgate's identifiers: partner ids and staff names, member ids, purposes.
 */
#ifndef PDGATE_IDENT_H
#define PDGATE_IDENT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Each function says whether s[0..len) (borrowed; need not end in NUL, and a NUL in it is
 * refused like any byte outside the grammar; s NULL is refused) matches its grammar. They are
 * ASCII by the byte: no locale, and a byte >= 0x80 is never a letter. Ids come from untrusted
 * places (certificate SANs, URLs, tokens, files), so no caller checks them another way; the
 * patterns are what error messages quote.
 */

/* A name: a partner id (SPEC 4) or a staff name. One grammar for both, since either is what a
 * client certificate carries in its URI SAN and CN, and names its files under pki/. */
#define IDENT_NAME_MAX 63
#define IDENT_NAME_PATTERN "^[a-z0-9][a-z0-9-]{0,62}$"
bool ident_name_ok(const char *s, size_t len);

/* A member id (SPEC 9.1 step 2), as the partner API, the reports and the origin take it. */
#define IDENT_MEMBER_MAX 64
#define IDENT_MEMBER_PATTERN "^[A-Za-z0-9_-]{1,64}$"
bool ident_member_ok(const char *s, size_t len);

/* A purpose id (SPEC 5), as the catalog lists it and a work order names it. */
#define IDENT_PURPOSE_MAX 64
#define IDENT_PURPOSE_PATTERN "^[a-z][a-z0-9_]{0,63}$"
bool ident_purpose_ok(const char *s, size_t len);

/*
 * A country (SPEC 16.5): an ISO 3166-1 alpha-2 code that the standard assigns, two capital
 * letters in its list of 249 (as of 2024), so that a typo or a code the standard does not
 * assign ("UK", "EU", "XX") is refused rather than taken for a country. The ledger checks the
 * form alone (the list may change; a leaf must verify for ever).
 */
#define IDENT_COUNTRY_PATTERN "^[A-Z]{2}$"
#define IDENT_COUNTRY_HOME "JP" /* Japan: the default, and a recipient that is not abroad */
bool ident_country_ok(const char *s, size_t len);

/* An anonymised data set's id (匿名加工情報, "AN-2026-0001"): its number in the year it was
 * made, as the association's register numbers them. */
#define IDENT_DATASET_MAX 14
#define IDENT_DATASET_PATTERN "^AN-[0-9]{4}-[0-9]{4,6}$"
bool ident_dataset_ok(const char *s, size_t len);

#endif
