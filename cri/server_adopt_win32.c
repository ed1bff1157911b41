/* gRPC core takes no connected socket on Windows: the named-pipe front relays instead. */
#include <errno.h>

#include "cri/server.h"

int cri_server_adopt_connection(void *srv, int fd)
{
    (void)srv;
    (void)fd;
    errno = ENOTSUP;
    return -1;
}
