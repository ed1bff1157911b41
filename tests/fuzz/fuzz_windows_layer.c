/* Windows layer tars (image/winlayer.c): the push parser fed in fuzzed pieces (as a
 * download delivers them) or the pull form that also decompresses, and every operation
 * encoded the way the Windows writer hands it to BackupWrite (stream headers, EAs, reparse
 * data; image/winlayer_codec.c). Every path an operation names must stay inside the
 * layer's folders. Nothing is written anywhere.
 *
 * Input: one byte (bit 0: pull form through libarchive; bits 1-7: piece size), then the
 * layer blob. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/winlayer.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

static void finding(const char *what, const char *path)
{
    fprintf(stderr, "fuzz: %s: \"%s\"\n", what, path ? path : "(null)");
    abort();
}

/* A layer-relative path: "A/B/C", no empty, "." or ".." component, no backslash. */
static void check_path(const char *p, int allow_colon)
{
    if (!p || !*p || p[0] == '/' || strchr(p, '\\') || (!allow_colon && strchr(p, ':')))
        finding("operation path not inside the layer", p);
    for (const char *c = p; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            finding("operation path with an empty, . or .. component", p);
        c += n;
        if (*c)
            c++;
    }
}

static int in_dir(const char *p, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(p, dir, n) == 0 && p[n] == '/' && p[n + 1];
}

typedef struct visit {
    uint64_t data_bytes;
} visit;

static int on_op(void *ctx, const img_wl_op *op, wc_err *err)
{
    visit *v = ctx;
    uint8_t hdr[20 + 2 * 300];
    uint8_t *buf = NULL;
    size_t len = 0;
    check_path(op->path, 0);
    switch (op->kind) {
    case IMG_WL_ADD: {
        const img_wl_file *f = op->file;
        if (strcmp(f->path, op->path) != 0)
            finding("ADD names two paths", op->path);
        if (f->sd && img_wl_sd_check(f->sd, f->sd_len) != 0)
            finding("ADD with a security descriptor that does not check", op->path);
        if (img_wl_encode_eas(f->eas, f->n_eas, &buf, &len) == 0)
            free(buf);
        if (f->kind == IMG_WL_KIND_SYMLINK || f->kind == IMG_WL_KIND_MOUNTPOINT) {
            if (!f->link_target || !*f->link_target ||
                (f->link_target[0] == '\\' && f->link_target[1] == '\\'))
                finding("reparse point with an empty or UNC target", op->path);
            if (img_wl_encode_reparse(f->link_target, f->kind == IMG_WL_KIND_MOUNTPOINT, &buf,
                                      &len) == 0)
                free(buf);
        }
        img_wl_encode_stream_header(IMG_WL_BACKUP_DATA, f->size, NULL, hdr, sizeof hdr);
        break;
    }
    case IMG_WL_STREAM:
        if (!op->stream || !*op->stream || strchr(op->stream, ':') || strchr(op->stream, '/'))
            finding("alternate data stream name", op->stream);
        img_wl_encode_stream_header(IMG_WL_BACKUP_ALTERNATE_DATA, op->size, op->stream, hdr,
                                    sizeof hdr);
        break;
    case IMG_WL_DATA:
        v->data_bytes += op->len;
        break;
    case IMG_WL_LINK:
        check_path(op->target, 0);
        if (!((in_dir(op->path, "Files") && in_dir(op->target, "Files")) ||
              (in_dir(op->path, "UtilityVM/Files") && in_dir(op->target, "UtilityVM/Files"))))
            finding("hard link outside Files/ or UtilityVM/Files/", op->target);
        break;
    case IMG_WL_REMOVE:
        if (!in_dir(op->path, "Files") && !in_dir(op->path, "UtilityVM/Files"))
            finding("tombstone outside Files/ or UtilityVM/Files/", op->path);
        break;
    case IMG_WL_END:
        break;
    default:
        finding("unknown operation", op->path);
    }
    return 0;
}

typedef struct mem_src {
    const uint8_t *p;
    size_t n, piece;
} mem_src;

static int mem_read(void *ctx, void *buf, size_t cap, size_t *got, wc_err *err)
{
    mem_src *m = ctx;
    size_t k = m->n < cap ? m->n : cap;
    if (k > m->piece)
        k = m->piece;
    memcpy(buf, m->p, k);
    m->p += k;
    m->n -= k;
    *got = k;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t setup = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1, piece = 1 + (size_t)(setup >> 1) * 131;
    visit v = {0};
    wc_err err = {0};
    if (setup & 1) {
        mem_src m = {p, n, piece};
        img_wl_summary sum;
        if (img_wl_parse_stream(mem_read, &m, on_op, &v, &sum, &err) == 0 &&
            sum.bytes < v.data_bytes)
            finding("summary counts fewer bytes than were delivered", "");
        return 0;
    }
    img_wl_parser *ps = img_wl_parser_new(on_op, &v);
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += piece)
        rc = img_wl_parser_feed(ps, p + off, off + piece <= n ? piece : n - off, &err);
    if (rc == 0 && img_wl_parser_finish(ps, &err) == 0 &&
        img_wl_parser_summary(ps)->bytes < v.data_bytes)
        finding("summary counts fewer bytes than were delivered", "");
    img_wl_parser_free(ps);
    return 0;
}
