/* The Linux compute backend (hcs/runtime.h): each container is an OCI bundle driven by an OCI
 * runtime binary (runc) with its state under <state_dir>/runc. The rootfs is an overlay
 * mounted by us; stdio goes through FIFOs in the bundle (or a pty with a terminal). */
#include "hcs/runtime_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "hcs/oom_linux.h"

/* A runtime call that takes longer than this is stuck; it is killed and reported. */
#define HCS_RUNC_TIMEOUT_MS 60000

struct hcs_ctr {
    hcs_ctr *next;
    char *id;
    char *bundle;
    /* Our holds on the FIFOs, kept from create until the caller opens its own ends: they keep
     * the pipes alive (no SIGPIPE, no early EOF) while nobody else has them. */
    int keep_out, keep_err, keep_in;
    int pty; /* the terminal's master (stdout and stdin), -1 without a terminal or before spawn */
    int tty;
    int open_stdin;
    int spawned;   /* the runtime's container exists (hcs_spawn) */
    hcs_cgroup cg; /* found at create, or on the first stats call after a restart */
};

/* ---- small helpers ---- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int valid_id(const char *id)
{
    if (!id || !*id || strlen(id) > 1024 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return 0;
    return strchr(id, '/') == NULL;
}

static void bundle_path(char *out, size_t cap, const char *bundle, const char *name)
{
    snprintf(out, cap, "%s/%s", bundle, name);
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = wc_xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap)
            buf = wc_xrealloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Plain write: runc reads it at once; a crash before it is on disk loses only a bundle that
 * recovery rebuilds anyway. */
static int write_text(const char *path, const char *data, size_t len, wc_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot create %s", path);
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return wc_err_sys(err, WC_INTERNAL, e, "cannot write %s", path);
        }
        off += (size_t)n;
    }
    close(fd);
    return 0;
}

static int write_json(const char *path, const json_t *doc, wc_err *err)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    if (!text)
        return wc_err_set(err, WC_INTERNAL, "cannot serialize %s", path);
    int rc = write_text(path, text, strlen(text), err);
    free(text);
    return rc;
}

/* ---- the container registry ---- */

static hcs_ctr *ctr_find(hcs_runtime *rt, const char *id)
{
    for (hcs_ctr *c = rt->ctrs; c; c = c->next)
        if (strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

static void ctr_free(hcs_ctr *c)
{
    if (!c)
        return;
    close_fd(&c->keep_out);
    close_fd(&c->keep_err);
    close_fd(&c->keep_in);
    close_fd(&c->pty);
    hcs_cgroup_clear(&c->cg);
    free(c->id);
    free(c->bundle);
    free(c);
}

static hcs_ctr *ctr_new(const char *id, const char *bundle)
{
    hcs_ctr *c = wc_xcalloc(1, sizeof *c);
    c->keep_out = c->keep_err = c->keep_in = c->pty = -1;
    c->id = wc_xstrdup(id);
    c->bundle = wc_xstrdup(bundle);
    return c;
}

static hcs_ctr *ctr_unlink(hcs_runtime *rt, const char *id)
{
    for (hcs_ctr **p = &rt->ctrs; *p; p = &(*p)->next)
        if (strcmp((*p)->id, id) == 0) {
            hcs_ctr *c = *p;
            *p = c->next;
            return c;
        }
    return NULL;
}

static void link_path(const hcs_runtime *rt, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", rt->links, id);
}

/* The container's bundle: from memory, or from the link left at create (after a restart).
 * Caller frees; NULL when unknown. */
static char *bundle_of(hcs_runtime *rt, const char *id)
{
    pthread_mutex_lock(&rt->mu);
    hcs_ctr *c = ctr_find(rt, id);
    char *b = c ? wc_xstrdup(c->bundle) : NULL;
    pthread_mutex_unlock(&rt->mu);
    if (b)
        return b;
    char link[PATH_MAX], target[PATH_MAX];
    link_path(rt, id, link, sizeof link);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return NULL;
    target[n] = '\0';
    return wc_xstrdup(target);
}

/* ---- running the OCI runtime ---- */

/* Runs `runtime --root R args...` (stdin: input when given) with the standard timeout. */
static int runc_run(hcs_runtime *rt, const char *const *args, const char *input,
                    hcs_run_result *res, wc_err *err)
{
    const char **argv = hcs_runc_argv(rt, NULL, args);
    hcs_run_opts o;
    hcs_run_opts_init(&o);
    o.input = input;
    o.input_len = input ? strlen(input) : 0;
    o.timeout_ms = HCS_RUNC_TIMEOUT_MS;
    int rc = hcs_run(argv, &o, res, err);
    free(argv);
    return rc;
}

static int says_missing(const char *msg)
{
    return strstr(msg, "does not exist") != NULL;
}

/* Fails with the runtime's own message: "<verb> container <id>: <message>". */
static int runc_failed(hcs_runtime *rt, const char *verb, const char *id, wc_code code,
                       const hcs_run_result *res, wc_err *err)
{
    char msg[WC_ERR_MSG_MAX];
    hcs_runc_message(res->err, res->err_len, msg, sizeof msg);
    if (!*msg)
        hcs_runc_message(res->out, res->out_len, msg, sizeof msg);
    if (res->timed_out)
        snprintf(msg, sizeof msg, "%s did not answer in %d s", rt->binary,
                 HCS_RUNC_TIMEOUT_MS / 1000);
    if (says_missing(msg))
        code = WC_NOT_FOUND;
    return wc_err_set(err, code, "%s container %s: %s (exit %d)", verb, id,
                      *msg ? msg : "no message", res->status);
}

/* A runtime verb that either works or fails with the runtime's message. */
static int runc_verb(hcs_runtime *rt, const char *verb, const char *id, wc_code code,
                     const char *const *args, const char *input, wc_err *err)
{
    if (!valid_id(id))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "invalid container id \"%s\"", id ? id : "");
    hcs_run_result res;
    if (runc_run(rt, args, input, &res, err) < 0)
        return wc_err_prefix(err, "%s container %s", verb, id);
    int rc = res.status == 0 ? 0 : runc_failed(rt, verb, id, code, &res, err);
    hcs_run_result_clear(&res);
    return rc;
}

/* ---- open / close ---- */

static int read_oom_floor(void)
{
    char *text = read_text("/proc/self/oom_score_adj", NULL);
    int v = text ? atoi(text) : 0;
    free(text);
    return v;
}

static void runtime_free(hcs_runtime *rt)
{
    hcs_reaper_stop(rt->reaper);
    while (rt->ctrs) {
        hcs_ctr *c = rt->ctrs;
        rt->ctrs = c->next;
        ctr_free(c);
    }
    json_decref(rt->survey);
    pthread_mutex_destroy(&rt->mu);
    free(rt->name);
    free(rt->binary);
    free(rt->state_dir);
    free(rt->root);
    free(rt->links);
    free(rt);
}

static int runtime_dirs(hcs_runtime *rt, const char *state_dir, wc_err *err)
{
    rt->state_dir = wc_xstrdup(state_dir);
    rt->root = wc_path_join(state_dir, "runc");
    rt->links = wc_path_join(state_dir, "bundles");
    char *exec_dir = wc_path_join(state_dir, "exec");
    int rc = 0;
    if (wc_mkdir_p(rt->root, 0700, err) < 0 || wc_mkdir_p(rt->links, 0700, err) < 0 ||
        wc_mkdir_p(exec_dir, 0700, err) < 0)
        rc = -1;
    free(exec_dir);
    return rc;
}

int hcs_runtime_open(const wc_config *cfg, const wc_runtime_handler *handler, const char *state_dir,
                     hcs_exit_fn on_exit, void *exit_ctx, hcs_runtime **out, wc_err *err)
{
    (void)cfg;
    *out = NULL;
    hcs_runtime *rt = wc_xcalloc(1, sizeof *rt);
    pthread_mutex_init(&rt->mu, NULL);
    rt->name = wc_xstrdup(handler->name ? handler->name : "");
    rt->on_exit = on_exit;
    rt->exit_ctx = exit_ctx;
    rt->oom_floor = read_oom_floor();
    rt->binary = hcs_find_binary(handler->runtime);
    if (!rt->binary) {
        wc_err_set(err, WC_FAILED_PRECONDITION,
                   "runtime handler \"%s\": OCI runtime \"%s\" not found in PATH",
                   rt->name ? rt->name : "", handler->runtime ? handler->runtime : "");
        runtime_free(rt);
        return -1;
    }
    if (runtime_dirs(rt, state_dir, err) < 0 ||
        hcs_reaper_start(on_exit, exit_ctx, &rt->reaper, err) < 0) {
        runtime_free(rt);
        return -1;
    }
    wc_info("hcs", "runtime ready", "handler=%s binary=%s root=%s oom_floor=%d", rt->name,
            rt->binary, rt->root, rt->oom_floor);
    *out = rt;
    return 0;
}

void hcs_runtime_close(hcs_runtime *rt)
{
    /* Containers keep running: only our own fds, thread and memory go. */
    if (rt)
        runtime_free(rt);
}

/* ---- create ---- */

/* Everything hcs_create made, so a failure can take it all back. */
typedef struct hcs_mk {
    hcs_runtime *rt;
    const char *id;
    const char *bundle;
    char rootfs[PATH_MAX];
    int made_bundle, made_rootfs, mounted, created, linked;
    int keep[3];  /* our holds: stdin (as writer), stdout, stderr (as readers) */
    int child[3]; /* the ends runc hands to the container's init */
    int con_listen;
    char *con_path;
    int pty;
    int pid;
    hcs_cgroup cg;
} hcs_mk;

static const char *const hcs_fifo_names[3] = {"stdin", "stdout", "stderr"};

static void remove_bundle_files(const char *bundle)
{
    static const char *const files[] = {"stdin",    "stdout",       "stderr",     "init.pid",
                                        "runc.log", "console.sock", "config.json"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        bundle_path(path, sizeof path, bundle, files[i]);
        unlink(path);
    }
}

static void mk_rollback(hcs_mk *m)
{
    wc_err ignored = {0};
    if (m->created) {
        const char *args[] = {"delete", "--force", m->id, NULL};
        hcs_run_result res;
        if (runc_run(m->rt, args, NULL, &res, &ignored) == 0)
            hcs_run_result_clear(&res);
    }
    for (int i = 0; i < 3; i++) {
        close_fd(&m->keep[i]);
        close_fd(&m->child[i]);
    }
    close_fd(&m->con_listen);
    close_fd(&m->pty);
    hcs_console_remove(m->con_path);
    if (m->mounted)
        hcs_rootfs_unmount(m->rootfs, &ignored);
    if (m->made_rootfs)
        rmdir(m->rootfs);
    remove_bundle_files(m->bundle);
    if (m->made_bundle)
        rmdir(m->bundle);
    if (m->linked) {
        char link[PATH_MAX];
        link_path(m->rt, m->id, link, sizeof link);
        unlink(link);
    }
    hcs_cgroup_clear(&m->cg);
}

static int mk_dirs(hcs_mk *m, wc_err *err)
{
    struct stat st;
    if (stat(m->bundle, &st) < 0) {
        if (wc_mkdir_p(m->bundle, 0700, err) < 0)
            return -1;
        m->made_bundle = 1;
    }
    /* The link first: whatever create leaves behind if wincrid dies midway (a mount, runc's
     * state), hcs_delete finds it again through the link. */
    char link[PATH_MAX];
    link_path(m->rt, m->id, link, sizeof link);
    unlink(link);
    if (symlink(m->bundle, link) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot link %s", link);
    m->linked = 1;
    bundle_path(m->rootfs, sizeof m->rootfs, m->bundle, "rootfs");
    if (mkdir(m->rootfs, 0755) == 0)
        m->made_rootfs = 1;
    else if (errno != EEXIST)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot create %s", m->rootfs);
    return 0;
}

/* The spec as the runtime gets it: our rootfs (read-only when the spec or the rootfs says
 * so), the asked terminal, a reachable OOM score. */
static json_t *bundle_spec(const hcs_runtime *rt, json_t *spec, const hcs_rootfs *fs,
                           const hcs_io *io)
{
    json_t *doc = json_deep_copy(spec);
    if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    int readonly =
        fs->readonly || json_is_true(json_object_get(json_object_get(doc, "root"), "readonly"));
    json_object_set_new(doc, "root",
                        json_pack("{s:s, s:b}", "path", "rootfs", "readonly", readonly));
    json_t *proc = json_object_get(doc, "process");
    if (json_is_object(proc)) {
        json_object_set_new(proc, "terminal", json_boolean(io->terminal));
        /* Without CAP_SYS_RESOURCE nobody here may go below the daemon's own score. */
        json_t *adj = json_object_get(proc, "oomScoreAdj");
        if (json_is_integer(adj) && json_integer_value(adj) < rt->oom_floor)
            json_object_set_new(proc, "oomScoreAdj", json_integer(rt->oom_floor));
    }
    return doc;
}

static int mk_config(hcs_mk *m, json_t *spec, const hcs_rootfs *fs, const hcs_io *io, wc_err *err)
{
    /* Resolved in the caller's spec too, so later execs run as the same user. */
    if (json_is_object(spec) && hcs_resolve_user(m->rootfs, spec, m->id, err) < 0)
        return -1;
    json_t *doc = bundle_spec(m->rt, spec, fs, io);
    if (!doc)
        return wc_err_set(err, WC_INVALID_ARGUMENT, "container %s: the OCI spec is not an object",
                          m->id);
    char path[PATH_MAX];
    bundle_path(path, sizeof path, m->bundle, "config.json");
    int rc = write_json(path, doc, err);
    json_decref(doc);
    return rc;
}

/* Our hold on a FIFO of the bundle: O_RDWR, so opening the other end never blocks and the
 * pipe never loses its last reader or writer while wincrid runs. */
static int hold_fifo(const char *bundle, int which, int *fd, wc_err *err)
{
    char path[PATH_MAX];
    bundle_path(path, sizeof path, bundle, hcs_fifo_names[which]);
    *fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (*fd < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot open FIFO %s", path);
    return 0;
}

/* One FIFO, made at create with our hold; the container's end comes at spawn. */
static int mk_fifo(hcs_mk *m, int which, wc_err *err)
{
    char path[PATH_MAX];
    bundle_path(path, sizeof path, m->bundle, hcs_fifo_names[which]);
    unlink(path);
    if (mkfifo(path, 0600) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot create FIFO %s", path);
    return hold_fifo(m->bundle, which, &m->keep[which], err);
}

static int mk_fifos(hcs_mk *m, const hcs_io *io, wc_err *err)
{
    if (io->terminal) /* the terminal comes at spawn; a stdin FIFO only marks it writable */
        return io->open_stdin ? mk_fifo(m, 0, err) : 0;
    if (io->open_stdin && mk_fifo(m, 0, err) < 0)
        return -1;
    if (mk_fifo(m, 1, err) < 0 || mk_fifo(m, 2, err) < 0)
        return -1;
    return 0;
}

/* The end of a FIFO the container's init gets, blocking as programs expect. */
static int open_child_end(hcs_mk *m, int which, wc_err *err)
{
    char path[PATH_MAX];
    bundle_path(path, sizeof path, m->bundle, hcs_fifo_names[which]);
    int mode = which == 0 ? O_RDONLY | O_NONBLOCK : O_WRONLY | O_NONBLOCK;
    m->child[which] = open(path, mode | O_CLOEXEC);
    if (m->child[which] < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot open FIFO %s", path);
    fcntl(m->child[which], F_SETFL, 0);
    return 0;
}

/* The init's stdio at spawn: the FIFOs' ends, or a console socket for the terminal. */
static int mk_child_stdio(hcs_mk *m, int tty, int open_stdin, wc_err *err)
{
    if (tty)
        return hcs_console_listen(m->bundle, &m->con_listen, &m->con_path, err);
    if (open_stdin && open_child_end(m, 0, err) < 0)
        return -1;
    if (open_child_end(m, 1, err) < 0 || open_child_end(m, 2, err) < 0)
        return -1;
    return 0;
}

/* `runc create`; on failure the runtime's message comes from its JSON log, since its stderr
 * is the container's. */
static int mk_runc_create(hcs_mk *m, wc_err *err)
{
    char pidfile[PATH_MAX], logfile[PATH_MAX];
    bundle_path(pidfile, sizeof pidfile, m->bundle, "init.pid");
    bundle_path(logfile, sizeof logfile, m->bundle, "runc.log");
    unlink(logfile);
    const char *args[] = {"create", "--bundle", m->bundle, "--pid-file", pidfile,
                          NULL,     NULL,       NULL,      NULL};
    size_t k = 5;
    if (m->con_path) {
        args[k++] = "--console-socket";
        args[k++] = m->con_path;
    }
    args[k] = m->id;
    const char **argv = hcs_runc_argv(m->rt, logfile, args);
    hcs_run_opts o;
    hcs_run_opts_init(&o);
    o.stdin_fd = m->child[0];
    o.stdout_fd = m->child[1];
    o.stderr_fd = m->child[2];
    o.console_listen = m->con_listen;
    o.timeout_ms = HCS_RUNC_TIMEOUT_MS;
    hcs_run_result res;
    int rc = hcs_run(argv, &o, &res, err);
    free(argv);
    if (rc < 0)
        return wc_err_prefix(err, "create container %s", m->id);
    m->pty = res.console_fd;
    res.console_fd = -1;
    if (res.status != 0) {
        size_t len = 0;
        char *log = read_text(logfile, &len);
        free(res.err);
        res.err = log;
        res.err_len = log ? len : 0;
        rc = runc_failed(m->rt, "create", m->id, WC_FAILED_PRECONDITION, &res, err);
        /* A container of that id that we do not know of is not ours to roll back. */
        if (strstr(err->msg, "already exists")) {
            err->code = WC_ALREADY_EXISTS;
            hcs_run_result_clear(&res);
            return rc;
        }
    } else if (m->con_path && m->pty < 0) {
        rc = wc_err_set(err, WC_INTERNAL, "create container %s: %s sent no terminal", m->id,
                        m->rt->binary);
    }
    m->created = 1; /* on failure too: the rollback's delete --force cleans runc's leftovers */
    hcs_run_result_clear(&res);
    return rc;
}

/* After a successful create: the init pid, its cgroup, the reaper's watch. */
static int mk_register(hcs_mk *m, wc_err *err)
{
    char pidfile[PATH_MAX];
    bundle_path(pidfile, sizeof pidfile, m->bundle, "init.pid");
    char *text = read_text(pidfile, NULL);
    m->pid = text ? atoi(text) : 0;
    free(text);
    if (m->pid <= 0)
        return wc_err_set(err, WC_INTERNAL, "create container %s: no pid in %s", m->id, pidfile);
    wc_err cgerr = {0};
    if (hcs_cgroup_of_pid(m->pid, &m->cg, &cgerr) < 0)
        wc_warn("hcs", "no cgroup for container", "container=%s err=\"%s\"", m->id, cgerr.msg);
    return hcs_reaper_watch(m->rt->reaper, m->pid, m->id, NULL, m->cg.memory, err);
}

static int mk_publish(hcs_mk *m, const hcs_io *io, wc_err *err)
{
    hcs_ctr *c = ctr_new(m->id, m->bundle);
    c->keep_in = m->keep[0];
    c->keep_out = m->keep[1];
    c->keep_err = m->keep[2];
    c->tty = io->terminal;
    c->open_stdin = io->open_stdin;
    m->keep[0] = m->keep[1] = m->keep[2] = -1;
    pthread_mutex_lock(&m->rt->mu);
    c->next = m->rt->ctrs;
    m->rt->ctrs = c;
    pthread_mutex_unlock(&m->rt->mu);
    return 0;
}

static int mk_check_new(hcs_runtime *rt, const char *id, const char *bundle, wc_err *err)
{
    if (!valid_id(id))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "invalid container id \"%s\"", id ? id : "");
    if (!bundle || bundle[0] != '/')
        return wc_err_set(err, WC_INVALID_ARGUMENT, "container %s: bundle must be absolute", id);
    char *known = bundle_of(rt, id);
    int exists = known != NULL;
    free(known);
    if (exists)
        return wc_err_set(err, WC_ALREADY_EXISTS, "container %s already exists", id);
    return 0;
}

/* Linux pods keep no backend state of their own: their namespaces belong to the pod model. */
int hcs_pod_release(hcs_runtime *rt, const char *sandbox_id, wc_err *err)
{
    (void)rt;
    (void)sandbox_id;
    (void)err;
    return 0;
}

int hcs_create(hcs_runtime *rt, const char *id, const char *sandbox_id, const char *bundle,
               json_t *spec, const hcs_rootfs *rootfs, const hcs_io *io, wc_err *err)
{
    (void)sandbox_id; /* on Linux a pod keeps nothing in the backend */
    if (mk_check_new(rt, id, bundle, err) < 0)
        return -1;
    hcs_mk m = {.rt = rt, .id = id, .bundle = bundle, .con_listen = -1, .pty = -1};
    for (int i = 0; i < 3; i++)
        m.keep[i] = m.child[i] = -1;
    if (mk_dirs(&m, err) < 0 || hcs_rootfs_mount(m.rootfs, rootfs, err) < 0)
        goto fail;
    m.mounted = 1;
    if (mk_config(&m, spec, rootfs, io, err) < 0 || mk_fifos(&m, io, err) < 0 ||
        mk_publish(&m, io, err) < 0)
        goto fail;
    wc_info("hcs", "container prepared", "container=%s bundle=%s", id, bundle);
    return 0;
fail:
    mk_rollback(&m);
    free(m.con_path);
    wc_info("hcs", "container create failed", "container=%s err=\"%s\"", id, err->msg);
    return -1;
}

/* ---- lifecycle verbs ---- */

static int runc_state(hcs_runtime *rt, const char *id, hcs_state *out, wc_err *err);
static int prepared(hcs_runtime *rt, const char *id);

int hcs_start(hcs_runtime *rt, const char *id, wc_err *err)
{
    pthread_mutex_lock(&rt->mu);
    hcs_ctr *c = valid_id(id) ? ctr_find(rt, id) : NULL;
    int known = c != NULL, spawned = c && c->spawned;
    pthread_mutex_unlock(&rt->mu);
    int pid;
    hcs_state st = {.status = HCS_RUNNING};
    if (!spawned && valid_id(id) && !known && runc_state(rt, id, &st, err) < 0)
        return -1;
    if (!spawned && (known || (st.status == HCS_MISSING && prepared(rt, id))) &&
        hcs_spawn(rt, id, &pid, err) < 0)
        return -1;
    /* Spawned before a restart: watch it now, or its exit would never be reported. */
    wc_err ignored = {0};
    if (!known && valid_id(id) && hcs_adopt(rt, id, &ignored) < 0)
        wc_debug("hcs", "not adopted before start", "container=%s err=\"%s\"", id, ignored.msg);
    const char *args[] = {"start", id, NULL};
    return runc_verb(rt, "start", id, WC_FAILED_PRECONDITION, args, NULL, err);
}

int hcs_kill(hcs_runtime *rt, const char *id, int sig, int all, wc_err *err)
{
    char num[16];
    snprintf(num, sizeof num, "%d", sig);
    const char *args[] = {"kill", id, num, NULL, NULL};
    if (all) {
        args[1] = "--all";
        args[2] = id;
        args[3] = num;
    }
    return runc_verb(rt, "kill", id, WC_FAILED_PRECONDITION, args, NULL, err);
}

int hcs_pause(hcs_runtime *rt, const char *id, wc_err *err)
{
    const char *args[] = {"pause", id, NULL};
    return runc_verb(rt, "pause", id, WC_FAILED_PRECONDITION, args, NULL, err);
}

int hcs_resume(hcs_runtime *rt, const char *id, wc_err *err)
{
    const char *args[] = {"resume", id, NULL};
    return runc_verb(rt, "resume", id, WC_FAILED_PRECONDITION, args, NULL, err);
}

int hcs_update(hcs_runtime *rt, const char *id, const json_t *linux_resources, wc_err *err)
{
    if (!json_is_object(linux_resources))
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "update container %s: resources must be an object", id ? id : "");
    char *text = json_dumps(linux_resources, JSON_COMPACT);
    if (!text)
        return wc_err_set(err, WC_INTERNAL, "update container %s: cannot serialize", id);
    const char *args[] = {"update", "--resources", "-", id, NULL};
    int rc = runc_verb(rt, "update", id, WC_INTERNAL, args, text, err);
    free(text);
    return rc;
}

/* Takes down what create set up around the runtime's container. */
static int drop_bundle(hcs_runtime *rt, const char *id, const char *bundle, wc_err *err)
{
    char rootfs[PATH_MAX], link[PATH_MAX];
    bundle_path(rootfs, sizeof rootfs, bundle, "rootfs");
    if (hcs_rootfs_unmount(rootfs, err) < 0)
        return wc_err_prefix(err, "delete container %s", id);
    rmdir(rootfs);
    remove_bundle_files(bundle);
    link_path(rt, id, link, sizeof link);
    unlink(link);
    pthread_mutex_lock(&rt->mu);
    hcs_ctr *c = ctr_unlink(rt, id);
    pthread_mutex_unlock(&rt->mu);
    ctr_free(c);
    return 0;
}

/* ---- the runtime's view of its containers ---- */

static hcs_status parse_status(const char *s)
{
    if (strcmp(s, "created") == 0)
        return HCS_CREATED;
    if (strcmp(s, "running") == 0)
        return HCS_RUNNING;
    if (strcmp(s, "paused") == 0 || strcmp(s, "pausing") == 0)
        return HCS_PAUSED;
    return HCS_STOPPED;
}

/* The runtime's own view: MISSING for a container it does not know. */
void hcs_survey_begin(hcs_runtime *rt)
{
    const char *args[] = {"list", "--format", "json", NULL};
    hcs_run_result res;
    wc_err err = {0};
    if (runc_run(rt, args, NULL, &res, &err) < 0 || res.status != 0) {
        wc_warn("hcs", "cannot list the runtime's containers at once", "error=\"%s\"", err.msg);
        if (!err.code)
            hcs_run_result_clear(&res);
        return;
    }
    /* runc prints `null` when it has none. */
    json_t *list = json_loadb(res.out, res.out_len, 0, NULL);
    hcs_run_result_clear(&res);
    json_t *byid = json_object();
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *id = json_string_value(json_object_get(e, "id"));
        if (id)
            json_object_set(byid, id, e);
    }
    json_decref(list);
    pthread_mutex_lock(&rt->mu);
    json_decref(rt->survey);
    rt->survey = byid;
    pthread_mutex_unlock(&rt->mu);
}

void hcs_survey_end(hcs_runtime *rt)
{
    pthread_mutex_lock(&rt->mu);
    json_decref(rt->survey);
    rt->survey = NULL;
    pthread_mutex_unlock(&rt->mu);
}

/* 1 when the survey answered (out set), 0 when there is none. */
static int surveyed_state(hcs_runtime *rt, const char *id, hcs_state *out)
{
    pthread_mutex_lock(&rt->mu);
    int have = rt->survey != NULL;
    json_t *e = have ? json_object_get(rt->survey, id) : NULL;
    const char *status = json_string_value(json_object_get(e, "status"));
    if (status) {
        out->status = parse_status(status);
        out->pid = (int)json_integer_value(json_object_get(e, "pid"));
    }
    pthread_mutex_unlock(&rt->mu);
    return have;
}

static void survey_forget(hcs_runtime *rt, const char *id)
{
    pthread_mutex_lock(&rt->mu);
    if (rt->survey)
        json_object_del(rt->survey, id);
    pthread_mutex_unlock(&rt->mu);
}

/* Whether runc still has a state directory for the container (it is gone once deleted). */
static int runc_holds(const hcs_runtime *rt, const char *id)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", rt->root, id);
    return access(path, F_OK) == 0;
}

/* `runc delete --force`: runc's state, the cgroup and any process left. */
static int runc_forget(hcs_runtime *rt, const char *id, wc_err *err)
{
    survey_forget(rt, id);
    const char *args[] = {"delete", "--force", id, NULL};
    hcs_run_result res;
    if (runc_run(rt, args, NULL, &res, err) < 0)
        return wc_err_prefix(err, "delete container %s", id);
    int rc = 0;
    if (res.status != 0) {
        char msg[WC_ERR_MSG_MAX];
        hcs_runc_message(res.err, res.err_len, msg, sizeof msg);
        if (!says_missing(msg))
            rc = runc_failed(rt, "delete", id, WC_INTERNAL, &res, err);
    }
    hcs_run_result_clear(&res);
    return rc;
}

int hcs_release(hcs_runtime *rt, const char *id, wc_err *err)
{
    if (!valid_id(id))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "invalid container id \"%s\"", id ? id : "");
    if (runc_holds(rt, id) && runc_forget(rt, id, err) < 0)
        return -1;
    /* Not prepared any more either: from now on hcs_state_of says MISSING, not CREATED. Its
     * rootfs goes too (nothing reads it once the processes are gone; the writable layer's
     * files stay for stats and removal), so RemoveContainer has no unmount to wait for. */
    char *bundle = bundle_of(rt, id);
    int rc = 0;
    if (bundle) {
        char path[PATH_MAX];
        bundle_path(path, sizeof path, bundle, "config.json");
        unlink(path);
        bundle_path(path, sizeof path, bundle, "rootfs");
        rc = hcs_rootfs_unmount(path, err);
    }
    free(bundle);
    return rc;
}

int hcs_delete(hcs_runtime *rt, const char *id, wc_err *err)
{
    if (hcs_release(rt, id, err) < 0)
        return -1;
    char *bundle = bundle_of(rt, id);
    int rc = bundle ? drop_bundle(rt, id, bundle, err) : 0;
    free(bundle);
    if (rc == 0)
        wc_info("hcs", "container deleted", "container=%s", id);
    return rc;
}

static int runc_state(hcs_runtime *rt, const char *id, hcs_state *out, wc_err *err)
{
    out->status = HCS_MISSING;
    out->pid = 0;
    if (!valid_id(id))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "invalid container id \"%s\"", id ? id : "");
    if (surveyed_state(rt, id, out))
        return 0;
    const char *args[] = {"state", id, NULL};
    hcs_run_result res;
    if (runc_run(rt, args, NULL, &res, err) < 0)
        return wc_err_prefix(err, "state of container %s", id);
    int rc = 0;
    if (res.status != 0) {
        char msg[WC_ERR_MSG_MAX];
        hcs_runc_message(res.err, res.err_len, msg, sizeof msg);
        if (!says_missing(msg))
            rc = runc_failed(rt, "state of", id, WC_INTERNAL, &res, err);
    } else {
        json_error_t je;
        json_t *doc = json_loadb(res.out, res.out_len, 0, &je);
        const char *status = json_string_value(json_object_get(doc, "status"));
        if (!status)
            rc = wc_err_set(err, WC_INTERNAL, "state of container %s: unreadable answer (%s)", id,
                            je.text);
        else {
            out->status = parse_status(status);
            out->pid = (int)json_integer_value(json_object_get(doc, "pid"));
        }
        json_decref(doc);
    }
    hcs_run_result_clear(&res);
    return rc;
}

/* Prepared by hcs_create, not yet spawned: its bundle has a config. */
static int prepared(hcs_runtime *rt, const char *id)
{
    char *bundle = bundle_of(rt, id);
    char path[PATH_MAX];
    struct stat st;
    int yes = 0;
    if (bundle) {
        bundle_path(path, sizeof path, bundle, "config.json");
        yes = stat(path, &st) == 0;
    }
    free(bundle);
    return yes;
}

int hcs_state_of(hcs_runtime *rt, const char *id, hcs_state *out, wc_err *err)
{
    if (runc_state(rt, id, out, err) < 0)
        return -1;
    if (out->status == HCS_MISSING && prepared(rt, id))
        out->status = HCS_CREATED; /* the runtime's container comes at spawn */
    return 0;
}

/* ---- spawn: the runtime's container, its init waiting for start ---- */

static int has_fifo(const char *bundle, const char *name);

static int config_terminal(const char *bundle)
{
    char path[PATH_MAX];
    bundle_path(path, sizeof path, bundle, "config.json");
    json_t *doc = json_load_file(path, 0, NULL);
    int tty = json_is_true(json_object_get(json_object_get(doc, "process"), "terminal"));
    json_decref(doc);
    return tty;
}

/* The prepared container's record, with our FIFO holds; rebuilt from its bundle after a
 * restart. Returns its bundle (caller frees) and its stdio shape. */
static char *spawn_target(hcs_runtime *rt, const char *id, int *tty, int *open_stdin, wc_err *err)
{
    char *bundle = bundle_of(rt, id);
    if (!bundle) {
        wc_err_set(err, WC_NOT_FOUND, "container %s not found", id);
        return NULL;
    }
    pthread_mutex_lock(&rt->mu);
    hcs_ctr *c = ctr_find(rt, id);
    if (!c) {
        c = ctr_new(id, bundle);
        c->tty = config_terminal(bundle);
        c->open_stdin = has_fifo(bundle, "stdin");
        c->next = rt->ctrs;
        rt->ctrs = c;
    }
    int rc = 0;
    if (!c->tty && c->keep_out < 0)
        rc = hold_fifo(bundle, 1, &c->keep_out, err) < 0 ||
                     hold_fifo(bundle, 2, &c->keep_err, err) < 0 ||
                     (c->open_stdin && c->keep_in < 0 && hold_fifo(bundle, 0, &c->keep_in, err) < 0)
                 ? -1
                 : 0;
    if (rc == 0) {
        *tty = c->tty;
        *open_stdin = c->open_stdin;
    }
    pthread_mutex_unlock(&rt->mu);
    if (rc < 0) {
        free(bundle);
        return NULL;
    }
    return bundle;
}

/* A runtime container left by a wincrid killed between spawn and start is made afresh: its
 * terminal went with that wincrid. */
static int clear_stale(hcs_runtime *rt, const char *id, wc_err *err)
{
    hcs_state st;
    if (runc_state(rt, id, &st, err) < 0)
        return -1;
    if (st.status == HCS_MISSING)
        return 0;
    if (st.status != HCS_CREATED)
        return wc_err_set(err, WC_FAILED_PRECONDITION, "container %s was already started", id);
    const char *args[] = {"delete", "--force", id, NULL};
    return runc_verb(rt, "delete", id, WC_INTERNAL, args, NULL, err);
}

static void spawn_done(hcs_mk *m)
{
    for (int i = 0; i < 3; i++)
        close_fd(&m->child[i]);
    close_fd(&m->con_listen);
    hcs_console_remove(m->con_path);
    free(m->con_path);
    m->con_path = NULL;
}

int hcs_spawn(hcs_runtime *rt, const char *id, int *pid, wc_err *err)
{
    *pid = 0;
    if (!valid_id(id))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "invalid container id \"%s\"", id ? id : "");
    int tty = 0, open_stdin = 0;
    char *bundle = spawn_target(rt, id, &tty, &open_stdin, err);
    if (!bundle || clear_stale(rt, id, err) < 0) {
        free(bundle);
        return -1;
    }
    hcs_mk m = {.rt = rt, .id = id, .bundle = bundle, .con_listen = -1, .pty = -1};
    for (int i = 0; i < 3; i++)
        m.keep[i] = m.child[i] = -1;
    int rc = mk_child_stdio(&m, tty, open_stdin, err);
    if (rc == 0)
        rc = mk_runc_create(&m, err);
    if (rc == 0)
        rc = mk_register(&m, err);
    if (rc == 0) {
        pthread_mutex_lock(&rt->mu);
        hcs_ctr *c = ctr_find(rt, id);
        if (c) {
            close_fd(&c->pty);
            c->pty = m.pty;
            hcs_cgroup_clear(&c->cg);
            c->cg = m.cg;
            c->spawned = 1;
            m.pty = -1;
            memset(&m.cg, 0, sizeof m.cg);
        }
        pthread_mutex_unlock(&rt->mu);
        *pid = m.pid;
    } else if (m.created) {
        const char *args[] = {"delete", "--force", id, NULL};
        wc_err ignored = {0};
        runc_verb(rt, "delete", id, WC_INTERNAL, args, NULL, &ignored);
    }
    close_fd(&m.pty);
    hcs_cgroup_clear(&m.cg);
    spawn_done(&m);
    free(bundle);
    if (rc == 0)
        wc_info("hcs", "container spawned", "container=%s pid=%d", id, *pid);
    return rc;
}

void hcs_ctr_remember(hcs_runtime *rt, const char *id, hcs_cgroup *cg)
{
    char *bundle = bundle_of(rt, id);
    hcs_ctr *c = bundle ? ctr_new(id, bundle) : NULL;
    free(bundle);
    pthread_mutex_lock(&rt->mu);
    if (c && !ctr_find(rt, id)) {
        c->cg = *cg;
        memset(cg, 0, sizeof *cg);
        c->next = rt->ctrs;
        rt->ctrs = c;
        c = NULL;
    }
    pthread_mutex_unlock(&rt->mu);
    ctr_free(c);
}

/* ---- stdio ---- */

/* Opens a FIFO of the bundle for the caller, blocking and close-on-exec. */
static int open_fifo(const char *bundle, const char *name, int mode, int *fd, wc_err *err)
{
    char path[PATH_MAX];
    bundle_path(path, sizeof path, bundle, name);
    *fd = open(path, mode | O_NONBLOCK | O_CLOEXEC);
    if (*fd < 0)
        return wc_err_sys(err, errno == ENOENT ? WC_NOT_FOUND : WC_FAILED_PRECONDITION, errno,
                          "cannot open %s", path);
    fcntl(*fd, F_SETFL, 0);
    return 0;
}

/* The pty master, duplicated for the caller; -1 when the container has no terminal. */
static int dup_pty(hcs_runtime *rt, const char *id, int want_stdin)
{
    pthread_mutex_lock(&rt->mu);
    hcs_ctr *c = ctr_find(rt, id);
    int fd = -1;
    if (c && c->pty >= 0 && (!want_stdin || c->open_stdin))
        fd = fcntl(c->pty, F_DUPFD_CLOEXEC, 0);
    pthread_mutex_unlock(&rt->mu);
    return fd;
}

/* The caller holds the container's stdin now: drop our hold, so that when the caller closes
 * it the container reads end of file. */
static void release_stdin_hold(hcs_runtime *rt, const char *id)
{
    pthread_mutex_lock(&rt->mu);
    hcs_ctr *c = ctr_find(rt, id);
    if (c)
        close_fd(&c->keep_in);
    pthread_mutex_unlock(&rt->mu);
}

static int has_fifo(const char *bundle, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    bundle_path(path, sizeof path, bundle, name);
    return stat(path, &st) == 0 && S_ISFIFO(st.st_mode);
}

int hcs_open_output(hcs_runtime *rt, const char *id, int *out_fd, int *err_fd, wc_err *err)
{
    *out_fd = *err_fd = -1;
    if (!valid_id(id))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "invalid container id \"%s\"", id ? id : "");
    *out_fd = dup_pty(rt, id, 0);
    if (*out_fd >= 0)
        return 0;
    char *bundle = bundle_of(rt, id);
    if (!bundle)
        return wc_err_set(err, WC_NOT_FOUND, "container %s not found", id);
    int rc = 0;
    if (!has_fifo(bundle, "stdout"))
        rc = wc_err_set(err, WC_FAILED_PRECONDITION,
                        "container %s has no output FIFOs (a terminal cannot be reopened after "
                        "a restart)",
                        id);
    else if (open_fifo(bundle, "stdout", O_RDWR, out_fd, err) < 0 ||
             open_fifo(bundle, "stderr", O_RDWR, err_fd, err) < 0)
        rc = -1;
    free(bundle);
    if (rc < 0) {
        close_fd(out_fd);
        close_fd(err_fd);
        return -1;
    }
    return 0;
}

int hcs_open_stdin(hcs_runtime *rt, const char *id, int *in_fd, wc_err *err)
{
    *in_fd = -1;
    if (!valid_id(id))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "invalid container id \"%s\"", id ? id : "");
    *in_fd = dup_pty(rt, id, 1);
    if (*in_fd >= 0)
        return 0;
    char *bundle = bundle_of(rt, id);
    if (!bundle)
        return wc_err_set(err, WC_NOT_FOUND, "container %s not found", id);
    int rc = 0;
    if (has_fifo(bundle, "stdin"))
        rc = open_fifo(bundle, "stdin", O_WRONLY, in_fd, err);
    free(bundle);
    if (rc == 0 && *in_fd >= 0)
        release_stdin_hold(rt, id);
    return rc;
}

/* The memory cgroup as the container's exit left it (the reaper reads the same). */
int hcs_oom_killed(hcs_runtime *rt, const char *id)
{
    pthread_mutex_lock(&rt->mu);
    hcs_ctr *c = ctr_find(rt, id);
    char *memory = c && c->cg.memory ? wc_xstrdup(c->cg.memory) : NULL;
    pthread_mutex_unlock(&rt->mu);
    int killed = memory && hcs_cgroup_oom_kills(memory) > 0;
    free(memory);
    return killed;
}

/* ---- stats ---- */

/* The container's cgroup, cached; found through its init pid when not known yet. */
static int cgroup_of(hcs_runtime *rt, const char *id, hcs_cgroup *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&rt->mu);
    hcs_ctr *c = ctr_find(rt, id);
    if (c && c->cg.memory) {
        out->v2 = c->cg.v2;
        out->memory = wc_xstrdup(c->cg.memory);
        out->cpu = wc_xstrdup(c->cg.cpu);
    }
    pthread_mutex_unlock(&rt->mu);
    if (out->memory && out->cpu)
        return 0;
    hcs_cgroup_clear(out);
    hcs_state st;
    if (hcs_state_of(rt, id, &st, err) < 0)
        return -1;
    if (st.status == HCS_MISSING)
        return wc_err_set(err, WC_NOT_FOUND, "container %s not found", id);
    if (st.pid <= 0)
        return wc_err_set(err, WC_NOT_FOUND, "container %s has no process to find its cgroup", id);
    return hcs_cgroup_of_pid(st.pid, out, err);
}

int hcs_stats_of(hcs_runtime *rt, const char *id, hcs_stats *out, wc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!valid_id(id))
        return wc_err_set(err, WC_INVALID_ARGUMENT, "invalid container id \"%s\"", id ? id : "");
    hcs_cgroup cg;
    if (cgroup_of(rt, id, &cg, err) < 0)
        return wc_err_prefix(err, "stats of container %s", id);
    int rc = hcs_cgroup_stats(&cg, out, err);
    hcs_cgroup_clear(&cg);
    if (rc < 0)
        return wc_err_prefix(err, "stats of container %s", id);
    return 0;
}
