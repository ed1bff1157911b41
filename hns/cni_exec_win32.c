/* Placeholder for running a CNI plugin ("<type>.exe") on Windows. The Windows HCN helper
 * replaces it; until then CNI calls fail clearly. */
#include "hns/cni_int.h"

int hns_cni_exec(const hns_cni_exec_req *rq, char **out, char **err_text, int *exit_code,
                 wc_err *err)
{
    *out = NULL;
    *err_text = NULL;
    return wc_err_set(err, WC_UNIMPLEMENTED, "running CNI plugin %s not yet on Windows",
                      rq->plugin);
}
