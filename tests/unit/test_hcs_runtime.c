/* The Linux compute backend against the real runc, as root: a busybox-static rootfs made
 * here, overlay mounts, FIFOs, exit callbacks, exec, stats, OOM. Skips without root or runc. */
#include "tests/unit/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "hcs/runtime.h"

#define BUSYBOX "/bin/busybox"

/* ---- fixture: layers shared by all tests ---- */

static char g_top[256];   /* temp dir of the whole run */
static char g_base[512];  /* busybox layer */
static char g_layer[512]; /* a small layer above it */
static int g_ready;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Copies busybox in and links every applet it has to it. */
static int make_busybox_layer(const char *dir)
{
    char path[PATH_MAX], cmd[PATH_MAX];
    static const char *const dirs[] = {"bin", "proc", "dev", "sys", "tmp", "etc"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, dirs[i]);
        if (mkdir(path, 0755) < 0)
            return -1;
    }
    snprintf(cmd, sizeof cmd, "cp %s %s/bin/busybox", BUSYBOX, dir);
    if (system(cmd) != 0)
        return -1;
    FILE *p = popen(BUSYBOX " --list", "r");
    if (!p)
        return -1;
    char name[128];
    while (fgets(name, sizeof name, p)) {
        name[strcspn(name, "\n")] = '\0';
        if (!*name || strcmp(name, "busybox") == 0)
            continue;
        snprintf(path, sizeof path, "%s/bin/%s", dir, name);
        if (symlink("busybox", path) < 0 && errno != EEXIST) {
            pclose(p);
            return -1;
        }
    }
    pclose(p);
    snprintf(path, sizeof path, "%s/etc/msg", dir);
    write_file(path, "base\n");
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    wc_log_set_level(WC_LOG_WARN);
    char *runc = NULL;
    if (geteuid() != 0 || access(BUSYBOX, X_OK) != 0)
        return 0;
    FILE *p = popen("command -v runc", "r");
    char buf[256] = "";
    if (p) {
        if (!fgets(buf, sizeof buf, p))
            buf[0] = '\0';
        pclose(p);
    }
    if (!*buf)
        return 0;
    (void)runc;
    snprintf(g_top, sizeof g_top, "/tmp/wincri-hcs-test.XXXXXX");
    if (!mkdtemp(g_top))
        return -1;
    snprintf(g_base, sizeof g_base, "%s/base", g_top);
    snprintf(g_layer, sizeof g_layer, "%s/top", g_top);
    if (mkdir(g_base, 0755) < 0 || make_busybox_layer(g_base) < 0)
        return -1;
    char etc[PATH_MAX], msg[PATH_MAX];
    snprintf(etc, sizeof etc, "%s/etc", g_layer);
    snprintf(msg, sizeof msg, "%s/etc/msg", g_layer);
    wc_err err = {0};
    if (wc_mkdir_p(etc, 0755, &err) < 0)
        return -1;
    write_file(msg, "top\n");
    g_ready = 1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_ready) {
        char cmd[PATH_MAX];
        snprintf(cmd, sizeof cmd, "rm -rf %s", g_top);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", g_top);
        /* runc removes each container's cgroup; the parent made for the tests goes here. */
        if (system("rmdir /sys/fs/cgroup/*/wincri-test 2>/dev/null") != 0)
            fprintf(stderr, "(no test cgroup parent to remove)\n");
    }
    return 0;
}

/* ---- per-test environment ---- */

typedef struct exit_rec {
    char id[128];
    hcs_exit ex;
} exit_rec;

typedef struct env {
    char dir[512];
    hcs_runtime *rt;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    exit_rec exits[16];
    int n_exits;
    char ids[8][128];
    int n_ids;
} env;

static void on_exit_cb(void *ctx, const char *id, const char *exec_id, const hcs_exit *ex)
{
    env *e = ctx;
    (void)exec_id;
    pthread_mutex_lock(&e->mu);
    if (e->n_exits < 16) {
        snprintf(e->exits[e->n_exits].id, sizeof e->exits[0].id, "%s", id);
        e->exits[e->n_exits].ex = *ex;
        e->n_exits++;
    }
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static int setup(void **state)
{
    if (!g_ready)
        return 0;
    env *e = calloc(1, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    snprintf(e->dir, sizeof e->dir, "%s/t.XXXXXX", g_top);
    assert_non_null(mkdtemp(e->dir));
    char state_dir[PATH_MAX];
    snprintf(state_dir, sizeof state_dir, "%s/state", e->dir);
    wc_runtime_handler h = {.name = "runc", .runtime = "runc", .isolation = ""};
    wc_err err = {0};
    if (hcs_runtime_open(NULL, &h, state_dir, on_exit_cb, e, &e->rt, &err) < 0)
        fail_msg("open: %s", err.msg);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    if (!e)
        return 0;
    wc_err err = {0};
    for (int i = 0; i < e->n_ids; i++)
        hcs_delete(e->rt, e->ids[i], &err);
    hcs_runtime_close(e->rt);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
    return 0;
}

#define NEED_ENV()                                                                                 \
    do {                                                                                           \
        if (!g_ready) {                                                                            \
            print_message("skipped: needs root, runc and " BUSYBOX "\n");                          \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* A unique id per test and run; remembered for teardown's cleanup. */
static const char *new_id(env *e, const char *name)
{
    char *id = e->ids[e->n_ids++];
    snprintf(id, 128, "wct-%d-%s", (int)getpid(), name);
    return id;
}

/* A minimal spec for runc: own namespaces, the usual mounts, cgroup under wincri-test. */
static json_t *spec_new(const char *id, json_t *args)
{
    char cg[256];
    snprintf(cg, sizeof cg, "/wincri-test/%s", id);
    json_t *caps =
        json_pack("[s,s,s,s]", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_NET_BIND_SERVICE");
    json_t *spec = json_pack(
        "{s:s, s:{s:b, s:{s:i, s:i}, s:o, s:[s], s:s, s:{s:O, s:O, s:O}, s:b},"
        " s:{s:s}, s:s,"
        " s:[{s:s, s:s, s:s}, {s:s, s:s, s:s, s:[s,s,s]}, {s:s, s:s, s:s, s:[s,s,s,s]},"
        "    {s:s, s:s, s:s, s:[s,s,s]}],"
        " s:{s:[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}], s:s, s:{s:[{s:b, s:s}]}}}",
        "ociVersion", "1.0.2", "process", "terminal", 0, "user", "uid", 0, "gid", 0, "args", args,
        "env", "PATH=/bin", "cwd", "/", "capabilities", "bounding", caps, "effective", caps,
        "permitted", caps, "noNewPrivileges", 1, "root", "path", "rootfs", "hostname", "wct",
        "mounts", "destination", "/proc", "type", "proc", "source", "proc", "destination", "/dev",
        "type", "tmpfs", "source", "tmpfs", "options", "nosuid", "mode=755", "size=65536k",
        "destination", "/dev/pts", "type", "devpts", "source", "devpts", "options", "nosuid",
        "noexec", "newinstance", "ptmxmode=0666", "destination", "/sys", "type", "sysfs", "source",
        "sysfs", "options", "nosuid", "noexec", "ro", "linux", "namespaces", "type", "pid", "type",
        "ipc", "type", "uts", "type", "mount", "type", "network", "cgroupsPath", cg, "resources",
        "devices", "allow", 0, "access", "rwm");
    json_decref(caps);
    assert_non_null(spec);
    return spec;
}

static json_t *sh(const char *script)
{
    return json_pack("[s,s,s]", "sh", "-c", script);
}

/* Directories of one container: bundle, scratch (the backend keeps upper/ and work/ in it). */
typedef struct ctr_dirs {
    char bundle[1024];
    char scratch[1024];
    char upper[1040];
} ctr_dirs;

static void dirs_for(env *e, const char *name, ctr_dirs *d)
{
    snprintf(d->bundle, sizeof d->bundle, "%s/%s/bundle", e->dir, name);
    snprintf(d->scratch, sizeof d->scratch, "%s/%s/scratch", e->dir, name);
    snprintf(d->upper, sizeof d->upper, "%s/upper", d->scratch);
}

/* Creates a container running args on base+top layers (writable unless readonly). */
static int create_ctr(env *e, const char *id, const char *name, json_t *spec, int readonly,
                      const hcs_io *io, ctr_dirs *d, wc_err *err)
{
    const char *lowers[] = {g_layer, g_base};
    dirs_for(e, name, d);
    hcs_rootfs fs = {.lower_dirs = lowers,
                     .n_lower = 2,
                     .scratch_dir = readonly ? NULL : d->scratch,
                     .readonly = readonly};
    hcs_io plain = {0};
    int rc = hcs_create(e->rt, id, "pod", d->bundle, spec, &fs, io ? io : &plain, err);
    json_decref(spec);
    return rc;
}

static const hcs_exit *wait_exit(env *e, const char *id, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    const hcs_exit *found = NULL;
    pthread_mutex_lock(&e->mu);
    while (!found) {
        for (int i = 0; i < e->n_exits && !found; i++)
            if (strcmp(e->exits[i].id, id) == 0)
                found = &e->exits[i].ex;
        if (!found && pthread_cond_timedwait(&e->cv, &e->mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&e->mu);
    return found;
}

/* Reads fd to EOF (or EIO from a pty whose other side closed) within timeout_ms. */
static size_t read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    int64_t until = wc_clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    while (n + 1 < cap && wc_clock_monotonic_ns() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    return n;
}

static hcs_status status_of(env *e, const char *id)
{
    hcs_state st;
    wc_err err = {0};
    if (hcs_state_of(e->rt, id, &st, &err) < 0)
        fail_msg("state of %s: %s", id, err.msg);
    return st.status;
}

static int is_mounted(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        char point[PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1 && strcmp(point, path) == 0)
            found = 1;
    }
    if (f)
        fclose(f);
    return found;
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        wc_err err_ = {0};                                                                         \
        wc_err *err = &err_;                                                                       \
        if ((call) < 0)                                                                            \
            fail_msg("%s: %s", #call, err_.msg);                                                   \
    } while (0)

/* ---- tests ---- */

static void output_through_fifos(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "hello");
    ctr_dirs d;
    json_t *spec = spec_new(id, sh("echo hello; cat /etc/msg; echo oops >&2"));
    CHECK(create_ctr(e, id, "hello", spec, 0, NULL, &d, err));
    assert_int_equal(status_of(e, id), HCS_CREATED);
    int out = -1, errfd = -1;
    CHECK(hcs_open_output(e->rt, id, &out, &errfd, err));
    CHECK(hcs_start(e->rt, id, err));
    char buf[256];
    read_all(out, buf, sizeof buf, 10000);
    assert_string_equal(buf, "hello\ntop\n"); /* the top layer wins */
    read_all(errfd, buf, sizeof buf, 10000);
    assert_string_equal(buf, "oops\n");
    close(out);
    close(errfd);
    const hcs_exit *ex = wait_exit(e, id, 10000);
    assert_non_null(ex);
    assert_int_equal(ex->exit_code, 0);
    assert_int_equal(ex->oom_killed, 0);
    assert_true(ex->pid > 0);
}

static void exit_code_reported(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "exit3");
    ctr_dirs d;
    int64_t before = wc_clock_realtime_ns();
    CHECK(create_ctr(e, id, "exit3", spec_new(id, sh("exit 3")), 0, NULL, &d, err));
    CHECK(hcs_start(e->rt, id, err));
    const hcs_exit *ex = wait_exit(e, id, 10000);
    assert_non_null(ex);
    assert_int_equal(ex->exit_code, 3);
    assert_true(ex->finished_ns >= before);
    assert_int_equal(status_of(e, id), HCS_STOPPED);
}

static void states_and_sigterm(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "term");
    ctr_dirs d;
    /* PID 1 ignores signals it has no handler for: trap TERM explicitly. */
    json_t *spec = spec_new(id, sh("trap 'exit 143' TERM; sleep 1000 & wait"));
    CHECK(create_ctr(e, id, "term", spec, 0, NULL, &d, err));
    assert_int_equal(status_of(e, id), HCS_CREATED);
    CHECK(hcs_start(e->rt, id, err));
    assert_int_equal(status_of(e, id), HCS_RUNNING);
    CHECK(hcs_pause(e->rt, id, err));
    assert_int_equal(status_of(e, id), HCS_PAUSED);
    CHECK(hcs_resume(e->rt, id, err));
    assert_int_equal(status_of(e, id), HCS_RUNNING);
    CHECK(hcs_kill(e->rt, id, SIGTERM, 0, err));
    const hcs_exit *ex = wait_exit(e, id, 10000);
    assert_non_null(ex);
    assert_int_equal(ex->exit_code, 143);
    assert_int_equal(status_of(e, id), HCS_STOPPED);
    wc_err err = {0};
    assert_int_equal(hcs_kill(e->rt, id, SIGTERM, 0, &err), -1);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
}

static void sigkill_reports_137(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "kill9");
    ctr_dirs d;
    CHECK(create_ctr(e, id, "kill9", spec_new(id, sh("sleep 1000")), 0, NULL, &d, err));
    CHECK(hcs_start(e->rt, id, err));
    CHECK(hcs_kill(e->rt, id, SIGKILL, 1, err));
    const hcs_exit *ex = wait_exit(e, id, 10000);
    assert_non_null(ex);
    assert_int_equal(ex->exit_code, 137);
    assert_int_equal(ex->oom_killed, 0);
}

/* A running container whose init only sleeps; for exec tests. */
static const char *sleeper(env *e, const char *name)
{
    const char *id = new_id(e, name);
    ctr_dirs d;
    json_t *args = json_pack("[s,s]", "sleep", "1000");
    CHECK(create_ctr(e, id, name, spec_new(id, args), 0, NULL, &d, err));
    CHECK(hcs_start(e->rt, id, err));
    return id;
}

static json_t *process_of(json_t *args)
{
    return json_pack("{s:{s:i, s:i}, s:o, s:[s], s:s}", "user", "uid", 0, "gid", 0, "args", args,
                     "env", "PATH=/bin", "cwd", "/");
}

static void exec_output_and_code(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = sleeper(e, "exec");
    json_t *proc = process_of(sh("echo out; echo err >&2; exit 7"));
    hcs_exec_result r;
    CHECK(hcs_exec_sync(e->rt, id, proc, 10000, 1 << 20, &r, err));
    json_decref(proc);
    assert_string_equal(r.out, "out\n");
    assert_string_equal(r.err, "err\n");
    assert_int_equal(r.exit_code, 7);
    assert_int_equal(r.timed_out, 0);
    assert_int_equal(r.truncated, 0);
    hcs_exec_result_clear(&r);
}

static void exec_timeout_kills(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = sleeper(e, "exectmo");
    json_t *proc = process_of(sh("echo started; sleep 30"));
    hcs_exec_result r;
    int64_t t0 = wc_clock_monotonic_ns();
    CHECK(hcs_exec_sync(e->rt, id, proc, 500, 1 << 20, &r, err));
    int64_t took_ms = (wc_clock_monotonic_ns() - t0) / 1000000;
    json_decref(proc);
    assert_int_equal(r.timed_out, 1);
    assert_true(took_ms < 8000);
    assert_int_equal(r.exit_code, 137);
    assert_string_equal(r.out, "started\n");
    hcs_exec_result_clear(&r);
}

static void exec_output_capped(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = sleeper(e, "execcap");
    json_t *proc = process_of(sh("head -c 300000 /dev/zero; echo done >&2"));
    hcs_exec_result r;
    CHECK(hcs_exec_sync(e->rt, id, proc, 10000, 1000, &r, err));
    json_decref(proc);
    assert_int_equal(r.out_len, 1000);
    assert_int_equal(r.truncated, 1);
    assert_string_equal(r.err, "done\n"); /* the rest was drained: the process finished */
    assert_int_equal(r.exit_code, 0);
    hcs_exec_result_clear(&r);
}

static void exec_in_missing_container(void **state)
{
    NEED_ENV();
    env *e = *state;
    json_t *proc = process_of(sh("true"));
    hcs_exec_result r;
    wc_err err = {0};
    assert_int_equal(hcs_exec_sync(e->rt, "wct-no-such", proc, 5000, 100, &r, &err), -1);
    json_decref(proc);
    assert_int_equal(err.code, WC_NOT_FOUND);
    assert_non_null(strstr(err.msg, "wct-no-such"));
}

static void stats_move(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "stats");
    ctr_dirs d;
    /* Holds a 32 MiB string, then burns CPU. */
    json_t *spec = spec_new(
        id, sh("awk 'BEGIN{s=\"x\"; for(i=0;i<25;i++) s=s s; print length(s); while(1){}}'"));
    CHECK(create_ctr(e, id, "stats", spec, 0, NULL, &d, err));
    int out = -1, errfd = -1;
    CHECK(hcs_open_output(e->rt, id, &out, &errfd, err));
    CHECK(hcs_start(e->rt, id, err));
    char buf[64] = "";
    struct pollfd p = {.fd = out, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 20000), 1); /* the string is built */
    assert_true(read(out, buf, sizeof buf - 1) > 0);
    hcs_stats s1, s2;
    CHECK(hcs_stats_of(e->rt, id, &s1, err));
    wc_sleep_ms(300);
    CHECK(hcs_stats_of(e->rt, id, &s2, err));
    close(out);
    close(errfd);
    assert_true(s2.cpu_usage_ns > s1.cpu_usage_ns);
    assert_true(s2.timestamp_ns > s1.timestamp_ns);
    assert_true(s1.memory_working_set >= 32u << 20);
    assert_true(s1.memory_usage_bytes >= s1.memory_working_set);
    assert_true(s1.memory_rss_bytes >= 32u << 20);
    assert_true(s1.memory_page_faults > 0);
    assert_int_equal(s1.memory_limit_bytes, 0);

    json_t *res = json_pack("{s:{s:I}}", "memory", "limit", (json_int_t)512 << 20);
    CHECK(hcs_update(e->rt, id, res, err));
    json_decref(res);
    CHECK(hcs_stats_of(e->rt, id, &s2, err));
    assert_int_equal(s2.memory_limit_bytes, 512u << 20);
}

static void oom_kill_detected(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "oom");
    ctr_dirs d;
    json_t *spec = spec_new(id, sh("awk 'BEGIN{s=\"x\"; while(1) s=s s}'"));
    /* Swap limit equal to the memory limit: no swap, the OOM killer acts. */
    json_object_set_new(
        json_object_get(json_object_get(spec, "linux"), "resources"), "memory",
        json_pack("{s:I, s:I}", "limit", (json_int_t)24 << 20, "swap", (json_int_t)24 << 20));
    CHECK(create_ctr(e, id, "oom", spec, 0, NULL, &d, err));
    CHECK(hcs_start(e->rt, id, err));
    const hcs_exit *ex = wait_exit(e, id, 30000);
    assert_non_null(ex);
    assert_int_equal(ex->exit_code, 137);
    assert_int_equal(ex->oom_killed, 1);
}

static void delete_is_idempotent_and_unmounts(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "del");
    ctr_dirs d;
    CHECK(create_ctr(e, id, "del", spec_new(id, sh("sleep 1000")), 0, NULL, &d, err));
    CHECK(hcs_start(e->rt, id, err));
    char rootfs[PATH_MAX], fifo[PATH_MAX];
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", d.bundle);
    snprintf(fifo, sizeof fifo, "%s/stdout", d.bundle);
    assert_true(is_mounted(rootfs));
    assert_int_equal(access(fifo, F_OK), 0);
    CHECK(hcs_delete(e->rt, id, err)); /* running: killed first */
    assert_false(is_mounted(rootfs));
    assert_int_not_equal(access(fifo, F_OK), 0);
    assert_int_not_equal(access(rootfs, F_OK), 0);
    assert_int_equal(status_of(e, id), HCS_MISSING);
    CHECK(hcs_delete(e->rt, id, err));
    CHECK(hcs_delete(e->rt, "wct-never-made", err));
    const hcs_exit *ex = wait_exit(e, id, 10000);
    assert_non_null(ex);
    assert_int_equal(ex->exit_code, 137);
    int out = -1, errfd = -1;
    wc_err err = {0};
    assert_int_equal(hcs_open_output(e->rt, id, &out, &errfd, &err), -1);
    assert_int_equal(err.code, WC_NOT_FOUND);
}

static void readonly_rootfs(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "ro");
    ctr_dirs d;
    json_t *spec = spec_new(id, sh("cat /etc/msg; touch /x 2>/dev/null && echo wrote"));
    CHECK(create_ctr(e, id, "ro", spec, 1, NULL, &d, err));
    int out = -1, errfd = -1;
    CHECK(hcs_open_output(e->rt, id, &out, &errfd, err));
    CHECK(hcs_start(e->rt, id, err));
    char buf[128];
    read_all(out, buf, sizeof buf, 10000);
    close(out);
    close(errfd);
    assert_string_equal(buf, "top\n");
    const hcs_exit *ex = wait_exit(e, id, 10000);
    assert_non_null(ex);
    assert_int_not_equal(ex->exit_code, 0);
}

static void writable_layer_gets_writes(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "rw");
    ctr_dirs d;
    CHECK(create_ctr(e, id, "rw", spec_new(id, sh("echo made > /made")), 0, NULL, &d, err));
    CHECK(hcs_start(e->rt, id, err));
    const hcs_exit *ex = wait_exit(e, id, 10000);
    assert_non_null(ex);
    assert_int_equal(ex->exit_code, 0);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/made", d.upper);
    assert_int_equal(access(path, F_OK), 0);
}

static void single_layer_readonly(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "one");
    ctr_dirs d;
    dirs_for(e, "one", &d);
    const char *lowers[] = {g_base};
    hcs_rootfs fs = {.lower_dirs = lowers, .n_lower = 1, .readonly = 1};
    hcs_io io = {0};
    json_t *spec = spec_new(id, sh("cat /etc/msg"));
    CHECK(hcs_create(e->rt, id, "pod", d.bundle, spec, &fs, &io, err));
    json_decref(spec);
    int out = -1, errfd = -1;
    CHECK(hcs_open_output(e->rt, id, &out, &errfd, err));
    CHECK(hcs_start(e->rt, id, err));
    char buf[64];
    read_all(out, buf, sizeof buf, 10000);
    close(out);
    close(errfd);
    assert_string_equal(buf, "base\n");
}

static void spawn_failure_leaves_it_prepared(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "bad");
    ctr_dirs d;
    json_t *args = json_pack("[s]", "/no/such/program");
    /* The runtime sees the program at spawn: its failure leaves the container prepared. */
    CHECK(create_ctr(e, id, "bad", spec_new(id, args), 0, NULL, &d, err));
    wc_err err = {0};
    int pid = -1;
    assert_int_equal(hcs_spawn(e->rt, id, &pid, &err), -1);
    assert_true(err.code == WC_FAILED_PRECONDITION || err.code == WC_INTERNAL);
    assert_non_null(strstr(err.msg, id));
    assert_non_null(strstr(err.msg, "/no/such/program"));
    assert_int_equal(pid, 0);
    assert_int_equal(status_of(e, id), HCS_CREATED);
    assert_int_equal(hcs_delete(e->rt, id, &err), 0);
    char rootfs[PATH_MAX];
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", d.bundle);
    assert_false(is_mounted(rootfs));
    assert_int_equal(status_of(e, id), HCS_MISSING);
}

static void duplicate_id_rejected(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "dup");
    ctr_dirs d;
    CHECK(create_ctr(e, id, "dup", spec_new(id, sh("true")), 0, NULL, &d, err));
    wc_err err = {0};
    ctr_dirs d2;
    assert_int_equal(create_ctr(e, id, "dup2", spec_new(id, sh("true")), 0, NULL, &d2, &err), -1);
    assert_int_equal(err.code, WC_ALREADY_EXISTS);
    /* Known to runc only (our link lost): still refused, and the original is left alone. */
    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s/state/bundles/%s", e->dir, id);
    assert_int_equal(unlink(link), 0);
    ctr_dirs d3;
    err = (wc_err){0};
    assert_int_equal(create_ctr(e, id, "dup3", spec_new(id, sh("true")), 0, NULL, &d3, &err), -1);
    assert_int_equal(err.code, WC_ALREADY_EXISTS);
    assert_int_equal(status_of(e, id), HCS_CREATED);
    assert_int_equal(symlink(d.bundle, link), 0); /* so teardown's delete finds the bundle */
}

static void stdin_fifo(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "stdin");
    ctr_dirs d;
    hcs_io io = {.open_stdin = 1};
    json_t *args = json_pack("[s]", "cat");
    CHECK(create_ctr(e, id, "stdin", spec_new(id, args), 0, &io, &d, err));
    int out = -1, errfd = -1, in = -1;
    CHECK(hcs_open_output(e->rt, id, &out, &errfd, err));
    CHECK(hcs_open_stdin(e->rt, id, &in, err));
    assert_true(in >= 0);
    CHECK(hcs_start(e->rt, id, err));
    assert_int_equal(write(in, "ping\n", 5), 5);
    close(in); /* EOF ends cat */
    char buf[64];
    read_all(out, buf, sizeof buf, 10000);
    close(out);
    close(errfd);
    assert_string_equal(buf, "ping\n");
    const hcs_exit *ex = wait_exit(e, id, 10000);
    assert_non_null(ex);
    assert_int_equal(ex->exit_code, 0);
}

static void terminal_output(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "tty");
    ctr_dirs d;
    hcs_io io = {.terminal = 1};
    CHECK(create_ctr(e, id, "tty", spec_new(id, sh("tty; echo on-tty")), 0, &io, &d, err));
    int pid = 0;
    CHECK(hcs_spawn(e->rt, id, &pid, err)); /* the terminal comes with the runtime's container */
    assert_true(pid > 0);
    int out = -1, errfd = -1;
    CHECK(hcs_open_output(e->rt, id, &out, &errfd, err));
    assert_true(out >= 0);
    assert_int_equal(errfd, -1);
    CHECK(hcs_start(e->rt, id, err));
    char buf[256];
    read_all(out, buf, sizeof buf, 10000);
    close(out);
    assert_non_null(strstr(buf, "/dev/pts/"));
    assert_non_null(strstr(buf, "on-tty"));
    const hcs_exit *ex = wait_exit(e, id, 10000);
    assert_non_null(ex);
    assert_int_equal(ex->exit_code, 0);
}

static void oom_score_clamped(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "oomadj");
    ctr_dirs d;
    json_t *spec = spec_new(id, sh("cat /proc/self/oom_score_adj"));
    json_object_set_new(json_object_get(spec, "process"), "oomScoreAdj", json_integer(-999));
    CHECK(create_ctr(e, id, "oomadj", spec, 0, NULL, &d, err));
    int out = -1, errfd = -1;
    CHECK(hcs_open_output(e->rt, id, &out, &errfd, err));
    CHECK(hcs_start(e->rt, id, err));
    char buf[64], mine[64] = "";
    read_all(out, buf, sizeof buf, 10000);
    close(out);
    close(errfd);
    FILE *f = fopen("/proc/self/oom_score_adj", "r");
    assert_non_null(f);
    assert_non_null(fgets(mine, sizeof mine, f));
    fclose(f);
    assert_string_equal(buf, mine);
}

static void output_reopened_by_path(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "reopen");
    ctr_dirs d;
    json_t *spec = spec_new(id, sh("echo one; read x; echo two"));
    hcs_io io = {.open_stdin = 1};
    CHECK(create_ctr(e, id, "reopen", spec, 0, &io, &d, err));
    int out = -1, errfd = -1, in = -1;
    CHECK(hcs_open_output(e->rt, id, &out, &errfd, err));
    CHECK(hcs_open_stdin(e->rt, id, &in, err));
    CHECK(hcs_start(e->rt, id, err));
    char buf[64];
    struct pollfd p = {.fd = out, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(read(out, buf, 4), 4);
    /* A reader after a restart: a fresh runtime finds the FIFOs from the bundle link. */
    int out2 = -1, err2 = -1;
    hcs_runtime *rt2 = NULL;
    char state_dir[PATH_MAX];
    snprintf(state_dir, sizeof state_dir, "%s/state", e->dir);
    wc_runtime_handler h = {.name = "runc", .runtime = "runc", .isolation = ""};
    CHECK(hcs_runtime_open(NULL, &h, state_dir, NULL, NULL, &rt2, err));
    CHECK(hcs_open_output(rt2, id, &out2, &err2, err));
    close(out);
    close(errfd);
    assert_int_equal(write(in, "\n", 1), 1);
    read_all(out2, buf, sizeof buf, 10000);
    assert_string_equal(buf, "two\n");
    close(in);
    close(out2);
    close(err2);
    hcs_runtime_close(rt2);
}

/* After a restart: a new runtime on the same state dir watches a running container. */
static void adopt_after_restart(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "adopt");
    ctr_dirs d;
    CHECK(create_ctr(e, id, "adopt", spec_new(id, sh("sleep 1000")), 0, NULL, &d, err));
    CHECK(hcs_start(e->rt, id, err));
    /* The first runtime goes away (as with a daemon restart); the container stays. */
    hcs_runtime_close(e->rt);
    e->rt = NULL;
    char state_dir[PATH_MAX];
    snprintf(state_dir, sizeof state_dir, "%s/state", e->dir);
    wc_runtime_handler h = {.name = "runc", .runtime = "runc", .isolation = ""};
    CHECK(hcs_runtime_open(NULL, &h, state_dir, on_exit_cb, e, &e->rt, err));
    assert_int_equal(status_of(e, id), HCS_RUNNING);
    CHECK(hcs_adopt(e->rt, id, err));
    CHECK(hcs_adopt(e->rt, id, err));
    hcs_stats s;
    CHECK(hcs_stats_of(e->rt, id, &s, err));
    assert_true(s.memory_usage_bytes > 0);
    CHECK(hcs_kill(e->rt, id, SIGKILL, 0, err));
    const hcs_exit *ex = wait_exit(e, id, 10000);
    assert_non_null(ex);
    assert_int_equal(ex->exit_code, 137);
    wc_err err = {0};
    assert_int_equal(hcs_adopt(e->rt, "wct-never-made", &err), -1);
    assert_int_equal(err.code, WC_NOT_FOUND);
}

/* After its exit the runtime lets go (runc's state and cgroup, the rootfs mount); the bundle's
 * files wait for hcs_delete, which then needs no runtime call and no unmount. */
static void release_after_exit(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "rel");
    ctr_dirs d;
    CHECK(create_ctr(e, id, "rel", spec_new(id, sh("exit 4")), 0, NULL, &d, err));
    CHECK(hcs_start(e->rt, id, err));
    assert_non_null(wait_exit(e, id, 10000));
    assert_int_equal(status_of(e, id), HCS_STOPPED);
    char runc_dir[PATH_MAX], rootfs[PATH_MAX];
    snprintf(runc_dir, sizeof runc_dir, "%s/state/runc/%s", e->dir, id);
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", d.bundle);
    assert_int_equal(access(runc_dir, F_OK), 0);
    CHECK(hcs_release(e->rt, id, err));
    assert_int_equal(access(runc_dir, F_OK), -1);
    assert_int_equal(status_of(e, id), HCS_MISSING); /* not "prepared" either */
    assert_false(is_mounted(rootfs));                /* its rootfs went with it */
    CHECK(hcs_release(e->rt, id, err));              /* again: nothing to let go of */
    CHECK(hcs_delete(e->rt, id, err));
    assert_int_not_equal(access(rootfs, F_OK), 0);
}

/* During a survey states come from one listing; a deletion meanwhile shows as MISSING. */
static void survey_answers_states(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *run = new_id(e, "srun");
    const char *made = new_id(e, "smade");
    ctr_dirs d;
    CHECK(create_ctr(e, run, "srun", spec_new(run, sh("sleep 1000")), 0, NULL, &d, err));
    CHECK(hcs_start(e->rt, run, err));
    CHECK(create_ctr(e, made, "smade", spec_new(made, sh("true")), 0, NULL, &d, err));
    hcs_survey_begin(e->rt);
    hcs_state st;
    CHECK(hcs_state_of(e->rt, run, &st, err));
    assert_int_equal(st.status, HCS_RUNNING);
    assert_true(st.pid > 0);
    assert_int_equal(status_of(e, made), HCS_CREATED); /* prepared, not in runc's list */
    assert_int_equal(status_of(e, "wct-never-made"), HCS_MISSING);
    CHECK(hcs_delete(e->rt, run, err));
    assert_int_equal(status_of(e, run), HCS_MISSING);
    hcs_survey_end(e->rt);
    assert_int_equal(status_of(e, run), HCS_MISSING);
    assert_int_equal(status_of(e, made), HCS_CREATED);
}

/* Prepared before a restart, started after it: the exit still comes. */
static void start_after_restart(void **state)
{
    NEED_ENV();
    env *e = *state;
    const char *id = new_id(e, "late");
    ctr_dirs d;
    CHECK(create_ctr(e, id, "late", spec_new(id, sh("exit 5")), 0, NULL, &d, err));
    hcs_runtime_close(e->rt);
    e->rt = NULL;
    char state_dir[PATH_MAX];
    snprintf(state_dir, sizeof state_dir, "%s/state", e->dir);
    wc_runtime_handler h = {.name = "runc", .runtime = "runc", .isolation = ""};
    CHECK(hcs_runtime_open(NULL, &h, state_dir, on_exit_cb, e, &e->rt, err));
    int out = -1, errfd = -1;
    CHECK(hcs_open_output(e->rt, id, &out, &errfd, err));
    CHECK(hcs_start(e->rt, id, err));
    const hcs_exit *ex = wait_exit(e, id, 10000);
    assert_non_null(ex);
    assert_int_equal(ex->exit_code, 5);
    close(out);
    close(errfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(output_through_fifos, setup, teardown),
        cmocka_unit_test_setup_teardown(exit_code_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(states_and_sigterm, setup, teardown),
        cmocka_unit_test_setup_teardown(sigkill_reports_137, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_output_and_code, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_timeout_kills, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_output_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_in_missing_container, setup, teardown),
        cmocka_unit_test_setup_teardown(stats_move, setup, teardown),
        cmocka_unit_test_setup_teardown(oom_kill_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_is_idempotent_and_unmounts, setup, teardown),
        cmocka_unit_test_setup_teardown(readonly_rootfs, setup, teardown),
        cmocka_unit_test_setup_teardown(writable_layer_gets_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(single_layer_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(spawn_failure_leaves_it_prepared, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_id_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(stdin_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(terminal_output, setup, teardown),
        cmocka_unit_test_setup_teardown(oom_score_clamped, setup, teardown),
        cmocka_unit_test_setup_teardown(output_reopened_by_path, setup, teardown),
        cmocka_unit_test_setup_teardown(adopt_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(release_after_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(survey_answers_states, setup, teardown),
        cmocka_unit_test_setup_teardown(start_after_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
