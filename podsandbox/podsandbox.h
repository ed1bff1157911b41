/* Pods and their containers: the model behind RuntimeService. State lives in SQLite
 * (<root>/pods.db, written before a call returns) with an in-memory index for look-ups.
 * cri/ converts protobuf to these calls' plain types (podconfig.h) and builds responses from
 * what they return.
 *
 * Names say who owns what, here and in every module's header:
 *   *_find    returns a reference into the live model: give it back with *_unref
 *   *_get, *_lookup, *_list   return a copy (a snapshot) the caller frees with the named *_free
 *   *_new / *_free, *_ref / *_unref   make and end things; *_clear empties a caller's struct
 *   a function that frees what it is given says so in its comment (and takes no reference). */
#ifndef WINCRI_PODSANDBOX_PODSANDBOX_H
#define WINCRI_PODSANDBOX_PODSANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"
#include "podsandbox/podconfig.h"

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
    pod_sandbox_config *config; /* a reference (as the caller sent it) */
} pod_sandbox_info;

/* The identity a Linux container's processes run with, as the runtime applied it. */
typedef struct pod_linux_user {
    int known; /* 0: not known (not created yet, or a Windows container) */
    int64_t uid, gid;
    int64_t *groups; /* supplementary groups, the primary one included */
    size_t n_groups;
} pod_linux_user;

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
    pod_linux_user user;
    pod_container_config *config; /* a reference */
} pod_container_info;

/* Reads configs stored by wincri 0.1 (protobuf bytes), which the model cannot decode itself;
 * each returns NULL when the bytes are not a config. */
typedef struct pod_legacy_decoder {
    pod_sandbox_config *(*sandbox)(const void *bytes, size_t len);
    pod_container_config *(*container)(const void *bytes, size_t len);
} pod_legacy_decoder;

/* legacy may be NULL (no 0.1 records can be read then). */
int pod_manager_open(const wc_config *cfg, img_store *images, const pod_legacy_decoder *legacy,
                     pod_manager **out, wc_err *err);
void pod_manager_close(pod_manager *pm);
/* 1 while containers' stdio has a holder (the stdio keeper on Linux); for monitoring. */
int pod_manager_stdio_up(pod_manager *pm);
/* The pod CIDR handed to CNI (from UpdateRuntimeConfig). */
void pod_manager_set_pod_cidr(pod_manager *pm, const char *cidr);

/* The checks RunPodSandbox and CreateContainer make on a config before anything else
 * (WC_INVALID_ARGUMENT naming the field); pure, for tests and fuzzing. */
int pod_sandbox_config_check(const pod_sandbox_config *c, wc_err *err);
int pod_container_config_check(const pod_container_config *c, wc_err *err);

/* The model takes its own reference to config. */
int pod_sandbox_run(pod_manager *pm, pod_sandbox_config *config, const char *handler, char **id,
                    wc_err *err);
int pod_sandbox_stop(pod_manager *pm, const char *id, wc_err *err);
int pod_sandbox_remove(pod_manager *pm, const char *id, wc_err *err);
/* id may be a unique prefix. */
int pod_sandbox_get(pod_manager *pm, const char *id, pod_sandbox_info **out, wc_err *err);
/* Every sandbox, oldest first. */
int pod_sandbox_list(pod_manager *pm, pod_sandbox_info ***out, size_t *n, wc_err *err);
void pod_sandbox_info_free(pod_sandbox_info *s);
void pod_sandbox_list_free(pod_sandbox_info **list, size_t n);

int pod_container_create(pod_manager *pm, const char *sandbox_id, pod_container_config *config,
                         char **id, wc_err *err);
int pod_container_start(pod_manager *pm, const char *id, wc_err *err);
int pod_container_stop(pod_manager *pm, const char *id, int64_t timeout_s, wc_err *err);
int pod_container_remove(pod_manager *pm, const char *id, wc_err *err);
int pod_container_get(pod_manager *pm, const char *id, pod_container_info **out, wc_err *err);
int pod_container_list(pod_manager *pm, pod_container_info ***out, size_t *n, wc_err *err);
void pod_container_info_free(pod_container_info *c);
/* Visits every container (oldest first) without copying: the view's pointers are borrowed
 * and valid only during the call, which runs under the manager's lock, so `fn` must not
 * call back into the pod manager. For list RPCs over many containers. */
typedef void (*pod_container_visit_fn)(void *ctx, const pod_container_info *view);
void pod_container_foreach(pod_manager *pm, pod_container_visit_fn fn, void *ctx);
/* The same for sandboxes; the view has no IPs (ips NULL, n_ips 0). */
typedef void (*pod_sandbox_visit_fn)(void *ctx, const pod_sandbox_info *view);
void pod_sandbox_foreach(pod_manager *pm, pod_sandbox_visit_fn fn, void *ctx);
void pod_container_list_free(pod_container_info **list, size_t n);

typedef struct pod_exec_result {
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
    int exit_code;
} pod_exec_result;
/* timeout_s 0: none. stdout and stderr together are capped so that the response fits 16 MiB;
 * what is cut is said at the end of stderr. */
int pod_container_exec_sync(pod_manager *pm, const char *id, const char *const *cmd, size_t n_cmd,
                            int64_t timeout_s, pod_exec_result *out, wc_err *err);
void pod_exec_result_clear(pod_exec_result *r);
int pod_container_reopen_log(pod_manager *pm, const char *id, wc_err *err);

/* ---- stats ---- */

typedef struct pod_container_stats {
    int64_t timestamp_ns;
    int running;             /* cpu and memory are only measured for running containers */
    uint64_t cpu_usage_ns;   /* cumulative */
    uint64_t cpu_nano_cores; /* rate since the previous sample of this container */
    int has_cpu_rate;
    uint64_t mem_working_set, mem_usage, mem_rss, mem_available, page_faults, major_page_faults;
    uint64_t fs_used_bytes, fs_inodes_used;
    char *fs_mountpoint;
} pod_container_stats;

typedef struct pod_sandbox_stats {
    int64_t timestamp_ns;
    uint64_t cpu_usage_ns, cpu_nano_cores, mem_working_set, mem_usage, mem_rss;
    uint64_t rx_bytes, tx_bytes;
    int has_network;
    uint64_t process_count; /* running containers' init processes and their children */
} pod_sandbox_stats;

int pod_container_stats_get(pod_manager *pm, const char *id, pod_container_stats *out, wc_err *err);
void pod_container_stats_clear(pod_container_stats *s);
/* Sums the pod's running containers and reads its network counters. */
int pod_sandbox_stats_get(pod_manager *pm, const char *id, pod_sandbox_stats *out, wc_err *err);

/* ---- updates ---- */

/* The platform's part is required (linux on Linux, windows on Windows; NULL when not sent);
 * the other is ignored. */
int pod_container_update_resources(pod_manager *pm, const char *id,
                                   const pod_linux_resources *linux_res,
                                   const pod_windows_resources *windows_res, wc_err *err);
/* Records pod-level resources (kubelet has already resized the pod cgroup). */
int pod_sandbox_update_resources(pod_manager *pm, const char *id,
                                 const pod_linux_resources *overhead,
                                 const pod_linux_resources *resources, wc_err *err);

/* ---- container events (GetContainerEvents) ---- */

typedef enum {
    POD_EVENT_CREATED = 0,
    POD_EVENT_STARTED = 1,
    POD_EVENT_STOPPED = 2,
    POD_EVENT_DELETED = 3
} pod_event_type;

typedef struct pod_event {
    char container_id[65];
    char sandbox_id[65];
    pod_event_type type;
    int64_t at_ns;
} pod_event;

typedef struct pod_event_sub pod_event_sub;
pod_event_sub *pod_events_subscribe(pod_manager *pm);
/* 1 with *out filled, 0 when timeout_ms passed with nothing. */
int pod_events_next(pod_event_sub *sub, pod_event *out, int timeout_ms);
void pod_events_unsubscribe(pod_manager *pm, pod_event_sub *sub);

/* ---- streaming: exec, attach, port-forward (the streaming server's backend) ---- */

/* A process's stdio for the streaming server: what is asked for, and the descriptors given
 * back (the caller owns them; -1 when not wanted). Under a TTY, out carries both streams and
 * in is a second descriptor of the same terminal. */
typedef struct pod_stdio {
    int tty, want_in, want_out, want_err;
    int in, out, err;
} pod_stdio;

/* Runs cmd in the running container as its own process, with the container's process spec
 * (user, env, cwd, capabilities). NOT_FOUND, or FAILED_PRECONDITION when not running. */
typedef struct pod_exec pod_exec;
int pod_container_exec_start(pod_manager *pm, const char *id, const char *const *cmd, size_t n_cmd,
                             pod_stdio *io, pod_exec **out, wc_err *err);
int pod_exec_resize(pod_exec *e, unsigned width, unsigned height);
/* Blocks until the process ends: 0 with its exit code, -1 when unknown. */
int pod_exec_wait(pod_exec *e, int *exit_code);
/* Kills the process; a blocked pod_exec_wait returns. */
void pod_exec_kill(pod_exec *e);
void pod_exec_free(pod_exec *e);

/* Joins the running container's main process: out/err get its output from now on (the log
 * keeps being written; several attachers may watch), in writes to its stdin (the container
 * must have been created with stdin). io->tty is taken from the container. */
typedef struct pod_attach pod_attach;
int pod_container_attach(pod_manager *pm, const char *id, pod_stdio *io, pod_attach **out,
                         wc_err *err);
int pod_attach_resize(pod_attach *a, unsigned width, unsigned height);
/* Blocks until the container exits (0 with its exit code), or the attacher was detached or
 * dropped for falling behind (-1). */
int pod_attach_wait(pod_attach *a, int *exit_code);
/* The attacher's stdin ended: with stdin_once (and no TTY) the container's stdin is closed
 * now, so a process reading it sees end of file. */
void pod_attach_stdin_closed(pod_attach *a);
/* Ends the attachment: a blocked pod_attach_wait returns. */
void pod_attach_detach(pod_attach *a);
void pod_attach_free(pod_attach *a);

/* A TCP connection to localhost:port inside the ready sandbox's network (caller owns *fd). */
int pod_sandbox_port_forward(pod_manager *pm, const char *sandbox_id, int port, int *fd,
                             wc_err *err);

#endif
