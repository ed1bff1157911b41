/* Image references (image/ref.c) as CRI's ImageSpec.image carries them into PullImage,
 * ImageStatus and RemoveImage: parse and normalise, and the normal form parses to itself.
 * Also the other small checks of names and digests: loopback hosts, digest strings and tar
 * member names (image/unpack.c). Input: the reference text. */
#include <stdlib.h>
#include <string.h>

#include "image/img_internal.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    img_ref ref;
    wc_err err = {0};
    if (img_ref_parse(s, &ref, &err) == 0) {
        if (!ref.domain || !ref.path || (!ref.tag && !ref.digest) ||
            (ref.digest && !img_digest_valid(ref.digest)))
            abort();
        img_host_is_loopback(ref.domain);
        char *norm = img_ref_string(&ref), *repo = img_ref_repo(&ref);
        img_ref again;
        if (img_ref_parse(norm, &again, &err) < 0 || !same(again.domain, ref.domain) ||
            !same(again.path, ref.path) || !same(again.tag, ref.tag) ||
            (!ref.tag && !same(again.digest, ref.digest)))
            abort();
        img_ref_clear(&again);
        free(norm);
        free(repo);
        img_ref_clear(&ref);
    } else if (err.code != WC_INVALID_ARGUMENT) {
        abort();
    }
    img_host_is_loopback(s);
    img_digest_valid(s);
    char clean[4096];
    if (img_tar_clean_path(s, clean, sizeof clean, &err) == 0 &&
        (clean[0] == '/' || strstr(clean, "//") || strcmp(clean, "..") == 0 ||
         strncmp(clean, "../", 3) == 0 || strstr(clean, "/../") ||
         (strlen(clean) >= 3 && strcmp(clean + strlen(clean) - 3, "/..") == 0)))
        abort(); /* a cleaned member name stays inside the layer */
    free(s);
    return 0;
}
