#include "common/fs.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct wc_lock {
    int fd;
    char *path;
};

int wc_mkdir_p(const char *dir, int mode, wc_err *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "path too long: %s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
            return wc_err_sys(err, WC_INTERNAL, errno, "cannot create directory %s", buf);
        *p = '/';
    }
    if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot create directory %s", buf);
    return 0;
}

int wc_mkdir_mode(const char *dir, int mode, wc_err *err)
{
    if (wc_mkdir_p(dir, mode, err) < 0)
        return -1;
    if (chmod(dir, (mode_t)mode) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot set the mode of %s", dir);
    return 0;
}

int wc_file_private(const char *path, int create, wc_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
    if (fd < 0 && errno == ENOENT && !create)
        return 0;
    if (fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot open %s", path);
    int rc =
        fchmod(fd, 0600) < 0 ? wc_err_sys(err, WC_INTERNAL, errno, "cannot chmod %s", path) : 0;
    close(fd);
    return rc;
}

static int read_holder_pid(int fd)
{
    char buf[32] = {0};
    if (pread(fd, buf, sizeof buf - 1, 0) <= 0)
        return 0;
    return atoi(buf);
}

int wc_lock_acquire(const char *path, wc_lock **out, wc_err *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot open lock file %s", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        int pid = read_holder_pid(fd);
        close(fd);
        if (e == EWOULDBLOCK)
            return wc_err_set(err, WC_FAILED_PRECONDITION,
                              "another wincrid (pid %d) is already running on this root; lock "
                              "file %s is held",
                              pid, path);
        return wc_err_sys(err, WC_INTERNAL, e, "cannot lock %s", path);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        close(fd);
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot write lock file %s", path);
    }
    wc_lock *l = wc_xmalloc(sizeof *l);
    l->fd = fd;
    l->path = wc_xstrdup(path);
    *out = l;
    return 0;
}

void wc_lock_release(wc_lock *l)
{
    if (!l)
        return;
    if (ftruncate(l->fd, 0) < 0) {
        /* harmless: the next holder overwrites the pid */
    }
    close(l->fd);
    free(l->path);
    free(l);
}

int wc_write_file_atomic(const char *path, const void *data, size_t len, int mode, wc_err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot create %s", tmp);
    if (fchmod(fd, (mode_t)mode) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return wc_err_sys(err, WC_INTERNAL, e, "cannot chmod %s", tmp);
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return wc_err_sys(err, WC_INTERNAL, e, "cannot write %s", tmp);
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return wc_err_sys(err, WC_INTERNAL, e, "cannot replace %s", path);
    }
    return 0;
}

char *wc_path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *out = wc_xmalloc(n);
    size_t la = strlen(a);
    snprintf(out, n, "%s%s%s", a, (la && a[la - 1] == '/') ? "" : "/", b);
    return out;
}
