/* Loading computecore.dll: System32 only, every entry point resolved up front, and a
 * message naming the Windows feature to enable when the Host Compute Service is absent. */
#include "hcs/hcs_win32_api.h"

#define HANDLER_HYPERV "runhcs-wcow-hypervisor"

wc_dll hcs_computecore = WC_DLL("computecore.dll", "the Host Compute Service");
struct hcs_api_table hcs_api;

static INIT_ONCE load_once = INIT_ONCE_STATIC_INIT;
static wc_err load_err; /* outcome of the one load attempt */

static BOOL CALLBACK load_api(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    /* System32 only: never a computecore.dll planted next to wincrid.exe or on PATH. */
    DWORD e;
    if (!wc_dll_module(&hcs_computecore, &e)) {
        wc_err_set(&load_err, WC_FAILED_PRECONDITION,
                   "computecore.dll could not be loaded from System32 (Win32 error %lu): the Host "
                   "Compute Service is not installed. Enable the Windows 'Containers' feature "
                   "(and 'Hyper-V' for %s), e.g. Install-WindowsFeature Containers, then reboot",
                   (unsigned long)e, HANDLER_HYPERV);
        load_err.sys = (long)HRESULT_FROM_WIN32(e);
        return TRUE;
    }
#define HCS_RESOLVE(name)                                                                          \
    hcs_api.name = (__typeof__(&name))wc_dll_proc(&hcs_computecore, #name, NULL);                  \
    if (!hcs_api.name) {                                                                           \
        wc_err_set(&load_err, WC_FAILED_PRECONDITION,                                              \
                   "computecore.dll has no %s: this Windows build is too old for wincri (Windows " \
                   "Server 2019 / build 17763 or later is required)",                              \
                   #name);                                                                         \
        load_err.sys = (long)HRESULT_FROM_WIN32(GetLastError());                                   \
        return TRUE;                                                                               \
    }
    HCS_FUNCS(HCS_RESOLVE)
#undef HCS_RESOLVE
    return TRUE;
}

int hcs_api_load(wc_err *err)
{
    InitOnceExecuteOnce(&load_once, load_api, NULL, NULL);
    if (load_err.code != WC_OK) {
        *err = load_err;
        return -1;
    }
    return 0;
}
