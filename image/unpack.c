/* Platform-neutral parts of layer unpacking: media types, tar member names, and the
 * uncompressed layer stream whose SHA-256 is the layer's diff ID. The blob is decompressed
 * and hashed here, once, on its way to the platform's unpacker (unpack_linux.c applies it
 * to a directory, unpack_win32.c stages a Windows layer), so both platforms verify the same
 * bytes they apply. */
#include "image/img_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "image/winlayer.h"

typedef struct layer_type {
    const char *media_type;
    img_compression comp;
} layer_type;

static const layer_type layer_types[] = {
    {"application/vnd.oci.image.layer.v1.tar", IMG_COMP_NONE},
    {"application/vnd.oci.image.layer.v1.tar+gzip", IMG_COMP_GZIP},
    {"application/vnd.oci.image.layer.v1.tar+zstd", IMG_COMP_ZSTD},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", IMG_COMP_NONE},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IMG_COMP_GZIP},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IMG_COMP_ZSTD},
    {"application/vnd.docker.image.rootfs.diff.tar", IMG_COMP_NONE},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip", IMG_COMP_GZIP},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IMG_COMP_GZIP},
};

int img_layer_compression(const char *media_type)
{
    if (!media_type)
        return -1;
    for (size_t i = 0; i < sizeof layer_types / sizeof layer_types[0]; i++)
        if (strcmp(layer_types[i].media_type, media_type) == 0)
            return (int)layer_types[i].comp;
    return -1;
}

int img_tar_clean_path(const char *name, char *out, size_t cap, wc_err *err)
{
    size_t n = 0;
    const char *p = name;
    if (!name || !*name)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "tar member with an empty name");
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            break;
        if (len == 1 && p[0] == '.') {
            p += len;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "tar member \"%.300s\" climbs out of the layer with \"..\"", name);
        if (n + len + 2 > cap)
            return wc_err_set(err, WC_INVALID_ARGUMENT, "tar member \"%.300s\" is too long", name);
        if (n)
            out[n++] = '/';
        memcpy(out + n, p, len);
        n += len;
        p += len;
    }
    out[n] = '\0';
    return 0;
}

/* ---- The uncompressed stream and its diff ID ---------------------------------------------- */

struct img_tar_reader {
    const img_stream *in; /* the blob as it arrives */
    img_compression comp;
    img_hasher *h;
    struct archive *a; /* decompressor (libarchive's raw format); NULL for a plain tar */
    int opened, eof, failed, in_failed;
    int64_t total;
    wc_err in_err; /* the blob stream's own error, which explains a failure best */
    wc_err err;    /* sticky: once failed, every read fails the same way */
    img_stream out;
};

static la_ssize_t blob_read(struct archive *a, void *ud, const void **buf)
{
    img_tar_reader *r = ud;
    ssize_t n = r->in->read(r->in->ctx, buf, &r->in_err);
    if (n < 0) {
        r->in_failed = 1;
        archive_set_error(a, EIO, "%s", r->in_err.msg);
        return -1;
    }
    return n;
}

static ssize_t inflate_failed(img_tar_reader *r)
{
    if (r->in_failed) {
        r->err = r->in_err;
        return -1;
    }
    const char *why = archive_error_string(r->a);
    return wc_err_set(&r->err, WC_INVALID_ARGUMENT, "layer does not decompress as %s: %s",
                      r->comp == IMG_COMP_GZIP ? "gzip" : "zstd", why ? why : "unknown error");
}

/* The next block of decompressed bytes (valid until the next call), 0 at the end. */
static ssize_t inflate_next(img_tar_reader *r, const void **buf)
{
    if (!r->opened) {
        r->opened = 1;
        struct archive_entry *e;
        int rc = archive_read_open1(r->a);
        if (rc == ARCHIVE_OK)
            rc = archive_read_next_header(r->a, &e);
        if (rc == ARCHIVE_EOF)
            return 0; /* decompresses to nothing; the unpacker says what it thinks of that */
        if (rc != ARCHIVE_OK)
            return inflate_failed(r);
    }
    for (;;) {
        size_t size = 0;
        la_int64_t off = 0;
        int rc = archive_read_data_block(r->a, buf, &size, &off);
        if (rc == ARCHIVE_EOF)
            return 0;
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
            return inflate_failed(r);
        if (off != r->total) /* the raw format has no holes; a gap would escape the hash */
            return wc_err_set(&r->err, WC_INTERNAL, "layer decompression skipped bytes");
        if (size > 0)
            return (ssize_t)size;
    }
}

/* A failed blob read can look like the end to libarchive's filters: in_failed decides. */
static ssize_t inflate_block(img_tar_reader *r, const void **buf)
{
    ssize_t n = inflate_next(r, buf);
    return r->in_failed ? inflate_failed(r) : n;
}

static ssize_t tar_read(void *ctx, const void **buf, wc_err *err)
{
    img_tar_reader *r = ctx;
    if (r->failed) {
        *err = r->err;
        return -1;
    }
    if (r->eof)
        return 0;
    ssize_t n = r->a ? inflate_block(r, buf) : r->in->read(r->in->ctx, buf, &r->err);
    if (n < 0) {
        r->failed = 1;
        *err = r->err;
        return -1;
    }
    if (n == 0)
        r->eof = 1;
    img_hasher_update(r->h, *buf, (size_t)n);
    r->total += n;
    return n;
}

int img_tar_reader_new(const img_stream *blob, const char *media_type, img_tar_reader **out,
                       wc_err *err)
{
    *out = NULL;
    int comp = img_layer_compression(media_type);
    if (comp < 0)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "unsupported layer media type \"%s\"",
                          media_type ? media_type : "");
    img_tar_reader *r = wc_xcalloc(1, sizeof *r);
    if (!(r->h = img_hasher_new())) { /* OpenSSL's context */
        free(r);
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "out of memory");
    }
    r->in = blob;
    r->comp = (img_compression)comp;
    r->out = (img_stream){tar_read, r};
    if (comp != IMG_COMP_NONE) {
        /* The filter is the one the media type names, not one guessed from the bytes:
         * guessing could decompress a plain tar that happens to look compressed. */
        r->a = archive_read_new();
        archive_read_append_filter(r->a, comp == IMG_COMP_GZIP ? ARCHIVE_FILTER_GZIP
                                                               : ARCHIVE_FILTER_ZSTD);
        archive_read_support_format_raw(r->a);
        archive_read_support_format_empty(r->a);
        archive_read_set_read_callback(r->a, blob_read);
        archive_read_set_callback_data(r->a, r);
    }
    *out = r;
    return 0;
}

const img_stream *img_tar_reader_stream(img_tar_reader *r)
{
    return &r->out;
}

int img_tar_reader_finish(img_tar_reader *r, char *diff_id, wc_err *err)
{
    const void *buf;
    ssize_t n;
    while ((n = tar_read(r, &buf, err)) > 0)
        ;
    if (n < 0)
        return -1;
    img_hasher_final(r->h, diff_id);
    return 0;
}

void img_tar_reader_free(img_tar_reader *r)
{
    if (!r)
        return;
    if (r->a)
        archive_read_free(r->a);
    img_hasher_free(r->h);
    free(r);
}

int img_unpack_layer(const img_stream *in, const char *media_type, const char *dest,
                     const img_unpack_opts *opts, char *diff_id, wc_err *err)
{
    img_tar_reader *r = NULL;
    if (img_tar_reader_new(in, media_type, &r, err) < 0)
        return -1;
    int rc = img_unpack_tar(img_tar_reader_stream(r), dest, opts, err);
    /* The unpacker stops at the tar's end blocks; the diff ID covers what follows too. */
    if (rc == 0 && img_tar_reader_finish(r, diff_id, err) < 0) {
        wc_err ignored = {0};
        img_remove_tree(dest, &ignored);
        rc = -1;
    }
    img_tar_reader_free(r);
    return rc;
}

/* ---- Windows layers: the shared half of the importer ------------------------------------ */

int img_unpack_wl_ops(const img_stream *tar, img_wl_visit_fn fn, void *ctx, wc_err *err)
{
    img_wl_parser *p = img_wl_parser_new(fn, ctx);
    int rc = 0;
    for (;;) {
        const void *buf;
        ssize_t n = tar->read(tar->ctx, &buf, err);
        if (n < 0)
            rc = -1;
        if (n <= 0)
            break;
        if (img_wl_parser_feed(p, buf, (size_t)n, err) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && img_wl_parser_finish(p, err) != 0)
        rc = -1;
    img_wl_parser_free(p);
    return rc;
}
