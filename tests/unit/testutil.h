/* Included first by every unit test: cmocka needs these before its header. */
#ifndef WINCRI_TESTUTIL_H
#define WINCRI_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

/* Run only some cases: CMOCKA_TEST_FILTER and CMOCKA_SKIP_FILTER are globs matched against
 * whole case names (`make unit CASE=user` sets the first to `*user*`). Newer cmocka reads
 * both variables itself; Debian 12's 1.1.5 only has the setters, so they are called here,
 * before main(), and no test's main() needs to know. */
__attribute__((constructor)) static void wincri_test_filters_from_env(void)
{
    const char *only = getenv("CMOCKA_TEST_FILTER");
    const char *skip = getenv("CMOCKA_SKIP_FILTER");
    if (only != NULL && only[0] != '\0')
        cmocka_set_test_filter(only);
    if (skip != NULL && skip[0] != '\0')
        cmocka_set_skip_filter(skip);
}
#endif
