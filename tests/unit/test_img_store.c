#include "tests/unit/testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/config.h"
#include "image/store_priv.h"

#define H(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static char root[PATH_MAX];

static wc_config *open_cfg(void)
{
    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "{\"root\": \"%s\"}", root);
    wc_config *cfg = NULL;
    wc_err err = {0};
    assert_int_equal(wc_config_parse(text, "t.json", &cfg, &err), 0);
    return cfg;
}

/* Records an image with one layer whose dir and blob exist on disk. */
static void add_image(img_store *s, const char *id, const char *tag, const char *chain,
                      const char *blob)
{
    char *dir = img_layer_path(s, chain);
    mkdir(dir, 0755);
    free(dir);
    char *bp = img_blob_path(s, blob);
    FILE *f = fopen(bp, "w");
    fputs("x", f);
    fclose(f);
    free(bp);
    const char *tags[] = {tag};
    const char *blobs[] = {blob};
    img_layer_rec l = {chain, blob, "application/vnd.oci.image.layer.v1.tar", 1};
    img_record r = {.id = id,
                    .manifest_digest = H("9"),
                    .config = "{\"config\":{\"User\":\"7\"}}",
                    .size = 2,
                    .tags = tags,
                    .n_tags = 1,
                    .blobs = blobs,
                    .n_blobs = 1,
                    .layers = &l,
                    .n_layers = 1};
    wc_err err = {0};
    assert_int_equal(img_db_commit(s, &r, &err), 0);
}

static int exists_layer(img_store *s, const char *chain)
{
    char *d = img_layer_path(s, chain);
    int e = img_path_exists(d);
    free(d);
    return e;
}

static void lookup_remove_hold(void **state)
{
    snprintf(root, sizeof root, "/tmp/test_img_store.XXXXXX");
    assert_non_null(mkdtemp(root));
    wc_config *cfg = open_cfg();
    img_store *s = NULL;
    wc_err err = {0};
    assert_int_equal(img_store_open(cfg, &s, &err), 0);
    add_image(s, H("a"), "docker.io/library/one:latest", H("c"), H("b"));

    img_image *img = NULL;
    assert_int_equal(img_image_lookup(s, "one", &img, &err), 0);
    assert_string_equal(img->id, H("a"));
    assert_int_equal(img->uid, 7);
    assert_int_equal(img->n_layers, 1);
    img_image_free(img);
    assert_int_equal(img_image_lookup(s, "aaaaaaaaaaaa", &img, &err), 0);
    img_image_free(img);
    assert_int_equal(img_image_lookup(s, "two", &img, &err), -1);
    assert_int_equal(err.code, WC_NOT_FOUND);
    assert_int_equal(img_image_lookup(s, "Bad Name", &img, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);

    /* a held layer outlives its image until released */
    assert_int_equal(img_hold(s, "ctr1", H("a"), &err), 0);
    assert_int_equal(img_hold(s, "ctr1", H("a"), &err), 0);
    assert_int_equal(img_remove(s, "one", &err), 0);
    assert_int_equal(img_image_lookup(s, H("a"), &img, &err), -1);
    assert_true(exists_layer(s, H("c")));
    img_store_close(s);

    /* holds survive a restart */
    assert_int_equal(img_store_open(cfg, &s, &err), 0);
    assert_true(exists_layer(s, H("c")));
    assert_int_equal(img_release(s, "ctr1", &err), 0);
    assert_false(exists_layer(s, H("c")));
    char *bp = img_blob_path(s, H("b"));
    assert_false(img_path_exists(bp));
    free(bp);
    assert_int_equal(img_remove(s, "never-there", &err), 0);
    assert_int_equal(img_release(s, "nobody", &err), 0);

    img_fs_usage u;
    assert_int_equal(img_store_usage(s, &u, &err), 0);
    assert_true(u.inodes_used > 0 && u.used_bytes > 0);
    img_fs_usage_clear(&u);
    img_store_close(s);
    wc_config_free(cfg);
    img_remove_tree(root, &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(lookup_remove_hold)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
