/* A running container's stdio on Windows. With the stdio keeper (keeper_win32.h) connected,
 * the init process's HCS pipes go to it as soon as hcs_start made them: it writes the CRI log
 * and outlives wincrid, and wincrid keeps copies so that a new keeper can be handed them if
 * this one dies. Without a keeper (it could not be started), a logger in wincrid
 * (logs_win32.c) copies the output into the log, and a restart loses what comes meanwhile. */
#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/handle_win32.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "podsandbox/keeper_win32.h"
#include "podsandbox/logger_win32.h"
#include "podsandbox/platform.h"
#include "hcs/stdio_keep_win32.h"

#define DRAIN_POLL_MS 50

struct pod_cstdio {
    pod_logger *logger; /* wincrid writes the log itself (no keeper) */
    int kept;           /* the keeper holds the streams */
    HANDLE std[3];      /* with kept: our copies of stdin, stdout, stderr once started; NULL */
};

static void cstdio_free(pod_cstdio *s)
{
    if (!s)
        return;
    pod_logger_free_now(s->logger);
    for (int i = 0; i < 3; i++)
        if (s->std[i])
            CloseHandle(s->std[i]);
    free(s);
}

static void set_stdio(pod_manager *pm, pod_container *c, pod_cstdio *s)
{
    pthread_mutex_lock(&pm->mu);
    pod_cstdio *old = c->stdio;
    c->stdio = s;
    pthread_mutex_unlock(&pm->mu);
    cstdio_free(old);
}

static pod_cstdio *take(pod_manager *pm, pod_container *c)
{
    pthread_mutex_lock(&pm->mu);
    pod_cstdio *s = c->stdio;
    c->stdio = NULL;
    pthread_mutex_unlock(&pm->mu);
    return s;
}

static int keeper_up(pod_manager *pm)
{
    return pm->keeper && pod_wkeeper_connected(pm->keeper);
}

static const char *log_path_of(const pod_container *c)
{
    return *c->log_path ? c->log_path : "";
}

/* ---- the keeper ---- */

static void hand_over_again(pod_manager *pm, pod_container *c)
{
    wc_err err = {0};
    pod_cstdio *s = c->stdio;
    if (s && s->kept && s->std[1] &&
        pod_wkeeper_add(pm->keeper, c->id, log_path_of(c), s->std, &err) < 0)
        wc_warn("pod", "cannot hand a container to the new keeper", "container=%.12s error=\"%s\"",
                c->id, err.msg);
}

/* A new keeper took over: every container it should hold is handed to it again. */
static void resync(void *ctx)
{
    pod_containers_each(ctx, hand_over_again);
}

/* Without a keeper wincrid still runs containers; their output then lives only as long as
 * this wincrid (pod_platform_stdio_up says so). */
int pod_platform_stdio_open(pod_manager *pm, wc_err *err)
{
    if (pod_wkeeper_connect(pm->cfg->state_dir, resync, pm, &pm->keeper, err) < 0) {
        wc_warn("pod", "no stdio keeper: container output is written by wincrid itself",
                "error=\"%s\"", err->msg);
        wc_err_clear(err);
        pm->keeper = NULL;
    }
    return 0;
}

void pod_platform_stdio_close(pod_manager *pm)
{
    pod_wkeeper_disconnect(pm->keeper); /* it goes on: the containers keep their stdio */
    pm->keeper = NULL;
}

int pod_platform_stdio_up(pod_manager *pm)
{
    return keeper_up(pm);
}

/* ---- in wincrid, without a keeper ---- */

static int begin_here(pod_manager *pm, pod_container *c, hcs_runtime *rt, wc_err *err)
{
    int out_fd = -1, err_fd = -1;
    if (hcs_open_output(rt, c->id, &out_fd, &err_fd, err) < 0)
        return -1;
    pod_cstdio *s = wc_xcalloc(1, sizeof *s);
    s->logger = pod_logger_start(*c->log_path ? c->log_path : "NUL", out_fd, err_fd, err);
    if (!s->logger) {
        free(s);
        return -1;
    }
    set_stdio(pm, c, s);
    return 0;
}

/* ---- the seam (platform.h) ---- */

/* The init's pipes exist only once hcs_start made the process: the backend keeps them for
 * pod_platform_stdio_started, which hands them to the keeper. */
int pod_platform_stdio_begin(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid,
                             wc_err *err)
{
    (void)pid;
    if (!keeper_up(pm) || hcs_keep_std(rt, c->id, err) < 0) {
        wc_err_clear(err);
        return begin_here(pm, c, rt, err);
    }
    pod_cstdio *s = wc_xcalloc(1, sizeof *s);
    s->kept = 1;
    set_stdio(pm, c, s);
    return 0;
}

/* The keeper refused or went: wincrid writes the log from its own copies. */
static void log_here(pod_container *c, pod_cstdio *s)
{
    wc_err err = {0};
    int out = wc_fd_of_copy(s->std[1], _O_RDONLY), errfd = wc_fd_of_copy(s->std[2], _O_RDONLY);
    s->logger = pod_logger_start(*c->log_path ? c->log_path : "NUL", out, errfd, &err);
    if (!s->logger)
        wc_warn("pod", "cannot log a container's output", "container=%.12s error=\"%s\"", c->id,
                err.msg);
    s->kept = 0;
}

void pod_platform_stdio_started(pod_manager *pm, pod_container *c, hcs_runtime *rt)
{
    pod_cstdio *s = c->stdio;
    if (!s || !s->kept || s->std[1])
        return;
    wc_err err = {0};
    void *std[3] = {0};
    if (hcs_take_std(rt, c->id, std, &err) < 0) {
        wc_warn("pod", "a started container's pipes are not there", "container=%.12s error=\"%s\"",
                c->id, err.msg);
        return;
    }
    pthread_mutex_lock(&pm->mu);
    for (int i = 0; i < 3; i++)
        s->std[i] = std[i];
    pthread_mutex_unlock(&pm->mu);
    if (!pm->keeper || pod_wkeeper_add(pm->keeper, c->id, log_path_of(c), s->std, &err) < 0) {
        wc_warn("pod", "the stdio keeper did not take a container; wincrid logs it",
                "container=%.12s error=\"%s\"", c->id, err.msg);
        log_here(c, s);
    }
}

int pod_platform_stdio_recover(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid,
                               wc_err *err)
{
    (void)pid;
    HANDLE std[3];
    if (!keeper_up(pm) || pod_wkeeper_get(pm->keeper, c->id, std, err) < 0)
        return begin_here(pm, c, rt, err); /* a container the keeper never had */
    pod_cstdio *s = wc_xcalloc(1, sizeof *s);
    s->kept = 1;
    for (int i = 0; i < 3; i++)
        s->std[i] = std[i];
    set_stdio(pm, c, s);
    return 0;
}

/* Until the output is all in the log (the init's pipes close when it exits). */
void pod_platform_stdio_drain(pod_manager *pm, pod_container *c, int64_t until_ns)
{
    pod_cstdio *s = c->stdio;
    if (s && s->kept) {
        int ended = 0;
        wc_err err = {0};
        while (!ended && wc_clock_monotonic_ns() < until_ns &&
               pod_wkeeper_ended(pm->keeper, c->id, &ended, &err) == 0 && !ended)
            Sleep(DRAIN_POLL_MS);
        return;
    }
    s = take(pm, c);
    if (s)
        pod_logger_free_drained(s->logger);
    if (s)
        s->logger = NULL;
    cstdio_free(s);
}

void pod_platform_stdio_end(pod_manager *pm, pod_container *c)
{
    wc_err err = {0};
    pod_cstdio *s = take(pm, c);
    if (s && s->kept && keeper_up(pm) && pod_wkeeper_remove(pm->keeper, c->id, &err) < 0)
        wc_warn("pod", "the keeper did not let go of a container", "container=%.12s error=\"%s\"",
                c->id, err.msg);
    cstdio_free(s);
}

void pod_platform_stdio_forget(pod_manager *pm, pod_container *c)
{
    cstdio_free(take(pm, c));
}

static int no_output(const pod_container *c, wc_err *err)
{
    return wc_err_set(err, WC_FAILED_PRECONDITION, "the output of container %s is not read", c->id);
}

int pod_platform_stdio_reopen(pod_manager *pm, pod_container *c, wc_err *err)
{
    pod_cstdio *s = c->stdio;
    if (s && s->kept)
        return pod_wkeeper_reopen(pm->keeper, c->id, err);
    return s && s->logger ? pod_logger_reopen(s->logger, err) : no_output(c, err);
}

static int keeper_tap(pod_manager *pm, pod_container *c, int want_out, int want_err, int *out_fd,
                      int *err_fd, pod_tap **tap, wc_err *err)
{
    HANDLE out = NULL, errh = NULL;
    if (pod_wkeeper_tap(pm->keeper, c->id, want_out, want_err, &out, &errh, err) < 0)
        return -1;
    *out_fd = wc_fd_of_copy(out, _O_RDONLY);
    *err_fd = wc_fd_of_copy(errh, _O_RDONLY);
    *tap = pod_tap_probe(out, errh); /* the originals: for telling when they ended */
    return 0;
}

int pod_platform_stdio_tap(pod_manager *pm, pod_container *c, int want_out, int want_err,
                           int *out_fd, int *err_fd, pod_tap **tap, wc_err *err)
{
    pod_cstdio *s = c->stdio;
    *out_fd = *err_fd = -1;
    *tap = NULL;
    if (s && s->kept)
        return keeper_tap(pm, c, want_out, want_err, out_fd, err_fd, tap, err);
    if (!s || !s->logger)
        return no_output(c, err);
    return pod_logger_tap(s->logger, want_out, want_err, out_fd, err_fd, tap, err);
}

static int no_stdin(const pod_container *c, wc_err *err)
{
    return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s has no stdin", c->id);
}

int pod_platform_stdio_stdin(pod_manager *pm, pod_container *c, int *fd, wc_err *err)
{
    pod_cstdio *s = c->stdio;
    *fd = -1;
    if (s && s->kept) {
        *fd = wc_fd_of_copy(s->std[0], _O_WRONLY);
        return *fd < 0 ? no_stdin(c, err) : 0;
    }
    if (!s || !s->logger)
        return no_stdin(c, err);
    if (!pod_logger_has_stdin(s->logger)) {
        hcs_runtime *rt = pod_runtime_of_container(pm, c, err);
        int in = -1;
        if (!rt || hcs_open_stdin(rt, c->id, &in, err) < 0)
            return -1;
        pod_logger_keep_stdin(s->logger, in);
    }
    *fd = pod_logger_dup_stdin(s->logger);
    return *fd < 0 ? no_stdin(c, err) : 0;
}

void pod_platform_stdio_close_stdin(pod_manager *pm, pod_container *c)
{
    pod_cstdio *s = c->stdio;
    if (!s)
        return;
    if (s->logger)
        pod_logger_keep_stdin(s->logger, -1);
    if (!s->kept)
        return;
    wc_err err = {0};
    if (s->std[0])
        CloseHandle(s->std[0]);
    s->std[0] = NULL;
    if (pod_wkeeper_close_stdin(pm->keeper, c->id, &err) < 0)
        wc_warn("pod", "the keeper kept a container's stdin", "container=%.12s error=\"%s\"", c->id,
                err.msg);
}

/* Exits that happened while wincrid was away come from HCS, which keeps the process. */
int pod_platform_stdio_recorded_exit(pod_manager *pm, const char *id, int *exit_code,
                                     int64_t *finished_ns)
{
    (void)pm;
    (void)id;
    (void)exit_code;
    (void)finished_ns;
    return 0;
}

/* Recovery done: the keeper lets go of containers that have no record. */
void pod_platform_stdio_prune(pod_manager *pm)
{
    char **ids = NULL;
    size_t n = 0;
    wc_err err = {0};
    if (!keeper_up(pm) || pod_wkeeper_list(pm->keeper, &ids, &n, &err) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        pod_container *c = pod_container_find(pm, ids[i], &err);
        if (c)
            pod_container_unref(pm, c);
        else if (pod_wkeeper_remove(pm->keeper, ids[i], &err) == 0)
            wc_info("pod", "the keeper let go of a container that has no record", "container=%.12s",
                    ids[i]);
        free(ids[i]);
    }
    free(ids);
}
