/* Scoped cleanup for locals with long free-lists (gcc and mingw's gcc both have the
 * attribute): the variable is freed when it goes out of scope, on every return path.
 *
 *   WC_AUTOFREE char *path = wc_path_join(a, b);   // free(path) at scope exit
 *   WC_AUTO_JSON json_t *doc = json_object();       // json_decref(doc) at scope exit */
#ifndef WINCRI_COMMON_CLEANUP_H
#define WINCRI_COMMON_CLEANUP_H

#include <jansson.h>
#include <stdlib.h>

static inline void wc_cleanup_free(void *p)
{
    free(*(void **)p);
}

static inline void wc_cleanup_json(json_t **j)
{
    json_decref(*j);
}

#define WC_AUTOFREE __attribute__((cleanup(wc_cleanup_free)))
#define WC_AUTO_JSON __attribute__((cleanup(wc_cleanup_json)))

#endif
