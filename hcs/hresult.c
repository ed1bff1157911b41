/* HRESULT names, messages and gRPC codes for HCS; parsing of ResultError documents.
 * Names, values and descriptions are Microsoft's (winerror.h, "HCS Error Code" reference). */
#include "hcs/hresult.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct hr_entry {
    uint32_t value;
    const char *name;
    const char *message;
    wc_code code;
} hr_entry;

static const hr_entry hcs_table[] = {
    {0x80370100u, "HCS_E_TERMINATED_DURING_START",
     "The virtual machine or container exited unexpectedly while starting", WC_INTERNAL},
    {0x80370101u, "HCS_E_IMAGE_MISMATCH",
     "The container operating system does not match the host operating system",
     WC_FAILED_PRECONDITION},
    {0x80370102u, "HCS_E_HYPERV_NOT_INSTALLED",
     "The virtual machine could not be started because a required feature is not installed",
     WC_FAILED_PRECONDITION},
    {0x80370105u, "HCS_E_INVALID_STATE",
     "The requested virtual machine or container operation is not valid in the current state",
     WC_FAILED_PRECONDITION},
    {0x80370106u, "HCS_E_UNEXPECTED_EXIT", "The virtual machine or container exited unexpectedly",
     WC_INTERNAL},
    {0x80370107u, "HCS_E_TERMINATED", "The virtual machine or container was forcefully exited",
     WC_ABORTED},
    {0x80370108u, "HCS_E_CONNECT_FAILED",
     "A connection could not be established with the container or virtual machine", WC_UNAVAILABLE},
    {0x80370109u, "HCS_E_CONNECTION_TIMEOUT",
     "The operation timed out because a response was not received from the virtual machine or "
     "container",
     WC_DEADLINE_EXCEEDED},
    {0x8037010Au, "HCS_E_CONNECTION_CLOSED",
     "The connection with the virtual machine or container was closed", WC_UNAVAILABLE},
    {0x8037010Bu, "HCS_E_UNKNOWN_MESSAGE",
     "An unknown internal message was received by the virtual machine or container",
     WC_UNIMPLEMENTED},
    {0x8037010Cu, "HCS_E_UNSUPPORTED_PROTOCOL_VERSION",
     "The virtual machine or container does not support an available version of the "
     "communication protocol with the host",
     WC_FAILED_PRECONDITION},
    {0x8037010Du, "HCS_E_INVALID_JSON", "The virtual machine or container JSON document is invalid",
     WC_INVALID_ARGUMENT},
    {0x8037010Eu, "HCS_E_SYSTEM_NOT_FOUND",
     "A virtual machine or container with the specified identifier does not exist", WC_NOT_FOUND},
    {0x8037010Fu, "HCS_E_SYSTEM_ALREADY_EXISTS",
     "A virtual machine or container with the specified identifier already exists",
     WC_ALREADY_EXISTS},
    {0x80370110u, "HCS_E_SYSTEM_ALREADY_STOPPED",
     "The virtual machine or container with the specified identifier is not running",
     WC_FAILED_PRECONDITION},
    {0x80370111u, "HCS_E_PROTOCOL_ERROR",
     "A communication protocol error has occurred between the virtual machine or container and "
     "the host",
     WC_INTERNAL},
    {0x80370112u, "HCS_E_INVALID_LAYER",
     "The container image contains a layer with an unrecognized format", WC_INVALID_ARGUMENT},
    {0x80370113u, "HCS_E_WINDOWS_INSIDER_REQUIRED",
     "To use this container image, you must join the Windows Insider Program",
     WC_FAILED_PRECONDITION},
    {0x80370114u, "HCS_E_SERVICE_NOT_AVAILABLE",
     "The operation could not be started because a required feature is not installed",
     WC_FAILED_PRECONDITION},
    {0x80370115u, "HCS_E_OPERATION_NOT_STARTED", "The operation has not started", WC_INTERNAL},
    {0x80370116u, "HCS_E_OPERATION_ALREADY_STARTED", "The operation is already running",
     WC_INTERNAL},
    {0x80370117u, "HCS_E_OPERATION_PENDING", "The operation is still running", WC_INTERNAL},
    {0x80370118u, "HCS_E_OPERATION_TIMEOUT", "The operation did not complete in time",
     WC_DEADLINE_EXCEEDED},
    {0x80370119u, "HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET",
     "An event callback has already been registered on this handle", WC_INTERNAL},
    {0x8037011Au, "HCS_E_OPERATION_RESULT_ALLOCATION_FAILED",
     "Not enough memory available to return the result of the operation", WC_RESOURCE_EXHAUSTED},
    {0x8037011Bu, "HCS_E_ACCESS_DENIED",
     "Insufficient privileges. Only administrators or users that are members of the Hyper-V "
     "Administrators user group are permitted to access virtual machines or containers",
     WC_PERMISSION_DENIED},
    {0x8037011Cu, "HCS_E_GUEST_CRITICAL_ERROR",
     "The virtual machine or container reported a critical error and was stopped or restarted",
     WC_INTERNAL},
    {0x8037011Du, "HCS_E_PROCESS_INFO_NOT_AVAILABLE", "The process information is not available",
     WC_UNAVAILABLE},
    {0x8037011Eu, "HCS_E_SERVICE_DISCONNECT",
     "The host compute system service has disconnected unexpectedly", WC_UNAVAILABLE},
    {0x8037011Fu, "HCS_E_PROCESS_ALREADY_STOPPED", "The process has already exited",
     WC_FAILED_PRECONDITION},
};

/* The legacy names, by offset in the 0xC0370100 range. */
static const char *const legacy_names[] = {
    "ERROR_VMCOMPUTE_TERMINATED_DURING_START",
    "ERROR_VMCOMPUTE_IMAGE_MISMATCH",
    "ERROR_VMCOMPUTE_HYPERV_NOT_INSTALLED",
    "ERROR_VMCOMPUTE_OPERATION_PENDING",
    "ERROR_VMCOMPUTE_TOO_MANY_NOTIFICATIONS",
    "ERROR_VMCOMPUTE_INVALID_STATE",
    "ERROR_VMCOMPUTE_UNEXPECTED_EXIT",
    "ERROR_VMCOMPUTE_TERMINATED",
    "ERROR_VMCOMPUTE_CONNECT_FAILED",
    "ERROR_VMCOMPUTE_TIMEOUT",
    "ERROR_VMCOMPUTE_CONNECTION_CLOSED",
    "ERROR_VMCOMPUTE_UNKNOWN_MESSAGE",
    "ERROR_VMCOMPUTE_UNSUPPORTED_PROTOCOL_VERSION",
    "ERROR_VMCOMPUTE_INVALID_JSON",
    "ERROR_VMCOMPUTE_SYSTEM_NOT_FOUND",
    "ERROR_VMCOMPUTE_SYSTEM_ALREADY_EXISTS",
    "ERROR_VMCOMPUTE_SYSTEM_ALREADY_STOPPED",
    "ERROR_VMCOMPUTE_PROTOCOL_ERROR",
    "ERROR_VMCOMPUTE_INVALID_LAYER",
    "ERROR_VMCOMPUTE_WINDOWS_INSIDER_REQUIRED",
};
#define LEGACY_BASE 0xC0370100u
#define LEGACY_COUNT (sizeof legacy_names / sizeof legacy_names[0])

static const hr_entry generic_table[] = {
    {0x80004001u, "E_NOTIMPL", "Not implemented", WC_UNIMPLEMENTED},
    {0x80004003u, "E_POINTER", "Invalid pointer", WC_INTERNAL},
    {0x80004005u, "E_FAIL", "Unspecified error", WC_INTERNAL},
    {0x8000FFFFu, "E_UNEXPECTED", "Catastrophic failure", WC_INTERNAL},
    {0x80070002u, "ERROR_FILE_NOT_FOUND", "The system cannot find the file specified",
     WC_NOT_FOUND},
    {0x80070003u, "ERROR_PATH_NOT_FOUND", "The system cannot find the path specified",
     WC_NOT_FOUND},
    {0x80070005u, "E_ACCESSDENIED", "Access is denied", WC_PERMISSION_DENIED},
    {0x80070006u, "E_HANDLE", "The handle is invalid", WC_INTERNAL},
    {0x8007000Du, "ERROR_INVALID_DATA", "The data is invalid", WC_INVALID_ARGUMENT},
    {0x8007000Eu, "E_OUTOFMEMORY", "Not enough memory resources are available",
     WC_RESOURCE_EXHAUSTED},
    {0x80070032u, "ERROR_NOT_SUPPORTED", "The request is not supported", WC_UNIMPLEMENTED},
    {0x80070057u, "E_INVALIDARG", "The parameter is incorrect", WC_INVALID_ARGUMENT},
    {0x8007007Eu, "ERROR_MOD_NOT_FOUND", "The specified module could not be found",
     WC_FAILED_PRECONDITION},
    {0x8007007Fu, "ERROR_PROC_NOT_FOUND", "The specified procedure could not be found",
     WC_FAILED_PRECONDITION},
    {0x800700B7u, "ERROR_ALREADY_EXISTS", "Cannot create a file when that file already exists",
     WC_ALREADY_EXISTS},
    {0x80070102u, "WAIT_TIMEOUT", "The wait operation timed out", WC_DEADLINE_EXCEEDED},
    {0x80070490u, "ERROR_NOT_FOUND", "Element not found", WC_NOT_FOUND},
    {0x800704C7u, "ERROR_CANCELLED", "The operation was canceled by the user", WC_CANCELLED},
    {0x800705B4u, "ERROR_TIMEOUT", "This operation returned because the timeout period expired",
     WC_DEADLINE_EXCEEDED},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

hcs_hresult hcs_hresult_normalize(hcs_hresult hr)
{
    uint32_t u = (uint32_t)hr;
    if ((u & 0xFFFFFF00u) == 0xC0370100u)
        return HCS_HR((u & 0x3FFFFFFFu) | 0x80000000u);
    return hr;
}

int hcs_hresult_is(hcs_hresult hr, hcs_hresult code)
{
    return hcs_hresult_normalize(hr) == hcs_hresult_normalize(code);
}

static const hr_entry *find_entry(hcs_hresult hr)
{
    uint32_t u = (uint32_t)hcs_hresult_normalize(hr);
    for (size_t i = 0; i < N_OF(hcs_table); i++)
        if (hcs_table[i].value == u)
            return &hcs_table[i];
    for (size_t i = 0; i < N_OF(generic_table); i++)
        if (generic_table[i].value == u)
            return &generic_table[i];
    return NULL;
}

const char *hcs_hresult_name(hcs_hresult hr)
{
    uint32_t u = (uint32_t)hr;
    if (u >= LEGACY_BASE && u < LEGACY_BASE + LEGACY_COUNT)
        return legacy_names[u - LEGACY_BASE];
    const hr_entry *e = find_entry(hr);
    return e ? e->name : NULL;
}

const char *hcs_hresult_message(hcs_hresult hr)
{
    uint32_t u = (uint32_t)hr;
    if (u == 0xC0370103u || u == 0xC0370117u)
        return "The operation is still running";
    if (u == 0xC0370104u)
        return "Too many notifications are pending on the compute system";
    const hr_entry *e = find_entry(hr);
    return e ? e->message : NULL;
}

wc_code hcs_hresult_code(hcs_hresult hr)
{
    if (hr >= 0)
        return WC_OK;
    const hr_entry *e = find_entry(hr);
    return e ? e->code : WC_INTERNAL;
}

const char *hcs_hresult_describe(hcs_hresult hr, char *buf, unsigned long size)
{
    const char *name = hcs_hresult_name(hr);
    const char *msg = hcs_hresult_message(hr);
    if (name && msg)
        snprintf(buf, size, "%s (0x%08" PRIX32 "): %s", name, (uint32_t)hr, msg);
    else if (name)
        snprintf(buf, size, "%s (0x%08" PRIX32 ")", name, (uint32_t)hr);
    else
        snprintf(buf, size, "HRESULT 0x%08" PRIX32, (uint32_t)hr);
    return buf;
}
