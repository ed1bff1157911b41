/* SPDY/3.1 framing (the version kubelet's streaming protocols upgrade to): frames in and
 * out, and name/value header blocks compressed with zlib and the SPDY/3 dictionary (one
 * compression context per direction for the whole connection). */
#ifndef WINCRI_CRI_SPDY_H
#define WINCRI_CRI_SPDY_H

#include <stddef.h>
#include <stdint.h>

struct cri_buf;

enum {
    CRI_SPDY_SYN_STREAM = 1,
    CRI_SPDY_SYN_REPLY = 2,
    CRI_SPDY_RST_STREAM = 3,
    CRI_SPDY_SETTINGS = 4,
    CRI_SPDY_PING = 6,
    CRI_SPDY_GOAWAY = 7,
    CRI_SPDY_HEADERS = 8,
    CRI_SPDY_WINDOW_UPDATE = 9,
};
#define CRI_SPDY_FLAG_FIN 0x01
#define CRI_SPDY_RST_PROTOCOL_ERROR 1
#define CRI_SPDY_RST_REFUSED_STREAM 3
#define CRI_SPDY_RST_CANCEL 5
#define CRI_SPDY_SETTINGS_INITIAL_WINDOW 7
#define CRI_SPDY_WINDOW_DEFAULT 65536
#define CRI_SPDY_MAX_FRAME (1u << 24) /* lengths are 24 bits */

typedef struct cri_spdy_frame {
    int control;
    uint16_t type; /* control frames */
    uint8_t flags;
    uint32_t stream_id;        /* data frames, and control frames that name a stream */
    const unsigned char *data; /* payload after the frame header */
    size_t len;
} cri_spdy_frame;

/* Parses one frame. Returns the bytes it took, 0 if incomplete, -1 if not SPDY/3. */
long cri_spdy_parse(const unsigned char *buf, size_t n, cri_spdy_frame *f);

/* Decoded name/value block. Multiple values stay NUL-separated inside value. */
typedef struct cri_spdy_header {
    char *name, *value;
    size_t value_len;
} cri_spdy_header;

typedef struct cri_spdy_headers {
    cri_spdy_header *h;
    size_t n;
} cri_spdy_headers;

const char *cri_spdy_get(const cri_spdy_headers *hs, const char *name); /* case-insensitive */
void cri_spdy_headers_free(cri_spdy_headers *hs);

/* The two compression contexts of a connection (zlib stays inside spdy.c). */
typedef struct cri_spdy_zlib cri_spdy_zlib;

cri_spdy_zlib *cri_spdy_zlib_new(void); /* NULL if zlib cannot start */
void cri_spdy_zlib_free(cri_spdy_zlib *z);
/* Decompresses and decodes a header block. -1 on corrupt input. */
int cri_spdy_headers_decode(cri_spdy_zlib *z, const unsigned char *blk, size_t n,
                            cri_spdy_headers *out);

/* Frame writers; header blocks are compressed with z->out. names/values of n pairs. */
int cri_spdy_syn_stream(struct cri_buf *b, cri_spdy_zlib *z, uint32_t id, uint8_t flags,
                        const char *const *names, const char *const *values, size_t n);
int cri_spdy_syn_reply(struct cri_buf *b, cri_spdy_zlib *z, uint32_t id, uint8_t flags,
                       const char *const *names, const char *const *values, size_t n);
void cri_spdy_data(struct cri_buf *b, uint32_t id, uint8_t flags, const void *data, size_t n);
void cri_spdy_rst(struct cri_buf *b, uint32_t id, uint32_t status);
void cri_spdy_goaway(struct cri_buf *b, uint32_t last_good, uint32_t status);
void cri_spdy_ping(struct cri_buf *b, uint32_t id);
void cri_spdy_window_update(struct cri_buf *b, uint32_t id, uint32_t delta);

/* Big-endian helpers. */
static inline uint32_t cri_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
