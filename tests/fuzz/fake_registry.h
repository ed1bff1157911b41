/* A registry client double for fuzzing pulls (tests/fuzz/fake_registry.c): it replaces
 * image/registry.c at link time and serves manifests and blobs from memory, so the real
 * pull (image/pull.c), content store, unpack and image store run without a network. */
#ifndef WINCRI_TESTS_FUZZ_FAKE_REGISTRY_H
#define WINCRI_TESTS_FUZZ_FAKE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "image/img_internal.h"

typedef struct fake_blob {
    const char *media_type; /* Content-Type of a manifest answer */
    const uint8_t *body;
    size_t len;
    char digest[IMG_DIGEST_LEN + 1]; /* sha256 of body */
} fake_blob;

/* What the registry holds from now on: blobs[0] answers the tag, any blob answers its
 * digest (manifest or blob). Reads return at most `chunk` bytes; with `no_length` blob
 * answers carry no Content-Length. The array must outlive the pulls that use it. */
void fake_registry_serve(const fake_blob *blobs, size_t n, size_t chunk, int no_length);

#endif
