/* The order layers are committed in when a layer needs its parents in place first. */
#include "image/img_internal.h"
#include "common/xalloc.h"

#include <stdlib.h>

int img_commit_in_order(const char *const *dirs, size_t n, img_layer_ready_fn ready,
                        img_commit_fn fn, void *ctx, wc_err *err)
{
    const char **parents = wc_xcalloc(n + 1, sizeof *parents);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int r = ready(ctx, i, err);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r == 0)
            continue;
        /* Layer i's parents, immediate parent first, as layerchain.json lists them. */
        for (size_t k = 0; k < i; k++)
            parents[k] = dirs[i - 1 - k];
        rc = fn(ctx, i, parents, i, err);
    }
    free(parents);
    return rc;
}
