/* The pod's network in its Hyper-V utility VM: each endpoint of the pod's HCN namespace
 * becomes a network adapter of the VM, as hcsshim's AddEndpointsToNS does for a WCOW VM
 * (internal/uvm/network.go addNIC): a guest-only PreAdd carrying the endpoint, then the Add
 * of VirtualMachine/Devices/NetworkAdapters/<new adapter GUID> with the endpoint's id and MAC.
 * Until then the guest has no adapter and the pod no network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <objbase.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "hcs/runtime_win32.h"
#include "hns/hcn.h"
#include "hns/hcndoc.h"

static int new_adapter_id(char out[37], wc_err *err)
{
    GUID g;
    if (CoCreateGuid(&g) != S_OK)
        return wc_err_set(err, WC_INTERNAL, "CoCreateGuid failed");
    snprintf(out, 37, "%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned long)g.Data1,
             g.Data2, g.Data3, g.Data4[0], g.Data4[1], g.Data4[2], g.Data4[3], g.Data4[4],
             g.Data4[5], g.Data4[6], g.Data4[7]);
    return 0;
}

static char *query_text(void)
{
    json_t *q = hns_hcn_query_doc(NULL, NULL, 0);
    char *t = q ? hns_hcn_dump(q) : NULL;
    json_decref(q);
    return t;
}

/* One endpoint into the VM: PreAdd, then Add. */
static int add_endpoint(hcs_system *vm, const char *endpoint_id, const char *query, wc_err *err)
{
    char *props = NULL;
    hns_endpoint_info ep;
    int rc = hns_hcn_endpoint_query(endpoint_id, query, &props, err);
    if (rc == 0)
        rc = hns_hcn_endpoint_parse(props, &ep, err);
    free(props);
    char nic[37];
    if (rc == 0)
        rc = new_adapter_id(nic, err);
    json_t *obj = NULL, *pre = NULL, *add = NULL;
    if (rc == 0)
        rc = hcs_doc_uvm_nic_endpoint(ep.id, ep.name, ep.mac, ep.n_ips ? ep.ips[0] : NULL,
                                      ep.n_ips ? ep.prefix_lengths[0] : 0, &obj, err);
    if (rc == 0)
        rc = hcs_doc_uvm_nic_preadd(nic, obj, &pre, err);
    if (rc == 0)
        rc = hcs_doc_uvm_nic_add(nic, ep.id, ep.mac[0] ? ep.mac : NULL, &add, err);
    if (rc == 0)
        rc = hcs_system_modify(vm, pre, HCS_DEFAULT_TIMEOUT_MS, err);
    if (rc == 0)
        rc = hcs_system_modify(vm, add, HCS_DEFAULT_TIMEOUT_MS, err);
    if (rc == 0)
        wc_info("hcs", "network adapter added to utility VM", "uvm=%s endpoint=%s adapter=%s",
                hcs_system_id(vm), ep.id, nic);
    json_decref(obj);
    json_decref(pre);
    json_decref(add);
    return rc < 0 ? wc_err_prefix(err, "endpoint %s", endpoint_id) : 0;
}

int hcs_uvm_add_network(hcs_system *vm, const json_t *spec, wc_err *err)
{
    const char *netns = json_string_value(json_object_get(
        json_object_get(json_object_get(spec, "windows"), "network"), "networkNamespace"));
    if (!netns || !*netns)
        return 0; /* a pod without a network (none was asked for) */
    char *query = query_text();
    char *props = NULL;
    hns_namespace_info ns;
    int rc = hns_hcn_namespace_query(netns, query, &props, err);
    if (rc == 0)
        rc = hns_hcn_namespace_parse(props, &ns, err);
    free(props);
    for (size_t i = 0; rc == 0 && i < ns.n_endpoints; i++)
        rc = add_endpoint(vm, ns.endpoints[i], query, err);
    free(query);
    return rc < 0 ? wc_err_prefix(err, "network namespace %s", netns) : 0;
}
