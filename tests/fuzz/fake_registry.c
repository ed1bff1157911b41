/* The registry client's interface (image/img_internal.h, "Registry client") served from
 * memory; see fake_registry.h. Only loopback references are accepted: nothing here can
 * name, let alone reach, another host. */
#include "tests/fuzz/fake_registry.h"

#include <stdlib.h>
#include <string.h>

static const fake_blob *served;
static size_t n_served, chunk_size = 4096;
static int without_length;

void fake_registry_serve(const fake_blob *blobs, size_t n, size_t chunk, int no_length)
{
    served = blobs;
    n_served = n;
    chunk_size = chunk ? chunk : 1;
    without_length = no_length;
}

struct img_registry {
    int unused;
};

struct img_session {
    char *repo;
};

struct img_reader {
    const fake_blob *b;
    size_t off;
};

int img_registry_new(const json_t *registries, int stall_seconds, img_registry **out, wc_err *err)
{
    *out = calloc(1, sizeof **out);
    return 0;
}

void img_registry_free(img_registry *r)
{
    free(r);
}

int img_session_new(img_registry *r, const img_ref *ref, const img_auth *auth,
                    const img_cancel *cancel, img_session **out, wc_err *err)
{
    if (!img_host_is_loopback(ref->domain))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "fake registry: %s is not a loopback host",
                          ref->domain);
    *out = calloc(1, sizeof **out);
    (*out)->repo = img_ref_repo(ref);
    return 0;
}

void img_session_free(img_session *s)
{
    if (s)
        free(s->repo);
    free(s);
}

const char *img_session_endpoint(const img_session *s)
{
    return "http://127.0.0.1:5000";
}

static const fake_blob *find(const char *reference)
{
    if (!img_digest_valid(reference))
        return n_served ? &served[0] : NULL;
    for (size_t i = 0; i < n_served; i++)
        if (strcmp(served[i].digest, reference) == 0)
            return &served[i];
    return NULL;
}

int img_session_manifest(img_session *s, const char *reference, char **body, size_t *len,
                         char **media_type, wc_err *err)
{
    const fake_blob *b = find(reference);
    if (!b)
        return wc_err_set(err, WC_NOT_FOUND,
                          "registry http://127.0.0.1:5000: manifest %s:%s: "
                          "not found: HTTP 404",
                          s->repo, reference);
    *body = malloc(b->len + 1);
    if (b->len)
        memcpy(*body, b->body, b->len);
    (*body)[b->len] = '\0';
    *len = b->len;
    *media_type = strdup(b->media_type);
    return 0;
}

int img_session_blob(img_session *s, const char *digest, img_reader **out, wc_err *err)
{
    const fake_blob *b = img_digest_valid(digest) ? find(digest) : NULL;
    if (!b)
        return wc_err_set(err, WC_NOT_FOUND,
                          "registry http://127.0.0.1:5000: blob %s of %s: "
                          "not found: HTTP 404",
                          digest, s->repo);
    *out = calloc(1, sizeof **out);
    (*out)->b = b;
    return 0;
}

ssize_t img_reader_read(img_reader *rd, const void **buf, wc_err *err)
{
    size_t left = rd->b->len - rd->off;
    size_t k = left < chunk_size ? left : chunk_size;
    *buf = rd->b->body + rd->off;
    rd->off += k;
    return (ssize_t)k;
}

int64_t img_reader_length(const img_reader *rd)
{
    return without_length ? -1 : (int64_t)rd->b->len;
}

void img_reader_close(img_reader *rd)
{
    free(rd);
}
