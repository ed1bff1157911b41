/* Pulling an image: resolve the reference to a manifest (choosing from an index by
 * platform), fetch the config, then fetch and unpack the layers in parallel. Each layer is
 * hashed, written to a temp blob and unpacked into a temp directory as it streams in, the
 * uncompressed bytes hashed too on their way to the unpacker; only when the blob's size and
 * digest match the manifest and the uncompressed digest matches the config's diff ID is the
 * blob renamed into the store and the layer filed under its chain ID, marked verified.
 *
 * What is checked against what: a manifest pulled by digest against that digest, a manifest
 * chosen from an index against the index's descriptor, the config against the manifest's
 * config descriptor (its digest is the image ID), each layer blob against its manifest
 * descriptor, and each layer's uncompressed stream against rootfs.diff_ids[i]. Chain IDs
 * rest on diff IDs, so a layer dir is reused only with the store's verified mark
 * (img_layer_verified); a claimed diff ID alone never makes a dir reusable.
 *
 * Where a layer needs its parents in the store to be committed (Windows' ImportLayer), a
 * committer thread commits the staged layers base first, each as soon as it and those below
 * it are ready, while the workers fetch the layers above (at most max_concurrent_downloads
 * ahead). Each layer (chain ID) has a flight from its fetch to its commit, so concurrent
 * pulls fetch, unpack and commit it once: the others wait and reuse it, or redo it if its
 * pull failed.
 *
 * Every blob and layer the pull touches is leased so GC leaves it alone; on failure the
 * leases go and GC removes whatever the pull added, so the store is as it was. */
#include "image/store_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/crash.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"

#define COMP "image"
#define CONFIG_MAX (8u << 20)
#define FILE_CHUNK (1u << 20)

typedef struct layer_job {
    size_t index;                        /* 0 = base */
    char digest[IMG_DIGEST_LEN + 1];     /* the blob, from the manifest */
    char diff_claim[IMG_DIGEST_LEN + 1]; /* rootfs.diff_ids[index], as the config claims */
    char diff_id[IMG_DIGEST_LEN + 1];    /* "" until verified (computed, or a verified reuse) */
    char chain[IMG_DIGEST_LEN + 1];      /* where the layer is looked for and filed */
    const char *media_type;
    int64_t size;
    int64_t done;     /* bytes fetched so far (atomic) */
    int finished;     /* atomic */
    char *staged;     /* unpacked, waiting for its parents (img_commit_needs_parents) */
    int ready;        /* verified, and staged or in the store (p->lock) */
    int holds_flight; /* this pull owns the layer's flight until the layer is committed */
} layer_job;

typedef struct pull {
    img_store *s;
    const char *ref_text;
    img_ref ref;
    img_session *sess;
    img_cancel cancel;
    volatile int failed;
    img_host host;
    json_t *manifest;
    layer_job *layers;
    size_t n_layers;
    size_t next;
    size_t committed; /* layers, from the base up, in the store (p->lock; Windows) */
    int running;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    wc_err err;
    int have_err;
    char **leases;
    size_t n_leases;
    char top_digest[IMG_DIGEST_LEN + 1];
    char index_digest[IMG_DIGEST_LEN + 1]; /* "" when the tag named a manifest directly */
    char manifest_digest[IMG_DIGEST_LEN + 1];
    char config_digest[IMG_DIGEST_LEN + 1];
    char *config;
    int64_t fetched; /* blob bytes received from the registry (atomic) */
    int wrote_small; /* manifests or config written by this pull, not synced yet */
    int installed;   /* a layer installed (and so its filesystem synced) by this pull (atomic) */
} pull;

/* ---- Leases ------------------------------------------------------------------------------ */

static void lease(pull *p, const char *key)
{
    p->leases = wc_xrealloc(p->leases, (p->n_leases + 1) * sizeof *p->leases);
    p->leases[p->n_leases++] = wc_xstrdup(key);
    img_lease_add(p->s, key);
}

static void drop_leases(pull *p)
{
    for (size_t i = 0; i < p->n_leases; i++) {
        img_lease_drop(p->s, p->leases[i]);
        free(p->leases[i]);
    }
    free(p->leases);
    p->leases = NULL;
    p->n_leases = 0;
}

/* ---- Small blobs (manifests, config) ---------------------------------------------------- */

/* Blob bytes that came over the network, for the progress lines and the metrics. */
static void received(pull *p, int64_t n)
{
    __atomic_add_fetch(&p->fetched, n, __ATOMIC_RELAXED);
    wc_metrics_add(WC_M_PULL_BYTES, NULL, (double)n);
}

/* DATA_LOSS: bytes that do not hash to the digest they were fetched by were changed on the
 * way or in the registry's storage; the image as published is not what arrived. */
static int verify_bytes(pull *p, const char *what, const char *digest, int64_t size,
                        const char *data, size_t len, wc_err *err)
{
    char got[IMG_DIGEST_LEN + 1];
    img_sha256_digest(data, len, got);
    if (strcmp(got, digest) != 0)
        return wc_err_set(err, WC_DATA_LOSS,
                          "%s %s from registry %s: digest mismatch: content hashes to %s", what,
                          digest, img_session_endpoint(p->sess), got);
    if (size >= 0 && (int64_t)len != size)
        return wc_err_set(err, WC_DATA_LOSS,
                          "%s %s from registry %s: size mismatch: %zu bytes, the manifest says "
                          "%lld",
                          what, digest, img_session_endpoint(p->sess), len, (long long)size);
    return 0;
}

/* Not synced here: the syncfs of the first layer this pull installs covers it (manifests and
 * config are written before any layer), or sync_small_blobs before the commit. */
static int store_small_blob(pull *p, const char *digest, const char *data, size_t len, wc_err *err)
{
    char *path = img_blob_path(p->s, digest);
    int rc = 0;
    if (!img_path_exists(path)) {
        wc_err werr = {0};
        rc = img_write_file_atomic(path, data, len, 0, &werr);
        /* Concurrent pulls of one image each store its manifests; on Windows a rename onto
         * a file another rename is replacing fails. The digest names the content, so the
         * copy that got there is as good as this one. */
        if (rc < 0 && img_path_exists(path))
            rc = 0;
        if (rc < 0)
            *err = werr;
        p->wrote_small = 1;
    }
    free(path);
    return rc;
}

/* Makes the small blobs this pull wrote durable when no layer install did (every layer was
 * in the store already, or the image has none), before the image is recorded. */
static int sync_small_blobs(pull *p, wc_err *err)
{
    if (!p->wrote_small || __atomic_load_n(&p->installed, __ATOMIC_RELAXED))
        return 0;
    return img_sync_fs(p->s->blobs_dir, err);
}

static int download_small(pull *p, const char *what, const char *digest, int64_t size, char **data,
                          size_t *len, wc_err *err)
{
    img_reader *rd;
    if (img_session_blob(p->sess, digest, &rd, err) < 0)
        return -1;
    size_t cap = size > 0 ? (size_t)size + 1 : 4096, n = 0;
    char *buf = wc_xmalloc(cap);
    int rc = 0;
    for (;;) {
        const void *chunk;
        ssize_t got = img_reader_read(rd, &chunk, err);
        if (got < 0) {
            rc = -1;
            break;
        }
        if (got == 0)
            break;
        if (n + (size_t)got > CONFIG_MAX) {
            rc = wc_err_set(err, WC_DATA_LOSS, "blob %s is larger than %u bytes", digest,
                            CONFIG_MAX);
            break;
        }
        if (n + (size_t)got + 1 > cap) {
            while (n + (size_t)got + 1 > cap)
                cap *= 2;
            buf = wc_xrealloc(buf, cap);
        }
        memcpy(buf + n, chunk, (size_t)got);
        n += (size_t)got;
        received(p, got);
    }
    img_reader_close(rd);
    if (rc == 0)
        rc = verify_bytes(p, what, digest, size, buf, n, err);
    if (rc < 0) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

/* Gets a small blob from the store or, once across all pulls, from the registry; either way
 * its bytes must hash to digest. */
static int fetch_small_blob(pull *p, const char *what, const char *digest, int64_t size,
                            char **data, wc_err *err)
{
    lease(p, digest);
    for (;;) {
        char *path = img_blob_path(p->s, digest);
        size_t len = 0;
        wc_err rerr = {0};
        int have = img_read_file(path, CONFIG_MAX, data, &len, &rerr) == 0;
        free(path);
        if (have && verify_bytes(p, what, digest, size, *data, len, &rerr) == 0)
            return 0;
        if (have) {
            free(*data);
            *data = NULL;
        }
        int r = img_flight_begin(p->s, digest, &p->cancel, err);
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        int rc = download_small(p, what, digest, size, data, &len, err);
        if (rc == 0)
            rc = store_small_blob(p, digest, *data, len, err);
        img_flight_end(p->s, digest);
        return rc;
    }
}

/* ---- Layer streams ---------------------------------------------------------------------- */

typedef struct ingest {
    pull *p;
    layer_job *l;
    img_reader *rd;
    int fd;
    img_hasher *h;
    int64_t count;
    int eof, failed;
    wc_err err;
} ingest;

static ssize_t ingest_read(void *ctx, const void **buf, wc_err *err)
{
    ingest *g = ctx;
    if (g->failed) {
        *err = g->err;
        return -1;
    }
    ssize_t n = img_reader_read(g->rd, buf, &g->err);
    if (n == 0)
        g->eof = 1;
    if (n > 0 && g->count + n > g->l->size) {
        wc_err_set(&g->err, WC_DATA_LOSS,
                   "blob %s from registry %s is larger than the %lld bytes the manifest gives",
                   g->l->digest, img_session_endpoint(g->p->sess), (long long)g->l->size);
        n = -1;
    }
    if (n > 0) {
        img_hasher_update(g->h, *buf, (size_t)n);
        if (img_file_write(g->fd, *buf, (size_t)n) < 0) {
            wc_err_sys(&g->err, WC_INTERNAL, errno, "write blob %s", g->l->digest);
            n = -1;
        } else {
            g->count += n;
            __atomic_add_fetch(&g->l->done, n, __ATOMIC_RELAXED);
            received(g->p, n);
        }
    }
    if (n < 0) {
        g->failed = 1;
        *err = g->err;
    }
    return n;
}

/* Reads what the unpacker left (tar padding) and checks size and digest. */
static int ingest_finish(ingest *g, wc_err *err)
{
    const void *buf;
    while (!g->eof && !g->failed)
        ingest_read(g, &buf, err);
    if (g->failed) {
        *err = g->err;
        return -1;
    }
    if (g->count != g->l->size)
        return wc_err_set(err, WC_UNAVAILABLE,
                          "blob %s from registry %s: truncated: got %lld of %lld bytes",
                          g->l->digest, img_session_endpoint(g->p->sess), (long long)g->count,
                          (long long)g->l->size);
    char got[IMG_DIGEST_LEN + 1];
    img_hasher_final(g->h, got);
    if (strcmp(got, g->l->digest) != 0)
        return wc_err_set(err, WC_DATA_LOSS,
                          "blob %s from registry %s: digest mismatch: the %lld bytes received "
                          "hash to %s",
                          g->l->digest, img_session_endpoint(g->p->sess), (long long)g->count, got);
    return 0;
}

typedef struct file_stream {
    int fd;
    char *buf;
} file_stream;

static ssize_t file_read(void *ctx, const void **buf, wc_err *err)
{
    file_stream *f = ctx;
    for (;;) {
        ssize_t n = img_file_read(f->fd, f->buf, FILE_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return wc_err_sys(err, WC_INTERNAL, errno, "read blob");
        *buf = f->buf;
        return n;
    }
}

/* ---- Layers ----------------------------------------------------------------------------- */

/* The layer's uncompressed bytes must be what the config says: chain IDs, and so the sharing
 * of layer dirs between images, rest on the diff IDs. */
static int check_diff_id(pull *p, layer_job *l, const char *computed, wc_err *err)
{
    if (strcmp(computed, l->diff_claim) == 0) {
        memcpy(l->diff_id, computed, sizeof l->diff_id);
        wc_info(COMP, "layer verified", "image=\"%s\" index=%zu blob=%s diff_id=%s chain=%s",
                p->ref_text, l->index, l->digest, l->diff_id, l->chain);
        return 0;
    }
    /* INVALID_ARGUMENT: the blob arrived exactly as the manifest describes it (DATA_LOSS is
     * kept for bytes that do not match their digest); the image itself contradicts its
     * config, like a tar the unpacker refuses, and pulling it again cannot help. */
    return wc_err_set(err, WC_INVALID_ARGUMENT,
                      "layer %zu (blob %s) does not match the image config: "
                      "rootfs.diff_ids[%zu] claims %s, the uncompressed layer hashes to %s",
                      l->index, l->digest, l->index, l->diff_claim, computed);
}

/* Files a verified layer under its chain ID, once across concurrent pulls; a commit key per
 * chain keeps two pulls from committing the same layer at once (a chain ID fixes the
 * parents too, so on Windows this cannot wait in a circle). tmpdir is gone afterwards. */
static int commit_verified(pull *p, layer_job *l, const char *tmpdir, const char *const *parents,
                           size_t n_parents, wc_err *err)
{
    char key[IMG_DIGEST_LEN + 16];
    snprintf(key, sizeof key, "commit:%s", l->chain);
    int rc = 0, r = 0;
    while (!img_layer_verified(p->s, l->chain, l->diff_id) &&
           (r = img_flight_begin(p->s, key, &p->cancel, err)) == 0)
        ;
    if (r < 0)
        rc = -1;
    if (r > 0 && !img_layer_verified(p->s, l->chain, l->diff_id)) {
        rc = img_layer_install(p->s, tmpdir, l->chain, l->diff_id, parents, n_parents,
                               l->index == 0, err);
        if (rc == 0) {
            __atomic_store_n(&p->installed, 1, __ATOMIC_RELAXED);
            WC_CRASH_POINT("image.pull.layer");
        }
    }
    if (r > 0)
        img_flight_end(p->s, key);
    wc_err ignored = {0};
    img_remove_tree(tmpdir, &ignored); /* gone already unless another pull was first */
    return rc < 0 ? wc_err_prefix(err, "layer %zu (blob %s)", l->index, l->digest) : 0;
}

/* Files a verified layer now, or keeps it staged for the committer when the platform needs
 * its parents committed first. */
static int place_layer(pull *p, layer_job *l, const char *tmpdir, wc_err *err)
{
    if (!img_commit_needs_parents())
        return commit_verified(p, l, tmpdir, NULL, 0, err);
    l->staged = wc_xstrdup(tmpdir);
    return 0;
}

static int unpack_from_blob(pull *p, layer_job *l, wc_err *err)
{
    char *path = img_blob_path(p->s, l->digest);
    file_stream f = {.fd = img_file_open(path)};
    free(path);
    if (f.fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "open blob %s", l->digest);
    f.buf = wc_xmalloc(FILE_CHUNK);
    char *tmpdir = img_tmp_path(p->s, "layer");
    img_stream in = {file_read, &f};
    char computed[IMG_DIGEST_LEN + 1] = "";
    int rc = img_unpack_layer(&in, l->media_type, tmpdir, NULL, computed, err);
    img_file_close(f.fd);
    free(f.buf);
    if (rc < 0)
        wc_err_prefix(err, "layer %zu (blob %s)", l->index, l->digest);
    else if (check_diff_id(p, l, computed, err) < 0)
        rc = -1;
    if (rc == 0) {
        rc = place_layer(p, l, tmpdir, err);
    } else {
        wc_err ignored = {0};
        img_remove_tree(tmpdir, &ignored);
    }
    free(tmpdir);
    __atomic_store_n(&l->done, l->size, __ATOMIC_RELAXED);
    return rc;
}

static int download_layer_once(pull *p, layer_job *l, wc_err *err)
{
    ingest g = {.p = p, .l = l, .fd = -1};
    if (img_session_blob(p->sess, l->digest, &g.rd, err) < 0)
        return -1;
    __atomic_store_n(&l->done, 0, __ATOMIC_RELAXED);
    char *tmpblob = img_tmp_path(p->s, "blob");
    char *tmpdir = img_tmp_path(p->s, "layer");
    char computed[IMG_DIGEST_LEN + 1] = "";
    g.fd = img_file_create(tmpblob);
    g.h = img_hasher_new();
    int rc;
    if (g.fd < 0) {
        rc = wc_err_sys(err, WC_INTERNAL, errno, "create %s", tmpblob);
    } else {
        img_stream in = {ingest_read, &g};
        wc_err uerr = {0};
        int urc = img_unpack_layer(&in, l->media_type, tmpdir, NULL, computed, &uerr);
        /* A bad digest or a broken transfer explains a failed unpack better than the
         * unpacker can, so the stream's verdict comes first. */
        rc = ingest_finish(&g, err);
        if (rc == 0 && urc < 0) {
            *err = uerr;
            rc = wc_err_prefix(err, "layer %zu (blob %s)", l->index, l->digest);
        }
    }
    if (g.fd >= 0 && img_file_close(g.fd) < 0 && rc == 0)
        rc = wc_err_sys(err, WC_INTERNAL, errno, "write blob %s", l->digest);
    img_reader_close(g.rd);
    img_hasher_free(g.h);
    /* The diff ID before the blob is kept: a layer that lies leaves nothing behind. */
    if (rc == 0 && check_diff_id(p, l, computed, err) < 0)
        rc = -1;
    if (rc == 0) {
        char *blob = img_blob_path(p->s, l->digest);
        if (img_rename(tmpblob, blob) < 0)
            rc = wc_err_sys(err, WC_INTERNAL, errno, "store blob %s", l->digest);
        free(blob);
    }
    if (rc == 0) {
        rc = place_layer(p, l, tmpdir, err);
    } else {
        wc_err ignored = {0};
        remove(tmpblob);
        img_remove_tree(tmpdir, &ignored);
    }
    free(tmpblob);
    free(tmpdir);
    return rc;
}

static int download_layer(pull *p, layer_job *l, wc_err *err)
{
    if (img_slot_acquire(p->s, &p->cancel, err) < 0)
        return -1;
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = download_layer_once(p, l, err);
        if (rc == 0 || err->code != WC_UNAVAILABLE || img_cancel_check(&p->cancel, NULL) < 0)
            break;
        wc_warn(COMP, "layer download failed, retrying", "image=\"%s\" blob=%s error=\"%s\"",
                p->ref_text, l->digest, err->msg);
        wc_sleep_ms(500);
    }
    img_slot_release(p->s);
    return rc;
}

/* A layer dir another pull verified for the same chain and diff ID serves as is; the mark
 * stands for the check this pull would have made. */
static int reuse_verified(pull *p, layer_job *l)
{
    if (!img_layer_verified(p->s, l->chain, l->diff_claim))
        return 0;
    memcpy(l->diff_id, l->diff_claim, sizeof l->diff_id);
    return 1;
}

static int blob_stored(pull *p, const layer_job *l)
{
    char *blob = img_blob_path(p->s, l->digest);
    int have = img_path_exists(blob);
    free(blob);
    return have;
}

/* Unpacks the layer from its blob: the one in the store, or one fetched (once across
 * concurrent pulls, whatever layer they want it for) from the registry. */
static int fetch_and_unpack(pull *p, layer_job *l, wc_err *err)
{
    for (;;) {
        if (blob_stored(p, l))
            return unpack_from_blob(p, l, err);
        int r = img_flight_begin(p->s, l->digest, &p->cancel, err);
        if (r < 0)
            return -1;
        if (r == 0)
            continue; /* another pull had it: stored now, or that pull failed */
        int rc = blob_stored(p, l) ? unpack_from_blob(p, l, err) : download_layer(p, l, err);
        img_flight_end(p->s, l->digest);
        return rc;
    }
}

static void layer_key(const layer_job *l, char *key, size_t n)
{
    snprintf(key, n, "layer:%s", l->chain);
}

/* Ends the layer's flight once it is committed (or the pull gives up on it): pulls waiting
 * for it then find it in the store, or do it themselves. */
static void release_layer(pull *p, layer_job *l)
{
    if (!l->holds_flight)
        return;
    char key[IMG_DIGEST_LEN + 16];
    layer_key(l, key, sizeof key);
    l->holds_flight = 0;
    img_flight_end(p->s, key);
}

/* Makes sure the layer is verified and in the store, or staged for this pull to commit. A
 * layer (a chain ID) is fetched, unpacked and committed once across concurrent pulls: one
 * that finds another pull at it waits until that one has committed it and reuses it, or,
 * when that pull failed, does it itself. */
static int ensure_layer(pull *p, layer_job *l, wc_err *err)
{
    char key[IMG_DIGEST_LEN + 16];
    layer_key(l, key, sizeof key);
    int rc = 0;
    for (;;) {
        if (reuse_verified(p, l))
            break;
        int r = img_flight_begin(p->s, key, &p->cancel, err);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r == 0)
            continue;
        if (!reuse_verified(p, l))
            rc = fetch_and_unpack(p, l, err);
        l->holds_flight = 1;
        if (rc < 0 || !l->staged)
            release_layer(p, l); /* else once committed */
        break;
    }
    __atomic_store_n(&l->finished, 1, __ATOMIC_RELAXED);
    if (rc == 0) {
        __atomic_store_n(&l->done, l->size, __ATOMIC_RELAXED);
        pthread_mutex_lock(&p->lock);
        l->ready = 1;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
    }
    return rc;
}

static void record_failure(pull *p, const wc_err *e)
{
    pthread_mutex_lock(&p->lock);
    if (!p->have_err || p->err.code == WC_ABORTED) {
        p->err = *e;
        p->have_err = 1;
    }
    p->failed = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Whether the next layer may start (caller holds p->lock). Where layers are committed in
 * order, downloads run at most max_concurrent_downloads layers ahead of the one being
 * committed: they go on while it imports (even with one download at a time), and the staged
 * layers waiting for their parents stay few. */
static int may_start(const pull *p)
{
    return !img_commit_needs_parents() || p->next <= p->committed + (size_t)p->s->max_downloads;
}

static void *layer_worker(void *arg)
{
    pull *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->failed && p->next < p->n_layers && !may_start(p))
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->failed || p->next >= p->n_layers) {
            p->running--;
            pthread_cond_broadcast(&p->cond);
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        layer_job *l = &p->layers[p->next++];
        pthread_mutex_unlock(&p->lock);
        wc_err e = {0};
        if (ensure_layer(p, l, &e) < 0)
            record_failure(p, &e);
        pthread_mutex_lock(&p->lock);
    }
}

/* Layer i is in the store: the next may be committed, and one more may start. */
static void mark_committed(pull *p, size_t i)
{
    pthread_mutex_lock(&p->lock);
    p->committed = i + 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* img_layer_ready_fn: waits until layer i is verified (staged, or in the store) or the pull
 * has failed. */
static int layer_ready(void *ctx, size_t i, wc_err *err)
{
    pull *p = ctx;
    layer_job *l = &p->layers[i];
    pthread_mutex_lock(&p->lock);
    while (!p->failed && !l->ready)
        pthread_cond_wait(&p->cond, &p->lock);
    int failed = p->failed;
    pthread_mutex_unlock(&p->lock);
    if (failed)
        return wc_err_set(err, WC_ABORTED, "layer %zu: the pull failed", i);
    if (l->staged)
        return 1;
    mark_committed(p, i);
    return 0;
}

/* Commits one staged layer, all layers below it being in the store. */
static int commit_one(void *ctx, size_t i, const char *const *parents, size_t n_parents,
                      wc_err *err)
{
    pull *p = ctx;
    layer_job *l = &p->layers[i];
    int rc = commit_verified(p, l, l->staged, parents, n_parents, err);
    free(l->staged);
    l->staged = NULL;
    release_layer(p, l);
    if (rc == 0)
        mark_committed(p, i);
    return rc;
}

/* Where layers need their parents (Windows): commits them base first, each as soon as it
 * and those below it are ready, while the workers fetch the layers above. */
static void *committer(void *arg)
{
    pull *p = arg;
    char **dirs = wc_xcalloc(p->n_layers + 1, sizeof *dirs);
    for (size_t i = 0; i < p->n_layers; i++)
        dirs[i] = img_layer_path(p->s, p->layers[i].chain);
    wc_err e = {0};
    if (img_commit_in_order((const char *const *)dirs, p->n_layers, layer_ready, commit_one, p,
                            &e) < 0)
        record_failure(p, &e);
    for (size_t i = 0; i < p->n_layers; i++)
        free(dirs[i]);
    free(dirs);
    pthread_mutex_lock(&p->lock);
    p->running--;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Where the previous progress line left off, for the rate over the last interval. */
typedef struct progress {
    int64_t start_ns, last_ns, last_fetched;
} progress;

/* One progress line: layers finished (downloaded, or found verified in the store), bytes done
 * of the layers' total (a layer found in the store counts whole), the rate at which bytes came
 * from the registry since the previous line, and which layers are moving now. */
static void log_progress(pull *p, progress *pr)
{
    int64_t done = 0, total = 0;
    size_t finished = 0;
    char active[512] = "";
    size_t n = 0;
    for (size_t i = 0; i < p->n_layers; i++) {
        layer_job *l = &p->layers[i];
        int64_t d = __atomic_load_n(&l->done, __ATOMIC_RELAXED);
        done += d;
        total += l->size;
        if (__atomic_load_n(&l->finished, __ATOMIC_RELAXED)) {
            finished++;
        } else if (d > 0 && n < sizeof active) {
            n += (size_t)snprintf(active + n, sizeof active - n, "%s%.19s:%lld/%lld", n ? " " : "",
                                  l->digest, (long long)d, (long long)l->size);
        }
    }
    int64_t now = wc_clock_monotonic_ns();
    int64_t fetched = __atomic_load_n(&p->fetched, __ATOMIC_RELAXED);
    double dt = (double)(now - pr->last_ns) / 1e9;
    double rate = dt > 0 ? (double)(fetched - pr->last_fetched) / dt : 0;
    wc_info(COMP, "pull progress",
            "image=\"%s\" layers=%zu/%zu bytes=%lld/%lld percent=%.1f bytes_per_second=%.0f "
            "elapsed_s=%.1f active=\"%s\"",
            p->ref_text, finished, p->n_layers, (long long)done, (long long)total,
            total > 0 ? 100.0 * (double)done / (double)total : 100.0, rate,
            (double)(now - pr->start_ns) / 1e9, active);
    pr->last_ns = now;
    pr->last_fetched = fetched;
}

/* Sleeps on the pull's condition until the monotonic time `until` (or a wake-up). */
static void wait_until(pull *p, int64_t until)
{
    int64_t left = until - wc_clock_monotonic_ns();
    if (left <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + left % 1000000000;
    ts.tv_sec += (time_t)(left / 1000000000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

static int fetch_layers(pull *p, wc_err *err)
{
    size_t workers =
        p->n_layers < (size_t)p->s->max_downloads ? p->n_layers : (size_t)p->s->max_downloads;
    pthread_t *tids = wc_xcalloc(workers + 2, sizeof *tids);
    size_t started = 0;
    pthread_mutex_lock(&p->lock);
    if (img_commit_needs_parents() && p->n_layers > 0) {
        if (pthread_create(&tids[started], NULL, committer, p) != 0) {
            pthread_mutex_unlock(&p->lock);
            free(tids);
            return wc_err_set(err, WC_INTERNAL, "cannot start the layer commit thread");
        }
        started++;
        p->running++;
    }
    size_t first_worker = started;
    for (size_t i = 0; i < workers; i++) {
        if (pthread_create(&tids[started], NULL, layer_worker, p) == 0) {
            started++;
            p->running++;
        }
    }
    if (started == first_worker && p->n_layers > 0) {
        /* the committer (if any) waits for layers: fail the pull so that it ends */
        p->failed = 1;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        for (size_t i = 0; i < started; i++)
            pthread_join(tids[i], NULL);
        free(tids);
        return wc_err_set(err, WC_INTERNAL, "cannot start download threads");
    }
    /* A line every interval from the start of the transfer, whatever wakes the wait. */
    int64_t interval = (int64_t)p->s->progress_seconds * 1000000000;
    progress pr = {.start_ns = wc_clock_monotonic_ns()};
    pr.last_ns = pr.start_ns;
    pr.last_fetched = __atomic_load_n(&p->fetched, __ATOMIC_RELAXED);
    int64_t next = pr.start_ns + interval;
    while (p->running > 0) {
        wait_until(p, next);
        int64_t now = wc_clock_monotonic_ns();
        if (p->running > 0 && now >= next) {
            pthread_mutex_unlock(&p->lock);
            log_progress(p, &pr);
            pthread_mutex_lock(&p->lock);
            while (next <= now)
                next += interval;
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    if (p->have_err) {
        *err = p->err;
        return -1;
    }
    return 0;
}

/* Chain IDs from the verified diff IDs must be the ones the layers were looked for and
 * filed under (they were computed from the claims, which verification has now matched). */
static int check_chains(pull *p, wc_err *err)
{
    if (p->n_layers == 0)
        return 0;
    const char **ids = wc_xcalloc(p->n_layers, sizeof *ids);
    char(*chains)[IMG_DIGEST_LEN + 1] = wc_xcalloc(p->n_layers, sizeof *chains);
    int rc = 0;
    for (size_t i = 0; i < p->n_layers; i++)
        ids[i] = p->layers[i].diff_id;
    img_chain_ids(ids, p->n_layers, chains);
    for (size_t i = 0; rc == 0 && i < p->n_layers; i++)
        if (!p->layers[i].diff_id[0] || strcmp(chains[i], p->layers[i].chain) != 0)
            rc = wc_err_set(err, WC_INTERNAL, "layer %zu (blob %s) has no verified chain ID", i,
                            p->layers[i].digest);
    free(ids);
    free(chains);
    return rc;
}

/* What a failed pull staged but did not commit goes, and with it the layers' flights. */
static void drop_staged(pull *p)
{
    for (size_t i = 0; p->layers && i < p->n_layers; i++) {
        if (p->layers[i].staged) {
            wc_err ignored = {0};
            img_remove_tree(p->layers[i].staged, &ignored);
            free(p->layers[i].staged);
            p->layers[i].staged = NULL;
        }
        release_layer(p, &p->layers[i]);
    }
}

/* ---- Manifests -------------------------------------------------------------------------- */

static int is_index(const char *media_type, const json_t *doc)
{
    if (strcmp(media_type, IMG_MT_OCI_INDEX) == 0 || strcmp(media_type, IMG_MT_DOCKER_LIST) == 0)
        return 1;
    return json_is_array(json_object_get(doc, "manifests")) && !json_object_get(doc, "layers");
}

static json_t *parse_json(const char *body, const char *what, const char *ref, wc_err *err)
{
    json_error_t jerr;
    json_t *doc = json_loads(body, 0, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        wc_err_set(err, WC_INVALID_ARGUMENT, "%s of %s is not a JSON object: %s", what, ref,
                   jerr.text);
        return NULL;
    }
    return doc;
}

static int store_manifest(pull *p, const char *digest, const char *body, size_t len, wc_err *err)
{
    lease(p, digest);
    return store_small_blob(p, digest, body, len, err);
}

/* Fetches the manifest for the reference; from an index picks the host's platform. */
static int resolve_manifest(pull *p, wc_err *err)
{
    const char *reference = p->ref.digest ? p->ref.digest : p->ref.tag;
    char *body = NULL, *mt = NULL;
    size_t len = 0;
    if (img_session_manifest(p->sess, reference, &body, &len, &mt, err) < 0)
        return -1;
    img_sha256_digest(body, len, p->top_digest);
    int rc = 0;
    json_t *doc = NULL;
    if (p->ref.digest && strcmp(p->top_digest, p->ref.digest) != 0)
        rc = wc_err_set(err, WC_DATA_LOSS,
                        "manifest %s from registry %s: digest mismatch: content hashes to %s",
                        p->ref.digest, img_session_endpoint(p->sess), p->top_digest);
    if (rc == 0 && !(doc = parse_json(body, "manifest", p->ref_text, err)))
        rc = -1;
    if (rc == 0 && !*mt) {
        free(mt);
        const char *m = json_string_value(json_object_get(doc, "mediaType"));
        mt = wc_xstrdup(m ? m : "");
    }
    if (rc == 0 && is_index(mt, doc)) {
        snprintf(p->index_digest, sizeof p->index_digest, "%s", p->top_digest);
        rc = store_manifest(p, p->index_digest, body, len, err);
        int idx =
            rc == 0 ? img_platform_select(json_object_get(doc, "manifests"), &p->host, err) : -1;
        const char *d =
            idx >= 0
                ? json_string_value(json_object_get(
                      json_array_get(json_object_get(doc, "manifests"), (size_t)idx), "digest"))
                : NULL;
        if (idx >= 0 && !img_digest_valid(d))
            rc = wc_err_set(err, WC_INVALID_ARGUMENT, "image index of %s: bad manifest digest",
                            p->ref_text);
        else if (idx < 0)
            rc = -1;
        if (rc == 0) {
            snprintf(p->manifest_digest, sizeof p->manifest_digest, "%s", d);
            free(body);
            free(mt);
            body = mt = NULL;
            json_decref(doc);
            doc = NULL;
            rc = img_session_manifest(p->sess, p->manifest_digest, &body, &len, &mt, err);
            if (rc == 0)
                rc = verify_bytes(p, "manifest", p->manifest_digest, -1, body, len, err);
            if (rc == 0 && !(doc = parse_json(body, "manifest", p->ref_text, err)))
                rc = -1;
            if (rc == 0 && is_index(mt, doc))
                rc = wc_err_set(err, WC_INVALID_ARGUMENT,
                                "%s: an index inside an index is not supported", p->ref_text);
        }
    } else if (rc == 0) {
        snprintf(p->manifest_digest, sizeof p->manifest_digest, "%s", p->top_digest);
    }
    if (rc == 0 && strstr(mt, "distribution.manifest.v1"))
        rc = wc_err_set(err, WC_FAILED_PRECONDITION,
                        "%s uses a Docker schema 1 manifest, which is not supported", p->ref_text);
    if (rc == 0)
        rc = store_manifest(p, p->manifest_digest, body, len, err);
    free(body);
    free(mt);
    if (rc < 0) {
        json_decref(doc);
        return -1;
    }
    p->manifest = doc;
    return 0;
}

static int parse_layers(pull *p, wc_err *err)
{
    json_t *cfg = json_object_get(p->manifest, "config");
    const char *cd = json_string_value(json_object_get(cfg, "digest"));
    if (!img_digest_valid(cd))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "manifest of %s: config digest missing or "
                          "not sha256",
                          p->ref_text);
    snprintf(p->config_digest, sizeof p->config_digest, "%s", cd);
    json_t *layers = json_object_get(p->manifest, "layers");
    if (!json_is_array(layers))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "manifest of %s has no layers array",
                          p->ref_text);
    p->n_layers = json_array_size(layers);
    p->layers = wc_xcalloc(p->n_layers + 1, sizeof *p->layers);
    for (size_t i = 0; i < p->n_layers; i++) {
        json_t *l = json_array_get(layers, i);
        const char *d = json_string_value(json_object_get(l, "digest"));
        const char *mt = json_string_value(json_object_get(l, "mediaType"));
        json_t *size = json_object_get(l, "size");
        if (!img_digest_valid(d) || !json_is_integer(size) || json_integer_value(size) < 0)
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "manifest of %s: layer %zu lacks a sha256 digest or a size",
                              p->ref_text, i);
        if (img_layer_compression(mt) < 0)
            return wc_err_set(err, WC_FAILED_PRECONDITION,
                              "manifest of %s: layer %s has unsupported media type \"%s\"",
                              p->ref_text, d, mt ? mt : "");
        p->layers[i].index = i;
        snprintf(p->layers[i].digest, sizeof p->layers[i].digest, "%s", d);
        p->layers[i].media_type = mt;
        p->layers[i].size = json_integer_value(size);
    }
    return 0;
}

/* Reads the diff IDs the config claims, computes from them the chain IDs under which layers
 * are looked for (and, once verified, filed), checks the platform. */
static int parse_config(pull *p, int64_t *config_size, wc_err *err)
{
    json_t *cdesc = json_object_get(p->manifest, "config");
    json_t *sz = json_object_get(cdesc, "size");
    *config_size = json_is_integer(sz) ? json_integer_value(sz) : -1;
    if (fetch_small_blob(p, "image config", p->config_digest, *config_size, &p->config, err) < 0)
        return -1;
    json_t *cfg = parse_json(p->config, "image config", p->ref_text, err);
    if (!cfg)
        return -1;
    int rc = 0;
    const char *os = json_string_value(json_object_get(cfg, "os"));
    json_t *diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (os && !p->index_digest[0] && strcmp(os, p->host.os) != 0)
        rc = wc_err_set(err, WC_FAILED_PRECONDITION, "image %s is for %s, this host runs %s",
                        p->ref_text, os, p->host.os);
    else if (json_array_size(diffs) != p->n_layers)
        rc = wc_err_set(err, WC_INVALID_ARGUMENT,
                        "image config of %s lists %zu diff IDs for %zu layers", p->ref_text,
                        json_array_size(diffs), p->n_layers);
    const char **ids = wc_xcalloc(p->n_layers + 1, sizeof *ids);
    for (size_t i = 0; rc == 0 && i < p->n_layers; i++) {
        ids[i] = json_string_value(json_array_get(diffs, i));
        if (!img_digest_valid(ids[i]))
            rc = wc_err_set(err, WC_INVALID_ARGUMENT,
                            "image config of %s: diff ID %zu is not "
                            "sha256",
                            p->ref_text, i);
    }
    if (rc == 0 && p->n_layers) {
        char(*chains)[IMG_DIGEST_LEN + 1] = wc_xcalloc(p->n_layers, sizeof *chains);
        img_chain_ids(ids, p->n_layers, chains);
        for (size_t i = 0; i < p->n_layers; i++) {
            snprintf(p->layers[i].diff_claim, sizeof p->layers[i].diff_claim, "%s", ids[i]);
            memcpy(p->layers[i].chain, chains[i], sizeof chains[i]);
            lease(p, p->layers[i].chain);
            lease(p, p->layers[i].digest);
        }
        free(chains);
    }
    free(ids);
    json_decref(cfg);
    return rc;
}

/* ---- Commit ------------------------------------------------------------------------------ */

static int commit(pull *p, int64_t config_size, wc_err *err)
{
    char *repo = img_ref_repo(&p->ref);
    char tag[1200] = "", digest_ref[1200];
    if (p->ref.tag)
        snprintf(tag, sizeof tag, "%s:%s", repo, p->ref.tag);
    snprintf(digest_ref, sizeof digest_ref, "%s@%s", repo, p->top_digest);
    free(repo);
    const char *tags[1] = {tag}, *digests[1] = {digest_ref};
    const char **blobs = wc_xcalloc(p->n_layers + 4, sizeof *blobs);
    img_layer_rec *recs = wc_xcalloc(p->n_layers + 1, sizeof *recs);
    size_t nb = 0;
    uint64_t size = config_size > 0 ? (uint64_t)config_size : strlen(p->config);
    if (p->index_digest[0])
        blobs[nb++] = p->index_digest;
    blobs[nb++] = p->manifest_digest;
    blobs[nb++] = p->config_digest;
    for (size_t i = 0; i < p->n_layers; i++) {
        blobs[nb++] = p->layers[i].digest;
        recs[i] = (img_layer_rec){p->layers[i].chain, p->layers[i].digest, p->layers[i].media_type,
                                  p->layers[i].size};
        size += (uint64_t)p->layers[i].size;
    }
    img_record rec = {
        .id = p->config_digest,
        .manifest_digest = p->manifest_digest,
        .config = p->config,
        .size = size,
        .tags = tags,
        .n_tags = p->ref.tag ? 1 : 0,
        .digests = digests,
        .n_digests = 1,
        .blobs = blobs,
        .n_blobs = nb,
        .layers = recs,
        .n_layers = p->n_layers,
    };
    int rc = img_db_commit(p->s, &rec, err);
    if (rc == 0)
        WC_CRASH_POINT("image.pull.committed");
    free(blobs);
    free(recs);
    return rc;
}

/* ---- Entry point ------------------------------------------------------------------------ */

static void select_host(img_store *s, const char *handler, img_host *host)
{
    img_host_detect(host);
    const wc_runtime_handler *h =
        wc_config_handler(s->cfg, handler && *handler ? handler : s->cfg->default_handler);
    host->hyperv = h && strcmp(h->isolation, "hyperv") == 0;
}

int img_pull(img_store *s, const img_pull_opts *opts, char **image_id, wc_err *err)
{
    *image_id = NULL;
    pull p = {.s = s, .ref_text = opts->ref};
    if (img_ref_parse(opts->ref, &p.ref, err) < 0)
        return -1;
    if (p.ref.tag && p.ref.digest) {
        /* "name:tag@digest": the digest decides what is pulled. */
        free(p.ref.tag);
        p.ref.tag = NULL;
    }
    p.cancel = (img_cancel){opts->cancelled, opts->cancel_ctx, opts->deadline_ns, &p.failed};
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);
    select_host(s, opts->runtime_handler, &p.host);
    int64_t t0 = wc_clock_monotonic_ns();
    wc_info(COMP, "pull started", "image=\"%s\"", opts->ref);
    int rc;
    if (img_session_new(s->reg, &p.ref, opts->auth, &p.cancel, &p.sess, err) < 0) {
        rc = -1;
    } else {
        rc = resolve_manifest(&p, err);
        int64_t config_size = 0;
        if (rc == 0)
            rc = parse_layers(&p, err);
        if (rc == 0)
            rc = parse_config(&p, &config_size, err);
        if (rc == 0)
            rc = fetch_layers(&p, err);
        if (rc == 0)
            rc = check_chains(&p, err);
        if (rc == 0)
            rc = sync_small_blobs(&p, err);
        if (rc == 0)
            rc = commit(&p, config_size, err);
    }
    drop_staged(&p);
    drop_leases(&p);
    double secs = (double)(wc_clock_monotonic_ns() - t0) / 1e9;
    int64_t size = 0;
    for (size_t i = 0; p.layers && i < p.n_layers; i++)
        size += p.layers[i].size;
    /* bytes: received from the registry by this pull; size: the layers' total (a layer
     * already in the store, or fetched by a concurrent pull, is not received again). */
    if (rc < 0) {
        img_gc(s);
        wc_err_prefix(err, "pull image \"%s\"", opts->ref);
        wc_warn(COMP, "pull failed", "image=\"%s\" code=%s bytes=%lld seconds=%.3f error=\"%s\"",
                opts->ref, wc_code_name(err->code), (long long)p.fetched, secs, err->msg);
        const char *code[] = {wc_code_name(err->code)};
        wc_metrics_add(WC_M_PULL_FAILURES, code, 1);
    } else {
        *image_id = wc_xstrdup(p.config_digest);
        wc_info(COMP, "pull done",
                "image=\"%s\" id=%s layers=%zu bytes=%lld size=%lld seconds=%.3f "
                "bytes_per_second=%.0f ms=%lld",
                opts->ref, p.config_digest, p.n_layers, (long long)p.fetched, (long long)size, secs,
                secs > 0 ? (double)p.fetched / secs : 0, (long long)(secs * 1000));
    }
    const char *result[] = {rc < 0 ? "failure" : "success"};
    wc_metrics_add(WC_M_PULLS, NULL, 1);
    wc_metrics_observe(WC_M_PULL_DURATION, result, secs);
    img_session_free(p.sess);
    json_decref(p.manifest);
    free(p.layers);
    free(p.config);
    img_ref_clear(&p.ref);
    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.cond);
    return rc;
}
