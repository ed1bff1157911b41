#include "cri/pbutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "api.pb-c.h"
#include "cri/arena.h"
#include "cri/server.h"

void *cri_new_message(const ProtobufCMessageDescriptor *desc)
{
    cri_arena *a = cri_arena_current();
    ProtobufCMessage *m =
        a ? cri_arena_alloc(a, desc->sizeof_message) : wc_xcalloc(1, desc->sizeof_message);
    /* Unset strings point at protobuf_c_empty_string, which the free skips; handlers
     * replace them with malloc'd strings. */
    desc->message_init(m);
    return m;
}

char *cri_strdup(const char *s)
{
    cri_arena *a = cri_arena_current();
    if (!a)
        return wc_xstrdup(s ? s : "");
    size_t len = s ? strlen(s) : 0;
    char *copy = cri_arena_alloc(a, len + 1);
    if (len)
        memcpy(copy, s, len);
    return copy;
}

void *cri_alloc(size_t bytes)
{
    cri_arena *a = cri_arena_current();
    return a ? cri_arena_alloc(a, bytes) : wc_xcalloc(1, bytes);
}

void *cri_grow(void *old, size_t old_bytes, size_t new_bytes)
{
    cri_arena *a = cri_arena_current();
    if (!a)
        return wc_xrealloc(old, new_bytes);
    void *p = cri_arena_alloc(a, new_bytes);
    if (old && old_bytes)
        memcpy(p, old, old_bytes < new_bytes ? old_bytes : new_bytes);
    return p;
}

/* Every generated map<string,string> entry has the same layout: base, key, value. */
typedef Runtime__V1__StatusResponse__InfoEntry map_entry;

void cri_map_add(size_t *n, void *entries_field, const ProtobufCMessageDescriptor *desc,
                 const char *key, const char *value)
{
    map_entry ***entries = entries_field;
    *entries = cri_grow(*entries, *n * sizeof **entries, (*n + 1) * sizeof **entries);
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

/* Pack, then unpack: protobuf-c has no deep copy of its own. */
void *cri_copy(const void *msg)
{
    const ProtobufCMessage *m = msg;
    if (!m)
        return NULL;
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = wc_xmalloc(len ? len : 1);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    free(buf);
    return copy;
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
