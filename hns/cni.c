/* CNI runner, platform-neutral: network config loading, each plugin's stdin and environment
 * per the CNI spec 1.0, ADD in order / DEL in reverse / CHECK, result and error parsing.
 * Running a plugin binary and the namespace itself are the platform parts. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "hns/cni_int.h"
#include "hns/hns.h"

#define COMPONENT "cni"

/* ---- network handle ---- */

int hns_network_open(const wc_config *cfg, hns_network **out, wc_err *err)
{
    if (!cfg || !cfg->cni_conf_dir || !*cfg->cni_conf_dir)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "CNI: no conf_dir configured");
    if (cfg->n_cni_bin_dirs == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "CNI: no bin_dirs configured");
    hns_nat_config nat;
    if (hns_nat_config_read(cfg, &nat, err) < 0)
        return -1;
    hns_network *net = wc_xcalloc(1, sizeof *net);
    net->nat = nat;
    net->conf_dir = wc_xstrdup(cfg->cni_conf_dir);
    net->bin_dirs = wc_xcalloc(cfg->n_cni_bin_dirs, sizeof *net->bin_dirs);
    for (size_t i = 0; i < cfg->n_cni_bin_dirs; i++)
        net->bin_dirs[i] = wc_xstrdup(cfg->cni_bin_dirs[i]);
    net->n_bin_dirs = cfg->n_cni_bin_dirs;
    net->timeout_ms = HNS_CNI_TIMEOUT_MS_DEFAULT;
    *out = net;
    return 0;
}

void hns_network_close(hns_network *net)
{
    if (!net)
        return;
    for (size_t i = 0; i < net->n_bin_dirs; i++)
        free(net->bin_dirs[i]);
    free(net->bin_dirs);
    free(net->conf_dir);
    free(net);
}

void hns_attach_result_clear(hns_attach_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_ips; i++)
        free(r->ips[i]);
    free(r->ips);
    free(r->cni_result);
    memset(r, 0, sizeof *r);
}

/* ---- network config ---- */

/* A plugin type becomes a file name in a bin dir, so it must not be a path: no separator,
 * and no ':' either, which on Windows names a drive ("C:x") or an alternate data stream of
 * another file ("cmd:x"). */
static int check_plugin(const json_t *plugin, const char *source, size_t index, wc_err *err)
{
    if (!json_is_object(plugin))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "CNI config %s: plugin %zu is not an object",
                          source, index);
    const char *type = json_string_value(json_object_get(plugin, "type"));
    if (!type || !*type)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "CNI config %s: plugin %zu has no \"type\"",
                          source, index);
    if (strpbrk(type, "/\\:") || strcmp(type, "..") == 0 || strcmp(type, ".") == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "CNI config %s: plugin type \"%s\" must be a plain file name", source,
                          type);
    return 0;
}

/* Wraps a single-plugin .conf into list form. */
static json_t *wrap_single(json_t *conf)
{
    json_t *list = json_object();
    json_object_set(list, "cniVersion", json_object_get(conf, "cniVersion"));
    json_object_set(list, "name", json_object_get(conf, "name"));
    json_t *plugins = json_array();
    json_array_append(plugins, conf);
    json_object_set_new(list, "plugins", plugins);
    return list;
}

static json_t *conf_normalise(json_t *doc, const char *source, wc_err *err)
{
    const char *name = json_string_value(json_object_get(doc, "name"));
    if (!name || !*name) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "CNI config %s has no \"name\"", source);
        return NULL;
    }
    if (!json_object_get(doc, "cniVersion"))
        json_object_set_new(doc, "cniVersion", json_string("1.0.0"));
    if (!json_is_string(json_object_get(doc, "cniVersion"))) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "CNI config %s: \"cniVersion\" is not a string",
                   source);
        return NULL;
    }
    json_t *plugins = json_object_get(doc, "plugins");
    if (!plugins) {
        if (check_plugin(doc, source, 0, err) < 0)
            return NULL;
        return wrap_single(doc);
    }
    if (!json_is_array(plugins) || json_array_size(plugins) == 0) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "CNI config %s: \"plugins\" is not a non-empty list",
                   source);
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(plugins); i++)
        if (check_plugin(json_array_get(plugins, i), source, i, err) < 0)
            return NULL;
    return json_incref(doc);
}

json_t *hns_cni_conf_parse(const char *text, const char *source, wc_err *err)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (!json_is_object(doc)) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "CNI config %s: %s", source,
                   doc ? "not a JSON object" : jerr.text);
        json_decref(doc);
        return NULL;
    }
    json_t *list = conf_normalise(doc, source, err);
    json_decref(doc);
    return list;
}

json_t *hns_cni_conf_load(const char *path, wc_err *err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!json_is_object(doc)) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "CNI config %s: %s", path,
                   doc ? "not a JSON object" : jerr.text);
        json_decref(doc);
        return NULL;
    }
    json_t *list = conf_normalise(doc, path, err);
    json_decref(doc);
    return list;
}

/* ---- stdin: the per-plugin config ---- */

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static int cap_declared(const json_t *plugin, const char *cap)
{
    return json_is_true(json_object_get(json_object_get(plugin, "capabilities"), cap));
}

/* Only mappings with a host port: containerPort alone needs no plugin work. */
static json_t *cap_port_mappings(const hns_pod_net *pod)
{
    json_t *a = json_array();
    for (size_t i = 0; i < pod->n_ports; i++) {
        const hns_port_mapping *pm = &pod->ports[i];
        if (pm->host_port <= 0)
            continue;
        json_t *m = json_object();
        json_object_set_new(m, "hostPort", json_integer(pm->host_port));
        json_object_set_new(m, "containerPort", json_integer(pm->container_port));
        json_object_set_new(m, "protocol", json_string(pm->protocol ? pm->protocol : "tcp"));
        if (pm->host_ip && *pm->host_ip)
            json_object_set_new(m, "hostIP", json_string(pm->host_ip));
        json_array_append_new(a, m);
    }
    if (json_array_size(a) == 0) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static json_t *cap_dns(const hns_pod_net *pod)
{
    if (pod->n_dns_servers + pod->n_dns_searches + pod->n_dns_options == 0)
        return NULL;
    json_t *d = json_object();
    json_object_set_new(d, "servers", str_array(pod->dns_servers, pod->n_dns_servers));
    json_object_set_new(d, "searches", str_array(pod->dns_searches, pod->n_dns_searches));
    json_object_set_new(d, "options", str_array(pod->dns_options, pod->n_dns_options));
    return d;
}

/* Rates in bits/s. The bandwidth plugin wants a burst with every rate; a burst this large
 * means "rate only", as kubelet's own runtimes pass it. */
static json_t *cap_bandwidth(const hns_pod_net *pod)
{
    if (!pod->ingress_bps && !pod->egress_bps)
        return NULL;
    const json_int_t burst = 4294967295LL;
    json_t *b = json_object();
    if (pod->ingress_bps) {
        json_object_set_new(b, "ingressRate", json_integer((json_int_t)pod->ingress_bps));
        json_object_set_new(b, "ingressBurst", json_integer(burst));
    }
    if (pod->egress_bps) {
        json_object_set_new(b, "egressRate", json_integer((json_int_t)pod->egress_bps));
        json_object_set_new(b, "egressBurst", json_integer(burst));
    }
    return b;
}

/* One range set per CIDR of the (possibly dual-stack) pod CIDR. */
static json_t *cap_ip_ranges(const hns_pod_net *pod)
{
    if (!pod->pod_cidr || !*pod->pod_cidr)
        return NULL;
    json_t *sets = json_array();
    for (const char *p = pod->pod_cidr; *p;) {
        p += strspn(p, ", ");
        size_t len = strcspn(p, ", ");
        if (len == 0)
            break;
        json_t *set = json_array();
        json_array_append_new(set, json_pack("{s:s%}", "subnet", p, len));
        json_array_append_new(sets, set);
        p += len;
    }
    if (json_array_size(sets) == 0) {
        json_decref(sets);
        return NULL;
    }
    return sets;
}

static void add_cap(json_t *rc, const json_t *plugin, const char *cap, json_t *value)
{
    if (value && cap_declared(plugin, cap))
        json_object_set(rc, cap, value);
    json_decref(value);
}

static json_t *runtime_config(const json_t *plugin, const hns_pod_net *pod)
{
    json_t *rc = json_deep_copy(json_object_get(plugin, "runtimeConfig"));
    if (!json_is_object(rc)) {
        json_decref(rc);
        rc = json_object();
    }
    if (pod) {
        add_cap(rc, plugin, "portMappings", cap_port_mappings(pod));
        add_cap(rc, plugin, "dns", cap_dns(pod));
        add_cap(rc, plugin, "bandwidth", cap_bandwidth(pod));
        add_cap(rc, plugin, "ipRanges", cap_ip_ranges(pod));
    }
    return rc;
}

json_t *hns_cni_plugin_stdin(const json_t *list, size_t index, const json_t *prev_result,
                             const hns_pod_net *pod)
{
    const json_t *plugin = json_array_get(json_object_get(list, "plugins"), index);
    if (!plugin)
        return NULL;
    json_t *conf = json_deep_copy(plugin);
    json_object_set(conf, "name", json_object_get(list, "name"));
    json_object_set(conf, "cniVersion", json_object_get(list, "cniVersion"));
    if (prev_result)
        json_object_set_new(conf, "prevResult", json_deep_copy(prev_result));
    json_t *rc = runtime_config(plugin, pod);
    if (json_object_size(rc) > 0)
        json_object_set(conf, "runtimeConfig", rc);
    json_decref(rc);
    return conf;
}

/* ---- environment ---- */

static char *kv(const char *key, const char *value)
{
    size_t n = strlen(key) + strlen(value) + 2;
    char *s = wc_xmalloc(n);
    snprintf(s, n, "%s=%s", key, value);
    return s;
}

/* K8S_* keys as kubelet's runtimes pass them; IgnoreUnknown lets plugins that know none of
 * them still accept the call. */
static char *cni_args(const hns_pod_net *pod)
{
    const char *keys[] = {"K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID",
                          "K8S_POD_UID"};
    const char *vals[] = {pod->namespace_, pod->name, pod->pod_id, pod->uid};
    size_t cap = 64;
    for (size_t i = 0; i < 4; i++)
        cap += strlen(keys[i]) + (vals[i] ? strlen(vals[i]) : 0) + 2;
    char *s = wc_xmalloc(cap);
    size_t n = (size_t)snprintf(s, cap, "IgnoreUnknown=1");
    for (size_t i = 0; i < 4; i++)
        if (vals[i] && *vals[i])
            n += (size_t)snprintf(s + n, cap - n, ";%s=%s", keys[i], vals[i]);
    return s;
}

char **hns_cni_env(const char *command, const char *netns, const hns_pod_net *pod)
{
    char **env = wc_xcalloc(6, sizeof *env);
    env[0] = kv("CNI_COMMAND", command);
    env[1] = kv("CNI_CONTAINERID", pod->pod_id ? pod->pod_id : "");
    env[2] = kv("CNI_NETNS", netns ? netns : "");
    env[3] = kv("CNI_IFNAME", "eth0");
    char *args = cni_args(pod);
    env[4] = kv("CNI_ARGS", args);
    free(args);
    return env;
}

void hns_cni_env_free(char **env)
{
    if (!env)
        return;
    for (char **e = env; *e; e++)
        free(*e);
    free(env);
}

/* ---- plugin output ---- */

/* The last non-empty line of stderr, for plugins that fail without a JSON error. */
static void last_line(const char *text, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!text)
        return;
    size_t len = strlen(text);
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    size_t start = len;
    while (start && text[start - 1] != '\n')
        start--;
    size_t n = len - start < size - 1 ? len - start : size - 1;
    memcpy(buf, text + start, n);
    buf[n] = '\0';
}

static int plugin_error(const char *plugin, const char *command, const json_t *doc,
                        const char *err_text, int exit_code, wc_err *err)
{
    const char *msg = json_string_value(json_object_get(doc, "msg"));
    const char *details = json_string_value(json_object_get(doc, "details"));
    char tail[512];
    if (!msg) {
        last_line(err_text, tail, sizeof tail);
        if (*tail)
            msg = tail;
        else {
            snprintf(tail, sizeof tail, "exit status %d and no error message", exit_code);
            msg = tail;
        }
    }
    if (details && *details)
        return wc_err_set(err, WC_INTERNAL, "CNI plugin %s failed (%s): %s: %s", plugin, command,
                          msg, details);
    return wc_err_set(err, WC_INTERNAL, "CNI plugin %s failed (%s): %s", plugin, command, msg);
}

static int is_error_object(const json_t *doc)
{
    return json_is_object(doc) && json_object_get(doc, "code") &&
           json_is_string(json_object_get(doc, "msg")) && !json_object_get(doc, "ips");
}

int hns_cni_parse_output(const char *plugin, const char *command, const char *out,
                         const char *err_text, int exit_code, json_t **result, wc_err *err)
{
    if (result)
        *result = NULL;
    json_t *doc = (out && *out) ? json_loads(out, 0, NULL) : NULL;
    if (exit_code != 0 || is_error_object(doc)) {
        plugin_error(plugin, command, doc, err_text, exit_code, err);
        json_decref(doc);
        return -1;
    }
    if (strcmp(command, "ADD") == 0 && !json_is_object(doc)) {
        json_decref(doc);
        return wc_err_set(err, WC_INTERNAL, "CNI plugin %s (ADD) printed no result object", plugin);
    }
    if (result)
        *result = doc;
    else
        json_decref(doc);
    return 0;
}

/* ---- results ---- */

static void push_ip(char ***ips, size_t *n, const char *address)
{
    if (!address || !*address)
        return;
    size_t len = strcspn(address, "/");
    char *ip = wc_xmalloc(len + 1);
    memcpy(ip, address, len);
    ip[len] = '\0';
    *ips = wc_xrealloc(*ips, (*n + 1) * sizeof **ips);
    (*ips)[(*n)++] = ip;
}

static int is_v4(const char *address)
{
    return address && !strchr(address, ':');
}

int hns_cni_result_ips(const json_t *result, char ***ips, size_t *n_ips, wc_err *err)
{
    *ips = NULL;
    *n_ips = 0;
    const json_t *list = json_object_get(result, "ips");
    /* Two passes keep IPv4 first, as kubelet takes the first IP as the pod's. */
    for (int want_v4 = 1; want_v4 >= 0; want_v4--) {
        for (size_t i = 0; i < json_array_size(list); i++) {
            const char *a = json_string_value(json_object_get(json_array_get(list, i), "address"));
            if (a && is_v4(a) == want_v4)
                push_ip(ips, n_ips, a);
        }
        const char *legacy = want_v4 ? "ip4" : "ip6";
        push_ip(ips, n_ips,
                json_string_value(json_object_get(json_object_get(result, legacy), "ip")));
    }
    if (*n_ips == 0)
        return wc_err_set(err, WC_INTERNAL, "CNI result has no IP address for the pod");
    return 0;
}

/* ---- running plugins ---- */

typedef struct call {
    hns_network *net;
    const json_t *list;
    const char *command;
    const char *netns;
    const hns_pod_net *pod;
} call;

static const char *plugin_type(const json_t *list, size_t index)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(list, "plugins"), index), "type"));
}

/* *ran says whether the plugin got to run at all (so that it has anything to undo). */
static int run_plugin_ran(const call *c, size_t index, const json_t *prev, json_t **result,
                          int *ran, wc_err *err)
{
    const char *type = plugin_type(c->list, index);
    json_t *conf = hns_cni_plugin_stdin(c->list, index, prev, c->pod);
    char *stdin_json = json_dumps(conf, JSON_COMPACT);
    json_decref(conf);
    char **env = hns_cni_env(c->command, c->netns, c->pod);
    hns_cni_exec_req rq = {.plugin = type,
                           .bin_dirs = (const char *const *)c->net->bin_dirs,
                           .n_bin_dirs = c->net->n_bin_dirs,
                           .env = (const char *const *)env,
                           .stdin_json = stdin_json,
                           .timeout_ms = c->net->timeout_ms};
    char *out = NULL, *err_text = NULL;
    int exit_code = 0;
    wc_debug(COMPONENT, "running plugin", "plugin=%s command=%s pod=%s", type, c->command,
             c->pod->pod_id ? c->pod->pod_id : "");
    int rc = hns_cni_exec(&rq, &out, &err_text, &exit_code, err);
    *ran = rc == 0 || (err && err->code == WC_DEADLINE_EXCEEDED);
    if (rc == 0)
        rc = hns_cni_parse_output(type, c->command, out, err_text, exit_code, result, err);
    free(out);
    free(err_text);
    free(stdin_json);
    hns_cni_env_free(env);
    return rc;
}

static int run_plugin(const call *c, size_t index, const json_t *prev, json_t **result, wc_err *err)
{
    int ran = 0;
    return run_plugin_ran(c, index, prev, result, &ran, err);
}

static json_t *find_and_load(hns_network *net, wc_err *err)
{
    char *path = NULL, *name = NULL;
    if (hns_cni_config_find(net->conf_dir, &path, &name, err) < 0)
        return NULL;
    json_t *list = hns_cni_conf_load(path, err);
    free(path);
    free(name);
    return list;
}

static size_t plugin_count(const json_t *list)
{
    return json_array_size(json_object_get(list, "plugins"));
}

/* DEL for plugins last..0; every plugin is tried so one failure does not leave the others
 * attached. Returns the first failure. */
static int del_from(const call *c, size_t last, const json_t *prev, wc_err *err)
{
    int rc = 0;
    for (size_t i = last + 1; i-- > 0;) {
        wc_err e = {0};
        if (run_plugin(c, i, prev, NULL, &e) < 0) {
            wc_warn(COMPONENT, "CNI DEL failed", "pod=%s error=\"%s\"",
                    c->pod->pod_id ? c->pod->pod_id : "", e.msg);
            if (rc == 0 && err)
                *err = e;
            rc = -1;
        }
    }
    return rc;
}

static int fill_result(const json_t *final, hns_attach_result *out, wc_err *err)
{
    if (hns_cni_result_ips(final, &out->ips, &out->n_ips, err) < 0)
        return -1;
    out->cni_result = json_dumps(final, JSON_COMPACT);
    return 0;
}

int hns_attach(hns_network *net, const char *netns, const hns_pod_net *pod, hns_attach_result *out,
               wc_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *list = find_and_load(net, err);
    if (!list && hns_nat_builtin(net)) {
        wc_err_clear(err);
        return hns_nat_attach(net, netns, pod, out, err);
    }
    if (!list)
        return -1;
    call c = {.net = net, .list = list, .command = "ADD", .netns = netns, .pod = pod};
    json_t *prev = NULL;
    size_t n = plugin_count(list);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *res = NULL;
        int ran = 0;
        rc = run_plugin_ran(&c, i, prev, &res, &ran, err);
        if (rc < 0 && (ran || i > 0)) {
            call d = c;
            d.command = "DEL";
            del_from(&d, ran ? i : i - 1, prev, NULL);
        } else if (rc == 0) {
            json_decref(prev);
            prev = res;
        }
    }
    if (rc == 0 && fill_result(prev, out, err) < 0) {
        wc_err_prefix(err, "CNI network %s", json_string_value(json_object_get(list, "name")));
        call d = c;
        d.command = "DEL";
        del_from(&d, n - 1, prev, NULL);
        hns_attach_result_clear(out);
        rc = -1;
    }
    json_decref(prev);
    json_decref(list);
    return rc;
}

/* The result kept from ADD; a lost or damaged one only costs the plugins their hint. */
static json_t *cached_result(const char *cni_result)
{
    if (!cni_result || !*cni_result)
        return NULL;
    json_t *r = json_loads(cni_result, 0, NULL);
    if (!json_is_object(r)) {
        wc_warn(COMPONENT, "ignoring unreadable cached CNI result", NULL);
        json_decref(r);
        return NULL;
    }
    return r;
}

int hns_detach(hns_network *net, const char *netns, const hns_pod_net *pod, const char *cni_result,
               wc_err *err)
{
    char nat_ep[37];
    if (hns_nat_result_endpoint(cni_result, nat_ep))
        return hns_nat_detach(net, netns, pod, nat_ep, err);
    wc_err ferr = {0};
    json_t *list = find_and_load(net, &ferr);
    if (!list && hns_nat_builtin(net))
        return hns_nat_detach(net, netns, pod, NULL, err);
    if (!list) {
        /* Nothing to run DEL with; failing would make the pod impossible to stop. */
        wc_warn(COMPONENT, "CNI DEL skipped", "pod=%s error=\"%s\"", pod->pod_id ? pod->pod_id : "",
                ferr.msg);
        return 0;
    }
    json_t *prev = cached_result(cni_result);
    call c = {.net = net, .list = list, .command = "DEL", .netns = netns, .pod = pod};
    int rc = del_from(&c, plugin_count(list) - 1, prev, err);
    json_decref(prev);
    json_decref(list);
    return rc;
}

/* CHECK exists from CNI 0.4.0 on. */
static int version_has_check(const char *v)
{
    int major = 0, minor = 0;
    if (!v || sscanf(v, "%d.%d", &major, &minor) != 2)
        return 1;
    return major > 0 || minor >= 4;
}

int hns_check(hns_network *net, const char *netns, const hns_pod_net *pod, const char *cni_result,
              wc_err *err)
{
    char nat_ep[37];
    if (hns_nat_result_endpoint(cni_result, nat_ep))
        return hns_nat_check(net, nat_ep, err);
    json_t *list = find_and_load(net, err);
    if (!list)
        return -1;
    int rc = 0;
    if (json_is_true(json_object_get(list, "disableCheck")) ||
        !version_has_check(json_string_value(json_object_get(list, "cniVersion")))) {
        json_decref(list);
        return 0;
    }
    json_t *prev = cached_result(cni_result);
    if (!prev)
        rc = wc_err_set(err, WC_FAILED_PRECONDITION,
                        "CNI CHECK for pod %s needs the result of its ADD", pod->pod_id);
    call c = {.net = net, .list = list, .command = "CHECK", .netns = netns, .pod = pod};
    for (size_t i = 0; rc == 0 && i < plugin_count(list); i++)
        rc = run_plugin(&c, i, prev, NULL, err);
    json_decref(prev);
    json_decref(list);
    return rc;
}
