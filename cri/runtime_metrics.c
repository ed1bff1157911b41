/* ListMetricDescriptors, ListPodSandboxMetrics, StreamPodSandboxMetrics: cAdvisor-style
 * metrics kubelet can serve at /metrics/cadvisor when it takes stats from the runtime. Values
 * are integers (CRI's UInt64Value), so CPU time is whole seconds, as other runtimes do. */
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "common/clock.h"
#include "common/xalloc.h"
#include "cri/daemon.h"
#include "cri/pbutil.h"
#include "cri/runtime_handlers.h"
#include "podsandbox/podsandbox.h"

typedef enum { PER_CONTAINER, PER_POD } metric_scope;

typedef struct metric_def {
    const char *name;
    const char *help;
    Runtime__V1__MetricType type;
    metric_scope scope;
    /* Per container: the value, and whether it is only measured while running. */
    uint64_t (*value)(const pod_container_stats *st);
    int needs_running;
} metric_def;

static uint64_t cpu_seconds(const pod_container_stats *st)
{
    return st->cpu_usage_ns / 1000000000ULL;
}

static uint64_t mem_usage(const pod_container_stats *st)
{
    return st->mem_usage;
}

static uint64_t mem_working_set(const pod_container_stats *st)
{
    return st->mem_working_set;
}

static uint64_t mem_rss(const pod_container_stats *st)
{
    return st->mem_rss;
}

static uint64_t fs_bytes(const pod_container_stats *st)
{
    return st->fs_used_bytes;
}

static const char *const container_labels[] = {"container", "pod", "namespace", "id"};
static const char *const pod_labels[] = {"pod", "namespace", "id", "interface"};

static const metric_def defs[] = {
    {"container_cpu_usage_seconds_total", "Cumulative CPU time consumed, in seconds",
     RUNTIME__V1__METRIC_TYPE__COUNTER, PER_CONTAINER, cpu_seconds, 1},
    {"container_memory_usage_bytes", "Memory usage including page cache, in bytes",
     RUNTIME__V1__METRIC_TYPE__GAUGE, PER_CONTAINER, mem_usage, 1},
    {"container_memory_working_set_bytes", "Memory working set (usage minus inactive file)",
     RUNTIME__V1__METRIC_TYPE__GAUGE, PER_CONTAINER, mem_working_set, 1},
    {"container_memory_rss", "Anonymous and swap cache memory, in bytes",
     RUNTIME__V1__METRIC_TYPE__GAUGE, PER_CONTAINER, mem_rss, 1},
    {"container_fs_usage_bytes", "Bytes used by the container's writable layer",
     RUNTIME__V1__METRIC_TYPE__GAUGE, PER_CONTAINER, fs_bytes, 0},
    {"container_network_receive_bytes_total", "Bytes received by the pod",
     RUNTIME__V1__METRIC_TYPE__COUNTER, PER_POD, NULL, 0},
    {"container_network_transmit_bytes_total", "Bytes sent by the pod",
     RUNTIME__V1__METRIC_TYPE__COUNTER, PER_POD, NULL, 0},
};
#define NET_RX (&defs[5])
#define NET_TX (&defs[6])
#define N_DEFS (sizeof defs / sizeof defs[0])

static pod_manager *pods(cri_call *call)
{
    return cri_call_daemon(call)->pods;
}

static char **strings(const char *const *v, size_t n)
{
    char **out = wc_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = cri_strdup(v[i]);
    return out;
}

int cri_list_metric_descriptors(cri_call *call, const ProtobufCMessage *req,
                                ProtobufCMessage **resp, wc_err *err)
{
    Runtime__V1__ListMetricDescriptorsResponse *r = cri_new(
        Runtime__V1__ListMetricDescriptorsResponse, runtime__v1__list_metric_descriptors_response);
    r->descriptors = wc_xcalloc(N_DEFS + 1, sizeof *r->descriptors);
    for (size_t i = 0; i < N_DEFS; i++) {
        Runtime__V1__MetricDescriptor *d =
            cri_new(Runtime__V1__MetricDescriptor, runtime__v1__metric_descriptor);
        d->name = cri_strdup(defs[i].name);
        d->help = cri_strdup(defs[i].help);
        d->n_label_keys = 4;
        d->label_keys = strings(defs[i].scope == PER_POD ? pod_labels : container_labels, 4);
        r->descriptors[r->n_descriptors++] = d;
    }
    *resp = &r->base;
    return 0;
}

static Runtime__V1__Metric *metric(const metric_def *d, int64_t ts, const char *const labels[4],
                                   uint64_t value)
{
    Runtime__V1__Metric *m = cri_new(Runtime__V1__Metric, runtime__v1__metric);
    m->name = cri_strdup(d->name);
    m->timestamp = ts;
    m->metric_type = d->type;
    m->n_label_values = 4;
    m->label_values = strings(labels, 4);
    m->value = cri_new(Runtime__V1__UInt64Value, runtime__v1__uint64_value);
    m->value->value = value;
    return m;
}

static Runtime__V1__ContainerMetrics *
container_metrics(pod_manager *pm, const pod_container_info *c, const pod_sandbox_info *s)
{
    pod_container_stats st;
    wc_err ignored = {0};
    if (pod_container_stats_get(pm, c->id, &st, &ignored) < 0)
        return NULL;
    Runtime__V1__ContainerMetrics *cm =
        cri_new(Runtime__V1__ContainerMetrics, runtime__v1__container_metrics);
    cm->container_id = cri_strdup(c->id);
    cm->metrics = wc_xcalloc(N_DEFS + 1, sizeof *cm->metrics);
    const char *labels[4] = {c->config->name, s->config->name, s->config->namespace_, c->id};
    for (size_t i = 0; i < N_DEFS; i++)
        if (defs[i].scope == PER_CONTAINER && (st.running || !defs[i].needs_running))
            cm->metrics[cm->n_metrics++] =
                metric(&defs[i], st.timestamp_ns, labels, defs[i].value(&st));
    pod_container_stats_clear(&st);
    return cm;
}

static Runtime__V1__PodSandboxMetrics *pod_metrics(pod_manager *pm, const pod_sandbox_info *s,
                                                   pod_container_info **all, size_t n_all)
{
    Runtime__V1__PodSandboxMetrics *pmx =
        cri_new(Runtime__V1__PodSandboxMetrics, runtime__v1__pod_sandbox_metrics);
    pmx->pod_sandbox_id = cri_strdup(s->id);
    pod_sandbox_stats st;
    wc_err ignored = {0};
    pmx->metrics = wc_xcalloc(3, sizeof *pmx->metrics);
    if (pod_sandbox_stats_get(pm, s->id, &st, &ignored) == 0 && st.has_network) {
        const char *labels[4] = {s->config->name, s->config->namespace_, s->id, "eth0"};
        pmx->metrics[pmx->n_metrics++] = metric(NET_RX, st.timestamp_ns, labels, st.rx_bytes);
        pmx->metrics[pmx->n_metrics++] = metric(NET_TX, st.timestamp_ns, labels, st.tx_bytes);
    }
    pmx->container_metrics = wc_xcalloc(n_all + 1, sizeof *pmx->container_metrics);
    for (size_t i = 0; i < n_all; i++) {
        if (strcmp(all[i]->sandbox_id, s->id) != 0 || all[i]->state != POD_CONTAINER_RUNNING)
            continue;
        Runtime__V1__ContainerMetrics *cm = container_metrics(pm, all[i], s);
        if (cm)
            pmx->container_metrics[pmx->n_container_metrics++] = cm;
    }
    return pmx;
}

/* Metrics of every ready pod; *n set. */
static Runtime__V1__PodSandboxMetrics **collect(pod_manager *pm, size_t *n)
{
    pod_sandbox_info **sandboxes = NULL;
    pod_container_info **containers = NULL;
    size_t ns = 0, nc = 0;
    wc_err ignored = {0};
    pod_sandbox_list(pm, &sandboxes, &ns, &ignored);
    pod_container_list(pm, &containers, &nc, &ignored);
    Runtime__V1__PodSandboxMetrics **out = wc_xcalloc(ns + 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; i < ns; i++)
        if (sandboxes[i]->state == POD_SANDBOX_READY)
            out[(*n)++] = pod_metrics(pm, sandboxes[i], containers, nc);
    pod_sandbox_list_free(sandboxes, ns);
    pod_container_list_free(containers, nc);
    return out;
}

int cri_list_pod_sandbox_metrics(cri_call *call, const ProtobufCMessage *req,
                                 ProtobufCMessage **resp, wc_err *err)
{
    Runtime__V1__ListPodSandboxMetricsResponse *r = cri_new(
        Runtime__V1__ListPodSandboxMetricsResponse, runtime__v1__list_pod_sandbox_metrics_response);
    r->pod_metrics = collect(pods(call), &r->n_pod_metrics);
    *resp = &r->base;
    return 0;
}

int cri_stream_pod_sandbox_metrics(cri_call *call, const ProtobufCMessage *req, wc_err *err)
{
    size_t n = 0;
    Runtime__V1__PodSandboxMetrics **all = collect(pods(call), &n);
    int rc = cri_send_batched(call, &runtime__v1__stream_pod_sandbox_metrics_response__descriptor,
                              (void **)all, n, 64, err);
    for (size_t i = 0; i < n; i++)
        protobuf_c_message_free_unpacked(&all[i]->base, NULL);
    free(all);
    return rc;
}
