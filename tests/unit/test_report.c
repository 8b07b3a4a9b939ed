/* test_report — the reports on tables of parsed leaves: breach counts, members, items and the
 * reportable flag; summary rows, refusals, exception uses and anomalies; CSV quoting and BOM.
 * It includes report.c to reach the aggregations, which only the whole reports call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "contract_file.h"
#include "report.c"

/* A leaf as the ledger writes it, parsed (valid until the next call); %s are kind, partner,
 * subject, items, basis, reason, time. NULL if it does not parse. */
static const struct ledger_leaf *
leaf(unsigned idx, const char *time, const char *kind, const char *partner, const char *contract,
     const char *purpose, const char *subject, const char *items, const char *basis,
     const char *reason)
{
	static struct ledger_leaf parsed;
	static char buf[2048];

	snprintf(buf, sizeof(buf),
	         "{\"v\":1,\"index\":%u,\"time\":\"%s\",\"request\":\"r%u\",\"kind\":\"%s\","
	         "\"partner\":%s%s%s,\"contract\":%s%s%s,\"relationship\":\"entrustment\","
	         "\"purpose\":%s%s%s,\"subject\":%s%s%s,\"items\":%s,\"basis\":%s%s%s,"
	         "\"reason\":%s%s%s,\"digest\":null,\"cert\":\"c\",\"token\":null,"
	         "\"justification\":null}",
	         idx, time, idx, kind, partner ? "\"" : "", partner ? partner : "null",
	         partner ? "\"" : "", contract ? "\"" : "", contract ? contract : "null",
	         contract ? "\"" : "", purpose ? "\"" : "", purpose ? purpose : "null",
	         purpose ? "\"" : "", subject ? "\"" : "", subject ? subject : "null",
	         subject ? "\"" : "", items ? items : "null", basis ? "\"" : "",
	         basis ? basis : "null", basis ? "\"" : "", reason ? "\"" : "",
	         reason ? reason : "null", reason ? "\"" : "");
	if (ledger_leaf_parse(buf, strlen(buf), &parsed) != 0) {
		fprintf(stderr, "bad test leaf: %s\n", buf);
		return NULL;
	}
	return &parsed;
}

/* A release of partner at ms, nothing else known. */
static const struct ledger_leaf *
release_at(int64_t ms, const char *partner)
{
	char t[LEDGER_TIME_LEN + 1];

	ledger_leaf_time(ms, t);
	return leaf(0, t, "release", partner, NULL, NULL, NULL, NULL, NULL, NULL);
}

static void
test_time(void)
{
	static const struct {
		const char *s;
		int end;
		long long want; /* -1: refused */
	} t[] = {
	    {"2026-04-01", 0, 1774969200000LL},              /* 00:00 JST = 15:00Z the day before */
	    {"2026-04-01", 1, 1774969200000LL + 86400000LL}, /* to=DATE includes the day */
	    {"2026-04-01T09:00:00+09:00", 0, 1775001600000LL},
	    {"2026-04-01T00:00:00Z", 1, 1775001600000LL},
	    {"2026-02-30", 0, -1},
	    {"2026-4-1", 0, -1},
	    {"", 0, -1},
	    {"2026-04-01T00:00:00", 0, -1}, /* no offset */
	    {"1970-01-01", 0, -1},          /* not after the epoch in JST */
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t ms = 0;
		int r = report_parse_time(t[i].s, t[i].end, &ms);
		if (t[i].want < 0)
			CHECK(r != 0, "'%s' accepted", t[i].s);
		else
			CHECK(r == 0 && ms == t[i].want, "'%s': %d %lld", t[i].s, r, (long long)ms);
	}
	char day[11];
	cal_format_day(cal_jst_day(1774969200000LL - 1), day); /* 23:59:59.999 JST */
	CHECK(strcmp(day, "2026-03-31") == 0, "day before %s", day);
	cal_format_day(cal_jst_day(1774969200000LL), day);
	CHECK(strcmp(day, "2026-04-01") == 0, "day %s", day);
}

static struct report_names names;

/* A table of releases at one partner: members, items per member, the flags. */
static void
test_breach(void)
{
	struct {
		const char *subject, *items, *kind;
	} rows[] = {
	    {"s1", "[\"name.family\",\"address.city\"]", "release"},
	    {"s1", "[\"name.family\",\"email\"]", "release"},
	    {"s2", "[\"name.family\"]", "release"},
	    {"s3", "[\"name.family\"]", "deny"},    /* refused: nothing left */
	    {NULL, "[\"name.family\"]", "release"}, /* an empty page's entry: no member */
	};
	struct report_breach *b = report_breach_new();
	char t[32];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(t, sizeof(t), "2026-04-01T00:00:0%zu.000Z", i);
		const struct ledger_leaf *l =
		    leaf((unsigned)i, t, rows[i].kind, "sakura-mail", "CT-2026-0001", "contact",
		         rows[i].subject, rows[i].items, "entrustment", NULL);
		CHECK(l != NULL, "leaf %zu", i);
		CHECK(l && report_breach_add(b, l) == 0, "add %zu", i);
	}
	report_breach_resolve(b, "s2", "M0000002");
	json_t *doc = report_breach_json(b, &names, "sakura-mail", 0, 0);
	CHECK(doc != NULL, "breach json");
	CHECK(json_integer_value(json_object_get(doc, "count")) == 2, "count");
	CHECK(json_integer_value(json_object_get(doc, "releases")) == 3, "releases");
	CHECK(json_is_false(json_object_get(doc, "reportable")), "reportable");
	CHECK(strcmp(json_string_value(json_object_get(doc, "partner_name")),
	             "さくらメールサービス株式会社") == 0,
	      "partner_name");
	json_t *m = json_object_get(doc, "members");
	CHECK(json_array_size(m) == 2, "members %zu", json_array_size(m));
	json_t *m1 = json_array_get(m, 0), *m2 = json_array_get(m, 1);
	CHECK(strcmp(json_string_value(json_object_get(m1, "subject")), "s1") == 0, "order");
	CHECK(json_array_size(json_object_get(m1, "items")) == 3, "s1 items: union of two");
	CHECK(json_integer_value(json_object_get(m1, "releases")) == 2, "s1 releases");
	CHECK(json_is_null(json_object_get(m1, "member_id")), "s1 unresolved");
	CHECK(strcmp(json_string_value(json_object_get(m2, "member_id")), "M0000002") == 0,
	      "s2 resolved");
	CHECK(strcmp(json_string_value(json_object_get(m1, "first")), "2026-04-01T00:00:00.000Z") ==
	              0 &&
	          strcmp(json_string_value(json_object_get(m1, "last")),
	                 "2026-04-01T00:00:01.000Z") == 0,
	      "first/last");
	json_t *items = json_object_get(doc, "items");
	int family = 0;
	for (size_t i = 0; i < json_array_size(items); i++) {
		json_t *it = json_array_get(items, i);
		if (strcmp(json_string_value(json_object_get(it, "item")), "name.family") == 0) {
			family = 1;
			CHECK(json_integer_value(json_object_get(it, "members")) == 2, "family n");
			CHECK(strcmp(json_string_value(json_object_get(it, "class")), "name") == 0,
			      "family class");
		}
	}
	CHECK(family, "name.family listed");
	json_decref(doc);
	report_breach_free(b);

	/* Nothing released: an empty report, not reportable. */
	b = report_breach_new();
	doc = report_breach_json(b, &names, "sakura-mail", 0, 0);
	CHECK(doc && json_integer_value(json_object_get(doc, "count")) == 0 &&
	          json_array_size(json_object_get(doc, "members")) == 0 &&
	          json_is_false(json_object_get(doc, "reportable")),
	      "empty breach");
	json_decref(doc);
	report_breach_free(b);
	struct report_summary *s = report_summary_new(1774969200000LL, 1775055600000LL, 0);
	doc = report_summary_json(s, &names);
	CHECK(doc && json_array_size(json_object_get(doc, "rows")) == 0, "empty summary");
	json_decref(doc);
	report_summary_free(s);

	/* The flag: more than 1000 people, or any my_number item, each with its reason. */
	static const struct {
		unsigned people;
		const char *items;
		int reportable;
		const char *reason;
	} flags[] = {
	    {1000, "[\"name.family\"]", 0, NULL},
	    {1001, "[\"name.family\"]", 1, "over_1000_people"},
	    {1, "[\"my_number\"]", 1, "my_number"},
	    {1, "[\"name.family\",\"my_number:mask:4\"]", 1, "my_number"},
	    {1, "[\"phone:mask:4\"]", 0, NULL},
	};
	for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
		b = report_breach_new();
		for (unsigned k = 0; k < flags[f].people; k++) {
			char subj[32];
			snprintf(subj, sizeof(subj), "s%u", k);
			const struct ledger_leaf *l =
			    leaf(k, "2026-04-01T00:00:00.000Z", "release", "midori-payroll", NULL,
			         "my_number_affairs", subj, flags[f].items, "entrustment", NULL);
			if (l != NULL)
				report_breach_add(b, l);
		}
		doc = report_breach_json(b, &names, "midori-payroll", 0, 0);
		CHECK(json_is_true(json_object_get(doc, "reportable")) == flags[f].reportable,
		      "flag case %zu", f);
		json_t *reasons = json_object_get(doc, "reasons");
		if (flags[f].reason)
			CHECK(json_array_size(reasons) == 1 &&
			          strcmp(json_string_value(
			                     json_object_get(json_array_get(reasons, 0), "code")),
			                 flags[f].reason) == 0,
			      "reason case %zu", f);
		else
			CHECK(json_array_size(reasons) == 0, "no reason case %zu", f);
		CHECK((size_t)json_integer_value(json_object_get(doc, "count")) == flags[f].people,
		      "count case %zu", f);
		json_decref(doc);
		report_breach_free(b);
	}
}

static json_t *
row_of(json_t *doc, const char *partner, const char *purpose)
{
	json_t *rows = json_object_get(doc, "rows");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *r = json_array_get(rows, i);
		if (strcmp(json_string_value(json_object_get(r, "partner")), partner) == 0 &&
		    strcmp(json_string_value(json_object_get(r, "purpose")), purpose) == 0)
			return r;
	}
	return NULL;
}

static void
test_summary(void)
{
	/* the period: 2026-04-01 .. 2026-04-03 JST */
	int64_t from = 1774969200000LL, to = from + 3 * CAL_DAY_MS;
	struct report_summary *s = report_summary_new(from, to, 1774969200);
	static const struct {
		const char *time, *kind, *partner, *purpose, *basis, *reason;
	} t[] = {
	    {"2026-04-01T01:00:00.000Z", "release", "sakura-mail", "contact", "entrustment", NULL},
	    {"2026-04-01T01:00:01.000Z", "release", "sakura-mail", "contact", "entrustment", NULL},
	    {"2026-04-01T01:00:02.000Z", "deny", "sakura-mail", "contact", NULL, "rate_limited"},
	    {"2026-04-01T01:00:03.000Z", "deny", "sakura-mail", "contact", NULL, "rate_limited"},
	    {"2026-04-01T01:00:04.000Z", "deny", "sakura-mail", "contact", NULL, "consent_missing"},
	    {"2026-04-02T01:00:00.000Z", "release", "shiken-proctor", "legal_obligation",
	     "exception:legal_obligation", NULL},
	    {"2026-03-20T01:00:00.000Z", "release", "sakura-mail", "contact", "entrustment",
	     NULL}, /* before the period: volume only */
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct ledger_leaf *l =
		    leaf((unsigned)i, t[i].time, t[i].kind, t[i].partner, NULL, t[i].purpose, "s",
		         "[\"name.family\"]", t[i].basis, t[i].reason);
		CHECK(l != NULL, "summary leaf %zu", i);
		CHECK(l && report_summary_add(s, l, REPORT_ROWS | REPORT_VOLUME) == 0, "add %zu",
		      i);
	}
	json_t *doc = report_summary_json(s, &names);
	json_t *r = row_of(doc, "sakura-mail", "contact");
	CHECK(r != NULL, "sakura row");
	CHECK(r && json_integer_value(json_object_get(r, "releases")) == 2, "releases");
	CHECK(r && json_integer_value(json_object_get(r, "refused")) == 3, "refused");
	CHECK(r && json_integer_value(
	               json_object_get(json_object_get(r, "refusals"), "rate_limited")) == 2,
	      "by reason");
	CHECK(r && json_integer_value(
	               json_object_get(json_object_get(r, "refusals"), "consent_missing")) == 1,
	      "by reason 2");
	CHECK(r && json_integer_value(json_object_get(r, "exception_uses")) == 0, "no exception");
	r = row_of(doc, "shiken-proctor", "legal_obligation");
	CHECK(r && json_integer_value(json_object_get(r, "exception_uses")) == 1, "exception use");
	CHECK(r && strcmp(json_string_value(json_object_get(r, "purpose_kind")), "exception") == 0,
	      "purpose kind");
	CHECK(json_integer_value(json_object_get(json_object_get(doc, "totals"), "releases")) == 3,
	      "total releases");
	/* one release in the 30 days before: a mean of 1/30, and 2 on 04-01 exceed 3 times it */
	json_t *an = json_object_get(doc, "volume_anomalies");
	CHECK(json_array_size(an) == 1, "anomalies %zu", json_array_size(an));
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(an, 0), "partner")),
	             "sakura-mail") == 0 &&
	          strcmp(json_string_value(json_object_get(json_array_get(an, 0), "day")),
	                 "2026-04-01") == 0,
	      "sakura-mail on 2026-04-01");
	json_decref(doc);
	report_summary_free(s);

	/* Volume anomalies: 30 days of 10 a day, then a day over and a day at exactly 3x. */
	static const struct {
		uint64_t day_count; /* releases on the first day of the period */
		int anomaly;
	} v[] = {{30, 0}, {31, 1}, {300, 1}, {10, 0}};
	for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
		s = report_summary_new(from, from + CAL_DAY_MS, 1774969200);
		for (int d = 1; d <= 30; d++)
			for (int n = 0; n < 10; n++)
				report_summary_add(
				    s, release_at(from - d * CAL_DAY_MS + 3600000, "tokei-lab"),
				    REPORT_VOLUME);
		for (uint64_t n = 0; n < v[k].day_count; n++)
			report_summary_add(s, release_at(from + 3600000, "tokei-lab"),
			                   REPORT_VOLUME | REPORT_ROWS);
		doc = report_summary_json(s, &names);
		an = json_object_get(doc, "volume_anomalies");
		CHECK((json_array_size(an) == 1) == v[k].anomaly, "anomaly case %zu: %zu", k,
		      json_array_size(an));
		if (v[k].anomaly) {
			json_t *a = json_array_get(an, 0);
			CHECK(strcmp(json_string_value(json_object_get(a, "day")), "2026-04-01") ==
			          0,
			      "anomaly day");
			CHECK(json_real_value(json_object_get(a, "trailing_mean")) == 10.0, "mean");
		}
		json_decref(doc);
		report_summary_free(s);
	}
}

static void
test_csv(void)
{
	struct buf b = {0};

	/* header: BOM first, CRLF; a record row in Japanese */
	report_csv_header(&b);
	CHECK(b.len > 3 && memcmp(b.data,
	                          "\xEF\xBB\xBF"
	                          "index,time,date,recipient,",
	                          29) == 0,
	      "BOM and header");
	CHECK(b.len > 2 && memcmp(b.data + b.len - 2, "\r\n", 2) == 0, "header CRLF");
	size_t head = b.len;
	const struct ledger_leaf *l =
	    leaf(7, "2026-03-31T15:30:00.000Z", "release", "mirai-insurance", "CT-2026-0005",
	         "consented", "abc", "[\"name.family\",\"phone:mask:4\"]", "consent", NULL);
	CHECK(l != NULL, "csv leaf");
	if (l == NULL) {
		buf_free(&b);
		return;
	}
	report_csv_provision(&b, l, &names);
	const char *row = b.data + head;
	static const char start[] = "7,2026-03-31T15:30:00.000Z,2026-04-01,mirai-insurance,";
	CHECK(strncmp(row, start, sizeof(start) - 1) == 0, "row start (JST date): %.80s", row);
	CHECK(strstr(row, ",name.family;phone:mask:4,consent,本人の同意") != NULL, "items, basis");
	CHECK(strstr(row, ",第三者提供,") == NULL, "relationship from the leaf: %.300s", row);
	CHECK(strstr(row, "その他ご本人から同意を得た目的") != NULL, "purpose label in Japanese");
	CHECK(memcmp(b.data + b.len - 2, "\r\n", 2) == 0, "row CRLF");
	size_t commas = 0;
	for (const char *p = row; *p && *p != '\r'; p++)
		commas += *p == ',';
	CHECK(commas == 17, "18 columns, got %zu commas", commas);

	json_t *rec = report_provision_json(l, &names);
	CHECK(json_is_true(json_object_get(rec, "consent")), "consent flag");
	CHECK(strcmp(json_string_value(json_object_get(rec, "recipient_name")),
	             contract_set_find(names.contracts, "CT-2026-0005")->partner_name) == 0,
	      "recipient name from the contract");
	CHECK(strcmp(json_string_value(json_object_get(rec, "date")), "2026-04-01") == 0,
	      "JST date");
	CHECK(strcmp(json_string_value(json_object_get(rec, "country")), "JP") == 0,
	      "no country in the leaf: Japan");
	CHECK(strstr(json_string_value(json_object_get(rec, "basis_label")), "第28条") == NULL,
	      "Art. 28 only abroad");
	json_decref(rec);
	CHECK(strstr(row, "mirai-insurance,みらい損害保険株式会社,JP,CT-2026-0005,") != NULL,
	      "the country after the recipient: %.200s", row);

	/* a release abroad: the country as the leaf recorded it, and Art. 28 in the basis */
	static struct ledger_leaf abroad;
	static const char text[] =
	    "{\"v\":1,\"index\":8,\"time\":\"2026-04-01T01:00:00.000Z\",\"request\":\"r8\","
	    "\"kind\":\"release\",\"partner\":\"imd-registry\",\"contract\":\"CT-2026-0007\","
	    "\"relationship\":\"third_party\",\"purpose\":\"service_delivery\",\"subject\":\"s8\","
	    "\"items\":[\"name.family\"],\"basis\":\"consent\",\"reason\":null,\"digest\":null,"
	    "\"cert\":\"c\",\"token\":null,\"justification\":null,\"country\":\"SG\"}";
	CHECK(ledger_leaf_parse(text, strlen(text), &abroad) == 0, "the leaf abroad parses");
	rec = report_provision_json(&abroad, &names);
	CHECK(strcmp(json_string_value(json_object_get(rec, "country")), "SG") == 0, "country SG");
	CHECK(strcmp(json_string_value(json_object_get(rec, "basis_label")),
	             "本人の同意（法第27条第1項、外国にある第三者への提供は法第28条第1項）") == 0,
	      "basis abroad: %s", json_string_value(json_object_get(rec, "basis_label")));
	json_decref(rec);
	size_t mark = b.len;
	report_csv_provision(&b, &abroad, &names);
	CHECK(strstr(b.data + mark, ",imd-registry,") != NULL &&
	          strstr(b.data + mark, ",SG,CT-2026-0007,third_party,") != NULL,
	      "CSV abroad: %s", b.data + mark);
	buf_free(&b);
}

/* certificates_expiring: the summary lists what certwatch_json lists at its now (test_certwatch
 * has the rules), an empty list when nothing is watched. */
static void
test_summary_certs(void)
{
	const time_t now = 1774969200; /* 2026-04-01T00:00:00+09:00 */
	const int64_t day = 86400;
	const struct certwatch_item certs[] = {
	    {CERTWATCH_PARTNER, "soon", "0A", "sha256:aa", "/p/soon.pem", now + 10 * day, NULL},
	    {CERTWATCH_PARTNER, "later", "0B", "sha256:bb", NULL, now + 31 * day, NULL},
	};
	const struct certwatch watched = {certs, sizeof certs / sizeof certs[0]};
	struct report_summary *s = report_summary_new(1774969200000LL, 1775055600000LL, now);

	s->certs = &watched;
	json_t *doc = report_summary_json(s, &names);
	json_t *list = json_object_get(doc, "certificates_expiring");
	json_t *want = certwatch_json(&watched, now);
	CHECK(json_array_size(list) == 1 && json_equal(list, want),
	      "the summary's list is the watch's at the summary's now: %zu listed",
	      json_array_size(list));
	json_decref(want);
	json_decref(doc);
	s->certs = NULL;
	doc = report_summary_json(s, &names);
	CHECK(json_is_array(json_object_get(doc, "certificates_expiring")) &&
	          json_array_size(json_object_get(doc, "certificates_expiring")) == 0,
	      "nothing watched: an empty list");
	json_decref(doc);
	report_summary_free(s);
}

int
main(void)
{
	char *errors = NULL;
	struct catalog *cat =
	    catalog_load("policies/purposes.json", "policies/fields.json", &errors);
	struct contract_set *set =
	    cat ? contract_set_load(cat, "contracts/examples", &errors) : NULL;

	CHECK(cat != NULL && set != NULL,
	      "catalogs and demo contracts (run from the repository): %s", errors ? errors : "");
	if (cat == NULL || set == NULL)
		return check_done();
	names.catalog = cat;
	names.contracts = set;
	test_time();
	test_breach();
	test_summary();
	test_summary_certs();
	test_csv();
	contract_set_free(set);
	catalog_free(cat);
	free(errors);
	return check_done();
}
