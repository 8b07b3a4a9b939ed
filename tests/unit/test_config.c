/* test_config — every refusal of config_load with its line, the defaults, absolute paths. */
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h> /* not <limits.h>: -Igateway/src finds the limits module first */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char dir[PATH_MAX];
static char conf[PATH_MAX + 16];

/* The installation init writes, without optional keys, so the defaults show. Line numbers
 * in the cases below refer to this text. */
static const char *const base[] = {
    "[gateway]",                                          /* 1 */
    "name = demo",                                        /* 2 */
    "[partner]",                                          /* 3 */
    "listen = 127.0.0.1:8443",                            /* 4 */
    "cert = pki/server.pem",                              /* 5 */
    "key = pki/server.key",                               /* 6 */
    "client_ca = pki/partner-ca.pem",                     /* 7 */
    "crl = pki/partner-ca.crl",                           /* 8 */
    "[compliance]",                                       /* 9 */
    "listen = 127.0.0.1:9443",                            /* 10 */
    "cert = pki/server.pem",                              /* 11 */
    "key = pki/server.key",                               /* 12 */
    "staff_ca = pki/staff-ca.pem",                        /* 13 */
    "require_client_cert = false",                        /* 14 */
    "[origin]",                                           /* 15 */
    "url = sqlite:members.db",                            /* 16 */
    "; client_cert, client_key, ca: for an https origin", /* 17 */
    "[policy]",                                           /* 18 */
    "purposes = policies/purposes.json",                  /* 19 */
    "fields = policies/fields.json",                      /* 20 */
    "contracts = contracts",                              /* 21 */
    "[ledger]",                                           /* 22 */
    "path = ledger.db",                                   /* 23 */
    "origin = pdgate.local/demo",                         /* 24 */
    "key = keys/ledger.key",                              /* 25 */
    "[tokens]",                                           /* 26 */
    "issuer = pdgate.local/demo",                         /* 27 */
    "key = keys/token.key",                               /* 28 */
    "[keys]",                                             /* 29 */
    "pseudonym = keys/pseudonym.key",                     /* 30 */
};
#define NBASE (sizeof(base) / sizeof(base[0]))

/* r: replace line, d: delete line, a: add a line after it */
struct edit {
	char op;
	unsigned line;
	const char *text;
};

struct ccase {
	const char *name;
	struct edit edits[4];
	const char *chmod_path; /* relative to dir: set this mode for the case, then 0600 */
	mode_t mode;
	const char *want[6]; /* every error expected, as substrings; nothing else may appear */
};

static const struct ccase cases[] = {
    {"compliance.ui names no folder",
     {{'a', 14, "ui = nowhere"}},
     NULL,
     0,
     {"pdgate.conf:15: compliance.ui: "}},
    {"compliance.ui names a file",
     {{'a', 14, "ui = members.db"}},
     NULL,
     0,
     {"pdgate.conf:15: compliance.ui: ", "is not a folder"}},
    {"unknown key",
     {{'a', 2, "colour = blue"}},
     NULL,
     0,
     {"pdgate.conf:3: unknown key 'colour' in [gateway]"}},
    {"unknown section reported once",
     {{'a', 30, "[extra]"}, {'a', 30, "a = b"}},
     NULL,
     0,
     {"pdgate.conf:31: unknown section [extra]"}},
    {"duplicate key",
     {{'a', 5, "cert = pki/server.pem"}},
     NULL,
     0,
     {"pdgate.conf:6: duplicate key 'cert' in [partner] (first set at line 5)"}},
    {"repeated section",
     {{'a', 30, "[gateway]"}},
     NULL,
     0,
     {"pdgate.conf:31: section [gateway] repeated (first at line 1)"}},
    {"listen without port",
     {{'r', 4, "listen = 127.0.0.1"}},
     NULL,
     0,
     {"pdgate.conf:4: partner.listen: '127.0.0.1' is not HOST:PORT"}},
    {"port out of range",
     {{'r', 4, "listen = 127.0.0.1:70000"}},
     NULL,
     0,
     {"pdgate.conf:4: partner.listen: port '70000' is not a number from 1 to 65535"}},
    {"port zero",
     {{'r', 10, "listen = 127.0.0.1:0"}},
     NULL,
     0,
     {"pdgate.conf:10: compliance.listen: port '0'"}},
    {"port not a number",
     {{'r', 4, "listen = 127.0.0.1:https"}},
     NULL,
     0,
     {"pdgate.conf:4: partner.listen: port 'https'"}},
    {"host name",
     {{'r', 4, "listen = gateway.example:8443"}},
     NULL,
     0,
     {"pdgate.conf:4: partner.listen: 'gateway.example' is not a numeric IP address"}},
    {"IPv6 without brackets",
     {{'r', 4, "listen = ::1:8443"}},
     NULL,
     0,
     {"pdgate.conf:4: partner.listen: write an IPv6 address in brackets"}},
    {"same address twice",
     {{'r', 10, "listen = 127.0.0.1:8443"}},
     NULL,
     0,
     {"pdgate.conf:10: compliance.listen is the same address as partner.listen"}},
    {"bad log_format",
     {{'a', 2, "log_format = JSON"}},
     NULL,
     0,
     {"pdgate.conf:3: gateway.log_format: 'JSON' is not one of text, json"}},
    {"bad boolean",
     {{'r', 14, "require_client_cert = maybe"}},
     NULL,
     0,
     {"pdgate.conf:14: compliance.require_client_cert: 'maybe' is not true/false/yes/no/1/0"}},
    {"bad url scheme",
     {{'r', 16, "url = ftp://origin.example/members"}},
     NULL,
     0,
     {"pdgate.conf:16: origin.url: 'ftp://origin.example/members' is not sqlite:PATH"}},
    {"url without host",
     {{'r', 16, "url = https://"}},
     NULL,
     0,
     {"pdgate.conf:16: origin.url: 'https://' is not a valid URL"}},
    {"url with a blank",
     {{'r', 16, "url = http://a b/"}},
     NULL,
     0,
     {"pdgate.conf:16: origin.url: blank or non-ASCII character"}},
    {"sqlite file missing",
     {{'r', 16, "url = sqlite:nothere.db"}},
     NULL,
     0,
     {"pdgate.conf:16: origin.url: ", "/nothere.db: No such file or directory"}},
    {"tls options on a sqlite origin",
     {{'a', 16, "ca = pki/server-ca.pem"}},
     NULL,
     0,
     {"pdgate.conf:17: origin.ca applies only to an https:// origin"}},
    {"client cert without key",
     {{'r', 16, "url = https://origin.example"}, {'a', 16, "client_cert = pki/server.pem"}},
     NULL,
     0,
     {"pdgate.conf:15: origin.client_cert and origin.client_key go together"}},
    {"number not a number",
     {{'a', 8, "max_connections = lots"}},
     NULL,
     0,
     {"pdgate.conf:9: partner.max_connections: 'lots' is not a whole number"}},
    {"negative number",
     {{'a', 8, "idle_timeout_s = -5"}},
     NULL,
     0,
     {"pdgate.conf:9: partner.idle_timeout_s: '-5' is not a whole number"}},
    {"number overflows",
     {{'a', 16, "max_record_bytes = 99999999999999999999999"}},
     NULL,
     0,
     {"pdgate.conf:17: origin.max_record_bytes: '99999999999999999999999' is not a whole"}},
    {"number out of range",
     {{'a', 8, "max_connections = 0"}},
     NULL,
     0,
     {"pdgate.conf:9: partner.max_connections: 0 is out of range (1 to 100000)"}},
    {"header limit too small",
     {{'a', 8, "max_header_bytes = 100"}},
     NULL,
     0,
     {"pdgate.conf:9: partner.max_header_bytes: 100 is out of range"}},
    {"empty value", {{'r', 2, "name ="}}, NULL, 0, {"pdgate.conf:2: gateway.name: empty value"}},
    {"name with a blank",
     {{'r', 2, "name = demo gateway"}},
     NULL,
     0,
     {"pdgate.conf:2: gateway.name: 'demo gateway' must be 1 to 255 printable"}},
    {"missing required key",
     {{'d', 8, NULL}},
     NULL,
     0,
     {"pdgate.conf:3: [partner] lacks the required key 'crl'"}},
    {"missing section",
     {{'d', 29, NULL}, {'d', 30, NULL}},
     NULL,
     0,
     {"pdgate.conf: missing section [keys] with the keys pseudonym"}},
    {"certificate missing",
     {{'r', 5, "cert = pki/nothere.pem"}},
     NULL,
     0,
     {"pdgate.conf:5: partner.cert: ", "/pki/nothere.pem: No such file or directory"}},
    {"CRL missing", {{'r', 8, "crl = pki/nothere.crl"}}, NULL, 0, {"pdgate.conf:8: partner.crl: "}},
    {"catalog is a folder",
     {{'r', 19, "purposes = policies"}},
     NULL,
     0,
     {"pdgate.conf:19: policy.purposes: ", "/policies is not a regular file"}},
    {"contracts not a folder",
     {{'r', 21, "contracts = pki/server.pem"}},
     NULL,
     0,
     {"pdgate.conf:21: policy.contracts: ", "/pki/server.pem is not a folder"}},
    {"ledger folder missing",
     {{'r', 23, "path = nothere/ledger.db"}},
     NULL,
     0,
     {"pdgate.conf:23: ledger.path: folder ", "/nothere does not exist"}},
    {"token public key missing",
     {{'r', 28, "key = keys/other.key"}},
     NULL,
     0,
     {"pdgate.conf:28: tokens.pub: ", "/keys/other.pub: No such file"}},
    {"key missing",
     {{'r', 30, "pseudonym = keys/nothere.key"}},
     NULL,
     0,
     {"pdgate.conf:30: keys.pseudonym: key file ", "nothere.key: No such file"}},
    {"key readable by group",
     {{0, 0, NULL}},
     "keys/ledger.key",
     0640,
     {"pdgate.conf:25: ledger.key: key file ", "/keys/ledger.key has mode 0640", "chmod 600 "}},
    {"key readable by others",
     {{0, 0, NULL}},
     "keys/pseudonym.key",
     0604,
     {"pdgate.conf:30: keys.pseudonym: key file ", "has mode 0604"}},
    {"key writable by group",
     {{0, 0, NULL}},
     "keys/token.key",
     0620,
     {"pdgate.conf:28: tokens.key: key file ", "has mode 0620"}},
    {"server key shared by both listeners",
     {{0, 0, NULL}},
     "pki/server.key",
     0644,
     {"pdgate.conf:6: partner.key: key file ", "pdgate.conf:12: compliance.key: key file "}},
    {"no equals sign",
     {{'r', 4, "listen 127.0.0.1:8443"}},
     NULL,
     0,
     {"pdgate.conf:4: expected 'name = value'", "pdgate.conf:3: [partner] lacks the required "
                                                "key 'listen'"}},
    {"colon separator",
     {{'r', 2, "name: demo"}},
     NULL,
     0,
     {"pdgate.conf:2: expected 'name = value'"}},
    {"malformed section header",
     {{'a', 30, "[extra"}, {'a', 30, "a = b"}},
     NULL,
     0,
     {"pdgate.conf:31: malformed section header"}},
    {"indented line is not a continuation",
     {{'a', 2, "   more words"}},
     NULL,
     0,
     {"pdgate.conf:3: expected 'name = value'"}},
    {"control character",
     {{'a', 2, "threads = 4\x01"}},
     NULL,
     0,
     {"pdgate.conf:3: control character in line"}},
    {"line too long",
     {{'a', 2,
       "; xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}},
     NULL,
     0,
     {"pdgate.conf:3: line longer than 197 characters"}},
    {"[status] without listen",
     {{'a', 30, "[status]"}, {'a', 30, "allow_remote = true"}},
     NULL,
     0,
     {"pdgate.conf:31: [status] lacks the required key 'listen'"}},
    {"[status] off loopback without allow_remote",
     {{'a', 30, "[status]"}, {'a', 30, "listen = 0.0.0.0:9100"}},
     NULL,
     0,
     {"pdgate.conf:32: status.listen: 0.0.0.0 is not a loopback address", "allow_remote = true"}},
    {"[status] on every IPv6 address without allow_remote",
     {{'a', 30, "[status]"}, {'a', 30, "listen = [::]:9100"}, {'a', 30, "allow_remote = no"}},
     NULL,
     0,
     {"pdgate.conf:32: status.listen: :: is not a loopback address"}},
    {"[status] on the partner listener's address",
     {{'a', 30, "[status]"}, {'a', 30, "listen = 127.0.0.1:8443"}},
     NULL,
     0,
     {"pdgate.conf:32: status.listen is the same address as partner.listen"}},
    {"[status] listen without port: one error",
     {{'a', 30, "[status]"}, {'a', 30, "listen = 127.0.0.1"}},
     NULL,
     0,
     {"pdgate.conf:32: status.listen: '127.0.0.1' is not HOST:PORT"}},
    {"several errors, all reported",
     {{'a', 2, "colour = blue"},
      {'r', 4, "listen = 127.0.0.1:99999"},
      {'r', 14, "require_client_cert = sometimes"},
      {'d', 25, NULL}},
     NULL,
     0,
     {"pdgate.conf:3: unknown key 'colour' in [gateway]", "pdgate.conf:5: partner.listen: port",
      "pdgate.conf:15: compliance.require_client_cert: 'sometimes'",
      "pdgate.conf:23: [ledger] lacks the required key 'key'"}},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void
write_text(const char *rel, const char *text, mode_t mode)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror(path);
		exit(2);
	}
	fchmod(fd, mode);
	close(fd);
}

static void
make_tree(void)
{
	static const char *const dirs[] = {"pki", "policies", "contracts", "keys"};
	static const char *const files[] = {
	    "pki/server.pem",   "pki/partner-ca.pem",     "pki/partner-ca.crl",
	    "pki/staff-ca.pem", "pki/staff-ca.crl",       "pki/server-ca.pem",
	    "members.db",       "policies/purposes.json", "policies/fields.json",
	    "keys/token.pub",   "keys/other-token.pub"};
	static const char *const secrets[] = {"pki/server.key",         "keys/ledger.key",
	                                      "keys/token.key",         "keys/pseudonym.key",
	                                      "keys/origin-client.key", "keys/other.key"};
	char path[PATH_MAX * 2];

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, dirs[i]);
		mkdir(path, 0755);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		write_text(files[i], "x\n", 0644);
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		write_text(secrets[i], "secret\n", 0600);
}

static void
set_mode(const char *rel, mode_t mode)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	chmod(path, mode);
}

/* The base text with a case's edits applied. Caller frees. */
static char *
build(const struct edit *edits, size_t nedits)
{
	size_t cap = 65536, len = 0;
	char *out = malloc(cap);

	out[0] = '\0';
	for (unsigned i = 1; i <= NBASE; i++) {
		const char *line = base[i - 1];
		for (size_t e = 0; e < nedits; e++)
			if (edits[e].line == i && edits[e].op == 'r')
				line = edits[e].text;
			else if (edits[e].line == i && edits[e].op == 'd')
				line = NULL;
		if (line)
			len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
		for (size_t e = 0; e < nedits; e++)
			if (edits[e].line == i && edits[e].op == 'a')
				len +=
				    (size_t)snprintf(out + len, cap - len, "%s\n", edits[e].text);
	}
	return out;
}

static unsigned
count_lines(const char *s)
{
	unsigned n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void
test_cases(void)
{
	for (size_t i = 0; i < NCASES; i++) {
		const struct ccase *t = &cases[i];
		char *text = build(t->edits, sizeof(t->edits) / sizeof(t->edits[0]));
		write_text("pdgate.conf", text, 0644);
		if (t->chmod_path)
			set_mode(t->chmod_path, t->mode);
		char *errors = NULL;
		struct config *c = config_load(conf, &errors);
		CHECK(c == NULL, "%s: loaded", t->name);
		CHECK(errors != NULL, "%s: no errors", t->name);
		unsigned nwant = 0, nlines = 0;
		for (size_t w = 0; w < sizeof(t->want) / sizeof(t->want[0]) && t->want[w]; w++) {
			CHECK(errors && strstr(errors, t->want[w]), "%s: want '%s', got:\n%s",
			      t->name, t->want[w], errors ? errors : "(none)");
			/* a want that starts with the file names a line of its own */
			if (strncmp(t->want[w], "pdgate.conf", 11) == 0)
				nwant++;
		}
		nlines = count_lines(errors);
		CHECK(nlines == nwant, "%s: %u error lines, want %u:\n%s", t->name, nlines, nwant,
		      errors ? errors : "");
		if (t->chmod_path)
			set_mode(t->chmod_path, 0600);
		config_free(c);
		free(errors);
		free(text);
	}
}

static void
expect_path(const char *name, const char *got, const char *rel)
{
	char want[PATH_MAX * 2];
	snprintf(want, sizeof(want), "%s/%s", dir, rel);
	CHECK(got && strcmp(got, want) == 0, "%s = %s, want %s", name, got ? got : "(null)", want);
}

static void
test_good_defaults(void)
{
	char *text = build(NULL, 0);
	char *errors = NULL;

	write_text("pdgate.conf", text, 0644);
	struct config *c = config_load(conf, &errors);
	CHECK(c != NULL, "base config refused:\n%s", errors ? errors : "");
	CHECK(errors == NULL, "errors set on success");
	free(text);
	if (!c)
		return;
	CHECK(strcmp(c->file, conf) == 0, "file %s", c->file);
	CHECK(strcmp(c->dir, dir) == 0, "dir %s", c->dir);
	CHECK(strcmp(c->gateway.name, "demo") == 0, "name %s", c->gateway.name);
	CHECK(c->gateway.log == NULL, "log %s", c->gateway.log);
	expect_path("gateway.state", c->gateway.state, "state.db");
	CHECK(c->gateway.threads == 0, "threads %u", c->gateway.threads);
	CHECK(c->gateway.log_format == CONFIG_LOG_TEXT, "log_format %u", c->gateway.log_format);
	CHECK(strcmp(c->partner.listen.host, "127.0.0.1") == 0, "partner host");
	CHECK(c->partner.listen.port == 8443, "partner port %u", c->partner.listen.port);
	CHECK(c->compliance.listen.port == 9443, "compliance port %u", c->compliance.listen.port);
	expect_path("partner.cert", c->partner.cert, "pki/server.pem");
	expect_path("partner.key", c->partner.key, "pki/server.key");
	expect_path("partner.client_ca", c->partner.client_ca, "pki/partner-ca.pem");
	expect_path("partner.crl", c->partner.crl, "pki/partner-ca.crl");
	CHECK(c->partner.max_connections == 1024, "max_connections %u", c->partner.max_connections);
	CHECK(c->partner.idle_timeout_s == 30, "idle_timeout_s %u", c->partner.idle_timeout_s);
	CHECK(c->partner.max_header_bytes == 8192, "max_header_bytes %u",
	      c->partner.max_header_bytes);
	expect_path("compliance.staff_ca", c->compliance.staff_ca, "pki/staff-ca.pem");
	/* the CRL beside the staff CA is found; there is no ui folder */
	expect_path("compliance.staff_crl", c->compliance.staff_crl, "pki/staff-ca.crl");
	CHECK(c->compliance.ui == NULL, "ui %s", c->compliance.ui);
	CHECK(c->compliance.require_client_cert == false, "require_client_cert");
	char url[PATH_MAX * 2];
	snprintf(url, sizeof(url), "sqlite:%s/members.db", dir);
	CHECK(strcmp(c->origin.url, url) == 0, "url %s", c->origin.url);
	CHECK(c->origin.timeout_ms == 2000, "timeout_ms %u", c->origin.timeout_ms);
	CHECK(c->origin.max_record_bytes == 1048576, "max_record_bytes %lu",
	      c->origin.max_record_bytes);
	CHECK(!c->origin.client_cert && !c->origin.client_key && !c->origin.ca, "origin tls");
	expect_path("policy.purposes", c->policy.purposes, "policies/purposes.json");
	expect_path("policy.fields", c->policy.fields, "policies/fields.json");
	expect_path("policy.contracts", c->policy.contracts, "contracts");
	expect_path("ledger.path", c->ledger.path, "ledger.db");
	CHECK(strcmp(c->ledger.origin, "pdgate.local/demo") == 0, "ledger.origin");
	expect_path("ledger.key", c->ledger.key, "keys/ledger.key");
	CHECK(c->ledger.checkpoint_interval_ms == 1000, "checkpoint_interval_ms %u",
	      c->ledger.checkpoint_interval_ms);
	CHECK(strcmp(c->tokens.issuer, "pdgate.local/demo") == 0, "tokens.issuer");
	expect_path("tokens.key", c->tokens.key, "keys/token.key");
	expect_path("tokens.pub", c->tokens.pub, "keys/token.pub");
	expect_path("keys.pseudonym", c->keys.pseudonym, "keys/pseudonym.key");
	CHECK(c->status.listen.host == NULL && !c->status.allow_remote,
	      "no [status]: no status listener");
	config_free(c);
}

/* [status] addresses that load: loopback ones, and any with allow_remote. */
static void
test_status(void)
{
	static const struct {
		const char *lines, *host;
		unsigned port;
		bool remote;
	} ok[] = {
	    {"listen = 127.0.0.1:9100\n", "127.0.0.1", 9100, false},
	    {"listen = 127.8.9.10:9101\n", "127.8.9.10", 9101, false},
	    {"listen = [::1]:9102\n", "::1", 9102, false},
	    {"listen = localhost:9103\n", "localhost", 9103, false},
	    {"listen = 0.0.0.0:9104\nallow_remote = true\n", "0.0.0.0", 9104, true},
	    {"allow_remote = yes\nlisten = [2001:db8::1]:9105\n", "2001:db8::1", 9105, true},
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *base_text = build(NULL, 0), *errors = NULL, text[8192];
		snprintf(text, sizeof(text), "%s[status]\n%s", base_text, ok[i].lines);
		free(base_text);
		write_text("pdgate.conf", text, 0644);
		struct config *c = config_load(conf, &errors);
		CHECK(c != NULL, "[status] %s refused:\n%s", ok[i].lines, errors ? errors : "");
		if (c != NULL)
			CHECK(c->status.listen.host &&
			          strcmp(c->status.listen.host, ok[i].host) == 0 &&
			          c->status.listen.port == ok[i].port &&
			          c->status.allow_remote == ok[i].remote,
			      "[status] %s: %s:%u remote %d", ok[i].lines, c->status.listen.host,
			      c->status.listen.port, c->status.allow_remote);
		config_free(c);
		free(errors);
	}
}

/* [witness]: entries that load, with their defaults; and each refusal with its reason. */
static void
test_witness(void)
{
	static const char vk[] =
	    "witness.example/w1+a6ba1725+BGB0HDp4PWlgH7Fj+Fa1qU9qqCeQn7biIbv+04X2Wze5";
	static const char log_vk[] =
	    "witness.example/w1+a50ae617+AWB0HDp4PWlgH7Fj+Fa1qU9qqCeQn7biIbv+04X2Wze5";
	static const struct {
		const char *lines, *want; /* want: NULL loads, else a piece of the error */
	} rows[] = {
	    {"w1 = @V https://w.example/w/\n", NULL},
	    {"w1 = @V http://127.0.0.1:9/w\nquorum = 1\nmax_age_s = 5\n", NULL},
	    {"w1 = @V http://[::1]:9/w\n", NULL},
	    {"w1 = @L https://w.example/w\n", "is not a verifier key of a cosigner"},
	    {"w1 = @V http://w.example/w\n", "plain HTTP off loopback"},
	    {"w1 = @V\n", "expected 'VKEY URL'"},
	    {"w1 = @V https://a b\n", "expected 'VKEY URL'"},
	    {"w1 = @V gopher://w\n", "is not an http(s) URL"},
	    {"w1 = @V https://\n", "is not an http(s) URL"},
	    {"w1 = @V https://w.example\nw2 = @V https://v.example\n", "already witness w1's"},
	    {"w1 = @V https://w.example\nw1 = @V https://v.example\n", "named twice"},
	    {"w1 = @V https://w.example\nquorum = 2\n", "2 is more than the 1 witnesses"},
	    {"w1 = @V https://w.example\nquorum = 0\n", "out of range"},
	    {"quorum = 1\n", "[witness] lists no witness"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *base_text = build(NULL, 0), *errors = NULL, text[8192], lines[1024];
		size_t n = 0;
		for (const char *q = rows[i].lines; *q != '\0' && n + 100 < sizeof(lines); q++) {
			const char *put = q[0] == '@' && q[1] == 'V'   ? vk
			                  : q[0] == '@' && q[1] == 'L' ? log_vk
			                                               : NULL;
			if (put == NULL) {
				lines[n++] = *q;
				continue;
			}
			n += (size_t)snprintf(lines + n, sizeof(lines) - n, "%s", put);
			q++;
		}
		lines[n] = '\0';
		snprintf(text, sizeof(text), "%s[witness]\n%s", base_text, lines);
		free(base_text);
		write_text("pdgate.conf", text, 0644);
		struct config *c = config_load(conf, &errors);
		if (rows[i].want == NULL) {
			CHECK(c != NULL, "[witness] %s refused:\n%s", lines, errors ? errors : "");
			if (c != NULL)
				CHECK(c->witness.n == 1 &&
				          strcmp(c->witness.list[0].name, "w1") == 0 &&
				          strcmp(c->witness.list[0].vkey, vk) == 0 &&
				          c->witness.list[0]
				                  .url[strlen(c->witness.list[0].url) - 1] != '/' &&
				          c->witness.quorum == 1 &&
				          c->witness.max_age_s ==
				              (strstr(lines, "max_age_s") ? 5u : 60u),
				      "[witness] %s: loaded as %zu, %s, quorum %u", lines,
				      c->witness.n, c->witness.n ? c->witness.list[0].url : "-",
				      c->witness.quorum);
		} else {
			CHECK(c == NULL && errors != NULL && strstr(errors, rows[i].want) != NULL,
			      "[witness] %s: want %s, got %s", lines, rows[i].want,
			      errors ? errors : "(loaded)");
		}
		config_free(c);
		free(errors);
	}
}

/* Every optional key set, CRLF line ends, comments, an absolute path, IPv6, https origin. */
static void
test_good_everything(void)
{
	char text[8192];
	char *errors = NULL;

	snprintf(text, sizeof(text),
	         "; pdgate configuration\r\n"
	         "# another comment style\r\n"
	         "[gateway]\r\n"
	         "name = demo ; inline comment\r\n"
	         "log = pdgate.log\r\n"
	         "state = keys/state.db\r\n"
	         "threads = 4\r\n"
	         "log_format = json\r\n"
	         "\r\n"
	         "[partner]\r\n"
	         "  listen = [::1]:8443\r\n"
	         "cert = %s/pki/server.pem\r\n"
	         "key = pki/server.key\r\n"
	         "client_ca = pki/partner-ca.pem\r\n"
	         "crl = pki/partner-ca.crl\r\n"
	         "max_connections = 2000\r\n"
	         "idle_timeout_s = 5\r\n"
	         "max_header_bytes = 16384\r\n"
	         "[compliance]\r\n"
	         "listen = localhost:9443\r\n"
	         "cert = pki/server.pem\r\n"
	         "key = pki/server.key\r\n"
	         "staff_ca = pki/staff-ca.pem\r\n"
	         "staff_crl = pki/staff-ca.crl\r\n"
	         "require_client_cert = yes\r\n"
	         "[origin]\r\n"
	         "url = https://origin.example:8444/members\r\n"
	         "timeout_ms = 500\r\n"
	         "max_record_bytes = 65536\r\n"
	         "client_cert = pki/server.pem\r\n"
	         "client_key = keys/origin-client.key\r\n"
	         "ca = pki/server-ca.pem\r\n"
	         "[policy]\r\n"
	         "purposes = policies/purposes.json\r\n"
	         "fields = policies/fields.json\r\n"
	         "contracts = contracts/\r\n"
	         "[ledger]\r\n"
	         "path = ledger.db\r\n"
	         "origin = pdgate.local/demo\r\n"
	         "key = keys/ledger.key\r\n"
	         "checkpoint_interval_ms = 250\r\n"
	         "[tokens]\r\n"
	         "issuer = https://pdgate.local/demo\r\n"
	         "key = keys/token.key\r\n"
	         "pub = keys/other-token.pub\r\n"
	         "[keys]\r\n"
	         "pseudonym = keys/pseudonym.key",
	         dir);
	write_text("pdgate.conf", text, 0644);
	struct config *c = config_load(conf, &errors);
	CHECK(c != NULL, "full config refused:\n%s", errors ? errors : "");
	if (!c) {
		free(errors);
		return;
	}
	CHECK(strcmp(c->gateway.name, "demo") == 0, "name '%s'", c->gateway.name);
	expect_path("gateway.log", c->gateway.log, "pdgate.log");
	expect_path("gateway.state", c->gateway.state, "keys/state.db");
	CHECK(c->gateway.threads == 4, "threads %u", c->gateway.threads);
	CHECK(c->gateway.log_format == CONFIG_LOG_JSON, "log_format %u", c->gateway.log_format);
	CHECK(strcmp(c->partner.listen.host, "::1") == 0, "host %s", c->partner.listen.host);
	CHECK(c->partner.listen.port == 8443, "port %u", c->partner.listen.port);
	expect_path("partner.cert (absolute)", c->partner.cert, "pki/server.pem");
	CHECK(c->partner.max_connections == 2000, "max_connections");
	CHECK(c->partner.idle_timeout_s == 5, "idle_timeout_s");
	CHECK(c->partner.max_header_bytes == 16384, "max_header_bytes");
	CHECK(strcmp(c->compliance.listen.host, "localhost") == 0, "compliance host");
	expect_path("compliance.staff_crl", c->compliance.staff_crl, "pki/staff-ca.crl");
	CHECK(c->compliance.require_client_cert == true, "require_client_cert");
	CHECK(strcmp(c->origin.url, "https://origin.example:8444/members") == 0, "url %s",
	      c->origin.url);
	CHECK(c->origin.timeout_ms == 500, "timeout_ms");
	CHECK(c->origin.max_record_bytes == 65536, "max_record_bytes");
	expect_path("origin.client_cert", c->origin.client_cert, "pki/server.pem");
	expect_path("origin.client_key", c->origin.client_key, "keys/origin-client.key");
	expect_path("origin.ca", c->origin.ca, "pki/server-ca.pem");
	expect_path("policy.contracts", c->policy.contracts, "contracts/");
	CHECK(c->ledger.checkpoint_interval_ms == 250, "checkpoint_interval_ms");
	CHECK(strcmp(c->tokens.issuer, "https://pdgate.local/demo") == 0, "issuer");
	expect_path("tokens.pub", c->tokens.pub, "keys/other-token.pub");
	config_free(c);
}

/* The compliance defaults that depend on files: the staff CRL beside the staff CA, the
 * console's folder beside the configuration; explicit values win. */
static void
test_compliance_defaults(void)
{
	static const struct {
		const char *name;
		const char *crl_line; /* NULL: none in the file */
		const char *ui_line;
		bool crl_file, ui_dir;          /* pki/staff-ca.crl and ui/ exist */
		const char *want_crl, *want_ui; /* relative, NULL: unset */
	} t[] = {
	    {"both found", NULL, NULL, true, true, "pki/staff-ca.crl", "ui"},
	    {"neither there", NULL, NULL, false, false, NULL, NULL},
	    {"explicit wins", "staff_crl = pki/partner-ca.crl", "ui = policies", true, true,
	     "pki/partner-ca.crl", "policies"},
	    {"explicit without defaults", "staff_crl = pki/partner-ca.crl", "ui = contracts", false,
	     false, "pki/partner-ca.crl", "contracts"},
	};
	char path[PATH_MAX * 2], uidir[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/pki/staff-ca.crl", dir);
	snprintf(uidir, sizeof(uidir), "%s/ui", dir);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct edit e[2] = {{'a', 14, t[i].crl_line}, {'a', 14, t[i].ui_line}};
		struct edit use[2];
		size_t n = 0;
		for (size_t k = 0; k < 2; k++)
			if (e[k].text)
				use[n++] = e[k];
		char *text = build(use, n), *errors = NULL;
		write_text("pdgate.conf", text, 0644);
		free(text);
		if (t[i].crl_file)
			write_text("pki/staff-ca.crl", "x\n", 0644);
		else
			unlink(path);
		if (t[i].ui_dir)
			mkdir(uidir, 0755);
		else
			rmdir(uidir);
		struct config *c = config_load(conf, &errors);
		CHECK(c != NULL, "%s: refused:\n%s", t[i].name, errors ? errors : "");
		if (c) {
			if (t[i].want_crl)
				expect_path(t[i].name, c->compliance.staff_crl, t[i].want_crl);
			else
				CHECK(c->compliance.staff_crl == NULL, "%s: staff_crl %s",
				      t[i].name, c->compliance.staff_crl);
			if (t[i].want_ui)
				expect_path(t[i].name, c->compliance.ui, t[i].want_ui);
			else
				CHECK(c->compliance.ui == NULL, "%s: ui %s", t[i].name,
				      c->compliance.ui);
		}
		config_free(c);
		free(errors);
	}
	write_text("pki/staff-ca.crl", "x\n", 0644);
	rmdir(uidir);
}

/* Loaded by a relative name, the paths are still absolute. */
static void
test_relative_name(void)
{
	char *text = build(NULL, 0), *errors = NULL;
	char cwd[PATH_MAX];

	write_text("pdgate.conf", text, 0644);
	free(text);
	if (!getcwd(cwd, sizeof(cwd)) || chdir(dir) < 0) {
		CHECK(0, "chdir: %s", strerror(errno));
		return;
	}
	struct config *c = config_load("pdgate.conf", &errors);
	CHECK(chdir(cwd) == 0, "chdir back");
	CHECK(c != NULL, "relative name refused:\n%s", errors ? errors : "");
	if (c) {
		CHECK(strcmp(c->file, conf) == 0, "file %s", c->file);
		expect_path("partner.crl", c->partner.crl, "pki/partner-ca.crl");
	}
	config_free(c);
	free(errors);
}

static void
test_file_level(void)
{
	char *errors = NULL;
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/nothere.conf", dir);
	CHECK(config_load(path, &errors) == NULL, "missing file loaded");
	CHECK(errors && strstr(errors, "nothere.conf: cannot open: No such file or directory"),
	      "missing file: %s", errors ? errors : "(none)");
	free(errors);

	errors = NULL;
	CHECK(config_load(dir, &errors) == NULL, "folder loaded");
	CHECK(errors && strstr(errors, "not a regular file"), "folder: %s", errors ? errors : "");
	free(errors);

	/* one byte over the limit, all comments: refused for its size alone */
	size_t n = CONFIG_MAX_FILE_BYTES + 1;
	char *big = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		big[i] = (i % 64 == 63) ? '\n' : (i % 64 == 0 ? ';' : 'x');
	big[n] = '\0';
	write_text("pdgate.conf", big, 0644);
	free(big);
	errors = NULL;
	CHECK(config_load(conf, &errors) == NULL, "oversized file loaded");
	CHECK(errors && strstr(errors, "pdgate.conf: larger than 1048576 bytes"), "big: %s",
	      errors ? errors : "");
	free(errors);

	/* an endless stream of errors is cut off, with a last line saying so */
	size_t cap = 200 * 32, len = 0;
	char *many = malloc(cap);
	len += (size_t)snprintf(many, cap, "[gateway]\n");
	for (int i = 0; i < 150; i++)
		len += (size_t)snprintf(many + len, cap - len, "k%d = v\n", i);
	write_text("pdgate.conf", many, 0644);
	free(many);
	errors = NULL;
	CHECK(config_load(conf, &errors) == NULL, "many errors loaded");
	CHECK(errors && strstr(errors, "pdgate.conf:101: unknown key 'k99'"), "k99 missing");
	CHECK(errors && !strstr(errors, "'k100'"), "error 101 reported");
	CHECK(errors && strstr(errors, "too many errors"), "no cut-off line");
	CHECK(count_lines(errors) == 101, "%u lines", count_lines(errors));
	free(errors);
}

static void
test_key_mode(void)
{
	static const struct {
		mode_t mode;
		int ok;
		const char *want;
	} modes[] = {
	    {0600, 1, NULL},        {0400, 1, NULL},         {0700, 1, NULL},
	    {0640, 0, "mode 0640"}, {0604, 0, "mode 0604"},  {0660, 0, "mode 0660"},
	    {0602, 0, "mode 0602"}, {0644, 0, "chmod 600 "}, {0610, 0, "mode 0610"},
	};
	char path[PATH_MAX * 2], err[512];

	snprintf(path, sizeof(path), "%s/keys/mode.key", dir);
	write_text("keys/mode.key", "secret\n", 0600);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		chmod(path, modes[i].mode);
		err[0] = '\0';
		int r = config_check_key_mode(path, err, sizeof(err));
		CHECK((r == 0) == modes[i].ok, "mode %04o: %d %s", (unsigned)modes[i].mode, r, err);
		if (modes[i].want)
			CHECK(strstr(err, modes[i].want) && strstr(err, path), "mode %04o: '%s'",
			      (unsigned)modes[i].mode, err);
	}
	snprintf(path, sizeof(path), "%s/keys/nothere.key", dir);
	CHECK(config_check_key_mode(path, err, sizeof(err)) == -1, "missing key accepted");
	CHECK(strstr(err, "No such file"), "missing key: %s", err);
	snprintf(path, sizeof(path), "%s/keys", dir);
	CHECK(config_check_key_mode(path, err, sizeof(err)) == -1, "folder accepted");
	CHECK(strstr(err, "not a regular file"), "folder: %s", err);
	/* a short buffer still gets a terminated message */
	snprintf(path, sizeof(path), "%s/keys/mode.key", dir);
	chmod(path, 0644);
	char tiny[8];
	CHECK(config_check_key_mode(path, tiny, sizeof(tiny)) == -1, "tiny");
	CHECK(strlen(tiny) == sizeof(tiny) - 1, "tiny not terminated");
}

static void
cleanup(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int
main(void)
{
	char tmpl[] = "/tmp/pdgate-test-config.XXXXXX";
	if (!mkdtemp(tmpl) || !realpath(tmpl, dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(conf, sizeof(conf), "%s/pdgate.conf", dir);
	make_tree();

	test_good_defaults();
	test_good_everything();
	test_status();
	test_witness();
	test_compliance_defaults();
	test_relative_name();
	test_cases();
	test_file_level();
	test_key_mode();

	cleanup();
	return check_done();
}
