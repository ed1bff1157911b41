/* The fakes' shared state, injected failures and the call log (fake_backend.h). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "tests/unit/fake_int.h"

fake_state *fk;

/* Mapped before main(), so that every child a test forks shares it. */
__attribute__((constructor)) static void fake_map(void)
{
    void *p = mmap(NULL, sizeof *fk, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("fake backend: mmap");
        abort();
    }
    fk = p;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&fk->mu, &a);
    pthread_mutexattr_destroy(&a);
    fake_reset();
}

void fake_lock(void)
{
    pthread_mutex_lock(&fk->mu);
}

void fake_unlock(void)
{
    pthread_mutex_unlock(&fk->mu);
}

void fake_copy(char *dst, const char *src)
{
    snprintf(dst, FAKE_ID, "%s", src ? src : "");
}

void fake_reset(void)
{
    fake_lock();
    size_t keep = offsetof(fake_state, ctrs); /* the mutex */
    memset((char *)fk + keep, 0, sizeof *fk - keep);
    fk->next_pid = 1000;
    fk->next_ip = 2;
    fk->imgs[0].used = 1;
    fake_copy(fk->imgs[0].ref, FAKE_IMAGE_REF);
    fake_copy(fk->imgs[0].id, FAKE_IMAGE_ID);
    fake_unlock();
}

void fake_fail(const char *call, int nth, wc_code code)
{
    fake_lock();
    for (size_t i = 0; i < sizeof fk->faults / sizeof fk->faults[0]; i++) {
        fake_fault *f = &fk->faults[i];
        if (f->used)
            continue;
        f->used = 1;
        snprintf(f->call, sizeof f->call, "%s", call);
        f->nth = nth < 1 ? 1 : nth;
        f->code = code;
        break;
    }
    fake_unlock();
}

void fake_fail_always(const char *call, wc_code code)
{
    fake_fail(call, 1, code);
    fake_lock();
    for (size_t i = 0; i < sizeof fk->faults / sizeof fk->faults[0]; i++)
        if (fk->faults[i].used && strcmp(fk->faults[i].call, call) == 0)
            fk->faults[i].always = 1;
    fake_unlock();
}

void fake_fail_clear(void)
{
    fake_lock();
    memset(fk->faults, 0, sizeof fk->faults);
    fake_unlock();
}

void fake_delay(const char *call, int ms)
{
    fake_lock();
    for (size_t i = 0; i < sizeof fk->delays / sizeof fk->delays[0]; i++) {
        fake_delay_rule *d = &fk->delays[i];
        if (d->call[0] && strcmp(d->call, call) != 0)
            continue;
        snprintf(d->call, sizeof d->call, "%s", call);
        d->ms = ms;
        break;
    }
    fake_unlock();
}

int fake_enter(const char *call, const char *id, int arg, wc_err *err)
{
    int delay_ms = 0, fail = 0;
    wc_code code = WC_OK;
    fake_lock();
    if (fk->n_calls < FAKE_CALLS) {
        fake_call *c = &fk->calls[fk->n_calls++];
        snprintf(c->call, sizeof c->call, "%s", call);
        fake_copy(c->id, id);
        c->arg = arg;
    }
    for (size_t i = 0; i < sizeof fk->delays / sizeof fk->delays[0]; i++)
        if (strcmp(fk->delays[i].call, call) == 0)
            delay_ms = fk->delays[i].ms;
    for (size_t i = 0; !fail && i < sizeof fk->faults / sizeof fk->faults[0]; i++) {
        fake_fault *f = &fk->faults[i];
        if (!f->used || strcmp(f->call, call) != 0)
            continue;
        if (f->always || --f->nth == 0) {
            fail = 1;
            code = f->code;
            if (!f->always)
                f->used = 0;
        }
    }
    fake_unlock();
    if (delay_ms > 0) {
        struct timespec ts = {.tv_sec = delay_ms / 1000, .tv_nsec = (delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!fail)
        return 0;
    if (err)
        wc_err_set(err, code, "%s: injected failure", call);
    return -1;
}

/* A logged id matches when it contains the asked one: a netns name or a path names its pod. */
static int call_matches(const fake_call *c, const char *call, const char *id)
{
    return strcmp(c->call, call) == 0 && (!id || strstr(c->id, id));
}

int fake_calls(const char *call, const char *id)
{
    int n = 0;
    fake_lock();
    for (size_t i = 0; i < fk->n_calls; i++)
        n += call_matches(&fk->calls[i], call, id);
    fake_unlock();
    return n;
}

int fake_last_arg(const char *call, const char *id)
{
    int arg = -1;
    fake_lock();
    for (size_t i = 0; i < fk->n_calls; i++)
        if (call_matches(&fk->calls[i], call, id))
            arg = fk->calls[i].arg;
    fake_unlock();
    return arg;
}

int fake_call_index(const char *call, const char *id, int from)
{
    int at = -1;
    fake_lock();
    for (size_t i = from < 0 ? 0 : (size_t)from; at < 0 && i < fk->n_calls; i++)
        if (call_matches(&fk->calls[i], call, id))
            at = (int)i;
    fake_unlock();
    return at;
}

const char *fake_log_text(void)
{
    static char text[1 << 16];
    size_t n = 0;
    text[0] = '\0';
    fake_lock();
    for (size_t i = 0; i < fk->n_calls && n + 256 < sizeof text; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%zu %s %.24s %d\n", i, fk->calls[i].call,
                              fk->calls[i].id, fk->calls[i].arg);
    fake_unlock();
    return text;
}

void fake_log_clear(void)
{
    fake_lock();
    fk->n_calls = 0;
    fake_unlock();
}
