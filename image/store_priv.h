/* The store object shared by store.c (database, look-ups, GC), content.c (blob files,
 * single flights, leases, download slots) and pull.c. */
#ifndef WINCRI_IMAGE_STORE_PRIV_H
#define WINCRI_IMAGE_STORE_PRIV_H

#include <pthread.h>
#include <sqlite3.h>

#include "image/img_internal.h"

typedef struct img_flight img_flight;
typedef struct img_lease img_lease;

/* Prepared statements, kept for the store's life: parsing SQL was most of a look-up's cost. */
#define IMG_STMT_CACHE 48
typedef struct img_stmt {
    const char *sql;
    sqlite3_stmt *st;
} img_stmt;

/* An image's user, from its config: a function of the image ID (the config's digest). */
typedef struct img_user {
    char id[72];
    int64_t uid;
    char *username;
} img_user;

struct img_store {
    const wc_config *cfg;
    char *dir;            /* <root>/images */
    char *blobs_dir;      /* <root>/images/blobs/sha256 */
    char *layers_dir;     /* <root>/images/layers */
    char *tmp_dir;        /* <root>/images/tmp */
    char *quarantine_dir; /* <root>/images/quarantine: unverified layer dirs moved aside */
    char *trash_dir;      /* <root>/images/trash: what GC took out, being removed */
    sqlite3 *db;
    pthread_mutex_t db_lock; /* guards db, stmts and users */
    img_stmt stmts[IMG_STMT_CACHE];
    size_t n_stmts;
    img_user *users;
    size_t n_users, cap_users;
    /* Images as loaded, for ImageStatus and ListImages (db_lock): valid while image_gen, bumped
     * by every commit that records or removes an image, is still cache_gen. cache_complete:
     * every image is in it, in ListImages' order. */
    img_image **cache;
    size_t n_cache, cap_cache;
    unsigned long image_gen, cache_gen;
    int cache_complete;
    img_registry *reg;
    int max_downloads;
    int progress_seconds;

    /* Guards everything below; GC holds it while it decides and moves things away. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    img_flight *flights;
    img_lease *leases;
    int slots_free;
    unsigned long seq;
    img_fs_usage usage;
    int64_t usage_at_ns;
    int usage_valid;

    /* The reaper: a thread that removes what GC moved into trash/, so that a call that
     * frees content (RemoveImage, a container's last hold) does not wait for the unlinks.
     * Its queue is guarded by lock. */
    pthread_t reaper;
    int reaper_running;
    pthread_cond_t reap_cond;
    char **reap_q;
    size_t reap_n, reap_cap;
    int reaping, closing;
};

/* ---- content.c ---- */

/* blobs/sha256/<hex> for a digest (caller frees). */
char *img_blob_path(const img_store *s, const char *digest);
/* layers/<hex> for a chain ID (caller frees). */
char *img_layer_path(const img_store *s, const char *chain_id);
/* A fresh unique path under tmp/ with the given prefix (caller frees). */
char *img_tmp_path(img_store *s, const char *prefix);

/* Single flight per key: 1 when the caller now owns the key (call img_flight_end), 0 after
 * another owner finished (re-check and try again), -1 when cancelled while waiting. */
int img_flight_begin(img_store *s, const char *key, const img_cancel *c, wc_err *err);
void img_flight_end(img_store *s, const char *key);

/* Leases keep blobs and layers from GC while a pull works on them. */
void img_lease_add(img_store *s, const char *key);
void img_lease_drop(img_store *s, const char *key);
int img_leased_locked(img_store *s, const char *key); /* caller holds s->lock */

/* Bounded download slots (images.max_concurrent_downloads across all pulls). */
int img_slot_acquire(img_store *s, const img_cancel *c, wc_err *err);
void img_slot_release(img_store *s);

/* ---- store.c ---- */

typedef struct img_layer_rec {
    const char *chain_id;
    const char *blob_digest;
    const char *media_type;
    int64_t size;
} img_layer_rec;

typedef struct img_record {
    const char *id;
    const char *manifest_digest;
    const char *config;
    uint64_t size;
    const char *const *tags; /* full names "domain/path:tag" */
    size_t n_tags;
    const char *const *digests; /* "domain/path@sha256:..." */
    size_t n_digests;
    const char *const *blobs; /* every blob the image owns (index, manifest, config, layers) */
    size_t n_blobs;
    const img_layer_rec *layers;
    size_t n_layers;
} img_record;

int img_db_commit(img_store *s, const img_record *rec, wc_err *err);

/* Whether layers/<chain> exists and the store recorded that it was committed after its
 * content was verified to hash to diff_id. Nothing else makes a layer dir reusable. */
int img_layer_verified(img_store *s, const char *chain, const char *diff_id);
/* Files a layer whose diff ID the caller verified: moves an unverified directory at
 * layers/<chain> to quarantine/, commits tmpdir there (img_commit_layer), makes it durable
 * and then records it as verified. The caller holds the commit flight of chain. */
int img_layer_install(img_store *s, const char *tmpdir, const char *chain, const char *diff_id,
                      const char *const *parents, size_t n_parents, int is_base, wc_err *err);
/* Removes what nothing references or leases. */
void img_gc(img_store *s);
void img_usage_invalidate(img_store *s);

#endif
