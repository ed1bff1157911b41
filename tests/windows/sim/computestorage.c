/* winsim computestorage.dll: HcsImportLayer and HcsDestroyLayer (signatures: mingw-w64's
 * computestorage.h; Microsoft's HCS storage reference: layerData is a JSON document with the
 * parent layers, {"SchemaVersion":…, "Layers":[{"Id":…, "Path":…}]}). Forwarded to the winsim
 * host, which reads the same staging format as ImportLayer (host_storage.c). */
#include <winsock2.h>
#include <windows.h>

#include "simclient.h"

static HRESULT call(sb *b)
{
    sj *reply = sim_send(b);
    HRESULT hr = sim_hr(reply, SIM_E_SERVICE_NOT_AVAILABLE);
    sj_free(reply);
    return hr;
}

HRESULT WINAPI HcsImportLayer(PCWSTR layerPath, PCWSTR sourceFolderPath, PCWSTR layerData)
{
    if (!layerPath || !sourceFolderPath)
        return E_INVALIDARG;
    sb b;
    sim_begin(&b, "HcsImportLayer");
    sim_kv_wstr(&b, "path", layerPath);
    sim_kv_wstr(&b, "jid", layerPath);
    sim_kv_wstr(&b, "source", sourceFolderPath);
    sim_kv_wstr(&b, "doc", layerData);
    return call(&b);
}

HRESULT WINAPI HcsDestroyLayer(PCWSTR layerPath)
{
    if (!layerPath)
        return E_INVALIDARG;
    sb b;
    sim_begin(&b, "HcsDestroyLayer");
    sim_kv_wstr(&b, "path", layerPath);
    sim_kv_wstr(&b, "jid", layerPath);
    return call(&b);
}
