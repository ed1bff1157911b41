/* computecore.dll, loaded at run time: the table of entry points the client uses, each
 * typed from mingw-w64's own computecore.h (internal to hcs/hcs_win32*.c). */
#ifndef WINCRI_HCS_HCS_WIN32_API_H
#define WINCRI_HCS_HCS_WIN32_API_H

#include <windows.h>

#include <computecore.h>

#include "common/dll_win32.h"
#include "common/err.h"

#define HCS_FUNCS(X)                                                                               \
    X(HcsCreateOperation)                                                                          \
    X(HcsCloseOperation)                                                                           \
    X(HcsWaitForOperationResult)                                                                   \
    X(HcsWaitForOperationResultAndProcessInfo)                                                     \
    X(HcsCancelOperation)                                                                          \
    X(HcsEnumerateComputeSystems)                                                                  \
    X(HcsCreateComputeSystem)                                                                      \
    X(HcsOpenComputeSystem)                                                                        \
    X(HcsCloseComputeSystem)                                                                       \
    X(HcsStartComputeSystem)                                                                       \
    X(HcsShutDownComputeSystem)                                                                    \
    X(HcsTerminateComputeSystem)                                                                   \
    X(HcsPauseComputeSystem)                                                                       \
    X(HcsResumeComputeSystem)                                                                      \
    X(HcsGetComputeSystemProperties)                                                               \
    X(HcsModifyComputeSystem)                                                                      \
    X(HcsSetComputeSystemCallback)                                                                 \
    X(HcsCreateProcess)                                                                            \
    X(HcsOpenProcess)                                                                              \
    X(HcsCloseProcess)                                                                             \
    X(HcsTerminateProcess)                                                                         \
    X(HcsSignalProcess)                                                                            \
    X(HcsModifyProcess)                                                                            \
    X(HcsSetProcessCallback)                                                                       \
    X(HcsWaitForProcessExit)                                                                       \
    X(HcsGrantVmAccess)

struct hcs_api_table {
#define HCS_API_PTR(name) __typeof__(&name) name;
    HCS_FUNCS(HCS_API_PTR)
#undef HCS_API_PTR
};

/* computecore.dll itself (the runtime handler check loads it too). */
extern wc_dll hcs_computecore;

/* Filled by hcs_api_load(); valid only after it returned 0. */
extern struct hcs_api_table hcs_api;

/* Loads computecore.dll from System32 and resolves every entry point. Idempotent and
 * thread-safe; later calls return the first outcome. WC_FAILED_PRECONDITION, naming the
 * Windows feature to enable, when the DLL or an entry point is missing. */
int hcs_api_load(wc_err *err);

#endif
