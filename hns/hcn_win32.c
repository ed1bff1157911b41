/* computenetwork.dll client. The DLL is loaded at first use (common/dll_win32.h) and its
 * entry points looked up by name, so wincrid starts (and reports a clear error) on hosts
 * without the Containers feature. Signatures are mingw's
 * computenetwork.h; the open/query/close pattern follows hcsshim's hcn package. HNSCall
 * (vmcompute.dll) serves the v1 endpoint statistics, as hcsshim internal/hns does. */
#include "hns/hcn.h"

#include <windows.h>

#include <computenetwork.h>
#include <objbase.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dll_win32.h"
#include "common/wstr_win32.h"
#include "hns/hcnerr.h"

typedef HRESULT(WINAPI *fn_enum)(PCWSTR, PWSTR *, PWSTR *);
typedef HRESULT(WINAPI *fn_create)(REFGUID, PCWSTR, void **, PWSTR *);
typedef HRESULT(WINAPI *fn_open)(REFGUID, void **, PWSTR *);
typedef HRESULT(WINAPI *fn_modify)(void *, PCWSTR, PWSTR *);
typedef HRESULT(WINAPI *fn_query)(void *, PCWSTR, PWSTR *, PWSTR *);
typedef HRESULT(WINAPI *fn_delete)(REFGUID, PWSTR *);
typedef HRESULT(WINAPI *fn_close)(void *);
typedef HRESULT(WINAPI *fn_create_ep)(void *, REFGUID, PCWSTR, void **, PWSTR *);
typedef HRESULT(WINAPI *fn_hnscall)(PCWSTR, PCWSTR, PCWSTR, PWSTR *);

static wc_dll computenetwork =
    WC_DLL("computenetwork.dll", "Host Network Service needs the Containers feature");
static wc_dll vmcompute = WC_DLL("vmcompute.dll", "HNSCall for endpoint statistics");

static struct hcn_api {
    fn_enum enum_networks, enum_endpoints;
    fn_create create_network, create_namespace;
    fn_open open_network, open_namespace, open_endpoint;
    fn_modify modify_namespace;
    fn_query query_namespace, query_endpoint;
    fn_delete delete_network, delete_namespace, delete_endpoint;
    fn_close close_network, close_namespace, close_endpoint;
    fn_create_ep create_endpoint;
} api;

static wc_dll_fn need(const char *name, int *missing, char *first_missing, size_t size)
{
    wc_dll_fn p = wc_dll_proc(&computenetwork, name, NULL);
    if (!p && !*missing) {
        *missing = 1;
        snprintf(first_missing, size, "%s", name);
    }
    return p;
}

#define NEED(field, type, name) api.field = (type)need(name, &missing, first, sizeof first)

int hns_hcn_available(wc_err *err)
{
    if (api.create_endpoint)
        return 0;
    if (wc_dll_load(&computenetwork, err) < 0)
        return -1;
    int missing = 0;
    char first[64] = "";
    NEED(enum_networks, fn_enum, "HcnEnumerateNetworks");
    NEED(enum_endpoints, fn_enum, "HcnEnumerateEndpoints");
    NEED(create_network, fn_create, "HcnCreateNetwork");
    NEED(create_namespace, fn_create, "HcnCreateNamespace");
    NEED(open_network, fn_open, "HcnOpenNetwork");
    NEED(open_namespace, fn_open, "HcnOpenNamespace");
    NEED(open_endpoint, fn_open, "HcnOpenEndpoint");
    NEED(modify_namespace, fn_modify, "HcnModifyNamespace");
    NEED(query_namespace, fn_query, "HcnQueryNamespaceProperties");
    NEED(query_endpoint, fn_query, "HcnQueryEndpointProperties");
    NEED(delete_network, fn_delete, "HcnDeleteNetwork");
    NEED(delete_namespace, fn_delete, "HcnDeleteNamespace");
    NEED(delete_endpoint, fn_delete, "HcnDeleteEndpoint");
    NEED(close_network, fn_close, "HcnCloseNetwork");
    NEED(close_namespace, fn_close, "HcnCloseNamespace");
    NEED(close_endpoint, fn_close, "HcnCloseEndpoint");
    fn_create_ep ce = (fn_create_ep)need("HcnCreateEndpoint", &missing, first, sizeof first);
    if (missing) {
        memset(&api, 0, sizeof api);
        return wc_err_set(err, WC_UNAVAILABLE,
                          "computenetwork.dll on this host has no %s (HCN v2 is not available "
                          "on this Windows build)",
                          first);
    }
    api.create_endpoint = ce;
    return 0;
}

/* A CoTaskMem string from HCN as UTF-8; the original is freed. */
static char *take(PWSTR w)
{
    if (!w)
        return NULL;
    char *s = wc_utf16_to_utf8(w, NULL);
    CoTaskMemFree(w);
    return s;
}

static int to_guid(const char *id, GUID *g, wc_err *err)
{
    hns_guid h;
    if (!id || hns_guid_parse(id, &h) != 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "\"%s\" is not an HCN id (GUID)",
                          id ? id : "(null)");
    g->Data1 = h.data1;
    g->Data2 = h.data2;
    g->Data3 = h.data3;
    memcpy(g->Data4, h.data4, 8);
    return 0;
}

static void from_guid(const GUID *g, char out[37])
{
    hns_guid h = {.data1 = (uint32_t)g->Data1, .data2 = g->Data2, .data3 = g->Data3};
    memcpy(h.data4, g->Data4, 8);
    hns_guid_format(&h, out);
}

/* HCN may fail with a success HRESULT and an error record, or the other way round. */
static int check(HRESULT hr, PWSTR record, wc_err *err, const char *fmt, ...) WC_PRINTF(4, 5);
static int check(HRESULT hr, PWSTR record, wc_err *err, const char *fmt, ...)
{
    char *rec = take(record);
    if (SUCCEEDED(hr) && (!rec || !*rec)) {
        free(rec);
        return 0;
    }
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    hns_hcn_err_set(err, SUCCEEDED(hr) ? (int32_t)E_FAIL : (int32_t)hr, rec, "%s", what);
    free(rec);
    return -1;
}

/* ---- namespaces ---- */

int hns_hcn_namespace_create(const char *settings, const char *id, wc_err *err)
{
    GUID g;
    if (hns_hcn_available(err) != 0 || to_guid(id, &g, err) != 0)
        return -1;
    WCHAR *ws = wc_utf8_to_utf16(settings, NULL);
    void *h = NULL;
    PWSTR rec = NULL;
    HRESULT hr = ws ? api.create_namespace(&g, ws, &h, &rec) : E_OUTOFMEMORY;
    free(ws);
    if (check(hr, rec, err, "HcnCreateNamespace") != 0)
        return -1;
    api.close_namespace(h);
    return 0;
}

int hns_hcn_namespace_delete(const char *id, wc_err *err)
{
    GUID g;
    if (hns_hcn_available(err) != 0 || to_guid(id, &g, err) != 0)
        return -1;
    PWSTR rec = NULL;
    HRESULT hr = api.delete_namespace(&g, &rec);
    return check(hr, rec, err, "HcnDeleteNamespace(%s)", id);
}

int hns_hcn_namespace_modify(const char *id, const char *request, wc_err *err)
{
    GUID g;
    if (hns_hcn_available(err) != 0 || to_guid(id, &g, err) != 0)
        return -1;
    void *h = NULL;
    PWSTR rec = NULL;
    if (check(api.open_namespace(&g, &h, &rec), rec, err, "HcnOpenNamespace(%s)", id) != 0)
        return -1;
    WCHAR *wr = wc_utf8_to_utf16(request, NULL);
    rec = NULL;
    HRESULT hr = wr ? api.modify_namespace(h, wr, &rec) : E_OUTOFMEMORY;
    free(wr);
    int rc = check(hr, rec, err, "HcnModifyNamespace(%s)", id);
    api.close_namespace(h);
    return rc;
}

static int query(fn_open open, fn_query q, fn_close close, const char *kind, const char *id,
                 const char *query_doc, char **props, wc_err *err)
{
    *props = NULL;
    GUID g;
    if (hns_hcn_available(err) != 0 || to_guid(id, &g, err) != 0)
        return -1;
    void *h = NULL;
    PWSTR rec = NULL;
    if (check(open(&g, &h, &rec), rec, err, "HcnOpen%s(%s)", kind, id) != 0)
        return -1;
    WCHAR *wq = wc_utf8_to_utf16(
        query_doc ? query_doc : "{\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}", NULL);
    PWSTR out = NULL;
    rec = NULL;
    HRESULT hr = wq ? q(h, wq, &out, &rec) : E_OUTOFMEMORY;
    free(wq);
    int rc = check(hr, rec, err, "HcnQuery%sProperties(%s)", kind, id);
    close(h);
    char *text = take(out);
    if (rc == 0 && !text)
        rc = wc_err_set(err, WC_INTERNAL, "HcnQuery%sProperties(%s) returned nothing", kind, id);
    if (rc == 0)
        *props = text;
    else
        free(text);
    return rc;
}

int hns_hcn_namespace_query(const char *id, const char *query_doc, char **props, wc_err *err)
{
    if (hns_hcn_available(err) != 0)
        return -1;
    return query(api.open_namespace, api.query_namespace, api.close_namespace, "Namespace", id,
                 query_doc, props, err);
}

int hns_hcn_endpoint_query(const char *id, const char *query_doc, char **props, wc_err *err)
{
    if (hns_hcn_available(err) != 0)
        return -1;
    return query(api.open_endpoint, api.query_endpoint, api.close_endpoint, "Endpoint", id,
                 query_doc, props, err);
}

static int enumerate(fn_enum f, const char *what, const char *query_doc, char **list, wc_err *err)
{
    *list = NULL;
    WCHAR *wq = wc_utf8_to_utf16(
        query_doc ? query_doc : "{\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}", NULL);
    PWSTR out = NULL, rec = NULL;
    HRESULT hr = wq ? f(wq, &out, &rec) : E_OUTOFMEMORY;
    free(wq);
    char *text = take(out);
    if (check(hr, rec, err, "%s", what) != 0) {
        free(text);
        return -1;
    }
    *list = text;
    return 0;
}

int hns_hcn_network_enumerate(const char *query_doc, char **list, wc_err *err)
{
    if (hns_hcn_available(err) != 0)
        return -1;
    return enumerate(api.enum_networks, "HcnEnumerateNetworks", query_doc, list, err);
}

int hns_hcn_endpoint_enumerate(const char *query_doc, char **list, wc_err *err)
{
    if (hns_hcn_available(err) != 0)
        return -1;
    return enumerate(api.enum_endpoints, "HcnEnumerateEndpoints", query_doc, list, err);
}

/* ---- networks and endpoints ---- */

int hns_hcn_network_create(const char *settings, char id_out[37], wc_err *err)
{
    if (hns_hcn_available(err) != 0)
        return -1;
    GUID g;
    if (CoCreateGuid(&g) != S_OK)
        return wc_err_set(err, WC_INTERNAL, "CoCreateGuid failed");
    WCHAR *ws = wc_utf8_to_utf16(settings, NULL);
    void *h = NULL;
    PWSTR rec = NULL;
    HRESULT hr = ws ? api.create_network(&g, ws, &h, &rec) : E_OUTOFMEMORY;
    free(ws);
    if (check(hr, rec, err, "HcnCreateNetwork") != 0)
        return -1;
    api.close_network(h);
    from_guid(&g, id_out);
    return 0;
}

int hns_hcn_network_delete(const char *id, wc_err *err)
{
    GUID g;
    if (hns_hcn_available(err) != 0 || to_guid(id, &g, err) != 0)
        return -1;
    PWSTR rec = NULL;
    return check(api.delete_network(&g, &rec), rec, err, "HcnDeleteNetwork(%s)", id);
}

int hns_hcn_endpoint_create(const char *network_id, const char *settings, char id_out[37],
                            char **props, wc_err *err)
{
    *props = NULL;
    GUID ng, eg;
    if (hns_hcn_available(err) != 0 || to_guid(network_id, &ng, err) != 0)
        return -1;
    void *nh = NULL, *eh = NULL;
    PWSTR rec = NULL;
    if (check(api.open_network(&ng, &nh, &rec), rec, err, "HcnOpenNetwork(%s)", network_id) != 0)
        return -1;
    if (CoCreateGuid(&eg) != S_OK) {
        api.close_network(nh);
        return wc_err_set(err, WC_INTERNAL, "CoCreateGuid failed");
    }
    WCHAR *ws = wc_utf8_to_utf16(settings, NULL);
    rec = NULL;
    HRESULT hr = ws ? api.create_endpoint(nh, &eg, ws, &eh, &rec) : E_OUTOFMEMORY;
    free(ws);
    api.close_network(nh);
    if (check(hr, rec, err, "HcnCreateEndpoint on network %s", network_id) != 0)
        return -1;
    PWSTR out = NULL;
    rec = NULL;
    hr = api.query_endpoint(eh, L"{\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}", &out, &rec);
    api.close_endpoint(eh);
    char *text = take(out);
    from_guid(&eg, id_out);
    if (check(hr, rec, err, "HcnQueryEndpointProperties(%s)", id_out) != 0) {
        free(text);
        return -1;
    }
    *props = text;
    return 0;
}

int hns_hcn_endpoint_delete(const char *id, wc_err *err)
{
    GUID g;
    if (hns_hcn_available(err) != 0 || to_guid(id, &g, err) != 0)
        return -1;
    PWSTR rec = NULL;
    return check(api.delete_endpoint(&g, &rec), rec, err, "HcnDeleteEndpoint(%s)", id);
}

/* ---- HNS v1 statistics ---- */

int hns_hns_endpoint_stats(const char *endpoint_id, char **reply, wc_err *err)
{
    *reply = NULL;
    fn_hnscall call = (fn_hnscall)wc_dll_proc(&vmcompute, "HNSCall", err);
    if (!call)
        return -1;
    char path[96];
    snprintf(path, sizeof path, "/endpointstats/%s", endpoint_id);
    WCHAR *wp = wc_utf8_to_utf16(path, NULL);
    PWSTR out = NULL;
    HRESULT hr = wp ? call(L"GET", wp, L"", &out) : E_OUTOFMEMORY;
    free(wp);
    char *text = take(out);
    if (FAILED(hr)) {
        free(text);
        return hns_hcn_err_set(err, (int32_t)hr, NULL, "HNSCall GET %s", path);
    }
    *reply = text;
    return text ? 0 : wc_err_set(err, WC_INTERNAL, "HNSCall GET %s returned nothing", path);
}
