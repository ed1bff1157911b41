/* TEST SCAFFOLDING, not product code: the Windows build of the streaming test server, run
 * under wine. The streaming server (cri/streaming*.c with streaming_win32.c) gets a
 * stand-in backend made of Windows process and pipe APIs: "exec" starts the command with
 * CreateProcess and anonymous pipes as its std handles; port forwarding connects a winsock
 * socket to 127.0.0.1:PORT. Attach and TTY are not part of this backend.
 *
 * Control: one JSON request per line on stdin, answered by one JSON line on stdout, as the
 * Linux stream_testd does ({"url":...} or {"error":...,"code":N}); the first line is
 * {"base":URL,"pid":PID}. Options: --ttl-ms N, --port N, --tls-cert F, --tls-key F.
 *
 * Helper modes, so the tests need nothing from wine's own programs: `--cat` copies stdin to
 * stdout; `--exit N` prints "x" and exits with N. */
#include <winsock2.h>
#include <ws2tcpip.h>

#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri/streaming.h"
#include "hcs/winstr.h"

struct cri_stream_proc {
    HANDLE process;
};

/* Keeps one CreateProcess at a time, so a child inherits only its own pipe ends. */
static CRITICAL_SECTION spawn_lock;

static HANDLE open_nul(void)
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    return CreateFileA("NUL", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                       OPEN_EXISTING, 0, NULL);
}

/* A pipe whose child end is inheritable; *ours gets a CRT descriptor of the other end. */
static int child_pipe(int child_reads, HANDLE *child, int *ours)
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE r, w;
    if (!CreatePipe(&r, &w, &sa, 0))
        return -1;
    HANDLE mine = child_reads ? w : r;
    *child = child_reads ? r : w;
    SetHandleInformation(mine, HANDLE_FLAG_INHERIT, 0);
    *ours = _open_osfhandle((intptr_t)mine, (child_reads ? _O_WRONLY : _O_RDONLY) | _O_BINARY);
    return 0;
}

static void close_child_ends(HANDLE h[3])
{
    for (int i = 0; i < 3; i++)
        if (h[i] && h[i] != INVALID_HANDLE_VALUE)
            CloseHandle(h[i]);
}

/* Starts cmd with std handles h (inheritable); returns the process handle or NULL. */
static HANDLE spawn(const char *const *cmd, size_t n, HANDLE h[3])
{
    char *line = hcs_argv_join(cmd, n);
    STARTUPINFOA si = {.cb = sizeof si, .dwFlags = STARTF_USESTDHANDLES};
    si.hStdInput = h[0];
    si.hStdOutput = h[1];
    si.hStdError = h[2];
    PROCESS_INFORMATION pi = {0};
    BOOL ok = line &&
              CreateProcessA(NULL, line, NULL, NULL, TRUE, CREATE_NO_WINDOW, NULL, NULL, &si, &pi);
    free(line);
    if (!ok)
        return NULL;
    CloseHandle(pi.hThread);
    return pi.hProcess;
}

static int tb_exec(void *ctx, const char *id, const char *const *cmd, size_t n, int tty,
                   int want_in, int want_out, int want_err, cri_stream_io *io,
                   cri_stream_proc **proc, wc_err *err)
{
    io->in = io->out = io->err = -1;
    HANDLE h[3] = {0};
    int *ours[3] = {&io->in, &io->out, &io->err};
    int want[3] = {want_in, want_out, want_err && !tty};
    EnterCriticalSection(&spawn_lock);
    for (int i = 0; i < 3; i++)
        if (!want[i])
            h[i] = open_nul();
        else
            child_pipe(i == 0, &h[i], ours[i]);
    HANDLE p = spawn(cmd, n, h);
    DWORD why = GetLastError();
    close_child_ends(h);
    LeaveCriticalSection(&spawn_lock);
    if (!p) {
        for (int i = 0; i < 3; i++)
            if (*ours[i] >= 0)
                _close(*ours[i]);
        io->in = io->out = io->err = -1;
        return wc_err_sys(err, WC_INTERNAL, (int)why, "CreateProcess %s", n ? cmd[0] : "");
    }
    *proc = calloc(1, sizeof **proc);
    (*proc)->process = p;
    return 0;
}

static int tb_attach(void *ctx, const char *id, int tty, int want_in, int want_out, int want_err,
                     cri_stream_io *io, cri_stream_proc **proc, wc_err *err)
{
    return wc_err_set(err, WC_UNIMPLEMENTED, "attach is not part of the wine test backend");
}

static int tb_wait(cri_stream_proc *p, int *code)
{
    DWORD rc = 0;
    if (WaitForSingleObject(p->process, INFINITE) != WAIT_OBJECT_0 ||
        !GetExitCodeProcess(p->process, &rc))
        return -1;
    *code = (int)rc;
    return 0;
}

static void tb_kill(cri_stream_proc *p)
{
    TerminateProcess(p->process, 137);
}

static void tb_release(cri_stream_proc *p)
{
    CloseHandle(p->process);
    free(p);
}

static int tb_port_forward(void *ctx, const char *sandbox, int port, int *fd, wc_err *err)
{
    *fd = -1;
    SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_NO_HANDLE_INHERIT);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((u_short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s == INVALID_SOCKET || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = WSAGetLastError();
        if (s != INVALID_SOCKET)
            closesocket(s);
        return wc_err_set(err, WC_UNAVAILABLE, "connect to 127.0.0.1:%d: winsock error %d", port,
                          e);
    }
    *fd = _open_osfhandle((intptr_t)s, _O_BINARY);
    return 0;
}

/* ---- helper modes ---- */

static int cat_main(void)
{
    /* _read/_write, not stdio: each piece goes on as it comes, with no CRLF translation. */
    _setmode(0, _O_BINARY);
    _setmode(1, _O_BINARY);
    char buf[4096];
    int n;
    while ((n = _read(0, buf, sizeof buf)) > 0)
        if (_write(1, buf, (unsigned)n) != n)
            return 1;
    return 0;
}

/* ---- control loop ---- */

static void reply(json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT);
    fprintf(stdout, "%s\n", t);
    fflush(stdout);
    free(t);
    json_decref(j);
}

static cri_stream_kind kind_of(const char *k)
{
    if (k && strcmp(k, "portforward") == 0)
        return CRI_STREAM_PORTFORWARD;
    return k && strcmp(k, "attach") == 0 ? CRI_STREAM_ATTACH : CRI_STREAM_EXEC;
}

static void serve_request(cri_streaming *srv, json_t *in)
{
    const char *args[64];
    int ports[16];
    cri_stream_request r = {.kind = kind_of(json_string_value(json_object_get(in, "kind"))),
                            .id = json_string_value(json_object_get(in, "id")),
                            .tty = json_is_true(json_object_get(in, "tty")),
                            .want_stdin = json_is_true(json_object_get(in, "stdin")),
                            .want_stdout = json_is_true(json_object_get(in, "stdout")),
                            .want_stderr = json_is_true(json_object_get(in, "stderr")),
                            .cmd = args,
                            .ports = ports};
    json_t *cmd = json_object_get(in, "cmd"), *pv = json_object_get(in, "ports");
    for (; r.n_cmd < json_array_size(cmd) && r.n_cmd < 64; r.n_cmd++)
        args[r.n_cmd] = json_string_value(json_array_get(cmd, r.n_cmd));
    for (; r.n_ports < json_array_size(pv) && r.n_ports < 16; r.n_ports++)
        ports[r.n_ports] = (int)json_integer_value(json_array_get(pv, r.n_ports));
    char *url = NULL;
    wc_err e = {0};
    if (cri_streaming_url(srv, &r, &url, &e) == 0)
        reply(json_pack("{s:s}", "url", url));
    else
        reply(json_pack("{s:s,s:i}", "error", e.msg, "code", e.code));
    free(url);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--cat") == 0)
        return cat_main();
    if (argc > 2 && strcmp(argv[1], "--exit") == 0) {
        printf("x\n");
        return atoi(argv[2]);
    }
    cri_streaming_opts o = {0};
    for (int i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--ttl-ms") == 0)
            o.token_ttl_ms = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--port") == 0)
            o.port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--tls-cert") == 0)
            o.tls_cert = argv[i + 1];
        else if (strcmp(argv[i], "--tls-key") == 0)
            o.tls_key = argv[i + 1];
    InitializeCriticalSection(&spawn_lock);
    WSADATA wsa;
    WSAStartup(MAKEWORD(2, 2), &wsa);
    cri_stream_backend be = {.exec = tb_exec,
                             .attach = tb_attach,
                             .wait = tb_wait,
                             .kill = tb_kill,
                             .release = tb_release,
                             .port_forward = tb_port_forward};
    cri_streaming *srv;
    wc_err e = {0};
    if (cri_streaming_start_opts(&o, &be, &srv, &e) < 0) {
        fprintf(stderr, "stream_testd: %s\n", e.msg);
        return 1;
    }
    reply(json_pack("{s:s,s:i}", "base", cri_streaming_base_url(srv), "pid",
                    (int)GetCurrentProcessId()));
    char line[65536];
    while (fgets(line, sizeof line, stdin)) {
        json_t *in = json_loads(line, 0, NULL);
        if (in)
            serve_request(srv, in);
        else
            reply(json_pack("{s:s,s:i}", "error", "bad json", "code", 3));
        json_decref(in);
    }
    cri_streaming_stop(srv);
    return 0;
}
