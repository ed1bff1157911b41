/* Images: pull from OCI registries, keep blobs and unpacked layers under <root>/images, and
 * answer questions about them. img_image_lookup and the lists return copies the caller frees
 * (img_image_free, img_image_list_free); img_hold/img_release count a container's use of an
 * image's layers.
 *
 * On disk (all below <root>/images):
 *   images.db              SQLite (WAL): images, their references, blobs and layer chain
 *   blobs/sha256/<hex>     content store: every blob verified against its digest
 *   layers/<chainhex>/     one directory per layer, keyed by chain ID (overlayfs lower dir on
 *                          Linux, an imported layer folder on Windows); reused by a pull only
 *                          when images.db records it was verified against its diff ID
 *   quarantine/            unverified layer dirs a pull replaced, kept while a container
 *                          holds their chain
 *   tmp/                   downloads and unpacks in progress; emptied at open
 * and beside it, <root>/images.trash/ (images/trash/ when images/ is a filesystem of its own):
 * what GC took out of the store, deleted in the background (and at open, after a crash)
 *
 * Every function is thread-safe. Pulls run on the caller's thread and start their own
 * download threads; they never hold a lock other calls need for long. */
#ifndef WINCRI_IMAGE_IMAGE_H
#define WINCRI_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"

typedef struct img_store img_store;

/* Opens (creating if needed) the store under <cfg->root_dir>/images, removes what an earlier
 * run left half done, and collects garbage. cfg must outlive the store. */
int img_store_open(const wc_config *cfg, img_store **out, wc_err *err);
void img_store_close(img_store *s);

/* ---- Pull ---------------------------------------------------------------------------- */

/* Credentials as CRI's AuthConfig carries them; any field may be NULL or "". */
typedef struct img_auth {
    const char *username;
    const char *password;
    const char *auth;           /* base64("user:password") */
    const char *identity_token; /* OAuth2 refresh token for the registry's token server */
    const char *registry_token; /* a bearer token used as is */
} img_auth;

typedef struct img_pull_opts {
    const char *ref;             /* "busybox", "host:5000/a/b:tag", "a/b@sha256:..." */
    const img_auth *auth;        /* NULL: credentials from the config (or anonymous) */
    const char *runtime_handler; /* selects the platform rules; NULL/"": the default one */
    /* Polled while waiting on the network; returning non-zero abandons the pull (the
     * store is then left as it was) with WC_CANCELLED or WC_DEADLINE_EXCEEDED. */
    int (*cancelled)(void *ctx);
    void *cancel_ctx;
    int64_t deadline_ns; /* CLOCK_MONOTONIC; 0 or INT64_MAX: none */
} img_pull_opts;

/* Pulls and unpacks an image and records it under the normalised reference. On success
 * *image_id is the image ID ("sha256:<config digest hex>", caller frees). On failure the
 * store is left as it was and err names the image, blob or registry and the reason. */
int img_pull(img_store *s, const img_pull_opts *opts, char **image_id, wc_err *err);

/* ---- Look-up ------------------------------------------------------------------------- */

typedef struct img_image {
    char *id;         /* "sha256:<hex>" (the config digest) */
    char **repo_tags; /* "docker.io/library/busybox:latest", ... */
    size_t n_repo_tags;
    char **repo_digests; /* "docker.io/library/busybox@sha256:..." */
    size_t n_repo_digests;
    uint64_t size;         /* bytes: config plus compressed layers */
    int64_t uid;           /* from config User when numeric, else -1 */
    char *username;        /* from config User when not numeric, else "" */
    char *config_json;     /* the image config blob, as pulled */
    char *manifest_digest; /* the platform manifest that was pulled */
    /* Layer directories, bottom layer first (overlayfs wants them reversed: top first). */
    char **layer_dirs;
    char **chain_ids;
    size_t n_layers;
} img_image;

/* Finds an image by ID ("sha256:<hex>", the bare hex or an unambiguous hex prefix of at
 * least 12 characters), by reference (normalised, so "busybox" finds
 * docker.io/library/busybox:latest) or by digest reference. WC_NOT_FOUND when absent,
 * WC_INVALID_ARGUMENT for a malformed reference. */
int img_image_lookup(img_store *s, const char *ref_or_id, img_image **out, wc_err *err);
void img_image_free(img_image *img);

/* All images, or with filter_ref set only the one it names (an empty list when absent). */
int img_image_list(img_store *s, const char *filter_ref, img_image ***out, size_t *n, wc_err *err);
void img_image_list_free(img_image **imgs, size_t n);

/* Removes an image and all its references, given any of them or its ID, then collects
 * layers and blobs no image or holder uses. An image that is not there is not an error. */
int img_remove(img_store *s, const char *ref_or_id, wc_err *err);

/* ---- Holds: keep layers alive while something uses them ------------------------------ */

/* Records (in the database, so it survives restarts) that `holder` (e.g. a container ID)
 * uses the layers of image `image_id`. While held, the layers survive RemoveImage and
 * garbage collection even if the image itself is removed. Idempotent per holder+image. */
int img_hold(img_store *s, const char *holder, const char *image_id, wc_err *err);
/* Drops every hold of `holder` and collects what nothing uses any more. No holds: 0. */
int img_release(img_store *s, const char *holder, wc_err *err);
/* After a restart: drops the holds of every holder `owned` says no longer exists (a release
 * a crash cut short), then collects what they kept. Returns how many holders it dropped. */
size_t img_holds_prune(img_store *s, int (*owned)(void *ctx, const char *holder), void *ctx);

/* ---- Usage (ImageFsInfo) ------------------------------------------------------------- */

typedef struct img_fs_usage {
    char *mountpoint; /* the mount point of the filesystem holding the store */
    uint64_t used_bytes;
    uint64_t inodes_used;
    int64_t timestamp_ns;
} img_fs_usage;

/* Bytes (allocated blocks, hard links counted once, as du does) and inodes used below
 * `dir` and the mount point holding it. Results are cached for a few seconds per store. */
int img_store_usage(img_store *s, img_fs_usage *out, wc_err *err);
/* The same measurement for any directory (e.g. the containers' writable layers). A missing
 * directory counts as empty. */
int img_dir_usage(const char *dir, img_fs_usage *out, wc_err *err);
void img_fs_usage_clear(img_fs_usage *u);

/* The store's directory (<root>/images). */
const char *img_store_dir(const img_store *s);

/* Content that GC collected (RemoveImage, img_release, a failed pull) leaves the store's
 * namespace before the call returns and is deleted from disk by a background thread right
 * after. This waits until that deletion has caught up (tests; shutdown does it itself). */
void img_store_settle(img_store *s);

#endif
