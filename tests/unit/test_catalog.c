/* test_catalog — the shipped catalogs load as SPEC 5 says; broken catalogs name each error. */
#include <stdlib.h>
#include <string.h>

#include "catalog.c" /* catalog_parse is static; purposes read in file order */
#include "check.h"

static const char *const PURPOSES = "policies/purposes.json";
static const char *const FIELDS = "policies/fields.json";

static const char GOOD_P[] =
    "{\"version\":1,\"purposes\":[{\"id\":\"contact\",\"kind\":\"ordinary\",\"ja\":\"連絡\","
    "\"en\":\"Contact\"}]}";
static const char GOOD_F[] =
    "{\"version\":1,\"fields\":[{\"path\":\"member_id\",\"class\":\"identifier\",\"type\":"
    "\"string\",\"ja\":\"会員番号\"}]}";

static void
shipped(void)
{
	static const struct {
		const char *id;
		enum catalog_kind kind;
	} want[] = {
	    {"contact", CATALOG_KIND_ORDINARY},
	    {"service_delivery", CATALOG_KIND_ORDINARY},
	    {"marketing", CATALOG_KIND_ORDINARY},
	    {"feedback", CATALOG_KIND_ORDINARY},
	    {"survey", CATALOG_KIND_ORDINARY},
	    {"benefits", CATALOG_KIND_ORDINARY},
	    {"statistics", CATALOG_KIND_STATISTICAL},
	    {"service_improvement", CATALOG_KIND_ORDINARY},
	    {"consented", CATALOG_KIND_CONSENT},
	    {"legal_obligation", CATALOG_KIND_EXCEPTION},
	    {"protect_life", CATALOG_KIND_EXCEPTION},
	    {"public_health", CATALOG_KIND_EXCEPTION},
	    {"government_cooperation", CATALOG_KIND_EXCEPTION},
	    {"my_number_affairs", CATALOG_KIND_MY_NUMBER},
	};
	static const struct {
		const char *path;
		enum catalog_class cls;
		enum catalog_type type;
	} fields[] = {
	    {"member_id", CATALOG_CLASS_IDENTIFIER, CATALOG_TYPE_STRING},
	    {"name.family", CATALOG_CLASS_NAME, CATALOG_TYPE_STRING},
	    {"name.family_kana", CATALOG_CLASS_NAME, CATALOG_TYPE_STRING},
	    {"birth_date", CATALOG_CLASS_DEMOGRAPHIC, CATALOG_TYPE_DATE},
	    {"gender", CATALOG_CLASS_DEMOGRAPHIC, CATALOG_TYPE_STRING},
	    {"address.postal_code", CATALOG_CLASS_CONTACT, CATALOG_TYPE_STRING},
	    {"address.prefecture", CATALOG_CLASS_DEMOGRAPHIC, CATALOG_TYPE_STRING},
	    {"address.building", CATALOG_CLASS_CONTACT, CATALOG_TYPE_STRING},
	    {"phone", CATALOG_CLASS_CONTACT, CATALOG_TYPE_STRING},
	    {"email", CATALOG_CLASS_CONTACT, CATALOG_TYPE_STRING},
	    {"photo.url", CATALOG_CLASS_IMAGE, CATALOG_TYPE_STRING},
	    {"photo.sha256", CATALOG_CLASS_IMAGE, CATALOG_TYPE_STRING},
	    {"my_number", CATALOG_CLASS_MY_NUMBER, CATALOG_TYPE_STRING},
	    {"membership.joined", CATALOG_CLASS_MEMBERSHIP, CATALOG_TYPE_DATE},
	    {"membership.grade", CATALOG_CLASS_MEMBERSHIP, CATALOG_TYPE_STRING},
	    {"courses[].code", CATALOG_CLASS_MEMBERSHIP, CATALOG_TYPE_STRING},
	    {"courses[].completed", CATALOG_CLASS_MEMBERSHIP, CATALOG_TYPE_DATE},
	    {"certifications[].number", CATALOG_CLASS_IDENTIFIER, CATALOG_TYPE_STRING},
	    {"consents.marketing", CATALOG_CLASS_INTERNAL, CATALOG_TYPE_BOOLEAN},
	    {"consents.consented", CATALOG_CLASS_INTERNAL, CATALOG_TYPE_STRINGS},
	    {"restrictions.stop_use", CATALOG_CLASS_INTERNAL, CATALOG_TYPE_BOOLEAN},
	};
	static const struct {
		const char *path;
		size_t n;
		const char *first;
	} expand[] = {
	    {"address", 5, "address.postal_code"},
	    {"name", 4, "name.family"},
	    {"name.given", 1, "name.given"},
	    {"courses", 3, "courses[].code"},
	    {"courses[]", 3, "courses[].code"},
	    {"courses[].title", 1, "courses[].title"},
	    {"certifications", 3, "certifications[].code"},
	    {"photo", 2, "photo.url"},
	    {"consents", 11, "consents.contact"},
	    {"restrictions", 2, "restrictions.stop_use"},
	    {"nam", 0, NULL},
	    {"address.", 0, NULL},
	    {"courses.code", 0, NULL},
	    {"name[]", 0, NULL},
	    {"", 0, NULL},
	    {"member_id.x", 0, NULL},
	};
	char *errors = NULL;
	struct catalog *c = catalog_load(PURPOSES, FIELDS, &errors);
	CHECK(c != NULL, "shipped catalogs: %s", errors ? errors : "?");
	free(errors);
	if (c == NULL)
		return;
	CHECK(c->npurposes == 14, "%zu purposes", c->npurposes);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct catalog_purpose *p = catalog_purpose(c, want[i].id);
		CHECK(p != NULL && p->kind == want[i].kind && p->ja[0] && p->en[0], "purpose %s",
		      want[i].id);
		CHECK(i < c->npurposes && &c->purposes[i].p == p, "order of %s", want[i].id);
	}
	CHECK(catalog_purpose(c, "Marketing") == NULL, "ids are case-sensitive");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct catalog_field *f = catalog_field(c, fields[i].path);
		CHECK(f != NULL && f->cls == fields[i].cls && f->type == fields[i].type, "field %s",
		      fields[i].path);
	}
	CHECK(catalog_field(c, "address") == NULL, "an object is not a leaf");
	/* a ledger item names its leaf before the first ':' */
	CHECK(catalog_item_field(c, "phone:mask:4") == catalog_field(c, "phone"),
	      "item phone:mask:4");
	CHECK(catalog_item_field(c, "my_number") == catalog_field(c, "my_number"),
	      "item my_number");
	CHECK(catalog_item_field(c, "birth_date:age_band:10") == catalog_field(c, "birth_date"),
	      "item with a transform");
	CHECK(catalog_item_field(c, "phon:mask:4") == NULL, "a prefix of a leaf is no item");
	CHECK(catalog_item_field(c, "address") == NULL, "an object is no item");
	CHECK(catalog_item_field(c, "") == NULL, "empty item");
	const struct catalog_field *cc = catalog_field(c, "courses[].code");
	CHECK(cc && cc->nsegments == 2 && cc->segments[0].array &&
	          strcmp(cc->segments[0].name, "courses") == 0 && !cc->segments[1].array,
	      "segments of courses[].code");
	for (size_t i = 0; i < sizeof(expand) / sizeof(expand[0]); i++) {
		size_t first = 99, n = catalog_expand(c, expand[i].path, &first);
		CHECK(n == expand[i].n, "expand %s: %zu", expand[i].path, n);
		if (n > 0 && expand[i].first)
			CHECK(strcmp(catalog_field_at(c, first)->path, expand[i].first) == 0,
			      "expand %s starts at %s", expand[i].path,
			      catalog_field_at(c, first)->path);
	}
	/* Every leaf under an object shares its prefix: expansion is a contiguous run. */
	size_t first, n = catalog_expand(c, "address", &first);
	for (size_t i = first; i < first + n; i++)
		CHECK(strncmp(catalog_field_at(c, i)->path, "address.", 8) == 0, "run of address");
	catalog_free(c);
	catalog_free(NULL);
}

static void
broken(void)
{
	static const struct {
		const char *p, *f; /* NULL: the good one */
		const char *want;  /* substring of the errors */
	} cases[] = {
	    {"{\"version\":1,\"purposes\":[]}", NULL,
	     "p.json: $.purposes: must be a non-empty array"},
	    {"{\"version\":2,\"purposes\":[{\"id\":\"a\",\"kind\":\"ordinary\",\"ja\":\"x\",\"en\":"
	     "\"x\"}]}",
	     NULL, "p.json: $.version: must be 1"},
	    {"{\"version\":1,\"version\":1,\"purposes\":[]}", NULL, "p.json: line 1"},
	    {"{\"version\":1,\"purposes\":[{\"id\":\"a\",\"kind\":\"ordinary\",\"ja\":\"x\",\"en\":"
	     "\"x\",\"colour\":1}]}",
	     NULL, "p.json: $.purposes[0].colour: unknown key"},
	    {"{\"version\":1,\"purposes\":[{\"id\":\"a\",\"kind\":\"usual\",\"ja\":\"x\",\"en\":"
	     "\"x\"}]}",
	     NULL, "p.json: $.purposes[0].kind: must be ordinary"},
	    {"{\"version\":1,\"purposes\":[{\"id\":\"A-b\",\"kind\":\"ordinary\",\"ja\":\"x\","
	     "\"en\":\"x\"}]}",
	     NULL, "p.json: $.purposes[0].id: must match"},
	    {"{\"version\":1,\"purposes\":[{\"id\":\"a\",\"kind\":\"ordinary\",\"ja\":\"x\",\"en\":"
	     "\"x\"},{\"id\":\"a\",\"kind\":\"ordinary\",\"ja\":\"x\",\"en\":\"x\"}]}",
	     NULL, "p.json: $.purposes[1].id: duplicate purpose \"a\""},
	    {"{\"version\":1,\"purposes\":[{\"id\":\"a\",\"kind\":\"ordinary\",\"en\":\"x\"}]}",
	     NULL, "p.json: $.purposes[0].ja: missing"},
	    {"[]", NULL, "p.json: $: must be an object"},
	    /* labels are free text (test_text.c) */
	    {"{\"version\":1,\"purposes\":[{\"id\":\"a\",\"kind\":\"ordinary\",\"ja\":"
	     "\"\\u3000\",\"en\":\"x\"}]}",
	     NULL, "p.json: $.purposes[0].ja: blank;"},
	    {"{\"version\":1,\"purposes\":[{\"id\":\"a\",\"kind\":\"ordinary\",\"ja\":\"x\","
	     "\"en\":\"a\\u202eb\"}]}",
	     NULL, "p.json: $.purposes[0].en: holds a bidirectional control character;"},
	    {"{\"version\":1,\"source\":\"a\\nb\",\"purposes\":[{\"id\":\"a\",\"kind\":"
	     "\"ordinary\",\"ja\":\"x\",\"en\":\"x\"}]}",
	     NULL, "p.json: $.source: holds a control character"},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"member_id\",\"class\":\"identifier\",\"type\":"
	     "\"string\",\"ja\":\"\\u009b\"}]}",
	     "f.json: $.fields[0].ja: holds a control character"},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"Member\",\"class\":\"identifier\",\"type\":"
	     "\"string\",\"ja\":\"x\"}]}",
	     "f.json: $.fields[0].path: must be dot-separated"},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"courses[]\",\"class\":\"membership\",\"type\":"
	     "\"string\",\"ja\":\"x\"}]}",
	     "f.json: $.fields[0].path: must end in a value"},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"member_id\",\"class\":\"secret\",\"type\":"
	     "\"string\",\"ja\":\"x\"}]}",
	     "f.json: $.fields[0].class: must be identifier"},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"member_id\",\"class\":\"identifier\",\"type\":"
	     "\"integer\",\"ja\":\"x\"}]}",
	     "f.json: $.fields[0].type: must be string"},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"member_id\",\"class\":\"identifier\",\"type\":"
	     "\"string\",\"ja\":\"x\"},{\"path\":\"member_id\",\"class\":\"identifier\",\"type\":"
	     "\"string\",\"ja\":\"x\"}]}",
	     "f.json: $.fields[1]: duplicate path \"member_id\""},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"member_id\",\"class\":\"identifier\",\"type\":"
	     "\"string\",\"ja\":\"x\"},{\"path\":\"a\",\"class\":\"name\",\"type\":\"string\","
	     "\"ja\":"
	     "\"x\"},{\"path\":\"a.b\",\"class\":\"name\",\"type\":\"string\",\"ja\":\"x\"}]}",
	     "f.json: $.fields[2]: \"a.b\" and \"a\": a path cannot be both a value and an object"},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"member_id\",\"class\":\"identifier\",\"type\":"
	     "\"string\",\"ja\":\"x\"},{\"path\":\"a[].b\",\"class\":\"name\",\"type\":\"string\","
	     "\"ja\":\"x\"},{\"path\":\"a.c\",\"class\":\"name\",\"type\":\"string\",\"ja\":\"x\"}]"
	     "}",
	     "f.json: $.fields[2]: \"a.c\" and \"a[].b\": \"a\" cannot be both an array and an "
	     "object"},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"a.b\",\"class\":\"name\",\"type\":\"string\","
	     "\"ja\":\"x\"},{\"path\":\"member_id\",\"class\":\"identifier\",\"type\":\"string\","
	     "\"ja\":\"x\"},{\"path\":\"a.c\",\"class\":\"name\",\"type\":\"string\",\"ja\":\"x\"}]"
	     "}",
	     "f.json: $.fields[2]: \"a.c\": the fields under \"a\" must be listed together"},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"name\",\"class\":\"name\",\"type\":\"string\","
	     "\"ja\":\"x\"}]}",
	     "f.json: $.fields: must list \"member_id\" of type string"},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"member_id\",\"class\":\"identifier\",\"type\":"
	     "\"string\",\"ja\":\"x\",\"note\":\"\"}]}",
	     "f.json: $.fields[0].note: unknown key"},
	    {NULL, "{\"version\":1,\"fields\":[{\"path\":\"member_id\",\"class\":\"identifier\"",
	     "f.json: line 1"},
	    {NULL,
	     "{\"version\":1,\"fields\":[{\"path\":\"a.b.c.d.e.f.g.h.i\",\"class\":\"name\","
	     "\"type\":\"string\",\"ja\":\"x\"}]}",
	     "f.json: $.fields[0].path: has more than 8 segments"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = cases[i].p ? cases[i].p : GOOD_P;
		const char *f = cases[i].f ? cases[i].f : GOOD_F;
		char *errors = NULL;
		struct catalog *c =
		    catalog_parse("p.json", p, strlen(p), "f.json", f, strlen(f), &errors);
		CHECK(c == NULL, "case %zu accepted", i);
		CHECK(errors != NULL && strstr(errors, cases[i].want) != NULL,
		      "case %zu: want \"%s\", got \"%s\"", i, cases[i].want, errors ? errors : "");
		catalog_free(c);
		free(errors);
	}
	/* Errors in both files are all reported at once. */
	const char *bp = "{\"version\":3,\"purposes\":[],\"x\":1}";
	const char *bf = "{\"version\":1,\"fields\":[]}";
	char *errors = NULL;
	struct catalog *c =
	    catalog_parse("p.json", bp, strlen(bp), "f.json", bf, strlen(bf), &errors);
	CHECK(c == NULL && errors && strstr(errors, "p.json: $.x: unknown key") &&
	          strstr(errors, "p.json: $.version") && strstr(errors, "f.json: $.fields"),
	      "all errors: %s", errors ? errors : "");
	free(errors);
	/* The good minimal pair loads. */
	c = catalog_parse("p.json", GOOD_P, strlen(GOOD_P), "f.json", GOOD_F, strlen(GOOD_F),
	                  &errors);
	CHECK(c != NULL && errors == NULL, "minimal catalogs: %s", errors ? errors : "");
	catalog_free(c);
	free(errors);
	/* Missing files name the file. */
	c = catalog_load("policies/none.json", FIELDS, &errors);
	CHECK(c == NULL && errors && strstr(errors, "policies/none.json: cannot open"), "%s",
	      errors ? errors : "");
	free(errors);
}

int
main(void)
{
	shipped();
	broken();
	return check_done();
}
