/* HRESULTs of the Host Compute Service and how wincri reports them.
 *
 * HCS returns HRESULTs from every computecore.dll call and puts a signed int32 HRESULT in
 * the `Error` member of its ResultError documents. The HCS_E_* codes (facility 0x037,
 * 0x80370100..0x8037011F) are not in mingw-w64's winerror.h, so they are defined here, once,
 * for the whole project. Older Windows builds report the same conditions with the severity
 * bits 0xC0000000 set (the ERROR_VMCOMPUTE_* forms, 0xC0370100..); hcs_hresult_normalize()
 * folds those onto the HCS_E_* forms so callers compare against one name.
 *
 * Pure code: no Windows headers, builds and is tested on Linux. */
#ifndef WINCRI_HCS_HRESULT_H
#define WINCRI_HCS_HRESULT_H

#include <stdint.h>

#include "common/err.h"

/* An HRESULT as HCS hands it over: a signed 32-bit value. */
typedef int32_t hcs_hresult;

/* Builds an hcs_hresult from its unsigned hexadecimal spelling. */
#define HCS_HR(u) ((hcs_hresult)(uint32_t)(u))

#define HCS_S_OK HCS_HR(0x00000000u)

#define HCS_E_TERMINATED_DURING_START HCS_HR(0x80370100u)
#define HCS_E_IMAGE_MISMATCH HCS_HR(0x80370101u)
#define HCS_E_HYPERV_NOT_INSTALLED HCS_HR(0x80370102u)
#define HCS_E_INVALID_STATE HCS_HR(0x80370105u)
#define HCS_E_UNEXPECTED_EXIT HCS_HR(0x80370106u)
#define HCS_E_TERMINATED HCS_HR(0x80370107u)
#define HCS_E_CONNECT_FAILED HCS_HR(0x80370108u)
#define HCS_E_CONNECTION_TIMEOUT HCS_HR(0x80370109u)
#define HCS_E_CONNECTION_CLOSED HCS_HR(0x8037010Au)
#define HCS_E_UNKNOWN_MESSAGE HCS_HR(0x8037010Bu)
#define HCS_E_UNSUPPORTED_PROTOCOL_VERSION HCS_HR(0x8037010Cu)
#define HCS_E_INVALID_JSON HCS_HR(0x8037010Du)
#define HCS_E_SYSTEM_NOT_FOUND HCS_HR(0x8037010Eu)
#define HCS_E_SYSTEM_ALREADY_EXISTS HCS_HR(0x8037010Fu)
#define HCS_E_SYSTEM_ALREADY_STOPPED HCS_HR(0x80370110u)
#define HCS_E_PROTOCOL_ERROR HCS_HR(0x80370111u)
#define HCS_E_INVALID_LAYER HCS_HR(0x80370112u)
#define HCS_E_WINDOWS_INSIDER_REQUIRED HCS_HR(0x80370113u)
#define HCS_E_SERVICE_NOT_AVAILABLE HCS_HR(0x80370114u)
#define HCS_E_OPERATION_NOT_STARTED HCS_HR(0x80370115u)
#define HCS_E_OPERATION_ALREADY_STARTED HCS_HR(0x80370116u)
#define HCS_E_OPERATION_PENDING HCS_HR(0x80370117u)
#define HCS_E_OPERATION_TIMEOUT HCS_HR(0x80370118u)
#define HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET HCS_HR(0x80370119u)
#define HCS_E_OPERATION_RESULT_ALLOCATION_FAILED HCS_HR(0x8037011Au)
#define HCS_E_ACCESS_DENIED HCS_HR(0x8037011Bu)
#define HCS_E_GUEST_CRITICAL_ERROR HCS_HR(0x8037011Cu)
#define HCS_E_PROCESS_INFO_NOT_AVAILABLE HCS_HR(0x8037011Du)
#define HCS_E_SERVICE_DISCONNECT HCS_HR(0x8037011Eu)
#define HCS_E_PROCESS_ALREADY_STOPPED HCS_HR(0x8037011Fu)

/* Legacy (pre-RS5 vmcompute) forms. 0x103 and 0x104 have no HCS_E_* twin. */
#define HCS_LEGACY_ERROR_VMCOMPUTE_OPERATION_PENDING HCS_HR(0xC0370103u)
#define HCS_LEGACY_ERROR_VMCOMPUTE_TOO_MANY_NOTIFICATIONS HCS_HR(0xC0370104u)
#define HCS_LEGACY_ERROR_VMCOMPUTE_SYSTEM_NOT_FOUND HCS_HR(0xC037010Eu)
#define HCS_LEGACY_ERROR_VMCOMPUTE_ALREADY_STOPPED HCS_HR(0xC0370110u)

/* A few generic HRESULTs the client itself checks for. */
#define HCS_E_WIN32_FILE_NOT_FOUND HCS_HR(0x80070002u)
#define HCS_E_WIN32_MOD_NOT_FOUND HCS_HR(0x8007007Eu)
#define HCS_E_WIN32_PROC_NOT_FOUND HCS_HR(0x8007007Fu)
#define HCS_E_WIN32_NOT_FOUND HCS_HR(0x80070490u)
#define HCS_E_WIN32_TIMEOUT HCS_HR(0x800705B4u)

/* Maps a legacy 0xC037xxxx form to its 0x8037xxxx HCS_E_* twin; other values unchanged. */
hcs_hresult hcs_hresult_normalize(hcs_hresult hr);

/* 1 when hr (in either form) is `code`. */
int hcs_hresult_is(hcs_hresult hr, hcs_hresult code);

/* Symbolic name ("HCS_E_SYSTEM_NOT_FOUND", "ERROR_VMCOMPUTE_INVALID_STATE", "E_ACCESSDENIED"),
 * or NULL when the value is not one the project knows. Static storage. */
const char *hcs_hresult_name(hcs_hresult hr);

/* Microsoft's one-line description of the code, or NULL when unknown. Static storage. */
const char *hcs_hresult_message(hcs_hresult hr);

/* The gRPC status a CRI caller should see for this HRESULT (WC_INTERNAL when unknown). */
wc_code hcs_hresult_code(hcs_hresult hr);

/* Formats "NAME (0x8037010E): message" (or "HRESULT 0x........" when unknown) into buf. */
const char *hcs_hresult_describe(hcs_hresult hr, char *buf, unsigned long size);

/* The useful parts of an HCS ResultError document. */
typedef struct hcs_result {
    hcs_hresult error; /* `Error`; 0 when the document had none */
    char message[512]; /* `ErrorMessage` ("" when absent) */
    char events[512];  /* `ErrorEvents[].Message` joined with "; " ("" when none) */
} hcs_result;

/* Parses a ResultError document. `json` may be NULL or empty (→ zeroed result, returns 0).
 * `Error` is accepted as a signed int32 or as its unsigned 32-bit spelling. Returns -1 with
 * WC_INTERNAL when the text is not a JSON object or `Error` is out of range. */
int hcs_result_parse(const char *json, hcs_result *out, wc_err *err);

/* Fills err for a failed HCS call: code from the HRESULT, err->sys = the HRESULT, message
 * "<what>: NAME (0x...): <HCS message>[: <ErrorMessage>][ [<events>]]". `result_json` is the
 * call's result document (may be NULL); its `Error`, when set, wins over `call_hr`.
 * Returns -1. */
int hcs_err_from_result(wc_err *err, hcs_hresult call_hr, const char *result_json,
                        const char *what_fmt, ...) WC_PRINTF(4, 5);

#endif
