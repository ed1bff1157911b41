/* Structured log lines on stderr:
 *   2026-11-25T00:18:12.123Z level=info component=cri msg="listening" endpoint=unix:///run/...
 * The message is quoted; key=value pairs follow as the caller formats them. */
#ifndef WINCRI_COMMON_LOG_H
#define WINCRI_COMMON_LOG_H

#include "common/err.h"

typedef enum { WC_LOG_DEBUG = 0, WC_LOG_INFO, WC_LOG_WARN, WC_LOG_ERROR } wc_log_level;

/* Parses "debug", "info", "warn"/"warning", "error"; returns -1 on anything else. */
int wc_log_parse_level(const char *name, wc_log_level *out);
void wc_log_set_level(wc_log_level level);
int wc_log_enabled(wc_log_level level);

/* kv_fmt formats the key=value pairs (may be NULL for none). */
void wc_log(wc_log_level level, const char *component, const char *msg, const char *kv_fmt, ...)
    WC_PRINTF(4, 5);

#define wc_debug(comp, msg, ...) wc_log(WC_LOG_DEBUG, comp, msg, __VA_ARGS__)
#define wc_info(comp, msg, ...) wc_log(WC_LOG_INFO, comp, msg, __VA_ARGS__)
#define wc_warn(comp, msg, ...) wc_log(WC_LOG_WARN, comp, msg, __VA_ARGS__)
#define wc_error(comp, msg, ...) wc_log(WC_LOG_ERROR, comp, msg, __VA_ARGS__)

#endif
