/* Errors of the pod model: each verb's failure has the right gRPC code and a message naming the
 * object (and the field, for a bad config); refusals touch nothing below the model. */
#include "tests/unit/podtest.h"

#include <string.h>

static void assert_err(const wc_err *err, wc_code code, const char *part)
{
    if (err->code != code || !strstr(err->msg, part))
        fail_msg("want %s with \"%s\", got %s: %s", wc_code_name(code), part,
                 wc_code_name(err->code), err->msg);
}

static void unknown_ids_are_not_found_by_every_verb(void **state)
{
    podtest *t = *state;
    const char *id = "0123456789ab";
    wc_err err = {0};
    pod_container_info *ci = NULL;
    pod_sandbox_info *si = NULL;
    assert_int_equal(pod_container_get(t->pm, id, &ci, &err), -1);
    assert_err(&err, WC_NOT_FOUND, "container 0123456789ab not found");
    wc_err_clear(&err);
    assert_int_equal(pod_container_start(t->pm, id, &err), -1);
    assert_err(&err, WC_NOT_FOUND, "container 0123456789ab not found");
    wc_err_clear(&err);
    assert_int_equal(pod_sandbox_get(t->pm, id, &si, &err), -1);
    assert_err(&err, WC_NOT_FOUND, "pod sandbox 0123456789ab not found");
    wc_err_clear(&err);
    pod_container_config *c = pt_container_config("app", 0);
    char *cid = NULL;
    assert_int_equal(pod_container_create(t->pm, id, c, &cid, &err), -1);
    assert_err(&err, WC_NOT_FOUND, "pod sandbox 0123456789ab not found");
    pod_container_config_unref(c);
    const char *cmd[] = {"true"};
    pod_exec_result r;
    wc_err_clear(&err);
    assert_int_equal(pod_container_exec_sync(t->pm, id, cmd, 1, 0, &r, &err), -1);
    assert_err(&err, WC_NOT_FOUND, id);
    pod_container_stats cs;
    wc_err_clear(&err);
    assert_int_equal(pod_container_stats_get(t->pm, id, &cs, &err), -1);
    assert_err(&err, WC_NOT_FOUND, id);
    wc_err_clear(&err);
    assert_int_equal(pod_container_reopen_log(t->pm, id, &err), -1);
    assert_err(&err, WC_NOT_FOUND, id);
    /* Stop and remove are idempotent: an unknown id is already stopped and removed. */
    wc_err_clear(&err);
    assert_int_equal(pod_container_stop(t->pm, id, 0, &err), 0);
    assert_int_equal(pod_container_remove(t->pm, id, &err), 0);
    assert_int_equal(pod_sandbox_stop(t->pm, id, &err), 0);
    assert_int_equal(pod_sandbox_remove(t->pm, id, &err), 0);
    assert_int_equal(err.code, WC_OK);
}

/* IDs may be given as unique prefixes; an ambiguous one is refused, by stop and remove too. */
static void id_prefixes_must_be_unique(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *ids[17];
    char name[16];
    for (int i = 0; i < 17; i++) { /* 17 ids: two share a first hex digit */
        snprintf(name, sizeof name, "c%d", i);
        ids[i] = pt_create(t, sid, name);
    }
    char prefix[2] = "";
    for (int i = 0; i < 17 && !*prefix; i++)
        for (int j = i + 1; j < 17 && !*prefix; j++)
            if (ids[i][0] == ids[j][0])
                prefix[0] = ids[i][0];
    wc_err err = {0};
    pod_container_info *ci = NULL;
    assert_int_equal(pod_container_get(t->pm, prefix, &ci, &err), -1);
    assert_err(&err, WC_INVALID_ARGUMENT, "give more of it");
    assert_non_null(strstr(err.msg, prefix));
    wc_err_clear(&err);
    assert_int_equal(pod_container_remove(t->pm, prefix, &err), -1);
    assert_err(&err, WC_INVALID_ARGUMENT, "give more of it");
    wc_err_clear(&err);
    assert_int_equal(pod_container_stop(t->pm, prefix, 0, &err), -1);
    assert_err(&err, WC_INVALID_ARGUMENT, "give more of it");
    assert_int_equal(pt_n_containers(t), 17);
    /* An empty id is no id. */
    wc_err_clear(&err);
    assert_int_equal(pod_container_get(t->pm, "", &ci, &err), -1);
    assert_err(&err, WC_INVALID_ARGUMENT, "container ID must not be empty");
    /* Twelve characters, as crictl shows them, find one. */
    char short_id[13];
    snprintf(short_id, sizeof short_id, "%s", ids[5]);
    assert_int_equal(pod_container_get(t->pm, short_id, &ci, &err), 0);
    assert_string_equal(ci->id, ids[5]);
    pod_container_info_free(ci);
    for (int i = 0; i < 17; i++)
        free(ids[i]);
    free(sid);
}

static void bad_pod_configs_name_the_field_and_touch_nothing(void **state)
{
    podtest *t = *state;
    static const struct {
        const char *json;
        const char *says;
    } cases[] = {
        {"{\"name\": \"\", \"namespace\": \"ns\", \"uid\": \"u\"}",
         "metadata.name must not be empty"},
        {"{\"name\": \"a\", \"namespace\": \"\", \"uid\": \"u\"}",
         "metadata.namespace must not be empty"},
        {"{\"name\": \"a\", \"namespace\": \"ns\", \"uid\": \"\"}",
         "metadata.uid must not be empty"},
        {"{\"name\": \"a\", \"namespace\": \"ns\", \"uid\": \"u\", \"log_directory\": \"logs\"}",
         "log_directory \"logs\" must be an absolute path"},
        {"{\"name\": \"a\", \"namespace\": \"ns\", \"uid\": \"u\", \"log_directory\": \"/a/../b\"}",
         "log_directory \"/a/../b\""},
        {"{\"name\": \"a\", \"namespace\": \"ns\", \"uid\": \"u\", \"hostname\": "
         "\"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh\"}",
         "hostname is 65 bytes long"},
    };
    fake_log_clear();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_loads(cases[i].json, 0, NULL);
        pod_sandbox_config *c = NULL;
        wc_err err = {0};
        assert_int_equal(pod_sandbox_config_from_json(j, &c, &err), 0);
        json_decref(j);
        char *sid = NULL;
        assert_int_equal(pod_sandbox_run(t->pm, c, "", &sid, &err), -1);
        assert_err(&err, WC_INVALID_ARGUMENT, cases[i].says);
        pod_sandbox_config_unref(c);
    }
    wc_err err = {0};
    char *sid = NULL;
    assert_int_equal(pod_sandbox_run(t->pm, NULL, "", &sid, &err), -1);
    assert_err(&err, WC_INVALID_ARGUMENT, "metadata is required");
    assert_string_equal(fake_log_text(), "");
    assert_int_equal(pt_db_count(t, "sandboxes", NULL), 0);
}

static void bad_container_configs_name_the_field_and_touch_nothing(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    static const struct {
        const char *json;
        const char *says;
    } cases[] = {
        {"{\"name\": \"\", \"image\": \"busybox\"}", "metadata.name is required"},
        {"{\"name\": \"app\", \"image\": \"\"}",
         "container config for app: image.image is required"},
        {"{\"name\": \"app\", \"image\": \"busybox\", \"log_path\": \"/etc/x.log\"}",
         "container config for app: log_path \"/etc/x.log\" must be relative"},
        {"{\"name\": \"app\", \"image\": \"busybox\", \"log_path\": \"../../x.log\"}",
         "log_path \"../../x.log\""},
    };
    fake_log_clear();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pod_container_config *c = pt_container_config_json(cases[i].json);
        char *cid = NULL;
        wc_err err = {0};
        assert_int_equal(pod_container_create(t->pm, sid, c, &cid, &err), -1);
        assert_err(&err, WC_INVALID_ARGUMENT, cases[i].says);
        pod_container_config_unref(c);
    }
    assert_string_equal(fake_log_text(), "");
    assert_int_equal(pt_db_count(t, "containers", NULL), 0);
    free(sid);
}

static void missing_image_is_not_found_naming_the_container(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    pod_container_config *c =
        pt_container_config_json("{\"name\": \"app\", \"image\": \"nosuch:1\"}");
    char *cid = NULL;
    wc_err err = {0};
    assert_int_equal(pod_container_create(t->pm, sid, c, &cid, &err), -1);
    assert_err(&err, WC_NOT_FOUND, "CreateContainer app: image \"nosuch:1\" not found");
    pod_container_config_unref(c);
    /* An image by its ID is found. */
    c = pt_container_config_json("{\"name\": \"app\", \"image\": \"" FAKE_IMAGE_ID "\"}");
    assert_int_equal(pod_container_create(t->pm, sid, c, &cid, &err), 0);
    pod_container_info *i = NULL;
    assert_int_equal(pod_container_get(t->pm, cid, &i, &err), 0);
    assert_string_equal(i->image_id, FAKE_IMAGE_ID);
    assert_string_equal(i->image, FAKE_IMAGE_ID);
    pod_container_info_free(i);
    pod_container_config_unref(c);
    free(cid);
    free(sid);
}

/* A kill that fails while the container still runs is StopContainer's failure; the retry works. */
static void stop_whose_kill_fails_is_an_error_and_can_be_retried(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create_started(t, sid, "app");
    fake_fail("hcs_kill", 1, WC_PERMISSION_DENIED);
    wc_err err = {0};
    assert_int_equal(pod_container_stop(t->pm, cid, 0, &err), -1);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "StopContainer %.12s: ", cid);
    assert_err(&err, WC_PERMISSION_DENIED, prefix);
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_RUNNING);
    char *intent = pt_db_text(t, "containers", cid, "intent");
    assert_memory_equal(intent, "stop@", 5);
    free(intent);
    wc_err_clear(&err);
    assert_int_equal(pod_container_stop(t->pm, cid, 0, &err), 0);
    assert_int_equal(pt_state(t, cid), POD_CONTAINER_EXITED);
    intent = pt_db_text(t, "containers", cid, "intent");
    assert_string_equal(intent, "");
    free(intent);
    free(cid);
    free(sid);
}

static void verbs_on_the_wrong_state_say_so(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *cid = pt_create(t, sid, "app");
    wc_err err = {0};
    assert_int_equal(pod_container_reopen_log(t->pm, cid, &err), -1);
    assert_err(&err, WC_FAILED_PRECONDITION, "not running");
    assert_non_null(strstr(err.msg, cid));
    const char *cmd[] = {"true"};
    pod_exec_result r;
    wc_err_clear(&err);
    assert_int_equal(pod_container_exec_sync(t->pm, cid, cmd, 0, 0, &r, &err), -1);
    assert_err(&err, WC_INVALID_ARGUMENT, "cmd must not be empty");
    assert_int_equal(pod_container_start(t->pm, cid, &err), 0);
    wc_err_clear(&err);
    assert_int_equal(pod_container_reopen_log(t->pm, cid, &err), 0);
    assert_int_equal(fake_calls("pod_platform_stdio_reopen", cid), 1);
    free(cid);
    free(sid);
}

/* Stats of what is running come from the backend; the pod's add its containers and network. */
static void stats_come_from_the_backend(void **state)
{
    podtest *t = *state;
    char *sid = pt_run_pod(t, "web");
    char *a = pt_create_started(t, sid, "a");
    char *b = pt_create(t, sid, "b");
    pod_container_stats cs;
    wc_err err = {0};
    assert_int_equal(pod_container_stats_get(t->pm, a, &cs, &err), 0);
    assert_true(cs.running);
    assert_int_equal(cs.cpu_usage_ns, 1000000);
    assert_int_equal(cs.mem_working_set, 4096);
    pod_container_stats_clear(&cs);
    assert_int_equal(pod_container_stats_get(t->pm, b, &cs, &err), 0);
    assert_false(cs.running);
    pod_container_stats_clear(&cs);
    pod_sandbox_stats ss;
    assert_int_equal(pod_sandbox_stats_get(t->pm, sid, &ss, &err), 0);
    assert_int_equal(ss.process_count, 1);
    assert_int_equal(ss.cpu_usage_ns, 1000000);
    assert_true(ss.has_network);
    assert_int_equal(ss.rx_bytes, 100);
    free(a);
    free(b);
    free(sid);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, pt_setup, pt_teardown)
    const struct CMUnitTest tests[] = {
        T(unknown_ids_are_not_found_by_every_verb),
        T(id_prefixes_must_be_unique),
        T(bad_pod_configs_name_the_field_and_touch_nothing),
        T(bad_container_configs_name_the_field_and_touch_nothing),
        T(missing_image_is_not_found_naming_the_container),
        T(stop_whose_kill_fails_is_an_error_and_can_be_retried),
        T(verbs_on_the_wrong_state_say_so),
        T(stats_come_from_the_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
