/* console — the compliance console's files, read into memory at start and served from it. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "disclosure.h"

/*
 * Nothing but this origin, and no inline code: a token in the page's memory is worth a
 * strict policy. 'unsafe-inline' is never needed: the console keeps its code in files. The one
 * inline style allowed, by its hash, is the disclosure document's, which the console prints.
 */
#define CSP                                                                                        \
	"default-src 'self'; script-src 'self'; style-src 'self' " DISCLOSURE_STYLE_CSP            \
	"; img-src 'self' data:; "                                                                 \
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "                \
	"form-action 'self'; frame-ancestors 'none'"

struct ui_file {
	char name[65];
	const char *type;
	char *data;
	size_t len;
};

struct console {
	struct ui_file *files; /* sorted by name */
	size_t nfiles;
};

static const struct {
	const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *
type_of(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t k = strlen(types[i].ext);
		if (n > k && strcmp(name + n - k, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

static bool
ui_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static void
ui_free(struct ui_file *f, size_t n)
{
	for (size_t i = 0; f != NULL && i < n; i++)
		free(f[i].data);
	free(f);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct ui_file *)a)->name, ((const struct ui_file *)b)->name);
}

static int
ui_load(const char *dir, struct ui_file **out, size_t *nout, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct ui_file *files = NULL;
	size_t n = 0, total = 0;
	int rc = -1;

	*out = NULL;
	*nout = 0;
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if ((files = calloc(CONSOLE_MAX_FILES, sizeof(*files))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && (errno == ELOOP || errno == EISDIR))
			continue;
		if (fd < 0 || fstat(fd, &st) != 0) {
			snprintf(err, errlen, "%s/%s: %s", dir, de->d_name, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto done;
		}
		if (!S_ISREG(st.st_mode)) {
			close(fd);
			continue;
		}
		if (!ui_name_ok(de->d_name) || n == CONSOLE_MAX_FILES ||
		    st.st_size > CONSOLE_MAX_FILE ||
		    total + (size_t)st.st_size > CONSOLE_MAX_TOTAL) {
			snprintf(err, errlen,
			         "%s/%s: console files are named [A-Za-z0-9._-] (64 at most), %d "
			         "files of at most %d bytes, %d bytes in all",
			         dir, de->d_name, CONSOLE_MAX_FILES, CONSOLE_MAX_FILE,
			         CONSOLE_MAX_TOTAL);
			close(fd);
			goto done;
		}
		struct ui_file *f = &files[n];
		f->data = malloc((size_t)st.st_size + 1);
		size_t got = 0;
		while (f->data != NULL && got < (size_t)st.st_size) {
			ssize_t k = read(fd, f->data + got, (size_t)st.st_size - got);
			if (k <= 0)
				break;
			got += (size_t)k;
		}
		close(fd);
		n++;
		if (f->data == NULL || got != (size_t)st.st_size) {
			snprintf(err, errlen, "%s/%s: cannot be read", dir, de->d_name);
			goto done;
		}
		snprintf(f->name, sizeof(f->name), "%.64s", de->d_name);
		f->len = got;
		f->type = type_of(f->name);
		total += got;
	}
	qsort(files, n, sizeof(*files), cmp_name);
	*out = files;
	*nout = n;
	files = NULL;
	rc = 0;
done:
	closedir(d);
	ui_free(files, n);
	return rc;
}

struct console *
console_load(const char *dir, char *err, size_t errlen)
{
	struct console *c = calloc(1, sizeof *c);

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (ui_load(dir, &c->files, &c->nfiles, err, errlen) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

void
console_free(struct console *c)
{
	if (c == NULL)
		return;
	ui_free(c->files, c->nfiles);
	free(c);
}

size_t
console_count(const struct console *c)
{
	return c != NULL ? c->nfiles : 0;
}

void
console_serve(struct server_request *req, const struct console *c, const char *name)
{
	struct ui_file key = {0}, *f;

	if (server_request_query_only(req, (const char *const[]){NULL}) != 0) {
		server_reply_error(req, APIERR_BAD_REQUEST,
		                   "unknown query parameter; this route takes: nothing");
		return;
	}
	if (c == NULL || c->files == NULL || name == NULL || !ui_name_ok(name)) {
		server_reply_error(req, APIERR_NOT_FOUND, "no such file of the console");
		return;
	}
	snprintf(key.name, sizeof(key.name), "%.64s", name);
	f = bsearch(&key, c->files, c->nfiles, sizeof(*f), cmp_name);
	if (f == NULL) {
		server_reply_error(req, APIERR_NOT_FOUND,
		                   c->nfiles ? "no such file of the console"
		                             : "the console is not installed ([compliance] ui)");
		return;
	}
	server_reply(req, 200, f->type, f->data, f->len);
	server_reply_header(req, "Content-Security-Policy", CSP);
	server_reply_header(req, "X-Frame-Options", "DENY");
	server_reply_header(req, "Referrer-Policy", "no-referrer");
	server_reply_header(req, "Cross-Origin-Opener-Policy", "same-origin");
	server_reply_header(req, "Cross-Origin-Resource-Policy", "same-origin");
}
