/* The built-in NAT mode: with no CNI config, a pod is attached to an HNS NAT network that
 * wincri creates or finds, with a static address from the configured subnet, PortMapping
 * policies for its hostPorts and OutBoundNAT. The pure parts (config, address choice,
 * documents, the result kept with the pod) are shared and tested on Linux; the HCN calls
 * are in hns/nat_win32.c, and hns/nat_linux.c says the mode does not exist there. */
#ifndef WINCRI_HNS_NAT_H
#define WINCRI_HNS_NAT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"
#include "hns/hns.h"

typedef struct hns_nat_config {
    int enabled;
    char network[128]; /* HCN network name */
    char subnet[32];   /* IPv4 CIDR */
    char gateway[16];  /* inside subnet */
} hns_nat_config;

/* Reads and checks the "windows_nat" config section. A missing section is "disabled". */
int hns_nat_config_read(const wc_config *cfg, hns_nat_config *out, wc_err *err);

/* The lowest address of `subnet` that is neither the network nor the broadcast address,
 * nor the gateway, nor in `used`. out gets dotted-quad text, *prefix_len the subnet's. */
int hns_nat_next_ip(const char *subnet, const char *gateway, const char *const *used, size_t n_used,
                    char out[16], uint8_t *prefix_len, wc_err *err);

/* "<pod_id>_<network>": names the pod's endpoint so a detach without the saved result can
 * still find it. Caller frees. */
char *hns_nat_endpoint_name(const char *pod_id, const char *network);

/* The NAT network document (one static subnet, default route via the gateway). */
json_t *hns_nat_network_doc(const hns_nat_config *c, wc_err *err);
/* The pod's endpoint: static ip, default route, the pod's DNS, a PortMapping per port
 * with a hostPort, and OutBoundNAT that leaves the NAT subnet itself alone. */
json_t *hns_nat_endpoint_doc(const hns_nat_config *c, const hns_pod_net *pod,
                             const char *network_id, const char *ip, uint8_t prefix_len,
                             wc_err *err);

/* What a pod keeps as its cni_result in this mode: a CNI 1.0 result (so pod IPs read the
 * usual way) plus {"wincriNat":{"network":...,"endpoint":...}}. Caller frees. */
char *hns_nat_result(const hns_nat_config *c, const char *endpoint_id, const char *ip,
                     uint8_t prefix_len);
/* 1 with the endpoint GUID when cni_result came from the built-in mode, else 0. */
int hns_nat_result_endpoint(const char *cni_result, char id[37]);

/* Whether an attach with no CNI config falls back to the built-in mode on this host. */
int hns_nat_builtin(const hns_network *net);

/* ---- platform parts (nat_win32.c / nat_linux.c) ---- */

/* 1 where the built-in mode exists (Windows). */
int hns_nat_supported(void);
int hns_nat_attach(hns_network *net, const char *netns, const hns_pod_net *pod,
                   hns_attach_result *out, wc_err *err);
/* endpoint_id NULL: look the endpoint up by its name. A missing endpoint is success. */
int hns_nat_detach(hns_network *net, const char *netns, const hns_pod_net *pod,
                   const char *endpoint_id, wc_err *err);
int hns_nat_check(hns_network *net, const char *endpoint_id, wc_err *err);

#endif
