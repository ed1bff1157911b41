#include "common/net.h"

#include <winsock2.h>
#include <ws2tcpip.h>

int wc_inet_family(const char *text)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, text, buf) == 1)
        return 4;
    if (inet_pton(AF_INET6, text, buf) == 1)
        return 6;
    return 0;
}
