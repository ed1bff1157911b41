/* Pure parts of Windows layer management: layerchain.json, layer descriptors, scratch
 * sizing. Facts from hcsshim internal/wclayer (layerutils.go layerPathsToDescriptors,
 * layerid.go LayerID) and internal/layers (layerchain.json, immediate parent first).
 * No Jansson here, so the Windows loaders can be built and run under wine on their own;
 * reading layerchain.json is in wclayer_chain.c. */
#include "image/wclayer.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends s as a JSON string literal. */
static size_t put_json_string(char *out, const char *s)
{
    size_t o = 0;
    out[o++] = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*c;
        } else if (*c < 0x20) {
            o += (size_t)sprintf(out + o, "\\u%04x", *c);
        } else {
            out[o++] = (char)*c;
        }
    }
    out[o++] = '"';
    return o;
}

char *img_wcl_layerchain_json(const char *const *parents, size_t n, wc_err *err)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++) {
        if (!parents[i] || !*parents[i]) {
            wc_err_set(err, WC_INVALID_ARGUMENT, "layer chain entry %zu is empty", i);
            return NULL;
        }
        cap += strlen(parents[i]) * 6 + 3;
    }
    char *s = wc_xmalloc(cap);
    size_t o = 0;
    s[o++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            s[o++] = ',';
        o += put_json_string(s + o, parents[i]);
    }
    s[o++] = ']';
    s[o] = '\0';
    return s;
}

void img_wcl_reverse(const char **paths, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        const char *t = paths[i];
        paths[i] = paths[n - 1 - i];
        paths[n - 1 - i] = t;
    }
}

const char *img_wcl_layer_name(const char *path, char *buf, size_t size)
{
    if (!path)
        return NULL;
    size_t end = strlen(path);
    while (end > 0 && (path[end - 1] == '\\' || path[end - 1] == '/'))
        end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '\\' && path[start - 1] != '/')
        start--;
    if (end == start || end - start >= size)
        return NULL;
    /* "C:" alone is a drive, not a layer folder. */
    if (end - start == 2 && path[start + 1] == ':' && start == 0)
        return NULL;
    memcpy(buf, path + start, end - start);
    buf[end - start] = '\0';
    return buf;
}

int img_wcl_descriptors(const char *const *parents, size_t n, img_wcl_name_to_guid_fn fn, void *ctx,
                        img_wcl_desc **out, wc_err *err)
{
    *out = NULL;
    img_wcl_desc *d = wc_xcalloc(n ? n : 1, sizeof *d);
    for (size_t i = 0; i < n; i++) {
        char name[512];
        if (!img_wcl_layer_name(parents[i], name, sizeof name)) {
            free(d);
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "parent layer %zu \"%s\" has no folder name to derive its id from", i,
                              parents[i] ? parents[i] : "(null)");
        }
        if (fn(ctx, name, &d[i].layer_id, err) != 0) {
            free(d);
            return wc_err_prefix(err, "layer id of \"%s\"", parents[i]);
        }
        d[i].flags = 0;
        d[i].path = parents[i];
    }
    *out = d;
    return 0;
}

uint64_t img_wcl_scratch_bytes(uint64_t rootfs_size_in_bytes)
{
    if (rootfs_size_in_bytes < IMG_WCL_DEFAULT_SCRATCH_BYTES)
        return IMG_WCL_DEFAULT_SCRATCH_BYTES;
    return rootfs_size_in_bytes;
}

char *img_wcl_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    int sep = dl && dir[dl - 1] != '\\' && dir[dl - 1] != '/';
    char *s = wc_xmalloc(dl + (size_t)sep + nl + 1);
    memcpy(s, dir, dl);
    if (sep)
        s[dl] = '\\';
    memcpy(s + dl + (size_t)sep, name, nl + 1);
    return s;
}
