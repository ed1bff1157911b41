/* The pod model's platform seams (sandbox_linux.c / sandbox_win32.c). */
#ifndef WINCRI_PODSANDBOX_PLATFORM_H
#define WINCRI_PODSANDBOX_PLATFORM_H

#include "image/image.h"
#include "podsandbox/model.h"

/* Pins the pod's shared namespaces other than the network (Linux: IPC and UTS, bind-mounted
 * under the sandbox's state dir). */
int pod_platform_sandbox_setup(pod_manager *pm, pod_sandbox *s, wc_err *err);
/* Undoes setup; succeeds if already undone. */
int pod_platform_sandbox_teardown(pod_manager *pm, pod_sandbox *s, wc_err *err);

/* CreateContainer's platform part: the container's OCI spec, from what the shared code has
 * resolved (the sandbox, the image). */
int pod_platform_container_spec(pod_manager *pm, const pod_sandbox *s,
                                const pod_container_config *config, const img_image *img,
                                const char *container_id, json_t **spec, wc_err *err);
json_t *pod_platform_exec_process(const json_t *spec, const char *const *cmd, size_t n_cmd,
                                  int tty);
/* The runtime's resource object for UpdateContainerResources from the platform's part of
 * the request (Linux: OCI linux.resources; Windows: OCI windows.resources); each may be
 * NULL when not sent, and the platform's own is required. */
int pod_platform_resources(const pod_linux_resources *linux_res,
                           const pod_windows_resources *windows_res, json_t **out, wc_err *err);
/* Maps CRI's Signal enum to the platform's signal number; 0 for RUNTIME_DEFAULT/unknown. */
int pod_platform_signal(int cri_signal);
/* The node's own host name: what a pod without PodSandboxConfig.hostname is called. */
int pod_platform_node_hostname(char *buf, size_t len, wc_err *err);
/* Removes a directory tree; succeeds if it is not there. */
int pod_platform_remove_tree(const char *path, wc_err *err);

#endif
