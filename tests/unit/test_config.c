#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/jsonpos.h"

static void defaults_load(void **state)
{
    wc_config *cfg = NULL;
    wc_err err = {0};
    assert_int_equal(wc_config_load(NULL, &cfg, &err), 0);
    assert_string_equal(cfg->listen, "unix:///run/wincri/wincri.sock");
    assert_string_equal(cfg->default_handler, "runc");
    assert_non_null(wc_config_handler(cfg, "runc"));
    assert_int_equal(cfg->n_cni_bin_dirs, 2);
    wc_config_free(cfg);
}

static void syntax_error_names_line_and_column(void **state)
{
    wc_config *cfg = NULL;
    wc_err err = {0};
    assert_int_equal(wc_config_parse("{\n  \"root\": \"/x\",\n  oops\n}", "c.json", &cfg, &err),
                     -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "c.json:3:"));
}

static void unknown_key_is_located(void **state)
{
    wc_config *cfg = NULL;
    wc_err err = {0};
    const char *text = "{\n  \"streaming\": {\n    \"port\": 0,\n    \"bogus\": 1\n  }\n}";
    assert_int_equal(wc_config_parse(text, "c.json", &cfg, &err), -1);
    assert_string_equal(err.msg, "c.json:4:5: \"streaming.bogus\": unknown key");
}

static void wrong_type_is_located(void **state)
{
    wc_config *cfg = NULL;
    wc_err err = {0};
    const char *text = "{\"root\": \"/r\", \"shutdown_grace_seconds\": \"ten\"}";
    assert_int_equal(wc_config_parse(text, "c.json", &cfg, &err), -1);
    assert_string_equal(
        err.msg, "c.json:1:42: \"shutdown_grace_seconds\": expected an integer, got a string");
}

static void handlers_replace_defaults(void **state)
{
    wc_config *cfg = NULL;
    wc_err err = {0};
    const char *text = "{\"runtime_handlers\": {\"fast\": {\"runtime\": \"/usr/sbin/runc\"}},"
                       " \"default_runtime_handler\": \"fast\"}";
    assert_int_equal(wc_config_parse(text, "c.json", &cfg, &err), 0);
    assert_int_equal(cfg->n_handlers, 1);
    assert_null(wc_config_handler(cfg, "runc"));
    assert_string_equal(wc_config_handler(cfg, "fast")->runtime, "/usr/sbin/runc");
    wc_config_free(cfg);
}

static void default_handler_must_exist(void **state)
{
    wc_config *cfg = NULL;
    wc_err err = {0};
    assert_int_equal(
        wc_config_parse("{\"default_runtime_handler\": \"nope\"}", "c.json", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "\"nope\" is not one of runtime_handlers"));
}

static void registry_entry_checked(void **state)
{
    wc_config *cfg = NULL;
    wc_err err = {0};
    const char *text = "{\"registries\": {\"r.io\": {\"mirrors\": [\"http://127.0.0.1:5000\"],"
                       " \"plain_http\": \"yes\"}}}";
    assert_int_equal(wc_config_parse(text, "c.json", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "\"registries.r.io.plain_http\": expected a boolean"));
}

static void rpc_delay_lookup(void **state)
{
    wc_config *cfg = NULL;
    wc_err err = {0};
    const char *text = "{\"fault_injection\": {\"rpc_delay_ms\": {\"/a/B\": 250}}}";
    assert_int_equal(wc_config_parse(text, "c.json", &cfg, &err), 0);
    assert_int_equal(wc_config_rpc_delay_ms(cfg, "/a/B"), 250);
    assert_int_equal(wc_config_rpc_delay_ms(cfg, "/a/C"), 0);
    wc_config_free(cfg);
}

static void locate_nested_value(void **state)
{
    const char *text = "{\"a\": [1, {\"x\": 2}], \"b\": {\"c\":\n   true}}";
    const char *path[] = {"b", "c"};
    int line = 0, col = 0;
    assert_int_equal(wc_json_locate(text, path, 2, 0, &line, &col), 0);
    assert_int_equal(line, 2);
    assert_int_equal(col, 4);
    const char *missing[] = {"b", "d"};
    assert_int_equal(wc_json_locate(text, missing, 2, 0, &line, &col), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_load),
        cmocka_unit_test(syntax_error_names_line_and_column),
        cmocka_unit_test(unknown_key_is_located),
        cmocka_unit_test(wrong_type_is_located),
        cmocka_unit_test(handlers_replace_defaults),
        cmocka_unit_test(default_handler_must_exist),
        cmocka_unit_test(registry_entry_checked),
        cmocka_unit_test(rpc_delay_lookup),
        cmocka_unit_test(locate_nested_value),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
