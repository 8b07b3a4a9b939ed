/* cert — the `pdgate cert` command: issue, sign, list and revoke certificates, re-sign CRLs. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509v3.h>

#include "cal.h"
#include "cert.h"
#include "certreg.h"
#include "config.h"
#include "csr.h"
#include "file.h"
#include "ident.h"
#include "pki.h"
#include "pki_file.h"
#include "pki_crl.h"
#include "pki_p12.h"

static const char usage_issue[] =
    "usage: pdgate cert issue -c FILE (--partner ID | --staff NAME) [--days N] [--out PREFIX]\n"
    "                         [--p12 FILE --passphrase-file F]\n"
    "       pdgate cert issue -c FILE --server --dns HOST... [--ip ADDR...] --out PREFIX\n"
    "                         [--days N] [--p12 FILE --passphrase-file F]\n"
    "\n"
    "Makes a new EC P-256 key and a certificate, written to PREFIX.key (mode 0600) and\n"
    "PREFIX.pem, and records it in the installation's register of issued certificates\n"
    "(`pdgate cert list`). Existing files are never overwritten. Prints the certificate's\n"
    "fingerprint, sha256:<hex>.\n"
    "\n"
    "A client certificate (--partner, --staff) is signed by the partner CA or the staff CA;\n"
    "PREFIX defaults to pki/partners/ID or pki/staff/NAME next to the configuration. A\n"
    "server certificate (--server: serverAuth, the names as subjectAltNames) is signed by\n"
    "the server CA (pki/server-ca.pem) and needs --out: it is installed by pointing\n"
    "[partner] cert/key and [compliance] cert/key at it (or copying it over pki/server.pem\n"
    "and .key) and restarting, never by overwriting the live certificate here.\n"
    "\n"
    "  -c, --config FILE   pdgate.conf of the installation\n"
    "  --partner ID        partner id, " IDENT_NAME_PATTERN " (URI SAN urn:pdgate:partner:ID)\n"
    "  --staff NAME        staff name, same rule (URI SAN urn:pdgate:staff:NAME)\n"
    "  --server            a server certificate for the listeners\n"
    "  --dns HOST...       host names of the server (lower case, no wildcard); repeatable\n"
    "  --ip ADDR...        IPv4 or IPv6 addresses of the server; repeatable\n"
    "  --days N            lifetime in days (default 397; 730 for --server)\n"
    "  --out PREFIX        write PREFIX.pem and PREFIX.key instead\n"
    "  --p12 FILE          also a PKCS#12 bundle (key, certificate, CA; AES-256, SHA-256 MAC;\n"
    "                      mode 0600) for Java and .NET clients\n"
    "  --passphrase-file F its passphrase: the first line of F (mode 0600), 8 to 1024\n"
    "                      printable ASCII characters\n";

static const char usage_sign[] =
    "usage: pdgate cert sign -c FILE (--partner ID | --staff NAME) --csr REQ.pem [--days N]\n"
    "                        [--out CERT.pem]\n"
    "\n"
    "Signs a certificate for a key the partner keeps: REQ.pem is a PKCS#10 certificate signing\n"
    "request (PEM or DER, at most 64 KiB) made by the partner, for instance with\n"
    "  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ID.key \\\n"
    "      -subj /CN=ID -out ID.csr\n"
    "Its own signature must verify and its key be EC P-256 or P-384, or RSA of at least 2048\n"
    "bits; anything else is refused and nothing is issued. Its subject and requested\n"
    "extensions are ignored: the certificate is exactly the one `cert issue` makes (URI SAN\n"
    "urn:pdgate:partner:ID and CN ID, clientAuth only, the lifetime given here), signed by\n"
    "the partner CA (the staff CA for --staff). Writes CERT.pem (default pki/partners/ID.pem\n"
    "or pki/staff/NAME.pem; never over an existing file), records it in the register of\n"
    "issued certificates and prints its fingerprint, sha256:<hex>.\n"
    "\n"
    "  -c, --config FILE   pdgate.conf of the installation\n"
    "  --partner ID        the partner the certificate is for (whatever the request says)\n"
    "  --staff NAME        a staff member instead\n"
    "  --csr REQ.pem       the certificate signing request\n"
    "  --days N            lifetime in days (default 397)\n"
    "  --out CERT.pem      where to write the certificate\n";

static const char usage_list[] =
    "usage: pdgate cert list -c FILE [--json]\n"
    "\n"
    "Lists every certificate the installation has issued, from its register of issued\n"
    "certificates: serial, kind (partner, staff, server), partner id, staff name or server\n"
    "names, SHA-256 fingerprint, notBefore, notAfter, and whether the CA's CRL revokes it.\n"
    "The first use of the register on an installation made before it existed fills it from\n"
    "the certificates under pki/partners and pki/staff and the configured server certificate.\n"
    "Exits 1 if a CRL does not load (the revocation states it decides are then 'unknown').\n"
    "\n"
    "  -c, --config FILE   pdgate.conf of the installation\n"
    "  --json              one JSON object {\"certificates\":[…]} instead of a table\n";

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
                                 "  issue    issue a partner, staff or server certificate\n"
                                 "  sign     sign a partner's certificate signing request\n"
                                 "  list     list every certificate the installation issued\n"
                                 "  revoke   revoke a certificate and republish its CA's CRL\n"
                                 "  crl      re-sign a CRL with a fresh nextUpdate\n"
                                 "\n"
                                 "'pdgate cert COMMAND --help' describes each.\n";

/* Options of the cert subcommands; which are allowed depends on the subcommand. */
struct opts {
	const char *config, *partner, *staff_name, *out;
	int staff;  /* --staff without a value (cert crl) */
	int server; /* --server (cert issue) */
	const char *dns[PKI_MAX_HOSTS], *ip[PKI_MAX_HOSTS];
	size_t ndns, nip;
	const char *p12, *passphrase_file, *csr;
	int json;
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
	OPT_SERVER = 1 << 4, /* --server, --dns, --ip */
	OPT_P12 = 1 << 5,    /* --p12, --passphrase-file */
	OPT_CSR = 1 << 6,
	OPT_JSON = 1 << 7,
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

/* The options that take a value and only keep it: 1 if argv[*i] is one of them that allowed
 * permits (its value kept in o), 0 if none, -1 if its value is missing. */
static int
value_option(int argc, char **argv, int *i, unsigned allowed, struct opts *o)
{
	const struct {
		const char *name, *alias;
		unsigned flag; /* 0: every subcommand */
		const char **value;
	} table[] = {
	    {"--config", "-c", 0, &o->config},
	    {"--partner", NULL, OPT_PARTNER, &o->partner},
	    {"--staff", NULL, OPT_STAFF_NAME, &o->staff_name},
	    {"--out", NULL, OPT_OUT, &o->out},
	    {"--p12", NULL, OPT_P12, &o->p12},
	    {"--passphrase-file", NULL, OPT_P12, &o->passphrase_file},
	    {"--csr", NULL, OPT_CSR, &o->csr},
	};

	for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++) {
		const char *v;
		int r;
		if (table[k].flag != 0 && !(allowed & table[k].flag))
			continue;
		if ((r = opt_value(argc, argv, i, table[k].name, table[k].alias, &v)) > 0)
			*table[k].value = v;
		if (r != 0)
			return r;
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
		if ((r = value_option(argc, argv, &i, allowed, o)) != 0) {
			if (r < 0)
				goto missing;
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
		} else if ((allowed & OPT_STAFF_FLAG) && strcmp(a, "--staff") == 0) {
			o->staff = 1;
		} else if ((allowed & OPT_SERVER) && strcmp(a, "--server") == 0) {
			o->server = 1;
		} else if ((allowed & OPT_SERVER) &&
		           ((r = opt_value(argc, argv, &i, "--dns", NULL, &v)) != 0 ||
		            (r = opt_value(argc, argv, &i, "--ip", NULL, &v)) != 0)) {
			int dns = strncmp(a, "--dns", 5) == 0;
			const char **list = dns ? o->dns : o->ip;
			size_t *n = dns ? &o->ndns : &o->nip;
			if (r < 0)
				goto missing;
			/* "--dns a b c": the values run to the next option. */
			for (;;) {
				if (*n == PKI_MAX_HOSTS) {
					fprintf(stderr, "pdgate cert %s: at most %d values of %s\n",
					        argv[0], PKI_MAX_HOSTS, dns ? "--dns" : "--ip");
					return 2;
				}
				list[(*n)++] = v;
				if (i + 1 >= argc || argv[i + 1][0] == '-')
					break;
				v = argv[++i];
			}
		} else if ((allowed & OPT_JSON) && strcmp(a, "--json") == 0) {
			o->json = 1;
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
date_in(unsigned days, char out[CAL_UTC_LEN])
{
	cal_format_utc(time(NULL) + (time_t)days * 86400, out);
}

/* The server CA of the installation: pki/server-ca.pem and .key beside the configuration. */
static int
ca_open_server(struct ca *ca, const struct config *c)
{
	char err[PATH_MAX + 256];

	memset(ca, 0, sizeof(*ca));
	ca->label = "server";
	if (snprintf(ca->pem, sizeof(ca->pem), "%s/pki/server-ca.pem", c->dir) >=
	        (int)sizeof(ca->pem) ||
	    swap_ext(ca->key, sizeof(ca->key), ca->pem, ".key") < 0)
		return -1;
	ca->cert = pki_cert_read(ca->pem, err, sizeof(err));
	if (ca->cert == NULL) {
		fprintf(stderr, "pdgate cert: server CA: %s\n", err);
		return -1;
	}
	return 0;
}

/* The register's first filling skipped a file: say so, it is not in `cert list`. */
static void
register_warning(void *arg, const char *message)
{
	fprintf(stderr, "pdgate cert %s: register of issued certificates: skipped %s\n",
	        (const char *)arg, message);
}

static struct certreg *
register_open(const struct config *c, const char *command)
{
	char err[PATH_MAX + 512];
	struct certreg *reg = certreg_open(c, register_warning, (void *)command, err, sizeof(err));

	if (reg == NULL)
		fprintf(stderr, "pdgate cert %s: register of issued certificates: %s\n", command,
		        err);
	return reg;
}

/* path made absolute against the working folder, for the register. */
static int
absolute(const char *path, char *out, size_t n)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return snprintf(out, n, "%s", path) < (int)n ? 0 : -1;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	return snprintf(out, n, "%s/%s", cwd, path) < (int)n ? 0 : -1;
}

/* -1 with a message if path exists (a dangling symbolic link counts): nothing is overwritten. */
static int
must_not_exist(const char *command, const char *path, const char *hint)
{
	struct stat st;

	if (lstat(path, &st) == 0) {
		fprintf(stderr, "pdgate cert %s: %s already exists; not overwriting it%s\n",
		        command, path, hint);
		return -1;
	}
	return 0;
}

/* What a new certificate is written to. */
struct delivery {
	const char *command; /* "issue", "sign" */
	const char *prefix;  /* issue: PREFIX.pem and PREFIX.key */
	const char *pem;     /* sign: the certificate file (no key: its owner holds it) */
	const char *p12;     /* also a PKCS#12 bundle, or NULL */
	const char *passphrase;
	const char *friendly; /* the bundle's friendly name */
};

/*
 * Records cert in the register, then writes its files. The row comes first and is durable
 * before any file exists: a crash in between leaves a row for a certificate that no file holds
 * and nobody received (the register lists at worst one certificate too many, never one too few:
 * no certificate exists that it does not list). A failure writing the files removes the files
 * written so far and the row again.
 */
static int
deliver(struct certreg *reg, const struct delivery *d, X509 *cert, EVP_PKEY *key, X509 *ca,
        enum certreg_kind kind)
{
	char pem[PATH_MAX], abs[PATH_MAX], err[PATH_MAX + 512];
	struct certreg_row row;
	int wrote = 0, rc = -1;

	if (snprintf(pem, sizeof(pem), "%s%s", d->prefix != NULL ? d->prefix : d->pem,
	             d->prefix != NULL ? ".pem" : "") >= (int)sizeof(pem) ||
	    absolute(pem, abs, sizeof(abs)) < 0) {
		fprintf(stderr, "pdgate cert %s: %s: path too long\n", d->command, pem);
		return -1;
	}
	if (certreg_row_of(cert, kind, d->command, abs, &row, err, sizeof(err)) < 0)
		goto refused;
	if (certreg_add(reg, &row, err, sizeof(err)) < 0) {
		certreg_row_clear(&row);
		goto refused;
	}
	if ((d->prefix != NULL ? pki_leaf_write(d->prefix, cert, key, err, sizeof(err))
	                       : pki_cert_write(d->pem, cert, err, sizeof(err))) < 0)
		goto fail;
	wrote = 1;
	if (d->p12 != NULL &&
	    pki_p12_write(d->p12, cert, key, ca, d->friendly, d->passphrase, err, sizeof(err)) < 0)
		goto fail;
	rc = 0;
	goto done;
refused:
	fprintf(stderr, "pdgate cert %s: register of issued certificates: %s\n", d->command, err);
	return -1;
fail:
	fprintf(stderr, "pdgate cert %s: %s\n", d->command, err);
	if (wrote) {
		unlink(pem);
		if (d->prefix != NULL) {
			char kpath[PATH_MAX + 8];
			snprintf(kpath, sizeof(kpath), "%s.key", d->prefix);
			unlink(kpath);
		}
	}
	if (certreg_remove(reg, kind, row.serial, err, sizeof(err)) < 0)
		fprintf(stderr,
		        "pdgate cert %s: the register still lists serial %s, which was never "
		        "written: %s\n",
		        d->command, row.serial, err);
done:
	certreg_row_clear(&row);
	return rc;
}

/* A client's default prefix: pki/partners/ID or pki/staff/NAME, the folder made if needed. */
static int
default_prefix(const struct config *c, int staff, const char *name, char *prefix, size_t n,
               const char *command)
{
	char folder[PATH_MAX];

	if (snprintf(folder, sizeof(folder), "%s/pki/%s", c->dir, staff ? "staff" : "partners") >=
	        (int)sizeof(folder) ||
	    snprintf(prefix, n, "%s/%s", folder, name) >= (int)n) {
		fprintf(stderr, "pdgate cert %s: path too long\n", command);
		return -1;
	}
	if (mkdir(folder, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "pdgate cert %s: %s: %s\n", command, folder, strerror(errno));
		return -1;
	}
	return 0;
}

/* The checks of `cert issue`'s options that need no installation. 0, or 2 (printed). */
static int
issue_args(const struct opts *o, enum certreg_kind *kind, const char **name)
{
	const char *why;

	if ((o->partner != NULL) + (o->staff_name != NULL) + (o->server != 0) != 1) {
		fprintf(stderr,
		        "pdgate cert issue: give exactly one of --partner ID, --staff NAME or "
		        "--server\n%s",
		        usage_issue);
		return 2;
	}
	if ((o->p12 == NULL) != (o->passphrase_file == NULL)) {
		fprintf(stderr,
		        "pdgate cert issue: --p12 FILE and --passphrase-file F go together\n");
		return 2;
	}
	if (!o->server) {
		*kind = o->staff_name != NULL ? CERTREG_STAFF : CERTREG_PARTNER;
		*name = *kind == CERTREG_STAFF ? o->staff_name : o->partner;
		if (o->ndns + o->nip > 0) {
			fprintf(stderr, "pdgate cert issue: --dns and --ip are for --server\n");
			return 2;
		}
		if (!ident_name_ok(*name, strlen(*name))) {
			fprintf(stderr,
			        "pdgate cert issue: '%s': a %s must match " IDENT_NAME_PATTERN "\n",
			        *name, *kind == CERTREG_STAFF ? "staff name" : "partner id");
			return 2;
		}
		return 0;
	}
	*kind = CERTREG_SERVER;
	if (o->ndns + o->nip == 0) {
		fprintf(stderr,
		        "pdgate cert issue: --server needs the names clients use: --dns HOST "
		        "and/or --ip ADDR\n");
		return 2;
	}
	if (o->out == NULL) {
		fprintf(stderr, "pdgate cert issue: --server needs --out PREFIX: a new server "
		                "certificate is written beside the live one, never over it (see "
		                "--help)\n");
		return 2;
	}
	if (o->ndns + o->nip > PKI_MAX_HOSTS) {
		fprintf(stderr, "pdgate cert issue: a server certificate names at most %d hosts\n",
		        PKI_MAX_HOSTS);
		return 2;
	}
	for (size_t i = 0; i < o->ndns; i++) {
		enum pki_host k = pki_host_kind(o->dns[i]);
		if (k == PKI_HOST_DNS)
			continue;
		why = k == PKI_HOST_IP ? "an IP address: give it with --ip"
		                       : pki_host_problem(o->dns[i]);
		fprintf(stderr, "pdgate cert issue: --dns '%s': %s\n", o->dns[i], why);
		return 2;
	}
	for (size_t i = 0; i < o->nip; i++) {
		enum pki_host k = pki_host_kind(o->ip[i]);
		if (k == PKI_HOST_IP)
			continue;
		why = pki_host_problem(o->ip[i]);
		if (k == PKI_HOST_DNS)
			why = "a host name: give it with --dns";
		else if (why == NULL || strncmp(why, "the unspecified", 15) != 0)
			why = "not an IPv4 address (192.0.2.1) or an IPv6 address (2001:db8::1)";
		fprintf(stderr, "pdgate cert issue: --ip '%s': %s\n", o->ip[i], why);
		return 2;
	}
	/* The CN: the first host that fits in one (64 characters; an address always does). */
	*name = NULL;
	for (size_t i = 0; *name == NULL && i < o->ndns; i++)
		if (strlen(o->dns[i]) <= 64)
			*name = o->dns[i];
	if (*name == NULL && o->nip > 0)
		*name = o->ip[0];
	if (*name == NULL) {
		fprintf(stderr, "pdgate cert issue: one --dns name of at most 64 characters, or an "
		                "--ip, is needed for the certificate's CN\n");
		return 2;
	}
	return 0;
}

static int
cmd_issue(int argc, char **argv)
{
	struct opts o;
	struct config *c = NULL;
	struct ca ca = {0};
	struct certreg *reg = NULL;
	const char *hosts[2 * PKI_MAX_HOSTS];
	size_t nhosts = 0;
	char prefix[PATH_MAX], path[PATH_MAX + 8], fp[PKI_FINGERPRINT_LEN], err[PATH_MAX + 256];
	char *passphrase = NULL;
	const char *name = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	enum certreg_kind kind = CERTREG_PARTNER;
	unsigned days;
	int rc;

	rc = parse(argc, argv, OPT_PARTNER | OPT_STAFF_NAME | OPT_OUT | OPT_SERVER | OPT_P12, 0,
	           usage_issue, &o);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if ((rc = issue_args(&o, &kind, &name)) != 0)
		return rc;
	days = o.days_set ? o.days : kind == CERTREG_SERVER ? PKI_DAYS_SERVER : PKI_DAYS_CLIENT;
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
	} else if (default_prefix(c, kind == CERTREG_STAFF, name, prefix, sizeof(prefix), "issue") <
	           0) {
		goto done;
	}
	/* Every refusal comes before anything is made: no certificate, no register row. */
	snprintf(path, sizeof(path), "%s.pem", prefix);
	if (must_not_exist("issue", path, "") < 0)
		goto done;
	snprintf(path, sizeof(path), "%s.key", prefix);
	if (must_not_exist("issue", path, "") < 0 ||
	    (o.p12 != NULL && must_not_exist("issue", o.p12, "") < 0))
		goto done;
	if (o.p12 != NULL &&
	    (passphrase = pki_passphrase_read(o.passphrase_file, err, sizeof(err))) == NULL) {
		fprintf(stderr, "pdgate cert issue: --passphrase-file: %s\n", err);
		goto done;
	}
	if ((kind == CERTREG_SERVER ? ca_open_server(&ca, c)
	                            : ca_open(&ca, c, kind == CERTREG_STAFF)) < 0 ||
	    ca_load_key(&ca) < 0)
		goto done;
	if ((reg = register_open(c, "issue")) == NULL)
		goto done;
	key = pki_key_ec();
	if (key == NULL) {
		fprintf(stderr, "pdgate cert issue: generating a key failed\n");
		goto done;
	}
	for (size_t i = 0; i < o.ndns; i++)
		hosts[nhosts++] = o.dns[i];
	for (size_t i = 0; i < o.nip; i++)
		hosts[nhosts++] = o.ip[i];
	cert = kind == CERTREG_SERVER
	           ? pki_issue_server(key, name, hosts, nhosts, ca.cert, ca.pkey, days, err,
	                              sizeof(err))
	           : pki_issue(kind == CERTREG_STAFF ? PKI_PROFILE_STAFF : PKI_PROFILE_PARTNER,
	                       name, key, ca.cert, ca.pkey, days, err, sizeof(err));
	if (cert == NULL || pki_fingerprint(cert, fp) < 0) {
		fprintf(stderr, "pdgate cert issue: %s\n", cert == NULL ? err : "fingerprint");
		goto done;
	}
	struct delivery d = {"issue", prefix, NULL, o.p12, passphrase, name};
	if (deliver(reg, &d, cert, key, ca.cert, kind) < 0)
		goto done;
	fprintf(stderr, "issued %s.pem and %s.key: %s %s, %u days, signed by the %s CA\n", prefix,
	        prefix, certreg_kind_name(kind), name, days, ca.label);
	if (o.p12 != NULL)
		fprintf(stderr, "and the PKCS#12 bundle %s (friendly name %s)\n", o.p12, name);
	printf("%s\n", fp);
	rc = 0;
done:
	if (passphrase != NULL) {
		OPENSSL_cleanse(passphrase, strlen(passphrase));
		free(passphrase);
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	certreg_close(reg);
	ca_close(&ca);
	config_free(c);
	return rc;
}

/* Where `cert sign` writes: --out, else pki/partners/ID.pem (or staff), with no key beside it
 * (a key of that name would pair with the new certificate by its name only). */
static int
sign_path(const struct opts *o, const struct config *c, enum certreg_kind kind, const char *name,
          char *pem, size_t n)
{
	char prefix[PATH_MAX], keypath[PATH_MAX + 8];

	if (o->out != NULL) {
		if (o->out[0] == '\0' || snprintf(pem, n, "%s", o->out) >= (int)n) {
			fprintf(stderr, "pdgate cert sign: --out: bad path\n");
			return -1;
		}
		return must_not_exist("sign", pem, "");
	}
	if (default_prefix(c, kind == CERTREG_STAFF, name, prefix, sizeof(prefix), "sign") < 0 ||
	    snprintf(pem, n, "%s.pem", prefix) >= (int)n)
		return -1;
	snprintf(keypath, sizeof(keypath), "%s.key", prefix);
	if (must_not_exist("sign", pem, ": give --out CERT.pem") < 0 ||
	    must_not_exist("sign", keypath, ": give --out CERT.pem") < 0)
		return -1;
	return 0;
}

static int
cmd_sign(int argc, char **argv)
{
	struct opts o;
	struct config *c = NULL;
	struct ca ca = {0};
	struct certreg *reg = NULL;
	char pem[PATH_MAX], fp[PKI_FINGERPRINT_LEN], err[PATH_MAX + 512];
	unsigned char *req = NULL;
	size_t len = 0;
	const char *name;
	EVP_PKEY *pub = NULL;
	X509 *cert = NULL;
	enum certreg_kind kind;
	unsigned days;
	int rc;

	rc = parse(argc, argv, OPT_PARTNER | OPT_STAFF_NAME | OPT_OUT | OPT_CSR, 0, usage_sign, &o);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if ((o.partner == NULL) == (o.staff_name == NULL)) {
		fprintf(stderr,
		        "pdgate cert sign: give exactly one of --partner ID or --staff NAME\n%s",
		        usage_sign);
		return 2;
	}
	if (o.csr == NULL) {
		fprintf(stderr, "pdgate cert sign: --csr REQ.pem is required\n%s", usage_sign);
		return 2;
	}
	kind = o.staff_name != NULL ? CERTREG_STAFF : CERTREG_PARTNER;
	name = kind == CERTREG_STAFF ? o.staff_name : o.partner;
	if (!ident_name_ok(name, strlen(name))) {
		fprintf(stderr, "pdgate cert sign: '%s': a %s must match " IDENT_NAME_PATTERN "\n",
		        name, kind == CERTREG_STAFF ? "staff name" : "partner id");
		return 2;
	}
	days = o.days_set ? o.days : PKI_DAYS_CLIENT;
	rc = 1;
	/* The request is untrusted: bounded, parsed and checked before anything else happens. */
	req = (unsigned char *)file_read(o.csr, CSR_MAX_BYTES, FILE_READ_NONEMPTY, &len, err,
	                                 sizeof(err));
	if (req == NULL) {
		fprintf(stderr, "pdgate cert sign: %s; refusing, nothing was issued\n", err);
		goto done;
	}
	if (csr_check(req, len, &pub, err, sizeof(err)) != CSR_OK) {
		fprintf(stderr, "pdgate cert sign: %s: %s; refusing, nothing was issued\n", o.csr,
		        err);
		goto done;
	}
	c = load_config(o.config);
	if (c == NULL || sign_path(&o, c, kind, name, pem, sizeof(pem)) < 0)
		goto done;
	if (ca_open(&ca, c, kind == CERTREG_STAFF) < 0 || ca_load_key(&ca) < 0)
		goto done;
	if ((reg = register_open(c, "sign")) == NULL)
		goto done;
	/* The certificate `cert issue` makes, for the requester's key: nothing else of the
	 * request reaches it. */
	cert = pki_issue(kind == CERTREG_STAFF ? PKI_PROFILE_STAFF : PKI_PROFILE_PARTNER, name, pub,
	                 ca.cert, ca.pkey, days, err, sizeof(err));
	if (cert == NULL || pki_fingerprint(cert, fp) < 0) {
		fprintf(stderr, "pdgate cert sign: %s\n", cert == NULL ? err : "fingerprint");
		goto done;
	}
	struct delivery d = {"sign", NULL, pem, NULL, NULL, NULL};
	if (deliver(reg, &d, cert, NULL, ca.cert, kind) < 0)
		goto done;
	fprintf(stderr,
	        "signed %s: wrote %s for %s %s, %u days, signed by the %s CA (the request's "
	        "subject and extensions are not used; the private key stays with its owner)\n",
	        o.csr, pem, certreg_kind_name(kind), name, days, ca.label);
	printf("%s\n", fp);
	rc = 0;
done:
	free(req);
	X509_free(cert);
	EVP_PKEY_free(pub);
	certreg_close(reg);
	ca_close(&ca);
	config_free(c);
	return rc;
}

/* Unix seconds as RFC 3339 UTC. */
static int
list_json(const struct certreg_row *rows, size_t n)
{
	json_t *all = json_array(), *doc;
	char nb[CAL_UTC_LEN], na[CAL_UTC_LEN], at[CAL_UTC_LEN];
	int rc;

	for (size_t i = 0; all != NULL && i < n; i++) {
		const struct certreg_row *r = &rows[i];
		cal_format_utc((time_t)r->not_before, nb);
		cal_format_utc((time_t)r->not_after, na);
		cal_format_utc((time_t)r->issued_at, at);
		json_array_append_new(
		    all,
		    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:o}", "serial", r->serial,
		              "kind", certreg_kind_name(r->kind), "name", r->name, "sha256",
		              r->sha256, "not_before", nb, "not_after", na, "revoked",
		              r->revoked < 0 ? json_null() : json_boolean(r->revoked), "how",
		              r->how, "issued_at", r->issued_at > 0 ? json_string(at) : json_null(),
		              "file", r->file != NULL ? json_string(r->file) : json_null()));
	}
	doc = all != NULL ? json_pack("{s:o}", "certificates", all) : NULL;
	rc = doc != NULL && json_dumpf(doc, stdout, JSON_COMPACT) == 0 ? 0 : -1;
	if (rc == 0)
		fputc('\n', stdout);
	json_decref(doc);
	return rc;
}

static int
list_table(const struct certreg_row *rows, size_t n)
{
	int wname = 4;
	char nb[CAL_UTC_LEN], na[CAL_UTC_LEN];

	for (size_t i = 0; i < n; i++)
		if ((int)strlen(rows[i].name) > wname)
			wname = (int)strlen(rows[i].name);
	printf("%-32s  %-7s  %-*s  %-71s  %-20s  %-20s  %s\n", "SERIAL", "KIND", wname, "NAME",
	       "SHA-256", "NOT BEFORE", "NOT AFTER", "REVOKED");
	for (size_t i = 0; i < n; i++) {
		const struct certreg_row *r = &rows[i];
		cal_format_utc((time_t)r->not_before, nb);
		cal_format_utc((time_t)r->not_after, na);
		printf("%-32s  %-7s  %-*s  %-71s  %-20s  %-20s  %s\n", r->serial,
		       certreg_kind_name(r->kind), wname, r->name, r->sha256, nb, na,
		       r->revoked > 0    ? "yes"
		       : r->revoked == 0 ? "no"
		                         : "unknown");
	}
	return fflush(stdout) == 0 ? 0 : -1;
}

static int
cmd_list(int argc, char **argv)
{
	struct opts o;
	struct config *c = NULL;
	struct certreg *reg = NULL;
	struct certreg_row *rows = NULL;
	size_t n = 0;
	char err[PATH_MAX + 512];
	int rc, listed;

	rc = parse(argc, argv, OPT_JSON, 0, usage_list, &o);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	rc = 1;
	c = load_config(o.config);
	if (c == NULL || (reg = register_open(c, "list")) == NULL)
		goto done;
	if ((listed = certreg_list(reg, &rows, &n, err, sizeof(err))) < 0) {
		fprintf(stderr, "pdgate cert list: %s\n", err);
		goto done;
	}
	if ((o.json ? list_json(rows, n) : list_table(rows, n)) < 0) {
		fprintf(stderr, "pdgate cert list: writing the list failed\n");
		goto done;
	}
	if (listed == 1) {
		fprintf(stderr, "pdgate cert list: %s\n", err);
		goto done;
	}
	rc = 0;
done:
	certreg_rows_free(rows, n);
	certreg_close(reg);
	config_free(c);
	return rc;
}

static int
cmd_revoke(int argc, char **argv)
{
	struct opts o;
	struct config *c = NULL;
	struct ca cas[2] = {{0}, {0}}, *ca = NULL;
	X509 *cert = NULL;
	char err[PATH_MAX + 256], fp[PKI_FINGERPRINT_LEN] = "", next[CAL_UTC_LEN];
	char serial[PKI_SERIAL_HEX_LEN] = "?";
	char *number = NULL;
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
	if (pki_serial_hex(cert, serial) < 0)
		snprintf(serial, sizeof(serial), "?");
	switch (
	    pki_crl_revoke(ca->crl, ca->cert, ca->pkey, cert, days, &number, err, sizeof(err))) {
	case PKI_REVOKE_DONE:
		date_in(days, next);
		printf("revoked %s (serial %s, %s) on the %s CA's CRL %s\n", o.positional[0],
		       serial, fp, ca->label, ca->crl);
		printf("CRL number %s, next update %s\n", number != NULL ? number : "?", next);
		printf("send SIGHUP to the gateway to apply it: kill -HUP <pid of pdgate serve>\n");
		rc = 0;
		break;
	case PKI_REVOKE_ALREADY:
		printf("%s (serial %s) is already on the %s CA's CRL %s; nothing changed\n",
		       o.positional[0], serial, ca->label, ca->crl);
		rc = 0;
		break;
	case PKI_REVOKE_ERROR:
		fprintf(stderr, "pdgate cert revoke: %s\n", err);
		break;
	}
done:
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
	char err[PATH_MAX + 256], next[CAL_UTC_LEN];
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
	date_in(days, next);
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
	} subs[] = {{"issue", cmd_issue},
	            {"sign", cmd_sign},
	            {"list", cmd_list},
	            {"revoke", cmd_revoke},
	            {"crl", cmd_crl}};

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
