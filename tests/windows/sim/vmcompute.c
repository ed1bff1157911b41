/* winsim vmcompute.dll: the legacy layer API and HNSCall, as wincrid calls them
 * (image/wclayer_win32.c, hns/hcn_win32.c). Signatures: hcsshim
 * internal/wclayer/zsyscall_windows.go and layerutils.go (DriverInfo, WC_LAYER_DESCRIPTOR),
 * internal/hns/zsyscall_windows.go (HNSCall, response freed with CoTaskMemFree). Each call
 * is forwarded to the winsim host, which owns the layer and volume state (host_storage.c). */
#include <winsock2.h>
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simclient.h"

typedef struct driver_info {
    int flavour;
    const WCHAR *home_dir;
} driver_info;

typedef struct layer_descriptor {
    GUID layer_id;
    ULONG flags;
    const WCHAR *path;
} layer_descriptor;

static HRESULT call(sb *b)
{
    sj *reply = sim_send(b);
    HRESULT hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    sj_free(reply);
    return hr;
}

static HRESULT path_call(const char *op, const WCHAR *path)
{
    if (!path)
        return E_INVALIDARG;
    sb b;
    sim_begin(&b, op);
    sim_kv_wstr(&b, "path", path);
    sim_kv_wstr(&b, "jid", path);
    return call(&b);
}

static void add_layers(sb *b, const layer_descriptor *d, ULONG n)
{
    sb_add(b, ",\"layers\":[");
    for (ULONG i = 0; i < n; i++) {
        char g[37];
        sim_guid_str(&d[i].layer_id, g);
        sb_add(b, i ? ",{\"id\":" : "{\"id\":");
        sb_qstr(b, g);
        sb_addf(b, ",\"flags\":%lu", (unsigned long)d[i].flags);
        sim_kv_wstr(b, "path", d[i].path);
        sb_add(b, "}");
    }
    sb_add(b, "]");
}

HRESULT WINAPI NameToGuid(const WCHAR *name, GUID *guid)
{
    if (!name || !guid)
        return E_INVALIDARG;
    sb b;
    sim_begin(&b, "NameToGuid");
    sim_kv_wstr(&b, "name", name);
    sj *reply = sim_send(&b);
    HRESULT hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    const char *g = sj_str(sj_get(reply, "result"));
    unsigned long d1;
    unsigned d[10];
    if (SUCCEEDED(hr) && g &&
        sscanf(g, "%8lx-%4x-%4x-%2x%2x-%2x%2x%2x%2x%2x%2x", &d1, &d[0], &d[1], &d[2], &d[3], &d[4],
               &d[5], &d[6], &d[7], &d[8], &d[9]) == 11) {
        guid->Data1 = d1;
        guid->Data2 = (USHORT)d[0];
        guid->Data3 = (USHORT)d[1];
        for (int i = 0; i < 8; i++)
            guid->Data4[i] = (UCHAR)d[2 + i];
    } else if (SUCCEEDED(hr)) {
        hr = E_FAIL;
    }
    sj_free(reply);
    return hr;
}

HRESULT WINAPI ImportLayer(const driver_info *info, const WCHAR *id, const WCHAR *path,
                           const layer_descriptor *layers, ULONG n)
{
    (void)info;
    if (!id || !path)
        return E_INVALIDARG;
    sb b;
    sim_begin(&b, "ImportLayer");
    sim_kv_wstr(&b, "path", id);
    sim_kv_wstr(&b, "jid", id);
    sim_kv_wstr(&b, "staging", path);
    add_layers(&b, layers, n);
    return call(&b);
}

HRESULT WINAPI ProcessBaseImage(const WCHAR *path)
{
    return path_call("ProcessBaseImage", path);
}

HRESULT WINAPI ProcessUtilityImage(const WCHAR *path)
{
    return path_call("ProcessUtilityImage", path);
}

HRESULT WINAPI ExpandSandboxSize(const driver_info *info, const WCHAR *id, ULONGLONG size)
{
    (void)info;
    if (!id)
        return E_INVALIDARG;
    sb b;
    sim_begin(&b, "ExpandSandboxSize");
    sim_kv_wstr(&b, "path", id);
    sim_kv_wstr(&b, "jid", id);
    sim_kv_int(&b, "size", (long long)size);
    return call(&b);
}

HRESULT WINAPI ActivateLayer(const driver_info *info, const WCHAR *id)
{
    (void)info;
    return path_call("ActivateLayer", id);
}

HRESULT WINAPI DeactivateLayer(const driver_info *info, const WCHAR *id)
{
    (void)info;
    return path_call("DeactivateLayer", id);
}

HRESULT WINAPI UnprepareLayer(const driver_info *info, const WCHAR *id)
{
    (void)info;
    return path_call("UnprepareLayer", id);
}

HRESULT WINAPI DestroyLayer(const driver_info *info, const WCHAR *id)
{
    (void)info;
    return path_call("DestroyLayer", id);
}

HRESULT WINAPI PrepareLayer(const driver_info *info, const WCHAR *id,
                            const layer_descriptor *layers, ULONG n)
{
    (void)info;
    if (!id)
        return E_INVALIDARG;
    sb b;
    sim_begin(&b, "PrepareLayer");
    sim_kv_wstr(&b, "path", id);
    sim_kv_wstr(&b, "jid", id);
    add_layers(&b, layers, n);
    return call(&b);
}

/* First call (buffer NULL): *length = characters needed including the terminator; second
 * call fills buffer (hcsshim getlayermountpath.go). */
HRESULT WINAPI GetLayerMountPath(const driver_info *info, const WCHAR *id, SIZE_T *length,
                                 WCHAR *buffer)
{
    (void)info;
    if (!id || !length)
        return E_INVALIDARG;
    sb b;
    sim_begin(&b, "GetLayerMountPath");
    sim_kv_wstr(&b, "path", id);
    sim_kv_wstr(&b, "jid", id);
    sj *reply = sim_send(&b);
    HRESULT hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    const char *vp = sj_str(sj_get(reply, "result"));
    if (SUCCEEDED(hr) && vp) {
        WCHAR w[MAX_PATH];
        int n = MultiByteToWideChar(CP_UTF8, 0, vp, -1, w, MAX_PATH);
        if (!buffer) {
            *length = (SIZE_T)n;
        } else if (*length < (SIZE_T)n) {
            hr = HRESULT_FROM_WIN32(ERROR_INSUFFICIENT_BUFFER);
        } else {
            memcpy(buffer, w, (size_t)n * sizeof *w);
            *length = (SIZE_T)n;
        }
    }
    sj_free(reply);
    return hr;
}

HRESULT WINAPI GrantVmAccess(const WCHAR *vm_id, const WCHAR *path)
{
    sb b;
    sim_begin(&b, "GrantVmAccess");
    sim_kv_wstr(&b, "vm", vm_id);
    sim_kv_wstr(&b, "path", path);
    sim_kv_wstr(&b, "jid", path);
    return call(&b);
}

HRESULT WINAPI HNSCall(const WCHAR *method, const WCHAR *path, const WCHAR *request,
                       WCHAR **response)
{
    if (response)
        *response = NULL;
    sb b;
    sim_begin(&b, "HNSCall");
    sim_kv_wstr(&b, "method", method);
    sim_kv_wstr(&b, "path", path);
    sim_kv_wstr(&b, "doc", request);
    sj *reply = sim_send(&b);
    HRESULT hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    if (response && sj_str(sj_get(reply, "result")))
        *response = sim_u2w_cotask(sj_str(sj_get(reply, "result")));
    sj_free(reply);
    return hr;
}
