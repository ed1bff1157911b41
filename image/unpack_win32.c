/* Windows layer import: the tar stream goes to the Windows layer importer (image/winlayer*,
 * Files/ Hives/ UtilityVM/ layout, computestorage.dll). Until that importer is linked in
 * here, Windows layers cannot be applied. */
#include "image/img_internal.h"

int img_unpack_layer(const img_stream *in, const char *media_type, const char *dest,
                     const img_unpack_opts *opts, wc_err *err)
{
    (void)in;
    (void)opts;
    if (img_layer_compression(media_type) < 0)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "unsupported layer media type \"%s\"",
                          media_type ? media_type : "");
    return wc_err_set(err, WC_UNIMPLEMENTED,
                      "importing Windows layer into %s: the layer importer is not linked yet",
                      dest);
}
