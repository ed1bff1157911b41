/* The pod manager: opens the store and the backends, keeps the in-memory index, answers
 * look-ups by ID or unique prefix, and recovers state after a restart. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

int pod_new_id(char out[POD_ID_LEN + 1], wc_err *err)
{
    unsigned char raw[POD_ID_LEN / 2];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return wc_err_set(err, WC_INTERNAL, "no randomness for a new ID");
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[POD_ID_LEN] = '\0';
    return 0;
}

void pod_sandbox_free(pod_sandbox *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->op);
    free(s->handler);
    free(s->netns);
    free(s->cni_result);
    free(s->dir);
    free(s->ips_json);
    pod_sandbox_config_unref(s->config);
    free(s);
}

void pod_container_free(pod_container *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->op);
    pthread_cond_destroy(&c->changed);
    free(c->reason);
    free(c->message);
    free(c->image);
    free(c->image_id);
    free(c->image_ref);
    free(c->log_path);
    free(c->spec_json);
    pod_user_clear(&c->user);
    pod_container_config_unref(c->config);
    free(c);
}

void pod_user_from_spec(const char *spec_json, pod_linux_user *out)
{
    memset(out, 0, sizeof *out);
    json_t *spec = spec_json ? json_loads(spec_json, 0, NULL) : NULL;
    json_t *user = json_object_get(json_object_get(spec, "process"), "user");
    json_t *uid = json_object_get(user, "uid"), *gid = json_object_get(user, "gid");
    json_t *groups = json_object_get(user, "additionalGids");
    if (json_is_integer(uid) && json_is_integer(gid)) {
        out->known = 1;
        out->uid = json_integer_value(uid);
        out->gid = json_integer_value(gid);
        out->n_groups = json_array_size(groups);
        out->groups = wc_xcalloc(out->n_groups + 1, sizeof *out->groups);
        for (size_t i = 0; i < out->n_groups; i++)
            out->groups[i] = json_integer_value(json_array_get(groups, i));
    }
    json_decref(spec);
}

void pod_user_clear(pod_linux_user *u)
{
    free(u->groups);
    memset(u, 0, sizeof *u);
}

int pod_path_is_absolute(const char *p)
{
    if (p[0] == '/' || p[0] == '\\')
        return 1;
    return ((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':' &&
           (p[2] == '/' || p[2] == '\\');
}

int pod_path_has_dotdot(const char *p)
{
    while (*p) {
        size_t n = strcspn(p, "/\\");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        p += n + (p[n] != '\0');
    }
    return 0;
}

/* ---- names ----
 * pm->names holds every live name: the indexed records' and those of calls in flight, so a
 * name is taken from the first check until its record is removed or its call fails. */

static char *name_key(const char *kind, const char *scope, const char *name, uint32_t attempt)
{
    /* Length-prefixed parts: no name can make two different triples look alike. */
    return wc_xasprintf("%s %zu:%s %zu:%s %u", kind, strlen(scope), scope, strlen(name), name,
                        attempt);
}

char *pod_sandbox_name_key(const pod_sandbox_config *c)
{
    return name_key("pod", c->namespace_, c->name, c->attempt);
}

char *pod_container_name_key(const char *sandbox_id, const pod_container_config *c)
{
    return name_key("ctr", sandbox_id, c->name, c->attempt);
}

/* Called with pm->mu held. */
static pod_name *name_find(pod_manager *pm, const char *key)
{
    for (size_t i = 0; i < pm->n_names; i++)
        if (strcmp(pm->names[i].key, key) == 0)
            return &pm->names[i];
    return NULL;
}

/* Called with pm->mu held; key is taken over. */
static int name_take(pod_manager *pm, char *key, const char *id, char holder[POD_ID_LEN + 1])
{
    pod_name *n = name_find(pm, key);
    if (n) {
        int mine = strcmp(n->id, id) == 0;
        if (!mine && holder)
            memcpy(holder, n->id, POD_ID_LEN + 1);
        free(key);
        return mine ? 0 : -1;
    }
    pm->names = wc_xrealloc(pm->names, (pm->n_names + 1) * sizeof *pm->names);
    pm->names[pm->n_names].key = key;
    snprintf(pm->names[pm->n_names].id, sizeof pm->names[0].id, "%s", id);
    pm->n_names++;
    return 0;
}

/* Called with pm->mu held. */
static void name_drop(pod_manager *pm, const char *key, const char *id)
{
    pod_name *n = key ? name_find(pm, key) : NULL;
    if (!n || strcmp(n->id, id) != 0)
        return;
    free(n->key);
    *n = pm->names[--pm->n_names];
}

int pod_name_reserve(pod_manager *pm, const char *key, const char *id, char holder[POD_ID_LEN + 1])
{
    char *own = wc_xstrdup(key);
    pthread_mutex_lock(&pm->mu);
    int rc = name_take(pm, own, id, holder);
    pthread_mutex_unlock(&pm->mu);
    return rc;
}

void pod_name_release(pod_manager *pm, const char *key, const char *id)
{
    pthread_mutex_lock(&pm->mu);
    name_drop(pm, key, id);
    pthread_mutex_unlock(&pm->mu);
}

/* ---- index ---- */

static void append(void ***arr, size_t *n, void *item)
{
    *arr = wc_xrealloc(*arr, (*n + 1) * sizeof **arr);
    (*arr)[(*n)++] = item;
}

static void drop(void **arr, size_t *n, const void *item)
{
    for (size_t i = 0; i < *n; i++) {
        if (arr[i] == item) {
            memmove(arr + i, arr + i + 1, (*n - i - 1) * sizeof *arr);
            (*n)--;
            return;
        }
    }
}

void pod_index_add_sandbox(pod_manager *pm, pod_sandbox *s)
{
    pthread_mutex_lock(&pm->mu);
    name_take(pm, pod_sandbox_name_key(s->config), s->id, NULL);
    s->refs++;
    append((void ***)&pm->sandboxes, &pm->n_sandboxes, s);
    pthread_mutex_unlock(&pm->mu);
}

void pod_index_add_container(pod_manager *pm, pod_container *c)
{
    pthread_mutex_lock(&pm->mu);
    name_take(pm, pod_container_name_key(c->sandbox_id, c->config), c->id, NULL);
    c->refs++;
    append((void ***)&pm->containers, &pm->n_containers, c);
    pthread_mutex_unlock(&pm->mu);
}

void pod_sandbox_unref(pod_manager *pm, pod_sandbox *s)
{
    pthread_mutex_lock(&pm->mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&pm->mu);
    if (last)
        pod_sandbox_free(s);
}

void pod_container_unref(pod_manager *pm, pod_container *c)
{
    pthread_mutex_lock(&pm->mu);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&pm->mu);
    if (last)
        pod_container_free(c);
}

int pod_sandbox_is_removed(pod_manager *pm, pod_sandbox *s)
{
    pthread_mutex_lock(&pm->mu);
    int removed = s->removed;
    pthread_mutex_unlock(&pm->mu);
    return removed;
}

int pod_container_is_removed(pod_manager *pm, pod_container *c)
{
    pthread_mutex_lock(&pm->mu);
    int removed = c->removed;
    pthread_mutex_unlock(&pm->mu);
    return removed;
}

void pod_index_remove_sandbox(pod_manager *pm, pod_sandbox *s)
{
    char *key = pod_sandbox_name_key(s->config);
    pthread_mutex_lock(&pm->mu);
    s->removed = 1;
    drop((void **)pm->sandboxes, &pm->n_sandboxes, s);
    name_drop(pm, key, s->id);
    pthread_mutex_unlock(&pm->mu);
    free(key);
    pod_sandbox_unref(pm, s);
}

void pod_index_remove_container(pod_manager *pm, pod_container *c)
{
    char *key = pod_container_name_key(c->sandbox_id, c->config);
    pthread_mutex_lock(&pm->mu);
    c->removed = 1;
    drop((void **)pm->containers, &pm->n_containers, c);
    name_drop(pm, key, c->id);
    pthread_mutex_unlock(&pm->mu);
    free(key);
    pod_container_unref(pm, c);
}

/* Finds the one ID in ids[0..n) that equals or starts with key. */
static int match_id(const char *key, size_t n, const char *(*id_at)(void *, size_t), void *arr,
                    size_t *found)
{
    size_t klen = strlen(key), matches = 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = id_at(arr, i);
        if (strcmp(id, key) == 0) {
            *found = i;
            return 1;
        }
        if (strncmp(id, key, klen) == 0) {
            *found = i;
            matches++;
        }
    }
    return (int)matches;
}

static const char *sandbox_id_at(void *arr, size_t i)
{
    return ((pod_sandbox **)arr)[i]->id;
}

static const char *container_id_at(void *arr, size_t i)
{
    return ((pod_container **)arr)[i]->id;
}

static int check_key(const char *what, const char *key, wc_err *err)
{
    if (!key || !*key)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s ID must not be empty", what);
    return 0;
}

static int report_match(const char *what, const char *key, int matches, wc_err *err)
{
    if (matches == 0)
        return wc_err_set(err, WC_NOT_FOUND, "%s %s not found", what, key);
    return wc_err_set(err, WC_INVALID_ARGUMENT, "%s ID prefix %s matches %d %ss; give more of it",
                      what, key, matches, what);
}

pod_sandbox *pod_sandbox_find(pod_manager *pm, const char *key, wc_err *err)
{
    if (check_key("pod sandbox", key, err) < 0)
        return NULL;
    size_t at = 0;
    pthread_mutex_lock(&pm->mu);
    int m = match_id(key, pm->n_sandboxes, sandbox_id_at, pm->sandboxes, &at);
    pod_sandbox *s = m == 1 ? pm->sandboxes[at] : NULL;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&pm->mu);
    if (!s)
        report_match("pod sandbox", key, m, err);
    return s;
}

pod_container *pod_container_find(pod_manager *pm, const char *key, wc_err *err)
{
    if (check_key("container", key, err) < 0)
        return NULL;
    size_t at = 0;
    pthread_mutex_lock(&pm->mu);
    int m = match_id(key, pm->n_containers, container_id_at, pm->containers, &at);
    pod_container *c = m == 1 ? pm->containers[at] : NULL;
    if (c)
        c->refs++;
    pthread_mutex_unlock(&pm->mu);
    if (!c)
        report_match("container", key, m, err);
    return c;
}

char **pod_sandbox_container_ids(pod_manager *pm, const char *sandbox_id, size_t *n)
{
    pthread_mutex_lock(&pm->mu);
    char **ids = wc_xcalloc(pm->n_containers + 1, sizeof *ids);
    *n = 0;
    for (size_t i = 0; i < pm->n_containers; i++)
        if (strcmp(pm->containers[i]->sandbox_id, sandbox_id) == 0)
            ids[(*n)++] = wc_xstrdup(pm->containers[i]->id);
    pthread_mutex_unlock(&pm->mu);
    return ids;
}

hcs_runtime *pod_runtime_of_container(pod_manager *pm, const pod_container *c, wc_err *err)
{
    pod_sandbox *s = pod_sandbox_find(pm, c->sandbox_id, err);
    if (!s)
        return NULL;
    hcs_runtime *rt = pod_runtime_for(pm, s->handler, err);
    pod_sandbox_unref(pm, s);
    return rt;
}

hcs_runtime *pod_runtime_for(pod_manager *pm, const char *handler, wc_err *err)
{
    const wc_config *cfg = pm->cfg;
    const char *name = handler && *handler ? handler : cfg->default_handler;
    for (size_t i = 0; i < cfg->n_handlers; i++) {
        if (strcmp(cfg->handlers[i].name, name) != 0)
            continue;
        if (!pm->runtimes[i])
            wc_err_set(err, WC_FAILED_PRECONDITION,
                       "runtime handler \"%s\" is configured but its runtime is not usable "
                       "(see wincrid's log at start)",
                       name);
        return pm->runtimes[i];
    }
    wc_err_set(err, WC_INVALID_ARGUMENT, "unknown runtime handler \"%s\"", name);
    return NULL;
}

void pod_manager_set_pod_cidr(pod_manager *pm, const char *cidr)
{
    pthread_mutex_lock(&pm->mu);
    free(pm->pod_cidr);
    pm->pod_cidr = cidr && *cidr ? wc_xstrdup(cidr) : NULL;
    pthread_mutex_unlock(&pm->mu);
}

/* ---- exits ---- */

void pod_container_mark_exited(pod_manager *pm, pod_container *c, int known, int exit_code,
                               int64_t finished_ns, int oom_killed)
{
    wc_err err = {0};
    pthread_mutex_lock(&pm->mu);
    int first = c->state != POD_CONTAINER_EXITED;
    /* A later report may know more: a code for an unknown one, or (with the code already
     * known, which stays) that the OOM killer did it. */
    int better_code = known && !c->exit_known;
    int oom_news =
        known && oom_killed && c->exit_known && (!c->reason || strcmp(c->reason, "OOMKilled") != 0);
    if (c->removed || (!first && !better_code && !oom_news)) { /* removed: its record is gone */
        pthread_mutex_unlock(&pm->mu);
        return;
    }
    if (!first && oom_news)
        exit_code = c->exit_code;
    c->state = POD_CONTAINER_EXITED;
    c->exit_known = known;
    c->exit_code = known ? exit_code : 255;
    if (first || !c->finished_ns)
        c->finished_ns = finished_ns ? finished_ns : wc_clock_realtime_ns();
    free(c->reason);
    c->reason = wc_xstrdup(!known       ? "Unknown"
                           : oom_killed ? "OOMKilled"
                           : exit_code  ? "Error"
                                        : "Completed");
    int rc = pod_store_put_container(pm, c, &err);
    pthread_cond_broadcast(&c->changed);
    int defer = first && c->starting;
    c->stopped_deferred |= defer;
    pthread_mutex_unlock(&pm->mu);
    if (first && !defer)
        pod_events_emit(pm, c->id, c->sandbox_id, POD_EVENT_STOPPED);
    if (rc < 0)
        wc_error("pod", "cannot record a container's exit", "container=%.12s error=\"%s\"", c->id,
                 err.msg);
    wc_info("pod", "container exited", "container=%.12s exit_code=%d reason=%s", c->id,
            c->exit_code, c->reason);
}

/* A container's init process ended. Runs on the backend's reaper thread. */
static void on_container_exit(void *ctx, const char *container_id, const char *exec_id,
                              const hcs_exit *e)
{
    pod_manager *pm = ctx;
    if (exec_id)
        return;
    wc_err err = {0};
    pod_container *c = pod_container_find(pm, container_id, &err);
    if (!c)
        return;
    pod_container_mark_exited(pm, c, e->exit_code != 255, e->exit_code, e->finished_ns,
                              e->oom_killed);
    pod_container_unref(pm, c);
}

char **pod_container_ids(pod_manager *pm, size_t *n)
{
    pthread_mutex_lock(&pm->mu);
    *n = pm->n_containers;
    char **ids = wc_xcalloc(*n + 1, sizeof *ids);
    for (size_t i = 0; i < *n; i++)
        ids[i] = wc_xstrdup(pm->containers[i]->id);
    pthread_mutex_unlock(&pm->mu);
    return ids;
}

void pod_containers_each(pod_manager *pm, void (*fn)(pod_manager *pm, pod_container *c))
{
    size_t n = 0;
    char **ids = pod_container_ids(pm, &n);
    for (size_t i = 0; i < n; i++) {
        wc_err err = {0};
        pod_container *c = pod_container_find(pm, ids[i], &err);
        if (c) {
            pthread_mutex_lock(&c->op);
            fn(pm, c);
            pthread_mutex_unlock(&c->op);
            pod_container_unref(pm, c);
        }
        free(ids[i]);
    }
    free(ids);
}

static void open_runtimes(pod_manager *pm)
{
    const wc_config *cfg = pm->cfg;
    pm->runtimes = wc_xcalloc(cfg->n_handlers + 1, sizeof *pm->runtimes);
    char *dir = wc_path_join(cfg->state_dir, "runtime");
    for (size_t i = 0; i < cfg->n_handlers; i++) {
        wc_err err = {0};
        if (hcs_runtime_open(cfg, &cfg->handlers[i], dir, on_container_exit, pm, &pm->runtimes[i],
                             &err) < 0)
            wc_warn("pod", "runtime handler unavailable", "handler=%s error=\"%s\"",
                    cfg->handlers[i].name, err.msg);
    }
    free(dir);
}

static int make_dirs(pod_manager *pm, wc_err *err)
{
    pm->sandboxes_dir = wc_path_join(pm->cfg->root_dir, "sandboxes");
    pm->containers_dir = wc_path_join(pm->cfg->root_dir, "containers");
    pm->bundles_dir = wc_path_join(pm->cfg->state_dir, "bundles");
    if (wc_mkdir_mode(pm->sandboxes_dir, 0700, err) < 0 ||
        wc_mkdir_mode(pm->containers_dir, 0700, err) < 0 ||
        wc_mkdir_mode(pm->bundles_dir, 0700, err) < 0)
        return -1;
    const char *parents[] = {pm->containers_dir, pm->bundles_dir};
    pm->trash = wc_trash_open(pod_platform_remove_tree, parents, 2);
    return 0;
}

int pod_manager_open(const wc_config *cfg, img_store *images, const pod_legacy_decoder *legacy,
                     pod_manager **out, wc_err *err)
{
    pod_manager *pm = wc_xcalloc(1, sizeof *pm);
    pm->cfg = cfg;
    pm->images = images;
    pm->legacy = legacy;
    pthread_mutex_init(&pm->mu, NULL);
    pthread_mutex_init(&pm->events_mu, NULL);
    if (make_dirs(pm, err) < 0 || pod_store_open(pm, err) < 0 ||
        hns_network_open(cfg, &pm->net, err) < 0) {
        pod_manager_close(pm);
        return -1;
    }
    open_runtimes(pm);
    if (pod_platform_stdio_open(pm, err) < 0 || pod_store_load(pm, err) < 0) {
        pod_manager_close(pm);
        return -1;
    }
    pod_recover(pm);
    *out = pm;
    return 0;
}

int pod_manager_stdio_up(pod_manager *pm)
{
    return pod_platform_stdio_up(pm);
}

void pod_manager_close(pod_manager *pm)
{
    if (!pm)
        return;
    /* Containers keep running: a restart of wincrid must not touch them. Loggers stop when
     * their streams end; detach them here by dropping our ends. */
    for (size_t i = 0; i < pm->n_containers; i++)
        pod_platform_stdio_forget(pm, pm->containers[i]);
    pod_platform_stdio_close(pm);
    for (size_t i = 0; pm->runtimes && i < pm->cfg->n_handlers; i++)
        if (pm->runtimes[i])
            hcs_runtime_close(pm->runtimes[i]);
    free(pm->runtimes);
    for (size_t i = 0; i < pm->n_sandboxes; i++)
        pod_sandbox_free(pm->sandboxes[i]);
    for (size_t i = 0; i < pm->n_containers; i++)
        pod_container_free(pm->containers[i]);
    free(pm->sandboxes);
    free(pm->containers);
    for (size_t i = 0; i < pm->n_names; i++)
        free(pm->names[i].key);
    free(pm->names);
    hns_network_close(pm->net);
    pod_store_close(pm);
    wc_trash_close(pm->trash);
    free(pm->pod_cidr);
    free(pm->sandboxes_dir);
    free(pm->containers_dir);
    free(pm->bundles_dir);
    pod_events_close(pm);
    pthread_mutex_destroy(&pm->mu);
    pthread_mutex_destroy(&pm->events_mu);
    free(pm);
}
