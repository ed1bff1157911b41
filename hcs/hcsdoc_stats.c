/* Property queries and the parsing of their answers: Statistics (converted the way hcsshim's
 * hcsPropertiesToWindowsStats in cmd/containerd-shim-runhcs-v1/task_hcs.go does), ProcessList,
 * and the exit notifications' SystemExitStatus / ProcessStatus documents. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcs/hcsdoc_int.h"

json_t *hcs_doc_query_statistics(void)
{
    return json_pack("{s:[s]}", "PropertyTypes", "Statistics");
}

json_t *hcs_doc_query_process_list(void)
{
    return json_pack("{s:[s]}", "PropertyTypes", "ProcessList");
}

json_t *hcs_doc_query_owned(const char *owner)
{
    return json_pack("{s:[s]}", "Owners", owner ? owner : HCS_OWNER);
}

/* Loads a document that must be a JSON object. */
static json_t *load_object(const char *text, const char *what, wc_err *err)
{
    json_error_t jerr;
    json_t *root = text ? json_loads(text, 0, &jerr) : NULL;
    if (!root || !json_is_object(root)) {
        json_decref(root);
        wc_err_set(err, WC_INTERNAL, "HCS %s document is not a JSON object%s%s", what,
                   text ? ": " : "", text ? jerr.text : "");
        return NULL;
    }
    return root;
}

/* A uint64 member in 100 ns units, returned in ns (saturating). */
static uint64_t ns_from_100ns(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    uint64_t x = (uint64_t)json_integer_value(v);
    return x > UINT64_MAX / 100 ? UINT64_MAX : x * 100;
}

static uint64_t u64(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

int hcs_stats_parse(const char *properties_json, hcs_doc_stats *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *root = load_object(properties_json, "statistics", err);
    if (!root)
        return -1;
    json_t *st = hd_obj(root, "Statistics");
    if (!st) {
        json_decref(root);
        return wc_err_set(err, WC_INTERNAL, "HCS properties carry no Statistics");
    }
    const char *ts = hd_str(st, "Timestamp");
    if (ts && hcs_parse_rfc3339(ts, &out->timestamp_ns) != 0) {
        wc_err_set(err, WC_INTERNAL, "HCS statistics: Timestamp \"%s\" is not RFC 3339", ts);
        json_decref(root);
        return -1;
    }
    out->uptime_ns = ns_from_100ns(st, "Uptime100ns");
    json_t *cpu = hd_obj(st, "Processor");
    if (cpu) {
        out->has_cpu = 1;
        out->cpu_total_ns = ns_from_100ns(cpu, "TotalRuntime100ns");
        out->cpu_user_ns = ns_from_100ns(cpu, "RuntimeUser100ns");
        out->cpu_kernel_ns = ns_from_100ns(cpu, "RuntimeKernel100ns");
    }
    json_t *mem = hd_obj(st, "Memory");
    if (mem) {
        out->has_memory = 1;
        out->mem_private_working_set_bytes = u64(mem, "MemoryUsagePrivateWorkingSetBytes");
        out->mem_commit_bytes = u64(mem, "MemoryUsageCommitBytes");
        out->mem_commit_peak_bytes = u64(mem, "MemoryUsageCommitPeakBytes");
    }
    json_decref(root);
    return 0;
}

int hcs_process_list_parse(const char *properties_json, hcs_proc_info **out, size_t *n, wc_err *err)
{
    *out = NULL;
    *n = 0;
    json_t *root = load_object(properties_json, "process list", err);
    if (!root)
        return -1;
    json_t *list = json_object_get(root, "ProcessList");
    if (list && !json_is_array(list)) {
        json_decref(root);
        return wc_err_set(err, WC_INTERNAL, "HCS properties: ProcessList is not an array");
    }
    size_t count = json_array_size(list);
    hcs_proc_info *procs = count ? wc_xcalloc(count, sizeof *procs) : NULL;
    for (size_t i = 0; i < count; i++) {
        json_t *p = json_array_get(list, i);
        procs[i].pid = (uint32_t)u64(p, "ProcessId");
        const char *img = hd_str(p, "ImageName");
        snprintf(procs[i].image, sizeof procs[i].image, "%s", img ? img : "");
        procs[i].kernel_ns = ns_from_100ns(p, "KernelTime100ns");
        procs[i].user_ns = ns_from_100ns(p, "UserTime100ns");
        procs[i].commit_bytes = u64(p, "MemoryCommitBytes");
        procs[i].ws_private_bytes = u64(p, "MemoryWorkingSetPrivateBytes");
        procs[i].ws_shared_bytes = u64(p, "MemoryWorkingSetSharedBytes");
    }
    json_decref(root);
    *out = procs;
    *n = count;
    return 0;
}

int hcs_system_exit_parse(const char *json, hcs_system_exit *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json || !*json)
        return 0; /* HCS may send no data for a clean exit */
    json_t *root = load_object(json, "system exit", err);
    if (!root)
        return -1;
    json_t *st = json_object_get(root, "Status");
    if (json_is_integer(st)) {
        json_int_t v = json_integer_value(st);
        out->status = v > INT32_MAX ? (int32_t)(uint32_t)v : (int32_t)v;
    }
    const char *type = hd_str(root, "ExitType");
    snprintf(out->exit_type, sizeof out->exit_type, "%s", type ? type : "");
    json_decref(root);
    return 0;
}

int hcs_process_status_parse(const char *json, hcs_process_status *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    json_t *root = load_object(json, "process status", err);
    if (!root)
        return -1;
    out->pid = (uint32_t)u64(root, "ProcessId");
    out->exited = json_is_true(json_object_get(root, "Exited"));
    json_t *code = json_object_get(root, "ExitCode");
    if (json_is_integer(code))
        out->exit_code = (uint32_t)json_integer_value(code);
    json_t *lw = json_object_get(root, "LastWaitResult");
    if (json_is_integer(lw))
        out->last_wait_result = (int32_t)json_integer_value(lw);
    json_decref(root);
    return 0;
}
