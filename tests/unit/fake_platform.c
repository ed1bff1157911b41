/* The pod model's platform seams (podsandbox/platform.h) and the image store's look-up and
 * holds (image/image.h), faked. Sandbox set-up is an entry in the shared state; a container's
 * stdio is a small record the model holds in c->stdio; specs are minimal OCI documents. Trees
 * are really removed: the model's directories live in the test's temporary root. */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "podsandbox/platform.h"
#include "tests/unit/fake_int.h"

/* ---- sandbox set-up ---- */

/* Called with fk locked. */
static fake_entry *entry_find(fake_entry *v, const char *id)
{
    for (size_t i = 0; id && i < FAKE_N; i++)
        if (v[i].used && strcmp(v[i].id, id) == 0)
            return &v[i];
    return NULL;
}

/* Called with fk locked. */
static fake_entry *entry_put(fake_entry *v, const char *id)
{
    fake_entry *e = entry_find(v, id);
    for (size_t i = 0; !e && i < FAKE_N; i++) {
        if (!v[i].used) {
            e = &v[i];
            memset(e, 0, sizeof *e);
            e->used = 1;
            fake_copy(e->id, id);
        }
    }
    return e;
}

int fake_sandbox_set_up(const char *sandbox_id)
{
    fake_lock();
    int yes = entry_find(fk->setups, sandbox_id) != NULL;
    fake_unlock();
    return yes;
}

size_t fake_sandboxes_set_up(void)
{
    size_t n = 0;
    fake_lock();
    for (size_t i = 0; i < FAKE_N; i++)
        n += fk->setups[i].used;
    fake_unlock();
    return n;
}

int pod_platform_sandbox_setup(pod_manager *pm, pod_sandbox *s, wc_err *err)
{
    (void)pm;
    if (fake_enter("pod_platform_sandbox_setup", s->id, 0, err) < 0)
        return -1;
    fake_lock();
    entry_put(fk->setups, s->id);
    fake_unlock();
    return 0;
}

int pod_platform_sandbox_teardown(pod_manager *pm, pod_sandbox *s, wc_err *err)
{
    (void)pm;
    if (fake_enter("pod_platform_sandbox_teardown", s->id, 0, err) < 0)
        return -1;
    fake_lock();
    fake_entry *e = entry_find(fk->setups, s->id);
    if (e)
        e->used = 0;
    fake_unlock();
    return 0;
}

/* ---- specs, signals, names, trees ---- */

/* process.user as the Linux spec has it, so the model's applied user can be checked. */
int pod_platform_container_spec(pod_manager *pm, const pod_sandbox *s,
                                const pod_container_config *config, const img_image *img,
                                const char *container_id, json_t **spec, wc_err *err)
{
    (void)pm;
    *spec = NULL;
    if (fake_enter("pod_platform_container_spec", container_id, 0, err) < 0)
        return -1;
    json_t *args = json_array();
    for (size_t i = 0; i < config->command.n; i++)
        json_array_append_new(args, json_string(config->command.v[i]));
    for (size_t i = 0; i < config->args.n; i++)
        json_array_append_new(args, json_string(config->args.v[i]));
    *spec = json_pack("{s:s,s:{s:o,s:{s:i,s:i,s:[i,i]}},s:{s:s},s:{s:s,s:s}}", "ociVersion",
                      "1.1.0", "process", "args", args, "user", "uid", 1000, "gid", 1000,
                      "additionalGids", 1000, 5, "root", "path", "rootfs", "annotations",
                      "io.wincri.sandbox", s->id, "io.wincri.image", img->id);
    return *spec ? 0 : wc_err_set(err, WC_RESOURCE_EXHAUSTED, "out of memory");
}

json_t *pod_platform_exec_process(const json_t *spec, const char *const *cmd, size_t n_cmd, int tty)
{
    json_t *proc = json_deep_copy(json_object_get(spec, "process"));
    if (!proc)
        proc = json_object();
    json_t *args = json_array();
    for (size_t i = 0; i < n_cmd; i++)
        json_array_append_new(args, json_string(cmd[i]));
    json_object_set_new(proc, "args", args);
    json_object_set_new(proc, "terminal", json_boolean(tty));
    return proc;
}

int pod_platform_resources(const pod_linux_resources *linux_res,
                           const pod_windows_resources *windows_res, json_t **out, wc_err *err)
{
    (void)windows_res;
    *out = NULL;
    if (!linux_res)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "UpdateContainerResources: linux resources are required");
    *out = json_pack("{s:{s:I}}", "cpu", "shares", (json_int_t)linux_res->cpu_shares);
    return 0;
}

/* CRI's SIGINT, SIGKILL and SIGTERM by their Linux numbers; nothing else is needed. */
int pod_platform_signal(int cri_signal)
{
    switch (cri_signal) {
    case POD_CRI_SIGINT:
        return 2;
    case POD_CRI_SIGKILL:
        return 9;
    case POD_CRI_SIGTERM:
        return 15;
    default:
        return 0;
    }
}

int pod_platform_node_hostname(char *buf, size_t len, wc_err *err)
{
    if (fake_enter("pod_platform_node_hostname", NULL, 0, err) < 0)
        return -1;
    snprintf(buf, len, "fake-node");
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int pod_platform_remove_tree(const char *path, wc_err *err)
{
    if (fake_enter("pod_platform_remove_tree", path, 0, err) < 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot remove %s", path);
    return 0;
}

/* ---- stdio ---- */

struct pod_cstdio {
    char id[POD_ID_LEN + 1];
};

struct pod_tap {
    int unused;
};

/* This process's holds (c->stdio of live containers). */
static pthread_mutex_t stdio_mu = PTHREAD_MUTEX_INITIALIZER;
static char held[FAKE_N][POD_ID_LEN + 1];

static void hold(pod_manager *pm, pod_container *c)
{
    pod_cstdio *s = calloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", c->id);
    pthread_mutex_lock(&stdio_mu);
    for (size_t i = 0; i < FAKE_N; i++) {
        if (!held[i][0]) {
            snprintf(held[i], sizeof held[i], "%s", c->id);
            break;
        }
    }
    pthread_mutex_unlock(&stdio_mu);
    pthread_mutex_lock(&pm->mu);
    c->stdio = s;
    pthread_mutex_unlock(&pm->mu);
}

static void let_go(pod_manager *pm, pod_container *c)
{
    pthread_mutex_lock(&pm->mu);
    pod_cstdio *s = c->stdio;
    c->stdio = NULL;
    pthread_mutex_unlock(&pm->mu);
    if (!s)
        return;
    pthread_mutex_lock(&stdio_mu);
    for (size_t i = 0; i < FAKE_N; i++) {
        if (strcmp(held[i], s->id) == 0) {
            held[i][0] = '\0';
            break;
        }
    }
    pthread_mutex_unlock(&stdio_mu);
    free(s);
}

size_t fake_stdio_held(void)
{
    size_t n = 0;
    pthread_mutex_lock(&stdio_mu);
    for (size_t i = 0; i < FAKE_N; i++)
        n += held[i][0] != '\0';
    pthread_mutex_unlock(&stdio_mu);
    return n;
}

int fake_stdio_holds(const char *id)
{
    int n = 0;
    pthread_mutex_lock(&stdio_mu);
    for (size_t i = 0; i < FAKE_N; i++)
        n += strcmp(held[i], id) == 0;
    pthread_mutex_unlock(&stdio_mu);
    return n;
}

void fake_stdio_recorded_exit(const char *id, int exit_code, int64_t finished_ns)
{
    fake_lock();
    fake_entry *e = entry_put(fk->recorded_exits, id);
    if (e) {
        e->code = exit_code;
        e->at = finished_ns;
    }
    fake_unlock();
}

void pod_platform_stdio_started(pod_manager *pm, pod_container *c, hcs_runtime *rt)
{
    (void)pm;
    (void)c;
    (void)rt;
}

int pod_platform_stdio_open(pod_manager *pm, wc_err *err)
{
    (void)pm;
    return fake_enter("pod_platform_stdio_open", NULL, 0, err);
}

void pod_platform_stdio_close(pod_manager *pm)
{
    (void)pm;
    fake_enter("pod_platform_stdio_close", NULL, 0, NULL);
}

int pod_platform_stdio_begin(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid,
                             wc_err *err)
{
    (void)rt;
    if (fake_enter("pod_platform_stdio_begin", c->id, pid, err) < 0)
        return -1;
    hold(pm, c);
    return 0;
}

int pod_platform_stdio_recover(pod_manager *pm, pod_container *c, hcs_runtime *rt, int pid,
                               wc_err *err)
{
    (void)rt;
    if (fake_enter("pod_platform_stdio_recover", c->id, pid, err) < 0)
        return -1;
    hold(pm, c);
    return 0;
}

void pod_platform_stdio_drain(pod_manager *pm, pod_container *c, int64_t until_ns)
{
    (void)pm;
    (void)until_ns;
    fake_enter("pod_platform_stdio_drain", c->id, 0, NULL);
}

void pod_platform_stdio_end(pod_manager *pm, pod_container *c)
{
    fake_enter("pod_platform_stdio_end", c->id, 0, NULL);
    let_go(pm, c);
}

void pod_platform_stdio_forget(pod_manager *pm, pod_container *c)
{
    fake_enter("pod_platform_stdio_forget", c->id, 0, NULL);
    let_go(pm, c);
}

int pod_platform_stdio_reopen(pod_manager *pm, pod_container *c, wc_err *err)
{
    (void)pm;
    return fake_enter("pod_platform_stdio_reopen", c->id, 0, err);
}

int pod_platform_stdio_tap(pod_manager *pm, pod_container *c, int want_out, int want_err,
                           int *out_fd, int *err_fd, pod_tap **tap, wc_err *err)
{
    (void)pm;
    (void)want_out;
    (void)want_err;
    *out_fd = *err_fd = -1;
    *tap = NULL;
    if (fake_enter("pod_platform_stdio_tap", c->id, 0, err) < 0)
        return -1;
    return wc_err_set(err, WC_UNIMPLEMENTED, "the fake platform has no attach taps");
}

int pod_tap_ended(pod_tap *t)
{
    (void)t;
    return 1;
}

void pod_tap_free(pod_tap *t)
{
    free(t);
}

int pod_tty_resize(int tty_fd, unsigned width, unsigned height)
{
    (void)tty_fd;
    (void)width;
    (void)height;
    return -1;
}

int pod_platform_stdio_stdin(pod_manager *pm, pod_container *c, int *fd, wc_err *err)
{
    (void)pm;
    *fd = -1;
    return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s has no stdin", c->id);
}

void pod_platform_stdio_close_stdin(pod_manager *pm, pod_container *c)
{
    (void)pm;
    fake_enter("pod_platform_stdio_close_stdin", c->id, 0, NULL);
}

int pod_platform_stdio_recorded_exit(pod_manager *pm, const char *id, int *exit_code,
                                     int64_t *finished_ns)
{
    (void)pm;
    fake_lock();
    fake_entry *e = entry_find(fk->recorded_exits, id);
    if (e) {
        *exit_code = e->code;
        *finished_ns = e->at;
    }
    fake_unlock();
    return e != NULL;
}

void pod_platform_stdio_prune(pod_manager *pm)
{
    (void)pm;
    fake_enter("pod_platform_stdio_prune", NULL, 0, NULL);
}

int pod_platform_stdio_up(pod_manager *pm)
{
    (void)pm;
    return 1;
}

/* ---- images: look-up and holds ---- */

void fake_image_add(const char *ref, const char *id)
{
    fake_lock();
    for (size_t i = 0; i < sizeof fk->imgs / sizeof fk->imgs[0]; i++) {
        if (!fk->imgs[i].used) {
            fk->imgs[i].used = 1;
            fake_copy(fk->imgs[i].ref, ref);
            fake_copy(fk->imgs[i].id, id);
            break;
        }
    }
    fake_unlock();
}

size_t fake_holds(const char *holder)
{
    size_t n = 0;
    fake_lock();
    for (size_t i = 0; i < FAKE_N; i++)
        n += fk->holds[i].used && (!holder || strcmp(fk->holds[i].holder, holder) == 0);
    fake_unlock();
    return n;
}

/* "busybox" finds docker.io/library/busybox:latest, as the real store's normalising does. */
static int ref_matches(const fake_img *img, const char *ref)
{
    if (strcmp(img->ref, ref) == 0 || strcmp(img->id, ref) == 0)
        return 1;
    const char *slash = strrchr(img->ref, '/');
    const char *colon = strrchr(img->ref, ':');
    size_t n = slash && colon && colon > slash ? (size_t)(colon - slash - 1) : 0;
    return n && strlen(ref) == n && strncmp(slash + 1, ref, n) == 0;
}

int img_image_lookup(img_store *s, const char *ref_or_id, img_image **out, wc_err *err)
{
    (void)s;
    *out = NULL;
    if (fake_enter("img_image_lookup", ref_or_id, 0, err) < 0)
        return -1;
    fake_img found = {0};
    fake_lock();
    for (size_t i = 0; i < sizeof fk->imgs / sizeof fk->imgs[0]; i++)
        if (fk->imgs[i].used && ref_matches(&fk->imgs[i], ref_or_id))
            found = fk->imgs[i];
    fake_unlock();
    if (!found.used)
        return wc_err_set(err, WC_NOT_FOUND, "image \"%s\" not found", ref_or_id);
    img_image *img = calloc(1, sizeof *img);
    img->id = strdup(found.id);
    img->repo_tags = calloc(2, sizeof *img->repo_tags);
    img->repo_tags[0] = strdup(found.ref);
    img->n_repo_tags = 1;
    img->repo_digests = calloc(1, sizeof *img->repo_digests);
    img->uid = -1;
    img->username = strdup("");
    img->config_json = strdup("{}");
    img->manifest_digest = strdup(found.id);
    img->layer_dirs = calloc(2, sizeof *img->layer_dirs);
    img->layer_dirs[0] = strdup("/fake/layers/1");
    img->chain_ids = calloc(2, sizeof *img->chain_ids);
    img->chain_ids[0] = strdup(found.id);
    img->n_layers = 1;
    *out = img;
    return 0;
}

void img_image_free(img_image *img)
{
    if (!img)
        return;
    free(img->id);
    for (size_t i = 0; i < img->n_repo_tags; i++)
        free(img->repo_tags[i]);
    free(img->repo_tags);
    for (size_t i = 0; i < img->n_repo_digests; i++)
        free(img->repo_digests[i]);
    free(img->repo_digests);
    free(img->username);
    free(img->config_json);
    free(img->manifest_digest);
    for (size_t i = 0; i < img->n_layers; i++) {
        free(img->layer_dirs[i]);
        free(img->chain_ids[i]);
    }
    free(img->layer_dirs);
    free(img->chain_ids);
    free(img);
}

int img_hold(img_store *s, const char *holder, const char *image_id, wc_err *err)
{
    (void)s;
    if (fake_enter("img_hold", holder, 0, err) < 0)
        return -1;
    fake_lock();
    int done = 0;
    for (size_t i = 0; !done && i < FAKE_N; i++)
        done = fk->holds[i].used && strcmp(fk->holds[i].holder, holder) == 0 &&
               strcmp(fk->holds[i].image, image_id) == 0;
    for (size_t i = 0; !done && i < FAKE_N; i++) {
        if (!fk->holds[i].used) {
            fk->holds[i].used = 1;
            fake_copy(fk->holds[i].holder, holder);
            fake_copy(fk->holds[i].image, image_id);
            done = 1;
        }
    }
    fake_unlock();
    return 0;
}

int img_release(img_store *s, const char *holder, wc_err *err)
{
    (void)s;
    if (fake_enter("img_release", holder, 0, err) < 0)
        return -1;
    fake_lock();
    for (size_t i = 0; i < FAKE_N; i++)
        if (fk->holds[i].used && strcmp(fk->holds[i].holder, holder) == 0)
            fk->holds[i].used = 0;
    fake_unlock();
    return 0;
}

size_t img_holds_prune(img_store *s, int (*owned)(void *ctx, const char *holder), void *ctx)
{
    (void)s;
    char stale[FAKE_N][FAKE_ID];
    size_t n = 0;
    fake_lock();
    for (size_t i = 0; i < FAKE_N; i++)
        if (fk->holds[i].used)
            snprintf(stale[n++], sizeof stale[0], "%s", fk->holds[i].holder);
    fake_unlock();
    size_t pruned = 0;
    for (size_t k = 0; k < n; k++) { /* owned() takes the pod manager's locks: not under ours */
        if (owned(ctx, stale[k]))
            continue;
        int dropped = 0;
        fake_lock();
        for (size_t i = 0; i < FAKE_N; i++) {
            if (fk->holds[i].used && strcmp(fk->holds[i].holder, stale[k]) == 0) {
                fk->holds[i].used = 0;
                dropped = 1;
            }
        }
        fake_unlock();
        pruned += dropped;
    }
    return pruned;
}

int img_dir_usage(const char *dir, img_fs_usage *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    if (fake_enter("img_dir_usage", dir, 0, err) < 0)
        return -1;
    out->mountpoint = strdup("/");
    out->used_bytes = 8192;
    out->inodes_used = 2;
    return 0;
}

void img_fs_usage_clear(img_fs_usage *u)
{
    free(u->mountpoint);
    memset(u, 0, sizeof *u);
}
