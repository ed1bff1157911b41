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
 * SetVolumeMountPointW, DeleteVolumeMountPointW: below. */
#include "simclient.h"

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

/* Points the executable's IAT entry for kernel32!<name> at fn. */
static void patch_import(const char *name, void *fn)
{
    BYTE *base = (BYTE *)GetModuleHandleA(NULL);
    IMAGE_DOS_HEADER *dos = (IMAGE_DOS_HEADER *)base;
    IMAGE_NT_HEADERS *nt = (IMAGE_NT_HEADERS *)(base + dos->e_lfanew);
    IMAGE_DATA_DIRECTORY dir = nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_IMPORT];
    if (!dir.VirtualAddress)
        return;
    for (IMAGE_IMPORT_DESCRIPTOR *d = (IMAGE_IMPORT_DESCRIPTOR *)(base + dir.VirtualAddress);
         d->Name; d++) {
        if (_stricmp((char *)(base + d->Name), "kernel32.dll") != 0)
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
        patch_import("BackupWrite", (void *)sim_BackupWrite);
    if (flag_on("WINSIM_WINE_MOUNTPOINTS")) {
        patch_import("SetVolumeMountPointW", (void *)sim_SetVolumeMountPointW);
        patch_import("DeleteVolumeMountPointW", (void *)sim_DeleteVolumeMountPointW);
    }
}
