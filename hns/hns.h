/* Pod networking: namespaces and CNI. */
#ifndef WINCRI_HNS_HNS_H
#define WINCRI_HNS_HNS_H

#include "common/err.h"

/* Finds the CNI network config kubelet-style: the first *.conf, *.conflist or *.json in
 * conf_dir by name that parses and names a network. On success *path and *name are set
 * (caller frees). Returns -1 with err saying what is missing or wrong. */
int hns_cni_config_find(const char *conf_dir, char **path, char **name, wc_err *err);

/* Checks a pod CIDR from UpdateRuntimeConfig: "" or one or two comma-separated IPv4/IPv6
 * CIDRs (dual stack). */
int hns_pod_cidr_validate(const char *cidr, wc_err *err);

#endif
