/* ledger_vfs — the ledger writer's SQLite VFS: WAL writes gathered into one write per sync. */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ledger_vfs.h"

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

/* A WAL file of the writer: the default VFS's file behind, and the writes not yet passed on. */
struct walbuf_file {
	sqlite3_file base;  /* our methods */
	sqlite3_file *real; /* the default VFS's file, in the same allocation, after this */
	unsigned char *buf; /* writes gathered, buf[0..len) at file offset off; len <= cap */
	size_t len, cap;    /* cap <= WALBUF_MAX */
	sqlite3_int64 off;  /* file offset of buf[0] */
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

	assert(f->len <= f->cap && f->cap <= WALBUF_MAX);
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
	/* Only writes that follow the buffered ones join them: the buffer is one run of the file.
	 */
	assert(f->off + (sqlite3_int64)f->len == off && f->len + (size_t)n <= f->cap);
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

const char *
ledger_vfs_name(void)
{
	pthread_once(&walbuf_once, walbuf_register_once);
	return walbuf_ok ? WALBUF_VFS : NULL;
}
