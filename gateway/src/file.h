/* file — the one whole-file reader: a regular file into memory, bounded, with the key checks. */
#ifndef PDGATE_FILE_H
#define PDGATE_FILE_H

#include <stddef.h>

/* What file_read refuses besides a file that is not regular, or over its size limit. */
enum file_read_flags {
	FILE_READ_SECRET = 1 << 0,   /* a file group or others may read or write: key material */
	FILE_READ_NOFOLLOW = 1 << 1, /* a symbolic link */
	FILE_READ_NONEMPTY = 1 << 2, /* an empty file */
};

/*
 * Reads the whole regular file at path, at most max bytes, into a new NUL-terminated buffer
 * and its length into *len; a file that changes size while it is read is refused. flags: the
 * enum file_read_flags refused as well. NULL with "PATH: reason" in err (PATH as given;
 * file_reason finds the reason; err may be NULL), *len 0. Caller frees (free();
 * OPENSSL_cleanse(buf, *len) first for a secret; a buffer this function gives up on is wiped here).
 */
char *file_read(const char *path, size_t max, unsigned flags, size_t *len, char *err,
                size_t errlen);

/* The reason in a file_read error ("cannot open: No such file or directory"), for a caller
 * whose messages name the file their own way; err itself if it does not start with path.
 * Borrowed from err. */
const char *file_reason(const char *path, const char *err);

#endif
