#include <windows.h>

void wc_crash_die(void);

void wc_crash_die(void)
{
    TerminateProcess(GetCurrentProcess(), 137);
}
