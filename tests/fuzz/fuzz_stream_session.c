/* The streaming server's protocol engine (cri/streaming_session.c) on one connection, with
 * this file as its platform layer: the HTTP upgrade, then remotecommand (exec, attach) or
 * portforward over WebSocket or SPDY/3.1, against a backend whose processes and forwarded
 * ports are plain descriptors (/dev/null, a socketpair). No socket is listened on.
 *
 * Input: 3 setup bytes, then what the client sends. Setup: the request (kind in bits 0-1:
 * exec, attach, port-forward; tty 4, stdin 8, stdout 16, stderr 32; ports in bits 6-7), the
 * platform's behaviour (1 exec/attach fails, 2 port-forward fails, 4 descriptors produce
 * output, 8 the process exits, 16 a descriptor's reader goes away, 32 the deadlines pass,
 * 64 the client leaves, 128 reads drain the connection), and the read/write size.
 * "@TOKEN@" in the client's bytes becomes the URL token the request was given, so that the
 * session gets past its token check. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "cri/streaming_impl.h"
#include "tests/fuzz/fuzz.h"

typedef struct fake_proc {
    int resized;
} fake_proc;

static uint8_t fail_mask; /* 1: exec/attach fails, 2: port-forward fails */

static int dev_null(int wanted)
{
    return wanted ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
}

static int start(cri_stream_io *io, int in, int out, int err, cri_stream_proc **proc, wc_err *e)
{
    if (fail_mask & 1)
        return wc_err_set(e, WC_NOT_FOUND, "container is gone");
    io->in = dev_null(in);
    io->out = dev_null(out);
    io->err = dev_null(err);
    *proc = (cri_stream_proc *)calloc(1, sizeof(fake_proc));
    return 0;
}

static int fake_exec(void *ctx, const char *id, const char *const *cmd, size_t n_cmd, int tty,
                     int in, int out, int err, cri_stream_io *io, cri_stream_proc **proc, wc_err *e)
{
    return start(io, in, out, err, proc, e);
}

static int fake_attach(void *ctx, const char *id, int tty, int in, int out, int err,
                       cri_stream_io *io, cri_stream_proc **proc, wc_err *e)
{
    return start(io, in, out, err, proc, e);
}

static int fake_resize(cri_stream_proc *p, unsigned w, unsigned h)
{
    ((fake_proc *)p)->resized++;
    return 0;
}

static void fake_release(cri_stream_proc *p)
{
    free(p);
}

static int fake_port_forward(void *ctx, const char *sandbox, int port, int *fd, wc_err *e)
{
    int sv[2];
    if (fail_mask & 2 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return wc_err_set(e, WC_UNAVAILABLE, "connection refused");
    close(sv[1]);
    *fd = sv[0];
    return 0;
}

static const cri_stream_backend backend = {
    .exec = fake_exec,
    .attach = fake_attach,
    .resize = fake_resize,
    .release = fake_release,
    .port_forward = fake_port_forward,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

/* Replaces every "@TOKEN@" with the token. */
static unsigned char *with_token(const uint8_t *p, size_t n, const char *token, size_t *out_n)
{
    static const char mark[] = "@TOKEN@";
    size_t ml = sizeof mark - 1, tl = strlen(token);
    unsigned char *out = malloc(n * (tl > ml ? tl : ml) / ml + tl + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + ml <= n && memcmp(p + i, mark, ml) == 0) {
            memcpy(out + o, token, tl);
            o += tl;
            i += ml;
        } else {
            out[o++] = p[i++];
        }
    }
    *out_n = o;
    return out;
}

/* One round of the platform layer: the client reads everything, descriptors take what was
 * queued for them, and readable descriptors produce a little output. */
/* The client connection: reads hand out the input a chunk at a time, writes take at most a
 * chunk (so the session keeps what the client has not taken yet). */
typedef struct conn {
    const unsigned char *p;
    size_t n, chunk;
} conn;

static long conn_read(void *ctx, void *buf, size_t cap)
{
    conn *c = ctx;
    size_t k = c->n < c->chunk ? c->n : c->chunk;
    if (k > cap)
        k = cap;
    memcpy(buf, c->p, k);
    c->p += k;
    c->n -= k;
    return (long)k;
}

static long conn_write(void *ctx, const void *buf, size_t n)
{
    const conn *c = ctx;
    if (getenv("FUZZ_VERBOSE")) /* to see what a seed gets to */
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, i + 1 < n ? "%02x" : "%02x\n", ((const unsigned char *)buf)[i]);
    return (long)(n < c->chunk ? n : c->chunk);
}

static void platform_round(cri_sess *s, conn *client, int produce)
{
    while (cri_sess_flush_client(s, conn_write, client))
        ;
    size_t n;
    cri_slot *slots = cri_sess_slots(s, &n);
    for (size_t i = 0; i < n; i++) {
        cri_buf_consume(&slots[i].out, slots[i].out.len);
        if (produce && cri_sess_slot_read_max(s, i) > 0)
            cri_sess_slot_data(s, i, "output\n", 7);
        slots = cri_sess_slots(s, &n); /* may have moved */
    }
    cri_sess_settle(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    uint8_t kind = fuzz_byte(&in), mode = fuzz_byte(&in), cut = fuzz_byte(&in);
    fail_mask = mode & 3;
    static const char *const cmd[] = {"sh", "-c", "echo hi"};
    static const int ports[] = {80, 8080};
    cri_stream_request req = {
        .kind = (cri_stream_kind)((kind & 3) % 3),
        .id = "0123456789abcdef",
        .cmd = cmd,
        .n_cmd = 3,
        .tty = (kind >> 2) & 1,
        .want_stdin = (kind >> 3) & 1,
        .want_stdout = (kind >> 4) & 1,
        .want_stderr = (kind >> 5) & 1,
        .ports = ports,
        .n_ports = (kind >> 6) % 3,
    };
    cri_streaming *srv = cri_streaming_new_detached(&backend, 0);
    char *url = NULL;
    wc_err err = {0};
    if (cri_streaming_url(srv, &req, &url, &err) < 0) {
        /* Flags the RPC refuses: take a valid exec instead. */
        req.kind = CRI_STREAM_EXEC;
        req.tty = req.want_stderr = 0;
        req.want_stdout = 1;
        if (cri_streaming_url(srv, &req, &url, &err) < 0)
            abort();
    }
    size_t n = 0;
    unsigned char *bytes = with_token(in.p, in.n, strrchr(url, '/') + 1, &n);
    free(url);

    cri_sess *s = cri_sess_new(srv, 0);
    size_t chunk = 1 + (size_t)cut * 37 % 4096;
    conn client = {bytes, n, chunk};
    while (client.n && !cri_sess_done(s)) {
        /* Nothing read: the session is done or holds back (its queues are full). */
        if (!cri_sess_read_client(s, conn_read, &client, mode & 128))
            break;
        platform_round(s, &client, mode & 4);
    }
    int64_t now = wc_clock_monotonic_ns();
    if (mode & 8) {
        /* The process ends and its output drains. */
        size_t ns;
        cri_sess_slots(s, &ns);
        for (size_t i = 0; i < ns; i++)
            cri_sess_slot_eof(s, i);
        if (cri_sess_proc(s))
            cri_sess_proc_exited(s, 0, mode >> 4);
    }
    size_t n_slots;
    cri_sess_slots(s, &n_slots);
    if (mode & 16 && n_slots)
        cri_sess_slot_write_error(s, (size_t)(mode >> 4) % n_slots); /* a reader went away */
    cri_sess_tick(s, now + (mode & 32 ? 120LL * 1000000000 : 0));
    platform_round(s, &client, 0);
    if (mode & 64)
        cri_sess_client_gone(s);
    cri_stream_proc *proc = cri_sess_proc(s);
    cri_sess_free(s);
    if (proc)
        fake_release(proc);
    cri_streaming_stop(srv);
    free(bytes);
    return 0;
}
