/* The Windows OCI spec builder: CRI + image config → OCI spec with a windows section, and
 * that spec accepted by hcs_doc_container (the document HCS gets). */
#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "cri/podconfig_pb.h"
#include "hcs/hcsdoc.h"
#include "hcs/hcsjob.h"
#include "podsandbox/ocispec_wcow.h"

#define NETNS "5F0B1190-63BE-4E0C-B974-BD0F55675A42"
#define VOLUME "\\\\?\\Volume{8a9b0c1d-2e3f-4051-8263-748596a7b8c9}\\"
#define IMAGE_CONFIG                                                                               \
    "{\"os\":\"windows\",\"config\":{\"Entrypoint\":[\"cmd.exe\",\"/c\"],\"Cmd\":[\"echo hi\"],"   \
    "\"Env\":[\"Path=C:\\\\Windows\",\"FOO=image\"],\"WorkingDir\":\"C:\\\\app\","                 \
    "\"User\":\"ContainerUser\"}}"

/* One CRI request's worth of protobuf structs, all on the stack of the test. */
typedef struct fixture {
    Runtime__V1__PodSandboxConfig sb;
    Runtime__V1__PodSandboxMetadata sb_md;
    Runtime__V1__DNSConfig dns;
    char *searches[2];
    Runtime__V1__ContainerConfig cc;
    Runtime__V1__ContainerMetadata cc_md;
    Runtime__V1__ImageSpec image;
    Runtime__V1__WindowsContainerConfig win;
    Runtime__V1__WindowsContainerResources res;
    Runtime__V1__WindowsContainerSecurityContext sc;
    Runtime__V1__KeyValue env[2];
    Runtime__V1__KeyValue *envp[2];
    Runtime__V1__Mount mounts[3];
    Runtime__V1__Mount *mountp[3];
    pod_wcow_input in;
} fixture;

static const char *const layer_ids[] = {"11111111-2222-3333-4444-555555555555",
                                        "66666666-7777-8888-9999-000000000000"};

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->sb = (Runtime__V1__PodSandboxConfig)RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    f->sb_md = (Runtime__V1__PodSandboxMetadata)RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    f->sb_md.name = "web";
    f->sb_md.namespace_ = "default";
    f->sb_md.uid = "uid-1";
    f->sb.metadata = &f->sb_md;
    f->sb.hostname = "web-host";
    f->dns = (Runtime__V1__DNSConfig)RUNTIME__V1__DNSCONFIG__INIT;
    f->searches[0] = "default.svc.cluster.local";
    f->searches[1] = "svc.cluster.local";
    f->dns.searches = f->searches;
    f->dns.n_searches = 2;
    f->sb.dns_config = &f->dns;

    f->cc = (Runtime__V1__ContainerConfig)RUNTIME__V1__CONTAINER_CONFIG__INIT;
    f->cc_md = (Runtime__V1__ContainerMetadata)RUNTIME__V1__CONTAINER_METADATA__INIT;
    f->cc_md.name = "app";
    f->cc.metadata = &f->cc_md;
    f->image = (Runtime__V1__ImageSpec)RUNTIME__V1__IMAGE_SPEC__INIT;
    f->image.image = "mcr.microsoft.com/windows/nanoserver:ltsc2022";
    f->cc.image = &f->image;

    f->in.image_config_json = IMAGE_CONFIG;
    f->in.sandbox_id = "sb1";
    f->in.container_id = "c1";
    f->in.netns = NETNS;
}

static void set_resources(fixture *f)
{
    f->win = (Runtime__V1__WindowsContainerConfig)RUNTIME__V1__WINDOWS_CONTAINER_CONFIG__INIT;
    f->res = (Runtime__V1__WindowsContainerResources)RUNTIME__V1__WINDOWS_CONTAINER_RESOURCES__INIT;
    f->win.resources = &f->res;
    f->cc.windows = &f->win;
}

/* pod_spec_build_wcow on the fixture's messages, converted as cri/ converts them. */
static int build(fixture *f, json_t **spec, wc_err *err)
{
    pod_sandbox_config *sb = cri_sandbox_config_from_pb(&f->sb);
    pod_container_config *cc = cri_container_config_from_pb(&f->cc);
    pod_wcow_input in = f->in;
    in.sandbox = sb;
    in.container = cc;
    int rc = pod_spec_build_wcow(&in, spec, err);
    pod_sandbox_config_unref(sb);
    pod_container_config_unref(cc);
    return rc;
}

static json_t *build_ok(fixture *f)
{
    json_t *spec = NULL;
    wc_err err = {0};
    int rc = build(f, &spec, &err);
    if (rc != 0)
        print_error("unexpected error: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_non_null(spec);
    return spec;
}

static void build_fails(fixture *f, const char *needle)
{
    json_t *spec = NULL;
    wc_err err = {0};
    assert_int_equal(build(f, &spec, &err), -1);
    assert_null(spec);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    if (!strstr(err.msg, needle))
        print_error("message \"%s\" lacks \"%s\"\n", err.msg, needle);
    assert_non_null(strstr(err.msg, needle));
}

static const char *path_str(const json_t *root, const char *a, const char *b)
{
    const json_t *o = json_object_get(root, a);
    return json_string_value(b ? json_object_get(o, b) : o);
}

/* Image Entrypoint+Cmd, Env, WorkingDir, User; CRI envs replace image ones by key, any case. */
static void process_from_image(void **state)
{
    fixture f;
    fixture_init(&f);
    f.env[0] = (Runtime__V1__KeyValue)RUNTIME__V1__KEY_VALUE__INIT;
    f.env[0].key = "PATH";
    f.env[0].value = "C:\\tools";
    f.env[1] = (Runtime__V1__KeyValue)RUNTIME__V1__KEY_VALUE__INIT;
    f.env[1].key = "BAR";
    f.env[1].value = "cri";
    f.envp[0] = &f.env[0];
    f.envp[1] = &f.env[1];
    f.cc.envs = f.envp;
    f.cc.n_envs = 2;
    json_t *spec = build_ok(&f);
    json_t *p = json_object_get(spec, "process");
    json_t *args = json_object_get(p, "args");
    assert_int_equal(json_array_size(args), 3);
    assert_string_equal(json_string_value(json_array_get(args, 0)), "cmd.exe");
    assert_string_equal(json_string_value(json_array_get(args, 2)), "echo hi");
    json_t *env = json_object_get(p, "env");
    assert_int_equal(json_array_size(env), 3);
    assert_string_equal(json_string_value(json_array_get(env, 0)), "PATH=C:\\tools");
    assert_string_equal(json_string_value(json_array_get(env, 1)), "FOO=image");
    assert_string_equal(json_string_value(json_array_get(env, 2)), "BAR=cri");
    assert_string_equal(path_str(p, "cwd", NULL), "C:\\app");
    assert_string_equal(path_str(p, "user", "username"), "ContainerUser");
    assert_false(json_is_true(json_object_get(p, "terminal")));
    assert_string_equal(path_str(spec, "hostname", NULL), "web-host");
    assert_null(json_object_get(json_object_get(spec, "windows"), "hyperv"));
    json_decref(spec);
}

/* CRI command/args replace the image's; run_as_username wins; no image → C:\ as cwd. */
static void process_from_cri(void **state)
{
    fixture f;
    fixture_init(&f);
    char *cmd[] = {"powershell.exe", "-Command"};
    char *args[] = {"Get-Date"};
    f.cc.command = cmd;
    f.cc.n_command = 2;
    f.cc.args = args;
    f.cc.n_args = 1;
    f.cc.tty = 1;
    set_resources(&f);
    f.sc = (Runtime__V1__WindowsContainerSecurityContext)
        RUNTIME__V1__WINDOWS_CONTAINER_SECURITY_CONTEXT__INIT;
    f.sc.run_as_username = "ContainerAdministrator";
    f.win.security_context = &f.sc;
    f.in.image_config_json = NULL;
    json_t *spec = build_ok(&f);
    json_t *p = json_object_get(spec, "process");
    assert_int_equal(json_array_size(json_object_get(p, "args")), 3);
    assert_string_equal(path_str(p, "cwd", NULL), "C:\\");
    assert_string_equal(path_str(p, "user", "username"), "ContainerAdministrator");
    assert_true(json_is_true(json_object_get(p, "terminal")));
    assert_int_equal(json_array_size(json_object_get(p, "env")), 0);
    json_decref(spec);
}

static void no_command_is_refused(void **state)
{
    fixture f;
    fixture_init(&f);
    f.in.image_config_json = "{\"config\":{}}";
    build_fails(&f, "no command");
}

/* Destinations get a drive and backslashes; named pipes pass as they are. */
static void mounts(void **state)
{
    fixture f;
    fixture_init(&f);
    static const char *const host[] = {"C:\\data", "c:/var/lib/kubelet/pods/x/volumes/token",
                                       "\\\\.\\pipe\\docker_engine"};
    static const char *const ctr[] = {"/data", "c:/var/run/secrets/kubernetes.io/serviceaccount",
                                      "\\\\.\\pipe\\docker_engine"};
    for (int i = 0; i < 3; i++) {
        f.mounts[i] = (Runtime__V1__Mount)RUNTIME__V1__MOUNT__INIT;
        f.mounts[i].host_path = (char *)host[i];
        f.mounts[i].container_path = (char *)ctr[i];
        f.mounts[i].readonly = i == 1;
        f.mountp[i] = &f.mounts[i];
    }
    f.cc.mounts = f.mountp;
    f.cc.n_mounts = 3;
    json_t *spec = build_ok(&f);
    json_t *m = json_object_get(spec, "mounts");
    assert_int_equal(json_array_size(m), 3);
    assert_string_equal(path_str(json_array_get(m, 0), "destination", NULL), "C:\\data");
    assert_string_equal(path_str(json_array_get(m, 1), "destination", NULL),
                        "c:\\var\\run\\secrets\\kubernetes.io\\serviceaccount");
    assert_string_equal(path_str(json_array_get(m, 1), "source", NULL),
                        "c:\\var\\lib\\kubelet\\pods\\x\\volumes\\token");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(json_array_get(m, 1), "options"), 1)),
        "ro");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(json_array_get(m, 0), "options"), 1)),
        "rw");
    assert_string_equal(path_str(json_array_get(m, 2), "destination", NULL),
                        "\\\\.\\pipe\\docker_engine");
    json_decref(spec);

    f.mounts[0].host_path = "";
    build_fails(&f, "mounts[0]: host_path is required");
}

/* Resources, namespace and DNS searches; layerFolders are the backend's (hcs/runtime_win32.c
 * writes them from the rootfs it mounts), so the spec carries none. */
static void windows_section(void **state)
{
    fixture f;
    fixture_init(&f);
    set_resources(&f);
    f.res.cpu_maximum = 5000;
    f.res.memory_limit_in_bytes = 512LL * 1024 * 1024;
    f.res.rootfs_size_in_bytes = 30LL * 1024 * 1024 * 1024;
    json_t *spec = build_ok(&f);
    json_t *win = json_object_get(spec, "windows");
    assert_null(json_object_get(win, "layerFolders"));
    json_t *res = json_object_get(win, "resources");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "maximum")),
                     5000);
    assert_null(json_object_get(json_object_get(res, "cpu"), "shares"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")),
                     512LL * 1024 * 1024);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(res, "storage"), "sandboxSize")),
        30LL * 1024 * 1024 * 1024);
    json_t *net = json_object_get(win, "network");
    assert_string_equal(path_str(net, "networkNamespace", NULL), NETNS);
    assert_int_equal(json_array_size(json_object_get(net, "DNSSearchList")), 2);
    json_decref(spec);
}

static void bad_resources(void **state)
{
    fixture f;
    fixture_init(&f);
    set_resources(&f);
    f.res.cpu_shares = -1;
    build_fails(&f, "windows.resources.cpu_shares");
    f.res.cpu_shares = 0;
    f.res.cpu_maximum = 10001;
    build_fails(&f, "windows.resources.cpu_maximum");
}

static void host_network_has_no_namespace(void **state)
{
    fixture f;
    fixture_init(&f);
    f.in.netns = "";
    json_t *spec = build_ok(&f);
    json_t *win = json_object_get(spec, "windows");
    assert_null(json_object_get(win, "network"));
    assert_null(json_object_get(win, "layerFolders"));
    json_decref(spec);
}

static void devices(void **state)
{
    fixture f;
    fixture_init(&f);
    Runtime__V1__Device d[2] = {RUNTIME__V1__DEVICE__INIT, RUNTIME__V1__DEVICE__INIT};
    Runtime__V1__Device *dp[2] = {&d[0], &d[1]};
    d[0].host_path = "class/5B45201D-F2F2-4F3B-85BB-30FF1F953599";
    d[1].host_path = "vpci-location-path://PCIROOT(0)#PCI(0100)";
    f.cc.devices = dp;
    f.cc.n_devices = 2;
    json_t *spec = build_ok(&f);
    json_t *devs = json_object_get(json_object_get(spec, "windows"), "devices");
    assert_int_equal(json_array_size(devs), 2);
    assert_string_equal(path_str(json_array_get(devs, 0), "idType", NULL), "class");
    assert_string_equal(path_str(json_array_get(devs, 0), "id", NULL),
                        "5B45201D-F2F2-4F3B-85BB-30FF1F953599");
    assert_string_equal(path_str(json_array_get(devs, 1), "idType", NULL), "vpci-location-path");
    assert_string_equal(path_str(json_array_get(devs, 1), "id", NULL), "PCIROOT(0)#PCI(0100)");
    json_decref(spec);
    d[1].host_path = "/dev/nvidia0";
    build_fails(&f, "devices[1]");
}

/* Only io.microsoft.container.* passes for a container; wincri's own keys are always there. */
static void annotations_and_credential_spec(void **state)
{
    fixture f;
    fixture_init(&f);
    Runtime__V1__ContainerConfig__AnnotationsEntry a[3] = {
        RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT,
        RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT,
        RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT};
    Runtime__V1__ContainerConfig__AnnotationsEntry *ap[3] = {&a[0], &a[1], &a[2]};
    a[0].key = HCS_ANNOTATION_CPU_COUNT;
    a[0].value = "2";
    a[1].key = HCS_ANNOTATION_UVM_MEMORY;
    a[1].value = "2048";
    a[2].key = "example.com/other";
    a[2].value = "x";
    f.cc.annotations = ap;
    f.cc.n_annotations = 3;
    Runtime__V1__WindowsPodSandboxConfig wp = RUNTIME__V1__WINDOWS_POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__WindowsSandboxSecurityContext wsc =
        RUNTIME__V1__WINDOWS_SANDBOX_SECURITY_CONTEXT__INIT;
    wsc.credential_spec = "{\"CmsPlugins\":[\"ActiveDirectory\"]}";
    wp.security_context = &wsc;
    f.sb.windows = &wp;
    f.in.hyperv = 1;
    json_t *spec = build_ok(&f);
    json_t *an = json_object_get(spec, "annotations");
    assert_string_equal(path_str(an, HCS_ANNOTATION_CPU_COUNT, NULL), "2");
    assert_null(json_object_get(an, HCS_ANNOTATION_UVM_MEMORY));
    assert_null(json_object_get(an, "example.com/other"));
    assert_string_equal(path_str(an, "io.wincri.sandbox-id", NULL), "sb1");
    json_t *win = json_object_get(spec, "windows");
    assert_string_equal(path_str(win, "credentialSpec", NULL), wsc.credential_spec);
    assert_true(json_is_object(json_object_get(win, "hyperv")));
    json_decref(spec);
}

/* A Hyper-V pod's VM size comes from the pod's annotations: they reach every container's
 * spec (and so the VM the first container creates); process-isolated pods do not get them. */
static void pod_vm_annotations_reach_hyperv_specs(void **state)
{
    fixture f;
    fixture_init(&f);
    Runtime__V1__PodSandboxConfig__AnnotationsEntry pa[3] = {
        RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT,
        RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT,
        RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT};
    Runtime__V1__PodSandboxConfig__AnnotationsEntry *pap[3] = {&pa[0], &pa[1], &pa[2]};
    pa[0].key = HCS_ANNOTATION_UVM_MEMORY;
    pa[0].value = "4096";
    pa[1].key = "example.com/pod-note";
    pa[1].value = "x";
    pa[2].key = HCS_ANNOTATION_DUMP_LOCATION; /* hcsshim: the VM's ProcessDumpLocation */
    pa[2].value = "C:\\pod-dumps";
    f.sb.annotations = pap;
    f.sb.n_annotations = 3;
    f.in.hyperv = 1;
    json_t *spec = build_ok(&f);
    json_t *an = json_object_get(spec, "annotations");
    assert_string_equal(path_str(an, HCS_ANNOTATION_UVM_MEMORY, NULL), "4096");
    assert_null(json_object_get(an, "example.com/pod-note"));
    assert_string_equal(path_str(an, HCS_ANNOTATION_DUMP_LOCATION, NULL), "C:\\pod-dumps");
    json_decref(spec);
    /* the container's own location wins */
    Runtime__V1__ContainerConfig__AnnotationsEntry ca =
        RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT;
    Runtime__V1__ContainerConfig__AnnotationsEntry *cap[1] = {&ca};
    ca.key = HCS_ANNOTATION_DUMP_LOCATION;
    ca.value = "D:\\mine";
    f.cc.annotations = cap;
    f.cc.n_annotations = 1;
    spec = build_ok(&f);
    an = json_object_get(spec, "annotations");
    assert_string_equal(path_str(an, HCS_ANNOTATION_DUMP_LOCATION, NULL), "D:\\mine");
    f.cc.annotations = NULL;
    f.cc.n_annotations = 0;
    hcs_uvm_opts o = {0};
    wc_err err = {0};
    assert_int_equal(hcs_uvm_opts_from_annotations(spec, &o, &err), 0);
    assert_int_equal(o.memory_mb, 4096);
    json_decref(spec);

    f.in.hyperv = 0;
    spec = build_ok(&f);
    assert_null(json_object_get(json_object_get(spec, "annotations"), HCS_ANNOTATION_UVM_MEMORY));
    assert_null(
        json_object_get(json_object_get(spec, "annotations"), HCS_ANNOTATION_DUMP_LOCATION));
    json_decref(spec);
}

/* The spec, with the backend's mounted volume and layer ids, is a valid HCS document. */
static void feeds_hcs_doc_container(void **state)
{
    fixture f;
    fixture_init(&f);
    set_resources(&f);
    f.res.cpu_count = 2;
    f.res.memory_limit_in_bytes = 1024LL * 1024 * 1024;
    Runtime__V1__Mount m = RUNTIME__V1__MOUNT__INIT;
    Runtime__V1__Mount *mp = &m;
    m.host_path = "C:\\data";
    m.container_path = "/data";
    m.readonly = 1;
    f.cc.mounts = &mp;
    f.cc.n_mounts = 1;
    json_t *spec = build_ok(&f);
    /* What the backend adds from the rootfs it mounted (hcs/runtime_win32.c, fill_spec). */
    json_object_set_new(spec, "root", json_pack("{s:s}", "path", VOLUME));
    json_object_set_new(json_object_get(spec, "windows"), "layerFolders",
                        json_pack("[s,s,s]", "C:\\l\\top", "C:\\l\\base", "C:\\scratch"));
    hcs_container_opts o = {.layer_ids = layer_ids, .n_layer_ids = 2};
    json_t *doc = NULL;
    wc_err err = {0};
    int rc = hcs_doc_container(spec, &o, &doc, &err);
    if (rc != 0)
        print_error("hcs_doc_container: %s\n", err.msg);
    assert_int_equal(rc, 0);
    json_t *c = json_object_get(doc, "Container");
    json_t *st = json_object_get(c, "Storage");
    assert_int_equal(json_array_size(json_object_get(st, "Layers")), 2);
    assert_string_equal(path_str(json_array_get(json_object_get(st, "Layers"), 0), "Id", NULL),
                        layer_ids[0]);
    assert_string_equal(path_str(st, "Path", NULL), VOLUME);
    assert_string_equal(path_str(json_object_get(c, "Networking"), "Namespace", NULL), NETNS);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "Processor"), "Count")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "Memory"), "SizeInMB")),
                     1024);
    assert_string_equal(path_str(json_object_get(c, "GuestOs"), "HostName", NULL), "web-host");
    json_t *md = json_array_get(json_object_get(c, "MappedDirectories"), 0);
    assert_string_equal(path_str(md, "ContainerPath", NULL), "C:\\data");
    assert_true(json_is_true(json_object_get(md, "ReadOnly")));
    json_decref(doc);

    /* The process parameters HCS gets from the same spec. */
    hcs_process_io io = {.stdout_pipe = 1, .stderr_pipe = 1};
    json_t *params = NULL;
    assert_int_equal(hcs_doc_process(json_object_get(spec, "process"), &io, &params, &err), 0);
    assert_string_equal(path_str(params, "CommandLine", NULL), "cmd.exe /c \"echo hi\"");
    assert_string_equal(path_str(params, "WorkingDirectory", NULL), "C:\\app");
    json_decref(params);
    json_decref(spec);
}

static void exec_process(void **state)
{
    fixture f;
    fixture_init(&f);
    json_t *spec = build_ok(&f);
    json_object_set_new(json_object_get(spec, "process"), "commandLine", json_string("x"));
    const char *cmd[] = {"cmd.exe", "/c", "dir"};
    json_t *p = pod_wcow_exec_process(spec, cmd, 3, 1);
    assert_non_null(p);
    assert_int_equal(json_array_size(json_object_get(p, "args")), 3);
    assert_null(json_object_get(p, "commandLine"));
    assert_true(json_is_true(json_object_get(p, "terminal")));
    assert_string_equal(path_str(p, "cwd", NULL), "C:\\app");
    json_decref(p);
    assert_null(pod_wcow_exec_process(spec, cmd, 0, 0));
    json_decref(spec);
}

static void signals(void **state)
{
    assert_int_equal(pod_wcow_signal(RUNTIME__V1__SIGNAL__SIGTERM), 15);
    assert_int_equal(pod_wcow_signal(RUNTIME__V1__SIGNAL__SIGKILL), 9);
    assert_int_equal(pod_wcow_signal(RUNTIME__V1__SIGNAL__SIGINT), 2);
    assert_int_equal(pod_wcow_signal(RUNTIME__V1__SIGNAL__SIGHUP), 0);
    assert_int_equal(pod_wcow_signal(RUNTIME__V1__SIGNAL__RUNTIME_DEFAULT), 0);
    hcs_signal s;
    wc_err err = {0};
    assert_int_equal(hcs_signal_from_posix(pod_wcow_signal(RUNTIME__V1__SIGNAL__SIGTERM), &s, &err),
                     0);
    assert_int_equal(s, HCS_SIGNAL_CTRL_SHUTDOWN);
    assert_int_equal(hcs_signal_from_posix(pod_wcow_signal(RUNTIME__V1__SIGNAL__SIGKILL), &s, &err),
                     1);
}

/* HostProcess: every container of a HostProcess pod is one and the reverse (kubelet's
 * validation; containerd and hcsshim refuse the mix); the spec carries containerd's marker
 * annotation microsoft.com/hostprocess-container, which hcsshim keys job containers on, and the
 * two hcsshim HostProcess options; the user is the container's, else the pod's run_as_username
 * (the image's User names an account inside an image); no Hyper-V. */
static void host_process(void **state)
{
    fixture f;
    fixture_init(&f);
    f.in.netns = "";
    Runtime__V1__WindowsPodSandboxConfig wp = RUNTIME__V1__WINDOWS_POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__WindowsSandboxSecurityContext wsc =
        RUNTIME__V1__WINDOWS_SANDBOX_SECURITY_CONTEXT__INIT;
    wp.security_context = &wsc;
    f.sb.windows = &wp;
    f.win = (Runtime__V1__WindowsContainerConfig)RUNTIME__V1__WINDOWS_CONTAINER_CONFIG__INIT;
    f.sc = (Runtime__V1__WindowsContainerSecurityContext)
        RUNTIME__V1__WINDOWS_CONTAINER_SECURITY_CONTEXT__INIT;
    f.win.security_context = &f.sc;
    f.cc.windows = &f.win;

    wsc.host_process = 1; /* the pod is, the container is not */
    build_fails(&f, "every container in it must set windows.security_context.host_process");
    wsc.host_process = 0; /* the reverse */
    f.sc.host_process = 1;
    build_fails(&f, "the pod is not a HostProcess pod");

    wsc.host_process = 1;
    wsc.run_as_username = "NT AUTHORITY\\SYSTEM";
    Runtime__V1__PodSandboxConfig__AnnotationsEntry pa =
        RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT;
    Runtime__V1__PodSandboxConfig__AnnotationsEntry *pap = &pa;
    pa.key = HCS_ANNOTATION_HOSTPROCESS_INHERIT_USER;
    pa.value = "true";
    f.sb.annotations = &pap;
    f.sb.n_annotations = 1;
    json_t *spec = build_ok(&f);
    json_t *an = json_object_get(spec, "annotations");
    assert_string_equal(path_str(an, HCS_ANNOTATION_HOSTPROCESS, NULL), "true");
    assert_string_equal(path_str(an, HCS_ANNOTATION_HOSTPROCESS_INHERIT_USER, NULL), "true");
    assert_true(hcs_spec_is_hostprocess(spec));
    json_t *user = json_object_get(json_object_get(spec, "process"), "user");
    assert_string_equal(path_str(user, "username", NULL), "NT AUTHORITY\\SYSTEM");
    assert_null(json_object_get(json_object_get(spec, "windows"), "network"));
    json_decref(spec);

    f.sc.run_as_username = "NT AUTHORITY\\Local Service"; /* the container's wins */
    spec = build_ok(&f);
    user = json_object_get(json_object_get(spec, "process"), "user");
    assert_string_equal(path_str(user, "username", NULL), "NT AUTHORITY\\Local Service");
    json_decref(spec);

    f.in.hyperv = 1;
    build_fails(&f, "cannot use Hyper-V isolation");

    /* an ordinary container is not marked */
    fixture_init(&f);
    spec = build_ok(&f);
    assert_false(hcs_spec_is_hostprocess(spec));
    json_decref(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(process_from_image),
        cmocka_unit_test(process_from_cri),
        cmocka_unit_test(no_command_is_refused),
        cmocka_unit_test(mounts),
        cmocka_unit_test(windows_section),
        cmocka_unit_test(bad_resources),
        cmocka_unit_test(host_network_has_no_namespace),
        cmocka_unit_test(devices),
        cmocka_unit_test(annotations_and_credential_spec),
        cmocka_unit_test(pod_vm_annotations_reach_hyperv_specs),
        cmocka_unit_test(feeds_hcs_doc_container),
        cmocka_unit_test(exec_process),
        cmocka_unit_test(signals),
        cmocka_unit_test(host_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
