/* ledger_vfs — the ledger writer's SQLite VFS: WAL writes gathered into one write per sync. */
#ifndef PDGATE_LEDGER_VFS_H
#define PDGATE_LEDGER_VFS_H

/*
 * The name of the VFS for sqlite3_open_v2, registered with SQLite on the first call (SQLite's
 * registry is process-wide, so the VFS is too: the only globals of the ledger); or NULL if it
 * cannot be registered, and the default VFS serves. Thread-safe; the string is static.
 */
const char *ledger_vfs_name(void);

#endif
