/* errlist — the error lists of pdgate's file validators. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errlist.h"
#include "file.h"

struct errlist {
	struct buf text; /* the kept lines, each ending in "\n" */
	size_t count;    /* errors added, kept or not */
	size_t lost;     /* errors not kept (over the line limit or out of memory) */
};

struct errlist *
errlist_new(void)
{
	return calloc(1, sizeof(struct errlist));
}

void
errlist_free(struct errlist *l)
{
	if (l == NULL)
		return;
	buf_free(&l->text);
	free(l);
}

void
errlist_add(struct errlist *l, const char *file, const char *path, const char *fmt, ...)
{
	char msg[1024];
	char line[2048];
	va_list ap;

	l->count++;
	if (l->count > ERRLIST_MAX_LINES) {
		l->lost++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int n;
	if (path != NULL)
		n = snprintf(line, sizeof(line), "%s: %s: %s\n", file, path, msg);
	else
		n = snprintf(line, sizeof(line), "%s: %s\n", file, msg);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (buf_add(&l->text, line, (size_t)n) < 0)
		l->lost++;
}

size_t
errlist_count(const struct errlist *l)
{
	return l->count;
}

char *
errlist_take(struct errlist *l)
{
	if (l->count == 0)
		return NULL;
	if (l->lost > 0) {
		char more[96];
		int n = snprintf(more, sizeof(more), "(%zu more errors not shown)\n", l->lost);
		if (buf_add(&l->text, more, (size_t)n) < 0 && l->text.len == 0)
			return NULL;
	}
	if (l->text.data == NULL)
		return NULL;
	/* The last line's newline is the separator's job, not the caller's. */
	if (l->text.len > 0 && l->text.data[l->text.len - 1] == '\n')
		buf_truncate(&l->text, l->text.len - 1);
	return buf_take(&l->text, NULL);
}

static int
plain_key(const char *k)
{
	if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || *k == '_'))
		return 0;
	for (; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= '0' && *k <= '9') || *k == '_'))
			return 0;
	return 1;
}

/* Writes s into out like snprintf, marking a cut with "…" so a shortened path never looks
 * like a different, complete one. */
static void
put_cut(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(s);
	if (outlen == 0)
		return;
	if (n < outlen) {
		memcpy(out, s, n + 1);
		return;
	}
	static const char ell[] = "\xe2\x80\xa6";
	if (outlen < sizeof(ell)) {
		out[0] = '\0';
		return;
	}
	size_t keep = outlen - sizeof(ell);
	/* Do not split a UTF-8 sequence. */
	while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
		keep--;
	memcpy(out, s, keep);
	memcpy(out + keep, ell, sizeof(ell));
}

void
errlist_quote(char *out, size_t outlen, const char *s)
{
	char buf[128 * 6 + 8];
	size_t o = 0, i = 0;

	buf[o++] = '"';
	for (; s[i] != '\0' && i < 80; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\u%04x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	if (s[i] != '\0') {
		while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) {
			/* back off to a sequence boundary: drop the partial sequence */
			i--;
			o--;
		}
		memcpy(buf + o, "\xe2\x80\xa6", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	put_cut(out, outlen, buf);
}

void
errlist_path_key(char *out, size_t outlen, const char *parent, const char *key)
{
	char buf[ERRLIST_PATH_MAX * 2];
	if (plain_key(key) && strlen(key) <= 64) {
		snprintf(buf, sizeof(buf), "%s.%s", parent, key);
	} else {
		char q[1024];
		errlist_quote(q, sizeof(q), key);
		if (snprintf(buf, sizeof(buf), "%s[%s]", parent, q) >= (int)sizeof(buf))
			buf[sizeof(buf) - 1] = '\0'; /* cut; put_cut marks it below */
	}
	put_cut(out, outlen, buf);
}

void
errlist_unknown_keys(struct errlist *l, const char *file, const char *path, json_t *obj,
                     const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		size_t i = 0;
		while (allowed[i] != NULL && strcmp(key, allowed[i]) != 0)
			i++;
		if (allowed[i] == NULL) {
			char p[ERRLIST_PATH_MAX];
			errlist_path_key(p, sizeof(p), path, key);
			errlist_add(l, file, p, "unknown key");
		}
	}
}

void
errlist_path_index(char *out, size_t outlen, const char *parent, size_t i)
{
	char buf[ERRLIST_PATH_MAX * 2];
	snprintf(buf, sizeof(buf), "%s[%zu]", parent, i);
	put_cut(out, outlen, buf);
}

int
errlist_read_file(struct errlist *l, const char *file, size_t max, char **buf, size_t *len)
{
	char err[PATH_MAX + 256];

	*buf = file_read(file, max, 0, len, err, sizeof(err));
	if (*buf == NULL) {
		errlist_add(l, file, NULL, "%s", file_reason(file, err));
		return -1;
	}
	return 0;
}
