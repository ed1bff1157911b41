/* HCN (Host Compute Network) JSON documents: what wincri sends to computenetwork.dll and
 * how it reads the answers. Pure code (Jansson), tested on Linux against goldens derived
 * from hcsshim's hcn/ package. Field names follow hcsshim hcn/hcnnamespace.go,
 * hcnendpoint.go, hcnnetwork.go, hcnpolicy.go and hcnglobals.go (schema version 2.0). */
#ifndef WINCRI_HNS_HCNDOC_H
#define WINCRI_HNS_HCNDOC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "hns/hcnguid.h"

/* ---- documents sent to HCN ---- */

typedef enum {
    HNS_NS_HOST = 0,     /* "Host" */
    HNS_NS_HOST_DEFAULT, /* "HostDefault": a new compartment for a process-isolated pod */
    HNS_NS_GUEST,        /* "Guest": inside a Hyper-V utility VM */
    HNS_NS_GUEST_DEFAULT,
} hns_ns_type;

/* {"Type":"HostDefault","SchemaVersion":{"Major":2,"Minor":0}[,"ReadyOnCreate":true]}.
 * ReadyOnCreate is what hcsshim's NewNamespace sets on HNS >= 15.2. */
json_t *hns_hcn_namespace_doc(hns_ns_type type, int ready_on_create);

/* ModifyNamespaceSettingRequest adding (add=1) or removing an endpoint:
 * {"ResourceType":"Endpoint","RequestType":"Add","Settings":{"EndpointId":"..."}} */
json_t *hns_hcn_namespace_modify_doc(int add, const char *endpoint_id, wc_err *err);

typedef struct hns_hcn_port_mapping {
    const char *protocol; /* "TCP", "UDP", "SCTP" (CRI spelling, any case) */
    uint16_t container_port;
    uint16_t host_port;
    const char *host_ip; /* optional; becomes the PortMapping VIP */
} hns_hcn_port_mapping;

typedef struct hns_nat_network_spec {
    const char *name;                /* HCN network name, e.g. "wincri-nat" */
    const char *subnet;              /* "172.30.0.0/16" (static IPAM) */
    const char *gateway;             /* "172.30.0.1"; the default route's next hop */
    const char *mac_start, *mac_end; /* optional MacPool range "00-15-5D-52-C0-00" */
    const char *const *dns_servers;  /* optional network-wide DNS */
    size_t n_dns_servers;
} hns_nat_network_spec;

/* A NAT HostComputeNetwork with one static IPAM subnet and a default route. */
json_t *hns_hcn_nat_network_doc(const hns_nat_network_spec *s, wc_err *err);

typedef struct hns_endpoint_spec {
    const char *name;         /* e.g. "<pod sandbox id>_<network>" */
    const char *network_id;   /* HostComputeNetwork GUID */
    const char *namespace_id; /* optional HostComputeNamespace GUID */
    const char *ip;           /* optional static IP within the network's subnet */
    uint8_t prefix_length;    /* with ip; 0 leaves it out */
    const char *gateway;      /* optional: one default route via this next hop */
    const char *mac;          /* optional */
    const char *const *dns_servers;
    size_t n_dns_servers;
    const char *const *dns_search;
    size_t n_dns_search;
    const hns_hcn_port_mapping *ports; /* one PortMapping policy each */
    size_t n_ports;
    int outbound_nat; /* add an OutBoundNAT policy */
    const char *const *outbound_nat_exceptions;
    size_t n_outbound_nat_exceptions;
} hns_endpoint_spec;

json_t *hns_hcn_endpoint_doc(const hns_endpoint_spec *s, wc_err *err);

/* HostComputeQuery: {"SchemaVersion":{"Major":2,"Minor":0}[,"Flags":1][,"Filter":"{...}"]}.
 * With filter_key set, Filter is the JSON text {"<key>":"<value>"} as hcsshim's
 * GetNamespaceByID / GetNetworkByName build it. */
json_t *hns_hcn_query_doc(const char *filter_key, const char *filter_value, int detailed);

/* Compact JSON text for the DLL (caller frees); NULL for a NULL doc. */
char *hns_hcn_dump(const json_t *doc);

/* Protocol number for a CRI protocol name: TCP 6, UDP 17, SCTP 132; -1 otherwise. */
int hns_ip_protocol(const char *name);

/* ---- answers from HCN ---- */

#define HNS_MAX_IPS 4
#define HNS_MAX_NS_ENDPOINTS 16

typedef struct hns_endpoint_info {
    char id[40];
    char name[256];
    char network_id[40];
    char namespace_id[40];
    char mac[32];
    char ips[HNS_MAX_IPS][48];
    uint8_t prefix_lengths[HNS_MAX_IPS];
    size_t n_ips;
} hns_endpoint_info;

/* Reads a HostComputeEndpoint properties document. */
int hns_hcn_endpoint_parse(const char *json, hns_endpoint_info *out, wc_err *err);

typedef struct hns_namespace_info {
    char id[40];
    char type[16];
    uint32_t namespace_id; /* the compartment id */
    char endpoints[HNS_MAX_NS_ENDPOINTS][40];
    size_t n_endpoints;
} hns_namespace_info;

/* Reads a HostComputeNamespace properties document; endpoint ids come from its
 * Resources[] entries of Type "Endpoint" (Data.ID), as GetNamespaceEndpointIds does. */
int hns_hcn_namespace_parse(const char *json, hns_namespace_info *out, wc_err *err);

/* Reads the GUID list an Hcn*Enumerate* call returns ("[\"...\",...]"). *ids is malloc'd
 * (n entries of 37 bytes). */
int hns_hcn_guid_list_parse(const char *json, char (**ids)[37], size_t *n, wc_err *err);

/* Endpoint statistics, from the HNS v1 call "GET /endpointstats/<id>" (hcsshim
 * internal/hns GetHNSEndpointStats), for PodSandboxStats' WindowsNetworkUsage. */
typedef struct hns_endpoint_stats {
    char endpoint_id[40];
    char instance_id[40];
    uint64_t bytes_received, bytes_sent;
    uint64_t packets_received, packets_sent;
    uint64_t dropped_packets_incoming, dropped_packets_outgoing;
} hns_endpoint_stats;

/* Path for HNSCall. buf must hold 64 bytes. */
const char *hns_endpoint_stats_path(const char *endpoint_id, char *buf, size_t size);
/* Accepts the HNS v1 envelope {"Success":true,"Output":{...}} or the bare object; a
 * {"Success":false,"Error":"..."} envelope becomes an error naming HNS's message. */
int hns_hcn_endpoint_stats_parse(const char *json, hns_endpoint_stats *out, wc_err *err);

#endif
