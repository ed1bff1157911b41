/* Pod network namespaces on Windows: an HCN namespace of type HostDefault (a new network
 * compartment), whose GUID is the netns string CNI plugins get as CNI_NETNS and the
 * container spec gets as windows.network.networkNamespace. Statistics add up the HNS
 * endpoint counters of the endpoints the CNI plugins put in it. Port forwarding connects to
 * the pod's IP, read from those endpoints. */
#include <winsock2.h>
#include <ws2tcpip.h>

#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "hns/hcn.h"
#include "hns/hns.h"

#include "hns/hcndoc.h"
#include "hns/hcnguid.h"

char *hns_netns_name(hns_network *net, const char *pod_id)
{
    (void)net;
    hns_guid g;
    char text[37];
    if (hns_guid_from_hex_id(pod_id, &g) != 0)
        return NULL;
    hns_guid_format(&g, text);
    return wc_xstrdup(text);
}

int hns_netns_create(hns_network *net, const char *pod_id, char **netns, wc_err *err)
{
    *netns = NULL;
    char *id = hns_netns_name(net, pod_id);
    if (!id)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "network namespace: bad pod id \"%s\"",
                          pod_id ? pod_id : "");
    /* ReadyOnCreate is left out: HNS before 15.2 (Windows Server 2019) refuses it. */
    json_t *doc = hns_hcn_namespace_doc(HNS_NS_HOST_DEFAULT, 0);
    char *text = hns_hcn_dump(doc);
    json_decref(doc);
    int rc = hns_hcn_namespace_create(text, id, err);
    free(text);
    if (rc < 0) {
        free(id);
        return wc_err_prefix(err, "pod %s: creating its HCN namespace", pod_id);
    }
    *netns = id;
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
    char *qtext = hns_hcn_dump(q);
    json_decref(q);
    char *props = NULL;
    int rc = hns_hcn_namespace_query(netns, qtext, &props, err);
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

/* ---- port forwarding: a TCP connection to the pod's IP ---- */

/* The pod's IP addresses are those of the HCN endpoints in its namespace (each compartment
 * has its own loopback, which the node cannot reach: the pod IP stands in for localhost). */
static int namespace_ips(const char *netns, char ips[][48], size_t max, size_t *n, wc_err *err)
{
    *n = 0;
    hns_namespace_info info;
    if (namespace_endpoints(netns, &info, err) < 0)
        return -1;
    json_t *q = hns_hcn_query_doc(NULL, NULL, 0);
    char *qtext = hns_hcn_dump(q);
    json_decref(q);
    int rc = 0;
    for (size_t i = 0; i < info.n_endpoints && rc == 0; i++) {
        char *props = NULL;
        hns_endpoint_info ep;
        rc = hns_hcn_endpoint_query(info.endpoints[i], qtext, &props, err);
        if (rc == 0)
            rc = hns_hcn_endpoint_parse(props, &ep, err);
        free(props);
        for (size_t k = 0; rc == 0 && k < ep.n_ips && *n < max; k++)
            snprintf(ips[(*n)++], 48, "%s", ep.ips[k]);
    }
    free(qtext);
    return rc;
}

static BOOL CALLBACK winsock_init(PINIT_ONCE once, void *arg, void **ctx)
{
    (void)once;
    (void)arg;
    (void)ctx;
    WSADATA wsa;
    return WSAStartup(MAKEWORD(2, 2), &wsa) == 0;
}

/* A connected, non-inheritable TCP socket to ip:port as a CRT descriptor; -1 with *wsa_err. */
static int connect_ip(const char *ip, int port, int *wsa_err)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if ((*wsa_err = getaddrinfo(ip, ps, &hints, &ai)) != 0)
        return -1;
    SOCKET s = WSASocketW(ai->ai_family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    int ok = s != INVALID_SOCKET && connect(s, ai->ai_addr, (int)ai->ai_addrlen) == 0;
    *wsa_err = ok ? 0 : WSAGetLastError();
    freeaddrinfo(ai);
    int fd = ok ? _open_osfhandle((intptr_t)s, _O_BINARY) : -1;
    if (fd < 0 && s != INVALID_SOCKET)
        closesocket(s);
    return fd;
}

int hns_netns_connect(hns_network *net, const char *netns, int port, int *fd, wc_err *err)
{
    (void)net;
    *fd = -1;
    static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
    if (!InitOnceExecuteOnce(&once, winsock_init, NULL, NULL))
        return wc_err_set(err, WC_INTERNAL, "port forwarding: winsock did not start");
    char ips[HNS_MAX_NS_ENDPOINTS][48];
    size_t n = 0;
    if (!netns || !*netns) {
        snprintf(ips[n++], sizeof ips[0], "127.0.0.1"); /* host network: the node itself */
    } else if (namespace_ips(netns, ips, HNS_MAX_NS_ENDPOINTS, &n, err) < 0) {
        return wc_err_prefix(err, "port forwarding to port %d: pod IP of namespace %s", port,
                             netns);
    }
    if (n == 0)
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "port forwarding to port %d: namespace %s has no endpoint with an IP "
                          "(is the pod's network attached?)",
                          port, netns);
    int wsa_err = 0;
    for (size_t i = 0; i < n && *fd < 0; i++)
        *fd = connect_ip(ips[i], port, &wsa_err);
    if (*fd >= 0)
        return 0;
    wc_err_set(err, WC_UNAVAILABLE, "port forwarding: connect to %s port %d: winsock error %d",
               ips[0], port, wsa_err);
    err->sys = wsa_err;
    return -1;
}
