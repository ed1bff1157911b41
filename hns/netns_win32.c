/* Placeholders for the Windows pod namespace (an HCN namespace whose GUID is CNI_NETNS).
 * The Windows HCN helper replaces these; until then they fail clearly. */
#include "hns/hns.h"

int hns_netns_create(hns_network *net, const char *pod_id, char **netns, wc_err *err)
{
    return wc_err_set(err, WC_UNIMPLEMENTED,
                      "pod network namespace (HCN namespace) not yet on Windows");
}

int hns_netns_remove(hns_network *net, const char *netns, wc_err *err)
{
    return wc_err_set(err, WC_UNIMPLEMENTED,
                      "removing a pod network namespace (HCN namespace) not yet on Windows");
}

int hns_netns_stats(hns_network *net, const char *netns, uint64_t *rx_bytes, uint64_t *tx_bytes,
                    wc_err *err)
{
    return wc_err_set(err, WC_UNIMPLEMENTED, "pod network statistics not yet on Windows");
}
