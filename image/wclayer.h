/* Windows container layers on disk (the "windowsfilter" layout hcsshim's internal/wclayer
 * manages): layer folders, their layerchain.json, the WC_LAYER_DESCRIPTOR list vmcompute.dll
 * wants, and scratch sizing. The shared part is pure and tested on Linux; the calls into
 * vmcompute.dll live in image/wclayer_win32.c (declared at the end, Windows only). */
#ifndef WINCRI_IMAGE_WCLAYER_H
#define WINCRI_IMAGE_WCLAYER_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Default scratch (sandbox.vhdx) size: 20 GiB, as containerd's Windows snapshotter. */
#define IMG_WCL_DEFAULT_SCRATCH_BYTES (20ULL * 1024 * 1024 * 1024)

/* layerchain.json: a JSON array of the parent layer folders, immediate parent first and
 * the base layer last. `parents` is given in that order. Caller frees. */
char *img_wcl_layerchain_json(const char *const *parents, size_t n, wc_err *err);
/* Reads a layerchain.json; *paths is a malloc'd array of malloc'd strings. An empty file
 * or "null" (hcsshim writes nothing for base layers) gives n = 0. */
int img_wcl_layerchain_parse(const char *text, char ***paths, size_t *n, wc_err *err);
void img_wcl_paths_free(char **paths, size_t n);
/* Orders a chain given base-first (the image manifest's layer order) into the
 * immediate-parent-first order layerchain.json and the descriptors use. In place. */
void img_wcl_reverse(const char **paths, size_t n);

/* A WC_LAYER_DESCRIPTOR in neutral form. */
typedef struct img_wcl_guid {
    uint32_t data1;
    uint16_t data2, data3;
    uint8_t data4[8];
} img_wcl_guid;

typedef struct img_wcl_desc {
    img_wcl_guid layer_id; /* NameToGuid(base name of path), as hcsshim's LayerID */
    uint32_t flags;        /* 0; bit 31 "Dirty" is for snapshots of sandboxes */
    const char *path;      /* the layer folder, borrowed from the caller */
} img_wcl_desc;

/* The layer id function: NameToGuid on Windows, a stand-in in tests. */
typedef int (*img_wcl_name_to_guid_fn)(void *ctx, const char *name, img_wcl_guid *out, wc_err *err);

/* Base name of a layer folder path ('\\' or '/' separated, trailing separators ignored);
 * writes into buf. Returns NULL if there is none. */
const char *img_wcl_layer_name(const char *path, char *buf, size_t size);
/* One descriptor per parent path, same order. *out is malloc'd. */
int img_wcl_descriptors(const char *const *parents, size_t n, img_wcl_name_to_guid_fn fn, void *ctx,
                        img_wcl_desc **out, wc_err *err);

/* Size to expand a new sandbox.vhdx to: 0 (unset) means the 20 GiB default; a request
 * below the default is raised to it, since the copy of blank.vhdx cannot shrink. */
uint64_t img_wcl_scratch_bytes(uint64_t rootfs_size_in_bytes);

/* Joins Windows path parts with '\\'. Caller frees. */
char *img_wcl_join(const char *dir, const char *name);

/* ---- Windows only (image/wclayer_win32.c) ---- */

/* Imports a layer folder from a staging folder written by the Windows layer writer
 * (ImportLayer with its parents' descriptors), then for a base layer runs
 * ProcessBaseImage and, when UtilityVM\ exists, ProcessUtilityImage. Writes
 * layerchain.json. */
int img_wcl_import(const char *layer_path, const char *staging_path, const char *const *parents,
                   size_t n_parents, int is_base, wc_err *err);
/* sandbox.vhdx for a container: copy of the base layer's blank.vhdx, then
 * ExpandSandboxSize(img_wcl_scratch_bytes(size)). Writes the scratch's layerchain.json. */
int img_wcl_create_scratch(const char *scratch_path, const char *const *parents, size_t n_parents,
                           uint64_t rootfs_size_in_bytes, wc_err *err);
/* UVM scratch for Hyper-V pods: copy of UtilityVM\SystemTemplate.vhdx + GrantVmAccess. */
int img_wcl_create_uvm_scratch(const char *dest_vhdx, const char *base_layer, const char *vm_id,
                               wc_err *err);
/* ActivateLayer -> PrepareLayer (5 tries, 100 ms apart, on ERROR_NOT_READY or
 * ERROR_DEVICE_NOT_CONNECTED, as hcsshim's mountProcessIsolatedWCIFSLayers) ->
 * GetLayerMountPath. *volume is the "\\?\Volume{...}\" path, caller frees. */
int img_wcl_mount(const char *scratch_path, const char *const *parents, size_t n_parents,
                  char **volume, wc_err *err);
/* UnprepareLayer then DeactivateLayer. */
int img_wcl_unmount(const char *scratch_path, wc_err *err);
/* DestroyLayer: removes a layer or scratch folder. */
int img_wcl_destroy(const char *layer_path, wc_err *err);
/* NameToGuid from vmcompute.dll; fits img_wcl_name_to_guid_fn (ctx unused). */
int img_wcl_name_to_guid(void *ctx, const char *name, img_wcl_guid *out, wc_err *err);
/* HcsImportLayer from computestorage.dll (Windows 10 1809+); layer_data is the LayerData
 * JSON (schema 2) naming the parent layers. */
int img_wcl_storage_import(const char *layer_path, const char *source, const char *layer_data,
                           wc_err *err);

#endif
