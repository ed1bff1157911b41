#include "tests/unit/testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/img_internal.h"

static char *mountpoint(const char *dir)
{
    img_fs_usage u;
    wc_err err = {0};
    assert_int_equal(img_dir_usage(dir, &u, &err), 0);
    char *m = strdup(u.mountpoint);
    img_fs_usage_clear(&u);
    return m;
}

/* The mount point comes from a cached copy of the mount table that follows mounts and
 * unmounts made after it was read (as containers' overlays come and go). */
static void mountpoint_follows_mounts(void **state)
{
    (void)state;
    char base[] = "/tmp/test_img_fsutil.XXXXXX";
    assert_non_null(mkdtemp(base));
    char sub[sizeof base + 8], real[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/sub", base);
    assert_int_equal(mkdir(sub, 0700), 0);
    char *before = mountpoint(sub);
    for (int i = 0; i < 3; i++) { /* read once, then served from the cache */
        char *again = mountpoint(sub);
        assert_string_equal(again, before);
        free(again);
    }
    if (geteuid() != 0 || mount("wincri-test", sub, "tmpfs", 0, "size=64k") < 0) {
        free(before);
        rmdir(sub);
        rmdir(base);
        skip();
    }
    assert_non_null(realpath(sub, real));
    char *mounted = mountpoint(sub);
    assert_string_equal(mounted, real);
    char *parent = mountpoint(base);
    assert_string_equal(parent, before);
    assert_int_equal(umount(sub), 0);
    char *after = mountpoint(sub);
    assert_string_equal(after, before);
    free(before);
    free(mounted);
    free(parent);
    free(after);
    rmdir(sub);
    rmdir(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(mountpoint_follows_mounts)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
