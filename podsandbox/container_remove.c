/* RemoveContainer: killed if it runs, then the runtime's container, its writable layer and
 * bundle, its record and its hold on the image. */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "common/crash.h"
#include "common/fs.h"
#include "common/log.h"
#include "image/image.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

/* The backend's container. The record of a half-made container whose rollback failed waits for
 * recovery, and its pod may be removed meanwhile: with no pod to name the handler, every runtime
 * is asked (hcs_delete succeeds where there is nothing). */
static int delete_in_backend(pod_manager *pm, pod_container *c, wc_err *err)
{
    hcs_runtime *rt = pod_runtime_of_container(pm, c, err);
    if (rt)
        return hcs_delete(rt, c->id, err);
    if (err->code != WC_NOT_FOUND)
        return -1;
    wc_err_clear(err);
    for (size_t i = 0; i < pm->cfg->n_handlers; i++)
        if (pm->runtimes[i] && hcs_delete(pm->runtimes[i], c->id, err) < 0)
            return -1;
    return 0;
}

/* Called with c->op held (or before c is indexed). */
int pod_container_reclaim(pod_manager *pm, pod_container *c, wc_err *err)
{
    pod_platform_stdio_end(pm, c);
    if (delete_in_backend(pm, c, err) < 0)
        return -1;
    WC_AUTOFREE char *layer = wc_path_join(pm->containers_dir, c->id);
    WC_AUTOFREE char *bundle = wc_path_join(pm->bundles_dir, c->id);
    /* Moved aside, deleted in the background: the call does not wait for the disk. */
    if (wc_trash_put(pm->trash, pod_platform_remove_tree, layer, err) < 0 ||
        wc_trash_put(pm->trash, pod_platform_remove_tree, bundle, err) < 0)
        return -1;
    if (img_release(pm->images, c->id, err) < 0) {
        wc_warn("pod", "cannot release the container's image", "container=%.12s error=\"%s\"",
                c->id, err->msg);
        wc_err_clear(err);
    }
    return 0;
}

void pod_container_discard(pod_manager *pm, pod_container *c)
{
    wc_err err = {0};
    if (pod_container_reclaim(pm, c, &err) == 0)
        pod_store_delete_container(pm, c->id, &err);
    if (err.code)
        wc_warn("pod", "cannot undo a half-made container", "container=%.12s error=\"%s\"", c->id,
                err.msg);
}

static void set_removed(pod_manager *pm, pod_container *c, int removed)
{
    pthread_mutex_lock(&pm->mu);
    c->removed = removed;
    pthread_mutex_unlock(&pm->mu);
}

int pod_container_remove(pod_manager *pm, const char *id, wc_err *err)
{
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return err->code == WC_NOT_FOUND ? (wc_err_clear(err), 0) : -1;
    pthread_mutex_lock(&c->op);
    if (pod_container_is_removed(pm, c)) { /* by a call that held it while this one waited */
        pthread_mutex_unlock(&c->op);
        pod_container_unref(pm, c);
        return 0;
    }
    int rc = pod_container_record_intent(pm, c, POD_INTENT_REMOVE, err);
    if (rc == 0) {
        WC_CRASH_POINT("container.remove.recorded");
        if (c->state == POD_CONTAINER_RUNNING)
            rc = pod_container_stop_running(pm, c, 0, err);
    }
    if (rc == 0)
        rc = pod_container_reclaim(pm, c, err);
    if (rc == 0) {
        WC_CRASH_POINT("container.remove.reclaimed");
        /* Marked first: an exit report on its way must not write the record back. */
        set_removed(pm, c, 1);
        rc = pod_store_delete_container(pm, c->id, err);
        if (rc < 0)
            set_removed(pm, c, 0);
    }
    pthread_mutex_unlock(&c->op);
    if (rc == 0) {
        pod_events_emit(pm, c->id, c->sandbox_id, POD_EVENT_DELETED);
        pod_index_remove_container(pm, c);
    }
    pod_container_unref(pm, c);
    return rc < 0 ? wc_err_prefix(err, "RemoveContainer %.12s", id) : 0;
}
