/* The Linux OCI spec of a container: the top level and the process (args, env, cwd, user).
 * Mounts, namespaces, resources and security live in the other ocispec_*_linux.c files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/annotations.h"
#include "common/xalloc.h"
#include "podsandbox/ocispec_common.h"
#include "podsandbox/ocispec_int_linux.h"

#define POD_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define POD_NOFILE 1048576 /* containerd's RLIMIT_NOFILE for containers */

json_t *pod_strv(const char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static size_t env_key_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

void pod_env_set(json_t *env, const char *kv)
{
    size_t klen = env_key_len(kv), i;
    json_t *v;
    json_array_foreach(env, i, v)
    {
        const char *cur = json_string_value(v);
        if (cur && env_key_len(cur) == klen && strncmp(cur, kv, klen) == 0) {
            json_array_set_new(env, i, json_string(kv));
            return;
        }
    }
    json_array_append_new(env, json_string(kv));
}

static int env_has(const json_t *env, const char *key)
{
    size_t klen = strlen(key), i;
    json_t *v;
    json_array_foreach(env, i, v)
    {
        const char *cur = json_string_value(v);
        if (cur && env_key_len(cur) == klen && strncmp(cur, key, klen) == 0)
            return 1;
    }
    return 0;
}

static const json_t *image_field(const pod_build *b, const char *key)
{
    return b->image ? json_object_get(b->image, key) : NULL;
}

static int build_args(pod_build *b, json_t *process, wc_err *err)
{
    json_t *args = NULL;
    int rc = pod_spec_args(b->cc, b->image, &args, err);
    json_object_set_new(process, "args", args);
    return rc;
}

static const char *sandbox_hostname(const pod_build *b, char *buf, size_t len)
{
    const pod_sandbox_config *sb = b->in->sandbox;
    if (sb && sb->hostname[0])
        return sb->hostname;
    /* Host-network pods have no hostname of their own: they see the node's. */
    if (gethostname(buf, len) != 0)
        return "";
    buf[len - 1] = '\0';
    return buf;
}

/* PATH first so the image may replace it, then HOSTNAME, the image Env, the CRI envs. */
static int build_env(pod_build *b, json_t *process, wc_err *err)
{
    const pod_container_config *cc = b->cc;
    json_t *env = json_array();
    char host[256], *kv;
    size_t i;
    json_t *v;
    json_object_set_new(process, "env", env);
    pod_env_set(env, POD_DEFAULT_PATH);
    const char *hn = sandbox_hostname(b, host, sizeof host);
    kv = wc_xasprintf("HOSTNAME=%s", hn);
    pod_env_set(env, kv);
    free(kv);
    json_array_foreach(image_field(b, "Env"), i, v)
    {
        if (json_is_string(v))
            pod_env_set(env, json_string_value(v));
    }
    for (i = 0; i < cc->envs.n; i++) {
        const pod_kv *e = &cc->envs.v[i];
        if (!e->key[0])
            return wc_err_set(err, WC_INVALID_ARGUMENT, "envs[%zu]: empty key", i);
        kv = wc_xasprintf("%s=%s", e->key, e->value);
        pod_env_set(env, kv);
        free(kv);
    }
    if (cc->tty && !env_has(env, "TERM"))
        pod_env_set(env, "TERM=xterm");
    return 0;
}

static int parse_id(const char *s, size_t len, uint32_t *out)
{
    char buf[32], *end;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || *end || buf[0] == '-' || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int check_id(const pod_opt_i64 *v, const char *field, uint32_t *out, wc_err *err)
{
    if (v->value < 0 || v->value > (int64_t)UINT32_MAX)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "linux.security_context.%s: %lld is not a valid id", field,
                          (long long)v->value);
    *out = (uint32_t)v->value;
    return 0;
}

/* The image User "user[:group]": numeric parts are honoured at once; names wait for the
 * backend. */
static void image_user(const char *user, uint32_t *uid, uint32_t *gid)
{
    const char *colon = strchr(user, ':');
    size_t ulen = colon ? (size_t)(colon - user) : strlen(user);
    if (parse_id(user, ulen, uid) != 0)
        *uid = 0;
    if (colon && parse_id(colon + 1, strlen(colon + 1), gid) != 0)
        *gid = 0;
}

static json_t *supplemental_groups(const pod_linux_security *sc, wc_err *err)
{
    json_t *groups = json_array();
    for (size_t i = 0; sc && i < sc->n_supplemental_groups; i++) {
        int64_t g = sc->supplemental_groups[i];
        if (g < 0 || g > (int64_t)UINT32_MAX) {
            json_decref(groups);
            wc_err_set(err, WC_INVALID_ARGUMENT,
                       "linux.security_context.supplemental_groups[%zu]: %lld is not a valid id", i,
                       (long long)g);
            return NULL;
        }
        json_array_append_new(groups, json_integer(g));
    }
    return groups;
}

/* run_as_user / run_as_username / the image User, in that order, with run_as_group (which
 * needs one of the first two, as in containerd). What is known here goes into process.user;
 * the whole "user[:group]" travels in annotation io.wincri.user for the backend, which
 * resolves names, the primary group of a uid, and the image's groups against the
 * container's own /etc/passwd and /etc/group. */
static int build_user(pod_build *b, json_t *process, json_t *annotations, wc_err *err)
{
    const pod_linux_security *sc = b->sc;
    uint32_t uid = 0, gid = 0;
    int has_user = sc && (sc->run_as_user.set || sc->run_as_username[0]);
    if (sc && sc->run_as_group.set && !has_user)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "linux.security_context.run_as_group: needs run_as_user or "
                          "run_as_username");
    char spec_user[600];
    if (sc && sc->run_as_user.set) {
        if (check_id(&sc->run_as_user, "run_as_user", &uid, err) < 0)
            return -1;
        snprintf(spec_user, sizeof spec_user, "%u", uid);
    } else if (has_user) {
        snprintf(spec_user, sizeof spec_user, "%s", sc->run_as_username);
    } else {
        const char *u = json_string_value(image_field(b, "User"));
        snprintf(spec_user, sizeof spec_user, "%s", u && u[0] ? u : "0");
        image_user(spec_user, &uid, &gid);
    }
    if (sc && sc->run_as_group.set) {
        if (check_id(&sc->run_as_group, "run_as_group", &gid, err) < 0)
            return -1;
        char *colon = strchr(spec_user, ':');
        size_t at = colon ? (size_t)(colon - spec_user) : strlen(spec_user);
        snprintf(spec_user + at, sizeof spec_user - at, ":%u", gid);
    }
    json_t *groups = supplemental_groups(sc, err);
    if (!groups)
        return -1;
    json_object_set_new(process, "user",
                        json_pack("{s:I, s:I, s:o}", "uid", (json_int_t)uid, "gid", (json_int_t)gid,
                                  "additionalGids", groups));
    json_object_set_new(annotations, WC_ANN_USER, json_string(spec_user));
    if (sc && sc->supplemental_groups_strict)
        json_object_set_new(annotations, WC_ANN_SUPPLEMENTAL_GROUPS_POLICY, json_string("Strict"));
    return 0;
}

static void build_cwd(pod_build *b, json_t *process)
{
    const char *cwd = b->cc->working_dir;
    if (!cwd[0])
        cwd = json_string_value(image_field(b, "WorkingDir"));
    json_object_set_new(process, "cwd", json_string(cwd && cwd[0] ? cwd : "/"));
}

int pod_oci_process(pod_build *b, json_t *spec, wc_err *err)
{
    json_t *process = json_object();
    json_object_set_new(spec, "process", process);
    json_object_set_new(process, "terminal", json_boolean(b->cc->tty));
    if (build_user(b, process, json_object_get(spec, "annotations"), err) < 0 ||
        build_args(b, process, err) < 0 || build_env(b, process, err) < 0)
        return -1;
    build_cwd(b, process);
    if (pod_oci_caps(b, process, err) < 0)
        return -1;
    uint64_t nofile = POD_NOFILE;
    if (b->host->nofile_max && b->host->nofile_max < nofile)
        nofile = b->host->nofile_max; /* raising it would need CAP_SYS_RESOURCE */
    json_object_set_new(process, "rlimits",
                        json_pack("[{s:s, s:I, s:I}]", "type", "RLIMIT_NOFILE", "hard",
                                  (json_int_t)nofile, "soft", (json_int_t)nofile));
    json_object_set_new(process, "noNewPrivileges", json_boolean(b->sc && b->sc->no_new_privs));
    return 0;
}

static void annotate(pod_build *b, json_t *spec)
{
    const pod_container_config *cc = b->cc;
    json_t *a = json_object();
    for (size_t i = 0; i < cc->annotations.n; i++)
        json_object_set_new(a, cc->annotations.v[i].key, json_string(cc->annotations.v[i].value));
    pod_annotate_identity(a, b->in->sandbox, cc, b->in->sandbox_id);
    json_object_set_new(spec, "annotations", a);
}

static int parse_image(const char *text, json_t **image, wc_err *err)
{
    json_error_t jerr;
    *image = NULL;
    if (!text || !text[0])
        return 0;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root)
        return wc_err_set(err, WC_INTERNAL, "image config: %s (line %d)", jerr.text, jerr.line);
    json_t *config = json_object_get(root, "config");
    if (json_is_object(config))
        *image = json_incref(config);
    json_decref(root);
    return 0;
}

static void cgroups_path(pod_build *b, json_t *linux_obj)
{
    const char *parent = b->in->cgroup_parent;
    const pod_sandbox_config *sb = b->in->sandbox;
    if ((!parent || !parent[0]) && sb)
        parent = sb->cgroup_parent;
    if (!parent || !parent[0])
        parent = "/wincri";
    size_t len = strlen(parent);
    while (len > 1 && parent[len - 1] == '/')
        len--;
    char *path = wc_xasprintf("%.*s/%s", (int)len, parent, b->in->container_id);
    /* A bare "/" parent would give "//id". */
    json_object_set_new(linux_obj, "cgroupsPath", json_string(path[1] == '/' ? path + 1 : path));
    free(path);
}

static void sysctls(pod_build *b, json_t *linux_obj)
{
    const pod_sandbox_config *sb = b->in->sandbox;
    if (!sb || sb->sysctls.n == 0)
        return;
    json_t *o = json_object();
    for (size_t i = 0; i < sb->sysctls.n; i++)
        json_object_set_new(o, sb->sysctls.v[i].key, json_string(sb->sysctls.v[i].value));
    json_object_set_new(linux_obj, "sysctl", o);
}

static int check_input(const pod_spec_input *in, wc_err *err)
{
    if (!in || !in->container)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "missing");
    if (!in->container_id || !in->container_id[0] || !in->sandbox_id || !in->sandbox_id[0])
        return wc_err_set(err, WC_INVALID_ARGUMENT, "container and sandbox ids are required");
    return 0;
}

static void init_build(pod_build *b, const pod_spec_input *in, pod_spec_host *def_host)
{
    memset(b, 0, sizeof *b);
    b->in = in;
    b->cc = in->container;
    b->host = in->host;
    if (!b->host) {
        pod_spec_host_default(def_host);
        b->host = def_host;
    }
    if (b->cc->linux_security.set)
        b->sc = &b->cc->linux_security;
    if (in->sandbox && in->sandbox->linux_security.set)
        b->psc = &in->sandbox->linux_security;
    b->ns = b->sc && b->sc->ns.set ? &b->sc->ns : b->psc && b->psc->ns.set ? &b->psc->ns : NULL;
    b->privileged = b->sc && b->sc->privileged;
}

static int build_all(pod_build *b, json_t *spec, wc_err *err)
{
    json_t *linux_obj = json_object();
    json_object_set_new(spec, "linux", linux_obj);
    annotate(b, spec);
    if (b->privileged && !(b->psc && b->psc->privileged))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "linux.security_context.privileged: the pod sandbox is not privileged");
    json_object_set_new(
        spec, "root",
        json_pack("{s:s, s:b}", "path", "rootfs", "readonly", b->sc && b->sc->readonly_rootfs));
    if (pod_oci_process(b, spec, err) < 0 || pod_oci_namespaces(b, spec, linux_obj, err) < 0 ||
        pod_oci_mounts(b, spec, err) < 0 ||
        pod_oci_resources(b, linux_obj, json_object_get(spec, "process"), err) < 0 ||
        pod_oci_devices(b, linux_obj, err) < 0 || pod_oci_security(b, linux_obj, err) < 0)
        return -1;
    cgroups_path(b, linux_obj);
    sysctls(b, linux_obj);
    return 0;
}

int pod_spec_build_linux(const pod_spec_input *in, json_t **spec, wc_err *err)
{
    pod_build b;
    pod_spec_host def_host;
    json_t *image = NULL;
    *spec = NULL;
    if (check_input(in, err) < 0)
        return wc_err_prefix(err, "container config");
    if (parse_image(in->image_config_json, &image, err) < 0)
        return -1;
    init_build(&b, in, &def_host);
    b.image = image;
    json_t *s = json_pack("{s:s}", "ociVersion", "1.0.2-dev");
    int rc = build_all(&b, s, err);
    json_decref(image);
    if (rc < 0) {
        json_decref(s);
        return wc_err_prefix(err, "container config");
    }
    *spec = s;
    return 0;
}

json_t *pod_spec_exec_process(const json_t *container_spec, const char *const *cmd, size_t n_cmd,
                              int tty)
{
    json_t *p = pod_spec_exec_base(container_spec, cmd, n_cmd, tty);
    json_t *env = p ? json_object_get(p, "env") : NULL;
    if (tty && json_is_array(env) && !env_has(env, "TERM"))
        pod_env_set(env, "TERM=xterm");
    return p;
}
