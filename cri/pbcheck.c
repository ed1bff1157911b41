/* A walk over the protobuf wire format guided by the message descriptors: only what is needed
 * to find every length-delimited string field; anything malformed is the decoder's to refuse. */
#include "cri/pbcheck.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 32
#define PATH_MAX_LEN 256

int cri_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0)
            n = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            n = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            n = 3, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* Reads a varint; 0 on success. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int check_string(const char *path, const uint8_t *s, size_t len, wc_err *err)
{
    if (memchr(s, 0, len))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s: contains a NUL byte", path);
    if (!cri_utf8_valid(s, len))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s: is not valid UTF-8", path);
    return 0;
}

static int walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, const uint8_t *end,
                const char *path, int depth, wc_err *err);

static int check_field(const ProtobufCFieldDescriptor *f, const uint8_t *p, size_t len,
                       const char *path, int depth, wc_err *err)
{
    char sub[PATH_MAX_LEN];
    snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", f->name);
    if (f->type == PROTOBUF_C_TYPE_STRING)
        return check_string(sub, p, len, err);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth < MAX_DEPTH)
        return walk(f->descriptor, p, p + len, sub, depth + 1, err);
    return 0;
}

static int walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, const uint8_t *end,
                const char *path, int depth, wc_err *err)
{
    while (p < end) {
        uint64_t key, len;
        if (varint(&p, end, &key) < 0)
            return 0;
        switch (key & 7) {
        case 0:
            if (varint(&p, end, &len) < 0)
                return 0;
            break;
        case 1:
            if (end - p < 8)
                return 0;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return 0;
            p += 4;
            break;
        case 2: {
            if (varint(&p, end, &len) < 0 || len > (uint64_t)(end - p))
                return 0;
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3));
            if (f && check_field(f, p, (size_t)len, path, depth, err) < 0)
                return -1;
            p += len;
            break;
        }
        default:
            return 0; /* groups (not in proto3) or garbage: the decoder decides */
        }
    }
    return 0;
}

int cri_check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      wc_err *err)
{
    return walk(desc, data, data + len, "", 0, err);
}
