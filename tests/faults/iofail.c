/* iofail — an LD_PRELOAD shim for the fault suites: writes and syncs that fail on command.
 *
 * While the file IOFAIL_CONTROL exists, write, pwrite, writev, pwritev, fsync and fdatasync on
 * a descriptor whose file's path contains IOFAIL_MATCH fail with the error the control file
 * names (EIO, ENOSPC or EROFS; EIO when it is empty), and do nothing else. Each failure
 * appends one byte to IOFAIL_COUNT when that is set, so that the test can say how many it
 * injected. Without the control file every call goes straight to libc: a test turns the fault
 * on and off while the process runs.
 *
 *   cc -shared -fPIC -o iofail.so iofail.c -ldl
 *   IOFAIL_MATCH=ledger.db IOFAIL_CONTROL=/tmp/fail LD_PRELOAD=./iofail.so pdgate serve …
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef int (*sync_fn)(int);

static void *
real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	if (f == NULL) {
		static const char msg[] = "iofail: a libc function is missing\n";
		/* the raw system call: write itself is what is being wrapped */
		(void)!syscall(SYS_write, 2, msg, sizeof(msg) - 1);
		abort();
	}
	return f;
}

/* The errno to fail fd with, or 0 to let the call through. */
static int
failing(int fd)
{
	const char *ctl = getenv("IOFAIL_CONTROL"), *match = getenv("IOFAIL_MATCH");
	char link[64], path[4096], what[16] = "";
	struct stat st;
	ssize_t n;
	int c, e = EIO;

	if (ctl == NULL || match == NULL || stat(ctl, &st) != 0)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	if (strstr(path, match) == NULL)
		return 0;
	c = open(ctl, O_RDONLY | O_CLOEXEC);
	if (c >= 0) {
		n = read(c, what, sizeof(what) - 1);
		close(c);
		what[n > 0 ? n : 0] = '\0';
	}
	if (strncmp(what, "ENOSPC", 6) == 0)
		e = ENOSPC;
	else if (strncmp(what, "EROFS", 5) == 0)
		e = EROFS;
	return e;
}

/* Counts one injected failure and sets errno; returns -1. */
static int
fail(int e)
{
	static write_fn w;
	const char *count = getenv("IOFAIL_COUNT");

	if (count != NULL) {
		int fd = open(count, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (w == NULL)
			w = (write_fn)real("write");
		if (fd >= 0) {
			(void)!w(fd, "x", 1);
			close(fd);
		}
	}
	errno = e;
	return -1;
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	static write_fn f;
	int e = failing(fd);
	if (e)
		return fail(e);
	if (f == NULL)
		f = (write_fn)real("write");
	return f(fd, buf, len);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	static pwrite_fn f;
	int e = failing(fd);
	if (e)
		return fail(e);
	if (f == NULL)
		f = (pwrite_fn)real("pwrite");
	return f(fd, buf, len, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	static pwrite64_fn f;
	int e = failing(fd);
	if (e)
		return fail(e);
	if (f == NULL)
		f = (pwrite64_fn)real("pwrite64");
	return f(fd, buf, len, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	static writev_fn f;
	int e = failing(fd);
	if (e)
		return fail(e);
	if (f == NULL)
		f = (writev_fn)real("writev");
	return f(fd, iov, n);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	static pwritev_fn f;
	int e = failing(fd);
	if (e)
		return fail(e);
	if (f == NULL)
		f = (pwritev_fn)real("pwritev");
	return f(fd, iov, n, off);
}

int
fsync(int fd)
{
	static sync_fn f;
	int e = failing(fd);
	if (e)
		return fail(e);
	if (f == NULL)
		f = (sync_fn)real("fsync");
	return f(fd);
}

int
fdatasync(int fd)
{
	static sync_fn f;
	int e = failing(fd);
	if (e)
		return fail(e);
	if (f == NULL)
		f = (sync_fn)real("fdatasync");
	return f(fd);
}
