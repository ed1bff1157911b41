/* winsim host: compute systems (computecore.dll's HcsXxx calls).
 *
 * Sources for the behaviour (facts only):
 *  - Microsoft's HCS API reference, learn.microsoft.com/virtualization/api/hcs/reference/
 *    (HcsCreateComputeSystem … HcsWaitForProcessExit, HcsCancelOperation "always returns
 *    E_NOTIMPL", HcsWaitForOperationResult → HCS_E_OPERATION_TIMEOUT,
 *    HcsWaitForProcessExit's result is a ProcessStatus document).
 *  - The HCS JSON schema 2.x (tests/windows/hcs-schema-21h2.json, facts-only copy):
 *    ComputeSystem, Container, VirtualMachine, ProcessParameters, ProcessStatus,
 *    SystemExitStatus (ExitType GracefulExit/ForcedExit/UnexpectedExit), Properties,
 *    PropertyQuery, Statistics/ProcessorStats/MemoryStats, ProcessDetails,
 *    ProcessModifyRequest (ConsoleSize, CloseHandle StdIn), SignalProcessOptions
 *    (CtrlC/CtrlBreak/CtrlClose/CtrlLogOff/CtrlShutdown), ModifySettingRequest, SystemQuery.
 *  - hcsshim: internal/hcs/system.go and process.go (exit notifications, Signal, Kill,
 *    CloseStdin, ResizeConsole), internal/cmd/cmd.go (ConsoleSize is [height, width]),
 *    internal/uvm/vsmb.go, scsi.go, combine_layers.go, network.go (the utility VM's modify
 *    requests and the VSMB guest path \\?\VMSMB\VSMB-{dcc079ae-60ba-4d07-847c-3493609c0870}\),
 *    internal/hcs/resourcepaths (Container/Memory/SizeInMB, Container/Processor).
 *
 * What a process is here: a real wine process started by this host with the document's
 * CommandLine, WorkingDirectory and Environment, in a job object per compute system (a
 * Windows container is a silo, i.e. a job). Paths under C:\ in the program and working
 * directory are looked up in the container's root first (its mounted volume, or the utility
 * VM's combined layers), else left as they are. There is no filesystem or network isolation.
 * Console control events are delivered as Windows' console host does: a thread started in
 * the target at kernelbase!CtrlRoutine with the event number. */
#include "host.h"

#include <psapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HCS_E_INVALID_STATE ((HRESULT)0x80370105L)
#define HCS_E_INVALID_JSON ((HRESULT)0x8037010DL)
#define HCS_E_SYSTEM_NOT_FOUND ((HRESULT)0x8037010EL)
#define HCS_E_SYSTEM_ALREADY_EXISTS ((HRESULT)0x8037010FL)
#define HCS_E_SYSTEM_ALREADY_STOPPED ((HRESULT)0x80370110L)
#define HCS_E_OPERATION_TIMEOUT ((HRESULT)0x80370118L)
#define HCS_E_PROCESS_ALREADY_STOPPED ((HRESULT)0x8037011FL)

/* The exit code a terminated process reports. Windows gives TerminateProcess's argument;
 * what HCS passes is not documented, so the double uses 1 and says so. */
#define KILLED_EXIT_CODE 1
/* Windows' default WaitToKillServiceTimeout (5 s) unless the container document's
 * RegistryChanges set it (hcsshim hcsoci sets it; see issue 17 item 5). */
#define DEFAULT_WAIT_TO_KILL_MS 5000

typedef struct hsys hsys;

typedef struct proc {
    hsys *sys;
    DWORD pid;
    HANDLE h;
    HANDLE exited_ev;
    int exited;
    DWORD exit_code;
    HANDLE in_src, in_dst, relay; /* stdin relay: client's pipe → child's pipe */
    char image[MAX_PATH];
    long long created;
    int tty, rows, cols;                       /* EmulateConsole and the size last asked for */
    int counted;                               /* its CPU time moved to the system's total */
    unsigned long long seen_user, seen_kernel; /* the highest CPU times read (100 ns) */
    struct proc *next;
} proc;

typedef struct share {
    char name[64], path[MAX_PATH];
    int restricted; /* RestrictFileAccess: only the AllowedFiles are reachable through it */
    char allowed[8][MAX_PATH];
    size_t n_allowed;
} share;
typedef struct disk {
    unsigned lun;
    char path[MAX_PATH], ctr_path[MAX_PATH];
} disk;
typedef struct combined {
    char root[MAX_PATH], dir[MAX_PATH];
} combined;
typedef struct nic {
    char id[64], endpoint[64];
    int pre_added; /* the guest's PreAdd came, the device not yet */
} nic;

struct hsys {
    char id[256], owner[128], hosting[256];
    int is_vm, removed, term_on_last_close;
    char state[16];
    char root[MAX_PATH]; /* what the container sees as C:\ */
    char vm_dir[MAX_PATH];
    HANDLE job;
    long long created, started;
    unsigned long long cpu_user, cpu_kernel; /* exited processes, 100 ns */
    unsigned wait_to_kill_ms;
    long long mem_limit_mb;
    proc *procs;
    share shares[32];
    size_t n_shares;
    disk disks[64];
    size_t n_disks;
    combined combs[32];
    size_t n_combs;
    nic nics[8];
    size_t n_nics;
    char hvsock_services[16][37]; /* HvSocket ServiceTable entries added to a VM */
    size_t n_hvsock;
    hsys *next;
};

static hsys *systems;

static hsys *sys_find(const char *id)
{
    for (hsys *s = systems; s; s = s->next)
        if (!s->removed && _stricmp(s->id, id) == 0)
            return s;
    return NULL;
}

static long long arg_h(req *r, const char *key)
{
    return sj_int(sj_get(r->in, key), 0);
}

static const char *arg_s(req *r, const char *key)
{
    return sj_str(sj_get(r->in, key));
}

static void set_id(req *r, const char *id)
{
    free(r->journal_id);
    r->journal_id = xstrdup(id);
}

static void reply_result(req *r, const char *doc)
{
    sb_add(&r->out, ",\"result\":");
    sb_qstr(&r->out, doc);
}

static void fail(req *r, HRESULT hr, const char *msg)
{
    r->hr = hr;
    snprintf(r->note, sizeof r->note, "%s", msg);
    char *e = result_error(hr, msg);
    reply_result(r, e);
    free(e);
}

static hsys *sys_of(req *r)
{
    hsys *s = host_handle_get(r->pid, arg_h(r, "h"), "system");
    if (!s) {
        fail(r, E_HANDLE, "not an open compute system handle");
        return NULL;
    }
    set_id(r, s->id);
    return s;
}

static proc *proc_of(req *r)
{
    proc *p = host_handle_get(r->pid, arg_h(r, "h"), "process");
    if (!p) {
        fail(r, E_HANDLE, "not an open process handle");
        return NULL;
    }
    char id[300];
    snprintf(id, sizeof id, "%s/%lu", p->sys->id, (unsigned long)p->pid);
    set_id(r, id);
    return p;
}

/* ---- events ---- */

typedef struct ev_ctx {
    int type;
    const char *data;
} ev_ctx;

static void send_event(DWORD pid, long long h, void *vctx)
{
    ev_ctx *c = vctx;
    sb b = {0};
    sb_addf(&b, "{\"ev\":%d,\"h\":%lld,\"data\":", c->type, h);
    sb_qstr(&b, c->data);
    sb_add(&b, "}");
    host_event(pid, b.p);
    free(b.p);
}

static void process_status(proc *p, sb *b)
{
    sb_addf(b, "{\"ProcessId\":%lu,\"Exited\":%s,\"ExitCode\":%lu,\"LastWaitResult\":0}",
            (unsigned long)p->pid, p->exited ? "true" : "false", (unsigned long)p->exit_code);
}

/* ---- processes ---- */

/* The process's CPU time from its threads' counters. wine answers GetProcessTimes for another
 * process with almost nothing, but GetThreadTimes of each of its threads from the kernel's
 * per-thread counters; an exited thread's time is kept through the highest total seen. */
typedef struct cpu_sum {
    unsigned long long user, kernel;
} cpu_sum;

static void add_thread_times(DWORD tid, void *ctx)
{
    cpu_sum *sum = ctx;
    HANDLE t = OpenThread(THREAD_QUERY_LIMITED_INFORMATION, FALSE, tid);
    FILETIME c, e, kt, ut;
    if (t && GetThreadTimes(t, &c, &e, &kt, &ut)) {
        sum->user += ((unsigned long long)ut.dwHighDateTime << 32) | ut.dwLowDateTime;
        sum->kernel += ((unsigned long long)kt.dwHighDateTime << 32) | kt.dwLowDateTime;
    }
    if (t)
        CloseHandle(t);
}

/* Keeps the highest totals seen (an exited thread's time leaves the sum). Caller holds
 * g_lock. */
static void note_cpu(proc *p, const cpu_sum *sum)
{
    if (sum->user > p->seen_user)
        p->seen_user = sum->user;
    if (sum->kernel > p->seen_kernel)
        p->seen_kernel = sum->kernel;
}

static void proc_cpu(proc *p, unsigned long long *user, unsigned long long *kernel)
{
    cpu_sum sum = {0};
    host_each_thread(p->pid, add_thread_times, &sum);
    note_cpu(p, &sum);
    *user = p->seen_user;
    *kernel = p->seen_kernel;
}

static void account(proc *p)
{
    if (p->counted || !p->h)
        return;
    p->sys->cpu_user += p->seen_user;
    p->sys->cpu_kernel += p->seen_kernel;
    p->counted = 1;
}

/* Waits for the process and reports its exit (HcsEventProcessExited with ProcessStatus). */
static DWORD WINAPI proc_wait(void *arg)
{
    proc *p = arg;
    /* sample the CPU time now and then: after the exit its threads are gone */
    while (WaitForSingleObject(p->h, 500) == WAIT_TIMEOUT) {
        /* Read without the host's lock: listing the node's threads costs wineserver time
         * that grows with every process, and the requests of wincrid must not wait on it. */
        cpu_sum sum = {0};
        host_each_thread(p->pid, add_thread_times, &sum);
        EnterCriticalSection(&g_lock);
        note_cpu(p, &sum);
        LeaveCriticalSection(&g_lock);
    }
    EnterCriticalSection(&g_lock);
    GetExitCodeProcess(p->h, &p->exit_code);
    account(p);
    p->exited = 1;
    sb b = {0};
    process_status(p, &b);
    ev_ctx c = {0x00010000 /* HcsEventProcessExited */, b.p};
    host_each_callback(p, send_event, &c);
    host_log("process %lu of %s exited %lu", (unsigned long)p->pid, p->sys->id,
             (unsigned long)p->exit_code);
    LeaveCriticalSection(&g_lock);
    free(b.p);
    SetEvent(p->exited_ev);
    return 0;
}

static DWORD WINAPI stdin_relay(void *arg)
{
    proc *p = arg;
    char buf[8192];
    DWORD n, w;
    while (ReadFile(p->in_src, buf, sizeof buf, &n, NULL) && n > 0) {
        if (!p->in_dst || !WriteFile(p->in_dst, buf, n, &w, NULL))
            break;
    }
    EnterCriticalSection(&g_lock);
    if (p->in_dst) {
        CloseHandle(p->in_dst);
        p->in_dst = NULL;
    }
    LeaveCriticalSection(&g_lock);
    return 0;
}

/* "C:\x\y" → <root>\x\y when that exists in the container's root. */
static int map_path(const hsys *s, const char *in, char *out, size_t size)
{
    if (!s->root[0] || !in || strlen(in) < 3 || in[1] != ':' || (in[2] != '\\' && in[2] != '/') ||
        (in[0] != 'C' && in[0] != 'c'))
        return 0;
    char cand[MAX_PATH * 2];
    snprintf(cand, sizeof cand, "%s\\%s", s->root, in + 3);
    if (!path_exists(cand))
        return 0;
    snprintf(out, size, "%s", cand);
    return 1;
}

/* The command line with its program mapped into the container's root; an unqualified
 * program is looked up along the document's PATH inside the container. */
static char *map_command(const hsys *s, const char *cmd, const char *path_env, char *image,
                         size_t isz)
{
    const char *p = cmd;
    while (*p == ' ')
        p++;
    char prog[MAX_PATH];
    const char *rest;
    if (*p == '"') {
        const char *q = strchr(p + 1, '"');
        if (!q)
            q = p + strlen(p);
        snprintf(prog, sizeof prog, "%.*s", (int)(q - p - 1), p + 1);
        rest = *q ? q + 1 : q;
    } else {
        size_t n = strcspn(p, " \t");
        snprintf(prog, sizeof prog, "%.*s", (int)n, p);
        rest = p + n;
    }
    char mapped[MAX_PATH * 2] = "";
    if (!map_path(s, prog, mapped, sizeof mapped) && !strchr(prog, '\\') && path_env) {
        char dirs[4096];
        snprintf(dirs, sizeof dirs, "%s", path_env);
        for (char *d = strtok(dirs, ";"); d && !mapped[0]; d = strtok(NULL, ";")) {
            const char *exts[] = {"", ".exe"};
            for (int e = 0; e < 2 && !mapped[0]; e++) {
                char c[MAX_PATH * 2];
                snprintf(c, sizeof c, "%s\\%s%s", d, prog, exts[e]);
                char m[MAX_PATH * 2];
                if (map_path(s, c, m, sizeof m))
                    snprintf(mapped, sizeof mapped, "%s", m);
            }
        }
    }
    snprintf(image, isz, "%s", mapped[0] ? mapped : prog);
    sb b = {0};
    sb_addf(&b, "\"%s\"%s", mapped[0] ? mapped : prog, rest);
    return sb_take(&b);
}

/* The host's environment with the document's Environment laid over it; PATH entries inside
 * the container come first, mapped. Returns a UTF-16 block. */
static WCHAR *make_env(const hsys *s, const sj *env)
{
    sb b = {0};
    const char *doc_path = NULL;
    for (size_t i = 0; env && env->type == SJ_OBJ && i < env->n; i++)
        if (_stricmp(env->keys[i], "PATH") == 0)
            doc_path = sj_str(env->kids[i]);
    LPCH host = GetEnvironmentStringsA();
    for (LPCH e = host; e && *e; e += strlen(e) + 1) {
        char name[256];
        const char *eq = strchr(e + 1, '=');
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - e) : 0, e);
        int overridden = 0;
        for (size_t i = 0; env && env->type == SJ_OBJ && i < env->n; i++)
            overridden |= _stricmp(env->keys[i], name) == 0;
        if (overridden || (_stricmp(name, "PATH") == 0 && doc_path))
            continue;
        sb_add(&b, e);
        sb_addn(&b, "", 1);
    }
    for (size_t i = 0; env && env->type == SJ_OBJ && i < env->n; i++) {
        const char *v = sj_str(env->kids[i]);
        if (!v)
            continue;
        if (_stricmp(env->keys[i], "PATH") == 0) {
            sb_add(&b, "PATH=");
            char dirs[4096];
            snprintf(dirs, sizeof dirs, "%s", v);
            for (char *d = strtok(dirs, ";"); d; d = strtok(NULL, ";")) {
                char m[MAX_PATH * 2];
                sb_add(&b, map_path(s, d, m, sizeof m) ? m : d);
                sb_add(&b, ";");
            }
            const char *hp = getenv("PATH");
            sb_add(&b, hp ? hp : "");
        } else {
            sb_addf(&b, "%s=%s", env->keys[i], v);
        }
        sb_addn(&b, "", 1);
    }
    FreeEnvironmentStringsA(host);
    sb_addn(&b, "", 1);
    int wn = MultiByteToWideChar(CP_UTF8, 0, b.p, (int)b.n, NULL, 0);
    WCHAR *w = calloc((size_t)wn + 2, sizeof *w);
    MultiByteToWideChar(CP_UTF8, 0, b.p, (int)b.n, w, wn);
    free(b.p);
    return w;
}

static HANDLE give(DWORD pid, HANDLE h)
{
    HANDLE out = NULL;
    if (h && !DuplicateHandle(GetCurrentProcess(), h, host_client_process(pid), &out, 0, FALSE,
                              DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE))
        out = NULL;
    host_pipe_given(pid, out);
    return out;
}

static HANDLE nul_handle(DWORD access)
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    return CreateFileA("NUL", access, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa, OPEN_EXISTING, 0,
                       NULL);
}

static void h_create_process(req *r)
{
    hsys *s = sys_of(r);
    if (!s)
        return;
    r->doc = arg_s(r, "doc");
    sj *doc = sj_parse(r->doc);
    if (!doc || doc->type != SJ_OBJ) {
        sj_free(doc);
        fail(r, HCS_E_INVALID_JSON, "ProcessParameters is not a JSON object");
        return;
    }
    if (strcmp(s->state, "Running") != 0) {
        sj_free(doc);
        fail(r, HCS_E_INVALID_STATE, "the compute system is not running");
        return;
    }
    const char *cmdline = sj_str(sj_get(doc, "CommandLine"));
    if (!cmdline || !*cmdline) {
        sj_free(doc);
        fail(r, E_INVALIDARG, "ProcessParameters has no CommandLine");
        return;
    }
    sj *env = sj_get(doc, "Environment");
    const char *doc_path = NULL;
    for (size_t i = 0; env && env->type == SJ_OBJ && i < env->n; i++)
        if (_stricmp(env->keys[i], "PATH") == 0)
            doc_path = sj_str(env->kids[i]);
    proc *p = calloc(1, sizeof *p);
    p->sys = s;
    char *cmd = map_command(s, cmdline, doc_path, p->image, sizeof p->image);
    const char *cwd_doc = sj_str(sj_get(doc, "WorkingDirectory"));
    char cwd[MAX_PATH * 2] = "";
    if (!map_path(s, cwd_doc, cwd, sizeof cwd)) {
        if (cwd_doc && dir_exists(cwd_doc))
            snprintf(cwd, sizeof cwd, "%s", cwd_doc);
        else if (s->root[0])
            snprintf(cwd, sizeof cwd, "%s", s->root);
    }
    int tty = sj_bool(sj_get(doc, "EmulateConsole"), 0);
    int want_in = sj_bool(sj_get(doc, "CreateStdInPipe"), 0);
    int want_out = sj_bool(sj_get(doc, "CreateStdOutPipe"), 0);
    int want_err = sj_bool(sj_get(doc, "CreateStdErrPipe"), 0) && !tty;
    SECURITY_ATTRIBUTES inherit = {sizeof inherit, NULL, TRUE};
    HANDLE in_client = NULL, out_client = NULL, err_client = NULL;
    HANDLE child_in = NULL, child_out = NULL, child_err = NULL;
    /* stdin always goes through a relay so CloseHandle(StdIn) can end it for the process
     * whatever the client still holds (hcsshim's CloseStdin). */
    if (want_in) {
        HANDLE a_r, a_w, b_r, b_w;
        CreatePipe(&a_r, &a_w, NULL, 0);
        CreatePipe(&b_r, &b_w, NULL, 0);
        in_client = a_w;
        p->in_src = a_r;
        p->in_dst = b_w;
        child_in = b_r;
    }
    if (want_out)
        CreatePipe(&out_client, &child_out, NULL, 0);
    if (want_err)
        CreatePipe(&err_client, &child_err, NULL, 0);
    STARTUPINFOEXW si = {0};
    si.StartupInfo.cb = sizeof si.StartupInfo;
    DWORD flags = CREATE_UNICODE_ENVIRONMENT | CREATE_SUSPENDED;
    HRESULT hr = S_OK;
    /* EmulateConsole: Windows gives the process a pseudo console. wine 8 makes the console
     * (CreatePseudoConsole succeeds) but ignores PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE when
     * creating the child, which then writes to whatever std handles it has; so here a
     * console process gets pipes, its stderr merged into stdout as a console merges them,
     * and ConsoleSize requests are recorded, not applied. */
    if (tty) {
        sj *size = sj_get(doc, "ConsoleSize"); /* [height, width] (hcsshim cmd.go) */
        p->tty = 1;
        p->rows = (int)sj_int(sj_at(size, 0), 0);
        p->cols = (int)sj_int(sj_at(size, 1), 0);
        if (!child_out && want_out)
            CreatePipe(&out_client, &child_out, NULL, 0);
        if (child_out) {
            DuplicateHandle(GetCurrentProcess(), child_out, GetCurrentProcess(), &child_err, 0,
                            FALSE, DUPLICATE_SAME_ACCESS);
        }
    }
    {
        flags |= DETACHED_PROCESS;
        si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
        SetHandleInformation(child_in, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
        SetHandleInformation(child_out, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
        SetHandleInformation(child_err, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
        si.StartupInfo.hStdInput = child_in ? child_in : nul_handle(GENERIC_READ);
        si.StartupInfo.hStdOutput = child_out ? child_out : nul_handle(GENERIC_WRITE);
        si.StartupInfo.hStdError = child_err ? child_err : nul_handle(GENERIC_WRITE);
    }
    (void)inherit;
    PROCESS_INFORMATION pi = {0};
    WCHAR *wenv = make_env(s, env);
    int wn = MultiByteToWideChar(CP_UTF8, 0, cmd, -1, NULL, 0);
    WCHAR *wcmd = calloc((size_t)wn + 1, sizeof *wcmd);
    MultiByteToWideChar(CP_UTF8, 0, cmd, -1, wcmd, wn);
    WCHAR wcwd[MAX_PATH * 2];
    MultiByteToWideChar(CP_UTF8, 0, cwd, -1, wcwd, MAX_PATH * 2);
    BOOL ok = SUCCEEDED(hr) && CreateProcessW(NULL, wcmd, NULL, NULL, TRUE, flags, wenv,
                                              cwd[0] ? wcwd : NULL, &si.StartupInfo, &pi);
    DWORD e = GetLastError();
    free(wcmd);
    free(wenv);
    CloseHandle(si.StartupInfo.hStdInput);
    CloseHandle(si.StartupInfo.hStdOutput);
    CloseHandle(si.StartupInfo.hStdError);
    if (!ok) {
        if (in_client)
            CloseHandle(in_client);
        if (out_client)
            CloseHandle(out_client);
        if (err_client)
            CloseHandle(err_client);
        if (p->in_src)
            CloseHandle(p->in_src);
        if (p->in_dst)
            CloseHandle(p->in_dst);
        char msg[600];
        snprintf(msg, sizeof msg, "CreateProcess(%s) failed: Win32 error %lu", cmd, e);
        free(cmd);
        sj_free(doc);
        free(p);
        fail(r, FAILED(hr) ? hr : HRESULT_FROM_WIN32(e), msg);
        return;
    }
    if (s->job)
        AssignProcessToJobObject(s->job, pi.hProcess);
    ResumeThread(pi.hThread);
    CloseHandle(pi.hThread);
    p->pid = pi.dwProcessId;
    p->h = pi.hProcess;
    p->created = now_100ns();
    p->exited_ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    p->next = s->procs;
    s->procs = p;
    long long ph = arg_h(r, "ph");
    host_handle_add(r->pid, ph, "process", p);
    HANDLE ci = give(r->pid, in_client), co = give(r->pid, out_client),
           ce = give(r->pid, err_client);
    if (p->in_src) {
        p->relay = CreateThread(NULL, 0, stdin_relay, p, 0, NULL);
    }
    HANDLE t = CreateThread(NULL, 0, proc_wait, p, 0, NULL);
    if (t)
        CloseHandle(t);
    snprintf(r->note, sizeof r->note, "started %s as pid %lu%s", cmd, (unsigned long)p->pid,
             tty ? " (EmulateConsole: pipes, stderr merged; wine attaches no pseudo console)" : "");
    free(cmd);
    sb_addf(&r->out,
            ",\"ProcessId\":%lu,\"stdin\":%lld,\"stdout\":%lld,\"stderr\":%lld,\"result\":\"\"",
            (unsigned long)p->pid, (long long)(ULONG_PTR)ci, (long long)(ULONG_PTR)co,
            (long long)(ULONG_PTR)ce);
    char id[300];
    snprintf(id, sizeof id, "%s/%lu", s->id, (unsigned long)p->pid);
    set_id(r, id);
    sj_free(doc);
}

/* A process of the system by its id, live or exited (its exit status stays readable). */
static void h_open_process(req *r)
{
    hsys *s = sys_of(r);
    if (!s)
        return;
    DWORD pid = (DWORD)sj_int(sj_get(r->in, "process"), 0);
    proc *p = s->procs;
    while (p && p->pid != pid)
        p = p->next;
    char id[300];
    snprintf(id, sizeof id, "%s/%lu", s->id, (unsigned long)pid);
    set_id(r, id);
    if (!p) {
        fail(r, HRESULT_FROM_WIN32(ERROR_NOT_FOUND), "no process with this id in the system");
        return;
    }
    host_handle_add(r->pid, sj_int(sj_get(r->in, "ph"), 0), "process", p);
}

/* Closing never fails: a handle whose create failed was never registered here. */
static void h_close_process(req *r)
{
    if (!host_handle_get(r->pid, arg_h(r, "h"), "process")) {
        snprintf(r->note, sizeof r->note, "handle of a process that was never created");
        return;
    }
    proc_of(r);
    host_handle_del(r->pid, arg_h(r, "h"));
}

static void h_set_process_callback(req *r)
{
    if (!proc_of(r))
        return;
    host_set_callback(r->pid, arg_h(r, "h"), (int)sj_int(sj_get(r->in, "on"), 0));
}

static void kill_proc(proc *p)
{
    if (!p->exited)
        TerminateProcess(p->h, KILLED_EXIT_CODE);
}

static void h_terminate_process(req *r)
{
    proc *p = proc_of(r);
    if (!p)
        return;
    if (p->exited) {
        fail(r, HCS_E_PROCESS_ALREADY_STOPPED, "the process has already exited");
        return;
    }
    kill_proc(p);
}

static int ctrl_of(const char *name)
{
    static const struct {
        const char *n;
        int v;
    } map[] = {{"CtrlC", CTRL_C_EVENT},
               {"CtrlBreak", CTRL_BREAK_EVENT},
               {"CtrlClose", CTRL_CLOSE_EVENT},
               {"CtrlLogOff", CTRL_LOGOFF_EVENT},
               {"CtrlShutdown", CTRL_SHUTDOWN_EVENT}};
    for (size_t i = 0; name && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].n, name) == 0)
            return map[i].v;
    return -1;
}

/* As the console host does: a thread in the target running CtrlRoutine(event). */
static int deliver_ctrl(proc *p, int ev)
{
    FARPROC f = GetProcAddress(GetModuleHandleA("kernelbase.dll"), "CtrlRoutine");
    if (!f || p->exited)
        return -1;
    HANDLE t = CreateRemoteThread(p->h, NULL, 0, (LPTHREAD_START_ROUTINE)(void *)f,
                                  (void *)(ULONG_PTR)ev, 0, NULL);
    if (!t)
        return -1;
    CloseHandle(t);
    return 0;
}

/* A servercore container answers CtrlShutdown the way Windows ends services at shutdown:
 * the process that does not exit within WaitToKillServiceTimeout is killed (hcsshim
 * hcsdoc_wcow.go, Bug36689012). The watcher holds its own handle of the process. */
typedef struct shutdown_watch {
    HANDLE h;
    DWORD ms;
    DWORD pid;
    char sys[256];
} shutdown_watch;

static DWORD WINAPI shutdown_watcher(void *arg)
{
    shutdown_watch *w = arg;
    if (WaitForSingleObject(w->h, w->ms) == WAIT_TIMEOUT) {
        TerminateProcess(w->h, KILLED_EXIT_CODE);
        EnterCriticalSection(&g_lock);
        host_log("process %lu of %s killed %lu ms after CtrlShutdown (WaitToKillServiceTimeout)",
                 (unsigned long)w->pid, w->sys, (unsigned long)w->ms);
        LeaveCriticalSection(&g_lock);
    }
    CloseHandle(w->h);
    free(w);
    return 0;
}

static void watch_shutdown(proc *p)
{
    shutdown_watch *w = calloc(1, sizeof *w);
    if (!w || !DuplicateHandle(GetCurrentProcess(), p->h, GetCurrentProcess(), &w->h, 0, FALSE,
                               DUPLICATE_SAME_ACCESS)) {
        free(w);
        return;
    }
    w->ms = p->sys->wait_to_kill_ms;
    w->pid = p->pid;
    snprintf(w->sys, sizeof w->sys, "%s", p->sys->id);
    HANDLE t = CreateThread(NULL, 0, shutdown_watcher, w, 0, NULL);
    if (t)
        CloseHandle(t);
    else {
        CloseHandle(w->h);
        free(w);
    }
}

static void h_signal_process(req *r)
{
    proc *p = proc_of(r);
    if (!p)
        return;
    r->doc = arg_s(r, "doc");
    sj *doc = sj_parse(r->doc);
    int ev = ctrl_of(sj_str(sj_get(doc, "Signal")));
    sj_free(doc);
    if (ev < 0) {
        fail(r, E_INVALIDARG, "SignalProcessOptions.Signal is not a ProcessSignal");
        return;
    }
    if (p->exited) {
        fail(r, HCS_E_PROCESS_ALREADY_STOPPED, "the process has already exited");
        return;
    }
    if (deliver_ctrl(p, ev) < 0) {
        fail(r, HRESULT_FROM_WIN32(GetLastError()), "could not deliver the console event");
        return;
    }
    if (ev == CTRL_SHUTDOWN_EVENT) {
        watch_shutdown(p);
        snprintf(r->note, sizeof r->note, "killed if still running after %u ms",
                 p->sys->wait_to_kill_ms);
    }
}

static void h_modify_process(req *r)
{
    proc *p = proc_of(r);
    if (!p)
        return;
    r->doc = arg_s(r, "doc");
    sj *doc = sj_parse(r->doc);
    const char *op = sj_str(sj_get(doc, "Operation"));
    if (op && strcmp(op, "ConsoleSize") == 0) {
        sj *cs = sj_get(doc, "ConsoleSize");
        COORD c = {(SHORT)sj_int(sj_get(cs, "Width"), 0), (SHORT)sj_int(sj_get(cs, "Height"), 0)};
        if (!p->tty)
            fail(r, E_INVALIDARG, "ConsoleSize on a process without a console");
        else if (c.X <= 0 || c.Y <= 0)
            fail(r, E_INVALIDARG, "bad ConsoleSize");
        else {
            p->cols = c.X;
            p->rows = c.Y;
            snprintf(r->note, sizeof r->note, "console size now %dx%d (recorded)", c.X, c.Y);
        }
    } else if (op && strcmp(op, "CloseHandle") == 0) {
        const char *which = sj_str(sj_path(doc, "CloseHandle", "Handle", NULL));
        if (!which || strcmp(which, "StdIn") != 0) {
            fail(r, E_INVALIDARG, "only CloseHandle StdIn is supported");
        } else if (p->in_dst) {
            CloseHandle(p->in_dst);
            p->in_dst = NULL;
            if (p->relay)
                CancelSynchronousIo(p->relay);
            snprintf(r->note, sizeof r->note, "stdin closed for the process");
        }
    } else {
        fail(r, E_INVALIDARG, "ProcessModifyRequest.Operation is not ConsoleSize/CloseHandle");
    }
    sj_free(doc);
}

/* Waits without the host lock: other requests go on meanwhile. */
static void h_wait_process(req *r)
{
    proc *p = proc_of(r);
    if (!p)
        return;
    DWORD timeout = (DWORD)sj_int(sj_get(r->in, "timeout"), INFINITE);
    HANDLE ev = NULL;
    DuplicateHandle(GetCurrentProcess(), p->exited_ev, GetCurrentProcess(), &ev, 0, FALSE,
                    DUPLICATE_SAME_ACCESS);
    LeaveCriticalSection(&g_lock);
    DWORD w = WaitForSingleObject(ev, timeout);
    EnterCriticalSection(&g_lock);
    CloseHandle(ev);
    if (w != WAIT_OBJECT_0) {
        r->hr = HCS_E_OPERATION_TIMEOUT;
        return;
    }
    sb b = {0};
    process_status(p, &b);
    reply_result(r, b.p);
    free(b.p);
}

/* ---- compute systems ---- */

static void system_exited(hsys *s, const char *type)
{
    if (strcmp(s->state, "Stopped") == 0)
        return;
    snprintf(s->state, sizeof s->state, "Stopped");
    sb b = {0};
    sb_addf(&b, "{\"Status\":0,\"ExitType\":\"%s\"}", type);
    ev_ctx c = {0x00000001 /* HcsEventSystemExited */, b.p};
    host_each_callback(s, send_event, &c);
    free(b.p);
    host_log("system %s stopped (%s)", s->id, type);
}

static void maybe_remove(hsys *s)
{
    if (strcmp(s->state, "Stopped") == 0 && host_handles_of(s) == 0 && !s->removed) {
        s->removed = 1;
        if (s->job) {
            CloseHandle(s->job);
            s->job = NULL;
        }
        if (s->vm_dir[0])
            remove_tree(s->vm_dir);
        host_log("system %s removed", s->id);
    }
}

/* Every live process's handle, duplicated, so the caller can wait without the lock. */
static size_t live_handles(hsys *s, HANDLE *out, size_t max)
{
    size_t n = 0;
    for (proc *p = s->procs; p && n < max; p = p->next)
        if (!p->exited && DuplicateHandle(GetCurrentProcess(), p->exited_ev, GetCurrentProcess(),
                                          &out[n], 0, FALSE, DUPLICATE_SAME_ACCESS))
            n++;
    return n;
}

static void wait_all(HANDLE *hs, size_t n, DWORD ms)
{
    ULONGLONG end = GetTickCount64() + ms;
    for (size_t i = 0; i < n; i++) {
        ULONGLONG now = GetTickCount64();
        WaitForSingleObject(hs[i], now < end ? (DWORD)(end - now) : 0);
    }
}

static void close_all(HANDLE *hs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CloseHandle(hs[i]);
}

static void hosted_of(hsys *vm, hsys **out, size_t *n, size_t max);

/* Kills every process and waits for their exits to be recorded (called with the lock). */
static void kill_all(hsys *s)
{
    HANDLE hs[256];
    for (proc *p = s->procs; p; p = p->next)
        kill_proc(p);
    if (s->job)
        TerminateJobObject(s->job, KILLED_EXIT_CODE);
    size_t n = live_handles(s, hs, 256);
    LeaveCriticalSection(&g_lock);
    wait_all(hs, n, 10000);
    EnterCriticalSection(&g_lock);
    close_all(hs, n);
}

static void terminate_system(hsys *s, const char *type)
{
    if (s->is_vm) {
        hsys *kids[64];
        size_t nk = 0;
        hosted_of(s, kids, &nk, 64);
        for (size_t i = 0; i < nk; i++) {
            kill_all(kids[i]);
            system_exited(kids[i], "UnexpectedExit");
        }
    }
    kill_all(s);
    system_exited(s, type);
}

static void h_create_system(req *r);

static void h_open_system(req *r)
{
    const char *id = arg_s(r, "id");
    set_id(r, id);
    hsys *s = id ? sys_find(id) : NULL;
    if (!s) {
        fail(r, HCS_E_SYSTEM_NOT_FOUND, "no compute system with this id");
        return;
    }
    host_handle_add(r->pid, arg_h(r, "h"), "system", s);
}

static void h_close_system(req *r)
{
    if (!host_handle_get(r->pid, arg_h(r, "h"), "system")) {
        snprintf(r->note, sizeof r->note, "handle of a system that was never created");
        return;
    }
    hsys *s = sys_of(r);
    if (!s)
        return;
    host_handle_del(r->pid, arg_h(r, "h"));
    if (host_handles_of(s) == 0 && s->term_on_last_close && strcmp(s->state, "Stopped") != 0) {
        snprintf(r->note, sizeof r->note,
                 "last handle closed: terminated "
                 "(ShouldTerminateOnLastHandleClosed)");
        terminate_system(s, "ForcedExit");
    }
    maybe_remove(s);
}

static void h_set_system_callback(req *r)
{
    if (!sys_of(r))
        return;
    host_set_callback(r->pid, arg_h(r, "h"), (int)sj_int(sj_get(r->in, "on"), 0));
}

static void h_start_system(req *r)
{
    hsys *s = sys_of(r);
    if (!s)
        return;
    if (strcmp(s->state, "Created") != 0) {
        fail(r, HCS_E_INVALID_STATE, "only a created compute system can start");
        return;
    }
    snprintf(s->state, sizeof s->state, "Running");
    s->started = now_100ns();
}

static void h_shutdown_system(req *r)
{
    hsys *s = sys_of(r);
    if (!s)
        return;
    if (strcmp(s->state, "Stopped") == 0) {
        fail(r, HCS_E_SYSTEM_ALREADY_STOPPED, "the compute system is already stopped");
        return;
    }
    /* Processes get CTRL_SHUTDOWN_EVENT and WaitToKillServiceTimeout to exit. */
    for (proc *p = s->procs; p; p = p->next)
        deliver_ctrl(p, CTRL_SHUTDOWN_EVENT);
    HANDLE hs[256];
    size_t n = live_handles(s, hs, 256);
    DWORD grace = s->wait_to_kill_ms;
    LeaveCriticalSection(&g_lock);
    wait_all(hs, n, grace);
    EnterCriticalSection(&g_lock);
    close_all(hs, n);
    size_t left = 0;
    for (proc *p = s->procs; p; p = p->next)
        left += !p->exited;
    snprintf(r->note, sizeof r->note, "CtrlShutdown sent; %zu process(es) killed after %lu ms",
             left, (unsigned long)grace);
    terminate_system(s, "GracefulExit");
}

static void h_terminate_system(req *r)
{
    hsys *s = sys_of(r);
    if (!s)
        return;
    if (strcmp(s->state, "Stopped") == 0) {
        fail(r, HCS_E_SYSTEM_ALREADY_STOPPED, "the compute system is already stopped");
        return;
    }
    terminate_system(s, "ForcedExit");
}

static void h_pause_system(req *r)
{
    hsys *s = sys_of(r);
    if (!s)
        return;
    if (strcmp(s->state, "Running") != 0) {
        fail(r, HCS_E_INVALID_STATE, "only a running compute system can pause");
        return;
    }
    snprintf(s->state, sizeof s->state, "Paused");
    snprintf(r->note, sizeof r->note, "state only: processes are not frozen by the double");
}

static void h_resume_system(req *r)
{
    hsys *s = sys_of(r);
    if (!s)
        return;
    if (strcmp(s->state, "Paused") != 0) {
        fail(r, HCS_E_INVALID_STATE, "only a paused compute system can resume");
        return;
    }
    snprintf(s->state, sizeof s->state, "Running");
}

static void hosted_of(hsys *vm, hsys **out, size_t *n, size_t max)
{
    *n = 0;
    for (hsys *s = systems; s && *n < max; s = s->next)
        if (!s->removed && !s->is_vm && _stricmp(s->hosting, vm->id) == 0)
            out[(*n)++] = s;
}

static void add_stats(hsys *s, unsigned long long *user, unsigned long long *kernel,
                      unsigned long long *commit, unsigned long long *commit_peak,
                      unsigned long long *ws)
{
    *user += s->cpu_user;
    *kernel += s->cpu_kernel;
    for (proc *p = s->procs; p; p = p->next) {
        if (p->exited)
            continue;
        unsigned long long pu, pk;
        proc_cpu(p, &pu, &pk);
        *kernel += pk;
        *user += pu;
        PROCESS_MEMORY_COUNTERS_EX m = {.cb = sizeof m};
        if (GetProcessMemoryInfo(p->h, (PROCESS_MEMORY_COUNTERS *)&m, sizeof m)) {
            *commit += m.PrivateUsage;
            *commit_peak += m.PeakPagefileUsage;
            *ws += m.WorkingSetSize;
        }
    }
}

static void statistics(hsys *s, sb *b)
{
    unsigned long long user = 0, kernel = 0, commit = 0, peak = 0, ws = 0;
    add_stats(s, &user, &kernel, &commit, &peak, &ws);
    if (s->is_vm) { /* the VM's work is its containers' work */
        hsys *kids[64];
        size_t nk = 0;
        hosted_of(s, kids, &nk, 64);
        for (size_t i = 0; i < nk; i++)
            add_stats(kids[i], &user, &kernel, &commit, &peak, &ws);
    }
    char ts[40];
    now_rfc3339(ts);
    long long up = s->started ? now_100ns() - s->started : 0;
    sb_addf(b,
            "{\"Timestamp\":\"%s\",\"Uptime100ns\":%lld,\"Processor\":{\"TotalRuntime100ns\":%llu,"
            "\"RuntimeUser100ns\":%llu,\"RuntimeKernel100ns\":%llu},\"Memory\":{"
            "\"MemoryUsageCommitBytes\":%llu,\"MemoryUsageCommitPeakBytes\":%llu,"
            "\"MemoryUsagePrivateWorkingSetBytes\":%llu}}",
            ts, up, user + kernel, user, kernel, commit, peak, ws);
}

static void process_list(hsys *s, sb *b)
{
    sb_add(b, "[");
    int first = 1;
    for (proc *p = s->procs; p; p = p->next) {
        if (p->exited)
            continue;
        unsigned long long kt = 0, ut = 0;
        proc_cpu(p, &ut, &kt);
        PROCESS_MEMORY_COUNTERS_EX m = {.cb = sizeof m};
        GetProcessMemoryInfo(p->h, (PROCESS_MEMORY_COUNTERS *)&m, sizeof m);
        const char *base = strrchr(p->image, '\\');
        base = base ? base + 1 : p->image;
        sb_addf(b, "%s{\"ProcessId\":%lu,\"ImageName\":", first ? "" : ",", (unsigned long)p->pid);
        sb_qstr(b, base);
        sb_addf(b,
                ",\"KernelTime100ns\":%llu,\"UserTime100ns\":%llu,\"MemoryCommitBytes\":%llu,"
                "\"MemoryWorkingSetPrivateBytes\":%llu,\"MemoryWorkingSetSharedBytes\":0}",
                kt, ut, (unsigned long long)m.PrivateUsage, (unsigned long long)m.WorkingSetSize);
        first = 0;
    }
    sb_add(b, "]");
}

static void h_properties(req *r)
{
    hsys *s = sys_of(r);
    if (!s)
        return;
    r->doc = arg_s(r, "doc");
    sj *q = sj_parse(r->doc && *r->doc ? r->doc : "{}");
    sb b = {0};
    sb_add(&b, "{\"Id\":");
    sb_qstr(&b, s->id);
    sb_addf(&b, ",\"SystemType\":\"%s\",\"Owner\":", s->is_vm ? "VirtualMachine" : "Container");
    sb_qstr(&b, s->owner);
    sb_addf(&b, ",\"RuntimeOsType\":\"Windows\",\"State\":\"%s\",\"Stopped\":%s", s->state,
            strcmp(s->state, "Stopped") == 0 ? "true" : "false");
    if (s->hosting[0]) {
        sb_add(&b, ",\"HostingSystemId\":");
        sb_qstr(&b, s->hosting);
    }
    sj *types = sj_get(q, "PropertyTypes");
    for (size_t i = 0; types && i < types->n; i++) {
        const char *t = sj_str(sj_at(types, i));
        if (t && strcmp(t, "Statistics") == 0) {
            sb_add(&b, ",\"Statistics\":");
            statistics(s, &b);
        } else if (t && strcmp(t, "ProcessList") == 0) {
            sb_add(&b, ",\"ProcessList\":");
            process_list(s, &b);
        }
    }
    sb_add(&b, "}");
    reply_result(r, b.p);
    free(b.p);
    sj_free(q);
}

static int query_match(const sj *list, const char *v)
{
    if (!list)
        return 1;
    for (size_t i = 0; i < list->n; i++)
        if (sj_str(sj_at(list, i)) && _stricmp(sj_str(sj_at(list, i)), v) == 0)
            return 1;
    return 0;
}

static void h_enumerate(req *r)
{
    r->doc = arg_s(r, "doc");
    sj *q = sj_parse(r->doc && *r->doc ? r->doc : "{}");
    sb b = {0};
    sb_add(&b, "[");
    int first = 1;
    for (hsys *s = systems; s; s = s->next) {
        const char *type = s->is_vm ? "VirtualMachine" : "Container";
        if (s->removed || !query_match(sj_get(q, "Ids"), s->id) ||
            !query_match(sj_get(q, "Owners"), s->owner) || !query_match(sj_get(q, "Types"), type) ||
            !query_match(sj_get(q, "Names"), s->id))
            continue;
        sb_add(&b, first ? "{\"Id\":" : ",{\"Id\":");
        sb_qstr(&b, s->id);
        sb_addf(&b, ",\"SystemType\":\"%s\",\"Owner\":", type);
        sb_qstr(&b, s->owner);
        sb_addf(&b, ",\"RuntimeOsType\":\"Windows\",\"State\":\"%s\"", s->state);
        if (s->hosting[0]) {
            sb_add(&b, ",\"HostingSystemId\":");
            sb_qstr(&b, s->hosting);
        }
        sb_add(&b, "}");
        first = 0;
    }
    sb_add(&b, "]");
    reply_result(r, b.p);
    free(b.p);
    sj_free(q);
}

/* ---- utility VM devices ---- */

#define VSMB_PREFIX "\\\\?\\VMSMB\\VSMB-{dcc079ae-60ba-4d07-847c-3493609c0870}\\"

static const share *share_find(const hsys *vm, const char *name)
{
    for (size_t i = 0; i < vm->n_shares; i++)
        if (_stricmp(vm->shares[i].name, name) == 0)
            return &vm->shares[i];
    return NULL;
}

static void safe_name(const char *in, char *out, size_t size)
{
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < size; i++)
        out[j++] = (char)(strchr(":\\/?*\"<>|", in[i]) ? '_' : in[i]);
    out[j] = '\0';
}

/* A VSMB share's Options and AllowedFiles (schema VirtualSmbShare). VSMB serves directories:
 * a file is reachable only as an AllowedFiles entry of a share of its directory with
 * RestrictFileAccess (hcsshim internal/uvm/vsmb.go AddVSMB); SingleFileMapping is how
 * hcsshim asks for that and is taken to require every entry to be a file directly in the
 * share's Path. */
static HRESULT share_files(share *sh, const sj *set, char *note, size_t nsz)
{
    sj *opts = sj_get(set, "Options");
    sj *files = sj_get(set, "AllowedFiles");
    int restrict_ = sj_bool(sj_get(opts, "RestrictFileAccess"), 0);
    int single = sj_bool(sj_get(opts, "SingleFileMapping"), 0);
    if (files && !restrict_) {
        snprintf(note, nsz, "VSMB share %s: AllowedFiles without RestrictFileAccess", sh->name);
        return E_INVALIDARG;
    }
    if (single && (!files || files->type != SJ_ARR || !files->n || files->n > 8)) {
        snprintf(note, nsz, "VSMB share %s: SingleFileMapping needs 1 to 8 AllowedFiles", sh->name);
        return E_INVALIDARG;
    }
    size_t dl = strlen(sh->path);
    for (size_t i = 0; files && i < files->n; i++) {
        const char *f = sj_str(sj_at(files, i));
        if (!f || _strnicmp(f, sh->path, dl) != 0 || (f[dl] != '\\' && f[dl] != '/') ||
            (single && strpbrk(f + dl + 1, "\\/"))) {
            snprintf(note, nsz, "VSMB share %s: allowed file %s is not in %s", sh->name,
                     f ? f : "?", sh->path);
            return E_INVALIDARG;
        }
        if (!path_exists(f) || dir_exists(f)) {
            snprintf(note, nsz, "VSMB share %s: allowed file %s is not a file", sh->name, f);
            return HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
        }
    }
    sh->restricted = restrict_;
    sh->n_allowed = 0;
    for (size_t i = 0; files && i < files->n && i < 8; i++)
        snprintf(sh->allowed[sh->n_allowed++], MAX_PATH, "%s", sj_str(sj_at(files, i)));
    return S_OK;
}

/* What a hosted container's MappedDirectory HostPath reaches in the guest: a VSMB share
 * (\\?\VMSMB\...\<share>) or one allowed file of a restricted share (<share>\<file>). */
static HRESULT guest_mapped_path(const hsys *vm, const char *hp, char *note, size_t nsz)
{
    if (!hp || _strnicmp(hp, VSMB_PREFIX, strlen(VSMB_PREFIX)) != 0) {
        snprintf(note, nsz, "MappedDirectories host path %s is not in the utility VM",
                 hp ? hp : "?");
        return HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
    }
    char name[64];
    const char *rest = hp + strlen(VSMB_PREFIX);
    const char *sep = strchr(rest, '\\');
    snprintf(name, sizeof name, "%.*s", (int)(sep ? sep - rest : (ptrdiff_t)strlen(rest)), rest);
    const share *sh = share_find(vm, name);
    if (!sh) {
        snprintf(note, nsz, "MappedDirectories host path %s: share %s was never added", hp, name);
        return HRESULT_FROM_WIN32(ERROR_BAD_NETPATH);
    }
    if (!sep || !sep[1]) {
        if (sh->restricted) {
            snprintf(note, nsz, "MappedDirectories host path %s: share %s allows single files only",
                     hp, name);
            return E_ACCESSDENIED;
        }
        return S_OK;
    }
    char want[MAX_PATH];
    snprintf(want, sizeof want, "%s\\%s", sh->path, sep + 1);
    for (size_t i = 0; sh->restricted && i < sh->n_allowed; i++)
        if (_stricmp(sh->allowed[i], want) == 0)
            return S_OK;
    snprintf(note, nsz, "MappedDirectories host path %s: %s is not an allowed file of share %s",
             hp, want, name);
    return E_ACCESSDENIED;
}

static HRESULT combined_add(hsys *vm, const sj *settings, char *note, size_t nsz)
{
    const char *root = sj_str(sj_get(settings, "ContainerRootPath"));
    sj *layers = sj_get(settings, "Layers");
    if (!root || !layers || layers->type != SJ_ARR || vm->n_combs == 32)
        return E_INVALIDARG;
    const char *dirs[64];
    size_t n = 0;
    for (size_t i = 0; i < layers->n && n < 64; i++) {
        const char *p = sj_str(sj_get(sj_at(layers, i), "Path"));
        if (!p || _strnicmp(p, VSMB_PREFIX, strlen(VSMB_PREFIX)) != 0) {
            snprintf(note, nsz, "CombinedLayers path %s is not a VSMB share path", p ? p : "?");
            return E_INVALIDARG;
        }
        const share *sh = share_find(vm, p + strlen(VSMB_PREFIX));
        if (!sh) {
            snprintf(note, nsz, "CombinedLayers names share %s that was never added",
                     p + strlen(VSMB_PREFIX));
            return HRESULT_FROM_WIN32(ERROR_BAD_NETPATH);
        }
        dirs[n++] = sh->path;
    }
    combined *c = &vm->combs[vm->n_combs];
    snprintf(c->root, sizeof c->root, "%s", root);
    char sn[MAX_PATH];
    safe_name(root, sn, sizeof sn);
    snprintf(c->dir, sizeof c->dir, "%s\\%s", vm->vm_dir, sn);
    remove_tree(c->dir);
    if (storage_merge_layers(dirs, n, c->dir) < 0) {
        snprintf(note, nsz, "cannot merge the layers for %s", root);
        return E_FAIL;
    }
    vm->n_combs++;
    snprintf(note, nsz, "layers of %s merged from %zu share(s)", root, n);
    return S_OK;
}

static nic *nic_find(hsys *vm, const char *id)
{
    for (size_t i = 0; id && i < vm->n_nics; i++)
        if (guid_equal(vm->nics[i].id, id))
            return &vm->nics[i];
    return NULL;
}

/* The guest's side of a network adapter (hcsshim internal/uvm/network.go addNIC, RS5+ form
 * {AdapterId, RequestType, Settings}): "PreAdd" hands the guest the endpoint before the
 * device arrives; the device's own Add (with the guest "Add") needs that PreAdd, as the
 * guest has nothing to configure the adapter with otherwise. */
static HRESULT guest_network(hsys *vm, const char *rt, const sj *set, char *note, size_t nsz)
{
    const char *adapter = sj_str(sj_get(set, "AdapterId"));
    const char *kind = sj_str(sj_get(set, "RequestType"));
    if (!adapter || !kind) {
        snprintf(note, nsz, "Network guest request without AdapterId/RequestType");
        return E_INVALIDARG;
    }
    nic *n = nic_find(vm, adapter);
    if (strcmp(rt, "Add") == 0 && strcmp(kind, "PreAdd") == 0) {
        const char *ep = sj_str(sj_path(set, "Settings", "ID", NULL));
        if (!ep || !hcn_endpoint_exists(ep)) {
            snprintf(note, nsz, "PreAdd of adapter %s: endpoint %s does not exist", adapter,
                     ep ? ep : "?");
            return (HRESULT)0x803B0002L; /* HCN_E_ENDPOINT_NOT_FOUND */
        }
        if (n || vm->n_nics == 8)
            return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
        n = &vm->nics[vm->n_nics++];
        memset(n, 0, sizeof *n);
        snprintf(n->id, sizeof n->id, "%s", adapter);
        snprintf(n->endpoint, sizeof n->endpoint, "%s", ep);
        n->pre_added = 1;
        snprintf(note, nsz, "guest expects adapter %s for endpoint %s", adapter, ep);
        return S_OK;
    }
    if (strcmp(rt, "Add") == 0 && strcmp(kind, "Add") == 0) {
        if (!n || !n->pre_added) {
            snprintf(note, nsz, "guest Add of adapter %s without its PreAdd", adapter);
            return E_INVALIDARG;
        }
        n->pre_added = 0;
        return S_OK;
    }
    return S_OK; /* Remove and the rest change nothing the double models */
}

static HRESULT guest_request(hsys *vm, const sj *g, char *note, size_t nsz)
{
    const char *type = sj_str(sj_get(g, "ResourceType"));
    const char *rt = sj_str(sj_get(g, "RequestType"));
    sj *set = sj_get(g, "Settings");
    if (!type || !rt)
        return E_INVALIDARG;
    if (strcmp(type, "CombinedLayers") == 0) {
        if (strcmp(rt, "Add") == 0)
            return combined_add(vm, set, note, nsz);
        const char *root = sj_str(sj_get(set, "ContainerRootPath"));
        for (size_t i = 0; root && i < vm->n_combs; i++)
            if (_stricmp(vm->combs[i].root, root) == 0) {
                remove_tree(vm->combs[i].dir);
                vm->combs[i] = vm->combs[--vm->n_combs];
                return S_OK;
            }
        return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
    }
    if (strcmp(type, "Network") == 0)
        return guest_network(vm, rt, set, note, nsz);
    if (strcmp(type, "MappedVirtualDisk") == 0 || strcmp(type, "MappedDirectory") == 0)
        return S_OK; /* what the guest does with them has no host-side effect here */
    snprintf(note, nsz, "unknown guest ResourceType %s", type);
    return E_INVALIDARG;
}

#define HVSOCK_SERVICE_PATH "VirtualMachine/Devices/HvSocket/HvSocketConfig/ServiceTable/"

static HRESULT vm_modify(hsys *vm, const sj *m, char *note, size_t nsz)
{
    const char *path = sj_str(sj_get(m, "ResourcePath"));
    const char *rt = sj_str(sj_get(m, "RequestType"));
    sj *set = sj_get(m, "Settings");
    sj *g = sj_get(m, "GuestRequest");
    if (!path) /* a guest-only request */
        return g ? guest_request(vm, g, note, nsz) : E_INVALIDARG;
    if (!rt)
        return E_INVALIDARG;
    HRESULT hr = S_OK;
    if (strcmp(path, "VirtualMachine/Devices/VirtualSmb/Shares") == 0) {
        const char *name = sj_str(sj_get(set, "Name"));
        const char *p = sj_str(sj_get(set, "Path"));
        if (!name)
            return E_INVALIDARG;
        if (strcmp(rt, "Add") == 0) {
            if (!p || !path_exists(p)) {
                snprintf(note, nsz, "VSMB share %s: host path %s does not exist", name,
                         p ? p : "?");
                return HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
            }
            if (!dir_exists(p)) { /* VSMB shares directories only (winsim's HRESULT) */
                snprintf(note, nsz, "VSMB share %s: host path %s is a file, not a directory",
                         name, p);
                return HRESULT_FROM_WIN32(ERROR_DIRECTORY);
            }
            if (share_find(vm, name) || vm->n_shares == 32)
                return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
            share *sh = &vm->shares[vm->n_shares];
            memset(sh, 0, sizeof *sh);
            snprintf(sh->name, 64, "%s", name);
            snprintf(sh->path, MAX_PATH, "%s", p);
            hr = share_files(sh, set, note, nsz);
            if (FAILED(hr))
                return hr;
            vm->n_shares++;
        } else if (strcmp(rt, "Update") == 0) {
            /* Only a restricted share's AllowedFiles can change (hcsshim vsmb.go: an Update
             * of an unrestricted share is an error). */
            share *sh = (share *)share_find(vm, name);
            if (!sh)
                return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
            if (!sh->restricted || !p || _stricmp(p, sh->path) != 0) {
                snprintf(note, nsz, "VSMB share %s: only the AllowedFiles of a restricted share "
                         "can be updated", name);
                return E_INVALIDARG;
            }
            share upd = *sh;
            hr = share_files(&upd, set, note, nsz);
            if (FAILED(hr))
                return hr;
            if (!upd.restricted) {
                snprintf(note, nsz, "VSMB share %s: Update without RestrictFileAccess", name);
                return E_INVALIDARG;
            }
            *sh = upd;
            snprintf(note, nsz, "VSMB share %s now allows %zu file(s)", name, sh->n_allowed);
        } else {
            size_t i = 0;
            while (i < vm->n_shares && _stricmp(vm->shares[i].name, name) != 0)
                i++;
            if (i == vm->n_shares)
                return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
            vm->shares[i] = vm->shares[--vm->n_shares];
        }
    } else if (strncmp(path, "VirtualMachine/Devices/Scsi/0/Attachments/", 42) == 0) {
        unsigned lun = (unsigned)atoi(path + 42);
        if (strcmp(rt, "Add") == 0) {
            const char *p = sj_str(sj_get(set, "Path"));
            if (!p || !path_exists(p)) {
                snprintf(note, nsz, "SCSI LUN %u: disk %s does not exist", lun, p ? p : "?");
                return HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
            }
            /* The VM's worker process opens the VHDX as the VM's own account: without a
             * grant (HcsGrantVmAccess / GrantVmAccess) a node refuses the attach. */
            if (!storage_vm_granted(vm->id, p)) {
                snprintf(note, nsz, "SCSI LUN %u: %s was not granted to %s (HcsGrantVmAccess)",
                         lun, p, vm->id);
                return E_ACCESSDENIED;
            }
            for (size_t i = 0; i < vm->n_disks; i++)
                if (vm->disks[i].lun == lun)
                    return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
            if (vm->n_disks == 64)
                return E_OUTOFMEMORY;
            disk *d = &vm->disks[vm->n_disks++];
            d->lun = lun;
            snprintf(d->path, sizeof d->path, "%s", p);
            snprintf(d->ctr_path, sizeof d->ctr_path, "%s",
                     sj_str(sj_path(g, "Settings", "ContainerPath", NULL))
                         ? sj_str(sj_path(g, "Settings", "ContainerPath", NULL))
                         : "");
        } else {
            size_t i = 0;
            while (i < vm->n_disks && vm->disks[i].lun != lun)
                i++;
            if (i == vm->n_disks)
                return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
            vm->disks[i] = vm->disks[--vm->n_disks];
        }
    } else if (strncmp(path, "VirtualMachine/Devices/NetworkAdapters/", 39) == 0) {
        const char *id = path + 39;
        if (strcmp(rt, "Add") == 0) {
            const char *ep = sj_str(sj_get(set, "EndpointId"));
            if (!ep || !hcn_endpoint_exists(ep)) {
                snprintf(note, nsz, "network adapter %s: endpoint %s does not exist", id,
                         ep ? ep : "?");
                return (HRESULT)0x803B0002L; /* HCN_E_ENDPOINT_NOT_FOUND */
            }
            nic *n = nic_find(vm, id);
            if (n && !n->pre_added)
                return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
            if (!n || !guid_equal(n->endpoint, ep)) {
                snprintf(note, nsz, "network adapter %s: the guest had no PreAdd for endpoint %s",
                         id, ep);
                return E_INVALIDARG;
            }
            if (!g) { /* no guest request: the device is there, the guest not told */
                n->pre_added = 0;
                snprintf(note, nsz, "adapter %s added without its guest request", id);
            }
        } else {
            size_t i = 0;
            while (i < vm->n_nics && _stricmp(vm->nics[i].id, id) != 0)
                i++;
            if (i == vm->n_nics)
                return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
            vm->nics[i] = vm->nics[--vm->n_nics];
        }
    } else if (strncmp(path, HVSOCK_SERVICE_PATH, strlen(HVSOCK_SERVICE_PATH)) == 0) {
        const char *sid = path + strlen(HVSOCK_SERVICE_PATH);
        if (strcmp(rt, "Update") != 0 || strlen(sid) != 36 || !set || set->type != SJ_OBJ) {
            snprintf(note, nsz, "HvSocket service: an Update with a service GUID and a config");
            return E_INVALIDARG;
        }
        size_t i = 0;
        while (i < vm->n_hvsock && !guid_equal(vm->hvsock_services[i], sid))
            i++;
        if (i == vm->n_hvsock) {
            if (vm->n_hvsock == 16)
                return E_OUTOFMEMORY;
            snprintf(vm->hvsock_services[vm->n_hvsock++], 37, "%s", sid);
        }
    } else {
        snprintf(note, nsz, "unsupported ResourcePath %s", path);
        return E_INVALIDARG;
    }
    if (SUCCEEDED(hr) && g) {
        char gnote[200] = "";
        hr = guest_request(vm, g, gnote, sizeof gnote);
        if (gnote[0] && !note[0])
            snprintf(note, nsz, "%s", gnote);
    }
    return hr;
}

/* Containers accept resource updates (hcsshim resourcepaths: Container/Memory/SizeInMB and
 * Container/Processor, RequestType Update). */
static HRESULT container_modify(hsys *s, const sj *m, char *note, size_t nsz)
{
    const char *path = sj_str(sj_get(m, "ResourcePath"));
    const char *rt = sj_str(sj_get(m, "RequestType"));
    sj *set = sj_get(m, "Settings");
    if (!path || !rt || strcmp(rt, "Update") != 0) {
        snprintf(note, nsz, "containers take only Update requests here");
        return E_INVALIDARG;
    }
    if (strcmp(path, "Container/Memory/SizeInMB") == 0 && set && set->type == SJ_NUM) {
        s->mem_limit_mb = set->i;
        snprintf(note, nsz, "memory limit now %lld MB", set->i);
        return S_OK;
    }
    if (strcmp(path, "Container/Processor") == 0 && set && set->type == SJ_OBJ) {
        snprintf(note, nsz, "processor limits updated");
        return S_OK;
    }
    snprintf(note, nsz, "unsupported container ResourcePath %s", path);
    return E_INVALIDARG;
}

static void h_modify_system(req *r)
{
    hsys *s = sys_of(r);
    if (!s)
        return;
    r->doc = arg_s(r, "doc");
    sj *m = sj_parse(r->doc);
    if (!m || m->type != SJ_OBJ) {
        sj_free(m);
        fail(r, HCS_E_INVALID_JSON, "the modify request is not a JSON object");
        return;
    }
    if (strcmp(s->state, "Stopped") == 0) {
        sj_free(m);
        fail(r, HCS_E_SYSTEM_ALREADY_STOPPED, "the compute system is stopped");
        return;
    }
    char note[256] = "";
    HRESULT hr =
        s->is_vm ? vm_modify(s, m, note, sizeof note) : container_modify(s, m, note, sizeof note);
    sj_free(m);
    if (FAILED(hr))
        fail(r, hr, note[0] ? note : "modify refused");
    else
        snprintf(r->note, sizeof r->note, "%s", note);
}

static const char *combined_dir(hsys *vm, const char *root)
{
    for (size_t i = 0; i < vm->n_combs; i++)
        if (_stricmp(vm->combs[i].root, root) == 0)
            return vm->combs[i].dir;
    return NULL;
}

/* WaitToKillServiceTimeout from Container.RegistryChanges.AddValues, if set. */
static unsigned wait_to_kill(const sj *ctr)
{
    sj *vals = sj_path(ctr, "RegistryChanges", "AddValues", NULL);
    for (size_t i = 0; vals && i < vals->n; i++) {
        sj *v = sj_at(vals, i);
        const char *name = sj_str(sj_get(v, "Name"));
        const char *sv = sj_str(sj_get(v, "StringValue"));
        if (name && _stricmp(name, "WaitToKillServiceTimeout") == 0 && sv)
            return (unsigned)strtoul(sv, NULL, 10);
    }
    return DEFAULT_WAIT_TO_KILL_MS;
}

static HRESULT check_container(req *r, hsys *s, const sj *ctr, const char *hosting)
{
    const char *spath = sj_str(sj_path(ctr, "Storage", "Path", NULL));
    sj *layers = sj_path(ctr, "Storage", "Layers", NULL);
    if (!spath) {
        snprintf(r->note, sizeof r->note, "Container.Storage.Path is missing");
        return E_INVALIDARG;
    }
    if (hosting) {
        hsys *vm = sys_find(hosting);
        if (!vm || !vm->is_vm) {
            snprintf(r->note, sizeof r->note, "HostingSystemId %s does not exist", hosting);
            return HCS_E_SYSTEM_NOT_FOUND;
        }
        if (strcmp(vm->state, "Running") != 0) {
            snprintf(r->note, sizeof r->note, "utility VM %s is not running", hosting);
            return HCS_E_INVALID_STATE;
        }
        const char *dir = combined_dir(vm, spath);
        if (!dir) {
            snprintf(r->note, sizeof r->note,
                     "no CombinedLayers were added for %s in utility VM %s", spath, hosting);
            return HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        }
        snprintf(s->root, sizeof s->root, "%s", dir);
        snprintf(s->hosting, sizeof s->hosting, "%s", vm->id);
    } else {
        const char *dir = storage_volume_dir(spath);
        if (!dir) {
            snprintf(r->note, sizeof r->note, "Storage.Path %s is not a mounted volume", spath);
            return HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        }
        snprintf(s->root, sizeof s->root, "%s", dir);
        for (size_t i = 0; layers && i < layers->n; i++) {
            const char *lp = sj_str(sj_get(sj_at(layers, i), "Path"));
            if (!lp || !dir_exists(lp)) {
                snprintf(r->note, sizeof r->note, "layer %s does not exist", lp ? lp : "?");
                return HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
            }
        }
    }
    const char *ns = sj_str(sj_path(ctr, "Networking", "Namespace", NULL));
    if (ns && !hcn_namespace_exists(ns)) {
        snprintf(r->note, sizeof r->note, "Networking.Namespace %s does not exist", ns);
        return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
    }
    /* In a utility VM the namespace's endpoints are only there as the VM's network adapters:
     * the guest cannot put a container on an endpoint it has no adapter for. */
    char eps[16][40];
    size_t n_eps = ns && hosting ? hcn_namespace_endpoints(ns, eps, 16) : 0;
    for (size_t i = 0; i < n_eps; i++) {
        hsys *vm = sys_find(hosting);
        size_t k = 0;
        while (k < vm->n_nics && (vm->nics[k].pre_added || !guid_equal(vm->nics[k].endpoint, eps[i])))
            k++;
        if (k == vm->n_nics) {
            snprintf(r->note, sizeof r->note,
                     "utility VM %s has no network adapter for endpoint %s of namespace %s",
                     hosting, eps[i], ns);
            return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
        }
    }
    sj *dirs = sj_get(ctr, "MappedDirectories");
    for (size_t i = 0; dirs && i < dirs->n; i++) {
        const char *hp = sj_str(sj_get(sj_at(dirs, i), "HostPath"));
        if (hosting) {
            HRESULT hr = guest_mapped_path(sys_find(hosting), hp, r->note, sizeof r->note);
            if (FAILED(hr))
                return hr;
            continue;
        }
        if (hp && !path_exists(hp)) {
            snprintf(r->note, sizeof r->note, "MappedDirectories host path %s does not exist", hp);
            return HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        }
    }
    sj *ccg = sj_get(ctr, "ContainerCredentialGuard");
    if (ccg) {
        char sid[37] = "";
        if (!ccg_state_check(ccg, hosting != NULL, sid, r->note, sizeof r->note))
            return E_INVALIDARG;
        hsys *vm = hosting ? sys_find(hosting) : NULL;
        size_t i = 0;
        while (vm && i < vm->n_hvsock && !guid_equal(vm->hvsock_services[i], sid))
            i++;
        if (vm && i == vm->n_hvsock) {
            snprintf(r->note, sizeof r->note,
                     "ContainerCredentialGuard: utility VM %s has no HvSocket service %s", hosting,
                     sid);
            return E_INVALIDARG;
        }
    }
    s->wait_to_kill_ms = wait_to_kill(ctr);
    s->mem_limit_mb = sj_int(sj_path(ctr, "Memory", "SizeInMB", NULL), 0);
    return S_OK;
}

static HRESULT check_vm(req *r, hsys *s, const sj *vm)
{
    sj *scsi = sj_path(vm, "Devices", "Scsi", NULL);
    for (size_t c = 0; scsi && c < scsi->n; c++) {
        sj *att = sj_get(scsi->kids[c], "Attachments");
        for (size_t i = 0; att && i < att->n; i++) {
            const char *p = sj_str(sj_get(att->kids[i], "Path"));
            if (!p || !path_exists(p)) {
                snprintf(r->note, sizeof r->note, "SCSI disk %s does not exist", p ? p : "?");
                return HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
            }
            if (!storage_vm_granted(s->id, p)) {
                snprintf(r->note, sizeof r->note, "SCSI disk %s was not granted to %s", p, s->id);
                return E_ACCESSDENIED;
            }
        }
    }
    sj *shares = sj_path(vm, "Devices", "VirtualSmb", "Shares", NULL);
    for (size_t i = 0; shares && i < shares->n; i++) {
        sj *sh = sj_at(shares, i);
        const char *p = sj_str(sj_get(sh, "Path"));
        if (!p || !path_exists(p)) {
            snprintf(r->note, sizeof r->note, "VSMB share %s does not exist", p ? p : "?");
            return HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND);
        }
        if (s->n_shares < 32) {
            snprintf(s->shares[s->n_shares].name, 64, "%s",
                     sj_str(sj_get(sh, "Name")) ? sj_str(sj_get(sh, "Name")) : "");
            snprintf(s->shares[s->n_shares].path, MAX_PATH, "%s", p);
            s->n_shares++;
        }
    }
    if (!sj_path(vm, "Chipset", "Uefi", "BootThis", NULL)) {
        snprintf(r->note, sizeof r->note, "VirtualMachine.Chipset.Uefi.BootThis is missing");
        return E_INVALIDARG;
    }
    char sn[MAX_PATH];
    safe_name(s->id, sn, sizeof sn);
    snprintf(s->vm_dir, sizeof s->vm_dir, "%s\\vm\\%s", g_root, sn);
    mkdirs(s->vm_dir);
    return S_OK;
}

static void h_create_system(req *r)
{
    const char *id = arg_s(r, "id");
    set_id(r, id);
    r->doc = arg_s(r, "doc");
    sj *doc = sj_parse(r->doc);
    if (!id || !*id) {
        sj_free(doc);
        fail(r, E_INVALIDARG, "no compute system id");
        return;
    }
    if (!doc || doc->type != SJ_OBJ) {
        sj_free(doc);
        fail(r, HCS_E_INVALID_JSON, "the configuration is not a JSON object");
        return;
    }
    if (sys_find(id)) {
        sj_free(doc);
        fail(r, HCS_E_SYSTEM_ALREADY_EXISTS, "a compute system with this id exists");
        return;
    }
    hsys *s = calloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->owner, sizeof s->owner, "%s",
             sj_str(sj_get(doc, "Owner")) ? sj_str(sj_get(doc, "Owner")) : "");
    snprintf(s->state, sizeof s->state, "Created");
    s->term_on_last_close = sj_bool(sj_get(doc, "ShouldTerminateOnLastHandleClosed"), 0);
    s->created = now_100ns();
    s->wait_to_kill_ms = DEFAULT_WAIT_TO_KILL_MS;
    HRESULT hr;
    sj *ctr = sj_get(doc, "Container");
    sj *hosted = sj_path(doc, "HostedSystem", "Container", NULL);
    sj *vm = sj_get(doc, "VirtualMachine");
    const char *hosting = sj_str(sj_get(doc, "HostingSystemId"));
    if (ctr)
        hr = check_container(r, s, ctr, NULL);
    else if (hosted && hosting)
        hr = check_container(r, s, hosted, hosting);
    else if (vm) {
        s->is_vm = 1;
        hr = check_vm(r, s, vm);
    } else {
        snprintf(r->note, sizeof r->note, "neither Container, HostedSystem nor VirtualMachine");
        hr = E_INVALIDARG;
    }
    sj_free(doc);
    if (FAILED(hr)) {
        char note[256];
        snprintf(note, sizeof note, "%s", r->note);
        free(s);
        fail(r, hr, note);
        return;
    }
    s->job = CreateJobObjectA(NULL, NULL);
    s->next = systems;
    systems = s;
    host_handle_add(r->pid, arg_h(r, "h"), "system", s);
}

/* ---- module ---- */

/* A client process ended and its handles are gone: systems nobody holds any more go as
 * HCS lets them go (terminated when they asked for it, forgotten when stopped). */
void hcs_client_gone(DWORD pid)
{
    (void)pid;
    for (hsys *s = systems; s; s = s->next) {
        if (s->removed)
            continue;
        if (host_handles_of(s) == 0 && s->term_on_last_close && strcmp(s->state, "Stopped"))
            terminate_system(s, "ForcedExit");
        maybe_remove(s);
    }
}

void hcs_stats(sb *out)
{
    size_t n_sys = 0, live = 0, vms = 0;
    for (hsys *s = systems; s; s = s->next) {
        if (s->removed)
            continue;
        n_sys++;
        vms += s->is_vm;
        for (proc *p = s->procs; p; p = p->next)
            live += !p->exited;
    }
    sb_addf(out, ",\"systems\":%zu,\"vms\":%zu,\"live_processes\":%zu,\"system_list\":[", n_sys,
            vms, live);
    int first = 1;
    for (hsys *s = systems; s; s = s->next) {
        if (s->removed)
            continue;
        sb_add(out, first ? "{\"id\":" : ",{\"id\":");
        sb_qstr(out, s->id);
        size_t lp = 0;
        for (proc *p = s->procs; p; p = p->next)
            lp += !p->exited;
        sb_addf(out, ",\"state\":\"%s\",\"live\":%zu,\"handles\":%zu}", s->state, lp,
                host_handles_of(s));
        first = 0;
    }
    sb_add(out, "]");
}

const char *hcs_describe(void *obj)
{
    static char buf[400];
    proc *p = obj;
    snprintf(buf, sizeof buf, "%s/%lu %s %s", p->sys->id, (unsigned long)p->pid, p->image,
             p->exited ? "exited" : "running");
    for (char *c = buf; *c; c++)
        if (*c == '\\' || *c == '"')
            *c = '/';
    return buf;
}

void hcs_shutdown_all(void)
{
    for (hsys *s = systems; s; s = s->next)
        if (!s->removed && strcmp(s->state, "Stopped") != 0)
            terminate_system(s, "ForcedExit");
}

/* HcsGrantVmAccess lives in computecore.dll; the grant is storage's record. */
void storage_grant(req *r);

void hcs_register(void)
{
    host_register("HcsCreateComputeSystem", h_create_system);
    host_register("HcsOpenComputeSystem", h_open_system);
    host_register("HcsCloseComputeSystem", h_close_system);
    host_register("HcsStartComputeSystem", h_start_system);
    host_register("HcsShutDownComputeSystem", h_shutdown_system);
    host_register("HcsTerminateComputeSystem", h_terminate_system);
    host_register("HcsPauseComputeSystem", h_pause_system);
    host_register("HcsResumeComputeSystem", h_resume_system);
    host_register("HcsGetComputeSystemProperties", h_properties);
    host_register("HcsModifyComputeSystem", h_modify_system);
    host_register("HcsSetComputeSystemCallback", h_set_system_callback);
    host_register("HcsEnumerateComputeSystems", h_enumerate);
    host_register("HcsCreateProcess", h_create_process);
    host_register("HcsCloseProcess", h_close_process);
    host_register("HcsOpenProcess", h_open_process);
    host_register("HcsTerminateProcess", h_terminate_process);
    host_register("HcsSignalProcess", h_signal_process);
    host_register("HcsModifyProcess", h_modify_process);
    host_register("HcsSetProcessCallback", h_set_process_callback);
    host_register("HcsWaitForProcessExit", h_wait_process);
    host_register("HcsGrantVmAccess", storage_grant);
}
