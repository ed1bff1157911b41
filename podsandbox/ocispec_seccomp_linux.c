/* Localhost seccomp profiles: a JSON file in the OCI form or in Docker's form (archMap,
 * per-rule includes/excludes by capability and architecture), turned into the OCI
 * linux.seccomp object for this host (x86_64) and this container's capabilities. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podsandbox/ocispec_int_linux.h"

static int is_our_arch(const char *a)
{
    return a && (strcmp(a, "amd64") == 0 || strcmp(a, "x86_64") == 0 ||
                 strcmp(a, "SCMP_ARCH_X86_64") == 0);
}

static int any_our_arch(const json_t *arches)
{
    size_t i;
    json_t *v;
    json_array_foreach(arches, i, v)
    {
        if (is_our_arch(json_string_value(v)))
            return 1;
    }
    return 0;
}

/* 1 when every named capability is held (all=1) or when any is (all=0). */
static int caps_match(const json_t *names, uint64_t caps, int all)
{
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        const char *n = json_string_value(v);
        int c = n ? pod_cap_lookup(n) : -1;
        int held = c >= 0 && ((caps >> c) & 1);
        if (all && !held)
            return 0;
        if (!all && held)
            return 1;
    }
    return all;
}

/* Docker's includes/excludes: a rule counts only for the right arches and capabilities. */
static int rule_applies(const json_t *rule, uint64_t caps)
{
    const json_t *inc = json_object_get(rule, "includes");
    const json_t *exc = json_object_get(rule, "excludes");
    const json_t *a;
    if ((a = json_object_get(inc, "arches")) && json_array_size(a) && !any_our_arch(a))
        return 0;
    if ((a = json_object_get(inc, "caps")) && !caps_match(a, caps, 1))
        return 0;
    if ((a = json_object_get(exc, "arches")) && any_our_arch(a))
        return 0;
    if ((a = json_object_get(exc, "caps")) && json_array_size(a) && caps_match(a, caps, 0))
        return 0;
    return 1;
}

static int convert_rule(const json_t *rule, size_t i, json_t *out, wc_err *err)
{
    const json_t *names = json_object_get(rule, "names");
    const json_t *name = json_object_get(rule, "name");
    const json_t *action = json_object_get(rule, "action");
    if (!json_is_string(action))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "syscalls[%zu]: no action", i);
    json_t *r = json_object();
    if (json_is_array(names))
        json_object_set(r, "names", (json_t *)names);
    else if (json_is_string(name))
        json_object_set_new(r, "names", json_pack("[O]", name));
    else {
        json_decref(r);
        return wc_err_set(err, WC_INVALID_ARGUMENT, "syscalls[%zu]: no names", i);
    }
    json_object_set(r, "action", (json_t *)action);
    static const char *const keep[] = {"errnoRet", "args"};
    for (size_t k = 0; k < 2; k++) {
        json_t *v = json_object_get(rule, keep[k]);
        if (v && !json_is_null(v))
            json_object_set(r, keep[k], v);
    }
    json_array_append_new(out, r);
    return 0;
}

/* Docker's archMap lists sub-architectures per main one; keep ours. */
static json_t *architectures(const json_t *prof)
{
    const json_t *arches = json_object_get(prof, "architectures");
    const json_t *map = json_object_get(prof, "archMap");
    size_t i;
    json_t *m;
    if (json_is_array(arches) && json_array_size(arches))
        return json_deep_copy(arches);
    json_array_foreach(map, i, m)
    {
        const char *a = json_string_value(json_object_get(m, "architecture"));
        if (!is_our_arch(a))
            continue;
        json_t *out = json_pack("[s]", a);
        json_array_extend(out, json_object_get(m, "subArchitectures"));
        return out;
    }
    return NULL;
}

static int convert(const json_t *prof, uint64_t caps, json_t **out, wc_err *err)
{
    if (!json_is_object(prof) || !json_is_string(json_object_get(prof, "defaultAction")))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "no defaultAction");
    json_t *o = json_object();
    static const char *const keep[] = {"defaultAction", "defaultErrnoRet", "flags", "listenerPath",
                                       "listenerMetadata"};
    for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
        json_t *v = json_object_get(prof, keep[k]);
        if (v && !json_is_null(v))
            json_object_set(o, keep[k], v);
    }
    json_t *arches = architectures(prof);
    if (arches)
        json_object_set_new(o, "architectures", arches);
    json_t *rules = json_array();
    json_object_set_new(o, "syscalls", rules);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(prof, "syscalls"), i, r)
    {
        if (rule_applies(r, caps) && convert_rule(r, i, rules, err) < 0) {
            json_decref(o);
            return -1;
        }
    }
    *out = o;
    return 0;
}

/* Profiles are small JSON files; anything else named by a request (a FIFO, a device, a huge
 * file) is refused without blocking or reading it. */
#define SECCOMP_PROFILE_MAX (4 * 1024 * 1024)

static json_t *load_profile(const char *path, wc_err *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        wc_err_sys(err, WC_INVALID_ARGUMENT, errno, "profile %s: cannot open", path);
        return NULL;
    }
    struct stat st;
    json_t *prof = NULL;
    json_error_t jerr;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        wc_err_set(err, WC_INVALID_ARGUMENT, "profile %s: not a regular file", path);
    else if (st.st_size > SECCOMP_PROFILE_MAX)
        wc_err_set(err, WC_INVALID_ARGUMENT, "profile %s: larger than %d bytes", path,
                   SECCOMP_PROFILE_MAX);
    else if (!(prof = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr)))
        wc_err_set(err, WC_INVALID_ARGUMENT, "profile %s: cannot load: %s", path, jerr.text);
    close(fd);
    return prof;
}

int pod_seccomp_load(const char *path, uint64_t caps, json_t **out, wc_err *err)
{
    *out = NULL;
    json_t *prof = load_profile(path, err);
    if (!prof)
        return -1;
    int rc = convert(prof, caps, out, err);
    json_decref(prof);
    if (rc < 0)
        return wc_err_prefix(err, "profile %s", path);
    return 0;
}
