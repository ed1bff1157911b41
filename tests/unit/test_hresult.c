/* HRESULT names, gRPC codes and ResultError parsing (hcs/hresult.h).
 * Values and names: Microsoft's HCS error code reference and winerror.h, as hcsshim mirrors
 * them in internal/hcs/errors.go and computecore's HCS_E_* constants. */
#include "tests/unit/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcs/hresult.h"

static char *read_golden(const char *name)
{
    const char *dir = getenv("WINCRI_GOLDEN_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/windows/golden", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void codes_and_names(void **state)
{
    assert_int_equal((uint32_t)HCS_E_SYSTEM_NOT_FOUND, 0x8037010Eu);
    assert_int_equal((uint32_t)HCS_E_PROCESS_ALREADY_STOPPED, 0x8037011Fu);
    assert_string_equal(hcs_hresult_name(HCS_E_TERMINATED_DURING_START),
                        "HCS_E_TERMINATED_DURING_START");
    assert_string_equal(hcs_hresult_name(HCS_HR(0xC037010Eu)), "ERROR_VMCOMPUTE_SYSTEM_NOT_FOUND");
    assert_string_equal(hcs_hresult_name(HCS_HR(0x80070005u)), "E_ACCESSDENIED");
    assert_null(hcs_hresult_name(HCS_HR(0x80001234u)));
    assert_string_equal(hcs_hresult_message(HCS_E_PROCESS_ALREADY_STOPPED),
                        "The process has already exited");
    /* every code of the range 0x80370100..0x8037011F except the two gaps has a name */
    for (uint32_t v = 0x80370100u; v <= 0x8037011Fu; v++) {
        if (v == 0x80370103u || v == 0x80370104u)
            continue;
        const char *n = hcs_hresult_name(HCS_HR(v));
        if (!n || strncmp(n, "HCS_E_", 6) != 0)
            fail_msg("0x%08X has no HCS_E_ name", v);
        assert_non_null(hcs_hresult_message(HCS_HR(v)));
    }
}

static void legacy_forms_normalize(void **state)
{
    assert_int_equal(hcs_hresult_normalize(HCS_HR(0xC0370110u)), HCS_E_SYSTEM_ALREADY_STOPPED);
    assert_true(
        hcs_hresult_is(HCS_LEGACY_ERROR_VMCOMPUTE_SYSTEM_NOT_FOUND, HCS_E_SYSTEM_NOT_FOUND));
    assert_true(
        hcs_hresult_is(HCS_E_SYSTEM_NOT_FOUND, HCS_LEGACY_ERROR_VMCOMPUTE_SYSTEM_NOT_FOUND));
    assert_false(hcs_hresult_is(HCS_E_SYSTEM_NOT_FOUND, HCS_E_INVALID_STATE));
    assert_int_equal(hcs_hresult_normalize(HCS_HR(0x80070002u)), HCS_HR(0x80070002u));
    assert_int_equal(hcs_hresult_code(HCS_HR(0xC037010Eu)), WC_NOT_FOUND);
}

static void grpc_codes(void **state)
{
    assert_int_equal(hcs_hresult_code(HCS_E_SYSTEM_NOT_FOUND), WC_NOT_FOUND);
    assert_int_equal(hcs_hresult_code(HCS_E_SYSTEM_ALREADY_EXISTS), WC_ALREADY_EXISTS);
    assert_int_equal(hcs_hresult_code(HCS_E_INVALID_STATE), WC_FAILED_PRECONDITION);
    assert_int_equal(hcs_hresult_code(HCS_E_INVALID_JSON), WC_INVALID_ARGUMENT);
    assert_int_equal(hcs_hresult_code(HCS_E_ACCESS_DENIED), WC_PERMISSION_DENIED);
    assert_int_equal(hcs_hresult_code(HCS_E_OPERATION_TIMEOUT), WC_DEADLINE_EXCEEDED);
    assert_int_equal(hcs_hresult_code(HCS_E_SERVICE_NOT_AVAILABLE), WC_FAILED_PRECONDITION);
    assert_int_equal(hcs_hresult_code(HCS_HR(0x80001234u)), WC_INTERNAL);
    assert_int_equal(hcs_hresult_code(0), WC_OK);
    char buf[256];
    assert_string_equal(hcs_hresult_describe(HCS_HR(0x80001234u), buf, sizeof buf),
                        "HRESULT 0x80001234");
}

/* Scenario: an HCS failure result.
 * The ResultError document (schema2 ResultError: Error as a signed int32, ErrorMessage,
 * ErrorEvents[].Message) as hcsshim reads it in internal/hcs/errors.go processHcsResult /
 * hcsResult, turned into the project's error with the HCS message and the events. */
static void failure_result(void **state)
{
    char *doc = read_golden("result_error_not_found.json");
    hcs_result r;
    wc_err err = {0};
    assert_int_equal(hcs_result_parse(doc, &r, &err), 0);
    assert_int_equal((uint32_t)r.error, 0x8037010Eu);
    assert_string_equal(r.events, "The system cannot find the file specified.");
    assert_int_equal(
        hcs_err_from_result(&err, HCS_HR(0x80004005u), doc, "start container %s", "c1"), -1);
    assert_int_equal(err.code, WC_NOT_FOUND);
    assert_int_equal((uint32_t)err.sys, 0x8037010Eu);
    assert_non_null(strstr(err.msg, "start container c1: HCS_E_SYSTEM_NOT_FOUND (0x8037010E)"));
    assert_non_null(strstr(err.msg, "[The system cannot find the file specified.]"));
    /* the ErrorMessage repeats the code's own text; it is not printed twice */
    char *first = strstr(err.msg, "does not exist");
    assert_non_null(first);
    assert_null(strstr(first + 1, "does not exist"));
    free(doc);

    doc = read_golden("result_error_invalid_json.json");
    assert_int_equal(hcs_err_from_result(&err, 0, doc, "create"), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "Unknown field 'Bogus'"));
    free(doc);
}

static void result_edge_cases(void **state)
{
    hcs_result r;
    wc_err err = {0};
    assert_int_equal(hcs_result_parse(NULL, &r, &err), 0);
    assert_int_equal(r.error, 0);
    assert_int_equal(hcs_result_parse("{\"Error\": 2151088398}", &r, &err), 0);
    assert_int_equal((uint32_t)r.error, 0x8037010Eu);
    assert_int_equal(hcs_result_parse("{\"Error\": 99999999999}", &r, &err), -1);
    assert_int_equal(hcs_result_parse("{\"Error\": \"x\"}", &r, &err), -1);
    assert_int_equal(hcs_result_parse("[1]", &r, &err), -1);
    /* no document: the call's own HRESULT is reported */
    assert_int_equal(hcs_err_from_result(&err, HCS_E_INVALID_STATE, NULL, "pause %s", "p1"), -1);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    assert_non_null(strstr(err.msg, "pause p1: HCS_E_INVALID_STATE (0x80370105)"));
    /* garbage document: still the call's HRESULT, and a note */
    assert_int_equal(hcs_err_from_result(&err, HCS_E_INVALID_STATE, "<html>", "x"), -1);
    assert_non_null(strstr(err.msg, "unparsable"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codes_and_names),   cmocka_unit_test(legacy_forms_normalize),
        cmocka_unit_test(grpc_codes),        cmocka_unit_test(failure_result),
        cmocka_unit_test(result_edge_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
