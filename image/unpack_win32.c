/* Windows layer import in two steps. Unpack (parallel, while the blob streams in): the
 * layer tar, decompressed and hashed for its diff ID by the shared img_tar_reader, is parsed
 * into layer operations (img_unpack_wl_ops, winlayer.c) and written with BackupWrite into a
 * staging folder (winlayer_win32.c). Commit (in layer order, since ImportLayer reads the
 * parents): the staging folder is imported into the layer folder (wclayer_win32.c). */
#include "image/img_internal.h"

#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "common/xalloc.h"
#include "image/wclayer.h"
#include "image/winlayer.h"

int img_unpack_tar(const img_stream *tar, const char *dest, const img_unpack_opts *opts,
                   wc_err *err)
{
    (void)opts; /* Windows layers have no device nodes */
    if (!CreateDirectoryA(dest, NULL))
        return wc_err_set(err, WC_INTERNAL, "create staging folder %s: error %lu", dest,
                          (unsigned long)GetLastError());
    img_wl_writer *w = NULL;
    int rc = img_wl_writer_open(dest, &w, err);
    if (rc == 0)
        rc = img_unpack_wl_ops(tar, img_wl_writer_visit, w, err);
    wc_err cerr = {0};
    if (w && img_wl_writer_close(w, &cerr) < 0 && rc == 0) {
        *err = cerr;
        rc = -1;
    }
    if (rc < 0) {
        wc_err ignored = {0};
        img_remove_tree(dest, &ignored);
        return wc_err_prefix(err, "staging Windows layer in %s", dest);
    }
    return 0;
}

int img_commit_needs_parents(void)
{
    return 1; /* ImportLayer resolves the layer against its parents */
}

/* The store builds paths with '/'; vmcompute.dll and layerchain.json get '\\'. */
static char *backslashed(const char *path)
{
    char *s = wc_xstrdup(path);
    for (char *c = s; *c; c++)
        if (*c == '/')
            *c = '\\';
    return s;
}

int img_commit_layer(const char *tmpdir, const char *dir, const char *const *parents,
                     size_t n_parents, int is_base, wc_err *err)
{
    wc_err ignored = {0};
    char *layer = backslashed(dir), *staging = backslashed(tmpdir);
    char **ps = wc_xcalloc(n_parents + 1, sizeof *ps);
    for (size_t i = 0; i < n_parents; i++)
        ps[i] = backslashed(parents[i]);
    int rc = img_wcl_import(layer, staging, (const char *const *)ps, n_parents, is_base, err);
    if (rc < 0)
        img_wcl_destroy(layer, &ignored); /* no half-imported layer may look committed */
    img_remove_tree(tmpdir, &ignored);
    for (size_t i = 0; i < n_parents; i++)
        free(ps[i]);
    free(ps);
    free(layer);
    free(staging);
    return rc < 0 ? wc_err_prefix(err, "importing layer %s", dir) : 0;
}
