/* A bump allocator for one response. List answers are hundreds of small messages and strings
 * (ListContainers with 500 containers: ~12,000 allocations); built in an arena they cost a
 * few block allocations, and the whole answer is freed at once after it is sent. */
#ifndef WINCRI_CRI_ARENA_H
#define WINCRI_CRI_ARENA_H

#include <stddef.h>

typedef struct cri_arena cri_arena;

cri_arena *cri_arena_new(void);
/* Zeroed, aligned for any type. Never NULL: out of memory aborts (common/xalloc.h). */
void *cri_arena_alloc(cri_arena *a, size_t n);
void cri_arena_free(cri_arena *a);

/* While an arena is in use on this thread, cri_new_message, cri_strdup, cri_map_add and
 * cri_grow allocate from it (NULL: from the heap again). Only for messages that are freed
 * with the arena, never with protobuf_c_message_free_unpacked. */
void cri_arena_use(cri_arena *a);
cri_arena *cri_arena_current(void);

#endif
