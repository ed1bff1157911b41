/* The stdio keeper process (podsandbox/keeper.h): one poll loop over its socket, the
 * process connector, and each container's pidfd and output descriptors. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hcs/procexit.h"
#include "podsandbox/keeper.h"
#include "podsandbox/keeper_int.h"

#define LOG_LINE_MAX (16 * 1024)    /* longer lines become partial (P) records */
#define TAP_PIPE_SIZE (1024 * 1024) /* how far an attacher may fall behind */
#define IDLE_EXIT_MS 30000          /* nothing held and nobody connected this long: exit */
#define STATUS_WAIT_MS 200          /* a pidfd fired: how long the status may lag */

typedef struct kstream {
    int fd; /* -1 when not there or ended (a terminal whose other side closed) */
    const char *name;
    char buf[LOG_LINE_MAX];
    size_t len;
} kstream;

typedef struct ktap {
    int fd[2]; /* write ends for stdout, stderr; -1 */
    struct ktap *next;
} ktap;

typedef struct kctr {
    char id[65];
    char *log_path;
    int log_fd;
    int pid;
    uint64_t start_time;
    int pidfd;
    int tty;
    kstream st[2];
    int in_fd;
    ktap *taps;
    int exited, known, exit_code;
    int64_t finished_ns;
    int64_t pidfd_fired_ns; /* waiting for the status since then; 0 */
} kctr;

typedef struct keeper {
    char *state, *dir;
    int listen_fd;
    int *clients;
    size_t n_clients;
    hcs_procexit *pe;
    kctr **c;
    size_t n;
    int64_t idle_since_ns;
    volatile int stop;
} keeper;

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

/* ---- the CRI log ---- */

static void timestamp(char *out, size_t cap)
{
    int64_t ns = wc_clock_realtime_ns();
    char base[40];
    wc_clock_format_utc(ns, base, sizeof base);
    snprintf(out, cap, "%.19s.%09lldZ", base, (long long)(ns % 1000000000LL));
}

static void write_record(kctr *k, const char *stream, char tag, const char *text, size_t len)
{
    if (k->log_fd < 0)
        return;
    char head[96], ts[48];
    timestamp(ts, sizeof ts);
    int n = snprintf(head, sizeof head, "%s %s %c ", ts, stream, tag);
    struct iovec iov[3] = {{head, (size_t)n}, {(void *)text, len}, {"\n", 1}};
    if (writev(k->log_fd, iov, 3) < 0)
        wc_warn("keeper", "cannot write container log", "path=%s errno=%d", k->log_path, errno);
}

/* Every complete line, and a partial record when the buffer is full (or the stream ended). */
static void flush_lines(kctr *k, kstream *s, int final)
{
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++)
        if (s->buf[i] == '\n') {
            write_record(k, s->name, 'F', s->buf + start, i - start);
            start = i + 1;
        }
    size_t rest = s->len - start;
    if (rest == sizeof s->buf || (final && rest > 0)) {
        write_record(k, s->name, final ? 'F' : 'P', s->buf + start, rest);
        start = s->len;
        rest = 0;
    }
    memmove(s->buf, s->buf + start, rest);
    s->len = rest;
}

static int open_log(const char *path)
{
    if (!*path)
        return -1; /* no log asked for: output is read and dropped */
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/* ---- taps ---- */

static void tap_close(ktap *t, int idx)
{
    if (t->fd[idx] >= 0)
        close(t->fd[idx]);
    t->fd[idx] = -1;
}

/* Output to every attacher; one that cannot take it all now is dropped. */
static void fan_out(kctr *k, int idx, const char *data, size_t n)
{
    for (ktap **pp = &k->taps; *pp;) {
        ktap *t = *pp;
        if (t->fd[idx] >= 0 && write(t->fd[idx], data, n) != (ssize_t)n) {
            tap_close(t, 0);
            tap_close(t, 1);
        }
        if (t->fd[0] < 0 && t->fd[1] < 0) {
            *pp = t->next;
            free(t);
            continue;
        }
        pp = &t->next;
    }
}

static void taps_end(kctr *k)
{
    while (k->taps) {
        ktap *t = k->taps;
        k->taps = t->next;
        tap_close(t, 0);
        tap_close(t, 1);
        free(t);
    }
}

/* ---- reading output ---- */

/* Reads what one descriptor has now. Never blocks: the FIFOs are held open read-write by us
 * and by wincrid, so they never report an end; a terminal reports EIO once its other side is
 * gone. */
static void pump(kctr *k, int idx)
{
    kstream *s = &k->st[idx];
    if (s->fd < 0)
        return;
    int avail = 0;
    if (ioctl(s->fd, FIONREAD, &avail) < 0)
        avail = 1; /* a terminal may not say: the poll said readable, one read is safe */
    if (avail <= 0) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
            return;
    }
    ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) { /* the terminal's other side closed */
        flush_lines(k, s, 1);
        close(s->fd);
        s->fd = -1;
        return;
    }
    fan_out(k, idx, s->buf + s->len, (size_t)n);
    s->len += (size_t)n;
    flush_lines(k, s, 0);
}

/* Everything queued now, for an exit: whatever the container wrote before it ended. */
static void drain(kctr *k)
{
    for (int idx = 0; idx < 2; idx++) {
        for (int guard = 0; guard < 4096 && k->st[idx].fd >= 0; guard++) {
            int avail = 0;
            if (ioctl(k->st[idx].fd, FIONREAD, &avail) < 0 || avail <= 0)
                break;
            pump(k, idx);
        }
        flush_lines(k, &k->st[idx], 1);
    }
}

/* ---- exits ---- */

static char *exit_path(const keeper *kp, const char *id)
{
    char name[96];
    snprintf(name, sizeof name, "%s.exit", id);
    return wc_path_join(kp->dir, name);
}

static void write_exit_record(const keeper *kp, const kctr *k)
{
    json_t *j = json_pack("{s:i,s:b,s:i,s:I}", "pid", k->pid, "known", k->known, "exit_code",
                          k->exit_code, "finished_ns", (json_int_t)k->finished_ns);
    char *text = json_dumps(j, JSON_COMPACT);
    char *path = exit_path(kp, k->id);
    wc_err err = {0};
    if (!text || wc_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        wc_warn("keeper", "cannot record an exit", "container=%.12s error=\"%s\"", k->id, err.msg);
    free(path);
    free(text);
    json_decref(j);
}

static void broadcast(keeper *kp, const json_t *msg)
{
    for (size_t i = 0; i < kp->n_clients; i++)
        pod_kmsg_send(kp->clients[i], msg, NULL, 0);
}

static void exited(keeper *kp, kctr *k, int known, int status, int64_t at_ns)
{
    if (k->exited)
        return;
    k->exited = 1;
    k->known = known;
    k->exit_code = !known                ? 255
                   : WIFEXITED(status)   ? WEXITSTATUS(status)
                   : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                         : 255;
    k->finished_ns = at_ns ? at_ns : wc_clock_realtime_ns();
    if (k->pidfd >= 0)
        close(k->pidfd);
    k->pidfd = -1;
    drain(k);
    taps_end(k);
    write_exit_record(kp, k);
    json_t *ev =
        json_pack("{s:s,s:s,s:i,s:b,s:i,s:I}", "event", "exit", "id", k->id, "pid", k->pid, "known",
                  known, "exit_code", k->exit_code, "finished_ns", (json_int_t)k->finished_ns);
    broadcast(kp, ev);
    json_decref(ev);
    wc_info("keeper", "container exited", "container=%.12s pid=%d exit_code=%d known=%d", k->id,
            k->pid, k->exit_code, known);
}

/* The process connector's news: any watched init among the exits it reported. */
static void check_exits(keeper *kp)
{
    hcs_procexit_drain(kp->pe);
    int64_t now = wc_clock_monotonic_ns();
    for (size_t i = 0; i < kp->n; i++) {
        kctr *k = kp->c[i];
        if (k->exited || k->pid <= 0)
            continue;
        int status = 0;
        int64_t at = 0;
        if (hcs_procexit_take(kp->pe, k->pid, &status, &at))
            exited(kp, k, 1, status, at);
        else if (k->pidfd_fired_ns && now - k->pidfd_fired_ns > STATUS_WAIT_MS * 1000000LL)
            exited(kp, k, 0, 0, 0); /* ended, but the connector never told: unknown */
    }
}

/* ---- the container table ---- */

static kctr *find(keeper *kp, const char *id)
{
    for (size_t i = 0; i < kp->n; i++)
        if (strcmp(kp->c[i]->id, id) == 0)
            return kp->c[i];
    return NULL;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void kctr_free(kctr *k)
{
    taps_end(k);
    close_fd(&k->st[0].fd);
    close_fd(&k->st[1].fd);
    close_fd(&k->in_fd);
    close_fd(&k->pidfd);
    close_fd(&k->log_fd);
    free(k->log_path);
    free(k);
}

static kctr *kctr_new(const char *id)
{
    kctr *k = wc_xcalloc(1, sizeof *k);
    snprintf(k->id, sizeof k->id, "%s", id);
    k->log_path = wc_xstrdup("");
    k->log_fd = k->pidfd = k->in_fd = k->st[0].fd = k->st[1].fd = -1;
    k->st[0].name = "stdout";
    k->st[1].name = "stderr";
    return k;
}

static void append(keeper *kp, kctr *k)
{
    kp->c = wc_xrealloc(kp->c, (kp->n + 1) * sizeof *kp->c);
    kp->c[kp->n++] = k;
}

static void drop(keeper *kp, kctr *k)
{
    for (size_t i = 0; i < kp->n; i++)
        if (kp->c[i] == k) {
            kp->c[i] = kp->c[--kp->n];
            break;
        }
    kctr_free(k);
}

/* Exit records left by a previous keeper: containers that ended while nobody was there to
 * ask, kept until wincrid removes them. */
static void load_exit_records(keeper *kp)
{
    DIR *d = opendir(kp->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || len > 64 + 5 || strcmp(e->d_name + len - 5, ".exit") != 0)
            continue;
        char id[65];
        snprintf(id, sizeof id, "%.*s", (int)(len - 5), e->d_name);
        char *path = wc_path_join(kp->dir, e->d_name);
        json_t *j = json_load_file(path, 0, NULL);
        free(path);
        if (j) {
            kctr *k = kctr_new(id);
            k->pid = (int)json_integer_value(json_object_get(j, "pid"));
            k->exited = 1;
            k->known = json_is_true(json_object_get(j, "known"));
            k->exit_code = (int)json_integer_value(json_object_get(j, "exit_code"));
            k->finished_ns = json_integer_value(json_object_get(j, "finished_ns"));
            append(kp, k);
        }
        json_decref(j);
    }
    if (d)
        closedir(d);
}

/* ---- requests ---- */

static json_t *reply(const json_t *req, int ok, const char *error)
{
    json_t *r = json_pack("{s:O,s:b}", "seq", json_object_get(req, "seq"), "ok", ok);
    if (!ok)
        json_object_set_new(r, "error", json_string(error));
    return r;
}

static const char *str_of(const json_t *req, const char *key)
{
    const char *s = json_string_value(json_object_get(req, key));
    return s ? s : "";
}

/* The init we were told of is that process still: alive, and started when we were told. */
static int watch_init(kctr *k)
{
    if (k->pid <= 0 || pod_keeper_start_time(k->pid) != k->start_time)
        return -1;
    k->pidfd = (int)syscall(SYS_pidfd_open, k->pid, 0);
    return 0;
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* add: fds in the order out, err, in for the flags that are true; taken in every case. */
static json_t *op_add(keeper *kp, const json_t *req, int *fds, size_t n_fds)
{
    const char *id = str_of(req, "id");
    int want[3] = {json_is_true(json_object_get(req, "out")),
                   json_is_true(json_object_get(req, "err")),
                   json_is_true(json_object_get(req, "in"))};
    if (!*id || strlen(id) > 64 || (size_t)(want[0] + want[1] + want[2]) != n_fds) {
        close_all(fds, n_fds);
        return reply(req, 0, "add: bad request");
    }
    kctr *k = find(kp, id);
    int fresh = !k;
    if (fresh)
        k = kctr_new(id);
    /* A container handed over again (a new keeper, or a restarted wincrid) keeps its state. */
    close_fd(&k->st[0].fd);
    close_fd(&k->st[1].fd);
    close_fd(&k->in_fd);
    size_t f = 0;
    k->st[0].fd = want[0] ? fds[f++] : -1;
    k->st[1].fd = want[1] ? fds[f++] : -1;
    k->in_fd = want[2] ? fds[f++] : -1;
    k->tty = json_is_true(json_object_get(req, "tty"));
    free(k->log_path);
    k->log_path = wc_xstrdup(str_of(req, "log_path"));
    close_fd(&k->log_fd);
    k->log_fd = open_log(k->log_path);
    if (fresh)
        append(kp, k);
    if (!k->exited) {
        k->pid = (int)json_integer_value(json_object_get(req, "pid"));
        k->start_time = (uint64_t)json_integer_value(json_object_get(req, "start_time"));
        close_fd(&k->pidfd);
        if (watch_init(k) < 0) {
            int status = 0;
            int64_t at = 0;
            hcs_procexit_drain(kp->pe);
            int known = hcs_procexit_take(kp->pe, k->pid, &status, &at);
            exited(kp, k, known, status, at);
        }
    } else {
        drain(k); /* it ended while handed over: what it wrote is still in the pipe */
    }
    if (*k->log_path && k->log_fd < 0)
        wc_warn("keeper", "cannot open container log", "container=%.12s path=%s errno=%d", id,
                k->log_path, errno);
    return reply(req, 1, NULL);
}

static json_t *op_remove(keeper *kp, const json_t *req)
{
    kctr *k = find(kp, str_of(req, "id"));
    if (k) {
        drain(k);
        char *path = exit_path(kp, k->id);
        unlink(path);
        free(path);
        drop(kp, k);
    }
    return reply(req, 1, NULL);
}

static json_t *op_reopen(keeper *kp, const json_t *req)
{
    kctr *k = find(kp, str_of(req, "id"));
    if (!k)
        return reply(req, 0, "reopen: unknown container");
    int fd = open_log(k->log_path);
    if (fd < 0 && *k->log_path)
        return reply(req, 0, strerror(errno));
    close_fd(&k->log_fd);
    k->log_fd = fd;
    return reply(req, 1, NULL);
}

static int tap_pipe(int *rd, int *wr)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    fcntl(p[1], F_SETPIPE_SZ, TAP_PIPE_SIZE); /* best effort: the default is 64 KiB */
    *rd = p[0];
    *wr = p[1];
    return 0;
}

static void op_tap(keeper *kp, int client, const json_t *req)
{
    kctr *k = find(kp, str_of(req, "id"));
    int want[2] = {json_is_true(json_object_get(req, "out")),
                   json_is_true(json_object_get(req, "err"))};
    ktap *t = k && !k->exited ? wc_xcalloc(1, sizeof *t) : NULL;
    int rd[2] = {-1, -1}, n = 0;
    if (t) {
        t->fd[0] = t->fd[1] = -1;
        for (int i = 0; i < 2; i++)
            if (want[i] && tap_pipe(&rd[n], &t->fd[i]) == 0)
                n++;
        t->next = k->taps;
        k->taps = t;
    }
    json_t *r = reply(req, t != NULL, k ? "tap: the container has exited" : "tap: unknown");
    pod_kmsg_send(client, r, rd, (size_t)n);
    json_decref(r);
    for (int i = 0; i < n; i++)
        close(rd[i]);
}

static void op_pty(keeper *kp, int client, const json_t *req)
{
    kctr *k = find(kp, str_of(req, "id"));
    int ok = k && k->tty && k->st[0].fd >= 0;
    json_t *r = reply(req, ok, "pty: no terminal");
    pod_kmsg_send(client, r, ok ? &k->st[0].fd : NULL, ok ? 1 : 0);
    json_decref(r);
}

static json_t *op_list(keeper *kp, const json_t *req)
{
    json_t *list = json_array();
    for (size_t i = 0; i < kp->n; i++) {
        const kctr *k = kp->c[i];
        json_array_append_new(list, json_pack("{s:s,s:i,s:b,s:i,s:I}", "id", k->id, "pid", k->pid,
                                              "exited", k->exited, "exit_code", k->exit_code,
                                              "finished_ns", (json_int_t)k->finished_ns));
    }
    json_t *r = reply(req, 1, NULL);
    json_object_set_new(r, "containers", list);
    return r;
}

static void handle(keeper *kp, int client, json_t *req, int *fds, size_t n_fds)
{
    const char *op = str_of(req, "op");
    json_t *r = NULL;
    if (strcmp(op, "add") == 0) {
        r = op_add(kp, req, fds, n_fds);
        n_fds = 0; /* taken (or closed by the reply's failure path below) */
    } else if (strcmp(op, "hello") == 0) {
        r = reply(req, 1, NULL);
        json_object_set_new(r, "version", json_integer(POD_KEEPER_VERSION));
        json_object_set_new(r, "pid", json_integer(getpid()));
    } else if (strcmp(op, "remove") == 0) {
        r = op_remove(kp, req);
    } else if (strcmp(op, "reopen") == 0) {
        r = op_reopen(kp, req);
    } else if (strcmp(op, "close_stdin") == 0) {
        kctr *k = find(kp, str_of(req, "id"));
        if (k)
            close_fd(&k->in_fd);
        r = reply(req, 1, NULL);
    } else if (strcmp(op, "list") == 0) {
        r = op_list(kp, req);
    } else if (strcmp(op, "tap") == 0) {
        op_tap(kp, client, req);
    } else if (strcmp(op, "pty") == 0) {
        op_pty(kp, client, req);
    } else {
        r = reply(req, 0, "unknown op");
    }
    close_all(fds, n_fds);
    if (r)
        pod_kmsg_send(client, r, NULL, 0);
    json_decref(r);
}

/* ---- the loop ---- */

static void drop_client(keeper *kp, size_t i)
{
    close(kp->clients[i]);
    kp->clients[i] = kp->clients[--kp->n_clients];
    if (kp->n_clients == 0)
        kp->idle_since_ns = wc_clock_monotonic_ns();
}

static void accept_client(keeper *kp)
{
    int fd = accept4(kp->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    kp->clients = wc_xrealloc(kp->clients, (kp->n_clients + 1) * sizeof *kp->clients);
    kp->clients[kp->n_clients++] = fd;
}

static void read_client(keeper *kp, size_t i)
{
    json_t *req = NULL;
    int fds[POD_KEEPER_FDS_MAX];
    size_t n_fds = 0;
    int rc = pod_kmsg_recv(kp->clients[i], &req, fds, &n_fds);
    if (rc <= 0) {
        if (rc == 0 || errno != EPROTO)
            drop_client(kp, i);
        return;
    }
    handle(kp, kp->clients[i], req, fds, n_fds);
    json_decref(req);
}

typedef struct pollset {
    struct pollfd *p;
    size_t n, cap;
    /* what each entry is: -1 listen, -2 procexit, -3 - client index, or container index * 3
     * + 0 pidfd, + 1 stdout, + 2 stderr */
    long *what;
} pollset;

static void ps_add(pollset *ps, int fd, long what)
{
    if (fd < 0)
        return;
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 64;
        ps->p = wc_xrealloc(ps->p, ps->cap * sizeof *ps->p);
        ps->what = wc_xrealloc(ps->what, ps->cap * sizeof *ps->what);
    }
    ps->p[ps->n] = (struct pollfd){.fd = fd, .events = POLLIN};
    ps->what[ps->n++] = what;
}

static void build_pollset(keeper *kp, pollset *ps)
{
    ps->n = 0;
    ps_add(ps, kp->listen_fd, -1);
    ps_add(ps, hcs_procexit_fd(kp->pe), -2);
    for (size_t i = 0; i < kp->n_clients; i++)
        ps_add(ps, kp->clients[i], -3 - (long)i);
    for (size_t i = 0; i < kp->n; i++) {
        kctr *k = kp->c[i];
        if (!k->exited && !k->pidfd_fired_ns)
            ps_add(ps, k->pidfd, (long)i * 3);
        ps_add(ps, k->st[0].fd, (long)i * 3 + 1);
        ps_add(ps, k->st[1].fd, (long)i * 3 + 2);
    }
}

/* Client requests last: they may add or drop containers, which renumbers the table. */
static void dispatch(keeper *kp, pollset *ps)
{
    for (size_t j = 0; j < ps->n; j++) {
        if (!ps->p[j].revents || ps->what[j] < 0)
            continue;
        kctr *k = kp->c[ps->what[j] / 3];
        int part = (int)(ps->what[j] % 3);
        if (part == 0)
            k->pidfd_fired_ns = wc_clock_monotonic_ns();
        else
            pump(k, part - 1);
    }
    check_exits(kp);
    for (size_t j = 0; j < ps->n; j++) {
        if (!ps->p[j].revents)
            continue;
        if (ps->what[j] == -1)
            accept_client(kp);
        else if (ps->what[j] <= -3 && (size_t)(-3 - ps->what[j]) < kp->n_clients)
            read_client(kp, (size_t)(-3 - ps->what[j]));
    }
}

static int idle_too_long(const keeper *kp)
{
    return kp->n == 0 && kp->n_clients == 0 &&
           wc_clock_monotonic_ns() - kp->idle_since_ns > IDLE_EXIT_MS * 1000000LL;
}

static void run(keeper *kp)
{
    pollset ps = {0};
    while (!got_term && !idle_too_long(kp)) {
        build_pollset(kp, &ps);
        int waiting_status = 0;
        for (size_t i = 0; i < kp->n; i++)
            waiting_status |= kp->c[i]->pidfd_fired_ns && !kp->c[i]->exited;
        if (poll(ps.p, (nfds_t)ps.n, waiting_status ? 20 : 1000) < 0 && errno != EINTR)
            break;
        dispatch(kp, &ps);
    }
    free(ps.p);
    free(ps.what);
}

/* ---- start ---- */

static int listen_on(const char *path, wc_err *err)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "keeper socket path too long: %s", path);
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot make the keeper socket");
    unlink(path);
    mode_t old = umask(0177); /* born 0600 */
    int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (rc < 0 || listen(fd, 16) < 0) {
        int e = errno;
        close(fd);
        return wc_err_sys(err, WC_INTERNAL, e, "cannot listen on %s", path);
    }
    return fd;
}

/* One keeper per state dir: the second one exits quietly. */
static int take_lock(const char *dir)
{
    char *path = wc_path_join(dir, "keeper.lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        wc_warn("keeper", "cannot write its pid", "errno=%d", errno);
    return fd;
}

int pod_keeper_main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    keeper kp = {.state = argv[2], .listen_fd = -1};
    setsid(); /* not ours, the terminal's or the service's signals: it outlives wincrid */
    prctl(PR_SET_NAME, "wincri-keeper");
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    wc_err err = {0};
    kp.dir = wc_path_join(kp.state, POD_KEEPER_DIR);
    if (wc_mkdir_mode(kp.dir, 0700, &err) < 0) {
        wc_error("keeper", "cannot start", "error=\"%s\"", err.msg);
        return 1;
    }
    int lock = take_lock(kp.dir);
    if (lock < 0)
        return 0; /* another keeper serves this state dir */
    char *sock = wc_path_join(kp.state, POD_KEEPER_SOCKET);
    kp.listen_fd = listen_on(sock, &err);
    if (kp.listen_fd < 0 || hcs_procexit_open(&kp.pe, &err) < 0) {
        wc_error("keeper", "cannot start", "error=\"%s\"", err.msg);
        return 1;
    }
    load_exit_records(&kp);
    kp.idle_since_ns = wc_clock_monotonic_ns();
    wc_info("keeper", "serving", "socket=%s pid=%d containers=%zu", sock, (int)getpid(), kp.n);
    run(&kp);
    wc_info("keeper", "exiting", "containers=%zu", kp.n);
    unlink(sock);
    free(sock);
    for (size_t i = 0; i < kp.n; i++)
        kctr_free(kp.c[i]);
    free(kp.c);
    for (size_t i = 0; i < kp.n_clients; i++)
        close(kp.clients[i]);
    free(kp.clients);
    hcs_procexit_close(kp.pe);
    close(kp.listen_fd);
    close(lock);
    free(kp.dir);
    return 0;
}

uint64_t pod_keeper_start_time(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (wc_read_head(path, buf, sizeof buf) < 0)
        return 0;
    /* Fields after the command name (which may hold spaces and parens): state is field 3,
     * starttime field 22. */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}
