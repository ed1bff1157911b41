/* The protocol engine of one streaming connection: the HTTP upgrade, then kubelet's
 * remotecommand (exec/attach) and portforward protocols over WebSocket or SPDY/3.1. It only
 * turns bytes into frames and back; the platform layer moves them (streaming_impl.h). */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "cri/httpparse.h"
#include "cri/spdy.h"
#include "cri/streaming_impl.h"
#include "cri/websocket.h"

#define STREAM_WAIT_NS (30LL * 1000000000) /* clients open their streams within this */
#define OUTPUT_GRACE_NS (2LL * 1000000000) /* output still open this long after exit */
#define WS_MESSAGE_MAX (16u << 20)
#define WINDOW_ACK (32u << 10) /* grant SPDY window back in steps of this */
#define PF_PENDING_MAX 256
#define HEAD_WAIT_NS (30LL * 1000000000) /* a request head arrives within this */

enum { PH_HEAD, PH_WS, PH_SPDY };

/* A SPDY port-forward stream waiting for its partner (data or error) of the same request. */
typedef struct pf_pending {
    char *request_id;
    uint32_t data_sid, err_sid;
    int port;
} pf_pending;

struct cri_sess {
    cri_streaming *srv;
    const cri_stream_backend *be;
    int tls, phase, done;
    cri_buf in, out;
    cri_stream_request *req;
    int version; /* remotecommand protocol version: 1..5 */
    int b64;     /* WebSocket base64 channel framing */
    cri_slot *slots;
    size_t n_slots;
    /* exec and attach */
    int started, finished, exited, exit_rc, exit_code;
    cri_stream_proc *proc;
    int64_t now_ns, created_ns, deadline_ns, exited_ns;
    uint32_t sid[CRI_ROLE_N]; /* SPDY stream per role */
    int fin_sent[CRI_ROLE_N];
    int stdin_fin_early;
    long slot_of[CRI_ROLE_N];
    cri_buf resize;
    /* WebSocket message being assembled from fragments */
    cri_buf msg;
    int msg_op, msg_open;
    /* SPDY */
    cri_spdy_zlib *z;
    int peer_fc;
    int64_t init_window, sess_window;
    size_t sess_unacked;
    uint32_t last_sid;
    pf_pending *pend;
    size_t n_pend;
};

/* ---- slots ---- */

static size_t slot_add(cri_sess *s, int fd, int role, int rd, int wr, int is_socket)
{
    s->slots = wc_xrealloc(s->slots, (s->n_slots + 1) * sizeof *s->slots);
    cri_slot *sl = &s->slots[s->n_slots];
    memset(sl, 0, sizeof *sl);
    sl->fd = fd;
    sl->role = role;
    sl->rd = rd;
    sl->wr = wr;
    sl->is_socket = is_socket;
    sl->send_window = s->init_window;
    return s->n_slots++;
}

static void slot_abort(cri_slot *sl)
{
    if (sl->fd >= 0)
        cri_plat_close(sl->fd);
    sl->fd = -1;
    sl->rd_eof = sl->wr_done = 1;
    cri_buf_free(&sl->out);
}

static cri_slot *role_slot(cri_sess *s, int role)
{
    return s->slot_of[role] >= 0 ? &s->slots[s->slot_of[role]] : NULL;
}

void cri_sess_settle(cri_sess *s)
{
    for (size_t i = 0; i < s->n_slots; i++) {
        cri_slot *sl = &s->slots[i];
        if (sl->fd < 0)
            continue;
        if (sl->wr && sl->wr_shut && !sl->wr_done && sl->out.len == 0) {
            if (sl->is_socket && sl->rd && !sl->rd_eof)
                cri_plat_shutdown_wr(sl->fd);
            sl->wr_done = 1;
        }
        if ((!sl->rd || sl->rd_eof) && (!sl->wr || sl->wr_done)) {
            cri_plat_close(sl->fd);
            sl->fd = -1;
            cri_buf_free(&sl->out);
            if (sl->role == CRI_ROLE_STDIN && s->proc && s->be->stdin_closed)
                s->be->stdin_closed(s->proc);
        }
    }
}

/* ---- HTTP answers ---- */

static void http_error(cri_sess *s, int code, const char *reason, const char *msg)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "X-Content-Type-Options: nosniff\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     code, reason, strlen(msg) + 1);
    cri_buf_add(&s->out, head, (size_t)n);
    cri_buf_add(&s->out, msg, strlen(msg));
    cri_buf_addc(&s->out, '\n');
    s->done = 1;
}

/* ---- the v4 error stream: a metav1.Status ---- */

static char *status_json(int ok, const char *reason, const char *message, const char *cause_type,
                         const char *cause_msg, int code)
{
    json_t *st = json_pack("{s:{},s:s}", "metadata", "status", ok ? "Success" : "Failure");
    if (!ok) {
        json_object_set_new(st, "message", json_string(message));
        json_object_set_new(st, "reason", json_string(reason));
        json_t *cause = json_pack("{s:s}", "message", cause_msg);
        if (cause_type)
            json_object_set_new(cause, "reason", json_string(cause_type));
        json_object_set_new(st, "details", json_pack("{s:[o]}", "causes", cause));
        if (code)
            json_object_set_new(st, "code", json_integer(code));
    }
    char *text = json_dumps(st, JSON_COMPACT);
    json_decref(st);
    return text;
}

/* What the error stream carries at the end: v4+ always a Status, older versions a text
 * message on failure only. Caller frees; NULL for nothing. */
static char *final_status(cri_sess *s, const char *failure)
{
    char msg[1200], code[16];
    int nonzero =
        !failure && s->req->kind == CRI_STREAM_EXEC && s->exit_rc == 0 && s->exit_code != 0;
    if (!failure && s->req->kind == CRI_STREAM_EXEC && s->exit_rc < 0)
        failure = "could not learn the exit code of the command";
    if (nonzero)
        snprintf(msg, sizeof msg, "command terminated with non-zero exit code: exit status %d",
                 s->exit_code);
    else if (failure)
        snprintf(msg, sizeof msg, "%s", failure);
    if (s->version < 4)
        return nonzero || failure ? wc_xstrdup(msg) : NULL;
    if (nonzero) {
        snprintf(code, sizeof code, "%d", s->exit_code);
        return status_json(0, "NonZeroExitCode", msg, "ExitCode", code, 0);
    }
    if (failure)
        return status_json(0, "InternalError", msg, NULL, msg, 500);
    return status_json(1, NULL, NULL, NULL, NULL, 0);
}

/* ---- WebSocket output ---- */

static void ws_frame(cri_sess *s, int op, const void *a, size_t na, const void *b, size_t nb)
{
    unsigned char h[10];
    cri_buf_add(&s->out, h, cri_ws_header(h, op, na + nb));
    cri_buf_add(&s->out, a, na);
    cri_buf_add(&s->out, b, nb);
}

static void ws_send(cri_sess *s, unsigned ch, const void *data, size_t n)
{
    unsigned char c = (unsigned char)ch;
    if (!s->b64) {
        ws_frame(s, CRI_WS_BINARY, &c, 1, data, n);
        return;
    }
    char *enc = wc_xmalloc(4 * ((n + 2) / 3) + 2);
    enc[0] = (char)('0' + ch);
    int len = EVP_EncodeBlock((unsigned char *)enc + 1, data, (int)n);
    ws_frame(s, CRI_WS_TEXT, enc, (size_t)len + 1, NULL, 0);
    free(enc);
}

static void ws_close(cri_sess *s, unsigned code, const char *why)
{
    unsigned char c[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    ws_frame(s, CRI_WS_CLOSE, c, 2, why, strlen(why));
    s->done = 1;
}

/* ---- SPDY output ---- */

static void spdy_fin(cri_sess *s, uint32_t sid)
{
    if (sid)
        cri_spdy_data(&s->out, sid, CRI_SPDY_FLAG_FIN, NULL, 0);
}

static void spdy_goaway(cri_sess *s)
{
    cri_spdy_goaway(&s->out, s->last_sid, 0);
    s->done = 1;
}

/* ---- exec and attach ---- */

static void finish(cri_sess *s, const char *failure)
{
    if (s->finished)
        return;
    s->finished = 1;
    char *st = final_status(s, failure);
    for (size_t i = 0; i < s->n_slots; i++) {
        cri_slot *sl = &s->slots[i];
        if (sl->role == CRI_ROLE_STDIN) {
            cri_buf_free(&sl->out); /* nobody reads it any more */
            sl->wr_shut = 1;
        } else {
            sl->rd_eof = 1; /* output held open past the grace period */
        }
    }
    if (s->phase == PH_WS) {
        if (st)
            ws_send(s, 3, st, strlen(st));
        ws_close(s, 1000, "");
    } else {
        for (int r = CRI_ROLE_STDOUT; r <= CRI_ROLE_STDERR; r++)
            if (!s->fin_sent[r])
                spdy_fin(s, s->sid[r]);
        if (st && s->sid[CRI_ROLE_ERROR])
            cri_spdy_data(&s->out, s->sid[CRI_ROLE_ERROR], 0, st, strlen(st));
        spdy_fin(s, s->sid[CRI_ROLE_ERROR]);
        spdy_goaway(s);
    }
    free(st);
}

static void maybe_finish(cri_sess *s)
{
    if (!s->started || !s->exited || s->finished)
        return;
    for (size_t i = 0; i < s->n_slots; i++) {
        const cri_slot *sl = &s->slots[i];
        if (sl->rd && !sl->rd_eof && s->now_ns - s->exited_ns < OUTPUT_GRACE_NS)
            return;
    }
    finish(s, NULL);
}

static int take_fd(int fd, int wanted)
{
    if (fd >= 0 && !wanted) {
        cri_plat_close(fd);
        return -1;
    }
    return fd;
}

static void start_proc(cri_sess *s)
{
    const cri_stream_request *r = s->req;
    int in = r->want_stdin, out = r->want_stdout, err = r->want_stderr && !r->tty;
    cri_stream_io io = {-1, -1, -1};
    wc_err e = {0};
    int rc = r->kind == CRI_STREAM_EXEC
                 ? s->be->exec(s->be->ctx, r->id, r->cmd, r->n_cmd, r->tty, in, out, err, &io,
                               &s->proc, &e)
                 : s->be->attach(s->be->ctx, r->id, r->tty, in, out, err, &io, &s->proc, &e);
    s->started = 1;
    if (rc < 0) {
        s->proc = NULL;
        wc_warn("cri", "stream: could not start", "container=%s err=\"%s\"", r->id, e.msg);
        finish(s, e.msg);
        return;
    }
    io.in = take_fd(io.in, in);
    io.out = take_fd(io.out, out);
    io.err = take_fd(io.err, err);
    int fds[3] = {io.in, io.out, io.err};
    for (int role = CRI_ROLE_STDIN; role <= CRI_ROLE_STDERR; role++) {
        if (fds[role] < 0)
            continue;
        size_t i = slot_add(s, fds[role], role, role != CRI_ROLE_STDIN, role == CRI_ROLE_STDIN, 0);
        s->slots[i].sid = s->phase == PH_WS ? (uint32_t)role : s->sid[role];
        s->slot_of[role] = (long)i;
    }
    if (s->stdin_fin_early && role_slot(s, CRI_ROLE_STDIN))
        role_slot(s, CRI_ROLE_STDIN)->wr_shut = 1;
}

static void stdin_data(cri_sess *s, const void *data, size_t n)
{
    cri_slot *sl = role_slot(s, CRI_ROLE_STDIN);
    if (sl && sl->fd >= 0 && !sl->wr_shut && !sl->wr_done)
        cri_buf_add(&sl->out, data, n);
}

static void stdin_close(cri_sess *s)
{
    cri_slot *sl = role_slot(s, CRI_ROLE_STDIN);
    if (sl)
        sl->wr_shut = 1;
    else
        s->stdin_fin_early = 1;
}

/* Terminal sizes arrive as a stream of JSON objects {"Width":W,"Height":H}. */
static void resize_data(cri_sess *s, const void *data, size_t n)
{
    cri_buf_add(&s->resize, data, n);
    for (;;) {
        const char *p = (const char *)cri_buf_data(&s->resize);
        size_t len = s->resize.len, skip = 0;
        while (skip < len && strchr(" \t\r\n", p[skip]))
            skip++;
        cri_buf_consume(&s->resize, skip);
        if (s->resize.len == 0)
            return;
        json_error_t je;
        json_t *v = json_loadb((const char *)cri_buf_data(&s->resize), s->resize.len,
                               JSON_DISABLE_EOF_CHECK, &je);
        if (!v) {
            if (json_error_code(&je) != json_error_premature_end_of_input || s->resize.len > 4096)
                cri_buf_free(&s->resize); /* garbage: drop it */
            return;
        }
        cri_buf_consume(&s->resize, (size_t)je.position);
        json_t *w = json_object_get(v, "Width"), *h = json_object_get(v, "Height");
        if (!w)
            w = json_object_get(v, "width");
        if (!h)
            h = json_object_get(v, "height");
        if (json_is_integer(w) && json_is_integer(h) && s->proc && s->be->resize && !s->exited)
            s->be->resize(s->proc, (unsigned)json_integer_value(w),
                          (unsigned)json_integer_value(h));
        json_decref(v);
    }
}

/* ---- port-forward ---- */

static int pf_connect(cri_sess *s, int port, int *fd, char *why, size_t cap)
{
    wc_err e = {0};
    if (s->be->port_forward(s->be->ctx, s->req->id, port, fd, &e) == 0)
        return 0;
    snprintf(why, cap, "error forwarding port %d to pod %s: %s", port, s->req->id, e.msg);
    wc_warn("cri", "port-forward failed", "sandbox=%s port=%d err=\"%s\"", s->req->id, port, e.msg);
    return -1;
}

/* ---- WebSocket sessions ---- */

static void ws_pf_start(cri_sess *s, const int *ports, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char le[2] = {(unsigned char)ports[i], (unsigned char)(ports[i] >> 8)};
        ws_send(s, (unsigned)(2 * i), le, 2); /* each channel opens with its port number */
        ws_send(s, (unsigned)(2 * i + 1), le, 2);
        int fd = -1;
        char why[1200];
        if (pf_connect(s, ports[i], &fd, why, sizeof why) < 0) {
            ws_send(s, (unsigned)(2 * i + 1), why, strlen(why));
            continue;
        }
        size_t k = slot_add(s, fd, CRI_ROLE_PF, 1, 1, 1);
        s->slots[k].sid = (uint32_t)(2 * i);
        s->slots[k].err_sid = (uint32_t)(2 * i + 1);
    }
    s->started = 1;
    if (s->n_slots == 0)
        ws_close(s, 1000, ""); /* every port failed; the error channels said why */
}

static void ws_pf_maybe_close(cri_sess *s)
{
    for (size_t i = 0; i < s->n_slots; i++)
        if (!s->slots[i].rd_eof)
            return;
    ws_close(s, 1000, "");
}

static void ws_message(cri_sess *s, unsigned char *p, size_t n)
{
    if (n == 0)
        return;
    unsigned ch = p[0];
    unsigned char *data = p + 1;
    size_t len = n - 1;
    if (s->b64) {
        ch = (unsigned)(p[0] - '0');
        size_t pad = 0;
        while (pad < len && data[len - 1 - pad] == '=')
            pad++;
        int dec = len % 4 == 0 ? EVP_DecodeBlock(data, data, (int)len) : -1;
        if (dec < 0)
            return;
        len = (size_t)dec - pad;
    }
    if (s->req->kind == CRI_STREAM_PORTFORWARD) {
        for (size_t i = 0; i < s->n_slots; i++)
            if (ch % 2 == 0 && s->slots[i].sid == ch && s->slots[i].fd >= 0 && !s->slots[i].wr_shut)
                cri_buf_add(&s->slots[i].out, data, len);
        return;
    }
    if (ch == 0)
        stdin_data(s, data, len);
    else if (ch == 4)
        resize_data(s, data, len);
    else if (ch == 255 && s->version >= 5 && len >= 1 && data[0] == 0)
        stdin_close(s); /* v5 close signal for stdin */
}

static int ws_step(cri_sess *s)
{
    cri_ws_frame f;
    long used = cri_ws_parse(cri_buf_data(&s->in), s->in.len, WS_MESSAGE_MAX, &f);
    if (used == 0)
        return 0;
    if (used < 0) {
        ws_close(s, 1002, "protocol error");
        return 0;
    }
    switch (f.opcode) {
    case CRI_WS_PING:
        ws_frame(s, CRI_WS_PONG, f.payload, f.len, NULL, 0);
        break;
    case CRI_WS_PONG:
        break;
    case CRI_WS_CLOSE:
        /* The client is leaving: answer, and end whatever runs for it. */
        ws_frame(s, CRI_WS_CLOSE, f.payload, f.len >= 2 ? 2 : 0, NULL, 0);
        s->done = 1;
        break;
    default:
        if ((f.opcode == CRI_WS_CONT) != s->msg_open) {
            ws_close(s, 1002, "bad fragmentation");
            break;
        }
        if (f.fin && !s->msg_open) {
            ws_message(s, f.payload, f.len);
            break;
        }
        if (s->msg.len + f.len > WS_MESSAGE_MAX) {
            ws_close(s, 1009, "message too big");
            break;
        }
        cri_buf_add(&s->msg, f.payload, f.len);
        s->msg_open = !f.fin;
        if (f.fin) {
            ws_message(s, cri_buf_data(&s->msg), s->msg.len);
            cri_buf_free(&s->msg);
        }
    }
    cri_buf_consume(&s->in, (size_t)used);
    return 1;
}

typedef struct proto_choice {
    const char *name;
    int version, b64;
} proto_choice;

static const proto_choice ws_exec_protos[] = {
    {"v5.channel.k8s.io", 5, 0},        {"v4.channel.k8s.io", 4, 0},
    {"v4.base64.channel.k8s.io", 4, 1}, {"channel.k8s.io", 1, 0},
    {"base64.channel.k8s.io", 1, 1},    {NULL, 0, 0}};
static const proto_choice ws_pf_protos[] = {{"v4.channel.k8s.io", 4, 0},
                                            {"v4.base64.channel.k8s.io", 4, 1},
                                            {"portforward.k8s.io", 4, 0},
                                            {NULL, 0, 0}};

/* The first protocol of the client's list that the server speaks; "" when none asked. */
static const proto_choice *ws_negotiate(const cri_http_req *hr, const proto_choice *table)
{
    static const proto_choice none = {"", 1, 0};
    char *store = NULL;
    const char *tok[32];
    size_t n = cri_http_tokens(hr, "Sec-WebSocket-Protocol", &store, tok, 32);
    const proto_choice *pick = n == 0 ? &none : NULL;
    for (size_t i = 0; i < n && !pick; i++)
        for (const proto_choice *p = table; p->name && !pick; p++)
            if (strcmp(p->name, tok[i]) == 0)
                pick = p;
    free(store);
    return pick;
}

/* Ports of a WebSocket port-forward: ?port=N query parameters, else the request's. */
static int ws_ports(cri_sess *s, const cri_http_req *hr, int *ports, size_t *n)
{
    char *vals[16];
    size_t nv = cri_http_query(hr->query, "port", vals, 16);
    int rc = 0;
    *n = 0;
    for (size_t i = 0; i < nv; i++) {
        char *end;
        long v = strtol(vals[i], &end, 10);
        if (*end || v <= 0 || v > 65535)
            rc = -1;
        else
            ports[(*n)++] = (int)v;
        free(vals[i]);
    }
    for (size_t i = 0; nv == 0 && i < s->req->n_ports && i < 16; i++)
        ports[(*n)++] = s->req->ports[i];
    return rc < 0 || *n == 0 ? -1 : 0;
}

static void ws_upgrade(cri_sess *s, const cri_http_req *hr)
{
    const char *ver = cri_http_get(hr, "Sec-WebSocket-Version");
    const char *key = cri_http_get(hr, "Sec-WebSocket-Key");
    char accept[29];
    if (!ver || strcmp(ver, "13") != 0 || !key || cri_ws_accept_key(key, accept) < 0) {
        http_error(s, 400, "Bad Request", "websocket: version 13 and a valid key are required");
        return;
    }
    int pf = s->req->kind == CRI_STREAM_PORTFORWARD;
    const proto_choice *pc = ws_negotiate(hr, pf ? ws_pf_protos : ws_exec_protos);
    if (!pc) {
        http_error(s, 400, "Bad Request", "requested protocol(s) are not supported");
        return;
    }
    int ports[16];
    size_t n_ports = 0;
    if (pf && ws_ports(s, hr, ports, &n_ports) < 0) {
        http_error(s, 400, "Bad Request", "query parameter \"port\" is required (1..65535)");
        return;
    }
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                     accept, *pc->name ? "Sec-WebSocket-Protocol: " : "", pc->name,
                     *pc->name ? "\r\n" : "");
    cri_buf_add(&s->out, head, (size_t)n);
    s->phase = PH_WS;
    s->version = pc->version;
    s->b64 = pc->b64;
    if (pf) {
        ws_pf_start(s, ports, n_ports);
        return;
    }
    /* An empty message on the first channel the client reads says the stream is ready. */
    const cri_stream_request *r = s->req;
    ws_send(s, r->want_stdout ? 1 : r->want_stderr && !r->tty ? 2 : 3, NULL, 0);
    start_proc(s);
}

/* ---- SPDY sessions ---- */

static const char *const spdy_exec_protos[] = {"v4.channel.k8s.io", "v3.channel.k8s.io",
                                               "v2.channel.k8s.io", "channel.k8s.io", NULL};

static int spdy_expected(const cri_sess *s)
{
    const cri_stream_request *r = s->req;
    return 1 + !!r->want_stdin + !!r->want_stdout + !!(r->want_stderr && !r->tty) +
           !!(r->tty && s->version >= 3);
}

static int role_of(const char *type)
{
    static const char *const names[CRI_ROLE_N] = {"stdin", "stdout", "stderr", "error", "resize"};
    for (int i = 0; type && i < CRI_ROLE_N; i++)
        if (strcmp(type, names[i]) == 0)
            return i;
    return -1;
}

static void spdy_reply(cri_sess *s, uint32_t sid)
{
    cri_spdy_syn_reply(&s->out, s->z, sid, 0, NULL, NULL, 0);
}

static void spdy_exec_stream(cri_sess *s, uint32_t sid, uint8_t flags, const cri_spdy_headers *hs)
{
    int role = role_of(cri_spdy_get(hs, "streamtype"));
    if (role < 0 || s->sid[role] || s->started) {
        cri_spdy_rst(&s->out, sid, CRI_SPDY_RST_CANCEL);
        return;
    }
    s->sid[role] = sid;
    spdy_reply(s, sid);
    if (role == CRI_ROLE_STDIN && (flags & CRI_SPDY_FLAG_FIN))
        s->stdin_fin_early = 1;
    int have = 0;
    for (int r = 0; r < CRI_ROLE_N; r++)
        have += s->sid[r] != 0;
    if (have >= spdy_expected(s))
        start_proc(s);
}

/* kubelet pairs streams without a requestid header (old clients) by their stream ids. */
static void pf_request_id(const cri_spdy_headers *hs, uint32_t sid, int is_data, char *out,
                          size_t cap)
{
    const char *id = cri_spdy_get(hs, "requestid");
    if (id && *id)
        snprintf(out, cap, "%s", id);
    else
        snprintf(out, cap, "%u", is_data ? sid - 2 : sid);
}

static void spdy_pf_pair_done(cri_sess *s, size_t k)
{
    pf_pending p = s->pend[k];
    s->pend[k] = s->pend[--s->n_pend];
    free(p.request_id);
    int fd = -1;
    char why[1200];
    if (pf_connect(s, p.port, &fd, why, sizeof why) < 0) {
        cri_spdy_data(&s->out, p.err_sid, CRI_SPDY_FLAG_FIN, why, strlen(why));
        spdy_fin(s, p.data_sid);
        return;
    }
    size_t i = slot_add(s, fd, CRI_ROLE_PF, 1, 1, 1);
    s->slots[i].sid = p.data_sid;
    s->slots[i].err_sid = p.err_sid;
}

static void spdy_pf_stream(cri_sess *s, uint32_t sid, const cri_spdy_headers *hs)
{
    const char *type = cri_spdy_get(hs, "streamtype"), *port_s = cri_spdy_get(hs, "port");
    char *end = NULL;
    long port = port_s ? strtol(port_s, &end, 10) : 0;
    int is_data = type && strcmp(type, "data") == 0;
    if (!type || (!is_data && strcmp(type, "error") != 0) || !port_s || *end || port <= 0 ||
        port > 65535 || s->n_pend >= PF_PENDING_MAX) {
        cri_spdy_rst(&s->out, sid, CRI_SPDY_RST_CANCEL);
        return;
    }
    spdy_reply(s, sid);
    char rid[128];
    pf_request_id(hs, sid, is_data, rid, sizeof rid);
    for (size_t k = 0; k < s->n_pend; k++) {
        pf_pending *p = &s->pend[k];
        if (strcmp(p->request_id, rid) != 0)
            continue;
        if (is_data ? p->data_sid != 0 : p->err_sid != 0)
            break; /* a duplicate; keep the first */
        *(is_data ? &p->data_sid : &p->err_sid) = sid;
        spdy_pf_pair_done(s, k);
        return;
    }
    s->pend = wc_xrealloc(s->pend, (s->n_pend + 1) * sizeof *s->pend);
    pf_pending *p = &s->pend[s->n_pend++];
    memset(p, 0, sizeof *p);
    p->request_id = wc_xstrdup(rid);
    p->port = (int)port;
    *(is_data ? &p->data_sid : &p->err_sid) = sid;
}

static cri_slot *slot_by_sid(cri_sess *s, uint32_t sid)
{
    for (size_t i = 0; i < s->n_slots; i++)
        if (s->slots[i].sid == sid && (s->slots[i].fd >= 0 || s->slots[i].role != CRI_ROLE_PF))
            return &s->slots[i];
    return NULL;
}

/* Grants received bytes back to the peer, per stream and for the session. */
static void spdy_ack(cri_sess *s, cri_slot *sl, uint32_t sid, size_t n)
{
    s->sess_unacked += n;
    if (s->sess_unacked >= WINDOW_ACK) {
        cri_spdy_window_update(&s->out, 0, (uint32_t)s->sess_unacked);
        s->sess_unacked = 0;
    }
    if (!sl)
        return;
    sl->recv_unacked += n;
    if (sl->recv_unacked >= WINDOW_ACK) {
        cri_spdy_window_update(&s->out, sid, (uint32_t)sl->recv_unacked);
        sl->recv_unacked = 0;
    }
}

static void spdy_data(cri_sess *s, const cri_spdy_frame *f)
{
    int fin = f->flags & CRI_SPDY_FLAG_FIN;
    if (s->req->kind == CRI_STREAM_PORTFORWARD) {
        cri_slot *sl = slot_by_sid(s, f->stream_id);
        spdy_ack(s, sl, f->stream_id, f->len);
        if (!sl)
            return;
        if (!sl->wr_shut)
            cri_buf_add(&sl->out, f->data, f->len);
        if (fin)
            sl->wr_shut = 1;
        return;
    }
    if (f->stream_id == s->sid[CRI_ROLE_STDIN] && f->stream_id) {
        spdy_ack(s, role_slot(s, CRI_ROLE_STDIN), f->stream_id, f->len);
        stdin_data(s, f->data, f->len);
        if (fin)
            stdin_close(s);
    } else {
        spdy_ack(s, NULL, f->stream_id, f->len);
        if (f->stream_id == s->sid[CRI_ROLE_RESIZE] && f->stream_id)
            resize_data(s, f->data, f->len);
    }
}

static void spdy_reset(cri_sess *s, uint32_t sid)
{
    cri_slot *sl = slot_by_sid(s, sid);
    if (s->req->kind == CRI_STREAM_PORTFORWARD) {
        if (sl) {
            slot_abort(sl);
            sl->sid = 0;
        }
        return;
    }
    if (sid == s->sid[CRI_ROLE_STDIN])
        stdin_close(s);
    for (int r = CRI_ROLE_STDOUT; r <= CRI_ROLE_ERROR; r++)
        if (sid == s->sid[r])
            s->fin_sent[r] = 1; /* nothing more may be sent on it */
    if (sl && sl->role != CRI_ROLE_STDIN)
        sl->sid = 0;
}

static void spdy_window(cri_sess *s, const cri_spdy_frame *f)
{
    if (f->len < 8)
        return;
    int64_t delta = cri_be32(f->data + 4) & 0x7fffffff;
    s->peer_fc = 1; /* from now on its windows bind us */
    if (f->stream_id == 0) {
        s->sess_window += delta;
        return;
    }
    for (size_t i = 0; i < s->n_slots; i++)
        if (s->slots[i].sid == f->stream_id)
            s->slots[i].send_window += delta;
}

static void spdy_settings(cri_sess *s, const cri_spdy_frame *f)
{
    if (f->len < 4)
        return;
    uint32_t n = cri_be32(f->data);
    for (uint32_t i = 0; i < n && 4 + 8 * (size_t)(i + 1) <= f->len; i++) {
        const unsigned char *e = f->data + 4 + 8 * i;
        uint32_t id = cri_be32(e) & 0xffffff;
        if (id == CRI_SPDY_SETTINGS_INITIAL_WINDOW) {
            int64_t v = cri_be32(e + 4) & 0x7fffffff;
            for (size_t k = 0; k < s->n_slots; k++)
                s->slots[k].send_window += v - s->init_window;
            s->init_window = v;
        }
    }
}

static void spdy_control(cri_sess *s, const cri_spdy_frame *f)
{
    cri_spdy_headers hs;
    switch (f->type) {
    case CRI_SPDY_SYN_STREAM:
        if (f->len < 10 || cri_spdy_headers_decode(s->z, f->data + 10, f->len - 10, &hs) < 0) {
            spdy_goaway(s); /* the header context is lost: nothing more can be read */
            return;
        }
        if (f->stream_id % 2 == 0 || f->stream_id <= s->last_sid) {
            cri_spdy_headers_free(&hs);
            cri_spdy_rst(&s->out, f->stream_id, CRI_SPDY_RST_PROTOCOL_ERROR);
            return;
        }
        s->last_sid = f->stream_id;
        if (s->req->kind == CRI_STREAM_PORTFORWARD)
            spdy_pf_stream(s, f->stream_id, &hs);
        else
            spdy_exec_stream(s, f->stream_id, f->flags, &hs);
        cri_spdy_headers_free(&hs);
        return;
    case CRI_SPDY_HEADERS:
        if (f->len < 4 || cri_spdy_headers_decode(s->z, f->data + 4, f->len - 4, &hs) < 0) {
            spdy_goaway(s);
            return;
        }
        cri_spdy_headers_free(&hs);
        return;
    case CRI_SPDY_RST_STREAM:
        spdy_reset(s, f->stream_id);
        return;
    case CRI_SPDY_SETTINGS:
        spdy_settings(s, f);
        return;
    case CRI_SPDY_PING:
        if (f->len == 4 && (cri_be32(f->data) & 1)) /* odd ids are the client's: echo */
            cri_spdy_ping(&s->out, cri_be32(f->data));
        return;
    case CRI_SPDY_GOAWAY:
        s->done = 1; /* the client is leaving: end what runs for it */
        return;
    case CRI_SPDY_WINDOW_UPDATE:
        spdy_window(s, f);
        return;
    default:
        return; /* SYN_REPLY and unknown types: nothing to do for a server */
    }
}

static int spdy_step(cri_sess *s)
{
    cri_spdy_frame f;
    long used = cri_spdy_parse(cri_buf_data(&s->in), s->in.len, &f);
    if (used == 0)
        return 0;
    if (used < 0) {
        spdy_goaway(s);
        return 0;
    }
    if (f.control)
        spdy_control(s, &f);
    else
        spdy_data(s, &f);
    cri_buf_consume(&s->in, (size_t)used);
    return 1;
}

static void spdy_upgrade(cri_sess *s, const cri_http_req *hr)
{
    static const char *const pf_protos[] = {"portforward.k8s.io", NULL};
    int pf = s->req->kind == CRI_STREAM_PORTFORWARD;
    const char *const *ours = pf ? pf_protos : spdy_exec_protos;
    char *store = NULL;
    const char *tok[32];
    size_t n = cri_http_tokens(hr, "X-Stream-Protocol-Version", &store, tok, 32);
    const char *pick = NULL;
    for (size_t i = 0; i < n && !pick; i++)
        for (size_t k = 0; ours[k] && !pick; k++)
            if (strcmp(tok[i], ours[k]) == 0)
                pick = ours[k];
    free(store);
    if (n == 0) {
        http_error(s, 400, "Bad Request",
                   "unable to upgrade: X-Stream-Protocol-Version is required");
        return;
    }
    if (!pick) {
        cri_buf accepted = {0};
        for (size_t k = 0; ours[k]; k++) {
            char line[128];
            int len =
                snprintf(line, sizeof line, "X-Accepted-Stream-Protocol-Versions: %s\r\n", ours[k]);
            cri_buf_add(&accepted, line, (size_t)len);
        }
        const char *msg = "unable to upgrade: unable to negotiate protocol";
        char head[256];
        int len = snprintf(head, sizeof head,
                           "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n"
                           "Content-Length: %zu\r\nConnection: close\r\n",
                           strlen(msg) + 1);
        cri_buf_add(&s->out, head, (size_t)len);
        cri_buf_add(&s->out, cri_buf_data(&accepted), accepted.len);
        cri_buf_add(&s->out, "\r\n", 2);
        cri_buf_add(&s->out, msg, strlen(msg));
        cri_buf_addc(&s->out, '\n');
        cri_buf_free(&accepted);
        s->done = 1;
        return;
    }
    if (!(s->z = cri_spdy_zlib_new())) {
        http_error(s, 500, "Internal Server Error", "zlib initialisation failed");
        return;
    }
    char head[256];
    int len = snprintf(head, sizeof head,
                       "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                       "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: %s\r\n\r\n",
                       pick);
    cri_buf_add(&s->out, head, (size_t)len);
    s->phase = PH_SPDY;
    s->version = pf                                       ? 4
                 : strcmp(pick, "v4.channel.k8s.io") == 0 ? 4
                 : strcmp(pick, "v3.channel.k8s.io") == 0 ? 3
                 : strcmp(pick, "v2.channel.k8s.io") == 0 ? 2
                                                          : 1;
    s->deadline_ns = s->now_ns + STREAM_WAIT_NS;
    if (pf)
        s->started = 1;
}

/* ---- the request head ---- */

static int route(cri_sess *s, const cri_http_req *hr)
{
    static const char *const verbs[] = {"/exec/", "/attach/", "/portforward/"};
    if (strcmp(hr->method, "GET") != 0 && strcmp(hr->method, "POST") != 0) {
        http_error(s, 405, "Method Not Allowed", "only GET and POST upgrade a stream");
        return -1;
    }
    for (int k = 0; k < 3; k++) {
        size_t vl = strlen(verbs[k]);
        if (strncmp(hr->path, verbs[k], vl) != 0)
            continue;
        const char *token = hr->path + vl;
        if (!*token || strchr(token, '/'))
            break;
        int rc = cri_streaming_consume(s->srv, token, &s->req);
        if (rc == -2 || (rc == 0 && (int)s->req->kind != k)) {
            http_error(s, 404, "Not Found", rc == -2 ? "stream URL expired" : "unknown token");
            return -1;
        }
        if (rc < 0) {
            http_error(s, 404, "Not Found", "unknown or already used stream URL");
            return -1;
        }
        return 0;
    }
    http_error(s, 404, "Not Found", "404 page not found");
    return -1;
}

static int head_step(cri_sess *s)
{
    cri_http_req hr;
    long used = cri_http_parse((const char *)cri_buf_data(&s->in), s->in.len, &hr);
    if (used == 0)
        return 0;
    if (used < 0) {
        http_error(s, 400, "Bad Request", "malformed HTTP request");
        return 0;
    }
    cri_buf_consume(&s->in, (size_t)used);
    if (route(s, &hr) == 0) {
        int conn_upgrade = cri_http_has_token(&hr, "Connection", "upgrade");
        if (conn_upgrade && cri_http_has_token(&hr, "Upgrade", "websocket"))
            ws_upgrade(s, &hr);
        else if (conn_upgrade && cri_http_has_token(&hr, "Upgrade", "SPDY/3.1"))
            spdy_upgrade(s, &hr);
        else
            http_error(s, 400, "Bad Request",
                       "unable to upgrade: missing upgrade headers in request");
    }
    cri_http_req_free(&hr);
    return 1;
}

/* ---- the engine's entry points ---- */

cri_sess *cri_sess_new(cri_streaming *srv, int tls)
{
    cri_sess *s = wc_xcalloc(1, sizeof *s);
    s->srv = srv;
    s->be = cri_streaming_backend(srv);
    s->tls = tls;
    s->init_window = CRI_SPDY_WINDOW_DEFAULT;
    s->sess_window = CRI_SPDY_WINDOW_DEFAULT;
    for (int r = 0; r < CRI_ROLE_N; r++)
        s->slot_of[r] = -1;
    s->now_ns = wc_clock_monotonic_ns();
    s->created_ns = s->now_ns;
    return s;
}

void cri_sess_free(cri_sess *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_slots; i++)
        slot_abort(&s->slots[i]);
    free(s->slots);
    for (size_t k = 0; k < s->n_pend; k++)
        free(s->pend[k].request_id);
    free(s->pend);
    cri_spdy_zlib_free(s->z);
    cri_stream_request_free(s->req);
    cri_buf_free(&s->in);
    cri_buf_free(&s->out);
    cri_buf_free(&s->msg);
    cri_buf_free(&s->resize);
    free(s);
}

void cri_sess_input(cri_sess *s, const void *data, size_t n)
{
    if (s->done)
        return;
    cri_buf_add(&s->in, data, n);
    while (!s->done) {
        int progress = s->phase == PH_HEAD ? head_step(s)
                       : s->phase == PH_WS ? ws_step(s)
                                           : spdy_step(s);
        if (!progress)
            break;
    }
}

void cri_sess_client_gone(cri_sess *s)
{
    s->done = 1;
    cri_buf_free(&s->out);
}

size_t cri_sess_slot_read_max(cri_sess *s, size_t i)
{
    const cri_slot *sl = &s->slots[i];
    if (s->done || sl->fd < 0 || !sl->rd || sl->rd_eof || s->out.len >= CRI_STREAM_QUEUE_MAX)
        return 0;
    int64_t max = CRI_STREAM_CHUNK;
    if (s->phase == PH_SPDY && s->peer_fc) {
        if (sl->send_window < max)
            max = sl->send_window;
        if (s->sess_window < max)
            max = s->sess_window;
    }
    return max > 0 ? (size_t)max : 0;
}

void cri_sess_slot_data(cri_sess *s, size_t i, const void *data, size_t n)
{
    cri_slot *sl = &s->slots[i];
    if (s->done || n == 0)
        return;
    if (s->phase == PH_WS) {
        ws_send(s, sl->sid, data, n);
        return;
    }
    if (!sl->sid)
        return; /* the client reset this stream: drop */
    cri_spdy_data(&s->out, sl->sid, 0, data, n);
    sl->send_window -= (int64_t)n;
    s->sess_window -= (int64_t)n;
}

void cri_sess_slot_eof(cri_sess *s, size_t i)
{
    cri_slot *sl = &s->slots[i];
    sl->rd_eof = 1;
    if (s->done)
        return;
    if (sl->role == CRI_ROLE_PF) {
        if (s->phase == PH_WS) {
            ws_pf_maybe_close(s);
        } else if (sl->sid) {
            spdy_fin(s, sl->sid); /* the target closed: so does the data stream */
            spdy_fin(s, sl->err_sid);
        }
        return;
    }
    if (s->phase == PH_SPDY && !s->fin_sent[sl->role]) {
        spdy_fin(s, s->sid[sl->role]);
        s->fin_sent[sl->role] = 1;
    }
    maybe_finish(s);
}

void cri_sess_slot_write_error(cri_sess *s, size_t i)
{
    cri_slot *sl = &s->slots[i];
    cri_buf_free(&sl->out); /* the reader is gone: drop what it will never read */
    sl->wr_shut = sl->wr_done = 1;
}

void cri_sess_proc_exited(cri_sess *s, int rc, int exit_code)
{
    s->exited = 1;
    s->exit_rc = rc;
    s->exit_code = exit_code;
    s->now_ns = wc_clock_monotonic_ns();
    s->exited_ns = s->now_ns;
    maybe_finish(s);
}

void cri_sess_tick(cri_sess *s, int64_t now_ns)
{
    s->now_ns = now_ns;
    if (s->done)
        return;
    if (s->phase == PH_HEAD && now_ns - s->created_ns > HEAD_WAIT_NS) {
        http_error(s, 408, "Request Timeout", "no request head in time");
        return;
    }
    if (s->phase == PH_SPDY && !s->started && now_ns > s->deadline_ns) {
        wc_warn("cri", "stream: client did not open its streams in time", "container=%s",
                s->req->id);
        spdy_goaway(s);
        return;
    }
    maybe_finish(s);
}

int cri_sess_can_take_input(const cri_sess *s)
{
    if (s->out.len >= CRI_STREAM_QUEUE_MAX)
        return 0;
    for (size_t i = 0; i < s->n_slots; i++)
        if (s->slots[i].out.len >= CRI_STREAM_QUEUE_MAX)
            return 0;
    return 1;
}

cri_buf *cri_sess_out(cri_sess *s)
{
    return &s->out;
}
cri_slot *cri_sess_slots(cri_sess *s, size_t *n)
{
    *n = s->n_slots;
    return s->slots;
}
int cri_sess_done(const cri_sess *s)
{
    return s->done;
}
cri_stream_proc *cri_sess_proc(const cri_sess *s)
{
    return s->proc;
}
const cri_stream_backend *cri_sess_backend(const cri_sess *s)
{
    return s->be;
}

/* ---- client connection I/O, shared by the platform socket layers ---- */

#define CLIENT_CHUNK (64 * 1024)

int cri_sess_flush_client(cri_sess *s, cri_conn_write_fn write_fn, void *conn)
{
    cri_buf *out = cri_sess_out(s);
    int moved = 0;
    while (out->len) {
        long w = write_fn(conn, cri_buf_data(out), out->len);
        if (w < 0) {
            cri_sess_client_gone(s);
            break;
        }
        if (w == 0)
            break;
        cri_buf_consume(out, (size_t)w);
        moved = 1;
    }
    return moved;
}

int cri_sess_read_client(cri_sess *s, cri_conn_read_fn read_fn, void *conn, int drain)
{
    unsigned char buf[CLIENT_CHUNK];
    int moved = 0;
    while (!cri_sess_done(s) && cri_sess_can_take_input(s)) {
        long r = read_fn(conn, buf, sizeof buf);
        if (r < 0) {
            cri_sess_client_gone(s);
            break;
        }
        if (r == 0)
            break;
        cri_sess_input(s, buf, (size_t)r);
        moved = 1;
        if (!drain)
            break;
    }
    return moved;
}
