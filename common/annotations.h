/* wincri's own OCI annotations (io.wincri.*), the one list of their names: the pod model
 * writes them on every container spec (podsandbox/ocispec_common.c, and the user on Linux
 * in podsandbox/ocispec_linux.c); the backend reads the user back (hcs/user_linux.c). */
#ifndef WINCRI_COMMON_ANNOTATIONS_H
#define WINCRI_COMMON_ANNOTATIONS_H

/* Who the container is, on every spec. */
#define WC_ANN_CONTAINER_TYPE "io.wincri.container-type" /* "container" */
#define WC_ANN_CONTAINER_NAME "io.wincri.container-name"
#define WC_ANN_SANDBOX_ID "io.wincri.sandbox-id"
#define WC_ANN_SANDBOX_NAME "io.wincri.sandbox-name"
#define WC_ANN_SANDBOX_NAMESPACE "io.wincri.sandbox-namespace"
#define WC_ANN_SANDBOX_UID "io.wincri.sandbox-uid"
#define WC_ANN_IMAGE_NAME "io.wincri.image-name"

/* Linux: the user as the CRI names it ("user[:group]", names or ids), resolved by the
 * backend against the container's own /etc/passwd and /etc/group, and "Strict" when the
 * image's supplementary groups are not to be added. */
#define WC_ANN_USER "io.wincri.user"
#define WC_ANN_SUPPLEMENTAL_GROUPS_POLICY "io.wincri.supplemental-groups-policy"

#endif
