#include "common/handle_win32.h"

#include <fcntl.h>
#include <io.h>
#include <stdint.h>

int wc_fd_of_copy(HANDLE h, int flags)
{
    HANDLE copy = NULL;
    if (!h || h == INVALID_HANDLE_VALUE ||
        !DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &copy, 0, FALSE,
                         DUPLICATE_SAME_ACCESS))
        return -1;
    int fd = _open_osfhandle((intptr_t)copy, flags | _O_BINARY);
    if (fd < 0)
        CloseHandle(copy);
    return fd;
}
