#include "common/log.h"
#include "common/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static volatile int current_level = WC_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int wc_log_parse_level(const char *name, wc_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (wc_log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = WC_LOG_WARN;
        return 0;
    }
    return -1;
}

void wc_log_set_level(wc_log_level level)
{
    current_level = level;
}

int wc_log_enabled(wc_log_level level)
{
    return (int)level >= current_level;
}

/* Writes msg as a quoted value, escaping quotes, backslashes and control characters so a
 * line stays one line whatever the message holds. */
static size_t put_quoted(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    if (n < cap)
        out[n++] = '"';
    for (; *s && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else if (c < 0x20) {
            out[n++] = ' ';
        } else {
            out[n++] = (char)c;
        }
    }
    if (n < cap)
        out[n++] = '"';
    return n;
}

void wc_log(wc_log_level level, const char *component, const char *msg, const char *kv_fmt, ...)
{
    if (!wc_log_enabled(level))
        return;
    char line[4096];
    char ts[40];
    wc_clock_format_utc(wc_clock_realtime_ns(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "%s level=%s component=%s msg=", ts, level_names[level],
                     component);
    size_t used = n > 0 ? (size_t)n : 0;
    used += put_quoted(line + used, sizeof line - used - 2, msg);
    if (kv_fmt && *kv_fmt && used < sizeof line - 2) {
        line[used++] = ' ';
        va_list ap;
        va_start(ap, kv_fmt);
        int k = vsnprintf(line + used, sizeof line - used - 1, kv_fmt, ap);
        va_end(ap);
        if (k > 0)
            used += (size_t)k < sizeof line - used - 1 ? (size_t)k : sizeof line - used - 2;
    }
    line[used++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    fwrite(line, 1, used, stderr);
}
