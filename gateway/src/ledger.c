/* ledger — the durable transfer ledger: entries committed in groups, signed checkpoints, proofs. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "codec.h"
#include "config.h"
#include "ledger.h"
#include "note.h"

#define SCHEMA_VERSION "1"
/* How long a connection waits for a lock held by another process (an administrator's sqlite3,
 * a backup) before the operation fails: the writer then fails the batch (503), never hangs. */
#define WRITER_BUSY_MS 2000
#define READER_BUSY_MS 5000
/* A leaf's time: "YYYY-MM-DDTHH:MM:SS.mmmZ". */
#define TIME_LEN 24
/* The key file is small; anything larger is not a PEM private key. */
#define KEY_MAX_BYTES 16384
/* A proof bundle read by check-proof. */
#define BUNDLE_MAX_BYTES (1024 * 1024)
#define SEARCH_MAX 10000
/*
 * WAL checkpoints run on their own thread and connection, never inside the writer's commit
 * (docs/ledger.md, section 4): once the WAL holds CKPT_START frames, the checkpointer copies
 * them to the database; when what is left is at most CKPT_TAIL frames, the writer copies that
 * tail between two commits, so that the next commit starts the WAL over. Beyond CKPT_HARD
 * frames (a checkpointer that cannot keep up) the writer checkpoints everything itself. A long
 * WAL (64 MiB of 4 KiB pages) is copied once for the many versions it holds of the pages every
 * commit touches (index ends, the last leaves, the tree's nodes).
 */
#define CKPT_START 16384
#define CKPT_TAIL 256
#define CKPT_HARD 65536
#define CKPT_RETRY_MS 50
#define DAY_MS INT64_C(86400000)
#define JST_OFFSET_MS INT64_C(32400000)

static const char *const kind_names[] = {"release", "deny", "admin"};

const char *
ledger_strerror(int err)
{
	switch (err) {
	case LEDGER_OK:
		return "success";
	case LEDGER_EIO:
		return "the ledger database failed";
	case LEDGER_ERANGE:
		return "index or size outside the ledger";
	case LEDGER_ENOENT:
		return "no such checkpoint";
	case LEDGER_EINVAL:
		return "invalid argument";
	case LEDGER_ENOMEM:
		return "out of memory";
	}
	return "unknown ledger error";
}

/* ------------------------------------------------------------------------------------------ */
/* Leaves: compact JSON with a fixed member order, escaped as jansson escapes. */

struct buf {
	char *p;
	size_t len, cap;
	int bad; /* out of memory, over the limit, or not UTF-8: the buffer is unusable */
};

static void
buf_add(struct buf *b, const void *s, size_t n)
{
	if (b->bad)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 512;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->bad = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_cstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong form, no surrogate, at
 * most U+10FFFF), or 0. s is NUL-terminated, so a truncated sequence stops at the NUL. */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/* A JSON string as jansson's json_dumps writes it without JSON_ENSURE_ASCII: '"' and '\' and
 * the controls below 0x20 escaped (\b \f \n \r \t, else \u00XX in upper case), everything else
 * (DEL, '/', non-ASCII) as is. NULL is null. Invalid UTF-8 spoils the buffer. */
static void
buf_json_str(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0;

	if (s == NULL) {
		buf_add(b, "null", 4);
		return;
	}
	buf_add(b, "\"", 1);
	while (p[run] != '\0') {
		char esc[6];
		size_t k = codec_json_escape(p[run], esc);

		if (k == 0) {
			if ((k = utf8_len(p + run)) == 0) {
				b->bad = 1;
				return;
			}
			run += k;
			continue;
		}
		buf_add(b, p, run);
		buf_add(b, esc, k);
		p += run + 1;
		run = 0;
	}
	buf_add(b, p, run);
	buf_add(b, "\"", 1);
}

static void
buf_member(struct buf *b, const char *name, const char *value)
{
	buf_add(b, ",\"", 2);
	buf_cstr(b, name);
	buf_add(b, "\":", 2);
	buf_json_str(b, value);
}

/*
 * Everything of the leaf after "time": from ",\"request\":" to the closing brace. The caller's
 * thread builds it while the writer is busy; the writer only prefixes v, index and time.
 */
static int
leaf_tail(const struct ledger_entry *e, struct buf *b)
{
	if ((unsigned)e->kind > LEDGER_ADMIN || (e->kind == LEDGER_ADMIN) != (e->admin != NULL) ||
	    (e->admin != NULL && e->admin->action == NULL) || e->n_items > LEDGER_MAX_ITEMS ||
	    (e->items == NULL && e->n_items != 0))
		return -1;
	buf_member(b, "request", e->request);
	buf_member(b, "kind", kind_names[e->kind]);
	buf_member(b, "partner", e->partner);
	buf_member(b, "contract", e->contract);
	buf_member(b, "relationship", e->relationship);
	buf_member(b, "purpose", e->purpose);
	buf_member(b, "subject", e->subject);
	if (e->items == NULL) {
		buf_cstr(b, ",\"items\":null");
	} else {
		buf_cstr(b, ",\"items\":[");
		for (size_t i = 0; i < e->n_items; i++) {
			if (e->items[i] == NULL)
				return -1;
			if (i > 0)
				buf_add(b, ",", 1);
			buf_json_str(b, e->items[i]);
		}
		buf_add(b, "]", 1);
	}
	buf_member(b, "basis", e->basis);
	buf_member(b, "reason", e->reason);
	buf_member(b, "digest", e->digest);
	buf_member(b, "cert", e->cert);
	buf_member(b, "token", e->token);
	buf_member(b, "justification", e->justification);
	if (e->admin != NULL) {
		buf_cstr(b, ",\"admin\":{\"action\":");
		buf_json_str(b, e->admin->action);
		buf_member(b, "staff", e->admin->staff);
		buf_member(b, "reason", e->admin->reason);
		buf_member(b, "target", e->admin->target);
		buf_add(b, "}", 1);
	}
	buf_add(b, "}", 1);
	/* The prefix adds at most 64 bytes. */
	if (b->bad || b->len + 64 > LEDGER_MAX_LEAF)
		return -1;
	return 0;
}

/* Days from 1970-01-01 (Howard Hinnant's civil-from-days, inverted). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
format_time(int64_t ms, char out[TIME_LEN + 1])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	char tmp[64];

	gmtime_r(&s, &tm);
	/* Years 0..9999 fill exactly TIME_LEN characters; the clock is past 1970. */
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	memcpy(out, tmp, TIME_LEN);
	out[TIME_LEN] = '\0';
}

/* Parses exactly the form format_time writes; -1 otherwise. */
static int
parse_time(const char *s, size_t len, int64_t *ms)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	int v[7] = {0};
	int field = 0;
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (len != TIME_LEN)
		return -1;
	for (size_t i = 0; i < TIME_LEN; i++) {
		if (shape[i] == 'd') {
			if (s[i] < '0' || s[i] > '9')
				return -1;
			v[field] = v[field] * 10 + (s[i] - '0');
		} else {
			if (s[i] != shape[i])
				return -1;
			field++;
		}
	}
	int y = v[0], mo = v[1], d = v[2];
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo < 1 || mo > 12 || d < 1 || (unsigned)d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !leap) || v[3] > 23 || v[4] > 59 || v[5] > 59)
		return -1;
	*ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + v[3]) * 60 + v[4]) * 60000 +
	      (int64_t)v[5] * 1000 + v[6];
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------------------------ */
/*
 * WAL write coalescing. SQLite writes each WAL frame as two pwrite calls (the 24-byte header,
 * then the page), so a commit of a group of entries costs hundreds of system calls before its
 * fsync. The "pdgate-wal" VFS wraps the default one and, for WAL files only, gathers writes
 * that follow each other in one buffer, written with one pwrite when SQLite syncs the file
 * (which synchronous=FULL does at every commit, before the commit becomes visible), reads it,
 * asks its size, truncates it or closes it, or when the buffer is full. What reaches the disk
 * before each fsync is byte for byte what SQLite wrote: durability is SQLite's own.
 */

#define WALBUF_VFS "pdgate-wal"
#define WALBUF_MAX (4 * 1024 * 1024)
#define WALBUF_CHUNK (64 * 1024)

struct walbuf_file {
	sqlite3_file base; /* our methods */
	sqlite3_file *real;
	unsigned char *buf;
	size_t len, cap;
	sqlite3_int64 off; /* file offset of buf[0] */
};

/* SQLite's VFS registry is process-wide and keeps a pointer to the VFS: the wrapper and its
 * methods must be process-wide too. They are set once (under pthread_once), then only read. */
static sqlite3_vfs walbuf_vfs;
static sqlite3_io_methods walbuf_methods;
static pthread_once_t walbuf_once = PTHREAD_ONCE_INIT;
static int walbuf_ok;

/* Writes the buffer. The unix VFS writes at most 128 KiB - 1 bytes a call (it masks the length
 * with 0x1ffff), so the buffer goes in pieces of WALBUF_CHUNK. */
static int
walbuf_flush(struct walbuf_file *f)
{
	int rc = SQLITE_OK;

	for (size_t done = 0; done < f->len && rc == SQLITE_OK; done += WALBUF_CHUNK) {
		size_t n = f->len - done < WALBUF_CHUNK ? f->len - done : WALBUF_CHUNK;
		rc = f->real->pMethods->xWrite(f->real, f->buf + done, (int)n,
		                               f->off + (sqlite3_int64)done);
	}
	f->len = 0;
	return rc;
}

static int
walbuf_close(sqlite3_file *p)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	int rc = walbuf_flush(f), rc2 = f->real->pMethods->xClose(f->real);

	free(f->buf);
	f->buf = NULL;
	f->cap = 0;
	return rc != SQLITE_OK ? rc : rc2;
}

static int
walbuf_read(sqlite3_file *p, void *out, int n, sqlite3_int64 off)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	int rc = walbuf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, n, off);
}

static int
walbuf_write(sqlite3_file *p, const void *data, int n, sqlite3_int64 off)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	int rc;

	if (f->len > 0 &&
	    (off != f->off + (sqlite3_int64)f->len || f->len + (size_t)n > WALBUF_MAX) &&
	    (rc = walbuf_flush(f)) != SQLITE_OK)
		return rc;
	if (f->len + (size_t)n > f->cap) {
		size_t cap = f->cap ? f->cap : 256 * 1024;
		while (cap < f->len + (size_t)n)
			cap *= 2;
		unsigned char *b = cap <= WALBUF_MAX ? realloc(f->buf, cap) : NULL;
		if (b == NULL) /* larger than the buffer can be, or no memory: as SQLite would */
			return f->real->pMethods->xWrite(f->real, data, n, off);
		f->buf = b;
		f->cap = cap;
	}
	if (f->len == 0)
		f->off = off;
	memcpy(f->buf + f->len, data, (size_t)n);
	f->len += (size_t)n;
	return SQLITE_OK;
}

static int
walbuf_truncate(sqlite3_file *p, sqlite3_int64 size)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	int rc = walbuf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int
walbuf_sync(sqlite3_file *p, int flags)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	int rc = walbuf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int
walbuf_size(sqlite3_file *p, sqlite3_int64 *size)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	int rc = walbuf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int
walbuf_lock(sqlite3_file *p, int level)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	return f->real->pMethods->xLock(f->real, level);
}

static int
walbuf_unlock(sqlite3_file *p, int level)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	return f->real->pMethods->xUnlock(f->real, level);
}

static int
walbuf_reserved(sqlite3_file *p, int *out)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int
walbuf_fcntl(sqlite3_file *p, int op, void *arg)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	int rc = walbuf_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int
walbuf_sector(sqlite3_file *p)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	return f->real->pMethods->xSectorSize(f->real);
}

static int
walbuf_caps(sqlite3_file *p)
{
	struct walbuf_file *f = (struct walbuf_file *)p;
	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* A WAL file gets the buffer; every other file is the default VFS's own, in place. */
static int
walbuf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out_flags)
{
	sqlite3_vfs *real = vfs->pAppData;
	struct walbuf_file *f = (struct walbuf_file *)p;
	int rc;

	if (!(flags & SQLITE_OPEN_WAL))
		return real->xOpen(real, name, p, flags, out_flags);
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	rc = real->xOpen(real, name, f->real, flags, out_flags);
	/* SQLite closes a file whose methods are set, even after a failed open. */
	if (f->real->pMethods != NULL)
		f->base.pMethods = &walbuf_methods;
	return rc;
}

static void
walbuf_register_once(void)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);

	if (real == NULL)
		return;
	/* Everything but xOpen is the default VFS's own: the unix VFS keeps no state in the VFS
	 * object other than what its xOpen reads, and that xOpen gets its own object. */
	walbuf_vfs = *real;
	walbuf_vfs.szOsFile = (int)sizeof(struct walbuf_file) + real->szOsFile;
	walbuf_vfs.zName = WALBUF_VFS;
	walbuf_vfs.pNext = NULL;
	walbuf_vfs.pAppData = real;
	walbuf_vfs.xOpen = walbuf_open;
	walbuf_methods = (sqlite3_io_methods){
	    .iVersion = 1,
	    .xClose = walbuf_close,
	    .xRead = walbuf_read,
	    .xWrite = walbuf_write,
	    .xTruncate = walbuf_truncate,
	    .xSync = walbuf_sync,
	    .xFileSize = walbuf_size,
	    .xLock = walbuf_lock,
	    .xUnlock = walbuf_unlock,
	    .xCheckReservedLock = walbuf_reserved,
	    .xFileControl = walbuf_fcntl,
	    .xSectorSize = walbuf_sector,
	    .xDeviceCharacteristics = walbuf_caps,
	};
	walbuf_ok = sqlite3_vfs_register(&walbuf_vfs, 0) == SQLITE_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections: one SQLite handle with its prepared statements. */

enum stmt_id {
	/* every connection */
	ST_LEAF_HASH,
	ST_NODE,
	ST_MAX_IDX,
	ST_CP_LATEST,
	ST_CP_AT,
	ST_LEAVES,
	ST_TIME_AT,
	ST_DAY,
	ST_READER_END,
	/* the writer's */
	ST_INS_ENTRY = ST_READER_END,
	ST_INS_NODE,
	ST_INS_CP,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_COUNT,
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_LEAF_HASH] = "SELECT hash FROM entries WHERE idx = ?1",
    [ST_NODE] = "SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2",
    [ST_MAX_IDX] = "SELECT max(idx) FROM entries",
    [ST_CP_LATEST] = "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
    [ST_CP_AT] = "SELECT size, note FROM checkpoints WHERE size = ?1",
    [ST_LEAVES] = "SELECT idx, leaf FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
    [ST_TIME_AT] = "SELECT time FROM entries WHERE idx = ?1",
    [ST_DAY] = "SELECT contract, count(*) FROM entries WHERE idx >= ?1 AND idx < ?2 AND "
               "kind = 'release' AND contract IS NOT NULL GROUP BY contract",
    [ST_INS_ENTRY] = "INSERT INTO entries(idx, leaf, hash, time, kind, partner, contract, "
                     "purpose, subject) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_INS_NODE] = "INSERT INTO nodes(level, idx, hash) VALUES (?1, ?2, ?3)",
    [ST_INS_CP] = "INSERT INTO checkpoints(size, note, time) VALUES (?1, ?2, ?3)",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

/*
 * The schema (docs/ledger.md). entries.hash is the leaf hash; nodes holds every complete
 * perfect-subtree node of level >= 1, so that roots and proofs of any size cost O(log n)
 * lookups. The search columns repeat members of the leaf (verify checks they agree); time is
 * non-decreasing with idx, so a time range is found by bisecting idx and needs no index.
 */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS entries(idx INTEGER PRIMARY KEY, leaf TEXT NOT NULL,"
    " hash BLOB NOT NULL, time INTEGER NOT NULL, kind TEXT NOT NULL, partner TEXT,"
    " contract TEXT, purpose TEXT, subject TEXT);"
    "CREATE INDEX IF NOT EXISTS entries_partner ON entries(partner) WHERE partner IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS entries_subject ON entries(subject) WHERE subject IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS entries_purpose ON entries(purpose) WHERE purpose IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS entries_kind ON entries(kind);"
    "CREATE TABLE IF NOT EXISTS nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " hash BLOB NOT NULL, PRIMARY KEY(level, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL,"
    " time INTEGER NOT NULL);";

/*
 * What the query planner is told about the indexes, instead of statistics gathered by ANALYZE
 * (which reads the whole table): a subject matches a handful of entries, a partner or a purpose
 * many, a kind most. Without them SQLite may run a combined search through the kind index and
 * scan a million rows. ANALYZE of the empty new table creates sqlite_stat1; the rows are ours.
 */
static const char stats_sql[] = "DELETE FROM sqlite_stat1 WHERE tbl = 'entries';"
                                "INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES"
                                " ('entries', 'entries_subject', '1000000 4'), ('entries', "
                                "'entries_partner', '1000000 100000'),"
                                " ('entries', 'entries_purpose', '1000000 100000'), ('entries', "
                                "'entries_kind', '1000000 300000');";

struct conn {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	struct conn *next; /* in the reader pool's free list */
};

static void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(c->st[i]);
	sqlite3_close(c->db);
	free(c);
}

/* Opens path; busy_timeout is set before anything can touch the file's locks. */
static struct conn *
conn_open(const char *path, int writer, char *err, size_t errlen)
{
	struct conn *c = calloc(1, sizeof(*c));
	int flags = writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
	int rc;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* The writer's WAL writes are gathered (walbuf_*); readers write nothing. */
	pthread_once(&walbuf_once, walbuf_register_once);
	rc = sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX,
	                     writer && walbuf_ok ? WALBUF_VFS : NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
		         c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, writer ? WRITER_BUSY_MS : READER_BUSY_MS);
	sqlite3_extended_result_codes(c->db, 1);
	return c;
fail:
	conn_free(c);
	return NULL;
}

static int
conn_prepare(struct conn *c, int writer, char *err, size_t errlen)
{
	int n = writer ? ST_COUNT : ST_READER_END;

	for (int i = 0; i < n; i++)
		if (sqlite3_prepare_v3(c->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
		                       NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
			return -1;
		}
	return 0;
}

static void
st_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows. */
static int
st_exec(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	st_done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
get_hash(sqlite3_stmt *st, uint8_t out[MERKLE_HASH_LEN])
{
	int rc = -1;

	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == MERKLE_HASH_LEN) {
		memcpy(out, sqlite3_column_blob(st, 0), MERKLE_HASH_LEN);
		rc = 0;
	}
	st_done(st);
	return rc;
}

static int
store_leaf_hash(void *ctx, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	struct conn *c = ctx;

	sqlite3_bind_int64(c->st[ST_LEAF_HASH], 1, (sqlite3_int64)index);
	return get_hash(c->st[ST_LEAF_HASH], out);
}

static int
store_node_hash(void *ctx, uint64_t level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
	struct conn *c = ctx;

	sqlite3_bind_int64(c->st[ST_NODE], 1, (sqlite3_int64)level);
	sqlite3_bind_int64(c->st[ST_NODE], 2, (sqlite3_int64)index);
	return get_hash(c->st[ST_NODE], out);
}

static struct merkle_store
conn_store(struct conn *c)
{
	struct merkle_store s = {store_leaf_hash, store_node_hash, c};
	return s;
}

static int
conn_size(struct conn *c, uint64_t *size)
{
	sqlite3_stmt *st = c->st[ST_MAX_IDX];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			*size = 0;
		else
			*size = (uint64_t)sqlite3_column_int64(st, 0) + 1;
	}
	st_done(st);
	return rc == SQLITE_ROW ? 0 : LEDGER_EIO;
}

/* The checkpoint of size (0: the latest): its size and a copy of its note. */
static int
conn_checkpoint(struct conn *c, uint64_t size, uint64_t *cp_size, char **note, size_t *len)
{
	sqlite3_stmt *st = c->st[size ? ST_CP_AT : ST_CP_LATEST];
	int rc;

	if (size)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);
		*cp_size = (uint64_t)sqlite3_column_int64(st, 0);
		*note = t ? strndup(t, n) : NULL;
		*len = n;
		rc = *note ? LEDGER_OK : LEDGER_ENOMEM;
	} else {
		rc = rc == SQLITE_DONE ? LEDGER_ENOENT : LEDGER_EIO;
	}
	st_done(st);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The ledger. */

/* One caller of ledger_append, asleep until the writer has committed or failed its entries. */
struct waiter {
	const struct ledger_entry *e;
	size_t n;
	struct buf *tails; /* n leaf tails, built by the caller */
	uint64_t first;
	int rc;
	sem_t done; /* posted by the writer: one wake-up per caller, none for the others */
	struct waiter *next;
};

struct ledger {
	char *origin;
	unsigned interval_ms;
	bool read_only;
	struct log *log;
	struct log *own_log; /* stderr when the caller gave none */

	/* Read connections: a pool, each used by one thread at a time. */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cv;
	struct conn *pool;
	struct conn **readers; /* all of them, for freeing */
	unsigned nreaders;

	/* Writer state: touched only by the writer thread (by ledger_open before it starts). */
	struct conn *w;
	struct note_signer *signer;
	struct note_verifier *verifier;
	struct merkle_frontier frontier; /* of the committed entries */
	int64_t last_ms;                 /* time of the last entry: times never go back */
	uint64_t cp_size;                /* the latest checkpoint */
	uint8_t cp_root[MERKLE_HASH_LEN];
	struct buf leaf; /* reused for each leaf */
	int failing;     /* the last commit failed (for logging the change only) */
	int w_frames;    /* frames in the WAL, as the last commit left it (the WAL hook's) */

	/* Shared with callers, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t work_cv; /* the writer waits for entries or stop */
	pthread_cond_t ckpt_cv; /* the checkpointer waits for a longer WAL or stop */
	int wal_frames;         /* frames in the WAL after the last commit */
	int wal_tail;           /* the checkpointer left only a short tail: the writer copies it */
	struct conn *ck;        /* the checkpointer's connection */
	pthread_t ckpt_thread;
	int ckpt_started;
	struct waiter *head, **tail;
	int stop;
	int broken; /* a consistency check failed: nothing more is written */
	struct ledger_stats stats;
	pthread_t thread;
	int started;
};

static void lmsg(struct ledger *l, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
lmsg(struct ledger *l, const char *level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(l->log, level, "ledger: %s", msg);
}

/* Reads the key file (mode 0600 or stricter) and makes the signer; the PEM is wiped. */
static struct note_signer *
load_signer(const char *path, const char *origin, char *err, size_t errlen)
{
	struct note_signer *s = NULL;
	char *pem = NULL;
	char msg[512];
	ssize_t n;
	size_t len = 0;
	int fd = -1;

	if (config_check_key_mode(path, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "%s", msg);
		return NULL;
	}
	if ((pem = malloc(KEY_MAX_BYTES)) == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "ledger key %s: %s", path, strerror(errno));
		goto done;
	}
	while (len < KEY_MAX_BYTES && (n = read(fd, pem + len, KEY_MAX_BYTES - len)) > 0)
		len += (size_t)n;
	if (len == 0 || len == KEY_MAX_BYTES) {
		snprintf(err, errlen, "ledger key %s: empty, unreadable or too large", path);
		goto done;
	}
	if ((s = note_signer_new(origin, pem, len)) == NULL)
		snprintf(err, errlen,
		         "ledger key %s: not an unencrypted Ed25519 private key in PEM, or the "
		         "origin '%s' cannot name a note key",
		         path, origin);
done:
	if (fd >= 0)
		close(fd);
	if (pem != NULL) {
		OPENSSL_cleanse(pem, KEY_MAX_BYTES);
		free(pem);
	}
	return s;
}

static struct conn *
reader_get(struct ledger *l)
{
	struct conn *c;

	pthread_mutex_lock(&l->pool_lock);
	while (l->pool == NULL)
		pthread_cond_wait(&l->pool_cv, &l->pool_lock);
	c = l->pool;
	l->pool = c->next;
	pthread_mutex_unlock(&l->pool_lock);
	return c;
}

static void
reader_put(struct ledger *l, struct conn *c)
{
	pthread_mutex_lock(&l->pool_lock);
	c->next = l->pool;
	l->pool = c;
	pthread_cond_signal(&l->pool_cv);
	pthread_mutex_unlock(&l->pool_lock);
}

/* Signs a checkpoint over the committed entries, after checking that it extends the last one:
 * a consistency proof from the stored nodes must lead from the last signed root to the
 * frontier's root. On a failed check the ledger stops writing for good. Writer only. */
static int
sign_checkpoint(struct ledger *l)
{
	uint8_t root[MERKLE_HASH_LEN], proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	struct merkle_store s = conn_store(l->w);
	char *text = NULL, *note = NULL;
	size_t tlen, nlen, np;
	uint64_t size = l->frontier.size;
	int rc = -1;

	assert(size > l->cp_size);
	if (merkle_frontier_root(&l->frontier, root) != MERKLE_OK)
		goto done;
	if (l->cp_size > 0) {
		int m =
		    merkle_consistency_proof(&s, l->cp_size, size, proof, MERKLE_MAX_PROOF, &np);
		if (m == MERKLE_OK)
			m = merkle_verify_consistency(l->cp_size, size, l->cp_root, root,
			                              (const uint8_t(*)[MERKLE_HASH_LEN])proof, np);
		if (m != MERKLE_OK) {
			pthread_mutex_lock(&l->lock);
			l->broken = 1;
			pthread_mutex_unlock(&l->lock);
			lmsg(l, "error",
			     "tree of size %" PRIu64 " is not consistent with checkpoint %" PRIu64
			     " (%s): not signed; refusing every entry from now on",
			     size, l->cp_size, merkle_strerror(m));
			goto done;
		}
	}
	if (note_checkpoint_format(l->origin, size, root, &text, &tlen) != NOTE_OK ||
	    note_sign(l->signer, text, tlen, &note, &nlen) != NOTE_OK) {
		lmsg(l, "error", "cannot sign checkpoint %" PRIu64, size);
		goto done;
	}
	sqlite3_bind_int64(l->w->st[ST_INS_CP], 1, (sqlite3_int64)size);
	sqlite3_bind_text(l->w->st[ST_INS_CP], 2, note, (int)nlen, SQLITE_STATIC);
	sqlite3_bind_int64(l->w->st[ST_INS_CP], 3, now_ms());
	if (st_exec(l->w->st[ST_INS_CP]) < 0) {
		lmsg(l, "warn", "cannot store checkpoint %" PRIu64 ": %s (retried)", size,
		     sqlite3_errmsg(l->w->db));
		goto done;
	}
	l->cp_size = size;
	memcpy(l->cp_root, root, MERKLE_HASH_LEN);
	pthread_mutex_lock(&l->lock);
	l->stats.checkpoints++;
	pthread_mutex_unlock(&l->lock);
	rc = 0;
done:
	free(text);
	free(note);
	return rc;
}

/* Inserts one entry and the nodes it completes. f is the batch's copy of the frontier. */
static int
insert_entry(struct ledger *l, struct merkle_frontier *f, const struct ledger_entry *e,
             const struct buf *tail, const char *time, int64_t ms)
{
	struct merkle_node done[MERKLE_MAX_LEVELS];
	sqlite3_stmt *st = l->w->st[ST_INS_ENTRY];
	char head[80];
	int hl;
	size_t nd;

	hl = snprintf(head, sizeof(head), "{\"v\":1,\"index\":%" PRIu64 ",\"time\":\"%s\"", f->size,
	              time);
	l->leaf.len = 0;
	buf_add(&l->leaf, head, (size_t)hl);
	buf_add(&l->leaf, tail->p, tail->len);
	if (l->leaf.bad)
		return -1;
	uint8_t hash[MERKLE_HASH_LEN];
	if (merkle_leaf_hash(l->leaf.p, l->leaf.len, hash) != MERKLE_OK ||
	    merkle_frontier_append(f, hash, done, &nd) != MERKLE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)done[0].index);
	sqlite3_bind_text(st, 2, l->leaf.p, (int)l->leaf.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, hash, MERKLE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, ms);
	sqlite3_bind_text(st, 5, kind_names[e->kind], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, e->partner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, e->contract, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, e->purpose, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, e->subject, -1, SQLITE_STATIC);
	if (st_exec(st) < 0)
		return -1;
	for (size_t i = 1; i < nd; i++) {
		st = l->w->st[ST_INS_NODE];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)done[i].level);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)done[i].index);
		sqlite3_bind_blob(st, 3, done[i].hash, MERKLE_HASH_LEN, SQLITE_STATIC);
		if (st_exec(st) < 0)
			return -1;
	}
	return 0;
}

/*
 * One group commit: every entry of every waiter in list, in one transaction. On any failure
 * the transaction is rolled back and the frontier and clock stay as they were, so that the
 * next batch starts from the last committed state: nothing of a failed batch is stored.
 */
static void
commit_batch(struct ledger *l, struct waiter *list)
{
	struct merkle_frontier f = l->frontier;
	char time[TIME_LEN + 1];
	int64_t ms = now_ms();
	uint64_t n = 0;
	int rc = -1;

	if (ms < l->last_ms)
		ms = l->last_ms;
	format_time(ms, time);
	if (st_exec(l->w->st[ST_BEGIN]) < 0)
		goto done;
	for (struct waiter *w = list; w != NULL; w = w->next) {
		w->first = f.size;
		for (size_t i = 0; i < w->n; i++)
			if (insert_entry(l, &f, &w->e[i], &w->tails[i], time, ms) < 0)
				goto done;
		n += w->n;
	}
	if (st_exec(l->w->st[ST_COMMIT]) < 0)
		goto done;
	rc = 0;
done:
	if (rc < 0) {
		const char *why = sqlite3_errmsg(l->w->db);
		if (!sqlite3_get_autocommit(l->w->db))
			st_exec(l->w->st[ST_ROLLBACK]);
		if (!l->failing)
			lmsg(l, "error", "cannot commit entries (%s): answering 503 until it can",
			     why);
		l->failing = 1;
	} else {
		if (l->failing)
			lmsg(l, "info", "committing again");
		l->failing = 0;
		l->frontier = f;
		l->last_ms = ms;
	}
	pthread_mutex_lock(&l->lock);
	if (rc == 0) {
		l->stats.commits++;
		l->stats.entries += n;
	} else {
		l->stats.failed++;
	}
	pthread_mutex_unlock(&l->lock);
	for (struct waiter *w = list, *next; w != NULL; w = next) {
		next = w->next; /* w lives on its caller's stack: gone once posted */
		w->rc = rc;
		sem_post(&w->done);
	}
}

static void
deadline(struct timespec *ts, int64_t at_ms)
{
	ts->tv_sec = (time_t)(at_ms / 1000);
	ts->tv_nsec = (long)(at_ms % 1000) * 1000000;
}

/* Frames in the WAL after each commit of the writer's connection: the checkpointer's cue.
 * Setting this hook also turns off SQLite's own checkpoints inside the commit. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct ledger *l = arg;

	(void)db, (void)name;
	l->w_frames = frames;
	return SQLITE_OK;
}

/*
 * After a commit, with l->lock held (writer): hands the WAL's length to the checkpointer and,
 * between two commits, copies the short tail the checkpointer left (so that the next commit
 * starts the WAL over), or everything if the WAL grew past CKPT_HARD. While it copies, the
 * callers that queue meanwhile form the next group.
 */
static void
wal_after_commit(struct ledger *l)
{
	int mode = -1;

	l->wal_frames = l->w_frames;
	if (l->wal_frames >= CKPT_HARD)
		mode = SQLITE_CHECKPOINT_FULL;
	else if (l->wal_tail)
		mode = SQLITE_CHECKPOINT_PASSIVE;
	else if (l->wal_frames >= CKPT_START)
		pthread_cond_signal(&l->ckpt_cv);
	if (mode < 0)
		return;
	l->wal_tail = 0;
	pthread_mutex_unlock(&l->lock);
	sqlite3_wal_checkpoint_v2(l->w->db, NULL, mode, NULL, NULL);
	pthread_mutex_lock(&l->lock);
}

/*
 * The checkpointer: copies the WAL's frames into the database on its own connection while the
 * writer goes on committing (a PASSIVE checkpoint takes no lock the writer needs). One round
 * per commit at most; when a round leaves at most CKPT_TAIL frames, the writer finishes.
 */
static void *
ckpt_main(void *arg)
{
	struct ledger *l = arg;
	uint64_t seen = UINT64_MAX; /* the writer's commit count at the last round */

	pthread_mutex_lock(&l->lock);
	while (!l->stop) {
		int log = 0, done = 0, rc;
		if (l->wal_frames < CKPT_START || l->stats.commits == seen || l->wal_tail) {
			pthread_cond_wait(&l->ckpt_cv, &l->lock);
			continue;
		}
		seen = l->stats.commits;
		pthread_mutex_unlock(&l->lock);
		rc = sqlite3_wal_checkpoint_v2(l->ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
		                               &done);
		pthread_mutex_lock(&l->lock);
		if (rc == SQLITE_OK && log - done <= CKPT_TAIL) {
			l->wal_tail = 1;
		} else if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
			/* Disk full, I/O error: the writer reports its own failures; try again
			 * a little later rather than at every commit. */
			struct timespec ts;
			deadline(&ts, mono_ms() + CKPT_RETRY_MS);
			pthread_cond_timedwait(&l->ckpt_cv, &l->lock, &ts);
		}
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/*
 * The writer: commits whatever callers queued, as one transaction per wake-up, and signs a
 * checkpoint every interval while there are unsigned entries. It is the only user of l->w.
 */
static void *
writer_main(void *arg)
{
	struct ledger *l = arg;
	int64_t next_cp = mono_ms() + l->interval_ms;

	pthread_mutex_lock(&l->lock);
	for (;;) {
		int unsigned_entries = l->frontier.size > l->cp_size && !l->broken;
		if (unsigned_entries && mono_ms() >= next_cp) {
			pthread_mutex_unlock(&l->lock);
			sign_checkpoint(l);
			next_cp = mono_ms() + l->interval_ms;
			pthread_mutex_lock(&l->lock);
			continue;
		}
		if (l->head != NULL) {
			struct waiter *list = l->head;
			l->head = NULL;
			l->tail = &l->head;
			pthread_mutex_unlock(&l->lock);
			commit_batch(l, list);
			pthread_mutex_lock(&l->lock);
			wal_after_commit(l);
			continue;
		}
		if (l->stop)
			break;
		if (unsigned_entries) {
			struct timespec ts;
			deadline(&ts, next_cp);
			pthread_cond_timedwait(&l->work_cv, &l->lock, &ts);
		} else {
			pthread_cond_wait(&l->work_cv, &l->lock);
		}
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

int
ledger_append(struct ledger *l, const struct ledger_entry *e, size_t n, uint64_t *first_index)
{
	struct waiter w = {.e = e, .n = n};
	int rc = -1;

	if (l == NULL || l->read_only || n == 0 || n > LEDGER_MAX_BATCH)
		return -1;
	if ((w.tails = calloc(n, sizeof(*w.tails))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (leaf_tail(&e[i], &w.tails[i]) < 0)
			goto done;
	if (sem_init(&w.done, 0, 0) < 0)
		goto done;
	pthread_mutex_lock(&l->lock);
	if (l->stop || l->broken) {
		pthread_mutex_unlock(&l->lock);
		sem_destroy(&w.done);
		goto done;
	}
	*l->tail = &w;
	l->tail = &w.next;
	pthread_cond_signal(&l->work_cv);
	pthread_mutex_unlock(&l->lock);
	while (sem_wait(&w.done) < 0 && errno == EINTR)
		;
	sem_destroy(&w.done);
	rc = w.rc;
	if (rc == 0)
		*first_index = w.first;
done:
	for (size_t i = 0; i < n; i++)
		buf_free(&w.tails[i]);
	free(w.tails);
	return rc;
}

void
ledger_stats(struct ledger *l, struct ledger_stats *s)
{
	pthread_mutex_lock(&l->lock);
	*s = l->stats;
	pthread_mutex_unlock(&l->lock);
}

static int
append_admin(struct ledger *l, const char *action)
{
	struct ledger_admin a = {.action = action};
	struct ledger_entry e = {.kind = LEDGER_ADMIN, .admin = &a};
	uint64_t idx;

	return ledger_append(l, &e, 1, &idx);
}

/* Reads meta and checks schema and origin. With origin NULL the stored one is taken. */
static int
check_meta(struct ledger *l, sqlite3 *db, const char *origin, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char *schema = NULL, *stored = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "not a pdgate ledger: %s", sqlite3_errmsg(db));
		return -1;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		const char *v = (const char *)sqlite3_column_text(st, 1);
		if (k && v && strcmp(k, "schema") == 0 && schema == NULL)
			schema = strdup(v);
		else if (k && v && strcmp(k, "origin") == 0 && stored == NULL)
			stored = strdup(v);
	}
	if (schema == NULL || strcmp(schema, SCHEMA_VERSION) != 0) {
		snprintf(err, errlen, "ledger schema %s, this pdgate reads %s",
		         schema ? schema : "missing", SCHEMA_VERSION);
		goto done;
	}
	if (stored == NULL) {
		snprintf(err, errlen, "ledger has no origin");
		goto done;
	}
	if (origin != NULL && strcmp(origin, stored) != 0) {
		snprintf(err, errlen, "ledger origin is '%s', the configuration says '%s'", stored,
		         origin);
		goto done;
	}
	if ((l->origin = strdup(stored)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	free(schema);
	free(stored);
	return rc;
}

static int
exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* WAL, synchronous=FULL, the schema and meta rows. */
static int
init_db(struct conn *c, const char *origin, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int wal = 0;

	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(st, 0);
		wal = mode && strcmp(mode, "wal") == 0;
	}
	sqlite3_finalize(st);
	if (!wal) {
		snprintf(err, errlen, "cannot set WAL mode: %s", sqlite3_errmsg(c->db));
		return -1;
	}
	/* The cache holds the hot index pages of a large ledger, so a commit rarely reads. */
	if (exec_sql(c->db, "PRAGMA synchronous=FULL", err, errlen) < 0 ||
	    exec_sql(c->db, "PRAGMA cache_size=-32768", err, errlen) < 0 ||
	    exec_sql(c->db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	if (exec_sql(c->db, schema_sql, err, errlen) < 0 ||
	    sqlite3_prepare_v2(c->db,
	                       "INSERT OR IGNORE INTO meta(key, value) VALUES "
	                       "('schema', '" SCHEMA_VERSION "'), ('origin', ?1)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(c->db, "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'", -1,
	                       &st, NULL) != SQLITE_OK)
		goto fail;
	int have_stats = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	st = NULL;
	if ((!have_stats && exec_sql(c->db, "ANALYZE entries", err, errlen) < 0) ||
	    exec_sql(c->db, stats_sql, err, errlen) < 0 ||
	    exec_sql(c->db, "COMMIT", err, errlen) < 0 ||
	    exec_sql(c->db, "ANALYZE sqlite_schema", err, errlen) < 0)
		goto fail;
	return 0;
fail:
	if (st != NULL) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		sqlite3_finalize(st);
	}
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/*
 * What a crash can leave: committed entries after the latest checkpoint. Checks the latest
 * checkpoint against the key and the stored tree, the entries' count, and rehashes the leaves
 * after it (the rest are covered by the signed root and checked by `ledger verify`). Then
 * reloads the frontier.
 */
static int
recover(struct ledger *l, char *err, size_t errlen)
{
	struct merkle_store s = conn_store(l->w);
	sqlite3_stmt *st = NULL;
	char *note = NULL;
	size_t len;
	uint64_t size, cp_size = 0;
	int rc = -1, m;

	if (conn_size(l->w, &size) < 0) {
		snprintf(err, errlen, "reading entries: %s", sqlite3_errmsg(l->w->db));
		return -1;
	}
	if (sqlite3_prepare_v2(l->w->db, "SELECT count(*) FROM entries", -1, &st, NULL) !=
	        SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW || (uint64_t)sqlite3_column_int64(st, 0) != size) {
		snprintf(err, errlen,
		         "entries are not contiguous from 0 to %" PRIu64
		         ": run pdgate ledger verify",
		         size);
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	m = conn_checkpoint(l->w, 0, &cp_size, &note, &len);
	if (m == LEDGER_OK) {
		struct note_checkpoint cp;
		uint8_t root[MERKLE_HASH_LEN];
		if (note_checkpoint_open(note, len, &l->verifier, 1, &cp) != NOTE_OK ||
		    cp.size != cp_size || cp_size > size || cp_size == 0) {
			snprintf(err, errlen,
			         "checkpoint %" PRIu64 " does not verify with the ledger key",
			         cp_size);
			goto done;
		}
		if (merkle_root(&s, cp_size, root) != MERKLE_OK ||
		    CRYPTO_memcmp(root, cp.root, MERKLE_HASH_LEN) != 0) {
			snprintf(err, errlen,
			         "the stored tree does not match checkpoint %" PRIu64
			         ": run pdgate ledger verify",
			         cp_size);
			goto done;
		}
		memcpy(l->cp_root, cp.root, MERKLE_HASH_LEN);
	} else if (m != LEDGER_ENOENT) {
		snprintf(err, errlen, "reading checkpoints: %s", sqlite3_errmsg(l->w->db));
		goto done;
	}
	l->cp_size = cp_size;
	if (sqlite3_prepare_v2(
	        l->w->db, "SELECT idx, leaf, hash, time FROM entries WHERE idx >= ?1 ORDER BY idx",
	        -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(l->w->db));
		goto done;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)cp_size);
	for (uint64_t i = cp_size; i < size; i++) {
		uint8_t h[MERKLE_HASH_LEN];
		char head[48];
		if (sqlite3_step(st) != SQLITE_ROW || (uint64_t)sqlite3_column_int64(st, 0) != i) {
			snprintf(err, errlen, "entry %" PRIu64 " missing", i);
			goto done;
		}
		const char *leaf = (const char *)sqlite3_column_text(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);
		int hl = snprintf(head, sizeof(head), "{\"v\":1,\"index\":%" PRIu64 ",", i);
		if (leaf == NULL || n < (size_t)hl || memcmp(leaf, head, (size_t)hl) != 0 ||
		    merkle_leaf_hash(leaf, n, h) != MERKLE_OK ||
		    sqlite3_column_bytes(st, 2) != MERKLE_HASH_LEN ||
		    memcmp(h, sqlite3_column_blob(st, 2), MERKLE_HASH_LEN) != 0) {
			snprintf(err, errlen,
			         "entry %" PRIu64 " after the latest checkpoint is damaged: run "
			         "pdgate ledger verify",
			         i);
			goto done;
		}
		l->last_ms = sqlite3_column_int64(st, 3);
	}
	if ((m = merkle_frontier_load(&l->frontier, &s, size)) != MERKLE_OK) {
		snprintf(err, errlen, "reloading the tree: %s", merkle_strerror(m));
		goto done;
	}
	if (size > 0 && cp_size == size) {
		sqlite3_stmt *t = l->w->st[ST_TIME_AT];
		sqlite3_bind_int64(t, 1, (sqlite3_int64)(size - 1));
		if (sqlite3_step(t) == SQLITE_ROW)
			l->last_ms = sqlite3_column_int64(t, 0);
		st_done(t);
	}
	rc = 0;
done:
	sqlite3_finalize(st);
	free(note);
	return rc;
}

static void
ledger_free(struct ledger *l)
{
	if (l == NULL)
		return;
	for (unsigned i = 0; i < l->nreaders; i++)
		conn_free(l->readers[i]);
	free(l->readers);
	conn_free(l->w);
	conn_free(l->ck);
	note_signer_free(l->signer);
	note_verifier_free(l->verifier);
	buf_free(&l->leaf);
	free(l->origin);
	log_free(l->own_log);
	pthread_mutex_destroy(&l->pool_lock);
	pthread_cond_destroy(&l->pool_cv);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->work_cv);
	pthread_cond_destroy(&l->ckpt_cv);
	free(l);
}

struct ledger *
ledger_open(const struct ledger_params *p, char *err, size_t errlen)
{
	struct ledger *l = calloc(1, sizeof(*l));
	pthread_condattr_t ca;
	char *vkey = NULL;
	char msg[512];

	err[0] = '\0';
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&l->pool_lock, NULL);
	pthread_cond_init(&l->pool_cv, NULL);
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->work_cv, &ca);
	pthread_cond_init(&l->ckpt_cv, &ca);
	pthread_condattr_destroy(&ca);
	l->tail = &l->head;
	l->read_only = p->read_only;
	l->interval_ms = p->checkpoint_interval_ms ? p->checkpoint_interval_ms : 1000;
	l->log = p->log;
	if (l->log == NULL && (l->log = l->own_log = log_open(NULL)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (p->path == NULL || (!p->read_only && (p->origin == NULL || p->key == NULL))) {
		snprintf(err, errlen, "ledger: path, origin and key are required");
		goto fail;
	}

	if (!p->read_only) {
		if ((l->w = conn_open(p->path, 1, msg, sizeof(msg))) == NULL ||
		    init_db(l->w, p->origin, msg, sizeof(msg)) < 0 ||
		    check_meta(l, l->w->db, p->origin, msg, sizeof(msg)) < 0 ||
		    conn_prepare(l->w, 1, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "ledger %s: %s", p->path, msg);
			goto fail;
		}
		if ((l->signer = load_signer(p->key, p->origin, err, errlen)) == NULL)
			goto fail;
		if ((vkey = note_signer_vkey(l->signer)) == NULL ||
		    (l->verifier = note_verifier_new(vkey, strlen(vkey))) == NULL) {
			snprintf(err, errlen, "ledger key %s: cannot make its verifier key",
			         p->key);
			goto fail;
		}
		if (recover(l, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "ledger %s: %s", p->path, msg);
			goto fail;
		}
		if (l->frontier.size > l->cp_size) {
			lmsg(l, "info",
			     "signing %" PRIu64 " entries left after checkpoint %" PRIu64,
			     l->frontier.size - l->cp_size, l->cp_size);
			if (sign_checkpoint(l) < 0) {
				snprintf(err, errlen,
				         "ledger %s: cannot sign a checkpoint of size %" PRIu64,
				         p->path, l->frontier.size);
				goto fail;
			}
		}
	}

	l->nreaders = p->readers ? p->readers : LEDGER_READERS;
	if ((l->readers = calloc(l->nreaders, sizeof(*l->readers))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < l->nreaders; i++) {
		struct conn *c = conn_open(p->path, 0, msg, sizeof(msg));
		l->readers[i] = c;
		if (c == NULL ||
		    (i == 0 && p->read_only &&
		     check_meta(l, c->db, p->origin, msg, sizeof(msg)) < 0) ||
		    conn_prepare(c, 0, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "ledger %s: %s", p->path, msg);
			goto fail;
		}
		c->next = l->pool;
		l->pool = c;
	}

	if (!p->read_only) {
		if ((l->ck = conn_open(p->path, 1, msg, sizeof(msg))) == NULL ||
		    exec_sql(l->ck->db, "PRAGMA synchronous=FULL", msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "ledger %s: %s", p->path, msg);
			goto fail;
		}
		sqlite3_wal_hook(l->w->db, wal_hook, l);
		if (pthread_create(&l->ckpt_thread, NULL, ckpt_main, l) != 0) {
			snprintf(err, errlen, "ledger: cannot start the checkpointer thread");
			goto fail;
		}
		l->ckpt_started = 1;
		if (pthread_create(&l->thread, NULL, writer_main, l) != 0) {
			snprintf(err, errlen, "ledger: cannot start the writer thread");
			goto fail;
		}
		l->started = 1;
		if (append_admin(l, "gateway_start") < 0) {
			snprintf(err, errlen, "ledger %s: cannot write the gateway_start entry: %s",
			         p->path, sqlite3_errmsg(l->w->db));
			goto fail;
		}
	}
	free(vkey);
	return l;
fail:
	pthread_mutex_lock(&l->lock);
	l->stop = 1;
	pthread_cond_signal(&l->work_cv);
	pthread_cond_signal(&l->ckpt_cv);
	pthread_mutex_unlock(&l->lock);
	if (l->started)
		pthread_join(l->thread, NULL);
	if (l->ckpt_started)
		pthread_join(l->ckpt_thread, NULL);
	free(vkey);
	ledger_free(l);
	return NULL;
}

int
ledger_close(struct ledger *l)
{
	int rc = 0;

	if (l == NULL)
		return 0;
	if (!l->read_only) {
		if (append_admin(l, "gateway_stop") < 0)
			rc = -1;
		pthread_mutex_lock(&l->lock);
		l->stop = 1;
		pthread_cond_signal(&l->work_cv);
		pthread_cond_signal(&l->ckpt_cv);
		pthread_mutex_unlock(&l->lock);
		pthread_join(l->thread, NULL);
		pthread_join(l->ckpt_thread, NULL);
		/* The writer is gone: the final checkpoint is signed here, on its connection. */
		if (l->frontier.size > l->cp_size && (l->broken || sign_checkpoint(l) < 0))
			rc = -1;
		lmsg(l, rc == 0 ? "info" : "error",
		     "closed at size %" PRIu64 ", checkpoint %" PRIu64 ": %" PRIu64
		     " entries in %" PRIu64 " commits, %" PRIu64 " failed commits, %" PRIu64
		     " checkpoints",
		     l->frontier.size, l->cp_size, l->stats.entries, l->stats.commits,
		     l->stats.failed, l->stats.checkpoints);
	}
	ledger_free(l);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Readers. */

int
ledger_size(struct ledger *l, uint64_t *size)
{
	struct conn *c = reader_get(l);
	int rc = conn_size(c, size);

	reader_put(l, c);
	return rc;
}

int
ledger_checkpoint(struct ledger *l, uint64_t size, char **note, size_t *len, uint64_t *cp_size)
{
	struct conn *c = reader_get(l);
	int rc = conn_checkpoint(c, size, cp_size, note, len);

	reader_put(l, c);
	return rc;
}

int
ledger_leaves(struct ledger *l, uint64_t start, uint64_t end,
              int (*fn)(void *arg, uint64_t index, const char *leaf, size_t len), void *arg)
{
	struct conn *c = reader_get(l);
	sqlite3_stmt *st = c->st[ST_LEAVES];
	uint64_t size, i = start;
	int rc;

	if ((rc = conn_size(c, &size)) < 0)
		goto done;
	if (start > end || end > size) {
		rc = LEDGER_ERANGE;
		goto done;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)start);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)end);
	while (i < end) {
		if (sqlite3_step(st) != SQLITE_ROW || (uint64_t)sqlite3_column_int64(st, 0) != i) {
			rc = LEDGER_EIO;
			break;
		}
		const char *leaf = (const char *)sqlite3_column_text(st, 1);
		if (leaf == NULL) {
			rc = LEDGER_EIO;
			break;
		}
		if (fn(arg, i, leaf, (size_t)sqlite3_column_bytes(st, 1)) != 0) {
			rc = LEDGER_EINVAL;
			break;
		}
		i++;
	}
	st_done(st);
done:
	reader_put(l, c);
	return rc;
}

static int
merkle_to_ledger(int m)
{
	switch (m) {
	case MERKLE_OK:
		return LEDGER_OK;
	case MERKLE_ERANGE:
		return LEDGER_ERANGE;
	default:
		return LEDGER_EIO;
	}
}

int
ledger_inclusion(struct ledger *l, uint64_t index, uint64_t size,
                 uint8_t leaf_hash[MERKLE_HASH_LEN],
                 uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN], size_t *n)
{
	struct conn *c = reader_get(l);
	struct merkle_store s = conn_store(c);
	uint64_t have;
	int rc;

	/* Append-only: whatever size was committed when it is read stays valid for the proof. */
	if ((rc = conn_size(c, &have)) == 0) {
		if (index >= size || size > have)
			rc = LEDGER_ERANGE;
		else if (store_leaf_hash(c, index, leaf_hash) < 0)
			rc = LEDGER_EIO;
		else
			rc = merkle_to_ledger(
			    merkle_inclusion_proof(&s, index, size, proof, MERKLE_MAX_PROOF, n));
	}
	reader_put(l, c);
	return rc;
}

int
ledger_consistency(struct ledger *l, uint64_t old, uint64_t new,
                   uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN], size_t *n)
{
	struct conn *c = reader_get(l);
	struct merkle_store s = conn_store(c);
	uint64_t have;
	int rc;

	if ((rc = conn_size(c, &have)) == 0) {
		if (old == 0 || old > new || new > have)
			rc = LEDGER_ERANGE;
		else
			rc = merkle_to_ledger(
			    merkle_consistency_proof(&s, old, new, proof, MERKLE_MAX_PROOF, n));
	}
	reader_put(l, c);
	return rc;
}

/* The first index whose time is >= ms, in [0, size]: times never decrease with the index. */
static int
bisect_time(struct conn *c, uint64_t size, int64_t ms, uint64_t *out)
{
	sqlite3_stmt *st = c->st[ST_TIME_AT];
	uint64_t lo = 0, hi = size;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)mid);
		if (sqlite3_step(st) != SQLITE_ROW) {
			st_done(st);
			return LEDGER_EIO;
		}
		int64_t t = sqlite3_column_int64(st, 0);
		st_done(st);
		if (t < ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	*out = lo;
	return 0;
}

void
ledger_hits_free(struct ledger_hit *hits, size_t n)
{
	if (hits == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(hits[i].leaf);
	free(hits);
}

int
ledger_search(struct ledger *l, const struct ledger_query *q, struct ledger_hit **hits, size_t *n)
{
	struct conn *c;
	sqlite3_stmt *st = NULL;
	struct ledger_hit *h = NULL;
	uint64_t size, lo = 0, hi;
	size_t k = 0;
	char sql[512];
	int rc, p = 1;

	*hits = NULL;
	*n = 0;
	if (q->limit == 0 || q->limit > SEARCH_MAX || q->kind < -1 || q->kind > LEDGER_ADMIN ||
	    q->from_ms < 0 || q->to_ms < 0)
		return LEDGER_EINVAL;
	c = reader_get(l);
	if ((rc = conn_size(c, &size)) < 0)
		goto done;
	hi = q->after < size ? q->after : size;
	if (q->from_ms > 0 && (rc = bisect_time(c, size, q->from_ms, &lo)) < 0)
		goto done;
	if (q->to_ms > 0) {
		uint64_t end;
		if ((rc = bisect_time(c, size, q->to_ms, &end)) < 0)
			goto done;
		if (end < hi)
			hi = end;
	}
	if (lo >= hi)
		goto done;
	/* Only the fields given appear, so that SQLite picks the index of the rarest. */
	snprintf(sql, sizeof(sql),
	         "SELECT idx, leaf FROM entries WHERE idx >= ?1 AND idx < ?2%s%s%s%s"
	         " ORDER BY idx DESC LIMIT ?7",
	         q->partner ? " AND partner = ?3" : "", q->subject ? " AND subject = ?4" : "",
	         q->purpose ? " AND purpose = ?5" : "", q->kind >= 0 ? " AND kind = ?6" : "");
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = LEDGER_EIO;
		goto done;
	}
	sqlite3_bind_int64(st, p++, (sqlite3_int64)lo);
	sqlite3_bind_int64(st, p++, (sqlite3_int64)hi);
	if (q->partner)
		sqlite3_bind_text(st, 3, q->partner, -1, SQLITE_STATIC);
	if (q->subject)
		sqlite3_bind_text(st, 4, q->subject, -1, SQLITE_STATIC);
	if (q->purpose)
		sqlite3_bind_text(st, 5, q->purpose, -1, SQLITE_STATIC);
	if (q->kind >= 0)
		sqlite3_bind_text(st, 6, kind_names[q->kind], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, q->limit);
	if ((h = calloc(q->limit, sizeof(*h))) == NULL) {
		rc = LEDGER_ENOMEM;
		goto done;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < q->limit) {
		const char *leaf = (const char *)sqlite3_column_text(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		if (leaf == NULL || (h[k].leaf = strndup(leaf, len)) == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		h[k].index = (uint64_t)sqlite3_column_int64(st, 0);
		h[k].len = len;
		k++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		rc = rc == SQLITE_NOMEM ? LEDGER_ENOMEM : LEDGER_EIO;
		ledger_hits_free(h, k);
		h = NULL;
		k = 0;
		goto done;
	}
	rc = 0;
	*hits = h;
	*n = k;
	h = NULL;
done:
	free(h);
	sqlite3_finalize(st);
	reader_put(l, c);
	return rc;
}

int
ledger_day_releases(struct ledger *l, int64_t now,
                    void (*fn)(void *arg, const char *contract, uint64_t count), void *arg)
{
	struct conn *c = reader_get(l);
	sqlite3_stmt *st = c->st[ST_DAY];
	int64_t local = now + JST_OFFSET_MS;
	int64_t day = local / DAY_MS - (local % DAY_MS < 0);
	int64_t start = day * DAY_MS - JST_OFFSET_MS;
	uint64_t size, lo, hi;
	int rc;

	if ((rc = conn_size(c, &size)) < 0 || (rc = bisect_time(c, size, start, &lo)) < 0 ||
	    (rc = bisect_time(c, size, start + DAY_MS, &hi)) < 0)
		goto done;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)lo);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)hi);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *contract = (const char *)sqlite3_column_text(st, 0);
		if (contract != NULL)
			fn(arg, contract, (uint64_t)sqlite3_column_int64(st, 1));
	}
	rc = rc == SQLITE_DONE ? 0 : LEDGER_EIO;
	st_done(st);
done:
	reader_put(l, c);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* `pdgate ledger`: verify, export, checkpoint, prove, check-proof. */

static const char ledger_usage[] =
    "usage: pdgate ledger verify (-c FILE | --db LEDGER.db --vkey VKEY) [--interval MS]\n"
    "       pdgate ledger export (-c FILE | --db LEDGER.db) [--start N] [--end M]\n"
    "       pdgate ledger checkpoint (-c FILE | --db LEDGER.db)\n"
    "       pdgate ledger prove (-c FILE | --db LEDGER.db --vkey VKEY) INDEX [--size N]\n"
    "       pdgate ledger check-proof BUNDLE --vkey VKEY\n"
    "\n"
    "verify       checks the whole ledger offline: every leaf against its hash and position,\n"
    "             every stored node, every checkpoint's root, signature and consistency with\n"
    "             the next; entries after the latest checkpoint only if younger than three\n"
    "             checkpoint intervals plus 2 s (--interval, default from -c or 1000).\n"
    "             Prints the size, the latest checkpoint and 'ledger OK', or the first bad\n"
    "             entry or checkpoint; exit 0 only if intact.\n"
    "export       writes the leaves [N, M) (default all), one per line, as hashed.\n"
    "checkpoint   prints the latest signed checkpoint note.\n"
    "prove        prints a proof bundle (JSON) of entry INDEX in the checkpoint of size N\n"
    "             (default the latest), checkable with the verifier key alone.\n"
    "check-proof  checks a bundle with the verifier key alone; exit 0 only if it holds.\n"
    "\n"
    "The ledger is opened read-only: the commands work on a running gateway's file and on a\n"
    "copy. With -c the verifier key is the [ledger] key's .vkey file beside it (or is derived\n"
    "from the key). docs/ledger.md describes the formats.\n";

struct cli {
	const char *cmd;
	const char *conf, *db, *vkey_path;
	const char *args[2]; /* positional */
	unsigned nargs;
	uint64_t start, end, size;
	int has_start, has_end, has_size;
	unsigned interval_ms;
	struct config *cfg;
	char *vkey; /* the verifier key line, no newline */
	struct note_verifier *verifier;
};

static int cli_err(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
cli_err(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pdgate ledger %s: ", c->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || x > INT64_MAX)
		return -1;
	*v = x;
	return 0;
}

/* A whole small file, NUL-terminated; NULL (errno set) if unreadable or over max bytes. */
static char *
read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t n = 0;

	if (f == NULL)
		return NULL;
	if ((p = malloc(max + 1)) != NULL) {
		n = fread(p, 1, max + 1, f);
		if (ferror(f) || n > max) {
			free(p);
			p = NULL;
			errno = ferror(f) ? EIO : EFBIG;
		} else {
			p[n] = '\0';
			*len = n;
		}
	}
	fclose(f);
	return p;
}

/* The verifier key: --vkey, else the .vkey beside the configured key, else derived from it. */
static int
cli_vkey(struct cli *c)
{
	char path[4096];
	const char *from = c->vkey_path;
	size_t len = 0;

	if (from == NULL && c->cfg != NULL) {
		size_t n = strlen(c->cfg->ledger.key);
		if (n > 4 && strcmp(c->cfg->ledger.key + n - 4, ".key") == 0 && n < sizeof(path)) {
			snprintf(path, sizeof(path), "%.*s.vkey", (int)(n - 4), c->cfg->ledger.key);
			if (access(path, R_OK) == 0)
				from = path;
		}
		if (from == NULL) {
			char err[512];
			struct note_signer *s = load_signer(
			    c->cfg->ledger.key, c->cfg->ledger.origin, err, sizeof(err));
			if (s == NULL)
				return cli_err(c, "%s", err);
			c->vkey = note_signer_vkey(s);
			note_signer_free(s);
			if (c->vkey == NULL)
				return cli_err(c, "out of memory");
		}
	}
	if (from != NULL) {
		if ((c->vkey = read_file(from, 4096, &len)) == NULL)
			return cli_err(c, "verifier key %s: %s", from, strerror(errno));
		while (len > 0 && (c->vkey[len - 1] == '\n' || c->vkey[len - 1] == '\r'))
			c->vkey[--len] = '\0';
	}
	if (c->vkey == NULL)
		return cli_err(c, "a verifier key is needed: --vkey VKEY (or -c FILE)");
	if ((c->verifier = note_verifier_new(c->vkey, strlen(c->vkey))) == NULL)
		return cli_err(c, "%s is not an Ed25519 verifier key (NAME+ID+KEY)",
		               from ? from : "the derived key");
	return 0;
}

static const char *
cli_db(const struct cli *c)
{
	return c->db ? c->db : c->cfg->ledger.path;
}

static struct ledger *
cli_open(struct cli *c)
{
	struct ledger_params p = {.path = cli_db(c),
	                          .origin = c->cfg ? c->cfg->ledger.origin : NULL,
	                          .readers = 1,
	                          .read_only = true};
	char err[1024];
	struct ledger *l;

	if ((l = ledger_open(&p, err, sizeof(err))) == NULL)
		cli_err(c, "%s", err);
	return l;
}

static void
b64_encode(const uint8_t h[MERKLE_HASH_LEN], char out[45])
{
	EVP_EncodeBlock((unsigned char *)out, h, MERKLE_HASH_LEN);
}

/* Exactly the canonical base64 of 32 bytes. */
static int
b64_decode(const char *s, uint8_t out[MERKLE_HASH_LEN])
{
	unsigned char tmp[36];
	char again[45];

	if (s == NULL || strlen(s) != 44 ||
	    EVP_DecodeBlock(tmp, (const unsigned char *)s, 44) != 33)
		return -1;
	memcpy(out, tmp, MERKLE_HASH_LEN);
	b64_encode(out, again);
	return strcmp(again, s) == 0 ? 0 : -1;
}

/*
 * The canonical form of a leaf, as leaf_tail writes it (docs/ledger.md): the members in their
 * fixed order, strings escaped exactly as jansson escapes them, nothing else. Checking the form
 * is stricter than parsing JSON — two spellings of one leaf cannot both pass — and it needs no
 * allocation, which keeps `ledger verify` of a million entries within seconds.
 */
struct span {
	const char *p; /* between the quotes, still escaped; NULL for null */
	size_t n;
};

struct leaf_view {
	uint64_t index;
	int64_t ms;
	struct span kind, partner, contract, purpose, subject, action;
};

struct cur {
	const char *p, *e; /* e[0] is NUL (SQLite's text) */
};

static int
eat(struct cur *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->e - c->p) < n || memcmp(c->p, lit, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

static int
canon_str(struct cur *c, struct span *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *start;

	if (c->p >= c->e || *c->p != '"')
		return -1;
	start = ++c->p;
	while (c->p < c->e) {
		unsigned ch = (unsigned char)*c->p;
		size_t k;
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
			c->p++;
			continue;
		}
		if (ch == '"') {
			s->p = start;
			s->n = (size_t)(c->p - start);
			c->p++;
			return 0;
		}
		if (ch == '\\') {
			char x = c->e - c->p >= 2 ? c->p[1] : '\0';
			if (x == '"' || x == '\\' || x == 'b' || x == 'f' || x == 'n' || x == 'r' ||
			    x == 't') {
				c->p += 2;
				continue;
			}
			/* \u00XX only for the controls that have no short escape, upper case */
			if (x != 'u' || c->e - c->p < 6 || memcmp(c->p + 2, "00", 2) != 0 ||
			    (c->p[4] != '0' && c->p[4] != '1'))
				return -1;
			const char *d = strchr(hex, c->p[5]);
			if (d == NULL || c->p[5] == '\0')
				return -1;
			unsigned v = (unsigned)(c->p[4] - '0') * 16 + (unsigned)(d - hex);
			if (v == 0 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
				return -1;
			c->p += 6;
			continue;
		}
		if (ch < 0x20 || (k = utf8_len((const unsigned char *)c->p)) == 0 ||
		    k > (size_t)(c->e - c->p))
			return -1;
		c->p += k;
	}
	return -1;
}

static int
canon_nstr(struct cur *c, struct span *s)
{
	if (eat(c, "null") == 0) {
		s->p = NULL;
		s->n = 0;
		return 0;
	}
	return canon_str(c, s);
}

static int
canon_uint(struct cur *c, uint64_t *v)
{
	const char *start = c->p;

	*v = 0;
	while (c->p < c->e && *c->p >= '0' && *c->p <= '9') {
		if (*v > (UINT64_C(1) << 62))
			return -1;
		*v = *v * 10 + (uint64_t)(*c->p++ - '0');
	}
	return c->p == start || (*start == '0' && c->p - start > 1) ? -1 : 0;
}

static int
span_is(const struct span *s, const char *lit)
{
	return s->p != NULL && s->n == strlen(lit) && memcmp(s->p, lit, s->n) == 0;
}

static int
leaf_parse(const char *leaf, size_t len, struct leaf_view *v)
{
	struct cur c = {leaf, leaf + len};
	struct span tm, any;
	struct {
		const char *lit;
		struct span *to; /* NULL: the items array */
	} m[] = {
	    {",\"request\":", &any},        {",\"kind\":", &v->kind},
	    {",\"partner\":", &v->partner}, {",\"contract\":", &v->contract},
	    {",\"relationship\":", &any},   {",\"purpose\":", &v->purpose},
	    {",\"subject\":", &v->subject}, {",\"items\":", NULL},
	    {",\"basis\":", &any},          {",\"reason\":", &any},
	    {",\"digest\":", &any},         {",\"cert\":", &any},
	    {",\"token\":", &any},          {",\"justification\":", &any},
	};

	memset(v, 0, sizeof(*v));
	if (eat(&c, "{\"v\":1,\"index\":") < 0 || canon_uint(&c, &v->index) < 0 ||
	    eat(&c, ",\"time\":") < 0 || canon_str(&c, &tm) < 0 ||
	    parse_time(tm.p, tm.n, &v->ms) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		if (eat(&c, m[i].lit) < 0)
			return -1;
		if (m[i].to != NULL) {
			if (canon_nstr(&c, m[i].to) < 0)
				return -1;
			continue;
		}
		if (eat(&c, "null") == 0)
			continue;
		if (eat(&c, "[") < 0)
			return -1;
		if (eat(&c, "]") == 0)
			continue;
		do {
			if (canon_str(&c, &any) < 0)
				return -1;
		} while (eat(&c, ",") == 0);
		if (eat(&c, "]") < 0)
			return -1;
	}
	if (span_is(&v->kind, "admin")) {
		if (eat(&c, ",\"admin\":{\"action\":") < 0 || canon_str(&c, &v->action) < 0 ||
		    eat(&c, ",\"staff\":") < 0 || canon_nstr(&c, &any) < 0 ||
		    eat(&c, ",\"reason\":") < 0 || canon_nstr(&c, &any) < 0 ||
		    eat(&c, ",\"target\":") < 0 || canon_nstr(&c, &any) < 0 || eat(&c, "}") < 0)
			return -1;
	} else if (!span_is(&v->kind, "release") && !span_is(&v->kind, "deny")) {
		return -1;
	}
	return eat(&c, "}") == 0 && c.p == c.e ? 0 : -1;
}

/* A search column against the leaf's member: both null, or the same string. */
static int
span_eq(struct buf *tmp, const struct span *s, const char *col)
{
	if (s->p == NULL || col == NULL)
		return s->p == NULL && col == NULL;
	/* Without a backslash the span is the string itself (canon_str checked it). */
	if (memchr(s->p, '\\', s->n) == NULL)
		return strlen(col) == s->n && memcmp(col, s->p, s->n) == 0;
	tmp->len = 0;
	buf_json_str(tmp, col);
	return !tmp->bad && tmp->len == s->n + 2 && memcmp(tmp->p + 1, s->p, s->n) == 0;
}

/* One stored entry: hash, position, canonical form, and the search columns against the leaf. */
static int
verify_entry(struct cli *c, sqlite3_stmt *st, uint64_t pos, uint8_t hash[MERKLE_HASH_LEN],
             struct leaf_view *v, struct buf *tmp)
{
	const char *leaf = (const char *)sqlite3_column_text(st, 1);
	size_t len = (size_t)sqlite3_column_bytes(st, 1);

	if (leaf == NULL || sqlite3_column_bytes(st, 2) != MERKLE_HASH_LEN)
		return cli_err(c, "entry %" PRIu64 ": leaf or hash missing", pos);
	if (merkle_leaf_hash(leaf, len, hash) != MERKLE_OK)
		return cli_err(c, "hashing failed");
	if (memcmp(hash, sqlite3_column_blob(st, 2), MERKLE_HASH_LEN) != 0)
		return cli_err(c, "entry %" PRIu64 ": the leaf does not hash to its stored hash",
		               pos);
	if (leaf_parse(leaf, len, v) < 0)
		return cli_err(c,
		               "entry %" PRIu64 ": the leaf is not a version 1 leaf in canonical "
		               "form",
		               pos);
	if (v->index != pos)
		return cli_err(c, "entry %" PRIu64 ": its leaf says index %" PRIu64, pos, v->index);
	if (v->ms != sqlite3_column_int64(st, 3) ||
	    !span_eq(tmp, &v->kind, (const char *)sqlite3_column_text(st, 4)) ||
	    !span_eq(tmp, &v->partner, (const char *)sqlite3_column_text(st, 5)) ||
	    !span_eq(tmp, &v->contract, (const char *)sqlite3_column_text(st, 6)) ||
	    !span_eq(tmp, &v->purpose, (const char *)sqlite3_column_text(st, 7)) ||
	    !span_eq(tmp, &v->subject, (const char *)sqlite3_column_text(st, 8)))
		return cli_err(c, "entry %" PRIu64 ": the search columns differ from the leaf",
		               pos);
	return 0;
}

/*
 * SPEC 11.5, plus what makes a dropped tail visible (docs/ledger.md, "Verification"):
 * entries after the latest checkpoint are accepted only if the gateway may still be about to
 * sign them — none of them is gateway_stop, and the oldest is younger than the grace — and
 * every entry that follows a gateway_stop is a gateway_start.
 */
static int
cmd_verify(struct cli *c)
{
	struct merkle_mem *mem = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct ledger probe = {0};
	char err[1024], b64[45];
	struct leaf_view view;
	struct buf tmp = {0};
	int prev_stop = 0;
	int64_t prev_ms = 0;
	uint8_t hash[MERKLE_HASH_LEN], root[MERKLE_HASH_LEN], prev_root[MERKLE_HASH_LEN];
	uint8_t proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	uint64_t n = 0, cp_size = 0, nodes = 0, want_nodes = 0, last_stop = UINT64_MAX;
	int rc = 1;

	if (cli_vkey(c) != 0)
		return 1;
	if (sqlite3_open_v2(cli_db(c), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		cli_err(c, "%s: %s", cli_db(c), sqlite3_errmsg(db));
		goto done;
	}
	sqlite3_busy_timeout(db, READER_BUSY_MS);
	if (check_meta(&probe, db, c->cfg ? c->cfg->ledger.origin : NULL, err, sizeof(err)) < 0) {
		cli_err(c, "%s: %s", cli_db(c), err);
		goto done;
	}
	if (strcmp(probe.origin, note_verifier_name(c->verifier)) != 0) {
		cli_err(c, "the ledger's origin '%s' is not the verifier key's name '%s'",
		        probe.origin, note_verifier_name(c->verifier));
		goto done;
	}
	/* One read transaction: a running gateway's later commits stay out of this snapshot. */
	if (exec_sql(db, "BEGIN", err, sizeof(err)) < 0 ||
	    sqlite3_prepare_v2(db,
	                       "SELECT idx, leaf, hash, time, kind, partner, contract, purpose, "
	                       "subject FROM entries ORDER BY idx",
	                       -1, &st, NULL) != SQLITE_OK) {
		cli_err(c, "%s", sqlite3_errmsg(db));
		goto done;
	}
	if ((mem = merkle_mem_new()) == NULL) {
		cli_err(c, "out of memory");
		goto done;
	}
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 idx = sqlite3_column_int64(st, 0);
		if (idx < 0 || (uint64_t)idx != n) {
			cli_err(c, "entry %" PRIu64 ": missing (the next stored entry is %lld)", n,
			        (long long)idx);
			goto done;
		}
		if (verify_entry(c, st, n, hash, &view, &tmp) != 0)
			goto done;
		int is_start = span_is(&view.action, "gateway_start");
		if (prev_stop && !is_start) {
			cli_err(c,
			        "entry %" PRIu64 ": follows gateway_stop but is not gateway_start",
			        n);
			goto done;
		}
		if (view.ms < prev_ms) {
			cli_err(c,
			        "entry %" PRIu64 ": its time is before the time of entry %" PRIu64,
			        n, n - 1);
			goto done;
		}
		prev_ms = view.ms;
		prev_stop = span_is(&view.action, "gateway_stop");
		if (prev_stop)
			last_stop = n;
		if (merkle_mem_append(mem, hash) != MERKLE_OK) {
			cli_err(c, "out of memory");
			goto done;
		}
		n++;
	}
	if (step != SQLITE_DONE) {
		cli_err(c, "reading entries: %s", sqlite3_errmsg(db));
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;

	/* Every complete node of level >= 1, and nothing else. */
	struct merkle_store mstore = merkle_mem_store(mem);
	for (unsigned lv = 1; lv < MERKLE_MAX_LEVELS; lv++)
		want_nodes += n >> lv;
	if (sqlite3_prepare_v2(db, "SELECT level, idx, hash FROM nodes ORDER BY level, idx", -1,
	                       &st, NULL) != SQLITE_OK) {
		cli_err(c, "%s", sqlite3_errmsg(db));
		goto done;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 lv = sqlite3_column_int64(st, 0), ix = sqlite3_column_int64(st, 1);
		if (lv < 1 || lv >= MERKLE_MAX_LEVELS || ix < 0 || (uint64_t)ix >= n >> lv) {
			cli_err(c,
			        "node (level %lld, index %lld): outside the tree of %" PRIu64
			        " entries",
			        (long long)lv, (long long)ix, n);
			goto done;
		}
		if (sqlite3_column_bytes(st, 2) != MERKLE_HASH_LEN ||
		    mstore.node_hash(mstore.ctx, (uint64_t)lv, (uint64_t)ix, hash) != 0 ||
		    memcmp(hash, sqlite3_column_blob(st, 2), MERKLE_HASH_LEN) != 0) {
			cli_err(
			    c,
			    "node (level %lld, index %lld): differs from the tree of the entries "
			    "(covering entries %lld..%lld)",
			    (long long)lv, (long long)ix, (long long)(ix << lv),
			    (long long)(((ix + 1) << lv) - 1));
			goto done;
		}
		nodes++;
	}
	if (step != SQLITE_DONE) {
		cli_err(c, "reading nodes: %s", sqlite3_errmsg(db));
		goto done;
	}
	if (nodes != want_nodes) {
		cli_err(c,
		        "%" PRIu64 " stored tree nodes, the tree of %" PRIu64
		        " entries has %" PRIu64,
		        nodes, n, want_nodes);
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;

	/* Every checkpoint: signature, origin, size, root, consistency with the one before. */
	if (sqlite3_prepare_v2(db, "SELECT size, note FROM checkpoints ORDER BY size", -1, &st,
	                       NULL) != SQLITE_OK) {
		cli_err(c, "%s", sqlite3_errmsg(db));
		goto done;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 sz = sqlite3_column_int64(st, 0);
		const char *note = (const char *)sqlite3_column_text(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1), np;
		struct note_checkpoint cp;
		int r;
		if (note == NULL ||
		    (r = note_checkpoint_open(note, len, &c->verifier, 1, &cp)) != NOTE_OK) {
			cli_err(c, "checkpoint %lld: %s", (long long)sz,
			        note ? note_strerror(r) : "no note");
			goto done;
		}
		if (sz <= 0 || cp.size != (uint64_t)sz) {
			cli_err(c, "checkpoint %lld: its note says size %" PRIu64, (long long)sz,
			        cp.size);
			goto done;
		}
		if (cp.size > n) {
			cli_err(c, "checkpoint %" PRIu64 ": beyond the %" PRIu64 " stored entries",
			        cp.size, n);
			goto done;
		}
		if (merkle_root(&mstore, cp.size, root) != MERKLE_OK ||
		    memcmp(root, cp.root, MERKLE_HASH_LEN) != 0) {
			cli_err(c,
			        "checkpoint %" PRIu64 ": its root differs from the tree of the "
			        "stored entries",
			        cp.size);
			goto done;
		}
		if (cp_size > 0 &&
		    (merkle_consistency_proof(&mstore, cp_size, cp.size, proof, MERKLE_MAX_PROOF,
		                              &np) != MERKLE_OK ||
		     merkle_verify_consistency(cp_size, cp.size, prev_root, root,
		                               (const uint8_t(*)[MERKLE_HASH_LEN])proof,
		                               np) != MERKLE_OK)) {
			cli_err(c,
			        "checkpoint %" PRIu64 ": not consistent with checkpoint %" PRIu64,
			        cp.size, cp_size);
			goto done;
		}
		cp_size = cp.size;
		memcpy(prev_root, root, MERKLE_HASH_LEN);
	}
	if (step != SQLITE_DONE) {
		cli_err(c, "reading checkpoints: %s", sqlite3_errmsg(db));
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;

	/* The unsigned tail. */
	if (n > cp_size) {
		int64_t grace = 3 * (int64_t)c->interval_ms + 2000, age;
		if (sqlite3_prepare_v2(db, "SELECT time FROM entries WHERE idx = ?1", -1, &st,
		                       NULL) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 1, (sqlite3_int64)cp_size) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_ROW) {
			cli_err(c, "%s", sqlite3_errmsg(db));
			goto done;
		}
		age = now_ms() - sqlite3_column_int64(st, 0);
		if (last_stop != UINT64_MAX && last_stop >= cp_size) {
			cli_err(c,
			        "entries %" PRIu64 "..%" PRIu64 " are not covered by a checkpoint, "
			        "and entry %" PRIu64
			        " is gateway_stop, after which a checkpoint is "
			        "always signed: a checkpoint was removed",
			        cp_size, n - 1, last_stop);
			goto done;
		}
		if (age > grace) {
			cli_err(c,
			        "entries %" PRIu64 "..%" PRIu64
			        " are not covered by a checkpoint and "
			        "entry %" PRIu64 " is %" PRId64 " ms old (a running gateway signs "
			        "within %" PRId64 " ms): a checkpoint was removed, or the gateway "
			        "stopped without signing (starting it signs them)",
			        cp_size, n - 1, cp_size, age, grace);
			goto done;
		}
		printf("unsigned %" PRIu64 " entries after the latest checkpoint, %" PRId64
		       " ms old: a running gateway signs them within %" PRId64 " ms\n",
		       n - cp_size, age, grace);
	}
	printf("size %" PRIu64 "\n", n);
	if (cp_size > 0) {
		b64_encode(prev_root, b64);
		printf("checkpoint %" PRIu64 " %s\n", cp_size, b64);
	} else {
		printf("checkpoint none\n");
	}
	printf("ledger OK\n");
	rc = 0;
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	merkle_mem_free(mem);
	free(probe.origin);
	buf_free(&tmp);
	return rc;
}

static int
export_leaf(void *arg, uint64_t index, const char *leaf, size_t len)
{
	(void)index;
	FILE *out = arg;
	return fwrite(leaf, 1, len, out) != len || fputc('\n', out) == EOF;
}

static int
cmd_export(struct cli *c)
{
	struct ledger *l = cli_open(c);
	uint64_t size;
	int rc = 1, r;

	if (l == NULL)
		return 1;
	if ((r = ledger_size(l, &size)) < 0) {
		cli_err(c, "%s", ledger_strerror(r));
		goto done;
	}
	uint64_t start = c->has_start ? c->start : 0, end = c->has_end ? c->end : size;
	if (start > end || end > size) {
		cli_err(c,
		        "range [%" PRIu64 ", %" PRIu64 ") is outside the ledger of %" PRIu64
		        " entries",
		        start, end, size);
		goto done;
	}
	if ((r = ledger_leaves(l, start, end, export_leaf, stdout)) < 0 || fflush(stdout) != 0) {
		cli_err(c, "%s", r < 0 ? ledger_strerror(r) : strerror(errno));
		goto done;
	}
	rc = 0;
done:
	ledger_close(l);
	return rc;
}

static int
cmd_checkpoint(struct cli *c)
{
	struct ledger *l = cli_open(c);
	char *note = NULL;
	size_t len;
	uint64_t size;
	int rc = 1, r;

	if (l == NULL)
		return 1;
	if ((r = ledger_checkpoint(l, 0, &note, &len, &size)) < 0) {
		cli_err(c, "%s", r == LEDGER_ENOENT ? "no checkpoint yet" : ledger_strerror(r));
		goto done;
	}
	if (fwrite(note, 1, len, stdout) != len || fflush(stdout) != 0) {
		cli_err(c, "%s", strerror(errno));
		goto done;
	}
	rc = 0;
done:
	free(note);
	ledger_close(l);
	return rc;
}

static int
copy_leaf(void *arg, uint64_t index, const char *leaf, size_t len)
{
	(void)index;
	char **out = arg;
	return (*out = strndup(leaf, len)) == NULL;
}

/* Checks a bundle (parsed) with the verifier alone. 0, or 1 with the reason printed. */
static int
check_bundle(struct cli *c, json_t *b)
{
	json_t *leaf = json_object_get(b, "leaf"), *proof = json_object_get(b, "proof");
	json_t *index = json_object_get(b, "index"), *size = json_object_get(b, "size");
	json_t *note = json_object_get(b, "checkpoint"), *j = NULL, *v;
	uint8_t hash[MERKLE_HASH_LEN], claimed[MERKLE_HASH_LEN];
	uint8_t p[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	struct note_checkpoint cp;
	json_error_t jerr;
	size_t np;
	int rc = 1, r;

	if (!json_is_string(leaf) || !json_is_array(proof) || !json_is_integer(index) ||
	    !json_is_integer(size) || !json_is_string(note) || json_integer_value(index) < 0 ||
	    json_integer_value(size) <= json_integer_value(index))
		return cli_err(c, "not a proof bundle: leaf, index, size, leaf_hash, proof and "
		                  "checkpoint are required");
	if ((np = json_array_size(proof)) > MERKLE_MAX_PROOF)
		return cli_err(c, "proof too long");
	for (size_t i = 0; i < np; i++)
		if (b64_decode(json_string_value(json_array_get(proof, i)), p[i]) < 0)
			return cli_err(c, "proof[%zu] is not the base64 of a hash", i);
	if (b64_decode(json_string_value(json_object_get(b, "leaf_hash")), claimed) < 0)
		return cli_err(c, "leaf_hash is not the base64 of a hash");
	if (merkle_leaf_hash(json_string_value(leaf), json_string_length(leaf), hash) !=
	        MERKLE_OK ||
	    memcmp(hash, claimed, MERKLE_HASH_LEN) != 0)
		return cli_err(c, "the leaf does not hash to leaf_hash");
	j = json_loadb(json_string_value(leaf), json_string_length(leaf), JSON_REJECT_DUPLICATES,
	               &jerr);
	v = json_object_get(j, "index");
	if (!json_is_object(j) || !json_is_integer(v) ||
	    json_integer_value(v) != json_integer_value(index)) {
		cli_err(c, "the leaf does not say index %lld",
		        (long long)json_integer_value(index));
		goto done;
	}
	if ((r = note_checkpoint_open(json_string_value(note), json_string_length(note),
	                              &c->verifier, 1, &cp)) != NOTE_OK) {
		cli_err(c, "the checkpoint does not verify with %s: %s",
		        note_verifier_name(c->verifier), note_strerror(r));
		goto done;
	}
	if (cp.size != (uint64_t)json_integer_value(size)) {
		cli_err(c, "the checkpoint is of size %" PRIu64 ", the bundle says %lld", cp.size,
		        (long long)json_integer_value(size));
		goto done;
	}
	if ((r = merkle_verify_inclusion((uint64_t)json_integer_value(index), cp.size, hash,
	                                 (const uint8_t(*)[MERKLE_HASH_LEN])p, np, cp.root)) !=
	    MERKLE_OK) {
		cli_err(c, "the proof does not lead to the checkpoint's root: %s",
		        merkle_strerror(r));
		goto done;
	}
	rc = 0;
done:
	json_decref(j);
	return rc;
}

static int
cmd_prove(struct cli *c)
{
	struct ledger *l = NULL;
	uint8_t hash[MERKLE_HASH_LEN], proof[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	char *note = NULL, *leaf = NULL, *out = NULL, b64[45];
	json_t *b = NULL, *arr = NULL;
	uint64_t index, size;
	size_t len, np;
	int rc = 1, r;

	if (c->nargs != 1 || parse_u64(c->args[0], &index) < 0)
		return cli_err(c, "INDEX (a decimal entry index) is required");
	if (cli_vkey(c) != 0 || (l = cli_open(c)) == NULL)
		return 1;
	if ((r = ledger_checkpoint(l, c->has_size ? c->size : 0, &note, &len, &size)) < 0) {
		cli_err(c, "%s",
		        r != LEDGER_ENOENT ? ledger_strerror(r)
		        : c->has_size      ? "no checkpoint of that size"
		                           : "no checkpoint yet");
		goto done;
	}
	if (index >= size) {
		cli_err(c,
		        "entry %" PRIu64 " is not in the checkpoint of size %" PRIu64
		        " (the next checkpoint will hold it)",
		        index, size);
		goto done;
	}
	if ((r = ledger_inclusion(l, index, size, hash, proof, &np)) < 0 ||
	    (r = ledger_leaves(l, index, index + 1, copy_leaf, &leaf)) < 0) {
		cli_err(c, "%s", ledger_strerror(r));
		goto done;
	}
	if ((b = json_object()) == NULL || (arr = json_array()) == NULL)
		goto oom;
	for (size_t i = 0; i < np; i++) {
		b64_encode(proof[i], b64);
		if (json_array_append_new(arr, json_string(b64)) < 0)
			goto oom;
	}
	b64_encode(hash, b64);
	if (json_object_set_new(b, "origin", json_string(note_verifier_name(c->verifier))) < 0 ||
	    json_object_set_new(b, "index", json_integer((json_int_t)index)) < 0 ||
	    json_object_set_new(b, "size", json_integer((json_int_t)size)) < 0 ||
	    json_object_set_new(b, "leaf", json_string(leaf)) < 0 ||
	    json_object_set_new(b, "leaf_hash", json_string(b64)) < 0 ||
	    json_object_set(b, "proof", arr) < 0 ||
	    json_object_set_new(b, "checkpoint", json_string(note)) < 0 ||
	    json_object_set_new(b, "vkey", json_string(c->vkey)) < 0)
		goto oom;
	/* Never hand out a bundle that would not check. */
	if (check_bundle(c, b) != 0)
		goto done;
	if ((out = json_dumps(b, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
		goto oom;
	if (printf("%s\n", out) < 0 || fflush(stdout) != 0) {
		cli_err(c, "%s", strerror(errno));
		goto done;
	}
	rc = 0;
	goto done;
oom:
	cli_err(c, "out of memory");
done:
	json_decref(arr);
	json_decref(b);
	free(out);
	free(note);
	free(leaf);
	ledger_close(l);
	return rc;
}

static int
cmd_check_proof(struct cli *c)
{
	json_error_t jerr;
	json_t *b = NULL;
	char *text;
	size_t len;
	int rc = 1;

	if (c->nargs != 1)
		return cli_err(c, "BUNDLE (a file from pdgate ledger prove) is required");
	if (c->vkey_path == NULL)
		return cli_err(c,
		               "--vkey VKEY is required: the bundle is checked against it alone");
	if (cli_vkey(c) != 0)
		return 1;
	if ((text = read_file(c->args[0], BUNDLE_MAX_BYTES, &len)) == NULL)
		return cli_err(c, "%s: %s", c->args[0], strerror(errno));
	if ((b = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(b)) {
		cli_err(c, "%s: not JSON: %s", c->args[0], b ? "not an object" : jerr.text);
		goto done;
	}
	if (check_bundle(c, b) != 0)
		goto done;
	printf("proof OK: entry %lld is in the tree of size %lld signed by %s\n",
	       (long long)json_integer_value(json_object_get(b, "index")),
	       (long long)json_integer_value(json_object_get(b, "size")), c->vkey);
	rc = 0;
done:
	json_decref(b);
	free(text);
	return rc;
}

int
ledger_main(int argc, char **argv)
{
	struct cli c = {.cmd = "", .interval_ms = 0};
	char *errors = NULL;
	int rc = 2;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(ledger_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	c.cmd = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(ledger_usage, stdout);
			return 0;
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			c.conf = v;
		} else if (strcmp(a, "--db") == 0) {
			c.db = v;
		} else if (strcmp(a, "--vkey") == 0) {
			c.vkey_path = v;
		} else if (strcmp(a, "--start") == 0) {
			c.has_start = parse_u64(v, &c.start) == 0 ? 1 : -1;
		} else if (strcmp(a, "--end") == 0) {
			c.has_end = parse_u64(v, &c.end) == 0 ? 1 : -1;
		} else if (strcmp(a, "--size") == 0) {
			c.has_size = parse_u64(v, &c.size) == 0 && c.size > 0 ? 1 : -1;
		} else if (strcmp(a, "--interval") == 0) {
			uint64_t ms;
			if (parse_u64(v, &ms) < 0 || ms == 0 || ms > 86400000) {
				cli_err(&c, "--interval takes milliseconds (1..86400000)");
				return 2;
			}
			c.interval_ms = (unsigned)ms;
		} else if (a[0] == '-' && a[1] != '\0') {
			cli_err(&c, "unknown option %s (see pdgate ledger --help)", a);
			return 2;
		} else {
			takes = 0;
			if (c.nargs == 2) {
				cli_err(&c, "too many arguments");
				return 2;
			}
			c.args[c.nargs++] = a;
		}
		if (takes) {
			if (v == NULL) {
				cli_err(&c, "%s needs a value", a);
				return 2;
			}
			i++;
		}
	}
	if (c.has_start < 0 || c.has_end < 0 || c.has_size < 0) {
		cli_err(&c, "--start, --end and --size take a decimal number");
		return 2;
	}
	int is_check = strcmp(c.cmd, "check-proof") == 0;
	if (!is_check && (c.conf == NULL) == (c.db == NULL)) {
		cli_err(&c, "give either -c FILE or --db LEDGER.db");
		return 2;
	}
	if (c.conf != NULL) {
		if ((c.cfg = config_load(c.conf, &errors)) == NULL) {
			fprintf(stderr, "%s", errors ? errors : "out of memory\n");
			free(errors);
			return 1;
		}
		if (c.interval_ms == 0)
			c.interval_ms = c.cfg->ledger.checkpoint_interval_ms;
	}
	if (c.interval_ms == 0)
		c.interval_ms = 1000;
	if (strcmp(c.cmd, "verify") == 0)
		rc = c.nargs ? cli_err(&c, "unexpected argument %s", c.args[0]) : cmd_verify(&c);
	else if (strcmp(c.cmd, "export") == 0)
		rc = c.nargs ? cli_err(&c, "unexpected argument %s", c.args[0]) : cmd_export(&c);
	else if (strcmp(c.cmd, "checkpoint") == 0)
		rc =
		    c.nargs ? cli_err(&c, "unexpected argument %s", c.args[0]) : cmd_checkpoint(&c);
	else if (strcmp(c.cmd, "prove") == 0)
		rc = cmd_prove(&c);
	else if (is_check)
		rc = cmd_check_proof(&c);
	else
		rc = cli_err(&c,
		             "unknown command (verify, export, checkpoint, prove, check-proof)") +
		     1;
	note_verifier_free(c.verifier);
	free(c.vkey);
	config_free(c.cfg);
	return rc;
}
