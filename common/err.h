/* One error type for the whole daemon: a gRPC status code, the OS error behind it (errno
 * or HRESULT) if any, and a message a person can act on. Fallible functions return -1 and
 * fill a wc_err passed by pointer; callers add context with wc_err_prefix. */
#ifndef WINCRI_COMMON_ERR_H
#define WINCRI_COMMON_ERR_H

#include <stdarg.h>
#include <stdio.h>

/* gRPC status codes by their wire numbers, so modules need no gRPC headers. */
typedef enum {
    WC_OK = 0,
    WC_CANCELLED = 1,
    WC_UNKNOWN = 2,
    WC_INVALID_ARGUMENT = 3,
    WC_DEADLINE_EXCEEDED = 4,
    WC_NOT_FOUND = 5,
    WC_ALREADY_EXISTS = 6,
    WC_PERMISSION_DENIED = 7,
    WC_RESOURCE_EXHAUSTED = 8,
    WC_FAILED_PRECONDITION = 9,
    WC_ABORTED = 10,
    WC_OUT_OF_RANGE = 11,
    WC_UNIMPLEMENTED = 12,
    WC_INTERNAL = 13,
    WC_UNAVAILABLE = 14,
    WC_DATA_LOSS = 15,
    WC_UNAUTHENTICATED = 16,
} wc_code;

#define WC_ERR_MSG_MAX 1024

typedef struct wc_err {
    wc_code code;
    long sys; /* errno, or an HRESULT on Windows; 0 when there is none */
    char msg[WC_ERR_MSG_MAX];
} wc_err;

#if defined(__MINGW_PRINTF_FORMAT)
/* mingw's printf family is the C99 one here (__USE_MINGW_ANSI_STDIO), so check it as such. */
#define WC_PRINTF(a, b) __attribute__((format(__MINGW_PRINTF_FORMAT, a, b)))
#elif defined(__GNUC__)
#define WC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define WC_PRINTF(a, b)
#endif

/* Sets code and message; returns -1 so callers can `return wc_err_set(...)`. */
int wc_err_set(wc_err *err, wc_code code, const char *fmt, ...) WC_PRINTF(3, 4);
/* As wc_err_set, also records errno-like `sys` and appends its text (strerror). */
int wc_err_sys(wc_err *err, wc_code code, int sys, const char *fmt, ...) WC_PRINTF(4, 5);
int wc_err_vset(wc_err *err, wc_code code, const char *fmt, va_list ap);
/* Prepends context: "ctx: previous message". Keeps code and sys. Returns -1. */
int wc_err_prefix(wc_err *err, const char *fmt, ...) WC_PRINTF(2, 3);
void wc_err_clear(wc_err *err);
const char *wc_code_name(wc_code code);

#endif
