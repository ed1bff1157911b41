/* Running a CNI plugin on Linux: posix_spawn with its stdin, stdout and stderr on our own
 * descriptors, a deadline, and waitpid on that one pid (the daemon's reaper thread only
 * reaps the pids it registered, so this child is ours to collect). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "hns/cni_int.h"

extern char **environ;

#define OUTPUT_MAX (16u << 20) /* a plugin printing more than this is broken */
#define POLL_SLICE_MS 200

static char *find_plugin(const hns_cni_exec_req *rq, wc_err *err)
{
    for (size_t i = 0; i < rq->n_bin_dirs; i++) {
        size_t n = strlen(rq->bin_dirs[i]) + strlen(rq->plugin) + 2;
        char *path = wc_xmalloc(n);
        snprintf(path, n, "%s/%s", rq->bin_dirs[i], rq->plugin);
        if (access(path, X_OK) == 0)
            return path;
        free(path);
    }
    char dirs[512] = "";
    for (size_t i = 0, used = 0; i < rq->n_bin_dirs && used < sizeof dirs; i++)
        used += (size_t)snprintf(dirs + used, sizeof dirs - used, "%s%s", i ? ", " : "",
                                 rq->bin_dirs[i]);
    wc_err_set(err, WC_FAILED_PRECONDITION, "CNI plugin %s not found in %s", rq->plugin, dirs);
    return NULL;
}

static char *cni_path(const hns_cni_exec_req *rq)
{
    size_t n = 16;
    for (size_t i = 0; i < rq->n_bin_dirs; i++)
        n += strlen(rq->bin_dirs[i]) + 1;
    char *s = wc_xmalloc(n);
    size_t used = (size_t)snprintf(s, n, "CNI_PATH=");
    for (size_t i = 0; i < rq->n_bin_dirs; i++)
        used += (size_t)snprintf(s + used, n - used, "%s%s", i ? ":" : "", rq->bin_dirs[i]);
    return s;
}

/* The daemon's environment (plugins run iptables and friends via PATH) without any CNI_*
 * of its own, then the call's CNI_* and CNI_PATH. Strings are borrowed except the last. */
static char **build_env(const hns_cni_exec_req *rq, char **path_var)
{
    size_t n = 0, m = 0;
    while (environ && environ[n])
        n++;
    while (rq->env[m])
        m++;
    char **env = wc_xcalloc(n + m + 2, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "CNI_", 4) != 0)
            env[k++] = environ[i];
    for (size_t i = 0; i < m; i++)
        env[k++] = (char *)rq->env[i];
    *path_var = cni_path(rq);
    env[k++] = *path_var;
    return env;
}

typedef struct child {
    pid_t pid;
    int in, out, errfd; /* our ends; -1 once closed */
} child;

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* stdin is a socket so writing to a plugin that already quit gives EPIPE, not SIGPIPE. */
static int spawn_plugin(const char *path, char **env, child *c, wc_err *err)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
        pipe2(errp, O_CLOEXEC) < 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            close_fd(&in[i]);
            close_fd(&out[i]);
            close_fd(&errp[i]);
        }
        return wc_err_sys(err, WC_INTERNAL, e, "CNI plugin %s: cannot make pipes", path);
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[1], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {(char *)path, NULL};
    int rc = posix_spawn(&c->pid, path, &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(in[1]);
    close(out[1]);
    close(errp[1]);
    c->in = in[0];
    c->out = out[0];
    c->errfd = errp[0];
    if (rc != 0) {
        close_fd(&c->in);
        close_fd(&c->out);
        close_fd(&c->errfd);
        return wc_err_sys(err, WC_INTERNAL, rc, "CNI plugin %s: cannot start it", path);
    }
    set_nonblock(c->in);
    set_nonblock(c->out);
    set_nonblock(c->errfd);
    return 0;
}

typedef struct buf {
    char *data;
    size_t len;
} buf;

/* Reads what is there; closes fd at EOF or error. */
static void drain(int *fd, buf *b)
{
    char chunk[8192];
    for (;;) {
        ssize_t n = read(*fd, chunk, sizeof chunk);
        if (n > 0) {
            if (b->len + (size_t)n <= OUTPUT_MAX) {
                b->data = wc_xrealloc(b->data, b->len + (size_t)n + 1);
                memcpy(b->data + b->len, chunk, (size_t)n);
                b->len += (size_t)n;
                b->data[b->len] = '\0';
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        close_fd(fd);
        return;
    }
}

static void feed(int *fd, const char *data, size_t len, size_t *sent)
{
    while (*sent < len) {
        ssize_t n = send(*fd, data + *sent, len - *sent, MSG_NOSIGNAL);
        if (n > 0) {
            *sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        break; /* EPIPE: the plugin does not want the rest */
    }
    close_fd(fd); /* EOF tells the plugin its config is complete */
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_exit(pid_t pid, int flags, int *status)
{
    pid_t r;
    do
        r = waitpid(pid, status, flags);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno == ECHILD) {
        /* Collected elsewhere (SIGCHLD ignored, or a stray wait): its output still tells
         * success from failure, so do not wait for a status that will never come. */
        *status = 0;
        return 1;
    }
    return r == pid;
}

/* Feeds stdin and collects output until the plugin exits; a grandchild that keeps the
 * pipes open does not hold us past the plugin's own exit. Returns 0, or -1 on timeout. */
/* The plugin closed its output, so it is exiting: wait for exactly that, up to the deadline.
 * A pidfd wakes us the moment it exits; without one (old kernels, valgrind) poll every 1 ms. */
static int wait_exit_until(pid_t pid, long long deadline, int *status)
{
#ifdef SYS_pidfd_open
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
    int pidfd = -1;
#endif
    int exited = 0;
    while (!(exited = wait_exit(pid, WNOHANG, status))) {
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {pidfd, POLLIN, 0};
        if (pidfd >= 0)
            poll(&p, 1, left < POLL_SLICE_MS ? (int)left : POLL_SLICE_MS);
        else
            poll(NULL, 0, 1);
    }
    if (pidfd >= 0)
        close(pidfd);
    return exited;
}

static int pump(child *c, const char *data, buf *out, buf *errb, int timeout_ms, int *status)
{
    size_t len = strlen(data), sent = 0;
    long long deadline = now_ms() + timeout_ms;
    int exited = 0;
    while (!exited) {
        struct pollfd p[3] = {{c->in, POLLOUT, 0}, {c->out, POLLIN, 0}, {c->errfd, POLLIN, 0}};
        long long left = deadline - now_ms();
        if (left <= 0)
            return -1;
        int r = poll(p, 3, left < POLL_SLICE_MS ? (int)left : POLL_SLICE_MS);
        if (r < 0 && errno != EINTR)
            return -1;
        if (c->in >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP)))
            feed(&c->in, data, len, &sent);
        if (c->out >= 0 && p[1].revents)
            drain(&c->out, out);
        if (c->errfd >= 0 && p[2].revents)
            drain(&c->errfd, errb);
        if (c->out < 0 && c->errfd < 0) {
            if (!wait_exit_until(c->pid, deadline, status))
                return -1;
            exited = 1;
        } else if (r == 0) {
            exited = wait_exit(c->pid, WNOHANG, status);
        }
    }
    if (c->out >= 0)
        drain(&c->out, out);
    if (c->errfd >= 0)
        drain(&c->errfd, errb);
    return 0;
}

static int exit_code_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int hns_cni_exec(const hns_cni_exec_req *rq, char **out, char **err_text, int *exit_code,
                 wc_err *err)
{
    *out = NULL;
    *err_text = NULL;
    char *path = find_plugin(rq, err);
    if (!path)
        return -1;
    char *path_var = NULL;
    char **env = build_env(rq, &path_var);
    child c = {-1, -1, -1, -1};
    int rc = spawn_plugin(path, env, &c, err);
    free(env);
    free(path_var);
    if (rc < 0) {
        free(path);
        return -1;
    }
    buf o = {0}, e = {0};
    int status = 0;
    if (pump(&c, rq->stdin_json, &o, &e, rq->timeout_ms, &status) < 0) {
        kill(c.pid, SIGKILL);
        wait_exit(c.pid, 0, &status);
        rc = wc_err_set(err, WC_DEADLINE_EXCEEDED, "CNI plugin %s did not finish within %d ms",
                        rq->plugin, rq->timeout_ms);
    }
    close_fd(&c.in);
    close_fd(&c.out);
    close_fd(&c.errfd);
    free(path);
    if (rc < 0) {
        free(o.data);
        free(e.data);
        return -1;
    }
    *out = o.data ? o.data : wc_xstrdup("");
    *err_text = e.data ? e.data : wc_xstrdup("");
    *exit_code = exit_code_of(status);
    return 0;
}
