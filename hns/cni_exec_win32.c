/* Running a CNI plugin on Windows ("<type>.exe" in a bin dir): CreateProcessW with the
 * call's CNI_* variables over the daemon's environment (sorted, as Windows wants an
 * environment block), CNI_PATH ';'-separated, the network config on stdin, stdout and
 * stderr collected, and a deadline. Only the three std pipe ends are inherited
 * (PROC_THREAD_ATTRIBUTE_HANDLE_LIST), so a plugin never holds other pipes of the daemon
 * open. The stdin config, the CNI_* set and the result parsing are hns/cni.c's. */
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "common/wstr_win32.h"
#include "common/xalloc.h"
#include "hns/cni_int.h"

#define OUTPUT_MAX (16u << 20) /* a plugin printing more than this is broken */
#define DRAIN_MS 2000          /* after the plugin exits, how long its pipes may stay open */

static int ends_with_exe(const char *s)
{
    size_t n = strlen(s);
    return n >= 4 && _stricmp(s + n - 4, ".exe") == 0;
}

static char *find_plugin(const hns_cni_exec_req *rq, wc_err *err)
{
    const char *ext = ends_with_exe(rq->plugin) ? "" : ".exe";
    for (size_t i = 0; i < rq->n_bin_dirs; i++) {
        const char *dir = rq->bin_dirs[i];
        size_t dl = strlen(dir), n = dl + strlen(rq->plugin) + 6;
        char *path = wc_xmalloc(n);
        int sep = dl && (dir[dl - 1] == '\\' || dir[dl - 1] == '/');
        snprintf(path, n, "%s%s%s%s", dir, sep ? "" : "\\", rq->plugin, ext);
        wchar_t *w = wc_utf8_to_utf16(path, NULL);
        DWORD attr = w ? GetFileAttributesW(w) : INVALID_FILE_ATTRIBUTES;
        free(w);
        if (attr != INVALID_FILE_ATTRIBUTES && !(attr & FILE_ATTRIBUTE_DIRECTORY))
            return path;
        free(path);
    }
    char dirs[512] = "";
    for (size_t i = 0, used = 0; i < rq->n_bin_dirs && used < sizeof dirs; i++)
        used += (size_t)snprintf(dirs + used, sizeof dirs - used, "%s%s", i ? ", " : "",
                                 rq->bin_dirs[i]);
    wc_err_set(err, WC_FAILED_PRECONDITION, "CNI plugin %s%s not found in %s", rq->plugin, ext,
               dirs);
    return NULL;
}

/* ---- the environment block ---- */

static size_t name_len(const wchar_t *kv)
{
    /* "=C:=C:\x" (a drive's current directory) keeps its leading '=' in the name. */
    const wchar_t *eq = wcschr(kv + (kv[0] == L'='), L'=');
    return eq ? (size_t)(eq - kv) : wcslen(kv);
}

static int by_name(const void *a, const void *b)
{
    const wchar_t *x = *(const wchar_t *const *)a, *y = *(const wchar_t *const *)b;
    size_t lx = name_len(x), ly = name_len(y);
    int c = _wcsnicmp(x, y, lx < ly ? lx : ly);
    return c ? c : (lx > ly) - (lx < ly);
}

static int is_cni_var(const wchar_t *kv)
{
    return _wcsnicmp(kv, L"CNI_", 4) == 0;
}

static char *cni_path(const hns_cni_exec_req *rq)
{
    size_t n = 16;
    for (size_t i = 0; i < rq->n_bin_dirs; i++)
        n += strlen(rq->bin_dirs[i]) + 1;
    char *s = wc_xmalloc(n);
    size_t used = (size_t)snprintf(s, n, "CNI_PATH=");
    for (size_t i = 0; i < rq->n_bin_dirs; i++)
        used += (size_t)snprintf(s + used, n - used, "%s%s", i ? ";" : "", rq->bin_dirs[i]);
    return s;
}

/* The daemon's environment without its own CNI_*, then the call's and CNI_PATH; sorted
 * case-insensitively by name and double-NUL terminated. */
static wchar_t *build_env(const hns_cni_exec_req *rq)
{
    wchar_t *own = GetEnvironmentStringsW();
    size_t n_own = 0, n_call = 0;
    for (const wchar_t *p = own; p && *p; p += wcslen(p) + 1)
        n_own++;
    while (rq->env[n_call])
        n_call++;
    wchar_t **vars = wc_xcalloc(n_own + n_call + 2, sizeof *vars);
    wchar_t **mine = wc_xcalloc(n_call + 2, sizeof *mine);
    size_t k = 0, total = 1;
    for (const wchar_t *p = own; p && *p; p += wcslen(p) + 1)
        if (!is_cni_var(p))
            vars[k++] = (wchar_t *)p;
    char *path_var = cni_path(rq);
    for (size_t i = 0; i <= n_call; i++) {
        mine[i] = wc_utf8_to_utf16(i < n_call ? rq->env[i] : path_var, NULL);
        if (mine[i])
            vars[k++] = mine[i];
    }
    free(path_var);
    qsort(vars, k, sizeof *vars, by_name);
    for (size_t i = 0; i < k; i++)
        total += wcslen(vars[i]) + 1;
    wchar_t *block = wc_xmalloc(total * sizeof *block);
    for (size_t i = 0, at = 0; i < k; i++) {
        size_t l = wcslen(vars[i]) + 1;
        memcpy(block + at, vars[i], l * sizeof *block);
        at += l;
        block[at] = L'\0';
    }
    for (size_t i = 0; i <= n_call; i++)
        free(mine[i]);
    free(mine);
    free(vars);
    if (own)
        FreeEnvironmentStringsW(own);
    return block;
}

/* ---- std streams ---- */

typedef struct io {
    HANDLE h, thread;
    const char *data; /* stdin: what to write */
    char *buf;        /* stdout/stderr: what was read */
    size_t len;
} io;

static DWORD WINAPI feed_main(void *arg)
{
    io *s = arg;
    size_t left = strlen(s->data);
    const char *p = s->data;
    DWORD n;
    while (left && WriteFile(s->h, p, (DWORD)(left > 65536 ? 65536 : left), &n, NULL)) {
        p += n;
        left -= n;
    }
    CloseHandle(s->h); /* EOF tells the plugin its config is complete */
    s->h = NULL;
    return 0;
}

static DWORD WINAPI drain_main(void *arg)
{
    io *s = arg;
    char chunk[8192];
    DWORD n;
    while (ReadFile(s->h, chunk, sizeof chunk, &n, NULL) && n > 0) {
        if (s->len + n > OUTPUT_MAX)
            continue;
        s->buf = wc_xrealloc(s->buf, s->len + n + 1);
        memcpy(s->buf + s->len, chunk, n);
        s->len += n;
        s->buf[s->len] = '\0';
    }
    return 0;
}

static void io_finish(io *s, DWORD wait_ms)
{
    if (s->thread && WaitForSingleObject(s->thread, wait_ms) != WAIT_OBJECT_0) {
        CancelSynchronousIo(s->thread);
        WaitForSingleObject(s->thread, INFINITE);
    }
    if (s->thread)
        CloseHandle(s->thread);
    if (s->h)
        CloseHandle(s->h);
    s->thread = s->h = NULL;
}

/* child[i] is the plugin's end of std stream i (inheritable), ours[i] the daemon's. */
static int make_pipes(HANDLE child[3], HANDLE ours[3])
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    for (int i = 0; i < 3; i++) {
        HANDLE r, w;
        if (!CreatePipe(&r, &w, &sa, 0))
            return -1;
        child[i] = i == 0 ? r : w;
        ours[i] = i == 0 ? w : r;
        SetHandleInformation(ours[i], HANDLE_FLAG_INHERIT, 0);
    }
    return 0;
}

static void close_all(HANDLE *h, int n)
{
    for (int i = 0; i < n; i++)
        if (h[i]) {
            CloseHandle(h[i]);
            h[i] = NULL;
        }
}

static int spawn(const char *exe, wchar_t *env, HANDLE child[3], PROCESS_INFORMATION *pi,
                 wc_err *err)
{
    SIZE_T size = 0;
    InitializeProcThreadAttributeList(NULL, 1, 0, &size);
    LPPROC_THREAD_ATTRIBUTE_LIST attrs = wc_xmalloc(size);
    STARTUPINFOEXW si = {0};
    si.StartupInfo.cb = sizeof si;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = child[0];
    si.StartupInfo.hStdOutput = child[1];
    si.StartupInfo.hStdError = child[2];
    wchar_t *wexe = wc_utf8_to_utf16(exe, NULL);
    size_t cl = wexe ? wcslen(wexe) + 3 : 0;
    wchar_t *cmdline = cl ? wc_xmalloc(cl * sizeof *cmdline) : NULL;
    if (cmdline)
        swprintf(cmdline, cl, L"\"%ls\"", wexe);
    BOOL listed = cmdline && InitializeProcThreadAttributeList(attrs, 1, 0, &size);
    BOOL ok = listed && UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                                  child, 3 * sizeof(HANDLE), NULL, NULL);
    si.lpAttributeList = attrs;
    DWORD e = 0;
    if (ok)
        ok = CreateProcessW(wexe, cmdline, NULL, NULL, TRUE,
                            CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT |
                                CREATE_NO_WINDOW,
                            env, NULL, &si.StartupInfo, pi);
    if (!ok)
        e = GetLastError();
    if (listed) /* only a list that was set up is torn down */
        DeleteProcThreadAttributeList(attrs);
    free(attrs);
    free(cmdline);
    free(wexe);
    if (!ok)
        return wc_err_set(err, WC_INTERNAL, "CNI plugin %s: cannot start it (Win32 error %lu)", exe,
                          (unsigned long)e);
    return 0;
}

int hns_cni_exec(const hns_cni_exec_req *rq, char **out, char **err_text, int *exit_code,
                 wc_err *err)
{
    *out = NULL;
    *err_text = NULL;
    char *exe = find_plugin(rq, err);
    if (!exe)
        return -1;
    wchar_t *env = build_env(rq);
    HANDLE child[3] = {0}, ours[3] = {0};
    PROCESS_INFORMATION pi = {0};
    int rc = 0;
    if (make_pipes(child, ours) < 0)
        rc = wc_err_set(err, WC_INTERNAL, "CNI plugin %s: cannot make pipes (Win32 error %lu)",
                        rq->plugin, GetLastError());
    if (rc == 0)
        rc = spawn(exe, env, child, &pi, err);
    close_all(child, 3); /* the plugin has its own copies now */
    free(env);
    if (rc < 0) {
        close_all(ours, 3);
        free(exe);
        return -1;
    }
    io s_in = {.h = ours[0], .data = rq->stdin_json}, s_out = {.h = ours[1]},
       s_err = {.h = ours[2]};
    s_in.thread = CreateThread(NULL, 0, feed_main, &s_in, 0, NULL);
    s_out.thread = CreateThread(NULL, 0, drain_main, &s_out, 0, NULL);
    s_err.thread = CreateThread(NULL, 0, drain_main, &s_err, 0, NULL);
    DWORD timeout = rq->timeout_ms > 0 ? (DWORD)rq->timeout_ms : INFINITE;
    if (WaitForSingleObject(pi.hProcess, timeout) != WAIT_OBJECT_0) {
        TerminateProcess(pi.hProcess, 1);
        WaitForSingleObject(pi.hProcess, INFINITE);
        rc = wc_err_set(err, WC_DEADLINE_EXCEEDED, "CNI plugin %s did not finish within %d ms",
                        rq->plugin, rq->timeout_ms);
    }
    DWORD code = 0;
    GetExitCodeProcess(pi.hProcess, &code);
    io_finish(&s_in, DRAIN_MS);
    io_finish(&s_out, DRAIN_MS);
    io_finish(&s_err, DRAIN_MS);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    free(exe);
    if (rc < 0) {
        free(s_out.buf);
        free(s_err.buf);
        return -1;
    }
    *out = s_out.buf ? s_out.buf : wc_xstrdup("");
    *err_text = s_err.buf ? s_err.buf : wc_xstrdup("");
    *exit_code = (int)code;
    return 0;
}
