/* Windows parts of the pod model. A pod's shared state is its HCN namespace (hns/), so the
 * sandbox needs no pinned namespaces; the container spec is podsandbox/ocispec_wcow.c's. */
#include <windows.h>

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "common/config.h"
#include "common/fs.h"
#include "common/wstr_win32.h"
#include "common/xalloc.h"
#include "hcs/runtime.h"
#include "image/image.h"
#include "podsandbox/ocispec_wcow.h"
#include "podsandbox/platform.h"

static int handler_is_hyperv(const pod_manager *pm, const char *handler)
{
    const wc_runtime_handler *h =
        wc_config_handler(pm->cfg, handler && *handler ? handler : pm->cfg->default_handler);
    return h && h->isolation && strcmp(h->isolation, "hyperv") == 0;
}

/* IPC and UTS have no pod-level namespaces to pin on Windows. A HostProcess pod runs on the
 * host: a Hyper-V handler cannot give it that (hcsshim refuses job containers in a VM). */
int pod_platform_sandbox_setup(pod_manager *pm, pod_sandbox *s, wc_err *err)
{
    if (s->config->windows_security.host_process && handler_is_hyperv(pm, s->handler))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "a HostProcess pod runs on the host and cannot use the Hyper-V isolated "
                          "runtime handler \"%s\"",
                          s->handler);
    return 0;
}

/* A Hyper-V pod's utility VM outlives its containers until the pod itself goes. A handler
 * whose runtime never opened made no VM, and must not block RemovePodSandbox. */
int pod_platform_sandbox_teardown(pod_manager *pm, pod_sandbox *s, wc_err *err)
{
    if (!handler_is_hyperv(pm, s->handler))
        return 0;
    hcs_runtime *rt = pod_runtime_for(pm, s->handler, err);
    if (!rt) {
        wc_err_clear(err);
        return 0;
    }
    return hcs_pod_release(rt, s->id, err);
}

int pod_platform_container_spec(pod_manager *pm, const pod_sandbox *s,
                                const pod_container_config *config, const img_image *img,
                                const char *container_id, json_t **spec, wc_err *err)
{
    pod_wcow_input in = {.sandbox = s->config,
                         .container = config,
                         .image_config_json = img->config_json,
                         .sandbox_id = s->id,
                         .container_id = container_id,
                         .netns = s->netns,
                         .hyperv = handler_is_hyperv(pm, s->handler)};
    return pod_spec_build_wcow(&in, spec, err);
}

json_t *pod_platform_exec_process(const json_t *spec, const char *const *cmd, size_t n_cmd, int tty)
{
    return pod_wcow_exec_process(spec, cmd, n_cmd, tty);
}

int pod_platform_signal(int cri_signal)
{
    return pod_wcow_signal(cri_signal);
}

/* ---- removing a tree ---- */

static int remove_w(const wchar_t *path, DWORD *failed);

/* Children first; a directory symlink or junction is removed itself, never followed. */
static void remove_children(const wchar_t *dir, DWORD *failed)
{
    size_t len = wcslen(dir);
    wchar_t *pattern = wc_xmalloc((len + 3) * sizeof *pattern);
    swprintf(pattern, len + 3, L"%ls\\*", dir);
    WIN32_FIND_DATAW fd;
    HANDLE h = FindFirstFileW(pattern, &fd);
    free(pattern);
    if (h == INVALID_HANDLE_VALUE)
        return;
    do {
        if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
            continue;
        size_t n = len + wcslen(fd.cFileName) + 2;
        wchar_t *child = wc_xmalloc(n * sizeof *child);
        swprintf(child, n, L"%ls\\%ls", dir, fd.cFileName);
        remove_w(child, failed);
        free(child);
    } while (FindNextFileW(h, &fd));
    FindClose(h);
}

static int remove_w(const wchar_t *path, DWORD *failed)
{
    DWORD attr = GetFileAttributesW(path);
    if (attr == INVALID_FILE_ATTRIBUTES)
        return 0;
    if (attr & FILE_ATTRIBUTE_READONLY)
        SetFileAttributesW(path, attr & ~(DWORD)FILE_ATTRIBUTE_READONLY);
    int is_dir = (attr & FILE_ATTRIBUTE_DIRECTORY) != 0;
    if (is_dir && !(attr & FILE_ATTRIBUTE_REPARSE_POINT))
        remove_children(path, failed);
    BOOL ok = is_dir ? RemoveDirectoryW(path) : DeleteFileW(path);
    DWORD e = ok ? 0 : GetLastError();
    if (e && e != ERROR_FILE_NOT_FOUND && e != ERROR_PATH_NOT_FOUND && !*failed)
        *failed = e;
    return ok ? 0 : -1;
}

int pod_platform_node_hostname(char *buf, size_t len, wc_err *err)
{
    DWORD n = (DWORD)len;
    if (!GetComputerNameExA(ComputerNameDnsHostname, buf, &n))
        return wc_err_set(err, WC_INTERNAL, "cannot read the node's host name (error %lu)",
                          (unsigned long)GetLastError());
    return 0;
}

int pod_platform_remove_tree(const char *path, wc_err *err)
{
    wchar_t *w = wc_utf8_to_utf16(path, NULL);
    if (!w)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "cannot remove %s: not a valid UTF-8 path",
                          path);
    DWORD failed = 0;
    remove_w(w, &failed);
    free(w);
    if (failed)
        return wc_err_set(err, WC_INTERNAL, "cannot remove %s (Win32 error %lu)", path,
                          (unsigned long)failed);
    return 0;
}

int pod_platform_resources(const pod_linux_resources *linux_res,
                           const pod_windows_resources *windows_res, json_t **out, wc_err *err)
{
    (void)linux_res; /* kubelet on a Windows node sends the windows part */
    *out = NULL;
    if (!windows_res)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "UpdateContainerResources: windows resources are required");
    return pod_wcow_resources(windows_res, out, err);
}
