/* UTF-8 ↔ UTF-16 for what wincri hands to Windows APIs (Windows only; hcs/winstr_win32.c). */
#ifndef WINCRI_HCS_WINSTR_WIN32_H
#define WINCRI_HCS_WINSTR_WIN32_H

#include <wchar.h>

#include "common/err.h"

/* malloc'd results; invalid input (bad UTF-8, lone surrogates) is WC_INVALID_ARGUMENT. */
wchar_t *hcs_utf8_to_utf16(const char *s, wc_err *err);
char *hcs_utf16_to_utf8(const wchar_t *s, wc_err *err);

#endif
