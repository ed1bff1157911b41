/* Windows layer import, scratch and mount over vmcompute.dll's legacy layer API, as
 * hcsshim's internal/wclayer calls it (wclayer.go, zsyscall_windows.go). vmcompute.dll has
 * no mingw import library: it is loaded at first use (common/dll_win32.h) and each entry
 * point looked up by name. DriverInfo and WC_LAYER_DESCRIPTOR are declared here
 * from the C layouts quoted in hcsshim's layerutils.go. computestorage.dll (HcsImportLayer,
 * declared by mingw's computestorage.h) is loaded the same way where it serves. */
#include "image/wclayer.h"
#include "image/winlayer.h"

#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dll_win32.h"
#include "common/wstr_win32.h"
#include "common/xalloc.h"

/* struct DriverInfo { GraphDriverType Flavour; LPCWSTR HomeDir; }  (FilterDriver = 1) */
typedef struct wcl_driver_info {
    int flavour;
    const WCHAR *home_dir;
} wcl_driver_info;

/* WC_LAYER_DESCRIPTOR { GUID LayerId; ULONG Flags; PCWSTR Path; } */
typedef struct wcl_layer_descriptor {
    GUID layer_id;
    ULONG flags;
    const WCHAR *path;
} wcl_layer_descriptor;

typedef HRESULT(WINAPI *fn_id)(const wcl_driver_info *, const WCHAR *);
typedef HRESULT(WINAPI *fn_id_desc)(const wcl_driver_info *, const WCHAR *,
                                    const wcl_layer_descriptor *, ULONG);
typedef HRESULT(WINAPI *fn_import)(const wcl_driver_info *, const WCHAR *, const WCHAR *,
                                   const wcl_layer_descriptor *, ULONG);
typedef HRESULT(WINAPI *fn_mount_path)(const wcl_driver_info *, const WCHAR *, SIZE_T *, WCHAR *);
typedef HRESULT(WINAPI *fn_expand)(const wcl_driver_info *, const WCHAR *, ULONGLONG);
typedef HRESULT(WINAPI *fn_path)(const WCHAR *);
typedef HRESULT(WINAPI *fn_name_to_guid)(const WCHAR *, GUID *);
typedef HRESULT(WINAPI *fn_grant)(const WCHAR *, const WCHAR *);
typedef HRESULT(WINAPI *fn_hcs_import)(const WCHAR *, const WCHAR *, const WCHAR *);

static const WCHAR empty_home[] = L"";
static const wcl_driver_info std_info = {1, empty_home};

#define HR_NOT_READY ((HRESULT)0x80070015L)            /* HRESULT_FROM_WIN32(ERROR_NOT_READY) */
#define HR_DEVICE_NOT_CONNECTED ((HRESULT)0x8007048FL) /* ERROR_DEVICE_NOT_CONNECTED */

#define FEATURE_HINT "Windows Containers / Hyper-V feature missing?"
static wc_dll vmcompute = WC_DLL("vmcompute.dll", FEATURE_HINT);
static wc_dll computestorage = WC_DLL("computestorage.dll", FEATURE_HINT);

#define VMC(type, name, err) ((type)wc_dll_proc(&vmcompute, name, err))

static wc_code code_of(HRESULT hr)
{
    switch ((unsigned long)hr) {
    case 0x80070005UL:
        return WC_PERMISSION_DENIED;
    case 0x80070002UL:
    case 0x80070003UL:
        return WC_NOT_FOUND;
    case 0x800700B7UL: /* ERROR_ALREADY_EXISTS */
    case 0x80070050UL: /* ERROR_FILE_EXISTS */
        return WC_ALREADY_EXISTS;
    default:
        return WC_INTERNAL;
    }
}

static int hr_fail(wc_err *err, HRESULT hr, const char *call, const char *path)
{
    wc_err_set(err, code_of(hr), "vmcompute %s(%s): HRESULT 0x%08lX", call, path ? path : "",
               (unsigned long)hr);
    err->sys = (long)hr;
    return -1;
}

int img_wcl_name_to_guid(void *ctx, const char *name, img_wcl_guid *out, wc_err *err)
{
    (void)ctx;
    fn_name_to_guid f = VMC(fn_name_to_guid, "NameToGuid", err);
    if (!f)
        return -1;
    WCHAR *w = wc_utf8_to_utf16(name, NULL);
    if (!w)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "layer name \"%s\" is not UTF-8", name);
    GUID g;
    HRESULT hr = f(w, &g);
    free(w);
    if (FAILED(hr))
        return hr_fail(err, hr, "NameToGuid", name);
    out->data1 = (uint32_t)g.Data1;
    out->data2 = g.Data2;
    out->data3 = g.Data3;
    memcpy(out->data4, g.Data4, 8);
    return 0;
}

/* Descriptors in vmcompute's layout; wide paths owned by the returned array's tail. */
typedef struct wcl_descs {
    wcl_layer_descriptor *d;
    WCHAR **paths;
    size_t n;
} wcl_descs;

static void descs_free(wcl_descs *ds)
{
    for (size_t i = 0; i < ds->n; i++)
        free(ds->paths[i]);
    free(ds->paths);
    free(ds->d);
}

static int descs_build(const char *const *parents, size_t n, wcl_descs *ds, wc_err *err)
{
    memset(ds, 0, sizeof *ds);
    img_wcl_desc *nd;
    if (img_wcl_descriptors(parents, n, img_wcl_name_to_guid, NULL, &nd, err) != 0)
        return -1;
    ds->d = wc_xcalloc(n ? n : 1, sizeof *ds->d);
    ds->paths = wc_xcalloc(n ? n : 1, sizeof *ds->paths);
    ds->n = n;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        ds->d[i].layer_id.Data1 = nd[i].layer_id.data1;
        ds->d[i].layer_id.Data2 = nd[i].layer_id.data2;
        ds->d[i].layer_id.Data3 = nd[i].layer_id.data3;
        memcpy(ds->d[i].layer_id.Data4, nd[i].layer_id.data4, 8);
        ds->d[i].flags = nd[i].flags;
        ds->paths[i] = wc_utf8_to_utf16(parents[i], NULL);
        if (!ds->paths[i])
            rc = wc_err_set(err, WC_INVALID_ARGUMENT, "layer path \"%s\" is not UTF-8", parents[i]);
        ds->d[i].path = ds->paths[i];
    }
    free(nd);
    if (rc != 0)
        descs_free(ds);
    return rc;
}

static int write_text_file(const char *path, const char *text, wc_err *err)
{
    WCHAR *w = wc_utf8_to_utf16(path, NULL);
    HANDLE h =
        w ? CreateFileW(w, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL)
          : INVALID_HANDLE_VALUE;
    free(w);
    if (h == INVALID_HANDLE_VALUE)
        return wc_err_set(err, WC_INTERNAL, "creating %s: error %lu", path,
                          (unsigned long)GetLastError());
    DWORD done = 0;
    BOOL ok = WriteFile(h, text, (DWORD)strlen(text), &done, NULL);
    CloseHandle(h);
    if (!ok || done != strlen(text))
        return wc_err_set(err, WC_INTERNAL, "writing %s: error %lu", path,
                          (unsigned long)GetLastError());
    return 0;
}

static int write_layerchain(const char *layer_path, const char *const *parents, size_t n,
                            wc_err *err)
{
    char *json = img_wcl_layerchain_json(parents, n, err);
    char *file = img_wcl_join(layer_path, "layerchain.json");
    int rc = (json && file) ? write_text_file(file, json, err) : -1;
    free(json);
    free(file);
    return rc;
}

static int call_path(const char *proc, const char *path, wc_err *err)
{
    fn_path f = VMC(fn_path, proc, err);
    if (!f)
        return -1;
    WCHAR *w = wc_utf8_to_utf16(path, NULL);
    HRESULT hr = w ? f(w) : E_INVALIDARG;
    free(w);
    return FAILED(hr) ? hr_fail(err, hr, proc, path) : 0;
}

static int call_id(const char *proc, const char *path, wc_err *err)
{
    fn_id f = VMC(fn_id, proc, err);
    if (!f)
        return -1;
    WCHAR *w = wc_utf8_to_utf16(path, NULL);
    HRESULT hr = w ? f(&std_info, w) : E_INVALIDARG;
    free(w);
    return FAILED(hr) ? hr_fail(err, hr, proc, path) : 0;
}

int img_wcl_import(const char *layer_path, const char *staging_path, const char *const *parents,
                   size_t n_parents, int is_base, wc_err *err)
{
    if (is_base) {
        /* A base layer is written in place and processed, never imported (hcsshim
         * baselayerwriter.go); ProcessBaseImage takes the layer folder whose Files\ holds
         * the files (processimage.go ProcessBaseLayer), and makes blank.vhdx there. */
        if (img_wl_restore_base(staging_path, layer_path, err) != 0 ||
            call_path("ProcessBaseImage", layer_path, err) != 0)
            return -1;
    } else {
        fn_import f = VMC(fn_import, "ImportLayer", err);
        if (!f)
            return -1;
        wcl_descs ds;
        if (descs_build(parents, n_parents, &ds, err) != 0)
            return -1;
        WCHAR *wl = wc_utf8_to_utf16(layer_path, NULL), *ws = wc_utf8_to_utf16(staging_path, NULL);
        HRESULT hr = (wl && ws) ? f(&std_info, wl, ws, ds.d, (ULONG)ds.n) : E_INVALIDARG;
        free(wl);
        free(ws);
        descs_free(&ds);
        if (FAILED(hr))
            return hr_fail(err, hr, "ImportLayer", layer_path);
    }
    /* A utility VM in the layer is prepared for use (hcsshim importlayer.go and
     * baselayerwriter.go both call ProcessUtilityVMImage on <layer>\UtilityVM). */
    char *uvm = img_wcl_join(layer_path, "UtilityVM");
    WCHAR *wu = wc_utf8_to_utf16(uvm, NULL);
    DWORD attr = wu ? GetFileAttributesW(wu) : INVALID_FILE_ATTRIBUTES;
    free(wu);
    int rc = 0;
    if (attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_DIRECTORY))
        rc = call_path("ProcessUtilityImage", uvm, err);
    free(uvm);
    if (rc != 0)
        return -1;
    return write_layerchain(layer_path, parents, n_parents, err);
}

static int copy_file(const char *from, const char *to, wc_err *err)
{
    WCHAR *wf = wc_utf8_to_utf16(from, NULL), *wt = wc_utf8_to_utf16(to, NULL);
    BOOL ok = wf && wt && CopyFileW(wf, wt, TRUE);
    DWORD e = GetLastError();
    free(wf);
    free(wt);
    if (!ok)
        return wc_err_set(err,
                          e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? WC_NOT_FOUND
                                                                                 : WC_INTERNAL,
                          "copying %s to %s: error %lu", from, to, (unsigned long)e);
    return 0;
}

int img_wcl_create_scratch(const char *scratch_path, const char *const *parents, size_t n_parents,
                           uint64_t rootfs_size_in_bytes, wc_err *err)
{
    if (n_parents == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "a scratch layer needs its image layers");
    WCHAR *wd = wc_utf8_to_utf16(scratch_path, NULL);
    BOOL created = wd && CreateDirectoryW(wd, NULL);
    if (!created && (!wd || GetLastError() != ERROR_ALREADY_EXISTS)) {
        free(wd);
        return wc_err_set(err, WC_INTERNAL, "creating %s: error %lu", scratch_path,
                          (unsigned long)GetLastError());
    }
    /* The base layer is the last parent. */
    char *blank = img_wcl_join(parents[n_parents - 1], "blank.vhdx");
    char *sandbox = img_wcl_join(scratch_path, "sandbox.vhdx");
    int rc = (blank && sandbox) ? copy_file(blank, sandbox, err) : -1;
    free(blank);
    free(sandbox);
    if (rc != 0 && created)
        RemoveDirectoryW(wd); /* leave nothing behind for a scratch that never was */
    free(wd);
    if (rc != 0)
        return -1;
    fn_expand f = VMC(fn_expand, "ExpandSandboxSize", err);
    if (!f)
        return -1;
    WCHAR *w = wc_utf8_to_utf16(scratch_path, NULL);
    HRESULT hr =
        w ? f(&std_info, w, (ULONGLONG)img_wcl_scratch_bytes(rootfs_size_in_bytes)) : E_INVALIDARG;
    free(w);
    if (FAILED(hr))
        return hr_fail(err, hr, "ExpandSandboxSize", scratch_path);
    return write_layerchain(scratch_path, parents, n_parents, err);
}

int img_wcl_create_uvm_scratch(const char *dest_vhdx, const char *base_layer, const char *vm_id,
                               wc_err *err)
{
    char *tmpl = img_wcl_join(base_layer, "UtilityVM\\SystemTemplate.vhdx");
    int rc = tmpl ? copy_file(tmpl, dest_vhdx, err) : -1;
    free(tmpl);
    if (rc != 0)
        return -1;
    fn_grant f = VMC(fn_grant, "GrantVmAccess", err);
    if (!f)
        return -1;
    WCHAR *wv = wc_utf8_to_utf16(vm_id, NULL), *wp = wc_utf8_to_utf16(dest_vhdx, NULL);
    HRESULT hr = (wv && wp) ? f(wv, wp) : E_INVALIDARG;
    free(wv);
    free(wp);
    return FAILED(hr) ? hr_fail(err, hr, "GrantVmAccess", dest_vhdx) : 0;
}

int img_wcl_mount(const char *scratch_path, const char *const *parents, size_t n_parents,
                  char **volume, wc_err *err)
{
    *volume = NULL;
    fn_id_desc prepare = VMC(fn_id_desc, "PrepareLayer", err);
    fn_mount_path get_path = prepare ? VMC(fn_mount_path, "GetLayerMountPath", err) : NULL;
    if (!get_path)
        return -1;
    wcl_descs ds;
    if (descs_build(parents, n_parents, &ds, err) != 0)
        return -1;
    WCHAR *w = wc_utf8_to_utf16(scratch_path, NULL);
    HRESULT hr = E_INVALIDARG;
    const char *failed = "PrepareLayer";
    for (int attempt = 0; w && attempt < 5; attempt++) {
        if (call_id("ActivateLayer", scratch_path, err) != 0) {
            hr = (HRESULT)err->sys;
            failed = "ActivateLayer";
        } else {
            hr = prepare(&std_info, w, ds.d, (ULONG)ds.n);
            failed = "PrepareLayer";
            if (FAILED(hr)) {
                wc_err scratch = {0};
                call_id("DeactivateLayer", scratch_path, &scratch);
            }
        }
        if (SUCCEEDED(hr) || (hr != HR_NOT_READY && hr != HR_DEVICE_NOT_CONNECTED))
            break;
        Sleep(100);
    }
    descs_free(&ds);
    if (FAILED(hr)) {
        free(w);
        return hr_fail(err, hr, failed, scratch_path);
    }
    SIZE_T len = 0;
    hr = get_path(&std_info, w, &len, NULL);
    WCHAR *buf = NULL;
    if (SUCCEEDED(hr) && len) {
        buf = wc_xcalloc(len + 1, sizeof *buf);
        hr = get_path(&std_info, w, &len, buf);
    }
    free(w);
    if (FAILED(hr) || !buf) {
        free(buf);
        wc_err scratch = {0};
        img_wcl_unmount(scratch_path, &scratch);
        return FAILED(hr) ? hr_fail(err, hr, "GetLayerMountPath", scratch_path)
                          : wc_err_set(err, WC_INTERNAL, "GetLayerMountPath(%s) returned no path",
                                       scratch_path);
    }
    *volume = wc_utf16_to_utf8(buf, NULL);
    free(buf);
    if (!*volume) { /* mounted all the same: undone, as for the failures above */
        wc_err scratch = {0};
        img_wcl_unmount(scratch_path, &scratch);
        return wc_err_set(err, WC_INTERNAL, "GetLayerMountPath(%s): the path is not UTF-16",
                          scratch_path);
    }
    return 0;
}

int img_wcl_unmount(const char *scratch_path, wc_err *err)
{
    int rc = call_id("UnprepareLayer", scratch_path, err);
    wc_err second = {0};
    if (call_id("DeactivateLayer", scratch_path, rc == 0 ? err : &second) != 0 && rc == 0)
        rc = -1;
    return rc;
}

int img_wcl_destroy(const char *layer_path, wc_err *err)
{
    return call_id("DestroyLayer", layer_path, err);
}

int img_wcl_storage_import(const char *layer_path, const char *source, const char *layer_data,
                           wc_err *err)
{
    fn_hcs_import f = (fn_hcs_import)wc_dll_proc(&computestorage, "HcsImportLayer", err);
    if (!f)
        return -1;
    WCHAR *wl = wc_utf8_to_utf16(layer_path, NULL), *ws = wc_utf8_to_utf16(source, NULL),
          *wd = wc_utf8_to_utf16(layer_data, NULL);
    HRESULT hr = (wl && ws && wd) ? f(wl, ws, wd) : E_INVALIDARG;
    free(wl);
    free(ws);
    free(wd);
    if (FAILED(hr)) {
        wc_err_set(err, code_of(hr), "computestorage HcsImportLayer(%s): HRESULT 0x%08lX",
                   layer_path, (unsigned long)hr);
        err->sys = (long)hr;
        return -1;
    }
    return 0;
}
