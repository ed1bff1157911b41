/* RuntimeService: pod sandbox and container RPCs, translated to the pod model. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "common/xalloc.h"
#include "cri/daemon.h"
#include "cri/pbutil.h"
#include "cri/podconfig_pb.h"
#include "cri/runtime_handlers.h"
#include "podsandbox/podsandbox.h"

#define IN(Type) const Runtime__V1__##Type *in = (const Runtime__V1__##Type *)req
#define EMPTY_RESPONSE(Type, prefix)                                                               \
    do {                                                                                           \
        *resp = &cri_new(Runtime__V1__##Type, runtime__v1__##prefix)->base;                        \
    } while (0)

static pod_manager *pods(cri_call *call)
{
    return cri_call_daemon(call)->pods;
}

/* ---- sandboxes ---- */

int cri_run_pod_sandbox(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        wc_err *err)
{
    IN(RunPodSandboxRequest);
    char *id = NULL;
    pod_sandbox_config *cfg = cri_sandbox_config_from_pb(in->config);
    int rc = pod_sandbox_run(pods(call), cfg, in->runtime_handler, &id, err);
    pod_sandbox_config_unref(cfg);
    if (rc < 0)
        return -1;
    Runtime__V1__RunPodSandboxResponse *r =
        cri_new(Runtime__V1__RunPodSandboxResponse, runtime__v1__run_pod_sandbox_response);
    r->pod_sandbox_id = id;
    *resp = &r->base;
    return 0;
}

int cri_stop_pod_sandbox(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                         wc_err *err)
{
    IN(StopPodSandboxRequest);
    if (pod_sandbox_stop(pods(call), in->pod_sandbox_id, err) < 0)
        return -1;
    EMPTY_RESPONSE(StopPodSandboxResponse, stop_pod_sandbox_response);
    return 0;
}

int cri_remove_pod_sandbox(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                           wc_err *err)
{
    IN(RemovePodSandboxRequest);
    if (pod_sandbox_remove(pods(call), in->pod_sandbox_id, err) < 0)
        return -1;
    EMPTY_RESPONSE(RemovePodSandboxResponse, remove_pod_sandbox_response);
    return 0;
}

static Runtime__V1__PodSandboxNetworkStatus *network_status(const pod_sandbox_info *s)
{
    Runtime__V1__PodSandboxNetworkStatus *n =
        cri_new(Runtime__V1__PodSandboxNetworkStatus, runtime__v1__pod_sandbox_network_status);
    if (s->n_ips > 0)
        n->ip = cri_strdup(s->ips[0]);
    n->n_additional_ips = s->n_ips > 1 ? s->n_ips - 1 : 0;
    n->additional_ips = wc_xcalloc(n->n_additional_ips + 1, sizeof *n->additional_ips);
    for (size_t i = 1; i < s->n_ips; i++) {
        Runtime__V1__PodIP *ip = cri_new(Runtime__V1__PodIP, runtime__v1__pod_ip);
        ip->ip = cri_strdup(s->ips[i]);
        n->additional_ips[i - 1] = ip;
    }
    return n;
}

static Runtime__V1__LinuxPodSandboxStatus *linux_status(const pod_sandbox_info *s)
{
    const pod_ns_options *ns = &s->config->linux_security.ns;
    Runtime__V1__LinuxPodSandboxStatus *st =
        cri_new(Runtime__V1__LinuxPodSandboxStatus, runtime__v1__linux_pod_sandbox_status);
    st->namespaces = cri_new(Runtime__V1__Namespace, runtime__v1__namespace);
    if (ns->set)
        st->namespaces->options = cri_namespace_option_pb(ns);
    else
        st->namespaces->options =
            cri_new(Runtime__V1__NamespaceOption, runtime__v1__namespace_option);
    return st;
}

static char *sandbox_verbose_info(const pod_sandbox_info *s)
{
    json_t *ips = json_array();
    for (size_t i = 0; i < s->n_ips; i++)
        json_array_append_new(ips, json_string(s->ips[i]));
    json_t *info = json_pack("{s:s,s:s,s:s,s:o}", "id", s->id, "runtimeHandler", s->handler,
                             "netNamespacePath", s->netns, "ips", ips);
    char *text = json_dumps(info, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(info);
    return text;
}

static Runtime__V1__PodSandboxStatus *sandbox_status(const pod_sandbox_info *s);

int cri_pod_sandbox_status(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                           wc_err *err)
{
    IN(PodSandboxStatusRequest);
    pod_sandbox_info *s = NULL;
    if (pod_sandbox_get(pods(call), in->pod_sandbox_id, &s, err) < 0)
        return -1;
    Runtime__V1__PodSandboxStatusResponse *r =
        cri_new(Runtime__V1__PodSandboxStatusResponse, runtime__v1__pod_sandbox_status_response);
    r->status = sandbox_status(s);
    if (in->verbose) {
        char *text = sandbox_verbose_info(s);
        cri_map_add(&r->n_info, &r->info,
                    &runtime__v1__pod_sandbox_status_response__info_entry__descriptor, "info",
                    text);
        free(text);
    }
    pod_sandbox_info_free(s);
    *resp = &r->base;
    return 0;
}

static Runtime__V1__PodSandboxStatus *sandbox_status(const pod_sandbox_info *s)
{
    Runtime__V1__PodSandboxStatus *st =
        cri_new(Runtime__V1__PodSandboxStatus, runtime__v1__pod_sandbox_status);
    st->id = cri_strdup(s->id);
    st->metadata = cri_sandbox_metadata_pb(s->config);
    st->state = (Runtime__V1__PodSandboxState)s->state;
    st->created_at = s->created_ns;
    st->network = network_status(s);
    st->linux = linux_status(s);
    cri_kvs_to_map(&s->config->labels, &st->n_labels, &st->labels,
                   &runtime__v1__pod_sandbox_status__labels_entry__descriptor);
    cri_kvs_to_map(&s->config->annotations, &st->n_annotations, &st->annotations,
                   &runtime__v1__pod_sandbox_status__annotations_entry__descriptor);
    st->runtime_handler = cri_strdup(s->handler);
    return st;
}

static int id_matches(const char *filter, const char *id)
{
    return !*filter || strncmp(id, filter, strlen(filter)) == 0;
}

static int sandbox_passes(const Runtime__V1__PodSandboxFilter *f, const pod_sandbox_info *s)
{
    if (!f)
        return 1;
    if (!id_matches(f->id, s->id))
        return 0;
    if (f->state && (int)f->state->state != (int)s->state)
        return 0;
    return cri_labels_match(&s->config->labels, f->n_label_selector,
                            (void *const *)f->label_selector);
}

static Runtime__V1__PodSandbox *sandbox_item(const pod_sandbox_info *s)
{
    Runtime__V1__PodSandbox *p = cri_new(Runtime__V1__PodSandbox, runtime__v1__pod_sandbox);
    p->id = cri_strdup(s->id);
    p->metadata = cri_sandbox_metadata_pb(s->config);
    p->state = (Runtime__V1__PodSandboxState)s->state;
    p->created_at = s->created_ns;
    cri_kvs_to_map(&s->config->labels, &p->n_labels, &p->labels,
                   &runtime__v1__pod_sandbox__labels_entry__descriptor);
    cri_kvs_to_map(&s->config->annotations, &p->n_annotations, &p->annotations,
                   &runtime__v1__pod_sandbox__annotations_entry__descriptor);
    p->runtime_handler = cri_strdup(s->handler);
    return p;
}

/* Collects list items straight from the model's views: no per-item snapshot copies. */
typedef struct collect {
    const void *filter;
    void **items;
    size_t n, cap;
} collect;

static void keep(collect *c, void *item)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        c->items =
            cri_grow(c->items, (c->cap + 1) * sizeof *c->items, (cap + 1) * sizeof *c->items);
        c->cap = cap;
    }
    c->items[c->n++] = item;
}

static void collect_sandbox(void *ctx, const pod_sandbox_info *s)
{
    collect *c = ctx;
    if (sandbox_passes(c->filter, s))
        keep(c, sandbox_item(s));
}

static int container_passes(const Runtime__V1__ContainerFilter *f, const pod_container_info *c);
static Runtime__V1__Container *container_item(const pod_container_info *c);

static void collect_container(void *ctx, const pod_container_info *k)
{
    collect *c = ctx;
    if (container_passes(c->filter, k))
        keep(c, container_item(k));
}

int cri_list_pod_sandbox(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                         wc_err *err)
{
    IN(ListPodSandboxRequest);
    cri_call_answer_in_arena(call);
    collect c = {.filter = in->filter};
    pod_sandbox_foreach(pods(call), collect_sandbox, &c);
    Runtime__V1__ListPodSandboxResponse *r =
        cri_new(Runtime__V1__ListPodSandboxResponse, runtime__v1__list_pod_sandbox_response);
    r->items = (Runtime__V1__PodSandbox **)c.items;
    r->n_items = c.n;
    *resp = &r->base;
    return 0;
}

/* ---- containers ---- */

int cri_create_container(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                         wc_err *err)
{
    IN(CreateContainerRequest);
    char *id = NULL;
    pod_container_config *cfg = cri_container_config_from_pb(in->config);
    int rc = pod_container_create(pods(call), in->pod_sandbox_id, cfg, &id, err);
    pod_container_config_unref(cfg);
    if (rc < 0)
        return -1;
    Runtime__V1__CreateContainerResponse *r =
        cri_new(Runtime__V1__CreateContainerResponse, runtime__v1__create_container_response);
    r->container_id = id;
    *resp = &r->base;
    return 0;
}

int cri_start_container(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        wc_err *err)
{
    IN(StartContainerRequest);
    if (pod_container_start(pods(call), in->container_id, err) < 0)
        return -1;
    EMPTY_RESPONSE(StartContainerResponse, start_container_response);
    return 0;
}

int cri_stop_container(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       wc_err *err)
{
    IN(StopContainerRequest);
    if (pod_container_stop(pods(call), in->container_id, in->timeout, err) < 0)
        return -1;
    EMPTY_RESPONSE(StopContainerResponse, stop_container_response);
    return 0;
}

int cri_remove_container(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                         wc_err *err)
{
    IN(RemoveContainerRequest);
    if (pod_container_remove(pods(call), in->container_id, err) < 0)
        return -1;
    EMPTY_RESPONSE(RemoveContainerResponse, remove_container_response);
    return 0;
}

static Runtime__V1__ImageSpec *image_spec(const pod_container_info *c)
{
    Runtime__V1__ImageSpec *i = cri_new(Runtime__V1__ImageSpec, runtime__v1__image_spec);
    i->image = cri_strdup(c->image);
    const char *asked = c->config->user_specified_image;
    i->user_specified_image = cri_strdup(asked && *asked ? asked : c->image);
    return i;
}

static Runtime__V1__ContainerStatus *container_status(const pod_container_info *c)
{
    Runtime__V1__ContainerStatus *st =
        cri_new(Runtime__V1__ContainerStatus, runtime__v1__container_status);
    st->id = cri_strdup(c->id);
    st->metadata = cri_container_metadata_pb(c->config);
    st->state = (Runtime__V1__ContainerState)c->state;
    st->created_at = c->created_ns;
    st->started_at = c->started_ns;
    st->finished_at = c->finished_ns;
    st->exit_code = c->exit_code;
    st->image = image_spec(c);
    st->image_ref = cri_strdup(c->image_ref);
    st->image_id = cri_strdup(c->image_id);
    st->reason = cri_strdup(c->reason);
    st->message = cri_strdup(c->message);
    cri_kvs_to_map(&c->config->labels, &st->n_labels, &st->labels,
                   &runtime__v1__container_status__labels_entry__descriptor);
    cri_kvs_to_map(&c->config->annotations, &st->n_annotations, &st->annotations,
                   &runtime__v1__container_status__annotations_entry__descriptor);
    st->n_mounts = c->config->n_mounts;
    st->mounts = wc_xcalloc(st->n_mounts + 1, sizeof *st->mounts);
    for (size_t i = 0; i < st->n_mounts; i++)
        st->mounts[i] = cri_mount_pb(&c->config->mounts[i]);
    st->log_path = cri_strdup(c->log_path);
    if (c->config->linux_resources.set) {
        st->resources = cri_new(Runtime__V1__ContainerResources, runtime__v1__container_resources);
        st->resources->linux = cri_linux_resources_pb(&c->config->linux_resources);
    }
    st->stop_signal = (Runtime__V1__Signal)c->config->stop_signal;
    if (c->user.known) {
        st->user = cri_new(Runtime__V1__ContainerUser, runtime__v1__container_user);
        Runtime__V1__LinuxContainerUser *u =
            cri_new(Runtime__V1__LinuxContainerUser, runtime__v1__linux_container_user);
        u->uid = c->user.uid;
        u->gid = c->user.gid;
        u->n_supplemental_groups = c->user.n_groups;
        u->supplemental_groups = wc_xcalloc(c->user.n_groups + 1, sizeof *u->supplemental_groups);
        memcpy(u->supplemental_groups, c->user.groups, c->user.n_groups * sizeof(int64_t));
        st->user->linux = u;
    }
    if (c->config->windows_resources.set) {
        if (!st->resources)
            st->resources =
                cri_new(Runtime__V1__ContainerResources, runtime__v1__container_resources);
        st->resources->windows = cri_windows_resources_pb(&c->config->windows_resources);
    }
    return st;
}

int cri_container_status(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                         wc_err *err)
{
    IN(ContainerStatusRequest);
    pod_container_info *c = NULL;
    if (pod_container_get(pods(call), in->container_id, &c, err) < 0)
        return -1;
    Runtime__V1__ContainerStatusResponse *r =
        cri_new(Runtime__V1__ContainerStatusResponse, runtime__v1__container_status_response);
    r->status = container_status(c);
    if (in->verbose) {
        json_t *info = json_pack("{s:s,s:i}", "sandboxID", c->sandbox_id, "pid", c->pid);
        char *text = json_dumps(info, JSON_COMPACT | JSON_SORT_KEYS);
        cri_map_add(&r->n_info, &r->info,
                    &runtime__v1__container_status_response__info_entry__descriptor, "info", text);
        free(text);
        json_decref(info);
    }
    pod_container_info_free(c);
    *resp = &r->base;
    return 0;
}

static int container_passes(const Runtime__V1__ContainerFilter *f, const pod_container_info *c)
{
    if (!f)
        return 1;
    if (!id_matches(f->id, c->id) || !id_matches(f->pod_sandbox_id, c->sandbox_id))
        return 0;
    if (f->state && (int)f->state->state != (int)c->state)
        return 0;
    return cri_labels_match(&c->config->labels, f->n_label_selector,
                            (void *const *)f->label_selector);
}

static Runtime__V1__Container *container_item(const pod_container_info *c)
{
    Runtime__V1__Container *k = cri_new(Runtime__V1__Container, runtime__v1__container);
    k->id = cri_strdup(c->id);
    k->pod_sandbox_id = cri_strdup(c->sandbox_id);
    k->metadata = cri_container_metadata_pb(c->config);
    k->image = image_spec(c);
    k->image_ref = cri_strdup(c->image_ref);
    k->image_id = cri_strdup(c->image_id);
    k->state = (Runtime__V1__ContainerState)c->state;
    k->created_at = c->created_ns;
    cri_kvs_to_map(&c->config->labels, &k->n_labels, &k->labels,
                   &runtime__v1__container__labels_entry__descriptor);
    cri_kvs_to_map(&c->config->annotations, &k->n_annotations, &k->annotations,
                   &runtime__v1__container__annotations_entry__descriptor);
    return k;
}

int cri_list_containers(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        wc_err *err)
{
    IN(ListContainersRequest);
    cri_call_answer_in_arena(call);
    collect c = {.filter = in->filter};
    pod_container_foreach(pods(call), collect_container, &c);
    Runtime__V1__ListContainersResponse *r =
        cri_new(Runtime__V1__ListContainersResponse, runtime__v1__list_containers_response);
    r->containers = (Runtime__V1__Container **)c.items;
    r->n_containers = c.n;
    *resp = &r->base;
    return 0;
}

int cri_exec_sync(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, wc_err *err)
{
    IN(ExecSyncRequest);
    pod_exec_result res;
    if (pod_container_exec_sync(pods(call), in->container_id, (const char *const *)in->cmd,
                                in->n_cmd, in->timeout, &res, err) < 0)
        return -1;
    Runtime__V1__ExecSyncResponse *r =
        cri_new(Runtime__V1__ExecSyncResponse, runtime__v1__exec_sync_response);
    r->stdout_.data = (uint8_t *)res.out;
    r->stdout_.len = res.out_len;
    r->stderr_.data = (uint8_t *)res.err;
    r->stderr_.len = res.err_len;
    r->exit_code = res.exit_code;
    *resp = &r->base;
    return 0;
}

int cri_reopen_container_log(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                             wc_err *err)
{
    IN(ReopenContainerLogRequest);
    if (pod_container_reopen_log(pods(call), in->container_id, err) < 0)
        return -1;
    EMPTY_RESPONSE(ReopenContainerLogResponse, reopen_container_log_response);
    return 0;
}

/* ---- streaming lists and events ---- */

/* Items per streamed message: keeps each message far below the 16 MiB limit. */
#define STREAM_BATCH 256

/* Filtered items of a list, then streamed in batches; items are freed here. */
static int send_filtered(cri_call *call, const ProtobufCMessageDescriptor *response, void **items,
                         size_t n, wc_err *err)
{
    int rc = cri_send_batched(call, response, items, n, STREAM_BATCH, err);
    for (size_t i = 0; i < n; i++)
        protobuf_c_message_free_unpacked(items[i], NULL);
    free(items);
    return rc;
}

int cri_stream_pod_sandboxes(cri_call *call, const ProtobufCMessage *req, wc_err *err)
{
    IN(StreamPodSandboxesRequest);
    collect c = {.filter = in->filter};
    pod_sandbox_foreach(pods(call), collect_sandbox, &c);
    return send_filtered(call, &runtime__v1__stream_pod_sandboxes_response__descriptor, c.items,
                         c.n, err);
}

int cri_stream_containers(cri_call *call, const ProtobufCMessage *req, wc_err *err)
{
    IN(StreamContainersRequest);
    collect c = {.filter = in->filter};
    pod_container_foreach(pods(call), collect_container, &c);
    return send_filtered(call, &runtime__v1__stream_containers_response__descriptor, c.items, c.n,
                         err);
}

/* The event with the pod's status and the statuses of all its containers, as kubelet's
 * evented PLEG expects. */
static Runtime__V1__ContainerEventResponse *event_message(pod_manager *pm, const pod_event *e)
{
    Runtime__V1__ContainerEventResponse *r =
        cri_new(Runtime__V1__ContainerEventResponse, runtime__v1__container_event_response);
    r->container_id = cri_strdup(e->container_id);
    r->container_event_type = (Runtime__V1__ContainerEventType)e->type;
    r->created_at = e->at_ns;
    wc_err ignored = {0};
    pod_sandbox_info *s = NULL;
    if (pod_sandbox_get(pm, e->sandbox_id, &s, &ignored) == 0) {
        r->pod_sandbox_status = sandbox_status(s);
        pod_sandbox_info_free(s);
    }
    pod_container_info **all = NULL;
    size_t n = 0;
    pod_container_list(pm, &all, &n, &ignored);
    r->containers_statuses = wc_xcalloc(n + 1, sizeof *r->containers_statuses);
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i]->sandbox_id, e->sandbox_id) == 0)
            r->containers_statuses[r->n_containers_statuses++] = container_status(all[i]);
    pod_container_list_free(all, n);
    return r;
}

int cri_get_container_events(cri_call *call, const ProtobufCMessage *req, wc_err *err)
{
    pod_manager *pm = pods(call);
    pod_event_sub *sub = pod_events_subscribe(pm);
    int rc = 0;
    while (rc == 0 && !cri_call_cancelled(call) && !cri_call_server_stopping(call)) {
        pod_event e;
        if (!pod_events_next(sub, &e, 200))
            continue;
        Runtime__V1__ContainerEventResponse *r = event_message(pm, &e);
        rc = cri_call_send(call, &r->base, err);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    pod_events_unsubscribe(pm, sub);
    if (rc == 0 && cri_call_server_stopping(call))
        return wc_err_set(err, WC_UNAVAILABLE, "wincrid is stopping; reconnect for events");
    return rc;
}
