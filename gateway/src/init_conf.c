/* init_conf — pdgate.conf as pdgate init writes it: one list of settings, a demo's and
 * production's. */
#include <string.h>

#include "buf.h"
#include "init_conf.h"

/*
 * The file, in order: each setting (or a comment alone) with its section, and its value and the
 * comment before it in a demo [0] and in production [1], NULL in [1] for the demo's. A
 * comment's lines are split at '\n', each written after "; ". Values and comments may name
 * {name}, {stamp}, {state}, {origin} and {ledger_origin}: struct init_conf_vars.
 */
struct conf_setting {
	const char *section;    /* "[section]" is written before its first setting */
	const char *key;        /* written "key = value"; NULL: the comment alone */
	const char *value[2];   /* a demo's, production's */
	const char *comment[2]; /* written before it; NULL in both: none */
};

static const struct conf_setting conf_settings[] = {
    {NULL,
     NULL,
     {NULL},
     {"pdgate.conf of the '{name}' installation, written by pdgate init on {stamp}.\n"
      "Paths are relative to the folder of this file.",
      "pdgate.conf of the production installation '{name}', written by pdgate init on "
      "{stamp}.\n"
      "Paths are relative to the folder of this file. docs/operations.md describes every key."}},
    {"gateway", "name", {"{name}"}, {NULL}},
    {"gateway", "state", {"{state}state.db"}, {NULL}},
    {"gateway",
     NULL,
     {NULL},
     {NULL, "Without log, the log goes to stderr (under systemd: the journal). A log file\n"
            "is rotated by /etc/logrotate.d/pdgate, which sends SIGUSR1 to reopen it:\n"
            "log = /var/log/pdgate/pdgate.log"}},
    {"partner",
     "listen",
     {"127.0.0.1:8443", "0.0.0.0:8443"},
     {NULL, "every address: partners connect from their own networks ([::]:8443 for IPv6)"}},
    {"partner", "cert", {"pki/server.pem"}, {NULL}},
    {"partner", "key", {"pki/server.key"}, {NULL}},
    {"partner", "client_ca", {"pki/partner-ca.pem"}, {NULL}},
    {"partner", "crl", {"pki/partner-ca.crl"}, {NULL}},
    {"partner", "max_connections", {"1024"}, {NULL}},
    {"compliance",
     "listen",
     {"127.0.0.1:9443"},
     {NULL, "this machine only: staff reach it through an SSH tunnel or a reverse proxy,\n"
            "or give the address of the association's internal network"}},
    {"compliance", "cert", {"pki/server.pem"}, {NULL}},
    {"compliance", "key", {"pki/server.key"}, {NULL}},
    {"compliance", "staff_ca", {"pki/staff-ca.pem"}, {NULL}},
    {"compliance", "staff_crl", {"pki/staff-ca.crl"}, {NULL}},
    {"compliance",
     "require_client_cert",
     {"false", "true"},
     {NULL, "staff present a certificate of the staff CA as well as a token"}},
    {"compliance", "ui", {"ui"}, {NULL}},
    {"origin", "url", {"{origin}"}, {NULL}},
    {"origin", "timeout_ms", {"2000"}, {NULL}},
    {"origin", "max_record_bytes", {"1048576"}, {NULL}},
    {"origin",
     NULL,
     {NULL},
     {"client_cert, client_key, ca: for an https origin",
      "for an https:// origin: ca, the only CA trusted for the member system;\n"
      "client_cert and client_key (mode 0600), pdgate's certificate for it"}},
    {"policy", "purposes", {"policies/purposes.json"}, {NULL}},
    {"policy", "fields", {"policies/fields.json"}, {NULL}},
    {"policy", "contracts", {"contracts"}, {NULL}},
    {"ledger", "path", {"{state}ledger.db"}, {NULL}},
    {"ledger", "origin", {"{ledger_origin}"}, {NULL}},
    {"ledger", "key", {"keys/ledger.key"}, {NULL}},
    {"ledger", "checkpoint_interval_ms", {"1000"}, {NULL}},
    {"tokens", "issuer", {"{ledger_origin}"}, {NULL}},
    {"tokens", "key", {"keys/token.key"}, {NULL}},
    {"keys", "pseudonym", {"keys/pseudonym.key"}, {NULL}},
    {"keys",
     NULL,
     {NULL},
     {"/healthz, /readyz, /metrics in plain HTTP for this machine's monitoring"}},
    {"status", "listen", {"127.0.0.1:9444"}, {NULL}},
};

/* Appends text[0..len), each {name} replaced by its value in v. */
static void
conf_expand(struct buf *b, const char *text, size_t len, const struct init_conf_vars *v)
{
	static const char *const names[] = {"{name}", "{stamp}", "{state}", "{origin}",
	                                    "{ledger_origin}"};
	const char *const values[] = {v->name, v->stamp, v->state, v->origin, v->ledger_origin};
	size_t i, n = sizeof(names) / sizeof(names[0]);

	for (size_t at = 0; at < len;) {
		for (i = 0; i < n && strncmp(text + at, names[i], strlen(names[i])) != 0; i++)
			;
		if (i < n) {
			buf_str(b, values[i]);
			at += strlen(names[i]);
		} else {
			buf_add(b, text + at++, 1);
		}
	}
}

char *
init_conf_text(bool production, const struct init_conf_vars *v)
{
	struct buf b = {0};
	const char *section = NULL; /* the last one written */
	int k = production;

	for (size_t i = 0; i < sizeof(conf_settings) / sizeof(conf_settings[0]); i++) {
		const struct conf_setting *s = &conf_settings[i];
		const char *value = s->value[k] ? s->value[k] : s->value[0];
		const char *c = s->comment[k] ? s->comment[k] : s->comment[0];
		if (s->section != NULL && (section == NULL || strcmp(s->section, section) != 0)) {
			buf_printf(&b, "[%s]\n", s->section);
			section = s->section;
		}
		for (size_t n; c != NULL && *c != '\0'; c += n + (c[n] == '\n')) {
			n = strcspn(c, "\n");
			buf_str(&b, "; ");
			conf_expand(&b, c, n, v);
			buf_str(&b, "\n");
		}
		if (s->key != NULL) {
			buf_printf(&b, "%s = ", s->key);
			conf_expand(&b, value, strlen(value), v);
			buf_str(&b, "\n");
		}
	}
	if (b.bad) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b, NULL);
}
