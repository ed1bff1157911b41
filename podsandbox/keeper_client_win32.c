/* wincrid's connection to the Windows stdio keeper (keeper_win32.h): requests one at a time
 * over the keeper's pipe, and a watcher that notices the keeper's death, finds or starts a
 * new one and has the pod model hand it every container again. */
#include <windows.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/wstr_win32.h"
#include "common/xalloc.h"
#include "podsandbox/keeper_int_win32.h"
#include "podsandbox/keeper_win32.h"

#define CONNECT_WAIT_MS 10000 /* a keeper starting under load (wine) takes a while */
#define RECONNECT_EVERY_MS 500

struct pod_keeper {
    char *state;
    pod_wkeeper_resync_fn resync;
    void *ctx;
    CRITICAL_SECTION mu; /* one request at a time; pipe, proc, pid */
    HANDLE pipe;         /* NULL while no keeper answers */
    HANDLE proc;         /* the keeper's process: handles are duplicated into it */
    int pid;
    HANDLE stop, watcher;
};

/* ---- finding a keeper ---- */

/* The keeper runs from its own copy of this binary, <state>\keeper\wincrid-keeper-<stamp>.exe
 * (stamp: the binary's size and time): Windows cannot replace an executable while a process
 * runs from it, and an upgrade replaces wincrid.exe while the keeper goes on. Copies of older
 * binaries are deleted once no keeper runs from them. */
static wchar_t *keeper_image(const char *state, const wchar_t *exe)
{
    WIN32_FILE_ATTRIBUTE_DATA fa;
    if (!GetFileAttributesExW(exe, GetFileExInfoStandard, &fa))
        return NULL;
    wc_err err = {0};
    char *dir = pod_wkeeper_path(state, NULL);
    wchar_t *wdir = wc_mkdir_p(dir, 0700, &err) == 0 ? wc_utf8_to_utf16(dir, &err) : NULL;
    free(dir);
    if (!wdir)
        return NULL;
    size_t cap = wcslen(wdir) + 80;
    wchar_t *img = wc_xmalloc(cap * sizeof *img), *tmp = wc_xmalloc(cap * sizeof *tmp),
            *pattern = wc_xmalloc(cap * sizeof *pattern);
    _snwprintf(img, cap, L"%ls\\wincrid-keeper-%08lx%08lx-%08lx.exe", wdir,
               fa.ftLastWriteTime.dwHighDateTime, fa.ftLastWriteTime.dwLowDateTime,
               fa.nFileSizeLow);
    _snwprintf(tmp, cap, L"%ls\\wincrid-keeper.tmp", wdir);
    _snwprintf(pattern, cap, L"%ls\\wincrid-keeper-*.exe", wdir);
    WIN32_FIND_DATAW fd;
    HANDLE f = FindFirstFileW(pattern, &fd);
    for (int more = f != INVALID_HANDLE_VALUE; more; more = FindNextFileW(f, &fd)) {
        wchar_t old[MAX_PATH];
        _snwprintf(old, MAX_PATH, L"%ls\\%ls", wdir, fd.cFileName);
        if (_wcsicmp(old, img) != 0)
            DeleteFileW(old); /* fails while a keeper runs from it: that is fine */
    }
    if (f != INVALID_HANDLE_VALUE)
        FindClose(f);
    int ok = GetFileAttributesW(img) != INVALID_FILE_ATTRIBUTES ||
             (CopyFileW(exe, tmp, FALSE) && MoveFileExW(tmp, img, MOVEFILE_REPLACE_EXISTING));
    free(tmp);
    free(pattern);
    free(wdir);
    if (!ok) {
        free(img);
        return NULL;
    }
    return img;
}

/* The keeper is this binary in keeper mode, detached from our console and job so that it
 * outlives us. */
static void spawn(const char *state)
{
    wchar_t exe[MAX_PATH];
    wc_err err = {0};
    wchar_t *wstate = wc_utf8_to_utf16(state, &err);
    if (!wstate || !GetModuleFileNameW(NULL, exe, MAX_PATH)) {
        free(wstate);
        return;
    }
    wchar_t *img = keeper_image(state, exe);
    if (!img)
        wc_warn("keeper",
                "cannot copy wincrid for the keeper; it runs from wincrid's own binary, "
                "which then cannot be replaced while it runs",
                "error=%lu", GetLastError());
    const wchar_t *run = img ? img : exe;
    size_t cap = wcslen(run) + wcslen(wstate) + 64;
    wchar_t *cmd = wc_xmalloc(cap * sizeof *cmd);
    _snwprintf(cmd, cap, L"\"%ls\" %hs \"%ls\"", run, POD_WKEEPER_ARG, wstate);
    STARTUPINFOW si = {.cb = sizeof si};
    PROCESS_INFORMATION pi;
    DWORD flags = DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP;
    BOOL ok = CreateProcessW(run, cmd, NULL, NULL, FALSE, flags | CREATE_BREAKAWAY_FROM_JOB, NULL,
                             NULL, &si, &pi) ||
              /* a job that forbids breaking away: then the keeper shares our job */
              CreateProcessW(run, cmd, NULL, NULL, FALSE, flags, NULL, NULL, &si, &pi);
    if (ok) {
        wc_info("keeper", "started a stdio keeper", "pid=%lu", pi.dwProcessId);
        CloseHandle(pi.hThread);
        CloseHandle(pi.hProcess);
    } else {
        wc_warn("keeper", "cannot start the stdio keeper", "error=%lu", GetLastError());
    }
    free(cmd);
    free(img);
    free(wstate);
}

static HANDLE dial(const char *state)
{
    char *file = pod_wkeeper_path(state, POD_WKEEPER_NAME_FILE);
    char name[128];
    long n = wc_read_head(file, name, sizeof name);
    free(file);
    if (n <= 0 || strncmp(name, "\\\\.\\pipe\\wincri-keeper-", 23) != 0)
        return NULL;
    wc_err err = {0};
    wchar_t *wname = wc_utf8_to_utf16(name, &err);
    HANDLE h = wname ? CreateFileW(wname, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                                   SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL)
                     : INVALID_HANDLE_VALUE;
    free(wname);
    DWORD mode = PIPE_READMODE_MESSAGE;
    if (h != INVALID_HANDLE_VALUE && SetNamedPipeHandleState(h, &mode, NULL, NULL))
        return h;
    if (h != INVALID_HANDLE_VALUE)
        CloseHandle(h);
    return NULL;
}

/* hello: versions agree, and the pid is the pipe's server (where the pipe can say). */
static HANDLE hello(HANDLE pipe, int *pid)
{
    json_t *req = json_pack("{s:s,s:i,s:i}", "op", "hello", "version", POD_WKEEPER_VERSION, "pid",
                            (int)GetCurrentProcessId());
    json_t *r = NULL;
    int ok = pod_wmsg_send(pipe, req) == 0 && pod_wmsg_recv(pipe, &r) == 1 &&
             json_is_true(json_object_get(r, "ok")) &&
             json_integer_value(json_object_get(r, "version")) == POD_WKEEPER_VERSION;
    json_decref(req);
    *pid = ok ? (int)json_integer_value(json_object_get(r, "pid")) : 0;
    json_decref(r);
    ULONG server = 0;
    if (!ok || (GetNamedPipeServerProcessId(pipe, &server) && server && server != (ULONG)*pid))
        return NULL;
    return OpenProcess(PROCESS_DUP_HANDLE | SYNCHRONIZE, FALSE, (DWORD)*pid);
}

/* Connects, starting a keeper if none answers, for up to CONNECT_WAIT_MS. */
static int find_keeper(const char *state, HANDLE *pipe_out, HANDLE *proc_out, int *pid)
{
    int spawned = 0;
    int64_t until = wc_clock_monotonic_ns() + CONNECT_WAIT_MS * 1000000LL;
    while (wc_clock_monotonic_ns() < until) {
        HANDLE pipe = dial(state);
        HANDLE proc = pipe ? hello(pipe, pid) : NULL;
        if (proc) {
            *pipe_out = pipe;
            *proc_out = proc;
            return 0;
        }
        if (pipe)
            CloseHandle(pipe);
        if (!spawned) {
            spawn(state);
            spawned = 1;
        }
        Sleep(50);
    }
    return -1;
}

static void drop_connection(pod_keeper *k)
{
    if (k->pipe)
        CloseHandle(k->pipe);
    if (k->proc)
        CloseHandle(k->proc);
    k->pipe = k->proc = NULL;
    k->pid = 0;
}

/* ---- the watcher ---- */

/* A copy of the keeper's process handle to wait on; NULL while there is none. */
static HANDLE watched(pod_keeper *k)
{
    HANDLE proc = NULL;
    EnterCriticalSection(&k->mu);
    if (k->proc && !DuplicateHandle(GetCurrentProcess(), k->proc, GetCurrentProcess(), &proc,
                                    SYNCHRONIZE, FALSE, 0))
        proc = NULL;
    LeaveCriticalSection(&k->mu);
    return proc;
}

/* Found without the lock: requests meanwhile fail at once rather than wait. */
static void take_over(pod_keeper *k)
{
    HANDLE pipe = NULL, proc = NULL;
    int pid = 0;
    if (find_keeper(k->state, &pipe, &proc, &pid) < 0)
        return;
    EnterCriticalSection(&k->mu);
    k->pipe = pipe;
    k->proc = proc;
    k->pid = pid;
    LeaveCriticalSection(&k->mu);
    wc_info("keeper", "a new stdio keeper took over", "pid=%d", pid);
    k->resync(k->ctx);
}

static DWORD WINAPI watch(void *arg)
{
    pod_keeper *k = arg;
    for (;;) {
        HANDLE proc = watched(k);
        HANDLE ws[2] = {k->stop, proc};
        DWORD w =
            WaitForMultipleObjects(proc ? 2 : 1, ws, FALSE, proc ? INFINITE : RECONNECT_EVERY_MS);
        if (proc)
            CloseHandle(proc);
        if (w == WAIT_OBJECT_0)
            return 0;
        if (w == WAIT_OBJECT_0 + 1) {
            EnterCriticalSection(&k->mu);
            wc_warn("keeper", "the stdio keeper exited; starting another", "pid=%d", k->pid);
            drop_connection(k);
            LeaveCriticalSection(&k->mu);
        }
        if (!pod_wkeeper_connected(k))
            take_over(k);
    }
}

/* ---- the client ---- */

int pod_wkeeper_connect(const char *state_dir, pod_wkeeper_resync_fn resync, void *ctx,
                        pod_keeper **out, wc_err *err)
{
    pod_keeper *k = wc_xcalloc(1, sizeof *k);
    k->state = wc_xstrdup(state_dir);
    k->resync = resync;
    k->ctx = ctx;
    InitializeCriticalSection(&k->mu);
    k->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    int rc = find_keeper(k->state, &k->pipe, &k->proc, &k->pid);
    if (rc == 0)
        k->watcher = CreateThread(NULL, 0, watch, k, 0, NULL);
    if (rc < 0 || !k->watcher) {
        wc_err_set(err, WC_UNAVAILABLE, "no stdio keeper answered for %s", state_dir);
        pod_wkeeper_disconnect(k);
        return -1;
    }
    wc_info("keeper", "connected to the stdio keeper", "pid=%d", k->pid);
    *out = k;
    return 0;
}

void pod_wkeeper_disconnect(pod_keeper *k)
{
    if (!k)
        return;
    SetEvent(k->stop);
    if (k->watcher) {
        WaitForSingleObject(k->watcher, INFINITE);
        CloseHandle(k->watcher);
    }
    drop_connection(k);
    CloseHandle(k->stop);
    DeleteCriticalSection(&k->mu);
    free(k->state);
    free(k);
}

int pod_wkeeper_connected(pod_keeper *k)
{
    EnterCriticalSection(&k->mu);
    int up = k->pipe != NULL;
    LeaveCriticalSection(&k->mu);
    return up;
}

/* One request: the reply on success (caller frees); -1 with err when the keeper refused or
 * is not there. Caller holds mu (handles in req were given to k->proc). */
static json_t *call_locked(pod_keeper *k, json_t *req, wc_err *err)
{
    const char *op = json_string_value(json_object_get(req, "op"));
    json_t *r = NULL;
    if (!k->pipe) {
        wc_err_set(err, WC_UNAVAILABLE, "keeper request %s: no stdio keeper is connected", op);
    } else if (pod_wmsg_send(k->pipe, req) < 0 || pod_wmsg_recv(k->pipe, &r) != 1) {
        /* The watcher sees the process end and reconnects. */
        wc_err_set(err, WC_UNAVAILABLE, "keeper request %s: the keeper did not answer", op);
    } else if (!json_is_true(json_object_get(r, "ok"))) {
        json_int_t code = json_integer_value(json_object_get(r, "code"));
        wc_err_set(err, code > 0 && code <= WC_UNAUTHENTICATED ? (wc_code)code : WC_INTERNAL, "%s",
                   json_string_value(json_object_get(r, "error")));
        json_decref(r);
        r = NULL;
    }
    json_decref(req);
    return r;
}

static json_t *call(pod_keeper *k, json_t *req, wc_err *err)
{
    EnterCriticalSection(&k->mu);
    json_t *r = call_locked(k, req, err);
    LeaveCriticalSection(&k->mu);
    return r;
}

static int call_simple(pod_keeper *k, const char *op, const char *id, wc_err *err)
{
    json_t *r = call(k, json_pack("{s:s,s:s}", "op", op, "id", id), err);
    json_decref(r);
    return r ? 0 : -1;
}

int pod_wkeeper_add(pod_keeper *k, const char *id, const char *log_path, HANDLE std[3], wc_err *err)
{
    static const char *const keys[3] = {"in", "out", "err"};
    EnterCriticalSection(&k->mu);
    json_t *req = json_pack("{s:s,s:s,s:s}", "op", "add", "id", id, "log_path", log_path);
    int lost = 0;
    for (int i = 0; i < 3; i++) {
        json_t *v = pod_whandle_give(k->proc, std[i]);
        lost |= std[i] && !json_integer_value(v);
        json_object_set_new(req, keys[i], v);
    }
    json_t *r = NULL;
    if (lost) {
        wc_err_set(err, WC_UNAVAILABLE, "container %s: cannot hand its pipes to the keeper", id);
        json_decref(req);
    } else {
        r = call_locked(k, req, err);
    }
    LeaveCriticalSection(&k->mu);
    json_decref(r);
    return r ? 0 : -1;
}

int pod_wkeeper_get(pod_keeper *k, const char *id, HANDLE std[3], wc_err *err)
{
    json_t *r = call(k, json_pack("{s:s,s:s}", "op", "get", "id", id), err);
    std[0] = r ? pod_whandle_take(r, "in") : NULL;
    std[1] = r ? pod_whandle_take(r, "out") : NULL;
    std[2] = r ? pod_whandle_take(r, "err") : NULL;
    json_decref(r);
    return r ? 0 : -1;
}

int pod_wkeeper_remove(pod_keeper *k, const char *id, wc_err *err)
{
    return call_simple(k, "remove", id, err);
}

int pod_wkeeper_reopen(pod_keeper *k, const char *id, wc_err *err)
{
    return call_simple(k, "reopen", id, err);
}

int pod_wkeeper_close_stdin(pod_keeper *k, const char *id, wc_err *err)
{
    return call_simple(k, "close_stdin", id, err);
}

int pod_wkeeper_tap(pod_keeper *k, const char *id, int want_out, int want_err, HANDLE *out,
                    HANDLE *err_h, wc_err *err)
{
    json_t *r = call(
        k, json_pack("{s:s,s:s,s:b,s:b}", "op", "tap", "id", id, "out", want_out, "err", want_err),
        err);
    *out = r ? pod_whandle_take(r, "out") : NULL;
    *err_h = r ? pod_whandle_take(r, "err") : NULL;
    json_decref(r);
    return r ? 0 : -1;
}

int pod_wkeeper_ended(pod_keeper *k, const char *id, int *ended, wc_err *err)
{
    json_t *r = call(k, json_pack("{s:s,s:s}", "op", "ended", "id", id), err);
    *ended = r && json_is_true(json_object_get(r, "ended"));
    json_decref(r);
    return r ? 0 : -1;
}

int pod_wkeeper_list(pod_keeper *k, char ***ids, size_t *n, wc_err *err)
{
    *ids = NULL;
    *n = 0;
    json_t *r = call(k, json_pack("{s:s}", "op", "list"), err);
    if (!r)
        return -1;
    json_t *arr = json_object_get(r, "ids");
    *ids = wc_xcalloc(json_array_size(arr) + 1, sizeof **ids);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v))
            (*ids)[(*n)++] = wc_xstrdup(json_string_value(v));
    }
    json_decref(r);
    return 0;
}
