/* The streaming server's Windows layer. The protocol engine (streaming_session.c) is shared;
 * what Windows still needs is a winsock listener and a per-connection loop that waits on
 * the socket and on the process's pipe handles (overlapped I/O), which Linux does with
 * poll(). Until that lands, starting the server says so instead of half-working. */
#include <winsock2.h>
#include <ws2tcpip.h>

#include <io.h>
#include <stdio.h>

#include "cri/streaming_impl.h"

void cri_plat_close(int fd)
{
    if (fd >= 0)
        _close(fd);
}

int cri_plat_shutdown_wr(int fd)
{
    /* Forwarded connections on Windows are winsock sockets carried as CRT descriptors. */
    SOCKET s = (SOCKET)_get_osfhandle(fd);
    return shutdown(s, SD_SEND) == 0 ? 0 : -1;
}

int cri_listener_start(cri_streaming *s, const cri_streaming_opts *o, cri_listener **out, int *port,
                       wc_err *err)
{
    (void)s;
    (void)out;
    (void)port;
    return wc_err_set(err, WC_UNIMPLEMENTED,
                      "the streaming server's Windows socket layer is not built yet; %s:%d "
                      "was not opened",
                      o->address, o->port);
}

void cri_listener_stop(cri_listener *l)
{
    (void)l;
}
