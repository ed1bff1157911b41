/* Windows path joins and long-path prefixes (hcs/winstr.h); argv quoting is covered in
 * test_hcsdoc.c and, through CommandLineToArgvW, in the wine test. */
#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "hcs/winstr.h"

static const char *show(const char *s)
{
    return s ? s : "NULL";
}

static void expect_join(const char *base, const char *rel, const char *want)
{
    char *got = hcs_path_join(base, rel);
    if (!want) {
        if (got)
            fail_msg("join(%s, %s) = %s, want NULL", show(base), show(rel), got);
        return;
    }
    if (!got || strcmp(got, want) != 0)
        fail_msg("join(%s, %s) = %s, want %s", show(base), show(rel), show(got), want);
    free(got);
}

static void joins(void **state)
{
    expect_join("C:\\ProgramData\\wincri", "layers\\abc", "C:\\ProgramData\\wincri\\layers\\abc");
    expect_join("C:\\ProgramData\\wincri\\", "layers", "C:\\ProgramData\\wincri\\layers");
    expect_join("C:\\ProgramData\\wincri\\\\", "x", "C:\\ProgramData\\wincri\\x");
    expect_join("C:\\", "Windows", "C:\\Windows");
    expect_join("C:/data", "a/b", "C:\\data\\a\\b");
    expect_join("C:\\data", "D:\\other", "D:\\other");
    expect_join("C:\\data\\sub", "\\rooted", "C:\\rooted");
    expect_join("\\\\?\\C:\\data", "x", "\\\\?\\C:\\data\\x");
    expect_join("\\\\?\\C:\\", "x", "\\\\?\\C:\\x");
    expect_join("\\\\?\\Volume{5f0e6a1c-2b3d-4c5e-8f9a-0b1c2d3e4f5a}\\", "Files",
                "\\\\?\\Volume{5f0e6a1c-2b3d-4c5e-8f9a-0b1c2d3e4f5a}\\Files");
    expect_join("\\\\?\\Volume{5f0e6a1c-2b3d-4c5e-8f9a-0b1c2d3e4f5a}\\a", "\\b",
                "\\\\?\\Volume{5f0e6a1c-2b3d-4c5e-8f9a-0b1c2d3e4f5a}\\b");
    expect_join("\\\\server\\share", "dir", "\\\\server\\share\\dir");
    expect_join("\\\\server\\share\\a", "\\b", "\\\\server\\share\\b");
    expect_join("C:\\x", "\\\\?\\D:\\y", "\\\\?\\D:\\y");
    expect_join("relative", "x", "relative\\x");
    expect_join("C:\\x", "C:rel", NULL);
    expect_join("C:rel", "x", NULL);
    expect_join(NULL, "x", NULL);
}

static void long_paths(void **state)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"C:\\ProgramData\\x", "\\\\?\\C:\\ProgramData\\x"},
        {"C:/a/b", "\\\\?\\C:\\a\\b"},
        {"\\\\server\\share\\x", "\\\\?\\UNC\\server\\share\\x"},
        {"\\\\?\\C:\\already", "\\\\?\\C:\\already"},
        {"relative\\x", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = hcs_path_long(cases[i].in);
        if (!cases[i].out) {
            assert_null(got);
            continue;
        }
        assert_non_null(got);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
    assert_true(hcs_path_is_absolute("C:\\x"));
    assert_false(hcs_path_is_absolute("C:x"));
    assert_false(hcs_path_is_absolute("\\x"));
    assert_true(hcs_path_is_absolute("\\\\srv\\x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(joins), cmocka_unit_test(long_paths)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
