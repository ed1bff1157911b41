#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/metrics.h"
#include "cri/prometheus.h"

static int reset(void **state)
{
    wc_metrics_reset();
    return 0;
}

static char *render(void)
{
    size_t len = 0;
    char *text = wc_metrics_render(&len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* ---- metrics.address in the config ---- */

static void metrics_off_by_default(void **state)
{
    wc_config *cfg = NULL;
    wc_err err = {0};
    assert_int_equal(wc_config_load(NULL, &cfg, &err), 0);
    assert_string_equal(cfg->metrics_address, "");
    wc_config_free(cfg);
}

static void metrics_address_forms(void **state)
{
    static const struct {
        const char *text, *host;
        int port;
    } ok[] = {
        {"{\"metrics\": {\"address\": \"127.0.0.1:9505\"}}", "127.0.0.1", 9505},
        {"{\"metrics\": {\"address\": \"0.0.0.0:0\"}}", "0.0.0.0", 0},
        {"{\"metrics\": {\"address\": \"[::1]:65535\"}}", "::1", 65535},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        wc_config *cfg = NULL;
        wc_err err = {0};
        assert_int_equal(wc_config_parse(ok[i].text, "c.json", &cfg, &err), 0);
        assert_string_equal(cfg->metrics_host, ok[i].host);
        assert_int_equal(cfg->metrics_port, ok[i].port);
        wc_config_free(cfg);
    }
}

static void metrics_address_refused(void **state)
{
    static const char *const bad[] = {
        "localhost:9505", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
        "127.0.0.1:95x",  "::1:9505",  "[::1]",      ":9505",           "[]:9505",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"metrics\": {\"address\": \"%s\"}}", bad[i]);
        wc_config *cfg = NULL;
        wc_err err = {0};
        assert_int_equal(wc_config_parse(text, "c.json", &cfg, &err), -1);
        assert_int_equal(err.code, WC_INVALID_ARGUMENT);
        assert_non_null(strstr(err.msg, "metrics.address"));
        assert_non_null(strstr(err.msg, bad[i]));
    }
    wc_config *cfg = NULL;
    wc_err err = {0};
    assert_int_equal(wc_config_parse("{\"metrics\": {\"port\": 1}}", "c.json", &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "\"metrics.port\": unknown key"));
}

/* ---- the text format ---- */

static void families_always_declared(void **state)
{
    char *t = render();
    /* Every family has HELP and TYPE; unlabelled ones show 0 before anything happened. */
    assert_non_null(strstr(t, "# HELP wincri_cri_requests_total "));
    assert_non_null(strstr(t, "# TYPE wincri_cri_requests_total counter\n"));
    assert_non_null(strstr(t, "# TYPE wincri_cri_request_duration_seconds histogram\n"));
    assert_non_null(strstr(t, "# TYPE wincri_containers gauge\n"));
    assert_non_null(strstr(t, "\nwincri_image_pulls_total 0\n"));
    assert_non_null(strstr(t, "\nwincri_image_pull_bytes_total 0\n"));
    assert_null(strstr(t, "wincri_cri_requests_total{"));
    free(t);
}

static void counters_and_gauges(void **state)
{
    const char *a[] = {"INTERNAL"};
    wc_metrics_add(WC_M_PULL_FAILURES, a, 1);
    wc_metrics_add(WC_M_PULL_FAILURES, a, 2);
    wc_metrics_add(WC_M_PULL_FAILURES, a, -5); /* counters never go down */
    wc_metrics_add(WC_M_PULL_BYTES, NULL, 1048576);
    wc_metrics_set(WC_M_RECOVERED, NULL, 3);
    wc_metrics_set(WC_M_RECOVERED, NULL, 2);
    char *t = render();
    assert_non_null(strstr(t, "\nwincri_image_pull_failures_total{code=\"INTERNAL\"} 3\n"));
    assert_non_null(strstr(t, "\nwincri_image_pull_bytes_total 1048576\n"));
    assert_non_null(strstr(t, "\nwincri_recovered_containers 2\n"));
    free(t);
}

static void series_sorted_and_escaped(void **state)
{
    const char *b[] = {"b"}, *a[] = {"a\"q\\\n"};
    wc_metrics_set(WC_M_CONTAINERS, b, 1);
    wc_metrics_set(WC_M_CONTAINERS, a, 2.5);
    char *t = render();
    char *pa = strstr(t, "wincri_containers{state=\"a\\\"q\\\\\\n\"} 2.5\n");
    char *pb = strstr(t, "wincri_containers{state=\"b\"} 1\n");
    assert_non_null(pa);
    assert_non_null(pb);
    assert_true(pa < pb);
    free(t);
}

static void histogram_is_cumulative(void **state)
{
    wc_metrics_reset();
    cri_prom_rpc("/runtime.v1.RuntimeService/Version", 1, WC_OK, 0.0002);
    cri_prom_rpc("/runtime.v1.RuntimeService/Version", 1, WC_OK, 0.003);
    cri_prom_rpc("/runtime.v1.RuntimeService/Version", 1, WC_OK, 1000);
    char *t = render();
    const char *l = "{service=\"runtime.v1.RuntimeService\",method=\"Version\",code=\"OK\"";
    char want[256];
    snprintf(want, sizeof want, "wincri_cri_requests_total%s} 3\n", l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "wincri_cri_request_duration_seconds_bucket%s,le=\"0.0005\"} 1\n",
             l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "wincri_cri_request_duration_seconds_bucket%s,le=\"0.005\"} 2\n",
             l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "wincri_cri_request_duration_seconds_bucket%s,le=\"600\"} 2\n", l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "wincri_cri_request_duration_seconds_bucket%s,le=\"+Inf\"} 3\n", l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "wincri_cri_request_duration_seconds_count%s} 3\n", l);
    assert_non_null(strstr(t, want));
    snprintf(want, sizeof want, "wincri_cri_request_duration_seconds_sum%s} 1000.0032", l);
    assert_non_null(strstr(t, want));
    free(t);
}

/* A client naming methods wincri does not serve cannot grow the label set. */
static void unknown_methods_share_one_series(void **state)
{
    wc_metrics_reset();
    cri_prom_rpc("/runtime.v1.RuntimeService/NoSuch", 0, WC_UNIMPLEMENTED, 0.001);
    cri_prom_rpc("/evil/x", 0, WC_UNIMPLEMENTED, 0.001);
    cri_prom_rpc("garbage", 1, WC_UNIMPLEMENTED, 0.001);
    cri_prom_rpc("/other.Service/Version", 1, WC_UNIMPLEMENTED, 0.001);
    char *t = render();
    assert_non_null(strstr(t, "wincri_cri_requests_total{service=\"unknown\",method=\"unknown\","
                              "code=\"UNIMPLEMENTED\"} 4\n"));
    assert_null(strstr(t, "NoSuch"));
    assert_null(strstr(t, "evil"));
    free(t);
}

static int collected;
static void collector(void *ctx)
{
    collected++;
    wc_metrics_set(WC_M_KEEPER_UP, NULL, *(int *)ctx);
}

static void collector_runs_per_render(void **state)
{
    int up = 0;
    wc_metrics_set_collector(collector, &up);
    char *t = render();
    assert_int_equal(collected, 1);
    assert_non_null(strstr(t, "\nwincri_keeper_up 0\n"));
    free(t);
    wc_metrics_set_collector(NULL, NULL);
    t = render();
    assert_int_equal(collected, 1);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics_off_by_default),
        cmocka_unit_test(metrics_address_forms),
        cmocka_unit_test(metrics_address_refused),
        cmocka_unit_test_setup(families_always_declared, reset),
        cmocka_unit_test_setup(counters_and_gauges, reset),
        cmocka_unit_test_setup(series_sorted_and_escaped, reset),
        cmocka_unit_test_setup(histogram_is_cumulative, reset),
        cmocka_unit_test_setup(unknown_methods_share_one_series, reset),
        cmocka_unit_test_setup(collector_runs_per_render, reset),
    };
    int rc = cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
    wc_metrics_reset();
    return rc;
}
