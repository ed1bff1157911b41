/* Wall and monotonic time in nanoseconds (CRI timestamps are Unix nanoseconds). */
#ifndef WINCRI_COMMON_CLOCK_H
#define WINCRI_COMMON_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

int64_t wc_clock_realtime_ns(void);
int64_t wc_clock_monotonic_ns(void);
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-25T00:18:12.123Z. */
void wc_clock_format_utc(int64_t ns, char *out, size_t cap);
void wc_sleep_ms(unsigned ms);
/* The CLOCK_REALTIME instant ms milliseconds from now, as pthread_cond_timedwait wants it. */
struct timespec wc_clock_deadline_in(long ms);
/* Thread-safe gmtime (platform file). */
void wc_clock_gmtime(time_t secs, struct tm *out);

#endif
