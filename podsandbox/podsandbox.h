/* Pods and their containers: the model behind RuntimeService. State lives in SQLite
 * (<root>/pods.db, written before a call returns) with an in-memory index for look-ups.
 * cri/runtime_service.c translates protobuf to these calls and snapshots back. */
#ifndef WINCRI_PODSANDBOX_PODSANDBOX_H
#define WINCRI_PODSANDBOX_PODSANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "common/config.h"
#include "common/err.h"

typedef struct pod_manager pod_manager;
typedef struct img_store img_store;

typedef enum { POD_SANDBOX_READY = 0, POD_SANDBOX_NOTREADY = 1 } pod_sandbox_state;
typedef enum {
    POD_CONTAINER_CREATED = 0,
    POD_CONTAINER_RUNNING = 1,
    POD_CONTAINER_EXITED = 2,
    POD_CONTAINER_UNKNOWN = 3
} pod_container_state;

/* A copy of a sandbox's state; the caller frees it with pod_sandbox_info_free. */
typedef struct pod_sandbox_info {
    char *id;
    pod_sandbox_state state;
    int64_t created_ns;
    char *handler;
    char *netns; /* "" for host network */
    char **ips;
    size_t n_ips;
    Runtime__V1__PodSandboxConfig *config; /* as the caller sent it */
} pod_sandbox_info;

typedef struct pod_container_info {
    char *id;
    char *sandbox_id;
    pod_container_state state;
    int64_t created_ns;
    int64_t started_ns;
    int64_t finished_ns;
    int exit_code;
    char *reason;
    char *message;
    char *image;     /* as requested */
    char *image_id;  /* sha256:... */
    char *image_ref; /* repo digest when known, else the image ID */
    char *log_path;  /* absolute, "" when none */
    int pid;
    Runtime__V1__ContainerConfig *config;
} pod_container_info;

int pod_manager_open(const wc_config *cfg, img_store *images, pod_manager **out, wc_err *err);
void pod_manager_close(pod_manager *pm);
/* The pod CIDR handed to CNI (from UpdateRuntimeConfig). */
void pod_manager_set_pod_cidr(pod_manager *pm, const char *cidr);

int pod_sandbox_run(pod_manager *pm, const Runtime__V1__PodSandboxConfig *config,
                    const char *handler, char **id, wc_err *err);
int pod_sandbox_stop(pod_manager *pm, const char *id, wc_err *err);
int pod_sandbox_remove(pod_manager *pm, const char *id, wc_err *err);
/* id may be a unique prefix. */
int pod_sandbox_get(pod_manager *pm, const char *id, pod_sandbox_info **out, wc_err *err);
/* Every sandbox, oldest first. */
int pod_sandbox_list(pod_manager *pm, pod_sandbox_info ***out, size_t *n, wc_err *err);
void pod_sandbox_info_free(pod_sandbox_info *s);
void pod_sandbox_list_free(pod_sandbox_info **list, size_t n);

int pod_container_create(pod_manager *pm, const char *sandbox_id,
                         const Runtime__V1__ContainerConfig *config,
                         const Runtime__V1__PodSandboxConfig *sandbox_config, char **id,
                         wc_err *err);
int pod_container_start(pod_manager *pm, const char *id, wc_err *err);
int pod_container_stop(pod_manager *pm, const char *id, int64_t timeout_s, wc_err *err);
int pod_container_remove(pod_manager *pm, const char *id, wc_err *err);
int pod_container_get(pod_manager *pm, const char *id, pod_container_info **out, wc_err *err);
int pod_container_list(pod_manager *pm, pod_container_info ***out, size_t *n, wc_err *err);
void pod_container_info_free(pod_container_info *c);
void pod_container_list_free(pod_container_info **list, size_t n);

typedef struct pod_exec_result {
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
    int exit_code;
} pod_exec_result;
/* timeout_s 0: none. Output capped at 16 MiB per stream. */
int pod_container_exec_sync(pod_manager *pm, const char *id, const char *const *cmd, size_t n_cmd,
                            int64_t timeout_s, pod_exec_result *out, wc_err *err);
void pod_exec_result_clear(pod_exec_result *r);
int pod_container_reopen_log(pod_manager *pm, const char *id, wc_err *err);

#endif
