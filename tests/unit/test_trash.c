/* Deferred deletion (common/trash.h): the name is free at once, the files go in the
 * background, a crash's leftovers go at the next open, and every failure falls back to
 * removing in the caller. */
#include "tests/unit/testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/trash.h"
#include "podsandbox/platform.h"

typedef struct env {
    char dir[256];
    int removed; /* trees the remover was called for */
} env;

static env *the_env;

static int counting_remove(const char *path, wc_err *err)
{
    the_env->removed++;
    return pod_platform_remove_tree(path, err);
}

static int setup(void **state)
{
    env *e = calloc(1, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/wctest-trash-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    the_env = e;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    wc_err err = {0};
    pod_platform_remove_tree(e->dir, &err);
    free(e);
    return 0;
}

/* <dir>/<name>/a/b/file, a small tree. */
static void make_tree(const char *dir, const char *name, char *out, size_t cap)
{
    char path[512];
    snprintf(out, cap, "%s/%s", dir, name);
    assert_int_equal(mkdir(out, 0700), 0);
    snprintf(path, sizeof path, "%s/a", out);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/a/b", out);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/a/b/file", out);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
}

static size_t entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void name_free_at_once_files_later(void **state)
{
    env *e = *state;
    const char *parents[] = {e->dir};
    wc_trash *t = wc_trash_open(counting_remove, parents, 1);
    assert_non_null(t);
    char tree[512], again[512], trash[512];
    make_tree(e->dir, "c1", tree, sizeof tree);
    wc_err err = {0};
    assert_int_equal(wc_trash_put(t, counting_remove, tree, &err), 0);
    assert_int_equal(access(tree, F_OK), -1);
    make_tree(e->dir, "c1", again, sizeof again); /* the name can be used again at once */
    assert_int_equal(wc_trash_put(t, counting_remove, again, &err), 0);
    wc_trash_settle(t);
    snprintf(trash, sizeof trash, "%s/" WC_TRASH_DIR, e->dir);
    assert_int_equal(entries(trash), 0);
    assert_int_equal(e->removed, 2);
    assert_int_equal(wc_trash_put(t, counting_remove, tree, &err), 0); /* gone: not an error */
    assert_int_equal(e->removed, 2);
    wc_trash_close(t);
}

static void leftovers_go_at_open(void **state)
{
    env *e = *state;
    char trash[512], left[512];
    snprintf(trash, sizeof trash, "%s/" WC_TRASH_DIR, e->dir);
    assert_int_equal(mkdir(trash, 0700), 0);
    make_tree(trash, "left.1", left, sizeof left); /* what a crash left */
    make_tree(trash, "left.2", left, sizeof left);
    const char *parents[] = {e->dir};
    wc_trash *t = wc_trash_open(counting_remove, parents, 1);
    assert_non_null(t);
    wc_trash_settle(t);
    assert_int_equal(entries(trash), 0);
    assert_int_equal(e->removed, 2);
    wc_trash_close(t);
}

static void without_a_trash_the_caller_removes(void **state)
{
    env *e = *state;
    char tree[512];
    make_tree(e->dir, "c2", tree, sizeof tree);
    wc_err err = {0};
    assert_int_equal(wc_trash_put(NULL, counting_remove, tree, &err), 0);
    assert_int_equal(access(tree, F_OK), -1);
    assert_int_equal(e->removed, 1);
    wc_trash_close(NULL);
    wc_trash_settle(NULL);
}

/* A tree that cannot be moved (here: the trash is a file, so .trash/ cannot be made) is
 * removed in the caller, and its removal's failure is the caller's. */
static void unmovable_is_removed_in_place(void **state)
{
    env *e = *state;
    char sub[300], trash[512], tree[512];
    snprintf(sub, sizeof sub, "%s/p", e->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(trash, sizeof trash, "%s/" WC_TRASH_DIR, sub);
    int fd = open(trash, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    const char *parents[] = {sub};
    wc_trash *t = wc_trash_open(counting_remove, parents, 1);
    make_tree(sub, "c3", tree, sizeof tree);
    wc_err err = {0};
    assert_int_equal(wc_trash_put(t, counting_remove, tree, &err), 0);
    assert_int_equal(access(tree, F_OK), -1);
    assert_int_equal(e->removed, 1);
    wc_trash_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(name_free_at_once_files_later, setup, teardown),
        cmocka_unit_test_setup_teardown(leftovers_go_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(without_a_trash_the_caller_removes, setup, teardown),
        cmocka_unit_test_setup_teardown(unmovable_is_removed_in_place, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
