/* HostProcess containers: job limits, the user, the mount point (hcs/hcsjob.h). Pure. */
#include "hcs/hcsjob.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcs/hcsdoc_int.h"

int hcs_spec_is_hostprocess(const json_t *spec)
{
    const char *v = hd_str(hd_obj(spec, "annotations"), HCS_ANNOTATION_HOSTPROCESS);
    return v && strcmp(v, "true") == 0;
}

static int pick_u64(const json_t *spec, const char *annotation, const json_t *section,
                    const char *member, const char *where, uint64_t *v, wc_err *err)
{
    int r = hd_annotation_u64(spec, annotation, v, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    return hd_member_u64(section, member, where, v, err) < 0 ? -1 : 0;
}

int hcs_job_limits_of(const json_t *spec, unsigned host_cpus, hcs_job_limits *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    const json_t *res = hd_obj(hd_obj(spec, "windows"), "resources");
    const json_t *cpu = hd_obj(res, "cpu");
    const char *w = "windows.resources.cpu";
    uint64_t count = 0, maximum = 0, shares = 0;
    if (pick_u64(spec, HCS_ANNOTATION_CPU_COUNT, cpu, "count", w, &count, err) < 0 ||
        pick_u64(spec, HCS_ANNOTATION_CPU_LIMIT, cpu, "maximum", w, &maximum, err) < 0 ||
        pick_u64(spec, HCS_ANNOTATION_CPU_WEIGHT, cpu, "shares", w, &shares, err) < 0)
        return -1;
    if ((count > 0) + (maximum > 0) + (shares > 0) > 1)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows.resources.cpu: count (%llu), maximum (%llu) and shares (%llu) "
                          "are mutually exclusive on Windows; set only one",
                          (unsigned long long)count, (unsigned long long)maximum,
                          (unsigned long long)shares);
    if (maximum > HCS_JOB_CPU_RATE_MAX || shares > 10000)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "windows.resources.cpu: maximum and shares range over 1..10000, got %llu",
                          (unsigned long long)(maximum ? maximum : shares));
    if (host_cpus == 0)
        host_cpus = 1;
    if (count > host_cpus)
        count = host_cpus; /* hcsoci lowers an impossible count to the host's */
    if (count) {
        /* A job has no CPU count: the count becomes its share of the host's processors. */
        uint64_t rate = count * HCS_JOB_CPU_RATE_MAX / host_cpus;
        out->cpu_rate = rate ? (uint32_t)rate : 1;
    } else if (maximum) {
        out->cpu_rate = (uint32_t)maximum;
    } else if (shares) {
        out->cpu_weight = 1 + (uint32_t)(8 * shares / 10000);
    }

    uint64_t mb = 0, limit = 0;
    int r = hd_annotation_u64(spec, HCS_ANNOTATION_MEMORY, &mb, err);
    if (r < 0)
        return -1;
    if (r == 0) {
        if (hd_member_u64(hd_obj(res, "memory"), "limit", "windows.resources.memory", &limit, err) <
            0)
            return -1;
        mb = limit / (1024 * 1024);
    }
    out->memory_bytes = mb * 1024 * 1024;

    const json_t *st = hd_obj(res, "storage");
    const char *ws = "windows.resources.storage";
    if (pick_u64(spec, HCS_ANNOTATION_STORAGE_BPS, st, "bps", ws, &out->max_bandwidth, err) < 0 ||
        pick_u64(spec, HCS_ANNOTATION_STORAGE_IOPS, st, "iops", ws, &out->max_iops, err) < 0)
        return -1;
    return 0;
}

/* ---- the user ------------------------------------------------------------------------- */

static int equal_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    return *a == *b;
}

/* The built-in accounts' names as LogonUser takes them (their display names with a space
 * are accepted too). */
static const char *service_account(const char *name)
{
    if (equal_nocase(name, "LocalService") || equal_nocase(name, "LOCAL SERVICE"))
        return "LocalService";
    if (equal_nocase(name, "NetworkService") || equal_nocase(name, "NETWORK SERVICE"))
        return "NetworkService";
    return NULL;
}

int hcs_job_user_of(const json_t *spec, hcs_job_user *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    const char *inherit =
        hd_str(hd_obj(spec, "annotations"), HCS_ANNOTATION_HOSTPROCESS_INHERIT_USER);
    if (inherit && strcmp(inherit, "true") == 0) {
        out->kind = HCS_JOB_USER_INHERIT;
        return 0;
    }
    const char *u = hd_str(hd_obj(hd_obj(spec, "process"), "user"), "username");
    if (!u || !*u)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "HostProcess container: no user to run as; set run_as_username (e.g. "
                          "\"NT AUTHORITY\\SYSTEM\", \"NT AUTHORITY\\Local Service\", \"NT "
                          "AUTHORITY\\NetworkService\" or a local group)");
    const char *bs = strchr(u, '\\');
    if (bs && strchr(bs + 1, '\\'))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "HostProcess container: user \"%s\" is not [DOMAIN\\]name", u);
    const char *name = bs ? bs + 1 : u;
    size_t dlen = bs ? (size_t)(bs - u) : 0;
    if (!*name || dlen >= sizeof out->domain || strlen(name) >= sizeof out->name)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "HostProcess container: user \"%s\" is not [DOMAIN\\]name", u);
    snprintf(out->domain, sizeof out->domain, "%.*s", (int)dlen, u);
    snprintf(out->name, sizeof out->name, "%s", name);
    snprintf(out->logon, sizeof out->logon, "%s", name);
    if (equal_nocase(out->domain, "NT AUTHORITY")) {
        snprintf(out->domain, sizeof out->domain, "NT AUTHORITY");
        const char *svc = service_account(name);
        if (svc) {
            out->kind = HCS_JOB_USER_SERVICE;
            snprintf(out->name, sizeof out->name, "%s", svc);
            return 0;
        }
        if (equal_nocase(name, "SYSTEM")) {
            out->kind = HCS_JOB_USER_SYSTEM;
            snprintf(out->name, sizeof out->name, "SYSTEM");
            return 0;
        }
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "HostProcess container: \"%s\" is not an NT AUTHORITY account a "
                          "container can run as (SYSTEM, LocalService, NetworkService)",
                          u);
    }
    out->kind = HCS_JOB_USER_ACCOUNT;
    return 0;
}

void hcs_job_local_account(const char *container_id, char *buf, size_t len)
{
    snprintf(buf, len, "%.20s", container_id);
}

/* ---- the mount point ------------------------------------------------------------------ */

char *hcs_job_mount_point(const json_t *spec, const char *container_id, wc_err *err)
{
    const char *loc = hd_str(hd_obj(spec, "annotations"), HCS_ANNOTATION_HOSTPROCESS_ROOTFS);
    if (!loc || !*loc)
        loc = HCS_JOB_ROOTFS_DEFAULT;
    if (!(isalpha((unsigned char)loc[0]) && loc[1] == ':' && (loc[2] == '\\' || loc[2] == '/'))) {
        wc_err_set(err, WC_INVALID_ARGUMENT,
                   "annotation %s: \"%s\" is not an absolute path with a drive letter",
                   HCS_ANNOTATION_HOSTPROCESS_ROOTFS, loc);
        return NULL;
    }
    size_t n = strlen(loc);
    while (n > 3 && (loc[n - 1] == '\\' || loc[n - 1] == '/'))
        n--;
    size_t cap = n + strlen(container_id) + 4;
    char *mp = wc_xmalloc(cap);
    snprintf(mp, cap, "%.*s%s%s\\", (int)n, loc, loc[n - 1] == '\\' ? "" : "\\", container_id);
    for (char *p = mp; *p; p++)
        if (*p == '/')
            *p = '\\';
    return mp;
}

/* Appends n bytes to a growing buffer. */
static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = wc_xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

char *hcs_job_expand(const char *s, const char *mount_point, int *changed)
{
    static const char *forms[] = {"%" HCS_JOB_MOUNT_ENV "%", "$env:" HCS_JOB_MOUNT_ENV};
    size_t mp_len = strlen(mount_point);
    if (mp_len && mount_point[mp_len - 1] == '\\')
        mp_len--;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int did = 0;
    append(&buf, &len, &cap, "", 0);
    while (*s) {
        size_t k = 0;
        for (; k < 2; k++)
            if (strncmp(s, forms[k], strlen(forms[k])) == 0)
                break;
        if (k < 2) {
            append(&buf, &len, &cap, mount_point, mp_len);
            s += strlen(forms[k]);
            did = 1;
        } else {
            append(&buf, &len, &cap, s, 1);
            s++;
        }
    }
    if (changed)
        *changed = did;
    return buf;
}

char *hcs_job_working_dir(const char *cwd, const char *mount_point)
{
    if (!cwd || !*cwd)
        return wc_xstrdup(mount_point);
    int changed = 0;
    char *dir = hcs_job_expand(cwd, mount_point, &changed);
    if (changed)
        return dir;
    /* Drop the drive letter: "C:" is the root of the mount point, "C:\x" is "<mp>\x". */
    const char *rest = dir;
    if (isalpha((unsigned char)rest[0]) && rest[1] == ':')
        rest += 2;
    while (*rest == '\\' || *rest == '/')
        rest++;
    size_t cap = strlen(mount_point) + strlen(rest) + 2;
    char *out = wc_xmalloc(cap);
    snprintf(out, cap, "%s%s%s", mount_point,
             mount_point[strlen(mount_point) - 1] == '\\' ? "" : "\\", rest);
    free(dir);
    return out;
}

char *hcs_job_mount_link(const char *mount_point, const char *source, const char *destination,
                         wc_err *err)
{
    if (!source || !*source || !destination || !*destination) {
        wc_err_set(err, WC_INVALID_ARGUMENT,
                   "HostProcess container: a mount needs both a source and a destination");
        return NULL;
    }
    if (strncmp(source, "\\\\.\\pipe\\", 9) == 0 || strncmp(source, "//./pipe/", 9) == 0) {
        wc_err_set(err, WC_INVALID_ARGUMENT,
                   "HostProcess container: %s: named pipe mounts are not supported for "
                   "HostProcess containers; use the pipe directly",
                   source);
        return NULL;
    }
    const char *rest = destination;
    if (isalpha((unsigned char)rest[0]) && rest[1] == ':')
        rest += 2;
    while (*rest == '\\' || *rest == '/')
        rest++;
    size_t mp_len = strlen(mount_point);
    while (mp_len && mount_point[mp_len - 1] == '\\')
        mp_len--;
    size_t cap = mp_len + strlen(rest) + 2;
    char *out = wc_xmalloc(cap);
    snprintf(out, cap, "%.*s%s%s", (int)mp_len, mount_point, *rest ? "\\" : "", rest);
    for (char *p = out; *p; p++)
        if (*p == '/')
            *p = '\\';
    return out;
}
