/* wincrid's Prometheus metrics as the daemon sees them: what each CRI call reports, the
 * gauges computed at scrape time (pods and containers by state, the keeper's health), and
 * the endpoint's life (config `metrics.address`; off when empty). The catalogue of names is
 * common/metrics.c; the HTTP server is cri/prom_http.c. */
#ifndef WINCRI_CRI_PROMETHEUS_H
#define WINCRI_CRI_PROMETHEUS_H

#include "common/err.h"

typedef struct wincri wincri;
typedef struct cri_prom cri_prom;

/* One finished CRI call: its full method path ("/runtime.v1.RuntimeService/Version"), whether
 * the path is one wincri serves (others are counted as service="unknown", method="unknown", so
 * a client cannot grow the label set), its status and how long it took. */
void cri_prom_rpc(const char *method_path, int known, wc_code code, double seconds);

/* After the pod manager is open (its recovery done): records the build, the start time and the
 * containers found again, installs the scrape-time collector over d, and starts the endpoint
 * when d's config has a metrics address. A listener that cannot start is logged and left out:
 * the CRI endpoint matters more than the metrics one. *out is NULL when the endpoint is off. */
void cri_prom_start(wincri *d, cri_prom **out);
/* Stops the endpoint and uninstalls the collector; before the pod manager closes. */
void cri_prom_stop(cri_prom *p);

/* The health of the node-level keeper that holds containers' stdio and exit status, for
 * wincri_keeper_up: the keeper's owner installs a probe returning 1 (up) or 0 (down). With no
 * probe installed, containers' stdio is held by wincrid itself, so the gauge reads 1 whenever
 * wincrid is there to answer the scrape. */
typedef int (*cri_prom_keeper_probe)(void *ctx);
void cri_prom_set_keeper_probe(cri_prom_keeper_probe probe, void *ctx);

#endif
