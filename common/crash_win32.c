#include <windows.h>

#include <stdlib.h>
#include <string.h>

void wc_crash_die(void);

/* WINCRI_CRASH_MODE=exception makes a crash point raise an access violation instead, so the
 * tests can watch what an unhandled exception does (cri/eventlog_win32.c logs and reports it
 * before the process dies). */
void wc_crash_die(void)
{
    const char *mode = getenv("WINCRI_CRASH_MODE");
    if (mode && strcmp(mode, "exception") == 0)
        RaiseException(EXCEPTION_ACCESS_VIOLATION, EXCEPTION_NONCONTINUABLE, 0, NULL);
    TerminateProcess(GetCurrentProcess(), 137);
}
