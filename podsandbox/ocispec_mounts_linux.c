/* Mounts: the runtime's defaults (/proc, /dev, /sys ...), the sandbox's files (hosts,
 * resolv.conf, hostname) and the CRI bind mounts, merged the way containerd does: a CRI mount
 * replaces any default or sandbox mount at the same destination (a CRI /dev replaces every
 * default below /dev), and binds are ordered parents first so none is hidden. */
#include <stdlib.h>
#include <string.h>

#include "podsandbox/ocispec_int_linux.h"
#include "common/xalloc.h"

/* One bind mount before it becomes JSON. */
typedef struct bind {
    char *dst; /* cleaned, owned */
    const char *src;
    const char *opts[5];
    int depth;
    size_t seq; /* position among the binds, for a stable sort */
} bind;

typedef struct binds {
    bind *v;
    size_t n, cap;
} binds;

/* Lexically cleans an absolute path: no "//", ".", "..", or trailing "/". */
static char *clean_path(const char *p)
{
    size_t len = strlen(p);
    char *out = wc_xmalloc(len + 2);
    size_t o = 0;
    out[o++] = '/';
    while (*p) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 0)
            break;
        if (n == 1 && p[0] == '.') {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--;
        } else {
            if (o > 1)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    out[o] = '\0';
    return out;
}

static int path_depth(const char *p)
{
    int d = 0;
    if (strcmp(p, "/") == 0)
        return 0;
    for (; *p; p++)
        d += *p == '/';
    return d;
}

static bind *find_bind(binds *bs, const char *dst)
{
    for (size_t i = 0; i < bs->n; i++) {
        if (strcmp(bs->v[i].dst, dst) == 0)
            return &bs->v[i];
    }
    return NULL;
}

/* A later mount at the same destination replaces the earlier one in place. */
static bind *add_bind(binds *bs, const char *dst, const char *src)
{
    char *clean = clean_path(dst);
    bind *b = find_bind(bs, clean);
    if (b) {
        free(b->dst);
    } else {
        if (bs->n == bs->cap) {
            bs->cap = bs->cap ? bs->cap * 2 : 8;
            bs->v = wc_xrealloc(bs->v, bs->cap * sizeof *bs->v);
        }
        b = &bs->v[bs->n];
        b->seq = bs->n++;
    }
    size_t seq = b->seq;
    memset(b, 0, sizeof *b);
    b->seq = seq;
    b->dst = clean;
    b->src = src;
    b->depth = path_depth(clean);
    return b;
}

static void free_binds(binds *bs)
{
    for (size_t i = 0; i < bs->n; i++)
        free(bs->v[i].dst);
    free(bs->v);
}

static const char *propagation(pod_propagation p)
{
    switch (p) {
    case POD_PROPAGATION_HOST_TO_CONTAINER:
        return "rslave";
    case POD_PROPAGATION_BIDIRECTIONAL:
        return "rshared";
    default:
        return "rprivate";
    }
}

static int check_mount(const pod_mount *m, size_t i, wc_err *err)
{
    if (m->container_path[0] != '/')
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "mounts[%zu].container_path: \"%s\" is not an absolute path", i,
                          m->container_path);
    if (m->image[0])
        return wc_err_set(err, WC_UNIMPLEMENTED, "mounts[%zu]: image volumes are not supported", i);
    if (!m->host_path[0])
        return wc_err_set(err, WC_INVALID_ARGUMENT, "mounts[%zu].host_path: empty", i);
    if (m->id_mapped)
        return wc_err_set(err, WC_UNIMPLEMENTED,
                          "mounts[%zu]: ID-mapped mounts need user namespaces, not supported", i);
    if (m->recursive_read_only && (!m->readonly || m->propagation != POD_PROPAGATION_PRIVATE))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "mounts[%zu].recursive_read_only: needs readonly and private "
                          "propagation",
                          i);
    return 0;
}

/* rbind + propagation + ro/rw, and the rootfs propagation a slave/shared bind needs to
 * actually receive events (runc's default root propagation is rprivate). */
static int add_cri_mounts(pod_build *b, binds *bs, json_t *linux_obj, wc_err *err)
{
    const pod_container_config *cc = b->cc;
    for (size_t i = 0; i < cc->n_mounts; i++) {
        const pod_mount *m = &cc->mounts[i];
        if (check_mount(m, i, err) < 0)
            return -1;
        bind *bd = add_bind(bs, m->container_path, m->host_path);
        const char *prop = propagation(m->propagation);
        bd->opts[0] = "rbind";
        bd->opts[1] = prop;
        bd->opts[2] = !m->readonly ? "rw" : m->recursive_read_only ? "rro" : "ro";
        const char *root = json_string_value(json_object_get(linux_obj, "rootfsPropagation"));
        if (strcmp(prop, "rshared") == 0 || (strcmp(prop, "rslave") == 0 && !root))
            json_object_set_new(linux_obj, "rootfsPropagation", json_string(prop));
    }
    return 0;
}

/* Sandbox files and, for a host-IPC pod, the host's /dev/shm, unless a CRI mount already
 * covers the destination (kubelet usually mounts its own /etc/hosts). */
static void add_extra(binds *bs, const char *dst, const char *src, int ro)
{
    char *clean = clean_path(dst);
    int taken = find_bind(bs, clean) != NULL;
    free(clean);
    if (!src || !src[0] || taken)
        return;
    bind *bd = add_bind(bs, dst, src);
    bd->opts[0] = "rbind";
    bd->opts[1] = "rprivate";
    bd->opts[2] = ro ? "ro" : "rw";
}

static int by_depth(const void *a, const void *b)
{
    const bind *x = a, *y = b;
    if (x->depth != y->depth)
        return x->depth - y->depth;
    return x->seq < y->seq ? -1 : x->seq > y->seq; /* keep the given order among equals */
}

static json_t *mount_json(const char *dst, const char *type, const char *src,
                          const char *const *opts)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type", type, "source", src,
                     "options", pod_strv(opts));
}

static int covered(binds *bs, const char *dst)
{
    if (find_bind(bs, dst))
        return 1;
    return strncmp(dst, "/dev/", 5) == 0 && find_bind(bs, "/dev");
}

static void default_mounts(pod_build *b, binds *bs, json_t *mounts)
{
    const char *sys_mode = b->privileged ? "rw" : "ro";
    struct {
        const char *dst, *type, *src, *opts[8];
    } defs[] = {
        {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}},
        {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
        {"/dev/pts",
         "devpts",
         "devpts",
         {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
        {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
        {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}},
        {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", sys_mode}},
        {"/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", sys_mode}},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        if (!covered(bs, defs[i].dst))
            json_array_append_new(mounts,
                                  mount_json(defs[i].dst, defs[i].type, defs[i].src, defs[i].opts));
    }
}

int pod_oci_mounts(pod_build *b, json_t *spec, wc_err *err)
{
    binds bs = {0};
    json_t *linux_obj = json_object_get(spec, "linux");
    int ro = b->sc && b->sc->readonly_rootfs;
    if (add_cri_mounts(b, &bs, linux_obj, err) < 0) {
        free_binds(&bs);
        return -1;
    }
    add_extra(&bs, "/etc/hostname", b->in->hostname_path, ro);
    add_extra(&bs, "/etc/hosts", b->in->hosts_path, ro);
    add_extra(&bs, "/etc/resolv.conf", b->in->resolv_conf_path, ro);
    if (pod_ns_ipc(b) == POD_NS_NODE)
        add_extra(&bs, "/dev/shm", "/dev/shm", 0);
    json_t *mounts = json_array();
    json_object_set_new(spec, "mounts", mounts);
    default_mounts(b, &bs, mounts);
    if (bs.n > 1) /* with none, bs.v is NULL, which qsort must not be given */
        qsort(bs.v, bs.n, sizeof *bs.v, by_depth);
    for (size_t i = 0; i < bs.n; i++)
        json_array_append_new(mounts, mount_json(bs.v[i].dst, "bind", bs.v[i].src, bs.v[i].opts));
    free_binds(&bs);
    return 0;
}
