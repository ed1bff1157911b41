/* Allocation that cannot fail (common/xalloc.h): what the functions return, and that a
 * failure logs one line and aborts. */
#include "tests/unit/testutil.h"

#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/xalloc.h"

static void strings(void **state)
{
    (void)state;
    char *s = wc_xstrdup("abc");
    assert_string_equal(s, "abc");
    free(s);
    s = wc_xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = wc_xstrndup("ab", 10); /* stops at the NUL */
    assert_string_equal(s, "ab");
    free(s);
    s = wc_xasprintf("%s=%d", "k", 42);
    assert_string_equal(s, "k=42");
    free(s);
    s = wc_xasprintf("%s", "");
    assert_string_equal(s, "");
    free(s);
}

static void zero_sizes(void **state)
{
    (void)state;
    void *p = wc_xmalloc(0);
    assert_non_null(p);
    p = wc_xrealloc(p, 0);
    assert_non_null(p);
    free(p);
    p = wc_xcalloc(0, 8);
    assert_non_null(p);
    free(p);
    p = wc_xcalloc(8, 0);
    assert_non_null(p);
    free(p);
    int *v = wc_xcalloc(4, sizeof *v);
    assert_int_equal(v[0] + v[1] + v[2] + v[3], 0);
    v = wc_xrealloc(v, 100 * sizeof *v);
    v[99] = 1;
    free(v);
}

/* The failure path, in a child: the overflowing calloc is refused before libc (or a
 * sanitizer's allocator) sees it. */
static void failure_logs_and_aborts(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        void *p = wc_xcalloc(SIZE_MAX / 2, 4);
        free(p);
        _exit(0);
    }
    close(fds[1]);
    char buf[512] = {0};
    size_t got = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(buf, "level=error component=alloc msg=\"out of memory\" bytes="));
}

static void jansson_uses_it(void **state)
{
    (void)state;
    wc_xalloc_init();
    json_t *o = json_pack("{s:s}", "a", "b");
    assert_non_null(o);
    char *text = json_dumps(o, JSON_COMPACT);
    assert_string_equal(text, "{\"a\":\"b\"}");
    free(text); /* Jansson's strings are wc_xmalloc's, freed by free() */
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strings),
        cmocka_unit_test(zero_sizes),
        cmocka_unit_test(failure_logs_and_aborts),
        cmocka_unit_test(jansson_uses_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
