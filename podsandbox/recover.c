/* After a restart: bring the in-memory view in line with what the runtime really has. Pods
 * and containers keep running across a wincrid restart; only what vanished is marked. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "podsandbox/model.h"

static void mark_lost(pod_manager *pm, pod_container *c, const char *why)
{
    wc_err err = {0};
    pthread_mutex_lock(&pm->mu);
    c->state = POD_CONTAINER_EXITED;
    c->exit_code = 255;
    if (!c->finished_ns)
        c->finished_ns = wc_clock_realtime_ns();
    free(c->reason);
    c->reason = strdup("Unknown");
    free(c->message);
    c->message = strdup(why);
    pod_store_put_container(pm, c, &err);
    pthread_mutex_unlock(&pm->mu);
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

static void recover_container(pod_manager *pm, pod_container *c)
{
    if (c->state != POD_CONTAINER_RUNNING && c->state != POD_CONTAINER_CREATED)
        return;
    hcs_runtime *rt = runtime_by_sandbox(pm, c->sandbox_id);
    hcs_state st = {.status = HCS_MISSING};
    wc_err err = {0};
    if (!rt || hcs_state_of(rt, c->id, &st, &err) < 0 || st.status == HCS_MISSING) {
        mark_lost(pm, c, "the container was gone when wincrid restarted");
        return;
    }
    if (c->state == POD_CONTAINER_CREATED)
        return;
    if (st.status == HCS_STOPPED) {
        mark_lost(pm, c, "the container exited while wincrid was not running");
        return;
    }
    int out_fd = -1, err_fd = -1;
    if (hcs_adopt(rt, c->id, &err) < 0)
        wc_warn("pod", "cannot watch a running container", "container=%.12s error=\"%s\"", c->id,
                err.msg);
    if (hcs_open_output(rt, c->id, &out_fd, &err_fd, &err) == 0)
        c->logger =
            pod_logger_start(*c->log_path ? c->log_path : "/dev/null", out_fd, err_fd, &err);
}

void pod_recover(pod_manager *pm)
{
    size_t running = 0;
    for (size_t i = 0; i < pm->n_containers; i++) {
        recover_container(pm, pm->containers[i]);
        running += pm->containers[i]->state == POD_CONTAINER_RUNNING;
    }
    if (pm->n_sandboxes || pm->n_containers)
        wc_info("pod", "recovered", "sandboxes=%zu containers=%zu running=%zu", pm->n_sandboxes,
                pm->n_containers, running);
}
