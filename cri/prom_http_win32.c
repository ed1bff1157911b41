/* The metrics endpoint's sockets on Windows: WSAPoll with timeouts around winsock calls. The
 * listener is exclusive (SO_EXCLUSIVEADDRUSE) and neither it nor a connection is inherited by
 * the processes wincrid starts. */
#include <winsock2.h>
#include <ws2tcpip.h>

#include <windows.h>

#include <stdio.h>

#include "cri/prom_http.h"

static int wait_sock(SOCKET s, short events, int ms)
{
    WSAPOLLFD p = {s, events, 0};
    return WSAPoll(&p, 1, ms);
}

int cri_prom_listen(const char *host, int port, cri_prom_sock *out, int *bound_port, wc_err *err)
{
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
        return wc_err_set(err, WC_INTERNAL, "metrics: winsock did not start");
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, ps, &hints, &ai);
    if (rc != 0) {
        WSACleanup();
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "metrics address %s is not an IP literal: "
                          "error %d",
                          host, rc);
    }
    SOCKET s = WSASocketW(ai->ai_family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    BOOL one = TRUE;
    if (s != INVALID_SOCKET)
        setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof one);
    if (s == INVALID_SOCKET || bind(s, ai->ai_addr, (int)ai->ai_addrlen) != 0 ||
        listen(s, 16) != 0) {
        int e = WSAGetLastError();
        freeaddrinfo(ai);
        if (s != INVALID_SOCKET)
            closesocket(s);
        WSACleanup();
        wc_err_set(err, e == WSAEADDRINUSE ? WC_UNAVAILABLE : WC_INTERNAL,
                   "metrics listener on %s:%d: winsock error %d", host, port, e);
        err->sys = e;
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    getsockname(s, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    *out = (cri_prom_sock)s;
    return 0;
}

int cri_prom_accept(cri_prom_sock l, int ms, cri_prom_sock *conn)
{
    int r = wait_sock((SOCKET)l, POLLRDNORM, ms);
    if (r < 0)
        return -1;
    if (r == 0)
        return 0;
    SOCKET c = accept((SOCKET)l, NULL, NULL);
    if (c == INVALID_SOCKET)
        return WSAGetLastError() == WSAENOTSOCK ? -1 : 0;
    SetHandleInformation((HANDLE)c, HANDLE_FLAG_INHERIT, 0);
    *conn = (cri_prom_sock)c;
    return 1;
}

long cri_prom_recv(cri_prom_sock c, void *buf, size_t n, int ms)
{
    if (wait_sock((SOCKET)c, POLLRDNORM, ms) <= 0)
        return -1;
    int got = recv((SOCKET)c, buf, n > 65536 ? 65536 : (int)n, 0);
    return got < 0 ? -1 : (long)got;
}

int cri_prom_send(cri_prom_sock c, const void *buf, size_t n, int ms)
{
    const char *p = buf;
    while (n > 0) {
        if (wait_sock((SOCKET)c, POLLWRNORM, ms) <= 0)
            return -1;
        int sent = send((SOCKET)c, p, n > 65536 ? 65536 : (int)n, 0);
        if (sent == SOCKET_ERROR && WSAGetLastError() == WSAEWOULDBLOCK)
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
    if (s != -1)
        closesocket((SOCKET)s);
}

void cri_prom_unlisten(cri_prom_sock l)
{
    cri_prom_close(l);
    WSACleanup(); /* balances the WSAStartup in cri_prom_listen */
}
