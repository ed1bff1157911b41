/* Running the OCI runtime binary (and what it runs) as a child: posix_spawn, stdio wiring,
 * capped output capture, timeouts. Every child started here is waited for here, by pid, so
 * it never races the reaper thread, which only waits for pids it was told to watch. */
#include "hcs/runtime_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/xalloc.h"

extern char **environ;

/* A child that ignores SIGKILL for this long after the timeout is abandoned. */
#define HCS_RUN_KILL_GRACE_MS 5000

void hcs_run_opts_init(hcs_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->stdin_fd = o->stdout_fd = o->stderr_fd = o->console_listen = -1;
}

void hcs_run_result_clear(hcs_run_result *r)
{
    free(r->out);
    free(r->err);
    if (r->console_fd >= 0)
        close(r->console_fd);
    memset(r, 0, sizeof *r);
    r->console_fd = -1;
}

char *hcs_find_binary(const char *name)
{
    if (!name || !*name)
        return NULL;
    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? wc_xstrdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char buf[4096];
    while (*path) {
        size_t len = strcspn(path, ":");
        if (len > 0) {
            snprintf(buf, sizeof buf, "%.*s/%s", (int)len, path, name);
            if (access(buf, X_OK) == 0)
                return wc_xstrdup(buf);
        }
        path += len + (path[len] == ':');
    }
    return NULL;
}

/* One captured stream: what was kept, and whether bytes past the cap were dropped. */
typedef struct hcs_sink {
    int fd;
    char *buf;
    size_t len, cap_alloc, limit;
    int truncated;
} hcs_sink;

static void sink_keep(hcs_sink *s, const char *data, size_t n)
{
    if (s->limit && s->len + n > s->limit) {
        s->truncated = 1;
        n = s->limit > s->len ? s->limit - s->len : 0;
    }
    if (n == 0)
        return;
    if (s->len + n + 1 > s->cap_alloc) {
        size_t c = s->cap_alloc ? s->cap_alloc : 4096;
        while (c < s->len + n + 1)
            c *= 2;
        s->buf = wc_xrealloc(s->buf, c);
        s->cap_alloc = c;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

/* Reads what is there; closes the fd at EOF. Non-blocking fds only. */
static void sink_read(hcs_sink *s)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(s->fd, chunk, sizeof chunk);
        if (n > 0) {
            sink_keep(s, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            close(s->fd);
            s->fd = -1;
        }
        return;
    }
}

static int make_pipe(int fds[2], wc_err *err)
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot create a pipe");
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* The parent's ends of the child's stdio pipes and the child's ends. */
typedef struct hcs_wiring {
    int child[3];  /* given to the child as 0, 1, 2 */
    int parent[3]; /* stdin pipe write end, stdout/stderr read ends (-1 when not piped) */
} hcs_wiring;

static int wire_stdio(const hcs_run_opts *o, hcs_wiring *w, wc_err *err)
{
    const int given[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
    for (int i = 0; i < 3; i++)
        w->child[i] = w->parent[i] = -1;
    for (int i = 0; i < 3; i++) {
        if (given[i] >= 0) {
            w->child[i] = given[i];
            continue;
        }
        if (i == 0 && !o->input) {
            w->child[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (w->child[0] < 0)
                return wc_err_sys(err, WC_INTERNAL, errno, "cannot open /dev/null");
            continue;
        }
        int fds[2];
        if (make_pipe(fds, err) < 0)
            return -1;
        w->child[i] = i == 0 ? fds[0] : fds[1];
        w->parent[i] = i == 0 ? fds[1] : fds[0];
        fcntl(w->parent[i], F_SETFL, O_NONBLOCK);
    }
    return 0;
}

/* Closes the child's ends that this file made (not the fds the caller handed in). */
static void unwire_child(const hcs_run_opts *o, hcs_wiring *w)
{
    const int given[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
    for (int i = 0; i < 3; i++)
        if (given[i] < 0)
            close_fd(&w->child[i]);
}

static int spawn_child(const char *const *argv, const hcs_wiring *w, pid_t *pid, wc_err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none;
    sigemptyset(&none);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* The daemon's threads may block signals; the child starts with none blocked. */
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    for (int i = 0; i < 3; i++)
        posix_spawn_file_actions_adddup2(&fa, w->child[i], i);
    int rc = posix_spawn(pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return wc_err_sys(err, WC_INTERNAL, rc, "cannot run %s", argv[0]);
    return 0;
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 255;
}

/* State of one hcs_run call's wait loop. */
typedef struct hcs_runloop {
    const hcs_run_opts *o;
    hcs_run_result *r;
    pid_t pid;
    int pidfd;
    int in_fd;
    size_t in_off;
    hcs_sink sink[2];
    int64_t deadline, kill_deadline;
    int exited, status;
} hcs_runloop;

/* write() to a pipe whose reader is gone, without SIGPIPE killing the daemon: the signal is
 * blocked in this thread for the call and a pending one is consumed. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t n = write(fd, buf, len);
    int e = errno;
    if (n < 0 && e == EPIPE) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return n;
}

static void feed_stdin(hcs_runloop *l)
{
    while (l->in_fd >= 0 && l->in_off < l->o->input_len) {
        ssize_t n = write_nosigpipe(l->in_fd, l->o->input + l->in_off, l->o->input_len - l->in_off);
        if (n > 0) {
            l->in_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        break; /* EPIPE: the child does not want it */
    }
    close_fd(&l->in_fd);
}

static void check_exit(hcs_runloop *l)
{
    int st;
    pid_t got = waitpid(l->pid, &st, WNOHANG);
    if (got == l->pid) {
        l->exited = 1;
        l->status = decode_status(st);
    } else if (got < 0 && errno == ECHILD) {
        l->exited = 1; /* someone else reaped it; the status is lost */
        l->status = 255;
    }
}

static void check_timeout(hcs_runloop *l)
{
    if (!l->deadline)
        return;
    int64_t now = wc_clock_monotonic_ns();
    if (now < l->deadline)
        return;
    if (!l->r->timed_out) {
        l->r->timed_out = 1;
        l->kill_deadline = now + (int64_t)HCS_RUN_KILL_GRACE_MS * 1000000;
    }
    if (l->o->on_timeout && now < l->kill_deadline)
        l->o->on_timeout(l->o->timeout_ctx, l->pid);
    else
        kill(l->pid, SIGKILL);
}

static void poll_once(hcs_runloop *l)
{
    struct pollfd p[5];
    int n = 0, idx_in = -1, idx_con = -1, idx_sink[2] = {-1, -1};
    p[n] = (struct pollfd){.fd = l->pidfd, .events = POLLIN};
    n++;
    if (l->in_fd >= 0) {
        idx_in = n;
        p[n++] = (struct pollfd){.fd = l->in_fd, .events = POLLOUT};
    }
    if (l->o->console_listen >= 0 && l->r->console_fd < 0) {
        idx_con = n;
        p[n++] = (struct pollfd){.fd = l->o->console_listen, .events = POLLIN};
    }
    for (int i = 0; i < 2; i++)
        if (l->sink[i].fd >= 0) {
            idx_sink[i] = n;
            p[n++] = (struct pollfd){.fd = l->sink[i].fd, .events = POLLIN};
        }
    /* A short tick bounds how late a timeout or a missed pidfd wakeup is noticed. */
    int tick = l->deadline || l->pidfd < 0 ? 20 : 1000;
    if (poll(p, (nfds_t)n, tick) < 0)
        return;
    if (idx_in >= 0 && p[idx_in].revents)
        feed_stdin(l);
    if (idx_con >= 0 && p[idx_con].revents) {
        wc_err e = {0};
        if (hcs_console_recv(l->o->console_listen, &l->r->console_fd, &e) < 0)
            l->r->console_fd = -1;
    }
    for (int i = 0; i < 2; i++)
        if (idx_sink[i] >= 0 && p[idx_sink[i]].revents)
            sink_read(&l->sink[i]);
    if (p[0].revents)
        check_exit(l);
}

static void run_loop(hcs_runloop *l)
{
    while (!l->exited) {
        poll_once(l);
        if (!l->exited)
            check_exit(l);
        if (!l->exited)
            check_timeout(l);
    }
    /* The child is gone: take what its output pipes already hold, wait no longer. */
    for (int i = 0; i < 2; i++)
        if (l->sink[i].fd >= 0) {
            sink_read(&l->sink[i]);
            close_fd(&l->sink[i].fd);
        }
    /* A console peer may have connected just before the child exited. */
    if (l->o->console_listen >= 0 && l->r->console_fd < 0) {
        wc_err e = {0};
        if (hcs_console_recv(l->o->console_listen, &l->r->console_fd, &e) < 0)
            l->r->console_fd = -1;
    }
}

static void finish(hcs_runloop *l)
{
    close_fd(&l->in_fd);
    close_fd(&l->pidfd);
    hcs_run_result *r = l->r;
    r->status = l->status;
    r->out = l->sink[0].buf;
    r->out_len = l->sink[0].len;
    r->err = l->sink[1].buf;
    r->err_len = l->sink[1].len;
    r->truncated = l->sink[0].truncated || l->sink[1].truncated;
    /* Callers may print these as strings even when nothing came. */
    if (!r->out)
        r->out = wc_xcalloc(1, 1);
    if (!r->err)
        r->err = wc_xcalloc(1, 1);
}

int hcs_run(const char *const *argv, const hcs_run_opts *o, hcs_run_result *r, wc_err *err)
{
    memset(r, 0, sizeof *r);
    r->console_fd = -1;
    hcs_wiring w;
    if (wire_stdio(o, &w, err) < 0) {
        unwire_child(o, &w);
        for (int i = 0; i < 3; i++)
            close_fd(&w.parent[i]);
        return -1;
    }
    hcs_runloop l = {.o = o, .r = r, .pidfd = -1, .in_fd = w.parent[0]};
    l.sink[0] = (hcs_sink){.fd = w.parent[1], .limit = o->max_output};
    l.sink[1] = (hcs_sink){.fd = w.parent[2], .limit = o->max_output};
    int rc = spawn_child(argv, &w, &l.pid, err);
    unwire_child(o, &w);
    if (rc < 0) {
        for (int i = 0; i < 3; i++)
            close_fd(&w.parent[i]);
        return -1;
    }
    l.pidfd = (int)syscall(SYS_pidfd_open, l.pid, 0);
    if (o->timeout_ms > 0)
        l.deadline = wc_clock_monotonic_ns() + o->timeout_ms * 1000000;
    if (l.in_fd >= 0)
        feed_stdin(&l);
    run_loop(&l);
    finish(&l);
    return 0;
}

const char **hcs_runc_argv(const hcs_runtime *rt, const char *log_file, const char *const *args)
{
    size_t n = 0;
    while (args[n])
        n++;
    const char **argv = wc_xcalloc(n + 8, sizeof *argv);
    size_t k = 0;
    argv[k++] = rt->binary;
    argv[k++] = "--root";
    argv[k++] = rt->root;
    if (log_file) {
        argv[k++] = "--log";
        argv[k++] = log_file;
        argv[k++] = "--log-format";
        argv[k++] = "json";
    }
    for (size_t i = 0; i < n; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    return argv;
}

/* Copies the value of the last msg="..." (text logs) or "msg":"..." (JSON logs) in text, or
 * the last non-empty line when there is none. */
void hcs_runc_message(const char *text, size_t len, char *out, size_t cap)
{
    out[0] = '\0';
    if (!text || cap == 0)
        return;
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i + 5 <= len; i++) {
        size_t skip = 0;
        if (strncmp(text + i, "msg=\"", 5) == 0)
            skip = 5;
        else if (i + 7 <= len && strncmp(text + i, "\"msg\":\"", 7) == 0)
            skip = 7;
        if (!skip)
            continue;
        const char *v = text + i + skip;
        size_t j = 0;
        while (v + j < text + len && v[j] != '"' && v[j] != '\n') {
            if (v[j] == '\\' && v + j + 1 < text + len)
                j++;
            j++;
        }
        best = v;
        best_len = j;
    }
    if (!best) {
        /* No logrus fields: the last non-empty line. */
        size_t end = len;
        while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == ' '))
            end--;
        size_t start = end;
        while (start > 0 && text[start - 1] != '\n')
            start--;
        best = text + start;
        best_len = end - start;
    }
    /* Unescape the little that runc escapes, so the message reads as it was written. */
    size_t k = 0;
    for (size_t i = 0; i < best_len && k + 1 < cap; i++) {
        char c = best[i];
        if (c == '\\' && i + 1 < best_len) {
            c = best[++i];
            if (c == 'n' || c == 't')
                c = ' ';
        }
        out[k++] = c;
    }
    out[k] = '\0';
}
