#include "common/workers.h"
#include "common/xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define IDLE_RETIRE_SECONDS 30
#define KEEP_IDLE 4

typedef struct job {
    struct job *next;
    wc_job_fn fn;
    void *arg;
} job;

struct wc_workers {
    pthread_mutex_t mu;
    pthread_cond_t work;
    pthread_cond_t done;
    job *head, *tail;
    int threads;
    int idle;
    int max_threads;
    int stopping;
};

static job *take(wc_workers *w)
{
    job *j = w->head;
    w->head = j->next;
    if (!w->head)
        w->tail = NULL;
    return j;
}

/* Returns 1 when this idle thread should retire. */
static int wait_for_work(wc_workers *w)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += IDLE_RETIRE_SECONDS;
    w->idle++;
    int rc = 0;
    while (!w->head && !w->stopping && rc == 0)
        rc = pthread_cond_timedwait(&w->work, &w->mu, &until);
    w->idle--;
    return !w->head && (w->stopping || w->threads > KEEP_IDLE);
}

static void *worker_main(void *arg)
{
    wc_workers *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (!w->head && wait_for_work(w))
            break;
        if (!w->head)
            continue;
        job *j = take(w);
        pthread_mutex_unlock(&w->mu);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&w->mu);
    }
    if (--w->threads == 0)
        pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

wc_workers *wc_workers_new(int max_threads)
{
    wc_workers *w = wc_xcalloc(1, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->done, NULL);
    w->max_threads = max_threads;
    return w;
}

void wc_workers_submit(wc_workers *w, wc_job_fn fn, void *arg)
{
    job *j = wc_xmalloc(sizeof *j);
    j->next = NULL;
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    if (w->idle > 0) {
        pthread_cond_signal(&w->work);
    } else if (w->threads < w->max_threads) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, worker_main, w) == 0)
            w->threads++;
        pthread_attr_destroy(&attr);
    }
    pthread_mutex_unlock(&w->mu);
}

void wc_workers_free(wc_workers *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->work);
    while (w->threads > 0)
        pthread_cond_wait(&w->done, &w->mu);
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->done);
    free(w);
}
