/* test_buf — the growable buffer: growth, bounds, failed allocations, NUL termination. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Fault injection: the allocation numbered fail_at (1, 2, ...) fails, every other succeeds. */
static int allocs, fail_at;

static void *
test_malloc(size_t n)
{
	return ++allocs == fail_at ? NULL : malloc(n);
}

static void *
test_realloc(void *p, size_t n)
{
	return ++allocs == fail_at ? NULL : realloc(p, n);
}

#define malloc test_malloc
#define realloc test_realloc
#include "buf.c"
#undef malloc
#undef realloc

/* The invariants every buffer keeps, whatever happened to it. */
static void
check_shape(const struct buf *b, const char *what)
{
	CHECK(b->data == NULL ? b->len == 0 && b->cap == 0 : b->len < b->cap, "%s: len < cap",
	      what);
	CHECK(b->data == NULL || b->data[b->len] == '\0', "%s: NUL-terminated", what);
	CHECK(b->max == 0 || b->len <= b->max, "%s: within max", what);
}

static void
appends(void)
{
	static const struct {
		const char *what;
		size_t max;       /* the buffer's bound, 0 none */
		int fail_at;      /* the allocation that fails, 0 none */
		size_t pieces;    /* appends of piece bytes each */
		size_t piece;     /* their size */
		int ok;           /* appends that succeed, in order; the rest fail */
		int over;         /* whether max made them fail */
		size_t first_cap; /* cap after the first append */
	} t[] = {
	    {"one small append", 0, 0, 1, 5, 1, 0, BUF_FIRST},
	    {"an empty append allocates the NUL", 0, 0, 1, 0, 1, 0, BUF_FIRST},
	    {"growth by doubling", 0, 0, 5, 1000, 5, 0, BUF_FIRST},
	    {"one append larger than the first allocation", 0, 0, 1, 5000, 1, 0, 8192},
	    {"max reached exactly", 100, 0, 4, 25, 4, 0, 101},
	    {"max passed by one byte", 100, 0, 5, 25, 4, 1, 101},
	    {"max 0 is no bound", 0, 0, 3, 3000, 3, 0, 4096},
	    {"first allocation fails", 0, 1, 1, 10, 0, 0, 0},
	    {"a later growth fails", 0, 2, 2, 1000, 1, 0, BUF_FIRST},
	};
	char piece[8192];

	memset(piece, 'x', sizeof piece);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct buf b = {.max = t[i].max};
		int ok = 0, fails = 0;
		allocs = 0;
		fail_at = t[i].fail_at;
		for (size_t k = 0; k < t[i].pieces; k++) {
			size_t before = b.len;
			if (buf_add(&b, piece, t[i].piece) == 0) {
				CHECK(fails == 0, "%s: append %zu succeeds only before a failure",
				      t[i].what, k);
				ok++;
			} else {
				fails++;
				CHECK(b.len == before, "%s: a failed append leaves the text",
				      t[i].what);
			}
			if (k == 0)
				CHECK(b.cap == t[i].first_cap, "%s: first cap %zu", t[i].what,
				      b.cap);
			check_shape(&b, t[i].what);
		}
		CHECK(ok == t[i].ok, "%s: %d appends succeeded", t[i].what, ok);
		CHECK(b.len == (size_t)ok * t[i].piece, "%s: len %zu", t[i].what, b.len);
		CHECK(b.bad == (ok < (int)t[i].pieces), "%s: bad", t[i].what);
		CHECK(b.over == (t[i].over != 0), "%s: over", t[i].what);
		buf_free(&b);
		check_shape(&b, t[i].what);
		CHECK(b.max == t[i].max, "%s: max kept by buf_free", t[i].what);
	}
	fail_at = 0;
}

static void
edits(void)
{
	struct buf b = {0};

	CHECK(buf_str(&b, "hello, ") == 0 && buf_printf(&b, "%s %d", "world", 42) == 0 &&
	          strcmp(b.data, "hello, world 42") == 0,
	      "str and printf append");
	buf_truncate(&b, 5);
	CHECK(b.len == 5 && strcmp(b.data, "hello") == 0, "truncate cuts and terminates");
	char *before = b.data;
	buf_reset(&b);
	CHECK(b.len == 0 && b.data == before && b.data[0] == '\0' && !b.bad, "reset keeps memory");

	/* a formatted string longer than printf's stack room goes straight into the buffer */
	char big[600];
	memset(big, 'y', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK(buf_printf(&b, "<%s>", big) == 0 && b.len == sizeof big + 1 && b.data[0] == '<' &&
	          b.data[b.len - 1] == '>' && b.data[b.len] == '\0',
	      "long printf");
	struct buf small = {.max = 10};
	CHECK(buf_printf(&small, "%s", big) == -1 && small.over && small.len == 0,
	      "long printf past max");
	CHECK(buf_printf(&small, "%d", 12345) == 0 && strcmp(small.data, "12345") == 0,
	      "a failure does not stop later appends that fit");
	buf_free(&small);

	size_t len;
	char *taken = buf_take(&b, &len);
	CHECK(taken != NULL && len == sizeof big + 1 && b.data == NULL && b.len == 0 && b.cap == 0,
	      "take hands over the text");
	free(taken);
	CHECK(buf_take(&b, &len) == NULL && len == 0, "take of an empty buffer");
	buf_free(NULL);

	struct buf r = {.max = 100};
	CHECK(buf_reserve(&r, 101) == -1 && !r.bad, "reserve past max");
	CHECK(buf_reserve(&r, 100) == 0 && r.cap == 101 && r.data[0] == '\0', "reserve to max");
	char *one = r.data;
	for (int i = 0; i < 10; i++)
		buf_add(&r, "0123456789", 10);
	CHECK(r.data == one && r.len == 100, "a reserved buffer is not moved");
	buf_free(&r);

	struct buf w = {0};
	CHECK(buf_add(&w, "", SIZE_MAX) == -1 && w.bad && !w.over, "a length that would wrap");
	buf_free(&w);
}

static void
secrets(void)
{
	struct buf k = {.secret = true};
	char piece[700];

	memset(piece, 'k', sizeof piece);
	for (int i = 0; i < 4; i++)
		buf_add(&k, piece, sizeof piece);
	CHECK(k.len == 4 * sizeof piece && k.data[0] == 'k' && k.data[k.len - 1] == 'k' &&
	          k.data[k.len] == '\0',
	      "a secret buffer grows by copying");
	allocs = 0;
	fail_at = 1;
	CHECK(buf_add(&k, piece, sizeof piece) == 0, "room left: no allocation");
	CHECK(buf_add(&k, piece, 2 * sizeof piece) == -1 && k.len == 5 * sizeof piece &&
	          k.data[0] == 'k',
	      "a secret buffer whose growth fails keeps its text");
	fail_at = 0;
	buf_truncate(&k, 1);
	CHECK(k.data[1] == '\0' && k.data[2] == '\0', "truncate wipes what it cuts");
	buf_free(&k);
	CHECK(k.data == NULL && k.secret, "free keeps the secret flag");
}

int
main(void)
{
	appends();
	edits();
	secrets();
	return check_done();
}
