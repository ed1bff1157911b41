/* WebSocket framing (RFC 6455). */
#include "cri/websocket.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int cri_ws_accept_key(const char *key, char out[29])
{
    unsigned char raw[32];
    size_t klen = strlen(key);
    /* The key must be 16 random bytes in base64: 24 characters. */
    if (klen != 24 || EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
        return -1;
    char buf[64];
    memcpy(buf, key, klen);
    memcpy(buf + klen, ws_guid, sizeof ws_guid - 1);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)buf, klen + sizeof ws_guid - 1, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
    out[28] = '\0';
    return 0;
}

size_t cri_ws_header(unsigned char hdr[10], int opcode, uint64_t len)
{
    hdr[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        hdr[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        return 4;
    }
    hdr[1] = 127;
    for (int i = 0; i < 8; i++)
        hdr[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

long cri_ws_parse(unsigned char *buf, size_t n, size_t max, cri_ws_frame *f)
{
    if (n < 2)
        return 0;
    if (buf[0] & 0x70)
        return -1; /* no extension was negotiated, so reserved bits must be clear */
    if (!(buf[1] & 0x80))
        return -1; /* clients must mask */
    f->fin = buf[0] >> 7;
    f->opcode = buf[0] & 0x0f;
    uint64_t len = buf[1] & 0x7f;
    size_t pos = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)buf[2] << 8 | buf[3];
        pos = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | buf[2 + i];
        pos = 10;
    }
    int control = f->opcode >= 0x8;
    if (control && (len > 125 || !f->fin))
        return -1;
    if ((f->opcode > 0x2 && f->opcode < 0x8) || f->opcode > 0xA)
        return -1;
    if (len > max)
        return -1;
    if (n < pos + 4 + len)
        return 0;
    const unsigned char *mask = buf + pos;
    pos += 4;
    f->payload = buf + pos;
    f->len = (size_t)len;
    for (size_t i = 0; i < f->len; i++)
        f->payload[i] ^= mask[i & 3];
    return (long)(pos + f->len);
}
