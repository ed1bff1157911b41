/* A container's cgroup: where it is (from /proc/<pid>/cgroup and the cgroup mounts), its
 * CPU and memory numbers, and its OOM kill count. cgroup v1 (per-controller hierarchies,
 * what these machines have) and v2 (one unified hierarchy) both work. */
#include "hcs/runtime_linux.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/xalloc.h"

void hcs_cgroup_clear(hcs_cgroup *cg)
{
    free(cg->memory);
    free(cg->cpu);
    memset(cg, 0, sizeof *cg);
}

/* Whether the comma-separated list has the word. */
static int list_has(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, word, n) == 0)
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* Finds the mount of a v1 controller (or v2 when controller is NULL): its mount point and
 * the cgroup path it shows as its root. */
static int find_mount(const char *controller, char *point, char *root, size_t cap)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    char line[4096];
    int found = -1;
    while (found < 0 && fgets(line, sizeof line, f)) {
        char mroot[1024], mpoint[1024], fstype[64], super[1024];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", mroot, mpoint) != 2 ||
            sscanf(dash + 3, "%63s %*s %1023s", fstype, super) != 2)
            continue;
        int match = controller ? strcmp(fstype, "cgroup") == 0 && list_has(super, controller)
                               : strcmp(fstype, "cgroup2") == 0;
        if (match) {
            snprintf(point, cap, "%s", mpoint);
            snprintf(root, cap, "%s", mroot);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

/* Mount point + the part of path below the mount's root. */
static char *cgroup_dir(const char *controller, const char *path)
{
    char point[1024], root[1024], buf[4096];
    if (find_mount(controller, point, root, sizeof point) < 0)
        return NULL;
    size_t rl = strlen(root);
    const char *rest = path;
    if (strcmp(root, "/") != 0 && strncmp(path, root, rl) == 0)
        rest = path + rl;
    snprintf(buf, sizeof buf, "%s%s", point, strcmp(rest, "/") == 0 ? "" : rest);
    return wc_xstrdup(buf);
}

int hcs_cgroup_of_pid(pid_t pid, hcs_cgroup *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    char file[64], line[4096];
    snprintf(file, sizeof file, "/proc/%d/cgroup", (int)pid);
    FILE *f = fopen(file, "re");
    if (!f)
        return wc_err_sys(err, WC_NOT_FOUND, errno, "cannot read %s", file);
    char unified[4096] = "";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *path = c2 + 1;
        if (!*ctrls)
            snprintf(unified, sizeof unified, "%s", path);
        else if (list_has(ctrls, "memory") && !out->memory)
            out->memory = cgroup_dir("memory", path);
        else if (list_has(ctrls, "cpuacct") && !out->cpu)
            out->cpu = cgroup_dir("cpuacct", path);
    }
    fclose(f);
    /* No v1 memory controller: the unified hierarchy has everything. */
    if (!out->memory && *unified) {
        free(out->cpu);
        out->v2 = 1;
        out->memory = cgroup_dir(NULL, unified);
        out->cpu = out->memory ? wc_xstrdup(out->memory) : NULL;
    }
    if (!out->memory || !out->cpu) {
        hcs_cgroup_clear(out);
        return wc_err_set(err, WC_NOT_FOUND, "no memory/cpu cgroup found for pid %d", (int)pid);
    }
    return 0;
}

/* Reads a file holding one number ("max" reads as 0: no limit). */
static int read_u64(const char *dir, const char *name, uint64_t *v)
{
    char path[4096], buf[64] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    *v = strncmp(buf, "max", 3) == 0 ? 0 : strtoull(buf, NULL, 10);
    return 0;
}

/* Looks up "key value" lines of a stat-like file; keys[i] -> vals[i], missing ones 0. */
static int read_keyed(const char *dir, const char *name, const char *const *keys, uint64_t *vals,
                      size_t n)
{
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (size_t i = 0; i < n; i++)
        vals[i] = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        char key[128];
        uint64_t v;
        if (sscanf(line, "%127s %" SCNu64, key, &v) != 2)
            continue;
        for (size_t i = 0; i < n; i++)
            if (strcmp(key, keys[i]) == 0)
                vals[i] = v;
    }
    fclose(f);
    return 0;
}

/* The v1 "no limit" value is the largest page-aligned long; anything that large is none. */
static uint64_t limit_or_none(uint64_t v)
{
    return v >= (UINT64_C(1) << 62) ? 0 : v;
}

static int stats_v1(const hcs_cgroup *cg, hcs_stats *s)
{
    static const char *const keys[] = {"total_inactive_file", "total_rss", "total_pgfault",
                                       "total_pgmajfault"};
    uint64_t v[4], limit = 0;
    if (read_u64(cg->cpu, "cpuacct.usage", &s->cpu_usage_ns) < 0 ||
        read_u64(cg->memory, "memory.usage_in_bytes", &s->memory_usage_bytes) < 0 ||
        read_keyed(cg->memory, "memory.stat", keys, v, 4) < 0)
        return -1;
    read_u64(cg->memory, "memory.limit_in_bytes", &limit);
    s->memory_limit_bytes = limit_or_none(limit);
    s->memory_working_set = s->memory_usage_bytes > v[0] ? s->memory_usage_bytes - v[0] : 0;
    s->memory_rss_bytes = v[1];
    s->memory_page_faults = v[2];
    s->memory_major_page_faults = v[3];
    return 0;
}

static int stats_v2(const hcs_cgroup *cg, hcs_stats *s)
{
    static const char *const mkeys[] = {"inactive_file", "anon", "pgfault", "pgmajfault"};
    static const char *const ckeys[] = {"usage_usec"};
    uint64_t v[4], usec = 0, limit = 0;
    if (read_keyed(cg->cpu, "cpu.stat", ckeys, &usec, 1) < 0 ||
        read_u64(cg->memory, "memory.current", &s->memory_usage_bytes) < 0 ||
        read_keyed(cg->memory, "memory.stat", mkeys, v, 4) < 0)
        return -1;
    read_u64(cg->memory, "memory.max", &limit);
    s->cpu_usage_ns = usec * 1000;
    s->memory_limit_bytes = limit;
    s->memory_working_set = s->memory_usage_bytes > v[0] ? s->memory_usage_bytes - v[0] : 0;
    s->memory_rss_bytes = v[1];
    s->memory_page_faults = v[2];
    s->memory_major_page_faults = v[3];
    return 0;
}

int hcs_cgroup_stats(const hcs_cgroup *cg, hcs_stats *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    out->timestamp_ns = wc_clock_realtime_ns();
    int rc = cg->v2 ? stats_v2(cg, out) : stats_v1(cg, out);
    if (rc < 0)
        return wc_err_sys(err, WC_NOT_FOUND, errno, "cannot read cgroup stats in %s", cg->memory);
    return 0;
}

uint64_t hcs_cgroup_oom_kills(const char *memory_dir)
{
    static const char *const keys[] = {"oom_kill"};
    uint64_t v = 0;
    if (!memory_dir)
        return 0;
    /* v1 keeps the counter in memory.oom_control, v2 in memory.events. */
    if (read_keyed(memory_dir, "memory.oom_control", keys, &v, 1) == 0)
        return v;
    if (read_keyed(memory_dir, "memory.events", keys, &v, 1) == 0)
        return v;
    return 0;
}
