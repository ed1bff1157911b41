/* Container lifecycle events for GetContainerEvents: each subscriber has its own bounded
 * queue, so a slow reader never holds up the pods. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "podsandbox/model.h"

#define QUEUE_MAX 4096

struct pod_event_sub {
    struct pod_event_sub *next;
    pthread_mutex_t *mu; /* the manager's events_mu */
    pthread_cond_t ready;
    pod_event q[QUEUE_MAX];
    size_t head, len;
    size_t dropped;
};

pod_event_sub *pod_events_subscribe(pod_manager *pm)
{
    pod_event_sub *sub = wc_xcalloc(1, sizeof *sub);
    pthread_cond_init(&sub->ready, NULL);
    sub->mu = &pm->events_mu;
    pthread_mutex_lock(&pm->events_mu);
    sub->next = pm->subs;
    pm->subs = sub;
    pthread_mutex_unlock(&pm->events_mu);
    return sub;
}

void pod_events_unsubscribe(pod_manager *pm, pod_event_sub *sub)
{
    pthread_mutex_lock(&pm->events_mu);
    for (pod_event_sub **l = &pm->subs; *l; l = &(*l)->next) {
        if (*l == sub) {
            *l = sub->next;
            break;
        }
    }
    pthread_mutex_unlock(&pm->events_mu);
    pthread_cond_destroy(&sub->ready);
    free(sub);
}

void pod_events_emit(pod_manager *pm, const char *container_id, const char *sandbox_id,
                     pod_event_type type)
{
    pod_event e = {.type = type, .at_ns = wc_clock_realtime_ns()};
    snprintf(e.container_id, sizeof e.container_id, "%s", container_id);
    snprintf(e.sandbox_id, sizeof e.sandbox_id, "%s", sandbox_id);
    pthread_mutex_lock(&pm->events_mu);
    for (pod_event_sub *s = pm->subs; s; s = s->next) {
        if (s->len == QUEUE_MAX) { /* full: the oldest event goes */
            s->head = (s->head + 1) % QUEUE_MAX;
            s->len--;
            if (s->dropped++ == 0)
                wc_warn("pod", "an event subscriber is not keeping up; dropping events", NULL);
        }
        s->q[(s->head + s->len++) % QUEUE_MAX] = e;
        pthread_cond_signal(&s->ready);
    }
    pthread_mutex_unlock(&pm->events_mu);
}

int pod_events_next(pod_event_sub *sub, pod_event *out, int timeout_ms)
{
    struct timespec until = wc_clock_deadline_in(timeout_ms);
    pthread_mutex_lock(sub->mu);
    int rc = 0;
    while (sub->len == 0 && rc == 0)
        rc = pthread_cond_timedwait(&sub->ready, sub->mu, &until);
    int got = sub->len > 0;
    if (got) {
        *out = sub->q[sub->head];
        sub->head = (sub->head + 1) % QUEUE_MAX;
        sub->len--;
    }
    pthread_mutex_unlock(sub->mu);
    return got;
}

void pod_events_close(pod_manager *pm)
{
    pthread_mutex_lock(&pm->events_mu);
    for (pod_event_sub *s = pm->subs; s; s = s->next)
        pthread_cond_broadcast(&s->ready);
    pthread_mutex_unlock(&pm->events_mu);
}
