/* Content store bookkeeping: where blobs and layers live, single flights so each blob is
 * fetched once however many pulls want it, leases that keep in-progress content from GC,
 * and the download slots that bound parallel transfers. */
#include "image/store_priv.h"

#include "common/clock.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct img_flight {
    char *key;
    img_flight *next;
};

struct img_lease {
    char *key;
    int count;
    img_lease *next;
};

static const char *hex_of(const char *digest)
{
    const char *colon = strchr(digest, ':');
    return colon ? colon + 1 : digest;
}

static char *join2(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = wc_xmalloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

char *img_blob_path(const img_store *s, const char *digest)
{
    return join2(s->blobs_dir, hex_of(digest));
}

char *img_layer_path(const img_store *s, const char *chain_id)
{
    return join2(s->layers_dir, hex_of(chain_id));
}

char *img_tmp_path(img_store *s, const char *prefix)
{
    pthread_mutex_lock(&s->lock);
    unsigned long n = ++s->seq;
    pthread_mutex_unlock(&s->lock);
    char name[96];
    snprintf(name, sizeof name, "%s-%lu-%lu", prefix, (unsigned long)time(NULL), n);
    return join2(s->tmp_dir, name);
}

/* Waits on the store's condition for up to 200 ms. Caller holds s->lock. */
static void wait_a_little(img_store *s)
{
    struct timespec ts = wc_clock_deadline_in(200);
    pthread_cond_timedwait(&s->cond, &s->lock, &ts);
}

static img_flight *flight_find(img_store *s, const char *key)
{
    for (img_flight *f = s->flights; f; f = f->next)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

int img_flight_begin(img_store *s, const char *key, const img_cancel *c, wc_err *err)
{
    pthread_mutex_lock(&s->lock);
    int waited = 0;
    while (flight_find(s, key)) {
        waited = 1;
        pthread_mutex_unlock(&s->lock);
        if (img_cancel_check(c, err) < 0)
            return -1;
        pthread_mutex_lock(&s->lock);
        if (flight_find(s, key))
            wait_a_little(s);
    }
    if (waited) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    img_flight *f = wc_xcalloc(1, sizeof *f);
    f->key = wc_xstrdup(key);
    f->next = s->flights;
    s->flights = f;
    pthread_mutex_unlock(&s->lock);
    return 1;
}

void img_flight_end(img_store *s, const char *key)
{
    pthread_mutex_lock(&s->lock);
    for (img_flight **pp = &s->flights; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            img_flight *f = *pp;
            *pp = f->next;
            free(f->key);
            free(f);
            break;
        }
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void img_lease_add(img_store *s, const char *key)
{
    pthread_mutex_lock(&s->lock);
    img_lease *l = s->leases;
    while (l && strcmp(l->key, key) != 0)
        l = l->next;
    if (!l) {
        l = wc_xcalloc(1, sizeof *l);
        l->key = wc_xstrdup(key);
        l->next = s->leases;
        s->leases = l;
    }
    l->count++;
    pthread_mutex_unlock(&s->lock);
}

void img_lease_drop(img_store *s, const char *key)
{
    pthread_mutex_lock(&s->lock);
    for (img_lease **pp = &s->leases; *pp; pp = &(*pp)->next) {
        img_lease *l = *pp;
        if (strcmp(l->key, key) != 0)
            continue;
        if (--l->count == 0) {
            *pp = l->next;
            free(l->key);
            free(l);
        }
        break;
    }
    pthread_mutex_unlock(&s->lock);
}

int img_leased_locked(img_store *s, const char *key)
{
    for (img_lease *l = s->leases; l; l = l->next)
        if (strcmp(l->key, key) == 0)
            return 1;
    return 0;
}

int img_slot_acquire(img_store *s, const img_cancel *c, wc_err *err)
{
    pthread_mutex_lock(&s->lock);
    while (s->slots_free <= 0) {
        pthread_mutex_unlock(&s->lock);
        if (img_cancel_check(c, err) < 0)
            return -1;
        pthread_mutex_lock(&s->lock);
        if (s->slots_free <= 0)
            wait_a_little(s);
    }
    s->slots_free--;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void img_slot_release(img_store *s)
{
    pthread_mutex_lock(&s->lock);
    s->slots_free++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}
