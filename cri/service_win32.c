/* wincrid as the Windows service "wincri" (cri/service.h): the `service` commands, which
 * talk to the Service Control Manager, and the service itself, which runs the daemon
 * (wc_daemon_run) and reports its state to the SCM and its events to the event log. */
#include "cri/service.h"

#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <shellapi.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "cri/eventlog.h"

#define SERVICE_NAME L"wincri"
#define SERVICE_NAME_A "wincri"
#define DISPLAY_NAME L"wincri CRI runtime"
#define DESCRIPTION                                                                                \
    L"Kubernetes CRI runtime (runtime.v1) for Windows containers over HCS and HCN; kubelet "       \
    L"talks to it on npipe:////./pipe/wincri."
#define DEFAULT_LOG_FILE "C:\\ProgramData\\wincri\\wincrid.log"

/* Recovery: restart after 5 s, 10 s, then 30 s for every later failure; a day without one
 * resets the count. Non-crash failures (stopped with an exit code) count too. */
#define RESET_PERIOD_S 86400
static const DWORD restart_delays_ms[] = {5000, 10000, 30000};

/* While starting or stopping, the service advances its checkpoint every second with this
 * wait hint, for at most the budget; a start or stop that takes longer is one the SCM may
 * call hung. Starting covers opening the stores and recovering every container. */
#define PENDING_WAIT_HINT_MS 10000
#define START_BUDGET_MS (5 * 60 * 1000)
#define STOP_MARGIN_MS 30000

#define DEFAULT_TIMEOUT_S 120

/* The log beside the config file (a service has no console), else DEFAULT_LOG_FILE. */
static void log_path_for(const char *config, char *out, size_t cap)
{
    const char *slash = config ? strrchr(config, '\\') : NULL;
    const char *fwd = config ? strrchr(config, '/') : NULL;
    if (fwd && (!slash || fwd > slash))
        slash = fwd;
    if (slash && (size_t)(slash - config) + sizeof "\\wincrid.log" <= cap)
        snprintf(out, cap, "%.*s\\wincrid.log", (int)(slash - config), config);
    else
        snprintf(out, cap, "%s", DEFAULT_LOG_FILE);
}

/* ======================= the service ======================= */

static wc_daemon_opts g_opts;
static CRITICAL_SECTION g_lock;
static SERVICE_STATUS_HANDLE g_handle;
static SERVICE_STATUS g_status;
static ULONGLONG g_pending_until; /* GetTickCount64() until which checkpoints advance */
static int g_exit_code;
static int g_grace_s = 10;
static char g_log_path[1024];

static int is_pending(DWORD state)
{
    return state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
}

/* Caller holds g_lock. */
static void set_state_locked(DWORD state, DWORD budget_ms)
{
    g_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    g_status.dwCurrentState = state;
    g_status.dwControlsAccepted =
        state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    g_status.dwWaitHint = is_pending(state) ? PENDING_WAIT_HINT_MS : 0;
    g_status.dwCheckPoint = is_pending(state) ? 1 : 0;
    g_status.dwWin32ExitCode = NO_ERROR;
    g_status.dwServiceSpecificExitCode = 0;
    if (state == SERVICE_STOPPED && g_exit_code != 0) {
        /* The daemon's exit code (2: configuration refused, 1: could not start) reaches
         * `sc query` and `wincrid service status`; with the failure-actions flag set at
         * install, the SCM treats it as a failure and restarts the service. */
        g_status.dwWin32ExitCode = ERROR_SERVICE_SPECIFIC_ERROR;
        g_status.dwServiceSpecificExitCode = (DWORD)g_exit_code;
    }
    g_pending_until = is_pending(state) ? GetTickCount64() + budget_ms : 0;
    if (!SetServiceStatus(g_handle, &g_status))
        wc_warn("daemon", "cannot report the service's state", "state=%lu error=%lu",
                (unsigned long)state, (unsigned long)GetLastError());
}

static void set_state(DWORD state, DWORD budget_ms)
{
    EnterCriticalSection(&g_lock);
    set_state_locked(state, budget_ms);
    LeaveCriticalSection(&g_lock);
}

/* Advances the checkpoint every second while starting or stopping, within the budget. */
static DWORD WINAPI checkpoint_ticker(void *stop_event)
{
    while (WaitForSingleObject(stop_event, 1000) == WAIT_TIMEOUT) {
        EnterCriticalSection(&g_lock);
        if (is_pending(g_status.dwCurrentState) && GetTickCount64() < g_pending_until) {
            g_status.dwCheckPoint++;
            SetServiceStatus(g_handle, &g_status);
        }
        LeaveCriticalSection(&g_lock);
    }
    return 0;
}

static DWORD WINAPI on_control(DWORD control, DWORD type, void *data, void *ctx)
{
    (void)type;
    (void)data;
    (void)ctx;
    switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        EnterCriticalSection(&g_lock);
        if (g_status.dwCurrentState == SERVICE_RUNNING)
            set_state_locked(SERVICE_STOP_PENDING, (DWORD)g_grace_s * 1000 + STOP_MARGIN_MS);
        LeaveCriticalSection(&g_lock);
        wc_info("daemon", "service stop requested", "control=%s",
                control == SERVICE_CONTROL_STOP ? "stop" : "shutdown");
        wc_daemon_request_stop(); /* the daemon's graceful stop, as for Ctrl+C */
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

static void on_serving(void *ctx, const wc_config *cfg, const char *endpoint)
{
    (void)ctx;
    g_grace_s = cfg->shutdown_grace_seconds;
    set_state(SERVICE_RUNNING, 0);
    wc_eventlog_report(WC_EVENT_STARTED,
                       "wincrid %s is serving CRI runtime.v1 on %s (config: %s; log: %s).",
                       WINCRI_VERSION, endpoint, cfg->source, g_log_path);
}

static void on_failed(void *ctx, int exit_code, const char *msg)
{
    (void)ctx;
    if (exit_code == 2)
        wc_eventlog_report(WC_EVENT_CONFIG_ERROR,
                           "wincrid did not start: its configuration was refused: %s. Fix it "
                           "(wincrid.exe --check-config --config FILE says where), then start "
                           "the service again. Log: %s.",
                           msg, g_log_path);
    else
        wc_eventlog_report(WC_EVENT_START_FAILED, "wincrid did not start: %s. Log: %s.", msg,
                           g_log_path);
}

/* A service has no console: log lines (ours, and whatever a library prints) go to the log
 * file. A service also starts without standard handles, so stderr's stream may have no valid
 * descriptor, and wine's C runtime will not reopen such a stream (its freopen wants the
 * stream's descriptor >= 0). So the file is made descriptor 2, and the stream pointed at it,
 * before freopen reopens it properly. */
static void log_to_file(void)
{
    log_path_for(g_opts.config_path, g_log_path, sizeof g_log_path);
    if (_fileno(stderr) < 0) {
        int fd = _open(g_log_path, _O_WRONLY | _O_APPEND | _O_CREAT, _S_IREAD | _S_IWRITE);
        if (fd >= 0 && fd != 2) {
            _dup2(fd, 2);
            _close(fd);
        }
#ifndef _UCRT
        if (fd >= 0)
            stderr->_file = 2;
#endif
    }
    if (freopen(g_log_path, "a", stderr)) {
        setvbuf(stderr, NULL, _IONBF, 0);
        SetStdHandle(STD_ERROR_HANDLE, (HANDLE)_get_osfhandle(_fileno(stderr)));
    }
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    (void)argc;
    (void)argv;
    log_to_file();
    wc_eventlog_open();
    g_handle = RegisterServiceCtrlHandlerExW(SERVICE_NAME, on_control, NULL);
    if (!g_handle) {
        wc_error("daemon", "cannot register with the service control manager", "error=%lu",
                 (unsigned long)GetLastError());
        g_exit_code = 1;
        return;
    }
    set_state(SERVICE_START_PENDING, START_BUDGET_MS);
    HANDLE stop_ticker = CreateEventW(NULL, TRUE, FALSE, NULL);
    HANDLE ticker =
        stop_ticker ? CreateThread(NULL, 0, checkpoint_ticker, stop_ticker, 0, NULL) : NULL;
    wc_info("daemon", "starting as a service", "service=%s pid=%lu", SERVICE_NAME_A,
            (unsigned long)GetCurrentProcessId());

    wc_daemon_opts opts = g_opts;
    opts.on_serving = on_serving;
    opts.on_failed = on_failed;
    g_exit_code = wc_daemon_run(&opts);
    if (g_exit_code == 0)
        wc_eventlog_report(WC_EVENT_STOPPED, "wincrid stopped (stop requested by the service "
                                             "control manager).");

    if (ticker) {
        SetEvent(stop_ticker);
        WaitForSingleObject(ticker, INFINITE);
        CloseHandle(ticker);
    }
    if (stop_ticker)
        CloseHandle(stop_ticker);
    wc_info("daemon", "service stopped", "exit_code=%d", g_exit_code);
    wc_eventlog_close();
    set_state(SERVICE_STOPPED, 0); /* the last call: the SCM may end the process after it */
}

int wc_service_dispatch(const wc_daemon_opts *opts)
{
    g_opts = *opts;
    InitializeCriticalSection(&g_lock);
    SERVICE_TABLE_ENTRYW table[] = {{(LPWSTR)SERVICE_NAME, service_main}, {NULL, NULL}};
    /* Returns once the service has stopped; fails at once when not started by the SCM. */
    if (StartServiceCtrlDispatcherW(table))
        return g_exit_code;
    DWORD e = GetLastError();
    if (e == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
        return -1;
    wc_error("daemon", "cannot connect to the service control manager", "error=%lu",
             (unsigned long)e);
    return 1;
}

/* ======================= the commands ======================= */

static const char *g_verb = "";

static void win_error_text(DWORD e, char *out, size_t cap)
{
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, e, 0,
                             out, (DWORD)cap, NULL);
    while (n > 0 &&
           (out[n - 1] == '\r' || out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '.'))
        out[--n] = '\0';
    if (n == 0)
        snprintf(out, cap, "Windows error");
}

static void say(const char *fmt, ...) WC_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
    fprintf(stderr, "wincrid service %s: ", g_verb);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* "what: <the system's text> (error N)", and what to do about access denied. */
static void say_error(const char *what, DWORD e)
{
    char text[256];
    win_error_text(e, text, sizeof text);
    say("%s: %s (error %lu)", what, text, (unsigned long)e);
    if (e == ERROR_ACCESS_DENIED)
        fprintf(stderr, "  run it from an elevated (Administrator) prompt\n");
}

static void say_not_installed(void)
{
    say("the service %s is not installed (`wincrid service install --config FILE` installs it)",
        SERVICE_NAME_A);
}

static SC_HANDLE open_scm(DWORD access)
{
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, access);
    if (!scm)
        say_error("cannot open the service control manager", GetLastError());
    return scm;
}

/* NULL with *code set when the service cannot be opened. */
static SC_HANDLE open_service(SC_HANDLE scm, DWORD access, int *code)
{
    SC_HANDLE svc = OpenServiceW(scm, SERVICE_NAME, access);
    if (svc)
        return svc;
    DWORD e = GetLastError();
    if (e == ERROR_SERVICE_DOES_NOT_EXIST) {
        say_not_installed();
        *code = WC_SVC_NOT_INSTALLED;
    } else {
        say_error("cannot open the service " SERVICE_NAME_A, e);
        *code = WC_SVC_FAILED;
    }
    return NULL;
}

static int query(SC_HANDLE svc, SERVICE_STATUS_PROCESS *st)
{
    DWORD need;
    if (QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)st, sizeof *st, &need))
        return 0;
    say_error("cannot query the service's state", GetLastError());
    return -1;
}

static const char *state_name(DWORD s)
{
    switch (s) {
    case SERVICE_STOPPED:
        return "stopped";
    case SERVICE_START_PENDING:
        return "starting";
    case SERVICE_STOP_PENDING:
        return "stopping";
    case SERVICE_RUNNING:
        return "running";
    case SERVICE_CONTINUE_PENDING:
        return "continuing";
    case SERVICE_PAUSE_PENDING:
        return "pausing";
    case SERVICE_PAUSED:
        return "paused";
    default:
        return "in an unknown state";
    }
}

/* How the service last ended, or "" when there is nothing to say. */
static void describe_exit(const SERVICE_STATUS_PROCESS *st, char *out, size_t cap)
{
    out[0] = '\0';
    if (st->dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR) {
        DWORD c = st->dwServiceSpecificExitCode;
        snprintf(out, cap, "wincrid exited with code %lu%s", (unsigned long)c,
                 c == 2   ? " (its configuration was refused)"
                 : c == 1 ? " (it could not start: another wincrid holds its root, or its "
                            "endpoint or stores failed)"
                          : "");
    } else if (st->dwWin32ExitCode != NO_ERROR &&
               st->dwWin32ExitCode != ERROR_SERVICE_NEVER_STARTED) {
        char text[256];
        win_error_text(st->dwWin32ExitCode, text, sizeof text);
        snprintf(out, cap, "%s (error %lu)", text, (unsigned long)st->dwWin32ExitCode);
    }
}

/* A buffer from QueryServiceConfig2W (caller frees), or NULL. */
static void *query_config2(SC_HANDLE svc, DWORD level)
{
    DWORD need = 0;
    QueryServiceConfig2W(svc, level, NULL, 0, &need);
    if (need == 0)
        return NULL;
    void *buf = wc_xcalloc(1, need);
    if (!QueryServiceConfig2W(svc, level, buf, need, &need)) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The service's binary path (caller frees), or NULL. */
static QUERY_SERVICE_CONFIGW *query_config(SC_HANDLE svc)
{
    DWORD need = 0;
    QueryServiceConfigW(svc, NULL, 0, &need);
    if (need == 0)
        return NULL;
    QUERY_SERVICE_CONFIGW *qc = wc_xcalloc(1, need);
    if (!QueryServiceConfigW(svc, qc, need, &need)) {
        free(qc);
        return NULL;
    }
    return qc;
}

static void to_acp(const wchar_t *w, char *out, size_t cap)
{
    if (!w || !WideCharToMultiByte(CP_ACP, 0, w, -1, out, (int)cap, NULL, NULL))
        snprintf(out, cap, "?");
}

/* The log of an installed service: beside the --config its binary path names. */
static void installed_log_path(const wchar_t *bin, char *out, size_t cap)
{
    char config[MAX_PATH * 2] = "";
    int n = 0;
    wchar_t **args = bin ? CommandLineToArgvW(bin, &n) : NULL;
    for (int i = 1; args && i < n; i++) {
        if (wcscmp(args[i], L"--config") == 0 && i + 1 < n) {
            to_acp(args[i + 1], config, sizeof config);
            break;
        }
        if (wcsncmp(args[i], L"--config=", 9) == 0) {
            to_acp(args[i] + 9, config, sizeof config);
            break;
        }
    }
    if (args)
        LocalFree(args);
    log_path_for(config[0] ? config : NULL, out, cap);
}

/* Polls until the service is in `want` (or, waiting to run, has stopped) or timeout_s has
 * passed; st holds the last state seen. Returns 0 when it is in `want`. */
static int wait_state(SC_HANDLE svc, DWORD want, int timeout_s, SERVICE_STATUS_PROCESS *st)
{
    ULONGLONG deadline = GetTickCount64() + (ULONGLONG)timeout_s * 1000;
    for (;;) {
        if (query(svc, st) < 0)
            return -1;
        if (st->dwCurrentState == want)
            return 0;
        if (want == SERVICE_RUNNING && st->dwCurrentState == SERVICE_STOPPED)
            return -1;
        if (GetTickCount64() >= deadline)
            return -1;
        Sleep(200);
    }
}

static int parse_timeout(const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < 1 || n > 86400) {
        say("--timeout %s: expected a number of seconds from 1 to 86400", v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static void print_details(SC_HANDLE svc);

/* ---- install ---- */

/* Wine 8's service control manager refuses some levels of ChangeServiceConfig2W with
 * ERROR_INVALID_LEVEL (every Windows since Vista knows them): install then warns and goes on
 * without that setting rather than leave the node without a service. */
static int config2(SC_HANDLE svc, DWORD level, void *info, const char *what)
{
    if (ChangeServiceConfig2W(svc, level, info))
        return 0;
    DWORD e = GetLastError();
    if (e == ERROR_INVALID_LEVEL) {
        fprintf(stderr,
                "wincrid service install: warning: this service control manager does not "
                "know how to %s (ChangeServiceConfig2W level %lu: error %lu); installed "
                "without it\n",
                what, (unsigned long)level, (unsigned long)e);
        return 0;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "cannot %s", what);
    say_error(msg, e);
    return -1;
}

static int configure(SC_HANDLE svc)
{
    SERVICE_DESCRIPTIONW desc = {(LPWSTR)DESCRIPTION};
    SERVICE_DELAYED_AUTO_START_INFO delayed = {TRUE};
    SC_ACTION actions[3];
    for (int i = 0; i < 3; i++) {
        actions[i].Type = SC_ACTION_RESTART;
        actions[i].Delay = restart_delays_ms[i];
    }
    SERVICE_FAILURE_ACTIONSW fa = {.dwResetPeriod = RESET_PERIOD_S,
                                   .lpRebootMsg = NULL,
                                   .lpCommand = NULL,
                                   .cActions = 3,
                                   .lpsaActions = actions};
    SERVICE_FAILURE_ACTIONS_FLAG flag = {TRUE};
    if (config2(svc, SERVICE_CONFIG_DESCRIPTION, &desc, "set the service's description") < 0 ||
        config2(svc, SERVICE_CONFIG_DELAYED_AUTO_START_INFO, &delayed,
                "make the service a delayed automatic start") < 0 ||
        config2(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa, "set the service's recovery actions") <
            0 ||
        config2(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &flag,
                "make exits with an error trigger the recovery actions") < 0)
        return -1;
    return 0;
}

static int cmd_install(const char *config)
{
    static wchar_t exe[32768], cfg_full[32768], bin[65600];
    DWORD n = GetModuleFileNameW(NULL, exe, sizeof exe / sizeof *exe);
    if (n == 0 || n >= sizeof exe / sizeof *exe) {
        say_error("cannot tell where wincrid.exe is", GetLastError());
        return WC_SVC_FAILED;
    }
    if (config) {
        wc_config *cfg = NULL;
        wc_err err = {0};
        if (wc_config_load(config, &cfg, &err) < 0) {
            say("the config does not load, nothing was installed: %s", err.msg);
            return WC_SVC_USAGE;
        }
        wc_config_free(cfg);
        wchar_t wide[32768];
        if (!MultiByteToWideChar(CP_ACP, 0, config, -1, wide, sizeof wide / sizeof *wide) ||
            !GetFullPathNameW(wide, sizeof cfg_full / sizeof *cfg_full, cfg_full, NULL)) {
            say_error("cannot resolve the config's path", GetLastError());
            return WC_SVC_FAILED;
        }
        _snwprintf(bin, sizeof bin / sizeof *bin, L"\"%ls\" --config \"%ls\"", exe, cfg_full);
    } else {
        _snwprintf(bin, sizeof bin / sizeof *bin, L"\"%ls\"", exe);
    }
    bin[sizeof bin / sizeof *bin - 1] = 0;

    SC_HANDLE scm = open_scm(SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE);
    if (!scm)
        return WC_SVC_FAILED;
    SC_HANDLE svc =
        CreateServiceW(scm, SERVICE_NAME, DISPLAY_NAME, SERVICE_ALL_ACCESS,
                       SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, bin,
                       NULL, NULL, NULL, NULL /* LocalSystem */, NULL);
    if (!svc) {
        DWORD e = GetLastError();
        int code = WC_SVC_FAILED;
        if (e == ERROR_SERVICE_EXISTS) {
            char have[4096] = "?";
            SC_HANDLE old = OpenServiceW(scm, SERVICE_NAME, SERVICE_QUERY_CONFIG);
            QUERY_SERVICE_CONFIGW *qc = old ? query_config(old) : NULL;
            if (qc)
                to_acp(qc->lpBinaryPathName, have, sizeof have);
            free(qc);
            if (old)
                CloseServiceHandle(old);
            say("the service %s is already installed, running %s\n"
                "  to upgrade it: wincrid service stop, replace the files, wincrid service "
                "start\n"
                "  to install it afresh: wincrid service uninstall first",
                SERVICE_NAME_A, have);
            code = WC_SVC_EXISTS;
        } else if (e == ERROR_SERVICE_MARKED_FOR_DELETE) {
            say("the service %s is being removed but something still holds it open (close "
                "the Services console and any `sc` prompt), then install again",
                SERVICE_NAME_A);
        } else {
            say_error("cannot create the service " SERVICE_NAME_A, e);
        }
        CloseServiceHandle(scm);
        return code;
    }
    DWORD e;
    if (configure(svc) < 0) {
        DeleteService(svc); /* nothing half-installed stays */
        CloseServiceHandle(svc);
        CloseServiceHandle(scm);
        return WC_SVC_FAILED;
    }
    if ((e = wc_eventlog_register_source(exe)) != 0) {
        say_error("cannot register the event source wincrid (Application log)", e);
        DeleteService(svc);
        CloseServiceHandle(svc);
        CloseServiceHandle(scm);
        return WC_SVC_FAILED;
    }
    /* What the service control manager now holds, read back. */
    printf("installed the service %s\n", SERVICE_NAME_A);
    print_details(svc);
    printf("`wincrid service start` starts it.\n");
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return WC_SVC_OK;
}

/* ---- start, stop ---- */

static int stop_service(SC_HANDLE svc, int timeout_s, const char *log)
{
    SERVICE_STATUS_PROCESS st;
    if (query(svc, &st) < 0)
        return WC_SVC_FAILED;
    if (st.dwCurrentState == SERVICE_STOPPED) {
        printf("%s is not running\n", SERVICE_NAME_A);
        return WC_SVC_OK;
    }
    if (st.dwCurrentState == SERVICE_START_PENDING) {
        /* It accepts a stop once it runs (or it stops by itself). */
        wait_state(svc, SERVICE_RUNNING, timeout_s, &st);
    }
    if (st.dwCurrentState != SERVICE_STOPPED && st.dwCurrentState != SERVICE_STOP_PENDING) {
        SERVICE_STATUS ss;
        if (!ControlService(svc, SERVICE_CONTROL_STOP, &ss)) {
            DWORD e = GetLastError();
            if (e != ERROR_SERVICE_NOT_ACTIVE) {
                say_error("cannot stop the service " SERVICE_NAME_A, e);
                return WC_SVC_FAILED;
            }
        }
    }
    if (wait_state(svc, SERVICE_STOPPED, timeout_s, &st) < 0) {
        say("%s is still %s after %d s; see %s", SERVICE_NAME_A, state_name(st.dwCurrentState),
            timeout_s, log);
        return WC_SVC_FAILED;
    }
    char how[512];
    describe_exit(&st, how, sizeof how);
    printf("%s stopped%s%s\n", SERVICE_NAME_A, how[0] ? ": " : "", how);
    return WC_SVC_OK;
}

/* Opens the installed service with `access` (and its config, to name its log in messages).
 * NULL with *code set when it cannot: the caller then only closes scm. */
static SC_HANDLE open_installed(SC_HANDLE scm, DWORD access, char *log, size_t log_cap, int *code)
{
    SC_HANDLE svc = open_service(scm, access | SERVICE_QUERY_CONFIG, code);
    if (!svc)
        return NULL;
    QUERY_SERVICE_CONFIGW *qc = query_config(svc);
    installed_log_path(qc ? qc->lpBinaryPathName : NULL, log, log_cap);
    free(qc);
    return svc;
}

static int cmd_start_stop(int start, int timeout_s)
{
    SC_HANDLE scm = open_scm(SC_MANAGER_CONNECT);
    if (!scm)
        return WC_SVC_FAILED;
    int code = WC_SVC_FAILED;
    char log[MAX_PATH * 2];
    SC_HANDLE svc = open_installed(
        scm, SERVICE_QUERY_STATUS | (start ? SERVICE_START : SERVICE_STOP), log, sizeof log, &code);
    if (!svc) {
        CloseServiceHandle(scm);
        return code;
    }

    if (!start) {
        code = stop_service(svc, timeout_s, log);
        goto out;
    }
    SERVICE_STATUS_PROCESS st;
    if (query(svc, &st) < 0)
        goto out;
    if (st.dwCurrentState == SERVICE_STOP_PENDING)
        wait_state(svc, SERVICE_STOPPED, timeout_s, &st);
    if (st.dwCurrentState == SERVICE_STOPPED && !StartServiceW(svc, 0, NULL)) {
        DWORD e = GetLastError();
        if (e == ERROR_SERVICE_DISABLED) {
            say("the service %s is disabled (sc.exe config %s start= delayed-auto enables it)",
                SERVICE_NAME_A, SERVICE_NAME_A);
            goto out;
        }
        if (e != ERROR_SERVICE_ALREADY_RUNNING) {
            say_error("cannot start the service " SERVICE_NAME_A, e);
            fprintf(stderr, "  see %s and the event log (Application, source wincrid)\n", log);
            goto out;
        }
    }
    if (wait_state(svc, SERVICE_RUNNING, timeout_s, &st) == 0) {
        printf("%s is running (pid %lu); log: %s\n", SERVICE_NAME_A, (unsigned long)st.dwProcessId,
               log);
        code = WC_SVC_OK;
    } else if (st.dwCurrentState == SERVICE_STOPPED) {
        char how[512];
        describe_exit(&st, how, sizeof how);
        say("%s stopped while starting%s%s\n  see %s and the event log (Application, source "
            "wincrid)",
            SERVICE_NAME_A, how[0] ? ": " : "", how, log);
    } else {
        say("%s is still %s after %d s; see %s", SERVICE_NAME_A, state_name(st.dwCurrentState),
            timeout_s, log);
    }
out:
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return code;
}

/* ---- uninstall ---- */

static int cmd_uninstall(int timeout_s)
{
    SC_HANDLE scm = open_scm(SC_MANAGER_CONNECT);
    if (!scm)
        return WC_SVC_FAILED;
    int code = WC_SVC_FAILED;
    char log[MAX_PATH * 2];
    SC_HANDLE svc =
        open_installed(scm, DELETE | SERVICE_STOP | SERVICE_QUERY_STATUS, log, sizeof log, &code);
    if (!svc) {
        CloseServiceHandle(scm);
        return code;
    }
    code = stop_service(svc, timeout_s, log);
    if (code == WC_SVC_OK && !DeleteService(svc)) {
        DWORD e = GetLastError();
        if (e == ERROR_SERVICE_MARKED_FOR_DELETE)
            say("the service %s is already being removed (something still holds it open)",
                SERVICE_NAME_A);
        else
            say_error("cannot remove the service " SERVICE_NAME_A, e);
        code = WC_SVC_FAILED;
    }
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    if (code != WC_SVC_OK)
        return code;
    DWORD e = wc_eventlog_unregister_source();
    if (e != 0) {
        say_error("removed the service, but not its event source (Application, wincrid)", e);
        return WC_SVC_FAILED;
    }
    printf("removed the service %s; its state, config and log (%s) are left in place\n",
           SERVICE_NAME_A, log);
    return WC_SVC_OK;
}

/* ---- status ---- */

static void print_recovery(SC_HANDLE svc)
{
    SERVICE_FAILURE_ACTIONSW *fa = query_config2(svc, SERVICE_CONFIG_FAILURE_ACTIONS);
    SERVICE_FAILURE_ACTIONS_FLAG *flag = query_config2(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG);
    printf("  recovery: ");
    if (!fa || fa->cActions == 0) {
        printf("none");
    } else {
        for (DWORD i = 0; i < fa->cActions; i++) {
            const SC_ACTION *a = &fa->lpsaActions[i];
            printf("%s%s", i ? ", " : "",
                   a->Type == SC_ACTION_RESTART  ? "restart"
                   : a->Type == SC_ACTION_REBOOT ? "reboot"
                   : a->Type == SC_ACTION_NONE   ? "nothing"
                                                 : "run a command");
            if (a->Type != SC_ACTION_NONE)
                printf(" after %lu s", (unsigned long)(a->Delay / 1000));
        }
        printf("; failure count reset after %lu s", (unsigned long)fa->dwResetPeriod);
    }
    if (flag)
        printf("; exits with an error %s", flag->fFailureActionsOnNonCrashFailures
                                               ? "count as failures"
                                               : "do not count (crashes only)");
    printf("\n");
    free(fa);
    free(flag);
}

/* The service's configuration as the service control manager has it. */
static void print_details(SC_HANDLE svc)
{
    QUERY_SERVICE_CONFIGW *qc = query_config(svc);
    SERVICE_DELAYED_AUTO_START_INFO *delayed =
        query_config2(svc, SERVICE_CONFIG_DELAYED_AUTO_START_INFO);
    char bin[8192] = "?", user[256] = "?", log[MAX_PATH * 2];
    if (qc) {
        to_acp(qc->lpBinaryPathName, bin, sizeof bin);
        to_acp(qc->lpServiceStartName, user, sizeof user);
    }
    installed_log_path(qc ? qc->lpBinaryPathName : NULL, log, sizeof log);
    printf("  runs:     %s (as %s)\n", bin, user);
    const char *start = "?";
    if (qc) {
        DWORD t = qc->dwStartType;
        start = t == SERVICE_AUTO_START
                    ? (delayed && delayed->fDelayedAutostart ? "automatic, delayed" : "automatic")
                : t == SERVICE_DEMAND_START ? "manual"
                : t == SERVICE_DISABLED     ? "disabled"
                                            : "other";
    }
    printf("  start:    %s\n", start);
    print_recovery(svc);
    printf("  log:      %s\n", log);
    printf("  events:   Windows event log, Application, source wincrid\n");
    free(qc);
    free(delayed);
}

static int cmd_status(void)
{
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
    if (!scm) {
        say_error("cannot open the service control manager", GetLastError());
        return WC_SVC_FAILED;
    }
    SC_HANDLE svc = OpenServiceW(scm, SERVICE_NAME, SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG);
    if (!svc) {
        DWORD e = GetLastError();
        CloseServiceHandle(scm);
        if (e == ERROR_SERVICE_DOES_NOT_EXIST) {
            printf("%s: not installed\n", SERVICE_NAME_A);
            return WC_SVC_NOT_INSTALLED;
        }
        say_error("cannot open the service " SERVICE_NAME_A, e);
        return WC_SVC_FAILED;
    }
    int code = WC_SVC_FAILED;
    SERVICE_STATUS_PROCESS st;
    if (query(svc, &st) == 0) {
        code = st.dwCurrentState == SERVICE_RUNNING ? WC_SVC_OK : WC_SVC_NOT_RUNNING;
        if (st.dwProcessId)
            printf("%s: %s (pid %lu)\n", SERVICE_NAME_A, state_name(st.dwCurrentState),
                   (unsigned long)st.dwProcessId);
        else
            printf("%s: %s\n", SERVICE_NAME_A, state_name(st.dwCurrentState));
        char how[512];
        describe_exit(&st, how, sizeof how);
        if (how[0])
            printf("  last exit: %s\n", how);
        print_details(svc);
    }
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return code;
}

/* ---- the command line ---- */

static void service_usage(FILE *out)
{
    fprintf(out,
            "Usage: wincrid service COMMAND [OPTIONS]\n"
            "\n"
            "The Windows service \"wincri\", through the service control manager (run as\n"
            "Administrator):\n"
            "  install [--config FILE]    register it: runs this wincrid.exe --config FILE as\n"
            "                             LocalSystem, delayed automatic start, restarted\n"
            "                             after 5 s, 10 s, 30 s when it fails; registers the\n"
            "                             event source wincrid (Application log)\n"
            "  uninstall [--timeout S]    stop it if it runs, then remove it\n"
            "  start [--timeout S]        start it; returns once it serves (default 120 s)\n"
            "  stop [--timeout S]         stop it gracefully; returns once it has stopped\n"
            "  status                     its state, last exit, command, recovery and log\n"
            "\n"
            "Exit codes: 0 done (status: running), 1 failed, 2 usage or a config that does\n"
            "not load, 3 installed but not running (status), 4 not installed, 5 already\n"
            "installed (install). The service logs to wincrid.log beside its config file.\n");
}

int wc_service_command(int argc, char **argv)
{
    if (argc < 2) {
        service_usage(stderr);
        return WC_SVC_USAGE;
    }
    g_verb = argv[1];
    if (strcmp(g_verb, "--help") == 0 || strcmp(g_verb, "-h") == 0 || strcmp(g_verb, "help") == 0) {
        service_usage(stdout);
        return WC_SVC_OK;
    }
    int install = strcmp(g_verb, "install") == 0, start = strcmp(g_verb, "start") == 0,
        stop = strcmp(g_verb, "stop") == 0, uninstall = strcmp(g_verb, "uninstall") == 0,
        status = strcmp(g_verb, "status") == 0;
    if (!install && !start && !stop && !uninstall && !status) {
        fprintf(stderr, "wincrid service: unknown command %s\n\n", g_verb);
        service_usage(stderr);
        return WC_SVC_USAGE;
    }
    const char *config = NULL;
    int timeout_s = DEFAULT_TIMEOUT_S;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (install && strcmp(a, "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (install && strncmp(a, "--config=", 9) == 0) {
            config = a + 9;
        } else if ((start || stop || uninstall) && strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            if (parse_timeout(argv[++i], &timeout_s) < 0)
                return WC_SVC_USAGE;
        } else if ((start || stop || uninstall) && strncmp(a, "--timeout=", 10) == 0) {
            if (parse_timeout(a + 10, &timeout_s) < 0)
                return WC_SVC_USAGE;
        } else {
            say("unknown or incomplete option %s (`wincrid service --help` lists them)", a);
            return WC_SVC_USAGE;
        }
    }
    if (install)
        return cmd_install(config);
    if (uninstall)
        return cmd_uninstall(timeout_s);
    if (status)
        return cmd_status();
    return cmd_start_stop(start, timeout_s);
}
