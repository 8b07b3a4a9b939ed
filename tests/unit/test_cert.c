/* Tests of cert: the `pdgate cert` command line (options, days, paths, usage errors). Issuing
 * and revoking with a real installation is tested end to end (tests/e2e/test_listener.py). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#include "cert.c"

/* What the calls between capture() and release() printed, stdout and stderr together. */
static char said[16384];
static FILE *cap;
static int cap_out = -1, cap_err = -1;

static void
capture(void)
{
	fflush(stdout);
	fflush(stderr);
	cap = tmpfile();
	cap_out = dup(1);
	cap_err = dup(2);
	dup2(fileno(cap), 1);
	dup2(fileno(cap), 2);
}

static void
release(void)
{
	fflush(stdout);
	fflush(stderr);
	dup2(cap_out, 1);
	dup2(cap_err, 2);
	close(cap_out);
	close(cap_err);
	rewind(cap);
	said[fread(said, 1, sizeof said - 1, cap)] = '\0';
	fclose(cap);
}

static void
test_days(void)
{
	char max[16], over[16];
	snprintf(max, sizeof max, "%u", PKI_DAYS_MAX);
	snprintf(over, sizeof over, "%u", PKI_DAYS_MAX + 1);
	const struct {
		const char *s;
		int rc;
		unsigned days;
	} rows[] = {
	    {"1", 0, 1},           {"397", 0, 397}, {"007", 0, 7},  {max, 0, PKI_DAYS_MAX},
	    {over, -1, 0},         {"0", -1, 0},    {"", -1, 0},    {"-1", -1, 0},
	    {"+1", -1, 0},         {" 1", -1, 0},   {"1 ", -1, 0},  {"1x", -1, 0},
	    {"0x10", -1, 0},       {"1.5", -1, 0},  {"1e3", -1, 0}, {"99999999999999999999", -1, 0},
	    {"4294967297", -1, 0}, /* 2^32 + 1: not cut to 1 */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		unsigned days = 12345;
		int rc = parse_days(rows[i].s, &days);
		CHECK(rc == rows[i].rc, "--days '%s': %d", rows[i].s, rc);
		CHECK(days == (rc == 0 ? rows[i].days : 12345), "--days '%s': %u", rows[i].s, days);
	}
}

static void
test_opt_value(void)
{
	static const struct {
		const char *argv[3];
		int argc, rc;
		const char *val;
		int next; /* index after the call */
	} rows[] = {
	    {{"x", "--config", "a.conf"}, 3, 1, "a.conf", 2},
	    {{"x", "-c", "a.conf"}, 3, 1, "a.conf", 2},
	    {{"x", "--config=a.conf"}, 2, 1, "a.conf", 1},
	    {{"x", "--config="}, 2, 1, "", 1},
	    {{"x", "--config", "--days"}, 3, 1, "--days", 2}, /* a value may look like an option */
	    {{"x", "--config"}, 2, -1, NULL, 1},
	    {{"x", "-c"}, 2, -1, NULL, 1},
	    {{"x", "--configx"}, 2, 0, NULL, 1},
	    {{"x", "--conf", "a"}, 3, 0, NULL, 1},
	    {{"x", "-ca.conf"}, 2, 0, NULL, 1},
	    {{"x", "-c=a.conf"}, 2, 0, NULL, 1},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const char *val = NULL;
		int k = 1;
		int rc = opt_value(rows[i].argc, (char **)rows[i].argv, &k, "--config", "-c", &val);
		CHECK(rc == rows[i].rc, "%s: %d", rows[i].argv[1], rc);
		CHECK(k == rows[i].next, "%s: next argument %d", rows[i].argv[1], k);
		if (rows[i].val != NULL)
			CHECK(val != NULL && strcmp(val, rows[i].val) == 0, "%s: value '%s'",
			      rows[i].argv[1], val ? val : "(null)");
	}
}

enum { ISSUE = OPT_PARTNER | OPT_STAFF_NAME | OPT_OUT, CRL = OPT_STAFF_FLAG };

static void __attribute__((format(printf, 3, 4)))
put(char *out, size_t outlen, const char *fmt, ...)
{
	size_t n = strlen(out);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out + n, outlen - n, fmt, ap);
	va_end(ap);
}

/* The options parse() found, as one line: "-c f --partner p --days 30 [a.pem]". */
static void
describe(const struct opts *o, char *out, size_t outlen)
{
	out[0] = '\0';
	if (o->config)
		put(out, outlen, "-c %s", o->config);
	if (o->partner)
		put(out, outlen, " --partner %s", o->partner);
	if (o->staff_name)
		put(out, outlen, " --staff %s", o->staff_name);
	if (o->staff)
		put(out, outlen, " --staff");
	if (o->out)
		put(out, outlen, " --out %s", o->out);
	if (o->days_set)
		put(out, outlen, " --days %u", o->days);
	for (size_t i = 0; i < o->ndns; i++)
		put(out, outlen, " --dns %s", o->dns[i]);
	for (size_t i = 0; i < o->nip; i++)
		put(out, outlen, " --ip %s", o->ip[i]);
	for (int i = 0; i < o->npositional; i++)
		put(out, outlen, " [%s]", o->positional[i]);
}

static void
test_parse(void)
{
	static const struct {
		unsigned allowed;
		int max_positional;
		const char *argv[9];
		int rc;
		const char *want; /* rc 0: the options found; else what the user reads */
	} rows[] = {
	    {ISSUE, 0, {"issue", "-c", "f", "--partner", "p"}, 0, "-c f --partner p"},
	    {ISSUE,
	     0,
	     {"issue", "--config=f", "--staff=s", "--out=o"},
	     0,
	     "-c f --staff s --out o"},
	    {ISSUE, 0, {"issue", "-c", "f", "--days", "30"}, 0, "-c f --days 30"},
	    {ISSUE, 0, {"issue", "-c", "a", "-c", "b"}, 0, "-c b"}, /* the last one counts */
	    {ISSUE, 0, {"issue", "--partner", "p"}, 2, "-c FILE is required"},
	    {ISSUE, 0, {"issue", "-c", "f", "--days", "0"}, 2, "--days '0': a number of days"},
	    {ISSUE, 0, {"issue", "-c", "f", "--days"}, 2, "option '--days' needs a value"},
	    {ISSUE, 0, {"issue", "-c"}, 2, "option '-c' needs a value"},
	    {ISSUE, 0, {"issue", "-c", "f", "--bogus"}, 2, "unknown option '--bogus'"},
	    {ISSUE, 0, {"issue", "-c", "f", "extra"}, 2, "unexpected argument 'extra'"},
	    {ISSUE, 0, {"issue", "--help"}, 1, "usage: pdgate cert issue"},
	    {ISSUE, 0, {"issue", "-h", "--bogus"}, 1, "usage: pdgate cert issue"},
	    {CRL, 0, {"crl", "-c", "f", "--staff"}, 0, "-c f --staff"},
	    {CRL, 0, {"crl", "-c", "f", "--staff=s"}, 2, "unknown option '--staff=s'"},
	    {CRL, 0, {"crl", "-c", "f", "--partner", "p"}, 2, "unknown option '--partner'"},
	    {CRL, 0, {"crl", "-c", "f", "--out", "o"}, 2, "unknown option '--out'"},
	    {0, 1, {"revoke", "-c", "f", "a.pem"}, 0, "-c f [a.pem]"},
	    {0, 1, {"revoke", "a.pem", "-c", "f", "--days", "7"}, 0, "-c f --days 7 [a.pem]"},
	    {0, 1, {"revoke", "-c", "f", "-"}, 0, "-c f [-]"}, /* "-" is a name, not an option */
	    {0, 1, {"revoke", "-c", "f", "a.pem", "b.pem"}, 2, "unexpected argument 'b.pem'"},
	    {ISSUE | OPT_SERVER,
	     0,
	     {"issue", "-c", "f", "--dns", "a", "b", "--ip", "c"},
	     0,
	     "-c f --dns a --dns b --ip c"},
	    {ISSUE | OPT_SERVER,
	     0,
	     {"issue", "--dns=a", "--dns", "b", "-c", "f"},
	     0,
	     "-c f --dns a --dns b"},
	    {ISSUE | OPT_SERVER,
	     0,
	     {"issue", "-c", "f", "--server", "--ip"},
	     2,
	     "option '--ip' needs a value"},
	    {ISSUE, 0, {"issue", "-c", "f", "--dns", "a"}, 2, "unknown option '--dns'"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct opts o;
		char got[256];
		int argc = 0;
		while (argc < 9 && rows[i].argv[argc] != NULL)
			argc++;
		capture();
		int rc = parse(argc, (char **)rows[i].argv, rows[i].allowed, rows[i].max_positional,
		               (rows[i].allowed & ISSUE) ? usage_issue : usage_crl, &o);
		release();
		CHECK(rc == rows[i].rc, "row %zu: %d, want %d: %s", i, rc, rows[i].rc, said);
		if (rc != 0) {
			CHECK(strstr(said, rows[i].want) != NULL, "row %zu: '%s' does not say '%s'",
			      i, said, rows[i].want);
			continue;
		}
		describe(&o, got, sizeof got);
		CHECK(strcmp(got, rows[i].want) == 0, "row %zu: '%s', want '%s'", i, got,
		      rows[i].want);
		CHECK(said[0] == '\0', "row %zu: printed '%s'", i, said);
	}
}

static void
test_swap_ext(void)
{
	static const struct {
		const char *path, *ext;
		size_t room;
		int rc;
		const char *want;
	} rows[] = {
	    {"pki/partner-ca.pem", ".key", 64, 0, "pki/partner-ca.key"},
	    {"pki/staff-ca.pem", ".crl", 64, 0, "pki/staff-ca.crl"},
	    {"/a.b/c.pem", ".key", 64, 0, "/a.b/c.key"},
	    {".pem", ".key", 64, 0, ".key"},
	    {"ca.PEM", ".key", 64, -1, NULL},
	    {"ca.pem.bak", ".key", 64, -1, NULL},
	    {"pem", ".key", 64, -1, NULL},
	    {"", ".key", 64, -1, NULL},
	    {"ca.pem", ".key", 7, 0, "ca.key"}, /* exactly the room */
	    {"ca.pem", ".key", 6, -1, NULL},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[64] = "";
		capture();
		int rc = swap_ext(out, rows[i].room, rows[i].path, rows[i].ext);
		release();
		CHECK(rc == rows[i].rc, "%s -> %s: %d", rows[i].path, rows[i].ext, rc);
		if (rows[i].want != NULL && rc == 0)
			CHECK(strcmp(out, rows[i].want) == 0, "%s -> %s: '%s'", rows[i].path,
			      rows[i].ext, out);
	}
}

/* The exit statuses of `pdgate cert`: 0 done or help, 1 failed, 2 a usage error; and what the
 * user reads. None of these rows reaches a CA. */
static void
test_main(void)
{
	static const struct {
		const char *argv[9];
		int rc;
		const char *says;
	} rows[] = {
	    {{"cert"}, 2, "usage: pdgate cert COMMAND"},
	    {{"cert", "help"}, 0, "issue    issue a partner, staff or server certificate"},
	    {{"cert", "--help"}, 0, "usage: pdgate cert COMMAND"},
	    {{"cert", "-h"}, 0, "usage: pdgate cert COMMAND"},
	    {{"cert", "sigh"}, 2, "unknown command 'sigh'"},
	    {{"cert", "sign"}, 2, "-c FILE is required"},
	    {{"cert", "sign", "--help"}, 0, "--csr REQ.pem"},
	    {{"cert", "list", "--help"}, 0, "usage: pdgate cert list"},
	    {{"cert", "sign", "-c", "/nonexistent/pdgate.conf", "--partner", "a"},
	     2,
	     "--csr REQ.pem is required"},
	    {{"cert", "sign", "-c", "/nonexistent/pdgate.conf", "--csr", "r.pem"},
	     2,
	     "give exactly one of --partner ID or --staff NAME"},
	    {{"cert", "sign", "-c", "/nonexistent/pdgate.conf", "--partner", "Bad", "--csr", "r"},
	     2,
	     "'Bad': a partner id must match"},
	    {{"cert", "sign", "-c", "/nonexistent/pdgate.conf", "--partner", "a", "--csr",
	      "/nonexistent/r.pem"},
	     1,
	     "r.pem: cannot open: No such file or directory; refusing, nothing was issued"},
	    {{"cert", "sign", "-c", "f", "--partner", "a", "--csr", "r", "--p12"},
	     2,
	     "unknown option '--p12'"},
	    {{"cert", "issue", "-c", "f", "--server", "--dns", "gw.example.org"},
	     2,
	     "--server needs --out PREFIX"},
	    {{"cert", "issue", "-c", "f", "--server", "--out", "o"},
	     2,
	     "--server needs the names clients use"},
	    {{"cert", "issue", "-c", "f", "--server", "--dns", "*.example.org", "--out", "o"},
	     2,
	     "--dns '*.example.org': a wildcard"},
	    {{"cert", "issue", "-c", "f", "--server", "--dns", "10.0.0.1", "--out", "o"},
	     2,
	     "an IP address: give it with --ip"},
	    {{"cert", "issue", "-c", "f", "--server", "--ip", "10.0.0.256", "--out", "o"},
	     2,
	     "--ip '10.0.0.256': not an IPv4 address"},
	    {{"cert", "issue", "-c", "f", "--partner", "a", "--dns", "a.example"},
	     2,
	     "--dns and --ip are for --server"},
	    {{"cert", "issue", "-c", "f", "--partner", "a", "--server", "--dns", "a.example"},
	     2,
	     "give exactly one of --partner ID, --staff NAME or --server"},
	    {{"cert", "issue", "-c", "f", "--partner", "a", "--p12", "a.p12"},
	     2,
	     "--p12 FILE and --passphrase-file F go together"},
	    {{"cert", "list", "-c", "f", "--partner", "a"}, 2, "unknown option '--partner'"},
	    {{"cert", "list", "-c", "/nonexistent/pdgate.conf", "--json"},
	     1,
	     "the configuration does not load"},
	    {{"cert", "issue", "--help"}, 0, "--partner ID"},
	    {{"cert", "revoke", "--help"}, 0, "usage: pdgate cert revoke"},
	    {{"cert", "crl", "-h"}, 0, "usage: pdgate cert crl"},
	    {{"cert", "issue", "-c", "/nonexistent/pdgate.conf"},
	     2,
	     "give exactly one of --partner ID, --staff NAME or --server"},
	    {{"cert", "issue", "-c", "/nonexistent/pdgate.conf", "--partner", "a", "--staff", "b"},
	     2,
	     "give exactly one of"},
	    {{"cert", "issue", "-c", "/nonexistent/pdgate.conf", "--partner", "Sakura_Mail"},
	     2,
	     "'Sakura_Mail': a partner id must match"},
	    {{"cert", "issue", "-c", "/nonexistent/pdgate.conf", "--staff", "-officer"},
	     2,
	     "'-officer': a staff name must match"},
	    {{"cert", "issue", "-c", "/nonexistent/pdgate.conf", "--partner", "sakura-mail"},
	     1,
	     "/nonexistent/pdgate.conf: the configuration does not load"},
	    {{"cert", "revoke", "-c", "/nonexistent/pdgate.conf"},
	     2,
	     "name the certificate to revoke"},
	    {{"cert", "revoke", "-c", "/nonexistent/pdgate.conf", "a.pem"},
	     1,
	     "the configuration does not load"},
	    {{"cert", "crl", "-c", "/nonexistent/pdgate.conf", "--staff"},
	     1,
	     "the configuration does not load"},
	    {{"cert", "crl", "--days", "100000", "-c", "x"}, 2, "a number of days, 1.."},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int argc = 0;
		while (argc < 9 && rows[i].argv[argc] != NULL)
			argc++;
		capture();
		int rc = cert_main(argc, (char **)rows[i].argv);
		release();
		CHECK(rc == rows[i].rc, "row %zu (%s %s): exit %d, want %d: %s", i, rows[i].argv[1],
		      argc > 2 ? rows[i].argv[2] : "", rc, rows[i].rc, said);
		CHECK(strstr(said, rows[i].says) != NULL, "row %zu: '%s' does not say '%s'", i,
		      said, rows[i].says);
	}
}

int
main(void)
{
	test_days();
	test_opt_value();
	test_parse();
	test_swap_ext();
	test_main();
	return check_done();
}
