/* hcs/runtime.h on Windows: process-isolated and Hyper-V isolated containers through
 * computecore.dll. This file is the runtime itself: open and close, the registry of the
 * containers it holds, and the verbs on a container that need no lifecycle (state, update,
 * pause, resume, stats, its std streams). The rest is split by concern as hcs/runtime_win32.h
 * lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hcs/hcs_win32_api.h"
#include "hcs/runtime_win32.h"
#include "hcs/stdio_keep_win32.h"

int64_t hcs_now_ns(void)
{
    FILETIME ft;
    GetSystemTimePreciseAsFileTime(&ft);
    uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    return (int64_t)(t - 116444736000000000ULL) * 100; /* 1601 → 1970, 100 ns → ns */
}

/* ---- the registry --------------------------------------------------------------------- */

hcs_ctr *hcs_ctr_find(hcs_runtime *rt, const char *id)
{
    hcs_ctr *c = NULL;
    AcquireSRWLockShared(&rt->mu);
    for (size_t i = 0; i < rt->n && !c; i++)
        if (strcmp(rt->ctrs[i]->id, id) == 0)
            c = rt->ctrs[i];
    ReleaseSRWLockShared(&rt->mu);
    return c;
}

int hcs_ctr_find_or_fail(hcs_runtime *rt, const char *id, hcs_ctr **out, wc_err *err)
{
    *out = hcs_ctr_find(rt, id);
    if (!*out)
        return wc_err_set(err, WC_NOT_FOUND, "container %s is not known to the HCS backend", id);
    return 0;
}

void hcs_ctr_register(hcs_runtime *rt, hcs_ctr *c)
{
    AcquireSRWLockExclusive(&rt->mu);
    rt->ctrs = wc_xrealloc(rt->ctrs, (rt->n + 1) * sizeof *rt->ctrs);
    rt->ctrs[rt->n++] = c;
    ReleaseSRWLockExclusive(&rt->mu);
}

void hcs_ctr_unregister(hcs_runtime *rt, hcs_ctr *c)
{
    AcquireSRWLockExclusive(&rt->mu);
    for (size_t i = 0; i < rt->n; i++)
        if (rt->ctrs[i] == c) {
            rt->ctrs[i] = rt->ctrs[--rt->n];
            break;
        }
    ReleaseSRWLockExclusive(&rt->mu);
}

void hcs_ctrs_forget_uvm(hcs_runtime *rt, const hcs_uvm *vm)
{
    AcquireSRWLockExclusive(&rt->mu);
    for (size_t i = 0; i < rt->n; i++)
        if (rt->ctrs[i]->uvm == vm)
            rt->ctrs[i]->uvm = NULL;
    ReleaseSRWLockExclusive(&rt->mu);
}

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
    hcs_runtime *rt = wc_xcalloc(1, sizeof *rt);
    rt->handler = wc_xstrdup(handler->name);
    rt->state_dir = dir;
    rt->hyperv = handler->isolation && strcmp(handler->isolation, "hyperv") == 0;
    rt->on_exit = on_exit;
    rt->exit_ctx = exit_ctx;
    InitializeSRWLock(&rt->mu);
    hcs_uvm_list_init(&rt->uvms);
    *out = rt;
    return 0;
}

void hcs_runtime_close(hcs_runtime *rt)
{
    if (!rt)
        return;
    /* Compute systems keep running (recovery reopens them); only our handles go. */
    for (size_t i = 0; i < rt->n; i++)
        hcs_ctr_free(rt->ctrs[i]);
    free(rt->ctrs);
    hcs_uvm_list_close(&rt->uvms);
    free(rt->handler);
    free(rt->state_dir);
    free(rt);
}

/* ---- state ---------------------------------------------------------------------------- */

static hcs_status status_of_hcs_state(const char *state)
{
    return !state                          ? HCS_RUNNING
           : strcmp(state, "Created") == 0 ? HCS_CREATED
           : strcmp(state, "Paused") == 0  ? HCS_PAUSED
           : strcmp(state, "Stopped") == 0 ? HCS_STOPPED
                                           : HCS_RUNNING;
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
    out->status = status_of_hcs_state(json_string_value(json_object_get(doc, "State")));
    json_decref(doc);
    free(props);
    return 0;
}

int hcs_state_of(hcs_runtime *rt, const char *id, hcs_state *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    hcs_ctr *c = hcs_ctr_find(rt, id);
    if (!c && hcs_job_state(rt, id, out))
        return 0;
    if (!c)
        return query_state(id, out, err);
    out->pid = (int)c->pid;
    out->status = c->exited                  ? HCS_STOPPED
                  : c->paused                ? HCS_PAUSED
                  : c->started || c->adopted ? HCS_RUNNING
                                             : HCS_CREATED;
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
    char **v = wc_xcalloc(json_array_size(list) + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *e = json_array_get(list, i);
        const char *type = json_string_value(json_object_get(e, "SystemType"));
        const char *id = json_string_value(json_object_get(e, "Id"));
        if (id && type && strcmp(type, "Container") == 0)
            v[k++] = wc_xstrdup(id);
    }
    json_decref(list);
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

/* ---- std streams ---------------------------------------------------------------------- */

int hcs_open_output(hcs_runtime *rt, const char *id, int *out_fd, int *err_fd, wc_err *err)
{
    *out_fd = *err_fd = -1;
    hcs_ctr *c;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (c->adopted)
        return wc_err_set(err, WC_UNIMPLEMENTED,
                          "container %s: its output pipes belonged to the wincrid that started "
                          "it; after a restart the output is not reachable",
                          id);
    return hcs_stdio_open_output(&c->stdio, id, out_fd, err_fd, err);
}

int hcs_open_stdin(hcs_runtime *rt, const char *id, int *in_fd, wc_err *err)
{
    *in_fd = -1;
    hcs_ctr *c;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (!c->io.open_stdin)
        return 0;
    return hcs_stdio_take_stdin(&c->stdio, id, in_fd, err);
}

int hcs_keep_std(hcs_runtime *rt, const char *id, wc_err *err)
{
    hcs_ctr *c;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (c->started)
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "container %s: its pipes are pumped already (it was started)", id);
    c->stdio.keep = 1;
    return 0;
}

int hcs_take_std(hcs_runtime *rt, const char *id, void *std[3], wc_err *err)
{
    hcs_ctr *c;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (!c->stdio.keep || !c->stdio.kept[1])
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "container %s: its init's pipes were not kept or were taken", id);
    for (int i = 0; i < 3; i++) {
        std[i] = c->stdio.kept[i];
        c->stdio.kept[i] = NULL;
    }
    return 0;
}

/* ---- update / pause / resume ---------------------------------------------------------- */

/* Sends each request in turn; the first failure stops. */
static int modify_all(hcs_system *sys, const json_t *requests, wc_err *err)
{
    size_t i;
    json_t *r;
    json_array_foreach(requests, i, r)
    {
        if (hcs_system_modify(sys, r, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
            return -1;
    }
    return 0;
}

/* The limit stats report, once HCS has applied it. */
static void remember_memory_limit(hcs_ctr *c, const json_t *resources)
{
    json_int_t limit =
        json_integer_value(json_object_get(json_object_get(resources, "memory"), "limit"));
    if (limit <= 0)
        return;
    AcquireSRWLockExclusive(&c->rt->mu);
    c->memory_limit = (uint64_t)limit;
    ReleaseSRWLockExclusive(&c->rt->mu);
}

/* resources: the OCI windows.resources object (podsandbox's pod_platform_resources). */
int hcs_update(hcs_runtime *rt, const char *id, const json_t *resources, wc_err *err)
{
    hcs_ctr *c;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0)
        return -1;
    if (c->job)
        return hcs_job_update(c, resources, err);
    if (!c->sys)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s has no compute system", id);
    unsigned cpus = c->uvm ? hcs_uvm_cpus(c->uvm) : GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    json_t *reqs = NULL;
    if (hcs_doc_container_update(resources, cpus, &reqs, err) < 0)
        return wc_err_prefix(err, "container %s", id);
    int rc = modify_all(c->sys, reqs, err);
    json_decref(reqs);
    if (rc == 0)
        remember_memory_limit(c, resources);
    return rc;
}

static int no_pause(const hcs_ctr *c, wc_err *err)
{
    return wc_err_set(err, WC_UNIMPLEMENTED,
                      "container %s is a HostProcess container: its processes run on the host "
                      "and cannot be paused",
                      c->id);
}

int hcs_pause(hcs_runtime *rt, const char *id, wc_err *err)
{
    hcs_ctr *c;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) == 0 && c->job)
        return no_pause(c, err);
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0 ||
        hcs_system_pause(c->sys, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
        return -1;
    c->paused = 1;
    return 0;
}

int hcs_resume(hcs_runtime *rt, const char *id, wc_err *err)
{
    hcs_ctr *c;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) == 0 && c->job)
        return no_pause(c, err);
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0 ||
        hcs_system_resume(c->sys, HCS_DEFAULT_TIMEOUT_MS, err) < 0)
        return -1;
    c->paused = 0;
    return 0;
}

/* ---- stats ---------------------------------------------------------------------------- */

static int query_statistics(hcs_system *sys, struct hcs_doc_stats *s, wc_err *err)
{
    json_t *q = hcs_doc_query_statistics();
    char *props = NULL;
    int rc = hcs_system_properties(sys, q, HCS_DEFAULT_TIMEOUT_MS, &props, err);
    json_decref(q);
    if (rc == 0)
        rc = hcs_stats_parse(props, s, err);
    free(props);
    return rc;
}

int hcs_stats_of(hcs_runtime *rt, const char *id, hcs_stats *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    hcs_ctr *c;
    struct hcs_doc_stats s;
    if (hcs_ctr_find_or_fail(rt, id, &c, err) == 0 && c->job)
        return hcs_job_stats(c, out, err);
    if (hcs_ctr_find_or_fail(rt, id, &c, err) < 0 || query_statistics(c->sys, &s, err) < 0)
        return -1;
    out->timestamp_ns = s.timestamp_ns ? s.timestamp_ns : hcs_now_ns();
    out->cpu_usage_ns = s.cpu_total_ns;
    /* Windows has no page cache split: usage is the commit, the working set is private. */
    out->memory_usage_bytes = s.mem_commit_bytes;
    out->memory_working_set = s.mem_private_working_set_bytes;
    out->memory_rss_bytes = s.mem_private_working_set_bytes;
    out->memory_limit_bytes = c->memory_limit;
    return 0;
}

/* The container's init ended: reported to the runtime's owner once, whichever of the
 * notifications (exit callback, wait, a reopen that finds it gone) comes first. */
void hcs_ctr_report_exit(hcs_ctr *c, int code)
{
    AcquireSRWLockExclusive(&c->rt->mu);
    int first = !c->exit_reported;
    c->exit_reported = 1;
    c->exited = 1;
    ReleaseSRWLockExclusive(&c->rt->mu);
    if (!first || !c->rt->on_exit)
        return;
    hcs_exit e = {.pid = (int)c->pid, .exit_code = code, .finished_ns = hcs_now_ns()};
    c->rt->on_exit(c->rt->exit_ctx, c->id, NULL, &e);
}
