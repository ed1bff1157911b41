/* SQLite persistence of pods and containers. Each row carries the CRI config as protobuf
 * bytes, so labels and annotations come back exactly as sent. */
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/log.h"
#include "podsandbox/model.h"

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS sandboxes ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, namespace TEXT NOT NULL, uid TEXT NOT NULL,"
    " attempt INTEGER NOT NULL, state INTEGER NOT NULL, created_ns INTEGER NOT NULL,"
    " handler TEXT NOT NULL, netns TEXT NOT NULL, cni_result TEXT NOT NULL,"
    " dir TEXT NOT NULL, ips TEXT NOT NULL, config BLOB NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS sandbox_names ON sandboxes(name, namespace, attempt);"
    "CREATE TABLE IF NOT EXISTS containers ("
    " id TEXT PRIMARY KEY, sandbox_id TEXT NOT NULL, name TEXT NOT NULL,"
    " attempt INTEGER NOT NULL, state INTEGER NOT NULL, created_ns INTEGER NOT NULL,"
    " started_ns INTEGER NOT NULL, finished_ns INTEGER NOT NULL, exit_code INTEGER NOT NULL,"
    " reason TEXT NOT NULL, message TEXT NOT NULL, image TEXT NOT NULL,"
    " image_id TEXT NOT NULL, image_ref TEXT NOT NULL, log_path TEXT NOT NULL,"
    " pid INTEGER NOT NULL, spec TEXT NOT NULL, config BLOB NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS container_names ON containers(sandbox_id, name, attempt);";

static int db_fail(pod_manager *pm, wc_err *err, const char *what)
{
    return wc_err_set(err, WC_INTERNAL, "pod store (%s/pods.db): %s: %s", pm->cfg->root_dir, what,
                      sqlite3_errmsg(pm->db));
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

static void *pack_config(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    void *buf = malloc(*len ? *len : 1);
    protobuf_c_message_pack(m, buf);
    return buf;
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

int pod_store_put_sandbox(pod_manager *pm, const pod_sandbox *s, wc_err *err)
{
    const Runtime__V1__PodSandboxMetadata *md = s->config->metadata;
    size_t len;
    void *cfg = pack_config(&s->config->base, &len);
    pthread_mutex_lock(&pm->db_mu);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(pm->db,
                       "INSERT OR REPLACE INTO sandboxes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", -1,
                       &st, NULL);
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
    sqlite3_bind_blob(st, 13, cfg, (int)len, SQLITE_STATIC);
    int rc = step_write(pm, st, err, "saving pod sandbox");
    pthread_mutex_unlock(&pm->db_mu);
    free(cfg);
    return rc;
}

int pod_store_put_container(pod_manager *pm, const pod_container *c, wc_err *err)
{
    const Runtime__V1__ContainerMetadata *md = c->config->metadata;
    size_t len;
    void *cfg = pack_config(&c->config->base, &len);
    pthread_mutex_lock(&pm->db_mu);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(
        pm->db, "INSERT OR REPLACE INTO containers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
    sqlite3_bind_blob(st, 18, cfg, (int)len, SQLITE_STATIC);
    int rc = step_write(pm, st, err, "saving container");
    pthread_mutex_unlock(&pm->db_mu);
    free(cfg);
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

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return strdup(t ? (const char *)t : "");
}

static void *col_unpack(sqlite3_stmt *st, int i, const ProtobufCMessageDescriptor *desc)
{
    return protobuf_c_message_unpack(desc, NULL, (size_t)sqlite3_column_bytes(st, i),
                                     sqlite3_column_blob(st, i));
}

static pod_sandbox *load_sandbox(sqlite3_stmt *st)
{
    pod_sandbox *s = calloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", (const char *)sqlite3_column_text(st, 0));
    pthread_mutex_init(&s->op, NULL);
    s->state = (pod_sandbox_state)sqlite3_column_int(st, 5);
    s->created_ns = sqlite3_column_int64(st, 6);
    s->handler = col_text(st, 7);
    s->netns = col_text(st, 8);
    s->cni_result = col_text(st, 9);
    s->dir = col_text(st, 10);
    s->ips_json = col_text(st, 11);
    s->config = col_unpack(st, 12, &runtime__v1__pod_sandbox_config__descriptor);
    return s;
}

static pod_container *load_container(sqlite3_stmt *st)
{
    pod_container *c = calloc(1, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(c->sandbox_id, sizeof c->sandbox_id, "%s", (const char *)sqlite3_column_text(st, 1));
    pthread_mutex_init(&c->op, NULL);
    pthread_cond_init(&c->changed, NULL);
    c->state = (pod_container_state)sqlite3_column_int(st, 4);
    c->created_ns = sqlite3_column_int64(st, 5);
    c->started_ns = sqlite3_column_int64(st, 6);
    c->finished_ns = sqlite3_column_int64(st, 7);
    c->exit_code = sqlite3_column_int(st, 8);
    c->reason = col_text(st, 9);
    c->message = col_text(st, 10);
    c->image = col_text(st, 11);
    c->image_id = col_text(st, 12);
    c->image_ref = col_text(st, 13);
    c->log_path = col_text(st, 14);
    c->pid = sqlite3_column_int(st, 15);
    c->spec_json = col_text(st, 16);
    pod_user_from_spec(c->spec_json, &c->user);
    c->config = col_unpack(st, 17, &runtime__v1__container_config__descriptor);
    return c;
}

int pod_store_load(pod_manager *pm, wc_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(pm->db, "SELECT * FROM sandboxes ORDER BY created_ns", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(pm, err, "reading sandboxes");
    while (sqlite3_step(st) == SQLITE_ROW) {
        pod_sandbox *s = load_sandbox(st);
        if (s->config)
            pod_index_add_sandbox(pm, s);
        else
            pod_sandbox_free(s);
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(pm->db, "SELECT * FROM containers ORDER BY created_ns", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(pm, err, "reading containers");
    while (sqlite3_step(st) == SQLITE_ROW) {
        pod_container *c = load_container(st);
        if (c->config)
            pod_index_add_container(pm, c);
        else
            pod_container_free(c);
    }
    sqlite3_finalize(st);
    return 0;
}
