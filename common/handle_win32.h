/* Win32 handles as CRT descriptors. */
#ifndef WINCRI_COMMON_HANDLE_WIN32_H
#define WINCRI_COMMON_HANDLE_WIN32_H

#include <windows.h>

/* A CRT descriptor (opened with flags, binary) of a copy of h: the caller's h stays its own,
 * and _close of the descriptor closes only the copy. -1 for NULL or on failure. */
int wc_fd_of_copy(HANDLE h, int flags);

#endif
