/* File helpers for the store on Windows (CRT + Win32). */
#include "image/img_internal.h"

#include <direct.h>
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <windows.h>

#include "common/clock.h"
#include "common/xalloc.h"

int img_path_exists(const char *path)
{
    return GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES;
}

int img_mkdir_p(const char *path, wc_err *err)
{
    char buf[MAX_PATH * 4];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return wc_err_set(err, WC_INTERNAL, "path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\\' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (!(strlen(buf) == 2 && buf[1] == ':') && _mkdir(buf) < 0 && errno != EEXIST)
            return wc_err_sys(err, WC_INTERNAL, errno, "create directory %s", buf);
        *p = saved;
        if (!saved)
            return 0;
    }
}

typedef int (*visit_fn)(void *ctx, const char *path, const WIN32_FIND_DATAA *fd, int post);

/* Walks dir depth-first; calls fn for each entry (and post=1 after a directory's children). */
static int walk(const char *dir, visit_fn fn, void *ctx)
{
    char pattern[MAX_PATH * 4];
    snprintf(pattern, sizeof pattern, "%s\\*", dir);
    WIN32_FIND_DATAA fd;
    HANDLE h = FindFirstFileA(pattern, &fd);
    if (h == INVALID_HANDLE_VALUE)
        return 0;
    int rc = 0;
    do {
        if (strcmp(fd.cFileName, ".") == 0 || strcmp(fd.cFileName, "..") == 0)
            continue;
        char path[MAX_PATH * 4];
        snprintf(path, sizeof path, "%s\\%s", dir, fd.cFileName);
        int is_dir = (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) &&
                     !(fd.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT);
        rc = fn(ctx, path, &fd, 0);
        if (rc == 0 && is_dir) {
            rc = walk(path, fn, ctx);
            if (rc == 0)
                rc = fn(ctx, path, &fd, 1);
        }
    } while (rc == 0 && FindNextFileA(h, &fd));
    FindClose(h);
    return rc;
}

static int remove_one(void *ctx, const char *path, const WIN32_FIND_DATAA *fd, int post)
{
    int is_dir = (fd->dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
    int is_link = (fd->dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0;
    SetFileAttributesA(path, FILE_ATTRIBUTE_NORMAL | (is_dir ? FILE_ATTRIBUTE_DIRECTORY : 0));
    if (is_dir && !is_link && !post)
        return 0;
    BOOL ok = is_dir ? RemoveDirectoryA(path) : DeleteFileA(path);
    (void)ctx;
    return ok ? 0 : 0; /* keep going; what cannot be removed now is collected later */
}

int img_remove_tree(const char *path, wc_err *err)
{
    DWORD attr = GetFileAttributesA(path);
    if (attr == INVALID_FILE_ATTRIBUTES)
        return 0;
    if (!(attr & FILE_ATTRIBUTE_DIRECTORY) || (attr & FILE_ATTRIBUTE_REPARSE_POINT)) {
        BOOL ok = (attr & FILE_ATTRIBUTE_DIRECTORY) ? RemoveDirectoryA(path) : DeleteFileA(path);
        return ok ? 0
                  : wc_err_set(err, WC_INTERNAL, "remove %s: error %lu", path,
                               (unsigned long)GetLastError());
    }
    walk(path, remove_one, NULL);
    if (!RemoveDirectoryA(path))
        return wc_err_set(err, WC_INTERNAL, "remove %s: error %lu", path,
                          (unsigned long)GetLastError());
    return 0;
}

static int measure_one(void *ctx, const char *path, const WIN32_FIND_DATAA *fd, int post)
{
    img_fs_usage *u = ctx;
    (void)path;
    if (post)
        return 0;
    u->used_bytes += ((uint64_t)fd->nFileSizeHigh << 32) | fd->nFileSizeLow;
    u->inodes_used++;
    return 0;
}

int img_fs_measure(const char *dir, img_fs_usage *out, wc_err *err)
{
    (void)err;
    memset(out, 0, sizeof *out);
    out->timestamp_ns = wc_clock_realtime_ns();
    char vol[MAX_PATH + 1] = "";
    if (!GetVolumePathNameA(dir, vol, sizeof vol))
        snprintf(vol, sizeof vol, "%s", dir);
    out->mountpoint = wc_xstrdup(vol);
    if (img_path_exists(dir)) {
        out->inodes_used = 1;
        walk(dir, measure_one, out);
    }
    return 0;
}

int img_file_create(const char *path)
{
    return _open(path, _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY | _O_NOINHERIT,
                 _S_IREAD | _S_IWRITE);
}

int img_file_open(const char *path)
{
    return _open(path, _O_RDONLY | _O_BINARY | _O_NOINHERIT);
}

int img_file_write(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int w = _write(fd, c, chunk);
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t img_file_read(int fd, void *buf, size_t cap)
{
    return _read(fd, buf, cap > (1u << 30) ? (1u << 30) : (unsigned)cap);
}

int img_file_close(int fd)
{
    return _close(fd);
}

/* Not worked out for volumes and mount points yet: callers keep such things in one folder. */
int img_same_filesystem(const char *a, const char *b)
{
    (void)a;
    (void)b;
    return 0;
}

int img_rename(const char *from, const char *to)
{
    if (MoveFileExA(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        return 0;
    errno = EACCES;
    return -1;
}

/* Nothing yet: ImportLayer writes the layer folder itself, and flushing a whole volume
 * (FlushFileBuffers on it) needs more than the service should hold. A folder that a crash
 * cut short is never marked verified, so it is not trusted; power loss after the mark is
 * the open case on Windows. */
int img_sync_fs(const char *path, wc_err *err)
{
    (void)path;
    (void)err;
    return 0;
}

/* img_sync_fs does nothing here, so the data is committed whatever sync says. */
int img_write_file_atomic(const char *path, const void *p, size_t n, int sync, wc_err *err)
{
    (void)sync;
    char tmp[MAX_PATH * 4];
    snprintf(tmp, sizeof tmp, "%s.tmp-%lu", path, (unsigned long)GetCurrentThreadId());
    int fd = _open(tmp, _O_WRONLY | _O_CREAT | _O_TRUNC | _O_BINARY | _O_NOINHERIT,
                   _S_IREAD | _S_IWRITE);
    if (fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "create %s", tmp);
    int rc = img_file_write(fd, p, n);
    if (_commit(fd) < 0)
        rc = -1;
    if (_close(fd) < 0)
        rc = -1;
    if (rc == 0 && img_rename(tmp, path) < 0)
        rc = -1;
    if (rc < 0) {
        remove(tmp);
        return wc_err_set(err, WC_INTERNAL, "write %s failed", path);
    }
    return 0;
}

int img_read_file(const char *path, size_t max, char **out, size_t *len, wc_err *err)
{
    *out = NULL;
    int fd = img_file_open(path);
    if (fd < 0)
        return wc_err_sys(err, errno == ENOENT ? WC_NOT_FOUND : WC_INTERNAL, errno, "open %s",
                          path);
    long long size = _filelengthi64(fd);
    if (size < 0 || (unsigned long long)size > max) {
        _close(fd);
        return wc_err_set(err, WC_INTERNAL, "%s is larger than %zu bytes", path, max);
    }
    char *buf = wc_xmalloc((size_t)size + 1);
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t r = img_file_read(fd, buf + got, (size_t)size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    _close(fd);
    buf[got] = '\0';
    *out = buf;
    if (len)
        *len = got;
    return 0;
}
