/* Security parts of the spec: capabilities, seccomp, masked and read-only paths. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "podsandbox/ocispec_int_linux.h"

/* Linux capability numbers 0..40 (include/uapi/linux/capability.h). */
const char *const pod_cap_names[] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};
const int pod_cap_count = (int)(sizeof pod_cap_names / sizeof pod_cap_names[0]);

#define CAPBIT(n) (UINT64_C(1) << (n))
#define POD_ALL_CAPS (CAPBIT(41) - 1)

/* containerd's default set for unprivileged containers. */
static const char *const default_caps[] = {
    "CHOWN",  "DAC_OVERRIDE", "FSETID",  "FOWNER",           "MKNOD",      "NET_RAW", "SETGID",
    "SETUID", "SETFCAP",      "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",    "AUDIT_WRITE",
    NULL,
};

int pod_cap_lookup(const char *name)
{
    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    for (int i = 0; i < pod_cap_count; i++) {
        if (strcasecmp(name, pod_cap_names[i]) == 0)
            return i;
    }
    return -1;
}

static json_t *caps_json(uint64_t set)
{
    json_t *a = json_array();
    char buf[64];
    for (int i = 0; i < pod_cap_count; i++) {
        if (set & CAPBIT(i)) {
            snprintf(buf, sizeof buf, "CAP_%s", pod_cap_names[i]);
            json_array_append_new(a, json_string(buf));
        }
    }
    return a;
}

static int has_all(const pod_strs *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcasecmp(s->v[i], "ALL") == 0)
            return 1;
    }
    return 0;
}

/* Adds (or removes) the named capabilities; "ALL" is handled by the caller. */
static int apply_caps(uint64_t *set, const pod_strs *s, int add, const char *field, wc_err *err)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *name = s->v[i];
        if (strcasecmp(name, "ALL") == 0)
            continue;
        int c = pod_cap_lookup(name);
        if (c < 0)
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "linux.security_context.capabilities.%s[%zu]: unknown capability "
                              "\"%s\"",
                              field, i, name);
        *set = add ? (*set | CAPBIT(c)) : (*set & ~CAPBIT(c));
    }
    return 0;
}

/* ALL first, then the named ones, so {add: ALL, drop: CHOWN} means all but CHOWN. "ALL" and
 * privileged mean every capability the daemon itself holds: more cannot be granted. */
static int container_caps(pod_build *b, uint64_t *set, uint64_t *ambient, wc_err *err)
{
    uint64_t all = b->host->caps ? b->host->caps : POD_ALL_CAPS;
    const pod_linux_security *c = b->sc;
    *set = 0;
    *ambient = 0;
    for (const char *const *n = default_caps; *n; n++)
        *set |= CAPBIT(pod_cap_lookup(*n));
    if (b->privileged) {
        *set = all;
        return 0;
    }
    if (!c)
        return 0;
    if (has_all(&c->add_caps))
        *set = all;
    if (has_all(&c->drop_caps))
        *set = 0;
    if (apply_caps(set, &c->add_caps, 1, "add_capabilities", err) < 0 ||
        apply_caps(set, &c->drop_caps, 0, "drop_capabilities", err) < 0 ||
        apply_caps(ambient, &c->add_ambient_caps, 1, "add_ambient_capabilities", err) < 0)
        return -1;
    *set |= *ambient; /* an ambient capability must also be permitted */
    return 0;
}

int pod_oci_caps(pod_build *b, json_t *process, wc_err *err)
{
    uint64_t set, ambient;
    if (container_caps(b, &set, &ambient, err) < 0)
        return -1;
    b->caps = set;
    json_t *caps = json_object();
    json_object_set_new(caps, "bounding", caps_json(set));
    json_object_set_new(caps, "effective", caps_json(set));
    json_object_set_new(caps, "permitted", caps_json(set));
    if (ambient) {
        /* The kernel keeps an ambient capability only while it is also inheritable. */
        json_object_set_new(caps, "inheritable", caps_json(ambient));
        json_object_set_new(caps, "ambient", caps_json(ambient));
    }
    json_object_set_new(process, "capabilities", caps);
    return 0;
}

enum { SECCOMP_NONE, SECCOMP_DEFAULT, SECCOMP_FILE };

/* The deprecated string form: "runtime/default", "docker/default", "unconfined",
 * "localhost/<path>"; empty means unconfined. */
static int legacy_profile(const char *p, const char **path, wc_err *err)
{
    if (!p || !p[0] || strcmp(p, "unconfined") == 0)
        return SECCOMP_NONE;
    if (strcmp(p, "runtime/default") == 0 || strcmp(p, "docker/default") == 0)
        return SECCOMP_DEFAULT;
    if (strncmp(p, "localhost/", 10) == 0 && p[10]) {
        *path = p + 10;
        return SECCOMP_FILE;
    }
    return wc_err_set(err, WC_INVALID_ARGUMENT,
                      "linux.security_context.seccomp_profile_path: unknown profile \"%s\"", p);
}

static int seccomp_kind(const pod_build *b, const char **path, wc_err *err)
{
    if (b->privileged || !b->sc)
        return SECCOMP_NONE;
    const pod_profile *sp = &b->sc->seccomp;
    if (!sp->set) /* the deprecated field is still what older kubelets and crictl send */
        return legacy_profile(b->sc->seccomp_profile_path, path, err);
    switch (sp->type) {
    case POD_PROFILE_RUNTIME_DEFAULT:
        return SECCOMP_DEFAULT;
    case POD_PROFILE_LOCALHOST:
        if (!sp->localhost_ref[0])
            return wc_err_set(err, WC_INVALID_ARGUMENT,
                              "linux.security_context.seccomp.localhost_ref: empty for a "
                              "Localhost profile");
        *path = sp->localhost_ref;
        return SECCOMP_FILE;
    default:
        return SECCOMP_NONE;
    }
}

static int add_seccomp(pod_build *b, json_t *linux_obj, wc_err *err)
{
    const char *path = NULL;
    json_t *prof = NULL;
    char *full = NULL;
    int kind = seccomp_kind(b, &path, err);
    if (kind < 0)
        return -1;
    if (kind == SECCOMP_DEFAULT)
        prof = pod_seccomp_default(b->caps);
    if (kind == SECCOMP_FILE) {
        /* CRI gives absolute paths; a relative one is taken under seccomp_root. */
        if (path[0] != '/' && b->in->seccomp_root && b->in->seccomp_root[0])
            path = full = wc_xasprintf("%s/%s", b->in->seccomp_root, path);
        int rc = pod_seccomp_load(path, b->caps, &prof, err);
        free(full);
        if (rc < 0)
            return wc_err_prefix(err, "linux.security_context.seccomp");
    }
    if (prof)
        json_object_set_new(linux_obj, "seccomp", prof);
    return 0;
}

static const char *const default_masked[] = {
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    NULL,
};
static const char *const default_readonly[] = {
    "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

static void set_paths(json_t *linux_obj, const char *key, const pod_strs *given,
                      const char *const *defaults)
{
    json_t *a;
    if (given && given->n > 0) {
        a = json_array();
        for (size_t i = 0; i < given->n; i++)
            json_array_append_new(a, json_string(given->v[i]));
    } else {
        a = pod_strv(defaults);
    }
    json_object_set_new(linux_obj, key, a);
}

int pod_oci_security(pod_build *b, json_t *linux_obj, wc_err *err)
{
    if (add_seccomp(b, linux_obj, err) < 0)
        return -1;
    if (b->privileged)
        return 0; /* a privileged container sees /proc and /sys unmasked */
    const pod_linux_security *sc = b->sc;
    set_paths(linux_obj, "maskedPaths", sc ? &sc->masked_paths : NULL, default_masked);
    set_paths(linux_obj, "readonlyPaths", sc ? &sc->readonly_paths : NULL, default_readonly);
    return 0;
}
