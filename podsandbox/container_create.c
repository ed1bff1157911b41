/* CreateContainer: the name reserved, the image resolved, the platform's spec, the runtime's
 * container on the image's layers and a scratch dir of its own, then the record. Under the
 * sandbox's op lock, so a pod being stopped or removed gets no new container. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/clock.h"
#include "common/crash.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "image/image.h"
#include "podsandbox/model.h"
#include "podsandbox/platform.h"

int pod_container_config_check(const pod_container_config *c, wc_err *err)
{
    if (!c || !*c->name)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "container config: metadata.name is required");
    if (!*c->image)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container config for %s: image.image is required", c->name);
    /* Refused rather than resolved: kubelet only ever sends "<name>/<restart>.log". */
    if (pod_path_is_absolute(c->log_path) || pod_path_has_dotdot(c->log_path))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container config for %s: log_path \"%s\" must be relative to the "
                          "pod's log_directory, without \"..\"",
                          c->name, c->log_path);
    return 0;
}

static char *log_path_for(const pod_sandbox *s, const pod_container_config *c)
{
    if (!*s->config->log_directory || !*c->log_path)
        return wc_xstrdup("");
    return wc_path_join(s->config->log_directory, c->log_path);
}

static char *image_ref_of(const img_image *img)
{
    return wc_xstrdup(img->n_repo_digests ? img->repo_digests[0] : img->id);
}

/* Layer dirs top-most first, as overlayfs and HCS want them; pointers into img. */
static const char **layers_top_first(const img_image *img)
{
    const char **dirs = wc_xcalloc(img->n_layers + 1, sizeof *dirs);
    for (size_t i = 0; i < img->n_layers; i++)
        dirs[i] = img->layer_dirs[img->n_layers - 1 - i];
    return dirs;
}

static pod_container *new_container(const pod_sandbox *s, const char *id, pod_container_config *c,
                                    const img_image *img)
{
    pod_container *k = wc_xcalloc(1, sizeof *k);
    memcpy(k->id, id, sizeof k->id);
    memcpy(k->sandbox_id, s->id, sizeof k->sandbox_id);
    pthread_mutex_init(&k->op, NULL);
    pthread_cond_init(&k->changed, NULL);
    k->state = POD_CONTAINER_CREATED;
    k->created_ns = wc_clock_realtime_ns();
    k->reason = wc_xstrdup("");
    k->message = wc_xstrdup("");
    k->image = wc_xstrdup(c->image);
    k->image_id = wc_xstrdup(img->id);
    k->image_ref = image_ref_of(img);
    k->log_path = log_path_for(s, c);
    k->spec_json = wc_xstrdup("");
    k->config = pod_container_config_ref(c);
    snprintf(k->intent, sizeof k->intent, "%s", POD_INTENT_CREATE);
    return k;
}

/* The spec, the scratch dir and the bundle, and the runtime's container on them; on failure
 * nothing of them is left. */
static int create_in_backend(pod_manager *pm, const pod_sandbox *s, pod_container *k,
                             const img_image *img, hcs_runtime *rt, wc_err *err)
{
    WC_AUTO_JSON json_t *spec = NULL;
    if (pod_platform_container_spec(pm, s, k->config, img, k->id, &spec, err) < 0)
        return -1;
    WC_AUTOFREE char *scratch = wc_path_join(pm->containers_dir, k->id);
    WC_AUTOFREE char *bundle = wc_path_join(pm->bundles_dir, k->id);
    WC_AUTOFREE const char **lowers = layers_top_first(img);
    hcs_rootfs rootfs = {.lower_dirs = lowers, .n_lower = img->n_layers, .scratch_dir = scratch};
    hcs_io io = {.terminal = k->config->tty, .open_stdin = k->config->stdin_};
    int rc = wc_mkdir_mode(scratch, 0700, err);
    if (rc == 0)
        rc = wc_mkdir_mode(bundle, 0700, err);
    if (rc == 0)
        rc = hcs_create(rt, k->id, s->id, bundle, spec, &rootfs, &io, err);
    if (rc == 0) {
        free(k->spec_json);
        k->spec_json = json_dumps(spec, JSON_COMPACT);
        pod_user_from_spec(k->spec_json, &k->user);
    } else {
        wc_err ignored = {0};
        pod_platform_remove_tree(scratch, &ignored);
        pod_platform_remove_tree(bundle, &ignored);
    }
    return rc;
}

/* The record first (intent "create"), so a crash at any later step leaves one that recovery
 * rolls back; then the backend's container, the image hold, and the intent cleared. */
static int create_recorded(pod_manager *pm, pod_sandbox *s, pod_container *k, const img_image *img,
                           hcs_runtime *rt, wc_err *err)
{
    if (pod_store_put_container(pm, k, err) < 0)
        return -1;
    WC_CRASH_POINT("container.create.recorded");
    int rc = create_in_backend(pm, s, k, img, rt, err);
    if (rc == 0) {
        WC_CRASH_POINT("container.create.backend");
        k->intent[0] = '\0';
        /* The image's layers are the container's lower dirs: they must outlive RemoveImage. */
        rc = img_hold(pm->images, k->id, img->id, err);
        if (rc == 0)
            rc = pod_store_put_container(pm, k, err);
    }
    if (rc < 0)
        pod_container_discard(pm, k);
    return rc;
}

/* Everything after the name is ours; called with the sandbox's op lock held. */
static int create_locked(pod_manager *pm, pod_sandbox *s, const char *id,
                         pod_container_config *config, wc_err *err)
{
    img_image *img = NULL;
    hcs_runtime *rt = pod_runtime_for(pm, s->handler, err);
    if (!rt)
        return -1;
    if (img_image_lookup(pm->images, config->image, &img, err) < 0)
        return -1;
    pod_container *k = new_container(s, id, config, img);
    int rc = create_recorded(pm, s, k, img, rt, err);
    if (rc == 0) {
        WC_CRASH_POINT("container.create.committed");
        pod_index_add_container(pm, k);
        pod_events_emit(pm, k->id, k->sandbox_id, POD_EVENT_CREATED);
        wc_info("pod", "container created", "container=%.12s name=%s sandbox=%.12s image=%s", k->id,
                config->name, s->id, k->image);
    } else {
        pod_container_free(k);
    }
    img_image_free(img);
    return rc;
}

int pod_container_create(pod_manager *pm, const char *sandbox_id, pod_container_config *config,
                         char **id, wc_err *err)
{
    if (pod_container_config_check(config, err) < 0)
        return -1;
    pod_sandbox *s = pod_sandbox_find(pm, sandbox_id, err);
    if (!s)
        return -1;
    char new_id[POD_ID_LEN + 1], other[POD_ID_LEN + 1] = "";
    char *key = pod_container_name_key(s->id, config);
    int rc = pod_new_id(new_id, err);
    pthread_mutex_lock(&s->op);
    if (rc == 0 && s->state != POD_SANDBOX_READY)
        rc = wc_err_set(err, WC_FAILED_PRECONDITION, "pod sandbox %s is not ready", s->id);
    if (rc == 0 && pod_name_reserve(pm, key, new_id, other) < 0)
        rc = wc_err_set(err, WC_ALREADY_EXISTS,
                        "container %s (attempt %u) already exists in pod sandbox %.12s as %s",
                        config->name, config->attempt, s->id, other);
    else if (rc == 0 && create_locked(pm, s, new_id, config, err) < 0) {
        pod_name_release(pm, key, new_id);
        rc = wc_err_prefix(err, "CreateContainer %s", config->name);
    }
    pthread_mutex_unlock(&s->op);
    free(key);
    pod_sandbox_unref(pm, s);
    if (rc == 0)
        *id = wc_xstrdup(new_id);
    return rc;
}
