/* The pod model's platform seams (sandbox_linux.c / sandbox_win32.c). */
#ifndef WINCRI_PODSANDBOX_PLATFORM_H
#define WINCRI_PODSANDBOX_PLATFORM_H

#include "podsandbox/model.h"

/* Pins the pod's shared namespaces other than the network (Linux: IPC and UTS, bind-mounted
 * under the sandbox's state dir). */
int pod_platform_sandbox_setup(pod_manager *pm, pod_sandbox *s, wc_err *err);
/* Undoes setup; succeeds if already undone. */
int pod_platform_sandbox_teardown(pod_manager *pm, pod_sandbox *s, wc_err *err);

typedef struct pod_spec_paths {
    const char *bundle;
    const char *sandbox_dir;
} pod_spec_paths;
/* Builds the container's OCI spec for this platform. */
int pod_platform_container_spec(pod_manager *pm, const pod_sandbox *s,
                                const Runtime__V1__ContainerConfig *config,
                                const char *image_config_json, const char *container_id,
                                json_t **spec, wc_err *err);
json_t *pod_platform_exec_process(const json_t *spec, const char *const *cmd, size_t n_cmd,
                                  int tty);
/* The runtime's resource object for UpdateContainerResources from the platform's CRI
 * resources (Linux: OCI linux.resources; Windows: OCI windows.resources). */
int pod_platform_resources(const Runtime__V1__LinuxContainerResources *linux_res,
                           const Runtime__V1__WindowsContainerResources *windows_res, json_t **out,
                           wc_err *err);
/* Maps CRI's Signal enum to the platform's signal number; 0 for RUNTIME_DEFAULT/unknown. */
int pod_platform_signal(int cri_signal);
/* Removes a directory tree; succeeds if it is not there. */
int pod_platform_remove_tree(const char *path, wc_err *err);

#endif
