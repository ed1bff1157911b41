/* Deferred deletion of directory trees (trash.h). */
#include "common/trash.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"

struct wc_trash {
    wc_trash_remove_fn remove;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* with mu: queued work, or the queue ran dry */
    char **queue;        /* mu: paths inside some .trash/, oldest first */
    size_t n, cap;
    int busy;     /* mu: the thread is deleting one it took off the queue */
    int stopping; /* mu */
    int thread_started;
};

static int enqueue(wc_trash *t, char *path)
{
    pthread_mutex_lock(&t->mu);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **q = realloc(t->queue, cap * sizeof *q);
        if (!q) {
            pthread_mutex_unlock(&t->mu);
            return -1;
        }
        t->queue = q;
        t->cap = cap;
    }
    t->queue[t->n++] = path;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static void delete_one(wc_trash *t, char *path)
{
    wc_err err = {0};
    if (t->remove(path, &err) < 0)
        wc_warn("trash", "cannot delete a tree moved aside", "path=%s error=\"%s\"", path, err.msg);
    free(path);
}

static void *trash_main(void *arg)
{
    wc_trash *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->n && !t->stopping)
            pthread_cond_wait(&t->cond, &t->mu);
        if (t->stopping)
            break;
        char *path = t->queue[0];
        memmove(t->queue, t->queue + 1, --t->n * sizeof *t->queue);
        t->busy = 1;
        pthread_mutex_unlock(&t->mu);
        delete_one(t, path);
        pthread_mutex_lock(&t->mu);
        t->busy = 0;
        pthread_cond_broadcast(&t->cond);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* What a crash left in <parent>/.trash: queued before anything new. */
static void queue_leftovers(wc_trash *t, const char *parent)
{
    char *dir = wc_path_join(parent, WC_TRASH_DIR);
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *path = wc_path_join(dir, e->d_name);
        if (path && enqueue(t, path) < 0)
            free(path);
    }
    if (d)
        closedir(d);
    free(dir);
}

wc_trash *wc_trash_open(wc_trash_remove_fn remove, const char *const *parents, size_t n_parents)
{
    wc_trash *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->remove = remove;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cond, NULL);
    for (size_t i = 0; i < n_parents; i++)
        queue_leftovers(t, parents[i]);
    t->thread_started = pthread_create(&t->thread, NULL, trash_main, t) == 0;
    if (!t->thread_started) {
        wc_warn("trash", "no thread for deferred deletion: removals wait for their files",
                "leftovers=%zu", t->n);
        for (size_t i = 0; i < t->n; i++)
            delete_one(t, t->queue[i]);
        t->n = 0;
        wc_trash_close(t);
        return NULL;
    }
    return t;
}

/* The last component of path ('/' or, on Windows, '\\'). */
static const char *base_name(const char *path)
{
    const char *b = path;
    for (const char *p = path; *p; p++)
        if (*p == '/' || *p == '\\')
            b = p + 1;
    return b;
}

/* <parent>/.trash/<name>.<ns>: made unique so a leftover of an earlier run never collides. */
static char *aside_path(const char *path, wc_err *err)
{
    const char *base = base_name(path);
    size_t parent_len = (size_t)(base - path);
    char parent[4096];
    if (parent_len >= sizeof parent)
        return NULL;
    int keep = parent_len > 1 ? (int)parent_len - 1 : (int)parent_len; /* "/x": keep "/" */
    snprintf(parent, sizeof parent, "%.*s", keep, path);
    char *dir = wc_path_join(*parent ? parent : ".", WC_TRASH_DIR);
    char name[300];
    snprintf(name, sizeof name, "%.200s.%lld", base, (long long)wc_clock_realtime_ns());
    char *aside = dir && wc_mkdir_p(dir, 0700, err) == 0 ? wc_path_join(dir, name) : NULL;
    free(dir);
    return aside;
}

int wc_trash_put(wc_trash *t, wc_trash_remove_fn remove, const char *path, wc_err *err)
{
    wc_err aside_err = {0};
    char *aside = t ? aside_path(path, &aside_err) : NULL;
    int missing = 0;
    if (aside) {
        if (rename(path, aside) == 0) {
            if (enqueue(t, aside) == 0)
                return 0;
            int rc = remove(aside, err);
            free(aside);
            return rc;
        }
        missing = errno == ENOENT;
    }
    free(aside);
    return missing ? 0 : remove(path, err);
}

void wc_trash_settle(wc_trash *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    while (t->n || t->busy)
        pthread_cond_wait(&t->cond, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

void wc_trash_close(wc_trash *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    t->stopping = 1;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->mu);
    if (t->thread_started)
        pthread_join(t->thread, NULL);
    for (size_t i = 0; i < t->n; i++)
        free(t->queue[i]);
    free(t->queue);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
