/* file — the one whole-file reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "file.h"

__attribute__((format(printf, 4, 5))) static void
fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s", path, why);
}

char *
file_read(const char *path, size_t max, unsigned flags, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | (flags & FILE_READ_NOFOLLOW ? O_NOFOLLOW : 0));

	*len = 0;
	if (fd < 0) {
		fail(err, errlen, path, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		fail(err, errlen, path, "cannot read: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(err, errlen, path, "not a regular file");
		goto fail;
	}
	if ((flags & FILE_READ_SECRET) && (st.st_mode & 077) != 0) {
		fail(err, errlen, path,
		     "key file has mode %04o: readable or writable by group or others (chmod 600)",
		     (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if ((flags & FILE_READ_NONEMPTY) && st.st_size == 0) {
		fail(err, errlen, path, "empty");
		goto fail;
	}
	if ((unsigned long long)st.st_size > max) {
		fail(err, errlen, path, "larger than %zu bytes", max);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		fail(err, errlen, path, "out of memory");
		goto fail;
	}
	/* One byte more than fstat said, so that a file growing under us is seen. */
	for (;;) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail(err, errlen, path, "cannot read: %s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > (size_t)st.st_size)
			break;
	}
	if (got != (size_t)st.st_size) {
		fail(err, errlen, path, "changed while being read");
		goto fail;
	}
	buf[got] = '\0';
	close(fd);
	*len = got;
	return buf;
fail:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	close(fd);
	return NULL;
}

const char *
file_reason(const char *path, const char *err)
{
	size_t n = strlen(path);

	if (strncmp(err, path, n) == 0 && err[n] == ':' && err[n + 1] == ' ')
		return err + n + 2;
	return err;
}
