/* wincrid on Windows: run from a console (Ctrl+C stops it) or as a service. */
#include <windows.h>

#include "common/log.h"
#include "cri/cli.h"
#include "cri/daemon.h"

static BOOL WINAPI on_console_event(DWORD type)
{
    (void)type;
    wc_daemon_request_stop();
    return TRUE;
}

int main(int argc, char **argv)
{
    wc_daemon_opts opts;
    cli_action a = wc_cli_parse(argc, argv, &opts);
    if (a != CLI_RUN)
        return a == CLI_EXIT_OK ? 0 : 2;
    SetConsoleCtrlHandler(on_console_event, TRUE);
    return wc_daemon_run(&opts);
}
