/* RuntimeService: container and pod stats (single, list, stream) and resource updates. */
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "common/xalloc.h"
#include "cri/daemon.h"
#include "cri/pbutil.h"
#include "cri/podconfig_pb.h"
#include "cri/runtime_stats_platform.h"
#include "cri/runtime_handlers.h"
#include "podsandbox/podsandbox.h"

#define IN(Type) const Runtime__V1__##Type *in = (const Runtime__V1__##Type *)req
#define STREAM_BATCH 128

static pod_manager *pods(cri_call *call)
{
    return cri_call_daemon(call)->pods;
}

static Runtime__V1__UInt64Value *u64(uint64_t v)
{
    Runtime__V1__UInt64Value *m = cri_new(Runtime__V1__UInt64Value, runtime__v1__uint64_value);
    m->value = v;
    return m;
}

static Runtime__V1__ContainerAttributes *container_attributes(const pod_container_info *c)
{
    Runtime__V1__ContainerAttributes *a =
        cri_new(Runtime__V1__ContainerAttributes, runtime__v1__container_attributes);
    a->id = cri_strdup(c->id);
    a->metadata = cri_container_metadata_pb(c->config);
    cri_kvs_to_map(&c->config->labels, &a->n_labels, &a->labels,
                   &runtime__v1__container_attributes__labels_entry__descriptor);
    cri_kvs_to_map(&c->config->annotations, &a->n_annotations, &a->annotations,
                   &runtime__v1__container_attributes__annotations_entry__descriptor);
    return a;
}

static Runtime__V1__CpuUsage *cpu_usage(int64_t ts, uint64_t total, uint64_t rate, int has_rate)
{
    Runtime__V1__CpuUsage *cpu = cri_new(Runtime__V1__CpuUsage, runtime__v1__cpu_usage);
    cpu->timestamp = ts;
    cpu->usage_core_nano_seconds = u64(total);
    if (has_rate)
        cpu->usage_nano_cores = u64(rate);
    return cpu;
}

static Runtime__V1__MemoryUsage *memory_usage(int64_t ts, uint64_t ws, uint64_t usage, uint64_t rss)
{
    Runtime__V1__MemoryUsage *m = cri_new(Runtime__V1__MemoryUsage, runtime__v1__memory_usage);
    m->timestamp = ts;
    m->working_set_bytes = u64(ws);
    m->usage_bytes = u64(usage);
    m->rss_bytes = u64(rss);
    return m;
}

static Runtime__V1__ContainerStats *container_stats_message(const pod_container_info *c,
                                                            const pod_container_stats *st)
{
    Runtime__V1__ContainerStats *s =
        cri_new(Runtime__V1__ContainerStats, runtime__v1__container_stats);
    s->attributes = container_attributes(c);
    if (st->running) {
        s->cpu =
            cpu_usage(st->timestamp_ns, st->cpu_usage_ns, st->cpu_nano_cores, st->has_cpu_rate);
        s->memory = memory_usage(st->timestamp_ns, st->mem_working_set, st->mem_usage, st->mem_rss);
        if (st->mem_available)
            s->memory->available_bytes = u64(st->mem_available);
        s->memory->page_faults = u64(st->page_faults);
        s->memory->major_page_faults = u64(st->major_page_faults);
    }
    s->writable_layer = cri_new(Runtime__V1__FilesystemUsage, runtime__v1__filesystem_usage);
    s->writable_layer->timestamp = st->timestamp_ns;
    s->writable_layer->fs_id =
        cri_new(Runtime__V1__FilesystemIdentifier, runtime__v1__filesystem_identifier);
    s->writable_layer->fs_id->mountpoint = cri_strdup(st->fs_mountpoint);
    s->writable_layer->used_bytes = u64(st->fs_used_bytes);
    s->writable_layer->inodes_used = u64(st->fs_inodes_used);
    return s;
}

/* Stats of one container, NULL (err set) when it is gone. */
static Runtime__V1__ContainerStats *stats_of(pod_manager *pm, const pod_container_info *c,
                                             wc_err *err)
{
    pod_container_stats st;
    if (pod_container_stats_get(pm, c->id, &st, err) < 0)
        return NULL;
    Runtime__V1__ContainerStats *m = container_stats_message(c, &st);
    pod_container_stats_clear(&st);
    return m;
}

int cri_container_stats(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        wc_err *err)
{
    IN(ContainerStatsRequest);
    pod_container_info *c = NULL;
    if (pod_container_get(pods(call), in->container_id, &c, err) < 0)
        return -1;
    Runtime__V1__ContainerStats *s = stats_of(pods(call), c, err);
    pod_container_info_free(c);
    if (!s)
        return -1;
    Runtime__V1__ContainerStatsResponse *r =
        cri_new(Runtime__V1__ContainerStatsResponse, runtime__v1__container_stats_response);
    r->stats = s;
    *resp = &r->base;
    return 0;
}

static int prefix_ok(const char *filter, const char *id)
{
    return !*filter || strncmp(id, filter, strlen(filter)) == 0;
}

static int container_wanted(const Runtime__V1__ContainerStatsFilter *f, const pod_container_info *c)
{
    /* kubelet asks for the stats of running containers. */
    if (c->state != POD_CONTAINER_RUNNING)
        return 0;
    if (!f)
        return 1;
    return prefix_ok(f->id, c->id) && prefix_ok(f->pod_sandbox_id, c->sandbox_id) &&
           cri_labels_match(&c->config->labels, f->n_label_selector,
                            (void *const *)f->label_selector);
}

/* Collects the stats of the wanted containers; *n set. */
static Runtime__V1__ContainerStats **
collect_container_stats(pod_manager *pm, const Runtime__V1__ContainerStatsFilter *f,
                        const char *sandbox_id, size_t *n)
{
    pod_container_info **all = NULL;
    size_t count = 0;
    wc_err err = {0};
    pod_container_list(pm, &all, &count, &err);
    Runtime__V1__ContainerStats **out = wc_xcalloc(count + 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; i < count; i++) {
        if (!container_wanted(f, all[i]))
            continue;
        if (sandbox_id && strcmp(all[i]->sandbox_id, sandbox_id) != 0)
            continue;
        Runtime__V1__ContainerStats *s = stats_of(pm, all[i], &err);
        if (s)
            out[(*n)++] = s;
    }
    pod_container_list_free(all, count);
    return out;
}

int cri_list_container_stats(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                             wc_err *err)
{
    IN(ListContainerStatsRequest);
    Runtime__V1__ListContainerStatsResponse *r = cri_new(
        Runtime__V1__ListContainerStatsResponse, runtime__v1__list_container_stats_response);
    r->stats = collect_container_stats(pods(call), in->filter, NULL, &r->n_stats);
    *resp = &r->base;
    return 0;
}

int cri_stream_container_stats(cri_call *call, const ProtobufCMessage *req, wc_err *err)
{
    IN(StreamContainerStatsRequest);
    size_t n = 0;
    Runtime__V1__ContainerStats **all = collect_container_stats(pods(call), in->filter, NULL, &n);
    int rc = cri_send_batched(call, &runtime__v1__stream_container_stats_response__descriptor,
                              (void **)all, n, STREAM_BATCH, err);
    for (size_t i = 0; i < n; i++)
        protobuf_c_message_free_unpacked(&all[i]->base, NULL);
    free(all);
    return rc;
}

/* ---- pods ---- */

static Runtime__V1__PodSandboxStats *pod_stats_message(pod_manager *pm, const pod_sandbox_info *s,
                                                       wc_err *err)
{
    pod_sandbox_stats st;
    if (pod_sandbox_stats_get(pm, s->id, &st, err) < 0)
        return NULL;
    Runtime__V1__PodSandboxStats *m =
        cri_new(Runtime__V1__PodSandboxStats, runtime__v1__pod_sandbox_stats);
    Runtime__V1__PodSandboxAttributes *a =
        cri_new(Runtime__V1__PodSandboxAttributes, runtime__v1__pod_sandbox_attributes);
    a->id = cri_strdup(s->id);
    a->metadata = cri_sandbox_metadata_pb(s->config);
    cri_kvs_to_map(&s->config->labels, &a->n_labels, &a->labels,
                   &runtime__v1__pod_sandbox_attributes__labels_entry__descriptor);
    cri_kvs_to_map(&s->config->annotations, &a->n_annotations, &a->annotations,
                   &runtime__v1__pod_sandbox_attributes__annotations_entry__descriptor);
    m->attributes = a;
    Runtime__V1__LinuxPodSandboxStats *l =
        cri_new(Runtime__V1__LinuxPodSandboxStats, runtime__v1__linux_pod_sandbox_stats);
    l->cpu = cpu_usage(st.timestamp_ns, st.cpu_usage_ns, st.cpu_nano_cores, 1);
    l->memory = memory_usage(st.timestamp_ns, st.mem_working_set, st.mem_usage, st.mem_rss);
    l->process = cri_new(Runtime__V1__ProcessUsage, runtime__v1__process_usage);
    l->process->timestamp = st.timestamp_ns;
    l->process->process_count = u64(st.process_count);
    if (st.has_network) {
        l->network = cri_new(Runtime__V1__NetworkUsage, runtime__v1__network_usage);
        l->network->timestamp = st.timestamp_ns;
        Runtime__V1__NetworkInterfaceUsage *i =
            cri_new(Runtime__V1__NetworkInterfaceUsage, runtime__v1__network_interface_usage);
        i->name = cri_strdup("eth0");
        i->rx_bytes = u64(st.rx_bytes);
        i->tx_bytes = u64(st.tx_bytes);
        l->network->default_interface = i;
        l->network->n_interfaces = 1;
        l->network->interfaces = wc_xcalloc(1, sizeof *l->network->interfaces);
        l->network->interfaces[0] = cri_copy(i);
    }
    l->containers = collect_container_stats(pm, NULL, s->id, &l->n_containers);
    cri_pod_stats_platform(m, l); /* .linux, or .windows on Windows */
    return m;
}

int cri_pod_sandbox_stats(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                          wc_err *err)
{
    IN(PodSandboxStatsRequest);
    pod_sandbox_info *s = NULL;
    if (pod_sandbox_get(pods(call), in->pod_sandbox_id, &s, err) < 0)
        return -1;
    Runtime__V1__PodSandboxStats *m = pod_stats_message(pods(call), s, err);
    pod_sandbox_info_free(s);
    if (!m)
        return -1;
    Runtime__V1__PodSandboxStatsResponse *r =
        cri_new(Runtime__V1__PodSandboxStatsResponse, runtime__v1__pod_sandbox_stats_response);
    r->stats = m;
    *resp = &r->base;
    return 0;
}

static Runtime__V1__PodSandboxStats **
collect_pod_stats(pod_manager *pm, const Runtime__V1__PodSandboxStatsFilter *f, size_t *n)
{
    pod_sandbox_info **all = NULL;
    size_t count = 0;
    wc_err err = {0};
    pod_sandbox_list(pm, &all, &count, &err);
    Runtime__V1__PodSandboxStats **out = wc_xcalloc(count + 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; i < count; i++) {
        const pod_sandbox_info *s = all[i];
        if (s->state != POD_SANDBOX_READY)
            continue;
        if (f &&
            (!prefix_ok(f->id, s->id) || !cri_labels_match(&s->config->labels, f->n_label_selector,
                                                           (void *const *)f->label_selector)))
            continue;
        Runtime__V1__PodSandboxStats *m = pod_stats_message(pm, s, &err);
        if (m)
            out[(*n)++] = m;
    }
    pod_sandbox_list_free(all, count);
    return out;
}

int cri_list_pod_sandbox_stats(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                               wc_err *err)
{
    IN(ListPodSandboxStatsRequest);
    Runtime__V1__ListPodSandboxStatsResponse *r = cri_new(
        Runtime__V1__ListPodSandboxStatsResponse, runtime__v1__list_pod_sandbox_stats_response);
    r->stats = collect_pod_stats(pods(call), in->filter, &r->n_stats);
    *resp = &r->base;
    return 0;
}

int cri_stream_pod_sandbox_stats(cri_call *call, const ProtobufCMessage *req, wc_err *err)
{
    IN(StreamPodSandboxStatsRequest);
    size_t n = 0;
    Runtime__V1__PodSandboxStats **all = collect_pod_stats(pods(call), in->filter, &n);
    int rc = cri_send_batched(call, &runtime__v1__stream_pod_sandbox_stats_response__descriptor,
                              (void **)all, n, STREAM_BATCH, err);
    for (size_t i = 0; i < n; i++)
        protobuf_c_message_free_unpacked(&all[i]->base, NULL);
    free(all);
    return rc;
}

/* ---- updates ---- */

int cri_update_container_resources(cri_call *call, const ProtobufCMessage *req,
                                   ProtobufCMessage **resp, wc_err *err)
{
    IN(UpdateContainerResourcesRequest);
    pod_linux_resources r;
    pod_windows_resources w;
    cri_linux_resources_from_pb(in->linux, &r);
    cri_windows_resources_from_pb(in->windows, &w);
    int rc = pod_container_update_resources(pods(call), in->container_id, in->linux ? &r : NULL,
                                            in->windows ? &w : NULL, err);
    pod_linux_resources_clear(&r);
    if (rc < 0)
        return -1;
    *resp = &cri_new(Runtime__V1__UpdateContainerResourcesResponse,
                     runtime__v1__update_container_resources_response)
                 ->base;
    return 0;
}

int cri_update_pod_sandbox_resources(cri_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **resp, wc_err *err)
{
    IN(UpdatePodSandboxResourcesRequest);
    pod_linux_resources overhead, resources;
    cri_linux_resources_from_pb(in->overhead, &overhead);
    cri_linux_resources_from_pb(in->resources, &resources);
    int rc = pod_sandbox_update_resources(pods(call), in->pod_sandbox_id,
                                          in->overhead ? &overhead : NULL,
                                          in->resources ? &resources : NULL, err);
    pod_linux_resources_clear(&overhead);
    pod_linux_resources_clear(&resources);
    if (rc < 0)
        return -1;
    *resp = &cri_new(Runtime__V1__UpdatePodSandboxResourcesResponse,
                     runtime__v1__update_pod_sandbox_resources_response)
                 ->base;
    return 0;
}
