/* stagedir — a new folder built under a temporary name beside it, renamed in place when complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stagedir.h"

int
stagedir_create(const char *dest, char *tmp, size_t n)
{
	struct stat st;

	if (lstat(dest, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	if (snprintf(tmp, n, "%s.tmp-XXXXXX", dest) >= (int)n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* mkdtemp creates mode 0700, which the folder keeps after the rename. */
	return mkdtemp(tmp) != NULL ? 0 : -1;
}

static void
sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int
stagedir_commit(const char *tmp, const char *dest)
{
	char parent[PATH_MAX];
	struct stat st;
	int fd;

	if ((fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) < 0) {
		/* A file system without RENAME_NOREPLACE: check, then rename. rename() would
		 * replace an empty folder, hence the check. */
		if (errno != EINVAL && errno != ENOSYS)
			return -1;
		if (lstat(dest, &st) == 0) {
			errno = EEXIST;
			return -1;
		}
		if (rename(tmp, dest) < 0)
			return -1;
	}
	if (snprintf(parent, sizeof(parent), "%s", dest) < (int)sizeof(parent))
		sync_dir(dirname(parent));
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void
stagedir_remove(const char *tmp)
{
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
