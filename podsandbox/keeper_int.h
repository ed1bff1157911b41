/* What the keeper process and its client share (Linux): the socket's messages. */
#ifndef WINCRI_PODSANDBOX_KEEPER_INT_H
#define WINCRI_PODSANDBOX_KEEPER_INT_H

#include <jansson.h>
#include <stddef.h>

#define POD_KEEPER_SOCKET "keeper.sock"
#define POD_KEEPER_DIR "keeper" /* exit records, the lock */
#define POD_KEEPER_MSG_MAX 65536
#define POD_KEEPER_FDS_MAX 4

/* One message: its JSON text and up to POD_KEEPER_FDS_MAX descriptors (copies are sent;
 * the caller keeps its own). 0, or -1 with errno. */
int pod_kmsg_send(int sock, const json_t *msg, const int *fds, size_t n_fds);
/* The next message; received descriptors are the caller's (close-on-exec). 1 with a message,
 * 0 when the peer closed, -1 with errno. A malformed message is -1 (EPROTO). */
int pod_kmsg_recv(int sock, json_t **msg, int *fds, size_t *n_fds);

#endif
