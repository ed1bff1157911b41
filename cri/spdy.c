/* SPDY/3.1 frames and header blocks. */
#include "cri/spdy.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "common/xalloc.h"
#include "cri/streaming_impl.h"

extern const unsigned char cri_spdy_dictionary[];
extern const size_t cri_spdy_dictionary_len;

#define HEADER_BLOCK_MAX (256u << 10) /* decompressed; kubelet's clients send a few hundred */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

long cri_spdy_parse(const unsigned char *buf, size_t n, cri_spdy_frame *f)
{
    if (n < 8)
        return 0;
    size_t len = (size_t)buf[5] << 16 | (size_t)buf[6] << 8 | buf[7];
    memset(f, 0, sizeof *f);
    f->control = buf[0] >> 7;
    f->flags = buf[4];
    if (f->control) {
        if ((((unsigned)buf[0] & 0x7f) << 8 | buf[1]) != 3)
            return -1;
        f->type = (uint16_t)(buf[2] << 8 | buf[3]);
    } else {
        f->stream_id = cri_be32(buf) & 0x7fffffff;
    }
    if (n < 8 + len)
        return 0;
    f->data = buf + 8;
    f->len = len;
    if (f->control && len >= 4 && f->type != CRI_SPDY_SETTINGS && f->type != CRI_SPDY_PING)
        f->stream_id = cri_be32(f->data) & 0x7fffffff;
    return (long)(8 + len);
}

static void control_header(unsigned char h[8], uint16_t type, uint8_t flags, size_t len)
{
    h[0] = 0x80;
    h[1] = 3;
    h[2] = (unsigned char)(type >> 8);
    h[3] = (unsigned char)type;
    h[4] = flags;
    h[5] = (unsigned char)(len >> 16);
    h[6] = (unsigned char)(len >> 8);
    h[7] = (unsigned char)len;
}

struct cri_spdy_zlib {
    z_stream in, out;
    int in_ok, out_ok;
};

cri_spdy_zlib *cri_spdy_zlib_new(void)
{
    cri_spdy_zlib *z = wc_xcalloc(1, sizeof *z);
    if (inflateInit(&z->in) != Z_OK) {
        free(z);
        return NULL;
    }
    z->in_ok = 1;
    if (deflateInit(&z->out, Z_DEFAULT_COMPRESSION) != Z_OK ||
        deflateSetDictionary(&z->out, cri_spdy_dictionary, (uInt)cri_spdy_dictionary_len) != Z_OK) {
        cri_spdy_zlib_free(z);
        return NULL;
    }
    z->out_ok = 1;
    return z;
}

void cri_spdy_zlib_free(cri_spdy_zlib *z)
{
    if (!z)
        return;
    if (z->in_ok)
        inflateEnd(&z->in);
    if (z->out_ok)
        deflateEnd(&z->out);
    free(z);
}

/* Inflates a whole block; the stream continues with the next block. */
static int inflate_block(z_stream *zs, const unsigned char *blk, size_t n, cri_buf *out)
{
    unsigned char tmp[4096];
    zs->next_in = (Bytef *)blk;
    zs->avail_in = (uInt)n;
    for (;;) {
        zs->next_out = tmp;
        zs->avail_out = sizeof tmp;
        int rc = inflate(zs, Z_SYNC_FLUSH);
        if (rc == Z_NEED_DICT) {
            if (inflateSetDictionary(zs, cri_spdy_dictionary, (uInt)cri_spdy_dictionary_len) !=
                Z_OK)
                return -1;
            continue;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return -1;
        cri_buf_add(out, tmp, sizeof tmp - zs->avail_out);
        if (out->len > HEADER_BLOCK_MAX)
            return -1;
        if (zs->avail_in == 0 && zs->avail_out != 0)
            return 0;
        if (rc == Z_BUF_ERROR && zs->avail_out != 0)
            return -1; /* no progress with input left */
    }
}

static char *take_string(const unsigned char **p, const unsigned char *end, size_t *len_out)
{
    if (end - *p < 4)
        return NULL;
    uint32_t len = cri_be32(*p);
    *p += 4;
    if ((size_t)(end - *p) < len)
        return NULL;
    char *s = wc_xmalloc((size_t)len + 1);
    memcpy(s, *p, len);
    s[len] = '\0';
    *p += len;
    if (len_out)
        *len_out = len;
    return s;
}

static int decode_pairs(const unsigned char *p, const unsigned char *end, cri_spdy_headers *out)
{
    if (end - p < 4)
        return -1;
    uint32_t count = cri_be32(p);
    p += 4;
    if (count > (uint32_t)(end - p) / 8)
        return -1;
    out->h = wc_xcalloc(count ? count : 1, sizeof *out->h);
    for (uint32_t i = 0; i < count; i++) {
        cri_spdy_header *h = &out->h[out->n];
        h->name = take_string(&p, end, NULL);
        if (!h->name)
            return -1;
        h->value = take_string(&p, end, &h->value_len);
        if (!h->value) {
            free(h->name);
            return -1;
        }
        out->n++;
    }
    return p == end ? 0 : -1;
}

int cri_spdy_headers_decode(cri_spdy_zlib *z, const unsigned char *blk, size_t n,
                            cri_spdy_headers *out)
{
    memset(out, 0, sizeof *out);
    cri_buf plain = {0};
    int rc = inflate_block(&z->in, blk, n, &plain);
    if (rc == 0 && plain.len < 4)
        rc = -1; /* not even the pair count (and an empty buffer has no data pointer) */
    if (rc == 0)
        rc = decode_pairs(cri_buf_data(&plain), cri_buf_data(&plain) + plain.len, out);
    cri_buf_free(&plain);
    if (rc < 0)
        cri_spdy_headers_free(out);
    return rc;
}

const char *cri_spdy_get(const cri_spdy_headers *hs, const char *name)
{
    for (size_t i = 0; i < hs->n; i++)
        if (strcasecmp(hs->h[i].name, name) == 0)
            return hs->h[i].value;
    return NULL;
}

void cri_spdy_headers_free(cri_spdy_headers *hs)
{
    for (size_t i = 0; i < hs->n; i++) {
        free(hs->h[i].name);
        free(hs->h[i].value);
    }
    free(hs->h);
    memset(hs, 0, sizeof *hs);
}

static void add32(cri_buf *b, uint32_t v)
{
    unsigned char p[4];
    put32(p, v);
    cri_buf_add(b, p, 4);
}

/* Encodes and compresses a name/value block (names lower-case, as SPDY/3 requires). */
static int encode_block(cri_spdy_zlib *z, const char *const *names, const char *const *values,
                        size_t n, cri_buf *out)
{
    cri_buf plain = {0};
    add32(&plain, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(names[i]), vl = strlen(values[i]);
        add32(&plain, (uint32_t)nl);
        for (size_t j = 0; j < nl; j++)
            cri_buf_addc(&plain,
                         (unsigned char)(names[i][j] >= 'A' && names[i][j] <= 'Z' ? names[i][j] + 32
                                                                                  : names[i][j]));
        add32(&plain, (uint32_t)vl);
        cri_buf_add(&plain, values[i], vl);
    }
    z_stream *zs = &z->out;
    zs->next_in = cri_buf_data(&plain);
    zs->avail_in = (uInt)plain.len;
    unsigned char tmp[4096];
    int rc = 0;
    do {
        zs->next_out = tmp;
        zs->avail_out = sizeof tmp;
        if (deflate(zs, Z_SYNC_FLUSH) == Z_STREAM_ERROR) {
            rc = -1;
            break;
        }
        cri_buf_add(out, tmp, sizeof tmp - zs->avail_out);
    } while (zs->avail_out == 0);
    cri_buf_free(&plain);
    return rc;
}

static int control_with_block(cri_buf *b, cri_spdy_zlib *z, uint16_t type, uint8_t flags,
                              const unsigned char *prefix, size_t plen, const char *const *names,
                              const char *const *values, size_t n)
{
    cri_buf blk = {0};
    if (encode_block(z, names, values, n, &blk) < 0) {
        cri_buf_free(&blk);
        return -1;
    }
    unsigned char h[8];
    control_header(h, type, flags, plen + blk.len);
    cri_buf_add(b, h, 8);
    cri_buf_add(b, prefix, plen);
    cri_buf_add(b, cri_buf_data(&blk), blk.len);
    cri_buf_free(&blk);
    return 0;
}

int cri_spdy_syn_stream(cri_buf *b, cri_spdy_zlib *z, uint32_t id, uint8_t flags,
                        const char *const *names, const char *const *values, size_t n)
{
    unsigned char prefix[10] = {0};
    put32(prefix, id & 0x7fffffff); /* associated stream 0, priority 0, slot 0 */
    return control_with_block(b, z, CRI_SPDY_SYN_STREAM, flags, prefix, sizeof prefix, names,
                              values, n);
}

int cri_spdy_syn_reply(cri_buf *b, cri_spdy_zlib *z, uint32_t id, uint8_t flags,
                       const char *const *names, const char *const *values, size_t n)
{
    unsigned char prefix[4];
    put32(prefix, id & 0x7fffffff);
    return control_with_block(b, z, CRI_SPDY_SYN_REPLY, flags, prefix, sizeof prefix, names, values,
                              n);
}

void cri_spdy_data(cri_buf *b, uint32_t id, uint8_t flags, const void *data, size_t n)
{
    unsigned char h[8];
    put32(h, id & 0x7fffffff);
    h[4] = flags;
    h[5] = (unsigned char)(n >> 16);
    h[6] = (unsigned char)(n >> 8);
    h[7] = (unsigned char)n;
    cri_buf_add(b, h, 8);
    cri_buf_add(b, data, n);
}

static void control_two_words(cri_buf *b, uint16_t type, uint32_t a, uint32_t c)
{
    unsigned char h[16];
    control_header(h, type, 0, 8);
    put32(h + 8, a);
    put32(h + 12, c);
    cri_buf_add(b, h, 16);
}

void cri_spdy_rst(cri_buf *b, uint32_t id, uint32_t status)
{
    control_two_words(b, CRI_SPDY_RST_STREAM, id & 0x7fffffff, status);
}

void cri_spdy_goaway(cri_buf *b, uint32_t last_good, uint32_t status)
{
    control_two_words(b, CRI_SPDY_GOAWAY, last_good & 0x7fffffff, status);
}

void cri_spdy_window_update(cri_buf *b, uint32_t id, uint32_t delta)
{
    control_two_words(b, CRI_SPDY_WINDOW_UPDATE, id & 0x7fffffff, delta & 0x7fffffff);
}

void cri_spdy_ping(cri_buf *b, uint32_t id)
{
    unsigned char h[12];
    control_header(h, CRI_SPDY_PING, 0, 4);
    put32(h + 8, id);
    cri_buf_add(b, h, 12);
}
