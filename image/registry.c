/* OCI distribution client on libcurl.
 *
 * All transfers share one curl share handle (connection cache, DNS, TLS sessions), so
 * connections to a registry are reused across requests, layers and pulls. Each transfer
 * runs on its own multi handle that the reading thread pumps: data is handed to the
 * consumer (digest check, unpack) as it arrives, and cancellation is checked while
 * waiting. Authentication follows the registry's WWW-Authenticate challenge: Basic with the
 * configured or given credentials, or a bearer token from the token server (GET with
 * optional Basic credentials, or POST with an identity token), cached per scope until it
 * expires. */
#include "image/img_internal.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#define COMP "image"
#define MANIFEST_MAX (4u << 20)
#define ERROR_BODY_MAX (16u << 10)
#define TOKEN_BODY_MAX (1u << 20)
#define RECV_BUFFER (512L << 10)
#define TOKEN_MARGIN_S 10
#define FILL_MAX (1u << 20) /* pause the transfer when this much waits for the reader */

#define ACCEPT_MANIFESTS                                                                           \
    "Accept: " IMG_MT_OCI_INDEX ", " IMG_MT_OCI_MANIFEST ", " IMG_MT_DOCKER_LIST                   \
    ", " IMG_MT_DOCKER_MANIFEST

typedef struct token_entry {
    char *key;
    char *token;
    int64_t expires_ns; /* monotonic */
    struct token_entry *next;
} token_entry;

struct img_registry {
    json_t *cfg;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t tok_lock;
    token_entry *tokens;
    int stall_seconds;
};

typedef struct endpoint {
    char *base; /* scheme://host[:port][/prefix], no trailing slash */
    char *host; /* host[:port], the key in "registries" */
    int is_mirror;
    int skip_verify;
    char *ca_file;
    char *user, *pass;
    char *identity_token;
    char *authz; /* current Authorization value; guarded by the session lock */
} endpoint;

struct img_session {
    img_registry *reg;
    char *path; /* repository path, e.g. library/busybox */
    const img_cancel *cancel;
    endpoint *eps;
    size_t n_eps;
    size_t cur;
    pthread_mutex_t lock;
};

/* A byte buffer filled by curl callbacks. */
typedef struct bytes {
    char *p;
    size_t len, cap;
} bytes;

typedef struct xfer {
    CURL *easy;
    CURLM *multi;
    struct curl_slist *hdrs;
    bytes fill, handed;
    int done, got_body, too_big, paused;
    CURLcode result;
    long status;
    char *www_auth;
    char *content_type;
    int64_t content_length;
    size_t max_body;
    const img_cancel *cancel;
    char errbuf[CURL_ERROR_SIZE];
    char *what; /* "registry X: blob Y" for messages */
    int stall_seconds;
} xfer;

struct img_reader {
    xfer *x;
};

/* ---- Registry (shared) ----------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a, void *ud)
{
    img_registry *r = ud;
    pthread_mutex_lock(&r->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    img_registry *r = ud;
    pthread_mutex_unlock(&r->share_locks[data]);
}

int img_registry_new(const json_t *registries, int stall_seconds, img_registry **out, wc_err *err)
{
    pthread_once(&curl_once, curl_init_once);
    img_registry *r = wc_xcalloc(1, sizeof *r);
    r->cfg = registries ? json_incref((json_t *)registries) : json_object();
    r->stall_seconds = stall_seconds > 0 ? stall_seconds : 30;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&r->share_locks[i], NULL);
    pthread_mutex_init(&r->tok_lock, NULL);
    r->share = curl_share_init();
    if (!r->share) {
        img_registry_free(r);
        return wc_err_set(err, WC_INTERNAL, "curl_share_init failed");
    }
    curl_share_setopt(r->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(r->share, CURLSHOPT_USERDATA, r);
    curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *out = r;
    return 0;
}

void img_registry_free(img_registry *r)
{
    if (!r)
        return;
    if (r->share)
        curl_share_cleanup(r->share);
    for (token_entry *t = r->tokens, *next; t; t = next) {
        next = t->next;
        free(t->key);
        free(t->token);
        free(t);
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&r->share_locks[i]);
    pthread_mutex_destroy(&r->tok_lock);
    json_decref(r->cfg);
    free(r);
}

static char *token_get(img_registry *r, const char *key)
{
    char *tok = NULL;
    int64_t now = wc_clock_monotonic_ns();
    pthread_mutex_lock(&r->tok_lock);
    for (token_entry *t = r->tokens; t; t = t->next)
        if (strcmp(t->key, key) == 0 && t->expires_ns > now) {
            tok = wc_xstrdup(t->token);
            break;
        }
    pthread_mutex_unlock(&r->tok_lock);
    return tok;
}

static void token_put(img_registry *r, const char *key, const char *token, int64_t expires_in)
{
    int64_t life = expires_in > TOKEN_MARGIN_S * 2 ? expires_in - TOKEN_MARGIN_S : expires_in;
    int64_t exp = wc_clock_monotonic_ns() + life * 1000000000LL;
    pthread_mutex_lock(&r->tok_lock);
    token_entry **pp = &r->tokens;
    while (*pp) {
        token_entry *t = *pp;
        if (strcmp(t->key, key) == 0 || t->expires_ns <= wc_clock_monotonic_ns()) {
            *pp = t->next;
            free(t->key);
            free(t->token);
            free(t);
        } else {
            pp = &t->next;
        }
    }
    token_entry *t = wc_xcalloc(1, sizeof *t);
    t->key = wc_xstrdup(key);
    t->token = wc_xstrdup(token);
    t->expires_ns = exp;
    t->next = r->tokens;
    r->tokens = t;
    pthread_mutex_unlock(&r->tok_lock);
}

/* ---- Transfers ------------------------------------------------------------------------- */

static void bytes_append(bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64 << 10;
        while (cap < b->len + n)
            cap *= 2;
        b->p = wc_xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t total = size * n;
    x->got_body = 1;
    if (x->max_body && x->fill.len + total > x->max_body) {
        x->too_big = 1;
        return 0;
    }
    if (!x->max_body && x->fill.len >= FILL_MAX) {
        x->paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    bytes_append(&x->fill, p, total);
    return total;
}

static char *trimmed_value(const char *line, size_t n, size_t name_len)
{
    const char *v = line + name_len;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return img_strndup(v, (size_t)(end - v));
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or 100): forget the previous one's headers. */
        free(x->www_auth);
        free(x->content_type);
        x->www_auth = x->content_type = NULL;
        x->content_length = -1;
    } else if (len > 17 && strncasecmp(line, "www-authenticate:", 17) == 0) {
        char *v = trimmed_value(line, len, 17);
        if (x->www_auth) {
            size_t m = strlen(x->www_auth) + strlen(v) + 3;
            char *both = wc_xmalloc(m);
            snprintf(both, m, "%s, %s", x->www_auth, v);
            free(x->www_auth);
            free(v);
            x->www_auth = both;
        } else {
            x->www_auth = v;
        }
    } else if (len > 13 && strncasecmp(line, "content-type:", 13) == 0) {
        free(x->content_type);
        x->content_type = trimmed_value(line, len, 13);
        char *semi = strchr(x->content_type, ';');
        if (semi)
            *semi = '\0';
    } else if (len > 15 && strncasecmp(line, "content-length:", 15) == 0) {
        char *v = trimmed_value(line, len, 15);
        x->content_length = strtoll(v, NULL, 10);
        free(v);
    }
    return len;
}

static void xfer_free(xfer *x)
{
    if (!x)
        return;
    if (x->multi && x->easy)
        curl_multi_remove_handle(x->multi, x->easy);
    if (x->easy)
        curl_easy_cleanup(x->easy);
    if (x->multi)
        curl_multi_cleanup(x->multi);
    curl_slist_free_all(x->hdrs);
    free(x->fill.p);
    free(x->handed.p);
    free(x->www_auth);
    free(x->content_type);
    free(x->what);
    free(x);
}

static void set_tls(CURL *e, const endpoint *ep)
{
    if (ep->skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (ep->ca_file && *ep->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, ep->ca_file);
}

static xfer *xfer_new(img_registry *r, const endpoint *ep, const char *url, const char *what,
                      const img_cancel *cancel)
{
    xfer *x = wc_xcalloc(1, sizeof *x);
    x->easy = curl_easy_init();
    x->multi = curl_multi_init();
    x->content_length = -1;
    x->cancel = cancel;
    x->what = wc_xstrdup(what);
    x->stall_seconds = r->stall_seconds;
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_SHARE, r->share);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 8L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)r->stall_seconds);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "wincri/" WINCRI_VERSION);
    set_tls(e, ep);
    return x;
}

static void xfer_header(xfer *x, const char *h)
{
    x->hdrs = curl_slist_append(x->hdrs, h);
}

static void xfer_start(xfer *x)
{
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
    curl_multi_add_handle(x->multi, x->easy);
}

static int curl_fail(xfer *x, wc_err *err)
{
    const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result);
    switch (x->result) {
    case CURLE_OPERATION_TIMEDOUT:
        return wc_err_set(err, WC_DEADLINE_EXCEEDED, "%s: timed out (no data for %d s): %s",
                          x->what, x->stall_seconds, detail);
    case CURLE_PARTIAL_FILE:
        return wc_err_set(err, WC_UNAVAILABLE, "%s: truncated: the connection closed early: %s",
                          x->what, detail);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_TOO_MANY_REDIRECTS:
        return wc_err_set(err, WC_UNAVAILABLE, "%s: %s", x->what, detail);
    case CURLE_WRITE_ERROR:
        if (x->too_big)
            return wc_err_set(err, WC_INVALID_ARGUMENT, "%s: answer larger than %zu bytes", x->what,
                              x->max_body);
        return wc_err_set(err, WC_INTERNAL, "%s: %s", x->what, detail);
    default:
        return wc_err_set(err, WC_INTERNAL, "%s: %s", x->what, detail);
    }
}

/* Runs the transfer a little: returns once there is data, it ended, or ~100 ms passed. */
static int xfer_pump(xfer *x, wc_err *err)
{
    int running = 0;
    CURLMcode mc = curl_multi_perform(x->multi, &running);
    if (mc != CURLM_OK)
        return wc_err_set(err, WC_INTERNAL, "%s: curl: %s", x->what, curl_multi_strerror(mc));
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(x->multi, &left)) != NULL)
        if (m->msg == CURLMSG_DONE) {
            x->done = 1;
            x->result = m->data.result;
        }
    if (x->done || x->fill.len > 0)
        return 0;
    if (img_cancel_check(x->cancel, err) < 0)
        return wc_err_prefix(err, "%s", x->what);
    curl_multi_poll(x->multi, NULL, 0, 100, NULL);
    return 0;
}

/* Waits until the response status is known (the first body byte, or the end). */
static int xfer_wait_status(xfer *x, wc_err *err)
{
    while (!x->got_body && !x->done)
        if (xfer_pump(x, err) < 0)
            return -1;
    if (x->done && x->result != CURLE_OK)
        return curl_fail(x, err);
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    return 0;
}

static ssize_t xfer_read(xfer *x, const void **buf, wc_err *err)
{
    while (x->fill.len == 0 && !x->done)
        if (xfer_pump(x, err) < 0)
            return -1;
    if (x->fill.len > 0) {
        bytes t = x->handed;
        x->handed = x->fill;
        x->fill = t;
        x->fill.len = 0;
        if (x->paused) {
            x->paused = 0;
            curl_easy_pause(x->easy, CURLPAUSE_CONT);
        }
        *buf = x->handed.p;
        return (ssize_t)x->handed.len;
    }
    if (x->result != CURLE_OK)
        return curl_fail(x, err);
    return 0;
}

static int xfer_read_all(xfer *x, size_t max, char **body, size_t *len, wc_err *err)
{
    bytes all = {0};
    x->max_body = max;
    for (;;) {
        const void *p;
        ssize_t n = xfer_read(x, &p, err);
        if (n < 0) {
            free(all.p);
            return -1;
        }
        if (n == 0)
            break;
        if (all.len + (size_t)n > max) {
            free(all.p);
            return wc_err_set(err, WC_INVALID_ARGUMENT, "%s: answer larger than %zu bytes", x->what,
                              max);
        }
        bytes_append(&all, p, (size_t)n);
    }
    bytes_append(&all, "", 1);
    *body = all.p;
    if (len)
        *len = all.len - 1;
    return 0;
}

/* ---- Errors from HTTP answers ---------------------------------------------------------- */

/* "CODE: message" from a distribution error body, or a short excerpt of it. */
static void error_detail(const char *body, char *out, size_t cap)
{
    out[0] = '\0';
    if (!body || !*body)
        return;
    json_t *doc = json_loads(body, 0, NULL);
    json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
    const char *code = json_string_value(json_object_get(first, "code"));
    const char *msg = json_string_value(json_object_get(first, "message"));
    if (code || msg)
        snprintf(out, cap, " (%s%s%s)", code ? code : "", code && msg ? ": " : "", msg ? msg : "");
    else
        snprintf(out, cap, " (%.120s)", body);
    for (char *c = out; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    json_decref(doc);
}

static wc_code status_code(long status)
{
    if (status == 400)
        return WC_INVALID_ARGUMENT;
    if (status == 401)
        return WC_UNAUTHENTICATED;
    if (status == 403)
        return WC_PERMISSION_DENIED;
    if (status == 404)
        return WC_NOT_FOUND;
    if (status == 408 || status == 429 || status >= 500)
        return WC_UNAVAILABLE;
    return WC_INTERNAL;
}

static int http_fail(xfer *x, wc_err *err)
{
    char *body = NULL;
    wc_err ignored = {0};
    xfer_read_all(x, ERROR_BODY_MAX, &body, NULL, &ignored);
    char detail[300];
    error_detail(body, detail, sizeof detail);
    free(body);
    const char *what = x->status == 404 ? "not found" : "failed";
    return wc_err_set(err, status_code(x->status), "%s: %s: HTTP %ld%s", x->what, what, x->status,
                      detail);
}

/* ---- Sessions and endpoints ------------------------------------------------------------ */

static const char *str_or(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

static void endpoint_creds_from(endpoint *ep, const json_t *c)
{
    const char *u = str_or(c, "username"), *p = str_or(c, "password"), *a = str_or(c, "auth");
    if (u) {
        ep->user = wc_xstrdup(u);
        ep->pass = wc_xstrdup(p ? p : "");
    } else if (a) {
        wc_err ignored = {0};
        img_auth_decode(a, &ep->user, &ep->pass, &ignored);
    }
    const char *it = str_or(c, "identity_token");
    if (it)
        ep->identity_token = wc_xstrdup(it);
}

static int endpoint_creds_from_request(endpoint *ep, const img_auth *a, wc_err *err)
{
    if (a->registry_token && *a->registry_token) {
        size_t n = strlen(a->registry_token) + 8;
        ep->authz = wc_xmalloc(n);
        snprintf(ep->authz, n, "Bearer %s", a->registry_token);
    }
    if (a->identity_token && *a->identity_token)
        ep->identity_token = wc_xstrdup(a->identity_token);
    if (a->username && *a->username) {
        ep->user = wc_xstrdup(a->username);
        ep->pass = wc_xstrdup(a->password ? a->password : "");
    } else if (a->auth && *a->auth) {
        if (img_auth_decode(a->auth, &ep->user, &ep->pass, err) < 0)
            return wc_err_prefix(err, "credentials for %s", ep->host);
    }
    return 0;
}

static int auth_given(const img_auth *a)
{
    return a &&
           ((a->username && *a->username) || (a->auth && *a->auth) ||
            (a->identity_token && *a->identity_token) || (a->registry_token && *a->registry_token));
}

static void endpoint_tls_from(endpoint *ep, const json_t *c)
{
    ep->skip_verify = json_is_true(json_object_get(c, "skip_verify"));
    const char *ca = str_or(c, "ca_file");
    if (ca)
        ep->ca_file = wc_xstrdup(ca);
}

/* host[:port] of a URL (between "://" and the next "/"). */
static char *url_host(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/");
    return img_strndup(p, n);
}

static int add_mirror(img_session *s, const char *url)
{
    endpoint *ep = &s->eps[s->n_eps];
    memset(ep, 0, sizeof *ep);
    ep->is_mirror = 1;
    ep->host = url_host(url);
    if (strstr(url, "://")) {
        ep->base = wc_xstrdup(url);
    } else {
        const char *scheme = img_host_is_loopback(ep->host) ? "http://" : "https://";
        size_t n = strlen(scheme) + strlen(url) + 1;
        ep->base = wc_xmalloc(n);
        snprintf(ep->base, n, "%s%s", scheme, url);
    }
    size_t len = strlen(ep->base);
    while (len > 0 && ep->base[len - 1] == '/')
        ep->base[--len] = '\0';
    const json_t *c = json_object_get(s->reg->cfg, ep->host);
    endpoint_tls_from(ep, c);
    endpoint_creds_from(ep, c);
    s->n_eps++;
    return 0;
}

static int add_origin(img_session *s, const img_ref *ref, const img_auth *auth, wc_err *err)
{
    endpoint *ep = &s->eps[s->n_eps];
    memset(ep, 0, sizeof *ep);
    ep->host = wc_xstrdup(ref->domain);
    s->n_eps++;
    const json_t *c = json_object_get(s->reg->cfg, ref->domain);
    const json_t *plain = json_object_get(c, "plain_http");
    int http = json_is_boolean(plain) ? json_is_true(plain) : img_host_is_loopback(ref->domain);
    const char *api_host =
        strcmp(ref->domain, "docker.io") == 0 ? "registry-1.docker.io" : ref->domain;
    size_t n = strlen(api_host) + 9;
    ep->base = wc_xmalloc(n);
    snprintf(ep->base, n, "%s%s", http ? "http://" : "https://", api_host);
    endpoint_tls_from(ep, c);
    if (auth_given(auth))
        return endpoint_creds_from_request(ep, auth, err);
    endpoint_creds_from(ep, c);
    return 0;
}

static void endpoint_clear(endpoint *ep)
{
    free(ep->base);
    free(ep->host);
    free(ep->ca_file);
    free(ep->user);
    free(ep->pass);
    free(ep->identity_token);
    free(ep->authz);
}

int img_session_new(img_registry *r, const img_ref *ref, const img_auth *auth,
                    const img_cancel *cancel, img_session **out, wc_err *err)
{
    img_session *s = wc_xcalloc(1, sizeof *s);
    s->reg = r;
    s->path = wc_xstrdup(ref->path);
    s->cancel = cancel;
    pthread_mutex_init(&s->lock, NULL);
    const json_t *mirrors = json_object_get(json_object_get(r->cfg, ref->domain), "mirrors");
    s->eps = wc_xcalloc(json_array_size(mirrors) + 1, sizeof *s->eps);
    size_t i;
    json_t *m;
    json_array_foreach(mirrors, i, m)
    {
        if (json_is_string(m) && *json_string_value(m))
            add_mirror(s, json_string_value(m));
    }
    if (add_origin(s, ref, auth, err) < 0) {
        img_session_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void img_session_free(img_session *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_eps; i++)
        endpoint_clear(&s->eps[i]);
    free(s->eps);
    free(s->path);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const char *img_session_endpoint(const img_session *s)
{
    return s->eps[s->cur].base;
}

/* ---- Authorization --------------------------------------------------------------------- */

static char *authz_get(img_session *s, endpoint *ep)
{
    pthread_mutex_lock(&s->lock);
    char *a = ep->authz ? wc_xstrdup(ep->authz) : NULL;
    pthread_mutex_unlock(&s->lock);
    return a;
}

static void authz_set(img_session *s, endpoint *ep, char *value)
{
    pthread_mutex_lock(&s->lock);
    free(ep->authz);
    ep->authz = value;
    pthread_mutex_unlock(&s->lock);
}

static char *basic_value(const endpoint *ep)
{
    size_t n = strlen(ep->user) + strlen(ep->pass) + 2;
    char *up = wc_xmalloc(n);
    snprintf(up, n, "%s:%s", ep->user, ep->pass);
    char *b64 = img_base64(up, strlen(up));
    free(up);
    size_t m = strlen(b64) + 7;
    char *v = wc_xmalloc(m);
    snprintf(v, m, "Basic %s", b64);
    free(b64);
    return v;
}

/* Cache key: who asks (user or a digest of the identity token) for which scope where. */
static char *token_key(const endpoint *ep, const img_challenge *ch, const char *scope)
{
    char secret[IMG_DIGEST_LEN + 1] = "";
    const char *s = ep->identity_token ? ep->identity_token : (ep->pass ? ep->pass : "");
    img_sha256_digest(s, strlen(s), secret);
    size_t n = strlen(ch->realm) + strlen(ch->service ? ch->service : "") + strlen(scope) +
               strlen(ep->user ? ep->user : "") + sizeof secret + 8;
    char *k = wc_xmalloc(n);
    snprintf(k, n, "%s|%s|%s|%s|%s", ch->realm, ch->service ? ch->service : "", scope,
             ep->user ? ep->user : "", secret);
    return k;
}

static int token_request(img_session *s, const endpoint *ep, const img_challenge *ch,
                         const char *scope, char **token, int64_t *expires, wc_err *err)
{
    char what[600];
    snprintf(what, sizeof what, "token server %s (for %s)", ch->realm, ep->host);
    xfer *x;
    char *post = NULL;
    if (ep->identity_token) {
        x = xfer_new(s->reg, ep, ch->realm, what, s->cancel);
        char *q = img_token_query(ch, scope, 1);
        char *rt = img_url_escape(ep->identity_token);
        size_t n = strlen(q) + strlen(rt) + 64;
        post = wc_xmalloc(n);
        snprintf(post, n, "grant_type=refresh_token&%s&refresh_token=%s", q, rt);
        free(q);
        free(rt);
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, post);
        xfer_header(x, "Content-Type: application/x-www-form-urlencoded");
    } else {
        char *url = img_token_query(ch, scope, 0);
        x = xfer_new(s->reg, ep, url, what, s->cancel);
        free(url);
        if (ep->user) {
            char *b = basic_value(ep);
            char h[2048];
            snprintf(h, sizeof h, "Authorization: %s", b);
            free(b);
            xfer_header(x, h);
        }
    }
    xfer_start(x);
    char *body = NULL;
    int rc = xfer_wait_status(x, err);
    if (rc == 0 && (x->status < 200 || x->status >= 300)) {
        rc = http_fail(x, err);
        if (x->status == 401)
            wc_err_prefix(err, "credentials %s%s%s rejected",
                          ep->user ? "of user \"" : "(anonymous)", ep->user ? ep->user : "",
                          ep->user ? "\"" : "");
    }
    if (rc == 0)
        rc = xfer_read_all(x, TOKEN_BODY_MAX, &body, NULL, err);
    if (rc == 0 && img_token_parse(body, token, expires, err) < 0)
        rc = wc_err_prefix(err, "%s", what);
    free(body);
    free(post);
    xfer_free(x);
    return rc;
}

/* Answers a 401: works out the Authorization for the challenge. 0 when there is a new one
 * to try, -1 (UNAUTHENTICATED etc.) when there is nothing more to try. */
static int authorize(img_session *s, endpoint *ep, const char *www_auth, const char *tried,
                     wc_err *err)
{
    img_challenge ch;
    if (img_challenge_parse(www_auth, &ch, err) < 0)
        return wc_err_prefix(err, "registry %s", ep->base);
    char *value = NULL;
    int rc = 0;
    if (strcasecmp(ch.scheme, "Basic") == 0) {
        if (!ep->user)
            rc = wc_err_set(err, WC_UNAUTHENTICATED,
                            "registry %s requires authentication and no credentials were "
                            "given for %s",
                            ep->base, ep->host);
        else
            value = basic_value(ep);
    } else {
        char default_scope[600];
        snprintf(default_scope, sizeof default_scope, "repository:%s:pull", s->path);
        const char *scope = ch.scope && *ch.scope ? ch.scope : default_scope;
        char *key = token_key(ep, &ch, scope);
        char *tok = token_get(s->reg, key);
        if (tok && tried && strstr(tried, tok)) {
            free(tok); /* the cached token was just refused: ask for a fresh one */
            tok = NULL;
        }
        int64_t expires = 60;
        if (!tok && (rc = token_request(s, ep, &ch, scope, &tok, &expires, err)) == 0)
            token_put(s->reg, key, tok, expires);
        free(key);
        if (rc == 0) {
            size_t n = strlen(tok) + 8;
            value = wc_xmalloc(n);
            snprintf(value, n, "Bearer %s", tok);
        }
        free(tok);
    }
    img_challenge_clear(&ch);
    if (rc == 0 && tried && strcmp(tried, value) == 0) {
        free(value);
        return wc_err_set(err, WC_UNAUTHENTICATED, "registry %s refused the credentials for %s",
                          ep->base, ep->host);
    }
    if (rc == 0)
        authz_set(s, ep, value);
    return rc;
}

/* GETs base/v2/<path>/<suffix> with authorization, answering one 401 challenge. On 2xx the
 * transfer is returned for reading; otherwise the error says what the registry said. */
static int request(img_session *s, endpoint *ep, const char *suffix, const char *accept,
                   const char *what, xfer **out, wc_err *err)
{
    size_t n = strlen(ep->base) + strlen(s->path) + strlen(suffix) + 8;
    char *url = wc_xmalloc(n);
    snprintf(url, n, "%s/v2/%s/%s", ep->base, s->path, suffix);
    char label[800];
    snprintf(label, sizeof label, "registry %s: %s", ep->base, what);
    int rc = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        char *authz = authz_get(s, ep);
        xfer *x = xfer_new(s->reg, ep, url, label, s->cancel);
        if (accept)
            xfer_header(x, accept);
        if (authz) {
            char h[8192];
            snprintf(h, sizeof h, "Authorization: %s", authz);
            xfer_header(x, h);
        }
        xfer_start(x);
        rc = xfer_wait_status(x, err);
        if (rc == 0 && x->status >= 200 && x->status < 300) {
            free(authz);
            *out = x;
            break;
        }
        if (rc == 0 && x->status == 401 && x->www_auth && attempt < 2) {
            rc = authorize(s, ep, x->www_auth, authz, err);
            free(authz);
            xfer_free(x);
            if (rc < 0)
                break;
            rc = -1;
            continue;
        }
        if (rc == 0)
            rc = http_fail(x, err);
        free(authz);
        xfer_free(x);
        break;
    }
    free(url);
    return rc;
}

static int manifest_from(img_session *s, endpoint *ep, const char *reference, char **body,
                         size_t *len, char **media_type, wc_err *err)
{
    char suffix[300], what[400];
    snprintf(suffix, sizeof suffix, "manifests/%s", reference);
    snprintf(what, sizeof what, "manifest %s:%s", s->path, reference);
    xfer *x;
    if (request(s, ep, suffix, ACCEPT_MANIFESTS, what, &x, err) < 0)
        return -1;
    int rc = xfer_read_all(x, MANIFEST_MAX, body, len, err);
    if (rc == 0)
        *media_type = x->content_type ? wc_xstrdup(x->content_type) : wc_xstrdup("");
    xfer_free(x);
    return rc;
}

int img_session_manifest(img_session *s, const char *reference, char **body, size_t *len,
                         char **media_type, wc_err *err)
{
    *body = *media_type = NULL;
    if (s->cur > 0 || s->n_eps == 1)
        return manifest_from(s, &s->eps[s->cur], reference, body, len, media_type, err);
    for (size_t i = 0; i < s->n_eps; i++) {
        if (img_cancel_check(s->cancel, err) < 0)
            return -1;
        if (manifest_from(s, &s->eps[i], reference, body, len, media_type, err) == 0) {
            s->cur = i;
            return 0;
        }
        if (s->eps[i].is_mirror)
            wc_warn(COMP, "mirror failed, trying the next endpoint", "mirror=%s error=\"%s\"",
                    s->eps[i].base, err->msg);
        if (err->code == WC_CANCELLED || err->code == WC_DEADLINE_EXCEEDED)
            return -1;
    }
    return -1;
}

int img_session_blob(img_session *s, const char *digest, img_reader **out, wc_err *err)
{
    char suffix[300], what[400];
    snprintf(suffix, sizeof suffix, "blobs/%s", digest);
    snprintf(what, sizeof what, "blob %s of %s", digest, s->path);
    xfer *x;
    if (request(s, &s->eps[s->cur], suffix, NULL, what, &x, err) < 0)
        return -1;
    img_reader *rd = wc_xcalloc(1, sizeof *rd);
    rd->x = x;
    *out = rd;
    return 0;
}

ssize_t img_reader_read(img_reader *rd, const void **buf, wc_err *err)
{
    return xfer_read(rd->x, buf, err);
}

int64_t img_reader_length(const img_reader *rd)
{
    return rd->x->content_length;
}

void img_reader_close(img_reader *rd)
{
    if (!rd)
        return;
    xfer_free(rd->x);
    free(rd);
}
