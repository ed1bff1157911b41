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
/* ---- a container's stdio while it runs ----
 * Linux: the stdio keeper process writes the CRI log and outlives wincrid (keeper.h,
 * stdio_linux.c); Windows: logger threads in wincrid (logs_win32.c, stdio_win32.c). c->stdio
 * is the platform's. Called with c->op held, except open and close. */
int pod_platform_stdio_open(pod_manager *pm, wc_err *err);
void pod_platform_stdio_close(pod_manager *pm);
/* StartContainer, between the runtime's spawn (pid: its init, 0 when the platform has none
 * yet) and its start: its output to the CRI log (or nowhere when it has no log path), its
 * stdin kept for attachers. */
int pod_platform_stdio_begin(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid,
                             wc_err *err);
/* StartContainer, after the runtime started it: on Windows the init's pipes exist only now
 * (HCS makes them with the process), and they go to the stdio keeper; Linux: nothing. */
void pod_platform_stdio_started(pod_manager *pm, pod_container *c, hcs_runtime *rt);
/* After a wincrid restart, for a container still there (init pid): the same hold again. */
int pod_platform_stdio_recover(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid,
                               wc_err *err);
/* It exited: waits (until the monotonic deadline) for all its output to be written. */
void pod_platform_stdio_drain(pod_manager *pm, pod_container *c, int64_t until_ns);
/* RemoveContainer: lets go of all of it. */
void pod_platform_stdio_end(pod_manager *pm, pod_container *c);
/* wincrid stops: drops wincrid's own holds; the container's output goes on being written. */
void pod_platform_stdio_forget(pod_manager *pm, pod_container *c);
int pod_platform_stdio_reopen(pod_manager *pm, pod_container *c, wc_err *err);
/* Attach: read ends that get the output from now on (-1 when not wanted). */
int pod_platform_stdio_tap(pod_manager *pm, pod_container *c, int want_out, int want_err,
                           int *out_fd, int *err_fd, pod_tap **tap, wc_err *err);
/* A writer of the container's stdin (with a terminal, the terminal); FAILED_PRECONDITION
 * when it has none. */
int pod_platform_stdio_stdin(pod_manager *pm, pod_container *c, int *fd, wc_err *err);
/* Ends the container's stdin: it reads end of file once attachers' copies are closed. */
void pod_platform_stdio_close_stdin(pod_manager *pm, pod_container *c);
/* Recovery: the exit the platform's stdio recorded while wincrid was away (1, with the code
 * and time), else 0. */
int pod_platform_stdio_recorded_exit(pod_manager *pm, const char *id, int *exit_code,
                                     int64_t *finished_ns);
/* Recovery done: lets go of what the platform's stdio holds for containers the model does not
 * have (their records were removed while it held them). */
void pod_platform_stdio_prune(pod_manager *pm);
/* 1 when whatever holds containers' stdio is there to hold it (the keeper on Linux). */
int pod_platform_stdio_up(pod_manager *pm);

/* The node's own host name: what a pod without PodSandboxConfig.hostname is called. */
int pod_platform_node_hostname(char *buf, size_t len, wc_err *err);
/* Removes a directory tree; succeeds if it is not there. */
int pod_platform_remove_tree(const char *path, wc_err *err);

#endif
