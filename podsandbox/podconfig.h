/* The pod model's own view of the CRI configs: plain C, every string owned (never NULL: ""
 * when absent), no protobuf. cri/ converts the protobuf messages to these and back
 * (cri/podconfig_pb.c); the store keeps them as JSON (podconfig_json.c). Enum values keep
 * CRI's numbering so the conversion is a cast. A `set` flag stands for a message that was
 * present, where absent and zero mean different things. */
#ifndef WINCRI_PODSANDBOX_PODCONFIG_H
#define WINCRI_PODSANDBOX_PODCONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct pod_kv {
    char *key;
    char *value;
} pod_kv;

typedef struct pod_kvs {
    pod_kv *v;
    size_t n;
} pod_kvs;

typedef struct pod_strs {
    char **v;
    size_t n;
} pod_strs;

typedef struct pod_opt_i64 {
    int set;
    int64_t value;
} pod_opt_i64;

/* CRI NamespaceMode. */
typedef enum {
    POD_NS_POD = 0,
    POD_NS_CONTAINER = 1,
    POD_NS_NODE = 2,
    POD_NS_TARGET = 3
} pod_ns_mode;

typedef struct pod_ns_options {
    int set;
    pod_ns_mode network, pid, ipc;
    char *target_id;
    int userns_set;
    pod_ns_mode userns_mode;
} pod_ns_options;

/* CRI SecurityProfile.ProfileType. */
typedef enum {
    POD_PROFILE_RUNTIME_DEFAULT = 0,
    POD_PROFILE_UNCONFINED = 1,
    POD_PROFILE_LOCALHOST = 2
} pod_profile_type;

typedef struct pod_profile {
    int set;
    pod_profile_type type;
    char *localhost_ref;
} pod_profile;

/* CRI MountPropagation. */
typedef enum {
    POD_PROPAGATION_PRIVATE = 0,
    POD_PROPAGATION_HOST_TO_CONTAINER = 1,
    POD_PROPAGATION_BIDIRECTIONAL = 2
} pod_propagation;

typedef struct pod_mount {
    char *container_path;
    char *host_path;
    int readonly;
    int selinux_relabel;
    pod_propagation propagation;
    int recursive_read_only;
    int id_mapped; /* uid or gid mappings were given (not supported) */
    char *image;   /* an image volume's reference (not supported) */
} pod_mount;

typedef struct pod_device {
    char *container_path;
    char *host_path;
    char *permissions;
} pod_device;

typedef struct pod_hugepage {
    char *page_size;
    uint64_t limit;
} pod_hugepage;

typedef struct pod_linux_resources {
    int set;
    int64_t cpu_period, cpu_quota, cpu_shares;
    int64_t memory_limit_in_bytes, memory_swap_limit_in_bytes;
    int64_t oom_score_adj;
    char *cpuset_cpus, *cpuset_mems;
    pod_hugepage *hugepages;
    size_t n_hugepages;
    pod_kvs unified;
} pod_linux_resources;

typedef struct pod_windows_resources {
    int set;
    int64_t cpu_shares, cpu_count, cpu_maximum;
    int64_t memory_limit_in_bytes, rootfs_size_in_bytes;
} pod_windows_resources;

/* CRI LinuxContainerSecurityContext, and the parts of LinuxSandboxSecurityContext the model
 * reads (the same struct serves both). */
typedef struct pod_linux_security {
    int set;
    pod_strs add_caps, drop_caps, add_ambient_caps;
    int privileged;
    pod_ns_options ns;
    pod_opt_i64 run_as_user, run_as_group;
    char *run_as_username;
    int readonly_rootfs;
    int64_t *supplemental_groups;
    size_t n_supplemental_groups;
    int supplemental_groups_strict; /* SupplementalGroupsPolicy Strict (else Merge) */
    int no_new_privs;
    pod_strs masked_paths, readonly_paths;
    pod_profile seccomp;
    char *seccomp_profile_path; /* the deprecated string form */
} pod_linux_security;

typedef struct pod_windows_security {
    int set;
    char *run_as_username;
    char *credential_spec;
    int host_process;
} pod_windows_security;

typedef struct pod_container_config {
    int refs; /* pod_container_config_ref/unref; a stored config is never edited in place */
    char *name;
    uint32_t attempt;
    char *image;                /* ImageSpec.image, as requested */
    char *user_specified_image; /* ImageSpec.user_specified_image */
    pod_strs command, args;
    char *working_dir;
    pod_kvs envs; /* in order; keys may repeat, later wins */
    pod_mount *mounts;
    size_t n_mounts;
    pod_device *devices;
    size_t n_devices;
    pod_kvs labels, annotations;
    char *log_path;
    int stdin_, stdin_once, tty;
    pod_linux_resources linux_resources;
    pod_linux_security linux_security;
    pod_windows_resources windows_resources;
    pod_windows_security windows_security;
    int stop_signal; /* CRI Signal; 0: the runtime's default */
} pod_container_config;

/* CRI Signal values the model names (the enum lists signals alphabetically, 0 is the
 * runtime's default). */
enum { POD_CRI_SIGINT = 10, POD_CRI_SIGKILL = 13, POD_CRI_SIGTERM = 23 };

/* CRI Protocol. */
typedef enum { POD_PROTO_TCP = 0, POD_PROTO_UDP = 1, POD_PROTO_SCTP = 2 } pod_protocol;

typedef struct pod_port_mapping {
    pod_protocol protocol;
    int32_t container_port, host_port;
    char *host_ip;
} pod_port_mapping;

typedef struct pod_dns {
    int set;
    pod_strs servers, searches, options;
} pod_dns;

typedef struct pod_sandbox_config {
    int refs;
    char *name, *uid, *namespace_;
    uint32_t attempt;
    char *hostname;
    char *log_directory;
    pod_dns dns;
    pod_port_mapping *ports;
    size_t n_ports;
    pod_kvs labels, annotations;
    int linux_set; /* a linux section was sent (its namespace options are reported back) */
    char *cgroup_parent;
    pod_linux_security linux_security;
    pod_kvs sysctls;
    pod_linux_resources linux_overhead, linux_resources;
    pod_windows_security windows_security;
} pod_sandbox_config;

/* ---- ownership ----
 * A config is immutable once the model holds it: readers take a reference, and a change
 * (UpdateContainerResources) makes a new config that replaces the old one. *_new returns a
 * zeroed config holding one reference; whoever fills it sets every string (cri/'s converter
 * and the JSON decoder do; tests build configs from JSON). */

pod_container_config *pod_container_config_new(void);
pod_container_config *pod_container_config_ref(pod_container_config *c);
void pod_container_config_unref(pod_container_config *c); /* frees with the last reference */
pod_sandbox_config *pod_sandbox_config_new(void);
pod_sandbox_config *pod_sandbox_config_ref(pod_sandbox_config *c);
void pod_sandbox_config_unref(pod_sandbox_config *c);
/* Deep copies holding one reference (through the JSON form); NULL only when the JSON form
 * cannot be made (json_pack refuses a NULL string field). */
pod_container_config *pod_container_config_copy(const pod_container_config *c);
pod_sandbox_config *pod_sandbox_config_copy(const pod_sandbox_config *c);
void pod_linux_resources_clear(pod_linux_resources *r);

/* ---- the store's form (podconfig_json.c) ---- */

json_t *pod_container_config_to_json(const pod_container_config *c);
/* *out holds one reference. A field of the wrong type is INTERNAL naming it. */
int pod_container_config_from_json(const json_t *j, pod_container_config **out, wc_err *err);
json_t *pod_sandbox_config_to_json(const pod_sandbox_config *c);
int pod_sandbox_config_from_json(const json_t *j, pod_sandbox_config **out, wc_err *err);
json_t *pod_linux_resources_to_json(const pod_linux_resources *r);
int pod_linux_resources_from_json(const json_t *j, pod_linux_resources *out, wc_err *err);

/* ---- small look-ups ---- */

/* The value of the last pair with `key`, or NULL. */
const char *pod_kvs_get(const pod_kvs *kvs, const char *key);

#endif
