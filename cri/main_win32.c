/* wincrid on Windows: `wincrid service ...` manages the service "wincri" (cri/service.h);
 * otherwise wincrid runs the daemon, as that service when the Service Control Manager started
 * it, else in the foreground (--console, or started by hand), where Ctrl+C stops it. Either
 * way the daemon itself is wc_daemon_run; an unhandled exception or abort() is logged and
 * reported to the event log before the process dies (cri/eventlog.h). */
#include <windows.h>

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "cri/cli.h"
#include "cri/daemon.h"
#include "cri/eventlog.h"
#include "cri/service.h"
#include "podsandbox/keeper_win32.h"

static BOOL WINAPI on_console_event(DWORD type)
{
    switch (type) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
    case CTRL_CLOSE_EVENT:
    case CTRL_SHUTDOWN_EVENT:
        wc_info("daemon", "console stop requested", "event=%lu", (unsigned long)type);
        wc_daemon_request_stop();
        return TRUE;
    default:
        return FALSE;
    }
}

/* The CRT buffers stderr when it is a file or a pipe ("flushed when they are full or, if you
 * are writing to a character device, after each library call"): log lines must reach a
 * redirected log as they happen. */
static int run_console(const wc_daemon_opts *opts)
{
    setvbuf(stderr, NULL, _IONBF, 0);
    SetConsoleCtrlHandler(on_console_event, TRUE);
    /* No event log here but for crashes: the console (or its redirection) shows the rest. */
    wc_eventlog_open();
    int code = wc_daemon_run(opts);
    wc_eventlog_close();
    return code;
}

int main(int argc, char **argv)
{
    wc_xalloc_init(); /* Jansson too aborts when out of memory: common/xalloc.h */
    if (argc >= 2 && strcmp(argv[1], POD_WKEEPER_ARG) == 0)
        return pod_wkeeper_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "service") == 0)
        return wc_service_command(argc - 1, argv + 1);
    wc_daemon_opts opts;
    cli_action a = wc_cli_parse(argc, argv, &opts);
    if (a != CLI_RUN)
        return a == CLI_EXIT_OK ? 0 : 2; /* usage and config errors both exit 2 */
    wc_eventlog_catch_crashes();
    if (opts.console)
        return run_console(&opts);
    int code = wc_service_dispatch(&opts);
    return code >= 0 ? code : run_console(&opts);
}
