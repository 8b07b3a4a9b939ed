/* log — the request log and the daemon's messages: one line each, to stderr or a file. */
#ifndef PDGATE_LOG_H
#define PDGATE_LOG_H

#include <stdint.h>
#include <time.h>

/*
 * Format. Every line starts with the time in RFC 3339, UTC, milliseconds, then its kind:
 *
 *   2026-04-01T09:30:12.345Z req ID PARTNER PURPOSE METHOD ROUTE STATUS MICROSECONDS ERROR DETAIL
 *   2026-04-01T09:30:12.345Z info MESSAGE
 *
 * A request line has exactly eleven fields separated by one space. A missing value is "-";
 * ROUTE is the path without its query string; ERROR is the apierr code or "-"; DETAIL is the
 * refusal's message (which rule refused: "claims:%20expired…") or "-". Values come
 * from the client, so bytes outside printable ASCII, '%' and blanks are written as %XX, and
 * each value is cut at LOG_VALUE_MAX bytes (ROUTE at LOG_ROUTE_MAX) ending in "...": a line
 * cannot be split or forged, and it stays under PIPE_BUF. Daemon messages (LEVEL is info,
 * warn or error) have control characters written as \n, \t or \xNN.
 *
 * With LOG_FORMAT_JSON each line is instead one JSON object (RFC 8259, UTF-8, no raw control
 * character, so no line break inside), the same fields by name, in this order:
 *
 *   {"time":"2026-04-01T09:30:12.345Z","kind":"req","request_id":"…","partner":"…",
 *    "purpose":"…","method":"GET","route":"/v1/members/{}","status":200,"duration_us":845,
 *    "error":null,"detail":null}
 *   {"time":"2026-04-01T09:30:12.345Z","kind":"info","message":"…"}
 *
 * A request line's strings are the text line's values exactly (%XX-encoded, cut the same
 * way); a missing one is null; status and duration_us are numbers. A message keeps its
 * control characters as JSON escapes and writes a byte that is not UTF-8 as \xNN.
 *
 * Each line is one write(2) to a file opened O_APPEND (or a pipe): threads share a log
 * without a lock and lines never interleave. Only identifiers are logged: never member data,
 * token contents or key material.
 */
#define LOG_VALUE_MAX 128
#define LOG_ROUTE_MAX 1024
#define LOG_MSG_MAX 2048

struct log;

enum log_format {
	LOG_FORMAT_TEXT, /* the lines above; the default */
	LOG_FORMAT_JSON, /* one JSON object per line */
};

/* The fields of one request line. Strings are borrowed; NULL or "" is written "-". */
struct log_request_fields {
	const struct timespec *time; /* when the request arrived; NULL = now */
	const char *request_id;
	const char *partner;
	const char *purpose;
	const char *method;
	const char *path; /* the request path; anything from '?' on is dropped */
	unsigned status;
	uint64_t duration_us;
	const char *error;  /* apierr_code(), or NULL on success */
	const char *detail; /* why it was refused, or NULL */
};

/* Opens the log: path is appended to (created 0640 if absent); NULL means stderr.
 * Returns the log (caller frees with log_free), or NULL with errno set. */
struct log *log_open(const char *path);

/* Sets the format of the lines written from now on; call it before the log is shared. */
void log_set_format(struct log *l, enum log_format format);

/* Closes the log's file (never stderr); log_free(NULL) does nothing. */
void log_free(struct log *l);

/* Reopens the file by its path, for rotation (SIGUSR1, SIGHUP): lines written by other threads go
 * to either the old or the new file, whole. On failure the old file stays in use. Returns 0, or -1
 * with errno set. A log on stderr is left as it is (returns 0). */
int log_reopen(struct log *l);

/* Writes one request line. Returns 0, or -1 if the write failed (the line is lost). */
int log_request(struct log *l, const struct log_request_fields *f);

/* Writes one daemon message; level is "info", "warn" or "error". Returns 0 or -1. */
int log_msg(struct log *l, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
