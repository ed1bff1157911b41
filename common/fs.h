/* File-system helpers with platform parts (fs_linux.c, fs_win32.c). */
#ifndef WINCRI_COMMON_FS_H
#define WINCRI_COMMON_FS_H

#include <stddef.h>

#include "common/err.h"

/* Creates dir and its missing parents. */
int wc_mkdir_p(const char *dir, int mode, wc_err *err);

/* Takes the exclusive lock that makes one daemon per root. Fails with FAILED_PRECONDITION
 * naming the holder's pid when another process has it. */
typedef struct wc_lock wc_lock;
int wc_lock_acquire(const char *path, wc_lock **out, wc_err *err);
void wc_lock_release(wc_lock *lock);

/* Writes data to path via a temporary file and rename, flushed to disk first. */
int wc_write_file_atomic(const char *path, const void *data, size_t len, wc_err *err);

/* Joins two path parts with the platform separator; caller frees. */
char *wc_path_join(const char *a, const char *b);

#endif
