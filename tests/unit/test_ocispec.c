#include "tests/unit/testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cri/podconfig_pb.h"
#include "podsandbox/ocispec.h"

/* One pod and one container as CRI messages, every message linked and initialised. Tests
 * change fields; each build converts them the way cri/ does before the model sees them. */
typedef struct fx {
    Runtime__V1__PodSandboxConfig sb;
    Runtime__V1__PodSandboxMetadata sbmeta;
    Runtime__V1__LinuxPodSandboxConfig sblinux;
    Runtime__V1__LinuxSandboxSecurityContext psc;
    Runtime__V1__ContainerConfig cc;
    Runtime__V1__ContainerMetadata meta;
    Runtime__V1__ImageSpec image;
    Runtime__V1__LinuxContainerConfig lc;
    Runtime__V1__LinuxContainerSecurityContext sc;
    Runtime__V1__NamespaceOption ns;
    Runtime__V1__LinuxContainerResources res;
    pod_spec_host host;
    pod_spec_input in;
    char *image_json;
} fx;

#define ALL_CAPS ((UINT64_C(1) << 41) - 1)
#define CAP_SYS_RESOURCE_BIT (UINT64_C(1) << 24)

static int fake_device(void *ctx, const char *path, pod_spec_device *out)
{
    (void)ctx;
    if (strcmp(path, "/dev/fake0") == 0) {
        *out = (pod_spec_device){'c', 10, 200, 0660};
        return 0;
    }
    if (strcmp(path, "/dev/fakeblk") == 0) {
        *out = (pod_spec_device){'b', 8, 1, 0640};
        return 0;
    }
    errno = ENOENT;
    return -1;
}

static void fx_init(fx *f)
{
    memset(f, 0, sizeof *f);
    runtime__v1__pod_sandbox_config__init(&f->sb);
    runtime__v1__pod_sandbox_metadata__init(&f->sbmeta);
    runtime__v1__linux_pod_sandbox_config__init(&f->sblinux);
    runtime__v1__linux_sandbox_security_context__init(&f->psc);
    runtime__v1__container_config__init(&f->cc);
    runtime__v1__container_metadata__init(&f->meta);
    runtime__v1__image_spec__init(&f->image);
    runtime__v1__linux_container_config__init(&f->lc);
    runtime__v1__linux_container_security_context__init(&f->sc);
    runtime__v1__namespace_option__init(&f->ns);
    runtime__v1__linux_container_resources__init(&f->res);
    f->sbmeta.name = "web";
    f->sbmeta.namespace_ = "default";
    f->sbmeta.uid = "uid-1";
    f->sb.metadata = &f->sbmeta;
    f->sb.hostname = "web-0";
    f->sb.linux = &f->sblinux;
    f->sblinux.security_context = &f->psc;
    f->meta.name = "app";
    f->image.image = "busybox:latest";
    f->cc.metadata = &f->meta;
    f->cc.image = &f->image;
    f->cc.linux = &f->lc;
    f->lc.security_context = &f->sc;
    f->sc.namespace_options = &f->ns;
    f->ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    f->host.device = fake_device;
    f->host.caps = ALL_CAPS & ~CAP_SYS_RESOURCE_BIT;
    f->host.oom_score_adj_min = -1000;
    f->host.swap_controller = 1;
    f->in.sandbox_id = "sb1";
    f->in.container_id = "c1";
    f->in.netns_path = "/run/netns/wincri-sb1";
    f->in.ipc_ns_path = "/proc/42/ns/ipc";
    f->in.uts_ns_path = "/proc/42/ns/uts";
    f->in.resolv_conf_path = "/var/lib/wincri/sb1/resolv.conf";
    f->in.hosts_path = "/var/lib/wincri/sb1/hosts";
    f->in.hostname_path = "/var/lib/wincri/sb1/hostname";
    f->in.cgroup_parent = "/wincri/sb1";
    f->in.host = &f->host;
    f->in.image_config_json =
        "{\"config\":{\"Entrypoint\":[\"/entry\"],\"Cmd\":[\"serve\"],\"Env\":[\"A=1\"]}}";
}

/* pod_spec_build_linux on the fixture's messages, converted as cri/ converts them. */
static int build(fx *f, json_t **spec, wc_err *err)
{
    pod_sandbox_config *sb = cri_sandbox_config_from_pb(&f->sb);
    pod_container_config *cc = cri_container_config_from_pb(&f->cc);
    pod_spec_input in = f->in;
    in.sandbox = sb;
    in.container = cc;
    int rc = pod_spec_build_linux(&in, spec, err);
    pod_sandbox_config_unref(sb);
    pod_container_config_unref(cc);
    return rc;
}

static json_t *build_ok(fx *f)
{
    json_t *spec = NULL;
    wc_err err = {0};
    int rc = build(f, &spec, &err);
    if (rc != 0)
        fail_msg("build failed: %s", err.msg);
    assert_non_null(spec);
    return spec;
}

static wc_err build_err(fx *f)
{
    json_t *spec = NULL;
    wc_err err = {0};
    assert_int_equal(build(f, &spec, &err), -1);
    assert_null(spec);
    return err;
}

/* "a.b.0.c": object keys and array indexes. */
static json_t *jp(json_t *j, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && j; t = strtok_r(NULL, ".", &save))
        j = json_is_array(j) ? json_array_get(j, strtoul(t, NULL, 10)) : json_object_get(j, t);
    return j;
}

static const char *js(json_t *j, const char *path)
{
    return json_string_value(jp(j, path));
}

/* Joins a string array with spaces (static buffer). */
static const char *joined(json_t *arr)
{
    static char buf[1024];
    size_t i, o = 0;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        o += snprintf(buf + o, sizeof buf - o, "%s%s", i ? " " : "", json_string_value(v));
    }
    return buf;
}

static int has_str(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

static json_t *find_by(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(json_object_get(v, key));
        if (s && strcmp(s, value) == 0)
            return v;
    }
    return NULL;
}

static int count_by(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *v;
    int n = 0;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(json_object_get(v, key));
        n += s && strcmp(s, value) == 0;
    }
    return n;
}

static size_t count(char **v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static void args_table(void **state)
{
    static char *cmd[] = {"/bin/sh", "-c", NULL}, *args[] = {"echo hi", NULL}, *none[] = {NULL};
    struct {
        char **command, **args;
        const char *image, *want; /* want NULL: error */
    } cases[] = {
        {none, none, "{\"config\":{\"Entrypoint\":[\"/e\"],\"Cmd\":[\"c1\",\"c2\"]}}", "/e c1 c2"},
        {cmd, none, "{\"config\":{\"Entrypoint\":[\"/e\"],\"Cmd\":[\"c1\"]}}", "/bin/sh -c"},
        {none, args, "{\"config\":{\"Entrypoint\":[\"/e\"],\"Cmd\":[\"c1\"]}}", "/e echo hi"},
        {cmd, args, "{\"config\":{\"Entrypoint\":[\"/e\"],\"Cmd\":[\"c1\"]}}",
         "/bin/sh -c echo hi"},
        {none, none, "{\"config\":{\"Cmd\":[\"/c\"]}}", "/c"},
        {none, args, "{\"config\":{}}", "echo hi"},
        {none, none, "{\"config\":{}}", NULL},
        {none, none, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx f;
        fx_init(&f);
        f.cc.command = cases[i].command;
        f.cc.n_command = count(cases[i].command);
        f.cc.args = cases[i].args;
        f.cc.n_args = count(cases[i].args);
        f.in.image_config_json = cases[i].image;
        if (!cases[i].want) {
            wc_err err = build_err(&f);
            assert_int_equal(err.code, WC_INVALID_ARGUMENT);
            assert_string_equal(err.msg,
                                "container config: no command specified and the image has none");
            continue;
        }
        json_t *s = build_ok(&f);
        assert_string_equal(joined(jp(s, "process.args")), cases[i].want);
        json_decref(s);
    }
}

static void env_merge(void **state)
{
    fx f;
    fx_init(&f);
    f.in.image_config_json = "{\"config\":{\"Cmd\":[\"/c\"],\"Env\":[\"PATH=/img\",\"A=1\","
                             "\"B=2\"],\"WorkingDir\":\"/srv\"}}";
    Runtime__V1__KeyValue a = RUNTIME__V1__KEY_VALUE__INIT, c = RUNTIME__V1__KEY_VALUE__INIT;
    a.key = "A";
    a.value = "x";
    c.key = "C";
    c.value = "3=4";
    Runtime__V1__KeyValue *envs[] = {&a, &c};
    f.cc.envs = envs;
    f.cc.n_envs = 2;
    json_t *s = build_ok(&f);
    assert_string_equal(joined(jp(s, "process.env")), "PATH=/img HOSTNAME=web-0 A=x B=2 C=3=4");
    assert_string_equal(js(s, "process.cwd"), "/srv");
    json_decref(s);

    /* Default PATH, TERM with a tty, working_dir wins over the image. */
    f.in.image_config_json = "{\"config\":{\"Cmd\":[\"/c\"],\"WorkingDir\":\"/srv\"}}";
    f.cc.tty = 1;
    f.cc.working_dir = "/work";
    s = build_ok(&f);
    json_t *env = jp(s, "process.env");
    assert_true(has_str(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
    assert_true(has_str(env, "TERM=xterm"));
    assert_true(json_is_true(jp(s, "process.terminal")));
    assert_string_equal(js(s, "process.cwd"), "/work");
    json_decref(s);

    f.in.image_config_json = "{\"config\":{\"Cmd\":[\"/c\"]}}";
    f.cc.working_dir = "";
    s = build_ok(&f);
    assert_string_equal(js(s, "process.cwd"), "/");
    json_decref(s);
}

static const char *user_annotation(json_t *spec)
{
    return json_string_value(
        json_object_get(json_object_get(spec, "annotations"), "io.wincri.user"));
}

static void user_ids(void **state)
{
    fx f;
    fx_init(&f);
    Runtime__V1__Int64Value uid = RUNTIME__V1__INT64_VALUE__INIT,
                            gid = RUNTIME__V1__INT64_VALUE__INIT;
    uid.value = 1000;
    gid.value = 2000;
    int64_t groups[] = {5, 6};
    f.sc.run_as_user = &uid;
    f.sc.run_as_group = &gid;
    f.sc.supplemental_groups = groups;
    f.sc.n_supplemental_groups = 2;
    f.sc.no_new_privs = 1;
    json_t *s = build_ok(&f);
    assert_int_equal(json_integer_value(jp(s, "process.user.uid")), 1000);
    assert_int_equal(json_integer_value(jp(s, "process.user.gid")), 2000);
    assert_int_equal(json_integer_value(jp(s, "process.user.additionalGids.1")), 6);
    assert_true(json_is_true(jp(s, "process.noNewPrivileges")));
    assert_string_equal(user_annotation(s), "1000:2000");
    json_decref(s);

    /* A user name is left to the backend: uid 0 plus the annotation. */
    f.sc.run_as_user = NULL;
    f.sc.run_as_group = NULL;
    f.sc.run_as_username = "nginx";
    s = build_ok(&f);
    assert_int_equal(json_integer_value(jp(s, "process.user.uid")), 0);
    assert_string_equal(user_annotation(s), "nginx");
    json_decref(s);

    /* The image's numeric User, then its named User. */
    f.sc.run_as_username = "";
    f.in.image_config_json = "{\"config\":{\"Cmd\":[\"/c\"],\"User\":\"33:44\"}}";
    s = build_ok(&f);
    assert_int_equal(json_integer_value(jp(s, "process.user.uid")), 33);
    assert_int_equal(json_integer_value(jp(s, "process.user.gid")), 44);
    assert_string_equal(user_annotation(s), "33:44");
    json_decref(s);
    f.in.image_config_json = "{\"config\":{\"Cmd\":[\"/c\"],\"User\":\"www-data\"}}";
    s = build_ok(&f);
    assert_int_equal(json_integer_value(jp(s, "process.user.uid")), 0);
    assert_string_equal(user_annotation(s), "www-data");
    json_decref(s);

    /* run_as_group with the image's user is refused, as containerd does; with a name it
     * rides on the annotation; Strict is passed on. */
    f.in.image_config_json = "{\"config\":{\"Cmd\":[\"/c\"]}}";
    f.sc.run_as_group = &gid;
    wc_err gerr = build_err(&f);
    assert_int_equal(gerr.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(gerr.msg, "run_as_group"));
    f.sc.run_as_username = "app";
    f.sc.supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
    s = build_ok(&f);
    assert_string_equal(user_annotation(s), "app:2000");
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "annotations"),
                                                          "io.wincri.supplemental-groups-policy")),
                        "Strict");
    json_decref(s);
    f.sc.run_as_username = "";
    f.sc.run_as_group = NULL;

    uid.value = -1;
    f.sc.run_as_user = &uid;
    wc_err err = build_err(&f);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "run_as_user"));
}

static void readonly_rootfs(void **state)
{
    fx f;
    fx_init(&f);
    json_t *s = build_ok(&f);
    assert_true(json_is_false(jp(s, "root.readonly")));
    assert_string_equal(js(s, "root.path"), "rootfs");
    json_t *hosts = find_by(jp(s, "mounts"), "destination", "/etc/hosts");
    assert_true(has_str(json_object_get(hosts, "options"), "rw"));
    json_decref(s);
    f.sc.readonly_rootfs = 1;
    s = build_ok(&f);
    assert_true(json_is_true(jp(s, "root.readonly")));
    json_t *m = jp(s, "mounts");
    assert_string_equal(js(find_by(m, "destination", "/etc/hosts"), "source"),
                        "/var/lib/wincri/sb1/hosts");
    assert_true(has_str(jp(find_by(m, "destination", "/etc/hosts"), "options"), "ro"));
    assert_true(has_str(jp(find_by(m, "destination", "/etc/resolv.conf"), "options"), "ro"));
    assert_true(has_str(jp(find_by(m, "destination", "/etc/hostname"), "options"), "ro"));
    json_decref(s);
}

static void privileged(void **state)
{
    fx f;
    fx_init(&f);
    f.sc.privileged = 1;
    wc_err err = build_err(&f);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "privileged"));

    f.psc.privileged = 1;
    Runtime__V1__SecurityProfile sp = RUNTIME__V1__SECURITY_PROFILE__INIT; /* RuntimeDefault */
    f.sc.seccomp = &sp;
    json_t *s = build_ok(&f);
    json_t *bnd = jp(s, "process.capabilities.bounding");
    assert_int_equal(json_array_size(bnd), 40); /* every cap the daemon has */
    assert_true(has_str(bnd, "CAP_SYS_ADMIN"));
    assert_false(has_str(bnd, "CAP_SYS_RESOURCE"));
    assert_null(jp(s, "linux.seccomp"));
    assert_null(jp(s, "linux.maskedPaths"));
    assert_null(jp(s, "linux.readonlyPaths"));
    assert_int_equal(json_array_size(jp(s, "linux.resources.devices")), 1);
    assert_true(json_is_true(jp(s, "linux.resources.devices.0.allow")));
    assert_string_equal(js(s, "linux.resources.devices.0.access"), "rwm");
    json_t *sys = find_by(jp(s, "mounts"), "destination", "/sys");
    assert_true(has_str(json_object_get(sys, "options"), "rw"));
    json_t *cg = find_by(jp(s, "mounts"), "destination", "/sys/fs/cgroup");
    assert_true(has_str(json_object_get(cg, "options"), "rw"));
    json_decref(s);

    f.sc.privileged = 0;
    s = build_ok(&f);
    sys = find_by(jp(s, "mounts"), "destination", "/sys");
    assert_true(has_str(json_object_get(sys, "options"), "ro"));
    json_decref(s);
}

static void caps_add_drop(void **state)
{
    fx f;
    fx_init(&f);
    Runtime__V1__Capability caps = RUNTIME__V1__CAPABILITY__INIT;
    f.sc.capabilities = &caps;
    json_t *s = build_ok(&f);
    assert_string_equal(joined(jp(s, "process.capabilities.bounding")),
                        "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID "
                        "CAP_SETUID CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_CHROOT "
                        "CAP_MKNOD CAP_AUDIT_WRITE CAP_SETFCAP");
    json_decref(s);

    char *add[] = {"NET_ADMIN", "cap_sys_time"}, *drop[] = {"CHOWN", "KILL"};
    caps.add_capabilities = add;
    caps.n_add_capabilities = 2;
    caps.drop_capabilities = drop;
    caps.n_drop_capabilities = 2;
    s = build_ok(&f);
    json_t *eff = jp(s, "process.capabilities.effective");
    assert_true(has_str(eff, "CAP_NET_ADMIN"));
    assert_true(has_str(eff, "CAP_SYS_TIME"));
    assert_false(has_str(eff, "CAP_CHOWN"));
    assert_false(has_str(eff, "CAP_KILL"));
    assert_true(has_str(eff, "CAP_SETUID"));
    json_decref(s);

    char *all[] = {"ALL"}, *chown[] = {"CHOWN"};
    caps.add_capabilities = all;
    caps.n_add_capabilities = 1;
    caps.drop_capabilities = chown;
    caps.n_drop_capabilities = 1;
    s = build_ok(&f);
    eff = jp(s, "process.capabilities.permitted");
    assert_int_equal(json_array_size(eff), 39);
    assert_false(has_str(eff, "CAP_CHOWN"));
    json_decref(s);

    char *kill[] = {"KILL"};
    caps.add_capabilities = kill;
    caps.drop_capabilities = all;
    char *amb[] = {"NET_BIND_SERVICE"};
    caps.add_ambient_capabilities = amb;
    caps.n_add_ambient_capabilities = 1;
    s = build_ok(&f);
    assert_string_equal(joined(jp(s, "process.capabilities.bounding")),
                        "CAP_KILL CAP_NET_BIND_SERVICE");
    assert_string_equal(joined(jp(s, "process.capabilities.ambient")), "CAP_NET_BIND_SERVICE");
    assert_string_equal(joined(jp(s, "process.capabilities.inheritable")), "CAP_NET_BIND_SERVICE");
    json_decref(s);

    char *bogus[] = {"FLY"};
    caps.add_capabilities = bogus;
    wc_err err = build_err(&f);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "add_capabilities[0]: unknown capability \"FLY\""));
}

static Runtime__V1__Mount mnt(const char *dst, const char *src, int ro,
                              Runtime__V1__MountPropagation prop)
{
    Runtime__V1__Mount m = RUNTIME__V1__MOUNT__INIT;
    m.container_path = (char *)dst;
    m.host_path = (char *)src;
    m.readonly = ro;
    m.propagation = prop;
    return m;
}

static void bind_mounts(void **state)
{
    fx f;
    fx_init(&f);
    Runtime__V1__Mount m[] = {
        mnt("/data/sub", "/h/sub", 0, RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE),
        mnt("/data", "/h/data", 1, RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER),
        mnt("/etc/hosts", "/kubelet/hosts", 0, RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE),
        mnt("/x/", "/h/x1", 0, RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE),
        mnt("/shared", "/h/shared", 0, RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL),
        mnt("/x", "/h/x2", 0, RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE),
        mnt("/dev/shm", "/h/shm", 0, RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE),
    };
    Runtime__V1__Mount *mp[] = {&m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &m[6]};
    f.cc.mounts = mp;
    f.cc.n_mounts = 7;
    json_t *s = build_ok(&f);
    json_t *ms = jp(s, "mounts");
    /* Defaults first, then binds parents first, in the given order among equals. */
    char order[512] = "";
    size_t i;
    json_t *v;
    json_array_foreach(ms, i, v)
    {
        strcat(order, js(v, "destination"));
        strcat(order, " ");
    }
    assert_string_equal(order, "/proc /dev /dev/pts /dev/mqueue /sys /sys/fs/cgroup /data /x "
                               "/shared /data/sub /etc/hosts /dev/shm /etc/hostname "
                               "/etc/resolv.conf ");
    assert_string_equal(joined(jp(find_by(ms, "destination", "/data"), "options")),
                        "rbind rslave ro");
    assert_string_equal(joined(jp(find_by(ms, "destination", "/data/sub"), "options")),
                        "rbind rprivate rw");
    assert_string_equal(joined(jp(find_by(ms, "destination", "/shared"), "options")),
                        "rbind rshared rw");
    assert_string_equal(js(find_by(ms, "destination", "/x"), "source"), "/h/x2");
    assert_int_equal(count_by(ms, "destination", "/x"), 1);
    assert_string_equal(js(find_by(ms, "destination", "/etc/hosts"), "source"), "/kubelet/hosts");
    assert_string_equal(js(find_by(ms, "destination", "/dev/shm"), "type"), "bind");
    assert_string_equal(js(s, "linux.rootfsPropagation"), "rshared");
    json_decref(s);

    /* Only a slave bind: rslave root. No bind: no rootfsPropagation. */
    f.cc.mounts = &mp[1];
    f.cc.n_mounts = 1;
    s = build_ok(&f);
    assert_string_equal(js(s, "linux.rootfsPropagation"), "rslave");
    json_decref(s);

    m[1].container_path = "relative/path";
    f.cc.mounts = mp;
    f.cc.n_mounts = 3;
    wc_err err = build_err(&f);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_string_equal(err.msg, "container config: mounts[1].container_path: \"relative/path\" "
                                 "is not an absolute path");
    m[1].container_path = "";
    err = build_err(&f);
    assert_non_null(strstr(err.msg, "mounts[1].container_path"));
    m[1].container_path = "/data";
    m[1].recursive_read_only = 1;
    err = build_err(&f);
    assert_non_null(strstr(err.msg, "mounts[1].recursive_read_only"));
    m[1].propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE;
    s = build_ok(&f);
    assert_string_equal(joined(jp(find_by(jp(s, "mounts"), "destination", "/data"), "options")),
                        "rbind rprivate rro");
    json_decref(s);

    /* A CRI /dev replaces every default mount below /dev. */
    m[0] = mnt("/dev", "/h/dev", 0, RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE);
    f.cc.n_mounts = 1;
    s = build_ok(&f);
    assert_null(find_by(jp(s, "mounts"), "destination", "/dev/pts"));
    assert_string_equal(js(find_by(jp(s, "mounts"), "destination", "/dev"), "type"), "bind");
    json_decref(s);
}

static const char *ns_path(json_t *s, const char *type, int *present)
{
    json_t *n = find_by(jp(s, "linux.namespaces"), "type", type);
    *present = n != NULL;
    return n ? js(n, "path") : NULL;
}

static void namespaces(void **state)
{
    fx f;
    fx_init(&f);
    int present;
    json_t *s = build_ok(&f);
    assert_string_equal(ns_path(s, "network", &present), "/run/netns/wincri-sb1");
    assert_string_equal(ns_path(s, "ipc", &present), "/proc/42/ns/ipc");
    assert_string_equal(ns_path(s, "uts", &present), "/proc/42/ns/uts");
    assert_null(ns_path(s, "pid", &present));
    assert_true(present);
    assert_null(ns_path(s, "mount", &present));
    assert_true(present);
    ns_path(s, "cgroup", &present);
    assert_false(present);
    assert_string_equal(js(s, "hostname"), "web-0");
    json_decref(s);

    /* NODE: the host's namespaces, no hostname; CONTAINER: fresh ones. */
    f.ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
    f.ns.ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
    f.ns.pid = RUNTIME__V1__NAMESPACE_MODE__NODE;
    f.host.cgroupns = 1;
    s = build_ok(&f);
    const char *types[] = {"network", "ipc", "uts", "pid"};
    for (size_t i = 0; i < 4; i++) {
        ns_path(s, types[i], &present);
        assert_false(present);
    }
    ns_path(s, "cgroup", &present);
    assert_true(present);
    assert_null(jp(s, "hostname"));
    /* Host IPC: the host's /dev/shm instead of a private tmpfs. */
    assert_string_equal(js(find_by(jp(s, "mounts"), "destination", "/dev/shm"), "source"),
                        "/dev/shm");
    json_decref(s);

    f.ns.network = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    f.ns.ipc = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    s = build_ok(&f);
    assert_null(ns_path(s, "network", &present));
    assert_true(present);
    assert_null(ns_path(s, "ipc", &present));
    assert_true(present);
    assert_string_equal(js(find_by(jp(s, "mounts"), "destination", "/dev/shm"), "type"), "tmpfs");
    json_decref(s);

    /* POD without a pinned namespace: a fresh one. */
    f.ns.network = RUNTIME__V1__NAMESPACE_MODE__POD;
    f.in.netns_path = NULL;
    s = build_ok(&f);
    assert_null(ns_path(s, "network", &present));
    assert_true(present);
    json_decref(s);

    /* POD and TARGET join the PID namespace the pod model resolved, and need one. */
    f.ns.pid = RUNTIME__V1__NAMESPACE_MODE__POD;
    wc_err err = build_err(&f);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    assert_non_null(strstr(err.msg, "mode POD"));
    f.in.pid_ns_path = "/proc/4242/ns/pid";
    s = build_ok(&f);
    assert_string_equal(ns_path(s, "pid", &present), "/proc/4242/ns/pid");
    json_decref(s);
    f.ns.pid = RUNTIME__V1__NAMESPACE_MODE__TARGET;
    f.ns.target_id = "abc";
    f.in.pid_ns_path = "/proc/77/ns/pid";
    s = build_ok(&f);
    assert_string_equal(ns_path(s, "pid", &present), "/proc/77/ns/pid");
    json_decref(s);
    f.in.pid_ns_path = NULL;
    err = build_err(&f);
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    assert_non_null(strstr(err.msg, "TARGET"));

    /* No options at all: kubelet's defaults (pod network/IPC, own PID namespace). */
    f.sc.namespace_options = NULL;
    f.psc.namespace_options = NULL;
    f.in.netns_path = "/run/netns/x";
    s = build_ok(&f);
    assert_string_equal(ns_path(s, "network", &present), "/run/netns/x");
    ns_path(s, "pid", &present);
    assert_true(present);
    json_decref(s);
}

static void resources(void **state)
{
    fx f;
    fx_init(&f);
    Runtime__V1__HugepageLimit hp = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
    hp.page_size = "2MB";
    hp.limit = 4194304;
    Runtime__V1__HugepageLimit *hps[] = {&hp};
    Runtime__V1__LinuxContainerResources__UnifiedEntry u =
        RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
    u.key = "memory.high";
    u.value = "1000000";
    Runtime__V1__LinuxContainerResources__UnifiedEntry *us[] = {&u};
    f.res.cpu_shares = 512;
    f.res.cpu_quota = 50000;
    f.res.cpu_period = 100000;
    f.res.cpuset_cpus = "0-1";
    f.res.cpuset_mems = "0";
    f.res.memory_limit_in_bytes = 64 << 20;
    f.res.oom_score_adj = 500;
    f.res.hugepage_limits = hps;
    f.res.n_hugepage_limits = 1;
    f.res.unified = us;
    f.res.n_unified = 1;
    f.lc.resources = &f.res;
    json_t *s = build_ok(&f);
    json_t *r = jp(s, "linux.resources");
    assert_int_equal(json_integer_value(jp(r, "cpu.shares")), 512);
    assert_int_equal(json_integer_value(jp(r, "cpu.quota")), 50000);
    assert_int_equal(json_integer_value(jp(r, "cpu.period")), 100000);
    assert_string_equal(js(r, "cpu.cpus"), "0-1");
    assert_string_equal(js(r, "cpu.mems"), "0");
    assert_int_equal(json_integer_value(jp(r, "memory.limit")), 64 << 20);
    assert_int_equal(json_integer_value(jp(r, "memory.swap")), 64 << 20);
    assert_string_equal(js(r, "hugepageLimits.0.pageSize"), "2MB");
    assert_int_equal(json_integer_value(jp(r, "hugepageLimits.0.limit")), 4194304);
    assert_string_equal(json_string_value(json_object_get(jp(r, "unified"), "memory.high")),
                        "1000000");
    assert_int_equal(json_integer_value(jp(s, "process.oomScoreAdj")), 500);
    assert_string_equal(js(s, "linux.cgroupsPath"), "/wincri/sb1/c1");
    json_decref(s);

    /* No swap controller: no swap limit; an explicit swap limit wins; OOM clamped. */
    f.host.swap_controller = 0;
    f.host.oom_score_adj_min = 0;
    f.res.oom_score_adj = -998;
    s = build_ok(&f);
    assert_null(jp(s, "linux.resources.memory.swap"));
    assert_int_equal(json_integer_value(jp(s, "process.oomScoreAdj")), 0);
    json_decref(s);
    f.host.swap_controller = 1;
    f.res.memory_swap_limit_in_bytes = 128 << 20;
    s = build_ok(&f);
    assert_int_equal(json_integer_value(jp(s, "linux.resources.memory.swap")), 128 << 20);
    json_decref(s);

    f.res.cpu_quota = -1;
    wc_err err = build_err(&f);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_string_equal(err.msg, "container config: linux.resources.cpu_quota: must not be "
                                 "negative (got -1)");
    f.res.cpu_quota = 0;
    f.res.memory_limit_in_bytes = -5;
    err = build_err(&f);
    assert_non_null(strstr(err.msg, "linux.resources.memory_limit_in_bytes"));
    f.res.memory_limit_in_bytes = 0;
    f.res.oom_score_adj = 2000;
    err = build_err(&f);
    assert_non_null(strstr(err.msg, "linux.resources.oom_score_adj"));
}

static void devices(void **state)
{
    fx f;
    fx_init(&f);
    Runtime__V1__Device d1 = RUNTIME__V1__DEVICE__INIT, d2 = RUNTIME__V1__DEVICE__INIT;
    d1.host_path = "/dev/fake0";
    d1.container_path = "/dev/net/tun";
    d1.permissions = "rw";
    d2.host_path = "/dev/fakeblk";
    d2.container_path = "/dev/xvda";
    d2.permissions = "";
    Runtime__V1__Device *ds[] = {&d1, &d2};
    f.cc.devices = ds;
    f.cc.n_devices = 2;
    json_t *s = build_ok(&f);
    json_t *dev = jp(s, "linux.devices.0");
    assert_string_equal(js(dev, "path"), "/dev/net/tun");
    assert_string_equal(js(dev, "type"), "c");
    assert_int_equal(json_integer_value(jp(dev, "major")), 10);
    assert_int_equal(json_integer_value(jp(dev, "minor")), 200);
    assert_int_equal(json_integer_value(jp(dev, "fileMode")), 0660);
    assert_string_equal(js(s, "linux.devices.1.type"), "b");
    json_t *rules = jp(s, "linux.resources.devices");
    assert_true(json_is_false(jp(rules, "0.allow")));
    assert_int_equal(json_array_size(rules), 1 + 9 + 2);
    json_t *last = json_array_get(rules, json_array_size(rules) - 2);
    assert_string_equal(js(last, "access"), "rw");
    assert_int_equal(json_integer_value(jp(last, "major")), 10);
    assert_string_equal(js(json_array_get(rules, json_array_size(rules) - 1), "access"), "rwm");
    json_t *pts = json_array_get(rules, 9);
    assert_int_equal(json_integer_value(jp(pts, "major")), 136);
    assert_null(jp(pts, "minor"));
    json_decref(s);

    d2.host_path = "/dev/missing";
    wc_err err = build_err(&f);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "devices[1].host_path: /dev/missing"));
    d2.host_path = "/dev/fakeblk";
    d1.permissions = "rwx";
    err = build_err(&f);
    assert_non_null(strstr(err.msg, "devices[0].permissions"));
}

static json_t *rule_for(json_t *seccomp, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(seccomp, "syscalls"), i, r)
    {
        if (has_str(json_object_get(r, "names"), name))
            return r;
    }
    return NULL;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void seccomp_modes(void **state)
{
    fx f;
    fx_init(&f);
    json_t *s = build_ok(&f);
    assert_null(jp(s, "linux.seccomp")); /* nothing asked: unconfined */
    json_decref(s);

    Runtime__V1__SecurityProfile sp = RUNTIME__V1__SECURITY_PROFILE__INIT;
    f.sc.seccomp = &sp;
    s = build_ok(&f);
    json_t *sc = jp(s, "linux.seccomp");
    assert_string_equal(js(sc, "defaultAction"), "SCMP_ACT_ERRNO");
    assert_true(has_str(json_object_get(sc, "architectures"), "SCMP_ARCH_X86_64"));
    assert_non_null(rule_for(sc, "read"));
    assert_non_null(rule_for(sc, "arch_prctl"));
    assert_null(rule_for(sc, "mount")); /* needs CAP_SYS_ADMIN */
    json_t *clone = rule_for(sc, "clone");
    assert_string_equal(js(clone, "args.0.op"), "SCMP_CMP_MASKED_EQ");
    assert_int_equal(json_integer_value(jp(rule_for(sc, "clone3"), "errnoRet")), 38);
    json_decref(s);

    sp.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
    s = build_ok(&f);
    assert_null(jp(s, "linux.seccomp"));
    json_decref(s);

    /* A Docker-form profile: conditional rules follow the container's capabilities. */
    char path[] = "/tmp/wincri-seccomp-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":[{\"architecture\":"
                     "\"SCMP_ARCH_X86_64\",\"subArchitectures\":[\"SCMP_ARCH_X86\"]}],"
                     "\"syscalls\":[{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                     "{\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":"
                     "{\"caps\":[\"CAP_SYS_ADMIN\"]}},{\"name\":\"kill\",\"action\":"
                     "\"SCMP_ACT_ALLOW\",\"excludes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}}]}");
    sp.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
    sp.localhost_ref = path;
    s = build_ok(&f);
    sc = jp(s, "linux.seccomp");
    assert_string_equal(joined(json_object_get(sc, "architectures")),
                        "SCMP_ARCH_X86_64 SCMP_ARCH_X86");
    assert_non_null(rule_for(sc, "write"));
    assert_null(rule_for(sc, "mount"));
    assert_non_null(rule_for(sc, "kill"));
    json_decref(s);

    /* The deprecated string form. */
    f.sc.seccomp = NULL;
    char legacy[128];
    snprintf(legacy, sizeof legacy, "localhost/%s", path);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    f.sc.seccomp_profile_path = legacy;
    s = build_ok(&f);
    assert_non_null(rule_for(jp(s, "linux.seccomp"), "write"));
    json_decref(s);
    f.sc.seccomp_profile_path = "runtime/default";
    s = build_ok(&f);
    assert_non_null(rule_for(jp(s, "linux.seccomp"), "futex"));
    json_decref(s);
    f.sc.seccomp_profile_path = "unconfined";
    s = build_ok(&f);
    assert_null(jp(s, "linux.seccomp"));
    json_decref(s);
    f.sc.seccomp_profile_path = "bogus";
    wc_err err = build_err(&f);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    f.sc.seccomp_profile_path = "";
#pragma GCC diagnostic pop

    f.sc.seccomp = &sp;
    write_file(path, "{not json");
    err = build_err(&f);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    err = build_err(&f);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, path));
}

static void masked_readonly(void **state)
{
    fx f;
    fx_init(&f);
    json_t *s = build_ok(&f);
    json_t *m = jp(s, "linux.maskedPaths"), *r = jp(s, "linux.readonlyPaths");
    assert_int_equal(json_array_size(m), 10);
    assert_true(has_str(m, "/proc/kcore"));
    assert_true(has_str(m, "/sys/firmware"));
    assert_string_equal(joined(r),
                        "/proc/asound /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger");
    json_decref(s);
    char *mp[] = {"/proc/x"}, *rp[] = {"/proc/y", "/proc/z"};
    f.sc.masked_paths = mp;
    f.sc.n_masked_paths = 1;
    f.sc.readonly_paths = rp;
    f.sc.n_readonly_paths = 2;
    s = build_ok(&f);
    assert_string_equal(joined(jp(s, "linux.maskedPaths")), "/proc/x");
    assert_string_equal(joined(jp(s, "linux.readonlyPaths")), "/proc/y /proc/z");
    json_decref(s);
}

static void sysctls_annotations(void **state)
{
    fx f;
    fx_init(&f);
    Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry e =
        RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__SYSCTLS_ENTRY__INIT;
    e.key = "net.ipv4.ip_unprivileged_port_start";
    e.value = "0";
    Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry *es[] = {&e};
    f.sblinux.sysctls = es;
    f.sblinux.n_sysctls = 1;
    Runtime__V1__ContainerConfig__AnnotationsEntry a =
        RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT;
    a.key = "team";
    a.value = "blue";
    Runtime__V1__ContainerConfig__AnnotationsEntry *as[] = {&a};
    f.cc.annotations = as;
    f.cc.n_annotations = 1;
    json_t *s = build_ok(&f);
    assert_string_equal(json_string_value(json_object_get(jp(s, "linux.sysctl"), e.key)), "0");
    json_t *an = json_object_get(s, "annotations");
    assert_string_equal(json_string_value(json_object_get(an, "team")), "blue");
    assert_string_equal(json_string_value(json_object_get(an, "io.wincri.sandbox-id")), "sb1");
    assert_string_equal(json_string_value(json_object_get(an, "io.wincri.container-name")), "app");
    assert_string_equal(json_string_value(json_object_get(an, "io.wincri.container-type")),
                        "container");
    assert_string_equal(js(s, "process.rlimits.0.type"), "RLIMIT_NOFILE");
    assert_int_equal(json_integer_value(jp(s, "process.rlimits.0.hard")), 1048576);
    json_decref(s);

    /* The daemon's own hard limit caps RLIMIT_NOFILE; no cgroup parent: from the sandbox. */
    f.host.nofile_max = 20000;
    f.in.cgroup_parent = NULL;
    f.sblinux.cgroup_parent = "/kubepods/pod1/";
    s = build_ok(&f);
    assert_int_equal(json_integer_value(jp(s, "process.rlimits.0.soft")), 20000);
    assert_string_equal(js(s, "linux.cgroupsPath"), "/kubepods/pod1/c1");
    json_decref(s);
}

/* Found by fuzzing: with no bind mount at all (no sandbox files, no CRI mounts) the empty
 * list of binds went to qsort as a NULL array. */
static void no_bind_mounts(void **state)
{
    fx f;
    fx_init(&f);
    f.in.resolv_conf_path = f.in.hosts_path = f.in.hostname_path = NULL;
    json_t *s = build_ok(&f);
    json_t *m;
    size_t i;
    json_array_foreach(json_object_get(s, "mounts"), i, m)
        assert_string_not_equal(json_string_value(json_object_get(m, "type")), "bind");
    json_decref(s);
}

static void exec_process(void **state)
{
    fx f;
    fx_init(&f);
    json_t *s = build_ok(&f);
    const char *cmd[] = {"/bin/sh", "-c", "ls"};
    json_t *p = pod_spec_exec_process(s, cmd, 3, 1);
    assert_non_null(p);
    assert_string_equal(joined(json_object_get(p, "args")), "/bin/sh -c ls");
    assert_true(json_is_true(json_object_get(p, "terminal")));
    assert_true(has_str(json_object_get(p, "env"), "TERM=xterm"));
    assert_true(json_equal(json_object_get(p, "capabilities"), jp(s, "process.capabilities")));
    /* A deep copy: the container's own process is untouched. */
    assert_string_equal(joined(jp(s, "process.args")), "/entry serve");
    assert_false(has_str(jp(s, "process.env"), "TERM=xterm"));
    json_decref(p);
    p = pod_spec_exec_process(s, cmd, 1, 0);
    assert_true(json_is_false(json_object_get(p, "terminal")));
    json_decref(p);
    assert_null(pod_spec_exec_process(s, cmd, 0, 0));
    json_decref(s);
}

/* The JSON shape is what runc expects: run a real container from a built spec. */
static int run_cmd(const char *cmd, char *out, size_t outlen)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void runc_accepts_spec(void **state)
{
    if (geteuid() != 0 || access("/usr/sbin/runc", X_OK) != 0 || access("/bin/busybox", X_OK) != 0)
        skip();
    char dir[] = "/tmp/wincri-ocispec-XXXXXX", cmd[1024], out[4096], hosts[512], id[64];
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/bundle/rootfs/bin %s/state && cp /bin/busybox %s/bundle/rootfs/bin/ && "
             "echo '127.0.0.1 localhost' > %s/hosts",
             dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(hosts, sizeof hosts, "%s/hosts", dir);
    snprintf(id, sizeof id, "wincri-ocispec-%d", (int)getpid());

    fx f;
    fx_init(&f);
    pod_spec_host host;
    pod_spec_host_default(&host);
    f.in.host = &host;
    f.in.sandbox_id = id;
    f.in.container_id = id;
    char parent[80];
    snprintf(parent, sizeof parent, "/%s", id);
    f.in.cgroup_parent = parent;
    f.in.netns_path = f.in.ipc_ns_path = f.in.uts_ns_path = NULL;
    f.in.resolv_conf_path = f.in.hostname_path = NULL;
    f.in.hosts_path = hosts;
    static char *args[] = {"/bin/busybox", "sh", "-c",
                           "id -u; hostname; cat /etc/hosts; test -c /dev/xnull && echo dev"};
    f.cc.command = args;
    f.cc.n_command = 4;
    Runtime__V1__Int64Value uid = RUNTIME__V1__INT64_VALUE__INIT;
    uid.value = 1000;
    f.sc.run_as_user = &uid;
    f.sc.readonly_rootfs = 1;
    Runtime__V1__SecurityProfile sp = RUNTIME__V1__SECURITY_PROFILE__INIT;
    f.sc.seccomp = &sp;
    f.res.cpu_shares = 256;
    f.res.memory_limit_in_bytes = 64 << 20;
    f.res.oom_score_adj = 100;
    f.lc.resources = &f.res;
    Runtime__V1__Device d = RUNTIME__V1__DEVICE__INIT;
    d.host_path = "/dev/null";
    d.container_path = "/dev/xnull";
    d.permissions = "rw";
    Runtime__V1__Device *ds[] = {&d};
    f.cc.devices = ds;
    f.cc.n_devices = 1;
    json_t *s = build_ok(&f);
    snprintf(cmd, sizeof cmd, "%s/bundle/config.json", dir);
    assert_int_equal(json_dump_file(s, cmd, JSON_INDENT(1)), 0);
    json_decref(s);

    snprintf(cmd, sizeof cmd,
             "cd %s/bundle && runc --root %s/state run %s </dev/null 2>&1; rc=$?; "
             "runc --root %s/state delete -f %s >/dev/null 2>&1; exit $rc",
             dir, dir, id, dir, id);
    int rc = run_cmd(cmd, out, sizeof out);
    /* runc removes the container's cgroup; the parent made for it goes here. */
    snprintf(cmd, sizeof cmd,
             "rm -rf %s; for d in /sys/fs/cgroup/%s /sys/fs/cgroup/*/%s; do "
             "[ -d \"$d\" ] && rmdir \"$d\"; done; true",
             dir, id, id);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
    if (rc != 0)
        fail_msg("runc run failed (%d): %s", rc, out);
    assert_string_equal(out, "1000\nweb-0\n127.0.0.1 localhost\ndev\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(args_table),
        cmocka_unit_test(env_merge),
        cmocka_unit_test(user_ids),
        cmocka_unit_test(readonly_rootfs),
        cmocka_unit_test(privileged),
        cmocka_unit_test(caps_add_drop),
        cmocka_unit_test(bind_mounts),
        cmocka_unit_test(namespaces),
        cmocka_unit_test(resources),
        cmocka_unit_test(devices),
        cmocka_unit_test(seccomp_modes),
        cmocka_unit_test(masked_readonly),
        cmocka_unit_test(sysctls_annotations),
        cmocka_unit_test(no_bind_mounts),
        cmocka_unit_test(exec_process),
        cmocka_unit_test(runc_accepts_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
