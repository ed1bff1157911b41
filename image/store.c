/* The image store: SQLite metadata (WAL), look-ups, removal, holds and garbage collection.
 *
 * Schema (version 1):
 *   images(id, manifest_digest, size, config, created_ns)
 *   refs(name → image_id, kind 0 tag / 1 digest)
 *   image_layers(image_id, idx, chain_id, blob_digest, media_type, size)
 *   image_blobs(image_id, digest)        every blob an image owns
 *   holds(holder, image_id, chain_id)    layers in use by containers
 *   verified_layers(chain_id, diff_id, verified_ns)
 *                                        layer dirs committed after their content was
 *                                        verified against diff_id, and synced to disk
 * Rows referring to an image go with it (ON DELETE CASCADE), except holds, which outlive
 * the image on purpose. verified_layers came later without a version change: a store
 * without it has no verified layers, so each is replaced the next time a pull needs it.
 *
 * A layer dir is trusted only with its verified_layers row, written after the dir is
 * complete and durable and deleted before the dir goes, so a dir cut short by a crash, left
 * by an older wincri or put there by anyone else is never reused. Such a dir is moved to
 * quarantine/ when a pull replaces it and removed once no container holds its chain (a
 * running container may still have it as a lower dir). */
#include "image/store_priv.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"

#define COMP "image"
#define USAGE_CACHE_NS (5LL * 1000000000LL)

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS images(id TEXT PRIMARY KEY, manifest_digest TEXT NOT NULL,"
    " size INTEGER NOT NULL, config TEXT NOT NULL, created_ns INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS refs(name TEXT PRIMARY KEY,"
    " image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    " kind INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS refs_image ON refs(image_id);"
    "CREATE TABLE IF NOT EXISTS image_layers("
    " image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, idx INTEGER NOT NULL,"
    " chain_id TEXT NOT NULL, blob_digest TEXT NOT NULL, media_type TEXT NOT NULL,"
    " size INTEGER NOT NULL, PRIMARY KEY(image_id, idx));"
    "CREATE INDEX IF NOT EXISTS layers_chain ON image_layers(chain_id);"
    "CREATE INDEX IF NOT EXISTS layers_blob ON image_layers(blob_digest);"
    "CREATE TABLE IF NOT EXISTS image_blobs("
    " image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, digest TEXT NOT NULL,"
    " PRIMARY KEY(image_id, digest));"
    "CREATE INDEX IF NOT EXISTS blobs_digest ON image_blobs(digest);"
    "CREATE TABLE IF NOT EXISTS holds(holder TEXT NOT NULL, image_id TEXT NOT NULL,"
    " chain_id TEXT NOT NULL, PRIMARY KEY(holder, chain_id));"
    "CREATE INDEX IF NOT EXISTS holds_chain ON holds(chain_id);"
    "CREATE TABLE IF NOT EXISTS verified_layers(chain_id TEXT PRIMARY KEY,"
    " diff_id TEXT NOT NULL, verified_ns INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1');";

/* ---- SQLite helpers -------------------------------------------------------------------- */

static int db_fail(img_store *s, wc_err *err, const char *what)
{
    return wc_err_set(err, WC_INTERNAL, "image database %s/images.db: %s: %s", s->dir, what,
                      sqlite3_errmsg(s->db));
}

static int db_exec(img_store *s, const char *sql, wc_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        wc_err_set(err, WC_INTERNAL, "image database %s/images.db: %s", s->dir,
                   msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* A prepared statement for sql, from the store's cache (prepared on first use). Caller holds
 * db_lock and hands it back with unprep before the next prep of the same SQL. */
static sqlite3_stmt *prep(img_store *s, const char *sql)
{
    for (size_t i = 0; i < s->n_stmts; i++)
        if (s->stmts[i].sql == sql || strcmp(s->stmts[i].sql, sql) == 0)
            return s->stmts[i].st;
    sqlite3_stmt *st = NULL;
    unsigned flags = s->n_stmts < IMG_STMT_CACHE ? SQLITE_PREPARE_PERSISTENT : 0;
    if (sqlite3_prepare_v3(s->db, sql, -1, flags, &st, NULL) != SQLITE_OK)
        return NULL;
    if (s->n_stmts < IMG_STMT_CACHE)
        s->stmts[s->n_stmts++] = (img_stmt){sql, st};
    return st;
}

/* Done with a statement from prep: reset for the next use (this also ends its read), or
 * finalized if the cache was full. Column values read from it are invalid afterwards. */
static void unprep(img_store *s, sqlite3_stmt *st)
{
    for (size_t i = 0; i < s->n_stmts; i++) {
        if (s->stmts[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    }
    sqlite3_finalize(st);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

/* One read transaction around a look-up's statements: each statement on its own would take
 * and drop the WAL read lock (two fcntl calls on the -shm file) and set up a snapshot.
 * Caller holds db_lock. */
static void read_begin(img_store *s)
{
    sqlite3_stmt *st = prep(s, "BEGIN");
    if (st) {
        sqlite3_step(st);
        unprep(s, st);
    }
}

static void read_end(img_store *s)
{
    if (sqlite3_get_autocommit(s->db))
        return; /* BEGIN failed, or an error ended the transaction */
    sqlite3_stmt *st = prep(s, "COMMIT");
    if (st) {
        sqlite3_step(st);
        unprep(s, st);
    }
}

/* Runs a statement with up to three text parameters to completion. */
static int run3(img_store *s, const char *sql, const char *a, const char *b, const char *c)
{
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return -1;
    if (a)
        bind_text(st, 1, a);
    if (b)
        bind_text(st, 2, b);
    if (c)
        bind_text(st, 3, c);
    int rc = sqlite3_step(st);
    unprep(s, st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* Whether a query with one text parameter yields a row. */
static int has_row(img_store *s, const char *sql, const char *a)
{
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return 1; /* when in doubt, keep things */
    bind_text(st, 1, a);
    int rc = sqlite3_step(st);
    unprep(s, st);
    return rc == SQLITE_ROW;
}

/* ---- Open / close ---------------------------------------------------------------------- */

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = wc_xmalloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int open_db(img_store *s, wc_err *err)
{
    char *path = path_join(s->dir, "images.db");
    if (wc_sqlite_private(path, err) < 0) {
        free(path);
        return -1;
    }
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    free(path);
    if (rc != SQLITE_OK)
        return db_fail(s, err, "open");
    sqlite3_busy_timeout(s->db, 5000);
    if (db_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                err) < 0 ||
        db_exec(s, schema_sql, err) < 0)
        return -1;
    return 0;
}

/* ---- The reaper ------------------------------------------------------------------------ */

static void *reaper_main(void *arg)
{
    img_store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->reap_n == 0 && !s->closing)
            pthread_cond_wait(&s->reap_cond, &s->lock);
        if (s->reap_n == 0)
            break; /* closing, and nothing left */
        char *path = s->reap_q[--s->reap_n];
        s->reaping = 1;
        pthread_mutex_unlock(&s->lock);
        wc_err ignored = {0};
        img_remove_tree(path, &ignored);
        free(path);
        pthread_mutex_lock(&s->lock);
        s->reaping = 0;
        s->usage_valid = 0; /* ImageFsInfo may have counted it while it was in trash/ */
        pthread_cond_broadcast(&s->reap_cond);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Hands paths (in trash/, taken over) to the reaper; removes them here if there is none. */
static void reap(img_store *s, char **paths, size_t n)
{
    pthread_mutex_lock(&s->lock);
    if (s->reaper_running && s->reap_n + n > s->reap_cap) {
        size_t cap = s->reap_cap ? s->reap_cap : 16;
        while (cap < s->reap_n + n)
            cap *= 2;
        char **q = wc_xrealloc(s->reap_q, cap * sizeof *q);
        if (q) {
            s->reap_q = q;
            s->reap_cap = cap;
        }
    }
    size_t queued = 0;
    if (s->reaper_running && s->reap_n + n <= s->reap_cap) {
        for (; queued < n; queued++)
            s->reap_q[s->reap_n++] = paths[queued];
        pthread_cond_broadcast(&s->reap_cond);
    }
    pthread_mutex_unlock(&s->lock);
    for (size_t i = queued; i < n; i++) {
        wc_err ignored = {0};
        img_remove_tree(paths[i], &ignored);
        free(paths[i]);
    }
}

void img_store_settle(img_store *s)
{
    pthread_mutex_lock(&s->lock);
    while (s->reaper_running && (s->reap_n > 0 || s->reaping))
        pthread_cond_wait(&s->reap_cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

/* Entries of a directory, as full paths (for trash/ left by a crash). */
static size_t list_dir(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0, cap = 0;
    *out = NULL;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **v = wc_xrealloc(*out, cap * sizeof *v);
            *out = v;
        }
        (*out)[n++] = path_join(dir, e->d_name);
    }
    if (d)
        closedir(d);
    return n;
}

static void empty_tmp(img_store *s)
{
    DIR *d = opendir(s->tmp_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *p = path_join(s->tmp_dir, e->d_name);
        wc_err ignored = {0};
        img_remove_tree(p, &ignored);
        free(p);
    }
    if (d)
        closedir(d);
}

/* Where GC moves what it takes out: beside the store (<root>/images.trash) when that is on
 * the store's filesystem, so that images/ holds only what the store records; else inside it
 * (images/trash), which a rename always reaches. */
static int open_trash(img_store *s, wc_err *err)
{
    s->trash_dir = path_join(s->cfg->root_dir, "images.trash");
    if (img_mkdir_p(s->trash_dir, err) == 0 && img_same_filesystem(s->trash_dir, s->dir))
        return 0;
    wc_err ignored = {0};
    img_remove_tree(s->trash_dir, &ignored);
    free(s->trash_dir);
    s->trash_dir = path_join(s->dir, "trash");
    return img_mkdir_p(s->trash_dir, err);
}

static int config_int(const wc_config *cfg, const char *key, int def, int lo, int hi)
{
    json_t *v = json_object_get(json_object_get(cfg->doc, "images"), key);
    if (!json_is_integer(v))
        return def;
    long long n = json_integer_value(v);
    return n < lo ? lo : (n > hi ? hi : (int)n);
}

int img_store_open(const wc_config *cfg, img_store **out, wc_err *err)
{
    img_store *s = wc_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->dir = path_join(cfg->root_dir, "images");
    char *blobs = path_join(s->dir, "blobs");
    s->blobs_dir = path_join(blobs, "sha256");
    free(blobs);
    s->layers_dir = path_join(s->dir, "layers");
    s->tmp_dir = path_join(s->dir, "tmp");
    s->quarantine_dir = path_join(s->dir, "quarantine");
    pthread_mutex_init(&s->db_lock, NULL);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_cond_init(&s->reap_cond, NULL);
    s->max_downloads = config_int(cfg, "max_concurrent_downloads", 4, 1, 64);
    s->progress_seconds = config_int(cfg, "progress_interval_seconds", 5, 1, 3600);
    s->slots_free = s->max_downloads;
    int stall = config_int(cfg, "stall_timeout_seconds", 60, 1, 3600);
    if (img_mkdir_p(s->blobs_dir, err) < 0 || img_mkdir_p(s->layers_dir, err) < 0 ||
        img_mkdir_p(s->tmp_dir, err) < 0 || img_mkdir_p(s->quarantine_dir, err) < 0 ||
        open_trash(s, err) < 0 || open_db(s, err) < 0 ||
        img_registry_new(json_object_get(cfg->doc, "registries"), stall, &s->reg, err) < 0) {
        wc_err_prefix(err, "open image store %s", s->dir);
        img_store_close(s);
        return -1;
    }
    empty_tmp(s);
    s->reaper_running = pthread_create(&s->reaper, NULL, reaper_main, s) == 0;
    char **left;
    size_t n_left = list_dir(s->trash_dir, &left); /* a crash cut the last deletions short */
    reap(s, left, n_left);
    free(left);
    img_gc(s);
    *out = s;
    return 0;
}

static void cache_clear(img_store *s);

void img_store_close(img_store *s)
{
    if (!s)
        return;
    if (s->reaper_running) { /* it finishes what is queued first */
        pthread_mutex_lock(&s->lock);
        s->closing = 1;
        pthread_cond_broadcast(&s->reap_cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->reaper, NULL);
    }
    free(s->reap_q);
    cache_clear(s);
    free(s->cache);
    for (size_t i = 0; i < s->n_stmts; i++)
        sqlite3_finalize(s->stmts[i].st);
    for (size_t i = 0; i < s->n_users; i++)
        free(s->users[i].username);
    free(s->users);
    if (s->db)
        sqlite3_close(s->db);
    img_registry_free(s->reg);
    img_fs_usage_clear(&s->usage);
    pthread_mutex_destroy(&s->db_lock);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    pthread_cond_destroy(&s->reap_cond);
    free(s->trash_dir);
    free(s->dir);
    free(s->blobs_dir);
    free(s->layers_dir);
    free(s->tmp_dir);
    free(s->quarantine_dir);
    free(s);
}

const char *img_store_dir(const img_store *s)
{
    return s->dir;
}

/* ---- Commit ---------------------------------------------------------------------------- */

static int commit_rows(img_store *s, const img_record *r)
{
    sqlite3_stmt *st = prep(s, "INSERT INTO images(id, manifest_digest, size, config, created_ns)"
                               " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET"
                               " manifest_digest = ?2, size = ?3, config = ?4");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->manifest_digest);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)r->size);
    bind_text(st, 4, r->config);
    sqlite3_bind_int64(st, 5, wc_clock_realtime_ns());
    int rc = sqlite3_step(st);
    unprep(s, st);
    if (rc != SQLITE_DONE)
        return -1;
    if (run3(s, "DELETE FROM image_layers WHERE image_id = ?1", r->id, NULL, NULL) < 0 ||
        run3(s, "DELETE FROM image_blobs WHERE image_id = ?1", r->id, NULL, NULL) < 0)
        return -1;
    for (size_t i = 0; i < r->n_tags; i++)
        if (run3(s, "INSERT OR REPLACE INTO refs(name, image_id, kind) VALUES(?1, ?2, 0)",
                 r->tags[i], r->id, NULL) < 0)
            return -1;
    for (size_t i = 0; i < r->n_digests; i++)
        if (run3(s, "INSERT OR REPLACE INTO refs(name, image_id, kind) VALUES(?1, ?2, 1)",
                 r->digests[i], r->id, NULL) < 0)
            return -1;
    for (size_t i = 0; i < r->n_blobs; i++)
        if (run3(s, "INSERT OR IGNORE INTO image_blobs(image_id, digest) VALUES(?1, ?2)", r->id,
                 r->blobs[i], NULL) < 0)
            return -1;
    for (size_t i = 0; i < r->n_layers; i++) {
        const img_layer_rec *l = &r->layers[i];
        st = prep(s, "INSERT INTO image_layers(image_id, idx, chain_id, blob_digest, media_type,"
                     " size) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
        if (!st)
            return -1;
        bind_text(st, 1, r->id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        bind_text(st, 3, l->chain_id);
        bind_text(st, 4, l->blob_digest);
        bind_text(st, 5, l->media_type);
        sqlite3_bind_int64(st, 6, l->size);
        rc = sqlite3_step(st);
        unprep(s, st);
        if (rc != SQLITE_DONE)
            return -1;
    }
    return 0;
}

static void cache_recorded(img_store *s, const img_record *r);
static void cache_removed(img_store *s, const char *id);

int img_db_commit(img_store *s, const img_record *rec, wc_err *err)
{
    pthread_mutex_lock(&s->db_lock);
    int rc = db_exec(s, "BEGIN IMMEDIATE", err);
    if (rc == 0 && commit_rows(s, rec) < 0) {
        rc = db_fail(s, err, "record image");
        db_exec(s, "ROLLBACK", NULL);
    } else if (rc == 0) {
        rc = db_exec(s, "COMMIT", err);
        if (rc < 0)
            db_exec(s, "ROLLBACK", NULL);
    }
    if (rc == 0)
        cache_recorded(s, rec); /* the next ImageStatus is answered from memory */
    else
        s->image_gen++; /* what was cached may be stale */
    pthread_mutex_unlock(&s->db_lock);
    img_usage_invalidate(s);
    return rc;
}

/* ---- Verified layers ------------------------------------------------------------------- */

int img_layer_verified(img_store *s, const char *chain, const char *diff_id)
{
    pthread_mutex_lock(&s->db_lock);
    sqlite3_stmt *st =
        prep(s, "SELECT 1 FROM verified_layers WHERE chain_id = ?1 AND diff_id = ?2");
    int found = 0;
    if (st) { /* in doubt, not verified: the layer is fetched again */
        bind_text(st, 1, chain);
        bind_text(st, 2, diff_id);
        found = sqlite3_step(st) == SQLITE_ROW;
        unprep(s, st);
    }
    pthread_mutex_unlock(&s->db_lock);
    if (!found)
        return 0;
    char *dir = img_layer_path(s, chain);
    int exists = img_path_exists(dir);
    free(dir);
    return exists;
}

static int mark_verified(img_store *s, const char *chain, const char *diff_id, wc_err *err)
{
    pthread_mutex_lock(&s->db_lock);
    sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO verified_layers(chain_id, diff_id,"
                               " verified_ns) VALUES(?1, ?2, ?3)");
    int rc = st ? 0 : -1;
    if (st) {
        bind_text(st, 1, chain);
        bind_text(st, 2, diff_id);
        sqlite3_bind_int64(st, 3, wc_clock_realtime_ns());
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        unprep(s, st);
    }
    if (rc < 0)
        db_fail(s, err, "record verified layer");
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

/* Moves an unverified layer dir out of the way (a container may still use it). */
static int quarantine(img_store *s, const char *chain, const char *dir, wc_err *err)
{
    pthread_mutex_lock(&s->lock);
    unsigned long n = ++s->seq;
    pthread_mutex_unlock(&s->lock);
    char name[IMG_DIGEST_LEN + 32];
    snprintf(name, sizeof name, "%.64s-%lu", chain + 7, n);
    char *to = path_join(s->quarantine_dir, name);
    int rc = 0;
    if (img_rename(dir, to) < 0)
        rc = wc_err_sys(err, WC_INTERNAL, errno, "move unverified layer %s aside", dir);
    else
        wc_warn(COMP, "unverified layer directory replaced",
                "chain=%s moved_to=%s reason=\"no record that it was verified (an older "
                "wincri, an interrupted commit, or not ours)\"",
                chain, to);
    free(to);
    return rc;
}

int img_layer_install(img_store *s, const char *tmpdir, const char *chain, const char *diff_id,
                      const char *const *parents, size_t n_parents, int is_base, wc_err *err)
{
    char *dir = img_layer_path(s, chain);
    int moved = img_path_exists(dir);
    int rc = moved ? quarantine(s, chain, dir, err) : 0;
    if (rc == 0)
        rc = img_commit_layer(tmpdir, dir, parents, n_parents, is_base, err);
    else {
        wc_err ignored = {0};
        img_remove_tree(tmpdir, &ignored);
    }
    /* The mark comes last: with it, the dir must be whole even after a power cut. */
    if (rc == 0)
        rc = img_sync_fs(dir, err);
    if (rc == 0)
        rc = mark_verified(s, chain, diff_id, err);
    free(dir);
    if (moved)
        img_gc(s);
    return rc;
}

/* ---- Look-up --------------------------------------------------------------------------- */

static int all_hex(const char *p)
{
    if (!*p)
        return 0;
    for (; *p; p++)
        if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
            return 0;
    return 1;
}

/* Image ID from an ID, a bare hex ID or a unique hex prefix; 0 found, 1 not. */
/* Every image is loaded in memory and current (ListImages loaded them, commits since kept
 * them): names and ids resolve from there, as load_locked copied the refs table's rows. */
static int cache_usable(img_store *s);

static int id_by_hex(img_store *s, const char *q, char *id, size_t cap)
{
    const char *hex = strncmp(q, "sha256:", 7) == 0 ? q + 7 : q;
    size_t n = strlen(hex);
    if (!all_hex(hex) || n < 12 || n > 64)
        return 1;
    if (cache_usable(s)) {
        int found = 0;
        for (size_t i = 0; i < s->n_cache; i++) {
            if (strncmp(s->cache[i]->id + 7, hex, n) == 0) {
                snprintf(id, cap, "%s", s->cache[i]->id);
                found++;
            }
        }
        return found == 1 ? 0 : 1;
    }
    char pattern[80];
    snprintf(pattern, sizeof pattern, "sha256:%s%%", hex);
    sqlite3_stmt *st = prep(s, "SELECT id FROM images WHERE id LIKE ?1 LIMIT 2");
    if (!st)
        return 1;
    bind_text(st, 1, pattern);
    int found = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(id, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        found++;
    }
    unprep(s, st);
    return found == 1 ? 0 : 1;
}

static int id_by_ref(img_store *s, const img_ref *ref, char *id, size_t cap)
{
    char name[1200];
    if (ref->digest)
        snprintf(name, sizeof name, "%s/%s@%s", ref->domain, ref->path, ref->digest);
    else
        snprintf(name, sizeof name, "%s/%s:%s", ref->domain, ref->path, ref->tag);
    if (cache_usable(s)) {
        for (size_t i = 0; i < s->n_cache; i++) {
            const img_image *img = s->cache[i];
            char *const *v = ref->digest ? img->repo_digests : img->repo_tags;
            size_t nv = ref->digest ? img->n_repo_digests : img->n_repo_tags;
            for (size_t k = 0; k < nv; k++) {
                if (strcmp(v[k], name) == 0) {
                    snprintf(id, cap, "%s", img->id);
                    return 0;
                }
            }
        }
        return 1;
    }
    sqlite3_stmt *st = prep(s, "SELECT image_id FROM refs WHERE name = ?1");
    if (!st)
        return 1;
    bind_text(st, 1, name);
    int rc = 1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(id, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    unprep(s, st);
    return rc;
}

/* Resolves under db_lock. 0 found, 1 absent, -1 malformed (err set). */
static int resolve_locked(img_store *s, const char *q, char *id, size_t cap, wc_err *err)
{
    if (!q || !*q)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "image reference is empty");
    if (strncmp(q, "sha256:", 7) == 0 && id_by_hex(s, q, id, cap) == 0)
        return 0;
    img_ref ref;
    wc_err perr = {0};
    if (img_ref_parse(q, &ref, &perr) == 0) {
        int rc = id_by_ref(s, &ref, id, cap);
        img_ref_clear(&ref);
        if (rc == 0)
            return 0;
    }
    if (id_by_hex(s, q, id, cap) == 0)
        return 0;
    if (perr.code != WC_OK && !(all_hex(q) && strlen(q) >= 12) && strncmp(q, "sha256:", 7) != 0) {
        *err = perr;
        return -1;
    }
    return 1;
}

/* The first column of every row st yields (NULL-terminated); *done is whether the query ran
 * to its end (no error). Resets st. */
static char **column_rows(img_store *s, sqlite3_stmt *st, size_t *n, int *done)
{
    size_t cap = 4;
    char **v = wc_xcalloc(cap, sizeof *v);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n + 1 >= cap) {
            cap *= 2;
            v = wc_xrealloc(v, cap * sizeof *v);
        }
        v[(*n)++] = wc_xstrdup((const char *)sqlite3_column_text(st, 0));
        v[*n] = NULL;
    }
    unprep(s, st);
    *done = rc == SQLITE_DONE;
    return v;
}

static char **column_list(img_store *s, const char *sql, const char *id, size_t *n)
{
    sqlite3_stmt *st = prep(s, sql);
    *n = 0;
    if (!st)
        return wc_xcalloc(1, sizeof(char *));
    bind_text(st, 1, id);
    int done;
    return column_rows(s, st, n, &done);
}

/* uid / username from the config's User ("1000", "1000:1000", "nobody", "nobody:x"). */
static void parse_user(img_image *img)
{
    img->uid = -1;
    json_t *cfg = json_loads(img->config_json, 0, NULL);
    const char *user = json_string_value(json_object_get(json_object_get(cfg, "config"), "User"));
    char u[256] = "";
    if (user)
        snprintf(u, sizeof u, "%.*s", (int)strcspn(user, ":"), user);
    int numeric = u[0] != '\0';
    for (const char *c = u; *c; c++)
        numeric &= isdigit((unsigned char)*c) != 0;
    if (numeric)
        img->uid = strtoll(u, NULL, 10);
    img->username = wc_xstrdup(numeric ? "" : u);
    json_decref(cfg);
}

/* The image's user, parsed from its config once per image ID (the ID is the config's digest,
 * so the answer never changes). Caller holds db_lock. */
static void user_of(img_store *s, img_image *img)
{
    for (size_t i = 0; i < s->n_users; i++) {
        if (strcmp(s->users[i].id, img->id) == 0) {
            img->uid = s->users[i].uid;
            img->username = wc_xstrdup(s->users[i].username);
            return;
        }
    }
    parse_user(img);
    if (strlen(img->id) >= sizeof s->users[0].id)
        return;
    if (s->n_users == s->cap_users) {
        size_t cap = s->cap_users ? s->cap_users * 2 : 16;
        img_user *u = wc_xrealloc(s->users, cap * sizeof *u);
        s->users = u;
        s->cap_users = cap;
    }
    img_user *u = &s->users[s->n_users++];
    snprintf(u->id, sizeof u->id, "%s", img->id);
    u->uid = img->uid;
    u->username = wc_xstrdup(img->username);
}

/* Forgets a removed image's user. Caller holds db_lock. */
static void forget_user(img_store *s, const char *id)
{
    for (size_t i = 0; i < s->n_users; i++) {
        if (strcmp(s->users[i].id, id) == 0) {
            free(s->users[i].username);
            s->users[i] = s->users[--s->n_users];
            return;
        }
    }
}

static img_image *load_locked(img_store *s, const char *id)
{
    sqlite3_stmt *st = prep(s, "SELECT manifest_digest, size, config FROM images WHERE id = ?1");
    if (!st)
        return NULL;
    bind_text(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        unprep(s, st);
        return NULL;
    }
    img_image *img = wc_xcalloc(1, sizeof *img);
    img->id = wc_xstrdup(id);
    img->manifest_digest = wc_xstrdup((const char *)sqlite3_column_text(st, 0));
    img->size = (uint64_t)sqlite3_column_int64(st, 1);
    img->config_json = wc_xstrdup((const char *)sqlite3_column_text(st, 2));
    unprep(s, st);
    img->repo_tags = column_list(s,
                                 "SELECT name FROM refs WHERE image_id = ?1 AND kind = 0"
                                 " ORDER BY name",
                                 id, &img->n_repo_tags);
    img->repo_digests = column_list(s,
                                    "SELECT name FROM refs WHERE image_id = ?1 AND kind = 1"
                                    " ORDER BY name",
                                    id, &img->n_repo_digests);
    img->chain_ids = column_list(s,
                                 "SELECT chain_id FROM image_layers WHERE image_id = ?1"
                                 " ORDER BY idx",
                                 id, &img->n_layers);
    img->layer_dirs = wc_xcalloc(img->n_layers + 1, sizeof *img->layer_dirs);
    for (size_t i = 0; i < img->n_layers; i++)
        img->layer_dirs[i] = img_layer_path(s, img->chain_ids[i]);
    user_of(s, img);
    return img;
}

/* ---- Loaded images, cached ---- */

static char **strv_dup(char *const *v, size_t n)
{
    char **out = wc_xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = wc_xstrdup(v[i]);
    return out;
}

static img_image *image_dup(const img_image *in)
{
    img_image *c = wc_xcalloc(1, sizeof *c);
    *c = *in;
    c->id = wc_xstrdup(in->id);
    c->repo_tags = strv_dup(in->repo_tags, in->n_repo_tags);
    c->repo_digests = strv_dup(in->repo_digests, in->n_repo_digests);
    c->username = wc_xstrdup(in->username);
    c->config_json = wc_xstrdup(in->config_json);
    c->manifest_digest = wc_xstrdup(in->manifest_digest);
    c->layer_dirs = strv_dup(in->layer_dirs, in->n_layers);
    c->chain_ids = strv_dup(in->chain_ids, in->n_layers);
    return c;
}

static void cache_clear(img_store *s)
{
    for (size_t i = 0; i < s->n_cache; i++)
        img_image_free(s->cache[i]);
    s->n_cache = 0;
    s->cache_complete = 0;
}

/* Drops what a commit since made stale. Caller holds db_lock. */
static void cache_check(img_store *s)
{
    if (s->cache_gen != s->image_gen) {
        cache_clear(s);
        s->cache_gen = s->image_gen;
    }
}

/* Appends img, which the cache now owns. */
static void cache_push(img_store *s, img_image *img)
{
    if (s->n_cache == s->cap_cache) {
        s->cap_cache = s->cap_cache ? 2 * s->cap_cache : 16;
        s->cache = wc_xrealloc(s->cache, s->cap_cache * sizeof *s->cache);
    }
    s->cache[s->n_cache++] = img;
}

static void cache_add(img_store *s, const img_image *img)
{
    cache_push(s, image_dup(img));
}

static void free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The ids of every image, oldest first (ListImages' order); NULL if the query failed. */
static char **all_image_ids(img_store *s, size_t *n)
{
    sqlite3_stmt *st = prep(s, "SELECT id FROM images ORDER BY created_ns");
    *n = 0;
    if (!st)
        return NULL;
    int done;
    char **v = column_rows(s, st, n, &done);
    if (!done) {
        free_strv(v, *n);
        *n = 0;
        return NULL;
    }
    return v;
}

/* Loads every image into the cache unless it holds them all already. If the database cannot
 * be read (err says why, err may be NULL) the cache stays empty and incomplete, and look-ups
 * go to SQL. Caller holds db_lock. */
static int cache_fill(img_store *s, wc_err *err)
{
    cache_check(s);
    if (s->cache_complete)
        return 0;
    read_begin(s);
    size_t count = 0;
    char **ids = all_image_ids(s, &count);
    int rc = ids ? 0 : db_fail(s, err, "list images");
    cache_clear(s);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        img_image *img = load_locked(s, ids[i]);
        if (img)
            cache_push(s, img);
        else
            rc = db_fail(s, err, "load image");
    }
    if (rc < 0)
        cache_clear(s);
    s->cache_complete = rc == 0;
    read_end(s);
    free_strv(ids, count);
    return rc;
}

/* Every image in memory (filled on first use after a start or a failed commit): look-ups then
 * run no SQL and open no read transaction. */
static int cache_usable(img_store *s)
{
    return cache_fill(s, NULL) == 0;
}

/* A copy of image id, from the cache or the database. Caller holds db_lock. */
static img_image *load_cached(img_store *s, const char *id)
{
    cache_check(s);
    for (size_t i = 0; i < s->n_cache; i++)
        if (strcmp(s->cache[i]->id, id) == 0)
            return image_dup(s->cache[i]);
    img_image *img = load_locked(s, id);
    if (img) {
        s->cache_complete = 0; /* one more, out of ListImages' order */
        cache_add(s, img);
    }
    return img;
}

/* Drops name from an image's tags or digests (another image took it). */
static void drop_name(char **v, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(v[i], name) == 0) {
            free(v[i]);
            memmove(v + i, v + i + 1, (*n - i) * sizeof *v); /* the NULL end too */
            (*n)--;
            return;
        }
    }
}

/* The cache follows a committed record: the image (re)loaded in place or appended (a new
 * image is the newest), and the names it took away from others dropped there, as
 * INSERT OR REPLACE moved them. Caller holds db_lock. */
static void cache_recorded(img_store *s, const img_record *r)
{
    cache_check(s);
    img_image *img = load_locked(s, r->id);
    if (!img) {
        s->image_gen++;
        return;
    }
    size_t at = s->n_cache;
    for (size_t i = 0; i < s->n_cache; i++) {
        if (strcmp(s->cache[i]->id, r->id) == 0) {
            at = i;
            continue;
        }
        for (size_t k = 0; k < r->n_tags; k++)
            drop_name(s->cache[i]->repo_tags, &s->cache[i]->n_repo_tags, r->tags[k]);
        for (size_t k = 0; k < r->n_digests; k++)
            drop_name(s->cache[i]->repo_digests, &s->cache[i]->n_repo_digests, r->digests[k]);
    }
    if (at < s->n_cache) {
        img_image_free(s->cache[at]);
        s->cache[at] = img;
        return;
    }
    cache_add(s, img);
    img_image_free(img);
}

/* Caller holds db_lock. */
static void cache_removed(img_store *s, const char *id)
{
    cache_check(s);
    for (size_t i = 0; i < s->n_cache; i++) {
        if (strcmp(s->cache[i]->id, id) == 0) {
            img_image_free(s->cache[i]);
            memmove(s->cache + i, s->cache + i + 1, (s->n_cache - i - 1) * sizeof *s->cache);
            s->n_cache--;
            return;
        }
    }
}

int img_image_lookup(img_store *s, const char *ref_or_id, img_image **out, wc_err *err)
{
    char id[IMG_DIGEST_LEN + 8];
    *out = NULL;
    pthread_mutex_lock(&s->db_lock);
    int in_memory = cache_usable(s); /* then no SQL runs: no transaction either */
    if (!in_memory)
        read_begin(s);
    int rc = resolve_locked(s, ref_or_id, id, sizeof id, err);
    if (rc == 0)
        *out = load_cached(s, id);
    if (!in_memory)
        read_end(s);
    pthread_mutex_unlock(&s->db_lock);
    if (rc < 0)
        return -1;
    if (!*out)
        return wc_err_set(err, WC_NOT_FOUND, "image \"%s\" not found", ref_or_id);
    return 0;
}

void img_image_free(img_image *img)
{
    if (!img)
        return;
    free(img->id);
    free_strv(img->repo_tags, img->n_repo_tags);
    free_strv(img->repo_digests, img->n_repo_digests);
    free_strv(img->layer_dirs, img->n_layers);
    free_strv(img->chain_ids, img->n_layers);
    free(img->username);
    free(img->config_json);
    free(img->manifest_digest);
    free(img);
}

int img_image_list(img_store *s, const char *filter_ref, img_image ***out, size_t *n, wc_err *err)
{
    *out = NULL;
    *n = 0;
    if (filter_ref && *filter_ref) {
        img_image *one = NULL;
        wc_err e = {0};
        *out = wc_xcalloc(1, sizeof **out);
        if (img_image_lookup(s, filter_ref, &one, &e) == 0) {
            (*out)[0] = one;
            *n = 1;
        } else if (e.code != WC_NOT_FOUND) {
            free(*out);
            *out = NULL;
            *err = e;
            return -1;
        }
        return 0;
    }
    pthread_mutex_lock(&s->db_lock);
    if (cache_fill(s, err) < 0) {
        pthread_mutex_unlock(&s->db_lock);
        return wc_err_prefix(err, "ListImages");
    }
    *out = wc_xcalloc(s->n_cache + 1, sizeof **out);
    for (size_t i = 0; i < s->n_cache; i++)
        (*out)[(*n)++] = image_dup(s->cache[i]);
    pthread_mutex_unlock(&s->db_lock);
    return 0;
}

void img_image_list_free(img_image **imgs, size_t n)
{
    if (!imgs)
        return;
    for (size_t i = 0; i < n; i++)
        img_image_free(imgs[i]);
    free(imgs);
}

/* ---- Remove, holds --------------------------------------------------------------------- */

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static void strlist_add(strlist *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = wc_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = s;
}

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int layer_referenced(img_store *s, const char *chain)
{
    return has_row(s,
                   "SELECT 1 FROM image_layers WHERE chain_id = ?1 UNION ALL"
                   " SELECT 1 FROM holds WHERE chain_id = ?1 LIMIT 1",
                   chain);
}

/* Moves path into trash/ (a rename: cheap, and the name is free again at once) and adds the
 * new path to trash for the reaper. Caller holds s->lock. */
static void trash_path(img_store *s, const char *path, strlist *trash)
{
    char name[128];
    snprintf(name, sizeof name, "gc-%lu", ++s->seq);
    char *to = path_join(s->trash_dir, name);
    if (rename(path, to) == 0) {
        strlist_add(trash, to);
        return;
    }
    free(to);
    wc_err ignored = {0}; /* in place, then */
    img_remove_tree(path, &ignored);
}

/* Moves the dirs of chains (whose verified marks are gone) to trash. Caller holds s->lock. */
static void trash_layers(img_store *s, const strlist *chains, strlist *trash)
{
    for (size_t i = 0; i < chains->n; i++) {
        char *dir = img_layer_path(s, chains->v[i]);
        if (img_path_exists(dir))
            trash_path(s, dir, trash);
        free(dir);
    }
}

/* Deletes the image and, in the same transaction, the verified marks of its layers that
 * nothing else uses (no other image, no hold, no pull's lease), whose chains go to gone.
 * One commit, so one WAL sync, however many layers. Caller holds s->lock and db_lock. */
static int remove_locked(img_store *s, const char *id, strlist *gone, wc_err *err)
{
    size_t n = 0;
    char **chains = column_list(s, "SELECT chain_id FROM image_layers WHERE image_id = ?1", id, &n);
    int rc = db_exec(s, "BEGIN IMMEDIATE", err);
    if (rc == 0 && run3(s, "DELETE FROM images WHERE id = ?1", id, NULL, NULL) < 0)
        rc = db_fail(s, err, "remove image");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (img_leased_locked(s, chains[i]) || layer_referenced(s, chains[i]))
            continue;
        if (run3(s, "DELETE FROM verified_layers WHERE chain_id = ?1", chains[i], NULL, NULL) < 0)
            rc = db_fail(s, err, "remove image");
        else
            strlist_add(gone, wc_xstrdup(chains[i]));
    }
    if (rc == 0 && db_exec(s, "COMMIT", err) < 0)
        rc = -1;
    if (rc == 0)
        cache_removed(s, id);
    else
        s->image_gen++;
    if (rc < 0) {
        db_exec(s, "ROLLBACK", NULL);
        strlist_free(gone);
    } else {
        forget_user(s, id);
    }
    for (size_t i = 0; i < n; i++)
        free(chains[i]);
    free(chains);
    return rc;
}

static void reap_list(img_store *s, strlist *trash)
{
    reap(s, trash->v, trash->n);
    free(trash->v);
    memset(trash, 0, sizeof *trash);
}

int img_remove(img_store *s, const char *ref_or_id, wc_err *err)
{
    char id[IMG_DIGEST_LEN + 8];
    strlist gone = {0}, trash = {0};
    /* s->lock first, as GC takes them: no pull can lease a layer between the check and the
     * move of its dir. */
    pthread_mutex_lock(&s->lock);
    pthread_mutex_lock(&s->db_lock);
    int rc = resolve_locked(s, ref_or_id, id, sizeof id, err);
    if (rc == 0)
        rc = remove_locked(s, id, &gone, err);
    pthread_mutex_unlock(&s->db_lock);
    if (rc == 0)
        trash_layers(s, &gone, &trash);
    pthread_mutex_unlock(&s->lock);
    size_t n_layers = trash.n;
    strlist_free(&gone);
    reap_list(s, &trash);
    if (rc < 0)
        return wc_err_prefix(err, "remove image \"%s\"", ref_or_id);
    if (rc == 0) {
        wc_info(COMP, "image removed", "image=%s ref=\"%s\" layers=%zu", id, ref_or_id, n_layers);
        img_gc(s); /* its blobs, and anything else nothing uses */
    }
    return 0;
}

int img_hold(img_store *s, const char *holder, const char *image_id, wc_err *err)
{
    img_image *img;
    if (img_image_lookup(s, image_id, &img, err) < 0)
        return wc_err_prefix(err, "hold image for %s", holder);
    /* One transaction (one WAL sync) for all the layers, made durable before the container
     * exists: a hold lost in a crash would let GC take layers a container runs on. */
    pthread_mutex_lock(&s->db_lock);
    int rc = db_exec(s, "BEGIN IMMEDIATE", err);
    for (size_t i = 0; i < img->n_layers && rc == 0; i++)
        if (run3(s, "INSERT OR IGNORE INTO holds(holder, image_id, chain_id) VALUES(?1, ?2, ?3)",
                 holder, img->id, img->chain_ids[i]) < 0)
            rc = db_fail(s, err, "record hold");
    if (rc == 0)
        rc = db_exec(s, "COMMIT", err);
    if (rc < 0)
        db_exec(s, "ROLLBACK", NULL);
    pthread_mutex_unlock(&s->db_lock);
    img_image_free(img);
    return rc;
}

static int has_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int any = 0;
    while (d && !any && (e = readdir(d)) != NULL)
        any = e->d_name[0] != '.';
    if (d)
        closedir(d);
    return any;
}

int img_release(img_store *s, const char *holder, wc_err *err)
{
    pthread_mutex_lock(&s->db_lock);
    /* Only a layer no image lists any more (its image removed while held) or a quarantined
     * dir can be collected when its last hold goes; otherwise the walk of the store is
     * skipped. */
    int orphans = has_row(s,
                          "SELECT 1 FROM holds h WHERE h.holder = ?1 AND NOT EXISTS"
                          " (SELECT 1 FROM image_layers l WHERE l.chain_id = h.chain_id) LIMIT 1",
                          holder);
    /* Not synced: a release lost with the machine leaves a hold no container owns, which
     * keeps some layers a little longer (the next start prunes it, img_holds_prune); the WAL
     * stays consistent and the next synced commit makes this one durable too. */
    db_exec(s, "PRAGMA synchronous=NORMAL", NULL);
    int rc = run3(s, "DELETE FROM holds WHERE holder = ?1", holder, NULL, NULL);
    int changed = sqlite3_changes(s->db);
    if (rc < 0)
        db_fail(s, err, "drop holds");
    db_exec(s, "PRAGMA synchronous=FULL", NULL);
    pthread_mutex_unlock(&s->db_lock);
    if (rc == 0 && changed > 0 && (orphans || has_entries(s->quarantine_dir)))
        img_gc(s);
    return rc;
}

size_t img_holds_prune(img_store *s, int (*owned)(void *ctx, const char *holder), void *ctx)
{
    pthread_mutex_lock(&s->db_lock);
    size_t n = 0;
    int done;
    sqlite3_stmt *st = prep(s, "SELECT DISTINCT holder FROM holds");
    char **holders = st ? column_rows(s, st, &n, &done) : NULL;
    pthread_mutex_unlock(&s->db_lock);
    /* owned() looks at the pod records: asked without the store's lock held */
    size_t pruned = 0;
    for (size_t i = 0; i < n; i++) {
        if (owned(ctx, holders[i]))
            continue;
        pthread_mutex_lock(&s->db_lock);
        int rc = run3(s, "DELETE FROM holds WHERE holder = ?1", holders[i], NULL, NULL);
        pthread_mutex_unlock(&s->db_lock);
        if (rc == 0) {
            wc_info(COMP, "dropped the hold of a container that no longer exists", "holder=%.12s",
                    holders[i]);
            pruned++;
        }
    }
    free_strv(holders, n);
    if (pruned)
        img_gc(s);
    return pruned;
}

/* ---- Garbage collection ---------------------------------------------------------------- */

static int blob_referenced(img_store *s, const char *digest)
{
    return has_row(s,
                   "SELECT 1 FROM image_blobs WHERE digest = ?1 UNION ALL"
                   " SELECT 1 FROM image_layers WHERE blob_digest = ?1 LIMIT 1",
                   digest);
}

/* The marks go before the dirs, so a crash in between leaves unmarked dirs, not marks for
 * dirs that are gone or half removed; all of them in one transaction (one WAL sync), and
 * none when no chain has a mark. 0 when the dirs may go. Caller holds s->lock. */
static int drop_verified_marks(img_store *s, const strlist *chains)
{
    pthread_mutex_lock(&s->db_lock);
    int marked = 0;
    for (size_t i = 0; i < chains->n && !marked; i++)
        marked = has_row(s, "SELECT 1 FROM verified_layers WHERE chain_id = ?1", chains->v[i]);
    int rc = marked ? db_exec(s, "BEGIN IMMEDIATE", NULL) : 0;
    for (size_t i = 0; marked && rc == 0 && i < chains->n; i++)
        rc = run3(s, "DELETE FROM verified_layers WHERE chain_id = ?1", chains->v[i], NULL, NULL);
    if (marked && rc == 0)
        rc = db_exec(s, "COMMIT", NULL);
    if (marked && rc < 0)
        db_exec(s, "ROLLBACK", NULL);
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

/* Quarantined dirs go once no container holds their chain. Caller holds s->lock. */
static void sweep_quarantine(img_store *s, strlist *trash, int *count)
{
    DIR *d = opendir(s->quarantine_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char key[IMG_DIGEST_LEN + 8]; /* names are "<chain hex>-<n>" */
        snprintf(key, sizeof key, "sha256:%.*s", (int)strcspn(e->d_name, "-"), e->d_name);
        pthread_mutex_lock(&s->db_lock);
        int held = has_row(s, "SELECT 1 FROM holds WHERE chain_id = ?1 LIMIT 1", key);
        pthread_mutex_unlock(&s->db_lock);
        if (held)
            continue;
        char *path = path_join(s->quarantine_dir, e->d_name);
        trash_path(s, path, trash);
        free(path);
        (*count)++;
    }
    if (d)
        closedir(d);
}

/* Keys (sha256:<name>) of the entries of dir that nothing references or leases. Caller
 * holds s->lock. */
static void unused_entries(img_store *s, const char *dir, int layers, strlist *out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char key[IMG_DIGEST_LEN + 8];
        snprintf(key, sizeof key, "sha256:%.64s", e->d_name);
        if (img_leased_locked(s, key))
            continue;
        pthread_mutex_lock(&s->db_lock);
        int used = layers ? layer_referenced(s, key) : blob_referenced(s, key);
        pthread_mutex_unlock(&s->db_lock);
        if (!used)
            strlist_add(out, wc_xstrdup(key));
    }
    if (d)
        closedir(d);
}

void img_gc(img_store *s)
{
    strlist trash = {0}, layers = {0}, blobs = {0};
    int n_quarantine = 0;
    pthread_mutex_lock(&s->lock);
    unused_entries(s, s->layers_dir, 1, &layers);
    if (layers.n && drop_verified_marks(s, &layers) == 0)
        trash_layers(s, &layers, &trash);
    size_t n_layers = trash.n;
    unused_entries(s, s->blobs_dir, 0, &blobs);
    for (size_t i = 0; i < blobs.n; i++) {
        char *path = img_blob_path(s, blobs.v[i]);
        trash_path(s, path, &trash);
        free(path);
    }
    size_t n_blobs = trash.n - n_layers;
    sweep_quarantine(s, &trash, &n_quarantine);
    pthread_mutex_unlock(&s->lock);
    if (n_blobs || n_layers || n_quarantine)
        wc_info(COMP, "garbage collected", "blobs=%zu layers=%zu", n_blobs,
                n_layers + (size_t)n_quarantine);
    strlist_free(&layers);
    strlist_free(&blobs);
    reap_list(s, &trash);
    img_usage_invalidate(s);
}

/* ---- Usage ----------------------------------------------------------------------------- */

void img_usage_invalidate(img_store *s)
{
    pthread_mutex_lock(&s->lock);
    s->usage_valid = 0;
    pthread_mutex_unlock(&s->lock);
}

void img_fs_usage_clear(img_fs_usage *u)
{
    free(u->mountpoint);
    memset(u, 0, sizeof *u);
}

int img_dir_usage(const char *dir, img_fs_usage *out, wc_err *err)
{
    return img_fs_measure(dir, out, err);
}

int img_store_usage(img_store *s, img_fs_usage *out, wc_err *err)
{
    int64_t now = wc_clock_monotonic_ns();
    pthread_mutex_lock(&s->lock);
    if (s->usage_valid && now - s->usage_at_ns < USAGE_CACHE_NS) {
        *out = s->usage;
        out->mountpoint = wc_xstrdup(s->usage.mountpoint);
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    pthread_mutex_unlock(&s->lock);
    img_fs_usage u;
    if (img_fs_measure(s->dir, &u, err) < 0) {
        img_fs_usage_clear(&u);
        return -1;
    }
    pthread_mutex_lock(&s->lock);
    img_fs_usage_clear(&s->usage);
    s->usage = u;
    s->usage.mountpoint = wc_xstrdup(u.mountpoint);
    s->usage_at_ns = now;
    s->usage_valid = 1;
    pthread_mutex_unlock(&s->lock);
    *out = u;
    return 0;
}
