/* Pod network namespaces on Windows: an HCN namespace of type HostDefault (a new network
 * compartment), whose GUID is the netns string CNI plugins get as CNI_NETNS and the
 * container spec gets as windows.network.networkNamespace. Statistics add up the HNS
 * endpoint counters of the endpoints the CNI plugins put in it. */
#include <stdlib.h>
#include <string.h>

#include "hns/hcn.h"
#include "hns/hns.h"

#include "hns/hcndoc.h"

int hns_netns_create(hns_network *net, const char *pod_id, char **netns, wc_err *err)
{
    (void)net;
    *netns = NULL;
    /* ReadyOnCreate is left out: HNS before 15.2 (Windows Server 2019) refuses it. */
    json_t *doc = hns_hcn_namespace_doc(HNS_NS_HOST_DEFAULT, 0);
    char *text = doc ? hns_hcn_dump(doc) : NULL;
    json_decref(doc);
    if (!text)
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "pod %s: namespace document: out of memory",
                          pod_id);
    char id[37];
    int rc = hns_hcn_namespace_create(text, id, err);
    free(text);
    if (rc < 0)
        return wc_err_prefix(err, "pod %s: creating its HCN namespace", pod_id);
    *netns = strdup(id);
    return 0;
}

int hns_netns_remove(hns_network *net, const char *netns, wc_err *err)
{
    (void)net;
    if (!netns || !*netns)
        return 0;
    if (hns_hcn_namespace_delete(netns, err) == 0)
        return 0;
    if (err->code == WC_NOT_FOUND) {
        wc_err_clear(err);
        return 0;
    }
    return wc_err_prefix(err, "removing HCN namespace %s", netns);
}

/* The endpoints in the namespace, from its properties. */
static int namespace_endpoints(const char *netns, hns_namespace_info *info, wc_err *err)
{
    json_t *q = hns_hcn_query_doc(NULL, NULL, 0);
    char *qtext = q ? hns_hcn_dump(q) : NULL;
    json_decref(q);
    char *props = NULL;
    int rc = qtext ? hns_hcn_namespace_query(netns, qtext, &props, err)
                   : wc_err_set(err, WC_RESOURCE_EXHAUSTED, "namespace query: out of memory");
    free(qtext);
    if (rc == 0)
        rc = hns_hcn_namespace_parse(props, info, err);
    free(props);
    return rc;
}

int hns_netns_stats(hns_network *net, const char *netns, uint64_t *rx_bytes, uint64_t *tx_bytes,
                    wc_err *err)
{
    (void)net;
    *rx_bytes = *tx_bytes = 0;
    if (!netns || !*netns)
        return 0;
    hns_namespace_info info;
    if (namespace_endpoints(netns, &info, err) < 0)
        return wc_err_prefix(err, "network statistics of namespace %s", netns);
    for (size_t i = 0; i < info.n_endpoints; i++) {
        char *reply = NULL;
        hns_endpoint_stats st;
        int rc = hns_hns_endpoint_stats(info.endpoints[i], &reply, err);
        if (rc == 0)
            rc = hns_hcn_endpoint_stats_parse(reply, &st, err);
        free(reply);
        if (rc < 0)
            return wc_err_prefix(err, "network statistics of namespace %s", netns);
        *rx_bytes += st.bytes_received;
        *tx_bytes += st.bytes_sent;
    }
    return 0;
}

/* Port forwarding on Windows goes to the pod's IP, which the namespace GUID alone does not
 * give; not yet. */
int hns_netns_connect(hns_network *net, const char *netns, int port, int *fd, wc_err *err)
{
    (void)net;
    (void)netns;
    *fd = -1;
    return wc_err_set(err, WC_UNIMPLEMENTED, "port forwarding to port %d not yet on Windows", port);
}
