/* SQLite persistence of pods and containers. Each row carries the pod model's config as
 * JSON (podconfig.c), so labels and annotations come back exactly as sent. Rows written by
 * wincri 0.1 carry protobuf bytes instead: the caller's legacy decoder reads them once and
 * they are rewritten as JSON. Columns are always named, never taken by position. */
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "podsandbox/model.h"

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS sandboxes ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, namespace TEXT NOT NULL, uid TEXT NOT NULL,"
    " attempt INTEGER NOT NULL, state INTEGER NOT NULL, created_ns INTEGER NOT NULL,"
    " handler TEXT NOT NULL, netns TEXT NOT NULL, cni_result TEXT NOT NULL,"
    " dir TEXT NOT NULL, ips TEXT NOT NULL, config BLOB NOT NULL,"
    " intent TEXT NOT NULL DEFAULT '');"
    "CREATE UNIQUE INDEX IF NOT EXISTS sandbox_names ON sandboxes(name, namespace, attempt);"
    "CREATE TABLE IF NOT EXISTS containers ("
    " id TEXT PRIMARY KEY, sandbox_id TEXT NOT NULL, name TEXT NOT NULL,"
    " attempt INTEGER NOT NULL, state INTEGER NOT NULL, created_ns INTEGER NOT NULL,"
    " started_ns INTEGER NOT NULL, finished_ns INTEGER NOT NULL, exit_code INTEGER NOT NULL,"
    " reason TEXT NOT NULL, message TEXT NOT NULL, image TEXT NOT NULL,"
    " image_id TEXT NOT NULL, image_ref TEXT NOT NULL, log_path TEXT NOT NULL,"
    " pid INTEGER NOT NULL, spec TEXT NOT NULL, config BLOB NOT NULL,"
    " intent TEXT NOT NULL DEFAULT '');"
    "CREATE UNIQUE INDEX IF NOT EXISTS container_names ON containers(sandbox_id, name, attempt);";

static int db_fail(pod_manager *pm, wc_err *err, const char *what)
{
    return wc_err_set(err, WC_INTERNAL, "pod store (%s/pods.db): %s: %s", pm->cfg->root_dir, what,
                      sqlite3_errmsg(pm->db));
}

/* Stores written before intents were recorded get the column (empty: nothing in progress). */
static int ensure_intent_column(pod_manager *pm, const char *table, wc_err *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT intent FROM %s LIMIT 0", table);
    sqlite3_stmt *st = NULL;
    int have = sqlite3_prepare_v2(pm->db, sql, -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    if (have)
        return 0;
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN intent TEXT NOT NULL DEFAULT ''", table);
    if (sqlite3_exec(pm->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(pm, err, "adding the intent column");
    return 0;
}

int pod_store_open(pod_manager *pm, wc_err *err)
{
    char *path = wc_path_join(pm->cfg->root_dir, "pods.db");
    if (wc_sqlite_private(path, err) < 0) {
        free(path);
        return -1;
    }
    int rc = sqlite3_open_v2(
        path, &pm->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    free(path);
    if (rc != SQLITE_OK)
        return db_fail(pm, err, "open");
    sqlite3_busy_timeout(pm->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(pm->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        wc_err_set(err, WC_INTERNAL, "pod store: cannot create schema: %s", msg);
        sqlite3_free(msg);
        return -1;
    }
    if (ensure_intent_column(pm, "sandboxes", err) < 0 ||
        ensure_intent_column(pm, "containers", err) < 0)
        return -1;
    pthread_mutex_init(&pm->db_mu, NULL);
    return 0;
}

void pod_store_close(pod_manager *pm)
{
    if (pm->db) {
        sqlite3_close(pm->db);
        pthread_mutex_destroy(&pm->db_mu);
    }
    pm->db = NULL;
}

static char *config_text(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

/* Runs one prepared write; the statement is finalized. */
static int step_write(pod_manager *pm, sqlite3_stmt *st, wc_err *err, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc == SQLITE_CONSTRAINT)
        return wc_err_set(err, WC_ALREADY_EXISTS, "%s: %s", what, sqlite3_errmsg(pm->db));
    return db_fail(pm, err, what);
}

#define SANDBOX_COLUMNS                                                                            \
    "id, name, namespace, uid, attempt, state, created_ns, handler, netns, cni_result, dir, ips, " \
    "config, intent"

int pod_store_put_sandbox(pod_manager *pm, const pod_sandbox *s, wc_err *err)
{
    const pod_sandbox_config *md = s->config;
    char *cfg = config_text(pod_sandbox_config_to_json(s->config));
    if (!cfg)
        return wc_err_set(err, WC_INTERNAL, "saving pod sandbox: cannot encode its config");
    pthread_mutex_lock(&pm->db_mu);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(pm->db,
                       "INSERT OR REPLACE INTO sandboxes (" SANDBOX_COLUMNS
                       ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, md->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, md->namespace_, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, md->uid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, md->attempt);
    sqlite3_bind_int(st, 6, (int)s->state);
    sqlite3_bind_int64(st, 7, s->created_ns);
    sqlite3_bind_text(st, 8, s->handler, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, s->netns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, s->cni_result, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, s->dir, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, s->ips_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, cfg, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 14, s->intent, -1, SQLITE_STATIC);
    int rc = step_write(pm, st, err, "saving pod sandbox");
    pthread_mutex_unlock(&pm->db_mu);
    free(cfg);
    return rc;
}

#define CONTAINER_COLUMNS                                                                          \
    "id, sandbox_id, name, attempt, state, created_ns, started_ns, finished_ns, exit_code, "       \
    "reason, message, image, image_id, image_ref, log_path, pid, spec, config, intent"

int pod_store_put_container(pod_manager *pm, const pod_container *c, wc_err *err)
{
    const pod_container_config *md = c->config;
    char *cfg = config_text(pod_container_config_to_json(c->config));
    if (!cfg)
        return wc_err_set(err, WC_INTERNAL, "saving container: cannot encode its config");
    pthread_mutex_lock(&pm->db_mu);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(pm->db,
                       "INSERT OR REPLACE INTO containers (" CONTAINER_COLUMNS
                       ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->sandbox_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, md->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, md->attempt);
    sqlite3_bind_int(st, 5, (int)c->state);
    sqlite3_bind_int64(st, 6, c->created_ns);
    sqlite3_bind_int64(st, 7, c->started_ns);
    sqlite3_bind_int64(st, 8, c->finished_ns);
    sqlite3_bind_int(st, 9, c->exit_code);
    sqlite3_bind_text(st, 10, c->reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, c->message, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, c->image, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, c->image_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 14, c->image_ref, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 15, c->log_path, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 16, c->pid);
    sqlite3_bind_text(st, 17, c->spec_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 18, cfg, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 19, c->intent, -1, SQLITE_STATIC);
    int rc = step_write(pm, st, err, "saving container");
    pthread_mutex_unlock(&pm->db_mu);
    free(cfg);
    return rc;
}

int pod_sandbox_record_intent(pod_manager *pm, pod_sandbox *s, const char *intent, wc_err *err)
{
    pthread_mutex_lock(&pm->mu);
    snprintf(s->intent, sizeof s->intent, "%s", intent ? intent : "");
    int rc = pod_store_put_sandbox(pm, s, err);
    pthread_mutex_unlock(&pm->mu);
    return rc;
}

int pod_container_record_intent(pod_manager *pm, pod_container *c, const char *intent, wc_err *err)
{
    pthread_mutex_lock(&pm->mu);
    snprintf(c->intent, sizeof c->intent, "%s", intent ? intent : "");
    int rc = pod_store_put_container(pm, c, err);
    pthread_mutex_unlock(&pm->mu);
    return rc;
}

static int delete_row(pod_manager *pm, const char *sql, const char *id, wc_err *err)
{
    pthread_mutex_lock(&pm->db_mu);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(pm->db, sql, -1, &st, NULL);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = step_write(pm, st, err, "deleting a record");
    pthread_mutex_unlock(&pm->db_mu);
    return rc;
}

int pod_store_delete_sandbox(pod_manager *pm, const char *id, wc_err *err)
{
    return delete_row(pm, "DELETE FROM sandboxes WHERE id = ?", id, err);
}

int pod_store_delete_container(pod_manager *pm, const char *id, wc_err *err)
{
    return delete_row(pm, "DELETE FROM containers WHERE id = ?", id, err);
}

int pod_store_has_row(pod_manager *pm, const char *table, const char *id)
{
    char sql[80];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = ?",
             strcmp(table, "sandboxes") == 0 ? "sandboxes" : "containers");
    pthread_mutex_lock(&pm->db_mu);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(pm->db, sql, -1, &st, NULL);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    pthread_mutex_unlock(&pm->db_mu);
    return found;
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return wc_xstrdup(t ? (const char *)t : "");
}

static void col_copy(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

/* The config column: JSON, or (a 0.1 row) protobuf bytes for the legacy decoder. */
static int col_config(pod_manager *pm, sqlite3_stmt *st, int i, int container, void **out,
                      int *legacy, wc_err *err)
{
    const void *bytes = sqlite3_column_blob(st, i);
    size_t len = (size_t)sqlite3_column_bytes(st, i);
    json_t *j = bytes ? json_loadb(bytes, len, 0, NULL) : NULL;
    *out = NULL;
    *legacy = j == NULL;
    int rc = 0;
    if (j) {
        rc = container ? pod_container_config_from_json(j, (pod_container_config **)out, err)
                       : pod_sandbox_config_from_json(j, (pod_sandbox_config **)out, err);
    } else if (pm->legacy) {
        *out = container ? (void *)pm->legacy->container(bytes, len)
                         : (void *)pm->legacy->sandbox(bytes, len);
    }
    json_decref(j);
    if (rc == 0 && !*out)
        rc = wc_err_set(err, WC_INTERNAL, "the stored config cannot be read");
    return rc;
}

static pod_sandbox *load_sandbox(pod_manager *pm, sqlite3_stmt *st, int *legacy, wc_err *err)
{
    pod_sandbox *s = wc_xcalloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", (const char *)sqlite3_column_text(st, 0));
    pthread_mutex_init(&s->op, NULL);
    s->state = (pod_sandbox_state)sqlite3_column_int(st, 1);
    s->created_ns = sqlite3_column_int64(st, 2);
    s->handler = col_text(st, 3);
    s->netns = col_text(st, 4);
    s->cni_result = col_text(st, 5);
    s->dir = col_text(st, 6);
    s->ips_json = col_text(st, 7);
    col_copy(st, 9, s->intent, sizeof s->intent);
    void *cfg = NULL;
    if (col_config(pm, st, 8, 0, &cfg, legacy, err) < 0) {
        pod_sandbox_free(s);
        return NULL;
    }
    s->config = cfg;
    return s;
}

static pod_container *load_container(pod_manager *pm, sqlite3_stmt *st, int *legacy, wc_err *err)
{
    pod_container *c = wc_xcalloc(1, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(c->sandbox_id, sizeof c->sandbox_id, "%s", (const char *)sqlite3_column_text(st, 1));
    pthread_mutex_init(&c->op, NULL);
    pthread_cond_init(&c->changed, NULL);
    c->state = (pod_container_state)sqlite3_column_int(st, 2);
    c->created_ns = sqlite3_column_int64(st, 3);
    c->started_ns = sqlite3_column_int64(st, 4);
    c->finished_ns = sqlite3_column_int64(st, 5);
    c->exit_code = sqlite3_column_int(st, 6);
    c->reason = col_text(st, 7);
    c->exit_known = c->state == POD_CONTAINER_EXITED && strcmp(c->reason, "Unknown") != 0;
    c->message = col_text(st, 8);
    c->image = col_text(st, 9);
    c->image_id = col_text(st, 10);
    c->image_ref = col_text(st, 11);
    c->log_path = col_text(st, 12);
    c->pid = sqlite3_column_int(st, 13);
    c->spec_json = col_text(st, 14);
    pod_user_from_spec(c->spec_json, &c->user);
    col_copy(st, 16, c->intent, sizeof c->intent);
    void *cfg = NULL;
    if (col_config(pm, st, 15, 1, &cfg, legacy, err) < 0) {
        pod_container_free(c);
        return NULL;
    }
    c->config = cfg;
    return c;
}

/* A row that cannot be read is left in place and reported: dropping it would lose whatever
 * it describes (a running container, a network to tear down). */
static void unreadable(const char *what, const char *id, const wc_err *err)
{
    wc_error("pod", "stored record cannot be read; it is kept and ignored",
             "kind=%s id=%.64s error=\"%s\"", what, id, err->msg);
}

int pod_store_load(pod_manager *pm, wc_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(pm->db,
                           "SELECT id, state, created_ns, handler, netns, cni_result, dir, ips, "
                           "config, intent FROM sandboxes ORDER BY created_ns",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(pm, err, "reading sandboxes");
    while (sqlite3_step(st) == SQLITE_ROW) {
        wc_err rerr = {0};
        int legacy = 0;
        pod_sandbox *s = load_sandbox(pm, st, &legacy, &rerr);
        if (!s) {
            unreadable("sandbox", (const char *)sqlite3_column_text(st, 0), &rerr);
            continue;
        }
        if (legacy && pod_store_put_sandbox(pm, s, &rerr) < 0)
            wc_warn("pod", "cannot rewrite a 0.1 record", "sandbox=%.12s error=\"%s\"", s->id,
                    rerr.msg);
        pod_index_add_sandbox(pm, s);
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(pm->db,
                           "SELECT id, sandbox_id, state, created_ns, started_ns, finished_ns, "
                           "exit_code, reason, message, image, image_id, image_ref, log_path, "
                           "pid, spec, config, intent FROM containers ORDER BY created_ns",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(pm, err, "reading containers");
    while (sqlite3_step(st) == SQLITE_ROW) {
        wc_err rerr = {0};
        int legacy = 0;
        pod_container *c = load_container(pm, st, &legacy, &rerr);
        if (!c) {
            unreadable("container", (const char *)sqlite3_column_text(st, 0), &rerr);
            continue;
        }
        if (legacy && pod_store_put_container(pm, c, &rerr) < 0)
            wc_warn("pod", "cannot rewrite a 0.1 record", "container=%.12s error=\"%s\"", c->id,
                    rerr.msg);
        pod_index_add_container(pm, c);
    }
    sqlite3_finalize(st);
    return 0;
}
