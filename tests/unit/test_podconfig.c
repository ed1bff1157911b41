/* The pod model's plain configs: CRI messages convert into them (cri/podconfig_pb.c) and their
 * JSON form (what the store keeps) reads back to the same config. */
#include "tests/unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "cri/podconfig_pb.h"

/* A container config with every kind of field the model reads set to something. */
static pod_container_config *full_container(void)
{
    Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
    Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
    Runtime__V1__KeyValue e1 = RUNTIME__V1__KEY_VALUE__INIT, e2 = RUNTIME__V1__KEY_VALUE__INIT;
    Runtime__V1__Mount m = RUNTIME__V1__MOUNT__INIT;
    Runtime__V1__Device d = RUNTIME__V1__DEVICE__INIT;
    Runtime__V1__ContainerConfig__LabelsEntry l = RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT;
    Runtime__V1__LinuxContainerConfig lc = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    Runtime__V1__HugepageLimit hp = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
    Runtime__V1__LinuxContainerSecurityContext sc =
        RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    Runtime__V1__Capability caps = RUNTIME__V1__CAPABILITY__INIT;
    Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
    Runtime__V1__Int64Value uid = RUNTIME__V1__INT64_VALUE__INIT;
    Runtime__V1__SecurityProfile seccomp = RUNTIME__V1__SECURITY_PROFILE__INIT;
    char *cmd[] = {"/bin/sh", "-c"}, *args[] = {"echo hi"}, *add[] = {"NET_ADMIN"};
    Runtime__V1__KeyValue *envs[] = {&e1, &e2};
    Runtime__V1__Mount *mounts[] = {&m};
    Runtime__V1__Device *devices[] = {&d};
    Runtime__V1__ContainerConfig__LabelsEntry *labels[] = {&l};
    Runtime__V1__HugepageLimit *hps[] = {&hp};
    int64_t groups[] = {5, 6};
    md.name = "app";
    md.attempt = 3;
    img.image = "busybox";
    img.user_specified_image = "docker.io/busybox";
    e1.key = "A", e1.value = "1", e2.key = "A", e2.value = "2";
    m.container_path = "/data", m.host_path = "/srv", m.readonly = 1,
    m.propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
    d.container_path = "/dev/x", d.host_path = "/dev/y", d.permissions = "rw";
    l.key = "tier", l.value = "web\n";
    hp.page_size = "2MB", hp.limit = 1 << 21;
    r.cpu_shares = 512, r.memory_limit_in_bytes = 1 << 26, r.oom_score_adj = -5,
    r.cpuset_cpus = "0-1", r.n_hugepage_limits = 1, r.hugepage_limits = hps;
    caps.add_capabilities = add, caps.n_add_capabilities = 1;
    ns.pid = RUNTIME__V1__NAMESPACE_MODE__TARGET, ns.target_id = "abc";
    uid.value = 1000;
    seccomp.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
    seccomp.localhost_ref = "/p.json";
    sc.capabilities = &caps, sc.namespace_options = &ns, sc.run_as_user = &uid,
    sc.supplemental_groups = groups, sc.n_supplemental_groups = 2, sc.seccomp = &seccomp,
    sc.supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
    lc.resources = &r, lc.security_context = &sc;
    cc.metadata = &md, cc.image = &img, cc.command = cmd, cc.n_command = 2, cc.args = args,
    cc.n_args = 1, cc.envs = envs, cc.n_envs = 2, cc.mounts = mounts, cc.n_mounts = 1,
    cc.devices = devices, cc.n_devices = 1, cc.labels = labels, cc.n_labels = 1,
    cc.log_path = "app/0.log", cc.stdin_ = 1, cc.tty = 1, cc.linux = &lc,
    cc.stop_signal = RUNTIME__V1__SIGNAL__SIGUSR1;
    return cri_container_config_from_pb(&cc);
}

static void container_converts_and_round_trips(void **state)
{
    (void)state;
    pod_container_config *c = full_container();
    assert_string_equal(c->name, "app");
    assert_int_equal(c->attempt, 3);
    assert_string_equal(c->user_specified_image, "docker.io/busybox");
    assert_string_equal(pod_kvs_get(&c->envs, "A"), "2"); /* the later one wins */
    assert_int_equal(c->mounts[0].propagation, POD_PROPAGATION_BIDIRECTIONAL);
    assert_true(c->linux_resources.set && !c->windows_resources.set);
    assert_int_equal(c->linux_resources.hugepages[0].limit, 1 << 21);
    assert_true(c->linux_security.ns.set);
    assert_int_equal(c->linux_security.ns.pid, POD_NS_TARGET);
    assert_true(c->linux_security.run_as_user.set && !c->linux_security.run_as_group.set);
    assert_true(c->linux_security.supplemental_groups_strict);
    assert_int_equal(c->linux_security.seccomp.type, POD_PROFILE_LOCALHOST);
    assert_string_equal(c->windows_security.credential_spec, ""); /* never NULL */

    json_t *j = pod_container_config_to_json(c);
    pod_container_config *back = NULL;
    wc_err err = {0};
    assert_int_equal(pod_container_config_from_json(j, &back, &err), 0);
    json_t *j2 = pod_container_config_to_json(back);
    assert_true(json_equal(j, j2));
    pod_container_config *copy = pod_container_config_copy(back);
    assert_string_equal(copy->mounts[0].host_path, "/srv");
    json_decref(j);
    json_decref(j2);
    pod_container_config_unref(copy);
    pod_container_config_unref(back);
    pod_container_config_unref(c);
}

static void absent_messages_read_as_empty(void **state)
{
    (void)state;
    pod_container_config *c = cri_container_config_from_pb(NULL);
    assert_string_equal(c->name, "");
    assert_false(c->linux_resources.set || c->linux_security.set || c->windows_security.set);
    pod_sandbox_config *s = cri_sandbox_config_from_pb(NULL);
    assert_false(s->dns.set || s->linux_set || s->linux_security.ns.set);
    assert_string_equal(s->cgroup_parent, "");
    pod_container_config_unref(c);
    pod_sandbox_config_unref(s);
}

static void sandbox_round_trips(void **state)
{
    (void)state;
    Runtime__V1__PodSandboxConfig sb = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    Runtime__V1__DNSConfig dns = RUNTIME__V1__DNSCONFIG__INIT;
    Runtime__V1__PortMapping pm = RUNTIME__V1__PORT_MAPPING__INIT;
    Runtime__V1__PortMapping *ports[] = {&pm};
    char *servers[] = {"10.0.0.10"};
    md.name = "web", md.namespace_ = "default", md.uid = "u1", md.attempt = 1;
    dns.servers = servers, dns.n_servers = 1;
    pm.protocol = RUNTIME__V1__PROTOCOL__UDP, pm.container_port = 53, pm.host_port = 5353;
    sb.metadata = &md, sb.hostname = "web-0", sb.dns_config = &dns, sb.port_mappings = ports,
    sb.n_port_mappings = 1;
    pod_sandbox_config *s = cri_sandbox_config_from_pb(&sb);
    assert_true(s->dns.set);
    assert_int_equal(s->ports[0].protocol, POD_PROTO_UDP);
    json_t *j = pod_sandbox_config_to_json(s);
    pod_sandbox_config *back = NULL;
    wc_err err = {0};
    assert_int_equal(pod_sandbox_config_from_json(j, &back, &err), 0);
    json_t *j2 = pod_sandbox_config_to_json(back);
    assert_true(json_equal(j, j2));
    assert_string_equal(back->dns.servers.v[0], "10.0.0.10");
    json_decref(j);
    json_decref(j2);
    pod_sandbox_config_unref(back);
    pod_sandbox_config_unref(s);
}

static void a_damaged_record_is_refused_naming_the_key(void **state)
{
    (void)state;
    json_t *j = json_pack("{s:s,s:i}", "name", "app", "log_path", 7);
    pod_container_config *c = NULL;
    wc_err err = {0};
    assert_int_equal(pod_container_config_from_json(j, &c, &err), -1);
    assert_null(c);
    assert_int_equal(err.code, WC_INTERNAL);
    assert_non_null(strstr(err.msg, "\"log_path\""));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(container_converts_and_round_trips),
        cmocka_unit_test(absent_messages_read_as_empty),
        cmocka_unit_test(sandbox_round_trips),
        cmocka_unit_test(a_damaged_record_is_refused_naming_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
