/* winsim host: the service process the DLL doubles talk to.
 *
 * Wire: each connection carries request lines (one JSON object, "op" naming the API call as
 * the DLL received it, "pid" the calling process) and gets one reply line each
 * ({"hr":<HRESULT>, ...}). A connection that sends {"op":"events"} becomes that process's
 * event stream (HCS callbacks). Ops starting with "_" are the tests' control channel
 * (statistics for leak checks, failure injection, a clean stop).
 *
 * Journal: every API request is appended to <root>\journal.jsonl as one line
 * {"seq","ms","t0","t1","pid","call","id","doc","hr","note"}; tests compare the documents with
 * goldens. t0 and t1 are when the call arrived and when it was answered, in Unix seconds
 * (microseconds; the wall clock, which the tests' own timestamps on Linux share).
 *
 * Failure injection: WINSIM_FAIL="Call=0x80370118[*count][;Call2=...]" (or the _fault op)
 * makes the named call fail with that HRESULT without doing anything; "*count" limits how
 * many times. "Call=delay:MS" holds the call that long, then does it (races, timeouts).
 * "Call=skip" answers S_OK without doing anything (a call that reports success but has no
 * effect, e.g. a grant that did not take: what depends on it must then fail). The DLL
 * hands the HRESULT back the way the real API does (operation result with a ResultError document
 * for HCS operations, return value elsewhere). */
#include "host.h"

#include <ws2tcpip.h>

#include <psapi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tlhelp32.h>

CRITICAL_SECTION g_lock;
char g_root[MAX_PATH];

static CRITICAL_SECTION journal_lock;
static FILE *journal;
static FILE *log_file;
static long long journal_seq;
static volatile LONG stopping;
static SOCKET listener = INVALID_SOCKET;

/* ---- log ---- */

void host_log(const char *fmt, ...)
{
    if (!log_file)
        return;
    char ts[40];
    now_rfc3339(ts);
    va_list ap;
    va_start(ap, fmt);
    EnterCriticalSection(&journal_lock);
    fprintf(log_file, "%s ", ts);
    vfprintf(log_file, fmt, ap);
    fputc('\n', log_file);
    fflush(log_file);
    LeaveCriticalSection(&journal_lock);
    va_end(ap);
}

/* ---- helpers ---- */

char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

int path_exists(const char *p)
{
    return p && GetFileAttributesA(p) != INVALID_FILE_ATTRIBUTES;
}

int dir_exists(const char *p)
{
    DWORD a = p ? GetFileAttributesA(p) : INVALID_FILE_ATTRIBUTES;
    return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY);
}

int mkdirs(const char *p)
{
    char buf[MAX_PATH * 2];
    snprintf(buf, sizeof buf, "%s", p);
    for (char *c = buf + 3; *c; c++) {
        if (*c == '\\' || *c == '/') {
            char s = *c;
            *c = '\0';
            CreateDirectoryA(buf, NULL);
            *c = s;
        }
    }
    return CreateDirectoryA(buf, NULL) || GetLastError() == ERROR_ALREADY_EXISTS ? 0 : -1;
}

static int remove_walk(const char *p)
{
    DWORD a = GetFileAttributesA(p);
    if (a == INVALID_FILE_ATTRIBUTES)
        return 0;
    if (a & FILE_ATTRIBUTE_REPARSE_POINT) /* a link goes, what it leads to stays (Windows) */
        return gaps_remove_link(p);
    SetFileAttributesA(p, FILE_ATTRIBUTE_NORMAL | (a & FILE_ATTRIBUTE_DIRECTORY));
    if (!(a & FILE_ATTRIBUTE_DIRECTORY))
        return DeleteFileA(p) ? 0 : -1;
    char pat[MAX_PATH * 2];
    snprintf(pat, sizeof pat, "%s\\*", p);
    WIN32_FIND_DATAA fd;
    HANDLE h = FindFirstFileA(pat, &fd);
    if (h != INVALID_HANDLE_VALUE) {
        do {
            if (!strcmp(fd.cFileName, ".") || !strcmp(fd.cFileName, ".."))
                continue;
            char kid[MAX_PATH * 2];
            snprintf(kid, sizeof kid, "%s\\%s", p, fd.cFileName);
            remove_walk(kid);
        } while (FindNextFileA(h, &fd));
        FindClose(h);
    }
    return RemoveDirectoryA(p) ? 0 : -1;
}

int remove_tree(const char *p)
{
    /* wine deletes what a symbolic link to a file leads to, and shows such a link as the
     * file: the links go first */
    gaps_remove_links_under(p);
    return remove_walk(p);
}

int copy_tree(const char *from, const char *to)
{
    DWORD a = GetFileAttributesA(from);
    if (a == INVALID_FILE_ATTRIBUTES)
        return -1;
    if (!(a & FILE_ATTRIBUTE_DIRECTORY))
        return CopyFileA(from, to, FALSE) ? 0 : -1;
    mkdirs(to);
    char pat[MAX_PATH * 2];
    snprintf(pat, sizeof pat, "%s\\*", from);
    WIN32_FIND_DATAA fd;
    HANDLE h = FindFirstFileA(pat, &fd);
    int rc = 0;
    if (h != INVALID_HANDLE_VALUE) {
        do {
            if (!strcmp(fd.cFileName, ".") || !strcmp(fd.cFileName, ".."))
                continue;
            char a1[MAX_PATH * 2], b1[MAX_PATH * 2];
            snprintf(a1, sizeof a1, "%s\\%s", from, fd.cFileName);
            snprintf(b1, sizeof b1, "%s\\%s", to, fd.cFileName);
            if (copy_tree(a1, b1) < 0)
                rc = -1;
        } while (FindNextFileA(h, &fd));
        FindClose(h);
    }
    return rc;
}

void now_rfc3339(char out[40])
{
    SYSTEMTIME st;
    GetSystemTime(&st);
    FILETIME ft;
    SystemTimeToFileTime(&st, &ft);
    ULARGE_INTEGER u = {.LowPart = ft.dwLowDateTime, .HighPart = ft.dwHighDateTime};
    snprintf(out, 40, "%04u-%02u-%02uT%02u:%02u:%02u.%07lluZ", st.wYear, st.wMonth, st.wDay,
             st.wHour, st.wMinute, st.wSecond, (unsigned long long)(u.QuadPart % 10000000ULL));
}

long long now_100ns(void)
{
    FILETIME ft;
    GetSystemTimePreciseAsFileTime(&ft);
    ULARGE_INTEGER u = {.LowPart = ft.dwLowDateTime, .HighPart = ft.dwHighDateTime};
    return (long long)u.QuadPart;
}

void guid_new(char out[37])
{
    GUID g;
    CoCreateGuid(&g);
    snprintf(out, 37, "%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned long)g.Data1,
             g.Data2, g.Data3, g.Data4[0], g.Data4[1], g.Data4[2], g.Data4[3], g.Data4[4],
             g.Data4[5], g.Data4[6], g.Data4[7]);
}

int guid_equal(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    if (*a == '{')
        a++;
    if (*b == '{')
        b++;
    return _strnicmp(a, b, 36) == 0;
}

HRESULT hr_of_win32(DWORD e)
{
    return HRESULT_FROM_WIN32(e);
}

char *result_error(HRESULT hr, const char *message)
{
    sb b = {0};
    sb_addf(&b, "{\"Error\":%ld,\"ErrorMessage\":", (long)hr);
    sb_qstr(&b, message);
    sb_add(&b, "}");
    return sb_take(&b);
}

/* ---- faults ---- */

typedef struct fault {
    char call[64];
    HRESULT hr;
    DWORD delay_ms; /* "Call=delay:MS": the call is held, then done (hr unused) */
    int skip;       /* "Call=skip": S_OK, nothing done */
    int count;      /* -1: every time */
} fault;
static fault faults[32];
static size_t n_faults;

/* "Call=0xHR[*N]" items separated by ';' or ','; an empty spec clears. */
static void faults_set(const char *spec)
{
    n_faults = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec ? spec : "");
    for (char *tok = strtok(buf, ";,"); tok && n_faults < 32; tok = strtok(NULL, ";,")) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = '\0';
        fault *f = &faults[n_faults];
        snprintf(f->call, sizeof f->call, "%s", tok);
        char *star = strchr(eq + 1, '*');
        f->count = star ? atoi(star + 1) : -1;
        f->delay_ms = strncmp(eq + 1, "delay:", 6) == 0 ? (DWORD)atoi(eq + 7) : 0;
        f->skip = strncmp(eq + 1, "skip", 4) == 0;
        f->hr = f->delay_ms || f->skip ? S_OK : (HRESULT)strtoul(eq + 1, NULL, 0);
        n_faults++;
        host_log("fault armed: %s -> 0x%08lx count=%d", f->call, (unsigned long)f->hr, f->count);
    }
}

HRESULT host_fault(const char *call)
{
    for (size_t i = 0; i < n_faults; i++) {
        fault *f = &faults[i];
        if (strcmp(f->call, call) != 0 || f->count == 0 || f->delay_ms || f->skip)
            continue;
        if (f->count > 0)
            f->count--;
        return f->hr;
    }
    return S_OK;
}

/* 1 when the call is to report success without doing anything ("Call=skip"). */
static int fault_skip(const char *call)
{
    for (size_t i = 0; i < n_faults; i++) {
        fault *f = &faults[i];
        if (strcmp(f->call, call) != 0 || f->count == 0 || !f->skip)
            continue;
        if (f->count > 0)
            f->count--;
        return 1;
    }
    return 0;
}

/* How long to hold the call first ("Call=delay:MS"), 0 for none. */
static DWORD fault_delay(const char *call)
{
    for (size_t i = 0; i < n_faults; i++) {
        fault *f = &faults[i];
        if (strcmp(f->call, call) != 0 || f->count == 0 || !f->delay_ms)
            continue;
        if (f->count > 0)
            f->count--;
        return f->delay_ms;
    }
    return 0;
}

/* ---- clients, their handles and event streams ---- */

typedef struct handle_ent {
    long long h;
    char kind[12];
    void *obj;
    int callback;
} handle_ent;

typedef struct sink {
    SOCKET s;
    struct sink *next;
} sink;

struct client {
    DWORD pid;
    HANDLE proc;
    handle_ent *hs;
    size_t n, cap;
    HANDLE *pipes; /* std pipe ends given to this client */
    size_t n_pipes, cap_pipes;
    sink *sinks;
    struct client *next;
};
static client *clients;
static CRITICAL_SECTION sink_lock;

static DWORD WINAPI client_watch(void *arg);

static client *client_get(DWORD pid)
{
    for (client *c = clients; c; c = c->next)
        if (c->pid == pid)
            return c;
    client *c = calloc(1, sizeof *c);
    c->pid = pid;
    c->proc = OpenProcess(PROCESS_DUP_HANDLE | SYNCHRONIZE | PROCESS_QUERY_INFORMATION, FALSE, pid);
    c->next = clients;
    clients = c;
    if (c->proc) {
        HANDLE t = CreateThread(NULL, 0, client_watch, (void *)(ULONG_PTR)pid, 0, NULL);
        if (t)
            CloseHandle(t);
    }
    return c;
}

HANDLE host_client_process(DWORD pid)
{
    client *c = client_get(pid);
    return c->proc;
}

void host_handle_add(DWORD pid, long long h, const char *kind, void *obj)
{
    client *c = client_get(pid);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->hs = realloc(c->hs, c->cap * sizeof *c->hs);
    }
    handle_ent *e = &c->hs[c->n++];
    memset(e, 0, sizeof *e);
    e->h = h;
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    e->obj = obj;
}

static handle_ent *handle_find(DWORD pid, long long h)
{
    client *c = client_get(pid);
    for (size_t i = 0; i < c->n; i++)
        if (c->hs[i].h == h)
            return &c->hs[i];
    return NULL;
}

void *host_handle_get(DWORD pid, long long h, const char *kind)
{
    handle_ent *e = handle_find(pid, h);
    return e && strcmp(e->kind, kind) == 0 ? e->obj : NULL;
}

void host_handle_del(DWORD pid, long long h)
{
    client *c = client_get(pid);
    for (size_t i = 0; i < c->n; i++)
        if (c->hs[i].h == h) {
            c->hs[i] = c->hs[--c->n];
            return;
        }
}

size_t host_handles_of(void *obj)
{
    size_t n = 0;
    for (client *c = clients; c; c = c->next)
        for (size_t i = 0; i < c->n; i++)
            n += c->hs[i].obj == obj;
    return n;
}

void host_pipe_given(DWORD pid, HANDLE value)
{
    client *c = client_get(pid);
    if (!value)
        return;
    if (c->n_pipes == c->cap_pipes) {
        c->cap_pipes = c->cap_pipes ? c->cap_pipes * 2 : 32;
        c->pipes = realloc(c->pipes, c->cap_pipes * sizeof *c->pipes);
    }
    c->pipes[c->n_pipes++] = value;
}

/* How many given pipe ends are still open in the client (a handle value that no longer
 * names a pipe there was closed; it is forgotten). */
static size_t pipes_open(client *c)
{
    size_t keep = 0;
    for (size_t i = 0; i < c->n_pipes; i++) {
        HANDLE dup = NULL;
        if (c->proc && DuplicateHandle(c->proc, c->pipes[i], GetCurrentProcess(), &dup, 0, FALSE,
                                       DUPLICATE_SAME_ACCESS)) {
            int is_pipe = GetFileType(dup) == FILE_TYPE_PIPE;
            CloseHandle(dup);
            if (is_pipe)
                c->pipes[keep++] = c->pipes[i];
        }
    }
    c->n_pipes = keep;
    return keep;
}

void host_set_callback(DWORD pid, long long h, int on)
{
    handle_ent *e = handle_find(pid, h);
    if (e)
        e->callback = on;
}

void host_each_callback(void *obj, void (*fn)(DWORD pid, long long h, void *ctx), void *ctx)
{
    for (client *c = clients; c; c = c->next)
        for (size_t i = 0; i < c->n; i++)
            if (c->hs[i].obj == obj && c->hs[i].callback)
                fn(c->pid, c->hs[i].h, ctx);
}

void host_event(DWORD pid, const char *line)
{
    EnterCriticalSection(&sink_lock);
    for (client *c = clients; c; c = c->next) {
        if (c->pid != pid)
            continue;
        for (sink *s = c->sinks; s; s = s->next) {
            size_t len = strlen(line);
            if (send(s->s, line, (int)len, 0) != (int)len || send(s->s, "\n", 1, 0) != 1)
                host_log("event to pid %lu lost", (unsigned long)pid);
        }
    }
    LeaveCriticalSection(&sink_lock);
}

/* The client process ended (wincrid stopped or was killed): its handles go, as HCS drops
 * the handles of a process that exits. */
static DWORD WINAPI client_watch(void *arg)
{
    DWORD pid = (DWORD)(ULONG_PTR)arg;
    HANDLE proc = NULL;
    EnterCriticalSection(&g_lock);
    for (client *c = clients; c; c = c->next)
        if (c->pid == pid)
            DuplicateHandle(GetCurrentProcess(), c->proc, GetCurrentProcess(), &proc, 0, FALSE,
                            DUPLICATE_SAME_ACCESS);
    LeaveCriticalSection(&g_lock);
    if (!proc)
        return 0;
    WaitForSingleObject(proc, INFINITE);
    CloseHandle(proc);
    host_log("client %lu exited; releasing its handles", (unsigned long)pid);
    EnterCriticalSection(&g_lock);
    client **pp = &clients;
    while (*pp && (*pp)->pid != pid)
        pp = &(*pp)->next;
    client *c = *pp;
    if (c) {
        *pp = c->next;
        EnterCriticalSection(&sink_lock);
        for (sink *s = c->sinks; s;) {
            sink *n = s->next;
            closesocket(s->s);
            free(s);
            s = n;
        }
        LeaveCriticalSection(&sink_lock);
        CloseHandle(c->proc);
        free(c->hs);
        free(c->pipes);
        free(c);
    }
    hcs_client_gone(pid);
    LeaveCriticalSection(&g_lock);
    return 0;
}

/* ---- dispatch ---- */

typedef struct route {
    char op[48];
    handler_fn fn;
} route;
static route routes[160];
static size_t n_routes;

void host_register(const char *op, handler_fn fn)
{
    snprintf(routes[n_routes].op, sizeof routes[0].op, "%s", op);
    routes[n_routes++].fn = fn;
}

/* The wall clock in Unix seconds, to the microsecond. */
static double unix_now(void)
{
    FILETIME ft;
    GetSystemTimePreciseAsFileTime(&ft);
    ULONGLONG t = ((ULONGLONG)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    return (double)(t - 116444736000000000ULL) / 1e7; /* 100 ns ticks since 1601 */
}

static void journal_write(req *r, const char *op, double t0)
{
    sb b = {0};
    double t1 = unix_now();
    EnterCriticalSection(&journal_lock);
    long long seq = ++journal_seq;
    sb_addf(&b, "{\"seq\":%lld,\"ms\":%llu,\"t0\":%.6f,\"t1\":%.6f,\"pid\":%lu,\"call\":", seq,
            (unsigned long long)GetTickCount64(), t0, t1, (unsigned long)r->pid);
    sb_qstr(&b, op);
    sb_add(&b, ",\"id\":");
    sb_qstr(&b, r->journal_id);
    sb_add(&b, ",\"doc\":");
    sj *parsed = r->doc ? sj_parse(r->doc) : NULL;
    if (parsed)
        sb_json(&b, parsed);
    else
        sb_qstr(&b, r->doc);
    sj_free(parsed);
    sb_addf(&b, ",\"hr\":\"0x%08lx\"", (unsigned long)r->hr);
    if (r->note[0]) {
        sb_add(&b, ",\"note\":");
        sb_qstr(&b, r->note);
    }
    sb_add(&b, "}\n");
    if (journal) {
        fputs(b.p, journal);
        fflush(journal);
    }
    LeaveCriticalSection(&journal_lock);
    free(b.p);
}

static void control_stats(req *r);

static char *dispatch(sj *in, SOCKET s, int *keep_as_sink)
{
    req r = {.in = in};
    double t0 = unix_now();
    const char *op = sj_str(sj_get(in, "op"));
    r.pid = (DWORD)sj_int(sj_get(in, "pid"), 0);
    sb reply = {0};
    if (!op) {
        sb_addf(&reply, "{\"hr\":%ld}", (long)E_INVALIDARG);
        return sb_take(&reply);
    }
    if (strcmp(op, "events") == 0) {
        EnterCriticalSection(&g_lock);
        client *c = client_get(r.pid);
        sink *k = calloc(1, sizeof *k);
        k->s = s;
        EnterCriticalSection(&sink_lock);
        k->next = c->sinks;
        c->sinks = k;
        LeaveCriticalSection(&sink_lock);
        LeaveCriticalSection(&g_lock);
        *keep_as_sink = 1;
        return strdup("{\"hr\":0}");
    }
    if (strcmp(op, "_fault") == 0) {
        EnterCriticalSection(&g_lock);
        faults_set(sj_str(sj_get(in, "spec")));
        LeaveCriticalSection(&g_lock);
        return strdup("{\"hr\":0}");
    }
    if (strcmp(op, "_stats") == 0) {
        control_stats(&r);
        sb_addf(&reply, "{\"hr\":0%s}", r.out.p ? r.out.p : "");
        free(r.out.p);
        return sb_take(&reply);
    }
    if (strcmp(op, "_stop") == 0) {
        InterlockedExchange(&stopping, 1);
        closesocket(listener);
        return strdup("{\"hr\":0}");
    }
    handler_fn fn = NULL;
    for (size_t i = 0; i < n_routes && !fn; i++)
        if (strcmp(routes[i].op, op) == 0)
            fn = routes[i].fn;
    if (!fn) {
        host_log("no handler for %s", op);
        r.hr = E_NOTIMPL;
    } else {
        EnterCriticalSection(&g_lock);
        DWORD delay = fault_delay(op);
        LeaveCriticalSection(&g_lock);
        if (delay) {
            Sleep(delay);
            snprintf(r.note, sizeof r.note, "held %lu ms by WINSIM_FAIL", (unsigned long)delay);
        }
        EnterCriticalSection(&g_lock);
        client_get(r.pid);
        HRESULT inj = host_fault(op);
        if (fault_skip(op)) {
            snprintf(r.note, sizeof r.note, "skipped by WINSIM_FAIL: S_OK, nothing done");
            r.doc = sj_str(sj_get(in, "doc"));
            r.journal_id = xstrdup(sj_str(sj_get(in, "jid")));
        } else if (inj != S_OK) {
            r.hr = inj;
            snprintf(r.note, sizeof r.note, "failure injected by WINSIM_FAIL");
            r.doc = sj_str(sj_get(in, "doc"));
            r.journal_id = xstrdup(sj_str(sj_get(in, "jid")));
            char *re = result_error(inj, "winsim: failure injected for this call");
            sb_add(&r.out, ",\"result\":");
            sb_qstr(&r.out, re);
            free(re);
        } else {
            fn(&r); /* with g_lock held; a handler that waits releases it meanwhile */
        }
        LeaveCriticalSection(&g_lock);
    }
    journal_write(&r, op, t0);
    sb_addf(&reply, "{\"hr\":%ld%s}", (long)r.hr, r.out.p ? r.out.p : "");
    free(r.out.p);
    free(r.journal_id);
    return sb_take(&reply);
}

/* Reads lines from one connection and answers each. */
static DWORD WINAPI conn_main(void *arg)
{
    SOCKET s = (SOCKET)(ULONG_PTR)arg;
    sb line = {0};
    char buf[16384];
    int sinking = 0;
    for (;;) {
        int got = recv(s, buf, sizeof buf, 0);
        if (got <= 0)
            break;
        sb_addn(&line, buf, (size_t)got);
        char *nl;
        while (line.p && (nl = memchr(line.p, '\n', line.n)) != NULL) {
            *nl = '\0';
            sj *in = sj_parse(line.p);
            size_t used = (size_t)(nl - line.p) + 1;
            if (!in)
                host_log("unparsable request (%zu bytes): %.400s", strlen(line.p), line.p);
            char *reply = in ? dispatch(in, s, &sinking) : strdup("{\"hr\":-2147024809}");
            sj_free(in);
            size_t len = strlen(reply);
            send(s, reply, (int)len, 0);
            send(s, "\n", 1, 0);
            free(reply);
            memmove(line.p, line.p + used, line.n - used);
            line.n -= used;
            line.p[line.n] = '\0';
            if (sinking) {
                free(line.p);
                return 0; /* the socket now belongs to the event sinks */
            }
        }
    }
    free(line.p);
    closesocket(s);
    return 0;
}

/* ---- the tests' view: counters for leak checks ---- */

static void count_one(DWORD tid, void *ctx)
{
    (void)tid;
    ++*(size_t *)ctx;
}

static size_t thread_count(DWORD pid)
{
    size_t n = 0;
    host_each_thread(pid, count_one, &n);
    return n;
}

static void control_stats(req *r)
{
    EnterCriticalSection(&g_lock);
    sb_add(&r->out, ",\"clients\":[");
    int first = 1;
    for (client *c = clients; c; c = c->next) {
        size_t systems = 0, procs = 0, cbs = 0;
        for (size_t i = 0; i < c->n; i++) {
            systems += strcmp(c->hs[i].kind, "system") == 0;
            procs += strcmp(c->hs[i].kind, "process") == 0;
            cbs += c->hs[i].callback != 0;
        }
        sb_addf(&r->out,
                "%s{\"pid\":%lu,\"system_handles\":%zu,\"process_handles\":%zu,\"callbacks\":%zu,"
                "\"threads\":%zu,\"pipes_open\":%zu}",
                first ? "" : ",", (unsigned long)c->pid, systems, procs, cbs, thread_count(c->pid),
                pipes_open(c));
        first = 0;
    }
    sb_add(&r->out, "]");
    /* which objects the clients' process handles name (for a failing leak check) */
    sb_add(&r->out, ",\"process_handle_targets\":[");
    int firstp = 1;
    for (client *c = clients; c; c = c->next)
        for (size_t i = 0; i < c->n; i++)
            if (strcmp(c->hs[i].kind, "process") == 0) {
                sb_addf(&r->out, "%s\"%s\"", firstp ? "" : ",", hcs_describe(c->hs[i].obj));
                firstp = 0;
            }
    sb_add(&r->out, "]");
    hcs_stats(&r->out);
    storage_stats(&r->out);
    hcn_stats(&r->out);
    ccg_stats(&r->out);
    LeaveCriticalSection(&g_lock);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--root"))
            snprintf(g_root, sizeof g_root, "%s", argv[++i]);
    }
    if (!port || !g_root[0]) {
        fprintf(stderr, "usage: simhost --port N --root C:\\winsim\\session\n");
        return 2;
    }
    InitializeCriticalSection(&g_lock);
    InitializeCriticalSection(&journal_lock);
    InitializeCriticalSection(&sink_lock);
    CoInitializeEx(NULL, COINIT_MULTITHREADED);
    mkdirs(g_root);
    char path[MAX_PATH];
    snprintf(path, sizeof path, "%s\\journal.jsonl", g_root);
    journal = fopen(path, "ab");
    snprintf(path, sizeof path, "%s\\host.log", g_root);
    log_file = fopen(path, "ab");
    faults_set(getenv("WINSIM_FAIL"));
    hcs_register();
    storage_register();
    hcn_register();
    ccg_register();
    gaps_register();

    WSADATA wsa;
    WSAStartup(MAKEWORD(2, 2), &wsa);
    listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((u_short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 64) != 0) {
        fprintf(stderr, "simhost: cannot listen on 127.0.0.1:%d (%d)\n", port, WSAGetLastError());
        return 1;
    }
    host_log("winsim host listening on 127.0.0.1:%d root %s", port, g_root);
    printf("winsim host ready on %d\n", port);
    fflush(stdout);
    while (!stopping) {
        SOCKET s = accept(listener, NULL, NULL);
        if (s == INVALID_SOCKET)
            break;
        HANDLE t = CreateThread(NULL, 0, conn_main, (void *)(ULONG_PTR)s, 0, NULL);
        if (t)
            CloseHandle(t);
        else
            closesocket(s);
    }
    host_log("winsim host stopping");
    EnterCriticalSection(&g_lock);
    hcs_shutdown_all();
    LeaveCriticalSection(&g_lock);
    return 0;
}
