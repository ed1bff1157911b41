/* RunPodSandbox, StopPodSandbox, RemovePodSandbox and the sandbox queries. */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/pbcopy.h"
#include "common/log.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

static const char default_hosts[] = "127.0.0.1\tlocalhost\n"
                                    "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                    "fe00::0\tip6-localnet\n"
                                    "ff00::0\tip6-mcastprefix\n"
                                    "ff02::1\tip6-allnodes\n"
                                    "ff02::2\tip6-allrouters\n";

int pod_sandbox_config_check(const Runtime__V1__PodSandboxConfig *c, wc_err *err)
{
    if (!c || !c->metadata)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "pod sandbox config: metadata is required");
    const char *missing = !*c->metadata->name         ? "name"
                          : !*c->metadata->namespace_ ? "namespace"
                          : !*c->metadata->uid        ? "uid"
                                                      : NULL;
    if (missing)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "pod sandbox config: metadata.%s must not be empty", missing);
    return 0;
}

int pod_sandbox_host_network(const Runtime__V1__PodSandboxConfig *c)
{
    return c->linux && c->linux->security_context &&
           c->linux->security_context->namespace_options &&
           c->linux->security_context->namespace_options->network ==
               RUNTIME__V1__NAMESPACE_MODE__NODE;
}

/* An existing sandbox with the same name, namespace and attempt, if any. */
static int find_duplicate(pod_manager *pm, const Runtime__V1__PodSandboxMetadata *md, char *id_out)
{
    int found = 0;
    pthread_mutex_lock(&pm->mu);
    for (size_t i = 0; i < pm->n_sandboxes && !found; i++) {
        const Runtime__V1__PodSandboxMetadata *o = pm->sandboxes[i]->config->metadata;
        if (strcmp(o->name, md->name) == 0 && strcmp(o->namespace_, md->namespace_) == 0 &&
            o->attempt == md->attempt) {
            found = 1;
            memcpy(id_out, pm->sandboxes[i]->id, POD_ID_LEN + 1);
        }
    }
    pthread_mutex_unlock(&pm->mu);
    return found;
}

static char *resolv_conf_text(const Runtime__V1__DNSConfig *dns)
{
    size_t cap = 256;
    for (size_t i = 0; i < dns->n_servers; i++)
        cap += strlen(dns->servers[i]) + 16;
    for (size_t i = 0; i < dns->n_searches; i++)
        cap += strlen(dns->searches[i]) + 2;
    for (size_t i = 0; i < dns->n_options; i++)
        cap += strlen(dns->options[i]) + 2;
    char *out = malloc(cap);
    size_t n = 0;
    out[0] = '\0';
    if (dns->n_searches) {
        n += (size_t)snprintf(out + n, cap - n, "search");
        for (size_t i = 0; i < dns->n_searches; i++)
            n += (size_t)snprintf(out + n, cap - n, " %s", dns->searches[i]);
        n += (size_t)snprintf(out + n, cap - n, "\n");
    }
    for (size_t i = 0; i < dns->n_servers; i++)
        n += (size_t)snprintf(out + n, cap - n, "nameserver %s\n", dns->servers[i]);
    if (dns->n_options) {
        n += (size_t)snprintf(out + n, cap - n, "options");
        for (size_t i = 0; i < dns->n_options; i++)
            n += (size_t)snprintf(out + n, cap - n, " %s", dns->options[i]);
        snprintf(out + n, cap - n, "\n");
    }
    return out;
}

static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    char *buf = calloc(1, 65537);
    size_t n = fread(buf, 1, 65536, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int write_text(const char *dir, const char *name, const char *text, wc_err *err)
{
    char *path = wc_path_join(dir, name);
    int rc = wc_write_file_atomic(path, text, strlen(text), err);
    free(path);
    return rc;
}

/* resolv.conf, hosts and hostname, bind-mounted into every container of the pod. */
static int write_sandbox_files(const pod_sandbox *s, wc_err *err)
{
    const Runtime__V1__PodSandboxConfig *c = s->config;
    if (wc_mkdir_p(s->dir, 0755, err) < 0)
        return -1;
    char *resolv =
        c->dns_config ? resolv_conf_text(c->dns_config) : read_small_file("/etc/resolv.conf");
    char hostname[300];
    snprintf(hostname, sizeof hostname, "%s\n", *c->hostname ? c->hostname : c->metadata->name);
    int rc = write_text(s->dir, "resolv.conf", resolv, err);
    if (rc == 0)
        rc = write_text(s->dir, "hosts", default_hosts, err);
    if (rc == 0)
        rc = write_text(s->dir, "hostname", hostname, err);
    free(resolv);
    return rc;
}

/* Fills the CNI view of the pod from its config. Arrays point into `c`; free ports after. */
static void pod_net_from_config(pod_manager *pm, const pod_sandbox *s, hns_pod_net *net,
                                hns_port_mapping **ports)
{
    const Runtime__V1__PodSandboxConfig *c = s->config;
    memset(net, 0, sizeof *net);
    net->pod_id = s->id;
    net->name = c->metadata->name;
    net->namespace_ = c->metadata->namespace_;
    net->uid = c->metadata->uid;
    *ports = calloc(c->n_port_mappings + 1, sizeof **ports);
    static const char *const protocols[] = {"tcp", "udp", "sctp"};
    for (size_t i = 0; i < c->n_port_mappings; i++) {
        const Runtime__V1__PortMapping *pmap = c->port_mappings[i];
        (*ports)[i].protocol = protocols[(unsigned)pmap->protocol < 3 ? pmap->protocol : 0];
        (*ports)[i].container_port = pmap->container_port;
        (*ports)[i].host_port = pmap->host_port;
        (*ports)[i].host_ip = pmap->host_ip;
    }
    net->ports = *ports;
    net->n_ports = c->n_port_mappings;
    if (c->dns_config) {
        net->dns_servers = (const char *const *)c->dns_config->servers;
        net->n_dns_servers = c->dns_config->n_servers;
        net->dns_searches = (const char *const *)c->dns_config->searches;
        net->n_dns_searches = c->dns_config->n_searches;
        net->dns_options = (const char *const *)c->dns_config->options;
        net->n_dns_options = c->dns_config->n_options;
    }
    net->pod_cidr = pm->pod_cidr;
}

static char *ips_to_json(char **ips, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(ips[i]));
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return text;
}

static int attach_network(pod_manager *pm, pod_sandbox *s, wc_err *err)
{
    char *netns = NULL;
    if (hns_netns_create(pm->net, s->id, &netns, err) < 0)
        return -1;
    free(s->netns);
    s->netns = netns;
    hns_pod_net net;
    hns_port_mapping *ports = NULL;
    pthread_mutex_lock(&pm->mu);
    pod_net_from_config(pm, s, &net, &ports);
    char *cidr = pm->pod_cidr ? strdup(pm->pod_cidr) : NULL;
    pthread_mutex_unlock(&pm->mu);
    net.pod_cidr = cidr;
    hns_attach_result res = {0};
    int rc = hns_attach(pm->net, s->netns, &net, &res, err);
    if (rc == 0) {
        free(s->cni_result);
        s->cni_result = res.cni_result ? strdup(res.cni_result) : strdup("");
        free(s->ips_json);
        s->ips_json = ips_to_json(res.ips, res.n_ips);
    }
    hns_attach_result_clear(&res);
    free(ports);
    free(cidr);
    return rc;
}

static void detach_network(pod_manager *pm, pod_sandbox *s)
{
    wc_err err = {0};
    if (!*s->netns)
        return;
    if (*s->cni_result) {
        hns_pod_net net;
        hns_port_mapping *ports = NULL;
        pod_net_from_config(pm, s, &net, &ports);
        if (hns_detach(pm->net, s->netns, &net, s->cni_result, &err) < 0)
            wc_warn("pod", "CNI DEL failed", "sandbox=%.12s error=\"%s\"", s->id, err.msg);
        free(ports);
        free(s->cni_result);
        s->cni_result = strdup("");
    }
    if (hns_netns_remove(pm->net, s->netns, &err) < 0)
        wc_warn("pod", "cannot remove network namespace", "sandbox=%.12s error=\"%s\"", s->id,
                err.msg);
    free(s->netns);
    s->netns = strdup("");
}

/* Undoes a half-made sandbox: nothing of it stays behind. */
static void roll_back(pod_manager *pm, pod_sandbox *s)
{
    wc_err ignored = {0};
    detach_network(pm, s);
    pod_platform_sandbox_teardown(pm, s, &ignored);
    pod_platform_remove_tree(s->dir, &ignored);
    pod_store_delete_sandbox(pm, s->id, &ignored);
}

static pod_sandbox *new_sandbox(pod_manager *pm, const Runtime__V1__PodSandboxConfig *config,
                                const char *handler, wc_err *err)
{
    pod_sandbox *s = calloc(1, sizeof *s);
    if (pod_new_id(s->id, err) < 0) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->op, NULL);
    s->state = POD_SANDBOX_NOTREADY;
    s->created_ns = wc_clock_realtime_ns();
    s->handler = strdup(handler && *handler ? handler : pm->cfg->default_handler);
    s->netns = strdup("");
    s->cni_result = strdup("");
    s->ips_json = strdup("[]");
    s->dir = wc_path_join(pm->sandboxes_dir, s->id);
    s->config = wc_pb_copy(config);
    return s;
}

static int set_up(pod_manager *pm, pod_sandbox *s, wc_err *err)
{
    if (write_sandbox_files(s, err) < 0 || pod_platform_sandbox_setup(pm, s, err) < 0)
        return -1;
    if (!pod_sandbox_host_network(s->config) && attach_network(pm, s, err) < 0)
        return -1;
    s->state = POD_SANDBOX_READY;
    return pod_store_put_sandbox(pm, s, err);
}

int pod_sandbox_run(pod_manager *pm, const Runtime__V1__PodSandboxConfig *config,
                    const char *handler, char **id, wc_err *err)
{
    if (pod_sandbox_config_check(config, err) < 0 || !pod_runtime_for(pm, handler, err))
        return -1;
    char other[POD_ID_LEN + 1];
    if (find_duplicate(pm, config->metadata, other))
        return wc_err_set(
            err, WC_ALREADY_EXISTS, "pod sandbox %s/%s (attempt %u) already exists as %s",
            config->metadata->namespace_, config->metadata->name, config->metadata->attempt, other);
    pod_sandbox *s = new_sandbox(pm, config, handler, err);
    if (!s)
        return -1;
    /* Recorded first (not ready), so a crash midway leaves a record recovery can clean. */
    if (pod_store_put_sandbox(pm, s, err) < 0) {
        pod_sandbox_free(s);
        return -1;
    }
    if (set_up(pm, s, err) < 0) {
        wc_err_prefix(err, "RunPodSandbox %s/%s", config->metadata->namespace_,
                      config->metadata->name);
        roll_back(pm, s);
        pod_sandbox_free(s);
        return -1;
    }
    pod_index_add_sandbox(pm, s);
    *id = strdup(s->id);
    wc_info("pod", "sandbox ready", "sandbox=%.12s name=%s namespace=%s ips=%s", s->id,
            config->metadata->name, config->metadata->namespace_, s->ips_json);
    return 0;
}

static void stop_containers(pod_manager *pm, const char *sandbox_id)
{
    size_t n = 0;
    char **ids = pod_sandbox_container_ids(pm, sandbox_id, &n);
    for (size_t i = 0; i < n; i++) {
        wc_err err = {0};
        if (pod_container_stop(pm, ids[i], 0, &err) < 0)
            wc_warn("pod", "cannot stop container", "container=%.12s error=\"%s\"", ids[i],
                    err.msg);
        free(ids[i]);
    }
    free(ids);
}

int pod_sandbox_stop(pod_manager *pm, const char *id, wc_err *err)
{
    pod_sandbox *s = pod_sandbox_find(pm, id, err);
    if (!s)
        return err->code == WC_NOT_FOUND ? (wc_err_clear(err), 0) : -1;
    stop_containers(pm, s->id);
    pthread_mutex_lock(&s->op);
    detach_network(pm, s);
    wc_err ignored = {0};
    pod_platform_sandbox_teardown(pm, s, &ignored); /* pinned namespaces, PID holder */
    s->state = POD_SANDBOX_NOTREADY;
    int rc = pod_store_put_sandbox(pm, s, err);
    pthread_mutex_unlock(&s->op);
    pod_sandbox_unref(pm, s);
    return rc;
}

int pod_sandbox_remove(pod_manager *pm, const char *id, wc_err *err)
{
    pod_sandbox *s = pod_sandbox_find(pm, id, err);
    if (!s)
        return err->code == WC_NOT_FOUND ? (wc_err_clear(err), 0) : -1;
    size_t n = 0;
    char **ids = pod_sandbox_container_ids(pm, s->id, &n);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && pod_container_remove(pm, ids[i], err) < 0)
            rc = -1;
        free(ids[i]);
    }
    free(ids);
    pthread_mutex_lock(&s->op);
    if (rc == 0) {
        detach_network(pm, s);
        rc = pod_platform_sandbox_teardown(pm, s, err);
    }
    if (rc == 0)
        rc = pod_platform_remove_tree(s->dir, err);
    if (rc == 0)
        rc = pod_store_delete_sandbox(pm, s->id, err);
    pthread_mutex_unlock(&s->op);
    if (rc == 0)
        pod_index_remove_sandbox(pm, s);
    pod_sandbox_unref(pm, s);
    return rc < 0 ? wc_err_prefix(err, "RemovePodSandbox %.12s", id) : 0;
}

/* ---- queries ---- */

static pod_sandbox_info *snapshot(const pod_sandbox *s)
{
    pod_sandbox_info *i = calloc(1, sizeof *i);
    i->id = strdup(s->id);
    i->state = s->state;
    i->created_ns = s->created_ns;
    i->handler = strdup(s->handler);
    i->netns = strdup(s->netns);
    json_t *ips = json_loads(s->ips_json, 0, NULL);
    i->n_ips = json_array_size(ips);
    i->ips = calloc(i->n_ips + 1, sizeof *i->ips);
    for (size_t k = 0; k < i->n_ips; k++)
        i->ips[k] = strdup(json_string_value(json_array_get(ips, k)));
    json_decref(ips);
    i->config = wc_pb_copy(s->config);
    return i;
}

void pod_sandbox_foreach(pod_manager *pm, pod_sandbox_visit_fn fn, void *ctx)
{
    pthread_mutex_lock(&pm->mu);
    for (size_t i = 0; i < pm->n_sandboxes; i++) {
        pod_sandbox *s = pm->sandboxes[i];
        pod_sandbox_info view = {.id = s->id,
                                 .state = s->state,
                                 .created_ns = s->created_ns,
                                 .handler = s->handler,
                                 .netns = s->netns,
                                 .config = s->config};
        fn(ctx, &view);
    }
    pthread_mutex_unlock(&pm->mu);
}

int pod_sandbox_get(pod_manager *pm, const char *id, pod_sandbox_info **out, wc_err *err)
{
    pod_sandbox *s = pod_sandbox_find(pm, id, err);
    if (!s)
        return -1;
    pthread_mutex_lock(&pm->mu);
    *out = snapshot(s);
    pthread_mutex_unlock(&pm->mu);
    pod_sandbox_unref(pm, s);
    return 0;
}

int pod_sandbox_list(pod_manager *pm, pod_sandbox_info ***out, size_t *n, wc_err *err)
{
    pthread_mutex_lock(&pm->mu);
    *n = pm->n_sandboxes;
    *out = calloc(*n + 1, sizeof **out);
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = snapshot(pm->sandboxes[i]);
    pthread_mutex_unlock(&pm->mu);
    return 0;
}

void pod_sandbox_info_free(pod_sandbox_info *i)
{
    if (!i)
        return;
    free(i->id);
    free(i->handler);
    free(i->netns);
    for (size_t k = 0; k < i->n_ips; k++)
        free(i->ips[k]);
    free(i->ips);
    if (i->config)
        protobuf_c_message_free_unpacked(&i->config->base, NULL);
    free(i);
}

void pod_sandbox_list_free(pod_sandbox_info **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pod_sandbox_info_free(list[i]);
    free(list);
}
