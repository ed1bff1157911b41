/* CRI configs → OCI spec with a `windows` section, the shape containerd's CRI plugin gives
 * runhcs (internal/cri/server/container_create_windows.go and pkg/oci's Windows options):
 * image Entrypoint/Cmd/Env/WorkingDir/User merged with the CRI fields, bind mounts with a
 * drive letter on the destination, resources, the pod's HCN namespace, credential spec and
 * devices. Shared code: no #ifdef, tested on Linux. */
#include "podsandbox/ocispec_wcow.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "hcs/hcsdoc.h"
#include "hcs/hcsjob.h"
#include "podsandbox/ocispec_common.h"

#define OCI_VERSION "1.1.0"
#define DEFAULT_CWD "C:\\"

typedef struct wcow_build {
    const pod_wcow_input *in;
    const pod_container_config *cc;
    json_t *image; /* the image config's "config" object, or NULL */
} wcow_build;

static int parse_image(const char *text, json_t **image, wc_err *err)
{
    *image = NULL;
    if (!text || !*text)
        return 0;
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root)
        return wc_err_set(err, WC_INTERNAL, "image config: %s (line %d)", jerr.text, jerr.line);
    json_t *config = json_object_get(root, "config");
    if (json_is_object(config))
        *image = json_incref(config);
    json_decref(root);
    return 0;
}

static const json_t *image_field(const wcow_build *b, const char *key)
{
    return b->image ? json_object_get(b->image, key) : NULL;
}

static const char *image_str(const wcow_build *b, const char *key)
{
    const char *s = json_string_value(image_field(b, key));
    return s && *s ? s : NULL;
}

/* ---- process ---- */

static int build_args(const wcow_build *b, json_t *process, wc_err *err)
{
    json_t *args = NULL;
    int rc = pod_spec_args(b->cc, b->image, &args, err);
    json_object_set_new(process, "args", args);
    return rc;
}

/* Windows variable names are case-insensitive: a later PATH replaces an earlier Path. */
static size_t key_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

static int same_key(const char *a, const char *b)
{
    size_t la = key_len(a), lb = key_len(b);
    if (la != lb)
        return 0;
    for (size_t i = 0; i < la; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return 0;
    return 1;
}

static void env_set(json_t *env, const char *kv)
{
    size_t i;
    json_t *v;
    json_array_foreach(env, i, v)
    {
        if (same_key(json_string_value(v), kv)) {
            json_array_set_new(env, i, json_string(kv));
            return;
        }
    }
    json_array_append_new(env, json_string(kv));
}

static int build_env(const wcow_build *b, json_t *process, wc_err *err)
{
    const pod_container_config *cc = b->cc;
    json_t *env = json_array();
    json_object_set_new(process, "env", env);
    size_t i;
    json_t *v;
    json_array_foreach(image_field(b, "Env"), i, v)
    {
        if (json_is_string(v))
            env_set(env, json_string_value(v));
    }
    for (i = 0; i < cc->envs.n; i++) {
        const pod_kv *e = &cc->envs.v[i];
        if (!*e->key)
            return wc_err_set(err, WC_INVALID_ARGUMENT, "envs[%zu]: empty key", i);
        if (strchr(e->key, '='))
            return wc_err_set(err, WC_INVALID_ARGUMENT, "envs[%zu]: key \"%s\" contains '='", i,
                              e->key);
        char *kv = wc_xasprintf("%s=%s", e->key, e->value);
        env_set(env, kv);
        free(kv);
    }
    return 0;
}

static const pod_windows_security *container_sc(const wcow_build *b)
{
    return b->cc->windows_security.set ? &b->cc->windows_security : NULL;
}

/* A HostProcess pod's containers are all HostProcess containers, and a HostProcess
 * container needs a HostProcess pod (kubelet's validation, containerd and hcsshim refuse the
 * mix: a job object cannot share a pod's network compartment). */
static int is_host_process(const wcow_build *b, wc_err *err)
{
    const pod_windows_security *sc = container_sc(b);
    int ctr = sc && sc->host_process;
    int pod = b->in->sandbox && b->in->sandbox->windows_security.host_process;
    if (ctr && !pod)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container config: windows.security_context.host_process is set but "
                          "the pod is not a HostProcess pod; a HostProcess container needs a "
                          "pod with windows.security_context.host_process");
    if (pod && !ctr)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container config: the pod is a HostProcess pod, so every container in "
                          "it must set windows.security_context.host_process");
    if (pod && b->in->hyperv)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container config: HostProcess containers run on the host and cannot "
                          "use Hyper-V isolation");
    return pod;
}

/* run_as_username wins over the image's User; with neither, HCS uses the image default. A
 * HostProcess container takes the pod's run_as_username, never the image's User: that names
 * an account inside container images (ContainerUser, ContainerAdministrator), not one on the
 * host (containerd would pass it on, and hcsshim's logon of it fails on the node). */
static void build_user(const wcow_build *b, json_t *process)
{
    const pod_windows_security *sc = container_sc(b);
    const pod_sandbox_config *sb = b->in->sandbox;
    int hp = sb && sb->windows_security.host_process;
    const char *fallback = !hp ? image_str(b, "User")
                           : *sb->windows_security.run_as_username
                               ? sb->windows_security.run_as_username
                               : NULL;
    const char *user = sc && *sc->run_as_username ? sc->run_as_username : fallback;
    if (user)
        json_object_set_new(process, "user", json_pack("{s:s}", "username", user));
}

static int build_process(const wcow_build *b, json_t *spec, wc_err *err)
{
    json_t *process = json_object();
    json_object_set_new(spec, "process", process);
    if (build_args(b, process, err) < 0 || build_env(b, process, err) < 0)
        return -1;
    const char *cwd = *b->cc->working_dir ? b->cc->working_dir : image_str(b, "WorkingDir");
    json_object_set_new(process, "cwd", json_string(cwd ? cwd : DEFAULT_CWD));
    json_object_set_new(process, "terminal", json_boolean(b->cc->tty));
    build_user(b, process);
    return 0;
}

/* ---- mounts ---- */

static int is_pipe_path(const char *p)
{
    return strncmp(p, "\\\\.\\pipe\\", 9) == 0 || strncmp(p, "//./pipe/", 9) == 0;
}

static int has_drive(const char *p)
{
    return isalpha((unsigned char)p[0]) && p[1] == ':';
}

static void backslashes(char *p)
{
    for (; *p; p++)
        if (*p == '/')
            *p = '\\';
}

/* Destinations need a drive letter for HCS ("/data" → "C:\data"); pipes stay as they are. */
static char *mount_destination(const char *dst)
{
    char *out;
    if (is_pipe_path(dst) || has_drive(dst))
        out = wc_xstrdup(dst);
    else
        out = wc_xasprintf("C:%s%s", dst[0] == '/' || dst[0] == '\\' ? "" : "\\", dst);
    backslashes(out);
    return out;
}

static int build_mount(const pod_mount *m, size_t i, json_t *mounts, wc_err *err)
{
    if (*m->image)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "mounts[%zu]: image volumes are not supported for Windows containers", i);
    if (!*m->host_path)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "mounts[%zu]: host_path is required", i);
    if (!*m->container_path)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "mounts[%zu]: container_path is required", i);
    char *src = wc_xstrdup(m->host_path);
    char *dst = mount_destination(m->container_path);
    backslashes(src);
    json_t *o = json_pack("{s:s,s:s,s:[s,s]}", "destination", dst, "source", src, "options",
                          "rbind", m->readonly ? "ro" : "rw");
    free(src);
    free(dst);
    json_array_append_new(mounts, o);
    return 0;
}

static int build_mounts(const wcow_build *b, json_t *spec, wc_err *err)
{
    json_t *mounts = json_array();
    json_object_set_new(spec, "mounts", mounts);
    for (size_t i = 0; i < b->cc->n_mounts; i++)
        if (build_mount(&b->cc->mounts[i], i, mounts, err) < 0)
            return -1;
    return 0;
}

/* ---- windows section ---- */

static int check_range(int64_t v, int64_t max, const char *field, wc_err *err)
{
    if (v < 0 || (max && v > max))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "container config: windows.resources.%s: %lld is out of range (0..%lld)",
                          field, (long long)v, (long long)(max ? max : INT64_MAX));
    return 0;
}

/* CRI WindowsContainerResources → windows.resources: cpu.shares/count/maximum,
 * memory.limit, storage.sandboxSize (rootfs_size_in_bytes). Zero means "not set". */
int pod_wcow_resources(const pod_windows_resources *r, json_t **out, wc_err *err)
{
    *out = NULL;
    if (check_range(r->cpu_shares, 10000, "cpu_shares", err) < 0 ||
        check_range(r->cpu_maximum, 10000, "cpu_maximum", err) < 0 ||
        check_range(r->cpu_count, 0, "cpu_count", err) < 0 ||
        check_range(r->memory_limit_in_bytes, 0, "memory_limit_in_bytes", err) < 0 ||
        check_range(r->rootfs_size_in_bytes, 0, "rootfs_size_in_bytes", err) < 0)
        return -1;
    json_t *res = json_object();
    json_t *cpu = json_object();
    if (r->cpu_shares)
        json_object_set_new(cpu, "shares", json_integer(r->cpu_shares));
    if (r->cpu_count)
        json_object_set_new(cpu, "count", json_integer(r->cpu_count));
    if (r->cpu_maximum)
        json_object_set_new(cpu, "maximum", json_integer(r->cpu_maximum));
    if (json_object_size(cpu))
        json_object_set(res, "cpu", cpu);
    json_decref(cpu);
    if (r->memory_limit_in_bytes)
        json_object_set_new(res, "memory",
                            json_pack("{s:I}", "limit", (json_int_t)r->memory_limit_in_bytes));
    if (r->rootfs_size_in_bytes)
        json_object_set_new(res, "storage",
                            json_pack("{s:I}", "sandboxSize", (json_int_t)r->rootfs_size_in_bytes));
    *out = res;
    return 0;
}

static int build_resources(const wcow_build *b, json_t *win, wc_err *err)
{
    const pod_windows_resources *r = &b->cc->windows_resources;
    json_t *res = NULL;
    if (!r->set)
        return 0;
    if (pod_wcow_resources(r, &res, err) < 0)
        return -1;
    if (json_object_size(res))
        json_object_set(win, "resources", res);
    json_decref(res);
    return 0;
}

/* The pod's HCN namespace, and its DNS search list (servers come with the HCN endpoint). */
static void build_network(const wcow_build *b, json_t *win)
{
    const char *ns = b->in->netns;
    if (!ns || !*ns)
        return;
    json_t *net = json_pack("{s:s}", "networkNamespace", ns);
    const pod_dns *dns = b->in->sandbox ? &b->in->sandbox->dns : NULL;
    if (dns && dns->searches.n) {
        json_t *list = json_array();
        for (size_t i = 0; i < dns->searches.n; i++)
            json_array_append_new(list, json_string(dns->searches.v[i]));
        json_object_set_new(net, "DNSSearchList", list);
    }
    json_object_set_new(win, "network", net);
}

/* The container's gMSA credential spec, else the pod's. */
static void build_credential_spec(const wcow_build *b, json_t *win)
{
    const pod_windows_security *sc = container_sc(b);
    const char *cs = sc && *sc->credential_spec ? sc->credential_spec : NULL;
    const pod_sandbox_config *sb = b->in->sandbox;
    if (!cs && sb && *sb->windows_security.credential_spec)
        cs = sb->windows_security.credential_spec;
    if (cs)
        json_object_set_new(win, "credentialSpec", json_string(cs));
}

/* CRI host_path "class/<GUID>" (or "class://<GUID>") → {"id": GUID, "idType": "class"},
 * as containerd's WithWindowsDevices reads it. */
static int build_device(const pod_device *d, size_t i, json_t *devs, wc_err *err)
{
    const char *hp = d->host_path;
    const char *sep = strstr(hp, "://");
    size_t type_len = sep ? (size_t)(sep - hp) : strcspn(hp, "/");
    const char *id = sep ? sep + 3 : hp + type_len + (hp[type_len] == '/');
    if (type_len == 0 || (!sep && hp[type_len] != '/') || !*id)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "devices[%zu]: host_path \"%s\" must be \"<idType>/<id>\", e.g. "
                          "\"class/5B45201D-F2F2-4F3B-85BB-30FF1F953599\"",
                          i, hp);
    char type[64];
    snprintf(type, sizeof type, "%.*s", (int)(type_len < sizeof type ? type_len : 63), hp);
    json_array_append_new(devs, json_pack("{s:s,s:s}", "id", id, "idType", type));
    return 0;
}

static int build_devices(const wcow_build *b, json_t *win, wc_err *err)
{
    if (b->cc->n_devices == 0)
        return 0;
    json_t *devs = json_array();
    json_object_set_new(win, "devices", devs);
    for (size_t i = 0; i < b->cc->n_devices; i++)
        if (build_device(&b->cc->devices[i], i, devs, err) < 0)
            return -1;
    return 0;
}

static int build_windows(const wcow_build *b, json_t *spec, wc_err *err)
{
    json_t *win = json_object();
    json_object_set_new(spec, "windows", win);
    if (build_resources(b, win, err) < 0 || build_devices(b, win, err) < 0)
        return -1;
    build_network(b, win);
    build_credential_spec(b, win);
    if (b->in->hyperv)
        json_object_set_new(win, "hyperv", json_object());
    return 0;
}

/* ---- the rest ---- */

static const char *hostname_of(const pod_sandbox_config *sb)
{
    if (!sb)
        return NULL;
    return *sb->hostname ? sb->hostname : sb->name;
}

/* A Hyper-V pod's utility VM is sized by the pod's io.microsoft.virtualmachine.*
 * annotations; they ride on each container spec because the backend creates the VM at the
 * pod's first container. Only that prefix (and the pod's process dump location, a default):
 * container settings come from the container. */
static int pod_uvm_annotations(const wcow_build *b, json_t *spec, wc_err *err)
{
    const pod_sandbox_config *sb = b->in->sandbox;
    if (!b->in->hyperv || !sb)
        return 0;
    json_t *from = json_object();
    for (size_t i = 0; i < sb->annotations.n; i++) {
        const char *k = sb->annotations.v[i].key;
        if (strncmp(k, HCS_ANNOTATION_UVM_PREFIX, strlen(HCS_ANNOTATION_UVM_PREFIX)) == 0)
            json_object_set_new(from, k, json_string(sb->annotations.v[i].value));
        /* The pod's process dump location is its containers' default, as hcsshim gives the
         * VM's ProcessDumpLocation (internal/oci/uvm.go) to containers without their own
         * (hcsdoc_wcow.go). */
        else if (strcmp(k, HCS_ANNOTATION_DUMP_LOCATION) == 0 &&
                 !json_object_get(json_object_get(spec, "annotations"), k))
            json_object_set_new(from, k, json_string(sb->annotations.v[i].value));
    }
    int rc = hcs_annotations_passthrough(from, HCS_HANDLER_HYPERV, 1, spec, err);
    json_decref(from);
    return rc < 0 ? -1 : 0;
}

static const char *annotation_of(const pod_kvs *kvs, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; kvs && i < kvs->n; i++)
        if (strcmp(kvs->v[i].key, key) == 0)
            v = kvs->v[i].value;
    return v;
}

/* The HostProcess marker (containerd's annotation), and the two hcsshim options of a
 * HostProcess container (pkg/annotations HostProcessInheritUser, HostProcessRootfsLocation)
 * from the container's annotations, else the pod's. */
static void hostprocess_annotations(const wcow_build *b, json_t *a)
{
    static const char *keys[] = {HCS_ANNOTATION_HOSTPROCESS_INHERIT_USER,
                                 HCS_ANNOTATION_HOSTPROCESS_ROOTFS};
    json_object_set_new(a, HCS_ANNOTATION_HOSTPROCESS, json_string("true"));
    for (size_t i = 0; i < 2; i++) {
        const char *v = annotation_of(&b->cc->annotations, keys[i]);
        if (!v && b->in->sandbox)
            v = annotation_of(&b->in->sandbox->annotations, keys[i]);
        if (v)
            json_object_set_new(a, keys[i], json_string(v));
    }
}

/* wincri's own annotations, then the io.microsoft.* ones the handler passes through. */
static int build_annotations(const wcow_build *b, json_t *spec, wc_err *err)
{
    const pod_container_config *cc = b->cc;
    json_t *a = json_object();
    json_object_set_new(spec, "annotations", a);
    pod_annotate_identity(a, b->in->sandbox, cc, b->in->sandbox_id);
    if (cc->windows_security.host_process)
        hostprocess_annotations(b, a);
    json_t *from = json_object();
    for (size_t i = 0; i < cc->annotations.n; i++)
        json_object_set_new(from, cc->annotations.v[i].key,
                            json_string(cc->annotations.v[i].value));
    int rc = hcs_annotations_passthrough(
        from, b->in->hyperv ? HCS_HANDLER_HYPERV : HCS_HANDLER_PROCESS, 0, spec, err);
    json_decref(from);
    return rc < 0 ? -1 : pod_uvm_annotations(b, spec, err);
}

static int build_all(const wcow_build *b, json_t *spec, wc_err *err)
{
    if (is_host_process(b, err) < 0)
        return -1;
    json_object_set_new(spec, "ociVersion", json_string(OCI_VERSION));
    const char *host = hostname_of(b->in->sandbox);
    if (host && *host)
        json_object_set_new(spec, "hostname", json_string(host));
    if (build_process(b, spec, err) < 0 || build_mounts(b, spec, err) < 0 ||
        build_windows(b, spec, err) < 0 || build_annotations(b, spec, err) < 0)
        return -1;
    return 0;
}

int pod_spec_build_wcow(const pod_wcow_input *in, json_t **spec, wc_err *err)
{
    *spec = NULL;
    if (!in || !in->container)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "container config is missing");
    wcow_build b = {.in = in, .cc = in->container};
    if (parse_image(in->image_config_json, &b.image, err) < 0)
        return -1;
    json_t *s = json_object();
    int rc = build_all(&b, s, err);
    json_decref(b.image);
    if (rc < 0) {
        json_decref(s);
        return -1;
    }
    *spec = s;
    return 0;
}

json_t *pod_wcow_exec_process(const json_t *container_spec, const char *const *cmd, size_t n_cmd,
                              int tty)
{
    json_t *p = pod_spec_exec_base(container_spec, cmd, n_cmd, tty);
    if (p)
        json_object_del(p, "commandLine"); /* it would win over args in hcs_doc_process */
    return p;
}

int pod_wcow_signal(int cri_signal)
{
    switch (cri_signal) {
    case POD_CRI_SIGINT:
        return 2;
    case POD_CRI_SIGKILL:
        return 9;
    case POD_CRI_SIGTERM:
        return 15;
    default:
        return 0; /* no Windows equivalent: the caller falls back to its default stop */
    }
}
