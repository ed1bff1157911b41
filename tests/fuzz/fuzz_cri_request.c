/* CRI requests as wincrid receives them: the server's decode of the request bytes for any
 * RPC it dispatches (cri/server.c), a canonical re-encode (responses echo requests), the
 * conversion to the pod model's plain configs (cri/podconfig_pb.c), and then the checks and
 * translations the handlers run on the request before any side effect,
 * without a daemon:
 *   RunPodSandbox, CreateContainer  config checks (podsandbox/), the Linux OCI spec, the
 *                                   Windows OCI spec and its HCS container document
 *   ExecSync                        the exec process on both platforms (HCS process doc)
 *   Update*Resources                the OCI linux.resources translation
 *   UpdateRuntimeConfig             the pod CIDR check
 *   Exec, Attach, PortForward       the streaming request checks and URL
 *   PullImage, ImageStatus, ...     reference parsing, credentials, a registry session
 *                                   (for a loopback registry; no request is made)
 * Input: one byte choosing the RPC, then the request message bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.pb-c.h"
#include "cri/pbutil.h"
#include "cri/podconfig_pb.h"
#include "cri/server.h"
#include "cri/streaming_impl.h"
#include "hcs/hcsdoc.h"
#include "hns/hns.h"
#include "image/img_internal.h"
#include "podsandbox/ocispec.h"
#include "podsandbox/ocispec_wcow.h"
#include "podsandbox/podsandbox.h"
#include "tests/fuzz/fuzz.h"

/* An unexpected kind of error is a finding: say which before stopping. Refusals are
 * INVALID_ARGUMENT (or FAILED_PRECONDITION, UNIMPLEMENTED for what wincri does not do). */
static void unexpected(const char *what, const wc_err *err)
{
    fprintf(stderr, "fuzz: %s: unexpected %s: %s\n", what, wc_code_name(err->code), err->msg);
    abort();
}

static char *paths[128];
static size_t n_paths;
static img_registry *registry;
static cri_streaming *streaming;

static const cri_stream_backend no_backend = {0};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    const ProtobufCServiceDescriptor *svcs[] = {&runtime__v1__runtime_service__descriptor,
                                                &runtime__v1__image_service__descriptor};
    for (size_t s = 0; s < 2; s++)
        for (unsigned i = 0; i < svcs[s]->n_methods && n_paths < 128; i++) {
            size_t n = strlen(svcs[s]->name) + strlen(svcs[s]->methods[i].name) + 3;
            paths[n_paths] = malloc(n);
            snprintf(paths[n_paths++], n, "/%s/%s", svcs[s]->name, svcs[s]->methods[i].name);
        }
    wc_err err = {0};
    if (img_registry_new(NULL, 0, &registry, &err) < 0)
        abort();
    streaming = cri_streaming_new_detached(&no_backend, 1); /* tokens expire at once */
    return 0;
}

/* ---- the host facts the Linux spec builder asks for ---- */

static int fake_device(void *ctx, const char *path, pod_spec_device *out)
{
    if (strncmp(path, "/dev/", 5) != 0) {
        errno = ENOENT;
        return -1;
    }
    out->type = path[5] == 's' ? 'b' : 'c';
    out->major = 1 + (int64_t)strlen(path) % 7;
    out->minor = path[strlen(path) - 1];
    out->mode = 0666;
    return 0;
}

static const pod_spec_host host = {
    .device = fake_device,
    .caps = ~0ull >> 23, /* CAP_CHOWN .. CAP_CHECKPOINT_RESTORE */
    .nofile_max = 1048576,
    .oom_score_adj_min = -998,
    .swap_controller = 1,
};

static const char image_config[] =
    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":\"1000:1000\","
    "\"Env\":[\"PATH=/usr/bin:/bin\",\"A=b\"],\"Entrypoint\":[\"/bin/sh\"],\"Cmd\":[\"-c\",\"x\"],"
    "\"WorkingDir\":\"/w\",\"StopSignal\":\"SIGQUIT\"},\"rootfs\":{\"type\":\"layers\","
    "\"diff_ids\":[]}}";

#define SANDBOX_ID "5a9d2c1e0f3b4a6d8c7e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4"
#define CONTAINER_ID "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc"

static json_t *linux_spec(const pod_sandbox_config *sb, const pod_container_config *c)
{
    const char *cgroup = sb && *sb->cgroup_parent ? sb->cgroup_parent : "/wincri/" SANDBOX_ID;
    pod_spec_input in = {.sandbox = sb,
                         .container = c,
                         .image_config_json = image_config,
                         .sandbox_id = SANDBOX_ID,
                         .container_id = CONTAINER_ID,
                         .netns_path = "/run/netns/wincri-" SANDBOX_ID,
                         .ipc_ns_path = "/run/wincri/ns/ipc",
                         .uts_ns_path = "/run/wincri/ns/uts",
                         .pid_ns_path = "/proc/1/ns/pid",
                         .resolv_conf_path = "/var/lib/wincri/pods/x/resolv.conf",
                         .hosts_path = "/var/lib/wincri/pods/x/hosts",
                         .hostname_path = "/var/lib/wincri/pods/x/hostname",
                         .cgroup_parent = cgroup,
                         .host = &host};
    json_t *spec = NULL;
    wc_err err = {0};
    if (pod_spec_build_linux(&in, &spec, &err) < 0 && err.code != WC_INVALID_ARGUMENT &&
        err.code != WC_FAILED_PRECONDITION && err.code != WC_UNIMPLEMENTED)
        unexpected("pod_spec_build_linux", &err);
    return spec;
}

static const char *const layer_ids[] = {"11111111-2222-3333-4444-555555555555",
                                        "66666666-7777-8888-9999-aaaaaaaaaaaa"};

static json_t *wcow_spec(const pod_sandbox_config *sb, const pod_container_config *c, int hyperv)
{
    pod_wcow_input in = {.sandbox = sb,
                         .container = c,
                         .image_config_json = image_config,
                         .sandbox_id = SANDBOX_ID,
                         .container_id = CONTAINER_ID,
                         .netns = "0b1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5",
                         .hyperv = hyperv};
    json_t *spec = NULL;
    wc_err err = {0};
    if (pod_spec_build_wcow(&in, &spec, &err) < 0 && err.code != WC_INVALID_ARGUMENT &&
        err.code != WC_UNIMPLEMENTED)
        unexpected("pod_spec_build_wcow", &err);
    return spec;
}

/* What the Windows backend makes of a spec: the HCS container and process documents. */
static void hcs_documents(json_t *spec, const char *const *cmd, size_t n_cmd, int tty)
{
    wc_err err = {0};
    /* As the backend sets them once the scratch is mounted (hcs/runtime_win32.c). */
    json_object_set_new(
        spec, "root",
        json_pack("{s:s}", "path", "\\\\?\\Volume{01234567-89ab-cdef-0123-456789abcdef}\\"));
    json_t *win = json_object_get(spec, "windows");
    if (json_is_object(win))
        json_object_set_new(win, "layerFolders",
                            json_pack("[sss]", "C:\\ProgramData\\wincri\\layers\\b",
                                      "C:\\ProgramData\\wincri\\layers\\a",
                                      "C:\\ProgramData\\wincri\\containers\\c"));
    hcs_container_opts o = {.layer_ids = layer_ids, .n_layer_ids = 2, .host_cpus = 2};
    json_t *doc = NULL;
    if (hcs_doc_container(spec, &o, &doc, &err) == 0)
        json_decref(doc);
    hcs_uvm_opts uo = {0};
    hcs_uvm_opts_from_annotations(spec, &uo, &err);
    json_t *proc = n_cmd ? pod_wcow_exec_process(spec, cmd, n_cmd, tty)
                         : json_incref(json_object_get(spec, "process"));
    hcs_process_io io = {1, 1, !tty};
    if (proc && hcs_doc_process(proc, &io, &doc, &err) == 0)
        json_decref(doc);
    json_decref(proc);
}

static void sandbox_config(const Runtime__V1__RunPodSandboxRequest *in)
{
    wc_err err = {0};
    pod_sandbox_config *sb = cri_sandbox_config_from_pb(in->config);
    if (!sb)
        abort();
    if (pod_sandbox_config_check(sb, &err) == 0) {
        hcs_isolation iso;
        hcs_handler_isolation(in->runtime_handler, &iso, &err);
    }
    pod_sandbox_config_unref(sb);
}

static void container_specs(const pod_sandbox_config *sb, const pod_container_config *c)
{
    wc_err err = {0};
    json_t *spec = linux_spec(sb, c);
    static const char *const sh[] = {"sh"};
    if (spec) {
        json_t *p = pod_spec_exec_process(spec, sh, 1, 1);
        json_decref(p);
    }
    json_decref(spec);
    for (int hyperv = 0; hyperv < 2; hyperv++) {
        spec = wcow_spec(sb, c, hyperv);
        if (spec)
            hcs_documents(spec, NULL, 0, c->tty);
        json_decref(spec);
    }
    hcs_signal sig;
    int signo = pod_wcow_signal(c->stop_signal);
    if (signo)
        hcs_signal_from_posix(signo, &sig, &err);
}

static void container_config(const Runtime__V1__CreateContainerRequest *in)
{
    wc_err err = {0};
    pod_container_config *c = cri_container_config_from_pb(in->config);
    pod_sandbox_config *sb =
        in->sandbox_config ? cri_sandbox_config_from_pb(in->sandbox_config) : NULL;
    if (!c || (in->sandbox_config && !sb))
        abort();
    if (pod_container_config_check(c, &err) == 0 &&
        (!sb || pod_sandbox_config_check(sb, &err) == 0))
        container_specs(sb, c);
    pod_container_config_unref(c);
    if (sb)
        pod_sandbox_config_unref(sb);
}

/* ExecSync and Exec run `cmd` in a container made from a plain config. */
static void exec_process(char *const *cmd, size_t n_cmd, int tty)
{
    Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
    md.name = "app";
    Runtime__V1__ImageSpec image = RUNTIME__V1__IMAGE_SPEC__INIT;
    image.image = "127.0.0.1:5000/fuzz/image:latest";
    Runtime__V1__ContainerConfig pb = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    pb.metadata = &md;
    pb.image = &image;
    pod_container_config *c = cri_container_config_from_pb(&pb);
    if (!c)
        abort();
    json_t *spec = linux_spec(NULL, c);
    if (!spec)
        abort();
    json_t *p = pod_spec_exec_process(spec, (const char *const *)cmd, n_cmd, tty);
    json_decref(p);
    json_decref(spec);
    spec = wcow_spec(NULL, c, 0);
    if (!spec)
        abort();
    if (n_cmd)
        hcs_documents(spec, (const char *const *)cmd, n_cmd, tty);
    json_decref(spec);
    pod_container_config_unref(c);
}

static void resources(const Runtime__V1__LinuxContainerResources *pb)
{
    if (!pb)
        return;
    pod_linux_resources r;
    cri_linux_resources_from_pb(pb, &r);
    json_t *out = NULL;
    wc_err err = {0};
    if (pod_spec_linux_resources(&r, &out, &err) == 0)
        json_decref(out);
    pod_linux_resources_clear(&r);
}

static void stream_url(const cri_stream_request *r)
{
    char *url = NULL;
    wc_err err = {0};
    if (cri_streaming_url(streaming, r, &url, &err) == 0)
        free(url);
    else if (err.code != WC_INVALID_ARGUMENT)
        unexpected("cri_streaming_url", &err);
}

/* A pull gets as far as its registry session; any registry becomes a loopback one. */
static void image_ref(const Runtime__V1__ImageSpec *spec, const Runtime__V1__AuthConfig *a)
{
    img_ref ref;
    wc_err err = {0};
    if (img_ref_parse(spec && spec->image ? spec->image : "", &ref, &err) < 0)
        return;
    free(ref.domain);
    ref.domain = strdup("127.0.0.1:5000");
    img_auth auth = {0};
    if (a)
        auth = (img_auth){a->username, a->password, a->auth, a->identity_token, a->registry_token};
    img_cancel cancel = {0};
    img_session *s = NULL;
    if (img_session_new(registry, &ref, a ? &auth : NULL, &cancel, &s, &err) == 0)
        img_session_free(s);
    img_ref_clear(&ref);
}

static void handle(const char *method, const ProtobufCMessage *req)
{
#define IS(name) (strcmp(method, name) == 0)
#define IN(Type) const Runtime__V1__##Type *in = (const Runtime__V1__##Type *)req
    wc_err err = {0};
    if (IS("RunPodSandbox")) {
        sandbox_config((const Runtime__V1__RunPodSandboxRequest *)req);
    } else if (IS("CreateContainer")) {
        container_config((const Runtime__V1__CreateContainerRequest *)req);
    } else if (IS("ExecSync")) {
        IN(ExecSyncRequest);
        exec_process(in->cmd, in->n_cmd, 0);
    } else if (IS("UpdateContainerResources")) {
        IN(UpdateContainerResourcesRequest);
        resources(in->linux);
    } else if (IS("UpdatePodSandboxResources")) {
        IN(UpdatePodSandboxResourcesRequest);
        resources(in->overhead);
        resources(in->resources);
    } else if (IS("UpdateRuntimeConfig")) {
        IN(UpdateRuntimeConfigRequest);
        if (in->runtime_config && in->runtime_config->network_config)
            hns_pod_cidr_validate(in->runtime_config->network_config->pod_cidr, &err);
    } else if (IS("Exec")) {
        IN(ExecRequest);
        cri_stream_request r = {.kind = CRI_STREAM_EXEC,
                                .id = in->container_id,
                                .cmd = (const char *const *)in->cmd,
                                .n_cmd = in->n_cmd,
                                .tty = in->tty,
                                .want_stdin = in->stdin_,
                                .want_stdout = in->stdout_,
                                .want_stderr = in->stderr_};
        stream_url(&r);
        exec_process(in->cmd, in->n_cmd, in->tty);
    } else if (IS("Attach")) {
        IN(AttachRequest);
        cri_stream_request r = {.kind = CRI_STREAM_ATTACH,
                                .id = in->container_id,
                                .tty = in->tty,
                                .want_stdin = in->stdin_,
                                .want_stdout = in->stdout_,
                                .want_stderr = in->stderr_};
        stream_url(&r);
    } else if (IS("PortForward")) {
        IN(PortForwardRequest);
        int *ports = calloc(in->n_port + 1, sizeof *ports);
        for (size_t i = 0; i < in->n_port; i++)
            ports[i] = in->port[i];
        cri_stream_request r = {.kind = CRI_STREAM_PORTFORWARD,
                                .id = in->pod_sandbox_id,
                                .ports = ports,
                                .n_ports = in->n_port};
        stream_url(&r);
        free(ports);
    } else if (IS("PullImage")) {
        IN(PullImageRequest);
        image_ref(in->image, in->auth);
    } else if (IS("ImageStatus")) {
        IN(ImageStatusRequest);
        image_ref(in->image, NULL);
    } else if (IS("RemoveImage")) {
        IN(RemoveImageRequest);
        image_ref(in->image, NULL);
    }
#undef IS
#undef IN
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *path = paths[data[0] % n_paths];
    wc_err err = {0};
    ProtobufCMessage *req = cri_request_decode(path, data + 1, size - 1, &err);
    if (!req) {
        if (err.code != WC_INVALID_ARGUMENT)
            unexpected("cri_request_decode", &err);
        return 0;
    }
    /* A copy (responses echo requests) packs to the same bytes. */
    ProtobufCMessage *copy = cri_copy(req);
    size_t n = protobuf_c_message_get_packed_size(req);
    if (!copy || protobuf_c_message_get_packed_size(copy) != n)
        abort();
    uint8_t *a = malloc(n + 1), *b = malloc(n + 1);
    protobuf_c_message_pack(req, a);
    protobuf_c_message_pack(copy, b);
    if (memcmp(a, b, n) != 0)
        abort();
    free(a);
    free(b);
    protobuf_c_message_free_unpacked(copy, NULL);
    handle(strrchr(path, '/') + 1, req);
    protobuf_c_message_free_unpacked(req, NULL);
    return 0;
}
