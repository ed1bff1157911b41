/* The streaming server's Linux layer: a listener thread, one thread per connection running a
 * poll() loop over the client socket (optionally TLS), the session's descriptors and a
 * waiter thread per process; the protocol work is the engine's (streaming_session.c). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "cri/streaming_impl.h"
#include "cri/streaming_tls.h"

#define POLL_MS 200
#define TLS_HANDSHAKE_MS 10000
#define IO_CHUNK 65536

typedef struct conn conn;

struct cri_listener {
    cri_streaming *srv;
    int fd;
    int stop_pipe[2]; /* written once at stop; stays readable for every poller */
    SSL_CTX *tls;
    pthread_t thread;
    pthread_mutex_t lock; /* guards conns */
    conn *conns;
};

struct conn {
    cri_listener *l;
    int fd;
    SSL *ssl;
    pthread_t thread;
    int finished; /* under l->lock: the thread may be joined */
    conn *next;
};

/* The process waiter: wait() blocks, so it runs on its own thread and reports by pipe. */
typedef struct waiter {
    const cri_stream_backend *be;
    cri_stream_proc *proc;
    int rc, code;
    int pipe[2];
    pthread_t thread;
    int running, reported;
} waiter;

void cri_plat_close(int fd)
{
    if (fd >= 0)
        close(fd);
}

int cri_plat_shutdown_wr(int fd)
{
    return shutdown(fd, SHUT_WR);
}

/* Writes to a pipe or TLS socket whose reader left raise SIGPIPE. The signal is held back
 * only around such writes (and a pending one swallowed), because a mask set on the thread
 * would be inherited by the processes backends start from it. */
static void sigpipe_hold(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

static void sigpipe_release(const sigset_t *old, int raised)
{
    if (raised) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        sigtimedwait(&set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    w->rc = w->be->wait(w->proc, &w->code);
    char c = 1;
    while (write(w->pipe[1], &c, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

static int waiter_start(waiter *w, const cri_stream_backend *be, cri_stream_proc *p)
{
    w->be = be;
    w->proc = p;
    if (pipe2(w->pipe, O_CLOEXEC) < 0)
        return -1;
    if (pthread_create(&w->thread, NULL, waiter_main, w) != 0) {
        close(w->pipe[0]);
        close(w->pipe[1]);
        return -1;
    }
    w->running = 1;
    return 0;
}

/* Ends the process if it still runs, waits for the waiter, frees the process. */
static void waiter_finish(waiter *w)
{
    if (!w->running)
        return;
    if (!w->reported)
        w->be->kill(w->proc);
    pthread_join(w->thread, NULL);
    w->be->release(w->proc);
    close(w->pipe[0]);
    close(w->pipe[1]);
    w->running = 0;
}

/* ---- client socket I/O, plain or TLS: >0 bytes, 0 would block, -1 gone ---- */

static long sock_read(void *ctx, void *buf, size_t n)
{
    conn *c = ctx;
    if (c->ssl) {
        int r = SSL_read(c->ssl, buf, (int)n);
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
    }
    ssize_t r = recv(c->fd, buf, n, 0);
    if (r > 0)
        return (long)r;
    return r < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
}

static long sock_write(void *ctx, const void *buf, size_t n)
{
    conn *c = ctx;
    if (c->ssl) {
        sigset_t old;
        sigpipe_hold(&old);
        int r = SSL_write(c->ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n));
        sigpipe_release(&old, r <= 0 && errno == EPIPE);
        if (r > 0)
            return r;
        int e = SSL_get_error(c->ssl, r);
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
    }
    ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
    if (r >= 0)
        return (long)r;
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

static int tls_accept(conn *c)
{
    c->ssl = SSL_new(c->l->tls);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
        return -1;
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    int64_t deadline = wc_clock_monotonic_ns() + (int64_t)TLS_HANDSHAKE_MS * 1000000;
    for (;;) {
        int r = SSL_accept(c->ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return -1;
        int left = (int)((deadline - wc_clock_monotonic_ns()) / 1000000);
        if (left <= 0)
            return -1;
        struct pollfd p = {c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, 0};
        if (poll(&p, 1, left < POLL_MS ? left : POLL_MS) < 0 && errno != EINTR)
            return -1;
    }
}

/* ---- one connection ---- */

typedef struct loop {
    conn *c;
    cri_sess *s;
    waiter w;
    struct pollfd *pfd;
    size_t cap;
    long *slot_at; /* pollfd index of each slot, -1 if not polled */
} loop;

static size_t build_polls(loop *lp, size_t *n_slots)
{
    cri_slot *slots = cri_sess_slots(lp->s, n_slots);
    size_t need = 3 + *n_slots;
    if (need > lp->cap) {
        lp->pfd = wc_xrealloc(lp->pfd, need * sizeof *lp->pfd);
        lp->slot_at = wc_xrealloc(lp->slot_at, need * sizeof *lp->slot_at);
        lp->cap = need;
    }
    cri_buf *out = cri_sess_out(lp->s);
    short ev = (short)((!cri_sess_done(lp->s) && cri_sess_can_take_input(lp->s) ? POLLIN : 0) |
                       (out->len ? POLLOUT : 0));
    lp->pfd[0] = (struct pollfd){lp->c->fd, ev, 0};
    lp->pfd[1] = (struct pollfd){lp->c->l->stop_pipe[0], POLLIN, 0};
    lp->pfd[2] = (struct pollfd){lp->w.running && !lp->w.reported ? lp->w.pipe[0] : -1, POLLIN, 0};
    size_t n = 3;
    for (size_t i = 0; i < *n_slots; i++) {
        lp->slot_at[i] = -1;
        if (slots[i].fd < 0)
            continue;
        short e = (short)((cri_sess_slot_read_max(lp->s, i) ? POLLIN : 0) |
                          (slots[i].out.len ? POLLOUT : 0));
        if (!e)
            continue;
        lp->slot_at[i] = (long)n;
        lp->pfd[n++] = (struct pollfd){slots[i].fd, e, 0};
    }
    return n;
}

static void flush_client(loop *lp)
{
    cri_sess_flush_client(lp->s, sock_write, lp->c);
}

/* TLS buffers whole records, so drain it; plain sockets get one read per poll round. */
static void read_client(loop *lp)
{
    cri_sess_read_client(lp->s, sock_read, lp->c, lp->c->ssl != NULL);
}

static void slot_io(loop *lp, size_t i, short rev)
{
    size_t n;
    cri_slot *sl = &cri_sess_slots(lp->s, &n)[i];
    if ((rev & (POLLOUT | POLLERR | POLLHUP)) && sl->out.len && sl->wr) {
        ssize_t w;
        if (sl->is_socket) {
            w = send(sl->fd, cri_buf_data(&sl->out), sl->out.len, MSG_NOSIGNAL);
        } else {
            sigset_t old;
            sigpipe_hold(&old);
            w = write(sl->fd, cri_buf_data(&sl->out), sl->out.len);
            sigpipe_release(&old, w < 0 && errno == EPIPE);
        }
        if (w > 0)
            cri_buf_consume(&sl->out, (size_t)w);
        else if (w < 0 && errno != EAGAIN && errno != EINTR)
            cri_sess_slot_write_error(lp->s, i);
    }
    size_t max = cri_sess_slot_read_max(lp->s, i);
    if ((rev & (POLLIN | POLLHUP | POLLERR)) && max && sl->fd >= 0) {
        unsigned char buf[IO_CHUNK];
        ssize_t r = read(sl->fd, buf, max < sizeof buf ? max : sizeof buf);
        if (r > 0)
            cri_sess_slot_data(lp->s, i, buf, (size_t)r);
        else if (r == 0 || (errno != EAGAIN && errno != EINTR))
            cri_sess_slot_eof(lp->s, i); /* EIO: a terminal whose other side closed */
    }
}

static void prepare_slots(loop *lp)
{
    size_t n;
    cri_slot *slots = cri_sess_slots(lp->s, &n);
    for (size_t i = 0; i < n; i++)
        if (slots[i].fd >= 0 && !(fcntl(slots[i].fd, F_GETFL) & O_NONBLOCK))
            set_nonblock(slots[i].fd);
}

static void run(loop *lp)
{
    for (;;) {
        cri_sess_settle(lp->s);
        prepare_slots(lp);
        cri_stream_proc *p = cri_sess_proc(lp->s);
        if (p && !lp->w.running && waiter_start(&lp->w, cri_sess_backend(lp->s), p) < 0) {
            cri_sess_client_gone(lp->s); /* cannot watch the process: give up on it */
            return;
        }
        flush_client(lp);
        if (cri_sess_done(lp->s) && cri_sess_out(lp->s)->len == 0)
            return;
        size_t n_slots;
        size_t n = build_polls(lp, &n_slots);
        int pending = lp->c->ssl && SSL_pending(lp->c->ssl) > 0;
        if (poll(lp->pfd, n, pending ? 0 : POLL_MS) < 0 && errno != EINTR)
            return;
        if (lp->pfd[1].revents) {
            cri_sess_client_gone(lp->s); /* server stopping */
            return;
        }
        if (lp->pfd[0].revents & POLLOUT)
            flush_client(lp);
        if ((lp->pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) || pending)
            read_client(lp);
        if (lp->pfd[2].revents) {
            lp->w.reported = 1;
            cri_sess_proc_exited(lp->s, lp->w.rc, lp->w.code);
        }
        for (size_t i = 0; i < n_slots; i++)
            if (lp->slot_at[i] >= 0 && lp->pfd[lp->slot_at[i]].revents)
                slot_io(lp, i, lp->pfd[lp->slot_at[i]].revents);
        cri_sess_tick(lp->s, wc_clock_monotonic_ns());
    }
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    set_nonblock(c->fd);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!c->l->tls || tls_accept(c) == 0) {
        loop lp = {.c = c, .s = cri_sess_new(c->l->srv, c->ssl != NULL)};
        run(&lp);
        if (!cri_sess_done(lp.s))
            cri_sess_client_gone(lp.s);
        waiter_finish(&lp.w);
        cri_sess_free(lp.s);
        free(lp.pfd);
        free(lp.slot_at);
    }
    if (c->ssl) {
        sigset_t old;
        sigpipe_hold(&old);
        int r = SSL_shutdown(c->ssl);
        sigpipe_release(&old, r < 0 && errno == EPIPE);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
    pthread_mutex_lock(&c->l->lock);
    c->finished = 1;
    pthread_mutex_unlock(&c->l->lock);
    return NULL;
}

/* Joins finished connection threads (all of them when `all`). */
static void reap(cri_listener *l, int all)
{
    pthread_mutex_lock(&l->lock);
    for (conn **pp = &l->conns; *pp;) {
        conn *c = *pp;
        if (!all && !c->finished) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        pthread_mutex_unlock(&l->lock);
        pthread_join(c->thread, NULL);
        free(c);
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
}

static void *accept_main(void *arg)
{
    cri_listener *l = arg;
    for (;;) {
        struct pollfd p[2] = {{l->fd, POLLIN, 0}, {l->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, 1000) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        reap(l, 0);
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        conn *c = wc_xcalloc(1, sizeof *c);
        c->l = l;
        c->fd = fd;
        pthread_mutex_lock(&l->lock);
        if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
            pthread_mutex_unlock(&l->lock);
            close(fd);
            free(c);
            continue;
        }
        c->next = l->conns;
        l->conns = c;
        pthread_mutex_unlock(&l->lock);
    }
    return NULL;
}

static int tls_setup(cri_listener *l, const cri_streaming_opts *o, wc_err *err)
{
    return cri_tls_server_ctx(o->tls_cert, o->tls_key, &l->tls, err);
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
        return wc_err_set(err, WC_INVALID_ARGUMENT, "address %s: %s (an IP literal is needed)",
                          o->address, gai_strerror(rc));
    l->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (l->fd >= 0)
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (l->fd < 0 || bind(l->fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(l->fd, 128) < 0) {
        int e = errno;
        freeaddrinfo(ai);
        return wc_err_sys(err, e == EADDRINUSE ? WC_UNAVAILABLE : WC_INTERNAL, e, "listen");
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(l->fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

static void listener_free(cri_listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    if (l->stop_pipe[0] >= 0) {
        close(l->stop_pipe[0]);
        close(l->stop_pipe[1]);
    }
    if (l->tls)
        SSL_CTX_free(l->tls);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int cri_listener_start(cri_streaming *s, const cri_streaming_opts *o, cri_listener **out, int *port,
                       wc_err *err)
{
    cri_listener *l = wc_xcalloc(1, sizeof *l);
    l->srv = s;
    l->fd = l->stop_pipe[0] = l->stop_pipe[1] = -1;
    pthread_mutex_init(&l->lock, NULL);
    if ((o->tls_cert && *o->tls_cert && tls_setup(l, o, err) < 0) ||
        bind_listen(l, o, port, err) < 0) {
        listener_free(l);
        return -1;
    }
    if (pipe2(l->stop_pipe, O_CLOEXEC) < 0 ||
        pthread_create(&l->thread, NULL, accept_main, l) != 0) {
        wc_err_sys(err, WC_INTERNAL, errno, "streaming listener thread");
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
    char c = 1;
    while (write(l->stop_pipe[1], &c, 1) < 0 && errno == EINTR)
        ;
    pthread_join(l->thread, NULL);
    reap(l, 1);
    listener_free(l);
}
