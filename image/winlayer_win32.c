/* Windows layer writer: applies img_wl_op to a staging folder in the format vmcompute's
 * ImportLayer reads, which is what hcsshim's legacy layer writer produces
 * (internal/wclayer/legacy.go, Add / AddLink / Remove):
 *   - every file outside Hives\ is a plain file holding its FILE_ATTRIBUTE_* as a
 *     little-endian uint32, then its Win32 backup stream (security descriptor, EAs, reparse
 *     data, data, alternate streams), written as bytes: not restored;
 *   - every directory is a directory plus "<dir>.$wcidirs$" in that same format;
 *   - Hives\ files are restored with BackupWrite (their data is what the import reads);
 *   - the staged files carry the entry's times with the attributes stripped;
 *   - deletions go to tombstones.txt (UTF-8 BOM, "Version 1.0", one "\path" per line,
 *     relative to Files\, as legacy.go's readTombstones reads them).
 * A base layer is never imported (hcsshim baselayerwriter.go writes it in place and
 * processes it): img_wl_restore_base turns its staging folder into the layer folder with
 * BackupWrite. The byte layouts come from the shared winlayer_codec.c. */
#include "image/winlayer.h"

#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/wstr_win32.h"
#include "common/xalloc.h"

#define WCIDIRS ".$wcidirs$"

struct img_wl_writer {
    char *root;
    HANDLE cur;
    int raw; /* the current file takes its stream as bytes (not BackupWrite) */
    void *backup_ctx;
    FILE_BASIC_INFO cur_info;
    char **tombstones;
    size_t n_tombstones;
};

static WCHAR *wide_path(const img_wl_writer *w, const char *rel)
{
    size_t n = strlen(w->root) + 1 + strlen(rel) + 1;
    char *s = wc_xmalloc(n);
    snprintf(s, n, "%s\\%s", w->root, rel);
    for (char *c = s; *c; c++)
        if (*c == '/')
            *c = '\\';
    WCHAR *ws = wc_utf8_to_utf16(s, NULL);
    free(s);
    return ws;
}

static int win_fail(wc_err *err, const char *what, const char *path)
{
    DWORD e = GetLastError();
    wc_err_set(err,
               e == ERROR_ACCESS_DENIED || e == ERROR_PRIVILEGE_NOT_HELD ? WC_PERMISSION_DENIED
                                                                         : WC_INTERNAL,
               "%s %s: Windows error %lu", what, path, (unsigned long)e);
    err->sys = (long)e;
    return -1;
}

static int bwrite(img_wl_writer *w, const void *buf, size_t len, const char *path, wc_err *err)
{
    const BYTE *p = buf;
    while (len > 0) {
        DWORD chunk = len > 0x40000000u ? 0x40000000u : (DWORD)len;
        DWORD done = 0;
        if (w->raw ? !WriteFile(w->cur, p, chunk, &done, NULL)
                   : !BackupWrite(w->cur, (LPBYTE)p, chunk, &done, FALSE, TRUE, &w->backup_ctx))
            return win_fail(err, w->raw ? "writing" : "BackupWrite", path);
        p += done;
        len -= done;
    }
    return 0;
}

static int stream_header(img_wl_writer *w, uint32_t id, uint64_t size, const char *name,
                         const char *path, wc_err *err)
{
    uint8_t hdr[20 + 2 * 300];
    long n = img_wl_encode_stream_header(id, size, name, hdr, sizeof hdr);
    if (n < 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s: stream name too long", path);
    return bwrite(w, hdr, (size_t)n, path, err);
}

static int finish_current(img_wl_writer *w, const char *path, wc_err *err)
{
    if (!w->cur)
        return 0;
    DWORD done = 0;
    if (!w->raw) /* frees the backup context */
        BackupWrite(w->cur, NULL, 0, &done, TRUE, TRUE, &w->backup_ctx);
    w->backup_ctx = NULL;
    /* Set times last: writing the streams moved them. */
    BOOL ok = SetFileInformationByHandle(w->cur, FileBasicInfo, &w->cur_info, sizeof w->cur_info);
    CloseHandle(w->cur);
    w->cur = NULL;
    return ok ? 0 : win_fail(err, "setting times on", path);
}

static int add(img_wl_writer *w, const img_wl_file *f, wc_err *err)
{
    int dir = f->kind == IMG_WL_KIND_DIR || (f->attributes & FILE_ATTRIBUTE_DIRECTORY);
    /* Hive files are restored; everything else is staged as attributes + backup stream. */
    w->raw = dir || f->area != IMG_WL_AREA_HIVES;
    WCHAR *p = wide_path(w, f->path);
    if (!p)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s: not a UTF-8 path", f->path);
    if (dir && !CreateDirectoryW(p, NULL) && GetLastError() != ERROR_ALREADY_EXISTS) {
        free(p);
        return win_fail(err, "creating directory", f->path);
    }
    if (dir) { /* the directory's own record: <dir>.$wcidirs$ */
        size_t n = wcslen(p);
        p = wc_xrealloc(p, (n + sizeof WCIDIRS) * sizeof *p);
        for (size_t i = 0; i < sizeof WCIDIRS; i++)
            p[n + i] = (WCHAR)WCIDIRS[i];
    }
    w->cur = w->raw ? CreateFileW(p, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_NEW,
                                  FILE_ATTRIBUTE_NORMAL, NULL)
                    : CreateFileW(p, GENERIC_READ | GENERIC_WRITE | WRITE_DAC | WRITE_OWNER, 0,
                                  NULL, CREATE_NEW, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    free(p);
    if (w->cur == INVALID_HANDLE_VALUE) {
        w->cur = NULL;
        return win_fail(err, "creating", f->path);
    }
    memset(&w->cur_info, 0, sizeof w->cur_info);
    w->cur_info.CreationTime.QuadPart = (LONGLONG)f->creation_time;
    w->cur_info.LastAccessTime.QuadPart = (LONGLONG)f->last_access_time;
    w->cur_info.LastWriteTime.QuadPart = (LONGLONG)f->last_write_time;
    w->cur_info.ChangeTime.QuadPart = (LONGLONG)f->change_time;
    /* The staged file keeps the times only; the attributes travel in its first bytes
     * (hcsshim legacy.go: "The file attributes are written before the stream"). */
    w->cur_info.FileAttributes = 0;
    if (w->raw) {
        uint32_t attrs = f->attributes;
        if (dir)
            attrs |= FILE_ATTRIBUTE_DIRECTORY;
        uint8_t le[4] = {(uint8_t)attrs, (uint8_t)(attrs >> 8), (uint8_t)(attrs >> 16),
                         (uint8_t)(attrs >> 24)};
        if (bwrite(w, le, sizeof le, f->path, err))
            return -1;
    }
    if (f->sd) {
        if (stream_header(w, IMG_WL_BACKUP_SECURITY_DATA, f->sd_len, NULL, f->path, err) ||
            bwrite(w, f->sd, f->sd_len, f->path, err))
            return -1;
    } else if (f->sddl) {
        /* SDDL from older layers: ConvertStringSecurityDescriptorToSecurityDescriptorW lives
         * in advapi32; left for the node tests. */
        return wc_err_set(err, WC_UNIMPLEMENTED,
                          "%s: SDDL security descriptors (MSWINDOWS.sd) are not applied yet",
                          f->path);
    }
    if (f->n_eas) {
        uint8_t *ea;
        size_t ea_len;
        if (img_wl_encode_eas(f->eas, f->n_eas, &ea, &ea_len) != 0)
            return wc_err_set(err, WC_INVALID_ARGUMENT, "%s: extended attributes too large",
                              f->path);
        int rc = stream_header(w, IMG_WL_BACKUP_EA_DATA, ea_len, NULL, f->path, err) ||
                 bwrite(w, ea, ea_len, f->path, err);
        free(ea);
        if (rc)
            return -1;
    }
    if (f->kind == IMG_WL_KIND_SYMLINK || f->kind == IMG_WL_KIND_MOUNTPOINT) {
        uint8_t *rp;
        size_t rp_len;
        if (img_wl_encode_reparse(f->link_target, f->kind == IMG_WL_KIND_MOUNTPOINT, &rp,
                                  &rp_len) != 0)
            return wc_err_set(err, WC_INVALID_ARGUMENT, "%s: bad reparse target", f->path);
        int rc = stream_header(w, IMG_WL_BACKUP_REPARSE_DATA, rp_len, NULL, f->path, err) ||
                 bwrite(w, rp, rp_len, f->path, err);
        free(rp);
        if (rc)
            return -1;
    }
    if (f->kind == IMG_WL_KIND_FILE && f->size)
        return stream_header(w, IMG_WL_BACKUP_DATA, f->size, NULL, f->path, err);
    return 0;
}

int img_wl_writer_open(const char *staging_root, img_wl_writer **out, wc_err *err)
{
    *out = NULL;
    img_wl_writer *w = wc_xcalloc(1, sizeof *w);
    w->root = wc_xstrdup(staging_root);
    *out = w;
    return 0;
}

int img_wl_writer_visit(void *writer, const img_wl_op *op, wc_err *err)
{
    img_wl_writer *w = writer;
    switch (op->kind) {
    case IMG_WL_ADD:
        if (finish_current(w, op->path, err) != 0)
            return -1;
        return add(w, op->file, err);
    case IMG_WL_DATA:
        return bwrite(w, op->data, op->len, op->path, err);
    case IMG_WL_STREAM:
        return stream_header(w, IMG_WL_BACKUP_ALTERNATE_DATA, op->size, op->stream, op->path, err);
    case IMG_WL_END:
        return finish_current(w, op->path, err);
    case IMG_WL_LINK: {
        if (finish_current(w, op->path, err) != 0)
            return -1;
        WCHAR *p = wide_path(w, op->path), *t = wide_path(w, op->target);
        BOOL ok = p && t && CreateHardLinkW(p, t, NULL);
        free(p);
        free(t);
        /* A target in a parent layer is not in the staging folder; hcsshim resolves those
         * against the parent layers after ImportLayer. */
        return ok ? 0 : win_fail(err, "hard-linking", op->path);
    }
    case IMG_WL_REMOVE: {
        /* tombstones.txt names paths relative to Files\ (legacy.go readTombstones). A
         * utility VM file removed by a later layer would have to be deleted from the layer
         * after import, which nothing here does. */
        if (strncmp(op->path, "Files/", 6) != 0)
            return wc_err_set(err, WC_UNIMPLEMENTED,
                              "%s: removing utility VM files in a non-base layer is not "
                              "supported",
                              op->path);
        const char *rel = op->path + 6;
        char **nt = wc_xrealloc(w->tombstones, (w->n_tombstones + 1) * sizeof *nt);
        w->tombstones = nt;
        nt[w->n_tombstones] = wc_xstrdup(rel);
        for (char *c = nt[w->n_tombstones]; *c; c++)
            if (*c == '/')
                *c = '\\';
        w->n_tombstones++;
        return 0;
    }
    }
    return wc_err_set(err, WC_INTERNAL, "unknown layer op %d", (int)op->kind);
}

int img_wl_writer_close(img_wl_writer *w, wc_err *err)
{
    if (!w)
        return 0;
    int rc = finish_current(w, "(last file)", err);
    if (rc == 0 && w->n_tombstones) {
        /* tombstones.txt: UTF-8 BOM, a version line, then one "\path" per deletion. */
        WCHAR *p = wide_path(w, "tombstones.txt");
        HANDLE h =
            p ? CreateFileW(p, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL)
              : INVALID_HANDLE_VALUE;
        free(p);
        if (h == INVALID_HANDLE_VALUE) {
            rc = win_fail(err, "creating", "tombstones.txt");
        } else {
            DWORD done;
            const char head[] = "\xef\xbb\xbfVersion 1.0\n";
            BOOL ok = WriteFile(h, head, sizeof head - 1, &done, NULL);
            for (size_t i = 0; ok && i < w->n_tombstones; i++) {
                ok = WriteFile(h, "\\", 1, &done, NULL) &&
                     WriteFile(h, w->tombstones[i], (DWORD)strlen(w->tombstones[i]), &done, NULL) &&
                     WriteFile(h, "\n", 1, &done, NULL);
            }
            CloseHandle(h);
            if (!ok)
                rc = win_fail(err, "writing", "tombstones.txt");
        }
    }
    for (size_t i = 0; i < w->n_tombstones; i++)
        free(w->tombstones[i]);
    free(w->tombstones);
    free(w->root);
    free(w);
    return rc;
}

/* ---- a base layer: restored in place from its staging folder ---- */

static WCHAR *wjoin(const WCHAR *a, const WCHAR *b)
{
    size_t na = wcslen(a), nb = wcslen(b);
    WCHAR *s = wc_xmalloc((na + nb + 2) * sizeof *s);
    memcpy(s, a, na * sizeof *s);
    s[na] = L'\\';
    memcpy(s + na + 1, b, (nb + 1) * sizeof *s);
    return s;
}

static int ends_with_w(const WCHAR *s, const WCHAR *suffix)
{
    size_t a = wcslen(s), b = wcslen(suffix);
    return a >= b && _wcsicmp(s + a - b, suffix) == 0;
}

static int wfail(wc_err *err, const char *what, const WCHAR *path)
{
    DWORD e = GetLastError();
    wc_err_set(err, e == ERROR_ACCESS_DENIED ? WC_PERMISSION_DENIED : WC_INTERNAL,
               "%s %ls: Windows error %lu", what, path, (unsigned long)e);
    err->sys = (long)e;
    return -1;
}

/* Restores one staged record (attributes, then a backup stream) onto dst: a new file, or
 * the directory dst already is. Times and attributes are set by the caller's *info. */
static int restore_record(const WCHAR *src, const WCHAR *dst, int dir, FILE_BASIC_INFO *info,
                          wc_err *err)
{
    HANDLE in = CreateFileW(src, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    if (in == INVALID_HANDLE_VALUE)
        return wfail(err, "opening staged", src);
    uint8_t le[4];
    DWORD got = 0;
    int rc = -1;
    HANDLE out = INVALID_HANDLE_VALUE;
    void *ctx = NULL;
    if (!ReadFile(in, le, 4, &got, NULL) || got != 4 ||
        !GetFileInformationByHandleEx(in, FileBasicInfo, info, sizeof *info)) {
        wfail(err, "reading staged", src);
        goto done;
    }
    info->FileAttributes =
        ((DWORD)le[0] | (DWORD)le[1] << 8 | (DWORD)le[2] << 16 | (DWORD)le[3] << 24) &
        ~(DWORD)(FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT);
    out = CreateFileW(dst, GENERIC_READ | GENERIC_WRITE | WRITE_DAC | WRITE_OWNER, 0, NULL,
                      dir ? OPEN_EXISTING : CREATE_NEW,
                      FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
    if (out == INVALID_HANDLE_VALUE) {
        wfail(err, "creating", dst);
        goto done;
    }
    char buf[65536];
    for (;;) {
        if (!ReadFile(in, buf, sizeof buf, &got, NULL)) {
            wfail(err, "reading staged", src);
            goto done;
        }
        if (got == 0)
            break;
        DWORD done = 0;
        if (!BackupWrite(out, (LPBYTE)buf, got, &done, FALSE, TRUE, &ctx)) {
            wfail(err, "BackupWrite", dst);
            goto done;
        }
    }
    rc = dir ? 0
             : (SetFileInformationByHandle(out, FileBasicInfo, info, sizeof *info)
                    ? 0
                    : wfail(err, "setting times on", dst));
done:
    if (out != INVALID_HANDLE_VALUE) {
        DWORD done = 0;
        if (ctx)
            BackupWrite(out, NULL, 0, &done, TRUE, TRUE, &ctx);
        CloseHandle(out);
    }
    CloseHandle(in);
    return rc;
}

static int set_dir_info(const WCHAR *dir, const FILE_BASIC_INFO *info, wc_err *err)
{
    HANDLE h = CreateFileW(dir, FILE_WRITE_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                           OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return wfail(err, "opening", dir);
    BOOL ok = SetFileInformationByHandle(h, FileBasicInfo, (void *)info, sizeof *info);
    CloseHandle(h);
    return ok ? 0 : wfail(err, "setting times on", dir);
}

/* hives: src is the layer's Hives\ folder or inside it (its files hold plain data). */
static int restore_tree(const WCHAR *src, const WCHAR *dst, int top, int hives, wc_err *err)
{
    WCHAR *pattern = wjoin(src, L"*");
    WIN32_FIND_DATAW fd;
    HANDLE h = FindFirstFileW(pattern, &fd);
    free(pattern);
    if (h == INVALID_HANDLE_VALUE)
        return 0;
    int rc = 0;
    do {
        if (!wcscmp(fd.cFileName, L".") || !wcscmp(fd.cFileName, L".."))
            continue;
        int is_dir = (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
        if (!is_dir && ends_with_w(fd.cFileName, L"" WCIDIRS))
            continue; /* read with its directory */
        WCHAR *s = wjoin(src, fd.cFileName), *d = wjoin(dst, fd.cFileName);
        if (!is_dir && hives) {
            if (!CopyFileW(s, d, TRUE))
                rc = wfail(err, "copying", s);
        } else if (!is_dir) {
            FILE_BASIC_INFO info;
            rc = restore_record(s, d, 0, &info, err);
        } else if (!CreateDirectoryW(d, NULL) && GetLastError() != ERROR_ALREADY_EXISTS) {
            rc = wfail(err, "creating directory", d);
        } else {
            size_t n = wcslen(s);
            WCHAR *rec = wc_xmalloc((n + sizeof WCIDIRS) * sizeof *rec);
            FILE_BASIC_INFO info;
            memcpy(rec, s, n * sizeof *rec);
            for (size_t i = 0; i < sizeof WCIDIRS; i++)
                rec[n + i] = (WCHAR)WCIDIRS[i];
            int has_rec = GetFileAttributesW(rec) != INVALID_FILE_ATTRIBUTES;
            if (has_rec)
                rc = restore_record(rec, d, 1, &info, err);
            free(rec);
            int child_hives = hives || (top && _wcsicmp(fd.cFileName, L"Hives") == 0);
            if (rc == 0)
                rc = restore_tree(s, d, 0, child_hives, err);
            /* Directory times last: creating the children moved them. */
            if (rc == 0 && has_rec)
                rc = set_dir_info(d, &info, err);
        }
        free(s);
        free(d);
    } while (rc == 0 && FindNextFileW(h, &fd));
    FindClose(h);
    return rc;
}

int img_wl_restore_base(const char *staging_root, const char *layer_path, wc_err *err)
{
    WCHAR *s = wc_utf8_to_utf16(staging_root, NULL);
    WCHAR *l = wc_utf8_to_utf16(layer_path, NULL);
    int rc;
    if (!s || !l) {
        rc = wc_err_set(err, WC_INVALID_ARGUMENT, "base layer %s: not a UTF-8 path", layer_path);
    } else {
        WCHAR *tomb = wjoin(s, L"tombstones.txt");
        if (GetFileAttributesW(tomb) != INVALID_FILE_ATTRIBUTES)
            rc = wc_err_set(err, WC_INVALID_ARGUMENT,
                            "base layer %s has deletions: a base layer cannot have tombstones",
                            layer_path);
        else if (!CreateDirectoryW(l, NULL) && GetLastError() != ERROR_ALREADY_EXISTS)
            rc = wfail(err, "creating", l);
        else
            rc = restore_tree(s, l, 1, 0, err);
        free(tomb);
    }
    free(s);
    free(l);
    return rc < 0 ? wc_err_prefix(err, "restoring base layer") : 0;
}
