/* The streaming server's shared parts: byte queues, the token cache, request checks, URLs,
 * and start/stop around the platform listener. */
#include <jansson.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "common/xalloc.h"
#include "cri/streaming_impl.h"

#define TOKEN_BYTES 18  /* 24 base64url characters */
#define TOKENS_MAX 1000 /* outstanding URLs, as kubelet's cache caps them */
#define TTL_DEFAULT_MS 60000

void cri_buf_add(cri_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    if (b->off + b->len + n > b->cap) {
        if (b->off > 0) { /* slide down before growing */
            memmove(b->p, b->p + b->off, b->len);
            b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 256;
            while (cap < b->len + n)
                cap *= 2;
            b->p = wc_xrealloc(b->p, cap);
            b->cap = cap;
        }
    }
    memcpy(b->p + b->off + b->len, data, n);
    b->len += n;
}

void cri_buf_addc(cri_buf *b, unsigned char c)
{
    cri_buf_add(b, &c, 1);
}

void cri_buf_consume(cri_buf *b, size_t n)
{
    if (n >= b->len) {
        b->off = b->len = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}

void cri_buf_free(cri_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

int cri_random_bytes(void *buf, size_t n)
{
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

typedef struct cri_token {
    char token[40];
    int64_t expires_ns;
    cri_stream_request *req;
    struct cri_token *next;
} cri_token;

struct cri_streaming {
    cri_stream_backend be;
    char base_url[160];
    int64_t ttl_ns;
    pthread_mutex_t lock;
    cri_token *tokens;
    size_t n_tokens;
    cri_listener *listener;
};

const cri_stream_backend *cri_streaming_backend(const cri_streaming *s)
{
    return &s->be;
}
const char *cri_streaming_base_url(const cri_streaming *s)
{
    return s ? s->base_url : "(none)";
}

void cri_stream_request_free(cri_stream_request *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_cmd; i++)
        free((char *)r->cmd[i]);
    free((void *)r->cmd);
    free((char *)r->id);
    free((int *)r->ports);
    free(r);
}

static cri_stream_request *request_copy(const cri_stream_request *in)
{
    cri_stream_request *r = wc_xcalloc(1, sizeof *r);
    *r = *in;
    r->id = wc_xstrdup(in->id ? in->id : "");
    char **cmd = wc_xcalloc(in->n_cmd + 1, sizeof *cmd);
    for (size_t i = 0; i < in->n_cmd; i++)
        cmd[i] = wc_xstrdup(in->cmd[i]);
    r->cmd = (const char *const *)cmd;
    int *ports = wc_xcalloc(in->n_ports + 1, sizeof *ports);
    if (in->n_ports)
        memcpy(ports, in->ports, in->n_ports * sizeof *ports);
    r->ports = ports;
    return r;
}

static void base64url(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63];
        out[o++] = a[v & 63];
    }
    out[o] = '\0';
}

/* Drops expired entries; caller holds the lock. */
static void prune(cri_streaming *s, int64_t now)
{
    for (cri_token **pp = &s->tokens; *pp;) {
        cri_token *t = *pp;
        if (t->expires_ns > now) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        cri_stream_request_free(t->req);
        free(t);
        s->n_tokens--;
    }
}

static int check_request(const cri_stream_request *r, wc_err *err)
{
    if (!r->id || !*r->id)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s ID is empty",
                          r->kind == CRI_STREAM_PORTFORWARD ? "pod sandbox" : "container");
    if (r->kind == CRI_STREAM_PORTFORWARD) {
        for (size_t i = 0; i < r->n_ports; i++)
            if (r->ports[i] <= 0 || r->ports[i] > 65535)
                return wc_err_set(err, WC_INVALID_ARGUMENT, "port %d is not in 1..65535",
                                  r->ports[i]);
        return 0;
    }
    if (r->kind == CRI_STREAM_EXEC && r->n_cmd == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "cmd is empty: exec needs a command");
    if (!r->want_stdin && !r->want_stdout && !r->want_stderr)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "one of stdin, stdout and stderr must be true");
    if (r->tty && r->want_stderr)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "tty and stderr cannot both be true (a terminal merges stderr into "
                          "stdout)");
    return 0;
}

int cri_streaming_url(cri_streaming *s, const cri_stream_request *req, char **url, wc_err *err)
{
    if (check_request(req, err) < 0)
        return -1;
    unsigned char raw[TOKEN_BYTES];
    if (cri_random_bytes(raw, sizeof raw) < 0)
        return wc_err_set(err, WC_INTERNAL, "streaming: no random bytes for a token");
    cri_token *t = wc_xcalloc(1, sizeof *t);
    base64url(raw, sizeof raw, t->token);
    pthread_mutex_lock(&s->lock);
    int64_t now = wc_clock_monotonic_ns();
    prune(s, now);
    if (s->n_tokens >= TOKENS_MAX) {
        pthread_mutex_unlock(&s->lock);
        free(t);
        return wc_err_set(err, WC_RESOURCE_EXHAUSTED,
                          "streaming: %d unused stream URLs outstanding; try again later",
                          TOKENS_MAX);
    }
    t->expires_ns = now + s->ttl_ns;
    t->req = request_copy(req);
    t->next = s->tokens;
    s->tokens = t;
    s->n_tokens++;
    pthread_mutex_unlock(&s->lock);
    static const char *const verbs[] = {"exec", "attach", "portforward"};
    size_t n = strlen(s->base_url) + 64;
    *url = wc_xmalloc(n);
    snprintf(*url, n, "%s/%s/%s", s->base_url, verbs[req->kind], t->token);
    return 0;
}

int cri_streaming_consume(cri_streaming *s, const char *token, cri_stream_request **req)
{
    int rc = -1;
    *req = NULL;
    pthread_mutex_lock(&s->lock);
    for (cri_token **pp = &s->tokens; *pp; pp = &(*pp)->next) {
        cri_token *t = *pp;
        if (strcmp(t->token, token) != 0)
            continue;
        *pp = t->next;
        s->n_tokens--;
        if (t->expires_ns > wc_clock_monotonic_ns()) {
            *req = t->req;
            rc = 0;
        } else {
            cri_stream_request_free(t->req);
            rc = -2;
        }
        free(t);
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static const char *json_str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

int cri_streaming_start(const wc_config *cfg, const cri_stream_backend *b, cri_streaming **out,
                        wc_err *err)
{
    json_t *sec = json_object_get(cfg->doc, "streaming");
    cri_streaming_opts o = {
        .address = json_str(sec, "address"),
        .port = (int)json_integer_value(json_object_get(sec, "port")),
        .tls_cert = json_str(sec, "tls_cert"),
        .tls_key = json_str(sec, "tls_key"),
    };
    return cri_streaming_start_opts(&o, b, out, err);
}

static cri_streaming *streaming_new(const cri_stream_backend *b, int token_ttl_ms)
{
    cri_streaming *s = wc_xcalloc(1, sizeof *s);
    s->be = *b;
    s->ttl_ns = (int64_t)(token_ttl_ms > 0 ? token_ttl_ms : TTL_DEFAULT_MS) * 1000000;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

cri_streaming *cri_streaming_new_detached(const cri_stream_backend *b, int token_ttl_ms)
{
    cri_streaming *s = streaming_new(b, token_ttl_ms);
    snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:0");
    return s;
}

int cri_streaming_start_opts(const cri_streaming_opts *o, const cri_stream_backend *b,
                             cri_streaming **out, wc_err *err)
{
    cri_streaming_opts opts = *o;
    if (!opts.address || !*opts.address)
        opts.address = "127.0.0.1";
    int tls = opts.tls_cert && *opts.tls_cert;
    if (tls != (opts.tls_key && *opts.tls_key))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "streaming: tls_cert and tls_key must be given together");
    if (opts.port < 0 || opts.port > 65535)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "streaming: port %d is not in 0..65535",
                          opts.port);
    cri_streaming *s = streaming_new(b, opts.token_ttl_ms);
    int port = 0;
    if (cri_listener_start(s, &opts, &s->listener, &port, err) < 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return wc_err_prefix(err, "streaming server on %s:%d", opts.address, opts.port);
    }
    int v6 = wc_inet_family(opts.address) == 6;
    snprintf(s->base_url, sizeof s->base_url, "%s://%s%s%s:%d", tls ? "https" : "http",
             v6 ? "[" : "", opts.address, v6 ? "]" : "", port);
    wc_info("cri", "streaming server listening", "url=%s", s->base_url);
    *out = s;
    return 0;
}

void cri_streaming_stop(cri_streaming *s)
{
    if (!s)
        return;
    cri_listener_stop(s->listener);
    pthread_mutex_lock(&s->lock);
    prune(s, INT64_MAX);
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
