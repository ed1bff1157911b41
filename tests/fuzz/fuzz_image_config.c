/* What an image says about itself, beyond what a pull checks: an index's platform entries
 * against several hosts (image/platform.c: os, architecture, variants, and the Windows
 * os.version rules of process and Hyper-V isolation), and an image config's process
 * defaults (Entrypoint, Cmd, Env, User, WorkingDir ...) merged into a container's Linux and
 * Windows OCI specs (podsandbox/ocispec_*.c) and the HCS process document.
 *
 * Input: parts separated by "\n--\n": an index (its "manifests" array), an image config. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "cri/podconfig_pb.h"
#include "hcs/hcsdoc.h"
#include "image/img_internal.h"
#include "podsandbox/ocispec.h"
#include "podsandbox/ocispec_wcow.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

static void finding(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz: %s: %s\n", what, detail);
    abort();
}

static const img_host hosts[] = {
    {"linux", "amd64", "", "", 0},
    {"linux", "arm64", "v8", "", 0},
    {"linux", "arm", "v7", "", 0},
    {"windows", "amd64", "", "10.0.20348.2227", 0},
    {"windows", "amd64", "", "10.0.26100.1", 0},
    {"windows", "amd64", "", "10.0.26100.1", 1},
    {"windows", "amd64", "", "10.0.17763.5", 0},
};

static void platforms(const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);
    json_t *manifests = json_object_get(doc, "manifests");
    for (size_t h = 0; h < sizeof hosts / sizeof hosts[0]; h++) {
        wc_err err = {0};
        int i = img_platform_select(manifests, &hosts[h], &err);
        if (i < 0) {
            if (err.code != WC_NOT_FOUND && err.code != WC_INVALID_ARGUMENT)
                finding("platform selection failed oddly", err.msg);
            continue;
        }
        json_t *plat = json_object_get(json_array_get(manifests, (size_t)i), "platform");
        const char *os = json_string_value(json_object_get(plat, "os"));
        const char *arch = json_string_value(json_object_get(plat, "architecture"));
        const char *osv = json_string_value(json_object_get(plat, "os.version"));
        if (!os || !arch || strcmp(os, hosts[h].os) != 0 || strcmp(arch, hosts[h].arch) != 0)
            finding("an entry for another platform was chosen", hosts[h].os);
        if (strcmp(os, "windows") == 0 && osv && *osv &&
            !img_windows_compatible(hosts[h].os_version, osv, hosts[h].hyperv))
            finding("a Windows build the host cannot run was chosen", osv);
    }
    json_decref(doc);
}

static int no_device(void *ctx, const char *path, pod_spec_device *out)
{
    errno = ENOENT;
    return -1;
}

static void container_specs(const char *image_config)
{
    Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
    md.name = "app";
    Runtime__V1__ImageSpec image = RUNTIME__V1__IMAGE_SPEC__INIT;
    image.image = "127.0.0.1:5000/fuzz/image:latest";
    char *args[] = {"--flag"};
    Runtime__V1__ContainerConfig pb = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    pb.metadata = &md;
    pb.image = &image;
    pb.n_args = 1;
    pb.args = args;
    pod_container_config *c = cri_container_config_from_pb(&pb);
    if (!c)
        abort();
    pod_spec_host host = {.device = no_device, .caps = ~0ull >> 23, .nofile_max = 1024};
    pod_spec_input in = {.container = c,
                         .image_config_json = image_config,
                         .sandbox_id = "sandbox",
                         .container_id = "container",
                         .host = &host};
    json_t *spec = NULL;
    wc_err err = {0};
    if (pod_spec_build_linux(&in, &spec, &err) == 0) {
        const char *const cmd[] = {"sh"};
        json_decref(pod_spec_exec_process(spec, cmd, 1, 0));
        json_decref(spec);
    } else if (err.code != WC_INVALID_ARGUMENT && err.code != WC_INTERNAL) {
        finding("Linux spec", err.msg);
    }
    pod_wcow_input win = {.container = c,
                          .image_config_json = image_config,
                          .sandbox_id = "sandbox",
                          .container_id = "container"};
    if (pod_spec_build_wcow(&win, &spec, &err) == 0) {
        hcs_process_io io = {1, 1, 1};
        json_t *doc = NULL;
        if (hcs_doc_process(json_object_get(spec, "process"), &io, &doc, &err) == 0)
            json_decref(doc);
        json_decref(spec);
    } else if (err.code != WC_INVALID_ARGUMENT && err.code != WC_INTERNAL) {
        finding("Windows spec", err.msg);
    }
    pod_container_config_unref(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    char *index = fuzz_part(&in, NULL), *config = fuzz_part(&in, NULL);
    if (index)
        platforms(index);
    if (config)
        container_specs(config);
    free(index);
    free(config);
    return 0;
}
