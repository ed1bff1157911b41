/* Built-in NAT mode, pure parts: see hns/nat.h. */
#include "hns/nat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "hns/cni_int.h"
#include "hns/hcndoc.h"

/* Strict dotted quad (no leading "+", no empty parts, each 0-255). */
static int parse_v4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int part = 0; part < 4; part++) {
        if (part && *s++ != '.')
            return -1;
        if (*s < '0' || *s > '9')
            return -1;
        unsigned n = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            n = n * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (n > 255 || digits > 3)
            return -1;
        v = v << 8 | n;
    }
    if (*s)
        return -1;
    *out = v;
    return 0;
}

static void format_v4(uint32_t v, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
}

/* "a.b.c.d/n" with n 1..30 (room for a gateway and a pod). */
static int parse_subnet(const char *cidr, uint32_t *net, uint32_t *mask, uint8_t *bits, wc_err *err)
{
    char buf[32];
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    char *end = NULL;
    long n = slash ? strtol(slash + 1, &end, 10) : -1;
    if (!slash || (size_t)(slash - cidr) >= sizeof buf || end == slash + 1 || *end || n < 1 ||
        n > 30)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows_nat.subnet \"%s\" is not an IPv4 CIDR with a prefix of 1-30",
                          cidr ? cidr : "");
    memcpy(buf, cidr, (size_t)(slash - cidr));
    buf[slash - cidr] = '\0';
    uint32_t addr;
    if (parse_v4(buf, &addr) < 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows_nat.subnet \"%s\": \"%s\" is not an "
                          "IPv4 address",
                          cidr, buf);
    *mask = n == 0 ? 0 : ~0u << (32 - n);
    *net = addr & *mask;
    *bits = (uint8_t)n;
    return 0;
}

static int copy_str(char *dst, size_t cap, const char *src, const char *key, wc_err *err)
{
    if (!src || !*src || strlen(src) >= cap)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows_nat.%s must be a non-empty string "
                          "shorter than %zu bytes",
                          key, cap);
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

int hns_nat_config_read(const wc_config *cfg, hns_nat_config *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    const json_t *sec = cfg && cfg->doc ? json_object_get(cfg->doc, "windows_nat") : NULL;
    if (!json_is_object(sec))
        return 0;
    const json_t *en = json_object_get(sec, "enabled");
    out->enabled = en ? json_is_true(en) : 1;
    if (copy_str(out->network, sizeof out->network,
                 json_string_value(json_object_get(sec, "network")), "network", err) < 0 ||
        copy_str(out->subnet, sizeof out->subnet, json_string_value(json_object_get(sec, "subnet")),
                 "subnet", err) < 0 ||
        copy_str(out->gateway, sizeof out->gateway,
                 json_string_value(json_object_get(sec, "gateway")), "gateway", err) < 0)
        return -1;
    uint32_t net, mask, gw;
    uint8_t bits;
    if (parse_subnet(out->subnet, &net, &mask, &bits, err) < 0)
        return -1;
    if (parse_v4(out->gateway, &gw) < 0 || (gw & mask) != net || gw == net || gw == (net | ~mask))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows_nat.gateway \"%s\" is not a host address in %s", out->gateway,
                          out->subnet);
    return 0;
}

static int is_used(uint32_t a, const char *const *used, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        if (used[i] && parse_v4(used[i], &u) == 0 && u == a)
            return 1;
    }
    return 0;
}

int hns_nat_next_ip(const char *subnet, const char *gateway, const char *const *used, size_t n_used,
                    char out[16], uint8_t *prefix_len, wc_err *err)
{
    uint32_t net, mask, gw = 0;
    uint8_t bits;
    if (parse_subnet(subnet, &net, &mask, &bits, err) < 0)
        return -1;
    if (gateway && *gateway && parse_v4(gateway, &gw) < 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "gateway \"%s\" is not an IPv4 address",
                          gateway);
    uint32_t last = net | ~mask; /* broadcast */
    for (uint32_t a = net + 1; a < last; a++) {
        if (a == gw || is_used(a, used, n_used))
            continue;
        format_v4(a, out);
        *prefix_len = bits;
        return 0;
    }
    return wc_err_set(err, WC_RESOURCE_EXHAUSTED,
                      "NAT subnet %s has no free address left (%zu in use)", subnet, n_used);
}

char *hns_nat_endpoint_name(const char *pod_id, const char *network)
{
    size_t n = strlen(pod_id) + strlen(network) + 2;
    char *s = wc_xmalloc(n);
    snprintf(s, n, "%s_%s", pod_id, network);
    return s;
}

json_t *hns_nat_network_doc(const hns_nat_config *c, wc_err *err)
{
    hns_nat_network_spec s = {.name = c->network, .subnet = c->subnet, .gateway = c->gateway};
    return hns_hcn_nat_network_doc(&s, err);
}

json_t *hns_nat_endpoint_doc(const hns_nat_config *c, const hns_pod_net *pod,
                             const char *network_id, const char *ip, uint8_t prefix_len,
                             wc_err *err)
{
    hns_hcn_port_mapping *pms = wc_xcalloc(pod->n_ports + 1, sizeof *pms);
    size_t n = 0;
    for (size_t i = 0; i < pod->n_ports; i++) {
        const hns_port_mapping *p = &pod->ports[i];
        if (p->host_port <= 0)
            continue; /* a containerPort alone publishes nothing on the node */
        if (p->host_port > 65535 || p->container_port <= 0 || p->container_port > 65535) {
            free(pms);
            wc_err_set(err, WC_INVALID_ARGUMENT, "pod %s: port mapping %d -> %d is out of range",
                       pod->pod_id, p->host_port, p->container_port);
            return NULL;
        }
        pms[n++] = (hns_hcn_port_mapping){.protocol = p->protocol,
                                          .container_port = (uint16_t)p->container_port,
                                          .host_port = (uint16_t)p->host_port,
                                          .host_ip = p->host_ip};
    }
    char *name = hns_nat_endpoint_name(pod->pod_id, c->network);
    const char *exceptions[] = {c->subnet};
    hns_endpoint_spec s = {.name = name,
                           .network_id = network_id,
                           .ip = ip,
                           .prefix_length = prefix_len,
                           .gateway = c->gateway,
                           .dns_servers = pod->dns_servers,
                           .n_dns_servers = pod->n_dns_servers,
                           .dns_search = pod->dns_searches,
                           .n_dns_search = pod->n_dns_searches,
                           .ports = pms,
                           .n_ports = n,
                           .outbound_nat = 1,
                           .outbound_nat_exceptions = exceptions,
                           .n_outbound_nat_exceptions = 1};
    json_t *doc = hns_hcn_endpoint_doc(&s, err);
    free(pms);
    free(name);
    return doc;
}

char *hns_nat_result(const hns_nat_config *c, const char *endpoint_id, const char *ip,
                     uint8_t prefix_len)
{
    char addr[32];
    snprintf(addr, sizeof addr, "%s/%u", ip, (unsigned)prefix_len);
    json_t *r = json_pack("{s:s,s:[{s:s,s:s}],s:{s:s,s:s}}", "cniVersion", "1.0.0", "ips",
                          "address", addr, "gateway", c->gateway, "wincriNat", "network",
                          c->network, "endpoint", endpoint_id);
    char *text = r ? json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(r);
    return text;
}

int hns_nat_result_endpoint(const char *cni_result, char id[37])
{
    json_t *r = cni_result && *cni_result ? json_loads(cni_result, 0, NULL) : NULL;
    const char *ep =
        json_string_value(json_object_get(json_object_get(r, "wincriNat"), "endpoint"));
    int found = ep && strlen(ep) == 36;
    if (found)
        memcpy(id, ep, 37);
    json_decref(r);
    return found;
}

int hns_nat_builtin(const hns_network *net)
{
    return net && net->nat.enabled && hns_nat_supported();
}
