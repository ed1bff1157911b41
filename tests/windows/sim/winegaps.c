/* winsim: what wine 8 lacks and wincrid needs, filled in for the test host only.
 *
 * BackupWrite: wine 8's kernel32!BackupWrite is a stub that fails with
 * ERROR_NOT_SUPPORTED, so layer files restored through the backup API (a base layer's
 * Files\, Hives\) could not be written at all. When WINSIM_WINE_BACKUPWRITE=1, loading
 * computecore.dll (which wincrid does at start) points the main executable's import of
 * BackupWrite at the function below. It parses the Win32 backup stream as Windows does
 * (WIN32_STREAM_ID: 32-bit id, 32-bit attributes, 64-bit size, 32-bit name size, the UTF-16
 * name, then the data; go-winio backup.go) and writes BACKUP_DATA to the file. Other streams
 * (security descriptor, EAs, alternate data streams, reparse data) are consumed and counted
 * in WINSIM_GAPS_LOG, not applied: wine has no ADS, and the test host does not model ACLs.
 * The stream's framing is what gets checked.
 *
 * SetVolumeMountPointW, DeleteVolumeMountPointW, and what a HostProcess container needs
 * (LogonUserW and CreateProcessAsUserW, CPU rate control on job objects,
 * CreateSymbolicLinkW): below. */
#include "simclient.h"

#include <sddl.h>
#include <winternl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bw_ctx {
    unsigned char hdr[20 + 2048];
    size_t hdr_have, hdr_need;
    DWORD id;
    unsigned long long left;
    unsigned long streams[11];
} bw_ctx;

static void gaps_log(const bw_ctx *c)
{
    char path[MAX_PATH];
    if (!GetEnvironmentVariableA("WINSIM_GAPS_LOG", path, sizeof path))
        return;
    FILE *f = fopen(path, "ab");
    if (!f)
        return;
    fprintf(f,
            "{\"BackupWrite\":{\"data\":%lu,\"ea\":%lu,\"security\":%lu,\"ads\":%lu,"
            "\"reparse\":%lu}}\n",
            c->streams[1], c->streams[2], c->streams[3], c->streams[4], c->streams[8]);
    fclose(f);
}

static BOOL WINAPI sim_BackupWrite(HANDLE file, LPBYTE buf, DWORD n, LPDWORD written, BOOL abort,
                                   BOOL security, LPVOID *context)
{
    (void)security;
    bw_ctx *c = *context;
    if (abort) {
        if (c) {
            gaps_log(c);
            free(c);
        }
        *context = NULL;
        return TRUE;
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) {
            SetLastError(ERROR_NOT_ENOUGH_MEMORY);
            return FALSE;
        }
        c->hdr_need = 20;
        *context = c;
    }
    DWORD used = 0;
    while (used < n) {
        if (c->left == 0 && c->hdr_need) {
            size_t take = c->hdr_need - c->hdr_have;
            if (take > n - used)
                take = n - used;
            memcpy(c->hdr + c->hdr_have, buf + used, take);
            c->hdr_have += take;
            used += (DWORD)take;
            if (c->hdr_have < c->hdr_need)
                continue;
            if (c->hdr_need == 20) {
                DWORD name_size;
                memcpy(&name_size, c->hdr + 16, 4);
                if (name_size > 2048) {
                    SetLastError(ERROR_INVALID_DATA);
                    return FALSE;
                }
                if (name_size) {
                    c->hdr_need = 20 + name_size;
                    continue;
                }
            }
            memcpy(&c->id, c->hdr, 4);
            memcpy(&c->left, c->hdr + 8, 8);
            if (c->id == 0 || c->id > 10) {
                SetLastError(ERROR_INVALID_DATA);
                return FALSE;
            }
            c->streams[c->id]++;
            c->hdr_have = 0;
            c->hdr_need = c->left ? 0 : 20;
            continue;
        }
        DWORD chunk = (DWORD)((n - used) < c->left ? (n - used) : c->left);
        if (c->id == 1) {
            DWORD w = 0;
            if (!WriteFile(file, buf + used, chunk, &w, NULL) || w != chunk)
                return FALSE;
        }
        used += chunk;
        c->left -= chunk;
        if (c->left == 0)
            c->hdr_need = 20;
    }
    *written = n;
    return TRUE;
}

/* ---- volume mount points ---------------------------------------------------------------
 *
 * SetVolumeMountPointW and DeleteVolumeMountPointW: wine 8's fail with
 * ERROR_CALL_NOT_IMPLEMENTED (and its CreateSymbolicLinkW succeeds without making a link),
 * so a volume cannot be made visible at a folder. A HostProcess container needs exactly that
 * (hcsshim layers.MountSandboxVolume). When WINSIM_WINE_MOUNTPOINTS=1 the executable's
 * imports of both point here, and the winsim host mounts its simulated volume at the folder
 * (host_storage.c says how, and what it checks). */

static BOOL mount_call(const char *op, const WCHAR *mount_point, const WCHAR *volume)
{
    sb b;
    sim_begin(&b, op);
    sim_kv_wstr(&b, "mount_point", mount_point);
    if (volume)
        sim_kv_wstr(&b, "volume", volume);
    sj *reply = sim_send(&b);
    HRESULT hr = sim_hr(reply, HRESULT_FROM_WIN32(ERROR_SERVICE_NOT_ACTIVE));
    sj_free(reply);
    if (SUCCEEDED(hr))
        return TRUE;
    SetLastError(HRESULT_FACILITY(hr) == FACILITY_WIN32 ? HRESULT_CODE(hr) : ERROR_GEN_FAILURE);
    return FALSE;
}

static BOOL WINAPI sim_SetVolumeMountPointW(LPCWSTR mount_point, LPCWSTR volume)
{
    return mount_call("SetVolumeMountPoint", mount_point, volume);
}

static BOOL WINAPI sim_DeleteVolumeMountPointW(LPCWSTR mount_point)
{
    return mount_call("DeleteVolumeMountPoint", mount_point, NULL);
}

/* ---- HostProcess containers -----------------------------------------------------------
 *
 * What wine 8 lacks and a HostProcess container needs (hcsshim internal/jobcontainers): the
 * winsim host (host_gaps.c) keeps the state and says what it checks; here the calls are
 * turned into requests. */

/* Sends the request: the host's HRESULT (S_FALSE: not the double's call, wine answers). */
static HRESULT host_call(sb *b, sj **reply)
{
    *reply = sim_send(b);
    return sim_hr(*reply, HRESULT_FROM_WIN32(ERROR_SERVICE_NOT_ACTIVE));
}

static BOOL fail_with(HRESULT hr)
{
    SetLastError(HRESULT_FACILITY(hr) == FACILITY_WIN32 ? HRESULT_CODE(hr) : ERROR_GEN_FAILURE);
    return FALSE;
}

/* LogonUserW: wine 8's returns a made-up handle that is not a token, and wine has no way to
 * make a token for another user (no NtCreateToken). For the built-in service accounts the
 * host checks the call as Windows does; the token given out is then a primary duplicate of
 * this process's own (its user stays wine's), and which logon it stands for is kept here by
 * its TokenId, so the process created with it is journalled with the account's SID. */

typedef struct {
    LUID id;
    long long logon;
    char sid[16];
} logon_token;

static logon_token tokens[64];
static size_t n_tokens;
static SRWLOCK tokens_mu = SRWLOCK_INIT;

static int token_id(HANDLE tok, LUID *id)
{
    TOKEN_STATISTICS st;
    DWORD n = 0;
    if (!GetTokenInformation(tok, TokenStatistics, &st, sizeof st, &n))
        return -1;
    *id = st.TokenId;
    return 0;
}

static void remember_token(HANDLE tok, long long logon, const char *sid)
{
    LUID id;
    if (token_id(tok, &id) < 0)
        return;
    AcquireSRWLockExclusive(&tokens_mu);
    logon_token *t = &tokens[n_tokens++ % (sizeof tokens / sizeof tokens[0])];
    t->id = id;
    t->logon = logon;
    snprintf(t->sid, sizeof t->sid, "%s", sid);
    ReleaseSRWLockExclusive(&tokens_mu);
}

/* The logon a token came from (0 if none here), and the SID it stands for. */
static long long token_logon(HANDLE tok, char *sid, size_t len)
{
    LUID id;
    long long logon = 0;
    snprintf(sid, len, "?");
    if (token_id(tok, &id) < 0)
        return 0;
    AcquireSRWLockShared(&tokens_mu);
    for (size_t i = 0; i < n_tokens && i < sizeof tokens / sizeof tokens[0]; i++)
        if (tokens[i].id.LowPart == id.LowPart && tokens[i].id.HighPart == id.HighPart) {
            logon = tokens[i].logon;
            snprintf(sid, len, "%s", tokens[i].sid);
        }
    ReleaseSRWLockShared(&tokens_mu);
    if (!logon) { /* a token from elsewhere: its own user */
        BYTE buf[256];
        DWORD n = 0;
        char *s = NULL;
        if (GetTokenInformation(tok, TokenUser, buf, sizeof buf, &n) &&
            ConvertSidToStringSidA(((TOKEN_USER *)buf)->User.Sid, &s))
            snprintf(sid, len, "%s", s);
        LocalFree(s);
    }
    return logon;
}

static void doc_wstr(sb *d, const char *key, const WCHAR *w)
{
    char *u = sim_w2u(w);
    sb_addf(d, "%s\"%s\":", d->n > 1 ? "," : "", key);
    sb_qstr(d, u);
    free(u);
}

typedef BOOL(WINAPI *logon_fn)(LPCWSTR, LPCWSTR, LPCWSTR, DWORD, DWORD, PHANDLE);

static BOOL WINAPI sim_LogonUserW(LPCWSTR user, LPCWSTR domain, LPCWSTR password, DWORD type,
                                  DWORD provider, PHANDLE token)
{
    sb d = {0}, b;
    sb_add(&d, "{");
    doc_wstr(&d, "lpszUsername", user);
    doc_wstr(&d, "lpszDomain", domain);
    sb_addf(&d, ",\"lpszPassword\":%s,\"dwLogonType\":%lu,\"dwLogonProvider\":%lu}",
            password ? "\"(given)\"" : "null", (unsigned long)type, (unsigned long)provider);
    sim_begin(&b, "LogonUser");
    char *jid = sim_w2u(user), *jdom = sim_w2u(domain);
    char id[300];
    snprintf(id, sizeof id, "%s%s%s", jdom ? jdom : "", jdom ? "\\" : "", jid ? jid : "");
    free(jid);
    free(jdom);
    sim_kv_str(&b, "jid", id);
    sim_kv_wstr(&b, "user", user);
    sim_kv_wstr(&b, "domain", domain);
    sim_kv_int(&b, "type", type);
    sim_kv_int(&b, "provider", provider);
    sim_kv_str(&b, "doc", d.p);
    free(d.p);
    sj *reply;
    HRESULT hr = host_call(&b, &reply);
    long long logon = sj_int(sj_get(reply, "logon"), 0);
    char sid[16];
    snprintf(sid, sizeof sid, "%s",
             sj_str(sj_get(reply, "sid")) ? sj_str(sj_get(reply, "sid")) : "");
    sj_free(reply);
    if (hr == S_FALSE) { /* not a built-in account: wine's own answer */
        logon_fn real =
            (logon_fn)(void *)GetProcAddress(GetModuleHandleA("advapi32.dll"), "LogonUserW");
        return real(user, domain, password, type, provider, token);
    }
    if (FAILED(hr))
        return fail_with(hr);
    HANDLE self = NULL, dup = NULL;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ALL_ACCESS, &self) ||
        !DuplicateTokenEx(self, TOKEN_ALL_ACCESS, NULL, SecurityImpersonation, TokenPrimary,
                          &dup)) {
        DWORD e = GetLastError();
        if (self)
            CloseHandle(self);
        SetLastError(e);
        return FALSE;
    }
    CloseHandle(self);
    remember_token(dup, logon, sid);
    *token = dup;
    return TRUE;
}

typedef BOOL(WINAPI *process_as_user_fn)(HANDLE, LPCWSTR, LPWSTR, LPSECURITY_ATTRIBUTES,
                                         LPSECURITY_ATTRIBUTES, BOOL, DWORD, LPVOID, LPCWSTR,
                                         LPSTARTUPINFOW, LPPROCESS_INFORMATION);

/* wine's own, then the record of which logon's token the process was created with. */
static BOOL WINAPI sim_CreateProcessAsUserW(HANDLE token, LPCWSTR app, LPWSTR cmd,
                                            LPSECURITY_ATTRIBUTES pa, LPSECURITY_ATTRIBUTES ta,
                                            BOOL inherit, DWORD flags, LPVOID env, LPCWSTR dir,
                                            LPSTARTUPINFOW si, LPPROCESS_INFORMATION pi)
{
    process_as_user_fn real = (process_as_user_fn)(void *)GetProcAddress(
        GetModuleHandleA("advapi32.dll"), "CreateProcessAsUserW");
    BOOL ok = real(token, app, cmd, pa, ta, inherit, flags, env, dir, si, pi);
    DWORD e = GetLastError();
    if (ok) {
        char sid[80];
        long long logon = token_logon(token, sid, sizeof sid);
        sb d = {0}, b;
        sb_addf(&d, "{\"logon\":%lld,\"sid\":\"%s\"", logon, sid);
        doc_wstr(&d, "lpApplicationName", app);
        doc_wstr(&d, "lpCommandLine", cmd);
        sb_addf(&d, ",\"dwProcessId\":%lu}", (unsigned long)pi->dwProcessId);
        sim_begin(&b, "CreateProcessAsUser");
        char id[16];
        snprintf(id, sizeof id, "%lu", (unsigned long)pi->dwProcessId);
        sim_kv_str(&b, "jid", id);
        sim_kv_int(&b, "process_id", pi->dwProcessId);
        sim_kv_int(&b, "logon", logon);
        sim_kv_str(&b, "sid", sid);
        sim_kv_str(&b, "doc", d.p);
        free(d.p);
        sj *reply;
        host_call(&b, &reply);
        sj_free(reply);
    }
    SetLastError(e);
    return ok;
}

/* SetInformationJobObject / QueryInformationJobObject: wine 8 refuses
 * JobObjectCpuRateControlInformation (ERROR_INVALID_PARAMETER). The host keeps the
 * JOBOBJECT_CPU_RATE_CONTROL_INFORMATION of each job by the job's name (a job opened again
 * by name, after a restart of wincrid, sees what was set); other classes are wine's. */

/* The job's name (the last part of its object name), or a stand-in for an unnamed one. */
static int job_name(HANDLE job, char *out, size_t len)
{
    typedef LONG(NTAPI * query_object_fn)(HANDLE, int, void *, ULONG, ULONG *);
    query_object_fn q =
        (query_object_fn)(void *)GetProcAddress(GetModuleHandleA("ntdll.dll"), "NtQueryObject");
    union {
        UNICODE_STRING s;
        BYTE raw[1024];
    } u;
    ULONG got = 0;
    if (!job || !q || q(job, 1 /* ObjectNameInformation */, &u, sizeof u - 2, &got) != 0)
        return -1;
    WCHAR *w = u.s.Buffer;
    size_t n = u.s.Length / sizeof(WCHAR);
    if (!n) {
        snprintf(out, len, "unnamed job %p of process %lu", job,
                 (unsigned long)GetCurrentProcessId());
        return 0;
    }
    w[n] = L'\0';
    WCHAR *last = wcsrchr(w, L'\\');
    char *s = sim_w2u(last ? last + 1 : w);
    snprintf(out, len, "%s", s);
    free(s);
    return 0;
}

typedef BOOL(WINAPI *set_job_fn)(HANDLE, JOBOBJECTINFOCLASS, LPVOID, DWORD);
typedef BOOL(WINAPI *query_job_fn)(HANDLE, JOBOBJECTINFOCLASS, LPVOID, DWORD, LPDWORD);

static BOOL WINAPI sim_SetInformationJobObject(HANDLE job, JOBOBJECTINFOCLASS cls, LPVOID info,
                                               DWORD len)
{
    if (cls != JobObjectCpuRateControlInformation) {
        set_job_fn real = (set_job_fn)(void *)GetProcAddress(GetModuleHandleA("kernel32.dll"),
                                                             "SetInformationJobObject");
        return real(job, cls, info, len);
    }
    JOBOBJECT_CPU_RATE_CONTROL_INFORMATION r;
    char name[260];
    if (len != sizeof r) {
        SetLastError(ERROR_BAD_LENGTH);
        return FALSE;
    }
    if (job_name(job, name, sizeof name) < 0) {
        SetLastError(ERROR_INVALID_HANDLE);
        return FALSE;
    }
    memcpy(&r, info, sizeof r);
    sb d = {0}, b;
    sb_addf(&d, "{\"class\":\"JobObjectCpuRateControlInformation\",\"ControlFlags\":%lu",
            (unsigned long)r.ControlFlags);
    if (r.ControlFlags & 0x10) /* MIN_MAX_RATE (not in mingw's headers): two WORDs */
        sb_addf(&d, ",\"MinRate\":%lu,\"MaxRate\":%lu}", (unsigned long)(r.CpuRate & 0xffff),
                (unsigned long)(r.CpuRate >> 16));
    else if (r.ControlFlags & JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED)
        sb_addf(&d, ",\"Weight\":%lu}", (unsigned long)r.Weight);
    else
        sb_addf(&d, ",\"CpuRate\":%lu}", (unsigned long)r.CpuRate);
    sim_begin(&b, "SetInformationJobObject");
    sim_kv_str(&b, "jid", name);
    sim_kv_str(&b, "job", name);
    sim_kv_int(&b, "flags", r.ControlFlags);
    sim_kv_int(&b, "value", r.CpuRate); /* the union as one DWORD: MinRate | MaxRate << 16 */
    sim_kv_str(&b, "doc", d.p);
    free(d.p);
    sj *reply;
    HRESULT hr = host_call(&b, &reply);
    sj_free(reply);
    return FAILED(hr) ? fail_with(hr) : TRUE;
}

static BOOL WINAPI sim_QueryInformationJobObject(HANDLE job, JOBOBJECTINFOCLASS cls, LPVOID info,
                                                 DWORD len, LPDWORD ret)
{
    if (cls != JobObjectCpuRateControlInformation) {
        query_job_fn real = (query_job_fn)(void *)GetProcAddress(GetModuleHandleA("kernel32.dll"),
                                                                 "QueryInformationJobObject");
        return real(job, cls, info, len, ret);
    }
    JOBOBJECT_CPU_RATE_CONTROL_INFORMATION r = {0};
    char name[260];
    if (len < sizeof r) {
        SetLastError(ERROR_BAD_LENGTH);
        return FALSE;
    }
    if (!job) { /* NULL: the job of this process */
        SetLastError(ERROR_INVALID_HANDLE);
        return FALSE;
    }
    if (job_name(job, name, sizeof name) < 0) {
        SetLastError(ERROR_INVALID_HANDLE);
        return FALSE;
    }
    sb b;
    sim_begin(&b, "QueryInformationJobObject");
    sim_kv_str(&b, "jid", name);
    sim_kv_str(&b, "job", name);
    sj *reply;
    HRESULT hr = host_call(&b, &reply);
    r.ControlFlags = (DWORD)sj_int(sj_get(reply, "flags"), 0);
    r.CpuRate = (DWORD)sj_int(sj_get(reply, "value"), 0);
    sj_free(reply);
    if (FAILED(hr))
        return fail_with(hr);
    memcpy(info, &r, sizeof r);
    if (ret)
        *ret = sizeof r;
    return TRUE;
}

/* CreateSymbolicLinkW: wine 8's reports success and makes nothing. The host makes the link
 * (a Unix symbolic link, which wine follows and reports as a reparse point). */
static BOOLEAN WINAPI sim_CreateSymbolicLinkW(LPCWSTR link, LPCWSTR target, DWORD flags)
{
    sb d = {0}, b;
    sb_add(&d, "{");
    doc_wstr(&d, "lpSymlinkFileName", link);
    doc_wstr(&d, "lpTargetFileName", target);
    sb_addf(&d, ",\"dwFlags\":%lu}", (unsigned long)flags);
    sim_begin(&b, "CreateSymbolicLink");
    sim_kv_wstr(&b, "jid", link);
    sim_kv_wstr(&b, "link", link);
    sim_kv_wstr(&b, "target", target);
    sim_kv_int(&b, "flags", flags);
    sim_kv_str(&b, "doc", d.p);
    free(d.p);
    sj *reply;
    HRESULT hr = host_call(&b, &reply);
    sj_free(reply);
    return FAILED(hr) ? (BOOLEAN)fail_with(hr) : TRUE;
}

/* Points the executable's IAT entry for <dll>!<name> at fn. */
static void patch_import(const char *dll, const char *name, void *fn)
{
    BYTE *base = (BYTE *)GetModuleHandleA(NULL);
    IMAGE_DOS_HEADER *dos = (IMAGE_DOS_HEADER *)base;
    IMAGE_NT_HEADERS *nt = (IMAGE_NT_HEADERS *)(base + dos->e_lfanew);
    IMAGE_DATA_DIRECTORY dir = nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_IMPORT];
    if (!dir.VirtualAddress)
        return;
    for (IMAGE_IMPORT_DESCRIPTOR *d = (IMAGE_IMPORT_DESCRIPTOR *)(base + dir.VirtualAddress);
         d->Name; d++) {
        if (_stricmp((char *)(base + d->Name), dll) != 0)
            continue;
        IMAGE_THUNK_DATA *names = (IMAGE_THUNK_DATA *)(base + d->OriginalFirstThunk);
        IMAGE_THUNK_DATA *iat = (IMAGE_THUNK_DATA *)(base + d->FirstThunk);
        for (; names->u1.AddressOfData; names++, iat++) {
            if (IMAGE_SNAP_BY_ORDINAL(names->u1.Ordinal))
                continue;
            IMAGE_IMPORT_BY_NAME *ibn = (IMAGE_IMPORT_BY_NAME *)(base + names->u1.AddressOfData);
            if (strcmp((char *)ibn->Name, name) != 0)
                continue;
            HMODULE self; /* the patch must outlive any FreeLibrary of computecore.dll */
            GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                   GET_MODULE_HANDLE_EX_FLAG_PIN,
                               (LPCSTR)fn, &self);
            DWORD old;
            VirtualProtect(&iat->u1.Function, sizeof iat->u1.Function, PAGE_READWRITE, &old);
            iat->u1.Function = (ULONG_PTR)fn;
            VirtualProtect(&iat->u1.Function, sizeof iat->u1.Function, old, &old);
        }
    }
}

static int flag_on(const char *var)
{
    char on[8];
    return GetEnvironmentVariableA(var, on, sizeof on) && on[0] == '1';
}

void winegaps_install(void)
{
    if (flag_on("WINSIM_WINE_BACKUPWRITE"))
        patch_import("kernel32.dll", "BackupWrite", (void *)sim_BackupWrite);
    if (flag_on("WINSIM_WINE_MOUNTPOINTS")) {
        patch_import("kernel32.dll", "SetVolumeMountPointW", (void *)sim_SetVolumeMountPointW);
        patch_import("kernel32.dll", "DeleteVolumeMountPointW",
                     (void *)sim_DeleteVolumeMountPointW);
    }
    if (flag_on("WINSIM_WINE_LOGON")) {
        patch_import("advapi32.dll", "LogonUserW", (void *)sim_LogonUserW);
        patch_import("advapi32.dll", "CreateProcessAsUserW", (void *)sim_CreateProcessAsUserW);
    }
    if (flag_on("WINSIM_WINE_JOBCPU")) {
        patch_import("kernel32.dll", "SetInformationJobObject",
                     (void *)sim_SetInformationJobObject);
        patch_import("kernel32.dll", "QueryInformationJobObject",
                     (void *)sim_QueryInformationJobObject);
    }
    if (flag_on("WINSIM_WINE_SYMLINKS"))
        patch_import("kernel32.dll", "CreateSymbolicLinkW", (void *)sim_CreateSymbolicLinkW);
}
