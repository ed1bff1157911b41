/* Pod networking: namespaces and CNI. */
#ifndef WINCRI_HNS_HNS_H
#define WINCRI_HNS_HNS_H

#include "common/config.h"
#include "common/err.h"

/* Finds the CNI network config kubelet-style: the first *.conf, *.conflist or *.json in
 * conf_dir by name that parses and names a network. On success *path and *name are set
 * (caller frees). Returns -1 with err saying what is missing or wrong. */
int hns_cni_config_find(const char *conf_dir, char **path, char **name, wc_err *err);

/* Whether pods can get a network (the Status NetworkReady condition): a usable CNI config,
 * or on Windows the built-in NAT mode (config section "windows_nat") when there is none.
 * Returns 1 with *detail saying what will be used (the CNI config's path, or
 * "builtin-nat:<network>"), or 0 with err saying why not; *detail is malloc'd either way. */
int hns_network_ready(const wc_config *cfg, char **detail, wc_err *err);

/* Checks a pod CIDR from UpdateRuntimeConfig: "" or one or two comma-separated IPv4/IPv6
 * CIDRs (dual stack). */
int hns_pod_cidr_validate(const char *cidr, wc_err *err);

/* ---- pod networks (Linux: netns + CNI; Windows: HCN namespace + CNI) ---- */

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

typedef struct hns_network hns_network;

typedef struct hns_port_mapping {
    const char *protocol; /* "tcp", "udp", "sctp" */
    int container_port;
    int host_port;
    const char *host_ip; /* "" for all */
} hns_port_mapping;

typedef struct hns_pod_net {
    const char *pod_id; /* the sandbox ID (CNI_CONTAINERID) */
    const char *name;
    const char *namespace_;
    const char *uid;
    const hns_port_mapping *ports;
    size_t n_ports;
    const char *const *dns_servers;
    size_t n_dns_servers;
    const char *const *dns_searches;
    size_t n_dns_searches;
    const char *const *dns_options;
    size_t n_dns_options;
    uint64_t ingress_bps; /* 0: no shaping (kubernetes.io/ingress-bandwidth) */
    uint64_t egress_bps;
    const char *pod_cidr; /* from UpdateRuntimeConfig; NULL when unset */
} hns_pod_net;

typedef struct hns_attach_result {
    char **ips; /* the first is the pod IP, any others are additional IPs */
    size_t n_ips;
    char *cni_result; /* the plugin's result JSON, kept for DEL and CHECK */
} hns_attach_result;

/* Reads the CNI config dir and bin dirs from cfg; the config itself is found at each attach,
 * so a config dropped in later works without a restart. */
int hns_network_open(const wc_config *cfg, hns_network **out, wc_err *err);
void hns_network_close(hns_network *net);

/* The name of the pod's network namespace, known before it exists so a pod's record can name
 * it before it is made (caller frees; NULL for a pod id that names none). Linux:
 * /run/netns/wincri-<pod_id>. Windows: the GUID of an HCN namespace, from the pod id. */
char *hns_netns_name(hns_network *net, const char *pod_id);
/* Creates it, bind-mounted with loopback up (Linux) or an HCN HostDefault namespace
 * (Windows); *netns gets hns_netns_name's string. */
int hns_netns_create(hns_network *net, const char *pod_id, char **netns, wc_err *err);
/* Succeeds if it is already gone. */
int hns_netns_remove(hns_network *net, const char *netns, wc_err *err);

/* CNI ADD with the network config list found in the conf dir; errors carry the plugin's own
 * message. On failure nothing stays attached. */
int hns_attach(hns_network *net, const char *netns, const hns_pod_net *pod, hns_attach_result *out,
               wc_err *err);
/* CNI DEL; idempotent (a missing netns or an earlier DEL is not an error). */
int hns_detach(hns_network *net, const char *netns, const hns_pod_net *pod, const char *cni_result,
               wc_err *err);
/* CNI CHECK. */
int hns_check(hns_network *net, const char *netns, const hns_pod_net *pod, const char *cni_result,
              wc_err *err);
void hns_attach_result_clear(hns_attach_result *r);

/* Bytes received and sent on the pod's interfaces (all but lo). */
int hns_netns_stats(hns_network *net, const char *netns, uint64_t *rx_bytes, uint64_t *tx_bytes,
                    wc_err *err);

/* A TCP connection to 127.0.0.1:port as seen inside the pod's network namespace ("" for host
 * network: the node's own), for port forwarding. The caller owns *fd. Linux: the socket is
 * made in a helper thread that entered the namespace, and stays in it afterwards. */
int hns_netns_connect(hns_network *net, const char *netns, int port, int *fd, wc_err *err);

#endif
