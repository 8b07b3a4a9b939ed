/* ledger_cosig — witnesses' cosignatures of the ledger's checkpoints, kept in the ledger's store
 * (ledger.db, or the PostgreSQL database the nodes share). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ledger_cosig.h"
#include "ledger_err.h"
#include "ledger_pool.h"
#include "note.h"

/* A checkpoint carries at most this many cosignatures: a note holds NOTE_MAX_SIGS lines. */
#define COSIG_MAX (NOTE_MAX_SIGS - 1)

struct lines {
	struct buf *b;
	int k;
	int oom;
};

static int
add_line(void *arg, const char *line, size_t ll)
{
	struct lines *x = arg;

	/* a row is one signature line; anything else (a hand-edited row) is left out */
	if (x->k >= COSIG_MAX || line == NULL || ll < 4 || line[ll - 1] != '\n' ||
	    memchr(line, '\n', ll - 1) || memchr(line, '\0', ll))
		return 0;
	if (buf_add(x->b, line, ll) < 0) {
		x->oom = 1;
		return LEDGER_ENOMEM;
	}
	x->k++;
	return 0;
}

int
ledger_cosigned_checkpoint(struct ledger *l, uint64_t size, char **note, size_t *len,
                           uint64_t *cp_size)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *s = ledger_pool_get(pool);
	struct buf b = {0};
	struct lines x = {&b, 0, 0};
	char *n = NULL;
	size_t nlen = 0;
	int rc;

	*note = NULL;
	/* one read snapshot: the checkpoint and its lines as one state of the store */
	if ((rc = s->ops->snapshot_begin(s)) != 0)
		goto done;
	if ((rc = s->ops->checkpoint(s, size, cp_size, &n, &nlen, NULL)) != 0)
		goto end;
	if (buf_add(&b, n, nlen) < 0) {
		rc = LEDGER_ENOMEM;
		goto end;
	}
	rc = s->ops->cosig_lines(s, *cp_size, add_line, &x);
	if (rc == 0) {
		*note = buf_take(&b, len);
		if (*note == NULL)
			rc = LEDGER_ENOMEM;
	}
end:
	s->ops->snapshot_end(s);
done:
	ledger_pool_put(pool, s);
	buf_free(&b);
	free(n);
	return rc;
}

/* The newest cosigned size (ledger_store_ops.cosig_newest) on a read connection of l. */
static int
newest(struct ledger *l, unsigned n, const char *witness, uint64_t *size)
{
	struct ledger_pool *pool = ledger_pool_of(l);
	struct ledger_store *s = ledger_pool_get(pool);
	int rc = s->ops->cosig_newest(s, n, witness, size);

	if (rc != 0)
		*size = 0;
	ledger_pool_put(pool, s);
	return rc;
}

int
ledger_cosig_newest(struct ledger *l, unsigned n, uint64_t *size)
{
	return newest(l, n, NULL, size);
}

int
ledger_cosig_newest_by(struct ledger *l, const char *witness, uint64_t *size)
{
	return newest(l, 0, witness, size);
}

struct ledger_store *
ledger_cosig_store_open(const char *where, const char *origin, char *err, size_t errlen)
{
	struct ledger_store *s = ledger_pool_writer(where, origin, err, errlen);

	if (s != NULL && s->ops->cosig_open(s) != 0) {
		snprintf(err, errlen, "the cosignatures table: %s", s->ops->errmsg(s));
		ledger_store_free(s);
		return NULL;
	}
	return s;
}

int
ledger_cosig_put(struct ledger_store *s, uint64_t size, const char *witness, uint64_t ts,
                 const char *line, size_t len, char *err, size_t errlen)
{
	int rc = s->ops->cosig_put(s, size, witness, ts, line, len);

	if (rc != 0) {
		snprintf(err, errlen, "%s",
		         rc == LEDGER_EIO ? s->ops->errmsg(s) : ledger_strerror(rc));
		return -1;
	}
	return 0;
}
