/* Spec assembly rules both platforms share (ocispec_linux.c, ocispec_wcow.c). */
#ifndef WINCRI_PODSANDBOX_OCISPEC_COMMON_H
#define WINCRI_PODSANDBOX_OCISPEC_COMMON_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"
#include "podsandbox/podconfig.h"

/* The process args by kubelet's rule: command replaces the image Entrypoint, args the image
 * Cmd, and a command without args does not inherit the image Cmd. `image` is the image
 * config's "config" object (NULL: none). *args is always set (caller owns it); empty args
 * are an error. */
int pod_spec_args(const pod_container_config *cc, const json_t *image, json_t **args, wc_err *err);

/* wincri's own annotations on every container spec (io.wincri.*: the container type, the
 * sandbox's id, name, namespace and uid, the container's name and image; the names are
 * common/annotations.h), the one place they are written. sb may be NULL. */
void pod_annotate_identity(json_t *annotations, const pod_sandbox_config *sb,
                           const pod_container_config *cc, const char *sandbox_id);

/* An exec's process: a copy of the container's spec process with args and terminal
 * replaced and no console size; NULL without a process or a command. */
json_t *pod_spec_exec_base(const json_t *container_spec, const char *const *cmd, size_t n_cmd,
                           int tty);

#endif
