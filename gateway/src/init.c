/* init — the `pdgate init` command: a complete, self-contained demo installation in one step. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "init.h"
#include "members.h"
#include "pki.h"

#define DEFAULT_MEMBERS 1000UL
#define DEFAULT_SEED 1UL
#define DEFAULT_NAME "demo"
#define STAFF_NAME "officer"

/* Bounds on what is read from the share folder: it is ours, but a mistake must not hang init. */
#define MAX_CONTRACT_FILE (1L << 20)
#define MAX_CONTRACTS 1000
#define MAX_COPY_FILE (16L << 20)
#define MAX_COPY_DEPTH 8

static const char usage[] =
    "usage: pdgate init DIR [--members N] [--seed S] [--name NAME] [--share DIR]\n"
    "\n"
    "Creates a complete demo installation in DIR, which must not exist: the partner, staff and\n"
    "server CAs with their certificates and CRLs, a client certificate for each partner of the\n"
    "example contracts and one for the staff member 'officer', the ledger, token and pseudonym\n"
    "keys, the policies and contracts, a database of N synthetic members, and pdgate.conf.\n"
    "DIR is built beside itself and renamed into place: it is complete or absent.\n"
    "\n"
    "  --members N   synthetic members (default 1000)\n"
    "  --seed S      seed of the synthetic members (default 1): the same seed, the same members\n"
    "  --name NAME   installation name (default demo); the ledger origin is pdgate.local/NAME\n"
    "  --share DIR   where policies/ and contracts/examples/ are read (default $PDGATE_SHARE,\n"
    "                else the folder above the one holding the pdgate binary)\n";

struct init_opts {
	const char *dir, *share, *name;
	unsigned long members, seed;
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

/* Returns 0 to go on, 1 after --help, 2 on a usage error. */
static int
parse_args(int argc, char **argv, struct init_opts *o)
{
	o->dir = NULL;
	o->share = NULL;
	o->name = DEFAULT_NAME;
	o->members = DEFAULT_MEMBERS;
	o->seed = DEFAULT_SEED;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		static const char *const with_value[] = {"--members", "--seed", "--name",
		                                         "--share"};
		size_t k;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage, stdout);
			return 1;
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
			continue;
		case 1:
			if (parse_ulong(v, ULONG_MAX, &o->seed) < 0) {
				fail_msg("--seed '%s': a non-negative number", v);
				return 2;
			}
			continue;
		case 2:
			if (!pki_name_valid(v)) {
				fail_msg("--name '%s': must match ^[a-z0-9][a-z0-9-]{0,62}$", v);
				return 2;
			}
			o->name = v;
			continue;
		case 3:
			o->share = v;
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
	return 0;
}

/* The share folder: --share, else $PDGATE_SHARE, else the parent of the binary's folder. */
static int
find_share(const char *opt, char *out)
{
	const char *env = getenv("PDGATE_SHARE");
	char exe[PATH_MAX];
	ssize_t n;

	if (opt != NULL || (env != NULL && env[0] != '\0')) {
		if (snprintf(out, PATH_MAX, "%s", opt != NULL ? opt : env) >= PATH_MAX) {
			fail_msg("share folder path too long");
			return -1;
		}
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		fail_msg("cannot find the running binary (%s); give --share DIR", strerror(errno));
		return -1;
	}
	exe[n] = '\0';
	/* bin/pdgate -> bin -> the repository root */
	snprintf(out, PATH_MAX, "%s", dirname(dirname(exe)));
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
		if (partner == NULL || !pki_name_valid(partner)) {
			fail_msg(
			    "%s: $.partner: a partner id matching ^[a-z0-9][a-z0-9-]{0,62}$ is "
			    "required",
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
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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
write_conf(const char *root, const char *name)
{
	char path[PATH_MAX], stamp[32];
	char *text = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int fd, rc = -1, len;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (pjoin(path, root, "pdgate.conf") < 0)
		return -1;
	len = asprintf(&text,
	               "; pdgate.conf of the '%s' installation, written by pdgate init on %s.\n"
	               "; Paths are relative to the folder of this file.\n"
	               "[gateway]\n"
	               "name = %s\n"
	               "state = state.db\n"
	               "[partner]\n"
	               "listen = 127.0.0.1:8443\n"
	               "cert = pki/server.pem\n"
	               "key = pki/server.key\n"
	               "client_ca = pki/partner-ca.pem\n"
	               "crl = pki/partner-ca.crl\n"
	               "max_connections = 1024\n"
	               "[compliance]\n"
	               "listen = 127.0.0.1:9443\n"
	               "cert = pki/server.pem\n"
	               "key = pki/server.key\n"
	               "staff_ca = pki/staff-ca.pem\n"
	               "staff_crl = pki/staff-ca.crl\n"
	               "require_client_cert = false\n"
	               "ui = ui\n"
	               "[origin]\n"
	               "url = sqlite:members.db\n"
	               "timeout_ms = 2000\n"
	               "max_record_bytes = 1048576\n"
	               "; client_cert, client_key, ca: for an https origin\n"
	               "[policy]\n"
	               "purposes = policies/purposes.json\n"
	               "fields = policies/fields.json\n"
	               "contracts = contracts\n"
	               "[ledger]\n"
	               "path = ledger.db\n"
	               "origin = pdgate.local/%s\n"
	               "key = keys/ledger.key\n"
	               "checkpoint_interval_ms = 1000\n"
	               "[tokens]\n"
	               "issuer = pdgate.local/%s\n"
	               "key = keys/token.key\n"
	               "[keys]\n"
	               "pseudonym = keys/pseudonym.key\n"
	               "; /healthz, /readyz, /metrics in plain HTTP for this machine's monitoring\n"
	               "[status]\n"
	               "listen = 127.0.0.1:9444\n",
	               name, stamp, name, name, name);
	if (len < 0) {
		fail_msg("out of memory");
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write_all(fd, text, (size_t)len) < 0 || fsync(fd) < 0) {
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
	char p[PATH_MAX], q[PATH_MAX], err[PATH_MAX + 256], origin[128];
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
	    pki_make_leaf(p, PKI_PROFILE_SERVER, "localhost", vca, vkey, PKI_DAYS_SERVER, NULL, err,
	                  sizeof(err)) < 0)
		goto pki_fail;
	for (size_t i = 0; i < npartners; i++) {
		if (snprintf(q, sizeof(q), "pki/partners/%s", partners[i]) >= (int)sizeof(q) ||
		    pjoin(p, root, q) < 0 ||
		    pki_make_leaf(p, PKI_PROFILE_PARTNER, partners[i], pca, pkey, PKI_DAYS_CLIENT,
		                  m->fingerprints[i], err, sizeof(err)) < 0)
			goto pki_fail;
	}
	if (pjoin(p, root, "pki/staff/" STAFF_NAME) < 0 ||
	    pki_make_leaf(p, PKI_PROFILE_STAFF, STAFF_NAME, sca, skey, PKI_DAYS_CLIENT, m->staff_fp,
	                  err, sizeof(err)) < 0)
		goto pki_fail;

	/* Keys of the gateway itself. */
	snprintf(origin, sizeof(origin), "pdgate.local/%s", o->name);
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
	if (pjoin(p, share, "contracts/examples") < 0 || pjoin(q, root, "contracts") < 0 ||
	    copy_tree(p, q, 1, 0, &m->contracts) < 0)
		goto done;
	/* The compliance console: served from the installation, so that it works offline. */
	if (make_dir(root, "ui", 0755) < 0 || pjoin(p, share, "gateway/ui") < 0 ||
	    pjoin(q, root, "ui") < 0 || (is_dir(p) && copy_tree(p, q, 0, 0, &m->ui) < 0))
		goto done;

	if (pjoin(p, root, "members.db") < 0)
		goto done;
	if (members_generate(p, o->members, o->seed, err, sizeof(err)) < 0) {
		fail_msg("members.db: %s", err);
		goto done;
	}
	/* Written last: a configuration only ever names files that exist. */
	if (write_conf(root, o->name) < 0)
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

/* Moves tmp to dir, refusing to replace anything that appeared at dir meanwhile. */
static int
install(const char *tmp, const char *dir)
{
	char parent[PATH_MAX];
	struct stat st;
	int fd;

	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) < 0) {
		/* A file system without RENAME_NOREPLACE: check, then rename. rename() would
		 * replace an empty folder, hence the check. */
		if (errno != EINVAL && errno != ENOSYS) {
			fail_msg("%s: %s", dir, strerror(errno));
			return -1;
		}
		if (lstat(dir, &st) == 0) {
			fail_msg("%s already exists; not overwriting it", dir);
			return -1;
		}
		if (rename(tmp, dir) < 0) {
			fail_msg("%s: %s", dir, strerror(errno));
			return -1;
		}
	}
	snprintf(parent, sizeof(parent), "%s", dir);
	fd = open(dirname(parent), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
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
	if (find_share(o.share, share) < 0)
		return 1;
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
	if (pjoin(p, share, "contracts/examples") < 0)
		return 1;
	if (!is_dir(p)) {
		fail_msg("%s: no contracts/examples/ folder in the share folder %s", p, share);
		return 1;
	}
	partners = load_partners(p, &npartners);
	if (partners == NULL)
		return 1;
	m.fingerprints = calloc(npartners, sizeof(*m.fingerprints));
	if (m.fingerprints == NULL) {
		fail_msg("out of memory");
		goto done;
	}

	if (make_parents(dir, created, &ncreated, (int)(sizeof(created) / sizeof(created[0]))) < 0)
		goto done;
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", dir);
	/* mkdtemp creates mode 0700, which the installation keeps after the rename. */
	if (mkdtemp(tmp) == NULL) {
		fail_msg("%s: %s", tmp, strerror(errno));
		goto done;
	}
	have_tmp = 1;
	if (build(tmp, share, &o, partners, npartners, &m) < 0)
		goto done;
	if (install(tmp, dir) < 0)
		goto done;
	have_tmp = 0;
	summary(dir, &o, partners, npartners, &m);
	rc = 0;
done:
	if (have_tmp)
		remove_tree(tmp);
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
