/* StopContainer: the stop signal, the grace period, then SIGKILL. */
#include <time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/crash.h"
#include "common/fs.h"
#include "common/log.h"
#include "image/image.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

/* How long StopContainer waits for the last output of an exited container to be written. */
#define STOP_DRAIN_WAIT_NS (5 * 1000000000LL)

/* Waits until the container has exited or the monotonic deadline passes. */
static int wait_exited(pod_manager *pm, pod_container *c, int64_t until_ns)
{
    pthread_mutex_lock(&pm->mu);
    while (c->state == POD_CONTAINER_RUNNING && wc_clock_monotonic_ns() < until_ns) {
        struct timespec ts = wc_clock_deadline_in(50);
        pthread_cond_timedwait(&c->changed, &pm->mu, &ts);
    }
    int exited = c->state != POD_CONTAINER_RUNNING;
    pthread_mutex_unlock(&pm->mu);
    return exited;
}

/* The container's stop signal (CRI enum, mapped to the platform's number), else SIGTERM. */
static int stop_signal(const pod_container *c)
{
    int sig = pod_platform_signal(c->config->stop_signal);
    return sig > 0 ? sig : POD_SIGTERM;
}

/* Signals, waits for the grace, then kills. Called with c->op held. */
int pod_container_stop_running(pod_manager *pm, pod_container *c, int64_t timeout_s, wc_err *err)
{
    hcs_runtime *rt = pod_runtime_of_container(pm, c, err);
    if (!rt)
        return -1;
    int64_t now = wc_clock_monotonic_ns();
    if (timeout_s > 0) {
        wc_err ignored = {0};
        hcs_kill(rt, c->id, stop_signal(c), 0, &ignored);
        if (wait_exited(pm, c, now + timeout_s * 1000000000LL))
            return 0;
    }
    if (hcs_kill(rt, c->id, POD_SIGKILL, 1, err) < 0 && c->state == POD_CONTAINER_RUNNING) {
        hcs_state st = {0};
        wc_err ignored = {0};
        if (hcs_state_of(rt, c->id, &st, &ignored) == 0 && st.status == HCS_RUNNING)
            return -1;
    }
    if (!wait_exited(pm, c, wc_clock_monotonic_ns() + 30 * 1000000000LL))
        return wc_err_set(err, WC_INTERNAL, "container %s did not exit after SIGKILL", c->id);
    return 0;
}

/* The runtime's hold on the exited processes goes now, while the caller waits for the stop
 * anyway, so that RemoveContainer only takes down files. A failure leaves it to the removal. */
static void release_runtime(pod_manager *pm, pod_container *c)
{
    wc_err err = {0};
    hcs_runtime *rt = pod_runtime_of_container(pm, c, &err);
    if (rt && hcs_release(rt, c->id, &err) < 0)
        wc_warn("pod", "the runtime did not let go of a stopped container",
                "container=%.12s error=\"%s\"", c->id, err.msg);
}

int pod_container_stop(pod_manager *pm, const char *id, int64_t timeout_s, wc_err *err)
{
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return err->code == WC_NOT_FOUND ? (wc_err_clear(err), 0) : -1;
    pthread_mutex_lock(&c->op);
    int rc = 0;
    if (c->state == POD_CONTAINER_RUNNING) {
        /* The deadline goes with the intent: recovery knows whether the grace was over. */
        char intent[POD_INTENT_MAX];
        snprintf(
            intent, sizeof intent, "%s@%lld", POD_INTENT_STOP,
            (long long)(wc_clock_realtime_ns() + (timeout_s > 0 ? timeout_s : 0) * 1000000000LL));
        rc = pod_container_record_intent(pm, c, intent, err);
        if (rc == 0) {
            WC_CRASH_POINT("container.stop.recorded");
            rc = pod_container_stop_running(pm, c, timeout_s, err);
        }
        if (rc == 0) {
            WC_CRASH_POINT("container.stop.exited");
            release_runtime(pm, c);
            rc = pod_container_record_intent(pm, c, NULL, err);
        }
    }
    /* What it wrote before it ended is in the log when StopContainer returns. */
    if (rc == 0 && c->state == POD_CONTAINER_EXITED)
        pod_platform_stdio_drain(pm, c, wc_clock_monotonic_ns() + STOP_DRAIN_WAIT_NS);
    pthread_mutex_unlock(&c->op);
    pod_container_unref(pm, c);
    return rc < 0 ? wc_err_prefix(err, "StopContainer %.12s", id) : 0;
}
