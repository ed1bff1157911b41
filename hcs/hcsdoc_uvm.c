/* Hyper-V isolation: the utility VM document, the per-container HcsModifyComputeSystem
 * requests and the hosted container document.
 *
 * Shapes follow hcsshim: CreateWCOW (internal/uvm/create_wcow.go), AddVSMB and
 * DefaultVSMBOptions (internal/uvm/vsmb.go), AddSCSI (internal/uvm/scsi.go),
 * CombineLayersWCOW (internal/uvm/combine_layers.go), addNIC (internal/uvm/network.go),
 * MountWCOWLayers (internal/layers/layers.go) and the v2 Xenon branch of
 * createWindowsContainerDocument (internal/hcsoci/hcsdoc_wcow.go). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcs/hcsdoc_int.h"

#define PIPE_PREFIX "\\\\.\\pipe\\"
#define VSMB_SHARES_PATH "VirtualMachine/Devices/VirtualSmb/Shares"
#define BOOT_PATH "\\EFI\\Microsoft\\Boot\\bootmgfw.efi"
/* Administrators and SYSTEM may bind Hyper-V sockets (for the guest compute service). */
#define HVSOCKET_SDDL "D:P(A;;FA;;;SY)(A;;FA;;;BA)"

/* a + "\" + b without doubling the separator. */
static void join(char *buf, size_t size, const char *a, const char *b)
{
    size_t n = strlen(a);
    snprintf(buf, size, "%s%s%s", a, (n && (a[n - 1] == '\\' || a[n - 1] == '/')) ? "" : "\\", b);
}

/* A numeric pod annotation within [lo, hi] (hcsshim internal/oci/uvm.go reads these with
 * ParseAnnotationsUint32/64; the ranges are those pkg/annotations documents). */
static int uvm_annotation_range(const json_t *spec, const char *key, uint64_t lo, uint64_t hi,
                                uint64_t *v, wc_err *err)
{
    int r = hd_annotation_u64(spec, key, v, err);
    if (r == 1 && (*v < lo || *v > hi))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "annotation %s: %llu is outside %llu..%llu",
                          key, (unsigned long long)*v, (unsigned long long)lo,
                          (unsigned long long)hi);
    return r;
}

int hcs_uvm_opts_from_annotations(const json_t *spec_or_annotations, hcs_uvm_opts *o, wc_err *err)
{
    /* Accept either a spec (with .annotations) or a bare annotation object. */
    json_t *wrap = NULL;
    const json_t *spec = spec_or_annotations;
    if (spec && !json_object_get(spec, "annotations")) {
        wrap = json_pack("{s:O}", "annotations", (json_t *)spec_or_annotations);
        spec = wrap;
    }
    uint64_t v;
    int r = hd_annotation_u64(spec, HCS_ANNOTATION_UVM_MEMORY, &v, err);
    if (r == 1) {
        if (v == 0 || v > UINT32_MAX) {
            r = wc_err_set(err, WC_INVALID_ARGUMENT, "annotation %s: %llu MB is out of range",
                           HCS_ANNOTATION_UVM_MEMORY, (unsigned long long)v);
        } else {
            o->memory_mb = (unsigned)v;
        }
    }
    if (r >= 0) {
        r = hd_annotation_u64(spec, HCS_ANNOTATION_UVM_CPUS, &v, err);
        if (r == 1) {
            if (v == 0 || v > 1024)
                r = wc_err_set(err, WC_INVALID_ARGUMENT, "annotation %s: %llu is out of range",
                               HCS_ANNOTATION_UVM_CPUS, (unsigned long long)v);
            else
                o->cpus = (unsigned)v;
        }
    }
    if (r >= 0)
        r = uvm_annotation_range(spec, HCS_ANNOTATION_UVM_CPU_LIMIT, 1, 100000, &v, err);
    if (r == 1)
        o->cpu_limit = (unsigned)v;
    if (r >= 0)
        r = uvm_annotation_range(spec, HCS_ANNOTATION_UVM_CPU_WEIGHT, 0, 10000, &v, err);
    if (r == 1)
        o->cpu_weight = (unsigned)v;
    if (r >= 0)
        r = uvm_annotation_range(spec, HCS_ANNOTATION_UVM_STORAGE_IOPS, 0, INT64_MAX, &v, err);
    if (r == 1)
        o->storage_iops = v;
    if (r >= 0)
        r = uvm_annotation_range(spec, HCS_ANNOTATION_UVM_STORAGE_BPS, 0, INT64_MAX, &v, err);
    if (r == 1)
        o->storage_bps = v;
    json_t *dcn =
        json_object_get(hd_obj(spec, "annotations"), HCS_ANNOTATION_UVM_NO_COMPARTMENT_NS);
    if (r >= 0 && dcn) {
        const char *b = json_string_value(dcn);
        if (b && (strcmp(b, "true") == 0 || strcmp(b, "1") == 0))
            o->disable_compartment_namespace = 1;
        else if (!b || (strcmp(b, "false") != 0 && strcmp(b, "0") != 0))
            r = wc_err_set(err, WC_INVALID_ARGUMENT, "annotation %s: expected true or false",
                           HCS_ANNOTATION_UVM_NO_COMPARTMENT_NS);
    }
    json_decref(wrap);
    return r < 0 ? -1 : 0;
}

/* VirtualSmbShareOptions for a read-only share (DefaultVSMBOptions(true)), plus
 * TakeBackupPrivilege for layers and the OS share. */
static json_t *vsmb_options(int read_only, int backup_privilege)
{
    json_t *o = json_object();
    int fail = 0;
    hd_set_true(o, "ReadOnly", read_only, &fail);
    hd_set_true(o, "PseudoOplocks", read_only, &fail);
    hd_set_true(o, "TakeBackupPrivilege", backup_privilege, &fail);
    hd_set_true(o, "CacheIo", read_only, &fail);
    hd_set_true(o, "ShareRead", read_only, &fail);
    if (fail) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int hcs_doc_uvm(const hcs_uvm_opts *o, json_t **out, wc_err *err)
{
    *out = NULL;
    if (!o || !o->uvm_folder || !*o->uvm_folder)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "utility VM: the base layer folder holding UtilityVM\\Files is required");
    if (!o->scratch_vhdx || !*o->scratch_vhdx)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "utility VM: a scratch VHDX path is required");
    unsigned mem = o->memory_mb ? o->memory_mb : HCS_UVM_DEFAULT_MEMORY_MB;
    unsigned cpus = o->cpus ? o->cpus : HCS_UVM_DEFAULT_CPUS;
    if (o->host_cpus && cpus > o->host_cpus)
        cpus = o->host_cpus;
    char files[1024];
    join(files, sizeof files, o->uvm_folder, "UtilityVM\\Files");

    int fail = 0;
    json_t *vm = json_object();
    hd_set(vm, "StopOnReset", json_true(), &fail);
    hd_set(vm, "Chipset",
           json_pack("{s:{s:{s:s,s:s}}}", "Uefi", "BootThis", "DevicePath", BOOT_PATH, "DeviceType",
                     "VmbFs"),
           &fail);
    /* Memory is backed by the host's pageable memory (hcsshim's default AllowOvercommit),
     * which is what makes the hot hint usable. */
    hd_set(vm, "ComputeTopology",
           json_pack("{s:{s:I,s:b,s:b},s:{s:I}}", "Memory", "SizeInMB", (json_int_t)mem,
                     "AllowOvercommit", 1, "EnableHotHint", 1, "Processor", "Count",
                     (json_int_t)cpus),
           &fail);
    json_t *proc = json_object_get(json_object_get(vm, "ComputeTopology"), "Processor");
    if (proc) {
        hd_set_uint(proc, "Limit", o->cpu_limit, &fail);
        hd_set_uint(proc, "Weight", o->cpu_weight, &fail);
    }
    /* hcsshim's workaround for SMB shares reached from inside the VM: GNS namespaces the
     * network compartment when this value is set (unless the pod opts out). */
    if (!o->disable_compartment_namespace)
        hd_set(vm, "RegistryChanges",
               json_pack("{s:[{s:{s:s,s:s},s:s,s:s,s:i}]}", "AddValues", "Key", "Hive", "System",
                         "Name", "CurrentControlSet\\Services\\gns", "Name",
                         "EnableCompartmentNamespace", "Type", "DWord", "DWordValue", 1),
               &fail);
    if (o->storage_iops || o->storage_bps) {
        json_t *qos = json_object();
        hd_set_uint(qos, "IopsMaximum", o->storage_iops, &fail);
        hd_set_uint(qos, "BandwidthMaximum", o->storage_bps, &fail);
        hd_set(vm, "StorageQoS", qos, &fail);
    }
    hd_set(vm, "GuestConnection", json_object(), &fail);
    json_t *devices = json_object();
    hd_set(devices, "Scsi",
           json_pack("{s:{s:{s:{s:s,s:s}}}}", "0", "Attachments", "0", "Path", o->scratch_vhdx,
                     "Type", "VirtualDisk"),
           &fail);
    hd_set(devices, "HvSocket",
           json_pack("{s:{s:s}}", "HvSocketConfig", "DefaultBindSecurityDescriptor", HVSOCKET_SDDL),
           &fail);
    json_t *share = json_pack("{s:s,s:s}", "Name", "os", "Path", files);
    if (share)
        hd_set(share, "Options", vsmb_options(1, 1), &fail);
    hd_set(devices, "VirtualSmb",
           json_pack("{s:i,s:[o]}", "DirectFileMappingInMB", 1024, "Shares", share), &fail);
    hd_set(vm, "Devices", devices, &fail);

    json_t *doc = json_object();
    hd_set_str(doc, "Owner", o->owner ? o->owner : HCS_OWNER, &fail);
    hd_set(doc, "SchemaVersion", hd_schema_v21(), &fail);
    hd_set(doc, "ShouldTerminateOnLastHandleClosed", json_false(), &fail);
    hd_set(doc, "VirtualMachine", vm, &fail);
    if (fail) {
        json_decref(doc);
        return hd_build_failed(err, "utility VM document");
    }
    *out = doc;
    return 0;
}

/* ---- bookkeeping ------------------------------------------------------------------------ */

static void share_clear(hd_share *s)
{
    free(s->host_path);
    for (size_t i = 0; i < s->n_allowed; i++)
        free(s->allowed[i]);
    free(s->allowed);
}

hcs_uvm_devices *hcs_uvm_devices_new(const char *id)
{
    hcs_uvm_devices *u = wc_xcalloc(1, sizeof *u);
    u->id = wc_xstrdup(id ? id : "");
    u->lun_owner[0] = wc_xstrdup("");
    return u;
}

void hcs_uvm_devices_free(hcs_uvm_devices *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n_shares; i++)
        share_clear(&u->shares[i]);
    free(u->shares);
    for (int i = 0; i < HD_MAX_LUNS; i++)
        free(u->lun_owner[i]);
    free(u->id);
    free(u);
}

json_t *hcs_uvm_devices_save(const hcs_uvm_devices *u)
{
    int fail = 0;
    json_t *shares = json_array(), *luns = json_object();
    for (size_t i = 0; i < u->n_shares; i++) {
        const hd_share *s = &u->shares[i];
        json_t *files = json_array();
        for (size_t k = 0; k < s->n_allowed; k++)
            hd_push(files, json_string(s->allowed[k]), &fail);
        hd_push(shares,
                json_pack("{s:s,s:s,s:I,s:b,s:o}", "name", s->name, "path", s->host_path, "refs",
                          (json_int_t)s->refs, "file", s->file_share, "allowed", files),
                &fail);
    }
    for (int l = 1; l < HD_MAX_LUNS; l++) {
        char key[16];
        snprintf(key, sizeof key, "%d", l);
        if (u->lun_owner[l])
            hd_set_str(luns, key, u->lun_owner[l], &fail);
    }
    json_t *out = json_pack("{s:s,s:I,s:o,s:o}", "id", u->id, "vsmb_counter",
                            (json_int_t)u->vsmb_counter, "shares", shares, "luns", luns);
    if (!out || fail) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* One saved share into u (already sized). 0, or -1 when the record is bad. */
static int load_share(hcs_uvm_devices *u, const json_t *j)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *path = json_string_value(json_object_get(j, "path"));
    json_int_t refs = json_integer_value(json_object_get(j, "refs"));
    json_t *allowed = json_object_get(j, "allowed");
    if (!name || strlen(name) >= sizeof u->shares[0].name || !path || refs <= 0 ||
        !json_is_array(allowed))
        return -1;
    hd_share *s = &u->shares[u->n_shares];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->refs = (unsigned)refs;
    s->file_share = json_is_true(json_object_get(j, "file"));
    s->host_path = wc_xstrdup(path);
    s->allowed = wc_xcalloc(json_array_size(allowed) + 1, sizeof *s->allowed);
    u->n_shares++; /* freed with u from here on */
    size_t k;
    json_t *f;
    json_array_foreach(allowed, k, f)
    {
        if (!json_is_string(f))
            return -1;
        s->allowed[s->n_allowed++] = wc_xstrdup(json_string_value(f));
    }
    return 0;
}

int hcs_uvm_devices_load(const json_t *saved, hcs_uvm_devices **out, wc_err *err)
{
    *out = NULL;
    const char *id = json_string_value(json_object_get(saved, "id"));
    json_t *shares = json_object_get(saved, "shares"), *luns = json_object_get(saved, "luns");
    json_int_t counter = json_integer_value(json_object_get(saved, "vsmb_counter"));
    if (!id || !json_is_array(shares) || !json_is_object(luns) || counter < 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "utility VM record: not a device record");
    hcs_uvm_devices *u = hcs_uvm_devices_new(id);
    int bad = 0;
    u->vsmb_counter = (unsigned long)counter;
    u->cap_shares = json_array_size(shares) ? json_array_size(shares) : 1;
    u->shares = wc_xcalloc(u->cap_shares, sizeof *u->shares);
    size_t i;
    json_t *j;
    json_array_foreach(shares, i, j)
    {
        if ((bad = load_share(u, j) < 0))
            break;
    }
    const char *key;
    json_object_foreach(luns, key, j)
    {
        long l = strtol(key, NULL, 10);
        if (bad || l < 1 || l >= HD_MAX_LUNS || !json_is_string(j) || u->lun_owner[l]) {
            bad = 1;
            break;
        }
        u->lun_owner[l] = wc_xstrdup(json_string_value(j));
    }
    if (bad) {
        hcs_uvm_devices_free(u);
        return wc_err_set(err, WC_INVALID_ARGUMENT, "utility VM record %s: a bad share or LUN", id);
    }
    *out = u;
    return 0;
}

const char *hcs_uvm_devices_id(const hcs_uvm_devices *u)
{
    return u->id;
}

void hcs_hosted_plan_clear(hcs_hosted_plan *p)
{
    if (!p)
        return;
    json_decref(p->modify);
    json_decref(p->doc);
    memset(p, 0, sizeof *p);
}

/* The directory share (file_share 0) or the single-file share (1) of host_path. */
static hd_share *find_share(const hcs_uvm_devices *u, const char *host_path, int file_share)
{
    for (size_t i = 0; i < u->n_shares; i++)
        if (u->shares[i].file_share == file_share &&
            hd_strcasecmp(u->shares[i].host_path, host_path) == 0)
            return &u->shares[i];
    return NULL;
}

/* The single-file share whose AllowedFiles holds `file`. */
static hd_share *find_file_share(const hcs_uvm_devices *u, const char *file)
{
    for (size_t i = 0; i < u->n_shares; i++)
        for (size_t k = 0; u->shares[i].file_share && k < u->shares[i].n_allowed; k++)
            if (hd_strcasecmp(u->shares[i].allowed[k], file) == 0)
                return &u->shares[i];
    return NULL;
}

/* Takes a reference on the share of host_path, adding it when new (*is_new = 1). Returns
 * the share index. */
static long share_ref(hcs_uvm_devices *u, const char *host_path, int file_share, int *is_new)
{
    hd_share *s = find_share(u, host_path, file_share);
    *is_new = 0;
    if (s) {
        s->refs++;
        return (long)(s - u->shares);
    }
    if (u->n_shares == u->cap_shares) {
        size_t cap = u->cap_shares ? u->cap_shares * 2 : 8;
        u->shares = wc_xrealloc(u->shares, cap * sizeof *u->shares);
        u->cap_shares = cap;
    }
    s = &u->shares[u->n_shares];
    memset(s, 0, sizeof *s);
    s->file_share = file_share;
    s->host_path = wc_xstrdup(host_path);
    u->vsmb_counter++;
    snprintf(s->name, sizeof s->name, "s%lx", u->vsmb_counter);
    s->refs = 1;
    *is_new = 1;
    return (long)u->n_shares++;
}

/* State to undo a failed plan. */
typedef struct undo {
    size_t n_shares;
    unsigned long counter;
    long touched[128];
    size_t allowed_before[128]; /* each touched share's n_allowed before this plan */
    size_t n_touched;
} undo;

static void rollback(hcs_uvm_devices *u, const undo *un, int lun)
{
    for (size_t i = 0; i < un->n_touched; i++) {
        if ((size_t)un->touched[i] >= un->n_shares)
            continue;
        hd_share *s = &u->shares[un->touched[i]];
        s->refs--;
        while (s->n_allowed > un->allowed_before[i])
            free(s->allowed[--s->n_allowed]);
    }
    for (size_t i = un->n_shares; i < u->n_shares; i++)
        share_clear(&u->shares[i]);
    u->n_shares = un->n_shares;
    u->vsmb_counter = un->counter;
    if (lun > 0) {
        free(u->lun_owner[lun]);
        u->lun_owner[lun] = NULL;
    }
}

/* Shares host_path into the UVM when needed; returns its guest path in `guest`. */
static int plan_share(hcs_uvm_devices *u, undo *un, const char *host_path, json_t *options,
                      json_t *modify, char *guest, size_t gsize, int *fail)
{
    int is_new;
    if (un->n_touched == sizeof un->touched / sizeof un->touched[0]) {
        json_decref(options);
        return -1;
    }
    long idx = share_ref(u, host_path, 0, &is_new);
    un->allowed_before[un->n_touched] = 0;
    un->touched[un->n_touched++] = idx;
    hd_share *s = &u->shares[idx];
    snprintf(guest, gsize, "%s%s", HCS_VSMB_GUEST_PREFIX, s->name);
    if (!is_new) {
        json_decref(options);
        return 0;
    }
    json_t *settings = json_pack("{s:s,s:s}", "Name", s->name, "Path", host_path);
    if (settings)
        hd_set(settings, "Options", options, fail);
    else
        json_decref(options);
    hd_push(modify,
            json_pack("{s:s,s:s,s:o}", "RequestType", "Add", "ResourcePath", VSMB_SHARES_PATH,
                      "Settings", settings),
            fail);
    return 0;
}

/* The last path separator of p, or NULL. */
static const char *last_sep(const char *p)
{
    const char *a = strrchr(p, '\\'), *b = strrchr(p, '/');
    return a > b ? a : b;
}

/* Shares the file `file` into the UVM, as hcsshim's AddVSMB does for a host path that is not
 * a directory: VSMB shares directories, so the file's directory is shared with
 * RestrictFileAccess and SingleFileMapping and AllowedFiles listing the file; one more
 * file of a directory already shared that way is an Update of the share with the longer
 * list (the same file again changes nothing). Its guest path is <share>\<file name>. */
static int plan_file_share(hcs_uvm_devices *u, undo *un, const char *file, json_t *options,
                           json_t *modify, char *guest, size_t gsize, int *fail)
{
    const char *sep = last_sep(file);
    if (!options || !sep || !sep[1] || sep == file ||
        un->n_touched == sizeof un->touched / sizeof un->touched[0]) {
        json_decref(options);
        return -1;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%.*s", (int)(sep - file), file);
    int is_new;
    long idx = share_ref(u, dir, 1, &is_new);
    hd_share *s = &u->shares[idx];
    un->allowed_before[un->n_touched] = s->n_allowed;
    un->touched[un->n_touched++] = idx;
    snprintf(guest, gsize, "%s%s\\%s", HCS_VSMB_GUEST_PREFIX, s->name, sep + 1);
    int listed = 0;
    for (size_t k = 0; k < s->n_allowed; k++)
        listed |= hd_strcasecmp(s->allowed[k], file) == 0;
    if (listed) {
        json_decref(options);
        return 0;
    }
    s->allowed = wc_xrealloc(s->allowed, (s->n_allowed + 1) * sizeof *s->allowed);
    s->allowed[s->n_allowed++] = wc_xstrdup(file);
    hd_set_true(options, "RestrictFileAccess", 1, fail);
    hd_set_true(options, "SingleFileMapping", 1, fail);
    json_t *files = json_array();
    for (size_t k = 0; k < s->n_allowed; k++)
        hd_push(files, json_string(s->allowed[k]), fail);
    json_t *settings = json_pack("{s:s,s:o,s:s,s:o}", "Name", s->name, "Options", options, "Path",
                                 dir, "AllowedFiles", files);
    hd_push(modify,
            json_pack("{s:s,s:s,s:o}", "RequestType", is_new ? "Add" : "Update", "ResourcePath",
                      VSMB_SHARES_PATH, "Settings", settings),
            fail);
    return 0;
}

static int free_lun(const hcs_uvm_devices *u)
{
    for (int l = 1; l < HD_MAX_LUNS; l++)
        if (!u->lun_owner[l])
            return l;
    return -1;
}

int hcs_uvm_plan_container(hcs_uvm_devices *u, const char *cid, const json_t *spec,
                           const hcs_container_opts *o, hcs_hosted_plan *plan, wc_err *err)
{
    memset(plan, 0, sizeof *plan);
    if (!cid || !*cid || strpbrk(cid, "\\/:"))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "container id '%s' is not usable as a path",
                          cid ? cid : "");
    if (hd_check_layers(spec, o, err) != 0)
        return -1;
    int lun = free_lun(u);
    if (lun < 0)
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "utility VM %s: all %d SCSI LUNs are in use",
                          u->id, HD_MAX_LUNS - 1);
    u->lun_owner[lun] = wc_xstrdup(cid);
    undo un = {.n_shares = u->n_shares, .counter = u->vsmb_counter};
    int fail = 0;
    snprintf(plan->root, sizeof plan->root, "%s%s", HCS_UVM_CONTAINER_ROOT_PREFIX, cid);
    plan->lun = (unsigned)lun;
    plan->modify = json_array();
    json_t *container = json_object();
    json_t *storage = json_object();
    hd_set(container, "Storage", storage, &fail);
    char guest[512];

    /* Read-only layers, top-most first, each over its own VSMB share. */
    json_t *lf = json_object_get(hd_obj(spec, "windows"), "layerFolders");
    size_t n_ro = json_array_size(lf) - 1;
    json_t *layers = json_array();
    for (size_t i = 0; i < n_ro && !fail; i++) {
        if (plan_share(u, &un, json_string_value(json_array_get(lf, i)), vsmb_options(1, 1),
                       plan->modify, guest, sizeof guest, &fail) != 0)
            fail = 1;
        hd_push(layers, json_pack("{s:s,s:s}", "Id", o->layer_ids[i], "Path", guest), &fail);
    }

    /* Mounts become VSMB shares too (a file: its directory, limited to it); pipes go through
     * the UVM's MappedPipes. */
    json_t *dirs = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(spec, "mounts"), i, m)
    {
        const char *src = hd_str(m, "source");
        if (strncmp(src, PIPE_PREFIX, strlen(PIPE_PREFIX)) == 0) {
            char rp[1024];
            snprintf(rp, sizeof rp, "VirtualMachine/Devices/MappedPipes/%s", src);
            hd_push(plan->modify, json_pack("{s:s,s:s}", "RequestType", "Add", "ResourcePath", rp),
                    &fail);
            continue;
        }
        int ro = hd_mount_readonly(m);
        int file = o->is_file && o->is_file(src);
        const char *sep = file ? last_sep(src) : NULL;
        if (file && (!sep || sep == src || !sep[1])) {
            json_decref(container);
            json_decref(dirs);
            json_decref(layers);
            rollback(u, &un, lun);
            hcs_hosted_plan_clear(plan);
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "mount %s: file %s has no directory to share over VSMB",
                              hd_str(m, "destination"), src);
        }
        int rc = file ? plan_file_share(u, &un, src, vsmb_options(ro, 0), plan->modify, guest,
                                        sizeof guest, &fail)
                      : plan_share(u, &un, src, vsmb_options(ro, 0), plan->modify, guest,
                                   sizeof guest, &fail);
        if (rc != 0)
            fail = 1;
        json_t *d =
            json_pack("{s:s,s:s}", "ContainerPath", hd_str(m, "destination"), "HostPath", guest);
        if (d)
            hd_set_true(d, "ReadOnly", ro, &fail);
        hd_push(dirs, d, &fail);
    }

    /* The scratch disk, attached and mounted at the container root in one request. */
    char rp[64], vhdx[1024];
    snprintf(rp, sizeof rp, "VirtualMachine/Devices/Scsi/0/Attachments/%d", lun);
    join(vhdx, sizeof vhdx, json_string_value(json_array_get(lf, n_ro)), "sandbox.vhdx");
    hd_push(plan->modify,
            json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:{s:s,s:i}}}", "RequestType", "Add",
                      "ResourcePath", rp, "Settings", "Path", vhdx, "Type", "VirtualDisk",
                      "GuestRequest", "ResourceType", "MappedVirtualDisk", "RequestType", "Add",
                      "Settings", "ContainerPath", plan->root, "Lun", lun),
            &fail);
    /* The layer filter over the scratch (no FilterType: the guest's default, WCIFS). */
    hd_push(plan->modify,
            json_pack("{s:{s:s,s:s,s:{s:s,s:O}}}", "GuestRequest", "ResourceType", "CombinedLayers",
                      "RequestType", "Add", "Settings", "ContainerRootPath", plan->root, "Layers",
                      layers),
            &fail);

    hd_set(storage, "Layers", layers, &fail);
    hd_set_str(storage, "Path", plan->root, &fail);
    if (json_array_size(dirs))
        hd_set(container, "MappedDirectories", dirs, &fail);
    else
        json_decref(dirs);

    if (fail || hd_container_common(spec, o, u, container, err) != 0) {
        json_decref(container);
        rollback(u, &un, lun);
        hcs_hosted_plan_clear(plan);
        return fail ? hd_build_failed(err, "hosted container documents") : -1;
    }
    json_t *doc = json_object();
    hd_set_str(doc, "Owner", o->owner ? o->owner : HCS_OWNER, &fail);
    hd_set(doc, "SchemaVersion", hd_schema_v21(), &fail);
    hd_set_str(doc, "HostingSystemId", u->id, &fail);
    hd_set(doc, "HostedSystem",
           json_pack("{s:o,s:o}", "SchemaVersion", hd_schema_v21(), "Container", container), &fail);
    hd_set(doc, "ShouldTerminateOnLastHandleClosed", json_false(), &fail);
    plan->doc = doc;
    if (fail) {
        rollback(u, &un, lun);
        hcs_hosted_plan_clear(plan);
        return hd_build_failed(err, "hosted container documents");
    }
    return 0;
}

/* Drops one reference on host_path's share (a directory's, or the single-file share listing
 * it); at zero, appends its removal request. Like hcsshim's RemoveVSMB, a file stays in a
 * share's AllowedFiles while the share lives. */
static void unshare(hcs_uvm_devices *u, const char *host_path, json_t *requests, int *fail)
{
    hd_share *s = find_share(u, host_path, 0);
    if (!s)
        s = find_file_share(u, host_path);
    if (!s || --s->refs > 0)
        return;
    hd_push(requests,
            json_pack("{s:s,s:s,s:{s:s}}", "RequestType", "Remove", "ResourcePath",
                      VSMB_SHARES_PATH, "Settings", "Name", s->name),
            fail);
    share_clear(s);
    size_t idx = (size_t)(s - u->shares);
    memmove(s, s + 1, (u->n_shares - idx - 1) * sizeof *s);
    u->n_shares--;
}

int hcs_uvm_release_container(hcs_uvm_devices *u, const char *cid, const json_t *spec,
                              json_t *requests, wc_err *err)
{
    int lun = -1;
    for (int l = 1; l < HD_MAX_LUNS; l++)
        if (u->lun_owner[l] && cid && strcmp(u->lun_owner[l], cid) == 0)
            lun = l;
    if (lun < 0)
        return wc_err_set(err, WC_NOT_FOUND, "utility VM %s has no container %s", u->id,
                          cid ? cid : "");
    char root[300], rp[64];
    snprintf(root, sizeof root, "%s%s", HCS_UVM_CONTAINER_ROOT_PREFIX, cid);
    snprintf(rp, sizeof rp, "VirtualMachine/Devices/Scsi/0/Attachments/%d", lun);
    int fail = 0;
    /* Same order as hcsshim's UnmountContainerLayers: filter, scratch, then shares. */
    hd_push(requests,
            json_pack("{s:{s:s,s:s,s:{s:s}}}", "GuestRequest", "ResourceType", "CombinedLayers",
                      "RequestType", "Remove", "Settings", "ContainerRootPath", root),
            &fail);
    hd_push(requests,
            json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s,s:i}}}", "RequestType", "Remove", "ResourcePath",
                      rp, "GuestRequest", "ResourceType", "MappedVirtualDisk", "RequestType",
                      "Remove", "Settings", "ContainerPath", root, "Lun", lun),
            &fail);
    free(u->lun_owner[lun]);
    u->lun_owner[lun] = NULL;
    json_t *lf = json_object_get(hd_obj(spec, "windows"), "layerFolders");
    for (size_t i = 0; i + 1 < json_array_size(lf); i++)
        unshare(u, json_string_value(json_array_get(lf, i)), requests, &fail);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(spec, "mounts"), i, m)
    {
        const char *src = hd_str(m, "source");
        if (src && strncmp(src, PIPE_PREFIX, strlen(PIPE_PREFIX)) != 0)
            unshare(u, src, requests, &fail);
    }
    return fail ? hd_build_failed(err, "release requests") : 0;
}

int hcs_doc_uvm_nic_preadd(const char *nic_id, const json_t *endpoint, json_t **out, wc_err *err)
{
    *out = NULL;
    if (!nic_id || !*nic_id || !json_is_object(endpoint))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "network adapter pre-add: adapter id and endpoint object are required");
    *out = json_pack("{s:{s:s,s:s,s:{s:s,s:s,s:O}}}", "GuestRequest", "ResourceType", "Network",
                     "RequestType", "Add", "Settings", "AdapterId", nic_id, "RequestType", "PreAdd",
                     "Settings", (json_t *)endpoint);
    return *out ? 0 : hd_build_failed(err, "network adapter pre-add");
}

int hcs_doc_uvm_nic_endpoint(const char *endpoint_id, const char *name, const char *mac,
                             const char *ip, unsigned prefix_length, json_t **out, wc_err *err)
{
    *out = NULL;
    if (!endpoint_id || !*endpoint_id)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "network adapter: the endpoint id is required");
    int fail = 0;
    json_t *ep = json_object();
    hd_set_str(ep, "ID", endpoint_id, &fail);
    if (name && *name)
        hd_set_str(ep, "Name", name, &fail);
    if (mac && *mac)
        hd_set_str(ep, "MacAddress", mac, &fail);
    if (ip && *ip) {
        hd_set_str(ep, "IPAddress", ip, &fail);
        hd_set(ep, "PrefixLength", json_integer(prefix_length), &fail);
    }
    if (fail) {
        json_decref(ep);
        return hd_build_failed(err, "network adapter endpoint");
    }
    *out = ep;
    return 0;
}

int hcs_doc_uvm_nic_add(const char *nic_id, const char *endpoint_id, const char *mac, json_t **out,
                        wc_err *err)
{
    *out = NULL;
    if (!nic_id || !*nic_id || !endpoint_id || !*endpoint_id)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "network adapter add: adapter id and endpoint id are required");
    char rp[256];
    snprintf(rp, sizeof rp, "VirtualMachine/Devices/NetworkAdapters/%s", nic_id);
    int fail = 0;
    json_t *settings = json_pack("{s:s}", "EndpointId", endpoint_id);
    if (settings)
        hd_set_str(settings, "MacAddress", mac, &fail);
    *out = json_pack("{s:s,s:s,s:o,s:{s:s,s:s,s:{s:s,s:s}}}", "RequestType", "Add", "ResourcePath",
                     rp, "Settings", settings, "GuestRequest", "ResourceType", "Network",
                     "RequestType", "Add", "Settings", "AdapterId", nic_id, "RequestType", "Add");
    if (!*out || fail) {
        json_decref(*out);
        *out = NULL;
        return hd_build_failed(err, "network adapter add");
    }
    return 0;
}
