/* After a restart: bring the in-memory view in line with what the runtime really has, and
 * finish what a killed wincrid left half done. Pods and containers keep running across a
 * restart. Each record's intent (model.h) says which verb was cut short:
 *   sandbox "run"       rolled back (network torn down with CNI DEL, record deleted): the
 *                       kubelet never got the id and retries RunPodSandbox;
 *   sandbox "stop"/"remove", container "remove"   rolled forward (each is idempotent);
 *   container "create"  rolled back (the runtime's container, its mount and dirs, the
 *                       image hold, the record);
 *   container "start"   the runtime's state decides: running is RUNNING, created stays
 *                       CREATED (StartContainer can be retried), stopped is EXITED;
 *   container "stop@T"  killed if its grace period T is over, else signalled again.
 * Then whatever the backend or the disk holds that no record owns is reclaimed. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "image/image.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

/* Its exit status is lost: 255, reason Unknown, and why in the message. */
static void mark_lost(pod_manager *pm, pod_container *c, const char *why)
{
    pthread_mutex_lock(&pm->mu);
    free(c->message);
    c->message = wc_xstrdup(why);
    pthread_mutex_unlock(&pm->mu);
    pod_container_mark_exited(pm, c, 0, 255, 0, 0);
}

static hcs_runtime *runtime_by_sandbox(pod_manager *pm, const char *sandbox_id)
{
    for (size_t i = 0; i < pm->n_sandboxes; i++) {
        if (strcmp(pm->sandboxes[i]->id, sandbox_id) == 0) {
            wc_err err = {0};
            return pod_runtime_for(pm, pm->sandboxes[i]->handler, &err);
        }
    }
    return NULL;
}

/* A container the runtime runs: watched again, and its stdio held again. The store may say
 * CREATED if wincrid died between the runtime's start and the record: it runs, so it is. */
static void recover_running(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid)
{
    wc_err err = {0};
    if (hcs_adopt(rt, c->id, &err) < 0)
        wc_warn("pod", "cannot watch a running container", "container=%.12s error=\"%s\"", c->id,
                err.msg);
    if (pod_platform_stdio_recover(pm, c, rt, pid, &err) < 0)
        wc_warn("pod", "cannot hold a running container's stdio again",
                "container=%.12s error=\"%s\"", c->id, err.msg);
    if (c->state == POD_CONTAINER_CREATED) {
        pthread_mutex_lock(&pm->mu);
        c->state = POD_CONTAINER_RUNNING;
        c->pid = pid;
        if (!c->started_ns)
            c->started_ns = wc_clock_realtime_ns();
        pod_store_put_container(pm, c, &err);
        pthread_mutex_unlock(&pm->mu);
    }
}

static void recover_state(pod_manager *pm, pod_container *c)
{
    if (c->state != POD_CONTAINER_RUNNING && c->state != POD_CONTAINER_CREATED)
        return;
    int code = 0;
    int64_t at = 0;
    if (pod_platform_stdio_recorded_exit(pm, c->id, &code, &at)) {
        /* It exited while wincrid was away; the keeper saw its status and wrote its output. */
        pod_container_mark_exited(pm, c, 1, code, at, 0);
        return;
    }
    hcs_runtime *rt = runtime_by_sandbox(pm, c->sandbox_id);
    hcs_state st = {.status = HCS_MISSING};
    wc_err err = {0};
    if (!rt || hcs_state_of(rt, c->id, &st, &err) < 0 || st.status == HCS_MISSING) {
        mark_lost(pm, c, "the container was gone when wincrid restarted");
        return;
    }
    if (st.status == HCS_RUNNING || st.status == HCS_PAUSED)
        recover_running(pm, c, rt, st.pid);
    else if (st.status == HCS_CREATED && c->state == POD_CONTAINER_CREATED)
        /* A start cut short before the runtime started it: the retry spawns a new init, so
         * the keeper must not report the old one's end (the retry kills it) as the exit. */
        pod_platform_stdio_end(pm, c);
    else if (st.status == HCS_STOPPED &&
             (c->state == POD_CONTAINER_RUNNING || strcmp(c->intent, POD_INTENT_START) == 0))
        mark_lost(pm, c, "the container exited while wincrid and its stdio keeper were down");
}

/* StopContainer cut short: its grace period, if over, ends with SIGKILL now; else the stop
 * signal goes again and the kubelet's retry of StopContainer waits the rest. */
static void finish_stop(pod_manager *pm, pod_container *c)
{
    long long deadline = atoll(c->intent + strlen(POD_INTENT_STOP) + 1);
    wc_err err = {0};
    if (c->state == POD_CONTAINER_RUNNING && deadline <= wc_clock_realtime_ns()) {
        if (pod_container_stop(pm, c->id, 0, &err) < 0)
            wc_warn("pod", "cannot finish a stop", "container=%.12s error=\"%s\"", c->id, err.msg);
        return;
    }
    hcs_runtime *rt = runtime_by_sandbox(pm, c->sandbox_id);
    if (c->state == POD_CONTAINER_RUNNING && rt) {
        int sig = pod_platform_signal(c->config->stop_signal);
        hcs_kill(rt, c->id, sig > 0 ? sig : POD_SIGTERM, 0, &err);
    }
    pod_container_record_intent(pm, c, NULL, &err);
}

static void drop_container(pod_manager *pm, pod_container *c)
{
    wc_info("pod", "rolling back a container whose creation was cut short", "container=%.12s",
            c->id);
    pod_container_discard(pm, c);
    pod_index_remove_container(pm, c);
}

static void recover_container(pod_manager *pm, pod_container *c)
{
    wc_err err = {0};
    if (strcmp(c->intent, POD_INTENT_CREATE) == 0) {
        drop_container(pm, c);
        return;
    }
    recover_state(pm, c);
    if (strcmp(c->intent, POD_INTENT_REMOVE) == 0) {
        if (pod_container_remove(pm, c->id, &err) < 0)
            wc_warn("pod", "cannot finish a removal", "container=%.12s error=\"%s\"", c->id,
                    err.msg);
    } else if (strncmp(c->intent, POD_INTENT_STOP "@", strlen(POD_INTENT_STOP) + 1) == 0) {
        finish_stop(pm, c);
    } else if (*c->intent) {
        pod_container_record_intent(pm, c, NULL, &err); /* "start": the state says it now */
    }
}

static void recover_sandbox(pod_manager *pm, pod_sandbox *s)
{
    wc_err err = {0};
    int rc = 0;
    if (strcmp(s->intent, POD_INTENT_RUN) == 0) {
        wc_info("pod", "rolling back a pod whose start was cut short", "sandbox=%.12s", s->id);
        pod_sandbox_roll_back(pm, s);
        pod_index_remove_sandbox(pm, s);
    } else if (strcmp(s->intent, POD_INTENT_STOP) == 0) {
        rc = pod_sandbox_stop(pm, s->id, &err);
    } else if (strcmp(s->intent, POD_INTENT_REMOVE) == 0) {
        rc = pod_sandbox_remove(pm, s->id, &err);
    }
    if (rc < 0)
        wc_warn("pod", "cannot finish a pod's stop or removal", "sandbox=%.12s error=\"%s\"", s->id,
                err.msg);
}

/* Snapshots of the indexes, each entry holding a reference: recovery edits the index. */
static pod_container **containers_snapshot(pod_manager *pm, size_t *n)
{
    pthread_mutex_lock(&pm->mu);
    *n = pm->n_containers;
    pod_container **v = wc_xcalloc(*n + 1, sizeof *v);
    for (size_t i = 0; i < *n; i++) {
        v[i] = pm->containers[i];
        v[i]->refs++;
    }
    pthread_mutex_unlock(&pm->mu);
    return v;
}

static pod_sandbox **sandboxes_snapshot(pod_manager *pm, size_t *n)
{
    pthread_mutex_lock(&pm->mu);
    *n = pm->n_sandboxes;
    pod_sandbox **v = wc_xcalloc(*n + 1, sizeof *v);
    for (size_t i = 0; i < *n; i++) {
        v[i] = pm->sandboxes[i];
        v[i]->refs++;
    }
    pthread_mutex_unlock(&pm->mu);
    return v;
}

static int container_known(pod_manager *pm, const char *id)
{
    pthread_mutex_lock(&pm->mu);
    int known = 0;
    for (size_t i = 0; !known && i < pm->n_containers; i++)
        known = strcmp(pm->containers[i]->id, id) == 0;
    pthread_mutex_unlock(&pm->mu);
    return known;
}

static int sandbox_known(pod_manager *pm, const char *id)
{
    pthread_mutex_lock(&pm->mu);
    int known = 0;
    for (size_t i = 0; !known && i < pm->n_sandboxes; i++)
        known = strcmp(pm->sandboxes[i]->id, id) == 0;
    pthread_mutex_unlock(&pm->mu);
    return known;
}

/* The backend's containers no record owns (a record can be unreadable: those are kept). */
static void sweep_runtime(pod_manager *pm, hcs_runtime *rt, size_t *swept)
{
    char **ids = NULL;
    size_t n = 0;
    wc_err err = {0};
    if (hcs_list(rt, &ids, &n, &err) < 0) {
        wc_warn("pod", "cannot list the runtime's containers", "error=\"%s\"", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!container_known(pm, ids[i]) && !pod_store_has_row(pm, "containers", ids[i])) {
            wc_info("pod", "removing a container no record owns", "container=%.12s", ids[i]);
            if (hcs_delete(rt, ids[i], &err) < 0)
                wc_warn("pod", "cannot remove it", "container=%.12s error=\"%s\"", ids[i], err.msg);
            else
                (*swept)++;
            wc_err_clear(&err);
        }
        free(ids[i]);
    }
    free(ids);
}

/* Directories named by an id whose record is gone: a writable layer, a bundle, a pod's files. */
static void sweep_dir(pod_manager *pm, const char *dir, const char *table, size_t *swept)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *id = e->d_name;
        if (strlen(id) != POD_ID_LEN)
            continue;
        int known =
            strcmp(table, "sandboxes") == 0 ? sandbox_known(pm, id) : container_known(pm, id);
        if (known || pod_store_has_row(pm, table, id))
            continue;
        char *path = wc_path_join(dir, id);
        wc_err err = {0};
        if (pod_platform_remove_tree(path, &err) < 0)
            wc_warn("pod", "cannot remove a leftover directory", "path=%s error=\"%s\"", path,
                    err.msg);
        else
            (*swept)++;
        free(path);
    }
    closedir(d);
}

static int container_owns_hold(void *ctx, const char *holder)
{
    pod_manager *pm = ctx;
    return container_known(pm, holder) || pod_store_has_row(pm, "containers", holder);
}

static void sweep(pod_manager *pm)
{
    size_t swept = 0;
    if (pm->images)
        swept += img_holds_prune(pm->images, container_owns_hold, pm);
    for (size_t i = 0; i < pm->cfg->n_handlers; i++)
        if (pm->runtimes[i])
            sweep_runtime(pm, pm->runtimes[i], &swept);
    sweep_dir(pm, pm->bundles_dir, "containers", &swept);
    sweep_dir(pm, pm->containers_dir, "containers", &swept);
    sweep_dir(pm, pm->sandboxes_dir, "sandboxes", &swept);
    if (swept)
        wc_info("pod", "reclaimed what no record owned", "count=%zu", swept);
}

void pod_recover(pod_manager *pm)
{
    for (size_t i = 0; i < pm->cfg->n_handlers; i++)
        if (pm->runtimes[i])
            hcs_quiesce(pm->runtimes[i]);
    size_t n = 0;
    pod_container **cs = containers_snapshot(pm, &n);
    for (size_t i = 0; i < pm->cfg->n_handlers; i++)
        if (pm->runtimes[i] && n)
            hcs_survey_begin(pm->runtimes[i]);
    for (size_t i = 0; i < n; i++) {
        recover_container(pm, cs[i]);
        pod_container_unref(pm, cs[i]);
    }
    free(cs);
    for (size_t i = 0; i < pm->cfg->n_handlers; i++)
        if (pm->runtimes[i])
            hcs_survey_end(pm->runtimes[i]);
    pod_sandbox **ss = sandboxes_snapshot(pm, &n);
    for (size_t i = 0; i < n; i++) {
        recover_sandbox(pm, ss[i]);
        pod_sandbox_unref(pm, ss[i]);
    }
    free(ss);
    sweep(pm);
    pod_platform_stdio_prune(pm);
    size_t running = 0;
    pthread_mutex_lock(&pm->mu);
    for (size_t i = 0; i < pm->n_containers; i++)
        running += pm->containers[i]->state == POD_CONTAINER_RUNNING;
    if (pm->n_sandboxes || pm->n_containers)
        wc_info("pod", "recovered", "sandboxes=%zu containers=%zu running=%zu", pm->n_sandboxes,
                pm->n_containers, running);
    pthread_mutex_unlock(&pm->mu);
}
