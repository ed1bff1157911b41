/* SHA-256 digests through OpenSSL's EVP interface, and chain IDs. */
#include "image/img_internal.h"
#include "common/xalloc.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct img_hasher {
    EVP_MD_CTX *ctx;
};

img_hasher *img_hasher_new(void)
{
    img_hasher *h = wc_xcalloc(1, sizeof *h);
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        img_hasher_free(h);
        return NULL;
    }
    return h;
}

void img_hasher_update(img_hasher *h, const void *p, size_t n)
{
    if (n)
        EVP_DigestUpdate(h->ctx, p, n);
}

static void hex_digest(const unsigned char *md, char *out)
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[IMG_DIGEST_LEN] = '\0';
}

void img_hasher_final(img_hasher *h, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, md, &n);
    hex_digest(md, out);
}

void img_hasher_free(img_hasher *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void img_sha256_digest(const void *p, size_t n, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    hex_digest(md, out);
}

void img_chain_ids(const char *const *diff_ids, size_t n, char (*out)[IMG_DIGEST_LEN + 1])
{
    for (size_t i = 0; i < n; i++) {
        if (i == 0) {
            snprintf(out[0], IMG_DIGEST_LEN + 1, "%s", diff_ids[0]);
            continue;
        }
        char buf[2 * IMG_DIGEST_LEN + 2];
        int len = snprintf(buf, sizeof buf, "%s %s", out[i - 1], diff_ids[i]);
        img_sha256_digest(buf, (size_t)len, out[i]);
    }
}
