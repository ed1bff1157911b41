/* layerchain.json contents, WC_LAYER_DESCRIPTOR building and scratch sizing (image/wclayer.c).
 * hcsshim: internal/wclayer/layerutils.go layerPathsToDescriptors (one descriptor per parent,
 * same order, Flags 0), layerid.go LayerID (NameToGuid of the folder's base name);
 * layerchain.json lists parents immediate-parent first. */
#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "image/wclayer.h"

static void chain_json_immediate_parent_first(void **state)
{
    /* Manifest order is base first; layerchain.json wants the reverse. */
    const char *layers[] = {"C:\\wincri\\layers\\base", "C:\\wincri\\layers\\mid",
                            "C:\\wincri\\layers\\top"};
    img_wcl_reverse(layers, 3);
    wc_err err = {0};
    char *s = img_wcl_layerchain_json(layers, 3, &err);
    assert_string_equal(s, "[\"C:\\\\wincri\\\\layers\\\\top\",\"C:\\\\wincri\\\\layers\\\\mid\","
                           "\"C:\\\\wincri\\\\layers\\\\base\"]");
    char **back;
    size_t n;
    assert_int_equal(img_wcl_layerchain_parse(s, &back, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(back[0], "C:\\wincri\\layers\\top");
    assert_string_equal(back[2], "C:\\wincri\\layers\\base");
    img_wcl_paths_free(back, n);
    free(s);
    s = img_wcl_layerchain_json(NULL, 0, &err);
    assert_string_equal(s, "[]");
    free(s);
}

static void chain_parse_edge_cases(void **state)
{
    char **p;
    size_t n;
    wc_err err = {0};
    assert_int_equal(img_wcl_layerchain_parse("", &p, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(img_wcl_layerchain_parse("null", &p, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(img_wcl_layerchain_parse("{\"a\":1}", &p, &n, &err), -1);
    assert_int_equal(err.code, WC_DATA_LOSS);
    assert_int_equal(img_wcl_layerchain_parse("[\"C:\\\\x\", 3]", &p, &n, &err), -1);
    assert_string_equal(err.msg, "layerchain.json entry 1 is not a path");
    const char *bad[] = {"C:\\x", ""};
    assert_null(img_wcl_layerchain_json(bad, 2, &err));
}

/* Stand-in for NameToGuid: a fixed GUID whose Data1 is the name's length and whose Data4
 * carries its first bytes, so tests can see which name was hashed. */
static int fake_name_to_guid(void *ctx, const char *name, img_wcl_guid *out, wc_err *err)
{
    int *calls = ctx;
    (*calls)++;
    if (strcmp(name, "broken") == 0)
        return wc_err_set(err, WC_INTERNAL, "NameToGuid failed: HRESULT 0x80070057");
    memset(out, 0, sizeof *out);
    out->data1 = (uint32_t)strlen(name);
    memcpy(out->data4, name, strlen(name) < 8 ? strlen(name) : 8);
    return 0;
}

static void descriptors_from_folder_names(void **state)
{
    const char *parents[] = {"C:\\ProgramData\\wincri\\layers\\sha256-abc\\",
                             "C:/ProgramData/wincri/layers/base"};
    img_wcl_desc *d;
    int calls = 0;
    wc_err err = {0};
    assert_int_equal(img_wcl_descriptors(parents, 2, fake_name_to_guid, &calls, &d, &err), 0);
    assert_int_equal(calls, 2);
    assert_int_equal(d[0].layer_id.data1, strlen("sha256-abc"));
    assert_memory_equal(d[0].layer_id.data4, "sha256-a", 8);
    assert_int_equal(d[0].flags, 0);
    assert_ptr_equal(d[0].path, parents[0]);
    assert_int_equal(d[1].layer_id.data1, 4);
    assert_memory_equal(d[1].layer_id.data4, "base", 4);
    free(d);

    const char *bad[] = {"C:\\layers\\broken"};
    assert_int_equal(img_wcl_descriptors(bad, 1, fake_name_to_guid, &calls, &d, &err), -1);
    assert_string_equal(err.msg, "layer id of \"C:\\layers\\broken\": NameToGuid failed: HRESULT "
                                 "0x80070057");
    const char *noname[] = {"C:\\"};
    assert_int_equal(img_wcl_descriptors(noname, 1, fake_name_to_guid, &calls, &d, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
}

static void layer_names(void **state)
{
    char b[64];
    assert_string_equal(img_wcl_layer_name("C:\\a\\b\\c", b, sizeof b), "c");
    assert_string_equal(img_wcl_layer_name("c\\\\", b, sizeof b), "c");
    assert_null(img_wcl_layer_name("C:", b, sizeof b));
    assert_null(img_wcl_layer_name("", b, sizeof b));
    assert_null(img_wcl_layer_name("C:\\0123456789", b, 5));
}

static void scratch_sizes_and_paths(void **state)
{
    assert_true(img_wcl_scratch_bytes(0) == 20ULL << 30);
    assert_true(img_wcl_scratch_bytes(1ULL << 30) == 20ULL << 30);
    assert_true(img_wcl_scratch_bytes(50ULL << 30) == 50ULL << 30);
    char *p = img_wcl_join("C:\\layers\\base", "blank.vhdx");
    assert_string_equal(p, "C:\\layers\\base\\blank.vhdx");
    free(p);
    p = img_wcl_join("C:\\layers\\base\\", "UtilityVM\\SystemTemplate.vhdx");
    assert_string_equal(p, "C:\\layers\\base\\UtilityVM\\SystemTemplate.vhdx");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain_json_immediate_parent_first),
        cmocka_unit_test(chain_parse_edge_cases),
        cmocka_unit_test(descriptors_from_folder_names),
        cmocka_unit_test(layer_names),
        cmocka_unit_test(scratch_sizes_and_paths),
    };
    return cmocka_run_group_tests_name("wclayer_chain", tests, NULL, NULL);
}
