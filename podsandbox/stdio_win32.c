/* A running container's stdio on Windows: a logger in wincrid (logs_win32.c) copies the HCS
 * process pipes into the CRI log and feeds attachers; the container's stdin is kept in it.
 * There is no keeper process on Windows yet: a wincrid restart reopens what HCS still has. */
#include <windows.h>

#include <stdlib.h>

#include "common/xalloc.h"
#include "podsandbox/logger_win32.h"
#include "podsandbox/platform.h"

struct pod_cstdio {
    pod_logger *logger;
};

int pod_platform_stdio_open(pod_manager *pm, wc_err *err)
{
    (void)pm;
    (void)err;
    return 0;
}

void pod_platform_stdio_close(pod_manager *pm)
{
    (void)pm;
}

static int begin(pod_manager *pm, pod_container *c, hcs_runtime *rt, wc_err *err)
{
    int out_fd = -1, err_fd = -1;
    if (hcs_open_output(rt, c->id, &out_fd, &err_fd, err) < 0)
        return -1;
    pod_cstdio *s = wc_xcalloc(1, sizeof *s);
    s->logger = pod_logger_start(*c->log_path ? c->log_path : "/dev/null", out_fd, err_fd, err);
    if (!s->logger) {
        free(s);
        return -1;
    }
    pthread_mutex_lock(&pm->mu);
    c->stdio = s;
    pthread_mutex_unlock(&pm->mu);
    return 0;
}

int pod_platform_stdio_begin(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid,
                             wc_err *err)
{
    (void)pid;
    return begin(pm, c, rt, err);
}

int pod_platform_stdio_recover(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid,
                               wc_err *err)
{
    (void)pid;
    return begin(pm, c, rt, err);
}

static pod_cstdio *take(pod_manager *pm, pod_container *c)
{
    pthread_mutex_lock(&pm->mu);
    pod_cstdio *s = c->stdio;
    c->stdio = NULL;
    pthread_mutex_unlock(&pm->mu);
    return s;
}

/* The logger ends when the process's pipes do, which HCS closes at its exit. */
void pod_platform_stdio_drain(pod_manager *pm, pod_container *c, int64_t until_ns)
{
    (void)until_ns;
    pod_cstdio *s = take(pm, c);
    if (s)
        pod_logger_free_drained(s->logger);
    free(s);
}

void pod_platform_stdio_end(pod_manager *pm, pod_container *c)
{
    pod_platform_stdio_forget(pm, c);
}

void pod_platform_stdio_forget(pod_manager *pm, pod_container *c)
{
    pod_cstdio *s = take(pm, c);
    if (s)
        pod_logger_free_now(s->logger);
    free(s);
}

int pod_platform_stdio_reopen(pod_manager *pm, pod_container *c, wc_err *err)
{
    (void)pm;
    if (!c->stdio)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "the output of container %s is not read",
                          c->id);
    return pod_logger_reopen(c->stdio->logger, err);
}

int pod_platform_stdio_tap(pod_manager *pm, pod_container *c, int want_out, int want_err,
                           int *out_fd, int *err_fd, pod_tap **tap, wc_err *err)
{
    (void)pm;
    if (!c->stdio)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "the output of container %s is not read",
                          c->id);
    return pod_logger_tap(c->stdio->logger, want_out, want_err, out_fd, err_fd, tap, err);
}

int pod_platform_stdio_stdin(pod_manager *pm, pod_container *c, int *fd, wc_err *err)
{
    *fd = -1;
    if (!c->stdio)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s has no stdin", c->id);
    if (!pod_logger_has_stdin(c->stdio->logger)) {
        hcs_runtime *rt = pod_runtime_of_container(pm, c, err);
        int in = -1;
        if (!rt || hcs_open_stdin(rt, c->id, &in, err) < 0)
            return -1;
        pod_logger_keep_stdin(c->stdio->logger, in);
    }
    *fd = pod_logger_dup_stdin(c->stdio->logger);
    if (*fd < 0)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s has no stdin", c->id);
    return 0;
}

void pod_platform_stdio_close_stdin(pod_manager *pm, pod_container *c)
{
    (void)pm;
    if (c->stdio)
        pod_logger_keep_stdin(c->stdio->logger, -1);
}

int pod_platform_stdio_recorded_exit(pod_manager *pm, const char *id, int *exit_code,
                                     int64_t *finished_ns)
{
    (void)pm;
    (void)id;
    (void)exit_code;
    (void)finished_ns;
    return 0; /* nothing outlives wincrid on Windows yet */
}

void pod_platform_stdio_prune(pod_manager *pm)
{
    (void)pm;
}

int pod_platform_stdio_up(pod_manager *pm)
{
    (void)pm;
    return 1; /* wincrid itself holds the stdio */
}
