#include "hcs/hcs.h"

#include <windows.h>

#include "hcs/hcs_win32_api.h"

int hcs_backend_check(const wc_config *cfg, const wc_runtime_handler *h, wc_err *err)
{
    (void)cfg;
    DWORD e;
    if (!wc_dll_module(&hcs_computecore, &e))
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "runtime handler \"%s\": computecore.dll is not available (Win32 error "
                          "%lu); enable the Windows feature \"Containers\"%s",
                          h->name, (unsigned long)e,
                          h->isolation && h->isolation[0] == 'h' ? " and \"Hyper-V\"" : "");
    return 0;
}

void hcs_handler_features_of(const wc_runtime_handler *h, hcs_handler_features *out)
{
    (void)h;
    *out = (hcs_handler_features){0}; /* Linux-only features of the CRI */
}

const char *hcs_cgroup_driver(void)
{
    return NULL;
}
