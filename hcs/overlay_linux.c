/* The container's root filesystem: an overlay of the image layers (lowerdir, top-most first,
 * which is also the order overlayfs wants) under the container's writable layer. */
#include "hcs/runtime_linux.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common/fs.h"

/* overlayfs takes mount data up to one page. */
#define HCS_MOUNT_DATA_MAX 4096

/* Appends s with the characters overlayfs treats as separators (':' ',') and '\' escaped. */
static int append_escaped(char *buf, size_t cap, size_t *len, const char *s)
{
    for (; *s; s++) {
        int esc = *s == ':' || *s == ',' || *s == '\\';
        if (*len + (size_t)esc + 2 > cap)
            return -1;
        if (esc)
            buf[(*len)++] = '\\';
        buf[(*len)++] = *s;
    }
    buf[*len] = '\0';
    return 0;
}

static int append_raw(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > cap)
        return -1;
    memcpy(buf + *len, s, n + 1);
    *len += n;
    return 0;
}

static int overlay_data(const hcs_rootfs *fs, const char *upper, const char *work, char *buf,
                        size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    if (append_raw(buf, cap, &len, "lowerdir=") < 0)
        return -1;
    for (size_t i = 0; i < fs->n_lower; i++)
        if ((i && append_raw(buf, cap, &len, ":") < 0) ||
            append_escaped(buf, cap, &len, fs->lower_dirs[i]) < 0)
            return -1;
    if (!upper)
        return 0;
    if (append_raw(buf, cap, &len, ",upperdir=") < 0 || append_escaped(buf, cap, &len, upper) < 0 ||
        append_raw(buf, cap, &len, ",workdir=") < 0 || append_escaped(buf, cap, &len, work) < 0)
        return -1;
    return 0;
}

/* A single read-only layer: overlayfs needs two lowers without an upper, so bind it. */
static int bind_readonly(const char *target, const char *src, wc_err *err)
{
    if (mount(src, target, "none", MS_BIND, NULL) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot bind %s at %s", src, target);
    if (mount("none", target, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
        int e = errno;
        umount2(target, MNT_DETACH);
        return wc_err_sys(err, WC_INTERNAL, e, "cannot make %s read-only", target);
    }
    return 0;
}

/* The writable layer inside the scratch dir: upper/ is the container's "/", so 0755 like any
 * root directory; work/ is overlayfs's own. */
static int make_writable_layer(const char *scratch, char *upper, char *work, size_t cap,
                               wc_err *err)
{
    if ((size_t)snprintf(upper, cap, "%s/upper", scratch) >= cap ||
        (size_t)snprintf(work, cap, "%s/work", scratch) >= cap)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "scratch dir path too long: %s", scratch);
    if (wc_mkdir_mode(upper, 0755, err) < 0 || wc_mkdir_mode(work, 0700, err) < 0)
        return -1;
    return 0;
}

int hcs_rootfs_mount(const char *target, const hcs_rootfs *fs, wc_err *err)
{
    int with_upper = fs->scratch_dir && *fs->scratch_dir;
    if (fs->n_lower == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "rootfs for %s has no image layers", target);
    if (!with_upper && !fs->readonly)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "rootfs for %s: a writable rootfs needs a scratch dir", target);
    if (!with_upper && fs->n_lower == 1)
        return bind_readonly(target, fs->lower_dirs[0], err);
    char upper[PATH_MAX], work[PATH_MAX];
    if (with_upper && make_writable_layer(fs->scratch_dir, upper, work, sizeof upper, err) < 0)
        return -1;
    char data[HCS_MOUNT_DATA_MAX];
    if (overlay_data(fs, with_upper ? upper : NULL, work, data, sizeof data) < 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "rootfs for %s: %zu layer paths do not fit the %d-byte overlay options",
                          target, fs->n_lower, HCS_MOUNT_DATA_MAX);
    unsigned long flags = with_upper ? 0 : MS_RDONLY;
    if (mount("overlay", target, "overlay", flags, data) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot mount overlay at %s (%s)", target, data);
    return 0;
}

int hcs_rootfs_unmount(const char *target, wc_err *err)
{
    /* Loop: a bind may have been stacked on itself by an earlier failed attempt. */
    for (int i = 0; i < 8; i++) {
        if (umount2(target, 0) == 0)
            continue;
        if (errno == EINVAL || errno == ENOENT)
            return 0; /* not (or no longer) a mount point */
        if (errno == EBUSY && umount2(target, MNT_DETACH) == 0)
            continue;
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot unmount %s", target);
    }
    return 0;
}
