/* ImageService: translation between the CRI protobuf messages and image/. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/xalloc.h"
#include "cri/daemon.h"
#include "cri/pbutil.h"
#include "cri/server.h"
#include "image/image.h"

/* Where containers' writable layers live (reported as container_filesystems): overlay upper
 * dirs on Linux, scratch layers (sandbox.vhdx) on Windows. */
#define CONTAINERS_SUBDIR "containers"
#define STREAM_BATCH 100

static img_store *store_of(cri_call *call, wc_err *err)
{
    img_store *s = cri_call_daemon(call)->images;
    if (!s)
        wc_err_set(err, WC_UNAVAILABLE, "the image store is not open");
    return s;
}

static const char *spec_image(const Runtime__V1__ImageSpec *spec)
{
    return spec && spec->image ? spec->image : "";
}

static char **dup_strv(char *const *v, size_t n)
{
    char **out = cri_alloc((n + 1) * sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = cri_strdup(v[i]);
    return out;
}

static Runtime__V1__Image *to_pb(const img_image *img)
{
    Runtime__V1__Image *p = cri_new(Runtime__V1__Image, runtime__v1__image);
    p->id = cri_strdup(img->id);
    p->repo_tags = dup_strv(img->repo_tags, img->n_repo_tags);
    p->n_repo_tags = img->n_repo_tags;
    p->repo_digests = dup_strv(img->repo_digests, img->n_repo_digests);
    p->n_repo_digests = img->n_repo_digests;
    p->size = img->size;
    if (img->uid >= 0) {
        p->uid = cri_new(Runtime__V1__Int64Value, runtime__v1__int64_value);
        p->uid->value = img->uid;
    }
    p->username = cri_strdup(img->username);
    p->spec = cri_new(Runtime__V1__ImageSpec, runtime__v1__image_spec);
    p->spec->image = cri_strdup(img->id);
    return p;
}

static Runtime__V1__Image **to_pb_list(img_image **imgs, size_t n)
{
    Runtime__V1__Image **out = cri_alloc((n + 1) * sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = to_pb(imgs[i]);
    return out;
}

static const char *filter_of(const Runtime__V1__ImageFilter *f)
{
    return f && f->image && f->image->image && *f->image->image ? f->image->image : NULL;
}

static int list_images(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                       wc_err *err)
{
    const Runtime__V1__ListImagesRequest *in = (const Runtime__V1__ListImagesRequest *)req;
    img_store *s = store_of(call, err);
    img_image **imgs;
    size_t n;
    if (!s || img_image_list(s, filter_of(in->filter), &imgs, &n, err) < 0)
        return -1;
    cri_call_answer_in_arena(call);
    Runtime__V1__ListImagesResponse *r =
        cri_new(Runtime__V1__ListImagesResponse, runtime__v1__list_images_response);
    r->images = to_pb_list(imgs, n);
    r->n_images = n;
    img_image_list_free(imgs, n);
    *resp = &r->base;
    return 0;
}

static int stream_images(cri_call *call, const ProtobufCMessage *req, wc_err *err)
{
    const Runtime__V1__StreamImagesRequest *in = (const Runtime__V1__StreamImagesRequest *)req;
    img_store *s = store_of(call, err);
    img_image **imgs;
    size_t n;
    if (!s || img_image_list(s, filter_of(in->filter), &imgs, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += STREAM_BATCH) {
        size_t k = n - off < STREAM_BATCH ? n - off : STREAM_BATCH;
        Runtime__V1__StreamImagesResponse *r =
            cri_new(Runtime__V1__StreamImagesResponse, runtime__v1__stream_images_response);
        r->images = to_pb_list(imgs + off, k);
        r->n_images = k;
        rc = cri_call_send(call, &r->base, err);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    img_image_list_free(imgs, n);
    return rc;
}

/* Verbose info: the image config and where its layers are, as one JSON document. */
static void add_verbose(Runtime__V1__ImageStatusResponse *r, const img_image *img)
{
    json_t *layers = json_array(), *chains = json_array();
    for (size_t i = 0; i < img->n_layers; i++) {
        json_array_append_new(layers, json_string(img->layer_dirs[i]));
        json_array_append_new(chains, json_string(img->chain_ids[i]));
    }
    json_t *cfg = json_loads(img->config_json, 0, NULL);
    json_t *info =
        json_pack("{s:s,s:s,s:o,s:o,s:o}", "id", img->id, "manifestDigest", img->manifest_digest,
                  "chainIDs", chains, "layerDirs", layers, "imageSpec", cfg ? cfg : json_null());
    char *text = json_dumps(info, JSON_COMPACT);
    cri_map_add(&r->n_info, &r->info, &runtime__v1__image_status_response__info_entry__descriptor,
                "info", text ? text : "{}");
    free(text);
    json_decref(info);
}

static int image_status(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        wc_err *err)
{
    const Runtime__V1__ImageStatusRequest *in = (const Runtime__V1__ImageStatusRequest *)req;
    img_store *s = store_of(call, err);
    if (!s)
        return -1;
    img_image *img = NULL;
    wc_err e = {0};
    if (img_image_lookup(s, spec_image(in->image), &img, &e) < 0 && e.code != WC_NOT_FOUND) {
        *err = e;
        return -1;
    }
    cri_call_answer_in_arena(call);
    Runtime__V1__ImageStatusResponse *r =
        cri_new(Runtime__V1__ImageStatusResponse, runtime__v1__image_status_response);
    if (img) {
        r->image = to_pb(img);
        if (in->verbose)
            add_verbose(r, img);
        img_image_free(img);
    }
    *resp = &r->base;
    return 0;
}

static int call_cancelled(void *ctx)
{
    return cri_call_cancelled(ctx);
}

static int pull_image(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                      wc_err *err)
{
    const Runtime__V1__PullImageRequest *in = (const Runtime__V1__PullImageRequest *)req;
    img_store *s = store_of(call, err);
    if (!s)
        return -1;
    const Runtime__V1__AuthConfig *a = in->auth;
    img_auth auth = {0};
    if (a)
        auth = (img_auth){a->username, a->password, a->auth, a->identity_token, a->registry_token};
    img_pull_opts opts = {
        .ref = spec_image(in->image),
        .auth = a ? &auth : NULL,
        .runtime_handler = in->image ? in->image->runtime_handler : NULL,
        .cancelled = call_cancelled,
        .cancel_ctx = call,
        .deadline_ns = cri_call_deadline_ns(call),
    };
    char *id = NULL;
    if (img_pull(s, &opts, &id, err) < 0)
        return -1;
    Runtime__V1__PullImageResponse *r =
        cri_new(Runtime__V1__PullImageResponse, runtime__v1__pull_image_response);
    r->image_ref = id;
    *resp = &r->base;
    return 0;
}

static int remove_image(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                        wc_err *err)
{
    const Runtime__V1__RemoveImageRequest *in = (const Runtime__V1__RemoveImageRequest *)req;
    img_store *s = store_of(call, err);
    if (!s || img_remove(s, spec_image(in->image), err) < 0)
        return -1;
    *resp = cri_new_message(&runtime__v1__remove_image_response__descriptor);
    return 0;
}

static Runtime__V1__FilesystemUsage *fs_usage_pb(const img_fs_usage *u)
{
    Runtime__V1__FilesystemUsage *f =
        cri_new(Runtime__V1__FilesystemUsage, runtime__v1__filesystem_usage);
    f->timestamp = u->timestamp_ns;
    f->fs_id = cri_new(Runtime__V1__FilesystemIdentifier, runtime__v1__filesystem_identifier);
    f->fs_id->mountpoint = cri_strdup(u->mountpoint);
    f->used_bytes = cri_new(Runtime__V1__UInt64Value, runtime__v1__uint64_value);
    f->used_bytes->value = u->used_bytes;
    f->inodes_used = cri_new(Runtime__V1__UInt64Value, runtime__v1__uint64_value);
    f->inodes_used->value = u->inodes_used;
    return f;
}

static int image_fs_info(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                         wc_err *err)
{
    img_store *s = store_of(call, err);
    img_fs_usage images, containers;
    if (!s || img_store_usage(s, &images, err) < 0)
        return -1;
    /* Joined as podsandbox/manager.c joins containers_dir, so on Windows this is the folder
     * holding each container's scratch (sandbox.vhdx) with the platform's separator. */
    char *dir = wc_path_join(cri_call_daemon(call)->cfg->root_dir, CONTAINERS_SUBDIR);
    int rc = img_dir_usage(dir, &containers, err);
    free(dir);
    if (rc < 0) {
        img_fs_usage_clear(&images);
        img_fs_usage_clear(&containers);
        return -1;
    }
    Runtime__V1__ImageFsInfoResponse *r =
        cri_new(Runtime__V1__ImageFsInfoResponse, runtime__v1__image_fs_info_response);
    r->image_filesystems = wc_xcalloc(1, sizeof *r->image_filesystems);
    r->image_filesystems[0] = fs_usage_pb(&images);
    r->n_image_filesystems = 1;
    r->container_filesystems = wc_xcalloc(1, sizeof *r->container_filesystems);
    r->container_filesystems[0] = fs_usage_pb(&containers);
    r->n_container_filesystems = 1;
    img_fs_usage_clear(&images);
    img_fs_usage_clear(&containers);
    *resp = &r->base;
    return 0;
}

/* ImageService handlers; an RPC without an entry answers UNIMPLEMENTED. */
const cri_method cri_image_methods[] = {
    {"ListImages", list_images, NULL},
    {"StreamImages", NULL, stream_images},
    {"ImageStatus", image_status, NULL},
    {"PullImage", pull_image, NULL},
    {"RemoveImage", remove_image, NULL},
    {"ImageFsInfo", image_fs_info, NULL},
    {NULL, NULL, NULL},
};
