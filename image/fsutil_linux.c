/* File helpers for the store on Linux: directory trees, atomic writes, du-like usage. */
#include "image/img_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/xalloc.h"

int img_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int img_mkdir_p(const char *path, wc_err *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return wc_err_set(err, WC_INTERNAL, "path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return wc_err_sys(err, WC_INTERNAL, errno, "create directory %s", buf);
        *p = saved;
        if (!saved)
            break;
    }
    return 0;
}

int img_same_filesystem(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev;
}

int img_remove_tree(const char *path, wc_err *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : wc_err_sys(err, WC_INTERNAL, errno, "stat %s", path);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return wc_err_sys(err, WC_INTERNAL, errno, "remove %s", path);
        return 0;
    }
    char *const roots[] = {(char *)path, NULL};
    FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, NULL);
    if (!fts)
        return wc_err_sys(err, WC_INTERNAL, errno, "walk %s", path);
    int rc = 0;
    FTSENT *e;
    while ((e = fts_read(fts)) != NULL) {
        if (e->fts_info == FTS_D) {
            /* Make sure we can enter and empty directories unpacked read-only. */
            chmod(e->fts_accpath, 0700);
            continue;
        }
        int r = e->fts_info == FTS_DP ? rmdir(e->fts_accpath) : unlink(e->fts_accpath);
        if (r < 0 && errno != ENOENT && rc == 0)
            rc = wc_err_sys(err, WC_INTERNAL, errno, "remove %s", e->fts_path);
    }
    fts_close(fts);
    return rc;
}

/* (dev, inode) pairs of files with several links, so each counts once as in du. */
typedef struct inoset {
    uint64_t *keys;
    size_t cap, n;
} inoset;

static uint64_t ino_key(dev_t dev, ino_t ino)
{
    return ((uint64_t)ino * 0x9E3779B97F4A7C15ull) ^ (uint64_t)dev;
}

/* Returns 1 when newly added. Key 0 is reserved for empty slots. */
static int inoset_add(inoset *s, uint64_t key)
{
    if (key == 0)
        key = 1;
    if (s->n * 2 >= s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        uint64_t *nk = wc_xcalloc(ncap, sizeof *nk);
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->keys[i])
                continue;
            size_t j = s->keys[i] % ncap;
            while (nk[j])
                j = (j + 1) % ncap;
            nk[j] = s->keys[i];
        }
        free(s->keys);
        s->keys = nk;
        s->cap = ncap;
    }
    size_t j = key % s->cap;
    while (s->keys[j]) {
        if (s->keys[j] == key)
            return 0;
        j = (j + 1) % s->cap;
    }
    s->keys[j] = key;
    s->n++;
    return 1;
}

/* Unescapes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_octal(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] && p[3]) {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

static int path_under(const char *path, const char *mnt)
{
    size_t n = strlen(mnt);
    if (strcmp(mnt, "/") == 0)
        return 1;
    return strncmp(path, mnt, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* The mount points of our mount namespace, read from /proc/self/mountinfo only when it
 * changed: with a few hundred containers (an overlay mount each, long option strings) one
 * read of it is ~1 ms, and ListContainerStats measured every writable layer, so reading it
 * per measurement made that call O(containers^2) (0.85 s for 500). The kernel marks an open
 * mountinfo file with POLLPRI after every mount or unmount (proc(5)); a poll with no
 * timeout tells whether the cached list is still the table. */
static struct {
    pthread_mutex_t mu;
    int watch; /* /proc/self/mountinfo, kept open for poll */
    char **points;
    size_t n;
    int valid;
} mnt = {.mu = PTHREAD_MUTEX_INITIALIZER, .watch = -1};

static void mounts_reload(void)
{
    for (size_t i = 0; i < mnt.n; i++)
        free(mnt.points[i]);
    free(mnt.points);
    mnt.points = NULL;
    mnt.n = 0;
    mnt.valid = 0;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return;
    size_t cap = 0;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char point[PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
            continue;
        if (mnt.n == cap) {
            cap = cap ? cap * 2 : 64;
            char **v = wc_xrealloc(mnt.points, cap * sizeof *v);
            mnt.points = v;
        }
        unescape_octal(point);
        mnt.points[mnt.n++] = wc_xstrdup(point);
    }
    fclose(f);
    mnt.valid = 1;
}

static char *mountpoint_of(const char *dir)
{
    char real[PATH_MAX], probe[PATH_MAX];
    snprintf(probe, sizeof probe, "%s", dir);
    /* A directory not made yet lives on its nearest existing ancestor's filesystem. */
    while (!realpath(probe, real)) {
        char *slash = strrchr(probe, '/');
        if (!slash || slash == probe)
            return wc_xstrdup("/");
        *slash = '\0';
    }
    pthread_mutex_lock(&mnt.mu);
    if (mnt.watch < 0)
        mnt.watch = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    struct pollfd pfd = {.fd = mnt.watch, .events = POLLPRI};
    /* The watch reports changes made after it was opened; before the first read there is no
     * list (valid 0). */
    if (mnt.watch < 0 || !mnt.valid ||
        (poll(&pfd, 1, 0) != 0 && (pfd.revents & (POLLPRI | POLLERR))))
        mounts_reload();
    const char *best = NULL;
    for (size_t i = 0; i < mnt.n; i++)
        if (path_under(real, mnt.points[i]) && (!best || strlen(mnt.points[i]) >= strlen(best)))
            best = mnt.points[i];
    char *out = wc_xstrdup(best ? best : "/");
    if (mnt.watch < 0) /* no way to know when it changes: read it every time, as before */
        mnt.valid = 0;
    pthread_mutex_unlock(&mnt.mu);
    return out;
}

int img_fs_measure(const char *dir, img_fs_usage *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    out->timestamp_ns = wc_clock_realtime_ns();
    out->mountpoint = mountpoint_of(dir);
    if (!img_path_exists(dir))
        return 0;
    char *const roots[] = {(char *)dir, NULL};
    FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, NULL);
    if (!fts)
        return wc_err_sys(err, WC_INTERNAL, errno, "walk %s", dir);
    inoset seen = {0};
    FTSENT *e;
    while ((e = fts_read(fts)) != NULL) {
        if (e->fts_info == FTS_DP || e->fts_info == FTS_DNR || e->fts_info == FTS_NS ||
            e->fts_info == FTS_ERR)
            continue;
        const struct stat *st = e->fts_statp;
        if (st->st_nlink > 1 && !S_ISDIR(st->st_mode) &&
            !inoset_add(&seen, ino_key(st->st_dev, st->st_ino)))
            continue;
        out->used_bytes += (uint64_t)st->st_blocks * 512u;
        out->inodes_used++;
    }
    fts_close(fts);
    free(seen.keys);
    return 0;
}

/* One syncfs rather than an fsync per file: a layer can hold many thousands of files. */
int img_sync_fs(const char *path, wc_err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "open %s", path);
    int rc = syncfs(fd) < 0 ? wc_err_sys(err, WC_INTERNAL, errno, "sync %s", path) : 0;
    close(fd);
    return rc;
}

int img_write_file_atomic(const char *path, const void *p, size_t n, int sync, wc_err *err)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "create %s", tmp);
    const char *c = p;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, c + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return wc_err_sys(err, WC_INTERNAL, e, "write %s", tmp);
        }
        done += (size_t)w;
    }
    fchmod(fd, 0600); /* blobs of private images are private too */
    if ((sync && fsync(fd) < 0) || close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return wc_err_sys(err, WC_INTERNAL, e, "write %s", path);
    }
    return 0;
}

int img_read_file(const char *path, size_t max, char **out, size_t *len, wc_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wc_err_sys(err, errno == ENOENT ? WC_NOT_FOUND : WC_INTERNAL, errno, "open %s",
                          path);
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size > max) {
        close(fd);
        return wc_err_set(err, WC_INTERNAL, "%s is larger than %zu bytes", path, max);
    }
    char *buf = wc_xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    if (len)
        *len = got;
    return 0;
}

int img_file_create(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

int img_file_open(const char *path)
{
    return open(path, O_RDONLY | O_CLOEXEC);
}

int img_file_write(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t img_file_read(int fd, void *buf, size_t cap)
{
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}

int img_file_close(int fd)
{
    return close(fd);
}

int img_rename(const char *from, const char *to)
{
    return rename(from, to);
}
