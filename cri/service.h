/* wincrid as a Windows service (Windows only: cri/service_win32.c).
 *
 *   wincrid service install [--config FILE]   register the service "wincri"
 *   wincrid service uninstall                 stop it if it runs, remove it
 *   wincrid service start [--timeout SECONDS] start it; return once it serves
 *   wincrid service stop [--timeout SECONDS]  stop it; return once it has stopped
 *   wincrid service status                    say how it is
 *
 * Exit codes (the same for every command): */
#ifndef WINCRI_CRI_SERVICE_H
#define WINCRI_CRI_SERVICE_H

#include "cri/daemon.h"

enum {
    WC_SVC_OK = 0,            /* done; status: the service is running */
    WC_SVC_FAILED = 1,        /* the service control manager refused, or the service failed */
    WC_SVC_USAGE = 2,         /* bad command line, or (install) a config that does not load */
    WC_SVC_NOT_RUNNING = 3,   /* status: installed, not running (stopped or on its way) */
    WC_SVC_NOT_INSTALLED = 4, /* there is no service "wincri" */
    WC_SVC_EXISTS = 5,        /* install: the service is already installed */
};

/* argv[0] is "service". Returns the process exit code. */
int wc_service_command(int argc, char **argv);

/* Runs the daemon as the service when the service control manager started this process;
 * returns its exit code then. Returns -1 at once when the process was started otherwise. */
int wc_service_dispatch(const wc_daemon_opts *opts);

#endif
