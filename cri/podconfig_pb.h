/* CRI protobuf messages ↔ the pod model's plain configs (podsandbox/podconfig.h). The only
 * place the two meet: the model never sees protobuf, handlers never read the model's
 * configs field by field. */
#ifndef WINCRI_CRI_PODCONFIG_PB_H
#define WINCRI_CRI_PODCONFIG_PB_H

#include "api.pb-c.h"
#include "podsandbox/podconfig.h"
#include "podsandbox/podsandbox.h"

/* To the model. A missing message gives a config of zeros and ""; NULL only when out of
 * memory. The result holds one reference. */
pod_container_config *cri_container_config_from_pb(const Runtime__V1__ContainerConfig *in);
pod_sandbox_config *cri_sandbox_config_from_pb(const Runtime__V1__PodSandboxConfig *in);
void cri_linux_resources_from_pb(const Runtime__V1__LinuxContainerResources *in,
                                 pod_linux_resources *out);
void cri_windows_resources_from_pb(const Runtime__V1__WindowsContainerResources *in,
                                   pod_windows_resources *out);

/* Reads the protobuf bytes wincri 0.1 stored for each config. */
extern const pod_legacy_decoder cri_legacy_decoder;

/* Back, for responses: newly allocated messages, freed with the response. */
Runtime__V1__ContainerMetadata *cri_container_metadata_pb(const pod_container_config *c);
Runtime__V1__PodSandboxMetadata *cri_sandbox_metadata_pb(const pod_sandbox_config *c);
Runtime__V1__Mount *cri_mount_pb(const pod_mount *m);
Runtime__V1__LinuxContainerResources *cri_linux_resources_pb(const pod_linux_resources *r);
Runtime__V1__WindowsContainerResources *cri_windows_resources_pb(const pod_windows_resources *r);
Runtime__V1__NamespaceOption *cri_namespace_option_pb(const pod_ns_options *n);
/* Appends every pair to a map<string,string> field (entry type `desc`). */
void cri_kvs_to_map(const pod_kvs *kvs, size_t *n, void *entries_field,
                    const ProtobufCMessageDescriptor *desc);
/* Whether every selector pair is among `labels` (CRI label_selector semantics). */
int cri_labels_match(const pod_kvs *labels, size_t n_sel, void *const *selector_entries);

#endif
