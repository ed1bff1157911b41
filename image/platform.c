/* Choosing a manifest from an image index for the host (and, on Windows, the isolation). */
#include "image/img_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* LTSC builds whose containers stay runnable on later hosts (stable ABI), ascending. */
static const unsigned ltsc_builds[] = {20348, 26100};
#define N_LTSC (sizeof ltsc_builds / sizeof ltsc_builds[0])

typedef struct winver {
    unsigned major, minor, build, rev;
    int ok;
} winver;

static winver parse_winver(const char *s)
{
    winver v = {0};
    if (!s)
        return v;
    int n = sscanf(s, "%u.%u.%u.%u", &v.major, &v.minor, &v.build, &v.rev);
    v.ok = n >= 3;
    if (n == 3)
        v.rev = 0;
    return v;
}

/* The oldest build a host of this build may run with process isolation. */
static unsigned process_floor(unsigned host_build)
{
    if (host_build < ltsc_builds[0])
        return host_build;
    size_t newest = 0;
    for (size_t i = 0; i < N_LTSC; i++)
        if (host_build >= ltsc_builds[i])
            newest = i;
    /* An LTSC host (or one after it) runs the LTSC before it; the first LTSC only itself. */
    return newest == 0 ? ltsc_builds[0] : ltsc_builds[newest - 1];
}

int img_windows_compatible(const char *host_version, const char *ctr_version, int hyperv)
{
    winver h = parse_winver(host_version), c = parse_winver(ctr_version);
    if (!h.ok || !c.ok)
        return 0;
    if (h.major != c.major || h.minor != c.minor)
        return hyperv && (c.major < h.major || (c.major == h.major && c.minor < h.minor));
    if (hyperv)
        return c.build <= h.build;
    if (h.build < ltsc_builds[0])
        return c.build == h.build;
    return c.build >= process_floor(h.build) && c.build <= h.build;
}

static int variant_rank(const char *arch, const char *v)
{
    if (!v || !*v)
        return strcmp(arch, "arm64") == 0 ? 8 : (strcmp(arch, "arm") == 0 ? 5 : 1);
    if (v[0] == 'v' && v[1] >= '0' && v[1] <= '9')
        return atoi(v + 1);
    return -1;
}

typedef struct cand {
    int ok;
    long score[3]; /* compared in order, higher is better */
} cand;

static cand score_entry(const json_t *plat, const img_host *host)
{
    cand c = {0};
    const char *os = json_string_value(json_object_get(plat, "os"));
    const char *arch = json_string_value(json_object_get(plat, "architecture"));
    const char *variant = json_string_value(json_object_get(plat, "variant"));
    const char *osv = json_string_value(json_object_get(plat, "os.version"));
    if (!os || !arch || strcmp(os, host->os) != 0 || strcmp(arch, host->arch) != 0)
        return c;
    int vr = variant_rank(arch, variant), hr = variant_rank(arch, host->variant);
    if (vr < 0 || vr > hr)
        return c;
    c.score[0] = vr;
    if (strcmp(host->os, "windows") == 0 && osv && *osv && host->os_version[0]) {
        if (!img_windows_compatible(host->os_version, osv, host->hyperv))
            return c;
        winver w = parse_winver(osv);
        c.score[1] = (long)w.major * 1000000L + (long)w.minor * 100000L + (long)w.build;
        c.score[2] = (long)w.rev;
    }
    c.ok = 1;
    return c;
}

static int better(const cand *a, const cand *b)
{
    for (int i = 0; i < 3; i++)
        if (a->score[i] != b->score[i])
            return a->score[i] > b->score[i];
    return 0;
}

static void describe(const json_t *plat, char *out, size_t cap)
{
    const char *os = json_string_value(json_object_get(plat, "os"));
    const char *arch = json_string_value(json_object_get(plat, "architecture"));
    const char *variant = json_string_value(json_object_get(plat, "variant"));
    const char *osv = json_string_value(json_object_get(plat, "os.version"));
    snprintf(out, cap, "%s/%s%s%s%s%s", os ? os : "?", arch ? arch : "?",
             variant && *variant ? "/" : "", variant && *variant ? variant : "",
             osv && *osv ? " " : "", osv && *osv ? osv : "");
}

static int no_match(const json_t *manifests, const img_host *host, wc_err *err)
{
    char offered[600] = "";
    size_t n = 0, i;
    json_t *m;
    json_array_foreach(manifests, i, m)
    {
        char one[128];
        describe(json_object_get(m, "platform"), one, sizeof one);
        n += (size_t)snprintf(offered + n, n < sizeof offered ? sizeof offered - n : 0, "%s%s",
                              i ? ", " : "", one);
        if (n >= sizeof offered)
            break;
    }
    return wc_err_set(err, WC_NOT_FOUND,
                      "no manifest for platform %s/%s%s%s%s%s%s in the index (it offers: %s)",
                      host->os, host->arch, host->variant[0] ? "/" : "", host->variant,
                      host->os_version[0] ? " " : "", host->os_version,
                      strcmp(host->os, "windows") == 0
                          ? (host->hyperv ? " with Hyper-V isolation" : " with process isolation")
                          : "",
                      json_array_size(manifests) ? offered : "nothing");
}

int img_platform_select(const json_t *manifests, const img_host *host, wc_err *err)
{
    if (!json_is_array(manifests))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "image index has no manifests array");
    int best = -1;
    cand best_c = {0};
    size_t i;
    json_t *m;
    json_array_foreach(manifests, i, m)
    {
        cand c = score_entry(json_object_get(m, "platform"), host);
        if (c.ok && (best < 0 || better(&c, &best_c))) {
            best = (int)i;
            best_c = c;
        }
    }
    if (best < 0)
        return no_match(manifests, host, err);
    return best;
}
