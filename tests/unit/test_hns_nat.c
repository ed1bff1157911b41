/* The built-in NAT mode's pure parts (hns/nat.c): the windows_nat config, next-free address
 * choice, the network / endpoint / query documents against goldens in
 * tests/windows/golden-hcn/ (sources in that folder's README), the result kept with the pod,
 * and the NetworkReady decision on this (Linux) host. */
#include "tests/unit/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "hns/cni_int.h"
#include "hns/hcndoc.h"
#include "hns/nat.h"

#define GOLDEN_DIR "tests/windows/golden-hcn/"
#define NET_ID "1E2F3A4B-0000-4000-8000-00155D52C000"
#define EP_ID "9A3C6E1F-2B4D-4E8A-9C1B-7D5E3F2A1B0C"

static void assert_golden(json_t *doc, const char *name)
{
    assert_non_null(doc);
    char path[512];
    const char *root = getenv("WINCRI_SRC");
    snprintf(path, sizeof path, "%s%s" GOLDEN_DIR "%s", root ? root : "", root ? "/" : "", name);
    json_error_t je;
    json_t *want = json_load_file(path, 0, &je);
    if (!want)
        fail_msg("golden %s: %s", path, je.text);
    if (!json_equal(doc, want)) {
        char *got = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        print_error("got:\n%s\n", got);
        free(got);
        fail_msg("document differs from golden %s", name);
    }
    json_decref(want);
    json_decref(doc);
}

static wc_config *config(const char *text)
{
    wc_config *cfg = NULL;
    wc_err err = {0};
    if (wc_config_parse(text, "(test)", &cfg, &err) < 0)
        fail_msg("config: %s", err.msg);
    return cfg;
}

static void config_defaults_and_checks(void **state)
{
    (void)state;
    wc_err err = {0};
    hns_nat_config c;
    wc_config *cfg = config("{}");
    assert_int_equal(hns_nat_config_read(cfg, &c, &err), 0);
    assert_true(c.enabled);
    assert_string_equal(c.network, "wincri-nat");
    assert_string_equal(c.subnet, "172.30.0.0/16");
    assert_string_equal(c.gateway, "172.30.0.1");
    wc_config_free(cfg);

    cfg = config("{\"windows_nat\":{\"enabled\":false,\"network\":\"n\",\"subnet\":\"10.9.0.0/24\","
                 "\"gateway\":\"10.9.0.254\"}}");
    assert_int_equal(hns_nat_config_read(cfg, &c, &err), 0);
    assert_false(c.enabled);
    assert_string_equal(c.gateway, "10.9.0.254");
    wc_config_free(cfg);

    static const char *const bad[][2] = {
        {"{\"windows_nat\":{\"subnet\":\"10.9.0.0\"}}", "is not an IPv4 CIDR"},
        {"{\"windows_nat\":{\"subnet\":\"10.9.0.0/31\"}}", "prefix of 1-30"},
        {"{\"windows_nat\":{\"subnet\":\"10.9.300.0/24\"}}", "is not an IPv4 address"},
        {"{\"windows_nat\":{\"subnet\":\"fd00::/64\"}}", "is not an IPv4"},
        {"{\"windows_nat\":{\"gateway\":\"10.0.0.1\"}}", "is not a host address in 172.30.0.0/16"},
        {"{\"windows_nat\":{\"gateway\":\"172.30.0.0\"}}", "is not a host address"},
        {"{\"windows_nat\":{\"gateway\":\"172.30.255.255\"}}", "is not a host address"},
        {"{\"windows_nat\":{\"network\":\"\"}}", "windows_nat.network must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg = config(bad[i][0]);
        wc_err_clear(&err);
        assert_int_equal(hns_nat_config_read(cfg, &c, &err), -1);
        assert_int_equal(err.code, WC_INVALID_ARGUMENT);
        if (!strstr(err.msg, bad[i][1]))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i][0], err.msg, bad[i][1]);
        wc_config_free(cfg);
    }
    /* An unknown key is refused by the config template itself. */
    wc_config *none = NULL;
    assert_int_equal(wc_config_parse("{\"windows_nat\":{\"subnett\":\"x\"}}", "(t)", &none, &err),
                     -1);
}

static void next_ip_skips_network_gateway_and_used(void **state)
{
    (void)state;
    wc_err err = {0};
    char ip[16];
    uint8_t prefix = 0;
    assert_int_equal(hns_nat_next_ip("172.30.0.0/16", "172.30.0.1", NULL, 0, ip, &prefix, &err), 0);
    assert_string_equal(ip, "172.30.0.2");
    assert_int_equal(prefix, 16);
    /* A freed address is reused first; garbage in the used list is ignored. */
    const char *used[] = {"172.30.0.2", "172.30.0.4", "not-an-ip", "10.0.0.3"};
    assert_int_equal(hns_nat_next_ip("172.30.0.0/16", "172.30.0.1", used, 4, ip, &prefix, &err), 0);
    assert_string_equal(ip, "172.30.0.3");
    /* Crossing an octet boundary; a subnet given with host bits is masked. */
    const char *full[] = {"10.1.0.253", "10.1.0.254", "10.1.0.255"};
    assert_int_equal(hns_nat_next_ip("10.1.0.77/23", "10.1.0.1", NULL, 0, ip, &prefix, &err), 0);
    assert_string_equal(ip, "10.1.0.2");
    char many[256][24];
    const char *all[256];
    for (int i = 2; i < 253; i++) {
        snprintf(many[i], sizeof many[i], "10.1.0.%d", i);
        all[i - 2] = many[i];
    }
    for (int i = 0; i < 3; i++)
        all[251 + i] = full[i];
    assert_int_equal(hns_nat_next_ip("10.1.0.0/23", "10.1.0.1", all, 254, ip, &prefix, &err), 0);
    assert_string_equal(ip, "10.1.1.0");
    assert_int_equal(prefix, 23);
    /* /30: two hosts, gateway one, pod the other, then full. */
    assert_int_equal(hns_nat_next_ip("192.168.5.4/30", "192.168.5.5", NULL, 0, ip, &prefix, &err),
                     0);
    assert_string_equal(ip, "192.168.5.6");
    const char *taken[] = {"192.168.5.6"};
    assert_int_equal(hns_nat_next_ip("192.168.5.4/30", "192.168.5.5", taken, 1, ip, &prefix, &err),
                     -1);
    assert_int_equal(err.code, WC_RESOURCE_EXHAUSTED);
    assert_string_equal(err.msg, "NAT subnet 192.168.5.4/30 has no free address left (1 in use)");
    assert_int_equal(hns_nat_next_ip("192.168.5.4", "", NULL, 0, ip, &prefix, &err), -1);
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
}

static hns_nat_config default_nat(void)
{
    hns_nat_config c = {.enabled = 1};
    snprintf(c.network, sizeof c.network, "wincri-nat");
    snprintf(c.subnet, sizeof c.subnet, "172.30.0.0/16");
    snprintf(c.gateway, sizeof c.gateway, "172.30.0.1");
    return c;
}

static void network_document(void **state)
{
    (void)state;
    wc_err err = {0};
    hns_nat_config c = default_nat();
    assert_golden(hns_nat_network_doc(&c, &err), "nat_network_builtin.json");
}

/* A pod with two hostPorts, a containerPort without one (not published), DNS from its
 * DNSConfig (ndots-style options are not HCN's business). */
static void endpoint_document_from_pod(void **state)
{
    (void)state;
    wc_err err = {0};
    hns_nat_config c = default_nat();
    hns_port_mapping ports[] = {
        {.protocol = "tcp", .container_port = 80, .host_port = 8080, .host_ip = ""},
        {.protocol = "tcp", .container_port = 9090, .host_port = 0, .host_ip = ""},
        {.protocol = "UDP", .container_port = 53, .host_port = 5353, .host_ip = "10.0.0.4"},
    };
    const char *dns[] = {"10.96.0.10"}, *search[] = {"default.svc.cluster.local"},
               *opts[] = {"ndots:5"};
    hns_pod_net pod = {.pod_id = "3f2a9c1e",
                       .name = "web",
                       .namespace_ = "default",
                       .ports = ports,
                       .n_ports = 3,
                       .dns_servers = dns,
                       .n_dns_servers = 1,
                       .dns_searches = search,
                       .n_dns_searches = 1,
                       .dns_options = opts,
                       .n_dns_options = 1};
    assert_golden(hns_nat_endpoint_doc(&c, &pod, NET_ID, "172.30.0.2", 16, &err),
                  "nat_pod_endpoint.json");

    hns_port_mapping bad = {.protocol = "tcp", .container_port = 0, .host_port = 80};
    hns_pod_net p2 = {.pod_id = "p2", .ports = &bad, .n_ports = 1};
    assert_null(hns_nat_endpoint_doc(&c, &p2, NET_ID, "172.30.0.3", 16, &err));
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_string_equal(err.msg, "pod p2: port mapping 80 -> 0 is out of range");
    hns_port_mapping proto = {.protocol = "icmp", .container_port = 1, .host_port = 1};
    p2.ports = &proto;
    assert_null(hns_nat_endpoint_doc(&c, &p2, NET_ID, "172.30.0.3", 16, &err));
}

static void endpoints_of_network_query(void **state)
{
    (void)state;
    assert_golden(hns_hcn_query_doc("VirtualNetwork", NET_ID, 0),
                  "query_endpoints_of_network.json");
    char *name = hns_nat_endpoint_name("3f2a9c1e", "wincri-nat");
    assert_string_equal(name, "3f2a9c1e_wincri-nat");
    free(name);
}

/* The saved result gives the pod IP the CNI way and marks the endpoint for detach. */
static void result_round_trip(void **state)
{
    (void)state;
    wc_err err = {0};
    hns_nat_config c = default_nat();
    char *r = hns_nat_result(&c, EP_ID, "172.30.0.7", 16);
    assert_non_null(r);
    json_t *doc = json_loads(r, 0, NULL);
    char **ips = NULL;
    size_t n = 0;
    assert_int_equal(hns_cni_result_ips(doc, &ips, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ips[0], "172.30.0.7");
    free(ips[0]);
    free(ips);
    json_decref(doc);
    char id[37];
    assert_int_equal(hns_nat_result_endpoint(r, id), 1);
    assert_string_equal(id, EP_ID);
    free(r);
    assert_int_equal(hns_nat_result_endpoint(NULL, id), 0);
    assert_int_equal(hns_nat_result_endpoint("", id), 0);
    assert_int_equal(hns_nat_result_endpoint("{\"cniVersion\":\"1.0.0\",\"ips\":[]}", id), 0);
    assert_int_equal(hns_nat_result_endpoint("{\"wincriNat\":{\"endpoint\":\"short\"}}", id), 0);
}

/* On Linux the mode does not exist: no fallback, NetworkReady needs a CNI config. */
static void linux_needs_cni_config(void **state)
{
    (void)state;
    char dir[] = "/tmp/wincri-nat-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char text[256];
    snprintf(text, sizeof text, "{\"cni_conf_dir\":\"%s\"}", dir);
    wc_config *cfg = config(text);
    wc_err err = {0};
    char *detail = NULL;
    assert_int_equal(hns_nat_supported(), 0);
    assert_int_equal(hns_network_ready(cfg, &detail, &err), 0);
    assert_string_equal(detail, "");
    assert_int_equal(err.code, WC_FAILED_PRECONDITION);
    assert_non_null(strstr(err.msg, "no CNI network config"));
    free(detail);
    hns_network *net = NULL;
    assert_int_equal(hns_network_open(cfg, &net, &err), 0);
    assert_false(hns_nat_builtin(net));
    hns_attach_result res;
    hns_pod_net pod = {.pod_id = "p"};
    assert_int_equal(hns_attach(net, "/run/netns/none", &pod, &res, &err), -1);
    assert_non_null(strstr(err.msg, "no CNI network config"));
    hns_network_close(net);

    char conf[300];
    snprintf(conf, sizeof conf, "%s/10-test.conf", dir);
    FILE *f = fopen(conf, "w");
    fputs("{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"type\":\"bridge\"}", f);
    fclose(f);
    wc_err_clear(&err);
    assert_int_equal(hns_network_ready(cfg, &detail, &err), 1);
    assert_string_equal(detail, conf);
    free(detail);
    unlink(conf);
    rmdir(dir);
    wc_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_defaults_and_checks),
        cmocka_unit_test(next_ip_skips_network_gateway_and_used),
        cmocka_unit_test(network_document),
        cmocka_unit_test(endpoint_document_from_pod),
        cmocka_unit_test(endpoints_of_network_query),
        cmocka_unit_test(result_round_trip),
        cmocka_unit_test(linux_needs_cni_config),
    };
    return cmocka_run_group_tests_name("hns_nat", tests, NULL, NULL);
}
