/* console — the compliance console's files, read into memory at start and served from it. */
#ifndef PDGATE_CONSOLE_H
#define PDGATE_CONSOLE_H

#include <stddef.h>

#include "server.h"

#define CONSOLE_MAX_FILES 128
#define CONSOLE_MAX_FILE (4 * 1024 * 1024)
#define CONSOLE_MAX_TOTAL (32 * 1024 * 1024)

struct console;

/*
 * Reads the regular files of dir: names [A-Za-z0-9._-] (64 at most, not starting with a dot),
 * CONSOLE_MAX_FILES of at most CONSOLE_MAX_FILE bytes, CONSOLE_MAX_TOTAL in all; symbolic
 * links and sub-folders are skipped. Returns the console (free with console_free) or NULL with
 * a message in err.
 */
struct console *console_load(const char *dir, char *err, size_t errlen);
void console_free(struct console *c);          /* NULL is a no-op */
size_t console_count(const struct console *c); /* files loaded; 0 for NULL */

/*
 * Answers req with the file name (a query string: 400; an unknown name: 404), under a
 * Content-Security-Policy that allows nothing but this origin. c may be NULL (no console).
 */
void console_serve(struct server_request *req, const struct console *c, const char *name);

#endif
