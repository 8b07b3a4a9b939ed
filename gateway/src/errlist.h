/* errlist — the error lists of pdgate's file validators: "FILE: $.json.path: message" lines. */
#ifndef PDGATE_ERRLIST_H
#define PDGATE_ERRLIST_H

#include <stddef.h>

#include <jansson.h>

/* Room for a rendered JSON path; longer paths are cut with "…". */
#define ERRLIST_PATH_MAX 512
/* Lines kept; further errors are only counted. */
#define ERRLIST_MAX_LINES 1000

struct errlist;

/* A new, empty list; NULL when out of memory. Caller frees with errlist_free. */
struct errlist *errlist_new(void);
void errlist_free(struct errlist *l);

/*
 * Appends one line "FILE: PATH: message" (PATH may be NULL: "FILE: message"). Never fails
 * visibly: when memory runs out, or past ERRLIST_MAX_LINES lines, the count still grows and the
 * text says how many lines were lost, so a failed validation can never look clean.
 */
void errlist_add(struct errlist *l, const char *file, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* How many errors were added. */
size_t errlist_count(const struct errlist *l);

/* Every line joined by "\n" (caller frees), or NULL when the list is empty or on no memory. */
char *errlist_take(struct errlist *l);

/* out = parent + ".key" (or parent + "[\"k e y\"]" for keys that are not plain identifiers). */
void errlist_path_key(char *out, size_t outlen, const char *parent, const char *key);
/* out = parent + "[i]". */
void errlist_path_index(char *out, size_t outlen, const char *parent, size_t i);
/* Adds "PATH.key: unknown key" for every key of the object obj not in allowed
 * (NULL-terminated). */
void errlist_unknown_keys(struct errlist *l, const char *file, const char *path, json_t *obj,
                          const char *const *allowed);
/* A value for a message: JSON-quoted, non-ASCII kept, control characters escaped, at most
 * about 80 bytes of the value. */
void errlist_quote(char *out, size_t outlen, const char *s);

/*
 * Reads FILE whole with file_read into *buf (NUL-terminated, caller frees) and *len. What
 * file_read refuses (larger than max bytes, unreadable, not a regular file) is an error added
 * to the list. Returns 0 / -1.
 */
int errlist_read_file(struct errlist *l, const char *file, size_t max, char **buf, size_t *len);

#endif
