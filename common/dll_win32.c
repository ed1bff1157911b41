/* Loading system DLLs at first use (common/dll_win32.h). */
#include "common/dll_win32.h"

static BOOL CALLBACK load_once(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)ctx;
    wc_dll *d = param;
    d->mod = LoadLibraryExW(d->wname, NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
    d->error = d->mod ? 0 : GetLastError();
    return TRUE;
}

HMODULE wc_dll_module(wc_dll *d, DWORD *error)
{
    InitOnceExecuteOnce(&d->once, load_once, d, NULL);
    if (error)
        *error = d->error;
    return d->mod;
}

int wc_dll_load(wc_dll *d, wc_err *err)
{
    DWORD e;
    if (wc_dll_module(d, &e))
        return 0;
    wc_err_set(err, WC_UNAVAILABLE, "%s is not available on this host (%s): LoadLibrary error %lu",
               d->name, d->hint, (unsigned long)e);
    if (err)
        err->sys = (long)e;
    return -1;
}

wc_dll_fn wc_dll_proc(wc_dll *d, const char *proc, wc_err *err)
{
    if (wc_dll_load(d, err) < 0)
        return NULL;
    wc_dll_fn f = (wc_dll_fn)GetProcAddress(d->mod, proc);
    if (!f)
        wc_err_set(err, WC_UNAVAILABLE,
                   "%s on this host has no %s (not available on this Windows build)", d->name,
                   proc);
    return f;
}
