/* Internals of the streaming server shared by the protocol engine (streaming_session.c) and
 * the platform layers (streaming_linux.c, streaming_win32.c). The engine is event driven and
 * does no I/O itself: the platform layer reads and writes sockets and descriptors and feeds
 * the engine, which turns bytes into protocol frames and back. */
#ifndef WINCRI_CRI_STREAMING_IMPL_H
#define WINCRI_CRI_STREAMING_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "cri/spdy.h"
#include "cri/streaming.h"

/* A growable byte queue: data lives in p[off, off+len). */
typedef struct cri_buf {
    unsigned char *p;
    size_t off, len, cap;
} cri_buf;

void cri_buf_add(cri_buf *b, const void *data, size_t n);
void cri_buf_addc(cri_buf *b, unsigned char c);
void cri_buf_consume(cri_buf *b, size_t n);
/* Never NULL: a queue that has held nothing yet has no storage, and arithmetic on a NULL
 * pointer (even "+ 0") is undefined, so its data is an empty byte of its own. */
static inline unsigned char *cri_buf_data(const cri_buf *b)
{
    static unsigned char none[1];
    return b->p ? b->p + b->off : none;
}
void cri_buf_free(cri_buf *b);

/* Queues above this stop the side that fills them (backpressure). */
#define CRI_STREAM_QUEUE_MAX (1u << 20)
#define CRI_STREAM_CHUNK 32768

/* One local descriptor of a session: process stdin/stdout/stderr or a forwarded socket. */
typedef struct cri_slot {
    int fd;        /* -1 once closed */
    int is_socket; /* half-close with shutdown() */
    int rd;        /* its data goes to the client */
    int rd_eof;
    int wr;              /* takes the client's data */
    int wr_shut;         /* end the write side once `out` drains */
    int wr_done;         /* write side ended */
    cri_buf out;         /* bytes waiting for the descriptor */
    int role;            /* CRI_ROLE_* or CRI_ROLE_PF */
    uint32_t sid;        /* SPDY data stream, or WebSocket data channel */
    uint32_t err_sid;    /* SPDY port-forward error stream, or WebSocket error channel */
    int64_t send_window; /* SPDY window of sid when the peer does flow control */
    size_t recv_unacked; /* SPDY bytes received on sid not yet granted back */
} cri_slot;

enum {
    CRI_ROLE_STDIN,
    CRI_ROLE_STDOUT,
    CRI_ROLE_STDERR,
    CRI_ROLE_ERROR,
    CRI_ROLE_RESIZE,
    CRI_ROLE_N,
    CRI_ROLE_PF = 100
};

typedef struct cri_sess cri_sess;

/* Engine, called by the platform layer. */
cri_sess *cri_sess_new(cri_streaming *srv, int tls);
void cri_sess_free(cri_sess *s); /* closes remaining slots; proc handled by the caller */
void cri_sess_input(cri_sess *s, const void *data, size_t n);
void cri_sess_client_gone(cri_sess *s);
size_t cri_sess_slot_read_max(cri_sess *s, size_t i); /* 0: do not read now */
void cri_sess_slot_data(cri_sess *s, size_t i, const void *data, size_t n);
void cri_sess_slot_eof(cri_sess *s, size_t i);
void cri_sess_slot_write_error(cri_sess *s, size_t i);
void cri_sess_proc_exited(cri_sess *s, int rc, int exit_code);
void cri_sess_tick(cri_sess *s, int64_t now_ns);
int cri_sess_can_take_input(const cri_sess *s);
/* Ends write sides whose queues drained and closes finished descriptors. */
void cri_sess_settle(cri_sess *s);

/* What the platform layer reads back. */
cri_buf *cri_sess_out(cri_sess *s);
cri_slot *cri_sess_slots(cri_sess *s, size_t *n);
int cri_sess_done(const cri_sess *s);

/* Moving bytes between the client connection and a session, the same on every platform;
 * the platform supplies its socket (or TLS) I/O: >0 bytes, 0 would block, <0 gone. */
typedef long (*cri_conn_read_fn)(void *conn, void *buf, size_t n);
typedef long (*cri_conn_write_fn)(void *conn, const void *buf, size_t n);
/* Writes what the session has for the client; returns 1 when bytes moved. */
int cri_sess_flush_client(cri_sess *s, cri_conn_write_fn write_fn, void *conn);
/* Feeds the session what the client sent; `drain` reads until it would block (TLS buffers
 * records, so a poll may not fire again), else one read per round for fairness. Returns 1
 * when bytes moved. */
int cri_sess_read_client(cri_sess *s, cri_conn_read_fn read_fn, void *conn, int drain);
cri_stream_proc *cri_sess_proc(const cri_sess *s); /* set once a process runs */
const cri_stream_backend *cri_sess_backend(const cri_sess *s);

/* Platform hooks the engine uses. */
void cri_plat_close(int fd);
int cri_plat_shutdown_wr(int fd);

/* Server-wide parts in streaming.c. */
const cri_stream_backend *cri_streaming_backend(const cri_streaming *s);
/* Takes the token's request out of the cache: 0 found (caller frees *req with
 * cri_stream_request_free), -1 unknown or used, -2 expired. */
int cri_streaming_consume(cri_streaming *s, const char *token, cri_stream_request **req);
void cri_stream_request_free(cri_stream_request *r);

/* The platform's server part. */
typedef struct cri_listener cri_listener;
int cri_listener_start(cri_streaming *s, const cri_streaming_opts *o, cri_listener **out, int *port,
                       wc_err *err);
void cri_listener_stop(cri_listener *l);

/* A server without a listener, for driving sessions directly (tests, fuzzing): it hands
 * out URLs (on "http://127.0.0.1:0") and tokens like a listening one, and the caller moves
 * the bytes through cri_sess_* as a platform layer would. Freed with cri_streaming_stop. */
cri_streaming *cri_streaming_new_detached(const cri_stream_backend *b, int token_ttl_ms);

/* Random bytes from the OS / OpenSSL. */
int cri_random_bytes(void *buf, size_t n);

#endif
