/* The wire check of request strings (cri/pbcheck.c): UTF-8 edge cases and field paths. */
#include "tests/unit/testutil.h"

#include <string.h>

#include "api.pb-c.h"
#include "cri/pbcheck.h"

static int valid(const char *s, size_t n)
{
    return cri_utf8_valid((const uint8_t *)s, n);
}

static void utf8_edges(void **state)
{
    (void)state;
    assert_true(valid("", 0));
    assert_true(valid("plain ascii", 11));
    assert_true(valid("\xc3\xa9", 2));         /* é */
    assert_true(valid("\xe2\x82\xac", 3));     /* € */
    assert_true(valid("\xf0\x9f\x98\x80", 4)); /* U+1F600 */
    assert_true(valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
    assert_false(valid("\xff", 1));
    assert_false(valid("\xc3", 1));             /* cut short */
    assert_false(valid("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(valid("\xe0\x80\xaf", 3));     /* overlong '/' */
    assert_false(valid("\xed\xa0\x80", 3));     /* a surrogate */
    assert_false(valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(valid("\xe2\x28\xa1", 3));     /* bad continuation */
}

/* A RunPodSandboxRequest with `name` as config.metadata.name, packed. */
static size_t packed_request(const char *name, size_t name_len, uint8_t *buf, size_t cap)
{
    Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
    md.name = "PLACEHOLDER";
    md.namespace_ = "ns";
    cfg.metadata = &md;
    req.config = &cfg;
    size_t n = runtime__v1__run_pod_sandbox_request__get_packed_size(&req);
    assert_true(n <= cap);
    runtime__v1__run_pod_sandbox_request__pack(&req, buf);
    uint8_t *at = memmem(buf, n, "PLACEHOLDER", 11);
    assert_non_null(at);
    assert_int_equal(name_len, 11);
    memcpy(at, name, name_len);
    return n;
}

static void fields_are_named(void **state)
{
    (void)state;
    uint8_t buf[256];
    wc_err err = {0};
    size_t n = packed_request("good-name-1", 11, buf, sizeof buf);
    assert_int_equal(
        cri_check_strings(&runtime__v1__run_pod_sandbox_request__descriptor, buf, n, &err), 0);
    n = packed_request("bad\0name-xx", 11, buf, sizeof buf);
    assert_int_equal(
        cri_check_strings(&runtime__v1__run_pod_sandbox_request__descriptor, buf, n, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_string_equal(err.msg, "config.metadata.name: contains a NUL byte");
    n = packed_request("bad\xffname-xx", 11, buf, sizeof buf);
    assert_int_equal(
        cri_check_strings(&runtime__v1__run_pod_sandbox_request__descriptor, buf, n, &err), -1);
    assert_string_equal(err.msg, "config.metadata.name: is not valid UTF-8");
    /* Garbage is the decoder's to refuse, not a crash here. */
    static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    assert_int_equal(cri_check_strings(&runtime__v1__run_pod_sandbox_request__descriptor, junk,
                                       sizeof junk, &err),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_edges),
        cmocka_unit_test(fields_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
