/* Private parts of the Linux compute backend (hcs/runtime.h on an OCI runtime binary), shared
 * by the Linux files of hcs/ and by nothing else. */
#ifndef WINCRI_HCS_RUNTIME_LINUX_H
#define WINCRI_HCS_RUNTIME_LINUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <pthread.h>

#include <jansson.h>

#include "common/err.h"
#include "hcs/runtime.h"

typedef struct hcs_reaper hcs_reaper;
typedef struct hcs_ctr hcs_ctr;
typedef struct hcs_cgroup hcs_cgroup;

struct hcs_runtime {
    char *name;      /* the handler's name, for messages */
    char *binary;    /* the OCI runtime, resolved through PATH */
    char *state_dir; /* wincri's backend state */
    char *root;      /* <state_dir>/runc: the runtime's own --root */
    char *links;     /* <state_dir>/bundles: id -> bundle symlinks, to find bundles again */
    hcs_exit_fn on_exit;
    void *exit_ctx;
    int oom_floor; /* the daemon's own oom_score_adj: containers cannot go below it */
    hcs_reaper *reaper;
    pthread_mutex_t mu; /* guards ctrs and survey */
    hcs_ctr *ctrs;
    json_t *survey; /* during recovery: id -> runc's list entry (hcs_survey_begin) */
};

/* Remembers a container found again after a restart (hcs_adopt), taking cg, unless it is
 * known already (runtime_linux.c). */
void hcs_ctr_remember(hcs_runtime *rt, const char *id, hcs_cgroup *cg);

/* ---- process runner (runc_linux.c) ---- */

/* How hcs_run starts a child. Start from hcs_run_opts_init: the fds default to -1. */
typedef struct hcs_run_opts {
    const char *input; /* written to a stdin pipe when stdin_fd < 0; NULL: /dev/null */
    size_t input_len;
    int stdin_fd, stdout_fd, stderr_fd; /* >= 0: handed to the child as is; else captured */
    int console_listen;                 /* >= 0: accept one peer and receive a fd from it */
    size_t max_output;                  /* cap per captured stream; 0: unlimited */
    int64_t timeout_ms;                 /* 0: none */
    /* Called (repeatedly, every poll tick) once the timeout passed until the child exits;
     * NULL: SIGKILL the child. The child is SIGKILLed anyway 5 s later. */
    void (*on_timeout)(void *ctx, pid_t child);
    void *timeout_ctx;
} hcs_run_opts;

typedef struct hcs_run_result {
    int status; /* exit code, 128+signal when killed */
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
    int truncated;
    int timed_out;
    int console_fd; /* the fd received over console_listen, else -1 */
} hcs_run_result;

void hcs_run_opts_init(hcs_run_opts *o);
/* Runs argv[0] (a path) to completion. Output is captured until the child exits, then what is
 * already buffered is drained: grandchildren keeping the pipes open cannot stall the call. */
int hcs_run(const char *const *argv, const hcs_run_opts *o, hcs_run_result *r, wc_err *err);
void hcs_run_result_clear(hcs_run_result *r);
/* Makes `runc --root R [--log L --log-format json] verb args...` argv; free with free(). */
const char **hcs_runc_argv(const hcs_runtime *rt, const char *log_file, const char *const *args);
/* The runtime's own words from its stderr or JSON log ("msg" fields), for error messages. */
void hcs_runc_message(const char *text, size_t len, char *out, size_t cap);
/* Resolves a binary through PATH like execvp; caller frees. NULL when not found. */
char *hcs_find_binary(const char *name);

/* ---- reaper (reaper_linux.c) ---- */

typedef void (*hcs_reaper_fn)(void *ctx, const char *container_id, const char *exec_id,
                              const hcs_exit *exit);
/* Makes the process a child subreaper and starts the one thread that reaps the processes it is
 * told to watch (and long-abandoned orphans), never any other child. */
int hcs_reaper_start(hcs_reaper_fn fn, void *ctx, hcs_reaper **out, wc_err *err);
void hcs_reaper_stop(hcs_reaper *r);
/* mem_cgroup: the process's memory cgroup dir (NULL: unknown), checked for OOM kills. */
int hcs_reaper_watch(hcs_reaper *r, pid_t pid, const char *container_id, const char *exec_id,
                     const char *mem_cgroup, wc_err *err);

/* ---- cgroups (cgroup_linux.c) ---- */

struct hcs_cgroup {
    int v2;
    char *memory; /* directory of the memory controller (v2: the unified dir) */
    char *cpu;    /* cpuacct (v1) or the unified dir (v2) */
};

/* Finds the cgroup dirs of a live process through /proc/<pid>/cgroup and mountinfo. */
int hcs_cgroup_of_pid(pid_t pid, hcs_cgroup *out, wc_err *err);
void hcs_cgroup_clear(hcs_cgroup *cg);
int hcs_cgroup_stats(const hcs_cgroup *cg, hcs_stats *out, wc_err *err);
/* How many processes the OOM killer ended in the memory cgroup dir (v1 or v2); 0 if unknown. */
uint64_t hcs_cgroup_oom_kills(const char *memory_dir);

/* ---- root filesystem (overlay_linux.c) ---- */

int hcs_rootfs_mount(const char *target, const hcs_rootfs *rootfs, wc_err *err);
/* Unmounts target if it is a mount point; not mounted is success. */
int hcs_rootfs_unmount(const char *target, wc_err *err);

/* ---- users (user_linux.c) ---- */

/* Resolves the user the spec names (annotation io.wincri.user, "user[:group]", each part a
 * name or an id) against the mounted rootfs's /etc/passwd and /etc/group and sets
 * process.user: uid, primary gid, and the supplementary groups (primary, the spec's own, and,
 * unless io.wincri.supplemental-groups-policy is Strict, the image's groups listing the user).
 * Without the annotation nothing changes. */
int hcs_resolve_user(const char *rootfs, json_t *spec, const char *id, wc_err *err);

/* ---- console (console_linux.c) ---- */

/* Makes a listening unix socket for runc's --console-socket; *path is malloc'd. The socket
 * lives in dir when the path fits sun_path, else in a private dir under /tmp. */
int hcs_console_listen(const char *dir, int *fd, char **path, wc_err *err);
/* Accepts one peer on listen_fd (non-blocking) and receives the fd it sends. */
int hcs_console_recv(int listen_fd, int *out_fd, wc_err *err);
void hcs_console_remove(const char *path);

#endif
