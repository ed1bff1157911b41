#include "hcs/hcs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Resolves a runtime name through PATH the way execvp would. */
static int find_executable(const char *name, char *out, size_t cap)
{
    if (strchr(name, '/')) {
        snprintf(out, cap, "%s", name);
        return access(out, X_OK);
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(out, cap, "%.*s/%s", (int)len, path, name);
        if (access(out, X_OK) == 0)
            return 0;
        path += len + (path[len] == ':');
    }
    return -1;
}

int hcs_backend_check(const wc_config *cfg, const wc_runtime_handler *h, wc_err *err)
{
    (void)cfg;
    char path[4096];
    if (!h->runtime || !*h->runtime)
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "runtime handler \"%s\" names no OCI runtime binary", h->name);
    if (find_executable(h->runtime, path, sizeof path) < 0)
        return wc_err_set(err, WC_FAILED_PRECONDITION,
                          "runtime handler \"%s\": OCI runtime \"%s\" not found or not "
                          "executable (install runc, or set runtime_handlers.%s.runtime)",
                          h->name, h->runtime, h->name);
    return 0;
}

const char *hcs_cgroup_driver(void)
{
    return "cgroupfs";
}
