/* The front end: the endpoint kubelet dials (unix socket or TCP on Linux; named pipe or TCP
 * on Windows). The front binds it (a unix socket born 0660, root's). On Linux each accepted
 * connection is handed to gRPC core as it is (cri_front_handover). Where gRPC core cannot take
 * a connection (a named pipe), it listens on an internal loopback port and the front relays
 * each client connection to it, recording the local port of its own outgoing connection; the
 * server refuses any call whose peer is neither handed over nor one of those connections. */
#ifndef WINCRI_CRI_FRONT_H
#define WINCRI_CRI_FRONT_H

#include "common/err.h"

typedef enum { CRI_EP_UNIX, CRI_EP_TCP, CRI_EP_NPIPE } cri_endpoint_kind;

typedef struct cri_endpoint {
    cri_endpoint_kind kind;
    char address[512]; /* unix: socket path; tcp: host; npipe: \\.\pipe\name */
    int port;          /* tcp only */
} cri_endpoint;

/* Parses unix:///path, tcp://host:port, npipe:////./pipe/name (or npipe://./pipe/name). */
int cri_endpoint_parse(const char *uri, cri_endpoint *out, wc_err *err);

typedef struct cri_front cri_front;

int cri_front_new(const char *listen_uri, cri_front **out, wc_err *err);
/* Binds the public endpoint and starts relaying to 127.0.0.1:internal_port. */
int cri_front_start(cri_front *f, int internal_port, wc_err *err);
/* Where the platform can, accepted connections go to gRPC core as they are (fn takes the fd
 * and returns 0; cri_server_adopt_connection) instead of through a relay: set before start. */
void cri_front_handover(cri_front *f, int (*fn)(void *ctx, int fd), void *ctx);
/* For cri_server_opts.peer_allowed: is `peer` (gRPC's "ipv4:127.0.0.1:PORT" for a relayed
 * connection, "fd:N" for one handed over) ours? */
int cri_front_peer_allowed(void *front, const char *peer);
/* Closes the listener (and removes a unix socket file); open connections keep relaying. */
void cri_front_stop_accepting(cri_front *f);
/* Closes every connection and frees the front. */
void cri_front_free(cri_front *f);

/* Shared bookkeeping used by the platform parts. */
void cri_front_port_add(cri_front *f, int local_port);
void cri_front_port_remove(cri_front *f, int local_port);

#endif
