/* The streaming server behind Exec, Attach and PortForward: its own HTTP(S) listener hands
 * out single-use URLs and serves them over SPDY/3.1 or WebSocket, speaking kubelet's
 * remotecommand and portforward protocols. It knows nothing of pods: the daemon gives it a
 * backend that starts, attaches to and forwards into containers. */
#ifndef WINCRI_CRI_STREAMING_H
#define WINCRI_CRI_STREAMING_H

#include <stddef.h>

#include "common/config.h"
#include "common/err.h"

typedef struct cri_streaming cri_streaming;
typedef struct cri_stream_proc cri_stream_proc; /* an exec'd or attached process (backend's) */

/* A process's stdio as file descriptors the server then owns and closes: in is written,
 * out/err are read; -1 when not wanted. Under a TTY out is the terminal and in should be a
 * dup of it (so closing stdin does not close the output). */
typedef struct cri_stream_io {
    int in, out, err;
} cri_stream_io;

typedef struct cri_stream_backend {
    int (*exec)(void *ctx, const char *container_id, const char *const *cmd, size_t n_cmd, int tty,
                int want_stdin, int want_stdout, int want_stderr, cri_stream_io *io,
                cri_stream_proc **proc, wc_err *err);
    int (*attach)(void *ctx, const char *container_id, int tty, int want_stdin, int want_stdout,
                  int want_stderr, cri_stream_io *io, cri_stream_proc **proc, wc_err *err);
    /* Terminal size changes (TTY only); may be NULL. */
    int (*resize)(cri_stream_proc *p, unsigned width, unsigned height);
    /* Blocks (on a thread of its own) until the process ends or kill() detaches it. For
     * attach the exit code is not reported to the client. Returns -1 if unknown. */
    int (*wait)(cri_stream_proc *p, int *exit_code);
    /* The client went away: end an exec'd process, detach an attach. Called at most once,
     * possibly while wait() blocks on another thread; wait() must then return. */
    void (*kill)(cri_stream_proc *p);
    /* The client ended its stdin and what it sent was written (attach with stdin_once closes
     * the container's stdin then); may be NULL. */
    void (*stdin_closed)(cri_stream_proc *p);
    /* Frees p; called once, after wait() has returned. */
    void (*release)(cri_stream_proc *p);
    /* A connected stream socket to localhost:port in the sandbox's network. */
    int (*port_forward)(void *ctx, const char *sandbox_id, int port, int *fd, wc_err *err);
    void *ctx;
} cri_stream_backend;

typedef enum { CRI_STREAM_EXEC, CRI_STREAM_ATTACH, CRI_STREAM_PORTFORWARD } cri_stream_kind;

typedef struct cri_stream_request {
    cri_stream_kind kind;
    const char *id; /* container (exec, attach) or sandbox (port-forward) */
    const char *const *cmd;
    size_t n_cmd;
    int tty, want_stdin, want_stdout, want_stderr;
    const int *ports; /* port-forward: the ports a WebSocket client gets when it names none */
    size_t n_ports;
} cri_stream_request;

typedef struct cri_streaming_opts {
    const char *address;            /* "127.0.0.1" when NULL or empty */
    int port;                       /* 0: ephemeral */
    const char *tls_cert, *tls_key; /* PEM files; both empty or NULL: plain HTTP */
    int token_ttl_ms;               /* 0: one minute */
} cri_streaming_opts;

/* Reads the config's `streaming` section {address, port, tls_cert, tls_key}. */
int cri_streaming_start(const wc_config *cfg, const cri_stream_backend *b, cri_streaming **out,
                        wc_err *err);
int cri_streaming_start_opts(const cri_streaming_opts *o, const cri_stream_backend *b,
                             cri_streaming **out, wc_err *err);
/* Closes the listener, ends every session (killing their processes) and frees s. */
void cri_streaming_stop(cri_streaming *s);
/* "http(s)://ADDR:PORT" the server answers on. */
const char *cri_streaming_base_url(const cri_streaming *s);
/* Checks the stream flags and returns a single-use URL for the request (caller frees). */
int cri_streaming_url(cri_streaming *s, const cri_stream_request *req, char **url, wc_err *err);

/* Provided by the daemon (cri/daemon.c) for cri/runtime_streaming.c: its streaming server,
 * and the model's check that the container is running or the sandbox ready (NOT_FOUND or
 * FAILED_PRECONDITION otherwise). */
typedef struct wincri wincri;
cri_streaming *wincri_streaming(wincri *d);
int wincri_stream_check(wincri *d, const cri_stream_request *req, wc_err *err);

/* RuntimeService handlers (cri_unary_fn, cri/server.h) for cri_runtime_methods:
 * {"Exec", cri_exec_rpc}, {"Attach", cri_attach_rpc}, {"PortForward", cri_port_forward_rpc}. */
struct cri_call;
struct ProtobufCMessage;
int cri_exec_rpc(struct cri_call *call, const struct ProtobufCMessage *req,
                 struct ProtobufCMessage **resp, wc_err *err);
int cri_attach_rpc(struct cri_call *call, const struct ProtobufCMessage *req,
                   struct ProtobufCMessage **resp, wc_err *err);
int cri_port_forward_rpc(struct cri_call *call, const struct ProtobufCMessage *req,
                         struct ProtobufCMessage **resp, wc_err *err);

#endif
