/* The pod model's test fixture (podtest.h). */
#include "tests/unit/podtest.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/crash.h"
#include "common/fs.h"
#include "common/log.h"
#include "podsandbox/platform.h"

static void remove_dir(const char *path)
{
    wc_err err = {0};
    pod_platform_remove_tree(path, &err);
}

int pt_try_open(podtest *t, wc_err *err)
{
    return pod_manager_open(t->cfg, NULL, NULL, &t->pm, err);
}

void pt_open(podtest *t)
{
    wc_err err = {0};
    if (pt_try_open(t, &err) < 0)
        fail_msg("pod_manager_open: %s", err.msg);
}

void pt_close(podtest *t)
{
    pod_manager_close(t->pm);
    t->pm = NULL;
}

void pt_reopen(podtest *t)
{
    pt_close(t);
    pt_open(t);
}

int pt_setup(void **state)
{
    /* Warnings are what recovery says about what it finds; WINCRI_TEST_LOG=debug shows all. */
    const char *lvl = getenv("WINCRI_TEST_LOG");
    wc_log_level level = WC_LOG_ERROR;
    if (lvl)
        wc_log_parse_level(lvl, &level);
    wc_log_set_level(level);
    fake_reset();
    podtest *t = calloc(1, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/wincri-podtest-XXXXXX");
    if (!mkdtemp(t->dir))
        fail_msg("mkdtemp failed");
    char text[2048];
    snprintf(text, sizeof text,
             "{\"root\": \"%s/root\", \"state\": \"%s/state\", \"cni_conf_dir\": \"%s/cni\","
             " \"default_runtime_handler\": \"runc\", \"runtime_handlers\":"
             " {\"runc\": {\"runtime\": \"runc\"}, \"spare\": {\"runtime\": \"runc\"}}}",
             t->dir, t->dir, t->dir);
    wc_err err = {0};
    if (wc_config_parse(text, "(podtest)", &t->cfg, &err) < 0)
        fail_msg("config: %s", err.msg);
    snprintf(t->root, sizeof t->root, "%s", t->cfg->root_dir);
    if (wc_mkdir_p(t->cfg->root_dir, 0700, &err) < 0 || wc_mkdir_p(t->cfg->state_dir, 0700, &err))
        fail_msg("dirs: %s", err.msg);
    pt_open(t);
    *state = t;
    return 0;
}

int pt_teardown(void **state)
{
    podtest *t = *state;
    pt_close(t);
    wc_config_free(t->cfg);
    remove_dir(t->dir);
    free(t);
    return 0;
}

/* ---- configs ---- */

static pod_sandbox_config *sandbox_from(json_t *j)
{
    pod_sandbox_config *c = NULL;
    wc_err err = {0};
    if (!j || pod_sandbox_config_from_json(j, &c, &err) < 0)
        fail_msg("sandbox config: %s", err.msg);
    json_decref(j);
    return c;
}

pod_sandbox_config *pt_sandbox_config(const char *name, uint32_t attempt)
{
    return sandbox_from(json_pack("{s:s,s:s,s:s,s:I,s:s,s:s}", "name", name, "namespace", "default",
                                  "uid", "uid-1", "attempt", (json_int_t)attempt, "hostname",
                                  "podhost", "log_directory", "/var/log/pods/x"));
}

pod_sandbox_config *pt_sandbox_config_host_network(const char *name)
{
    return sandbox_from(json_pack("{s:s,s:s,s:s,s:{s:b,s:{s:b,s:i,s:i,s:i}}}", "name", name,
                                  "namespace", "default", "uid", "uid-1", "linux_security", "set",
                                  1, "ns", "set", 1, "network", POD_NS_NODE, "pid",
                                  POD_NS_CONTAINER, "ipc", POD_NS_POD));
}

pod_container_config *pt_container_config_json(const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    pod_container_config *c = NULL;
    wc_err err = {0};
    if (!j || pod_container_config_from_json(j, &c, &err) < 0)
        fail_msg("container config %s: %s %s", json, je.text, err.msg);
    json_decref(j);
    return c;
}

pod_container_config *pt_container_config(const char *name, uint32_t attempt)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"name\": \"%s\", \"attempt\": %u, \"image\": \"busybox\","
             " \"command\": [\"/bin/sleep\"], \"args\": [\"3600\"], \"log_path\": \"%s/0.log\"}",
             name, attempt, name);
    return pt_container_config_json(json);
}

/* ---- doing things ---- */

char *pt_run_pod(podtest *t, const char *name)
{
    pod_sandbox_config *c = pt_sandbox_config(name, 0);
    char *id = NULL;
    wc_err err = {0};
    if (pod_sandbox_run(t->pm, c, "", &id, &err) < 0)
        fail_msg("RunPodSandbox %s: %s", name, err.msg);
    pod_sandbox_config_unref(c);
    return id;
}

char *pt_create(podtest *t, const char *sandbox_id, const char *name)
{
    pod_container_config *c = pt_container_config(name, 0);
    char *id = NULL;
    wc_err err = {0};
    if (pod_container_create(t->pm, sandbox_id, c, &id, &err) < 0)
        fail_msg("CreateContainer %s: %s", name, err.msg);
    pod_container_config_unref(c);
    return id;
}

char *pt_create_started(podtest *t, const char *sandbox_id, const char *name)
{
    char *id = pt_create(t, sandbox_id, name);
    wc_err err = {0};
    if (pod_container_start(t->pm, id, &err) < 0)
        fail_msg("StartContainer %s: %s", name, err.msg);
    return id;
}

/* ---- what the model says ---- */

static pod_container_info *info(podtest *t, const char *id)
{
    pod_container_info *i = NULL;
    wc_err err = {0};
    if (pod_container_get(t->pm, id, &i, &err) < 0)
        fail_msg("ContainerStatus %.12s: %s", id, err.msg);
    return i;
}

pod_container_state pt_state(podtest *t, const char *id)
{
    pod_container_info *i = info(t, id);
    pod_container_state st = i->state;
    pod_container_info_free(i);
    return st;
}

int pt_exit_code(podtest *t, const char *id)
{
    pod_container_info *i = info(t, id);
    int code = i->exit_code;
    pod_container_info_free(i);
    return code;
}

char *pt_reason(podtest *t, const char *id)
{
    pod_container_info *i = info(t, id);
    char *r = strdup(i->reason);
    pod_container_info_free(i);
    return r;
}

int pt_sandbox_ready(podtest *t, const char *id)
{
    pod_sandbox_info *i = NULL;
    wc_err err = {0};
    if (pod_sandbox_get(t->pm, id, &i, &err) < 0)
        fail_msg("PodSandboxStatus %.12s: %s", id, err.msg);
    int ready = i->state == POD_SANDBOX_READY;
    pod_sandbox_info_free(i);
    return ready;
}

size_t pt_n_sandboxes(podtest *t)
{
    pod_sandbox_info **list = NULL;
    size_t n = 0;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_list(t->pm, &list, &n, &err), 0);
    pod_sandbox_list_free(list, n);
    return n;
}

size_t pt_n_containers(podtest *t)
{
    pod_container_info **list = NULL;
    size_t n = 0;
    wc_err err = {0};
    assert_int_equal(pod_container_list(t->pm, &list, &n, &err), 0);
    pod_container_list_free(list, n);
    return n;
}

/* ---- the store ---- */

static sqlite3 *db_open(podtest *t)
{
    char path[512];
    snprintf(path, sizeof path, "%s/pods.db", t->root);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        fail_msg("cannot open %s", path);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

int pt_db_count(podtest *t, const char *table, const char *id)
{
    sqlite3 *db = db_open(t);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s%s", table, id ? " WHERE id = ?" : "");
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (id)
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

char *pt_db_text(podtest *t, const char *table, const char *id, const char *column)
{
    sqlite3 *db = db_open(t);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE id = ?", column, table);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    char *text = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        text = strdup(v ? (const char *)v : "");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return text;
}

void pt_db_exec(podtest *t, const char *sql)
{
    sqlite3 *db = db_open(t);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* ---- the disk ---- */

static void dir_path(podtest *t, const char *sub, const char *id, char *out, size_t len)
{
    if (strcmp(sub, "bundles") == 0)
        snprintf(out, len, "%s/bundles/%s", t->cfg->state_dir, id);
    else
        snprintf(out, len, "%s/%s/%s", t->root, sub, id);
}

int pt_dir_exists(podtest *t, const char *sub, const char *id)
{
    char path[512];
    dir_path(t, sub, id, path, sizeof path);
    struct stat st;
    return stat(path, &st) == 0;
}

void pt_make_dir(podtest *t, const char *sub, const char *id)
{
    char path[512];
    dir_path(t, sub, id, path, sizeof path);
    wc_err err = {0};
    if (wc_mkdir_p(path, 0700, &err) < 0)
        fail_msg("%s", err.msg);
}

/* ---- nothing left ---- */

void pt_assert_container_gone(podtest *t, const char *id)
{
    pod_container_info *i = NULL;
    wc_err err = {0};
    assert_int_equal(pod_container_get(t->pm, id, &i, &err), -1);
    assert_int_equal(err.code, WC_NOT_FOUND);
    assert_int_equal(pt_db_count(t, "containers", id), 0);
    if (fake_ctr_status(id) != HCS_MISSING)
        fail_msg("the backend still holds container %.12s\n%s", id, fake_log_text());
    assert_int_equal(fake_holds(id), 0);
    assert_int_equal(fake_stdio_holds(id), 0);
    assert_false(pt_dir_exists(t, "containers", id));
    assert_false(pt_dir_exists(t, "bundles", id));
}

void pt_assert_sandbox_gone(podtest *t, const char *id)
{
    pod_sandbox_info *i = NULL;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_get(t->pm, id, &i, &err), -1);
    assert_int_equal(err.code, WC_NOT_FOUND);
    assert_int_equal(pt_db_count(t, "sandboxes", id), 0);
    char netns[256];
    snprintf(netns, sizeof netns, "/run/netns/fake-%s", id);
    if (fake_netns_exists(netns) || fake_netns_attached(netns))
        fail_msg("pod %.12s left its network: exists %d, attached %d\n%s", id,
                 fake_netns_exists(netns), fake_netns_attached(netns), fake_log_text());
    assert_false(fake_sandbox_set_up(id));
    assert_false(pt_dir_exists(t, "sandboxes", id));
}

/* ---- crashes ---- */

void pt_crash_in_child(podtest *t, const char *point, pt_child_fn fn, void *arg)
{
    pt_close(t);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* No cmocka here: a failed assert would go on to run the parent's remaining cases. */
        setenv("WINCRI_CRASH_AT", point, 1);
        wc_crash_init();
        wc_err err = {0};
        if (pt_try_open(t, &err) < 0)
            _exit(3);
        _exit(fn(t, arg) < 0 ? 4 : 5); /* 5: the point was never reached */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the child was not killed at %s: exit status %d (3: open failed, 4: a call "
                 "failed, 5: the point was not reached)",
                 point, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    pt_open(t);
}

/* ---- events ---- */

void pt_events(pod_event_sub *sub, const char *id, char *out, size_t max)
{
    static const char letters[] = "CSXD";
    size_t n = 0;
    pod_event e;
    while (n + 1 < max && pod_events_next(sub, &e, 0))
        if (strcmp(e.container_id, id) == 0)
            out[n++] = letters[e.type];
    out[n] = '\0';
}
