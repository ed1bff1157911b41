/* Windows command lines and path strings, built as plain bytes so the logic is tested on Linux as
 * well as under wine (UTF-8 in, UTF-8 out; the UTF-16 conversions are common/wstr_win32.h). */
#ifndef WINCRI_HCS_WINSTR_H
#define WINCRI_HCS_WINSTR_H

#include <stddef.h>

/* 1 for "C:\x", "C:/x", "\\server\share", "\\?\..." and "\\.\..." (an absolute path). */
int hcs_path_is_absolute(const char *p);

/* Joins `rel` under `base` with Windows rules: an absolute `rel` replaces `base`; a rooted
 * `rel` ("\x") keeps only base's drive or \\?\ volume prefix; otherwise one backslash goes
 * between them. Forward slashes in `rel` become backslashes; a \\?\ base is kept verbatim.
 * Drive-relative forms ("C:x") are refused. Returns a malloc'd string, NULL on bad input. */
char *hcs_path_join(const char *base, const char *rel);

/* The long-path form of an absolute path: "C:\x" → "\\?\C:\x", "\\srv\sh\x" →
 * "\\?\UNC\srv\sh\x"; "\\?\..." is returned unchanged. NULL for a relative path. */
char *hcs_path_long(const char *p);

/* Quotes one argument so CommandLineToArgvW gives it back unchanged (the rules of Go's
 * syscall.EscapeArg, which hcsshim uses). Returns a malloc'd string. */
char *hcs_argv_quote(const char *arg);
/* Joins argv (n entries) into a command line, each argument quoted. malloc'd. */
char *hcs_argv_join(const char *const *argv, size_t n);

#endif
