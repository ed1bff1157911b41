/* Windows front: a named pipe (\\.\pipe\NAME, only SYSTEM and Administrators may open it) or
 * a TCP listener; each client is relayed to gRPC core's loopback port by a thread of its own.
 *
 * Every read and write of a relay is overlapped (pipes with ReadFile/WriteFile, sockets with
 * WSARecv/WSASend), so one thread waits on all of them plus the front's kill event with
 * WaitForMultipleObjects, the way the Linux front polls. A new pipe instance is created as
 * soon as a client takes the listening one, so the next client finds one waiting. */
#include "cri/front_impl.h"

#include <winsock2.h>
#include <ws2tcpip.h>

#include <windows.h>

#include <sddl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/wstr_win32.h"
#include "common/xalloc.h"

#define RELAY_BUF (64 * 1024)
#define PIPE_BUF_SIZE (64 * 1024)
/* Only LocalSystem and the Administrators group; "P" keeps inherited ACEs out. */
#define PIPE_SDDL L"D:P(A;;GA;;;SY)(A;;GA;;;BA)"

struct cri_front_platform {
    int is_pipe;
    wchar_t *pipe_name;
    SECURITY_ATTRIBUTES sa;
    PSECURITY_DESCRIPTOR sd;
    HANDLE listening; /* the pipe instance waiting for a client */
    SOCKET listen_sock;
    HANDLE stop_ev; /* stops the accept loop */
    HANDLE kill_ev; /* manual reset: every relay stops */
    HANDLE accept_thread;
    int accepting;
    int wsa_started;
    SRWLOCK mu;
    CONDITION_VARIABLE none_left;
    int relays;
};

/* ---- endpoints: a pipe instance or a socket, both overlapped ---------------------------- */

typedef struct end {
    int is_pipe;
    HANDLE pipe;
    SOCKET sock;
} end;

enum { IO_PENDING = 0, IO_EOF = 1, IO_BROKEN = -1 };

static int pipe_gone(DWORD e)
{
    return e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED || e == ERROR_NO_DATA;
}

static int end_start(end *e, int write, OVERLAPPED *ov, char *buf, DWORD len)
{
    ResetEvent(ov->hEvent);
    if (e->is_pipe) {
        BOOL ok =
            write ? WriteFile(e->pipe, buf, len, NULL, ov) : ReadFile(e->pipe, buf, len, NULL, ov);
        DWORD err = ok ? 0 : GetLastError();
        if (ok || err == ERROR_IO_PENDING)
            return IO_PENDING;
        return pipe_gone(err) ? IO_EOF : IO_BROKEN;
    }
    WSABUF wb = {.len = len, .buf = buf};
    DWORD flags = 0;
    int rc = write ? WSASend(e->sock, &wb, 1, NULL, 0, ov, NULL)
                   : WSARecv(e->sock, &wb, 1, NULL, &flags, ov, NULL);
    if (rc == 0 || WSAGetLastError() == WSA_IO_PENDING)
        return IO_PENDING;
    return IO_BROKEN;
}

/* The outcome of a completed operation: 0 with *n bytes, IO_EOF, or IO_BROKEN. A read of
 * zero bytes is the end of a socket stream; a pipe ends with ERROR_BROKEN_PIPE. */
static int end_result(end *e, int write, OVERLAPPED *ov, DWORD *n)
{
    *n = 0;
    if (e->is_pipe) {
        if (GetOverlappedResult(e->pipe, ov, n, FALSE))
            return 0;
        return pipe_gone(GetLastError()) ? IO_EOF : IO_BROKEN;
    }
    DWORD flags = 0;
    if (!WSAGetOverlappedResult(e->sock, ov, n, FALSE, &flags))
        return IO_BROKEN;
    return (!write && *n == 0) ? IO_EOF : 0;
}

/* Waits out an operation still in flight before its buffer and event go away. */
static void end_cancel(end *e, OVERLAPPED *ov)
{
    DWORD n = 0, flags = 0;
    if (e->is_pipe) {
        CancelIoEx(e->pipe, ov);
        GetOverlappedResult(e->pipe, ov, &n, TRUE);
    } else {
        CancelIoEx((HANDLE)e->sock, ov);
        WSAGetOverlappedResult(e->sock, ov, &n, TRUE, &flags);
    }
}

static void end_close(end *e)
{
    if (e->is_pipe)
        CloseHandle(e->pipe);
    else
        closesocket(e->sock);
}

/* ---- the relay ----------------------------------------------------------------------- */

typedef struct flow {
    end *from, *to;
    char buf[RELAY_BUF];
    DWORD off, len;
    OVERLAPPED rd, wr;
    int reading, writing;
    int eof;  /* the source said it is done */
    int shut; /* the half-close reached the destination */
} flow;

typedef struct relay {
    cri_front *front;
    end client, upstream;
    int local_port;
    flow up, down; /* client -> gRPC core, gRPC core -> client */
} relay;

static int flow_init(flow *f, end *from, end *to)
{
    f->from = from;
    f->to = to;
    f->rd.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    f->wr.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    return f->rd.hEvent && f->wr.hEvent ? 0 : -1;
}

static void flow_release(flow *f)
{
    if (f->reading)
        end_cancel(f->from, &f->rd);
    if (f->writing)
        end_cancel(f->to, &f->wr);
    if (f->rd.hEvent)
        CloseHandle(f->rd.hEvent);
    if (f->wr.hEvent)
        CloseHandle(f->wr.hEvent);
}

/* Starts whatever the flow can do now; returns -1 on a broken connection. */
static int flow_kick(flow *f)
{
    if (!f->reading && !f->eof && f->len == 0) {
        int r = end_start(f->from, 0, &f->rd, f->buf, sizeof f->buf);
        if (r == IO_BROKEN)
            return -1;
        f->eof = r == IO_EOF;
        f->reading = r == IO_PENDING;
    }
    if (!f->writing && f->len > 0) {
        int r = end_start(f->to, 1, &f->wr, f->buf + f->off, f->len);
        if (r != IO_PENDING)
            return -1;
        f->writing = 1;
    }
    if (f->eof && f->len == 0 && !f->shut) {
        /* A socket can half-close; a pipe cannot, so its end is closing the relay. */
        if (!f->to->is_pipe)
            shutdown(f->to->sock, SD_SEND);
        f->shut = 1;
    }
    return 0;
}

static int flow_read_done(flow *f)
{
    DWORD n;
    int r = end_result(f->from, 0, &f->rd, &n);
    f->reading = 0;
    if (r == IO_BROKEN)
        return -1;
    f->eof = r == IO_EOF;
    f->off = 0;
    f->len = n;
    return 0;
}

static int flow_write_done(flow *f)
{
    DWORD n;
    int r = end_result(f->to, 1, &f->wr, &n);
    f->writing = 0;
    if (r != 0)
        return -1;
    f->off += n;
    f->len -= n;
    if (f->len == 0)
        f->off = 0;
    return 0;
}

/* The relay is over when both directions are shut, or, for a pipe client (no half-close),
 * when either one is. */
static int relay_done(const relay *r)
{
    if (r->client.is_pipe)
        return r->up.shut || r->down.shut;
    return r->up.shut && r->down.shut;
}

static void relay_loop(relay *r, HANDLE kill_ev)
{
    flow *flows[2] = {&r->up, &r->down};
    for (;;) {
        if (flow_kick(&r->up) < 0 || flow_kick(&r->down) < 0 || relay_done(r))
            return;
        HANDLE h[5];
        OVERLAPPED *which[5];
        flow *owner[5];
        DWORD n = 0;
        h[n++] = kill_ev;
        for (int i = 0; i < 2; i++) {
            if (flows[i]->reading) {
                owner[n] = flows[i];
                which[n] = &flows[i]->rd;
                h[n++] = flows[i]->rd.hEvent;
            }
            if (flows[i]->writing) {
                owner[n] = flows[i];
                which[n] = &flows[i]->wr;
                h[n++] = flows[i]->wr.hEvent;
            }
        }
        DWORD w = WaitForMultipleObjects(n, h, FALSE, INFINITE);
        if (w == WAIT_OBJECT_0 || w >= WAIT_OBJECT_0 + n)
            return;
        flow *f = owner[w - WAIT_OBJECT_0];
        int rc = which[w - WAIT_OBJECT_0] == &f->rd ? flow_read_done(f) : flow_write_done(f);
        if (rc < 0)
            return;
    }
}

static DWORD WINAPI relay_main(void *arg)
{
    relay *r = arg;
    cri_front_platform *pl = r->front->plat;
    relay_loop(r, pl->kill_ev);
    flow_release(&r->up);
    flow_release(&r->down);
    cri_front_port_remove(r->front, r->local_port);
    end_close(&r->client);
    end_close(&r->upstream);
    free(r);
    AcquireSRWLockExclusive(&pl->mu);
    if (--pl->relays == 0)
        WakeAllConditionVariable(&pl->none_left);
    ReleaseSRWLockExclusive(&pl->mu);
    return 0;
}

/* Connects to gRPC core; the local port is what identifies this connection to the server. */
static SOCKET connect_upstream(int internal_port, int *local_port)
{
    SOCKET s = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET)
        return s;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((u_short)internal_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_in me;
    int len = sizeof me;
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(s, (struct sockaddr *)&me, &len) != 0) {
        closesocket(s);
        return INVALID_SOCKET;
    }
    *local_port = ntohs(me.sin_port);
    BOOL one = TRUE;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
    return s;
}

/* Takes ownership of the client end; on failure it is closed. */
static void start_relay(cri_front *f, end client)
{
    relay *r = wc_xcalloc(1, sizeof *r);
    r->front = f;
    r->client = client;
    r->upstream.sock = connect_upstream(f->internal_port, &r->local_port);
    if (r->upstream.sock == INVALID_SOCKET) {
        wc_error("cri", "front cannot reach gRPC core", "port=%d wsa_error=%d", f->internal_port,
                 WSAGetLastError());
        end_close(&client);
        free(r);
        return;
    }
    if (flow_init(&r->up, &r->client, &r->upstream) < 0 ||
        flow_init(&r->down, &r->upstream, &r->client) < 0) {
        flow_release(&r->up);
        flow_release(&r->down);
        end_close(&r->client);
        end_close(&r->upstream);
        free(r);
        return;
    }
    /* Registered before any client byte is relayed, so the first call already passes. */
    cri_front_port_add(f, r->local_port);
    cri_front_platform *pl = f->plat;
    AcquireSRWLockExclusive(&pl->mu);
    pl->relays++;
    ReleaseSRWLockExclusive(&pl->mu);
    HANDLE t = CreateThread(NULL, 0, relay_main, r, 0, NULL);
    if (t)
        CloseHandle(t);
    else
        relay_main(r);
}

/* ---- named pipe listener ------------------------------------------------------------- */

static HANDLE new_instance(cri_front_platform *pl, int first)
{
    DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    /* The first instance must be ours: another process owning the name is refused. */
    if (first)
        open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    return CreateNamedPipeW(pl->pipe_name, open_mode,
                            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                                PIPE_REJECT_REMOTE_CLIENTS,
                            PIPE_UNLIMITED_INSTANCES, PIPE_BUF_SIZE, PIPE_BUF_SIZE, 0, &pl->sa);
}

/* Waits for a client on the listening instance: 1 connected, 0 stop asked, -1 failed. */
static int wait_client(cri_front_platform *pl, OVERLAPPED *ov)
{
    ResetEvent(ov->hEvent);
    if (ConnectNamedPipe(pl->listening, ov))
        return 1;
    DWORD e = GetLastError();
    if (e == ERROR_PIPE_CONNECTED)
        return 1;
    if (e != ERROR_IO_PENDING)
        return -1;
    HANDLE h[2] = {pl->stop_ev, ov->hEvent};
    DWORD w = WaitForMultipleObjects(2, h, FALSE, INFINITE);
    DWORD n;
    if (w == WAIT_OBJECT_0 + 1)
        return GetOverlappedResult(pl->listening, ov, &n, FALSE) ? 1 : -1;
    CancelIoEx(pl->listening, ov);
    GetOverlappedResult(pl->listening, ov, &n, TRUE);
    return 0;
}

static DWORD WINAPI pipe_accept_main(void *arg)
{
    cri_front *f = arg;
    cri_front_platform *pl = f->plat;
    OVERLAPPED ov = {0};
    ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    while (ov.hEvent) {
        int c = wait_client(pl, &ov);
        if (c == 0)
            break;
        if (c < 0) {
            /* A client that came and went before the connect finished: recycle the instance. */
            if (DisconnectNamedPipe(pl->listening))
                continue;
            wc_error("cri", "named-pipe listener failed; no new clients", "pipe=%ls error=%lu",
                     pl->pipe_name, GetLastError());
            break;
        }
        end client = {.is_pipe = 1, .pipe = pl->listening, .sock = INVALID_SOCKET};
        pl->listening = new_instance(pl, 0);
        if (pl->listening == INVALID_HANDLE_VALUE)
            wc_error("cri", "cannot create the next named-pipe instance; no new clients",
                     "pipe=%ls error=%lu", pl->pipe_name, GetLastError());
        start_relay(f, client);
        if (pl->listening == INVALID_HANDLE_VALUE)
            break;
    }
    if (ov.hEvent)
        CloseHandle(ov.hEvent);
    return 0;
}

static int listen_pipe(cri_front *f, cri_front_platform *pl, wc_err *err)
{
    pl->pipe_name = wc_utf8_to_utf16(f->ep.address, NULL);
    if (!pl->pipe_name)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "pipe name %s is not valid UTF-8",
                          f->ep.address);
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(PIPE_SDDL, SDDL_REVISION_1, &pl->sd,
                                                              NULL))
        return wc_err_set(err, WC_INTERNAL,
                          "cannot build the pipe's security descriptor (Win32 error %lu)",
                          GetLastError());
    pl->sa.nLength = sizeof pl->sa;
    pl->sa.lpSecurityDescriptor = pl->sd;
    pl->sa.bInheritHandle = FALSE;
    pl->listening = new_instance(pl, 1);
    if (pl->listening == INVALID_HANDLE_VALUE) {
        DWORD e = GetLastError();
        wc_err_set(err, e == ERROR_ACCESS_DENIED ? WC_FAILED_PRECONDITION : WC_UNAVAILABLE,
                   "cannot create named pipe %s (Win32 error %lu)%s", f->ep.address, e,
                   e == ERROR_ACCESS_DENIED ? ": another process already serves this pipe" : "");
        err->sys = (long)e;
        return -1;
    }
    return 0;
}

/* ---- TCP listener -------------------------------------------------------------------- */

static int listen_tcp(const cri_endpoint *ep, cri_front_platform *pl, wc_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", ep->port);
    int gai = getaddrinfo(ep->address, port, &hints, &res);
    if (gai != 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "cannot resolve listen address %s (error %d)",
                          ep->address, gai);
    SOCKET s = WSASocketW(res->ai_family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    /* Exclusive: on Windows SO_REUSEADDR would let another process take the port over. */
    BOOL one = TRUE;
    if (s != INVALID_SOCKET)
        setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof one);
    if (s == INVALID_SOCKET || bind(s, res->ai_addr, (int)res->ai_addrlen) != 0 ||
        listen(s, 128) != 0) {
        int e = WSAGetLastError();
        if (s != INVALID_SOCKET)
            closesocket(s);
        freeaddrinfo(res);
        wc_err_set(err, WC_UNAVAILABLE, "cannot listen on tcp://%s:%d (WSA error %d)", ep->address,
                   ep->port, e);
        err->sys = e;
        return -1;
    }
    freeaddrinfo(res);
    pl->listen_sock = s;
    return 0;
}

/* An accepted socket inherits the listener's event selection and non-blocking mode. */
static void plain_socket(SOCKET s)
{
    WSAEventSelect(s, NULL, 0);
    u_long off = 0;
    ioctlsocket(s, FIONBIO, &off);
    BOOL one = TRUE;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
}

static DWORD WINAPI tcp_accept_main(void *arg)
{
    cri_front *f = arg;
    cri_front_platform *pl = f->plat;
    HANDLE ev = WSACreateEvent();
    if (ev == WSA_INVALID_EVENT || WSAEventSelect(pl->listen_sock, ev, FD_ACCEPT) != 0) {
        wc_error("cri", "cannot watch the TCP listener", "wsa_error=%d", WSAGetLastError());
        return 0;
    }
    HANDLE h[2] = {pl->stop_ev, ev};
    while (WaitForMultipleObjects(2, h, FALSE, INFINITE) == WAIT_OBJECT_0 + 1) {
        WSANETWORKEVENTS ne;
        WSAEnumNetworkEvents(pl->listen_sock, ev, &ne);
        for (;;) {
            SOCKET c = accept(pl->listen_sock, NULL, NULL);
            if (c == INVALID_SOCKET)
                break; /* WSAEWOULDBLOCK: wait for the next FD_ACCEPT */
            plain_socket(c);
            end client = {.is_pipe = 0, .pipe = NULL, .sock = c};
            start_relay(f, client);
        }
    }
    WSACloseEvent(ev);
    return 0;
}

/* ---- the platform contract (cri/front_impl.h) ---------------------------------------- */

static void platform_release(cri_front_platform *pl)
{
    if (pl->listening && pl->listening != INVALID_HANDLE_VALUE)
        CloseHandle(pl->listening);
    if (pl->listen_sock != INVALID_SOCKET)
        closesocket(pl->listen_sock);
    if (pl->sd)
        LocalFree(pl->sd);
    free(pl->pipe_name);
    if (pl->stop_ev)
        CloseHandle(pl->stop_ev);
    if (pl->kill_ev)
        CloseHandle(pl->kill_ev);
    if (pl->wsa_started)
        WSACleanup();
    free(pl);
}

int cri_front_platform_start(cri_front *f, wc_err *err)
{
    if (f->ep.kind == CRI_EP_UNIX)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "unix:// endpoints are not served on Windows; use npipe:// or tcp://");
    cri_front_platform *pl = wc_xcalloc(1, sizeof *pl);
    pl->listen_sock = INVALID_SOCKET;
    pl->is_pipe = f->ep.kind == CRI_EP_NPIPE;
    InitializeSRWLock(&pl->mu);
    InitializeConditionVariable(&pl->none_left);
    WSADATA wsa;
    pl->wsa_started = WSAStartup(MAKEWORD(2, 2), &wsa) == 0;
    pl->stop_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    pl->kill_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    int rc = 0;
    if (!pl->wsa_started || !pl->stop_ev || !pl->kill_ev)
        rc = wc_err_set(err, WC_INTERNAL, "front: cannot initialise winsock or events");
    else
        rc = pl->is_pipe ? listen_pipe(f, pl, err) : listen_tcp(&f->ep, pl, err);
    if (rc == 0) {
        f->plat = pl;
        pl->accept_thread =
            CreateThread(NULL, 0, pl->is_pipe ? pipe_accept_main : tcp_accept_main, f, 0, NULL);
        if (!pl->accept_thread) {
            f->plat = NULL;
            rc = wc_err_set(err, WC_INTERNAL, "front: cannot start the accept thread (error %lu)",
                            GetLastError());
        }
    }
    if (rc != 0) {
        platform_release(pl);
        return -1;
    }
    pl->accepting = 1;
    return 0;
}

void cri_front_platform_stop_accepting(cri_front *f)
{
    cri_front_platform *pl = f->plat;
    if (!pl || !pl->accepting)
        return;
    pl->accepting = 0;
    SetEvent(pl->stop_ev);
    WaitForSingleObject(pl->accept_thread, INFINITE);
    CloseHandle(pl->accept_thread);
    pl->accept_thread = NULL;
    /* With no instance waiting, new clients get ERROR_PIPE_BUSY (or, once every connection
     * is gone too, ERROR_FILE_NOT_FOUND). */
    if (pl->listening && pl->listening != INVALID_HANDLE_VALUE)
        CloseHandle(pl->listening);
    pl->listening = NULL;
    if (pl->listen_sock != INVALID_SOCKET)
        closesocket(pl->listen_sock);
    pl->listen_sock = INVALID_SOCKET;
}

void cri_front_platform_free(cri_front *f)
{
    cri_front_platform *pl = f->plat;
    if (!pl)
        return;
    cri_front_platform_stop_accepting(f);
    SetEvent(pl->kill_ev);
    AcquireSRWLockExclusive(&pl->mu);
    while (pl->relays > 0)
        SleepConditionVariableSRW(&pl->none_left, &pl->mu, INFINITE, 0);
    ReleaseSRWLockExclusive(&pl->mu);
    platform_release(pl);
    f->plat = NULL;
}
