/* The container's root filesystem: an overlay of the image layers (lowerdir, top-most first,
 * which is also the order overlayfs wants) under the container's writable layer. */
#include "hcs/runtime_linux.h"

#include <errno.h>
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

static int overlay_data(const hcs_rootfs *fs, int with_upper, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    if (append_raw(buf, cap, &len, "lowerdir=") < 0)
        return -1;
    for (size_t i = 0; i < fs->n_lower; i++)
        if ((i && append_raw(buf, cap, &len, ":") < 0) ||
            append_escaped(buf, cap, &len, fs->lower_dirs[i]) < 0)
            return -1;
    if (!with_upper)
        return 0;
    if (append_raw(buf, cap, &len, ",upperdir=") < 0 ||
        append_escaped(buf, cap, &len, fs->upper_dir) < 0 ||
        append_raw(buf, cap, &len, ",workdir=") < 0 ||
        append_escaped(buf, cap, &len, fs->work_dir) < 0)
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

int hcs_rootfs_mount(const char *target, const hcs_rootfs *fs, wc_err *err)
{
    int with_upper = fs->upper_dir && *fs->upper_dir;
    if (fs->n_lower == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "rootfs for %s has no image layers", target);
    if (!with_upper && !fs->readonly)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "rootfs for %s: a writable rootfs needs an upper dir", target);
    if (with_upper && (!fs->work_dir || !*fs->work_dir))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "rootfs for %s: upper dir without work dir",
                          target);
    if (!with_upper && fs->n_lower == 1)
        return bind_readonly(target, fs->lower_dirs[0], err);
    if (with_upper &&
        (wc_mkdir_p(fs->upper_dir, 0755, err) < 0 || wc_mkdir_p(fs->work_dir, 0755, err) < 0))
        return -1;
    char data[HCS_MOUNT_DATA_MAX];
    if (overlay_data(fs, with_upper, data, sizeof data) < 0)
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
