/* The plain configs' life (new, references, free) and their JSON form, which is what the
 * store keeps. Encoding and decoding are written side by side, one helper per shape, so a
 * field added to one direction is easy to see missing in the other. */
#include "podsandbox/podconfig.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* ---- freeing ---- */

static void strs_clear(pod_strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void kvs_clear(pod_kvs *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i].key);
        free(k->v[i].value);
    }
    free(k->v);
    memset(k, 0, sizeof *k);
}

void pod_linux_resources_clear(pod_linux_resources *r)
{
    free(r->cpuset_cpus);
    free(r->cpuset_mems);
    for (size_t i = 0; i < r->n_hugepages; i++)
        free(r->hugepages[i].page_size);
    free(r->hugepages);
    kvs_clear(&r->unified);
    memset(r, 0, sizeof *r);
}

static void linux_security_clear(pod_linux_security *s)
{
    strs_clear(&s->add_caps);
    strs_clear(&s->drop_caps);
    strs_clear(&s->add_ambient_caps);
    free(s->ns.target_id);
    free(s->run_as_username);
    free(s->supplemental_groups);
    strs_clear(&s->masked_paths);
    strs_clear(&s->readonly_paths);
    free(s->seccomp.localhost_ref);
    free(s->seccomp_profile_path);
    memset(s, 0, sizeof *s);
}

static void windows_security_clear(pod_windows_security *s)
{
    free(s->run_as_username);
    free(s->credential_spec);
    memset(s, 0, sizeof *s);
}

static void container_config_free(pod_container_config *c)
{
    free(c->name);
    free(c->image);
    free(c->user_specified_image);
    strs_clear(&c->command);
    strs_clear(&c->args);
    free(c->working_dir);
    kvs_clear(&c->envs);
    for (size_t i = 0; i < c->n_mounts; i++) {
        free(c->mounts[i].container_path);
        free(c->mounts[i].host_path);
        free(c->mounts[i].image);
    }
    free(c->mounts);
    for (size_t i = 0; i < c->n_devices; i++) {
        free(c->devices[i].container_path);
        free(c->devices[i].host_path);
        free(c->devices[i].permissions);
    }
    free(c->devices);
    kvs_clear(&c->labels);
    kvs_clear(&c->annotations);
    free(c->log_path);
    pod_linux_resources_clear(&c->linux_resources);
    linux_security_clear(&c->linux_security);
    windows_security_clear(&c->windows_security);
    free(c);
}

static void sandbox_config_free(pod_sandbox_config *c)
{
    free(c->name);
    free(c->uid);
    free(c->namespace_);
    free(c->hostname);
    free(c->log_directory);
    strs_clear(&c->dns.servers);
    strs_clear(&c->dns.searches);
    strs_clear(&c->dns.options);
    for (size_t i = 0; i < c->n_ports; i++)
        free(c->ports[i].host_ip);
    free(c->ports);
    kvs_clear(&c->labels);
    kvs_clear(&c->annotations);
    free(c->cgroup_parent);
    linux_security_clear(&c->linux_security);
    kvs_clear(&c->sysctls);
    pod_linux_resources_clear(&c->linux_overhead);
    pod_linux_resources_clear(&c->linux_resources);
    windows_security_clear(&c->windows_security);
    free(c);
}

/* ---- references ---- */

pod_container_config *pod_container_config_ref(pod_container_config *c)
{
    if (c)
        __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

void pod_container_config_unref(pod_container_config *c)
{
    if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
        container_config_free(c);
}

pod_sandbox_config *pod_sandbox_config_ref(pod_sandbox_config *c)
{
    if (c)
        __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

void pod_sandbox_config_unref(pod_sandbox_config *c)
{
    if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
        sandbox_config_free(c);
}

const char *pod_kvs_get(const pod_kvs *kvs, const char *key)
{
    for (size_t i = kvs->n; i > 0; i--)
        if (strcmp(kvs->v[i - 1].key, key) == 0)
            return kvs->v[i - 1].value;
    return NULL;
}

/* ---- JSON: encoding ---- */

static json_t *strs_json(const pod_strs *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n; i++)
        json_array_append_new(a, json_string(s->v[i]));
    return a;
}

/* An array of [key, value] pairs: order and repeated keys (envs) survive. */
static json_t *kvs_json(const pod_kvs *k)
{
    json_t *a = json_array();
    for (size_t i = 0; i < k->n; i++)
        json_array_append_new(a, json_pack("[s,s]", k->v[i].key, k->v[i].value));
    return a;
}

json_t *pod_linux_resources_to_json(const pod_linux_resources *r)
{
    json_t *hp = json_array();
    for (size_t i = 0; i < r->n_hugepages; i++)
        json_array_append_new(
            hp, json_pack("[s,I]", r->hugepages[i].page_size, (json_int_t)r->hugepages[i].limit));
    return json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:o,s:o}", "set", r->set, "cpu_period",
                     (json_int_t)r->cpu_period, "cpu_quota", (json_int_t)r->cpu_quota, "cpu_shares",
                     (json_int_t)r->cpu_shares, "memory_limit",
                     (json_int_t)r->memory_limit_in_bytes, "memory_swap_limit",
                     (json_int_t)r->memory_swap_limit_in_bytes, "oom_score_adj",
                     (json_int_t)r->oom_score_adj, "cpuset_cpus", r->cpuset_cpus, "cpuset_mems",
                     r->cpuset_mems, "hugepages", hp, "unified", kvs_json(&r->unified));
}

static json_t *ns_json(const pod_ns_options *n)
{
    return json_pack("{s:b,s:i,s:i,s:i,s:s,s:b,s:i}", "set", n->set, "network", n->network, "pid",
                     n->pid, "ipc", n->ipc, "target_id", n->target_id, "userns_set", n->userns_set,
                     "userns_mode", n->userns_mode);
}

static json_t *linux_security_json(const pod_linux_security *s)
{
    json_t *groups = json_array();
    for (size_t i = 0; i < s->n_supplemental_groups; i++)
        json_array_append_new(groups, json_integer(s->supplemental_groups[i]));
    json_t *j =
        json_pack("{s:b,s:o,s:o,s:o,s:b,s:o,s:s,s:b,s:o,s:b,s:b,s:o,s:o,s:s}", "set", s->set,
                  "add_caps", strs_json(&s->add_caps), "drop_caps", strs_json(&s->drop_caps),
                  "add_ambient_caps", strs_json(&s->add_ambient_caps), "privileged", s->privileged,
                  "ns", ns_json(&s->ns), "run_as_username", s->run_as_username, "readonly_rootfs",
                  s->readonly_rootfs, "supplemental_groups", groups, "supplemental_groups_strict",
                  s->supplemental_groups_strict, "no_new_privs", s->no_new_privs, "masked_paths",
                  strs_json(&s->masked_paths), "readonly_paths", strs_json(&s->readonly_paths),
                  "seccomp_profile_path", s->seccomp_profile_path);
    if (s->run_as_user.set)
        json_object_set_new(j, "run_as_user", json_integer(s->run_as_user.value));
    if (s->run_as_group.set)
        json_object_set_new(j, "run_as_group", json_integer(s->run_as_group.value));
    if (s->seccomp.set)
        json_object_set_new(j, "seccomp",
                            json_pack("{s:i,s:s}", "type", s->seccomp.type, "localhost_ref",
                                      s->seccomp.localhost_ref));
    return j;
}

static json_t *windows_security_json(const pod_windows_security *s)
{
    return json_pack("{s:b,s:s,s:s,s:b}", "set", s->set, "run_as_username", s->run_as_username,
                     "credential_spec", s->credential_spec, "host_process", s->host_process);
}

json_t *pod_container_config_to_json(const pod_container_config *c)
{
    json_t *mounts = json_array(), *devices = json_array();
    for (size_t i = 0; i < c->n_mounts; i++) {
        const pod_mount *m = &c->mounts[i];
        json_array_append_new(
            mounts,
            json_pack("{s:s,s:s,s:b,s:b,s:i,s:b,s:b,s:s}", "container_path", m->container_path,
                      "host_path", m->host_path, "readonly", m->readonly, "selinux_relabel",
                      m->selinux_relabel, "propagation", m->propagation, "recursive_read_only",
                      m->recursive_read_only, "id_mapped", m->id_mapped, "image", m->image));
    }
    for (size_t i = 0; i < c->n_devices; i++)
        json_array_append_new(devices, json_pack("{s:s,s:s,s:s}", "container_path",
                                                 c->devices[i].container_path, "host_path",
                                                 c->devices[i].host_path, "permissions",
                                                 c->devices[i].permissions));
    const pod_windows_resources *w = &c->windows_resources;
    json_t *win_res =
        json_pack("{s:b,s:I,s:I,s:I,s:I,s:I}", "set", w->set, "cpu_shares",
                  (json_int_t)w->cpu_shares, "cpu_count", (json_int_t)w->cpu_count, "cpu_maximum",
                  (json_int_t)w->cpu_maximum, "memory_limit", (json_int_t)w->memory_limit_in_bytes,
                  "rootfs_size", (json_int_t)w->rootfs_size_in_bytes);
    return json_pack(
        "{s:s,s:I,s:s,s:s,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:s,s:b,s:b,s:b,s:o,"
        "s:o,s:o,s:o,s:i}",
        "name", c->name, "attempt", (json_int_t)c->attempt, "image", c->image,
        "user_specified_image", c->user_specified_image, "command", strs_json(&c->command), "args",
        strs_json(&c->args), "working_dir", c->working_dir, "envs", kvs_json(&c->envs), "mounts",
        mounts, "devices", devices, "labels", kvs_json(&c->labels), "annotations",
        kvs_json(&c->annotations), "log_path", c->log_path, "stdin", c->stdin_, "stdin_once",
        c->stdin_once, "tty", c->tty, "linux_resources",
        pod_linux_resources_to_json(&c->linux_resources), "linux_security",
        linux_security_json(&c->linux_security), "windows_resources", win_res, "windows_security",
        windows_security_json(&c->windows_security), "stop_signal", c->stop_signal);
}

json_t *pod_sandbox_config_to_json(const pod_sandbox_config *c)
{
    json_t *ports = json_array();
    for (size_t i = 0; i < c->n_ports; i++)
        json_array_append_new(ports,
                              json_pack("{s:i,s:i,s:i,s:s}", "protocol", c->ports[i].protocol,
                                        "container_port", c->ports[i].container_port, "host_port",
                                        c->ports[i].host_port, "host_ip", c->ports[i].host_ip));
    json_t *dns =
        json_pack("{s:b,s:o,s:o,s:o}", "set", c->dns.set, "servers", strs_json(&c->dns.servers),
                  "searches", strs_json(&c->dns.searches), "options", strs_json(&c->dns.options));
    return json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:o,s:o,s:o,s:o,s:b,s:s,s:o,s:o,s:o,s:o,s:o}",
                     "name", c->name, "uid", c->uid, "namespace", c->namespace_, "attempt",
                     (json_int_t)c->attempt, "hostname", c->hostname, "log_directory",
                     c->log_directory, "dns", dns, "ports", ports, "labels", kvs_json(&c->labels),
                     "annotations", kvs_json(&c->annotations), "linux_set", c->linux_set,
                     "cgroup_parent", c->cgroup_parent, "linux_security",
                     linux_security_json(&c->linux_security), "sysctls", kvs_json(&c->sysctls),
                     "linux_overhead", pod_linux_resources_to_json(&c->linux_overhead),
                     "linux_resources", pod_linux_resources_to_json(&c->linux_resources),
                     "windows_security", windows_security_json(&c->windows_security));
}

/* ---- JSON: decoding ----
 * Each getter takes the object and the key, fills the field (missing: zero or ""), and
 * reports a present value of the wrong type. The error names the key. */

typedef struct dec {
    wc_err *err;
    int failed;
} dec;

static int bad(dec *d, const char *key, const char *want)
{
    if (!d->failed)
        wc_err_set(d->err, WC_INTERNAL, "stored config: \"%s\" is not %s", key, want);
    d->failed = 1;
    return -1;
}

static void get_str(dec *d, const json_t *o, const char *key, char **out)
{
    const json_t *v = json_object_get(o, key);
    if (v && !json_is_string(v))
        bad(d, key, "a string");
    *out = wc_xstrdup(json_is_string(v) ? json_string_value(v) : "");
}

static void get_int(dec *d, const json_t *o, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (v && !json_is_integer(v))
        bad(d, key, "an integer");
    *out = json_integer_value(v);
}

static int get_i(dec *d, const json_t *o, const char *key)
{
    int64_t v;
    get_int(d, o, key, &v);
    return (int)v;
}

static int get_bool(dec *d, const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (v && !json_is_boolean(v))
        bad(d, key, "a boolean");
    return json_is_true(v);
}

static const json_t *get_array(dec *d, const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (v && !json_is_array(v))
        bad(d, key, "an array");
    return json_is_array(v) ? v : NULL;
}

static void get_strs(dec *d, const json_t *o, const char *key, pod_strs *out)
{
    const json_t *a = get_array(d, o, key);
    out->n = json_array_size(a);
    out->v = wc_xcalloc(out->n + 1, sizeof *out->v);
    for (size_t i = 0; i < out->n; i++) {
        const json_t *s = json_array_get(a, i);
        if (!json_is_string(s))
            bad(d, key, "an array of strings");
        out->v[i] = wc_xstrdup(json_is_string(s) ? json_string_value(s) : "");
    }
}

static void get_kvs(dec *d, const json_t *o, const char *key, pod_kvs *out)
{
    const json_t *a = get_array(d, o, key);
    out->n = json_array_size(a);
    out->v = wc_xcalloc(out->n + 1, sizeof *out->v);
    for (size_t i = 0; i < out->n; i++) {
        const json_t *p = json_array_get(a, i);
        const char *k = json_string_value(json_array_get(p, 0));
        const char *v = json_string_value(json_array_get(p, 1));
        if (!k || !v)
            bad(d, key, "an array of [key, value] pairs");
        out->v[i].key = wc_xstrdup(k ? k : "");
        out->v[i].value = wc_xstrdup(v ? v : "");
    }
}

static const json_t *get_object(dec *d, const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (v && !json_is_object(v))
        bad(d, key, "an object");
    return v;
}

static void get_resources(dec *d, const json_t *o, pod_linux_resources *r)
{
    r->set = get_bool(d, o, "set");
    get_int(d, o, "cpu_period", &r->cpu_period);
    get_int(d, o, "cpu_quota", &r->cpu_quota);
    get_int(d, o, "cpu_shares", &r->cpu_shares);
    get_int(d, o, "memory_limit", &r->memory_limit_in_bytes);
    get_int(d, o, "memory_swap_limit", &r->memory_swap_limit_in_bytes);
    get_int(d, o, "oom_score_adj", &r->oom_score_adj);
    get_str(d, o, "cpuset_cpus", &r->cpuset_cpus);
    get_str(d, o, "cpuset_mems", &r->cpuset_mems);
    const json_t *hp = get_array(d, o, "hugepages");
    r->n_hugepages = json_array_size(hp);
    r->hugepages = wc_xcalloc(r->n_hugepages + 1, sizeof *r->hugepages);
    for (size_t i = 0; i < r->n_hugepages; i++) {
        const char *ps = json_string_value(json_array_get(json_array_get(hp, i), 0));
        r->hugepages[i].page_size = wc_xstrdup(ps ? ps : "");
        r->hugepages[i].limit =
            (uint64_t)json_integer_value(json_array_get(json_array_get(hp, i), 1));
    }
    get_kvs(d, o, "unified", &r->unified);
}

int pod_linux_resources_from_json(const json_t *j, pod_linux_resources *out, wc_err *err)
{
    dec d = {.err = err};
    memset(out, 0, sizeof *out);
    get_resources(&d, j, out);
    if (d.failed)
        pod_linux_resources_clear(out);
    return d.failed ? -1 : 0;
}

static void get_ns(dec *d, const json_t *o, pod_ns_options *n)
{
    n->set = get_bool(d, o, "set");
    n->network = (pod_ns_mode)get_i(d, o, "network");
    n->pid = (pod_ns_mode)get_i(d, o, "pid");
    n->ipc = (pod_ns_mode)get_i(d, o, "ipc");
    get_str(d, o, "target_id", &n->target_id);
    n->userns_set = get_bool(d, o, "userns_set");
    n->userns_mode = (pod_ns_mode)get_i(d, o, "userns_mode");
}

static void get_opt(dec *d, const json_t *o, const char *key, pod_opt_i64 *out)
{
    out->set = json_object_get(o, key) != NULL;
    get_int(d, o, key, &out->value);
}

static void get_linux_security(dec *d, const json_t *o, pod_linux_security *s)
{
    s->set = get_bool(d, o, "set");
    get_strs(d, o, "add_caps", &s->add_caps);
    get_strs(d, o, "drop_caps", &s->drop_caps);
    get_strs(d, o, "add_ambient_caps", &s->add_ambient_caps);
    s->privileged = get_bool(d, o, "privileged");
    get_ns(d, get_object(d, o, "ns"), &s->ns);
    get_opt(d, o, "run_as_user", &s->run_as_user);
    get_opt(d, o, "run_as_group", &s->run_as_group);
    get_str(d, o, "run_as_username", &s->run_as_username);
    s->readonly_rootfs = get_bool(d, o, "readonly_rootfs");
    const json_t *g = get_array(d, o, "supplemental_groups");
    s->n_supplemental_groups = json_array_size(g);
    s->supplemental_groups =
        wc_xcalloc(s->n_supplemental_groups + 1, sizeof *s->supplemental_groups);
    for (size_t i = 0; i < s->n_supplemental_groups; i++)
        s->supplemental_groups[i] = json_integer_value(json_array_get(g, i));
    s->supplemental_groups_strict = get_bool(d, o, "supplemental_groups_strict");
    s->no_new_privs = get_bool(d, o, "no_new_privs");
    get_strs(d, o, "masked_paths", &s->masked_paths);
    get_strs(d, o, "readonly_paths", &s->readonly_paths);
    const json_t *sc = get_object(d, o, "seccomp");
    s->seccomp.set = sc != NULL;
    s->seccomp.type = (pod_profile_type)get_i(d, sc, "type");
    get_str(d, sc, "localhost_ref", &s->seccomp.localhost_ref);
    get_str(d, o, "seccomp_profile_path", &s->seccomp_profile_path);
}

static void get_windows_security(dec *d, const json_t *o, pod_windows_security *s)
{
    s->set = get_bool(d, o, "set");
    get_str(d, o, "run_as_username", &s->run_as_username);
    get_str(d, o, "credential_spec", &s->credential_spec);
    s->host_process = get_bool(d, o, "host_process");
}

static void get_mounts(dec *d, const json_t *o, pod_container_config *c)
{
    const json_t *a = get_array(d, o, "mounts");
    c->n_mounts = json_array_size(a);
    c->mounts = wc_xcalloc(c->n_mounts + 1, sizeof *c->mounts);
    for (size_t i = 0; i < c->n_mounts; i++) {
        const json_t *m = json_array_get(a, i);
        pod_mount *x = &c->mounts[i];
        get_str(d, m, "container_path", &x->container_path);
        get_str(d, m, "host_path", &x->host_path);
        x->readonly = get_bool(d, m, "readonly");
        x->selinux_relabel = get_bool(d, m, "selinux_relabel");
        x->propagation = (pod_propagation)get_i(d, m, "propagation");
        x->recursive_read_only = get_bool(d, m, "recursive_read_only");
        x->id_mapped = get_bool(d, m, "id_mapped");
        get_str(d, m, "image", &x->image);
    }
}

static void get_devices(dec *d, const json_t *o, pod_container_config *c)
{
    const json_t *a = get_array(d, o, "devices");
    c->n_devices = json_array_size(a);
    c->devices = wc_xcalloc(c->n_devices + 1, sizeof *c->devices);
    for (size_t i = 0; i < c->n_devices; i++) {
        const json_t *m = json_array_get(a, i);
        get_str(d, m, "container_path", &c->devices[i].container_path);
        get_str(d, m, "host_path", &c->devices[i].host_path);
        get_str(d, m, "permissions", &c->devices[i].permissions);
    }
}

int pod_container_config_from_json(const json_t *j, pod_container_config **out, wc_err *err)
{
    dec d = {.err = err};
    pod_container_config *c = pod_container_config_new();
    get_str(&d, j, "name", &c->name);
    int64_t attempt;
    get_int(&d, j, "attempt", &attempt);
    c->attempt = (uint32_t)attempt;
    get_str(&d, j, "image", &c->image);
    get_str(&d, j, "user_specified_image", &c->user_specified_image);
    get_strs(&d, j, "command", &c->command);
    get_strs(&d, j, "args", &c->args);
    get_str(&d, j, "working_dir", &c->working_dir);
    get_kvs(&d, j, "envs", &c->envs);
    get_mounts(&d, j, c);
    get_devices(&d, j, c);
    get_kvs(&d, j, "labels", &c->labels);
    get_kvs(&d, j, "annotations", &c->annotations);
    get_str(&d, j, "log_path", &c->log_path);
    c->stdin_ = get_bool(&d, j, "stdin");
    c->stdin_once = get_bool(&d, j, "stdin_once");
    c->tty = get_bool(&d, j, "tty");
    get_resources(&d, get_object(&d, j, "linux_resources"), &c->linux_resources);
    get_linux_security(&d, get_object(&d, j, "linux_security"), &c->linux_security);
    const json_t *w = get_object(&d, j, "windows_resources");
    c->windows_resources.set = get_bool(&d, w, "set");
    get_int(&d, w, "cpu_shares", &c->windows_resources.cpu_shares);
    get_int(&d, w, "cpu_count", &c->windows_resources.cpu_count);
    get_int(&d, w, "cpu_maximum", &c->windows_resources.cpu_maximum);
    get_int(&d, w, "memory_limit", &c->windows_resources.memory_limit_in_bytes);
    get_int(&d, w, "rootfs_size", &c->windows_resources.rootfs_size_in_bytes);
    get_windows_security(&d, get_object(&d, j, "windows_security"), &c->windows_security);
    c->stop_signal = get_i(&d, j, "stop_signal");
    if (d.failed) {
        pod_container_config_unref(c);
        return -1;
    }
    *out = c;
    return 0;
}

int pod_sandbox_config_from_json(const json_t *j, pod_sandbox_config **out, wc_err *err)
{
    dec d = {.err = err};
    pod_sandbox_config *c = pod_sandbox_config_new();
    get_str(&d, j, "name", &c->name);
    get_str(&d, j, "uid", &c->uid);
    get_str(&d, j, "namespace", &c->namespace_);
    int64_t attempt;
    get_int(&d, j, "attempt", &attempt);
    c->attempt = (uint32_t)attempt;
    get_str(&d, j, "hostname", &c->hostname);
    get_str(&d, j, "log_directory", &c->log_directory);
    const json_t *dns = get_object(&d, j, "dns");
    c->dns.set = get_bool(&d, dns, "set");
    get_strs(&d, dns, "servers", &c->dns.servers);
    get_strs(&d, dns, "searches", &c->dns.searches);
    get_strs(&d, dns, "options", &c->dns.options);
    const json_t *ports = get_array(&d, j, "ports");
    c->n_ports = json_array_size(ports);
    c->ports = wc_xcalloc(c->n_ports + 1, sizeof *c->ports);
    for (size_t i = 0; i < c->n_ports; i++) {
        const json_t *p = json_array_get(ports, i);
        c->ports[i].protocol = (pod_protocol)get_i(&d, p, "protocol");
        c->ports[i].container_port = get_i(&d, p, "container_port");
        c->ports[i].host_port = get_i(&d, p, "host_port");
        get_str(&d, p, "host_ip", &c->ports[i].host_ip);
    }
    get_kvs(&d, j, "labels", &c->labels);
    get_kvs(&d, j, "annotations", &c->annotations);
    c->linux_set = get_bool(&d, j, "linux_set");
    get_str(&d, j, "cgroup_parent", &c->cgroup_parent);
    get_linux_security(&d, get_object(&d, j, "linux_security"), &c->linux_security);
    get_kvs(&d, j, "sysctls", &c->sysctls);
    get_resources(&d, get_object(&d, j, "linux_overhead"), &c->linux_overhead);
    get_resources(&d, get_object(&d, j, "linux_resources"), &c->linux_resources);
    get_windows_security(&d, get_object(&d, j, "windows_security"), &c->windows_security);
    if (d.failed) {
        pod_sandbox_config_unref(c);
        return -1;
    }
    *out = c;
    return 0;
}

/* ---- new and copies ---- */

pod_container_config *pod_container_config_new(void)
{
    pod_container_config *c = wc_xcalloc(1, sizeof *c);
    c->refs = 1;
    return c;
}

pod_sandbox_config *pod_sandbox_config_new(void)
{
    pod_sandbox_config *c = wc_xcalloc(1, sizeof *c);
    c->refs = 1;
    return c;
}

pod_container_config *pod_container_config_copy(const pod_container_config *c)
{
    wc_err err = {0};
    json_t *j = pod_container_config_to_json(c);
    pod_container_config *out = NULL;
    if (j)
        pod_container_config_from_json(j, &out, &err);
    json_decref(j);
    return out;
}

pod_sandbox_config *pod_sandbox_config_copy(const pod_sandbox_config *c)
{
    wc_err err = {0};
    json_t *j = pod_sandbox_config_to_json(c);
    pod_sandbox_config *out = NULL;
    if (j)
        pod_sandbox_config_from_json(j, &out, &err);
    json_decref(j);
    return out;
}
