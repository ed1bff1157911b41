/* The system DLLs wincri calls without an import library (computecore.dll, vmcompute.dll,
 * computestorage.dll, computenetwork.dll), loaded at first use so that wincrid starts, and
 * says what is missing, on a host without the Containers feature (Windows only; include
 * from *_win32.c files).
 *
 * A DLL is loaded from System32 only, never one planted beside wincrid.exe or on PATH; once
 * per process (thread-safe), the outcome kept, the module never unloaded. */
#ifndef WINCRI_COMMON_DLL_WIN32_H
#define WINCRI_COMMON_DLL_WIN32_H

#include <windows.h>

#include "common/err.h"

typedef struct wc_dll {
    const wchar_t *wname;
    const char *name;
    const char *hint; /* the error's parenthetical: what needs it, or why it may be missing */
    INIT_ONCE once;
    HMODULE mod;
    DWORD error; /* GetLastError of the failed load */
} wc_dll;

/* A static wc_dll: WC_DLL("vmcompute.dll", "Windows Containers feature missing?"). */
#define WC_DLL(file, why)                                                                          \
    {                                                                                              \
        L##file, file, why, INIT_ONCE_STATIC_INIT, NULL, 0                                         \
    }

/* The module, or NULL with *error (may be NULL) the Win32 error of the load, for callers
 * that word their own message. */
HMODULE wc_dll_module(wc_dll *d, DWORD *error);

/* 0, or -1 with WC_UNAVAILABLE "<name> is not available on this host (<hint>): LoadLibrary
 * error N" and err->sys the Win32 error. */
int wc_dll_load(wc_dll *d, wc_err *err);

/* Any entry point has this type until cast to its own: (fn_x)wc_dll_proc(...) needs no
 * detour through void * to keep -Wcast-function-type quiet. */
typedef void (*wc_dll_fn)(void);

/* An entry point, loading the DLL first. NULL with err set (may be NULL): as wc_dll_load, or
 * WC_UNAVAILABLE "<name> on this host has no <proc> (not available on this Windows build)". */
wc_dll_fn wc_dll_proc(wc_dll *d, const char *proc, wc_err *err);

#endif
