/* catalog — the purposes of use and the member-record field catalog (policies/), checked. */
#ifndef PDGATE_CATALOG_H
#define PDGATE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

/* Catalog files are small; anything bigger is a mistake, not a catalog. */
#define CATALOG_MAX_FILE_BYTES (1024 * 1024)
#define CATALOG_MAX_SEGMENTS 8

enum catalog_kind {
	CATALOG_KIND_ORDINARY,    /* an announced purpose of use */
	CATALOG_KIND_STATISTICAL, /* statistics: no identifying classes (hard rule) */
	CATALOG_KIND_CONSENT,     /* needs the member's consent for the contract */
	CATALOG_KIND_EXCEPTION,   /* APPI's exceptions: justification, no member rules */
	CATALOG_KIND_MY_NUMBER,   /* My Number Act affairs: the only purpose for class my_number */
};

enum catalog_class {
	CATALOG_CLASS_IDENTIFIER, /* codes that link records: member id, certificate numbers */
	CATALOG_CLASS_NAME,
	CATALOG_CLASS_CONTACT,
	CATALOG_CLASS_DEMOGRAPHIC,
	CATALOG_CLASS_IMAGE,
	CATALOG_CLASS_MEMBERSHIP,
	CATALOG_CLASS_MY_NUMBER, /* 特定個人情報 */
	CATALOG_CLASS_INTERNAL,  /* consents, restrictions: read by the rules, never released */
};

enum catalog_type {
	CATALOG_TYPE_STRING,
	CATALOG_TYPE_DATE, /* a string "YYYY-MM-DD", a real calendar date */
	CATALOG_TYPE_BOOLEAN,
	CATALOG_TYPE_STRINGS, /* an array of strings */
};

struct catalog_purpose {
	const char *id; /* "marketing" */
	const char *ja; /* the announced text, quoted from the privacy policy */
	const char *en; /* an English label */
	enum catalog_kind kind;
	size_t index; /* position in purposes.json */
};

/* One step of a path: "courses[]" is {"courses", true}. */
struct catalog_segment {
	const char *name;
	bool array; /* an array of objects: the path continues in every element */
};

/* A leaf of the member record. Leaves under one object are contiguous in the catalog. */
struct catalog_field {
	const char *path; /* "courses[].code" */
	const char *ja;   /* a Japanese label for reports */
	enum catalog_class cls;
	enum catalog_type type;
	size_t index; /* position in fields.json */
	size_t nsegments;
	struct catalog_segment segments[CATALOG_MAX_SEGMENTS];
};

struct catalog;

/*
 * Loads and checks both files. Returns the catalog (caller frees with catalog_free) or NULL with
 * *errors set to every problem, one "FILE: $.json.path: message" per line (caller frees).
 */
struct catalog *catalog_load(const char *purposes_file, const char *fields_file, char **errors);

void catalog_free(struct catalog *c);

/* The purpose with this id, or NULL. Borrowed from the catalog. */
const struct catalog_purpose *catalog_purpose(const struct catalog *c, const char *id);

/* The leaf with exactly this path, or NULL (object paths are not leaves). Borrowed. */
const struct catalog_field *catalog_field(const struct catalog *c, const char *path);
/* The leaf a ledger item names: "phone:mask:4" is the leaf "phone". NULL if none. Borrowed. */
const struct catalog_field *catalog_item_field(const struct catalog *c, const char *item);
size_t catalog_nfields(const struct catalog *c);
/* Leaves in file order, i < catalog_nfields. Borrowed. */
const struct catalog_field *catalog_field_at(const struct catalog *c, size_t i);

/*
 * The leaves a path stands for: a leaf path is itself; an object path ("address", "courses" or
 * "courses[]") is every leaf below it. Returns how many (0: no such path) and sets *first to
 * the index of the first; they are catalog_field_at(first .. first+n-1).
 */
size_t catalog_expand(const struct catalog *c, const char *path, size_t *first);

const char *catalog_kind_name(enum catalog_kind k);
const char *catalog_class_name(enum catalog_class k);

#endif
