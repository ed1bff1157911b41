/* The streaming server's view of pods: exec'd processes, attachments to a container's main
 * process (taps of its output and its stdin, from the platform's stdio: platform.h), and
 * port-forward connections. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

/* How long Attach waits for a lifecycle operation (StartContainer, StopContainer) on the
 * container to finish before it gives up. */
#define ATTACH_OP_WAIT_S 5

struct pod_exec {
    hcs_exec_proc *proc;
};

struct pod_attach {
    pod_manager *pm;
    pod_container *c; /* a reference */
    pod_tap *tap;
    int tty_fd;     /* the container's terminal, for resizes; -1 */
    int detached;   /* guarded by pm->mu */
    int stdin_once; /* closes the container's stdin when this attacher leaves */
};

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int require_running(pod_manager *pm, const pod_container *c, const char *verb, wc_err *err)
{
    pthread_mutex_lock(&pm->mu);
    int running = c->state == POD_CONTAINER_RUNNING;
    pthread_mutex_unlock(&pm->mu);
    if (!running)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "%s: container %s is not running", verb,
                          c->id);
    return 0;
}

/* ---- exec ---- */

static int exec_in(pod_manager *pm, pod_container *c, const char *const *cmd, size_t n_cmd,
                   pod_stdio *io, pod_exec *e, wc_err *err)
{
    hcs_runtime *rt = pod_runtime_of_container(pm, c, err);
    if (!rt)
        return -1;
    json_t *spec = json_loads(c->spec_json ? c->spec_json : "", 0, NULL);
    json_t *proc = spec ? pod_platform_exec_process(spec, cmd, n_cmd, io->tty) : NULL;
    json_decref(spec);
    if (!proc)
        return wc_err_set(err, WC_INTERNAL, "Exec: container %s has no usable process spec", c->id);
    hcs_exec_stdio st = {
        .tty = io->tty, .want_in = io->want_in, .want_out = io->want_out, .want_err = io->want_err};
    int rc = hcs_exec_start(rt, c->id, proc, &st, &io->in, &io->out, &io->err, &e->proc, err);
    json_decref(proc);
    return rc;
}

int pod_container_exec_start(pod_manager *pm, const char *id, const char *const *cmd, size_t n_cmd,
                             pod_stdio *io, pod_exec **out, wc_err *err)
{
    io->in = io->out = io->err = -1;
    *out = NULL;
    if (n_cmd == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "Exec: cmd must not be empty");
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return -1;
    pod_exec *e = wc_xcalloc(1, sizeof *e);
    int rc = require_running(pm, c, "Exec", err);
    if (rc == 0)
        rc = exec_in(pm, c, cmd, n_cmd, io, e, err);
    if (rc == 0)
        wc_debug("pod", "exec started", "container=%.12s cmd=%s tty=%d", c->id, cmd[0], io->tty);
    pod_container_unref(pm, c);
    if (rc < 0) {
        free(e);
        return -1;
    }
    *out = e;
    return 0;
}

int pod_exec_resize(pod_exec *e, unsigned width, unsigned height)
{
    return hcs_exec_resize(e->proc, width, height);
}

int pod_exec_wait(pod_exec *e, int *exit_code)
{
    return hcs_exec_wait(e->proc, exit_code);
}

void pod_exec_kill(pod_exec *e)
{
    hcs_exec_kill(e->proc);
}

void pod_exec_free(pod_exec *e)
{
    if (!e)
        return;
    hcs_exec_free(e->proc);
    free(e);
}

/* ---- attach ---- */

/* c->op, but not for longer than a lifecycle operation should take. */
static int lock_op(pod_container *c, wc_err *err)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ATTACH_OP_WAIT_S;
    int rc = pthread_mutex_timedlock(&c->op, &until);
    if (rc != 0)
        return wc_err_sys(err, WC_FAILED_PRECONDITION, rc,
                          "Attach: container %s is busy (starting or stopping)", c->id);
    return 0;
}

/* The container's stdin stays open across attachers (the platform's stdio keeps it). */
static int attach_stdin(pod_manager *pm, pod_container *c, pod_attach *a, pod_stdio *io,
                        wc_err *err)
{
    if (!c->config->stdin_)
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "Attach: container %s was not created with stdin", c->id);
    if (pod_platform_stdio_stdin(pm, c, &io->in, err) < 0)
        return wc_err_prefix(err, "Attach");
    if (io->tty && pod_platform_stdio_stdin(pm, c, &a->tty_fd, err) < 0)
        return wc_err_prefix(err, "Attach");
    a->stdin_once = c->config->stdin_once;
    return 0;
}

/* Called with c->op held. */
static int attach_locked(pod_manager *pm, pod_container *c, pod_attach *a, pod_stdio *io,
                         wc_err *err)
{
    if (require_running(pm, c, "Attach", err) < 0)
        return -1;
    if (!c->stdio)
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "Attach: the output of container %s is not being read", c->id);
    io->tty = c->config->tty;
    if (io->want_in && attach_stdin(pm, c, a, io, err) < 0)
        return -1;
    return pod_platform_stdio_tap(pm, c, io->want_out, io->want_err && !io->tty, &io->out, &io->err,
                                  &a->tap, err);
}

int pod_container_attach(pod_manager *pm, const char *id, pod_stdio *io, pod_attach **out,
                         wc_err *err)
{
    io->in = io->out = io->err = -1;
    *out = NULL;
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return -1;
    pod_attach *a = wc_xcalloc(1, sizeof *a);
    *a = (pod_attach){.pm = pm, .c = c, .tty_fd = -1};
    int rc = lock_op(c, err);
    if (rc == 0) {
        rc = attach_locked(pm, c, a, io, err);
        pthread_mutex_unlock(&c->op);
    }
    if (rc < 0) {
        close_fd(&io->in);
        pod_attach_free(a);
        return -1;
    }
    wc_debug("pod", "attached", "container=%.12s stdin=%d tty=%d", c->id, io->want_in, io->tty);
    *out = a;
    return 0;
}

int pod_attach_resize(pod_attach *a, unsigned width, unsigned height)
{
    return a->tty_fd >= 0 ? pod_tty_resize(a->tty_fd, width, height) : -1;
}

static void wait_changed(pod_manager *pm, pod_container *c, int ms)
{
    struct timespec ts = wc_clock_deadline_in(ms);
    pthread_cond_timedwait(&c->changed, &pm->mu, &ts);
}

int pod_attach_wait(pod_attach *a, int *exit_code)
{
    pod_manager *pm = a->pm;
    pod_container *c = a->c;
    *exit_code = -1;
    pthread_mutex_lock(&pm->mu);
    /* The tap ends when the output does (or when this attacher fell behind). */
    while (c->state == POD_CONTAINER_RUNNING && !a->detached && !pod_tap_ended(a->tap))
        wait_changed(pm, c, 100);
    /* Output may end a moment before the exit is recorded. */
    for (int i = 0; i < 10 && c->state == POD_CONTAINER_RUNNING && !a->detached; i++)
        wait_changed(pm, c, 100);
    int exited = c->state == POD_CONTAINER_EXITED;
    if (exited)
        *exit_code = c->exit_code;
    pthread_mutex_unlock(&pm->mu);
    return exited ? 0 : -1;
}

void pod_attach_detach(pod_attach *a)
{
    pthread_mutex_lock(&a->pm->mu);
    a->detached = 1;
    pthread_cond_broadcast(&a->c->changed);
    pthread_mutex_unlock(&a->pm->mu);
}

/* stdin_once (CRI): the first attacher's leaving ends the container's stdin. */
static void end_stdin(pod_attach *a)
{
    wc_err ignored = {0};
    if (lock_op(a->c, &ignored) < 0)
        return;
    pod_platform_stdio_close_stdin(a->pm, a->c);
    pthread_mutex_unlock(&a->c->op);
}

void pod_attach_stdin_closed(pod_attach *a)
{
    if (!a->stdin_once || a->c->config->tty)
        return;
    a->stdin_once = 0;
    end_stdin(a);
}

void pod_attach_free(pod_attach *a)
{
    if (!a)
        return;
    if (a->stdin_once)
        end_stdin(a);
    pod_tap_free(a->tap);
    close_fd(&a->tty_fd);
    pod_container_unref(a->pm, a->c);
    free(a);
}

/* ---- port forward ---- */

int pod_sandbox_port_forward(pod_manager *pm, const char *sandbox_id, int port, int *fd,
                             wc_err *err)
{
    *fd = -1;
    pod_sandbox *s = pod_sandbox_find(pm, sandbox_id, err);
    if (!s)
        return -1;
    int rc = 0;
    if (s->state != POD_SANDBOX_READY)
        rc = wc_err_set(err, WC_FAILED_PRECONDITION, "PortForward: pod sandbox %s is not ready",
                        s->id);
    else
        rc = hns_netns_connect(pm->net, s->netns, port, fd, err);
    pod_sandbox_unref(pm, s);
    return rc;
}
