/* token_cmd — `pdgate token issue|revoke`: work orders and staff tokens signed, tokens revoked. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "apierr.h"
#include "catalog.h"
#include "cli.h"
#include "config.h"
#include "contract.h"
#include "contract_file.h"
#include "ident.h"
#include "ledger_pg.h"
#include "ledger_store.h"
#include "pki.h"
#include "tlsauth.h"
#include "token.h"
#include "token_cmd.h"
#include "tokenstore.h"

static void
token_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: pdgate token issue -c FILE --contract ID --purpose P [--ttl 24h]\n"
	    "                          [--cert PARTNER.pem] [--max-records N]\n"
	    "       pdgate token issue -c FILE --staff NAME --role auditor|officer [--ttl 8h]\n"
	    "       pdgate token revoke -c FILE JTI\n"
	    "\n"
	    "issue   signs a work order (aud pdgate-partner) for a contract and purpose, or a\n"
	    "        staff token (aud pdgate-compliance), with [tokens] key, and prints it.\n"
	    "        --ttl N[s|m|h|d], at most 31d (default 24h for work orders, 8h for staff).\n"
	    "        --cert binds the work order to a partner certificate (cnf.x5t#S256,\n"
	    "        RFC 8705); a contract with token_binding \"required\" (the default) needs "
	    "it.\n"
	    "revoke  refuses the token with this jti from the next request on.\n"
	    "See docs/tokens.md.\n");
}

/* The configuration of -c FILE, or NULL after saying why on stderr. */
static struct config *
load_config(const char *conf)
{
	char *errors = NULL;
	struct config *cfg = config_load(conf, &errors);

	if (!cfg)
		fprintf(stderr, "%s",
		        errors ? errors : "pdgate token: cannot load configuration\n");
	free(errors);
	return cfg;
}

/* "72h" → seconds; -1 if malformed, zero, or over 31 days. */
static int64_t
parse_ttl(const char *s)
{
	char *end;
	long long n;
	int64_t unit;

	if (!s || !(*s >= '0' && *s <= '9'))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || n <= 0 || n > TOKEN_MAX_LIFETIME)
		return -1;
	if (strcmp(end, "s") == 0 || *end == '\0')
		unit = 1;
	else if (strcmp(end, "m") == 0)
		unit = 60;
	else if (strcmp(end, "h") == 0)
		unit = 3600;
	else if (strcmp(end, "d") == 0)
		unit = 86400;
	else
		return -1;
	if (n > TOKEN_MAX_LIFETIME / unit)
		return -1;
	return (int64_t)n * unit;
}

/* The contract facts issuing needs. */
struct issue_contract {
	char partner[IDENT_NAME_MAX + 1];
	bool binding_optional;
};

/*
 * Loads the contract <contracts>/<id>.json with the contract module, checked against the
 * catalogs exactly as `pdgate serve` will check it, and looks the purpose up in it. Problems go
 * to stderr. 0 or -1.
 */
static int
read_contract(const struct config *cfg, const char *id, const char *purpose,
              struct issue_contract *out)
{
	struct catalog *cat = NULL;
	struct contract *c = NULL;
	char *path = NULL, *errors = NULL;
	int rc = -1;

	if (!token_contract_id_ok(id)) {
		fprintf(stderr, "pdgate token issue: --contract: not a contract id\n");
		return -1;
	}
	if (!ident_purpose_ok(purpose, strlen(purpose))) {
		fprintf(stderr, "pdgate token issue: --purpose: not a purpose id\n");
		return -1;
	}
	cat = catalog_load(cfg->policy.purposes, cfg->policy.fields, &errors);
	if (!cat)
		goto done;
	if (asprintf(&path, "%s/%s.json", cfg->policy.contracts, id) < 0) {
		path = NULL;
		fprintf(stderr, "pdgate token issue: out of memory\n");
		goto done;
	}
	c = contract_load(cat, path, &errors);
	if (!c)
		goto done;
	if (strcmp(c->id, id) != 0) {
		fprintf(stderr, "pdgate token issue: %s: its id is not %s\n", path, id);
		goto done;
	}
	if (c->status == CONTRACT_TERMINATED) {
		fprintf(stderr, "pdgate token issue: contract %s is terminated\n", id);
		goto done;
	}
	if (!contract_purpose(c, purpose)) {
		fprintf(stderr, "pdgate token issue: contract %s does not list purpose %s\n", id,
		        purpose);
		goto done;
	}
	snprintf(out->partner, sizeof out->partner, "%s", c->partner);
	out->binding_optional = !c->token_binding_required;
	rc = 0;
done:
	if (errors) {
		size_t n = strlen(errors);
		fprintf(stderr, "%s%s", errors, n && errors[n - 1] == '\n' ? "" : "\n");
	}
	free(errors);
	free(path);
	contract_free(c);
	catalog_free(cat);
	return rc;
}

/*
 * The thumbprint of a partner certificate, after checking that the partner CA issued it, that
 * it is valid and not revoked now, and that it names the contract's partner: a work order bound
 * to any other certificate could never be used.
 */
static int
cert_thumbprint(const struct config *cfg, const char *cert_path, const char *partner,
                unsigned char thumb[TOKEN_THUMB_LEN], char *err, size_t errlen)
{
	struct tlsauth *ta = NULL;
	X509 *x = NULL;
	unsigned char *der = NULL;
	int derlen, rc = -1;
	struct tlsauth_identity id;
	struct tlsauth_der chain;
	char msg[256];

	x = pki_cert_read(cert_path, msg, sizeof msg);
	if (!x) {
		snprintf(err, errlen, "--cert: %s", msg);
		goto done;
	}
	derlen = i2d_X509(x, &der);
	if (derlen <= 0) {
		snprintf(err, errlen, "--cert: cannot encode the certificate");
		goto done;
	}
	ta = tlsauth_new(cfg->partner.client_ca, cfg->partner.crl, TLSAUTH_PARTNER_PREFIX,
	                 "partner", msg, sizeof msg);
	if (!ta) {
		snprintf(err, errlen, "partner CA: %s", msg);
		goto done;
	}
	chain.data = der;
	chain.len = (size_t)derlen;
	if (tlsauth_verify(ta, &chain, 1, &id, msg, sizeof msg) != APIERR_NONE) {
		snprintf(err, errlen, "--cert %s: %s", cert_path, msg);
		goto done;
	}
	if (strcmp(id.id, partner) != 0) {
		snprintf(err, errlen, "--cert %s: names partner %s, the contract is %s's",
		         cert_path, id.id, partner);
		goto done;
	}
	memcpy(thumb, id.x5t, TOKEN_THUMB_LEN);
	rc = 0;
done:
	tlsauth_free(ta);
	OPENSSL_free(der);
	X509_free(x);
	return rc;
}

static int
token_issue_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"contract", required_argument, NULL, 'C'},
	    {"purpose", required_argument, NULL, 'p'},
	    {"ttl", required_argument, NULL, 't'},
	    {"cert", required_argument, NULL, 'x'},
	    {"max-records", required_argument, NULL, 'm'},
	    {"staff", required_argument, NULL, 's'},
	    {"role", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *contract = NULL, *purpose = NULL, *ttl_s = NULL;
	const char *cert = NULL, *maxrec_s = NULL, *staff = NULL, *role_s = NULL;
	struct config *cfg = NULL;
	char *tok = NULL;
	char err[512];
	int o, rc = 1;
	int64_t ttl, now = (int64_t)time(NULL);

	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			conf = optarg;
			break;
		case 'C':
			contract = optarg;
			break;
		case 'p':
			purpose = optarg;
			break;
		case 't':
			ttl_s = optarg;
			break;
		case 'x':
			cert = optarg;
			break;
		case 'm':
			maxrec_s = optarg;
			break;
		case 's':
			staff = optarg;
			break;
		case 'r':
			role_s = optarg;
			break;
		case 'h':
			token_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "pdgate token issue: unknown option or missing value\n");
			token_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !conf) {
		fprintf(stderr, "pdgate token issue: %s\n",
		        conf ? "unexpected argument" : "-c FILE is required");
		token_usage(stderr);
		return 2;
	}
	if (staff ? (contract || purpose || cert || maxrec_s || !role_s)
	          : (!contract || !purpose || role_s)) {
		fprintf(stderr, "pdgate token issue: give --contract and --purpose (work order) or "
		                "--staff and --role (staff token)\n");
		return 2;
	}
	ttl = parse_ttl(ttl_s ? ttl_s : staff ? "8h" : "24h");
	if (ttl < 0) {
		fprintf(stderr, "pdgate token issue: --ttl must be N followed by s, m, h or d, "
		                "at most 31 days\n");
		return 2;
	}

	cfg = load_config(conf);
	if (!cfg)
		return 1;

	if (staff) {
		enum token_role role = strcmp(role_s, "auditor") == 0   ? TOKEN_ROLE_AUDITOR
		                       : strcmp(role_s, "officer") == 0 ? TOKEN_ROLE_OFFICER
		                                                        : TOKEN_ROLE_NONE;
		if (role == TOKEN_ROLE_NONE) {
			fprintf(stderr, "pdgate token issue: --role is auditor or officer\n");
			rc = 2;
			goto done;
		}
		if (!ident_name_ok(staff, strlen(staff))) {
			fprintf(stderr,
			        "pdgate token issue: --staff must match " IDENT_NAME_PATTERN "\n");
			rc = 2;
			goto done;
		}
		tok = token_issue_staff(cfg->tokens.key, cfg->tokens.issuer, staff, role, now, ttl,
		                        NULL, err, sizeof err);
	} else {
		struct issue_contract ct;
		struct token_work_order w = {0};
		unsigned char thumb[TOKEN_THUMB_LEN];

		if (maxrec_s) {
			char *end;
			long long n;
			errno = 0;
			n = strtoll(maxrec_s, &end, 10);
			if (errno || *end || !(*maxrec_s >= '0' && *maxrec_s <= '9') || n < 1 ||
			    n > TOKEN_SAFE_INT_MAX) {
				fprintf(stderr, "pdgate token issue: --max-records is a positive "
				                "integer\n");
				rc = 2;
				goto done;
			}
			w.max_records = n;
		}
		memset(&ct, 0, sizeof ct);
		if (read_contract(cfg, contract, purpose, &ct) != 0)
			goto done;
		if (!cert && !ct.binding_optional) {
			fprintf(stderr,
			        "pdgate token issue: contract %s requires bound work orders "
			        "(token_binding \"required\"): give --cert with %s's certificate\n",
			        contract, ct.partner);
			goto done;
		}
		if (cert && cert_thumbprint(cfg, cert, ct.partner, thumb, err, sizeof err) != 0) {
			fprintf(stderr, "pdgate token issue: %s\n", err);
			goto done;
		}
		w.issuer = cfg->tokens.issuer;
		w.partner = ct.partner;
		w.contract = contract;
		w.purpose = purpose;
		w.cnf = cert ? thumb : NULL;
		tok = token_issue_work_order(cfg->tokens.key, &w, now, ttl, NULL, err, sizeof err);
	}
	if (!tok) {
		fprintf(stderr, "pdgate token issue: %s\n", err);
		goto done;
	}
	if (printf("%s\n", tok) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "pdgate token issue: cannot write the token\n");
		goto done;
	}
	rc = 0;
done:
	free(tok);
	config_free(cfg);
	return rc;
}

/*
 * With [ledger] url, the revocation in the shared state too (docs/cluster.md): every node of
 * the cluster loads it, and a release decided before it is refused at commit. 0 or -1.
 */
static int
share_revoke(const struct config *cfg, const char *jti)
{
	char err[512];
	bool changed;
	struct ledger_store *s =
	    ledger_pg_open(cfg->ledger.url, true, cfg->ledger.origin, NULL, err, sizeof err);
	int rc = -1;

	if (s == NULL) {
		fprintf(stderr, "pdgate token revoke: the shared state: %s\n", err);
		return -1;
	}
	if (s->ops->state_revoke(s, jti, (int64_t)time(NULL), &changed) != 0)
		fprintf(stderr, "pdgate token revoke: the shared state: %s\n", s->ops->errmsg(s));
	else
		rc = 0;
	ledger_store_free(s);
	return rc;
}

static int
token_revoke_main(int argc, char **argv)
{
	const char *conf = NULL, *jti = NULL;
	struct config *cfg = NULL;
	struct tokenstore *ts = NULL;
	char err[512];
	int rc = 1;
	bool only_args = false;

	/* By hand rather than getopt: a jti may begin with '-'. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!only_args && (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)) {
			if (++i == argc) {
				fprintf(stderr, "pdgate token revoke: -c needs a file\n");
				return 2;
			}
			conf = argv[i];
		} else if (!only_args && strncmp(a, "--config=", 9) == 0) {
			conf = a + 9;
		} else if (!only_args && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			token_usage(stdout);
			return 0;
		} else if (!only_args && strcmp(a, "--") == 0) {
			only_args = true;
		} else if (!jti) {
			jti = a;
		} else {
			fprintf(stderr, "pdgate token revoke: one JTI at a time\n");
			return 2;
		}
	}
	if (!conf || !jti) {
		fprintf(stderr, "pdgate token revoke: -c FILE and a JTI are required\n");
		token_usage(stderr);
		return 2;
	}
	if (!token_jti_ok(jti)) {
		fprintf(stderr,
		        "pdgate token revoke: a jti is 1..128 characters of [A-Za-z0-9_-]\n");
		return 2;
	}
	cfg = load_config(conf);
	if (!cfg)
		return 1;
	ts = tokenstore_open(cfg->gateway.state, err, sizeof err);
	if (!ts) {
		fprintf(stderr, "pdgate token revoke: %s\n", err);
		goto done;
	}
	if (tokenstore_revoke(ts, jti, (int64_t)time(NULL)) != 0) {
		fprintf(stderr, "pdgate token revoke: cannot write %s\n", cfg->gateway.state);
		goto done;
	}
	if (cfg->ledger.url != NULL && share_revoke(cfg, jti) != 0)
		goto done;
	printf("revoked %s\n", jti);
	rc = 0;
done:
	tokenstore_close(ts);
	config_free(cfg);
	return rc;
}

int
token_main(int argc, char **argv)
{
	static const struct cli_command subs[] = {
	    {"issue", token_issue_main, NULL},
	    {"revoke", token_revoke_main, NULL},
	};
	return cli_dispatch("pdgate token", "subcommand", subs, sizeof(subs) / sizeof(subs[0]),
	                    token_usage, argc, argv);
}
