/* Protobuf ↔ plain configs, field by field. protobuf-c hands strings as NUL-terminated
 * (never NULL for proto3 scalars, but nested messages may be absent), so every read goes
 * through str() and every absent message leaves its part zero. */
#include "cri/podconfig_pb.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "cri/pbutil.h"

typedef struct {
    ProtobufCMessage base;
    char *key;
    char *value;
} map_entry;

static char *str(const char *s)
{
    return wc_xstrdup(s ? s : "");
}

static void strs_from(pod_strs *out, char **v, size_t n)
{
    out->n = n;
    out->v = wc_xcalloc(n + 1, sizeof *out->v);
    for (size_t i = 0; i < n; i++)
        out->v[i] = str(v[i]);
}

static void kvs_from_map(pod_kvs *out, size_t n, void *const *entries)
{
    out->n = n;
    out->v = wc_xcalloc(n + 1, sizeof *out->v);
    for (size_t i = 0; i < n; i++) {
        const map_entry *e = entries[i];
        out->v[i].key = str(e->key);
        out->v[i].value = str(e->value);
    }
}

static void kvs_from_pairs(pod_kvs *out, size_t n, Runtime__V1__KeyValue *const *kv)
{
    out->n = n;
    out->v = wc_xcalloc(n + 1, sizeof *out->v);
    for (size_t i = 0; i < n; i++) {
        out->v[i].key = str(kv[i]->key);
        out->v[i].value = str(kv[i]->value);
    }
}

void cri_linux_resources_from_pb(const Runtime__V1__LinuxContainerResources *in,
                                 pod_linux_resources *out)
{
    memset(out, 0, sizeof *out);
    out->set = in != NULL;
    out->cpuset_cpus = str(in ? in->cpuset_cpus : "");
    out->cpuset_mems = str(in ? in->cpuset_mems : "");
    out->hugepages = wc_xcalloc((in ? in->n_hugepage_limits : 0) + 1, sizeof *out->hugepages);
    if (!in)
        return;
    out->cpu_period = in->cpu_period;
    out->cpu_quota = in->cpu_quota;
    out->cpu_shares = in->cpu_shares;
    out->memory_limit_in_bytes = in->memory_limit_in_bytes;
    out->memory_swap_limit_in_bytes = in->memory_swap_limit_in_bytes;
    out->oom_score_adj = in->oom_score_adj;
    out->n_hugepages = in->n_hugepage_limits;
    for (size_t i = 0; i < in->n_hugepage_limits; i++) {
        out->hugepages[i].page_size = str(in->hugepage_limits[i]->page_size);
        out->hugepages[i].limit = in->hugepage_limits[i]->limit;
    }
    kvs_from_map(&out->unified, in->n_unified, (void *const *)in->unified);
}

void cri_windows_resources_from_pb(const Runtime__V1__WindowsContainerResources *in,
                                   pod_windows_resources *out)
{
    *out = (pod_windows_resources){0};
    if (!in)
        return;
    *out = (pod_windows_resources){.set = 1,
                                   .cpu_shares = in->cpu_shares,
                                   .cpu_count = in->cpu_count,
                                   .cpu_maximum = in->cpu_maximum,
                                   .memory_limit_in_bytes = in->memory_limit_in_bytes,
                                   .rootfs_size_in_bytes = in->rootfs_size_in_bytes};
}

static void ns_from(pod_ns_options *out, const Runtime__V1__NamespaceOption *in)
{
    out->set = in != NULL;
    out->target_id = str(in ? in->target_id : "");
    if (!in)
        return;
    out->network = (pod_ns_mode)in->network;
    out->pid = (pod_ns_mode)in->pid;
    out->ipc = (pod_ns_mode)in->ipc;
    out->userns_set = in->userns_options != NULL;
    out->userns_mode = in->userns_options ? (pod_ns_mode)in->userns_options->mode : POD_NS_POD;
}

static void profile_from(pod_profile *out, const Runtime__V1__SecurityProfile *in)
{
    out->set = in != NULL;
    out->type = in ? (pod_profile_type)in->profile_type : POD_PROFILE_RUNTIME_DEFAULT;
    out->localhost_ref = str(in ? in->localhost_ref : "");
}

static void opt_from(pod_opt_i64 *out, const Runtime__V1__Int64Value *in)
{
    out->set = in != NULL;
    out->value = in ? in->value : 0;
}

/* Fields both security contexts have; `caps`, `masked`, `readonly`, the username and the
 * groups policy come from the container's only. */
static void groups_from(pod_linux_security *out, const int64_t *v, size_t n)
{
    out->n_supplemental_groups = n;
    out->supplemental_groups = wc_xcalloc(n + 1, sizeof *out->supplemental_groups);
    if (n)
        memcpy(out->supplemental_groups, v, n * sizeof *v);
}

static void container_security_from(pod_linux_security *out,
                                    const Runtime__V1__LinuxContainerSecurityContext *in)
{
    memset(out, 0, sizeof *out);
    out->set = in != NULL;
    const Runtime__V1__Capability *caps = in ? in->capabilities : NULL;
    strs_from(&out->add_caps, caps ? caps->add_capabilities : NULL,
              caps ? caps->n_add_capabilities : 0);
    strs_from(&out->drop_caps, caps ? caps->drop_capabilities : NULL,
              caps ? caps->n_drop_capabilities : 0);
    strs_from(&out->add_ambient_caps, caps ? caps->add_ambient_capabilities : NULL,
              caps ? caps->n_add_ambient_capabilities : 0);
    ns_from(&out->ns, in ? in->namespace_options : NULL);
    out->run_as_username = str(in ? in->run_as_username : "");
    groups_from(out, in ? in->supplemental_groups : NULL, in ? in->n_supplemental_groups : 0);
    strs_from(&out->masked_paths, in ? in->masked_paths : NULL, in ? in->n_masked_paths : 0);
    strs_from(&out->readonly_paths, in ? in->readonly_paths : NULL, in ? in->n_readonly_paths : 0);
    profile_from(&out->seccomp, in ? in->seccomp : NULL);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    out->seccomp_profile_path = str(in ? in->seccomp_profile_path : "");
#pragma GCC diagnostic pop
    if (!in)
        return;
    out->privileged = in->privileged;
    opt_from(&out->run_as_user, in->run_as_user);
    opt_from(&out->run_as_group, in->run_as_group);
    out->readonly_rootfs = in->readonly_rootfs;
    out->supplemental_groups_strict =
        in->supplemental_groups_policy == RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
    out->no_new_privs = in->no_new_privs;
}

static void sandbox_security_from(pod_linux_security *out,
                                  const Runtime__V1__LinuxSandboxSecurityContext *in)
{
    memset(out, 0, sizeof *out);
    out->set = in != NULL;
    strs_from(&out->add_caps, NULL, 0);
    strs_from(&out->drop_caps, NULL, 0);
    strs_from(&out->add_ambient_caps, NULL, 0);
    ns_from(&out->ns, in ? in->namespace_options : NULL);
    out->run_as_username = str("");
    groups_from(out, in ? in->supplemental_groups : NULL, in ? in->n_supplemental_groups : 0);
    strs_from(&out->masked_paths, NULL, 0);
    strs_from(&out->readonly_paths, NULL, 0);
    profile_from(&out->seccomp, in ? in->seccomp : NULL);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    out->seccomp_profile_path = str(in ? in->seccomp_profile_path : "");
#pragma GCC diagnostic pop
    if (!in)
        return;
    out->privileged = in->privileged;
    opt_from(&out->run_as_user, in->run_as_user);
    opt_from(&out->run_as_group, in->run_as_group);
    out->readonly_rootfs = in->readonly_rootfs;
    out->supplemental_groups_strict =
        in->supplemental_groups_policy == RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
}

static void windows_security_from(pod_windows_security *out, const char *user, const char *cred,
                                  int host_process, int set)
{
    out->set = set;
    out->run_as_username = str(user);
    out->credential_spec = str(cred);
    out->host_process = host_process;
}

static void mounts_from(pod_container_config *c, const Runtime__V1__ContainerConfig *in)
{
    c->n_mounts = in->n_mounts;
    c->mounts = wc_xcalloc(in->n_mounts + 1, sizeof *c->mounts);
    for (size_t i = 0; i < in->n_mounts; i++) {
        const Runtime__V1__Mount *m = in->mounts[i];
        pod_mount *o = &c->mounts[i];
        o->container_path = str(m->container_path);
        o->host_path = str(m->host_path);
        o->readonly = m->readonly;
        o->selinux_relabel = m->selinux_relabel;
        o->propagation = (pod_propagation)m->propagation;
        o->recursive_read_only = m->recursive_read_only;
        o->id_mapped = m->n_uidmappings > 0 || m->n_gidmappings > 0;
        o->image = str(m->image ? m->image->image : "");
    }
}

static void devices_from(pod_container_config *c, const Runtime__V1__ContainerConfig *in)
{
    c->n_devices = in->n_devices;
    c->devices = wc_xcalloc(in->n_devices + 1, sizeof *c->devices);
    for (size_t i = 0; i < in->n_devices; i++) {
        c->devices[i].container_path = str(in->devices[i]->container_path);
        c->devices[i].host_path = str(in->devices[i]->host_path);
        c->devices[i].permissions = str(in->devices[i]->permissions);
    }
}

pod_container_config *cri_container_config_from_pb(const Runtime__V1__ContainerConfig *in)
{
    static const Runtime__V1__ContainerConfig empty = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    if (!in)
        in = &empty;
    pod_container_config *c = pod_container_config_new();
    c->name = str(in->metadata ? in->metadata->name : "");
    c->attempt = in->metadata ? in->metadata->attempt : 0;
    c->image = str(in->image ? in->image->image : "");
    c->user_specified_image = str(in->image ? in->image->user_specified_image : "");
    strs_from(&c->command, in->command, in->n_command);
    strs_from(&c->args, in->args, in->n_args);
    c->working_dir = str(in->working_dir);
    kvs_from_pairs(&c->envs, in->n_envs, in->envs);
    mounts_from(c, in);
    devices_from(c, in);
    kvs_from_map(&c->labels, in->n_labels, (void *const *)in->labels);
    kvs_from_map(&c->annotations, in->n_annotations, (void *const *)in->annotations);
    c->log_path = str(in->log_path);
    c->stdin_ = in->stdin_;
    c->stdin_once = in->stdin_once;
    c->tty = in->tty;
    const Runtime__V1__LinuxContainerConfig *l = in->linux;
    cri_linux_resources_from_pb(l ? l->resources : NULL, &c->linux_resources);
    container_security_from(&c->linux_security, l ? l->security_context : NULL);
    const Runtime__V1__WindowsContainerConfig *w = in->windows;
    cri_windows_resources_from_pb(w ? w->resources : NULL, &c->windows_resources);
    const Runtime__V1__WindowsContainerSecurityContext *ws = w ? w->security_context : NULL;
    windows_security_from(&c->windows_security, ws ? ws->run_as_username : "",
                          ws ? ws->credential_spec : "", ws && ws->host_process, ws != NULL);
    c->stop_signal = (int)in->stop_signal;
    return c;
}

pod_sandbox_config *cri_sandbox_config_from_pb(const Runtime__V1__PodSandboxConfig *in)
{
    static const Runtime__V1__PodSandboxConfig empty = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    if (!in)
        in = &empty;
    pod_sandbox_config *c = pod_sandbox_config_new();
    const Runtime__V1__PodSandboxMetadata *md = in->metadata;
    c->name = str(md ? md->name : "");
    c->uid = str(md ? md->uid : "");
    c->namespace_ = str(md ? md->namespace_ : "");
    c->attempt = md ? md->attempt : 0;
    c->hostname = str(in->hostname);
    c->log_directory = str(in->log_directory);
    const Runtime__V1__DNSConfig *dns = in->dns_config;
    c->dns.set = dns != NULL;
    strs_from(&c->dns.servers, dns ? dns->servers : NULL, dns ? dns->n_servers : 0);
    strs_from(&c->dns.searches, dns ? dns->searches : NULL, dns ? dns->n_searches : 0);
    strs_from(&c->dns.options, dns ? dns->options : NULL, dns ? dns->n_options : 0);
    c->n_ports = in->n_port_mappings;
    c->ports = wc_xcalloc(in->n_port_mappings + 1, sizeof *c->ports);
    for (size_t i = 0; i < in->n_port_mappings; i++) {
        const Runtime__V1__PortMapping *p = in->port_mappings[i];
        c->ports[i] = (pod_port_mapping){.protocol = (pod_protocol)p->protocol,
                                         .container_port = p->container_port,
                                         .host_port = p->host_port,
                                         .host_ip = str(p->host_ip)};
    }
    kvs_from_map(&c->labels, in->n_labels, (void *const *)in->labels);
    kvs_from_map(&c->annotations, in->n_annotations, (void *const *)in->annotations);
    const Runtime__V1__LinuxPodSandboxConfig *l = in->linux;
    c->linux_set = l != NULL;
    c->cgroup_parent = str(l ? l->cgroup_parent : "");
    sandbox_security_from(&c->linux_security, l ? l->security_context : NULL);
    kvs_from_map(&c->sysctls, l ? l->n_sysctls : 0, l ? (void *const *)l->sysctls : NULL);
    cri_linux_resources_from_pb(l ? l->overhead : NULL, &c->linux_overhead);
    cri_linux_resources_from_pb(l ? l->resources : NULL, &c->linux_resources);
    const Runtime__V1__WindowsSandboxSecurityContext *ws =
        in->windows ? in->windows->security_context : NULL;
    windows_security_from(&c->windows_security, ws ? ws->run_as_username : "",
                          ws ? ws->credential_spec : "", ws && ws->host_process, ws != NULL);
    return c;
}

/* ---- back to protobuf ---- */

Runtime__V1__ContainerMetadata *cri_container_metadata_pb(const pod_container_config *c)
{
    Runtime__V1__ContainerMetadata *m =
        cri_new(Runtime__V1__ContainerMetadata, runtime__v1__container_metadata);
    m->name = cri_strdup(c->name);
    m->attempt = c->attempt;
    return m;
}

Runtime__V1__PodSandboxMetadata *cri_sandbox_metadata_pb(const pod_sandbox_config *c)
{
    Runtime__V1__PodSandboxMetadata *m =
        cri_new(Runtime__V1__PodSandboxMetadata, runtime__v1__pod_sandbox_metadata);
    m->name = cri_strdup(c->name);
    m->uid = cri_strdup(c->uid);
    m->namespace_ = cri_strdup(c->namespace_);
    m->attempt = c->attempt;
    return m;
}

Runtime__V1__Mount *cri_mount_pb(const pod_mount *in)
{
    Runtime__V1__Mount *m = cri_new(Runtime__V1__Mount, runtime__v1__mount);
    m->container_path = cri_strdup(in->container_path);
    m->host_path = cri_strdup(in->host_path);
    m->readonly = in->readonly;
    m->selinux_relabel = in->selinux_relabel;
    m->propagation = (Runtime__V1__MountPropagation)in->propagation;
    m->recursive_read_only = in->recursive_read_only;
    return m;
}

Runtime__V1__LinuxContainerResources *cri_linux_resources_pb(const pod_linux_resources *r)
{
    Runtime__V1__LinuxContainerResources *o =
        cri_new(Runtime__V1__LinuxContainerResources, runtime__v1__linux_container_resources);
    o->cpu_period = r->cpu_period;
    o->cpu_quota = r->cpu_quota;
    o->cpu_shares = r->cpu_shares;
    o->memory_limit_in_bytes = r->memory_limit_in_bytes;
    o->memory_swap_limit_in_bytes = r->memory_swap_limit_in_bytes;
    o->oom_score_adj = r->oom_score_adj;
    o->cpuset_cpus = cri_strdup(r->cpuset_cpus);
    o->cpuset_mems = cri_strdup(r->cpuset_mems);
    o->n_hugepage_limits = r->n_hugepages;
    o->hugepage_limits = wc_xcalloc(r->n_hugepages + 1, sizeof *o->hugepage_limits);
    for (size_t i = 0; i < r->n_hugepages; i++) {
        Runtime__V1__HugepageLimit *h =
            cri_new(Runtime__V1__HugepageLimit, runtime__v1__hugepage_limit);
        h->page_size = cri_strdup(r->hugepages[i].page_size);
        h->limit = r->hugepages[i].limit;
        o->hugepage_limits[i] = h;
    }
    cri_kvs_to_map(&r->unified, &o->n_unified, &o->unified,
                   &runtime__v1__linux_container_resources__unified_entry__descriptor);
    return o;
}

Runtime__V1__WindowsContainerResources *cri_windows_resources_pb(const pod_windows_resources *r)
{
    Runtime__V1__WindowsContainerResources *o =
        cri_new(Runtime__V1__WindowsContainerResources, runtime__v1__windows_container_resources);
    o->cpu_shares = r->cpu_shares;
    o->cpu_count = r->cpu_count;
    o->cpu_maximum = r->cpu_maximum;
    o->memory_limit_in_bytes = r->memory_limit_in_bytes;
    o->rootfs_size_in_bytes = r->rootfs_size_in_bytes;
    return o;
}

Runtime__V1__NamespaceOption *cri_namespace_option_pb(const pod_ns_options *n)
{
    Runtime__V1__NamespaceOption *o =
        cri_new(Runtime__V1__NamespaceOption, runtime__v1__namespace_option);
    o->network = (Runtime__V1__NamespaceMode)n->network;
    o->pid = (Runtime__V1__NamespaceMode)n->pid;
    o->ipc = (Runtime__V1__NamespaceMode)n->ipc;
    o->target_id = cri_strdup(n->target_id);
    if (n->userns_set) {
        o->userns_options = cri_new(Runtime__V1__UserNamespace, runtime__v1__user_namespace);
        o->userns_options->mode = (Runtime__V1__NamespaceMode)n->userns_mode;
    }
    return o;
}

void cri_kvs_to_map(const pod_kvs *kvs, size_t *n, void *entries_field,
                    const ProtobufCMessageDescriptor *desc)
{
    for (size_t i = 0; i < kvs->n; i++)
        cri_map_add(n, entries_field, desc, kvs->v[i].key, kvs->v[i].value);
}

int cri_labels_match(const pod_kvs *labels, size_t n_sel, void *const *selector_entries)
{
    for (size_t i = 0; i < n_sel; i++) {
        const map_entry *want = selector_entries[i];
        const char *have = pod_kvs_get(labels, want->key);
        if (!have || strcmp(have, want->value) != 0)
            return 0;
    }
    return 1;
}

/* ---- 0.1 stores ---- */

static pod_sandbox_config *legacy_sandbox(const void *bytes, size_t len)
{
    Runtime__V1__PodSandboxConfig *pb =
        runtime__v1__pod_sandbox_config__unpack(NULL, len, (const uint8_t *)bytes);
    pod_sandbox_config *c = pb ? cri_sandbox_config_from_pb(pb) : NULL;
    if (pb)
        runtime__v1__pod_sandbox_config__free_unpacked(pb, NULL);
    return c;
}

static pod_container_config *legacy_container(const void *bytes, size_t len)
{
    Runtime__V1__ContainerConfig *pb =
        runtime__v1__container_config__unpack(NULL, len, (const uint8_t *)bytes);
    pod_container_config *c = pb ? cri_container_config_from_pb(pb) : NULL;
    if (pb)
        runtime__v1__container_config__free_unpacked(pb, NULL);
    return c;
}

const pod_legacy_decoder cri_legacy_decoder = {.sandbox = legacy_sandbox,
                                               .container = legacy_container};
