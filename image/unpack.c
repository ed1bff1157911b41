/* Platform-neutral parts of layer unpacking: media types and tar member names. */
#include "image/img_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct layer_type {
    const char *media_type;
    img_compression comp;
} layer_type;

static const layer_type layer_types[] = {
    {"application/vnd.oci.image.layer.v1.tar", IMG_COMP_NONE},
    {"application/vnd.oci.image.layer.v1.tar+gzip", IMG_COMP_GZIP},
    {"application/vnd.oci.image.layer.v1.tar+zstd", IMG_COMP_ZSTD},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", IMG_COMP_NONE},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IMG_COMP_GZIP},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IMG_COMP_ZSTD},
    {"application/vnd.docker.image.rootfs.diff.tar", IMG_COMP_NONE},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip", IMG_COMP_GZIP},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IMG_COMP_GZIP},
};

int img_layer_compression(const char *media_type)
{
    if (!media_type)
        return -1;
    for (size_t i = 0; i < sizeof layer_types / sizeof layer_types[0]; i++)
        if (strcmp(layer_types[i].media_type, media_type) == 0)
            return (int)layer_types[i].comp;
    return -1;
}

int img_tar_clean_path(const char *name, char *out, size_t cap, wc_err *err)
{
    size_t n = 0;
    const char *p = name;
    if (!name || !*name)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "tar member with an empty name");
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            break;
        if (len == 1 && p[0] == '.') {
            p += len;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "tar member \"%.300s\" climbs out of the layer with \"..\"", name);
        if (n + len + 2 > cap)
            return wc_err_set(err, WC_INVALID_ARGUMENT, "tar member \"%.300s\" is too long", name);
        if (n)
            out[n++] = '/';
        memcpy(out + n, p, len);
        n += len;
        p += len;
    }
    out[n] = '\0';
    return 0;
}
