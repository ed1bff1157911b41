/* The Hyper-V utility VM of a pod, as hcsshim's internal/uvm owns it: one per pod, made at
 * the pod's first container create (booting from the base layer's UtilityVM\Files, with its
 * own scratch copied from SystemTemplate.vhdx), kept in rt->uvms by sandbox id. Each
 * container's layers and scratch are added to the VM before its hosted compute system is
 * created; delete takes them out again, and the VM goes with the pod's last container or
 * with hcs_pod_release. A container's scratch is never mounted on the host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hcs/runtime_win32.h"
#include "image/wclayer.h"

struct hcs_uvm {
    char sandbox_id[128];
    char id[140];      /* its compute system's id */
    char *scratch_dir; /* holds the VM's sandbox.vhdx */
    char *record;      /* our record of it, for the wincrid after a restart */
    hcs_system *sys;
    hcs_uvm_devices *devices; /* what its containers put into it */
    unsigned cpus;            /* the clamp for its containers' Processor.Count */
    size_t n_ctrs;
};

unsigned hcs_uvm_cpus(const hcs_uvm *vm)
{
    return vm->cpus;
}

/* ---- names and the VM's own scratch ----------------------------------------------------- */

/* The VM's compute system id, hcsshim's "<pod>@vm". */
static void uvm_id_of(const char *sandbox_id, char *out, size_t size)
{
    snprintf(out, size, "%s@vm", sandbox_id);
}

static char *uvm_scratch_dir(const hcs_runtime *rt, const char *sandbox_id)
{
    char name[160];
    snprintf(name, sizeof name, "uvm-%s", sandbox_id);
    return wc_path_join(rt->state_dir, name);
}

static char *uvm_record_path(const hcs_runtime *rt, const char *sandbox_id)
{
    char name[160];
    snprintf(name, sizeof name, "uvm-%s.json", sandbox_id);
    return wc_path_join(rt->state_dir, name);
}

static void remove_uvm_scratch(const char *dir)
{
    char *vhdx = wc_path_join(dir, "sandbox.vhdx");
    if (!DeleteFileA(vhdx) && GetLastError() != ERROR_FILE_NOT_FOUND &&
        GetLastError() != ERROR_PATH_NOT_FOUND)
        wc_warn("hcs", "cannot remove utility VM scratch", "path=%s error=%lu", vhdx,
                GetLastError());
    RemoveDirectoryA(dir);
    free(vhdx);
}

/* ---- the VM record and the list --------------------------------------------------------- */

static void uvm_free(hcs_uvm *vm)
{
    if (!vm)
        return;
    hcs_system_close(vm->sys);
    hcs_uvm_devices_free(vm->devices);
    free(vm->scratch_dir);
    free(vm->record);
    free(vm);
}

static hcs_uvm *uvm_new(const hcs_runtime *rt, const char *sandbox_id)
{
    hcs_uvm *vm = wc_xcalloc(1, sizeof *vm);
    snprintf(vm->sandbox_id, sizeof vm->sandbox_id, "%s", sandbox_id);
    uvm_id_of(sandbox_id, vm->id, sizeof vm->id);
    vm->scratch_dir = uvm_scratch_dir(rt, sandbox_id);
    vm->record = uvm_record_path(rt, sandbox_id);
    vm->devices = hcs_uvm_devices_new(vm->id);
    return vm;
}

void hcs_uvm_list_init(hcs_uvm_list *l)
{
    memset(l, 0, sizeof *l);
    InitializeSRWLock(&l->mu);
}

void hcs_uvm_list_close(hcs_uvm_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        uvm_free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static hcs_uvm *list_find(const hcs_uvm_list *l, const char *sandbox_id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i]->sandbox_id, sandbox_id) == 0)
            return l->v[i];
    return NULL;
}

static void list_add(hcs_uvm_list *l, hcs_uvm *vm)
{
    l->v = wc_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = vm;
}

static void list_drop(hcs_uvm_list *l, const hcs_uvm *vm)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == vm) {
            l->v[i] = l->v[--l->n];
            break;
        }
}

/* ---- the record -------------------------------------------------------------------------- */

/* What a restarted wincrid needs to go on with the VM: its processor count and its devices
 * (the shares and LUNs its containers hold). Written after every change. */
static void uvm_save(const hcs_uvm *vm)
{
    json_t *rec = json_pack("{s:s,s:I,s:o}", "id", vm->id, "cpus", (json_int_t)vm->cpus, "devices",
                            hcs_uvm_devices_save(vm->devices));
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    wc_err err = {0};
    if (!text || wc_write_file_atomic(vm->record, text, strlen(text), 0600, &err) < 0)
        wc_warn("hcs", "cannot record utility VM", "id=%s err=\"%s\"", vm->id,
                text ? err.msg : "its devices could not be encoded");
    free(text);
    json_decref(rec);
}

static void on_uvm_exit(void *ctx, const char *id, const hcs_system_exit *st);

/* The pod's VM from before a restart, opened by id as hcsshim's OpenComputeSystem does
 * (internal/hcs/system.go), with its devices from our record. *out NULL (and 0) when there
 * is no record or no such VM any more. */
static int uvm_reopen(hcs_runtime *rt, const char *sandbox_id, hcs_uvm **out, wc_err *err)
{
    *out = NULL;
    hcs_uvm *vm = uvm_new(rt, sandbox_id);
    json_t *rec = json_load_file(vm->record, 0, NULL);
    hcs_uvm_devices *devices = NULL;
    json_int_t cpus = json_integer_value(json_object_get(rec, "cpus"));
    int rc = 0;
    if (!rec) {
        uvm_free(vm);
        return 0;
    }
    if (hcs_uvm_devices_load(json_object_get(rec, "devices"), &devices, err) < 0 ||
        strcmp(hcs_uvm_devices_id(devices), vm->id) != 0) {
        rc = wc_err_set(err, WC_INTERNAL, "utility VM %s: its record %s is not usable", vm->id,
                        vm->record);
    } else if (hcs_system_open(vm->id, &vm->sys, err) < 0) {
        if (err->code == WC_NOT_FOUND) { /* it is gone: so is what the record says */
            wc_err_clear(err);
            DeleteFileA(vm->record);
            remove_uvm_scratch(vm->scratch_dir);
        } else {
            rc = -1;
        }
    } else if (hcs_system_on_exit(vm->sys, on_uvm_exit, NULL, err) < 0) {
        rc = -1;
    }
    json_decref(rec);
    if (rc == 0 && vm->sys) {
        hcs_uvm_devices_free(vm->devices);
        vm->devices = devices;
        devices = NULL;
        vm->cpus = cpus > 0 ? (unsigned)cpus : HCS_UVM_DEFAULT_CPUS;
        list_add(&rt->uvms, vm);
        wc_info("hcs", "utility VM reopened", "pod=%s id=%s", sandbox_id, vm->id);
        *out = vm;
        return 0;
    }
    hcs_uvm_devices_free(devices);
    uvm_free(vm);
    return rc < 0 ? wc_err_prefix(err, "reopening the utility VM of pod %s", sandbox_id) : 0;
}

int hcs_uvm_adopt(hcs_ctr *c, wc_err *err)
{
    AcquireSRWLockExclusive(&c->rt->uvms.mu);
    hcs_uvm *vm = list_find(&c->rt->uvms, c->sandbox_id);
    int rc = vm ? 0 : uvm_reopen(c->rt, c->sandbox_id, &vm, err);
    if (rc == 0 && !vm)
        rc = wc_err_set(err, WC_NOT_FOUND, "container %s: the utility VM of pod %s is gone", c->id,
                        c->sandbox_id);
    if (rc == 0) {
        c->uvm = vm;
        vm->n_ctrs++;
    }
    ReleaseSRWLockExclusive(&c->rt->uvms.mu);
    return rc;
}

/* ---- boot and end ----------------------------------------------------------------------- */

static void on_uvm_exit(void *ctx, const char *id, const hcs_system_exit *st)
{
    (void)ctx;
    wc_info("hcs", "utility VM exited", "id=%s status=0x%08lx type=%s", id,
            (unsigned long)(uint32_t)st->status, st->exit_type);
}

/* Stops the VM (grace_ms 0: terminates it) and removes its scratch. */
static int uvm_stop(hcs_uvm *vm, DWORD grace_ms, wc_err *err)
{
    int rc = 0;
    if (vm->sys) {
        rc = hcs_system_stop(vm->sys, NULL, grace_ms, err);
        if (rc < 0)
            wc_err_prefix(err, "utility VM %s", vm->id);
        hcs_system_close(vm->sys);
        vm->sys = NULL;
    }
    DeleteFileA(vm->record);
    remove_uvm_scratch(vm->scratch_dir);
    return rc;
}

/* Ends the VM and forgets it; its containers no longer point at it. */
static int uvm_end(hcs_runtime *rt, hcs_uvm *vm, DWORD grace_ms, wc_err *err)
{
    list_drop(&rt->uvms, vm);
    hcs_ctrs_forget_uvm(rt, vm);
    int rc = uvm_stop(vm, grace_ms, err);
    uvm_free(vm);
    return rc;
}

static int uvm_create_system(hcs_uvm *vm, const hcs_uvm_opts *o, wc_err *err)
{
    json_t *doc = NULL;
    int rc = hcs_doc_uvm(o, &doc, err);
    if (rc == 0)
        rc = hcs_system_create(vm->id, doc, HCS_DEFAULT_TIMEOUT_MS, &vm->sys, err);
    if (rc == 0)
        rc = hcs_system_on_exit(vm->sys, on_uvm_exit, NULL, err);
    if (rc == 0)
        rc = hcs_system_start(vm->sys, HCS_DEFAULT_TIMEOUT_MS, err);
    json_decref(doc);
    return rc;
}

/* The VM's processor count: what the pod asked for, else the default, at most the host's. */
static unsigned effective_cpus(const hcs_uvm_opts *o)
{
    unsigned cpus = o->cpus ? o->cpus : HCS_UVM_DEFAULT_CPUS;
    return o->host_cpus && cpus > o->host_cpus ? o->host_cpus : cpus;
}

/* Creates and starts the VM booting from base_layer's UtilityVM\Files, sized by the pod's
 * annotations on spec. On failure the VM is gone (uvm_stop). */
static int uvm_boot(hcs_uvm *vm, const json_t *spec, const char *base_layer, wc_err *err)
{
    char *vhdx = wc_path_join(vm->scratch_dir, "sandbox.vhdx");
    hcs_uvm_opts o = {.uvm_folder = base_layer,
                      .scratch_vhdx = vhdx,
                      .host_cpus = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS)};
    int rc = hcs_uvm_opts_from_annotations(spec, &o, err);
    if (rc == 0)
        rc = wc_mkdir_p(vm->scratch_dir, 0700, err);
    if (rc == 0)
        rc = img_wcl_create_uvm_scratch(vhdx, base_layer, vm->id, err);
    if (rc == 0)
        rc = uvm_create_system(vm, &o, err);
    if (rc == 0)
        rc = hcs_uvm_add_network(vm->sys, spec, err);
    free(vhdx);
    vm->cpus = effective_cpus(&o);
    if (rc < 0) {
        wc_err_prefix(err, "utility VM %s", vm->id);
        wc_err ignored = {0};
        uvm_stop(vm, 0, &ignored);
    }
    return rc;
}

int hcs_uvm_get(hcs_runtime *rt, const char *sandbox_id, const json_t *spec, const char *base_layer,
                hcs_uvm **out, wc_err *err)
{
    if (!*sandbox_id || strlen(sandbox_id) >= sizeof((hcs_uvm *)0)->sandbox_id)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "a Hyper-V container needs its pod's id");
    *out = list_find(&rt->uvms, sandbox_id);
    if (*out)
        return 0;
    if (uvm_reopen(rt, sandbox_id, out, err) < 0)
        return -1;
    if (*out)
        return 0;
    hcs_uvm *vm = uvm_new(rt, sandbox_id);
    if (uvm_boot(vm, spec, base_layer, err) < 0) {
        uvm_free(vm);
        return -1;
    }
    list_add(&rt->uvms, vm);
    wc_info("hcs", "utility VM started", "pod=%s id=%s cpus=%u", sandbox_id, vm->id, vm->cpus);
    uvm_save(vm);
    *out = vm;
    return 0;
}

void hcs_uvm_end_unused(hcs_runtime *rt, hcs_uvm *vm)
{
    if (vm->n_ctrs > 0)
        return;
    wc_err ignored = {0};
    uvm_end(rt, vm, 0, &ignored);
}

/* ---- containers in the VM --------------------------------------------------------------- */

/* The disk a request attaches over SCSI, else NULL. */
static const char *scsi_add_path(const json_t *r)
{
    const char *rp = json_string_value(json_object_get(r, "ResourcePath"));
    const char *rt = json_string_value(json_object_get(r, "RequestType"));
    if (!rp || !rt || strncmp(rp, "VirtualMachine/Devices/Scsi/", 28) != 0 || strcmp(rt, "Add"))
        return NULL;
    return json_string_value(json_object_get(json_object_get(r, "Settings"), "Path"));
}

/* Sends each request in turn; the first failure stops (HCS's message in err). A disk is
 * granted to the VM right before its SCSI attach, as hcsshim's addSCSIActual does
 * (internal/uvm/scsi.go: wclayer.GrantVmAccess, then the modify). */
static int uvm_modify(hcs_uvm *vm, const json_t *requests, wc_err *err)
{
    size_t i;
    json_t *r;
    json_array_foreach(requests, i, r)
    {
        const char *disk = scsi_add_path(r);
        if (disk && hcs_grant_vm_access(vm->id, disk, err) < 0)
            return wc_err_prefix(err, "utility VM %s, request %u", vm->id, (unsigned)i);
        if (hcs_system_modify(vm->sys, r, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
            return wc_err_prefix(err, "utility VM %s, request %u", vm->id, (unsigned)i);
    }
    return 0;
}

/* A mount source that exists and is not a directory (what hcsshim's AddVSMB shares as a
 * single file); anything else is shared as a directory, and a missing path fails there. */
static int host_is_file(const char *path)
{
    DWORD a = GetFileAttributesA(path);
    return a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY);
}

int hcs_uvm_hvsocket_service(hcs_uvm *vm, const json_t *instance, wc_err *err)
{
    json_t *req = NULL;
    int rc = hcs_doc_uvm_hvsocket_service(instance, &req, err);
    if (rc == 0 && hcs_system_modify(vm->sys, req, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
        rc = wc_err_prefix(err, "utility VM %s, HvSocket service", vm->id);
    json_decref(req);
    return rc;
}

int hcs_uvm_attach(hcs_uvm *vm, hcs_ctr *c, const hcs_layer_ids *ids, hcs_hosted_plan *plan,
                   wc_err *err)
{
    hcs_container_opts o = {.layer_ids = ids->v,
                            .n_layer_ids = ids->n,
                            .host_cpus = vm->cpus,
                            .wait_to_kill_service_ms = HCS_WAIT_TO_KILL_SERVICE_MS,
                            .is_file = host_is_file};
    if (hcs_uvm_plan_container(vm->devices, c->id, c->spec, &o, plan, err) < 0)
        return -1;
    c->uvm = vm;
    vm->n_ctrs++;
    uvm_save(vm); /* before the requests: a restart then knows what they may have added */
    return uvm_modify(vm, plan->modify, err);
}

/* The requests that take the container out of the VM. */
static json_t *removal_requests(hcs_uvm *vm, const hcs_ctr *c)
{
    json_t *reqs = json_array();
    wc_err e = {0};
    if (hcs_uvm_release_container(vm->devices, c->id, c->spec, reqs, &e) < 0)
        wc_warn("hcs", "cannot release container from utility VM", "id=%s uvm=%s err=\"%s\"", c->id,
                vm->id, e.msg);
    return reqs;
}

/* Every removal is tried; a refusal is logged and the next one sent. */
static void send_removals(hcs_uvm *vm, const char *ctr_id, const json_t *requests)
{
    size_t i;
    json_t *r;
    json_array_foreach(requests, i, r)
    {
        wc_err e = {0};
        if (vm->sys && hcs_system_modify(vm->sys, r, HCS_DEFAULT_TIMEOUT_MS, &e) < 0)
            wc_warn("hcs", "utility VM refused a removal", "id=%s uvm=%s err=\"%s\"", ctr_id,
                    vm->id, e.msg);
    }
}

void hcs_uvm_detach(hcs_ctr *c, DWORD grace_ms)
{
    hcs_uvm *vm = c->uvm;
    if (!vm)
        return;
    c->uvm = NULL;
    json_t *reqs = removal_requests(vm, c);
    send_removals(vm, c->id, reqs);
    json_decref(reqs);
    if (--vm->n_ctrs > 0) {
        uvm_save(vm);
        return;
    }
    wc_err e = {0};
    if (uvm_end(c->rt, vm, grace_ms, &e) < 0)
        wc_warn("hcs", "cannot end utility VM", "container=%s err=\"%s\"", c->id, e.msg);
}

/* ---- the pod's end ---------------------------------------------------------------------- */

/* A VM we hold no record of (wincrid restarted since it was made) is removed by its id. */
static int release_unknown_uvm(hcs_runtime *rt, const char *sandbox_id, wc_err *err)
{
    char uvm_id[140];
    uvm_id_of(sandbox_id, uvm_id, sizeof uvm_id);
    if (hcs_remove_orphan(uvm_id, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
        return wc_err_prefix(err, "utility VM %s", uvm_id);
    char *dir = uvm_scratch_dir(rt, sandbox_id), *rec = uvm_record_path(rt, sandbox_id);
    if (dir)
        remove_uvm_scratch(dir);
    if (rec)
        DeleteFileA(rec);
    free(dir);
    free(rec);
    return 0;
}

int hcs_pod_release(hcs_runtime *rt, const char *sandbox_id, wc_err *err)
{
    if (!rt->hyperv || !sandbox_id || !*sandbox_id)
        return 0;
    AcquireSRWLockExclusive(&rt->uvms.mu);
    hcs_uvm *vm = list_find(&rt->uvms, sandbox_id);
    int rc =
        vm ? uvm_end(rt, vm, HCS_UVM_STOP_GRACE_MS, err) : release_unknown_uvm(rt, sandbox_id, err);
    ReleaseSRWLockExclusive(&rt->uvms.mu);
    return rc;
}
