#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "image/img_internal.h"

static void bearer_challenge(void **state)
{
    img_challenge c;
    wc_err err = {0};
    assert_int_equal(img_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
                                         "service=\"registry.docker.io\","
                                         "scope=\"repository:library/busybox:pull\"",
                                         &c, &err),
                     0);
    assert_string_equal(c.scheme, "Bearer");
    assert_string_equal(c.realm, "https://auth.docker.io/token");
    assert_string_equal(c.service, "registry.docker.io");
    assert_string_equal(c.scope, "repository:library/busybox:pull");
    img_challenge_clear(&c);
}

static void quoting_spacing_and_errors(void **state)
{
    img_challenge c;
    wc_err err = {0};
    assert_int_equal(img_challenge_parse("  bearer  realm=\"http://t/x?a=1,b\" , "
                                         "error=\"insufficient_scope\",service=svc,"
                                         "scope=\"repository:a/b:pull,push\"",
                                         &c, &err),
                     0);
    assert_string_equal(c.realm, "http://t/x?a=1,b");
    assert_string_equal(c.service, "svc");
    assert_string_equal(c.error, "insufficient_scope");
    assert_string_equal(c.scope, "repository:a/b:pull,push");
    img_challenge_clear(&c);
    assert_int_equal(img_challenge_parse("Bearer realm=\"a\\\"b\"", &c, &err), 0);
    assert_string_equal(c.realm, "a\"b");
    img_challenge_clear(&c);
}

static void basic_and_multiple(void **state)
{
    img_challenge c;
    wc_err err = {0};
    assert_int_equal(img_challenge_parse("Basic realm=\"Registry Realm\"", &c, &err), 0);
    assert_string_equal(c.scheme, "Basic");
    assert_string_equal(c.realm, "Registry Realm");
    img_challenge_clear(&c);
    /* several challenges: Bearer wins */
    assert_int_equal(img_challenge_parse(
                         "Basic realm=\"r\", Bearer realm=\"https://t\",service=\"s\"", &c, &err),
                     0);
    assert_string_equal(c.scheme, "Bearer");
    assert_string_equal(c.realm, "https://t");
    img_challenge_clear(&c);
}

static void bad_challenges(void **state)
{
    img_challenge c;
    wc_err err = {0};
    assert_int_equal(img_challenge_parse("", &c, &err), -1);
    assert_int_equal(err.code, WC_UNAUTHENTICATED);
    assert_int_equal(img_challenge_parse("Negotiate abc", &c, &err), -1);
    assert_non_null(strstr(err.msg, "neither Bearer nor Basic"));
    assert_int_equal(img_challenge_parse("Bearer service=\"x\"", &c, &err), -1);
    assert_non_null(strstr(err.msg, "without a realm"));
}

static void basic_credentials(void **state)
{
    char *u, *p;
    wc_err err = {0};
    char *b = img_base64("user:pa:ss", 10);
    assert_string_equal(b, "dXNlcjpwYTpzcw==");
    assert_int_equal(img_auth_decode(b, &u, &p, &err), 0);
    assert_string_equal(u, "user");
    assert_string_equal(p, "pa:ss");
    free(u);
    free(p);
    free(b);
    assert_int_equal(img_auth_decode("dXNlcg==", &u, &p, &err), -1); /* "user", no colon */
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_int_equal(img_auth_decode("!!!", &u, &p, &err), -1);
    assert_int_equal(img_auth_decode("OnB3", &u, &p, &err), -1); /* ":pw", empty user */
}

static void token_answers(void **state)
{
    char *t;
    int64_t exp;
    wc_err err = {0};
    assert_int_equal(img_token_parse("{\"token\":\"abc\",\"expires_in\":300}", &t, &exp, &err), 0);
    assert_string_equal(t, "abc");
    assert_int_equal(exp, 300);
    free(t);
    assert_int_equal(img_token_parse("{\"access_token\":\"xyz\"}", &t, &exp, &err), 0);
    assert_string_equal(t, "xyz");
    assert_int_equal(exp, 60);
    free(t);
    assert_int_equal(img_token_parse("{\"nothing\":1}", &t, &exp, &err), -1);
    assert_int_equal(err.code, WC_UNAUTHENTICATED);
    assert_int_equal(img_token_parse("not json", &t, &exp, &err), -1);
}

static void url_escaping(void **state)
{
    char *e = img_url_escape("repository:a/b:pull,push x");
    assert_string_equal(e, "repository%3Aa%2Fb%3Apull%2Cpush%20x");
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bearer_challenge),   cmocka_unit_test(quoting_spacing_and_errors),
        cmocka_unit_test(basic_and_multiple), cmocka_unit_test(bad_challenges),
        cmocka_unit_test(basic_credentials),  cmocka_unit_test(token_answers),
        cmocka_unit_test(url_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
