/* StartContainer: its output to the CRI log, then the OCI runtime's start. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/crash.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "image/image.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

static int sandbox_ready(pod_manager *pm, const char *sandbox_id, wc_err *err)
{
    pod_sandbox *s = pod_sandbox_find(pm, sandbox_id, err);
    if (!s)
        return -1;
    int ready = s->state == POD_SANDBOX_READY;
    pod_sandbox_unref(pm, s);
    if (!ready)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "pod sandbox %s is not ready", sandbox_id);
    return 0;
}

static void mark_start_failed(pod_manager *pm, pod_container *c, const wc_err *why)
{
    wc_err ignored = {0};
    pthread_mutex_lock(&pm->mu);
    c->state = POD_CONTAINER_EXITED;
    c->exit_code = 128;
    c->finished_ns = wc_clock_realtime_ns();
    free(c->reason);
    c->reason = wc_xstrdup("StartError");
    free(c->message);
    c->message = wc_xstrdup(why->msg);
    c->intent[0] = '\0';
    pod_store_put_container(pm, c, &ignored);
    pthread_mutex_unlock(&pm->mu);
}

/* An exit that raced StartContainer is announced now, after STARTED. */
static void flush_deferred_stop(pod_manager *pm, pod_container *c)
{
    pthread_mutex_lock(&pm->mu);
    int deferred = c->stopped_deferred;
    c->starting = c->stopped_deferred = 0;
    pthread_mutex_unlock(&pm->mu);
    if (deferred)
        pod_events_emit(pm, c->id, c->sandbox_id, POD_EVENT_STOPPED);
}

/* Intent "start" first: a crash after the runtime's start leaves a record that recovery
 * corrects from the runtime's state. Called with c->op held, c CREATED. */
static int start_created(pod_manager *pm, pod_container *c, wc_err *err)
{
    hcs_runtime *rt = NULL;
    if (sandbox_ready(pm, c->sandbox_id, err) < 0 || !(rt = pod_runtime_of_container(pm, c, err)) ||
        pod_container_record_intent(pm, c, POD_INTENT_START, err) < 0)
        return -1;
    WC_CRASH_POINT("container.start.recorded");
    int pid = 0;
    if (hcs_spawn(rt, c->id, &pid, err) < 0) {
        mark_start_failed(pm, c, err);
        return -1;
    }
    WC_CRASH_POINT("container.start.spawned");
    if (pod_platform_stdio_begin(pm, c, rt, pid, err) < 0) {
        wc_err ignored = {0};
        pod_container_record_intent(pm, c, NULL, &ignored);
        return -1;
    }
    WC_CRASH_POINT("container.start.stdio");
    pthread_mutex_lock(&pm->mu);
    c->starting = 1;
    pthread_mutex_unlock(&pm->mu);
    int rc = -1;
    /* Taken before the start: an exit reported while hcs_start runs (a command that ends at
     * once) must not finish before the container started. */
    int64_t started_ns = wc_clock_realtime_ns();
    if (hcs_start(rt, c->id, err) < 0) {
        mark_start_failed(pm, c, err);
    } else {
        WC_CRASH_POINT("container.start.started");
        pod_platform_stdio_started(pm, c, rt);
        if (!pid) { /* the platform's init came with the start */
            hcs_state st = {0};
            wc_err ignored = {0};
            hcs_state_of(rt, c->id, &st, &ignored);
            pid = st.pid;
        }
        pthread_mutex_lock(&pm->mu);
        if (c->state == POD_CONTAINER_CREATED) /* it may have exited already */
            c->state = POD_CONTAINER_RUNNING;
        c->started_ns = started_ns;
        c->pid = pid;
        c->intent[0] = '\0';
        rc = pod_store_put_container(pm, c, err);
        pthread_mutex_unlock(&pm->mu);
        pod_events_emit(pm, c->id, c->sandbox_id, POD_EVENT_STARTED);
    }
    flush_deferred_stop(pm, c);
    return rc;
}

int pod_container_start(pod_manager *pm, const char *id, wc_err *err)
{
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&c->op);
    if (pod_container_is_removed(pm, c))
        wc_err_set(err, WC_NOT_FOUND, "container %s not found", c->id);
    else if (c->state != POD_CONTAINER_CREATED)
        wc_err_set(err, WC_FAILED_PRECONDITION, "container %s is not in the created state", c->id);
    else
        rc = start_created(pm, c, err);
    pthread_mutex_unlock(&c->op);
    pod_container_unref(pm, c);
    return rc < 0 ? wc_err_prefix(err, "StartContainer %.12s", id) : 0;
}
