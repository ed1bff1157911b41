/* HCN documents against goldens in tests/windows/golden-hcn/ (hand-derived from hcsshim's
 * hcn package; see that folder's README for the table of sources), HCN reply parsing,
 * GUIDs, and the HCN_E_* table. */
#include "tests/unit/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hns/hcndoc.h"
#include "hns/hcnerr.h"

#define GOLDEN_DIR "tests/windows/golden-hcn/"

static char *slurp(const char *name)
{
    char path[512];
    const char *root = getenv("WINCRI_SRC");
    snprintf(path, sizeof path, "%s%s%s" GOLDEN_DIR "%s", root ? root : "", root ? "/" : "", "",
             name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open golden %s (run from the repository root or set WINCRI_SRC)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void assert_golden(json_t *doc, const char *name)
{
    assert_non_null(doc);
    char *text = slurp(name);
    json_error_t je;
    json_t *want = json_loads(text, 0, &je);
    if (!want)
        fail_msg("golden %s: %s", name, je.text);
    if (!json_equal(doc, want)) {
        char *got = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fail_msg("%s differs; got:\n%s\nwant:\n%s", name, got, text);
    }
    /* The text handed to the DLL parses back to the same document. */
    char *dumped = hns_hcn_dump(doc);
    json_t *back = json_loads(dumped, 0, &je);
    assert_true(json_equal(back, want));
    json_decref(back);
    free(dumped);
    json_decref(want);
    json_decref(doc);
    free(text);
}

static const char *const NS_ID = "5F0B1190-63BE-4E0C-B974-BD0F55675A42";
static const char *const NET_ID = "1E2F3A4B-0000-4000-8000-00155D52C000";

/* hcn/hcnnamespace.go NewNamespace(NamespaceTypeHostDefault); hcnutils_test.go
 * HcnCreateTestNamespace. */
static void namespace_host_default(void **state)
{
    assert_golden(hns_hcn_namespace_doc(HNS_NS_HOST_DEFAULT, 0), "namespace_host_default.json");
    /* The exact text sent to HcnCreateNamespace (Go's field order: Type first). */
    json_t *d = hns_hcn_namespace_doc(HNS_NS_HOST_DEFAULT, 0);
    char *text = hns_hcn_dump(d);
    assert_string_equal(text,
                        "{\"Type\":\"HostDefault\",\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}");
    free(text);
    json_decref(d);
}

/* hcn/hcnnamespace.go NewNamespace when HNS >= 15.2. */
static void namespace_ready_on_create(void **state)
{
    assert_golden(hns_hcn_namespace_doc(HNS_NS_HOST_DEFAULT, 1), "namespace_ready_on_create.json");
}

/* hcn/hcnnamespace.go AddNamespaceEndpoint / RemoveNamespaceEndpoint. */
static void namespace_modify(void **state)
{
    wc_err err = {0};
    assert_golden(hns_hcn_namespace_modify_doc(1, NS_ID, &err), "namespace_add_endpoint.json");
    assert_golden(hns_hcn_namespace_modify_doc(0, NS_ID, &err), "namespace_remove_endpoint.json");
    assert_null(hns_hcn_namespace_modify_doc(1, "not-a-guid", &err));
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
    assert_string_equal(err.msg, "endpoint id \"not-a-guid\" is not a GUID");
}

/* hcn/hcnutils_test.go HcnGenerateNATNetwork(GetDefaultSubnet()). */
static void nat_network(void **state)
{
    wc_err err = {0};
    hns_nat_network_spec s = {.name = "GoTestNat",
                              .subnet = "192.168.100.0/24",
                              .gateway = "192.168.100.1",
                              .mac_start = "00-15-5D-52-C0-00",
                              .mac_end = "00-15-5D-52-CF-FF"};
    assert_golden(hns_hcn_nat_network_doc(&s, &err), "nat_network.json");
    s.subnet = "192.168.100.0/33";
    assert_null(hns_hcn_nat_network_doc(&s, &err));
    assert_string_equal(err.msg, "NAT network subnet \"192.168.100.0/33\" is not a CIDR");
    s.subnet = "192.168.100.0/24";
    s.gateway = "gateway";
    assert_null(hns_hcn_nat_network_doc(&s, &err));
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
}

/* hcn/hcnerrors_test.go TestEndpointAlreadyExistsError (UDP 45678 -> 56789) through
 * hcnutils_test.go HcnCreateTestEndpointWithPolicies. */
static void endpoint_port_mapping(void **state)
{
    wc_err err = {0};
    hns_hcn_port_mapping pm = {.protocol = "UDP", .container_port = 45678, .host_port = 56789};
    hns_endpoint_spec s = {
        .name = "GoTestNatEndpoint", .network_id = NET_ID, .ports = &pm, .n_ports = 1};
    assert_golden(hns_hcn_endpoint_doc(&s, &err), "endpoint_port_mapping.json");
}

/* hcn/hcnutils_test.go HcnCreateTestEndpointWithNamespace. */
static void endpoint_with_namespace(void **state)
{
    wc_err err = {0};
    hns_endpoint_spec s = {
        .name = "GoTestNatEndpoint", .network_id = NET_ID, .namespace_id = NS_ID};
    assert_golden(hns_hcn_endpoint_doc(&s, &err), "endpoint_with_namespace.json");
}

/* wincri's built-in NAT attachment: hostPorts as PortMapping policies, OutBoundNAT with
 * exceptions (hcnpolicy.go), static IP, DNS and default route (hcnendpoint.go). */
static void endpoint_pod_nat(void **state)
{
    wc_err err = {0};
    hns_hcn_port_mapping pms[] = {
        {.protocol = "tcp", .container_port = 80, .host_port = 8080, .host_ip = "0.0.0.0"},
        {.protocol = "UDP", .container_port = 53, .host_port = 5353, .host_ip = "10.0.0.4"},
    };
    const char *dns[] = {"10.96.0.10"};
    const char *search[] = {"default.svc.cluster.local", "svc.cluster.local"};
    const char *exc[] = {"10.0.0.0/8", "192.168.0.0/16"};
    hns_endpoint_spec s = {.name = "8d1f6b2a_wincri-nat",
                           .network_id = NET_ID,
                           .namespace_id = NS_ID,
                           .ip = "172.30.0.5",
                           .prefix_length = 16,
                           .gateway = "172.30.0.1",
                           .dns_servers = dns,
                           .n_dns_servers = 1,
                           .dns_search = search,
                           .n_dns_search = 2,
                           .ports = pms,
                           .n_ports = 2,
                           .outbound_nat = 1,
                           .outbound_nat_exceptions = exc,
                           .n_outbound_nat_exceptions = 2};
    assert_golden(hns_hcn_endpoint_doc(&s, &err), "endpoint_pod_nat.json");
}

static void endpoint_refusals(void **state)
{
    wc_err err = {0};
    hns_hcn_port_mapping bad_proto = {.protocol = "ICMP", .container_port = 1, .host_port = 1};
    hns_endpoint_spec s = {.name = "e", .network_id = NET_ID, .ports = &bad_proto, .n_ports = 1};
    assert_null(hns_hcn_endpoint_doc(&s, &err));
    assert_string_equal(err.msg, "port mapping 0: unknown protocol \"ICMP\"");
    hns_hcn_port_mapping no_host = {.protocol = "TCP", .container_port = 80, .host_port = 0};
    s.ports = &no_host;
    assert_null(hns_hcn_endpoint_doc(&s, &err));
    assert_non_null(strstr(err.msg, "no ephemeral host ports"));
    s.n_ports = 0;
    s.network_id = "nat";
    assert_null(hns_hcn_endpoint_doc(&s, &err));
    assert_string_equal(err.msg, "HCN network id \"nat\" is not a GUID");
    s.network_id = NET_ID;
    s.ip = "172.30.0.300";
    assert_null(hns_hcn_endpoint_doc(&s, &err));
    assert_int_equal(err.code, WC_INVALID_ARGUMENT);
}

/* hcn defaultQuery(), GetNamespaceByID (hcnnamespace.go), GetNetworkByName (hcnnetwork.go). */
static void queries(void **state)
{
    assert_golden(hns_hcn_query_doc(NULL, NULL, 0), "query_default.json");
    assert_golden(hns_hcn_query_doc("ID", "5f0b1190-63be-4e0c-b974-bd0f55675a42", 0),
                  "query_namespace_by_id.json");
    assert_golden(hns_hcn_query_doc("Name", "GoTestNat", 0), "query_network_by_name.json");
    json_t *d = hns_hcn_query_doc(NULL, NULL, 1);
    assert_int_equal(json_integer_value(json_object_get(d, "Flags")), 1);
    json_decref(d);
}

static void parse_endpoint_reply(void **state)
{
    char *text = slurp("reply_endpoint.json");
    hns_endpoint_info ep;
    wc_err err = {0};
    assert_int_equal(hns_hcn_endpoint_parse(text, &ep, &err), 0);
    assert_string_equal(ep.id, "A7C3E0F2-1B2D-4C5E-8F90-1234567890AB");
    assert_string_equal(ep.namespace_id, NS_ID);
    assert_string_equal(ep.network_id, NET_ID);
    assert_string_equal(ep.mac, "00-15-5D-52-C0-05");
    assert_int_equal(ep.n_ips, 2);
    assert_string_equal(ep.ips[0], "172.30.0.5");
    assert_int_equal(ep.prefix_lengths[0], 16);
    assert_string_equal(ep.ips[1], "fd00::5");
    assert_int_equal(ep.prefix_lengths[1], 64);
    free(text);
    assert_int_equal(hns_hcn_endpoint_parse("[1]", &ep, &err), -1);
    assert_int_equal(err.code, WC_INTERNAL);
    assert_int_equal(hns_hcn_endpoint_parse("{", &ep, &err), -1);
}

/* hcn/hcnnamespace.go GetNamespaceEndpointIds: Resources of Type "Endpoint", Data.ID. */
static void parse_namespace_reply(void **state)
{
    char *text = slurp("reply_namespace.json");
    hns_namespace_info ns;
    wc_err err = {0};
    assert_int_equal(hns_hcn_namespace_parse(text, &ns, &err), 0);
    assert_string_equal(ns.id, NS_ID);
    assert_string_equal(ns.type, "HostDefault");
    assert_int_equal(ns.namespace_id, 17);
    assert_int_equal(ns.n_endpoints, 1);
    assert_string_equal(ns.endpoints[0], "A7C3E0F2-1B2D-4C5E-8F90-1234567890AB");
    free(text);
}

static void parse_guid_list(void **state)
{
    char(*ids)[37];
    size_t n;
    wc_err err = {0};
    assert_int_equal(hns_hcn_guid_list_parse("[\"5f0b1190-63be-4e0c-b974-bd0f55675a42\","
                                             "\"{1E2F3A4B-0000-4000-8000-00155D52C000}\"]",
                                             &ids, &n, &err),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], NS_ID);
    assert_string_equal(ids[1], NET_ID);
    free(ids);
    assert_int_equal(hns_hcn_guid_list_parse("", &ids, &n, &err), 0);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(hns_hcn_guid_list_parse("[\"x\"]", &ids, &n, &err), -1);
    assert_int_equal(hns_hcn_guid_list_parse("{}", &ids, &n, &err), -1);
}

/* internal/hns/hnsendpoint.go EndpointStats inside hcnglobals.go's hnsResponse envelope. */
static void parse_endpoint_stats(void **state)
{
    char *text = slurp("reply_endpoint_stats.json");
    hns_endpoint_stats st;
    wc_err err = {0};
    assert_int_equal(hns_hcn_endpoint_stats_parse(text, &st, &err), 0);
    assert_string_equal(st.endpoint_id, "A7C3E0F2-1B2D-4C5E-8F90-1234567890AB");
    assert_int_equal(st.bytes_received, 123456);
    assert_int_equal(st.bytes_sent, 65432);
    assert_int_equal(st.packets_received, 900);
    assert_int_equal(st.packets_sent, 450);
    assert_int_equal(st.dropped_packets_incoming, 3);
    assert_int_equal(st.dropped_packets_outgoing, 1);
    free(text);
    /* bare object */
    assert_int_equal(hns_hcn_endpoint_stats_parse("{\"BytesSent\":7}", &st, &err), 0);
    assert_int_equal(st.bytes_sent, 7);
    assert_int_equal(hns_hcn_endpoint_stats_parse(
                         "{\"Success\":false,\"Error\":\"Element not found.\"}", &st, &err),
                     -1);
    assert_string_equal(err.msg, "HNS endpoint statistics failed: Element not found.");
    char path[64];
    assert_string_equal(hns_endpoint_stats_path(NS_ID, path, sizeof path),
                        "/endpointstats/5F0B1190-63BE-4E0C-B974-BD0F55675A42");
}

static void guids(void **state)
{
    hns_guid g;
    char s[37];
    assert_int_equal(hns_guid_parse("5f0b1190-63be-4e0c-b974-bd0f55675a42", &g), 0);
    assert_int_equal(g.data1, 0x5f0b1190u);
    assert_int_equal(g.data2, 0x63be);
    assert_int_equal(g.data3, 0x4e0c);
    assert_int_equal(g.data4[0], 0xb9);
    assert_int_equal(g.data4[7], 0x42);
    hns_guid_format(&g, s);
    assert_string_equal(s, NS_ID);
    assert_int_equal(hns_guid_parse("{5f0b1190-63be-4e0c-b974-bd0f55675a42}", &g), 0);
    assert_int_equal(hns_guid_parse("5f0b1190-63be-4e0c-b974-bd0f55675a4", &g), -1);
    assert_int_equal(hns_guid_parse("5f0b1190x63be-4e0c-b974-bd0f55675a42", &g), -1);
    assert_int_equal(hns_guid_parse("5f0b1190-63be-4e0c-b974-bd0f55675a4g", &g), -1);
    assert_int_equal(hns_guid_parse(NULL, &g), -1);
}

/* Microsoft's HCN error-code reference; codes 0x803B0001.. */
static void hcn_errors(void **state)
{
    assert_string_equal(hns_hcn_err_name(HCN_E_NETWORK_NOT_FOUND), "HCN_E_NETWORK_NOT_FOUND");
    assert_int_equal((uint32_t)HCN_E_NETWORK_NOT_FOUND, 0x803B0001u);
    assert_int_equal((uint32_t)HCN_E_VFP_NOT_ALLOWED, 0x803B0037u);
    assert_int_equal(hns_hcn_err_code(HCN_E_ENDPOINT_NOT_FOUND), WC_NOT_FOUND);
    assert_int_equal(hns_hcn_err_code(HCN_E_PORT_ALREADY_EXISTS), WC_ALREADY_EXISTS);
    assert_int_equal(hns_hcn_err_code(HCN_E_INVALID_JSON), WC_INVALID_ARGUMENT);
    assert_int_equal(hns_hcn_err_code(HCN_E_MANAGER_STOPPED), WC_UNAVAILABLE);
    assert_int_equal(hns_hcn_err_code(HNS_HR(0x8007007Eu)), WC_UNAVAILABLE);
    assert_int_equal(hns_hcn_err_code(HNS_HR(0x80004005u)), WC_INTERNAL);
    assert_null(hns_hcn_err_name(HNS_HR(0x803B0099u)));
    /* every code in 0x803B0001..0x803B0037 has a name */
    for (uint32_t c = 0x803B0001u; c <= 0x803B0037u; c++)
        if (!hns_hcn_err_name(HNS_HR(c)))
            fail_msg("0x%08X has no name", c);

    wc_err err = {0};
    assert_int_equal(hns_hcn_err_set(&err, HCN_E_ENDPOINT_NOT_FOUND,
                                     "{\"Error\":\"Element not found\"}", "deleting endpoint %s",
                                     "A7C3"),
                     -1);
    assert_int_equal(err.code, WC_NOT_FOUND);
    assert_int_equal((uint32_t)err.sys, 0x803B0002u);
    assert_string_equal(err.msg, "deleting endpoint A7C3: HCN_E_ENDPOINT_NOT_FOUND (0x803B0002): "
                                 "The endpoint was not found: {\"Error\":\"Element not found\"}");
    hns_hcn_err_set(&err, HNS_HR(0x80004005u), NULL, "creating namespace");
    assert_string_equal(err.msg, "creating namespace: HRESULT 0x80004005");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(namespace_host_default),
        cmocka_unit_test(namespace_ready_on_create),
        cmocka_unit_test(namespace_modify),
        cmocka_unit_test(nat_network),
        cmocka_unit_test(endpoint_port_mapping),
        cmocka_unit_test(endpoint_with_namespace),
        cmocka_unit_test(endpoint_pod_nat),
        cmocka_unit_test(endpoint_refusals),
        cmocka_unit_test(queries),
        cmocka_unit_test(parse_endpoint_reply),
        cmocka_unit_test(parse_namespace_reply),
        cmocka_unit_test(parse_guid_list),
        cmocka_unit_test(parse_endpoint_stats),
        cmocka_unit_test(guids),
        cmocka_unit_test(hcn_errors),
    };
    return cmocka_run_group_tests_name("hcndoc", tests, NULL, NULL);
}
