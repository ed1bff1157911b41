/* The gRPC server: gRPC core on an internal endpoint, one dispatch table from method path
 * to handler, handlers run on worker threads (never on the completion-queue thread). */
#ifndef WINCRI_CRI_SERVER_H
#define WINCRI_CRI_SERVER_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "common/err.h"

typedef struct cri_server cri_server;
typedef struct cri_call cri_call;
typedef struct wincri wincri; /* the daemon: config, stores, backends (cri/daemon.h) */

/* A unary handler fills *resp (a message allocated with malloc whose strings and
 * sub-messages are malloc'd too, freed with protobuf_c_message_free_unpacked) or returns -1
 * with err set. */
typedef int (*cri_unary_fn)(cri_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                            wc_err *err);
/* A server-streaming handler sends messages with cri_call_send and returns 0 at the end. */
typedef int (*cri_stream_fn)(cri_call *call, const ProtobufCMessage *req, wc_err *err);

typedef struct cri_method {
    const char *name; /* the RPC's name in the proto, e.g. "Version" */
    cri_unary_fn unary;
    cri_stream_fn stream;
} cri_method;

/* Handler tables, one per service (runtime_service.c, image_service.c); NULL-name ended. */
extern const cri_method cri_runtime_methods[];
extern const cri_method cri_image_methods[];

wincri *cri_call_daemon(cri_call *call);
const char *cri_call_method(cri_call *call);
/* True once the client cancelled or the deadline passed; long handlers poll it. */
int cri_call_cancelled(cri_call *call);
/* True once the daemon is stopping: endless streams (events) end instead of holding the
 * grace period. */
int cri_call_server_stopping(cri_call *call);
/* Absolute deadline in CLOCK_MONOTONIC ns (INT64_MAX when none). */
int64_t cri_call_deadline_ns(cri_call *call);
/* Streams one message; -1 with err set when the client has gone. */
int cri_call_send(cri_call *call, const ProtobufCMessage *msg, wc_err *err);

typedef struct cri_server_opts {
    const char *internal_endpoint; /* host:port for gRPC core, e.g. "127.0.0.1:0" */
    /* Decides whether a connection's peer (gRPC's peer string) may call; NULL allows all. */
    int (*peer_allowed)(void *ctx, const char *peer);
    void *peer_ctx;
    wincri *daemon;
} cri_server_opts;

int cri_server_start(const cri_server_opts *opts, cri_server **out, wc_err *err);

/* Decodes request bytes for the method at `path` ("/runtime.v1.RuntimeService/Version") as
 * the server does for every call: UNIMPLEMENTED for a path that names no CRI method,
 * INVALID_ARGUMENT for bytes that are not its input message. Free the message with
 * protobuf_c_message_free_unpacked. */
ProtobufCMessage *cri_request_decode(const char *path, const uint8_t *data, size_t len,
                                     wc_err *err);
/* The bound internal port (after "127.0.0.1:0"). */
int cri_server_port(const cri_server *srv);
/* Serves a connection the front accepted, on the socket itself (gRPC takes the fd; its calls'
 * peer is "fd:N"). POSIX only: -1 with errno ENOTSUP elsewhere, and the front relays. For
 * cri_front_handover. */
int cri_server_adopt_connection(void *srv, int fd);
/* Stops taking new calls, lets calls in flight finish for up to grace_ms, then cancels the
 * rest, and frees the server. */
void cri_server_shutdown(cri_server *srv, int grace_ms);

#endif
