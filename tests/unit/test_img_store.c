#include "tests/unit/testutil.h"

#include <dirent.h>
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

/* A new store under a new root with images "one" (id a, layer c) and "two" (id e, layer d). */
static img_store *store_with_one_and_two(wc_config **cfg)
{
    snprintf(root, sizeof root, "/tmp/test_img_store.XXXXXX");
    assert_non_null(mkdtemp(root));
    *cfg = open_cfg();
    img_store *s = NULL;
    wc_err err = {0};
    assert_int_equal(img_store_open(*cfg, &s, &err), 0);
    add_image(s, H("a"), "docker.io/library/one:latest", H("c"), H("b"));
    add_image(s, H("e"), "docker.io/library/two:latest", H("d"), H("f"));
    return s;
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

static void touch(const char *dir, const char *name)
{
    char p[PATH_MAX + 128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
}

static int has(img_store *s, const char *chain, const char *name)
{
    char *d = img_layer_path(s, chain);
    char p[PATH_MAX + 128];
    snprintf(p, sizeof p, "%s/%s", d, name);
    free(d);
    return img_path_exists(p);
}

static int quarantined(img_store *s)
{
    int n = 0;
    DIR *d = opendir(s->quarantine_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* A fresh staging dir holding one file, as an unpacked layer would be. */
static char *staged(img_store *s, const char *file)
{
    char *t = img_tmp_path(s, "layer");
    assert_int_equal(mkdir(t, 0755), 0);
    touch(t, file);
    return t;
}

/* Only a layer dir installed after verification counts as verified; a dir found in its
 * place is moved aside, and kept only while a container holds its chain; GC takes the mark
 * with the dir. */
static void verified_marks(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/test_img_store.XXXXXX");
    assert_non_null(mkdtemp(root));
    wc_config *cfg = open_cfg();
    img_store *s = NULL;
    wc_err err = {0};
    assert_int_equal(img_store_open(cfg, &s, &err), 0);

    /* an unmarked dir (half written, planted, or from an older wincri) is not verified */
    char *dir = img_layer_path(s, H("d"));
    assert_int_equal(mkdir(dir, 0755), 0);
    touch(dir, "POISONED");
    assert_false(img_layer_verified(s, H("d"), H("d")));

    img_lease_add(s, H("d")); /* as a pull leases what it works on */
    char *t = staged(s, "genuine");
    assert_int_equal(img_layer_install(s, t, H("d"), H("d"), NULL, 0, 1, &err), 0);
    assert_true(img_layer_verified(s, H("d"), H("d")));
    assert_false(img_layer_verified(s, H("d"), H("e"))); /* the mark names its diff ID */
    assert_true(has(s, H("d"), "genuine"));
    assert_false(has(s, H("d"), "POISONED"));
    assert_int_equal(quarantined(s), 0); /* nothing held it: gone */
    free(t);

    /* GC takes mark and dir together */
    img_lease_drop(s, H("d"));
    img_gc(s);
    assert_false(img_path_exists(dir));
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_false(img_layer_verified(s, H("d"), H("d")));
    free(dir);

    /* an image from before verification, its layer in use by a container */
    add_image(s, H("a"), "docker.io/library/old:latest", H("c"), H("b"));
    assert_int_equal(img_hold(s, "ctr1", H("a"), &err), 0);
    assert_false(img_layer_verified(s, H("c"), H("c")));
    t = staged(s, "verified");
    assert_int_equal(img_layer_install(s, t, H("c"), H("c"), NULL, 0, 1, &err), 0);
    assert_true(img_layer_verified(s, H("c"), H("c")) && has(s, H("c"), "verified"));
    assert_int_equal(quarantined(s), 1); /* a running container may still read it */
    free(t);
    /* the quarantined dir outlives a restart while held; the mark is durable */
    img_store_close(s);
    assert_int_equal(img_store_open(cfg, &s, &err), 0);
    assert_int_equal(quarantined(s), 1);
    assert_true(img_layer_verified(s, H("c"), H("c")));
    assert_int_equal(img_release(s, "ctr1", &err), 0);
    assert_int_equal(quarantined(s), 0);
    assert_true(img_layer_verified(s, H("c"), H("c"))); /* the image still uses it */

    img_store_close(s);
    wc_config_free(cfg);
    img_remove_tree(root, &err);
}

static int entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

static int exists_blob(img_store *s, const char *digest)
{
    char *p = img_blob_path(s, digest);
    int e = img_path_exists(p);
    free(p);
    return e;
}

/* RemoveImage takes the image, the verified marks of layers nothing else uses and their dirs
 * and blobs out of the store before it returns; the bytes go in the background (trash/), and
 * a crash's leftovers there go at the next open. A layer another image uses, or a pull has
 * leased, keeps its dir and its mark. */
static void remove_frees_in_background(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/test_img_store.XXXXXX");
    assert_non_null(mkdtemp(root));
    wc_config *cfg = open_cfg();
    img_store *s = NULL;
    wc_err err = {0};
    assert_int_equal(img_store_open(cfg, &s, &err), 0);
    char expected_trash[PATH_MAX + 32];
    snprintf(expected_trash, sizeof expected_trash, "%s/images.trash", root);
    assert_string_equal(s->trash_dir, expected_trash); /* same filesystem: beside images/ */

    img_lease_add(s, H("c"));
    char *t = staged(s, "shared");
    assert_int_equal(img_layer_install(s, t, H("c"), H("c"), NULL, 0, 1, &err), 0);
    free(t);
    img_lease_drop(s, H("c"));
    add_image(s, H("a"), "docker.io/library/one:latest", H("c"), H("b"));
    add_image(s, H("e"), "docker.io/library/two:latest", H("c"), H("f"));

    assert_int_equal(img_remove(s, "one", &err), 0);
    assert_false(exists_blob(s, H("b")));
    assert_true(exists_blob(s, H("f")));
    assert_true(img_layer_verified(s, H("c"), H("c"))); /* "two" still uses it */

    assert_int_equal(img_remove(s, "two", &err), 0);
    assert_false(img_layer_verified(s, H("c"), H("c")));
    assert_false(exists_layer(s, H("c")));
    assert_false(exists_blob(s, H("f")));
    img_store_settle(s);
    assert_int_equal(entries(s->trash_dir), 0);
    img_image *img = NULL;
    assert_int_equal(img_image_lookup(s, H("a"), &img, &err), -1);

    /* a layer a pull is working with keeps its mark and its dir */
    img_lease_add(s, H("d"));
    t = staged(s, "leased");
    assert_int_equal(img_layer_install(s, t, H("d"), H("d"), NULL, 0, 1, &err), 0);
    free(t);
    add_image(s, H("a"), "docker.io/library/one:latest", H("d"), H("b"));
    assert_int_equal(img_remove(s, "one", &err), 0);
    assert_true(img_layer_verified(s, H("d"), H("d")) && has(s, H("d"), "leased"));
    img_lease_drop(s, H("d"));
    img_gc(s);
    assert_false(exists_layer(s, H("d")));
    assert_false(img_layer_verified(s, H("d"), H("d")));

    /* what a crash left in trash/ goes at the next open */
    img_store_close(s);
    char left[PATH_MAX + 64];
    snprintf(left, sizeof left, "%s/gc-left", expected_trash);
    assert_int_equal(mkdir(left, 0700), 0);
    touch(left, "file");
    assert_int_equal(img_store_open(cfg, &s, &err), 0);
    img_store_settle(s);
    assert_int_equal(entries(s->trash_dir), 0);

    img_store_close(s);
    wc_config_free(cfg);
    img_remove_tree(root, &err);
}

/* Looked up many times, an image is the same every time (statements are reused, the user is
 * parsed once per image ID), and a removed image is not found. */
static void repeated_lookups(void **state)
{
    (void)state;
    wc_config *cfg = NULL;
    img_store *s = store_with_one_and_two(&cfg);
    wc_err err = {0};
    for (int i = 0; i < 200; i++) {
        img_image *img = NULL;
        assert_int_equal(img_image_lookup(s, i % 2 ? "one" : H("e"), &img, &err), 0);
        assert_string_equal(img->id, i % 2 ? H("a") : H("e"));
        assert_int_equal(img->uid, 7);
        assert_string_equal(img->username, "");
        assert_int_equal(img->n_repo_tags, 1);
        img_image_free(img);
        img_image **all = NULL;
        size_t n = 0;
        assert_int_equal(img_image_list(s, NULL, &all, &n, &err), 0);
        assert_int_equal(n, 2);
        img_image_list_free(all, n);
    }
    /* Answers come from a cache: a tag moved to another image shows at once in both. */
    add_image(s, H("g"), "docker.io/library/two:latest", H("h"), H("i"));
    img_image *img = NULL;
    assert_int_equal(img_image_lookup(s, H("e"), &img, &err), 0);
    assert_int_equal(img->n_repo_tags, 0);
    img_image_free(img);
    assert_int_equal(img_image_lookup(s, "two", &img, &err), 0);
    assert_string_equal(img->id, H("g"));
    img_image_free(img);
    img_image **all = NULL;
    size_t n = 0;
    assert_int_equal(img_image_list(s, NULL, &all, &n, &err), 0);
    assert_int_equal(n, 3);
    img_image_list_free(all, n);
    assert_int_equal(img_remove(s, "one", &err), 0);
    assert_int_equal(img_image_lookup(s, "one", &img, &err), -1);
    assert_int_equal(err.code, WC_NOT_FOUND);
    assert_int_equal(img_image_lookup(s, H("a"), &img, &err), -1);
    assert_int_equal(img_image_list(s, NULL, &all, &n, &err), 0);
    assert_int_equal(n, 2);
    img_image_list_free(all, n);
    /* With every image in memory, ids and their prefixes resolve there as in the database. */
    const char *by_id[] = {"eeeeeeeeeeee", "sha256:eeeeeeeeeeeeeeee", H("e")};
    for (size_t i = 0; i < sizeof by_id / sizeof by_id[0]; i++) {
        assert_int_equal(img_image_lookup(s, by_id[i], &img, &err), 0);
        assert_string_equal(img->id, H("e"));
        img_image_free(img);
    }
    const char *absent[] = {"eeeeeeeeeee" /* too short for a prefix */, "sha256:ffffffffffff",
                            "docker.io/library/one:latest", "two:other"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        assert_int_equal(img_image_lookup(s, absent[i], &img, &err), -1);
        assert_int_equal(err.code, WC_NOT_FOUND);
    }
    img_store_close(s);
    wc_config_free(cfg);
    img_remove_tree(root, &err);
}

static void list_ids(img_store *s, const char *const *want, size_t n_want)
{
    img_image **all = NULL;
    size_t n = 0;
    wc_err err = {0};
    assert_int_equal(img_image_list(s, NULL, &all, &n, &err), 0);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(all[i]->id, want[i]);
    img_image_list_free(all, n);
}

/* After a start the first look-up loads every image into memory (no ListImages needed), in
 * ListImages' order; a database that cannot be read leaves nothing half-loaded: ListImages
 * fails with INTERNAL rather than answer with some of the images. */
static void images_in_memory_from_the_first_look_up(void **state)
{
    (void)state;
    wc_config *cfg = NULL;
    img_store *s = store_with_one_and_two(&cfg);
    wc_err err = {0};
    add_image(s, H("g"), "docker.io/library/three:latest", H("h"), H("i"));
    img_store_close(s);

    assert_int_equal(img_store_open(cfg, &s, &err), 0);
    assert_false(s->cache_complete);
    img_image *img = NULL;
    assert_int_equal(img_image_lookup(s, "two", &img, &err), 0);
    assert_string_equal(img->id, H("e"));
    img_image_free(img);
    assert_true(s->cache_complete);
    assert_int_equal(s->n_cache, 3);
    const char *order[] = {H("a"), H("e"), H("g")};
    list_ids(s, order, 3);

    /* a failed commit invalidates the cache; the images table cannot be read meanwhile */
    s->image_gen++;
    assert_int_equal(
        sqlite3_exec(s->db, "ALTER TABLE images RENAME TO images_away", NULL, NULL, NULL),
        SQLITE_OK);
    img_image **all = NULL;
    size_t n = 0;
    assert_int_equal(img_image_list(s, NULL, &all, &n, &err), -1);
    assert_int_equal(err.code, WC_INTERNAL);
    assert_non_null(strstr(err.msg, "ListImages"));
    assert_non_null(strstr(err.msg, "images.db: list images: no such table: images"));
    assert_false(s->cache_complete);
    assert_int_equal(s->n_cache, 0);
    assert_int_equal(
        sqlite3_exec(s->db, "ALTER TABLE images_away RENAME TO images", NULL, NULL, NULL),
        SQLITE_OK);
    list_ids(s, order, 3);
    assert_int_equal(img_image_lookup(s, "three", &img, &err), 0);
    assert_string_equal(img->id, H("g"));
    img_image_free(img);

    img_store_close(s);
    wc_config_free(cfg);
    img_remove_tree(root, &err);
}

static int only_ctr1(void *ctx, const char *holder)
{
    (void)ctx;
    return strcmp(holder, "ctr1") == 0;
}

static int nobody(void *ctx, const char *holder)
{
    (void)ctx;
    (void)holder;
    return 0;
}

/* A release a crash cut short (it is not synced) leaves a hold no container owns: the next
 * start drops it, and the layers it kept go, but not those a live container holds. */
static void holds_of_gone_containers_pruned(void **state)
{
    (void)state;
    wc_config *cfg = NULL;
    img_store *s = store_with_one_and_two(&cfg);
    wc_err err = {0};
    assert_int_equal(img_hold(s, "ctr1", H("a"), &err), 0);
    assert_int_equal(img_hold(s, "ctr2", H("a"), &err), 0);
    assert_int_equal(img_hold(s, "ctr2", H("e"), &err), 0);
    assert_int_equal(img_remove(s, "one", &err), 0);
    assert_int_equal(img_remove(s, "two", &err), 0);
    img_store_settle(s);
    assert_true(exists_layer(s, H("c")) && exists_layer(s, H("d")));

    assert_int_equal(img_holds_prune(s, only_ctr1, NULL), 1);
    img_store_settle(s);
    assert_true(exists_layer(s, H("c")));  /* ctr1 still holds it */
    assert_false(exists_layer(s, H("d"))); /* only ctr2 did */
    assert_int_equal(img_holds_prune(s, only_ctr1, NULL), 0);
    img_store_close(s);

    assert_int_equal(img_store_open(cfg, &s, &err), 0);
    assert_int_equal(img_holds_prune(s, nobody, NULL), 1);
    img_store_settle(s);
    assert_false(exists_layer(s, H("c")));
    img_store_close(s);
    wc_config_free(cfg);
    img_remove_tree(root, &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(lookup_remove_hold),
                                       cmocka_unit_test(verified_marks),
                                       cmocka_unit_test(remove_frees_in_background),
                                       cmocka_unit_test(repeated_lookups),
                                       cmocka_unit_test(images_in_memory_from_the_first_look_up),
                                       cmocka_unit_test(holds_of_gone_containers_pruned)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
