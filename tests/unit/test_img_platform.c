#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "image/img_internal.h"

static json_t *index_of(const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    return j;
}

static img_host host(const char *os, const char *arch, const char *variant, const char *osv,
                     int hyperv)
{
    img_host h;
    memset(&h, 0, sizeof h);
    strcpy(h.os, os);
    strcpy(h.arch, arch);
    strcpy(h.variant, variant);
    strcpy(h.os_version, osv);
    h.hyperv = hyperv;
    return h;
}

#define P(os, arch, extra)                                                                         \
    "{\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\"" extra "}}"

static void linux_amd64_picked_among_others(void **state)
{
    json_t *m = index_of("[" P("windows", "amd64", ",\"os.version\":\"10.0.20348.1\"") "," P(
        "linux", "arm64", ",\"variant\":\"v8\"") "," P("linux", "amd64", "") "," P("linux", "s390x",
                                                                                   "") "]");
    img_host h = host("linux", "amd64", "v2", "", 0);
    wc_err err = {0};
    assert_int_equal(img_platform_select(m, &h, &err), 2);
    json_decref(m);
}

static void amd64_variants_up_to_host(void **state)
{
    json_t *m =
        index_of("[" P("linux", "amd64", "") "," P("linux", "amd64", ",\"variant\":\"v3\"") "," P(
            "linux", "amd64", ",\"variant\":\"v2\"") "]");
    wc_err err = {0};
    img_host v2 = host("linux", "amd64", "v2", "", 0);
    assert_int_equal(img_platform_select(m, &v2, &err), 2);
    img_host v3 = host("linux", "amd64", "v3", "", 0);
    assert_int_equal(img_platform_select(m, &v3, &err), 1);
    img_host v1 = host("linux", "amd64", "v1", "", 0);
    assert_int_equal(img_platform_select(m, &v1, &err), 0);
    json_decref(m);
}

static void no_match_lists_offers(void **state)
{
    json_t *m = index_of("[" P("linux", "arm64", ",\"variant\":\"v8\"") "," P(
        "windows", "amd64", ",\"os.version\":\"10.0.17763.1\"") "]");
    img_host h = host("linux", "amd64", "v3", "", 0);
    wc_err err = {0};
    assert_int_equal(img_platform_select(m, &h, &err), -1);
    assert_int_equal(err.code, WC_NOT_FOUND);
    assert_non_null(strstr(err.msg, "linux/arm64/v8"));
    assert_non_null(strstr(err.msg, "windows/amd64 10.0.17763.1"));
    assert_non_null(strstr(err.msg, "linux/amd64/v3"));
    json_decref(m);
}

typedef struct wcase {
    const char *host;
    const char *ctr;
    int process;
    int hyperv;
} wcase;

static void windows_compatibility_table(void **state)
{
    static const wcase cases[] = {
        /* before LTSC 2022: exact build only for process isolation */
        {"10.0.17763.5000", "10.0.17763.1", 1, 1},
        {"10.0.17763.5000", "10.0.17763.9999", 1, 1},
        {"10.0.17763.1", "10.0.14393.1", 0, 1},
        {"10.0.17763.1", "10.0.20348.1", 0, 0},
        /* LTSC 2022 host: itself only */
        {"10.0.20348.2000", "10.0.20348.1", 1, 1},
        {"10.0.20348.2000", "10.0.17763.1", 0, 1},
        {"10.0.20348.2000", "10.0.22621.1", 0, 0},
        /* Windows 11 22H2: LTSC 2022 up to itself */
        {"10.0.22621.1", "10.0.20348.1", 1, 1},
        {"10.0.22621.1", "10.0.22621.7", 1, 1},
        {"10.0.22621.1", "10.0.17763.1", 0, 1},
        /* LTSC 2025 host: previous LTSC (2022) up to itself */
        {"10.0.26100.1", "10.0.20348.1", 1, 1},
        {"10.0.26100.1", "10.0.26100.3", 1, 1},
        {"10.0.26100.1", "10.0.25398.1", 1, 1},
        {"10.0.26100.1", "10.0.17763.1", 0, 1},
        /* a later host in the 2025 generation keeps LTSC 2022 as its floor */
        {"10.0.26200.1", "10.0.20348.1", 1, 1},
        {"10.0.26200.1", "10.0.26100.1", 1, 1},
        /* major/minor must agree; unparsable never matches */
        {"10.0.20348.1", "6.3.9600.1", 0, 1},
        {"10.0.20348.1", "bogus", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const wcase *c = &cases[i];
        if (img_windows_compatible(c->host, c->ctr, 0) != c->process)
            fail_msg("host %s ctr %s process: want %d", c->host, c->ctr, c->process);
        if (img_windows_compatible(c->host, c->ctr, 1) != c->hyperv)
            fail_msg("host %s ctr %s hyperv: want %d", c->host, c->ctr, c->hyperv);
    }
}

#define W(v) P("windows", "amd64", ",\"os.version\":\"" v "\"")

static void windows_index_selection(void **state)
{
    json_t *m =
        index_of("[" P("linux", "amd64", "") "," W("10.0.17763.4000") "," W("10.0.20348.100") "," W(
            "10.0.20348.2300") "," W("10.0.26100.10") "," W("10.0.20348.900") "]");
    wc_err err = {0};
    /* process isolation, LTSC 2022 host: highest revision of its own build */
    img_host h2022 = host("windows", "amd64", "", "10.0.20348.1000", 0);
    assert_int_equal(img_platform_select(m, &h2022, &err), 3);
    /* 2019 host: only 17763 */
    img_host h2019 = host("windows", "amd64", "", "10.0.17763.1", 0);
    assert_int_equal(img_platform_select(m, &h2019, &err), 1);
    /* 2025 host: its own build preferred over LTSC 2022 */
    img_host h2025 = host("windows", "amd64", "", "10.0.26100.1", 0);
    assert_int_equal(img_platform_select(m, &h2025, &err), 4);
    /* Hyper-V on a 2022 host: nearest build not above the host's */
    img_host hv = host("windows", "amd64", "", "10.0.20348.1", 1);
    assert_int_equal(img_platform_select(m, &hv, &err), 3);
    /* 1809 Hyper-V host cannot run anything newer */
    img_host hv1809 = host("windows", "amd64", "", "10.0.17763.1", 1);
    assert_int_equal(img_platform_select(m, &hv1809, &err), 1);
    /* a 14393 process host has no match; the error names the isolation */
    img_host h2016 = host("windows", "amd64", "", "10.0.14393.1", 0);
    assert_int_equal(img_platform_select(m, &h2016, &err), -1);
    assert_non_null(strstr(err.msg, "process isolation"));
    json_decref(m);
}

static void host_detection(void **state)
{
    img_host h;
    img_host_detect(&h);
    assert_string_equal(h.os, "linux");
    assert_true(h.arch[0] != '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linux_amd64_picked_among_others),
        cmocka_unit_test(amd64_variants_up_to_host),
        cmocka_unit_test(no_match_lists_offers),
        cmocka_unit_test(windows_compatibility_table),
        cmocka_unit_test(windows_index_selection),
        cmocka_unit_test(host_detection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
