/* Linux has no HNS: the built-in NAT mode is Windows only, and an attach with no CNI config
 * fails as it always has (hns_nat_builtin is false here). */
#include "hns/nat.h"

int hns_nat_supported(void)
{
    return 0;
}

static int not_here(wc_err *err)
{
    return wc_err_set(err, WC_FAILED_PRECONDITION,
                      "the built-in NAT network is Windows only; on Linux install a CNI config");
}

int hns_nat_attach(hns_network *net, const char *netns, const hns_pod_net *pod,
                   hns_attach_result *out, wc_err *err)
{
    (void)net;
    (void)netns;
    (void)pod;
    (void)out;
    return not_here(err);
}

int hns_nat_detach(hns_network *net, const char *netns, const hns_pod_net *pod,
                   const char *endpoint_id, wc_err *err)
{
    (void)net;
    (void)netns;
    (void)pod;
    (void)endpoint_id;
    return not_here(err);
}

int hns_nat_check(hns_network *net, const char *endpoint_id, wc_err *err)
{
    (void)net;
    (void)endpoint_id;
    return not_here(err);
}
