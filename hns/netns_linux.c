/* Pod network namespaces on Linux, named the way iproute2 names them: a file under
 * /run/netns with the namespace bind-mounted on it, so `ip netns exec` works on them too.
 * Each namespace switch happens in a short-lived helper thread; the daemon's own threads
 * never leave the host namespace. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <stdint.h>
#include <unistd.h>

#include "hns/cni_int.h"
#include "common/xalloc.h"

#define NETNS_DIR "/run/netns"
#define NETNS_PREFIX "wincri-"
#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

static pthread_mutex_t dir_lock = PTHREAD_MUTEX_INITIALIZER;

/* Makes NETNS_DIR a shared mount point, as iproute2 does, so namespace mounts made here
 * propagate into mount namespaces created later (containers, `ip netns exec`). */
static int netns_dir_ready(wc_err *err)
{
    pthread_mutex_lock(&dir_lock);
    int rc = 0;
    if (mkdir(NETNS_DIR, 0755) < 0 && errno != EEXIST)
        rc = wc_err_sys(err, WC_INTERNAL, errno, "cannot create %s", NETNS_DIR);
    if (rc == 0 && mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
        /* EINVAL: not a mount point yet; bind it onto itself first. */
        if (errno != EINVAL || mount(NETNS_DIR, NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
            mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
            rc = wc_err_sys(err, WC_INTERNAL, errno, "cannot make %s a shared mount", NETNS_DIR);
    }
    pthread_mutex_unlock(&dir_lock);
    return rc;
}

static int is_netns_mount(const char *path)
{
    struct statfs fs;
    return statfs(path, &fs) == 0 && (unsigned long)fs.f_type == (unsigned long)NSFS_MAGIC;
}

static int lo_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

typedef struct ns_job {
    const char *path;
    int ns_fd; /* for entering an existing namespace */
    int sys;   /* errno of the failed step */
    const char *step;
    uint64_t rx, tx;
    int port, sock; /* connect: target port on 127.0.0.1, the connected socket */
} ns_job;

/* Runs in its own thread: the new namespace is this thread's only. */
static void *create_in_thread(void *arg)
{
    ns_job *j = arg;
    if (unshare(CLONE_NEWNET) < 0)
        j->step = "unshare(CLONE_NEWNET)";
    else if (mount("/proc/thread-self/ns/net", j->path, "none", MS_BIND, NULL) < 0)
        j->step = "bind mount";
    else if (lo_up() < 0)
        j->step = "bringing lo up";
    if (j->step)
        j->sys = errno;
    return NULL;
}

static int run_thread(void *(*fn)(void *), ns_job *j, wc_err *err)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, j);
    if (rc != 0)
        return wc_err_sys(err, WC_INTERNAL, rc, "cannot start a namespace helper thread");
    pthread_join(t, NULL);
    return 0;
}

static void netns_unmount(const char *path)
{
    umount2(path, MNT_DETACH);
    unlink(path);
}

char *hns_netns_name(hns_network *net, const char *pod_id)
{
    (void)net;
    if (!pod_id || !*pod_id || strchr(pod_id, '/') || strcmp(pod_id, "..") == 0)
        return NULL;
    size_t n = sizeof NETNS_DIR "/" NETNS_PREFIX + strlen(pod_id);
    char *path = wc_xmalloc(n);
    if (path)
        snprintf(path, n, "%s/%s%s", NETNS_DIR, NETNS_PREFIX, pod_id);
    return path;
}

int hns_netns_create(hns_network *net, const char *pod_id, char **netns, wc_err *err)
{
    char *path = hns_netns_name(net, pod_id);
    if (!path)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "network namespace: bad pod id \"%s\"",
                          pod_id ? pod_id : "");
    if (netns_dir_ready(err) < 0) {
        free(path);
        return -1;
    }
    if (is_netns_mount(path)) {
        wc_err_set(err, WC_ALREADY_EXISTS, "network namespace %s already exists", path);
        free(path);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
    if (fd < 0) {
        wc_err_sys(err, WC_INTERNAL, errno, "cannot create %s", path);
        free(path);
        return -1;
    }
    close(fd);
    ns_job j = {.path = path, .ns_fd = -1};
    if (run_thread(create_in_thread, &j, err) < 0 || j.step) {
        if (j.step)
            wc_err_sys(err, WC_INTERNAL, j.sys, "network namespace %s: %s failed", path, j.step);
        netns_unmount(path);
        free(path);
        return -1;
    }
    *netns = path;
    return 0;
}

/* Only our own names are touched, so a bad argument cannot unmount something else. */
static int check_ours(const char *netns, wc_err *err)
{
    const char *prefix = NETNS_DIR "/" NETNS_PREFIX;
    if (!netns || strncmp(netns, prefix, strlen(prefix)) != 0 ||
        strchr(netns + strlen(prefix), '/') || !netns[strlen(prefix)])
        return wc_err_set(err, WC_INVALID_ARGUMENT, "\"%s\" is not a wincri network namespace",
                          netns ? netns : "");
    return 0;
}

int hns_netns_remove(hns_network *net, const char *netns, wc_err *err)
{
    if (check_ours(netns, err) < 0)
        return -1;
    if (umount2(netns, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot unmount network namespace %s", netns);
    if (unlink(netns) < 0 && errno != ENOENT)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot remove %s", netns);
    return 0;
}

/* Sums /proc/net/dev as this thread sees it, skipping lo. */
static int read_dev_counters(ns_job *j)
{
    FILE *f = fopen("/proc/thread-self/net/dev", "re");
    if (!f)
        return -1;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue; /* the two header lines */
        *colon = '\0';
        char *name = line + strspn(line, " ");
        unsigned long long v[9];
        if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) != 9)
            continue;
        if (strcmp(name, "lo") == 0)
            continue;
        j->rx += v[0]; /* receive bytes is the first column, transmit bytes the ninth */
        j->tx += v[8];
    }
    fclose(f);
    return 0;
}

static void *stats_in_thread(void *arg)
{
    ns_job *j = arg;
    if (setns(j->ns_fd, CLONE_NEWNET) < 0)
        j->step = "setns";
    else if (read_dev_counters(j) < 0)
        j->step = "reading /proc/thread-self/net/dev";
    if (j->step)
        j->sys = errno;
    return NULL;
}

int hns_netns_stats(hns_network *net, const char *netns, uint64_t *rx_bytes, uint64_t *tx_bytes,
                    wc_err *err)
{
    int fd = open(netns, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wc_err_sys(err, errno == ENOENT ? WC_NOT_FOUND : WC_INTERNAL, errno,
                          "network namespace %s", netns);
    ns_job j = {.path = netns, .ns_fd = fd};
    int rc = run_thread(stats_in_thread, &j, err);
    close(fd);
    if (rc == 0 && j.step)
        rc = wc_err_sys(err, WC_INTERNAL, j.sys, "network namespace %s: %s failed", netns, j.step);
    if (rc == 0) {
        *rx_bytes = j.rx;
        *tx_bytes = j.tx;
    }
    return rc;
}

/* Connects to 127.0.0.1:port from the calling thread's network namespace. */
static void connect_loopback(ns_job *j)
{
    j->sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (j->sock < 0) {
        j->step = "socket";
        j->sys = errno;
        return;
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)j->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc;
    while ((rc = connect(j->sock, (struct sockaddr *)&a, sizeof a)) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        j->step = "connect";
        j->sys = errno;
        close(j->sock);
        j->sock = -1;
    }
}

/* A socket belongs to the namespace it was made in, whatever thread uses it later. */
static void *connect_in_thread(void *arg)
{
    ns_job *j = arg;
    if (setns(j->ns_fd, CLONE_NEWNET) < 0) {
        j->step = "setns";
        j->sys = errno;
        return NULL;
    }
    connect_loopback(j);
    return NULL;
}

int hns_netns_connect(hns_network *net, const char *netns, int port, int *fd, wc_err *err)
{
    *fd = -1;
    if (port <= 0 || port > 65535)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "port %d is not in 1..65535", port);
    ns_job j = {.path = netns, .ns_fd = -1, .port = port, .sock = -1};
    int rc = 0;
    if (!netns || !*netns) {
        connect_loopback(&j); /* host network: the daemon's own namespace */
    } else {
        j.ns_fd = open(netns, O_RDONLY | O_CLOEXEC);
        if (j.ns_fd < 0)
            return wc_err_sys(err, errno == ENOENT ? WC_NOT_FOUND : WC_INTERNAL, errno,
                              "network namespace %s", netns);
        rc = run_thread(connect_in_thread, &j, err);
        close(j.ns_fd);
    }
    if (rc == 0 && j.step)
        rc = wc_err_sys(err, j.sys == ECONNREFUSED ? WC_UNAVAILABLE : WC_INTERNAL, j.sys,
                        "connect to 127.0.0.1:%d in %s: %s failed", port,
                        netns && *netns ? netns : "the host network", j.step);
    if (rc == 0)
        *fd = j.sock;
    return rc;
}
