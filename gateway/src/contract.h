/* contract — a partner contract (SPEC 7) as loaded, and the set of contracts in force. */
#ifndef PDGATE_CONTRACT_H
#define PDGATE_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "catalog.h"

enum contract_relationship {
	CONTRACT_ENTRUSTMENT, /* 委託 */
	CONTRACT_JOINT_USE,   /* 共同利用 */
	CONTRACT_THIRD_PARTY, /* 第三者提供 */
};

enum contract_status {
	CONTRACT_ACTIVE,
	CONTRACT_SUSPENDED,
	CONTRACT_TERMINATED,
};

enum contract_transform {
	CONTRACT_TF_NONE,
	CONTRACT_TF_PSEUDONYM, /* keyed per contract, 32 hex digits */
	CONTRACT_TF_MASK,      /* mask:N, all but the last N code points become "*" */
	CONTRACT_TF_PREFIX,    /* prefix:N, the first N code points */
	CONTRACT_TF_YEAR,      /* a date's year */
	CONTRACT_TF_AGE_BAND,  /* age_band:N, a birth date's age band of width N */
};

/* One released leaf of a purpose, resolved at load so that a request parses nothing. */
struct contract_field {
	const struct catalog_field *leaf; /* borrowed from the catalog */
	enum contract_transform transform;
	unsigned arg;     /* N of mask, prefix and age_band */
	const char *item; /* the ledger item: leaf path, then ":transform" as written */
	size_t source;    /* which entry of the purpose's "fields" named this leaf */
};

struct contract_purpose {
	const char *id;
	const struct catalog_purpose *purpose; /* borrowed from the catalog */
	bool requires_consent; /* as written; the purpose "consented" needs consent anyway */
	size_t nwritten;
	char **written; /* the "fields" entries as written, for whoami and listings */
	size_t nfields;
	struct contract_field *fields; /* every leaf released, in catalog order, no repeats */
};

/* A loaded contract. Read-only for everyone but this module and contract_file, which fills it. */
struct contract {
	char *file; /* where it was read from (or the name given to contract_parse) */
	char *id;   /* "CT-2026-0001" */
	char *partner;
	char *partner_name;
	enum contract_relationship relationship;
	enum contract_status status;
	char *valid_from_text, *valid_until_text; /* as written, for listings */
	time_t valid_from, valid_until;           /* in force from..until, both inclusive */
	bool token_required;                      /* default true */
	bool token_binding_required;              /* token_binding "required" (default) */
	size_t ncertificates;
	unsigned char (*certificates)[32]; /* pinned SHA-256 fingerprints of client certificates */
	bool my_number_permitted;
	size_t npurposes;
	struct contract_purpose *purposes; /* in file order */
	unsigned long requests_per_minute; /* 0: no limit */
	unsigned long records_per_day;     /* 0: no limit */
	char *confidentiality;             /* NULL when absent (only entrustment requires it) */
	char *notes;                       /* NULL when absent */
	char country[3];          /* the recipient's ISO 3166-1 alpha-2 country; "JP" by default */
	char *foreign_safeguards; /* abroad: the recipient's safeguards (基準適合体制); or NULL */
};

/* Frees a contract and everything it owns; contract_free(NULL) does nothing. */
void contract_free(struct contract *c);

/* The contract's entry for a purpose id, or NULL if it does not list it. Borrowed. */
const struct contract_purpose *contract_purpose(const struct contract *c, const char *purpose);

/* True if the contract is active and now lies within valid_from..valid_until. */
bool contract_in_force(const struct contract *c, time_t now);

/* True if the recipient is abroad (SPEC 16.5, APPI Art. 28): country is not Japan. */
bool contract_abroad(const struct contract *c);

/* True if the contract pins no certificates or pins this SHA-256 fingerprint of the DER. */
bool contract_pins(const struct contract *c, const unsigned char fingerprint[32]);

/* The names contract files use ("entrustment", "active"); "?" for a value out of range. */
const char *contract_relationship_name(enum contract_relationship r);
const char *contract_status_name(enum contract_status s);
/* The other way: true with *out set if s is one of those names, else false (*out untouched). */
bool contract_relationship_parse(const char *s, enum contract_relationship *out);
bool contract_status_parse(const char *s, enum contract_status *out);

/* A set of contracts, loaded all-or-nothing; sorted by partner, then id. */
struct contract_set;

/*
 * A set from contracts already parsed; takes ownership of every contract and of the array
 * itself (even on failure). Refuses duplicate ids: NULL with *errors, one line per duplicate
 * naming both files (caller frees). contract_file's contract_set_load makes its sets here.
 */
struct contract_set *contract_set_new(struct contract **contracts, size_t n, char **errors);

void contract_set_free(struct contract_set *s);

size_t contract_set_count(const struct contract_set *s);
/* The i-th contract in (partner, id) order. Borrowed from the set. */
const struct contract *contract_set_at(const struct contract_set *s, size_t i);
/* The contract with this id, or NULL. Borrowed. */
const struct contract *contract_set_find(const struct contract_set *s, const char *id);
/*
 * The partner's contracts, sorted by id: returns how many (0: none on file) and points
 * *first at the first of them. Borrowed from the set.
 */
size_t contract_set_partner(const struct contract_set *s, const char *partner,
                            const struct contract *const **first);

#endif
