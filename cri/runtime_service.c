/* RuntimeService: translation between protobuf and the model. RPCs without an entry in
 * cri_runtime_methods answer UNIMPLEMENTED. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "common/xalloc.h"
#include "cri/daemon.h"
#include "cri/pbutil.h"
#include "cri/runtime_handlers.h"
#include "cri/server.h"
#include "cri/streaming.h"
#include "hcs/hcs.h"
#include "hns/hns.h"
#include "podsandbox/podsandbox.h"

static int version(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   wc_err *err)
{
    Runtime__V1__VersionResponse *r =
        cri_new(Runtime__V1__VersionResponse, runtime__v1__version_response);
    r->version = cri_strdup("0.1.0"); /* the kubelet runtime API version */
    r->runtime_name = cri_strdup("wincri");
    r->runtime_version = cri_strdup(WINCRI_VERSION);
    r->runtime_api_version = cri_strdup("v1");
    *resp = &r->base;
    return 0;
}

static Runtime__V1__RuntimeCondition *condition(const char *type, int ok, const char *reason,
                                                const char *message)
{
    Runtime__V1__RuntimeCondition *c =
        cri_new(Runtime__V1__RuntimeCondition, runtime__v1__runtime_condition);
    c->type = cri_strdup(type);
    c->status = ok;
    c->reason = cri_strdup(ok ? "" : reason);
    c->message = cri_strdup(ok ? "" : message);
    return c;
}

static Runtime__V1__RuntimeCondition *runtime_condition(const wc_config *cfg, char **detail)
{
    wc_err e = {0};
    const wc_runtime_handler *h = wc_config_handler(cfg, cfg->default_handler);
    int ok = hcs_backend_check(cfg, h, &e) == 0;
    *detail = wc_xstrdup(ok ? "" : e.msg);
    return condition("RuntimeReady", ok, "ComputeBackendNotReady", e.msg);
}

static Runtime__V1__RuntimeCondition *network_condition(const wc_config *cfg, char **conf)
{
    wc_err e = {0};
    int ok = hns_network_ready(cfg, conf, &e) == 1;
    return condition("NetworkReady", ok, "NetworkPluginNotReady", e.msg);
}

/* Verbose info: the effective config (credentials left out) and what readiness saw. */
static void add_verbose_info(Runtime__V1__StatusResponse *r, wincri *d, const char *runtime_detail,
                             const char *cni_conf)
{
    const wc_config *cfg = d->cfg;
    json_t *doc = json_deep_copy(cfg->doc);
    json_object_del(doc, "registries");
    char *cidr = wincri_pod_cidr(d);
    json_t *info =
        json_pack("{s:o,s:s,s:s,s:s,s:s}", "config", doc, "configSource", cfg->source, "cniConfig",
                  cni_conf, "runtimeCheck", runtime_detail, "podCIDR", cidr ? cidr : "");
    free(cidr);
    char *text = json_dumps(info, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(info);
    cri_map_add(&r->n_info, &r->info, &runtime__v1__status_response__info_entry__descriptor, "info",
                text);
    free(text);
}

static int status(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp, wc_err *err)
{
    const Runtime__V1__StatusRequest *in = (const Runtime__V1__StatusRequest *)req;
    const wc_config *cfg = cri_call_daemon(call)->cfg;
    Runtime__V1__StatusResponse *r =
        cri_new(Runtime__V1__StatusResponse, runtime__v1__status_response);
    r->status = cri_new(Runtime__V1__RuntimeStatus, runtime__v1__runtime_status);
    r->status->n_conditions = 2;
    r->status->conditions = wc_xmalloc(2 * sizeof *r->status->conditions);
    char *runtime_detail = NULL, *cni_conf = NULL;
    r->status->conditions[0] = runtime_condition(cfg, &runtime_detail);
    r->status->conditions[1] = network_condition(cfg, &cni_conf);
    r->n_runtime_handlers = cfg->n_handlers;
    r->runtime_handlers = wc_xcalloc(cfg->n_handlers + 1, sizeof *r->runtime_handlers);
    for (size_t i = 0; i < cfg->n_handlers; i++) {
        Runtime__V1__RuntimeHandler *h =
            cri_new(Runtime__V1__RuntimeHandler, runtime__v1__runtime_handler);
        h->name = cri_strdup(cfg->handlers[i].name);
        h->features =
            cri_new(Runtime__V1__RuntimeHandlerFeatures, runtime__v1__runtime_handler_features);
        hcs_handler_features f;
        hcs_handler_features_of(&cfg->handlers[i], &f);
        h->features->recursive_read_only_mounts = f.recursive_read_only_mounts;
        h->features->user_namespaces = f.user_namespaces;
        r->runtime_handlers[i] = h;
    }
    /* The platform's answer, as the default handler's backend gives it. */
    hcs_handler_features def;
    hcs_handler_features_of(wc_config_handler(cfg, cfg->default_handler), &def);
    r->features = cri_new(Runtime__V1__RuntimeFeatures, runtime__v1__runtime_features);
    r->features->supplemental_groups_policy = def.supplemental_groups_policy;
    if (in->verbose)
        add_verbose_info(r, cri_call_daemon(call), runtime_detail, cni_conf);
    free(runtime_detail);
    free(cni_conf);
    *resp = &r->base;
    return 0;
}

static int runtime_config(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                          wc_err *err)
{
    Runtime__V1__RuntimeConfigResponse *r =
        cri_new(Runtime__V1__RuntimeConfigResponse, runtime__v1__runtime_config_response);
    const char *driver = hcs_cgroup_driver();
    if (driver) {
        r->linux = cri_new(Runtime__V1__LinuxRuntimeConfiguration,
                           runtime__v1__linux_runtime_configuration);
        r->linux->cgroup_driver = strcmp(driver, "systemd") == 0
                                      ? RUNTIME__V1__CGROUP_DRIVER__SYSTEMD
                                      : RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
    }
    *resp = &r->base;
    return 0;
}

static int update_runtime_config(cri_call *call, const ProtobufCMessage *req,
                                 ProtobufCMessage **resp, wc_err *err)
{
    const Runtime__V1__UpdateRuntimeConfigRequest *in =
        (const Runtime__V1__UpdateRuntimeConfigRequest *)req;
    const char *cidr = "";
    if (in->runtime_config && in->runtime_config->network_config)
        cidr = in->runtime_config->network_config->pod_cidr;
    if (wincri_set_pod_cidr(cri_call_daemon(call), cidr, err) < 0)
        return wc_err_prefix(err, "UpdateRuntimeConfig");
    if (cri_call_daemon(call)->pods)
        pod_manager_set_pod_cidr(cri_call_daemon(call)->pods, cidr);
    *resp = &cri_new(Runtime__V1__UpdateRuntimeConfigResponse,
                     runtime__v1__update_runtime_config_response)
                 ->base;
    return 0;
}

const cri_method cri_runtime_methods[] = {
    {"Version", version, NULL},
    {"Status", status, NULL},
    {"RuntimeConfig", runtime_config, NULL},
    {"UpdateRuntimeConfig", update_runtime_config, NULL},
    {"RunPodSandbox", cri_run_pod_sandbox, NULL},
    {"StopPodSandbox", cri_stop_pod_sandbox, NULL},
    {"RemovePodSandbox", cri_remove_pod_sandbox, NULL},
    {"PodSandboxStatus", cri_pod_sandbox_status, NULL},
    {"ListPodSandbox", cri_list_pod_sandbox, NULL},
    {"CreateContainer", cri_create_container, NULL},
    {"StartContainer", cri_start_container, NULL},
    {"StopContainer", cri_stop_container, NULL},
    {"RemoveContainer", cri_remove_container, NULL},
    {"ContainerStatus", cri_container_status, NULL},
    {"ListContainers", cri_list_containers, NULL},
    {"ExecSync", cri_exec_sync, NULL},
    {"Exec", cri_exec_rpc, NULL},
    {"Attach", cri_attach_rpc, NULL},
    {"PortForward", cri_port_forward_rpc, NULL},
    {"ReopenContainerLog", cri_reopen_container_log, NULL},
    {"StreamPodSandboxes", NULL, cri_stream_pod_sandboxes},
    {"StreamContainers", NULL, cri_stream_containers},
    {"GetContainerEvents", NULL, cri_get_container_events},
    {"ContainerStats", cri_container_stats, NULL},
    {"ListContainerStats", cri_list_container_stats, NULL},
    {"StreamContainerStats", NULL, cri_stream_container_stats},
    {"PodSandboxStats", cri_pod_sandbox_stats, NULL},
    {"ListPodSandboxStats", cri_list_pod_sandbox_stats, NULL},
    {"StreamPodSandboxStats", NULL, cri_stream_pod_sandbox_stats},
    {"UpdateContainerResources", cri_update_container_resources, NULL},
    {"UpdatePodSandboxResources", cri_update_pod_sandbox_resources, NULL},
    {"ListMetricDescriptors", cri_list_metric_descriptors, NULL},
    {"ListPodSandboxMetrics", cri_list_pod_sandbox_metrics, NULL},
    {"StreamPodSandboxMetrics", NULL, cri_stream_pod_sandbox_metrics},
    {NULL, NULL, NULL},
};
