/* The compute backend (hcs/runtime.h), faked: containers are entries in the shared state; a
 * signal ends one (128+sig) unless fake_ignore_soft_signals. As on Linux, an exit is reported
 * only by the runtime that watches the container: the one that created it, or one that adopted it
 * (hcs_adopt, or hcs_start of one it did not know) after a restart. Reports go to that runtime's
 * exit callback, on the calling thread. */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tests/unit/fake_int.h"

struct hcs_runtime {
    int serial;
    char handler[FAKE_NAME];
    hcs_exit_fn on_exit;
    void *ctx;
    struct hcs_runtime *next;
};

/* This process's open runtimes (the callbacks are this process's). */
static pthread_mutex_t rt_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hcs_runtime *open_runtimes;

/* Called with fk locked. */
static fake_ctr *ctr_find(const char *id)
{
    for (size_t i = 0; id && i < FAKE_N; i++)
        if (fk->ctrs[i].used && strcmp(fk->ctrs[i].id, id) == 0)
            return &fk->ctrs[i];
    return NULL;
}

/* Called with fk locked. */
static fake_ctr *ctr_add(const char *id)
{
    for (size_t i = 0; i < FAKE_N; i++) {
        if (!fk->ctrs[i].used) {
            memset(&fk->ctrs[i], 0, sizeof fk->ctrs[i]);
            fk->ctrs[i].used = 1;
            fake_copy(fk->ctrs[i].id, id);
            return &fk->ctrs[i];
        }
    }
    return NULL;
}

/* Reports an exit to the runtime watching the container; none (wincrid is down, or restarted
 * and has not adopted it): nobody hears of it. */
static void report_exit(const char *id, int watcher, int exit_code)
{
    hcs_exit e = {.pid = 0, .exit_code = exit_code, .finished_ns = wc_clock_realtime_ns()};
    hcs_exit_fn fn = NULL;
    void *ctx = NULL;
    pthread_mutex_lock(&rt_mu);
    for (struct hcs_runtime *rt = open_runtimes; watcher && rt; rt = rt->next) {
        if (rt->serial == watcher) {
            fn = rt->on_exit;
            ctx = rt->ctx;
            break;
        }
    }
    pthread_mutex_unlock(&rt_mu);
    if (fn)
        fn(ctx, id, NULL, &e);
}

/* Ends the container if it runs; reports the exit outside every lock. */
static void end_container(const char *id, int exit_code)
{
    int watcher = 0, ended = 0;
    fake_lock();
    fake_ctr *c = ctr_find(id);
    if (c && (c->status == HCS_RUNNING || c->status == HCS_PAUSED)) {
        c->status = HCS_STOPPED;
        c->exit_code = exit_code;
        watcher = c->watcher;
        ended = 1;
    }
    fake_unlock();
    if (ended)
        report_exit(id, watcher, exit_code);
}

void fake_exit(const char *id, int exit_code)
{
    end_container(id, exit_code);
}

void fake_exit_during(const char *call, int exit_code)
{
    fake_lock();
    snprintf(fk->exit_during, sizeof fk->exit_during, "%s", call);
    fk->exit_during_code = exit_code;
    fake_unlock();
}

void fake_maybe_exit_during(const char *call, const char *id)
{
    int code = 0, now = 0;
    fake_lock();
    if (fk->exit_during[0] && strcmp(fk->exit_during, call) == 0) {
        fk->exit_during[0] = '\0';
        code = fk->exit_during_code;
        now = 1;
    }
    fake_unlock();
    if (now)
        end_container(id, code);
}

void fake_ignore_soft_signals(int on)
{
    fake_lock();
    fk->ignore_soft = on;
    fake_unlock();
}

hcs_status fake_ctr_status(const char *id)
{
    fake_lock();
    fake_ctr *c = ctr_find(id);
    hcs_status st = c ? c->status : HCS_MISSING;
    fake_unlock();
    return st;
}

int fake_ctr_pid(const char *id)
{
    fake_lock();
    fake_ctr *c = ctr_find(id);
    int pid = c ? c->pid : 0;
    fake_unlock();
    return pid;
}

size_t fake_ctr_count(void)
{
    size_t n = 0;
    fake_lock();
    for (size_t i = 0; i < FAKE_N; i++)
        n += fk->ctrs[i].used;
    fake_unlock();
    return n;
}

void fake_ctr_put(const char *id, const char *sandbox_id, const char *handler, hcs_status status,
                  int pid)
{
    fake_lock();
    fake_ctr *c = ctr_find(id);
    if (!c)
        c = ctr_add(id);
    if (c) {
        fake_copy(c->sandbox, sandbox_id);
        snprintf(c->handler, sizeof c->handler, "%s", handler);
        c->status = status;
        c->pid = pid;
        c->watcher = 0;
    }
    fake_unlock();
}

void fake_ctr_drop(const char *id)
{
    fake_lock();
    fake_ctr *c = ctr_find(id);
    if (c)
        c->used = 0;
    fake_unlock();
}

/* ---- hcs/runtime.h ---- */

int hcs_runtime_open(const wc_config *cfg, const wc_runtime_handler *handler, const char *state_dir,
                     hcs_exit_fn on_exit, void *exit_ctx, hcs_runtime **out, wc_err *err)
{
    (void)cfg;
    (void)state_dir;
    *out = NULL;
    if (fake_enter("hcs_runtime_open", handler->name, 0, err) < 0)
        return -1;
    hcs_runtime *rt = calloc(1, sizeof *rt);
    fake_lock();
    rt->serial = ++fk->next_runtime;
    fake_unlock();
    snprintf(rt->handler, sizeof rt->handler, "%s", handler->name);
    rt->on_exit = on_exit;
    rt->ctx = exit_ctx;
    pthread_mutex_lock(&rt_mu);
    rt->next = open_runtimes;
    open_runtimes = rt;
    pthread_mutex_unlock(&rt_mu);
    *out = rt;
    return 0;
}

void hcs_runtime_close(hcs_runtime *rt)
{
    fake_enter("hcs_runtime_close", rt->handler, 0, NULL);
    pthread_mutex_lock(&rt_mu);
    for (hcs_runtime **l = &open_runtimes; *l; l = &(*l)->next) {
        if (*l == rt) {
            *l = rt->next;
            break;
        }
    }
    pthread_mutex_unlock(&rt_mu);
    free(rt);
}

int hcs_pod_release(hcs_runtime *rt, const char *sandbox_id, wc_err *err)
{
    (void)rt;
    return fake_enter("hcs_pod_release", sandbox_id, 0, err);
}

int hcs_create(hcs_runtime *rt, const char *id, const char *sandbox_id, const char *bundle,
               json_t *spec, const hcs_rootfs *rootfs, const hcs_io *io, wc_err *err)
{
    (void)bundle;
    (void)io;
    if (fake_enter("hcs_create", id, (int)rootfs->n_lower, err) < 0)
        return -1;
    if (!json_is_object(spec))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "hcs_create %s: no spec", id);
    fake_lock();
    fake_ctr *c = ctr_find(id) ? NULL : ctr_add(id);
    if (c) {
        fake_copy(c->sandbox, sandbox_id);
        snprintf(c->handler, sizeof c->handler, "%s", rt->handler);
        c->status = HCS_CREATED;
        c->pid = fk->next_pid++; /* the runtime's init, waiting for start */
        c->watcher = rt->serial;
    }
    fake_unlock();
    if (!c)
        return wc_err_set(err, WC_ALREADY_EXISTS, "container %s already exists", id);
    fake_maybe_exit_during("hcs_create", id);
    return 0;
}

/* The fake's init is made with the container (hcs_create), as on Windows: spawn only finds it. */
int hcs_spawn(hcs_runtime *rt, const char *id, int *pid, wc_err *err)
{
    (void)rt;
    *pid = 0;
    if (fake_enter("hcs_spawn", id, 0, err) < 0)
        return -1;
    fake_lock();
    fake_ctr *c = ctr_find(id);
    if (c)
        *pid = c->pid;
    fake_unlock();
    return c ? 0 : wc_err_set(err, WC_NOT_FOUND, "container %s does not exist", id);
}

int hcs_release(hcs_runtime *rt, const char *id, wc_err *err)
{
    (void)rt;
    return fake_enter("hcs_release", id, 0, err);
}

void hcs_survey_begin(hcs_runtime *rt)
{
    (void)rt;
}

void hcs_survey_end(hcs_runtime *rt)
{
    (void)rt;
}

int hcs_start(hcs_runtime *rt, const char *id, wc_err *err)
{
    if (fake_enter("hcs_start", id, 0, err) < 0)
        return -1;
    fake_lock();
    fake_ctr *c = ctr_find(id);
    int rc = 0;
    if (!c)
        rc = wc_err_set(err, WC_NOT_FOUND, "container %s does not exist", id);
    else if (c->status != HCS_CREATED)
        rc = wc_err_set(err, WC_FAILED_PRECONDITION, "container %s is not created", id);
    else {
        c->status = HCS_RUNNING;
        c->watcher = rt->serial; /* one it did not know is adopted first */
    }
    fake_unlock();
    if (rc == 0)
        fake_maybe_exit_during("hcs_start", id);
    return rc;
}

int hcs_kill(hcs_runtime *rt, const char *id, int sig, int all, wc_err *err)
{
    (void)rt;
    (void)all;
    if (fake_enter("hcs_kill", id, sig, err) < 0)
        return -1;
    fake_lock();
    fake_ctr *c = ctr_find(id);
    int rc = 0, ends = 0;
    if (!c)
        rc = wc_err_set(err, WC_NOT_FOUND, "container %s does not exist", id);
    else if (c->status != HCS_RUNNING && c->status != HCS_PAUSED)
        rc = wc_err_set(err, WC_FAILED_PRECONDITION, "container %s is not running", id);
    else
        ends = sig == 9 || !fk->ignore_soft;
    fake_unlock();
    if (ends)
        end_container(id, 128 + sig);
    return rc;
}

int hcs_delete(hcs_runtime *rt, const char *id, wc_err *err)
{
    (void)rt;
    if (fake_enter("hcs_delete", id, 0, err) < 0)
        return -1;
    end_container(id, 137); /* killed if it still runs */
    fake_lock();
    fake_ctr *c = ctr_find(id);
    if (c)
        c->used = 0;
    fake_unlock();
    return 0;
}

int hcs_list(hcs_runtime *rt, char ***ids, size_t *n, wc_err *err)
{
    *ids = NULL;
    *n = 0;
    if (fake_enter("hcs_list", rt->handler, 0, err) < 0)
        return -1;
    fake_lock();
    *ids = calloc(FAKE_N + 1, sizeof **ids);
    for (size_t i = 0; i < FAKE_N; i++)
        if (fk->ctrs[i].used && strcmp(fk->ctrs[i].handler, rt->handler) == 0)
            (*ids)[(*n)++] = strdup(fk->ctrs[i].id);
    fake_unlock();
    return 0;
}

void hcs_quiesce(hcs_runtime *rt)
{
    fake_enter("hcs_quiesce", rt->handler, 0, NULL);
}

int hcs_state_of(hcs_runtime *rt, const char *id, hcs_state *out, wc_err *err)
{
    (void)rt;
    out->status = HCS_MISSING;
    out->pid = 0;
    if (fake_enter("hcs_state_of", id, 0, err) < 0)
        return -1;
    fake_lock();
    fake_ctr *c = ctr_find(id);
    if (c) {
        out->status = c->status;
        out->pid = c->status == HCS_STOPPED ? 0 : c->pid;
    }
    fake_unlock();
    fake_maybe_exit_during("hcs_state_of", id);
    return 0;
}

/* As on Linux: a container whose init is gone cannot be watched. */
int hcs_adopt(hcs_runtime *rt, const char *id, wc_err *err)
{
    if (fake_enter("hcs_adopt", id, 0, err) < 0)
        return -1;
    fake_lock();
    fake_ctr *c = ctr_find(id);
    int rc = 0;
    if (!c)
        rc = wc_err_set(err, WC_NOT_FOUND, "adopt container %s: not found", id);
    else if (c->status == HCS_STOPPED)
        rc = wc_err_set(err, WC_FAILED_PRECONDITION, "adopt container %s: not running", id);
    else
        c->watcher = rt->serial;
    fake_unlock();
    return rc;
}

int hcs_open_output(hcs_runtime *rt, const char *id, int *out_fd, int *err_fd, wc_err *err)
{
    (void)rt;
    *out_fd = *err_fd = -1;
    return fake_enter("hcs_open_output", id, 0, err);
}

int hcs_open_stdin(hcs_runtime *rt, const char *id, int *in_fd, wc_err *err)
{
    (void)rt;
    *in_fd = -1;
    return fake_enter("hcs_open_stdin", id, 0, err);
}

int hcs_update(hcs_runtime *rt, const char *id, const json_t *linux_resources, wc_err *err)
{
    (void)rt;
    (void)linux_resources;
    return fake_enter("hcs_update", id, 0, err);
}

static int set_paused(const char *call, const char *id, hcs_status from, hcs_status to, wc_err *err)
{
    if (fake_enter(call, id, 0, err) < 0)
        return -1;
    fake_lock();
    fake_ctr *c = ctr_find(id);
    int ok = c && c->status == from;
    if (ok)
        c->status = to;
    fake_unlock();
    return ok ? 0 : wc_err_set(err, WC_FAILED_PRECONDITION, "%s: container %s", call, id);
}

int hcs_pause(hcs_runtime *rt, const char *id, wc_err *err)
{
    (void)rt;
    return set_paused("hcs_pause", id, HCS_RUNNING, HCS_PAUSED, err);
}

int hcs_resume(hcs_runtime *rt, const char *id, wc_err *err)
{
    (void)rt;
    return set_paused("hcs_resume", id, HCS_PAUSED, HCS_RUNNING, err);
}

/* Its "output" is the command line, so a test sees what was run. */
int hcs_exec_sync(hcs_runtime *rt, const char *id, const json_t *process, int64_t timeout_ms,
                  size_t max_output, hcs_exec_result *out, wc_err *err)
{
    (void)rt;
    (void)timeout_ms;
    (void)max_output;
    memset(out, 0, sizeof *out);
    if (fake_enter("hcs_exec_sync", id, 0, err) < 0)
        return -1;
    if (fake_ctr_status(id) != HCS_RUNNING)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s is not running", id);
    json_t *args = json_object_get(process, "args");
    size_t cap = 1;
    for (size_t i = 0; i < json_array_size(args); i++)
        cap += strlen(json_string_value(json_array_get(args, i))) + 1;
    out->out = calloc(1, cap);
    for (size_t i = 0; i < json_array_size(args); i++) {
        if (i)
            strcat(out->out, " ");
        strcat(out->out, json_string_value(json_array_get(args, i)));
    }
    out->out_len = strlen(out->out);
    out->err = strdup("");
    return 0;
}

void hcs_exec_result_clear(hcs_exec_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

int hcs_exec_start(hcs_runtime *rt, const char *id, const json_t *process,
                   const hcs_exec_stdio *stdio, int *in_fd, int *out_fd, int *err_fd,
                   hcs_exec_proc **out, wc_err *err)
{
    (void)rt;
    (void)process;
    (void)stdio;
    *in_fd = *out_fd = *err_fd = -1;
    *out = NULL;
    if (fake_enter("hcs_exec_start", id, 0, err) < 0)
        return -1;
    return wc_err_set(err, WC_UNIMPLEMENTED, "the fake backend runs no interactive exec");
}

int hcs_exec_resize(hcs_exec_proc *p, unsigned width, unsigned height)
{
    (void)p;
    (void)width;
    (void)height;
    return -1;
}

int hcs_exec_wait(hcs_exec_proc *p, int *exit_code)
{
    (void)p;
    *exit_code = -1;
    return -1;
}

void hcs_exec_kill(hcs_exec_proc *p)
{
    (void)p;
}

void hcs_exec_free(hcs_exec_proc *p)
{
    (void)p;
}

int hcs_stats_of(hcs_runtime *rt, const char *id, hcs_stats *out, wc_err *err)
{
    (void)rt;
    memset(out, 0, sizeof *out);
    if (fake_enter("hcs_stats_of", id, 0, err) < 0)
        return -1;
    out->timestamp_ns = wc_clock_realtime_ns();
    out->cpu_usage_ns = 1000000;
    out->memory_usage_bytes = 4096;
    out->memory_working_set = 4096;
    return 0;
}
