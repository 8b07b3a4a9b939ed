/* init — the `pdgate init` command: a complete, self-contained installation in one step. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "config.h"
#include "ident.h"
#include "init.h"
#include "init_conf.h"
#include "members.h"
#include "origin.h"
#include "pki.h"
#include "share.h"
#include "stagedir.h"

#define DEFAULT_MEMBERS 1000UL
#define DEFAULT_SEED 1UL
#define DEFAULT_NAME "demo"
#define DEFAULT_PRODUCTION_NAME "production"
#define STAFF_NAME "officer"

/* Bounds on what is read from the share folder: it is ours, but a mistake must not hang init. */
#define MAX_CONTRACT_FILE (1L << 20)
#define MAX_CONTRACTS 1000
#define MAX_COPY_FILE (16L << 20)
#define MAX_COPY_DEPTH 8

static const char usage[] =
    "usage: pdgate init DIR [--members N] [--seed S] [--name NAME] [--share DIR]\n"
    "       pdgate init DIR --production --hostname HOST [--hostname HOST...] [--origin URL]\n"
    "                   [--state DIR] [--name NAME] [--share DIR]\n"
    "\n"
    "Creates a complete demo installation in DIR, which must not exist: the partner, staff and\n"
    "server CAs with their certificates and CRLs, a client certificate for each partner of the\n"
    "example contracts and one for the staff member 'officer', the ledger, token and pseudonym\n"
    "keys, the policies and contracts, a database of N synthetic members, and pdgate.conf.\n"
    "DIR is built beside itself and renamed into place: it is complete or absent.\n"
    "\n"
    "With --production, an installation for real use instead: the CAs and their CRLs, a server\n"
    "certificate for the given host names, the keys, the catalogs, an empty contracts folder\n"
    "and pdgate.conf; no demo partner, no staff certificate, no synthetic member. Its partner\n"
    "listener is on every address (0.0.0.0:8443); its compliance listener on 127.0.0.1:9443,\n"
    "where staff present a staff certificate as well as a token.\n"
    "\n"
    "  --members N    synthetic members (default 1000)\n"
    "  --seed S       seed of the synthetic members (default 1): the same seed, the same members\n"
    "  --name NAME    installation name (default demo; production with --production); the\n"
    "                 ledger origin is pdgate.local/NAME (with --production HOST/NAME, HOST the\n"
    "                 first host name)\n"
    "  --share DIR    where policies/, contracts/examples/ and the console are read (default\n"
    "                 $PDGATE_SHARE, else PREFIX/share/pdgate for PREFIX/bin/pdgate, else the\n"
    "                 source tree holding bin/pdgate)\n"
    "  --production   an installation for real use (above)\n"
    "  --hostname HOST  a DNS name or an IP address by which partners reach the gateway: the\n"
    "                 server certificate names exactly these; repeat for each (1 to 32)\n"
    "  --origin URL   the member system, https://host/base (http:// only to this machine), or\n"
    "                 sqlite:PATH; default an empty embedded member database, members.db\n"
    "  --state DIR    an existing folder for the files the gateway writes (ledger.db,\n"
    "                 state.db), as /var/lib/pdgate under systemd; default DIR itself\n";

struct init_opts {
	const char *dir, *share, *name;
	unsigned long members, seed;
	int synthetic;                    /* --members or --seed was given */
	int production;                   /* --production */
	const char *origin;               /* --origin URL; NULL: an empty members.db */
	const char *state;                /* --state DIR; NULL: the installation's own folder */
	const char *hosts[PKI_MAX_HOSTS]; /* --hostname, lower-cased, pointing into host_buf */
	size_t nhosts;
	char host_buf[PKI_MAX_HOSTS][256];
};

__attribute__((format(printf, 1, 2))) static void
fail_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("pdgate init: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* a + "/" + b into out (PATH_MAX); -1 with a message if too long. */
static int
pjoin(char *out, const char *a, const char *b)
{
	if (snprintf(out, PATH_MAX, "%s/%s", a, b) >= PATH_MAX) {
		fail_msg("%s/%s: path too long", a, b);
		return -1;
	}
	return 0;
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int
parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* One --hostname: lower-cased, checked, not given twice. 0, or -1 with a message. */
static int
add_host(struct init_opts *o, const char *v)
{
	size_t n = strlen(v);
	char *h;

	if (o->nhosts == PKI_MAX_HOSTS) {
		fail_msg("--hostname: at most %d", PKI_MAX_HOSTS);
		return -1;
	}
	if (n >= sizeof(o->host_buf[0])) {
		fail_msg("--hostname '%.64s...': longer than a host name can be", v);
		return -1;
	}
	h = o->host_buf[o->nhosts];
	for (size_t i = 0; i <= n; i++)
		h[i] = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] - 'A' + 'a') : v[i];
	if (pki_host_kind(h) == PKI_HOST_BAD) {
		fail_msg("--hostname '%s': neither a host name (letters, digits and hyphens in "
		         "dot-separated labels, no wildcard, no trailing dot) nor an IP address",
		         v);
		return -1;
	}
	for (size_t i = 0; i < o->nhosts; i++) {
		if (strcmp(o->hosts[i], h) == 0) {
			fail_msg("--hostname '%s' is given twice", v);
			return -1;
		}
	}
	o->hosts[o->nhosts++] = h;
	return 0;
}

/* A value that goes into pdgate.conf as it is: printable ASCII, no blank at either end. */
static int
conf_value_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || v[0] == ' ' || v[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
			return 0;
	return 1;
}

/* --origin, as far as it can be checked before anything is made: the configuration's own
 * parser checks the rest once pdgate.conf is written (the one URL grammar). */
static int
check_origin(const char *url)
{
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "sqlite:", 7) != 0) {
		fail_msg("--origin '%s': not https://HOST/BASE, http://127.0.0.1:PORT/BASE or "
		         "sqlite:PATH",
		         url);
		return -1;
	}
	if (!conf_value_ok(url) || strchr(url, ' ') != NULL) {
		fail_msg("--origin '%s': a blank, a control or a non-ASCII character", url);
		return -1;
	}
	if (origin_cleartext_remote(url)) {
		fail_msg("--origin '%s': plain http:// is allowed only to this machine; a remote "
		         "member system needs https:// (member records are personal data)",
		         url);
		return -1;
	}
	return 0;
}

/* --state: an existing folder, named absolutely, that holds no ledger yet. */
static int
check_state(const char *dir)
{
	static const char *const mine[] = {"ledger.db", "state.db"};
	char p[PATH_MAX];

	if (dir[0] != '/' || !conf_value_ok(dir)) {
		fail_msg("--state '%s': an absolute path of printable characters", dir);
		return -1;
	}
	if (!is_dir(dir)) {
		fail_msg("--state %s: not an existing folder (create it first, owned by the user "
		         "the gateway runs as)",
		         dir);
		return -1;
	}
	for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
		struct stat st;
		if (pjoin(p, dir, mine[i]) < 0)
			return -1;
		if (lstat(p, &st) == 0) {
			fail_msg(
			    "--state %s already holds %s: another installation's; not taking it "
			    "over",
			    dir, mine[i]);
			return -1;
		}
	}
	return 0;
}

/* Returns 0 to go on, 1 after --help, 2 on a usage error. */
static int
parse_args(int argc, char **argv, struct init_opts *o)
{
	o->dir = NULL;
	o->share = NULL;
	o->name = DEFAULT_NAME;
	o->members = DEFAULT_MEMBERS;
	o->seed = DEFAULT_SEED;
	o->synthetic = o->production = 0;
	o->origin = o->state = NULL;
	o->nhosts = 0;
	int named = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		static const char *const with_value[] = {"--members", "--seed",     "--name",
		                                         "--share",   "--hostname", "--origin",
		                                         "--state"};
		size_t k;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage, stdout);
			return 1;
		}
		if (strcmp(a, "--production") == 0) {
			o->production = 1;
			continue;
		}
		for (k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
			size_t n = strlen(with_value[k]);
			if (strcmp(a, with_value[k]) == 0) {
				if (i + 1 >= argc) {
					fail_msg("option '%s' needs a value", a);
					return 2;
				}
				v = argv[++i];
				break;
			}
			if (strncmp(a, with_value[k], n) == 0 && a[n] == '=') {
				v = a + n + 1;
				break;
			}
		}
		switch (k) {
		case 0:
			if (parse_ulong(v, MEMBERS_MAX, &o->members) < 0) {
				fail_msg("--members '%s': a number 0..%lu", v, MEMBERS_MAX);
				return 2;
			}
			o->synthetic = 1;
			continue;
		case 1:
			if (parse_ulong(v, ULONG_MAX, &o->seed) < 0) {
				fail_msg("--seed '%s': a non-negative number", v);
				return 2;
			}
			o->synthetic = 1;
			continue;
		case 2:
			if (!ident_name_ok(v, strlen(v))) {
				fail_msg("--name '%s': must match " IDENT_NAME_PATTERN, v);
				return 2;
			}
			o->name = v;
			named = 1;
			continue;
		case 3:
			o->share = v;
			continue;
		case 4:
			if (add_host(o, v) < 0)
				return 2;
			continue;
		case 5:
			o->origin = v;
			continue;
		case 6:
			o->state = v;
			continue;
		default:
			break;
		}
		if (a[0] == '-' && a[1] != '\0') {
			fail_msg("unknown option '%s'\n%s", a, usage);
			return 2;
		}
		if (o->dir != NULL) {
			fail_msg("one DIR only ('%s' and '%s')", o->dir, a);
			return 2;
		}
		o->dir = a;
	}
	if (o->dir == NULL || o->dir[0] == '\0') {
		fputs(usage, stderr);
		return 2;
	}
	if (!o->production) {
		if (o->nhosts > 0 || o->origin != NULL || o->state != NULL) {
			fail_msg(
			    "--hostname, --origin and --state are for a production installation: "
			    "add --production");
			return 2;
		}
		return 0;
	}
	if (o->synthetic) {
		fail_msg("--members and --seed make synthetic members; a production installation "
		         "has none");
		return 2;
	}
	if (o->nhosts == 0) {
		fail_msg("--production needs --hostname HOST: the DNS name or address partners "
		         "connect to (repeat it for each)");
		return 2;
	}
	if (!named)
		o->name = DEFAULT_PRODUCTION_NAME;
	return 0;
}

static int
json_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The distinct partner ids of the example contracts, sorted (caller frees each and the array). */
static char **
load_partners(const char *examples, size_t *count)
{
	struct dirent **ents = NULL;
	char **ids = NULL;
	size_t nids = 0;
	int n = scandir(examples, &ents, json_name, alphasort), ok = 0;

	if (n < 0) {
		fail_msg("%s: %s", examples, strerror(errno));
		return NULL;
	}
	if (n == 0) {
		fail_msg("%s holds no contract (*.json); the demo needs the example contracts",
		         examples);
		goto done;
	}
	if (n > MAX_CONTRACTS) {
		fail_msg("%s: more than %d contracts", examples, MAX_CONTRACTS);
		goto done;
	}
	ids = calloc((size_t)n, sizeof(*ids));
	if (ids == NULL) {
		fail_msg("out of memory");
		goto done;
	}
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		json_error_t jerr;
		json_t *root = NULL;
		const char *partner;
		struct stat st;
		int dup = 0;

		if (pjoin(path, examples, ents[i]->d_name) < 0)
			goto done;
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_CONTRACT_FILE) {
			fail_msg("%s: not a regular file of at most %ld bytes", path,
			         MAX_CONTRACT_FILE);
			goto done;
		}
		root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (root == NULL) {
			fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
			goto done;
		}
		partner = json_string_value(json_object_get(root, "partner"));
		if (partner == NULL || !ident_name_ok(partner, strlen(partner))) {
			fail_msg("%s: $.partner: a partner id matching " IDENT_NAME_PATTERN
			         " is required",
			         path);
			json_decref(root);
			goto done;
		}
		for (size_t k = 0; k < nids; k++)
			dup |= strcmp(ids[k], partner) == 0;
		if (!dup && (ids[nids++] = strdup(partner)) == NULL) {
			json_decref(root);
			fail_msg("out of memory");
			goto done;
		}
		json_decref(root);
	}
	qsort(ids, nids, sizeof(*ids), str_cmp);
	*count = nids;
	ok = 1;
done:
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	if (!ok && ids != NULL) {
		for (size_t k = 0; k < nids; k++)
			free(ids[k]);
		free(ids);
		ids = NULL;
	}
	return ids;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int
copy_file(const char *src, const char *dst)
{
	int in = -1, out = -1, rc = -1;
	struct stat st;
	char buf[65536];
	ssize_t n;

	/* O_NONBLOCK: a FIFO among the files must fail the check below, not hang the open. */
	in = open(src, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		fail_msg("%s: %s", src, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_COPY_FILE) {
		fail_msg("%s: not a regular file of at most %ld bytes", src, MAX_COPY_FILE);
		goto done;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (out < 0) {
		fail_msg("%s: %s", dst, strerror(errno));
		goto done;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write_all(out, buf, (size_t)n) < 0) {
			fail_msg("copying %s: %s", src, strerror(errno));
			goto done;
		}
	}
	if (fsync(out) < 0) {
		fail_msg("%s: %s", dst, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0 && rc == 0) {
		fail_msg("%s: %s", dst, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* Copies the regular files (all, or only *.json) and sub-folders of src into dst, which exists.
 * Hidden entries are skipped. Counts the files into *copied. */
static int
copy_tree(const char *src, const char *dst, int json_only, int depth, unsigned *copied)
{
	struct dirent **ents = NULL;
	int n = scandir(src, &ents, NULL, alphasort), rc = 0;

	if (n < 0) {
		fail_msg("%s: %s", src, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		const char *name = ents[i]->d_name;
		char s[PATH_MAX], d[PATH_MAX];
		size_t len = strlen(name);

		if (name[0] == '.')
			continue;
		if (pjoin(s, src, name) < 0 || pjoin(d, dst, name) < 0) {
			rc = -1;
			break;
		}
		if (is_dir(s)) {
			if (json_only)
				continue;
			if (depth >= MAX_COPY_DEPTH) {
				fail_msg("%s: folders nested too deep", s);
				rc = -1;
			} else if (mkdir(d, 0755) < 0) {
				fail_msg("%s: %s", d, strerror(errno));
				rc = -1;
			} else {
				rc = copy_tree(s, d, json_only, depth + 1, copied);
			}
		} else if (!json_only || (len > 5 && strcmp(name + len - 5, ".json") == 0)) {
			rc = copy_file(s, d);
			if (rc == 0)
				(*copied)++;
		}
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return rc;
}

static int
make_dir(const char *base, const char *sub, mode_t mode)
{
	char path[PATH_MAX];

	if (pjoin(path, base, sub) < 0)
		return -1;
	if (mkdir(path, mode) < 0) {
		fail_msg("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
write_conf(const char *root, const struct init_opts *o, const char *ledger_origin)
{
	char path[PATH_MAX], stamp[32], state[PATH_MAX + 2] = "";
	char *text = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int fd = -1, rc = -1;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (pjoin(path, root, "pdgate.conf") < 0)
		return -1;
	if (o->state != NULL)
		snprintf(state, sizeof(state), "%s/", o->state);
	struct init_conf_vars v = {o->name, stamp, state,
	                           o->origin != NULL ? o->origin : "sqlite:members.db",
	                           ledger_origin};
	text = init_conf_text(o->production, &v);
	if (text == NULL) {
		fail_msg("out of memory");
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		fail_msg("%s: %s", path, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	if (fd >= 0 && close(fd) < 0 && rc == 0) {
		fail_msg("%s: %s", path, strerror(errno));
		rc = -1;
	}
	free(text);
	return rc;
}

/*
 * The checkpoints' origin and the tokens' issuer: pdgate.local/NAME for a demo; for production
 * the first DNS name given, so that the log's name says whose it is (C2SP asks for a
 * schema-less URL), or pdgate.local when only addresses were given.
 */
static void
ledger_origin(const struct init_opts *o, char *out, size_t len)
{
	const char *host = "pdgate.local";

	for (size_t i = 0; o->production && i < o->nhosts; i++) {
		if (pki_host_kind(o->hosts[i]) == PKI_HOST_DNS) {
			host = o->hosts[i];
			break;
		}
	}
	snprintf(out, len, "%s/%s", host, o->name);
}

/* The server certificate's CN: the first host that fits in one (64 characters). */
static const char *
server_cn(const struct init_opts *o)
{
	for (size_t i = 0; i < o->nhosts; i++)
		if (strlen(o->hosts[i]) <= 64)
			return o->hosts[i];
	return "pdgate server";
}

/* What build() made, for the summary. */
struct made {
	char (*fingerprints)[PKI_FINGERPRINT_LEN]; /* one per partner */
	char staff_fp[PKI_FINGERPRINT_LEN];
	unsigned policies, contracts, ui;
};

/* Makes the whole installation inside root (an empty folder). 0, or -1 with a message. */
static int
build(const char *root, const char *share, const struct init_opts *o, char **partners,
      size_t npartners, struct made *m)
{
	char p[PATH_MAX], q[PATH_MAX], err[PATH_MAX + 256], origin[320];
	X509 *pca = NULL, *sca = NULL, *vca = NULL;
	EVP_PKEY *pkey = NULL, *skey = NULL, *vkey = NULL, *k = NULL;
	int rc = -1;

	if (make_dir(root, "pki", 0755) < 0 || make_dir(root, "pki/partners", 0755) < 0 ||
	    make_dir(root, "pki/staff", 0755) < 0 || make_dir(root, "keys", 0700) < 0 ||
	    make_dir(root, "policies", 0755) < 0 || make_dir(root, "contracts", 0755) < 0)
		goto done;

	/* Three CAs: a partner certificate can never pass as staff, nor the server as a client. */
	snprintf(origin, sizeof(origin), "pdgate %s partner CA", o->name);
	if (pjoin(p, root, "pki/partner-ca") < 0 ||
	    pki_make_ca(p, origin, 1, &pca, &pkey, err, sizeof(err)) < 0)
		goto pki_fail;
	snprintf(origin, sizeof(origin), "pdgate %s staff CA", o->name);
	if (pjoin(p, root, "pki/staff-ca") < 0 ||
	    pki_make_ca(p, origin, 1, &sca, &skey, err, sizeof(err)) < 0)
		goto pki_fail;
	snprintf(origin, sizeof(origin), "pdgate %s server CA", o->name);
	if (pjoin(p, root, "pki/server-ca") < 0 ||
	    pki_make_ca(p, origin, 0, &vca, &vkey, err, sizeof(err)) < 0)
		goto pki_fail;
	if (pjoin(p, root, "pki/server") < 0 ||
	    (o->production ? pki_make_server(p, server_cn(o), o->hosts, o->nhosts, vca, vkey,
	                                     PKI_DAYS_SERVER, err, sizeof(err))
	                   : pki_make_leaf(p, PKI_PROFILE_SERVER, "localhost", vca, vkey,
	                                   PKI_DAYS_SERVER, NULL, err, sizeof(err))) < 0)
		goto pki_fail;
	for (size_t i = 0; i < npartners; i++) {
		if (snprintf(q, sizeof(q), "pki/partners/%s", partners[i]) >= (int)sizeof(q) ||
		    pjoin(p, root, q) < 0 ||
		    pki_make_leaf(p, PKI_PROFILE_PARTNER, partners[i], pca, pkey, PKI_DAYS_CLIENT,
		                  m->fingerprints[i], err, sizeof(err)) < 0)
			goto pki_fail;
	}
	/* A production installation's staff get their certificates by name, with pdgate cert. */
	if (!o->production && (pjoin(p, root, "pki/staff/" STAFF_NAME) < 0 ||
	                       pki_make_leaf(p, PKI_PROFILE_STAFF, STAFF_NAME, sca, skey,
	                                     PKI_DAYS_CLIENT, m->staff_fp, err, sizeof(err)) < 0))
		goto pki_fail;

	/* Keys of the gateway itself. */
	ledger_origin(o, origin, sizeof(origin));
	k = pki_key_ed25519();
	if (k == NULL) {
		snprintf(err, sizeof(err), "generating the ledger key");
		goto pki_fail;
	}
	if (pjoin(p, root, "keys/ledger.key") < 0 || pki_key_write(p, k, err, sizeof(err)) < 0 ||
	    pjoin(p, root, "keys/ledger.vkey") < 0 ||
	    pki_vkey_write(p, origin, k, err, sizeof(err)) < 0)
		goto pki_fail;
	EVP_PKEY_free(k);
	k = pki_key_ec();
	if (k == NULL) {
		snprintf(err, sizeof(err), "generating the token key");
		goto pki_fail;
	}
	if (pjoin(p, root, "keys/token.key") < 0 || pki_key_write(p, k, err, sizeof(err)) < 0 ||
	    pjoin(p, root, "keys/token.pub") < 0 || pki_pub_write(p, k, err, sizeof(err)) < 0)
		goto pki_fail;
	if (pjoin(p, root, "keys/pseudonym.key") < 0 || pki_secret_write(p, err, sizeof(err)) < 0)
		goto pki_fail;

	/* The catalogs and contracts, so that the installation stands on its own. */
	if (pjoin(p, share, "policies") < 0 || pjoin(q, root, "policies") < 0 ||
	    copy_tree(p, q, 0, 0, &m->policies) < 0)
		goto done;
	/* A production installation starts with no contract: each is the association's own. */
	if (!o->production &&
	    (pjoin(p, share, "contracts/examples") < 0 || pjoin(q, root, "contracts") < 0 ||
	     copy_tree(p, q, 1, 0, &m->contracts) < 0))
		goto done;
	/* The compliance console: served from the installation, so that it works offline. */
	if (make_dir(root, "ui", 0755) < 0 || pjoin(q, root, "ui") < 0 ||
	    (share_ui(share, p, sizeof(p), err, sizeof(err)) == 0 &&
	     copy_tree(p, q, 0, 0, &m->ui) < 0))
		goto done;

	/* The embedded origin: synthetic members for a demo; for production an empty database,
	 * unless the members come from --origin. */
	if (!o->production || o->origin == NULL) {
		if (pjoin(p, root, "members.db") < 0)
			goto done;
		if (members_generate(p, o->production ? 0 : o->members, o->seed, err, sizeof(err)) <
		    0) {
			fail_msg("members.db: %s", err);
			goto done;
		}
	}
	/* Written last: a configuration only ever names files that exist. */
	if (write_conf(root, o, origin) < 0)
		goto done;
	rc = 0;
	goto done;
pki_fail:
	fail_msg("%s", err);
done:
	EVP_PKEY_free(k);
	X509_free(pca);
	X509_free(sca);
	X509_free(vca);
	EVP_PKEY_free(pkey);
	EVP_PKEY_free(skey);
	EVP_PKEY_free(vkey);
	return rc;
}

/*
 * Creates the missing parents of dir (like mkdir -p), recording them in created[] (deepest
 * last) so that a failed init can take them away again.
 */
static int
make_parents(const char *dir, char created[][PATH_MAX], int *ncreated, int max)
{
	char path[PATH_MAX];
	char *slash;

	snprintf(path, sizeof(path), "%s", dir);
	slash = strrchr(path, '/');
	if (slash == NULL || slash == path)
		return 0;
	*slash = '\0';
	if (is_dir(path))
		return 0;
	if (make_parents(path, created, ncreated, max) < 0)
		return -1;
	if (mkdir(path, 0755) < 0) {
		if (errno == EEXIST && is_dir(path))
			return 0;
		fail_msg("%s: %s", path, strerror(errno));
		return -1;
	}
	if (*ncreated < max)
		snprintf(created[(*ncreated)++], PATH_MAX, "%s", path);
	return 0;
}

static void
row(const char *left, const char *right)
{
	printf("  %-40s %s\n", left, right);
}

static void
summary(const char *dir, const struct init_opts *o, char **partners, size_t npartners,
        const struct made *m)
{
	char l[PATH_MAX], r[256];

	printf("created %s (installation '%s', mode 0700):\n", dir, o->name);
	row("pdgate.conf", "configuration (paths relative to it)");
	row("pki/partner-ca.pem .key .crl", "CA of partner client certificates, its CRL");
	row("pki/staff-ca.pem .key .crl", "CA of compliance staff certificates, its CRL");
	row("pki/server-ca.pem .key", "CA of the server certificate: what clients trust");
	row("pki/server.pem .key", "server certificate for localhost, 127.0.0.1, ::1");
	for (size_t i = 0; i < npartners; i++) {
		snprintf(l, sizeof(l), "pki/partners/%s.pem .key", partners[i]);
		snprintf(r, sizeof(r), "partner %s", m->fingerprints[i]);
		row(l, r);
	}
	snprintf(r, sizeof(r), "staff %s", m->staff_fp);
	row("pki/staff/" STAFF_NAME ".pem .key", r);
	snprintf(r, sizeof(r), "Ed25519 checkpoint key, verifier key of pdgate.local/%s", o->name);
	row("keys/ledger.key .vkey", r);
	row("keys/token.key .pub", "ES256 token key");
	row("keys/pseudonym.key", "pseudonym secret");
	snprintf(r, sizeof(r), "%u catalog file(s)", m->policies);
	row("policies/", r);
	snprintf(r, sizeof(r), "%u contract(s)", m->contracts);
	row("contracts/", r);
	snprintf(r, sizeof(r), "%u file(s) of the compliance console", m->ui);
	row("ui/", r);
	snprintf(r, sizeof(r), "%lu synthetic member(s), seed %lu", o->members, o->seed);
	row("members.db", r);
	printf("\nnext:\n");
	printf("  pdgate serve -c %s/pdgate.conf\n", dir);
	if (npartners > 0)
		printf("  curl --cacert %s/pki/server-ca.pem --cert %s/pki/partners/%s.pem "
		       "--key %s/pki/partners/%s.key https://127.0.0.1:8443/v1/whoami\n",
		       dir, dir, partners[0], dir, partners[0]);
	printf("  the CRLs expire in %d days: renew them with 'pdgate cert crl -c %s/pdgate.conf' "
	       "(and --staff)\n",
	       PKI_DAYS_CRL, dir);
}

static void
summary_production(const char *dir, const struct init_opts *o, const struct made *m)
{
	char r[PATH_MAX + 64], hosts[PKI_MAX_HOSTS * 256 + 1] = "", origin[320];
	size_t n = 0;

	for (size_t i = 0; i < o->nhosts && n < sizeof(hosts); i++)
		n += (size_t)snprintf(hosts + n, sizeof(hosts) - n, "%s%s", i ? ", " : "",
		                      o->hosts[i]);
	ledger_origin(o, origin, sizeof(origin));
	printf("created %s (production installation '%s', mode 0700):\n", dir, o->name);
	row("pdgate.conf", "configuration (paths relative to it)");
	row("pki/partner-ca.pem .key .crl", "CA of partner client certificates, its CRL");
	row("pki/staff-ca.pem .key .crl", "CA of compliance staff certificates, its CRL");
	row("pki/server-ca.pem .key", "CA of the server certificate: what clients trust");
	snprintf(r, sizeof(r), "server certificate for %s", hosts);
	row("pki/server.pem .key", r);
	row("pki/partners/ pki/staff/", "empty: pdgate cert issue puts certificates here");
	snprintf(r, sizeof(r), "Ed25519 checkpoint key, verifier key of %s", origin);
	row("keys/ledger.key .vkey", r);
	row("keys/token.key .pub", "ES256 token key");
	row("keys/pseudonym.key", "pseudonym secret");
	snprintf(r, sizeof(r), "%u catalog file(s)", m->policies);
	row("policies/", r);
	row("contracts/", "empty: each partner's contract goes here (docs/contracts.md)");
	snprintf(r, sizeof(r), "%u file(s) of the compliance console", m->ui);
	row("ui/", r);
	if (o->origin == NULL)
		row("members.db", "the embedded member database, empty (table members)");
	else
		row("origin", o->origin);
	snprintf(r, sizeof(r), "written by the gateway, in %s", o->state != NULL ? o->state : dir);
	row("ledger.db state.db", r);
	printf("\nnext:\n");
	printf("  pdgate cert issue -c %s/pdgate.conf --partner ID    (each partner)\n", dir);
	printf("  pdgate cert issue -c %s/pdgate.conf --staff NAME    (each privacy officer)\n",
	       dir);
	printf("  pdgate contract check --policies %s/policies CONTRACT.json, then copy it to "
	       "%s/contracts/\n",
	       dir, dir);
	printf("  pdgate serve -n -c %s/pdgate.conf\n", dir);
	printf(
	    "  keep the CA keys (pki/*-ca.key) off this machine once the certificates are "
	    "issued, and re-sign the CRLs within %d days (pdgate-crl.timer): docs/operations.md\n",
	    PKI_DAYS_CRL);
}

/*
 * Loads the configuration just written with the parser serve uses, so that init never leaves
 * an installation that serve would refuse for its configuration (an --origin URL without a
 * host, say). 0, or -1 with every error printed.
 */
static int
check_conf(const char *root, const char *dir, const struct init_opts *o)
{
	char path[PATH_MAX], *errors = NULL;
	struct config *c;
	int rc = 0;

	if (pjoin(path, root, "pdgate.conf") < 0)
		return -1;
	c = config_load(path, &errors);
	if (c == NULL) {
		/* the messages name the folder being built; say the one the user asked for */
		size_t n = strlen(root);
		fputs("pdgate init: the configuration does not load:\n", stderr);
		for (const char *e = errors, *at; e != NULL && *e != '\0'; e = at + n) {
			if ((at = strstr(e, root)) == NULL) {
				fputs(e, stderr);
				break;
			}
			fprintf(stderr, "%.*s%s", (int)(at - e), e, dir);
		}
		free(errors);
		return -1;
	}
	/* an http(s) URL is taken as it is: what was given must be what was read back */
	if (o->origin != NULL && strncmp(o->origin, "sqlite:", 7) != 0 &&
	    strcmp(c->origin.url, o->origin) != 0) {
		fail_msg("--origin '%s' reads back as '%s'", o->origin, c->origin.url);
		rc = -1;
	}
	config_free(c);
	return rc;
}

int
init_main(int argc, char **argv)
{
	struct init_opts o;
	char dir[PATH_MAX], share[PATH_MAX], p[PATH_MAX], tmp[PATH_MAX];
	char created[16][PATH_MAX];
	int ncreated = 0, rc, have_tmp = 0;
	char **partners = NULL;
	size_t npartners = 0, len;
	struct made m;
	struct stat st;

	memset(&m, 0, sizeof(m));
	rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	rc = 1;
	if (snprintf(dir, sizeof(dir), "%s", o.dir) >= (int)sizeof(dir) - 16) {
		fail_msg("DIR: path too long");
		return 1;
	}
	for (len = strlen(dir); len > 1 && dir[len - 1] == '/'; len--)
		dir[len - 1] = '\0';
	if (lstat(dir, &st) == 0) {
		fail_msg("%s already exists; pdgate init never overwrites an installation", dir);
		return 1;
	}

	/* Everything that can be checked is checked before anything is made. */
	if (o.origin != NULL && check_origin(o.origin) < 0)
		return 1;
	if (o.state != NULL && check_state(o.state) < 0)
		return 1;
	if (share_dir(o.share, share, sizeof(share), p, sizeof(p)) < 0) {
		fail_msg("%s; give --share DIR", p);
		return 1;
	}
	if (pjoin(p, share, "policies") < 0)
		return 1;
	if (!is_dir(p)) {
		fail_msg("%s: no policies/ folder in the share folder %s (set --share DIR or "
		         "PDGATE_SHARE to the pdgate repository)",
		         p, share);
		return 1;
	}
	{
		static const char *const need[] = {"policies/purposes.json",
		                                   "policies/fields.json"};
		for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
			if (pjoin(p, share, need[i]) < 0)
				return 1;
			if (!is_file(p)) {
				fail_msg("%s is missing from the share folder %s", need[i], share);
				return 1;
			}
		}
	}
	/* The demo's partners are those of the example contracts; production has none. */
	if (!o.production) {
		if (pjoin(p, share, "contracts/examples") < 0)
			return 1;
		if (!is_dir(p)) {
			fail_msg("%s: no contracts/examples/ folder in the share folder %s", p,
			         share);
			return 1;
		}
		partners = load_partners(p, &npartners);
		if (partners == NULL)
			return 1;
	}
	m.fingerprints = calloc(npartners > 0 ? npartners : 1, sizeof(*m.fingerprints));
	if (m.fingerprints == NULL) {
		fail_msg("out of memory");
		goto done;
	}

	if (make_parents(dir, created, &ncreated, (int)(sizeof(created) / sizeof(created[0]))) < 0)
		goto done;
	if (stagedir_create(dir, tmp, sizeof(tmp)) < 0) {
		fail_msg("%s.tmp-*: %s", dir, strerror(errno));
		goto done;
	}
	have_tmp = 1;
	if (build(tmp, share, &o, partners, npartners, &m) < 0 || check_conf(tmp, dir, &o) < 0)
		goto done;
	if (stagedir_commit(tmp, dir) < 0) {
		fail_msg("%s: %s", dir,
		         errno == EEXIST ? "appeared meanwhile; not overwriting it"
		                         : strerror(errno));
		goto done;
	}
	have_tmp = 0;
	if (o.production)
		summary_production(dir, &o, &m);
	else
		summary(dir, &o, partners, npartners, &m);
	rc = 0;
done:
	if (have_tmp)
		stagedir_remove(tmp);
	if (rc != 0) {
		for (int i = ncreated - 1; i >= 0; i--)
			rmdir(created[i]);
		fail_msg("nothing was created");
	}
	for (size_t i = 0; i < npartners; i++)
		free(partners[i]);
	free(partners);
	free(m.fingerprints);
	return rc;
}
