#include "common/fs.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

struct wc_lock {
    HANDLE h;
};

static int make_one(const char *dir, wc_err *err)
{
    if (CreateDirectoryA(dir, NULL) || GetLastError() == ERROR_ALREADY_EXISTS)
        return 0;
    return wc_err_set(err, WC_INTERNAL, "cannot create directory %s (Win32 error %lu)", dir,
                      GetLastError());
}

int wc_mkdir_p(const char *dir, int mode, wc_err *err)
{
    (void)mode;
    char buf[MAX_PATH * 2];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "path too long: %s", dir);
    /* Skip the drive ("C:\") so the loop never tries to create it. */
    char *p = buf;
    if (p[0] && p[1] == ':')
        p += 2;
    for (p++; *p; p++) {
        if (*p != '\\' && *p != '/')
            continue;
        char c = *p;
        *p = '\0';
        if (make_one(buf, err) < 0)
            return -1;
        *p = c;
    }
    return make_one(buf, err);
}

int wc_lock_acquire(const char *path, wc_lock **out, wc_err *err)
{
    /* No sharing: a second daemon's open fails while the first holds the handle. */
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();
        if (e == ERROR_SHARING_VIOLATION)
            return wc_err_set(err, WC_FAILED_PRECONDITION,
                              "another wincrid is already running on this root; lock file %s "
                              "is held",
                              path);
        return wc_err_set(err, WC_INTERNAL, "cannot open lock file %s (Win32 error %lu)", path, e);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%lu\r\n", GetCurrentProcessId());
    DWORD written = 0;
    SetFilePointer(h, 0, NULL, FILE_BEGIN);
    SetEndOfFile(h);
    WriteFile(h, pid, (DWORD)n, &written, NULL);
    wc_lock *l = wc_xmalloc(sizeof *l);
    l->h = h;
    *out = l;
    return 0;
}

void wc_lock_release(wc_lock *l)
{
    if (!l)
        return;
    CloseHandle(l->h);
    free(l);
}

int wc_mkdir_mode(const char *dir, int mode, wc_err *err)
{
    return wc_mkdir_p(dir, mode, err);
}

int wc_file_private(const char *path, int create, wc_err *err)
{
    (void)path;
    (void)create;
    (void)err;
    return 0;
}

int wc_write_file_atomic(const char *path, const void *data, size_t len, int mode, wc_err *err)
{
    (void)mode;
    char tmp[MAX_PATH * 2];
    snprintf(tmp, sizeof tmp, "%s.tmp.%lu", path, GetCurrentProcessId());
    HANDLE h = CreateFileA(tmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return wc_err_set(err, WC_INTERNAL, "cannot create %s (Win32 error %lu)", tmp,
                          GetLastError());
    DWORD written = 0;
    BOOL ok =
        WriteFile(h, data, (DWORD)len, &written, NULL) && written == len && FlushFileBuffers(h);
    CloseHandle(h);
    if (!ok || !MoveFileExA(tmp, path, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        DeleteFileA(tmp);
        return wc_err_set(err, WC_INTERNAL, "cannot replace %s (Win32 error %lu)", path,
                          GetLastError());
    }
    return 0;
}

char *wc_path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *out = wc_xmalloc(n);
    size_t la = strlen(a);
    int has_sep = la && (a[la - 1] == '\\' || a[la - 1] == '/');
    snprintf(out, n, "%s%s%s", a, has_sep ? "" : "\\", b);
    return out;
}
