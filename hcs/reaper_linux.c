/* The one reaper thread. wincrid is a child subreaper, so container init processes become
 * its children once `runc create` exits. Those that are not (found again after a restart) are
 * watched through a pidfd too, and their exit status comes from the kernel's process
 * connector (procexit_linux.c). Other daemon code (CNI plugins, runc calls) runs its
 * own children and waits for them by pid, so this thread must never take those: it waits
 * only for the pids it watches, each through a pidfd that becomes readable when that process
 * ends. Orphans reparented to wincrid (e.g. from host-PID containers) would otherwise stay
 * zombies; a zombie child that nobody has waited for in HCS_ORPHAN_GRACE_S is reaped.
 * The thread and its watch list are process-wide, shared by every runtime handler, so that
 * orphan detection knows every watched pid; each runtime is one client with its callback. */
#include "hcs/runtime_linux.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hcs/procexit.h"

#define HCS_ORPHAN_GRACE_S 10
#define HCS_ORPHAN_SLOTS 64
#define HCS_SWEEP_EVERY_MS 2000

struct hcs_reaper { /* one client: a runtime handler */
    hcs_reaper_fn fn;
    void *ctx;
};

typedef struct hcs_watch {
    pid_t pid;
    int pidfd; /* -1 when the kernel has no pidfd_open: polled with WNOHANG instead */
    const hcs_reaper *owner;
    char *container_id;
    char *exec_id;
    char *mem_cgroup;
} hcs_watch;

typedef struct hcs_orphan {
    pid_t pid;
    int64_t first_seen_ns;
} hcs_orphan;

/* The process-wide part. mu guards everything but the orphan table (thread only). */
typedef struct hcs_core {
    pthread_mutex_t life; /* serializes thread start and stop */
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when a callback returns */
    int users;
    pthread_t thread;
    int wake; /* eventfd: new watch, or stop */
    int stop;
    hcs_watch *w;
    size_t n, cap;
    const hcs_reaper *delivering; /* whose callback runs now */
    hcs_procexit *exits;          /* statuses of watched pids that are not our children */
    hcs_orphan orphans[HCS_ORPHAN_SLOTS];
    int64_t next_sweep_ns;
} hcs_core;

static hcs_core core = {.life = PTHREAD_MUTEX_INITIALIZER,
                        .mu = PTHREAD_MUTEX_INITIALIZER,
                        .idle = PTHREAD_COND_INITIALIZER,
                        .wake = -1};

static void watch_free(hcs_watch *w)
{
    if (w->pidfd >= 0)
        close(w->pidfd);
    free(w->container_id);
    free(w->exec_id);
    free(w->mem_cgroup);
}

static int watched(hcs_core *r, pid_t pid)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->w[i].pid == pid)
            return 1;
    return 0;
}

/* Whether a process that is not our child has ended (its pidfd is readable). */
static int ended_elsewhere(const hcs_watch *w)
{
    if (w->pidfd < 0)
        return kill(w->pid, 0) < 0 && errno == ESRCH;
    struct pollfd p = {.fd = w->pidfd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* Collects the exit of watch i if it ended; removes it and fills w and ex. Locked. */
static int take_exit(hcs_core *r, size_t i, hcs_watch *w, hcs_exit *ex)
{
    int st = 0;
    pid_t got = waitpid(r->w[i].pid, &st, WNOHANG);
    if (got == 0 || (got < 0 && !ended_elsewhere(&r->w[i])))
        return 0;
    memset(ex, 0, sizeof *ex);
    ex->pid = r->w[i].pid;
    ex->finished_ns = wc_clock_realtime_ns();
    if (got < 0) {
        /* Not our child (adopted after a restart): the process connector saw its status. */
        hcs_procexit_drain(r->exits);
        if (!hcs_procexit_take(r->exits, ex->pid, &st, &ex->finished_ns)) {
            st = 255 << 8;
            wc_warn("hcs", "exit status lost", "pid=%d", (int)ex->pid);
        }
    }
    ex->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    *w = r->w[i];
    r->w[i] = r->w[--r->n];
    ex->oom_killed = hcs_cgroup_oom_kills(w->mem_cgroup) > 0;
    return 1;
}

/* Runs the owner's callback outside the lock; hcs_reaper_stop waits for it to return. */
static void deliver(hcs_core *r, hcs_watch *w, const hcs_exit *ex)
{
    wc_debug("hcs", "process exited", "container=%s exec=%s pid=%d exit_code=%d oom=%d",
             w->container_id, w->exec_id ? w->exec_id : "", ex->pid, ex->exit_code, ex->oom_killed);
    if (w->owner->fn)
        w->owner->fn(w->owner->ctx, w->container_id, w->exec_id, ex);
    watch_free(w);
    pthread_mutex_lock(&r->mu);
    r->delivering = NULL;
    pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->mu);
}

/* Checks every watch (cheap: WNOHANG) and delivers the exits one by one. */
static void reap_watched(hcs_core *r)
{
    for (;;) {
        hcs_watch w;
        hcs_exit ex;
        int found = 0;
        pthread_mutex_lock(&r->mu);
        for (size_t i = 0; i < r->n && !found; i++)
            found = take_exit(r, i, &w, &ex);
        if (found)
            r->delivering = w.owner;
        pthread_mutex_unlock(&r->mu);
        if (!found)
            return;
        deliver(r, &w, &ex);
    }
}

static int is_zombie(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    const char *rp = wc_read_head(path, buf, sizeof buf) > 0 ? strrchr(buf, ')') : NULL;
    return rp && rp[1] == ' ' && rp[2] == 'Z';
}

/* An unwatched zombie child: reaped once it has waited past the grace. */
static void consider_orphan(hcs_core *r, pid_t pid, int64_t now)
{
    hcs_orphan *free_slot = NULL;
    for (int i = 0; i < HCS_ORPHAN_SLOTS; i++) {
        hcs_orphan *o = &r->orphans[i];
        if (o->pid == pid) {
            if (now - o->first_seen_ns >= (int64_t)HCS_ORPHAN_GRACE_S * 1000000000) {
                if (waitpid(pid, NULL, WNOHANG) == pid)
                    wc_debug("hcs", "reaped orphan", "pid=%d", (int)pid);
                o->pid = 0;
            }
            return;
        }
        if (!o->pid && !free_slot)
            free_slot = o;
    }
    if (free_slot)
        *free_slot = (hcs_orphan){.pid = pid, .first_seen_ns = now};
}

/* Forgets orphan slots whose pid is no longer a zombie (its owner waited for it). */
static void prune_orphans(hcs_core *r)
{
    for (int i = 0; i < HCS_ORPHAN_SLOTS; i++)
        if (r->orphans[i].pid && !is_zombie(r->orphans[i].pid))
            r->orphans[i].pid = 0;
}

static void sweep_task_children(hcs_core *r, const char *tid, int64_t now)
{
    char path[320];
    snprintf(path, sizeof path, "/proc/self/task/%s/children", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    int pid;
    while (fscanf(f, "%d", &pid) == 1) {
        pthread_mutex_lock(&r->mu);
        int mine = watched(r, pid);
        pthread_mutex_unlock(&r->mu);
        if (!mine && is_zombie(pid))
            consider_orphan(r, pid, now);
    }
    fclose(f);
}

static void sweep_orphans(hcs_core *r)
{
    int64_t now = wc_clock_monotonic_ns();
    if (now < r->next_sweep_ns)
        return;
    r->next_sweep_ns = now + (int64_t)HCS_SWEEP_EVERY_MS * 1000000;
    prune_orphans(r);
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            sweep_task_children(r, e->d_name, now);
    closedir(d);
}

/* Builds the poll set: the wake eventfd, then every watch's pidfd. */
static size_t poll_set(hcs_core *r, struct pollfd **set, size_t *cap, int *has_plain)
{
    pthread_mutex_lock(&r->mu);
    if (*cap < r->n + 1) {
        *set = wc_xrealloc(*set, (r->n + 1) * sizeof **set);
        *cap = r->n + 1;
    }
    size_t k = 0;
    (*set)[k++] = (struct pollfd){.fd = r->wake, .events = POLLIN};
    *has_plain = 0;
    for (size_t i = 0; i < r->n && k < *cap; i++) {
        if (r->w[i].pidfd < 0)
            *has_plain = 1;
        else
            (*set)[k++] = (struct pollfd){.fd = r->w[i].pidfd, .events = POLLIN};
    }
    pthread_mutex_unlock(&r->mu);
    return k;
}

static void *reaper_main(void *arg)
{
    hcs_core *r = arg;
    struct pollfd *set = NULL;
    size_t cap = 0;
    for (;;) {
        int plain = 0;
        size_t n = poll_set(r, &set, &cap, &plain);
        int timeout = plain ? 200 : HCS_SWEEP_EVERY_MS;
        poll(set, (nfds_t)n, timeout);
        hcs_procexit_drain(r->exits); /* keeps the kernel's queue short */
        if (set[0].revents) {
            uint64_t v;
            if (read(r->wake, &v, sizeof v) < 0 && errno != EAGAIN)
                break;
        }
        pthread_mutex_lock(&r->mu);
        int stop = r->stop;
        pthread_mutex_unlock(&r->mu);
        if (stop)
            break;
        reap_watched(r);
        sweep_orphans(r);
    }
    free(set);
    return NULL;
}

static void wake(hcs_core *r)
{
    uint64_t one = 1;
    if (write(r->wake, &one, sizeof one) < 0)
        wc_debug("hcs", "reaper wake failed", "errno=%d", errno);
}

/* Starts the shared thread for the first client. Called with core.life held. */
static int core_start(wc_err *err)
{
    core.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (core.wake < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot create the reaper's eventfd");
    wc_err perr = {0};
    if (hcs_procexit_open(&core.exits, &perr) < 0)
        wc_warn("hcs", "exit statuses of adopted containers will be unknown", "error=\"%s\"",
                perr.msg);
    core.stop = 0;
    /* The thread takes no signals: they belong to the daemon's main loop. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&core.thread, NULL, reaper_main, &core);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(core.wake);
        core.wake = -1;
        return wc_err_sys(err, WC_INTERNAL, rc, "cannot start the reaper thread");
    }
    return 0;
}

/* Stops the shared thread after the last client left. Called with core.life held. */
static void core_stop(void)
{
    pthread_mutex_lock(&core.mu);
    core.stop = 1;
    pthread_mutex_unlock(&core.mu);
    wake(&core);
    pthread_join(core.thread, NULL);
    close(core.wake);
    core.wake = -1;
    hcs_procexit_close(core.exits);
    core.exits = NULL;
}

int hcs_reaper_start(hcs_reaper_fn fn, void *ctx, hcs_reaper **out, wc_err *err)
{
    /* Container inits outlive `runc create`; as subreaper wincrid gets them, and their exit
     * status with them. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot become a child subreaper");
    hcs_reaper *r = wc_xcalloc(1, sizeof *r);
    r->fn = fn;
    r->ctx = ctx;
    pthread_mutex_lock(&core.life);
    int rc = core.users == 0 ? core_start(err) : 0;
    if (rc == 0)
        core.users++;
    pthread_mutex_unlock(&core.life);
    if (rc < 0) {
        free(r);
        return -1;
    }
    *out = r;
    return 0;
}

/* Drops the client's watches and waits out a callback of its that may be running. */
static void forget_client(const hcs_reaper *r)
{
    pthread_mutex_lock(&core.mu);
    for (size_t i = 0; i < core.n;) {
        if (core.w[i].owner == r) {
            watch_free(&core.w[i]);
            core.w[i] = core.w[--core.n];
        } else {
            i++;
        }
    }
    while (core.delivering == r)
        pthread_cond_wait(&core.idle, &core.mu);
    pthread_mutex_unlock(&core.mu);
}

void hcs_reaper_stop(hcs_reaper *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&core.life);
    forget_client(r);
    if (--core.users == 0) {
        core_stop();
        free(core.w);
        core.w = NULL;
        core.n = core.cap = 0;
    }
    pthread_mutex_unlock(&core.life);
    free(r);
}

static char *dup_or_null(const char *s)
{
    return s ? wc_xstrdup(s) : NULL;
}

int hcs_reaper_watch(hcs_reaper *r, pid_t pid, const char *container_id, const char *exec_id,
                     const char *mem_cgroup, wc_err *err)
{
    hcs_watch w = {.pid = pid,
                   .pidfd = (int)syscall(SYS_pidfd_open, pid, 0),
                   .owner = r,
                   .container_id = wc_xstrdup(container_id),
                   .exec_id = dup_or_null(exec_id),
                   .mem_cgroup = dup_or_null(mem_cgroup)};
    if (w.pidfd < 0 && errno == ESRCH) {
        watch_free(&w);
        return wc_err_set(err, WC_NOT_FOUND, "process %d of %s is already gone", (int)pid,
                          container_id);
    }
    pthread_mutex_lock(&core.mu);
    if (watched(&core, pid)) { /* adopted twice: one watch is enough */
        pthread_mutex_unlock(&core.mu);
        watch_free(&w);
        return 0;
    }
    if (core.n == core.cap) {
        size_t c = core.cap ? core.cap * 2 : 16;
        hcs_watch *nb = wc_xrealloc(core.w, c * sizeof *nb);
        core.w = nb;
        core.cap = c;
    }
    core.w[core.n++] = w;
    pthread_mutex_unlock(&core.mu);
    wake(&core);
    return 0;
}
