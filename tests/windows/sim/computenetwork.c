/* winsim computenetwork.dll: HCN networks, endpoints and namespaces (signatures: mingw-w64's
 * computenetwork.h; behaviour: hcsshim hcn/ package). Handles carry the object's GUID; every
 * call goes to the winsim host, which keeps the objects (host_hcn.c). Outputs and error
 * records are CoTaskMem strings, as hcsshim frees them (interop.ConvertAndFreeCoTaskMemString). */
#include <winsock2.h>
#include <windows.h>

#include <computenetwork.h>
#include <objbase.h>
#include <stdlib.h>
#include <string.h>

#include "simclient.h"

#define HCN_UNAVAILABLE HRESULT_FROM_WIN32(ERROR_SERVICE_NOT_ACTIVE)

typedef struct hobj {
    char id[37];
} hobj;

static HRESULT finish(sb *b, PWSTR *out, PWSTR *record)
{
    if (out)
        *out = NULL;
    if (record)
        *record = NULL;
    sj *reply = sim_send(b);
    HRESULT hr = sim_hr(reply, HCN_UNAVAILABLE);
    const char *res = sj_str(sj_get(reply, "result"));
    const char *rec = sj_str(sj_get(reply, "record"));
    if (out && res)
        *out = sim_u2w_cotask(res);
    if (record && rec)
        *record = sim_u2w_cotask(rec);
    sj_free(reply);
    return hr;
}

static void *handle_of(const char *id)
{
    hobj *h = calloc(1, sizeof *h);
    memcpy(h->id, id, 37);
    return h;
}

static HRESULT by_guid(const char *op, REFGUID id, PWSTR *record, void **handle)
{
    char g[37];
    sim_guid_str(id, g);
    sb b;
    sim_begin(&b, op);
    sim_kv_str(&b, "id", g);
    sim_kv_str(&b, "jid", g);
    HRESULT hr = finish(&b, NULL, record);
    if (handle)
        *handle = SUCCEEDED(hr) ? handle_of(g) : NULL;
    return hr;
}

static HRESULT create(const char *op, REFGUID id, PCWSTR settings, void **handle, PWSTR *record)
{
    char g[37];
    sim_guid_str(id, g);
    sb b;
    sim_begin(&b, op);
    sim_kv_str(&b, "id", g);
    sim_kv_str(&b, "jid", g);
    sim_kv_wstr(&b, "doc", settings);
    HRESULT hr = finish(&b, NULL, record);
    if (handle)
        *handle = SUCCEEDED(hr) ? handle_of(g) : NULL;
    return hr;
}

static HRESULT with_handle(const char *op, void *h, PCWSTR doc, PWSTR *out, PWSTR *record)
{
    hobj *o = h;
    if (!o)
        return E_HANDLE;
    sb b;
    sim_begin(&b, op);
    sim_kv_str(&b, "id", o->id);
    sim_kv_str(&b, "jid", o->id);
    if (doc)
        sim_kv_wstr(&b, "doc", doc);
    return finish(&b, out, record);
}

static HRESULT enumerate(const char *op, PCWSTR query, PWSTR *list, PWSTR *record)
{
    sb b;
    sim_begin(&b, op);
    if (query)
        sim_kv_wstr(&b, "doc", query);
    return finish(&b, list, record);
}

static HRESULT close_handle(void *h)
{
    free(h);
    return S_OK;
}

HRESULT WINAPI HcnEnumerateNetworks(PCWSTR Query, PWSTR *Networks, PWSTR *ErrorRecord)
{
    return enumerate("HcnEnumerateNetworks", Query, Networks, ErrorRecord);
}

HRESULT WINAPI HcnCreateNetwork(REFGUID Id, PCWSTR Settings, PHCN_NETWORK Network,
                                PWSTR *ErrorRecord)
{
    return create("HcnCreateNetwork", Id, Settings, Network, ErrorRecord);
}

HRESULT WINAPI HcnOpenNetwork(REFGUID Id, PHCN_NETWORK Network, PWSTR *ErrorRecord)
{
    return by_guid("HcnOpenNetwork", Id, ErrorRecord, Network);
}

HRESULT WINAPI HcnQueryNetworkProperties(HCN_NETWORK Network, PCWSTR Query, PWSTR *Properties,
                                         PWSTR *ErrorRecord)
{
    return with_handle("HcnQueryNetworkProperties", Network, Query, Properties, ErrorRecord);
}

HRESULT WINAPI HcnDeleteNetwork(REFGUID Id, PWSTR *ErrorRecord)
{
    return by_guid("HcnDeleteNetwork", Id, ErrorRecord, NULL);
}

HRESULT WINAPI HcnCloseNetwork(HCN_NETWORK Network)
{
    return close_handle(Network);
}

HRESULT WINAPI HcnEnumerateNamespaces(PCWSTR Query, PWSTR *Namespaces, PWSTR *ErrorRecord)
{
    return enumerate("HcnEnumerateNamespaces", Query, Namespaces, ErrorRecord);
}

HRESULT WINAPI HcnCreateNamespace(REFGUID Id, PCWSTR Settings, PHCN_NAMESPACE Namespace,
                                  PWSTR *ErrorRecord)
{
    return create("HcnCreateNamespace", Id, Settings, Namespace, ErrorRecord);
}

HRESULT WINAPI HcnOpenNamespace(REFGUID Id, PHCN_NAMESPACE Namespace, PWSTR *ErrorRecord)
{
    return by_guid("HcnOpenNamespace", Id, ErrorRecord, Namespace);
}

HRESULT WINAPI HcnModifyNamespace(HCN_NAMESPACE Namespace, PCWSTR Settings, PWSTR *ErrorRecord)
{
    return with_handle("HcnModifyNamespace", Namespace, Settings, NULL, ErrorRecord);
}

HRESULT WINAPI HcnQueryNamespaceProperties(HCN_NAMESPACE Namespace, PCWSTR Query, PWSTR *Properties,
                                           PWSTR *ErrorRecord)
{
    return with_handle("HcnQueryNamespaceProperties", Namespace, Query, Properties, ErrorRecord);
}

HRESULT WINAPI HcnDeleteNamespace(REFGUID Id, PWSTR *ErrorRecord)
{
    return by_guid("HcnDeleteNamespace", Id, ErrorRecord, NULL);
}

HRESULT WINAPI HcnCloseNamespace(HCN_NAMESPACE Namespace)
{
    return close_handle(Namespace);
}

HRESULT WINAPI HcnEnumerateEndpoints(PCWSTR Query, PWSTR *Endpoints, PWSTR *ErrorRecord)
{
    return enumerate("HcnEnumerateEndpoints", Query, Endpoints, ErrorRecord);
}

HRESULT WINAPI HcnCreateEndpoint(HCN_NETWORK Network, REFGUID Id, PCWSTR Settings,
                                 PHCN_ENDPOINT Endpoint, PWSTR *ErrorRecord)
{
    hobj *net = Network;
    if (!net)
        return E_HANDLE;
    char g[37];
    sim_guid_str(Id, g);
    sb b;
    sim_begin(&b, "HcnCreateEndpoint");
    sim_kv_str(&b, "network", net->id);
    sim_kv_str(&b, "id", g);
    sim_kv_str(&b, "jid", g);
    sim_kv_wstr(&b, "doc", Settings);
    HRESULT hr = finish(&b, NULL, ErrorRecord);
    if (Endpoint)
        *Endpoint = SUCCEEDED(hr) ? handle_of(g) : NULL;
    return hr;
}

HRESULT WINAPI HcnOpenEndpoint(REFGUID Id, PHCN_ENDPOINT Endpoint, PWSTR *ErrorRecord)
{
    return by_guid("HcnOpenEndpoint", Id, ErrorRecord, Endpoint);
}

HRESULT WINAPI HcnQueryEndpointProperties(HCN_ENDPOINT Endpoint, PCWSTR Query, PWSTR *Properties,
                                          PWSTR *ErrorRecord)
{
    return with_handle("HcnQueryEndpointProperties", Endpoint, Query, Properties, ErrorRecord);
}

HRESULT WINAPI HcnDeleteEndpoint(REFGUID Id, PWSTR *ErrorRecord)
{
    return by_guid("HcnDeleteEndpoint", Id, ErrorRecord, NULL);
}

HRESULT WINAPI HcnCloseEndpoint(HCN_ENDPOINT Endpoint)
{
    return close_handle(Endpoint);
}
