/* test_stagedir — a folder built beside its destination: refusals, the rename, the clean-up. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "stagedir.h"

static char root[64];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void
path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", root, name);
}

static void
touch(const char *dir, const char *name)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd >= 0)
		close(fd);
}

/* How many DEST.tmp-* folders are left beside dest. */
static size_t
leftovers(const char *dest)
{
	char pat[256];
	glob_t g;
	size_t n;

	snprintf(pat, sizeof(pat), "%s.tmp-*", dest);
	if (glob(pat, 0, NULL, &g) != 0)
		return 0;
	n = g.gl_pathc;
	globfree(&g);
	return n;
}

int
main(void)
{
	char dest[128], tmp[256], other[128];
	struct stat st;

	snprintf(root, sizeof(root), "/tmp/test_stagedir.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;

	/* Built beside, renamed in place, mode 0700, nothing left. */
	path(dest, sizeof(dest), "copy");
	CHECK(stagedir_create(dest, tmp, sizeof(tmp)) == 0, "create: %s", strerror(errno));
	CHECK(strncmp(tmp, dest, strlen(dest)) == 0 && strstr(tmp, ".tmp-") != NULL, "%s", tmp);
	CHECK(stat(dest, &st) < 0 && errno == ENOENT, "DEST exists before the commit");
	touch(tmp, "a");
	CHECK(stagedir_commit(tmp, dest) == 0, "commit: %s", strerror(errno));
	CHECK(stat(dest, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	      "DEST mode %o", st.st_mode & 0777);
	snprintf(other, sizeof(other), "%s/a", dest);
	CHECK(access(other, F_OK) == 0, "the file built in it");
	CHECK(leftovers(dest) == 0, "temporary folders left");

	/* An existing DEST, even a file or a dangling symlink, is refused before anything. */
	errno = 0;
	CHECK(stagedir_create(dest, tmp, sizeof(tmp)) < 0 && errno == EEXIST, "existing folder");
	path(other, sizeof(other), "link");
	CHECK(symlink("/nonexistent", other) == 0, "symlink");
	errno = 0;
	CHECK(stagedir_create(other, tmp, sizeof(tmp)) < 0 && errno == EEXIST, "dangling symlink");
	CHECK(leftovers(dest) == 0 && leftovers(other) == 0, "temporary folders left");

	/* DEST appearing meanwhile is not replaced, even empty. */
	path(dest, sizeof(dest), "race");
	CHECK(stagedir_create(dest, tmp, sizeof(tmp)) == 0, "create");
	CHECK(mkdir(dest, 0755) == 0, "mkdir");
	errno = 0;
	CHECK(stagedir_commit(tmp, dest) < 0 && errno == EEXIST, "commit over a new folder");
	stagedir_remove(tmp);
	CHECK(leftovers(dest) == 0, "removed");

	/* No parent folder; a name too long for the buffer. */
	path(dest, sizeof(dest), "no/such");
	errno = 0;
	CHECK(stagedir_create(dest, tmp, sizeof(tmp)) < 0 && errno == ENOENT, "no parent");
	errno = 0;
	CHECK(stagedir_create(dest, tmp, 8) < 0 && errno == ENAMETOOLONG, "short buffer");

	/* remove takes the folder and what is in it, and nothing through a symlink. */
	path(dest, sizeof(dest), "gone");
	path(other, sizeof(other), "kept");
	CHECK(mkdir(other, 0700) == 0, "mkdir");
	touch(other, "precious");
	CHECK(stagedir_create(dest, tmp, sizeof(tmp)) == 0, "create");
	touch(tmp, "x");
	char link[300];
	snprintf(link, sizeof(link), "%s/to-kept", tmp);
	CHECK(symlink(other, link) == 0, "symlink");
	stagedir_remove(tmp);
	CHECK(stat(tmp, &st) < 0 && errno == ENOENT, "the temporary folder is gone");
	snprintf(link, sizeof(link), "%s/precious", other);
	CHECK(access(link, F_OK) == 0, "a file behind a symlink was removed");

	/* Replacing: an absent or empty DEST is fine; a folder with anything in it, or a file,
	 * is refused at create and again at the commit if it filled meanwhile. */
	path(dest, sizeof(dest), "empty");
	CHECK(mkdir(dest, 0755) == 0, "mkdir");
	CHECK(stagedir_create_replacing(dest, tmp, sizeof(tmp)) == 0,
	      "create over an empty folder");
	CHECK(stagedir_write(tmp, "data.csv", "a,b\r\n", 5, 0600) == 0, "write: %s",
	      strerror(errno));
	errno = 0;
	CHECK(stagedir_write(tmp, "data.csv", "x", 1, 0600) < 0 && errno == EEXIST,
	      "written twice");
	errno = 0;
	CHECK(stagedir_write(tmp, "../x", "x", 1, 0600) < 0 && errno == EINVAL, "a name with /");
	CHECK(stagedir_commit_replacing(tmp, dest) == 0, "commit: %s", strerror(errno));
	snprintf(other, sizeof(other), "%s/data.csv", dest);
	CHECK(stat(other, &st) == 0 && st.st_size == 5 && (st.st_mode & 0777) == 0600,
	      "the file written, size %lld mode %o", (long long)st.st_size, st.st_mode & 0777);
	errno = 0;
	CHECK(stagedir_create_replacing(dest, tmp, sizeof(tmp)) < 0 && errno == ENOTEMPTY,
	      "a folder with files");
	path(dest, sizeof(dest), "fresh");
	CHECK(stagedir_create_replacing(dest, tmp, sizeof(tmp)) == 0, "create, absent");
	CHECK(mkdir(dest, 0755) == 0, "mkdir");
	touch(dest, "late");
	errno = 0;
	CHECK(stagedir_commit_replacing(tmp, dest) < 0 && errno == ENOTEMPTY,
	      "filled meanwhile: %s", strerror(errno));
	snprintf(other, sizeof(other), "%s/late", dest);
	CHECK(access(other, F_OK) == 0, "what was there stays");
	stagedir_remove(tmp);
	path(other, sizeof(other), "a-file");
	touch(root, "a-file");
	errno = 0;
	CHECK(stagedir_create_replacing(other, tmp, sizeof(tmp)) < 0 && errno == EEXIST, "a file");
	CHECK(leftovers(dest) == 0 && leftovers(other) == 0, "temporary folders left");

	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
