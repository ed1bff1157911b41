#include "hns/hns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/net.h"

static int check_one(const char *cidr, size_t len, wc_err *err)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "pod CIDR \"%.*s\" is not a CIDR", (int)len,
                          cidr);
    memcpy(buf, cidr, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    if (!slash)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "pod CIDR \"%s\" has no /prefix length", buf);
    *slash = '\0';
    int family = wc_inet_family(buf);
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    int max = family == 6 ? 128 : 32;
    if (family == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "pod CIDR \"%.*s\": \"%s\" is not an IP address", (int)len, cidr, buf);
    if (*end || end == slash + 1 || bits < 0 || bits > max)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "pod CIDR \"%.*s\": prefix length must be 0-%d",
                          (int)len, cidr, max);
    return 0;
}

int hns_pod_cidr_validate(const char *cidr, wc_err *err)
{
    int parts = 0;
    while (*cidr) {
        size_t len = strcspn(cidr, ",");
        if (++parts > 2)
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "pod CIDR: at most two ranges (one per IP family)");
        if (check_one(cidr, len, err) < 0)
            return -1;
        cidr += len + (cidr[len] == ',');
    }
    return 0;
}
