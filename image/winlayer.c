/* Windows layer tar parser: a small push-driven tar/PAX reader (libarchive drops the
 * MSWINDOWS.* PAX keys, so the tar framing is read here and libarchive only undoes the
 * compression), the path rules that keep entries inside the layer, and the translation
 * of each entry into img_wl_op calls. Facts: go-winio backuptar/tar.go (PAX keys and
 * defaults, ADS naming), hcsshim pkg/ociwclayer/import.go (whiteouts, links) and
 * internal/wclayer/legacy.go (links and tombstones only under Files/ or UtilityVM/Files/). */
#include "image/winlayer.h"
#include "common/xalloc.h"

#include <archive.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 512
#define MAX_META (8u << 20)  /* one PAX header body (EAs, SDs) */
#define MAX_PATH_BYTES 32768 /* Win32 long-path limit, in bytes of UTF-8 here */

typedef struct pax_rec {
    char *key;
    char *val;
    size_t len;
} pax_rec;

enum { ST_HEADER, ST_META, ST_DATA, ST_SKIP, ST_EOF, ST_FAILED };

struct img_wl_parser {
    img_wl_visit_fn fn;
    void *ctx;
    int state;
    unsigned char block[BLOCK];
    size_t block_len;
    uint64_t remaining; /* body bytes left (META, DATA, SKIP) */
    size_t pad;         /* padding after the body */
    char meta_type;
    char *meta;
    size_t meta_len;
    /* Pending extended data for the next entry. */
    pax_rec *pax;
    size_t n_pax;
    char *long_name;
    char *long_link;
    /* The last ADD'ed entry, which following "name:stream" entries belong to. */
    char *cur_path;
    bool cur_open;
    int zero_blocks;
    uint64_t entry_no;
    img_wl_summary sum;
};

/* ---- small helpers ---- */

/* n bytes (NULs included) and a terminating NUL. */
static char *dup_bytes(const char *s, size_t n)
{
    char *d = wc_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void pax_clear(img_wl_parser *p)
{
    for (size_t i = 0; i < p->n_pax; i++) {
        free(p->pax[i].key);
        free(p->pax[i].val);
    }
    free(p->pax);
    p->pax = NULL;
    p->n_pax = 0;
    free(p->long_name);
    free(p->long_link);
    p->long_name = p->long_link = NULL;
}

/* Looks a key up in the pending PAX records. Old go-winio wrote the Win32 keys as
 * SCHILY.xattr.MSWINDOWS.*; those are accepted under their plain names too. The last
 * record wins, as in a PAX reader. */
static const pax_rec *pax_get(const img_wl_parser *p, const char *key)
{
    const pax_rec *hit = NULL;
    for (size_t i = 0; i < p->n_pax; i++) {
        const char *k = p->pax[i].key;
        if (strncmp(k, "SCHILY.xattr.MSWINDOWS.", 23) == 0)
            k += 13;
        if (strcmp(k, key) == 0)
            hit = &p->pax[i];
    }
    return hit;
}

static int parse_octal(const unsigned char *f, size_t n, uint64_t *out)
{
    if (n > 0 && (f[0] & 0x80)) { /* GNU base-256 */
        if (f[0] & 0x40)
            return -1; /* negative */
        uint64_t v = f[0] & 0x3f;
        for (size_t i = 1; i < n; i++) {
            if (v >> 56)
                return -1;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < n && (f[i] == ' ' || f[i] == '\0'))
        i++;
    uint64_t v = 0;
    bool any = false;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 61)
            return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
        any = true;
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    *out = any ? v : 0;
    return 0;
}

static bool block_is_zero(const unsigned char *b)
{
    for (size_t i = 0; i < BLOCK; i++)
        if (b[i])
            return false;
    return true;
}

static bool checksum_ok(const unsigned char *b)
{
    uint64_t want;
    if (parse_octal(b + 148, 8, &want) != 0)
        return false;
    uint64_t u = 0;
    int64_t s = 0;
    for (size_t i = 0; i < BLOCK; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : b[i];
        u += c;
        s += (signed char)c;
    }
    return u == want || (uint64_t)s == want;
}

static size_t field_len(const unsigned char *f, size_t n)
{
    size_t i = 0;
    while (i < n && f[i])
        i++;
    return i;
}

static int fail(img_wl_parser *p, wc_err *err, wc_code code, const char *fmt, ...) WC_PRINTF(4, 5);
static int fail(img_wl_parser *p, wc_err *err, wc_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wc_err_vset(err, code, fmt, ap);
    va_end(ap);
    p->state = ST_FAILED;
    return -1;
}

/* ---- paths ---- */

static bool bad_win32_char(unsigned char c)
{
    return c < 0x20 || c == '\\' || c == '<' || c == '>' || c == '"' || c == '|' || c == '?' ||
           c == '*';
}

/* Cleans a tar name into "A/B/C": drops "." and empty components and one trailing "/",
 * refuses absolute paths, drive letters, "..", backslashes and characters Win32 cannot
 * store. A ':' is allowed only in the last component and only if `allow_stream`; the
 * split position is returned in *colon (or SIZE_MAX). Returns NULL with `why` set. */
static char *clean_path(const char *in, bool allow_stream, size_t *colon, const char **why)
{
    *colon = SIZE_MAX;
    size_t n = strlen(in);
    if (n == 0) {
        *why = "empty name";
        return NULL;
    }
    if (n > MAX_PATH_BYTES) {
        *why = "name longer than 32 KiB";
        return NULL;
    }
    if (in[0] == '/') {
        *why = "absolute path";
        return NULL;
    }
    char *out = wc_xmalloc(n + 1);
    size_t o = 0;
    const char *s = in;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        bool last = true;
        if (e) {
            const char *q = e;
            while (*q == '/')
                q++;
            last = (*q == '\0');
        }
        if (len == 0 || (len == 1 && s[0] == '.')) {
            /* skip */
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            *why = "\"..\" component escapes the layer";
            free(out);
            return NULL;
        } else {
            for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == ':') {
                    if (o == 0 && i == 1) {
                        *why = "drive-letter path";
                        free(out);
                        return NULL;
                    }
                    if (!allow_stream || !last || *colon != SIZE_MAX || i == 0 || i + 1 == len) {
                        *why = "':' outside an alternate data stream name";
                        free(out);
                        return NULL;
                    }
                    *colon = o + (o ? 1 : 0) + i;
                } else if (bad_win32_char(c)) {
                    *why = c == '\\' ? "backslash in name (Windows would treat it as a separator)"
                                     : "character Windows does not allow in names";
                    free(out);
                    return NULL;
                }
            }
            if (o)
                out[o++] = '/';
            memcpy(out + o, s, len);
            o += len;
        }
        if (!e)
            break;
        s = e + 1;
    }
    out[o] = '\0';
    if (o == 0) {
        *why = "name is only \".\" or \"/\"";
        free(out);
        return NULL;
    }
    return out;
}

static bool has_prefix_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Classifies a cleaned path; -1 if it lies outside the three layer folders. */
static int area_of(const char *path, img_wl_area *area)
{
    if (strcmp(path, "Files") == 0 || strcmp(path, "Hives") == 0 ||
        strcmp(path, "UtilityVM") == 0 || strcmp(path, "UtilityVM/Files") == 0) {
        *area = IMG_WL_AREA_ROOT;
        return 0;
    }
    if (has_prefix_dir(path, "Files")) {
        *area = IMG_WL_AREA_FILES;
        return 0;
    }
    if (has_prefix_dir(path, "Hives")) {
        *area = IMG_WL_AREA_HIVES;
        return 0;
    }
    if (has_prefix_dir(path, "UtilityVM")) {
        *area = IMG_WL_AREA_UVM;
        return 0;
    }
    return -1;
}

/* Links and tombstones: only inside Files/ or UtilityVM/Files/ (hcsshim legacy writer). */
static bool link_area(const char *path, int *which)
{
    if (has_prefix_dir(path, "Files") && strcmp(path, "Files") != 0) {
        *which = 1;
        return true;
    }
    if (has_prefix_dir(path, "UtilityVM/Files") && strcmp(path, "UtilityVM/Files") != 0) {
        *which = 2;
        return true;
    }
    return false;
}

/* ---- PAX records ---- */

static int parse_pax(img_wl_parser *p, const char *buf, size_t n, wc_err *err)
{
    size_t off = 0;
    while (off < n) {
        if (buf[off] == '\0') /* some writers pad with NULs */
            break;
        size_t len = 0, i = off;
        while (i < n && buf[i] >= '0' && buf[i] <= '9') {
            len = len * 10 + (size_t)(buf[i] - '0');
            if (len > n)
                break;
            i++;
        }
        if (i == off || i >= n || buf[i] != ' ' || len > n - off || len < (i - off) + 3 ||
            buf[off + len - 1] != '\n')
            return fail(p, err, WC_INVALID_ARGUMENT,
                        "layer entry %llu: malformed PAX record at offset %zu",
                        (unsigned long long)p->entry_no, off);
        const char *kv = buf + i + 1;
        const char *end = buf + off + len - 1;
        const char *eq = memchr(kv, '=', (size_t)(end - kv));
        if (!eq || eq == kv)
            return fail(p, err, WC_INVALID_ARGUMENT,
                        "layer entry %llu: PAX record without key=value",
                        (unsigned long long)p->entry_no);
        p->pax = wc_xrealloc(p->pax, (p->n_pax + 1) * sizeof *p->pax);
        pax_rec *r = &p->pax[p->n_pax];
        r->key = dup_bytes(kv, (size_t)(eq - kv));
        r->len = (size_t)(end - eq - 1);
        r->val = dup_bytes(eq + 1, r->len);
        p->n_pax++;
        off += len;
    }
    return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!*s)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* ---- entries ---- */

static int emit(img_wl_parser *p, const img_wl_op *op, const char *name, wc_err *err)
{
    if (p->fn(p->ctx, op, err) != 0) {
        if (err && err->code == WC_OK)
            wc_err_set(err, WC_INTERNAL, "layer visitor failed");
        wc_err_prefix(err, "layer entry \"%s\"", name);
        p->state = ST_FAILED;
        return -1;
    }
    return 0;
}

static int close_current(img_wl_parser *p, wc_err *err)
{
    if (!p->cur_open)
        return 0;
    p->cur_open = false;
    img_wl_op op = {.kind = IMG_WL_END, .path = p->cur_path};
    return emit(p, &op, p->cur_path, err);
}

static int time_of(img_wl_parser *p, const char *pax_key, const char *legacy_key, uint64_t fallback,
                   uint64_t *out, const char *name, wc_err *err)
{
    const pax_rec *r = pax_get(p, pax_key);
    if (r) {
        if (img_wl_pax_time_to_filetime(r->val, out) != 0)
            return fail(p, err, WC_INVALID_ARGUMENT, "layer entry \"%s\": bad %s \"%s\"", name,
                        pax_key, r->val);
        return 0;
    }
    if (legacy_key && (r = pax_get(p, legacy_key)) != NULL) {
        if (parse_u64(r->val, UINT64_MAX, out) != 0)
            return fail(p, err, WC_INVALID_ARGUMENT, "layer entry \"%s\": bad %s \"%s\"", name,
                        legacy_key, r->val);
        return 0;
    }
    *out = fallback;
    return 0;
}

/* What an ADD owns beyond the parser's buffers: the decoded security descriptor and EAs. */
typedef struct wl_owned {
    uint8_t *sd;
    img_wl_ea *eas;
    uint8_t **ea_vals;
    size_t n_eas;
} wl_owned;

static void wl_owned_clear(wl_owned *o)
{
    free(o->sd);
    for (size_t i = 0; i < o->n_eas; i++)
        free(o->ea_vals[i]);
    free(o->ea_vals);
    free(o->eas);
}

static int file_attributes(img_wl_parser *p, img_wl_file *f, wc_err *err)
{
    const pax_rec *r = pax_get(p, "MSWINDOWS.fileattr");
    if (r) {
        uint64_t a;
        if (parse_u64(r->val, UINT32_MAX, &a) != 0)
            return fail(p, err, WC_INVALID_ARGUMENT,
                        "layer entry \"%s\": bad MSWINDOWS.fileattr \"%s\"", f->path, r->val);
        f->attributes = (uint32_t)a;
    }
    if (f->kind == IMG_WL_KIND_DIR)
        f->attributes |= IMG_WL_ATTR_DIRECTORY;
    else if (f->kind == IMG_WL_KIND_FILE && (f->attributes & IMG_WL_ATTR_DIRECTORY))
        return fail(p, err, WC_INVALID_ARGUMENT,
                    "layer entry \"%s\": a regular file whose attributes say directory", f->path);
    return 0;
}

static int file_times(img_wl_parser *p, img_wl_file *f, uint64_t mtime_ft, wc_err *err)
{
    const char *path = f->path;
    if (time_of(p, "mtime", "MSWINDOWS.writetime", mtime_ft, &f->last_write_time, path, err) ||
        time_of(p, "atime", "MSWINDOWS.accesstime", f->last_write_time, &f->last_access_time, path,
                err) ||
        time_of(p, "ctime", "MSWINDOWS.changetime", f->last_write_time, &f->change_time, path,
                err) ||
        time_of(p, "LIBARCHIVE.creationtime", "MSWINDOWS.createtime", f->last_write_time,
                &f->creation_time, path, err))
        return -1;
    return 0;
}

/* rawsd wins over sd, as in go-winio's SecurityDescriptorFromTarHeader. */
static int file_security(img_wl_parser *p, img_wl_file *f, wl_owned *o, wc_err *err)
{
    const pax_rec *r = pax_get(p, "MSWINDOWS.rawsd");
    if (r) {
        if (img_wl_base64_decode(r->val, r->len, &o->sd, &f->sd_len) != 0)
            return fail(p, err, WC_INVALID_ARGUMENT,
                        "layer entry \"%s\": MSWINDOWS.rawsd is not valid base64", f->path);
        if (img_wl_sd_check(o->sd, f->sd_len) != 0)
            return fail(p, err, WC_INVALID_ARGUMENT,
                        "layer entry \"%s\": MSWINDOWS.rawsd is not a self-relative security "
                        "descriptor (%zu bytes)",
                        f->path, f->sd_len);
        f->sd = o->sd;
    } else if ((r = pax_get(p, "MSWINDOWS.sd")) != NULL) {
        f->sddl = r->val;
    }
    return 0;
}

/* Extended attributes: MSWINDOWS.xattr.<name> (or SCHILY.xattr.MSWINDOWS.xattr.<name>). */
static int file_eas(img_wl_parser *p, img_wl_file *f, wl_owned *o, wc_err *err)
{
    for (size_t i = 0; i < p->n_pax; i++) {
        const char *k = p->pax[i].key;
        if (strncmp(k, "SCHILY.xattr.MSWINDOWS.", 23) == 0)
            k += 13;
        if (strncmp(k, "MSWINDOWS.xattr.", 16) != 0)
            continue;
        const char *ea_name = k + 16;
        if (!*ea_name || strlen(ea_name) > 255)
            return fail(p, err, WC_INVALID_ARGUMENT,
                        "layer entry \"%s\": extended attribute name must be 1..255 bytes",
                        f->path);
        o->eas = wc_xrealloc(o->eas, (o->n_eas + 1) * sizeof *o->eas);
        o->ea_vals = wc_xrealloc(o->ea_vals, (o->n_eas + 1) * sizeof *o->ea_vals);
        o->ea_vals[o->n_eas] = NULL;
        size_t vlen;
        int bad = img_wl_base64_decode(p->pax[i].val, p->pax[i].len, &o->ea_vals[o->n_eas], &vlen);
        o->eas[o->n_eas] = (img_wl_ea){.name = ea_name, .value = o->ea_vals[o->n_eas], .len = vlen};
        o->n_eas++;
        if (bad)
            return fail(p, err, WC_INVALID_ARGUMENT,
                        "layer entry \"%s\": extended attribute %s is not valid base64", f->path,
                        ea_name);
    }
    f->eas = o->eas;
    f->n_eas = o->n_eas;
    return 0;
}

/* The ADD emitted: the entry is the current one (its streams may follow). */
static int file_added(img_wl_parser *p, const img_wl_file *f, wc_err *err)
{
    free(p->cur_path);
    p->cur_path = wc_xstrdup(f->path);
    p->cur_open = true;
    if (f->kind == IMG_WL_KIND_DIR)
        p->sum.dirs++;
    else if (f->kind == IMG_WL_KIND_FILE)
        p->sum.files++;
    else
        p->sum.reparse_points++;
    p->sum.bytes += f->size;
    return 0;
}

/* Builds the ADD for a file, directory or reparse point and emits it. */
static int add_entry(img_wl_parser *p, const char *path, img_wl_area area, img_wl_kind kind,
                     uint64_t size, uint64_t mtime_ft, const char *linkname, wc_err *err)
{
    img_wl_file f = {
        .path = path, .area = area, .kind = kind, .size = size, .link_target = linkname};
    wl_owned o = {0};
    int rc = -1;
    if (file_attributes(p, &f, err) == 0 && file_times(p, &f, mtime_ft, err) == 0 &&
        file_security(p, &f, &o, err) == 0 && file_eas(p, &f, &o, err) == 0) {
        img_wl_op op = {.kind = IMG_WL_ADD, .path = path, .file = &f};
        if (emit(p, &op, path, err) == 0)
            rc = file_added(p, &f, err);
    }
    wl_owned_clear(&o);
    return rc;
}

/* Reparse targets are kept in Windows form; UNC and NT-namespace targets would reach
 * outside the container's volume, so they are refused. */
static const char *bad_reparse_target(const char *t)
{
    if (!*t)
        return "empty target";
    if ((t[0] == '\\' || t[0] == '/') && (t[1] == '\\' || t[1] == '/'))
        return "UNC or device-namespace target";
    if (strncmp(t, "\\??\\", 4) == 0)
        return "NT object-namespace target";
    return NULL;
}

/* Called with a complete, non-meta header block. */
/* The entry's name and link target: a PAX record, else a GNU long name, else the header's
 * fields (ustar prefix + name). raw_name holds BLOCK bytes, raw_link 101. */
static void entry_names(img_wl_parser *p, const unsigned char *h, char *raw_name, char *raw_link,
                        const char **name, const char **linkname)
{
    const pax_rec *r;
    bool ustar = memcmp(h + 257, "ustar\0", 6) == 0;
    if ((r = pax_get(p, "path")) != NULL) {
        *name = r->val;
    } else if (p->long_name) {
        *name = p->long_name;
    } else {
        size_t nl = field_len(h, 100);
        size_t pl = ustar ? field_len(h + 345, 155) : 0;
        if (pl) {
            memcpy(raw_name, h + 345, pl);
            raw_name[pl] = '/';
            memcpy(raw_name + pl + 1, h, nl);
            raw_name[pl + 1 + nl] = '\0';
        } else {
            memcpy(raw_name, h, nl);
            raw_name[nl] = '\0';
        }
        *name = raw_name;
    }
    if ((r = pax_get(p, "linkpath")) != NULL) {
        *linkname = r->val;
    } else if (p->long_link) {
        *linkname = p->long_link;
    } else {
        size_t ll = field_len(h + 157, 100);
        memcpy(raw_link, h + 157, ll);
        raw_link[ll] = '\0';
        *linkname = raw_link;
    }
}

/* Size (PAX "size" or the header's) and mtime; sparse entries are refused. */
static int entry_numbers(img_wl_parser *p, const unsigned char *h, const char *name, uint64_t *size,
                         uint64_t *mtime, wc_err *err)
{
    const pax_rec *r = pax_get(p, "size");
    if (r) {
        if (parse_u64(r->val, INT64_MAX, size) != 0)
            return fail(p, err, WC_INVALID_ARGUMENT, "layer entry \"%s\": bad PAX size \"%s\"",
                        name, r->val);
    } else if (parse_octal(h + 124, 12, size) != 0) {
        return fail(p, err, WC_INVALID_ARGUMENT, "layer entry \"%s\": bad size field", name);
    }
    if (parse_octal(h + 136, 12, mtime) != 0 || *mtime > INT64_MAX)
        return fail(p, err, WC_INVALID_ARGUMENT, "layer entry \"%s\": bad mtime field", name);
    for (size_t i = 0; i < p->n_pax; i++)
        if (strncmp(p->pax[i].key, "GNU.sparse.", 11) == 0)
            return fail(p, err, WC_INVALID_ARGUMENT,
                        "layer entry \"%s\": sparse tar entries are not supported in Windows "
                        "layers",
                        name);
    return 0;
}

/* "file:stream": an alternate data stream of the file just added. */
static int start_stream(img_wl_parser *p, char *path, size_t colon, const char *name, uint64_t size,
                        wc_err *err)
{
    path[colon] = '\0';
    const char *stream = path + colon + 1;
    if (!p->cur_open || strcmp(p->cur_path, path) != 0)
        return fail(p, err, WC_INVALID_ARGUMENT,
                    "layer entry \"%s\" refused: alternate data stream does not follow its file",
                    name);
    img_wl_op op = {.kind = IMG_WL_STREAM, .path = path, .stream = stream, .size = size};
    if (emit(p, &op, name, err) != 0)
        return -1;
    p->sum.streams++;
    p->sum.bytes += size;
    if (size)
        p->state = ST_DATA;
    return 0;
}

/* ".wh.<name>": a tombstone for <name>, written in place of base (base points into path). */
static int start_whiteout(img_wl_parser *p, char *path, char *base, const char *name, wc_err *err)
{
    if (strcmp(base, ".wh..wh..opq") == 0)
        return fail(p, err, WC_INVALID_ARGUMENT,
                    "layer entry \"%s\" refused: opaque-directory whiteouts do not exist in "
                    "Windows layers",
                    name);
    if (!base[4])
        return fail(p, err, WC_INVALID_ARGUMENT, "layer entry \"%s\" refused: empty whiteout",
                    name);
    memmove(base, base + 4, strlen(base + 4) + 1);
    int which;
    if (!link_area(path, &which))
        return fail(p, err, WC_INVALID_ARGUMENT,
                    "layer entry \"%s\" refused: tombstones are allowed only under Files/ or "
                    "UtilityVM/Files/",
                    name);
    img_wl_op op = {.kind = IMG_WL_REMOVE, .path = path};
    if (emit(p, &op, name, err) != 0)
        return -1;
    p->sum.removes++;
    return 0;
}

/* What one header describes, once its name is clean and its area known. */
typedef struct wl_entry {
    const char *name, *linkname;
    char *path;
    img_wl_area area;
    uint64_t size, filetime;
} wl_entry;

static int start_file_or_dir(img_wl_parser *p, const wl_entry *e, bool dir, wc_err *err)
{
    if (!dir && e->area == IMG_WL_AREA_ROOT)
        return fail(p, err, WC_INVALID_ARGUMENT,
                    "layer entry \"%s\" refused: top-level layer folder is not a directory",
                    e->name);
    if (add_entry(p, e->path, e->area, dir ? IMG_WL_KIND_DIR : IMG_WL_KIND_FILE, dir ? 0 : e->size,
                  e->filetime, NULL, err) != 0)
        return -1;
    if (!dir && e->size)
        p->state = ST_DATA;
    return 0;
}

static int start_symlink(img_wl_parser *p, const wl_entry *e, wc_err *err)
{
    const char *bad = bad_reparse_target(e->linkname);
    if (bad)
        return fail(p, err, WC_INVALID_ARGUMENT, "layer entry \"%s\" refused: reparse point: %s",
                    e->name, bad);
    if (e->area == IMG_WL_AREA_ROOT)
        return fail(p, err, WC_INVALID_ARGUMENT,
                    "layer entry \"%s\" refused: top-level layer folder is a link", e->name);
    img_wl_kind kind =
        pax_get(p, "MSWINDOWS.mountpoint") ? IMG_WL_KIND_MOUNTPOINT : IMG_WL_KIND_SYMLINK;
    return add_entry(p, e->path, e->area, kind, 0, e->filetime, e->linkname, err);
}

static int start_hardlink(img_wl_parser *p, const wl_entry *e, wc_err *err)
{
    size_t tcolon;
    const char *why = NULL;
    char *target = clean_path(e->linkname, false, &tcolon, &why);
    int a1, a2, rc = -1;
    if (!target)
        fail(p, err, WC_INVALID_ARGUMENT, "layer entry \"%s\" refused: hard link target: %s",
             e->name, why);
    else if (!link_area(e->path, &a1) || !link_area(target, &a2) || a1 != a2)
        fail(p, err, WC_INVALID_ARGUMENT,
             "layer entry \"%s\" refused: hard link to \"%s\" leaves Files/ or UtilityVM/Files/",
             e->name, e->linkname);
    else if (strcmp(e->path, target) == 0)
        fail(p, err, WC_INVALID_ARGUMENT, "layer entry \"%s\" refused: links to itself", e->name);
    else {
        img_wl_op op = {.kind = IMG_WL_LINK, .path = e->path, .target = target};
        rc = emit(p, &op, e->name, err);
        if (rc == 0)
            p->sum.links++;
    }
    free(target);
    return rc;
}

static int start_typed(img_wl_parser *p, char type, const wl_entry *e, wc_err *err)
{
    switch (type) {
    case '0':
    case '\0':
    case '7':
        return start_file_or_dir(p, e, false, err);
    case '5':
        return start_file_or_dir(p, e, true, err);
    case '2':
        return start_symlink(p, e, err);
    case '1':
        return start_hardlink(p, e, err);
    case '3':
    case '4':
    case '6':
        return fail(p, err, WC_INVALID_ARGUMENT,
                    "layer entry \"%s\" refused: device and fifo entries cannot be in a Windows "
                    "layer",
                    e->name);
    default:
        return fail(p, err, WC_INVALID_ARGUMENT,
                    "layer entry \"%s\" refused: unsupported tar entry type '%c'", e->name,
                    (type >= 0x20 && type < 0x7f) ? type : '?');
    }
}

/* Where the entry goes, then by kind: a data stream, a tombstone, or a typed entry. */
static int start_placed(img_wl_parser *p, char type, wl_entry *e, size_t colon, wc_err *err)
{
    if (area_of(e->path, &e->area) != 0)
        return fail(p, err, WC_INVALID_ARGUMENT,
                    "layer entry \"%s\" refused: outside Files/, Hives/ and UtilityVM/", e->name);
    if (colon != SIZE_MAX)
        return start_stream(p, e->path, colon, e->name, e->size, err);
    if (close_current(p, err) != 0)
        return -1;
    char *base = strrchr(e->path, '/');
    base = base ? base + 1 : e->path;
    if (strncmp(base, ".wh.", 4) == 0)
        return start_whiteout(p, e->path, base, e->name, err);
    return start_typed(p, type, e, err);
}

static int start_entry(img_wl_parser *p, const unsigned char *h, wc_err *err)
{
    char type = (char)h[156];
    char raw_name[BLOCK], raw_link[101];
    wl_entry e = {0};
    uint64_t mtime = 0;
    p->entry_no++;
    entry_names(p, h, raw_name, raw_link, &e.name, &e.linkname);
    if (entry_numbers(p, h, e.name, &e.size, &mtime, err) != 0)
        return -1;
    e.filetime = img_wl_unix_to_filetime((int64_t)mtime, 0);
    /* By default the body is skipped; files and streams switch to streaming it. */
    p->remaining = e.size;
    p->pad = (size_t)((BLOCK - e.size % BLOCK) % BLOCK);
    p->state = e.size ? ST_SKIP : ST_HEADER;
    const char *why = NULL;
    size_t colon;
    bool regular = (type == '0' || type == '\0' || type == '7');
    e.path = clean_path(e.name, regular, &colon, &why);
    int rc = e.path
                 ? start_placed(p, type, &e, colon, err)
                 : fail(p, err, WC_INVALID_ARGUMENT, "layer entry \"%s\" refused: %s", e.name, why);
    free(e.path);
    pax_clear(p);
    return rc;
}

static int on_header(img_wl_parser *p, wc_err *err)
{
    const unsigned char *h = p->block;
    if (block_is_zero(h)) {
        if (++p->zero_blocks >= 2) {
            if (close_current(p, err) != 0)
                return -1;
            p->state = ST_EOF;
        }
        return 0;
    }
    if (p->zero_blocks)
        return fail(p, err, WC_INVALID_ARGUMENT,
                    "layer tar: data after an end-of-archive block (entry %llu)",
                    (unsigned long long)p->entry_no + 1);
    if (!checksum_ok(h))
        return fail(p, err, WC_INVALID_ARGUMENT,
                    "layer tar: header checksum mismatch after entry %llu (not a tar stream, or "
                    "corrupt)",
                    (unsigned long long)p->entry_no);
    char type = (char)h[156];
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
        uint64_t size;
        if (parse_octal(h + 124, 12, &size) != 0 || size > MAX_META)
            return fail(p, err, WC_INVALID_ARGUMENT,
                        "layer tar: extended header after entry %llu is larger than %u bytes",
                        (unsigned long long)p->entry_no, MAX_META);
        p->meta_type = type;
        free(p->meta);
        p->meta = wc_xmalloc(size + 1);
        p->meta_len = 0;
        p->remaining = size;
        p->pad = (size_t)((BLOCK - size % BLOCK) % BLOCK);
        p->state = ST_META;
        if (size == 0)
            p->state = ST_HEADER; /* empty body: nothing to record */
        return 0;
    }
    return start_entry(p, h, err);
}

static int on_meta_done(img_wl_parser *p, wc_err *err)
{
    p->meta[p->meta_len] = '\0';
    switch (p->meta_type) {
    case 'x':
        return parse_pax(p, p->meta, p->meta_len, err);
    case 'L':
        free(p->long_name);
        p->long_name = wc_xstrdup(p->meta);
        return 0;
    case 'K':
        free(p->long_link);
        p->long_link = wc_xstrdup(p->meta);
        return 0;
    default: /* 'g': global records carry nothing a Windows layer needs */
        return 0;
    }
}

/* ---- public API ---- */

img_wl_parser *img_wl_parser_new(img_wl_visit_fn fn, void *ctx)
{
    img_wl_parser *p = wc_xcalloc(1, sizeof *p);
    p->fn = fn;
    p->ctx = ctx;
    p->state = ST_HEADER;
    return p;
}

void img_wl_parser_free(img_wl_parser *p)
{
    if (!p)
        return;
    pax_clear(p);
    free(p->meta);
    free(p->cur_path);
    free(p);
}

const img_wl_summary *img_wl_parser_summary(const img_wl_parser *p)
{
    return &p->sum;
}

int img_wl_parser_feed(img_wl_parser *p, const void *buf, size_t len, wc_err *err)
{
    const unsigned char *in = buf;
    if (p->state == ST_FAILED)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "layer parser already failed");
    while (len > 0) {
        switch (p->state) {
        case ST_HEADER: {
            size_t take = BLOCK - p->block_len;
            if (take > len)
                take = len;
            memcpy(p->block + p->block_len, in, take);
            p->block_len += take;
            in += take;
            len -= take;
            if (p->block_len == BLOCK) {
                p->block_len = 0;
                if (on_header(p, err) != 0)
                    return -1;
            }
            break;
        }
        case ST_META:
        case ST_DATA:
        case ST_SKIP: {
            if (p->remaining == 0) {
                size_t take = p->pad < len ? p->pad : len;
                p->pad -= take;
                in += take;
                len -= take;
                if (p->pad == 0) {
                    int st = p->state;
                    p->state = ST_HEADER;
                    if (st == ST_META && on_meta_done(p, err) != 0)
                        return -1;
                }
                break;
            }
            size_t take = p->remaining < len ? (size_t)p->remaining : len;
            if (p->state == ST_META) {
                memcpy(p->meta + p->meta_len, in, take);
                p->meta_len += take;
            } else if (p->state == ST_DATA) {
                img_wl_op op = {.kind = IMG_WL_DATA, .path = p->cur_path, .data = in, .len = take};
                if (emit(p, &op, p->cur_path, err) != 0)
                    return -1;
            }
            p->remaining -= take;
            in += take;
            len -= take;
            if (p->remaining == 0 && p->pad == 0) {
                int st = p->state;
                p->state = ST_HEADER;
                if (st == ST_META && on_meta_done(p, err) != 0)
                    return -1;
            }
            break;
        }
        case ST_EOF:
            return 0; /* trailing padding after the end blocks */
        default:
            return wc_err_set(err, WC_FAILED_PRECONDITION, "layer parser already failed");
        }
    }
    return 0;
}

int img_wl_parser_finish(img_wl_parser *p, wc_err *err)
{
    if (p->state == ST_FAILED)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "layer parser already failed");
    if (p->state == ST_EOF)
        return 0;
    if (p->state != ST_HEADER || p->block_len != 0 || p->n_pax || p->long_name || p->long_link) {
        p->state = ST_FAILED;
        return wc_err_set(err, WC_DATA_LOSS,
                          "layer tar is truncated: input ended inside entry %llu%s%s%s",
                          (unsigned long long)p->entry_no + (p->state == ST_HEADER ? 1 : 0),
                          p->cur_path ? " (last file \"" : "", p->cur_path ? p->cur_path : "",
                          p->cur_path ? "\")" : "");
    }
    if (close_current(p, err) != 0)
        return -1;
    p->state = ST_EOF;
    return 0;
}

/* ---- pull form over libarchive's decompressors ---- */

typedef struct pull_ctx {
    img_wl_read_fn rd;
    void *rctx;
    wc_err *err;
    bool read_failed;
    char buf[64 * 1024];
} pull_ctx;

static la_ssize_t pull_read(struct archive *a, void *c, const void **out)
{
    pull_ctx *pc = c;
    size_t got = 0;
    if (pc->rd(pc->rctx, pc->buf, sizeof pc->buf, &got, pc->err) != 0) {
        pc->read_failed = true;
        archive_set_error(a, EIO, "layer source read failed");
        return -1;
    }
    *out = pc->buf;
    return (la_ssize_t)got;
}

int img_wl_parse_stream(img_wl_read_fn rd, void *rctx, img_wl_visit_fn fn, void *ctx,
                        img_wl_summary *summary, wc_err *err)
{
    pull_ctx *pc = wc_xcalloc(1, sizeof *pc);
    img_wl_parser *p = img_wl_parser_new(fn, ctx);
    struct archive *a = archive_read_new();
    int rc = -1;
    if (!a) {
        wc_err_set(err, WC_RESOURCE_EXHAUSTED, "layer stream: libarchive: out of memory");
        goto out;
    }
    pc->rd = rd;
    pc->rctx = rctx;
    pc->err = err;
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    if (archive_read_open(a, pc, NULL, pull_read, NULL) != ARCHIVE_OK) {
        if (!pc->read_failed)
            wc_err_set(err, WC_INVALID_ARGUMENT, "layer stream: %s", archive_error_string(a));
        goto out;
    }
    struct archive_entry *ent;
    int r = archive_read_next_header(a, &ent);
    if (r == ARCHIVE_EOF) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "layer stream is empty");
        goto out;
    }
    if (r != ARCHIVE_OK) {
        if (!pc->read_failed)
            wc_err_set(err, WC_INVALID_ARGUMENT, "layer stream: %s", archive_error_string(a));
        goto out;
    }
    char *data = wc_xmalloc(64 * 1024);
    for (;;) {
        la_ssize_t n = archive_read_data(a, data, 64 * 1024);
        if (n < 0) {
            if (!pc->read_failed)
                wc_err_set(err, WC_DATA_LOSS, "layer stream: %s", archive_error_string(a));
            free(data);
            goto out;
        }
        if (n == 0)
            break;
        if (img_wl_parser_feed(p, data, (size_t)n, err) != 0) {
            free(data);
            goto out;
        }
    }
    free(data);
    if (img_wl_parser_finish(p, err) != 0)
        goto out;
    if (summary)
        *summary = p->sum;
    rc = 0;
out:
    if (a)
        archive_read_free(a);
    img_wl_parser_free(p);
    free(pc);
    return rc;
}

static int fd_read(void *ctx, void *buf, size_t cap, size_t *got, wc_err *err)
{
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0) {
            *got = (size_t)n;
            return 0;
        }
        if (errno != EINTR)
            return wc_err_sys(err, WC_INTERNAL, errno, "reading layer");
    }
}

int img_wl_parse_fd(int fd, img_wl_visit_fn fn, void *ctx, img_wl_summary *summary, wc_err *err)
{
    return img_wl_parse_stream(fd_read, &fd, fn, ctx, summary, err);
}
