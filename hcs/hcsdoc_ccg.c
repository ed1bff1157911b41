/* Container Credential Guard (gMSA) documents. A container with a credential spec gets an
 * instance registered with HCS before its compute system is made, the instance's state in
 * its document, and the instance removed when it goes (the instances outlive the container
 * otherwise: hcsshim's CCGResource.Release). Facts from hcsshim
 * internal/credentials/credentials.go (CreateCredentialGuard, removeCredentialGuard,
 * newCredentialGuardRequest), internal/uvm/hvsocket.go (UpdateHvSocketService),
 * internal/hcs/resourcepaths (HvSocketConfigResourceFormat) and the HCS schema. */
#include <stdio.h>
#include <string.h>

#include "hcs/hcsdoc_int.h"

#define CCG_PROPERTY "ContainerCredentialGuard"

static json_t *ccg_request(const char *operation, json_t *details)
{
    if (!details)
        return NULL;
    return json_pack("{s:s,s:{s:s,s:o}}", "PropertyType", CCG_PROPERTY, "Settings", "Operation",
                     operation, "OperationDetails", details);
}

int hcs_doc_ccg_add(const char *id, const char *credential_spec, int hyperv, json_t **out,
                    wc_err *err)
{
    *out = NULL;
    if (!id || !*id)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "credential guard: a container id is needed");
    if (!credential_spec || !*credential_spec)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "container %s: windows.credentialSpec is empty",
                          id);
    json_t *details = json_pack("{s:s,s:s,s:s}", "Id", id, "CredentialSpec", credential_spec,
                                "Transport", hyperv ? "HvSocket" : "LRPC");
    *out = ccg_request("AddInstance", details);
    return *out ? 0 : hd_build_failed(err, "credential guard request");
}

json_t *hcs_doc_ccg_remove(const char *id)
{
    return ccg_request("RemoveInstance", json_pack("{s:s}", "Id", id ? id : ""));
}

json_t *hcs_doc_ccg_query(void)
{
    return json_pack("{s:[s]}", "PropertyTypes", CCG_PROPERTY);
}

int hcs_ccg_instance_find(const char *properties_json, const char *id, json_t **out, wc_err *err)
{
    *out = NULL;
    json_error_t je;
    json_t *doc = properties_json ? json_loads(properties_json, 0, &je) : NULL;
    json_t *props = json_object_get(doc, "Properties");
    size_t n_props = json_array_size(props); /* read before doc (which owns props) goes */
    if (n_props != 1) {
        json_decref(doc);
        return wc_err_set(err, WC_INTERNAL,
                          "credential guard: HCS answered the ContainerCredentialGuard query with "
                          "%u properties, expected one",
                          (unsigned)n_props);
    }
    size_t i;
    json_t *inst;
    json_array_foreach(json_object_get(json_array_get(props, 0), "Instances"), i, inst)
    {
        const char *iid = hd_str(inst, "Id");
        if (iid && strcmp(iid, id) == 0) {
            *out = json_incref(inst);
            json_decref(doc);
            return 0;
        }
    }
    json_decref(doc);
    return wc_err_set(err, WC_NOT_FOUND,
                      "credential guard: HCS lists no instance for container %s after adding it",
                      id);
}

int hcs_doc_uvm_hvsocket_service(const json_t *instance, json_t **out, wc_err *err)
{
    *out = NULL;
    json_t *hv = hd_obj(instance, "HvSocketConfig");
    const char *sid = hd_str(hv, "ServiceId");
    json_t *cfg = hd_obj(hv, "ServiceConfig");
    if (!sid || !*sid || !cfg)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "credential guard instance %s: no HvSocketConfig for the utility VM",
                          hd_str(instance, "Id") ? hd_str(instance, "Id") : "?");
    char path[200];
    snprintf(path, sizeof path, "VirtualMachine/Devices/HvSocket/HvSocketConfig/ServiceTable/%s",
             sid);
    *out =
        json_pack("{s:s,s:s,s:O}", "ResourcePath", path, "RequestType", "Update", "Settings", cfg);
    return *out ? 0 : hd_build_failed(err, "HvSocket service request");
}

int hcs_doc_set_credential_guard(json_t *doc, const json_t *state, wc_err *err)
{
    json_t *ctr = hd_obj(doc, "Container");
    if (!ctr)
        ctr = hd_obj(hd_obj(doc, "HostedSystem"), "Container");
    if (!ctr || !json_is_object(state))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "credential guard: no container in the document, or no state");
    json_object_set_new(ctr, "ContainerCredentialGuard", json_deep_copy(state));
    return 0;
}
