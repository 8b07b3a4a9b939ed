/* config — pdgate.conf parsed into one struct before anything starts. */
#ifndef PDGATE_CONFIG_H
#define PDGATE_CONFIG_H

#include <stdbool.h>

/* [gateway] log_format: the index of its word, "text" or "json". */
enum {
	CONFIG_LOG_TEXT,
	CONFIG_LOG_JSON,
};

/* One [witness] entry NAME = VKEY URL. */
struct config_witness {
	char *name; /* the local label: lowercase letters, digits, _ */
	char *vkey; /* a C2SP verifier key of type 0x04 (note_cosigner_verifier_new accepts it) */
	char *url;  /* the submission prefix, no trailing '/': https://, or http:// on loopback */
};
/* At most this many witnesses. */
#define CONFIG_MAX_WITNESSES 16

/* A listener address: "127.0.0.1:8443". */
struct config_listen {
	char *host; /* numeric IPv4/IPv6 address or "localhost" */
	unsigned port;
};

/*
 * Every path is absolute once loaded (relative ones are resolved against the folder of the
 * configuration file). Optional paths are NULL when not set. Strings are owned by the struct.
 */
struct config {
	char *file; /* the configuration file itself, absolute */
	char *dir;  /* its folder */

	struct {
		char *name;  /* [gateway] name */
		char *log;   /* [gateway] log: file for request logs, NULL = stderr */
		char *state; /* [gateway] state: suspensions, revoked tokens (default state.db) */
		unsigned log_format; /* [gateway] log_format: CONFIG_LOG_TEXT (default) or
		                        CONFIG_LOG_JSON */
		unsigned
		    threads; /* [gateway] threads: worker threads per listener (0 = one per core) */
	} gateway;

	struct {
		struct config_listen listen;
		char *cert, *key;         /* server certificate and key (key mode 0600) */
		char *client_ca;          /* the partner CA: the only trust anchor for partners */
		char *crl;                /* its CRL, PEM, required */
		unsigned max_connections; /* default 1024: connections that have authenticated */
		unsigned max_unauthenticated; /* default max_connections: those not yet */
		unsigned handshake_timeout_s; /* default 5: for the handshake and first request */
		unsigned idle_timeout_s; /* default 30: an idle or dribbling connection is closed */
		unsigned max_header_bytes; /* default 8192: request line and headers */
	} partner;

	struct {
		struct config_listen listen;
		char *cert, *key;
		char *staff_ca;
		char *staff_crl; /* optional; default: staff_ca with .pem replaced by .crl if that
		                    file exists, else NULL (no revocation check for staff) */
		bool require_client_cert;
		char *ui;           /* the console's files; default: the folder "ui" beside the
		                       configuration if it exists, else NULL (no console) */
		char *organisation; /* the association's name on documents to members (a free
		                       text); NULL: [gateway] name */
	} compliance;

	struct {
		char *url; /* "sqlite:/abs/path" after loading, or http(s)://… as written */
		unsigned timeout_ms;
		unsigned long max_record_bytes;
		char *client_cert, *client_key, *ca; /* optional, for an https origin */
	} origin;

	struct {
		char *purposes, *fields, *contracts;
	} policy;

	struct {
		char *path; /* ledger.db; need not exist yet, its folder must. NULL with url */
		char *url; /* a PostgreSQL ledger (postgresql://...) in place of path; NULL: path */
		char *origin; /* checkpoint origin line and note key name */
		char *key;    /* Ed25519 private key, PEM */
		unsigned checkpoint_interval_ms;
	} ledger;

	struct {
		char *issuer;
		char *key; /* EC P-256 private key, PEM */
		char *pub; /* public key, default: key with .key replaced by .pub */
	} tokens;

	struct {
		char *pseudonym;
	} keys;

	/* [status]: listen.host NULL without the section (no status listener); allow_remote
	 * false refuses a listen address off loopback */
	struct {
		struct config_listen listen;
		bool allow_remote;
	} status;

	/* [witness]: optional; n == 0 without witnesses. */
	struct {
		struct config_witness list[CONFIG_MAX_WITNESSES];
		size_t n;
		unsigned quorum;    /* 1..n; default n (every witness) */
		unsigned max_age_s; /* /readyz fails when the latest checkpoint has waited longer
		                       for its quorum; default 60 */
	} witness;
};

/* A configuration file larger than this is refused; a line is limited to what libinih's
 * buffer holds (197 characters). */
#define CONFIG_MAX_FILE_BYTES (1 << 20)

/*
 * Loads and checks the file. On success returns the config (caller frees with config_free) and
 * sets *errors to NULL. On any error returns NULL and sets *errors to every problem found, one
 * per line, each "FILE:LINE: message\n" or, for a problem with no line of its own (the file is
 * missing, a whole section is missing), "FILE: message\n" (caller frees). Checks: syntax,
 * unknown or repeated sections and keys, values, required keys, files that must exist, key
 * files readable or writable by group or others. Errors come sorted by line; reading stops
 * after 100 errors.
 * Defaults: gateway.name "pdgate", gateway.state "state.db", gateway.log_format text,
 * gateway.threads 0, partner
 * max_connections 1024 / max_unauthenticated = max_connections / handshake_timeout_s 5 /
 * idle_timeout_s 30 / max_header_bytes 8192, origin timeout_ms 2000 /
 * max_record_bytes 1048576, ledger checkpoint_interval_ms 1000, compliance
 * require_client_cert false, tokens.pub = tokens.key with ".key" replaced by ".pub",
 * compliance.staff_crl and compliance.ui as described in struct config. [status] is optional;
 * when present it needs listen, on a loopback address unless allow_remote is true.
 */
struct config *config_load(const char *path, char **errors);

/* Frees everything config_load allocated; config_free(NULL) does nothing. */
void config_free(struct config *c);

/* Where the ledger is: [ledger] url if set, else path (borrowed from c). */
const char *config_ledger_where(const struct config *c);

/* Checks that a key file is an existing readable regular file with no permission bits for
 * group or others (0600 or stricter). Returns 0, or -1 with a message naming the file and its
 * mode, suggesting chmod 600, in msg (always NUL-terminated). For key loaders to re-check. */
int config_check_key_mode(const char *path, char *msg, unsigned msglen);

#endif
