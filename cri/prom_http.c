#include "cri/prom_http.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "cri/httpparse.h"

#define ACCEPT_POLL_MS 200      /* how soon the thread notices a stop */
#define REQUEST_TIMEOUT_MS 5000 /* for the whole request head */
#define SEND_TIMEOUT_MS 10000   /* per wait while sending the answer */

struct cri_prom_http {
    cri_prom_sock listener;
    pthread_t thread;
    int stopping; /* atomic */
};

static void count(int status)
{
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    const char *labels[] = {code};
    wc_metrics_add(WC_M_METRICS_REQUESTS, labels, 1);
}

static void respond(cri_prom_sock c, int status, const char *reason, const char *ctype,
                    const char *extra_headers, const char *body, size_t len, int head_only)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                     "Connection: close\r\n\r\n",
                     status, reason, ctype, len, extra_headers ? extra_headers : "");
    count(status);
    if (n < 0 || (size_t)n >= sizeof head || cri_prom_send(c, head, (size_t)n, SEND_TIMEOUT_MS) < 0)
        return;
    if (!head_only && len)
        cri_prom_send(c, body, len, SEND_TIMEOUT_MS);
}

static void error_page(cri_prom_sock c, int status, const char *reason, const char *extra,
                       int head_only)
{
    char body[128];
    int n = snprintf(body, sizeof body, "%d %s: wincrid serves metrics at GET /metrics\n", status,
                     reason);
    respond(c, status, reason, "text/plain; charset=utf-8", extra, body, (size_t)n, head_only);
}

/* Reads one request head within REQUEST_TIMEOUT_MS: 1 parsed, 0 the client went away or
 * was too slow, -1 malformed or too large. */
static int read_request(cri_prom_sock c, cri_http_req *req)
{
    char *buf = wc_xmalloc(CRI_HTTP_HEAD_MAX + 1);
    size_t have = 0;
    int64_t until = wc_clock_monotonic_ns() + (int64_t)REQUEST_TIMEOUT_MS * 1000000;
    int rc = 0;
    for (;;) {
        int64_t left_ms = (until - wc_clock_monotonic_ns()) / 1000000;
        if (left_ms <= 0)
            break;
        long got = cri_prom_recv(c, buf + have, CRI_HTTP_HEAD_MAX - have, (int)left_ms);
        if (got <= 0)
            break;
        have += (size_t)got;
        long used = cri_http_parse(buf, have, req);
        if (used > 0) {
            rc = 1;
            break;
        }
        if (used < 0 || have >= CRI_HTTP_HEAD_MAX) {
            rc = -1;
            break;
        }
    }
    free(buf);
    return rc;
}

static void serve(cri_prom_sock c)
{
    cri_http_req req;
    memset(&req, 0, sizeof req);
    int r = read_request(c, &req);
    if (r < 0) {
        error_page(c, 400, "Bad Request", NULL, 0);
    } else if (r > 0) {
        int head_only = strcmp(req.method, "HEAD") == 0;
        if (strcmp(req.method, "GET") != 0 && !head_only) {
            error_page(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", 0);
        } else if (strcmp(req.path, "/metrics") != 0) {
            error_page(c, 404, "Not Found", NULL, head_only);
        } else {
            size_t len = 0;
            char *text = wc_metrics_render(&len);
            if (text)
                respond(c, 200, "OK", WC_METRICS_CONTENT_TYPE, NULL, text, len, head_only);
            else
                error_page(c, 500, "Internal Server Error", NULL, head_only);
            free(text);
        }
    }
    cri_http_req_free(&req);
}

static void *serve_loop(void *arg)
{
    cri_prom_http *h = arg;
    while (!__atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE)) {
        cri_prom_sock c = -1;
        int r = cri_prom_accept(h->listener, ACCEPT_POLL_MS, &c);
        if (r < 0) {
            wc_warn("metrics", "the metrics listener failed; the endpoint is down", NULL);
            break;
        }
        if (r > 0) {
            serve(c);
            cri_prom_close(c);
        }
    }
    return NULL;
}

int cri_prom_http_start(const char *host, int port, cri_prom_http **out, int *bound_port,
                        wc_err *err)
{
    cri_prom_http *h = wc_xcalloc(1, sizeof *h);
    if (cri_prom_listen(host, port, &h->listener, bound_port, err) < 0) {
        free(h);
        return -1;
    }
    if (pthread_create(&h->thread, NULL, serve_loop, h) != 0) {
        cri_prom_unlisten(h->listener);
        free(h);
        return wc_err_set(err, WC_INTERNAL, "metrics: cannot start the listener thread");
    }
    *out = h;
    return 0;
}

void cri_prom_http_stop(cri_prom_http *h)
{
    if (!h)
        return;
    __atomic_store_n(&h->stopping, 1, __ATOMIC_RELEASE);
    pthread_join(h->thread, NULL);
    cri_prom_unlisten(h->listener);
    free(h);
}
