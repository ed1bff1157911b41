/* wincrid's side of the stdio keeper (podsandbox/keeper.h): requests and their replies, the
 * keeper's events, and a new keeper when the one we talked to went away. One reader thread
 * reads every message; callers wait for their reply by sequence number. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "podsandbox/keeper.h"
#include "podsandbox/keeper_int.h"

#define CONNECT_WAIT_MS 5000 /* for a keeper we just started to listen */
#define CALL_WAIT_MS 10000   /* for a reply, or for a keeper that is being replaced */

typedef struct pending {
    uint64_t seq;
    json_t *reply;
    int fds[POD_KEEPER_FDS_MAX];
    size_t n_fds;
    int done;
    struct pending *next;
} pending;

struct pod_keeper {
    char *state, *sock_path;
    pod_keeper_client cb;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t changed;
    int fd; /* -1 while a new keeper is being found */
    int keeper_pid;
    uint64_t seq;
    pending *waiting;
    int closing;
    pthread_t reader;
};

/* ---- finding the keeper ---- */

static int dial(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* The keeper is this binary in keeper mode, our child (so its orphans come back to us if it
 * dies) in a session of its own (so it outlives us). */
static void spawn(const char *state)
{
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        execl("/proc/self/exe", "wincri-keeper", POD_KEEPER_ARG, state, (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        wc_warn("keeper", "cannot start the stdio keeper", "errno=%d", errno);
}

/* A hello on a fresh socket, before the reader thread reads it: the keeper's pid. */
static int hello(int fd, int *pid)
{
    json_t *req =
        json_pack("{s:s,s:i,s:i}", "op", "hello", "seq", 0, "version", POD_KEEPER_VERSION);
    int rc = pod_kmsg_send(fd, req, NULL, 0);
    json_decref(req);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    json_t *r = NULL;
    int fds[POD_KEEPER_FDS_MAX];
    size_t n_fds = 0;
    if (rc == 0 && pod_kmsg_recv(fd, &r, fds, &n_fds) == 1 &&
        json_integer_value(json_object_get(r, "version")) == POD_KEEPER_VERSION) {
        *pid = (int)json_integer_value(json_object_get(r, "pid"));
        rc = 0;
    } else {
        rc = -1;
    }
    for (size_t i = 0; i < n_fds; i++)
        close(fds[i]);
    json_decref(r);
    tv.tv_sec = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return rc;
}

/* Connects, starting a keeper if none answers; -1 after CONNECT_WAIT_MS without one. */
static int find_keeper(pod_keeper *k, int *pid)
{
    int spawned = 0;
    int64_t until = wc_clock_monotonic_ns() + CONNECT_WAIT_MS * 1000000LL;
    while (wc_clock_monotonic_ns() < until) {
        int fd = dial(k->sock_path);
        if (fd >= 0 && hello(fd, pid) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        if (!spawned) {
            spawn(k->state);
            spawned = 1;
        }
        wc_sleep_ms(20);
    }
    return -1;
}

/* ---- the reader ---- */

static void deliver_reply(pod_keeper *k, json_t *msg, int *fds, size_t n_fds)
{
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(msg, "seq"));
    pthread_mutex_lock(&k->mu);
    pending *p = k->waiting;
    while (p && p->seq != seq)
        p = p->next;
    if (p) {
        p->reply = msg;
        memcpy(p->fds, fds, n_fds * sizeof *fds);
        p->n_fds = n_fds;
        p->done = 1;
        pthread_cond_broadcast(&k->changed);
    }
    pthread_mutex_unlock(&k->mu);
    if (!p) { /* its caller gave up */
        json_decref(msg);
        for (size_t i = 0; i < n_fds; i++)
            close(fds[i]);
    }
}

static void deliver_event(pod_keeper *k, json_t *msg)
{
    if (strcmp(json_string_value(json_object_get(msg, "event")), "exit") == 0 && k->cb.on_exit) {
        pod_keeper_exit e = {0};
        const char *id = json_string_value(json_object_get(msg, "id"));
        snprintf(e.id, sizeof e.id, "%s", id ? id : "");
        e.pid = (int)json_integer_value(json_object_get(msg, "pid"));
        e.known = json_is_true(json_object_get(msg, "known"));
        e.exit_code = (int)json_integer_value(json_object_get(msg, "exit_code"));
        e.finished_ns = json_integer_value(json_object_get(msg, "finished_ns"));
        k->cb.on_exit(k->cb.ctx, &e);
    }
    json_decref(msg);
}

/* The keeper went away: every waiting call fails, and the next keeper is found. */
static void lost(pod_keeper *k)
{
    pthread_mutex_lock(&k->mu);
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
    for (pending *p = k->waiting; p; p = p->next)
        p->done = 1;
    pthread_cond_broadcast(&k->changed);
    int old = k->keeper_pid;
    pthread_mutex_unlock(&k->mu);
    if (old > 0)
        waitpid(old, NULL, WNOHANG); /* our child, if we started it */
}

static void *resync_main(void *arg)
{
    pod_keeper *k = arg;
    if (k->cb.resync)
        k->cb.resync(k->cb.ctx, k);
    return NULL;
}

static int reconnect(pod_keeper *k)
{
    int pid = 0;
    int fd = find_keeper(k, &pid);
    if (fd < 0)
        return -1;
    pthread_mutex_lock(&k->mu);
    k->fd = fd;
    k->keeper_pid = pid;
    pthread_cond_broadcast(&k->changed);
    pthread_mutex_unlock(&k->mu);
    wc_warn("keeper", "a new stdio keeper took over", "pid=%d", pid);
    pthread_t t;
    if (pthread_create(&t, NULL, resync_main, k) == 0)
        pthread_detach(t);
    return 0;
}

static void *reader_main(void *arg)
{
    pod_keeper *k = arg;
    for (;;) {
        pthread_mutex_lock(&k->mu);
        int fd = k->fd, closing = k->closing;
        pthread_mutex_unlock(&k->mu);
        if (closing)
            break;
        if (fd < 0) {
            if (reconnect(k) < 0)
                wc_sleep_ms(500);
            continue;
        }
        json_t *msg = NULL;
        int fds[POD_KEEPER_FDS_MAX];
        size_t n_fds = 0;
        int rc = pod_kmsg_recv(fd, &msg, fds, &n_fds);
        if (rc == 1 && json_object_get(msg, "event"))
            deliver_event(k, msg);
        else if (rc == 1)
            deliver_reply(k, msg, fds, n_fds);
        else if (rc == 0 || errno != EPROTO)
            lost(k);
    }
    return NULL;
}

/* ---- calls ---- */

/* Sends req (its "seq" is set here) with fds and waits for the reply; the reply and its
 * descriptors are the caller's. A failed reply ("ok": false) is an error naming the op. */
static int call(pod_keeper *k, json_t *req, const int *fds, size_t n_fds, json_t **reply,
                int *out_fds, size_t *n_out, wc_err *err)
{
    const char *op = json_string_value(json_object_get(req, "op"));
    pending p = {0};
    struct timespec until = wc_clock_deadline_in(CALL_WAIT_MS);
    pthread_mutex_lock(&k->mu);
    while (k->fd < 0 && !k->closing)
        if (pthread_cond_timedwait(&k->changed, &k->mu, &until) != 0)
            break;
    int rc = -1;
    if (k->fd >= 0) {
        p.seq = ++k->seq;
        json_object_set_new(req, "seq", json_integer((json_int_t)p.seq));
        p.next = k->waiting;
        k->waiting = &p;
        rc = pod_kmsg_send(k->fd, req, fds, n_fds);
        while (rc == 0 && !p.done)
            if (pthread_cond_timedwait(&k->changed, &k->mu, &until) != 0)
                break;
        for (pending **pp = &k->waiting; *pp; pp = &(*pp)->next)
            if (*pp == &p) {
                *pp = p.next;
                break;
            }
    }
    pthread_mutex_unlock(&k->mu);
    if (rc < 0 || !p.reply) {
        for (size_t i = 0; i < p.n_fds; i++)
            close(p.fds[i]);
        json_decref(p.reply);
        return wc_err_set(err, WC_UNAVAILABLE, "stdio keeper: %s: no answer", op);
    }
    if (!json_is_true(json_object_get(p.reply, "ok"))) {
        wc_err_set(err, WC_INTERNAL, "stdio keeper: %s: %s", op,
                   json_string_value(json_object_get(p.reply, "error")));
        for (size_t i = 0; i < p.n_fds; i++)
            close(p.fds[i]);
        json_decref(p.reply);
        return -1;
    }
    if (reply)
        *reply = p.reply;
    else
        json_decref(p.reply);
    if (out_fds) {
        memcpy(out_fds, p.fds, p.n_fds * sizeof *p.fds);
        *n_out = p.n_fds;
    } else {
        for (size_t i = 0; i < p.n_fds; i++)
            close(p.fds[i]);
    }
    return 0;
}

static int simple(pod_keeper *k, const char *op, const char *id, wc_err *err)
{
    json_t *req = json_pack("{s:s,s:s}", "op", op, "id", id);
    int rc = call(k, req, NULL, 0, NULL, NULL, NULL, err);
    json_decref(req);
    return rc;
}

/* ---- the API ---- */

int pod_keeper_connect(const char *state_dir, const pod_keeper_client *cb, pod_keeper **out,
                       wc_err *err)
{
    pod_keeper *k = wc_xcalloc(1, sizeof *k);
    k->state = wc_xstrdup(state_dir);
    k->sock_path = wc_path_join(state_dir, POD_KEEPER_SOCKET);
    k->cb = *cb;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->changed, NULL);
    k->fd = find_keeper(k, &k->keeper_pid);
    if (k->fd < 0 || pthread_create(&k->reader, NULL, reader_main, k) != 0) {
        wc_err_set(err, WC_INTERNAL, "no stdio keeper answers on %s", k->sock_path);
        if (k->fd >= 0)
            close(k->fd);
        free(k->state);
        free(k->sock_path);
        free(k);
        return -1;
    }
    wc_info("keeper", "connected", "pid=%d socket=%s", k->keeper_pid, k->sock_path);
    *out = k;
    return 0;
}

void pod_keeper_disconnect(pod_keeper *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->closing = 1;
    if (k->fd >= 0)
        shutdown(k->fd, SHUT_RDWR); /* the reader's recv returns */
    pthread_cond_broadcast(&k->changed);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->reader, NULL);
    if (k->fd >= 0)
        close(k->fd);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->changed);
    free(k->state);
    free(k->sock_path);
    free(k);
}

int pod_keeper_pid(const pod_keeper *k)
{
    return k ? k->keeper_pid : 0;
}

int pod_keeper_connected(pod_keeper *k)
{
    pthread_mutex_lock(&k->mu);
    int up = k->fd >= 0;
    pthread_mutex_unlock(&k->mu);
    return up;
}

int pod_keeper_add(pod_keeper *k, const char *id, const char *log_path, int pid,
                   uint64_t start_time, int tty, int out_fd, int err_fd, int in_fd, wc_err *err)
{
    int fds[3], n = 0;
    if (out_fd >= 0)
        fds[n++] = out_fd;
    if (err_fd >= 0)
        fds[n++] = err_fd;
    if (in_fd >= 0)
        fds[n++] = in_fd;
    json_t *req = json_pack("{s:s,s:s,s:s,s:i,s:I,s:b,s:b,s:b,s:b}", "op", "add", "id", id,
                            "log_path", log_path, "pid", pid, "start_time", (json_int_t)start_time,
                            "tty", tty, "out", out_fd >= 0, "err", err_fd >= 0, "in", in_fd >= 0);
    int rc = call(k, req, fds, (size_t)n, NULL, NULL, NULL, err);
    json_decref(req);
    return rc;
}

int pod_keeper_remove(pod_keeper *k, const char *id, wc_err *err)
{
    return simple(k, "remove", id, err);
}

int pod_keeper_reopen(pod_keeper *k, const char *id, wc_err *err)
{
    return simple(k, "reopen", id, err);
}

int pod_keeper_close_stdin(pod_keeper *k, const char *id, wc_err *err)
{
    return simple(k, "close_stdin", id, err);
}

int pod_keeper_tap(pod_keeper *k, const char *id, int want_out, int want_err, int *out_fd,
                   int *err_fd, wc_err *err)
{
    *out_fd = *err_fd = -1;
    json_t *req =
        json_pack("{s:s,s:s,s:b,s:b}", "op", "tap", "id", id, "out", want_out, "err", want_err);
    int fds[POD_KEEPER_FDS_MAX];
    size_t n = 0;
    int rc = call(k, req, NULL, 0, NULL, fds, &n, err);
    json_decref(req);
    if (rc < 0)
        return -1;
    size_t f = 0;
    if (want_out && f < n)
        *out_fd = fds[f++];
    if (want_err && f < n)
        *err_fd = fds[f++];
    for (; f < n; f++)
        close(fds[f]);
    return 0;
}

int pod_keeper_pty(pod_keeper *k, const char *id, int *fd, wc_err *err)
{
    *fd = -1;
    json_t *req = json_pack("{s:s,s:s}", "op", "pty", "id", id);
    int fds[POD_KEEPER_FDS_MAX];
    size_t n = 0;
    int rc = call(k, req, NULL, 0, NULL, fds, &n, err);
    json_decref(req);
    if (rc == 0 && n >= 1)
        *fd = fds[0];
    for (size_t i = 1; rc == 0 && i < n; i++)
        close(fds[i]);
    return rc == 0 && *fd < 0 ? wc_err_set(err, WC_INTERNAL, "stdio keeper: pty: no descriptor")
                              : rc;
}

int pod_keeper_list(pod_keeper *k, pod_keeper_entry **out, size_t *n, wc_err *err)
{
    *out = NULL;
    *n = 0;
    json_t *req = json_pack("{s:s}", "op", "list");
    json_t *reply = NULL;
    int rc = call(k, req, NULL, 0, &reply, NULL, NULL, err);
    json_decref(req);
    if (rc < 0)
        return -1;
    json_t *list = json_object_get(reply, "containers");
    *n = json_array_size(list);
    *out = wc_xcalloc(*n + 1, sizeof **out);
    for (size_t i = 0; i < *n; i++) {
        json_t *e = json_array_get(list, i);
        pod_keeper_entry *x = &(*out)[i];
        const char *id = json_string_value(json_object_get(e, "id"));
        snprintf(x->id, sizeof x->id, "%s", id ? id : "");
        x->pid = (int)json_integer_value(json_object_get(e, "pid"));
        x->exited = json_is_true(json_object_get(e, "exited"));
        x->exit_code = (int)json_integer_value(json_object_get(e, "exit_code"));
        x->finished_ns = json_integer_value(json_object_get(e, "finished_ns"));
    }
    json_decref(reply);
    return 0;
}
