/* winsim host: HCN networks, endpoints and namespaces (computenetwork.dll), and HNS v1's
 * endpoint statistics (vmcompute.dll HNSCall), all in memory.
 *
 * Sources (facts only): hcsshim hcn/hcnnetwork.go, hcnendpoint.go, hcnnamespace.go,
 * hcnerrors.go (HostComputeQuery {SchemaVersion, Flags, Filter: a JSON string}; enumerations
 * return a JSON array of GUIDs; ModifyNamespaceSettingRequest {ResourceType "Endpoint",
 * RequestType Add/Remove, Settings {EndpointId}}; namespace Resources [{Type, Data {ID}}];
 * ListEndpointsOfNetwork filters on "VirtualNetwork"; the HCN_E_* values), hcsshim
 * internal/hns/hnsendpoint.go (GET /endpointstats/<id> and its EndpointStats fields), and the
 * reply goldens in tests/windows/golden-hcn/ derived from them. Traffic is not simulated:
 * statistics are zero. */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HCN_E_NETWORK_NOT_FOUND ((HRESULT)0x803B0001L)
#define HCN_E_ENDPOINT_NOT_FOUND ((HRESULT)0x803B0002L)
#define HCN_E_INVALID_NETWORK ((HRESULT)0x803B000AL)
#define HCN_E_NETWORK_ALREADY_EXISTS ((HRESULT)0x803B0010L)
#define HCN_E_INVALID_JSON ((HRESULT)0x803B001BL)
#define HCN_E_INVALID_IP ((HRESULT)0x803B001EL)
#define HCN_E_REQUEST_UNSUPPORTED ((HRESULT)0x803B0014L)
#define NS_NOT_FOUND HRESULT_FROM_WIN32(ERROR_NOT_FOUND)

typedef struct obj {
    char kind; /* 'n' network, 'e' endpoint, 's' namespace */
    char id[40];
    char *settings; /* the document it was created with */
    char name[256];
    /* endpoint */
    char network[40], ns[40], mac[24], ip[48];
    int prefix;
    /* namespace */
    long nsid;
    char type[32];
    char eps[16][40];
    size_t n_eps;
    struct obj *next;
} obj;

static obj *objs;
static long next_nsid = 1;
static unsigned next_mac = 1;

static obj *find(char kind, const char *id)
{
    for (obj *o = objs; o && id; o = o->next)
        if (o->kind == kind && guid_equal(o->id, id))
            return o;
    return NULL;
}

int hcn_endpoint_exists(const char *id)
{
    return find('e', id) != NULL;
}

int hcn_namespace_exists(const char *id)
{
    return find('s', id) != NULL;
}

size_t hcn_namespace_endpoints(const char *ns_id, char (*out)[40], size_t max)
{
    obj *ns = find('s', ns_id);
    size_t n = 0;
    for (size_t i = 0; ns && i < ns->n_eps && n < max; i++)
        snprintf(out[n++], 40, "%s", ns->eps[i]);
    return n;
}

void hcn_stats(sb *out)
{
    size_t n[3] = {0};
    for (obj *o = objs; o; o = o->next)
        n[o->kind == 'n' ? 0 : o->kind == 'e' ? 1 : 2]++;
    sb_addf(out, ",\"networks\":%zu,\"endpoints\":%zu,\"namespaces\":%zu", n[0], n[1], n[2]);
}

static void fail(req *r, HRESULT hr, const char *msg)
{
    r->hr = hr;
    snprintf(r->note, sizeof r->note, "%s", msg);
    sb rec = {0};
    sb_add(&rec, "{\"Success\":false,\"Error\":");
    sb_qstr(&rec, msg);
    sb_addf(&rec, ",\"ErrorCode\":%ld}", (long)hr);
    sb_add(&r->out, ",\"record\":");
    sb_qstr(&r->out, rec.p);
    free(rec.p);
}

static void set_id(req *r, const char *id)
{
    free(r->journal_id);
    r->journal_id = xstrdup(id);
}

/* Object members of `settings` except those we set ourselves. */
static void copy_members(sb *b, const char *settings, const char *const *skip)
{
    sj *s = sj_parse(settings);
    for (size_t i = 0; s && s->type == SJ_OBJ && i < s->n; i++) {
        int skipped = 0;
        for (size_t k = 0; skip[k]; k++)
            skipped |= _stricmp(s->keys[i], skip[k]) == 0;
        if (skipped)
            continue;
        sb_add(b, ",");
        sb_qstr(b, s->keys[i]);
        sb_add(b, ":");
        sb_json(b, s->kids[i]);
    }
    sj_free(s);
}

static char *describe(const obj *o)
{
    sb b = {0};
    sb_add(&b, "{\"ID\":");
    sb_qstr(&b, o->id);
    if (o->kind == 'n') {
        static const char *const skip[] = {"ID", "SchemaVersion", NULL};
        copy_members(&b, o->settings, skip);
    } else if (o->kind == 'e') {
        static const char *const skip[] = {
            "ID",         "HostComputeNetwork", "HostComputeNamespace",
            "MacAddress", "IpConfigurations",   "SchemaVersion",
            NULL};
        sb_add(&b, ",\"HostComputeNetwork\":");
        sb_qstr(&b, o->network);
        if (o->ns[0]) {
            sb_add(&b, ",\"HostComputeNamespace\":");
            sb_qstr(&b, o->ns);
        }
        copy_members(&b, o->settings, skip);
        sb_add(&b, ",\"MacAddress\":");
        sb_qstr(&b, o->mac);
        sb_add(&b, ",\"IpConfigurations\":[");
        if (o->ip[0]) {
            sb_add(&b, "{\"IpAddress\":");
            sb_qstr(&b, o->ip);
            sb_addf(&b, ",\"PrefixLength\":%d}", o->prefix);
        }
        sb_add(&b, "],\"Flags\":0");
    } else {
        sb_addf(&b, ",\"NamespaceId\":%ld,\"Type\":", o->nsid);
        sb_qstr(&b, o->type);
        sb_add(&b, ",\"Resources\":[");
        for (size_t i = 0; i < o->n_eps; i++) {
            sb_add(&b, i ? ",{\"Type\":\"Endpoint\",\"Data\":{\"ID\":"
                         : "{\"Type\":\"Endpoint\",\"Data\":{\"ID\":");
            sb_qstr(&b, o->eps[i]);
            sb_add(&b, "}}");
        }
        sb_add(&b, "]");
    }
    sb_add(&b, ",\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}");
    return sb_take(&b);
}

static void reply_doc(req *r, const char *key, const char *doc)
{
    sb_add(&r->out, ",\"");
    sb_add(&r->out, key);
    sb_add(&r->out, "\":");
    sb_qstr(&r->out, doc);
}

static obj *new_obj(char kind, const char *id, const char *settings)
{
    obj *o = calloc(1, sizeof *o);
    o->kind = kind;
    snprintf(o->id, sizeof o->id, "%s", id);
    o->settings = xstrdup(settings ? settings : "{}");
    sj *s = sj_parse(o->settings);
    const char *name = sj_str(sj_get(s, "Name"));
    snprintf(o->name, sizeof o->name, "%s", name ? name : "");
    sj_free(s);
    o->next = objs;
    objs = o;
    return o;
}

static void drop(obj *o)
{
    for (obj **pp = &objs; *pp; pp = &(*pp)->next)
        if (*pp == o) {
            *pp = o->next;
            free(o->settings);
            free(o);
            return;
        }
}

/* ---- query filters ---- */

static int matches(const obj *o, const char *query)
{
    sj *q = sj_parse(query && *query ? query : "{}");
    const char *ftext = sj_str(sj_get(q, "Filter"));
    sj *f = ftext && *ftext ? sj_parse(ftext) : NULL;
    char *desc = describe(o);
    sj *d = sj_parse(desc);
    int ok = 1;
    for (size_t i = 0; f && f->type == SJ_OBJ && i < f->n; i++) {
        const char *want = sj_str(f->kids[i]);
        const char *key = f->keys[i];
        if (o->kind == 'e' && _stricmp(key, "VirtualNetwork") == 0)
            key = "HostComputeNetwork";
        const char *have = sj_str(sj_geti(d, key));
        if (!want || !have || (_stricmp(want, have) != 0 && !guid_equal(want, have)))
            ok = 0;
    }
    sj_free(d);
    free(desc);
    sj_free(f);
    sj_free(q);
    return ok;
}

static void enumerate(req *r, char kind)
{
    r->doc = sj_str(sj_get(r->in, "doc"));
    sb b = {0};
    sb_add(&b, "[");
    int first = 1;
    for (obj *o = objs; o; o = o->next) {
        if (o->kind != kind || !matches(o, r->doc))
            continue;
        sb_add(&b, first ? "" : ",");
        sb_qstr(&b, o->id);
        first = 0;
    }
    sb_add(&b, "]");
    reply_doc(r, "result", b.p);
    free(b.p);
}

static void h_enum_networks(req *r)
{
    enumerate(r, 'n');
}

static void h_enum_endpoints(req *r)
{
    enumerate(r, 'e');
}

static void h_enum_namespaces(req *r)
{
    enumerate(r, 's');
}

/* ---- networks ---- */

static void h_create_network(req *r)
{
    const char *id = sj_str(sj_get(r->in, "id"));
    set_id(r, id);
    r->doc = sj_str(sj_get(r->in, "doc"));
    sj *s = sj_parse(r->doc);
    if (!s || s->type != SJ_OBJ) {
        sj_free(s);
        fail(r, HCN_E_INVALID_JSON, "the network settings are not a JSON object");
        return;
    }
    const char *name = sj_str(sj_get(s, "Name"));
    const char *type = sj_str(sj_get(s, "Type"));
    int dup = 0;
    for (obj *o = objs; o && name; o = o->next)
        dup |= o->kind == 'n' && _stricmp(o->name, name) == 0;
    sj_free(s);
    if (!type) {
        fail(r, HCN_E_INVALID_NETWORK, "the network has no Type");
        return;
    }
    if (dup) {
        fail(r, HCN_E_NETWORK_ALREADY_EXISTS, "a network with this name already exists");
        return;
    }
    new_obj('n', id, r->doc);
}

static void h_open(req *r, char kind, HRESULT missing)
{
    const char *id = sj_str(sj_get(r->in, "id"));
    set_id(r, id);
    if (!find(kind, id))
        fail(r, missing, "no such object");
}

static void h_open_network(req *r)
{
    h_open(r, 'n', HCN_E_NETWORK_NOT_FOUND);
}

static void h_open_endpoint(req *r)
{
    h_open(r, 'e', HCN_E_ENDPOINT_NOT_FOUND);
}

static void h_open_namespace(req *r)
{
    h_open(r, 's', NS_NOT_FOUND);
}

static void h_query(req *r, char kind, HRESULT missing)
{
    const char *id = sj_str(sj_get(r->in, "id"));
    set_id(r, id);
    r->doc = sj_str(sj_get(r->in, "doc"));
    obj *o = find(kind, id);
    if (!o) {
        fail(r, missing, "no such object");
        return;
    }
    char *d = describe(o);
    reply_doc(r, "result", d);
    free(d);
}

static void h_query_network(req *r)
{
    h_query(r, 'n', HCN_E_NETWORK_NOT_FOUND);
}

static void h_query_endpoint(req *r)
{
    h_query(r, 'e', HCN_E_ENDPOINT_NOT_FOUND);
}

static void h_query_namespace(req *r)
{
    h_query(r, 's', NS_NOT_FOUND);
}

static void h_delete_network(req *r)
{
    const char *id = sj_str(sj_get(r->in, "id"));
    set_id(r, id);
    obj *o = find('n', id);
    if (!o) {
        fail(r, HCN_E_NETWORK_NOT_FOUND, "no such network");
        return;
    }
    for (obj *e = objs; e; e = e->next)
        if (e->kind == 'e' && guid_equal(e->network, o->id)) {
            fail(r, HRESULT_FROM_WIN32(ERROR_BUSY), "the network still has endpoints");
            return;
        }
    drop(o);
}

/* ---- endpoints ---- */

static unsigned ip4(const char *s)
{
    unsigned a, b, c, d;
    return s && sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d) == 4 ? a << 24 | b << 16 | c << 8 | d : 0;
}

/* The network's first IPAM subnet, "a.b.c.d/n". */
static int subnet_of(const obj *net, unsigned *base, int *bits)
{
    sj *s = sj_parse(net->settings);
    const char *pfx = sj_str(
        sj_get(sj_at(sj_get(sj_at(sj_get(s, "Ipams"), 0), "Subnets"), 0), "IpAddressPrefix"));
    int ok = 0;
    if (pfx && strchr(pfx, '/')) {
        *base = ip4(pfx);
        *bits = atoi(strchr(pfx, '/') + 1);
        ok = *bits > 0 && *bits <= 32;
    }
    sj_free(s);
    return ok;
}

static void h_create_endpoint(req *r)
{
    const char *net_id = sj_str(sj_get(r->in, "network"));
    const char *id = sj_str(sj_get(r->in, "id"));
    set_id(r, id);
    r->doc = sj_str(sj_get(r->in, "doc"));
    obj *net = find('n', net_id);
    if (!net) {
        fail(r, HCN_E_NETWORK_NOT_FOUND, "the endpoint's network does not exist");
        return;
    }
    sj *s = sj_parse(r->doc);
    if (!s || s->type != SJ_OBJ) {
        sj_free(s);
        fail(r, HCN_E_INVALID_JSON, "the endpoint settings are not a JSON object");
        return;
    }
    const char *ip = sj_str(sj_get(sj_at(sj_get(s, "IpConfigurations"), 0), "IpAddress"));
    int prefix = (int)sj_int(sj_get(sj_at(sj_get(s, "IpConfigurations"), 0), "PrefixLength"), 0);
    const char *mac = sj_str(sj_get(s, "MacAddress"));
    unsigned base = 0;
    int bits = 0;
    int has_subnet = subnet_of(net, &base, &bits);
    char chosen[48] = "";
    if (ip) {
        unsigned mask = bits ? ~0u << (32 - bits) : 0;
        if (has_subnet && (ip4(ip) & mask) != (base & mask)) {
            sj_free(s);
            fail(r, HCN_E_INVALID_IP, "the IP is not in the network's subnet");
            return;
        }
        for (obj *o = objs; o; o = o->next)
            if (o->kind == 'e' && guid_equal(o->network, net->id) && strcmp(o->ip, ip) == 0) {
                sj_free(s);
                fail(r, HCN_E_INVALID_IP, "the IP is already used by another endpoint");
                return;
            }
        snprintf(chosen, sizeof chosen, "%s", ip);
    } else if (has_subnet) { /* HNS allocates the next free address */
        for (unsigned a = base + 2; !chosen[0] && a < base + (1u << (32 - bits)) - 1; a++) {
            char c[48];
            snprintf(c, sizeof c, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
            int used = 0;
            for (obj *o = objs; o; o = o->next)
                used |= o->kind == 'e' && strcmp(o->ip, c) == 0;
            if (!used)
                snprintf(chosen, sizeof chosen, "%s", c);
        }
        prefix = bits;
    }
    obj *e = new_obj('e', id, r->doc);
    snprintf(e->network, sizeof e->network, "%s", net->id);
    snprintf(e->ip, sizeof e->ip, "%s", chosen);
    e->prefix = prefix;
    if (mac)
        snprintf(e->mac, sizeof e->mac, "%s", mac);
    else
        snprintf(e->mac, sizeof e->mac, "00-15-5D-57-%02X-%02X", (next_mac >> 8) & 255,
                 next_mac & 255);
    next_mac++;
    sj_free(s);
    snprintf(r->note, sizeof r->note, "endpoint %s on %s", chosen, net->name);
}

static void ns_remove_ep(obj *ns, const char *ep)
{
    for (size_t i = 0; i < ns->n_eps; i++)
        if (guid_equal(ns->eps[i], ep)) {
            memmove(ns->eps[i], ns->eps[i + 1], (ns->n_eps - i - 1) * sizeof ns->eps[0]);
            ns->n_eps--;
            return;
        }
}

static void h_delete_endpoint(req *r)
{
    const char *id = sj_str(sj_get(r->in, "id"));
    set_id(r, id);
    obj *e = find('e', id);
    if (!e) {
        fail(r, HCN_E_ENDPOINT_NOT_FOUND, "no such endpoint");
        return;
    }
    for (obj *o = objs; o; o = o->next)
        if (o->kind == 's')
            ns_remove_ep(o, e->id);
    drop(e);
}

/* ---- namespaces ---- */

static void h_create_namespace(req *r)
{
    const char *id = sj_str(sj_get(r->in, "id"));
    set_id(r, id);
    r->doc = sj_str(sj_get(r->in, "doc"));
    sj *s = sj_parse(r->doc);
    const char *type = sj_str(sj_get(s, "Type"));
    if (!s || s->type != SJ_OBJ) {
        sj_free(s);
        fail(r, HCN_E_INVALID_JSON, "the namespace settings are not a JSON object");
        return;
    }
    obj *o = new_obj('s', id, r->doc);
    snprintf(o->type, sizeof o->type, "%s", type ? type : "Host");
    o->nsid = next_nsid++;
    sj_free(s);
}

static void h_delete_namespace(req *r)
{
    const char *id = sj_str(sj_get(r->in, "id"));
    set_id(r, id);
    obj *o = find('s', id);
    if (!o) {
        fail(r, NS_NOT_FOUND, "no such namespace");
        return;
    }
    for (obj *e = objs; e; e = e->next)
        if (e->kind == 'e' && guid_equal(e->ns, o->id))
            e->ns[0] = '\0';
    drop(o);
}

static void h_modify_namespace(req *r)
{
    const char *id = sj_str(sj_get(r->in, "id"));
    set_id(r, id);
    r->doc = sj_str(sj_get(r->in, "doc"));
    obj *ns = find('s', id);
    if (!ns) {
        fail(r, NS_NOT_FOUND, "no such namespace");
        return;
    }
    sj *m = sj_parse(r->doc);
    const char *rtype = sj_str(sj_get(m, "ResourceType"));
    const char *req_type = sj_str(sj_get(m, "RequestType"));
    const char *ep_id = sj_str(sj_path(m, "Settings", "EndpointId", NULL));
    obj *ep = find('e', ep_id);
    if (!rtype || strcmp(rtype, "Endpoint") != 0 || !req_type) {
        fail(r, HCN_E_REQUEST_UNSUPPORTED, "only Endpoint requests are supported");
    } else if (!ep) {
        fail(r, HCN_E_ENDPOINT_NOT_FOUND, "the endpoint does not exist");
    } else if (strcmp(req_type, "Add") == 0) {
        if (ns->n_eps < 16) {
            snprintf(ns->eps[ns->n_eps++], 40, "%s", ep->id);
            snprintf(ep->ns, sizeof ep->ns, "%s", ns->id);
        }
    } else if (strcmp(req_type, "Remove") == 0) {
        ns_remove_ep(ns, ep->id);
        ep->ns[0] = '\0';
    } else {
        fail(r, HCN_E_REQUEST_UNSUPPORTED, "RequestType is neither Add nor Remove");
    }
    sj_free(m);
}

static void h_close(req *r)
{
    (void)r; /* handles are names here; nothing to release */
}

/* ---- HNS v1: endpoint statistics ---- */

static void h_hnscall(req *r)
{
    const char *method = sj_str(sj_get(r->in, "method"));
    const char *path = sj_str(sj_get(r->in, "path"));
    set_id(r, path);
    r->doc = sj_str(sj_get(r->in, "doc"));
    if (!method || !path || strcmp(method, "GET") != 0 ||
        strncmp(path, "/endpointstats/", 15) != 0) {
        r->hr = E_NOTIMPL;
        snprintf(r->note, sizeof r->note, "only GET /endpointstats/<id> is simulated");
        return;
    }
    obj *e = find('e', path + 15);
    sb b = {0};
    if (!e) {
        sb_add(&b, "{\"Success\":false,\"Error\":\"Endpoint not found\"}");
    } else {
        sb_add(&b, "{\"Success\":true,\"Error\":\"\",\"Output\":{\"BytesReceived\":0,"
                   "\"BytesSent\":0,\"DroppedPacketsIncoming\":0,\"DroppedPacketsOutgoing\":0,"
                   "\"EndpointId\":");
        sb_qstr(&b, e->id);
        sb_add(&b, ",\"PacketsReceived\":0,\"PacketsSent\":0}}");
    }
    reply_doc(r, "result", b.p);
    free(b.p);
}

void hcn_register(void)
{
    host_register("HcnEnumerateNetworks", h_enum_networks);
    host_register("HcnEnumerateEndpoints", h_enum_endpoints);
    host_register("HcnEnumerateNamespaces", h_enum_namespaces);
    host_register("HcnCreateNetwork", h_create_network);
    host_register("HcnOpenNetwork", h_open_network);
    host_register("HcnQueryNetworkProperties", h_query_network);
    host_register("HcnDeleteNetwork", h_delete_network);
    host_register("HcnCloseNetwork", h_close);
    host_register("HcnCreateEndpoint", h_create_endpoint);
    host_register("HcnOpenEndpoint", h_open_endpoint);
    host_register("HcnQueryEndpointProperties", h_query_endpoint);
    host_register("HcnDeleteEndpoint", h_delete_endpoint);
    host_register("HcnCloseEndpoint", h_close);
    host_register("HcnCreateNamespace", h_create_namespace);
    host_register("HcnOpenNamespace", h_open_namespace);
    host_register("HcnQueryNamespaceProperties", h_query_namespace);
    host_register("HcnModifyNamespace", h_modify_namespace);
    host_register("HcnDeleteNamespace", h_delete_namespace);
    host_register("HcnCloseNamespace", h_close);
    host_register("HNSCall", h_hnscall);
}
