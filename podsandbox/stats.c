/* Container and pod stats, resource updates. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/xalloc.h"
#include "image/image.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

/* Fills the CPU rate from the previous sample of this container. */
static void cpu_rate(pod_manager *pm, pod_container *c, pod_container_stats *out)
{
    pthread_mutex_lock(&pm->mu);
    if (c->last_cpu_at && out->timestamp_ns > c->last_cpu_at &&
        out->cpu_usage_ns >= c->last_cpu_ns) {
        double dt = (double)(out->timestamp_ns - c->last_cpu_at);
        out->cpu_nano_cores = (uint64_t)((double)(out->cpu_usage_ns - c->last_cpu_ns) / dt * 1e9);
        out->has_cpu_rate = 1;
    }
    c->last_cpu_ns = out->cpu_usage_ns;
    c->last_cpu_at = out->timestamp_ns;
    pthread_mutex_unlock(&pm->mu);
}

static void measure_running(pod_manager *pm, pod_container *c, pod_container_stats *out)
{
    wc_err err = {0};
    hcs_runtime *rt = pod_runtime_of_container(pm, c, &err);
    hcs_stats st = {0};
    if (!rt || hcs_stats_of(rt, c->id, &st, &err) < 0)
        return;
    out->running = 1;
    out->timestamp_ns = st.timestamp_ns ? st.timestamp_ns : wc_clock_realtime_ns();
    out->cpu_usage_ns = st.cpu_usage_ns;
    out->mem_working_set = st.memory_working_set;
    out->mem_usage = st.memory_usage_bytes;
    out->mem_rss = st.memory_rss_bytes;
    out->page_faults = st.memory_page_faults;
    out->major_page_faults = st.memory_major_page_faults;
    if (st.memory_limit_bytes > st.memory_working_set)
        out->mem_available = st.memory_limit_bytes - st.memory_working_set;
    cpu_rate(pm, c, out);
}

static void measure_writable_layer(pod_manager *pm, const pod_container *c,
                                   pod_container_stats *out)
{
    char *layer = wc_path_join(pm->containers_dir, c->id);
    char *upper = wc_path_join(layer, "upper");
    img_fs_usage u = {0};
    wc_err err = {0};
    if (img_dir_usage(upper, &u, &err) == 0) {
        out->fs_used_bytes = u.used_bytes;
        out->fs_inodes_used = u.inodes_used;
        out->fs_mountpoint = u.mountpoint ? wc_xstrdup(u.mountpoint) : wc_xstrdup("");
    }
    img_fs_usage_clear(&u);
    free(layer);
    free(upper);
}

int pod_container_stats_get(pod_manager *pm, const char *id, pod_container_stats *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return -1;
    out->timestamp_ns = wc_clock_realtime_ns();
    if (c->state == POD_CONTAINER_RUNNING)
        measure_running(pm, c, out);
    measure_writable_layer(pm, c, out);
    pod_container_unref(pm, c);
    return 0;
}

void pod_container_stats_clear(pod_container_stats *s)
{
    free(s->fs_mountpoint);
    memset(s, 0, sizeof *s);
}

int pod_sandbox_stats_get(pod_manager *pm, const char *id, pod_sandbox_stats *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    pod_sandbox *s = pod_sandbox_find(pm, id, err);
    if (!s)
        return -1;
    out->timestamp_ns = wc_clock_realtime_ns();
    size_t n = 0;
    char **ids = pod_sandbox_container_ids(pm, s->id, &n);
    for (size_t i = 0; i < n; i++) {
        pod_container_stats cs;
        wc_err ignored = {0};
        if (pod_container_stats_get(pm, ids[i], &cs, &ignored) == 0 && cs.running) {
            out->cpu_usage_ns += cs.cpu_usage_ns;
            out->cpu_nano_cores += cs.cpu_nano_cores;
            out->mem_working_set += cs.mem_working_set;
            out->mem_usage += cs.mem_usage;
            out->mem_rss += cs.mem_rss;
            out->process_count++;
        }
        pod_container_stats_clear(&cs);
        free(ids[i]);
    }
    free(ids);
    wc_err ignored = {0};
    if (*s->netns &&
        hns_netns_stats(pm->net, s->netns, &out->rx_bytes, &out->tx_bytes, &ignored) == 0)
        out->has_network = 1;
    pod_sandbox_unref(pm, s);
    return 0;
}

/* dst (cleared first) becomes a copy of src. */
static int copy_resources(pod_linux_resources *dst, const pod_linux_resources *src, wc_err *err)
{
    json_t *j = pod_linux_resources_to_json(src);
    pod_linux_resources_clear(dst);
    int rc = j ? pod_linux_resources_from_json(j, dst, err)
               : wc_err_set(err, WC_INTERNAL, "cannot encode the resources");
    json_decref(j);
    return rc;
}

/* The stored config with new resources (either part may be NULL): a changed copy replaces it,
 * so status, restarts and readers holding the old one each see a whole config. Called with
 * pm->mu held. */
static int replace_container_resources(pod_container *c, const pod_linux_resources *r,
                                       const pod_windows_resources *w, wc_err *err)
{
    pod_container_config *next = pod_container_config_copy(c->config);
    if (!next)
        return wc_err_set(err, WC_INTERNAL, "cannot copy the container's config");
    if (r && copy_resources(&next->linux_resources, r, err) < 0) {
        pod_container_config_unref(next);
        return -1;
    }
    if (r)
        next->linux_resources.set = 1;
    if (w) {
        next->windows_resources = *w;
        next->windows_resources.set = 1;
    }
    pod_container_config_unref(c->config);
    c->config = next;
    return 0;
}

int pod_container_update_resources(pod_manager *pm, const char *id, const pod_linux_resources *r,
                                   const pod_windows_resources *w, wc_err *err)
{
    json_t *res = NULL;
    if (pod_platform_resources(r, w, &res, err) < 0)
        return wc_err_prefix(err, "UpdateContainerResources %.12s", id);
    pod_container *c = pod_container_find(pm, id, err);
    if (!c) {
        json_decref(res);
        return -1;
    }
    pthread_mutex_lock(&c->op);
    int rc = pod_container_is_removed(pm, c)
                 ? wc_err_set(err, WC_NOT_FOUND, "container %s not found", c->id)
                 : 0;
    if (rc == 0 && (c->state == POD_CONTAINER_RUNNING || c->state == POD_CONTAINER_CREATED)) {
        hcs_runtime *rt = pod_runtime_of_container(pm, c, err);
        rc = rt ? hcs_update(rt, c->id, res, err) : -1;
    }
    if (rc == 0) {
        pthread_mutex_lock(&pm->mu);
        rc = replace_container_resources(c, r, w, err);
        if (rc == 0)
            rc = pod_store_put_container(pm, c, err);
        pthread_mutex_unlock(&pm->mu);
    }
    pthread_mutex_unlock(&c->op);
    json_decref(res);
    pod_container_unref(pm, c);
    return rc < 0 ? wc_err_prefix(err, "UpdateContainerResources %.12s", id) : 0;
}

int pod_sandbox_update_resources(pod_manager *pm, const char *id,
                                 const pod_linux_resources *overhead,
                                 const pod_linux_resources *resources, wc_err *err)
{
    pod_sandbox *s = pod_sandbox_find(pm, id, err);
    if (!s)
        return -1;
    pthread_mutex_lock(&s->op);
    int removed = pod_sandbox_is_removed(pm, s);
    pthread_mutex_lock(&pm->mu);
    pod_sandbox_config *next = removed ? NULL : pod_sandbox_config_copy(s->config);
    int rc = removed ? wc_err_set(err, WC_NOT_FOUND, "pod sandbox %s not found", s->id)
             : next  ? 0
                     : wc_err_set(err, WC_INTERNAL, "cannot copy the pod sandbox's config");
    if (rc == 0 && overhead)
        rc = copy_resources(&next->linux_overhead, overhead, err);
    if (rc == 0 && resources)
        rc = copy_resources(&next->linux_resources, resources, err);
    if (rc == 0) {
        pod_sandbox_config_unref(s->config);
        s->config = next;
        rc = pod_store_put_sandbox(pm, s, err);
    } else {
        pod_sandbox_config_unref(next);
    }
    pthread_mutex_unlock(&pm->mu);
    pthread_mutex_unlock(&s->op);
    pod_sandbox_unref(pm, s);
    return rc;
}
