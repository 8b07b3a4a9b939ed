/* buf — the one growable byte buffer. */
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "buf.h"

/* The first allocation: most texts (an answer, a leaf, an error list) fit in it. */
#define BUF_FIRST 1024

#ifndef NDEBUG
/* What buf.h promises of a buffer between two calls: no memory and no text, or a text of len
 * bytes inside its allocation and NUL-terminated; never longer than max; over only with bad. */
static bool
valid(const struct buf *b)
{
	if (b->data == NULL)
		return b->len == 0 && b->cap == 0;
	return b->len < b->cap && b->data[b->len] == '\0' && (b->max == 0 || b->len <= b->max) &&
	       (b->max == 0 || b->cap <= b->max + 1) && (!b->over || b->bad);
}
#endif

/* Grows the allocation to hold need bytes and the NUL; 0 or -1, b unchanged on failure. */
static int
grow(struct buf *b, size_t need)
{
	if (need == SIZE_MAX)
		return -1;
	if (need + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : BUF_FIRST;
	while (cap < need + 1)
		cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
	if (b->max != 0 && cap > b->max + 1)
		cap = b->max + 1;
	char *d;
	if (b->secret) {
		/* realloc could leave a copy of the key behind in the memory it frees */
		if ((d = malloc(cap)) == NULL)
			return -1;
		if (b->data != NULL) {
			memcpy(d, b->data, b->len + 1);
			OPENSSL_cleanse(b->data, b->cap);
			free(b->data);
		}
	} else if ((d = realloc(b->data, cap)) == NULL) {
		return -1;
	}
	if (b->data == NULL)
		d[0] = '\0';
	b->data = d;
	b->cap = cap;
	return 0;
}

int
buf_add(struct buf *b, const void *s, size_t n)
{
	assert(valid(b));
	if (b->max != 0 && n > b->max - b->len) {
		b->bad = b->over = true;
		return -1;
	}
	if (n > SIZE_MAX - b->len - 1 || grow(b, b->len + n) != 0) {
		b->bad = true;
		/* a failed append leaves the text as it was */
		assert(valid(b));
		return -1;
	}
	if (n > 0)
		memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
	assert(valid(b));
	return 0;
}

int
buf_str(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;

	assert(valid(b));
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->bad = true;
		return -1;
	}
	if ((size_t)n < sizeof small)
		return buf_add(b, small, (size_t)n);
	/* Longer than the stack's room: format straight into the buffer. */
	if (b->max != 0 && (size_t)n > b->max - b->len) {
		b->bad = b->over = true;
		return -1;
	}
	if (grow(b, b->len + (size_t)n) != 0) {
		b->bad = true;
		return -1;
	}
	va_start(ap, fmt);
	int m = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	/* the same arguments format to the same length, which grow made room for */
	assert(m == n);
	(void)m;
	b->len += (size_t)n;
	assert(valid(b));
	return 0;
}

int
buf_reserve(struct buf *b, size_t n)
{
	assert(valid(b));
	if (b->max != 0 && n > b->max)
		return -1;
	int rc = grow(b, n);
	assert(valid(b) && (rc != 0 || n < b->cap));
	return rc;
}

void
buf_truncate(struct buf *b, size_t n)
{
	assert(valid(b) && n <= b->len);
	if (b->data != NULL) {
		if (b->secret)
			OPENSSL_cleanse(b->data + n, b->len - n);
		b->data[n] = '\0';
	}
	b->len = n;
}

void
buf_reset(struct buf *b)
{
	buf_truncate(b, 0);
	b->bad = b->over = false;
}

char *
buf_take(struct buf *b, size_t *len)
{
	char *d = b->data;
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	b->bad = b->over = false;
	return d;
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	if (b->data != NULL && b->secret)
		OPENSSL_cleanse(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->bad = b->over = false;
}
