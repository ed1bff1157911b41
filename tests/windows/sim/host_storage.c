/* winsim host: container storage (vmcompute.dll's legacy layer API, computestorage.dll's
 * HcsImportLayer, and the VM access grants).
 *
 * Sources (facts only):
 *  - hcsshim internal/wclayer: legacy.go (the import staging format ImportLayer consumes:
 *    under Files\ each file is a plain file holding its uint32 FILE_ATTRIBUTE_* then its Win32
 *    backup stream, each directory a real directory plus a "<dir>.$wcidirs$" file in the same
 *    format; Hives\ files hold their data; tombstones.txt starts with a UTF-8 BOM and
 *    "Version 1.0", then one "\path" per deleted file; blank.vhdx / blank-base.vhdx and
 *    UtilityVM\SystemTemplate.vhdx / SystemTemplateBase.vhdx are what base and utility VM
 *    processing produce), processimage.go (ProcessBaseImage and ProcessUtilityImage take the
 *    folder whose Files\ holds the extracted files), importlayer.go and baselayerwriter.go
 *    (a base layer is written in place and processed, never imported), getlayermountpath.go
 *    (first call returns the length in characters, second fills the buffer),
 *    zsyscall_windows.go (every signature).
 *  - go-winio backup.go: WIN32_STREAM_ID is {id, attributes, size (64-bit), name size} then
 *    the UTF-16 name; ids BACKUP_DATA 1, EA 2, SECURITY 3, ALTERNATE_DATA 4, LINK 5,
 *    REPARSE 8, SPARSE_BLOCK 9.
 *
 * A "volume" is a directory under <root>\volumes holding the merged Files of the layers
 * (bottom-most first, each layer's whiteouts applied); the container's writes land there.
 * VHDX files are placeholders (text): nothing here reads a real virtual disk. */
#include "host.h"

#include <bcrypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHITEOUTS "winsim.whiteouts" /* the double's record of a layer's tombstones */

typedef struct volume {
    char scratch[MAX_PATH];
    char guid[40];
    char dir[MAX_PATH];
    char home[MAX_PATH];        /* where dir lives when it is mounted at no folder */
    char mount_point[MAX_PATH]; /* the folder it is mounted at; "" when none */
    int active, prepared;
    struct volume *next;
} volume;
static volume *volumes;

typedef struct grant {
    char vm[256], path[MAX_PATH];
    struct grant *next;
} grant;
static grant *grants;

static const char *arg_s(req *r, const char *k)
{
    return sj_str(sj_get(r->in, k));
}

static void set_id(req *r, const char *id)
{
    free(r->journal_id);
    r->journal_id = xstrdup(id);
}

static void fail(req *r, HRESULT hr, const char *fmt, ...)
    __attribute__((format(gnu_printf, 3, 4)));
static void fail(req *r, HRESULT hr, const char *fmt, ...)
{
    r->hr = hr;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note, sizeof r->note, fmt, ap);
    va_end(ap);
}

static volume *vol_by_scratch(const char *scratch)
{
    for (volume *v = volumes; v; v = v->next)
        if (_stricmp(v->scratch, scratch) == 0)
            return v;
    return NULL;
}

const char *storage_volume_dir(const char *path)
{
    /* "\\?\Volume{GUID}\" */
    const char *g = strchr(path, '{');
    if (!g)
        return NULL;
    for (volume *v = volumes; v; v = v->next)
        if (v->prepared && guid_equal(v->guid, g + 1))
            return v->dir;
    return NULL;
}

int storage_vm_granted(const char *vm_id, const char *path)
{
    for (grant *g = grants; g; g = g->next)
        if (_stricmp(g->vm, vm_id) == 0 && _stricmp(g->path, path) == 0)
            return 1;
    return 0;
}

void storage_stats(sb *out)
{
    size_t nv = 0, na = 0;
    for (volume *v = volumes; v; v = v->next) {
        nv += v->prepared;
        na += v->active;
    }
    sb_addf(out, ",\"mounted_volumes\":%zu,\"active_layers\":%zu", nv, na);
}

/* ---- layer merge ---- */

static void apply_whiteouts(const char *layer, const char *dir)
{
    char p[MAX_PATH * 2];
    snprintf(p, sizeof p, "%s\\" WHITEOUTS, layer);
    FILE *f = fopen(p, "rb");
    if (!f)
        return;
    char line[MAX_PATH];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        char victim[MAX_PATH * 2];
        snprintf(victim, sizeof victim, "%s\\%s", dir, line[0] == '\\' ? line + 1 : line);
        remove_tree(victim);
    }
    fclose(f);
}

int storage_merge_layers(const char *const *layer_dirs, size_t n, const char *dir)
{
    if (mkdirs(dir) < 0)
        return -1;
    for (size_t i = n; i-- > 0;) {
        char files[MAX_PATH * 2];
        snprintf(files, sizeof files, "%s\\Files", layer_dirs[i]);
        if (dir_exists(files) && copy_tree(files, dir) < 0)
            return -1;
        apply_whiteouts(layer_dirs[i], dir);
    }
    return 0;
}

/* ---- the legacy import format ---- */

typedef struct stream_info {
    int streams[16]; /* count per BACKUP_* id */
    unsigned long long data_bytes;
} stream_info;

/* Reads a file in the legacy format: attributes, then a backup stream whose BACKUP_DATA
 * is written to dest (NULL: parse only). -1 when the bytes are not in that format. */
static int legacy_file(const char *src, const char *dest, DWORD *attrs, stream_info *si, char *why,
                       size_t wsz)
{
    HANDLE h = CreateFileA(src, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        snprintf(why, wsz, "cannot open %s (%lu)", src, GetLastError());
        return -1;
    }
    LARGE_INTEGER size;
    GetFileSizeEx(h, &size);
    DWORD got = 0;
    int rc = -1;
    HANDLE out = INVALID_HANDLE_VALUE;
    if (!ReadFile(h, attrs, 4, &got, NULL) || got != 4) {
        snprintf(why, wsz, "%s: shorter than the 4-byte attribute header", src);
        goto done;
    }
    if (*attrs & ~(DWORD)0x7FFFF) {
        snprintf(why, wsz, "%s: first 4 bytes (0x%08lx) are not FILE_ATTRIBUTE_* flags", src,
                 (unsigned long)*attrs);
        goto done;
    }
    long long pos = 4;
    if (dest) {
        out = CreateFileA(dest, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
        if (out == INVALID_HANDLE_VALUE) {
            snprintf(why, wsz, "cannot create %s (%lu)", dest, GetLastError());
            goto done;
        }
    }
    while (pos < size.QuadPart) {
        unsigned char hdr[20];
        if (!ReadFile(h, hdr, 20, &got, NULL) || got != 20) {
            snprintf(why, wsz, "%s: truncated backup stream header at byte %lld", src, pos);
            goto done;
        }
        DWORD id, name_size;
        unsigned long long len;
        memcpy(&id, hdr, 4);
        memcpy(&len, hdr + 8, 8);
        memcpy(&name_size, hdr + 16, 4);
        if (id == 0 || id > 10 || name_size > 1024 ||
            (long long)(pos + 20 + name_size + len) > size.QuadPart) {
            snprintf(why, wsz,
                     "%s: not a Win32 backup stream at byte %lld (id %lu, size %llu, name %lu)",
                     src, pos, (unsigned long)id, len, (unsigned long)name_size);
            goto done;
        }
        si->streams[id]++;
        LARGE_INTEGER skip = {.QuadPart = (LONGLONG)name_size};
        SetFilePointerEx(h, skip, NULL, FILE_CURRENT);
        if (id == 1 /* BACKUP_DATA */ && out != INVALID_HANDLE_VALUE) {
            unsigned long long left = len;
            char buf[65536];
            while (left) {
                DWORD chunk = left > sizeof buf ? sizeof buf : (DWORD)left;
                DWORD w;
                if (!ReadFile(h, buf, chunk, &got, NULL) || got != chunk ||
                    !WriteFile(out, buf, chunk, &w, NULL)) {
                    snprintf(why, wsz, "%s: short read", src);
                    goto done;
                }
                left -= chunk;
            }
            si->data_bytes += len;
        } else {
            LARGE_INTEGER s2 = {.QuadPart = (LONGLONG)len};
            SetFilePointerEx(h, s2, NULL, FILE_CURRENT);
        }
        pos += 20 + name_size + (long long)len;
    }
    rc = 0;
done:
    if (out != INVALID_HANDLE_VALUE)
        CloseHandle(out);
    CloseHandle(h);
    if (rc < 0 && dest)
        DeleteFileA(dest);
    return rc;
}

typedef struct import_ctx {
    const char *staging, *layer;
    size_t files, dirs, hives, other;
    stream_info si;
    char why[300];
} import_ctx;

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && _stricmp(s + a - b, suffix) == 0;
}

static int import_walk(import_ctx *c, const char *rel)
{
    char pat[MAX_PATH * 2];
    snprintf(pat, sizeof pat, "%s%s%s\\*", c->staging, rel[0] ? "\\" : "", rel);
    WIN32_FIND_DATAA fd;
    HANDLE h = FindFirstFileA(pat, &fd);
    if (h == INVALID_HANDLE_VALUE)
        return 0;
    int rc = 0;
    do {
        if (!strcmp(fd.cFileName, ".") || !strcmp(fd.cFileName, ".."))
            continue;
        char kid[MAX_PATH * 2], src[MAX_PATH * 2], dst[MAX_PATH * 2];
        snprintf(kid, sizeof kid, "%s%s%s", rel, rel[0] ? "\\" : "", fd.cFileName);
        snprintf(src, sizeof src, "%s\\%s", c->staging, kid);
        snprintf(dst, sizeof dst, "%s\\%s", c->layer, kid);
        int is_dir = (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
        int in_hives = _strnicmp(kid, "Hives\\", 6) == 0;
        if (!rel[0] && _stricmp(kid, "tombstones.txt") == 0) {
            FILE *in = fopen(src, "rb");
            char wo[MAX_PATH * 2];
            snprintf(wo, sizeof wo, "%s\\" WHITEOUTS, c->layer);
            FILE *out = fopen(wo, "wb");
            char line[MAX_PATH];
            int first = 1, ok = 0;
            while (in && out && fgets(line, sizeof line, in)) {
                line[strcspn(line, "\r\n")] = '\0';
                if (first) {
                    ok = strcmp(line, "\xef\xbb\xbfVersion 1.0") == 0;
                    first = 0;
                    continue;
                }
                if (line[0])
                    fprintf(out, "%s\n", line[0] == '\\' ? line + 1 : line);
            }
            if (in)
                fclose(in);
            if (out)
                fclose(out);
            if (!ok) {
                snprintf(c->why, sizeof c->why, "tombstones.txt lacks the BOM and Version 1.0");
                rc = -1;
            }
        } else if (is_dir) {
            mkdirs(dst);
            c->dirs++;
            rc = import_walk(c, kid);
        } else if (ends_with(kid, ".$wcidirs$")) {
            DWORD attrs;
            dst[strlen(dst) - strlen(".$wcidirs$")] = '\0';
            rc = legacy_file(src, NULL, &attrs, &c->si, c->why, sizeof c->why);
            if (rc == 0 && !(attrs & FILE_ATTRIBUTE_DIRECTORY)) {
                snprintf(c->why, sizeof c->why,
                         "%s: directory record without the DIRECTORY "
                         "attribute",
                         kid);
                rc = -1;
            }
            mkdirs(dst);
        } else if (!in_hives) {
            DWORD attrs;
            rc = legacy_file(src, dst, &attrs, &c->si, c->why, sizeof c->why);
            if (rc == 0 && (attrs & FILE_ATTRIBUTE_DIRECTORY)) {
                snprintf(c->why, sizeof c->why, "%s: a file record with the DIRECTORY attribute",
                         kid);
                rc = -1;
            }
            c->files++;
        } else {
            /* Hives\ files hold their data (written with BackupWrite) */
            rc = CopyFileA(src, dst, FALSE) ? 0 : -1;
            if (rc < 0)
                snprintf(c->why, sizeof c->why, "cannot copy %s (%lu)", kid, GetLastError());
            c->hives++;
        }
    } while (rc == 0 && FindNextFileA(h, &fd));
    FindClose(h);
    return rc;
}

static HRESULT import_into(req *r, const char *layer, const char *staging)
{
    if (!dir_exists(staging)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND), "staging folder %s does not exist",
             staging);
        return r->hr;
    }
    mkdirs(layer);
    import_ctx c = {.staging = staging, .layer = layer};
    if (import_walk(&c, "") < 0) {
        remove_tree(layer);
        fail(r, HRESULT_FROM_WIN32(ERROR_INVALID_DATA),
             "not the legacy layer import format (hcsshim internal/wclayer/legacy.go): %s", c.why);
        return r->hr;
    }
    snprintf(r->note, sizeof r->note,
             "imported %zu file(s) (%llu data bytes), %zu dir(s), %zu hive(s); streams: "
             "security %d, EA %d, ADS %d, reparse %d",
             c.files, c.si.data_bytes, c.dirs, c.hives, c.si.streams[3], c.si.streams[2],
             c.si.streams[4], c.si.streams[8]);
    return S_OK;
}

static HRESULT check_parents(req *r, const sj *layers)
{
    for (size_t i = 0; layers && i < layers->n; i++) {
        const char *p = sj_str(sj_get(sj_at(layers, i), "path"));
        if (!p || !dir_exists(p)) {
            fail(r, HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND), "parent layer %s does not exist",
                 p ? p : "?");
            return r->hr;
        }
    }
    return S_OK;
}

static void h_import(req *r)
{
    const char *path = arg_s(r, "path"), *staging = arg_s(r, "staging");
    set_id(r, path);
    if (!path || !staging) {
        fail(r, E_INVALIDARG, "ImportLayer needs a layer path and a staging folder");
        return;
    }
    if (FAILED(check_parents(r, sj_get(r->in, "layers"))))
        return;
    import_into(r, path, staging);
}

static void h_hcs_import(req *r)
{
    const char *path = arg_s(r, "path"), *source = arg_s(r, "source");
    set_id(r, path);
    r->doc = arg_s(r, "doc");
    sj *data = sj_parse(r->doc);
    sj *layers = sj_get(data, "Layers");
    for (size_t i = 0; layers && i < layers->n; i++) {
        const char *p = sj_str(sj_get(sj_at(layers, i), "Path"));
        if (!p || !dir_exists(p)) {
            fail(r, HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND), "parent layer %s does not exist",
                 p ? p : "?");
            sj_free(data);
            return;
        }
    }
    sj_free(data);
    if (!path || !source) {
        fail(r, E_INVALIDARG, "HcsImportLayer needs a layer path and a source folder");
        return;
    }
    import_into(r, path, source);
}

static void write_placeholder(const char *dir, const char *name)
{
    char p[MAX_PATH * 2];
    snprintf(p, sizeof p, "%s\\%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs("winsim placeholder for a VHDX\n", f);
        fclose(f);
    }
}

static void h_process_base(req *r)
{
    const char *path = arg_s(r, "path");
    set_id(r, path);
    char files[MAX_PATH * 2];
    snprintf(files, sizeof files, "%s\\Files", path ? path : "");
    if (!path || !dir_exists(files)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND),
             "ProcessBaseImage(%s): no Files folder there (it takes the layer folder whose "
             "Files\\ holds the extracted files: hcsshim processimage.go)",
             path ? path : "");
        return;
    }
    write_placeholder(path, "blank.vhdx");
    write_placeholder(path, "blank-base.vhdx");
    snprintf(r->note, sizeof r->note, "blank.vhdx and blank-base.vhdx made");
}

static void h_process_uvm(req *r)
{
    const char *path = arg_s(r, "path");
    set_id(r, path);
    char files[MAX_PATH * 2];
    snprintf(files, sizeof files, "%s\\Files", path ? path : "");
    if (!path || !dir_exists(files)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND),
             "ProcessUtilityImage(%s): no Files folder there", path ? path : "");
        return;
    }
    write_placeholder(path, "SystemTemplate.vhdx");
    write_placeholder(path, "SystemTemplateBase.vhdx");
    snprintf(r->note, sizeof r->note, "SystemTemplate.vhdx and SystemTemplateBase.vhdx made");
}

static void h_expand(req *r)
{
    const char *path = arg_s(r, "path");
    set_id(r, path);
    char vhd[MAX_PATH * 2];
    snprintf(vhd, sizeof vhd, "%s\\sandbox.vhdx", path ? path : "");
    if (!path || !path_exists(vhd)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND), "%s has no sandbox.vhdx", path);
        return;
    }
    snprintf(r->note, sizeof r->note, "sandbox.vhdx sized to %lld bytes",
             sj_int(sj_get(r->in, "size"), 0));
}

static void h_activate(req *r)
{
    const char *path = arg_s(r, "path");
    set_id(r, path);
    if (!path || !dir_exists(path)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND), "layer %s does not exist", path);
        return;
    }
    volume *v = vol_by_scratch(path);
    if (!v) {
        v = calloc(1, sizeof *v);
        snprintf(v->scratch, sizeof v->scratch, "%s", path);
        v->next = volumes;
        volumes = v;
    }
    v->active = 1;
}

static void h_prepare(req *r)
{
    const char *path = arg_s(r, "path");
    set_id(r, path);
    volume *v = path ? vol_by_scratch(path) : NULL;
    if (!v || !v->active) {
        fail(r, HRESULT_FROM_WIN32(ERROR_NOT_READY), "PrepareLayer(%s) before ActivateLayer",
             path ? path : "");
        return;
    }
    sj *layers = sj_get(r->in, "layers");
    if (FAILED(check_parents(r, layers)))
        return;
    if (v->prepared) {
        fail(r, HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS), "%s is already prepared", path);
        return;
    }
    guid_new(v->guid);
    snprintf(v->dir, sizeof v->dir, "%s\\volumes\\%s", g_root, v->guid);
    const char *dirs[128];
    size_t n = 0;
    for (size_t i = 0; layers && i < layers->n && n < 128; i++)
        dirs[n++] = sj_str(sj_get(sj_at(layers, i), "path"));
    if (storage_merge_layers(dirs, n, v->dir) < 0) {
        fail(r, E_FAIL, "cannot build the volume for %s", path);
        return;
    }
    v->prepared = 1;
    snprintf(r->note, sizeof r->note, "volume {%s} on %s from %zu layer(s)", v->guid, v->dir, n);
}

static void h_mount_path(req *r)
{
    const char *path = arg_s(r, "path");
    set_id(r, path);
    volume *v = path ? vol_by_scratch(path) : NULL;
    if (!v || !v->prepared) {
        fail(r, HRESULT_FROM_WIN32(ERROR_NOT_READY), "%s is not prepared", path ? path : "");
        return;
    }
    char vp[80];
    snprintf(vp, sizeof vp, "\\\\?\\Volume{%s}\\", v->guid);
    sb_add(&r->out, ",\"result\":");
    sb_qstr(&r->out, vp);
}

/* ---- volume mount points (SetVolumeMountPointW / DeleteVolumeMountPointW) ----
 * Windows: the mount point is an existing empty folder on an NTFS volume, given with a
 * trailing backslash, the volume a "\\?\Volume{GUID}\" name with one; the folder then shows
 * the volume's root; deleting the mount point leaves the folder, empty. Here the volume's
 * directory itself moves to the folder (one copy, so the container's writes land in its
 * volume wherever they are made from) and moves back when the mount point is deleted or the
 * volume unprepared. Refused as Windows refuses: ERROR_INVALID_NAME without the trailing
 * backslashes, ERROR_PATH_NOT_FOUND for a missing folder, ERROR_DIR_NOT_EMPTY for a folder
 * with files, ERROR_INVALID_PARAMETER for a volume that is not mounted, ERROR_BUSY for a
 * volume already mounted at a folder; deleting where nothing is mounted is
 * ERROR_NOT_A_REPARSE_POINT. */

static int ends_with_backslash(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n && s[n - 1] == '\\';
}

static int dir_empty(const char *dir)
{
    char pattern[MAX_PATH + 4];
    snprintf(pattern, sizeof pattern, "%s\\*", dir);
    WIN32_FIND_DATAA fd;
    HANDLE h = FindFirstFileA(pattern, &fd);
    if (h == INVALID_HANDLE_VALUE)
        return 1;
    int empty = 1;
    do {
        if (strcmp(fd.cFileName, ".") && strcmp(fd.cFileName, ".."))
            empty = 0;
    } while (empty && FindNextFileA(h, &fd));
    FindClose(h);
    return empty;
}

static volume *vol_by_mount_point(const char *mp)
{
    for (volume *v = volumes; v; v = v->next)
        if (v->mount_point[0] && _stricmp(v->mount_point, mp) == 0)
            return v;
    return NULL;
}

/* The folder without its trailing backslash. */
static void folder_of(const char *mp, char *out, size_t len)
{
    snprintf(out, len, "%s", mp);
    size_t n = strlen(out);
    if (n > 3 && out[n - 1] == '\\')
        out[n - 1] = '\0';
}

static int unmount_volume(volume *v)
{
    if (!v->mount_point[0])
        return 0;
    char folder[MAX_PATH];
    folder_of(v->mount_point, folder, sizeof folder);
    if (!MoveFileExA(folder, v->home, 0))
        return -1;
    CreateDirectoryA(folder, NULL); /* the folder stays, empty */
    snprintf(v->dir, sizeof v->dir, "%s", v->home);
    v->mount_point[0] = '\0';
    return 0;
}

static void h_set_mount_point(req *r)
{
    const char *mp = arg_s(r, "mount_point"), *vp = arg_s(r, "volume");
    set_id(r, mp);
    if (!ends_with_backslash(mp) || !ends_with_backslash(vp)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_INVALID_NAME),
             "mount point and volume name need a trailing backslash");
        return;
    }
    volume *v = NULL;
    const char *g = strchr(vp, '{');
    for (volume *x = volumes; g && x && !v; x = x->next)
        if (x->prepared && guid_equal(x->guid, g + 1))
            v = x;
    if (!v) {
        fail(r, HRESULT_FROM_WIN32(ERROR_INVALID_PARAMETER), "%s is not a mounted volume", vp);
        return;
    }
    if (v->mount_point[0]) {
        fail(r, HRESULT_FROM_WIN32(ERROR_BUSY), "%s is already mounted at %s", vp, v->mount_point);
        return;
    }
    char folder[MAX_PATH];
    folder_of(mp, folder, sizeof folder);
    if (!dir_exists(folder)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND), "%s does not exist", folder);
        return;
    }
    if (!dir_empty(folder)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_DIR_NOT_EMPTY), "%s is not empty", folder);
        return;
    }
    snprintf(v->home, sizeof v->home, "%s", v->dir);
    if (!RemoveDirectoryA(folder) || !MoveFileExA(v->dir, folder, 0)) {
        DWORD e = GetLastError();
        CreateDirectoryA(folder, NULL);
        fail(r, HRESULT_FROM_WIN32(e), "cannot mount %s at %s", vp, folder);
        return;
    }
    snprintf(v->dir, sizeof v->dir, "%s", folder);
    snprintf(v->mount_point, sizeof v->mount_point, "%s", mp);
    snprintf(r->note, sizeof r->note, "volume {%s} at %s", v->guid, mp);
}

static void h_delete_mount_point(req *r)
{
    const char *mp = arg_s(r, "mount_point");
    set_id(r, mp);
    if (!ends_with_backslash(mp)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_INVALID_NAME), "the mount point needs a trailing backslash");
        return;
    }
    volume *v = vol_by_mount_point(mp);
    if (!v) {
        fail(r, HRESULT_FROM_WIN32(ERROR_NOT_A_REPARSE_POINT), "no volume is mounted at %s", mp);
        return;
    }
    if (unmount_volume(v) < 0)
        fail(r, HRESULT_FROM_WIN32(GetLastError()), "cannot unmount %s", mp);
}

static void h_unprepare(req *r)
{
    const char *path = arg_s(r, "path");
    set_id(r, path);
    volume *v = path ? vol_by_scratch(path) : NULL;
    if (v && v->mount_point[0]) {
        unmount_volume(v);
        snprintf(r->note, sizeof r->note, "was still mounted at a folder");
    }
    if (v && v->prepared) {
        remove_tree(v->dir);
        v->prepared = 0;
    } else {
        snprintf(r->note, sizeof r->note, "was not prepared");
    }
}

static void h_deactivate(req *r)
{
    const char *path = arg_s(r, "path");
    set_id(r, path);
    volume *v = path ? vol_by_scratch(path) : NULL;
    if (v)
        v->active = 0;
    else
        snprintf(r->note, sizeof r->note, "was not active");
}

static void h_destroy(req *r)
{
    const char *path = arg_s(r, "path");
    set_id(r, path);
    volume *v = path ? vol_by_scratch(path) : NULL;
    if (v && (v->prepared || v->active)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_BUSY), "%s is still mounted", path);
        return;
    }
    if (path)
        remove_tree(path);
}

void storage_grant(req *r)
{
    const char *vm = sj_str(sj_get(r->in, "vm")), *path = sj_str(sj_get(r->in, "path"));
    set_id(r, path);
    if (!vm || !path || !path_exists(path)) {
        fail(r, HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND), "cannot grant %s: no such file",
             path ? path : "");
        return;
    }
    grant *g = calloc(1, sizeof *g);
    snprintf(g->vm, sizeof g->vm, "%s", vm);
    snprintf(g->path, sizeof g->path, "%s", path);
    g->next = grants;
    grants = g;
    snprintf(r->note, sizeof r->note, "granted to %s", vm);
}

/* NameToGuid: a name-based (SHA-1, version 5 layout) GUID of the UTF-16 name. vmcompute's
 * own algorithm is not published; what matters to callers is that it is stable. */
static void h_name_to_guid(req *r)
{
    const char *name = arg_s(r, "name");
    set_id(r, name);
    WCHAR w[MAX_PATH];
    int n = MultiByteToWideChar(CP_UTF8, 0, name ? name : "", -1, w, MAX_PATH);
    UCHAR digest[20] = {0};
    BCRYPT_ALG_HANDLE alg = NULL;
    if (BCryptOpenAlgorithmProvider(&alg, BCRYPT_SHA1_ALGORITHM, NULL, 0) == 0) {
        BCryptHash(alg, NULL, 0, (PUCHAR)w, (ULONG)((n > 0 ? n - 1 : 0) * 2), digest, 20);
        BCryptCloseAlgorithmProvider(alg, 0);
    }
    digest[6] = (UCHAR)((digest[6] & 0x0F) | 0x50);
    digest[8] = (UCHAR)((digest[8] & 0x3F) | 0x80);
    char g[40];
    snprintf(g, sizeof g, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
             digest[8], digest[9], digest[10], digest[11], digest[12], digest[13], digest[14],
             digest[15]);
    sb_add(&r->out, ",\"result\":");
    sb_qstr(&r->out, g);
}

void storage_register(void)
{
    host_register("NameToGuid", h_name_to_guid);
    host_register("ImportLayer", h_import);
    host_register("ProcessBaseImage", h_process_base);
    host_register("ProcessUtilityImage", h_process_uvm);
    host_register("ExpandSandboxSize", h_expand);
    host_register("ActivateLayer", h_activate);
    host_register("PrepareLayer", h_prepare);
    host_register("GetLayerMountPath", h_mount_path);
    host_register("SetVolumeMountPoint", h_set_mount_point);
    host_register("DeleteVolumeMountPoint", h_delete_mount_point);
    host_register("UnprepareLayer", h_unprepare);
    host_register("DeactivateLayer", h_deactivate);
    host_register("DestroyLayer", h_destroy);
    host_register("GrantVmAccess", storage_grant);
    host_register("HcsImportLayer", h_hcs_import);
    host_register("HcsDestroyLayer", h_destroy);
}
