#include "common/clock.h"

#include <stdio.h>
#include <time.h>

void wc_clock_format_utc(int64_t ns, char *out, size_t cap)
{
    time_t secs = (time_t)(ns / 1000000000LL);
    struct tm tm;
    wc_clock_gmtime(secs, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((ns / 1000000) % 1000));
}
