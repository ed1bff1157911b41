/* hcs/runtime.h on Windows: process-isolated containers through computecore.dll.
 *
 * create: scratch layer (sandbox.vhdx) from the image layers, mounted to a volume; the OCI
 *         spec's windows.layerFolders and root.path filled from it; hcs_doc_container; an
 *         HCS compute system (left running across wincrid restarts).
 * start:  the compute system, then its init process with HCS std pipes. The pod model opens
 *         the output before start, so each stream goes through a pipe of our own made at
 *         create; a pump thread per stream copies HCS's pipe into it once the process runs.
 * exits:  HcsEventProcessExited (init) and HcsEventSystemExited reach on_exit once.
 * Hyper-V: one utility VM per pod, made at the pod's first container create (boot from the
 *         base layer's UtilityVM\Files, its own scratch copied from SystemTemplate.vhdx),
 *         kept in rt->pods by sandbox id. Each container's layers and scratch are added to
 *         the VM (hcs_uvm_plan_container), then the hosted compute system is created; delete
 *         takes them out again, and the VM goes with the pod's last container or with
 *         hcs_pod_release. The scratch is never mounted on the host. */
#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcs/hcs_win32.h"
#include "hcs/hcs_win32_api.h"

#include "common/fs.h"
#include "common/log.h"
#include "hcs/runtime.h"
#include "image/wclayer.h"

#define EXEC_DRAIN_MS 2000 /* after an exec exits, how long its pipes may stay open */
#define PUMP_BUF (64 * 1024)

typedef struct ctr ctr;
typedef struct pod pod;

/* A Hyper-V pod's utility VM and the bookkeeping of what its containers put into it. */
struct pod {
    char sandbox_id[128];
    char uvm_id[140];
    char *scratch_dir; /* holds the VM's sandbox.vhdx */
    hcs_system *sys;
    hcs_uvm *uvm;
    unsigned cpus; /* the VM's, the clamp for its containers' Processor.Count */
    size_t n_ctrs;
};

/* Copies one stream between a pipe of HCS and a pipe of ours, closing dst at the end. */
typedef struct pump {
    HANDLE src, dst, thread;
} pump;

struct ctr {
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
    HANDLE out_r, out_w, err_r, err_w, in_r, in_w; /* our side of the std streams */
    pump pumps[3];
    uint64_t memory_limit;
    pod *pod; /* Hyper-V: the pod whose utility VM hosts it */
};

struct hcs_runtime {
    char *handler;
    char *state_dir;
    int hyperv;
    hcs_exit_fn on_exit;
    void *exit_ctx;
    SRWLOCK mu;
    ctr **ctrs;
    size_t n;
    /* Held across whole Hyper-V creates and deletes: hcs_uvm bookkeeping is not thread-safe
     * and a pod's VM must not go while a container is being added to it. */
    SRWLOCK pods_mu;
    pod **pods;
    size_t n_pods;
};

/* ---- bookkeeping ---------------------------------------------------------------------- */

static ctr *find(hcs_runtime *rt, const char *id)
{
    ctr *c = NULL;
    AcquireSRWLockShared(&rt->mu);
    for (size_t i = 0; i < rt->n && !c; i++)
        if (strcmp(rt->ctrs[i]->id, id) == 0)
            c = rt->ctrs[i];
    ReleaseSRWLockShared(&rt->mu);
    return c;
}

static int find_or_fail(hcs_runtime *rt, const char *id, ctr **out, wc_err *err)
{
    *out = find(rt, id);
    if (!*out)
        return wc_err_set(err, WC_NOT_FOUND, "container %s is not known to the HCS backend", id);
    return 0;
}

static void add(hcs_runtime *rt, ctr *c)
{
    AcquireSRWLockExclusive(&rt->mu);
    ctr **grown = realloc(rt->ctrs, (rt->n + 1) * sizeof *grown);
    if (grown) {
        rt->ctrs = grown;
        rt->ctrs[rt->n++] = c;
    }
    ReleaseSRWLockExclusive(&rt->mu);
}

static void drop(hcs_runtime *rt, ctr *c)
{
    AcquireSRWLockExclusive(&rt->mu);
    for (size_t i = 0; i < rt->n; i++)
        if (rt->ctrs[i] == c) {
            rt->ctrs[i] = rt->ctrs[--rt->n];
            break;
        }
    ReleaseSRWLockExclusive(&rt->mu);
}

static void close_h(HANDLE *h)
{
    if (*h && *h != INVALID_HANDLE_VALUE)
        CloseHandle(*h);
    *h = NULL;
}

static int64_t now_ns(void)
{
    FILETIME ft;
    GetSystemTimePreciseAsFileTime(&ft);
    uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    return (int64_t)(t - 116444736000000000ULL) * 100; /* 1601 → 1970, 100 ns → ns */
}

/* ---- exits ---------------------------------------------------------------------------- */

static void report_exit(ctr *c, int code)
{
    AcquireSRWLockExclusive(&c->rt->mu);
    int first = !c->exit_reported;
    c->exit_reported = 1;
    c->exited = 1;
    ReleaseSRWLockExclusive(&c->rt->mu);
    if (!first || !c->rt->on_exit)
        return;
    hcs_exit e = {.pid = (int)c->pid, .exit_code = code, .finished_ns = now_ns()};
    c->rt->on_exit(c->rt->exit_ctx, c->id, NULL, &e);
}

/* An init process that ended before its exit callback was registered (or while wincrid
 * was not running) is reported now; whether HCS replays an exit to a callback registered
 * later is not documented, and report_exit reports once whichever comes first. */
static void report_if_exited(ctr *c)
{
    hcs_process_status st = {0};
    wc_err werr = {0};
    if (c->init && hcs_process_wait(c->init, 0, &st, &werr) == 0 && st.exited)
        report_exit(c, (int)st.exit_code);
}

static void on_process_exit(void *ctx, const char *id, const hcs_process_status *st)
{
    (void)id;
    report_exit(ctx, st->exited ? (int)st->exit_code : 255);
}

/* The system ending first (terminated, crashed, or adopted after a restart) has no exit
 * code of the init process to give. */
static void on_system_exit(void *ctx, const char *id, const hcs_system_exit *st)
{
    wc_info("hcs", "compute system exited", "id=%s status=0x%08lx type=%s", id,
            (unsigned long)(uint32_t)st->status, st->exit_type);
    report_exit(ctx, 255);
}

/* ---- std streams ---------------------------------------------------------------------- */

static DWORD WINAPI pump_main(void *arg)
{
    pump *p = arg;
    char *buf = malloc(PUMP_BUF);
    DWORD n, w;
    while (buf && ReadFile(p->src, buf, PUMP_BUF, &n, NULL) && n > 0) {
        for (DWORD off = 0; off < n; off += w)
            if (!WriteFile(p->dst, buf + off, n - off, &w, NULL))
                goto done;
    }
done:
    free(buf);
    close_h(&p->src);
    close_h(&p->dst); /* the reader sees the end of the stream */
    return 0;
}

/* Takes ownership of src and dst. */
static void pump_start(pump *p, HANDLE src, HANDLE dst)
{
    p->src = src;
    p->dst = dst;
    p->thread = CreateThread(NULL, 0, pump_main, p, 0, NULL);
    if (!p->thread) {
        close_h(&p->src);
        close_h(&p->dst);
    }
}

static void pump_join(pump *p)
{
    if (!p->thread)
        return;
    /* A reader nobody drains would hold the thread: cancel its blocking call. */
    if (WaitForSingleObject(p->thread, 1000) != WAIT_OBJECT_0) {
        CancelSynchronousIo(p->thread);
        WaitForSingleObject(p->thread, INFINITE);
    }
    close_h(&p->thread);
}

static int make_pipes(ctr *c, wc_err *err)
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
    int ok = CreatePipe(&c->out_r, &c->out_w, &sa, 0);
    if (ok && !c->io.terminal)
        ok = CreatePipe(&c->err_r, &c->err_w, &sa, 0);
    if (ok && c->io.open_stdin)
        ok = CreatePipe(&c->in_r, &c->in_w, &sa, 0);
    if (!ok)
        return wc_err_set(err, WC_INTERNAL, "container %s: cannot create std pipes (error %lu)",
                          c->id, GetLastError());
    return 0;
}

/* A CRT descriptor for a duplicate of h (the caller closes it with _close). */
static int dup_fd(HANDLE h, int flags)
{
    HANDLE d = NULL;
    if (!h || !DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &d, 0, FALSE,
                               DUPLICATE_SAME_ACCESS))
        return -1;
    int fd = _open_osfhandle((intptr_t)d, flags);
    if (fd < 0)
        CloseHandle(d);
    return fd;
}

/* ---- layers --------------------------------------------------------------------------- */

static void guid_string(const img_wcl_guid *g, char out[37])
{
    snprintf(out, 37, "%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned long)g->data1,
             g->data2, g->data3, g->data4[0], g->data4[1], g->data4[2], g->data4[3], g->data4[4],
             g->data4[5], g->data4[6], g->data4[7]);
}

/* The layer ids HCS wants beside windows.layerFolders (NameToGuid of each folder name). */
static int layer_ids(const hcs_rootfs *rootfs, char (**ids)[37], const char ***ptrs, wc_err *err)
{
    img_wcl_desc *d = NULL;
    if (img_wcl_descriptors(rootfs->lower_dirs, rootfs->n_lower, img_wcl_name_to_guid, NULL, &d,
                            err) < 0)
        return -1;
    *ids = calloc(rootfs->n_lower + 1, sizeof **ids);
    *ptrs = calloc(rootfs->n_lower + 1, sizeof **ptrs);
    if (!*ids || !*ptrs) {
        free(d);
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "layer ids: out of memory");
    }
    for (size_t i = 0; i < rootfs->n_lower; i++) {
        guid_string(&d[i].layer_id, (*ids)[i]);
        (*ptrs)[i] = (*ids)[i];
    }
    free(d);
    return 0;
}

static uint64_t spec_u64(const json_t *spec, const char *section, const char *member)
{
    json_t *res = json_object_get(json_object_get(spec, "windows"), "resources");
    json_int_t v = json_integer_value(json_object_get(json_object_get(res, section), member));
    return v > 0 ? (uint64_t)v : 0;
}

/* windows.layerFolders (top-most first, scratch last) and root.path from what was mounted. */
static int fill_spec(json_t *spec, const hcs_rootfs *rootfs, const char *volume, wc_err *err)
{
    json_t *win = json_object_get(spec, "windows");
    if (!json_is_object(win)) {
        win = json_object();
        json_object_set_new(spec, "windows", win);
    }
    json_t *lf = json_array();
    for (size_t i = 0; i < rootfs->n_lower; i++)
        json_array_append_new(lf, json_string(rootfs->lower_dirs[i]));
    json_array_append_new(lf, json_string(rootfs->scratch_dir));
    if (json_object_set_new(win, "layerFolders", lf) ||
        json_object_set_new(spec, "root", json_pack("{s:s}", "path", volume)))
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "spec: out of memory");
    return 0;
}

/* Our record of a container, for hcs_adopt after a restart: where its scratch is. */
static char *record_path(hcs_runtime *rt, const char *id)
{
    char name[160];
    snprintf(name, sizeof name, "%s.json", id);
    return wc_path_join(rt->state_dir, name);
}

static void write_record(ctr *c)
{
    char *path = record_path(c->rt, c->id);
    json_t *rec = json_pack("{s:s,s:O,s:I}", "scratch", c->scratch, "spec", c->spec, "pid",
                            (json_int_t)c->pid);
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    wc_err err = {0};
    if (!text || wc_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        wc_warn("hcs", "cannot record container", "id=%s err=\"%s\"", c->id, err.msg);
    free(text);
    json_decref(rec);
    free(path);
}

/* Unmounts and destroys the scratch; errors are logged (the pod model removes the folder). */
static void release_storage(ctr *c)
{
    wc_err err = {0};
    if (c->mounted && c->scratch && img_wcl_unmount(c->scratch, &err) < 0)
        wc_warn("hcs", "cannot unmount scratch", "id=%s err=\"%s\"", c->id, err.msg);
    c->mounted = 0;
    if (c->scratch && img_wcl_destroy(c->scratch, &err) < 0)
        wc_warn("hcs", "cannot destroy scratch", "id=%s err=\"%s\"", c->id, err.msg);
    free(c->scratch);
    c->scratch = NULL;
}

static void ctr_free(ctr *c)
{
    for (int i = 0; i < 3; i++)
        pump_join(&c->pumps[i]);
    HANDLE *hs[] = {&c->out_r, &c->out_w, &c->err_r, &c->err_w, &c->in_r, &c->in_w};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        close_h(hs[i]);
    hcs_process_close(c->init);
    hcs_system_close(c->sys);
    json_decref(c->spec);
    free(c->scratch);
    free(c);
}

static void pod_free(pod *p);

/* ---- open / close --------------------------------------------------------------------- */

int hcs_runtime_open(const wc_config *cfg, const wc_runtime_handler *handler, const char *state_dir,
                     hcs_exit_fn on_exit, void *exit_ctx, hcs_runtime **out, wc_err *err)
{
    (void)cfg;
    *out = NULL;
    if (hcs_api_load(err) < 0)
        return wc_err_prefix(err, "runtime handler \"%s\"", handler->name);
    char *dir = wc_path_join(state_dir, "hcs");
    if (wc_mkdir_p(dir, 0700, err) < 0) {
        free(dir);
        return -1;
    }
    hcs_runtime *rt = calloc(1, sizeof *rt);
    rt->handler = strdup(handler->name);
    rt->state_dir = dir;
    rt->hyperv = handler->isolation && strcmp(handler->isolation, "hyperv") == 0;
    rt->on_exit = on_exit;
    rt->exit_ctx = exit_ctx;
    InitializeSRWLock(&rt->mu);
    InitializeSRWLock(&rt->pods_mu);
    *out = rt;
    return 0;
}

void hcs_runtime_close(hcs_runtime *rt)
{
    if (!rt)
        return;
    /* Compute systems keep running (recovery reopens them); only our handles go. */
    for (size_t i = 0; i < rt->n; i++)
        ctr_free(rt->ctrs[i]);
    free(rt->ctrs);
    for (size_t i = 0; i < rt->n_pods; i++)
        pod_free(rt->pods[i]);
    free(rt->pods);
    free(rt->handler);
    free(rt->state_dir);
    free(rt);
}

/* ---- create / start ------------------------------------------------------------------- */

static int create_storage(ctr *c, const hcs_rootfs *rootfs, char **volume, wc_err *err)
{
    if (!rootfs || rootfs->n_lower == 0 || !rootfs->scratch_dir || !*rootfs->scratch_dir)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container %s: a Windows container needs image layers and a scratch "
                          "folder",
                          c->id);
    uint64_t size = spec_u64(c->spec, "storage", "sandboxSize");
    if (img_wcl_create_scratch(rootfs->scratch_dir, rootfs->lower_dirs, rootfs->n_lower, size,
                               err) < 0)
        return -1;
    c->scratch = strdup(rootfs->scratch_dir);
    if (img_wcl_mount(rootfs->scratch_dir, rootfs->lower_dirs, rootfs->n_lower, volume, err) < 0)
        return -1;
    c->mounted = 1;
    return 0;
}

static int create_system(ctr *c, const hcs_rootfs *rootfs, wc_err *err)
{
    char(*ids)[37] = NULL;
    const char **ptrs = NULL;
    json_t *doc = NULL;
    int rc = layer_ids(rootfs, &ids, &ptrs, err);
    if (rc == 0) {
        hcs_container_opts o = {.layer_ids = ptrs,
                                .n_layer_ids = rootfs->n_lower,
                                .host_cpus = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS)};
        rc = hcs_doc_container(c->spec, &o, &doc, err);
    }
    if (rc == 0)
        rc = hcs_system_create(c->id, doc, HCS_DEFAULT_TIMEOUT_MS, &c->sys, err);
    if (rc == 0)
        rc = hcs_system_on_exit(c->sys, on_system_exit, c, err);
    json_decref(doc);
    free(ids);
    free(ptrs);
    return rc;
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

/* ---- Hyper-V pods ---------------------------------------------------------------------- */

#define UVM_STOP_GRACE_MS 30000 /* a utility VM's own shutdown, before it is terminated */

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

static void pod_free(pod *p)
{
    if (!p)
        return;
    hcs_system_close(p->sys);
    hcs_uvm_free(p->uvm);
    free(p->scratch_dir);
    free(p);
}

/* The pod list is guarded by pods_mu, held by every caller below. */
static pod *pod_find(hcs_runtime *rt, const char *sandbox_id)
{
    for (size_t i = 0; i < rt->n_pods; i++)
        if (strcmp(rt->pods[i]->sandbox_id, sandbox_id) == 0)
            return rt->pods[i];
    return NULL;
}

static int pod_add(hcs_runtime *rt, pod *p, wc_err *err)
{
    pod **grown = realloc(rt->pods, (rt->n_pods + 1) * sizeof *grown);
    if (!grown)
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "pod %s: out of memory", p->sandbox_id);
    rt->pods = grown;
    rt->pods[rt->n_pods++] = p;
    return 0;
}

static void pod_drop(hcs_runtime *rt, pod *p)
{
    for (size_t i = 0; i < rt->n_pods; i++)
        if (rt->pods[i] == p) {
            rt->pods[i] = rt->pods[--rt->n_pods];
            break;
        }
}

static void on_uvm_exit(void *ctx, const char *id, const hcs_system_exit *st)
{
    (void)ctx;
    wc_info("hcs", "utility VM exited", "id=%s status=0x%08lx type=%s", id,
            (unsigned long)(uint32_t)st->status, st->exit_type);
}

/* Stops the VM (grace_ms 0: terminates it) and removes its scratch. */
static int uvm_end(pod *p, DWORD grace_ms, wc_err *err)
{
    int rc = 0;
    if (p->sys) {
        rc = hcs_system_stop(p->sys, NULL, grace_ms, err);
        if (rc < 0)
            wc_err_prefix(err, "utility VM %s", p->uvm_id);
        hcs_system_close(p->sys);
        p->sys = NULL;
    }
    remove_uvm_scratch(p->scratch_dir);
    return rc;
}

/* Ends the pod's VM and forgets the pod; its containers no longer point at it. */
static int pod_end(hcs_runtime *rt, pod *p, DWORD grace_ms, wc_err *err)
{
    pod_drop(rt, p);
    AcquireSRWLockExclusive(&rt->mu);
    for (size_t i = 0; i < rt->n; i++)
        if (rt->ctrs[i]->pod == p)
            rt->ctrs[i]->pod = NULL;
    ReleaseSRWLockExclusive(&rt->mu);
    int rc = uvm_end(p, grace_ms, err);
    pod_free(p);
    return rc;
}

/* Creates and starts the VM booting from base_layer's UtilityVM\Files, sized by the pod's
 * annotations on spec. On failure the VM is gone (uvm_end). */
static int uvm_boot(pod *p, const json_t *spec, const char *base_layer, unsigned *cpus, wc_err *err)
{
    hcs_uvm_opts o = {.uvm_folder = base_layer,
                      .host_cpus = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS)};
    char *vhdx = wc_path_join(p->scratch_dir, "sandbox.vhdx");
    o.scratch_vhdx = vhdx;
    json_t *doc = NULL;
    int rc = hcs_uvm_opts_from_annotations(spec, &o, err);
    if (rc == 0)
        rc = wc_mkdir_p(p->scratch_dir, 0700, err);
    if (rc == 0)
        rc = img_wcl_create_uvm_scratch(vhdx, base_layer, p->uvm_id, err);
    if (rc == 0)
        rc = hcs_doc_uvm(&o, &doc, err);
    if (rc == 0)
        rc = hcs_system_create(p->uvm_id, doc, HCS_DEFAULT_TIMEOUT_MS, &p->sys, err);
    if (rc == 0)
        rc = hcs_system_on_exit(p->sys, on_uvm_exit, NULL, err);
    if (rc == 0)
        rc = hcs_system_start(p->sys, HCS_DEFAULT_TIMEOUT_MS, err);
    json_decref(doc);
    free(vhdx);
    *cpus = o.cpus ? o.cpus : HCS_UVM_DEFAULT_CPUS;
    if (o.host_cpus && *cpus > o.host_cpus)
        *cpus = o.host_cpus;
    if (rc < 0) {
        wc_err_prefix(err, "utility VM %s", p->uvm_id);
        wc_err ignored = {0};
        uvm_end(p, 0, &ignored);
    }
    return rc;
}

/* The container's pod, its VM made and started if this is its first container. */
static int pod_get(hcs_runtime *rt, const char *sid, const json_t *spec, const hcs_rootfs *rootfs,
                   pod **out, wc_err *err)
{
    if (!*sid || strlen(sid) >= sizeof((pod *)0)->sandbox_id)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "a Hyper-V container needs its pod's id");
    *out = pod_find(rt, sid);
    if (*out)
        return 0;
    pod *p = calloc(1, sizeof *p);
    if (!p)
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "pod %s: out of memory", sid);
    snprintf(p->sandbox_id, sizeof p->sandbox_id, "%s", sid);
    uvm_id_of(sid, p->uvm_id, sizeof p->uvm_id);
    p->scratch_dir = uvm_scratch_dir(rt, sid);
    p->uvm = hcs_uvm_new(p->uvm_id);
    int rc = p->scratch_dir && p->uvm
                 ? uvm_boot(p, spec, rootfs->lower_dirs[rootfs->n_lower - 1], &p->cpus, err)
                 : wc_err_set(err, WC_RESOURCE_EXHAUSTED, "pod %s: out of memory", sid);
    if (rc == 0 && pod_add(rt, p, err) < 0) {
        wc_err ignored = {0};
        uvm_end(p, 0, &ignored);
        rc = -1;
    }
    if (rc < 0) {
        pod_free(p);
        return -1;
    }
    wc_info("hcs", "utility VM started", "pod=%s id=%s cpus=%u", sid, p->uvm_id, p->cpus);
    *out = p;
    return 0;
}

/* Sends each request in turn; the first failure stops (HCS's message in err). */
static int uvm_modify(pod *p, const json_t *requests, wc_err *err)
{
    size_t i;
    json_t *r;
    json_array_foreach(requests, i, r)
    {
        if (hcs_system_modify(p->sys, r, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
            return wc_err_prefix(err, "utility VM %s, request %u", p->uvm_id, (unsigned)i);
    }
    return 0;
}

/* Takes the container's layers and scratch out of its pod's VM (what is not there fails
 * harmlessly, so this also undoes a half-applied plan); the VM goes with the pod's last
 * container, after grace_ms (0: terminated). Caller holds pods_mu. */
static void pod_detach(ctr *c, DWORD grace_ms)
{
    pod *p = c->pod;
    if (!p)
        return;
    c->pod = NULL;
    json_t *reqs = json_array();
    wc_err e = {0};
    if (!reqs || hcs_uvm_release_container(p->uvm, c->id, c->spec, reqs, &e) < 0)
        wc_warn("hcs", "cannot release container from utility VM", "id=%s uvm=%s err=\"%s\"", c->id,
                p->uvm_id, e.msg);
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        wc_err_clear(&e);
        if (p->sys && hcs_system_modify(p->sys, r, HCS_DEFAULT_TIMEOUT_MS, &e) < 0)
            wc_warn("hcs", "utility VM refused a removal", "id=%s uvm=%s err=\"%s\"", c->id,
                    p->uvm_id, e.msg);
    }
    json_decref(reqs);
    if (--p->n_ctrs > 0)
        return;
    wc_err_clear(&e);
    if (pod_end(c->rt, p, grace_ms, &e) < 0)
        wc_warn("hcs", "cannot end utility VM", "container=%s err=\"%s\"", c->id, e.msg);
}

/* The container scratch (sandbox.vhdx) is made on the host but only the VM mounts it. */
static int hosted_storage(ctr *c, const hcs_rootfs *rootfs, char *root, size_t size, wc_err *err)
{
    if (!rootfs || rootfs->n_lower == 0 || !rootfs->scratch_dir || !*rootfs->scratch_dir)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container %s: a Windows container needs image layers and a scratch "
                          "folder",
                          c->id);
    uint64_t bytes = spec_u64(c->spec, "storage", "sandboxSize");
    if (img_wcl_create_scratch(rootfs->scratch_dir, rootfs->lower_dirs, rootfs->n_lower, bytes,
                               err) < 0)
        return -1;
    c->scratch = strdup(rootfs->scratch_dir);
    snprintf(root, size, "%s%s", HCS_UVM_CONTAINER_ROOT_PREFIX, c->id);
    return 0;
}

/* Puts the container into its pod's VM, then creates it there. On failure c->pod (when
 * set) tells the caller what to undo with pod_detach. Caller holds pods_mu. */
static int create_hosted(ctr *c, const hcs_rootfs *rootfs, wc_err *err)
{
    pod *p = NULL;
    char(*ids)[37] = NULL;
    const char **ptrs = NULL;
    hcs_hosted_plan plan = {0};
    int rc = pod_get(c->rt, c->sandbox_id, c->spec, rootfs, &p, err);
    if (rc == 0)
        rc = layer_ids(rootfs, &ids, &ptrs, err);
    if (rc == 0) {
        hcs_container_opts o = {
            .layer_ids = ptrs, .n_layer_ids = rootfs->n_lower, .host_cpus = p->cpus};
        rc = hcs_uvm_plan_container(p->uvm, c->id, c->spec, &o, &plan, err);
    }
    if (rc == 0) {
        c->pod = p;
        p->n_ctrs++;
        rc = uvm_modify(p, plan.modify, err);
    }
    if (rc == 0)
        rc = hcs_system_create(c->id, plan.doc, HCS_DEFAULT_TIMEOUT_MS, &c->sys, err);
    if (rc == 0)
        rc = hcs_system_on_exit(c->sys, on_system_exit, c, err);
    if (rc < 0 && p && !c->pod && p->n_ctrs == 0) {
        wc_err ignored = {0}; /* the VM was made for this container alone */
        pod_end(c->rt, p, 0, &ignored);
    }
    hcs_hosted_plan_clear(&plan);
    free(ids);
    free(ptrs);
    return rc;
}

/* Storage, spec, compute system and pipes; on failure everything made here is undone. */
static int create_ctr(ctr *c, const char *bundle, const hcs_rootfs *rootfs, int hyperv, wc_err *err)
{
    char *volume = NULL;
    char root[300];
    int rc = hyperv ? hosted_storage(c, rootfs, root, sizeof root, err)
                    : create_storage(c, rootfs, &volume, err);
    if (rc == 0)
        rc = fill_spec(c->spec, rootfs, hyperv ? root : volume, err);
    if (rc == 0) {
        write_bundle(bundle, c->spec);
        rc = hyperv ? create_hosted(c, rootfs, err) : create_system(c, rootfs, err);
    }
    if (rc == 0)
        rc = make_pipes(c, err);
    free(volume);
    if (rc < 0) {
        if (c->sys) {
            wc_err ignored = {0};
            hcs_system_terminate(c->sys, HCS_DEFAULT_TIMEOUT_MS, &ignored);
        }
        pod_detach(c, 0); /* after its system: the VM's devices are in use until then */
        release_storage(c);
    }
    return rc;
}

/* The layer folders as Windows paths: the image store joins with '/', and what reaches
 * HCS and vmcompute (Storage.Layers, layerFolders, layer descriptors) is what hcsshim
 * sends, filepath.Join'd with '\\'. *owned holds the copies (free each, then the array). */
static int windows_rootfs(const hcs_rootfs *in, hcs_rootfs *out, char ***owned, wc_err *err)
{
    *out = *in;
    *owned = calloc(in->n_lower + 1, sizeof **owned);
    if (!*owned)
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "layer paths: out of memory");
    for (size_t i = 0; i < in->n_lower; i++) {
        char *c = strdup(in->lower_dirs[i]);
        if (!c)
            return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "layer paths: out of memory");
        for (char *q = c; *q; q++)
            if (*q == '/')
                *q = '\\';
        (*owned)[i] = c;
    }
    out->lower_dirs = (const char *const *)*owned;
    return 0;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

int hcs_create(hcs_runtime *rt, const char *id, const char *sandbox_id, const char *bundle,
               json_t *spec, const hcs_rootfs *given, const hcs_io *io, wc_err *err)
{
    hcs_rootfs fixed;
    char **owned = NULL;
    if (given && windows_rootfs(given, &fixed, &owned, err) < 0) {
        free_strv(owned);
        return -1;
    }
    const hcs_rootfs *rootfs = given ? &fixed : NULL;
    int hyperv = rt->hyperv || json_object_get(json_object_get(spec, "windows"), "hyperv");
    if (strlen(id) >= sizeof((ctr *)0)->id || strlen(sandbox_id) >= sizeof((ctr *)0)->sandbox_id) {
        free_strv(owned);
        return wc_err_set(err, WC_INVALID_ARGUMENT, "container id %s or pod id %s is too long", id,
                          sandbox_id);
    }
    ctr *c = calloc(1, sizeof *c);
    if (!c) {
        free_strv(owned);
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "container %s: out of memory", id);
    }
    c->rt = rt;
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->sandbox_id, sizeof c->sandbox_id, "%s", sandbox_id);
    c->spec = json_deep_copy(spec);
    c->io = *io;
    c->memory_limit = spec_u64(spec, "memory", "limit");
    if (hyperv)
        AcquireSRWLockExclusive(&rt->pods_mu);
    int rc = create_ctr(c, bundle, rootfs, hyperv, err);
    if (hyperv)
        ReleaseSRWLockExclusive(&rt->pods_mu);
    free_strv(owned);
    if (rc < 0) {
        ctr_free(c);
        return -1;
    }
    write_record(c);
    add(rt, c);
    return 0;
}

/* The init process from spec.process, its pipes pumped into ours. */
static int start_init(ctr *c, wc_err *err)
{
    hcs_process_io pio = {
        .stdin_pipe = c->io.open_stdin, .stdout_pipe = 1, .stderr_pipe = !c->io.terminal};
    json_t *params = NULL;
    if (hcs_doc_process(json_object_get(c->spec, "process"), &pio, &params, err) < 0)
        return -1;
    HANDLE std[3];
    int rc = hcs_process_create(c->sys, params, HCS_DEFAULT_TIMEOUT_MS, &c->init, std, err);
    json_decref(params);
    if (rc < 0)
        return -1;
    c->pid = hcs_process_pid(c->init);
    write_record(c); /* with the init pid, for hcs_adopt after a restart */
    if (hcs_process_on_exit(c->init, on_process_exit, c, err) < 0) {
        for (int i = 0; i < 3; i++)
            close_h(&std[i]);
        return -1;
    }
    pump_start(&c->pumps[1], std[1], c->out_w);
    c->out_w = NULL;
    if (std[2]) {
        pump_start(&c->pumps[2], std[2], c->err_w);
        c->err_w = NULL;
    }
    if (std[0] && c->in_r) {
        pump_start(&c->pumps[0], c->in_r, std[0]);
        c->in_r = NULL;
    } else if (std[0]) {
        CloseHandle(std[0]);
    }
    report_if_exited(c);
    return 0;
}

/* The compute system exists from hcs_create and its init process comes with hcs_start. */
int hcs_spawn(hcs_runtime *rt, const char *id, int *pid, wc_err *err)
{
    ctr *c;
    *pid = 0;
    return find_or_fail(rt, id, &c, err);
}

int hcs_start(hcs_runtime *rt, const char *id, wc_err *err)
{
    ctr *c;
    if (find_or_fail(rt, id, &c, err) < 0)
        return -1;
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
    if (rc < 0) {
        /* Nothing will ever write the output: the pod model's log readers must see its end
         * (they hold the read ends of these pipes and wait for EOF). */
        close_h(&c->out_w);
        close_h(&c->err_w);
        close_h(&c->in_r);
    }
    return rc;
}

/* ---- kill / delete / state ------------------------------------------------------------ */

int hcs_kill(hcs_runtime *rt, const char *id, int sig, int all, wc_err *err)
{
    ctr *c;
    if (find_or_fail(rt, id, &c, err) < 0)
        return -1;
    hcs_signal s;
    int r = hcs_signal_from_posix(sig, &s, err);
    if (r < 0)
        return -1;
    if (r == 1 || !c->init) /* SIGKILL, or nothing to signal (adopted): end the system */
        return all || !c->init ? hcs_system_terminate(c->sys, HCS_DEFAULT_TIMEOUT_MS, err)
                               : hcs_process_terminate(c->init, HCS_DEFAULT_TIMEOUT_MS, err);
    return hcs_process_signal(c->init, s, HCS_DEFAULT_TIMEOUT_MS, err);
}

int hcs_delete(hcs_runtime *rt, const char *id, wc_err *err)
{
    ctr *c = find(rt, id);
    if (!c) {
        /* Not ours (any more): an orphan from an earlier run is removed all the same. */
        return hcs_remove_orphan(id, HCS_DEFAULT_TIMEOUT_MS, err);
    }
    if (c->sys && hcs_system_terminate(c->sys, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
        return -1;
    drop(rt, c);
    hcs_process_close(c->init);
    c->init = NULL;
    hcs_system_close(c->sys); /* no more callbacks after this */
    c->sys = NULL;
    AcquireSRWLockExclusive(&rt->pods_mu);
    pod_detach(c, UVM_STOP_GRACE_MS); /* before its scratch goes: the VM holds it */
    ReleaseSRWLockExclusive(&rt->pods_mu);
    release_storage(c);
    char *rec = record_path(rt, id);
    DeleteFileA(rec);
    free(rec);
    ctr_free(c);
    return 0;
}

/* The compute system stays until hcs_delete: its storage and the VM's shares go with it. */
int hcs_release(hcs_runtime *rt, const char *id, wc_err *err)
{
    (void)rt;
    (void)id;
    (void)err;
    return 0;
}

/* A VM we hold no record of (wincrid restarted since it was made) is removed by its id. */
static int release_unknown_pod(hcs_runtime *rt, const char *sandbox_id, wc_err *err)
{
    char uvm_id[140];
    uvm_id_of(sandbox_id, uvm_id, sizeof uvm_id);
    if (hcs_remove_orphan(uvm_id, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
        return wc_err_prefix(err, "utility VM %s", uvm_id);
    char *dir = uvm_scratch_dir(rt, sandbox_id);
    if (dir)
        remove_uvm_scratch(dir);
    free(dir);
    return 0;
}

int hcs_pod_release(hcs_runtime *rt, const char *sandbox_id, wc_err *err)
{
    if (!rt->hyperv || !sandbox_id || !*sandbox_id)
        return 0;
    AcquireSRWLockExclusive(&rt->pods_mu);
    pod *p = pod_find(rt, sandbox_id);
    int rc = p ? pod_end(rt, p, UVM_STOP_GRACE_MS, err) : release_unknown_pod(rt, sandbox_id, err);
    ReleaseSRWLockExclusive(&rt->pods_mu);
    return rc;
}

/* Asks HCS for the state of a system we hold no record of. */
static int query_state(const char *id, hcs_state *out, wc_err *err)
{
    hcs_system *sys;
    if (hcs_system_open(id, &sys, err) < 0) {
        if (err->code != WC_NOT_FOUND)
            return -1;
        wc_err_clear(err);
        out->status = HCS_MISSING;
        return 0;
    }
    json_t *q = json_object();
    char *props = NULL;
    int rc = hcs_system_properties(sys, q, HCS_DEFAULT_TIMEOUT_MS, &props, err);
    json_decref(q);
    hcs_system_close(sys);
    if (rc < 0)
        return -1;
    json_t *doc = props ? json_loads(props, 0, NULL) : NULL;
    const char *state = json_string_value(json_object_get(doc, "State"));
    out->status = !state                          ? HCS_RUNNING
                  : strcmp(state, "Created") == 0 ? HCS_CREATED
                  : strcmp(state, "Paused") == 0  ? HCS_PAUSED
                  : strcmp(state, "Stopped") == 0 ? HCS_STOPPED
                                                  : HCS_RUNNING;
    json_decref(doc);
    free(props);
    return 0;
}

int hcs_state_of(hcs_runtime *rt, const char *id, hcs_state *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    ctr *c = find(rt, id);
    if (!c)
        return query_state(id, out, err);
    out->pid = (int)c->pid;
    out->status = c->exited                  ? HCS_STOPPED
                  : c->paused                ? HCS_PAUSED
                  : c->started || c->adopted ? HCS_RUNNING
                                             : HCS_CREATED;
    return 0;
}

static void read_record(ctr *c)
{
    char *path = record_path(c->rt, c->id);
    json_t *rec = json_load_file(path, 0, NULL);
    const char *scratch = json_string_value(json_object_get(rec, "scratch"));
    if (scratch) {
        c->scratch = strdup(scratch);
        c->mounted = 1;
    }
    json_t *spec = json_object_get(rec, "spec");
    c->spec = spec ? json_incref(spec) : json_object();
    json_int_t pid = json_integer_value(json_object_get(rec, "pid"));
    c->pid = pid > 0 && pid <= UINT32_MAX ? (uint32_t)pid : 0;
    c->memory_limit = spec_u64(c->spec, "memory", "limit");
    json_decref(rec);
    free(path);
}

int hcs_adopt(hcs_runtime *rt, const char *id, wc_err *err)
{
    if (find(rt, id))
        return 0;
    ctr *c = calloc(1, sizeof *c);
    c->rt = rt;
    snprintf(c->id, sizeof c->id, "%s", id);
    c->adopted = c->started = 1;
    if (hcs_system_open(id, &c->sys, err) < 0 ||
        hcs_system_on_exit(c->sys, on_system_exit, c, err) < 0) {
        ctr_free(c);
        return -1;
    }
    read_record(c);
    /* The init process is still there: reopened, a stop signals it with its grace and its
     * exit code is known, as before the restart. */
    wc_err perr = {0};
    if (c->pid && (hcs_process_open(c->sys, c->pid, &c->init, &perr) < 0 ||
                   hcs_process_on_exit(c->init, on_process_exit, c, &perr) < 0)) {
        wc_warn("hcs", "cannot reopen a container's init process", "id=%s pid=%lu err=\"%s\"", id,
                (unsigned long)c->pid, perr.msg);
        hcs_process_close(c->init);
        c->init = NULL;
    }
    add(rt, c);
    /* It may have ended while nobody watched: its exit code is still there to report. */
    report_if_exited(c);
    return 0;
}

/* ---- std streams ---------------------------------------------------------------------- */

int hcs_open_output(hcs_runtime *rt, const char *id, int *out_fd, int *err_fd, wc_err *err)
{
    *out_fd = *err_fd = -1;
    ctr *c;
    if (find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (c->adopted)
        return wc_err_set(err, WC_UNIMPLEMENTED,
                          "container %s: its output pipes belonged to the wincrid that started "
                          "it; after a restart the output is not reachable",
                          id);
    *out_fd = dup_fd(c->out_r, _O_RDONLY | _O_BINARY);
    if (c->err_r)
        *err_fd = dup_fd(c->err_r, _O_RDONLY | _O_BINARY);
    if (*out_fd < 0 || (c->err_r && *err_fd < 0)) {
        if (*out_fd >= 0)
            _close(*out_fd);
        *out_fd = *err_fd = -1;
        return wc_err_set(err, WC_INTERNAL, "container %s: cannot open its output", id);
    }
    return 0;
}

int hcs_open_stdin(hcs_runtime *rt, const char *id, int *in_fd, wc_err *err)
{
    *in_fd = -1;
    ctr *c;
    if (find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (!c->io.open_stdin)
        return 0;
    if (!c->in_w)
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "container %s: stdin was already handed out (it closes with its "
                          "only writer)",
                          id);
    /* Handed over, not duplicated: closing it is the container's end of input. */
    *in_fd = _open_osfhandle((intptr_t)c->in_w, _O_WRONLY | _O_BINARY);
    if (*in_fd < 0)
        return wc_err_set(err, WC_INTERNAL, "container %s: cannot open its stdin", id);
    c->in_w = NULL;
    return 0;
}

/* ---- update / pause / resume ---------------------------------------------------------- */

/* resources: the OCI windows.resources object (podsandbox's pod_platform_resources). */
int hcs_update(hcs_runtime *rt, const char *id, const json_t *resources, wc_err *err)
{
    ctr *c;
    if (find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (!c->sys)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s has no compute system", id);
    unsigned cpus = c->pod ? c->pod->cpus : GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    json_t *reqs = NULL;
    if (hcs_doc_container_update(resources, cpus, &reqs, err) < 0)
        return wc_err_prefix(err, "container %s", id);
    size_t i;
    json_t *r;
    int rc = 0;
    json_array_foreach(reqs, i, r)
    {
        if ((rc = hcs_system_modify(c->sys, r, HCS_DEFAULT_TIMEOUT_MS, err)) < 0)
            break;
    }
    json_decref(reqs);
    if (rc < 0)
        return -1;
    uint64_t limit = 0;
    json_t *mem = json_object_get(json_object_get(resources, "memory"), "limit");
    if (json_integer_value(mem) > 0)
        limit = (uint64_t)json_integer_value(mem);
    AcquireSRWLockExclusive(&rt->mu);
    if (limit)
        c->memory_limit = limit;
    ReleaseSRWLockExclusive(&rt->mu);
    return 0;
}

int hcs_pause(hcs_runtime *rt, const char *id, wc_err *err)
{
    ctr *c;
    if (find_or_fail(rt, id, &c, err) < 0 ||
        hcs_system_pause(c->sys, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
        return -1;
    c->paused = 1;
    return 0;
}

int hcs_resume(hcs_runtime *rt, const char *id, wc_err *err)
{
    ctr *c;
    if (find_or_fail(rt, id, &c, err) < 0 ||
        hcs_system_resume(c->sys, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
        return -1;
    c->paused = 0;
    return 0;
}

/* ---- exec_sync ------------------------------------------------------------------------ */

typedef struct collector {
    HANDLE h, thread;
    char *data;
    size_t len, max;
    int truncated;
} collector;

static DWORD WINAPI collect_main(void *arg)
{
    collector *k = arg;
    char buf[8192];
    DWORD n;
    while (ReadFile(k->h, buf, sizeof buf, &n, NULL) && n > 0) {
        size_t keep = k->len + n <= k->max ? n : k->max - k->len;
        if (keep < n)
            k->truncated = 1; /* the rest is read and dropped so the process never blocks */
        if (keep) {
            char *grown = realloc(k->data, k->len + keep + 1);
            if (!grown)
                break;
            k->data = grown;
            memcpy(k->data + k->len, buf, keep);
            k->len += keep;
            k->data[k->len] = '\0';
        }
    }
    return 0;
}

static void collect_start(collector *k, HANDLE h, size_t max)
{
    k->h = h;
    k->max = max;
    k->thread = h ? CreateThread(NULL, 0, collect_main, k, 0, NULL) : NULL;
}

/* Waits for the reader; a grandchild holding the pipe open does not hold us past drain_ms. */
static void collect_finish(collector *k, DWORD drain_ms)
{
    if (k->thread && WaitForSingleObject(k->thread, drain_ms) != WAIT_OBJECT_0) {
        CancelSynchronousIo(k->thread);
        WaitForSingleObject(k->thread, INFINITE);
    }
    close_h(&k->thread);
    close_h(&k->h);
    if (!k->data)
        k->data = calloc(1, 1);
}

int hcs_exec_sync(hcs_runtime *rt, const char *id, const json_t *process, int64_t timeout_ms,
                  size_t max_output, hcs_exec_result *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    ctr *c;
    if (find_or_fail(rt, id, &c, err) < 0)
        return -1;
    hcs_process_io pio = {.stdout_pipe = 1, .stderr_pipe = 1};
    json_t *params = NULL;
    hcs_process *p = NULL;
    HANDLE std[3];
    if (hcs_doc_process(process, &pio, &params, err) < 0)
        return -1;
    int rc = hcs_process_create(c->sys, params, HCS_DEFAULT_TIMEOUT_MS, &p, std, err);
    json_decref(params);
    if (rc < 0)
        return -1;
    close_h(&std[0]);
    collector ko = {0}, ke = {0};
    collect_start(&ko, std[1], max_output);
    collect_start(&ke, std[2], max_output);
    hcs_process_status st = {0};
    DWORD wait = timeout_ms > 0 ? (DWORD)timeout_ms : INFINITE;
    rc = hcs_process_wait(p, wait, &st, err);
    if (rc < 0 && err->code == WC_DEADLINE_EXCEEDED) {
        wc_err_clear(err);
        out->timed_out = 1;
        wc_err ignored = {0};
        hcs_process_terminate(p, HCS_DEFAULT_TIMEOUT_MS, &ignored);
        rc = 0;
    }
    collect_finish(&ko, EXEC_DRAIN_MS);
    collect_finish(&ke, EXEC_DRAIN_MS);
    hcs_process_close(p);
    out->out = ko.data;
    out->out_len = ko.len;
    out->err = ke.data;
    out->err_len = ke.len;
    out->truncated = ko.truncated || ke.truncated;
    out->exit_code = out->timed_out ? -1 : (int)st.exit_code;
    if (rc < 0)
        hcs_exec_result_clear(out);
    return rc;
}

void hcs_exec_result_clear(hcs_exec_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* ---- interactive exec ------------------------------------------------------------------ */

#define EXEC_WAIT_SLICE_MS 500   /* how often a blocked wait looks for a kill */
#define EXEC_KILL_GRACE_MS 10000 /* after a kill, how long wait trusts HCS to report the exit */

/* HCS's std pipes are handed to the caller as CRT descriptors; HCS itself keeps the process
 * and its exit. Closing the stdin descriptor is the process's end of input. */
struct hcs_exec_proc {
    hcs_process *proc;
    char id[128];
    int tty;
    volatile LONG killed;
    int64_t killed_ns;
    volatile LONG done; /* wait() has seen the exit */
};

/* A CRT descriptor owning h (NULL stays -1). */
static int own_fd(HANDLE h, int flags)
{
    if (!h)
        return -1;
    int fd = _open_osfhandle((intptr_t)h, flags | _O_BINARY);
    if (fd < 0)
        CloseHandle(h);
    return fd;
}

static void close_fds(int *fds[3])
{
    for (int i = 0; i < 3; i++) {
        if (*fds[i] >= 0)
            _close(*fds[i]);
        *fds[i] = -1;
    }
}

int hcs_exec_start(hcs_runtime *rt, const char *id, const json_t *process,
                   const hcs_exec_stdio *stdio, int *in_fd, int *out_fd, int *err_fd,
                   hcs_exec_proc **out, wc_err *err)
{
    int *fds[3] = {in_fd, out_fd, err_fd};
    *in_fd = *out_fd = *err_fd = -1;
    *out = NULL;
    ctr *c;
    if (find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (!c->sys || !c->started || c->exited)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "exec: container %s is not running", id);
    /* Under a TTY the console carries both streams: HCS gives no separate stderr pipe. */
    hcs_process_io pio = {.stdin_pipe = stdio->want_in,
                          .stdout_pipe = stdio->want_out,
                          .stderr_pipe = stdio->want_err && !stdio->tty};
    json_t *params = NULL;
    if (hcs_doc_process(process, &pio, &params, err) < 0)
        return wc_err_prefix(err, "exec in container %s", id);
    hcs_exec_proc *p = calloc(1, sizeof *p);
    HANDLE std[3] = {NULL, NULL, NULL};
    int rc = p ? hcs_process_create(c->sys, params, HCS_DEFAULT_TIMEOUT_MS, &p->proc, std, err)
               : wc_err_set(err, WC_RESOURCE_EXHAUSTED, "out of memory");
    json_decref(params);
    if (rc < 0) {
        free(p);
        return wc_err_prefix(err, "exec in container %s", id);
    }
    snprintf(p->id, sizeof p->id, "%s", id);
    p->tty = stdio->tty;
    *in_fd = own_fd(std[0], _O_WRONLY);
    *out_fd = own_fd(std[1], _O_RDONLY);
    *err_fd = own_fd(std[2], _O_RDONLY);
    if ((std[0] && *in_fd < 0) || (std[1] && *out_fd < 0) || (std[2] && *err_fd < 0)) {
        close_fds(fds);
        hcs_exec_free(p);
        return wc_err_set(err, WC_INTERNAL, "exec in container %s: no descriptor for its pipes",
                          id);
    }
    *out = p;
    return 0;
}

int hcs_exec_resize(hcs_exec_proc *p, unsigned width, unsigned height)
{
    if (!p || !p->tty)
        return -1;
    json_t *doc = hcs_doc_process_resize((uint16_t)(width > 0xffff ? 0xffff : width),
                                         (uint16_t)(height > 0xffff ? 0xffff : height));
    wc_err err = {0};
    int rc = doc ? hcs_process_modify(p->proc, doc, HCS_DEFAULT_TIMEOUT_MS, &err) : -1;
    json_decref(doc);
    if (rc < 0)
        wc_debug("hcs", "exec resize failed", "container=%.12s err=\"%s\"", p->id, err.msg);
    return rc;
}

/* Waits in slices so a kill is noticed; after a kill HCS gets a grace period to report the
 * exit, then the wait gives up (the streaming session must be able to end). */
int hcs_exec_wait(hcs_exec_proc *p, int *exit_code)
{
    *exit_code = -1;
    for (;;) {
        hcs_process_status st = {0};
        wc_err err = {0};
        if (hcs_process_wait(p->proc, EXEC_WAIT_SLICE_MS, &st, &err) == 0) {
            *exit_code = (int)st.exit_code;
            InterlockedExchange(&p->done, 1);
            return 0;
        }
        if (err.code != WC_DEADLINE_EXCEEDED) {
            wc_warn("hcs", "exec wait failed", "container=%.12s err=\"%s\"", p->id, err.msg);
            return -1;
        }
        if (p->killed && now_ns() - p->killed_ns > (int64_t)EXEC_KILL_GRACE_MS * 1000000)
            return -1;
    }
}

void hcs_exec_kill(hcs_exec_proc *p)
{
    if (!p || p->done)
        return;
    p->killed_ns = now_ns();
    InterlockedExchange(&p->killed, 1);
    wc_err err = {0};
    if (hcs_process_terminate(p->proc, HCS_DEFAULT_TIMEOUT_MS, &err) < 0)
        wc_warn("hcs", "exec kill failed", "container=%.12s err=\"%s\"", p->id, err.msg);
}

void hcs_exec_free(hcs_exec_proc *p)
{
    if (!p)
        return;
    if (p->proc && !p->done) {
        int code;
        hcs_exec_kill(p);
        hcs_exec_wait(p, &code);
    }
    hcs_process_close(p->proc);
    free(p);
}

/* ---- stats ---------------------------------------------------------------------------- */

int hcs_stats_of(hcs_runtime *rt, const char *id, hcs_stats *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    ctr *c;
    if (find_or_fail(rt, id, &c, err) < 0)
        return -1;
    json_t *q = hcs_doc_query_statistics();
    char *props = NULL;
    int rc = hcs_system_properties(c->sys, q, HCS_DEFAULT_TIMEOUT_MS, &props, err);
    json_decref(q);
    struct hcs_doc_stats s;
    if (rc == 0)
        rc = hcs_stats_parse(props, &s, err);
    free(props);
    if (rc < 0)
        return -1;
    out->timestamp_ns = s.timestamp_ns ? s.timestamp_ns : now_ns();
    out->cpu_usage_ns = s.cpu_total_ns;
    /* Windows has no page cache split: usage is the commit, the working set is private. */
    out->memory_usage_bytes = s.mem_commit_bytes;
    out->memory_working_set = s.mem_private_working_set_bytes;
    out->memory_rss_bytes = s.mem_private_working_set_bytes;
    out->memory_limit_bytes = c->memory_limit;
    return 0;
}

/* Containers HCS runs for us (Owner "wincri"); utility VMs are the pods' and are released
 * with them. */
int hcs_list(hcs_runtime *rt, char ***ids, size_t *n, wc_err *err)
{
    (void)rt;
    json_t *list = NULL;
    *ids = NULL;
    *n = 0;
    if (hcs_enumerate_owned(NULL, HCS_DEFAULT_TIMEOUT_MS, &list, err) < 0)
        return -1;
    char **v = calloc(json_array_size(list) + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        const char *type = json_string_value(json_object_get(e, "SystemType"));
        const char *id = json_string_value(json_object_get(e, "Id"));
        if (id && type && strcmp(type, "Container") == 0 && (v[k] = strdup(id)))
            k++;
    }
    json_decref(list);
    if (!v)
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED, "out of memory");
    *ids = v;
    *n = k;
    return 0;
}

/* HCS calls end with the process that made them: nothing of a killed wincrid runs on. */
void hcs_quiesce(hcs_runtime *rt)
{
    (void)rt;
}

/* HCS answers state questions from the handles this runtime holds: nothing to gather. */
void hcs_survey_begin(hcs_runtime *rt)
{
    (void)rt;
}

void hcs_survey_end(hcs_runtime *rt)
{
    (void)rt;
}
