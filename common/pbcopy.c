#include "common/pbcopy.h"

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>
#include <stdlib.h>

void *wc_pb_copy(const void *msg)
{
    const ProtobufCMessage *m = msg;
    if (!m)
        return NULL;
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    free(buf);
    return copy;
}
