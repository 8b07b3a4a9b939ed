/* csv — the one CSV writer (RFC 4180): UTF-8 with a byte-order mark, CRLF, fields quoted where
 * they must be and formula-looking fields defused. */
#ifndef PDGATE_CSV_H
#define PDGATE_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * What pdgate's CSV files are: the byte-order mark first (spreadsheets then read the Japanese
 * as UTF-8), then rows ending in CRLF. A field is quoted when it holds a comma, a quote, CR or
 * LF (quotes doubled); one that starts with = + - @ TAB or CR is quoted and prefixed with ' so
 * that no spreadsheet runs it as a formula. Failures are left in b->bad for the caller to
 * check once at the end (buf.h).
 */

/* Appends the byte-order mark: the start of a file. */
void csv_start(struct buf *b);

/* Appends one field (NULL: empty), then "," or, if last, CRLF. */
void csv_field(struct buf *b, const char *s, bool last);

/* Appends a whole row of n fields (NULL: empty). */
void csv_row(struct buf *b, const char *const *fields, size_t n);

#endif
