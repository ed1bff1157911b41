/* Linux layer unpack: an uncompressed tar stream (img_tar_reader decompressed and hashed it)
 * becomes a directory usable as an overlayfs lower dir. OCI whiteouts turn into overlay whiteouts:
 * ".wh.NAME" → character device 0:0 at NAME, ".wh..wh..opq" → trusted.overlay.opaque=y on
 * the directory. Nothing may land outside the layer directory: members with "..", members
 * whose path goes through a symlink (or any non-directory), hard links to names outside
 * the layer or not yet in it, and device nodes when not allowed are all refused, and the
 * partial layer is removed. */
#include "image/img_internal.h"

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

#define WH_PREFIX ".wh."
#define WH_META ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define OVL_XATTR_PREFIX "trusted.overlay."

typedef struct unpack_ctx {
    const img_stream *in;
    const img_unpack_opts *opts;
    char root[PATH_MAX];
    wc_err stream_err;
    int stream_failed;
} unpack_ctx;

static la_ssize_t on_read(struct archive *a, void *ud, const void **buf)
{
    unpack_ctx *c = ud;
    ssize_t n = c->in->read(c->in->ctx, buf, &c->stream_err);
    if (n < 0) {
        c->stream_failed = 1;
        archive_set_error(a, EIO, "%s", c->stream_err.msg);
        return -1;
    }
    return n;
}

static int join(const unpack_ctx *c, const char *rel, char *out, size_t cap, wc_err *err)
{
    int n = *rel ? snprintf(out, cap, "%s/%s", c->root, rel) : snprintf(out, cap, "%s", c->root);
    if (n < 0 || (size_t)n >= cap)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "tar member \"%.300s\" is too long", rel);
    return 0;
}

/* Every existing ancestor of rel inside the layer must be a real directory. */
static int check_parents(const unpack_ctx *c, const char *rel, const char *member, wc_err *err)
{
    char path[PATH_MAX];
    if (join(c, rel, path, sizeof path, err) < 0)
        return -1;
    size_t root_len = strlen(c->root);
    for (char *p = path + root_len + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        struct stat st;
        int r = lstat(path, &st);
        if (r < 0) {
            *p = '/';
            return 0; /* the rest does not exist yet; it will be made as directories */
        }
        if (!S_ISDIR(st.st_mode)) {
            int is_link = S_ISLNK(st.st_mode);
            wc_err_set(err, WC_INVALID_ARGUMENT,
                       "tar member \"%.300s\" goes through \"%.300s\", which is %s", member,
                       path + root_len + 1, is_link ? "a symlink" : "not a directory");
            return -1;
        }
        *p = '/';
    }
    return 0;
}

static int ensure_dir(const unpack_ctx *c, const char *rel, wc_err *err)
{
    char path[PATH_MAX];
    if (join(c, rel, path, sizeof path, err) < 0)
        return -1;
    size_t root_len = strlen(c->root);
    for (char *p = path + root_len + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return wc_err_sys(err, WC_INTERNAL, errno, "create directory %s", path);
        *p = saved;
        if (!saved)
            return 0;
    }
}

static void split_parent(const char *rel, char *parent, size_t cap, const char **base)
{
    const char *slash = strrchr(rel, '/');
    if (slash) {
        snprintf(parent, cap, "%.*s", (int)(slash - rel), rel);
        *base = slash + 1;
    } else {
        parent[0] = '\0';
        *base = rel;
    }
}

static int apply_whiteout(unpack_ctx *c, const char *rel, const char *member, wc_err *err)
{
    char parent[PATH_MAX], path[PATH_MAX];
    const char *base;
    split_parent(rel, parent, sizeof parent, &base);
    if (*parent && ensure_dir(c, parent, err) < 0)
        return -1;
    if (strcmp(base, WH_OPAQUE) == 0) {
        if (join(c, parent, path, sizeof path, err) < 0)
            return -1;
        if (setxattr(path, OVL_XATTR_PREFIX "opaque", "y", 1, 0) < 0)
            return wc_err_sys(err, WC_INTERNAL, errno,
                              "tar member \"%.300s\": mark directory opaque", member);
        return 0;
    }
    if (strncmp(base, WH_META, strlen(WH_META)) == 0)
        return 0; /* other aufs metadata (.wh..wh.plnk ...) means nothing to overlayfs */
    const char *name = base + strlen(WH_PREFIX);
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/'))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "tar member \"%.300s\": bad whiteout", member);
    char target_rel[PATH_MAX];
    int len = snprintf(target_rel, sizeof target_rel, "%s%s%s", parent, *parent ? "/" : "", name);
    if (len < 0 || (size_t)len >= sizeof target_rel)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "tar member \"%.300s\" is too long", member);
    if (join(c, target_rel, path, sizeof path, err) < 0 || img_remove_tree(path, err) < 0)
        return -1;
    if (mknod(path, S_IFCHR | 0000, makedev(0, 0)) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "tar member \"%.300s\": create overlay whiteout",
                          member);
    return 0;
}

/* Drops trusted.overlay.* xattrs from a member: they would steer overlayfs. */
static void strip_overlay_xattrs(struct archive_entry *e)
{
    if (archive_entry_xattr_reset(e) == 0)
        return;
    const char *name;
    const void *val;
    size_t size;
    int found = 0;
    while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK)
        if (strncmp(name, OVL_XATTR_PREFIX, strlen(OVL_XATTR_PREFIX)) == 0)
            found = 1;
    if (!found)
        return;
    struct archive_entry *copy = archive_entry_clone(e);
    archive_entry_xattr_clear(e);
    archive_entry_xattr_reset(copy);
    while (archive_entry_xattr_next(copy, &name, &val, &size) == ARCHIVE_OK)
        if (strncmp(name, OVL_XATTR_PREFIX, strlen(OVL_XATTR_PREFIX)) != 0)
            archive_entry_xattr_add_entry(e, name, val, size);
    archive_entry_free(copy);
}

static int fix_hardlink(unpack_ctx *c, struct archive_entry *e, const char *member, wc_err *err)
{
    const char *link = archive_entry_hardlink(e);
    char rel[PATH_MAX], path[PATH_MAX];
    if (img_tar_clean_path(link, rel, sizeof rel, err) < 0)
        return wc_err_prefix(err, "hard link \"%.300s\"", member);
    if (!*rel)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "hard link \"%.300s\" points at the layer root",
                          member);
    if (check_parents(c, rel, member, err) < 0 || join(c, rel, path, sizeof path, err) < 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) < 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "hard link \"%.300s\" points at \"%.300s\", which is not in the layer",
                          member, link);
    if (S_ISDIR(st.st_mode))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "hard link \"%.300s\" points at directory \"%.300s\"", member, link);
    archive_entry_set_hardlink(e, path);
    return 0;
}

static int copy_data(struct archive *a, struct archive *w, const char *member, wc_err *err)
{
    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t off;
        int r = archive_read_data_block(a, &buf, &size, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return wc_err_set(err, WC_INVALID_ARGUMENT, "tar member \"%.300s\": %s", member,
                              archive_error_string(a));
        if (archive_write_data_block(w, buf, size, off) < ARCHIVE_WARN)
            return wc_err_set(err, WC_INTERNAL, "tar member \"%.300s\": %s", member,
                              archive_error_string(w));
    }
}

static int apply_entry(unpack_ctx *c, struct archive *a, struct archive *w, struct archive_entry *e,
                       wc_err *err)
{
    char member[PATH_MAX], rel[PATH_MAX], path[PATH_MAX];
    snprintf(member, sizeof member, "%s",
             archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
    if (img_tar_clean_path(member, rel, sizeof rel, err) < 0)
        return -1;
    if (*rel && check_parents(c, rel, member, err) < 0)
        return -1;
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0)
        return apply_whiteout(c, rel, member, err);
    mode_t type = archive_entry_filetype(e);
    if ((type == AE_IFCHR || type == AE_IFBLK) && !c->opts->allow_devices)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "tar member \"%.300s\" is a device node, which is not allowed here",
                          member);
    if (archive_entry_hardlink(e) && fix_hardlink(c, e, member, err) < 0)
        return -1;
    if (join(c, rel, path, sizeof path, err) < 0)
        return -1;
    archive_entry_set_pathname(e, path);
    strip_overlay_xattrs(e);
    if (archive_write_header(w, e) < ARCHIVE_WARN)
        return wc_err_set(err, WC_INTERNAL, "tar member \"%.300s\": %s", member,
                          archive_error_string(w));
    if (archive_entry_size(e) > 0 && copy_data(a, w, member, err) < 0)
        return -1;
    if (archive_write_finish_entry(w) < ARCHIVE_WARN)
        return wc_err_set(err, WC_INTERNAL, "tar member \"%.300s\": %s", member,
                          archive_error_string(w));
    return 0;
}

/* The stream is already decompressed (img_tar_reader), so only tar formats are read. */
static struct archive *open_reader(unpack_ctx *c)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_set_read_callback(a, on_read);
    archive_read_set_callback_data(a, c);
    return a;
}

static struct archive *open_writer(void)
{
    struct archive *w = archive_write_disk_new();
    archive_write_disk_set_options(w, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                          ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR |
                                          ARCHIVE_EXTRACT_UNLINK | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                          ARCHIVE_EXTRACT_SECURE_NODOTDOT);
    return w;
}

/* Reads all members; the stream's own error wins over libarchive's view of it. */
static int unpack_all(unpack_ctx *c, struct archive *a, struct archive *w, wc_err *err)
{
    if (archive_read_open1(a) != ARCHIVE_OK)
        goto read_failed;
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            goto read_failed;
        if (apply_entry(c, a, w, e, err) < 0) {
            if (c->stream_failed)
                *err = c->stream_err;
            return -1;
        }
    }
    if (archive_write_close(w) != ARCHIVE_OK)
        return wc_err_set(err, WC_INTERNAL, "finish layer: %s", archive_error_string(w));
    return 0;
read_failed:
    if (c->stream_failed) {
        *err = c->stream_err;
        return -1;
    }
    return wc_err_set(err, WC_INVALID_ARGUMENT, "layer is not a valid tar stream: %s",
                      archive_error_string(a) ? archive_error_string(a) : "unknown error");
}

int img_unpack_tar(const img_stream *tar, const char *dest, const img_unpack_opts *opts,
                   wc_err *err)
{
    if (mkdir(dest, 0755) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "create layer directory %s", dest);
    img_unpack_opts defaults = {.allow_devices = geteuid() == 0};
    unpack_ctx c = {.in = tar, .opts = opts ? opts : &defaults};
    if (!realpath(dest, c.root)) {
        int e = errno;
        rmdir(dest);
        return wc_err_sys(err, WC_INTERNAL, e, "resolve %s", dest);
    }
    struct archive *a = open_reader(&c);
    struct archive *w = open_writer();
    int rc = unpack_all(&c, a, w, err);
    archive_write_free(w);
    archive_read_free(a);
    if (rc < 0) {
        wc_err tmp = {0};
        img_remove_tree(dest, &tmp);
    }
    return rc;
}

int img_commit_needs_parents(void)
{
    return 0; /* an overlay lower dir stands alone */
}

/* A rename. dir is free (img_commit_layer's contract), so a failure is a real one. */
int img_commit_layer(const char *tmpdir, const char *dir, const char *const *parents,
                     size_t n_parents, int is_base, wc_err *err)
{
    (void)parents;
    (void)n_parents;
    (void)is_base;
    if (rename(tmpdir, dir) == 0)
        return 0;
    int e = errno;
    wc_err ignored = {0};
    img_remove_tree(tmpdir, &ignored);
    return wc_err_sys(err, WC_INTERNAL, e, "move layer into %s", dir);
}
