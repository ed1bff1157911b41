/* A running container's stdio on Linux: the stdio keeper (keeper.h) writes the CRI log and
 * outlives wincrid; wincrid holds the same descriptors too (the FIFOs read-write, the
 * terminal's master, the stdin writer), so that a keeper that dies loses nothing either: the
 * output waits in the pipes until a new keeper, handed every container again, reads it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "podsandbox/keeper.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"
#include "hcs/oom_linux.h"

struct pod_cstdio {
    int out, err, in; /* our holds; -1. With a terminal, out is its master. */
    int tty;
    int pid;
    uint64_t start_time;
    int drained; /* mu: the keeper said the init ended and its output is written */
};

struct pod_tap {
    int probe[2]; /* copies of the read ends, polled for the writer's hang-up */
};

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void cstdio_free(pod_cstdio *s)
{
    if (!s)
        return;
    close_fd(&s->out);
    close_fd(&s->err);
    close_fd(&s->in);
    free(s);
}

/* ---- the keeper's news ---- */

static void on_keeper_exit(void *ctx, const pod_keeper_exit *e)
{
    pod_manager *pm = ctx;
    wc_err err = {0};
    pod_container *c = pod_container_find(pm, e->id, &err);
    if (!c)
        return;
    /* The reaper reports the same exit with the cgroup's OOM count; whichever comes first
     * decides the reason, so the keeper's report reads the count too. */
    hcs_runtime *rt = pod_runtime_of_container(pm, c, &err);
    int oom = e->known && rt && hcs_oom_killed(rt, c->id);
    pod_container_mark_exited(pm, c, e->known, e->exit_code, e->finished_ns, oom);
    pthread_mutex_lock(&pm->mu);
    if (c->stdio)
        c->stdio->drained = 1;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&pm->mu);
    pod_container_unref(pm, c);
}

static int hand_over(pod_manager *pm, pod_container *c, pod_cstdio *s, wc_err *err)
{
    return pod_keeper_add(pm->keeper, c->id, c->log_path, s->pid, s->start_time, s->tty, s->out,
                          s->err, s->in, err);
}

static void hand_over_again(pod_manager *pm, pod_container *c)
{
    wc_err err = {0};
    if (c->stdio && hand_over(pm, c, c->stdio, &err) < 0)
        wc_warn("pod", "cannot hand a container to the new keeper", "container=%.12s error=\"%s\"",
                c->id, err.msg);
}

/* A new keeper took over: every container whose output may still come is handed to it. */
static void resync(void *ctx, pod_keeper *k)
{
    (void)k;
    pod_containers_each(ctx, hand_over_again);
}

int pod_platform_stdio_open(pod_manager *pm, wc_err *err)
{
    pod_keeper_client cb = {.on_exit = on_keeper_exit, .resync = resync, .ctx = pm};
    if (pod_keeper_connect(pm->cfg->state_dir, &cb, &pm->keeper, err) < 0)
        return -1;
    return pod_keeper_list(pm->keeper, &pm->keeper_seen, &pm->n_keeper_seen, err);
}

void pod_platform_stdio_close(pod_manager *pm)
{
    pod_keeper_disconnect(pm->keeper); /* it goes on: the containers keep their stdio */
    pm->keeper = NULL;
    free(pm->keeper_seen);
    pm->keeper_seen = NULL;
    pm->n_keeper_seen = 0;
}

int pod_platform_stdio_up(pod_manager *pm)
{
    return pm->keeper && pod_keeper_connected(pm->keeper);
}

int pod_platform_stdio_recorded_exit(pod_manager *pm, const char *id, int *exit_code,
                                     int64_t *finished_ns)
{
    for (size_t i = 0; i < pm->n_keeper_seen; i++) {
        const pod_keeper_entry *e = &pm->keeper_seen[i];
        if (strcmp(e->id, id) == 0 && e->exited && e->exit_code != 255) {
            *exit_code = e->exit_code;
            *finished_ns = e->finished_ns;
            return 1;
        }
    }
    return 0;
}

void pod_platform_stdio_prune(pod_manager *pm)
{
    for (size_t i = 0; i < pm->n_keeper_seen; i++) {
        wc_err err = {0};
        const char *id = pm->keeper_seen[i].id;
        pod_container *c = pod_container_find(pm, id, &err);
        if (c) {
            pod_container_unref(pm, c);
            continue;
        }
        if (strlen(id) == POD_ID_LEN && pod_keeper_remove(pm->keeper, id, &err) == 0)
            wc_info("pod", "the keeper let go of a container that has no record", "container=%.12s",
                    id);
    }
    free(pm->keeper_seen);
    pm->keeper_seen = NULL;
    pm->n_keeper_seen = 0;
}

/* Our holds: the output (FIFOs read-write, or the terminal's master) and the stdin writer. */
static int take_holds(pod_manager *pm, pod_container *c, hcs_runtime *rt, pod_cstdio *s,
                      wc_err *err)
{
    if (hcs_open_output(rt, c->id, &s->out, &s->err, err) < 0) {
        /* A terminal cannot be reopened from the bundle after a restart: the keeper has it. */
        if (!c->config->tty || pod_keeper_pty(pm->keeper, c->id, &s->out, err) < 0)
            return -1;
        wc_err_clear(err);
    }
    s->tty = c->config->tty;
    if (c->config->stdin_ && !s->tty && hcs_open_stdin(rt, c->id, &s->in, err) < 0)
        return -1;
    return 0;
}

static int begin(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid, wc_err *err)
{
    pod_cstdio *s = wc_xcalloc(1, sizeof *s);
    s->out = s->err = s->in = -1;
    s->pid = pid;
    s->start_time = pod_keeper_start_time(pid);
    if (take_holds(pm, c, rt, s, err) < 0 || hand_over(pm, c, s, err) < 0) {
        cstdio_free(s);
        return -1;
    }
    pthread_mutex_lock(&pm->mu);
    pod_cstdio *old = c->stdio; /* a start retried after a crash hands the stdio over again */
    c->stdio = s;
    pthread_mutex_unlock(&pm->mu);
    cstdio_free(old);
    return 0;
}

int pod_platform_stdio_begin(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid,
                             wc_err *err)
{
    return begin(pm, c, rt, pid, err);
}

/* The FIFOs went to the keeper before the start (begin). */
void pod_platform_stdio_started(pod_manager *pm, pod_container *c, hcs_runtime *rt)
{
    (void)pm;
    (void)c;
    (void)rt;
}

int pod_platform_stdio_recover(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid,
                               wc_err *err)
{
    return begin(pm, c, rt, pid, err);
}

void pod_platform_stdio_drain(pod_manager *pm, pod_container *c, int64_t until_ns)
{
    pthread_mutex_lock(&pm->mu);
    while (c->stdio && !c->stdio->drained && wc_clock_monotonic_ns() < until_ns) {
        struct timespec ts = wc_clock_deadline_in(50);
        pthread_cond_timedwait(&c->changed, &pm->mu, &ts);
    }
    pthread_mutex_unlock(&pm->mu);
}

void pod_platform_stdio_end(pod_manager *pm, pod_container *c)
{
    wc_err err = {0};
    if (pm->keeper && pod_keeper_remove(pm->keeper, c->id, &err) < 0)
        wc_warn("pod", "the keeper did not let go of a container", "container=%.12s error=\"%s\"",
                c->id, err.msg);
    pthread_mutex_lock(&pm->mu);
    pod_cstdio *s = c->stdio;
    c->stdio = NULL;
    pthread_mutex_unlock(&pm->mu);
    cstdio_free(s);
}

void pod_platform_stdio_forget(pod_manager *pm, pod_container *c)
{
    pthread_mutex_lock(&pm->mu);
    pod_cstdio *s = c->stdio;
    c->stdio = NULL;
    pthread_mutex_unlock(&pm->mu);
    cstdio_free(s);
}

int pod_platform_stdio_reopen(pod_manager *pm, pod_container *c, wc_err *err)
{
    return pod_keeper_reopen(pm->keeper, c->id, err);
}

int pod_platform_stdio_tap(pod_manager *pm, pod_container *c, int want_out, int want_err,
                           int *out_fd, int *err_fd, pod_tap **tap, wc_err *err)
{
    *tap = NULL;
    if (pod_keeper_tap(pm->keeper, c->id, want_out, want_err, out_fd, err_fd, err) < 0)
        return -1;
    pod_tap *t = wc_xcalloc(1, sizeof *t);
    t->probe[0] = *out_fd >= 0 ? fcntl(*out_fd, F_DUPFD_CLOEXEC, 0) : -1;
    t->probe[1] = *err_fd >= 0 ? fcntl(*err_fd, F_DUPFD_CLOEXEC, 0) : -1;
    *tap = t;
    return 0;
}

/* The keeper closed its ends: the container exited, or this attacher fell behind. */
int pod_tap_ended(pod_tap *t)
{
    if (!t)
        return 1;
    int ended = 1;
    for (int i = 0; i < 2; i++) {
        if (t->probe[i] < 0)
            continue;
        struct pollfd p = {.fd = t->probe[i], .events = POLLIN};
        ended &= poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
    }
    return ended;
}

void pod_tap_free(pod_tap *t)
{
    if (!t)
        return;
    close_fd(&t->probe[0]);
    close_fd(&t->probe[1]);
    free(t);
}

int pod_platform_stdio_stdin(pod_manager *pm, pod_container *c, int *fd, wc_err *err)
{
    (void)pm;
    pod_cstdio *s = c->stdio;
    int src = !s ? -1 : s->tty ? s->out : s->in;
    *fd = src >= 0 ? fcntl(src, F_DUPFD_CLOEXEC, 0) : -1;
    if (*fd < 0)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s has no stdin", c->id);
    return 0;
}

void pod_platform_stdio_close_stdin(pod_manager *pm, pod_container *c)
{
    wc_err err = {0};
    if (c->stdio)
        close_fd(&c->stdio->in);
    if (pm->keeper && pod_keeper_close_stdin(pm->keeper, c->id, &err) < 0)
        wc_warn("pod", "the keeper kept a container's stdin", "container=%.12s error=\"%s\"", c->id,
                err.msg);
}

int pod_tty_resize(int tty_fd, unsigned width, unsigned height)
{
    struct winsize ws = {.ws_row = (unsigned short)height, .ws_col = (unsigned short)width};
    return ioctl(tty_fd, TIOCSWINSZ, &ws);
}
