/* test_certwatch — the days to a certificate's or CRL's end, when each is announced, and the
 * summary's certificates_expiring, on tables. */
#include <string.h>

#include "certwatch.h"
#include "check.h"

#define DAY INT64_C(86400)

/* The two counts of days, either side of an end; and how far ahead each kind is due. */
static void
test_days(void)
{
	const time_t now = 1774969200;
	static const struct {
		int64_t offset;         /* ends - now, seconds */
		int64_t left, to;       /* certwatch_days_left, certwatch_days_to */
		bool cert_due, crl_due; /* certwatch_due for a certificate, a CRL */
	} rows[] = {
	    {-2 * DAY - 1, -3, 0, true, true},
	    {-2 * DAY, -2, 0, true, true},
	    {-1, -1, 0, true, true},
	    {0, 0, 0, true, true},
	    {1, 0, 1, true, true},
	    {DAY - 1, 0, 1, true, true},
	    {DAY, 1, 1, true, true},
	    {DAY + 1, 1, 2, true, true},
	    {6 * DAY + 3600, 6, 7, true, true},
	    {7 * DAY, 7, 7, true, true},
	    {7 * DAY + 1, 7, 8, true, false},
	    {30 * DAY, 30, 30, true, false},
	    {30 * DAY + 1, 30, 31, false, false},
	    {200 * DAY, 200, 200, false, false},
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int64_t ends = (int64_t)now + rows[i].offset;
		CHECK(certwatch_days_left(ends, now) == rows[i].left, "row %zu: days_left %lld", i,
		      (long long)certwatch_days_left(ends, now));
		CHECK(certwatch_days_to(ends, now) == rows[i].to, "row %zu: days_to %lld", i,
		      (long long)certwatch_days_to(ends, now));
		CHECK(certwatch_due(CERTWATCH_SERVER, ends, now) == rows[i].cert_due &&
		          certwatch_due(CERTWATCH_PARTNER, ends, now) == rows[i].cert_due &&
		          certwatch_due(CERTWATCH_STAFF, ends, now) == rows[i].cert_due,
		      "row %zu: a certificate due", i);
		CHECK(certwatch_due(CERTWATCH_CRL, ends, now) == rows[i].crl_due,
		      "row %zu: a CRL due", i);
	}
}

/* certificates_expiring: which watched certificates and CRLs are listed, in what order. */
static void
test_listing(void)
{
	const time_t now = 1774969200; /* 2026-04-01T00:00:00+09:00 */
	const int64_t day = 86400;
	const struct certwatch_item certs[] = {
	    {CERTWATCH_PARTNER, "soon", "0A", "sha256:aa", "/p/soon.pem", now + 10 * day, NULL},
	    {CERTWATCH_PARTNER, "later", "0B", "sha256:bb", NULL, now + 31 * day, NULL},
	    {CERTWATCH_PARTNER, "gone", "0C", "sha256:cc", NULL, now - day, NULL},
	    {CERTWATCH_STAFF, "officer", "0D", "sha256:dd", NULL, now + 30 * day, NULL},
	    {CERTWATCH_SERVER, "gw.example.org", "0E", "sha256:ee", "/s.pem", now - 2 * day, NULL},
	    {CERTWATCH_SERVER, "localhost", "0F", "sha256:ff", "/t.pem", now + 200 * day, NULL},
	    {CERTWATCH_CRL, "partner", NULL, NULL, "/p.crl", now + 6 * day + 3600, NULL},
	    {CERTWATCH_CRL, "staff", NULL, NULL, "/s.crl", now + 8 * day, NULL},
	    {CERTWATCH_CRL, "staff", NULL, NULL, "/x.crl", 0, "/x.crl: not a PEM CRL"},
	};
	/* name, days_left, in this order: the problem first, then the soonest end */
	static const struct {
		const char *name;
		long long days_left; /* -999: null */
	} want[] = {
	    {"staff", -999}, {"gw.example.org", -2}, {"partner", 6}, {"soon", 10}, {"officer", 30},
	};
	const struct certwatch watched = {certs, sizeof certs / sizeof certs[0]};
	json_t *list = certwatch_json(&watched, now);
	CHECK(json_array_size(list) == sizeof want / sizeof want[0], "%zu listed",
	      json_array_size(list));
	for (size_t i = 0; i < json_array_size(list) && i < sizeof want / sizeof want[0]; i++) {
		json_t *c = json_array_get(list, i), *left = json_object_get(c, "days_left");
		CHECK(strcmp(json_string_value(json_object_get(c, "name")), want[i].name) == 0,
		      "item %zu: %s", i, json_string_value(json_object_get(c, "name")));
		CHECK(want[i].days_left == -999 ? json_is_null(left)
		                                : json_integer_value(left) == want[i].days_left,
		      "item %zu: days_left %lld", i, (long long)json_integer_value(left));
		CHECK(json_object_size(c) == 8, "item %zu: the eight members", i);
	}
	json_t *first = json_array_get(list, 0), *soon = json_array_get(list, 3);
	CHECK(first && json_is_null(json_object_get(first, "ends")) &&
	          strcmp(json_string_value(json_object_get(first, "problem")),
	                 "/x.crl: not a PEM CRL") == 0 &&
	          strcmp(json_string_value(json_object_get(first, "kind")), "crl") == 0,
	      "the unreadable CRL first, with its problem");
	CHECK(soon && strcmp(json_string_value(json_object_get(soon, "kind")), "partner") == 0 &&
	          strcmp(json_string_value(json_object_get(soon, "serial")), "0A") == 0 &&
	          strcmp(json_string_value(json_object_get(soon, "sha256")), "sha256:aa") == 0 &&
	          strcmp(json_string_value(json_object_get(soon, "file")), "/p/soon.pem") == 0 &&
	          json_is_string(json_object_get(soon, "ends")) &&
	          strcmp(json_string_value(json_object_get(soon, "ends")),
	                 "2026-04-10T15:00:00.000Z") == 0 &&
	          json_is_null(json_object_get(soon, "problem")),
	      "a partner certificate's members");
	json_decref(list);
	list = certwatch_json(NULL, now);
	CHECK(json_is_array(list) && json_array_size(list) == 0, "nothing watched: an empty list");
	json_decref(list);
	const struct certwatch none = {certs, 0};
	list = certwatch_json(&none, now);
	CHECK(json_is_array(list) && json_array_size(list) == 0, "no items: an empty list");
	json_decref(list);
}

int
main(void)
{
	test_days();
	test_listing();
	return check_done();
}
