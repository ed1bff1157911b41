/* Allocation that cannot fail: out of memory aborts the process.
 *
 * Policy: when an allocation fails, wincrid logs one line ("out of memory" with the size
 * asked for) and calls abort(). A daemon that cannot allocate cannot keep its promises, and
 * half-handled out-of-memory paths are code no test runs; the Go runtime behind containerd
 * and kubelet, and glib's g_malloc, do the same. wincri is built to be restarted without
 * loss (intents are recorded before side effects and recovered at start; README "Restart
 * without loss"), so the service manager's restart is the safe answer. All of wincri's own
 * allocations go through these functions, and wc_xalloc_init() gives Jansson the same
 * allocator, so json_object(), json_string() and json_dumps() of a valid document never
 * return NULL for lack of memory (json_pack and the like still fail on a bad format or a
 * NULL string argument). Libraries with their own allocators (libcurl, SQLite, OpenSSL,
 * libarchive, protobuf-c, gRPC) report their failures through their own error paths, which
 * stay handled.
 *
 * Like their libc namesakes, except that they never return NULL: a size of zero gives a
 * distinct pointer, and wc_xstrdup/wc_xstrndup need a string (not NULL). */
#ifndef WINCRI_COMMON_XALLOC_H
#define WINCRI_COMMON_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

#include "common/err.h"

#if defined(__GNUC__)
#define WC_XALLOC_ATTR __attribute__((returns_nonnull, warn_unused_result))
#else
#define WC_XALLOC_ATTR
#endif

void *wc_xmalloc(size_t size) WC_XALLOC_ATTR;
void *wc_xcalloc(size_t n, size_t size) WC_XALLOC_ATTR;
void *wc_xrealloc(void *p, size_t size) WC_XALLOC_ATTR;
char *wc_xstrdup(const char *s) WC_XALLOC_ATTR;
char *wc_xstrndup(const char *s, size_t n) WC_XALLOC_ATTR;
/* A new string formatted as by printf. */
char *wc_xasprintf(const char *fmt, ...) WC_PRINTF(1, 2) WC_XALLOC_ATTR;
char *wc_xvasprintf(const char *fmt, va_list ap) WC_XALLOC_ATTR;

/* Logs "out of memory" with the size asked for, then aborts. */
_Noreturn void wc_xalloc_failed(size_t size);

/* Makes Jansson allocate through wc_xmalloc; call once at process start, before any thread
 * or JSON value exists. */
void wc_xalloc_init(void);

#endif
