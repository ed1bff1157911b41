/* The Windows event log (cri/eventlog.h) and the crash reporter. */
#include "cri/eventlog.h"

#include <windows.h>

#include <io.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"

#define SOURCE_KEY L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\wincrid"

static HANDLE g_source; /* NULL: not open, or RegisterEventSourceW failed */

void wc_eventlog_open(void)
{
    if (g_source)
        return;
    g_source = RegisterEventSourceW(NULL, WC_EVENT_SOURCE);
    if (!g_source)
        wc_warn("eventlog", "cannot open the event log; events go to this log only",
                "source=wincrid error=%lu", (unsigned long)GetLastError());
}

void wc_eventlog_close(void)
{
    if (g_source)
        DeregisterEventSource(g_source);
    g_source = NULL;
}

static WORD event_type(wc_event_id id)
{
    switch (id) {
    case WC_EVENT_STARTED:
    case WC_EVENT_STOPPED:
        return EVENTLOG_INFORMATION_TYPE;
    default:
        return EVENTLOG_ERROR_TYPE;
    }
}

/* ReportEventW with one insert string; no allocation, so the crash paths may use it. */
static BOOL report_text(wc_event_id id, const char *text)
{
    if (!g_source)
        return FALSE;
    wchar_t wide[2048];
    if (!MultiByteToWideChar(CP_UTF8, 0, text, -1, wide, (int)(sizeof wide / sizeof *wide))) {
        /* Too long or not UTF-8: keep what fits, byte by byte. */
        size_t i = 0;
        for (; text[i] && i + 1 < sizeof wide / sizeof *wide; i++)
            wide[i] = (unsigned char)text[i] < 0x80 ? (wchar_t)text[i] : L'?';
        wide[i] = 0;
    }
    const wchar_t *strings[1] = {wide};
    return ReportEventW(g_source, event_type(id), 0, (DWORD)id, NULL, 1, 0, strings, NULL);
}

int wc_eventlog_report(wc_event_id id, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (!g_source) {
        wc_debug("eventlog", "event not reported: the event log is not open", "event_id=%d",
                 (int)id);
        return -1;
    }
    if (!report_text(id, text)) {
        wc_warn("eventlog", "the event log refused an event", "event_id=%d error=%lu", (int)id,
                (unsigned long)GetLastError());
        return -1;
    }
    wc_info("eventlog", "event reported", "event_id=%d type=%s", (int)id,
            event_type(id) == EVENTLOG_ERROR_TYPE ? "error" : "information");
    return 0;
}

/* ---- crashes ---- */

/* The last log line is written straight to the log's OS handle: the crash may have happened
 * inside the C library while it held stderr's lock. */
static void crash_line(const char *rest)
{
    char ts[40];
    wc_clock_format_utc(wc_clock_realtime_ns(), ts, sizeof ts);
    char line[768];
    int n = snprintf(line, sizeof line, "%s level=error component=daemon %s\n", ts, rest);
    if (n <= 0)
        return;
    if ((size_t)n >= sizeof line)
        n = (int)sizeof line - 1;
    HANDLE h = (HANDLE)_get_osfhandle(_fileno(stderr));
    if (h == INVALID_HANDLE_VALUE || !h)
        h = GetStdHandle(STD_ERROR_HANDLE);
    DWORD written;
    if (h && h != INVALID_HANDLE_VALUE)
        WriteFile(h, line, (DWORD)n, &written, NULL);
}

/* The second line: whether the event log took the crash event. */
static void crash_reported(BOOL ok)
{
    char rest[160];
    if (ok)
        snprintf(rest, sizeof rest, "msg=\"crash reported to the event log\" event_id=%d",
                 (int)WC_EVENT_CRASHED);
    else
        snprintf(rest, sizeof rest,
                 "msg=\"the crash could not be reported to the event log\" event_id=%d "
                 "error=%lu",
                 (int)WC_EVENT_CRASHED, g_source ? (unsigned long)GetLastError() : 0ul);
    crash_line(rest);
}

static const char *exception_name(DWORD code)
{
    switch (code) {
    case EXCEPTION_ACCESS_VIOLATION:
        return "access violation";
    case EXCEPTION_STACK_OVERFLOW:
        return "stack overflow";
    case EXCEPTION_ILLEGAL_INSTRUCTION:
        return "illegal instruction";
    case EXCEPTION_INT_DIVIDE_BY_ZERO:
        return "integer division by zero";
    case EXCEPTION_IN_PAGE_ERROR:
        return "in-page error";
    case EXCEPTION_PRIV_INSTRUCTION:
        return "privileged instruction";
    case 0xC0000409: /* STATUS_STACK_BUFFER_OVERRUN, also __fastfail */
        return "stack buffer overrun";
    case 0xC0000374: /* STATUS_HEAP_CORRUPTION */
        return "heap corruption";
    default:
        return "exception";
    }
}

static volatile LONG g_crashing;

static LONG WINAPI on_unhandled_exception(EXCEPTION_POINTERS *ep)
{
    if (InterlockedExchange(&g_crashing, 1))
        return EXCEPTION_CONTINUE_SEARCH; /* a second thread: the first one reports */
    const EXCEPTION_RECORD *rec = ep->ExceptionRecord;
    void *addr = rec->ExceptionAddress;
    char module[MAX_PATH] = "?";
    uintptr_t offset = (uintptr_t)addr;
    HMODULE mod = NULL;
    if (GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                               GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                           (LPCSTR)addr, &mod) &&
        GetModuleFileNameA(mod, module, sizeof module)) {
        offset -= (uintptr_t)mod;
    }
    const char *base = strrchr(module, '\\');
    base = base ? base + 1 : module;
    char kv[512];
    snprintf(kv, sizeof kv,
             "msg=\"crashed\" exception=0x%08lX name=\"%s\" module=%s offset=0x%llx thread=%lu",
             (unsigned long)rec->ExceptionCode, exception_name(rec->ExceptionCode), base,
             (unsigned long long)offset, (unsigned long)GetCurrentThreadId());
    crash_line(kv);
    char text[768];
    snprintf(text, sizeof text,
             "wincrid crashed: %s (exception 0x%08lX) at %s+0x%llx in thread %lu. As a "
             "service it is restarted by its recovery actions; its log has what led up to it.",
             exception_name(rec->ExceptionCode), (unsigned long)rec->ExceptionCode, base,
             (unsigned long long)offset, (unsigned long)GetCurrentThreadId());
    crash_reported(report_text(WC_EVENT_CRASHED, text));
    /* Let Windows end the process as for any unhandled exception (Windows Error Reporting,
     * crash dumps when LocalDumps is configured); the exit code is the exception code. */
    return EXCEPTION_CONTINUE_SEARCH;
}

static void on_abort(int sig)
{
    (void)sig;
    if (InterlockedExchange(&g_crashing, 1))
        return;
    crash_line("msg=\"crashed\" reason=abort");
    crash_reported(report_text(WC_EVENT_CRASHED,
                               "wincrid aborted: abort() was called (a fatal error in wincrid or "
                               "a library it uses). As a service it is restarted by its "
                               "recovery actions; its log has what led up to it."));
    /* Returning lets the C runtime finish abort(): exit code 3. */
}

void wc_eventlog_catch_crashes(void)
{
    SetUnhandledExceptionFilter(on_unhandled_exception);
    signal(SIGABRT, on_abort);
}

/* ---- the event source's registration ---- */

unsigned long wc_eventlog_register_source(const wchar_t *exe)
{
    HKEY key;
    LONG rc = RegCreateKeyExW(HKEY_LOCAL_MACHINE, SOURCE_KEY, 0, NULL, REG_OPTION_NON_VOLATILE,
                              KEY_SET_VALUE, NULL, &key, NULL);
    if (rc != ERROR_SUCCESS)
        return (unsigned long)rc;
    DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
    rc = RegSetValueExW(key, L"EventMessageFile", 0, REG_EXPAND_SZ, (const BYTE *)exe,
                        (DWORD)((wcslen(exe) + 1) * sizeof(wchar_t)));
    if (rc == ERROR_SUCCESS)
        rc = RegSetValueExW(key, L"TypesSupported", 0, REG_DWORD, (const BYTE *)&types,
                            sizeof types);
    RegCloseKey(key);
    return (unsigned long)rc;
}

unsigned long wc_eventlog_unregister_source(void)
{
    LONG rc = RegDeleteTreeW(HKEY_LOCAL_MACHINE, SOURCE_KEY);
    if (rc == ERROR_SUCCESS || rc == ERROR_FILE_NOT_FOUND)
        return 0;
    return (unsigned long)rc;
}
