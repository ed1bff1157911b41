/* linux.resources (CPU, memory, hugepages, unified, the device cgroup), linux.devices and
 * the OOM score adjustment. */
#include <errno.h>
#include <string.h>

#include "podsandbox/ocispec_int_linux.h"

static int nonneg(int64_t v, const char *field, wc_err *err)
{
    if (v < 0)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "linux.resources.%s: must not be negative (got %lld)", field,
                          (long long)v);
    return 0;
}

static int check_resources(const pod_linux_resources *r, wc_err *err)
{
    if (nonneg(r->cpu_period, "cpu_period", err) < 0 ||
        nonneg(r->cpu_quota, "cpu_quota", err) < 0 ||
        nonneg(r->cpu_shares, "cpu_shares", err) < 0 ||
        nonneg(r->memory_limit_in_bytes, "memory_limit_in_bytes", err) < 0 ||
        nonneg(r->memory_swap_limit_in_bytes, "memory_swap_limit_in_bytes", err) < 0)
        return -1;
    if (r->oom_score_adj < -1000 || r->oom_score_adj > 1000)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "linux.resources.oom_score_adj: %lld is outside [-1000, 1000]",
                          (long long)r->oom_score_adj);
    for (size_t i = 0; i < r->n_hugepages; i++) {
        if (!r->hugepages[i].page_size[0])
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "linux.resources.hugepage_limits[%zu].page_size: empty", i);
    }
    return 0;
}

static void set_int(json_t *o, const char *key, int64_t v)
{
    if (v != 0)
        json_object_set_new(o, key, json_integer(v));
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v && v[0])
        json_object_set_new(o, key, json_string(v));
}

/* Absent values (0, "") are left out so the OCI runtime keeps the cgroup's defaults. The
 * swap limit equals the memory limit unless given, so a container does not swap. */
static void map_resources(const pod_build *b, const pod_linux_resources *r, json_t *res)
{
    json_t *cpu = json_object(), *mem = json_object();
    set_int(cpu, "shares", r->cpu_shares);
    set_int(cpu, "quota", r->cpu_quota);
    set_int(cpu, "period", r->cpu_period);
    set_str(cpu, "cpus", r->cpuset_cpus);
    set_str(cpu, "mems", r->cpuset_mems);
    set_int(mem, "limit", r->memory_limit_in_bytes);
    if (b->host->swap_controller)
        set_int(mem, "swap",
                r->memory_swap_limit_in_bytes ? r->memory_swap_limit_in_bytes
                                              : r->memory_limit_in_bytes);
    json_object_set_new(res, "cpu", cpu);
    json_object_set_new(res, "memory", mem);
    if (r->n_hugepages) {
        json_t *hp = json_array();
        for (size_t i = 0; i < r->n_hugepages; i++)
            json_array_append_new(hp, json_pack("{s:s, s:I}", "pageSize", r->hugepages[i].page_size,
                                                "limit", (json_int_t)r->hugepages[i].limit));
        json_object_set_new(res, "hugepageLimits", hp);
    }
    if (r->unified.n) {
        json_t *u = json_object();
        for (size_t i = 0; i < r->unified.n; i++)
            json_object_set_new(u, r->unified.v[i].key, json_string(r->unified.v[i].value));
        json_object_set_new(res, "unified", u);
    }
}

int pod_oci_resources(pod_build *b, json_t *linux_obj, json_t *process, wc_err *err)
{
    const pod_linux_resources *r = b->cc->linux_resources.set ? &b->cc->linux_resources : NULL;
    json_t *res = json_object();
    json_object_set_new(linux_obj, "resources", res);
    if (!r)
        return 0;
    if (check_resources(r, err) < 0)
        return -1;
    map_resources(b, r, res);
    /* Root without CAP_SYS_RESOURCE cannot go below its own score: clamp like containerd's
     * restrict_oom_score_adj instead of failing the container. */
    int64_t adj = r->oom_score_adj;
    if (adj < b->host->oom_score_adj_min)
        adj = b->host->oom_score_adj_min;
    json_object_set_new(process, "oomScoreAdj", json_integer(adj));
    return 0;
}

int pod_spec_linux_resources(const pod_linux_resources *r, json_t **out, wc_err *err)
{
    if (check_resources(r, err) < 0)
        return -1;
    pod_spec_host host;
    pod_spec_host_default(&host);
    pod_build b = {.host = &host};
    *out = json_object();
    map_resources(&b, r, *out);
    return 0;
}

/* The standard character devices every container may use (major, minor; -1 = any). */
static const struct {
    int64_t major, minor;
} std_devices[] = {
    {1, 3},    {1, 5}, {1, 7}, {1, 8}, {1, 9}, /* null zero full random urandom */
    {5, 0},    {5, 1}, {5, 2},                 /* tty console ptmx */
    {136, -1},                                 /* pts */
};

static json_t *dev_rule(int allow, const char *type, int64_t major, int64_t minor,
                        const char *access)
{
    json_t *r = json_pack("{s:b, s:s}", "allow", allow, "access", access);
    if (type)
        json_object_set_new(r, "type", json_string(type));
    if (major >= 0)
        json_object_set_new(r, "major", json_integer(major));
    if (minor >= 0)
        json_object_set_new(r, "minor", json_integer(minor));
    return r;
}

static int check_perms(const char *p, size_t i, wc_err *err)
{
    if (strspn(p, "rwm") != strlen(p))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "devices[%zu].permissions: \"%s\" is not a subset of \"rwm\"", i, p);
    return 0;
}

static int add_device(pod_build *b, size_t i, json_t *devs, json_t *rules, wc_err *err)
{
    const pod_device *d = &b->cc->devices[i];
    const char *perms = d->permissions[0] ? d->permissions : "rwm";
    const char *dst = d->container_path[0] ? d->container_path : d->host_path;
    pod_spec_device dev = {0};
    if (!d->host_path[0])
        return wc_err_set(err, WC_INVALID_ARGUMENT, "devices[%zu].host_path: empty", i);
    if (dst[0] != '/')
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "devices[%zu].container_path: \"%s\" is not an absolute path", i, dst);
    if (check_perms(perms, i, err) < 0)
        return -1;
    if (b->host->device(b->host->device_ctx, d->host_path, &dev) != 0)
        return wc_err_sys(err, WC_INVALID_ARGUMENT, errno,
                          "devices[%zu].host_path: %s is not a usable device", i, d->host_path);
    char type[2] = {dev.type, '\0'};
    json_array_append_new(devs, json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:i}", "path", dst,
                                          "type", type, "major", (json_int_t)dev.major, "minor",
                                          (json_int_t)dev.minor, "fileMode",
                                          (json_int_t)(dev.mode & 07777), "uid", 0, "gid", 0));
    json_array_append_new(rules, dev_rule(1, type, dev.major, dev.minor, perms));
    return 0;
}

int pod_oci_devices(pod_build *b, json_t *linux_obj, wc_err *err)
{
    json_t *res = json_object_get(linux_obj, "resources");
    json_t *rules = json_array(), *devs = json_array();
    json_object_set_new(res, "devices", rules);
    json_object_set_new(linux_obj, "devices", devs);
    if (b->privileged) {
        json_array_append_new(rules, dev_rule(1, NULL, -1, -1, "rwm"));
    } else {
        json_array_append_new(rules, dev_rule(0, NULL, -1, -1, "rwm"));
        for (size_t i = 0; i < sizeof std_devices / sizeof std_devices[0]; i++)
            json_array_append_new(
                rules, dev_rule(1, "c", std_devices[i].major, std_devices[i].minor, "rwm"));
    }
    for (size_t i = 0; i < b->cc->n_devices; i++) {
        if (add_device(b, i, devs, rules, err) < 0)
            return -1;
    }
    return 0;
}
