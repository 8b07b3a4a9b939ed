/* stagedir — a new folder built under a temporary name beside it, renamed in place when complete.
 */
#ifndef PDGATE_STAGEDIR_H
#define PDGATE_STAGEDIR_H

#include <stddef.h>
#include <sys/types.h>

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

/* The same for a dest that may also be an empty folder, which the commit then replaces (an
 * officer may make the folder first): -1 with ENOTEMPTY if dest is a folder with anything in
 * it, EEXIST if it is anything but a folder. */
int stagedir_create_replacing(const char *dest, char *tmp, size_t n);

/* stagedir_commit for a folder made by stagedir_create_replacing: dest is replaced only if it
 * is absent or an empty folder (rename(2) never replaces one that is not), else -1 with
 * ENOTEMPTY or EEXIST. */
int stagedir_commit_replacing(const char *tmp, const char *dest);

/* A new file name in the folder tmp (never an existing file, never through a symlink) with
 * mode and data[0..len), synced. 0, or -1 with errno (and no file left). */
int stagedir_write(const char *tmp, const char *name, const void *data, size_t len, mode_t mode);

/* Removes tmp and everything in it (never following a symlink); errors ignored. */
void stagedir_remove(const char *tmp);

#endif
