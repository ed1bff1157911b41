/* The compute backend's container verbs, runhcs-like, on an OCI runtime spec. Linux: an OCI
 * runtime binary (runc) on a bundle whose rootfs is an overlay of image layers. Windows:
 * computecore.dll (hcs/hcs_win32.c). podsandbox/ uses only this header. */
#ifndef WINCRI_HCS_RUNTIME_H
#define WINCRI_HCS_RUNTIME_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"

typedef struct hcs_runtime hcs_runtime; /* one per runtime handler */

/* Called from the backend's own thread when a container's init process (exec_id NULL) or an
 * exec'd process ends. */
typedef struct hcs_exit {
    int pid;
    int exit_code;  /* 128+signal when killed by a signal */
    int oom_killed; /* the kernel's OOM killer ended it (cgroup memory.oom_control/events) */
    int64_t finished_ns;
} hcs_exit;
typedef void (*hcs_exit_fn)(void *ctx, const char *container_id, const char *exec_id,
                            const hcs_exit *exit);

/* state_dir: where the backend keeps its own state (runc --root, bundles); survives restarts
 * of wincrid only if it is on persistent storage (the pod model does not rely on that). */
int hcs_runtime_open(const wc_config *cfg, const wc_runtime_handler *handler, const char *state_dir,
                     hcs_exit_fn on_exit, void *exit_ctx, hcs_runtime **out, wc_err *err);
void hcs_runtime_close(hcs_runtime *rt);

/* Root filesystem: the image's layer dirs, top-most first, and the container's own scratch
 * dir, which holds its writable layer in the platform's form (Linux: upper/ and work/ of the
 * overlay mounted at <bundle>/rootfs; Windows: the sandbox disk, and windows.layerFolders is
 * the backend's to write). The caller makes and removes the scratch dir; NULL or "" with
 * readonly means image layers only. */
typedef struct hcs_rootfs {
    const char *const *lower_dirs;
    size_t n_lower;
    const char *scratch_dir;
    int readonly;
} hcs_rootfs;

/* Where the container's stdio goes. The backend makes FIFOs (Linux) or pipes (Windows) and
 * hands back the read ends so the caller can write logs; reopenable after a restart through
 * hcs_open_output. */
typedef struct hcs_io {
    int terminal;   /* allocate a TTY: stdout carries both streams */
    int open_stdin; /* keep a writable stdin */
} hcs_io;

/* Ends what the backend keeps for a pod as a whole (Windows: the Hyper-V pod's utility VM
 * and its scratch). Called when the pod sandbox is torn down; succeeds if there is nothing. */
int hcs_pod_release(hcs_runtime *rt, const char *sandbox_id, wc_err *err);

/* Writes <bundle>/config.json from spec (with root.path set to the mounted rootfs), mounts the
 * rootfs and prepares the container (Linux: the bundle and its FIFOs; the runtime's container
 * comes at hcs_spawn. Windows: the compute system) for the pod sandbox_id (Windows: a Hyper-V
 * pod's containers share its utility VM). On failure nothing is left behind. */
int hcs_create(hcs_runtime *rt, const char *id, const char *sandbox_id, const char *bundle,
               json_t *spec, const hcs_rootfs *rootfs, const hcs_io *io, wc_err *err);
/* Makes the container's init process exist, waiting to be started, and gives its pid
 * (Linux: `runc create`, done here rather than in hcs_create so that CreateContainer stays
 * cheap; Windows: nothing, *pid 0, the init is created by hcs_start). The caller hands the
 * container's stdio over (hcs_open_output) between spawn and start. A container spawned by a
 * wincrid that died before starting it is spawned afresh. */
int hcs_spawn(hcs_runtime *rt, const char *id, int *pid, wc_err *err);
/* Starts it, spawning it first if the caller did not. */
int hcs_start(hcs_runtime *rt, const char *id, wc_err *err);
/* Sends sig to the init process (all processes when all != 0). */
int hcs_kill(hcs_runtime *rt, const char *id, int sig, int all, wc_err *err);
/* Removes the container (killing it if still running) and unmounts its rootfs. Succeeds if
 * it is already gone. */
int hcs_delete(hcs_runtime *rt, const char *id, wc_err *err);
/* The container's init ended: the runtime lets go of what it holds for the processes (Linux:
 * runc's state and cgroup, and the rootfs mount) now rather than at hcs_delete, which then only
 * takes down the files. Succeeds if there is nothing to let go of. */
int hcs_release(hcs_runtime *rt, const char *id, wc_err *err);

/* Every container the backend holds (ids; caller frees each and the array), for recovery
 * to reclaim those no record owns. */
int hcs_list(hcs_runtime *rt, char ***ids, size_t *n, wc_err *err);
/* After a restart, before recovery: waits (bounded) for backend calls a killed wincrid left
 * running (Linux: runtime processes on our root), so recovery does not race them. */
void hcs_quiesce(hcs_runtime *rt);
/* Recovery asks after every container at once: between begin and end, hcs_state_of answers
 * from one listing of the backend taken at begin (Linux: one `runc list` instead of a `runc
 * state` per container) and a container deleted meanwhile is MISSING. A failed listing only
 * means each question goes to the backend. */
void hcs_survey_begin(hcs_runtime *rt);
void hcs_survey_end(hcs_runtime *rt);

typedef enum { HCS_CREATED, HCS_RUNNING, HCS_PAUSED, HCS_STOPPED, HCS_MISSING } hcs_status;
typedef struct hcs_state {
    hcs_status status;
    int pid;
} hcs_state;
int hcs_state_of(hcs_runtime *rt, const char *id, hcs_state *out, wc_err *err);

/* After a wincrid restart: watch a container that is still running so its exit reaches
 * on_exit, with its real exit code (Linux: from the process connector, since it is no longer
 * our child; 255 where that is unavailable). */
int hcs_adopt(hcs_runtime *rt, const char *id, wc_err *err);

/* Opens the container's stdout and stderr for reading (stderr -1 with a TTY, whose master out
 * then is). Linux: read-write holds of the FIFOs, which keep them open whoever else goes away
 * and so never report end of file: the container's exit says when its output ended. A
 * terminal cannot be reopened after a restart (FAILED_PRECONDITION). */
int hcs_open_output(hcs_runtime *rt, const char *id, int *out_fd, int *err_fd, wc_err *err);
/* The write end of its stdin (-1 when open_stdin was not asked for); the backend drops its own
 * hold, so the container reads end of file once the caller's copies are closed. */
int hcs_open_stdin(hcs_runtime *rt, const char *id, int *in_fd, wc_err *err);

/* resources: the OCI spec's linux.resources object (Linux) or windows.resources (Windows). */
int hcs_update(hcs_runtime *rt, const char *id, const json_t *linux_resources, wc_err *err);
int hcs_pause(hcs_runtime *rt, const char *id, wc_err *err);
int hcs_resume(hcs_runtime *rt, const char *id, wc_err *err);

/* Runs a process (an OCI "process" object) in the container and collects its output. Each
 * stream is capped at max_output bytes (the rest is drained and dropped, *truncated set);
 * past timeout_ms (0: none) the process is killed and *timed_out set. */
typedef struct hcs_exec_result {
    char *out;
    size_t out_len;
    char *err;
    size_t err_len;
    int exit_code;
    int timed_out;
    int truncated;
} hcs_exec_result;
int hcs_exec_sync(hcs_runtime *rt, const char *id, const json_t *process, int64_t timeout_ms,
                  size_t max_output, hcs_exec_result *out, wc_err *err);
void hcs_exec_result_clear(hcs_exec_result *r);

/* ---- interactive exec (the streaming server's Exec) ---- */

typedef struct hcs_exec_proc hcs_exec_proc;
typedef struct hcs_exec_stdio {
    int tty; /* a terminal: out carries both streams, err is -1 */
    int want_in, want_out, want_err;
} hcs_exec_stdio;
/* Starts a process (an OCI "process" object) in the running container and returns at once.
 * The caller owns the descriptors it gets: in (write; a dup of the terminal under a TTY), out
 * and err (read); each is -1 when not wanted, and an unwanted stream reads or writes nowhere. */
int hcs_exec_start(hcs_runtime *rt, const char *id, const json_t *process,
                   const hcs_exec_stdio *stdio, int *in_fd, int *out_fd, int *err_fd,
                   hcs_exec_proc **out, wc_err *err);
/* Sets the terminal size (TTY only); -1 otherwise. */
int hcs_exec_resize(hcs_exec_proc *p, unsigned width, unsigned height);
/* Blocks until the process ends: 0 with its exit code (128+signal when killed), -1 unknown. */
int hcs_exec_wait(hcs_exec_proc *p, int *exit_code);
/* Kills the process; a blocked hcs_exec_wait then returns. Harmless once it has ended. */
void hcs_exec_kill(hcs_exec_proc *p);
/* Frees p; a process still running is killed and reaped first. */
void hcs_exec_free(hcs_exec_proc *p);

typedef struct hcs_stats {
    int64_t timestamp_ns;
    uint64_t cpu_usage_ns;       /* cumulative */
    uint64_t memory_usage_bytes; /* includes page cache */
    uint64_t memory_working_set; /* usage minus inactive file */
    uint64_t memory_rss_bytes;
    uint64_t memory_page_faults;
    uint64_t memory_major_page_faults;
    uint64_t memory_limit_bytes; /* 0: none */
} hcs_stats;
int hcs_stats_of(hcs_runtime *rt, const char *id, hcs_stats *out, wc_err *err);

#endif
