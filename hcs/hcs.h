/* The compute backend: runhcs-like verbs on an OCI spec. Linux drives an OCI runtime
 * binary; Windows drives computecore.dll. */
#ifndef WINCRI_HCS_HCS_H
#define WINCRI_HCS_HCS_H

#include "common/config.h"
#include "common/err.h"

/* 0 when the backend can run containers for handler `h`; else -1 with err saying why. */
int hcs_backend_check(const wc_config *cfg, const wc_runtime_handler *h, wc_err *err);
/* "cgroupfs" on Linux; NULL where cgroups do not exist (Windows). */
const char *hcs_cgroup_driver(void);

/* What a runtime handler can do, for StatusResponse's runtime_handlers and features. */
typedef struct hcs_handler_features {
    int recursive_read_only_mounts;
    int user_namespaces;
    int supplemental_groups_policy;
} hcs_handler_features;
/* Asks the platform (and on Linux the handler's OCI runtime, once) what it supports. */
void hcs_handler_features_of(const wc_runtime_handler *h, hcs_handler_features *out);

#endif
