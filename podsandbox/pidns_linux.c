/* The process that keeps a pod's shared PID namespace alive. A PID namespace dies with its
 * PID 1, so unlike the network, IPC and UTS namespaces it cannot be pinned by a mount: pods
 * that share one (PID mode POD) get this small process, wincrid re-executed in holder mode.
 * Pods that do not share their PID namespace get none. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/xalloc.h"
#include "podsandbox/pidns.h"

static void exit_now(int sig)
{
    (void)sig;
    _exit(0);
}

static void wake(int sig)
{
    (void)sig;
}

int pod_pid_holder_main(void)
{
    /* PID 1 of a namespace only receives signals it handles: handle the stop signals. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = exit_now;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = wake;
    sigaction(SIGCHLD, &sa, NULL);
    for (;;) {
        /* Orphans of the pod's containers land here: reap them like any init. */
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        pause();
    }
}

/* Runs in the forked child of a threaded process: only async-signal-safe calls. */
static void spawn_holder(int report_fd)
{
    if (unshare(CLONE_NEWPID) < 0)
        _exit(1);
    pid_t holder = fork(); /* the first child after unshare is PID 1 of the new namespace */
    if (holder == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        setsid();
        char *argv[] = {"wincrid", POD_PID_HOLDER_ARG, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    if (write(report_fd, &holder, sizeof holder) != (ssize_t)sizeof holder)
        _exit(1);
    _exit(holder > 0 ? 0 : 1);
}

static char *holder_file(const char *sandbox_dir)
{
    return wc_path_join(sandbox_dir, "pid-holder");
}

int pod_pid_holder_start(const char *sandbox_dir, wc_err *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot start the pod's PID namespace");
    pid_t mid = fork();
    if (mid == 0)
        spawn_holder(p[1]);
    close(p[1]);
    pid_t holder = -1;
    ssize_t n = mid > 0 ? read(p[0], &holder, sizeof holder) : -1;
    close(p[0]);
    if (mid > 0)
        waitpid(mid, NULL, 0);
    if (n != (ssize_t)sizeof holder || holder <= 0)
        return wc_err_set(err, WC_INTERNAL,
                          "cannot create the pod's shared PID namespace (unshare or fork failed)");
    char text[32];
    int len = snprintf(text, sizeof text, "%d\n", (int)holder);
    char *file = holder_file(sandbox_dir);
    int rc = wc_write_file_atomic(file, text, (size_t)len, 0600, err);
    free(file);
    if (rc < 0)
        kill(holder, SIGKILL);
    return rc;
}

/* The holder's pid if it is alive and really our holder (not a reused pid), else 0. */
static int live_holder(const char *sandbox_dir)
{
    char *file = holder_file(sandbox_dir);
    FILE *f = fopen(file, "r");
    free(file);
    int pid = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    char path[64], cmdline[256];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    long n = pid > 0 ? wc_read_head(path, cmdline, sizeof cmdline) : -1;
    if (n < 0)
        return 0;
    size_t got = (size_t)n;
    /* argv[0] NUL argv[1]: the holder's marker is its first argument. */
    size_t first = strnlen(cmdline, got);
    if (first + 1 >= got || strcmp(cmdline + first + 1, POD_PID_HOLDER_ARG) != 0)
        return 0;
    return pid;
}

char *pod_pid_holder_ns(const char *sandbox_dir)
{
    int pid = live_holder(sandbox_dir);
    if (!pid)
        return NULL;
    char *path = wc_xmalloc(48);
    snprintf(path, 48, "/proc/%d/ns/pid", pid);
    return path;
}

void pod_pid_holder_stop(const char *sandbox_dir)
{
    int pid = live_holder(sandbox_dir);
    if (pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0); /* ours unless wincrid restarted meanwhile (then ECHILD) */
    }
    char *file = holder_file(sandbox_dir);
    unlink(file);
    free(file);
}
