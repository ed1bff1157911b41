/* HCN documents. Key names and shapes come from hcsshim's hcn package: the Go structs
 * marshal with their field names, `omitempty` drops zero values, and json.RawMessage
 * fields (Settings, Policies) embed objects, not strings, except HostComputeQuery.Filter,
 * which is a string holding JSON. */
#include "hns/hcndoc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/net.h"
#include "common/xalloc.h"

static int check_guid(const char *what, const char *s, wc_err *err)
{
    hns_guid g;
    if (!s || hns_guid_parse(s, &g) != 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s \"%s\" is not a GUID", what,
                          s ? s : "(null)");
    return 0;
}

/* ---- building ---- */

static json_t *schema_v2(void)
{
    return json_pack("{s:i,s:i}", "Major", 2, "Minor", 0);
}

static const char *ns_type_name(hns_ns_type t)
{
    switch (t) {
    case HNS_NS_HOST:
        return "Host";
    case HNS_NS_HOST_DEFAULT:
        return "HostDefault";
    case HNS_NS_GUEST:
        return "Guest";
    default:
        return "GuestDefault";
    }
}

json_t *hns_hcn_namespace_doc(hns_ns_type type, int ready_on_create)
{
    json_t *d = json_pack("{s:s,s:o}", "Type", ns_type_name(type), "SchemaVersion", schema_v2());
    if (d && ready_on_create)
        json_object_set_new(d, "ReadyOnCreate", json_true());
    return d;
}

json_t *hns_hcn_namespace_modify_doc(int add, const char *endpoint_id, wc_err *err)
{
    if (check_guid("endpoint id", endpoint_id, err) != 0)
        return NULL;
    return json_pack("{s:s,s:s,s:{s:s}}", "ResourceType", "Endpoint", "RequestType",
                     add ? "Add" : "Remove", "Settings", "EndpointId", endpoint_id);
}

int hns_ip_protocol(const char *name)
{
    if (!name)
        return -1;
    char up[8];
    size_t n = strlen(name);
    if (n >= sizeof up)
        return -1;
    for (size_t i = 0; i <= n; i++)
        up[i] = (char)toupper((unsigned char)name[i]);
    if (strcmp(up, "TCP") == 0)
        return 6;
    if (strcmp(up, "UDP") == 0)
        return 17;
    if (strcmp(up, "SCTP") == 0)
        return 132;
    return -1;
}

static json_t *str_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static int check_ip(const char *what, const char *ip, wc_err *err)
{
    if (!ip || wc_inet_family(ip) == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s \"%s\" is not an IP address", what,
                          ip ? ip : "(null)");
    return 0;
}

static int check_cidr(const char *what, const char *cidr, wc_err *err)
{
    char buf[64];
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    if (!slash || (size_t)(slash - cidr) >= sizeof buf)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s \"%s\" is not a CIDR", what,
                          cidr ? cidr : "(null)");
    memcpy(buf, cidr, (size_t)(slash - cidr));
    buf[slash - cidr] = '\0';
    int fam = wc_inet_family(buf);
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (fam == 0 || *end || end == slash + 1 || bits < 0 || bits > (fam == 6 ? 128 : 32))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s \"%s\" is not a CIDR", what, cidr);
    return 0;
}

static json_t *default_route(const char *next_hop)
{
    return json_pack("{s:s,s:s}", "NextHop", next_hop, "DestinationPrefix",
                     wc_inet_family(next_hop) == 6 ? "::/0" : "0.0.0.0/0");
}

json_t *hns_hcn_nat_network_doc(const hns_nat_network_spec *s, wc_err *err)
{
    if (!s->name || !*s->name) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "NAT network needs a name");
        return NULL;
    }
    if (check_cidr("NAT network subnet", s->subnet, err) != 0 ||
        check_ip("NAT network gateway", s->gateway, err) != 0)
        return NULL;
    for (size_t i = 0; i < s->n_dns_servers; i++)
        if (check_ip("NAT network DNS server", s->dns_servers[i], err) != 0)
            return NULL;
    json_t *subnet =
        json_pack("{s:s,s:[o]}", "IpAddressPrefix", s->subnet, "Routes", default_route(s->gateway));
    json_t *d = json_pack("{s:s,s:s}", "Name", s->name, "Type", "NAT");
    if (s->mac_start && s->mac_end)
        json_object_set_new(d, "MacPool",
                            json_pack("{s:[{s:s,s:s}]}", "Ranges", "StartMacAddress", s->mac_start,
                                      "EndMacAddress", s->mac_end));
    if (s->n_dns_servers)
        json_object_set_new(
            d, "Dns",
            json_pack("{s:o}", "ServerList", str_array(s->dns_servers, s->n_dns_servers)));
    json_object_set_new(d, "Ipams",
                        json_pack("[{s:s,s:[o]}]", "Type", "Static", "Subnets", subnet));
    json_object_set_new(d, "SchemaVersion", schema_v2());
    return d;
}

json_t *hns_hcn_endpoint_doc(const hns_endpoint_spec *s, wc_err *err)
{
    if (!s->name || !*s->name) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "HCN endpoint needs a name");
        return NULL;
    }
    if (check_guid("HCN network id", s->network_id, err) != 0)
        return NULL;
    if (s->namespace_id && check_guid("HCN namespace id", s->namespace_id, err) != 0)
        return NULL;
    if (s->ip && check_ip("endpoint IP", s->ip, err) != 0)
        return NULL;
    if (s->gateway && check_ip("endpoint gateway", s->gateway, err) != 0)
        return NULL;
    for (size_t i = 0; i < s->n_dns_servers; i++)
        if (check_ip("DNS server", s->dns_servers[i], err) != 0)
            return NULL;

    json_t *policies = json_array();
    for (size_t i = 0; i < s->n_ports; i++) {
        const hns_hcn_port_mapping *pm = &s->ports[i];
        int proto = hns_ip_protocol(pm->protocol);
        if (proto < 0) {
            wc_err_set(err, WC_INVALID_ARGUMENT, "port mapping %zu: unknown protocol \"%s\"", i,
                       pm->protocol ? pm->protocol : "(null)");
            json_decref(policies);
            return NULL;
        }
        if (pm->container_port == 0 || pm->host_port == 0) {
            wc_err_set(err, WC_INVALID_ARGUMENT,
                       "port mapping %zu: container and host ports must be 1-65535 (HCN has no "
                       "ephemeral host ports)",
                       i);
            json_decref(policies);
            return NULL;
        }
        json_t *set = json_pack("{s:i,s:i,s:i}", "Protocol", proto, "InternalPort",
                                (int)pm->container_port, "ExternalPort", (int)pm->host_port);
        if (pm->host_ip && *pm->host_ip && strcmp(pm->host_ip, "0.0.0.0") != 0 &&
            strcmp(pm->host_ip, "::") != 0) {
            if (check_ip("port mapping host IP", pm->host_ip, err) != 0) {
                json_decref(set);
                json_decref(policies);
                return NULL;
            }
            json_object_set_new(set, "VIP", json_string(pm->host_ip));
        }
        json_array_append_new(policies,
                              json_pack("{s:s,s:o}", "Type", "PortMapping", "Settings", set));
    }
    if (s->outbound_nat) {
        json_t *p = json_pack("{s:s}", "Type", "OutBoundNAT");
        if (s->n_outbound_nat_exceptions)
            json_object_set_new(
                p, "Settings",
                json_pack("{s:o}", "Exceptions",
                          str_array(s->outbound_nat_exceptions, s->n_outbound_nat_exceptions)));
        json_array_append_new(policies, p);
    }

    /* Field order as in hcsshim's HostComputeEndpoint struct. */
    json_t *d = json_pack("{s:s,s:s}", "Name", s->name, "HostComputeNetwork", s->network_id);
    if (s->namespace_id)
        json_object_set_new(d, "HostComputeNamespace", json_string(s->namespace_id));
    if (json_array_size(policies))
        json_object_set_new(d, "Policies", policies);
    else
        json_decref(policies);
    if (s->ip) {
        json_t *ipc = json_pack("{s:s}", "IpAddress", s->ip);
        if (s->prefix_length)
            json_object_set_new(ipc, "PrefixLength", json_integer(s->prefix_length));
        json_object_set_new(d, "IpConfigurations", json_pack("[o]", ipc));
    }
    if (s->n_dns_servers || s->n_dns_search) {
        json_t *dns = json_object();
        if (s->n_dns_search)
            json_object_set_new(dns, "Search", str_array(s->dns_search, s->n_dns_search));
        if (s->n_dns_servers)
            json_object_set_new(dns, "ServerList", str_array(s->dns_servers, s->n_dns_servers));
        json_object_set_new(d, "Dns", dns);
    }
    if (s->gateway)
        json_object_set_new(d, "Routes", json_pack("[o]", default_route(s->gateway)));
    if (s->mac)
        json_object_set_new(d, "MacAddress", json_string(s->mac));
    json_object_set_new(d, "SchemaVersion", schema_v2());
    return d;
}

json_t *hns_hcn_query_doc(const char *filter_key, const char *filter_value, int detailed)
{
    json_t *q = json_pack("{s:o}", "SchemaVersion", schema_v2());
    if (detailed)
        json_object_set_new(q, "Flags", json_integer(1));
    if (filter_key) {
        json_t *f = json_pack("{s:s}", filter_key, filter_value ? filter_value : "");
        char *text = json_dumps(f, JSON_COMPACT);
        json_decref(f);
        json_object_set_new(q, "Filter", json_string(text ? text : ""));
        free(text);
    }
    return q;
}

char *hns_hcn_dump(const json_t *doc)
{
    return json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

/* ---- parsing ---- */

static json_t *load_object(const char *text, const char *what, wc_err *err)
{
    json_error_t je;
    json_t *j = text ? json_loads(text, 0, &je) : NULL;
    if (!j || !json_is_object(j)) {
        wc_err_set(err, WC_INTERNAL, "HCN returned an unreadable %s document: %s", what,
                   j ? "not an object" : (text ? je.text : "no text"));
        json_decref(j);
        return NULL;
    }
    return j;
}

static void copy_str(char *dst, size_t size, json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    snprintf(dst, size, "%s", v ? v : "");
}

int hns_hcn_endpoint_parse(const char *json, hns_endpoint_info *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *j = load_object(json, "endpoint", err);
    if (!j)
        return -1;
    copy_str(out->id, sizeof out->id, j, "ID");
    copy_str(out->name, sizeof out->name, j, "Name");
    copy_str(out->network_id, sizeof out->network_id, j, "HostComputeNetwork");
    copy_str(out->namespace_id, sizeof out->namespace_id, j, "HostComputeNamespace");
    copy_str(out->mac, sizeof out->mac, j, "MacAddress");
    size_t i;
    json_t *ipc;
    json_array_foreach(json_object_get(j, "IpConfigurations"), i, ipc)
    {
        const char *ip = json_string_value(json_object_get(ipc, "IpAddress"));
        if (!ip || out->n_ips == HNS_MAX_IPS)
            continue;
        snprintf(out->ips[out->n_ips], sizeof out->ips[0], "%s", ip);
        json_int_t pl = json_integer_value(json_object_get(ipc, "PrefixLength"));
        out->prefix_lengths[out->n_ips] = (pl > 0 && pl <= 128) ? (uint8_t)pl : 0;
        out->n_ips++;
    }
    json_decref(j);
    return 0;
}

int hns_hcn_namespace_parse(const char *json, hns_namespace_info *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *j = load_object(json, "namespace", err);
    if (!j)
        return -1;
    copy_str(out->id, sizeof out->id, j, "ID");
    copy_str(out->type, sizeof out->type, j, "Type");
    json_int_t nsid = json_integer_value(json_object_get(j, "NamespaceId"));
    out->namespace_id = (nsid > 0 && nsid <= UINT32_MAX) ? (uint32_t)nsid : 0;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(j, "Resources"), i, r)
    {
        const char *type = json_string_value(json_object_get(r, "Type"));
        const char *id = json_string_value(json_object_get(json_object_get(r, "Data"), "ID"));
        if (!type || strcmp(type, "Endpoint") != 0 || !id)
            continue;
        if (out->n_endpoints == HNS_MAX_NS_ENDPOINTS) {
            json_decref(j);
            return wc_err_set(err, WC_INTERNAL, "HCN namespace %s has more than %d endpoints",
                              out->id, HNS_MAX_NS_ENDPOINTS);
        }
        snprintf(out->endpoints[out->n_endpoints++], sizeof out->endpoints[0], "%s", id);
    }
    json_decref(j);
    return 0;
}

int hns_hcn_guid_list_parse(const char *json, char (**ids)[37], size_t *n, wc_err *err)
{
    *ids = NULL;
    *n = 0;
    json_error_t je;
    json_t *j = json ? json_loads(json, 0, &je) : NULL;
    if (json && !j && strspn(json, " \t\r\n") == strlen(json)) /* empty answer: none */
        return 0;
    if (!json_is_array(j)) {
        json_decref(j);
        return wc_err_set(err, WC_INTERNAL, "HCN enumeration did not return a JSON array");
    }
    size_t count = json_array_size(j);
    char(*out)[37] = wc_xcalloc(count ? count : 1, sizeof *out);
    for (size_t i = 0; i < count; i++) {
        hns_guid g;
        if (hns_guid_parse(json_string_value(json_array_get(j, i)), &g) != 0) {
            free(out);
            json_decref(j);
            return wc_err_set(err, WC_INTERNAL, "HCN enumeration entry %zu is not a GUID", i);
        }
        hns_guid_format(&g, out[i]);
    }
    json_decref(j);
    *ids = out;
    *n = count;
    return 0;
}

const char *hns_endpoint_stats_path(const char *endpoint_id, char *buf, size_t size)
{
    snprintf(buf, size, "/endpointstats/%s", endpoint_id);
    return buf;
}

static uint64_t u64_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        return (uint64_t)json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) >= 0) /* above INT64_MAX Jansson gives a real */
        return (uint64_t)json_real_value(v);
    return 0;
}

int hns_hcn_endpoint_stats_parse(const char *json, hns_endpoint_stats *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *j = load_object(json, "endpoint statistics", err);
    if (!j)
        return -1;
    json_t *o = j;
    json_t *success = json_object_get(j, "Success");
    if (success) {
        if (!json_is_true(success)) {
            const char *msg = json_string_value(json_object_get(j, "Error"));
            wc_err_set(err, WC_INTERNAL, "HNS endpoint statistics failed: %s",
                       msg && *msg ? msg : "no error text");
            json_decref(j);
            return -1;
        }
        o = json_object_get(j, "Output");
        if (!json_is_object(o)) {
            json_decref(j);
            return wc_err_set(err, WC_INTERNAL, "HNS endpoint statistics carried no Output");
        }
    }
    copy_str(out->endpoint_id, sizeof out->endpoint_id, o, "EndpointId");
    copy_str(out->instance_id, sizeof out->instance_id, o, "InstanceId");
    out->bytes_received = u64_of(o, "BytesReceived");
    out->bytes_sent = u64_of(o, "BytesSent");
    out->packets_received = u64_of(o, "PacketsReceived");
    out->packets_sent = u64_of(o, "PacketsSent");
    out->dropped_packets_incoming = u64_of(o, "DroppedPacketsIncoming");
    out->dropped_packets_outgoing = u64_of(o, "DroppedPacketsOutgoing");
    json_decref(j);
    return 0;
}
