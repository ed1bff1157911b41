/* wincrid's configuration: embedded defaults (per platform) with an optional JSON file laid
 * over them. Unknown keys and wrong types are errors that name the file, line and column. */
#ifndef WINCRI_COMMON_CONFIG_H
#define WINCRI_COMMON_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"
#include "common/log.h"

typedef struct wc_runtime_handler {
    const char *name;
    const char *runtime;   /* Linux: OCI runtime binary (name or path); Windows: unused */
    const char *isolation; /* Windows: "process" or "hyperv"; Linux: "" */
} wc_runtime_handler;

typedef struct wc_config {
    char *source; /* the file it came from, or "(embedded defaults)" */
    json_t *doc;  /* the merged document; modules read their own sections from it */
    const char *root_dir;
    const char *state_dir;
    const char *listen;
    wc_log_level log_level;
    int shutdown_grace_seconds;
    const char *default_handler;
    wc_runtime_handler *handlers;
    size_t n_handlers;
    const char *cni_conf_dir;
    const char **cni_bin_dirs;
    size_t n_cni_bin_dirs;
    /* metrics.address: "" when the Prometheus endpoint is off; else checked to be
     * IP:PORT ("[v6]:PORT" for IPv6), split into these two. */
    const char *metrics_address;
    char metrics_host[64];
    int metrics_port;
} wc_config;

/* The embedded defaults as JSON text (platform file). */
const char *wc_config_default_text(void);

/* path NULL: defaults only. */
int wc_config_load(const char *path, wc_config **out, wc_err *err);
/* Parses config text; `source` names it in errors. */
int wc_config_parse(const char *text, const char *source, wc_config **out, wc_err *err);
void wc_config_free(wc_config *cfg);

const wc_runtime_handler *wc_config_handler(const wc_config *cfg, const char *name);
/* Fault injection for tests: extra delay for an RPC by full method path, 0 if none. */
int wc_config_rpc_delay_ms(const wc_config *cfg, const char *method);

#endif
