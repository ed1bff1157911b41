/* Building protobuf-c responses: every part malloc'd, so the server can free a response with
 * protobuf_c_message_free_unpacked. */
#ifndef WINCRI_CRI_PBUTIL_H
#define WINCRI_CRI_PBUTIL_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Allocates and initialises a message: cri_new(Runtime__V1__VersionResponse,
 * runtime__v1__version_response). */
#define cri_new(Type, prefix) ((Type *)cri_new_message(&prefix##__descriptor))

void *cri_new_message(const ProtobufCMessageDescriptor *desc);
/* strdup that maps NULL to "". */
char *cri_strdup(const char *s);
/* Appends a key/value entry to a map<string,string> field (n and entries pointers). */
void cri_map_add(size_t *n, void *entries_field, const char *key, const char *value);

#endif
