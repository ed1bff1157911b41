/* winsim computecore.dll: the Host Compute Service API as wincrid loads it
 * (hcs/hcs_load_win32.c resolves every HCS_FUNCS entry point from System32).
 *
 * Each call is forwarded to the winsim host. What the real API documents and this double
 * does (learn.microsoft.com/virtualization/api/hcs/reference/<function>):
 *  - Calls taking an HCS_OPERATION return at once; the work completes on another thread and
 *    the operation then holds the HRESULT and a result document (ResultError on failure).
 *    HcsCreateComputeSystem and HcsCreateProcess hand back their handle immediately.
 *  - HcsWaitForOperationResult[AndProcessInfo]: HCS_E_OPERATION_NOT_STARTED before the
 *    operation was used, HCS_E_OPERATION_TIMEOUT when it does not complete in time; result
 *    strings are LocalAlloc'd for the caller to LocalFree. The process information's pipe
 *    handles belong to the caller.
 *  - HcsCancelOperation "is not currently implemented and will always return E_NOTIMPL".
 *  - HcsCloseOperation may be called from within a callback.
 *  - Callbacks (HcsSetComputeSystemCallback / HcsSetProcessCallback) receive HCS_EVENT with
 *    HcsEventSystemExited (SystemExitStatus) and HcsEventProcessExited (ProcessStatus). This
 *    double guarantees that once a callback is unset or its handle closed, it is not running
 *    and will not run again (unless that happens from within the callback itself).
 *  - HcsWaitForProcessExit returns a ProcessStatus document.
 * Also here, because wine 8 lacks it: BackupWrite (winegaps.c), installed only when
 * WINSIM_WINE_BACKUPWRITE=1. */
#include <winsock2.h>
#include <windows.h>

#include <computecore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simclient.h"

#define HCS_E_OPERATION_NOT_STARTED ((HRESULT)0x80370115L)
#define HCS_E_OPERATION_ALREADY_STARTED ((HRESULT)0x80370116L)
#define HCS_E_OPERATION_TIMEOUT ((HRESULT)0x80370118L)
#define HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET ((HRESULT)0x80370119L)

void winegaps_install(void);

/* ---- handles ---- */

typedef struct csys {
    long long h;
    HCS_EVENT_CALLBACK cb;
    void *ctx;
} csys;

typedef struct cproc {
    long long h;
    HCS_EVENT_CALLBACK cb;
    void *ctx;
} cproc;

typedef struct cop {
    volatile LONG refs;
    volatile LONG started;
    HANDLE done;
    HRESULT hr;
    char *result;
    HCS_PROCESS_INFORMATION pi;
    int has_pi, pi_taken;
    const void *ctx;
    HCS_OPERATION_COMPLETION cb;
    HCS_OPERATION_TYPE type;
    UINT64 id;
    HCS_SYSTEM sys;
    HCS_PROCESS proc;
    char *request; /* built by the call, sent by the worker */
} cop;

/* Callback registrations, by host handle, for the event thread. */
typedef struct reg {
    long long h;
    void *obj; /* csys or cproc */
    int is_proc;
} reg;
static reg regs[1024];
static size_t n_regs;
static SRWLOCK regs_lock = SRWLOCK_INIT; /* the table */
static SRWLOCK cb_lock = SRWLOCK_INIT;   /* held shared while a callback runs */
static DWORD event_thread_id;
static INIT_ONCE events_once = INIT_ONCE_STATIC_INIT;
static HRESULT events_hr = E_FAIL;

static void reg_add(long long h, void *obj, int is_proc)
{
    AcquireSRWLockExclusive(&regs_lock);
    if (n_regs < 1024)
        regs[n_regs++] = (reg){h, obj, is_proc};
    ReleaseSRWLockExclusive(&regs_lock);
}

/* Unregisters and waits for a callback in flight (unless we are that callback). */
static void reg_del(long long h)
{
    AcquireSRWLockExclusive(&regs_lock);
    for (size_t i = 0; i < n_regs; i++)
        if (regs[i].h == h) {
            regs[i] = regs[--n_regs];
            break;
        }
    ReleaseSRWLockExclusive(&regs_lock);
    if (GetCurrentThreadId() != event_thread_id) {
        AcquireSRWLockExclusive(&cb_lock);
        ReleaseSRWLockExclusive(&cb_lock);
    }
}

static DWORD WINAPI event_main(void *arg)
{
    SOCKET s = (SOCKET)(ULONG_PTR)arg;
    sb pending = {0};
    char *line;
    while ((line = sim_read_line(s, &pending)) != NULL) {
        sj *ev = sj_parse(line);
        free(line);
        long long h = sj_int(sj_get(ev, "h"), 0);
        HCS_EVENT_CALLBACK cb = NULL;
        void *ctx = NULL;
        AcquireSRWLockShared(&cb_lock);
        AcquireSRWLockShared(&regs_lock);
        for (size_t i = 0; i < n_regs; i++)
            if (regs[i].h == h) {
                cb = regs[i].is_proc ? ((cproc *)regs[i].obj)->cb : ((csys *)regs[i].obj)->cb;
                ctx = regs[i].is_proc ? ((cproc *)regs[i].obj)->ctx : ((csys *)regs[i].obj)->ctx;
            }
        ReleaseSRWLockShared(&regs_lock);
        if (cb) {
            WCHAR *data = sim_u2w_local(sj_str(sj_get(ev, "data")));
            HCS_EVENT e = {.Type = (HCS_EVENT_TYPE)sj_int(sj_get(ev, "ev"), 0),
                           .EventData = data,
                           .Operation = NULL};
            cb(&e, ctx);
            LocalFree(data);
        }
        ReleaseSRWLockShared(&cb_lock);
        sj_free(ev);
    }
    free(pending.p);
    closesocket(s);
    return 0;
}

static BOOL CALLBACK events_start(PINIT_ONCE o, void *p, void **c)
{
    (void)o;
    (void)p;
    (void)c;
    SOCKET s = sim_connect();
    if (s == INVALID_SOCKET) {
        events_hr = SIM_E_SERVICE_NOT_AVAILABLE;
        return TRUE;
    }
    char req[96];
    int n = snprintf(req, sizeof req, "{\"op\":\"events\",\"pid\":%lu}\n",
                     (unsigned long)GetCurrentProcessId());
    sb pending = {0};
    char *line = send(s, req, n, 0) == n ? sim_read_line(s, &pending) : NULL;
    free(line);
    free(pending.p);
    if (!line) {
        closesocket(s);
        events_hr = SIM_E_SERVICE_NOT_AVAILABLE;
        return TRUE;
    }
    HANDLE t = CreateThread(NULL, 0, event_main, (void *)(ULONG_PTR)s, 0, &event_thread_id);
    if (!t) {
        closesocket(s);
        events_hr = HRESULT_FROM_WIN32(GetLastError());
        return TRUE;
    }
    CloseHandle(t);
    events_hr = S_OK;
    return TRUE;
}

/* ---- operations ---- */

static void op_unref(cop *o)
{
    if (InterlockedDecrement(&o->refs) != 0)
        return;
    if (o->has_pi && !o->pi_taken) { /* nobody took the pipes: do not leak them */
        HANDLE hs[3] = {o->pi.StdInput, o->pi.StdOutput, o->pi.StdError};
        for (int i = 0; i < 3; i++)
            if (hs[i])
                CloseHandle(hs[i]);
    }
    CloseHandle(o->done);
    free(o->result);
    free(o->request);
    free(o);
}

static DWORD WINAPI op_main(void *arg)
{
    cop *o = arg;
    sb b = {0};
    sb_add(&b, o->request);
    b.n = strlen(o->request);
    sj *reply = sim_send(&b);
    o->hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    const char *res = sj_str(sj_get(reply, "result"));
    o->result = res ? strdup(res) : NULL;
    if (o->type == HcsOperationTypeCreateProcess && SUCCEEDED(o->hr)) {
        o->pi.ProcessId = (DWORD)sj_int(sj_get(reply, "ProcessId"), 0);
        o->pi.StdInput = (HANDLE)(ULONG_PTR)sj_int(sj_get(reply, "stdin"), 0);
        o->pi.StdOutput = (HANDLE)(ULONG_PTR)sj_int(sj_get(reply, "stdout"), 0);
        o->pi.StdError = (HANDLE)(ULONG_PTR)sj_int(sj_get(reply, "stderr"), 0);
        o->has_pi = 1;
    }
    if (!reply) {
        free(o->result);
        o->result = NULL;
    }
    sj_free(reply);
    SetEvent(o->done);
    if (o->cb)
        o->cb((HCS_OPERATION)o, (void *)o->ctx);
    op_unref(o);
    return 0;
}

/* Takes the request (sb without its closing brace) and sends it from a worker thread. */
static HRESULT op_start(HCS_OPERATION operation, HCS_OPERATION_TYPE type, sb *request)
{
    cop *o = (cop *)operation;
    if (!o) {
        free(request->p);
        return E_INVALIDARG;
    }
    if (InterlockedExchange(&o->started, 1)) {
        free(request->p);
        return HCS_E_OPERATION_ALREADY_STARTED;
    }
    o->type = type;
    o->request = sb_take(request); /* sim_send closes the object */
    InterlockedIncrement(&o->refs);
    HANDLE t = CreateThread(NULL, 0, op_main, o, 0, NULL);
    if (!t) {
        InterlockedDecrement(&o->refs);
        InterlockedExchange(&o->started, 0);
        return HRESULT_FROM_WIN32(GetLastError());
    }
    CloseHandle(t);
    return S_OK;
}

HCS_OPERATION WINAPI HcsCreateOperation(const void *context, HCS_OPERATION_COMPLETION callback)
{
    static volatile LONG64 ids;
    cop *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->refs = 1;
    o->done = CreateEventA(NULL, TRUE, FALSE, NULL);
    o->ctx = context;
    o->cb = callback;
    o->type = HcsOperationTypeNone;
    o->id = (UINT64)InterlockedIncrement64(&ids);
    return (HCS_OPERATION)o;
}

void WINAPI HcsCloseOperation(HCS_OPERATION operation)
{
    if (operation)
        op_unref((cop *)operation);
}

void *WINAPI HcsGetOperationContext(HCS_OPERATION operation)
{
    return operation ? (void *)((cop *)operation)->ctx : NULL;
}

HRESULT WINAPI HcsSetOperationContext(HCS_OPERATION operation, const void *context)
{
    if (!operation)
        return E_INVALIDARG;
    ((cop *)operation)->ctx = context;
    return S_OK;
}

HCS_OPERATION_TYPE WINAPI HcsGetOperationType(HCS_OPERATION operation)
{
    return operation ? ((cop *)operation)->type : HcsOperationTypeNone;
}

UINT64 WINAPI HcsGetOperationId(HCS_OPERATION operation)
{
    return operation ? ((cop *)operation)->id : HCS_INVALID_OPERATION_ID;
}

HCS_SYSTEM WINAPI HcsGetComputeSystemFromOperation(HCS_OPERATION operation)
{
    return operation ? ((cop *)operation)->sys : NULL;
}

HCS_PROCESS WINAPI HcsGetProcessFromOperation(HCS_OPERATION operation)
{
    return operation ? ((cop *)operation)->proc : NULL;
}

static HRESULT op_wait(HCS_OPERATION operation, DWORD timeout, HCS_PROCESS_INFORMATION *pi,
                       PWSTR *doc)
{
    if (doc)
        *doc = NULL;
    cop *o = (cop *)operation;
    if (!o)
        return E_INVALIDARG;
    if (!o->started)
        return HCS_E_OPERATION_NOT_STARTED;
    if (WaitForSingleObject(o->done, timeout) != WAIT_OBJECT_0)
        return HCS_E_OPERATION_TIMEOUT;
    if (doc && o->result)
        *doc = sim_u2w_local(o->result);
    if (pi && SUCCEEDED(o->hr) && o->has_pi) {
        *pi = o->pi;
        o->pi_taken = 1;
    }
    return o->hr;
}

HRESULT WINAPI HcsWaitForOperationResult(HCS_OPERATION operation, DWORD timeoutMs,
                                         PWSTR *resultDocument)
{
    return op_wait(operation, timeoutMs, NULL, resultDocument);
}

HRESULT WINAPI HcsWaitForOperationResultAndProcessInfo(HCS_OPERATION operation, DWORD timeoutMs,
                                                       HCS_PROCESS_INFORMATION *processInformation,
                                                       PWSTR *resultDocument)
{
    return op_wait(operation, timeoutMs, processInformation, resultDocument);
}

HRESULT WINAPI HcsGetOperationResult(HCS_OPERATION operation, PWSTR *resultDocument)
{
    cop *o = (cop *)operation;
    if (o && o->started && WaitForSingleObject(o->done, 0) != WAIT_OBJECT_0)
        return (HRESULT)0x80370117L; /* HCS_E_OPERATION_PENDING */
    return op_wait(operation, 0, NULL, resultDocument);
}

HRESULT WINAPI HcsGetOperationResultAndProcessInfo(HCS_OPERATION operation,
                                                   HCS_PROCESS_INFORMATION *processInformation,
                                                   PWSTR *resultDocument)
{
    cop *o = (cop *)operation;
    if (o && o->started && WaitForSingleObject(o->done, 0) != WAIT_OBJECT_0)
        return (HRESULT)0x80370117L;
    return op_wait(operation, 0, processInformation, resultDocument);
}

HRESULT WINAPI HcsCancelOperation(HCS_OPERATION operation)
{
    (void)operation;
    return E_NOTIMPL; /* as documented */
}

/* ---- compute systems ---- */

static void req_handle(sb *b, const char *op, long long h, const char *doc_key, PCWSTR doc)
{
    sim_begin(b, op);
    sim_kv_int(b, "h", h);
    if (doc_key)
        sim_kv_wstr(b, doc_key, doc);
}

HRESULT WINAPI HcsCreateComputeSystem(PCWSTR id, PCWSTR configuration, HCS_OPERATION operation,
                                      const SECURITY_DESCRIPTOR *securityDescriptor,
                                      HCS_SYSTEM *computeSystem)
{
    (void)securityDescriptor;
    if (!id || !configuration || !operation || !computeSystem)
        return E_INVALIDARG;
    csys *s = calloc(1, sizeof *s);
    s->h = sim_new_handle();
    sb b;
    sim_begin(&b, "HcsCreateComputeSystem");
    sim_kv_int(&b, "h", s->h);
    sim_kv_wstr(&b, "id", id);
    sim_kv_wstr(&b, "jid", id);
    sim_kv_wstr(&b, "doc", configuration);
    ((cop *)operation)->sys = (HCS_SYSTEM)s;
    HRESULT hr = op_start(operation, HcsOperationTypeCreate, &b);
    if (FAILED(hr)) {
        free(s);
        return hr;
    }
    *computeSystem = (HCS_SYSTEM)s;
    return S_OK;
}

HRESULT WINAPI HcsOpenComputeSystem(PCWSTR id, DWORD requestedAccess, HCS_SYSTEM *computeSystem)
{
    (void)requestedAccess;
    if (!id || !computeSystem)
        return E_INVALIDARG;
    csys *s = calloc(1, sizeof *s);
    s->h = sim_new_handle();
    sb b;
    sim_begin(&b, "HcsOpenComputeSystem");
    sim_kv_int(&b, "h", s->h);
    sim_kv_wstr(&b, "id", id);
    sim_kv_wstr(&b, "jid", id);
    sj *reply = sim_send(&b);
    HRESULT hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    sj_free(reply);
    if (FAILED(hr)) {
        free(s);
        *computeSystem = NULL;
        return hr;
    }
    *computeSystem = (HCS_SYSTEM)s;
    return S_OK;
}

void WINAPI HcsCloseComputeSystem(HCS_SYSTEM computeSystem)
{
    csys *s = (csys *)computeSystem;
    if (!s)
        return;
    if (s->cb)
        reg_del(s->h);
    sb b;
    req_handle(&b, "HcsCloseComputeSystem", s->h, NULL, NULL);
    sj_free(sim_send(&b));
    free(s);
}

static HRESULT system_op(HCS_SYSTEM sys, HCS_OPERATION op, const char *name, HCS_OPERATION_TYPE t,
                         const char *doc_key, PCWSTR doc)
{
    csys *s = (csys *)sys;
    if (!s || !op)
        return E_INVALIDARG;
    sb b;
    req_handle(&b, name, s->h, doc_key, doc);
    ((cop *)op)->sys = sys;
    return op_start(op, t, &b);
}

HRESULT WINAPI HcsStartComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation,
                                     PCWSTR options)
{
    return system_op(computeSystem, operation, "HcsStartComputeSystem", HcsOperationTypeStart,
                     options ? "doc" : NULL, options);
}

HRESULT WINAPI HcsShutDownComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation,
                                        PCWSTR options)
{
    return system_op(computeSystem, operation, "HcsShutDownComputeSystem", HcsOperationTypeShutdown,
                     options ? "doc" : NULL, options);
}

HRESULT WINAPI HcsTerminateComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation,
                                         PCWSTR options)
{
    return system_op(computeSystem, operation, "HcsTerminateComputeSystem",
                     HcsOperationTypeTerminate, options ? "doc" : NULL, options);
}

HRESULT WINAPI HcsPauseComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation,
                                     PCWSTR options)
{
    return system_op(computeSystem, operation, "HcsPauseComputeSystem", HcsOperationTypePause,
                     options ? "doc" : NULL, options);
}

HRESULT WINAPI HcsResumeComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation,
                                      PCWSTR options)
{
    return system_op(computeSystem, operation, "HcsResumeComputeSystem", HcsOperationTypeResume,
                     options ? "doc" : NULL, options);
}

HRESULT WINAPI HcsGetComputeSystemProperties(HCS_SYSTEM computeSystem, HCS_OPERATION operation,
                                             PCWSTR propertyQuery)
{
    return system_op(computeSystem, operation, "HcsGetComputeSystemProperties",
                     HcsOperationTypeGetProperties, "doc", propertyQuery);
}

HRESULT WINAPI HcsModifyComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation,
                                      PCWSTR configuration, HANDLE identity)
{
    (void)identity;
    if (!configuration)
        return E_INVALIDARG;
    return system_op(computeSystem, operation, "HcsModifyComputeSystem", HcsOperationTypeModify,
                     "doc", configuration);
}

HRESULT WINAPI HcsEnumerateComputeSystems(PCWSTR query, HCS_OPERATION operation)
{
    if (!operation)
        return E_INVALIDARG;
    sb b;
    sim_begin(&b, "HcsEnumerateComputeSystems");
    if (query)
        sim_kv_wstr(&b, "doc", query);
    return op_start(operation, HcsOperationTypeEnumerate, &b);
}

static HRESULT set_callback(long long h, void *obj, int is_proc, const char *op, int on)
{
    if (on) {
        InitOnceExecuteOnce(&events_once, events_start, NULL, NULL);
        if (FAILED(events_hr))
            return events_hr;
        reg_add(h, obj, is_proc);
    } else {
        reg_del(h);
    }
    sb b;
    sim_begin(&b, op);
    sim_kv_int(&b, "h", h);
    sim_kv_int(&b, "on", on);
    sj *reply = sim_send(&b);
    HRESULT hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    sj_free(reply);
    if (FAILED(hr) && on)
        reg_del(h);
    return hr;
}

HRESULT WINAPI HcsSetComputeSystemCallback(HCS_SYSTEM computeSystem,
                                           HCS_EVENT_OPTIONS callbackOptions, const void *context,
                                           HCS_EVENT_CALLBACK callback)
{
    (void)callbackOptions;
    csys *s = (csys *)computeSystem;
    if (!s)
        return E_INVALIDARG;
    if (callback && s->cb)
        return HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET;
    if (!callback && !s->cb)
        return S_OK;
    if (callback) {
        s->cb = callback;
        s->ctx = (void *)context;
    }
    HRESULT hr = set_callback(s->h, s, 0, "HcsSetComputeSystemCallback", callback != NULL);
    if (!callback || FAILED(hr)) {
        s->cb = NULL;
        s->ctx = NULL;
    }
    return hr;
}

/* ---- processes ---- */

HRESULT WINAPI HcsCreateProcess(HCS_SYSTEM computeSystem, PCWSTR processParameters,
                                HCS_OPERATION operation,
                                const SECURITY_DESCRIPTOR *securityDescriptor, HCS_PROCESS *process)
{
    (void)securityDescriptor;
    csys *s = (csys *)computeSystem;
    if (!s || !processParameters || !operation || !process)
        return E_INVALIDARG;
    cproc *p = calloc(1, sizeof *p);
    p->h = sim_new_handle();
    sb b;
    req_handle(&b, "HcsCreateProcess", s->h, "doc", processParameters);
    sim_kv_int(&b, "ph", p->h);
    ((cop *)operation)->sys = computeSystem;
    ((cop *)operation)->proc = (HCS_PROCESS)p;
    HRESULT hr = op_start(operation, HcsOperationTypeCreateProcess, &b);
    if (FAILED(hr)) {
        free(p);
        return hr;
    }
    *process = (HCS_PROCESS)p;
    return S_OK;
}

/* A process already running in the system, by its id (HcsOpenProcess reference). */
HRESULT WINAPI HcsOpenProcess(HCS_SYSTEM computeSystem, DWORD processId, DWORD requestedAccess,
                              HCS_PROCESS *process)
{
    (void)requestedAccess;
    csys *s = (csys *)computeSystem;
    if (!s || !process)
        return E_INVALIDARG;
    cproc *p = calloc(1, sizeof *p);
    p->h = sim_new_handle();
    sb b;
    req_handle(&b, "HcsOpenProcess", s->h, NULL, NULL);
    sim_kv_int(&b, "ph", p->h);
    sim_kv_int(&b, "process", (long long)processId);
    sj *reply = sim_send(&b);
    HRESULT hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    sj_free(reply);
    if (FAILED(hr)) {
        free(p);
        *process = NULL;
        return hr;
    }
    *process = (HCS_PROCESS)p;
    return S_OK;
}

void WINAPI HcsCloseProcess(HCS_PROCESS process)
{
    cproc *p = (cproc *)process;
    if (!p)
        return;
    if (p->cb)
        reg_del(p->h);
    sb b;
    req_handle(&b, "HcsCloseProcess", p->h, NULL, NULL);
    sj_free(sim_send(&b));
    free(p);
}

static HRESULT process_op(HCS_PROCESS process, HCS_OPERATION op, const char *name,
                          HCS_OPERATION_TYPE t, PCWSTR doc)
{
    cproc *p = (cproc *)process;
    if (!p || !op)
        return E_INVALIDARG;
    sb b;
    req_handle(&b, name, p->h, doc ? "doc" : NULL, doc);
    ((cop *)op)->proc = process;
    return op_start(op, t, &b);
}

HRESULT WINAPI HcsTerminateProcess(HCS_PROCESS process, HCS_OPERATION operation, PCWSTR options)
{
    return process_op(process, operation, "HcsTerminateProcess", HcsOperationTypeSignalProcess,
                      options);
}

HRESULT WINAPI HcsSignalProcess(HCS_PROCESS process, HCS_OPERATION operation, PCWSTR options)
{
    if (!options)
        return E_INVALIDARG;
    return process_op(process, operation, "HcsSignalProcess", HcsOperationTypeSignalProcess,
                      options);
}

HRESULT WINAPI HcsModifyProcess(HCS_PROCESS process, HCS_OPERATION operation, PCWSTR settings)
{
    if (!settings)
        return E_INVALIDARG;
    return process_op(process, operation, "HcsModifyProcess", HcsOperationTypeModifyProcess,
                      settings);
}

HRESULT WINAPI HcsSetProcessCallback(HCS_PROCESS process, HCS_EVENT_OPTIONS callbackOptions,
                                     void *context, HCS_EVENT_CALLBACK callback)
{
    (void)callbackOptions;
    cproc *p = (cproc *)process;
    if (!p)
        return E_INVALIDARG;
    if (callback && p->cb)
        return HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET;
    if (!callback && !p->cb)
        return S_OK;
    if (callback) {
        p->cb = callback;
        p->ctx = context;
    }
    HRESULT hr = set_callback(p->h, p, 1, "HcsSetProcessCallback", callback != NULL);
    if (!callback || FAILED(hr)) {
        p->cb = NULL;
        p->ctx = NULL;
    }
    return hr;
}

HRESULT WINAPI HcsWaitForProcessExit(HCS_PROCESS computeSystem, DWORD timeoutMs, PWSTR *result)
{
    cproc *p = (cproc *)computeSystem;
    if (result)
        *result = NULL;
    if (!p)
        return E_INVALIDARG;
    sb b;
    req_handle(&b, "HcsWaitForProcessExit", p->h, NULL, NULL);
    sim_kv_int(&b, "timeout", (long long)timeoutMs);
    sj *reply = sim_send(&b);
    HRESULT hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    if (result && sj_str(sj_get(reply, "result")))
        *result = sim_u2w_local(sj_str(sj_get(reply, "result")));
    sj_free(reply);
    return hr;
}

/* ---- service settings and properties (synchronous; result LocalAlloc'd) ---- */

static HRESULT service_call(const char *op, PCWSTR doc, PWSTR *result)
{
    if (result)
        *result = NULL;
    if (!doc)
        return E_INVALIDARG;
    sb b;
    sim_begin(&b, op);
    sim_kv_wstr(&b, "doc", doc);
    sj *reply = sim_send(&b);
    HRESULT hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    if (result && sj_str(sj_get(reply, "result")))
        *result = sim_u2w_local(sj_str(sj_get(reply, "result")));
    sj_free(reply);
    return hr;
}

HRESULT WINAPI HcsModifyServiceSettings(PCWSTR settings, PWSTR *result)
{
    return service_call("HcsModifyServiceSettings", settings, result);
}

HRESULT WINAPI HcsGetServiceProperties(PCWSTR propertyQuery, PWSTR *result)
{
    return service_call("HcsGetServiceProperties", propertyQuery, result);
}

/* ---- VM access (HcsGrantVmAccess is in ComputeCore.h / computecore.dll) ---- */

HRESULT WINAPI HcsGrantVmAccess(PCWSTR vmId, PCWSTR filePath)
{
    sb b;
    sim_begin(&b, "HcsGrantVmAccess");
    sim_kv_wstr(&b, "vm", vmId);
    sim_kv_wstr(&b, "path", filePath);
    sj *reply = sim_send(&b);
    HRESULT hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    sj_free(reply);
    return hr;
}

HRESULT WINAPI HcsRevokeVmAccess(PCWSTR vmId, PCWSTR filePath)
{
    (void)vmId;
    (void)filePath;
    return S_OK;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, void *reserved)
{
    (void)inst;
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH)
        winegaps_install();
    return TRUE;
}
