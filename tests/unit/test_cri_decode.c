/* cri_request_decode: the server's decode of request bytes, by method path. */
#include "tests/unit/testutil.h"

#include <string.h>

#include "api.pb-c.h"
#include "cri/server.h"

#define RUN_POD "/runtime.v1.RuntimeService/RunPodSandbox"

static void decodes_by_method_path(void **state)
{
    /* config { metadata { name: "a" } } */
    const uint8_t ok[] = {0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 'a'};
    wc_err err = {0};
    ProtobufCMessage *m = cri_request_decode(RUN_POD, ok, sizeof ok, &err);
    assert_non_null(m);
    assert_ptr_equal(m->descriptor, &runtime__v1__run_pod_sandbox_request__descriptor);
    const Runtime__V1__RunPodSandboxRequest *r = (const Runtime__V1__RunPodSandboxRequest *)m;
    assert_string_equal(r->config->metadata->name, "a");
    protobuf_c_message_free_unpacked(m, NULL);

    m = cri_request_decode("/runtime.v1.ImageService/ImageFsInfo", NULL, 0, &err);
    assert_non_null(m);
    protobuf_c_message_free_unpacked(m, NULL);

    assert_null(cri_request_decode("/runtime.v1.RuntimeService/Nope", ok, sizeof ok, &err));
    assert_int_equal(err.code, WC_UNIMPLEMENTED);
    assert_null(cri_request_decode("/runtime.v1.RuntimeServiceX/Version", NULL, 0, &err));
    assert_int_equal(err.code, WC_UNIMPLEMENTED);
    const uint8_t truncated[] = {0x0a, 0x09, 0x0a};
    assert_null(cri_request_decode(RUN_POD, truncated, sizeof truncated, &err));
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
}

/* Found by fuzzing: protobuf-c takes field number 0 when its tag is written in two bytes but
 * not once re-encoded in one, so the pod model's copy of such a config was NULL (and
 * RunPodSandbox crashed on it). */
static void field_number_zero_is_malformed(void **state)
{
    /* config { metadata { name: "a" }, <field 0, varint, tag 0x80 0x00> 5 } */
    const uint8_t bad[] = {0x0a, 0x08, 0x0a, 0x03, 0x0a, 0x01, 'a', 0x80, 0x00, 0x05};
    wc_err err = {0};
    assert_null(cri_request_decode(RUN_POD, bad, sizeof bad, &err));
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "malformed request"));
}

/* Found by fuzzing: strings that are not UTF-8 reached the OCI spec builders, where Jansson
 * cannot hold them: the Windows spec failed as "out of memory" and the Linux one dropped the
 * field. They are refused at decode, naming the field. */
static void strings_must_be_utf8(void **state)
{
    /* config { metadata { name: "a" }, labels { key: "k", value: "\xff" } } */
    const uint8_t bad[] = {0x0a, 0x0e, 0x0a, 0x03, 0x0a, 0x01, 'a',  0x32,
                           0x07, 0x0a, 0x01, 'k',  0x12, 0x02, 0xc3, 0xff};
    wc_err err = {0};
    assert_null(cri_request_decode(RUN_POD, bad, sizeof bad, &err));
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "config.labels.value: is not valid UTF-8"));
    /* An overlong form and a surrogate are not UTF-8 either; real text is. */
    const uint8_t overlong[] = {0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xc0, 0xaf};
    assert_null(cri_request_decode(RUN_POD, overlong, sizeof overlong, &err));
    assert_non_null(strstr(err.msg, "config.metadata.name: is not valid UTF-8"));
    const uint8_t surrogate[] = {0x0a, 0x07, 0x0a, 0x05, 0x0a, 0x03, 0xed, 0xa0, 0x80};
    assert_null(cri_request_decode(RUN_POD, surrogate, sizeof surrogate, &err));
    const uint8_t text[] = {0x0a, 0x0b, 0x0a, 0x09, 0x0a, 0x07, 0xc3,
                            0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f};
    const uint8_t emoji[] = {0x0a, 0x0d, 0x0a, 0x0b, 0x0a, 0x09, 0xc3, 0xa9,
                             0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80};
    assert_null(cri_request_decode(RUN_POD, text, sizeof text, &err)); /* cut short */
    ProtobufCMessage *m = cri_request_decode(RUN_POD, emoji, sizeof emoji, &err);
    assert_non_null(m);
    protobuf_c_message_free_unpacked(m, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_by_method_path),
        cmocka_unit_test(field_number_zero_is_malformed),
        cmocka_unit_test(strings_must_be_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
