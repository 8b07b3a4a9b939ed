/* witness — a C2SP tlog-witness: the logs it follows, their state, the add-checkpoint decision. */
#include "witness.h"

#include <inttypes.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "codec.h"
#include "merkle.h"

struct witness {
	struct note_signer *cosigner; /* owned */
	struct note_verifier **logs;  /* owned, n_logs */
	size_t n_logs;
	sqlite3 *db;          /* owned; used only under lock */
	pthread_mutex_t lock; /* makes each check-and-update one step */
};

void
witness_free(struct witness *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n_logs; i++)
		note_verifier_free(w->logs[i]);
	free(w->logs);
	note_signer_free(w->cosigner);
	sqlite3_close(w->db);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

struct witness *
witness_open(const char *db_path, struct note_signer *cosigner, struct note_verifier **logs,
             size_t n, char *err, size_t errlen)
{
	static const char schema[] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	                             "CREATE TABLE IF NOT EXISTS logs (origin TEXT PRIMARY KEY,"
	                             " size INTEGER NOT NULL CHECK (size > 0),"
	                             " root BLOB NOT NULL CHECK (length(root) = 32))";
	struct witness *w = calloc(1, sizeof(*w));

	if (w == NULL || pthread_mutex_init(&w->lock, NULL) != 0) {
		free(w);
		for (size_t i = 0; i < n; i++)
			note_verifier_free(logs[i]);
		note_signer_free(cosigner);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->cosigner = cosigner;
	w->logs = logs;
	w->n_logs = n;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(note_verifier_name(logs[i]), note_verifier_name(logs[j])) == 0) {
				snprintf(err, errlen, "log %s listed twice",
				         note_verifier_name(logs[i]));
				goto fail;
			}
	if (sqlite3_open_v2(db_path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	        SQLITE_OK ||
	    sqlite3_exec(w->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", db_path,
		         w->db ? sqlite3_errmsg(w->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(w->db, 5000);
	return w;
fail:
	witness_free(w);
	return NULL;
}

/* The stored state of origin[0..len): 1, 0 (none: size 0) or -1. Under lock. */
static int
load(struct witness *w, const char *origin, size_t len, uint64_t *size, uint8_t root[32])
{
	sqlite3_stmt *st = NULL;
	int rc = -1, step;

	*size = 0;
	if (sqlite3_prepare_v2(w->db, "SELECT size, root FROM logs WHERE origin = ?", -1, &st,
	                       NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, origin, (int)len, SQLITE_STATIC) != SQLITE_OK)
		goto done;
	step = sqlite3_step(st);
	if (step == SQLITE_DONE) {
		rc = 0;
	} else if (step == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0 &&
	           sqlite3_column_bytes(st, 1) == 32) {
		*size = (uint64_t)sqlite3_column_int64(st, 0);
		memcpy(root, sqlite3_column_blob(st, 1), 32);
		rc = 1;
	}
done:
	sqlite3_finalize(st);
	return rc;
}

int
witness_state(struct witness *w, const char *origin, uint64_t *size, uint8_t root[32])
{
	int rc;

	pthread_mutex_lock(&w->lock);
	rc = load(w, origin, strlen(origin), size, root);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* Stores the new state: committed (synchronous=FULL) when it returns 0. Under lock. */
static int
store(struct witness *w, const char *origin, size_t len, uint64_t size, const uint8_t root[32])
{
	sqlite3_stmt *st = NULL;
	int ok;

	ok = sqlite3_prepare_v2(w->db,
	                        "INSERT INTO logs (origin, size, root) VALUES (?, ?, ?) "
	                        "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, "
	                        "root = excluded.root",
	                        -1, &st, NULL) == SQLITE_OK &&
	     sqlite3_bind_text(st, 1, origin, (int)len, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_int64(st, 2, (sqlite3_int64)size) == SQLITE_OK &&
	     sqlite3_bind_blob(st, 3, root, 32, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

static int answer(struct witness_answer *a, int status, const char *ctype, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
answer(struct witness_answer *a, int status, const char *ctype, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&a->body, fmt, ap);
	va_end(ap);
	if (n < 0) {
		a->body = NULL;
		return -1;
	}
	a->status = status;
	a->ctype = ctype;
	a->body_len = (size_t)n;
	return 0;
}

#define TEXT "text/plain; charset=utf-8"

/* A decimal without a leading zero ("0" alone), within uint64, as s[0..len). */
static int
parse_size(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || (s[0] == '0' && len > 1))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static const struct note_verifier *
find_log(const struct witness *w, const char *origin, size_t len)
{
	for (size_t i = 0; i < w->n_logs; i++) {
		const char *name = note_verifier_name(w->logs[i]);

		if (strlen(name) == len && memcmp(name, origin, len) == 0)
			return w->logs[i];
	}
	return NULL;
}

/* The checks of c2sp.org/tlog-witness once the note is the log's: 0 to cosign, or the answer. */
static int
consistent(struct witness *w, const struct note_checkpoint *cp, uint64_t old,
           uint8_t proof[][MERKLE_HASH_LEN], size_t n, struct witness_answer *a, int *done)
{
	static const uint8_t empty[32] = {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
	                                  0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
	                                  0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
	                                  0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
	uint8_t stored_root[32];
	uint64_t stored;
	int r;

	*done = 1;
	if ((r = load(w, cp->origin, cp->origin_len, &stored, stored_root)) < 0)
		return answer(a, 500, TEXT, "witness state unreadable\n");
	if (old != stored)
		return answer(a, 409, "text/x.tlog.size", "%" PRIu64 "\n", stored);
	if (cp->size == 0 && memcmp(cp->root, empty, 32) != 0)
		return answer(a, 422, TEXT,
		              "a checkpoint of size 0 must have the empty tree's root\n");
	if (old == 0) {
		if (n != 0)
			return answer(a, 422, TEXT, "old size 0 takes no consistency proof\n");
	} else if (old == cp->size) {
		if (n != 0)
			return answer(a, 422, TEXT, "the same size takes no consistency proof\n");
		/* c2sp.org/tlog-witness: the same size with another root is a conflict (409) */
		if (memcmp(cp->root, stored_root, 32) != 0)
			return answer(a, 409, "text/x.tlog.size", "%" PRIu64 "\n", stored);
	} else if (merkle_verify_consistency(old, cp->size, stored_root, cp->root,
	                                     (const uint8_t(*)[MERKLE_HASH_LEN])proof, n) != 0) {
		return answer(a, 422, TEXT, "the consistency proof does not verify\n");
	}
	*done = 0;
	return 0;
}

int
witness_add_checkpoint(struct witness *w, const char *req, size_t len, uint64_t now,
                       struct witness_answer *a)
{
	uint8_t proof[WITNESS_MAX_PROOF][MERKLE_HASH_LEN];
	const char *p = req, *end = req + len, *eol, *note;
	const struct note_verifier *log;
	struct note_checkpoint cp;
	uint64_t old;
	size_t n = 0, note_len, text_len;
	int rc, done;

	memset(a, 0, sizeof(*a));
	if (len > WITNESS_MAX_BODY)
		return answer(a, 400, TEXT, "body over %d bytes\n", WITNESS_MAX_BODY);
	if ((eol = memchr(p, '\n', len)) == NULL || eol - p < 4 || memcmp(p, "old ", 4) != 0 ||
	    parse_size(p + 4, (size_t)(eol - p - 4), &old) != 0)
		return answer(a, 400, TEXT,
		              "first line: 'old SIZE', decimal without leading zero\n");
	p = eol + 1;
	for (;;) {
		if (p == end || (eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return answer(a, 400, TEXT, "no blank line before the checkpoint\n");
		if (eol == p)
			break;
		if (n == WITNESS_MAX_PROOF)
			return answer(a, 400, TEXT, "more than %d proof lines\n",
			              WITNESS_MAX_PROOF);
		if (codec_b64_decode(p, (size_t)(eol - p), proof[n], MERKLE_HASH_LEN) !=
		    MERKLE_HASH_LEN)
			return answer(a, 400, TEXT, "proof line %zu: not base64 of 32 bytes\n",
			              n + 1);
		n++;
		p = eol + 1;
	}
	note = eol + 1;
	note_len = (size_t)(end - note);
	/* the origin, to tell an unknown log (404) from an untrusted signature (403) */
	if ((eol = memchr(note, '\n', note_len)) == NULL || eol == note)
		return answer(a, 400, TEXT, "no checkpoint\n");
	if ((log = find_log(w, note, (size_t)(eol - note))) == NULL)
		return answer(a, 404, TEXT, "unknown log\n");
	rc = note_checkpoint_open(note, note_len, (struct note_verifier *const *)&log, 1, &cp);
	if (rc == NOTE_EBADSIG || rc == NOTE_EUNVERIFIED)
		return answer(a, 403, TEXT, "no valid signature by the log's key: %s\n",
		              note_strerror(rc));
	if (rc == NOTE_ENOMEM || rc == NOTE_ECRYPTO)
		return answer(a, 500, TEXT, "%s\n", note_strerror(rc));
	if (rc != NOTE_OK)
		return answer(a, 400, TEXT, "checkpoint: %s\n", note_strerror(rc));
	if (old > cp.size)
		return answer(a, 400, TEXT,
		              "old size %" PRIu64 " above the checkpoint's %" PRIu64 "\n", old,
		              cp.size);
	if (cp.size > INT64_MAX)
		return answer(a, 400, TEXT, "size above 2^63 - 1\n");
	text_len = note_text_len(note, note_len);

	pthread_mutex_lock(&w->lock);
	if (sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = answer(a, 500, TEXT, "witness state busy\n");
		goto unlock;
	}
	if ((rc = consistent(w, &cp, old, proof, n, a, &done)) != 0 || done) {
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
		goto unlock;
	}
	if (cp.size > old) {
		if (store(w, cp.origin, cp.origin_len, cp.size, cp.root) != 0 ||
		    sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
			rc = answer(a, 500, TEXT, "witness state not written\n");
			goto unlock;
		}
	} else {
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	}
	rc = note_cosign(w->cosigner, note, text_len, now, &a->body, &a->body_len);
	if (rc == NOTE_OK) {
		a->status = 200;
		a->ctype = TEXT;
	} else {
		rc = answer(a, 500, TEXT, "cosigning failed: %s\n", note_strerror(rc));
	}
unlock:
	pthread_mutex_unlock(&w->lock);
	return rc < 0 ? -1 : 0;
}
