/* buf — the one growable byte buffer: appended to, always NUL-terminated, optionally bounded. */
#ifndef PDGATE_BUF_H
#define PDGATE_BUF_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Zero-initialised, a buffer is empty and unbounded; set max (and secret) before the first
 * append. A failed append (out of memory, or past max) leaves the text as it was and sets bad,
 * and over too when max was the reason: a caller that checks bad once at the end never takes a
 * text with a piece missing for whole. The owner frees data with buf_free (or takes it).
 */
struct buf {
	char *data;  /* NUL-terminated once anything was added or reserved; NULL before */
	size_t len;  /* bytes used, the NUL not counted */
	size_t cap;  /* bytes allocated, the NUL's included */
	size_t max;  /* 0: no bound; else len never passes it */
	bool bad;    /* an append failed since the last reset */
	bool over;   /* ... because of max */
	bool secret; /* key material: wiped before its memory is freed or moved */
};

/* Appends n bytes of s. 0, or -1 (bad set, text unchanged). */
int buf_add(struct buf *b, const void *s, size_t n);
/* Appends the string s. 0 or -1, as buf_add. */
int buf_str(struct buf *b, const char *s);
/* Appends a formatted string. 0 or -1, as buf_add. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes room for n bytes in all (and the NUL) without appending: one allocation now rather
 * than a few as the text grows. 0 or -1 (memory, or n past max; bad is not set). */
int buf_reserve(struct buf *b, size_t n);
/* Cuts the text back to its first n bytes (n <= len), to undo appends; bad is kept. */
void buf_truncate(struct buf *b, size_t n);
/* Empties the text and clears bad and over; the memory is kept for the next use. */
void buf_reset(struct buf *b);
/* The text (caller frees; NULL if nothing was ever added) and its length; b is left empty. */
char *buf_take(struct buf *b, size_t *len);
/* Frees the memory (wiped first if secret) and empties b, max and secret kept. NULL is fine. */
void buf_free(struct buf *b);

#endif
