#include "cri/pbutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "cri/server.h"
#include "common/pbcopy.h"

void *cri_new_message(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = calloc(1, desc->sizeof_message);
    /* Unset strings point at protobuf_c_empty_string, which the free skips; handlers
     * replace them with malloc'd strings. */
    desc->message_init(m);
    return m;
}

char *cri_strdup(const char *s)
{
    return strdup(s ? s : "");
}

/* Every generated map<string,string> entry has the same layout: base, key, value. */
typedef Runtime__V1__StatusResponse__InfoEntry map_entry;

void cri_map_add(size_t *n, void *entries_field, const ProtobufCMessageDescriptor *desc,
                 const char *key, const char *value)
{
    map_entry ***entries = entries_field;
    *entries = realloc(*entries, (*n + 1) * sizeof **entries);
    map_entry *e = cri_new_message(desc);
    e->key = cri_strdup(key);
    e->value = cri_strdup(value);
    (*entries)[(*n)++] = e;
}

void cri_map_copy(size_t *n, void *entries_field, const ProtobufCMessageDescriptor *desc,
                  size_t n_in, void *const *entries_in)
{
    for (size_t i = 0; i < n_in; i++) {
        const map_entry *e = entries_in[i];
        cri_map_add(n, entries_field, desc, e->key, e->value);
    }
}

void *cri_copy(const void *msg)
{
    return wc_pb_copy(msg);
}

int cri_send_batched(cri_call *call, const ProtobufCMessageDescriptor *response, void **items,
                     size_t n, size_t batch, wc_err *err)
{
    /* Stream*Response messages have exactly one field: the repeated list. */
    const ProtobufCFieldDescriptor *f = &response->fields[0];
    size_t i = 0;
    do {
        ProtobufCMessage *m = cri_new_message(response);
        size_t k = n - i < batch ? n - i : batch;
        *(size_t *)((char *)m + f->quantifier_offset) = k;
        *(void ***)((char *)m + f->offset) = items + i;
        int rc = cri_call_send(call, m, err);
        /* The items stay the caller's: detach them before freeing the envelope. */
        *(size_t *)((char *)m + f->quantifier_offset) = 0;
        *(void ***)((char *)m + f->offset) = NULL;
        protobuf_c_message_free_unpacked(m, NULL);
        if (rc < 0)
            return -1;
        i += k;
    } while (i < n);
    return 0;
}

/* Strict UTF-8: shortest forms only, no surrogates, nothing above U+10FFFF (what Jansson and
 * other protobuf implementations accept). */
static int utf8_valid(const unsigned char *p)
{
    while (*p) {
        unsigned c = *p, n;
        uint32_t cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* Appends ".name" or "[i]" to the path being built in buf. */
static size_t path_add(char *buf, size_t cap, size_t len, const char *name, long index)
{
    int n = index < 0 ? snprintf(buf + len, cap - len, "%s%s", len ? "." : "", name)
                      : snprintf(buf + len, cap - len, "[%ld]", index);
    return n < 0 || (size_t)n >= cap - len ? cap - 1 : len + (size_t)n;
}

static int check_strings(const ProtobufCMessage *m, char *path, size_t cap, size_t len)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *member = (const char *)m + f->offset;
        size_t n = 1;
        void *const *items = (void *const *)member;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)m + f->quantifier_offset);
            items = *(void *const *const *)member;
        }
        for (size_t k = 0; k < n; k++) {
            if (!items[k])
                continue;
            size_t at = path_add(path, cap, len, f->name, -1);
            if (f->label == PROTOBUF_C_LABEL_REPEATED)
                at = path_add(path, cap, at, NULL, (long)k);
            if (f->type == PROTOBUF_C_TYPE_STRING ? !utf8_valid(items[k])
                                                  : check_strings(items[k], path, cap, at) < 0)
                return -1;
            path[len] = '\0';
        }
    }
    return 0;
}

int cri_check_utf8(const ProtobufCMessage *m, wc_err *err)
{
    char path[512] = "";
    if (check_strings(m, path, sizeof path, 0) == 0)
        return 0;
    return wc_err_set(err, WC_INVALID_ARGUMENT, "%s is not valid UTF-8", path);
}
