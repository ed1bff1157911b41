/* Linux front: a unix-socket (or TCP) listener; each accepted connection is relayed to gRPC
 * core's loopback port by a thread of its own. */
#include "cri/front_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"

#define RELAY_BUF (64 * 1024)

struct cri_front_platform {
    int listen_fd;
    int wake[2]; /* wakes the accept loop */
    int kill[2]; /* readable once the front closes: every relay stops */
    pthread_t accept_thread;
    int accepting;
    pthread_mutex_t mu;
    pthread_cond_t none_left;
    int relays;
};

typedef struct relay {
    cri_front *front;
    int client;
    int upstream;
    int local_port;
} relay;

typedef struct direction {
    char buf[RELAY_BUF];
    size_t off, len;
    int eof;       /* the source said it is done */
    int shut_sent; /* the half-close reached the destination */
} direction;

static int listen_unix(const char *path, wc_err *err)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (wc_mkdir_p(dir, 0755, err) < 0)
            return -1;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return wc_err_set(err, WC_FAILED_PRECONDITION,
                              "%s exists and is not a socket; refusing to replace it", path);
        unlink(path); /* a stale socket from an earlier run; the root lock says it is ours */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    mode_t old = umask(0117); /* the socket is born 0660, never briefly wider */
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc < 0 || chown(path, 0, 0) < 0 || chmod(path, 0660) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return wc_err_sys(err, WC_UNAVAILABLE, e, "cannot listen on unix socket %s", path);
    }
    return fd;
}

static int listen_tcp(const cri_endpoint *ep, wc_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", ep->port);
    int gai = getaddrinfo(ep->address, port, &hints, &res);
    if (gai != 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "cannot resolve listen address %s: %s",
                          ep->address, gai_strerror(gai));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        freeaddrinfo(res);
        return wc_err_sys(err, WC_UNAVAILABLE, e, "cannot listen on tcp://%s:%d", ep->address,
                          ep->port);
    }
    freeaddrinfo(res);
    return fd;
}

/* Connects to gRPC core and returns the local port that identifies this connection. */
static int connect_upstream(int internal_port, int *local_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)internal_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &len);
    *local_port = ntohs(me.sin_port);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Moves bytes from `from` into d, and from d to `to`; returns -1 on a broken connection. */
static int pump_in(int from, direction *d)
{
    ssize_t n = recv(from, d->buf, sizeof d->buf, MSG_DONTWAIT);
    if (n > 0) {
        d->off = 0;
        d->len = (size_t)n;
    } else if (n == 0) {
        d->eof = 1;
    } else if (errno != EAGAIN && errno != EINTR) {
        return -1;
    }
    return 0;
}

static int pump_out(int to, direction *d)
{
    ssize_t n = send(to, d->buf + d->off, d->len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
        d->off += (size_t)n;
        d->len -= (size_t)n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return -1;
    }
    return 0;
}

static void half_close_if_done(int to, direction *d)
{
    if (d->eof && d->len == 0 && !d->shut_sent) {
        shutdown(to, SHUT_WR);
        d->shut_sent = 1;
    }
}

/* What to poll on fd `self`: read when its inbound buffer is empty, write when the other
 * direction has bytes for it. An fd with nothing wanted is skipped (-1), so a hang-up is only
 * seen when it matters. */
static void want(struct pollfd *p, int fd, const direction *in, const direction *out)
{
    p->events = 0;
    if (!in->eof && in->len == 0)
        p->events |= POLLIN;
    if (out->len > 0)
        p->events |= POLLOUT;
    p->fd = p->events ? fd : -1;
    p->revents = 0;
}

static void relay_loop(relay *r, int kill_fd)
{
    direction *up = calloc(1, sizeof *up);     /* client -> gRPC core */
    direction *down = calloc(1, sizeof *down); /* gRPC core -> client */
    while (!(up->shut_sent && down->shut_sent)) {
        struct pollfd p[3];
        want(&p[0], r->client, up, down);
        want(&p[1], r->upstream, down, up);
        p[2].fd = kill_fd;
        p[2].events = POLLIN;
        p[2].revents = 0;
        if (poll(p, 3, -1) < 0 && errno != EINTR)
            break;
        if (p[2].revents)
            break;
        int broken = 0;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            broken |= pump_in(r->client, up);
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
            broken |= pump_in(r->upstream, down);
        if (up->len && (p[1].revents & (POLLOUT | POLLERR | POLLHUP)))
            broken |= pump_out(r->upstream, up);
        if (down->len && (p[0].revents & (POLLOUT | POLLERR | POLLHUP)))
            broken |= pump_out(r->client, down);
        if (broken)
            break;
        half_close_if_done(r->upstream, up);
        half_close_if_done(r->client, down);
    }
    free(up);
    free(down);
}

static void *relay_main(void *arg)
{
    relay *r = arg;
    cri_front_platform *pl = r->front->plat;
    relay_loop(r, pl->kill[0]);
    cri_front_port_remove(r->front, r->local_port);
    close(r->client);
    close(r->upstream);
    pthread_mutex_lock(&pl->mu);
    if (--pl->relays == 0)
        pthread_cond_broadcast(&pl->none_left);
    pthread_mutex_unlock(&pl->mu);
    free(r);
    return NULL;
}

static void start_relay(cri_front *f, int client)
{
    relay *r = calloc(1, sizeof *r);
    r->front = f;
    r->client = client;
    r->upstream = connect_upstream(f->internal_port, &r->local_port);
    if (r->upstream < 0) {
        wc_error("cri", "front cannot reach gRPC core", "port=%d errno=%d", f->internal_port,
                 errno);
        close(client);
        free(r);
        return;
    }
    /* Registered before any client byte is relayed, so the first call already passes. */
    cri_front_port_add(f, r->local_port);
    pthread_mutex_lock(&f->plat->mu);
    f->plat->relays++;
    pthread_mutex_unlock(&f->plat->mu);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, relay_main, r) != 0)
        relay_main(r);
    pthread_attr_destroy(&attr);
}

/* 1 when gRPC core took the connection as it is. */
static int hand_over(cri_front *f, int client)
{
    if (!f->handover)
        return 0;
    pthread_mutex_lock(&f->ports_mu);
    f->handed_over++; /* before the first call can arrive on it */
    pthread_mutex_unlock(&f->ports_mu);
    /* gRPC core's poller expects a non-blocking socket. */
    fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK);
    if (f->ep.kind == CRI_EP_TCP) {
        int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return f->handover(f->handover_ctx, client) == 0;
}

static void *accept_main(void *arg)
{
    cri_front *f = arg;
    cri_front_platform *pl = f->plat;
    for (;;) {
        struct pollfd p[2] = {{.fd = pl->listen_fd, .events = POLLIN},
                              {.fd = pl->wake[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int c = accept4(pl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0 && !hand_over(f, c))
            start_relay(f, c);
    }
    return NULL;
}

int cri_front_platform_start(cri_front *f, wc_err *err)
{
    if (f->ep.kind == CRI_EP_NPIPE)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "npipe:// endpoints exist only on Windows; use unix:// or tcp://");
    cri_front_platform *pl = calloc(1, sizeof *pl);
    pl->listen_fd =
        f->ep.kind == CRI_EP_UNIX ? listen_unix(f->ep.address, err) : listen_tcp(&f->ep, err);
    if (pl->listen_fd < 0) {
        free(pl);
        return -1;
    }
    if (pipe2(pl->wake, O_CLOEXEC) < 0 || pipe2(pl->kill, O_CLOEXEC) < 0) {
        close(pl->listen_fd);
        free(pl);
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot create the front's wake pipes");
    }
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->none_left, NULL);
    f->plat = pl;
    pl->accepting = 1;
    pthread_create(&pl->accept_thread, NULL, accept_main, f);
    return 0;
}

void cri_front_platform_stop_accepting(cri_front *f)
{
    cri_front_platform *pl = f->plat;
    if (!pl || !pl->accepting)
        return;
    pl->accepting = 0;
    if (write(pl->wake[1], "x", 1) < 0)
        wc_warn("cri", "cannot wake the accept loop", "errno=%d", errno);
    pthread_join(pl->accept_thread, NULL);
    close(pl->listen_fd);
    if (f->ep.kind == CRI_EP_UNIX)
        unlink(f->ep.address);
}

void cri_front_platform_free(cri_front *f)
{
    cri_front_platform *pl = f->plat;
    if (!pl)
        return;
    cri_front_platform_stop_accepting(f);
    if (write(pl->kill[1], "x", 1) < 0)
        wc_warn("cri", "cannot signal relays to stop", "errno=%d", errno);
    pthread_mutex_lock(&pl->mu);
    while (pl->relays > 0)
        pthread_cond_wait(&pl->none_left, &pl->mu);
    pthread_mutex_unlock(&pl->mu);
    for (int i = 0; i < 2; i++) {
        close(pl->wake[i]);
        close(pl->kill[i]);
    }
    pthread_mutex_destroy(&pl->mu);
    pthread_cond_destroy(&pl->none_left);
    free(pl);
    f->plat = NULL;
}
