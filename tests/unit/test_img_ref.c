#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "image/img_internal.h"

static void expect_ref(const char *in, const char *canonical)
{
    img_ref r;
    wc_err err = {0};
    if (img_ref_parse(in, &r, &err) != 0)
        fail_msg("parse \"%s\": %s", in, err.msg);
    char *s = img_ref_string(&r);
    if (strcmp(s, canonical) != 0)
        fail_msg("\"%s\" → \"%s\", want \"%s\"", in, s, canonical);
    free(s);
    img_ref_clear(&r);
}

static void expect_bad(const char *in, const char *why)
{
    img_ref r;
    wc_err err = {0};
    if (img_ref_parse(in, &r, &err) == 0)
        fail_msg("\"%s\" parsed but should not", in);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    if (!strstr(err.msg, why))
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", in, err.msg, why);
}

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void docker_hub_normalisation(void **state)
{
    expect_ref("busybox", "docker.io/library/busybox:latest");
    expect_ref("busybox:1.36", "docker.io/library/busybox:1.36");
    expect_ref("library/busybox", "docker.io/library/busybox:latest");
    expect_ref("docker.io/busybox", "docker.io/library/busybox:latest");
    expect_ref("index.docker.io/library/busybox:x", "docker.io/library/busybox:x");
    expect_ref("user/app:v2", "docker.io/user/app:v2");
}

static void other_registries_and_ports(void **state)
{
    expect_ref("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9");
    expect_ref("127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest");
    expect_ref("localhost/app", "localhost/app:latest");
    expect_ref("localhost:5000/app:t", "localhost:5000/app:t");
    expect_ref("[::1]:5000/app:t", "[::1]:5000/app:t");
    expect_ref("mcr.microsoft.com/windows/nanoserver:ltsc2022",
               "mcr.microsoft.com/windows/nanoserver:ltsc2022");
    expect_ref("a.b/x__y.z-w---v:T_1.2-3", "a.b/x__y.z-w---v:T_1.2-3");
}

static void digests(void **state)
{
    expect_ref("busybox@sha256:" D64, "docker.io/library/busybox@sha256:" D64);
    img_ref r;
    wc_err err = {0};
    assert_int_equal(img_ref_parse("host:1/a:tag@sha256:" D64, &r, &err), 0);
    assert_string_equal(r.domain, "host:1");
    assert_string_equal(r.path, "a");
    assert_string_equal(r.tag, "tag");
    assert_string_equal(r.digest, "sha256:" D64);
    img_ref_clear(&r);
    assert_true(img_digest_valid("sha256:" D64));
    assert_false(img_digest_valid("sha256:" D64 "0"));
    assert_false(img_digest_valid("sha512:" D64));
}

static void malformed(void **state)
{
    expect_bad("", "empty");
    expect_bad("Busybox", "invalid");
    expect_bad("busybox:", "invalid tag");
    expect_bad("busybox:-x", "invalid tag");
    expect_bad("a//b", "invalid repository");
    expect_bad("a/b/", "invalid repository");
    expect_bad("a..b", "invalid repository");
    expect_bad("busybox@sha256:abc", "64 lowercase hex");
    expect_bad("busybox@md5:" D64, "unsupported digest algorithm");
    expect_bad("busybox@" D64, "algorithm:hex");
    expect_bad(D64, "image ID");
    expect_bad("-host:5000/x", "invalid");
    expect_bad("host:50a0/x", "invalid registry host");
    expect_bad("a/b c", "invalid repository");
}

static void repo_and_loopback(void **state)
{
    img_ref r;
    wc_err err = {0};
    assert_int_equal(img_ref_parse("busybox", &r, &err), 0);
    char *repo = img_ref_repo(&r);
    assert_string_equal(repo, "docker.io/library/busybox");
    free(repo);
    img_ref_clear(&r);
    assert_true(img_host_is_loopback("127.0.0.1:5000"));
    assert_true(img_host_is_loopback("127.1.2.3"));
    assert_true(img_host_is_loopback("localhost:80"));
    assert_true(img_host_is_loopback("[::1]:5000"));
    assert_false(img_host_is_loopback("127.example.com"));
    assert_false(img_host_is_loopback("10.0.0.1:5000"));
    assert_false(img_host_is_loopback("docker.io"));
}

static void chain_ids(void **state)
{
    const char *diffs[] = {"sha256:" D64, "sha256:" D64};
    char out[2][IMG_DIGEST_LEN + 1];
    img_chain_ids(diffs, 2, out);
    assert_string_equal(out[0], "sha256:" D64);
    /* sha256("sha256:D64 sha256:D64"), as computed by sha256sum */
    char want[IMG_DIGEST_LEN + 1];
    const char *joined = "sha256:" D64 " sha256:" D64;
    img_sha256_digest(joined, strlen(joined), want);
    assert_string_equal(out[1], want);
    char empty[IMG_DIGEST_LEN + 1];
    img_sha256_digest("", 0, empty);
    assert_string_equal(empty,
                        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(docker_hub_normalisation),
        cmocka_unit_test(other_registries_and_ports),
        cmocka_unit_test(digests),
        cmocka_unit_test(malformed),
        cmocka_unit_test(repo_and_loopback),
        cmocka_unit_test(chain_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
