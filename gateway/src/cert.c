/* cert — the `pdgate cert` command: issue and revoke client certificates, re-sign CRLs. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "config.h"
#include "ident.h"
#include "pki.h"

static const char usage_issue[] =
    "usage: pdgate cert issue -c FILE (--partner ID | --staff NAME) [--days N] [--out PREFIX]\n"
    "\n"
    "Makes a new EC P-256 key and a client certificate signed by the installation's partner CA\n"
    "(--partner) or staff CA (--staff), written to PREFIX.key (mode 0600) and PREFIX.pem.\n"
    "PREFIX defaults to pki/partners/ID or pki/staff/NAME next to the configuration; existing\n"
    "files are never overwritten. Prints the certificate's fingerprint, sha256:<hex>.\n"
    "\n"
    "  -c, --config FILE   pdgate.conf of the installation\n"
    "  --partner ID        partner id, " IDENT_NAME_PATTERN " (URI SAN urn:pdgate:partner:ID)\n"
    "  --staff NAME        staff name, same rule (URI SAN urn:pdgate:staff:NAME)\n"
    "  --days N            lifetime in days (default 397)\n"
    "  --out PREFIX        write PREFIX.pem and PREFIX.key instead\n";

static const char usage_revoke[] =
    "usage: pdgate cert revoke -c FILE [--days N] CERT.pem\n"
    "\n"
    "Revokes a certificate issued by the installation's partner CA or staff CA (the CA is the\n"
    "one whose key verifies the certificate's signature; any other certificate is refused),\n"
    "adds it to that CA's CRL, keeping every earlier entry, and re-signs the CRL. The running\n"
    "gateway applies it on SIGHUP, on the next request of every connection.\n"
    "\n"
    "  -c, --config FILE   pdgate.conf of the installation\n"
    "  --days N            the new CRL's nextUpdate, in days from now (default 30)\n";

static const char usage_crl[] =
    "usage: pdgate cert crl -c FILE [--staff] [--days N]\n"
    "\n"
    "Re-signs the partner CA's CRL (or the staff CA's, with --staff) with lastUpdate now, a new\n"
    "nextUpdate and the next CRL number, keeping every entry. A CRL past its nextUpdate is\n"
    "stale, and the gateway then refuses every partner certificate (it cannot know what was\n"
    "revoked since): run this, then SIGHUP the gateway, well before nextUpdate, from cron say.\n"
    "\n"
    "  -c, --config FILE   pdgate.conf of the installation\n"
    "  --staff             the staff CA's CRL instead of the partner CA's\n"
    "  --days N            nextUpdate in days from now (default 30)\n";

static const char usage_cert[] = "usage: pdgate cert COMMAND ...\n"
                                 "\n"
                                 "  issue    issue a partner or staff client certificate\n"
                                 "  revoke   revoke a certificate and republish its CA's CRL\n"
                                 "  crl      re-sign a CRL with a fresh nextUpdate\n"
                                 "\n"
                                 "'pdgate cert COMMAND --help' describes each.\n";

/* Options of the cert subcommands; which are allowed depends on the subcommand. */
struct opts {
	const char *config, *partner, *staff_name, *out;
	int staff; /* --staff without a value (cert crl) */
	unsigned days;
	int days_set;
	const char *positional[4];
	int npositional;
};

enum {
	OPT_PARTNER = 1 << 0,
	OPT_STAFF_NAME = 1 << 1,
	OPT_STAFF_FLAG = 1 << 2,
	OPT_OUT = 1 << 3,
};

static int
parse_days(const char *s, unsigned *days)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > PKI_DAYS_MAX)
		return -1;
	*days = (unsigned)v;
	return 0;
}

/* "--name VALUE" or "--name=VALUE": 1 and *val if argv[*i] is that option, else 0; -1 if the
 * value is missing. */
static int
opt_value(int argc, char **argv, int *i, const char *name, const char *alias, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strcmp(a, name) == 0 || (alias != NULL && strcmp(a, alias) == 0)) {
		if (*i + 1 >= argc)
			return -1;
		*val = argv[++*i];
		return 1;
	}
	if (strncmp(a, name, n) == 0 && a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	return 0;
}

/* Returns 0 to go on, 1 when --help was printed, 2 on a usage error (message printed). */
static int
parse(int argc, char **argv, unsigned allowed, int max_positional, const char *usage,
      struct opts *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int r;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage, stdout);
			return 1;
		}
		if ((r = opt_value(argc, argv, &i, "--config", "-c", &v)) != 0) {
			if (r < 0)
				goto missing;
			o->config = v;
		} else if ((r = opt_value(argc, argv, &i, "--days", NULL, &v)) != 0) {
			if (r < 0)
				goto missing;
			if (parse_days(v, &o->days) < 0) {
				fprintf(stderr,
				        "pdgate cert: --days '%s': a number of days, 1..%u\n", v,
				        PKI_DAYS_MAX);
				return 2;
			}
			o->days_set = 1;
		} else if ((allowed & OPT_PARTNER) &&
		           (r = opt_value(argc, argv, &i, "--partner", NULL, &v)) != 0) {
			if (r < 0)
				goto missing;
			o->partner = v;
		} else if ((allowed & OPT_STAFF_NAME) &&
		           (r = opt_value(argc, argv, &i, "--staff", NULL, &v)) != 0) {
			if (r < 0)
				goto missing;
			o->staff_name = v;
		} else if ((allowed & OPT_STAFF_FLAG) && strcmp(a, "--staff") == 0) {
			o->staff = 1;
		} else if ((allowed & OPT_OUT) &&
		           (r = opt_value(argc, argv, &i, "--out", NULL, &v)) != 0) {
			if (r < 0)
				goto missing;
			o->out = v;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "pdgate cert %s: unknown option '%s'\n%s", argv[0], a,
			        usage);
			return 2;
		} else if (o->npositional < max_positional) {
			o->positional[o->npositional++] = a;
		} else {
			fprintf(stderr, "pdgate cert %s: unexpected argument '%s'\n%s", argv[0], a,
			        usage);
			return 2;
		}
		continue;
	missing:
		fprintf(stderr, "pdgate cert %s: option '%s' needs a value\n", argv[0], a);
		return 2;
	}
	if (o->config == NULL) {
		fprintf(stderr, "pdgate cert %s: -c FILE is required\n%s", argv[0], usage);
		return 2;
	}
	return 0;
}

static struct config *
load_config(const char *path)
{
	char *errors = NULL;
	struct config *c = config_load(path, &errors);

	if (c == NULL) {
		fprintf(stderr, "pdgate cert: %s: the configuration does not load:\n%s\n", path,
		        errors != NULL ? errors : "out of memory");
		free(errors);
	}
	return c;
}

/* A CA of the installation: certificate, key, CRL (paths owned by the struct). */
struct ca {
	const char *label; /* "partner" or "staff" */
	char pem[PATH_MAX], key[PATH_MAX], crl[PATH_MAX];
	X509 *cert;
	EVP_PKEY *pkey;
};

/* path with its ".pem" replaced by ext, into out. */
static int
swap_ext(char *out, size_t n, const char *path, const char *ext)
{
	size_t len = strlen(path);

	if (len < 4 || strcmp(path + len - 4, ".pem") != 0) {
		fprintf(stderr,
		        "pdgate cert: %s: a CA certificate path must end in .pem (its key is "
		        "the same path with .key)\n",
		        path);
		return -1;
	}
	if (snprintf(out, n, "%.*s%s", (int)(len - 4), path, ext) >= (int)n) {
		fprintf(stderr, "pdgate cert: %s: path too long\n", path);
		return -1;
	}
	return 0;
}

/* Fills ca with the partner CA (staff = 0) or the staff CA of c; loads the certificate. */
static int
ca_open(struct ca *ca, const struct config *c, int staff)
{
	const char *pem = staff ? c->compliance.staff_ca : c->partner.client_ca;
	char err[PATH_MAX + 256];

	memset(ca, 0, sizeof(*ca));
	ca->label = staff ? "staff" : "partner";
	if (snprintf(ca->pem, sizeof(ca->pem), "%s", pem) >= (int)sizeof(ca->pem) ||
	    swap_ext(ca->key, sizeof(ca->key), pem, ".key") < 0)
		return -1;
	if (!staff)
		snprintf(ca->crl, sizeof(ca->crl), "%s", c->partner.crl);
	else if (c->compliance.staff_crl != NULL)
		snprintf(ca->crl, sizeof(ca->crl), "%s", c->compliance.staff_crl);
	else if (swap_ext(ca->crl, sizeof(ca->crl), pem, ".crl") < 0)
		return -1;
	ca->cert = pki_cert_read(ca->pem, err, sizeof(err));
	if (ca->cert == NULL) {
		fprintf(stderr, "pdgate cert: %s CA: %s\n", ca->label, err);
		return -1;
	}
	return 0;
}

static int
ca_load_key(struct ca *ca)
{
	char err[PATH_MAX + 256];

	ca->pkey = pki_key_read(ca->key, err, sizeof(err));
	if (ca->pkey == NULL) {
		fprintf(stderr, "pdgate cert: %s CA key: %s\n", ca->label, err);
		return -1;
	}
	return 0;
}

static void
ca_close(struct ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->pkey);
	ca->cert = NULL;
	ca->pkey = NULL;
}

/* now + days as RFC 3339 UTC, for messages. */
static void
date_in(unsigned days, char *out, size_t n)
{
	time_t t = time(NULL) + (time_t)days * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
cmd_issue(int argc, char **argv)
{
	struct opts o;
	struct config *c = NULL;
	struct ca ca = {0};
	char prefix[PATH_MAX], folder[PATH_MAX], fp[PKI_FINGERPRINT_LEN], err[PATH_MAX + 256];
	const char *name;
	int staff, rc;

	rc = parse(argc, argv, OPT_PARTNER | OPT_STAFF_NAME | OPT_OUT, 0, usage_issue, &o);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if ((o.partner == NULL) == (o.staff_name == NULL)) {
		fprintf(stderr,
		        "pdgate cert issue: give exactly one of --partner ID or --staff "
		        "NAME\n%s",
		        usage_issue);
		return 2;
	}
	staff = o.staff_name != NULL;
	name = staff ? o.staff_name : o.partner;
	if (!ident_name_ok(name, strlen(name))) {
		fprintf(stderr, "pdgate cert issue: '%s': a %s must match " IDENT_NAME_PATTERN "\n",
		        name, staff ? "staff name" : "partner id");
		return 2;
	}
	rc = 1;
	c = load_config(o.config);
	if (c == NULL)
		goto done;
	if (o.out != NULL) {
		if (o.out[0] == '\0' ||
		    snprintf(prefix, sizeof(prefix), "%s", o.out) >= (int)sizeof(prefix)) {
			fprintf(stderr, "pdgate cert issue: --out: bad prefix\n");
			goto done;
		}
	} else {
		snprintf(folder, sizeof(folder), "%s/pki/%s", c->dir, staff ? "staff" : "partners");
		if (snprintf(prefix, sizeof(prefix), "%s/%s", folder, name) >=
		    (int)sizeof(prefix)) {
			fprintf(stderr, "pdgate cert issue: path too long\n");
			goto done;
		}
		if (mkdir(folder, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "pdgate cert issue: %s: %s\n", folder, strerror(errno));
			goto done;
		}
	}
	if (ca_open(&ca, c, staff) < 0 || ca_load_key(&ca) < 0)
		goto done;
	if (pki_make_leaf(prefix, staff ? PKI_PROFILE_STAFF : PKI_PROFILE_PARTNER, name, ca.cert,
	                  ca.pkey, o.days_set ? o.days : PKI_DAYS_CLIENT, fp, err,
	                  sizeof(err)) < 0) {
		fprintf(stderr, "pdgate cert issue: %s\n", err);
		goto done;
	}
	fprintf(stderr, "issued %s.pem and %s.key: %s %s, %u days, signed by the %s CA\n", prefix,
	        prefix, staff ? "staff" : "partner", name, o.days_set ? o.days : PKI_DAYS_CLIENT,
	        ca.label);
	printf("%s\n", fp);
	rc = 0;
done:
	ca_close(&ca);
	config_free(c);
	return rc;
}

/* The serial of cert in hex, for messages (caller frees with OPENSSL_free), or NULL. */
static char *
serial_hex(X509 *cert)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

	BN_free(bn);
	return hex;
}

static int
cmd_revoke(int argc, char **argv)
{
	struct opts o;
	struct config *c = NULL;
	struct ca cas[2] = {{0}, {0}}, *ca = NULL;
	X509 *cert = NULL;
	char err[PATH_MAX + 256], fp[PKI_FINGERPRINT_LEN] = "", next[32];
	char *number = NULL, *serial = NULL;
	unsigned days;
	int rc;

	rc = parse(argc, argv, 0, 1, usage_revoke, &o);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (o.npositional != 1) {
		fprintf(stderr, "pdgate cert revoke: name the certificate to revoke\n%s",
		        usage_revoke);
		return 2;
	}
	days = o.days_set ? o.days : PKI_DAYS_CRL;
	rc = 1;
	c = load_config(o.config);
	if (c == NULL)
		goto done;
	cert = pki_cert_read(o.positional[0], err, sizeof(err));
	if (cert == NULL) {
		fprintf(stderr, "pdgate cert revoke: %s\n", err);
		goto done;
	}
	if (ca_open(&cas[0], c, 0) < 0 || ca_open(&cas[1], c, 1) < 0)
		goto done;
	/* The CA is the one whose key verifies the signature, never chosen by name alone. */
	for (int i = 0; i < 2; i++)
		if (pki_issued_by(cert, cas[i].cert))
			ca = &cas[i];
	if (ca == NULL) {
		fprintf(stderr,
		        "pdgate cert revoke: %s was not issued by this installation's partner CA "
		        "(%s) or staff CA (%s); refusing\n",
		        o.positional[0], cas[0].pem, cas[1].pem);
		goto done;
	}
	if (X509_check_ca(cert) != 0) {
		fprintf(stderr,
		        "pdgate cert revoke: %s is a CA certificate; a CA is retired by "
		        "replacing it, not by its own CRL\n",
		        o.positional[0]);
		goto done;
	}
	if (ca_load_key(ca) < 0)
		goto done;
	pki_fingerprint(cert, fp);
	serial = serial_hex(cert);
	switch (
	    pki_crl_revoke(ca->crl, ca->cert, ca->pkey, cert, days, &number, err, sizeof(err))) {
	case PKI_REVOKE_DONE:
		date_in(days, next, sizeof(next));
		printf("revoked %s (serial %s, %s) on the %s CA's CRL %s\n", o.positional[0],
		       serial != NULL ? serial : "?", fp, ca->label, ca->crl);
		printf("CRL number %s, next update %s\n", number != NULL ? number : "?", next);
		printf("send SIGHUP to the gateway to apply it: kill -HUP <pid of pdgate serve>\n");
		rc = 0;
		break;
	case PKI_REVOKE_ALREADY:
		printf("%s (serial %s) is already on the %s CA's CRL %s; nothing changed\n",
		       o.positional[0], serial != NULL ? serial : "?", ca->label, ca->crl);
		rc = 0;
		break;
	case PKI_REVOKE_ERROR:
		fprintf(stderr, "pdgate cert revoke: %s\n", err);
		break;
	}
done:
	OPENSSL_free(serial);
	free(number);
	X509_free(cert);
	ca_close(&cas[0]);
	ca_close(&cas[1]);
	config_free(c);
	return rc;
}

static int
cmd_crl(int argc, char **argv)
{
	struct opts o;
	struct config *c = NULL;
	struct ca ca = {0};
	char err[PATH_MAX + 256], next[32];
	char *number = NULL;
	unsigned days;
	int rc;

	rc = parse(argc, argv, OPT_STAFF_FLAG, 0, usage_crl, &o);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	days = o.days_set ? o.days : PKI_DAYS_CRL;
	rc = 1;
	c = load_config(o.config);
	if (c == NULL)
		goto done;
	if (ca_open(&ca, c, o.staff) < 0 || ca_load_key(&ca) < 0)
		goto done;
	if (pki_crl_refresh(ca.crl, ca.cert, ca.pkey, days, &number, err, sizeof(err)) < 0) {
		fprintf(stderr, "pdgate cert crl: %s\n", err);
		goto done;
	}
	date_in(days, next, sizeof(next));
	printf("re-signed the %s CA's CRL %s: CRL number %s, next update %s\n", ca.label, ca.crl,
	       number != NULL ? number : "?", next);
	printf("send SIGHUP to the gateway to apply it: kill -HUP <pid of pdgate serve>\n");
	rc = 0;
done:
	free(number);
	ca_close(&ca);
	config_free(c);
	return rc;
}

int
cert_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} subs[] = {{"issue", cmd_issue}, {"revoke", cmd_revoke}, {"crl", cmd_crl}};

	if (argc < 2) {
		fputs(usage_cert, stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_cert, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "pdgate cert: unknown command '%s'\n%s", argv[1], usage_cert);
	return 2;
}
