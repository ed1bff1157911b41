/* CNI on Windows: building a plugin invocation and reading its result.
 *
 * Pure shared code, kept apart from the Linux CNI runner (hns/cni.c, cni_linux.c) so the
 * two can be unified later. Differences from Linux that live here:
 *   - plugins are "<type>.exe" in the configured bin dirs; CNI_PATH is ';'-separated;
 *   - CNI_NETNS is the pod's HCN namespace GUID, not a path;
 *   - the `dns` capability carries servers and search domains only: Windows has no
 *     resolv.conf options, so ndots and friends are dropped;
 *   - CNI_IFNAME defaults to "eth0" as on Linux (win-bridge/win-overlay ignore it).
 * The stdin config follows the CNI spec's conflist rules (libcni): each plugin gets its
 * own object plus the list's "cniVersion" and "name", "prevResult" when chained, and a
 * "runtimeConfig" holding only the capabilities the plugin declares. Capability values
 * are shaped as containerd's CRI plugin passes them (pkg/cri/server: toCNIPortMappings,
 * toCNIBandWidth with burst math.MaxUint32, toCNILabels for CNI_ARGS). */
#ifndef WINCRI_HNS_CNI_WIN_H
#define WINCRI_HNS_CNI_WIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "hns/hcndoc.h"

typedef struct hns_cni_win_request {
    const char *command;      /* "ADD", "DEL", "CHECK", "VERSION" */
    const char *container_id; /* the pod sandbox id */
    const char *netns;        /* HCN namespace GUID */
    const char *ifname;       /* NULL: "eth0" */
    const char *const *bin_dirs;
    size_t n_bin_dirs;
    char dir_sep;  /* joining bin dir and plugin name; 0 means '\\' */
    char list_sep; /* CNI_PATH separator; 0 means ';' */
    /* Which file exists; NULL means "the first bin dir". The runner passes a stat. */
    int (*exists)(const char *path, void *ctx);
    void *exists_ctx;
    /* CNI_ARGS (K8S_POD_*), all optional. */
    const char *pod_namespace, *pod_name, *pod_uid;
    /* Capabilities. */
    const hns_hcn_port_mapping *ports;
    size_t n_ports;
    const char *const *dns_servers;
    size_t n_dns_servers;
    const char *const *dns_searches;
    size_t n_dns_searches;
    uint64_t ingress_bps, egress_bps; /* 0: no bandwidth capability */
} hns_cni_win_request;

typedef struct hns_cni_win_invocation {
    char *plugin;     /* plugin type, e.g. "sdnbridge" */
    char *exe;        /* full path of "<type>.exe" */
    char **env;       /* NULL-terminated "KEY=VALUE" list, CNI_* only; the runner adds
                         its own environment (PATH, SystemRoot, ...) */
    char *stdin_json; /* the network config for this plugin */
} hns_cni_win_invocation;

/* Builds the invocation of plugin `index` of a network config: a single .conf object
 * (index 0) or a .conflist with "plugins". `prev_result` (may be NULL) is chained in as
 * prevResult. Returns -1 with INVALID_ARGUMENT naming what is wrong with the config. */
int hns_cni_win_build(const char *netconf_json, size_t index, const char *prev_result,
                      const hns_cni_win_request *rq, hns_cni_win_invocation *out, wc_err *err);
void hns_cni_win_invocation_free(hns_cni_win_invocation *inv);
/* Number of plugins in a config (1 for a .conf), or -1. */
int hns_cni_win_plugin_count(const char *netconf_json, wc_err *err);

#define HNS_CNI_MAX_IPS 4

typedef struct hns_cni_win_result {
    char cni_version[16];
    /* Pod IPs, IPv4 first then IPv6 (as containerd's selectPodIPs orders them), without
     * prefix length; ips[0] is PodSandboxStatus.network.ip, the rest additional_ips. */
    char ips[HNS_CNI_MAX_IPS][48];
    size_t n_ips;
    char gateway[48]; /* of the first IP, "" if none */
} hns_cni_win_result;

/* Reads a plugin's stdout: a CNI result (1.0.0 / 0.3.x / 0.4.0 "ips", 0.2.0 "ip4"/"ip6")
 * or a CNI error object {"code":N,"msg":...,"details":...}, which becomes an error
 * naming the plugin and the code. */
int hns_cni_win_parse_result(const char *plugin, const char *stdout_json, hns_cni_win_result *res,
                             wc_err *err);

#endif
