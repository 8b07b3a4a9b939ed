/* stagedir — a new folder built under a temporary name beside it, renamed in place when complete.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stagedir.h"

/* The folder beside dest, once dest was found fit. */
static int
make_tmp(const char *dest, char *tmp, size_t n)
{
	if (snprintf(tmp, n, "%s.tmp-XXXXXX", dest) >= (int)n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* mkdtemp creates mode 0700, which the folder keeps after the rename. */
	return mkdtemp(tmp) != NULL ? 0 : -1;
}

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
	return make_tmp(dest, tmp, n);
}

/* Whether path is a folder with nothing in it (not through a symlink). */
static bool
empty_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	bool empty = d != NULL;

	if (d == NULL && fd >= 0)
		close(fd);
	while (empty && (e = readdir(d)) != NULL)
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	if (d != NULL)
		closedir(d);
	return empty;
}

int
stagedir_create_replacing(const char *dest, char *tmp, size_t n)
{
	struct stat st;

	if (lstat(dest, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			errno = EEXIST;
			return -1;
		}
		if (!empty_dir(dest)) {
			errno = ENOTEMPTY;
			return -1;
		}
	} else if (errno != ENOENT) {
		return -1;
	}
	return make_tmp(dest, tmp, n);
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

/* Syncs the folder tmp. 0 or -1 with errno. */
static int
sync_tmp(const char *tmp)
{
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
	return 0;
}

static void
sync_parent(const char *dest)
{
	char parent[PATH_MAX];

	if (snprintf(parent, sizeof(parent), "%s", dest) < (int)sizeof(parent))
		sync_dir(dirname(parent));
}

int
stagedir_commit(const char *tmp, const char *dest)
{
	struct stat st;

	if (sync_tmp(tmp) < 0)
		return -1;
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
	sync_parent(dest);
	return 0;
}

int
stagedir_commit_replacing(const char *tmp, const char *dest)
{
	struct stat st;

	if (sync_tmp(tmp) < 0)
		return -1;
	/* rename(2) replaces an empty folder and refuses any other: what is there stays. */
	if (lstat(dest, &st) == 0 && !S_ISDIR(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	if (rename(tmp, dest) < 0) {
		if (errno == EEXIST)
			errno = ENOTEMPTY;
		return -1;
	}
	sync_parent(dest);
	return 0;
}

int
stagedir_write(const char *tmp, const char *name, const void *data, size_t len, mode_t mode)
{
	char path[PATH_MAX];
	const char *p = data;
	int fd, e;

	if (strchr(name, '/') != NULL ||
	    snprintf(path, sizeof(path), "%s/%s", tmp, name) >= (int)sizeof(path)) {
		errno = EINVAL;
		return -1;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)) < 0)
		return -1;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	e = errno ? errno : EIO;
	if (fd >= 0)
		close(fd);
	unlink(path);
	errno = e;
	return -1;
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
