/* CreateContainer, StartContainer, StopContainer, RemoveContainer, ExecSync, ReopenContainerLog
 * and the container queries. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/pbcopy.h"
#include "common/log.h"
#include "image/image.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

#define EXEC_OUTPUT_MAX (16 * 1024 * 1024)

static int validate_config(const Runtime__V1__ContainerConfig *c, wc_err *err)
{
    if (!c || !c->metadata || !*c->metadata->name)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "container config: metadata.name is required");
    if (!c->image || !*c->image->image)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container config for %s: image.image is required", c->metadata->name);
    return 0;
}

static int find_duplicate(pod_manager *pm, const char *sandbox_id,
                          const Runtime__V1__ContainerMetadata *md, char *id_out)
{
    int found = 0;
    pthread_mutex_lock(&pm->mu);
    for (size_t i = 0; i < pm->n_containers && !found; i++) {
        const pod_container *c = pm->containers[i];
        if (strcmp(c->sandbox_id, sandbox_id) == 0 &&
            strcmp(c->config->metadata->name, md->name) == 0 &&
            c->config->metadata->attempt == md->attempt) {
            found = 1;
            memcpy(id_out, c->id, POD_ID_LEN + 1);
        }
    }
    pthread_mutex_unlock(&pm->mu);
    return found;
}

static char *log_path_for(const pod_sandbox *s, const Runtime__V1__ContainerConfig *c)
{
    if (!*s->config->log_directory || !*c->log_path)
        return strdup("");
    return wc_path_join(s->config->log_directory, c->log_path);
}

static char *image_ref_of(const img_image *img)
{
    return strdup(img->n_repo_digests ? img->repo_digests[0] : img->id);
}

/* Layer dirs top-most first, as overlayfs and HCS want them; pointers into img. */
static const char **layers_top_first(const img_image *img)
{
    const char **dirs = calloc(img->n_layers + 1, sizeof *dirs);
    for (size_t i = 0; i < img->n_layers; i++)
        dirs[i] = img->layer_dirs[img->n_layers - 1 - i];
    return dirs;
}

static pod_container *new_container(const pod_sandbox *s, const Runtime__V1__ContainerConfig *c,
                                    const img_image *img, wc_err *err)
{
    pod_container *k = calloc(1, sizeof *k);
    if (pod_new_id(k->id, err) < 0) {
        free(k);
        return NULL;
    }
    memcpy(k->sandbox_id, s->id, sizeof k->sandbox_id);
    pthread_mutex_init(&k->op, NULL);
    pthread_cond_init(&k->changed, NULL);
    k->state = POD_CONTAINER_CREATED;
    k->created_ns = wc_clock_realtime_ns();
    k->reason = strdup("");
    k->message = strdup("");
    k->image = strdup(c->image->image);
    k->image_id = strdup(img->id);
    k->image_ref = image_ref_of(img);
    k->log_path = log_path_for(s, c);
    k->config = wc_pb_copy(c);
    return k;
}

/* The writable layer and the bundle; on failure nothing of them is left. */
static int create_in_backend(pod_manager *pm, const pod_sandbox *s, pod_container *k,
                             const img_image *img, hcs_runtime *rt, wc_err *err)
{
    json_t *spec = NULL;
    if (pod_platform_container_spec(pm, s, k->config, img->config_json, k->id, &spec, err) < 0)
        return -1;
    char *layer = wc_path_join(pm->containers_dir, k->id);
    char *upper = wc_path_join(layer, "upper");
    char *work = wc_path_join(layer, "work");
    char *bundle = wc_path_join(pm->bundles_dir, k->id);
    const char **lowers = layers_top_first(img);
    hcs_rootfs rootfs = {.lower_dirs = lowers,
                         .n_lower = img->n_layers,
                         .upper_dir = upper,
                         .work_dir = work,
                         .readonly = 0};
    hcs_io io = {.terminal = k->config->tty, .open_stdin = k->config->stdin_};
    int rc = wc_mkdir_p(upper, 0755, err);
    if (rc == 0)
        rc = wc_mkdir_p(work, 0700, err);
    if (rc == 0)
        rc = wc_mkdir_p(bundle, 0711, err);
    if (rc == 0)
        rc = hcs_create(rt, k->id, bundle, spec, &rootfs, &io, err);
    if (rc == 0) {
        k->spec_json = json_dumps(spec, JSON_COMPACT);
    } else {
        wc_err ignored = {0};
        pod_platform_remove_tree(layer, &ignored);
        pod_platform_remove_tree(bundle, &ignored);
    }
    json_decref(spec);
    free(lowers);
    free(layer);
    free(upper);
    free(work);
    free(bundle);
    return rc;
}

int pod_container_create(pod_manager *pm, const char *sandbox_id,
                         const Runtime__V1__ContainerConfig *config,
                         const Runtime__V1__PodSandboxConfig *sandbox_config, char **id,
                         wc_err *err)
{
    if (validate_config(config, err) < 0)
        return -1;
    pod_sandbox *s = pod_sandbox_find(pm, sandbox_id, err);
    if (!s)
        return -1;
    int rc = -1;
    img_image *img = NULL;
    pod_container *k = NULL;
    char other[POD_ID_LEN + 1];
    hcs_runtime *rt = pod_runtime_for(pm, s->handler, err);
    if (!rt)
        goto out;
    if (s->state != POD_SANDBOX_READY) {
        wc_err_set(err, WC_FAILED_PRECONDITION, "pod sandbox %s is not ready", s->id);
        goto out;
    }
    if (find_duplicate(pm, s->id, config->metadata, other)) {
        wc_err_set(err, WC_ALREADY_EXISTS,
                   "container %s (attempt %u) already exists in pod sandbox %.12s as %s",
                   config->metadata->name, config->metadata->attempt, s->id, other);
        goto out;
    }
    if (img_image_lookup(pm->images, config->image->image, &img, err) < 0) {
        wc_err_prefix(err, "CreateContainer %s", config->metadata->name);
        goto out;
    }
    k = new_container(s, config, img, err);
    if (!k || create_in_backend(pm, s, k, img, rt, err) < 0)
        goto out;
    /* The image's layers are the container's lower dirs: they must outlive RemoveImage. */
    if (img_hold(pm->images, k->id, img->id, err) < 0 || pod_store_put_container(pm, k, err) < 0) {
        wc_err ignored = {0};
        hcs_delete(rt, k->id, &ignored);
        img_release(pm->images, k->id, &ignored);
        goto out;
    }
    pod_index_add_container(pm, k);
    pod_events_emit(pm, k->id, k->sandbox_id, POD_EVENT_CREATED);
    *id = strdup(k->id);
    wc_info("pod", "container created", "container=%.12s name=%s sandbox=%.12s image=%s", k->id,
            config->metadata->name, s->id, k->image);
    k = NULL;
    rc = 0;
out:
    pod_container_free(k);
    img_image_free(img);
    pod_sandbox_unref(pm, s);
    return rc;
}

static int sandbox_ready(pod_manager *pm, const char *sandbox_id, wc_err *err)
{
    pod_sandbox *s = pod_sandbox_find(pm, sandbox_id, err);
    if (!s)
        return -1;
    int ready = s->state == POD_SANDBOX_READY;
    pod_sandbox_unref(pm, s);
    if (!ready)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "pod sandbox %s is not ready", sandbox_id);
    return 0;
}

static int start_logging(pod_container *c, hcs_runtime *rt, wc_err *err)
{
    int out_fd = -1, err_fd = -1;
    if (hcs_open_output(rt, c->id, &out_fd, &err_fd, err) < 0)
        return -1;
    if (!*c->log_path) {
        /* No log file asked for: output is drained so the container never blocks. */
        c->logger = pod_logger_start("/dev/null", out_fd, err_fd, err);
    } else {
        c->logger = pod_logger_start(c->log_path, out_fd, err_fd, err);
    }
    return c->logger ? 0 : -1;
}

static void mark_start_failed(pod_manager *pm, pod_container *c, const wc_err *why)
{
    wc_err ignored = {0};
    pthread_mutex_lock(&pm->mu);
    c->state = POD_CONTAINER_EXITED;
    c->exit_code = 128;
    c->finished_ns = wc_clock_realtime_ns();
    free(c->reason);
    c->reason = strdup("StartError");
    free(c->message);
    c->message = strdup(why->msg);
    pod_store_put_container(pm, c, &ignored);
    pthread_mutex_unlock(&pm->mu);
}

/* An exit that raced StartContainer is announced now, after STARTED. */
static void flush_deferred_stop(pod_manager *pm, pod_container *c)
{
    pthread_mutex_lock(&pm->mu);
    int deferred = c->stopped_deferred;
    c->starting = c->stopped_deferred = 0;
    pthread_mutex_unlock(&pm->mu);
    if (deferred)
        pod_events_emit(pm, c->id, c->sandbox_id, POD_EVENT_STOPPED);
}

int pod_container_start(pod_manager *pm, const char *id, wc_err *err)
{
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&c->op);
    hcs_runtime *rt = NULL;
    if (c->state != POD_CONTAINER_CREATED) {
        wc_err_set(err, WC_FAILED_PRECONDITION, "container %s is not in the created state", c->id);
    } else if (sandbox_ready(pm, c->sandbox_id, err) == 0 &&
               (rt = pod_runtime_of_container(pm, c, err)) && start_logging(c, rt, err) == 0) {
        pthread_mutex_lock(&pm->mu);
        c->starting = 1;
        pthread_mutex_unlock(&pm->mu);
        /* Taken before the start: an exit reported while hcs_start runs (a command that
         * ends at once) must not finish before the container started. */
        int64_t started_ns = wc_clock_realtime_ns();
        if (hcs_start(rt, c->id, err) < 0) {
            mark_start_failed(pm, c, err);
        } else {
            hcs_state st = {0};
            wc_err ignored = {0};
            hcs_state_of(rt, c->id, &st, &ignored);
            pthread_mutex_lock(&pm->mu);
            if (c->state == POD_CONTAINER_CREATED) /* it may have exited already */
                c->state = POD_CONTAINER_RUNNING;
            c->started_ns = started_ns;
            c->pid = st.pid;
            rc = pod_store_put_container(pm, c, err);
            pthread_mutex_unlock(&pm->mu);
            pod_events_emit(pm, c->id, c->sandbox_id, POD_EVENT_STARTED);
        }
        flush_deferred_stop(pm, c);
    }
    pthread_mutex_unlock(&c->op);
    pod_container_unref(pm, c);
    return rc < 0 ? wc_err_prefix(err, "StartContainer %.12s", id) : 0;
}

/* Waits until the container has exited or the monotonic deadline passes. */
static int wait_exited(pod_manager *pm, pod_container *c, int64_t until_ns)
{
    pthread_mutex_lock(&pm->mu);
    while (c->state == POD_CONTAINER_RUNNING && wc_clock_monotonic_ns() < until_ns) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->changed, &pm->mu, &ts);
    }
    int exited = c->state != POD_CONTAINER_RUNNING;
    pthread_mutex_unlock(&pm->mu);
    return exited;
}

/* The container's stop signal (CRI enum, mapped to the platform's number), else SIGTERM. */
static int stop_signal(const pod_container *c)
{
    int sig = pod_platform_signal((int)c->config->stop_signal);
    return sig > 0 ? sig : POD_SIGTERM;
}

/* Signals, waits for the grace, then kills. Called with c->op held. */
static int stop_running(pod_manager *pm, pod_container *c, int64_t timeout_s, wc_err *err)
{
    hcs_runtime *rt = pod_runtime_of_container(pm, c, err);
    if (!rt)
        return -1;
    int64_t now = wc_clock_monotonic_ns();
    if (timeout_s > 0) {
        wc_err ignored = {0};
        hcs_kill(rt, c->id, stop_signal(c), 0, &ignored);
        if (wait_exited(pm, c, now + timeout_s * 1000000000LL))
            return 0;
    }
    if (hcs_kill(rt, c->id, POD_SIGKILL, 1, err) < 0 && c->state == POD_CONTAINER_RUNNING) {
        hcs_state st = {0};
        wc_err ignored = {0};
        if (hcs_state_of(rt, c->id, &st, &ignored) == 0 && st.status == HCS_RUNNING)
            return -1;
    }
    if (!wait_exited(pm, c, wc_clock_monotonic_ns() + 30 * 1000000000LL))
        return wc_err_set(err, WC_INTERNAL, "container %s did not exit after SIGKILL", c->id);
    return 0;
}

int pod_container_stop(pod_manager *pm, const char *id, int64_t timeout_s, wc_err *err)
{
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return err->code == WC_NOT_FOUND ? (wc_err_clear(err), 0) : -1;
    pthread_mutex_lock(&c->op);
    int rc = 0;
    if (c->state == POD_CONTAINER_RUNNING)
        rc = stop_running(pm, c, timeout_s, err);
    if (rc == 0 && c->logger) {
        pod_logger_finish(c->logger);
        c->logger = NULL;
    }
    pthread_mutex_unlock(&c->op);
    pod_container_unref(pm, c);
    return rc < 0 ? wc_err_prefix(err, "StopContainer %.12s", id) : 0;
}

int pod_container_remove(pod_manager *pm, const char *id, wc_err *err)
{
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return err->code == WC_NOT_FOUND ? (wc_err_clear(err), 0) : -1;
    pthread_mutex_lock(&c->op);
    int rc = c->state == POD_CONTAINER_RUNNING ? stop_running(pm, c, 0, err) : 0;
    if (c->logger) {
        pod_logger_stop(c->logger);
        c->logger = NULL;
    }
    hcs_runtime *rt = rc == 0 ? pod_runtime_of_container(pm, c, err) : NULL;
    if (rc == 0 && (!rt || hcs_delete(rt, c->id, err) < 0))
        rc = -1;
    if (rc == 0) {
        char *layer = wc_path_join(pm->containers_dir, c->id);
        char *bundle = wc_path_join(pm->bundles_dir, c->id);
        rc = pod_platform_remove_tree(layer, err);
        if (rc == 0)
            rc = pod_platform_remove_tree(bundle, err);
        free(layer);
        free(bundle);
    }
    if (rc == 0)
        rc = pod_store_delete_container(pm, c->id, err);
    if (rc == 0 && img_release(pm->images, c->id, err) < 0) {
        wc_warn("pod", "cannot release the container's image", "container=%.12s error=\"%s\"",
                c->id, err->msg);
        wc_err_clear(err);
    }
    pthread_mutex_unlock(&c->op);
    if (rc == 0) {
        pod_events_emit(pm, c->id, c->sandbox_id, POD_EVENT_DELETED);
        pod_index_remove_container(pm, c);
    }
    pod_container_unref(pm, c);
    return rc < 0 ? wc_err_prefix(err, "RemoveContainer %.12s", id) : 0;
}

/* ---- exec and logs ---- */

int pod_container_exec_sync(pod_manager *pm, const char *id, const char *const *cmd, size_t n_cmd,
                            int64_t timeout_s, pod_exec_result *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    if (n_cmd == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "ExecSync: cmd must not be empty");
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return -1;
    int rc = -1;
    hcs_runtime *rt = NULL;
    if (c->state != POD_CONTAINER_RUNNING) {
        wc_err_set(err, WC_FAILED_PRECONDITION, "ExecSync: container %s is not running", c->id);
    } else if ((rt = pod_runtime_of_container(pm, c, err))) {
        json_t *spec = json_loads(c->spec_json, 0, NULL);
        json_t *proc = pod_platform_exec_process(spec, cmd, n_cmd, 0);
        hcs_exec_result r = {0};
        rc = hcs_exec_sync(rt, c->id, proc, timeout_s * 1000, EXEC_OUTPUT_MAX, &r, err);
        if (rc == 0 && r.timed_out)
            rc = wc_err_set(err, WC_DEADLINE_EXCEEDED,
                            "ExecSync in container %.12s: command timed out after %llds", c->id,
                            (long long)timeout_s);
        if (rc == 0) {
            out->out = r.out;
            out->out_len = r.out_len;
            out->err = r.err;
            out->err_len = r.err_len;
            out->exit_code = r.exit_code;
            r.out = r.err = NULL;
        }
        hcs_exec_result_clear(&r);
        json_decref(proc);
        json_decref(spec);
    }
    pod_container_unref(pm, c);
    return rc;
}

void pod_exec_result_clear(pod_exec_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

int pod_container_reopen_log(pod_manager *pm, const char *id, wc_err *err)
{
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return -1;
    pthread_mutex_lock(&c->op);
    int rc;
    if (c->state != POD_CONTAINER_RUNNING || !c->logger)
        rc = wc_err_set(err, WC_FAILED_PRECONDITION,
                        "ReopenContainerLog: container %s is not running", c->id);
    else
        rc = pod_logger_reopen(c->logger, err);
    pthread_mutex_unlock(&c->op);
    pod_container_unref(pm, c);
    return rc;
}

/* ---- queries ---- */

static pod_container_info *snapshot(const pod_container *c)
{
    pod_container_info *i = calloc(1, sizeof *i);
    i->id = strdup(c->id);
    i->sandbox_id = strdup(c->sandbox_id);
    i->state = c->state;
    i->created_ns = c->created_ns;
    i->started_ns = c->started_ns;
    i->finished_ns = c->finished_ns;
    i->exit_code = c->exit_code;
    i->reason = strdup(c->reason);
    i->message = strdup(c->message);
    i->image = strdup(c->image);
    i->image_id = strdup(c->image_id);
    i->image_ref = strdup(c->image_ref);
    i->log_path = strdup(c->log_path);
    i->pid = c->pid;
    i->config = wc_pb_copy(c->config);
    return i;
}

void pod_container_foreach(pod_manager *pm, pod_container_visit_fn fn, void *ctx)
{
    pthread_mutex_lock(&pm->mu);
    for (size_t i = 0; i < pm->n_containers; i++) {
        pod_container *c = pm->containers[i];
        pod_container_info view = {.id = c->id,
                                   .sandbox_id = c->sandbox_id,
                                   .state = c->state,
                                   .created_ns = c->created_ns,
                                   .started_ns = c->started_ns,
                                   .finished_ns = c->finished_ns,
                                   .exit_code = c->exit_code,
                                   .reason = c->reason,
                                   .message = c->message,
                                   .image = c->image,
                                   .image_id = c->image_id,
                                   .image_ref = c->image_ref,
                                   .log_path = c->log_path,
                                   .pid = c->pid,
                                   .config = c->config};
        fn(ctx, &view);
    }
    pthread_mutex_unlock(&pm->mu);
}

int pod_container_get(pod_manager *pm, const char *id, pod_container_info **out, wc_err *err)
{
    pod_container *c = pod_container_find(pm, id, err);
    if (!c)
        return -1;
    pthread_mutex_lock(&pm->mu);
    *out = snapshot(c);
    pthread_mutex_unlock(&pm->mu);
    pod_container_unref(pm, c);
    return 0;
}

int pod_container_list(pod_manager *pm, pod_container_info ***out, size_t *n, wc_err *err)
{
    pthread_mutex_lock(&pm->mu);
    *n = pm->n_containers;
    *out = calloc(*n + 1, sizeof **out);
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = snapshot(pm->containers[i]);
    pthread_mutex_unlock(&pm->mu);
    return 0;
}

void pod_container_info_free(pod_container_info *i)
{
    if (!i)
        return;
    free(i->id);
    free(i->sandbox_id);
    free(i->reason);
    free(i->message);
    free(i->image);
    free(i->image_id);
    free(i->image_ref);
    free(i->log_path);
    if (i->config)
        protobuf_c_message_free_unpacked(&i->config->base, NULL);
    free(i);
}

void pod_container_list_free(pod_container_info **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pod_container_info_free(list[i]);
    free(list);
}
