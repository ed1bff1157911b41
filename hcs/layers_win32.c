/* A Windows container's storage, as hcsshim's internal/layers prepares it: the scratch layer
 * (sandbox.vhdx) made from the image layers; for process isolation mounted to a volume on the
 * host, for Hyper-V isolation handed to the utility VM, which mounts it itself. The OCI spec's
 * windows.layerFolders and root.path are filled from the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "hcs/runtime_win32.h"
#include "image/wclayer.h"

static void guid_string(const img_wcl_guid *g, char out[37])
{
    snprintf(out, 37, "%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned long)g->data1,
             g->data2, g->data3, g->data4[0], g->data4[1], g->data4[2], g->data4[3], g->data4[4],
             g->data4[5], g->data4[6], g->data4[7]);
}

int hcs_layer_ids_of(const hcs_rootfs *rootfs, hcs_layer_ids *ids, wc_err *err)
{
    memset(ids, 0, sizeof *ids);
    img_wcl_desc *d = NULL;
    if (img_wcl_descriptors(rootfs->lower_dirs, rootfs->n_lower, img_wcl_name_to_guid, NULL, &d,
                            err) < 0)
        return -1;
    ids->text = wc_xcalloc(rootfs->n_lower + 1, sizeof *ids->text);
    ids->v = wc_xcalloc(rootfs->n_lower + 1, sizeof *ids->v);
    for (size_t i = 0; i < rootfs->n_lower; i++) {
        guid_string(&d[i].layer_id, ids->text[i]);
        ids->v[i] = ids->text[i];
    }
    ids->n = rootfs->n_lower;
    free(d);
    return 0;
}

void hcs_layer_ids_clear(hcs_layer_ids *ids)
{
    free(ids->text);
    free(ids->v);
    memset(ids, 0, sizeof *ids);
}

static char *dup_backslashed(const char *s)
{
    char *c = wc_xstrdup(s);
    for (char *q = c; *q; q++)
        if (*q == '/')
            *q = '\\';
    return c;
}

void hcs_rootfs_windows_paths(const hcs_rootfs *in, hcs_rootfs *out, char ***owned)
{
    *out = *in;
    *owned = wc_xcalloc(in->n_lower + 1, sizeof **owned);
    for (size_t i = 0; i < in->n_lower; i++)
        (*owned)[i] = dup_backslashed(in->lower_dirs[i]);
    out->lower_dirs = (const char *const *)*owned;
}

void hcs_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

uint64_t hcs_spec_resource(const json_t *spec, const char *section, const char *member)
{
    json_t *res = json_object_get(json_object_get(spec, "windows"), "resources");
    json_int_t v = json_integer_value(json_object_get(json_object_get(res, section), member));
    return v > 0 ? (uint64_t)v : 0;
}

/* The scratch from the image layers, sized by windows.resources.storage.sandboxSize. */
static int create_scratch(hcs_ctr *c, const hcs_rootfs *rootfs, wc_err *err)
{
    if (!rootfs || rootfs->n_lower == 0 || !rootfs->scratch_dir || !*rootfs->scratch_dir)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container %s: a Windows container needs image layers and a scratch "
                          "folder",
                          c->id);
    uint64_t size = hcs_spec_resource(c->spec, "storage", "sandboxSize");
    if (img_wcl_create_scratch(rootfs->scratch_dir, rootfs->lower_dirs, rootfs->n_lower, size,
                               err) < 0)
        return -1;
    c->scratch = wc_xstrdup(rootfs->scratch_dir);
    return 0;
}

int hcs_storage_create_mounted(hcs_ctr *c, const hcs_rootfs *rootfs, char **volume, wc_err *err)
{
    if (create_scratch(c, rootfs, err) < 0 ||
        img_wcl_mount(rootfs->scratch_dir, rootfs->lower_dirs, rootfs->n_lower, volume, err) < 0)
        return -1;
    c->mounted = 1;
    return 0;
}

int hcs_storage_create_hosted(hcs_ctr *c, const hcs_rootfs *rootfs, char *root, size_t size,
                              wc_err *err)
{
    if (create_scratch(c, rootfs, err) < 0)
        return -1;
    snprintf(root, size, "%s%s", HCS_UVM_CONTAINER_ROOT_PREFIX, c->id);
    return 0;
}

void hcs_storage_release(hcs_ctr *c)
{
    wc_err err = {0};
    if (c->mounted && c->scratch && img_wcl_unmount(c->scratch, &err) < 0)
        wc_warn("hcs", "cannot unmount scratch", "id=%s err=\"%s\"", c->id, err.msg);
    c->mounted = 0;
    if (c->scratch && img_wcl_destroy(c->scratch, &err) < 0)
        wc_warn("hcs", "cannot destroy scratch", "id=%s err=\"%s\"", c->id, err.msg);
    free(c->scratch);
    c->scratch = NULL;
}

int hcs_spec_set_rootfs(json_t *spec, const hcs_rootfs *rootfs, const char *root_path, wc_err *err)
{
    json_t *win = json_object_get(spec, "windows");
    if (!json_is_object(win)) {
        win = json_object();
        json_object_set_new(spec, "windows", win);
    }
    json_t *lf = json_array();
    for (size_t i = 0; i < rootfs->n_lower; i++)
        json_array_append_new(lf, json_string(rootfs->lower_dirs[i]));
    json_array_append_new(lf, json_string(rootfs->scratch_dir));
    if (json_object_set_new(win, "layerFolders", lf) ||
        json_object_set_new(spec, "root", json_pack("{s:s}", "path", root_path)))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "spec: cannot set the root file system");
    return 0;
}
