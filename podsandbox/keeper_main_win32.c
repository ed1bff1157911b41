/* The stdio keeper process on Windows (keeper_win32.h): a thread per connection, a logger
 * (logs_win32.c) per container, and a watch that ends the process once it is idle. */
#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <openssl/rand.h>
#include <sddl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/handle_win32.h"
#include "common/log.h"
#include "common/wstr_win32.h"
#include "common/xalloc.h"
#include "podsandbox/keeper_int_win32.h"
#include "podsandbox/keeper_win32.h"
#include "podsandbox/logger_win32.h"

#define IDLE_EXIT_MS 30000 /* nothing held and nobody connected this long: exit */
#define PIPE_BUF_SIZE 65536

typedef struct kentry {
    char id[65];
    HANDLE h[3]; /* stdin, stdout, stderr as wincrid handed them; NULL */
    pod_logger *logger;
} kentry;

typedef struct keeper {
    SRWLOCK mu; /* everything below */
    kentry **v;
    size_t n;
    int clients;
    int64_t idle_since_ns;
    char *name_file;
} keeper;

static keeper K = {.mu = SRWLOCK_INIT};

/* ---- entries ---- */

static kentry *find_locked(const char *id)
{
    for (size_t i = 0; i < K.n; i++)
        if (strcmp(K.v[i]->id, id) == 0)
            return K.v[i];
    return NULL;
}

static void close_handles(HANDLE h[3])
{
    for (int i = 0; i < 3; i++) {
        if (h[i])
            CloseHandle(h[i]);
        h[i] = NULL;
    }
}

static void entry_free(kentry *e)
{
    pod_logger_free_now(e->logger);
    close_handles(e->h);
    free(e);
}

static int valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n > 0 && n < sizeof((kentry *)0)->id && strspn(id, "0123456789abcdef") == n;
}

/* ---- operations: each fills reply or sets err ---- */

typedef struct kreq {
    const json_t *msg;
    const char *id;
    HANDLE peer; /* the client's process, for handles we give */
    json_t *reply;
} kreq;

static int op_add(kreq *r, wc_err *err)
{
    HANDLE h[3] = {pod_whandle_take(r->msg, "in"), pod_whandle_take(r->msg, "out"),
                   pod_whandle_take(r->msg, "err")};
    const char *log_path = json_string_value(json_object_get(r->msg, "log_path"));
    AcquireSRWLockExclusive(&K.mu);
    if (find_locked(r->id)) { /* handed again (a resync raced a start): the first stays */
        ReleaseSRWLockExclusive(&K.mu);
        close_handles(h);
        return 0;
    }
    /* The logger reads copies: ours stay for `get`. */
    int out = wc_fd_of_copy(h[1], _O_RDONLY), errfd = wc_fd_of_copy(h[2], _O_RDONLY);
    pod_logger *l = pod_logger_start(log_path && *log_path ? log_path : "NUL", out, errfd, err);
    if (!l) {
        ReleaseSRWLockExclusive(&K.mu);
        if (out >= 0)
            _close(out);
        if (errfd >= 0)
            _close(errfd);
        close_handles(h);
        return -1;
    }
    kentry *e = wc_xcalloc(1, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", r->id);
    memcpy(e->h, h, sizeof h);
    e->logger = l;
    K.v = wc_xrealloc(K.v, (K.n + 1) * sizeof *K.v);
    K.v[K.n++] = e;
    ReleaseSRWLockExclusive(&K.mu);
    wc_info("keeper", "holding a container's stdio", "container=%.12s log=\"%s\"", r->id,
            log_path ? log_path : "");
    return 0;
}

static int not_held(kreq *r, wc_err *err)
{
    return wc_err_set(err, WC_NOT_FOUND, "the keeper holds nothing for container %s", r->id);
}

static int op_get(kreq *r, wc_err *err)
{
    AcquireSRWLockShared(&K.mu);
    kentry *e = find_locked(r->id);
    if (e) {
        json_object_set_new(r->reply, "in", pod_whandle_give(r->peer, e->h[0]));
        json_object_set_new(r->reply, "out", pod_whandle_give(r->peer, e->h[1]));
        json_object_set_new(r->reply, "err", pod_whandle_give(r->peer, e->h[2]));
    }
    ReleaseSRWLockShared(&K.mu);
    return e ? 0 : not_held(r, err);
}

static int op_remove(kreq *r, wc_err *err)
{
    (void)err;
    kentry *e = NULL;
    AcquireSRWLockExclusive(&K.mu);
    for (size_t i = 0; i < K.n && !e; i++) {
        if (strcmp(K.v[i]->id, r->id) == 0) {
            e = K.v[i];
            K.v[i] = K.v[--K.n];
        }
    }
    ReleaseSRWLockExclusive(&K.mu);
    if (e) {
        entry_free(e);
        wc_info("keeper", "let go of a container", "container=%.12s", r->id);
    }
    return 0;
}

static int op_reopen(kreq *r, wc_err *err)
{
    AcquireSRWLockShared(&K.mu);
    kentry *e = find_locked(r->id);
    int rc = e ? pod_logger_reopen(e->logger, err) : not_held(r, err);
    ReleaseSRWLockShared(&K.mu);
    return rc;
}

static int op_close_stdin(kreq *r, wc_err *err)
{
    AcquireSRWLockExclusive(&K.mu);
    kentry *e = find_locked(r->id);
    if (e && e->h[0]) {
        CloseHandle(e->h[0]);
        e->h[0] = NULL;
    }
    ReleaseSRWLockExclusive(&K.mu);
    return e ? 0 : not_held(r, err);
}

/* A read end of ours given to the client, then closed here. */
static json_t *give_fd(HANDLE peer, int fd)
{
    if (fd < 0)
        return json_integer(0);
    json_t *v = pod_whandle_give(peer, (HANDLE)_get_osfhandle(fd));
    _close(fd);
    return v;
}

static int op_tap(kreq *r, wc_err *err)
{
    int want_out = json_is_true(json_object_get(r->msg, "out"));
    int want_err = json_is_true(json_object_get(r->msg, "err"));
    int out = -1, errfd = -1;
    pod_tap *t = NULL;
    AcquireSRWLockShared(&K.mu);
    kentry *e = find_locked(r->id);
    int rc =
        e ? pod_logger_tap(e->logger, want_out, want_err, &out, &errfd, &t, err) : not_held(r, err);
    ReleaseSRWLockShared(&K.mu);
    if (rc < 0)
        return -1;
    pod_tap_detach(t);
    json_object_set_new(r->reply, "out", give_fd(r->peer, out));
    json_object_set_new(r->reply, "err", give_fd(r->peer, errfd));
    return 0;
}

static int op_ended(kreq *r, wc_err *err)
{
    AcquireSRWLockShared(&K.mu);
    kentry *e = find_locked(r->id);
    if (e)
        json_object_set_new(r->reply, "ended", json_boolean(pod_logger_ended(e->logger)));
    ReleaseSRWLockShared(&K.mu);
    return e ? 0 : not_held(r, err);
}

static int op_list(kreq *r, wc_err *err)
{
    (void)err;
    json_t *ids = json_array();
    AcquireSRWLockShared(&K.mu);
    for (size_t i = 0; i < K.n; i++)
        json_array_append_new(ids, json_string(K.v[i]->id));
    ReleaseSRWLockShared(&K.mu);
    json_object_set_new(r->reply, "ids", ids);
    return 0;
}

typedef struct kop {
    const char *name;
    int (*run)(kreq *r, wc_err *err);
    int needs_id;
} kop;

static const kop OPS[] = {
    {"add", op_add, 1},       {"get", op_get, 1},   {"remove", op_remove, 1},
    {"reopen", op_reopen, 1}, {"tap", op_tap, 1},   {"close_stdin", op_close_stdin, 1},
    {"ended", op_ended, 1},   {"list", op_list, 0},
};

static json_t *dispatch(const json_t *msg, HANDLE peer)
{
    const char *op = json_string_value(json_object_get(msg, "op"));
    kreq r = {.msg = msg,
              .id = json_string_value(json_object_get(msg, "id")),
              .peer = peer,
              .reply = json_object()};
    wc_err err = {0};
    const kop *k = NULL;
    for (size_t i = 0; op && i < sizeof OPS / sizeof OPS[0] && !k; i++)
        if (strcmp(OPS[i].name, op) == 0)
            k = &OPS[i];
    int rc;
    if (!k)
        rc = wc_err_set(&err, WC_INVALID_ARGUMENT, "unknown keeper request \"%s\"", op ? op : "");
    else if (k->needs_id && !valid_id(r.id))
        rc = wc_err_set(&err, WC_INVALID_ARGUMENT, "keeper request %s: bad container id", op);
    else
        rc = k->run(&r, &err);
    json_object_set_new(r.reply, "ok", json_boolean(rc == 0));
    if (rc < 0) {
        json_object_set_new(r.reply, "error", json_string(err.msg));
        json_object_set_new(r.reply, "code", json_integer(err.code));
    }
    return r.reply;
}

/* ---- connections ---- */

/* hello: the client's process, for the handles we give it. The pipe says who connected; a
 * pid the client claims is used only where the pipe cannot say. */
static HANDLE hello(HANDLE pipe, const json_t *msg, json_t **reply)
{
    ULONG pid = 0;
    if (!GetNamedPipeClientProcessId(pipe, &pid) || !pid)
        pid = (ULONG)json_integer_value(json_object_get(msg, "pid"));
    HANDLE peer = OpenProcess(PROCESS_DUP_HANDLE, FALSE, pid);
    *reply = json_pack("{s:b,s:i,s:i}", "ok", peer != NULL, "version", POD_WKEEPER_VERSION, "pid",
                       (int)GetCurrentProcessId());
    if (!peer)
        wc_warn("keeper", "cannot open the client's process", "pid=%lu error=%lu", pid,
                GetLastError());
    return peer;
}

static void client_gone(void)
{
    AcquireSRWLockExclusive(&K.mu);
    K.clients--;
    K.idle_since_ns = wc_clock_monotonic_ns();
    ReleaseSRWLockExclusive(&K.mu);
}

static DWORD WINAPI serve(void *arg)
{
    HANDLE pipe = arg, peer = NULL;
    json_t *msg = NULL;
    while (pod_wmsg_recv(pipe, &msg) == 1) {
        const char *op = json_string_value(json_object_get(msg, "op"));
        json_t *reply = NULL;
        if (op && strcmp(op, "hello") == 0 && !peer)
            peer = hello(pipe, msg, &reply);
        else if (peer)
            reply = dispatch(msg, peer);
        json_decref(msg);
        int sent = reply && pod_wmsg_send(pipe, reply) == 0;
        json_decref(reply);
        if (!sent)
            break;
    }
    if (peer)
        CloseHandle(peer);
    DisconnectNamedPipe(pipe);
    CloseHandle(pipe);
    client_gone();
    return 0;
}

/* SYSTEM, Administrators and the keeper's own user (who may be an administrator running
 * wincrid by hand). */
static SECURITY_ATTRIBUTES *pipe_security(SECURITY_ATTRIBUTES *sa)
{
    HANDLE tok = NULL;
    char buf[256];
    DWORD n = 0;
    wchar_t *user = NULL, sddl[512];
    PSECURITY_DESCRIPTOR sd = NULL;
    if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok) &&
        GetTokenInformation(tok, TokenUser, buf, sizeof buf, &n))
        ConvertSidToStringSidW(((TOKEN_USER *)buf)->User.Sid, &user);
    if (tok)
        CloseHandle(tok);
    _snwprintf(sddl, sizeof sddl / sizeof sddl[0], L"D:P(A;;GA;;;SY)(A;;GA;;;BA)%ls%ls%ls",
               user ? L"(A;;GA;;;" : L"", user ? user : L"", user ? L")" : L"");
    LocalFree(user);
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL))
        return NULL;
    *sa = (SECURITY_ATTRIBUTES){sizeof *sa, sd, FALSE};
    return sa;
}

static HANDLE new_instance(const wchar_t *name, SECURITY_ATTRIBUTES *sa, int first)
{
    return CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
                            PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT |
                                PIPE_REJECT_REMOTE_CLIENTS,
                            PIPE_UNLIMITED_INSTANCES, PIPE_BUF_SIZE, PIPE_BUF_SIZE, 0, sa);
}

/* A name nobody can guess: found only through the state directory. */
static void random_name(char *out, size_t cap)
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof r) != 1)
        abort(); /* no randomness: nothing secure can be made */
    int n = snprintf(out, cap, "\\\\.\\pipe\\wincri-keeper-");
    for (size_t i = 0; i < sizeof r; i++)
        n += snprintf(out + n, cap - (size_t)n, "%02x", r[i]);
}

static DWORD WINAPI idle_watch(void *arg)
{
    (void)arg;
    for (;;) {
        Sleep(1000);
        AcquireSRWLockShared(&K.mu);
        int idle = K.n == 0 && K.clients == 0 &&
                   wc_clock_monotonic_ns() - K.idle_since_ns > IDLE_EXIT_MS * 1000000LL;
        ReleaseSRWLockShared(&K.mu);
        if (idle) {
            wc_info("keeper", "exiting: nothing held and nobody connected", "pid=%lu",
                    GetCurrentProcessId());
            DeleteFileA(K.name_file);
            ExitProcess(0);
        }
    }
    return 0;
}

static void accept_forever(const wchar_t *name, SECURITY_ATTRIBUTES *sa, HANDLE inst)
{
    while (inst != INVALID_HANDLE_VALUE) {
        if (ConnectNamedPipe(inst, NULL) || GetLastError() == ERROR_PIPE_CONNECTED) {
            AcquireSRWLockExclusive(&K.mu);
            K.clients++;
            ReleaseSRWLockExclusive(&K.mu);
            HANDLE t = CreateThread(NULL, 0, serve, inst, 0, NULL);
            if (t)
                CloseHandle(t);
            else
                serve(inst);
        } else {
            CloseHandle(inst);
        }
        inst = new_instance(name, sa, 0);
    }
    wc_error("keeper", "cannot make a pipe instance", "error=%lu", GetLastError());
}

/* The keeper's log: <state>\keeper\keeper.log (it has no console). */
static void log_to_file(const char *dir)
{
    char *path = wc_path_join(dir, "keeper.log");
    if (freopen(path, "ab", stderr))
        setvbuf(stderr, NULL, _IONBF, 0);
    free(path);
}

/* Makes the first instance and publishes its name; NULL when another keeper serves. */
static HANDLE publish(const char *dir, SECURITY_ATTRIBUTES *sa, wchar_t **wname, wc_err *err)
{
    char name[96];
    random_name(name, sizeof name);
    *wname = wc_utf8_to_utf16(name, err);
    HANDLE inst = *wname ? new_instance(*wname, sa, 1) : INVALID_HANDLE_VALUE;
    if (inst == INVALID_HANDLE_VALUE) {
        wc_err_set(err, WC_INTERNAL, "cannot create the keeper's pipe (Win32 error %lu)",
                   GetLastError());
        return NULL;
    }
    K.name_file = wc_path_join(dir, POD_WKEEPER_NAME_FILE);
    if (wc_write_file_atomic(K.name_file, name, strlen(name), 0600, err) < 0) {
        CloseHandle(inst);
        return NULL;
    }
    return inst;
}

int pod_wkeeper_main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    wc_err err = {0};
    char *dir = pod_wkeeper_path(argv[2], NULL);
    if (wc_mkdir_p(dir, 0700, &err) < 0)
        return 1;
    log_to_file(dir);
    char *lock_path = wc_path_join(dir, "lock");
    wc_lock *lock = NULL;
    int held = wc_lock_acquire(lock_path, &lock, &err);
    free(lock_path);
    if (held < 0) {
        wc_info("keeper", "another keeper serves this state directory", "dir=\"%s\"", dir);
        return 0;
    }
    SECURITY_ATTRIBUTES sa_buf, *sa = pipe_security(&sa_buf);
    wchar_t *wname = NULL;
    HANDLE first = publish(dir, sa, &wname, &err);
    if (!first) {
        wc_error("keeper", "cannot start", "error=\"%s\"", err.msg);
        return 1;
    }
    K.idle_since_ns = wc_clock_monotonic_ns();
    HANDLE watch = CreateThread(NULL, 0, idle_watch, NULL, 0, NULL);
    if (watch)
        CloseHandle(watch);
    wc_info("keeper", "serving", "pid=%lu dir=\"%s\"", GetCurrentProcessId(), dir);
    accept_forever(wname, sa, first);
    return 1;
}
