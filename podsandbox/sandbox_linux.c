/* Linux parts of the pod model: pinned IPC/UTS namespaces, the OCI spec, signals, trees. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/xalloc.h"
#include "podsandbox/ocispec.h"
#include "podsandbox/pidns.h"
#include "podsandbox/platform.h"

static char *ns_dir(pod_manager *pm, const pod_sandbox *s)
{
    char *base = wc_path_join(pm->cfg->state_dir, "ns");
    char *dir = wc_path_join(base, s->id);
    free(base);
    return dir;
}

/* A child enters new IPC and UTS namespaces, names its host, and waits; the parent bind-mounts
 * them so they outlive the child (no pause process). */
static int pin_namespaces(const char *dir, const char *hostname, wc_err *err)
{
    int ready[2], go[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot pin pod namespaces");
    pid_t pid = fork();
    if (pid == 0) {
        /* The child reports 0, or the errno of the step that failed and which step. */
        int report[2] = {0, 0};
        if (unshare(CLONE_NEWIPC | CLONE_NEWUTS) < 0)
            report[0] = errno, report[1] = 1;
        else if (sethostname(hostname, strlen(hostname)) < 0)
            report[0] = errno, report[1] = 2;
        char c;
        if (write(ready[1], report, sizeof report) < 0 || read(go[0], &c, 1) < 0)
            _exit(1);
        _exit(0);
    }
    int fork_errno = errno;
    close(ready[1]);
    close(go[0]);
    int report[2] = {0, 0};
    int rc = 0;
    if (pid < 0) {
        rc = wc_err_sys(err, WC_INTERNAL, fork_errno, "cannot fork to make the pod's namespaces");
    } else if (read(ready[0], report, sizeof report) != sizeof report) {
        rc = wc_err_set(err, WC_INTERNAL, "the process making the pod's namespaces died");
    } else if (report[1] == 1) {
        rc = wc_err_sys(err, WC_INTERNAL, report[0], "cannot create the pod's IPC/UTS namespaces");
    } else if (report[1] == 2) {
        rc = wc_err_sys(err, report[0] == EINVAL ? WC_INVALID_ARGUMENT : WC_INTERNAL, report[0],
                        "cannot set the pod's host name to \"%s\"", hostname);
    } else {
        static const char *const kinds[] = {"ipc", "uts"};
        for (int i = 0; i < 2 && rc == 0; i++) {
            char src[64], dst[4096];
            snprintf(src, sizeof src, "/proc/%d/ns/%s", (int)pid, kinds[i]);
            snprintf(dst, sizeof dst, "%s/%s", dir, kinds[i]);
            int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
            if (fd >= 0)
                close(fd);
            if (fd < 0 || mount(src, dst, NULL, MS_BIND, NULL) < 0)
                rc = wc_err_sys(err, WC_INTERNAL, errno, "cannot pin %s namespace at %s", kinds[i],
                                dst);
        }
    }
    close(ready[0]);
    if (write(go[1], "x", 1) < 0) {
        /* the child exits when the pipe closes anyway */
    }
    close(go[1]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return rc;
}

/* A private mount of the ns dir, so the pins do not propagate into other mount namespaces
 * (which would keep them alive and make unmounting fail). */
static int private_dir(const char *dir, wc_err *err)
{
    if (wc_mkdir_mode(dir, 0700, err) < 0)
        return -1;
    if (mount(dir, dir, NULL, MS_BIND, NULL) < 0 || mount(NULL, dir, NULL, MS_PRIVATE, NULL) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot prepare %s", dir);
    return 0;
}

static int wants_pinned(const pod_sandbox_config *c)
{
    return !c->linux_security.ns.set || c->linux_security.ns.ipc != POD_NS_NODE;
}

static pod_ns_mode pod_pid_mode(const pod_sandbox_config *c)
{
    return c->linux_security.ns.set ? c->linux_security.ns.pid : POD_NS_CONTAINER;
}

int pod_platform_sandbox_setup(pod_manager *pm, pod_sandbox *s, wc_err *err)
{
    if (pod_pid_mode(s->config) == POD_NS_POD && pod_pid_holder_start(s->dir, err) < 0)
        return -1;
    if (!wants_pinned(s->config))
        return 0;
    char host[POD_HOSTNAME_MAX + 1];
    if (pod_sandbox_hostname(s, host, sizeof host, err) < 0)
        return -1;
    char *dir = ns_dir(pm, s);
    int rc = private_dir(dir, err);
    if (rc == 0)
        rc = pin_namespaces(dir, host, err);
    free(dir);
    return rc;
}

/* runc removes a container's cgroup but not the pod-level parent it created under
 * /wincri/<sandbox>; remove it in every hierarchy (v1 controllers and the unified one). */
static void remove_pod_cgroups(const char *sandbox_id)
{
    DIR *d = opendir("/sys/fs/cgroup");
    char path[4096];
    snprintf(path, sizeof path, "/sys/fs/cgroup/wincri/%s", sandbox_id);
    rmdir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/sys/fs/cgroup/%s/wincri/%s", e->d_name, sandbox_id);
        rmdir(path);
    }
    closedir(d);
}

int pod_platform_sandbox_teardown(pod_manager *pm, pod_sandbox *s, wc_err *err)
{
    pod_pid_holder_stop(s->dir);
    remove_pod_cgroups(s->id);
    char *dir = ns_dir(pm, s);
    static const char *const kinds[] = {"ipc", "uts"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, kinds[i]);
        umount2(path, MNT_DETACH);
        unlink(path);
    }
    umount2(dir, MNT_DETACH);
    rmdir(dir);
    free(dir);
    return 0;
}

static char *ns_path(pod_manager *pm, const pod_sandbox *s, const char *kind)
{
    if (!wants_pinned(s->config))
        return wc_xstrdup("");
    char *dir = ns_dir(pm, s);
    char *p = wc_path_join(dir, kind);
    free(dir);
    return p;
}

/* PID mode POD joins the pod's holder; TARGET joins the target container's init. */
static int pid_ns_to_join(pod_manager *pm, const pod_sandbox *s, const pod_container_config *config,
                          char **path, wc_err *err)
{
    const pod_ns_options *ns = config->linux_security.ns.set ? &config->linux_security.ns : NULL;
    pod_ns_mode mode = ns ? ns->pid : pod_pid_mode(s->config);
    *path = NULL;
    if (mode == POD_NS_POD) {
        *path = pod_pid_holder_ns(s->dir);
        if (!*path)
            return wc_err_set(err, WC_FAILED_PRECONDITION,
                              "pod sandbox %s has no shared PID namespace (its holder is gone)",
                              s->id);
    } else if (mode == POD_NS_TARGET) {
        pod_container_info *t = NULL;
        if (pod_container_get(pm, ns->target_id, &t, err) < 0)
            return wc_err_prefix(err, "PID namespace target");
        int running = t->state == POD_CONTAINER_RUNNING && t->pid > 0;
        if (running) {
            *path = wc_xmalloc(48);
            snprintf(*path, 48, "/proc/%d/ns/pid", t->pid);
        }
        pod_container_info_free(t);
        if (!running)
            return wc_err_set(err, WC_FAILED_PRECONDITION,
                              "PID namespace target container %s is not running", ns->target_id);
    }
    return 0;
}

int pod_platform_container_spec(pod_manager *pm, const pod_sandbox *s,
                                const pod_container_config *config, const img_image *img,
                                const char *container_id, json_t **spec, wc_err *err)
{
    WC_AUTOFREE char *ipc = ns_path(pm, s, "ipc");
    WC_AUTOFREE char *uts = ns_path(pm, s, "uts");
    WC_AUTOFREE char *resolv = wc_path_join(s->dir, "resolv.conf");
    WC_AUTOFREE char *hosts = wc_path_join(s->dir, "hosts");
    WC_AUTOFREE char *hostname = wc_path_join(s->dir, "hostname");
    /* kubelet's pod cgroup when it names one; else a pod cgroup of our own. */
    char cgroup[512];
    if (*s->config->cgroup_parent)
        snprintf(cgroup, sizeof cgroup, "%s", s->config->cgroup_parent);
    else
        snprintf(cgroup, sizeof cgroup, "/wincri/%s", s->id);
    pod_spec_input in = {.sandbox = s->config,
                         .container = config,
                         .image_config_json = img->config_json,
                         .sandbox_id = s->id,
                         .container_id = container_id,
                         .netns_path = s->netns,
                         .ipc_ns_path = ipc,
                         .uts_ns_path = uts,
                         .resolv_conf_path = resolv,
                         .hosts_path = hosts,
                         .hostname_path = hostname,
                         .cgroup_parent = cgroup};
    WC_AUTOFREE char *pid_ns = NULL;
    if (pid_ns_to_join(pm, s, config, &pid_ns, err) < 0)
        return -1;
    in.pid_ns_path = pid_ns;
    return pod_spec_build_linux(&in, spec, err);
}

int pod_platform_resources(const pod_linux_resources *linux_res,
                           const pod_windows_resources *windows_res, json_t **out, wc_err *err)
{
    (void)windows_res;
    *out = NULL;
    if (!linux_res)
        return wc_err_set(err, WC_INVALID_ARGUMENT,
                          "UpdateContainerResources: linux resources are required");
    return pod_spec_linux_resources(linux_res, out, err);
}

json_t *pod_platform_exec_process(const json_t *spec, const char *const *cmd, size_t n_cmd, int tty)
{
    return pod_spec_exec_process(spec, cmd, n_cmd, tty);
}

int pod_platform_node_hostname(char *buf, size_t len, wc_err *err)
{
    if (gethostname(buf, len) < 0)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot read the node's host name");
    buf[len - 1] = '\0';
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int pod_platform_remove_tree(const char *path, wc_err *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
        return wc_err_sys(err, WC_INTERNAL, errno, "cannot remove %s", path);
    return 0;
}

int pod_platform_signal(int cri_signal)
{
    /* CRI's Signal enum lists the names alphabetically; map each to Linux's number. */
    static const int linux_numbers[] = {
        0,       SIGABRT, SIGALRM,   SIGBUS,  SIGCHLD,   SIGCHLD,  SIGCONT, SIGFPE,  SIGHUP,
        SIGILL,  SIGINT,  SIGIO,     SIGIOT,  SIGKILL,   SIGPIPE,  SIGPOLL, SIGPROF, SIGPWR,
        SIGQUIT, SIGSEGV, SIGSTKFLT, SIGSTOP, SIGSYS,    SIGTERM,  SIGTRAP, SIGTSTP, SIGTTIN,
        SIGTTOU, SIGURG,  SIGUSR1,   SIGUSR2, SIGVTALRM, SIGWINCH, SIGXCPU, SIGXFSZ,
    };
    if (cri_signal <= 0)
        return 0;
    if ((size_t)cri_signal < sizeof linux_numbers / sizeof linux_numbers[0])
        return linux_numbers[cri_signal];
    /* SIGRTMIN (35), SIGRTMINPLUS1..15 (36..50), SIGRTMAXMINUS14..1 (51..64), SIGRTMAX (65). */
    if (cri_signal <= 50)
        return SIGRTMIN + (cri_signal - 35);
    if (cri_signal <= 65)
        return SIGRTMAX - (65 - cri_signal);
    return 0;
}
