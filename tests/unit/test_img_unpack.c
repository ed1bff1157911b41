#include "tests/unit/testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/img_internal.h"

#define TAR_CAP (1 << 20)
#define LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"

/* ---- building tars in memory ---- */

typedef struct tarbuf {
    struct archive *a;
    char *buf;
    size_t used;
} tarbuf;

static void tar_begin(tarbuf *t, int gzip)
{
    t->buf = malloc(TAR_CAP);
    t->used = 0;
    t->a = archive_write_new();
    archive_write_set_format_pax_restricted(t->a);
    if (gzip)
        archive_write_add_filter_gzip(t->a);
    else
        archive_write_add_filter_none(t->a);
    assert_int_equal(archive_write_open_memory(t->a, t->buf, TAR_CAP, &t->used), ARCHIVE_OK);
}

static struct archive_entry *entry(const char *name, mode_t type, mode_t perm)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_mtime(e, 1700000000, 0);
    return e;
}

static void put(tarbuf *t, struct archive_entry *e, const char *data)
{
    size_t n = data ? strlen(data) : 0;
    archive_entry_set_size(e, (la_int64_t)n);
    assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
    if (n)
        assert_int_equal(archive_write_data(t->a, data, n), (la_ssize_t)n);
    archive_entry_free(e);
}

static void add_dir(tarbuf *t, const char *name)
{
    put(t, entry(name, AE_IFDIR, 0755), NULL);
}

static void add_file(tarbuf *t, const char *name, const char *data)
{
    put(t, entry(name, AE_IFREG, 0644), data);
}

static void add_symlink(tarbuf *t, const char *name, const char *target)
{
    struct archive_entry *e = entry(name, AE_IFLNK, 0777);
    archive_entry_set_symlink(e, target);
    put(t, e, NULL);
}

static void add_hardlink(tarbuf *t, const char *name, const char *target)
{
    struct archive_entry *e = entry(name, AE_IFREG, 0644);
    archive_entry_set_hardlink(e, target);
    archive_entry_set_size(e, 0);
    assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
    archive_entry_free(e);
}

static void tar_end(tarbuf *t)
{
    assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
    archive_write_free(t->a);
}

/* ---- feeding a tar to the unpacker ---- */

typedef struct memstream {
    const char *p;
    size_t len, off, chunk;
    int fail_at; /* fail once this many bytes were read (0: never) */
} memstream;

static ssize_t mem_read(void *ctx, const void **buf, wc_err *err)
{
    memstream *m = ctx;
    if (m->fail_at && m->off >= (size_t)m->fail_at)
        return wc_err_set(err, WC_UNAVAILABLE, "network went away");
    size_t n = m->len - m->off < m->chunk ? m->len - m->off : m->chunk;
    *buf = m->p + m->off;
    m->off += n;
    return (ssize_t)n;
}

static char root[PATH_MAX];

static int setup(void **state)
{
    snprintf(root, sizeof root, "/tmp/test_img_unpack.XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    wc_err err = {0};
    img_remove_tree(root, &err);
    return 0;
}

static int unpack(tarbuf *t, const char *mt, const char *name, int allow_devices, wc_err *err)
{
    memstream m = {t->buf, t->used, 0, 700, 0};
    img_stream in = {mem_read, &m};
    img_unpack_opts o = {allow_devices};
    char dest[PATH_MAX + 64];
    snprintf(dest, sizeof dest, "%s/%s", root, name);
    char diff[IMG_DIGEST_LEN + 1];
    int rc = img_unpack_layer(&in, mt, dest, &o, diff, err);
    free(t->buf);
    return rc;
}

static const char *at(const char *layer, const char *rel)
{
    static char p[PATH_MAX + 256];
    snprintf(p, sizeof p, "%s/%s/%s", root, layer, rel);
    return p;
}

static void expect_refused(tarbuf *t, const char *name, const char *why)
{
    wc_err err = {0};
    assert_int_equal(unpack(t, LAYER_TAR, name, 0, &err), -1);
    if (!strstr(err.msg, why))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, why);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    struct stat st;
    assert_int_equal(lstat(at(name, ""), &st), -1); /* partial layer removed */
}

/* ---- tests ---- */

static void regular_layer(void **state)
{
    tarbuf t;
    tar_begin(&t, 1);
    add_dir(&t, "./");
    add_dir(&t, "etc");
    struct archive_entry *e = entry("etc/secret", AE_IFREG, 0600);
    archive_entry_set_uid(e, 1234);
    archive_entry_set_gid(e, 4321);
    archive_entry_xattr_add_entry(e, "user.note", "hi", 2);
    archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/x", 2);
    put(&t, e, "top secret\n");
    add_symlink(&t, "etc/link", "/etc/secret");
    add_hardlink(&t, "etc/hard", "etc/secret");
    put(&t, entry("bin/tool", AE_IFREG, 04755), "#!/bin/sh\n"); /* parent made implicitly */
    add_file(&t, "/abs/file", "stays inside\n");
    tar_end(&t);
    wc_err err = {0};
    if (unpack(&t, LAYER_GZIP, "l1", 1, &err) != 0)
        fail_msg("%s", err.msg);
    struct stat st, st2;
    assert_int_equal(lstat(at("l1", "etc/secret"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    if (geteuid() == 0) {
        assert_int_equal(st.st_uid, 1234);
        assert_int_equal(st.st_gid, 4321);
    }
    assert_int_equal(st.st_mtime, 1700000000);
    assert_int_equal(lstat(at("l1", "etc/hard"), &st2), 0);
    assert_int_equal(st.st_ino, st2.st_ino);
    char target[64] = "";
    assert_int_equal(readlink(at("l1", "etc/link"), target, sizeof target - 1), 11);
    assert_string_equal(target, "/etc/secret");
    assert_int_equal(lstat(at("l1", "bin/tool"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 04755);
    assert_int_equal(lstat(at("l1", "abs/file"), &st), 0);
    char val[16] = "";
    if (getxattr(at("l1", "etc/secret"), "user.note", val, sizeof val) == 2)
        assert_memory_equal(val, "hi", 2);
    if (geteuid() == 0)
        assert_int_equal(
            getxattr(at("l1", "etc/secret"), "trusted.overlay.redirect", val, sizeof val), -1);
}

static void whiteouts(void **state)
{
    if (geteuid() != 0)
        skip();
    tarbuf t;
    tar_begin(&t, 0);
    add_dir(&t, "a");
    add_file(&t, "a/.wh.gone", "");
    add_dir(&t, "a/opq");
    add_file(&t, "a/opq/.wh..wh..opq", "");
    add_file(&t, "a/opq/new", "n");
    add_file(&t, "b/.wh.implicit", ""); /* parent not in the tar */
    add_file(&t, ".wh..wh.plnk", "");   /* aufs metadata: ignored */
    tar_end(&t);
    wc_err err = {0};
    if (unpack(&t, LAYER_TAR, "wh", 0, &err) != 0)
        fail_msg("%s", err.msg);
    struct stat st;
    assert_int_equal(lstat(at("wh", "a/gone"), &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));
    assert_int_equal(lstat(at("wh", "a/.wh.gone"), &st), -1);
    assert_int_equal(lstat(at("wh", "b/implicit"), &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    char v[4] = "";
    assert_int_equal(getxattr(at("wh", "a/opq"), "trusted.overlay.opaque", v, sizeof v), 1);
    assert_int_equal(v[0], 'y');
    assert_int_equal(lstat(at("wh", "a/opq/.wh..wh..opq"), &st), -1);
    assert_int_equal(lstat(at("wh", "a/opq/new"), &st), 0);
    assert_int_equal(lstat(at("wh", ".wh..wh.plnk"), &st), -1);
}

static void dotdot_refused(void **state)
{
    tarbuf t;
    tar_begin(&t, 0);
    add_file(&t, "ok", "fine");
    add_file(&t, "a/../../escaped", "evil");
    tar_end(&t);
    expect_refused(&t, "dd", "climbs out");
    struct stat st;
    assert_int_equal(lstat(at("", "escaped"), &st), -1);
}

static void absolute_symlink_then_write_through(void **state)
{
    char outside[PATH_MAX + 32];
    snprintf(outside, sizeof outside, "%s/outside", root);
    mkdir(outside, 0755);
    tarbuf t;
    tar_begin(&t, 0);
    add_symlink(&t, "link", outside);
    add_file(&t, "link/pwned", "evil");
    tar_end(&t);
    expect_refused(&t, "sl", "goes through \"link\", which is a symlink");
    struct stat st;
    assert_int_equal(lstat(at("outside", "pwned"), &st), -1);
}

static void relative_symlink_escape(void **state)
{
    tarbuf t;
    tar_begin(&t, 0);
    add_dir(&t, "d");
    add_symlink(&t, "d/up", "../..");
    add_file(&t, "d/up/pwned2", "evil");
    tar_end(&t);
    expect_refused(&t, "rs", "which is a symlink");
    struct stat st;
    assert_int_equal(lstat(at("", "pwned2"), &st), -1);
}

static void file_as_directory(void **state)
{
    tarbuf t;
    tar_begin(&t, 0);
    add_file(&t, "f", "x");
    add_file(&t, "f/child", "y");
    tar_end(&t);
    expect_refused(&t, "fd", "not a directory");
}

static void hardlink_outside(void **state)
{
    tarbuf t;
    tar_begin(&t, 0);
    add_hardlink(&t, "pw", "../../../../etc/passwd");
    tar_end(&t);
    expect_refused(&t, "hl", "climbs out");

    tar_begin(&t, 0);
    add_hardlink(&t, "pw", "/etc/passwd"); /* means etc/passwd inside the layer: absent */
    tar_end(&t);
    expect_refused(&t, "hl2", "not in the layer");

    char outside[PATH_MAX + 32];
    snprintf(outside, sizeof outside, "%s/outside2", root);
    mkdir(outside, 0755);
    tar_begin(&t, 0);
    add_symlink(&t, "s", outside);
    add_hardlink(&t, "pw", "s/anything");
    tar_end(&t);
    expect_refused(&t, "hl3", "which is a symlink");
}

static void devices(void **state)
{
    tarbuf t;
    tar_begin(&t, 0);
    struct archive_entry *e = entry("dev/null", AE_IFCHR, 0666);
    archive_entry_set_rdev(e, makedev(1, 3));
    put(&t, e, NULL);
    tar_end(&t);
    expect_refused(&t, "dev", "device node");
    if (geteuid() != 0)
        return;
    tar_begin(&t, 0);
    e = entry("dev/null", AE_IFCHR, 0666);
    archive_entry_set_rdev(e, makedev(1, 3));
    put(&t, e, NULL);
    tar_end(&t);
    wc_err err = {0};
    if (unpack(&t, LAYER_TAR, "dev2", 1, &err) != 0)
        fail_msg("%s", err.msg);
    struct stat st;
    assert_int_equal(lstat(at("dev2", "dev/null"), &st), 0);
    assert_true(S_ISCHR(st.st_mode));
}

static void media_types_and_garbage(void **state)
{
    assert_int_equal(img_layer_compression(LAYER_GZIP), IMG_COMP_GZIP);
    assert_int_equal(img_layer_compression("application/vnd.oci.image.layer.v1.tar+zstd"),
                     IMG_COMP_ZSTD);
    assert_int_equal(img_layer_compression("application/vnd.docker.image.rootfs.diff.tar.gzip"),
                     IMG_COMP_GZIP);
    assert_int_equal(img_layer_compression("application/x-bogus"), -1);
    tarbuf t = {.buf = malloc(16), .used = 0};
    wc_err err = {0};
    assert_int_equal(unpack(&t, "application/x-bogus", "mt", 1, &err), -1);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);

    char garbage[4096];
    memset(garbage, 'g', sizeof garbage);
    t.buf = malloc(sizeof garbage);
    memcpy(t.buf, garbage, sizeof garbage);
    t.used = sizeof garbage;
    assert_int_equal(unpack(&t, LAYER_GZIP, "gz", 1, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    struct stat st;
    assert_int_equal(lstat(at("gz", ""), &st), -1);
}

static void stream_error_wins(void **state)
{
    tarbuf t;
    tar_begin(&t, 0);
    char big[20000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    add_file(&t, "big", big);
    tar_end(&t);
    memstream m = {t.buf, t.used, 0, 1000, 5000};
    img_stream in = {mem_read, &m};
    char dest[PATH_MAX + 16];
    snprintf(dest, sizeof dest, "%s/se", root);
    wc_err err = {0};
    char diff[IMG_DIGEST_LEN + 1];
    assert_int_equal(img_unpack_layer(&in, LAYER_TAR, dest, NULL, diff, &err), -1);
    assert_int_equal(err.code, WC_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "network went away"));
    struct stat st;
    assert_int_equal(lstat(dest, &st), -1);
    free(t.buf);
}

static void clean_paths(void **state)
{
    char out[256];
    wc_err err = {0};
    assert_int_equal(img_tar_clean_path("./a//b/./c/", out, sizeof out, &err), 0);
    assert_string_equal(out, "a/b/c");
    assert_int_equal(img_tar_clean_path("/", out, sizeof out, &err), 0);
    assert_string_equal(out, "");
    assert_int_equal(img_tar_clean_path("a/..b/c..", out, sizeof out, &err), 0);
    assert_string_equal(out, "a/..b/c..");
    assert_int_equal(img_tar_clean_path("a/../b", out, sizeof out, &err), -1);
    assert_int_equal(img_tar_clean_path("..", out, sizeof out, &err), -1);
    assert_int_equal(img_tar_clean_path("", out, sizeof out, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(regular_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(whiteouts, setup, teardown),
        cmocka_unit_test_setup_teardown(dotdot_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(absolute_symlink_then_write_through, setup, teardown),
        cmocka_unit_test_setup_teardown(relative_symlink_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(file_as_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(hardlink_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(devices, setup, teardown),
        cmocka_unit_test_setup_teardown(media_types_and_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(stream_error_wins, setup, teardown),
        cmocka_unit_test(clean_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
