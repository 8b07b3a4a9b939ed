/* test_init_conf — pdgate.conf of a demo and of production: its lines, sections, values. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "init_conf.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The lines of text, at most max of them, cut in place at each '\n'. */
static size_t
split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;
	for (char *p = text, *nl; *p != '\0' && n < max; p = nl + 1) {
		nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		lines[n++] = p;
	}
	return n;
}

/* Whether the file holds line in [section] ("" for before the first section). */
static bool
has(char **lines, size_t n, const char *section, const char *line)
{
	const char *in = NULL; /* the last section line */
	size_t k = strlen(section);

	for (size_t i = 0; i < n; i++) {
		if (lines[i][0] == '[')
			in = lines[i];
		else if (strcmp(lines[i], line) == 0 &&
		         (in == NULL
		              ? k == 0
		              : strncmp(in + 1, section, k) == 0 && strcmp(in + 1 + k, "]") == 0))
			return true;
	}
	return false;
}

static const struct init_conf_vars demo = {"demo", "2026-04-01T00:00:00Z", "", "sqlite:members.db",
                                           "pdgate.local/demo"};
static const struct init_conf_vars prod = {"gw-1", "2026-04-01T00:00:00Z", "/var/lib/pdgate/",
                                           "https://members.example/{name}", "gw.example.org/gw-1"};

/* Every line a section, a comment or "key = value", the sections in their order once each,
 * nothing left of a {name}; the same settings in both, in the same order. */
static void
test_shape(void)
{
	static const char *const sections[] = {"[gateway]", "[partner]", "[compliance]",
	                                       "[origin]",  "[policy]",  "[ledger]",
	                                       "[tokens]",  "[keys]",    "[status]"};
	char *text[2] = {init_conf_text(false, &demo), init_conf_text(true, &prod)};
	char *lines[2][80], *keys[2][80];
	size_t n[2], nkeys[2] = {0, 0};

	CHECK(text[0] != NULL && text[1] != NULL, "both written");
	if (text[0] == NULL || text[1] == NULL)
		goto done;
	CHECK(strchr(text[0], '{') == NULL && strchr(text[0], '}') == NULL, "demo: all replaced");
	for (int k = 0; k < 2; k++) {
		size_t len = strlen(text[k]), s = 0;
		CHECK(len > 0 && text[k][len - 1] == '\n', "%d: ends with a line", k);
		n[k] = split_lines(text[k], lines[k], NELEM(lines[k]));
		for (size_t i = 0; i < n[k]; i++) {
			const char *l = lines[k][i], *eq = strstr(l, " = ");
			if (l[0] == '[') {
				CHECK(s < NELEM(sections) && strcmp(l, sections[s]) == 0,
				      "%d: section %s in its place", k, l);
				s++;
			} else if (l[0] == ';') {
				CHECK(l[1] == ' ' && l[2] != '\0', "%d: comment '%s'", k, l);
			} else {
				CHECK(eq != NULL && eq > l && eq[3] != '\0' && s > 0,
				      "%d: setting '%s' inside a section", k, l);
				if (nkeys[k] < NELEM(keys[k]))
					keys[k][nkeys[k]++] = lines[k][i];
				if (eq != NULL)
					lines[k][i][eq - l] =
					    '\0'; /* the key alone, for the comparison */
			}
		}
		CHECK(s == NELEM(sections), "%d: %zu sections", k, s);
	}
	CHECK(n[0] == 42 && n[1] == 50, "42 lines in a demo (%zu), 50 in production (%zu)", n[0],
	      n[1]);
	CHECK(nkeys[0] == nkeys[1], "the same settings: %zu and %zu", nkeys[0], nkeys[1]);
	for (size_t i = 0; i < nkeys[0] && i < nkeys[1]; i++)
		CHECK(strcmp(keys[0][i], keys[1][i]) == 0, "setting %zu: %s and %s", i, keys[0][i],
		      keys[1][i]);
done:
	free(text[0]);
	free(text[1]);
}

/* What differs between the two, and the values of the installation where they belong. */
static void
test_values(void)
{
	static const struct {
		bool production;
		const char *section, *line;
		bool both; /* the same line in the other */
	} rows[] = {
	    {false, "",
	     "; pdgate.conf of the 'demo' installation, written by pdgate init on "
	     "2026-04-01T00:00:00Z.",
	     false},
	    {false, "gateway", "name = demo", false},
	    {false, "gateway", "state = state.db", false},
	    {false, "partner", "listen = 127.0.0.1:8443", false},
	    {false, "compliance", "listen = 127.0.0.1:9443", true},
	    {false, "compliance", "require_client_cert = false", false},
	    {false, "origin", "url = sqlite:members.db", false},
	    {false, "origin", "; client_cert, client_key, ca: for an https origin", false},
	    {false, "ledger", "path = ledger.db", false},
	    {false, "ledger", "origin = pdgate.local/demo", false},
	    {false, "tokens", "issuer = pdgate.local/demo", false},
	    {false, "status", "listen = 127.0.0.1:9444", true},
	    {true, "",
	     "; pdgate.conf of the production installation 'gw-1', written by pdgate "
	     "init on 2026-04-01T00:00:00Z.",
	     false},
	    {true, "gateway", "name = gw-1", false},
	    {true, "gateway", "state = /var/lib/pdgate/state.db", false},
	    {true, "gateway", "; log = /var/log/pdgate/pdgate.log", false},
	    {true, "partner", "listen = 0.0.0.0:8443", false},
	    {true, "compliance", "listen = 127.0.0.1:9443", true},
	    {true, "compliance", "require_client_cert = true", false},
	    {true, "origin", "url = https://members.example/{name}", false}, /* written as it is */
	    {true, "ledger", "path = /var/lib/pdgate/ledger.db", false},
	    {true, "ledger", "origin = gw.example.org/gw-1", false},
	    {true, "tokens", "issuer = gw.example.org/gw-1", false},
	    {true, "keys", "pseudonym = keys/pseudonym.key", true},
	    {true, "status", "listen = 127.0.0.1:9444", true},
	};
	char *text[2] = {init_conf_text(false, &demo), init_conf_text(true, &prod)};
	char *lines[2][80];
	size_t n[2] = {0, 0};

	for (int k = 0; k < 2; k++)
		if (text[k] != NULL)
			n[k] = split_lines(text[k], lines[k], NELEM(lines[k]));
	for (size_t i = 0; i < NELEM(rows); i++) {
		int k = rows[i].production;
		CHECK(has(lines[k], n[k], rows[i].section, rows[i].line), "%s: [%s] %s",
		      k ? "production" : "demo", rows[i].section, rows[i].line);
		CHECK(has(lines[!k], n[!k], rows[i].section, rows[i].line) == rows[i].both,
		      "%s in the other: [%s] %s", rows[i].both ? "also" : "not", rows[i].section,
		      rows[i].line);
	}
	free(text[0]);
	free(text[1]);
}

int
main(void)
{
	test_shape();
	test_values();
	return check_done();
}
