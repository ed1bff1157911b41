/* HCN calls (computenetwork.dll, and vmcompute.dll's HNSCall for endpoint statistics).
 * Windows only: implemented in hns/hcn_win32.c. Documents are built and read by the shared
 * hns/hcndoc.c; these functions only carry JSON text to and from the DLL. Every failure is
 * a wc_err naming the call, the HCN_E_* code and HCN's error record. When the DLL is
 * missing (no Containers feature, or wine) the error is WC_UNAVAILABLE and says
 * "not available on this host". */
#ifndef WINCRI_HNS_HCN_H
#define WINCRI_HNS_HCN_H

#include "common/err.h"
#include "hns/hcnguid.h"

/* Loads computenetwork.dll and resolves every entry point wincri uses. */
int hns_hcn_available(wc_err *err);

/* Creates a namespace from `settings` (hns_hcn_namespace_doc); id_out gets its GUID. */
/* Creates the namespace of that GUID (the caller names it, so it can record the name first). */
int hns_hcn_namespace_create(const char *settings, const char *id, wc_err *err);
int hns_hcn_namespace_delete(const char *id, wc_err *err);
/* Sends a ModifyNamespaceSettingRequest (hns_hcn_namespace_modify_doc). */
int hns_hcn_namespace_modify(const char *id, const char *request, wc_err *err);
/* Properties of a namespace / endpoint / network; *props is malloc'd JSON text. */
int hns_hcn_namespace_query(const char *id, const char *query, char **props, wc_err *err);
int hns_hcn_endpoint_query(const char *id, const char *query, char **props, wc_err *err);
/* Enumerations: *list is the JSON array of GUIDs (hns_hcn_guid_list_parse). */
int hns_hcn_network_enumerate(const char *query, char **list, wc_err *err);
int hns_hcn_endpoint_enumerate(const char *query, char **list, wc_err *err);

int hns_hcn_network_create(const char *settings, char id_out[37], wc_err *err);
int hns_hcn_network_delete(const char *id, wc_err *err);
/* Creates an endpoint on network `network_id`; *props gets its properties. */
int hns_hcn_endpoint_create(const char *network_id, const char *settings, char id_out[37],
                            char **props, wc_err *err);
int hns_hcn_endpoint_delete(const char *id, wc_err *err);

/* HNS v1 "GET /endpointstats/<id>" through vmcompute.dll's HNSCall; *reply is the
 * envelope hns_hcn_endpoint_stats_parse reads. */
int hns_hns_endpoint_stats(const char *endpoint_id, char **reply, wc_err *err);

#endif
