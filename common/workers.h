/* A thread pool that grows on demand: a job never waits for a busy thread while the pool is
 * below its cap, so one slow RPC cannot hold up the others. Idle threads retire after a while. */
#ifndef WINCRI_COMMON_WORKERS_H
#define WINCRI_COMMON_WORKERS_H

typedef struct wc_workers wc_workers;
typedef void (*wc_job_fn)(void *arg);

wc_workers *wc_workers_new(int max_threads);
void wc_workers_submit(wc_workers *w, wc_job_fn fn, void *arg);
/* Waits for queued and running jobs to finish, then frees the pool. */
void wc_workers_free(wc_workers *w);

#endif
