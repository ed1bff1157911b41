/* Windows-only parts of hcs/ that need no Host Compute Service, run under wine:
 * the computecore.dll loader's report when the DLL is missing, HRESULT names and messages,
 * argv quoting read back by CommandLineToArgvW, UTF-8 ↔ UTF-16 of documents, and path joins
 * checked against PathCchCombineEx. Prints one line per check and a final
 * "N passed, N failed"; exits non-zero when anything failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include <pathcch.h>
#include <shellapi.h>

#include "common/err.h"
#include "common/wstr_win32.h"
#include "hcs/hcs_win32_api.h"
#include "hcs/hresult.h"
#include "hcs/winstr.h"

static int passed, failed;

static void check(int ok, const char *name, const char *detail)
{
    if (ok) {
        passed++;
        printf("PASS %s\n", name);
    } else {
        failed++;
        printf("FAIL %s: %s\n", name, detail ? detail : "");
    }
}

static void loader_reports_missing_dll(void)
{
    wc_err err = {0};
    int rc = hcs_api_load(&err);
    check(rc == -1, "loader: computecore.dll is missing under wine", "hcs_api_load succeeded");
    check(err.code == WC_FAILED_PRECONDITION, "loader: FailedPrecondition", err.msg);
    check(strstr(err.msg, "computecore.dll") && strstr(err.msg, "'Containers' feature"),
          "loader: message names the DLL and the feature to enable", err.msg);
    check(err.sys == (long)HRESULT_FROM_WIN32(ERROR_MOD_NOT_FOUND),
          "loader: HRESULT_FROM_WIN32(ERROR_MOD_NOT_FOUND) recorded", err.msg);
    wc_err again = {0};
    check(hcs_api_load(&again) == -1 && strcmp(again.msg, err.msg) == 0,
          "loader: second call gives the same answer", again.msg);
    printf("     (loader said: %s)\n", err.msg);
}

static void hresult_mapping(void)
{
    char buf[512];
    check(strcmp(hcs_hresult_describe(HCS_E_SYSTEM_NOT_FOUND, buf, sizeof buf),
                 "HCS_E_SYSTEM_NOT_FOUND (0x8037010E): A virtual machine or container with the "
                 "specified identifier does not exist") == 0,
          "hresult: HCS_E_SYSTEM_NOT_FOUND described", buf);
    check(hcs_hresult_code(HCS_HR(0xC0370110u)) == WC_FAILED_PRECONDITION &&
              strcmp(hcs_hresult_name(HCS_HR(0xC0370110u)),
                     "ERROR_VMCOMPUTE_SYSTEM_ALREADY_STOPPED") == 0,
          "hresult: legacy 0xC0370110 named and mapped", hcs_hresult_name(HCS_HR(0xC0370110u)));
    /* Our table and the system's own text agree that these are real codes. */
    HRESULT codes[] = {E_ACCESSDENIED, E_INVALIDARG, HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        wchar_t sys[256] = L"";
        DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                                 (DWORD)codes[i], 0, sys, 256, NULL);
        snprintf(buf, sizeof buf, "0x%08lX: ours=%s system_len=%lu", (unsigned long)codes[i],
                 hcs_hresult_message(codes[i]) ? hcs_hresult_message(codes[i]) : "(none)",
                 (unsigned long)n);
        check(n > 0 && hcs_hresult_message(codes[i]) != NULL,
              "hresult: generic code known to us and to FormatMessageW", buf);
    }
    check(HCS_E_ACCESS_DENIED == (hcs_hresult)0x8037011B && SUCCEEDED(HCS_S_OK) &&
              FAILED(HCS_E_PROCESS_ALREADY_STOPPED),
          "hresult: HCS_E_* are failure HRESULTs for the Windows macros", NULL);
}

/* Builds "prog.exe <quoted args>" and reads it back with CommandLineToArgvW. */
static void argv_round_trip(void)
{
    const char *args[] = {
        "plain",
        "",
        "two words",
        "C:\\Program Files\\",
        "a\"b",
        "x\\\"y",
        "trailing\\\\",
        "q \\\\\"",
        "\\\\server\\share\\",
        "tab\tin",
        "\"\"",
        "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac",
        "echo \"hello world\" & dir C:\\Program Files\\",
    };
    size_t n = sizeof args / sizeof args[0];
    const char *argv[32];
    argv[0] = "prog.exe";
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = args[i];
    char *line = hcs_argv_join(argv, n + 1);
    wc_err err = {0};
    wchar_t *wline = line ? wc_utf8_to_utf16(line, &err) : NULL;
    int wargc = 0;
    wchar_t **wargv = wline ? CommandLineToArgvW(wline, &wargc) : NULL;
    char detail[512];
    snprintf(detail, sizeof detail, "argc %d for %s", wargc, line ? line : "(null)");
    check(wargv && (size_t)wargc == n + 1, "argv: CommandLineToArgvW counts every argument",
          detail);
    for (size_t i = 0; wargv && i < n && (int)i + 1 < wargc; i++) {
        char *back = wc_utf16_to_utf8(wargv[i + 1], &err);
        snprintf(detail, sizeof detail, "[%s] came back as [%s]", args[i], back ? back : "(null)");
        char name[64];
        snprintf(name, sizeof name, "argv: round trip #%u", (unsigned)i);
        check(back && strcmp(back, args[i]) == 0, name, detail);
        free(back);
    }
    LocalFree(wargv);
    free(wline);
    free(line);
}

static void utf_documents(void)
{
    const char *doc = "{\"Owner\":\"wincri\",\"Container\":{\"GuestOs\":{\"HostName\":"
                      "\"h\xc3\xb8st-\xe5\x90\x8d\xe5\x89\x8d\"},\"Storage\":{\"Path\":"
                      "\"\\\\\\\\?\\\\Volume{5f0e6a1c-2b3d-4c5e-8f9a-0b1c2d3e4f5a}\\\\\"}},"
                      "\"Emoji\":\"\xf0\x9f\x98\x80\"}";
    wc_err err = {0};
    wchar_t *w = wc_utf8_to_utf16(doc, &err);
    char *back = w ? wc_utf16_to_utf8(w, &err) : NULL;
    check(back && strcmp(back, doc) == 0, "utf: a document survives UTF-8 -> UTF-16 -> UTF-8",
          err.msg);
    /* U+00F8 and U+540D are one UTF-16 unit each; U+1F600 is a surrogate pair. */
    wchar_t *h = wc_utf8_to_utf16("\xc3\xb8\xe5\x90\x8d\xf0\x9f\x98\x80", &err);
    check(h && wcslen(h) == 4 && h[0] == 0x00F8 && h[1] == 0x540D && h[2] == 0xD83D &&
              h[3] == 0xDE00,
          "utf: code points become the right UTF-16 units", NULL);
    free(h);
    wc_err bad = {0};
    check(wc_utf8_to_utf16("bad \xc3\x28 byte", &bad) == NULL && bad.code == WC_INVALID_ARGUMENT,
          "utf: invalid UTF-8 is refused", bad.msg);
    wchar_t lone[] = {L'a', 0xD800, L'b', 0};
    wc_err bad2 = {0};
    char *l = wc_utf16_to_utf8(lone, &bad2);
    check(l == NULL && bad2.code == WC_INVALID_ARGUMENT, "utf: a lone surrogate is refused",
          l ? l : bad2.msg);
    free(l);
    free(back);
    free(w);
}

/* What the callers that word their own message rely on (common/wstr_win32.h is the one
 * conversion of hcs/, hns/, image/, cri/ and podsandbox/): no error object, NULL, "". */
static void utf_without_an_error_object(void)
{
    check(wc_utf8_to_utf16(NULL, NULL) == NULL && wc_utf16_to_utf8(NULL, NULL) == NULL,
          "utf: NULL is refused, with no error object to fill", NULL);
    check(wc_utf8_to_utf16("bad \xc3\x28 byte", NULL) == NULL,
          "utf: invalid UTF-8 is refused, with no error object to fill", NULL);
    wc_err err = {0};
    wc_utf8_to_utf16(NULL, &err);
    check(err.code == WC_INVALID_ARGUMENT, "utf: NULL is INVALID_ARGUMENT", err.msg);
    wchar_t *e = wc_utf8_to_utf16("", NULL);
    char *back = e ? wc_utf16_to_utf8(e, NULL) : NULL;
    check(e && e[0] == 0 && back && back[0] == 0, "utf: the empty string converts both ways",
          NULL);
    free(back);
    free(e);
}

/* Our join and the system's PathCchCombineEx agree where their rules coincide. */
static void path_joins(void)
{
    /* sys_want differs where PathCchCombineEx drops a \\?\ prefix the result does not need;
     * wincri keeps such prefixes verbatim. */
    struct {
        const char *base, *rel, *want, *sys_want;
    } cases[] = {
        {"C:\\ProgramData\\wincri", "layers\\abc", "C:\\ProgramData\\wincri\\layers\\abc", NULL},
        {"C:\\ProgramData\\wincri\\", "layers", "C:\\ProgramData\\wincri\\layers", NULL},
        {"C:\\", "Windows", "C:\\Windows", NULL},
        {"C:\\data\\sub", "\\rooted", "C:\\rooted", NULL},
        {"C:\\data", "D:\\other", "D:\\other", NULL},
        {"\\\\?\\C:\\data", "x", "\\\\?\\C:\\data\\x", "C:\\data\\x"},
        {"\\\\server\\share", "dir", "\\\\server\\share\\dir", NULL},
    };
    wc_err err = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *ours = hcs_path_join(cases[i].base, cases[i].rel);
        wchar_t *wb = wc_utf8_to_utf16(cases[i].base, &err);
        wchar_t *wr = wc_utf8_to_utf16(cases[i].rel, &err);
        wchar_t out[MAX_PATH * 2] = L"";
        HRESULT hr = PathCchCombineEx(out, MAX_PATH * 2, wb, wr, PATHCCH_ALLOW_LONG_PATHS);
        char *sys = SUCCEEDED(hr) ? wc_utf16_to_utf8(out, &err) : NULL;
        char detail[600], name[64];
        snprintf(detail, sizeof detail, "join(%s, %s): ours=%s system=%s (hr 0x%08lX) want=%s",
                 cases[i].base, cases[i].rel, ours ? ours : "(null)", sys ? sys : "(null)",
                 (unsigned long)hr, cases[i].want);
        snprintf(name, sizeof name, "path: join #%u matches PathCchCombineEx", (unsigned)i);
        check(ours && sys && strcmp(ours, cases[i].want) == 0 &&
                  strcmp(sys, cases[i].sys_want ? cases[i].sys_want : cases[i].want) == 0,
              name, detail);
        free(ours);
        free(sys);
        free(wb);
        free(wr);
    }
    char *lp = hcs_path_long("\\\\server\\share\\x");
    check(lp && strcmp(lp, "\\\\?\\UNC\\server\\share\\x") == 0, "path: UNC long form", lp);
    free(lp);
    lp = hcs_path_long("C:/a/b");
    check(lp && strcmp(lp, "\\\\?\\C:\\a\\b") == 0, "path: drive long form", lp);
    free(lp);
}

int main(void)
{
    loader_reports_missing_dll();
    hresult_mapping();
    argv_round_trip();
    utf_documents();
    utf_without_an_error_object();
    path_joins();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
