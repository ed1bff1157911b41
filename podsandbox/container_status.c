/* ContainerStatus, ListContainers and the views list RPCs read in place. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "image/image.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

static pod_container_info *snapshot(const pod_container *c)
{
    pod_container_info *i = wc_xcalloc(1, sizeof *i);
    i->id = wc_xstrdup(c->id);
    i->sandbox_id = wc_xstrdup(c->sandbox_id);
    i->state = c->state;
    i->created_ns = c->created_ns;
    i->started_ns = c->started_ns;
    i->finished_ns = c->finished_ns;
    i->exit_code = c->exit_code;
    i->reason = wc_xstrdup(c->reason);
    i->message = wc_xstrdup(c->message);
    i->image = wc_xstrdup(c->image);
    i->image_id = wc_xstrdup(c->image_id);
    i->image_ref = wc_xstrdup(c->image_ref);
    i->log_path = wc_xstrdup(c->log_path);
    i->pid = c->pid;
    i->user = c->user;
    i->user.groups = wc_xcalloc(c->user.n_groups + 1, sizeof *i->user.groups);
    memcpy(i->user.groups, c->user.groups, c->user.n_groups * sizeof *i->user.groups);
    i->config = pod_container_config_ref(c->config);
    return i;
}

void pod_container_foreach(pod_manager *pm, pod_container_visit_fn fn, void *ctx)
{
    pthread_mutex_lock(&pm->mu);
    for (size_t i = 0; i < pm->n_containers; i++) {
        pod_container *c = pm->containers[i];
        pod_container_info view = {.id = c->id,
                                   .sandbox_id = c->sandbox_id,
                                   .state = c->state,
                                   .created_ns = c->created_ns,
                                   .started_ns = c->started_ns,
                                   .finished_ns = c->finished_ns,
                                   .exit_code = c->exit_code,
                                   .reason = c->reason,
                                   .message = c->message,
                                   .image = c->image,
                                   .image_id = c->image_id,
                                   .image_ref = c->image_ref,
                                   .log_path = c->log_path,
                                   .pid = c->pid,
                                   .user = c->user,
                                   .config = c->config};
        fn(ctx, &view);
    }
    pthread_mutex_unlock(&pm->mu);
}

int pod_container_get(pod_manager *pm, const char *id, pod_container_info **out, wc_err *err)
{
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return -1;
    pthread_mutex_lock(&pm->mu);
    *out = snapshot(c);
    pthread_mutex_unlock(&pm->mu);
    pod_container_unref(pm, c);
    return 0;
}

int pod_container_list(pod_manager *pm, pod_container_info ***out, size_t *n, wc_err *err)
{
    pthread_mutex_lock(&pm->mu);
    *n = pm->n_containers;
    *out = wc_xcalloc(*n + 1, sizeof **out);
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = snapshot(pm->containers[i]);
    pthread_mutex_unlock(&pm->mu);
    return 0;
}

void pod_container_info_free(pod_container_info *i)
{
    if (!i)
        return;
    free(i->id);
    free(i->sandbox_id);
    free(i->reason);
    free(i->message);
    free(i->image);
    free(i->image_id);
    free(i->image_ref);
    free(i->log_path);
    pod_user_clear(&i->user);
    pod_container_config_unref(i->config);
    free(i);
}

void pod_container_list_free(pod_container_info **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pod_container_info_free(list[i]);
    free(list);
}
