/* test_contract — contract files: the demo set loads, every broken file names its error path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog.h"
#include "check.h"
#include "contract.h"
#include "contract_file.c" /* contract_parse is static */
#include "fixture.h"
#include "text.h"

static const char BASE[] =
    "{\"id\":\"CT-2026-0100\",\"partner\":\"test-partner\",\"partner_name\":\"テスト株式会社\","
    "\"relationship\":\"entrustment\",\"status\":\"active\","
    "\"valid_from\":\"2026-04-01T00:00:00+09:00\",\"valid_until\":\"2027-03-31T23:59:59+09:00\","
    "\"token_required\":true,\"token_binding\":\"required\",\"my_number_permitted\":false,"
    "\"purposes\":{\"marketing\":{\"fields\":[\"member_id:pseudonym\",\"name.family\","
    "\"address\"],\"requires_consent\":false},\"contact\":{\"fields\":[\"name\",\"email\","
    "\"phone:mask:4\"]}},"
    "\"limits\":{\"requests_per_minute\":600,\"records_per_day\":20000},"
    "\"confidentiality\":\"業務委託契約書 第12条（秘密保持）\",\"notes\":\"テスト\"}";

/* Sets (value != NULL) or deletes the member at a dot path of top-level keys and objects. */
static char *
mutate(const char *path, const char *value)
{
	json_t *root = json_loads(BASE, 0, NULL);
	json_t *obj = root;
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	char *key = buf, *dot;
	while ((dot = strchr(key, '.')) != NULL) {
		*dot = '\0';
		obj = json_object_get(obj, key);
		key = dot + 1;
	}
	if (value == NULL) {
		json_object_del(obj, key);
	} else {
		json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
		if (v == NULL)
			fprintf(stderr, "bad test value %s\n", value);
		json_object_set_new(obj, key, v);
	}
	char *s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return s;
}

static void
broken(const struct catalog *cat)
{
	static const struct {
		const char *path, *value; /* value NULL: delete */
		const char *want;         /* a line of the errors, after "x.json: " */
	} cases[] = {
	    {"colour", "1", "$.colour: unknown key"},
	    {"purposes.marketing.colour", "1", "$.purposes.marketing.colour: unknown key"},
	    {"limits.per_hour", "1", "$.limits.per_hour: unknown key"},
	    {"id", NULL, "$.id: missing"},
	    {"id", "\"CT-26-1\"", "$.id: must be CT-YYYY-NNNN"},
	    {"id", "12", "$.id: must be a string"},
	    {"partner", "\"Sakura_Mail\"", "$.partner: must match ^[a-z0-9][a-z0-9-]{0,62}$"},
	    {"partner", "\"-sakura\"", "$.partner: must match"},
	    {"partner", "\"a234567890123456789012345678901234567890123456789012345678901234\"",
	     "$.partner: must match"},
	    /* partner_name, confidentiality and notes are free text (test_text.c) */
	    {"partner_name", "\"\"", "$.partner_name: empty; 1..256 characters, " TEXT_RULE},
	    {"partner_name", "\"\\u3000\"", "$.partner_name: blank;"},
	    {"partner_name", "\"さくら\\u202eメール\"",
	     "$.partner_name: holds a bidirectional control character;"},
	    {"partner_name", "\"さくら\\u3000メール\"", NULL},
	    {"relationship", "\"outsourcing\"",
	     "$.relationship: must be entrustment, joint_use or "
	     "third_party"},
	    {"status", "\"paused\"", "$.status: must be active, suspended or terminated"},
	    {"valid_from", "\"2026-04-01T00:00:00\"",
	     "$.valid_from: must be an RFC 3339 date-time"},
	    {"valid_from", "\"2026-04-01\"", "$.valid_from: must be an RFC 3339"},
	    {"valid_from", "\"2026-02-30T00:00:00+09:00\"", "$.valid_from: must be an RFC 3339"},
	    {"valid_until", "\"2026-03-31T23:59:59+09:00\"",
	     "$.valid_until: must be later than "
	     "valid_from"},
	    {"valid_until", "\"2026-04-01T00:00:00+09:00\"", "$.valid_until: must be later"},
	    {"token_required", "\"yes\"", "$.token_required: must be true or false"},
	    {"token_binding", "\"maybe\"", "$.token_binding: must be \"required\" or \"optional\""},
	    {"certificates", "[\"sha256:3f1c\"]",
	     "$.certificates[0]: must be \"sha256:\" and 64 hex"},
	    {"certificates", "[]", "$.certificates: must be an array of 1 to 32"},
	    {"certificates",
	     "[\"sha256:0000000000000000000000000000000000000000000000000000000000000000\","
	     "\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]",
	     "$.certificates[1]: duplicate fingerprint"},
	    {"certificates",
	     "[\"md5:00000000000000000000000000000000000000000000000000000000000000000\"]",
	     "$.certificates[0]: must be"},
	    {"my_number_permitted", "1", "$.my_number_permitted: must be true or false"},
	    {"purposes", "{}", "$.purposes: must be an object with at least one purpose"},
	    {"purposes", NULL, "$.purposes: missing"},
	    {"purposes.advertising", "{\"fields\":[\"email\"]}",
	     "$.purposes.advertising: unknown purpose \"advertising\""},
	    {"purposes.marketing", "[]", "$.purposes.marketing: must be an object"},
	    {"purposes.marketing.fields", "[]",
	     "$.purposes.marketing.fields: must be an array of 1"},
	    {"purposes.marketing.fields", NULL, "$.purposes.marketing.fields: missing"},
	    {"purposes.marketing.fields", "[\"name\",\"name\",\"adress.city\"]",
	     "$.purposes.marketing.fields[2]: unknown field \"adress.city\""},
	    {"purposes.marketing.fields", "[\"name\",\"name\"]",
	     "$.purposes.marketing.fields[1]: duplicate field: \"name.family\" is already released "
	     "by fields[0]"},
	    {"purposes.marketing.fields", "[\"address\",\"address.city\"]",
	     "$.purposes.marketing.fields[1]: duplicate field: \"address.city\""},
	    {"purposes.marketing.fields", "[\"name.family\",7]",
	     "$.purposes.marketing.fields[1]: must be a string"},
	    {"purposes.marketing.fields", "[\"phone:mask\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"phone:mask\": mask:N needs N"},
	    {"purposes.marketing.fields", "[\"phone:mask:65\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"phone:mask:65\": mask:N needs N "
	     "from 0 to 64"},
	    {"purposes.marketing.fields", "[\"phone:mask:04\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"phone:mask:04\""},
	    {"purposes.marketing.fields", "[\"phone:prefix:0\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"phone:prefix:0\": prefix:N needs "
	     "N from 1 to 64"},
	    {"purposes.marketing.fields", "[\"birth_date:age_band:1\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"birth_date:age_band:1\": "
	     "age_band:N needs N from 2 to 100"},
	    {"purposes.marketing.fields", "[\"birth_date:age_band:101\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"birth_date:age_band:101\": "
	     "age_band:N"},
	    {"purposes.marketing.fields", "[\"birth_date:year:2\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"birth_date:year:2\": this "
	     "transform takes no argument"},
	    {"purposes.marketing.fields", "[\"email:hash\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"email:hash\": unknown transform"},
	    {"purposes.marketing.fields", "[\"email:\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"email:\": unknown transform"},
	    {"purposes.marketing.fields", "[\"email:year\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"email:year\": year applies only "
	     "to "
	     "a date field"},
	    {"purposes.marketing.fields", "[\"membership.joined:age_band:10\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"membership.joined:age_band:10\": "
	     "age_band:10 applies only to the birth date"},
	    {"purposes.marketing.fields", "[\"birth_date:mask:2\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"birth_date:mask:2\": mask:2 "
	     "applies only to a string field"},
	    {"purposes.marketing.fields", "[\"address:prefix:3\"]",
	     "$.purposes.marketing.fields[0]: bad transform in \"address:prefix:3\": a transform "
	     "applies to one value, and this path names an object"},
	    {"purposes.marketing.fields", "[\"consents.marketing\"]",
	     "$.purposes.marketing.fields[0]: field \"consents.marketing\" (class internal): class "
	     "internal is never released"},
	    {"purposes.marketing.fields", "[\"email\",\"restrictions\"]",
	     "$.purposes.marketing.fields[1]: field \"restrictions.stop_use\" (class internal)"},
	    {"purposes.marketing.fields", "[\"my_number\"]",
	     "$.purposes.marketing.fields[0]: field \"my_number\" (class my_number): class "
	     "my_number "
	     "is released only for the purpose my_number_affairs"},
	    {"purposes.my_number_affairs", "{\"fields\":[\"my_number\"]}",
	     "$.purposes.my_number_affairs.fields[0]: field \"my_number\" (class my_number): class "
	     "my_number is released only when the contract sets \"my_number_permitted\": true"},
	    {"purposes.my_number_affairs", "{\"fields\":[\"name\"]}",
	     "$.purposes.my_number_affairs: the purpose my_number_affairs needs "
	     "\"my_number_permitted\": true"},
	    {"relationship", "\"joint_use\"", NULL}, /* valid alone: see the pairs below */
	    {"purposes.statistics", "{\"fields\":[\"member_id\"]}",
	     "$.purposes.statistics.fields[0]: field \"member_id\" (class identifier): a "
	     "statistics "
	     "purpose releases class identifier only through pseudonym"},
	    {"purposes.statistics", "{\"fields\":[\"certifications[].number\"]}",
	     "$.purposes.statistics.fields[0]: field \"certifications[].number\" (class "
	     "identifier): a statistics purpose"},
	    {"purposes.statistics", "{\"fields\":[\"gender\",\"name.family_kana\"]}",
	     "$.purposes.statistics.fields[1]: field \"name.family_kana\" (class name): a "
	     "statistics "
	     "purpose releases no name, contact or image class"},
	    {"purposes.statistics", "{\"fields\":[\"address\"]}",
	     "$.purposes.statistics.fields[0]: field \"address.postal_code\" (class contact)"},
	    {"purposes.statistics", "{\"fields\":[\"photo.sha256\"]}",
	     "$.purposes.statistics.fields[0]: field \"photo.sha256\" (class image)"},
	    {"purposes.statistics", "{\"fields\":[\"email:pseudonym\"]}",
	     "$.purposes.statistics.fields[0]: field \"email\" (class contact)"},
	    {"purposes.legal_obligation", "{\"fields\":[\"name\"],\"requires_consent\":true}",
	     "$.purposes.legal_obligation: an exception purpose is used without the member's "
	     "consent"},
	    {"purposes.consented", "{\"fields\":[\"name\"],\"requires_consent\":false}",
	     "$.purposes.consented: the purpose consented always requires"},
	    {"purposes.marketing.requires_consent", "\"no\"",
	     "$.purposes.marketing.requires_consent: must be true or false"},
	    {"limits", "[]", "$.limits: must be an object"},
	    {"limits.requests_per_minute", "0",
	     "$.limits.requests_per_minute: must be a positive "
	     "integer"},
	    {"limits.records_per_day", "-5",
	     "$.limits.records_per_day: must be a positive integer"},
	    {"limits.records_per_day", "1.5",
	     "$.limits.records_per_day: must be a positive integer"},
	    {"limits.records_per_day", "1000000001", "$.limits.records_per_day: must be"},
	    {"confidentiality", NULL, "$.confidentiality: missing: an entrustment contract"},
	    {"confidentiality", "\"\"", "$.confidentiality: empty; 1..4096 characters"},
	    {"confidentiality", "\"\\u3000 \"", "$.confidentiality: blank;"},
	    {"notes", "[\"x\"]", "$.notes: must be a string"},
	    {"notes", "\"a\\u009b2Jb\"", "$.notes: holds a control character"},
	    {"notes", "\"line\\nbreak\"", "$.notes: holds a control character"},
	    {"notes", "\"\\u200b\"", "$.notes: blank;"},
	    {"we ird", "1", "$[\"we ird\"]: unknown key"},
	    /* recipients abroad (SPEC 16.5): the country, then the safeguards it asks for */
	    {"country", "\"JP\"", NULL},
	    {"country", "\"jp\"",
	     "$.country: must be an ISO 3166-1 alpha-2 country code, two capital letters"},
	    {"country", "\"USA\"", "$.country: must be an ISO 3166-1 alpha-2"},
	    {"country", "\"U\"", "$.country: must be an ISO 3166-1 alpha-2"},
	    {"country", "\"\"", "$.country: must be an ISO 3166-1 alpha-2"},
	    {"country", "\"\\uff35\\uff33\"",
	     "$.country: must be an ISO 3166-1 alpha-2"}, /* ＵＳ */
	    {"country", "392", "$.country: must be an ISO 3166-1 alpha-2"},
	    {"country", "null", "$.country: must be an ISO 3166-1 alpha-2"},
	    {"country", "[\"US\"]", "$.country: must be an ISO 3166-1 alpha-2"},
	    {"country", "\"UK\"",
	     "$.country: \"UK\" is not an assigned ISO 3166-1 alpha-2 code (the United Kingdom "
	     "is \"GB\")"},
	    {"country", "\"EU\"", "$.country: \"EU\" is not an assigned ISO 3166-1 alpha-2 code"},
	    {"country", "\"XX\"", "$.country: \"XX\" is not an assigned"},
	    {"country", "\"US\"",
	     "$.foreign_safeguards: missing: a contract of relationship entrustment with a "
	     "recipient abroad (country US) names the recipient's safeguards (基準適合体制, APPI "
	     "Art. 28(1))"},
	    {"foreign_safeguards", "\"ISMS認証\"",
	     "$.foreign_safeguards: only for a recipient abroad: set \"country\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = mutate(cases[i].path, cases[i].value);
		char *errors = NULL;
		struct contract *c = contract_parse(cat, "x.json", text, strlen(text), &errors);
		if (cases[i].want == NULL) {
			CHECK(c != NULL && errors == NULL, "case %zu (%s) refused: %s", i,
			      cases[i].path, errors ? errors : "");
		} else {
			char want[1024];
			snprintf(want, sizeof(want), "x.json: %s", cases[i].want);
			CHECK(c == NULL, "case %zu (%s) accepted", i, cases[i].path);
			CHECK(errors != NULL && strstr(errors, want) != NULL,
			      "case %zu: want \"%s\"\n  got \"%s\"", i, want, errors ? errors : "");
		}
		contract_free(c);
		free(errors);
		free(text);
	}
}

/* Contracts whose validity depends on two keys at once. */
static void
pairs(const struct catalog *cat)
{
	static const struct {
		const char *text;
		const char *want; /* NULL: valid */
	} cases[] = {
	    /* My Number to a joint-use partner, even with the flag. */
	    {"{\"id\":\"CT-2026-0101\",\"partner\":\"p\",\"partner_name\":\"P\",\"relationship\":"
	     "\"joint_use\",\"status\":\"active\",\"valid_from\":\"2026-04-01T00:00:00Z\","
	     "\"valid_until\":\"2027-04-01T00:00:00Z\",\"my_number_permitted\":true,\"purposes\":{"
	     "\"my_number_affairs\":{\"fields\":[\"my_number\"]}}}",
	     "$.my_number_permitted: My Number is provided only to an entrustment contractor"},
	    {"{\"id\":\"CT-2026-0101\",\"partner\":\"p\",\"partner_name\":\"P\",\"relationship\":"
	     "\"joint_use\",\"status\":\"active\",\"valid_from\":\"2026-04-01T00:00:00Z\","
	     "\"valid_until\":\"2027-04-01T00:00:00Z\",\"my_number_permitted\":true,\"purposes\":{"
	     "\"my_number_affairs\":{\"fields\":[\"my_number\"]}}}",
	     "$.purposes.my_number_affairs.fields[0]: field \"my_number\" (class my_number): class "
	     "my_number is released only to relationship entrustment"},
	    {"{\"id\":\"CT-2026-0101\",\"partner\":\"p\",\"partner_name\":\"P\",\"relationship\":"
	     "\"third_party\",\"status\":\"active\",\"valid_from\":\"2026-04-01T00:00:00Z\","
	     "\"valid_until\":\"2027-04-01T00:00:00Z\",\"purposes\":{"
	     "\"my_number_affairs\":{\"fields\":[\"name\"]}}}",
	     "$.purposes.my_number_affairs: the purpose my_number_affairs is only for relationship "
	     "entrustment"},
	    /* A third party needs no confidentiality clause; offsets may be Z or negative. */
	    {"{\"id\":\"CT-2026-0101\",\"partner\":\"p\",\"partner_name\":\"P\",\"relationship\":"
	     "\"third_party\",\"status\":\"terminated\",\"valid_from\":\"2026-04-01T00:00:00.5Z\","
	     "\"valid_until\":\"2026-04-01T00:00:00-00:01\",\"purposes\":{"
	     "\"consented\":{\"fields\":[\"name\"]}}}",
	     NULL},
	    /* The entrustment payroll contract is the one way to My Number. */
	    {"{\"id\":\"CT-2026-0101\",\"partner\":\"p\",\"partner_name\":\"P\",\"relationship\":"
	     "\"entrustment\",\"status\":\"active\",\"valid_from\":\"2026-04-01T00:00:00Z\","
	     "\"valid_until\":\"2027-04-01T00:00:00Z\",\"my_number_permitted\":true,"
	     "\"confidentiality\":\"c\",\"purposes\":{\"my_number_affairs\":{\"fields\":["
	     "\"my_number\",\"name\"]}}}",
	     NULL},
	    /* Abroad (SPEC 16.5): an entrustee or joint user names its safeguards; a third party
	       may, and needs its members' consent instead (test_policy). */
	    {"{\"id\":\"CT-2026-0101\",\"partner\":\"p\",\"partner_name\":\"P\",\"relationship\":"
	     "\"joint_use\",\"status\":\"active\",\"valid_from\":\"2026-04-01T00:00:00Z\","
	     "\"valid_until\":\"2027-04-01T00:00:00Z\",\"country\":\"SG\",\"purposes\":{"
	     "\"benefits\":{\"fields\":[\"name\"]}}}",
	     "x.json: $.foreign_safeguards: missing: a contract of relationship joint_use with a "
	     "recipient abroad (country SG)"},
	    {"{\"id\":\"CT-2026-0101\",\"partner\":\"p\",\"partner_name\":\"P\",\"relationship\":"
	     "\"joint_use\",\"status\":\"active\",\"valid_from\":\"2026-04-01T00:00:00Z\","
	     "\"valid_until\":\"2027-04-01T00:00:00Z\",\"country\":\"SG\",\"foreign_safeguards\":"
	     "\"共同利用契約 第9条（個人情報保護法と同等の措置）\",\"purposes\":{"
	     "\"benefits\":{\"fields\":[\"name\"]}}}",
	     NULL},
	    {"{\"id\":\"CT-2026-0101\",\"partner\":\"p\",\"partner_name\":\"P\",\"relationship\":"
	     "\"entrustment\",\"status\":\"active\",\"valid_from\":\"2026-04-01T00:00:00Z\","
	     "\"valid_until\":\"2027-04-01T00:00:00Z\",\"country\":\"US\",\"foreign_safeguards\":"
	     "\"\\u3000\",\"confidentiality\":\"c\",\"purposes\":{\"contact\":{\"fields\":["
	     "\"email\"]}}}",
	     "x.json: $.foreign_safeguards: blank;"},
	    {"{\"id\":\"CT-2026-0101\",\"partner\":\"p\",\"partner_name\":\"P\",\"relationship\":"
	     "\"entrustment\",\"status\":\"active\",\"valid_from\":\"2026-04-01T00:00:00Z\","
	     "\"valid_until\":\"2027-04-01T00:00:00Z\",\"country\":\"US\",\"foreign_safeguards\":"
	     "[\"APEC CBPR\"],\"confidentiality\":\"c\",\"purposes\":{\"contact\":{\"fields\":["
	     "\"email\"]}}}",
	     "x.json: $.foreign_safeguards: must be a string"},
	    {"{\"id\":\"CT-2026-0101\",\"partner\":\"p\",\"partner_name\":\"P\",\"relationship\":"
	     "\"third_party\",\"status\":\"active\",\"valid_from\":\"2026-04-01T00:00:00Z\","
	     "\"valid_until\":\"2027-04-01T00:00:00Z\",\"country\":\"US\",\"purposes\":{"
	     "\"consented\":{\"fields\":[\"name\"]}}}",
	     NULL},
	    {"{\"id\":\"CT-2026-0101\",\"id\":\"CT-2026-0102\"}", "x.json: line 1"},
	    {"[1,2]", "x.json: $: must be an object"},
	    {"{\"id\":", "x.json: line 1"},
	    {"{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}",
	     "x.json: $: nested deeper than 16"},
	    {"{\"id\":\"CT-2026-0001\\u0000\"}", "x.json: line 1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *errors = NULL;
		struct contract *c =
		    contract_parse(cat, "x.json", cases[i].text, strlen(cases[i].text), &errors);
		if (cases[i].want == NULL)
			CHECK(c != NULL, "pair %zu refused: %s", i, errors ? errors : "");
		else
			CHECK(c == NULL && errors && strstr(errors, cases[i].want),
			      "pair %zu: want \"%s\"\n  got \"%s\"", i, cases[i].want,
			      errors ? errors : "(accepted)");
		contract_free(c);
		free(errors);
	}
	/* Every error of a file at once, each on its line. */
	const char *many =
	    "{\"id\":\"x\",\"partner\":\"P\",\"relationship\":\"r\",\"status\":\"s\","
	    "\"purposes\":{\"nope\":{\"fields\":[\"adress\"]}},\"extra\":1}";
	char *errors = NULL;
	struct contract *c = contract_parse(cat, "x.json", many, strlen(many), &errors);
	size_t lines = 0;
	for (const char *p = errors; p && *p; p++)
		lines += *p == '\n';
	CHECK(c == NULL && lines + 1 >= 9, "many errors, got %zu lines:\n%s", lines + 1,
	      errors ? errors : "");
	free(errors);
	/* The size limit holds before any parsing. */
	size_t big = CONTRACT_MAX_FILE_BYTES + 1;
	char *huge = malloc(big);
	memset(huge, ' ', big);
	c = contract_parse(cat, "x.json", huge, big, &errors);
	CHECK(c == NULL && errors && strstr(errors, "x.json: larger than 1048576 bytes"), "%s",
	      errors ? errors : "");
	free(errors);
	free(huge);
}

static void
examples(const struct catalog *cat)
{
	static const char *const ids[] = {"CT-2026-0001", "CT-2026-0002", "CT-2026-0003",
	                                  "CT-2026-0004", "CT-2026-0005", "CT-2026-0006",
	                                  "CT-2026-0007"};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char path[128], *errors = NULL;
		snprintf(path, sizeof(path), "contracts/examples/%s.json", ids[i]);
		struct contract *c = contract_load(cat, path, &errors);
		CHECK(c != NULL, "%s: %s", path, errors ? errors : "");
		if (c != NULL) {
			CHECK(strcmp(c->id, ids[i]) == 0, "file named by id: %s", path);
			CHECK(c->token_required && c->token_binding_required, "%s: token", ids[i]);
			CHECK(c->status == CONTRACT_ACTIVE, "%s active", ids[i]);
		}
		contract_free(c);
		free(errors);
	}
	char *errors = NULL;
	struct contract_set *s = contract_set_load(cat, "contracts/examples", &errors);
	CHECK(s != NULL && contract_set_count(s) == 7, "example set: %s", errors ? errors : "");
	free(errors);
	if (s == NULL)
		return;
	const struct contract *const *pc;
	CHECK(contract_set_partner(s, "sakura-mail", &pc) == 1 &&
	          strcmp(pc[0]->id, "CT-2026-0001") == 0,
	      "partner lookup");
	CHECK(contract_set_partner(s, "nobody", &pc) == 0, "unknown partner");
	CHECK(contract_set_partner(s, "a", &pc) == 0 && contract_set_partner(s, "zzz", &pc) == 0,
	      "partner lookup at both ends");
	/* the one recipient abroad of the demo: a third party, with its measures named */
	const struct contract *c = contract_set_find(s, "CT-2026-0007");
	CHECK(c && c->relationship == CONTRACT_THIRD_PARTY && strcmp(c->country, "SG") == 0 &&
	          contract_abroad(c) && c->foreign_safeguards != NULL,
	      "CT-2026-0007 abroad");
	for (size_t i = 0; i < contract_set_count(s); i++) {
		const struct contract *k = contract_set_at(s, i);
		if (k != c)
			CHECK(strcmp(k->country, "JP") == 0 && !contract_abroad(k) &&
			          k->foreign_safeguards == NULL,
			      "%s in Japan", k->id);
	}
	c = contract_set_find(s, "CT-2026-0004");
	CHECK(c && strcmp(c->partner, "tokei-lab") == 0, "find by id");
	CHECK(contract_set_find(s, "CT-2026-0099") == NULL, "unknown id");
	for (size_t i = 1; i < contract_set_count(s); i++)
		CHECK(strcmp(contract_set_at(s, i - 1)->partner, contract_set_at(s, i)->partner) <=
		          0,
		      "sorted by partner");

	/* Resolution: statistics of CT-2026-0004, in catalog order, items as written. */
	static const char *const stat_items[] = {
	    "member_id:pseudonym", "birth_date:age_band:10", "gender",
	    "address.prefecture",  "membership.joined:year", "membership.grade",
	    "courses[].code"};
	const struct contract_purpose *p = c ? contract_purpose(c, "statistics") : NULL;
	CHECK(p && p->nfields == 7, "statistics fields");
	for (size_t i = 0; p && i < p->nfields && i < 7; i++)
		CHECK(strcmp(p->fields[i].item, stat_items[i]) == 0, "item %zu: %s", i,
		      p->fields[i].item);
	if (p) {
		CHECK(p->fields[0].transform == CONTRACT_TF_PSEUDONYM, "pseudonym resolved");
		CHECK(p->fields[1].transform == CONTRACT_TF_AGE_BAND && p->fields[1].arg == 10,
		      "age band resolved");
		CHECK(p->nwritten == 7, "written kept");
	}
	CHECK(c && contract_purpose(c, "marketing") == NULL, "statistics only");
	/* Object paths expand: CT-2026-0001 marketing releases the five address lines. */
	const struct contract *sm = contract_set_find(s, "CT-2026-0001");
	p = sm ? contract_purpose(sm, "marketing") : NULL;
	CHECK(p && p->nfields == 8 && p->nwritten == 4, "marketing of 0001: %zu leaves",
	      p ? p->nfields : 0);
	const struct contract *mn = contract_set_find(s, "CT-2026-0006");
	CHECK(mn && mn->my_number_permitted && mn->relationship == CONTRACT_ENTRUSTMENT,
	      "payroll contract");
	contract_set_free(s);
}

static void
in_force_and_pins(const struct catalog *cat)
{
	char *errors = NULL;
	char *text =
	    mutate("certificates",
	           "[\"sha256:AB00000000000000000000000000000000000000000000000000000000000001\"]");
	struct contract *c = contract_parse(cat, "x.json", text, strlen(text), &errors);
	free(text);
	CHECK(c != NULL, "pinned: %s", errors ? errors : "");
	free(errors);
	if (c == NULL)
		return;
	unsigned char fp[32] = {0xab};
	fp[31] = 1;
	CHECK(contract_pins(c, fp), "pinned fingerprint accepted (upper-case hex)");
	fp[31] = 2;
	CHECK(!contract_pins(c, fp), "other fingerprint refused");
	/* 2026-04-01T00:00:00+09:00 = 1774969200; 2027-03-31T23:59:59+09:00 = 1806505199 */
	CHECK(c->valid_from == 1774969200 && c->valid_until == 1806505199,
	      "offsets applied: %lld %lld", (long long)c->valid_from, (long long)c->valid_until);
	CHECK(!contract_in_force(c, 1774969199), "a second early");
	CHECK(contract_in_force(c, 1774969200), "from the first second");
	CHECK(contract_in_force(c, 1806505199), "to the last second");
	CHECK(!contract_in_force(c, 1806505200), "a second late");
	c->status = CONTRACT_SUSPENDED;
	CHECK(!contract_in_force(c, 1790000000), "suspended");
	contract_free(c);

	text = mutate("certificates", NULL);
	c = contract_parse(cat, "x.json", text, strlen(text), &errors);
	free(text);
	CHECK(c && contract_pins(c, fp), "no pins: any certificate of the CA");
	contract_free(c);
	free(errors);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void
sets(const struct catalog *cat)
{
	char dir[] = "/tmp/pdgate-test-contract-......";
	char path[256], *errors = NULL;
	memset(dir + strlen(dir) - 6, 'X', 6); /* mkdtemp's template */
	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp");
		return;
	}
	char *a = mutate("id", "\"CT-2026-0101\"");
	char *b = mutate("id", "\"CT-2026-0102\"");
	snprintf(path, sizeof(path), "%s/a.json", dir);
	write_file(path, a);
	snprintf(path, sizeof(path), "%s/b.json", dir);
	write_file(path, b);
	snprintf(path, sizeof(path), "%s/README.md", dir);
	write_file(path, "not a contract");
	snprintf(path, sizeof(path), "%s/.hidden.json", dir);
	write_file(path, "{");
	snprintf(path, sizeof(path), "%s/sub.json", dir);
	mkdir(path, 0700); /* a folder named *.json is not a regular file */
	struct contract_set *s = contract_set_load(cat, dir, &errors);
	CHECK(s == NULL && errors && strstr(errors, "sub.json: not a regular file"), "folder: %s",
	      errors ? errors : "");
	free(errors);
	contract_set_free(s);
	rmdir(path);

	s = contract_set_load(cat, dir, &errors);
	CHECK(s != NULL && contract_set_count(s) == 2, "two files: %s", errors ? errors : "");
	free(errors);
	const struct contract *const *pc;
	CHECK(s && contract_set_partner(s, "test-partner", &pc) == 2 &&
	          strcmp(pc[0]->id, "CT-2026-0101") == 0 && strcmp(pc[1]->id, "CT-2026-0102") == 0,
	      "two contracts of one partner, by id");
	contract_set_free(s);

	/* The same id twice: the set is refused, naming both files. */
	snprintf(path, sizeof(path), "%s/c.json", dir);
	write_file(path, a);
	s = contract_set_load(cat, dir, &errors);
	CHECK(s == NULL && errors &&
	          strstr(errors, "c.json: $.id: duplicate contract id "
	                         "\"CT-2026-0101\", also in"),
	      "duplicate ids: %s", errors ? errors : "");
	free(errors);
	unlink(path);

	/* One broken file refuses the whole set, and every file's errors are listed. */
	snprintf(path, sizeof(path), "%s/d.json", dir);
	write_file(path, "{\"id\":\"CT-2026-0103\",\"partner\":\"x\"}");
	char p2[256];
	snprintf(p2, sizeof(p2), "%s/e.json", dir);
	write_file(p2, "{\"id\":1}");
	s = contract_set_load(cat, dir, &errors);
	CHECK(s == NULL && errors && strstr(errors, "d.json: $.partner_name: missing") &&
	          strstr(errors, "e.json: $.id: must be a string"),
	      "all-or-nothing: %s", errors ? errors : "");
	free(errors);
	unlink(path);
	unlink(p2);

	s = contract_set_load(cat, "/nonexistent-pdgate", &errors);
	CHECK(s == NULL && errors && strstr(errors, "cannot read the contracts folder"), "%s",
	      errors ? errors : "");
	free(errors);

	/* contract_set_new takes parsed contracts and refuses duplicates too. */
	struct contract **v = calloc(2, sizeof(*v));
	v[0] = contract_parse(cat, "a", a, strlen(a), &errors);
	v[1] = contract_parse(cat, "b", a, strlen(a), &errors);
	s = contract_set_new(v, 2, &errors);
	CHECK(s == NULL && errors && strstr(errors, "duplicate contract id"), "set_new duplicates");
	free(errors);

	snprintf(path, sizeof(path), "%s/a.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b.json", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/README.md", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.hidden.json", dir);
	unlink(path);
	s = contract_set_load(cat, dir, &errors);
	CHECK(s != NULL && contract_set_count(s) == 0, "an empty folder is an empty set");
	contract_set_free(s);
	rmdir(dir);
	free(a);
	free(b);
}

/* What a contract abroad holds once loaded (SPEC 16.5). */
static void
abroad(const struct catalog *cat)
{
	static const struct {
		const char *country, *safeguards; /* NULL: left out */
		const char *want_country;         /* NULL: refused */
		size_t errors;                    /* lines of errors when refused */
	} cases[] = {
	    {NULL, NULL, "JP", 0},
	    {"\"JP\"", NULL, "JP", 0},
	    {"\"SG\"", "\"委託契約 第9条（基準適合体制）\"", "SG", 0},
	    {"\"US\"", "\"APEC CBPR 認証、委託契約 第9条\"", "US", 0},
	    /* a bad country is one error, not also safeguards found missing or out of place */
	    {"\"UK\"", NULL, NULL, 1},
	    {"\"uk\"", "\"s\"", NULL, 1},
	    /* both wrong at once: each said */
	    {"\"UK\"", "\"\"", NULL, 2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *root = json_loads(BASE, 0, NULL);
		if (cases[i].country != NULL)
			json_object_set_new(root, "country",
			                    json_loads(cases[i].country, JSON_DECODE_ANY, NULL));
		if (cases[i].safeguards != NULL)
			json_object_set_new(root, "foreign_safeguards",
			                    json_loads(cases[i].safeguards, JSON_DECODE_ANY, NULL));
		char *text = json_dumps(root, JSON_COMPACT), *errors = NULL;
		json_decref(root);
		struct contract *c = contract_parse(cat, "x.json", text, strlen(text), &errors);
		if (cases[i].want_country != NULL) {
			CHECK(c != NULL, "abroad %zu refused: %s", i, errors ? errors : "");
			if (c != NULL) {
				CHECK(strcmp(c->country, cases[i].want_country) == 0,
				      "abroad %zu: %s", i, c->country);
				CHECK(contract_abroad(c) ==
				          (strcmp(cases[i].want_country, "JP") != 0),
				      "abroad %zu: contract_abroad", i);
				CHECK((c->foreign_safeguards != NULL) ==
				          (cases[i].safeguards != NULL),
				      "abroad %zu: safeguards kept", i);
			}
		} else {
			size_t lines = 0;
			for (const char *p = errors; p != NULL && *p != '\0'; p++)
				lines += *p == '\n';
			CHECK(c == NULL && errors != NULL && lines + 1 == cases[i].errors,
			      "abroad %zu: want %zu errors, got:\n%s", i, cases[i].errors,
			      errors ? errors : "(accepted)");
		}
		contract_free(c);
		free(errors);
		free(text);
	}
}

int
main(void)
{
	struct catalog *cat = fixture_catalog();
	if (cat == NULL)
		return check_done();
	broken(cat);
	pairs(cat);
	abroad(cat);
	examples(cat);
	in_force_and_pins(cat);
	sets(cat);
	catalog_free(cat);
	return check_done();
}
