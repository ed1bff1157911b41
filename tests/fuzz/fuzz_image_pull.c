/* Pulling an image end to end without a network: image/pull.c with the content store,
 * platform selection, digest checks, layer unpack and the image store, against a registry
 * double (fake_registry.c, linked instead of image/registry.c) that serves the input. The
 * store lives on a private tmpfs with the rest of the system read-only. After every pull
 * the image is removed again, and the store must then be empty: a failed pull leaves it
 * exactly as it was, and removing a pulled image collects every blob and layer.
 *
 * Input: one setup byte (bit 0: pull by the digest of part 0 instead of a tag; bit 1: no
 * Content-Length on blobs; bits 2-7: read size), then up to 10 parts separated by
 * "\n--\n", each a Content-Type line and a body. Part 0 answers the tag; every part answers
 * its own digest. In a body, {{dN}} becomes the digest of part N and {{sN}} its size, so
 * manifests can name blobs the fuzzer changes. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "image/image.h"
#include "tests/fuzz/fake_registry.h"
#include "tests/fuzz/fuzz.h"

#define MAX_PARTS 10

static wc_config *cfg;
static img_store *store;
static char images_dir[PATH_MAX];

static void finding(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz: %s: %s\n", what, detail);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    const char *scratch = fuzz_scratch_dir(*argc, *argv);
    char text[3 * PATH_MAX];
    snprintf(text, sizeof text,
             "{\"root\": \"%s/root\", \"state\": \"%s/state\", "
             "\"images\": {\"max_concurrent_downloads\": 2}}",
             scratch, scratch);
    wc_err err = {0};
    if (wc_config_parse(text, "fuzz", &cfg, &err) < 0 || img_store_open(cfg, &store, &err) < 0)
        finding("set up the image store", err.msg);
    snprintf(images_dir, sizeof images_dir, "%s/root/images", scratch);
    return 0;
}

typedef struct part {
    char *media_type;
    char *raw;
    size_t raw_len;
    char *body;
    size_t len;
} part;

/* Replaces {{dN}} and {{sN}} with the digest and size of part N as far as it is known. */
static void substitute(part *p, const fake_blob *blobs, size_t n)
{
    size_t cap = p->raw_len * 10 + 1, o = 0;
    p->body = malloc(cap);
    for (size_t i = 0; i < p->raw_len;) {
        const char *s = p->raw + i;
        size_t k = p->raw_len - i;
        if (k >= 6 && s[0] == '{' && s[1] == '{' && (s[2] == 'd' || s[2] == 's') && s[3] >= '0' &&
            s[3] <= '9' && s[4] == '}' && s[5] == '}' && (size_t)(s[3] - '0') < n) {
            const fake_blob *b = &blobs[s[3] - '0'];
            char sz[24];
            snprintf(sz, sizeof sz, "%zu", b->len);
            const char *v = s[2] == 'd' ? b->digest : sz;
            size_t vl = strlen(v);
            if (o + vl >= cap) {
                cap = 2 * (o + vl) + 1;
                p->body = realloc(p->body, cap);
            }
            memcpy(p->body + o, v, vl);
            o += vl;
            i += 6;
            continue;
        }
        if (o + 1 >= cap) {
            cap = 2 * cap + 1;
            p->body = realloc(p->body, cap);
        }
        p->body[o++] = p->raw[i++];
    }
    p->len = o;
}

static size_t entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Nothing of any pull is left: no image, blob, layer or temporary file. */
static void check_empty(const char *after)
{
    static const char *const subdirs[] = {"blobs/sha256", "layers", "tmp"};
    for (size_t i = 0; i < 3; i++) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", images_dir, subdirs[i]);
        if (entries(path))
            finding(after, path);
    }
    img_image **imgs = NULL;
    size_t n = 0;
    wc_err err = {0};
    if (img_image_list(store, NULL, &imgs, &n, &err) < 0 || n)
        finding(after, "an image is still listed");
    img_image_list_free(imgs, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    uint8_t setup = fuzz_byte(&in);
    part parts[MAX_PARTS] = {{0}};
    fake_blob blobs[MAX_PARTS] = {{0}};
    size_t n = 0;
    char *text;
    size_t len;
    while (n < MAX_PARTS && (text = fuzz_part(&in, &len)) != NULL) {
        char *nl = memchr(text, '\n', len);
        size_t mt = nl ? (size_t)(nl - text) : len;
        parts[n].media_type = fuzz_strndup(text, mt);
        parts[n].raw_len = nl ? len - mt - 1 : 0;
        parts[n].raw = fuzz_strndup(nl ? nl + 1 : "", parts[n].raw_len);
        free(text);
        n++;
    }
    if (n == 0)
        return 0;
    /* Raw digests first, then bodies from the last part back, so that a part sees the final
     * digests of the parts after it. */
    for (size_t i = 0; i < n; i++)
        img_sha256_digest(parts[i].raw, parts[i].raw_len, blobs[i].digest);
    for (size_t i = n; i-- > 0;) {
        substitute(&parts[i], blobs, n);
        blobs[i] =
            (fake_blob){parts[i].media_type, (const uint8_t *)parts[i].body, parts[i].len, ""};
        img_sha256_digest(parts[i].body, parts[i].len, blobs[i].digest);
    }
    fake_registry_serve(blobs, n, 1 + (size_t)(setup >> 2) * 1021, (setup >> 1) & 1);

    char ref[200];
    if (setup & 1)
        snprintf(ref, sizeof ref, "127.0.0.1:5000/fuzz/image@%s", blobs[0].digest);
    else
        snprintf(ref, sizeof ref, "127.0.0.1:5000/fuzz/image:latest");
    img_pull_opts opts = {.ref = ref};
    char *id = NULL;
    wc_err err = {0};
    int rc = img_pull(store, &opts, &id, &err);
    if (getenv("FUZZ_VERBOSE")) /* to see what a seed gets to */
        fprintf(stderr, "fuzz: pull %s: %s\n", ref, rc == 0 ? id : err.msg);
    if (rc == 0) {
        img_image *img = NULL;
        if (img_image_lookup(store, id, &img, &err) < 0)
            finding("a pulled image cannot be found", err.msg);
        if (strcmp(img->id, id) != 0 || !img_digest_valid(img->id))
            finding("the pulled image has another ID", img->id);
        img_image_free(img);
        if (img_remove(store, ref, &err) < 0)
            finding("the pulled image cannot be removed", err.msg);
        check_empty("removing the only image left something behind");
    } else {
        size_t ml = strlen(err.msg), el = strlen(strerror(EROFS));
        if (err.sys == EROFS || err.sys == EXDEV ||
            (ml >= el && strcmp(err.msg + ml - el, strerror(EROFS)) == 0))
            finding("a layer wrote outside the store", err.msg);
        check_empty("a failed pull left something behind");
    }
    free(id);
    for (size_t i = 0; i < n; i++) {
        free(parts[i].media_type);
        free(parts[i].raw);
        free(parts[i].body);
    }
    return 0;
}
