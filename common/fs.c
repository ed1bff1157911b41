/* Platform-neutral file-system helpers (the platform parts are fs_linux.c, fs_win32.c). */
#include "common/fs.h"

#include <stdio.h>
#include <string.h>

long wc_read_head(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n ? (long)n : -1;
}

int wc_sqlite_private(const char *db_path, wc_err *err)
{
    static const char *const suffixes[] = {"-wal", "-shm"};
    if (wc_file_private(db_path, 1, err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s%s", db_path, suffixes[i]) >= (int)sizeof path)
            return wc_err_set(err, WC_INVALID_ARGUMENT, "path too long: %s", db_path);
        if (wc_file_private(path, 0, err) < 0)
            return -1;
    }
    return 0;
}
