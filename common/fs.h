/* File-system helpers with platform parts (fs_linux.c, fs_win32.c). */
#ifndef WINCRI_COMMON_FS_H
#define WINCRI_COMMON_FS_H

#include <stddef.h>

#include "common/err.h"

/* Creates dir and its missing parents. */
int wc_mkdir_p(const char *dir, int mode, wc_err *err);
/* As wc_mkdir_p, then gives dir exactly `mode` even if it existed (an older wincri's mode, or a
 * umask, never widens what wincrid stores). Windows: the directory inherits its ACL. */
int wc_mkdir_mode(const char *dir, int mode, wc_err *err);
/* Makes path readable and writable by its owner only (0600), creating it empty if missing;
 * a missing path is left alone when !create. SQLite gives a database's -wal and -shm files
 * the database file's mode, so a store calls this before opening. Windows: no-op. */
int wc_file_private(const char *path, int create, wc_err *err);
/* The database file (created if missing) and its -wal and -shm files, owner only. */
int wc_sqlite_private(const char *db_path, wc_err *err);

/* Takes the exclusive lock that makes one daemon per root. Fails with FAILED_PRECONDITION
 * naming the holder's pid when another process has it. */
typedef struct wc_lock wc_lock;
int wc_lock_acquire(const char *path, wc_lock **out, wc_err *err);
void wc_lock_release(wc_lock *lock);

/* Writes data to path via a temporary file and rename, flushed to disk first. The file gets
 * exactly `mode` (0600 for what only wincrid reads; 0644 for files containers read through
 * bind mounts). Windows: mode is ignored. */
int wc_write_file_atomic(const char *path, const void *data, size_t len, int mode, wc_err *err);

/* Reads up to cap - 1 bytes of the start of a small file (a /proc entry), NUL-terminated
 * after what was read (the content may hold NULs: the length is returned). -1 when it cannot
 * be opened or read or is empty. */
long wc_read_head(const char *path, char *buf, size_t cap);

/* Joins two path parts with the platform separator; caller frees. */
char *wc_path_join(const char *a, const char *b);

#endif
