/* After a restart: bring the in-memory view in line with what the runtime really has. Pods
 * and containers keep running across a wincrid restart; only what vanished is marked. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

/* Its exit status is lost: 255, reason Unknown, and why in the message. */
static void mark_lost(pod_manager *pm, pod_container *c, const char *why)
{
    pthread_mutex_lock(&pm->mu);
    free(c->message);
    c->message = strdup(why);
    pthread_mutex_unlock(&pm->mu);
    pod_container_mark_exited(pm, c, 0, 255, 0, 0);
}

static hcs_runtime *runtime_by_sandbox(pod_manager *pm, const char *sandbox_id)
{
    for (size_t i = 0; i < pm->n_sandboxes; i++) {
        if (strcmp(pm->sandboxes[i]->id, sandbox_id) == 0) {
            wc_err err = {0};
            return pod_runtime_for(pm, pm->sandboxes[i]->handler, &err);
        }
    }
    return NULL;
}

/* A container the runtime runs: watched again, and its stdio held again. The store may say
 * CREATED if wincrid died between the runtime's start and the record: it runs, so it is. */
static void recover_running(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid)
{
    wc_err err = {0};
    if (hcs_adopt(rt, c->id, &err) < 0)
        wc_warn("pod", "cannot watch a running container", "container=%.12s error=\"%s\"", c->id,
                err.msg);
    if (pod_platform_stdio_recover(pm, c, rt, pid, &err) < 0)
        wc_warn("pod", "cannot hold a running container's stdio again",
                "container=%.12s error=\"%s\"", c->id, err.msg);
    if (c->state == POD_CONTAINER_CREATED) {
        pthread_mutex_lock(&pm->mu);
        c->state = POD_CONTAINER_RUNNING;
        c->pid = pid;
        if (!c->started_ns)
            c->started_ns = wc_clock_realtime_ns();
        pod_store_put_container(pm, c, &err);
        pthread_mutex_unlock(&pm->mu);
    }
}

static void recover_container(pod_manager *pm, pod_container *c)
{
    if (c->state != POD_CONTAINER_RUNNING && c->state != POD_CONTAINER_CREATED)
        return;
    int code = 0;
    int64_t at = 0;
    if (pod_platform_stdio_recorded_exit(pm, c->id, &code, &at)) {
        /* It exited while wincrid was away; the keeper saw its status and wrote its output. */
        pod_container_mark_exited(pm, c, 1, code, at, 0);
        return;
    }
    hcs_runtime *rt = runtime_by_sandbox(pm, c->sandbox_id);
    hcs_state st = {.status = HCS_MISSING};
    wc_err err = {0};
    if (!rt || hcs_state_of(rt, c->id, &st, &err) < 0 || st.status == HCS_MISSING) {
        mark_lost(pm, c, "the container was gone when wincrid restarted");
        return;
    }
    if (st.status == HCS_RUNNING || st.status == HCS_PAUSED)
        recover_running(pm, c, rt, st.pid);
    else if (st.status == HCS_STOPPED && c->state == POD_CONTAINER_RUNNING)
        mark_lost(pm, c, "the container exited while wincrid and its stdio keeper were down");
}

void pod_recover(pod_manager *pm)
{
    size_t running = 0;
    for (size_t i = 0; i < pm->n_containers; i++) {
        recover_container(pm, pm->containers[i]);
        running += pm->containers[i]->state == POD_CONTAINER_RUNNING;
    }
    pod_platform_stdio_prune(pm);
    if (pm->n_sandboxes || pm->n_containers)
        wc_info("pod", "recovered", "sandboxes=%zu containers=%zu running=%zu", pm->n_sandboxes,
                pm->n_containers, running);
}
