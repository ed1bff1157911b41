/* Diff IDs: the uncompressed layer stream (img_tar_reader) is hashed in the same pass that
 * feeds the unpacker, over every byte of it (end blocks and anything after them included),
 * for plain, gzip and zstd layers, and for Windows layer tars on their way to the Windows
 * layer parser. Tars are built in memory with libarchive; expected digests come from
 * hashing the uncompressed bytes directly. */
#include "tests/unit/testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/img_internal.h"

#define CAP (1 << 20)
#define MT_TAR "application/vnd.oci.image.layer.v1.tar"
#define MT_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

typedef struct buf {
    char *p;
    size_t len;
} buf;

/* An uncompressed tar with a directory and a few files. */
static buf make_tar(const char *const *names, size_t n)
{
    buf b = {malloc(CAP), 0};
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_none(a);
    archive_write_set_bytes_in_last_block(a, 1); /* no padding to 10 KiB: tests add their own */
    assert_int_equal(archive_write_open_memory(a, b.p, CAP, &b.len), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        size_t len = strlen(names[i]);
        int dir = names[i][len - 1] == '/';
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(e, dir ? 0755 : 0644);
        archive_entry_set_mtime(e, 1700000000, 0);
        archive_entry_set_size(e, dir ? 0 : (la_int64_t)len);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (!dir)
            assert_int_equal(archive_write_data(a, names[i], len), (la_ssize_t)len);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return b;
}

static const char *const linux_names[] = {"etc/", "etc/passwd", "bin/", "bin/sh"};

/* in compressed with libarchive's gzip or zstd filter (raw format: the bytes as they are). */
static buf compress(const buf *in, int zstd)
{
    buf b = {malloc(CAP), 0};
    struct archive *a = archive_write_new();
    archive_write_set_format_raw(a);
    if (zstd)
        archive_write_add_filter_zstd(a);
    else
        archive_write_add_filter_gzip(a);
    archive_write_set_bytes_in_last_block(a, 1);
    assert_int_equal(archive_write_open_memory(a, b.p, CAP, &b.len), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_pathname(e, "data");
    archive_entry_set_size(e, (la_int64_t)in->len);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, in->p, in->len), (la_ssize_t)in->len);
    archive_entry_free(e);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return b;
}

typedef struct memstream {
    const char *p;
    size_t len, off, chunk, fail_at;
} memstream;

static ssize_t mem_read(void *ctx, const void **out, wc_err *err)
{
    memstream *m = ctx;
    if (m->fail_at && m->off >= m->fail_at)
        return wc_err_set(err, WC_UNAVAILABLE, "network went away");
    size_t n = m->len - m->off < m->chunk ? m->len - m->off : m->chunk;
    *out = m->p + m->off;
    m->off += n;
    return (ssize_t)n;
}

static char root[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/test_img_diffid.XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wc_err err = {0};
    img_remove_tree(root, &err);
    return 0;
}

/* Unpacks blob (of media type mt) into root/name; returns the computed diff ID. */
static int unpack(const buf *blob, const char *mt, const char *name, char *diff, wc_err *err)
{
    memstream m = {blob->p, blob->len, 0, 333, 0};
    img_stream in = {mem_read, &m};
    char dest[PATH_MAX + 64];
    snprintf(dest, sizeof dest, "%s/%s", root, name);
    int rc = img_unpack_layer(&in, mt, dest, NULL, diff, err);
    if (rc == 0) /* the whole blob was read: nothing is left for the caller's drain */
        assert_int_equal(m.off, blob->len);
    return rc;
}

static void plain_gzip_and_zstd_give_the_tars_digest(void **state)
{
    (void)state;
    buf tar = make_tar(linux_names, 4);
    /* What tar writers add after the end blocks is part of the stream, and of its digest. */
    memset(tar.p + tar.len, 0, 4096);
    tar.len += 4096;
    char want[IMG_DIGEST_LEN + 1], got[IMG_DIGEST_LEN + 1];
    img_sha256_digest(tar.p, tar.len, want);
    wc_err err = {0};

    if (unpack(&tar, MT_TAR, "plain", got, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(got, want);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/plain/bin/sh", root);
    assert_true(img_path_exists(path));

    for (int zstd = 0; zstd <= 1; zstd++) {
        buf z = compress(&tar, zstd);
        memset(got, 0, sizeof got);
        if (unpack(&z, zstd ? MT_ZSTD : MT_GZIP, zstd ? "zstd" : "gzip", got, &err) != 0)
            fail_msg("%s", err.msg);
        assert_string_equal(got, want);
        free(z.p);
    }
    free(tar.p);
}

static void a_changed_byte_changes_the_diff_id(void **state)
{
    (void)state;
    buf tar = make_tar(linux_names, 4);
    char a[IMG_DIGEST_LEN + 1], b[IMG_DIGEST_LEN + 1];
    wc_err err = {0};
    assert_int_equal(unpack(&tar, MT_TAR, "a", a, &err), 0);
    tar.p[tar.len - 1] = 'x'; /* in the end blocks, which the unpacker never looks at */
    assert_int_equal(unpack(&tar, MT_TAR, "b", b, &err), 0);
    assert_string_not_equal(a, b);
    free(tar.p);
}

/* A gzip stream cut short, even after the tar's end blocks, is found by reading to the end
 * (libarchive does not check the gzip CRC; the blob digest and the diff ID cover that). */
static void gzip_cut_short_is_refused(void **state)
{
    (void)state;
    buf tar = make_tar(linux_names, 4);
    memset(tar.p + tar.len, 0, 8192);
    tar.len += 8192;
    buf gz = compress(&tar, 0);
    gz.len -= 12;
    char got[IMG_DIGEST_LEN + 1];
    wc_err err = {0};
    assert_int_equal(unpack(&gz, MT_GZIP, "cut", got, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/cut", root);
    assert_false(img_path_exists(path)); /* the unpacked layer went with it */
    free(gz.p);
    free(tar.p);
}

/* The media type decides: gzip bytes under a plain tar media type are not inflated. */
static void compression_is_never_guessed(void **state)
{
    (void)state;
    buf tar = make_tar(linux_names, 4);
    buf gz = compress(&tar, 0);
    memstream m = {gz.p, gz.len, 0, 100, 0};
    img_stream in = {mem_read, &m};
    img_tar_reader *r = NULL;
    wc_err err = {0};
    assert_int_equal(img_tar_reader_new(&in, MT_TAR, &r, &err), 0);
    const img_stream *s = img_tar_reader_stream(r);
    const void *p;
    ssize_t n = s->read(s->ctx, &p, &err);
    assert_true(n > 2);
    assert_memory_equal(p, gz.p, 2); /* the gzip magic, passed through */
    char got[IMG_DIGEST_LEN + 1], want[IMG_DIGEST_LEN + 1];
    assert_int_equal(img_tar_reader_finish(r, got, &err), 0);
    img_sha256_digest(gz.p, gz.len, want);
    assert_string_equal(got, want);
    img_tar_reader_free(r);

    assert_int_equal(img_tar_reader_new(&in, "application/x-bogus", &r, &err), -1);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    free(gz.p);
    free(tar.p);
}

static void blob_stream_error_comes_through(void **state)
{
    (void)state;
    buf tar = make_tar(linux_names, 4);
    buf gz = compress(&tar, 0);
    memstream m = {gz.p, gz.len, 0, 50, 100};
    img_stream in = {mem_read, &m};
    char dest[PATH_MAX + 64], got[IMG_DIGEST_LEN + 1];
    snprintf(dest, sizeof dest, "%s/se", root);
    wc_err err = {0};
    assert_int_equal(img_unpack_layer(&in, MT_GZIP, dest, NULL, got, &err), -1);
    assert_int_equal(err.code, WC_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "network went away"));
    assert_false(img_path_exists(dest));

    memset(gz.p + 10, 'g', 64); /* not deflate data any more */
    m = (memstream){gz.p, gz.len, 0, 50, 0};
    assert_int_equal(img_unpack_layer(&in, MT_GZIP, dest, NULL, got, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_false(img_path_exists(dest));
    free(gz.p);
    free(tar.p);
}

/* ---- Windows layers take the same path up to the parser ---- */

typedef struct ops {
    char log[2048];
} ops;

static int record(void *ctx, const img_wl_op *op, wc_err *err)
{
    (void)err;
    ops *o = ctx;
    size_t n = strlen(o->log);
    if (op->kind == IMG_WL_ADD || op->kind == IMG_WL_END)
        snprintf(o->log + n, sizeof o->log - n, "%s %s\n", op->kind == IMG_WL_ADD ? "add" : "end",
                 op->path);
    return 0;
}

static void windows_layer_diff_id(void **state)
{
    (void)state;
    static const char *const names[] = {"Files/", "Files/hello.txt", "Hives/"};
    buf tar = make_tar(names, 3);
    memset(tar.p + tar.len, 0, 1024);
    tar.len += 1024;
    buf gz = compress(&tar, 0);
    memstream m = {gz.p, gz.len, 0, 77, 0};
    img_stream in = {mem_read, &m};
    img_tar_reader *r = NULL;
    wc_err err = {0};
    assert_int_equal(img_tar_reader_new(&in, MT_GZIP, &r, &err), 0);
    ops o = {""};
    if (img_unpack_wl_ops(img_tar_reader_stream(r), record, &o, &err) != 0)
        fail_msg("%s", err.msg);
    assert_non_null(strstr(o.log, "add Files/hello.txt\n"));
    char got[IMG_DIGEST_LEN + 1], want[IMG_DIGEST_LEN + 1];
    assert_int_equal(img_tar_reader_finish(r, got, &err), 0);
    img_sha256_digest(tar.p, tar.len, want);
    assert_string_equal(got, want);
    img_tar_reader_free(r);

    /* a Windows layer that escapes is refused on the way, as before */
    static const char *const bad[] = {"Files/", "Files/../evil"};
    buf t2 = make_tar(bad, 2);
    m = (memstream){t2.p, t2.len, 0, 512, 0};
    assert_int_equal(img_tar_reader_new(&in, MT_TAR, &r, &err), 0);
    assert_int_equal(img_unpack_wl_ops(img_tar_reader_stream(r), record, &o, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    img_tar_reader_free(r);
    free(t2.p);
    free(gz.p);
    free(tar.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(plain_gzip_and_zstd_give_the_tars_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(a_changed_byte_changes_the_diff_id, setup, teardown),
        cmocka_unit_test_setup_teardown(gzip_cut_short_is_refused, setup, teardown),
        cmocka_unit_test(compression_is_never_guessed),
        cmocka_unit_test_setup_teardown(blob_stream_error_comes_through, setup, teardown),
        cmocka_unit_test(windows_layer_diff_id),
    };
    return cmocka_run_group_tests_name("img_diffid", tests, NULL, NULL);
}
