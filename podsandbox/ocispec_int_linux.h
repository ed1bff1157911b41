/* Internals shared by the ocispec_*_linux.c files: one build context and one function per
 * part of the spec. Each part fills its piece of the spec or sets err and returns -1. */
#ifndef WINCRI_PODSANDBOX_OCISPEC_INT_LINUX_H
#define WINCRI_PODSANDBOX_OCISPEC_INT_LINUX_H

#include <stdint.h>

#include "podsandbox/ocispec.h"

typedef struct pod_build {
    const pod_spec_input *in;
    const pod_spec_host *host;
    const pod_container_config *cc;
    const pod_linux_security *sc;  /* container security context; NULL when not sent */
    const pod_linux_security *psc; /* sandbox security context; NULL when not sent */
    const pod_ns_options *ns;      /* effective; NULL: kubelet's defaults */
    const json_t *image;           /* the image config's "config" object; may be NULL */
    int privileged;
    uint64_t caps; /* the container's capability set, filled by pod_oci_caps */
} pod_build;

/* Namespace modes with NULL options filled in the way kubelet does by default. */
pod_ns_mode pod_ns_network(const pod_build *b);
pod_ns_mode pod_ns_ipc(const pod_build *b);

int pod_oci_process(pod_build *b, json_t *spec, wc_err *err);
int pod_oci_caps(pod_build *b, json_t *process, wc_err *err);
int pod_oci_mounts(pod_build *b, json_t *spec, wc_err *err);
int pod_oci_namespaces(pod_build *b, json_t *spec, json_t *linux_obj, wc_err *err);
int pod_oci_resources(pod_build *b, json_t *linux_obj, json_t *process, wc_err *err);
int pod_oci_devices(pod_build *b, json_t *linux_obj, wc_err *err);
int pod_oci_security(pod_build *b, json_t *linux_obj, wc_err *err);

/* Capability names without the CAP_ prefix, indexed by number. */
extern const char *const pod_cap_names[];
extern const int pod_cap_count;
/* Capability number for "NET_ADMIN" or "cap_net_admin"; -1 when unknown. */
int pod_cap_lookup(const char *name);

/* RuntimeDefault seccomp profile for a container holding `caps` (new reference). */
json_t *pod_seccomp_default(uint64_t caps);
/* Reads a seccomp profile file (OCI or Docker form) and returns it as an OCI linux.seccomp
 * object for a container holding `caps`. */
int pod_seccomp_load(const char *path, uint64_t caps, json_t **out, wc_err *err);

/* Sets "KEY=VALUE" in an env array: replaces the entry with the same key or appends. */
void pod_env_set(json_t *env, const char *kv);
/* Adds a string array member built from a NULL-terminated list. */
json_t *pod_strv(const char *const *v);

#endif
