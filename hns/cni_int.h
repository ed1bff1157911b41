/* Internal to hns/: the platform-neutral CNI runner (cni.c) and its platform parts
 * (cni_linux.c / cni_exec_win32.c). Exposed here so the unit tests can drive the pure
 * parts (stdin building, result parsing) without running a plugin. */
#ifndef WINCRI_HNS_CNI_INT_H
#define WINCRI_HNS_CNI_INT_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"
#include "hns/hns.h"
#include "hns/nat.h"

#define HNS_CNI_TIMEOUT_MS_DEFAULT 60000

struct hns_network {
    char *conf_dir;
    char **bin_dirs;
    size_t n_bin_dirs;
    int timeout_ms;     /* per plugin call */
    hns_nat_config nat; /* the built-in NAT mode, used when there is no CNI config */
};

/* One plugin invocation as the platform runner sees it. */
typedef struct hns_cni_exec_req {
    const char *plugin; /* the "type" of the plugin: a file name in one of bin_dirs */
    const char *const *bin_dirs;
    size_t n_bin_dirs;
    const char *const *env; /* CNI_* "KEY=VALUE", NULL-terminated; the runner adds CNI_PATH
                               and its own environment (PATH for iptables and friends) */
    const char *stdin_json;
    int timeout_ms;
} hns_cni_exec_req;

/* Runs the plugin to completion. On 0, *out holds its stdout (caller frees, never NULL),
 * *err_text its stderr (caller frees, never NULL) and *exit_code its exit status. Returns
 * -1 only when it could not run it: not found, spawn failure, timeout. */
int hns_cni_exec(const hns_cni_exec_req *rq, char **out, char **err_text, int *exit_code,
                 wc_err *err);

/* A network config normalised to list form: {"cniVersion", "name", "plugins": [...]}. A
 * single-plugin .conf becomes a list of one. Returns NULL with INVALID_ARGUMENT. */
json_t *hns_cni_conf_load(const char *path, wc_err *err);
json_t *hns_cni_conf_parse(const char *text, const char *source, wc_err *err);

/* The stdin config of plugin `index` (new reference): its own keys plus the list's name and
 * cniVersion, prevResult when given, and runtimeConfig with the capabilities it declares. */
json_t *hns_cni_plugin_stdin(const json_t *list, size_t index, const json_t *prev_result,
                             const hns_pod_net *pod);

/* CNI_* environment for one call, NULL-terminated; free with hns_cni_env_free. */
char **hns_cni_env(const char *command, const char *netns, const hns_pod_net *pod);
void hns_cni_env_free(char **env);

/* Reads what a plugin printed. A CNI error object or a non-zero exit becomes
 * "CNI plugin <type> failed (<cmd>): <msg>: <details>". For ADD, *result is the parsed
 * result (new reference); for DEL and CHECK it may be NULL. */
int hns_cni_parse_output(const char *plugin, const char *command, const char *out,
                         const char *err_text, int exit_code, json_t **result, wc_err *err);

/* Pod IPs of a CNI result (0.3.x, 0.4.0, 1.0.0 "ips"; 0.2.0 "ip4"/"ip6"), without the prefix
 * length, IPv4 first. Returns -1 if the result has none. */
int hns_cni_result_ips(const json_t *result, char ***ips, size_t *n_ips, wc_err *err);

#endif
