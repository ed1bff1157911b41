/* The metrics endpoint's sockets on Linux: poll() with timeouts around plain BSD calls. */
#include "cri/prom_http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static int wait_fd(int fd, short events, int ms)
{
    struct pollfd p = {fd, events, 0};
    int r;
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    return r;
}

int cri_prom_listen(const char *host, int port, cri_prom_sock *out, int *bound_port, wc_err *err)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, ps, &hints, &ai);
    if (rc != 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "metrics address %s: %s", host,
                          gai_strerror(rc));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return wc_err_sys(err, e == EADDRINUSE ? WC_UNAVAILABLE : WC_INTERNAL, e,
                          "metrics listener on %s:%d", host, port);
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    *out = fd;
    return 0;
}

int cri_prom_accept(cri_prom_sock l, int ms, cri_prom_sock *conn)
{
    int r = wait_fd((int)l, POLLIN, ms);
    if (r < 0)
        return -1;
    if (r == 0)
        return 0;
    int fd = accept4((int)l, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return errno == EBADF || errno == EINVAL ? -1 : 0;
    *conn = fd;
    return 1;
}

long cri_prom_recv(cri_prom_sock c, void *buf, size_t n, int ms)
{
    if (wait_fd((int)c, POLLIN, ms) <= 0)
        return -1;
    ssize_t got;
    while ((got = recv((int)c, buf, n, 0)) < 0 && errno == EINTR)
        ;
    return got < 0 ? -1 : (long)got;
}

int cri_prom_send(cri_prom_sock c, const void *buf, size_t n, int ms)
{
    const char *p = buf;
    while (n > 0) {
        if (wait_fd((int)c, POLLOUT, ms) <= 0)
            return -1;
        ssize_t sent = send((int)c, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (sent <= 0)
            return -1;
        p += sent;
        n -= (size_t)sent;
    }
    return 0;
}

void cri_prom_close(cri_prom_sock s)
{
    if (s >= 0)
        close((int)s);
}

void cri_prom_unlisten(cri_prom_sock l)
{
    cri_prom_close(l);
}
