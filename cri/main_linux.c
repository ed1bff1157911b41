/* wincrid on Linux: signals become a graceful stop; everything else is the daemon's. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "cri/cli.h"
#include "cri/daemon.h"
#include "podsandbox/keeper.h"
#include "podsandbox/pidns.h"

static void *signal_waiter(void *arg)
{
    sigset_t *set = arg;
    int sig = 0;
    sigwait(set, &sig);
    wc_info("daemon", "signal received", "signal=%d", sig);
    wc_daemon_request_stop();
    return NULL;
}

int main(int argc, char **argv)
{
    wc_xalloc_init(); /* Jansson too aborts when out of memory: common/xalloc.h */
    if (argc == 2 && strcmp(argv[1], POD_PID_HOLDER_ARG) == 0)
        return pod_pid_holder_main();
    if (argc >= 2 && strcmp(argv[1], POD_KEEPER_ARG) == 0)
        return pod_keeper_main(argc, argv);
    wc_daemon_opts opts;
    cli_action a = wc_cli_parse(argc, argv, &opts);
    if (a != CLI_RUN)
        return a == CLI_EXIT_OK ? 0 : 2; /* usage and config errors both exit 2 */
    /* Block the stop signals in every thread; one thread waits for them. */
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A known umask, whatever the service manager gave: image layers and container roots
     * get the modes their tars and the OCI spec say; what wincrid keeps private it creates
     * with explicit modes (0600 files, 0700 directories). */
    umask(022);
    /* gRPC core's poll engine, unless the operator chose one: each thread that waits for its
     * call's batches polls the connection itself. With epoll1 (the default) one thread polls
     * for the whole process and hands completions to the call's thread through futexes (2.2
     * futex calls per ImageStatus); on small VMs, where waking an idle vCPU is slow, that
     * was much of a short call's latency (tests/bench/PROFILE.md). */
    setenv("GRPC_POLL_STRATEGY", "poll", 0);
    pthread_t t;
    pthread_create(&t, NULL, signal_waiter, &set);
    pthread_detach(t);
    return wc_daemon_run(&opts);
}
