/* The Windows host's platform: windows/amd64 and the exact build with its revision (UBR),
 * which decides which image builds may run with process isolation. */
#include "image/img_internal.h"

#include <stdio.h>
#include <string.h>
#include <windows.h>

typedef LONG(WINAPI *rtl_get_version_fn)(OSVERSIONINFOW *);

static DWORD update_build_revision(void)
{
    DWORD ubr = 0, size = sizeof ubr;
    RegGetValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion", L"UBR",
                 RRF_RT_REG_DWORD, NULL, &ubr, &size);
    return ubr;
}

void img_host_detect(img_host *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->os, sizeof out->os, "windows");
    snprintf(out->arch, sizeof out->arch, "amd64");
    OSVERSIONINFOW vi;
    memset(&vi, 0, sizeof vi);
    vi.dwOSVersionInfoSize = sizeof vi;
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    rtl_get_version_fn get = NULL;
    if (ntdll)
        get = (rtl_get_version_fn)(void *)GetProcAddress(ntdll, "RtlGetVersion");
    if (get && get(&vi) == 0)
        snprintf(out->os_version, sizeof out->os_version, "%lu.%lu.%lu.%lu",
                 (unsigned long)vi.dwMajorVersion, (unsigned long)vi.dwMinorVersion,
                 (unsigned long)vi.dwBuildNumber, (unsigned long)update_build_revision());
}
