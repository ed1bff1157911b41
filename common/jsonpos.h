/* Finds where a value sits in JSON text, so config errors found after parsing (a wrong type,
 * an unknown key) can still name a line and column. Jansson keeps no positions. */
#ifndef WINCRI_COMMON_JSONPOS_H
#define WINCRI_COMMON_JSONPOS_H

#include <stddef.h>

/* Follows object keys `path[0..depth)` from the top-level object in `text`. On success sets
 * the 1-based line and column of the value's first character (or of the key itself when
 * `want_key` is set) and returns 0; returns -1 when the path is not there. */
int wc_json_locate(const char *text, const char *const *path, size_t depth, int want_key, int *line,
                   int *column);

#endif
