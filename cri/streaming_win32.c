/* The streaming server's Windows layer: a winsock listener thread, one thread per connection
 * driving the shared protocol engine (streaming_session.c) over the client socket (optionally
 * TLS through OpenSSL), the session's CRT descriptors and a waiter thread per process.
 *
 * select() only takes sockets, and anonymous pipes cannot be waited on for readability, so
 * the loop waits on the sockets with a short timeout while pipes are in play and looks at
 * each pipe without blocking: PeekNamedPipe before reading, PIPE_NOWAIT before writing.
 * Descriptors are CRT descriptors as the engine expects: pipe HANDLEs, or winsock SOCKETs
 * (port forwarding, slot->is_socket) wrapped by _open_osfhandle. */
#define FD_SETSIZE 1024 /* winsock's default of 64 is too few for many forwarded streams */
#include <winsock2.h>
#include <ws2tcpip.h>

#include <windows.h>

#include <io.h>
#include <limits.h>
#include <stdarg.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "cri/streaming_impl.h"
#include "cri/streaming_tls.h"

#define IDLE_MS 200 /* only sockets to watch: select() wakes on them */
#define PIPE_MS 5   /* pipes or a process to watch: how often they are looked at */
#define TLS_HANDSHAKE_MS 10000
#define IO_CHUNK 65536

typedef struct conn conn;

struct cri_listener {
    cri_streaming *srv;
    SOCKET fd;
    volatile LONG stopping;
    SSL_CTX *tls;
    HANDLE thread;
    CRITICAL_SECTION lock; /* guards conns */
    conn *conns;
    int wsa;
};

struct conn {
    cri_listener *l;
    SOCKET fd;
    SSL *ssl;
    HANDLE thread;
    volatile LONG finished;
    conn *next;
};

/* The process waiter: wait() blocks, so it runs on a thread whose handle, signalled when it
 * returns, is what the connection loop checks. */
typedef struct waiter {
    const cri_stream_backend *be;
    cri_stream_proc *proc;
    int rc, code;
    HANDLE thread;
    int reported;
} waiter;

static SOCKET fd_socket(int fd)
{
    return (SOCKET)_get_osfhandle(fd);
}

void cri_plat_close(int fd)
{
    if (fd < 0)
        return;
    /* One close only, through the CRT that owns the descriptor (the documented way for one
     * from _open_osfhandle; a socket handle is a kernel handle). closesocket followed by
     * _close closed the handle value twice: another thread could be given that value in
     * between (a new socket, a pipe) and lose it to the second close; the gRPC front's
     * connections did, and the simulated host's suite failed or stalled after a port-forward. */
    _close(fd);
}

int cri_plat_shutdown_wr(int fd)
{
    return shutdown(fd_socket(fd), SD_SEND) == 0 ? 0 : -1;
}

static void set_nonblock(SOCKET s)
{
    u_long on = 1;
    ioctlsocket(s, FIONBIO, &on);
}

static int would_block(void)
{
    int e = WSAGetLastError();
    return e == WSAEWOULDBLOCK || e == WSAEINTR;
}

/* ---- the process waiter ---- */

static DWORD WINAPI waiter_main(void *arg)
{
    waiter *w = arg;
    w->rc = w->be->wait(w->proc, &w->code);
    return 0;
}

static int waiter_start(waiter *w, const cri_stream_backend *be, cri_stream_proc *p)
{
    w->be = be;
    w->proc = p;
    w->thread = CreateThread(NULL, 0, waiter_main, w, 0, NULL);
    return w->thread ? 0 : -1;
}

static int waiter_exited(const waiter *w)
{
    return w->thread && !w->reported && WaitForSingleObject(w->thread, 0) == WAIT_OBJECT_0;
}

/* Ends the process if it still runs, waits for the waiter, frees the process. */
static void waiter_finish(waiter *w)
{
    if (!w->thread)
        return;
    if (!w->reported && WaitForSingleObject(w->thread, 0) != WAIT_OBJECT_0)
        w->be->kill(w->proc);
    WaitForSingleObject(w->thread, INFINITE);
    CloseHandle(w->thread);
    w->thread = NULL;
    w->be->release(w->proc);
}

/* ---- client socket I/O, plain or TLS: >0 bytes, 0 would block, -1 gone ---- */

static long tls_result(SSL *ssl, int r)
{
    if (r > 0)
        return r;
    int e = SSL_get_error(ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

static long sock_read(void *ctx, void *buf, size_t n)
{
    conn *c = ctx;
    int want = n > INT_MAX ? INT_MAX : (int)n;
    if (c->ssl)
        return tls_result(c->ssl, SSL_read(c->ssl, buf, want));
    int r = recv(c->fd, buf, want, 0);
    if (r > 0)
        return r;
    return r < 0 && would_block() ? 0 : -1;
}

static long sock_write(void *ctx, const void *buf, size_t n)
{
    conn *c = ctx;
    int want = n > INT_MAX ? INT_MAX : (int)n;
    if (c->ssl)
        return tls_result(c->ssl, SSL_write(c->ssl, buf, want));
    int r = send(c->fd, buf, want, 0);
    if (r >= 0)
        return r;
    return would_block() ? 0 : -1;
}

/* Waits up to ms for s to become readable (or writable); 0 on timeout, -1 on error. */
static int wait_socket(SOCKET s, int for_write, int ms)
{
    fd_set set, ex;
    FD_ZERO(&set);
    FD_ZERO(&ex);
    FD_SET(s, &set);
    FD_SET(s, &ex);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return select(0, for_write ? NULL : &set, for_write ? &set : NULL, &ex, &tv);
}

static int tls_accept(conn *c)
{
    c->ssl = SSL_new(c->l->tls);
    if (!c->ssl || SSL_set_fd(c->ssl, (int)c->fd) != 1)
        return -1;
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int64_t deadline = wc_clock_monotonic_ns() + (int64_t)TLS_HANDSHAKE_MS * 1000000;
    while (!c->l->stopping) {
        int r = SSL_accept(c->ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return -1;
        int left = (int)((deadline - wc_clock_monotonic_ns()) / 1000000);
        if (left <= 0 ||
            wait_socket(c->fd, e == SSL_ERROR_WANT_WRITE, left < IDLE_MS ? left : IDLE_MS) < 0)
            return -1;
    }
    return -1;
}

/* ---- one connection ---- */

typedef struct loop {
    conn *c;
    cri_sess *s;
    waiter w;
    fd_set rd, wr, ex;
    int *prepared; /* per slot: the descriptor already made non-blocking, else -1 */
    size_t n_prepared;
    int moved; /* bytes went somewhere in the last round: look again at once */
} loop;

/* Sockets become non-blocking; pipes we write get PIPE_NOWAIT so a child that does not
 * read its stdin cannot stall the connection (a pipe that refuses keeps blocking writes). */
static void prepare_slot(const cri_slot *sl)
{
    if (sl->is_socket) {
        set_nonblock(fd_socket(sl->fd));
        return;
    }
    DWORD mode = PIPE_READMODE_BYTE | PIPE_NOWAIT;
    HANDLE h = (HANDLE)_get_osfhandle(sl->fd);
    if (sl->wr && GetFileType(h) == FILE_TYPE_PIPE &&
        !SetNamedPipeHandleState(h, &mode, NULL, NULL))
        wc_debug("streaming", "pipe stays blocking", "error=%lu", GetLastError());
}

static void prepare_slots(loop *lp)
{
    size_t n;
    cri_slot *slots = cri_sess_slots(lp->s, &n);
    if (n > lp->n_prepared) {
        lp->prepared = wc_xrealloc(lp->prepared, n * sizeof *lp->prepared);
        for (size_t i = lp->n_prepared; i < n; i++)
            lp->prepared[i] = -1;
        lp->n_prepared = n;
    }
    for (size_t i = 0; i < n; i++)
        if (slots[i].fd >= 0 && lp->prepared[i] != slots[i].fd) {
            prepare_slot(&slots[i]);
            lp->prepared[i] = slots[i].fd;
        }
}

static void flush_client(loop *lp)
{
    if (cri_sess_flush_client(lp->s, sock_write, lp->c))
        lp->moved = 1;
}

/* TLS buffers whole records, so drain it; plain sockets get one read per round. */
static void read_client(loop *lp)
{
    if (cri_sess_read_client(lp->s, sock_read, lp->c, lp->c->ssl != NULL))
        lp->moved = 1;
}

/* Fills the select() sets; returns 1 if a pipe (or the process) needs looking at. */
static int build_sets(loop *lp)
{
    FD_ZERO(&lp->rd);
    FD_ZERO(&lp->wr);
    FD_ZERO(&lp->ex);
    SOCKET cs = lp->c->fd;
    FD_SET(cs, &lp->ex); /* never an empty select(), which winsock refuses */
    if (!cri_sess_done(lp->s) && cri_sess_can_take_input(lp->s))
        FD_SET(cs, &lp->rd);
    if (cri_sess_out(lp->s)->len)
        FD_SET(cs, &lp->wr);
    int pipes = lp->w.thread && !lp->w.reported;
    size_t n;
    cri_slot *slots = cri_sess_slots(lp->s, &n);
    for (size_t i = 0; i < n; i++) {
        if (slots[i].fd < 0)
            continue;
        int want_rd = cri_sess_slot_read_max(lp->s, i) > 0, want_wr = slots[i].out.len > 0;
        if (!slots[i].is_socket) {
            pipes |= want_rd || want_wr;
            continue;
        }
        SOCKET s = fd_socket(slots[i].fd);
        if (want_rd && lp->rd.fd_count < FD_SETSIZE)
            FD_SET(s, &lp->rd);
        if (want_wr && lp->wr.fd_count < FD_SETSIZE)
            FD_SET(s, &lp->wr);
    }
    return pipes;
}

static void socket_slot_io(loop *lp, size_t i)
{
    cri_slot *sl = &cri_sess_slots(lp->s, &(size_t){0})[i];
    SOCKET s = fd_socket(sl->fd);
    if (sl->out.len && sl->wr && FD_ISSET(s, &lp->wr)) {
        int w = send(s, (const char *)cri_buf_data(&sl->out),
                     sl->out.len > IO_CHUNK ? IO_CHUNK : (int)sl->out.len, 0);
        if (w > 0) {
            cri_buf_consume(&sl->out, (size_t)w);
            lp->moved = 1;
        } else if (w < 0 && !would_block()) {
            cri_sess_slot_write_error(lp->s, i);
        }
    }
    size_t max = cri_sess_slot_read_max(lp->s, i);
    if (max && sl->fd >= 0 && FD_ISSET(s, &lp->rd)) {
        char buf[IO_CHUNK];
        int r = recv(s, buf, max < sizeof buf ? (int)max : (int)sizeof buf, 0);
        if (r > 0)
            cri_sess_slot_data(lp->s, i, buf, (size_t)r);
        else if (r == 0 || !would_block())
            cri_sess_slot_eof(lp->s, i);
        lp->moved = 1;
    }
}

static void pipe_write(loop *lp, size_t i, cri_slot *sl)
{
    DWORD w = 0;
    DWORD n = sl->out.len > IO_CHUNK ? IO_CHUNK : (DWORD)sl->out.len;
    if (WriteFile((HANDLE)_get_osfhandle(sl->fd), cri_buf_data(&sl->out), n, &w, NULL)) {
        if (w) {
            cri_buf_consume(&sl->out, w);
            lp->moved = 1;
        }
        return;
    }
    cri_sess_slot_write_error(lp->s, i); /* ERROR_NO_DATA / BROKEN_PIPE: the reader left */
}

/* Reads what a pipe holds without blocking; a file (not a pipe) is read directly. */
static void pipe_read(loop *lp, size_t i, cri_slot *sl, size_t max)
{
    HANDLE h = (HANDLE)_get_osfhandle(sl->fd);
    DWORD avail = IO_CHUNK;
    if (GetFileType(h) == FILE_TYPE_PIPE) {
        if (!PeekNamedPipe(h, NULL, 0, NULL, &avail, NULL)) {
            cri_sess_slot_eof(lp->s, i); /* ERROR_BROKEN_PIPE: every writer closed */
            return;
        }
        if (!avail)
            return;
    }
    char buf[IO_CHUNK];
    DWORD want = avail < max ? avail : (DWORD)max, r = 0;
    if (want > sizeof buf)
        want = sizeof buf;
    if (ReadFile(h, buf, want, &r, NULL) && r > 0)
        cri_sess_slot_data(lp->s, i, buf, r);
    else if (GetLastError() != ERROR_NO_DATA)
        cri_sess_slot_eof(lp->s, i);
    lp->moved = 1;
}

static void slots_io(loop *lp)
{
    size_t n;
    cri_sess_slots(lp->s, &n);
    for (size_t i = 0; i < n; i++) {
        cri_slot *sl = &cri_sess_slots(lp->s, &n)[i]; /* the array may grow under us */
        if (sl->fd < 0)
            continue;
        if (sl->is_socket) {
            socket_slot_io(lp, i);
            continue;
        }
        if (sl->out.len && sl->wr)
            pipe_write(lp, i, sl);
        size_t max = cri_sess_slot_read_max(lp->s, i);
        if (max && sl->fd >= 0)
            pipe_read(lp, i, sl, max);
    }
}

static void run(loop *lp)
{
    for (;;) {
        cri_sess_settle(lp->s);
        prepare_slots(lp);
        cri_stream_proc *p = cri_sess_proc(lp->s);
        if (p && !lp->w.thread && waiter_start(&lp->w, cri_sess_backend(lp->s), p) < 0) {
            cri_sess_client_gone(lp->s); /* cannot watch the process: give up on it */
            return;
        }
        flush_client(lp);
        if (cri_sess_done(lp->s) && cri_sess_out(lp->s)->len == 0)
            return;
        if (lp->c->l->stopping) {
            cri_sess_client_gone(lp->s); /* server stopping */
            return;
        }
        int pipes = build_sets(lp);
        int pending = lp->c->ssl && SSL_pending(lp->c->ssl) > 0;
        int ms = pending || (pipes && lp->moved) ? 0 : pipes ? PIPE_MS : IDLE_MS;
        lp->moved = 0;
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        if (select(0, &lp->rd, &lp->wr, &lp->ex, &tv) < 0)
            return;
        SOCKET cs = lp->c->fd;
        if (FD_ISSET(cs, &lp->wr))
            flush_client(lp);
        if (FD_ISSET(cs, &lp->rd) || FD_ISSET(cs, &lp->ex) || pending)
            read_client(lp);
        if (waiter_exited(&lp->w)) {
            lp->w.reported = 1;
            cri_sess_proc_exited(lp->s, lp->w.rc, lp->w.code);
        }
        slots_io(lp);
        cri_sess_tick(lp->s, wc_clock_monotonic_ns());
    }
}

static DWORD WINAPI conn_main(void *arg)
{
    conn *c = arg;
    set_nonblock(c->fd);
    BOOL one = TRUE;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
    if (!c->l->tls || tls_accept(c) == 0) {
        loop lp = {.c = c, .s = cri_sess_new(c->l->srv, c->ssl != NULL)};
        run(&lp);
        if (!cri_sess_done(lp.s))
            cri_sess_client_gone(lp.s);
        waiter_finish(&lp.w);
        cri_sess_free(lp.s);
        free(lp.prepared);
    }
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    closesocket(c->fd);
    c->fd = INVALID_SOCKET;
    InterlockedExchange(&c->finished, 1);
    return 0;
}

/* Joins finished connection threads (all of them when `all`). */
static void reap(cri_listener *l, int all)
{
    EnterCriticalSection(&l->lock);
    for (conn **pp = &l->conns; *pp;) {
        conn *c = *pp;
        if (!all && !c->finished) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        LeaveCriticalSection(&l->lock);
        WaitForSingleObject(c->thread, INFINITE);
        CloseHandle(c->thread);
        free(c);
        EnterCriticalSection(&l->lock);
    }
    LeaveCriticalSection(&l->lock);
}

static void accept_one(cri_listener *l)
{
    SOCKET fd = accept(l->fd, NULL, NULL);
    if (fd == INVALID_SOCKET)
        return;
    /* Processes the backends start inherit handles: never our connections. */
    SetHandleInformation((HANDLE)fd, HANDLE_FLAG_INHERIT, 0);
    conn *c = wc_xcalloc(1, sizeof *c);
    c->l = l;
    c->fd = fd;
    EnterCriticalSection(&l->lock);
    c->thread = CreateThread(NULL, 0, conn_main, c, 0, NULL);
    if (!c->thread) {
        LeaveCriticalSection(&l->lock);
        wc_warn("streaming", "no thread for a connection", "error=%lu", GetLastError());
        closesocket(fd);
        free(c);
        return;
    }
    c->next = l->conns;
    l->conns = c;
    LeaveCriticalSection(&l->lock);
}

static DWORD WINAPI accept_main(void *arg)
{
    cri_listener *l = arg;
    while (!l->stopping) {
        int r = wait_socket(l->fd, 0, IDLE_MS);
        reap(l, 0);
        if (r < 0)
            break;
        if (r > 0 && !l->stopping)
            accept_one(l);
    }
    return 0;
}

static int tls_setup(cri_listener *l, const cri_streaming_opts *o, wc_err *err)
{
    return cri_tls_server_ctx(o->tls_cert, o->tls_key, &l->tls, err);
}

static int bound_port(SOCKET s)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (getsockname(s, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

/* strerror() does not know winsock or Win32 codes: the number goes into the message. */
static int winsock_err(wc_err *err, wc_code code, int e, const char *what, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, what);
    vsnprintf(msg, sizeof msg, what, ap);
    va_end(ap);
    wc_err_set(err, code, "%s: error %d", msg, e);
    err->sys = e;
    return -1;
}

static int bind_listen(cri_listener *l, const cri_streaming_opts *o, int *port, wc_err *err)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", o->port);
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(o->address, ps, &hints, &ai);
    if (rc != 0)
        return winsock_err(err, WC_INVALID_ARGUMENT, rc,
                           "streaming address %s is not an IP literal", o->address);
    l->fd = WSASocketW(ai->ai_family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                       WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    /* Exclusive: on Windows SO_REUSEADDR would let another process take the port over. */
    BOOL one = TRUE;
    if (l->fd != INVALID_SOCKET)
        setsockopt(l->fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof one);
    if (l->fd == INVALID_SOCKET || bind(l->fd, ai->ai_addr, (int)ai->ai_addrlen) != 0 ||
        listen(l->fd, 128) != 0) {
        int e = WSAGetLastError();
        freeaddrinfo(ai);
        return winsock_err(err, e == WSAEADDRINUSE ? WC_UNAVAILABLE : WC_INTERNAL, e,
                           "streaming listener on %s:%d", o->address, o->port);
    }
    freeaddrinfo(ai);
    *port = bound_port(l->fd);
    return 0;
}

static void listener_free(cri_listener *l)
{
    if (l->fd != INVALID_SOCKET)
        closesocket(l->fd);
    if (l->tls)
        SSL_CTX_free(l->tls);
    if (l->wsa)
        WSACleanup();
    DeleteCriticalSection(&l->lock);
    free(l);
}

int cri_listener_start(cri_streaming *s, const cri_streaming_opts *o, cri_listener **out, int *port,
                       wc_err *err)
{
    cri_listener *l = wc_xcalloc(1, sizeof *l);
    l->srv = s;
    l->fd = INVALID_SOCKET;
    InitializeCriticalSection(&l->lock);
    WSADATA wsa;
    l->wsa = WSAStartup(MAKEWORD(2, 2), &wsa) == 0;
    if ((o->tls_cert && *o->tls_cert && tls_setup(l, o, err) < 0) ||
        bind_listen(l, o, port, err) < 0) {
        listener_free(l);
        return -1;
    }
    l->thread = CreateThread(NULL, 0, accept_main, l, 0, NULL);
    if (!l->thread) {
        winsock_err(err, WC_INTERNAL, (int)GetLastError(), "streaming listener thread");
        listener_free(l);
        return -1;
    }
    *out = l;
    return 0;
}

void cri_listener_stop(cri_listener *l)
{
    if (!l)
        return;
    InterlockedExchange(&l->stopping, 1);
    WaitForSingleObject(l->thread, INFINITE);
    CloseHandle(l->thread);
    reap(l, 1);
    listener_free(l);
}
