/* HCN error table and its mapping onto gRPC codes. */
#include "hns/hcnerr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct hcn_err_info {
    int32_t hr;
    const char *name;
    wc_code code;
    const char *message;
} hcn_err_info;

#define E(sym, c, msg)                                                                             \
    {                                                                                              \
        sym, #sym, c, msg                                                                          \
    }
static const hcn_err_info table[] = {
    E(HCN_E_NETWORK_NOT_FOUND, WC_NOT_FOUND, "The network was not found"),
    E(HCN_E_ENDPOINT_NOT_FOUND, WC_NOT_FOUND, "The endpoint was not found"),
    E(HCN_E_LAYER_NOT_FOUND, WC_NOT_FOUND, "The network's underlying layer was not found"),
    E(HCN_E_SWITCH_NOT_FOUND, WC_NOT_FOUND, "The virtual switch was not found"),
    E(HCN_E_SUBNET_NOT_FOUND, WC_NOT_FOUND, "The network does not have a subnet for this endpoint"),
    E(HCN_E_ADAPTER_NOT_FOUND, WC_NOT_FOUND, "An adapter was not found"),
    E(HCN_E_PORT_NOT_FOUND, WC_NOT_FOUND, "The switch-port was not found"),
    E(HCN_E_POLICY_NOT_FOUND, WC_NOT_FOUND, "An expected policy was not found"),
    E(HCN_E_VFP_PORTSETTING_NOT_FOUND, WC_NOT_FOUND, "A required VFP port setting was not found"),
    E(HCN_E_INVALID_NETWORK, WC_INVALID_ARGUMENT,
      "The provided network configuration is invalid or missing parameters"),
    E(HCN_E_INVALID_NETWORK_TYPE, WC_INVALID_ARGUMENT, "Invalid network type"),
    E(HCN_E_INVALID_ENDPOINT, WC_INVALID_ARGUMENT,
      "The provided endpoint configuration is invalid or missing parameters"),
    E(HCN_E_INVALID_POLICY, WC_INVALID_ARGUMENT,
      "The provided policy configuration is invalid or missing parameters"),
    E(HCN_E_INVALID_POLICY_TYPE, WC_INVALID_ARGUMENT, "Invalid policy type"),
    E(HCN_E_INVALID_REMOTE_ENDPOINT_OPERATION, WC_FAILED_PRECONDITION,
      "This requested operation is invalid for a remote endpoint"),
    E(HCN_E_NETWORK_ALREADY_EXISTS, WC_ALREADY_EXISTS, "A network with this name already exists"),
    E(HCN_E_LAYER_ALREADY_EXISTS, WC_ALREADY_EXISTS, "A network with this name already exists"),
    E(HCN_E_POLICY_ALREADY_EXISTS, WC_ALREADY_EXISTS,
      "Policy information already exists on this object"),
    E(HCN_E_PORT_ALREADY_EXISTS, WC_ALREADY_EXISTS, "The specified port already exists"),
    E(HCN_E_ENDPOINT_ALREADY_ATTACHED, WC_ALREADY_EXISTS,
      "This endpoint is already attached to the switch"),
    E(HCN_E_REQUEST_UNSUPPORTED, WC_UNIMPLEMENTED, "The specified request is unsupported"),
    E(HCN_E_MAPPING_NOT_SUPPORTED, WC_INVALID_ARGUMENT,
      "Port mapping is not supported on the given network"),
    E(HCN_E_DEGRADED_OPERATION, WC_UNAVAILABLE,
      "There was an operation attempted on a degraded object"),
    E(HCN_E_SHARED_SWITCH_MODIFICATION, WC_FAILED_PRECONDITION,
      "Cannot modify a switch shared by multiple networks"),
    E(HCN_E_GUID_CONVERSION_FAILURE, WC_INVALID_ARGUMENT,
      "Failed to interpret a parameter as a GUID"),
    E(HCN_E_REGKEY_FAILURE, WC_INTERNAL, "Failed to process registry key"),
    E(HCN_E_INVALID_JSON, WC_INVALID_ARGUMENT, "Invalid JSON document string"),
    E(HCN_E_INVALID_JSON_REFERENCE, WC_INVALID_ARGUMENT,
      "The reference is invalid in the JSON document"),
    E(HCN_E_ENDPOINT_SHARING_DISABLED, WC_FAILED_PRECONDITION, "Endpoint sharing is disabled"),
    E(HCN_E_INVALID_IP, WC_INVALID_ARGUMENT,
      "IP address is either invalid or not part of any configured subnet(s)"),
    E(HCN_E_SWITCH_EXTENSION_NOT_FOUND, WC_NOT_FOUND,
      "The specified switch extension does not exist on this switch"),
    E(HCN_E_MANAGER_STOPPED, WC_UNAVAILABLE,
      "Operation cannot be performed while service is stopping"),
    E(GCN_E_MODULE_NOT_FOUND, WC_NOT_FOUND,
      "Operation cannot be performed while service module not found"),
    E(GCN_E_NO_REQUEST_HANDLERS, WC_UNIMPLEMENTED,
      "Request Handlers not present to handle the JSON request"),
    E(GCN_E_REQUEST_UNSUPPORTED, WC_UNIMPLEMENTED, "The specified request is unsupported"),
    E(GCN_E_RUNTIMEKEYS_FAILED, WC_INTERNAL, "Add runtime keys to container failed"),
    E(GCN_E_NETADAPTER_TIMEOUT, WC_DEADLINE_EXCEEDED,
      "Timeout while waiting for network adapter with the given instance id"),
    E(GCN_E_NETADAPTER_NOT_FOUND, WC_NOT_FOUND,
      "Network adapter not found for the given instance id"),
    E(GCN_E_NETCOMPARTMENT_NOT_FOUND, WC_NOT_FOUND,
      "Network compartment not found for the given id"),
    E(GCN_E_NETINTERFACE_NOT_FOUND, WC_NOT_FOUND, "Network interface not found for the given id"),
    E(GCN_E_DEFAULTNAMESPACE_EXISTS, WC_ALREADY_EXISTS, "Default Namespace already exists"),
    E(HCN_E_ICS_DISABLED, WC_FAILED_PRECONDITION,
      "Internet Connection Sharing service (SharedAccess) is disabled and cannot be started"),
    E(HCN_E_ENDPOINT_NAMESPACE_ALREADY_EXISTS, WC_ALREADY_EXISTS,
      "This requested operation is invalid as endpoint is already part of a network "
      "namespace"),
    E(HCN_E_ENTITY_HAS_REFERENCES, WC_FAILED_PRECONDITION,
      "The specified entity cannot be removed while it still has references"),
    E(HCN_E_INVALID_INTERNAL_PORT, WC_INVALID_ARGUMENT,
      "The internal port must exist and cannot be zero"),
    E(HCN_E_NAMESPACE_ATTACH_FAILED, WC_INTERNAL,
      "The requested operation for attach namespace failed"),
    E(HCN_E_ADDR_INVALID_OR_RESERVED, WC_INVALID_ARGUMENT,
      "An address provided is invalid or reserved"),
    E(HCN_E_INVALID_PREFIX, WC_INVALID_ARGUMENT, "The prefix provided is invalid"),
    E(HCN_E_OBJECT_USED_AFTER_UNLOAD, WC_INTERNAL,
      "A call was performed against an object that was torn down"),
    E(HCN_E_INVALID_SUBNET, WC_INVALID_ARGUMENT,
      "The provided subnet configuration is invalid or missing parameters"),
    E(HCN_E_INVALID_IP_SUBNET, WC_INVALID_ARGUMENT,
      "The provided IP subnet configuration is invalid or missing parameters"),
    E(HCN_E_ENDPOINT_NOT_ATTACHED, WC_FAILED_PRECONDITION,
      "The endpoint must be attached to complete the operation"),
    E(HCN_E_ENDPOINT_NOT_LOCAL, WC_FAILED_PRECONDITION,
      "The endpoint must be local to complete the operation"),
    E(HCN_INTERFACEPARAMETERS_ALREADY_APPLIED, WC_ALREADY_EXISTS,
      "Cannot apply more than one InterfaceParameters policy"),
    E(HCN_E_VFP_NOT_ALLOWED, WC_FAILED_PRECONDITION,
      "A network of this type can not be created because VFP is not available"),
};
#undef E

static const hcn_err_info *find(int32_t hr)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].hr == hr)
            return &table[i];
    return NULL;
}

const char *hns_hcn_err_name(int32_t hr)
{
    const hcn_err_info *e = find(hr);
    return e ? e->name : NULL;
}

const char *hns_hcn_err_message(int32_t hr)
{
    const hcn_err_info *e = find(hr);
    return e ? e->message : NULL;
}

wc_code hns_hcn_err_code(int32_t hr)
{
    const hcn_err_info *e = find(hr);
    if (e)
        return e->code;
    switch ((uint32_t)hr) {
    case 0x80070005u: /* E_ACCESSDENIED */
        return WC_PERMISSION_DENIED;
    case 0x80070002u: /* ERROR_FILE_NOT_FOUND */
    case 0x80070490u: /* ERROR_NOT_FOUND */
        return WC_NOT_FOUND;
    case 0x8007007Eu: /* ERROR_MOD_NOT_FOUND: computenetwork.dll missing */
    case 0x8007007Fu: /* ERROR_PROC_NOT_FOUND */
        return WC_UNAVAILABLE;
    default:
        return WC_INTERNAL;
    }
}

int hns_hcn_err_set(wc_err *err, int32_t hr, const char *record, const char *what_fmt, ...)
{
    if (!err)
        return -1;
    char what[512];
    va_list ap;
    va_start(ap, what_fmt);
    vsnprintf(what, sizeof what, what_fmt, ap);
    va_end(ap);
    const hcn_err_info *e = find(hr);
    if (e)
        wc_err_set(err, e->code, "%s: %s (0x%08X): %s", what, e->name, (unsigned)hr, e->message);
    else
        wc_err_set(err, hns_hcn_err_code(hr), "%s: HRESULT 0x%08X", what, (unsigned)hr);
    if (record && *record) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n, ": %s", record);
    }
    err->sys = (long)hr;
    return -1;
}
