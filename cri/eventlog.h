/* wincrid's events in the Windows event log (Windows only: cri/eventlog_win32.c).
 *
 * Log "Application", source "wincrid". The source is registered by `wincrid service install`
 * (HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\wincrid) with wincrid.exe as
 * its message file: the message table linked into it (deploy/windows/wincrid-events.mc)
 * gives every event id the text "%1", so Event Viewer shows the one string each event
 * carries. */
#ifndef WINCRI_CRI_EVENTLOG_H
#define WINCRI_CRI_EVENTLOG_H

#include <wchar.h>

#include "common/err.h"

#define WC_EVENT_SOURCE L"wincrid"

/* Event ids; the numbers are the MessageIds in deploy/windows/wincrid-events.mc. */
typedef enum wc_event_id {
    WC_EVENT_STARTED = 1,      /* information: serving CRI */
    WC_EVENT_STOPPED = 2,      /* information: stopped after a stop request */
    WC_EVENT_CONFIG_ERROR = 3, /* error: the configuration was refused (exit code 2) */
    WC_EVENT_START_FAILED = 4, /* error: could not start for another reason (exit code 1) */
    WC_EVENT_CRASHED = 5,      /* error: an unhandled exception or abort() */
} wc_event_id;

/* Opens the event source for this process (RegisterEventSourceW); reports before it, or
 * after it failed, go to the log only. */
void wc_eventlog_open(void);
void wc_eventlog_close(void);

/* Reports one event whose text is the printf-style message (UTF-8). Logs at debug level that
 * it did (component=eventlog, event_id=N), or warns when the event log refused it.
 * Returns 0 when ReportEventW took it. */
int wc_eventlog_report(wc_event_id id, const char *fmt, ...) WC_PRINTF(2, 3);

/* From here on, an unhandled exception (in any thread) or abort() writes one last log line
 * and a WC_EVENT_CRASHED event before the process dies as it would have; the exception
 * still reaches Windows Error Reporting (crash dumps, when configured). */
void wc_eventlog_catch_crashes(void);

/* The event source's registry key, written by `service install` with exe (a full path) as
 * its EventMessageFile, removed by `service uninstall`. Return 0 or a Win32 error code. */
unsigned long wc_eventlog_register_source(const wchar_t *exe);
unsigned long wc_eventlog_unregister_source(void);

#endif
