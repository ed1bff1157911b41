#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xalloc.h"

#define MAX_LABELS 3

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind;

typedef struct series {
    struct series *next;
    char *key; /* label values joined by '\x1f', for look-up and ordering */
    char *values[MAX_LABELS];
    double value;      /* counter, gauge */
    uint64_t *buckets; /* histogram: per bucket (not cumulative), one per bound */
    double sum;
    uint64_t count;
} series;

typedef struct family {
    const char *name;
    const char *help;
    kind kind;
    const char *labels[MAX_LABELS];
    size_t n_labels;
    const double *bounds; /* histogram upper bounds, ascending; +Inf is implied */
    size_t n_bounds;
    series *head; /* sorted by key */
} family;

/* CRI calls: from well under a millisecond (List* on a quiet node) to the minutes a Windows
 * image pull or a Hyper-V pod start can take. */
static const double rpc_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                    1,      2.5,   5,      10,    30,   60,    120,  300, 600};
static const double pull_bounds[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800};

#define N(a) (sizeof a / sizeof a[0])

static family families[WC_M_COUNT] = {
    [WC_M_CRI_REQUESTS] = {"wincri_cri_requests_total",
                           "CRI calls handled, by service, method and gRPC status code.",
                           KIND_COUNTER,
                           {"service", "method", "code"},
                           3,
                           NULL,
                           0,
                           NULL},
    [WC_M_CRI_DURATION] = {"wincri_cri_request_duration_seconds",
                           "Time from a CRI call's arrival to its status being sent, by service, "
                           "method and gRPC status code.",
                           KIND_HISTOGRAM,
                           {"service", "method", "code"},
                           3,
                           rpc_bounds,
                           N(rpc_bounds),
                           NULL},
    [WC_M_PULLS] = {"wincri_image_pulls_total",
                    "Image pulls that ended, successful or not.",
                    KIND_COUNTER,
                    {NULL},
                    0,
                    NULL,
                    0,
                    NULL},
    [WC_M_PULL_FAILURES] = {"wincri_image_pull_failures_total",
                            "Image pulls that failed, by gRPC status code.",
                            KIND_COUNTER,
                            {"code"},
                            1,
                            NULL,
                            0,
                            NULL},
    [WC_M_PULL_BYTES] = {"wincri_image_pull_bytes_total",
                         "Blob bytes (layers and image configs) received from registries.",
                         KIND_COUNTER,
                         {NULL},
                         0,
                         NULL,
                         0,
                         NULL},
    [WC_M_PULL_DURATION] = {"wincri_image_pull_duration_seconds",
                            "Time an image pull took, by result (success or failure).",
                            KIND_HISTOGRAM,
                            {"result"},
                            1,
                            pull_bounds,
                            N(pull_bounds),
                            NULL},
    [WC_M_CONTAINERS] = {"wincri_containers",
                         "Containers wincri knows, by state (created, running, exited, unknown).",
                         KIND_GAUGE,
                         {"state"},
                         1,
                         NULL,
                         0,
                         NULL},
    [WC_M_PODS] = {"wincri_pod_sandboxes",
                   "Pod sandboxes wincri knows, by state (ready, notready).",
                   KIND_GAUGE,
                   {"state"},
                   1,
                   NULL,
                   0,
                   NULL},
    [WC_M_RECOVERED] = {"wincri_recovered_containers",
                        "Containers found again (running or created) when this wincrid started.",
                        KIND_GAUGE,
                        {NULL},
                        0,
                        NULL,
                        0,
                        NULL},
    [WC_M_KEEPER_UP] = {"wincri_keeper_up",
                        "1 when whatever holds containers' stdio and exit status is up.",
                        KIND_GAUGE,
                        {NULL},
                        0,
                        NULL,
                        0,
                        NULL},
    [WC_M_BUILD_INFO] = {"wincri_build_info",
                         "Always 1; the labels say which wincrid build answers.",
                         KIND_GAUGE,
                         {"version", "revision"},
                         2,
                         NULL,
                         0,
                         NULL},
    [WC_M_START_TIME] = {"wincri_start_time_seconds",
                         "When this wincrid started, in seconds since the Unix epoch.",
                         KIND_GAUGE,
                         {NULL},
                         0,
                         NULL,
                         0,
                         NULL},
    [WC_M_METRICS_REQUESTS] = {"wincri_metrics_http_requests_total",
                               "HTTP requests to the metrics endpoint, by HTTP status code.",
                               KIND_COUNTER,
                               {"code"},
                               1,
                               NULL,
                               0,
                               NULL},
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static wc_metrics_collect_fn collector;
static void *collector_ctx;

static char *join_key(const family *f, const char *const *labels)
{
    size_t len = 1;
    for (size_t i = 0; i < f->n_labels; i++)
        len += strlen(labels && labels[i] ? labels[i] : "") + 1;
    char *key = wc_xmalloc(len);
    size_t n = 0;
    for (size_t i = 0; i < f->n_labels; i++) {
        const char *v = labels && labels[i] ? labels[i] : "";
        size_t l = strlen(v);
        memcpy(key + n, v, l);
        n += l;
        key[n++] = '\x1f';
    }
    key[n] = '\0';
    return key;
}

static void series_free(series *s)
{
    for (size_t i = 0; i < MAX_LABELS; i++)
        free(s->values[i]);
    free(s->buckets);
    free(s->key);
    free(s);
}

/* The series of these label values, made when new. Caller holds mu. */
static series *find(family *f, const char *const *labels)
{
    char *key = join_key(f, labels);
    series **pp = &f->head;
    while (*pp) {
        int c = strcmp((*pp)->key, key);
        if (c == 0) {
            free(key);
            return *pp;
        }
        if (c > 0)
            break;
        pp = &(*pp)->next;
    }
    series *s = wc_xcalloc(1, sizeof *s);
    s->key = key;
    for (size_t i = 0; i < f->n_labels; i++)
        s->values[i] = wc_xstrdup(labels && labels[i] ? labels[i] : "");
    if (f->kind == KIND_HISTOGRAM)
        s->buckets = wc_xcalloc(f->n_bounds + 1, sizeof *s->buckets);
    s->next = *pp;
    *pp = s;
    return s;
}

void wc_metrics_add(wc_metric_id id, const char *const *labels, double v)
{
    if ((unsigned)id >= WC_M_COUNT || !(v >= 0))
        return;
    pthread_mutex_lock(&mu);
    find(&families[id], labels)->value += v;
    pthread_mutex_unlock(&mu);
}

void wc_metrics_set(wc_metric_id id, const char *const *labels, double v)
{
    if ((unsigned)id >= WC_M_COUNT)
        return;
    pthread_mutex_lock(&mu);
    find(&families[id], labels)->value = v;
    pthread_mutex_unlock(&mu);
}

void wc_metrics_observe(wc_metric_id id, const char *const *labels, double v)
{
    if ((unsigned)id >= WC_M_COUNT || families[id].kind != KIND_HISTOGRAM || isnan(v))
        return;
    family *f = &families[id];
    pthread_mutex_lock(&mu);
    series *s = find(f, labels);
    size_t b = 0;
    while (b < f->n_bounds && v > f->bounds[b])
        b++;
    s->buckets[b]++;
    s->sum += v;
    s->count++;
    pthread_mutex_unlock(&mu);
}

void wc_metrics_set_collector(wc_metrics_collect_fn fn, void *ctx)
{
    pthread_mutex_lock(&mu);
    collector = fn;
    collector_ctx = ctx;
    pthread_mutex_unlock(&mu);
}

void wc_metrics_reset(void)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < WC_M_COUNT; i++) {
        while (families[i].head) {
            series *s = families[i].head;
            families[i].head = s->next;
            series_free(s);
        }
    }
    pthread_mutex_unlock(&mu);
}

/* ---- rendering ---- */

typedef struct out {
    char *p;
    size_t len, cap;
    int failed; /* a value vsnprintf could not format */
} out;

static void put(out *o, const char *fmt, ...) WC_PRINTF(2, 3);

static void put(out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        o->p = wc_xrealloc(o->p, cap);
        o->cap = cap;
    }
}

/* A label value as the text format wants it: backslash, double quote and newline escaped. */
static void put_escaped(out *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            put(o, "\\\\");
        else if (*v == '"')
            put(o, "\\\"");
        else if (*v == '\n')
            put(o, "\\n");
        else
            put(o, "%c", *v);
    }
}

/* A sample value: integers exactly (counts, bytes), others with full precision. */
static void put_number(out *o, double v)
{
    if (isinf(v))
        put(o, v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        put(o, "NaN");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        put(o, "%.0f", v);
    else
        put(o, "%.17g", v);
}

/* {a="x",b="y"[,le="..."]}, or nothing when there are no labels at all. */
static void put_labels(out *o, const family *f, const series *s, const char *le)
{
    if (f->n_labels == 0 && !le)
        return;
    put(o, "{");
    for (size_t i = 0; i < f->n_labels; i++) {
        put(o, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_escaped(o, s->values[i]);
        put(o, "\"");
    }
    if (le)
        put(o, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    put(o, "}");
}

static void put_help(out *o, const char *help)
{
    for (; *help; help++) {
        if (*help == '\\')
            put(o, "\\\\");
        else if (*help == '\n')
            put(o, "\\n");
        else
            put(o, "%c", *help);
    }
}

static void render_family(out *o, const family *f)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    put(o, "# HELP %s ", f->name);
    put_help(o, f->help);
    put(o, "\n# TYPE %s %s\n", f->name, kinds[f->kind]);
    /* A family without labels always has its one series, so it shows 0 before anything
     * happened instead of being absent. */
    static const series zero = {0};
    const series *first = f->head ? f->head : (f->n_labels == 0 ? &zero : NULL);
    for (const series *s = first; s; s = s->next) {
        if (f->kind != KIND_HISTOGRAM) {
            put(o, "%s", f->name);
            put_labels(o, f, s, NULL);
            put(o, " ");
            put_number(o, s->value);
            put(o, "\n");
            continue;
        }
        uint64_t cum = 0;
        for (size_t b = 0; b <= f->n_bounds; b++) {
            char le[40];
            if (b == f->n_bounds)
                snprintf(le, sizeof le, "+Inf");
            else
                snprintf(le, sizeof le, "%g", f->bounds[b]);
            cum += s->buckets ? s->buckets[b] : 0;
            put(o, "%s_bucket", f->name);
            put_labels(o, f, s, le);
            put(o, " %llu\n", (unsigned long long)cum);
        }
        put(o, "%s_sum", f->name);
        put_labels(o, f, s, NULL);
        put(o, " ");
        put_number(o, s->sum);
        put(o, "\n%s_count", f->name);
        put_labels(o, f, s, NULL);
        put(o, " %llu\n", (unsigned long long)s->count);
    }
}

char *wc_metrics_render(size_t *len)
{
    pthread_mutex_lock(&mu);
    wc_metrics_collect_fn fn = collector;
    void *ctx = collector_ctx;
    pthread_mutex_unlock(&mu);
    if (fn)
        fn(ctx);
    out o = {.cap = 8192};
    o.p = wc_xmalloc(o.cap);
    o.p[0] = '\0';
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < WC_M_COUNT; i++)
        render_family(&o, &families[i]);
    pthread_mutex_unlock(&mu);
    if (o.failed) {
        free(o.p);
        return NULL;
    }
    if (len)
        *len = o.len;
    return o.p;
}
