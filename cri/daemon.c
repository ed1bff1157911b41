#include "cri/daemon.h"

#include <grpc/grpc.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/crash.h"
#include "common/fs.h"
#include "common/log.h"
#include "cri/front.h"
#include "cri/podconfig_pb.h"
#include "cri/prometheus.h"
#include "cri/server.h"
#include "cri/streaming.h"
#include "hns/hns.h"
#include "image/image.h"
#include "podsandbox/podsandbox.h"

static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cv = PTHREAD_COND_INITIALIZER;
static int stop_requested;

void wc_daemon_request_stop(void)
{
    pthread_mutex_lock(&stop_mu);
    stop_requested = 1;
    pthread_cond_broadcast(&stop_cv);
    pthread_mutex_unlock(&stop_mu);
}

static void wait_for_stop(void)
{
    pthread_mutex_lock(&stop_mu);
    while (!stop_requested)
        pthread_cond_wait(&stop_cv, &stop_mu);
    pthread_mutex_unlock(&stop_mu);
}

/* ---- runtime config that survives restarts (pod CIDR) ---- */

static char *runtime_config_path(const wincri *d)
{
    return wc_path_join(d->cfg->root_dir, "runtime-config.json");
}

static void load_pod_cidr(wincri *d)
{
    char *path = runtime_config_path(d);
    json_t *doc = json_load_file(path, 0, NULL);
    const char *cidr = json_string_value(json_object_get(doc, "pod_cidr"));
    if (cidr && *cidr)
        d->pod_cidr = strdup(cidr);
    json_decref(doc);
    free(path);
}

char *wincri_pod_cidr(wincri *d)
{
    pthread_mutex_lock(&d->lock);
    char *out = d->pod_cidr ? strdup(d->pod_cidr) : NULL;
    pthread_mutex_unlock(&d->lock);
    return out;
}

int wincri_set_pod_cidr(wincri *d, const char *cidr, wc_err *err)
{
    if (hns_pod_cidr_validate(cidr, err) < 0)
        return -1;
    json_t *doc = json_pack("{s:s}", "pod_cidr", cidr);
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    char *path = runtime_config_path(d);
    pthread_mutex_lock(&d->lock);
    int rc = wc_write_file_atomic(path, text, strlen(text), 0600, err);
    if (rc == 0) {
        free(d->pod_cidr);
        d->pod_cidr = *cidr ? strdup(cidr) : NULL;
    }
    pthread_mutex_unlock(&d->lock);
    free(path);
    free(text);
    return rc;
}

/* ---- startup and shutdown ---- */

typedef struct running {
    wincri d;
    wc_lock *lock;
    cri_front *front;
    cri_server *server;
    cri_prom *metrics; /* NULL when metrics.address is empty */
} running;

/* Root only: the root keeps every container's config (environment, secrets included). The
 * state dir may be traversed (0711) because the default socket lives there, 0660 for root's
 * group; nothing in it can be listed or read by others. */
static int prepare_dirs(const wc_config *cfg, wc_err *err)
{
    if (wc_mkdir_mode(cfg->root_dir, 0700, err) < 0 || wc_mkdir_mode(cfg->state_dir, 0711, err) < 0)
        return -1;
    return 0;
}

/* Records where gRPC core listens, for operators and for the test that checks direct
 * connections are refused. */
static void publish_internal_endpoint(const wc_config *cfg, int port)
{
    char text[64];
    int n = snprintf(text, sizeof text, "127.0.0.1:%d\n", port);
    char *path = wc_path_join(cfg->state_dir, "grpc-internal-endpoint");
    wc_err err = {0};
    if (wc_write_file_atomic(path, text, (size_t)n, 0600, &err) < 0)
        wc_warn("daemon", "cannot record the internal endpoint", "error=\"%s\"", err.msg);
    free(path);
}

static int stdio_holder_up(void *pods)
{
    return pod_manager_stdio_up(pods);
}

static int start(running *r, const wc_daemon_opts *opts, wc_err *err)
{
    if (prepare_dirs(r->d.cfg, err) < 0)
        return -1;
    char *lock_path = wc_path_join(r->d.cfg->root_dir, "wincrid.lock");
    int rc = wc_lock_acquire(lock_path, &r->lock, err);
    free(lock_path);
    if (rc < 0)
        return -1;
    load_pod_cidr(&r->d);
    if (img_store_open(r->d.cfg, &r->d.images, err) < 0) /* IMAGE-STORE open */
        return -1;
    if (pod_manager_open(r->d.cfg, r->d.images, &cri_legacy_decoder, &r->d.pods, err) < 0)
        return -1;
    if (r->d.pod_cidr)
        pod_manager_set_pod_cidr(r->d.pods, r->d.pod_cidr);
    cri_prom_start(&r->d, &r->metrics);
    cri_prom_set_keeper_probe(stdio_holder_up, r->d.pods);
    cri_stream_backend sb;
    wincri_stream_backend(&r->d, &sb);
    if (cri_streaming_start(r->d.cfg, &sb, &r->d.streaming, err) < 0) {
        /* A platform without the streaming layer still serves everything else; a bad
         * streaming config (address, TLS files) is the operator's to fix, so it stops us. */
        if (err->code != WC_UNIMPLEMENTED)
            return -1;
        wc_warn("daemon", "Exec, Attach and PortForward are unavailable", "reason=\"%s\"",
                err->msg);
        wc_err_clear(err);
        r->d.streaming = NULL;
    }
    const char *listen = opts->listen ? opts->listen : r->d.cfg->listen;
    if (cri_front_new(listen, &r->front, err) < 0)
        return -1;
    cri_server_opts so = {.internal_endpoint = "127.0.0.1:0",
                          .peer_allowed = cri_front_peer_allowed,
                          .peer_ctx = r->front,
                          .daemon = &r->d};
    if (cri_server_start(&so, &r->server, err) < 0)
        return -1;
    publish_internal_endpoint(r->d.cfg, cri_server_port(r->server));
    cri_front_handover(r->front, cri_server_adopt_connection, r->server);
    if (cri_front_start(r->front, cri_server_port(r->server), err) < 0)
        return -1;
    wc_info("daemon", "wincrid is serving CRI runtime.v1",
            "listen=%s version=%s root=%s streaming=%s", listen, WINCRI_VERSION, r->d.cfg->root_dir,
            cri_streaming_base_url(r->d.streaming));
    return 0;
}

static void stop(running *r)
{
    if (r->front)
        cri_front_stop_accepting(r->front);
    if (r->server)
        cri_server_shutdown(r->server, r->d.cfg->shutdown_grace_seconds * 1000);
    cri_front_free(r->front);
    cri_prom_set_keeper_probe(NULL, NULL);
    cri_prom_stop(r->metrics); /* its collector reads the pod manager */
    /* Sessions hold containers and processes of the pod manager: end them first. */
    if (r->d.streaming)
        cri_streaming_stop(r->d.streaming);
    r->d.streaming = NULL;
    pod_manager_close(r->d.pods);
    img_store_close(r->d.images); /* IMAGE-STORE close */
    free(r->d.pod_cidr);
    wc_lock_release(r->lock);
}

int wc_daemon_run(const wc_daemon_opts *opts)
{
    running r;
    memset(&r, 0, sizeof r);
    wc_err err = {0};
    if (wc_config_load(opts->config_path, &r.d.cfg, &err) < 0) {
        fprintf(stderr, "wincrid: bad config: %s\n", err.msg);
        if (opts->on_failed)
            opts->on_failed(opts->observer_ctx, 2, err.msg);
        return 2;
    }
    wc_log_level level = r.d.cfg->log_level;
    if (opts->log_level && wc_log_parse_level(opts->log_level, &level) < 0) {
        fprintf(stderr, "wincrid: --log-level %s: expected debug, info, warn or error\n",
                opts->log_level);
        if (opts->on_failed)
            opts->on_failed(opts->observer_ctx, 2,
                            "--log-level: expected debug, info, warn or error");
        wc_config_free(r.d.cfg);
        return 2;
    }
    wc_log_set_level(level);
    wc_crash_init();
    pthread_mutex_init(&r.d.lock, NULL);
    grpc_init();
    int code = 0;
    if (start(&r, opts, &err) < 0) {
        wc_error("daemon", "cannot start", "error=\"%s\"", err.msg);
        fprintf(stderr, "wincrid: %s\n", err.msg);
        if (opts->on_failed)
            opts->on_failed(opts->observer_ctx, 1, err.msg);
        code = 1;
    } else {
        if (opts->on_serving)
            opts->on_serving(opts->observer_ctx, r.d.cfg,
                             opts->listen ? opts->listen : r.d.cfg->listen);
        WC_CRASH_POINT("daemon.serving");
        wait_for_stop();
        wc_info("daemon", "stopping: no new calls; waiting for calls in flight", "grace_s=%d",
                r.d.cfg->shutdown_grace_seconds);
    }
    stop(&r);
    grpc_shutdown();
    pthread_mutex_destroy(&r.d.lock);
    wc_config_free(r.d.cfg);
    if (code == 0)
        wc_info("daemon", "stopped", NULL);
    return code;
}
