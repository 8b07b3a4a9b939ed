/* share — where pdgate's shared files are: the catalogs, the console, the example contracts. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "share.h"

/* What the folders are called, installed (make install) and in the source tree. */
#define SHARE_INSTALLED "share/pdgate"
#define UI_INSTALLED "ui"
#define UI_SOURCE "gateway/ui"

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
put(char *out, size_t outlen, char *err, size_t errlen, const char *a, const char *b)
{
	if (snprintf(out, outlen, "%s%s%s", a, b[0] != '\0' ? "/" : "", b) >= (int)outlen) {
		snprintf(err, errlen, "%s/%s: path too long", a, b);
		return -1;
	}
	return 0;
}

/*
 * The share folder of the binary exe: the folder above its own, PREFIX, holds it as
 * PREFIX/share/pdgate once installed; in a source tree PREFIX is the tree itself.
 */
static int
from_exe(const char *exe, char *out, size_t outlen, char *err, size_t errlen)
{
	char copy[PATH_MAX], prefix[PATH_MAX], installed[PATH_MAX + 32];

	if (snprintf(copy, sizeof(copy), "%s", exe) >= (int)sizeof(copy)) {
		snprintf(err, errlen, "the binary's path is too long");
		return -1;
	}
	snprintf(prefix, sizeof(prefix), "%s", dirname(dirname(copy)));
	snprintf(installed, sizeof(installed), "%s/" SHARE_INSTALLED "/policies", prefix);
	if (is_dir(installed))
		return put(out, outlen, err, errlen, prefix, SHARE_INSTALLED);
	return put(out, outlen, err, errlen, prefix, "");
}

int
share_dir(const char *opt, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *env = getenv("PDGATE_SHARE");
	char exe[PATH_MAX];
	ssize_t n;

	if (opt != NULL || (env != NULL && env[0] != '\0'))
		return put(out, outlen, err, errlen, opt != NULL ? opt : env, "");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		snprintf(err, errlen, "cannot find the running binary (%s)", strerror(errno));
		return -1;
	}
	exe[n] = '\0';
	return from_exe(exe, out, outlen, err, errlen);
}

int
share_ui(const char *share, char *out, size_t outlen, char *err, size_t errlen)
{
	if (put(out, outlen, err, errlen, share, UI_INSTALLED) < 0)
		return -1;
	if (is_dir(out))
		return 0;
	if (put(out, outlen, err, errlen, share, UI_SOURCE) < 0)
		return -1;
	if (is_dir(out))
		return 0;
	snprintf(err, errlen, "%s holds neither " UI_INSTALLED "/ nor " UI_SOURCE "/", share);
	return -1;
}
