/* The commit order of layers whose import needs their parents (image/layer_order.c): base
 * first, each waited for in turn and committed with its parents immediate-parent-first,
 * already present layers skipped, and the first failure stopping the rest. */
#include "tests/unit/testutil.h"

#include <stdio.h>
#include <string.h>

#include "image/img_internal.h"

typedef struct record {
    char log[512];
    size_t fail_at;     /* layer index whose commit fails; SIZE_MAX for none */
    const int *pending; /* what ready answers per layer: 1 staged, 0 present, -1 failed */
} record;

static int rec_ready(void *ctx, size_t i, wc_err *err)
{
    record *r = ctx;
    size_t len = strlen(r->log);
    snprintf(r->log + len, sizeof r->log - len, "w%zu ", i);
    if (r->pending[i] < 0)
        return wc_err_set(err, WC_ABORTED, "layer %zu failed", i);
    return r->pending[i];
}

static int rec_commit(void *ctx, size_t i, const char *const *parents, size_t n, wc_err *err)
{
    record *r = ctx;
    size_t len = strlen(r->log);
    len += (size_t)snprintf(r->log + len, sizeof r->log - len, "%zu:[", i);
    for (size_t k = 0; k < n; k++)
        len +=
            (size_t)snprintf(r->log + len, sizeof r->log - len, "%s%s", k ? "," : "", parents[k]);
    snprintf(r->log + len, sizeof r->log - len, "] ");
    if (i == r->fail_at)
        return wc_err_set(err, WC_INTERNAL, "import %zu failed", i);
    return 0;
}

static const char *const dirs[] = {"L0", "L1", "L2", "L3"};

static void base_first_parents_nearest_first(void **state)
{
    (void)state;
    int pending[] = {1, 1, 1, 1};
    record r = {.fail_at = SIZE_MAX, .pending = pending};
    wc_err err = {0};
    assert_int_equal(img_commit_in_order(dirs, 4, rec_ready, rec_commit, &r, &err), 0);
    assert_string_equal(r.log, "w0 0:[] w1 1:[L0] w2 2:[L1,L0] w3 3:[L2,L1,L0] ");
}

static void present_layers_are_skipped_but_stay_parents(void **state)
{
    (void)state;
    int pending[] = {0, 0, 1, 1}; /* another pull committed the first two */
    record r = {.fail_at = SIZE_MAX, .pending = pending};
    wc_err err = {0};
    assert_int_equal(img_commit_in_order(dirs, 4, rec_ready, rec_commit, &r, &err), 0);
    assert_string_equal(r.log, "w0 w1 w2 2:[L1,L0] w3 3:[L2,L1,L0] ");
}

static void failure_stops_the_children(void **state)
{
    (void)state;
    int pending[] = {1, 1, 1, 1};
    record r = {.fail_at = 1, .pending = pending};
    wc_err err = {0};
    assert_int_equal(img_commit_in_order(dirs, 4, rec_ready, rec_commit, &r, &err), -1);
    assert_string_equal(r.log, "w0 0:[] w1 1:[L0] ");
    assert_int_equal(err.code, WC_INTERNAL);
    assert_string_equal(err.msg, "import 1 failed");
}

static void nothing_pending(void **state)
{
    (void)state;
    int pending[] = {0};
    record r = {.fail_at = SIZE_MAX, .pending = pending};
    wc_err err = {0};
    assert_int_equal(img_commit_in_order(dirs, 0, rec_ready, rec_commit, &r, &err), 0);
    assert_int_equal(img_commit_in_order(dirs, 1, rec_ready, rec_commit, &r, &err), 0);
    assert_string_equal(r.log, "w0 ");
}

/* A layer that never became ready (its pull failed) stops the commits: nothing above it is
 * committed, nor waited for. */
static void a_failed_layer_stops_the_waits(void **state)
{
    (void)state;
    int pending[] = {1, -1, 1, 1};
    record r = {.fail_at = SIZE_MAX, .pending = pending};
    wc_err err = {0};
    assert_int_equal(img_commit_in_order(dirs, 4, rec_ready, rec_commit, &r, &err), -1);
    assert_string_equal(r.log, "w0 0:[] w1 ");
    assert_int_equal(err.code, WC_ABORTED);
}

/* On Linux a layer stands alone: it commits as soon as it is unpacked and verified, by a
 * rename. The place must be free (the store moves an unverified dir away first), so a
 * second commit onto it fails, and its copy goes, instead of passing for a commit. */
static void linux_commit_is_a_rename(void **state)
{
    (void)state;
    char base[] = "/tmp/wincri-order-XXXXXX";
    assert_non_null(mkdtemp(base));
    char tmp[128], dir[128], tmp2[128];
    snprintf(tmp, sizeof tmp, "%s/tmp", base);
    snprintf(dir, sizeof dir, "%s/layer", base);
    snprintf(tmp2, sizeof tmp2, "%s/tmp2", base);
    wc_err err = {0};
    assert_int_equal(img_commit_needs_parents(), 0);
    assert_int_equal(img_mkdir_p(tmp, &err), 0);
    char f[160];
    snprintf(f, sizeof f, "%s/first", tmp);
    assert_int_equal(img_write_file_atomic(f, "1", 1, 1, &err), 0);
    assert_int_equal(img_commit_layer(tmp, dir, NULL, 0, 1, &err), 0);
    assert_true(img_path_exists(dir) && !img_path_exists(tmp));
    assert_int_equal(img_mkdir_p(tmp2, &err), 0);
    snprintf(f, sizeof f, "%s/x", tmp2);
    assert_int_equal(img_write_file_atomic(f, "x", 1, 1, &err), 0);
    assert_int_equal(img_commit_layer(tmp2, dir, NULL, 0, 0, &err), -1);
    assert_int_equal(err.code, WC_INTERNAL);
    assert_false(img_path_exists(tmp2));
    snprintf(f, sizeof f, "%s/first", dir);
    assert_true(img_path_exists(f));
    assert_int_equal(img_remove_tree(base, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base_first_parents_nearest_first),
        cmocka_unit_test(present_layers_are_skipped_but_stay_parents),
        cmocka_unit_test(failure_stops_the_children),
        cmocka_unit_test(nothing_pending),
        cmocka_unit_test(a_failed_layer_stops_the_waits),
        cmocka_unit_test(linux_commit_is_a_rename),
    };
    return cmocka_run_group_tests_name("img_layer_order", tests, NULL, NULL);
}
