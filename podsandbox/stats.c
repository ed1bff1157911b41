/* Container and pod stats, resource updates. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/pbcopy.h"
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
        out->fs_mountpoint = u.mountpoint ? strdup(u.mountpoint) : strdup("");
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

/* Replaces the resources in the stored container config, so status and restarts see them. */
static void store_resources(Runtime__V1__ContainerConfig *cfg,
                            const Runtime__V1__LinuxContainerResources *r,
                            const Runtime__V1__WindowsContainerResources *w)
{
    if (r) {
        if (!cfg->linux) {
            cfg->linux = malloc(sizeof *cfg->linux);
            runtime__v1__linux_container_config__init(cfg->linux);
        }
        if (cfg->linux->resources)
            protobuf_c_message_free_unpacked(&cfg->linux->resources->base, NULL);
        cfg->linux->resources = wc_pb_copy(r);
    }
    if (w) {
        if (!cfg->windows) {
            cfg->windows = malloc(sizeof *cfg->windows);
            runtime__v1__windows_container_config__init(cfg->windows);
        }
        if (cfg->windows->resources)
            protobuf_c_message_free_unpacked(&cfg->windows->resources->base, NULL);
        cfg->windows->resources = wc_pb_copy(w);
    }
}

int pod_container_update_resources(pod_manager *pm, const char *id,
                                   const Runtime__V1__LinuxContainerResources *r,
                                   const Runtime__V1__WindowsContainerResources *w, wc_err *err)
{
    json_t *res = NULL;
    if (pod_platform_resources(r, w, &res, err) < 0)
        return wc_err_prefix(err, "UpdateContainerResources %.12s", id);
    pod_container *c = pod_container_find(pm, id, err);
    if (!c) {
        json_decref(res);
        return -1;
    }
    int rc = 0;
    pthread_mutex_lock(&c->op);
    if (rc == 0 && (c->state == POD_CONTAINER_RUNNING || c->state == POD_CONTAINER_CREATED)) {
        hcs_runtime *rt = pod_runtime_of_container(pm, c, err);
        rc = rt ? hcs_update(rt, c->id, res, err) : -1;
    }
    if (rc == 0) {
        pthread_mutex_lock(&pm->mu);
        store_resources(c->config, r, w);
        rc = pod_store_put_container(pm, c, err);
        pthread_mutex_unlock(&pm->mu);
    }
    pthread_mutex_unlock(&c->op);
    json_decref(res);
    pod_container_unref(pm, c);
    return rc < 0 ? wc_err_prefix(err, "UpdateContainerResources %.12s", id) : 0;
}

int pod_sandbox_update_resources(pod_manager *pm, const char *id,
                                 const Runtime__V1__LinuxContainerResources *overhead,
                                 const Runtime__V1__LinuxContainerResources *resources, wc_err *err)
{
    pod_sandbox *s = pod_sandbox_find(pm, id, err);
    if (!s)
        return -1;
    pthread_mutex_lock(&s->op);
    pthread_mutex_lock(&pm->mu);
    Runtime__V1__PodSandboxConfig *cfg = s->config;
    if (!cfg->linux) {
        cfg->linux = malloc(sizeof *cfg->linux);
        runtime__v1__linux_pod_sandbox_config__init(cfg->linux);
    }
    if (overhead) {
        if (cfg->linux->overhead)
            protobuf_c_message_free_unpacked(&cfg->linux->overhead->base, NULL);
        cfg->linux->overhead = wc_pb_copy(overhead);
    }
    if (resources) {
        if (cfg->linux->resources)
            protobuf_c_message_free_unpacked(&cfg->linux->resources->base, NULL);
        cfg->linux->resources = wc_pb_copy(resources);
    }
    int rc = pod_store_put_sandbox(pm, s, err);
    pthread_mutex_unlock(&pm->mu);
    pthread_mutex_unlock(&s->op);
    pod_sandbox_unref(pm, s);
    return rc;
}
