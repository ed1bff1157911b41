/* wincrid on Windows: a service under the Service Control Manager (installed by
 * deploy/windows/install-service.ps1), or a console program when started by hand, where
 * Ctrl+C stops it. Either way the daemon itself is wc_daemon_run; this file only maps the
 * platform's stop requests onto wc_daemon_request_stop and reports the service's state. */
#include <windows.h>

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "cri/cli.h"
#include "cri/daemon.h"

#define SERVICE_NAME L"wincri"
#define DEFAULT_LOG_FILE "C:\\ProgramData\\wincri\\wincrid.log"
/* Enough for the default shutdown grace (10 s) plus cancelling what is left. */
#define STOP_WAIT_HINT_MS 30000

static wc_daemon_opts g_opts;
static SERVICE_STATUS_HANDLE g_status_handle;
static SERVICE_STATUS g_status;
static int g_exit_code;

static void report(DWORD state, DWORD wait_hint)
{
    g_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    g_status.dwCurrentState = state;
    g_status.dwControlsAccepted =
        state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    g_status.dwWaitHint = wait_hint;
    g_status.dwCheckPoint =
        (state == SERVICE_RUNNING || state == SERVICE_STOPPED) ? 0 : g_status.dwCheckPoint + 1;
    if (state == SERVICE_STOPPED && g_exit_code != 0) {
        /* The daemon's own exit code (2: bad config, 1: root locked) for `sc query`. */
        g_status.dwWin32ExitCode = ERROR_SERVICE_SPECIFIC_ERROR;
        g_status.dwServiceSpecificExitCode = (DWORD)g_exit_code;
    }
    SetServiceStatus(g_status_handle, &g_status);
}

static DWORD WINAPI on_service_control(DWORD control, DWORD type, void *data, void *ctx)
{
    (void)type;
    (void)data;
    (void)ctx;
    switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        report(SERVICE_STOP_PENDING, STOP_WAIT_HINT_MS);
        wc_info("daemon", "service stop requested", "control=%lu", (unsigned long)control);
        wc_daemon_request_stop();
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

/* A service has no console: its log lines go to wincrid.log beside the config file. */
static void log_to_file(void)
{
    char path[MAX_PATH];
    const char *cfg = g_opts.config_path;
    const char *slash = cfg ? strrchr(cfg, '\\') : NULL;
    if (slash && (size_t)(slash - cfg) + sizeof "\\wincrid.log" <= sizeof path)
        snprintf(path, sizeof path, "%.*s\\wincrid.log", (int)(slash - cfg), cfg);
    else
        snprintf(path, sizeof path, "%s", DEFAULT_LOG_FILE);
    if (freopen(path, "a", stderr))
        setvbuf(stderr, NULL, _IONBF, 0);
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    (void)argc;
    (void)argv;
    g_status_handle = RegisterServiceCtrlHandlerExW(SERVICE_NAME, on_service_control, NULL);
    if (!g_status_handle)
        return;
    log_to_file();
    report(SERVICE_START_PENDING, STOP_WAIT_HINT_MS);
    /* The daemon reports its own start-up failures and returns; until then it serves. */
    report(SERVICE_RUNNING, 0);
    g_exit_code = wc_daemon_run(&g_opts);
    wc_info("daemon", "service stopped", "exit_code=%d", g_exit_code);
    report(SERVICE_STOPPED, 0);
}

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

int main(int argc, char **argv)
{
    cli_action a = wc_cli_parse(argc, argv, &g_opts);
    if (a != CLI_RUN)
        return a == CLI_EXIT_OK ? 0 : 2; /* usage and config errors both exit 2 */
    if (g_opts.console) {
        /* The CRT buffers stderr when it is a file or a pipe ("flushed when they are full
         * or, if you are writing to a character device, after each library call"): log
         * lines must reach a redirected log as they happen. */
        setvbuf(stderr, NULL, _IONBF, 0);
        SetConsoleCtrlHandler(on_console_event, TRUE);
        return wc_daemon_run(&g_opts);
    }
    SERVICE_TABLE_ENTRYW table[] = {{(LPWSTR)SERVICE_NAME, service_main}, {NULL, NULL}};
    /* Returns once the service has stopped; fails at once when not started by the SCM. */
    if (StartServiceCtrlDispatcherW(table))
        return g_exit_code;
    DWORD e = GetLastError();
    if (e != ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
        wc_error("daemon", "cannot connect to the service control manager", "error=%lu",
                 (unsigned long)e);
        return 1;
    }
    setvbuf(stderr, NULL, _IONBF, 0);
    SetConsoleCtrlHandler(on_console_event, TRUE);
    return wc_daemon_run(&g_opts);
}
