/* UTF-8 ↔ UTF-16 with the Win32 conversions, strict both ways (common/wstr_win32.h). */
#include <stdlib.h>

#include <windows.h>

#include "common/wstr_win32.h"
#include "common/xalloc.h"

wchar_t *wc_utf8_to_utf16(const char *s, wc_err *err)
{
    if (!s) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "UTF-8 to UTF-16: no string");
        return NULL;
    }
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "text is not valid UTF-8 (Win32 error %lu)",
                   (unsigned long)GetLastError());
        return NULL;
    }
    wchar_t *w = wc_xmalloc((size_t)n * sizeof *w);
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
        free(w);
        wc_err_set(err, WC_INTERNAL, "UTF-8 to UTF-16 conversion failed (Win32 error %lu)",
                   (unsigned long)GetLastError());
        return NULL;
    }
    return w;
}

char *wc_utf16_to_utf8(const wchar_t *s, wc_err *err)
{
    if (!s) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "UTF-16 to UTF-8: no string");
        return NULL;
    }
    int n = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, s, -1, NULL, 0, NULL, NULL);
    if (n <= 0) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "text is not valid UTF-16 (Win32 error %lu)",
                   (unsigned long)GetLastError());
        return NULL;
    }
    char *u = wc_xmalloc((size_t)n);
    if (WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, s, -1, u, n, NULL, NULL) != n) {
        free(u);
        wc_err_set(err, WC_INTERNAL, "UTF-16 to UTF-8 conversion failed (Win32 error %lu)",
                   (unsigned long)GetLastError());
        return NULL;
    }
    return u;
}
