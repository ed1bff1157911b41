#include "cri/prometheus.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "cri/daemon.h"
#include "cri/prom_http.h"
#include "podsandbox/podsandbox.h"

struct cri_prom {
    cri_prom_http *http;
};

static pthread_mutex_t keeper_mu = PTHREAD_MUTEX_INITIALIZER;
static cri_prom_keeper_probe keeper_probe;
static void *keeper_ctx;

/* The services wincri serves; anything else is "unknown". */
static const char *const services[] = {"runtime.v1.RuntimeService", "runtime.v1.ImageService"};

void cri_prom_rpc(const char *method_path, int known, wc_code code, double seconds)
{
    const char *service = "unknown", *method = "unknown";
    char buf[128];
    const char *slash = method_path && method_path[0] == '/' ? strchr(method_path + 1, '/') : NULL;
    if (known && slash && (size_t)(slash - method_path - 1) < sizeof buf) {
        size_t n = (size_t)(slash - method_path - 1);
        memcpy(buf, method_path + 1, n);
        buf[n] = '\0';
        for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
            if (strcmp(buf, services[i]) == 0) {
                service = services[i];
                method = slash + 1;
            }
        }
    }
    const char *labels[] = {service, method, wc_code_name(code)};
    wc_metrics_add(WC_M_CRI_REQUESTS, labels, 1);
    wc_metrics_observe(WC_M_CRI_DURATION, labels, seconds);
}

void cri_prom_set_keeper_probe(cri_prom_keeper_probe probe, void *ctx)
{
    pthread_mutex_lock(&keeper_mu);
    keeper_probe = probe;
    keeper_ctx = ctx;
    pthread_mutex_unlock(&keeper_mu);
}

static int keeper_up(void)
{
    pthread_mutex_lock(&keeper_mu);
    cri_prom_keeper_probe probe = keeper_probe;
    void *ctx = keeper_ctx;
    pthread_mutex_unlock(&keeper_mu);
    return probe ? probe(ctx) != 0 : 1;
}

/* ---- pods and containers by state, counted in place ---- */

static const char *const container_states[] = {"created", "running", "exited", "unknown"};
static const char *const sandbox_states[] = {"ready", "notready"};

typedef struct counts {
    double containers[4];
    double sandboxes[2];
    double found; /* running or created */
} counts;

static void count_container(void *ctx, const pod_container_info *view)
{
    counts *c = ctx;
    unsigned s = (unsigned)view->state;
    c->containers[s < 4 ? s : 3]++;
    c->found += view->state == POD_CONTAINER_RUNNING || view->state == POD_CONTAINER_CREATED;
}

static void count_sandbox(void *ctx, const pod_sandbox_info *view)
{
    counts *c = ctx;
    c->sandboxes[view->state == POD_SANDBOX_READY ? 0 : 1]++;
}

static counts count_all(wincri *d)
{
    counts c;
    memset(&c, 0, sizeof c);
    if (d && d->pods) {
        pod_container_foreach(d->pods, count_container, &c);
        pod_sandbox_foreach(d->pods, count_sandbox, &c);
    }
    return c;
}

static void collect(void *ctx)
{
    counts c = count_all(ctx);
    for (size_t i = 0; i < 4; i++) {
        const char *labels[] = {container_states[i]};
        wc_metrics_set(WC_M_CONTAINERS, labels, c.containers[i]);
    }
    for (size_t i = 0; i < 2; i++) {
        const char *labels[] = {sandbox_states[i]};
        wc_metrics_set(WC_M_PODS, labels, c.sandboxes[i]);
    }
    wc_metrics_set(WC_M_KEEPER_UP, NULL, keeper_up());
}

void cri_prom_start(wincri *d, cri_prom **out)
{
    *out = NULL;
    const char *build[] = {WINCRI_VERSION, WINCRI_GIT_REV};
    wc_metrics_set(WC_M_BUILD_INFO, build, 1);
    wc_metrics_set(WC_M_START_TIME, NULL, (double)wc_clock_realtime_ns() / 1e9);
    /* Right after the pod manager's recovery, what is running or created was found again. */
    wc_metrics_set(WC_M_RECOVERED, NULL, count_all(d).found);
    wc_metrics_set_collector(collect, d);
    const wc_config *cfg = d->cfg;
    if (!cfg->metrics_address || !*cfg->metrics_address)
        return;
    cri_prom *p = wc_xcalloc(1, sizeof *p);
    wc_err err = {0};
    int port = 0;
    if (cri_prom_http_start(cfg->metrics_host, cfg->metrics_port, &p->http, &port, &err) < 0) {
        wc_warn("metrics", "the Prometheus endpoint is not available; wincrid runs without it",
                "address=%s error=\"%s\"", cfg->metrics_address, err.msg);
        free(p);
        return;
    }
    wc_info("metrics", "serving Prometheus metrics", "url=http://%s%s%s:%d/metrics",
            strchr(cfg->metrics_host, ':') ? "[" : "", cfg->metrics_host,
            strchr(cfg->metrics_host, ':') ? "]" : "", port);
    *out = p;
}

void cri_prom_stop(cri_prom *p)
{
    if (p)
        cri_prom_http_stop(p->http);
    free(p);
    wc_metrics_set_collector(NULL, NULL);
}
