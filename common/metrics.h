/* wincrid's Prometheus metrics: one process-wide set of counters, gauges and histograms with
 * fixed names and label names, rendered in the text exposition format (version 0.0.4). Every
 * family is declared in common/metrics.c, so the whole catalogue is in one place; modules only
 * add, set or observe by id. Thread-safe; cheap enough to call on every RPC and every chunk of
 * a blob. The daemon serves the rendering over HTTP (cri/metrics_http.c). */
#ifndef WINCRI_COMMON_METRICS_H
#define WINCRI_COMMON_METRICS_H

#include <stddef.h>

typedef enum {
    WC_M_CRI_REQUESTS,     /* counter   {service, method, code} */
    WC_M_CRI_DURATION,     /* histogram {service, method, code}, seconds */
    WC_M_PULLS,            /* counter   {} every pull that ended */
    WC_M_PULL_FAILURES,    /* counter   {code} */
    WC_M_PULL_BYTES,       /* counter   {} blob bytes received from registries */
    WC_M_PULL_DURATION,    /* histogram {result} seconds, result "success" or "failure" */
    WC_M_CONTAINERS,       /* gauge     {state} */
    WC_M_PODS,             /* gauge     {state} */
    WC_M_RECOVERED,        /* gauge     {} containers found again at start */
    WC_M_KEEPER_UP,        /* gauge     {} */
    WC_M_BUILD_INFO,       /* gauge     {version, revision} always 1 */
    WC_M_START_TIME,       /* gauge     {} seconds since the Unix epoch */
    WC_M_METRICS_REQUESTS, /* counter   {code} HTTP requests to the metrics endpoint */
    WC_M_COUNT
} wc_metric_id;

/* labels: one value per label name of the family, in declaration order (NULL for none).
 * Counters only go up: a negative v is ignored. */
void wc_metrics_add(wc_metric_id id, const char *const *labels, double v);
void wc_metrics_set(wc_metric_id id, const char *const *labels, double v);
void wc_metrics_observe(wc_metric_id id, const char *const *labels, double v);

/* Called at the start of every rendering, outside the metrics lock, so that gauges computed
 * on demand (pods by state, ...) are fresh; it calls wc_metrics_set. NULL: none. */
typedef void (*wc_metrics_collect_fn)(void *ctx);
void wc_metrics_set_collector(wc_metrics_collect_fn fn, void *ctx);

/* The text exposition of every family (caller frees). */
char *wc_metrics_render(size_t *len);
/* Forgets every series (the families stay). */
void wc_metrics_reset(void);

/* Content-Type of wc_metrics_render's output. */
#define WC_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
