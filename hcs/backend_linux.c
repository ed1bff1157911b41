#include "hcs/hcs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hcs/runtime_linux.h"

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

/* mount_setattr(2) (Linux 5.12) is what makes a bind recursively read-only. */
static int kernel_has_mount_setattr(void)
{
#ifdef SYS_mount_setattr
    return syscall(SYS_mount_setattr, -1, "", 0, NULL, (size_t)0) < 0 && errno != ENOSYS;
#else
    return 0;
#endif
}

/* `RUNTIME features` (OCI runtime features document) lists "rro" among its mount options. */
static int runtime_knows_rro(const char *runtime)
{
    char *bin = hcs_find_binary(runtime);
    if (!bin)
        return 0;
    const char *argv[] = {bin, "features", NULL};
    hcs_run_opts o;
    hcs_run_opts_init(&o);
    o.timeout_ms = 10000;
    o.max_output = 1 << 20;
    hcs_run_result r = {0};
    wc_err err = {0};
    int ok = 0;
    if (hcs_run(argv, &o, &r, &err) == 0 && r.status == 0) {
        json_t *doc = json_loadb(r.out, r.out_len, 0, NULL);
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(doc, "mountOptions"), i, v)
        {
            ok |= json_is_string(v) && strcmp(json_string_value(v), "rro") == 0;
        }
        json_decref(doc);
    }
    hcs_run_result_clear(&r);
    free(bin);
    return ok;
}

/* The answer per runtime binary, asked once: kubelet calls Status every few seconds. */
typedef struct rro_answer {
    char runtime[256];
    int rro;
} rro_answer;
static rro_answer rro_answers[16];
static size_t n_rro_answers;
static pthread_mutex_t rro_mu = PTHREAD_MUTEX_INITIALIZER;

static int handler_supports_rro(const char *runtime)
{
    pthread_mutex_lock(&rro_mu);
    for (size_t i = 0; i < n_rro_answers; i++)
        if (strcmp(rro_answers[i].runtime, runtime) == 0) {
            int rro = rro_answers[i].rro;
            pthread_mutex_unlock(&rro_mu);
            return rro;
        }
    pthread_mutex_unlock(&rro_mu);
    int rro = kernel_has_mount_setattr() && runtime_knows_rro(runtime);
    pthread_mutex_lock(&rro_mu);
    if (n_rro_answers < sizeof rro_answers / sizeof rro_answers[0] &&
        strlen(runtime) < sizeof rro_answers[0].runtime) {
        snprintf(rro_answers[n_rro_answers].runtime, sizeof rro_answers[0].runtime, "%s", runtime);
        rro_answers[n_rro_answers++].rro = rro;
    }
    pthread_mutex_unlock(&rro_mu);
    return rro;
}

void hcs_handler_features_of(const wc_runtime_handler *h, hcs_handler_features *out)
{
    *out = (hcs_handler_features){.supplemental_groups_policy = 1};
    if (h->runtime && *h->runtime)
        out->recursive_read_only_mounts = handler_supports_rro(h->runtime);
}
