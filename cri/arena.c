#include "cri/arena.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define ARENA_BLOCK (64 * 1024)
#define ARENA_ALIGN 16

typedef struct block {
    struct block *next;
    size_t used, cap;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} block;

struct cri_arena {
    block *head; /* the block being filled; older ones follow */
};

static _Thread_local cri_arena *in_use;

cri_arena *cri_arena_new(void)
{
    return wc_xcalloc(1, sizeof(cri_arena));
}

static block *new_block(size_t at_least)
{
    size_t cap = at_least > ARENA_BLOCK ? at_least : ARENA_BLOCK;
    block *b = wc_xmalloc(sizeof *b + cap);
    b->next = NULL;
    b->used = 0;
    b->cap = cap;
    return b;
}

void *cri_arena_alloc(cri_arena *a, size_t n)
{
    size_t size = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (!size)
        size = ARENA_ALIGN;
    if (!a->head || a->head->cap - a->head->used < size) {
        block *b = new_block(size);
        b->next = a->head;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += size;
    return memset(p, 0, n);
}

void cri_arena_free(cri_arena *a)
{
    if (!a)
        return;
    if (in_use == a)
        in_use = NULL;
    while (a->head) {
        block *b = a->head;
        a->head = b->next;
        free(b);
    }
    free(a);
}

void cri_arena_use(cri_arena *a)
{
    in_use = a;
}

cri_arena *cri_arena_current(void)
{
    return in_use;
}
