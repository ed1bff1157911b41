#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int wc_err_vset(wc_err *err, wc_code code, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    err->code = code;
    err->sys = 0;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return -1;
}

int wc_err_set(wc_err *err, wc_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wc_err_vset(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

int wc_err_sys(wc_err *err, wc_code code, int sys, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    wc_err_vset(err, code, fmt, ap);
    va_end(ap);
    err->sys = sys;
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(sys));
    return -1;
}

int wc_err_prefix(wc_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char ctx[WC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    /* Compose in a buffer large enough for both, then keep what fits. */
    char joined[2 * WC_ERR_MSG_MAX + 2];
    size_t n = strlen(ctx);
    memcpy(joined, ctx, n);
    joined[n++] = ':';
    joined[n++] = ' ';
    memcpy(joined + n, err->msg, strlen(err->msg) + 1);
    memcpy(err->msg, joined, WC_ERR_MSG_MAX - 1);
    err->msg[WC_ERR_MSG_MAX - 1] = '\0';
    return -1;
}

void wc_err_clear(wc_err *err)
{
    if (!err)
        return;
    err->code = WC_OK;
    err->sys = 0;
    err->msg[0] = '\0';
}

const char *wc_code_name(wc_code code)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if ((unsigned)code < sizeof names / sizeof names[0])
        return names[code];
    return "UNKNOWN";
}
