/* log — the request log and the daemon's messages: one line each, to stderr or a file. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h> /* not <limits.h>: -Igateway/src finds the limits module first */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "utf8.h"

struct log {
	int fd;     /* 2 for stderr; log_reopen swaps the file under this number with dup2 */
	char *path; /* NULL for stderr */
	enum log_format format;
};

/* time, "req", seven values, the route, status, microseconds, the spaces and the newline */
#define TIME_LEN 24
#define LINE_MAX_BYTES (TIME_LEN + 4 + 7 * (LOG_VALUE_MAX + 1) + LOG_ROUTE_MAX + 2 * 21 + 4)
_Static_assert(LINE_MAX_BYTES < PIPE_BUF, "a request line must be written atomically");
_Static_assert(TIME_LEN + 1 + LOG_VALUE_MAX + 1 + LOG_MSG_MAX + 1 < PIPE_BUF,
               "a message line must be written atomically");
/*
 * The JSON lines: JSON escaping doubles at most a value's bytes (only '"' and '\' are escaped
 * among those put_value writes), and a message is cut by the size of its escaped form. The
 * names, quotes and punctuation take less than JSON_SYNTAX_MAX.
 */
#define JSON_SYNTAX_MAX 192
#define JSON_REQUEST_MAX                                                                           \
	(JSON_SYNTAX_MAX + TIME_LEN + 2 * (6 * LOG_VALUE_MAX + LOG_ROUTE_MAX) + 2 * 20 + 1)
#define JSON_MSG_MAX (JSON_SYNTAX_MAX + TIME_LEN + 2 * LOG_VALUE_MAX + LOG_MSG_MAX + 1)
_Static_assert(JSON_REQUEST_MAX < PIPE_BUF, "a JSON request line must be written atomically");
_Static_assert(JSON_MSG_MAX < PIPE_BUF, "a JSON message line must be written atomically");

struct log *
log_open(const char *path)
{
	struct log *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->fd = STDERR_FILENO;
	if (!path)
		return l;
	l->path = strdup(path);
	if (!l->path)
		goto fail;
	l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (l->fd < 0)
		goto fail;
	return l;
fail:;
	int e = errno;
	free(l->path);
	free(l);
	errno = e;
	return NULL;
}

void
log_set_format(struct log *l, enum log_format format)
{
	l->format = format;
}

void
log_free(struct log *l)
{
	if (!l)
		return;
	if (l->path)
		close(l->fd);
	free(l->path);
	free(l);
}

int
log_reopen(struct log *l)
{
	if (!l->path)
		return 0;
	int fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -1;
	/* dup2 replaces the file atomically: a concurrent write sees the old or the new one */
	int r = dup3(fd, l->fd, O_CLOEXEC);
	int e = errno;
	close(fd);
	errno = e;
	return r < 0 ? -1 : 0;
}

/* Appends the time as 2026-04-01T09:30:12.345Z; returns its length (TIME_LEN). */
static size_t
put_time(char *dst, const struct timespec *when)
{
	struct timespec now;
	struct tm tm;

	if (!when) {
		clock_gettime(CLOCK_REALTIME, &now);
		when = &now;
	}
	time_t t = when->tv_sec;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, (long)(when->tv_nsec / 1000000) % 1000);
	/* years past 9999 would widen the field: keep the line's shape */
	memcpy(dst, n == TIME_LEN ? buf : "0000-00-00T00:00:00.000Z", TIME_LEN);
	return TIME_LEN;
}

static int
plain(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f && ch != '%';
}

/*
 * Appends the first n bytes of v, %XX-encoding everything but printable ASCII, so a value
 * from the client can neither add a field nor a line. Output is at most max bytes; a cut
 * value ends in "...". Returns the bytes written.
 */
static size_t
put_value(char *dst, const char *v, size_t n, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t need = 0, out = 0, limit;

	assert(max >= 4);
	if (!v || n == 0) {
		dst[0] = '-';
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		need += plain((unsigned char)v[i]) ? 1 : 3;
	limit = need <= max ? max : max - 3;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		size_t k = plain(ch) ? 1 : 3;
		if (out + k > limit)
			break;
		if (k == 1) {
			dst[out++] = (char)ch;
		} else {
			dst[out++] = '%';
			dst[out++] = hex[ch >> 4];
			dst[out++] = hex[ch & 15];
		}
	}
	if (need > max) {
		memcpy(dst + out, "...", 3);
		out += 3;
	}
	return out;
}

static size_t
put_str(char *dst, const char *v, size_t max)
{
	return put_value(dst, v, v ? strlen(v) : 0, max);
}

static int
write_line(struct log *l, const char *line, size_t len)
{
	assert(len < PIPE_BUF);
	for (;;) {
		ssize_t w = write(l->fd, line, len);
		if (w < 0 && errno == EINTR)
			continue;
		/* never write the rest separately: it could land inside another thread's line */
		return w == (ssize_t)len ? 0 : -1;
	}
}

/* ---- JSON lines ---- */

/* A request value as the text line writes it, or null where it writes "-". */
static json_t *
json_value(const char *v, size_t n, size_t max)
{
	char buf[LOG_ROUTE_MAX + 4];

	assert(max < sizeof(buf));
	if (!v || n == 0)
		return json_null();
	return json_stringn(buf, put_value(buf, v, n, max));
}

static json_t *
json_str(const char *v)
{
	return json_value(v, v ? strlen(v) : 0, LOG_VALUE_MAX);
}

static json_t *
json_time(const struct timespec *when)
{
	char t[TIME_LEN];

	return json_stringn(t, put_time(t, when));
}

/* Adds the members in order; false if one could not be made (out of memory). */
static bool
json_put(json_t *o, const char *const *names, json_t **values, size_t n)
{
	bool ok = o != NULL;

	for (size_t i = 0; i < n; i++)
		if (json_object_set_new(o, names[i], values[i]) != 0)
			ok = false; /* set_new has released the value, NULL or not */
	return ok;
}

/* Writes o (released here) as one line. */
static int
write_json(struct log *l, json_t *o, bool ok)
{
	char line[PIPE_BUF];
	size_t n = ok ? json_dumpb(o, line, sizeof(line) - 1, JSON_COMPACT) : 0;

	json_decref(o);
	/* the bounds above make a longer line impossible; never write half of one */
	if (n == 0 || n > sizeof(line) - 1)
		return -1;
	line[n++] = '\n';
	return write_line(l, line, n);
}

static int
json_request(struct log *l, const struct log_request_fields *f)
{
	static const char *const names[] = {"time",        "kind",   "request_id", "partner",
	                                    "purpose",     "method", "route",      "status",
	                                    "duration_us", "error",  "detail"};
	json_t *values[] = {
	    json_time(f->time),
	    json_string("req"),
	    json_str(f->request_id),
	    json_str(f->partner),
	    json_str(f->purpose),
	    json_str(f->method),
	    json_value(f->path, f->path ? strcspn(f->path, "?") : 0, LOG_ROUTE_MAX),
	    json_integer(f->status),
	    /* past 2^63 µs (292,000 years) it would wrap: it never gets there */
	    json_integer((json_int_t)f->duration_us),
	    json_str(f->error),
	    json_str(f->detail),
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(values) / sizeof(values[0]),
	               "a name per value");
	json_t *o = json_object();
	bool ok = json_put(o, names, values, sizeof(values) / sizeof(values[0]));
	return write_json(l, o, ok);
}

/* The bytes of one character of a message once jansson has escaped it. */
static size_t
json_escaped_len(unsigned char ch)
{
	if (ch == '"' || ch == '\\' || ch == '\b' || ch == '\f' || ch == '\n' || ch == '\r' ||
	    ch == '\t')
		return 2;
	return ch < 0x20 ? 6 : 1; /* \u00XX */
}

/*
 * The message as a JSON string wants it: well-formed UTF-8 as it is (control characters
 * included: jansson escapes them), any other byte as the four characters \xNN. Cut, ending in
 * "...", where its escaped form would pass LOG_MSG_MAX. Returns the length written to dst
 * (at most LOG_MSG_MAX bytes).
 */
static size_t
json_message(char *dst, const char *msg, size_t len, bool cut)
{
	size_t out = 0, escaped = 0;

	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_decode(msg + i, len - i, &cp), w, e;
		char hex[5];
		const char *src = msg + i;
		if (k == 0) {
			snprintf(hex, sizeof(hex), "\\x%02x", (unsigned char)msg[i]);
			src = hex;
			k = 1;
			w = 4;
			e = 5;
		} else {
			w = k;
			e = k == 1 ? json_escaped_len((unsigned char)msg[i]) : k;
		}
		if (escaped + e > LOG_MSG_MAX - 3) {
			cut = true;
			break;
		}
		memcpy(dst + out, src, w);
		out += w;
		escaped += e;
		i += k;
	}
	if (cut) {
		memcpy(dst + out, "...", 3);
		out += 3;
	}
	return out;
}

static int
json_msg(struct log *l, const char *level, const char *msg, size_t len, bool cut)
{
	static const char *const names[] = {"time", "kind", "message"};
	char text[LOG_MSG_MAX];
	json_t *values[] = {
	    json_time(NULL),
	    json_str(level),
	    json_stringn(text, json_message(text, msg, len, cut)),
	};
	json_t *o = json_object();
	bool ok = json_put(o, names, values, sizeof(values) / sizeof(values[0]));
	return write_json(l, o, ok);
}

/* ---- Lines ---- */

int
log_request(struct log *l, const struct log_request_fields *f)
{
	char line[LINE_MAX_BYTES];
	size_t n = 0;

	if (l->format == LOG_FORMAT_JSON)
		return json_request(l, f);

	n += put_time(line + n, f->time);
	memcpy(line + n, " req ", 5);
	n += 5;
	n += put_str(line + n, f->request_id, LOG_VALUE_MAX);
	line[n++] = ' ';
	n += put_str(line + n, f->partner, LOG_VALUE_MAX);
	line[n++] = ' ';
	n += put_str(line + n, f->purpose, LOG_VALUE_MAX);
	line[n++] = ' ';
	n += put_str(line + n, f->method, LOG_VALUE_MAX);
	line[n++] = ' ';
	n += put_value(line + n, f->path, f->path ? strcspn(f->path, "?") : 0, LOG_ROUTE_MAX);
	n += (size_t)snprintf(line + n, sizeof(line) - n, " %u %llu ", f->status,
	                      (unsigned long long)f->duration_us);
	n += put_str(line + n, f->error, LOG_VALUE_MAX);
	line[n++] = ' ';
	n += put_str(line + n, f->detail, LOG_VALUE_MAX);
	line[n++] = '\n';
	assert(n <= sizeof(line));
	return write_line(l, line, n);
}

int
log_msg(struct log *l, const char *level, const char *fmt, ...)
{
	char msg[LOG_MSG_MAX + 1];
	char line[TIME_LEN + 1 + LOG_VALUE_MAX + 1 + LOG_MSG_MAX + 1];
	size_t n = 0;
	va_list ap;

	va_start(ap, fmt);
	int len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (len < 0)
		return -1;
	size_t mlen = (size_t)len < sizeof(msg) ? (size_t)len : sizeof(msg) - 1;
	if (l->format == LOG_FORMAT_JSON)
		return json_msg(l, level, msg, mlen, (size_t)len > mlen);

	n += put_time(line + n, NULL);
	line[n++] = ' ';
	n += put_str(line + n, level, LOG_VALUE_MAX);
	line[n++] = ' ';
	size_t start = n;
	int cut = (size_t)len > mlen;
	for (size_t i = 0; i < mlen; i++) {
		unsigned char ch = (unsigned char)msg[i];
		char esc[5] = {(char)ch};
		size_t k = 1;
		if (ch == '\n')
			k = (size_t)snprintf(esc, sizeof(esc), "\\n");
		else if (ch == '\t')
			k = (size_t)snprintf(esc, sizeof(esc), "\\t");
		else if (ch < 0x20 || ch == 0x7f)
			k = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", ch);
		if (n - start + k > LOG_MSG_MAX - 3) {
			cut = 1;
			break;
		}
		memcpy(line + n, esc, k);
		n += k;
	}
	if (cut) {
		memcpy(line + n, "...", 3);
		n += 3;
	}
	line[n++] = '\n';
	assert(n <= sizeof(line));
	return write_line(l, line, n);
}
