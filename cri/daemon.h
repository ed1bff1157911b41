/* The daemon as one object: config, stores, backends. Handlers reach it through
 * cri_call_daemon(). */
#ifndef WINCRI_CRI_DAEMON_H
#define WINCRI_CRI_DAEMON_H

#include <pthread.h>

#include "common/config.h"
#include "common/err.h"

typedef struct img_store img_store;         /* image/image.h */
typedef struct pod_manager pod_manager;     /* podsandbox/podsandbox.h */
typedef struct cri_streaming cri_streaming; /* cri/streaming.h */

struct wincri {
    wc_config *cfg;
    img_store *images;
    pod_manager *pods;
    cri_streaming *streaming; /* Exec, Attach, PortForward URLs (cri/stream_backend.c) */
    pthread_mutex_t lock;     /* guards pod_cidr */
    char *pod_cidr;           /* from UpdateRuntimeConfig; handed to CNI */
};

typedef struct wincri wincri;

typedef struct wc_daemon_opts {
    const char *config_path; /* NULL: embedded defaults */
    const char *listen;      /* overrides the config's endpoint when set */
    const char *log_level;   /* overrides the config's level when set */
    int console;             /* Windows: run in the foreground, never as a service */
    /* Optional observers (the Windows service reports them to the service control manager
     * and the event log), called on wc_daemon_run's thread: on_serving once the endpoint
     * answers; on_failed when the daemon cannot start, with the exit code it returns (2: the
     * config or --log-level was refused; 1: anything else) and what went wrong. */
    void (*on_serving)(void *ctx, const wc_config *cfg, const char *endpoint);
    void (*on_failed)(void *ctx, int exit_code, const char *msg);
    void *observer_ctx;
} wc_daemon_opts;

/* Runs until wc_daemon_request_stop(); returns the process exit code. */
int wc_daemon_run(const wc_daemon_opts *opts);
/* Async-signal-safe: asks the running daemon to shut down gracefully. */
void wc_daemon_request_stop(void);

/* Pod CIDR as last set by UpdateRuntimeConfig (caller frees; NULL if none). */
char *wincri_pod_cidr(wincri *d);
int wincri_set_pod_cidr(wincri *d, const char *cidr, wc_err *err);

/* The streaming server's backend over d's pod manager (cri/stream_backend.c). */
struct cri_stream_backend;
void wincri_stream_backend(wincri *d, struct cri_stream_backend *b);

#endif
