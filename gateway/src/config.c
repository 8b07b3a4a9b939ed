/* config — pdgate.conf parsed into one struct before anything starts. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <linux/limits.h> /* not <limits.h>: -Igateway/src finds the limits module first */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ini.h>

#include "config.h"
#include "file.h"
#include "note.h"
#include "text.h"

/*
 * libinih does the tokenizing; our reader callback hands it one line at a time, so it always
 * knows the current line number, and it checks each line's shape first: inih reports only the
 * first syntax error and never calls back for section headers, and we want every error with
 * its line. The reader also strips leading blanks so inih never joins an indented line to the
 * previous value (its "multiline" mode), and refuses a line longer than inih's buffer instead
 * of letting inih split it into two.
 */

#define MAX_ERRORS 100
#define LINE_LAST ((unsigned)-1) /* sorts the "too many errors" line last */
#define VALUE_MAX 4096           /* longer than any line inih accepts; a guard for our own copies */

enum kind {
	K_STR,    /* printable ASCII, no blanks */
	K_TEXT,   /* a free text of 1..max characters (text.h): a name people read */
	K_PATH,   /* resolved against the configuration's folder */
	K_LISTEN, /* host:port */
	K_UINT,   /* unsigned, within [min, max] */
	K_ULONG,
	K_BOOL,
	K_URL,  /* origin url */
	K_WORD, /* one of the key's words; the field is its index (unsigned) */
};

enum {
	F_REQUIRED = 1 << 0,
	F_FILE = 1 << 1,   /* must be an existing readable regular file */
	F_DIR = 1 << 2,    /* must be an existing folder */
	F_KEY = 1 << 3,    /* a secret: mode 0600 or stricter */
	F_PARENT = 1 << 4, /* may not exist yet, but its folder must */
};

struct key {
	const char *section, *name;
	enum kind kind;
	size_t off;
	unsigned flags;
	unsigned long min, max;
};

#define O(f) offsetof(struct config, f)

/* The words of each K_WORD key, NULL-terminated, in the order of their index. */
static const char *const log_formats[] = {"text", "json", NULL}; /* CONFIG_LOG_* */
static const struct {
	size_t off;
	const char *const *words;
} word_keys[] = {{O(gateway.log_format), log_formats}};

static const char *const sections[] = {"gateway", "partner", "compliance", "origin", "policy",
                                       "ledger",  "tokens",  "keys",       "status", "witness"};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

static const struct key keys[] = {
    {"gateway", "name", K_STR, O(gateway.name), 0, 0, 0},
    {"gateway", "log", K_PATH, O(gateway.log), F_PARENT, 0, 0},
    {"gateway", "state", K_PATH, O(gateway.state), F_PARENT, 0, 0},
    {"gateway", "log_format", K_WORD, O(gateway.log_format), 0, 0, 0},
    {"gateway", "threads", K_UINT, O(gateway.threads), 0, 0, 256},

    {"partner", "listen", K_LISTEN, O(partner.listen), F_REQUIRED, 0, 0},
    {"partner", "cert", K_PATH, O(partner.cert), F_REQUIRED | F_FILE, 0, 0},
    {"partner", "key", K_PATH, O(partner.key), F_REQUIRED | F_FILE | F_KEY, 0, 0},
    {"partner", "client_ca", K_PATH, O(partner.client_ca), F_REQUIRED | F_FILE, 0, 0},
    {"partner", "crl", K_PATH, O(partner.crl), F_REQUIRED | F_FILE, 0, 0},
    {"partner", "max_connections", K_UINT, O(partner.max_connections), 0, 1, 100000},
    {"partner", "max_unauthenticated", K_UINT, O(partner.max_unauthenticated), 0, 1, 100000},
    {"partner", "handshake_timeout_s", K_UINT, O(partner.handshake_timeout_s), 0, 1, 60},
    {"partner", "idle_timeout_s", K_UINT, O(partner.idle_timeout_s), 0, 1, 3600},
    {"partner", "max_header_bytes", K_UINT, O(partner.max_header_bytes), 0, 1024, 65536},

    {"compliance", "listen", K_LISTEN, O(compliance.listen), F_REQUIRED, 0, 0},
    {"compliance", "cert", K_PATH, O(compliance.cert), F_REQUIRED | F_FILE, 0, 0},
    {"compliance", "key", K_PATH, O(compliance.key), F_REQUIRED | F_FILE | F_KEY, 0, 0},
    {"compliance", "staff_ca", K_PATH, O(compliance.staff_ca), F_REQUIRED | F_FILE, 0, 0},
    {"compliance", "staff_crl", K_PATH, O(compliance.staff_crl), F_FILE, 0, 0},
    {"compliance", "require_client_cert", K_BOOL, O(compliance.require_client_cert), 0, 0, 0},
    {"compliance", "ui", K_PATH, O(compliance.ui), F_DIR, 0, 0},
    {"compliance", "organisation", K_TEXT, O(compliance.organisation), 0, 0, 128},

    {"origin", "url", K_URL, O(origin.url), F_REQUIRED, 0, 0},
    {"origin", "timeout_ms", K_UINT, O(origin.timeout_ms), 0, 1, 600000},
    {"origin", "max_record_bytes", K_ULONG, O(origin.max_record_bytes), 0, 1024, 64UL << 20},
    {"origin", "client_cert", K_PATH, O(origin.client_cert), F_FILE, 0, 0},
    {"origin", "client_key", K_PATH, O(origin.client_key), F_FILE | F_KEY, 0, 0},
    {"origin", "ca", K_PATH, O(origin.ca), F_FILE, 0, 0},

    {"policy", "purposes", K_PATH, O(policy.purposes), F_REQUIRED | F_FILE, 0, 0},
    {"policy", "fields", K_PATH, O(policy.fields), F_REQUIRED | F_FILE, 0, 0},
    {"policy", "contracts", K_PATH, O(policy.contracts), F_REQUIRED | F_DIR, 0, 0},

    /* path or url, one of them (finish) */
    {"ledger", "path", K_PATH, O(ledger.path), F_PARENT, 0, 0},
    {"ledger", "url", K_STR, O(ledger.url), 0, 0, 0},
    {"ledger", "origin", K_STR, O(ledger.origin), F_REQUIRED, 0, 0},
    {"ledger", "key", K_PATH, O(ledger.key), F_REQUIRED | F_FILE | F_KEY, 0, 0},
    {"ledger", "checkpoint_interval_ms", K_UINT, O(ledger.checkpoint_interval_ms), 0, 10, 3600000},

    {"tokens", "issuer", K_STR, O(tokens.issuer), F_REQUIRED, 0, 0},
    {"tokens", "key", K_PATH, O(tokens.key), F_REQUIRED | F_FILE | F_KEY, 0, 0},
    {"tokens", "pub", K_PATH, O(tokens.pub), F_FILE, 0, 0},

    {"keys", "pseudonym", K_PATH, O(keys.pseudonym), F_REQUIRED | F_FILE | F_KEY, 0, 0},

    /* optional as a section; listen is required in it (finish) */
    {"status", "listen", K_LISTEN, O(status.listen), 0, 0, 0},
    {"status", "allow_remote", K_BOOL, O(status.allow_remote), 0, 0, 0},

    /* optional; every other key of the section is a witness, NAME = VKEY URL (add_witness) */
    {"witness", "quorum", K_UINT, O(witness.quorum), 0, 1, CONFIG_MAX_WITNESSES},
    {"witness", "max_age_s", K_UINT, O(witness.max_age_s), 0, 1, 86400},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct parse {
	const char *name; /* the file as the caller named it, for messages */
	const char *buf;
	size_t len, pos;
	unsigned lineno;
	char *line; /* the current line, normalized, handed to inih */
	size_t linecap;

	int section;                      /* index into sections[], -1 before any, -2 if bad */
	unsigned section_line[NSECTIONS]; /* first line of each section header, 0 if absent */
	unsigned key_line[NKEYS];         /* line that set each key, 0 if unset */

	struct config *c;
	struct error {
		unsigned line; /* 0: the file as a whole */
		unsigned seq;
		char *msg;
	} errs[MAX_ERRORS + 1];
	unsigned nerrors;
	int oom;
};

static void err(struct parse *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records one error; they are sorted by line when reported. */
static void
err(struct parse *p, unsigned line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (p->nerrors > MAX_ERRORS)
		return;
	if (p->nerrors == MAX_ERRORS) {
		line = LINE_LAST;
		snprintf(msg, sizeof(msg), "too many errors, giving up");
	} else {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	struct error *e = &p->errs[p->nerrors];
	e->line = line;
	e->seq = p->nerrors;
	e->msg = strdup(msg);
	if (!e->msg) {
		p->oom = 1;
		return;
	}
	p->nerrors++;
}

static int
error_cmp(const void *a, const void *b)
{
	const struct error *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The errors as one text, by line (those without a line first). Caller frees. */
static char *
errors_text(struct parse *p)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	qsort(p->errs, p->nerrors, sizeof(p->errs[0]), error_cmp);
	for (unsigned i = 0; i < p->nerrors; i++) {
		const struct error *e = &p->errs[i];
		if (e->line && e->line != LINE_LAST)
			fprintf(f, "%s:%u: %s\n", p->name, e->line, e->msg);
		else
			fprintf(f, "%s: %s\n", p->name, e->msg);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static int
section_index(const char *name)
{
	for (size_t i = 0; i < NSECTIONS; i++)
		if (strcmp(sections[i], name) == 0)
			return (int)i;
	return -1;
}

static const struct key *
key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int
is_name_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
}

static int
is_blank(int ch)
{
	return ch == ' ' || ch == '\t';
}

/* Checks the shape of one line (already stripped of leading blanks and the line end) and
 * tracks the current section. Returns 0 if inih may see it, -1 if it was reported. */
static int
check_line(struct parse *p, const char *s)
{
	if (*s == '\0' || *s == ';' || *s == '#')
		return 0;
	for (const char *q = s; *q; q++)
		if ((unsigned char)*q < 0x20 && *q != '\t') {
			err(p, p->lineno, "control character in line");
			return -1;
		}
	if (*s == '[') {
		const char *end = strchr(s, ']');
		const char *q = end ? end + 1 : NULL;
		while (q && is_blank(*q))
			q++;
		if (!end || (*q && *q != ';' && *q != '#')) {
			err(p, p->lineno, "malformed section header: expected [name]");
			p->section = -2;
			return -1;
		}
		char name[64];
		size_t n = (size_t)(end - s - 1);
		if (n == 0 || n >= sizeof(name)) {
			err(p, p->lineno, "malformed section header: expected [name]");
			p->section = -2;
			return -1;
		}
		memcpy(name, s + 1, n);
		name[n] = '\0';
		int i = section_index(name);
		if (i < 0) {
			err(p, p->lineno, "unknown section [%s]", name);
			p->section = -2;
			return -1;
		}
		if (p->section_line[i]) {
			err(p, p->lineno, "section [%s] repeated (first at line %u)", name,
			    p->section_line[i]);
			p->section = -2;
			return -1;
		}
		p->section_line[i] = p->lineno;
		p->section = i;
		return 0;
	}
	const char *q = s;
	while (is_name_char(*q))
		q++;
	const char *after = q;
	while (is_blank(*q))
		q++;
	if (*q != '=' || after == s) {
		err(p, p->lineno,
		    "expected 'name = value' (names are lowercase letters, digits, _)");
		return -1;
	}
	if (p->section == -1) {
		err(p, p->lineno, "'%.*s' is outside any section", (int)(after - s), s);
		return -1;
	}
	return 0;
}

/* inih's fgets-like reader: one line per call, always whole, so p->lineno is the line of any
 * handler call that follows. A rejected line is handed over empty, which inih skips. */
static char *
reader(char *str, int num, void *stream)
{
	struct parse *p = stream;

	assert(num > 3);
	if (p->pos >= p->len)
		return NULL;
	const char *start = p->buf + p->pos;
	const char *nl = memchr(start, '\n', p->len - p->pos);
	size_t n = nl ? (size_t)(nl - start) : p->len - p->pos;
	p->pos += n + (nl ? 1 : 0);
	p->lineno++;

	if (p->lineno == 1 && n >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
		start += 3;
		n -= 3;
	}
	if (n > 0 && start[n - 1] == '\r')
		n--;
	str[0] = '\n';
	str[1] = '\0';
	if (memchr(start, '\0', n)) {
		err(p, p->lineno, "NUL byte in line");
		return str;
	}
	if (n > (size_t)num - 3) {
		err(p, p->lineno, "line longer than %d characters", num - 3);
		return str;
	}
	while (n > 0 && is_blank(*start)) {
		start++;
		n--;
	}
	memcpy(str, start, n);
	str[n] = '\0';
	if (check_line(p, str) < 0) {
		str[0] = '\n';
		str[1] = '\0';
		return str;
	}
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

static int
parse_number(const char *v, unsigned long *out)
{
	if (*v < '0' || *v > '9')
		return -1;
	for (const char *q = v; *q; q++)
		if (*q < '0' || *q > '9')
			return -1;
	errno = 0;
	unsigned long n = strtoul(v, NULL, 10);
	if (errno)
		return -1;
	*out = n;
	return 0;
}

static char *
resolve(const char *dir, const char *v)
{
	char *out;

	if (v[0] == '/')
		return strdup(v);
	if (asprintf(&out, "%s/%s", dir, v) < 0)
		return NULL;
	return out;
}

static int
parse_listen(struct parse *p, const char *v, struct config_listen *l)
{
	char host[64];
	const char *portstr;
	size_t hlen;

	if (v[0] == '[') {
		const char *end = strstr(v, "]:");
		if (!end)
			goto bad;
		hlen = (size_t)(end - v - 1);
		portstr = end + 2;
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, v + 1, hlen);
		host[hlen] = '\0';
		unsigned char a[16];
		if (inet_pton(AF_INET6, host, a) != 1) {
			err(p, p->lineno, "%s.listen: '%s' is not an IPv6 address",
			    sections[p->section], host);
			return -1;
		}
	} else {
		const char *colon = strrchr(v, ':');
		if (!colon)
			goto bad;
		hlen = (size_t)(colon - v);
		portstr = colon + 1;
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		unsigned char a[4];
		if (strchr(host, ':')) {
			err(p, p->lineno, "%s.listen: write an IPv6 address in brackets: [%s]:PORT",
			    sections[p->section], host);
			return -1;
		}
		if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, a) != 1) {
			err(p, p->lineno,
			    "%s.listen: '%s' is not a numeric IP address (or localhost)",
			    sections[p->section], host);
			return -1;
		}
	}
	unsigned long port;
	if (parse_number(portstr, &port) < 0 || port < 1 || port > 65535) {
		err(p, p->lineno, "%s.listen: port '%s' is not a number from 1 to 65535",
		    sections[p->section], portstr);
		return -1;
	}
	free(l->host);
	l->host = strdup(host);
	if (!l->host)
		p->oom = 1;
	l->port = (unsigned)port;
	return 0;
bad:
	err(p, p->lineno, "%s.listen: '%s' is not HOST:PORT (or [IPv6]:PORT)", sections[p->section],
	    v);
	return -1;
}

static int
parse_url(struct parse *p, const char *v, char **out)
{
	if (strncmp(v, "sqlite:", 7) == 0) {
		const char *path = v + 7;
		if (*path == '\0') {
			err(p, p->lineno,
			    "origin.url: sqlite: needs a file, as in sqlite:members.db");
			return -1;
		}
		char *abs = resolve(p->c->dir, path);
		if (!abs || asprintf(out, "sqlite:%s", abs) < 0) {
			free(abs);
			*out = NULL;
			p->oom = 1;
			return -1;
		}
		free(abs);
		return 0;
	}
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
		err(p, p->lineno, "origin.url: '%s' is not sqlite:PATH, http://... or https://...",
		    v);
		return -1;
	}
	for (const char *q = v; *q; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f) {
			err(p, p->lineno, "origin.url: blank or non-ASCII character in '%s'", v);
			return -1;
		}
	CURLU *u = curl_url();
	char *host = NULL;
	int ok = u && curl_url_set(u, CURLUPART_URL, v, 0) == CURLUE_OK &&
	         curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host;
	curl_free(host);
	curl_url_cleanup(u);
	if (!ok) {
		err(p, p->lineno, "origin.url: '%s' is not a valid URL with a host", v);
		return -1;
	}
	*out = strdup(v);
	if (!*out)
		p->oom = 1;
	return 0;
}

static int
valid_str(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > 255)
		return 0;
	for (; *v; v++)
		if ((unsigned char)*v <= 0x20 || (unsigned char)*v >= 0x7f || *v == '+')
			return 0;
	return 1;
}

/* The host of an http(s) URL after its scheme (at most 255 bytes) into host. */
static int
url_host(const char *rest, char host[256])
{
	size_t n;

	if (*rest == '[') {
		const char *end = strchr(rest, ']');
		if (end == NULL || (size_t)(end - rest - 1) >= 256)
			return -1;
		n = (size_t)(end - rest - 1);
		memcpy(host, rest + 1, n);
	} else {
		n = strcspn(rest, ":/?#");
		if (n >= 256)
			return -1;
		memcpy(host, rest, n);
	}
	host[n] = '\0';
	return n > 0 ? 0 : -1;
}

static bool loopback(const char *host);

/* [witness] NAME = VKEY URL: a witness (witness_client.h). */
static void
add_witness(struct parse *p, const char *name, const char *value)
{
	struct config *c = p->c;
	char host[256];
	const char *sp = strchr(value, ' ');
	size_t n = c->witness.n;

	if (strlen(name) > 64) {
		err(p, p->lineno, "witness %s: the name is longer than 64 characters", name);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(c->witness.list[i].name, name) == 0) {
			err(p, p->lineno, "witness %s: named twice", name);
			return;
		}
	if (n == CONFIG_MAX_WITNESSES) {
		err(p, p->lineno, "witness %s: at most %d witnesses", name, CONFIG_MAX_WITNESSES);
		return;
	}
	if (sp == NULL || strchr(sp + 1, ' ') != NULL || strchr(value, '\t') != NULL) {
		err(p, p->lineno, "witness %s: expected 'VKEY URL' (two words)", name);
		return;
	}
	size_t vlen = (size_t)(sp - value);
	const char *url = sp + 1;
	struct note_verifier *v = note_cosigner_verifier_new(value, vlen);
	if (v == NULL) {
		err(p, p->lineno,
		    "witness %s: '%.*s' is not a verifier key of a cosigner "
		    "(name+keyid+base64 of 0x04 and an Ed25519 key)",
		    name, (int)vlen, value);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (strncmp(c->witness.list[i].vkey, value,
		            strcspn(c->witness.list[i].vkey, "+")) == 0 &&
		    value[strcspn(c->witness.list[i].vkey, "+")] == '+') {
			err(p, p->lineno, "witness %s: its key name %s is already witness %s's",
			    name, note_verifier_name(v), c->witness.list[i].name);
			note_verifier_free(v);
			return;
		}
	note_verifier_free(v);
	bool https = strncmp(url, "https://", 8) == 0, http = strncmp(url, "http://", 7) == 0;
	if ((!https && !http) || url_host(url + (https ? 8 : 7), host) < 0) {
		err(p, p->lineno, "witness %s: '%s' is not an http(s) URL", name, url);
		return;
	}
	if (http && !loopback(host)) {
		err(p, p->lineno,
		    "witness %s: %s is plain HTTP off loopback: use https:// (the answers are "
		    "checked, but the submissions would be seen and held up on the way)",
		    name, url);
		return;
	}
	for (const char *q = url; *q; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f) {
			err(p, p->lineno, "witness %s: the URL holds a blank or non-ASCII byte",
			    name);
			return;
		}
	struct config_witness *w = &c->witness.list[n];
	size_t ulen = strlen(url);
	while (ulen > 0 && url[ulen - 1] == '/')
		ulen--;
	w->name = strdup(name);
	w->vkey = strndup(value, vlen);
	w->url = strndup(url, ulen);
	if (!w->name || !w->vkey || !w->url)
		p->oom = 1;
	c->witness.n++;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	struct config *c = p->c;

	if (p->section < 0) /* a bad or unknown section: reported once, at its header */
		return 1;
	const struct key *k = key_find(section, name);
	if (!k && strcmp(section, "witness") == 0) {
		add_witness(p, name, value);
		return 1;
	}
	if (!k) {
		err(p, p->lineno, "unknown key '%s' in [%s]", name, section);
		return 1;
	}
	size_t ki = (size_t)(k - keys);
	if (p->key_line[ki]) {
		err(p, p->lineno, "duplicate key '%s' in [%s] (first set at line %u)", name,
		    section, p->key_line[ki]);
		return 1;
	}
	p->key_line[ki] = p->lineno;
	if (*value == '\0') {
		err(p, p->lineno, "%s.%s: empty value", section, name);
		return 1;
	}
	if (strlen(value) >= VALUE_MAX) {
		err(p, p->lineno, "%s.%s: value too long", section, name);
		return 1;
	}
	void *field = (char *)c + k->off;
	unsigned long n;
	switch (k->kind) {
	case K_STR:
		if (!valid_str(value)) {
			err(p, p->lineno,
			    "%s.%s: '%s' must be 1 to 255 printable characters, no blanks or '+'",
			    section, name, value);
			break;
		}
		*(char **)field = strdup(value);
		if (!*(char **)field)
			p->oom = 1;
		break;
	case K_TEXT: {
		char rule[TEXT_EXPLAIN_MAX];
		enum text_error te = text_check(value, strlen(value), k->max);
		if (te != TEXT_OK) {
			err(p, p->lineno, "%s.%s: %s", section, name,
			    text_explain(te, k->max, rule, sizeof(rule)));
			break;
		}
		free(*(char **)field);
		*(char **)field = strdup(value);
		if (!*(char **)field)
			p->oom = 1;
		break;
	}
	case K_PATH:
		for (const char *q = value; *q; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f) {
				err(p, p->lineno, "%s.%s: control character in path", section,
				    name);
				return 1;
			}
		free(*(char **)field); /* a default set before parsing */
		*(char **)field = resolve(c->dir, value);
		if (!*(char **)field)
			p->oom = 1;
		break;
	case K_LISTEN:
		parse_listen(p, value, field);
		break;
	case K_UINT:
	case K_ULONG:
		if (parse_number(value, &n) < 0) {
			err(p, p->lineno, "%s.%s: '%s' is not a whole number", section, name,
			    value);
			break;
		}
		if (n < k->min || n > k->max) {
			err(p, p->lineno, "%s.%s: %lu is out of range (%lu to %lu)", section, name,
			    n, k->min, k->max);
			break;
		}
		if (k->kind == K_UINT)
			*(unsigned *)field = (unsigned)n;
		else
			*(unsigned long *)field = n;
		break;
	case K_BOOL:
		if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcmp(value, "1"))
			*(bool *)field = true;
		else if (!strcasecmp(value, "false") || !strcasecmp(value, "no") ||
		         !strcmp(value, "0"))
			*(bool *)field = false;
		else
			err(p, p->lineno, "%s.%s: '%s' is not true/false/yes/no/1/0", section, name,
			    value);
		break;
	case K_URL:
		parse_url(p, value, field);
		break;
	case K_WORD: {
		const char *const *words = NULL;
		char list[128];
		size_t len = 0;
		for (size_t i = 0; i < sizeof(word_keys) / sizeof(word_keys[0]); i++)
			if (word_keys[i].off == k->off)
				words = word_keys[i].words;
		assert(words != NULL);
		for (unsigned i = 0; words[i] != NULL; i++) {
			if (strcmp(value, words[i]) == 0) {
				*(unsigned *)field = i;
				return 1;
			}
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
			                        i > 0 ? ", " : "", words[i]);
			assert(len < sizeof(list));
		}
		err(p, p->lineno, "%s.%s: '%s' is not one of %s", section, name, value, list);
		break;
	}
	}
	return 1;
}

int
config_check_key_mode(const char *path, char *msg, unsigned msglen)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(msg, msglen, "key file %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(msg, msglen, "key file %s is not a regular file", path);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(msg, msglen,
		         "key file %s has mode %04o: it must not be readable or writable by group "
		         "or others; chmod 600 %s",
		         path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	if (access(path, R_OK) < 0) {
		snprintf(msg, msglen, "key file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void
check_file(struct parse *p, unsigned line, const char *what, const char *path, unsigned flags)
{
	struct stat st;
	char msg[PATH_MAX + 256];

	if (flags & F_KEY) {
		if (config_check_key_mode(path, msg, sizeof(msg)) < 0)
			err(p, line, "%s: %s", what, msg);
		return;
	}
	if (flags & F_PARENT) {
		char *dir = strdup(path);
		if (!dir) {
			p->oom = 1;
			return;
		}
		char *slash = strrchr(dir, '/');
		assert(slash); /* paths are absolute */
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
			err(p, line, "%s: folder %s does not exist", what, dir);
		else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			err(p, line, "%s: %s is a folder", what, path);
		free(dir);
		return;
	}
	if (stat(path, &st) < 0) {
		err(p, line, "%s: %s: %s", what, path, strerror(errno));
		return;
	}
	if ((flags & F_DIR) && !S_ISDIR(st.st_mode))
		err(p, line, "%s: %s is not a folder", what, path);
	else if ((flags & F_FILE) && !S_ISREG(st.st_mode))
		err(p, line, "%s: %s is not a regular file", what, path);
	else if (access(path, (flags & F_DIR) ? R_OK | X_OK : R_OK) < 0)
		err(p, line, "%s: %s: %s", what, path, strerror(errno));
}

static unsigned
line_of(const struct parse *p, const char *section, const char *name)
{
	const struct key *k = key_find(section, name);
	assert(k);
	return p->key_line[k - keys];
}

/* True for an address of this machine only: localhost, 127.0.0.0/8, ::1. */
static bool
loopback(const char *host)
{
	unsigned char a[16];

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, in6addr_loopback.s6_addr, 16) == 0;
}

/*
 * [status]: optional, but with listen when present; plain HTTP without authentication, so on
 * loopback unless the operator says otherwise; and on an address of its own.
 */
static void
check_status(struct parse *p)
{
	const struct config_listen *s = &p->c->status.listen;
	unsigned sec = p->section_line[section_index("status")],
	         line = line_of(p, "status", "listen");

	if (sec == 0)
		return;
	if (line == 0) {
		err(p, sec, "[status] lacks the required key 'listen'");
		return;
	}
	if (s->host == NULL)
		return; /* a bad value, reported */
	if (!p->c->status.allow_remote && !loopback(s->host))
		err(p, line,
		    "status.listen: %s is not a loopback address: the status listener is plain "
		    "HTTP "
		    "without authentication; set [status] allow_remote = true to serve it beyond "
		    "this machine",
		    s->host);
	const struct config_listen *other[] = {&p->c->partner.listen, &p->c->compliance.listen};
	static const char *const names[] = {"partner.listen", "compliance.listen"};
	for (size_t i = 0; i < 2; i++)
		if (other[i]->host && other[i]->port == s->port &&
		    strcmp(other[i]->host, s->host) == 0)
			err(p, line, "status.listen is the same address as %s", names[i]);
}

const char *
config_ledger_where(const struct config *c)
{
	return c->ledger.url != NULL ? c->ledger.url : c->ledger.path;
}

static size_t
ledger_section(void)
{
	size_t s = 0;

	while (strcmp(sections[s], "ledger") != 0)
		s++;
	return s;
}

/* Defaults that depend on other keys, required keys, files, and checks across keys. */
static void
finish(struct parse *p)
{
	struct config *c = p->c;

	for (size_t s = 0; s < NSECTIONS; s++) {
		char missing[256] = "";
		size_t n = 0;
		for (size_t i = 0; i < NKEYS; i++) {
			if (strcmp(keys[i].section, sections[s]) != 0 ||
			    !(keys[i].flags & F_REQUIRED) || p->key_line[i])
				continue;
			if (p->section_line[s])
				err(p, p->section_line[s], "[%s] lacks the required key '%s'",
				    sections[s], keys[i].name);
			else
				n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%s",
				                      n ? ", " : "", keys[i].name);
			assert(n < sizeof(missing));
		}
		if (n)
			err(p, 0, "missing section [%s] with the keys %s", sections[s], missing);
	}
	/* the ledger is a file or a PostgreSQL database: one of them, said once */
	if (p->section_line[ledger_section()]) {
		unsigned path = line_of(p, "ledger", "path"), url = line_of(p, "ledger", "url");
		if (path && url)
			err(p, url,
			    "[ledger] has both path and url: a ledger is a file or a database");
		else if (!path && !url)
			err(p, p->section_line[ledger_section()],
			    "[ledger] lacks the required key 'path' (or 'url' for PostgreSQL)");
		else if (url && strncmp(c->ledger.url, "postgresql://", 13) != 0 &&
		         strncmp(c->ledger.url, "postgres://", 11) != 0)
			err(p, url, "[ledger] url: not a postgresql:// URL");
	}
	if (!c->gateway.name && !(c->gateway.name = strdup("pdgate")))
		p->oom = 1;
	if (!c->gateway.state && !(c->gateway.state = resolve(c->dir, "state.db")))
		p->oom = 1;
	/* Defaults that exist only when their file does: an installation made by an older
	 * pdgate init has neither a staff CRL nor a console, and still starts. */
	if (!c->compliance.staff_crl && c->compliance.staff_ca) {
		size_t n = strlen(c->compliance.staff_ca);
		struct stat st;
		char *crl = NULL;
		if (n > 4 && strcmp(c->compliance.staff_ca + n - 4, ".pem") == 0 &&
		    asprintf(&crl, "%.*s.crl", (int)(n - 4), c->compliance.staff_ca) < 0)
			p->oom = 1;
		else if (crl && stat(crl, &st) == 0 && S_ISREG(st.st_mode))
			c->compliance.staff_crl = crl;
		else
			free(crl);
	}
	if (!c->compliance.ui) {
		struct stat st;
		char *ui = resolve(c->dir, "ui");
		if (!ui)
			p->oom = 1;
		else if (stat(ui, &st) == 0 && S_ISDIR(st.st_mode))
			c->compliance.ui = ui;
		else
			free(ui);
	}
	unsigned pub_line = line_of(p, "tokens", "pub");
	if (!c->tokens.pub && c->tokens.key) {
		size_t n = strlen(c->tokens.key);
		if (n > 4 && strcmp(c->tokens.key + n - 4, ".key") == 0) {
			if (asprintf(&c->tokens.pub, "%.*s.pub", (int)(n - 4), c->tokens.key) < 0)
				c->tokens.pub = NULL;
		} else if (asprintf(&c->tokens.pub, "%s.pub", c->tokens.key) < 0) {
			c->tokens.pub = NULL;
		}
		if (!c->tokens.pub)
			p->oom = 1;
		pub_line = line_of(p, "tokens", "key");
	}

	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		char what[64];
		if (!(k->flags & (F_FILE | F_DIR | F_PARENT)))
			continue;
		const char *path = *(char **)((char *)c + k->off);
		if (!path)
			continue;
		snprintf(what, sizeof(what), "%s.%s", k->section, k->name);
		unsigned line = p->key_line[i];
		if (k == key_find("tokens", "pub"))
			line = pub_line;
		check_file(p, line, what, path, k->flags);
	}

	unsigned url_line = line_of(p, "origin", "url");
	if (c->origin.url && strncmp(c->origin.url, "sqlite:", 7) == 0)
		check_file(p, url_line, "origin.url", c->origin.url + 7, F_FILE);
	int https = c->origin.url && strncmp(c->origin.url, "https://", 8) == 0;
	if (c->origin.url && !https) {
		static const char *const tls[] = {"client_cert", "client_key", "ca"};
		for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++)
			if (line_of(p, "origin", tls[i]))
				err(p, line_of(p, "origin", tls[i]),
				    "origin.%s applies only to an https:// origin", tls[i]);
	}
	if (!c->origin.client_cert != !c->origin.client_key)
		err(p, p->section_line[section_index("origin")],
		    "origin.client_cert and origin.client_key go together");

	const struct config_listen *a = &c->partner.listen, *b = &c->compliance.listen;
	if (a->host && b->host && a->port == b->port && strcmp(a->host, b->host) == 0)
		err(p, line_of(p, "compliance", "listen"),
		    "compliance.listen is the same address as partner.listen");
	check_status(p);
	unsigned wsec = p->section_line[section_index("witness")];
	if (wsec != 0 && c->witness.n == 0)
		err(p, wsec, "[witness] lists no witness (NAME = VKEY URL)");
	else if (c->witness.quorum > c->witness.n && c->witness.n > 0)
		err(p, line_of(p, "witness", "quorum"),
		    "witness.quorum: %u is more than the %zu witnesses listed", c->witness.quorum,
		    c->witness.n);
	if (c->witness.quorum == 0)
		c->witness.quorum = (unsigned)c->witness.n;
	if (c->witness.max_age_s == 0)
		c->witness.max_age_s = 60;
}

/* The file's absolute name and folder, without resolving a symlink to the file itself. */
static int
locate(struct parse *p, const char *path)
{
	struct config *c = p->c;
	char *copy = strdup(path);
	if (!copy)
		return -1;
	char *slash = strrchr(copy, '/');
	const char *base = slash ? slash + 1 : copy;
	const char *dir = slash ? (slash == copy ? "/" : copy) : ".";
	if (slash)
		*slash = '\0';
	c->dir = realpath(dir, NULL);
	if (!c->dir) {
		err(p, 0, "cannot resolve its folder: %s", strerror(errno));
		free(copy);
		return -1;
	}
	int r = asprintf(&c->file, "%s%s%s", c->dir, strcmp(c->dir, "/") ? "/" : "", base);
	free(copy);
	if (r < 0) {
		c->file = NULL;
		return -1;
	}
	return 0;
}

struct config *
config_load(const char *path, char **errors)
{
	struct parse p;
	char *buf = NULL, ferr[PATH_MAX + 256];

	memset(&p, 0, sizeof(p));
	p.name = path;
	p.section = -1;
	*errors = NULL;
	p.c = calloc(1, sizeof(*p.c));
	if (!p.c)
		goto oom;
	p.c->partner.max_connections = 1024;
	p.c->partner.idle_timeout_s = 30;
	p.c->partner.handshake_timeout_s = 5;
	p.c->partner.max_header_bytes = 8192;
	p.c->origin.timeout_ms = 2000;
	p.c->origin.max_record_bytes = 1048576;
	p.c->ledger.checkpoint_interval_ms = 1000;

	/* the whole file (bounded), so that the reader hands inih lines from memory */
	buf = file_read(path, CONFIG_MAX_FILE_BYTES, 0, &p.len, ferr, sizeof(ferr));
	if (!buf) {
		err(&p, 0, "%s", file_reason(path, ferr));
		goto done;
	}
	if (locate(&p, path) < 0)
		goto done;
	p.buf = buf;
	int r = ini_parse_stream(reader, &p, handler, &p);
	if (r == -2)
		p.oom = 1;
	if (!p.oom)
		finish(&p);
done:
	free(buf);
	if (!p.oom && p.nerrors == 0)
		return p.c;
	config_free(p.c);
	if (!p.oom)
		*errors = errors_text(&p);
	for (unsigned i = 0; i < p.nerrors; i++)
		free(p.errs[i].msg);
	if (!p.oom && *errors)
		return NULL;
oom:
	free(*errors);
	if (asprintf(errors, "%s: out of memory\n", path) < 0)
		*errors = NULL;
	return NULL;
}

void
config_free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		void *field = (char *)c + keys[i].off;
		switch (keys[i].kind) {
		case K_STR:
		case K_TEXT:
		case K_PATH:
		case K_URL:
			free(*(char **)field);
			break;
		case K_LISTEN:
			free(((struct config_listen *)field)->host);
			break;
		case K_UINT:
		case K_ULONG:
		case K_BOOL:
		case K_WORD:
			break;
		}
	}
	for (size_t i = 0; i < c->witness.n; i++) {
		free(c->witness.list[i].name);
		free(c->witness.list[i].vkey);
		free(c->witness.list[i].url);
	}
	free(c->file);
	free(c->dir);
	free(c);
}
