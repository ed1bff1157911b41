/* UTF-8 ↔ UTF-16 for what wincri hands to Windows APIs and reads back from them (Windows
 * only; include from *_win32.c files). The one conversion of the tree: invalid input (bad
 * UTF-8, a lone surrogate) is refused, never replaced. */
#ifndef WINCRI_COMMON_WSTR_WIN32_H
#define WINCRI_COMMON_WSTR_WIN32_H

#include <wchar.h>

#include "common/err.h"

/* malloc'd results. NULL or invalid input is WC_INVALID_ARGUMENT; err may be NULL when the
 * caller words its own message. */
wchar_t *wc_utf8_to_utf16(const char *s, wc_err *err);
char *wc_utf16_to_utf8(const wchar_t *s, wc_err *err);

#endif
