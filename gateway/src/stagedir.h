/* stagedir — a new folder built under a temporary name beside it, renamed in place when complete.
 */
#ifndef PDGATE_STAGEDIR_H
#define PDGATE_STAGEDIR_H

#include <stddef.h>

/*
 * So that a failure, a full disk or a kill leaves nothing that looks complete: the files are
 * written into DEST.tmp-XXXXXX (mode 0700), synced, and the folder is renamed to DEST only once
 * everything is in it. A leftover DEST.tmp-* is always an unfinished one.
 */

/* Creates the temporary folder beside dest (which must not exist) and writes its path to tmp
 * (n bytes). 0, or -1 with errno: EEXIST if dest exists, ENAMETOOLONG, or mkdtemp's (ENOENT: no
 * parent folder; EACCES, EROFS: not writable; ENOSPC). */
int stagedir_create(const char *dest, char *tmp, size_t n);

/* Syncs tmp, renames it to dest unless something appeared at dest meanwhile, and syncs the
 * parent folder. 0, or -1 with errno (EEXIST if dest appeared). */
int stagedir_commit(const char *tmp, const char *dest);

/* Removes tmp and everything in it (never following a symlink); errors ignored. */
void stagedir_remove(const char *tmp);

#endif
