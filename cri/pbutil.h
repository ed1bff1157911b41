/* Building protobuf-c responses: every part malloc'd, so the server can free a response with
 * protobuf_c_message_free_unpacked. */
#ifndef WINCRI_CRI_PBUTIL_H
#define WINCRI_CRI_PBUTIL_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "common/err.h"

/* Allocates and initialises a message: cri_new(Runtime__V1__VersionResponse,
 * runtime__v1__version_response). */
#define cri_new(Type, prefix) ((Type *)cri_new_message(&prefix##__descriptor))

void *cri_new_message(const ProtobufCMessageDescriptor *desc);
/* strdup that maps NULL to "". */
char *cri_strdup(const char *s);
/* Zeroed memory for a response part: from the arena in use (cri/arena.h), else the heap. */
void *cri_alloc(size_t bytes);
/* realloc, or from the arena in use (cri/arena.h): the old block is copied, not freed. */
void *cri_grow(void *old, size_t old_bytes, size_t new_bytes);
/* Appends a key/value entry to a map<string,string> field (n and entries pointers); desc is
 * the field's entry type, e.g. &runtime__v1__status_response__info_entry__descriptor. */
void cri_map_add(size_t *n, void *entries_field, const ProtobufCMessageDescriptor *desc,
                 const char *key, const char *value);
/* Copies every entry of one map<string,string> into another (entry types may differ). */
void cri_map_copy(size_t *n, void *entries_field, const ProtobufCMessageDescriptor *desc,
                  size_t n_in, void *const *entries_in);
/* Deep copy of any message (NULL stays NULL), freeable like the rest of a response. */
void *cri_copy(const void *msg);

typedef struct cri_call cri_call;
/* Streams items[0..n) (messages of the response's one repeated field) in responses of at
 * most `batch` items each; at least one response goes out, even for n == 0. The caller
 * still owns and frees the items. */
int cri_send_batched(cri_call *call, const ProtobufCMessageDescriptor *response, void **items,
                     size_t n, size_t batch, wc_err *err);

#endif
