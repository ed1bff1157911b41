#include "common/clock.h"

#include <time.h>
#include <windows.h>

/* FILETIME counts 100 ns ticks since 1601-01-01; Unix time starts 11644473600 s later. */
int64_t wc_clock_realtime_ns(void)
{
    FILETIME ft;
    GetSystemTimePreciseAsFileTime(&ft);
    int64_t ticks = ((int64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    return (ticks - 116444736000000000LL) * 100;
}

int64_t wc_clock_monotonic_ns(void)
{
    static LARGE_INTEGER freq;
    LARGE_INTEGER now;
    if (freq.QuadPart == 0)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&now);
    return (int64_t)((double)now.QuadPart * 1e9 / (double)freq.QuadPart);
}

void wc_clock_gmtime(time_t secs, struct tm *out)
{
    gmtime_s(out, &secs);
}

void wc_sleep_ms(unsigned ms)
{
    Sleep(ms);
}
