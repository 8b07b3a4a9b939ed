/* test_metrics — the counters, the histograms' buckets, the text format and its escaping. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

/* The text of m, written once (caller frees). */
static char *
text_of(const struct metrics *m)
{
	struct buf b = {0};
	size_t len;

	metrics_write(m, &b);
	CHECK(!b.bad, "metrics_write: no failed append");
	return buf_take(&b, &len);
}

/* True if the text holds this exact line. */
static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return false;
}

static void
test_requests(void)
{
	struct metrics *m = metrics_new();
	char *t;

	CHECK(m != NULL, "metrics_new");
	metrics_request(m, METRICS_PARTNER, 200, 300);     /* bucket 0.0005 */
	metrics_request(m, METRICS_PARTNER, 200, 500);     /* on the bound: still 0.0005 */
	metrics_request(m, METRICS_PARTNER, 503, 501);     /* 0.001 */
	metrics_request(m, METRICS_PARTNER, 200, 3600e6);  /* beyond every bound: +Inf */
	metrics_request(m, METRICS_COMPLIANCE, 401, 1000); /* another listener */
	metrics_request(m, METRICS_PARTNER, 99, 1);        /* not an HTTP status: not counted */
	metrics_request(m, METRICS_PARTNER, 600, 1);
	metrics_request(m, METRICS_LISTENERS, 200, 1);
	metrics_request(NULL, METRICS_PARTNER, 200, 1); /* no metrics: nothing, no crash */
	t = text_of(m);
	static const char *const want[] = {
	    "# TYPE pdgate_requests_total counter",
	    "pdgate_requests_total{listener=\"partner\",code=\"200\"} 3",
	    "pdgate_requests_total{listener=\"partner\",code=\"503\"} 1",
	    "pdgate_requests_total{listener=\"compliance\",code=\"401\"} 1",
	    "# TYPE pdgate_request_duration_seconds histogram",
	    "pdgate_request_duration_seconds_bucket{listener=\"partner\",le=\"0.0005\"} 2",
	    "pdgate_request_duration_seconds_bucket{listener=\"partner\",le=\"0.001\"} 3",
	    "pdgate_request_duration_seconds_bucket{listener=\"partner\",le=\"10\"} 3",
	    "pdgate_request_duration_seconds_bucket{listener=\"partner\",le=\"+Inf\"} 4",
	    "pdgate_request_duration_seconds_count{listener=\"partner\"} 4",
	    "pdgate_request_duration_seconds_sum{listener=\"partner\"} 3600.001301",
	    "pdgate_request_duration_seconds_bucket{listener=\"compliance\",le=\"0.0005\"} 0",
	    "pdgate_request_duration_seconds_bucket{listener=\"compliance\",le=\"0.001\"} 1",
	    "pdgate_request_duration_seconds_count{listener=\"status\"} 0",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(has_line(t, want[i]), "line %s in:\n%s", want[i], t);
	CHECK(strstr(t, "code=\"99\"") == NULL && strstr(t, "code=\"600\"") == NULL,
	      "statuses outside 100..599 are not counted");
	CHECK(strstr(t, "code=\"404\"") == NULL, "statuses not seen are not written");
	free(t);
	metrics_free(m);
	metrics_free(NULL);
}

static void
test_decisions_origin_ledger(void)
{
	struct metrics *m = metrics_new();
	char *t;

	metrics_decision(m, METRICS_RELEASE, APIERR_NONE, 100); /* a page of 100 */
	metrics_decision(m, METRICS_DENY, APIERR_MEMBER_RESTRICTED, 2);
	metrics_decision(m, METRICS_UNRECORDED, APIERR_GATEWAY_SUSPENDED, 1);
	metrics_decision(m, METRICS_DENY, APIERR_COUNT, 1); /* out of the table: ignored */
	metrics_origin(m, APIERR_NONE);
	metrics_origin(m, APIERR_MEMBER_NOT_FOUND);
	metrics_origin(m, APIERR_ORIGIN_TIMEOUT);
	metrics_origin(m, APIERR_ORIGIN_INVALID);
	metrics_origin(m, APIERR_ORIGIN_ERROR);
	metrics_origin(m, APIERR_INTERNAL); /* counts as an error */
	metrics_ledger_commit(m, 800, 3, true);
	metrics_ledger_commit(m, 2000, 1, true);
	metrics_ledger_commit(m, 5000000, 40, false); /* a failure: counted as one, not timed */
	metrics_connection(m, METRICS_PARTNER, 1);
	metrics_connection(m, METRICS_PARTNER, 1);
	metrics_connection(m, METRICS_PARTNER, -1);
	metrics_connection(m, METRICS_COMPLIANCE, -1); /* never below 0 when written */
	t = text_of(m);
	static const char *const want[] = {
	    "pdgate_decisions_total{kind=\"release\",reason=\"\"} 100",
	    "pdgate_decisions_total{kind=\"deny\",reason=\"member_restricted\"} 2",
	    "pdgate_decisions_total{kind=\"deny\",reason=\"consent_missing\"} 0",
	    "pdgate_decisions_total{kind=\"unrecorded\",reason=\"gateway_suspended\"} 1",
	    "pdgate_origin_requests_total{result=\"ok\"} 1",
	    "pdgate_origin_requests_total{result=\"not_found\"} 1",
	    "pdgate_origin_requests_total{result=\"timeout\"} 1",
	    "pdgate_origin_requests_total{result=\"invalid\"} 1",
	    "pdgate_origin_requests_total{result=\"error\"} 2",
	    "pdgate_ledger_commit_duration_seconds_bucket{le=\"0.0005\"} 0",
	    "pdgate_ledger_commit_duration_seconds_bucket{le=\"0.001\"} 1",
	    "pdgate_ledger_commit_duration_seconds_bucket{le=\"0.0025\"} 2",
	    "pdgate_ledger_commit_duration_seconds_count 2",
	    "pdgate_ledger_commit_duration_seconds_sum 0.0028",
	    "pdgate_ledger_commit_entries_bucket{le=\"1\"} 1",
	    "pdgate_ledger_commit_entries_bucket{le=\"2\"} 1",
	    "pdgate_ledger_commit_entries_bucket{le=\"4\"} 2",
	    "pdgate_ledger_commit_entries_sum 4",
	    "pdgate_ledger_commit_failures_total 1",
	    "pdgate_connections{listener=\"partner\"} 1",
	    "pdgate_connections{listener=\"compliance\"} 0",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(has_line(t, want[i]), "line %s in:\n%s", want[i], t);
	CHECK(strstr(t, "kind=\"release\",reason=\"member") == NULL, "a release has no reason");
	free(t);
	metrics_free(m);
}

static void
test_format(void)
{
	struct buf b = {0};

	metrics_write_family(&b, "x", "gauge", "back\\slash and\nnewline, \"quoted\"");
	metrics_write_sample(&b, "x", "l", "a\"b\\c\nd", 1);
	metrics_write_sample(&b, "x", NULL, NULL, 0.25);
	metrics_write_sample(&b, "x", NULL, NULL, 1764694526);
	metrics_write_sample(&b, "x", NULL, NULL, -3);
	metrics_write_sample(&b, "x", NULL, NULL, 1e300);
	const char *want = "# HELP x back\\\\slash and\\nnewline, \"quoted\"\n"
	                   "# TYPE x gauge\n"
	                   "x{l=\"a\\\"b\\\\c\\nd\"} 1\n"
	                   "x 0.25\n"
	                   "x 1764694526\n"
	                   "x -3\n"
	                   "x 1e+300\n";
	CHECK(b.data != NULL && strcmp(b.data, want) == 0, "escaped and formatted:\n%s\nwant:\n%s",
	      b.data ? b.data : "", want);
	buf_free(&b);
	CHECK(metrics_listener_named("partner") == METRICS_PARTNER &&
	          metrics_listener_named("compliance") == METRICS_COMPLIANCE &&
	          metrics_listener_named("status") == METRICS_STATUS &&
	          metrics_listener_named("other") == METRICS_LISTENERS &&
	          metrics_listener_named(NULL) == METRICS_LISTENERS,
	      "listener names");
}

#define THREADS 4
#define PER_THREAD 200000

static void *
hammer(void *arg)
{
	struct metrics *m = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		metrics_request(m, METRICS_PARTNER, 200, (uint64_t)i % 20000);
		metrics_decision(m, METRICS_RELEASE, APIERR_NONE, 1);
	}
	return NULL;
}

/* No count is lost when threads on several cores count at once. */
static void
test_threads(void)
{
	struct metrics *m = metrics_new();
	pthread_t t[THREADS];
	char line[128], *text;

	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, hammer, m);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	text = text_of(m);
	snprintf(line, sizeof(line), "pdgate_requests_total{listener=\"partner\",code=\"200\"} %d",
	         THREADS * PER_THREAD);
	CHECK(has_line(text, line), "%s", line);
	snprintf(line, sizeof(line),
	         "pdgate_request_duration_seconds_count{listener=\"partner\"} %d",
	         THREADS * PER_THREAD);
	CHECK(has_line(text, line), "%s", line);
	snprintf(line, sizeof(line), "pdgate_decisions_total{kind=\"release\",reason=\"\"} %d",
	         THREADS * PER_THREAD);
	CHECK(has_line(text, line), "%s", line);
	free(text);
	metrics_free(m);
}

int
main(void)
{
	test_requests();
	test_decisions_origin_ledger();
	test_format();
	test_threads();
	return check_done();
}
