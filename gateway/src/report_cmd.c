/* report_cmd — `pdgate report`: provisions, subject, breach, summary, from the command line. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "catalog.h"
#include "certreg.h"
#include "cli.h"
#include "config.h"
#include "contract.h"
#include "contract_file.h"
#include "file.h"
#include "ident.h"
#include "ledger.h"
#include "origin.h"
#include "pseudo.h"
#include "report.h"
#include "report_cmd.h"

static const char usage_text[] =
    "usage: pdgate report provisions -c FILE [--partner ID] [--from T] [--to T]\n"
    "                                [--format json|csv] [--limit N] [--after INDEX]\n"
    "       pdgate report subject -c FILE MEMBER_ID\n"
    "       pdgate report breach -c FILE --partner ID [--from T] [--to T] [--no-resolve]\n"
    "       pdgate report summary -c FILE [--from T] [--to T]\n"
    "The compliance reports of the ledger, read-only (the gateway may be running):\n"
    "  provisions  the provision records of APPI Art. 29 (recipient, member, items, basis,\n"
    "              date), oldest first; CSV is UTF-8 with a BOM and CRLF, for spreadsheets\n"
    "  subject     every release about one member, for a disclosure request (Art. 33(5))\n"
    "  breach      the members affected by a leak at a partner, the items of each, and\n"
    "              whether it must be reported (Art. 26); member ids are looked up in the\n"
    "              origin unless --no-resolve\n"
    "  summary     per partner, contract and purpose: releases, refusals by reason,\n"
    "              exception uses; contracts ending within 30 days; volume anomalies;\n"
    "              certificates ending within 30 days and CRLs due within 7\n"
    "T is RFC 3339 (2026-04-01T00:00:00+09:00) or a date (2026-04-01, a day in Japan time;\n"
    "--to DATE includes that day). summary defaults to the last 30 days.\n";

static void
report_usage(FILE *f)
{
	fputs(usage_text, f);
}

static int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
cli_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pdgate report: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int
parse_limit(const char *arg, void *to)
{
	unsigned long *limit = to;
	char *end;

	errno = 0;
	*limit = strtoul(arg, &end, 10);
	if (errno || *end || arg[0] == '-' || *limit < 1 || *limit > REPORT_MAX_RECORDS)
		return cli_fail("--limit: '%s' is not 1..100000", arg);
	return 0;
}

static int
parse_after(const char *arg, void *to)
{
	unsigned long long *after = to;
	char *end;

	errno = 0;
	*after = strtoull(arg, &end, 10);
	if (errno || *end || arg[0] == '-' || arg[0] == '\0')
		return cli_fail("--after: '%s' is not an entry index", arg);
	return 0;
}

int
report_main(int argc, char **argv)
{
	const char *conf_path = NULL, *partner = NULL, *from = NULL, *to = NULL, *format = "json";
	const char *what;
	unsigned long limit = REPORT_MAX_RECORDS;
	unsigned long long after = UINT64_MAX;
	bool no_resolve = false;
	const struct cli_option opts[] = {
	    {.name = "config", .letter = 'c', .to = &conf_path},
	    {.name = "partner", .to = &partner},
	    {.name = "from", .to = &from},
	    {.name = "to", .to = &to},
	    {.name = "format", .to = &format},
	    {.name = "limit", .to = &limit, .parse = parse_limit},
	    {.name = "after", .to = &after, .parse = parse_after},
	    {.name = "no-resolve", .flag = true, .to = &no_resolve},
	};
	struct config *cfg = NULL;
	struct catalog *cat = NULL;
	struct contract_set *set = NULL;
	struct ledger *db = NULL;
	struct pseudo *ps = NULL;
	struct origin *origin = NULL;
	struct certreg_watch *watch = NULL;
	char *errors = NULL, err[1024];
	json_t *doc = NULL;
	int rc = 1, first, status;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		report_usage(stdout);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		report_usage(stderr);
		return 2;
	}
	what = argv[1];
	if (strcmp(what, "provisions") != 0 && strcmp(what, "subject") != 0 &&
	    strcmp(what, "breach") != 0 && strcmp(what, "summary") != 0) {
		fprintf(stderr, "pdgate report: unknown report '%s'\n%s", what, usage_text);
		return 2;
	}
	if (!cli_options(argc - 1, argv + 1, opts, sizeof(opts) / sizeof(opts[0]), report_usage,
	                 &first, &status))
		return status;
	bool resolve = !no_resolve;
	int rest = argc - 1 - first;
	const char *member = rest == 1 ? argv[1 + first] : NULL;
	if (conf_path == NULL || (strcmp(what, "subject") == 0 ? rest != 1 : rest != 0)) {
		report_usage(stderr);
		return 2;
	}
	if (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
		return cli_fail("--format: '%s' is not json or csv", format);
	if (strcmp(format, "csv") == 0 && strcmp(what, "provisions") != 0)
		return cli_fail("--format csv is for the provisions report, not %s", what);
	if (partner != NULL && !ident_name_ok(partner, strlen(partner)))
		return cli_fail("--partner: '%s' is not a partner id", partner);
	if (strcmp(what, "breach") == 0 && partner == NULL)
		return cli_fail("breach: --partner ID is required");
	if (member != NULL && !ident_member_ok(member, strlen(member)))
		return cli_fail("'%s' is not a member id (" IDENT_MEMBER_PATTERN ")", member);
	struct report_query q = {.partner = partner, .after = after, .limit = (unsigned)limit};
	if (from != NULL && report_parse_time(from, false, &q.from_ms) != 0)
		return cli_fail("--from: '%s' is neither RFC 3339 nor YYYY-MM-DD", from);
	if (to != NULL && report_parse_time(to, true, &q.to_ms) != 0)
		return cli_fail("--to: '%s' is neither RFC 3339 nor YYYY-MM-DD", to);
	if (q.from_ms > 0 && q.to_ms > 0 && q.from_ms >= q.to_ms)
		return cli_fail("--from must come before --to");

	cfg = config_load(conf_path, &errors);
	if (cfg == NULL) {
		fprintf(stderr, "%s", errors ? errors : "configuration: cannot load\n");
		goto done;
	}
	if ((cat = catalog_load(cfg->policy.purposes, cfg->policy.fields, &errors)) == NULL ||
	    (set = contract_set_load(cat, cfg->policy.contracts, &errors)) == NULL) {
		fprintf(stderr, "%s", errors ? errors : "policies: cannot load\n");
		goto done;
	}
	/* Read-only, beside a running gateway; any origin: reports do not check signatures. */
	struct ledger_params lp = {
	    .path = config_ledger_where(cfg), .readers = 1, .read_only = true};
	if ((db = ledger_open(&lp, err, sizeof(err))) == NULL) {
		fprintf(stderr, "pdgate report: %s\n", err);
		goto done;
	}
	struct report_names names = {cat, set};
	if (strcmp(what, "provisions") == 0) {
		char *out;
		size_t len;
		uint64_t next;
		if (report_provisions(db, &q, &names, strcmp(format, "csv") == 0, &out, &len, &next,
		                      err, sizeof(err)) != 0) {
			fprintf(stderr, "pdgate report: %s\n", err);
			goto done;
		}
		fwrite(out, 1, len, stdout);
		if (strcmp(format, "json") == 0)
			fputc('\n', stdout);
		free(out);
		if (next != UINT64_MAX)
			fprintf(stderr, "pdgate report: more records follow: --after %" PRIu64 "\n",
			        next);
		rc = 0;
		goto done;
	}
	if (strcmp(what, "subject") == 0 || (strcmp(what, "breach") == 0 && resolve)) {
		if ((ps = pseudo_load(cfg->keys.pseudonym, err, sizeof(err))) == NULL) {
			fprintf(stderr, "pdgate report: [keys] pseudonym: %s\n", err);
			goto done;
		}
	}
	if (strcmp(what, "subject") == 0) {
		char subject[PSEUDO_SUBJECT_HEX + 1];
		if (pseudo_subject(ps, member, subject) != 0) {
			fprintf(stderr, "pdgate report: cannot compute the subject reference\n");
			goto done;
		}
		doc = report_subject(db, member, subject, &names, err, sizeof(err));
	} else if (strcmp(what, "breach") == 0) {
		if (resolve) {
			struct origin_params op = origin_params_of(cfg);
			if ((origin = origin_new(&op, err, sizeof(err))) == NULL) {
				fprintf(stderr, "pdgate report: [origin] url: %s\n", err);
				goto done;
			}
		}
		doc = report_breach(db, &q, &names, origin, ps, NULL, err, sizeof(err));
	} else {
		time_t now = time(NULL);
		int64_t t = q.to_ms > 0 ? q.to_ms : report_end_now_ms();
		int64_t f = q.from_ms > 0 ? q.from_ms : t - REPORT_TRAILING_DAYS * CAL_DAY_MS;
		if (f >= t)
			return cli_fail("--from must come before now or --to");
		if ((watch = certreg_watch(cfg, err, sizeof(err))) == NULL) {
			fprintf(stderr, "pdgate report: the register of issued certificates: %s\n",
			        err);
			goto done;
		}
		doc = report_summary(db, f, t, now, &names, certreg_watch_certs(watch), err,
		                     sizeof(err));
	}
	if (doc == NULL) {
		fprintf(stderr, "pdgate report: %s\n", err);
		goto done;
	}
	if (json_dumpf(doc, stdout, JSON_COMPACT) != 0) {
		fprintf(stderr, "pdgate report: writing the report failed\n");
		goto done;
	}
	fputc('\n', stdout);
	rc = 0;
done:
	certreg_watch_free(watch);
	json_decref(doc);
	origin_free(origin);
	pseudo_free(ps);
	ledger_close(db);
	contract_set_free(set);
	catalog_free(cat);
	config_free(cfg);
	free(errors);
	return rc;
}
