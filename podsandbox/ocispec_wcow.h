/* A Windows container's OCI runtime spec (the `windows` section containerd hands runhcs),
 * from the CRI configs, the image config and the sandbox. Pure: no Windows calls, no files,
 * so it is built and tested on Linux; hcs/hcsdoc.h turns its output into HCS documents. */
#ifndef WINCRI_PODSANDBOX_OCISPEC_WCOW_H
#define WINCRI_PODSANDBOX_OCISPEC_WCOW_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"
#include "podsandbox/podconfig.h"

typedef struct pod_wcow_input {
    const pod_sandbox_config *sandbox;
    const pod_container_config *container;
    const char *image_config_json; /* the OCI image config blob (may be NULL) */
    const char *sandbox_id;
    const char *container_id;
    const char *netns; /* HCN namespace GUID; NULL or "" for none */
    int hyperv; /* the pod's runtime handler uses Hyper-V isolation */ /* the pod's runtime handler
                                                                          uses Hyper-V isolation */
} pod_wcow_input;

/* Builds ociVersion, process (args, env, cwd, user, terminal), root, hostname, mounts,
 * annotations and the windows section (resources, network, credentialSpec, devices, hyperv).
 * windows.layerFolders is the compute backend's to write, from the rootfs it is given. Bad
 * CRI fields give WC_INVALID_ARGUMENT naming the field. */
int pod_spec_build_wcow(const pod_wcow_input *in, json_t **spec, wc_err *err);

/* The OCI "process" object of an exec in a running Windows container: the container's
 * process with args replaced and terminal set. NULL on bad input. */
json_t *pod_wcow_exec_process(const json_t *container_spec, const char *const *cmd, size_t n_cmd,
                              int tty);

/* CRI WindowsContainerResources → the OCI windows.resources object (cpu shares/count/
 * maximum, memory limit, storage sandboxSize), out-of-range values refused. */
int pod_wcow_resources(const pod_windows_resources *r, json_t **out, wc_err *err);

/* CRI's Signal enum value → the POSIX number hcs_signal_from_posix understands (SIGINT 2,
 * SIGKILL 9, SIGTERM 15); 0 for RUNTIME_DEFAULT and signals Windows has no equivalent for. */
int pod_wcow_signal(int cri_signal);

#endif
