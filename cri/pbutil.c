#include "cri/pbutil.h"

#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"

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

/* Every generated map entry message (key, value strings) has the same layout. */
void cri_map_add(size_t *n, void *entries_field, const char *key, const char *value)
{
    typedef Runtime__V1__StatusResponse__InfoEntry entry;
    entry ***entries = entries_field;
    *entries = realloc(*entries, (*n + 1) * sizeof **entries);
    entry *e = cri_new(entry, runtime__v1__status_response__info_entry);
    e->key = cri_strdup(key);
    e->value = cri_strdup(value);
    (*entries)[(*n)++] = e;
}
