/* Internal to the Windows runtime (hcs/runtime.h over computecore.dll), split the way hcsshim
 * splits its concerns:
 *
 *   runtime_win32.c    the runtime: open/close, the container registry, state, list, and
 *                      the verbs that need no lifecycle (update, pause, resume, stats, std
 *                      streams)
 *   container_win32.c  the container lifecycle: create, start, exits, kill, delete, adopt
 *   layers_win32.c     a container's storage: its layer ids, scratch and mounted volume
 *   uvm_win32.c        the Hyper-V utility VM of a pod and what its containers put into it
 *   ccg_win32.c        gMSA: a container's Container Credential Guard instance
 *   stdio_win32.c      std pipes and the threads that pump or collect them
 *   exec_win32.c       processes run in a container: exec_sync and streaming exec
 *
 * Locks: rt->mu guards the registry and each container's flags; rt->uvms.mu is held across
 * whole Hyper-V creates and deletes (hcs_uvm_devices bookkeeping is not thread-safe, and a
 * VM must not go while a container is being added to it). */
#ifndef WINCRI_HCS_RUNTIME_WIN32_H
#define WINCRI_HCS_RUNTIME_WIN32_H

#include <windows.h>

#include <stdint.h>

#include "hcs/hcs_win32.h"
#include "hcs/runtime.h"

typedef struct hcs_ctr hcs_ctr;
typedef struct hcs_uvm hcs_uvm;
typedef struct hcs_job hcs_job;

/* ---- stdio_win32.c -------------------------------------------------------------------- */

/* Copies one stream from src to dst on its own thread, closing both at the end. */
typedef struct hcs_pump {
    HANDLE src, dst, thread;
} hcs_pump;

/* A container's std streams: our own pipes, made at create so the pod model can open the
 * output before start, and the pumps from HCS's pipes into them once the process runs; or,
 * when the pod model asked to keep them (hcs_keep_std, for the stdio keeper), HCS's pipes
 * themselves, kept for hcs_take_std. */
typedef struct hcs_stdio {
    HANDLE out_r, out_w, err_r, err_w, in_r, in_w;
    hcs_pump pumps[3]; /* stdin, stdout, stderr */
    int keep;          /* hold the init's pipes rather than pump them */
    HANDLE kept[3];    /* stdin, stdout, stderr of the init, with keep; NULL when taken */
} hcs_stdio;

void hcs_handle_close(HANDLE *h);

/* Makes stdout, stderr (not with a terminal) and stdin (with open_stdin). */
int hcs_stdio_make(hcs_stdio *s, const hcs_io *io, const char *ctr_id, wc_err *err);
/* Pumps the init process's HCS pipes (std[0..2], NULL where there is none; taken over) into
 * ours: stdout and stderr into our writers, our stdin reader into its stdin. With keep, holds
 * them instead (and closes our writers: nothing will write them). */
void hcs_stdio_connect(hcs_stdio *s, HANDLE std[3]);
/* Nothing will ever write the output: closes our writers (and stdin's reader), so the pod
 * model's log readers see the end of the streams. */
void hcs_stdio_abandon(hcs_stdio *s);
/* Joins the pumps and closes every handle. */
void hcs_stdio_close(hcs_stdio *s);
/* CRT descriptors of duplicates of the output pipes (err_fd -1 without a stderr pipe). */
int hcs_stdio_open_output(hcs_stdio *s, const char *ctr_id, int *out_fd, int *err_fd, wc_err *err);
/* Hands over the stdin writer as a CRT descriptor (once; closing it ends the input). */
int hcs_stdio_take_stdin(hcs_stdio *s, const char *ctr_id, int *in_fd, wc_err *err);

/* A CRT descriptor that owns h (NULL gives -1). */
int hcs_fd_own(HANDLE h, int flags);

/* Reads a stream into memory on its own thread, keeping at most max bytes (the rest is read
 * and dropped so the writer never blocks). */
typedef struct hcs_collector {
    HANDLE h, thread;
    char *data;
    size_t len, max;
    int truncated;
} hcs_collector;
/* Takes ownership of h (NULL: collects nothing). */
void hcs_collector_start(hcs_collector *k, HANDLE h, size_t max);
/* Waits for the reader; a grandchild holding the pipe open does not hold us past drain_ms.
 * k->data is then a NUL-terminated string (empty when nothing came). */
void hcs_collector_finish(hcs_collector *k, DWORD drain_ms);

/* ---- layers_win32.c ------------------------------------------------------------------- */

/* The GUIDs HCS wants beside windows.layerFolders (NameToGuid of each folder name). */
typedef struct hcs_layer_ids {
    char (*text)[37];
    const char **v; /* points into text, one per layer */
    size_t n;
} hcs_layer_ids;
int hcs_layer_ids_of(const hcs_rootfs *rootfs, hcs_layer_ids *ids, wc_err *err);
void hcs_layer_ids_clear(hcs_layer_ids *ids);

/* The layer folders as Windows paths: the image store joins with '/', and what reaches HCS
 * and vmcompute (Storage.Layers, layerFolders, layer descriptors) is what hcsshim sends,
 * filepath.Join'd with '\\'. *owned holds the copies; free them with hcs_strv_free. */
void hcs_rootfs_windows_paths(const hcs_rootfs *in, hcs_rootfs *out, char ***owned);
void hcs_strv_free(char **v);

/* Process isolation: the scratch (sandbox.vhdx) made from the image layers and mounted;
 * *volume is the volume path of the mount. */
int hcs_storage_create_mounted(hcs_ctr *c, const hcs_rootfs *rootfs, char **volume, wc_err *err);
/* Hyper-V isolation: the scratch is made on the host but only the VM mounts it; root gets
 * the container's root inside the VM. */
int hcs_storage_create_hosted(hcs_ctr *c, const hcs_rootfs *rootfs, char *root, size_t size,
                              wc_err *err);
/* Unmounts and destroys the scratch; errors are logged (the pod model removes the folder). */
void hcs_storage_release(hcs_ctr *c);

/* windows.layerFolders (top-most first, scratch last) and root.path. */
int hcs_spec_set_rootfs(json_t *spec, const hcs_rootfs *rootfs, const char *root_path, wc_err *err);
/* A number under spec.windows.resources.<section>.<member>; 0 when absent. */
uint64_t hcs_spec_resource(const json_t *spec, const char *section, const char *member);

/* ---- uvm_win32.c ---------------------------------------------------------------------- */

#define HCS_UVM_STOP_GRACE_MS 30000 /* a utility VM's own shutdown, before it is terminated */

/* The utility VMs of a runtime, one per Hyper-V pod, by sandbox id. */
typedef struct hcs_uvm_list {
    SRWLOCK mu;
    hcs_uvm **v;
    size_t n;
} hcs_uvm_list;

void hcs_uvm_list_init(hcs_uvm_list *l);
/* Closes our handles; the VMs keep running. */
void hcs_uvm_list_close(hcs_uvm_list *l);

/* The rest are called with rt->uvms.mu held. */

/* The pod's VM; made and booted from base_layer's UtilityVM\Files, sized by the pod's
 * annotations on spec, when this is its first container. */
int hcs_uvm_get(hcs_runtime *rt, const char *sandbox_id, const json_t *spec, const char *base_layer,
                hcs_uvm **out, wc_err *err);
/* Plans the container into the VM (shares, scratch disk, combined layers) and sends the VM
 * those requests. From the plan on the container is the VM's (c->uvm set), and on failure
 * hcs_uvm_detach undoes what was applied. */
int hcs_uvm_attach(hcs_uvm *vm, hcs_ctr *c, const hcs_layer_ids *ids, hcs_hosted_plan *plan,
                   wc_err *err);
/* Takes the container's layers and scratch out of its VM (what is not there fails
 * harmlessly); the VM goes with its last container, after grace_ms (0: terminated). */
void hcs_uvm_detach(hcs_ctr *c, DWORD grace_ms);
/* After a restart (takes rt->uvms.mu itself): the adopted Hyper-V container c rejoins its
 * pod's VM, reopened by id with its devices from our record when it is the first. */
int hcs_uvm_adopt(hcs_ctr *c, wc_err *err);
/* Ends a VM that no container was attached to (its first container failed). */
void hcs_uvm_end_unused(hcs_runtime *rt, hcs_uvm *vm);
/* Adds the HvSocket service entry a credential guard instance needs to the VM. */
int hcs_uvm_hvsocket_service(hcs_uvm *vm, const json_t *instance, wc_err *err);
/* The VM's processor count, the clamp for its containers' Processor.Count. */
unsigned hcs_uvm_cpus(const hcs_uvm *vm);

/* ---- uvm_net_win32.c ------------------------------------------------------------------ */

/* Adds a network adapter to the VM for each endpoint of the namespace in the spec's
 * windows.network.networkNamespace (none: nothing to do). */
int hcs_uvm_add_network(hcs_system *vm, const json_t *spec, wc_err *err);

/* ---- ccg_win32.c ---------------------------------------------------------------------- */

/* When the container's spec has windows.credentialSpec: registers its Container Credential
 * Guard instance (transport HvSocket in a utility VM, else LRPC) and returns the instance
 * as HCS lists it (*instance, NULL without a credential spec). A refusal is
 * WC_FAILED_PRECONDITION naming HCS's reason; c->ccg_added tells hcs_ccg_release what to
 * undo. */
int hcs_ccg_register(hcs_ctr *c, int hyperv, json_t **instance, wc_err *err);
/* Removes the container's instance, if it has one (errors are logged). */
void hcs_ccg_release(hcs_ctr *c);

/* ---- runtime_win32.c ------------------------------------------------------------------ */

struct hcs_runtime {
    char *handler;
    char *state_dir;
    int hyperv;
    hcs_exit_fn on_exit;
    void *exit_ctx;
    SRWLOCK mu;
    hcs_ctr **ctrs;
    size_t n;
    hcs_uvm_list uvms;
};

/* One container the backend holds. */
struct hcs_ctr {
    hcs_runtime *rt;
    char id[128];
    char sandbox_id[128];
    char *scratch; /* the writable layer folder; NULL once destroyed */
    int mounted;
    json_t *spec;
    hcs_io io;
    hcs_system *sys;
    hcs_process *init;
    uint32_t pid;
    int started, exited, paused, exit_reported, adopted;
    hcs_stdio stdio;
    uint64_t memory_limit;
    hcs_uvm *uvm;      /* Hyper-V: the utility VM that hosts it */
    int ccg_added;     /* a Container Credential Guard instance is registered for it */
    int hyperv_record; /* adopted: its record says a utility VM hosts it */
    hcs_job *job;      /* a HostProcess container: its job object and mount (no compute system) */
};

hcs_ctr *hcs_ctr_find(hcs_runtime *rt, const char *id);
/* Reports the container's exit to the runtime's owner, once (runtime_win32.c). */
void hcs_ctr_report_exit(hcs_ctr *c, int code);
/* As hcs_ctr_find; NOT_FOUND naming the container when it is not known. */
int hcs_ctr_find_or_fail(hcs_runtime *rt, const char *id, hcs_ctr **out, wc_err *err);
void hcs_ctr_register(hcs_runtime *rt, hcs_ctr *c);
void hcs_ctr_unregister(hcs_runtime *rt, hcs_ctr *c);
/* The VM is going: no container points at it any more. */
void hcs_ctrs_forget_uvm(hcs_runtime *rt, const hcs_uvm *vm);

int64_t hcs_now_ns(void);

/* ---- container_win32.c ---------------------------------------------------------------- */

/* Closes our handles of the container and frees it; its compute system keeps running. */
void hcs_ctr_free(hcs_ctr *c);

/* ---- jobcontainer_win32.c ------------------------------------------------------------- */

/* HostProcess containers (hcs_spec_is_hostprocess): the verbs of a container whose c->job is
 * set; the runtime's verbs hand such containers here. */
int hcs_job_create(hcs_runtime *rt, const char *id, const char *sandbox_id, const char *bundle,
                   json_t *spec, const hcs_rootfs *rootfs, const hcs_io *io, wc_err *err);
int hcs_job_start(hcs_ctr *c, wc_err *err);
int hcs_job_kill(hcs_ctr *c, int sig, int all, wc_err *err);
/* Ends its processes, unmounts, removes its account, storage and record, and frees c. */
int hcs_job_delete(hcs_ctr *c, wc_err *err);
int hcs_job_stats(hcs_ctr *c, hcs_stats *out, wc_err *err);
int hcs_job_update(hcs_ctr *c, const json_t *resources, wc_err *err);
int hcs_job_exec_sync(hcs_ctr *c, const json_t *process, int64_t timeout_ms, size_t max_output,
                      hcs_exec_result *out, wc_err *err);
/* An exec's process in the job: *proc its handle, std our ends of the pipes asked for. */
int hcs_job_exec_spawn(hcs_ctr *c, const json_t *process, const hcs_exec_stdio *stdio, HANDLE *proc,
                       HANDLE std[3], wc_err *err);
/* A container we hold no record of in memory: 1 (with *out) when a HostProcess record of it
 * exists, else 0. */
int hcs_job_state(hcs_runtime *rt, const char *id, hcs_state *out);
/* After a restart: 1 when id is a HostProcess container (now registered), 0 when it is not
 * one, -1 on failure. */
int hcs_job_adopt(hcs_runtime *rt, const char *id, wc_err *err);
void hcs_job_free(hcs_job *j);

#endif
