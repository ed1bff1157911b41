/* Jansson allocates through wc_xmalloc (common/xalloc.h): kept apart from xalloc.c so that
 * code without Jansson (the small Windows test programs) can use the allocators alone. */
#include "common/xalloc.h"

#include <jansson.h>
#include <stdlib.h>

static void *json_xmalloc(size_t size)
{
    return wc_xmalloc(size);
}

void wc_xalloc_init(void)
{
    json_set_alloc_funcs(json_xmalloc, free);
}
