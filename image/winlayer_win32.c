/* Windows layer writer: applies img_wl_op to a staging folder with BackupWrite, as
 * hcsshim's legacy layer writer feeds go-winio's backup stream writer (legacy.go Add /
 * AddLink / Remove). The byte layouts come from the shared winlayer_codec.c. Compile-only
 * here: its behaviour needs a Windows node to verify. */
#include "image/winlayer.h"

#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct img_wl_writer {
    char *root;
    HANDLE cur;
    void *backup_ctx;
    FILE_BASIC_INFO cur_info;
    char **tombstones;
    size_t n_tombstones;
};

static WCHAR *wide_path(const img_wl_writer *w, const char *rel)
{
    size_t n = strlen(w->root) + 1 + strlen(rel) + 1;
    char *s = malloc(n);
    if (!s)
        return NULL;
    snprintf(s, n, "%s\\%s", w->root, rel);
    for (char *c = s; *c; c++)
        if (*c == '/')
            *c = '\\';
    int wn = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    WCHAR *ws = wn > 0 ? malloc((size_t)wn * sizeof *ws) : NULL;
    if (ws)
        MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, ws, wn);
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
        if (!BackupWrite(w->cur, (LPBYTE)p, chunk, &done, FALSE, TRUE, &w->backup_ctx))
            return win_fail(err, "BackupWrite", path);
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
    BackupWrite(w->cur, NULL, 0, &done, TRUE, TRUE, &w->backup_ctx); /* frees the context */
    w->backup_ctx = NULL;
    /* Set times last: writing the streams moved them. */
    BOOL ok = SetFileInformationByHandle(w->cur, FileBasicInfo, &w->cur_info, sizeof w->cur_info);
    CloseHandle(w->cur);
    w->cur = NULL;
    return ok ? 0 : win_fail(err, "setting times on", path);
}

static int add(img_wl_writer *w, const img_wl_file *f, wc_err *err)
{
    WCHAR *p = wide_path(w, f->path);
    if (!p)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s: not a UTF-8 path", f->path);
    int dir = f->kind == IMG_WL_KIND_DIR || (f->attributes & FILE_ATTRIBUTE_DIRECTORY);
    if (dir && !CreateDirectoryW(p, NULL) && GetLastError() != ERROR_ALREADY_EXISTS) {
        free(p);
        return win_fail(err, "creating directory", f->path);
    }
    w->cur = CreateFileW(p, GENERIC_READ | GENERIC_WRITE | WRITE_DAC | WRITE_OWNER, 0, NULL,
                         dir ? OPEN_EXISTING : CREATE_ALWAYS,
                         FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
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
    /* DIRECTORY and REPARSE_POINT follow from the object itself. */
    w->cur_info.FileAttributes =
        f->attributes & ~(DWORD)(FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT);
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
    img_wl_writer *w = calloc(1, sizeof *w);
    if (!w)
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "out of memory");
    size_t n = strlen(staging_root);
    w->root = malloc(n + 1);
    if (!w->root) {
        free(w);
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "out of memory");
    }
    memcpy(w->root, staging_root, n + 1);
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
        char **nt = realloc(w->tombstones, (w->n_tombstones + 1) * sizeof *nt);
        if (!nt)
            return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "out of memory");
        w->tombstones = nt;
        size_t n = strlen(op->path);
        nt[w->n_tombstones] = malloc(n + 1);
        if (!nt[w->n_tombstones])
            return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "out of memory");
        memcpy(nt[w->n_tombstones], op->path, n + 1);
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
