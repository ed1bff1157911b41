/* Runs under wine: the vmcompute.dll, computestorage.dll and computenetwork.dll loaders
 * must fail with a clear "not available on this host" error (WC_UNAVAILABLE) when the DLLs
 * are absent, as on a Windows host without the Containers feature; the pure helpers they
 * use must work on Windows too. Prints one line per check and ends with
 * "N passed, N failed". Built by tests/windows/test_wine_net.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hns/hcn.h"
#include "hns/hcnerr.h"
#include "image/wclayer.h"

static int passed, failed;

static void check(const char *name, int ok, const char *detail)
{
    if (ok) {
        passed++;
        printf("ok - %s\n", name);
    } else {
        failed++;
        printf("not ok - %s: %s\n", name, detail ? detail : "");
    }
}

/* A call failed with UNAVAILABLE and a message that names the DLL and the host. */
static void check_unavailable(const char *name, int rc, const wc_err *err, const char *dll)
{
    char want[128];
    snprintf(want, sizeof want, "%s is not available on this host", dll);
    printf("  # %s\n", err->msg);
    check(name, rc == -1 && err->code == WC_UNAVAILABLE && strstr(err->msg, want) != NULL,
          err->msg);
}

int main(void)
{
    wc_err err;
    const char *id = "5F0B1190-63BE-4E0C-B974-BD0F55675A43";
    char *text = NULL;

    memset(&err, 0, sizeof err);
    check_unavailable("hcn loader", hns_hcn_available(&err), &err, "computenetwork.dll");
    memset(&err, 0, sizeof err);
    check_unavailable("hcn namespace create",
                      hns_hcn_namespace_create("{\"Type\":\"HostDefault\"}", id, &err), &err,
                      "computenetwork.dll");
    memset(&err, 0, sizeof err);
    check_unavailable("hcn endpoint delete",
                      hns_hcn_endpoint_delete("5F0B1190-63BE-4E0C-B974-BD0F55675A42", &err), &err,
                      "computenetwork.dll");
    memset(&err, 0, sizeof err);
    check_unavailable("hns endpoint stats",
                      hns_hns_endpoint_stats("5F0B1190-63BE-4E0C-B974-BD0F55675A42", &text, &err),
                      &err, "vmcompute.dll");

    img_wcl_guid g;
    memset(&err, 0, sizeof err);
    check_unavailable("vmcompute NameToGuid", img_wcl_name_to_guid(NULL, "layer", &g, &err), &err,
                      "vmcompute.dll");
    memset(&err, 0, sizeof err);
    char *vol = NULL;
    const char *parents[] = {"C:\\wincri\\layers\\base"};
    check_unavailable("vmcompute mount",
                      img_wcl_mount("C:\\wincri\\scratch\\c1", parents, 1, &vol, &err), &err,
                      "vmcompute.dll");
    memset(&err, 0, sizeof err);
    check_unavailable("vmcompute destroy", img_wcl_destroy("C:\\wincri\\layers\\x", &err), &err,
                      "vmcompute.dll");
    memset(&err, 0, sizeof err);
    check_unavailable("computestorage import", img_wcl_storage_import("C:\\l", "C:\\s", "{}", &err),
                      &err, "computestorage.dll");

    /* Scratch creation fails on the missing blank.vhdx before any DLL is needed. */
    memset(&err, 0, sizeof err);
    int rc = img_wcl_create_scratch("C:\\wincri-wine-scratch", parents, 1, 0, &err);
    printf("  # %s\n", err.msg);
    check("scratch without blank.vhdx is NOT_FOUND",
          rc == -1 && err.code == WC_NOT_FOUND && strstr(err.msg, "blank.vhdx"), err.msg);

    /* Pure helpers the loaders rely on, on the Windows C runtime. */
    hns_guid hg;
    char back[37];
    int gp = hns_guid_parse("{5f0b1190-63be-4e0c-b974-bd0f55675a42}", &hg);
    hns_guid_format(&hg, back);
    check("guid round trip", gp == 0 && strcmp(back, "5F0B1190-63BE-4E0C-B974-BD0F55675A42") == 0,
          back);
    char *chain = img_wcl_layerchain_json(parents, 1, &err);
    check("layerchain.json", chain && strcmp(chain, "[\"C:\\\\wincri\\\\layers\\\\base\"]") == 0,
          chain);
    free(chain);
    memset(&err, 0, sizeof err);
    hns_hcn_err_set(&err, HCN_E_NETWORK_NOT_FOUND, NULL, "opening network");
    check("HCN_E_* text",
          err.code == WC_NOT_FOUND &&
              strstr(err.msg, "HCN_E_NETWORK_NOT_FOUND (0x803B0001)") != NULL,
          err.msg);

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
