/* CNI invocation building and result reading for Windows nodes (see hns/cni_win.h). */
#include "hns/cni_win.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/net.h"

static char *dupstr(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static char *fmt_alloc(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, fmt, a, b);
    return s;
}

void hns_cni_win_invocation_free(hns_cni_win_invocation *inv)
{
    if (!inv)
        return;
    free(inv->plugin);
    free(inv->exe);
    if (inv->env)
        for (char **e = inv->env; *e; e++)
            free(*e);
    free(inv->env);
    free(inv->stdin_json);
    memset(inv, 0, sizeof *inv);
}

static json_t *load_conf(const char *text, wc_err *err)
{
    json_error_t je;
    json_t *j = text ? json_loads(text, 0, &je) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        wc_err_set(err, WC_INVALID_ARGUMENT, "CNI network config is not a JSON object%s%s",
                   text ? ": " : "", text ? je.text : "");
        return NULL;
    }
    return j;
}

int hns_cni_win_plugin_count(const char *netconf_json, wc_err *err)
{
    json_t *j = load_conf(netconf_json, err);
    if (!j)
        return -1;
    json_t *plugins = json_object_get(j, "plugins");
    int n = plugins ? (int)json_array_size(plugins) : 1;
    json_decref(j);
    if (plugins && n == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "CNI network config has an empty plugins list");
    return n;
}

static int valid_plugin_type(const char *t)
{
    if (!t || !*t)
        return 0;
    for (const char *c = t; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
            return 0;
    return strcmp(t, ".") != 0 && strcmp(t, "..") != 0;
}

static char *lower_dup(const char *s)
{
    char *d = dupstr(s);
    for (char *c = d; c && *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return d;
}

/* runtimeConfig for the capabilities this plugin declares. */
static json_t *runtime_config(json_t *caps, const hns_cni_win_request *rq, wc_err *err)
{
    json_t *rc = json_object();
    if (json_is_true(json_object_get(caps, "portMappings")) && rq->n_ports) {
        json_t *a = json_array();
        for (size_t i = 0; i < rq->n_ports; i++) {
            const hns_hcn_port_mapping *pm = &rq->ports[i];
            if (hns_ip_protocol(pm->protocol) < 0) {
                wc_err_set(err, WC_INVALID_ARGUMENT, "port mapping %zu: unknown protocol \"%s\"", i,
                           pm->protocol ? pm->protocol : "(null)");
                json_decref(a);
                json_decref(rc);
                return NULL;
            }
            char *proto = lower_dup(pm->protocol);
            json_t *m = json_pack("{s:i,s:i,s:s}", "hostPort", (int)pm->host_port, "containerPort",
                                  (int)pm->container_port, "protocol", proto);
            free(proto);
            if (pm->host_ip && *pm->host_ip)
                json_object_set_new(m, "hostIP", json_string(pm->host_ip));
            json_array_append_new(a, m);
        }
        json_object_set_new(rc, "portMappings", a);
    }
    if (json_is_true(json_object_get(caps, "dns")) && (rq->n_dns_servers || rq->n_dns_searches)) {
        json_t *dns = json_object();
        json_t *servers = json_array(), *searches = json_array();
        for (size_t i = 0; i < rq->n_dns_servers; i++) {
            if (wc_inet_family(rq->dns_servers[i]) == 0) {
                wc_err_set(err, WC_INVALID_ARGUMENT, "DNS server \"%s\" is not an IP address",
                           rq->dns_servers[i]);
                json_decref(servers);
                json_decref(searches);
                json_decref(dns);
                json_decref(rc);
                return NULL;
            }
            json_array_append_new(servers, json_string(rq->dns_servers[i]));
        }
        for (size_t i = 0; i < rq->n_dns_searches; i++)
            json_array_append_new(searches, json_string(rq->dns_searches[i]));
        json_object_set_new(dns, "servers", servers);
        json_object_set_new(dns, "searches", searches);
        /* No "options": Windows resolvers have no ndots/timeout/attempts settings. */
        json_object_set_new(rc, "dns", dns);
    }
    if (json_is_true(json_object_get(caps, "bandwidth")) && (rq->ingress_bps || rq->egress_bps)) {
        json_t *bw = json_object();
        if (rq->ingress_bps) {
            json_object_set_new(bw, "ingressRate", json_integer((json_int_t)rq->ingress_bps));
            json_object_set_new(bw, "ingressBurst", json_integer(4294967295LL));
        }
        if (rq->egress_bps) {
            json_object_set_new(bw, "egressRate", json_integer((json_int_t)rq->egress_bps));
            json_object_set_new(bw, "egressBurst", json_integer(4294967295LL));
        }
        json_object_set_new(rc, "bandwidth", bw);
    }
    return rc;
}

static int env_add(char ***env, size_t *n, const char *key, const char *val)
{
    char **ne = realloc(*env, (*n + 2) * sizeof *ne);
    if (!ne)
        return -1;
    *env = ne;
    ne[*n] = fmt_alloc("%s=%s", key, val);
    if (!ne[*n])
        return -1;
    (*n)++;
    ne[*n] = NULL;
    return 0;
}

int hns_cni_win_build(const char *netconf_json, size_t index, const char *prev_result,
                      const hns_cni_win_request *rq, hns_cni_win_invocation *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!rq->command || !*rq->command)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "CNI invocation needs a command");
    if (strcmp(rq->command, "VERSION") != 0) {
        hns_guid g;
        if (!rq->container_id || !*rq->container_id)
            return wc_err_set(err, WC_INVALID_ARGUMENT, "CNI %s needs a container id", rq->command);
        if (!rq->netns || hns_guid_parse(rq->netns, &g) != 0)
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "CNI %s: network namespace \"%s\" is not an HCN namespace GUID",
                              rq->command, rq->netns ? rq->netns : "(null)");
    }
    if (rq->n_bin_dirs == 0)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "no CNI bin dir is configured");

    json_t *conf = load_conf(netconf_json, err);
    if (!conf)
        return -1;
    json_t *plugin = conf, *plugins = json_object_get(conf, "plugins");
    const char *name = json_string_value(json_object_get(conf, "name"));
    const char *version = json_string_value(json_object_get(conf, "cniVersion"));
    int rc = -1;
    json_t *cfg = NULL;
    if (plugins) {
        if (!json_is_array(plugins) || index >= json_array_size(plugins)) {
            wc_err_set(err, WC_INVALID_ARGUMENT, "CNI network \"%s\" has no plugin %zu",
                       name ? name : "", index);
            goto out;
        }
        plugin = json_array_get(plugins, index);
        if (!json_is_object(plugin)) {
            wc_err_set(err, WC_INVALID_ARGUMENT, "CNI network \"%s\": plugin %zu is not an object",
                       name ? name : "", index);
            goto out;
        }
    } else if (index != 0) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "CNI network config has one plugin, not %zu",
                   index + 1);
        goto out;
    }
    if (!name || !*name) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "CNI network config has no \"name\"");
        goto out;
    }
    const char *type = json_string_value(json_object_get(plugin, "type"));
    if (!valid_plugin_type(type)) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "CNI network \"%s\": plugin %zu has %s \"type\"", name,
                   index, type ? "an unusable" : "no");
        goto out;
    }

    /* The plugin's own config, with the list-level fields libcni injects. */
    cfg = json_deep_copy(plugin);
    json_object_set_new(cfg, "name", json_string(name));
    if (version)
        json_object_set_new(cfg, "cniVersion", json_string(version));
    json_object_del(cfg, "runtimeConfig");
    json_t *rtc = runtime_config(json_object_get(plugin, "capabilities"), rq, err);
    if (!rtc)
        goto out;
    if (json_object_size(rtc))
        json_object_set_new(cfg, "runtimeConfig", rtc);
    else
        json_decref(rtc);
    if (prev_result) {
        json_error_t je;
        json_t *prev = json_loads(prev_result, 0, &je);
        if (!json_is_object(prev)) {
            json_decref(prev);
            wc_err_set(err, WC_INVALID_ARGUMENT, "previous CNI result is not a JSON object");
            goto out;
        }
        json_object_set_new(cfg, "prevResult", prev);
    }

    /* Plugin path: first bin dir that has <type>.exe. */
    char sep = rq->dir_sep ? rq->dir_sep : '\\';
    char sep_s[2] = {sep, 0};
    out->plugin = dupstr(type);
    char *exe_name = fmt_alloc("%s%s", type, ".exe");
    for (size_t i = 0; i < rq->n_bin_dirs && exe_name; i++) {
        const char *d = rq->bin_dirs[i];
        size_t dl = strlen(d);
        int has_sep = dl && (d[dl - 1] == '\\' || d[dl - 1] == '/');
        char *cand = malloc(dl + 1 + strlen(exe_name) + 1);
        if (!cand)
            break;
        snprintf(cand, dl + 2 + strlen(exe_name), "%s%s%s", d, has_sep ? "" : sep_s, exe_name);
        if (!rq->exists || rq->exists(cand, rq->exists_ctx)) {
            out->exe = cand;
            break;
        }
        free(cand);
    }
    if (!out->exe) {
        wc_err_set(err, WC_FAILED_PRECONDITION,
                   "CNI plugin %s not found in %zu bin dir(s) (first: %s)",
                   exe_name ? exe_name : type, rq->n_bin_dirs, rq->bin_dirs[0]);
        free(exe_name);
        goto out;
    }
    free(exe_name);

    /* Environment. */
    size_t n = 0;
    char list_sep = rq->list_sep ? rq->list_sep : ';';
    size_t plen = 1;
    for (size_t i = 0; i < rq->n_bin_dirs; i++)
        plen += strlen(rq->bin_dirs[i]) + 1;
    char *cni_path = calloc(1, plen);
    for (size_t i = 0; cni_path && i < rq->n_bin_dirs; i++) {
        if (i) {
            size_t l = strlen(cni_path);
            cni_path[l] = list_sep;
            cni_path[l + 1] = '\0';
        }
        strcat(cni_path, rq->bin_dirs[i]);
    }
    char args[1024];
    snprintf(args, sizeof args,
             "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
             "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
             rq->pod_namespace ? rq->pod_namespace : "", rq->pod_name ? rq->pod_name : "",
             rq->container_id ? rq->container_id : "", rq->pod_uid ? rq->pod_uid : "");
    int bad = !cni_path;
    bad = bad || env_add(&out->env, &n, "CNI_COMMAND", rq->command);
    if (strcmp(rq->command, "VERSION") != 0) {
        bad = bad || env_add(&out->env, &n, "CNI_CONTAINERID", rq->container_id);
        bad = bad || env_add(&out->env, &n, "CNI_NETNS", rq->netns);
        bad = bad || env_add(&out->env, &n, "CNI_IFNAME", rq->ifname ? rq->ifname : "eth0");
        bad = bad || env_add(&out->env, &n, "CNI_ARGS", args);
    }
    bad = bad || env_add(&out->env, &n, "CNI_PATH", cni_path);
    free(cni_path);
    out->stdin_json = bad ? NULL : json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (bad || !out->stdin_json) {
        wc_err_set(err, WC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        hns_cni_win_invocation_free(out);
    json_decref(cfg);
    json_decref(conf);
    return rc;
}

/* "10.0.0.5/24" -> "10.0.0.5"; returns the family or 0. */
static int strip_prefix(const char *addr, char *out, size_t size)
{
    if (!addr)
        return 0;
    size_t n = strcspn(addr, "/");
    if (n == 0 || n >= size)
        return 0;
    memcpy(out, addr, n);
    out[n] = '\0';
    return wc_inet_family(out);
}

int hns_cni_win_parse_result(const char *plugin, const char *stdout_json, hns_cni_win_result *res,
                             wc_err *err)
{
    memset(res, 0, sizeof *res);
    json_error_t je;
    json_t *j = stdout_json ? json_loads(stdout_json, 0, &je) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return wc_err_set(err, WC_INTERNAL, "CNI plugin %s printed no JSON result%s%s", plugin,
                          stdout_json ? ": " : "", stdout_json ? je.text : "");
    }
    json_t *code = json_object_get(j, "code");
    if (json_is_integer(code)) {
        const char *msg = json_string_value(json_object_get(j, "msg"));
        const char *details = json_string_value(json_object_get(j, "details"));
        wc_err_set(err, WC_INTERNAL, "CNI plugin %s failed with code %lld: %s%s%s", plugin,
                   (long long)json_integer_value(code), msg ? msg : "(no message)",
                   details && *details ? ": " : "", details ? details : "");
        json_decref(j);
        return -1;
    }
    const char *v = json_string_value(json_object_get(j, "cniVersion"));
    snprintf(res->cni_version, sizeof res->cni_version, "%s", v ? v : "");

    /* Collect (address, gateway, family) from the "ips" list or the 0.2.0 ip4/ip6. */
    struct {
        char ip[48], gw[48];
        int fam;
    } found[8];
    size_t nf = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "ips"), i, e)
    {
        if (nf == 8)
            break;
        int fam = strip_prefix(json_string_value(json_object_get(e, "address")), found[nf].ip,
                               sizeof found[nf].ip);
        if (!fam)
            continue;
        const char *gw = json_string_value(json_object_get(e, "gateway"));
        snprintf(found[nf].gw, sizeof found[nf].gw, "%s", gw ? gw : "");
        found[nf++].fam = fam;
    }
    const char *legacy[] = {"ip4", "ip6"};
    for (int k = 0; k < 2 && nf < 8; k++) {
        json_t *o = json_object_get(j, legacy[k]);
        if (!o)
            continue;
        int fam = strip_prefix(json_string_value(json_object_get(o, "ip")), found[nf].ip,
                               sizeof found[nf].ip);
        if (!fam)
            continue;
        const char *gw = json_string_value(json_object_get(o, "gateway"));
        snprintf(found[nf].gw, sizeof found[nf].gw, "%s", gw ? gw : "");
        found[nf++].fam = fam;
    }
    for (int fam = 4; fam <= 6; fam += 2)
        for (size_t k = 0; k < nf && res->n_ips < HNS_CNI_MAX_IPS; k++)
            if (found[k].fam == fam) {
                memcpy(res->ips[res->n_ips], found[k].ip, sizeof res->ips[0]);
                if (res->n_ips == 0)
                    memcpy(res->gateway, found[k].gw, sizeof res->gateway);
                res->n_ips++;
            }
    json_decref(j);
    if (res->n_ips == 0)
        return wc_err_set(err, WC_INTERNAL, "CNI plugin %s returned no IP address for the pod",
                          plugin);
    return 0;
}
