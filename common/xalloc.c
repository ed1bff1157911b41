/* Allocation that cannot fail: see xalloc.h for the policy. */
#include "common/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

_Noreturn void wc_xalloc_failed(size_t size)
{
    /* wc_log formats on the stack: it does not allocate. */
    wc_log(WC_LOG_ERROR, "alloc", "out of memory", "bytes=%zu", size);
    fflush(stderr);
    abort();
}

void *wc_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        wc_xalloc_failed(size);
    return p;
}

void *wc_xcalloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        wc_xalloc_failed(SIZE_MAX);
    void *p = calloc(n && size ? n : 1, n && size ? size : 1);
    if (!p)
        wc_xalloc_failed(n * size);
    return p;
}

void *wc_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        wc_xalloc_failed(size);
    return q;
}

char *wc_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = wc_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

char *wc_xstrndup(const char *s, size_t n)
{
    size_t len = 0;
    while (len < n && s[len])
        len++;
    char *d = wc_xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *wc_xvasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) { /* an encoding error, not memory: the caller's format is wrong */
        wc_log(WC_LOG_ERROR, "alloc", "cannot format string", NULL);
        fflush(stderr);
        abort();
    }
    char *s = wc_xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *wc_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = wc_xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}
