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

#endif
