/* RunPodSandbox, StopPodSandbox, RemovePodSandbox and the sandbox queries. */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/crash.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

static const char default_hosts[] = "127.0.0.1\tlocalhost\n"
                                    "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                    "fe00::0\tip6-localnet\n"
                                    "ff00::0\tip6-mcastprefix\n"
                                    "ff02::1\tip6-allnodes\n"
                                    "ff02::2\tip6-allrouters\n";

int pod_sandbox_config_check(const pod_sandbox_config *c, wc_err *err)
{
    if (!c)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "pod sandbox config: metadata is required");
    const char *missing = !*c->name         ? "name"
                          : !*c->namespace_ ? "namespace"
                          : !*c->uid        ? "uid"
                                            : NULL;
    if (missing)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "pod sandbox config: metadata.%s must not be empty", missing);
    if (*c->log_directory &&
        (!pod_path_is_absolute(c->log_directory) || pod_path_has_dotdot(c->log_directory)))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "pod sandbox config: log_directory \"%s\" must be an absolute path "
                          "without \"..\"",
                          c->log_directory);
    if (strlen(c->hostname) > POD_HOSTNAME_MAX)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "pod sandbox config: hostname is %zu bytes long; a host name has at "
                          "most %d",
                          strlen(c->hostname), POD_HOSTNAME_MAX);
    return 0;
}

int pod_sandbox_hostname(const pod_sandbox *s, char *buf, size_t len, wc_err *err)
{
    if (!*s->config->hostname)
        return pod_platform_node_hostname(buf, len, err);
    snprintf(buf, len, "%s", s->config->hostname);
    return 0;
}

/* A Windows HostProcess pod is in the host's network too (containerd's hostNetwork() reads
 * host_process of the pod's Windows security context). */
static int host_network(const pod_sandbox_config *c)
{
    return (c->linux_security.ns.set && c->linux_security.ns.network == POD_NS_NODE) ||
           c->windows_security.host_process;
}

static char *resolv_conf_text(const pod_dns *dns)
{
    size_t cap = 256;
    for (size_t i = 0; i < dns->servers.n; i++)
        cap += strlen(dns->servers.v[i]) + 16;
    for (size_t i = 0; i < dns->searches.n; i++)
        cap += strlen(dns->searches.v[i]) + 2;
    for (size_t i = 0; i < dns->options.n; i++)
        cap += strlen(dns->options.v[i]) + 2;
    char *out = wc_xmalloc(cap);
    size_t n = 0;
    out[0] = '\0';
    if (dns->searches.n) {
        n += (size_t)snprintf(out + n, cap - n, "search");
        for (size_t i = 0; i < dns->searches.n; i++)
            n += (size_t)snprintf(out + n, cap - n, " %s", dns->searches.v[i]);
        n += (size_t)snprintf(out + n, cap - n, "\n");
    }
    for (size_t i = 0; i < dns->servers.n; i++)
        n += (size_t)snprintf(out + n, cap - n, "nameserver %s\n", dns->servers.v[i]);
    if (dns->options.n) {
        n += (size_t)snprintf(out + n, cap - n, "options");
        for (size_t i = 0; i < dns->options.n; i++)
            n += (size_t)snprintf(out + n, cap - n, " %s", dns->options.v[i]);
        snprintf(out + n, cap - n, "\n");
    }
    return out;
}

static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return wc_xstrdup("");
    char *buf = wc_xcalloc(1, 65537);
    size_t n = fread(buf, 1, 65536, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int write_text(const char *dir, const char *name, const char *text, wc_err *err)
{
    char *path = wc_path_join(dir, name);
    /* Containers read these through bind mounts, as whatever user they run as. */
    int rc = wc_write_file_atomic(path, text, strlen(text), 0644, err);
    free(path);
    return rc;
}

/* resolv.conf, hosts and hostname, bind-mounted into every container of the pod. */
static int write_sandbox_files(const pod_sandbox *s, wc_err *err)
{
    const pod_sandbox_config *c = s->config;
    if (wc_mkdir_mode(s->dir, 0700, err) < 0)
        return -1;
    char *resolv = c->dns.set ? resolv_conf_text(&c->dns) : read_small_file("/etc/resolv.conf");
    char hostname[POD_HOSTNAME_MAX + 2];
    int rc = pod_sandbox_hostname(s, hostname, sizeof hostname - 1, err);
    if (rc == 0) /* else hostname holds nothing to add to */
        strcat(hostname, "\n");
    if (rc == 0)
        rc = write_text(s->dir, "resolv.conf", resolv, err);
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
    const pod_sandbox_config *c = s->config;
    memset(net, 0, sizeof *net);
    net->pod_id = s->id;
    net->name = c->name;
    net->namespace_ = c->namespace_;
    net->uid = c->uid;
    *ports = wc_xcalloc(c->n_ports + 1, sizeof **ports);
    static const char *const protocols[] = {"tcp", "udp", "sctp"};
    for (size_t i = 0; i < c->n_ports; i++) {
        const pod_port_mapping *pmap = &c->ports[i];
        (*ports)[i].protocol = protocols[(unsigned)pmap->protocol < 3 ? pmap->protocol : 0];
        (*ports)[i].container_port = pmap->container_port;
        (*ports)[i].host_port = pmap->host_port;
        (*ports)[i].host_ip = pmap->host_ip;
    }
    net->ports = *ports;
    net->n_ports = c->n_ports;
    if (c->dns.set) {
        net->dns_servers = (const char *const *)c->dns.servers.v;
        net->n_dns_servers = c->dns.servers.n;
        net->dns_searches = (const char *const *)c->dns.searches.v;
        net->n_dns_searches = c->dns.searches.n;
        net->dns_options = (const char *const *)c->dns.options.v;
        net->n_dns_options = c->dns.options.n;
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

/* The namespace has the name the record gave it (run_reserved) before it is made. */
static int attach_network(pod_manager *pm, pod_sandbox *s, wc_err *err)
{
    char *netns = NULL;
    if (hns_netns_create(pm->net, s->id, &netns, err) < 0)
        return -1;
    free(netns);
    WC_CRASH_POINT("sandbox.run.netns");
    hns_pod_net net;
    hns_port_mapping *ports = NULL;
    pthread_mutex_lock(&pm->mu);
    pod_net_from_config(pm, s, &net, &ports);
    char *cidr = pm->pod_cidr ? wc_xstrdup(pm->pod_cidr) : NULL;
    pthread_mutex_unlock(&pm->mu);
    net.pod_cidr = cidr;
    hns_attach_result res = {0};
    int rc = hns_attach(pm->net, s->netns, &net, &res, err);
    if (rc == 0) {
        free(s->cni_result);
        s->cni_result = res.cni_result ? wc_xstrdup(res.cni_result) : wc_xstrdup("");
        free(s->ips_json);
        s->ips_json = ips_to_json(res.ips, res.n_ips);
    }
    hns_attach_result_clear(&res);
    free(ports);
    free(cidr);
    if (rc == 0)
        WC_CRASH_POINT("sandbox.run.cni");
    return rc;
}

/* CNI DEL whether or not ADD's result was recorded: a crash between the two leaves an address
 * allocated with no result to show for it, and DEL is idempotent by the CNI spec. What fails is
 * not forgotten: the pod keeps the namespace and the result until DEL and the removal succeed,
 * so the caller's retry (or recovery) does them again; dropping them would leak the address.
 * A rollback, whose record goes anyway, passes `forget`: failures are logged and the namespace
 * is removed all the same (a plugin that failed ADD often fails DEL too). */
static int detach_network(pod_manager *pm, pod_sandbox *s, int forget, wc_err *err)
{
    if (!*s->netns)
        return 0;
    hns_pod_net net;
    hns_port_mapping *ports = NULL;
    pod_net_from_config(pm, s, &net, &ports);
    int rc = hns_detach(pm->net, s->netns, &net, s->cni_result, err);
    free(ports);
    if (rc < 0 && !forget)
        return wc_err_prefix(err, "CNI DEL");
    if (rc < 0)
        wc_warn("pod", "CNI DEL failed", "sandbox=%.12s error=\"%s\"", s->id, err->msg);
    free(s->cni_result);
    s->cni_result = wc_xstrdup("");
    if (hns_netns_remove(pm->net, s->netns, err) < 0) {
        if (!forget)
            return -1;
        wc_warn("pod", "cannot remove network namespace", "sandbox=%.12s error=\"%s\"", s->id,
                err->msg);
    }
    free(s->netns);
    s->netns = wc_xstrdup("");
    return 0;
}

/* Undoes a half-made sandbox: nothing of it stays behind. */
void pod_sandbox_roll_back(pod_manager *pm, pod_sandbox *s)
{
    wc_err ignored = {0};
    detach_network(pm, s, 1, &ignored);
    pod_platform_sandbox_teardown(pm, s, &ignored);
    pod_platform_remove_tree(s->dir, &ignored);
    pod_store_delete_sandbox(pm, s->id, &ignored);
}

static pod_sandbox *new_sandbox(pod_manager *pm, pod_sandbox_config *config, const char *handler,
                                wc_err *err)
{
    pod_sandbox *s = wc_xcalloc(1, sizeof *s);
    if (pod_new_id(s->id, err) < 0) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->op, NULL);
    s->state = POD_SANDBOX_NOTREADY;
    s->created_ns = wc_clock_realtime_ns();
    s->handler = wc_xstrdup(handler && *handler ? handler : pm->cfg->default_handler);
    s->netns = wc_xstrdup("");
    s->cni_result = wc_xstrdup("");
    s->ips_json = wc_xstrdup("[]");
    s->dir = wc_path_join(pm->sandboxes_dir, s->id);
    s->config = pod_sandbox_config_ref(config);
    return s;
}

static int set_up(pod_manager *pm, pod_sandbox *s, wc_err *err)
{
    if (write_sandbox_files(s, err) < 0 || pod_platform_sandbox_setup(pm, s, err) < 0)
        return -1;
    WC_CRASH_POINT("sandbox.run.setup");
    if (*s->netns && attach_network(pm, s, err) < 0)
        return -1;
    s->state = POD_SANDBOX_READY;
    s->intent[0] = '\0';
    return pod_store_put_sandbox(pm, s, err);
}

/* Everything after the name is reserved: recorded first (not ready, intent "run", the network
 * namespace named), so a crash midway leaves a record recovery rolls back; then set up, or
 * rolled back whole. */
static int run_reserved(pod_manager *pm, pod_sandbox *s, wc_err *err)
{
    if (!host_network(s->config)) {
        char *netns = hns_netns_name(pm->net, s->id);
        if (!netns)
            return wc_err_set(err, WC_INTERNAL, "no network namespace name for %s", s->id);
        free(s->netns);
        s->netns = netns;
    }
    snprintf(s->intent, sizeof s->intent, "%s", POD_INTENT_RUN);
    if (pod_store_put_sandbox(pm, s, err) < 0)
        return -1;
    WC_CRASH_POINT("sandbox.run.recorded");
    if (set_up(pm, s, err) < 0) {
        pod_sandbox_roll_back(pm, s);
        return -1;
    }
    WC_CRASH_POINT("sandbox.run.committed");
    pod_index_add_sandbox(pm, s);
    return 0;
}

int pod_sandbox_run(pod_manager *pm, pod_sandbox_config *config, const char *handler, char **id,
                    wc_err *err)
{
    if (pod_sandbox_config_check(config, err) < 0 || !pod_runtime_for(pm, handler, err))
        return -1;
    pod_sandbox *s = new_sandbox(pm, config, handler, err);
    if (!s)
        return -1;
    char other[POD_ID_LEN + 1] = "";
    char *key = pod_sandbox_name_key(config);
    int rc = 0;
    if (pod_name_reserve(pm, key, s->id, other) < 0) {
        rc = wc_err_set(err, WC_ALREADY_EXISTS,
                        "pod sandbox %s/%s (attempt %u) already exists as %s", config->namespace_,
                        config->name, config->attempt, other);
    } else if (run_reserved(pm, s, err) < 0) {
        pod_name_release(pm, key, s->id);
        rc = wc_err_prefix(err, "RunPodSandbox %s/%s", config->namespace_, config->name);
    }
    free(key);
    if (rc < 0) {
        pod_sandbox_free(s);
        return -1;
    }
    *id = wc_xstrdup(s->id);
    wc_info("pod", "sandbox ready", "sandbox=%.12s name=%s namespace=%s ips=%s", s->id,
            config->name, config->namespace_, s->ips_json);
    return 0;
}

/* Every container is tried; the first failure is the caller's. */
static int stop_containers(pod_manager *pm, const char *sandbox_id, wc_err *err)
{
    size_t n = 0;
    char **ids = pod_sandbox_container_ids(pm, sandbox_id, &n);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        wc_err one = {0};
        if (pod_container_stop(pm, ids[i], 0, &one) < 0) {
            wc_warn("pod", "cannot stop container", "container=%.12s error=\"%s\"", ids[i],
                    one.msg);
            if (rc == 0)
                *err = one;
            rc = -1;
        }
        free(ids[i]);
    }
    free(ids);
    return rc;
}

/* Stop and remove hold the sandbox's op lock throughout, and mark it not ready first:
 * CreateContainer takes the same lock and checks readiness, so no container is made in a pod
 * that is going away, and none outlives its pod. */
static int mark_not_ready(pod_manager *pm, pod_sandbox *s, const char *intent, wc_err *err)
{
    pthread_mutex_lock(&pm->mu);
    s->state = POD_SANDBOX_NOTREADY;
    pthread_mutex_unlock(&pm->mu);
    return pod_sandbox_record_intent(pm, s, intent, err);
}

int pod_sandbox_stop(pod_manager *pm, const char *id, wc_err *err)
{
    pod_sandbox *s = pod_sandbox_find(pm, id, err);
    if (!s)
        return err->code == WC_NOT_FOUND ? (wc_err_clear(err), 0) : -1;
    pthread_mutex_lock(&s->op);
    if (pod_sandbox_is_removed(pm, s)) { /* by a call that held it while this one waited */
        pthread_mutex_unlock(&s->op);
        pod_sandbox_unref(pm, s);
        return 0;
    }
    /* A pod being removed stays so: its intent is the stronger one. */
    int removing = strcmp(s->intent, POD_INTENT_REMOVE) == 0;
    int rc = mark_not_ready(pm, s, removing ? POD_INTENT_REMOVE : POD_INTENT_STOP, err);
    if (rc == 0) {
        WC_CRASH_POINT("sandbox.stop.recorded");
        /* One still running keeps the pod's network and namespaces, and the intent stays. */
        rc = stop_containers(pm, s->id, err);
    }
    if (rc == 0) {
        WC_CRASH_POINT("sandbox.stop.containers");
        rc = detach_network(pm, s, 0, err); /* failed: the intent stays, for the retry */
        WC_CRASH_POINT("sandbox.stop.network");
        wc_err ignored = {0};
        pod_platform_sandbox_teardown(pm, s, &ignored); /* pinned namespaces, PID holder */
        if (rc == 0 && !removing)
            rc = pod_sandbox_record_intent(pm, s, NULL, err);
    }
    pthread_mutex_unlock(&s->op);
    pod_sandbox_unref(pm, s);
    return rc < 0 ? wc_err_prefix(err, "StopPodSandbox %.12s", id) : 0;
}

static int remove_containers(pod_manager *pm, const char *sandbox_id, wc_err *err)
{
    size_t n = 0;
    char **ids = pod_sandbox_container_ids(pm, sandbox_id, &n);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && pod_container_remove(pm, ids[i], err) < 0)
            rc = -1;
        free(ids[i]);
    }
    free(ids);
    return rc;
}

int pod_sandbox_remove(pod_manager *pm, const char *id, wc_err *err)
{
    pod_sandbox *s = pod_sandbox_find(pm, id, err);
    if (!s)
        return err->code == WC_NOT_FOUND ? (wc_err_clear(err), 0) : -1;
    pthread_mutex_lock(&s->op);
    if (pod_sandbox_is_removed(pm, s)) { /* by a call that held it while this one waited */
        pthread_mutex_unlock(&s->op);
        pod_sandbox_unref(pm, s);
        return 0;
    }
    int rc = mark_not_ready(pm, s, POD_INTENT_REMOVE, err);
    if (rc == 0) {
        WC_CRASH_POINT("sandbox.remove.recorded");
        rc = remove_containers(pm, s->id, err);
    }
    if (rc == 0) {
        WC_CRASH_POINT("sandbox.remove.containers");
        rc = detach_network(pm, s, 0, err);
    }
    if (rc == 0) {
        WC_CRASH_POINT("sandbox.remove.network");
        rc = pod_platform_sandbox_teardown(pm, s, err);
    }
    if (rc == 0)
        rc = pod_platform_remove_tree(s->dir, err);
    if (rc == 0)
        rc = pod_store_delete_sandbox(pm, s->id, err);
    if (rc == 0) {
        WC_CRASH_POINT("sandbox.remove.deleted");
        pthread_mutex_lock(&pm->mu); /* before the op lock goes: see pod_sandbox_is_removed */
        s->removed = 1;
        pthread_mutex_unlock(&pm->mu);
    }
    pthread_mutex_unlock(&s->op);
    if (rc == 0)
        pod_index_remove_sandbox(pm, s);
    pod_sandbox_unref(pm, s);
    return rc < 0 ? wc_err_prefix(err, "RemovePodSandbox %.12s", id) : 0;
}

/* ---- queries ---- */

static pod_sandbox_info *snapshot(const pod_sandbox *s)
{
    pod_sandbox_info *i = wc_xcalloc(1, sizeof *i);
    i->id = wc_xstrdup(s->id);
    i->state = s->state;
    i->created_ns = s->created_ns;
    i->handler = wc_xstrdup(s->handler);
    i->netns = wc_xstrdup(s->netns);
    json_t *ips = json_loads(s->ips_json, 0, NULL);
    i->n_ips = json_array_size(ips);
    i->ips = wc_xcalloc(i->n_ips + 1, sizeof *i->ips);
    for (size_t k = 0; k < i->n_ips; k++)
        i->ips[k] = wc_xstrdup(json_string_value(json_array_get(ips, k)));
    json_decref(ips);
    i->config = pod_sandbox_config_ref(s->config);
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
    *out = wc_xcalloc(*n + 1, sizeof **out);
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
    pod_sandbox_config_unref(i->config);
    free(i);
}

void pod_sandbox_list_free(pod_sandbox_info **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pod_sandbox_info_free(list[i]);
    free(list);
}
