/* The lifecycle of a Windows container (what hcsshim's hcsoci and its task service do):
 *
 * create: the container's storage (layers_win32.c), the OCI spec's windows.layerFolders and
 *         root.path filled from it, hcs_doc_container, an HCS compute system (left running
 *         across wincrid restarts), and our std pipes. Hyper-V: the container goes into its
 *         pod's utility VM (uvm_win32.c) and its compute system is hosted there. A credential
 *         spec gets its Credential Guard instance first (ccg_win32.c), removed on delete.
 * start:  the compute system, then its init process, whose HCS pipes are pumped into ours.
 * exits:  HcsEventProcessExited (init) and HcsEventSystemExited reach on_exit once.
 * adopt:  after a restart, the compute system and its init process are reopened from our
 *         record of the container (<state>/hcs/<id>.json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hcs/hcsjob.h"
#include "hcs/runtime_win32.h"

/* ---- exits ---------------------------------------------------------------------------- */

/* An init process that ended before its exit callback was registered (or while wincrid
 * was not running) is reported now; whether HCS replays an exit to a callback registered
 * later is not documented, and hcs_ctr_report_exit reports once whichever comes first. */
static void report_if_exited(hcs_ctr *c)
{
    hcs_process_status st = {0};
    wc_err werr = {0};
    if (c->init && hcs_process_wait(c->init, 0, &st, &werr) == 0 && st.exited)
        hcs_ctr_report_exit(c, (int)st.exit_code);
}

static void on_process_exit(void *ctx, const char *id, const hcs_process_status *st)
{
    (void)id;
    hcs_ctr_report_exit(ctx, st->exited ? (int)st->exit_code : 255);
}

/* The system ending first (terminated, crashed, or adopted after a restart) has no exit
 * code of the init process to give. */
static void on_system_exit(void *ctx, const char *id, const hcs_system_exit *st)
{
    wc_info("hcs", "compute system exited", "id=%s status=0x%08lx type=%s", id,
            (unsigned long)(uint32_t)st->status, st->exit_type);
    hcs_ctr_report_exit(ctx, 255);
}

/* ---- our record, for hcs_adopt after a restart ---------------------------------------- */

static char *record_path(hcs_runtime *rt, const char *id)
{
    char name[160];
    snprintf(name, sizeof name, "%s.json", id);
    return wc_path_join(rt->state_dir, name);
}

/* Where its scratch is (mounted on the host or not), its spec, its init pid, and for a
 * Hyper-V container its pod (whose utility VM hosts it). */
static void write_record(hcs_ctr *c)
{
    char *path = record_path(c->rt, c->id);
    json_t *rec = json_pack("{s:s,s:O,s:I,s:b,s:s,s:b}", "scratch", c->scratch, "spec", c->spec,
                            "pid", (json_int_t)c->pid, "mounted", c->mounted, "sandbox",
                            c->sandbox_id, "hyperv", c->uvm != NULL);
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    wc_err err = {0};
    if (!text || wc_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        wc_warn("hcs", "cannot record container", "id=%s err=\"%s\"", c->id, err.msg);
    free(text);
    json_decref(rec);
    free(path);
}

static void read_record(hcs_ctr *c)
{
    char *path = record_path(c->rt, c->id);
    json_t *rec = json_load_file(path, 0, NULL);
    const char *scratch = json_string_value(json_object_get(rec, "scratch"));
    if (scratch) {
        c->scratch = wc_xstrdup(scratch);
        json_t *mounted = json_object_get(rec, "mounted"); /* older records: always mounted */
        c->mounted = mounted ? json_is_true(mounted) : 1;
    }
    const char *sandbox = json_string_value(json_object_get(rec, "sandbox"));
    if (sandbox && strlen(sandbox) < sizeof c->sandbox_id)
        snprintf(c->sandbox_id, sizeof c->sandbox_id, "%s", sandbox);
    c->hyperv_record = json_is_true(json_object_get(rec, "hyperv"));
    json_t *spec = json_object_get(rec, "spec");
    c->spec = spec ? json_incref(spec) : json_object();
    json_int_t pid = json_integer_value(json_object_get(rec, "pid"));
    c->pid = pid > 0 && pid <= UINT32_MAX ? (uint32_t)pid : 0;
    c->memory_limit = hcs_spec_resource(c->spec, "memory", "limit");
    json_decref(rec);
    free(path);
}

static void remove_record(hcs_ctr *c)
{
    char *path = record_path(c->rt, c->id);
    DeleteFileA(path);
    free(path);
}

void hcs_ctr_free(hcs_ctr *c)
{
    if (!c)
        return;
    hcs_stdio_close(&c->stdio);
    hcs_process_close(c->init);
    hcs_system_close(c->sys);
    hcs_job_free(c->job);
    json_decref(c->spec);
    free(c->scratch);
    free(c);
}

/* ---- create --------------------------------------------------------------------------- */

static int ctr_new(hcs_runtime *rt, const char *id, const char *sandbox_id, const json_t *spec,
                   const hcs_io *io, hcs_ctr **out, wc_err *err)
{
    if (strlen(id) >= sizeof((hcs_ctr *)0)->id ||
        strlen(sandbox_id) >= sizeof((hcs_ctr *)0)->sandbox_id)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "container id %s or pod id %s is too long", id,
                          sandbox_id);
    hcs_ctr *c = wc_xcalloc(1, sizeof *c);
    c->rt = rt;
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->sandbox_id, sizeof c->sandbox_id, "%s", sandbox_id);
    c->spec = json_deep_copy(spec);
    c->io = *io;
    c->memory_limit = hcs_spec_resource(spec, "memory", "limit");
    *out = c;
    return 0;
}

static void write_bundle(const char *bundle, const json_t *spec)
{
    char *path = wc_path_join(bundle, "config.json");
    char *text = json_dumps(spec, JSON_INDENT(2));
    wc_err err = {0};
    if (text && wc_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        wc_warn("hcs", "cannot write config.json", "path=%s err=\"%s\"", path, err.msg);
    free(text);
    free(path);
}

/* The scratch, and the spec's rootfs: the mounted volume, or the root inside the VM. */
static int prepare_rootfs(hcs_ctr *c, const hcs_rootfs *rootfs, int hyperv, wc_err *err)
{
    char *volume = NULL;
    char root[300];
    int rc = hyperv ? hcs_storage_create_hosted(c, rootfs, root, sizeof root, err)
                    : hcs_storage_create_mounted(c, rootfs, &volume, err);
    if (rc == 0)
        rc = hcs_spec_set_rootfs(c->spec, rootfs, hyperv ? root : volume, err);
    free(volume);
    return rc;
}

static int create_compute_system(hcs_ctr *c, const json_t *doc, wc_err *err)
{
    int rc = hcs_system_create(c->id, doc, HCS_DEFAULT_TIMEOUT_MS, &c->sys, err);
    if (rc == 0)
        rc = hcs_system_on_exit(c->sys, on_system_exit, c, err);
    return rc;
}

/* The gMSA identity's state for the container's document (borrowed from *instance). */
static const json_t *ccg_state(const json_t *instance)
{
    return instance ? json_object_get(instance, "CredentialGuard") : NULL;
}

/* Process isolation: the compute system on the host. */
static int create_on_host(hcs_ctr *c, const hcs_rootfs *rootfs, wc_err *err)
{
    hcs_layer_ids ids;
    json_t *doc = NULL, *ccg = NULL;
    int rc = hcs_layer_ids_of(rootfs, &ids, err);
    if (rc == 0)
        rc = hcs_ccg_register(c, 0, &ccg, err);
    if (rc == 0) {
        hcs_container_opts o = {.layer_ids = ids.v,
                                .n_layer_ids = ids.n,
                                .host_cpus = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS),
                                .wait_to_kill_service_ms = HCS_WAIT_TO_KILL_SERVICE_MS,
                                .credential_guard = ccg_state(ccg)};
        rc = hcs_doc_container(c->spec, &o, &doc, err);
    }
    if (rc == 0)
        rc = create_compute_system(c, doc, err);
    json_decref(doc);
    json_decref(ccg);
    hcs_layer_ids_clear(&ids);
    return rc;
}

/* A hosted container's gMSA identity: the instance (HvSocket transport) and its service
 * entry in the VM, before the container is put into it (hcsshim hcsoci.CreateContainer). */
static int hosted_ccg(hcs_ctr *c, hcs_uvm *vm, json_t **ccg, wc_err *err)
{
    int rc = hcs_ccg_register(c, 1, ccg, err);
    if (rc == 0 && *ccg)
        rc = hcs_uvm_hvsocket_service(vm, *ccg, err);
    return rc;
}

/* Hyper-V isolation: the container put into its pod's VM, then created there. On failure
 * c->uvm (when set) tells the caller what to undo with hcs_uvm_detach. */
static int create_hosted(hcs_ctr *c, const hcs_rootfs *rootfs, wc_err *err)
{
    hcs_uvm *vm = NULL;
    hcs_layer_ids ids = {0};
    hcs_hosted_plan plan = {0};
    json_t *ccg = NULL;
    const char *base_layer = rootfs->lower_dirs[rootfs->n_lower - 1];
    int rc = hcs_uvm_get(c->rt, c->sandbox_id, c->spec, base_layer, &vm, err);
    if (rc == 0)
        rc = hcs_layer_ids_of(rootfs, &ids, err);
    if (rc == 0)
        rc = hosted_ccg(c, vm, &ccg, err);
    if (rc == 0)
        rc = hcs_uvm_attach(vm, c, &ids, &plan, err);
    if (rc == 0 && ccg)
        rc = hcs_doc_set_credential_guard(plan.doc, ccg_state(ccg), err);
    if (rc == 0)
        rc = create_compute_system(c, plan.doc, err);
    if (rc < 0 && vm && !c->uvm)
        hcs_uvm_end_unused(c->rt, vm); /* the VM was made for this container alone */
    json_decref(ccg);
    hcs_hosted_plan_clear(&plan);
    hcs_layer_ids_clear(&ids);
    return rc;
}

/* Undoes a create: the compute system, then the container's part of its VM (the VM's
 * devices are in use until the system is gone), then its storage. */
static void undo_create(hcs_ctr *c)
{
    if (c->sys) {
        wc_err ignored = {0};
        hcs_system_terminate(c->sys, HCS_DEFAULT_TIMEOUT_MS, &ignored);
    }
    hcs_ccg_release(c);
    hcs_uvm_detach(c, 0);
    hcs_storage_release(c);
}

/* Storage, spec, compute system and pipes; on failure everything made here is undone. */
static int create_ctr(hcs_ctr *c, const char *bundle, const hcs_rootfs *rootfs, int hyperv,
                      wc_err *err)
{
    int rc = prepare_rootfs(c, rootfs, hyperv, err);
    if (rc == 0) {
        write_bundle(bundle, c->spec);
        rc = hyperv ? create_hosted(c, rootfs, err) : create_on_host(c, rootfs, err);
    }
    if (rc == 0)
        rc = hcs_stdio_make(&c->stdio, &c->io, c->id, err);
    if (rc < 0)
        undo_create(c);
    return rc;
}

/* A Hyper-V create holds the utility VMs' lock throughout. */
static int create_serialized(hcs_ctr *c, const char *bundle, const hcs_rootfs *rootfs, int hyperv,
                             wc_err *err)
{
    if (hyperv)
        AcquireSRWLockExclusive(&c->rt->uvms.mu);
    int rc = create_ctr(c, bundle, rootfs, hyperv, err);
    if (hyperv)
        ReleaseSRWLockExclusive(&c->rt->uvms.mu);
    return rc;
}

int hcs_create(hcs_runtime *rt, const char *id, const char *sandbox_id, const char *bundle,
               json_t *spec, const hcs_rootfs *given, const hcs_io *io, wc_err *err)
{
    if (hcs_spec_is_hostprocess(spec))
        return hcs_job_create(rt, id, sandbox_id, bundle, spec, given, io, err);
    hcs_rootfs fixed;
    char **owned = NULL;
    hcs_ctr *c = NULL;
    int hyperv = rt->hyperv || json_object_get(json_object_get(spec, "windows"), "hyperv");
    if (given)
        hcs_rootfs_windows_paths(given, &fixed, &owned);
    int rc = ctr_new(rt, id, sandbox_id, spec, io, &c, err);
    if (rc == 0)
        rc = create_serialized(c, bundle, given ? &fixed : NULL, hyperv, err);
    hcs_strv_free(owned);
    if (rc < 0) {
        hcs_ctr_free(c);
        return -1;
    }
    write_record(c);
    hcs_ctr_register(rt, c);
    return 0;
}

/* ---- start ---------------------------------------------------------------------------- */

/* The init process from spec.process, with the std pipes the container's io asks for. */
static int create_init(hcs_ctr *c, HANDLE std[3], wc_err *err)
{
    hcs_process_io pio = {
        .stdin_pipe = c->io.open_stdin, .stdout_pipe = 1, .stderr_pipe = !c->io.terminal};
    json_t *params = NULL;
    if (hcs_doc_process(json_object_get(c->spec, "process"), &pio, &params, err) < 0)
        return -1;
    int rc = hcs_process_create(c->sys, params, HCS_DEFAULT_TIMEOUT_MS, &c->init, std, err);
    json_decref(params);
    return rc;
}

/* The init process, its exit watched and its pipes pumped into ours. */
static int start_init(hcs_ctr *c, wc_err *err)
{
    HANDLE std[3];
    if (create_init(c, std, err) < 0)
        return -1;
    c->pid = hcs_process_pid(c->init);
    write_record(c); /* with the init pid, for hcs_adopt after a restart */
    if (hcs_process_on_exit(c->init, on_process_exit, c, err) < 0) {
        for (int i = 0; i < 3; i++)
            hcs_handle_close(&std[i]);
        return -1;
    }
    hcs_stdio_connect(&c->stdio, std);
    report_if_exited(c);
    return 0;
}

/* The compute system exists from hcs_create and its init process comes with hcs_start. */
int hcs_spawn(hcs_runtime *rt, const char *id, int *pid, wc_err *err)
{
    hcs_ctr *c;
    *pid = 0;
    return hcs_ctr_find_or_fail(rt, id, &c, err);
}

int hcs_start(hcs_runtime *rt, const char *id, wc_err *err)
{
    hcs_ctr *c;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (c->job)
        return hcs_job_start(c, err);
    if (c->started)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s was already started", id);
    int rc = hcs_system_start(c->sys, HCS_DEFAULT_TIMEOUT_MS, err);
    if (rc == 0) {
        c->started = 1;
        rc = start_init(c, err);
        if (rc < 0) {
            wc_err ignored = {0};
            hcs_system_terminate(c->sys, HCS_DEFAULT_TIMEOUT_MS, &ignored);
        }
    }
    if (rc < 0)
        hcs_stdio_abandon(&c->stdio); /* the pod model's log readers wait for the end */
    return rc;
}

/* ---- kill / delete -------------------------------------------------------------------- */

int hcs_kill(hcs_runtime *rt, const char *id, int sig, int all, wc_err *err)
{
    hcs_ctr *c;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (c->job)
        return hcs_job_kill(c, sig, all, err);
    hcs_signal s;
    int r = hcs_signal_from_posix(sig, &s, err);
    if (r < 0)
        return -1;
    if (r == 1 || !c->init) /* SIGKILL, or nothing to signal (adopted): end the system */
        return all || !c->init ? hcs_system_terminate(c->sys, HCS_DEFAULT_TIMEOUT_MS, err)
                               : hcs_process_terminate(c->init, HCS_DEFAULT_TIMEOUT_MS, err);
    return hcs_process_signal(c->init, s, HCS_DEFAULT_TIMEOUT_MS, err);
}

/* Closes our handles of the init process and the system: no more callbacks after this. */
static void close_compute_system(hcs_ctr *c)
{
    hcs_process_close(c->init);
    c->init = NULL;
    hcs_system_close(c->sys);
    c->sys = NULL;
}

/* The compute system stays until hcs_delete: its storage and the VM's shares go with it. */
int hcs_release(hcs_runtime *rt, const char *id, wc_err *err)
{
    (void)rt;
    (void)id;
    (void)err;
    return 0;
}

/* A Hyper-V container that had ended before wincrid restarted (so was not adopted): what
 * our record says it holds is released all the same, its part of its pod's VM (reopened by
 * id when need be) and its scratch. */
static void release_unadopted(hcs_runtime *rt, const char *id)
{
    if (strlen(id) >= sizeof((hcs_ctr *)0)->id)
        return;
    hcs_ctr *c = wc_xcalloc(1, sizeof *c);
    c->rt = rt;
    snprintf(c->id, sizeof c->id, "%s", id);
    read_record(c);
    wc_err e = {0};
    if (c->hyperv_record && hcs_uvm_adopt(c, &e) == 0) {
        AcquireSRWLockExclusive(&rt->uvms.mu);
        hcs_uvm_detach(c, HCS_UVM_STOP_GRACE_MS);
        ReleaseSRWLockExclusive(&rt->uvms.mu);
    } else if (c->hyperv_record) {
        wc_warn("hcs", "cannot release a container from its utility VM", "id=%s err=\"%s\"", id,
                e.msg);
    }
    if (c->hyperv_record) {
        hcs_storage_release(c);
        remove_record(c);
    }
    hcs_ctr_free(c);
}

int hcs_delete(hcs_runtime *rt, const char *id, wc_err *err)
{
    hcs_ctr *c = hcs_ctr_find(rt, id);
    if (!c && hcs_job_adopt(rt, id, err) > 0) /* a HostProcess container not adopted */
        c = hcs_ctr_find(rt, id);
    if (c && c->job)
        return hcs_job_delete(c, err);
    if (!c) {
        /* Not ours (any more): an orphan from an earlier run is removed all the same. */
        if (hcs_remove_orphan(id, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
            return -1;
        release_unadopted(rt, id);
        return 0;
    }
    if (c->sys && hcs_system_terminate(c->sys, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
        return -1;
    hcs_ctr_unregister(rt, c);
    close_compute_system(c);
    hcs_ccg_release(c); /* the instance outlives the container otherwise */
    AcquireSRWLockExclusive(&rt->uvms.mu);
    hcs_uvm_detach(c, HCS_UVM_STOP_GRACE_MS); /* before its scratch goes: the VM holds it */
    ReleaseSRWLockExclusive(&rt->uvms.mu);
    hcs_storage_release(c);
    remove_record(c);
    hcs_ctr_free(c);
    return 0;
}

/* ---- adopt ---------------------------------------------------------------------------- */

/* The init process is still there: reopened, a stop signals it with its grace and its exit
 * code is known, as before the restart. */
static void reopen_init(hcs_ctr *c)
{
    wc_err perr = {0};
    if (c->pid && (hcs_process_open(c->sys, c->pid, &c->init, &perr) < 0 ||
                   hcs_process_on_exit(c->init, on_process_exit, c, &perr) < 0)) {
        wc_warn("hcs", "cannot reopen a container's init process", "id=%s pid=%lu err=\"%s\"",
                c->id, (unsigned long)c->pid, perr.msg);
        hcs_process_close(c->init);
        c->init = NULL;
    }
}

int hcs_adopt(hcs_runtime *rt, const char *id, wc_err *err)
{
    if (hcs_ctr_find(rt, id))
        return 0;
    int job = hcs_job_adopt(rt, id, err);
    if (job != 0)
        return job < 0 ? -1 : 0;
    hcs_ctr *c = wc_xcalloc(1, sizeof *c);
    c->rt = rt;
    snprintf(c->id, sizeof c->id, "%s", id);
    c->adopted = c->started = 1;
    if (hcs_system_open(id, &c->sys, err) < 0 ||
        hcs_system_on_exit(c->sys, on_system_exit, c, err) < 0) {
        hcs_ctr_free(c);
        return -1;
    }
    read_record(c);
    reopen_init(c);
    wc_err uerr = {0};
    if (c->hyperv_record && hcs_uvm_adopt(c, &uerr) < 0)
        wc_warn("hcs", "cannot rejoin a container to its utility VM", "id=%s pod=%s err=\"%s\"",
                c->id, c->sandbox_id, uerr.msg);
    hcs_ctr_register(rt, c);
    /* It may have ended while nobody watched: its exit code is still there to report. */
    report_if_exited(c);
    return 0;
}
