/* HostProcess containers on the host: a job object per container, no compute system (what
 * hcsshim's internal/jobcontainers does; the pure parts are hcs/hcsdoc_job.c).
 *
 * create: the scratch made and mounted from the image layers (layers_win32.c, as for a
 *         process-isolated container), the volume mounted at the container's mount point
 *         C:\hpc\<id>\ (SetVolumeMountPointW; hcsshim's fallback for hosts without the bind
 *         filter, and the only form here: see README), the job object JobContainer_<id> with
 *         the spec's CPU, memory and I/O limits, our std pipes, and our record.
 * start:  the init process: the user's token (hcsshim logon.go), the user's environment plus
 *         the spec's and CONTAINER_SANDBOX_MOUNT_POINT, the program searched in the working
 *         directory, PATH and the system folders (path.go), created suspended, put into the
 *         job, resumed. Its exit is watched by a thread; the rest of the job is then shut
 *         down (CtrlShutdown, 5 s, terminate), as jobcontainer.go waitBackground does.
 * stop:   a console control event delivered as Windows' console host and hcsshim's
 *         signalProcess do: a thread in the target at kernel32!CtrlRoutine; SIGKILL
 *         terminates the job.
 * adopt:  after a restart, the job object is reopened by name and the init process by its
 *         pid (checked to be in the job). Deliberate difference: the job is not
 *         KILL_ON_JOB_CLOSE (hcsshim sets it), so the containers outlive wincrid as compute
 *         systems do (ShouldTerminateOnLastHandleClosed false, hcsdoc.h). */
#include "hcs/runtime_win32.h"

#include <fcntl.h>
#include <io.h>
#include <psapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tlhelp32.h>
#include <userenv.h>
#include <wchar.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "common/wstr_win32.h"
#include "hcs/hcsjob.h"

#define JOB_MAX_PIDS 256
#define JOB_SHUTDOWN_MS 5000 /* jobcontainer.go Shutdown: 5 s, then terminate */
#define JOB_EXEC_DRAIN_MS 2000

struct hcs_job {
    HANDLE job;
    char *mount_point; /* C:\hpc\<id>\ */
    char *volume;      /* \\?\Volume{GUID}\ of the mounted scratch */
    int mounted_at;    /* the volume is mounted at mount_point */
    hcs_job_limits limits;
    HANDLE token; /* the processes' primary token; NULL: wincrid's own */
    int token_made;
    char account[32]; /* the local account made in a group ("" when none) */
    SRWLOCK mu;
    DWORD pids[JOB_MAX_PIDS]; /* every process started into the job */
    size_t n_pids;
    HANDLE init_h;
    HANDLE waiter;
    HANDLE stop_ev; /* set when wincrid lets go of the container: the waiter leaves it be */
};

static wc_err *win_err(wc_err *err, wc_code code, DWORD e, const char *what, const char *id)
{
    wc_err_set(err, code, "HostProcess container %s: %s (Win32 error %lu)", id, what,
               (unsigned long)e);
    return err;
}

static int fail_win(wc_err *err, wc_code code, const char *what, const char *id)
{
    win_err(err, code, GetLastError(), what, id);
    return -1;
}

/* ---- our record ----------------------------------------------------------------------- */

static char *record_path(hcs_runtime *rt, const char *id)
{
    char name[170];
    snprintf(name, sizeof name, "%s.job.json", id);
    return wc_path_join(rt->state_dir, name);
}

static void write_record(hcs_ctr *c)
{
    hcs_job *j = c->job;
    char *path = record_path(c->rt, c->id);
    json_t *rec =
        json_pack("{s:s?,s:O,s:I,s:s?,s:s?,s:b,s:s}", "scratch", c->scratch, "spec", c->spec, "pid",
                  (json_int_t)c->pid, "mount_point", j->mount_point, "volume", j->volume,
                  "mounted_at", j->mounted_at, "account", j->account);
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    wc_err err = {0};
    if (!text || wc_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        wc_warn("hcs", "cannot record HostProcess container", "id=%s err=\"%s\"", c->id, err.msg);
    free(text);
    json_decref(rec);
    free(path);
}

static json_t *read_record(hcs_runtime *rt, const char *id)
{
    char *path = record_path(rt, id);
    json_t *rec = json_load_file(path, 0, NULL);
    free(path);
    return rec;
}

static void remove_record(hcs_ctr *c)
{
    char *path = record_path(c->rt, c->id);
    DeleteFileA(path);
    free(path);
}

/* ---- the job object ------------------------------------------------------------------- */

static HANDLE job_handle(const char *id, int create, DWORD *e)
{
    wchar_t name[200];
    swprintf(name, sizeof name / sizeof name[0], L"%hs%hs", HCS_JOB_NAME_PREFIX, id);
    HANDLE h =
        create ? CreateJobObjectW(NULL, name) : OpenJobObjectW(JOB_OBJECT_ALL_ACCESS, FALSE, name);
    *e = GetLastError();
    if (h && create && *e == ERROR_ALREADY_EXISTS) {
        CloseHandle(h);
        return NULL;
    }
    return h;
}

typedef BOOL(WINAPI *set_io_rate_fn)(HANDLE, void *);

/* internal/jobobject limits.go SetResourceLimits: memory on the extended limits, a hard cap
 * or a weight on CPU rate control, I/O rate control. */
static int apply_limits(HANDLE job, const hcs_job_limits *l, const char *id, wc_err *err)
{
    if (l->memory_bytes) {
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION x = {0};
        if (!QueryInformationJobObject(job, JobObjectExtendedLimitInformation, &x, sizeof x, NULL))
            return fail_win(err, WC_INTERNAL, "cannot read the job's limits", id);
        x.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_JOB_MEMORY;
        x.JobMemoryLimit = (SIZE_T)l->memory_bytes;
        if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &x, sizeof x))
            return fail_win(err, WC_INTERNAL, "cannot set the job's memory limit", id);
    }
    if (l->cpu_rate || l->cpu_weight) {
        JOBOBJECT_CPU_RATE_CONTROL_INFORMATION r = {0};
        r.ControlFlags = JOB_OBJECT_CPU_RATE_CONTROL_ENABLE |
                         (l->cpu_rate ? JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP
                                      : JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED);
        if (l->cpu_rate)
            r.CpuRate = l->cpu_rate;
        else
            r.Weight = l->cpu_weight;
        if (!SetInformationJobObject(job, JobObjectCpuRateControlInformation, &r, sizeof r)) {
            DWORD e = GetLastError();
            return wc_err_set(err, WC_FAILED_PRECONDITION,
                              "HostProcess container %s: the host refused the job's CPU %s of "
                              "%lu (SetInformationJobObject JobObjectCpuRateControlInformation, "
                              "Win32 error %lu)",
                              id, l->cpu_rate ? "rate" : "weight",
                              (unsigned long)(l->cpu_rate ? l->cpu_rate : l->cpu_weight),
                              (unsigned long)e);
        }
    }
    if (l->max_bandwidth || l->max_iops) {
        set_io_rate_fn set_io = (set_io_rate_fn)(void *)GetProcAddress(
            GetModuleHandleA("kernel32.dll"), "SetIoRateControlInformationJobObject");
        if (!set_io)
            return wc_err_set(err, WC_FAILED_PRECONDITION,
                              "HostProcess container %s: storage limits need "
                              "SetIoRateControlInformationJobObject, which this host lacks",
                              id);
        struct {
            LONG64 max_iops, max_bandwidth, reservation_iops;
            PCWSTR volume_name;
            DWORD base_io_size, control_flags;
        } io = {(LONG64)l->max_iops, (LONG64)l->max_bandwidth, 0, NULL, 0, 1 /* ENABLE */};
        if (!set_io(job, &io))
            return fail_win(err, WC_INTERNAL, "cannot set the job's storage limits", id);
    }
    return 0;
}

/* The processes of the job: what the job lists, else those we started that still run (wine
 * 8 lists no processes in a job it was given with CreateProcessAsUser; see README). */
static size_t job_pids(hcs_job *j, DWORD *out, size_t max)
{
    struct {
        JOBOBJECT_BASIC_PROCESS_ID_LIST l;
        ULONG_PTR more[JOB_MAX_PIDS];
    } list = {0};
    size_t n = 0;
    if (QueryInformationJobObject(j->job, JobObjectBasicProcessIdList, &list, sizeof list, NULL))
        for (DWORD i = 0; i < list.l.NumberOfProcessIdsInList && n < max; i++)
            out[n++] = (DWORD)list.l.ProcessIdList[i];
    if (n)
        return n;
    AcquireSRWLockShared(&j->mu);
    for (size_t i = 0; i < j->n_pids && n < max; i++) {
        HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, j->pids[i]);
        if (h && WaitForSingleObject(h, 0) == WAIT_TIMEOUT)
            out[n++] = j->pids[i];
        if (h)
            CloseHandle(h);
    }
    ReleaseSRWLockShared(&j->mu);
    return n;
}

static void remember_pid(hcs_job *j, DWORD pid)
{
    AcquireSRWLockExclusive(&j->mu);
    if (j->n_pids < JOB_MAX_PIDS)
        j->pids[j->n_pids++] = pid;
    ReleaseSRWLockExclusive(&j->mu);
}

/* ---- console control events ----------------------------------------------------------- */

static int ctrl_event_of(hcs_signal s)
{
    switch (s) {
    case HCS_SIGNAL_CTRL_C:
        return CTRL_C_EVENT;
    case HCS_SIGNAL_CTRL_BREAK:
        return CTRL_BREAK_EVENT;
    case HCS_SIGNAL_CTRL_CLOSE:
        return CTRL_CLOSE_EVENT;
    case HCS_SIGNAL_CTRL_LOGOFF:
        return CTRL_LOGOFF_EVENT;
    default:
        return CTRL_SHUTDOWN_EVENT;
    }
}

/* hcsshim process.go signalProcess: a thread started in the process at CtrlRoutine. */
static int signal_pid(DWORD pid, int ev)
{
    FARPROC f = GetProcAddress(GetModuleHandleA("kernel32.dll"), "CtrlRoutine");
    if (!f)
        f = GetProcAddress(GetModuleHandleA("kernelbase.dll"), "CtrlRoutine");
    if (!f) {
        SetLastError(ERROR_PROC_NOT_FOUND);
        return -1;
    }
    HANDLE h = OpenProcess(PROCESS_CREATE_THREAD | PROCESS_QUERY_INFORMATION |
                               PROCESS_VM_OPERATION | PROCESS_VM_WRITE | PROCESS_VM_READ,
                           FALSE, pid);
    if (!h)
        return -1;
    HANDLE t = CreateRemoteThread(h, NULL, 0, (LPTHREAD_START_ROUTINE)(void *)f,
                                  (void *)(ULONG_PTR)ev, 0, NULL);
    DWORD e = GetLastError();
    CloseHandle(h);
    if (!t) {
        SetLastError(e);
        return -1;
    }
    CloseHandle(t);
    return 0;
}

/* jobcontainer.go shutdown: CtrlShutdown to every process, a grace, then the job ends. */
static void shutdown_job(hcs_job *j, DWORD grace_ms)
{
    DWORD pids[JOB_MAX_PIDS];
    size_t n = job_pids(j, pids, JOB_MAX_PIDS);
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        signal_pid(pids[i], CTRL_SHUTDOWN_EVENT);
    for (DWORD waited = 0; waited < grace_ms; waited += 100) {
        if (job_pids(j, pids, JOB_MAX_PIDS) == 0)
            return;
        Sleep(100);
    }
    TerminateJobObject(j->job, 1);
}

/* ---- exits ---------------------------------------------------------------------------- */

/* The init process ended (or was never seen again after a restart: 255): the rest of the
 * job is shut down, then the exit is reported. */
static DWORD WINAPI waiter_main(void *arg)
{
    hcs_ctr *c = arg;
    DWORD code = 255;
    if (c->job->init_h) {
        HANDLE hs[2] = {c->job->init_h, c->job->stop_ev};
        if (WaitForMultipleObjects(2, hs, FALSE, INFINITE) != WAIT_OBJECT_0)
            return 0; /* wincrid stops (or lets go): the container runs on */
        if (!GetExitCodeProcess(c->job->init_h, &code))
            code = 255;
    }
    shutdown_job(c->job, JOB_SHUTDOWN_MS);
    hcs_ctr_report_exit(c, (int)code);
    return 0;
}

static void start_waiter(hcs_ctr *c)
{
    c->job->waiter = CreateThread(NULL, 0, waiter_main, c, 0, NULL);
    if (!c->job->waiter)
        wc_warn("hcs", "cannot watch a HostProcess container", "id=%s error=%lu", c->id,
                (unsigned long)GetLastError());
}

/* ---- the user ------------------------------------------------------------------------- */

typedef DWORD(WINAPI *net_group_info_fn)(LPCWSTR, LPCWSTR, DWORD, LPBYTE *);
typedef DWORD(WINAPI *net_user_add_fn)(LPCWSTR, DWORD, LPBYTE, LPDWORD);
typedef DWORD(WINAPI *net_user_del_fn)(LPCWSTR, LPCWSTR);
typedef DWORD(WINAPI *net_group_add_fn)(LPCWSTR, LPCWSTR, DWORD, LPBYTE, DWORD);
typedef DWORD(WINAPI *net_free_fn)(LPVOID);

static FARPROC netapi(const char *name)
{
    HMODULE m = LoadLibraryExA("netapi32.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
    return m ? GetProcAddress(m, name) : NULL;
}

/* logon.go groupExists: NetLocalGroupGetInfo level 1. */
static int group_exists(const wchar_t *name)
{
    net_group_info_fn info = (net_group_info_fn)(void *)netapi("NetLocalGroupGetInfo");
    net_free_fn nfree = (net_free_fn)(void *)netapi("NetApiBufferFree");
    LPBYTE buf = NULL;
    if (!info || info(NULL, name, 1, &buf) != 0)
        return 0;
    if (nfree && buf)
        nfree(buf);
    return 1;
}

typedef struct {
    LPWSTR name, password;
    DWORD password_age, priv;
    LPWSTR home_dir, comment;
    DWORD flags;
    LPWSTR script_path;
} user_info_1;

/* logon.go randomPswd: a GUID (with what password rules ask for). */
static int random_password(wchar_t *pw, size_t len)
{
    GUID g;
    if (UuidCreate(&g) != 0)
        return -1;
    swprintf(pw, len, L"%08lx-%04x-%04x-%02x%02x%02x%02x%02x%02x%02x%02x!Aa1",
             (unsigned long)g.Data1, g.Data2, g.Data3, g.Data4[0], g.Data4[1], g.Data4[2],
             g.Data4[3], g.Data4[4], g.Data4[5], g.Data4[6], g.Data4[7]);
    return 0;
}

typedef DWORD(WINAPI *net_user_set_fn)(LPCWSTR, LPCWSTR, DWORD, LPBYTE, LPDWORD);

/* The account made before a restart of wincrid is the container's still (its record names
 * it), but its password is gone: a new one (NetUserSetInfo level 1003) lets an exec log on.
 * Making it again would fail and lose it (it would then outlive the container). */
static int reuse_account(hcs_ctr *c, wchar_t *pw, size_t pw_len, wc_err *err)
{
    net_user_set_fn set = (net_user_set_fn)(void *)netapi("NetUserSetInfo");
    if (!set)
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "HostProcess container %s: netapi32 lacks NetUserSetInfo", c->id);
    if (random_password(pw, pw_len) < 0)
        return wc_err_set(err, WC_INTERNAL, "HostProcess container %s: no random password", c->id);
    wchar_t user[32];
    swprintf(user, 32, L"%hs", c->job->account);
    LPWSTR info_1003 = pw; /* USER_INFO_1003: the password alone */
    DWORD rc = set(NULL, user, 1003, (LPBYTE)&info_1003, NULL);
    if (rc != 0) {
        win_err(err, WC_INTERNAL, rc, "cannot set a new password on its local account", c->id);
        return -1;
    }
    return 0;
}

/* logon.go makeLocalAccount: a user named after the container with a random password, added
 * to the group. */
static int make_account(hcs_ctr *c, const wchar_t *group, wchar_t *pw, size_t pw_len, wc_err *err)
{
    net_user_add_fn add = (net_user_add_fn)(void *)netapi("NetUserAdd");
    net_user_del_fn del = (net_user_del_fn)(void *)netapi("NetUserDel");
    net_group_add_fn join = (net_group_add_fn)(void *)netapi("NetLocalGroupAddMembers");
    if (!add || !del || !join)
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "HostProcess container %s: netapi32 lacks the local account calls",
                          c->id);
    if (random_password(pw, pw_len) < 0)
        return wc_err_set(err, WC_INTERNAL, "HostProcess container %s: no random password", c->id);
    hcs_job_local_account(c->id, c->job->account, sizeof c->job->account);
    wchar_t user[32];
    swprintf(user, 32, L"%hs", c->job->account);
    user_info_1 u = {.name = user,
                     .password = pw,
                     .priv = 1 /* USER_PRIV_USER */,
                     .flags = 0x0200 | 0x10000 /* UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD */};
    DWORD rc = add(NULL, 1, (LPBYTE)&u, NULL);
    if (rc != 0) {
        c->job->account[0] = '\0';
        win_err(err, WC_INTERNAL, rc, "cannot create its local account", c->id);
        return -1;
    }
    BYTE sid[SECURITY_MAX_SID_SIZE];
    DWORD sid_len = sizeof sid, dom_len = 256;
    wchar_t dom[256];
    SID_NAME_USE use;
    LPBYTE member = (LPBYTE)sid;
    if (!LookupAccountNameW(NULL, user, sid, &sid_len, dom, &dom_len, &use) ||
        (rc = join(NULL, group, 0, (LPBYTE)&member, 1)) != 0) {
        DWORD e = rc ? rc : GetLastError();
        del(NULL, user);
        c->job->account[0] = '\0';
        win_err(err, WC_INTERNAL, e, "cannot add its local account to the group", c->id);
        return -1;
    }
    write_record(c);
    return 0;
}

static void delete_account(hcs_ctr *c)
{
    if (!c->job->account[0])
        return;
    net_user_del_fn del = (net_user_del_fn)(void *)netapi("NetUserDel");
    wchar_t user[32];
    swprintf(user, 32, L"%hs", c->job->account);
    DWORD rc = del ? del(NULL, user) : ERROR_PROC_NOT_FOUND;
    if (rc != 0)
        wc_warn("hcs", "cannot delete a HostProcess container's account",
                "id=%s account=%s error=%lu", c->id, c->job->account, (unsigned long)rc);
    c->job->account[0] = '\0';
}

/* A token LogonUser made must be a real one: wine 8's LogonUserW succeeds with a made-up
 * handle that no token call accepts. */
static int check_token(HANDLE tok, const char *who, const char *id, wc_err *err)
{
    BYTE buf[256];
    DWORD n = 0;
    if (!GetTokenInformation(tok, TokenUser, buf, sizeof buf, &n))
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "HostProcess container %s: LogonUserW(%s) gave a handle that is not a "
                          "token (GetTokenInformation: Win32 error %lu)",
                          id, who, (unsigned long)GetLastError());
    return 0;
}

static int is_local_system(HANDLE tok)
{
    BYTE buf[256];
    DWORD n = 0;
    if (!GetTokenInformation(tok, TokenUser, buf, sizeof buf, &n))
        return 0;
    return IsWellKnownSid(((TOKEN_USER *)buf)->User.Sid, WinLocalSystemSid);
}

/* logon.go processToken. NULL token: the process runs with wincrid's own (the inherit-user
 * annotation, or SYSTEM when wincrid is the LocalSystem service). */
static int make_token(hcs_ctr *c, wc_err *err)
{
    hcs_job *j = c->job;
    if (j->token_made)
        return 0;
    hcs_job_user u;
    if (hcs_job_user_of(c->spec, &u, err) < 0)
        return wc_err_prefix(err, "container %s", c->id);
    HANDLE self = NULL, tok = NULL;
    if (u.kind == HCS_JOB_USER_SYSTEM &&
        OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &self)) {
        int system = is_local_system(self);
        CloseHandle(self);
        if (system)
            u.kind = HCS_JOB_USER_INHERIT;
    }
    if (u.kind == HCS_JOB_USER_INHERIT) {
        j->token_made = 1;
        return 0;
    }
    wchar_t *name = wc_utf8_to_utf16(u.logon, err); /* as written, as hcsshim passes it */
    wchar_t *domain = *u.domain ? wc_utf8_to_utf16(u.domain, err) : NULL;
    wchar_t pw[80] = L"";
    char who[300];
    snprintf(who, sizeof who, "%s%s%s", u.domain, *u.domain ? "\\" : "", u.name);
    int rc = name && (!*u.domain || domain) ? 0 : -1;
    DWORD logon = LOGON32_LOGON_INTERACTIVE;
    if (rc == 0 && u.kind == HCS_JOB_USER_ACCOUNT && !*u.domain && group_exists(name)) {
        rc = j->account[0] ? reuse_account(c, pw, sizeof pw / sizeof pw[0], err)
                           : make_account(c, name, pw, sizeof pw / sizeof pw[0], err);
        free(name);
        name = NULL;
        if (rc == 0) {
            name = wc_xmalloc(32 * sizeof *name);
            swprintf(name, 32, L"%hs", j->account);
        }
        snprintf(who, sizeof who, "%s (made in group %s)", j->account, u.name);
    } else if (u.kind == HCS_JOB_USER_SERVICE || u.kind == HCS_JOB_USER_SYSTEM) {
        logon = LOGON32_LOGON_SERVICE;
    }
    if (rc == 0 &&
        !LogonUserW(name, domain, *pw ? pw : NULL, logon, LOGON32_PROVIDER_DEFAULT, &tok))
        rc = wc_err_set(err, WC_FAILED_PRECONDITION,
                        "HostProcess container %s: cannot log on as %s (LogonUserW: Win32 error "
                        "%lu)",
                        c->id, who, (unsigned long)GetLastError());
    if (rc == 0)
        rc = check_token(tok, who, c->id, err);
    SecureZeroMemory(pw, sizeof pw);
    free(name);
    free(domain);
    if (rc < 0) {
        if (tok && tok != INVALID_HANDLE_VALUE && (ULONG_PTR)tok != 0xdeadbeef)
            CloseHandle(tok);
        return -1;
    }
    j->token = tok;
    j->token_made = 1;
    return 0;
}

/* ---- the environment ------------------------------------------------------------------ */

typedef struct envv {
    wchar_t **v;
    size_t n;
} envv;

static size_t env_key_len(const wchar_t *kv)
{
    const wchar_t *eq = wcschr(kv[0] == L'=' ? kv + 1 : kv, L'=');
    return eq ? (size_t)(eq - kv) : wcslen(kv);
}

/* Sets (replaces case-insensitively, or appends) KEY=VALUE, taking kv. */
static void env_put(envv *e, wchar_t *kv)
{
    size_t k = env_key_len(kv);
    for (size_t i = 0; i < e->n; i++)
        if (env_key_len(e->v[i]) == k && _wcsnicmp(e->v[i], kv, k) == 0) {
            free(e->v[i]);
            e->v[i] = kv;
            return;
        }
    e->v = wc_xrealloc(e->v, (e->n + 1) * sizeof *e->v);
    e->v[e->n++] = kv;
}

static wchar_t *env_get(const envv *e, const wchar_t *key)
{
    size_t k = wcslen(key);
    for (size_t i = 0; i < e->n; i++)
        if (env_key_len(e->v[i]) == k && _wcsnicmp(e->v[i], key, k) == 0)
            return e->v[i] + k + 1;
    return NULL;
}

static void env_free(envv *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
    e->v = NULL;
    e->n = 0;
}

static wchar_t *wjoin3(const wchar_t *a, const wchar_t *b, const wchar_t *c)
{
    size_t n = wcslen(a) + wcslen(b) + wcslen(c) + 1;
    wchar_t *s = wc_xmalloc(n * sizeof *s);
    swprintf(s, n, L"%ls%ls%ls", a, b, c);
    return s;
}

/* A copy of the first n characters of s. */
static wchar_t *wdupn(const wchar_t *s, size_t n)
{
    wchar_t *d = wc_xmalloc((n + 1) * sizeof *d);
    memcpy(d, s, n * sizeof *d);
    d[n] = L'\0';
    return d;
}

static wchar_t *wdup(const wchar_t *s)
{
    return wdupn(s, wcslen(s));
}

/* jobcontainer.go CreateProcess: the user's default environment (env.go defaultEnvBlock),
 * the process's variables with the mount point expanded, CONTAINER_SANDBOX_MOUNT_POINT, and
 * the mount point added to PATH. */
static int build_env(hcs_ctr *c, const json_t *vars, envv *e, wc_err *err)
{
    HANDLE tok = c->job->token, own = NULL;
    if (!tok && OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY | TOKEN_DUPLICATE, &own))
        tok = own;
    void *block = NULL;
    if (!CreateEnvironmentBlock(&block, tok, FALSE)) {
        if (own)
            CloseHandle(own);
        return fail_win(err, WC_INTERNAL, "cannot make the user's environment", c->id);
    }
    if (own)
        CloseHandle(own);
    for (const wchar_t *p = block; *p; p += wcslen(p) + 1)
        env_put(e, wdup(p));
    DestroyEnvironmentBlock(block);
    const char *mp = c->job->mount_point;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)vars, k, v)
    {
        char *val = hcs_job_expand(json_string_value(v) ? json_string_value(v) : "", mp, NULL);
        char *kv = wc_xasprintf("%s=%s", k, val);
        wchar_t *w = wc_utf8_to_utf16(kv, NULL);
        free(kv);
        free(val);
        if (!w)
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "HostProcess container %s: environment variable %s is not valid",
                              c->id, k);
        env_put(e, w);
    }
    wchar_t *wmp = wc_utf8_to_utf16(mp, err);
    if (!wmp)
        return -1;
    env_put(e, wjoin3(L"" HCS_JOB_MOUNT_ENV, L"=", wmp));
    const wchar_t *path = env_get(e, L"PATH");
    if (path) {
        size_t n = wcslen(path);
        wchar_t *p = wjoin3(path, n && path[n - 1] == L';' ? L"" : L";", wmp);
        env_put(e, wjoin3(L"PATH=", p, L""));
        free(p);
    }
    free(wmp);
    return 0;
}

/* A sorted, double-NUL-terminated block, as CreateProcess wants it. */
static int cmp_env(const void *a, const void *b)
{
    return _wcsicmp(*(wchar_t *const *)a, *(wchar_t *const *)b);
}

static wchar_t *env_block(envv *e)
{
    qsort(e->v, e->n, sizeof *e->v, cmp_env);
    size_t len = 1;
    for (size_t i = 0; i < e->n; i++)
        len += wcslen(e->v[i]) + 1;
    wchar_t *b = wc_xmalloc(len * sizeof *b), *p = b;
    for (size_t i = 0; i < e->n; i++) {
        size_t n = wcslen(e->v[i]) + 1;
        memcpy(p, e->v[i], n * sizeof *p);
        p += n;
    }
    *p = L'\0';
    return b;
}

/* ---- finding the program (path.go getApplicationName) ---------------------------------- */

static int search_exe(const wchar_t *name, const wchar_t *paths, wchar_t *out, DWORD len)
{
    DWORD n = SearchPathW(paths, name, L".exe", len, out, NULL);
    if (n == 0 || n >= len)
        return -1;
    DWORD a = GetFileAttributesW(out);
    return a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY) ? 0 : -1;
}

/* The working directory, PATH and the system folders are searched; an unquoted name is
 * tried word by word ("a b c": a.exe, "a b".exe ...) and quoted when found with spaces. */
static int find_program(const wchar_t *cmd, const wchar_t *workdir, const wchar_t *path,
                        wchar_t *app, wchar_t **cmd_out)
{
    wchar_t sys[MAX_PATH], win[MAX_PATH];
    GetSystemDirectoryW(sys, MAX_PATH);
    GetWindowsDirectoryW(win, MAX_PATH);
    size_t n = wcslen(workdir) + (path ? wcslen(path) : 0) + 3 * MAX_PATH + 16;
    wchar_t *paths = wc_xmalloc(n * sizeof *paths);
    swprintf(paths, n, L"%ls;%ls%ls%ls;%ls\\System;%ls", workdir, path ? path : L"",
             path ? L";" : L"", sys, win, win);
    int rc = -1;
    *cmd_out = NULL;
    if (cmd[0] == L'"') {
        const wchar_t *end = wcschr(cmd + 1, L'"');
        if (end) {
            wchar_t *name = wdupn(cmd + 1, (size_t)(end - cmd - 1));
            rc = search_exe(name, paths, app, MAX_PATH);
            free(name);
            if (rc == 0)
                *cmd_out = wdup(cmd);
        }
        free(paths);
        return rc;
    }
    size_t len = wcslen(cmd);
    for (size_t i = 0; i <= len && rc < 0; i++) {
        if (i < len && cmd[i] != L' ')
            continue;
        wchar_t *name = wdupn(cmd, i);
        if (i > 0 && search_exe(name, paths, app, MAX_PATH) == 0) {
            rc = 0;
            if (wcschr(name, L' ')) {
                wchar_t *quoted = wjoin3(L"\"", name, L"\"");
                *cmd_out = wjoin3(quoted, cmd + i, L"");
                free(quoted);
            } else {
                *cmd_out = wdup(cmd);
            }
        }
        free(name);
    }
    free(paths);
    return rc;
}

/* ---- processes ------------------------------------------------------------------------ */

typedef struct job_proc_io {
    int in, out, err, merge_err; /* pipes wanted; merge_err: stderr goes to stdout's pipe */
} job_proc_io;

static void close_all(HANDLE *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hcs_handle_close(&h[i]);
}

/* Our ends (std: stdin writer, stdout and stderr readers) and the child's, inheritable. */
static int make_pipes(const job_proc_io *io, HANDLE std[3], HANDLE child[3])
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    std[0] = std[1] = std[2] = child[0] = child[1] = child[2] = NULL;
    int ok = 1;
    if (io->in && (ok = CreatePipe(&child[0], &std[0], &sa, 0)))
        SetHandleInformation(std[0], HANDLE_FLAG_INHERIT, 0);
    if (ok && io->out && (ok = CreatePipe(&std[1], &child[1], &sa, 0)))
        SetHandleInformation(std[1], HANDLE_FLAG_INHERIT, 0);
    if (ok && io->err && !io->merge_err && (ok = CreatePipe(&std[2], &child[2], &sa, 0)))
        SetHandleInformation(std[2], HANDLE_FLAG_INHERIT, 0);
    if (ok && io->merge_err && child[1])
        ok = DuplicateHandle(GetCurrentProcess(), child[1], GetCurrentProcess(), &child[2], 0, TRUE,
                             DUPLICATE_SAME_ACCESS);
    if (!ok) {
        close_all(std, 3);
        close_all(child, 3);
    }
    return ok ? 0 : -1;
}

typedef struct spawn_args {
    wchar_t *app, *cmd, *dir, *env;
} spawn_args;

static void spawn_args_free(spawn_args *a)
{
    free(a->app);
    free(a->cmd);
    free(a->dir);
    free(a->env);
}

/* From the OCI process: the command line, working directory and environment as
 * CreateProcess takes them. */
static int spawn_args_of(hcs_ctr *c, const json_t *process, spawn_args *a, wc_err *err)
{
    memset(a, 0, sizeof *a);
    hcs_process_io pio = {0};
    json_t *params = NULL;
    if (hcs_doc_process(process, &pio, &params, err) < 0)
        return wc_err_prefix(err, "container %s", c->id);
    const char *mp = c->job->mount_point;
    char *dir =
        hcs_job_working_dir(json_string_value(json_object_get(params, "WorkingDirectory")), mp);
    const char *cl = json_string_value(json_object_get(params, "CommandLine"));
    char *cmd = hcs_job_expand(cl ? cl : "", mp, NULL);
    envv e = {0};
    int rc = build_env(c, json_object_get(params, "Environment"), &e, err);
    json_decref(params);
    a->dir = rc == 0 ? wc_utf8_to_utf16(dir, err) : NULL;
    wchar_t *wcmd = a->dir ? wc_utf8_to_utf16(cmd, err) : NULL;
    if (rc == 0 && (!a->dir || !wcmd))
        rc = -1;
    if (rc == 0) {
        /* jobcontainer.go: the working directory is made if it is not there */
        wc_mkdir_p(dir, 0700, err);
        wc_err_clear(err);
        a->app = wc_xmalloc(MAX_PATH * sizeof *a->app);
        if (find_program(wcmd, a->dir, env_get(&e, L"PATH"), a->app, &a->cmd) < 0)
            rc = wc_err_set(err, WC_NOT_FOUND,
                            "HostProcess container %s: cannot find the program of \"%s\" in %s, "
                            "PATH or the system folders",
                            c->id, cmd, dir);
    }
    if (rc == 0)
        a->env = env_block(&e);
    env_free(&e);
    free(wcmd);
    free(dir);
    free(cmd);
    if (rc < 0)
        spawn_args_free(a);
    return rc;
}

/* Starts a process of the container in its job: created suspended, put into the job, then
 * resumed, so nothing it starts escapes the job. *proc is its handle; std our pipe ends. */
static int job_spawn(hcs_ctr *c, const json_t *process, const job_proc_io *io, HANDLE *proc,
                     DWORD *pid, HANDLE std[3], wc_err *err)
{
    *proc = NULL;
    std[0] = std[1] = std[2] = NULL;
    spawn_args a;
    if (make_token(c, err) < 0 || spawn_args_of(c, process, &a, err) < 0)
        return -1;
    HANDLE child[3];
    if (make_pipes(io, std, child) < 0) {
        spawn_args_free(&a);
        return fail_win(err, WC_INTERNAL, "cannot create std pipes", c->id);
    }
    HANDLE inherit[3];
    DWORD n_inherit = 0;
    for (int i = 0; i < 3; i++)
        if (child[i] && (i != 2 || child[2] != child[1]))
            inherit[n_inherit++] = child[i];
    SIZE_T attr_size = 0;
    InitializeProcThreadAttributeList(NULL, 1, 0, &attr_size);
    LPPROC_THREAD_ATTRIBUTE_LIST attrs = wc_xmalloc(attr_size);
    STARTUPINFOEXW si = {0};
    si.StartupInfo.cb = sizeof si;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = child[0];
    si.StartupInfo.hStdOutput = child[1];
    si.StartupInfo.hStdError = child[2];
    int have_attrs = n_inherit && InitializeProcThreadAttributeList(attrs, 1, 0, &attr_size) &&
                     UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherit,
                                               n_inherit * sizeof inherit[0], NULL, NULL);
    if (have_attrs)
        si.lpAttributeList = attrs;
    DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | CREATE_NO_WINDOW |
                  (have_attrs ? EXTENDED_STARTUPINFO_PRESENT : 0);
    PROCESS_INFORMATION pi = {0};
    BOOL ok = c->job->token
                  ? CreateProcessAsUserW(c->job->token, a.app, a.cmd, NULL, NULL, n_inherit > 0,
                                         flags, a.env, a.dir, &si.StartupInfo, &pi)
                  : CreateProcessW(a.app, a.cmd, NULL, NULL, n_inherit > 0, flags, a.env, a.dir,
                                   &si.StartupInfo, &pi);
    DWORD e = GetLastError();
    if (have_attrs)
        DeleteProcThreadAttributeList(attrs);
    free(attrs);
    if (child[2] == child[1])
        child[2] = NULL;
    close_all(child, 3);
    int rc = 0;
    if (!ok) {
        char *cmd8 = wc_utf16_to_utf8(a.cmd ? a.cmd : L"", NULL);
        rc = wc_err_set(err, e == ERROR_FILE_NOT_FOUND ? WC_NOT_FOUND : WC_INTERNAL,
                        "HostProcess container %s: cannot start \"%s\" (Win32 error %lu)", c->id,
                        cmd8 ? cmd8 : "?", (unsigned long)e);
        free(cmd8);
    } else if (!AssignProcessToJobObject(c->job->job, pi.hProcess)) {
        rc = fail_win(err, WC_INTERNAL, "cannot put its process into the job", c->id);
        TerminateProcess(pi.hProcess, 1);
    }
    spawn_args_free(&a);
    if (rc < 0) {
        if (ok) {
            CloseHandle(pi.hThread);
            CloseHandle(pi.hProcess);
        }
        close_all(std, 3);
        return -1;
    }
    remember_pid(c->job, pi.dwProcessId);
    ResumeThread(pi.hThread);
    CloseHandle(pi.hThread);
    *proc = pi.hProcess;
    *pid = pi.dwProcessId;
    return 0;
}

/* ---- the mount point ------------------------------------------------------------------ */

/* Every folder of path (a Windows path with a drive letter). */
static int make_folders(const char *path, const char *id, wc_err *err)
{
    char buf[MAX_PATH];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 3;; p++) {
        if (*p == '\\' || *p == '\0') {
            char keep = *p;
            *p = '\0';
            if (!CreateDirectoryA(buf, NULL) && GetLastError() != ERROR_ALREADY_EXISTS)
                return fail_win(err, WC_INTERNAL, "cannot make its mount point folder", id);
            *p = keep;
            if (!keep || !p[1])
                break;
        }
    }
    return 0;
}

/* layers.MountSandboxVolume: the folder, then SetVolumeMountPointW. */
static int mount_at(hcs_ctr *c, wc_err *err)
{
    hcs_job *j = c->job;
    if (make_folders(j->mount_point, c->id, err) < 0)
        return -1;
    wchar_t *mp = wc_utf8_to_utf16(j->mount_point, err);
    wchar_t *vol = mp ? wc_utf8_to_utf16(j->volume, err) : NULL;
    int rc = vol ? 0 : -1;
    if (rc == 0 && !SetVolumeMountPointW(mp, vol)) {
        DWORD e = GetLastError();
        rc = wc_err_set(err, WC_FAILED_PRECONDITION,
                        "HostProcess container %s: cannot mount its layers (%s) at %s "
                        "(SetVolumeMountPointW: Win32 error %lu)",
                        c->id, j->volume, j->mount_point, (unsigned long)e);
        RemoveDirectoryW(mp);
    }
    free(mp);
    free(vol);
    if (rc == 0)
        j->mounted_at = 1;
    return rc;
}

/* layers.RemoveSandboxMountPoint: DeleteVolumeMountPointW, then the folder. */
static void unmount_at(hcs_ctr *c)
{
    hcs_job *j = c->job;
    if (!j->mount_point)
        return;
    wchar_t *mp = wc_utf8_to_utf16(j->mount_point, NULL);
    if (mp && j->mounted_at && !DeleteVolumeMountPointW(mp))
        wc_warn("hcs", "cannot unmount a HostProcess container's layers", "id=%s at=%s error=%lu",
                c->id, j->mount_point, (unsigned long)GetLastError());
    j->mounted_at = 0;
    if (mp)
        RemoveDirectoryW(mp);
    free(mp);
}

/* The file's identity: volume and file index (FILE_FLAG_BACKUP_SEMANTICS opens folders). */
static int file_id(const wchar_t *path, BY_HANDLE_FILE_INFORMATION *out)
{
    HANDLE h = CreateFileW(path, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return -1;
    BOOL ok = GetFileInformationByHandle(h, out);
    CloseHandle(h);
    return ok ? 0 : -1;
}

/* Whether the link is there and leads to the source: opened through the link (which follows
 * it) the source's own file. A source that does not exist cannot be compared; the link must
 * then at least exist (a dangling link is a reparse point with attributes of its own). */
static int link_leads_to(const wchar_t *link, const wchar_t *src)
{
    BY_HANDLE_FILE_INFORMATION a, b;
    if (file_id(src, &b) < 0) {
        DWORD attrs = GetFileAttributesW(link);
        return attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_REPARSE_POINT);
    }
    return file_id(link, &a) == 0 && a.dwVolumeSerialNumber == b.dwVolumeSerialNumber &&
           a.nFileIndexHigh == b.nFileIndexHigh && a.nFileIndexLow == b.nFileIndexLow;
}

/* mounts.go fallbackMountSetup: each mount a symbolic link under the mount point. A link
 * the call reports made must lead to the source: wine 8's CreateSymbolicLinkW succeeds
 * without making one. */
static int link_mounts(hcs_ctr *c, wc_err *err)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(c->spec, "mounts"), i, m)
    {
        const char *src = json_string_value(json_object_get(m, "source"));
        char *link = hcs_job_mount_link(c->job->mount_point, src,
                                        json_string_value(json_object_get(m, "destination")), err);
        if (!link)
            return wc_err_prefix(err, "container %s: mounts[%zu]", c->id, i);
        char *parent = wc_xstrdup(link);
        char *bs = strrchr(parent, '\\');
        if (bs)
            *bs = '\0';
        int rc = bs ? make_folders(parent, c->id, err) : 0;
        free(parent);
        wchar_t *wl = rc == 0 ? wc_utf8_to_utf16(link, err) : NULL;
        wchar_t *ws = wl ? wc_utf8_to_utf16(src, err) : NULL;
        if (rc == 0 && !ws)
            rc = -1;
        if (rc == 0) {
            DWORD a = GetFileAttributesW(ws);
            DWORD flags = SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE |
                          (a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY)
                               ? SYMBOLIC_LINK_FLAG_DIRECTORY
                               : 0);
            if (!CreateSymbolicLinkW(wl, ws, flags))
                rc = wc_err_set(err, WC_INTERNAL,
                                "HostProcess container %s: cannot link mount %s at %s "
                                "(CreateSymbolicLinkW: Win32 error %lu)",
                                c->id, src, link, (unsigned long)GetLastError());
            else if (!link_leads_to(wl, ws))
                rc = wc_err_set(err, WC_FAILED_PRECONDITION,
                                "HostProcess container %s: CreateSymbolicLinkW reported the link "
                                "%s -> %s made, but there is no link leading there",
                                c->id, link, src);
        }
        free(wl);
        free(ws);
        free(link);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- the verbs ------------------------------------------------------------------------ */

void hcs_job_free(hcs_job *j)
{
    if (!j)
        return;
    if (j->waiter) {
        SetEvent(j->stop_ev);
        WaitForSingleObject(j->waiter, INFINITE);
    }
    hcs_handle_close(&j->waiter);
    hcs_handle_close(&j->stop_ev);
    hcs_handle_close(&j->init_h);
    hcs_handle_close(&j->job);
    if (j->token)
        CloseHandle(j->token);
    free(j->mount_point);
    free(j->volume);
    free(j);
}

static hcs_ctr *ctr_alloc(hcs_runtime *rt, const char *id, const char *sandbox_id, wc_err *err)
{
    if (strlen(id) >= sizeof((hcs_ctr *)0)->id ||
        strlen(sandbox_id) >= sizeof((hcs_ctr *)0)->sandbox_id) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "container id %s or pod id %s is too long", id,
                   sandbox_id);
        return NULL;
    }
    hcs_ctr *c = wc_xcalloc(1, sizeof *c);
    hcs_job *j = wc_xcalloc(1, sizeof *j);
    InitializeSRWLock(&j->mu);
    j->stop_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    c->rt = rt;
    c->job = j;
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->sandbox_id, sizeof c->sandbox_id, "%s", sandbox_id);
    return c;
}

static void undo_create(hcs_ctr *c)
{
    unmount_at(c);
    hcs_storage_release(c);
}

static int create_job(hcs_ctr *c, const hcs_rootfs *rootfs, wc_err *err)
{
    hcs_job *j = c->job;
    if (hcs_job_limits_of(c->spec, GetActiveProcessorCount(ALL_PROCESSOR_GROUPS), &j->limits, err) <
        0)
        return wc_err_prefix(err, "container %s", c->id);
    hcs_job_user u;
    if (hcs_job_user_of(c->spec, &u, err) < 0) /* refused at create, used at start */
        return wc_err_prefix(err, "container %s", c->id);
    if (!(j->mount_point = hcs_job_mount_point(c->spec, c->id, err)))
        return wc_err_prefix(err, "container %s", c->id);
    if (hcs_storage_create_mounted(c, rootfs, &j->volume, err) < 0)
        return -1;
    if (hcs_spec_set_rootfs(c->spec, rootfs, j->volume, err) < 0 || mount_at(c, err) < 0 ||
        link_mounts(c, err) < 0)
        return -1;
    DWORD e;
    if (!(j->job = job_handle(c->id, 1, &e))) {
        win_err(err, e == ERROR_ALREADY_EXISTS ? WC_ALREADY_EXISTS : WC_INTERNAL, e,
                "cannot create its job object", c->id);
        return -1;
    }
    if (apply_limits(j->job, &j->limits, c->id, err) < 0)
        return -1;
    return hcs_stdio_make(&c->stdio, &c->io, c->id, err);
}

int hcs_job_create(hcs_runtime *rt, const char *id, const char *sandbox_id, const char *bundle,
                   json_t *spec, const hcs_rootfs *given, const hcs_io *io, wc_err *err)
{
    if (rt->hyperv || json_object_get(json_object_get(spec, "windows"), "hyperv"))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container %s: a HostProcess container runs on the host and cannot "
                          "use Hyper-V isolation (runtime handler \"%s\")",
                          id, rt->handler);
    hcs_rootfs fixed;
    char **owned = NULL;
    if (!given)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "HostProcess container %s: needs the image's layers", id);
    hcs_rootfs_windows_paths(given, &fixed, &owned);
    hcs_ctr *c = ctr_alloc(rt, id, sandbox_id, err);
    int rc = c ? 0 : -1;
    if (rc == 0) {
        c->spec = json_deep_copy(spec);
        c->io = *io;
        rc = create_job(c, &fixed, err);
        if (rc < 0)
            undo_create(c);
    }
    hcs_strv_free(owned);
    if (rc < 0) {
        hcs_ctr_free(c);
        return -1;
    }
    c->memory_limit = c->job->limits.memory_bytes;
    char *path = wc_path_join(bundle, "config.json");
    char *text = json_dumps(c->spec, JSON_INDENT(2));
    wc_err ignored = {0};
    if (text)
        wc_write_file_atomic(path, text, strlen(text), 0600, &ignored);
    free(text);
    free(path);
    write_record(c);
    hcs_ctr_register(rt, c);
    wc_info("hcs", "HostProcess container created", "id=%s mount_point=%s", c->id,
            c->job->mount_point);
    return 0;
}

int hcs_job_start(hcs_ctr *c, wc_err *err)
{
    if (c->started)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s was already started", c->id);
    job_proc_io io = {.in = c->io.open_stdin, .out = 1, .err = 1, .merge_err = c->io.terminal};
    HANDLE std[3];
    DWORD pid = 0;
    if (job_spawn(c, json_object_get(c->spec, "process"), &io, &c->job->init_h, &pid, std, err) <
        0) {
        hcs_stdio_abandon(&c->stdio);
        return -1;
    }
    c->started = 1;
    c->pid = pid;
    write_record(c);
    hcs_stdio_connect(&c->stdio, std);
    start_waiter(c);
    return 0;
}

int hcs_job_kill(hcs_ctr *c, int sig, int all, wc_err *err)
{
    hcs_signal s;
    int r = hcs_signal_from_posix(sig, &s, err);
    if (r < 0)
        return -1;
    if (c->exited)
        return 0;
    if (r == 1 || all) {
        /* jobcontainer.go Terminate: every process of the job */
        if (!TerminateJobObject(c->job->job, 1) && GetLastError() != ERROR_ACCESS_DENIED)
            return fail_win(err, WC_INTERNAL, "cannot terminate its job", c->id);
        return 0;
    }
    if (!c->pid)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s has no process to signal",
                          c->id);
    if (signal_pid(c->pid, ctrl_event_of(s)) < 0)
        return fail_win(err, WC_INTERNAL, "cannot deliver the console event", c->id);
    return 0;
}

int hcs_job_delete(hcs_ctr *c, wc_err *err)
{
    (void)err;
    hcs_job *j = c->job;
    if (j->job)
        TerminateJobObject(j->job, 1);
    if (j->waiter) {
        WaitForSingleObject(j->waiter, JOB_SHUTDOWN_MS + 5000);
        hcs_handle_close(&j->waiter);
    }
    hcs_ctr_unregister(c->rt, c);
    hcs_stdio_close(&c->stdio);
    unmount_at(c);
    delete_account(c);
    hcs_storage_release(c);
    remove_record(c);
    hcs_ctr_free(c);
    return 0;
}

/* ---- statistics ----------------------------------------------------------------------- */

static uint64_t ft64(FILETIME f)
{
    return ((uint64_t)f.dwHighDateTime << 32) | f.dwLowDateTime;
}

/* CPU of a process from its threads' times (wine answers GetProcessTimes of another
 * process with almost nothing). 100 ns units. */
static uint64_t process_cpu(DWORD pid)
{
    uint64_t total = 0;
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
    if (snap == INVALID_HANDLE_VALUE)
        return 0;
    THREADENTRY32 te = {.dwSize = sizeof te};
    for (BOOL ok = Thread32First(snap, &te); ok; ok = Thread32Next(snap, &te)) {
        if (te.th32OwnerProcessID != pid)
            continue;
        HANDLE t = OpenThread(THREAD_QUERY_LIMITED_INFORMATION, FALSE, te.th32ThreadID);
        FILETIME cr, ex, k, u;
        if (t && GetThreadTimes(t, &cr, &ex, &k, &u))
            total += ft64(k) + ft64(u);
        if (t)
            CloseHandle(t);
    }
    CloseHandle(snap);
    return total;
}

/* jobcontainer.go PropertiesV2: CPU from the job's accounting, commit and private working
 * set summed over its processes. */
int hcs_job_stats(hcs_ctr *c, hcs_stats *out, wc_err *err)
{
    (void)err;
    memset(out, 0, sizeof *out);
    out->timestamp_ns = hcs_now_ns();
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION acct = {0};
    uint64_t cpu = 0;
    if (c->job->job && QueryInformationJobObject(c->job->job, JobObjectBasicAccountingInformation,
                                                 &acct, sizeof acct, NULL))
        cpu = (uint64_t)acct.TotalUserTime.QuadPart + (uint64_t)acct.TotalKernelTime.QuadPart;
    DWORD pids[JOB_MAX_PIDS];
    size_t n = c->job->job ? job_pids(c->job, pids, JOB_MAX_PIDS) : 0;
    uint64_t threads_cpu = 0;
    for (size_t i = 0; i < n; i++) {
        HANDLE h = OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ, FALSE, pids[i]);
        PROCESS_MEMORY_COUNTERS_EX m = {.cb = sizeof m};
        if (h && GetProcessMemoryInfo(h, (PROCESS_MEMORY_COUNTERS *)&m, sizeof m)) {
            out->memory_usage_bytes += m.PrivateUsage;
            out->memory_working_set += m.WorkingSetSize;
            out->memory_page_faults += m.PageFaultCount;
        }
        if (h)
            CloseHandle(h);
        threads_cpu += process_cpu(pids[i]);
    }
    out->memory_rss_bytes = out->memory_working_set;
    out->cpu_usage_ns = (cpu > threads_cpu ? cpu : threads_cpu) * 100;
    out->memory_limit_bytes = c->job->limits.memory_bytes;
    return 0;
}

int hcs_job_update(hcs_ctr *c, const json_t *resources, wc_err *err)
{
    json_t *spec = json_pack("{s:{s:O}}", "windows", "resources", resources);
    hcs_job_limits l;
    int rc =
        spec ? hcs_job_limits_of(spec, GetActiveProcessorCount(ALL_PROCESSOR_GROUPS), &l, err)
             : wc_err_set(err, WC_INVALID_ARGUMENT, "container %s: no resources to apply", c->id);
    json_decref(spec);
    if (rc == 0)
        rc = apply_limits(c->job->job, &l, c->id, err);
    if (rc == 0 && l.memory_bytes) {
        c->job->limits.memory_bytes = l.memory_bytes;
        c->memory_limit = l.memory_bytes;
    }
    return rc;
}

/* ---- exec ----------------------------------------------------------------------------- */

int hcs_job_exec_sync(hcs_ctr *c, const json_t *process, int64_t timeout_ms, size_t max_output,
                      hcs_exec_result *out, wc_err *err)
{
    if (!c->started || c->exited)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "exec: container %s is not running", c->id);
    job_proc_io io = {.out = 1, .err = 1};
    HANDLE proc, std[3];
    DWORD pid;
    if (job_spawn(c, process, &io, &proc, &pid, std, err) < 0)
        return wc_err_prefix(err, "exec");
    hcs_collector ko = {0}, ke = {0};
    hcs_collector_start(&ko, std[1], max_output);
    hcs_collector_start(&ke, std[2], max_output);
    DWORD w = WaitForSingleObject(proc, timeout_ms > 0 ? (DWORD)timeout_ms : INFINITE);
    DWORD code = 0;
    if (w == WAIT_TIMEOUT) {
        out->timed_out = 1;
        TerminateProcess(proc, 1);
        WaitForSingleObject(proc, 5000);
    } else {
        GetExitCodeProcess(proc, &code);
    }
    CloseHandle(proc);
    hcs_collector_finish(&ko, JOB_EXEC_DRAIN_MS);
    hcs_collector_finish(&ke, JOB_EXEC_DRAIN_MS);
    out->out = ko.data;
    out->out_len = ko.len;
    out->err = ke.data;
    out->err_len = ke.len;
    out->truncated = ko.truncated || ke.truncated;
    out->exit_code = out->timed_out ? -1 : (int)code;
    return 0;
}

int hcs_job_exec_spawn(hcs_ctr *c, const json_t *process, const hcs_exec_stdio *stdio, HANDLE *proc,
                       HANDLE std[3], wc_err *err)
{
    if (!c->started || c->exited)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "exec: container %s is not running", c->id);
    job_proc_io io = {.in = stdio->want_in,
                      .out = stdio->want_out || stdio->tty,
                      .err = stdio->want_err || stdio->tty,
                      .merge_err = stdio->tty};
    DWORD pid;
    if (job_spawn(c, process, &io, proc, &pid, std, err) < 0)
        return wc_err_prefix(err, "exec in container %s", c->id);
    if (!stdio->want_out)
        hcs_handle_close(&std[1]);
    if (!stdio->want_err || stdio->tty)
        hcs_handle_close(&std[2]);
    return 0;
}

/* ---- after a restart ------------------------------------------------------------------ */

/* The record's init process, if it still runs in the container's job. */
static HANDLE open_init(HANDLE job, DWORD pid)
{
    if (!job || !pid)
        return NULL;
    HANDLE h = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_INFORMATION | PROCESS_TERMINATE, FALSE, pid);
    BOOL in = FALSE;
    if (h && (!IsProcessInJob(h, job, &in) || !in)) {
        CloseHandle(h);
        h = NULL;
    }
    return h;
}

int hcs_job_state(hcs_runtime *rt, const char *id, hcs_state *out)
{
    json_t *rec = read_record(rt, id);
    if (!rec)
        return 0;
    DWORD e;
    json_int_t pid = json_integer_value(json_object_get(rec, "pid"));
    json_decref(rec);
    HANDLE job = job_handle(id, 0, &e);
    HANDLE h = open_init(job, (DWORD)pid);
    out->pid = (int)pid;
    out->status = !pid                                             ? HCS_CREATED
                  : h && WaitForSingleObject(h, 0) == WAIT_TIMEOUT ? HCS_RUNNING
                                                                   : HCS_STOPPED;
    if (h)
        CloseHandle(h);
    if (job)
        CloseHandle(job);
    return 1;
}

int hcs_job_adopt(hcs_runtime *rt, const char *id, wc_err *err)
{
    json_t *rec = read_record(rt, id);
    if (!rec)
        return 0;
    hcs_ctr *c = ctr_alloc(rt, id, "", err);
    if (!c) {
        json_decref(rec);
        return -1;
    }
    hcs_job *j = c->job;
    json_t *spec = json_object_get(rec, "spec");
    c->spec = spec ? json_incref(spec) : json_object();
    const char *s = json_string_value(json_object_get(rec, "scratch"));
    c->scratch = s ? wc_xstrdup(s) : NULL;
    c->mounted = c->scratch != NULL;
    s = json_string_value(json_object_get(rec, "mount_point"));
    j->mount_point = s ? wc_xstrdup(s) : NULL;
    s = json_string_value(json_object_get(rec, "volume"));
    j->volume = s ? wc_xstrdup(s) : NULL;
    j->mounted_at = json_is_true(json_object_get(rec, "mounted_at"));
    s = json_string_value(json_object_get(rec, "account"));
    snprintf(j->account, sizeof j->account, "%s", s ? s : "");
    json_int_t pid = json_integer_value(json_object_get(rec, "pid"));
    json_decref(rec);
    c->pid = pid > 0 && pid <= UINT32_MAX ? (uint32_t)pid : 0;
    wc_err ignored = {0};
    hcs_job_limits_of(c->spec, GetActiveProcessorCount(ALL_PROCESSOR_GROUPS), &j->limits, &ignored);
    c->memory_limit = j->limits.memory_bytes;
    DWORD e;
    j->job = job_handle(id, 0, &e);
    j->init_h = open_init(j->job, c->pid);
    if (j->init_h)
        remember_pid(j, c->pid);
    c->adopted = c->started = 1;
    hcs_ctr_register(rt, c);
    if (j->job && j->init_h)
        start_waiter(c);
    else
        hcs_ctr_report_exit(c, 255); /* it ended while nobody held it: its exit code is gone */
    return 1;
}
