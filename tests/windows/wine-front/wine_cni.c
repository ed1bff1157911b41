/* Runs under wine: hns/cni_exec_win32.c starts a CNI plugin ("<type>.exe" from a bin dir)
 * with its CNI_* environment and stdin, collects stdout, stderr and the exit code, refuses a
 * missing plugin, and enforces the deadline. argv[1] is the bin dir holding fake.exe and
 * slow.exe (tests/windows/wine-front/fake_cni.c). Ends with "N passed, N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "hns/cni_int.h"

static int passed, failed;

static void check(const char *name, int ok, const char *detail)
{
    if (ok)
        passed++;
    else
        failed++;
    printf("%s - %s%s%s\n", ok ? "ok" : "not ok", name, ok || !detail ? "" : ": ",
           ok || !detail ? "" : detail);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: wine_cni BIN_DIR\n0 passed, 1 failed\n");
        return 1;
    }
    SetEnvironmentVariableA("CNI_STALE", "from-the-daemon"); /* must not reach the plugin */
    const char *dirs[] = {"C:\\nonexistent", argv[1]};
    const char *env[] = {"CNI_COMMAND=ADD", "CNI_NETNS=5F0B1190-63BE-4E0C-B974-BD0F55675A42", NULL};
    hns_cni_exec_req rq = {.plugin = "fake",
                           .bin_dirs = dirs,
                           .n_bin_dirs = 2,
                           .env = env,
                           .stdin_json = "{\"cniVersion\":\"1.0.0\",\"name\":\"pods\"}",
                           .timeout_ms = 20000};
    char *out = NULL, *errt = NULL;
    int code = -1;
    wc_err err = {0};
    int rc = hns_cni_exec(&rq, &out, &errt, &code, &err);
    printf("  # out=%s  err=%s code=%d %s\n", out ? out : "", errt ? errt : "", code, err.msg);
    check("plugin runs", rc == 0, err.msg);
    check("CNI_COMMAND reaches it", out && strstr(out, "\"cmd\":\"ADD\""), out);
    check("CNI_NETNS is the namespace GUID",
          out && strstr(out, "5F0B1190-63BE-4E0C-B974-BD0F55675A42"), out);
    char want[32];
    snprintf(want, sizeof want, "\"stdin\":%u", (unsigned)strlen(rq.stdin_json));
    check("its stdin is the whole config", out && strstr(out, want), out);
    check("CNI_PATH is set", out && strstr(out, "\"path_set\":1"), out);
    check("the daemon's own CNI_* are not passed", out && strstr(out, "\"stale\":0"), out);
    check("stderr collected", errt && strstr(errt, "fake plugin ran"), errt);
    check("exit code reported", code == 3, NULL);
    free(out);
    free(errt);

    rq.plugin = "missing";
    memset(&err, 0, sizeof err);
    rc = hns_cni_exec(&rq, &out, &errt, &code, &err);
    printf("  # %s\n", err.msg);
    check("a missing plugin is FAILED_PRECONDITION naming it",
          rc == -1 && err.code == WC_FAILED_PRECONDITION && strstr(err.msg, "missing.exe"),
          err.msg);

    rq.plugin = "slow";
    rq.timeout_ms = 500;
    memset(&err, 0, sizeof err);
    DWORD t0 = GetTickCount();
    rc = hns_cni_exec(&rq, &out, &errt, &code, &err);
    DWORD took = GetTickCount() - t0;
    printf("  # %s (%lu ms)\n", err.msg, (unsigned long)took);
    check("a plugin past its deadline is killed",
          rc == -1 && err.code == WC_DEADLINE_EXCEEDED && took < 10000, err.msg);

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
