/* Deep copies of protobuf-c messages (pack, then unpack), freeable with
 * protobuf_c_message_free_unpacked like any unpacked message. */
#ifndef WINCRI_COMMON_PBCOPY_H
#define WINCRI_COMMON_PBCOPY_H

/* NULL stays NULL. `msg` is any ProtobufCMessage; the result has the same type. */
void *wc_pb_copy(const void *msg);

#endif
