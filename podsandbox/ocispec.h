/* Assembling a container's OCI runtime spec (config.json) from the CRI configs, the image
 * config and the sandbox. Pure: no processes, no files written. */
#ifndef WINCRI_PODSANDBOX_OCISPEC_H
#define WINCRI_PODSANDBOX_OCISPEC_H

#include <jansson.h>
#include <stdint.h>

#include "common/err.h"
#include "podsandbox/podconfig.h"

/* A device node on the host, as CRI Device.host_path names it. */
typedef struct pod_spec_device {
    char type; /* 'c' or 'b' */
    int64_t major, minor;
    uint32_t mode; /* permission bits of the node */
} pod_spec_device;

/* Facts about the host the spec depends on. The builder touches no files itself; it asks
 * through these, so tests can fake them. pod_spec_host_default() fills them from this host. */
typedef struct pod_spec_host {
    /* Looks up a device node: 0 with *out filled, or -1 with errno set (ENOENT, ENODEV for a
     * path that is not a device). */
    int (*device)(void *ctx, const char *host_path, pod_spec_device *out);
    void *device_ctx;
    uint64_t caps;         /* the daemon's own capabilities (bit n = cap n): what "ALL" grants */
    uint64_t nofile_max;   /* the daemon's hard RLIMIT_NOFILE: a container cannot get more */
    int oom_score_adj_min; /* the daemon's own oom_score_adj: lower values are clamped to it */
    int swap_controller;   /* memory.memsw exists: swap limit = memory limit */
    int cgroupns;          /* cgroup v2-only host: containers get a private cgroup namespace */
} pod_spec_host;

/* Fills *host from this machine (stat(), /proc/self/status, getrlimit, /sys/fs/cgroup). */
void pod_spec_host_default(pod_spec_host *host);

typedef struct pod_spec_input {
    const pod_sandbox_config *sandbox;
    const pod_container_config *container;
    const char *image_config_json; /* the OCI image config blob (may be NULL) */
    const char *sandbox_id;
    const char *container_id;
    /* Namespaces the pod pinned: paths like /run/netns/wincri-<id>; "" or NULL: none (a
     * fresh one for the container), except net where NULL/"" with host network means the
     * host's. */
    const char *netns_path;
    const char *ipc_ns_path;
    const char *uts_ns_path;
    /* PID namespace to join for modes POD (the pod's holder process) and TARGET (the target
     * container's init), e.g. /proc/<pid>/ns/pid; NULL/"" for those modes is an error. */
    const char *pid_ns_path;
    /* Files the sandbox provides, bind-mounted into every container. NULL: not mounted. */
    const char *resolv_conf_path;
    const char *hosts_path;
    const char *hostname_path;
    const char *cgroup_parent; /* e.g. "/wincri/<sandbox id>" */
    /* Path of the seccomp profile root for Localhost profiles (profile paths are absolute in
     * CRI; kept for completeness). */
    const char *seccomp_root;
    const pod_spec_host *host; /* NULL: pod_spec_host_default() */
} pod_spec_input;

/* Builds the Linux OCI spec (ociVersion, process, root, hostname, mounts, linux section with
 * namespaces, resources, cgroupsPath, seccomp, maskedPaths, readonlyPaths, sysctl, devices,
 * annotations). Bad fields give WC_INVALID_ARGUMENT naming the field, e.g.
 * "container config: linux.resources.cpu_quota: must not be negative". */
int pod_spec_build_linux(const pod_spec_input *in, json_t **spec, wc_err *err);

/* The OCI linux.resources object for CRI resources (UpdateContainerResources), checked like
 * at create: a bad field gives WC_INVALID_ARGUMENT naming it. */
int pod_spec_linux_resources(const pod_linux_resources *r, json_t **out, wc_err *err);

/* The OCI "process" object for an exec in a running container (ExecSync/Exec): the
 * container's spec process with args replaced (and terminal set). NULL when the spec has no
 * process or cmd is empty. */
json_t *pod_spec_exec_process(const json_t *container_spec, const char *const *cmd, size_t n_cmd,
                              int tty);

#endif
