#include "common/config.h"
#include "common/jsonpos.h"
#include "common/net.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 8

/* Maps whose keys the operator chooses; each entry is checked against its own template. */
typedef struct {
    const char *key; /* top-level key */
    const char *entry_template;
} free_map;

static const free_map free_maps[] = {
    {"runtime_handlers", "{\"runtime\": \"\", \"isolation\": \"\"}"},
    {"registries", "{\"mirrors\": [], \"plain_http\": false, \"skip_verify\": false, "
                   "\"ca_file\": \"\", \"username\": \"\", \"password\": \"\", \"auth\": \"\", "
                   "\"identity_token\": \"\"}"},
};

typedef struct {
    const char *source;
    const char *text;
    const char *path[MAX_DEPTH];
    size_t depth;
    wc_err *err;
} walk;

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static void join_path(const walk *w, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < w->depth && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "." : "", w->path[i]);
}

/* Reports an error at the current path, with the position of the key or value. */
static int walk_fail(walk *w, int at_key, const char *what)
{
    int line = 0, col = 0;
    char path[256];
    join_path(w, path, sizeof path);
    if (wc_json_locate(w->text, w->path, w->depth, at_key, &line, &col) == 0)
        return wc_err_set(w->err, WC_INVALID_ARGUMENT, "%s:%d:%d: \"%s\": %s", w->source, line, col,
                          path, what);
    return wc_err_set(w->err, WC_INVALID_ARGUMENT, "%s: \"%s\": %s", w->source, path, what);
}

static int same_kind(const json_t *want, const json_t *got)
{
    if (json_is_boolean(want))
        return json_is_boolean(got);
    if (json_is_real(want))
        return json_is_number(got);
    return json_typeof(want) == json_typeof(got);
}

static int check_against(walk *w, const json_t *tmpl, const json_t *user);

static const free_map *find_free_map(const walk *w)
{
    if (w->depth != 1)
        return NULL;
    for (size_t i = 0; i < sizeof free_maps / sizeof free_maps[0]; i++)
        if (strcmp(free_maps[i].key, w->path[0]) == 0)
            return &free_maps[i];
    return NULL;
}

static int check_free_map(walk *w, const free_map *fm, const json_t *user)
{
    json_t *entry_tmpl = json_loads(fm->entry_template, 0, NULL);
    const char *key;
    json_t *val;
    int rc = 0;
    json_object_foreach((json_t *)user, key, val)
    {
        w->path[w->depth++] = key;
        if (!json_is_object(val)) {
            char what[96];
            snprintf(what, sizeof what, "expected an object, got %s", type_name(val));
            rc = walk_fail(w, 0, what);
        } else {
            rc = check_against(w, entry_tmpl, val);
        }
        w->depth--;
        if (rc < 0)
            break;
    }
    json_decref(entry_tmpl);
    return rc;
}

/* Delay map for tests: method path -> non-negative integer milliseconds. */
static int check_delay_map(walk *w, const json_t *user)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)user, key, val)
    {
        if (!json_is_integer(val) || json_integer_value(val) < 0) {
            w->path[w->depth++] = key;
            int rc = walk_fail(w, 0, "expected a non-negative integer (milliseconds)");
            w->depth--;
            return rc;
        }
    }
    return 0;
}

static int check_against(walk *w, const json_t *tmpl, const json_t *user)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)user, key, val)
    {
        if (w->depth >= MAX_DEPTH)
            return walk_fail(w, 0, "nested too deeply");
        w->path[w->depth++] = key;
        json_t *want = json_object_get(tmpl, key);
        int rc = 0;
        if (!want) {
            rc = walk_fail(w, 1, "unknown key");
        } else if (!same_kind(want, val)) {
            char what[96];
            snprintf(what, sizeof what, "expected %s, got %s", type_name(want), type_name(val));
            rc = walk_fail(w, 0, what);
        } else if (json_is_object(want)) {
            const free_map *fm = find_free_map(w);
            if (fm)
                rc = check_free_map(w, fm, val);
            else if (w->depth == 2 && strcmp(w->path[0], "fault_injection") == 0)
                rc = check_delay_map(w, val);
            else
                rc = check_against(w, want, val);
        } else if (json_is_array(want)) {
            size_t i;
            json_t *item;
            json_array_foreach(val, i, item)
            {
                if (!json_is_string(item))
                    rc = walk_fail(w, 0, "expected an array of strings");
            }
        }
        w->depth--;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Lays user values over the defaults; operator-keyed maps are replaced whole. */
static void merge(json_t *dst, json_t *src, int depth)
{
    const char *key;
    json_t *val;
    json_object_foreach(src, key, val)
    {
        json_t *cur = json_object_get(dst, key);
        int replace_whole =
            depth == 0 && (strcmp(key, "runtime_handlers") == 0 || strcmp(key, "registries") == 0);
        if (cur && json_is_object(cur) && json_is_object(val) && !replace_whole)
            merge(cur, val, depth + 1);
        else
            json_object_set(dst, key, val);
    }
}

static int fill_handlers(wc_config *cfg, const char *source, wc_err *err)
{
    json_t *hs = json_object_get(cfg->doc, "runtime_handlers");
    cfg->n_handlers = json_object_size(hs);
    cfg->handlers = wc_xcalloc(cfg->n_handlers ? cfg->n_handlers : 1, sizeof *cfg->handlers);
    size_t i = 0;
    const char *name;
    json_t *h;
    json_object_foreach(hs, name, h)
    {
        wc_runtime_handler *rh = &cfg->handlers[i++];
        rh->name = name;
        rh->runtime = json_string_value(json_object_get(h, "runtime"));
        rh->isolation = json_string_value(json_object_get(h, "isolation"));
        if (!rh->runtime)
            rh->runtime = "";
        if (!rh->isolation)
            rh->isolation = "";
        if (*rh->isolation && strcmp(rh->isolation, "process") != 0 &&
            strcmp(rh->isolation, "hyperv") != 0)
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "%s: runtime handler \"%s\": isolation must be \"process\" or "
                              "\"hyperv\", not \"%s\"",
                              source, name, rh->isolation);
    }
    if (!wc_config_handler(cfg, cfg->default_handler))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "%s: default_runtime_handler \"%s\" is not one of runtime_handlers",
                          source, cfg->default_handler);
    return 0;
}

/* "IP:PORT" or "[IPv6]:PORT", an IP literal (no name lookups) and a port in 0..65535 (0 asks
 * for an ephemeral one, which the daemon logs). */
static int parse_metrics_address(wc_config *cfg, const char *source, wc_err *err)
{
    const char *a = cfg->metrics_address;
    if (!*a)
        return 0;
    const char *colon = strrchr(a, ':');
    const char *host = a;
    size_t host_len = colon ? (size_t)(colon - a) : 0;
    if (colon && host_len >= 2 && a[0] == '[' && a[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    } else if (colon && memchr(a, ':', host_len)) {
        host_len = 0; /* a bare IPv6 address: the port would be ambiguous */
    }
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (host_len > 0 && host_len < sizeof cfg->metrics_host) {
        memcpy(cfg->metrics_host, host, host_len);
        cfg->metrics_host[host_len] = '\0';
    } else {
        cfg->metrics_host[0] = '\0';
    }
    if (!colon || !end || end == colon + 1 || *end || port < 0 || port > 65535 ||
        !cfg->metrics_host[0] || wc_inet_family(cfg->metrics_host) == 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "%s: metrics.address \"%s\" is not IP:PORT (e.g. \"127.0.0.1:9505\", "
                          "\"[::1]:9505\"; \"\" turns the endpoint off)",
                          source, a);
    cfg->metrics_port = (int)port;
    return 0;
}

static int fill_fields(wc_config *cfg, const char *source, wc_err *err)
{
    json_t *d = cfg->doc;
    cfg->root_dir = json_string_value(json_object_get(d, "root"));
    cfg->state_dir = json_string_value(json_object_get(d, "state"));
    cfg->listen = json_string_value(json_object_get(d, "listen"));
    cfg->default_handler = json_string_value(json_object_get(d, "default_runtime_handler"));
    json_t *grace = json_object_get(d, "shutdown_grace_seconds");
    cfg->shutdown_grace_seconds = (int)json_integer_value(grace);
    if (cfg->shutdown_grace_seconds < 0 || cfg->shutdown_grace_seconds > 3600)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "%s: shutdown_grace_seconds must be between 0 and 3600", source);
    const char *level = json_string_value(json_object_get(d, "log_level"));
    if (wc_log_parse_level(level, &cfg->log_level) < 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "%s: log_level \"%s\" is not one of debug, info, warn, error", source,
                          level);
    if (!*cfg->root_dir || !*cfg->state_dir)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s: root and state must not be empty", source);
    cfg->cni_conf_dir = json_string_value(json_object_get(d, "cni_conf_dir"));
    json_t *bins = json_object_get(d, "cni_bin_dirs");
    cfg->n_cni_bin_dirs = json_array_size(bins);
    cfg->cni_bin_dirs = wc_xcalloc(cfg->n_cni_bin_dirs + 1, sizeof *cfg->cni_bin_dirs);
    for (size_t i = 0; i < cfg->n_cni_bin_dirs; i++)
        cfg->cni_bin_dirs[i] = json_string_value(json_array_get(bins, i));
    cfg->metrics_address =
        json_string_value(json_object_get(json_object_get(d, "metrics"), "address"));
    if (!cfg->metrics_address)
        cfg->metrics_address = "";
    if (parse_metrics_address(cfg, source, err) < 0)
        return -1;
    return fill_handlers(cfg, source, err);
}

int wc_config_parse(const char *text, const char *source, wc_config **out, wc_err *err)
{
    json_error_t jerr;
    json_t *user = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!user)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s:%d:%d: %s", source, jerr.line, jerr.column,
                          jerr.text);
    if (!json_is_object(user)) {
        json_decref(user);
        return wc_err_set(err, WC_INVALID_ARGUMENT, "%s:1:1: the config must be a JSON object",
                          source);
    }
    json_t *defaults = json_loads(wc_config_default_text(), 0, NULL);
    walk w = {.source = source, .text = text, .err = err};
    if (check_against(&w, defaults, user) < 0) {
        json_decref(user);
        json_decref(defaults);
        return -1;
    }
    merge(defaults, user, 0);
    json_decref(user);
    wc_config *cfg = wc_xcalloc(1, sizeof *cfg);
    cfg->source = wc_xstrdup(source);
    cfg->doc = defaults;
    if (fill_fields(cfg, source, err) < 0) {
        wc_config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

static char *read_file(const char *path, wc_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        wc_err_set(err, WC_INVALID_ARGUMENT, "cannot open config file %s", path);
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = wc_xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 >= cap) {
            cap *= 2;
            buf = wc_xrealloc(buf, cap);
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

int wc_config_load(const char *path, wc_config **out, wc_err *err)
{
    if (!path)
        return wc_config_parse("{}", "(embedded defaults)", out, err);
    char *text = read_file(path, err);
    if (!text)
        return -1;
    int rc = wc_config_parse(text, path, out, err);
    free(text);
    return rc;
}

void wc_config_free(wc_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->source);
    free(cfg->handlers);
    free(cfg->cni_bin_dirs);
    json_decref(cfg->doc);
    free(cfg);
}

const wc_runtime_handler *wc_config_handler(const wc_config *cfg, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < cfg->n_handlers; i++)
        if (strcmp(cfg->handlers[i].name, name) == 0)
            return &cfg->handlers[i];
    return NULL;
}

int wc_config_rpc_delay_ms(const wc_config *cfg, const char *method)
{
    json_t *fi = json_object_get(cfg->doc, "fault_injection");
    json_t *v = json_object_get(json_object_get(fi, "rpc_delay_ms"), method);
    return v ? (int)json_integer_value(v) : 0;
}
