/* What the pod model's unit tests (test_pod_*.c) share: a model opened on a temporary root over
 * the fake backend (fake_backend.h), configs, a direct view of its SQLite store, and crashes in a
 * child process. Every helper asserts (cmocka) unless it says it returns an error. */
#ifndef WINCRI_TESTS_PODTEST_H
#define WINCRI_TESTS_PODTEST_H

#include "tests/unit/testutil.h"

#include "podsandbox/model.h"
#include "tests/unit/fake_backend.h"

typedef struct podtest {
    char dir[256];   /* the temporary directory: root/, state/ */
    char root[300];  /* cfg->root_dir */
    wc_config *cfg;  /* handlers "runc" (the default) and "spare" */
    pod_manager *pm; /* NULL while closed */
} podtest;

/* cmocka setup/teardown for one case: fake_reset, a new root, the model opened. */
int pt_setup(void **state);
int pt_teardown(void **state);

void pt_open(podtest *t); /* runs recovery, as wincrid's start does */
void pt_close(podtest *t);
void pt_reopen(podtest *t);
/* pod_manager_open's result, for tests of a failing open. */
int pt_try_open(podtest *t, wc_err *err);

/* ---- configs (each holds one reference; the caller unrefs) ---- */
pod_sandbox_config *pt_sandbox_config(const char *name, uint32_t attempt);
pod_sandbox_config *pt_sandbox_config_host_network(const char *name);
pod_container_config *pt_container_config(const char *name, uint32_t attempt);
/* From JSON in the store's form (podconfig.h), for anything else. */
pod_container_config *pt_container_config_json(const char *json);

/* ---- doing things that must succeed (the id is the caller's to free) ---- */
char *pt_run_pod(podtest *t, const char *name);
char *pt_create(podtest *t, const char *sandbox_id, const char *name);
char *pt_create_started(podtest *t, const char *sandbox_id, const char *name);

/* ---- what the model says ---- */
pod_container_state pt_state(podtest *t, const char *container_id);
int pt_exit_code(podtest *t, const char *container_id);
/* Its reason (caller frees). */
char *pt_reason(podtest *t, const char *container_id);
int pt_sandbox_ready(podtest *t, const char *sandbox_id);
size_t pt_n_sandboxes(podtest *t);
size_t pt_n_containers(podtest *t);

/* ---- the store, read and written directly ---- */
/* Rows of table with that id (NULL: all rows). */
int pt_db_count(podtest *t, const char *table, const char *id);
/* A column of the row (caller frees; NULL when there is no row). */
char *pt_db_text(podtest *t, const char *table, const char *id, const char *column);
/* Runs SQL on the store (while the model is closed, as a killed wincrid left it). */
void pt_db_exec(podtest *t, const char *sql);

/* ---- the disk ---- */
/* 1 when <root>/<sub>/<id> (sub "sandboxes" or "containers") or <state>/bundles/<id> exists. */
int pt_dir_exists(podtest *t, const char *sub, const char *id);
void pt_make_dir(podtest *t, const char *sub, const char *id);

/* ---- nothing left of it anywhere ---- */
void pt_assert_container_gone(podtest *t, const char *id);
void pt_assert_sandbox_gone(podtest *t, const char *id);

/* ---- crashes ----
 * Closes the model, forks, and in the child opens it again with WINCRI_CRASH_AT=point and runs
 * fn (plain C, no cmocka asserts: it returns -1 on an unexpected failure). Asserts the child died
 * by SIGKILL at the point, then reopens the model in this process: recovery runs on the store
 * and the fake backend exactly as the killed process left them. */
typedef int (*pt_child_fn)(podtest *t, void *arg);
void pt_crash_in_child(podtest *t, const char *point, pt_child_fn fn, void *arg);

/* ---- events ---- */
/* The types of the events waiting on sub for container id, in order (up to max), as a string
 * of letters: C created, S started, X stopped, D deleted. */
void pt_events(pod_event_sub *sub, const char *id, char *out, size_t max);

#endif
