/* Rollback (podsandbox/sandbox.c run_reserved, container_create.c create_recorded): a failure at
 * any backend call of RunPodSandbox or CreateContainer leaves nothing behind (no record, no
 * network namespace or CNI attachment, no backend container, no image hold, no directory) and
 * the name free; the caller gets the failing call's code, with the verb and object in front.
 * Also verbs whose own clean-up fails, and RemoveContainer/RemovePodSandbox retried. */
#include "tests/unit/podtest.h"

#include <dirent.h>
#include <string.h>

/* Entries of <root>/<sub> (or <state>/bundles). */
static size_t dir_entries(podtest *t, const char *sub)
{
    char path[512];
    if (strcmp(sub, "bundles") == 0)
        snprintf(path, sizeof path, "%s/bundles", t->cfg->state_dir);
    else
        snprintf(path, sizeof path, "%s/%s", t->root, sub);
    DIR *d = opendir(path);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* A pod with an empty hostname, so the node's host name is asked for too. */
static pod_sandbox_config *pod_config(void)
{
    json_t *j = json_pack("{s:s,s:s,s:s}", "name", "web", "namespace", "default", "uid", "u1");
    pod_sandbox_config *c = NULL;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_config_from_json(j, &c, &err), 0);
    json_decref(j);
    return c;
}

/* The distinct calls in the fake's log since it was cleared, as "a b c " (first use order). */
static void calls_made(char *out, size_t len)
{
    const char *log = fake_log_text();
    out[0] = '\0';
    for (const char *line = log; *line;) {
        const char *name = strchr(line, ' ') + 1;
        size_t n = strcspn(name, " ");
        char word[64];
        snprintf(word, sizeof word, "%.*s ", (int)n, name);
        if (!strstr(out, word) && strlen(out) + strlen(word) < len)
            strcat(out, word);
        line = strchr(line, '\n') + 1;
    }
}

/* ---- RunPodSandbox ---- */

/* Every call RunPodSandbox makes below the model that can fail, in the order it makes them. */
static const char run_calls[] = "hns_netns_name pod_platform_node_hostname "
                                "pod_platform_sandbox_setup hns_netns_create hns_attach ";

static void run_pod_makes_the_calls_the_rollback_cases_cover(void **state)
{
    podtest *t = *state;
    pod_sandbox_config *c = pod_config();
    char *sid = NULL, made[512];
    wc_err err = {0};
    fake_log_clear();
    assert_int_equal(pod_sandbox_run(t->pm, c, "", &sid, &err), 0);
    calls_made(made, sizeof made);
    assert_string_equal(made, run_calls);
    pod_sandbox_config_unref(c);
    free(sid);
}

static void run_fails_at(podtest *t, const char *call, wc_code code)
{
    pod_sandbox_config *c = pod_config();
    char *sid = NULL;
    wc_err err = {0};
    fake_fail(call, 1, code);
    assert_int_equal(pod_sandbox_run(t->pm, c, "", &sid, &err), -1);
    assert_null(sid);
    /* hns_netns_name has no error of its own: the model says it got no name. */
    assert_int_equal(err.code, strcmp(call, "hns_netns_name") == 0 ? WC_INTERNAL : code);
    const char prefix[] = "RunPodSandbox default/web: ";
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    /* Nothing of it anywhere. */
    assert_int_equal(pt_db_count(t, "sandboxes", NULL), 0);
    assert_int_equal(pt_n_sandboxes(t), 0);
    if (fake_netns_count() || fake_attached_count() || fake_sandboxes_set_up())
        fail_msg("left behind: %zu namespaces, %zu attachments, %zu set-ups\n%s",
                 fake_netns_count(), fake_attached_count(), fake_sandboxes_set_up(),
                 fake_log_text());
    assert_int_equal(dir_entries(t, "sandboxes"), 0);
    /* The name is free: the same pod runs now. */
    wc_err_clear(&err);
    assert_int_equal(pod_sandbox_run(t->pm, c, "", &sid, &err), 0);
    assert_true(pt_sandbox_ready(t, sid));
    assert_int_equal(fake_netns_count(), 1);
    pod_sandbox_config_unref(c);
    free(sid);
}

#define RUN_FAILS_AT(call, code)                                                                   \
    static void run_pod_rolls_back_when_##call##_fails(void **state)                               \
    {                                                                                              \
        run_fails_at(*state, #call, code);                                                         \
    }
RUN_FAILS_AT(hns_netns_name, WC_INTERNAL)
RUN_FAILS_AT(pod_platform_node_hostname, WC_INTERNAL)
RUN_FAILS_AT(pod_platform_sandbox_setup, WC_INVALID_ARGUMENT)
RUN_FAILS_AT(hns_netns_create, WC_RESOURCE_EXHAUSTED)
RUN_FAILS_AT(hns_attach, WC_UNAVAILABLE)

/* A plugin that is missing fails DEL as it failed ADD: the rollback, whose record goes, takes the
 * namespace down all the same. */
static void run_pod_whose_cni_add_and_del_both_fail_leaves_no_namespace(void **state)
{
    podtest *t = *state;
    fake_fail("hns_attach", 1, WC_INTERNAL);
    fake_fail("hns_detach", 1, WC_INTERNAL);
    pod_sandbox_config *c = pod_config();
    char *sid = NULL;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_run(t->pm, c, "", &sid, &err), -1);
    assert_int_equal(err.code, WC_INTERNAL);
    assert_non_null(strstr(err.msg, "hns_attach"));
    assert_int_equal(fake_calls("hns_detach", NULL), 1);
    assert_int_equal(fake_netns_count(), 0);
    assert_int_equal(fake_sandboxes_set_up(), 0);
    assert_int_equal(pt_db_count(t, "sandboxes", NULL), 0);
    pod_sandbox_config_unref(c);
}

static void run_pod_on_an_unusable_handler_touches_nothing(void **state)
{
    podtest *t = *state;
    /* The "spare" runtime fails to open: the handler is configured but unusable. */
    pt_close(t);
    fake_fail("hcs_runtime_open", 2, WC_UNAVAILABLE); /* runc, then spare */
    pt_open(t);
    wc_err err = {0};
    assert_null(pod_runtime_for(t->pm, "spare", &err));
    fake_log_clear();
    pod_sandbox_config *c = pod_config();
    char *sid = NULL;
    wc_err_clear(&err);
    assert_int_equal(pod_sandbox_run(t->pm, c, "spare", &sid, &err), -1);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    assert_non_null(strstr(err.msg, "\"spare\""));
    wc_err_clear(&err);
    assert_int_equal(pod_sandbox_run(t->pm, c, "nosuch", &sid, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "unknown runtime handler \"nosuch\""));
    assert_string_equal(fake_log_text(), "");
    assert_int_equal(pt_db_count(t, "sandboxes", NULL), 0);
    pod_sandbox_config_unref(c);
}

/* ---- CreateContainer ---- */

static const char create_calls[] = "img_image_lookup pod_platform_container_spec hcs_create "
                                   "img_hold ";

static void create_makes_the_calls_the_rollback_cases_cover(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web"), made[512];
    fake_log_clear();
    char *cid = pt_create(t, sid, "app");
    calls_made(made, sizeof made);
    assert_string_equal(made, create_calls);
    free(cid);
    free(sid);
}

static void create_fails_at(podtest *t, const char *call, wc_code code)
{
    char *sid = pt_run_pod(t, "web");
    pod_event_sub *sub = pod_events_subscribe(t->pm);
    pod_container_config *c = pt_container_config("app", 0);
    char *cid = NULL;
    wc_err err = {0};
    fake_fail(call, 1, code);
    assert_int_equal(pod_container_create(t->pm, sid, c, &cid, &err), -1);
    assert_null(cid);
    assert_int_equal(err.code, code);
    const char prefix[] = "CreateContainer app: ";
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    /* Nothing of it anywhere. */
    assert_int_equal(pt_db_count(t, "containers", NULL), 0);
    assert_int_equal(pt_n_containers(t), 0);
    if (fake_ctr_count() || fake_holds(NULL) || fake_stdio_held())
        fail_msg("left behind: %zu backend containers, %zu holds, %zu stdio\n%s", fake_ctr_count(),
                 fake_holds(NULL), fake_stdio_held(), fake_log_text());
    assert_int_equal(dir_entries(t, "containers"), 0);
    assert_int_equal(dir_entries(t, "bundles"), 0);
    pod_event e;
    assert_false(pod_events_next(sub, &e, 0));
    /* The name is free: the same container is made now. */
    wc_err_clear(&err);
    assert_int_equal(pod_container_create(t->pm, sid, c, &cid, &err), 0);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_CREATED);
    assert_int_equal(fake_ctr_count(), 1);
    pod_events_unsubscribe(t->pm, sub);
    pod_container_config_unref(c);
    free(cid);
    free(sid);
}

#define CREATE_FAILS_AT(call, code)                                                                \
    static void create_rolls_back_when_##call##_fails(void **state)                                \
    {                                                                                              \
        create_fails_at(*state, #call, code);                                                      \
    }
CREATE_FAILS_AT(img_image_lookup, WC_NOT_FOUND)
CREATE_FAILS_AT(pod_platform_container_spec, WC_INVALID_ARGUMENT)
CREATE_FAILS_AT(hcs_create, WC_INTERNAL)
CREATE_FAILS_AT(img_hold, WC_UNAVAILABLE)

/* The rollback itself cannot delete the backend's container: the record stays, marked "create",
 * and the next start of wincri finishes the rollback. */
static void create_rollback_that_fails_is_finished_by_recovery(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    pod_container_config *c = pt_container_config("app", 0);
    char *cid = NULL;
    wc_err err = {0};
    fake_fail("img_hold", 1, WC_UNAVAILABLE);
    fake_fail("hcs_delete", 1, WC_INTERNAL);
    assert_int_equal(pod_container_create(t->pm, sid, c, &cid, &err), -1);
    assert_int_equal(err.code, WC_UNAVAILABLE);
    assert_int_equal(pt_n_containers(t), 0);
    assert_int_equal(fake_ctr_count(), 1);
    assert_int_equal(pt_db_count(t, "containers", NULL), 1);
    pt_reopen(t);
    assert_int_equal(fake_ctr_count(), 0);
    assert_int_equal(pt_db_count(t, "containers", NULL), 0);
    assert_int_equal(dir_entries(t, "containers"), 0);
    assert_int_equal(dir_entries(t, "bundles"), 0);
    assert_int_equal(pod_container_create(t->pm, sid, c, &cid, &err), 0);
    pod_container_config_unref(c);
    free(cid);
    free(sid);
}

/* The same, but the pod is removed before wincri restarts: the half-made container's record
 * must not outlive its pod's and leak its backend container. */
static void create_rollback_that_fails_then_pod_removed_leaves_nothing(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    pod_container_config *c = pt_container_config("app", 0);
    char *cid = NULL;
    wc_err err = {0};
    fake_fail("img_hold", 1, WC_UNAVAILABLE);
    fake_fail("hcs_delete", 1, WC_INTERNAL);
    assert_int_equal(pod_container_create(t->pm, sid, c, &cid, &err), -1);
    pod_container_config_unref(c);
    wc_err_clear(&err);
    int rc = pod_sandbox_remove(t->pm, sid, &err);
    pt_reopen(t);
    if (rc < 0) { /* refused while it still has a record: then the restart finished both */
        assert_int_equal(pod_sandbox_remove(t->pm, sid, &err), 0);
    }
    pt_assert_sandbox_gone(t, sid);
    assert_int_equal(pt_db_count(t, "containers", NULL), 0);
    if (fake_ctr_count() != 0)
        fail_msg("the backend still holds the half-made container\n%s", fake_log_text());
    assert_int_equal(dir_entries(t, "containers"), 0);
    assert_int_equal(dir_entries(t, "bundles"), 0);
    free(sid);
}

/* ---- removal that fails, retried ---- */

static void remove_container_that_fails_can_be_retried(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    wc_err err = {0};
    fake_fail("hcs_delete", 1, WC_INTERNAL);
    assert_int_equal(pod_container_remove(t->pm, cid, &err), -1);
    assert_int_equal(err.code, WC_INTERNAL);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "RemoveContainer %.12s: ", cid);
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    /* Killed, still listed, the removal recorded as under way. */
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    char *intent = pt_db_text(t, "containers", cid, "intent");
    assert_string_equal(intent, "remove");
    free(intent);
    wc_err_clear(&err);
    assert_int_equal(pod_container_remove(t->pm, cid, &err), 0);
    pt_assert_container_gone(t, cid);
    free(cid);
    free(sid);
}

static void remove_pod_that_fails_can_be_retried(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *a = pt_create_started(t, sid, "a");
    char *b = pt_create_started(t, sid, "b");
    wc_err err = {0};
    fake_fail("hcs_delete", 2, WC_INTERNAL); /* b's */
    assert_int_equal(pod_sandbox_remove(t->pm, sid, &err), -1);
    assert_int_equal(err.code, WC_INTERNAL);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "RemovePodSandbox %.12s: RemoveContainer ", sid);
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    /* Not ready, still there, with what could not be removed; a new container is refused. */
    assert_false(pt_sandbox_ready(t, sid));
    assert_int_equal(pt_n_containers(t), 1);
    char *intent = pt_db_text(t, "sandboxes", sid, "intent");
    assert_string_equal(intent, "remove");
    free(intent);
    /* A stop meanwhile does not forget the removal under way. */
    wc_err_clear(&err);
    assert_int_equal(pod_sandbox_stop(t->pm, sid, &err), 0);
    intent = pt_db_text(t, "sandboxes", sid, "intent");
    assert_string_equal(intent, "remove");
    free(intent);
    assert_int_equal(pod_sandbox_remove(t->pm, sid, &err), 0);
    pt_assert_container_gone(t, a);
    pt_assert_container_gone(t, b);
    pt_assert_sandbox_gone(t, sid);
    free(a);
    free(b);
    free(sid);
}

/* StopPodSandbox must stop every container (CRI: forcibly terminated): one it cannot kill makes
 * it fail, before the network is taken from under the running container; the retry finishes. */
static void stop_pod_whose_container_cannot_be_killed_fails_and_is_retried(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    fake_fail("hcs_kill", 1, WC_PERMISSION_DENIED);
    wc_err err = {0};
    assert_int_equal(pod_sandbox_stop(t->pm, sid, &err), -1);
    assert_int_equal(err.code, WC_PERMISSION_DENIED);
    char prefix[96];
    snprintf(prefix, sizeof prefix, "StopPodSandbox %.12s: StopContainer %.12s: ", sid, cid);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
        fail_msg("%s", err.msg);
    assert_false(pt_sandbox_ready(t, sid));
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_RUNNING);
    assert_int_equal(fake_attached_count(), 1);
    char *intent = pt_db_text(t, "sandboxes", sid, "intent");
    assert_string_equal(intent, "stop");
    free(intent);
    wc_err_clear(&err);
    assert_int_equal(pod_sandbox_stop(t->pm, sid, &err), 0);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    assert_int_equal(fake_attached_count(), 0);
    assert_int_equal(fake_netns_count(), 0);
    free(cid);
    free(sid);
}

/* ---- the pod's network, which must not be forgotten while it holds an address ---- */

static void assert_network_kept(podtest *t, const char *sid, const char *intent)
{
    char netns[128];
    snprintf(netns, sizeof netns, "/run/netns/fake-%s", sid);
    assert_true(fake_netns_exists(netns));
    assert_true(fake_netns_attached(netns));
    char *rec = pt_db_text(t, "sandboxes", sid, "netns");
    char *cni = pt_db_text(t, "sandboxes", sid, "cni_result");
    char *in = pt_db_text(t, "sandboxes", sid, "intent");
    assert_string_equal(rec, netns); /* so that a retry, or recovery, runs DEL again */
    assert_non_null(strstr(cni, "10.88.0."));
    assert_string_equal(in, intent);
    free(rec);
    free(cni);
    free(in);
}

/* A failed CNI DEL is StopPodSandbox's failure (as in containerd): the pod keeps its namespace
 * and the ADD result in its record, and the retry runs DEL again. Forgetting them would leak the
 * pod's address for good (host-local IPAM frees it only on a DEL). */
static void stop_pod_whose_cni_del_fails_fails_and_is_retried(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    fake_fail("hns_detach", 1, WC_INTERNAL);
    wc_err err = {0};
    assert_int_equal(pod_sandbox_stop(t->pm, sid, &err), -1);
    assert_int_equal(err.code, WC_INTERNAL);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "StopPodSandbox %.12s: ", sid);
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    assert_non_null(strstr(err.msg, "hns_detach: injected failure"));
    assert_false(pt_sandbox_ready(t, sid));
    assert_network_kept(t, sid, "stop");
    wc_err_clear(&err);
    assert_int_equal(pod_sandbox_stop(t->pm, sid, &err), 0);
    assert_int_equal(fake_netns_count(), 0);
    assert_int_equal(fake_attached_count(), 0);
    char *intent = pt_db_text(t, "sandboxes", sid, "intent");
    assert_string_equal(intent, "");
    free(intent);
    free(sid);
}

static void remove_pod_whose_cni_del_fails_keeps_its_record(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    fake_fail("hns_detach", 1, WC_INTERNAL);
    wc_err err = {0};
    assert_int_equal(pod_sandbox_remove(t->pm, sid, &err), -1);
    assert_int_equal(err.code, WC_INTERNAL);
    assert_int_equal(pt_n_sandboxes(t), 1);
    assert_network_kept(t, sid, "remove");
    wc_err_clear(&err);
    assert_int_equal(pod_sandbox_remove(t->pm, sid, &err), 0);
    pt_assert_sandbox_gone(t, sid);
    assert_int_equal(fake_attached_count(), 0);
    free(sid);
}

/* The same for a namespace that cannot be removed. */
static void stop_pod_whose_namespace_cannot_be_removed_is_retried(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    fake_fail("hns_netns_remove", 1, WC_INTERNAL);
    wc_err err = {0};
    assert_int_equal(pod_sandbox_stop(t->pm, sid, &err), -1);
    assert_int_equal(err.code, WC_INTERNAL);
    char *rec = pt_db_text(t, "sandboxes", sid, "netns");
    assert_string_not_equal(rec, "");
    free(rec);
    assert_int_equal(fake_netns_count(), 1);
    wc_err_clear(&err);
    assert_int_equal(pod_sandbox_remove(t->pm, sid, &err), 0);
    pt_assert_sandbox_gone(t, sid);
    assert_int_equal(fake_netns_count(), 0);
    free(sid);
}

/* Recovery finishing a stop whose DEL fails leaves the stop under way for the next try. */
static void stop_recovery_whose_cni_del_fails_is_finished_next_time(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    pt_close(t);
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE sandboxes SET intent = 'stop' WHERE id = '%s'", sid);
    pt_db_exec(t, sql);
    fake_fail("hns_detach", 1, WC_INTERNAL);
    pt_open(t);
    assert_network_kept(t, sid, "stop");
    pt_reopen(t);
    assert_int_equal(fake_attached_count(), 0);
    assert_int_equal(fake_netns_count(), 0);
    char *intent = pt_db_text(t, "sandboxes", sid, "intent");
    assert_string_equal(intent, "");
    free(intent);
    free(sid);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, pt_setup, pt_teardown)
    const struct CMUnitTest tests[] = {
        T(run_pod_makes_the_calls_the_rollback_cases_cover),
        T(run_pod_rolls_back_when_hns_netns_name_fails),
        T(run_pod_rolls_back_when_pod_platform_node_hostname_fails),
        T(run_pod_rolls_back_when_pod_platform_sandbox_setup_fails),
        T(run_pod_rolls_back_when_hns_netns_create_fails),
        T(run_pod_rolls_back_when_hns_attach_fails),
        T(run_pod_whose_cni_add_and_del_both_fail_leaves_no_namespace),
        T(run_pod_on_an_unusable_handler_touches_nothing),
        T(create_makes_the_calls_the_rollback_cases_cover),
        T(create_rolls_back_when_img_image_lookup_fails),
        T(create_rolls_back_when_pod_platform_container_spec_fails),
        T(create_rolls_back_when_hcs_create_fails),
        T(create_rolls_back_when_img_hold_fails),
        T(create_rollback_that_fails_is_finished_by_recovery),
        T(create_rollback_that_fails_then_pod_removed_leaves_nothing),
        T(remove_container_that_fails_can_be_retried),
        T(remove_pod_that_fails_can_be_retried),
        T(stop_pod_whose_container_cannot_be_killed_fails_and_is_retried),
        T(stop_pod_whose_cni_del_fails_fails_and_is_retried),
        T(remove_pod_whose_cni_del_fails_keeps_its_record),
        T(stop_pod_whose_namespace_cannot_be_removed_is_retried),
        T(stop_recovery_whose_cni_del_fails_is_finished_next_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
