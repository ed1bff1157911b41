/* Built-in NAT mode on Windows: find or create the NAT network, pick the next free address
 * from the endpoints already on it, create the pod's endpoint and add it to the pod's HCN
 * namespace. Documents come from hns/nat.c; this file only sequences the HCN calls. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "hns/cni_int.h"
#include "hns/hcn.h"
#include "hns/hcndoc.h"
#include "hns/nat.h"

#define COMP "hns"

/* Address choice and endpoint creation must not interleave between two pods. */
static pthread_mutex_t nat_lock = PTHREAD_MUTEX_INITIALIZER;

int hns_nat_supported(void)
{
    return 1;
}

static char *dump_doc(json_t *doc)
{
    char *text = doc ? hns_hcn_dump(doc) : NULL;
    json_decref(doc);
    return text;
}

/* GUIDs an enumeration with filter {key: value} returns; *n = 0 when none. */
static int enumerate(int endpoints, const char *key, const char *value, char (**ids)[37], size_t *n,
                     wc_err *err)
{
    *ids = NULL;
    *n = 0;
    char *q = dump_doc(hns_hcn_query_doc(key, value, 0));
    char *list = NULL;
    int rc = endpoints ? hns_hcn_endpoint_enumerate(q, &list, err)
                       : hns_hcn_network_enumerate(q, &list, err);
    if (rc == 0)
        rc = hns_hcn_guid_list_parse(list, ids, n, err);
    free(q);
    free(list);
    return rc;
}

/* hcsshim hcn/hcnnetwork.go GetNetworkByName's filter, then HcnCreateNetwork if absent. */
static int find_or_create_network(const hns_nat_config *c, char id[37], wc_err *err)
{
    char(*ids)[37] = NULL;
    size_t n = 0;
    if (enumerate(0, "Name", c->network, &ids, &n, err) < 0)
        return wc_err_prefix(err, "looking up NAT network %s", c->network);
    if (n > 0) {
        memcpy(id, ids[0], 37);
        free(ids);
        return 0;
    }
    free(ids);
    char *doc = dump_doc(hns_nat_network_doc(c, err));
    if (!doc)
        return -1;
    int rc = hns_hcn_network_create(doc, id, err);
    free(doc);
    if (rc < 0)
        return wc_err_prefix(err, "creating NAT network %s (%s)", c->network, c->subnet);
    wc_info(COMP, "created NAT network", "name=%s id=%s subnet=%s", c->network, id, c->subnet);
    return 0;
}

/* Addresses of the endpoints on the network (hcnendpoint.go ListEndpointsOfNetwork's
 * {"VirtualNetwork": id} filter); what HNS holds is the allocation state, so nothing is
 * kept on our side to go stale. */
static int used_addresses(const char *network_id, char ***used, size_t *n_used, wc_err *err)
{
    char(*ids)[37] = NULL;
    size_t n = 0;
    *used = NULL;
    *n_used = 0;
    if (enumerate(1, "VirtualNetwork", network_id, &ids, &n, err) < 0)
        return -1;
    char *q = dump_doc(hns_hcn_query_doc(NULL, NULL, 0));
    *used = wc_xcalloc(n * HNS_MAX_IPS + 1, sizeof **used);
    for (size_t i = 0; i < n; i++) {
        char *props = NULL;
        hns_endpoint_info info;
        wc_err qerr = {0};
        /* An endpoint deleted meanwhile frees its address; skip it. */
        if (hns_hcn_endpoint_query(ids[i], q, &props, &qerr) == 0 &&
            hns_hcn_endpoint_parse(props, &info, &qerr) == 0)
            for (size_t k = 0; k < info.n_ips; k++)
                (*used)[(*n_used)++] = wc_xstrdup(info.ips[k]);
        free(props);
    }
    free(q);
    free(ids);
    return 0;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int namespace_modify(const char *netns, int add, const char *endpoint_id, wc_err *err)
{
    char *req = dump_doc(hns_hcn_namespace_modify_doc(add, endpoint_id, err));
    int rc = req ? hns_hcn_namespace_modify(netns, req, err) : -1;
    free(req);
    return rc;
}

static int create_endpoint(const hns_nat_config *c, const char *netns, const hns_pod_net *pod,
                           char ep[37], char ip[16], uint8_t *prefix, wc_err *err)
{
    char net_id[37];
    char **used = NULL;
    size_t n_used = 0;
    int rc = find_or_create_network(c, net_id, err);
    if (rc == 0)
        rc = used_addresses(net_id, &used, &n_used, err);
    if (rc == 0)
        rc = hns_nat_next_ip(c->subnet, c->gateway, (const char *const *)used, n_used, ip, prefix,
                             err);
    free_strv(used, n_used);
    char *doc = rc == 0 ? dump_doc(hns_nat_endpoint_doc(c, pod, net_id, ip, *prefix, err)) : NULL;
    char *props = NULL;
    if (rc == 0)
        rc = doc ? hns_hcn_endpoint_create(net_id, doc, ep, &props, err) : -1;
    free(doc);
    free(props);
    if (rc == 0 && namespace_modify(netns, 1, ep, err) < 0) {
        wc_err ignored = {0};
        hns_hcn_endpoint_delete(ep, &ignored); /* nothing may stay half attached */
        rc = -1;
    }
    return rc;
}

int hns_nat_attach(hns_network *net, const char *netns, const hns_pod_net *pod,
                   hns_attach_result *out, wc_err *err)
{
    const hns_nat_config *c = &net->nat;
    char ep[37], ip[16];
    uint8_t prefix = 0;
    pthread_mutex_lock(&nat_lock);
    int rc = create_endpoint(c, netns, pod, ep, ip, &prefix, err);
    pthread_mutex_unlock(&nat_lock);
    if (rc < 0)
        return wc_err_prefix(err, "pod %s: built-in NAT network %s (no CNI config)", pod->pod_id,
                             c->network);
    out->ips = wc_xcalloc(2, sizeof *out->ips);
    out->ips[0] = wc_xstrdup(ip);
    out->n_ips = 1;
    out->cni_result = hns_nat_result(c, ep, ip, prefix);
    wc_info(COMP, "pod attached to NAT network", "pod=%s network=%s endpoint=%s ip=%s", pod->pod_id,
            c->network, ep, ip);
    return 0;
}

int hns_nat_detach(hns_network *net, const char *netns, const hns_pod_net *pod,
                   const char *endpoint_id, wc_err *err)
{
    char(*ids)[37] = NULL;
    size_t n = 0;
    if (!endpoint_id) {
        char *name = hns_nat_endpoint_name(pod->pod_id, net->nat.network);
        int rc = enumerate(1, "Name", name, &ids, &n, err);
        free(name);
        if (rc < 0)
            return wc_err_prefix(err, "pod %s: finding its NAT endpoint", pod->pod_id);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < (endpoint_id ? 1 : n); i++) {
        const char *ep = endpoint_id ? endpoint_id : ids[i];
        wc_err ignored = {0};
        if (netns && *netns)
            namespace_modify(netns, 0, ep, &ignored); /* the namespace may be gone already */
        if (hns_hcn_endpoint_delete(ep, err) < 0) {
            if (err->code == WC_NOT_FOUND)
                wc_err_clear(err);
            else
                rc = wc_err_prefix(err, "pod %s: deleting NAT endpoint %s", pod->pod_id, ep);
        }
    }
    free(ids);
    return rc;
}

int hns_nat_check(hns_network *net, const char *endpoint_id, wc_err *err)
{
    (void)net;
    char *q = dump_doc(hns_hcn_query_doc(NULL, NULL, 0));
    char *props = NULL;
    int rc = hns_hcn_endpoint_query(endpoint_id, q, &props, err);
    free(q);
    free(props);
    return rc < 0 ? wc_err_prefix(err, "NAT endpoint %s", endpoint_id) : 0;
}
