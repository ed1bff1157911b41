/* computecore.dll client: loader, the one operation helper, compute systems and processes.
 * Signatures come from mingw-w64's computecore.h; every pointer is typed from it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "hcs/hcs_win32.h"
#include "hcs/hcs_win32_api.h"
#include "common/wstr_win32.h"

/* ---- the operation helper ----------------------------------------------------------------- */

static int is_timeout(HRESULT hr)
{
    return hr == HCS_E_OPERATION_TIMEOUT || hr == HRESULT_FROM_WIN32(ERROR_TIMEOUT) ||
           hr == HRESULT_FROM_WIN32(WAIT_TIMEOUT);
}

/* Takes a result document from HCS: converts it to UTF-8 and releases it with LocalFree. */
static char *take_result(PWSTR doc)
{
    if (!doc)
        return NULL;
    wc_err ignored = {0};
    char *s = wc_utf16_to_utf8(doc, &ignored);
    LocalFree(doc);
    return s;
}

/* Finishes an operation started by `call_hr`: waits up to timeout_ms, parses a failure, and
 * on timeout cancels and waits for the operation to complete before closing it. */
static int op_finish(HCS_OPERATION op, HRESULT call_hr, DWORD timeout_ms,
                     HCS_PROCESS_INFORMATION *pinfo, char **result, wc_err *err, const char *what)
{
    if (result)
        *result = NULL;
    if (FAILED(call_hr)) {
        hcs_api.HcsCloseOperation(op);
        return hcs_err_from_result(err, call_hr, NULL, "%s", what);
    }
    PWSTR doc = NULL;
    HRESULT hr = pinfo
                     ? hcs_api.HcsWaitForOperationResultAndProcessInfo(op, timeout_ms, pinfo, &doc)
                     : hcs_api.HcsWaitForOperationResult(op, timeout_ms, &doc);
    if (is_timeout(hr)) {
        free(take_result(doc));
        doc = NULL;
        HRESULT chr = hcs_api.HcsCancelOperation(op);
        wc_warn("hcs", "operation timed out; cancelling", "op=\"%s\" timeout_ms=%lu cancel=0x%08lx",
                what, (unsigned long)timeout_ms, (unsigned long)chr);
        /* The call is still in flight until HCS completes it (cancelled or not): wait. */
        HCS_PROCESS_INFORMATION late;
        HRESULT fhr =
            pinfo ? hcs_api.HcsWaitForOperationResultAndProcessInfo(op, INFINITE, &late, &doc)
                  : hcs_api.HcsWaitForOperationResult(op, INFINITE, &doc);
        free(take_result(doc));
        if (pinfo && SUCCEEDED(fhr)) {
            /* It finished after all: do not leak the pipes it handed out. */
            HANDLE h[3] = {late.StdInput, late.StdOutput, late.StdError};
            for (int i = 0; i < 3; i++)
                if (h[i])
                    CloseHandle(h[i]);
        }
        hcs_api.HcsCloseOperation(op);
        wc_err_set(err, WC_DEADLINE_EXCEEDED, "%s: HCS did not answer within %lu ms; cancelled",
                   what, (unsigned long)timeout_ms);
        err->sys = (long)hr;
        return -1;
    }
    char *text = take_result(doc);
    hcs_api.HcsCloseOperation(op);
    if (FAILED(hr)) {
        hcs_err_from_result(err, hr, text, "%s", what);
        free(text);
        return -1;
    }
    if (result)
        *result = text;
    else
        free(text);
    return 0;
}

static HCS_OPERATION op_new(wc_err *err, const char *what)
{
    HCS_OPERATION op = hcs_api.HcsCreateOperation(NULL, NULL);
    if (!op)
        wc_err_set(err, WC_RESOURCE_EXHAUSTED, "%s: HcsCreateOperation failed", what);
    return op;
}

/* ---- compute systems ---------------------------------------------------------------------- */

struct hcs_system {
    HCS_SYSTEM handle;
    char id[128];
    hcs_system_exit_fn exit_fn;
    void *exit_ctx;
};

struct hcs_process {
    HCS_PROCESS handle;
    hcs_system *sys;
    uint32_t pid;
    hcs_process_exit_fn exit_fn;
    void *exit_ctx;
};

const char *hcs_system_id(const hcs_system *sys)
{
    return sys->id;
}

/* Converts a JSON document to UTF-16 for HCS. */
static wchar_t *doc_w(const json_t *doc, wc_err *err)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    wchar_t *w = wc_utf8_to_utf16(s, err);
    free(s);
    return w;
}

static hcs_system *system_new(const char *id)
{
    hcs_system *s = wc_xcalloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    return s;
}

int hcs_system_create(const char *id, const json_t *doc, DWORD timeout_ms, hcs_system **out,
                      wc_err *err)
{
    *out = NULL;
    if (hcs_api_load(err) != 0)
        return -1;
    if (!id || strlen(id) >= sizeof((hcs_system *)0)->id)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "compute system id is missing or too long");
    /* Keep compute systems alive across a wincrid restart: recovery reopens them. */
    if (!json_is_object(doc))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "create %s: the document is not an object", id);
    json_t *copy = json_deep_copy(doc);
    json_object_set_new(copy, "ShouldTerminateOnLastHandleClosed", json_false());
    wchar_t *wcfg = doc_w(copy, err);
    json_decref(copy);
    wchar_t *wid = wcfg ? wc_utf8_to_utf16(id, err) : NULL;
    hcs_system *s = wid ? system_new(id) : NULL;
    HCS_OPERATION op = s ? op_new(err, "HcsCreateComputeSystem") : NULL;
    int rc = -1;
    if (op) {
        char what[192];
        snprintf(what, sizeof what, "HcsCreateComputeSystem %s", id);
        HRESULT hr = hcs_api.HcsCreateComputeSystem(wid, wcfg, op, NULL, &s->handle);
        rc = op_finish(op, hr, timeout_ms, NULL, NULL, err, what);
    }
    free(wcfg);
    free(wid);
    if (rc != 0) {
        if (s && s->handle)
            hcs_api.HcsCloseComputeSystem(s->handle);
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int hcs_system_open(const char *id, hcs_system **out, wc_err *err)
{
    *out = NULL;
    if (hcs_api_load(err) != 0)
        return -1;
    if (!id || strlen(id) >= sizeof((hcs_system *)0)->id)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "compute system id is missing or too long");
    wchar_t *wid = wc_utf8_to_utf16(id, err);
    if (!wid)
        return -1;
    hcs_system *s = system_new(id);
    HRESULT hr = hcs_api.HcsOpenComputeSystem(wid, GENERIC_ALL, &s->handle);
    free(wid);
    if (FAILED(hr)) {
        free(s);
        return hcs_err_from_result(err, hr, NULL, "HcsOpenComputeSystem %s", id);
    }
    *out = s;
    return 0;
}

void hcs_system_close(hcs_system *sys)
{
    if (!sys)
        return;
    if (sys->handle) {
        if (sys->exit_fn)
            hcs_api.HcsSetComputeSystemCallback(sys->handle, HcsEventOptionNone, NULL, NULL);
        hcs_api.HcsCloseComputeSystem(sys->handle);
    }
    free(sys);
}

/* The simple system verbs share one shape: (system, operation, options). */
typedef HRESULT(WINAPI *system_verb)(HCS_SYSTEM, HCS_OPERATION, PCWSTR);

static int system_call(hcs_system *sys, system_verb verb, const char *name, DWORD timeout_ms,
                       int stopped_is_ok, wc_err *err)
{
    char what[192];
    snprintf(what, sizeof what, "%s %s", name, sys->id); /* name: the HCS function */
    HCS_OPERATION op = op_new(err, what);
    if (!op)
        return -1;
    int rc = op_finish(op, verb(sys->handle, op, NULL), timeout_ms, NULL, NULL, err, what);
    if (rc != 0 && stopped_is_ok &&
        (hcs_hresult_is((hcs_hresult)err->sys, HCS_E_SYSTEM_ALREADY_STOPPED) ||
         hcs_hresult_is((hcs_hresult)err->sys, HCS_E_SYSTEM_NOT_FOUND))) {
        wc_err_clear(err);
        return 0;
    }
    return rc;
}

int hcs_system_start(hcs_system *sys, DWORD timeout_ms, wc_err *err)
{
    return system_call(sys, hcs_api.HcsStartComputeSystem, "HcsStartComputeSystem", timeout_ms, 0,
                       err);
}

int hcs_system_pause(hcs_system *sys, DWORD timeout_ms, wc_err *err)
{
    return system_call(sys, hcs_api.HcsPauseComputeSystem, "HcsPauseComputeSystem", timeout_ms, 0,
                       err);
}

int hcs_system_resume(hcs_system *sys, DWORD timeout_ms, wc_err *err)
{
    return system_call(sys, hcs_api.HcsResumeComputeSystem, "HcsResumeComputeSystem", timeout_ms, 0,
                       err);
}

int hcs_system_shutdown(hcs_system *sys, DWORD timeout_ms, wc_err *err)
{
    return system_call(sys, hcs_api.HcsShutDownComputeSystem, "HcsShutDownComputeSystem",
                       timeout_ms, 1, err);
}

int hcs_system_terminate(hcs_system *sys, DWORD timeout_ms, wc_err *err)
{
    return system_call(sys, hcs_api.HcsTerminateComputeSystem, "HcsTerminateComputeSystem",
                       timeout_ms, 1, err);
}

int hcs_system_modify(hcs_system *sys, const json_t *request, DWORD timeout_ms, wc_err *err)
{
    char what[192];
    snprintf(what, sizeof what, "HcsModifyComputeSystem %s", sys->id);
    wchar_t *w = doc_w(request, err);
    if (!w)
        return -1;
    HCS_OPERATION op = op_new(err, what);
    int rc = -1;
    if (op)
        rc = op_finish(op, hcs_api.HcsModifyComputeSystem(sys->handle, op, w, NULL), timeout_ms,
                       NULL, NULL, err, what);
    free(w);
    return rc;
}

int hcs_system_properties(hcs_system *sys, const json_t *query, DWORD timeout_ms, char **result,
                          wc_err *err)
{
    char what[192];
    snprintf(what, sizeof what, "HcsGetComputeSystemProperties %s", sys->id);
    wchar_t *w = doc_w(query, err);
    if (!w)
        return -1;
    HCS_OPERATION op = op_new(err, what);
    int rc = -1;
    if (op)
        rc = op_finish(op, hcs_api.HcsGetComputeSystemProperties(sys->handle, op, w), timeout_ms,
                       NULL, result, err, what);
    free(w);
    return rc;
}

static void CALLBACK system_event(HCS_EVENT *ev, void *ctx)
{
    hcs_system *sys = ctx;
    if (!sys || !ev || ev->Type != HcsEventSystemExited || !sys->exit_fn)
        return;
    wc_err err = {0};
    char *data = ev->EventData ? wc_utf16_to_utf8(ev->EventData, &err) : NULL;
    hcs_system_exit st;
    if (hcs_system_exit_parse(data, &st, &err) != 0) {
        wc_warn("hcs", "unreadable system exit notification", "id=%s err=\"%s\"", sys->id, err.msg);
        memset(&st, 0, sizeof st);
        st.status = (int32_t)HCS_E_UNEXPECTED_EXIT;
    }
    free(data);
    sys->exit_fn(sys->exit_ctx, sys->id, &st);
}

int hcs_system_on_exit(hcs_system *sys, hcs_system_exit_fn fn, void *ctx, wc_err *err)
{
    sys->exit_fn = fn;
    sys->exit_ctx = ctx;
    HRESULT hr =
        hcs_api.HcsSetComputeSystemCallback(sys->handle, HcsEventOptionNone, sys, system_event);
    if (FAILED(hr)) {
        sys->exit_fn = NULL;
        return hcs_err_from_result(err, hr, NULL, "HcsSetComputeSystemCallback %s", sys->id);
    }
    return 0;
}

int hcs_system_stop(hcs_system *sys, hcs_process *init, DWORD grace_ms, wc_err *err)
{
    ULONGLONG deadline = GetTickCount64() + grace_ms;
    if (grace_ms && init) {
        wc_err serr = {0};
        hcs_process_status st;
        if (hcs_process_signal(init, HCS_SIGNAL_CTRL_SHUTDOWN, grace_ms, &serr) == 0)
            (void)hcs_process_wait(init, grace_ms, &st, &serr);
        else
            wc_info("hcs", "CtrlShutdown not delivered", "id=%s err=\"%s\"", sys->id, serr.msg);
    }
    if (grace_ms) {
        ULONGLONG now = GetTickCount64();
        DWORD left = now < deadline ? (DWORD)(deadline - now) : 0;
        wc_err serr = {0};
        if (left && hcs_system_shutdown(sys, left, &serr) == 0)
            return 0;
        if (left)
            wc_info("hcs", "graceful shutdown failed; terminating", "id=%s err=\"%s\"", sys->id,
                    serr.msg);
    }
    return hcs_system_terminate(sys, HCS_DEFAULT_TIMEOUT_MS, err);
}

int hcs_enumerate_owned(const char *owner, DWORD timeout_ms, json_t **list, wc_err *err)
{
    *list = NULL;
    if (hcs_api_load(err) != 0)
        return -1;
    json_t *q = hcs_doc_query_owned(owner);
    wchar_t *w = q ? doc_w(q, err) : NULL;
    json_decref(q);
    if (!w)
        return -1;
    HCS_OPERATION op = op_new(err, "HcsEnumerateComputeSystems");
    char *text = NULL;
    int rc = -1;
    if (op)
        rc = op_finish(op, hcs_api.HcsEnumerateComputeSystems(w, op), timeout_ms, NULL, &text, err,
                       "HcsEnumerateComputeSystems");
    free(w);
    if (rc != 0)
        return -1;
    json_error_t jerr;
    json_t *arr = text ? json_loads(text, 0, &jerr) : json_array();
    free(text);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return wc_err_set(err, WC_INTERNAL, "enumerate compute systems: HCS did not return a list");
    }
    *list = arr;
    return 0;
}

int hcs_remove_orphan(const char *id, DWORD timeout_ms, wc_err *err)
{
    hcs_system *sys;
    if (hcs_system_open(id, &sys, err) != 0)
        return err->code == WC_NOT_FOUND ? (wc_err_clear(err), 0) : -1;
    int rc = hcs_system_terminate(sys, timeout_ms, err);
    hcs_system_close(sys);
    return rc;
}

int hcs_grant_vm_access(const char *vm_id, const char *path, wc_err *err)
{
    if (hcs_api_load(err) != 0)
        return -1;
    wchar_t *wv = wc_utf8_to_utf16(vm_id, err);
    wchar_t *wp = wv ? wc_utf8_to_utf16(path, err) : NULL;
    if (!wp) {
        free(wv);
        return -1;
    }
    HRESULT hr = hcs_api.HcsGrantVmAccess(wv, wp);
    free(wv);
    free(wp);
    if (FAILED(hr))
        return hcs_err_from_result(err, hr, NULL, "HcsGrantVmAccess %s for %s", path, vm_id);
    return 0;
}

/* ---- processes ---------------------------------------------------------------------------- */

int hcs_process_create(hcs_system *sys, const json_t *params, DWORD timeout_ms, hcs_process **out,
                       HANDLE stdio[3], wc_err *err)
{
    *out = NULL;
    stdio[0] = stdio[1] = stdio[2] = NULL;
    char what[192];
    snprintf(what, sizeof what, "HcsCreateProcess in %s", sys->id);
    hcs_process *p = wc_xcalloc(1, sizeof *p);
    p->sys = sys;
    wchar_t *w = doc_w(params, err);
    HCS_OPERATION op = w ? op_new(err, what) : NULL;
    HCS_PROCESS_INFORMATION info = {0};
    int rc = -1;
    if (op)
        rc = op_finish(op, hcs_api.HcsCreateProcess(sys->handle, w, op, NULL, &p->handle),
                       timeout_ms, &info, NULL, err, what);
    free(w);
    if (rc != 0) {
        if (p->handle)
            hcs_api.HcsCloseProcess(p->handle);
        free(p);
        return -1;
    }
    p->pid = info.ProcessId;
    stdio[0] = info.StdInput;
    stdio[1] = info.StdOutput;
    stdio[2] = info.StdError;
    *out = p;
    return 0;
}

int hcs_process_open(hcs_system *sys, uint32_t pid, hcs_process **out, wc_err *err)
{
    *out = NULL;
    hcs_process *p = wc_xcalloc(1, sizeof *p);
    p->sys = sys;
    p->pid = pid;
    HRESULT hr = hcs_api.HcsOpenProcess(sys->handle, pid, GENERIC_ALL, &p->handle);
    if (FAILED(hr)) {
        free(p);
        return hcs_err_from_result(err, hr, NULL, "HcsOpenProcess(%lu in %s)", (unsigned long)pid,
                                   sys->id);
    }
    *out = p;
    return 0;
}

uint32_t hcs_process_pid(const hcs_process *p)
{
    return p->pid;
}

int hcs_process_signal(hcs_process *p, hcs_signal sig, DWORD timeout_ms, wc_err *err)
{
    char what[192];
    snprintf(what, sizeof what, "HcsSignalProcess %lu in %s", (unsigned long)p->pid, p->sys->id);
    json_t *doc = hcs_doc_signal(sig);
    wchar_t *w = doc ? doc_w(doc, err) : NULL;
    json_decref(doc);
    if (!w)
        return err->code ? -1 : wc_err_set(err, WC_INVALID_ARGUMENT, "%s: bad signal", what);
    HCS_OPERATION op = op_new(err, what);
    int rc = -1;
    if (op)
        rc = op_finish(op, hcs_api.HcsSignalProcess(p->handle, op, w), timeout_ms, NULL, NULL, err,
                       what);
    free(w);
    return rc;
}

int hcs_process_terminate(hcs_process *p, DWORD timeout_ms, wc_err *err)
{
    char what[192];
    snprintf(what, sizeof what, "HcsTerminateProcess %lu in %s", (unsigned long)p->pid, p->sys->id);
    HCS_OPERATION op = op_new(err, what);
    if (!op)
        return -1;
    int rc = op_finish(op, hcs_api.HcsTerminateProcess(p->handle, op, NULL), timeout_ms, NULL, NULL,
                       err, what);
    if (rc != 0 && (hcs_hresult_is((hcs_hresult)err->sys, HCS_E_PROCESS_ALREADY_STOPPED) ||
                    hcs_hresult_is((hcs_hresult)err->sys, HCS_E_WIN32_NOT_FOUND) ||
                    hcs_hresult_is((hcs_hresult)err->sys, HCS_E_SYSTEM_ALREADY_STOPPED))) {
        wc_err_clear(err);
        return 0;
    }
    return rc;
}

int hcs_process_modify(hcs_process *p, const json_t *request, DWORD timeout_ms, wc_err *err)
{
    char what[192];
    snprintf(what, sizeof what, "HcsModifyProcess %lu in %s", (unsigned long)p->pid, p->sys->id);
    wchar_t *w = doc_w(request, err);
    if (!w)
        return -1;
    HCS_OPERATION op = op_new(err, what);
    int rc = -1;
    if (op)
        rc = op_finish(op, hcs_api.HcsModifyProcess(p->handle, op, w), timeout_ms, NULL, NULL, err,
                       what);
    free(w);
    return rc;
}

static void CALLBACK process_event(HCS_EVENT *ev, void *ctx)
{
    hcs_process *p = ctx;
    if (!p || !ev || ev->Type != HcsEventProcessExited || !p->exit_fn)
        return;
    wc_err err = {0};
    char *data = ev->EventData ? wc_utf16_to_utf8(ev->EventData, &err) : NULL;
    hcs_process_status st;
    if (!data || hcs_process_status_parse(data, &st, &err) != 0) {
        memset(&st, 0, sizeof st);
        st.pid = p->pid;
        st.exited = 1;
        st.exit_code = (uint32_t)-1;
    }
    free(data);
    p->exit_fn(p->exit_ctx, p->sys->id, &st);
}

int hcs_process_on_exit(hcs_process *p, hcs_process_exit_fn fn, void *ctx, wc_err *err)
{
    p->exit_fn = fn;
    p->exit_ctx = ctx;
    HRESULT hr = hcs_api.HcsSetProcessCallback(p->handle, HcsEventOptionNone, p, process_event);
    if (FAILED(hr)) {
        p->exit_fn = NULL;
        return hcs_err_from_result(err, hr, NULL, "HcsSetProcessCallback %lu in %s",
                                   (unsigned long)p->pid, p->sys->id);
    }
    return 0;
}

int hcs_process_wait(hcs_process *p, DWORD timeout_ms, hcs_process_status *st, wc_err *err)
{
    PWSTR doc = NULL;
    HRESULT hr = hcs_api.HcsWaitForProcessExit(p->handle, timeout_ms, &doc);
    char *text = take_result(doc);
    int rc = 0;
    if (is_timeout(hr)) {
        rc = wc_err_set(err, WC_DEADLINE_EXCEEDED, "process %lu in %s still running after %lu ms",
                        (unsigned long)p->pid, p->sys->id, (unsigned long)timeout_ms);
    } else if (FAILED(hr)) {
        rc = hcs_err_from_result(err, hr, text, "HcsWaitForProcessExit %lu in %s",
                                 (unsigned long)p->pid, p->sys->id);
    } else {
        rc = hcs_process_status_parse(text, st, err);
    }
    free(text);
    return rc;
}

void hcs_process_close(hcs_process *p)
{
    if (!p)
        return;
    if (p->handle) {
        if (p->exit_fn)
            hcs_api.HcsSetProcessCallback(p->handle, HcsEventOptionNone, NULL, NULL);
        hcs_api.HcsCloseProcess(p->handle);
    }
    free(p);
}
