/* Container output → CRI log file: one record per line, "<RFC3339Nano> <stream> <F|P> <text>",
 * lines longer than POD_LOG_LINE_MAX split into P (partial) records ending with an F. The same
 * bytes go to any attachers' taps (model.h), which never hold up the log. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "podsandbox/model.h"

#define POD_LOG_LINE_MAX (16 * 1024)
/* How much an attacher may fall behind before it is dropped. */
#define POD_TAP_PIPE_SIZE (1024 * 1024)

struct pod_tap {
    int fd[2]; /* write ends for stdout and stderr; -1 when not wanted or closed */
    int ended; /* dropped, released, or the output ended */
    int refs;  /* the logger's and the attacher's */
    pod_tap *next;
};

/* Guards every tap and every logger's tap list: taps outlive loggers, so no logger lock fits. */
static pthread_mutex_t taps_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct stream_buf {
    int fd;
    const char *name;
    char data[POD_LOG_LINE_MAX];
    size_t len;
} stream_buf;

struct pod_logger {
    char *path;
    int log_fd;
    stream_buf streams[2];
    int wake[2];
    pthread_t thread;
    pthread_mutex_t mu; /* guards log_fd against reopen, and stdin_fd */
    int stopping;
    int stdin_fd;    /* the container's stdin, kept for attachers; -1 */
    pod_tap *taps;   /* guarded by taps_mu */
    int open_out[2]; /* guarded by taps_mu: the stream has not ended */
};

/* ---- taps ---- */

static void tap_end_locked(pod_tap *t)
{
    for (int i = 0; i < 2; i++)
        if (t->fd[i] >= 0) {
            close(t->fd[i]);
            t->fd[i] = -1;
        }
    t->ended = 1;
}

static void tap_unref_locked(pod_tap *t)
{
    if (--t->refs == 0) {
        tap_end_locked(t);
        free(t);
    }
}

/* Copies output to every tap; one that cannot take it all now is dropped. */
static void fan_out(pod_logger *l, int idx, const char *data, size_t n)
{
    pthread_mutex_lock(&taps_mu);
    for (pod_tap **pp = &l->taps; *pp;) {
        pod_tap *t = *pp;
        if (t->ended) {
            *pp = t->next;
            tap_unref_locked(t);
            continue;
        }
        if (t->fd[idx] >= 0 && write(t->fd[idx], data, n) != (ssize_t)n) {
            wc_debug("pod", "dropping a slow attacher", "path=%s", l->path);
            tap_end_locked(t);
        }
        pp = &t->next;
    }
    pthread_mutex_unlock(&taps_mu);
}

/* A stream of the container ended: its taps see EOF; once both ended, the taps are done. */
static void fan_out_end(pod_logger *l, int idx)
{
    pthread_mutex_lock(&taps_mu);
    l->open_out[idx] = 0;
    for (pod_tap *t = l->taps; t; t = t->next) {
        if (t->fd[idx] >= 0) {
            close(t->fd[idx]);
            t->fd[idx] = -1;
        }
        if (!l->open_out[0] && !l->open_out[1])
            t->ended = 1;
    }
    pthread_mutex_unlock(&taps_mu);
}

static void taps_free(pod_logger *l)
{
    pthread_mutex_lock(&taps_mu);
    while (l->taps) {
        pod_tap *t = l->taps;
        l->taps = t->next;
        tap_end_locked(t);
        tap_unref_locked(t);
    }
    pthread_mutex_unlock(&taps_mu);
}

static int tap_pipe(int *rd, int *wr, wc_err *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot create an attach pipe");
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    fcntl(p[1], F_SETPIPE_SZ, POD_TAP_PIPE_SIZE); /* best effort: the default is 64 KiB */
    *rd = p[0];
    *wr = p[1];
    return 0;
}

int pod_logger_tap(pod_logger *l, int want_out, int want_err, int *out_fd, int *err_fd,
                   pod_tap **tap, wc_err *err)
{
    *out_fd = *err_fd = -1;
    pod_tap *t = calloc(1, sizeof *t);
    if (!t)
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "out of memory");
    t->fd[0] = t->fd[1] = -1;
    t->refs = 2;
    if ((want_out && tap_pipe(out_fd, &t->fd[0], err) < 0) ||
        (want_err && tap_pipe(err_fd, &t->fd[1], err) < 0)) {
        for (int i = 0; i < 2; i++)
            if (t->fd[i] >= 0)
                close(t->fd[i]);
        if (*out_fd >= 0)
            close(*out_fd);
        *out_fd = -1;
        free(t);
        return -1;
    }
    pthread_mutex_lock(&taps_mu);
    for (int i = 0; i < 2; i++)
        if (!l->open_out[i] && t->fd[i] >= 0) {
            close(t->fd[i]); /* that stream is over: EOF at once */
            t->fd[i] = -1;
        }
    t->ended = !l->open_out[0] && !l->open_out[1];
    t->next = l->taps;
    l->taps = t;
    pthread_mutex_unlock(&taps_mu);
    *tap = t;
    return 0;
}

int pod_tap_ended(pod_tap *t)
{
    pthread_mutex_lock(&taps_mu);
    int ended = t->ended;
    pthread_mutex_unlock(&taps_mu);
    return ended;
}

void pod_tap_free(pod_tap *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&taps_mu);
    tap_end_locked(t);
    tap_unref_locked(t);
    pthread_mutex_unlock(&taps_mu);
}

/* ---- stdin ---- */

void pod_logger_keep_stdin(pod_logger *l, int fd)
{
    pthread_mutex_lock(&l->mu);
    if (l->stdin_fd >= 0)
        close(l->stdin_fd);
    l->stdin_fd = fd;
    pthread_mutex_unlock(&l->mu);
}

int pod_logger_has_stdin(pod_logger *l)
{
    pthread_mutex_lock(&l->mu);
    int has = l->stdin_fd >= 0;
    pthread_mutex_unlock(&l->mu);
    return has;
}

int pod_logger_dup_stdin(pod_logger *l)
{
    pthread_mutex_lock(&l->mu);
    int fd = l->stdin_fd >= 0 ? fcntl(l->stdin_fd, F_DUPFD_CLOEXEC, 0) : -1;
    pthread_mutex_unlock(&l->mu);
    return fd;
}

int pod_tty_resize(int tty_fd, unsigned width, unsigned height)
{
    struct winsize ws = {.ws_row = (unsigned short)height, .ws_col = (unsigned short)width};
    return ioctl(tty_fd, TIOCSWINSZ, &ws);
}

/* ---- the log ---- */

static void timestamp(char *out, size_t cap)
{
    int64_t ns = wc_clock_realtime_ns();
    char base[40];
    wc_clock_format_utc(ns, base, sizeof base); /* ...T00:00:00.123Z */
    snprintf(out, cap, "%.19s.%09lldZ", base, (long long)(ns % 1000000000LL));
}

static void write_record(pod_logger *l, const char *stream, char tag, const char *text, size_t len)
{
    char head[96];
    char ts[48];
    timestamp(ts, sizeof ts);
    int n = snprintf(head, sizeof head, "%s %s %c ", ts, stream, tag);
    struct iovec iov[3] = {{head, (size_t)n}, {(void *)text, len}, {"\n", 1}};
    pthread_mutex_lock(&l->mu);
    if (l->log_fd >= 0 && writev(l->log_fd, iov, 3) < 0)
        wc_warn("pod", "cannot write container log", "path=%s errno=%d", l->path, errno);
    pthread_mutex_unlock(&l->mu);
}

/* Emits every complete line in the buffer, and a partial record when it is full. */
static void flush_lines(pod_logger *l, stream_buf *s, int at_eof)
{
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (s->data[i] == '\n') {
            write_record(l, s->name, 'F', s->data + start, i - start);
            start = i + 1;
        }
    }
    size_t rest = s->len - start;
    if (rest == sizeof s->data || (at_eof && rest > 0)) {
        write_record(l, s->name, at_eof ? 'F' : 'P', s->data + start, rest);
        rest = 0;
        start = s->len;
    }
    memmove(s->data, s->data + start, rest);
    s->len = rest;
}

/* Reads what is there; returns 0 at end of stream. */
static int pump(pod_logger *l, stream_buf *s)
{
    ssize_t n = read(s->fd, s->data + s->len, sizeof s->data - s->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 1;
    int idx = s == &l->streams[1];
    if (n <= 0) {
        flush_lines(l, s, 1);
        close(s->fd);
        s->fd = -1;
        fan_out_end(l, idx);
        return 0;
    }
    fan_out(l, idx, s->data + s->len, (size_t)n);
    s->len += (size_t)n;
    flush_lines(l, s, 0);
    return 1;
}

static void *logger_main(void *arg)
{
    pod_logger *l = arg;
    for (;;) {
        struct pollfd p[3];
        for (int i = 0; i < 2; i++) {
            p[i].fd = l->streams[i].fd;
            p[i].events = POLLIN;
            p[i].revents = 0;
        }
        p[2].fd = l->wake[0];
        p[2].events = POLLIN;
        p[2].revents = 0;
        if (p[0].fd < 0 && p[1].fd < 0)
            break;
        if (poll(p, 3, -1) < 0 && errno != EINTR)
            break;
        if (p[2].revents)
            break;
        for (int i = 0; i < 2; i++)
            if (p[i].fd >= 0 && p[i].revents)
                pump(l, &l->streams[i]);
    }
    return NULL;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

pod_logger *pod_logger_start(const char *log_path, int out_fd, int err_fd, wc_err *err)
{
    pod_logger *l = calloc(1, sizeof *l);
    l->path = strdup(log_path);
    l->log_fd = open_log(log_path);
    if (l->log_fd < 0 || pipe2(l->wake, O_CLOEXEC) < 0) {
        wc_err_sys(err, WC_INTERNAL, errno, "cannot open container log %s", log_path);
        if (l->log_fd >= 0)
            close(l->log_fd);
        free(l->path);
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->stdin_fd = -1;
    l->open_out[0] = out_fd >= 0;
    l->open_out[1] = err_fd >= 0;
    l->streams[0] = (stream_buf){.fd = out_fd, .name = "stdout"};
    l->streams[1].fd = err_fd;
    l->streams[1].name = "stderr";
    l->streams[1].len = 0;
    for (int i = 0; i < 2; i++)
        if (l->streams[i].fd >= 0)
            fcntl(l->streams[i].fd, F_SETFL, O_NONBLOCK);
    pthread_create(&l->thread, NULL, logger_main, l);
    return l;
}

int pod_logger_reopen(pod_logger *l, wc_err *err)
{
    int fd = open_log(l->path);
    if (fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot reopen container log %s", l->path);
    pthread_mutex_lock(&l->mu);
    int old = l->log_fd;
    l->log_fd = fd;
    pthread_mutex_unlock(&l->mu);
    close(old);
    return 0;
}

static void free_logger(pod_logger *l)
{
    taps_free(l);
    if (l->stdin_fd >= 0)
        close(l->stdin_fd);
    for (int i = 0; i < 2; i++)
        if (l->streams[i].fd >= 0)
            close(l->streams[i].fd);
    close(l->wake[0]);
    close(l->wake[1]);
    close(l->log_fd);
    pthread_mutex_destroy(&l->mu);
    free(l->path);
    free(l);
}

void pod_logger_free_now(pod_logger *l)
{
    if (!l)
        return;
    if (write(l->wake[1], "x", 1) < 0)
        wc_warn("pod", "cannot wake a container logger", "path=%s", l->path);
    pthread_join(l->thread, NULL);
    free_logger(l);
}

void pod_logger_free_drained(pod_logger *l)
{
    if (!l)
        return;
    pthread_join(l->thread, NULL);
    free_logger(l);
}
