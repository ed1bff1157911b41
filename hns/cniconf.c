#include "hns/hns.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/xalloc.h"
#include "hns/nat.h"

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_conf_name(const char *name)
{
    return has_suffix(name, ".conf") || has_suffix(name, ".conflist") || has_suffix(name, ".json");
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects candidate file names, sorted. */
static char **list_confs(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    size_t n = 0, cap = 8;
    char **names = wc_xmalloc(cap * sizeof *names);
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (!is_conf_name(ent->d_name))
            continue;
        if (n == cap)
            names = wc_xrealloc(names, (cap *= 2) * sizeof *names);
        names[n++] = wc_xstrdup(ent->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    *count = n;
    return names;
}

int hns_cni_config_find(const char *conf_dir, char **path, char **name, wc_err *err)
{
    size_t n = 0;
    char **names = list_confs(conf_dir, &n);
    if (!names)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "no CNI config: directory %s cannot be read",
                          conf_dir);
    int rc = -1;
    wc_err_set(err, WC_FAILED_PRECONDITION, "no CNI network config (*.conf, *.conflist) in %s",
               conf_dir);
    for (size_t i = 0; i < n && rc < 0; i++) {
        char *full = wc_path_join(conf_dir, names[i]);
        json_error_t jerr;
        json_t *doc = json_load_file(full, 0, &jerr);
        const char *net = json_string_value(json_object_get(doc, "name"));
        if (net && *net) {
            *path = full;
            *name = wc_xstrdup(net);
            rc = 0;
        } else {
            wc_err_set(err, WC_FAILED_PRECONDITION, "CNI config %s is not usable: %s", full,
                       doc ? "it has no \"name\"" : jerr.text);
            free(full);
        }
        json_decref(doc);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int hns_network_ready(const wc_config *cfg, char **detail, wc_err *err)
{
    char *path = NULL, *name = NULL;
    *detail = NULL;
    if (hns_cni_config_find(cfg->cni_conf_dir, &path, &name, err) == 0) {
        free(name);
        *detail = path;
        return 1;
    }
    hns_nat_config nat;
    wc_err nerr = {0};
    if (hns_nat_supported() && hns_nat_config_read(cfg, &nat, &nerr) == 0 && nat.enabled) {
        wc_err_clear(err);
        size_t n = strlen(nat.network) + sizeof "builtin-nat:";
        *detail = wc_xmalloc(n);
        snprintf(*detail, n, "builtin-nat:%s", nat.network);
        return 1;
    }
    if (nerr.code) {
        char cni_msg[sizeof err->msg];
        snprintf(cni_msg, sizeof cni_msg, "%s", err->msg);
        wc_err_set(err, WC_FAILED_PRECONDITION, "%s; the built-in NAT network is unusable: %s",
                   cni_msg, nerr.msg);
    }
    *detail = wc_xstrdup("");
    return 0;
}
